//! Attackers inside the world: each attack's invariant holds on the reference platform
//! and fails with the bug planted for it.

use std::sync::OnceLock;
use std::time::Duration;

use camproof_platform::accounts::AccountsBugs;
use camproof_platform::registry::RegistryBugs;
use camproof_protocol::cdp::{DeviceFlaws, ServerFlaws};
use camproof_protocol::pki::{KeyCache, NoCache, PkiOptions, TestPki};
use camproof_scenarios::plan::Plan;
use camproof_scenarios::spec::{AttackBugs, AttackKind, AttackSpec};
use camproof_scenarios::world::{Fault, FaultAction, RunSummary, ViewerSpec, WorldSpec};
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

/// Two regions, four sites (eu-africa: sites 0 and 2), two users per site, and one
/// attack on eu-africa from 25 s to 55 s.
fn spec(seed: u64, kind: AttackKind) -> WorldSpec {
    WorldSpec {
        seed,
        regions: vec!["eu-africa".into(), "apac".into()],
        zones_per_region: 2,
        sites: 4,
        cameras_per_site: 2,
        duration: Duration::from_secs(60),
        camera: CameraConfig {
            fps: 5,
            bitrate_bps: 64_000,
            ..CameraConfig::default()
        },
        tick: camproof_scenarios::world::DEFAULT_TICK,
        faults: Vec::new(),
        viewers: ViewerSpec {
            per_site: 2,
            watch: Duration::from_secs(8),
            pause: Duration::from_secs(4),
            live_view: true,
        },
        ota: None,
        store_bugs: Default::default(),
        attacks: vec![AttackSpec::new(
            kind,
            "eu-africa",
            Duration::from_secs(25),
            Duration::from_secs(55),
        )],
        wire: Default::default(),
        world_bugs: Default::default(),
        attack_bugs: AttackBugs::default(),
        platform: Default::default(),
    }
}

fn checks(s: &RunSummary) -> Vec<&'static str> {
    s.failures().iter().map(|f| f.check.name()).collect()
}

#[test]
fn credential_stuffing_is_refused_and_users_keep_signing_in() {
    let s = run(
        &spec(3, AttackKind::CredentialStuffing),
        pki(),
        &mut NoCache,
    )
    .expect("run");
    let st = &s.counters.attacks.stuffing;
    assert!(s.failures().is_empty(), "{:#?}\n{st:#?}", s.failures());
    assert!(st.attempts > 500, "{st:#?}");
    assert!(st.breaches.is_empty());
    // Each limiter did its part: addresses blocked, accounts locked, the victims'
    // reused passwords refused from an unusual place.
    for outcome in [
        "address-blocked",
        "wrong-credentials",
        "unusual-sign-in-refused",
    ] {
        assert!(
            st.outcomes.get(outcome).copied().unwrap_or(0) > 0,
            "{outcome}: {st:#?}"
        );
    }
    assert!(
        s.counters.attacks.legit.ok > 0,
        "{:?}",
        s.counters.attacks.legit
    );
    assert_eq!(s.counters.attacks.hosts, 8);
}

#[test]
fn a_leaked_password_from_an_unusual_place_breaches_when_the_check_is_skipped() {
    let mut w = spec(3, AttackKind::CredentialStuffing);
    w.attack_bugs.accounts = AccountsBugs {
        unusual_login_accepted: true,
        ..AccountsBugs::default()
    };
    let s = run(&w, pki(), &mut NoCache).expect("run");
    assert!(!s.counters.attacks.stuffing.breaches.is_empty());
    assert!(
        checks(&s).contains(&"no-credential-breach"),
        "{:#?}",
        s.failures()
    );
}

#[test]
fn a_lockout_that_ignores_usual_addresses_locks_legitimate_users_out() {
    let mut w = spec(3, AttackKind::CredentialStuffing);
    w.attack_bugs.accounts = AccountsBugs {
        lockout_everywhere: true,
        ..AccountsBugs::default()
    };
    let s = run(&w, pki(), &mut NoCache).expect("run");
    assert!(
        checks(&s).contains(&"logins-during-attack"),
        "{:#?}",
        s.failures()
    );
    assert!(
        s.counters.attacks.legit.refused.contains_key("Locked"),
        "{:?}",
        s.counters.attacks.legit
    );
}

