//! A run's `result.json` model from its summary: each component's counters are stored
//! as the component kept them; only events (faults, alerts, failures) and latency
//! samples are turned into their report form here.

use std::path::Path;
use std::time::Duration;

use camproof_results::{
    AlertEntry, CheckFailure, CheckResult, CheckStatus, FaultEntry, LatencyHistogram, RegionOnline,
    RunReport, RUN_SCHEMA,
};

use crate::summary::{self, CheckOutcome};
use crate::world::{self, Failure, RunSummary};

fn us(d: Option<Duration>) -> Option<u64> {
    d.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Every check of the run: made (pass or fail) or not made, with why not.
fn checks(s: &RunSummary, failures: &[Failure]) -> Vec<CheckResult> {
    summary::check_outcomes(s, failures)
        .into_iter()
        .map(|(name, outcome)| {
            let (status, note) = match outcome {
                CheckOutcome::Fail => (CheckStatus::Fail, String::new()),
                CheckOutcome::NotMade(why) => (CheckStatus::NotMade, why),
                CheckOutcome::Pass => (CheckStatus::Pass, String::new()),
            };
            CheckResult { name, status, note }
        })
        .collect()
}

/// What a run is reported as: its scenario, file, verdict, and the command that repeats it.
#[derive(Debug, Clone)]
pub struct RunIdentity<'a> {
    /// The scenario's name.
    pub scenario: &'a str,
    /// The scenario file as given.
    pub file: &'a Path,
    /// `pass`, or `fail (check, check)`.
    pub verdict: &'a str,
    /// The command that repeats the run exactly.
    pub reproduce: String,
}

/// The report of one run (`result.json`), from the simulator's summary; `wall` is the
/// wall-clock time it took.
pub fn run_report(id: RunIdentity<'_>, s: &RunSummary, wall: Duration) -> RunReport {
    let failures = s.failures();
    RunReport {
        schema: RUN_SCHEMA.into(),
        scenario: id.scenario.into(),
        file: id.file.display().to_string(),
        seed: s.seed,
        verdict: id.verdict.into(),
        checks: checks(s, &failures),
        failures: failures
            .iter()
            .map(|f| CheckFailure {
                check: f.check.to_string(),
                at_seconds: Some(f.at.as_secs_f64()),
                detail: f.detail.clone(),
            })
            .collect(),
        reproduce: id.reproduce,
        cameras: s.cameras,
        cameras_online: s.cameras_online,
        online_by_region: s
            .online_by_region
            .iter()
            .map(|(r, (online, cameras))| {
                let counts = RegionOnline {
                    online: *online,
                    cameras: *cameras,
                };
                (r.clone(), counts)
            })
            .collect(),
        offline_cameras: s.offline.clone(),
        epoch_seconds: world::EPOCH_SECS,
        simulated_seconds: s.simulated.as_secs_f64(),
        wall_seconds: wall.as_secs_f64(),
        frame_latency_p50_us: us(s.latency_p50),
        frame_latency_p99_us: us(s.latency_p99),
        live_latency_p50_us: us(s.live_latency_p50),
        live_latency_p99_us: us(s.live_latency_p99),
        counters: s.counters.clone(),
        faults: s
            .faults
            .iter()
            .map(|(at, f)| FaultEntry {
                at_seconds: at.as_secs_f64(),
                action: format!("{f:?}"),
            })
            .collect(),
        alerts: s
            .alerts
            .iter()
            .map(|a| AlertEntry {
                kind: a.kind.to_string(),
                host: a.host.clone(),
                service: a.service.clone(),
                began_us: a.began.as_micros(),
                fired_us: a.fired.as_micros(),
                resolved_us: a.resolved.map(|r| r.as_micros()),
                detail: a.detail.clone(),
            })
            .collect(),
        timeline: s.timeline.clone(),
        latency_histogram: LatencyHistogram::from_samples(
            &s.counters.gateways.frame_latency_us,
            &s.counters.viewers.latency_us,
        ),
        capture: None,
        trace_events: s.trace_events,
        trace_sha256: s.trace_hash.clone(),
        dropped: Vec::new(),
    }
}
