//! Certification of one DUT, reached one of four ways ([`Target`]): a simulated
//! profile inside turmoil, a device on the network, a container image started with
//! testcontainers, or a capture file. [`certify`] runs the cases against it and says
//! who was certified and how to run it again; signing and rendering the report are the
//! reports crate's.
#![allow(clippy::disallowed_methods)] // Wall-clock timing and real sockets live here.

use std::cell::RefCell;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use camproof_net::{Clock, SystemClock, TokioNet};
use camproof_protocol::pki::{KeyCache, PkiError, PkiOptions, TestPki};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::capture::{read_capture, Capture, CaptureError};
use crate::dut::DutDescription;
use crate::harness::{self, HarnessSetup};
use crate::outcome::Outcome;
use crate::{catalog, offline, profiles, sim};

/// Who was certified.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DutIdentity {
    /// Product name.
    pub name: String,
    /// Vendor.
    pub vendor: String,
    /// Model.
    pub model: String,
    /// Firmware version as declared.
    pub firmware_version: String,
    /// SHA-256 of the firmware image (hex), or how it was identified.
    pub firmware_image_sha256: String,
    /// Where the DUT was reached: profile, address, image or capture.
    pub target: String,
}

/// How the DUT is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Mode 1: a simulated profile inside turmoil.
    Profile(String),
    /// Mode 2: a device on the network.
    Network {
        /// Where the harness's platform listens (`HOST:PORT`; PORT+1 is the fallback).
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

impl Target {
    /// The one target among the modes given on a command line (`None`: a mode not
    /// asked for, in the order profile, network, image, capture); none or several is
    /// [`CertifyError::NoTarget`].
    pub fn one_of(modes: impl IntoIterator<Item = Option<Target>>) -> Result<Target, CertifyError> {
        let mut given = modes.into_iter().flatten();
        match (given.next(), given.next()) {
            (Some(target), None) => Ok(target),
            _ => Err(CertifyError::NoTarget),
        }
    }
}

/// What to certify and how.
#[derive(Debug, Clone)]
pub struct CertifyRequest {
    /// The DUT.
    pub target: Target,
    /// The DUT description file (TOML); `None`: the camproof simulated camera.
    pub description: Option<PathBuf>,
    /// Seed of the harness's random draws (and of the simulation).
    pub seed: u64,
    /// Run only this case.
    pub test: Option<String>,
    /// The DUT's admin password, if it needs one.
    pub password: Option<String>,
}

/// What a certification run found, ready for a report.
#[derive(Debug, Clone)]
pub struct Certification {
    /// One outcome per case.
    pub outcomes: Vec<Outcome>,
    /// The harness's flows (none for a capture).
    pub capture: Option<Capture>,
    /// `simulated`, `network`, `container` or `capture`.
    pub mode: &'static str,
    /// The command that runs it again.
    pub command: String,
    /// Who was certified.
    pub dut: DutIdentity,
    /// Simulated duration (mode 1), milliseconds.
    pub simulated_ms: u64,
    /// Wall-clock duration, milliseconds.
    pub wall_ms: u64,
    /// Start time, microseconds since the Unix epoch.
    pub started_us: u64,
}

/// Why a certification could not run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CertifyError {
    /// Not exactly one way to reach the DUT was given.
    #[error("give exactly one of --profile, --listen (with --dut), --image, --pcap")]
    NoTarget,
    /// `--test` names no case.
    #[error("--test {0}: no such case (see docs/certification.md)")]
    UnknownCase(String),
    /// No simulated profile of that name.
    #[error("unknown profile {name:?}; profiles: {known}")]
    UnknownProfile {
        /// The name given.
        name: String,
        /// The profiles, comma-separated.
        known: String,
    },
    /// The test PKI could not be generated.
    #[error("generating the test PKI (seed {seed})")]
    Pki {
        /// Its seed.
        seed: u64,
        /// Why.
        source: PkiError,
    },
    /// The simulation failed.
    #[error("running the simulation")]
    Simulation(#[source] sim::SimError),
    /// An address is not `HOST:PORT`, or the listen port cannot take a fallback.
    #[error("{0}")]
    Address(String),
    /// A port is not a number.
    #[error("{addr:?}: bad port {port:?}")]
    Port {
        /// The address.
        addr: String,
        /// The port text.
        port: String,
        /// Why.
        source: std::num::ParseIntError,
    },
    /// A step with the operating system, Docker or the network failed.
    #[error("{what}")]
    Io {
        /// The step.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// The container could not be started or inspected.
    #[error("{what}")]
    Container {
        /// The step.
        what: String,
        /// Why.
        source: testcontainers::TestcontainersError,
    },
    /// The image is not available or has no IPv4 address.
    #[error("{0}")]
    Image(String),
    /// The DUT description does not parse or check.
    #[error("in {path}")]
    Description {
        /// The file.
        path: String,
        /// Why.
        source: crate::dut::DutError,
    },
    /// The capture file could not be read.
    #[error("reading {path}")]
    Capture {
        /// The file.
        path: String,
        /// Why.
        source: CaptureError,
    },
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> CertifyError {
    move |source| CertifyError::Io { what, source }
}

fn sha256_file(path: &Path) -> Result<String, CertifyError> {
    let bytes = fs::read(path).map_err(io(format!("reading {}", path.display())))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

fn platform_pki(cache: &mut dyn KeyCache) -> Result<Rc<TestPki>, CertifyError> {
    let seed = profiles::CERT_PKI_SEED;
    TestPki::try_generate(seed, &PkiOptions::default(), cache)
        .map(Rc::new)
        .map_err(|source| CertifyError::Pki { seed, source })
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

fn split_host_port(addr: &str) -> Result<(String, u16), CertifyError> {
    let (h, p) = addr
        .rsplit_once(':')
        .ok_or_else(|| CertifyError::Address(format!("{addr:?}: expected HOST:PORT")))?;
    let port = p.parse().map_err(|source| CertifyError::Port {
        addr: addr.into(),
        port: p.into(),
        source,
    })?;
    Ok((h.to_string(), port))
}

fn current_thread_runtime(what: &str) -> Result<tokio::runtime::Runtime, CertifyError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io(what.into()))
}

/// Runs the harness against a DUT on real sockets (modes 2 and 3).
fn certify_network(
    listen: &str,
    dut: &str,
    advertise: Option<&str>,
    req: &CertifyRequest,
    description: &DutDescription,
    cache: &mut dyn KeyCache,
) -> Result<(Vec<Outcome>, Capture), CertifyError> {
    let pki = platform_pki(cache)?;
    let (lhost, lport) = split_host_port(listen)?;
    if lport == 0 || lport == u16::MAX {
        return Err(CertifyError::Address(
            "--listen needs a fixed port below 65535 (the fallback endpoint uses the next one)"
                .into(),
        ));
    }
    let (dut_host, dut_port) = match dut.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse().ok()),
        _ => (dut.to_string(), None),
    };
    let mut description = description.clone();
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
        password: req.password.clone(),
        listen: listen.to_string(),
        fallback_listen: format!("{lhost}:{}", lport + 1),
        fallback_advertised: format!("{advertise_host}:{}", lport + 1),
        dut_host,
        harness_ip,
        dut_ip,
        seed: req.seed,
        only: req.test.clone(),
        capture: capture.clone(),
    };
    let rt = current_thread_runtime("starting the tokio runtime")?;
    let local = tokio::task::LocalSet::new();
    let outcomes = local
        .block_on(&rt, harness::run(setup))
        .map_err(io(format!(
            "binding the platform endpoints {listen} and port {}",
            lport + 1
        )))?;
    let capture = capture.borrow().clone();
    Ok((outcomes, capture))
}

