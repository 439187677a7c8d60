//! Accounts: registration with a password policy, Argon2id hashing, TOTP as second
//! factor, lockout against credential stuffing, abnormal-login detection, sessions,
//! erasure and export. Pure and deterministic: time comes in as `now`, randomness from
//! the caller's RNG, and nothing here does I/O.
//!
//! Main types: [`Accounts`] (one region's service), [`AccountsConfig`] (thresholds and
//! Argon2 costs), [`LoginAttempt`] / [`Session`], the errors [`RegistrationError`],
//! [`LoginError`], [`SessionError`], [`AccountError`] and [`TotpError`], and the records
//! in [`records`]: [`AccountExport`], [`ErasureRecord`] (with
//! [`ErasureRecord::verify`] to prove a replica holds nothing of an erased user).
//!
//! ```
//! use camproof_platform::accounts::{Accounts, AccountsConfig, GeoPoint, LoginAttempt,
//!     LoginSource, Region};
//! use camproof_protocol::time::Timestamp;
//! use rand_chacha::ChaCha8Rng;
//! use rand_core::SeedableRng;
//!
//! let mut rng = ChaCha8Rng::seed_from_u64(7);
//! let mut eu = Accounts::new(Region::EuAfrica, AccountsConfig::for_tests()).unwrap();
//! let now = Timestamp::from_secs(1_700_000_000);
//! let reg = eu
//!     .register("alice@example.com", "marble-otter-quantum-lantern", Region::EuAfrica, now, &mut rng)
//!     .unwrap();
//! let source = LoginSource {
//!     address: "192.0.2.10".parse().unwrap(),
//!     region: Region::EuAfrica,
//!     location: GeoPoint::new(48.85, 2.35),
//! };
//! let attempt = LoginAttempt::new("alice@example.com", "marble-otter-quantum-lantern", None, source);
//! let session = eu.login(&attempt, now, &mut rng).unwrap();
//! assert_eq!(eu.authenticate(session.token.expose(), now).unwrap(), reg.user_id);
//! ```
//!
//! See `docs/accounts.md` for the guarantees and parameters.

pub mod geo;
pub mod limiter;
pub mod password;
pub mod records;
pub mod totp;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use argon2::Argon2;
use camproof_protocol::time::Timestamp;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub use geo::{GeoPoint, Region, UnknownRegion};
pub use limiter::{FailureLimiter, LockoutPolicy};
pub use password::{Argon2Config, PasswordHashString, PasswordPolicy, WeakPassword};
pub use records::{
    user_key_prefix, AbnormalReason, AccountExport, Erasure, ErasureRecord, ErasureViolation,
    Keyspace, LoginOutcome, LoginRecord, Notification, NotificationKind, SessionSummary, UserId,
};
pub use totp::{Totp, TotpEnrolment, TotpError};

use records::{directory_key, ts_micros};

/// Which logins count as abnormal (each then needs the second factor and notifies).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AbnormalPolicy {
    /// A region the user never logged in from.
    pub new_region: bool,
    /// An address the user never logged in from (among the last `known_addresses`).
    pub new_address: bool,
    /// Faster than this from the last successful login is impossible travel (km/h).
    pub max_travel_kmh: f64,
    /// Distances under this are geo-IP noise, never impossible travel (km).
    pub travel_noise_km: f64,
    /// How many recent login addresses are remembered per user.
    pub known_addresses: usize,
}

/// Everything tunable about one region's accounts service.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountsConfig {
    /// Password rules at registration.
    pub password: PasswordPolicy,
    /// Argon2id costs for new hashes.
    pub argon2: Argon2Config,
    /// Failures per account (by username, existing or not) before it is locked.
    pub account_lockout: LockoutPolicy,
    /// Failures per source address (across all usernames) before it is blocked.
    pub address_lockout: LockoutPolicy,
    /// Most usernames tracked by the account limiter (oldest forgotten first).
    pub max_tracked_accounts: usize,
    /// Most addresses tracked by the address limiter (oldest forgotten first).
    pub max_tracked_addresses: usize,
    /// Abnormal-login rules.
    pub abnormal: AbnormalPolicy,
    /// How long a session lasts.
    pub session_ttl: Duration,
    /// Login records kept per account (oldest dropped first).
    pub login_history_limit: usize,
    /// Notifications kept per account (oldest dropped first).
    pub notification_limit: usize,
    /// Notifications queued for delivery, all users together (oldest dropped first).
    pub outbox_limit: usize,
    /// Issuer name shown in authenticator apps.
    pub totp_issuer: String,
    /// Deliberate defects for negative tests (all off in production).
    pub bugs: AccountsBugs,
}

/// Deliberate defects for the simulator's negative tests: each makes one invariant
/// fail. All off by default; never set outside tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountsBugs {
    /// Sign-ins from an unusual place are not treated as abnormal (no second factor
    /// asked, nobody notified): a leaked password is enough.
    pub unusual_login_accepted: bool,
    /// A locked account refuses its owner's usual addresses too, so an attacker who
    /// fails on purpose locks the owner out.
    pub lockout_everywhere: bool,
}

