//! What the service holds about a user, as plain serde records: login history,
//! notifications, the export, the keyspace a replicated store holds, and erasure proofs.
//!
//! # Keyspace
//! Every record about a user lives under one prefix, [`user_key_prefix`]:
//!
//! | key | value (JSON unless noted) |
//! |---|---|
//! | `accounts/user/{user_id}/profile` | username, home region, creation time |
//! | `accounts/user/{user_id}/password` | Argon2id PHC string (UTF-8) |
//! | `accounts/user/{user_id}/totp` | base32 secret, last accepted step, enrolment time |
//! | `accounts/user/{user_id}/known` | known addresses and regions, last login place and time |
//! | `accounts/user/{user_id}/session/{sha256(token) hex}` | creation, expiry, address |
//! | `accounts/user/{user_id}/login/{seq:016x}` | one [`LoginRecord`] |
//! | `accounts/user/{user_id}/notification/{id:016x}` | one [`Notification`] |
//!
//! plus one routing entry outside it, `accounts/directory/{sha256(username) hex}` →
//! home region, replicated to every region so a login can be sent home. No other key
//! and no value outside the prefix names the user id.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use camproof_protocol::time::Timestamp;
use serde::{Deserialize, Serialize};

use super::geo::{GeoPoint, Region};

/// A replica's keyspace: key → value bytes, ordered.
pub type Keyspace = BTreeMap<String, Vec<u8>>;

/// Serde for a [`Timestamp`] as microseconds since the Unix epoch.
pub(crate) mod ts_micros {
    use camproof_protocol::time::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(t.as_micros())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        u64::deserialize(d).map(Timestamp::from_micros)
    }
}

/// Serde for an optional [`Timestamp`] as microseconds since the Unix epoch.
pub(crate) mod ts_micros_opt {
    use camproof_protocol::time::Timestamp;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        t.map(Timestamp::as_micros).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Timestamp>, D::Error> {
        Option::<u64>::deserialize(d).map(|o| o.map(Timestamp::from_micros))
    }
}

/// An account's identifier: 128 random bits in hex, never derived from the username.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UserId(pub(crate) String);

impl UserId {
    /// The id as text (32 lowercase hex digits).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The prefix under which every record of `user` lives (`accounts/user/{id}/`).
pub fn user_key_prefix(user: &UserId) -> String {
    format!("accounts/user/{}/", user.0)
}

/// The routing key of a username digest (`accounts/directory/{hex}`).
pub(crate) fn directory_key(digest_hex: &str) -> String {
    format!("accounts/directory/{digest_hex}")
}

/// Why a login looked abnormal for this user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AbnormalReason {
    /// A region the user never logged in from.
    NewRegion {
        /// The region of this login.
        region: Region,
    },
    /// An address the user never logged in from (among the ones remembered).
    NewAddress {
        /// The address of this login.
        address: IpAddr,
    },
    /// Too far from the last login for the time elapsed.
    ImpossibleTravel {
        /// Great-circle distance from the last successful login, in km.
        distance_km: f64,
        /// Time since that login, in seconds.
        elapsed_secs: u64,
        /// The speed that would take, in km/h.
        speed_kmh: f64,
    },
}

impl fmt::Display for AbnormalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AbnormalReason::NewRegion { region } => write!(f, "first login from region {region}"),
            AbnormalReason::NewAddress { address } => write!(f, "first login from {address}"),
            AbnormalReason::ImpossibleTravel {
                distance_km,
                elapsed_secs,
                speed_kmh,
            } => write!(
                f,
                "{distance_km:.0} km from the previous login {elapsed_secs} s earlier ({speed_kmh:.0} km/h)"
            ),
        }
    }
}

/// How one login attempt on an existing account ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LoginOutcome {
    /// Logged in; a session was issued.
    Success,
    /// Wrong password.
    WrongPassword,
    /// Refused because the account was locked.
    Locked,
    /// Password right, second factor needed and not given.
    SecondFactorRequired,
    /// Password right, second factor wrong or replayed.
    WrongSecondFactor,
    /// Password right, login abnormal and no second factor enrolled: refused.
    RefusedNoSecondFactor,
}

/// One login attempt on an account, as the user sees it in the export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginRecord {
    /// When the attempt arrived.
    #[serde(with = "ts_micros")]
    pub at: Timestamp,
    /// Source address.
    pub address: IpAddr,
    /// Region the source is in.
    pub region: Region,
    /// Where the source is (geo-IP).
    pub location: GeoPoint,
    /// How it ended.
    pub outcome: LoginOutcome,
    /// Why it was abnormal, if it was (checked once the password was right).
    pub abnormal: Vec<AbnormalReason>,
}

/// What a notification tells the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum NotificationKind {
    /// Someone with the right password logged in, or tried to, from an unusual place.
    AbnormalLogin {
        /// Source address.
        address: IpAddr,
        /// Source region.
        region: Region,
        /// Source location.
        location: GeoPoint,
        /// Why it was unusual.
        reasons: Vec<AbnormalReason>,
        /// What the service did.
        outcome: LoginOutcome,
    },
    /// Too many failed attempts: the account is locked for a while.
    AccountLocked {
        /// The address of the attempt that locked it.
        address: IpAddr,
        /// When logins are allowed again.
        #[serde(with = "ts_micros")]
        until: Timestamp,
    },
    /// An authenticator app was enrolled as second factor.
    SecondFactorEnrolled,
}

