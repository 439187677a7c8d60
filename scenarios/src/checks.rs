//! The checks a run makes: each named by a [`CheckId`], each failure a [`Failure`] with
//! the simulated time it was first seen; and the checks on what the monitoring, the
//! relays and a rollout did (every alert a fault causes fires within its deadline, no
//! frame waits at a relay beyond its limit, a rollout reaches the cameras it covers).

use std::collections::BTreeMap;
use std::time::Duration;

use camproof_platform::monitoring::{Alert, AlertKind};
use camproof_protocol::Timestamp;

pub use crate::check_id::CheckId;
use crate::spec::{FaultAction, OtaSpec};

/// One check a run failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Which check.
    pub check: CheckId,
    /// Simulated time since the start when the violation was first seen (the end of
    /// the run for a check that can only be made then).
    pub at: Duration,
    /// What was found.
    pub detail: String,
}

impl Failure {
    /// A failure of `check` seen at `at`.
    pub fn new(check: CheckId, at: Duration, detail: String) -> Self {
        Failure { check, at, detail }
    }
}

/// The checks a run makes and what they found, kept as the run goes.
///
/// Checks that can be made while the run goes are made at every sampling instant;
/// the first time one is seen violated is kept ([`Checks::seen`]). At the end every
/// check is made once more on the whole run and its failures carry that first time.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    made: Vec<CheckId>,
    first_seen: BTreeMap<CheckId, (Duration, String)>,
    failures: Vec<Failure>,
}

impl Checks {
    /// Records that the run makes `check` (once, in the order first made).
    pub fn make(&mut self, check: CheckId) {
        if !self.made.contains(&check) {
            self.made.push(check);
        }
    }

    /// Records what a check made while the run goes found at `at`: `Err` is a violation,
    /// of which the first is kept.
    pub fn seen(&mut self, check: CheckId, at: Duration, result: Result<(), String>) {
        if let Err(detail) = result {
            self.first_seen.entry(check).or_insert((at, detail));
        }
    }

    /// Records a failure of `check` found at the end of a run ending at `end`; it carries
    /// the time the check was first seen violated, if it was seen while the run went.
    pub fn fail(&mut self, check: CheckId, end: Duration, detail: String) {
        let at = self.first_seen.get(&check).map_or(end, |(at, _)| *at);
        self.failures.push(Failure::new(check, at, detail));
    }

    /// Records a failure of `check` found at the end of the run that the history dates
    /// at `at`; it carries that time, or the time the check was first seen violated while
    /// the run went if that was earlier.
    pub fn fail_at(&mut self, check: CheckId, at: Duration, detail: String) {
        let at = self
            .first_seen
            .get(&check)
            .map_or(at, |(seen, _)| at.min(*seen));
        self.failures.push(Failure::new(check, at, detail));
    }

    /// Records the end-of-run result of `check`.
    pub fn finish(&mut self, check: CheckId, end: Duration, result: Result<(), String>) {
        if let Err(detail) = result {
            self.fail(check, end, detail);
        }
    }

    /// When `check` was first seen violated while the run went, if it was.
    pub fn first_seen(&self, check: CheckId) -> Option<Duration> {
        self.first_seen.get(&check).map(|(at, _)| *at)
    }

    /// The failures found at the end so far, in the order found.
    pub fn failures(&self) -> &[Failure] {
        &self.failures
    }

    /// Whether `check` has failed so far (at the end or while the run went).
    pub fn failed(&self, check: CheckId) -> bool {
        self.first_seen.contains_key(&check) || self.failures.iter().any(|f| f.check == check)
    }

    /// The checks made, in order, and the failures: those found at the end, in the order
    /// found, then any violation seen while the run went that the end no longer showed.
    pub fn into_parts(mut self) -> (Vec<CheckId>, Vec<Failure>) {
        for (check, (at, detail)) in std::mem::take(&mut self.first_seen) {
            if !self.failures.iter().any(|f| f.check == check) {
                self.failures.push(Failure::new(
                    check,
                    at,
                    format!("{detail} (seen while the run went)"),
                ));
            }
        }
        (self.made, self.failures)
    }
}

