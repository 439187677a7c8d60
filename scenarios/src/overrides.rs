//! Command-line overrides of a scenario's world (`--cameras`, `--sites`, `--duration`),
//! applied and then checked as a [`Plan`], with errors that name the flag.

use std::time::Duration;

use thiserror::Error;

use crate::plan::{Plan, PlanError, Subject, MAX_CAMERAS_PER_SITE, MAX_HOSTS};
use crate::spec::WorldSpec;

/// The world's size and length, overriding a scenario file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Total cameras, spread over the sites.
    pub cameras: Option<u64>,
    /// Customer sites, spread over the regions; without `cameras`, the same fleet is
    /// spread over them.
    pub sites: Option<u32>,
    /// Simulated duration.
    pub duration: Option<Duration>,
}

/// Why overrides were refused; the message names the flags.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{flags}: {message}")]
pub struct OverrideError {
    /// The flags as given (`--sites 300`).
    pub flags: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl Overrides {
    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == Overrides::default()
    }

    /// Applies the overrides to `spec` and checks the result as a plan. A fault or attack
    /// that no longer fits (a site gone, a time past the new end) is refused, never
    /// dropped.
    pub fn apply(&self, mut spec: WorldSpec, flags: &str) -> Result<Plan, OverrideError> {
        let refuse = |message: String| OverrideError {
            flags: flags.trim().to_string(),
            message,
        };
        if let Some(sites) = self.sites {
            if sites == 0 {
                return Err(refuse("at least one site".into()));
            }
            let total = spec.cameras();
            spec.sites = sites;
            if self.cameras.is_none() {
                // The same fleet, spread over the new sites.
                spec.cameras_per_site = u32::try_from(total.div_ceil(u64::from(sites)))
                    .map_err(|_| refuse("too many cameras per site".into()))?;
            }
        }
        if let Some(cameras) = self.cameras {
            if cameras == 0 {
                return Err(refuse("--cameras must be at least 1".into()));
            }
            let per_site = cameras.div_ceil(u64::from(spec.sites.max(1)));
            spec.cameras_per_site = u32::try_from(per_site).unwrap_or(u32::MAX);
        }
        if let Some(duration) = self.duration {
            spec.duration = duration;
        }
        let total = spec.cameras();
        Plan::new(spec.clone()).map_err(|e| refuse(explain(&spec, total, e)))
    }
}

/// A plan's error in the words of the flags that caused it.
fn explain(spec: &WorldSpec, cameras: u64, e: PlanError) -> String {
    match e.subject {
        Subject::Key("world.cameras_per_site") => {
            let need = cameras.div_ceil(u64::from(MAX_CAMERAS_PER_SITE));
            format!(
                "{} cameras per site: each site's account holds at most {MAX_CAMERAS_PER_SITE} \
                 cameras; add --sites {need} (or more) to spread {cameras} cameras",
                spec.cameras_per_site
            )
        }
        Subject::Key("world.sites") => {
            let others = crate::plan::host_count(spec) - u64::from(spec.sites);
            format!(
                "between 1 and what keeps the world within {MAX_HOSTS} hosts (its gateways \
                 and attackers take {others})"
            )
        }
        Subject::Fault(i) => {
            let at = spec.faults.get(i).map_or(Duration::ZERO, |f| f.at);
            format!(
                "the fault at {} needs a host, a user or a time which this world no longer has: {}",
                humantime::format_duration(at),
                e.message
            )
        }
        _ => e.to_string(),
    }
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

    #[test]
    fn sites_spread_the_same_fleet() {
        let o = Overrides {
            sites: Some(8),
            ..Default::default()
        };
        let plan = o.apply(spec(), "--sites 8").expect("fits");
        assert_eq!(plan.spec().cameras_per_site, 5);
    }

    #[test]
    fn a_shorter_run_refuses_the_faults_it_would_drop() {
        let o = Overrides {
            duration: Some(Duration::from_secs(90)),
            ..Default::default()
        };
        let err = o.apply(spec(), "--duration 90s").unwrap_err().to_string();
        assert!(
            err.starts_with("--duration 90s: the fault at 1m 40s"),
            "{err}"
        );
        assert!(err.contains("not before the end of the run"), "{err}");
    }

    #[test]
    fn fewer_sites_refuse_faults_on_sites_gone() {
        let o = Overrides {
            sites: Some(2),
            ..Default::default()
        };
        let err = o.apply(spec(), "--sites 2").unwrap_err().to_string();
        assert!(err.contains("unknown host \"site-apac-3\""), "{err}");
    }

    #[test]
    fn too_many_cameras_per_site_name_the_sites_that_fit() {
        let o = Overrides {
            cameras: Some(10_000),
            ..Default::default()
        };
        let err = o.apply(spec(), "--cameras 10000").unwrap_err().to_string();
        assert!(err.contains("2500 cameras per site"), "{err}");
        assert!(err.contains("add --sites 40"), "{err}");
    }

    #[test]
    fn a_huge_duration_is_a_clear_error() {
        let o = Overrides {
            duration: Some(Duration::from_secs(u64::MAX)),
            ..Default::default()
        };
        let err = o
            .apply(spec(), "--duration 18446744073709551615s")
            .unwrap_err();
        assert!(err.message.contains("`duration`"), "{err}");
    }
}
