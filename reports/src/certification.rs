//! What a certification leaves behind: [`Report::certified`] turns a run of the harness
//! into a report, [`certification_files`] gives the files to write (the signed report,
//! HTML, JUnit XML and the capture), and [`certification_text`] and
//! [`verification_text`] are what `camproof certify` and `camproof verify-report` print.

use std::fmt::Write as _;
use std::path::Path;

use camproof_conformance::capture::Capture;
use camproof_conformance::certify::Certification;
use camproof_conformance::outcome::Verdict;
use ed25519_dalek::SigningKey;
use thiserror::Error;

use crate::html::render_html;
use crate::junit::render_junit;
use crate::model::{Report, RunInfo};
use crate::sign::{fingerprint, sign_report, ReportError, SigningKeyFile, VerifiedReport};

/// Why the files of a certification could not be rendered.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CertificationError {
    /// The report could not be signed.
    #[error(transparent)]
    Sign(#[from] ReportError),
}

impl Report {
    /// The report of a certification run `c` with `seed`, by `harness` (name and version).
    pub fn certified(c: &Certification, seed: u64, harness: String) -> Report {
        let run = RunInfo {
            mode: c.mode.into(),
            harness,
            seed,
            command: c.command.clone(),
            wall_ms: c.wall_ms,
            simulated_ms: c.simulated_ms,
            started_us: c.started_us,
        };
        Report::build(c.dut.clone(), run, &c.outcomes)
    }
}

/// The files of a certification, each with the name it is written under: the report
/// signed with `key` (`report.json`), `report.html`, `junit.xml`, and the harness's
/// capture as `capture.pcap` and `capture.pcapng` if there is one.
pub fn certification_files(
    report: &Report,
    key: &SigningKey,
    capture: Option<&Capture>,
) -> Result<Vec<(&'static str, Vec<u8>)>, CertificationError> {
    let fp = fingerprint(&key.verifying_key());
    let mut files = vec![
        ("report.json", sign_report(report, key)?),
        ("report.html", render_html(report, &fp).into_bytes()),
        ("junit.xml", render_junit(report).into_bytes()),
    ];
    if let Some(c) = capture {
        files.push(("capture.pcap", c.to_pcap()));
        files.push(("capture.pcapng", c.to_pcapng()));
    }
    Ok(files)
}

/// What `camproof certify` prints once the files are in `out`: a line per case (a
/// failure or error with its requirements, fix, evidence and re-run command), the
/// result, where the files are and who signed them, and how long it took.
pub fn certification_text(
    report: &Report,
    out: &Path,
    signer: &SigningKeyFile,
    capture: bool,
) -> String {
    let mut t = format!(
        "camproof certify: {} [{}], seed {}\n",
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
        let _ = writeln!(t, "{tag} {:<17} {}", c.id, c.summary);
        if matches!(c.verdict, Verdict::Fail | Verdict::Error) {
            let _ = writeln!(t, "        requirements: {}", c.requirements.join(", "));
            if !c.explanation.is_empty() {
                let _ = writeln!(t, "        fix: {}", c.explanation);
            }
            for e in &c.evidence {
                let _ = writeln!(t, "        {}: {}", e.label, e.value);
            }
            let _ = writeln!(t, "        re-run: {}", c.rerun);
        }
    }
    let s = &report.summary;
    let _ = writeln!(
        t,
        "result: {} ({} passed, {} failed, {} blocked, {} errors, {} skipped)",
        s.result, s.pass, s.fail, s.blocked, s.error, s.skip
    );
    let capture = if capture {
        format!(", capture {}", out.join("capture.pcap").display())
    } else {
        String::new()
    };
    let _ = writeln!(
        t,
        "report: {} (signed, key {} from {}), {}, {}{capture}",
        out.join("report.json").display(),
        fingerprint(&signer.key.verifying_key()),
        signer.path.display(),
        out.join("report.html").display(),
        out.join("junit.xml").display(),
    );
    let simulated = match report.run.simulated_ms {
        0 => String::new(),
        ms => format!(", {:.1} s simulated", ms as f64 / 1000.0),
    };
    let wall = report.run.wall_ms as f64 / 1000.0;
    let _ = writeln!(t, "time: {wall:.2} s wall clock{simulated}");
    t
}

