//! The simulated devices' counters: the camera fleet and the viewers.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Counters a fleet of cameras shares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FleetStats {
    /// Connection attempts.
    pub connect_attempts: u64,
    /// Sessions established with a full handshake.
    pub handshakes: u64,
    /// Sessions established by resumption.
    pub resumptions: u64,
    /// Sessions or attempts that ended in an error.
    pub failures: u64,
    /// Heartbeats sent.
    pub heartbeats_sent: u64,
    /// Heartbeats the platform acknowledged.
    pub heartbeats_acked: u64,
    /// Video frames sent.
    pub frames_sent: u64,
    /// Sealed video bytes sent.
    pub video_bytes_sent: u64,
    /// Cameras with an established session right now.
    #[serde(skip)]
    pub online: BTreeSet<u64>,
    /// Signaling commands answered.
    pub commands: u64,
    /// Live views started toward a relay.
    pub live_views: u64,
    /// Live-view frames sent to a relay.
    pub live_frames_sent: u64,
    /// Live views the relay refused or that failed to connect.
    pub live_view_failures: u64,
    /// OTA images installed (the camera rebooted into the other slot).
    pub ota_installed: u64,
    /// OTA images refused (signature, model, rollback, hash).
    pub ota_refused: u64,
    /// OTA downloads cut off by a lost session (the active slot is untouched).
    pub ota_interrupted: u64,
    /// Cameras by firmware version running now.
    pub firmware: BTreeMap<String, u64>,
    /// Installs by the version installed, over the whole run.
    pub installs: BTreeMap<String, u64>,
    /// Each camera's firmware version now, by camera index.
    #[serde(skip)]
    pub running: BTreeMap<u64, String>,
}

impl FleetStats {
    /// Camera `index` runs `version` now: at a boot (a restarted host boots its cameras
    /// again) or after an install. Keeps `firmware` counting each camera once.
    pub fn boot(&mut self, index: u64, version: String) {
        if let Some(old) = self.running.insert(index, version.clone()) {
            if let Some(n) = self.firmware.get_mut(&old) {
                *n = n.saturating_sub(1);
            }
        }
        *self.firmware.entry(version).or_default() += 1;
    }
}

/// Counters a population of viewers shares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ViewerStats {
    /// Sign-ins completed.
    pub logins: u64,
    /// Sign-ins that needed the one-time code.
    pub second_factor_prompts: u64,
    /// Sign-ins refused, by the platform's status (`Refused`, `Locked`, ...).
    pub login_refusals: BTreeMap<String, u64>,
    /// Signaling commands answered ok by the camera.
    pub commands_ok: u64,
    /// Signaling commands refused or unanswered.
    pub commands_failed: u64,
    /// Live views granted and admitted at the relay.
    pub live_views: u64,
    /// Live views that failed (no grant, relay refused or unreachable).
    pub live_view_failures: u64,
    /// Frames that decrypted and verified.
    pub frames_verified: u64,
    /// Frames the opener refused, by reason (replayed, reordered, tampered, ...).
    pub frames_rejected: BTreeMap<String, u64>,
    /// Frames lost in transit (gaps in the sequence).
    pub frames_lost: u64,
    /// Capture-to-viewer latency of verified frames, µs.
    #[serde(skip)]
    pub latency_us: crate::Latencies,
    /// Every sign-in, in order of completion, with its outcome.
    #[serde(skip)]
    pub sign_ins: Vec<SignInRecord>,
}

/// One sign-in of a viewer: when it ended, whose it was, and why it failed if it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInRecord {
    /// When the sign-in succeeded or failed.
    pub at: camproof_protocol::Timestamp,
    /// Whose sign-in.
    pub username: String,
    /// `None` if a session was opened; else the reason (the viewer's error label: the
    /// platform's refusal status, or `Connect`, `Session`, `Timeout`).
    pub refused: Option<String>,
}
