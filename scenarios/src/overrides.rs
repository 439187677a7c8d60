//! Command-line overrides of a scenario's world (`--cameras`, `--sites`, `--duration`,
//! `--pcap`), applied and then checked as a [`Plan`], with errors that name the flags;
//! a scenario file [`load`]ed with them; and the command that repeats a run.
//!
//! `camproof run` and `camproof sweep` take the same overrides and apply them with
//! [`apply_overrides`], so both accept and refuse the same values.

use std::io;
use std::path::Path;
use std::time::Duration;

use thiserror::Error;

use crate::plan::{Plan, PlanError, Subject, MAX_CAMERAS_PER_SITE, MAX_HOSTS};
use crate::scenario::{parse_duration, Scenario, ScenarioError, SourceLines};
use crate::spec::WorldSpec;

/// Overrides of a scenario file's world, for runs at scale.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Total cameras, spread over the scenario's sites.
    pub cameras: Option<u64>,
    /// Customer sites, spread over the scenario's regions; without `cameras`, the same
    /// fleet is spread over them.
    pub sites: Option<u32>,
    /// Simulated duration as given (`90s`, `10m`), kept as text for [`Overrides::flags`].
    pub duration: Option<String>,
    /// Drop the faults and attacks the overridden world no longer fits, listing each in
    /// [`Scenario::dropped`], instead of refusing the overrides.
    pub allow_truncate: bool,
}

impl Overrides {
    /// The options as given, each with a leading space (` --cameras N --sites S`).
    pub fn flags(&self) -> String {
        let mut out = String::new();
        if let Some(c) = self.cameras {
            out += &format!(" --cameras {c}");
        }
        if let Some(s) = self.sites {
            out += &format!(" --sites {s}");
        }
        if let Some(d) = &self.duration {
            out += &format!(" --duration {d}");
        }
        if self.allow_truncate {
            out += " --allow-truncate";
        }
        out
    }

    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == Overrides::default()
    }
}

/// Why an override was refused; each message names the option.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OverrideError {
    /// `--duration` is not a duration.
    #[error("--duration {text:?}: expected a duration such as 90s or 10m")]
    Duration {
        /// The value given.
        text: String,
    },
    /// The world the overrides make is not a valid plan.
    #[error("{flags}: {message}")]
    Refused {
        /// The flags as given (`--sites 300`).
        flags: String,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// `--pcap` names a host the world does not have.
    #[error("--pcap {host:?}: no such host in this world (hosts: {hosts}; or region:<name>)")]
    CaptureHost {
        /// The value given.
        host: String,
        /// The world's hosts, comma-separated.
        hosts: String,
    },
}

/// The world's gateway and site names, comma-separated (for error messages).
fn host_list(spec: &WorldSpec) -> String {
    spec.gateway_names()
        .into_iter()
        .chain(spec.site_names())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Applies `overrides` to a parsed scenario's world (sites, then cameras, then
/// duration) and checks the result as a [`Plan`]: a fault or attack that no longer fits
/// (a site gone, a time past the new end) is refused, never dropped.
pub fn apply_overrides(
    scenario: &mut Scenario,
    overrides: &Overrides,
) -> Result<(), OverrideError> {
    if overrides.is_empty() {
        return Ok(());
    }
    let duration = match overrides.duration.as_deref() {
        None => None,
        Some(d) => Some(
            parse_duration(d)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| OverrideError::Duration { text: d.into() })?,
        ),
    };
    let flags = overrides.flags();
    let (plan, dropped) = apply(
        &scenario.world,
        &scenario.source,
        overrides,
        duration,
        &flags,
    )?;
    scenario.world = plan.into_spec();
    scenario.dropped = dropped;
    Ok(())
}

