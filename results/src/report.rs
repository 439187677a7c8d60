//! The run report model: what one `camproof run` measured, as `result.json`
//! (schema [`RUN_SCHEMA`]), and the sweep report model, `sweep.json` ([`SWEEP_SCHEMA`]).
//!
//! The models are plain data: each component's counters are the type the component
//! counts in, stored as they are. Every map is a `BTreeMap`, so the JSON
//! is the same byte for byte for the same run.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::attacks::AttackSummary;
use crate::devices::{FleetStats, ViewerStats};
use crate::gateway::GatewayStats;
use crate::latency::Latencies;
use crate::ota::RolloutCounts;
use crate::relay::RelayServiceStats;
use crate::signaling::{SignalingStats, StoreStats};
use crate::wire::WireStats;

/// The format of a run's `result.json`.
pub const RUN_SCHEMA: &str = "camproof.run/3";
/// The format of `sweep.json`.
pub const SWEEP_SCHEMA: &str = "camproof.sweep/1";

/// Upper bounds (µs, inclusive) of the latency histogram's buckets: 1-2-5 steps from
/// 100 µs to 10 s; a last bucket holds everything slower.
pub const LATENCY_BUCKETS_US: [u64; 16] = [
    100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000,
    1_000_000, 2_000_000, 5_000_000, 10_000_000,
];

/// Cameras online at the end in one region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionOnline {
    /// Cameras with a session at the end.
    pub online: u64,
    /// Cameras homed in the region.
    pub cameras: u64,
}

/// One fault applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultEntry {
    /// Simulated seconds since the start.
    pub at_seconds: f64,
    /// What it did, e.g. `Crash("gw-eu-africa-1")`.
    pub action: String,
}

/// One alert the monitoring fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertEntry {
    /// Which rule, e.g. `ServiceNotRunning`.
    pub kind: String,
    /// Where.
    pub host: String,
    /// Which service.
    pub service: String,
    /// When its cause began (simulated clock, µs since the Unix epoch).
    pub began_us: u64,
    /// When it fired (simulated clock, µs since the Unix epoch).
    pub fired_us: u64,
    /// When it resolved, if it did (simulated clock, µs since the Unix epoch).
    pub resolved_us: Option<u64>,
    /// Why, for people.
    pub detail: String,
}

/// One check's failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckFailure {
    /// Which check, e.g. `liveness` or `no-acked-write-lost`.
    pub check: String,
    /// What was found.
    pub detail: String,
    /// Simulated seconds since the start when the violation was first seen (the end of
    /// the run for a check made only then); absent in reports written before 2026-12-07.
    #[serde(default)]
    pub at_seconds: Option<f64>,
}

/// A camera without a session at the end of a run, and since when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfflineCamera {
    /// The camera's name (its certificate subject, `CAM-00000007`).
    pub camera: String,
    /// The site (host) it belongs to.
    pub site: String,
    /// The site's region.
    pub region: String,
    /// Simulated seconds since the start at which it was first seen offline after it was
    /// last seen online (sampled every 5 s; the end of the run if it dropped after the
    /// last sample); `None` if no sample ever saw it online.
    pub since_seconds: Option<f64>,
}

/// Whether a check was made and how it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    /// Made, and held.
    Pass,
    /// Made, and broken (details in [`RunReport::failures`]).
    Fail,
    /// Not made in this run (e.g. no attack ran, or the wire was not scanned).
    NotMade,
}

/// One check of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check's name.
    pub name: String,
    /// How it went.
    pub status: CheckStatus,
    /// Why it was not made, or empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// The run at one sampling instant, as the world's monitoring samples it; counts are
/// for the interval that ended there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineSample {
    /// Simulated time since the start (`at_seconds` in JSON).
    #[serde(rename = "at_seconds", with = "crate::seconds")]
    pub at: Duration,
    /// Cameras with a session.
    pub cameras_online: u64,
    /// Frames that reached a gateway in the interval.
    pub frames: u64,
    /// Median camera-to-gateway latency of those frames (`latency_p50_us` in JSON).
    #[serde(rename = "latency_p50_us", with = "crate::micros")]
    pub latency_p50: Option<Duration>,
    /// 99th-percentile camera-to-gateway latency of those frames (`latency_p99_us`).
    #[serde(rename = "latency_p99_us", with = "crate::micros")]
    pub latency_p99: Option<Duration>,
    /// Live frames verified end to end in the interval.
    pub live_frames: u64,
    /// Sign-ins that succeeded in the interval.
    pub logins: u64,
    /// Sign-ins refused in the interval.
    pub login_refusals: u64,
}

/// One bucket of the latency histogram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyBucket {
    /// Inclusive upper bound (µs); `None` for the last, open bucket.
    pub le_us: Option<u64>,
    /// Camera-to-gateway frames in the bucket.
    pub camera: u64,
    /// Capture-to-viewer live frames in the bucket.
    pub live: u64,
}

