//! `result.json` files written by camproof before 2026-12-07 (schema `camproof.run/2`,
//! produced by the release binary of commit 6aa6c13 from `scenarios/catalog/ota-rollout.toml`
//! and `relay-crash.toml`, seed 1) read into the current schema without losing a value.

use camproof_results::{RunReport, RUN_SCHEMA, RUN_SCHEMA_V2};
use serde_json::Value;

const OTA: &str = include_str!("data/ota-rollout-seed1.run2.json");
const RELAY: &str = include_str!("data/relay-crash-seed1.run2.json");

/// Every leaf of a JSON document with its JSON pointer (RFC 6901; keys such as firmware
/// versions hold dots).
fn leaves(v: &Value, path: String, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(o) if !o.is_empty() => {
            for (k, c) in o {
                let key = k.replace('~', "~0").replace('/', "~1");
                leaves(c, format!("{path}/{key}"), out);
            }
        }
        _ => out.push((path, v.clone())),
    }
}

/// Where a `/2` path's value lives in `/3` (the moves documented in docs/reports.md).
fn moved(path: &str) -> String {
    let renames = [
        ("/handshakes", "/gateways/handshakes"),
        ("/resumptions", "/gateways/resumptions"),
        ("/frames_delivered", "/gateways/video_frames"),
        ("/video_bytes_delivered", "/gateways/video_bytes"),
        ("/connect_attempts", "/fleet/connect_attempts"),
        ("/heartbeats_acked", "/fleet/heartbeats_acked"),
        ("/frames_sent", "/fleet/frames_sent"),
        ("/viewers/live_latency_p50_us", "/live_latency_p50_us"),
        ("/viewers/live_latency_p99_us", "/live_latency_p99_us"),
        ("/signaling/commands_forwarded", "/signaling/forwarded"),
        ("/signaling/commands_answered", "/signaling/answered"),
        ("/signaling/command_timeouts", "/signaling/timeouts"),
        ("/ota/interrupted", "/fleet/ota_interrupted"),
        ("/store/accounts_erased", "/signaling/erasures"),
        ("/relay/frames_in", "/relay/core/frames_in"),
        ("/relay/frames_out", "/relay/core/frames_out"),
        ("/relay/bytes_out", "/relay/core/bytes_out"),
        ("/relay/dropped_overflow", "/relay/core/dropped_overflow"),
        ("/relay/dropped_expired", "/relay/core/dropped_expired"),
    ];
    for (old, new) in renames {
        if path == old {
            return new.into();
        }
    }
    for (old, new) in [
        ("/gateway_failures", "/gateways/failures"),
        ("/ota/firmware", "/fleet/firmware"),
    ] {
        if let Some(rest) = path.strip_prefix(old) {
            if rest.is_empty() || rest.starts_with('/') {
                return format!("{new}{rest}");
            }
        }
    }
    path.into()
}

fn check_nothing_lost(text: &str) -> RunReport {
    let old: Value = serde_json::from_str(text).unwrap();
    assert_eq!(old["schema"], RUN_SCHEMA_V2);
    let report = RunReport::from_json(text).unwrap();
    assert_eq!(report.schema, RUN_SCHEMA);
    let new = serde_json::to_value(&report).unwrap();
    let mut old_leaves = Vec::new();
    leaves(&old, String::new(), &mut old_leaves);
    assert!(old_leaves.len() > 100, "{}", old_leaves.len());
    for (path, value) in old_leaves {
        if path == "/schema" {
            continue;
        }
        let to = moved(&path);
        assert_eq!(
            new.pointer(&to),
            Some(&value),
            "/2 `{path}` should be /3 `{to}`"
        );
    }
    report
}

#[test]
fn an_ota_run_of_schema_2_reads_with_every_value_where_its_component_keeps_it() {
    let r = check_nothing_lost(OTA);
    // Figures read off the file with jq, independently of the code under test.
    assert_eq!(r.counters.gateways.handshakes, 153);
    assert_eq!(r.counters.gateways.video_frames, 88_093);
    assert_eq!(r.counters.fleet.ota_interrupted, 11);
    assert_eq!(r.counters.fleet.firmware.get("1.1.0"), Some(&120));
    let ota = r.counters.ota.as_ref().unwrap();
    assert_eq!((ota.offered, ota.installed), (122, 114));
    assert_eq!(r.counters.store.writes_acked, 445);
}

#[test]
fn a_relay_run_of_schema_2_reads_with_every_value_where_its_component_keeps_it() {
    let r = check_nothing_lost(RELAY);
    assert_eq!(
        (
            r.counters.relay.core.frames_in,
            r.counters.relay.core.frames_out
        ),
        (6_160, 5_300)
    );
    assert_eq!(r.counters.relay.core.bytes_out, 9_494_900);
    assert_eq!(r.counters.signaling.forwarded, 71);
    assert_eq!(r.counters.viewers.frames_verified, 5_713);
    assert_eq!(r.live_latency_p50_us, Some(4_000));
}

#[test]
fn a_schema_2_value_the_reader_does_not_move_is_seen_as_lost() {
    // The check above is able to fail: a /2 field under a name /3 does not know.
    let mut doc: Value = serde_json::from_str(RELAY).unwrap();
    doc["relay"]["frames_teleported"] = Value::from(5);
    let text = doc.to_string();
    let r = std::panic::catch_unwind(|| check_nothing_lost(&text));
    assert!(r.is_err(), "a dropped value went unnoticed");
}