/// What `camproof verify-report` prints for `file` whose signature verified; `pinned`:
/// whether the signer's key was given (else the text says how to pin it).
pub fn verification_text(file: &str, v: &VerifiedReport, pinned: bool) -> String {
    let r = &v.report;
    let s = &r.summary;
    let mut t = format!(
        "{file}: signature valid (key {}), nothing altered\n",
        fingerprint(&v.key)
    );
    let _ = writeln!(
        t,
        "  {}: {} ({} passed, {} failed, {} blocked, {} errors, {} skipped), {} mode, seed {}",
        r.dut.name, s.result, s.pass, s.fail, s.blocked, s.error, s.skip, r.run.mode, r.run.seed
    );
    if !pinned {
        let _ = writeln!(
            t,
            "  (pin the signer with --key {})",
            hex::encode(v.key.as_bytes())
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DutIdentity;
    use crate::sign::verify_report;
    use camproof_conformance::outcome::{Evidence, Outcome};

    fn certification() -> Certification {
        let outcome = |id: &str, verdict| Outcome {
            id: id.into(),
            verdict,
            summary: format!("{id} summary"),
            explanation: "fix it".into(),
            evidence: vec![Evidence {
                label: "login".into(),
                value: "Ret 100".into(),
            }],
            duration_us: 7,
        };
        Certification {
            outcomes: vec![
                outcome("NETIP-AUTH-01", Verdict::Fail),
                outcome("NETIP-DEBUG-01", Verdict::Pass),
            ],
            capture: None,
            mode: "simulated",
            command: "camproof certify --profile x --seed 4".into(),
            dut: DutIdentity {
                name: "cam".into(),
                ..Default::default()
            },
            simulated_ms: 1500,
            wall_ms: 250,
            started_us: 1,
        }
    }

    fn signer() -> SigningKeyFile {
        SigningKeyFile {
            key: SigningKey::from_bytes(&[5; 32]),
            path: "k.key".into(),
            created: false,
        }
    }

    /// The files are the signed report (which verifies) and its renderings; a capture
    /// adds its two formats.
    #[test]
    fn the_files_are_the_signed_report_and_its_renderings() {
        let c = certification();
        let report = Report::certified(&c, 4, "camproof 0.1.0".into());
        assert_eq!(report.run.seed, 4);
        assert_eq!(report.run.command, c.command);
        let key = signer().key;
        let files = certification_files(&report, &key, None).expect("renders");
        let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["report.json", "report.html", "junit.xml"]);
        let verified = verify_report(&files[0].1, Some(&key.verifying_key())).expect("signed");
        assert_eq!(verified.report, report);
        let with = certification_files(&report, &key, Some(&Capture::default())).expect("ok");
        assert_eq!(with.len(), 5);
        assert_eq!(with[3].0, "capture.pcap");
    }

    /// A failure prints its requirements, fix, evidence and re-run command; a pass one
    /// line; then the result, the files and the times.
    #[test]
    fn the_text_explains_failures_and_names_the_files() {
        let report = Report::certified(&certification(), 4, "camproof".into());
        let text = certification_text(&report, Path::new("out"), &signer(), false);
        assert!(
            text.starts_with("camproof certify: cam [simulated], seed 4\n"),
            "{text}"
        );
        assert!(
            text.contains("\nFAIL    NETIP-AUTH-01     NETIP-AUTH-01 summary\n"),
            "{text}"
        );
        assert!(
            text.contains("        fix: fix it\n        login: Ret 100\n"),
            "{text}"
        );
        assert!(text.contains(
            "        re-run: camproof certify --profile x --seed 4 --test NETIP-AUTH-01\n"
        ));
        assert!(
            text.contains("PASS    NETIP-DEBUG-01    NETIP-DEBUG-01 summary\n"),
            "{text}"
        );
        let fp = fingerprint(&signer().key.verifying_key());
        assert!(text.contains(&format!("report: out/report.json (signed, key {fp} from k.key), out/report.html, out/junit.xml\n")), "{text}");
        assert!(
            text.ends_with("time: 0.25 s wall clock, 1.5 s simulated\n"),
            "{text}"
        );
    }

    /// The verification text says how to pin the key only when none was pinned.
    #[test]
    fn verification_text_offers_the_key_to_pin() {
        let report = Report::certified(&certification(), 4, "camproof".into());
        let key = signer().key;
        let file = sign_report(&report, &key).expect("signs");
        let v = verify_report(&file, None).expect("verifies");
        let open = verification_text("r.json", &v, false);
        assert!(open.starts_with("r.json: signature valid (key "), "{open}");
        assert!(open.contains("  cam: "), "{open}");
        let pin = format!("--key {}", hex::encode(key.verifying_key().as_bytes()));
        assert!(open.contains(&pin), "{open}");
        assert!(!verification_text("r.json", &v, true).contains("--key"));
    }
}
