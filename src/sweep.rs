//! `camproof sweep` and `camproof report merge`: arguments, progress and files; the
//! seeds, runs and shrinking are the scenario engine's ([`SweepPlan`]), the report and
//! its lines [`camproof_reports`]'s.
#![allow(clippy::disallowed_methods)] // Wall-clock time here measures the host, not the run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use camproof_reports::{SeedRun, SweepMerge, SweepReport};
use camproof_scenarios::plants::Plant;
use camproof_scenarios::sweep::{SeedOutcome, SweepPlan};
use indicatif::{ProgressBar, ProgressStyle};

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
    #[arg(long, value_parser = crate::plant_arg::plants())]
    pub plant: Option<Plant>,
    /// Seed of the test PKI.
    #[arg(long, default_value_t = 1)]
    pub pki_seed: u64,
    #[command(flatten)]
    pub keys: crate::KeyCacheArgs,
}

/// Runs the sweep; exit code 0 if every seed passed, 1 otherwise.
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
        overrides,
        args.plant,
        args.pki_seed,
    )?;
    let open_cache = || args.keys.open();
    let pki = crate::keycache::platform_pki(args.pki_seed, open_cache().as_mut())?;
    println!("{}", plan.header());
    let started = Instant::now();
    let bar = ProgressBar::new(plan.seeds.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {msg} [{elapsed} < {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let failed = AtomicUsize::new(0);
    let (runs, errors) = (Mutex::new(Vec::new()), Mutex::new(Vec::new()));
    let on_done = |done: SeedOutcome| {
        let seed = done.seed;
        match done.result {
            Ok(o) => {
                let wall = done.wall.as_secs_f64();
                let run = SeedRun::new(seed, o.failures, o.trace_hash, wall, plan.reproduce(seed));
                if !run.passed() {
                    failed.fetch_add(1, Ordering::Relaxed);
                    // `suspend`, not `println`: a hidden bar (no terminal) would swallow it.
                    bar.suspend(|| println!("{}", run.failure_text()));
                }
                if let Ok(mut r) = runs.lock() {
                    r.push(run);
                }
            }
            Err(e) => {
                let e = format!("seed {seed}: running the world: {e}");
                bar.suspend(|| eprintln!("ERROR {e}"));
                if let Ok(mut errs) = errors.lock() {
                    errs.push(e);
                }
            }
        }
        bar.set_message(format!("{} failed", failed.load(Ordering::Relaxed)));
        bar.inc(1);
    };
    plan.run(&pki, &open_cache, &on_done);
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
    println!("{}", report.result_line(args.jobs));
    let first_failure = report.runs.iter().find(|r| !r.passed()).cloned();
    if let Some(first) = first_failure.filter(|_| args.shrink) {
        let dir = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
        let (mut cache, say) = (open_cache(), &mut |line: &str| println!("{line}"));
        let path =
            plan.shrink_into(&dir, first.seed, &first.failures, &pki, cache.as_mut(), say)?;
        report.shrunk.insert(first.seed, path.display().to_string());
    }
    if let Some(out) = &args.out {
        let text = serde_json::to_string_pretty(&report).context("encoding sweep.json")?;
        let mut files = vec![("sweep.json", text + "\n")];
        files.extend(camproof_reports::sweep_files(&report).context("rendering the reports")?);
        crate::report_cmd::write_files(out, &files)?;
    }
    Ok(ExitCode::from(u8::from(report.failed > 0)))
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
    print!("{}", m.merged_text(inputs.len()));
    let text = serde_json::to_string_pretty(&m).context("encoding the merged report")?;
    std::fs::write(out, text + "\n").with_context(|| format!("writing {}", out.display()))?;
    println!("wrote {}", out.display());
    let files = camproof_reports::sweep_files(&m).context("rendering the reports")?;
    crate::report_cmd::write_files(dir, &files)?;
    Ok(ExitCode::from(u8::from(m.failed > 0)))
}
