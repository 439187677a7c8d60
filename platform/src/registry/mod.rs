//! Device registry: which account owns which camera, the pairing flow that binds them,
//! password-gated serial numbers, and the short-lived authorization codes every business
//! request carries. Pure and deterministic: time comes in as `now`, randomness from the
//! caller's RNG, and nothing here does I/O.
//!
//! Main types: [`Registry`] (one region's state), [`RegistryConfig`], [`Caller`] (who is
//! asking, as the platform authenticated them), [`DeviceId`] (the opaque id apps use),
//! [`SerialNumber`] (the sensitive certificate identity, masked in listings),
//! [`PairingToken`] (shown by the camera, proves possession), [`PasswordVerified`] (proof
//! of a just-verified password), [`Action`] and [`AuthzCode`], the errors
//! [`RegistryError`], [`RedeemError`], [`ProofError`], [`PairingError`],
//! [`ProvisionError`], and [`RegistryErasure`] (erase a user, prove nothing remains).
//!
//! ```
//! use camproof_platform::accounts::Region;
//! use camproof_platform::registry::{Action, Caller, Registry, RegistryConfig};
//! use camproof_protocol::pki::PeerIdentity;
//! use camproof_protocol::time::Timestamp;
//! use rand_chacha::ChaCha8Rng;
//! use rand_core::SeedableRng;
//!
//! # fn user(accounts: &mut camproof_platform::accounts::Accounts, rng: &mut ChaCha8Rng)
//! #     -> camproof_platform::accounts::UserId {
//! #     accounts.register("alice@example.com", "marble-otter-quantum-lantern",
//! #         Region::EuAfrica, Timestamp::from_secs(1), rng).unwrap().user_id
//! # }
//! let mut rng = ChaCha8Rng::seed_from_u64(7);
//! # let mut accounts = camproof_platform::accounts::Accounts::new(Region::EuAfrica,
//! #     camproof_platform::accounts::AccountsConfig::for_tests()).unwrap();
//! let alice = Caller::new(user(&mut accounts, &mut rng), Region::EuAfrica);
//! let mut eu = Registry::new(Region::EuAfrica, RegistryConfig::default()).unwrap();
//! let now = Timestamp::from_secs(1_700_000_000);
//! let camera = PeerIdentity {
//!     subject: "CAM-00000042".into(),
//!     serial: 42,
//!     issuer: "Vendor CA".into(),
//! };
//! // At manufacture (or first connection), the camera is provisioned.
//! let id = eu.provision(&camera, "bullet-4k", now, &mut rng).unwrap();
//! // The authenticated camera asks for a pairing token and shows it as a QR code...
//! let token = eu.begin_pairing(&camera, now, &mut rng).unwrap();
//! // ...which the owner's app scans and sends with the claim.
//! assert_eq!(eu.claim(&alice, token.expose(), now).unwrap(), id);
//! assert_eq!(eu.list_devices(&alice).unwrap()[0].masked_serial, "CAM-****0042");
//! // Every business request carries a fresh single-use code.
//! let code = eu.issue_code(&alice, &id, Action::LiveView, now, &mut rng).unwrap();
//! eu.redeem(code.expose(), &alice, &id, Action::LiveView, now).unwrap();
//! assert!(eu.redeem(code.expose(), &alice, &id, Action::LiveView, now).is_err());
//! ```
//!
//! See `docs/registry.md` for the flows, the isolation rules and the record layout.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use camproof_protocol::pki::PeerIdentity;
use camproof_protocol::time::Timestamp;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::accounts::records::ts_micros;
use crate::accounts::{
    Accounts, Erasure, FailureLimiter, Keyspace, LockoutPolicy, LoginAttempt, LoginError, Region,
    UserId,
};

/// Longest certificate subject accepted at provisioning, in characters.
pub const MAX_SUBJECT_CHARS: usize = 64;
/// Longest model name accepted at provisioning, in characters.
pub const MAX_MODEL_CHARS: usize = 64;

/// Everything tunable about one region's registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// How long a pairing token shown by a camera stays valid.
    pub pairing_ttl: Duration,
    /// How long an authorization code stays valid.
    pub code_ttl: Duration,
    /// The oldest password verification accepted to reveal a serial number.
    pub proof_max_age: Duration,
    /// Most codes a user may hold at once (used ones count until they expire).
    pub max_codes_per_user: usize,
    /// Most devices one account may own.
    pub max_devices_per_user: usize,
    /// Most users one device may be shared with.
    pub max_shares_per_device: usize,
    /// Wrong pairing tokens per user before claims are refused for a while.
    pub claim_lockout: LockoutPolicy,
    /// Most users whose claim failures are tracked (least recently seen forgotten first).
    pub max_tracked_claimants: usize,
}

impl Default for RegistryConfig {
    /// Pairing tokens 10 min, codes 60 s, password proofs 5 min, 32 codes and 256
    /// devices per user, 16 shares per device, 5 wrong tokens in 15 min lock claims for
    /// 15 min.
    fn default() -> Self {
        RegistryConfig {
            pairing_ttl: Duration::from_secs(10 * 60),
            code_ttl: Duration::from_secs(60),
            proof_max_age: Duration::from_secs(5 * 60),
            max_codes_per_user: 32,
            max_devices_per_user: 256,
            max_shares_per_device: 16,
            claim_lockout: LockoutPolicy {
                max_failures: 5,
                window: Duration::from_secs(15 * 60),
                lockout: Duration::from_secs(15 * 60),
            },
            max_tracked_claimants: 100_000,
        }
    }
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A duration or limit that must be positive is zero.
    #[error("registry config: {0} must be greater than zero")]
    Zero(&'static str),
}

/// What a user may ask of a device; every authorization code is bound to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// Watch the live stream.
    LiveView,
    /// Take a still picture.
    Snapshot,
    /// Pan, tilt or zoom.
    Ptz,
    /// Change the device's settings.
    Config,
    /// Watch recordings.
    Playback,
    /// Remove the device from the account.
    Unbind,
    /// Share the device with another account, or stop sharing.
    Share,
}

