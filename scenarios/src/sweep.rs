//! One scenario over many seeds: the seeds to run ([`parse_seeds`], [`parse_shard`],
//! [`shard_of`]), runs spread over worker threads ([`run_seeds`]), and a failing run
//! shrunk to a smaller world that still fails ([`shrink`]). A [`SweepPlan`] is a sweep
//! as `camproof sweep` asks for it: the scenario, this shard's seeds, the planted bug,
//! and the command that repeats one seed.
//!
//! Each run is a whole deterministic world on one thread; threads only decide which
//! seed runs when, so a seed's result does not depend on `jobs`.
#![allow(clippy::disallowed_methods)] // Wall-clock time here measures the host, not the run.

use std::collections::BTreeSet;
use std::io;
use std::num::ParseIntError;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use camproof_protocol::pki::{KeyCache, TestPki};
use thiserror::Error;

use camproof_results::count;

use crate::overrides::{load, reproduce_command, LoadError, Overrides};
use crate::plan::Plan;
use crate::plants::{NotObservable, Plant};
use crate::scenario::Scenario;
use crate::world::{self, RunSummary, WorldError, WorldSpec};

/// Most runs one shrink may spend.
pub const SHRINK_BUDGET: usize = 200;

/// Why `--seeds` or `--shard` was refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeedsError {
    /// Not `A..B` or one number.
    #[error("--seeds {0:?}: expected A..B (both included) or one seed")]
    Syntax(String, #[source] ParseIntError),
    /// `A..B` with A after B.
    #[error("--seeds {0:?}: the first seed is after the last")]
    Reversed(String),
    /// More than a million seeds.
    #[error("--seeds {0:?}: at most a million seeds")]
    TooMany(String),
    /// Not `K/N` with 1 ≤ K ≤ N.
    #[error("--shard {0:?}: expected K/N with 1 <= K <= N, such as 2/8")]
    Shard(String, #[source] Option<ParseIntError>),
}

/// Parses `A..B` (both included; `A..=B` too) or `N`.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, SeedsError> {
    let (a, b) = match text.split_once("..") {
        Some((a, b)) => (a.trim(), b.trim().trim_start_matches('=')),
        None => (text.trim(), text.trim()),
    };
    let bad = |e| SeedsError::Syntax(text.to_string(), e);
    let a: u64 = a.parse().map_err(bad)?;
    let b: u64 = b.parse().map_err(bad)?;
    if a > b {
        return Err(SeedsError::Reversed(text.to_string()));
    }
    if b - a >= 1_000_000 {
        return Err(SeedsError::TooMany(text.to_string()));
    }
    Ok((a..=b).collect())
}

