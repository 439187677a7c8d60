//! Typed NETIP messages: requests a client sends, replies a camera sends.
//!
//! Key names and spellings follow the vendor exactly (`"DeviceType "` with its trailing
//! space, `UpdataTime`, `CombinMode`): third-party clients match on them. Structs list
//! their fields in the alphabetical order the vendor's firmware writes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::codes::{MessageId, Ret};
use super::error::NetipError;
use super::header::Header;
use super::packet::Packet;
use super::payload::{decode_json, encode_json};
use super::sofia::{sofia_hash, sofia_hash_matches};
use super::types::{HexU32, NetipTime, SessionId};

/// Most entries a file search reply may list.
pub const FILE_SEARCH_MAX_RESULTS: usize = 64;

/// The keepalive interval, in seconds, a camera announces at login.
pub const DEFAULT_ALIVE_INTERVAL: u32 = 20;

/// `{"Name":…,"SessionID":…}`: keepalive, logout, info, config get, time query, progress.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NamedRequest {
    /// What is asked for (`KeepAlive`, `SystemInfo`, `NetWork.NetCommon`, …).
    #[serde(rename = "Name", default)]
    pub name: String,
    /// The session the request belongs to.
    #[serde(rename = "SessionID", default)]
    pub session_id: SessionId,
}

impl NamedRequest {
    /// A request for `name` in session `session_id`.
    pub fn new(name: impl Into<String>, session_id: SessionId) -> Self {
        NamedRequest {
            name: name.into(),
            session_id,
        }
    }
}

/// `{"Name":…,"Ret":…,"SessionID":…}`: the plain status reply most requests get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedReply {
    /// The request's `Name`, echoed.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// The result.
    #[serde(rename = "Ret")]
    pub ret: Ret,
    /// The session's id.
    #[serde(rename = "SessionID", default)]
    pub session_id: SessionId,
}

impl NamedReply {
    /// A status reply.
    pub fn new(name: impl Into<String>, ret: Ret, session_id: SessionId) -> Self {
        NamedReply {
            name: name.into(),
            ret,
            session_id,
        }
    }
}

/// Keys a [`NamedValueRequest`] or [`NamedValueReply`] cannot carry its value under.
const RESERVED_KEYS: [&str; 3] = ["Name", "Ret", "SessionID"];

/// `{"Name":N, N:value, "SessionID":…}`: a request whose body sits under its own name
/// (config set).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NamedValueRequest {
    /// The dotted name, also the key of the value (`NetWork.NetCommon`).
    pub name: String,
    /// The session the request belongs to.
    pub session_id: SessionId,
    /// The body; not written if `None` or if `name` is one of `Name`, `Ret`, `SessionID`.
    pub value: Option<Value>,
}

/// `{"Name":N, N:value, "Ret":…, "SessionID":…}`: a reply under the full dotted name
/// (config get, info other than `SystemInfo`, capabilities).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedValueReply {
    /// The dotted name, also the key of the value.
    pub name: String,
    /// The result.
    pub ret: Ret,
    /// The session's id.
    pub session_id: SessionId,
    /// The body; not written if `None` or if `name` is one of `Name`, `Ret`, `SessionID`.
    pub value: Option<Value>,
}

/// Builds the sorted key map of a named-value message.
fn named_value_map(
    name: &str,
    value: Option<&Value>,
    ret: Option<Ret>,
    session_id: SessionId,
) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    map.insert("Name".to_owned(), Value::String(name.to_owned()));
    if let Some(ret) = ret {
        map.insert("Ret".to_owned(), Value::from(ret.code()));
    }
    map.insert(
        "SessionID".to_owned(),
        Value::String(session_id.to_string()),
    );
    if let Some(v) = value {
        if !RESERVED_KEYS.contains(&name) {
            map.insert(name.to_owned(), v.clone());
        }
    }
    map
}

/// The parts of a named-value message: name, `Ret` if present, session id, value.
type NamedValueParts = (String, Option<Ret>, SessionId, Option<Value>);

fn parse_named_value(message_id: MessageId, payload: &[u8]) -> Result<NamedValueParts, NetipError> {
    let mut map: serde_json::Map<String, Value> = decode_json(message_id, payload)?;
    let bad = |reason: String| NetipError::BadJson { message_id, reason };
    let name = match map.remove("Name") {
        Some(Value::String(s)) => s,
        None => String::new(),
        Some(other) => return Err(bad(format!("Name is not a string: {other}"))),
    };
    let ret = map
        .remove("Ret")
        .map(serde_json::from_value::<Ret>)
        .transpose()
        .map_err(|e| bad(format!("Ret: {e}")))?;
    let session_id = map
        .remove("SessionID")
        .map(serde_json::from_value::<SessionId>)
        .transpose()
        .map_err(|e| bad(format!("SessionID: {e}")))?
        .unwrap_or_default();
    let value = map.remove(&name);
    Ok((name, ret, session_id, value))
}

/// Login request (1000): user name and Sofia hash of the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    /// Always `MD5` (the Sofia hash).
    #[serde(rename = "EncryptType", default)]
    pub encrypt_type: String,
    /// Client kind, `DVRIP-Web` for most clients.
    #[serde(rename = "LoginType", default)]
    pub login_type: String,
    /// The 8-character Sofia hash of the password.
    #[serde(rename = "PassWord", default)]
    pub password_hash: String,
    /// The account name.
    #[serde(rename = "UserName", default)]
    pub user_name: String,
}

impl LoginRequest {
    /// A `DVRIP-Web` login for `user` with the Sofia hash of `password`.
    pub fn new(user: &str, password: &str) -> Self {
        LoginRequest {
            encrypt_type: "MD5".to_owned(),
            login_type: "DVRIP-Web".to_owned(),
            password_hash: sofia_hash(password),
            user_name: user.to_owned(),
        }
    }

    /// Whether the hash sent equals `stored_hash`, compared in constant time.
    pub fn hash_matches(&self, stored_hash: &str) -> bool {
        sofia_hash_matches(&self.password_hash, stored_hash)
    }
}

/// Login reply (1001). Success and failure carry the same six keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginReply {
    /// Seconds between the client's keepalives.
    #[serde(rename = "AliveInterval", default)]
    pub alive_interval: u32,
    /// Number of video channels.
    #[serde(rename = "ChannelNum", default)]
    pub channel_num: u32,
    /// Device kind, `IPC` for a camera; the key really ends with a space.
    #[serde(rename = "DeviceType ", default)]
    pub device_type: String,
    /// Number of extra channels.
    #[serde(rename = "ExtraChannel", default)]
    pub extra_channel: u32,
    /// 100 on success; 203 wrong password, 205 locked, 206 blacklisted.
    #[serde(rename = "Ret")]
    pub ret: Ret,
    /// The new session's id (0 on failure).
    #[serde(rename = "SessionID", default)]
    pub session_id: SessionId,
}

impl LoginReply {
    /// A successful login of a one-channel IP camera.
    pub fn success(session_id: SessionId) -> Self {
        LoginReply {
            alive_interval: DEFAULT_ALIVE_INTERVAL,
            channel_num: 1,
            device_type: "IPC".to_owned(),
            extra_channel: 0,
            ret: Ret::Ok,
            session_id,
        }
    }

    /// A refused login with the same key set as a success (a bare `{"Ret":203}` breaks
    /// a client).
    pub fn failure(ret: Ret) -> Self {
        LoginReply {
            ret,
            session_id: SessionId(0),
            ..LoginReply::success(SessionId(0))
        }
    }
}

