//! `camproof certify`: firmware certification in four modes (simulated profile, device
//! on the network, container image, capture) and `camproof verify-report`.
#![allow(clippy::disallowed_methods)] // Wall-clock timing and real sockets live here.

use std::cell::RefCell;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use camproof_conformance::capture::{read_capture, Capture};
use camproof_conformance::dut::DutDescription;
use camproof_conformance::harness::{self, HarnessSetup};
use camproof_conformance::outcome::{Outcome, Verdict};
use camproof_conformance::{offline, profiles, sim};
use camproof_net::{Clock, SystemClock, TokioNet};
use camproof_protocol::pki::KeyCache;
use camproof_reports::{
    fingerprint, render_html, render_junit, sign_report, verify_report, DutIdentity, Report,
    RunInfo,
};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// How the DUT is reached.
pub enum Target {
    /// Mode 1: a simulated profile inside turmoil.
    Profile(String),
    /// Mode 2: a device on the network.
    Network {
        /// Where the harness's platform listens.
        listen: String,
        /// The DUT's host (and optional NETIP port).
        dut: String,
        /// The address the DUT reaches the harness at (for the fallback endpoint).
        advertise: Option<String>,
    },
    /// Mode 3: a container image started with testcontainers.
    Image {
        /// `NAME:TAG`.
        image: String,
        /// Port the harness listens on inside the Docker host.
        port: u16,
        /// Extra arguments for the image's entrypoint.
        args: Vec<String>,
    },
    /// Mode 4: a capture file.
    Capture(PathBuf),
}

/// What `camproof certify` was asked.
pub struct CertifyArgs {
    /// The DUT.
    pub target: Target,
    /// DUT description file.
    pub description: Option<PathBuf>,
    /// Seed of the harness's random draws (and of the simulation).
    pub seed: u64,
    /// Run only this case.
    pub test: Option<String>,
    /// Output directory.
    pub out: PathBuf,
    /// Signing key file.
    pub signing_key: Option<PathBuf>,
}

fn sha256_file(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

fn load_description(path: Option<&Path>) -> Result<DutDescription> {
    match path {
        None => Ok(DutDescription::simulated()),
        Some(p) => {
            let text = fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            DutDescription::parse(&text).with_context(|| format!("in {}", p.display()))
        }
    }
}

/// The report signing key: `--signing-key FILE`, `$CAMPROOF_SIGNING_KEY`, or
/// `~/.config/camproof/report-signing.key`, created on first use from the OS RNG.
fn signing_key(path: Option<PathBuf>) -> Result<(SigningKey, PathBuf)> {
    let path = path
        .or_else(|| std::env::var_os("CAMPROOF_SIGNING_KEY").map(PathBuf::from))
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".config/camproof/report-signing.key"))
        })
        .context("no signing key path: pass --signing-key FILE")?;
    if let Ok(text) = fs::read_to_string(&path) {
        let t = text.trim();
        ensure!(
            t.len() == 64 && t.bytes().all(|c| c.is_ascii_hexdigit()),
            "{}: expected 64 hex digits (an Ed25519 secret key)",
            path.display()
        );
        let mut seed = [0u8; 32];
        for (i, b) in seed.iter_mut().enumerate() {
            *b = u8::from_str_radix(&t[2 * i..2 * i + 2], 16)?;
        }
        return Ok((SigningKey::from_bytes(&seed), path));
    }
    let mut seed = [0u8; 32];
    {
        use std::io::Read;
        fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut seed))
            .context("reading /dev/urandom for a new signing key")?;
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_private(&path, format!("{}\n", hex::encode(seed)).as_bytes())?;
    eprintln!(
        "camproof: created report signing key {} (public key fingerprint {})",
        path.display(),
        fingerprint(&SigningKey::from_bytes(&seed).verifying_key())
    );
    Ok((SigningKey::from_bytes(&seed), path))
}

fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        f.write_all(data)?;
        Ok(())
    }
    #[cfg(not(unix))]
    {
        fs::write(path, data).with_context(|| format!("writing {}", path.display()))
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// The first IPv4 address of `host`.
fn resolve_v4(host: &str) -> Option<Ipv4Addr> {
    if let Ok(IpAddr::V4(v4)) = host.parse::<IpAddr>() {
        return Some(v4);
    }
    (host, 0)
        .to_socket_addrs()
        .ok()?
        .find_map(|a| match a.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
}

fn split_host_port(addr: &str) -> Result<(String, u16)> {
    let (h, p) = addr
        .rsplit_once(':')
        .with_context(|| format!("{addr:?}: expected HOST:PORT"))?;
    let port = p
        .parse()
        .with_context(|| format!("{addr:?}: bad port {p:?}"))?;
    Ok((h.to_string(), port))
}

/// Runs the harness against a DUT on real sockets (modes 2 and 3).
fn certify_network(
    listen: &str,
    dut: &str,
    advertise: Option<&str>,
    description: DutDescription,
    seed: u64,
    test: Option<String>,
    cache: &mut dyn KeyCache,
) -> Result<(Vec<Outcome>, Capture)> {
    let pki = Rc::new(crate::keycache::platform_pki(
        profiles::CERT_PKI_SEED,
        cache,
    )?);
    let (lhost, lport) = split_host_port(listen)?;
    ensure!(
        lport != 0 && lport < u16::MAX,
        "--listen needs a fixed port below 65535 (the fallback endpoint uses the next one)"
    );
    let (dut_host, dut_port) = match dut.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse().ok()),
        _ => (dut.to_string(), None),
    };
    let mut description = description;
    if let Some(p) = dut_port {
        description.netip_port = p;
    }
    let advertise_host = advertise.map(str::to_string).unwrap_or_else(|| {
        if lhost == "0.0.0.0" {
            "127.0.0.1".into()
        } else {
            lhost.clone()
        }
    });
    let harness_ip = resolve_v4(&advertise_host).unwrap_or(Ipv4Addr::LOCALHOST);
    let dut_ip = resolve_v4(&dut_host).unwrap_or(Ipv4Addr::UNSPECIFIED);
    let capture = Rc::new(RefCell::new(Capture::default()));
    let setup = HarnessSetup {
        net: TokioNet,
        clock: SystemClock,
        pki,
        description,
        password: std::env::var("CAMPROOF_DUT_PASSWORD").ok(),
        listen: listen.to_string(),
        fallback_listen: format!("{lhost}:{}", lport + 1),
        fallback_advertised: format!("{advertise_host}:{}", lport + 1),
        dut_host,
        harness_ip,
        dut_ip,
        seed,
        only: test,
        capture: capture.clone(),
    };
    let rt = runtime()?;
    let local = tokio::task::LocalSet::new();
    let outcomes = local.block_on(&rt, harness::run(setup)).with_context(|| {
        format!(
            "binding the platform endpoints {listen} and port {}",
            lport + 1
        )
    })?;
    let capture = capture.borrow().clone();
    Ok((outcomes, capture))
}

/// Mode 3: starts `image` on a private Docker network, then certifies it as mode 2.
fn certify_image(
    image: &str,
    port: u16,
    args: &[String],
    description: DutDescription,
    seed: u64,
    test: Option<String>,
    cache: &mut dyn KeyCache,
) -> Result<(Vec<Outcome>, Capture, String)> {
    use testcontainers::core::{IntoContainerPort, WaitFor};
    use testcontainers::runners::AsyncRunner;
    use testcontainers::{GenericImage, ImageExt};

    let (name, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    let image_id = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .with_context(|| {
            format!("image {image} not found locally (build it: see docs/certification.md)")
        })?;
    let network = format!("camproof-cert-{}", std::process::id());
    let mut cmd = vec![
        "--netip".to_string(),
        "0.0.0.0:34567".to_string(),
        "--platform".to_string(),
        format!("@gateway:{port}"),
    ];
    cmd.extend(args.iter().cloned());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the container runtime")?;
    let mut request = GenericImage::new(name, tag)
        .with_wait_for(WaitFor::message_on_stdout("NETIP on"))
        .with_exposed_port(34567.tcp())
        .with_network(network.clone())
        .with_cmd(cmd);
    if let Ok(pw) = std::env::var("CAMPROOF_DUT_PASSWORD") {
        request = request.with_env_var("CAMPROOF_NETIP_PASSWORD", pw);
    }
    let container = rt
        .block_on(request.start())
        .with_context(|| format!("starting {image} (is Docker running?)"))?;
    let ip = rt
        .block_on(container.get_bridge_ip_address())
        .context("reading the container's address")?;
    let dut_ip = ip.to_string();
    let gateway = match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            Ipv4Addr::new(o[0], o[1], o[2], 1).to_string()
        }
        IpAddr::V6(_) => bail!("the container has no IPv4 address"),
    };
    println!(
        "camproof certify: container {} ({image}, {image_id}) on network {network} at {dut_ip}; harness at {gateway}:{port}",
        container.id()
    );
    let result = certify_network(
        &format!("0.0.0.0:{port}"),
        &dut_ip,
        Some(&gateway),
        description,
        seed,
        test,
        cache,
    );
    let _ = rt.block_on(container.rm());
    let _ = std::process::Command::new("docker")
        .args(["network", "rm", &network])
        .output();
    let (outcomes, capture) = result?;
    Ok((outcomes, capture, image_id))
}

