//! The summary of a run for people: the lines `camproof run` prints, its verdict, and
//! every check with whether it was made.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use camproof_results::count;

use crate::check_id::CheckId;
use crate::scenario::Scenario;
use crate::world::{Failure, RunSummary};

fn ms(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.2} ms", d.as_secs_f64() * 1000.0))
        .unwrap_or_else(|| "n/a".into())
}

/// The run's summary for people, one line per subsystem, as `camproof run` prints it.
pub fn summary_text(scenario: &Scenario, s: &RunSummary, wall: Duration) -> String {
    let mut out = String::new();
    let w = &scenario.world;
    let _ = writeln!(
        out,
        "camproof run {} (seed {}): {} in {}, {} x {}, {} simulated",
        scenario.name,
        s.seed,
        count(s.cameras, "camera"),
        count(w.sites, "site"),
        count(w.regions.len(), "region"),
        count(w.zones_per_region, "zone"),
        humantime::format_duration(s.simulated)
    );

    let by_region: Vec<String> = s
        .online_by_region
        .iter()
        .map(|(r, (on, all))| format!("{r} {on}/{all}"))
        .collect();
    let _ = writeln!(
        out,
        "  cameras online   {}/{} at the end ({})",
        s.cameras_online,
        s.cameras,
        by_region.join(", ")
    );
    let failures: u64 = s.counters.gateways.failures.values().sum();
    let _ = writeln!(
        out,
        "  sessions         {} full handshakes, {} resumed; {} connect attempts, {} failed",
        s.counters.gateways.handshakes,
        s.counters.gateways.resumptions,
        s.counters.fleet.connect_attempts,
        s.counters.fleet.failures + failures
    );
    let _ = writeln!(
        out,
        "  heartbeats       {} sent, {} acknowledged",
        s.counters.fleet.heartbeats_sent, s.counters.fleet.heartbeats_acked
    );
    let _ = writeln!(
        out,
        "  video            {} of {} frames reached a gateway ({:.1} MB); latency p50 {}, p99 {}",
        s.counters.gateways.video_frames,
        s.counters.fleet.frames_sent,
        s.counters.gateways.video_bytes as f64 / 1e6,
        ms(s.latency_p50),
        ms(s.latency_p99)
    );
    let v = &s.counters.viewers;
    let rejected: u64 = v.frames_rejected.values().sum();
    let _ = writeln!(
        out,
        "  viewers          {} sign-ins ({} asked for the one-time code, {} refused); {} live views, {} frames verified end to end, {} rejected, {} lost; latency p50 {}, p99 {}",
        v.logins,
        v.second_factor_prompts,
        v.login_refusals.values().sum::<u64>(),
        v.live_views,
        v.frames_verified,
        rejected,
        v.frames_lost,
        ms(s.live_latency_p50),
        ms(s.live_latency_p99)
    );
    let _ = writeln!(
        out,
        "  signaling        {} commands relayed, {} answered, {} timed out; {} authorization codes, {} refused, {} not found",
        s.counters.signaling.forwarded,
        s.counters.signaling.answered,
        s.counters.signaling.timeouts,
        s.counters.signaling.codes_issued,
        s.counters.signaling.unauthorized,
        s.counters.signaling.not_found
    );
    let _ = writeln!(
        out,
        "  relay            {} frames in, {} out ({:.1} MB out), {} dropped; longest held {}",
        s.counters.relay.core.frames_in,
        s.counters.relay.core.frames_out,
        s.counters.relay.core.bytes_out as f64 / 1e6,
        s.counters.relay.core.dropped_overflow + s.counters.relay.core.dropped_expired,
        ms(Some(Duration::from_micros(s.counters.relay.max_held_us)))
    );
    store_lines(&mut out, s);
    let verdicts: Vec<String> = s
        .checks
        .iter()
        .filter(|c| **c != CheckId::Liveness)
        .map(|c| {
            let ok = !s.invariants.iter().any(|f| f.check == *c);
            format!("{c} {}", if ok { "ok" } else { "VIOLATED" })
        })
        .collect();
    let _ = writeln!(out, "  invariants       {}", verdicts.join(", "));
    for v in &s.counters.store.violations {
        let _ = writeln!(out, "  violation        {v}");
    }
    if let Some(ota) = &s.counters.ota {
        let firmware: Vec<String> = s
            .counters
            .fleet
            .firmware
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(v, n)| format!("{v}: {n}"))
            .collect();
        let _ = writeln!(
        out,
            "  ota              {} offered, {} installed, {} refused, {} failed; {} downloads interrupted; cameras now run {}",
            ota.offered,
            ota.installed,
            ota.refused,
            ota.failed,
            s.counters.fleet.ota_interrupted,
            firmware.join(", ")
        );
    }
    for (at, fault) in &s.faults {
        let _ = writeln!(
            out,
            "  fault            at {}: {fault:?}",
            humantime::format_duration(*at)
        );
    }
    attack_lines(&mut out, &s.counters.attacks);
    wire_and_alert_lines(&mut out, s);
    let _ = writeln!(
        out,
        "  trace            {} events, sha256 {}",
        s.trace_events, s.trace_hash
    );
    let ratio = s.simulated.as_secs_f64() / wall.as_secs_f64().max(1e-9);
    let _ = writeln!(
        out,
        "  speed            {:.1} s wall for {} simulated ({ratio:.1}x real time)",
        wall.as_secs_f64(),
        humantime::format_duration(s.simulated)
    );
    out
}