/// The `SystemInfo` object of an info reply: exactly these 19 keys, vendor spellings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)] // Each field is named after its vendor key; see `SystemInfo::KEYS`.
pub struct SystemInfo {
    pub alarm_in_channel: u32,
    pub alarm_out_channel: u32,
    pub audio_in_channel: u32,
    pub build_time: String,
    pub combine_switch: u32,
    /// Uptime in minutes.
    pub device_run_time: HexU32,
    pub dig_channel: u32,
    pub encrypt_version: String,
    pub extra_channel: u32,
    #[serde(rename = "HardWare")]
    pub hardware: String,
    #[serde(rename = "HardWareVersion")]
    pub hardware_version: String,
    pub serial_no: String,
    #[serde(rename = "SoftWareVersion")]
    pub software_version: String,
    pub talk_in_channel: u32,
    pub talk_out_channel: u32,
    /// Spelled `UpdataTime` by the vendor.
    pub updata_time: String,
    /// Spelled `UpdataType` by the vendor.
    pub updata_type: HexU32,
    pub video_in_channel: u32,
    pub video_out_channel: u32,
}

impl SystemInfo {
    /// The 19 keys of a `SystemInfo` object, in the order they are written.
    pub const KEYS: [&'static str; 19] = [
        "AlarmInChannel",
        "AlarmOutChannel",
        "AudioInChannel",
        "BuildTime",
        "CombineSwitch",
        "DeviceRunTime",
        "DigChannel",
        "EncryptVersion",
        "ExtraChannel",
        "HardWare",
        "HardWareVersion",
        "SerialNo",
        "SoftWareVersion",
        "TalkInChannel",
        "TalkOutChannel",
        "UpdataTime",
        "UpdataType",
        "VideoInChannel",
        "VideoOutChannel",
    ];
}

/// Info reply (1021) for `SystemInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemInfoReply {
    /// Always `SystemInfo`.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// The result.
    #[serde(rename = "Ret")]
    pub ret: Ret,
    /// The session's id.
    #[serde(rename = "SessionID", default)]
    pub session_id: SessionId,
    /// The information, absent on failure.
    #[serde(
        rename = "SystemInfo",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub system_info: Option<SystemInfo>,
}

impl SystemInfoReply {
    /// A successful reply carrying `info`.
    pub fn new(session_id: SessionId, info: SystemInfo) -> Self {
        SystemInfoReply {
            name: "SystemInfo".to_owned(),
            ret: Ret::Ok,
            session_id,
            system_info: Some(info),
        }
    }
}

/// What a monitor request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MonitorAction {
    /// Claim this connection for media (1413).
    Claim,
    /// Start streaming (1410, or 1413 on some clients).
    Start,
    /// Stop streaming (1410).
    Stop,
}

/// The `Parameter` object of `OPMonitor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorParameter {
    /// Video channel, from 0.
    #[serde(rename = "Channel", default)]
    pub channel: u32,
    /// Combination mode, `NONE` (the vendor's spelling of the key).
    #[serde(rename = "CombinMode", default)]
    pub combin_mode: String,
    /// `Main` or `Extra1`.
    #[serde(rename = "StreamType", default)]
    pub stream_type: String,
    /// `TCP`.
    #[serde(rename = "TransMode", default)]
    pub trans_mode: String,
}

impl Default for MonitorParameter {
    /// Channel 0, main stream over TCP.
    fn default() -> Self {
        MonitorParameter {
            channel: 0,
            combin_mode: "NONE".to_owned(),
            stream_type: "Main".to_owned(),
            trans_mode: "TCP".to_owned(),
        }
    }
}

/// The `OPMonitor` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorOp {
    /// Claim, start or stop.
    #[serde(rename = "Action")]
    pub action: MonitorAction,
    /// Which stream.
    #[serde(rename = "Parameter", default)]
    pub parameter: MonitorParameter,
}

/// Monitor start/stop (1410) or claim (1413).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorRequest {
    /// Always `OPMonitor`.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// What to do.
    #[serde(rename = "OPMonitor")]
    pub op: MonitorOp,
    /// The session the request belongs to.
    #[serde(rename = "SessionID", default)]
    pub session_id: SessionId,
}

impl MonitorRequest {
    /// A monitor request with `action` on channel 0's main stream.
    pub fn new(action: MonitorAction, session_id: SessionId) -> Self {
        MonitorRequest {
            name: "OPMonitor".to_owned(),
            op: MonitorOp {
                action,
                parameter: MonitorParameter::default(),
            },
            session_id,
        }
    }
}

/// The `OPFileQuery` object of a file search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileQuery {
    /// Start of the searched interval.
    #[serde(rename = "BeginTime")]
    pub begin_time: NetipTime,
    /// Video channel.
    #[serde(rename = "Channel", default)]
    pub channel: u32,
    /// End of the searched interval.
    #[serde(rename = "EndTime")]
    pub end_time: NetipTime,
    /// Event filter, `*` for all.
    #[serde(rename = "Event", default)]
    pub event: String,
    /// File type, `h264` or `jpg`.
    #[serde(rename = "Type", default)]
    pub file_type: String,
}

/// File search (1440).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSearchRequest {
    /// Always `OPFileQuery`.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// The query.
    #[serde(rename = "OPFileQuery")]
    pub query: FileQuery,
    /// The session the request belongs to.
    #[serde(rename = "SessionID", default)]
    pub session_id: SessionId,
}

/// One recorded file in a file search reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// When the recording starts.
    #[serde(rename = "BeginTime")]
    pub begin_time: NetipTime,
    /// Disk number.
    #[serde(rename = "DiskNo", default)]
    pub disk_no: u32,
    /// When the recording ends.
    #[serde(rename = "EndTime")]
    pub end_time: NetipTime,
    /// Length in KiB, as a hex string.
    #[serde(rename = "FileLength", default)]
    pub file_length_kib: HexU32,
    /// Path on the camera.
    #[serde(rename = "FileName", default)]
    pub file_name: String,
    /// Partition serial number.
    #[serde(rename = "SerialNo", default)]
    pub serial_no: u32,
}

/// File search reply (1441): at most [`FILE_SEARCH_MAX_RESULTS`] files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSearchReply {
    /// Always `OPFileQuery`.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// The files found; absent when none (with `Ret` 119).
    #[serde(
        rename = "OPFileQuery",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub files: Option<Vec<FileInfo>>,
    /// The result.
    #[serde(rename = "Ret")]
    pub ret: Ret,
    /// The session's id.
    #[serde(rename = "SessionID", default)]
    pub session_id: SessionId,
}

/// The `OPLogQuery` object of a log search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogQuery {
    /// Start of the searched interval.
    #[serde(rename = "BeginTime")]
    pub begin_time: NetipTime,
    /// End of the searched interval.
    #[serde(rename = "EndTime")]
    pub end_time: NetipTime,
    /// Where to resume, 0 for the start.
    #[serde(rename = "LogPosition", default)]
    pub log_position: u32,
    /// Log kind filter, `LogAll` for all.
    #[serde(rename = "Type", default)]
    pub log_type: String,
}

/// Log search (1442).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSearchRequest {
    /// Always `OPLogQuery`.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// The query.
    #[serde(rename = "OPLogQuery")]
    pub query: LogQuery,
    /// The session the request belongs to.
    #[serde(rename = "SessionID", default)]
    pub session_id: SessionId,
}

/// One log line in a log search reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Free text.
    #[serde(rename = "Data", default)]
    pub data: String,
    /// Position to resume from.
    #[serde(rename = "Position", default)]
    pub position: u32,
    /// When it happened.
    #[serde(rename = "Time")]
    pub time: NetipTime,
    /// Log kind (`LogIn`, `Reboot`, …).
    #[serde(rename = "Type", default)]
    pub log_type: String,
    /// The user concerned.
    #[serde(rename = "User", default)]
    pub user: String,
}

