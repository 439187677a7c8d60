//! Whole-world runs in turmoil: cameras come online, and runs are reproducible by seed.

use std::sync::OnceLock;
use std::time::Duration;

use camproof_protocol::pki::{KeyCache, NoCache, PkiOptions, TestPki};
use camproof_protocol::Timestamp;
use camproof_scenarios::checks::CheckId;
use camproof_scenarios::plan::Plan;
use camproof_scenarios::world::ViewerSpec;
use camproof_scenarios::world::World;
use camproof_scenarios::world::{
    Fault, FaultAction, RunSummary, WorldSpec, EPOCH_SECS, STREAMS_WINDOW,
};
use camproof_simulated_devices::camera::CameraConfig;

/// Checks `spec` as a plan and runs it to its end.
fn run(spec: &WorldSpec, pki: &TestPki, cache: &mut dyn KeyCache) -> Result<RunSummary, String> {
    let plan = Plan::new(spec.clone()).map_err(|e| e.to_string())?;
    camproof_scenarios::world::run(&plan, pki, cache).map_err(|e| e.to_string())
}

fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| TestPki::generate(3, &PkiOptions::fast_for_tests()))
}

fn spec(seed: u64) -> WorldSpec {
    WorldSpec {
        seed,
        regions: vec!["eu-africa".into(), "apac".into()],
        zones_per_region: 2,
        sites: 3,
        cameras_per_site: 4,
        duration: Duration::from_secs(60),
        camera: CameraConfig {
            fps: 5,
            bitrate_bps: 64_000,
            ..CameraConfig::default()
        },
        tick: camproof_scenarios::world::DEFAULT_TICK,
        faults: Vec::new(),
        viewers: ViewerSpec {
            per_site: 1,
            watch: Duration::from_secs(10),
            pause: Duration::from_secs(5),
            live_view: true,
        },
        ota: None,
        store_bugs: Default::default(),
        wire: Default::default(),
        world_bugs: Default::default(),
        attacks: Vec::new(),
        attack_bugs: Default::default(),
        platform: Default::default(),
    }
}

#[test]
fn every_camera_comes_online_and_streams() {
    let s = run(&spec(1), pki(), &mut NoCache).expect("run");
    assert_eq!(s.cameras, 12);
    assert_eq!(s.cameras_online, 12, "{s:#?}");
    assert_eq!(s.counters.fleet.handshakes, 12);
    assert_eq!(s.counters.gateways.handshakes, 12);
    assert!(
        s.counters.gateways.heartbeats >= 12 * 2,
        "{}",
        s.counters.gateways.heartbeats
    );
    assert_eq!(
        s.counters.fleet.heartbeats_acked,
        s.counters.gateways.heartbeats
    );
    // Frames sent by the end may still be in flight; nearly all have arrived.
    assert!(
        s.counters.gateways.video_frames > 12 * 5 * 50,
        "{}",
        s.counters.gateways.video_frames
    );
    assert!(s.counters.gateways.video_frames <= s.counters.fleet.frames_sent);
    assert!(s.latency_p50.is_some() && s.latency_p99 >= s.latency_p50);
    assert!(
        s.counters.gateways.failures.is_empty(),
        "{:?}",
        s.counters.gateways.failures
    );
    // Sites alternate regions: eu-africa has sites 0 and 2, apac site 1.
    assert_eq!(s.online_by_region.get("eu-africa"), Some(&(8, 8)));
    assert_eq!(s.online_by_region.get("apac"), Some(&(4, 4)));
}

#[test]
fn streams_must_resume_after_the_faults() {
    // Every relay of the viewers' only region dies for good: nobody can watch again.
    let mut s = spec(5);
    s.regions = vec!["eu-africa".into()];
    s.duration = Duration::from_secs(100);
    s.faults = vec![Fault {
        at: Duration::from_secs(20),
        action: FaultAction::RelayCrash("region:eu-africa".into()),
    }];
    let r = run(&s, pki(), &mut NoCache).expect("run");
    let failed: Vec<&str> = r.failures().iter().map(|f| f.check.name()).collect();
    assert!(failed.contains(&"streams-resume"), "{:?}", r.failures());
    // The relays come back: viewers watch again before the end.
    s.faults.push(Fault {
        at: Duration::from_secs(30),
        action: FaultAction::RelayRestart("region:eu-africa".into()),
    });
    let r = run(&s, pki(), &mut NoCache).expect("run");
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    assert!(r.checks.iter().any(|c| c.name() == "streams-resume"));
}