/// The world `spec` becomes with the overrides, as a plan, and (with
/// `--allow-truncate`) what it dropped; `source` places its faults and attacks in the
/// file for the errors and the list.
fn apply(
    spec: &WorldSpec,
    source: &SourceLines,
    overrides: &Overrides,
    duration: Option<Duration>,
    flags: &str,
) -> Result<(Plan, Vec<String>), OverrideError> {
    let refuse = |message: String| OverrideError::Refused {
        flags: flags.trim().to_string(),
        message,
    };
    let mut spec = spec.clone();
    if let Some(sites) = overrides.sites {
        if sites == 0 {
            return Err(refuse(sites_hint(&spec)));
        }
        let total = spec.cameras();
        spec.sites = sites;
        if overrides.cameras.is_none() {
            // The same fleet, spread over the new sites.
            spec.cameras_per_site = u32::try_from(total.div_ceil(u64::from(sites)))
                .map_err(|_| refuse("too many cameras per site".into()))?;
        }
    }
    if let Some(cameras) = overrides.cameras {
        if cameras == 0 {
            return Err(refuse("--cameras must be at least 1".into()));
        }
        let per_site = cameras.div_ceil(u64::from(spec.sites.max(1)));
        spec.cameras_per_site = u32::try_from(per_site).unwrap_or(u32::MAX);
    }
    let written = spec.duration;
    if let Some(duration) = duration {
        spec.duration = duration;
    }
    let total = spec.cameras();
    let mut source = source.clone();
    let mut dropped = Vec::new();
    loop {
        let e = match Plan::new(spec.clone()) {
            Ok(plan) => return Ok((plan, dropped)),
            Err(e) => e,
        };
        let droppable = matches!(e.subject, Subject::Fault(_) | Subject::Attack(..));
        match (overrides.allow_truncate, e.subject.clone()) {
            (true, Subject::Fault(i)) if i < spec.faults.len() => {
                dropped.push(format!(
                    "{}: the fault at {} ({})",
                    source.fault(i),
                    humantime::format_duration(spec.faults[i].at),
                    e.message
                ));
                spec.faults.remove(i);
                remove_line(&mut source.faults, i);
                continue;
            }
            (true, Subject::Attack(i, key)) if i < spec.attacks.len() => {
                dropped.push(format!(
                    "{}: the attack (its `{key}`: {})",
                    source.attack(i),
                    e.message
                ));
                spec.attacks.remove(i);
                remove_line(&mut source.attacks, i);
                continue;
            }
            _ => {}
        }
        let mut message = explain(&spec, &source, total, e);
        if let Some(keeps) = duration.and_then(|_| shortest_duration(&spec, written)) {
            message += &format!(
                "; the shortest --duration that keeps everything is {}",
                humantime::format_duration(keeps)
            );
        }
        if droppable && !overrides.allow_truncate {
            message += " (or pass --allow-truncate to drop it and list what is dropped)";
        }
        return Err(refuse(message));
    }
}

/// Forgets the line of the fault or attack `i` once it is dropped, so the lines of those
/// after it stay theirs.
fn remove_line(lines: &mut Vec<usize>, i: usize) {
    if i < lines.len() {
        lines.remove(i);
    }
}

/// The shortest whole-second duration, between `spec`'s (refused) and the file's
/// `written` one, whose plan is valid; none if the file's own is not.
fn shortest_duration(spec: &WorldSpec, written: Duration) -> Option<Duration> {
    let valid = |secs: u64| {
        let mut s = spec.clone();
        s.duration = Duration::from_secs(secs);
        Plan::new(s).is_ok()
    };
    let mut lo = spec.duration.as_secs();
    let mut hi = written.as_secs_f64().ceil() as u64;
    if lo >= hi || !valid(hi) {
        return None;
    }
    // lo is refused (or the requested duration's whole seconds), hi is valid.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if valid(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(Duration::from_secs(hi))
}

/// What `--sites` may be in `spec`'s world.
fn sites_hint(spec: &WorldSpec) -> String {
    let others = crate::plan::host_count(spec) - u64::from(spec.sites);
    format!(
        "between 1 and what keeps the world within {MAX_HOSTS} hosts (its gateways and \
         attackers take {others})"
    )
}

