//! Rendered reports are pinned (durations zeroed, so snapshots do not depend on speed).

use camproof_conformance::outcome::{Evidence, Outcome, Verdict};
use camproof_reports::{render_html, render_junit, DutIdentity, Report, RunInfo};

mod junit_shape;

fn outcome(id: &str, verdict: Verdict, summary: &str) -> Outcome {
    Outcome {
        id: id.into(),
        verdict,
        summary: summary.into(),
        explanation: if verdict == Verdict::Fail {
            "remove the default/empty password (NETIP-SRV-06)".into()
        } else {
            String::new()
        },
        evidence: vec![Evidence {
            label: "login admin with the empty password".into(),
            value: "Ret 100 <&>".into(),
        }],
        // Redacted: durations vary from run to run.
        duration_us: 0,
    }
}

fn report() -> Report {
    Report::build(
        DutIdentity {
            name: "camproof simulated camera (profile empty-admin-password)".into(),
            vendor: "camproof".into(),
            model: "CAMPROOF-IPC".into(),
            firmware_version: "1.0.0".into(),
            firmware_image_sha256: "00".repeat(32),
            target: "simulated profile empty-admin-password".into(),
        },
        RunInfo {
            mode: "simulated".into(),
            harness: "camproof 0.1.0".into(),
            seed: 1,
            command: "camproof certify --profile empty-admin-password --seed 1".into(),
            wall_ms: 0,
            simulated_ms: 0,
            started_us: 0,
        },
        &[
            outcome(
                "NETIP-AUTH-01",
                Verdict::Fail,
                "admin logs in with the empty password",
            ),
            outcome(
                "NETIP-AUTH-02",
                Verdict::Pass,
                "no hidden or backdoor account logs in",
            ),
            outcome(
                "CLOUD-RES-01",
                Verdict::Skip,
                "the DUT description declares feature `resumption` = false",
            ),
            outcome(
                "RES-STALE-01",
                Verdict::Blocked,
                "not run: prerequisite RES-FALLBACK-01 did not pass (fail)",
            ),
        ],
    )
}

#[test]
fn json_report_is_pinned() {
    let json = serde_json::to_string_pretty(&report()).unwrap();
    insta::assert_snapshot!(json);
}

#[test]
fn html_report_is_pinned() {
    insta::assert_snapshot!(render_html(&report(), "0123456789abcdef"));
}

#[test]
fn junit_report_is_pinned() {
    let xml = render_junit(&report());
    let totals = junit_shape::check(&xml).unwrap();
    assert_eq!(
        (totals.suites, totals.tests, totals.failures, totals.skipped),
        (3, 4, 1, 2)
    );
    assert!(xml.contains("<failure type=\"NETIP-AUTH-01\" message=\"admin logs in"));
    junit_shape::planted_faults_are_refused(&xml);
    insta::assert_snapshot!(xml);
}

#[test]
fn a_run_report_of_schema_2_still_renders() {
    // Written by the release binary of 6aa6c13 (`camproof run
    // scenarios/catalog/relay-crash.toml --seed 1 --out DIR`).
    let v2 = include_str!("../../results/tests/data/relay-crash-seed1.run2.json");
    let saved = camproof_reports::SavedReport::parse(v2).unwrap();
    let files = saved.files().unwrap();
    let md = &files.iter().find(|(n, _)| *n == "report.md").unwrap().1;
    assert!(md.contains("| relay | `core.frames_in` | 6160 |"), "{md}");
    assert!(md.contains("| signaling | `forwarded` | 71 |"), "{md}");
}

#[test]
fn a_skip_without_a_summary_still_says_why() {
    let mut r = report();
    for c in &mut r.cases {
        c.summary.clear();
    }
    let xml = render_junit(&r);
    assert!(junit_shape::check(&xml).is_ok(), "{xml}");
    assert!(!xml.contains("message=\"\""), "{xml}");
    assert!(xml.contains("<skipped message=\"not run: a prerequisite case did not pass\"/>"));
    assert!(xml.contains("<skipped message=\"does not apply to this device or mode\"/>"));
}