/// Log search reply (1443).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSearchReply {
    /// Always `OPLogQuery`.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// The entries found.
    #[serde(
        rename = "OPLogQuery",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub entries: Option<Vec<LogEntry>>,
    /// The result.
    #[serde(rename = "Ret")]
    pub ret: Ret,
    /// The session's id.
    #[serde(rename = "SessionID", default)]
    pub session_id: SessionId,
}

/// The `OPMachine` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineOp {
    /// `Reboot`.
    #[serde(rename = "Action")]
    pub action: String,
}

/// System operation `OPMachine` (1450), e.g. a reboot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineRequest {
    /// Always `OPMachine`.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// What to do.
    #[serde(rename = "OPMachine")]
    pub op: MachineOp,
    /// The session the request belongs to.
    #[serde(rename = "SessionID", default)]
    pub session_id: SessionId,
}

impl MachineRequest {
    /// A reboot request.
    pub fn reboot(session_id: SessionId) -> Self {
        MachineRequest {
            name: "OPMachine".to_owned(),
            op: MachineOp {
                action: "Reboot".to_owned(),
            },
            session_id,
        }
    }

    /// Whether the action is a reboot.
    pub fn is_reboot(&self) -> bool {
        self.op.action == "Reboot"
    }
}

/// System operation `OPTimeSetting` (1450): set the camera's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeSettingRequest {
    /// Always `OPTimeSetting`.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// The new time.
    #[serde(rename = "OPTimeSetting")]
    pub time: NetipTime,
    /// The session the request belongs to.
    #[serde(rename = "SessionID", default)]
    pub session_id: SessionId,
}

impl TimeSettingRequest {
    /// A request to set the clock to `time`.
    pub fn new(time: NetipTime, session_id: SessionId) -> Self {
        TimeSettingRequest {
            name: "OPTimeSetting".to_owned(),
            time,
            session_id,
        }
    }
}

/// Time query reply (1453).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeQueryReply {
    /// Always `OPTimeQuery`.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// The camera's time.
    #[serde(rename = "OPTimeQuery")]
    pub time: NetipTime,
    /// The result.
    #[serde(rename = "Ret")]
    pub ret: Ret,
    /// The session's id.
    #[serde(rename = "SessionID", default)]
    pub session_id: SessionId,
}

impl TimeQueryReply {
    /// A successful reply with the camera's `time`.
    pub fn new(time: NetipTime, session_id: SessionId) -> Self {
        TimeQueryReply {
            name: "OPTimeQuery".to_owned(),
            time,
            ret: Ret::Ok,
            session_id,
        }
    }
}

/// The `OPSystemUpgrade` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeOp {
    /// `Start`.
    #[serde(rename = "Action")]
    pub action: String,
    /// `System`.
    #[serde(rename = "Type", default)]
    pub upgrade_type: String,
}

/// Firmware upgrade start (1520).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeStartRequest {
    /// Always `OPSystemUpgrade`.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// What to upgrade.
    #[serde(rename = "OPSystemUpgrade")]
    pub op: UpgradeOp,
    /// The session the request belongs to.
    #[serde(rename = "SessionID", default)]
    pub session_id: SessionId,
}

impl UpgradeStartRequest {
    /// A system firmware upgrade start.
    pub fn new(session_id: SessionId) -> Self {
        UpgradeStartRequest {
            name: "OPSystemUpgrade".to_owned(),
            op: UpgradeOp {
                action: "Start".to_owned(),
                upgrade_type: "System".to_owned(),
            },
            session_id,
        }
    }
}

/// One firmware chunk (1522): binary, at most 32 KiB, acknowledged by 1523.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpgradeChunk {
    /// The firmware bytes.
    pub data: Vec<u8>,
    /// Header end flag: the last packet of the upload (usually empty).
    pub end: bool,
}

/// A request as a camera receives it, decoded from its message id and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// 1000: log in.
    Login(LoginRequest),
    /// 1002: log out, `Name` empty.
    Logout(NamedRequest),
    /// 1006: keepalive, `Name` `KeepAlive`.
    KeepAlive(NamedRequest),
    /// 1020: information, `Name` `SystemInfo`, `StorageInfo` or `WorkState`.
    Info(NamedRequest),
    /// 1040: set a configuration section.
    ConfigSet(NamedValueRequest),
    /// 1042: get a configuration section.
    ConfigGet(NamedRequest),
    /// 1044: get a configuration section's defaults.
    ConfigGetDefault(NamedRequest),
    /// 1360: capabilities.
    Ability(NamedRequest),
    /// 1410: monitor start/stop.
    Monitor(MonitorRequest),
    /// 1413: monitor claim.
    MonitorClaim(MonitorRequest),
    /// 1440: file search.
    FileSearch(FileSearchRequest),
    /// 1442: log search.
    LogSearch(LogSearchRequest),
    /// 1450 `OPMachine`: reboot and other machine actions.
    Machine(MachineRequest),
    /// 1450 `OPTimeSetting`: set the clock.
    TimeSetting(TimeSettingRequest),
    /// 1452: time query, `Name` `OPTimeQuery`.
    TimeQuery(NamedRequest),
    /// 1520: firmware upgrade start.
    UpgradeStart(UpgradeStartRequest),
    /// 1522: firmware data chunk.
    UpgradeData(UpgradeChunk),
    /// 1524: firmware upgrade progress.
    UpgradeProgress(NamedRequest),
    /// Any other message, payload kept as received (answer it with `Ret` 102).
    Other {
        /// The message id.
        message_id: MessageId,
        /// The raw payload.
        payload: Vec<u8>,
    },
}

impl Request {
    /// Decodes a request from its message id and payload.
    ///
    /// A 1522 chunk gets `end` set when it is empty, the usual end-of-upload packet;
    /// [`Request::from_packet`] reads the real end flag from the header.
    pub fn decode(message_id: MessageId, payload: &[u8]) -> Result<Request, NetipError> {
        let m = message_id;
        Ok(match m {
            MessageId::LOGIN => Request::Login(decode_json(m, payload)?),
            MessageId::LOGOUT => Request::Logout(decode_json(m, payload)?),
            MessageId::KEEPALIVE => Request::KeepAlive(decode_json(m, payload)?),
            MessageId::INFO => Request::Info(decode_json(m, payload)?),
            MessageId::CONFIG_SET => {
                let (name, _, session_id, value) = parse_named_value(m, payload)?;
                Request::ConfigSet(NamedValueRequest {
                    name,
                    session_id,
                    value,
                })
            }
            MessageId::CONFIG_GET => Request::ConfigGet(decode_json(m, payload)?),
            MessageId::CONFIG_GET_DEFAULT => Request::ConfigGetDefault(decode_json(m, payload)?),
            MessageId::ABILITY => Request::Ability(decode_json(m, payload)?),
            MessageId::MONITOR => Request::Monitor(decode_json(m, payload)?),
            MessageId::MONITOR_CLAIM => Request::MonitorClaim(decode_json(m, payload)?),
            MessageId::FILE_SEARCH => Request::FileSearch(decode_json(m, payload)?),
            MessageId::LOG_SEARCH => Request::LogSearch(decode_json(m, payload)?),
            MessageId::SYS_MANAGER => {
                let probe: NamedRequest = decode_json(m, payload)?;
                match probe.name.as_str() {
                    "OPMachine" => Request::Machine(decode_json(m, payload)?),
                    "OPTimeSetting" => Request::TimeSetting(decode_json(m, payload)?),
                    _ => Request::Other {
                        message_id: m,
                        payload: payload.to_vec(),
                    },
                }
            }
            MessageId::TIME_QUERY => Request::TimeQuery(decode_json(m, payload)?),
            MessageId::UPGRADE => Request::UpgradeStart(decode_json(m, payload)?),
            MessageId::UPGRADE_DATA => Request::UpgradeData(UpgradeChunk {
                data: payload.to_vec(),
                end: payload.is_empty(),
            }),
            MessageId::UPGRADE_PROGRESS => Request::UpgradeProgress(decode_json(m, payload)?),
            _ => Request::Other {
                message_id: m,
                payload: payload.to_vec(),
            },
        })
    }

