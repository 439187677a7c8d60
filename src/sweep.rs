//! `camproof sweep`: one scenario over many seeds, in parallel, sharded across machines,
//! with failing runs shrunk to a small scenario that still fails; `camproof report
//! merge` joins the shards' results.
#![allow(clippy::disallowed_methods)] // Wall-clock time here measures the host, not the run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use camproof_protocol::pki::TestPki;
use camproof_scenarios::plan::Plan;
use camproof_scenarios::scenario::Scenario;
use camproof_scenarios::world::{self, WorldSpec};
use indicatif::{ProgressBar, ProgressStyle};

pub use camproof_reports::{SeedRun, SweepReport, SWEEP_SCHEMA};

/// Most runs one shrink may spend.
const SHRINK_BUDGET: usize = 200;

/// A bug planted in the platform on purpose, to show the checks catch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Plant {
    /// The store leader acknowledges a write before a majority holds it.
    AckBeforeReplication,
    /// Store replicas grant every vote (two leaders can share a term).
    GrantEveryVote,
    /// Alert rules wait 5 minutes before firing (a hold in the wrong unit).
    SlowAlerts,
    /// The viewer app sends its password in clear before signing in.
    AppLeaksPassword,
    /// The registry answers for devices without checking who owns them.
    SkipOwnershipCheck,
    /// A right password from an unusual place signs in without the second factor.
    UnusualLoginAccepted,
    /// A locked account refuses its owner too, from everywhere.
    LockoutEverywhere,
    /// Gateways forget the hellos they saw and take a resumption ticket again.
    ReplayableResumption,
    /// Cameras install a cloud OTA image without any check (signature, hash, model, floor).
    AcceptUnsignedOta,
    /// Cameras install a vendor-signed image below their rollback floor.
    AcceptDowngradeOta,
    /// The OTA services serve image parts from one byte past the offset asked for.
    OtaChunkOffByOne,
    /// Cameras take a record whose sequence number they already saw (no replay check).
    AcceptReplayedRecords,
    /// Cameras drop a record that fails to open and keep the session.
    IgnoreBadRecords,
}

impl Plant {
    /// Plants the bug in a world.
    fn apply(self, spec: &mut WorldSpec) {
        match self {
            Plant::AckBeforeReplication => spec.store_bugs.ack_before_replication = true,
            Plant::GrantEveryVote => spec.store_bugs.grant_every_vote = true,
            Plant::SlowAlerts => spec.world_bugs.slow_alerts = true,
            Plant::AppLeaksPassword => spec.world_bugs.app_leaks_password = true,
            Plant::SkipOwnershipCheck => spec.attack_bugs.registry.skip_ownership_check = true,
            Plant::UnusualLoginAccepted => spec.attack_bugs.accounts.unusual_login_accepted = true,
            Plant::LockoutEverywhere => spec.attack_bugs.accounts.lockout_everywhere = true,
            Plant::ReplayableResumption => {
                spec.attack_bugs.server.skip_nonce_cache = true;
                spec.attack_bugs.server.reusable_tickets = true;
            }
            Plant::AcceptUnsignedOta => spec.camera.flaws.accept_unsigned_ota = true,
            Plant::AcceptDowngradeOta => spec.camera.flaws.accept_downgrade_ota = true,
            Plant::OtaChunkOffByOne => spec.world_bugs.ota_chunk_off_by_one = true,
            Plant::AcceptReplayedRecords => spec.camera.flaws.device.accept_replayed_records = true,
            Plant::IgnoreBadRecords => spec.camera.flaws.device.ignore_bad_records = true,
        }
    }

    fn flag(self) -> &'static str {
        match self {
            Plant::AckBeforeReplication => "ack-before-replication",
            Plant::GrantEveryVote => "grant-every-vote",
            Plant::SlowAlerts => "slow-alerts",
            Plant::AppLeaksPassword => "app-leaks-password",
            Plant::SkipOwnershipCheck => "skip-ownership-check",
            Plant::UnusualLoginAccepted => "unusual-login-accepted",
            Plant::LockoutEverywhere => "lockout-everywhere",
            Plant::ReplayableResumption => "replayable-resumption",
            Plant::AcceptUnsignedOta => "accept-unsigned-ota",
            Plant::AcceptDowngradeOta => "accept-downgrade-ota",
            Plant::OtaChunkOffByOne => "ota-chunk-off-by-one",
            Plant::AcceptReplayedRecords => "accept-replayed-records",
            Plant::IgnoreBadRecords => "ignore-bad-records",
        }
    }
}