#[test]
fn botnet_floods_are_refused_and_the_world_carries_on() {
    let s = run(&spec(4, AttackKind::Botnet), pki(), &mut NoCache).expect("run");
    let b = &s.counters.attacks.botnet;
    assert!(s.failures().is_empty(), "{:#?}\n{b:#?}", s.failures());
    let attempts: u64 = b.attempts.values().sum();
    assert!(attempts > 1000, "{b:#?}");
    for vector in [
        "gateway-garbage",
        "gateway-oversized",
        "relay-bogus-grant",
        "relay-garbage",
    ] {
        assert!(
            b.refused.get(vector).copied().unwrap_or(0) > 0,
            "{vector}: {b:#?}"
        );
        assert_eq!(b.accepted.get(vector), None, "{vector}: {b:#?}");
    }
    assert!(!s.counters.gateways.failures.is_empty());
    assert!(s.counters.relay.refused > 0);
}

#[test]
fn cross_tenant_probes_are_refused() {
    let s = run(&spec(5, AttackKind::CrossTenant), pki(), &mut NoCache).expect("run");
    let p = &s.counters.attacks.probing;
    assert!(s.failures().is_empty(), "{:#?}\n{p:#?}", s.failures());
    assert!(p.sign_ins > 0, "{p:#?}");
    assert!(p.probes.values().sum::<u64>() > 30, "{p:#?}");
    assert!(
        p.refused.get("NotFound").copied().unwrap_or(0) > 0,
        "{p:#?}"
    );
    assert!(
        p.refused.get("Unauthorized").copied().unwrap_or(0) > 0,
        "{p:#?}"
    );
    assert!(
        p.refused.get("relay-refused").copied().unwrap_or(0) > 0,
        "{p:#?}"
    );
    // The control: the prober's own grant does admit it.
    assert!(p.own_admitted > 0, "{p:#?}");
}

#[test]
fn a_registry_without_its_ownership_check_lets_the_prober_in() {
    let mut w = spec(5, AttackKind::CrossTenant);
    w.attack_bugs.registry = RegistryBugs {
        skip_ownership_check: true,
    };
    let s = run(&w, pki(), &mut NoCache).expect("run");
    assert!(!s.counters.attacks.probing.breaches.is_empty());
    assert!(
        checks(&s).contains(&"no-cross-tenant-access"),
        "{:#?}",
        s.failures()
    );
}

#[test]
fn attacks_are_reproducible_by_seed() {
    let mut w = spec(6, AttackKind::CredentialStuffing);
    w.duration = Duration::from_secs(35);
    w.attacks[0].stop = Duration::from_secs(35);
    w.attacks.push(AttackSpec::new(
        AttackKind::Botnet,
        "apac",
        Duration::from_secs(25),
        Duration::from_secs(35),
    ));
    let a = run(&w, pki(), &mut NoCache).expect("run a");
    let b = run(&w, pki(), &mut NoCache).expect("run b");
    assert_eq!(a, b);
    assert!(
        a.counters.attacks.stuffing.attempts > 0 && !a.counters.attacks.botnet.attempts.is_empty()
    );
}

#[test]
fn attacks_on_unknown_regions_or_too_many_hosts_are_refused() {
    let mut w = spec(1, AttackKind::Botnet);
    w.attacks[0].region = "cn".into();
    let err = run(&w, pki(), &mut NoCache).unwrap_err().to_string();
    assert!(err.contains("region \"cn\" is not in this world"), "{err}");
    let mut w = spec(1, AttackKind::Botnet);
    w.attacks[0].stop = Duration::from_secs(600);
    let err = run(&w, pki(), &mut NoCache).unwrap_err().to_string();
    assert!(err.contains("at most the run's duration"), "{err}");
    // One replayer on the path of a region's sites; a second one may replay at the
    // platform only.
    let mut w = spec(1, AttackKind::Replay);
    w.attacks.push(w.attacks[0].clone());
    let err = Plan::new(w.clone()).unwrap_err().to_string();
    assert!(
        err.contains("a second replay attack on the path of eu-africa's sites"),
        "{err}"
    );
    w.attacks[1].sites = 0;
    assert!(Plan::new(w).is_ok());
}

