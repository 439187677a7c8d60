//! Rollouts: deterministic eligibility, per-device progress, counters and the halting rule.
//!
//! A device is in rollout `r` at `p` percent iff
//! `SHA-256("camproof ota eligibility v1\0" || r as u64 big-endian || device id)`, read as
//! a big-endian `u64` from its first 8 bytes, modulo [`BUCKETS`], is below `p * 100`.
//! The bucket never changes for a (rollout, device) pair, so raising the percentage only
//! adds devices and lowering it only removes them.

use std::collections::BTreeMap;
use std::fmt;

use camproof_protocol::ota::{FirmwareVersion, RefusalCode};
use camproof_protocol::time::Timestamp;
use sha2::{Digest, Sha256};

use super::HaltPolicy;
pub use camproof_results::RolloutCounts;

/// Number of eligibility buckets: one per 0.01 % of the fleet.
pub const BUCKETS: u64 = 10_000;

/// Domain separation for the eligibility hash, so it means nothing elsewhere.
const ELIGIBILITY_DOMAIN: &[u8] = b"camproof ota eligibility v1\0";

/// A rollout's identifier, allocated in sequence by the service (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RolloutId(pub u64);

impl fmt::Display for RolloutId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rollout-{}", self.0)
    }
}

/// The device's bucket (0 to 9 999) in `rollout`: stable, uniform, independent per rollout.
pub fn eligibility_bucket(rollout: RolloutId, device_id: &str) -> u16 {
    let mut h = Sha256::new();
    h.update(ELIGIBILITY_DOMAIN);
    h.update(rollout.0.to_be_bytes());
    h.update(device_id.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // 2^64 mod 10 000 buckets are one draw in 1.8e15 more likely: no measurable bias.
    (u64::from_be_bytes(first) % BUCKETS) as u16
}

/// Whether `device_id` is in `rollout` at `percent` (values above 100 count as 100).
pub fn is_eligible(rollout: RolloutId, device_id: &str, percent: u8) -> bool {
    u32::from(eligibility_bucket(rollout, device_id)) < u32::from(percent.min(100)) * 100
}

/// What a device reports after an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallResult {
    /// The image verified and the device now runs it.
    Installed,
    /// The device refused the image (verification or policy), with the reason.
    Refused(RefusalCode),
    /// The image verified but installing or booting it failed.
    Failed,
}

impl fmt::Display for InstallResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallResult::Installed => f.write_str("installed"),
            InstallResult::Refused(code) => write!(f, "refused ({code})"),
            InstallResult::Failed => f.write_str("failed"),
        }
    }
}

/// Why a rollout halted itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HaltReason {
    /// Too many of the reporting devices failed (or refused) the image.
    FailureRatio {
        /// Devices whose latest report counts as a failure.
        failures: u64,
        /// Devices that reported.
        reports: u64,
        /// The limit that was exceeded, in per mille.
        max_failure_permille: u32,
    },
}

impl fmt::Display for HaltReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HaltReason::FailureRatio {
                failures,
                reports,
                max_failure_permille,
            } => write!(
                f,
                "{failures} of {reports} reporting devices failed, above the limit of {}.{} %",
                max_failure_permille / 10,
                max_failure_permille % 10
            ),
        }
    }
}

/// Where a rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutState {
    /// Eligible devices are offered the image.
    Active,
    /// Paused by an operator: no new offers.
    Paused,
    /// Halted by the failure-ratio rule: no new offers until an operator resumes it.
    Halted {
        /// What tripped the rule.
        reason: HaltReason,
        /// When the rule fired.
        at: Timestamp,
    },
    /// Finished at 100 %: the release is offered to every device of the model.
    Completed,
    /// Stopped for good: no offers.
    Aborted,
}

impl RolloutState {
    /// Whether the rollout can still change (Active, Paused or Halted).
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            RolloutState::Active | RolloutState::Paused | RolloutState::Halted { .. }
        )
    }

    /// A short lower-case name (`active`, `paused`, `halted`, `completed`, `aborted`).
    pub fn name(&self) -> &'static str {
        match self {
            RolloutState::Active => "active",
            RolloutState::Paused => "paused",
            RolloutState::Halted { .. } => "halted",
            RolloutState::Completed => "completed",
            RolloutState::Aborted => "aborted",
        }
    }
}

impl fmt::Display for RolloutState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RolloutState::Halted { reason, at } => write!(f, "halted at {at}: {reason}"),
            other => f.write_str(other.name()),
        }
    }
}