/// Parses `K/N` (1 ≤ K ≤ N).
pub fn parse_shard(text: &str) -> Result<(usize, usize), SeedsError> {
    let bad = |e| SeedsError::Shard(text.to_string(), e);
    let (k, n) = text.split_once('/').ok_or(bad(None))?;
    let k: usize = k.trim().parse().map_err(|e| bad(Some(e)))?;
    let n: usize = n.trim().parse().map_err(|e| bad(Some(e)))?;
    if k == 0 || n == 0 || k > n {
        return Err(bad(None));
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

/// What one world run found: the failed checks as `check: detail`, its trace hash, and
/// the whole summary (for the reports of a seed).
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The checks that failed, `check: detail` (empty: the run passed).
    pub failures: Vec<String>,
    /// SHA-256 of the run's trace.
    pub trace_hash: String,
    /// Everything the run measured.
    pub summary: Box<RunSummary>,
}

impl RunOutcome {
    fn of(summary: RunSummary) -> Self {
        let failures = summary
            .failures()
            .into_iter()
            .map(|f| format!("{}: {}", f.check, f.detail))
            .collect();
        RunOutcome {
            failures,
            trace_hash: summary.trace_hash.clone(),
            summary: Box::new(summary),
        }
    }
}

/// Runs one world to its end.
pub fn run_world(
    spec: &WorldSpec,
    pki: &TestPki,
    cache: &mut dyn KeyCache,
) -> Result<RunOutcome, WorldError> {
    let plan = Plan::new(spec.clone()).map_err(|e| WorldError::Invalid(e.to_string()))?;
    Ok(RunOutcome::of(world::run(&plan, pki, cache)?))
}

/// Runs one world unless `stop` says to stop first (checked once per simulated second):
/// `None` then.
fn run_world_unless(
    spec: &WorldSpec,
    pki: &TestPki,
    cache: &mut dyn KeyCache,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<Option<RunOutcome>, WorldError> {
    let plan = Plan::new(spec.clone()).map_err(|e| WorldError::Invalid(e.to_string()))?;
    let mut watch = |_: &world::Progress| {
        if stop() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    Ok(world::run_watched(&plan, pki, cache, &mut watch)?.map(RunOutcome::of))
}

/// One seed of [`run_seeds`], as it finished.
#[derive(Debug)]
pub struct SeedOutcome {
    /// The seed.
    pub seed: u64,
    /// What the run found, or why it could not complete.
    pub result: Result<RunOutcome, WorldError>,
    /// Wall-clock time of the run.
    pub wall: Duration,
}

/// How [`run_seeds`] runs: the worker threads, keys, the sign to stop, and whom to tell.
pub struct SeedRunner<'a> {
    /// Worker threads (at least one, at most one per seed).
    pub jobs: usize,
    /// The test PKI.
    pub pki: &'a TestPki,
    /// A key cache for each run.
    pub open_cache: &'a (dyn Fn() -> Box<dyn KeyCache> + Sync),
    /// Stop: no seed starts after it says so, and running ones end unfinished (checked
    /// once per simulated second).
    pub stop: &'a (dyn Fn() -> bool + Sync),
    /// Called as each seed finishes (from the worker's thread, in no fixed order); a
    /// seed stopped unfinished is not.
    pub on_done: &'a (dyn Fn(SeedOutcome) + Sync),
}

/// Runs `base` once per seed as `runner` says.
pub fn run_seeds(base: &WorldSpec, seeds: &[u64], runner: &SeedRunner<'_>) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..runner.jobs.clamp(1, seeds.len().max(1)) {
            scope.spawn(|| loop {
                if (runner.stop)() {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else { break };
                let mut spec = base.clone();
                spec.seed = seed;
                let t = Instant::now();
                let cache = &mut *(runner.open_cache)();
                let result = match run_world_unless(&spec, runner.pki, cache, runner.stop) {
                    Ok(None) => break,
                    Ok(Some(outcome)) => Ok(outcome),
                    Err(e) => Err(e),
                };
                (runner.on_done)(SeedOutcome {
                    seed,
                    result,
                    wall: t.elapsed(),
                });
            });
        }
    });
}

/// The checks a failure list names (`check: detail` → `check`), each once, sorted.
pub fn checks_of(failures: &[String]) -> Vec<String> {
    let mut c: Vec<String> = failures
        .iter()
        .map(|f| f.split(':').next().unwrap_or_default().to_string())
        .collect();
    c.sort();
    c.dedup();
    c
}

/// Smaller variants of a world, most reducing first, each with what it changed; each
/// still names only hosts and users it has.
pub fn candidates(w: &WorldSpec) -> Vec<(String, WorldSpec)> {
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

/// Whether the world is a valid plan (the shrinker skips candidates that are not).
fn valid(w: &WorldSpec) -> bool {
    Plan::new(w.clone()).is_ok()
}

/// A failing run made small by [`shrink`].
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The smaller scenario, named `<name>-shrunk-seed<seed>`.
    pub scenario: Scenario,
    /// The reductions kept, in order.
    pub steps: Vec<String>,
    /// Runs spent.
    pub runs: usize,
}

impl Shrunk {
    /// The scenario file: comments saying what it reproduces (`failures`), how to run it
    /// (`run`) and the steps taken, then the scenario's TOML.
    pub fn file_text(&self, failures: &[String], run: &str) -> String {
        let mut text = format!(
            "# Reproduces: {}\n# Run: {run}\n# Steps:\n",
            failures.join("; ")
        );
        for s in &self.steps {
            text += &format!("#   - {s}\n");
        }
        text + &self.scenario.to_toml()
    }
}