impl AccountsConfig {
    /// Production parameters: OWASP Argon2id costs (19 MiB, 2 passes), 5 failures in
    /// 15 minutes lock an account for 15 minutes, 20 failures in 10 minutes block an
    /// address for 30 minutes, 1000 km/h impossible travel, 12-hour sessions.
    pub fn production() -> Self {
        AccountsConfig {
            password: PasswordPolicy::default(),
            argon2: Argon2Config::PRODUCTION,
            account_lockout: LockoutPolicy {
                max_failures: 5,
                window: Duration::from_secs(15 * 60),
                lockout: Duration::from_secs(15 * 60),
            },
            address_lockout: LockoutPolicy {
                max_failures: 20,
                window: Duration::from_secs(10 * 60),
                lockout: Duration::from_secs(30 * 60),
            },
            max_tracked_accounts: 1_000_000,
            max_tracked_addresses: 100_000,
            abnormal: AbnormalPolicy {
                new_region: true,
                new_address: true,
                max_travel_kmh: 1000.0,
                travel_noise_km: 100.0,
                known_addresses: 20,
            },
            session_ttl: Duration::from_secs(12 * 3600),
            login_history_limit: 1000,
            notification_limit: 200,
            outbox_limit: 100_000,
            totp_issuer: "camproof".to_owned(),
            bugs: AccountsBugs::default(),
        }
    }

    /// Production rules with tiny Argon2 costs, so tests and large simulations stay fast.
    /// Not for real passwords.
    pub fn for_tests() -> Self {
        AccountsConfig {
            argon2: Argon2Config::TEST,
            ..AccountsConfig::production()
        }
    }
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig::production()
    }
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The Argon2 parameters are out of range.
    #[error("invalid Argon2 parameters: {0}")]
    Argon2(String),
    /// A limit that must be positive is zero.
    #[error("accounts config: {0} must be greater than zero")]
    Zero(&'static str),
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// The account's home region is another one; its data may only be created there.
    #[error("accounts homed in {home} are created in {home}, not in {here}: send the registration to {home}")]
    WrongRegion {
        /// The requested home region.
        home: Region,
        /// This service's region.
        here: Region,
    },
    /// The username is empty, too long or contains spaces or control characters.
    #[error("invalid username: {0}")]
    InvalidUsername(&'static str),
    /// An account with this username exists (in some region).
    #[error("this username is already taken")]
    Duplicate,
    /// The password is too weak.
    #[error("password refused: {0}")]
    WeakPassword(#[from] WeakPassword),
    /// Hashing failed (only with unusable Argon2 parameters).
    #[error("could not hash the password: {0}")]
    Hashing(String),
}

/// Why a login was refused. Unknown usernames and wrong passwords are the same error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// Unknown username or wrong password (deliberately not told apart).
    #[error("wrong username or password")]
    InvalidCredentials,
    /// Too many failures for this username: locked until the given time.
    #[error("too many failed attempts: this account is locked until {until}")]
    Locked {
        /// When attempts are accepted again.
        until: Timestamp,
    },
    /// Too many failures from this address: blocked until the given time.
    #[error("too many failed attempts from your address: try again after {until}")]
    AddressBlocked {
        /// When attempts from the address are accepted again.
        until: Timestamp,
    },
    /// The password was right but a one-time code is needed (enrolled, or the login is
    /// abnormal); send it with the next attempt.
    #[error("enter the code from your authenticator app{}", reasons_suffix(.reasons))]
    SecondFactorRequired {
        /// Why the login was abnormal (empty if the code is needed anyway).
        reasons: Vec<AbnormalReason>,
    },
    /// The one-time code is wrong, expired or already used.
    #[error("the code from your authenticator app is wrong, expired or already used")]
    InvalidSecondFactor,
    /// The login is abnormal and the account has no second factor: refused, and the user
    /// was notified (they can approve it from the notification, or enrol an app).
    #[error("sign-in from an unusual place refused{}: approve it from the notification we sent you", reasons_suffix(.reasons))]
    UnusualLoginRefused {
        /// Why the login was abnormal.
        reasons: Vec<AbnormalReason>,
    },
    /// The account lives in another region; the platform should route the login there.
    #[error("this account lives in {home}, not {here}: the login must be sent to {home}")]
    WrongRegion {
        /// The account's home region.
        home: Region,
        /// This service's region.
        here: Region,
    },
}

fn reasons_suffix(reasons: &[AbnormalReason]) -> String {
    if reasons.is_empty() {
        return String::new();
    }
    let list: Vec<String> = reasons.iter().map(ToString::to_string).collect();
    format!(" (unusual sign-in: {})", list.join("; "))
}

/// Why a session token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// No such session (never issued, logged out, or the account was erased).
    #[error("not signed in")]
    Unknown,
    /// The session expired.
    #[error("session expired: sign in again")]
    Expired,
}

/// An operation named an account this service does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// No account with this id here.
    #[error("no account {0} in this region")]
    UnknownUser(UserId),
    /// No notification with this id on the account, or it is not a refused login.
    #[error("notification {0} is not a sign-in that can be approved")]
    NotApprovable(u64),
}

