//! The run report model: what one `camproof run` measured, as `result.json`
//! (schema [`RUN_SCHEMA`]), and the sweep report model, `sweep.json` ([`SWEEP_SCHEMA`]).
//!
//! The models are plain data: the binary fills them from the simulator's summary, so
//! this crate does not depend on the simulator. Every map is a `BTreeMap`, so the JSON
//! is the same byte for byte for the same run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The format of a run's `result.json`.
pub const RUN_SCHEMA: &str = "camproof.run/2";
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

/// Viewer-side counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewerCounts {
    /// Successful sign-ins.
    pub logins: u64,
    /// Sign-ins that asked for the one-time code.
    pub second_factor_prompts: u64,
    /// Refused sign-ins by reason.
    pub login_refusals: BTreeMap<String, u64>,
    /// Commands answered.
    pub commands_ok: u64,
    /// Commands that failed.
    pub commands_failed: u64,
    /// Live views opened.
    pub live_views: u64,
    /// Live views that could not be opened.
    pub live_view_failures: u64,
    /// Frames verified end to end.
    pub frames_verified: u64,
    /// Frames rejected, by reason.
    pub frames_rejected: BTreeMap<String, u64>,
    /// Frames never received.
    pub frames_lost: u64,
    /// Median capture-to-viewer latency (µs).
    pub live_latency_p50_us: Option<u64>,
    /// 99th-percentile capture-to-viewer latency (µs).
    pub live_latency_p99_us: Option<u64>,
}

/// Signaling counters, summed over the regions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalingCounts {
    /// Sign-ins accepted.
    pub logins: u64,
    /// Sign-ins refused.
    pub logins_refused: u64,
    /// Single-use authorization codes issued.
    pub codes_issued: u64,
    /// Requests refused as unauthorized.
    pub unauthorized: u64,
    /// Requests for unknown devices.
    pub not_found: u64,
    /// Commands forwarded to cameras.
    pub commands_forwarded: u64,
    /// Commands the cameras answered.
    pub commands_answered: u64,
    /// Commands that timed out.
    pub command_timeouts: u64,
    /// Live-view grants issued.
    pub live_views: u64,
}

/// OTA rollout counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtaCounts {
    /// Cameras offered the release.
    pub offered: u64,
    /// Cameras that installed it.
    pub installed: u64,
    /// Cameras that refused it.
    pub refused: u64,
    /// Installs that failed.
    pub failed: u64,
    /// Downloads interrupted.
    pub interrupted: u64,
    /// Cameras per firmware version at the end.
    pub firmware: BTreeMap<String, u64>,
}

/// The replicated store's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreCounts {
    /// Records acknowledged by a majority.
    pub writes_acked: u64,
    /// Batches acknowledged.
    pub batches_acked: u64,
    /// Batches retried.
    pub writes_failed: u64,
    /// Accounts erased.
    pub accounts_erased: u64,
    /// Leaders elected.
    pub leaders: u64,
    /// Safety violations, for people.
    pub violations: Vec<String>,
}

/// Relay counters, summed over the relays.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayCounts {
    /// Camera streams admitted.
    pub admitted_cameras: u64,
    /// Viewers admitted.
    pub admitted_viewers: u64,
    /// Admissions refused.
    pub refused: u64,
    /// Frames received.
    pub frames_in: u64,
    /// Frames forwarded.
    pub frames_out: u64,
    /// Bytes forwarded.
    pub bytes_out: u64,
    /// Frames dropped because a queue overflowed.
    pub dropped_overflow: u64,
    /// Frames dropped because they expired.
    pub dropped_expired: u64,
    /// Longest time a frame was held (µs).
    pub max_held_us: u64,
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

/// The run at one sampling instant; counts are for the interval that ended there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelineSample {
    /// Simulated seconds since the start.
    pub at_seconds: f64,
    /// Cameras with a session.
    pub cameras_online: u64,
    /// Frames that reached a gateway in the interval.
    pub frames: u64,
    /// Median camera-to-gateway latency of those frames (µs).
    pub latency_p50_us: Option<u64>,
    /// 99th-percentile camera-to-gateway latency of those frames (µs).
    pub latency_p99_us: Option<u64>,
    /// Live frames verified end to end in the interval.
    pub live_frames: u64,
    /// Sign-ins that succeeded in the interval.
    pub logins: u64,
    /// Sign-ins refused in the interval.
    pub login_refusals: u64,
}