#[test]
fn a_password_in_clear_on_the_wire_is_found() {
    let mut s = spec(3);
    s.duration = Duration::from_secs(40);
    let clean = run(&s, pki(), &mut NoCache).expect("run");
    assert!(
        clean.counters.wire.scanned && clean.counters.wire.secrets > 0,
        "{:?}",
        clean.counters.wire
    );
    assert!(
        clean.counters.wire.leaks.is_empty(),
        "{:?}",
        clean.counters.wire.leaks
    );
    assert!(clean
        .checks
        .iter()
        .any(|c| c.name() == "no-plaintext-secret"));
    s.world_bugs.app_leaks_password = true;
    let r = run(&s, pki(), &mut NoCache).expect("run");
    let failed: Vec<&str> = r.failures().iter().map(|f| f.check.name()).collect();
    assert_eq!(failed, ["no-plaintext-secret"], "{:?}", r.failures());
    let leak = &r.counters.wire.leaks[0];
    assert!(
        leak.secret.starts_with("password of user0@site"),
        "{leak:?}"
    );
    // The violation carries the simulated time the password crossed the wire.
    assert_eq!(r.failures()[0].at, leak.at, "{:?}", r.failures());
    assert!(leak.at < s.duration);
    assert!(
        leak.from.starts_with("site-") && leak.to.starts_with("gw-"),
        "{leak:?}"
    );
    // The finding names the secret, never its value.
    assert!(
        !r.failures()[0].detail.contains("password="),
        "{:?}",
        r.failures()
    );
}

