//! `camproof sweep` and `camproof report merge`: arguments, progress and files; the
//! seeds, runs and shrinking are the scenario engine's ([`SweepPlan`]), the report and
//! its lines [`camproof_reports`]'s.
#![allow(clippy::disallowed_methods)] // Wall-clock time here measures the host, not the run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use camproof_reports::{SeedRun, SweepMerge, SweepReport};
use camproof_scenarios::plants::Plant;
use camproof_scenarios::sweep::{SeedOutcome, SweepPlan};
use camproof_scenarios::world::RunSummary;
use indicatif::{ProgressBar, ProgressStyle};

use crate::output;

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
    /// Directory for sweep.json, its reports, the reports of each failing seed
    /// (seed-N/) and shrunk scenarios.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also keep the reports of passing seeds (OUT/seed-N/); failing seeds always
    /// keep theirs.
    #[arg(long, requires = "out")]
    pub keep_all: bool,
    /// Shrink the first failing seed to a smaller scenario that still fails.
    #[arg(long)]
    pub shrink: bool,
    /// Plant a bug in the platform, to see the checks catch it.
    #[arg(long, value_parser = crate::plant_arg::plants())]
    pub plant: Option<Plant>,
    /// Seed of the test PKI.
    #[arg(long, default_value_t = 1)]
    pub pki_seed: u64,
    #[command(flatten)]
    pub keys: crate::KeyCacheArgs,
}