/// Frame latencies over the whole run in fixed log-scale buckets
/// ([`LATENCY_BUCKETS_US`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyHistogram {
    /// The buckets, fastest first.
    pub buckets: Vec<LatencyBucket>,
}

impl LatencyHistogram {
    /// Counts camera-to-gateway (`camera`) and capture-to-viewer (`live`) latencies,
    /// both in µs. O(n log b) for n distinct values and b buckets.
    pub fn from_samples(camera: &Latencies, live: &Latencies) -> Self {
        let mut buckets: Vec<LatencyBucket> = LATENCY_BUCKETS_US
            .iter()
            .map(|b| Some(*b))
            .chain([None])
            .map(|le_us| LatencyBucket {
                le_us,
                camera: 0,
                live: 0,
            })
            .collect();
        let index = |us: u64| LATENCY_BUCKETS_US.partition_point(|b| *b < us);
        for (us, n) in camera.iter() {
            buckets[index(us)].camera += n;
        }
        for (us, n) in live.iter() {
            buckets[index(us)].live += n;
        }
        LatencyHistogram { buckets }
    }

    /// Whether no sample was counted.
    pub fn is_empty(&self) -> bool {
        self.buckets.iter().all(|b| b.camera == 0 && b.live == 0)
    }
}

/// The pcap written with the run, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureInfo {
    /// The file name, relative to the report's directory.
    pub file: String,
    /// The hosts (or `region:<name>`) asked for.
    pub hosts: Vec<String>,
    /// TCP segments written.
    pub segments: u64,
    /// TCP connections written.
    pub flows: u64,
}

/// Every component's counters at the end of a run, one field per component: what the
/// world hands over and what `result.json` stores, each component under its own key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    /// The cameras' counters.
    pub fleet: FleetStats,
    /// The gateways' counters, summed.
    pub gateways: GatewayStats,
    /// The viewers' counters.
    pub viewers: ViewerStats,
    /// Signaling counters, summed over the regions.
    pub signaling: SignalingStats,
    /// The replicated store.
    pub store: StoreStats,
    /// The video relays, summed.
    pub relay: RelayServiceStats,
    /// OTA rollout, if the scenario has one.
    pub ota: Option<RolloutCounts>,
    /// What the wire tap saw.
    pub wire: WireStats,
    /// What the attackers tried.
    pub attacks: AttackSummary,
}

/// `result.json` of one run: schema [`RUN_SCHEMA`].
///
/// Times since the start of the run are simulated seconds (`*_seconds`); latencies are
/// µs (`*_us`); alert times are the simulated clock in µs since the Unix epoch, whose
/// start is [`RunReport::epoch_seconds`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// [`RUN_SCHEMA`].
    pub schema: String,
    /// The scenario's name.
    pub scenario: String,
    /// The scenario file as given.
    pub file: String,
    /// The seed.
    pub seed: u64,
    /// `pass`, or `fail (check, check)`.
    pub verdict: String,
    /// The checks that failed, in the order found.
    pub failures: Vec<CheckFailure>,
    /// Every check the run made (or could not make), in a fixed order.
    pub checks: Vec<CheckResult>,
    /// The command that repeats the run exactly.
    pub reproduce: String,
    /// Cameras in the world.
    pub cameras: u64,
    /// Cameras with a session at the end.
    pub cameras_online: u64,
    /// Per region: cameras online at the end and cameras homed there.
    pub online_by_region: BTreeMap<String, RegionOnline>,
    /// Every camera without a session at the end, site by site; absent when all were
    /// online, and in reports written before 2026-12-07.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offline_cameras: Vec<OfflineCamera>,
    /// The simulated clock at the start, seconds since the Unix epoch.
    pub epoch_seconds: u64,
    /// Simulated seconds that ran.
    pub simulated_seconds: f64,
    /// Wall-clock seconds the run took (varies from run to run).
    pub wall_seconds: f64,
    /// Median camera-to-gateway frame latency (µs).
    pub frame_latency_p50_us: Option<u64>,
    /// 99th-percentile camera-to-gateway frame latency (µs).
    pub frame_latency_p99_us: Option<u64>,
    /// Median capture-to-viewer latency of live frames (µs).
    pub live_latency_p50_us: Option<u64>,
    /// 99th-percentile capture-to-viewer latency of live frames (µs).
    pub live_latency_p99_us: Option<u64>,
    /// Every component's counters, each a top-level key of `result.json`.
    #[serde(flatten)]
    pub counters: Counters,
    /// Faults applied, in time order.
    pub faults: Vec<FaultEntry>,
    /// Alerts fired, in firing order.
    pub alerts: Vec<AlertEntry>,
    /// The run sampled every 5 simulated seconds.
    pub timeline: Vec<TimelineSample>,
    /// Frame latencies of the whole run.
    pub latency_histogram: LatencyHistogram,
    /// The pcap written with the run (`--pcap`).
    pub capture: Option<CaptureInfo>,
    /// Events in the run's trace.
    pub trace_events: u64,
    /// SHA-256 of the ordered trace (hex): same seed, same hash.
    pub trace_sha256: String,
    /// Faults and attacks of the file that `--allow-truncate` dropped, each
    /// `file:line: what (why)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
}