/// A secret found in clear on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakEntry {
    /// Simulated seconds since the start.
    pub at_seconds: f64,
    /// Which secret, by its label (never its value).
    pub secret: String,
    /// Sender host.
    pub from: String,
    /// Receiver host.
    pub to: String,
}

/// What the wire tap saw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WireReport {
    /// Whether every byte was scanned for the run's secrets.
    pub scanned: bool,
    /// Secrets the scan knew.
    pub secrets: u64,
    /// TCP segments seen.
    pub segments: u64,
    /// Payload bytes seen.
    pub bytes: u64,
    /// Secrets found in clear.
    pub leaks: Vec<LeakEntry>,
}

/// The credential stuffers' counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StuffingCounts {
    /// Leaked pairs tried.
    pub attempts: u64,
    /// Answers by outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Usernames a stuffed password opened a session for.
    pub breaches: Vec<String>,
}

/// The botnet's counters, per attack vector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotnetCounts {
    /// Connections opened per vector.
    pub attempts: BTreeMap<String, u64>,
    /// Refused or closed by the platform, per vector.
    pub refused: BTreeMap<String, u64>,
    /// The platform went along, per vector.
    pub accepted: BTreeMap<String, u64>,
    /// Neither within the attacker's patience, per vector.
    pub unanswered: BTreeMap<String, u64>,
}

/// The cross-tenant prober's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeCounts {
    /// Times the prober signed in.
    pub sign_ins: u64,
    /// Probes per kind.
    pub probes: BTreeMap<String, u64>,
    /// Refusals by the platform's answer.
    pub refused: BTreeMap<String, u64>,
    /// Own live views admitted (the control).
    pub own_admitted: u64,
    /// Accesses that worked and must not have.
    pub breaches: Vec<String>,
}

/// Legitimate users' sign-ins during attacks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegitCounts {
    /// Succeeded.
    pub ok: u64,
    /// Refused, by reason.
    pub refused: BTreeMap<String, u64>,
}

/// The replay attack's counters: recorded connections replayed at the platform, and
/// live camera sessions altered on the path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayCounts {
    /// Recorded connections, by how they opened.
    pub flows: BTreeMap<String, u64>,
    /// Recorded connections that had moved past key epoch 0.
    pub flows_after_rekey: u64,
    /// Recorded connections to a gateway outside the sites' region.
    pub flows_failed_over: u64,
    /// Replays sent, by variant.
    pub replays: BTreeMap<String, u64>,
    /// What the gateways did, by outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Outcomes per target (`"other-region refused-finish"`).
    pub by_target: BTreeMap<String, u64>,
    /// Replays the platform accepted.
    pub accepted: u64,
    /// The first accepted replays, described.
    pub findings: Vec<String>,
    /// Camera sessions altered on the path.
    pub cameras: OnPathCounts,
}

/// What the attacker on the path of camera sessions did, and what the cameras did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnPathCounts {
    /// Sessions altered, by variant.
    pub tampered: BTreeMap<String, u64>,
    /// The cameras' verdicts, by `"<variant> <outcome>"`.
    pub outcomes: BTreeMap<String, u64>,
    /// Altered sessions past key epoch 0.
    pub after_rekey: u64,
    /// Altered sessions with a gateway outside the site's region.
    pub failed_over: u64,
    /// Alterations a camera took.
    pub accepted: u64,
    /// The first alterations a camera took, described.
    pub findings: Vec<String>,
}

/// The rogue firmware server's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RogueCounts {
    /// Connections the hijacked routers sent to it.
    pub redirected: u64,
    /// Camera sessions it established.
    pub sessions: u64,
    /// Images offered, by kind.
    pub offered: BTreeMap<String, u64>,
    /// Refusals the cameras reported, by kind and reason.
    pub refused: BTreeMap<String, u64>,
    /// Installs the cameras reported, by kind.
    pub installed: BTreeMap<String, u64>,
    /// Cameras running a rogue version at the end, by version.
    pub running: BTreeMap<String, u64>,
}