#[test]
fn unknown_regions_are_refused() {
    let mut s = spec(1);
    s.regions.push("mars".into());
    let err = run(&s, pki(), &mut NoCache).unwrap_err().to_string();
    assert!(err.contains("world.regions"), "{err}");
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

fn flawed(seed: u64, flaws: camproof_simulated_devices::camera::CameraFlaws) -> WorldSpec {
    let mut s = spec(seed);
    s.sites = 1;
    s.camera.fps = 0;
    s.camera.flaws = flaws;
    s
}

/// Flawed profile "large clock skew": the platform refuses every handshake (CDP-HS-07),
/// so the camera never comes online; a drift real fleets show (15 s) is tolerated.
#[test]
fn clock_skew_profile_is_refused_by_the_platform() {
    use camproof_simulated_devices::camera::CameraFlaws;
    let drift = run(
        &flawed(
            11,
            CameraFlaws {
                clock_skew_secs: 15,
                ..CameraFlaws::default()
            },
        ),
        pki(),
        &mut NoCache,
    )
    .expect("run");
    assert_eq!(drift.cameras_online, 4);
    let skewed = run(
        &flawed(
            11,
            CameraFlaws {
                clock_skew_secs: 300,
                ..CameraFlaws::default()
            },
        ),
        pki(),
        &mut NoCache,
    )
    .expect("run");
    assert_eq!(skewed.cameras_online, 0);
    assert_eq!(skewed.counters.gateways.handshakes, 0);
    assert!(
        skewed
            .counters
            .gateways
            .failures
            .get("ClockSkew")
            .copied()
            .unwrap_or(0)
            >= 4,
        "{:?}",
        skewed.counters.gateways.failures
    );
}

/// Flawed profile "no backoff": refused cameras retry in lockstep every 100 ms instead of
/// backing off exponentially with jitter, multiplying the load on the gateway.
#[test]
fn no_backoff_profile_hammers_the_gateway() {
    use camproof_simulated_devices::camera::CameraFlaws;
    let refused = CameraFlaws {
        clock_skew_secs: 300,
        ..CameraFlaws::default()
    };
    let reference = run(&flawed(12, refused), pki(), &mut NoCache).expect("run");
    let herd = run(
        &flawed(
            12,
            CameraFlaws {
                no_backoff: true,
                ..refused
            },
        ),
        pki(),
        &mut NoCache,
    )
    .expect("run");
    let per_camera =
        |s: &camproof_scenarios::world::RunSummary| s.counters.fleet.connect_attempts / 4;
    assert!(
        per_camera(&reference) <= 12,
        "reference retried {} times",
        per_camera(&reference)
    );
    assert!(
        per_camera(&herd) >= 10 * per_camera(&reference),
        "herd {} vs reference {}",
        per_camera(&herd),
        per_camera(&reference)
    );
}

/// Zone outage: a gateway crashes; its cameras fail over to the region's other zones and
/// monitoring raises ServiceNotRunning for it within 60 s; the restart resolves it.
#[test]
fn zone_outage_fails_over_and_alerts() {
    use camproof_platform::monitoring::AlertKind;
    use camproof_scenarios::world::{Fault, FaultAction};
    let mut s = spec(21);
    s.regions = vec!["eu-africa".into()];
    s.zones_per_region = 3;
    s.camera.fps = 0;
    s.duration = Duration::from_secs(180);
    let crash_at = Duration::from_secs(40);
    s.faults = vec![
        Fault {
            at: crash_at,
            action: FaultAction::Crash("gw-eu-africa-1".into()),
        },
        Fault {
            at: Duration::from_secs(140),
            action: FaultAction::Restart("gw-eu-africa-1".into()),
        },
    ];
    let r = run(&s, pki(), &mut NoCache).expect("run");
    assert_eq!(r.cameras_online, 12, "{r:#?}");
    // Cameras homed on zone 1 reconnected to another zone of the region by resuming:
    // the region's gateways share one ticket store.
    assert_eq!(
        r.counters.gateways.handshakes, 12,
        "{:?}",
        r.counters.gateways
    );
    assert!(
        r.counters.gateways.resumptions >= 1,
        "{:?}",
        r.counters.gateways
    );
    assert_eq!(r.faults.len(), 2);
    // The zone's gateway and its relay (same host) both stop reporting.
    let services: Vec<&str> = r.alerts.iter().map(|a| a.service.as_str()).collect();
    assert_eq!(services, ["gateway", "relay"], "{:#?}", r.alerts);
    let alert = &r.alerts[0];
    assert_eq!(alert.kind, AlertKind::ServiceNotRunning);
    assert_eq!(alert.host, "gw-eu-africa-1");
    assert!(r
        .alerts
        .iter()
        .all(|a| a.host == alert.host && a.kind == alert.kind));
    let epoch = camproof_protocol::Timestamp::from_secs(camproof_scenarios::world::EPOCH_SECS);
    let crashed = epoch.saturating_add(crash_at);
    let deadline = Duration::from_secs(60);
    assert!(
        alert.fired.saturating_since(crashed) <= deadline,
        "{alert:?}"
    );
    assert!(
        alert.resolved.is_some(),
        "restart resolves the alert: {alert:?}"
    );
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    assert!(r.checks.iter().any(|c| c.name() == "alert-deadline"));
    // Alert rules that wait too long miss the deadline, and the run says so.
    let mut slow = s.clone();
    slow.world_bugs.slow_alerts = true;
    let r = run(&slow, pki(), &mut NoCache).expect("run");
    let failed: Vec<&str> = r.failures().iter().map(|f| f.check.name()).collect();
    assert_eq!(failed, ["alert-deadline"], "{:?}", r.failures());
    // Seen at the first sample after the deadline, not at the end of the run.
    let seen = r.failures()[0].at;
    let due = crash_at + camproof_scenarios::checks::NOT_RUNNING_DEADLINE;
    assert!(
        seen > due && seen <= due + camproof_scenarios::world::MONITOR_INTERVAL,
        "first seen at {seen:?}, deadline {due:?}"
    );
    assert!(
        r.failures()[0].detail.contains("gw-eu-africa-1"),
        "{:?}",
        r.failures()
    );
    // Without the fault, no alert.
    let mut healthy = s.clone();
    healthy.faults.clear();
    assert!(run(&healthy, pki(), &mut NoCache)
        .expect("run")
        .alerts
        .is_empty());
}

#[test]
fn faults_on_unknown_hosts_are_refused() {
    use camproof_scenarios::world::{Fault, FaultAction};
    let mut s = spec(1);
    s.faults = vec![Fault {
        at: Duration::from_secs(1),
        action: FaultAction::Crash("gw-mars-1".into()),
    }];
    let err = run(&s, pki(), &mut NoCache).unwrap_err().to_string();
    assert!(err.contains("unknown host \"gw-mars-1\""), "{err}");
}

/// Region loss: every gateway of a region crashes; its cameras fail over to the other
/// region's gateways and stream again; monitoring alerts for each lost gateway.
#[test]
fn region_loss_fails_over_across_regions() {
    use camproof_platform::monitoring::AlertKind;
    use camproof_scenarios::world::{Fault, FaultAction};
    let mut s = spec(31);
    s.sites = 4;
    s.cameras_per_site = 3;
    s.camera.fps = 0;
    s.duration = Duration::from_secs(240);
    s.faults = vec![Fault {
        at: Duration::from_secs(30),
        action: FaultAction::Crash("region:eu-africa".into()),
    }];
    let r = run(&s, pki(), &mut NoCache).expect("run");
    assert_eq!(r.online_by_region.get("eu-africa"), Some(&(6, 6)), "{r:#?}");
    assert_eq!(r.cameras_online, 12);
    let lost: Vec<&str> = r
        .alerts
        .iter()
        .filter(|a| a.kind == AlertKind::ServiceNotRunning && a.service == "gateway")
        .map(|a| a.host.as_str())
        .collect();
    assert_eq!(lost, ["gw-eu-africa-1", "gw-eu-africa-2"]);
}

/// Partition and heal: a site cut off from every gateway loses its sessions; after the
/// heal its cameras reconnect and all are online at the end.
#[test]
fn partition_then_heal_reconnects() {
    use camproof_scenarios::world::{Fault, FaultAction};
    let mut s = spec(32);
    s.camera.fps = 0;
    s.duration = Duration::from_secs(300);
    let cut = |at, heal: bool, region: &str| Fault {
        at: Duration::from_secs(at),
        action: if heal {
            FaultAction::Heal("site-apac-1".into(), format!("region:{region}"))
        } else {
            FaultAction::Partition("site-apac-1".into(), format!("region:{region}"))
        },
    };
    s.faults = vec![
        cut(30, false, "apac"),
        cut(30, false, "eu-africa"),
        cut(150, true, "apac"),
        cut(150, true, "eu-africa"),
    ];
    let r = run(&s, pki(), &mut NoCache).expect("run");
    assert_eq!(r.cameras_online, 12, "{r:#?}");
    // The 4 cameras of site-apac-1 lost their sessions and came back.
    assert!(
        r.counters.gateways.handshakes + r.counters.gateways.resumptions >= 16,
        "{:?}",
        r.counters.gateways
    );
    // Without the heal they stay offline.
    let mut unhealed = s.clone();
    unhealed.faults.truncate(2);
    let u = run(&unhealed, pki(), &mut NoCache).expect("run");
    assert_eq!(u.cameras_online, 8, "{:?}", u.online_by_region);
}

/// A site cut off from every gateway for good: the liveness failure names that site and
/// each of its cameras with the time it went offline (after the cut, by the end), and
/// `offline` keeps the same list; the other sites' cameras are not named.
#[test]
fn liveness_names_the_cut_off_sites_cameras_and_when_they_went_offline() {
    let mut s = spec(33);
    s.camera.fps = 0;
    s.viewers.per_site = 0;
    s.duration = Duration::from_secs(120);
    s.faults = ["apac", "eu-africa"]
        .iter()
        .map(|region| Fault {
            at: Duration::from_secs(30),
            action: FaultAction::Partition("site-apac-1".into(), format!("region:{region}")),
        })
        .collect();
    let r = run(&s, pki(), &mut NoCache).expect("run");
    assert_eq!(r.cameras_online, 8, "{:?}", r.online_by_region);
    let cut: Vec<&str> = r.offline.iter().map(|c| c.camera.as_str()).collect();
    assert_eq!(
        cut,
        [
            "CAM-00000004",
            "CAM-00000005",
            "CAM-00000006",
            "CAM-00000007"
        ]
    );
    for c in &r.offline {
        assert_eq!(
            (c.site.as_str(), c.region.as_str()),
            ("site-apac-1", "apac")
        );
        let since = c.since_seconds.expect("it was online before the cut");
        assert!(since > 30.0 && since <= 120.0, "{c:?}");
    }
    let failures = r.failures();
    let liveness = failures
        .iter()
        .find(|f| f.check == CheckId::Liveness)
        .expect("liveness fails");
    let d = &liveness.detail;
    assert!(
        d.starts_with("8/12 cameras online at the end; offline: site-apac-1 (apac): CAM-00000004"),
        "{d}"
    );
    for c in &r.offline {
        let since = humantime::format_duration(Duration::from_secs_f64(c.since_seconds.unwrap()));
        assert!(
            d.contains(&c.camera) && d.contains(&format!("offline since {since}")),
            "{d}"
        );
    }
    assert!(
        !d.contains("CAM-00000003") && !d.contains("site-eu-africa"),
        "{d}"
    );
    println!("liveness: {d}");
}

/// Users sign in with password and TOTP, steer their cameras through signaling and
/// watch live views through the relay, verifying every frame end to end.
#[test]
fn viewers_sign_in_command_and_watch_end_to_end() {
    let s = run(&spec(4), pki(), &mut NoCache).expect("run");
    let v = &s.counters.viewers;
    assert!(v.logins >= 3, "{v:#?}");
    // Every sign-in asked for the code (a round cut off by the end of the run may have
    // been asked without finishing).
    assert!(v.second_factor_prompts >= v.logins, "{v:#?}");
    assert!(v.login_refusals.is_empty(), "{v:#?}");
    assert!(v.commands_ok >= 3 && v.commands_failed == 0, "{v:#?}");
    assert!(v.live_views >= 3, "{v:#?}");
    assert!(v.frames_verified > 100, "{v:#?}");
    assert!(v.frames_rejected.is_empty(), "{v:#?}");
    assert_eq!(s.counters.signaling.timeouts, 0);
    assert_eq!(s.counters.relay.refused, 0);
    assert!(s.counters.relay.core.frames_out >= v.frames_verified);
    assert!(s.live_latency_p99.is_some());
}

/// Cameras that heartbeat every 5 s make the gateways drop a device connection idle for
/// 15 s. Viewers must keep signing in and watching all the same: a viewer that had
/// already used this 30 s step's one-time code once waited for the next step with its app
/// session open and idle, lost it to the device idle limit, and (counting the step as
/// used though no code was sent) did the same every round from then on.
#[test]
fn viewers_keep_signing_in_when_cameras_heartbeat_every_5s() {
    let mut s = spec(1);
    s.camera.heartbeat = Duration::from_secs(5);
    // Long enough for the streams-resume check (1.5 times its 60 s window).
    s.duration = Duration::from_secs(100);
    s.viewers.watch = Duration::from_secs(8);
    s.viewers.pause = Duration::from_secs(4);
    let r = run(&s, pki(), &mut NoCache).expect("run");
    let v = &r.counters.viewers;
    let failed: Vec<_> = v.sign_ins.iter().filter(|s| s.refused.is_some()).collect();
    assert!(
        failed.is_empty(),
        "sign-ins failed: {failed:#?}; gateway failures {:?}",
        r.counters.gateways.failures
    );
    // Users still sign in during the last minute, not only in the first rounds.
    let late = Timestamp::from_secs(EPOCH_SECS).saturating_add(s.duration - STREAMS_WINDOW);
    let late_sign_ins = v
        .sign_ins
        .iter()
        .filter(|s| s.refused.is_none() && s.at > late)
        .count();
    assert!(
        late_sign_ins >= 3,
        "{late_sign_ins} sign-ins after {late}: {v:#?}"
    );
    assert!(r.checks.iter().any(|c| c.name() == "streams-resume"));
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    assert!(
        r.counters.gateways.failures.is_empty(),
        "{:?}",
        r.counters.gateways.failures
    );
}

/// A signed release rolled out to every camera is verified, installed, booted and
/// reported by all of them.
#[test]
fn ota_rollout_reaches_every_camera() {
    let mut spec = spec(5);
    spec.viewers.per_site = 0;
    spec.ota = Some(camproof_scenarios::world::OtaSpec {
        version: "1.2.0".into(),
        percent: 100,
        start: Duration::from_secs(10),
        image_bytes: 64 * 1024,
    });
    let s = run(&spec, pki(), &mut NoCache).expect("run");
    let ota = s.counters.ota.expect("rollout counts");
    assert_eq!(ota.installed, 12, "{ota:?}");
    assert_eq!(ota.refused + ota.failed, 0, "{ota:?}");
    assert_eq!(
        s.counters.fleet.firmware.get("1.2.0"),
        Some(&12),
        "{:?}",
        s.counters.fleet.firmware
    );
    assert_eq!(
        s.cameras_online, 12,
        "every camera came back after its reboot"
    );
}

fn rollout_spec(seed: u64) -> WorldSpec {
    let mut spec = spec(seed);
    spec.viewers.per_site = 0;
    spec.duration = Duration::from_secs(120);
    spec.ota = Some(camproof_scenarios::world::OtaSpec {
        version: "1.2.0".into(),
        percent: 100,
        start: Duration::from_secs(10),
        image_bytes: 256 * 1024,
    });
    spec
}

/// Links that lose messages break connections mid-download; the cameras start again
/// and every one of them ends on the release. The rollout check holds.
#[test]
fn a_rollout_over_lossy_links_still_reaches_every_camera() {
    let mut spec = rollout_spec(6);
    spec.faults = vec![
        Fault {
            at: Duration::from_secs(8),
            action: FaultAction::Loss("sites:all".into(), "region:eu-africa".into(), 20_000),
        },
        Fault {
            at: Duration::from_secs(50),
            action: FaultAction::Loss("sites:all".into(), "region:eu-africa".into(), 0),
        },
    ];
    let s = run(&spec, pki(), &mut NoCache).expect("run");
    assert!(
        s.checks.iter().any(|c| c.name() == "ota-rollout-complete"),
        "{:?}",
        s.checks
    );
    assert!(s.failures().is_empty(), "{:#?}", s.failures());
    assert!(
        s.counters.fleet.ota_interrupted > 0,
        "the loss cut no download short: {:?}",
        s.counters.fleet
    );
    assert_eq!(
        s.counters.fleet.firmware.get("1.2.0"),
        Some(&12),
        "{:?}",
        s.counters.fleet.firmware
    );
}

/// The negative test of `ota-rollout-complete`: an OTA service that serves each part
/// from one byte too far never completes a download (the last part comes up short and
/// the part after the end is empty), so no camera installs.
#[test]
fn image_parts_served_off_by_one_fail_the_rollout_check() {
    let mut spec = rollout_spec(6);
    spec.world_bugs.ota_chunk_off_by_one = true;
    let s = run(&spec, pki(), &mut NoCache).expect("run");
    let failures = s.failures();
    let rollout = failures
        .iter()
        .find(|f| f.check.name() == "ota-rollout-complete")
        .unwrap_or_else(|| panic!("the check held: {failures:#?}"));
    assert!(
        rollout.detail.starts_with("0 of 12 cameras run 1.2.0"),
        "{}",
        rollout.detail
    );
    // The cameras that missed it are named: the first ten, then how many more.
    assert!(
        rollout.detail.ends_with(
            "; not on it: CAM-00000000, CAM-00000001, CAM-00000002, CAM-00000003, \
                 CAM-00000004, CAM-00000005, CAM-00000006, CAM-00000007, CAM-00000008, \
                 CAM-00000009 and 2 more"
        ),
        "{}",
        rollout.detail
    );
    assert_eq!(
        s.counters.fleet.firmware.get("1.2.0"),
        None,
        "{:?}",
        s.counters.fleet.firmware
    );
}

/// The store under zone partitions: records written while zones are cut off from each
/// other are never lost and no term has two leaders. (The checkers' planted-bug tests
/// live with the store: `platform/tests/platform/store_checkers.rs`.)
#[test]
fn store_invariants_hold_under_partitions() {
    let partitions = |spec: &mut WorldSpec| {
        spec.duration = Duration::from_secs(120);
        spec.viewers.pause = Duration::from_secs(1);
        let mut faults = Vec::new();
        for (z, at) in [(1, 30), (2, 55), (1, 80)] {
            let others: Vec<u32> = (1..=2).filter(|o| *o != z).collect();
            for o in others {
                let a = format!("gw-eu-africa-{z}");
                let b = format!("gw-eu-africa-{o}");
                faults.push(Fault {
                    at: Duration::from_secs(at),
                    action: FaultAction::Partition(a.clone(), b.clone()),
                });
                faults.push(Fault {
                    at: Duration::from_secs(at + 15),
                    action: FaultAction::Heal(a, b),
                });
            }
        }
        spec.faults = faults;
    };
    let mut honest = spec(6);
    partitions(&mut honest);
    let s = run(&honest, pki(), &mut NoCache).expect("run");
    assert!(s.counters.store.writes_acked > 10, "{:?}", s.counters.store);
    assert!(
        s.counters.store.violations.is_empty(),
        "{:?}",
        s.counters.store.violations
    );
}

/// A user deletes their account mid-run: the platform erases it on every replica of
/// its home region (the run's erasure and residency checks pass), the user's phone is
/// refused from then on, and the other users go on.
#[test]
fn account_erasure_reaches_every_replica_and_signs_the_user_out() {
    let mut spec = spec(8);
    spec.viewers.pause = Duration::from_secs(1);
    spec.faults = vec![Fault {
        at: Duration::from_secs(25),
        action: FaultAction::EraseAccount("user0@site1.example".into()),
    }];
    let s = run(&spec, pki(), &mut NoCache).expect("run");
    assert_eq!(s.counters.signaling.erasures, 1);
    assert!(
        s.counters.store.violations.is_empty(),
        "{:?}",
        s.counters.store.violations
    );
    // The erasure went through the store after the user's records had.
    assert!(s.counters.store.writes_acked > 20, "{:?}", s.counters.store);
    let refused: u64 = s.counters.viewers.login_refusals.values().sum();
    assert!(
        refused >= 1,
        "the erased user signs in no more: {:#?}",
        s.counters.viewers
    );
    assert!(
        s.counters.viewers.frames_verified > 100,
        "{:#?}",
        s.counters.viewers
    );
}

/// An erasure of a name the world does not have is refused before the run.
#[test]
fn erasure_of_an_unknown_user_is_refused() {
    let mut spec = spec(8);
    spec.faults = vec![Fault {
        at: Duration::from_secs(5),
        action: FaultAction::EraseAccount("user9@site1.example".into()),
    }];
    assert!(spec.has_user("user0@site2.example"));
    let err = run(&spec, pki(), &mut NoCache).unwrap_err().to_string();
    assert!(
        err.contains("unknown user \"user9@site1.example\""),
        "{err}"
    );
}

/// Every scenario of the catalog parses and names only hosts and users its world has.
#[test]
fn every_catalog_scenario_parses() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/catalog");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("catalog directory") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).expect("readable");
            camproof_scenarios::scenario::Scenario::parse(&path.display().to_string(), &text)
                .unwrap_or_else(|e| panic!("{e}"));
            seen += 1;
        }
    }
    assert!(seen >= 6, "{seen} scenarios");
}

