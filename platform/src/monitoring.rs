//! Monitoring and alerts: metrics per host and service, and the rules camera clouds
//! alert on.
//!
//! [`Monitor`] takes [`Sample`]s (a value of one metric of one service on one host at a
//! time) and, on [`Monitor::evaluate`], checks its [`Rule`]s. A rule's condition must
//! hold for the rule's `hold` duration before the alert fires (like Prometheus'
//! `for:`), so a blip does not page anyone; each [`Alert`] records when its condition
//! began, when it fired and when it resolved, so a checker can hold the platform to a
//! deadline ("fires within 60 s of its cause").
//!
//! Pure and deterministic: time comes in with every call.
//!
//! ```
//! use std::time::Duration;
//! use camproof_platform::monitoring::{Metric, Monitor, Rule, Sample};
//! use camproof_protocol::Timestamp;
//!
//! let mut m = Monitor::new(vec![Rule::high_disk(0.9, Duration::from_secs(60))]);
//! let t = |s: u64| Timestamp::from_secs(1_800_000_000 + s);
//! m.observe(Sample::new("store-eu-1", "store", Metric::DiskUsedRatio, 0.95, t(0)));
//! assert!(m.evaluate(t(30)).is_empty());
//! let fired = m.evaluate(t(60));
//! assert_eq!(fired.len(), 1);
//! assert_eq!(fired[0].began, t(0));
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use camproof_protocol::Timestamp;

/// What a sample measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// 1 while the service reports itself running (a heartbeat of the service).
    Up,
    /// Fraction of the disk in use, 0 to 1.
    DiskUsedRatio,
    /// Bytes per second received.
    BytesInPerSec,
    /// Bytes per second sent.
    BytesOutPerSec,
}

/// One measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The host the service runs on.
    pub host: String,
    /// The service (`gateway`, `relay`, `store`, ...).
    pub service: String,
    /// What was measured.
    pub metric: Metric,
    /// The value.
    pub value: f64,
    /// When it was measured.
    pub at: Timestamp,
}

impl Sample {
    /// A sample of `metric` for `service` on `host`.
    pub fn new(host: &str, service: &str, metric: Metric, value: f64, at: Timestamp) -> Self {
        Sample {
            host: host.to_string(),
            service: service.to_string(),
            metric,
            value,
            at,
        }
    }
}

/// The alerts camera clouds raise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertKind {
    /// A service stopped reporting, or reports itself down.
    ServiceNotRunning,
    /// A disk is nearly full.
    HighDisk,
    /// A host sends or receives more than its bandwidth budget.
    HighBandwidth,
    /// A relay's outgoing traffic no longer matches its incoming traffic.
    BandwidthImbalance,
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            AlertKind::ServiceNotRunning => "ServiceNotRunning",
            AlertKind::HighDisk => "HighDisk",
            AlertKind::HighBandwidth => "HighBandwidth",
            AlertKind::BandwidthImbalance => "BandwidthImbalance",
        };
        f.write_str(name)
    }
}

/// One alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The alert it raises.
    pub kind: AlertKind,
    /// Services it applies to (empty: all).
    pub services: Vec<String>,
    /// How long the condition must hold before the alert fires.
    pub hold: Duration,
    /// The rule's threshold (meaning depends on the kind).
    pub threshold: f64,
    /// For `BandwidthImbalance`: the lowest acceptable out/in ratio.
    pub min_ratio: f64,
}

impl Rule {
    /// `ServiceNotRunning` when a service's last `Up` sample is older than `stale`, or is
    /// 0, for `hold`.
    pub fn service_not_running(stale: Duration, hold: Duration) -> Self {
        Rule {
            kind: AlertKind::ServiceNotRunning,
            services: Vec::new(),
            hold,
            threshold: stale.as_secs_f64(),
            min_ratio: 0.0,
        }
    }

    /// `HighDisk` when the disk use ratio exceeds `ratio` for `hold`.
    pub fn high_disk(ratio: f64, hold: Duration) -> Self {
        Rule {
            kind: AlertKind::HighDisk,
            services: Vec::new(),
            hold,
            threshold: ratio,
            min_ratio: 0.0,
        }
    }

    /// `HighBandwidth` when bytes in or out per second exceed `bytes_per_sec` for `hold`.
    pub fn high_bandwidth(bytes_per_sec: f64, hold: Duration) -> Self {
        Rule {
            kind: AlertKind::HighBandwidth,
            services: Vec::new(),
            hold,
            threshold: bytes_per_sec,
            min_ratio: 0.0,
        }
    }

