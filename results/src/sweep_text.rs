//! A sweep's seeds as they finish ([`SeedRun::new`]) and its report
//! ([`SweepReport::new`]), and what `camproof sweep` and `camproof report merge` print
//! about them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::report::{SeedRun, SweepReport, SWEEP_SCHEMA};

impl SeedRun {
    /// One seed's run: `pass` if no check failed, else `fail`.
    pub fn new(
        seed: u64,
        failures: Vec<String>,
        trace_hash: String,
        wall_seconds: f64,
        reproduce: String,
    ) -> SeedRun {
        let verdict = if failures.is_empty() { "pass" } else { "fail" };
        SeedRun {
            seed,
            verdict: verdict.into(),
            failures,
            trace_hash,
            wall_seconds,
            reproduce,
        }
    }

    /// Whether no check failed.
    pub fn passed(&self) -> bool {
        self.verdict == "pass"
    }

    /// The two lines a failed seed prints: its failures, and how to repeat it.
    pub fn failure_text(&self) -> String {
        format!(
            "FAIL seed {}: {}\n     reproduce: {}",
            self.seed,
            self.failures.join("; "),
            self.reproduce
        )
    }
}

impl SweepReport {
    /// The report of shard `shard` (K of N) of a sweep of `file` (scenario `scenario`,
    /// bug `plant` planted), its `runs` sorted and counted; nothing shrunk yet.
    pub fn new(
        scenario: String,
        file: String,
        plant: Option<String>,
        (k, n): (usize, usize),
        runs: Vec<SeedRun>,
        wall_seconds: f64,
    ) -> SweepReport {
        let mut report = SweepReport {
            schema: SWEEP_SCHEMA.into(),
            scenario,
            file,
            plant,
            shards: vec![format!("{k}/{n}")],
            runs,
            passed: 0,
            failed: 0,
            wall_seconds,
            shrunk: BTreeMap::new(),
            seed_range: None,
            missing_shards: Vec::new(),
            missing_seeds: Vec::new(),
            overrides: String::new(),
            version: String::new(),
            interrupted: false,
        };
        report.tally();
        report
    }

    /// The line a sweep on `jobs` threads ends with: passes, failures, wall time.
    pub fn result_line(&self, jobs: usize) -> String {
        format!(
            "result: {} passed, {} failed of {} in {:.1} s wall ({:.2} s per seed per thread)",
            self.passed,
            self.failed,
            count(self.runs.len(), "seed"),
            self.wall_seconds,
            self.wall_seconds * jobs as f64 / self.runs.len().max(1) as f64
        )
    }

    /// What `camproof report merge` prints for a merge of `inputs` reports: the totals,
    /// then each failed seed ([`SeedRun::failure_text`]).
    pub fn merged_text(&self, inputs: usize) -> String {
        let mut t = format!(
            "merged {} of {}: {}, {} passed, {} failed\n",
            count(inputs, "report"),
            self.scenario,
            count(self.runs.len(), "seed"),
            self.passed,
            self.failed
        );
        if !self.missing_shards.is_empty() {
            let _ = writeln!(
                t,
                "PARTIAL: shards {} missing ({})",
                self.missing_shards.join(", "),
                seeds_not_run(&self.missing_seeds)
            );
        }
        for r in self.runs.iter().filter(|r| !r.passed()) {
            let _ = writeln!(t, "{}", r.failure_text());
        }
        t
    }
}

/// `1 seed`, `2 seeds`: a count and its noun, singular for one.
pub fn count<N: TryInto<u64>>(n: N, noun: &str) -> String {
    let n: u64 = n.try_into().unwrap_or(u64::MAX);
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `2 seeds not run: 2, 4` (at most 20 named, then how many more): what a partial
/// merge lacks, in its error, its console line and its report.
pub fn seeds_not_run(seeds: &[u64]) -> String {
    let named: Vec<String> = seeds.iter().take(20).map(u64::to_string).collect();
    let more = seeds.len().saturating_sub(20);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!(
        "{} not run: {}{more}",
        count(seeds.len(), "seed"),
        named.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{seed, sweep};

    /// A seed fails exactly when a check failed, and says how to repeat it.
    #[test]
    fn a_seed_fails_when_a_check_failed() {
        assert!(seed(1, &[]).passed());
        let f = seed(2, &["liveness: 3/4 online", "store: lost"]);
        assert_eq!(f.verdict, "fail");
        assert_eq!(
            f.failure_text(),
            "FAIL seed 2: liveness: 3/4 online; store: lost\n     reproduce: camproof run z.toml --seed 2"
        );
    }

    /// A shard's report sorts and counts its seeds and names its shard.
    #[test]
    fn a_report_sorts_and_counts_its_seeds() {
        let r = SweepReport::new(
            "s".into(),
            "s.toml".into(),
            Some("slow-alerts".into()),
            (2, 4),
            vec![seed(9, &[]), seed(3, &["x: y"]), seed(5, &[])],
            1.0,
        );
        assert_eq!(r.schema, SWEEP_SCHEMA);
        assert_eq!(r.runs.iter().map(|r| r.seed).collect::<Vec<_>>(), [3, 5, 9]);
        assert_eq!((r.passed, r.failed), (2, 1));
        assert_eq!(r.shards, ["2/4"]);
        assert!(r.shrunk.is_empty());
    }

    /// The totals count the seeds; the per-thread time divides by the seeds run.
    #[test]
    fn the_result_and_merge_lines_count_the_seeds() {
        let r = sweep(vec![seed(3, &["x: y"]), seed(1, &[])]);
        assert_eq!(
            r.result_line(2),
            "result: 1 passed, 1 failed of 2 seeds in 3.0 s wall (3.00 s per seed per thread)"
        );
        assert_eq!(
            r.merged_text(2),
            "merged 2 reports of zone-split: 2 seeds, 1 passed, 1 failed\n\
             FAIL seed 3: x: y\n     reproduce: camproof run z.toml --seed 3\n"
        );
        // No seed run: the time is not divided by zero.
        let empty = sweep(Vec::new()).result_line(4);
        assert!(empty.ends_with("of 0 seeds in 3.0 s wall (12.00 s per seed per thread)"));
    }
}
