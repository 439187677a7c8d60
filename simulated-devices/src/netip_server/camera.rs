//! Camera-wide state shared by every NETIP connection of one camera.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::Duration;

use camproof_protocol::netip::{
    sofia_hash, sofia_hash_matches, FileInfo, HexU32, LogEntry, NetipTime, Ret, SessionId,
    SystemInfo, DEFAULT_ALIVE_INTERVAL,
};
use camproof_protocol::ota::{DeviceFirmware, FirmwareVersion};
use camproof_protocol::Timestamp;
use rsa::RsaPublicKey;
use serde_json::{json, Value};

use super::event::NetipEvent;
use super::upgrade::UpgradeFlaws;
use super::NetipServerError;

/// Consecutive failed logins after which an account is locked (reference profile).
pub const DEFAULT_LOCKOUT_THRESHOLD: u32 = 5;

/// How long a locked account stays locked (reference profile).
pub const DEFAULT_LOCKOUT_PERIOD: Duration = Duration::from_secs(300);

/// Largest firmware upload accepted, framing included (16 MiB).
pub const DEFAULT_MAX_UPGRADE_SIZE: u64 = 16 * 1024 * 1024;

/// Log entries a camera keeps; older ones are dropped.
const LOG_CAPACITY: usize = 1024;

/// Server events a camera keeps for [`NetipCamera::take_events`]; older ones are dropped.
const EVENT_CAPACITY: usize = 4096;

/// The Sofia hash of the empty password, compared against for unknown users (so they
/// cost what a known user costs).
const EMPTY_PASSWORD_HASH: &str = "tlJwpbo6";

/// The hidden account of CVE-2018-17919.
const HIDDEN_USER: &str = "default";
const HIDDEN_PASSWORD: &str = "tluafed";

/// A password as the camera stores it: its 8-character Sofia hash, never the password.
///
/// `Debug` prints no part of it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredPassword(String);

impl StoredPassword {
    /// The stored form of `password`.
    pub fn from_password(password: &str) -> Self {
        StoredPassword(sofia_hash(password))
    }

    /// A stored form taken as is (a Sofia hash read from a configuration file).
    pub fn from_hash(hash: impl Into<String>) -> Self {
        StoredPassword(hash.into())
    }

    /// Whether `received` (the `PassWord` of a login) matches, compared in constant time.
    pub fn matches(&self, received: &str) -> bool {
        sofia_hash_matches(received, &self.0)
    }

    /// Whether `password`, received in clear, is the stored one: its Sofia hash is
    /// compared with the stored hash in constant time.
    pub fn matches_plaintext(&self, password: &str) -> bool {
        sofia_hash_matches(&sofia_hash(password), &self.0)
    }

    /// Whether this is the hash of the empty password.
    pub fn is_empty_password(&self) -> bool {
        self.matches(&sofia_hash(""))
    }
}

impl StoredPassword {
    /// Whether `received`, sent in `form`, matches. A refused form never matches, after
    /// the same constant-time comparison as a hash.
    fn check(&self, form: PasswordForm, received: &str) -> bool {
        match form {
            PasswordForm::SofiaHash => self.matches(received),
            PasswordForm::Plaintext => self.matches_plaintext(received),
            PasswordForm::Refused => {
                let _ = self.matches(received);
                false
            }
        }
    }
}

/// How a login's `PassWord` is to be read, from its `EncryptType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PasswordForm {
    /// `MD5`: the 8-character Sofia hash (the only form of the reference firmware).
    SofiaHash,
    /// `NONE`: the password in clear (only with the `accept_plaintext_password` flaw).
    Plaintext,
    /// Anything else: refused like a wrong password.
    Refused,
}

impl PasswordForm {
    fn of(encrypt_type: &str, flaws: NetipFlaws) -> Self {
        match encrypt_type {
            "MD5" => PasswordForm::SofiaHash,
            "NONE" if flaws.accept_plaintext_password => PasswordForm::Plaintext,
            _ => PasswordForm::Refused,
        }
    }
}

impl fmt::Debug for StoredPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoredPassword(<redacted>)")
    }
}

