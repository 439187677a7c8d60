//! The world's metrics pipeline as a component: every [`MONITOR_INTERVAL`] it samples
//! the platform's hosts into the monitoring (whose rules raise alerts), and the world
//! into a timeline point; it checks that every alert a fault causes fires in time.

use std::collections::BTreeMap;
use std::time::Duration;

use camproof_platform::monitoring::{Alert, Metric, Monitor, Rule, Sample};
use camproof_platform::trace::Trace;
use camproof_protocol::Timestamp;
use camproof_results::Latencies;

use crate::checks::{self, CheckId, Checks, ExpectedAlert};
use crate::spec::{FaultAction, WorldSpec, EPOCH_SECS, MONITOR_INTERVAL, STORE_DISK_BYTES};
use crate::world::platform::Platform;
use crate::world::sites::Sites;
use crate::world::TimelineSample;

/// The monitoring and the timeline of a run.
pub(crate) struct Monitoring {
    monitor: Monitor,
    /// Per zone: relay bytes in and out, gateway video bytes in, at the last sample.
    last_bytes: BTreeMap<usize, (u64, u64, u64)>,
    /// Per zone: how many latency samples the previous point had already seen.
    latency_seen: Vec<Latencies>,
    /// Viewers' frames verified, sign-ins and refusals at the last sample.
    viewer_seen: (u64, u64, u64),
    /// When the next sample is due.
    next_sample: Duration,
    /// The run sampled every [`MONITOR_INTERVAL`].
    pub timeline: Vec<TimelineSample>,
}

impl Monitoring {
    /// The standard alert rules, or with `slow_alerts` planted rules that hold 5 minutes.
    pub fn new(spec: &WorldSpec, zones: usize) -> Self {
        let monitor = if spec.world_bugs.slow_alerts {
            let hold = Duration::from_secs(300);
            Monitor::new(vec![
                Rule::service_not_running(Duration::from_secs(30), hold),
                Rule::high_disk(0.9, hold),
            ])
        } else {
            Monitor::standard()
        };
        Monitoring {
            monitor,
            last_bytes: BTreeMap::new(),
            latency_seen: vec![Latencies::default(); zones],
            viewer_seen: (0, 0, 0),
            next_sample: Duration::ZERO,
            timeline: Vec::new(),
        }
    }

    /// Whether a sample is due at `elapsed`.
    pub fn due(&self, elapsed: Duration) -> bool {
        elapsed >= self.next_sample
    }

    /// Samples the platform's running hosts, evaluates the alert rules and adds a point
    /// to the timeline.
    pub fn sample(
        &mut self,
        sim: &mut turmoil::Sim<'static>,
        platform: &Platform,
        sites: &Sites,
        elapsed: Duration,
        trace: &Trace,
    ) {
        let now = Timestamp::from_secs(EPOCH_SECS).saturating_add(elapsed);
        self.observe_zones(sim, platform, now);
        for alert in self.monitor.evaluate(now) {
            trace.record(
                now,
                format!(
                    "alert {} on {} (began {})",
                    alert.kind, alert.host, alert.began
                ),
            );
        }
        let point = self.point(platform, sites, elapsed);
        self.timeline.push(point);
        self.next_sample += MONITOR_INTERVAL;
    }

    /// A running host reports itself up, and its relay its traffic; a crashed one
    /// reports nothing.
    fn observe_zones(
        &mut self,
        sim: &mut turmoil::Sim<'static>,
        platform: &Platform,
        now: Timestamp,
    ) {
        let secs = MONITOR_INTERVAL.as_secs_f64();
        for (g, zone) in platform.zones.iter().enumerate() {
            let name = zone.name.as_str();
            if !sim.is_host_running(name) {
                continue;
            }
            self.monitor
                .observe(Sample::new(name, "gateway", Metric::Up, 1.0, now));
            // A full disk reads as full; otherwise what the replica holds of its quota.
            let disk = &zone.store.disk;
            let used = if disk.fault().is_full() {
                1.0
            } else {
                disk.bytes_used() as f64 / STORE_DISK_BYTES as f64
            };
            self.monitor
                .observe(Sample::new(name, "store", Metric::DiskUsedRatio, used, now));
            let core = zone.relay.borrow().core;
            let gateway_in = zone.gateway.borrow().video_bytes;
            let before = self
                .last_bytes
                .insert(g, (core.bytes_in, core.bytes_out, gateway_in));
            let (bin, bout, gin) = before.unwrap_or((core.bytes_in, core.bytes_out, gateway_in));
            let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / secs;
            self.monitor.observe(Sample::new(
                name,
                "gateway",
                Metric::BytesInPerSec,
                rate(gateway_in, gin),
                now,
            ));
            // A dead relay process reports nothing; its counters stand still.
            if !zone.relay_down.get() {
                for (metric, value) in [
                    (Metric::Up, 1.0),
                    (Metric::BytesInPerSec, rate(core.bytes_in, bin)),
                    (Metric::BytesOutPerSec, rate(core.bytes_out, bout)),
                ] {
                    self.monitor
                        .observe(Sample::new(name, "relay", metric, value, now));
                }
            }
        }
    }

