//! What the wire tap saw.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What the wire tap saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WireStats {
    /// Whether every byte was scanned for the run's secrets.
    pub scanned: bool,
    /// Secrets the scan knew.
    pub secrets: u64,
    /// TCP segments seen.
    pub segments: u64,
    /// Payload bytes seen.
    pub bytes: u64,
    /// Secrets found in clear.
    pub leaks: Vec<Leak>,
}

/// One secret the tap found in clear on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Leak {
    /// Simulated time of the segment that completed it (`at_seconds` in JSON).
    #[serde(rename = "at_seconds", with = "crate::seconds")]
    pub at: Duration,
    /// Which secret, by its label (never its value).
    pub secret: String,
    /// Sender host.
    pub from: String,
    /// Receiver host.
    pub to: String,
}