/// An opaque session token (256 random bits, hex). Never in `Debug`; zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(Zeroizing<String>);

impl SessionToken {
    /// The token text, to hand to the client and nowhere else (never log it).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

/// A signed-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The bearer token.
    pub token: SessionToken,
    /// Whose session it is.
    pub user_id: UserId,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// Where a login comes from, as the platform's edge sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoginSource {
    /// Source IP address.
    pub address: IpAddr,
    /// Region the address is in (geo-IP).
    pub region: Region,
    /// Place the address is at (geo-IP).
    pub location: GeoPoint,
}

/// One login attempt. `Debug` hides the password and the code.
#[derive(Clone, Copy)]
pub struct LoginAttempt<'a> {
    /// Username (email or handle); compared case-insensitively.
    pub username: &'a str,
    /// Password.
    pub password: &'a str,
    /// One-time code from an authenticator app, if the user gave one.
    pub totp: Option<&'a str>,
    /// Where the attempt comes from.
    pub source: LoginSource,
}

impl<'a> LoginAttempt<'a> {
    /// An attempt from `source`.
    pub fn new(
        username: &'a str,
        password: &'a str,
        totp: Option<&'a str>,
        source: LoginSource,
    ) -> Self {
        LoginAttempt {
            username,
            password,
            totp,
            source,
        }
    }
}

impl fmt::Debug for LoginAttempt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginAttempt")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("totp", &self.totp.map(|_| "<redacted>"))
            .field("source", &self.source)
            .finish()
    }
}

/// What a registration produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The new account's id.
    pub user_id: UserId,
    /// The routing entry every other region must learn (`Accounts::learn_directory`),
    /// so logins arriving there are sent home and the username stays unique.
    pub directory: DirectoryEntry,
}

/// A username's home region, keyed by a digest of the username (the only account data
/// replicated outside the home region).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryEntry {
    /// SHA-256 of the normalised username (domain-separated), hex.
    pub username_digest: String,
    /// The home region.
    pub home: Region,
}

/// What the service counted (for the simulator's reports).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountsStats {
    /// Login attempts received.
    pub attempts: u64,
    /// Password hashes computed for logins (dummy hashes for unknown users included).
    pub password_checks: u64,
    /// Sessions issued.
    pub logins: u64,
    /// Attempts refused because the account was locked.
    pub refused_locked: u64,
    /// Attempts refused because the address was blocked.
    pub refused_address: u64,
    /// Attempts refused for a wrong username or password.
    pub refused_credentials: u64,
    /// Abnormal logins detected (password right, place unusual).
    pub abnormal: u64,
}

#[derive(Debug, Clone, Default)]
struct KnownPlaces {
    addresses: VecDeque<IpAddr>,
    regions: BTreeSet<Region>,
    last_login: Option<(Timestamp, GeoPoint)>,
}

#[derive(Debug)]
struct Account {
    user_id: UserId,
    username: String,
    digest: String,
    created_at: Timestamp,
    password: PasswordHashString,
    totp: Option<(Totp, Timestamp)>,
    pending_totp: Option<Totp>,
    known: KnownPlaces,
    history: VecDeque<(u64, LoginRecord)>,
    next_login_seq: u64,
    notifications: VecDeque<Notification>,
    next_notification_id: u64,
}

#[derive(Debug, Clone)]
struct SessionRecord {
    user_id: UserId,
    created_at: Timestamp,
    expires_at: Timestamp,
    address: IpAddr,
}

/// One region's accounts service.
///
/// Call [`register`](Accounts::register), then [`login`](Accounts::login) per attempt;
/// [`authenticate`](Accounts::authenticate) checks a session token. Drain
/// [`poll_notification`](Accounts::poll_notification) after each call to deliver what
/// users must be told. Every method takes `now`; those that draw randomness take the
/// caller's RNG. All state is in ordered maps, so the same inputs give the same state.
pub struct Accounts {
    region: Region,
    config: AccountsConfig,
    hasher: Argon2<'static>,
    dummy_hash: PasswordHashString,
    accounts: BTreeMap<UserId, Account>,
    by_username: BTreeMap<String, UserId>,
    directory: BTreeMap<String, Region>,
    sessions: BTreeMap<[u8; 32], SessionRecord>,
    account_limiter: FailureLimiter<String>,
    /// Failures of a username from one of its owner's usual addresses: a lock set by
    /// failures elsewhere does not apply there, this one does.
    known_limiter: FailureLimiter<(String, IpAddr)>,
    address_limiter: FailureLimiter<IpAddr>,
    outbox: VecDeque<(UserId, Notification)>,
    stats: AccountsStats,
}

impl fmt::Debug for Accounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accounts")
            .field("region", &self.region)
            .field("accounts", &self.accounts.len())
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

/// Usernames compare trimmed and lowercased.
fn normalize_username(username: &str) -> String {
    username.trim().to_lowercase()
}