/// Behaviours of known-vulnerable firmware, for certification negative tests.
///
/// All `false` in the reference profile; each one makes the server observably weaker
/// in exactly one way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetipFlaws {
    /// `admin` has the empty password, whatever the configuration says (SEC Consult 2018).
    pub empty_admin_password: bool,
    /// A hidden account `default` / `tluafed` exists (CVE-2018-17919).
    pub hidden_default_account: bool,
    /// Commands are executed before login, with session 0, or with another session's
    /// id (CVE-2024-3765).
    pub commands_before_login: bool,
    /// Firmware uploaded through 1520/1522 is installed without any verification.
    pub accept_unsigned_upgrade: bool,
    /// Failed logins never lock an account.
    pub no_lockout: bool,
    /// A correctly signed image older than the installed one, or below the rollback
    /// floor, is installed.
    pub accept_downgrade: bool,
    /// A config get of `System.ExUserMap` answers every account with its password hash,
    /// which NETIP accepts in place of the password (a credential on the wire).
    pub secrets_in_config: bool,
    /// Firmware is written over the running slot: an upload cut off mid-image leaves a
    /// half-written image that boots as version 0.0.0.
    pub single_slot_flash: bool,
    /// A login with `EncryptType` `NONE` and the password in clear is accepted.
    pub accept_plaintext_password: bool,
}

impl NetipFlaws {
    /// The firmware-upgrade flaws among these.
    pub(crate) fn upgrade(&self) -> UpgradeFlaws {
        UpgradeFlaws {
            accept_unsigned_upgrade: self.accept_unsigned_upgrade,
            accept_downgrade: self.accept_downgrade,
        }
    }

    /// The reference profile: no flaw.
    pub const fn none() -> Self {
        NetipFlaws {
            empty_admin_password: false,
            hidden_default_account: false,
            commands_before_login: false,
            accept_unsigned_upgrade: false,
            no_lockout: false,
            accept_downgrade: false,
            secrets_in_config: false,
            single_slot_flash: false,
            accept_plaintext_password: false,
        }
    }

    /// Every flaw at once (a worst-case device).
    pub const fn all() -> Self {
        NetipFlaws {
            empty_admin_password: true,
            hidden_default_account: true,
            commands_before_login: true,
            accept_unsigned_upgrade: true,
            no_lockout: true,
            accept_downgrade: true,
            secrets_in_config: true,
            single_slot_flash: true,
            accept_plaintext_password: true,
        }
    }
}

/// The synthetic live stream a camera sends after a monitor start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSettings {
    /// Frames per second (at least 1).
    pub fps: u8,
    /// Frames per group of pictures: one I-frame, then `gop - 1` P-frames.
    pub gop: u32,
    /// Bytes of each I-frame's data.
    pub i_frame_bytes: usize,
    /// Bytes of each P-frame's data.
    pub p_frame_bytes: usize,
    /// Picture width in pixels (a multiple of 8, at most 2040).
    pub width: u16,
    /// Picture height in pixels (a multiple of 8, at most 2040).
    pub height: u16,
}

impl Default for MediaSettings {
    /// 15 fps 1080p H.264, an I-frame every 2 s, about 300 kbit/s.
    fn default() -> Self {
        MediaSettings {
            fps: 15,
            gop: 30,
            i_frame_bytes: 12 * 1024,
            p_frame_bytes: 2 * 1024,
            width: 1920,
            height: 1080,
        }
    }
}

/// Everything that makes one simulated NETIP camera what it is.
#[derive(Debug, Clone)]
pub struct NetipCameraConfig {
    /// Serial number (`SerialNo`).
    pub serial_no: String,
    /// Hardware name (`HardWare`).
    pub hardware: String,
    /// Hardware revision (`HardWareVersion`).
    pub hardware_version: String,
    /// When the installed firmware was built (`BuildTime`).
    pub build_time: NetipTime,
    /// Model, installed version and rollback floor; the model is compared with upgrade
    /// manifests.
    pub firmware: DeviceFirmware,
    /// The `admin` account's password, stored as its hash.
    pub admin_password: StoredPassword,
    /// Further accounts, name and stored password.
    pub extra_users: Vec<(String, StoredPassword)>,
    /// Keepalive interval announced at login, in seconds; a connection silent for three
    /// intervals is closed.
    pub alive_interval: u32,
    /// Consecutive failed logins that lock an account.
    pub lockout_threshold: u32,
    /// How long a locked account stays locked.
    pub lockout_period: Duration,
    /// Largest firmware upload, framing included.
    pub max_upgrade_size: u64,
    /// Concurrent connections the driver accepts; more are closed at once.
    pub max_connections: usize,
    /// The vendor's firmware-signing key; without it every upgrade is refused (unless
    /// the `accept_unsigned_upgrade` flaw is on).
    pub vendor_key: Option<RsaPublicKey>,
    /// Recorded files answered to file searches.
    pub recordings: Vec<FileInfo>,
    /// The synthetic live stream.
    pub media: MediaSettings,
    /// Vulnerable behaviours; [`NetipFlaws::none`] for the reference firmware.
    pub flaws: NetipFlaws,
}