/// The attackers' lines of the summary (none without attackers).
fn attack_lines(out: &mut String, a: &crate::attack::AttackSummary) {
    if a.hosts > 0 {
        let join = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let total = |m: &BTreeMap<String, u64>| m.values().sum::<u64>();
        let _ = writeln!(out, "  attackers        {} hosts", a.hosts);
        if a.stuffing.attempts > 0 {
            let _ = writeln!(
                out,
                "    stuffing       {} leaked pairs tried: {}; {} breaches",
                a.stuffing.attempts,
                join(&a.stuffing.outcomes),
                a.stuffing.breaches.len()
            );
        }
        if total(&a.botnet.attempts) > 0 {
            let _ = writeln!(
                out,
                "    botnet         {} connections; refused: {}; went along: {}; unanswered {}",
                total(&a.botnet.attempts),
                join(&a.botnet.refused),
                join(&a.botnet.accepted),
                total(&a.botnet.unanswered)
            );
        }
        if total(&a.hello_flood.sent) > 0 {
            let f = &a.hello_flood;
            let _ = writeln!(
                out,
                "    hello flood    {} hellos without credentials ({}): {}; nonce cache peak {} of {} per partition; {} camera sessions during floods, longest wait {:.1} s, {} locked out",
                total(&f.sent),
                join(&f.sent),
                join(&f.outcomes),
                f.peak_cached,
                f.capacity,
                f.camera_sessions,
                f.longest_wait_ms as f64 / 1000.0,
                f.lockouts.len()
            );
        }
        if total(&a.probing.probes) > 0 {
            let _ = writeln!(
        out,
                "    prober         {} probes of other tenants: refused {}; own stream admitted {} times; {} breaches",
                total(&a.probing.probes),
                join(&a.probing.refused),
                a.probing.own_admitted,
                a.probing.breaches.len()
            );
        }
        if total(&a.replay.replays) > 0 {
            let _ = writeln!(
        out,
                "    replayer       {} recorded connections ({} after a rekey, {} failed over); {} replays: {}; {} accepted",
                total(&a.replay.flows),
                a.replay.flows_after_rekey,
                a.replay.flows_failed_over,
                total(&a.replay.replays),
                join(&a.replay.outcomes),
                a.replay.accepted
            );
        }
        let c = &a.replay.cameras;
        if total(&c.tampered) > 0 {
            let _ = writeln!(
        out,
                "    on-path        {} camera sessions altered ({} after a rekey, {} failed over): {}; cameras: {}; {} accepted",
                total(&c.tampered),
                c.after_rekey,
                c.failed_over,
                join(&c.tampered),
                join(&c.outcomes),
                c.accepted
            );
        }
        if a.rogue.redirected > 0 {
            let r = &a.rogue;
            let _ = writeln!(
        out,
                "    rogue server   {} connections redirected, {} camera sessions; offered {}; refused {}; installed {}; cameras on rogue firmware at the end: {}",
                r.redirected,
                r.sessions,
                join(&r.offered),
                join(&r.refused),
                total(&r.installed),
                total(&r.running)
            );
        }
        let _ = writeln!(
            out,
            "    real users     {} sign-ins during attacks, {} refused",
            a.legit.ok,
            total(&a.legit.refused)
        );
    }
}

