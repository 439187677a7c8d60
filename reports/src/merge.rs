//! Joining sweep reports of one scenario (shards of a sweep, or sweeps of other seeds)
//! into one: `camproof report merge`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use thiserror::Error;

use camproof_results::{seeds_not_run, SweepReport, SWEEP_SCHEMA};

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
    /// A report run with other overrides or by another build: its seeds are not seeds
    /// of the same sweep.
    #[error(
        "{file}: {what} {found:?} differs from {expected:?} in the reports before it: \
         shards must run the same scenario the same way"
    )]
    Setting {
        /// The file.
        file: String,
        /// `overrides` or `build`.
        what: &'static str,
        /// Its value.
        found: String,
        /// The value of the reports before it.
        expected: String,
    },
    /// A report that did not run all its seeds (interrupted, or itself a partial merge).
    #[error(
        "{file} did not run every seed of its shard ({seeds}{why}); merge complete \
         reports, or pass --allow-partial to merge what is here and list what is not"
    )]
    Incomplete {
        /// The file.
        file: String,
        /// The seeds it did not run.
        seeds: String,
        /// `; it was interrupted`, or empty.
        why: &'static str,
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
    /// A shard that is not `K/N` with 1 ≤ K ≤ N.
    #[error("{file}: shard {shard:?} is not K/N with 1 <= K <= N")]
    BadShard {
        /// The file.
        file: String,
        /// The shard as written.
        shard: String,
    },
    /// The same shard of the same sweep twice: its seeds would count twice.
    #[error("{file}: shard {shard} of seeds {range} is already in {first}")]
    ShardTwice {
        /// The file.
        file: String,
        /// The shard, `K/N`.
        shard: String,
        /// The sweep's seeds, `A..B` (`?` for reports that do not say).
        range: String,
        /// The file that had it first.
        first: String,
    },
    /// Shards of a sweep are missing: the merge would cover part of its seeds unseen.
    #[error(
        "shards {missing} of seeds {range} are missing{seeds}; merge every shard, or pass \
         --allow-partial to merge what is here and list what is not"
    )]
    MissingShards {
        /// The missing shards, `K/N, …`.
        missing: String,
        /// The sweep's seeds, `A..B` (`?` for reports that do not say).
        range: String,
        /// `: seeds …` not run, when the reports name their range.
        seeds: String,
    },
    /// No report was given.
    #[error("nothing to merge")]
    Empty,
}

/// A sweep as its shards name it: its seed range (if the report says) and N.
type SweepKey = (Option<[u64; 2]>, usize);

/// `A..B`, or `?` for a report written before sweeps recorded their range.
fn range_text(range: Option<[u64; 2]>) -> String {
    range.map_or("?".into(), |[a, b]| format!("{a}..{b}"))
}