    /// `BandwidthImbalance` on relays: incoming traffic above `min_in` bytes/s while the
    /// out/in ratio stays below `min_ratio` for `hold` (the relay is swallowing video).
    pub fn relay_imbalance(min_in: f64, min_ratio: f64, hold: Duration) -> Self {
        Rule {
            kind: AlertKind::BandwidthImbalance,
            services: vec!["relay".to_string()],
            hold,
            threshold: min_in,
            min_ratio,
        }
    }

    fn applies_to(&self, service: &str) -> bool {
        self.services.is_empty() || self.services.iter().any(|s| s == service)
    }
}

/// An alert: what fired, where, and when its condition began and ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Which rule.
    pub kind: AlertKind,
    /// Where.
    pub host: String,
    /// Which service.
    pub service: String,
    /// When the condition started to hold.
    pub began: Timestamp,
    /// When the alert fired (`began + hold` at the earliest evaluation after it).
    pub fired: Timestamp,
    /// When the condition stopped holding, if it has.
    pub resolved: Option<Timestamp>,
    /// Why, for people.
    pub detail: String,
}

type Series = (String, String); // (host, service)

#[derive(Debug, Clone, Default)]
struct Latest {
    values: BTreeMap<Metric, (f64, Timestamp)>,
}

/// Collects samples and evaluates rules.
#[derive(Debug, Clone, Default)]
pub struct Monitor {
    rules: Vec<Rule>,
    latest: BTreeMap<Series, Latest>,
    /// Conditions currently holding, by (rule index, series): since when.
    pending: BTreeMap<(usize, Series), Timestamp>,
    /// Index into `alerts` of the firing alert, by (rule index, series).
    firing: BTreeMap<(usize, Series), usize>,
    alerts: Vec<Alert>,
}

impl Monitor {
    /// A monitor with these rules.
    pub fn new(rules: Vec<Rule>) -> Self {
        Monitor {
            rules,
            ..Monitor::default()
        }
    }

    /// The rules a camera cloud typically runs: services silent for 30 s, disks over
    /// 90 %, hosts over 100 MB/s, relays passing on under half of what they receive.
    pub fn standard() -> Self {
        Monitor::new(vec![
            Rule::service_not_running(Duration::from_secs(30), Duration::from_secs(30)),
            Rule::high_disk(0.9, Duration::from_secs(60)),
            Rule::high_bandwidth(100e6, Duration::from_secs(60)),
            Rule::relay_imbalance(1e6, 0.5, Duration::from_secs(60)),
        ])
    }

    /// Records one sample (a later sample of the same series replaces the earlier one).
    pub fn observe(&mut self, sample: Sample) {
        let series = (sample.host, sample.service);
        let entry = self.latest.entry(series).or_default();
        let keep_newer = entry
            .values
            .get(&sample.metric)
            .is_none_or(|(_, at)| *at <= sample.at);
        if keep_newer {
            entry
                .values
                .insert(sample.metric, (sample.value, sample.at));
        }
    }

    /// Checks every rule at `now`; returns the alerts that fired at this evaluation.
    pub fn evaluate(&mut self, now: Timestamp) -> Vec<Alert> {
        let mut fired = Vec::new();
        let series: Vec<Series> = self.latest.keys().cloned().collect();
        for (ri, rule) in self.rules.iter().enumerate() {
            for s in &series {
                if !rule.applies_to(&s.1) {
                    continue;
                }
                let Some(latest) = self.latest.get(s) else {
                    continue;
                };
                let condition = condition(rule, latest, now);
                let key = (ri, s.clone());
                match condition {
                    Some((since, detail)) => {
                        let began = *self.pending.entry(key.clone()).or_insert(since);
                        if self.firing.contains_key(&key) {
                            continue;
                        }
                        if now.saturating_since(began) >= rule.hold {
                            let alert = Alert {
                                kind: rule.kind,
                                host: s.0.clone(),
                                service: s.1.clone(),
                                began,
                                fired: now,
                                resolved: None,
                                detail,
                            };
                            self.firing.insert(key, self.alerts.len());
                            self.alerts.push(alert.clone());
                            fired.push(alert);
                        }
                    }
                    None => {
                        self.pending.remove(&key);
                        if let Some(i) = self.firing.remove(&key) {
                            if let Some(a) = self.alerts.get_mut(i) {
                                a.resolved = Some(now);
                            }
                        }
                    }
                }
            }
        }
        fired
    }