impl NetipCameraConfig {
    /// The reference profile: serial `serial_no`, `admin` with `admin_password` (must
    /// not be empty), firmware 1.0.0 of model `CAMPROOF-IPC`, no vendor key yet.
    pub fn reference(serial_no: &str, admin_password: &str) -> Self {
        let v = |major, minor, patch| FirmwareVersion::new(major, minor, patch);
        NetipCameraConfig {
            serial_no: serial_no.to_owned(),
            hardware: "CAMPROOF-IPC".to_owned(),
            hardware_version: "1.00".to_owned(),
            build_time: NetipTime::new(2024, 1, 15, 10, 0, 0).unwrap_or(NetipTime::NONE),
            firmware: DeviceFirmware::new("CAMPROOF-IPC", v(1, 0, 0), v(1, 0, 0)),
            admin_password: StoredPassword::from_password(admin_password),
            extra_users: Vec::new(),
            alive_interval: DEFAULT_ALIVE_INTERVAL,
            lockout_threshold: DEFAULT_LOCKOUT_THRESHOLD,
            lockout_period: DEFAULT_LOCKOUT_PERIOD,
            max_upgrade_size: DEFAULT_MAX_UPGRADE_SIZE,
            max_connections: 16,
            vendor_key: None,
            recordings: Vec::new(),
            media: MediaSettings::default(),
            flaws: NetipFlaws::none(),
        }
    }
}

/// One account and its failed-login state.
#[derive(Debug, Clone)]
struct Account {
    password: StoredPassword,
    failures: u32,
    locked_until: Option<Timestamp>,
}

impl Account {
    fn new(password: StoredPassword) -> Self {
        Account {
            password,
            failures: 0,
            locked_until: None,
        }
    }
}

/// A logged-in session, known camera-wide so a second connection can claim its media.
#[derive(Debug, Clone)]
pub(crate) struct ActiveSession {
    /// The account that logged in.
    pub(crate) user: String,
    /// The connection that logged in.
    pub(crate) control: u64,
    /// Whether live media is started (1410 or 1413 `Start`).
    pub(crate) monitor_on: bool,
    /// The connection that claimed the media (1413), if any.
    pub(crate) media: Option<u64>,
}

/// The state one simulated camera shares between its NETIP connections.
///
/// Build it with [`NetipCamera::new`], wrap it in `Rc<RefCell<_>>` and hand it to each
/// [`super::NetipSession`] (everything runs on one thread). Passwords are kept only as
/// Sofia hashes and never printed.
#[derive(Debug)]
pub struct NetipCamera {
    pub(crate) config: NetipCameraConfig,
    accounts: BTreeMap<String, Account>,
    pub(crate) sessions: BTreeMap<u32, ActiveSession>,
    next_session: u32,
    next_connection: u64,
    pub(crate) open_connections: usize,
    boot: Timestamp,
    /// Camera time minus `now`, in microseconds.
    time_offset_us: i64,
    log: VecDeque<LogEntry>,
    next_log_position: u32,
    pub(crate) settings: BTreeMap<String, Value>,
    pub(crate) firmware: DeviceFirmware,
    last_upgrade: NetipTime,
    pub(crate) upgrade_owner: Option<u64>,
    reboots: u32,
    events: VecDeque<(u64, NetipEvent)>,
}