/// Mode 3: starts `image` on a private Docker network, then certifies it as mode 2.
fn certify_image(
    image: &str,
    port: u16,
    args: &[String],
    req: &CertifyRequest,
    description: &DutDescription,
    cache: &mut dyn KeyCache,
    note: &mut dyn FnMut(&str),
) -> Result<(Vec<Outcome>, Capture, String), CertifyError> {
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
        .ok_or_else(|| {
            CertifyError::Image(format!(
                "image {image} not found locally (build it: see docs/certification.md)"
            ))
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
        .map_err(io("starting the container runtime".into()))?;
    let mut request = GenericImage::new(name, tag)
        .with_wait_for(WaitFor::message_on_stdout("NETIP on"))
        .with_exposed_port(34567.tcp())
        .with_network(network.clone())
        .with_cmd(cmd);
    if let Some(pw) = &req.password {
        request = request.with_env_var("CAMPROOF_NETIP_PASSWORD", pw.clone());
    }
    let container = rt
        .block_on(request.start())
        .map_err(|source| CertifyError::Container {
            what: format!("starting {image} (is Docker running?)"),
            source,
        })?;
    let ip = rt
        .block_on(container.get_bridge_ip_address())
        .map_err(|source| CertifyError::Container {
            what: "reading the container's address".into(),
            source,
        })?;
    let dut_ip = ip.to_string();
    let gateway = match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            Ipv4Addr::new(o[0], o[1], o[2], 1).to_string()
        }
        IpAddr::V6(_) => {
            return Err(CertifyError::Image(
                "the container has no IPv4 address".into(),
            ))
        }
    };
    note(&format!(
        "camproof certify: container {} ({image}, {image_id}) on network {network} at {dut_ip}; harness at {gateway}:{port}",
        container.id()
    ));
    let result = certify_network(
        &format!("0.0.0.0:{port}"),
        &dut_ip,
        Some(&gateway),
        req,
        description,
        cache,
    );
    let _ = rt.block_on(container.rm());
    let _ = std::process::Command::new("docker")
        .args(["network", "rm", &network])
        .output();
    let (outcomes, capture) = result?;
    Ok((outcomes, capture, image_id))
}