/// Latest an alert may fire after a host or relay stops: the rule's 30 s staleness and
/// 30 s hold, plus two sampling intervals of 5 s.
pub const NOT_RUNNING_DEADLINE: Duration = Duration::from_secs(70);
/// Latest `HighDisk` may fire after a disk fills: the rule's 60 s hold plus two
/// sampling intervals.
pub const HIGH_DISK_DEADLINE: Duration = Duration::from_secs(70);

/// An alert a fault must raise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedAlert {
    /// Which rule.
    pub kind: AlertKind,
    /// On which host.
    pub host: String,
    /// For which service.
    pub service: &'static str,
    /// When the cause began (simulated time since the start).
    pub cause: Duration,
    /// Latest time it may fire (simulated time since the start).
    pub deadline: Duration,
}

/// The alerts `faults` must raise in a run of `duration`: a crashed zone host, a dead
/// relay process or a full store disk that stays so until its deadline, within the run.
/// `hosts` resolves a fault target to its hosts.
pub fn expected_alerts(
    faults: &[(Duration, FaultAction)],
    duration: Duration,
    hosts: impl Fn(&str) -> Vec<String>,
) -> Vec<ExpectedAlert> {
    let mut out = Vec::new();
    for (i, (at, action)) in faults.iter().enumerate() {
        let (kind, service, within, target) = match action {
            FaultAction::Crash(t) => (
                AlertKind::ServiceNotRunning,
                "gateway",
                NOT_RUNNING_DEADLINE,
                t,
            ),
            FaultAction::RelayCrash(t) => (
                AlertKind::ServiceNotRunning,
                "relay",
                NOT_RUNNING_DEADLINE,
                t,
            ),
            FaultAction::DiskFull(t) => (AlertKind::HighDisk, "store", HIGH_DISK_DEADLINE, t),
            _ => continue,
        };
        let deadline = *at + within;
        if deadline > duration {
            continue;
        }
        for host in hosts(target) {
            // A repair before the deadline means the alert may rightly never fire.
            let repaired = faults[i + 1..].iter().any(|(later, a)| {
                *later <= deadline
                    && match (action, a) {
                        (FaultAction::Crash(_), FaultAction::Restart(t))
                        | (FaultAction::RelayCrash(_), FaultAction::RelayRestart(t))
                        | (FaultAction::DiskFull(_), FaultAction::DiskFree(t)) => {
                            hosts(t).contains(&host)
                        }
                        _ => false,
                    }
            });
            // Only zone hosts run the monitored services.
            if !repaired && host.starts_with("gw-") {
                out.push(ExpectedAlert {
                    kind,
                    host,
                    service,
                    cause: *at,
                    deadline,
                });
            }
        }
    }
    out
}

/// Checks that every expected alert fired between its cause and its deadline; `epoch`
/// is the simulated wall clock at the start of the run.
pub fn check_alert_deadlines(
    expected: &[ExpectedAlert],
    alerts: &[Alert],
    epoch: Timestamp,
) -> Result<(), String> {
    for e in expected {
        let fired = alerts
            .iter()
            .filter(|a| a.kind == e.kind && a.host == e.host && a.service == e.service)
            .map(|a| a.fired.saturating_since(epoch))
            .filter(|t| *t >= e.cause)
            .min();
        match fired {
            Some(t) if t <= e.deadline => {}
            Some(t) => {
                return Err(format!(
                    "{} on {} ({}) fired at {}, after its deadline {} (cause at {})",
                    e.kind,
                    e.host,
                    e.service,
                    humantime::format_duration(t),
                    humantime::format_duration(e.deadline),
                    humantime::format_duration(e.cause)
                ))
            }
            None => {
                return Err(format!(
                    "{} on {} ({}) never fired; its cause began at {} and its deadline was {}",
                    e.kind,
                    e.host,
                    e.service,
                    humantime::format_duration(e.cause),
                    humantime::format_duration(e.deadline)
                ))
            }
        }
    }
    Ok(())
}

