//! `camproof sweep` and `camproof report merge`: arguments, progress and files; the
//! seeds, runs and shrinking are the scenario engine's ([`camproof_scenarios::sweep`]).
#![allow(clippy::disallowed_methods)] // Wall-clock time here measures the host, not the run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use camproof_reports::{SeedRun, SweepMerge, SweepReport, SWEEP_SCHEMA};
use camproof_scenarios::overrides::reproduce_command;
use camproof_scenarios::plants::Plant;
use camproof_scenarios::sweep::{self as engine, parse_seeds, parse_shard, shard_of};
use clap::builder::PossibleValue;
use indicatif::{ProgressBar, ProgressStyle};

/// `--plant`: a bug planted on purpose ([`Plant`]), as a command-line value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlantArg(pub Plant);

impl clap::ValueEnum for PlantArg {
    fn value_variants<'a>() -> &'a [Self] {
        const ALL: [PlantArg; Plant::ALL.len()] = {
            let mut out = [PlantArg(Plant::ALL[0]); Plant::ALL.len()];
            let mut i = 0;
            while i < out.len() {
                out[i] = PlantArg(Plant::ALL[i]);
                i += 1;
            }
            out
        };
        &ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0.flag()).help(self.0.help()))
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
    pub plant: Option<PlantArg>,
    /// Seed of the test PKI.
    #[arg(long, default_value_t = 1)]
    pub pki_seed: u64,
    #[command(flatten)]
    pub keys: crate::KeyCacheArgs,
}

/// The command that repeats one seed: `camproof run`, or with a planted bug (which
/// only `sweep` can plant) `camproof sweep` of that one seed.
fn reproduce(args: &SweepArgs, seed: u64) -> String {
    let overrides = args.overrides.to_lib();
    let command = match args.plant {
        None => reproduce_command(&args.scenario, seed, &overrides),
        Some(PlantArg(p)) => format!(
            "camproof sweep {} --seeds {seed} --plant {}{}",
            args.scenario.display(),
            p.flag(),
            overrides.flags()
        ),
    };
    match args.pki_seed {
        1 => command,
        s => format!("{command} --pki-seed {s}"),
    }
}

/// Runs the sweep; exit code 0 if every seed passed, 1 otherwise.
pub fn sweep(args: SweepArgs) -> Result<ExitCode> {
    ensure!(args.jobs >= 1, "--jobs must be at least 1");
    let all = parse_seeds(&args.seeds)?;
    let (k, n) = args.shard.as_deref().map_or(Ok((1, 1)), parse_shard)?;
    let seeds = shard_of(&all, k, n);
    let mut base =
        camproof_scenarios::overrides::load(&args.scenario, 0, &args.overrides.to_lib())?;
    let plant = args.plant.map(|p| p.0);
    if let Some(p) = plant {
        p.apply(&mut base.world);
    }
    let open_cache = || args.keys.open();
    let pki = crate::keycache::platform_pki(args.pki_seed, open_cache().as_mut())?;
    let shard = if n > 1 {
        format!(" (shard {k}/{n} of {})", all.len())
    } else {
        String::new()
    };
    let planted = plant.map(|p| format!(", planted bug {}", p.flag()));
    println!(
        "camproof sweep {}: {} seeds{shard} on {} threads{}",
        base.name,
        seeds.len(),
        args.jobs,
        planted.unwrap_or_default()
    );
    let started = Instant::now();
    let bar = ProgressBar::new(seeds.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {msg} [{elapsed} < {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let failed = AtomicUsize::new(0);
    let results: Mutex<Vec<SeedRun>> = Mutex::new(Vec::new());
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let on_done = |done: engine::SeedOutcome| {
        let seed = done.seed;
        match done.result {
            Ok(outcome) => {
                let run = SeedRun {
                    seed,
                    verdict: if outcome.failures.is_empty() {
                        "pass"
                    } else {
                        "fail"
                    }
                    .into(),
                    failures: outcome.failures,
                    trace_hash: outcome.trace_hash,
                    wall_seconds: done.wall.as_secs_f64(),
                    reproduce: reproduce(&args, seed),
                };
                if run.verdict == "fail" {
                    failed.fetch_add(1, Ordering::Relaxed);
                    // `suspend`, not `println`: a hidden bar (no terminal) would swallow it.
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
                let e = anyhow::Error::new(e).context("running the world");
                bar.suspend(|| eprintln!("ERROR seed {seed}: {e:#}"));
                if let Ok(mut errs) = errors.lock() {
                    errs.push(format!("seed {seed}: {e:#}"));
                }
            }
        }
        bar.set_message(format!("{} failed", failed.load(Ordering::Relaxed)));
        bar.inc(1);
    };
    engine::run_seeds(&base.world, &seeds, args.jobs, &pki, &open_cache, &on_done);
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
        plant: plant.map(|p| p.flag().to_string()),
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
    let first_failure = report.runs.iter().find(|r| r.verdict == "fail").cloned();
    if let Some(first) = first_failure.filter(|_| args.shrink) {
        let dir = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
        let want = engine::checks_of(&first.failures);
        println!(
            "shrinking seed {} (failing {})",
            first.seed,
            want.join(", ")
        );
        let shrunk = engine::shrink(
            &base,
            first.seed,
            &first.failures,
            &pki,
            open_cache().as_mut(),
            &mut |what, got| println!("  kept: {what} (still fails {})", got.join(", ")),
        );
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{}.toml", shrunk.scenario.name));
        let seed = first.seed;
        let run = match plant {
            Some(p) => format!(
                "camproof sweep {} --seeds {seed} --plant {}",
                path.display(),
                p.flag()
            ),
            None => format!("camproof run {} --seed {seed}", path.display()),
        };
        std::fs::write(&path, shrunk.file_text(&first.failures, &run))
            .with_context(|| format!("writing {}", path.display()))?;
        let w = &shrunk.scenario.world;
        println!(
            "shrunk: {} cameras in {} sites, {} regions, {} faults, {} s, after {} runs; wrote {}",
            w.cameras(),
            w.sites,
            w.regions.len(),
            w.faults.len(),
            w.duration.as_secs(),
            shrunk.runs,
            path.display()
        );
        report.shrunk.insert(seed, path.display().to_string());
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
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<ExitCode> {
    ensure!(!inputs.is_empty(), "give at least one sweep.json to merge");
    let mut merge = SweepMerge::new();
    for path in inputs {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        merge.add(&path.display().to_string(), &text)?;
    }
    let m = merge.finish()?;
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
    Ok(ExitCode::from(u8::from(m.failed > 0)))
}