/// A zone's store disk fills: monitoring raises HighDisk for that host within the rule's
/// hold, the region's other two replicas keep acknowledging writes, and after the disk
/// is freed and the host restarted the replica rejoins; no invariant breaks.
#[test]
fn disk_full_alerts_and_the_store_carries_on() {
    use camproof_platform::monitoring::AlertKind;
    let mut s = spec(23);
    s.regions = vec!["eu-africa".into()];
    s.zones_per_region = 3;
    s.camera.fps = 0;
    s.viewers.live_view = false;
    s.viewers.pause = Duration::from_secs(2);
    s.duration = Duration::from_secs(200);
    let full_at = Duration::from_secs(20);
    s.faults = vec![
        Fault {
            at: full_at,
            action: FaultAction::DiskFull("gw-eu-africa-1".into()),
        },
        Fault {
            at: Duration::from_secs(120),
            action: FaultAction::DiskFree("gw-eu-africa-1".into()),
        },
        Fault {
            at: Duration::from_secs(121),
            action: FaultAction::Restart("gw-eu-africa-1".into()),
        },
    ];
    let r = run(&s, pki(), &mut NoCache).expect("run");
    let disk: Vec<_> = r
        .alerts
        .iter()
        .filter(|a| a.kind == AlertKind::HighDisk)
        .collect();
    assert_eq!(disk.len(), 1, "{:#?}", r.alerts);
    assert_eq!(disk[0].host, "gw-eu-africa-1");
    let epoch = camproof_protocol::Timestamp::from_secs(camproof_scenarios::world::EPOCH_SECS);
    let filled = epoch.saturating_add(full_at);
    assert!(
        disk[0].fired.saturating_since(filled) <= Duration::from_secs(70),
        "{:?}",
        disk[0]
    );
    assert!(disk[0].resolved.is_some(), "freeing the disk resolves it");
    assert!(r.counters.store.writes_acked > 20, "{:?}", r.counters.store);
    assert!(
        r.counters.store.violations.is_empty(),
        "{:?}",
        r.counters.store.violations
    );
    assert_eq!(r.cameras_online, r.cameras);
}

