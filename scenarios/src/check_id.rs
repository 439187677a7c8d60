//! The names of the checks a run makes.

use std::fmt;

/// A check a run makes, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckId {
    /// Every camera has a session at the end.
    Liveness,
    /// At most one store leader per term, and acknowledgements only from it.
    OneLeaderPerTerm,
    /// Every write the store acknowledged is applied where its index is.
    NoAckedWriteLost,
    /// Nothing of an erased user is left on any replica.
    Erasure,
    /// Every user's records are only in their home region.
    Residency,
    /// Every alert a fault causes fires within its deadline.
    AlertDeadline,
    /// No frame waits at a relay beyond its limit.
    RelayHoldLimit,
    /// Viewers verify live frames again near the end of the run.
    StreamsResume,
    /// No password, key or secret crosses the wire in clear.
    NoPlaintextSecret,
    /// No stuffed password opens a session.
    NoCredentialBreach,
    /// The world's users keep signing in while an attack runs.
    LoginsDuringAttack,
    /// No probe of another tenant's devices or streams works.
    NoCrossTenantAccess,
    /// No replayed or altered connection, record or hello is taken.
    NoReplayAccepted,
    /// No camera installs firmware the platform did not roll out.
    NoRogueFirmware,
    /// Every camera a rollout covers runs the release at the end.
    OtaRolloutComplete,
    /// A store replica starts with everything its disk accepted, or refuses to start.
    FailStopStorage,
    /// Cameras keep getting sessions while parties without credentials flood hellos.
    NoUnauthenticatedLockout,
}

impl CheckId {
    /// Every check, in the order a run lists them.
    pub const ALL: [CheckId; 17] = [
        CheckId::Liveness,
        CheckId::OneLeaderPerTerm,
        CheckId::NoAckedWriteLost,
        CheckId::Erasure,
        CheckId::Residency,
        CheckId::AlertDeadline,
        CheckId::RelayHoldLimit,
        CheckId::StreamsResume,
        CheckId::NoPlaintextSecret,
        CheckId::NoCredentialBreach,
        CheckId::LoginsDuringAttack,
        CheckId::NoCrossTenantAccess,
        CheckId::NoReplayAccepted,
        CheckId::NoRogueFirmware,
        CheckId::OtaRolloutComplete,
        CheckId::FailStopStorage,
        CheckId::NoUnauthenticatedLockout,
    ];

    /// The name reports and scenario docs use (`no-acked-write-lost`).
    pub fn name(self) -> &'static str {
        match self {
            CheckId::Liveness => "liveness",
            CheckId::OneLeaderPerTerm => "one-leader-per-term",
            CheckId::NoAckedWriteLost => "no-acked-write-lost",
            CheckId::Erasure => "erasure",
            CheckId::Residency => "residency",
            CheckId::AlertDeadline => "alert-deadline",
            CheckId::RelayHoldLimit => "relay-hold-limit",
            CheckId::StreamsResume => "streams-resume",
            CheckId::NoPlaintextSecret => "no-plaintext-secret",
            CheckId::NoCredentialBreach => "no-credential-breach",
            CheckId::LoginsDuringAttack => "logins-during-attack",
            CheckId::NoCrossTenantAccess => "no-cross-tenant-access",
            CheckId::NoReplayAccepted => "no-replay-accepted",
            CheckId::NoRogueFirmware => "no-rogue-firmware",
            CheckId::OtaRolloutComplete => "ota-rollout-complete",
            CheckId::FailStopStorage => "fail-stop-storage",
            CheckId::NoUnauthenticatedLockout => "no-unauthenticated-lockout",
        }
    }

    /// What the check holds, in one line (for `camproof list checks`).
    pub fn description(self) -> &'static str {
        match self {
            CheckId::Liveness => "Every camera has a session at the end",
            CheckId::OneLeaderPerTerm => {
                "At most one store leader per term, and acknowledgements only from it"
            }
            CheckId::NoAckedWriteLost => {
                "Every write the store acknowledged is applied where its index is"
            }
            CheckId::Erasure => "Nothing of an erased user is left on any replica",
            CheckId::Residency => "Every user's records are only in their home region",
            CheckId::AlertDeadline => "Every alert a fault causes fires within its deadline",
            CheckId::RelayHoldLimit => "No frame waits at a relay beyond its limit",
            CheckId::StreamsResume => "Viewers verify live frames again near the end of the run",
            CheckId::NoPlaintextSecret => "No password, key or secret crosses the wire in clear",
            CheckId::NoCredentialBreach => "No stuffed password opens a session",
            CheckId::LoginsDuringAttack => "The world's users keep signing in while an attack runs",
            CheckId::NoCrossTenantAccess => "No probe of another tenant's devices or streams works",
            CheckId::NoReplayAccepted => {
                "No replayed or altered connection, record or hello is taken"
            }
            CheckId::NoRogueFirmware => "No camera installs firmware the platform did not roll out",
            CheckId::OtaRolloutComplete => {
                "Every camera a rollout covers runs the release at the end"
            }
            CheckId::FailStopStorage => {
                "A store replica starts with all its disk accepted, or refuses with a typed error"
            }
            CheckId::NoUnauthenticatedLockout => {
                "Cameras keep getting sessions while parties without credentials flood hellos"
            }
        }
    }

    /// The check of this name, if any.
    pub fn from_name(name: &str) -> Option<CheckId> {
        CheckId::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
