//! `camproof run`: build the world of a scenario, run it in turmoil, report.
#![allow(clippy::disallowed_methods)] // Wall-clock time here measures the host, not the run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use camproof_protocol::pki::KeyCache;
use camproof_scenarios::checks::CheckId;
use camproof_scenarios::plan::Plan;
use camproof_scenarios::scenario::{parse_duration, Scenario};
use camproof_scenarios::world::{self, RunSummary};

/// What `camproof run` was asked to do.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The scenario file (see scenarios/catalog/).
    pub scenario: PathBuf,
    /// Seed of the run; same seed, same trace hash.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The world's size and length, overriding the file.
    #[command(flatten)]
    pub overrides: Overrides,
    /// Directory for the reports: result.json, report.md, report.html, junit.xml.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Keep every TCP segment to or from these hosts (comma-separated host names, or
    /// `region:<name>`) and write them to OUT/capture.pcap; needs --out.
    #[arg(long, value_delimiter = ',', requires = "out", value_name = "HOSTS")]
    pub pcap: Vec<String>,
    /// Seed of the test PKI; kept apart from --seed so sweeps reuse cached keys.
    #[arg(long, default_value_t = 1)]
    pub pki_seed: u64,
    /// Do not scan the simulated wire for the run's secrets (faster for big video runs;
    /// the no-plaintext-secret check is then not made).
    #[arg(long)]
    pub no_wire_scan: bool,
}

/// Runs one scenario; exit code 0 pass, 1 liveness failure.
pub fn run(args: RunArgs, mut cache: Box<dyn KeyCache>) -> Result<ExitCode> {
    let mut scenario = load(&args.scenario, args.seed, &args.overrides)?;
    let spec = &mut scenario.world;
    spec.wire.scan = !args.no_wire_scan;
    for host in &args.pcap {
        ensure!(
            spec.resolve_target(host).is_some(),
            "--pcap {host:?}: no such host in this world (hosts: {}; or region:<name>)",
            spec.gateway_names()
                .into_iter()
                .chain(spec.site_names())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    spec.wire.capture = args.pcap.clone();

    let pki = crate::keycache::platform_pki(args.pki_seed, cache.as_mut())?;
    let started = Instant::now();
    let plan = Plan::new(spec.clone()).context("checking the world")?;
    let summary = world::run(&plan, &pki, cache.as_mut()).context("running the world")?;
    let wall = started.elapsed();

    print_summary(&scenario, &summary, wall);
    let failures = summary.failures();
    let passed = failures.is_empty();
    let verdict = if passed {
        "pass".to_string()
    } else {
        let mut checks: Vec<&str> = failures.iter().map(|f| f.check.name()).collect();
        checks.dedup();
        format!("fail ({})", checks.join(", "))
    };
    let mut again = reproduce(&args.scenario, args.seed, &args.overrides);
    if args.pki_seed != 1 {
        again += &format!(" --pki-seed {}", args.pki_seed);
    }
    if args.no_wire_scan {
        again += " --no-wire-scan";
    }
    if let Some(out) = &args.out {
        let mut report = crate::report_cmd::run_report(
            &scenario,
            &args.scenario,
            &summary,
            wall,
            &verdict,
            again.clone(),
        );
        if !args.pcap.is_empty() {
            report.capture = Some(crate::report_cmd::write_capture(out, &summary, &args.pcap)?);
        }
        write_result(out, &report)?;
    }
    println!("result: {verdict}");
    println!("reproduce: {again}");
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Options that override a scenario file's world, for runs at scale.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// Total cameras, spread over the scenario's sites (overrides the file).
    #[arg(long)]
    pub cameras: Option<u64>,
    /// Customer sites, spread over the scenario's regions (overrides the file). Each
    /// site's account holds at most 256 cameras: 10,000 cameras need 40 sites.
    #[arg(long)]
    pub sites: Option<u32>,
    /// Simulated duration such as 90s or 10m (overrides the file).
    #[arg(long)]
    pub duration: Option<String>,
}

impl Overrides {
    /// The options as given, each with a leading space (` --cameras N --sites S`).
    pub fn flags(&self) -> String {
        let mut out = String::new();
        if let Some(c) = self.cameras {
            out += &format!(" --cameras {c}");
        }
        if let Some(s) = self.sites {
            out += &format!(" --sites {s}");
        }
        if let Some(d) = &self.duration {
            out += &format!(" --duration {d}");
        }
        out
    }
}

/// The `camproof run` command that repeats one run of `scenario`.
pub fn reproduce(scenario: &Path, seed: u64, overrides: &Overrides) -> String {
    format!(
        "camproof run {} --seed {seed}{}",
        scenario.display(),
        overrides.flags()
    )
}

/// Reads and checks a scenario file and applies the command line's overrides; the
/// result is checked again as a plan, so an override can drop nothing.
pub fn load(path: &Path, seed: u64, overrides: &Overrides) -> Result<Scenario> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading scenario {}", path.display()))?;
    let mut scenario = Scenario::parse(&path.display().to_string(), &text)?;
    scenario.world.seed = seed;
    let duration = match overrides.duration.as_deref() {
        None => None,
        Some(d) => Some(
            parse_duration(d)
                .filter(|d| !d.is_zero())
                .with_context(|| {
                    format!("--duration {d:?}: expected a duration such as 90s or 10m")
                })?,
        ),
    };
    let apply = camproof_scenarios::overrides::Overrides {
        cameras: overrides.cameras,
        sites: overrides.sites,
        duration,
    };
    if !apply.is_empty() {
        scenario.world = apply.apply(scenario.world, &overrides.flags())?.into_spec();
    }
    Ok(scenario)
}

fn ms(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.2} ms", d.as_secs_f64() * 1000.0))
        .unwrap_or_else(|| "n/a".into())
}

