//! Results: the counters every component of a run keeps, and the `result.json` and
//! `sweep.json` models that store them.
//!
//! Each component counts in one serde type defined here ([`GatewayStats`],
//! [`FleetStats`], [`ViewerStats`], [`SignalingStats`], [`StoreStats`],
//! [`RelayServiceStats`], [`RolloutCounts`], [`AttackSummary`], [`WireStats`]); the
//! component updates it as it runs, [`Counters`] gathers one of each, [`RunReport`]
//! stores that as it is (each component under its own key), and every
//! renderer reads it from there. Adding a counter is adding a field to one of them.
//! Working state a component keeps beside its counters (latency samples, who is online
//! now) is `#[serde(skip)]`; every type reads files that lack newer fields
//! (`#[serde(default)]`), and [`RunReport::from_json`] reads older schemas.
//!
//! This crate sits just above `protocol`: the platform, the simulated devices, the
//! scenarios and the reports all depend on it, and it depends on none of them.
#![deny(missing_docs)]

pub mod attacks;
pub mod devices;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod gateway;
pub mod latency;
pub mod ota;
pub mod relay;
mod report;
pub mod signaling;
mod sweep_text;
mod upgrade;
pub mod wire;

pub use attacks::{
    AttackSummary, BotnetStats, HelloFloodStats, LegitSignIns, OnPathStats, ProbeStats,
    ReplayStats, RogueStats, StuffingStats,
};
pub use devices::{FleetStats, SignInRecord, ViewerStats};
pub use gateway::GatewayStats;
pub use latency::Latencies;
pub use ota::RolloutCounts;
pub use relay::{RelayServiceStats, RelayStats};
pub use report::{
    AlertEntry, CaptureInfo, CheckFailure, CheckResult, CheckStatus, Counters, FaultEntry,
    LatencyBucket, LatencyHistogram, OfflineCamera, RegionOnline, RunReport, SeedRun, SweepReport,
    TimelineSample, LATENCY_BUCKETS_US, RUN_SCHEMA, SWEEP_SCHEMA,
};
pub use signaling::{SignalingStats, StoreStats};
pub use sweep_text::{count, seeds_not_run};
pub use upgrade::{ReadError, RUN_SCHEMA_V2};
pub use wire::{Leak, WireStats};

/// A `Duration` as fractional seconds in JSON.
mod seconds {
    use std::time::Duration;

    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs)
            .map_err(|_| D::Error::custom(format!("{secs} is not a time in seconds (0 or more)")))
    }
}

/// An optional `Duration` as whole microseconds in JSON (`null` for none).
mod micros {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_micros))
    }
}

/// OTA refusal counts keyed by the refusal code's name in JSON.
mod refusal_names {
    use std::collections::BTreeMap;

    use camproof_protocol::ota::RefusalCode;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        m: &BTreeMap<RefusalCode, u64>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().map(|(k, v)| (k.as_str(), v)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<RefusalCode, u64>, D::Error> {
        let named = BTreeMap::<String, u64>::deserialize(d)?;
        named
            .into_iter()
            .map(|(k, v)| match RefusalCode::parse(&k) {
                Some(code) => Ok((code, v)),
                None => Err(D::Error::custom(format!("unknown OTA refusal code `{k}`"))),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use camproof_protocol::ota::RefusalCode;

    use super::*;

    #[test]
    fn counters_keep_their_working_state_out_of_json_and_read_older_files() {
        let mut g = GatewayStats {
            handshakes: 3,
            frame_latency_us: [1, 2, 3].into_iter().collect(),
            ..Default::default()
        };
        g.online.insert("cam-1".into(), 1);
        let json = serde_json::to_value(&g).unwrap();
        assert!(json.get("frame_latency_us").is_none() && json.get("online").is_none());
        assert_eq!(json["handshakes"], 3);
        // A file written before a counter existed reads it as zero.
        let old: GatewayStats = serde_json::from_str(r#"{"handshakes": 3}"#).unwrap();
        assert_eq!((old.handshakes, old.video_frames), (3, 0));
    }

    #[test]
    fn refusals_are_keyed_by_code_name_and_unknown_names_refused() {
        let mut c = RolloutCounts::default();
        c.refusals.insert(RefusalCode::HashMismatch, 2);
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains(r#""refusals":{"hash_mismatch":2}"#), "{json}");
        let back: RolloutCounts = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        let e = serde_json::from_str::<RolloutCounts>(r#"{"refusals": {"nope": 1}}"#).unwrap_err();
        assert!(
            e.to_string().contains("unknown OTA refusal code `nope`"),
            "{e}"
        );
    }

    #[test]
    fn times_are_seconds_and_microseconds_and_bad_ones_refused() {
        let leak = Leak {
            at: Duration::from_millis(12_500),
            ..Default::default()
        };
        let json = serde_json::to_value(&leak).unwrap();
        assert_eq!(json["at_seconds"], 12.5);
        let s = TimelineSample {
            latency_p50: Some(Duration::from_micros(1_234)),
            ..Default::default()
        };
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(
            (
                json["latency_p50_us"].as_u64(),
                json["latency_p99_us"].is_null()
            ),
            (Some(1_234), true)
        );
        let back: TimelineSample = serde_json::from_value(json).unwrap();
        assert_eq!(back, s);
        let e = serde_json::from_str::<Leak>(r#"{"at_seconds": -1}"#).unwrap_err();
        assert!(e.to_string().contains("-1 is not a time in seconds"), "{e}");
    }
}