/// A plan's error in the words of the flags that caused it, with the `file:line` of a
/// fault or attack that would not fit.
fn explain(spec: &WorldSpec, source: &SourceLines, cameras: u64, e: PlanError) -> String {
    match e.subject {
        Subject::Key("world.cameras_per_site") => {
            let need = cameras.div_ceil(u64::from(MAX_CAMERAS_PER_SITE));
            format!(
                "{} cameras per site: each site's account holds at most {MAX_CAMERAS_PER_SITE} \
                 cameras; add --sites {need} (or more) to spread {cameras} cameras",
                spec.cameras_per_site
            )
        }
        Subject::Key("world.sites") => sites_hint(spec),
        Subject::Fault(i) => {
            let at = spec.faults.get(i).map_or(Duration::ZERO, |f| f.at);
            format!(
                "{}: the fault at {} would be dropped; it needs a host, a user or a time \
                 which this world no longer has: {}",
                source.fault(i),
                humantime::format_duration(at),
                e.message
            )
        }
        Subject::Attack(i, key) => format!(
            "{}: the attack would be dropped; its `{key}` no longer fits this world: {}",
            source.attack(i),
            e.message
        ),
        _ => e.to_string(),
    }
}

/// Keeps every TCP segment to or from `hosts` (host names, or `region:<name>`) for a
/// capture file; refuses a name the world does not have.
pub fn set_capture(spec: &mut WorldSpec, hosts: &[String]) -> Result<(), OverrideError> {
    for host in hosts {
        if spec.resolve_target(host).is_none() {
            return Err(OverrideError::CaptureHost {
                host: host.clone(),
                hosts: host_list(spec),
            });
        }
    }
    spec.wire.capture = hosts.to_vec();
    Ok(())
}

/// Why a scenario file could not be loaded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("reading scenario {file}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        source: io::Error,
    },
    /// The file is not a valid scenario.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The overrides do not fit the scenario's world.
    #[error(transparent)]
    Override(#[from] OverrideError),
}

/// Reads and checks the scenario file `path`, sets its seed and applies `overrides`.
pub fn load(path: &Path, seed: u64, overrides: &Overrides) -> Result<Scenario, LoadError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        file: file.clone(),
        source,
    })?;
    let mut scenario = Scenario::parse(&file, &text)?;
    scenario.world.seed = seed;
    apply_overrides(&mut scenario, overrides)?;
    Ok(scenario)
}