fn print_summary(scenario: &Scenario, s: &RunSummary, wall: Duration) {
    let w = &scenario.world;
    println!(
        "camproof run {} (seed {}): {} cameras in {} sites, {} regions x {} zones, {} simulated",
        scenario.name,
        s.seed,
        s.cameras,
        w.sites,
        w.regions.len(),
        w.zones_per_region,
        humantime::format_duration(s.simulated)
    );
    let by_region: Vec<String> = s
        .online_by_region
        .iter()
        .map(|(r, (on, all))| format!("{r} {on}/{all}"))
        .collect();
    println!(
        "  cameras online   {}/{} at the end ({})",
        s.cameras_online,
        s.cameras,
        by_region.join(", ")
    );
    let failures: u64 = s.gateways.failures.values().sum();
    println!(
        "  sessions         {} full handshakes, {} resumed; {} connect attempts, {} failed",
        s.gateways.handshakes,
        s.gateways.resumptions,
        s.fleet.connect_attempts,
        s.fleet.failures + failures
    );
    println!(
        "  heartbeats       {} acknowledged",
        s.fleet.heartbeats_acked
    );
    println!(
        "  video            {} of {} frames reached a gateway ({:.1} MB); latency p50 {}, p99 {}",
        s.gateways.video_frames,
        s.fleet.frames_sent,
        s.gateways.video_bytes as f64 / 1e6,
        ms(s.latency_p50),
        ms(s.latency_p99)
    );
    let v = &s.viewers;
    let rejected: u64 = v.frames_rejected.values().sum();
    println!(
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
    println!(
        "  signaling        {} commands relayed, {} answered, {} timed out; {} authorization codes, {} refused, {} not found",
        s.signaling.forwarded,
        s.signaling.answered,
        s.signaling.timeouts,
        s.signaling.codes_issued,
        s.signaling.unauthorized,
        s.signaling.not_found
    );
    println!(
        "  relay            {} frames in, {} out ({:.1} MB out), {} dropped; longest held {}",
        s.relay.core.frames_in,
        s.relay.core.frames_out,
        s.relay.core.bytes_out as f64 / 1e6,
        s.relay.core.dropped_overflow + s.relay.core.dropped_expired,
        ms(Some(Duration::from_micros(s.relay.max_held_us)))
    );
    println!(
        "  store            {} records acknowledged by a majority of zones in {} batches, {} batches retried; {} leaders elected; {} accounts erased",
        s.store.writes_acked, s.store.batches_acked, s.store.writes_failed, s.store.leaders, s.signaling.erasures
    );
    let verdicts: Vec<String> = s
        .checks
        .iter()
        .filter(|c| **c != CheckId::Liveness)
        .map(|c| {
            let ok = !s.invariants.iter().any(|f| f.check == *c);
            format!("{c} {}", if ok { "ok" } else { "VIOLATED" })
        })
        .collect();
    println!("  invariants       {}", verdicts.join(", "));
    for v in &s.store.violations {
        println!("  violation        {v}");
    }
    if let Some(ota) = &s.ota {
        let firmware: Vec<String> = s
            .fleet
            .firmware
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(v, n)| format!("{v}: {n}"))
            .collect();
        println!(
            "  ota              {} offered, {} installed, {} refused, {} failed; {} downloads interrupted; cameras now run {}",
            ota.offered,
            ota.installed,
            ota.refused,
            ota.failed,
            s.fleet.ota_interrupted,
            firmware.join(", ")
        );
    }
    for (at, fault) in &s.faults {
        println!(
            "  fault            at {}: {fault:?}",
            humantime::format_duration(*at)
        );
    }
    let a = &s.attacks;
    if a.hosts > 0 {
        let join = |m: &std::collections::BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let total = |m: &std::collections::BTreeMap<String, u64>| m.values().sum::<u64>();
        println!("  attackers        {} hosts", a.hosts);
        if a.stuffing.attempts > 0 {
            println!(
                "    stuffing       {} leaked pairs tried: {}; {} breaches",
                a.stuffing.attempts,
                join(&a.stuffing.outcomes),
                a.stuffing.breaches.len()
            );
        }
        if total(&a.botnet.attempts) > 0 {
            println!(
                "    botnet         {} connections; refused: {}; went along: {}; unanswered {}",
                total(&a.botnet.attempts),
                join(&a.botnet.refused),
                join(&a.botnet.accepted),
                total(&a.botnet.unanswered)
            );
        }
        if total(&a.probing.probes) > 0 {
            println!(
                "    prober         {} probes of other tenants: refused {}; own stream admitted {} times; {} breaches",
                total(&a.probing.probes),
                join(&a.probing.refused),
                a.probing.own_admitted,
                a.probing.breaches.len()
            );
        }
        if total(&a.replay.replays) > 0 {
            println!(
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
            println!(
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
            println!(
                "    rogue server   {} connections redirected, {} camera sessions; offered {}; refused {}; installed {}; cameras on rogue firmware at the end: {}",
                r.redirected,
                r.sessions,
                join(&r.offered),
                join(&r.refused),
                total(&r.installed),
                total(&r.running)
            );
        }
        println!(
            "    real users     {} sign-ins during attacks, {} refused",
            a.legit.ok,
            total(&a.legit.refused)
        );
    }
    let w = &s.wire;
    if w.scanned {
        println!(
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
        println!(
            "  wire             {} segments, {:.1} MB tapped; not scanned",
            w.segments,
            w.bytes as f64 / 1e6
        );
    }
    if s.alerts.is_empty() {
        println!("  alerts           none");
    }
    for a in &s.alerts {
        let since = |t: camproof_protocol::Timestamp| {
            humantime::format_duration(Duration::from_secs(
                t.as_secs().saturating_sub(world::EPOCH_SECS),
            ))
        };
        println!(
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
    println!(
        "  trace            {} events, sha256 {}",
        s.trace_events, s.trace_hash
    );
    let ratio = s.simulated.as_secs_f64() / wall.as_secs_f64().max(1e-9);
    println!(
        "  speed            {:.1} s wall for {} simulated ({ratio:.1}x real time)",
        wall.as_secs_f64(),
        humantime::format_duration(s.simulated)
    );
}

/// Writes the run's reports into `out`: result.json (camproof.run/2), report.md,
/// report.html and junit.xml.
fn write_result(out: &Path, report: &camproof_reports::RunReport) -> Result<()> {
    let files = camproof_reports::run_files(report).context("rendering the reports")?;
    crate::report_cmd::write_files(out, &files)
}
