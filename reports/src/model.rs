//! The report model.

use std::collections::BTreeMap;

use camproof_conformance::catalog;
use camproof_conformance::outcome::{Evidence, Outcome, Verdict};
use serde::{Deserialize, Serialize};

pub use camproof_conformance::certify::DutIdentity;

/// How the run went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// `simulated`, `network`, `container` or `capture`.
    pub mode: String,
    /// Harness name and version.
    pub harness: String,
    /// Seed of every random draw.
    pub seed: u64,
    /// The command that reproduces the run.
    pub command: String,
    /// Wall-clock duration of the run, milliseconds.
    pub wall_ms: u64,
    /// Simulated duration (mode 1), milliseconds.
    pub simulated_ms: u64,
    /// Start time, microseconds since the Unix epoch (the harness clock).
    pub started_us: u64,
}

/// One case's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseResult {
    /// Case ID.
    pub id: String,
    /// Area.
    pub area: String,
    /// Requirements checked.
    pub requirements: Vec<String>,
    /// Purpose.
    pub purpose: String,
    /// Verdict.
    pub verdict: Verdict,
    /// What happened.
    pub summary: String,
    /// What to fix (failures).
    pub explanation: String,
    /// Observations.
    pub evidence: Vec<Evidence>,
    /// Duration, microseconds.
    pub duration_us: u64,
    /// The command that re-runs just this case against the same DUT (failures).
    pub rerun: String,
}

/// One requirement's verdict, derived from the cases citing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequirementResult {
    /// Requirement ID.
    pub id: String,
    /// Fail if any citing case failed, else error/blocked, else pass if one passed,
    /// else skip.
    pub verdict: Verdict,
    /// Citing cases.
    pub cases: Vec<String>,
}

/// Counts per verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Passed.
    pub pass: usize,
    /// Failed.
    pub fail: usize,
    /// Skipped.
    pub skip: usize,
    /// Blocked.
    pub blocked: usize,
    /// Errored.
    pub error: usize,
    /// `certified` when nothing failed, errored or was blocked, else `not certified`;
    /// for a capture (which cannot certify), `no violation found` or `violations found`.
    pub result: String,
}

/// A certification report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The DUT.
    pub dut: DutIdentity,
    /// The run.
    pub run: RunInfo,
    /// Counts and the overall result.
    pub summary: Summary,
    /// Per case, in run order.
    pub cases: Vec<CaseResult>,
    /// Per requirement, sorted by ID.
    pub requirements: Vec<RequirementResult>,
}

impl Summary {
    /// Counts `cases` of a run in `mode`.
    pub fn of(cases: &[CaseResult], mode: &str) -> Summary {
        let mut s = Summary::default();
        for c in cases {
            match c.verdict {
                Verdict::Pass => s.pass += 1,
                Verdict::Fail => s.fail += 1,
                Verdict::Skip => s.skip += 1,
                Verdict::Blocked => s.blocked += 1,
                Verdict::Error => s.error += 1,
            }
        }
        let clean = s.fail + s.error + s.blocked == 0 && s.pass > 0;
        s.result = match (mode == "capture", clean) {
            (false, true) => "certified",
            (false, false) => "not certified",
            (true, true) => "no violation found",
            (true, false) => "violations found",
        }
        .into();
        s
    }

    /// Whether the run found nothing wrong.
    pub fn is_clean(&self) -> bool {
        self.result == "certified" || self.result == "no violation found"
    }
}

/// Per-requirement verdicts of `cases`.
pub fn requirement_results(cases: &[CaseResult]) -> Vec<RequirementResult> {
    let mut by: BTreeMap<&str, Vec<&CaseResult>> = BTreeMap::new();
    for c in cases {
        for r in &c.requirements {
            by.entry(r.as_str()).or_default().push(c);
        }
    }
    by.into_iter()
        .map(|(id, cs)| {
            let has = |v: Verdict| cs.iter().any(|c| c.verdict == v);
            let verdict = if has(Verdict::Fail) {
                Verdict::Fail
            } else if has(Verdict::Error) {
                Verdict::Error
            } else if has(Verdict::Blocked) {
                Verdict::Blocked
            } else if has(Verdict::Pass) {
                Verdict::Pass
            } else {
                Verdict::Skip
            };
            RequirementResult {
                id: id.to_owned(),
                verdict,
                cases: cs.iter().map(|c| c.id.clone()).collect(),
            }
        })
        .collect()
}

impl Report {
    /// A report of `outcomes`. `run.command` is the reproducing command; each failed
    /// case gets it with `--test ID` appended.
    pub fn build(dut: DutIdentity, run: RunInfo, outcomes: &[Outcome]) -> Report {
        let cases: Vec<CaseResult> = outcomes
            .iter()
            .map(|o| {
                let case = catalog::find(&o.id);
                let rerun = if matches!(o.verdict, Verdict::Fail | Verdict::Error) {
                    format!("{} --test {}", run.command, o.id)
                } else {
                    String::new()
                };
                CaseResult {
                    id: o.id.clone(),
                    area: case.map(|c| c.area.to_owned()).unwrap_or_default(),
                    requirements: case
                        .map(|c| c.requirements.iter().map(|r| r.to_string()).collect())
                        .unwrap_or_default(),
                    purpose: case.map(|c| c.purpose.to_owned()).unwrap_or_default(),
                    verdict: o.verdict,
                    summary: o.summary.clone(),
                    explanation: o.explanation.clone(),
                    evidence: o.evidence.clone(),
                    duration_us: o.duration_us,
                    rerun,
                }
            })
            .collect();
        Report {
            dut,
            summary: Summary::of(&cases, &run.mode),
            requirements: requirement_results(&cases),
            run,
            cases,
        }
    }

    /// Whether the summary and requirement verdicts agree with the cases.
    pub fn is_consistent(&self) -> bool {
        Summary::of(&self.cases, &self.run.mode) == self.summary
            && requirement_results(&self.cases) == self.requirements
    }
}
