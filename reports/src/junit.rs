//! JUnit XML of a certification for CI: one suite per area, one test case per
//! certification case.

use std::collections::BTreeMap;

use camproof_conformance::outcome::Verdict;

use crate::junit_xml::{render, Case, Outcome, Suite};
use crate::model::Report;

/// Renders `report` as JUnit XML: one `<testsuite>` per area (`certification.AREA`),
/// one `<testcase>` per case with its measured `time`. A failed case is a
/// `<failure type="CASE-ID" message="SUMMARY">` (an errored one an `<error>`) whose
/// body is what to fix, the evidence and the re-run command; a skipped or blocked case
/// is `<skipped>` with the reason.
pub fn render_junit(report: &Report) -> String {
    let mut suites: BTreeMap<&str, Suite> = BTreeMap::new();
    for c in &report.cases {
        let body = || {
            let mut text = format!("{}\n\n", c.explanation);
            for e in &c.evidence {
                text.push_str(&format!("{}: {}\n", e.label, e.value));
            }
            text.push_str(&format!("\nre-run: {}\n", c.rerun));
            text
        };
        // Every outcome says what happened in its message, even for a case whose
        // summary is empty.
        let message = |fallback: &str| {
            if c.summary.is_empty() {
                fallback.to_string()
            } else {
                c.summary.clone()
            }
        };
        let outcome = match c.verdict {
            Verdict::Pass => Outcome::Passed,
            Verdict::Fail => Outcome::Failed {
                kind: c.id.clone(),
                message: message("the device broke a requirement of this case"),
                body: body(),
            },
            Verdict::Error => Outcome::Errored {
                kind: c.id.clone(),
                message: message("the harness could not reach a verdict"),
                body: body(),
            },
            Verdict::Skip => Outcome::Skipped {
                message: message("does not apply to this device or mode"),
            },
            Verdict::Blocked => Outcome::Skipped {
                message: message("not run: a prerequisite case did not pass"),
            },
        };
        let seconds = c.duration_us as f64 / 1e6;
        let suite = suites.entry(c.area.as_str()).or_insert_with(|| Suite {
            name: format!("certification.{}", c.area),
            seconds: 0.0,
            properties: Vec::new(),
            cases: Vec::new(),
        });
        // An area took as long as its cases: they run one after another.
        suite.seconds += seconds;
        suite.cases.push(Case {
            name: format!("{} [{}] {}", c.id, c.requirements.join(" "), c.purpose),
            classname: format!("certification.{}", c.area),
            seconds,
            outcome,
        });
    }
    let suites: Vec<Suite> = suites.into_values().collect();
    render(
        &format!("camproof certification: {}", report.dut.name),
        report.run.wall_ms as f64 / 1e3,
        &suites,
    )
}
