//! Verdicts and evidence: what one case found.

use serde::{Deserialize, Serialize};

/// The verdict of one case. "Not run" is never a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The device behaved as required.
    Pass,
    /// The device broke a requirement.
    Fail,
    /// The case does not apply to this DUT (its description says so) or this mode.
    Skip,
    /// Not run because a prerequisite case failed.
    Blocked,
    /// The harness could not reach a verdict (DUT unreachable, harness fault).
    Error,
}

impl Verdict {
    /// Lower-case name, as in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Skip => "skip",
            Verdict::Blocked => "blocked",
            Verdict::Error => "error",
        }
    }
}

/// One piece of evidence: a label and a value (bytes in hex, times, messages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// What it is.
    pub label: String,
    /// The observation.
    pub value: String,
}

/// What one case found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Case ID.
    pub id: String,
    /// Verdict.
    pub verdict: Verdict,
    /// One line: what happened.
    pub summary: String,
    /// For a failure: what is wrong and what to change, for a firmware engineer.
    pub explanation: String,
    /// Observations backing the verdict.
    pub evidence: Vec<Evidence>,
    /// How long the case took, in microseconds (simulated time inside the simulator).
    pub duration_us: u64,
}

/// Builds an [`Outcome`] while a case runs.
#[derive(Debug, Clone, Default)]
pub struct Finding {
    evidence: Vec<Evidence>,
}

impl Finding {
    /// An empty finding.
    pub fn new() -> Self {
        Finding::default()
    }

    /// Records one observation.
    pub fn note(&mut self, label: impl Into<String>, value: impl Into<String>) {
        self.evidence.push(Evidence {
            label: label.into(),
            value: value.into(),
        });
    }

    /// A pass with `summary`.
    pub fn pass(self, summary: impl Into<String>) -> Verdicted {
        Verdicted {
            verdict: Verdict::Pass,
            summary: summary.into(),
            explanation: String::new(),
            evidence: self.evidence,
        }
    }

    /// A failure: `summary` says what happened, `explanation` what to fix.
    pub fn fail(self, summary: impl Into<String>, explanation: impl Into<String>) -> Verdicted {
        Verdicted {
            verdict: Verdict::Fail,
            summary: summary.into(),
            explanation: explanation.into(),
            evidence: self.evidence,
        }
    }

    /// No verdict could be reached.
    pub fn error(self, summary: impl Into<String>) -> Verdicted {
        Verdicted {
            verdict: Verdict::Error,
            summary: summary.into(),
            explanation: String::new(),
            evidence: self.evidence,
        }
    }

    /// The case does not apply.
    pub fn skip(self, reason: impl Into<String>) -> Verdicted {
        Verdicted {
            verdict: Verdict::Skip,
            summary: reason.into(),
            explanation: String::new(),
            evidence: self.evidence,
        }
    }
}

/// A finished finding, before the runner adds ID and duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdicted {
    /// Verdict.
    pub verdict: Verdict,
    /// One line.
    pub summary: String,
    /// What to fix (failures).
    pub explanation: String,
    /// Observations.
    pub evidence: Vec<Evidence>,
}

impl Verdicted {
    /// The outcome of case `id` that took `duration_us`.
    pub fn into_outcome(self, id: &str, duration_us: u64) -> Outcome {
        Outcome {
            id: id.to_owned(),
            verdict: self.verdict,
            summary: self.summary,
            explanation: self.explanation,
            evidence: self.evidence,
            duration_us,
        }
    }
}

/// Hex of at most the first `max` bytes, with the total length when cut.
pub fn hex_prefix(bytes: &[u8], max: usize) -> String {
    if bytes.len() <= max {
        hex::encode(bytes)
    } else {
        format!("{}… ({} bytes)", hex::encode(&bytes[..max]), bytes.len())
    }
}
