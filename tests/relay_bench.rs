//! End to end: `camproof bench relay` runs the real binary (and its `camproof relay`
//! child) on loopback and prints JSON with sane fields. No assertion on speed: the
//! figures are for people (docs/relay.md), never timed assertions.

use std::process::Command;

use serde_json::Value;

#[test]
fn bench_relay_json_is_sane() {
    let out = Command::new(env!("CARGO_BIN_EXE_camproof"))
        .args([
            "bench",
            "relay",
            "--seconds",
            "1",
            "--viewers",
            "3",
            "--json",
            "--latency-gbps",
            "0.2",
        ])
        .output()
        .expect("run camproof");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench relay failed: {stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(doc["bench"], "relay");
    let cases = doc["cases"].as_array().expect("cases");
    let names: Vec<&str> = cases.iter().filter_map(|c| c["name"].as_str()).collect();
    for want in ["direct (ceiling)", "camproof relay", "camproof relay 1→3"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for case in cases {
        let name = case["name"].as_str().unwrap_or_default();
        if let Some(why) = case["missing"].as_str() {
            // A peer that is not installed is reported, not a failure.
            assert!(why.contains("not installed"), "{name}: {why}");
            continue;
        }
        for phase in ["throughput", "latency"] {
            let p = &case[phase];
            let bytes = p["bytes_delivered"].as_u64().expect("bytes");
            let received = p["frames_received"].as_u64().expect("frames");
            let expected = p["frames_expected"].as_u64().expect("expected");
            assert!(
                bytes > 0 && received > 0,
                "{name} {phase}: nothing delivered"
            );
            assert!(p["gbit_per_s"].as_f64().expect("rate") > 0.0);
            if !name.starts_with("srt") {
                // TCP paths lose nothing but what the relay's drop policy drops.
                assert!(
                    received <= expected,
                    "{name} {phase}: {received} > {expected}"
                );
            }
            if name.starts_with("direct") {
                assert!(p["relay_cpu_seconds"].is_null());
                assert_eq!(received, expected, "direct transfer lost frames");
            } else {
                assert!(p["gb_per_relay_cpu_second"].as_f64().expect("eff") > 0.0);
            }
        }
        if name.starts_with("camproof relay") {
            let stats = &case["throughput"]["relay_stats"];
            assert!(
                stats["frames_in"].as_u64().expect("relay stats") > 0,
                "{stats}"
            );
            assert_eq!(stats["refused"], 0);
        }
        let p99 = case["latency"]["latency_p99_us"].as_f64().expect("p99");
        let p50 = case["latency"]["latency_p50_us"].as_f64().expect("p50");
        assert!(p50 <= p99, "{name}: p50 {p50} > p99 {p99}");
    }
    let targets = doc["targets"].as_array().expect("targets");
    assert!(targets.len() >= 5, "{targets:?}");
}