/// Minimises a failing run of `base` at `seed` greedily: applies the first smaller
/// variant ([`candidates`]) that still fails one of the same checks, until none does or
/// [`SHRINK_BUDGET`] runs are spent. A variant that could not run counts as passing.
/// Calls `on_kept(step, checks it still fails)` for each reduction kept.
pub fn shrink(
    base: &Scenario,
    seed: u64,
    failures: &[String],
    pki: &TestPki,
    cache: &mut dyn KeyCache,
    on_kept: &mut dyn FnMut(&str, &[String]),
) -> Shrunk {
    let want = checks_of(failures);
    let mut current = base.world.clone();
    current.seed = seed;
    let mut runs = 0usize;
    let mut steps = Vec::new();
    // A variant that passed once is not tried again in later rounds.
    let mut rejected: BTreeSet<String> = BTreeSet::new();
    'outer: while runs < SHRINK_BUDGET {
        for (what, candidate) in candidates(&current) {
            if runs >= SHRINK_BUDGET {
                break 'outer;
            }
            if rejected.contains(&what) {
                continue;
            }
            runs += 1;
            let Ok(outcome) = run_world(&candidate, pki, cache) else {
                continue;
            };
            let got = checks_of(&outcome.failures);
            if got.iter().any(|c| want.contains(c)) {
                on_kept(&what, &got);
                steps.push(what);
                current = candidate;
                continue 'outer;
            }
            rejected.insert(what);
        }
        break;
    }
    let mut scenario = base.clone();
    scenario.world = current;
    scenario.name = format!("{}-shrunk-seed{seed}", base.name);
    scenario.description = format!(
        "shrunk from {} seed {seed} by camproof sweep: {} steps in {runs} runs",
        base.name,
        steps.len()
    );
    Shrunk {
        scenario,
        steps,
        runs,
    }
}

/// Why a sweep could not start, or could not write its shrunk scenario.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SweepError {
    /// No worker threads.
    #[error("--jobs must be at least 1")]
    NoJobs,
    /// `--seeds` or `--shard` was refused.
    #[error(transparent)]
    Seeds(#[from] SeedsError),
    /// The scenario file or the overrides were refused.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The planted bug is caught only by checks this scenario does not make.
    #[error(transparent)]
    Plant(#[from] NotObservable),
    /// The shrunk scenario's directory or file could not be written.
    #[error("{what} {path}")]
    Write {
        /// `creating` or `writing`.
        what: &'static str,
        /// The directory or file.
        path: String,
        /// Why.
        source: io::Error,
    },
}

/// A sweep as asked for, checked: the scenario (overrides applied, the bug planted), the
/// seeds of this shard, and how to repeat one of them.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    /// The scenario file as given.
    pub file: PathBuf,
    /// The scenario, overrides applied and the bug planted (each run sets its seed).
    pub scenario: Scenario,
    /// The seeds of this shard.
    pub seeds: Vec<u64>,
    /// How many seeds all shards have together.
    pub total: usize,
    /// The first and last seed of all shards together.
    pub seed_range: [u64; 2],
    /// This shard: K of N.
    pub shard: (usize, usize),
    /// Worker threads.
    pub jobs: usize,
    /// The bug planted, if any.
    pub plant: Option<Plant>,
    /// The overrides as given (repeated by [`SweepPlan::reproduce`]).
    pub overrides: Overrides,
    /// Seed of the test PKI.
    pub pki_seed: u64,
}

impl SweepPlan {
    /// Checks a sweep: at least one job, the seeds `A..B` or `N`, the shard `K/N`, the
    /// scenario `file` with `overrides`; then plants `plant`. Runs nothing.
    pub fn new(
        file: &Path,
        seeds: &str,
        shard: Option<&str>,
        jobs: usize,
        overrides: Overrides,
        plant: Option<Plant>,
        pki_seed: u64,
    ) -> Result<Self, SweepError> {
        if jobs == 0 {
            return Err(SweepError::NoJobs);
        }
        let all = parse_seeds(seeds)?;
        let (k, n) = shard.map_or(Ok((1, 1)), parse_shard)?;
        let mut scenario = load(file, 0, &overrides)?;
        if let Some(p) = plant {
            p.plant_in(file, &mut scenario.world)?;
        }
        Ok(SweepPlan {
            file: file.to_path_buf(),
            scenario,
            seeds: shard_of(&all, k, n),
            total: all.len(),
            seed_range: [
                all.first().copied().unwrap_or_default(),
                all.last().copied().unwrap_or_default(),
            ],
            shard: (k, n),
            jobs,
            plant,
            overrides,
            pki_seed,
        })
    }