/// The wire tap's line and one line per alert.
fn wire_and_alert_lines(out: &mut String, s: &RunSummary) {
    let w = &s.counters.wire;
    if w.scanned {
        let _ = writeln!(
            out,
            "  wire             {} segments, {:.1} MB tapped; scanned for {} secrets: {}",
            w.segments,
            w.bytes as f64 / 1e6,
            w.secrets,
            match w.leaks.len() {
                0 => "none in clear".to_string(),
                n => format!("{n} found in clear"),
            }
        );
    } else {
        let _ = writeln!(
            out,
            "  wire             {} segments, {:.1} MB tapped; not scanned",
            w.segments,
            w.bytes as f64 / 1e6
        );
    }
    if s.alerts.is_empty() {
        let _ = writeln!(out, "  alerts           none");
    }
    for a in &s.alerts {
        let since = |t: camproof_protocol::Timestamp| {
            humantime::format_duration(Duration::from_secs(
                t.as_secs().saturating_sub(crate::world::EPOCH_SECS),
            ))
        };
        let _ = writeln!(
            out,
            "  alert            {} on {} ({}): cause began at {}, fired at {}{} ({})",
            a.kind,
            a.host,
            a.service,
            since(a.began),
            since(a.fired),
            a.resolved
                .map(|r| format!(", resolved at {}", since(r)))
                .unwrap_or_default(),
            a.detail
        );
    }
}

/// The run's verdict: `pass`, or `fail (check, check)` naming each failed check once
/// per run of equal names, in the order of `failures`.
pub fn verdict(failures: &[Failure]) -> String {
    if failures.is_empty() {
        return "pass".to_string();
    }
    let mut checks: Vec<&str> = failures.iter().map(|f| f.check.name()).collect();
    checks.dedup();
    format!("fail ({})", checks.join(", "))
}

/// Checks a run makes only when they apply, with why one was not made.
pub const OPTIONAL_CHECKS: [(&str, &str); 10] = [
    (
        "streams-resume",
        "no live viewers, or the run is shorter than 90 s",
    ),
    (
        "no-plaintext-secret",
        "the wire was not scanned (--no-wire-scan)",
    ),
    (
        "no-credential-breach",
        "no credential-stuffing attack in this scenario",
    ),
    (
        "no-cross-tenant-access",
        "no cross-tenant attack in this scenario",
    ),
    ("no-replay-accepted", "no replay attack in this scenario"),
    (
        "no-rogue-firmware",
        "no rogue-firmware attack in this scenario",
    ),
    (
        "ota-rollout-complete",
        "no OTA rollout in this scenario, or it starts less than 90 s before the end",
    ),
    ("logins-during-attack", "no attack in this scenario"),
    (
        "fail-stop-storage",
        "no disk fault (corrupt, disk_readonly, disk_full) in this scenario",
    ),
    (
        "no-unauthenticated-lockout",
        "no hello-flood attack in this scenario",
    ),
];

/// What became of one check in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Made, and it held.
    Pass,
    /// Made, and it failed.
    Fail,
    /// Not made, with why not.
    NotMade(String),
}

/// Every check of the run, made (pass or fail) or not made: the checks the world made,
/// in its order, then the optional ones it had no cause to make, then any failed check
/// neither list knows.
pub fn check_outcomes(s: &RunSummary, failures: &[Failure]) -> Vec<(String, CheckOutcome)> {
    let mut list: Vec<(String, Option<String>)> =
        s.checks.iter().map(|c| (c.to_string(), None)).collect();
    for (name, why) in OPTIONAL_CHECKS {
        if !s.checks.iter().any(|c| c.name() == name) {
            list.push((name.to_string(), Some(why.to_string())));
        }
    }
    // A check the world makes that this list does not know yet still gets its case.
    for f in failures {
        if !list.iter().any(|(c, _)| c == f.check.name()) {
            list.push((f.check.to_string(), None));
        }
    }
    list.into_iter()
        .map(|(name, not_made)| {
            let failed = failures.iter().any(|f| f.check.name() == name);
            let outcome = match (failed, not_made) {
                (true, _) => CheckOutcome::Fail,
                (false, Some(why)) => CheckOutcome::NotMade(why),
                (false, None) => CheckOutcome::Pass,
            };
            (name, outcome)
        })
        .collect()
}

/// The store's lines of the summary: what it acknowledged and, when any, what the
/// services dropped unwritten.
fn store_lines(out: &mut String, s: &RunSummary) {
    let _ = writeln!(
        out,
        "  store            {} records acknowledged by a majority of zones in {} batches, {} batches retried; {} leaders elected; {} accounts erased",
        s.counters.store.writes_acked, s.counters.store.batches_acked, s.counters.store.writes_failed, s.counters.store.leaders, s.counters.signaling.erasures
    );
    if s.counters.signaling.writes_dropped > 0 {
        let _ = writeln!(
            out,
            "  store            {} writes DROPPED unwritten: the services' queue for the store was full",
            s.counters.signaling.writes_dropped
        );
    }
}
