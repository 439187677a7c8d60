//! JUnit XML for CI: one suite per area, one test case per certification case.

use std::collections::BTreeMap;
use std::time::Duration;

use camproof_conformance::outcome::Verdict;
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use crate::model::Report;

/// Renders `report` as JUnit XML. Blocked cases are reported as skipped with the
/// reason; failures carry the explanation, the evidence and the re-run command.
pub fn render_junit(report: &Report) -> Result<String, quick_junit::SerializeError> {
    let mut junit =
        quick_junit::Report::new(format!("camproof certification: {}", report.dut.name));
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    for c in &report.cases {
        let mut status = match c.verdict {
            Verdict::Pass => TestCaseStatus::success(),
            Verdict::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
            Verdict::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
            Verdict::Skip | Verdict::Blocked => TestCaseStatus::skipped(),
        };
        if c.verdict != Verdict::Pass {
            status.set_message(c.summary.clone());
        }
        if matches!(c.verdict, Verdict::Fail | Verdict::Error) {
            let mut text = format!("{}\n\n", c.explanation);
            for e in &c.evidence {
                text.push_str(&format!("{}: {}\n", e.label, e.value));
            }
            text.push_str(&format!("\nre-run: {}\n", c.rerun));
            status.set_description(text);
        }
        let mut case = TestCase::new(
            format!("{} [{}] {}", c.id, c.requirements.join(" "), c.purpose),
            status,
        );
        case.set_classname(format!("certification.{}", c.area));
        case.set_time(Duration::from_micros(c.duration_us));
        suites
            .entry(c.area.as_str())
            .or_insert_with(|| TestSuite::new(format!("certification.{}", c.area)))
            .add_test_case(case);
    }
    junit.add_test_suites(suites.into_values());
    junit.to_string()
}