/// The replay world: cameras heartbeat every 5 s and rekey every 16 records, a replayer
/// on eu-africa from 10 s to 58 s, and eu-africa's first zone down from 20 s to 30 s, so
/// its cameras resume (with their tickets) at the second zone while the tap records.
fn replay_spec(seed: u64) -> WorldSpec {
    let mut w = spec(seed, AttackKind::Replay);
    w.camera.heartbeat = Duration::from_secs(5);
    w.camera.rekey_after = Some(16);
    w.attacks[0].start = Duration::from_secs(10);
    w.attacks[0].stop = Duration::from_secs(58);
    w.faults.push(Fault {
        at: Duration::from_secs(20),
        action: FaultAction::Crash("gw-eu-africa-1".into()),
    });
    w.faults.push(Fault {
        at: Duration::from_secs(30),
        action: FaultAction::Restart("gw-eu-africa-1".into()),
    });
    w
}

#[test]
fn recorded_connections_replayed_anywhere_are_refused() {
    let s = run(&replay_spec(7), pki(), &mut NoCache).expect("run");
    let r = &s.counters.attacks.replay;
    assert!(s.failures().is_empty(), "{:#?}\n{r:#?}", s.failures());
    assert_eq!(r.accepted, 0, "{r:#?}");
    for kind in ["device-hello", "device-resume", "app-hello"] {
        assert!(
            r.flows.get(kind).copied().unwrap_or(0) > 0,
            "{kind}: {r:#?}"
        );
    }
    assert!(r.flows_after_rekey > 0, "{r:#?}");
    for variant in VARIANT_NAMES {
        assert!(
            r.replays.get(variant).copied().unwrap_or(0) > 0,
            "{variant}: {r:#?}"
        );
    }
    for outcome in ["refused-hello", "refused-finish", "refused-record"] {
        assert!(
            r.outcomes.get(outcome).copied().unwrap_or(0) > 0,
            "{outcome}: {r:#?}"
        );
    }
    // The failover target, with a nonce cache of its own, answers a fresh-looking hello
    // and then refuses what follows.
    assert!(
        r.by_target
            .get("other-region refused-finish")
            .copied()
            .unwrap_or(0)
            > 0,
        "{r:#?}"
    );
}

/// The replay world with the attacker on the path of both eu-africa sites' gateway
/// sessions, and a camera firmware profile.
fn on_path_spec(seed: u64, flaws: DeviceFlaws) -> WorldSpec {
    let mut w = replay_spec(seed);
    w.attacks[0].sites = 2;
    // Gateways send a camera a record or two every 5 s: rekey often enough that a
    // session spared by the attacker moves to a new epoch within the attack.
    w.camera.rekey_after = Some(8);
    w.camera.flaws.device = flaws;
    w
}

#[test]
fn cameras_fail_sessions_whose_records_an_on_path_attacker_altered() {
    let s = run(
        &on_path_spec(7, DeviceFlaws::default()),
        pki(),
        &mut NoCache,
    )
    .expect("run");
    let c = &s.counters.attacks.replay.cameras;
    assert!(s.failures().is_empty(), "{:#?}\n{c:#?}", s.failures());
    for variant in [
        "replayed",
        "reordered",
        "truncated",
        "bit-flipped",
        "old-epoch",
        "other-session",
        "stale-hello",
    ] {
        assert!(
            c.tampered.get(variant).copied().unwrap_or(0) > 0,
            "{variant}: {c:#?}"
        );
    }
    assert_eq!(c.accepted, 0, "{c:#?}");
    // The reference camera answers every alteration with an alert.
    for variant in c.tampered.keys() {
        assert!(
            c.outcomes
                .get(&format!("{variant} refused"))
                .copied()
                .unwrap_or(0)
                > 0,
            "{variant}: {c:#?}"
        );
    }
    assert!(
        c.outcomes
            .keys()
            .all(|k| k.ends_with(" refused") || k.ends_with(" cut")),
        "{c:#?}"
    );
    // The zone outage at 20 s sent cameras to the other zone; the check counts sessions
    // that had rekeyed.
    assert!(c.after_rekey > 0, "{c:#?}");
}

#[test]
fn cameras_without_a_replay_check_take_replayed_records() {
    let flaws = DeviceFlaws {
        accept_replayed_records: true,
        ..DeviceFlaws::default()
    };
    let s = run(&on_path_spec(7, flaws), pki(), &mut NoCache).expect("run");
    let c = &s.counters.attacks.replay.cameras;
    assert!(
        c.outcomes.get("replayed accepted").copied().unwrap_or(0) > 0,
        "{c:#?}"
    );
    // Reordered, cut and flipped records still fail the session.
    for refused in ["reordered", "truncated", "bit-flipped"] {
        assert_eq!(
            c.outcomes.get(&format!("{refused} accepted")),
            None,
            "{c:#?}"
        );
    }
    assert!(
        checks(&s).contains(&"no-replay-accepted"),
        "{:#?}",
        s.failures()
    );
}

