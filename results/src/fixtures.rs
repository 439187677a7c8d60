//! Small sweeps for tests of the code that reads them (here and in `camproof-reports`):
//! a scenario `zone-split` in `z.toml`, seeds that pass or fail with given failures.

use crate::{SeedRun, SweepReport};

/// A sweep of `zone-split` (`z.toml`) over `runs`, 3 s of wall time.
pub fn sweep(runs: Vec<SeedRun>) -> SweepReport {
    let file = "z.toml".to_string();
    SweepReport::new("zone-split".into(), file, None, (1, 1), runs, 3.0)
}

/// Seed `n`, failed with `failures` (`check: detail`), trace hash `h<n>`, 1.5 s of wall time.
pub fn seed(n: u64, failures: &[&str]) -> SeedRun {
    let failures = failures.iter().map(|f| f.to_string()).collect();
    SeedRun::new(
        n,
        failures,
        format!("h{n}"),
        1.5,
        format!("camproof run z.toml --seed {n}"),
    )
}