    /// Decodes the request a packet carries, taking the 1522 end flag from its header.
    pub fn from_packet(packet: &Packet) -> Result<Request, NetipError> {
        let mut req = Request::decode(packet.message_id(), packet.payload())?;
        if let Request::UpgradeData(chunk) = &mut req {
            chunk.end = packet.header().end_flag();
        }
        Ok(req)
    }

    /// The message id this request travels under.
    pub fn message_id(&self) -> MessageId {
        match self {
            Request::Login(_) => MessageId::LOGIN,
            Request::Logout(_) => MessageId::LOGOUT,
            Request::KeepAlive(_) => MessageId::KEEPALIVE,
            Request::Info(_) => MessageId::INFO,
            Request::ConfigSet(_) => MessageId::CONFIG_SET,
            Request::ConfigGet(_) => MessageId::CONFIG_GET,
            Request::ConfigGetDefault(_) => MessageId::CONFIG_GET_DEFAULT,
            Request::Ability(_) => MessageId::ABILITY,
            Request::Monitor(_) => MessageId::MONITOR,
            Request::MonitorClaim(_) => MessageId::MONITOR_CLAIM,
            Request::FileSearch(_) => MessageId::FILE_SEARCH,
            Request::LogSearch(_) => MessageId::LOG_SEARCH,
            Request::Machine(_) | Request::TimeSetting(_) => MessageId::SYS_MANAGER,
            Request::TimeQuery(_) => MessageId::TIME_QUERY,
            Request::UpgradeStart(_) => MessageId::UPGRADE,
            Request::UpgradeData(_) => MessageId::UPGRADE_DATA,
            Request::UpgradeProgress(_) => MessageId::UPGRADE_PROGRESS,
            Request::Other { message_id, .. } => *message_id,
        }
    }

    /// The payload bytes: JSON with the 0x0A 0x00 trailer, or binary for 1522.
    pub fn encode_payload(&self) -> Result<Vec<u8>, NetipError> {
        match self {
            Request::Login(r) => encode_json(r),
            Request::Logout(r)
            | Request::KeepAlive(r)
            | Request::Info(r)
            | Request::ConfigGet(r)
            | Request::ConfigGetDefault(r)
            | Request::Ability(r)
            | Request::TimeQuery(r)
            | Request::UpgradeProgress(r) => encode_json(r),
            Request::ConfigSet(r) => encode_json(&named_value_map(
                &r.name,
                r.value.as_ref(),
                None,
                r.session_id,
            )),
            Request::Monitor(r) | Request::MonitorClaim(r) => encode_json(r),
            Request::FileSearch(r) => encode_json(r),
            Request::LogSearch(r) => encode_json(r),
            Request::Machine(r) => encode_json(r),
            Request::TimeSetting(r) => encode_json(r),
            Request::UpgradeStart(r) => encode_json(r),
            Request::UpgradeData(c) => Ok(c.data.clone()),
            Request::Other { payload, .. } => Ok(payload.clone()),
        }
    }

    /// The packet a client sends: version 0, the given session and sequence, and the
    /// end flag of a 1522 chunk.
    pub fn to_packet(&self, session_id: u32, sequence: u32) -> Result<Packet, NetipError> {
        let mut header = Header::request(self.message_id(), session_id, sequence);
        if let Request::UpgradeData(c) = self {
            header.fragment_index = u8::from(c.end);
        }
        Packet::new(header, self.encode_payload()?)
    }
}

/// A reply as a client receives it, decoded from its message id and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// 1001: login result.
    Login(LoginReply),
    /// 1003: logout result.
    Logout(NamedReply),
    /// 1007: keepalive echoed with `Ret`.
    KeepAlive(NamedReply),
    /// 1021 with `Name` `SystemInfo`.
    SystemInfo(SystemInfoReply),
    /// 1021 with another `Name` (`StorageInfo`, `WorkState`).
    Info(NamedValueReply),
    /// 1041: config set result.
    ConfigSet(NamedReply),
    /// 1043: a configuration section under its full dotted name.
    ConfigGet(NamedValueReply),
    /// 1045: a default configuration section.
    ConfigGetDefault(NamedValueReply),
    /// 1361: capabilities.
    Ability(NamedValueReply),
    /// 1411: monitor start/stop result.
    Monitor(NamedReply),
    /// 1412: live media bytes (see [`super::media`]).
    MediaData(Vec<u8>),
    /// 1414: monitor claim result.
    MonitorClaim(NamedReply),
    /// 1441: files found.
    FileSearch(FileSearchReply),
    /// 1443: log entries found.
    LogSearch(LogSearchReply),
    /// 1451: system operation result.
    SysManager(NamedReply),
    /// 1453: the camera's time.
    TimeQuery(TimeQueryReply),
    /// 1521: upgrade start result (100, or 511 already upgrading).
    UpgradeStart(NamedReply),
    /// 1523: chunk acknowledgement.
    UpgradeData(NamedReply),
    /// 1525: upgrade progress (515 succeeded, 514 failed).
    UpgradeProgress(NamedReply),
    /// Any other message, payload kept as received.
    Other {
        /// The message id.
        message_id: MessageId,
        /// The raw payload.
        payload: Vec<u8>,
    },
}

fn named_value_reply(m: MessageId, payload: &[u8]) -> Result<NamedValueReply, NetipError> {
    let (name, ret, session_id, value) = parse_named_value(m, payload)?;
    let ret = ret.ok_or_else(|| NetipError::BadJson {
        message_id: m,
        reason: "reply has no Ret".to_owned(),
    })?;
    Ok(NamedValueReply {
        name,
        ret,
        session_id,
        value,
    })
}

fn check_file_count(files: &Option<Vec<FileInfo>>) -> Result<(), NetipError> {
    let count = files.as_ref().map_or(0, Vec::len);
    if count > FILE_SEARCH_MAX_RESULTS {
        return Err(NetipError::TooManyEntries {
            what: "file search reply (1441)",
            count,
            max: FILE_SEARCH_MAX_RESULTS,
        });
    }
    Ok(())
}

impl Reply {
    /// Decodes a reply from its message id and payload.
    ///
    /// A file search reply with more than 64 files is an error: cameras page results.
    pub fn decode(message_id: MessageId, payload: &[u8]) -> Result<Reply, NetipError> {
        let m = message_id;
        Ok(match m {
            MessageId::LOGIN_REPLY => Reply::Login(decode_json(m, payload)?),
            MessageId::LOGOUT_REPLY => Reply::Logout(decode_json(m, payload)?),
            MessageId::KEEPALIVE_REPLY => Reply::KeepAlive(decode_json(m, payload)?),
            MessageId::INFO_REPLY => {
                let probe: NamedRequest = decode_json(m, payload)?;
                if probe.name == "SystemInfo" {
                    Reply::SystemInfo(decode_json(m, payload)?)
                } else {
                    Reply::Info(named_value_reply(m, payload)?)
                }
            }
            MessageId::CONFIG_SET_REPLY => Reply::ConfigSet(decode_json(m, payload)?),
            MessageId::CONFIG_GET_REPLY => Reply::ConfigGet(named_value_reply(m, payload)?),
            MessageId::CONFIG_GET_DEFAULT_REPLY => {
                Reply::ConfigGetDefault(named_value_reply(m, payload)?)
            }
            MessageId::ABILITY_REPLY => Reply::Ability(named_value_reply(m, payload)?),
            MessageId::MONITOR_REPLY => Reply::Monitor(decode_json(m, payload)?),
            MessageId::MONITOR_DATA => Reply::MediaData(payload.to_vec()),
            MessageId::MONITOR_CLAIM_REPLY => Reply::MonitorClaim(decode_json(m, payload)?),
            MessageId::FILE_SEARCH_REPLY => {
                let r: FileSearchReply = decode_json(m, payload)?;
                check_file_count(&r.files)?;
                Reply::FileSearch(r)
            }
            MessageId::LOG_SEARCH_REPLY => Reply::LogSearch(decode_json(m, payload)?),
            MessageId::SYS_MANAGER_REPLY => Reply::SysManager(decode_json(m, payload)?),
            MessageId::TIME_QUERY_REPLY => Reply::TimeQuery(decode_json(m, payload)?),
            MessageId::UPGRADE_REPLY => Reply::UpgradeStart(decode_json(m, payload)?),
            MessageId::UPGRADE_DATA_REPLY => Reply::UpgradeData(decode_json(m, payload)?),
            MessageId::UPGRADE_PROGRESS_REPLY => Reply::UpgradeProgress(decode_json(m, payload)?),
            _ => Reply::Other {
                message_id: m,
                payload: payload.to_vec(),
            },
        })
    }

