//! Command-line overrides of a scenario's world (`--cameras`, `--sites`, `--duration`),
//! checked against the world they change, and the command that repeats a run.
//!
//! `camproof run` and `camproof sweep` take the same overrides and apply them with
//! [`apply_overrides`], so both accept and refuse the same values.

use std::num::TryFromIntError;
use std::path::Path;

use thiserror::Error;

use crate::scenario::{parse_duration, Scenario, MAX_HOSTS};
use crate::world::WorldSpec;

/// Most cameras one site may hold through `--cameras`.
pub const MAX_CAMERAS_PER_SITE: u64 = 10_000;

/// Overrides of a scenario file's world, for runs at scale.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Total cameras, spread over the scenario's sites.
    pub cameras: Option<u64>,
    /// Customer sites, spread over the scenario's regions.
    pub sites: Option<u32>,
    /// Simulated duration as given (`90s`, `10m`), kept as text for [`Overrides::flags`].
    pub duration: Option<String>,
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
        out
    }
}

/// Why an override was refused; each message names the option and the limit.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OverrideError {
    /// `--sites` is zero or makes the world too many hosts.
    #[error(
        "--sites {sites}: between 1 and what keeps the world within {max} hosts \
         (its gateways and attackers take {others})"
    )]
    SitesOutOfRange {
        /// The value given.
        sites: u32,
        /// [`MAX_HOSTS`].
        max: u32,
        /// Hosts the gateways and attackers take.
        others: u32,
    },
    /// Spreading the file's fleet over the new sites overflows a site.
    #[error("--sites: too many cameras per site")]
    TooManyPerSite(#[source] TryFromIntError),
    /// A fault names a host that the new number of sites removes.
    #[error(
        "--sites {sites}: the fault at {at} names {target:?}, which this world no longer \
         has (hosts: {hosts})"
    )]
    FaultTargetGone {
        /// The value given.
        sites: u32,
        /// When the fault happens, as written for people.
        at: String,
        /// The host or group the fault names.
        target: String,
        /// The hosts the world still has, comma-separated.
        hosts: String,
    },
    /// An attack no longer fits the world with the new number of sites.
    #[error("--sites {sites}: {reason}")]
    Attacks {
        /// The value given.
        sites: u32,
        /// What the attack check said.
        reason: String,
    },
    /// `--cameras 0`.
    #[error("--cameras must be at least 1")]
    NoCameras,
    /// `--cameras` puts more than [`MAX_CAMERAS_PER_SITE`] in a site.
    #[error("--cameras {cameras}: more than 10000 per site")]
    CamerasPerSite {
        /// The value given.
        cameras: u64,
    },
    /// More cameras per site than one account may hold.
    #[error(
        "{per_site} cameras per site: each site's account holds at most {limit} cameras; \
         add --sites {need} (or more) to spread {cameras} cameras"
    )]
    AccountLimit {
        /// Cameras per site.
        per_site: u32,
        /// Devices one account may hold.
        limit: usize,
        /// Sites that would hold the fleet.
        need: u64,
        /// Cameras in the world.
        cameras: u64,
    },
    /// `--duration` is not a positive duration.
    #[error("--duration {text:?}: expected a duration such as 90s or 10m")]
    Duration {
        /// The value given.
        text: String,
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

/// Applies `overrides` to a parsed scenario's world, in the order sites, cameras,
/// duration, and checks that the changed world still holds together (hosts within
/// [`MAX_HOSTS`], faults and attacks still find their targets, accounts within the
/// registry's per-user device limit).
pub fn apply_overrides(
    scenario: &mut Scenario,
    overrides: &Overrides,
) -> Result<(), OverrideError> {
    let spec = &mut scenario.world;
    let (cameras, duration) = (overrides.cameras, overrides.duration.as_deref());
    if let Some(sites) = overrides.sites {
        let others = spec.gateways() + spec.attacks.iter().map(|a| a.hosts).sum::<u32>();
        let hosts = sites.min(MAX_HOSTS).saturating_add(others);
        if !((1..=MAX_HOSTS).contains(&sites) && hosts <= MAX_HOSTS) {
            return Err(OverrideError::SitesOutOfRange {
                sites,
                max: MAX_HOSTS,
                others,
            });
        }
        let total = spec.cameras();
        spec.sites = sites;
        if cameras.is_none() {
            // The same fleet, spread over the new sites.
            spec.cameras_per_site = u32::try_from(total.div_ceil(u64::from(sites)))
                .map_err(OverrideError::TooManyPerSite)?;
        }
        // Faults and attacks that name sites must still find them.
        for f in &spec.faults {
            for t in f.action.targets() {
                if spec.resolve_target(t).is_none() {
                    return Err(OverrideError::FaultTargetGone {
                        sites,
                        at: humantime::format_duration(f.at).to_string(),
                        target: t.to_string(),
                        hosts: host_list(spec),
                    });
                }
            }
        }
        crate::attack::validate(spec).map_err(|e| OverrideError::Attacks {
            sites,
            reason: e.to_string(),
        })?;
    }
    if let Some(cameras) = cameras {
        if cameras == 0 {
            return Err(OverrideError::NoCameras);
        }
        let per_site = cameras.div_ceil(u64::from(spec.sites));
        spec.cameras_per_site = u32::try_from(per_site)
            .ok()
            .filter(|n| u64::from(*n) <= MAX_CAMERAS_PER_SITE)
            .ok_or(OverrideError::CamerasPerSite { cameras })?;
    }
    let limit = camproof_platform::registry::RegistryConfig::default().max_devices_per_user;
    if spec.cameras_per_site as usize > limit {
        return Err(OverrideError::AccountLimit {
            per_site: spec.cameras_per_site,
            limit,
            need: spec.cameras().div_ceil(limit as u64),
            cameras: spec.cameras(),
        });
    }
    if let Some(d) = duration {
        spec.duration = parse_duration(d)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| OverrideError::Duration { text: d.into() })?;
    }
    Ok(())
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

    #[test]
    fn flags_echo_the_overrides_as_given() {
        let o = Overrides {
            cameras: Some(24),
            sites: None,
            duration: Some("90s".into()),
        };
        assert_eq!(o.flags(), " --cameras 24 --duration 90s");
        assert_eq!(
            reproduce_command(Path::new("a.toml"), 3, &o),
            "camproof run a.toml --seed 3 --cameras 24 --duration 90s"
        );
    }
}
