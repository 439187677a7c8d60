//! Whole-world runs in turmoil: cameras come online, and runs are reproducible by seed.

use std::sync::OnceLock;
use std::time::Duration;

use camproof_protocol::pki::{NoCache, PkiOptions, TestPki};
use camproof_scenarios::world::{run, WorldSpec};
use camproof_simulated_devices::camera::CameraConfig;

fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| TestPki::generate(3, &PkiOptions::fast_for_tests()))
}

fn spec(seed: u64) -> WorldSpec {
    WorldSpec {
        seed,
        zones: 2,
        sites: 3,
        cameras_per_site: 4,
        duration: Duration::from_secs(60),
        camera: CameraConfig {
            fps: 5,
            bitrate_bps: 64_000,
            ..CameraConfig::default()
        },
        tick: camproof_scenarios::world::DEFAULT_TICK,
    }
}

#[test]
fn every_camera_comes_online_and_streams() {
    let s = run(&spec(1), pki(), &mut NoCache).expect("run");
    assert_eq!(s.cameras, 12);
    assert_eq!(s.cameras_online, 12, "{s:#?}");
    assert_eq!(s.fleet.handshakes, 12);
    assert_eq!(s.gateways.handshakes, 12);
    assert!(s.gateways.heartbeats >= 12 * 2, "{}", s.gateways.heartbeats);
    assert_eq!(s.fleet.heartbeats_acked, s.gateways.heartbeats);
    // Frames sent by the end may still be in flight; nearly all have arrived.
    assert!(
        s.gateways.video_frames > 12 * 5 * 50,
        "{}",
        s.gateways.video_frames
    );
    assert!(s.gateways.video_frames <= s.fleet.frames_sent);
    assert!(s.latency_p50.is_some() && s.latency_p99 >= s.latency_p50);
    assert!(s.gateways.failures.is_empty(), "{:?}", s.gateways.failures);
}

#[test]
fn same_seed_same_trace_other_seed_other_trace() {
    let a = run(&spec(7), pki(), &mut NoCache).expect("run a");
    let b = run(&spec(7), pki(), &mut NoCache).expect("run b");
    let c = run(&spec(8), pki(), &mut NoCache).expect("run c");
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a, b);
    assert_ne!(a.trace_hash, c.trace_hash);
}