/// Every attack's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttackCounts {
    /// Attacker hosts in the world.
    pub hosts: u32,
    /// Credential stuffing.
    pub stuffing: StuffingCounts,
    /// Botnet floods.
    pub botnet: BotnetCounts,
    /// Cross-tenant probing.
    pub probing: ProbeCounts,
    /// Replays, at the platform and at cameras (absent from files written before them).
    #[serde(default)]
    pub replay: ReplayCounts,
    /// The rogue firmware server (absent from files written before it).
    #[serde(default)]
    pub rogue: RogueCounts,
    /// The world's own users during the attacks.
    pub legit: LegitCounts,
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
    /// both in µs. O(n log b) for n samples and b buckets.
    pub fn from_samples(camera: &[u64], live: &[u64]) -> Self {
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
        for us in camera {
            buckets[index(*us)].camera += 1;
        }
        for us in live {
            buckets[index(*us)].live += 1;
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
    /// The simulated clock at the start, seconds since the Unix epoch.
    pub epoch_seconds: u64,
    /// Simulated seconds that ran.
    pub simulated_seconds: f64,
    /// Wall-clock seconds the run took (varies from run to run).
    pub wall_seconds: f64,
    /// Full handshakes at the gateways.
    pub handshakes: u64,
    /// Resumed sessions at the gateways.
    pub resumptions: u64,
    /// Camera connection attempts.
    pub connect_attempts: u64,
    /// Heartbeats acknowledged.
    pub heartbeats_acked: u64,
    /// Video frames the cameras sent.
    pub frames_sent: u64,
    /// Video frames that reached a gateway.
    pub frames_delivered: u64,
    /// Video bytes that reached a gateway.
    pub video_bytes_delivered: u64,
    /// Median camera-to-gateway frame latency (µs).
    pub frame_latency_p50_us: Option<u64>,
    /// 99th-percentile camera-to-gateway frame latency (µs).
    pub frame_latency_p99_us: Option<u64>,
    /// Gateway session failures by reason.
    pub gateway_failures: BTreeMap<String, u64>,
    /// Viewer-side counters.
    pub viewers: ViewerCounts,
    /// Signaling counters.
    pub signaling: SignalingCounts,
    /// OTA rollout, if the scenario has one.
    pub ota: Option<OtaCounts>,
    /// The replicated store.
    pub store: StoreCounts,
    /// The video relays.
    pub relay: RelayCounts,
    /// Faults applied, in time order.
    pub faults: Vec<FaultEntry>,
    /// Alerts fired, in firing order.
    pub alerts: Vec<AlertEntry>,
    /// The run sampled every 5 simulated seconds.
    pub timeline: Vec<TimelineSample>,
    /// What the wire tap saw.
    pub wire: WireReport,
    /// What the attackers tried.
    pub attacks: AttackCounts,
    /// Frame latencies of the whole run.
    pub latency_histogram: LatencyHistogram,
    /// The pcap written with the run (`--pcap`).
    pub capture: Option<CaptureInfo>,
    /// Events in the run's trace.
    pub trace_events: u64,
    /// SHA-256 of the ordered trace (hex): same seed, same hash.
    pub trace_sha256: String,
}

impl RunReport {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
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
        let h = LatencyHistogram::from_samples(&[0, 100, 101, 10_000_000, 10_000_001], &[500]);
        assert_eq!(h.buckets.len(), LATENCY_BUCKETS_US.len() + 1);
        assert_eq!(h.buckets[0].camera, 2, "0 and 100 are <= 100");
        assert_eq!(h.buckets[1].camera, 1);
        assert_eq!(h.buckets[2].live, 1);
        assert_eq!(h.buckets[15].camera, 1);
        assert_eq!(h.buckets[16].le_us, None);
        assert_eq!(h.buckets[16].camera, 1);
        assert!(LatencyHistogram::from_samples(&[], &[]).is_empty());
    }
}