    /// The line a sweep starts with: the scenario, how many seeds (of which shard), the
    /// threads and the planted bug.
    pub fn header(&self) -> String {
        let (k, n) = self.shard;
        let shard = if n > 1 {
            format!(" (shard {k}/{n} of {})", self.total)
        } else {
            String::new()
        };
        let planted = self.plant.map(|p| format!(", planted bug {}", p.flag()));
        format!(
            "camproof sweep {}: {}{shard} on {}{}",
            self.scenario.name,
            count(self.seeds.len(), "seed"),
            count(self.jobs, "thread"),
            planted.unwrap_or_default()
        )
    }

    /// The command that repeats one seed: `camproof run`, or with a planted bug
    /// `camproof sweep` of that one seed (so a shrunk reproducer is written the same way).
    pub fn reproduce(&self, seed: u64) -> String {
        let command = match self.plant {
            None => reproduce_command(&self.file, seed, &self.overrides),
            Some(p) => format!(
                "camproof sweep {} --seeds {seed} --plant {}{}",
                self.file.display(),
                p.flag(),
                self.overrides.flags()
            ),
        };
        match self.pki_seed {
            1 => command,
            s => format!("{command} --pki-seed {s}"),
        }
    }

    /// Runs every seed of this shard as [`run_seeds`] does, on this plan's threads.
    pub fn run(
        &self,
        pki: &TestPki,
        open_cache: &(dyn Fn() -> Box<dyn KeyCache> + Sync),
        stop: &(dyn Fn() -> bool + Sync),
        on_done: &(dyn Fn(SeedOutcome) + Sync),
    ) {
        let runner = SeedRunner {
            jobs: self.jobs,
            pki,
            open_cache,
            stop,
            on_done,
        };
        run_seeds(&self.scenario.world, &self.seeds, &runner);
    }

