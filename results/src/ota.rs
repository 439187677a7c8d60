//! The OTA rollout's counters.

use std::collections::BTreeMap;

use camproof_protocol::ota::RefusalCode;
use serde::{Deserialize, Serialize};

/// Per-rollout counters, over distinct devices (a device's latest report counts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RolloutCounts {
    /// Devices that asked while in the rollout's percentage (or after completion).
    pub eligible: u64,
    /// Devices that were offered the image.
    pub offered: u64,
    /// Devices whose latest report is `Installed`.
    pub installed: u64,
    /// Devices whose latest report is `Refused`.
    pub refused: u64,
    /// Devices whose latest report is `Failed`.
    pub failed: u64,
    /// Refusals by reason (by the code's name in JSON).
    #[serde(with = "crate::refusal_names")]
    pub refusals: BTreeMap<RefusalCode, u64>,
}

impl RolloutCounts {
    /// Devices that reported anything.
    pub fn reported(&self) -> u64 {
        self.installed + self.refused + self.failed
    }
}
