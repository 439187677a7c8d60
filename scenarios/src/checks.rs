//! Checks a run makes on what the monitoring and the relay did: every alert a fault
//! causes fires within its deadline, and no frame waits at a relay beyond its limit.

use std::time::Duration;

use camproof_platform::monitoring::{Alert, AlertKind};
use camproof_protocol::Timestamp;

use crate::world::FaultAction;

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

/// Checks that no frame waited at a relay longer than `limit`.
pub fn check_relay_hold(max_held: Duration, limit: Duration) -> Result<(), String> {
    if max_held > limit {
        return Err(format!(
            "a relay held a frame for {:.3} s, beyond its limit of {:.3} s",
            max_held.as_secs_f64(),
            limit.as_secs_f64()
        ));
    }
    Ok(())
}

/// Checks an OTA rollout of `ota` in a world of `cameras`: the platform's `counts` and
/// the firmware the fleet runs at the end (`running`, cameras by version).
///
/// Every camera the rollout covers runs the release (all of them at 100 %; at least the
/// devices the platform found eligible below that), and none refused or failed the
/// vendor's image.
pub fn check_rollout(
    ota: &crate::world::OtaSpec,
    cameras: u64,
    counts: &camproof_platform::ota::RolloutCounts,
    running: &std::collections::BTreeMap<String, u64>,
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
        return Err(format!(
            "{on_release} of {wanted} cameras run {} at the end ({} installs reported)",
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
        assert!(check_relay_hold(Duration::from_millis(2_999), limit).is_ok());
        assert!(check_relay_hold(limit, limit).is_ok());
        let err = check_relay_hold(Duration::from_millis(9_500), limit).unwrap_err();
        assert!(
            err.contains("9.500 s, beyond its limit of 3.000 s"),
            "{err}"
        );
    }

    #[test]
    fn a_rollout_is_complete_when_every_covered_camera_runs_the_release() {
        use camproof_platform::ota::RolloutCounts;
        use camproof_protocol::ota::RefusalCode;
        let ota = crate::world::OtaSpec {
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
        assert_eq!(check_rollout(&ota, 10, &counts, &running(10)), Ok(()));
        let e = check_rollout(&ota, 10, &counts, &running(7)).unwrap_err();
        assert!(e.starts_with("7 of 10 cameras run 1.1.0"), "{e}");
        // Below 100 %, the devices the platform found eligible must all have it.
        let partial = crate::world::OtaSpec {
            percent: 30,
            ..ota.clone()
        };
        let three = RolloutCounts {
            eligible: 3,
            ..counts.clone()
        };
        assert_eq!(check_rollout(&partial, 10, &three, &running(3)), Ok(()));
        assert!(check_rollout(&partial, 10, &three, &running(2)).is_err());
        let mut refused = counts.clone();
        refused.refused = 1;
        refused.refusals.insert(RefusalCode::HashMismatch, 1);
        let e = check_rollout(&ota, 10, &refused, &running(10)).unwrap_err();
        assert!(e.contains("1 refused (1 hash_mismatch)"), "{e}");
        let none = RolloutCounts::default();
        let e = check_rollout(&ota, 10, &none, &running(0)).unwrap_err();
        assert!(e.contains("proved nothing"), "{e}");
    }
}