#[test]
fn cameras_that_drop_bad_records_and_carry_on_fail_the_check() {
    let flaws = DeviceFlaws {
        ignore_bad_records: true,
        ..DeviceFlaws::default()
    };
    let s = run(&on_path_spec(7, flaws), pki(), &mut NoCache).expect("run");
    let c = &s.counters.attacks.replay.cameras;
    // The first session each router alters (after the one it spares) gets a flipped bit,
    // which only this flaw takes.
    assert!(
        c.outcomes.get("bit-flipped accepted").copied().unwrap_or(0) > 0,
        "{c:#?}"
    );
    assert!(
        checks(&s).contains(&"no-replay-accepted"),
        "{:#?}",
        s.failures()
    );
}

const VARIANT_NAMES: [&str; 7] = [
    "as-is",
    "hello-only",
    "bit-flipped",
    "reordered",
    "truncated",
    "after-rekey",
    "late",
];

#[test]
fn a_gateway_that_forgets_hellos_and_reuses_tickets_takes_replayed_resumptions() {
    let mut w = replay_spec(7);
    w.attack_bugs.server = ServerFlaws {
        skip_nonce_cache: true,
        reusable_tickets: true,
        ..ServerFlaws::default()
    };
    let s = run(&w, pki(), &mut NoCache).expect("run");
    let r = &s.counters.attacks.replay;
    assert!(r.accepted > 0, "{r:#?}");
    assert!(
        r.findings.iter().any(|f| f.contains("device-resume")),
        "{r:#?}"
    );
    assert!(
        checks(&s).contains(&"no-replay-accepted"),
        "{:#?}",
        s.failures()
    );
}

#[test]
fn a_replayer_with_nothing_to_record_fails_its_check() {
    // No site in apac records nothing: the check must not pass vacuously.
    let mut w = replay_spec(8);
    w.sites = 1;
    w.attacks[0].region = "apac".into();
    w.faults.clear();
    w.duration = Duration::from_secs(30);
    w.attacks[0].stop = Duration::from_secs(30);
    let s = run(&w, pki(), &mut NoCache).expect("run");
    assert_eq!(s.counters.attacks.replay.replays.values().sum::<u64>(), 0);
    assert!(
        checks(&s).contains(&"no-replay-accepted"),
        "{:#?}",
        s.failures()
    );
}

/// A rogue firmware server for both eu-africa sites (four cameras) from 10 s to 40 s.
fn rogue_spec(seed: u64) -> WorldSpec {
    let mut spec = spec(seed, AttackKind::RogueFirmware);
    spec.attacks[0].start = Duration::from_secs(10);
    spec.attacks[0].stop = Duration::from_secs(40);
    spec.attacks[0].sites = 2;
    spec
}

#[test]
fn cameras_refuse_every_image_of_a_rogue_firmware_server() {
    let s = run(&rogue_spec(4), pki(), &mut NoCache).expect("run");
    let r = &s.counters.attacks.rogue;
    assert!(s.failures().is_empty(), "{:#?}\n{r:#?}", s.failures());
    assert!(
        s.checks.iter().any(|c| c.name() == "no-rogue-firmware"),
        "{:?}",
        s.checks
    );
    // Each of the four cameras behind a hijacked router was offered each image and
    // refused it for the reason that image was made to trip.
    for (kind, reason) in [
        ("tampered", "hash_mismatch"),
        ("unsigned", "bad_signature"),
        ("downgrade", "downgrade"),
        ("wrong-model", "wrong_model"),
    ] {
        assert_eq!(r.offered.get(kind), Some(&4), "{r:#?}");
        assert_eq!(
            r.refused.get(&format!("{kind}: {reason}")),
            Some(&4),
            "{r:#?}"
        );
    }
    assert!(r.installed.is_empty() && r.running.is_empty(), "{r:#?}");
    assert!(r.redirected >= 4, "{r:#?}");
    // The router handed the cameras back: all of them online at the end, on 1.0.0.
    assert_eq!(s.cameras_online, 8);
    assert_eq!(
        s.counters.fleet.firmware.get("1.0.0"),
        Some(&8),
        "{:?}",
        s.counters.fleet.firmware
    );
}