/// What `camproof sweep` was asked to do.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Seeds to run: A..B (both included) or one seed.
    #[arg(long, default_value = "1..20")]
    pub seeds: String,
    /// Worker threads (each runs whole worlds).
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Run only shard K of N (K/N): every N-th seed from the K-th.
    #[arg(long)]
    pub shard: Option<String>,
    /// The world's size and length, overriding the file.
    #[command(flatten)]
    pub overrides: crate::run::Overrides,
    /// Directory for sweep.json and shrunk scenarios.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Shrink the first failing seed to a smaller scenario that still fails.
    #[arg(long)]
    pub shrink: bool,
    /// Plant a bug in the platform, to see the checks catch it.
    #[arg(long, value_enum)]
    pub plant: Option<Plant>,
    /// Seed of the test PKI.
    #[arg(long, default_value_t = 1)]
    pub pki_seed: u64,
    /// Directory for cached test keys [default: $CAMPROOF_KEY_CACHE, else ~/.cache/camproof/keys].
    #[arg(long)]
    pub key_cache: Option<PathBuf>,
    /// Generate every key afresh and cache nothing.
    #[arg(long)]
    pub no_key_cache: bool,
}

/// Parses `A..B` (both included) or `N`.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>> {
    let bad = || format!("--seeds {text:?}: expected A..B (both included) or one seed");
    let (a, b) = match text.split_once("..") {
        Some((a, b)) => (a.trim(), b.trim().trim_start_matches('=')),
        None => (text.trim(), text.trim()),
    };
    let a: u64 = a.parse().with_context(bad)?;
    let b: u64 = b.parse().with_context(bad)?;
    ensure!(a <= b, "--seeds {text:?}: the first seed is after the last");
    ensure!(
        b - a < 1_000_000,
        "--seeds {text:?}: at most a million seeds"
    );
    Ok((a..=b).collect())
}

/// Parses `K/N` (1 ≤ K ≤ N).
pub fn parse_shard(text: &str) -> Result<(usize, usize)> {
    let bad = || format!("--shard {text:?}: expected K/N with 1 <= K <= N, such as 2/8");
    let (k, n) = text.split_once('/').with_context(bad)?;
    let k: usize = k.trim().parse().with_context(bad)?;
    let n: usize = n.trim().parse().with_context(bad)?;
    if k == 0 || n == 0 || k > n {
        bail!(bad());
    }
    Ok((k, n))
}

/// The seeds of shard `k` of `n`: every n-th seed from the k-th, so each shard gets a
/// spread of the range.
pub fn shard_of(seeds: &[u64], k: usize, n: usize) -> Vec<u64> {
    seeds
        .iter()
        .enumerate()
        .filter(|(i, _)| i % n == k - 1)
        .map(|(_, s)| *s)
        .collect()
}

/// The outcome of one world run: the failed checks as `check: detail`.
fn run_once(spec: &WorldSpec, pki: &TestPki, args: &SweepArgs) -> Result<(Vec<String>, String)> {
    let mut cache = crate::keycache::open(args.key_cache.clone(), args.no_key_cache);
    let plan = Plan::new(spec.clone()).context("checking the world")?;
    let summary = world::run(&plan, pki, cache.as_mut()).context("running the world")?;
    let failures = summary
        .failures()
        .into_iter()
        .map(|f| format!("{}: {}", f.check, f.detail))
        .collect();
    Ok((failures, summary.trace_hash))
}

/// The command that repeats one seed: `camproof run`, or with a planted bug (which
/// only `sweep` can plant) `camproof sweep` of that one seed.
fn reproduce(args: &SweepArgs, seed: u64) -> String {
    let pki = if args.pki_seed == 1 {
        String::new()
    } else {
        format!(" --pki-seed {}", args.pki_seed)
    };
    let command = match args.plant {
        None => crate::run::reproduce(&args.scenario, seed, &args.overrides),
        Some(p) => format!(
            "camproof sweep {} --seeds {seed} --plant {}{}",
            args.scenario.display(),
            p.flag(),
            args.overrides.flags()
        ),
    };
    command + &pki
}