/// `camproof certify`.
pub fn certify(args: CertifyArgs, mut cache: Box<dyn KeyCache>) -> Result<ExitCode> {
    let started = Instant::now();
    let started_us = SystemClock.now().as_micros();
    let seed = args.seed;
    let test_arg = args.test.clone();
    if let Some(t) = &test_arg {
        ensure!(
            camproof_conformance::catalog::find(t).is_some(),
            "--test {t}: no such case (see docs/certification.md)"
        );
    }
    let desc_flag = args
        .description
        .as_ref()
        .map(|p| format!(" --description {}", p.display()))
        .unwrap_or_default();
    let description = load_description(args.description.as_deref())?;
    let mut simulated_ms = 0;
    let (outcomes, capture, mode, command, dut) = match &args.target {
        Target::Profile(name) => {
            let profile = profiles::find(name).with_context(|| {
                format!(
                    "unknown profile {name:?}; profiles: {}",
                    profiles::names().join(", ")
                )
            })?;
            let pki = Rc::new(crate::keycache::platform_pki(
                profiles::CERT_PKI_SEED,
                cache.as_mut(),
            )?);
            let run = sim::certify_profile(&profile, pki, seed, test_arg.clone())
                .context("running the simulation")?;
            simulated_ms = run.simulated.as_millis() as u64;
            let exe_hash = std::env::current_exe()
                .ok()
                .and_then(|p| sha256_file(&p).ok())
                .unwrap_or_default();
            let d = DutDescription::simulated();
            let dut = DutIdentity {
                name: format!("{} (profile {name})", d.name),
                vendor: d.vendor,
                model: d.model,
                firmware_version: d.firmware_version,
                firmware_image_sha256: exe_hash,
                target: format!(
                    "simulated profile {name}: {}",
                    if profile.flaw.is_empty() {
                        "no flaw"
                    } else {
                        profile.flaw
                    }
                ),
            };
            (
                run.outcomes,
                Some(run.capture),
                "simulated",
                format!("camproof certify --profile {name} --seed {seed}"),
                dut,
            )
        }
        Target::Network {
            listen,
            dut,
            advertise,
        } => {
            let (o, c) = certify_network(
                listen,
                dut,
                advertise.as_deref(),
                description.clone(),
                seed,
                test_arg.clone(),
                cache.as_mut(),
            )?;
            let adv = advertise
                .as_ref()
                .map(|a| format!(" --advertise {a}"))
                .unwrap_or_default();
            (
                o,
                Some(c),
                "network",
                format!(
                    "camproof certify --listen {listen} --dut {dut}{adv}{desc_flag} --seed {seed}"
                ),
                identity(&description, format!("device at {dut}"))?,
            )
        }
        Target::Image {
            image,
            port,
            args: extra,
        } => {
            let (o, c, id) = certify_image(
                image,
                *port,
                extra,
                description.clone(),
                seed,
                test_arg.clone(),
                cache.as_mut(),
            )?;
            let mut dut = identity(&description, format!("container image {image}"))?;
            dut.firmware_image_sha256 = id;
            let extra_flags: String = extra
                .iter()
                .map(|a| format!(" --container-arg={a}"))
                .collect();
            (
                o,
                Some(c),
                "container",
                format!("camproof certify --image {image} --port {port}{extra_flags}{desc_flag} --seed {seed}"),
                dut,
            )
        }
        Target::Capture(path) => {
            let file =
                fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let (capture, stats) = read_capture(std::io::BufReader::new(file))
                .with_context(|| format!("reading {}", path.display()))?;
            println!(
                "camproof certify: {}: {} packets, {} TCP flows ({} packets skipped{})",
                path.display(),
                stats.packets,
                capture.flows.len(),
                stats.skipped,
                if stats.unsupported_links.is_empty() {
                    String::new()
                } else {
                    format!(", unsupported link types {:?}", stats.unsupported_links)
                }
            );
            let password = std::env::var("CAMPROOF_DUT_PASSWORD").ok();
            let o = offline::certify_capture(
                &capture,
                &description,
                password.as_deref(),
                test_arg.as_deref(),
            );
            let mut dut = identity(&description, format!("capture {}", path.display()))?;
            dut.firmware_image_sha256 =
                format!("not in a capture; capture sha256 {}", sha256_file(path)?);
            (
                o,
                None,
                "capture",
                format!("camproof certify --pcap {}{desc_flag}", path.display()),
                dut,
            )
        }
    };
    let wall_ms = started.elapsed().as_millis() as u64;
    let run = RunInfo {
        mode: mode.into(),
        harness: format!("camproof {}", env!("CARGO_PKG_VERSION")),
        seed,
        command: command.clone(),
        wall_ms,
        simulated_ms,
        started_us,
    };
    let report = Report::build(dut, run, &outcomes);
    fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let (key, key_path) = signing_key(args.signing_key)?;
    let fp = fingerprint(&key.verifying_key());
    let json_path = args.out.join("report.json");
    fs::write(&json_path, sign_report(&report, &key)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    fs::write(args.out.join("report.html"), render_html(&report, &fp))?;
    fs::write(
        args.out.join("junit.xml"),
        render_junit(&report).context("rendering JUnit XML")?,
    )?;
    if let Some(c) = &capture {
        fs::write(args.out.join("capture.pcap"), c.to_pcap())?;
        fs::write(args.out.join("capture.pcapng"), c.to_pcapng())?;
    }
    print_report(&report);
    println!(
        "report: {} (signed, key {fp} from {}), {}, {}{}",
        json_path.display(),
        key_path.display(),
        args.out.join("report.html").display(),
        args.out.join("junit.xml").display(),
        if capture.is_some() {
            format!(", capture {}", args.out.join("capture.pcap").display())
        } else {
            String::new()
        }
    );
    println!(
        "time: {:.2} s wall clock{}",
        wall_ms as f64 / 1000.0,
        if simulated_ms > 0 {
            format!(", {:.1} s simulated", simulated_ms as f64 / 1000.0)
        } else {
            String::new()
        }
    );
    Ok(if report.summary.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn identity(d: &DutDescription, target: String) -> Result<DutIdentity> {
    let hash = match &d.firmware_image {
        Some(p) => sha256_file(Path::new(p))?,
        None => "not given (set dut.firmware_image in the DUT description)".into(),
    };
    Ok(DutIdentity {
        name: d.name.clone(),
        vendor: d.vendor.clone(),
        model: d.model.clone(),
        firmware_version: d.firmware_version.clone(),
        firmware_image_sha256: hash,
        target,
    })
}

fn print_report(report: &Report) {
    println!(
        "camproof certify: {} [{}], seed {}",
        report.dut.name, report.run.mode, report.run.seed
    );
    for c in &report.cases {
        let tag = match c.verdict {
            Verdict::Pass => "PASS   ",
            Verdict::Fail => "FAIL   ",
            Verdict::Skip => "SKIP   ",
            Verdict::Blocked => "BLOCKED",
            Verdict::Error => "ERROR  ",
        };
        println!("{tag} {:<17} {}", c.id, c.summary);
        if matches!(c.verdict, Verdict::Fail | Verdict::Error) {
            println!("        requirements: {}", c.requirements.join(", "));
            if !c.explanation.is_empty() {
                println!("        fix: {}", c.explanation);
            }
            for e in &c.evidence {
                println!("        {}: {}", e.label, e.value);
            }
            println!("        re-run: {}", c.rerun);
        }
    }
    let s = &report.summary;
    println!(
        "result: {} ({} passed, {} failed, {} blocked, {} errors, {} skipped)",
        s.result, s.pass, s.fail, s.blocked, s.error, s.skip
    );
}

/// `camproof verify-report FILE [--key HEX]`.
pub fn verify(path: &Path, key: Option<&str>) -> Result<ExitCode> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let expected = match key {
        None => None,
        Some(k) => {
            let b: Vec<u8> = (0..k.len())
                .step_by(2)
                .map(|i| k.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
                .collect::<Option<_>>()
                .context("--key: expected 64 hex digits")?;
            let arr: [u8; 32] = b.try_into().ok().context("--key: expected 64 hex digits")?;
            Some(VerifyingKey::from_bytes(&arr).context("--key: not an Ed25519 public key")?)
        }
    };
    match verify_report(&bytes, expected.as_ref()) {
        Ok(v) => {
            let r = &v.report;
            println!(
                "{}: signature valid (key {}), nothing altered",
                path.display(),
                fingerprint(&v.key)
            );
            println!(
                "  {}: {} ({} passed, {} failed, {} blocked, {} errors, {} skipped), {} mode, seed {}",
                r.dut.name, r.summary.result, r.summary.pass, r.summary.fail, r.summary.blocked, r.summary.error, r.summary.skip, r.run.mode, r.run.seed
            );
            if expected.is_none() {
                println!(
                    "  (pin the signer with --key {})",
                    hex::encode(v.key.as_bytes())
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("camproof verify-report: {}: FAILED: {e}", path.display());
            Ok(ExitCode::from(1))
        }
    }
}