    /// The world at `elapsed`; counts are for the interval since the last point.
    fn point(&mut self, platform: &Platform, sites: &Sites, elapsed: Duration) -> TimelineSample {
        let mut interval = Latencies::default();
        for (g, zone) in platform.zones.iter().enumerate() {
            let stats = zone.gateway.borrow();
            interval.merge(&stats.frame_latency_us.since(&self.latency_seen[g]));
            self.latency_seen[g] = stats.frame_latency_us.clone();
        }
        let v = sites.viewers.borrow();
        let refusals: u64 = v.login_refusals.values().sum();
        let (frames, logins, refused) = self.viewer_seen;
        let point = TimelineSample {
            at: elapsed,
            cameras_online: sites.cameras_online(),
            frames: interval.len(),
            latency_p50: percentile(&interval, 50),
            latency_p99: percentile(&interval, 99),
            live_frames: v.frames_verified - frames,
            logins: v.logins - logins,
            login_refusals: refusals - refused,
        };
        self.viewer_seen = (v.frames_verified, v.logins, refusals);
        point
    }

    /// The alerts fired so far, with when their cause began.
    pub fn alerts(&self) -> &[Alert] {
        self.monitor.alerts()
    }

    /// `alert-deadline` at `elapsed`: every alert the faults applied so far cause whose
    /// deadline has passed has fired in time.
    pub fn check_now(
        &self,
        spec: &WorldSpec,
        applied: &[(Duration, FaultAction)],
        elapsed: Duration,
        checks: &mut Checks,
    ) {
        let due: Vec<ExpectedAlert> = expected(spec, applied)
            .into_iter()
            .filter(|e| e.deadline < elapsed)
            .collect();
        let epoch = Timestamp::from_secs(EPOCH_SECS);
        let result = checks::check_alert_deadlines(&due, self.alerts(), epoch);
        checks.seen(CheckId::AlertDeadline, elapsed, result);
    }

    /// `alert-deadline` over the whole run.
    pub fn check_at_end(
        &self,
        spec: &WorldSpec,
        applied: &[(Duration, FaultAction)],
        checks: &mut Checks,
    ) {
        let epoch = Timestamp::from_secs(EPOCH_SECS);
        let result = checks::check_alert_deadlines(&expected(spec, applied), self.alerts(), epoch);
        checks.finish(CheckId::AlertDeadline, spec.duration, result);
    }
}

/// The alerts `applied` faults must raise in a run of `spec`.
fn expected(spec: &WorldSpec, applied: &[(Duration, FaultAction)]) -> Vec<ExpectedAlert> {
    checks::expected_alerts(applied, spec.duration, |t| {
        spec.resolve_target(t).unwrap_or_default()
    })
}

/// The `p`th percentile (nearest rank) of microsecond latencies.
pub(crate) fn percentile(latencies: &Latencies, p: u64) -> Option<Duration> {
    latencies.percentile(p).map(Duration::from_micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Latencies = (1..=100).collect();
        assert_eq!(percentile(&v, 50), Some(Duration::from_micros(50)));
        assert_eq!(percentile(&v, 99), Some(Duration::from_micros(99)));
        let one: Latencies = [7].into_iter().collect();
        assert_eq!(percentile(&one, 99), Some(Duration::from_micros(7)));
        assert_eq!(percentile(&Latencies::default(), 50), None);
    }
}