impl Action {
    /// Every action, in a fixed order.
    pub const ALL: [Action; 7] = [
        Action::LiveView,
        Action::Snapshot,
        Action::Ptz,
        Action::Config,
        Action::Playback,
        Action::Unbind,
        Action::Share,
    ];

    /// The actions a user the device is shared with may perform (live view only).
    pub const SHARED: [Action; 1] = [Action::LiveView];

    /// The action's short name (`live_view`, `ptz`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::LiveView => "live_view",
            Action::Snapshot => "snapshot",
            Action::Ptz => "ptz",
            Action::Config => "config",
            Action::Playback => "playback",
            Action::Unbind => "unbind",
            Action::Share => "share",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is asking: the user the platform authenticated (a session in the accounts service
/// of the user's home region) and that home region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Caller {
    /// The authenticated user.
    pub user: UserId,
    /// The user's home region (where the accounts service holds the account).
    pub home: Region,
}

impl Caller {
    /// A caller `user` homed in `home`.
    pub fn new(user: UserId, home: Region) -> Self {
        Caller { user, home }
    }
}

/// The id apps use for a device: 128 random bits in hex, assigned at provisioning, never
/// derived from the serial number (so knowing it reveals nothing about the device).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeviceId(String);

impl DeviceId {
    /// An id from a request; text the registry never issued names no device.
    pub fn new(text: impl Into<String>) -> Self {
        DeviceId(text.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A device's serial number: its certificate subject and certificate serial. Sensitive
/// (it is printed on the label and identifies the device to its vendor), so listings
/// show it masked and [`Registry::reveal_serial`] needs a fresh password proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SerialNumber {
    /// The certificate subject, e.g. `CAM-00000042`.
    pub subject: String,
    /// The device certificate's serial.
    pub certificate_serial: u64,
}

impl fmt::Display for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (certificate {:#x})",
            self.subject, self.certificate_serial
        )
    }
}

/// A subject as listings show it: the prefix up to the last `-` kept, the last four
/// characters kept if more than four follow, the rest replaced by `*`.
pub fn mask_subject(subject: &str) -> String {
    let (prefix, rest) = match subject.rfind('-') {
        Some(i) => subject.split_at(i + 1),
        None => ("", subject),
    };
    let n = rest.chars().count();
    let keep = if n > 4 { 4 } else { 0 };
    let mut out = String::with_capacity(subject.len());
    out.push_str(prefix);
    out.extend(std::iter::repeat_n('*', n - keep));
    out.extend(rest.chars().skip(n - keep));
    out
}

/// What the user's relation to a listed device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Role {
    /// The user bound the device and may do anything with it.
    Owner,
    /// The owner shared it; the user may perform [`Action::SHARED`] only.
    Shared,
}

/// One device as the user's listing shows it (no full serial number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSummary {
    /// The id to use in requests.
    pub id: DeviceId,
    /// The model name.
    pub model: String,
    /// The serial number, masked (see [`mask_subject`]).
    pub masked_serial: String,
    /// Owner or shared.
    pub role: Role,
}

/// Proof that the accounts service verified `user`'s password at `at` in `region`.
///
/// Fields are private: outside this crate the only way to get one is
/// [`PasswordVerified::by_login`], which runs a full login (lockout, second factor and
/// abnormal-login rules included), so it cannot be forged or made out for someone else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordVerified {
    user: UserId,
    region: Region,
    at: Timestamp,
}

impl PasswordVerified {
    /// Verifies the password by logging in to `accounts` (the session is ended at once)
    /// and returns the proof; the login's errors are returned as they are.
    pub fn by_login(
        accounts: &mut Accounts,
        attempt: &LoginAttempt<'_>,
        now: Timestamp,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, LoginError> {
        let session = accounts.login(attempt, now, rng)?;
        accounts.logout(session.token.expose());
        Ok(PasswordVerified {
            user: session.user_id,
            region: accounts.region(),
            at: now,
        })
    }

    /// A proof made out by an in-crate service that verified the password itself.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn attest(user: UserId, region: Region, at: Timestamp) -> Self {
        PasswordVerified { user, region, at }
    }

    /// Whose password was verified.
    pub fn user(&self) -> &UserId {
        &self.user
    }

    /// The region whose accounts service verified it.
    pub fn region(&self) -> Region {
        self.region
    }

    /// When it was verified.
    pub fn at(&self) -> Timestamp {
        self.at
    }

    fn check(
        &self,
        caller: &Caller,
        here: Region,
        now: Timestamp,
        max_age: Duration,
    ) -> Result<(), ProofError> {
        if self.user != caller.user {
            return Err(ProofError::AnotherUser);
        }
        if self.region != here {
            return Err(ProofError::AnotherRegion {
                proof: self.region,
                here,
            });
        }
        if self.at > now {
            return Err(ProofError::FromTheFuture);
        }
        let age = now.saturating_since(self.at);
        if age > max_age {
            return Err(ProofError::Stale {
                age_secs: age.as_secs(),
                max_secs: max_age.as_secs(),
            });
        }
        Ok(())
    }
}