/// The alert recorded when a rollout halts itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaltAlert {
    /// The rollout that halted.
    pub rollout: RolloutId,
    /// Its model.
    pub model: String,
    /// Its version.
    pub version: FirmwareVersion,
    /// When the failure ratio went above the limit (and stayed there until `fired`).
    pub began: Timestamp,
    /// When the rule fired (the minimum sample was reached with the ratio above the limit).
    pub fired: Timestamp,
    /// What tripped the rule.
    pub reason: HaltReason,
}

impl fmt::Display for HaltAlert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} {}) halted: {}; over the limit since {}, fired at {}",
            self.rollout, self.model, self.version, self.reason, self.began, self.fired
        )
    }
}

/// A rollout as reports see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutStatus {
    /// The rollout.
    pub id: RolloutId,
    /// The model it updates.
    pub model: String,
    /// The version it distributes.
    pub version: FirmwareVersion,
    /// The share of devices in it, 0 to 100.
    pub percent: u8,
    /// Devices below this version are not offered the image (they must update first).
    pub min_current: Option<FirmwareVersion>,
    /// Where it stands.
    pub state: RolloutState,
    /// When it started.
    pub started_at: Timestamp,
    /// When it completed or was aborted.
    pub ended_at: Option<Timestamp>,
    /// Counters over distinct devices.
    pub counts: RolloutCounts,
    /// The latest halt alert, if the rule fired.
    pub alert: Option<HaltAlert>,
}

/// One device's progress in one rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceProgress {
    /// First time the device asked while eligible.
    pub(crate) eligible_at: Timestamp,
    /// First time the device was offered the image.
    pub(crate) offered_at: Option<Timestamp>,
    /// The latest report.
    pub(crate) report: Option<DeviceReport>,
}

/// A device's latest report and the halting window it fell in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeviceReport {
    pub(crate) result: InstallResult,
    pub(crate) at: Timestamp,
    /// The rollout's window number when the report arrived (see [`Rollout::window`]).
    pub(crate) window: u32,
}

/// A rollout's whole state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rollout {
    pub(crate) id: RolloutId,
    pub(crate) model: String,
    pub(crate) version: FirmwareVersion,
    pub(crate) percent: u8,
    pub(crate) min_current: Option<FirmwareVersion>,
    pub(crate) state: RolloutState,
    pub(crate) started_at: Timestamp,
    pub(crate) ended_at: Option<Timestamp>,
    pub(crate) devices: BTreeMap<String, DeviceProgress>,
    /// The halting window: reports count toward the rule only if they arrived in the
    /// current window; resuming a halted rollout opens a new one, so the devices that
    /// tripped the rule do not trip it again at the next report.
    pub(crate) window: u32,
    /// When the ratio in the current window went above the limit, if it is above now.
    pub(crate) over_since: Option<Timestamp>,
    pub(crate) alert: Option<HaltAlert>,
    /// Derived from `devices` (and `window`).
    pub(crate) counts: RolloutCounts,
    pub(crate) window_reports: u64,
    pub(crate) window_failures: u64,
}

impl Rollout {
    pub(crate) fn new(
        id: RolloutId,
        model: String,
        version: FirmwareVersion,
        percent: u8,
        min_current: Option<FirmwareVersion>,
        now: Timestamp,
    ) -> Self {
        Rollout {
            id,
            model,
            version,
            percent,
            min_current,
            state: RolloutState::Active,
            started_at: now,
            ended_at: None,
            devices: BTreeMap::new(),
            window: 0,
            over_since: None,
            alert: None,
            counts: RolloutCounts::default(),
            window_reports: 0,
            window_failures: 0,
        }
    }

    /// Whether `device_id` is in the rollout now (everyone, once completed).
    pub(crate) fn includes(&self, device_id: &str) -> bool {
        self.state == RolloutState::Completed || is_eligible(self.id, device_id, self.percent)
    }

    /// Notes that the device asked while eligible, and was offered the image if `offered`.
    pub(crate) fn note_check(&mut self, device_id: &str, offered: bool, now: Timestamp) {
        let entry = match self.devices.get_mut(device_id) {
            Some(e) => e,
            None => {
                self.counts.eligible += 1;
                self.devices
                    .entry(device_id.to_owned())
                    .or_insert(DeviceProgress {
                        eligible_at: now,
                        offered_at: None,
                        report: None,
                    })
            }
        };
        if offered && entry.offered_at.is_none() {
            entry.offered_at = Some(now);
            self.counts.offered += 1;
        }
    }

