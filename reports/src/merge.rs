//! Joining sweep reports of one scenario (shards of a sweep, or sweeps of other seeds)
//! into one: `camproof report merge`.

use std::path::PathBuf;

use thiserror::Error;

use camproof_results::{SweepReport, SWEEP_SCHEMA};

/// Why sweep reports cannot be joined; each names the file at fault.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MergeError {
    /// The file could not be read.
    #[error("reading {file}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a `sweep.json`.
    #[error("{file}: not a sweep report")]
    NotSweep {
        /// The file.
        file: String,
        /// What the JSON parser said.
        source: serde_json::Error,
    },
    /// A `sweep.json` of another schema version.
    #[error("{file}: schema {found:?}, expected {SWEEP_SCHEMA:?}")]
    Schema {
        /// The file.
        file: String,
        /// Its schema.
        found: String,
    },
    /// A report of another scenario, or with another planted bug.
    #[error(
        "{file}: scenario {scenario:?}{} differs from {expected:?}{}",
        plant_note(.plant),
        plant_note(.expected_plant)
    )]
    Differs {
        /// The file.
        file: String,
        /// Its scenario.
        scenario: String,
        /// Its planted bug.
        plant: Option<String>,
        /// The scenario of the reports before it.
        expected: String,
        /// The planted bug of the reports before it.
        expected_plant: Option<String>,
    },
    /// One seed with two trace hashes: the shards ran different builds or settings.
    #[error(
        "{file}: seed {seed} ran twice with different traces ({first} vs {second}): the \
         shards ran different builds or settings"
    )]
    TraceMismatch {
        /// The file.
        file: String,
        /// The seed.
        seed: u64,
        /// Its trace hash in the reports before.
        first: String,
        /// Its trace hash in this file.
        second: String,
    },
    /// No report was given.
    #[error("nothing to merge")]
    Empty,
}

fn plant_note(plant: &Option<String>) -> String {
    plant
        .as_deref()
        .map(|p| format!(" (plant {p})"))
        .unwrap_or_default()
}

/// Sweep reports joined one file at a time; [`SweepMerge::finish`] gives the result.
#[derive(Debug, Default)]
pub struct SweepMerge {
    merged: Option<SweepReport>,
}

impl SweepMerge {
    /// An empty merge.
    pub fn new() -> Self {
        SweepMerge::default()
    }

    /// Adds the `sweep.json` text of `file`: its seeds not seen yet, its shards, wall
    /// time and shrunk reproducers. A seed seen before must have the same trace hash.
    pub fn add(&mut self, file: &str, text: &str) -> Result<(), MergeError> {
        let r: SweepReport = serde_json::from_str(text).map_err(|source| MergeError::NotSweep {
            file: file.into(),
            source,
        })?;
        if r.schema != SWEEP_SCHEMA {
            return Err(MergeError::Schema {
                file: file.into(),
                found: r.schema,
            });
        }
        let Some(m) = &mut self.merged else {
            self.merged = Some(r);
            return Ok(());
        };
        if m.scenario != r.scenario || m.plant != r.plant {
            return Err(MergeError::Differs {
                file: file.into(),
                scenario: r.scenario,
                plant: r.plant,
                expected: m.scenario.clone(),
                expected_plant: m.plant.clone(),
            });
        }
        for run in r.runs {
            match m.runs.iter().find(|x| x.seed == run.seed) {
                Some(x) if x.trace_hash != run.trace_hash => {
                    return Err(MergeError::TraceMismatch {
                        file: file.into(),
                        seed: run.seed,
                        first: x.trace_hash.clone(),
                        second: run.trace_hash,
                    })
                }
                Some(_) => {}
                None => m.runs.push(run),
            }
        }
        m.shards.extend(r.shards);
        m.wall_seconds += r.wall_seconds;
        m.shrunk.extend(r.shrunk);
        Ok(())
    }

    /// The `sweep.json` files at `paths` joined, as [`SweepMerge::add`] and
    /// [`SweepMerge::finish`] join them.
    pub fn files(paths: &[PathBuf]) -> Result<SweepReport, MergeError> {
        let mut merge = SweepMerge::new();
        for path in paths {
            let file = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| MergeError::Read {
                file: file.clone(),
                source,
            })?;
            merge.add(&file, &text)?;
        }
        merge.finish()
    }

    /// The joined report, runs sorted by seed and counted.
    pub fn finish(self) -> Result<SweepReport, MergeError> {
        let mut m = self.merged.ok_or(MergeError::Empty)?;
        m.tally();
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use camproof_results::fixtures::{seed, sweep};

    use super::*;

    /// Shard files merge into one report; a missing file is named.
    #[test]
    fn shard_files_merge_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = dir.path().join("a.json");
        let b = dir.path().join("b.json");
        let text = |r: &SweepReport| serde_json::to_string(r).expect("json");
        std::fs::write(&a, text(&sweep(vec![seed(2, &[])]))).expect("write");
        std::fs::write(&b, text(&sweep(vec![seed(1, &["x: y"])]))).expect("write");
        let m = SweepMerge::files(&[a.clone(), b]).expect("merges");
        assert_eq!(m.runs.iter().map(|r| r.seed).collect::<Vec<_>>(), [1, 2]);
        assert_eq!((m.passed, m.failed), (1, 1));
        let missing = dir.path().join("missing.json");
        let err = SweepMerge::files(&[a, missing.clone()]).unwrap_err();
        assert!(matches!(err, MergeError::Read { .. }), "{err:?}");
        assert_eq!(err.to_string(), format!("reading {}", missing.display()));
    }
}