    /// The message id this reply travels under.
    pub fn message_id(&self) -> MessageId {
        match self {
            Reply::Login(_) => MessageId::LOGIN_REPLY,
            Reply::Logout(_) => MessageId::LOGOUT_REPLY,
            Reply::KeepAlive(_) => MessageId::KEEPALIVE_REPLY,
            Reply::SystemInfo(_) | Reply::Info(_) => MessageId::INFO_REPLY,
            Reply::ConfigSet(_) => MessageId::CONFIG_SET_REPLY,
            Reply::ConfigGet(_) => MessageId::CONFIG_GET_REPLY,
            Reply::ConfigGetDefault(_) => MessageId::CONFIG_GET_DEFAULT_REPLY,
            Reply::Ability(_) => MessageId::ABILITY_REPLY,
            Reply::Monitor(_) => MessageId::MONITOR_REPLY,
            Reply::MediaData(_) => MessageId::MONITOR_DATA,
            Reply::MonitorClaim(_) => MessageId::MONITOR_CLAIM_REPLY,
            Reply::FileSearch(_) => MessageId::FILE_SEARCH_REPLY,
            Reply::LogSearch(_) => MessageId::LOG_SEARCH_REPLY,
            Reply::SysManager(_) => MessageId::SYS_MANAGER_REPLY,
            Reply::TimeQuery(_) => MessageId::TIME_QUERY_REPLY,
            Reply::UpgradeStart(_) => MessageId::UPGRADE_REPLY,
            Reply::UpgradeData(_) => MessageId::UPGRADE_DATA_REPLY,
            Reply::UpgradeProgress(_) => MessageId::UPGRADE_PROGRESS_REPLY,
            Reply::Other { message_id, .. } => *message_id,
        }
    }

    /// The payload bytes: JSON with the 0x0A 0x00 trailer (raw bytes for media).
    ///
    /// Refuses a file search reply with more than 64 files.
    pub fn encode_payload(&self) -> Result<Vec<u8>, NetipError> {
        match self {
            Reply::Login(r) => encode_json(r),
            Reply::Logout(r)
            | Reply::KeepAlive(r)
            | Reply::ConfigSet(r)
            | Reply::Monitor(r)
            | Reply::MonitorClaim(r)
            | Reply::SysManager(r)
            | Reply::UpgradeStart(r)
            | Reply::UpgradeData(r)
            | Reply::UpgradeProgress(r) => encode_json(r),
            Reply::SystemInfo(r) => encode_json(r),
            Reply::Info(r)
            | Reply::ConfigGet(r)
            | Reply::ConfigGetDefault(r)
            | Reply::Ability(r) => encode_json(&named_value_map(
                &r.name,
                r.value.as_ref(),
                Some(r.ret),
                r.session_id,
            )),
            Reply::FileSearch(r) => {
                check_file_count(&r.files)?;
                encode_json(r)
            }
            Reply::LogSearch(r) => encode_json(r),
            Reply::TimeQuery(r) => encode_json(r),
            Reply::MediaData(b) | Reply::Other { payload: b, .. } => Ok(b.clone()),
        }
    }