/// Why a password proof was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The proof was made out for another account.
    #[error("the password proof belongs to another account")]
    AnotherUser,
    /// The proof was made by another region's accounts service.
    #[error("the password was verified in {proof}, not in {here}")]
    AnotherRegion {
        /// Where the proof was made.
        proof: Region,
        /// This registry's region.
        here: Region,
    },
    /// The password was verified too long ago.
    #[error("the password was verified {age_secs} s ago (at most {max_secs} s): enter it again")]
    Stale {
        /// Age of the proof, in seconds.
        age_secs: u64,
        /// Oldest accepted, in seconds.
        max_secs: u64,
    },
    /// The proof claims a verification later than now.
    #[error("the password proof is dated in the future")]
    FromTheFuture,
}

/// A one-time pairing token the camera shows (QR code or local screen). 128 random bits
/// in hex; the registry keeps only its digest. Never in `Debug`; zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct PairingToken {
    text: Zeroizing<String>,
    expires_at: Timestamp,
}

impl PairingToken {
    /// The token text, for the camera to display and nowhere else (never log it).
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// When it stops working.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }
}

impl fmt::Debug for PairingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairingToken")
            .field("text", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A short-lived single-use authorization code bound to (user, device, action). 256
/// random bits in hex; the registry keeps only its digest. Never in `Debug`; zeroed on
/// drop.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthzCode {
    text: Zeroizing<String>,
    device: DeviceId,
    action: Action,
    expires_at: Timestamp,
}

impl AuthzCode {
    /// The code text, to send with the one request it authorizes (never log it).
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The device it is bound to.
    pub fn device(&self) -> &DeviceId {
        &self.device
    }

    /// The action it is bound to.
    pub fn action(&self) -> Action {
        self.action
    }

    /// When it stops working.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }
}

impl fmt::Debug for AuthzCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthzCode")
            .field("text", &"<redacted>")
            .field("device", &self.device)
            .field("action", &self.action)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why a device could not be provisioned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    /// A device with this certificate subject is already provisioned.
    #[error("device {subject:?} is already provisioned")]
    Duplicate {
        /// The subject.
        subject: String,
    },
    /// The certificate subject is empty, too long or has control characters.
    #[error("invalid device subject: {0}")]
    InvalidSubject(&'static str),
    /// The model name is empty, too long or has control characters.
    #[error("invalid model name: {0}")]
    InvalidModel(&'static str),
}

/// Why a camera could not get a pairing token (said to the authenticated device).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PairingError {
    /// No device with this certificate subject is provisioned here.
    #[error("device {subject:?} is not provisioned in this region")]
    UnknownDevice {
        /// The subject.
        subject: String,
    },
    /// The certificate serial differs from the provisioned one.
    #[error("device {subject:?} presented certificate {presented:#x}, provisioned with another")]
    CertificateMismatch {
        /// The subject.
        subject: String,
        /// The serial presented.
        presented: u64,
    },
    /// The device belongs to an account: it cannot be paired again until unbound.
    #[error("device {subject:?} is bound to an account: it must be removed from it before pairing again")]
    AlreadyBound {
        /// The subject.
        subject: String,
    },
}

/// Why a user request was refused.
///
/// A device the caller may not see is [`RegistryError::NotFound`], exactly like a
/// device that does not exist: the registry never tells a user that someone else's
/// device exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The caller's account lives in another region; its devices are served there.
    #[error("your account lives in {home}: device requests are served there, not in {here}")]
    WrongRegion {
        /// The caller's home region.
        home: Region,
        /// This registry's region.
        here: Region,
    },
    /// No such device on the caller's account (unknown, or someone else's).
    #[error("no such device on your account")]
    NotFound,
    /// The device is shared with the caller, who may not perform this.
    #[error("only the owner of this device may {action} it")]
    NotPermitted {
        /// What was asked.
        action: Action,
    },
    /// The device is shared with the caller, who may not see its serial number.
    #[error("only the owner of this device may see its serial number")]
    SerialOwnerOnly,
    /// The pairing token is not one the registry issued, or it was used already.
    #[error("that pairing code is not valid: scan the code the camera shows now")]
    InvalidPairingToken,
    /// The pairing token expired.
    #[error("that pairing code expired: ask the camera for a new one")]
    PairingTokenExpired,
    /// Too many wrong pairing tokens from this user.
    #[error("too many wrong pairing codes: try again after {until}")]
    RateLimited {
        /// When claims are accepted again.
        until: Timestamp,
    },
    /// The device already belongs to an account.
    #[error("this device already belongs to an account: its owner must remove it first")]
    AlreadyBound,
    /// The caller owns as many devices as allowed.
    #[error("your account already has the maximum of {limit} devices")]
    TooManyDevices {
        /// The limit.
        limit: usize,
    },
    /// The caller holds as many authorization codes as allowed.
    #[error("too many authorization codes outstanding (limit {limit}): use them or wait a minute")]
    TooManyCodes {
        /// The limit.
        limit: usize,
    },
    /// The device is shared with as many users as allowed.
    #[error("this device is already shared with the maximum of {limit} people")]
    TooManyShares {
        /// The limit.
        limit: usize,
    },
    /// The user to share with lives in another region; the share would move their data.
    #[error("cannot share with an account homed in {home} from {here}")]
    GranteeInAnotherRegion {
        /// The grantee's home region.
        home: Region,
        /// This registry's region.
        here: Region,
    },
    /// The owner tried to share a device with themselves.
    #[error("you cannot share a device with yourself")]
    ShareWithSelf,
    /// The password proof was refused.
    #[error("password check failed: {0}")]
    Proof(#[from] ProofError),
    /// The authorization code was refused.
    #[error("authorization code refused: {0}")]
    Code(#[from] RedeemError),
}

/// Why an authorization code was refused. A code presented with the wrong user, device
/// or action is revoked as well: it leaked, or the client is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedeemError {
    /// The caller's account lives in another region.
    #[error("your account lives in {home}: codes are checked there, not in {here}")]
    WrongRegion {
        /// The caller's home region.
        home: Region,
        /// This registry's region.
        here: Region,
    },
    /// Not a code this registry issued (or revoked, or expired and forgotten).
    #[error("unknown authorization code")]
    Unknown,
    /// The code expired.
    #[error("the authorization code expired at {at}: ask for a new one")]
    Expired {
        /// When it expired.
        at: Timestamp,
    },
    /// The code was issued to another user.
    #[error("the authorization code was issued to another user")]
    WrongUser,
    /// The code was issued for another device.
    #[error("the authorization code was issued for another device")]
    WrongDevice,
    /// The code was issued for another action.
    #[error("the authorization code was issued for {issued_for}, not {presented}")]
    WrongAction {
        /// The action it was issued for.
        issued_for: Action,
        /// The action presented.
        presented: Action,
    },
    /// The code was used (or revoked after a mismatch) already.
    #[error("the authorization code was already used")]
    AlreadyUsed,
}