impl NetipCamera {
    /// A camera booted at `now` with `config`.
    ///
    /// Refuses an empty `admin` password unless the `empty_admin_password` flaw is on:
    /// the reference firmware has no empty default password.
    pub fn new(config: NetipCameraConfig, now: Timestamp) -> Result<Self, NetipServerError> {
        let flaws = config.flaws;
        let admin = if flaws.empty_admin_password {
            StoredPassword::from_password("")
        } else if config.admin_password.is_empty_password() {
            return Err(NetipServerError::Config(
                "the admin password is empty; the reference firmware requires one".to_owned(),
            ));
        } else {
            config.admin_password.clone()
        };
        let mut accounts = BTreeMap::new();
        accounts.insert("admin".to_owned(), Account::new(admin));
        for (name, password) in &config.extra_users {
            if name.is_empty() || accounts.contains_key(name) {
                return Err(NetipServerError::Config(format!(
                    "account name {name:?} is empty or given twice"
                )));
            }
            accounts.insert(name.clone(), Account::new(password.clone()));
        }
        if flaws.hidden_default_account {
            accounts.insert(
                HIDDEN_USER.to_owned(),
                Account::new(StoredPassword::from_password(HIDDEN_PASSWORD)),
            );
        }
        if config.media.fps == 0 || config.media.gop == 0 {
            return Err(NetipServerError::Config(
                "media fps and gop must be at least 1".to_owned(),
            ));
        }
        let mut settings = BTreeMap::new();
        settings.insert("NetWork.NetCommon".to_owned(), net_common(&config));
        let firmware = config.firmware.clone();
        Ok(NetipCamera {
            config,
            accounts,
            sessions: BTreeMap::new(),
            next_session: 1,
            next_connection: 1,
            open_connections: 0,
            boot: now,
            time_offset_us: 0,
            log: VecDeque::new(),
            next_log_position: 0,
            settings,
            firmware,
            last_upgrade: NetipTime::NONE,
            upgrade_owner: None,
            reboots: 0,
            events: VecDeque::new(),
        })
    }

    /// The `System.ExUserMap` section a camera with the `secrets_in_config` flaw
    /// answers: every account with its password hash. Built on request, never stored,
    /// so no `Debug` output carries it.
    pub(crate) fn leaked_user_map(&self) -> Value {
        let users: Vec<Value> = self
            .accounts
            .iter()
            .map(|(name, a)| json!({"Name": name, "Password": a.password.0}))
            .collect();
        json!({ "User": users })
    }

    /// The configuration the camera was built from.
    pub fn config(&self) -> &NetipCameraConfig {
        &self.config
    }

    /// The installed firmware: model, version and rollback floor.
    pub fn firmware(&self) -> &DeviceFirmware {
        &self.firmware
    }

    /// Reboots requested through `OPMachine`.
    pub fn reboots(&self) -> u32 {
        self.reboots
    }

    /// The camera's own clock at `now` (the host time plus the offset set by
    /// `OPTimeSetting`).
    pub fn camera_time(&self, now: Timestamp) -> Timestamp {
        let us = i128::from(now.as_micros()) + i128::from(self.time_offset_us);
        Timestamp::from_micros(u64::try_from(us.max(0)).unwrap_or(u64::MAX))
    }

    /// The log the camera keeps (logins, failures, logouts, reboots, time and upgrades).
    pub fn log(&self) -> impl Iterator<Item = &LogEntry> {
        self.log.iter()
    }

    /// Number of logged-in sessions.
    pub fn active_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Connections currently open.
    pub fn open_connections(&self) -> usize {
        self.open_connections
    }

    /// Server events recorded by the driver, with the connection number, oldest first.
    pub fn take_events(&mut self) -> Vec<(u64, NetipEvent)> {
        self.events.drain(..).collect()
    }

    /// Records an event seen by a driver (bounded; the oldest are dropped).
    pub fn record_event(&mut self, connection: u64, event: NetipEvent) {
        if self.events.len() >= EVENT_CAPACITY {
            self.events.pop_front();
        }
        self.events.push_back((connection, event));
    }

    pub(crate) fn open_connection(&mut self) -> u64 {
        let id = self.next_connection;
        self.next_connection = self.next_connection.wrapping_add(1);
        self.open_connections = self.open_connections.saturating_add(1);
        id
    }