fn parse_shard(text: &str) -> Option<(usize, usize)> {
    let (k, n) = text.split_once('/')?;
    let (k, n): (usize, usize) = (k.trim().parse().ok()?, n.trim().parse().ok()?);
    (1..=n).contains(&k).then_some((k, n))
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
    /// For each sweep (its seed range and shard count N), the file of each shard K seen.
    shards: BTreeMap<SweepKey, BTreeMap<usize, String>>,
    /// Reports that did not run all their seeds: the file, why, and the seeds.
    incomplete: Vec<(String, &'static str, Vec<u64>)>,
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
        for shard in &r.shards {
            let (k, n) = parse_shard(shard).ok_or_else(|| MergeError::BadShard {
                file: file.into(),
                shard: shard.clone(),
            })?;
            let seen = self.shards.entry((r.seed_range, n)).or_default();
            if let Some(first) = seen.get(&k) {
                return Err(MergeError::ShardTwice {
                    file: file.into(),
                    shard: shard.clone(),
                    range: range_text(r.seed_range),
                    first: first.clone(),
                });
            }
            seen.insert(k, file.into());
        }
        if r.interrupted || !r.missing_seeds.is_empty() {
            let why = if r.interrupted {
                "; it was interrupted"
            } else {
                ""
            };
            self.incomplete
                .push((file.into(), why, r.missing_seeds.clone()));
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
        let setting = |what, found: &str, expected: &str| MergeError::Setting {
            file: file.into(),
            what,
            found: found.trim().into(),
            expected: expected.trim().into(),
        };
        if m.overrides != r.overrides {
            return Err(setting("overrides", &r.overrides, &m.overrides));
        }
        // Reports written before builds were recorded say nothing; only two known
        // builds can be told apart.
        if !m.version.is_empty() && !r.version.is_empty() && m.version != r.version {
            return Err(setting("build", &r.version, &m.version));
        }
        if m.version.is_empty() {
            m.version = r.version.clone();
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
        if m.seed_range != r.seed_range {
            // Sweeps of other seeds: the merged report spans them all.
            m.seed_range = match (m.seed_range, r.seed_range) {
                (Some([a, b]), Some([c, d])) => Some([a.min(c), b.max(d)]),
                _ => None,
            };
        }
        Ok(())
    }

    /// The `sweep.json` files at `paths` joined, as [`SweepMerge::add`] and
    /// [`SweepMerge::finish`] join them.
    pub fn files(paths: &[PathBuf], allow_partial: bool) -> Result<SweepReport, MergeError> {
        let mut merge = SweepMerge::new();
        for path in paths {
            let file = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| MergeError::Read {
                file: file.clone(),
                source,
            })?;
            merge.add(&file, &text)?;
        }
        merge.finish(allow_partial)
    }

    /// The joined report, runs sorted by seed and counted. Every shard `K/N` of each
    /// sweep must be there; with `allow_partial` the report lists the shards and seeds
    /// that are not.
    pub fn finish(self, allow_partial: bool) -> Result<SweepReport, MergeError> {
        let mut m = self.merged.ok_or(MergeError::Empty)?;
        m.tally();
        m.interrupted = false;
        let ran: BTreeSet<u64> = m.runs.iter().map(|r| r.seed).collect();
        for (file, why, seeds) in self.incomplete {
            let not_run: Vec<u64> = seeds.into_iter().filter(|s| !ran.contains(s)).collect();
            if !allow_partial {
                return Err(MergeError::Incomplete {
                    file,
                    seeds: seeds_not_run(&not_run),
                    why,
                });
            }
            m.missing_seeds.extend(not_run);
        }
        m.missing_seeds.retain(|s| !ran.contains(s));
        for ((range, n), seen) in &self.shards {
            let missing: Vec<String> = (1..=*n)
                .filter(|k| !seen.contains_key(k))
                .map(|k| format!("{k}/{n}"))
                .collect();
            if missing.is_empty() {
                continue;
            }
            let seeds: Vec<u64> = range
                .map(|[a, b]| (a..=b).filter(|s| !ran.contains(s)).collect())
                .unwrap_or_default();
            if !allow_partial {
                return Err(MergeError::MissingShards {
                    missing: missing.join(", "),
                    range: range_text(*range),
                    seeds: if seeds.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", seeds_not_run(&seeds))
                    },
                });
            }
            m.missing_shards.extend(missing);
            m.missing_seeds.extend(seeds);
        }
        m.missing_seeds.sort_unstable();
        m.missing_seeds.dedup();
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use camproof_results::fixtures::{seed, sweep};
    use camproof_results::SeedRun;

    use super::*;

    fn text(r: &SweepReport) -> String {
        serde_json::to_string(r).expect("json")
    }

    /// Shard `k` of `n` of the sweep of seeds `1..=last`, with the seeds it ran.
    fn shard(k: usize, n: usize, last: u64, runs: Vec<SeedRun>) -> SweepReport {
        let mut r = sweep(runs);
        r.shards = vec![format!("{k}/{n}")];
        r.seed_range = Some([1, last]);
        r
    }

    /// Sweeps of other seeds merge into one report; a missing file is named.
    #[test]
    fn sweeps_merge_and_a_missing_file_is_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = dir.path().join("a.json");
        let b = dir.path().join("b.json");
        let mut two = sweep(vec![seed(2, &[])]);
        two.seed_range = Some([2, 2]);
        let mut one = sweep(vec![seed(1, &["x: y"])]);
        one.seed_range = Some([1, 1]);
        std::fs::write(&a, text(&two)).expect("write");
        std::fs::write(&b, text(&one)).expect("write");
        let m = SweepMerge::files(&[a.clone(), b], false).expect("merges");
        assert_eq!(m.runs.iter().map(|r| r.seed).collect::<Vec<_>>(), [1, 2]);
        assert_eq!((m.passed, m.failed), (1, 1));
        assert_eq!(m.seed_range, Some([1, 2]));
        let missing = dir.path().join("missing.json");
        let err = SweepMerge::files(&[a, missing.clone()], false).unwrap_err();
        assert!(matches!(err, MergeError::Read { .. }), "{err:?}");
        assert_eq!(err.to_string(), format!("reading {}", missing.display()));
    }

    /// Every shard of a sweep exactly once: a shard twice is refused, a missing one is
    /// refused naming its seeds, and a partial merge says what it lacks.
    #[test]
    fn a_merge_covers_every_shard_once_or_says_what_it_lacks() {
        let first = shard(1, 2, 4, vec![seed(1, &[]), seed(3, &[])]);
        let second = shard(2, 2, 4, vec![seed(2, &[]), seed(4, &[])]);
        let merge = |reports: &[&SweepReport], partial: bool| {
            let mut m = SweepMerge::new();
            for (i, r) in reports.iter().enumerate() {
                m.add(&format!("s{i}.json"), &text(r))?;
            }
            m.finish(partial)
        };
        let whole = merge(&[&first, &second], false).expect("both shards");
        assert_eq!(whole.runs.len(), 4);
        assert!(whole.missing_shards.is_empty() && whole.missing_seeds.is_empty());

        let twice = merge(&[&first, &first], false).unwrap_err();
        assert_eq!(
            twice.to_string(),
            "s1.json: shard 1/2 of seeds 1..4 is already in s0.json"
        );
        let alone = merge(&[&first], false).unwrap_err();
        assert_eq!(
            alone.to_string(),
            "shards 2/2 of seeds 1..4 are missing (2 seeds not run: 2, 4); merge every shard, \
             or pass --allow-partial to merge what is here and list what is not"
        );
        let partial = merge(&[&first], true).expect("partial allowed");
        assert_eq!(partial.missing_shards, ["2/2"]);
        assert_eq!(partial.missing_seeds, [2, 4]);
        assert!(
            partial
                .merged_text(1)
                .contains("PARTIAL: shards 2/2 missing (2 seeds not run: 2, 4)"),
            "{}",
            partial.merged_text(1)
        );
        // Reports that do not name their range cannot show two sweeps apart: refused too.
        let mut old = first.clone();
        old.seed_range = None;
        assert!(matches!(
            merge(&[&old, &old], false),
            Err(MergeError::ShardTwice { .. })
        ));
        let mut bad = first.clone();
        bad.shards = vec!["3/2".into()];
        assert!(matches!(
            merge(&[&bad], false),
            Err(MergeError::BadShard { .. })
        ));
    }

    /// Shards must run the same overrides on the same build, and a report that did not
    /// run all its seeds (interrupted) is refused unless the merge may be partial.
    #[test]
    fn shards_of_other_settings_or_unfinished_ones_are_refused() {
        let first = shard(1, 2, 4, vec![seed(1, &[]), seed(3, &[])]);
        let second = shard(2, 2, 4, vec![seed(2, &[]), seed(4, &[])]);
        let merge = |a: &SweepReport, b: &SweepReport, partial: bool| {
            let mut m = SweepMerge::new();
            m.add("a.json", &text(a))?;
            m.add("b.json", &text(b))?;
            m.finish(partial)
        };
        let mut longer = second.clone();
        longer.overrides = " --duration 5m".into();
        assert_eq!(
            merge(&first, &longer, true).unwrap_err().to_string(),
            "b.json: overrides \"--duration 5m\" differs from \"\" in the reports before it: \
             shards must run the same scenario the same way"
        );
        let (mut old_build, mut new_build) = (first.clone(), second.clone());
        old_build.version = "camproof 0.1.0 (aaaa)".into();
        new_build.version = "camproof 0.1.0 (bbbb)".into();
        assert!(matches!(
            merge(&old_build, &new_build, true),
            Err(MergeError::Setting { what: "build", .. })
        ));
        // A report that does not say its build merges with one that does.
        let known = merge(&first, &new_build, false).expect("unknown build merges");
        assert_eq!(known.version, "camproof 0.1.0 (bbbb)");

        let mut stopped = second.clone();
        stopped.runs.retain(|r| r.seed == 2);
        stopped.interrupted = true;
        stopped.missing_seeds = vec![4];
        assert_eq!(
            merge(&first, &stopped, false).unwrap_err().to_string(),
            "b.json did not run every seed of its shard (1 seed not run: 4; it was \
             interrupted); merge complete reports, or pass --allow-partial to merge what is \
             here and list what is not"
        );
        let partial = merge(&first, &stopped, true).expect("partial allowed");
        assert_eq!(partial.missing_seeds, [4]);
        assert!(!partial.interrupted);
    }
}
