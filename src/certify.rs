//! `camproof certify` ([`camproof_conformance::certify`], then a report signed and
//! rendered by [`camproof_reports`]) and `camproof verify-report`.

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use camproof_conformance::certify::{CertifyRequest, Target};
use camproof_reports::{self as reports, Report, SigningKeyFile};

/// `camproof certify`: runs the cases, then signs and writes the report.
pub fn certify(a: crate::CertifyArgs) -> Result<ExitCode> {
    let target = Target::one_of([
        a.profile.map(Target::Profile),
        a.listen.map(|listen| Target::Network {
            listen,
            dut: a.dut.unwrap_or_default(),
            advertise: a.advertise,
        }),
        a.image.map(|image| Target::Image {
            image,
            port: a.port,
            args: a.container_args,
        }),
        a.pcap.map(Target::Capture),
    ])?;
    let req = CertifyRequest {
        target,
        description: a.description,
        seed: a.seed,
        test: a.test,
        password: std::env::var("CAMPROOF_DUT_PASSWORD").ok(),
    };
    crate::report_cmd::ensure_writable(&a.out)?;
    let say = &mut |line: &str| println!("{line}");
    let c = camproof_conformance::certify::certify(&req, a.keys.open().as_mut(), say)?;
    let harness = format!("camproof {}", env!("CARGO_PKG_VERSION"));
    let report = Report::certified(&c, req.seed, harness);
    let out = &a.out;
    let signer = SigningKeyFile::open(a.signing_key)?;
    if signer.created {
        eprintln!(
            "camproof: created report signing key {} (public key fingerprint {})",
            signer.path.display(),
            reports::fingerprint(&signer.key.verifying_key())
        );
    }
    for (name, bytes) in reports::certification_files(&report, &signer.key, c.capture.as_ref())? {
        let path = out.join(name);
        fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    let capture = c.capture.is_some();
    print!(
        "{}",
        reports::certification_text(&report, out, &signer, capture)
    );
    Ok(ExitCode::from(u8::from(!report.summary.is_clean())))
}

/// `camproof verify-report FILE [--key HEX]`.
pub fn verify(path: &Path, key: Option<&str>) -> Result<ExitCode> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let expected = key
        .map(reports::parse_public_key)
        .transpose()
        .context("--key")?;
    match reports::verify_report(&bytes, expected.as_ref()) {
        Ok(v) => {
            let file = path.display().to_string();
            print!(
                "{}",
                reports::verification_text(&file, &v, expected.is_some())
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("camproof verify-report: {}: FAILED: {e}", path.display());
            Ok(ExitCode::from(1))
        }
    }
}