    pub(crate) fn close_connection(&mut self, connection: u64) {
        self.open_connections = self.open_connections.saturating_sub(1);
        self.sessions.retain(|_, s| s.control != connection);
        for s in self.sessions.values_mut() {
            if s.media == Some(connection) {
                s.media = None;
            }
        }
        if self.upgrade_owner == Some(connection) {
            self.upgrade_owner = None;
        }
    }

    /// Checks a login and opens a session for `connection`, or says why not.
    ///
    /// `encrypt_type` is the request's `EncryptType` and `password` its `PassWord`: the
    /// Sofia hash with `MD5`; the password in clear with `NONE`, accepted only with the
    /// `accept_plaintext_password` flaw. Any other form is refused like a wrong password
    /// (and counts as a failure). Unknown users get the same answer as a wrong password
    /// (no enumeration), after the same constant-time comparison.
    pub(crate) fn login(
        &mut self,
        user: &str,
        encrypt_type: &str,
        password: &str,
        connection: u64,
        now: Timestamp,
    ) -> Result<SessionId, Ret> {
        let lockout = (!self.config.flaws.no_lockout).then_some(self.config.lockout_threshold);
        let period = self.config.lockout_period;
        let form = PasswordForm::of(encrypt_type, self.config.flaws);
        let Some(account) = self.accounts.get_mut(user) else {
            let _ = StoredPassword::from_hash(EMPTY_PASSWORD_HASH).check(form, password);
            self.push_log(now, "LogInFailed", user, "unknown user");
            return Err(Ret::WrongPassword);
        };
        if let Some(until) = account.locked_until {
            if now < until && lockout.is_some() {
                self.push_log(now, "LogInFailed", user, "account locked");
                return Err(Ret::Locked);
            }
            account.locked_until = None;
            account.failures = 0;
        }
        if !account.password.check(form, password) {
            account.failures = account.failures.saturating_add(1);
            if let Some(threshold) = lockout {
                if account.failures >= threshold.max(1) {
                    account.locked_until = Some(now.saturating_add(period));
                }
            }
            let why = match form {
                PasswordForm::Refused => "password form refused (EncryptType not MD5)",
                PasswordForm::SofiaHash | PasswordForm::Plaintext => "wrong password",
            };
            self.push_log(now, "LogInFailed", user, why);
            return Err(Ret::WrongPassword);
        }
        account.failures = 0;
        let id = self.allocate_session();
        self.sessions.insert(
            id,
            ActiveSession {
                user: user.to_owned(),
                control: connection,
                monitor_on: false,
                media: None,
            },
        );
        self.push_log(now, "LogIn", user, "DVRIP");
        Ok(SessionId(id))
    }

