//! One scenario over many seeds: the seeds to run ([`parse_seeds`], [`parse_shard`],
//! [`shard_of`]), runs spread over worker threads ([`run_seeds`]), and a failing run
//! shrunk to a smaller world that still fails ([`shrink`]).
//!
//! Each run is a whole deterministic world on one thread; threads only decide which
//! seed runs when, so a seed's result does not depend on `jobs`.
#![allow(clippy::disallowed_methods)] // Wall-clock time here measures the host, not the run.

use std::collections::BTreeSet;
use std::num::ParseIntError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use camproof_protocol::pki::{KeyCache, TestPki};
use thiserror::Error;

use crate::plan::Plan;
use crate::scenario::Scenario;
use crate::world::{self, WorldError, WorldSpec};

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

/// What one world run found: the failed checks as `check: detail`, and its trace hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// The checks that failed, `check: detail` (empty: the run passed).
    pub failures: Vec<String>,
    /// SHA-256 of the run's trace.
    pub trace_hash: String,
}

/// Runs one world and keeps only what a sweep needs of it.
pub fn run_world(
    spec: &WorldSpec,
    pki: &TestPki,
    cache: &mut dyn KeyCache,
) -> Result<RunOutcome, WorldError> {
    let plan = Plan::new(spec.clone()).map_err(|e| WorldError::Invalid(e.to_string()))?;
    let summary = world::run(&plan, pki, cache)?;
    let failures = summary
        .failures()
        .into_iter()
        .map(|f| format!("{}: {}", f.check, f.detail))
        .collect();
    Ok(RunOutcome {
        failures,
        trace_hash: summary.trace_hash,
    })
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

/// Runs `base` once per seed on `jobs` worker threads (at least one, at most one per
/// seed), each run with a cache from `open_cache`; calls `on_done` as each seed finishes
/// (from the worker's thread, in no fixed order).
pub fn run_seeds(
    base: &WorldSpec,
    seeds: &[u64],
    jobs: usize,
    pki: &TestPki,
    open_cache: &(dyn Fn() -> Box<dyn KeyCache> + Sync),
    on_done: &(dyn Fn(SeedOutcome) + Sync),
) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, seeds.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else { break };
                let mut spec = base.clone();
                spec.seed = seed;
                let t = Instant::now();
                let result = run_world(&spec, pki, open_cache().as_mut());
                on_done(SeedOutcome {
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