/// A message for the user, kept on the account and queued for delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Per-account sequence number (what `approve_login` refers to).
    pub id: u64,
    /// When it was raised.
    #[serde(with = "ts_micros")]
    pub at: Timestamp,
    /// What happened.
    pub kind: NotificationKind,
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            NotificationKind::AbnormalLogin {
                address,
                region,
                reasons,
                outcome,
                ..
            } => {
                let what = match outcome {
                    LoginOutcome::Success => "signed in to your account",
                    _ => "tried to sign in to your account with your password",
                };
                write!(f, "Someone at {address} ({region}) {what}: ")?;
                for (i, r) in reasons.iter().enumerate() {
                    write!(f, "{}{r}", if i == 0 { "" } else { "; " })?;
                }
                if *outcome != LoginOutcome::Success {
                    write!(
                        f,
                        ". If this was not you, change your password now; if it was, approve it"
                    )?;
                }
                Ok(())
            }
            NotificationKind::AccountLocked { address, until } => write!(
                f,
                "Too many failed sign-ins (the last from {address}): your account is locked until {until}"
            ),
            NotificationKind::SecondFactorEnrolled => {
                f.write_str("An authenticator app was added as second factor to your account")
            }
        }
    }
}

/// A session as the export shows it (no token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// When it was issued.
    #[serde(with = "ts_micros")]
    pub created_at: Timestamp,
    /// When it expires.
    #[serde(with = "ts_micros")]
    pub expires_at: Timestamp,
    /// The address it was issued to.
    pub address: IpAddr,
}

/// Everything the service holds about one user (GDPR-style access and portability).
///
/// Included: profile, home region, whether and when a second factor was enrolled,
/// known addresses and regions, the full login history (successes and failures, with
/// addresses, places and times), notifications, and active sessions. Left out on
/// purpose: the password hash, the TOTP secret and session tokens. Those are
/// authenticators, not information about the person; an export travels by email and
/// download links, and a leaked export must not let anyone sign in or guess the
/// password offline. The export says they exist and when they were set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountExport {
    /// The account's id.
    pub user_id: UserId,
    /// The username (email or handle) as registered, normalised.
    pub username: String,
    /// Where the account's data lives.
    pub home_region: Region,
    /// When the account was created.
    #[serde(with = "ts_micros")]
    pub created_at: Timestamp,
    /// When the export was made.
    #[serde(with = "ts_micros")]
    pub exported_at: Timestamp,
    /// A password is set (always true; the hash itself is not exported).
    pub password_set: bool,
    /// Whether an authenticator app is enrolled.
    pub totp_enrolled: bool,
    /// When it was enrolled.
    #[serde(with = "ts_micros_opt")]
    pub totp_enrolled_at: Option<Timestamp>,
    /// Addresses the user logged in from (most recent last).
    pub known_addresses: Vec<IpAddr>,
    /// Regions the user logged in from.
    pub known_regions: Vec<Region>,
    /// Every login attempt kept (most recent last).
    pub login_history: Vec<LoginRecord>,
    /// Every notification kept (most recent last).
    pub notifications: Vec<Notification>,
    /// Sessions still valid at export time.
    pub active_sessions: Vec<SessionSummary>,
}

impl AccountExport {
    /// The export as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| unreachable!("plain data always serialises: {e}"))
    }
}

/// Proof material of an erasure: what to remove on every replica and how to check it.
///
/// Holds no personal data (the user id is random; the directory key is a digest), so it
/// can be kept after the account is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureRecord {
    /// The erased account's id.
    pub user_id: UserId,
    /// Every key under this prefix belongs to the erased user.
    pub key_prefix: String,
    /// The user's routing entry, replicated to every region.
    pub directory_key: String,
    /// When the account was erased.
    #[serde(with = "ts_micros")]
    pub erased_at: Timestamp,
    /// Keys the home region's service held for the user (directory entry included).
    pub keys_erased: usize,
    /// Sessions revoked.
    pub sessions_revoked: usize,
}

/// An erasure of one user's data, as every replica applies and checks it.
///
/// Each service says which records are the user's ([`Erasure::mentions`]); removing them
/// from a replica and proving none remains are the same for every service.
pub trait Erasure {
    /// The erased user.
    fn erased_user(&self) -> &UserId;

    /// Whether `key` (with `value`) holds data of the erased user.
    fn mentions(&self, key: &str, value: &[u8]) -> bool;

    /// Removes the user's records from a replica's keyspace; returns how many went.
    fn apply(&self, keyspace: &mut Keyspace) -> usize {
        let before = keyspace.len();
        keyspace.retain(|k, v| !self.mentions(k, v));
        before - keyspace.len()
    }

    /// Checks that no record of the erased user remains in `keyspace`.
    fn verify(&self, keyspace: &Keyspace) -> Result<(), ErasureViolation> {
        let keys: Vec<String> = keyspace
            .iter()
            .filter(|(k, v)| self.mentions(k, v))
            .map(|(k, _)| k.clone())
            .collect();
        if keys.is_empty() {
            Ok(())
        } else {
            Err(ErasureViolation {
                user_id: self.erased_user().clone(),
                keys,
            })
        }
    }
}

impl Erasure for ErasureRecord {
    fn erased_user(&self) -> &UserId {
        &self.user_id
    }

    /// Under the user's prefix, the directory entry, or any key or value naming its id.
    fn mentions(&self, key: &str, value: &[u8]) -> bool {
        key.starts_with(&self.key_prefix)
            || key == self.directory_key
            || key.contains(self.user_id.as_str())
            || contains(value, self.user_id.as_str().as_bytes())
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// A replica still holds data of an erased user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "erasure of user {user_id} incomplete: {} key(s) remain, first {:?}",
    keys.len(),
    keys.first().map(String::as_str).unwrap_or("")
)]
pub struct ErasureViolation {
    /// The erased user.
    pub user_id: UserId,
    /// Keys that still hold the user's data.
    pub keys: Vec<String>,
}
