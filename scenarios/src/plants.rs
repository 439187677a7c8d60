//! Bugs planted in a world on purpose, to show that the checks catch them
//! (`camproof sweep --plant`).

use std::path::Path;

use thiserror::Error;

use crate::check_id::CheckId;
use crate::world::WorldSpec;

/// A planted bug that the scenario has no check for: every seed would pass whether the
/// check works or not, so it is refused before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "--plant {plant}: {file} cannot catch it: {why}; plant it in a scenario that makes that check"
)]
pub struct NotObservable {
    /// The plant's flag.
    pub plant: &'static str,
    /// The scenario file.
    pub file: String,
    /// Each check that would catch it and why this scenario does not make it.
    pub why: String,
}

/// A bug planted in the platform or the cameras on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Plant {
    /// The store leader acknowledges a write before a majority holds it.
    AckBeforeReplication,
    /// Store replicas grant every vote (two leaders can share a term).
    GrantEveryVote,
    /// Alert rules wait 5 minutes before firing (a hold in the wrong unit).
    SlowAlerts,
    /// The viewer app sends its password in clear before signing in.
    AppLeaksPassword,
    /// The registry answers for devices without checking who owns them.
    SkipOwnershipCheck,
    /// A right password from an unusual place signs in without the second factor.
    UnusualLoginAccepted,
    /// A locked account refuses its owner too, from everywhere.
    LockoutEverywhere,
    /// Gateways forget the hellos they saw and take a resumption ticket again.
    ReplayableResumption,
    /// Cameras install a cloud OTA image without any check (signature, hash, model, floor).
    AcceptUnsignedOta,
    /// Cameras install a vendor-signed image below their rollback floor.
    AcceptDowngradeOta,
    /// The OTA services serve image parts from one byte past the offset asked for.
    OtaChunkOffByOne,
    /// Cameras take a record whose sequence number they already saw (no replay check).
    AcceptReplayedRecords,
    /// Cameras drop a record that fails to open and keep the session.
    IgnoreBadRecords,
    /// Store recovery takes a damaged record length for a torn write and drops the rest
    /// of the log silently (vote included).
    SilentTruncate,
    /// Gateways, relays and store replicas stop accepting at their first accept error.
    AcceptErrorStops,
    /// Gateways remember every hello's random as it arrives, before its client proved
    /// anything, and refuse handshakes when the cache is full.
    CacheUnprovenHellos,
}

impl Plant {
    /// Every plant, in the order `--help` lists them.
    pub const ALL: [Plant; 16] = [
        Plant::AckBeforeReplication,
        Plant::GrantEveryVote,
        Plant::SlowAlerts,
        Plant::AppLeaksPassword,
        Plant::SkipOwnershipCheck,
        Plant::UnusualLoginAccepted,
        Plant::LockoutEverywhere,
        Plant::ReplayableResumption,
        Plant::AcceptUnsignedOta,
        Plant::AcceptDowngradeOta,
        Plant::OtaChunkOffByOne,
        Plant::AcceptReplayedRecords,
        Plant::IgnoreBadRecords,
        Plant::SilentTruncate,
        Plant::AcceptErrorStops,
        Plant::CacheUnprovenHellos,
    ];

    /// Plants the bug in a world.
    pub fn apply(self, spec: &mut WorldSpec) {
        match self {
            Plant::AckBeforeReplication => spec.store_bugs.ack_before_replication = true,
            Plant::GrantEveryVote => spec.store_bugs.grant_every_vote = true,
            Plant::SlowAlerts => spec.world_bugs.slow_alerts = true,
            Plant::AppLeaksPassword => spec.world_bugs.app_leaks_password = true,
            Plant::SkipOwnershipCheck => spec.attack_bugs.registry.skip_ownership_check = true,
            Plant::UnusualLoginAccepted => spec.attack_bugs.accounts.unusual_login_accepted = true,
            Plant::LockoutEverywhere => spec.attack_bugs.accounts.lockout_everywhere = true,
            Plant::ReplayableResumption => {
                spec.attack_bugs.server.skip_nonce_cache = true;
                spec.attack_bugs.server.reusable_tickets = true;
            }
            Plant::AcceptUnsignedOta => spec.camera.flaws.accept_unsigned_ota = true,
            Plant::AcceptDowngradeOta => spec.camera.flaws.accept_downgrade_ota = true,
            Plant::OtaChunkOffByOne => spec.world_bugs.ota_chunk_off_by_one = true,
            Plant::AcceptReplayedRecords => spec.camera.flaws.device.accept_replayed_records = true,
            Plant::IgnoreBadRecords => spec.camera.flaws.device.ignore_bad_records = true,
            Plant::SilentTruncate => spec.store_bugs.silent_truncate = true,
            Plant::AcceptErrorStops => spec.world_bugs.accept_error_stops = true,
            Plant::CacheUnprovenHellos => spec.attack_bugs.server.cache_unproven_hellos = true,
        }
    }

    /// Plants the bug in `world` (read from `file`), refusing a world that makes none of
    /// the checks that catch it.
    pub fn plant_in(self, file: &Path, world: &mut WorldSpec) -> Result<(), NotObservable> {
        self.apply(world);
        let made = crate::world::checks_made(world);
        if self.checks().iter().any(|c| made.contains(c)) {
            return Ok(());
        }
        let why: Vec<String> = self
            .checks()
            .iter()
            .map(|c| {
                let reason = crate::summary::OPTIONAL_CHECKS
                    .iter()
                    .find(|(name, _)| *name == c.name())
                    .map_or("this scenario does not make it", |(_, why)| why);
                format!("{c} is not checked here ({reason})")
            })
            .collect();
        Err(NotObservable {
            plant: self.flag(),
            file: file.display().to_string(),
            why: why.join("; "),
        })
    }