/// Checks that no frame waited at a relay longer than `limit`; `relay` names the relay
/// that held one longest, `max_held`.
pub fn check_relay_hold(relay: &str, max_held: Duration, limit: Duration) -> Result<(), String> {
    if max_held > limit {
        return Err(format!(
            "{relay} held a frame for {:.3} s, beyond its limit of {:.3} s",
            max_held.as_secs_f64(),
            limit.as_secs_f64()
        ));
    }
    Ok(())
}

/// Checks an OTA rollout of `ota` in a world of `cameras`: the platform's `counts` and
/// the firmware the fleet runs at the end (`running`, cameras by version; `behind`, the
/// names of the cameras not running the release, named in the failure when every
/// camera should run it).
///
/// Every camera the rollout covers runs the release (all of them at 100 %; at least the
/// devices the platform found eligible below that), and none refused or failed the
/// vendor's image.
pub fn check_rollout(
    ota: &OtaSpec,
    cameras: u64,
    counts: &camproof_platform::ota::RolloutCounts,
    running: &std::collections::BTreeMap<String, u64>,
    behind: &[String],
) -> Result<(), String> {
    let on_release = running.get(&ota.version).copied().unwrap_or(0);
    if counts.refused + counts.failed > 0 {
        let reasons: Vec<String> = counts
            .refusals
            .iter()
            .map(|(code, n)| format!("{n} {}", code.as_str()))
            .collect();
        return Err(format!(
            "cameras refused or failed the vendor's {} image: {} refused ({}), {} failed",
            ota.version,
            counts.refused,
            reasons.join(", "),
            counts.failed
        ));
    }
    let wanted = if ota.percent >= 100 {
        cameras
    } else {
        counts.eligible
    };
    if counts.eligible == 0 {
        return Err(format!(
            "no camera asked for the {} rollout: the check proved nothing",
            ota.version
        ));
    }
    if on_release < wanted {
        // Below 100 % a camera outside the rollout rightly runs the old version: only a
        // full rollout can name the cameras that missed it.
        let named = if ota.percent >= 100 && !behind.is_empty() {
            let more = behind.len().saturating_sub(10);
            format!(
                "; not on it: {}{}",
                behind
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )
        } else {
            String::new()
        };
        return Err(format!(
            "{on_release} of {wanted} cameras run {} at the end ({} installs reported){named}",
            ota.version, counts.installed
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPOCH: Timestamp = Timestamp::from_secs(1_000);

    fn alert(kind: AlertKind, host: &str, service: &str, fired_s: u64) -> Alert {
        Alert {
            kind,
            host: host.into(),
            service: service.into(),
            began: EPOCH,
            fired: Timestamp::from_secs(1_000 + fired_s),
            resolved: None,
            detail: String::new(),
        }
    }

    fn one(t: &str) -> Vec<String> {
        vec![t.to_string()]
    }

    #[test]
    fn a_crash_expects_its_alert_unless_repaired_in_time() {
        let s = Duration::from_secs;
        let faults = vec![
            (s(10), FaultAction::Crash("gw-a-1".into())),
            (s(20), FaultAction::Crash("gw-a-2".into())),
            (s(40), FaultAction::Restart("gw-a-2".into())),
            (s(30), FaultAction::RelayCrash("gw-a-3".into())),
            (s(100), FaultAction::DiskFull("gw-a-3".into())),
        ];
        let expected = expected_alerts(&faults, s(120), one);
        // gw-a-2 came back before its deadline; the disk fault's deadline is past the run.
        let hosts: Vec<(&str, &str)> = expected
            .iter()
            .map(|e| (e.host.as_str(), e.service))
            .collect();
        assert_eq!(hosts, vec![("gw-a-1", "gateway"), ("gw-a-3", "relay")]);
        assert_eq!(expected[0].deadline, s(80));
    }

    #[test]
    fn a_late_or_missing_alert_fails_and_a_timely_one_passes() {
        let expected = expected_alerts(
            &[(Duration::from_secs(10), FaultAction::Crash("gw-a-1".into()))],
            Duration::from_secs(200),
            one,
        );
        let on_time = [alert(AlertKind::ServiceNotRunning, "gw-a-1", "gateway", 65)];
        assert!(check_alert_deadlines(&expected, &on_time, EPOCH).is_ok());
        let late = [alert(AlertKind::ServiceNotRunning, "gw-a-1", "gateway", 81)];
        let err = check_alert_deadlines(&expected, &late, EPOCH).unwrap_err();
        assert!(err.contains("after its deadline 1m 20s"), "{err}");
        // An alert for another service, or from before the cause, does not count.
        let other = [
            alert(AlertKind::ServiceNotRunning, "gw-a-1", "relay", 65),
            alert(AlertKind::ServiceNotRunning, "gw-a-1", "gateway", 5),
        ];
        let err = check_alert_deadlines(&expected, &other, EPOCH).unwrap_err();
        assert!(err.contains("never fired"), "{err}");
    }

    #[test]
    fn a_frame_held_beyond_the_limit_fails() {
        let limit = Duration::from_secs(3);
        let relay = "relay@gw-apac-1";
        assert!(check_relay_hold(relay, Duration::from_millis(2_999), limit).is_ok());
        assert!(check_relay_hold(relay, limit, limit).is_ok());
        let err = check_relay_hold(relay, Duration::from_millis(9_500), limit).unwrap_err();
        assert_eq!(
            err,
            "relay@gw-apac-1 held a frame for 9.500 s, beyond its limit of 3.000 s"
        );
    }

    #[test]
    fn a_rollout_is_complete_when_every_covered_camera_runs_the_release() {
        use camproof_platform::ota::RolloutCounts;
        use camproof_protocol::ota::RefusalCode;
        let ota = OtaSpec {
            version: "1.1.0".into(),
            percent: 100,
            start: Duration::from_secs(20),
            image_bytes: 1024,
        };
        let counts = RolloutCounts {
            eligible: 10,
            offered: 10,
            installed: 10,
            ..RolloutCounts::default()
        };
        let running = |n: u64| {
            [("1.0.0".to_string(), 10 - n), ("1.1.0".to_string(), n)]
                .into_iter()
                .collect()
        };
        assert_eq!(check_rollout(&ota, 10, &counts, &running(10), &[]), Ok(()));
        let behind = [
            "CAM-00000001".to_string(),
            "CAM-00000004".into(),
            "CAM-00000008".into(),
        ];
        let e = check_rollout(&ota, 10, &counts, &running(7), &behind).unwrap_err();
        assert_eq!(
            e,
            "7 of 10 cameras run 1.1.0 at the end (10 installs reported); not on it: \
             CAM-00000001, CAM-00000004, CAM-00000008"
        );
        // Below 100 %, the devices the platform found eligible must all have it.
        let partial = OtaSpec {
            percent: 30,
            ..ota.clone()
        };
        let three = RolloutCounts {
            eligible: 3,
            ..counts.clone()
        };
        assert_eq!(
            check_rollout(&partial, 10, &three, &running(3), &[]),
            Ok(())
        );
        let e = check_rollout(&partial, 10, &three, &running(2), &behind).unwrap_err();
        assert!(!e.contains("not on it"), "{e}");
        let mut refused = counts.clone();
        refused.refused = 1;
        refused.refusals.insert(RefusalCode::HashMismatch, 1);
        let e = check_rollout(&ota, 10, &refused, &running(10), &[]).unwrap_err();
        assert!(e.contains("1 refused (1 hash_mismatch)"), "{e}");
        let none = RolloutCounts::default();
        let e = check_rollout(&ota, 10, &none, &running(0), &[]).unwrap_err();
        assert!(e.contains("proved nothing"), "{e}");
    }
}