/// A world is a value: built from a plan, stepped, inspected between steps, run on.
#[test]
fn a_world_can_be_stepped_and_inspected() {
    let plan = Plan::new(spec(11)).expect("plan");
    let mut world = World::build(&plan, pki(), &mut NoCache).expect("build");
    assert_eq!(world.elapsed(), Duration::ZERO);
    assert_eq!(
        world.cameras_online(),
        0,
        "nothing runs before the first step"
    );
    while world.elapsed() < Duration::from_secs(20) {
        assert!(!world.step().expect("step"), "the run ended early");
    }
    assert_eq!(world.cameras_online(), 12, "every camera is up after 20 s");
    assert_eq!(world.checks().first_seen(CheckId::OneLeaderPerTerm), None);
    let whole = run(&spec(11), pki(), &mut NoCache).expect("run");
    let stepped = world.run().expect("run on");
    assert_eq!(
        stepped.trace_hash, whole.trace_hash,
        "stepping changes nothing"
    );
}

/// The catalog's disk-corrupt world (seed 3): every corrupt replica refuses to start,
/// no acknowledged write is lost and storage is fail-stop. With the planted bug
/// `silent-truncate`, the replica whose length field was damaged starts with its vote
/// and log forgotten, and `fail-stop-storage` says which and what.
#[test]
fn corrupt_store_logs_stop_their_replicas_and_the_silent_truncate_plant_fails() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/catalog/disk-corrupt.toml");
    let text = std::fs::read_to_string(file).expect("catalog file");
    let mut spec = camproof_scenarios::scenario::Scenario::parse(file, &text)
        .expect("parses")
        .world;
    spec.seed = 3;
    let s = run(&spec, pki(), &mut NoCache).expect("run");
    assert!(
        s.checks.contains(&CheckId::FailStopStorage),
        "{:?}",
        s.checks
    );
    assert!(s.failures().is_empty(), "{:#?}", s.failures());

    camproof_scenarios::plants::Plant::SilentTruncate
        .plant_in(std::path::Path::new(file), &mut spec)
        .expect("observable here");
    let s = run(&spec, pki(), &mut NoCache).expect("run");
    let failures = s.failures();
    let f = failures
        .iter()
        .find(|f| f.check == CheckId::FailStopStorage)
        .unwrap_or_else(|| panic!("the check held: {failures:#?}"));
    assert!(
        f.detail
            .starts_with("apac: gw-apac-1 restarted at 41.000 s without its vote"),
        "{}",
        f.detail
    );
    assert_eq!(f.at, Duration::from_secs(41), "{f:?}");
}

