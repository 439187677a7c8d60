//! One run of a scenario as `camproof run` asks for it: the options as given
//! ([`RunOptions`]), the scenario they load, the world run and timed on the host, and
//! the command that repeats it.
#![allow(clippy::disallowed_methods)] // Wall-clock time here measures the host, not the run.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use camproof_protocol::pki::{KeyCache, TestPki};
use thiserror::Error;

use crate::overrides::{load, reproduce_command, set_capture, LoadError, OverrideError, Overrides};
use crate::plan::{Plan, PlanError};
use crate::plants::{NotObservable, Plant};
use crate::scenario::Scenario;
use crate::world::{self, Progress, RunSummary, WorldError};

/// Why a run could not produce a result.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RunError {
    /// The scenario file or the overrides were refused.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A host to capture is not in the world.
    #[error(transparent)]
    Capture(#[from] OverrideError),
    /// The planted bug is caught only by checks this scenario does not make.
    #[error(transparent)]
    Plant(#[from] NotObservable),
    /// The world is not a valid plan.
    #[error("checking the world")]
    Plan(#[source] PlanError),
    /// The simulation failed.
    #[error("running the world")]
    World(#[source] WorldError),
}

/// A run as asked for: the scenario file, the seed, the overrides and the options that
/// change the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// The scenario file.
    pub file: PathBuf,
    /// Seed of the run.
    pub seed: u64,
    /// Overrides of the file's world.
    pub overrides: Overrides,
    /// Hosts whose TCP segments are kept for a capture file (host names or
    /// `region:<name>`).
    pub capture: Vec<String>,
    /// Seed of the test PKI (1 unless asked).
    pub pki_seed: u64,
    /// Whether the wire is scanned for the run's secrets.
    pub wire_scan: bool,
    /// A bug planted on purpose, to see the checks catch it.
    pub plant: Option<Plant>,
}

impl RunOptions {
    /// The scenario to run: the file read and checked, seeded, overridden, scanning and
    /// capturing as asked.
    pub fn scenario(&self) -> Result<Scenario, RunError> {
        let mut scenario = load(&self.file, self.seed, &self.overrides)?;
        scenario.world.wire.scan = self.wire_scan;
        set_capture(&mut scenario.world, &self.capture)?;
        if let Some(p) = self.plant {
            p.plant_in(&self.file, &mut scenario.world)?;
        }
        Ok(scenario)
    }

    /// Runs `scenario`'s world with `pki` and keys from `cache`, telling `watch` where it
    /// is once per simulated second (it may stop the run); returns what happened, or
    /// `None` if `watch` stopped it, and the wall-clock time it took.
    pub fn run(
        &self,
        scenario: &Scenario,
        pki: &TestPki,
        cache: &mut dyn KeyCache,
        watch: &mut dyn FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<(Option<RunSummary>, Duration), RunError> {
        let started = Instant::now();
        let plan = Plan::new(scenario.world.clone()).map_err(RunError::Plan)?;
        let summary = world::run_watched(&plan, pki, cache, watch).map_err(RunError::World)?;
        Ok((summary, started.elapsed()))
    }

    /// The command that repeats this run: the file, seed and overrides, and every other
    /// option that changes the run (another PKI seed, no wire scan).
    pub fn reproduce(&self) -> String {
        let mut again = reproduce_command(&self.file, self.seed, &self.overrides);
        if self.pki_seed != 1 {
            again += &format!(" --pki-seed {}", self.pki_seed);
        }
        if !self.wire_scan {
            again += " --no-wire-scan";
        }
        if let Some(p) = self.plant {
            again += &format!(" --plant {}", p.flag());
        }
        again
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> RunOptions {
        RunOptions {
            file: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("catalog/smoke.toml"),
            seed: 5,
            overrides: Overrides {
                cameras: Some(4),
                ..Default::default()
            },
            capture: Vec::new(),
            pki_seed: 1,
            wire_scan: true,
            plant: None,
        }
    }

    /// The command repeats the options that change the run, and only those.
    #[test]
    fn reproduce_keeps_the_options_that_change_the_run() {
        let mut o = options();
        let base = format!("camproof run {} --seed 5 --cameras 4", o.file.display());
        assert_eq!(o.reproduce(), base);
        o.pki_seed = 2;
        o.wire_scan = false;
        assert_eq!(o.reproduce(), format!("{base} --pki-seed 2 --no-wire-scan"));
        o.plant = Some(Plant::GrantEveryVote);
        assert_eq!(
            o.reproduce(),
            format!("{base} --pki-seed 2 --no-wire-scan --plant grant-every-vote")
        );
        // A plant the scenario cannot catch is refused when the scenario is loaded.
        o.wire_scan = false;
        o.plant = Some(Plant::AppLeaksPassword);
        let e = o.scenario().unwrap_err().to_string();
        assert!(
            e.contains("no-plaintext-secret is not checked here (the wire was not scanned"),
            "{e}"
        );
    }

    /// The scenario carries the seed, the scan and the capture; a capture host the world
    /// does not have is refused.
    #[test]
    fn the_scenario_scans_and_captures_as_asked() {
        let mut o = options();
        o.wire_scan = false;
        let s = o.scenario().expect("loads");
        assert_eq!(s.world.seed, 5);
        assert!(!s.world.wire.scan);
        assert!(s.world.wire.capture.is_empty());
        o.capture = vec!["no-such-host".into()];
        let err = o.scenario().unwrap_err();
        assert!(matches!(err, RunError::Capture(_)), "{err:?}");
        assert!(
            err.to_string().starts_with("--pcap \"no-such-host\""),
            "{err}"
        );
    }
}