    /// The name `--plant` takes (`skip-ownership-check`).
    pub fn flag(self) -> &'static str {
        match self {
            Plant::AckBeforeReplication => "ack-before-replication",
            Plant::GrantEveryVote => "grant-every-vote",
            Plant::SlowAlerts => "slow-alerts",
            Plant::AppLeaksPassword => "app-leaks-password",
            Plant::SkipOwnershipCheck => "skip-ownership-check",
            Plant::UnusualLoginAccepted => "unusual-login-accepted",
            Plant::LockoutEverywhere => "lockout-everywhere",
            Plant::ReplayableResumption => "replayable-resumption",
            Plant::AcceptUnsignedOta => "accept-unsigned-ota",
            Plant::AcceptDowngradeOta => "accept-downgrade-ota",
            Plant::OtaChunkOffByOne => "ota-chunk-off-by-one",
            Plant::AcceptReplayedRecords => "accept-replayed-records",
            Plant::IgnoreBadRecords => "ignore-bad-records",
            Plant::SilentTruncate => "silent-truncate",
            Plant::AcceptErrorStops => "accept-error-stops",
            Plant::CacheUnprovenHellos => "cache-unproven-hellos",
        }
    }

    /// What the bug does, in one line (for `--help`).
    pub fn help(self) -> &'static str {
        match self {
            Plant::AckBeforeReplication => {
                "The store leader acknowledges a write before a majority holds it"
            }
            Plant::GrantEveryVote => "Store replicas grant every vote (two leaders can share a term)",
            Plant::SlowAlerts => "Alert rules wait 5 minutes before firing (a hold in the wrong unit)",
            Plant::AppLeaksPassword => "The viewer app sends its password in clear before signing in",
            Plant::SkipOwnershipCheck => {
                "The registry answers for devices without checking who owns them"
            }
            Plant::UnusualLoginAccepted => {
                "A right password from an unusual place signs in without the second factor"
            }
            Plant::LockoutEverywhere => "A locked account refuses its owner too, from everywhere",
            Plant::ReplayableResumption => {
                "Gateways forget the hellos they saw and take a resumption ticket again"
            }
            Plant::AcceptUnsignedOta => {
                "Cameras install a cloud OTA image without any check (signature, hash, model, floor)"
            }
            Plant::AcceptDowngradeOta => {
                "Cameras install a vendor-signed image below their rollback floor"
            }
            Plant::OtaChunkOffByOne => {
                "The OTA services serve image parts from one byte past the offset asked for"
            }
            Plant::AcceptReplayedRecords => {
                "Cameras take a record whose sequence number they already saw (no replay check)"
            }
            Plant::IgnoreBadRecords => "Cameras drop a record that fails to open and keep the session",
            Plant::SilentTruncate => {
                "Store recovery takes a damaged record length for a torn write and forgets the rest of the log"
            }
            Plant::AcceptErrorStops => {
                "Gateways, relays and store replicas stop accepting at their first accept error"
            }
            Plant::CacheUnprovenHellos => {
                "Gateways remember every hello as it arrives and refuse handshakes when the cache is full"
            }
        }
    }

    /// The checks that catch this bug: a run that makes none of them cannot fail on it.
    pub fn checks(self) -> &'static [CheckId] {
        match self {
            Plant::AckBeforeReplication => &[CheckId::NoAckedWriteLost],
            Plant::GrantEveryVote => &[CheckId::OneLeaderPerTerm],
            Plant::SlowAlerts => &[CheckId::AlertDeadline],
            Plant::AppLeaksPassword => &[CheckId::NoPlaintextSecret],
            Plant::SkipOwnershipCheck => &[CheckId::NoCrossTenantAccess],
            Plant::UnusualLoginAccepted => &[CheckId::NoCredentialBreach],
            Plant::LockoutEverywhere => &[CheckId::LoginsDuringAttack],
            Plant::ReplayableResumption
            | Plant::AcceptReplayedRecords
            | Plant::IgnoreBadRecords => &[CheckId::NoReplayAccepted],
            Plant::AcceptUnsignedOta => &[CheckId::NoRogueFirmware, CheckId::OtaRolloutComplete],
            Plant::AcceptDowngradeOta => &[CheckId::NoRogueFirmware],
            Plant::OtaChunkOffByOne => &[CheckId::OtaRolloutComplete],
            Plant::SilentTruncate => &[CheckId::FailStopStorage],
            Plant::AcceptErrorStops => &[CheckId::Liveness],
            Plant::CacheUnprovenHellos => &[CheckId::NoUnauthenticatedLockout],
        }
    }

    /// The plant named `flag`, if any.
    pub fn from_flag(flag: &str) -> Option<Plant> {
        Plant::ALL.into_iter().find(|p| p.flag() == flag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_name_one_plant_each() {
        for p in Plant::ALL {
            assert_eq!(Plant::from_flag(p.flag()), Some(p));
            assert!(!p.help().ends_with('.'));
        }
    }
}
