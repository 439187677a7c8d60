//! `camproof certify`: firmware certification in four modes (simulated profile, device
//! on the network, container image, capture) and `camproof verify-report`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{ensure, Context, Result};
use camproof_conformance::certify::CertifyRequest;
use camproof_conformance::outcome::Verdict;
use camproof_protocol::pki::KeyCache;
use camproof_reports::{
    fingerprint, render_html, render_junit, sign_report, verify_report, Report, RunInfo,
};
use ed25519_dalek::{SigningKey, VerifyingKey};

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

/// `camproof certify`: runs the cases, then signs and writes the report.
pub fn certify(
    req: CertifyRequest,
    out: &Path,
    signing_key_file: Option<PathBuf>,
    mut cache: Box<dyn KeyCache>,
) -> Result<ExitCode> {
    let c = camproof_conformance::certify::certify(&req, cache.as_mut(), &mut |line| {
        println!("{line}")
    })?;
    let run = RunInfo {
        mode: c.mode.into(),
        harness: format!("camproof {}", env!("CARGO_PKG_VERSION")),
        seed: req.seed,
        command: c.command.clone(),
        wall_ms: c.wall_ms,
        simulated_ms: c.simulated_ms,
        started_us: c.started_us,
    };
    let report = Report::build(c.dut, run, &c.outcomes);
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let (key, key_path) = signing_key(signing_key_file)?;
    let fp = fingerprint(&key.verifying_key());
    let json_path = out.join("report.json");
    fs::write(&json_path, sign_report(&report, &key)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    fs::write(out.join("report.html"), render_html(&report, &fp))?;
    fs::write(
        out.join("junit.xml"),
        render_junit(&report).context("rendering JUnit XML")?,
    )?;
    if let Some(c) = &c.capture {
        fs::write(out.join("capture.pcap"), c.to_pcap())?;
        fs::write(out.join("capture.pcapng"), c.to_pcapng())?;
    }
    print_report(&report);
    println!(
        "report: {} (signed, key {fp} from {}), {}, {}{}",
        json_path.display(),
        key_path.display(),
        out.join("report.html").display(),
        out.join("junit.xml").display(),
        if c.capture.is_some() {
            format!(", capture {}", out.join("capture.pcap").display())
        } else {
            String::new()
        }
    );
    println!(
        "time: {:.2} s wall clock{}",
        c.wall_ms as f64 / 1000.0,
        if c.simulated_ms > 0 {
            format!(", {:.1} s simulated", c.simulated_ms as f64 / 1000.0)
        } else {
            String::new()
        }
    );
    Ok(ExitCode::from(u8::from(!report.summary.is_clean())))
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