/// Runs the sweep; exit code 0 if every seed passed, 1 otherwise, 3 if interrupted
/// (what finished is still written).
pub fn sweep(args: SweepArgs) -> Result<ExitCode> {
    if let Some(out) = &args.out {
        crate::report_cmd::ensure_writable(out)?;
    }
    let (seeds, overrides) = (&args.seeds, args.overrides.to_lib());
    let shard = args.shard.as_deref();
    let plan = SweepPlan::new(
        &args.scenario,
        seeds,
        shard,
        args.jobs,
        overrides.clone(),
        args.plant,
        args.pki_seed,
    )?;
    let open_cache = || args.keys.open();
    let pki = crate::keycache::platform_pki(args.pki_seed, open_cache().as_mut())?;
    output::say(&plan.header());
    output::warn_dropped(&plan.scenario.dropped);
    let started = Instant::now();
    let bar = if output::progress() {
        ProgressBar::new(plan.seeds.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {msg} [{elapsed} < {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (failed, done) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let (runs, errors) = (Mutex::new(Vec::new()), Mutex::new(Vec::new()));
    let on_done = |outcome: SeedOutcome| {
        let seed = outcome.seed;
        let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
        let eta = eta(started.elapsed(), finished, plan.seeds.len());
        let result = outcome.result.map_err(|e| e.to_string()).and_then(|o| {
            let wall = outcome.wall.as_secs_f64();
            let again = plan.reproduce(seed);
            let run = SeedRun::new(seed, o.failures, o.trace_hash, wall, again.clone());
            if let Some(out) = args.out.as_ref().filter(|_| args.keep_all || !run.passed()) {
                seed_files(&plan, &args.scenario, out, &o.summary, outcome.wall, again)
                    .map_err(|e| format!("{e:#}"))?;
            }
            Ok(run)
        });
        match result {
            Ok(run) => {
                let line = format!(
                    "pass seed {seed} in {:.1} s wall [{finished}/{}{eta}]",
                    run.wall_seconds,
                    plan.seeds.len()
                );
                // `suspend`, not `println`: a hidden bar (no terminal) would swallow it.
                if run.passed() {
                    bar.suspend(|| output::say(&line));
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                    let text = format!(
                        "{}\n     took {:.1} s wall [{finished}/{}{eta}]",
                        run.failure_text(),
                        run.wall_seconds,
                        plan.seeds.len()
                    );
                    bar.suspend(|| output::result(&text));
                }
                if let Ok(mut r) = runs.lock() {
                    r.push(run);
                }
            }
            Err(e) => {
                let e = format!("seed {seed}: {e}");
                bar.suspend(|| eprintln!("ERROR {e}"));
                if let Ok(mut errs) = errors.lock() {
                    errs.push(e);
                }
            }
        }
        bar.set_message(format!("{} failed", failed.load(Ordering::Relaxed)));
        bar.inc(1);
    };
    plan.run(&pki, &open_cache, &output::interrupted, &on_done);
    bar.finish_and_clear();
    let errors: Vec<String> = errors.into_inner().unwrap_or_default();
    ensure!(
        errors.is_empty(),
        "runs could not complete: {}",
        errors.join("; ")
    );
    let file = args.scenario.display().to_string();
    let plant = args.plant.map(|p| p.flag().to_string());
    let runs = runs.into_inner().unwrap_or_default();
    let wall = started.elapsed().as_secs_f64();
    let name = plan.scenario.name.clone();
    let mut report = SweepReport::new(name, file, plant, plan.shard, runs, wall);
    report.seed_range = Some(plan.seed_range);
    report.overrides = overrides.flags();
    report.version = crate::version();
    let ran: BTreeSet<u64> = report.runs.iter().map(|r| r.seed).collect();
    report.missing_seeds = plan
        .seeds
        .iter()
        .copied()
        .filter(|s| !ran.contains(s))
        .collect();
    report.interrupted = !report.missing_seeds.is_empty();
    output::result(&report.result_line(args.jobs));
    if report.interrupted {
        eprintln!(
            "camproof: interrupted: {}; what finished is kept",
            camproof_results::seeds_not_run(&report.missing_seeds)
        );
    }
    let first_failure = report.runs.iter().find(|r| !r.passed()).cloned();
    if let Some(first) = first_failure.filter(|_| args.shrink && !report.interrupted) {
        let dir = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
        let (mut cache, say) = (open_cache(), &mut |line: &str| output::say(line));
        let path =
            plan.shrink_into(&dir, first.seed, &first.failures, &pki, cache.as_mut(), say)?;
        report.shrunk.insert(first.seed, path.display().to_string());
    }
    let text = serde_json::to_string_pretty(&report).context("encoding sweep.json")? + "\n";
    if let Some(out) = &args.out {
        let mut files = vec![("sweep.json", text.clone())];
        files.extend(camproof_reports::sweep_files(&report).context("rendering the reports")?);
        crate::report_cmd::write_files(out, &files)?;
    }
    if output::json() {
        print!("{text}");
    }
    Ok(ExitCode::from(if report.interrupted {
        output::EXIT_INTERRUPTED
    } else {
        u8::from(report.failed > 0)
    }))
}

/// `, ETA 1m 20s` for the seeds left, from the wall time per seed so far (empty when
/// none are left).
fn eta(elapsed: Duration, done: usize, total: usize) -> String {
    let left = total.saturating_sub(done);
    if left == 0 || done == 0 {
        return String::new();
    }
    let per_seed = elapsed.as_secs_f64() / done as f64;
    let secs = (per_seed * left as f64).ceil() as u64;
    format!(
        ", ETA {}",
        humantime::format_duration(Duration::from_secs(secs))
    )
}

/// Writes the reports of one seed (result.json, report.md, report.html, junit.xml)
/// into `out/seed-<seed>/`.
fn seed_files(
    plan: &SweepPlan,
    file: &Path,
    out: &Path,
    summary: &RunSummary,
    wall: Duration,
    again: String,
) -> Result<()> {
    let verdict = camproof_scenarios::summary::verdict(&summary.failures());
    let report =
        crate::report_cmd::run_report(&plan.scenario, file, summary, wall, &verdict, again);
    let files = camproof_reports::run_files(&report).context("rendering a seed's reports")?;
    crate::report_cmd::write_files(&out.join(format!("seed-{}", summary.seed)), &files)
}

/// `camproof report merge`: joins sweep reports of one scenario (shards, or sweeps of
/// other seeds) into one.
pub fn merge(inputs: &[PathBuf], out: &Path, allow_partial: bool) -> Result<ExitCode> {
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    crate::report_cmd::ensure_writable(dir)?;
    let m = SweepMerge::files(inputs, allow_partial)?;
    output::say_lines(&m.merged_text(inputs.len()));
    let text = serde_json::to_string_pretty(&m).context("encoding the merged report")? + "\n";
    std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
    output::say(&format!("wrote {}", out.display()));
    if output::json() {
        print!("{text}");
    }
    let files = camproof_reports::sweep_files(&m).context("rendering the reports")?;
    crate::report_cmd::write_files(dir, &files)?;
    Ok(ExitCode::from(u8::from(m.failed > 0)))
}