    /// Whether the device was offered this rollout's image.
    pub(crate) fn was_offered(&self, device_id: &str) -> bool {
        self.devices
            .get(device_id)
            .is_some_and(|d| d.offered_at.is_some())
    }

    /// Records a report from an offered device; returns the alert if the rule fired.
    pub(crate) fn apply_report(
        &mut self,
        device_id: &str,
        result: InstallResult,
        now: Timestamp,
        policy: &HaltPolicy,
    ) -> Option<HaltAlert> {
        let window = self.window;
        let entry = self.devices.get_mut(device_id)?;
        let new = DeviceReport {
            result,
            at: now,
            window,
        };
        if let Some(old) = entry.report.replace(new) {
            uncount(&mut self.counts, old.result);
            if old.window == window {
                self.window_reports = self.window_reports.saturating_sub(1);
                if policy.counts_as_failure(old.result) {
                    self.window_failures = self.window_failures.saturating_sub(1);
                }
            }
        }
        count(&mut self.counts, result);
        self.window_reports += 1;
        if policy.counts_as_failure(result) {
            self.window_failures += 1;
        }
        self.evaluate(now, policy)
    }

    /// The halting rule, run after every report while Active or Paused.
    fn evaluate(&mut self, now: Timestamp, policy: &HaltPolicy) -> Option<HaltAlert> {
        if !matches!(self.state, RolloutState::Active | RolloutState::Paused) {
            return None;
        }
        let over = policy.is_over(self.window_failures, self.window_reports);
        if !over {
            self.over_since = None;
            return None;
        }
        let began = *self.over_since.get_or_insert(now);
        if self.window_reports < policy.min_reports {
            return None;
        }
        let reason = HaltReason::FailureRatio {
            failures: self.window_failures,
            reports: self.window_reports,
            max_failure_permille: policy.max_failure_permille,
        };
        self.state = RolloutState::Halted {
            reason: reason.clone(),
            at: now,
        };
        let alert = HaltAlert {
            rollout: self.id,
            model: self.model.clone(),
            version: self.version,
            began,
            fired: now,
            reason,
        };
        self.alert = Some(alert.clone());
        Some(alert)
    }

    /// Opens a new halting window (on resuming a halted rollout).
    pub(crate) fn new_window(&mut self) {
        self.window = self.window.saturating_add(1);
        self.window_reports = 0;
        self.window_failures = 0;
        self.over_since = None;
    }

    /// Recomputes the counters and the window from the device entries (after loading).
    pub(crate) fn recount(&mut self, policy: &HaltPolicy) {
        let mut counts = RolloutCounts::default();
        let (mut reports, mut failures) = (0, 0);
        for d in self.devices.values() {
            counts.eligible += 1;
            if d.offered_at.is_some() {
                counts.offered += 1;
            }
            if let Some(r) = d.report {
                count(&mut counts, r.result);
                if r.window == self.window {
                    reports += 1;
                    if policy.counts_as_failure(r.result) {
                        failures += 1;
                    }
                }
            }
        }
        self.counts = counts;
        self.window_reports = reports;
        self.window_failures = failures;
    }

    pub(crate) fn status(&self) -> RolloutStatus {
        RolloutStatus {
            id: self.id,
            model: self.model.clone(),
            version: self.version,
            percent: self.percent,
            min_current: self.min_current,
            state: self.state.clone(),
            started_at: self.started_at,
            ended_at: self.ended_at,
            counts: self.counts.clone(),
            alert: self.alert.clone(),
        }
    }
}

/// Counts a device's latest install report.
fn count(c: &mut RolloutCounts, result: InstallResult) {
    match result {
        InstallResult::Installed => c.installed += 1,
        InstallResult::Failed => c.failed += 1,
        InstallResult::Refused(code) => {
            c.refused += 1;
            *c.refusals.entry(code).or_insert(0) += 1;
        }
    }
}

/// Takes back a report a newer one from the same device replaces.
fn uncount(c: &mut RolloutCounts, result: InstallResult) {
    match result {
        InstallResult::Installed => c.installed = c.installed.saturating_sub(1),
        InstallResult::Failed => c.failed = c.failed.saturating_sub(1),
        InstallResult::Refused(code) => {
            c.refused = c.refused.saturating_sub(1);
            if let Some(n) = c.refusals.get_mut(&code) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    c.refusals.remove(&code);
                }
            }
        }
    }
}