/// What the registry counted (for the simulator's reports).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryStats {
    /// Devices bound.
    pub claims: u64,
    /// Claims refused for a wrong or expired token, or rate limiting.
    pub claims_refused: u64,
    /// Authorization codes issued.
    pub codes_issued: u64,
    /// Authorization codes redeemed.
    pub codes_redeemed: u64,
    /// Redemptions refused.
    pub codes_refused: u64,
}

#[derive(Debug, Clone)]
struct Device {
    subject: String,
    certificate_serial: u64,
    model: String,
    provisioned_at: Timestamp,
    owner: Option<(UserId, Timestamp)>,
    shares: BTreeMap<UserId, Timestamp>,
}

#[derive(Debug, Clone)]
struct Pairing {
    device: DeviceId,
    expires_at: Timestamp,
}

#[derive(Debug, Clone)]
struct CodeRecord {
    user: UserId,
    device: DeviceId,
    action: Action,
    expires_at: Timestamp,
    used: bool,
}

type Digest32 = [u8; 32];

/// One region's device registry.
///
/// Device-facing calls take the [`PeerIdentity`] the gateway verified
/// ([`provision`](Registry::provision), [`begin_pairing`](Registry::begin_pairing));
/// user-facing calls take a [`Caller`] and check, in this order: the caller's home
/// region, then the caller's right to the device. Call [`expire`](Registry::expire) now
/// and then to drop expired tokens and codes (they are also dropped lazily).
#[derive(Debug, Clone)]
pub struct Registry {
    region: Region,
    config: RegistryConfig,
    devices: BTreeMap<DeviceId, Device>,
    by_subject: BTreeMap<String, DeviceId>,
    owned: BTreeMap<UserId, BTreeSet<DeviceId>>,
    shared: BTreeMap<UserId, BTreeSet<DeviceId>>,
    pairings: BTreeMap<Digest32, Pairing>,
    pairing_of: BTreeMap<DeviceId, Digest32>,
    codes: BTreeMap<Digest32, CodeRecord>,
    codes_of: BTreeMap<UserId, BTreeSet<Digest32>>,
    claim_limiter: FailureLimiter<UserId>,
    stats: RegistryStats,
    bugs: RegistryBugs,
}

/// Deliberate defects for the simulator's negative tests. All off by default; never set
/// outside tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistryBugs {
    /// Codes are issued and redeemed for any existing device, whoever owns it.
    pub skip_ownership_check: bool,
}