/// The DUT description in `path`, or the camproof simulated camera's.
fn load_description(path: Option<&Path>) -> Result<DutDescription, CertifyError> {
    let Some(p) = path else {
        return Ok(DutDescription::simulated());
    };
    let text = fs::read_to_string(p).map_err(io(format!("reading {}", p.display())))?;
    DutDescription::parse(&text).map_err(|source| CertifyError::Description {
        path: p.display().to_string(),
        source,
    })
}

/// Who was certified, from the DUT description, reached at `target`.
fn identity(d: &DutDescription, target: String) -> Result<DutIdentity, CertifyError> {
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

/// Runs every applicable case (or only `req.test`) against the DUT of `req.target`;
/// keys of the test PKI come from `cache`. `note` gets progress lines for people (what
/// a capture holds, which container runs).
pub fn certify(
    req: &CertifyRequest,
    cache: &mut dyn KeyCache,
    note: &mut dyn FnMut(&str),
) -> Result<Certification, CertifyError> {
    let started = Instant::now();
    let started_us = SystemClock.now().as_micros();
    let seed = req.seed;
    if let Some(t) = &req.test {
        if catalog::find(t).is_none() {
            return Err(CertifyError::UnknownCase(t.clone()));
        }
    }
    let desc_flag = req
        .description
        .as_ref()
        .map(|p| format!(" --description {}", p.display()))
        .unwrap_or_default();
    let description = &load_description(req.description.as_deref())?;
    let mut simulated_ms = 0;
    let (outcomes, capture, mode, command, dut) = match &req.target {
        Target::Profile(name) => {
            let profile = profiles::find(name).ok_or_else(|| CertifyError::UnknownProfile {
                name: name.clone(),
                known: profiles::names().join(", "),
            })?;
            let pki = platform_pki(cache)?;
            let run = sim::certify_profile(&profile, pki, seed, req.test.clone())
                .map_err(CertifyError::Simulation)?;
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
            let (o, c) =
                certify_network(listen, dut, advertise.as_deref(), req, description, cache)?;
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
                identity(description, format!("device at {dut}"))?,
            )
        }
        Target::Image {
            image,
            port,
            args: extra,
        } => {
            let (o, c, id) = certify_image(image, *port, extra, req, description, cache, note)?;
            let mut dut = identity(description, format!("container image {image}"))?;
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
            let file = fs::File::open(path).map_err(io(format!("opening {}", path.display())))?;
            let (capture, stats) =
                read_capture(std::io::BufReader::new(file)).map_err(|source| {
                    CertifyError::Capture {
                        path: path.display().to_string(),
                        source,
                    }
                })?;
            note(&format!(
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
            ));
            let o = offline::certify_capture(
                &capture,
                description,
                req.password.as_deref(),
                req.test.as_deref(),
            );
            let mut dut = identity(description, format!("capture {}", path.display()))?;
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
    Ok(Certification {
        outcomes,
        capture,
        mode,
        command,
        dut,
        simulated_ms,
        wall_ms: started.elapsed().as_millis() as u64,
        started_us,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exactly one mode is taken as the target; none or two are refused by name.
    #[test]
    fn one_target_is_chosen_from_the_modes_given() {
        let profile = || Some(Target::Profile("reference".into()));
        let pcap = || Some(Target::Capture(PathBuf::from("a.pcap")));
        assert_eq!(
            Target::one_of([None, None, None, pcap()]).unwrap(),
            Target::Capture(PathBuf::from("a.pcap"))
        );
        assert_eq!(
            Target::one_of([profile(), None, None, None]).unwrap(),
            Target::Profile("reference".into())
        );
        for modes in [[None, None, None, None], [profile(), None, None, pcap()]] {
            let err = Target::one_of(modes).unwrap_err();
            assert!(matches!(err, CertifyError::NoTarget), "{err:?}");
            assert_eq!(
                err.to_string(),
                "give exactly one of --profile, --listen (with --dut), --image, --pcap"
            );
        }
    }
}