    /// The packet answering `request`: version 1, `session_id`, the request's sequence
    /// echoed, and this reply's message id.
    pub fn to_packet(&self, request: &Header, session_id: u32) -> Result<Packet, NetipError> {
        let header = Header {
            message_id: self.message_id(),
            ..request.reply(session_id)
        };
        Packet::new(header, self.encode_payload()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netip::payload::JSON_TRAILER;
    use crate::netip::types::tests::arb_time;
    use proptest::prelude::*;
    use serde_json::json;

    fn keys(payload: &[u8]) -> Vec<String> {
        let v: serde_json::Map<String, Value> = decode_json(MessageId(0), payload).unwrap();
        v.keys().cloned().collect()
    }

    /// NETIP-LOGIN-01: a successful login reply is, byte for byte, the spec's literal
    /// followed by 0x0A 0x00.
    #[test]
    fn login_reply_exact_bytes() {
        let p = Reply::Login(LoginReply::success(SessionId(1)))
            .encode_payload()
            .unwrap();
        let mut expected = br#"{"AliveInterval":20,"ChannelNum":1,"DeviceType ":"IPC","ExtraChannel":0,"Ret":100,"SessionID":"0x00000001"}"#.to_vec();
        expected.extend_from_slice(&JSON_TRAILER);
        assert_eq!(p, expected);
    }

    /// NETIP-LOGIN-02: the key `"DeviceType "` ends with a space.
    #[test]
    fn device_type_key_has_trailing_space() {
        let p = encode_json(&LoginReply::success(SessionId(7))).unwrap();
        let k = keys(&p);
        assert!(k.contains(&"DeviceType ".to_owned()));
        assert!(!k.contains(&"DeviceType".to_owned()));
    }

    /// NETIP-LOGIN-03: a refused login carries the same key set as a success, with Ret
    /// 203, 205 or 206.
    #[test]
    fn login_failure_same_key_set() {
        let ok = keys(&encode_json(&LoginReply::success(SessionId(1))).unwrap());
        for ret in [Ret::WrongPassword, Ret::Locked, Ret::Blacklisted] {
            let p = Reply::Login(LoginReply::failure(ret))
                .encode_payload()
                .unwrap();
            assert_eq!(keys(&p), ok);
            let Reply::Login(back) = Reply::decode(MessageId::LOGIN_REPLY, &p).unwrap() else {
                panic!("not a login reply");
            };
            assert_eq!(back.ret, ret);
        }
        assert_eq!(Ret::WrongPassword.code(), 203);
        assert_eq!(Ret::Locked.code(), 205);
        assert_eq!(Ret::Blacklisted.code(), 206);
    }

    /// NETIP-LOGIN-04: the login request carries the Sofia hash with EncryptType MD5 and
    /// LoginType DVRIP-Web; the camera checks it against the stored hash.
    #[test]
    fn login_request_shape() {
        let req = Request::Login(LoginRequest::new("admin", "admin"));
        let p = req.encode_payload().unwrap();
        assert_eq!(
            &p[..p.len() - 2],
            br#"{"EncryptType":"MD5","LoginType":"DVRIP-Web","PassWord":"6QNMIQGe","UserName":"admin"}"#
        );
        let Request::Login(l) = Request::decode(MessageId::LOGIN, &p).unwrap() else {
            panic!("not a login");
        };
        assert!(l.hash_matches(&sofia_hash("admin")));
        assert!(!l.hash_matches(&sofia_hash("")));
    }

    /// NETIP-LOGIN-05: keepalive and logout requests are `{"Name","SessionID"}` and
    /// their replies echo them with `Ret`.
    #[test]
    fn keepalive_and_logout_shapes() {
        let raw = br#"{"Name":"KeepAlive","SessionID":"0x0000000A"}"#;
        let req = Request::decode(MessageId::KEEPALIVE, raw).unwrap();
        assert_eq!(
            req,
            Request::KeepAlive(NamedRequest::new("KeepAlive", SessionId(10)))
        );
        let rep = Reply::KeepAlive(NamedReply::new("KeepAlive", Ret::Ok, SessionId(10)));
        assert_eq!(
            &rep.encode_payload().unwrap()[..],
            &b"{\"Name\":\"KeepAlive\",\"Ret\":100,\"SessionID\":\"0x0000000A\"}\n\0"[..]
        );
        let out = Request::decode(
            MessageId::LOGOUT,
            br#"{"Name":"","SessionID":"0x0000000A"}"#,
        )
        .unwrap();
        assert_eq!(out, Request::Logout(NamedRequest::new("", SessionId(10))));
    }

    /// NETIP-SYSINFO-01: a SystemInfo object has exactly the 19 keys of the spec.
    #[test]
    fn system_info_key_set() {
        let spec = [
            "AlarmInChannel",
            "AlarmOutChannel",
            "AudioInChannel",
            "BuildTime",
            "CombineSwitch",
            "DeviceRunTime",
            "DigChannel",
            "EncryptVersion",
            "ExtraChannel",
            "HardWare",
            "HardWareVersion",
            "SerialNo",
            "SoftWareVersion",
            "TalkInChannel",
            "TalkOutChannel",
            "UpdataTime",
            "UpdataType",
            "VideoInChannel",
            "VideoOutChannel",
        ];
        let v = serde_json::to_value(SystemInfo::default()).unwrap();
        let got: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(got, spec);
        assert_eq!(SystemInfo::KEYS, spec);
        let p = Reply::SystemInfo(SystemInfoReply::new(SessionId(1), SystemInfo::default()))
            .encode_payload()
            .unwrap();
        assert_eq!(keys(&p), ["Name", "Ret", "SessionID", "SystemInfo"]);
        let v: Value = decode_json(MessageId(0), &p).unwrap();
        assert_eq!(v["SystemInfo"]["DeviceRunTime"], json!("0x00000000"));
    }

    /// NETIP-CFG-01: a config get reply carries the section under its full dotted name.
    #[test]
    fn config_reply_under_dotted_name() {
        let req = Request::decode(
            MessageId::CONFIG_GET,
            br#"{"Name":"NetWork.NetCommon","SessionID":"0x00000002"}"#,
        )
        .unwrap();
        assert_eq!(
            req,
            Request::ConfigGet(NamedRequest::new("NetWork.NetCommon", SessionId(2)))
        );
        let rep = Reply::ConfigGet(NamedValueReply {
            name: "NetWork.NetCommon".to_owned(),
            ret: Ret::Ok,
            session_id: SessionId(2),
            value: Some(json!({"TCPPort": 34567})),
        });
        let p = rep.encode_payload().unwrap();
        assert_eq!(
            &p[..p.len() - 2],
            br#"{"Name":"NetWork.NetCommon","NetWork.NetCommon":{"TCPPort":34567},"Ret":100,"SessionID":"0x00000002"}"#
        );
        assert_eq!(Reply::decode(MessageId::CONFIG_GET_REPLY, &p).unwrap(), rep);
    }

    /// NETIP-MON-01: monitor claim (1413) and start (1410) parse the spec's OPMonitor
    /// JSON, and the encoder writes the same keys.
    #[test]
    fn monitor_request_shape() {
        let raw = br#"{"Name":"OPMonitor","OPMonitor":{"Action":"Start","Parameter":{"Channel":0,"CombinMode":"NONE","StreamType":"Main","TransMode":"TCP"}}}"#;
        let r = Request::decode(MessageId::MONITOR, raw).unwrap();
        let expected = MonitorRequest::new(MonitorAction::Start, SessionId(0));
        assert_eq!(r, Request::Monitor(expected.clone()));
        let claim = raw.to_vec();
        let claim = String::from_utf8(claim).unwrap().replace("Start", "Claim");
        let Request::MonitorClaim(c) =
            Request::decode(MessageId::MONITOR_CLAIM, claim.as_bytes()).unwrap()
        else {
            panic!("not a claim");
        };
        assert_eq!(c.op.action, MonitorAction::Claim);
        let mut v: Value = decode_json(
            MessageId(0),
            &Request::Monitor(expected).encode_payload().unwrap(),
        )
        .unwrap();
        v.as_object_mut().unwrap().remove("SessionID");
        assert_eq!(v, serde_json::from_slice::<Value>(raw).unwrap());
        assert_eq!(MessageId::MONITOR_CLAIM.reply(), MessageId(1414));
        assert_eq!(MessageId::MONITOR.reply(), MessageId(1411));
        assert!(MessageId::MONITOR_DATA.uses_media_fields());
    }

    fn file(i: u32) -> FileInfo {
        FileInfo {
            begin_time: "2024-05-01 12:00:00".parse().unwrap(),
            disk_no: 0,
            end_time: "2024-05-01 12:10:00".parse().unwrap(),
            file_length_kib: HexU32(0x2F0 + i),
            file_name: format!("/idea0/2024-05-01/001/12.00.00-12.10.00[R][@{i:x}][0].h264"),
            serial_no: 0,
        }
    }

    /// NETIP-FILE-01: a file search reply lists at most 64 files; more is refused on
    /// encode and on decode, and file lengths are hex strings.
    #[test]
    fn file_search_at_most_64() {
        let mk = |n: u32| {
            Reply::FileSearch(FileSearchReply {
                name: "OPFileQuery".to_owned(),
                files: Some((0..n).map(file).collect()),
                ret: Ret::Ok,
                session_id: SessionId(1),
            })
        };
        let p = mk(64).encode_payload().unwrap();
        assert_eq!(
            Reply::decode(MessageId::FILE_SEARCH_REPLY, &p).unwrap(),
            mk(64)
        );
        let v: Value = decode_json(MessageId(0), &p).unwrap();
        assert_eq!(v["OPFileQuery"][0]["FileLength"], json!("0x000002F0"));
        assert!(matches!(
            mk(65).encode_payload(),
            Err(NetipError::TooManyEntries {
                count: 65,
                max: 64,
                ..
            })
        ));
        // A hostile camera's 65-entry reply is refused by the client side too.
        let Reply::FileSearch(mut r) = mk(64) else {
            unreachable!()
        };
        r.files.as_mut().unwrap().push(file(99));
        let raw = encode_json(&r).unwrap();
        assert!(matches!(
            Reply::decode(MessageId::FILE_SEARCH_REPLY, &raw),
            Err(NetipError::TooManyEntries { .. })
        ));
        let q = br#"{"Name":"OPFileQuery","OPFileQuery":{"BeginTime":"2024-05-01 00:00:00","Channel":0,"DriverTypeMask":"0x0000FFFF","EndTime":"2024-05-01 23:59:59","Event":"*","Type":"h264"},"SessionID":"0x00000001"}"#;
        let Request::FileSearch(f) = Request::decode(MessageId::FILE_SEARCH, q).unwrap() else {
            panic!("not a file search");
        };
        assert_eq!(f.query.event, "*");
        assert_eq!(f.query.file_type, "h264");
    }

    /// NETIP-LOG-01: a log search reply lists `{Data,Position,Time,Type,User}` under
    /// `OPLogQuery`.
    #[test]
    fn log_search_shape() {
        let q = br#"{"Name":"OPLogQuery","OPLogQuery":{"BeginTime":"2024-05-01 00:00:00","EndTime":"2024-05-02 00:00:00","LogPosition":0,"Type":"LogAll"},"SessionID":"0x00000001"}"#;
        let Request::LogSearch(l) = Request::decode(MessageId::LOG_SEARCH, q).unwrap() else {
            panic!("not a log search");
        };
        assert_eq!(l.query.log_type, "LogAll");
        let rep = Reply::LogSearch(LogSearchReply {
            name: "OPLogQuery".to_owned(),
            entries: Some(vec![LogEntry {
                data: "admin".to_owned(),
                position: 1,
                time: "2024-05-01 12:00:00".parse().unwrap(),
                log_type: "LogIn".to_owned(),
                user: "admin".to_owned(),
            }]),
            ret: Ret::Ok,
            session_id: SessionId(1),
        });
        let v: Value = decode_json(MessageId(0), &rep.encode_payload().unwrap()).unwrap();
        let entry = v["OPLogQuery"][0].as_object().unwrap();
        let k: Vec<&str> = entry.keys().map(String::as_str).collect();
        assert_eq!(k, ["Data", "Position", "Time", "Type", "User"]);
    }

    /// NETIP-TIME-01: the time query reply carries the time under `OPTimeQuery` and
    /// `OPTimeSetting` sets it.
    #[test]
    fn time_query_and_setting() {
        let t: NetipTime = "2024-05-01 12:00:00".parse().unwrap();
        let p = Reply::TimeQuery(TimeQueryReply::new(t, SessionId(1)))
            .encode_payload()
            .unwrap();
        assert_eq!(
            &p[..p.len() - 2],
            br#"{"Name":"OPTimeQuery","OPTimeQuery":"2024-05-01 12:00:00","Ret":100,"SessionID":"0x00000001"}"#
        );
        let raw = br#"{"Name":"OPTimeSetting","OPTimeSetting":"2024-05-01 12:00:00","SessionID":"0x00000001"}"#;
        assert_eq!(
            Request::decode(MessageId::SYS_MANAGER, raw).unwrap(),
            Request::TimeSetting(TimeSettingRequest::new(t, SessionId(1)))
        );
        let bad = br#"{"Name":"OPTimeSetting","OPTimeSetting":"2024-02-30 12:00:00","SessionID":"0x00000001"}"#;
        assert!(matches!(
            Request::decode(MessageId::SYS_MANAGER, bad),
            Err(NetipError::BadJson { .. })
        ));
    }

    /// NETIP-SYS-01: a reboot is `OPMachine {"Action":"Reboot"}` on 1450.
    #[test]
    fn reboot_shape() {
        let raw =
            br#"{"Name":"OPMachine","OPMachine":{"Action":"Reboot"},"SessionID":"0x00000003"}"#;
        let Request::Machine(m) = Request::decode(MessageId::SYS_MANAGER, raw).unwrap() else {
            panic!("not OPMachine");
        };
        assert!(m.is_reboot());
        assert_eq!(m, MachineRequest::reboot(SessionId(3)));
    }

    /// NETIP-UPG-01: upgrade start is 1520, chunks are binary 1522 packets acknowledged
    /// by 1523, the last marked by the end flag, and progress ends with Ret 515 or 514.
    #[test]
    fn upgrade_flow_shapes() {
        let start = Request::UpgradeStart(UpgradeStartRequest::new(SessionId(4)));
        let pk = start.to_packet(4, 10).unwrap();
        assert_eq!(pk.message_id().0, 1520);
        assert_eq!(Request::from_packet(&pk).unwrap(), start);

        let chunk = Request::UpgradeData(UpgradeChunk {
            data: vec![0xAB; 32 * 1024],
            end: false,
        });
        let pk = chunk.to_packet(4, 11).unwrap();
        assert_eq!(pk.payload().len(), 32 * 1024);
        assert_eq!(Request::from_packet(&pk).unwrap(), chunk);
        let last = Request::UpgradeData(UpgradeChunk {
            data: vec![],
            end: true,
        });
        let pk = last.to_packet(4, 12).unwrap();
        assert!(pk.header().end_flag());
        assert_eq!(Request::from_packet(&pk).unwrap(), last);

        let ack = Reply::UpgradeData(NamedReply::new("", Ret::Ok, SessionId(4)));
        let ack_pk = ack.to_packet(pk.header(), 4).unwrap();
        assert_eq!(ack_pk.message_id(), MessageId::UPGRADE_DATA_REPLY);
        assert_eq!(ack_pk.header().sequence, 12);
        for ret in [Ret::UpgradeSucceeded, Ret::UpgradeFailed] {
            let r = Reply::UpgradeProgress(NamedReply::new("", ret, SessionId(4)));
            let p = r.encode_payload().unwrap();
            assert_eq!(Reply::decode(MessageId(1525), &p).unwrap(), r);
        }
        assert_eq!(Ret::UpgradeSucceeded.code(), 515);
        assert_eq!(Ret::UpgradeFailed.code(), 514);
    }

    /// NETIP-PAY-03: malformed JSON requests are errors naming the message, never panics.
    #[test]
    fn bad_json_requests() {
        for (id, raw) in [
            (MessageId::LOGIN, &b"{"[..]),
            (MessageId::LOGIN, b"[1,2]"),
            (MessageId::KEEPALIVE, b"{\"SessionID\":\"nothex\"}"),
            (
                MessageId::MONITOR,
                b"{\"OPMonitor\":{\"Action\":\"Dance\"}}",
            ),
            (MessageId::CONFIG_SET, b"{\"Name\":5}"),
            (MessageId::SYS_MANAGER, b"\xFF\xFE"),
        ] {
            let err = Request::decode(id, raw).unwrap_err();
            assert!(
                matches!(err, NetipError::BadJson { message_id, .. } if message_id == id),
                "{err}"
            );
        }
        assert!(matches!(
            Reply::decode(MessageId::CONFIG_GET_REPLY, b"{\"Name\":\"X\"}"),
            Err(NetipError::BadJson { .. })
        ));
    }

    fn s() -> impl Strategy<Value = String> {
        "[A-Za-z0-9 ._*-]{0,12}"
    }

    fn sid() -> impl Strategy<Value = SessionId> {
        any::<u32>().prop_map(SessionId)
    }

    fn ret() -> impl Strategy<Value = Ret> {
        any::<u16>().prop_map(|c| Ret::from_code(u32::from(c)))
    }

    fn named_req() -> impl Strategy<Value = NamedRequest> {
        (s(), sid()).prop_map(|(n, i)| NamedRequest::new(n, i))
    }

    fn named_rep() -> impl Strategy<Value = NamedReply> {
        (s(), ret(), sid()).prop_map(|(n, r, i)| NamedReply::new(n, r, i))
    }

    fn value() -> impl Strategy<Value = Option<Value>> {
        proptest::option::of(
            proptest::collection::btree_map(
                "[A-Za-z]{1,6}",
                prop_oneof![
                    any::<i64>().prop_map(Value::from),
                    s().prop_map(Value::from),
                    any::<bool>().prop_map(Value::from),
                ],
                0..4,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        )
    }

    fn dotted() -> impl Strategy<Value = String> {
        "[A-Za-z][A-Za-z.]{0,16}"
            .prop_filter("reserved key", |n| !RESERVED_KEYS.contains(&n.as_str()))
    }

    fn monitor() -> impl Strategy<Value = MonitorRequest> {
        (
            prop_oneof![
                Just(MonitorAction::Claim),
                Just(MonitorAction::Start),
                Just(MonitorAction::Stop)
            ],
            any::<u32>(),
            s(),
            sid(),
        )
            .prop_map(|(a, ch, st, i)| {
                let mut m = MonitorRequest::new(a, i);
                m.op.parameter.channel = ch;
                m.op.parameter.stream_type = st;
                m
            })
    }

    fn arb_request() -> impl Strategy<Value = Request> {
        prop_oneof![
            (s(), s()).prop_map(|(u, p)| Request::Login(LoginRequest::new(&u, &p))),
            named_req().prop_map(Request::Logout),
            named_req().prop_map(Request::KeepAlive),
            named_req().prop_map(Request::Info),
            (dotted(), sid(), value()).prop_map(|(name, session_id, value)| {
                Request::ConfigSet(NamedValueRequest {
                    name,
                    session_id,
                    value,
                })
            }),
            named_req().prop_map(Request::ConfigGet),
            named_req().prop_map(Request::ConfigGetDefault),
            named_req().prop_map(Request::Ability),
            monitor().prop_map(Request::Monitor),
            monitor().prop_map(Request::MonitorClaim),
            (arb_time(), arb_time(), any::<u32>(), s(), s(), sid()).prop_map(
                |(b, e, c, ev, t, i)| {
                    Request::FileSearch(FileSearchRequest {
                        name: "OPFileQuery".to_owned(),
                        query: FileQuery {
                            begin_time: b,
                            channel: c,
                            end_time: e,
                            event: ev,
                            file_type: t,
                        },
                        session_id: i,
                    })
                }
            ),
            (arb_time(), arb_time(), any::<u32>(), s(), sid()).prop_map(|(b, e, p, t, i)| {
                Request::LogSearch(LogSearchRequest {
                    name: "OPLogQuery".to_owned(),
                    query: LogQuery {
                        begin_time: b,
                        end_time: e,
                        log_position: p,
                        log_type: t,
                    },
                    session_id: i,
                })
            }),
            (s(), sid()).prop_map(|(a, i)| {
                let mut m = MachineRequest::reboot(i);
                m.op.action = a;
                Request::Machine(m)
            }),
            (arb_time(), sid())
                .prop_map(|(t, i)| Request::TimeSetting(TimeSettingRequest::new(t, i))),
            named_req().prop_map(Request::TimeQuery),
            sid().prop_map(|i| Request::UpgradeStart(UpgradeStartRequest::new(i))),
            (proptest::collection::vec(any::<u8>(), 0..64), any::<bool>())
                .prop_map(|(data, end)| Request::UpgradeData(UpgradeChunk { data, end })),
            named_req().prop_map(Request::UpgradeProgress),
            (2000u16..3000, proptest::collection::vec(any::<u8>(), 0..32)).prop_map(
                |(m, payload)| Request::Other {
                    message_id: MessageId(m),
                    payload
                }
            ),
        ]
    }

    fn nv_reply() -> impl Strategy<Value = NamedValueReply> {
        (dotted(), ret(), sid(), value()).prop_map(|(name, ret, session_id, value)| {
            NamedValueReply {
                name,
                ret,
                session_id,
                value,
            }
        })
    }

    fn arb_reply() -> impl Strategy<Value = Reply> {
        prop_oneof![
            (sid(), ret(), any::<u32>(), s()).prop_map(|(i, r, a, d)| {
                let mut l = LoginReply::success(i);
                l.ret = r;
                l.alive_interval = a;
                l.device_type = d;
                Reply::Login(l)
            }),
            named_rep().prop_map(Reply::Logout),
            named_rep().prop_map(Reply::KeepAlive),
            (sid(), any::<u32>(), s(), any::<u32>()).prop_map(|(i, up, sn, ch)| {
                let info = SystemInfo {
                    device_run_time: HexU32(up),
                    serial_no: sn,
                    video_in_channel: ch,
                    ..SystemInfo::default()
                };
                Reply::SystemInfo(SystemInfoReply::new(i, info))
            }),
            nv_reply()
                .prop_filter("SystemInfo is typed", |r| r.name != "SystemInfo")
                .prop_map(Reply::Info),
            named_rep().prop_map(Reply::ConfigSet),
            nv_reply().prop_map(Reply::ConfigGet),
            nv_reply().prop_map(Reply::ConfigGetDefault),
            nv_reply().prop_map(Reply::Ability),
            named_rep().prop_map(Reply::Monitor),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(Reply::MediaData),
            named_rep().prop_map(Reply::MonitorClaim),
            (
                proptest::option::of(proptest::collection::vec(
                    (arb_time(), any::<u32>(), s()),
                    0..5
                )),
                ret(),
                sid()
            )
                .prop_map(|(files, ret, session_id)| {
                    Reply::FileSearch(FileSearchReply {
                        name: "OPFileQuery".to_owned(),
                        files: files.map(|v| {
                            v.into_iter()
                                .map(|(t, len, name)| FileInfo {
                                    begin_time: t,
                                    disk_no: 0,
                                    end_time: t,
                                    file_length_kib: HexU32(len),
                                    file_name: name,
                                    serial_no: 1,
                                })
                                .collect()
                        }),
                        ret,
                        session_id,
                    })
                }),
            (
                proptest::option::of(proptest::collection::vec((arb_time(), s()), 0..5)),
                ret(),
                sid()
            )
                .prop_map(|(entries, ret, session_id)| {
                    Reply::LogSearch(LogSearchReply {
                        name: "OPLogQuery".to_owned(),
                        entries: entries.map(|v| {
                            v.into_iter()
                                .map(|(time, u)| LogEntry {
                                    data: u.clone(),
                                    position: 3,
                                    time,
                                    log_type: "LogIn".to_owned(),
                                    user: u,
                                })
                                .collect()
                        }),
                        ret,
                        session_id,
                    })
                }),
            named_rep().prop_map(Reply::SysManager),
            (arb_time(), sid()).prop_map(|(t, i)| Reply::TimeQuery(TimeQueryReply::new(t, i))),
            named_rep().prop_map(Reply::UpgradeStart),
            named_rep().prop_map(Reply::UpgradeData),
            named_rep().prop_map(Reply::UpgradeProgress),
        ]
    }

    proptest! {
        /// NETIP-MSG-01: every typed request round-trips through its packet.
        #[test]
        fn request_round_trip(r in arb_request(), seq: u32, session: u32) {
            let pk = r.to_packet(session, seq).unwrap();
            prop_assert_eq!(pk.header().sequence, seq);
            let bytes = pk.encode();
            let back = Packet::decode(&bytes, 1 << 16).unwrap();
            prop_assert_eq!(Request::from_packet(&back).unwrap(), r);
        }

        /// NETIP-MSG-01: every typed reply round-trips, and its JSON ends with 0x0A 0x00.
        #[test]
        fn reply_round_trip(r in arb_reply(), seq: u32, session: u32) {
            let req = Header::request(MessageId(r.message_id().0.wrapping_sub(1)), 0, seq);
            let pk = r.to_packet(&req, session).unwrap();
            prop_assert_eq!(pk.header().version, 1);
            prop_assert_eq!(pk.header().sequence, seq);
            prop_assert_eq!(pk.header().session_id, session);
            if !matches!(r, Reply::MediaData(_)) {
                prop_assert!(pk.payload().ends_with(&JSON_TRAILER));
            }
            prop_assert_eq!(Reply::decode(pk.message_id(), pk.payload()).unwrap(), r);
        }

        /// NETIP-FUZZ-01: request and reply decoders never panic on arbitrary payloads.
        #[test]
        fn decoders_never_panic(id in prop_oneof![1000u16..1010, 1020u16..1046, 1360u16..1362, 1410u16..1460, 1520u16..1530], payload in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = Request::decode(MessageId(id), &payload);
            let _ = Reply::decode(MessageId(id), &payload);
        }
    }
}