impl Registry {
    /// An empty registry for `region`.
    pub fn new(region: Region, config: RegistryConfig) -> Result<Self, ConfigError> {
        let positive = [
            ("pairing_ttl", config.pairing_ttl.is_zero()),
            ("code_ttl", config.code_ttl.is_zero()),
            ("proof_max_age", config.proof_max_age.is_zero()),
            ("max_codes_per_user", config.max_codes_per_user == 0),
            ("max_devices_per_user", config.max_devices_per_user == 0),
            ("max_shares_per_device", config.max_shares_per_device == 0),
            (
                "claim_lockout.max_failures",
                config.claim_lockout.max_failures == 0,
            ),
            ("max_tracked_claimants", config.max_tracked_claimants == 0),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, zero)| *zero) {
            return Err(ConfigError::Zero(name));
        }
        Ok(Registry {
            region,
            claim_limiter: FailureLimiter::new(config.claim_lockout, config.max_tracked_claimants),
            config,
            devices: BTreeMap::new(),
            by_subject: BTreeMap::new(),
            owned: BTreeMap::new(),
            shared: BTreeMap::new(),
            pairings: BTreeMap::new(),
            pairing_of: BTreeMap::new(),
            codes: BTreeMap::new(),
            codes_of: BTreeMap::new(),
            stats: RegistryStats::default(),
            bugs: RegistryBugs::default(),
        })
    }

    /// Plants deliberate defects (negative tests only).
    pub fn plant_bugs(&mut self, bugs: RegistryBugs) {
        self.bugs = bugs;
    }

    /// This registry's region.
    pub fn region(&self) -> Region {
        self.region
    }

    /// The configuration in force.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// What was counted so far.
    pub fn stats(&self) -> &RegistryStats {
        &self.stats
    }

    /// How many devices are provisioned here.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// The id of the device a verified certificate identifies (for the gateway).
    pub fn device_for_peer(&self, identity: &PeerIdentity) -> Option<&DeviceId> {
        let id = self.by_subject.get(&identity.subject)?;
        let d = self.devices.get(id)?;
        (d.certificate_serial == identity.serial).then_some(id)
    }

    /// The certificate subject of `device`, for routing to its session (never shown to
    /// apps: listings carry the masked serial).
    pub fn subject_of(&self, device: &DeviceId) -> Option<&str> {
        self.devices.get(device).map(|d| d.subject.as_str())
    }

    /// Records a device (at manufacture, or when its certificate first connects): it gets
    /// a random [`DeviceId`] and no owner.
    pub fn provision(
        &mut self,
        identity: &PeerIdentity,
        model: &str,
        now: Timestamp,
        rng: &mut impl CryptoRngCore,
    ) -> Result<DeviceId, ProvisionError> {
        check_text(&identity.subject, MAX_SUBJECT_CHARS).map_err(ProvisionError::InvalidSubject)?;
        check_text(model, MAX_MODEL_CHARS).map_err(ProvisionError::InvalidModel)?;
        if self.by_subject.contains_key(&identity.subject) {
            return Err(ProvisionError::Duplicate {
                subject: identity.subject.clone(),
            });
        }
        // 128 random bits never collide in practice; the loop makes it certain.
        let id = loop {
            let mut raw = [0u8; 16];
            rng.fill_bytes(&mut raw);
            let id = DeviceId(hex::encode(raw));
            if !self.devices.contains_key(&id) {
                break id;
            }
        };
        self.by_subject.insert(identity.subject.clone(), id.clone());
        self.devices.insert(
            id.clone(),
            Device {
                subject: identity.subject.clone(),
                certificate_serial: identity.serial,
                model: model.to_owned(),
                provisioned_at: now,
                owner: None,
                shares: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    /// The authenticated, unbound device asks for a pairing token to show its owner (QR
    /// code, local screen, LAN). A new token replaces the device's previous one.
    pub fn begin_pairing(
        &mut self,
        identity: &PeerIdentity,
        now: Timestamp,
        rng: &mut impl CryptoRngCore,
    ) -> Result<PairingToken, PairingError> {
        let subject = identity.subject.clone();
        let Some(id) = self.by_subject.get(&identity.subject).cloned() else {
            return Err(PairingError::UnknownDevice { subject });
        };
        let Some(device) = self.devices.get(&id) else {
            return Err(PairingError::UnknownDevice { subject });
        };
        if device.certificate_serial != identity.serial {
            return Err(PairingError::CertificateMismatch {
                subject,
                presented: identity.serial,
            });
        }
        if device.owner.is_some() {
            return Err(PairingError::AlreadyBound { subject });
        }
        if let Some(old) = self.pairing_of.remove(&id) {
            self.pairings.remove(&old);
        }
        let mut raw = Zeroizing::new([0u8; 16]);
        rng.fill_bytes(raw.as_mut());
        let text = Zeroizing::new(hex::encode(raw.as_ref()));
        let digest = secret_digest(b"camproof/registry/pairing", &text);
        let expires_at = now.saturating_add(self.config.pairing_ttl);
        self.pairings.insert(
            digest,
            Pairing {
                device: id.clone(),
                expires_at,
            },
        );
        self.pairing_of.insert(id, digest);
        Ok(PairingToken { text, expires_at })
    }

    /// Binds the device whose pairing token the caller presents to the caller. Wrong
    /// tokens count against the caller; too many in a window refuse every claim (even a
    /// right one) for a while.
    pub fn claim(
        &mut self,
        caller: &Caller,
        token: &str,
        now: Timestamp,
    ) -> Result<DeviceId, RegistryError> {
        self.check_region(caller)?;
        if let Err(until) = self.claim_limiter.check(&caller.user, now) {
            self.stats.claims_refused += 1;
            return Err(RegistryError::RateLimited { until });
        }
        let digest = secret_digest(b"camproof/registry/pairing", token);
        let Some(pairing) = self.pairings.get(&digest).cloned() else {
            self.stats.claims_refused += 1;
            self.claim_limiter.record_failure(caller.user.clone(), now);
            return Err(RegistryError::InvalidPairingToken);
        };
        if pairing.expires_at <= now {
            self.remove_pairing(&pairing.device);
            self.stats.claims_refused += 1;
            return Err(RegistryError::PairingTokenExpired);
        }
        let Some(device) = self.devices.get(&pairing.device) else {
            self.remove_pairing(&pairing.device);
            return Err(RegistryError::InvalidPairingToken);
        };
        if device.owner.is_some() {
            self.remove_pairing(&pairing.device);
            return Err(RegistryError::AlreadyBound);
        }
        let count = self.owned.get(&caller.user).map_or(0, BTreeSet::len);
        if count >= self.config.max_devices_per_user {
            return Err(RegistryError::TooManyDevices {
                limit: self.config.max_devices_per_user,
            });
        }
        self.remove_pairing(&pairing.device);
        if let Some(device) = self.devices.get_mut(&pairing.device) {
            device.owner = Some((caller.user.clone(), now));
        }
        self.owned
            .entry(caller.user.clone())
            .or_default()
            .insert(pairing.device.clone());
        self.stats.claims += 1;
        Ok(pairing.device)
    }

    /// The devices the caller owns or has been shared, with masked serial numbers.
    pub fn list_devices(&self, caller: &Caller) -> Result<Vec<DeviceSummary>, RegistryError> {
        self.check_region(caller)?;
        let mut out = Vec::new();
        let empty = BTreeSet::new();
        let owned = self.owned.get(&caller.user).unwrap_or(&empty);
        let shared = self.shared.get(&caller.user).unwrap_or(&empty);
        for (ids, role) in [(owned, Role::Owner), (shared, Role::Shared)] {
            for id in ids {
                if let Some(d) = self.devices.get(id) {
                    out.push(DeviceSummary {
                        id: id.clone(),
                        model: d.model.clone(),
                        masked_serial: mask_subject(&d.subject),
                        role,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The device's full serial number, for its owner, given a proof that the owner's
    /// password was verified at most `proof_max_age` ago.
    pub fn reveal_serial(
        &self,
        caller: &Caller,
        device: &DeviceId,
        proof: &PasswordVerified,
        now: Timestamp,
    ) -> Result<SerialNumber, RegistryError> {
        self.check_region(caller)?;
        proof.check(caller, self.region, now, self.config.proof_max_age)?;
        match self.role_of(&caller.user, device) {
            Some(Role::Owner) => {}
            Some(Role::Shared) => return Err(RegistryError::SerialOwnerOnly),
            None => return Err(RegistryError::NotFound),
        }
        let d = self.devices.get(device).ok_or(RegistryError::NotFound)?;
        Ok(SerialNumber {
            subject: d.subject.clone(),
            certificate_serial: d.certificate_serial,
        })
    }

    /// Issues a single-use code for `action` on `device`, valid for `code_ttl`, if the
    /// caller owns the device (any action) or has it shared ([`Action::SHARED`] only).
    pub fn issue_code(
        &mut self,
        caller: &Caller,
        device: &DeviceId,
        action: Action,
        now: Timestamp,
        rng: &mut impl CryptoRngCore,
    ) -> Result<AuthzCode, RegistryError> {
        self.check_region(caller)?;
        if !self.permits(&caller.user, device, action)? {
            return Err(RegistryError::NotPermitted { action });
        }
        self.prune_codes_of(&caller.user, now);
        let limit = self.config.max_codes_per_user;
        if self.codes_of.get(&caller.user).map_or(0, BTreeSet::len) >= limit {
            // Used codes only wait for expiry (to answer "already used"): make room.
            let used: Vec<Digest32> = self
                .codes_of
                .get(&caller.user)
                .into_iter()
                .flatten()
                .filter(|d| self.codes.get(*d).is_some_and(|c| c.used))
                .copied()
                .collect();
            for d in used {
                self.remove_code(&d);
            }
            if self.codes_of.get(&caller.user).map_or(0, BTreeSet::len) >= limit {
                return Err(RegistryError::TooManyCodes { limit });
            }
        }
        let mut raw = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(raw.as_mut());
        let text = Zeroizing::new(hex::encode(raw.as_ref()));
        let digest = secret_digest(b"camproof/registry/authz", &text);
        let expires_at = now.saturating_add(self.config.code_ttl);
        self.codes.insert(
            digest,
            CodeRecord {
                user: caller.user.clone(),
                device: device.clone(),
                action,
                expires_at,
                used: false,
            },
        );
        self.codes_of
            .entry(caller.user.clone())
            .or_default()
            .insert(digest);
        self.stats.codes_issued += 1;
        Ok(AuthzCode {
            text,
            device: device.clone(),
            action,
            expires_at,
        })
    }

    /// Accepts a code once, for the user, device and action it was issued for, before it
    /// expires and while the user still has the right to the device.
    ///
    /// Codes are found by their SHA-256 digest, so the lookup's timing depends on a
    /// digest the presenter cannot steer, not on the secret.
    pub fn redeem(
        &mut self,
        code: &str,
        caller: &Caller,
        device: &DeviceId,
        action: Action,
        now: Timestamp,
    ) -> Result<(), RedeemError> {
        let result = self.redeem_inner(code, caller, device, action, now);
        match result {
            Ok(()) => self.stats.codes_redeemed += 1,
            Err(_) => self.stats.codes_refused += 1,
        }
        result
    }

    fn redeem_inner(
        &mut self,
        code: &str,
        caller: &Caller,
        device: &DeviceId,
        action: Action,
        now: Timestamp,
    ) -> Result<(), RedeemError> {
        if caller.home != self.region {
            return Err(RedeemError::WrongRegion {
                home: caller.home,
                here: self.region,
            });
        }
        let digest = secret_digest(b"camproof/registry/authz", code);
        let record = self.codes.get(&digest).ok_or(RedeemError::Unknown)?.clone();
        if record.used {
            return Err(RedeemError::AlreadyUsed);
        }
        if record.expires_at <= now {
            self.remove_code(&digest);
            return Err(RedeemError::Expired {
                at: record.expires_at,
            });
        }
        let mismatch = if record.user != caller.user {
            Some(RedeemError::WrongUser)
        } else if record.device != *device {
            Some(RedeemError::WrongDevice)
        } else if record.action != action {
            Some(RedeemError::WrongAction {
                issued_for: record.action,
                presented: action,
            })
        } else {
            None
        };
        if let Some(e) = mismatch {
            if let Some(r) = self.codes.get_mut(&digest) {
                r.used = true;
            }
            return Err(e);
        }
        // Rights are revoked with their codes; this re-check keeps that true by design.
        if !matches!(self.permits(&caller.user, device, action), Ok(true)) {
            self.remove_code(&digest);
            return Err(RedeemError::Unknown);
        }
        if let Some(r) = self.codes.get_mut(&digest) {
            r.used = true;
        }
        Ok(())
    }

    /// The owner removes the device from their account, with an [`Action::Unbind`] code.
    /// Its shares and every outstanding code for it are revoked; it may pair again.
    pub fn unbind(
        &mut self,
        caller: &Caller,
        device: &DeviceId,
        code: &str,
        now: Timestamp,
    ) -> Result<(), RegistryError> {
        self.check_region(caller)?;
        self.redeem(code, caller, device, Action::Unbind, now)?;
        self.unbind_device(device);
        Ok(())
    }

    /// The owner shares the device with `grantee` for live view only, with an
    /// [`Action::Share`] code. The grantee must be homed in this region.
    pub fn share(
        &mut self,
        caller: &Caller,
        device: &DeviceId,
        grantee: &Caller,
        code: &str,
        now: Timestamp,
    ) -> Result<(), RegistryError> {
        self.check_region(caller)?;
        self.redeem(code, caller, device, Action::Share, now)?;
        if grantee.home != self.region {
            return Err(RegistryError::GranteeInAnotherRegion {
                home: grantee.home,
                here: self.region,
            });
        }
        if grantee.user == caller.user {
            return Err(RegistryError::ShareWithSelf);
        }
        let limit = self.config.max_shares_per_device;
        let d = self
            .devices
            .get_mut(device)
            .ok_or(RegistryError::NotFound)?;
        if !d.shares.contains_key(&grantee.user) && d.shares.len() >= limit {
            return Err(RegistryError::TooManyShares { limit });
        }
        d.shares.insert(grantee.user.clone(), now);
        self.shared
            .entry(grantee.user.clone())
            .or_default()
            .insert(device.clone());
        Ok(())
    }

    /// The owner stops sharing the device with `grantee`, with an [`Action::Share`] code;
    /// the grantee's outstanding codes for it are revoked. `true` if it was shared.
    pub fn unshare(
        &mut self,
        caller: &Caller,
        device: &DeviceId,
        grantee: &UserId,
        code: &str,
        now: Timestamp,
    ) -> Result<bool, RegistryError> {
        self.check_region(caller)?;
        self.redeem(code, caller, device, Action::Share, now)?;
        Ok(self.revoke_share(device, grantee))
    }

    /// Drops expired pairing tokens and codes; returns how many went.
    pub fn expire(&mut self, now: Timestamp) -> usize {
        let pairings: Vec<DeviceId> = self
            .pairings
            .values()
            .filter(|p| p.expires_at <= now)
            .map(|p| p.device.clone())
            .collect();
        let codes: Vec<Digest32> = self
            .codes
            .iter()
            .filter(|(_, c)| c.expires_at <= now)
            .map(|(d, _)| *d)
            .collect();
        for d in &pairings {
            self.remove_pairing(d);
        }
        for d in &codes {
            self.remove_code(d);
        }
        pairings.len() + codes.len()
    }

    /// Erases everything about `user` held here: their devices are unbound (with their
    /// shares and codes), shares to them and their codes are revoked, their claim
    /// failures forgotten. Apply it in every region (it is a no-op where the user has
    /// nothing); the record proves the result with [`RegistryErasure::verify`].
    pub fn erase_user(&mut self, user: &UserId, now: Timestamp) -> RegistryErasure {
        let keys_erased = self.user_records(user).len();
        let owned: Vec<DeviceId> = self
            .owned
            .get(user)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for d in &owned {
            self.unbind_device(d);
        }
        let shared: Vec<DeviceId> = self
            .shared
            .get(user)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for d in &shared {
            self.revoke_share(d, user);
        }
        let codes: Vec<Digest32> = self
            .codes_of
            .get(user)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for d in &codes {
            self.remove_code(d);
        }
        self.owned.remove(user);
        self.shared.remove(user);
        self.codes_of.remove(user);
        self.claim_limiter.clear(user);
        RegistryErasure {
            user_id: user.clone(),
            key_prefix: user_key_prefix(user),
            erased_at: now,
            keys_erased,
            devices_unbound: owned.len(),
        }
    }

    /// This region's whole state as store records (see `docs/registry.md` for the
    /// layout): every device, and every user's bindings and shares.
    pub fn records(&self) -> Keyspace {
        let mut out = Keyspace::new();
        for (id, d) in &self.devices {
            out.insert(
                device_key(id),
                json(&DeviceRecord {
                    subject: &d.subject,
                    certificate_serial: d.certificate_serial,
                    model: &d.model,
                    home_region: self.region,
                    provisioned_at: d.provisioned_at,
                }),
            );
        }
        let users: BTreeSet<&UserId> = self.owned.keys().chain(self.shared.keys()).collect();
        for user in users {
            out.extend(self.user_records(user));
        }
        out
    }

    /// One user's records (everything under [`user_key_prefix`]); empty if none.
    pub fn user_records(&self, user: &UserId) -> Keyspace {
        let p = user_key_prefix(user);
        let mut out = Keyspace::new();
        for id in self.owned.get(user).into_iter().flatten() {
            if let Some((_, at)) = self.devices.get(id).and_then(|d| d.owner.as_ref()) {
                out.insert(
                    format!("{p}device/{id}"),
                    json(&BindingRecord { bound_at: *at }),
                );
            }
        }
        for id in self.shared.get(user).into_iter().flatten() {
            if let Some(at) = self.devices.get(id).and_then(|d| d.shares.get(user)) {
                out.insert(
                    format!("{p}shared/{id}"),
                    json(&ShareRecord {
                        actions: Action::SHARED.to_vec(),
                        granted_at: *at,
                    }),
                );
            }
        }
        out
    }

    fn check_region(&self, caller: &Caller) -> Result<(), RegistryError> {
        if caller.home == self.region {
            Ok(())
        } else {
            Err(RegistryError::WrongRegion {
                home: caller.home,
                here: self.region,
            })
        }
    }

    fn role_of(&self, user: &UserId, device: &DeviceId) -> Option<Role> {
        let d = self.devices.get(device)?;
        if d.owner.as_ref().is_some_and(|(o, _)| o == user) {
            Some(Role::Owner)
        } else if d.shares.contains_key(user) {
            Some(Role::Shared)
        } else {
            None
        }
    }

    /// `Err(NotFound)` if the user may not see the device at all, else whether the
    /// action is allowed.
    fn permits(
        &self,
        user: &UserId,
        device: &DeviceId,
        action: Action,
    ) -> Result<bool, RegistryError> {
        if self.bugs.skip_ownership_check && self.devices.contains_key(device) {
            return Ok(true);
        }
        match self.role_of(user, device) {
            Some(Role::Owner) => Ok(true),
            Some(Role::Shared) => Ok(Action::SHARED.contains(&action)),
            None => Err(RegistryError::NotFound),
        }
    }

    fn remove_pairing(&mut self, device: &DeviceId) {
        if let Some(d) = self.pairing_of.remove(device) {
            self.pairings.remove(&d);
        }
    }

    fn remove_code(&mut self, digest: &Digest32) {
        if let Some(c) = self.codes.remove(digest) {
            if let Some(set) = self.codes_of.get_mut(&c.user) {
                set.remove(digest);
                if set.is_empty() {
                    self.codes_of.remove(&c.user);
                }
            }
        }
    }

    fn prune_codes_of(&mut self, user: &UserId, now: Timestamp) {
        let expired: Vec<Digest32> = self
            .codes_of
            .get(user)
            .into_iter()
            .flatten()
            .filter(|d| self.codes.get(*d).is_none_or(|c| c.expires_at <= now))
            .copied()
            .collect();
        for d in &expired {
            self.remove_code(d);
        }
    }

    /// Revokes every outstanding code for `device` (of `user` only, if given).
    fn revoke_codes_for(&mut self, device: &DeviceId, user: Option<&UserId>) {
        let doomed: Vec<Digest32> = self
            .codes
            .iter()
            .filter(|(_, c)| c.device == *device && user.is_none_or(|u| c.user == *u))
            .map(|(d, _)| *d)
            .collect();
        for d in &doomed {
            self.remove_code(d);
        }
    }

    fn revoke_share(&mut self, device: &DeviceId, grantee: &UserId) -> bool {
        let was = self
            .devices
            .get_mut(device)
            .is_some_and(|d| d.shares.remove(grantee).is_some());
        if let Some(set) = self.shared.get_mut(grantee) {
            set.remove(device);
            if set.is_empty() {
                self.shared.remove(grantee);
            }
        }
        self.revoke_codes_for(device, Some(grantee));
        was
    }

    fn unbind_device(&mut self, device: &DeviceId) {
        let Some(d) = self.devices.get_mut(device) else {
            return;
        };
        let owner = d.owner.take();
        let grantees: Vec<UserId> = d.shares.keys().cloned().collect();
        for g in &grantees {
            self.revoke_share(device, g);
        }
        if let Some((owner, _)) = owner {
            if let Some(set) = self.owned.get_mut(&owner) {
                set.remove(device);
                if set.is_empty() {
                    self.owned.remove(&owner);
                }
            }
        }
        self.revoke_codes_for(device, None);
    }
}

/// The prefix under which every registry record of `user` lives (`registry/user/{id}/`).
pub fn user_key_prefix(user: &UserId) -> String {
    format!("registry/user/{}/", user.as_str())
}

/// The key of a device's own record (`registry/device/{device_id}`).
pub fn device_key(device: &DeviceId) -> String {
    format!("registry/device/{}", device.as_str())
}

/// Proof material of a user's erasure from the registry: what was removed and how to
/// check a replica holds nothing of the user. Holds no personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryErasure {
    /// The erased user.
    pub user_id: UserId,
    /// Every key under this prefix belongs to the erased user.
    pub key_prefix: String,
    /// When the user was erased.
    #[serde(with = "ts_micros")]
    pub erased_at: Timestamp,
    /// Keys the registry held for the user.
    pub keys_erased: usize,
    /// Devices that became unbound.
    pub devices_unbound: usize,
}

impl Erasure for RegistryErasure {
    fn erased_user(&self) -> &UserId {
        &self.user_id
    }

    /// Under the user's prefix, or any key or value naming its id.
    fn mentions(&self, key: &str, value: &[u8]) -> bool {
        let id = self.user_id.as_str().as_bytes();
        key.starts_with(&self.key_prefix)
            || key.contains(self.user_id.as_str())
            || (!id.is_empty() && value.windows(id.len()).any(|w| w == id))
    }
}

#[derive(Serialize, Deserialize)]
struct DeviceRecord<'a> {
    subject: &'a str,
    certificate_serial: u64,
    model: &'a str,
    home_region: Region,
    #[serde(with = "ts_micros")]
    provisioned_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct BindingRecord {
    #[serde(with = "ts_micros")]
    bound_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct ShareRecord {
    actions: Vec<Action>,
    #[serde(with = "ts_micros")]
    granted_at: Timestamp,
}

fn check_text(s: &str, max_chars: usize) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("empty");
    }
    if s.chars().count() > max_chars {
        return Err("too long");
    }
    if s.chars().any(char::is_control) {
        return Err("contains control characters");
    }
    Ok(())
}

fn secret_digest(domain: &[u8], secret: &str) -> Digest32 {
    let mut h = Sha256::new();
    h.update(domain);
    h.update([0u8]);
    h.update(secret.as_bytes());
    h.finalize().into()
}

fn json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|e| unreachable!("plain data always serialises: {e}"))
}

#[cfg(test)]
mod tests;