/// Runs the sweep; exit code 0 if every seed passed, 1 otherwise.
pub fn sweep(args: SweepArgs) -> Result<ExitCode> {
    ensure!(args.jobs >= 1, "--jobs must be at least 1");
    let all = parse_seeds(&args.seeds)?;
    let (k, n) = match &args.shard {
        Some(s) => parse_shard(s)?,
        None => (1, 1),
    };
    let seeds = shard_of(&all, k, n);
    let mut base = crate::run::load(&args.scenario, 0, &args.overrides)?;
    if let Some(p) = args.plant {
        p.apply(&mut base.world);
    }
    let mut cache = crate::keycache::open(args.key_cache.clone(), args.no_key_cache);
    let pki = crate::keycache::platform_pki(args.pki_seed, cache.as_mut())?;

    println!(
        "camproof sweep {}: {} seeds{} on {} threads{}",
        base.name,
        seeds.len(),
        if n > 1 {
            format!(" (shard {k}/{n} of {})", all.len())
        } else {
            String::new()
        },
        args.jobs,
        args.plant
            .map(|p| format!(", planted bug {}", p.flag()))
            .unwrap_or_default()
    );
    let started = Instant::now();
    let bar = ProgressBar::new(seeds.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {msg} [{elapsed} < {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let results: Mutex<Vec<SeedRun>> = Mutex::new(Vec::new());
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..args.jobs.min(seeds.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else { break };
                let mut spec = base.world.clone();
                spec.seed = seed;
                let t = Instant::now();
                match run_once(&spec, &pki, &args) {
                    Ok((failures, trace_hash)) => {
                        let run = SeedRun {
                            seed,
                            verdict: if failures.is_empty() { "pass" } else { "fail" }.into(),
                            failures,
                            trace_hash,
                            wall_seconds: t.elapsed().as_secs_f64(),
                            reproduce: reproduce(&args, seed),
                        };
                        if run.verdict == "fail" {
                            failed.fetch_add(1, Ordering::Relaxed);
                            // `suspend`, not `println`: a hidden bar (no terminal)
                            // would swallow the line.
                            bar.suspend(|| {
                                println!(
                                    "FAIL seed {seed}: {}\n     reproduce: {}",
                                    run.failures.join("; "),
                                    run.reproduce
                                )
                            });
                        }
                        if let Ok(mut r) = results.lock() {
                            r.push(run);
                        }
                    }
                    Err(e) => {
                        bar.suspend(|| eprintln!("ERROR seed {seed}: {e:#}"));
                        if let Ok(mut errs) = errors.lock() {
                            errs.push(format!("seed {seed}: {e:#}"));
                        }
                    }
                }
                bar.set_message(format!("{} failed", failed.load(Ordering::Relaxed)));
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    let errors = errors.into_inner().unwrap_or_default();
    ensure!(
        errors.is_empty(),
        "runs could not complete: {}",
        errors.join("; ")
    );
    let mut report = SweepReport {
        schema: SWEEP_SCHEMA.into(),
        scenario: base.name.clone(),
        file: args.scenario.display().to_string(),
        plant: args.plant.map(|p| p.flag().to_string()),
        shards: vec![format!("{k}/{n}")],
        runs: results.into_inner().unwrap_or_default(),
        passed: 0,
        failed: 0,
        wall_seconds: started.elapsed().as_secs_f64(),
        shrunk: BTreeMap::new(),
    };
    report.tally();
    println!(
        "result: {} passed, {} failed of {} seeds in {:.1} s wall ({:.2} s per seed per thread)",
        report.passed,
        report.failed,
        report.runs.len(),
        report.wall_seconds,
        report.wall_seconds * args.jobs as f64 / report.runs.len().max(1) as f64
    );
    if args.shrink {
        if let Some(first) = report.runs.iter().find(|r| r.verdict == "fail").cloned() {
            let dir = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
            let path = shrink(&base, first.seed, &first.failures, &pki, &args, &dir)?;
            report.shrunk.insert(first.seed, path.display().to_string());
        }
    }
    if let Some(out) = &args.out {
        write_report(out, &report)?;
    }
    Ok(if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Writes sweep.json and the sweep's report.md, report.html and junit.xml into `out`.
fn write_report(out: &Path, report: &SweepReport) -> Result<()> {
    let text = serde_json::to_string_pretty(report).context("encoding sweep.json")?;
    let mut files = vec![("sweep.json", text + "\n")];
    files.extend(camproof_reports::sweep_files(report).context("rendering the reports")?);
    crate::report_cmd::write_files(out, &files)
}

/// The checks a failure list names (`check: detail` → `check`).
fn checks_of(failures: &[String]) -> Vec<String> {
    let mut c: Vec<String> = failures
        .iter()
        .map(|f| f.split(':').next().unwrap_or_default().to_string())
        .collect();
    c.sort();
    c.dedup();
    c
}

/// Smaller variants of a world, most reducing first; each still names only hosts and
/// users it has.
fn candidates(w: &WorldSpec) -> Vec<(String, WorldSpec)> {
    let mut out = Vec::new();
    for i in 0..w.faults.len() {
        let mut c = w.clone();
        let f = c.faults.remove(i);
        out.push((format!("drop fault {:?} at {:?}", f.action, f.at), c));
    }
    let last = w.faults.iter().map(|f| f.at).max().unwrap_or_default();
    let shorter = (w.duration / 2).max(last + Duration::from_secs(5));
    if shorter < w.duration {
        let mut c = w.clone();
        c.duration = Duration::from_secs(shorter.as_secs().max(1));
        out.push((format!("{} s long", c.duration.as_secs()), c));
    }
    if w.cameras_per_site > 1 {
        let mut c = w.clone();
        c.cameras_per_site = w.cameras_per_site.div_ceil(2);
        out.push((format!("{} cameras per site", c.cameras_per_site), c));
    }
    if w.sites > 1 {
        let mut c = w.clone();
        c.sites = w.sites.div_ceil(2);
        out.push((format!("{} sites", c.sites), c));
        let mut c = w.clone();
        c.sites = w.sites - 1;
        out.push((format!("{} sites", c.sites), c));
    }
    if w.regions.len() > 1 {
        for r in &w.regions {
            let mut c = w.clone();
            c.regions.retain(|x| x != r);
            out.push((format!("without region {r}"), c));
        }
    }
    if w.viewers.per_site > 0 {
        let mut c = w.clone();
        c.viewers.per_site = 0;
        out.push(("no viewers".into(), c));
    }
    if w.ota.is_some() {
        let mut c = w.clone();
        c.ota = None;
        out.push(("no OTA rollout".into(), c));
    }
    if w.camera.fps > 0 {
        let mut c = w.clone();
        c.camera.fps = 0;
        out.push(("no video".into(), c));
    }
    // Earlier: every fault at half its time, and a shorter run.
    if w.faults.iter().any(|f| f.at >= Duration::from_secs(2)) {
        let mut c = w.clone();
        for f in &mut c.faults {
            f.at = Duration::from_secs(f.at.as_secs() / 2);
        }
        out.push(("faults at half their times".into(), c));
    }
    out.retain(|(_, c)| valid(c));
    out
}

/// Whether every fault of the world names hosts and users it has.
fn valid(w: &WorldSpec) -> bool {
    Plan::new(w.clone()).is_ok()
}

/// Minimises a failing run greedily: applies the first smaller variant that still fails
/// one of the same checks, until none does or the budget is spent; writes the result.
fn shrink(
    base: &Scenario,
    seed: u64,
    failures: &[String],
    pki: &TestPki,
    args: &SweepArgs,
    dir: &Path,
) -> Result<PathBuf> {
    let want = checks_of(failures);
    let mut current = base.world.clone();
    current.seed = seed;
    let mut runs = 0usize;
    let mut steps = Vec::new();
    // A variant that passed once is not tried again in later rounds.
    let mut rejected: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    println!("shrinking seed {seed} (failing {})", want.join(", "));
    'outer: while runs < SHRINK_BUDGET {
        for (what, candidate) in candidates(&current) {
            if runs >= SHRINK_BUDGET {
                break 'outer;
            }
            if rejected.contains(&what) {
                continue;
            }
            runs += 1;
            let (f, _) = match run_once(&candidate, pki, args) {
                Ok(r) => r,
                Err(_) => continue,
            };
            let got = checks_of(&f);
            if got.iter().any(|c| want.contains(c)) {
                println!("  kept: {what} (still fails {})", got.join(", "));
                steps.push(what);
                current = candidate;
                continue 'outer;
            }
            rejected.insert(what);
        }
        break;
    }
    let mut shrunk = base.clone();
    shrunk.world = current;
    shrunk.name = format!("{}-shrunk-seed{seed}", base.name);
    shrunk.description = format!(
        "shrunk from {} seed {seed} by camproof sweep: {} steps in {runs} runs",
        base.name,
        steps.len()
    );
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{}.toml", shrunk.name));
    let run = match args.plant {
        Some(p) => format!(
            "camproof sweep {} --seeds {seed} --plant {}",
            path.display(),
            p.flag()
        ),
        None => format!("camproof run {} --seed {seed}", path.display()),
    };
    let mut text = format!(
        "# Reproduces: {}\n# Run: {run}\n# Steps:\n",
        failures.join("; ")
    );
    for s in &steps {
        text += &format!("#   - {s}\n");
    }
    text += &shrunk.to_toml();
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    let w = &shrunk.world;
    println!(
        "shrunk: {} cameras in {} sites, {} regions, {} faults, {} s, after {runs} runs; wrote {}",
        w.cameras(),
        w.sites,
        w.regions.len(),
        w.faults.len(),
        w.duration.as_secs(),
        path.display()
    );
    Ok(path)
}

/// `camproof report merge`: joins sweep reports of one scenario (shards, or sweeps of
/// other seeds) into one.
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<ExitCode> {
    ensure!(!inputs.is_empty(), "give at least one sweep.json to merge");
    let mut merged: Option<SweepReport> = None;
    for path in inputs {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let r: SweepReport = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a sweep report", path.display()))?;
        ensure!(
            r.schema == SWEEP_SCHEMA,
            "{}: schema {:?}, expected {SWEEP_SCHEMA:?}",
            path.display(),
            r.schema
        );
        match &mut merged {
            None => merged = Some(r),
            Some(m) => {
                ensure!(
                    m.scenario == r.scenario && m.plant == r.plant,
                    "{}: scenario {:?}{} differs from {:?}{}",
                    path.display(),
                    r.scenario,
                    r.plant
                        .as_deref()
                        .map(|p| format!(" (plant {p})"))
                        .unwrap_or_default(),
                    m.scenario,
                    m.plant
                        .as_deref()
                        .map(|p| format!(" (plant {p})"))
                        .unwrap_or_default(),
                );
                for run in r.runs {
                    match m.runs.iter().find(|x| x.seed == run.seed) {
                        Some(x) if x.trace_hash != run.trace_hash => bail!(
                            "{}: seed {} ran twice with different traces ({} vs {}): the shards ran different builds or settings",
                            path.display(),
                            run.seed,
                            x.trace_hash,
                            run.trace_hash
                        ),
                        Some(_) => {}
                        None => m.runs.push(run),
                    }
                }
                m.shards.extend(r.shards);
                m.wall_seconds += r.wall_seconds;
                m.shrunk.extend(r.shrunk);
            }
        }
    }
    let Some(mut m) = merged else {
        bail!("nothing to merge");
    };
    m.tally();
    println!(
        "merged {} reports of {}: {} seeds, {} passed, {} failed",
        inputs.len(),
        m.scenario,
        m.runs.len(),
        m.passed,
        m.failed
    );
    for r in m.runs.iter().filter(|r| r.verdict == "fail") {
        println!(
            "FAIL seed {}: {}\n     reproduce: {}",
            r.seed,
            r.failures.join("; "),
            r.reproduce
        );
    }
    let text = serde_json::to_string_pretty(&m).context("encoding the merged report")?;
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(out, text + "\n").with_context(|| format!("writing {}", out.display()))?;
    println!("wrote {}", out.display());
    let files = camproof_reports::sweep_files(&m).context("rendering the reports")?;
    crate::report_cmd::write_files(dir, &files)?;
    Ok(if m.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_and_shards_parse_and_partition() {
        assert_eq!(parse_seeds("1..5").unwrap(), vec![1, 2, 3, 4, 5]);
        assert_eq!(parse_seeds("7").unwrap(), vec![7]);
        assert_eq!(parse_seeds("1..=3").unwrap(), vec![1, 2, 3]);
        assert!(parse_seeds("5..1").is_err());
        assert!(parse_seeds("a..b").is_err());
        assert_eq!(parse_shard("2/8").unwrap(), (2, 8));
        for bad in ["0/3", "4/3", "x", "1/0"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
        let seeds = parse_seeds("1..10").unwrap();
        let mut joined: Vec<u64> = (1..=3).flat_map(|k| shard_of(&seeds, k, 3)).collect();
        joined.sort_unstable();
        assert_eq!(joined, seeds, "the shards cover every seed exactly once");
        assert_eq!(shard_of(&seeds, 1, 3), vec![1, 4, 7, 10]);
    }

    #[test]
    fn checks_are_named_once() {
        let f = vec![
            "liveness: 3/4 cameras online".to_string(),
            "no-acked-write-lost: a".into(),
            "no-acked-write-lost: b".into(),
        ];
        assert_eq!(checks_of(&f), vec!["liveness", "no-acked-write-lost"]);
    }
}