/// The disk-corrupt world (seed 3) with the bit flipped in the middle and in the last
/// record of each log instead of the first: each corrupt replica still refuses to start
/// (the run passes, its trace names the record), and the planted `silent-truncate`
/// still fails `fail-stop-storage`.
#[test]
fn corruption_in_a_middle_or_last_record_is_refused_too() {
    use camproof_platform::store::CorruptRecord;
    use camproof_scenarios::spec::FaultAction;
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/catalog/disk-corrupt.toml");
    let text = std::fs::read_to_string(file).expect("catalog file");
    for record in [CorruptRecord::Middle, CorruptRecord::Last] {
        let mut spec = camproof_scenarios::scenario::Scenario::parse(file, &text)
            .expect("parses")
            .world;
        spec.seed = 3;
        for f in &mut spec.faults {
            if let FaultAction::Corrupt(_, _, r) = &mut f.action {
                *r = record;
            }
        }
        let s = run(&spec, pki(), &mut NoCache).expect("run");
        assert!(s.failures().is_empty(), "{record:?}: {:#?}", s.failures());
        camproof_scenarios::plants::Plant::SilentTruncate
            .plant_in(std::path::Path::new(file), &mut spec)
            .expect("observable here");
        let s = run(&spec, pki(), &mut NoCache).expect("run");
        assert!(
            s.failures()
                .iter()
                .any(|f| f.check == CheckId::FailStopStorage),
            "{record:?}: the plant went unseen: {:#?}",
            s.failures()
        );
    }
}