fn username_digest(normalized: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"camproof accounts username v1\0");
    h.update(normalized.as_bytes());
    hex::encode(h.finalize())
}

fn token_digest(token: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"camproof accounts session v1\0");
    h.update(token.as_bytes());
    h.finalize().into()
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, limit: usize) {
    queue.push_back(item);
    while queue.len() > limit.max(1) {
        queue.pop_front();
    }
}

impl Accounts {
    /// An empty service for `region`, or an error naming the unusable parameter.
    /// Computes one Argon2 hash (the dummy used for unknown usernames).
    pub fn new(region: Region, config: AccountsConfig) -> Result<Self, ConfigError> {
        for (value, what) in [
            (
                config.account_lockout.max_failures as usize,
                "account_lockout.max_failures",
            ),
            (
                config.address_lockout.max_failures as usize,
                "address_lockout.max_failures",
            ),
            (config.max_tracked_accounts, "max_tracked_accounts"),
            (config.max_tracked_addresses, "max_tracked_addresses"),
            (config.login_history_limit, "login_history_limit"),
            (config.notification_limit, "notification_limit"),
            (config.outbox_limit, "outbox_limit"),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero(what));
            }
        }
        let hasher = config
            .argon2
            .hasher()
            .map_err(|e| ConfigError::Argon2(e.to_string()))?;
        // A fixed salt is fine here: the dummy only equalises the work done for unknown
        // usernames, it protects nothing.
        let salt = argon2::password_hash::SaltString::encode_b64(b"camproof-dummy-salt")
            .map_err(|e| ConfigError::Argon2(e.to_string()))?;
        let dummy = argon2::PasswordHasher::hash_password(&hasher, b"no such user", &salt)
            .map_err(|e| ConfigError::Argon2(e.to_string()))?;
        Ok(Accounts {
            region,
            dummy_hash: PasswordHashString::from_phc(dummy.to_string()),
            hasher,
            account_limiter: FailureLimiter::new(
                config.account_lockout,
                config.max_tracked_accounts,
            ),
            known_limiter: FailureLimiter::new(config.account_lockout, config.max_tracked_accounts),
            address_limiter: FailureLimiter::new(
                config.address_lockout,
                config.max_tracked_addresses,
            ),
            config,
            accounts: BTreeMap::new(),
            by_username: BTreeMap::new(),
            directory: BTreeMap::new(),
            sessions: BTreeMap::new(),
            outbox: VecDeque::new(),
            stats: AccountsStats::default(),
        })
    }

    /// Plants deliberate defects (negative tests only).
    pub fn plant_bugs(&mut self, bugs: AccountsBugs) {
        self.config.bugs = bugs;
    }

    /// This service's region.
    pub fn region(&self) -> Region {
        self.region
    }

    /// The configuration in force.
    pub fn config(&self) -> &AccountsConfig {
        &self.config
    }

    /// What the service counted so far.
    pub fn stats(&self) -> &AccountsStats {
        &self.stats
    }

    /// Number of accounts held here.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether no account is held here.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// The id of the account `username` holds here, if any (for the platform; not a login
    /// path, so it does not need to hide existence).
    pub fn find(&self, username: &str) -> Option<&UserId> {
        self.by_username.get(&normalize_username(username))
    }

    /// Whether the account exists here (it may have been erased).
    pub fn contains(&self, user: &UserId) -> bool {
        self.accounts.contains_key(user)
    }

    /// Creates an account homed here. Refuses another home region (data residency), a
    /// taken username (here or in the directory), and weak passwords (with the reason).
    /// Cost: one zxcvbn estimate and one Argon2 hash.
    pub fn register(
        &mut self,
        username: &str,
        password: &str,
        home: Region,
        now: Timestamp,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Registration, RegistrationError> {
        if home != self.region {
            return Err(RegistrationError::WrongRegion {
                home,
                here: self.region,
            });
        }
        let username = normalize_username(username);
        if username.is_empty() {
            return Err(RegistrationError::InvalidUsername("it is empty"));
        }
        if username.len() > 254 {
            return Err(RegistrationError::InvalidUsername(
                "it is longer than 254 bytes",
            ));
        }
        if username
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(RegistrationError::InvalidUsername(
                "it contains spaces or control characters",
            ));
        }
        let digest = username_digest(&username);
        if self.by_username.contains_key(&username) || self.directory.contains_key(&digest) {
            return Err(RegistrationError::Duplicate);
        }
        let mut inputs: Vec<&str> = vec![username.as_str()];
        inputs.extend(
            username
                .split(['@', '.', '_', '-', '+'])
                .filter(|p| p.len() >= 3),
        );
        self.config.password.check(password, &inputs)?;
        let hash = password::hash_password(&self.hasher, password, rng)
            .map_err(|e| RegistrationError::Hashing(e.to_string()))?;
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let user_id = UserId(hex::encode(id));
        self.by_username.insert(username.clone(), user_id.clone());
        self.directory.insert(digest.clone(), self.region);
        self.accounts.insert(
            user_id.clone(),
            Account {
                user_id: user_id.clone(),
                username,
                digest: digest.clone(),
                created_at: now,
                password: hash,
                totp: None,
                pending_totp: None,
                known: KnownPlaces::default(),
                history: VecDeque::new(),
                next_login_seq: 0,
                notifications: VecDeque::new(),
                next_notification_id: 0,
            },
        );
        Ok(Registration {
            user_id,
            directory: DirectoryEntry {
                username_digest: digest,
                home: self.region,
            },
        })
    }

    /// Learns another region's routing entry (so its users are sent home and their
    /// usernames stay unique).
    pub fn learn_directory(&mut self, entry: &DirectoryEntry) {
        self.directory
            .insert(entry.username_digest.clone(), entry.home);
    }

    /// Forgets the routing entry of an account erased in another region.
    pub fn apply_erasure(&mut self, record: &ErasureRecord) {
        let prefix = directory_key("");
        if let Some(digest) = record.directory_key.strip_prefix(&prefix) {
            self.directory.remove(digest);
            self.account_limiter.clear(&digest.to_owned());
            self.known_limiter.retain(|(d, _)| d != digest);
        }
    }

    /// One login attempt. In order: address blocked? account homed elsewhere? account
    /// locked? password (a dummy hash for unknown usernames, so both cost the same and
    /// fail the same way)? abnormal place? second factor if enrolled or abnormal?
    ///
    /// Failures (wrong password, wrong code, attempts on a locked account) count against
    /// the username and the source address. Abnormal logins that got the password right
    /// notify the user. A success clears the username's failures, remembers the place
    /// and issues a session. Cost: at most one Argon2 hash; none when blocked or locked.
    pub fn login(
        &mut self,
        attempt: &LoginAttempt<'_>,
        now: Timestamp,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Session, LoginError> {
        self.stats.attempts += 1;
        let source = attempt.source;
        if let Err(until) = self.address_limiter.check(&source.address, now) {
            self.stats.refused_address += 1;
            return Err(LoginError::AddressBlocked { until });
        }
        let username = normalize_username(attempt.username);
        let digest = username_digest(&username);
        let user_id = self.by_username.get(&username).cloned();
        if user_id.is_none() {
            if let Some(&home) = self.directory.get(&digest) {
                if home != self.region {
                    return Err(LoginError::WrongRegion {
                        home,
                        here: self.region,
                    });
                }
            }
        }
        // From one of the owner's usual addresses only that address's own failures
        // lock the username: an attacker failing elsewhere cannot lock the owner out.
        let usual = user_id
            .as_ref()
            .and_then(|id| self.accounts.get(id))
            .is_some_and(|a| a.known.addresses.contains(&source.address))
            && !self.config.bugs.lockout_everywhere;
        let locked = if usual {
            self.known_limiter
                .check(&(digest.clone(), source.address), now)
        } else {
            self.account_limiter.check(&digest, now)
        };
        if let Err(until) = locked {
            self.stats.refused_locked += 1;
            self.address_limiter.record_failure(source.address, now);
            self.record_login(user_id.as_ref(), &source, now, LoginOutcome::Locked, &[]);
            return Err(LoginError::Locked { until });
        }

        self.stats.password_checks += 1;
        let password_ok = match user_id.as_ref().and_then(|id| self.accounts.get(id)) {
            Some(account) => {
                password::verify_password(&self.hasher, &account.password, attempt.password)
            }
            None => {
                let _ = password::verify_password(&self.hasher, &self.dummy_hash, attempt.password);
                false
            }
        };
        let user_id = match (user_id, password_ok) {
            (Some(id), true) => id,
            (maybe_id, _) => {
                self.stats.refused_credentials += 1;
                self.fail(&digest, maybe_id.clone(), &source, now);
                self.record_login(
                    maybe_id.as_ref(),
                    &source,
                    now,
                    LoginOutcome::WrongPassword,
                    &[],
                );
                return Err(LoginError::InvalidCredentials);
            }
        };

        let policy = self.config.abnormal;
        let Some(account) = self.accounts.get_mut(&user_id) else {
            return Err(LoginError::InvalidCredentials);
        };
        let reasons = if self.config.bugs.unusual_login_accepted {
            Vec::new()
        } else {
            assess(&account.known, &source, now, &policy)
        };
        if !reasons.is_empty() {
            self.stats.abnormal += 1;
        }
        if account.totp.is_some() || !reasons.is_empty() {
            let outcome = match (&mut account.totp, attempt.totp) {
                (None, _) => Err((
                    LoginOutcome::RefusedNoSecondFactor,
                    LoginError::UnusualLoginRefused {
                        reasons: reasons.clone(),
                    },
                )),
                (Some(_), None) => Err((
                    LoginOutcome::SecondFactorRequired,
                    LoginError::SecondFactorRequired {
                        reasons: reasons.clone(),
                    },
                )),
                (Some((totp, _)), Some(code)) => match totp.verify(code, now) {
                    Ok(()) => Ok(()),
                    Err(_) => Err((
                        LoginOutcome::WrongSecondFactor,
                        LoginError::InvalidSecondFactor,
                    )),
                },
            };
            let recorded = match &outcome {
                Ok(()) => LoginOutcome::Success,
                Err((o, _)) => *o,
            };
            if !reasons.is_empty() {
                self.notify(
                    &user_id,
                    now,
                    NotificationKind::AbnormalLogin {
                        address: source.address,
                        region: source.region,
                        location: source.location,
                        reasons: reasons.clone(),
                        outcome: recorded,
                    },
                );
            }
            if let Err((o, err)) = outcome {
                if o == LoginOutcome::WrongSecondFactor {
                    self.fail(&digest, Some(user_id.clone()), &source, now);
                }
                self.record_login(Some(&user_id), &source, now, o, &reasons);
                return Err(err);
            }
        }

        // Success. A lock set by failures elsewhere stays until it expires: the owner
        // signing in at home does not give an attacker fresh attempts.
        self.known_limiter.clear(&(digest.clone(), source.address));
        if self.account_limiter.check(&digest, now).is_ok() {
            self.account_limiter.clear(&digest);
        }
        if let Some(account) = self.accounts.get_mut(&user_id) {
            let known = &mut account.known;
            known.addresses.retain(|a| *a != source.address);
            push_bounded(&mut known.addresses, source.address, policy.known_addresses);
            known.regions.insert(source.region);
            known.last_login = Some((now, source.location));
        }
        self.record_login(
            Some(&user_id),
            &source,
            now,
            LoginOutcome::Success,
            &reasons,
        );
        self.stats.logins += 1;
        Ok(self.issue_session(user_id, source.address, now, rng))
    }

    /// The account behind a session token, if the session is valid at `now`. An expired
    /// session is removed.
    pub fn authenticate(&mut self, token: &str, now: Timestamp) -> Result<UserId, SessionError> {
        let key = token_digest(token);
        let record = self.sessions.get(&key).ok_or(SessionError::Unknown)?;
        if record.expires_at <= now {
            self.sessions.remove(&key);
            return Err(SessionError::Expired);
        }
        Ok(record.user_id.clone())
    }

    /// Ends a session; `true` if it existed.
    pub fn logout(&mut self, token: &str) -> bool {
        self.sessions.remove(&token_digest(token)).is_some()
    }

    /// Removes every session expired at `now`; returns how many.
    pub fn expire_sessions(&mut self, now: Timestamp) -> usize {
        let before = self.sessions.len();
        self.sessions.retain(|_, s| s.expires_at > now);
        before - self.sessions.len()
    }

    /// Starts enrolling an authenticator app: a fresh secret from `rng`, returned as
    /// base32 and as an `otpauth://` URI. It takes effect after
    /// [`confirm_totp`](Accounts::confirm_totp) with a code from the app, so a user who
    /// mistyped the secret is not locked out.
    pub fn begin_totp_enrolment(
        &mut self,
        user: &UserId,
        rng: &mut impl CryptoRngCore,
    ) -> Result<TotpEnrolment, TotpError> {
        let issuer = self.config.totp_issuer.clone();
        let account = self.accounts.get_mut(user).ok_or(TotpError::NotEnrolled)?;
        if account.totp.is_some() {
            return Err(TotpError::AlreadyEnrolled);
        }
        let totp = Totp::generate(rng);
        let enrolment = TotpEnrolment::new(&totp, &issuer, &account.username);
        account.pending_totp = Some(totp);
        Ok(enrolment)
    }

    /// Completes enrolment with a code from the app; from now on every login needs a
    /// code. The user is notified.
    pub fn confirm_totp(
        &mut self,
        user: &UserId,
        code: &str,
        now: Timestamp,
    ) -> Result<(), TotpError> {
        let account = self.accounts.get_mut(user).ok_or(TotpError::NotEnrolled)?;
        let mut totp = account
            .pending_totp
            .take()
            .ok_or(TotpError::NoPendingEnrolment)?;
        if let Err(e) = totp.verify(code, now) {
            account.pending_totp = Some(totp);
            return Err(e);
        }
        account.totp = Some((totp, now));
        self.notify(user, now, NotificationKind::SecondFactorEnrolled);
        Ok(())
    }

    /// Whether the account has an authenticator enrolled.
    pub fn totp_enrolled(&self, user: &UserId) -> bool {
        self.accounts.get(user).is_some_and(|a| a.totp.is_some())
    }

    /// The user approves a refused unusual sign-in from its notification ("this was
    /// me"): its address and region become known, so the next attempt from there passes
    /// without a second factor (impossible travel is still checked).
    pub fn approve_login(
        &mut self,
        user: &UserId,
        notification_id: u64,
    ) -> Result<(), AccountError> {
        let known_limit = self.config.abnormal.known_addresses;
        let account = self
            .accounts
            .get_mut(user)
            .ok_or_else(|| AccountError::UnknownUser(user.clone()))?;
        let Some(Notification {
            kind:
                NotificationKind::AbnormalLogin {
                    address, region, ..
                },
            ..
        }) = account
            .notifications
            .iter()
            .find(|n| n.id == notification_id)
            .cloned()
        else {
            return Err(AccountError::NotApprovable(notification_id));
        };
        account.known.addresses.retain(|a| *a != address);
        push_bounded(&mut account.known.addresses, address, known_limit);
        account.known.regions.insert(region);
        Ok(())
    }

    /// The notifications kept on an account (most recent last).
    pub fn notifications(&self, user: &UserId) -> Result<Vec<Notification>, AccountError> {
        self.accounts
            .get(user)
            .map(|a| a.notifications.iter().cloned().collect())
            .ok_or_else(|| AccountError::UnknownUser(user.clone()))
    }

    /// The next notification to deliver (email, push), oldest first.
    pub fn poll_notification(&mut self) -> Option<(UserId, Notification)> {
        self.outbox.pop_front()
    }

    /// Everything held about the user (see [`AccountExport`] for what is left out and
    /// why).
    pub fn export_account(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<AccountExport, AccountError> {
        let a = self
            .accounts
            .get(user)
            .ok_or_else(|| AccountError::UnknownUser(user.clone()))?;
        Ok(AccountExport {
            user_id: a.user_id.clone(),
            username: a.username.clone(),
            home_region: self.region,
            created_at: a.created_at,
            exported_at: now,
            password_set: true,
            totp_enrolled: a.totp.is_some(),
            totp_enrolled_at: a.totp.as_ref().map(|(_, at)| *at),
            known_addresses: a.known.addresses.iter().copied().collect(),
            known_regions: a.known.regions.iter().copied().collect(),
            login_history: a.history.iter().map(|(_, r)| r.clone()).collect(),
            notifications: a.notifications.iter().cloned().collect(),
            active_sessions: self
                .sessions
                .values()
                .filter(|s| s.user_id == *user && s.expires_at > now)
                .map(|s| SessionSummary {
                    created_at: s.created_at,
                    expires_at: s.expires_at,
                    address: s.address,
                })
                .collect(),
        })
    }

    /// Erases the account and everything about it held here: profile, password hash,
    /// TOTP secret, sessions, login history, notifications (queued ones too), failure
    /// counts and the directory entry. The returned record is what the replicated store
    /// applies on every replica ([`ErasureRecord::apply`]) and then proves
    /// ([`ErasureRecord::verify`]); other regions drop the directory entry with
    /// [`apply_erasure`](Accounts::apply_erasure).
    pub fn delete_account(
        &mut self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<ErasureRecord, AccountError> {
        let keys_erased = self.user_records(user)?.len() + 1;
        let account = self
            .accounts
            .remove(user)
            .ok_or_else(|| AccountError::UnknownUser(user.clone()))?;
        self.by_username.remove(&account.username);
        self.directory.remove(&account.digest);
        self.account_limiter.clear(&account.digest);
        self.known_limiter.retain(|(d, _)| *d != account.digest);
        let before = self.sessions.len();
        self.sessions.retain(|_, s| s.user_id != *user);
        let sessions_revoked = before - self.sessions.len();
        self.outbox.retain(|(id, _)| id != user);
        Ok(ErasureRecord {
            user_id: user.clone(),
            key_prefix: user_key_prefix(user),
            directory_key: directory_key(&account.digest),
            erased_at: now,
            keys_erased,
            sessions_revoked,
        })
    }

    /// This region's whole state as store records (see [`records`] for the key layout):
    /// every account's keys plus the directory.
    pub fn records(&self) -> Keyspace {
        let mut out = Keyspace::new();
        for id in self.accounts.keys() {
            if let Ok(r) = self.user_records(id) {
                out.extend(r);
            }
        }
        for (digest, home) in &self.directory {
            out.insert(directory_key(digest), json(home));
        }
        out
    }

    /// One account's records (everything under its prefix).
    pub fn user_records(&self, user: &UserId) -> Result<Keyspace, AccountError> {
        let a = self
            .accounts
            .get(user)
            .ok_or_else(|| AccountError::UnknownUser(user.clone()))?;
        let p = user_key_prefix(user);
        let mut out = Keyspace::new();
        out.insert(
            format!("{p}profile"),
            json(&ProfileRecord {
                username: &a.username,
                home_region: self.region,
                created_at: a.created_at,
            }),
        );
        out.insert(
            format!("{p}password"),
            a.password.as_phc().as_bytes().to_vec(),
        );
        if let Some((totp, at)) = &a.totp {
            out.insert(
                format!("{p}totp"),
                json(&TotpRecord {
                    secret_base32: totp.secret_base32().as_str(),
                    last_accepted_step: totp.last_accepted_step(),
                    enrolled_at: *at,
                }),
            );
        }
        out.insert(
            format!("{p}known"),
            json(&KnownRecord {
                addresses: a.known.addresses.iter().copied().collect(),
                regions: a.known.regions.iter().copied().collect(),
                last_login_at: a.known.last_login.map(|(t, _)| t.as_micros()),
                last_login_location: a.known.last_login.map(|(_, l)| l),
            }),
        );
        for (digest, s) in self.sessions.iter().filter(|(_, s)| s.user_id == *user) {
            out.insert(
                format!("{p}session/{}", hex::encode(digest)),
                json(&SessionSummary {
                    created_at: s.created_at,
                    expires_at: s.expires_at,
                    address: s.address,
                }),
            );
        }
        for (seq, r) in &a.history {
            out.insert(format!("{p}login/{seq:016x}"), json(r));
        }
        for n in &a.notifications {
            out.insert(format!("{p}notification/{:016x}", n.id), json(n));
        }
        Ok(out)
    }

    fn issue_session(
        &mut self,
        user_id: UserId,
        address: IpAddr,
        now: Timestamp,
        rng: &mut impl CryptoRngCore,
    ) -> Session {
        let mut raw = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(raw.as_mut());
        let token = SessionToken(Zeroizing::new(hex::encode(raw.as_ref())));
        let expires_at = now.saturating_add(self.config.session_ttl);
        self.sessions.insert(
            token_digest(token.expose()),
            SessionRecord {
                user_id: user_id.clone(),
                created_at: now,
                expires_at,
                address,
            },
        );
        Session {
            token,
            user_id,
            expires_at,
        }
    }

    /// Counts a failure against the username and the address; notifies the owner (if the
    /// account exists) when it just became locked.
    fn fail(&mut self, digest: &str, user: Option<UserId>, source: &LoginSource, now: Timestamp) {
        self.address_limiter.record_failure(source.address, now);
        self.known_limiter
            .record_failure((digest.to_owned(), source.address), now);
        let was_locked = self.account_limiter.check(&digest.to_owned(), now).is_err();
        if let Some(until) = self.account_limiter.record_failure(digest.to_owned(), now) {
            if let (false, Some(user)) = (was_locked, user) {
                self.notify(
                    &user,
                    now,
                    NotificationKind::AccountLocked {
                        address: source.address,
                        until,
                    },
                );
            }
        }
    }

    fn notify(&mut self, user: &UserId, now: Timestamp, kind: NotificationKind) {
        let limit = self.config.notification_limit;
        let Some(account) = self.accounts.get_mut(user) else {
            return;
        };
        let n = Notification {
            id: account.next_notification_id,
            at: now,
            kind,
        };
        account.next_notification_id += 1;
        push_bounded(&mut account.notifications, n.clone(), limit);
        push_bounded(
            &mut self.outbox,
            (user.clone(), n),
            self.config.outbox_limit,
        );
    }

    fn record_login(
        &mut self,
        user: Option<&UserId>,
        source: &LoginSource,
        now: Timestamp,
        outcome: LoginOutcome,
        reasons: &[AbnormalReason],
    ) {
        let limit = self.config.login_history_limit;
        let Some(account) = user.and_then(|u| self.accounts.get_mut(u)) else {
            return;
        };
        let seq = account.next_login_seq;
        account.next_login_seq += 1;
        let record = LoginRecord {
            at: now,
            address: source.address,
            region: source.region,
            location: source.location,
            outcome,
            abnormal: reasons.to_vec(),
        };
        push_bounded(&mut account.history, (seq, record), limit);
    }
}

/// Why this login is abnormal for a user who logged in from `known` before. The first
/// login of an account has nothing to compare with and is not abnormal.
fn assess(
    known: &KnownPlaces,
    source: &LoginSource,
    now: Timestamp,
    policy: &AbnormalPolicy,
) -> Vec<AbnormalReason> {
    let Some((last_at, last_place)) = known.last_login else {
        return Vec::new();
    };
    let mut reasons = Vec::new();
    if policy.new_region && !known.regions.contains(&source.region) {
        reasons.push(AbnormalReason::NewRegion {
            region: source.region,
        });
    }
    if policy.new_address && !known.addresses.contains(&source.address) {
        reasons.push(AbnormalReason::NewAddress {
            address: source.address,
        });
    }
    let distance_km = last_place.distance_km(&source.location);
    if distance_km > policy.travel_noise_km {
        let elapsed = now.saturating_since(last_at);
        // At least one second, so simultaneous logins far apart are infinitely fast.
        let hours = elapsed.as_secs_f64().max(1.0) / 3600.0;
        let speed_kmh = distance_km / hours;
        if speed_kmh > policy.max_travel_kmh {
            reasons.push(AbnormalReason::ImpossibleTravel {
                distance_km,
                elapsed_secs: elapsed.as_secs(),
                speed_kmh,
            });
        }
    }
    reasons
}

fn json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|e| unreachable!("plain data always serialises: {e}"))
}

#[derive(Serialize, Deserialize)]
struct ProfileRecord<'a> {
    username: &'a str,
    home_region: Region,
    #[serde(with = "ts_micros")]
    created_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct TotpRecord<'a> {
    secret_base32: &'a str,
    last_accepted_step: Option<u64>,
    #[serde(with = "ts_micros")]
    enrolled_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct KnownRecord {
    addresses: Vec<IpAddr>,
    regions: Vec<Region>,
    last_login_at: Option<u64>,
    last_login_location: Option<GeoPoint>,
}

#[cfg(test)]
mod tests;