    /// Sequential ids from 1, skipping 0 and ids in use.
    fn allocate_session(&mut self) -> u32 {
        loop {
            let id = self.next_session;
            self.next_session = self.next_session.wrapping_add(1);
            if id != 0 && !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    pub(crate) fn logout(&mut self, session: u32, now: Timestamp) {
        if let Some(s) = self.sessions.remove(&session) {
            self.push_log(now, "LogOut", &s.user, "DVRIP");
        }
    }

    pub(crate) fn set_time(&mut self, time: NetipTime, now: Timestamp) -> Ret {
        let Some(ts) = time.to_timestamp() else {
            return Ret::IllegalRequest;
        };
        let diff = i128::from(ts.as_micros()) - i128::from(now.as_micros());
        self.time_offset_us = i64::try_from(diff).unwrap_or(0);
        self.push_log(now, "SetTime", "", &time.to_string());
        Ret::Ok
    }

    pub(crate) fn reboot(&mut self, user: &str, now: Timestamp) {
        self.reboots = self.reboots.saturating_add(1);
        self.push_log(now, "Reboot", user, "OPMachine");
    }

    pub(crate) fn installed(&mut self, version: FirmwareVersion, now: Timestamp) {
        self.last_upgrade = self.netip_time(now);
        self.push_log(now, "Upgrade", "", &format!("installed {version}"));
    }

    pub(crate) fn upgrade_refused(&mut self, reason: &str, now: Timestamp) {
        self.push_log(now, "Upgrade", "", &format!("refused: {reason}"));
    }

    /// The camera's time at `now` as a NETIP date-time (`NONE` if out of range).
    pub(crate) fn netip_time(&self, now: Timestamp) -> NetipTime {
        NetipTime::from_timestamp(self.camera_time(now)).unwrap_or(NetipTime::NONE)
    }

    pub(crate) fn push_log(&mut self, now: Timestamp, kind: &str, user: &str, data: &str) {
        if self.log.len() >= LOG_CAPACITY {
            self.log.pop_front();
        }
        let time = self.netip_time(now);
        self.log.push_back(LogEntry {
            data: data.to_owned(),
            position: self.next_log_position,
            time,
            log_type: kind.to_owned(),
            user: user.to_owned(),
        });
        self.next_log_position = self.next_log_position.wrapping_add(1);
    }

    /// The `SystemInfo` object at `now`: exactly the 19 keys of the spec.
    pub(crate) fn system_info(&self, now: Timestamp) -> SystemInfo {
        let minutes = now.saturating_since(self.boot).as_secs() / 60;
        SystemInfo {
            alarm_in_channel: 0,
            alarm_out_channel: 0,
            audio_in_channel: 1,
            build_time: self.config.build_time.to_string(),
            combine_switch: 0,
            device_run_time: HexU32(u32::try_from(minutes).unwrap_or(u32::MAX)),
            dig_channel: 0,
            encrypt_version: "Unknown".to_owned(),
            extra_channel: 0,
            hardware: self.config.hardware.clone(),
            hardware_version: self.config.hardware_version.clone(),
            serial_no: self.config.serial_no.clone(),
            software_version: format!("V{}", self.firmware.current),
            talk_in_channel: 1,
            talk_out_channel: 1,
            updata_time: self.last_upgrade.to_string(),
            updata_type: HexU32(0),
            video_in_channel: 1,
            video_out_channel: 0,
        }
    }
}

/// The `NetWork.NetCommon` section of a camera.
fn net_common(config: &NetipCameraConfig) -> Value {
    json!({
        "BuildDate": config.build_time.to_string(),
        "DeviceType": 1,
        "GateWay": "0x0101A8C0",
        "HostIP": "0x0A01A8C0",
        "HostName": "LocalHost",
        "HttpPort": 80,
        "MAC": "00:12:31:00:00:01",
        "MaxBps": 0,
        "MonMode": "TCP",
        "SN": config.serial_no,
        "SSLPort": 8443,
        "Submask": "0x00FFFFFF",
        "TCPMaxConn": config.max_connections,
        "TCPPort": camproof_protocol::netip::PORT,
        "TransferPlan": "Quality",
        "UDPPort": 34568,
        "UseHSDownLoad": false,
    })
}

/// `count` consecutive recordings of `each` minutes from `start`, named like the vendor's
/// (`/idea0/2024-05-01/001/12.00.00-12.10.00[R][@1][0].h264`), 1 MiB per minute.
pub fn synthetic_recordings(start: NetipTime, count: usize, each_minutes: u32) -> Vec<FileInfo> {
    let Some(mut at) = start.to_timestamp() else {
        return Vec::new();
    };
    let step = Duration::from_secs(u64::from(each_minutes.max(1)) * 60);
    let mut out = Vec::with_capacity(count.min(100_000));
    for i in 0..count {
        let end = at.saturating_add(step);
        let (Some(b), Some(e)) = (
            NetipTime::from_timestamp(at),
            NetipTime::from_timestamp(end),
        ) else {
            break;
        };
        let file_name = format!(
            "/idea0/{:04}-{:02}-{:02}/001/{:02}.{:02}.{:02}-{:02}.{:02}.{:02}[R][@{:x}][0].h264",
            b.year(),
            b.month(),
            b.day(),
            b.hour(),
            b.minute(),
            b.second(),
            e.hour(),
            e.minute(),
            e.second(),
            i + 1
        );
        out.push(FileInfo {
            begin_time: b,
            disk_no: 0,
            end_time: e,
            file_length_kib: HexU32(each_minutes.saturating_mul(1024)),
            file_name,
            serial_no: 0,
        });
        at = end;
    }
    out
}