impl RunReport {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The earliest violation: the failure first seen at the earliest simulated time
    /// (the first found among equal times); a failure without a time counts last.
    pub fn first_violation(&self) -> Option<&CheckFailure> {
        let key = |f: &CheckFailure| f.at_seconds.unwrap_or(f64::INFINITY);
        self.failures
            .iter()
            .reduce(|best, f| if key(f) < key(best) { f } else { best })
    }

    /// Seconds since the start of the run of a simulated-clock time in µs.
    pub fn since_start(&self, clock_us: u64) -> f64 {
        clock_us.saturating_sub(self.epoch_seconds * 1_000_000) as f64 / 1e6
    }
}

/// One seed of a sweep.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeedRun {
    /// The seed.
    pub seed: u64,
    /// `pass` or `fail`.
    pub verdict: String,
    /// The checks that failed, `check: detail`.
    pub failures: Vec<String>,
    /// The run's trace hash.
    pub trace_hash: String,
    /// Wall-clock seconds.
    pub wall_seconds: f64,
    /// The command that runs this seed alone.
    pub reproduce: String,
}

impl SeedRun {
    /// The checks that failed, each named once, sorted.
    pub fn checks(&self) -> Vec<String> {
        let mut c: Vec<String> = self
            .failures
            .iter()
            .map(|f| f.split(':').next().unwrap_or_default().to_string())
            .collect();
        c.sort();
        c.dedup();
        c
    }
}

/// `sweep.json`: a sweep or a merge of sweeps (schema [`SWEEP_SCHEMA`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SweepReport {
    /// [`SWEEP_SCHEMA`].
    pub schema: String,
    /// The scenario's name.
    pub scenario: String,
    /// The scenario file as given.
    pub file: String,
    /// The planted bug, if any.
    pub plant: Option<String>,
    /// The shards this report covers (`"1/1"` for a whole sweep).
    pub shards: Vec<String>,
    /// Seeds run, in seed order.
    pub runs: Vec<SeedRun>,
    /// Seeds that passed.
    pub passed: usize,
    /// Seeds that failed.
    pub failed: usize,
    /// Wall-clock seconds, summed over the shards.
    pub wall_seconds: f64,
    /// Shrunk reproducers written, by seed.
    #[serde(default)]
    pub shrunk: BTreeMap<u64, String>,
    /// The first and last seed of the whole sweep, all shards together (absent from
    /// reports written before 2026-12-07).
    #[serde(default)]
    pub seed_range: Option<[u64; 2]>,
    /// Shards a partial merge (`report merge --allow-partial`) did not have.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_shards: Vec<String>,
    /// Seeds of the sweep's range that no merged report ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_seeds: Vec<u64>,
    /// The overrides of the scenario file as given (` --cameras 40 --duration 5m`; empty
    /// for none, and in reports written before 2026-12-07).
    #[serde(default)]
    pub overrides: String,
    /// The build that ran it (`camproof 0.1.0 (commit)`; empty in reports written before
    /// 2026-12-07).
    #[serde(default)]
    pub version: String,
    /// The sweep was stopped (Ctrl-C) before every seed ran; `missing_seeds` lists those
    /// that did not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

impl SweepReport {
    /// Sorts the runs by seed and counts passes and failures.
    pub fn tally(&mut self) {
        self.runs.sort_by_key(|r| r.seed);
        self.passed = self.runs.iter().filter(|r| r.verdict == "pass").count();
        self.failed = self.runs.len() - self.passed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_inclusive_upper_bounds() {
        let camera: Latencies = [0, 100, 101, 10_000_000, 10_000_001].into_iter().collect();
        let live: Latencies = [500].into_iter().collect();
        let h = LatencyHistogram::from_samples(&camera, &live);
        assert_eq!(h.buckets.len(), LATENCY_BUCKETS_US.len() + 1);
        assert_eq!(h.buckets[0].camera, 2, "0 and 100 are <= 100");
        assert_eq!(h.buckets[1].camera, 1);
        assert_eq!(h.buckets[2].live, 1);
        assert_eq!(h.buckets[15].camera, 1);
        assert_eq!(h.buckets[16].le_us, None);
        assert_eq!(h.buckets[16].camera, 1);
        assert!(
            LatencyHistogram::from_samples(&Latencies::default(), &Latencies::default()).is_empty()
        );
    }
}