/// The `camproof run` command that repeats one run of `scenario`.
pub fn reproduce_command(scenario: &Path, seed: u64, overrides: &Overrides) -> String {
    format!(
        "camproof run {} --seed {seed}{}",
        scenario.display(),
        overrides.flags()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Fault, FaultAction};

    fn spec() -> WorldSpec {
        WorldSpec {
            seed: 1,
            faults: vec![Fault {
                at: Duration::from_secs(100),
                action: FaultAction::Restart("site-apac-3".into()),
            }],
            ..WorldSpec::new(&["eu-africa", "apac"], 4, 10, Duration::from_secs(120))
        }
    }

    /// The one fault of [`spec`] is written on line 17 of `s.toml`.
    fn lines() -> SourceLines {
        SourceLines {
            file: "s.toml".into(),
            faults: vec![17],
            attacks: Vec::new(),
        }
    }

    #[test]
    fn flags_echo_the_overrides_as_given() {
        let o = Overrides {
            cameras: Some(24),
            sites: None,
            duration: Some("90s".into()),
            allow_truncate: false,
        };
        assert_eq!(o.flags(), " --cameras 24 --duration 90s");
        assert_eq!(
            reproduce_command(Path::new("a.toml"), 3, &o),
            "camproof run a.toml --seed 3 --cameras 24 --duration 90s"
        );
    }

    #[test]
    fn sites_spread_the_same_fleet() {
        let o = Overrides {
            sites: Some(8),
            ..Default::default()
        };
        let (plan, dropped) = apply(&spec(), &lines(), &o, None, &o.flags()).expect("fits");
        assert_eq!(plan.spec().cameras_per_site, 5);
        assert!(dropped.is_empty());
    }

    #[test]
    fn a_shorter_run_refuses_the_faults_it_would_drop() {
        let o = Overrides {
            duration: Some("90s".into()),
            ..Default::default()
        };
        let err = apply(
            &spec(),
            &lines(),
            &o,
            Some(Duration::from_secs(90)),
            &o.flags(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("--duration 90s: s.toml:17: the fault at 1m 40s would be dropped"),
            "{err}"
        );
        assert!(err.contains("not before the end of the run"), "{err}");
        assert!(
            err.ends_with(
                "the shortest --duration that keeps everything is 1m 41s (or pass \
                 --allow-truncate to drop it and list what is dropped)"
            ),
            "{err}"
        );
        let keeps = Some(Duration::from_secs(101));
        assert!(apply(&spec(), &lines(), &o, keeps, &o.flags()).is_ok());
        // Asked to, the fault is dropped and listed with its line; nothing else is.
        let truncate = Overrides {
            allow_truncate: true,
            ..o
        };
        let short = Some(Duration::from_secs(90));
        let (plan, dropped) =
            apply(&spec(), &lines(), &truncate, short, &truncate.flags()).expect("truncates");
        assert!(plan.spec().faults.is_empty());
        assert_eq!(
            dropped,
            ["s.toml:17: the fault at 1m 40s (fault at 1m 40s is not before the end of the run (1m 30s))"]
        );
        assert!(truncate.flags().ends_with(" --allow-truncate"));
    }

    #[test]
    fn fewer_sites_refuse_faults_on_sites_gone() {
        let o = Overrides {
            sites: Some(2),
            ..Default::default()
        };
        let err = apply(&spec(), &lines(), &o, None, &o.flags())
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown host \"site-apac-3\""), "{err}");
    }

    #[test]
    fn too_many_cameras_per_site_name_the_sites_that_fit() {
        let o = Overrides {
            cameras: Some(10_000),
            ..Default::default()
        };
        let err = apply(&spec(), &lines(), &o, None, &o.flags())
            .unwrap_err()
            .to_string();
        assert!(err.contains("2500 cameras per site"), "{err}");
        assert!(err.contains("add --sites 40"), "{err}");
    }

    #[test]
    fn a_huge_duration_is_a_clear_error() {
        let o = Overrides {
            duration: Some("18446744073709551615s".into()),
            ..Default::default()
        };
        let huge = Some(Duration::from_secs(u64::MAX));
        let err = apply(&spec(), &lines(), &o, huge, &o.flags())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("--duration 18446744073709551615s: `duration`"),
            "{err}"
        );
    }

    /// A catalog file loads with its seed set and the overrides applied; a missing file
    /// and a bad override are refused with the file or the flag named.
    #[test]
    fn load_reads_seeds_and_overrides_a_file() {
        let smoke = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/smoke.toml");
        let o = Overrides {
            cameras: Some(8),
            sites: Some(4),
            duration: None,
            allow_truncate: false,
        };
        let s = load(&smoke, 9, &o).expect("loads");
        assert_eq!(s.world.seed, 9);
        assert_eq!((s.world.sites, s.world.cameras()), (4, 8));
        let err = load(Path::new("no/such.toml"), 1, &o).unwrap_err();
        assert!(matches!(err, LoadError::Read { .. }), "{err:?}");
        assert_eq!(err.to_string(), "reading scenario no/such.toml");
        let bad = Overrides {
            duration: Some("soon".into()),
            ..Default::default()
        };
        let err = load(&smoke, 1, &bad).unwrap_err().to_string();
        assert!(err.starts_with("--duration \"soon\""), "{err}");
    }
}