#[test]
fn cameras_that_skip_signature_or_rollback_checks_fail_no_rogue_firmware() {
    for (flaw, version) in [("unsigned", "1.2.0"), ("downgrade", "0.9.0")] {
        let mut spec = rogue_spec(4);
        match flaw {
            "unsigned" => spec.camera.flaws.accept_unsigned_ota = true,
            _ => spec.camera.flaws.accept_downgrade_ota = true,
        }
        let s = run(&spec, pki(), &mut NoCache).expect("run");
        assert_eq!(
            checks(&s),
            ["no-rogue-firmware"],
            "{flaw}: {:#?}",
            s.failures()
        );
        let r = &s.counters.attacks.rogue;
        assert_eq!(r.running.get(version), Some(&4), "{flaw}: {r:#?}");
    }
}

/// The catalog's hello flood with seed `seed`: one region, two sites rebooted at 25 s and
/// 50 s while two hosts without credentials flood its gateways from 5 s to 80 s.
fn flood_spec(seed: u64) -> WorldSpec {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/catalog/hello-flood.toml");
    let text = std::fs::read_to_string(path).expect("the catalog's hello-flood.toml");
    let mut w = camproof_scenarios::scenario::Scenario::parse("hello-flood.toml", &text)
        .expect("hello-flood.toml parses")
        .world;
    w.seed = seed;
    w
}

#[test]
fn a_hello_flood_locks_no_camera_out() {
    let s = run(&flood_spec(4), pki(), &mut NoCache).expect("run");
    let f = &s.counters.attacks.hello_flood;
    assert!(s.failures().is_empty(), "{:#?}\n{f:#?}", s.failures());
    assert!(f.sent.values().sum::<u64>() > 5_000, "{f:#?}");
    assert!(
        f.outcomes.get("answered").copied().unwrap_or(0) > 5_000,
        "{f:#?}"
    );
    assert_eq!(f.outcomes.get("busy"), None, "{f:#?}");
    // Both reboots brought all eight cameras back, each within the bound.
    assert!(f.camera_sessions >= 16, "{f:#?}");
    assert!(f.longest_wait_ms < 20_000, "{f:#?}");
    assert!(f.lockouts.is_empty());
    assert_eq!(s.cameras_online, 8);
}

#[test]
fn a_gateway_that_caches_unproven_hellos_locks_cameras_out() {
    let mut w = flood_spec(4);
    w.attack_bugs.server = ServerFlaws {
        cache_unproven_hellos: true,
        ..ServerFlaws::default()
    };
    let s = run(&w, pki(), &mut NoCache).expect("run");
    let f = &s.counters.attacks.hello_flood;
    assert!(
        checks(&s).contains(&"no-unauthenticated-lockout"),
        "{:#?}\n{f:#?}",
        s.failures()
    );
    assert!(
        f.outcomes.get("busy").copied().unwrap_or(0) > 1_000,
        "{f:#?}"
    );
    assert_eq!(f.peak_cached, f.capacity, "{f:#?}");
    assert!(!f.lockouts.is_empty(), "{f:#?}");
}

#[test]
fn a_hello_flood_with_no_camera_reconnecting_proves_nothing() {
    let mut w = flood_spec(5);
    w.faults.clear();
    w.duration = Duration::from_secs(40);
    w.attacks[0].start = Duration::from_secs(10);
    w.attacks[0].stop = Duration::from_secs(35);
    let s = run(&w, pki(), &mut NoCache).expect("run");
    let failure = s
        .failures()
        .iter()
        .find(|f| f.check.name() == "no-unauthenticated-lockout")
        .map(|f| f.detail.clone())
        .unwrap_or_default();
    assert!(failure.contains("proved nothing"), "{:#?}", s.failures());
}

#[test]
fn a_hello_flood_too_weak_to_fill_the_cache_is_refused() {
    let mut w = flood_spec(1);
    w.attacks[0].rate = 30;
    let e = Plan::new(w).map(|_| ()).unwrap_err().to_string();
    assert!(
        e.contains("fewer than the nonce cache's 2000 randoms"),
        "{e}"
    );
    assert!(e.contains("rate = 37 or more"), "{e}");
}