    /// Shrinks the failing run of `seed` ([`shrink`]) and writes the smaller scenario
    /// into `dir` (created if needed) as `<name>-shrunk-seed<seed>.toml`, with comments
    /// saying what it reproduces and how to run it. `say` gets a line as shrinking
    /// starts, one per reduction kept, and one for the file written. Returns its path.
    pub fn shrink_into(
        &self,
        dir: &Path,
        seed: u64,
        failures: &[String],
        pki: &TestPki,
        cache: &mut dyn KeyCache,
        say: &mut dyn FnMut(&str),
    ) -> Result<PathBuf, SweepError> {
        let want = checks_of(failures);
        say(&format!(
            "shrinking seed {seed} (failing {})",
            want.join(", ")
        ));
        let shrunk = shrink(
            &self.scenario,
            seed,
            failures,
            pki,
            cache,
            &mut |what, got| say(&format!("  kept: {what} (still fails {})", got.join(", "))),
        );
        let write = |what, path: &Path| {
            let path = path.display().to_string();
            move |source| SweepError::Write { what, path, source }
        };
        std::fs::create_dir_all(dir).map_err(write("creating", dir))?;
        let path = dir.join(format!("{}.toml", shrunk.scenario.name));
        let run = match self.plant {
            Some(p) => format!(
                "camproof sweep {} --seeds {seed} --plant {}",
                path.display(),
                p.flag()
            ),
            None => format!("camproof run {} --seed {seed}", path.display()),
        };
        std::fs::write(&path, shrunk.file_text(failures, &run)).map_err(write("writing", &path))?;
        let w = &shrunk.scenario.world;
        say(&format!(
            "shrunk: {} in {}, {}, {}, {} s, after {} runs; wrote {}",
            count(w.cameras(), "camera"),
            count(w.sites, "site"),
            count(w.regions.len(), "region"),
            count(w.faults.len(), "fault"),
            w.duration.as_secs(),
            shrunk.runs,
            path.display()
        ));
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every plant is taken on the catalog scenario that catches it; a plant whose checks
    /// a scenario does not make is refused, naming the check and why it is not made.
    #[test]
    fn a_plant_needs_a_scenario_that_can_catch_it() {
        let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog");
        let plan = |file: &str, p: Plant| {
            let file = catalog.join(file);
            SweepPlan::new(&file, "1", None, 1, Overrides::default(), Some(p), 1)
        };
        for (p, file) in [
            (Plant::AckBeforeReplication, "partition-heal.toml"),
            (Plant::GrantEveryVote, "partition-heal.toml"),
            (Plant::SlowAlerts, "zone-outage.toml"),
            (Plant::AppLeaksPassword, "smoke.toml"),
            (Plant::SkipOwnershipCheck, "tenant-isolation.toml"),
            (Plant::UnusualLoginAccepted, "credential-stuffing.toml"),
            (Plant::LockoutEverywhere, "credential-stuffing.toml"),
            (Plant::ReplayableResumption, "replay-attack.toml"),
            (Plant::AcceptUnsignedOta, "ota-rollout.toml"),
            (Plant::AcceptDowngradeOta, "ota-rollout.toml"),
            (Plant::OtaChunkOffByOne, "ota-rollout.toml"),
            (Plant::AcceptReplayedRecords, "replay-attack.toml"),
            (Plant::IgnoreBadRecords, "replay-attack.toml"),
            (Plant::CacheUnprovenHellos, "hello-flood.toml"),
        ] {
            if let Err(e) = plan(file, p) {
                panic!("{} on {file}: {e}", p.flag());
            }
        }
        let refused = |file: &str, p: Plant| match plan(file, p) {
            Err(e @ SweepError::Plant(_)) => e.to_string(),
            other => panic!("{} on {file}: {other:?}", p.flag()),
        };
        let e = refused("smoke.toml", Plant::SkipOwnershipCheck);
        assert!(
            e.contains(
                "no-cross-tenant-access is not checked here (no cross-tenant attack in this scenario)"
            ),
            "{e}"
        );
        let e = refused("smoke.toml", Plant::CacheUnprovenHellos);
        assert!(
            e.contains(
                "no-unauthenticated-lockout is not checked here (no hello-flood attack in this \
                 scenario)"
            ),
            "{e}"
        );
        let e = refused("smoke.toml", Plant::AcceptDowngradeOta);
        assert!(e.contains("no-rogue-firmware is not checked here"), "{e}");
        let e = refused("tenant-isolation.toml", Plant::AcceptUnsignedOta);
        assert!(
            e.contains("no-rogue-firmware") && e.contains("ota-rollout-complete"),
            "{e}"
        );
    }

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

    fn plan(
        seeds: &str,
        shard: Option<&str>,
        plant: Option<Plant>,
    ) -> Result<SweepPlan, SweepError> {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/smoke.toml");
        let overrides = Overrides {
            cameras: Some(8),
            ..Default::default()
        };
        SweepPlan::new(&file, seeds, shard, 2, overrides, plant, 1)
    }

    /// A shard takes its share of the seeds, says so, and plants the bug in the world.
    #[test]
    fn a_sweep_plan_takes_its_shard_and_plants_the_bug() {
        let p = plan("1..6", Some("2/3"), Some(Plant::SlowAlerts)).expect("plans");
        assert_eq!(p.seeds, vec![2, 5]);
        assert!(p.scenario.world.world_bugs.slow_alerts);
        assert!(
            p.header()
                .ends_with(": 2 seeds (shard 2/3 of 6) on 2 threads, planted bug slow-alerts"),
            "{}",
            p.header()
        );
        let whole = plan("3", None, None).expect("plans");
        assert!(!whole.scenario.world.world_bugs.slow_alerts);
        assert!(
            whole.header().ends_with(": 1 seed on 2 threads"),
            "{}",
            whole.header()
        );
    }

    /// One seed repeats with `run`, or with `sweep` when a bug is planted, keeping the
    /// overrides and another PKI seed.
    #[test]
    fn a_seed_repeats_with_the_command_that_can_plant_its_bug() {
        let mut p = plan("1..2", None, None).expect("plans");
        let file = p.file.display().to_string();
        assert_eq!(
            p.reproduce(4),
            format!("camproof run {file} --seed 4 --cameras 8")
        );
        p.plant = Some(Plant::GrantEveryVote);
        p.pki_seed = 3;
        assert_eq!(
            p.reproduce(4),
            format!(
                "camproof sweep {file} --seeds 4 --plant grant-every-vote --cameras 8 --pki-seed 3"
            )
        );
    }

    /// Bad jobs, seeds and shards are refused before the scenario is read.
    #[test]
    fn a_bad_sweep_is_refused_before_reading_the_scenario() {
        let nowhere = Path::new("no/such.toml");
        let refuse = |jobs, seeds, shard| {
            SweepPlan::new(nowhere, seeds, shard, jobs, Overrides::default(), None, 1)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(refuse(0, "1..2", None), "--jobs must be at least 1");
        assert!(refuse(1, "2..1", None).starts_with("--seeds"));
        assert!(refuse(1, "1..2", Some("3/2")).contains("expected K/N"));
        assert_eq!(refuse(1, "1..2", None), "reading scenario no/such.toml");
    }
}