    /// Every alert that fired so far, in firing order.
    pub fn alerts(&self) -> &[Alert] {
        &self.alerts
    }

    /// Alerts still firing.
    pub fn active(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(|a| a.resolved.is_none())
    }
}

/// Whether `rule` holds for a series at `now`: since when (best known) and why.
fn condition(rule: &Rule, latest: &Latest, now: Timestamp) -> Option<(Timestamp, String)> {
    let get = |m: Metric| latest.values.get(&m).copied();
    match rule.kind {
        AlertKind::ServiceNotRunning => {
            let (up, at) = get(Metric::Up)?;
            let stale = Duration::from_secs_f64(rule.threshold.max(0.0));
            if up < 0.5 {
                Some((at, "the service reports itself down".to_string()))
            } else if now.saturating_since(at) > stale {
                // The service went silent right after its last report.
                Some((
                    at.saturating_add(stale),
                    format!("no report for over {} s", stale.as_secs()),
                ))
            } else {
                None
            }
        }
        AlertKind::HighDisk => {
            let (ratio, at) = get(Metric::DiskUsedRatio)?;
            (ratio > rule.threshold).then(|| {
                (
                    at,
                    format!(
                        "disk {:.0}% used (limit {:.0}%)",
                        ratio * 100.0,
                        rule.threshold * 100.0
                    ),
                )
            })
        }
        AlertKind::HighBandwidth => {
            let over = [Metric::BytesInPerSec, Metric::BytesOutPerSec]
                .into_iter()
                .filter_map(get)
                .find(|(v, _)| *v > rule.threshold);
            over.map(|(v, at)| {
                (
                    at,
                    format!(
                        "{:.1} MB/s (limit {:.1} MB/s)",
                        v / 1e6,
                        rule.threshold / 1e6
                    ),
                )
            })
        }
        AlertKind::BandwidthImbalance => {
            let (inb, at_in) = get(Metric::BytesInPerSec)?;
            let (outb, at_out) = get(Metric::BytesOutPerSec)?;
            let ratio = if inb > 0.0 { outb / inb } else { f64::INFINITY };
            (inb > rule.threshold && ratio < rule.min_ratio).then(|| {
                (
                    at_in.max(at_out),
                    format!(
                        "relay receives {:.1} MB/s but sends {:.1} MB/s (out/in {ratio:.2}, minimum {:.2})",
                        inb / 1e6,
                        outb / 1e6,
                        rule.min_ratio
                    ),
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> Timestamp {
        Timestamp::from_secs(1_800_000_000 + s)
    }

    fn kinds(alerts: &[Alert]) -> Vec<AlertKind> {
        alerts.iter().map(|a| a.kind).collect()
    }

    #[test]
    fn service_not_running_fires_after_silence_with_cause_time() {
        let mut m = Monitor::new(vec![Rule::service_not_running(
            Duration::from_secs(30),
            Duration::from_secs(30),
        )]);
        for s in (0..=100).step_by(10) {
            m.observe(Sample::new("gw-eu-1", "gateway", Metric::Up, 1.0, t(s)));
            assert!(m.evaluate(t(s)).is_empty(), "healthy at {s}");
        }
        // Last report at 100: silent from 130 on, fires 30 s later.
        assert!(m.evaluate(t(150)).is_empty());
        let fired = m.evaluate(t(160));
        assert_eq!(kinds(&fired), [AlertKind::ServiceNotRunning]);
        assert_eq!(fired[0].began, t(130));
        assert_eq!(fired[0].fired, t(160));
        // It fires once, then resolves when reports resume.
        assert!(m.evaluate(t(170)).is_empty());
        m.observe(Sample::new("gw-eu-1", "gateway", Metric::Up, 1.0, t(175)));
        m.evaluate(t(175));
        assert_eq!(m.alerts()[0].resolved, Some(t(175)));
        assert_eq!(m.active().count(), 0);
    }

    #[test]
    fn a_service_reporting_down_alerts_too() {
        let mut m = Monitor::new(vec![Rule::service_not_running(
            Duration::from_secs(30),
            Duration::from_secs(10),
        )]);
        m.observe(Sample::new("relay-eu-1", "relay", Metric::Up, 0.0, t(5)));
        assert!(m.evaluate(t(10)).is_empty());
        let fired = m.evaluate(t(15));
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].began, t(5));
    }

    #[test]
    fn blips_shorter_than_hold_do_not_fire() {
        let mut m = Monitor::new(vec![Rule::high_disk(0.9, Duration::from_secs(60))]);
        m.observe(Sample::new(
            "store-1",
            "store",
            Metric::DiskUsedRatio,
            0.95,
            t(0),
        ));
        m.evaluate(t(0));
        m.evaluate(t(50));
        m.observe(Sample::new(
            "store-1",
            "store",
            Metric::DiskUsedRatio,
            0.5,
            t(55),
        ));
        assert!(m.evaluate(t(55)).is_empty());
        m.observe(Sample::new(
            "store-1",
            "store",
            Metric::DiskUsedRatio,
            0.97,
            t(70),
        ));
        assert!(
            m.evaluate(t(120)).is_empty(),
            "the new condition began at 70"
        );
        let fired = m.evaluate(t(130));
        assert_eq!(kinds(&fired), [AlertKind::HighDisk]);
        assert_eq!(fired[0].began, t(70));
        assert!(fired[0].detail.contains("97% used"), "{}", fired[0].detail);
    }

    #[test]
    fn high_bandwidth_in_or_out() {
        let mut m = Monitor::new(vec![Rule::high_bandwidth(100e6, Duration::from_secs(10))]);
        m.observe(Sample::new(
            "relay-1",
            "relay",
            Metric::BytesInPerSec,
            50e6,
            t(0),
        ));
        m.observe(Sample::new(
            "relay-1",
            "relay",
            Metric::BytesOutPerSec,
            150e6,
            t(0),
        ));
        m.evaluate(t(0));
        let fired = m.evaluate(t(10));
        assert_eq!(kinds(&fired), [AlertKind::HighBandwidth]);
        let mut calm = Monitor::new(vec![Rule::high_bandwidth(100e6, Duration::from_secs(10))]);
        calm.observe(Sample::new(
            "relay-1",
            "relay",
            Metric::BytesOutPerSec,
            90e6,
            t(0),
        ));
        calm.evaluate(t(0));
        assert!(calm.evaluate(t(100)).is_empty());
    }

    #[test]
    fn relay_imbalance_only_on_relays_and_only_when_swallowing() {
        let rule = Rule::relay_imbalance(1e6, 0.5, Duration::from_secs(20));
        let mut m = Monitor::new(vec![rule]);
        // A relay passing video on: out >= in.
        m.observe(Sample::new(
            "relay-1",
            "relay",
            Metric::BytesInPerSec,
            10e6,
            t(0),
        ));
        m.observe(Sample::new(
            "relay-1",
            "relay",
            Metric::BytesOutPerSec,
            30e6,
            t(0),
        ));
        // A gateway with the same numbers reversed is not a relay.
        m.observe(Sample::new(
            "gw-1",
            "gateway",
            Metric::BytesInPerSec,
            10e6,
            t(0),
        ));
        m.observe(Sample::new(
            "gw-1",
            "gateway",
            Metric::BytesOutPerSec,
            0.1e6,
            t(0),
        ));
        m.evaluate(t(0));
        assert!(m.evaluate(t(60)).is_empty());
        // The relay's viewers stop receiving.
        m.observe(Sample::new(
            "relay-1",
            "relay",
            Metric::BytesOutPerSec,
            1e6,
            t(70),
        ));
        m.evaluate(t(70));
        let fired = m.evaluate(t(90));
        assert_eq!(kinds(&fired), [AlertKind::BandwidthImbalance]);
        assert_eq!(fired[0].host, "relay-1");
        assert_eq!(fired[0].began, t(70));
    }

    #[test]
    fn series_are_independent_and_stale_samples_ignored() {
        let mut m = Monitor::standard();
        m.observe(Sample::new(
            "a",
            "store",
            Metric::DiskUsedRatio,
            0.95,
            t(100),
        ));
        // An older sample arriving late does not overwrite the newer one.
        m.observe(Sample::new("a", "store", Metric::DiskUsedRatio, 0.1, t(50)));
        m.observe(Sample::new(
            "b",
            "store",
            Metric::DiskUsedRatio,
            0.1,
            t(100),
        ));
        m.evaluate(t(100));
        let fired = m.evaluate(t(160));
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].host, "a");
    }
}
