//! Message ids and result codes (`Ret`) of NETIP.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A NETIP message id, as carried at offset 14 of the header.
///
/// A newtype rather than a closed enum: cameras use hundreds of ids, and a decoder must
/// carry any of them through. The ids of the spec are associated constants; a reply's id
/// is the request's id plus one ([`MessageId::reply`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MessageId(pub u16);

impl MessageId {
    /// Login request (1000).
    pub const LOGIN: MessageId = MessageId(1000);
    /// Login reply (1001).
    pub const LOGIN_REPLY: MessageId = MessageId(1001);
    /// Logout request (1002).
    pub const LOGOUT: MessageId = MessageId(1002);
    /// Logout reply (1003).
    pub const LOGOUT_REPLY: MessageId = MessageId(1003);
    /// Keepalive request (1006).
    pub const KEEPALIVE: MessageId = MessageId(1006);
    /// Keepalive reply (1007).
    pub const KEEPALIVE_REPLY: MessageId = MessageId(1007);
    /// Information query: `SystemInfo`, `StorageInfo` or `WorkState` (1020).
    pub const INFO: MessageId = MessageId(1020);
    /// Information reply (1021).
    pub const INFO_REPLY: MessageId = MessageId(1021);
    /// Configuration set (1040).
    pub const CONFIG_SET: MessageId = MessageId(1040);
    /// Configuration set reply (1041).
    pub const CONFIG_SET_REPLY: MessageId = MessageId(1041);
    /// Configuration get (1042).
    pub const CONFIG_GET: MessageId = MessageId(1042);
    /// Configuration get reply (1043).
    pub const CONFIG_GET_REPLY: MessageId = MessageId(1043);
    /// Default configuration get (1044).
    pub const CONFIG_GET_DEFAULT: MessageId = MessageId(1044);
    /// Default configuration get reply (1045).
    pub const CONFIG_GET_DEFAULT_REPLY: MessageId = MessageId(1045);
    /// Capabilities query: `SystemFunction`, `EncodeCapability` (1360).
    pub const ABILITY: MessageId = MessageId(1360);
    /// Capabilities reply (1361).
    pub const ABILITY_REPLY: MessageId = MessageId(1361);
    /// PTZ control (1400).
    pub const PTZ: MessageId = MessageId(1400);
    /// PTZ control reply (1401).
    pub const PTZ_REPLY: MessageId = MessageId(1401);
    /// Live monitor start/stop (1410).
    pub const MONITOR: MessageId = MessageId(1410);
    /// Live monitor start/stop reply (1411).
    pub const MONITOR_REPLY: MessageId = MessageId(1411);
    /// Live media data, camera to client (1412).
    pub const MONITOR_DATA: MessageId = MessageId(1412);
    /// Live monitor claim of a media connection (1413).
    pub const MONITOR_CLAIM: MessageId = MessageId(1413);
    /// Live monitor claim reply (1414).
    pub const MONITOR_CLAIM_REPLY: MessageId = MessageId(1414);
    /// Playback control (1420).
    pub const PLAYBACK: MessageId = MessageId(1420);
    /// Playback control reply (1421).
    pub const PLAYBACK_REPLY: MessageId = MessageId(1421);
    /// Playback end of file (1423).
    pub const PLAYBACK_EOF: MessageId = MessageId(1423);
    /// Playback claim of a media connection (1424).
    pub const PLAYBACK_CLAIM: MessageId = MessageId(1424);
    /// Playback claim reply (1425).
    pub const PLAYBACK_CLAIM_REPLY: MessageId = MessageId(1425);
    /// Playback or download media data (1426).
    pub const DOWNLOAD_DATA: MessageId = MessageId(1426);
    /// Recorded file search (1440).
    pub const FILE_SEARCH: MessageId = MessageId(1440);
    /// Recorded file search reply (1441).
    pub const FILE_SEARCH_REPLY: MessageId = MessageId(1441);
    /// Log search (1442).
    pub const LOG_SEARCH: MessageId = MessageId(1442);
    /// Log search reply (1443).
    pub const LOG_SEARCH_REPLY: MessageId = MessageId(1443);
    /// System operations: `OPMachine`, `OPTimeSetting` (1450).
    pub const SYS_MANAGER: MessageId = MessageId(1450);
    /// System operations reply (1451).
    pub const SYS_MANAGER_REPLY: MessageId = MessageId(1451);
    /// Time query (1452).
    pub const TIME_QUERY: MessageId = MessageId(1452);
    /// Time query reply (1453).
    pub const TIME_QUERY_REPLY: MessageId = MessageId(1453);
    /// First id of the users and groups range (1470).
    pub const USERS_FIRST: MessageId = MessageId(1470);
    /// Last id of the users and groups range (1488).
    pub const USERS_LAST: MessageId = MessageId(1488);
    /// Alarm pushed by the camera (1504).
    pub const ALARM: MessageId = MessageId(1504);
    /// Firmware upgrade start (1520).
    pub const UPGRADE: MessageId = MessageId(1520);
    /// Firmware upgrade start reply (1521).
    pub const UPGRADE_REPLY: MessageId = MessageId(1521);
    /// Firmware upgrade data chunk, binary payload (1522).
    pub const UPGRADE_DATA: MessageId = MessageId(1522);
    /// Firmware upgrade data chunk acknowledgement (1523).
    pub const UPGRADE_DATA_REPLY: MessageId = MessageId(1523);
    /// Firmware upgrade progress (1524).
    pub const UPGRADE_PROGRESS: MessageId = MessageId(1524);
    /// Firmware upgrade progress reply (1525).
    pub const UPGRADE_PROGRESS_REPLY: MessageId = MessageId(1525);
    /// Discovery over UDP broadcast (1530).
    pub const DISCOVERY: MessageId = MessageId(1530);
    /// Discovery reply (1531).
    pub const DISCOVERY_REPLY: MessageId = MessageId(1531);
    /// Snapshot (1560).
    pub const SNAPSHOT: MessageId = MessageId(1560);
    /// Snapshot reply (1561).
    pub const SNAPSHOT_REPLY: MessageId = MessageId(1561);

    /// The id of the reply to this request: the id plus one (wrapping, as the field is 16 bits).
    pub const fn reply(self) -> MessageId {
        MessageId(self.0.wrapping_add(1))
    }

    /// Whether header bytes 12 and 13 mean channel and end flag rather than fragment
    /// count and index (live media, playback/download data, upgrade data).
    pub const fn uses_media_fields(self) -> bool {
        matches!(self.0, 1412 | 1426 | 1522)
    }

    /// Whether the payload is binary rather than JSON.
    pub const fn has_binary_payload(self) -> bool {
        self.uses_media_fields()
    }

    /// A short human name for ids of the spec, `None` for others.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1000 => "login",
            1001 => "login reply",
            1002 => "logout",
            1003 => "logout reply",
            1006 => "keepalive",
            1007 => "keepalive reply",
            1020 => "info",
            1021 => "info reply",
            1040 => "config set",
            1041 => "config set reply",
            1042 => "config get",
            1043 => "config get reply",
            1044 => "config get default",
            1045 => "config get default reply",
            1360 => "capabilities",
            1361 => "capabilities reply",
            1400 => "PTZ",
            1401 => "PTZ reply",
            1410 => "monitor",
            1411 => "monitor reply",
            1412 => "live media data",
            1413 => "monitor claim",
            1414 => "monitor claim reply",
            1420 => "playback",
            1421 => "playback reply",
            1423 => "playback end of file",
            1424 => "playback claim",
            1425 => "playback claim reply",
            1426 => "download data",
            1440 => "file search",
            1441 => "file search reply",
            1442 => "log search",
            1443 => "log search reply",
            1450 => "system operation",
            1451 => "system operation reply",
            1452 => "time query",
            1453 => "time query reply",
            1470..=1488 => "users and groups",
            1504 => "alarm",
            1520 => "upgrade start",
            1521 => "upgrade start reply",
            1522 => "upgrade data",
            1523 => "upgrade data ack",
            1524 => "upgrade progress",
            1525 => "upgrade progress reply",
            1530 => "discovery",
            1531 => "discovery reply",
            1560 => "snapshot",
            1561 => "snapshot reply",
            _ => return None,
        })
    }
}

impl From<u16> for MessageId {
    fn from(v: u16) -> Self {
        MessageId(v)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} ({name})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// A NETIP result code, the `Ret` field of every reply.
///
/// Serialised as a JSON integer. Known codes always decode to their named variant;
/// [`Ret::Other`] holds only codes the spec does not list, so derived equality is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Ret {
    /// 100: success.
    Ok,
    /// 101: unknown error.
    UnknownError,
    /// 102: not supported.
    NotSupported,
    /// 103: illegal request.
    IllegalRequest,
    /// 104: user already logged in.
    AlreadyLoggedIn,
    /// 105: user not logged in.
    NotLoggedIn,
    /// 106: wrong user name or password.
    WrongUserOrPassword,
    /// 107: no permission.
    NoPermission,
    /// 108: timeout.
    Timeout,
    /// 109: file not found.
    FileNotFound,
    /// 117: bad message format.
    BadMessageFormat,
    /// 119: no files found.
    NoFiles,
    /// 150: success, reboot required.
    OkRebootRequired,
    /// 202: not logged in (login family).
    LoginNotLoggedIn,
    /// 203: wrong password.
    WrongPassword,
    /// 204: illegal user.
    IllegalUser,
    /// 205: account locked.
    Locked,
    /// 206: account blacklisted.
    Blacklisted,
    /// 207: already logged in (login family).
    LoginAlreadyLoggedIn,
    /// 502: illegal command.
    IllegalCommand,
    /// 511: an upgrade is already running.
    AlreadyUpgrading,
    /// 512: upgrade not started.
    UpgradeNotStarted,
    /// 513: bad upgrade data.
    BadUpgradeData,
    /// 514: upgrade failed.
    UpgradeFailed,
    /// 515: upgrade succeeded.
    UpgradeSucceeded,
    /// 603: reboot required.
    RebootRequired,
    /// A code the spec does not list.
    Other(u32),
}

/// Every named code with its number and description, in numeric order.
const RET_TABLE: [(Ret, u32, &str); 26] = [
    (Ret::Ok, 100, "OK"),
    (Ret::UnknownError, 101, "unknown error"),
    (Ret::NotSupported, 102, "not supported"),
    (Ret::IllegalRequest, 103, "illegal request"),
    (Ret::AlreadyLoggedIn, 104, "already logged in"),
    (Ret::NotLoggedIn, 105, "not logged in"),
    (Ret::WrongUserOrPassword, 106, "wrong user or password"),
    (Ret::NoPermission, 107, "no permission"),
    (Ret::Timeout, 108, "timeout"),
    (Ret::FileNotFound, 109, "file not found"),
    (Ret::BadMessageFormat, 117, "bad message format"),
    (Ret::NoFiles, 119, "no files"),
    (Ret::OkRebootRequired, 150, "OK, reboot required"),
    (Ret::LoginNotLoggedIn, 202, "not logged in"),
    (Ret::WrongPassword, 203, "wrong password"),
    (Ret::IllegalUser, 204, "illegal user"),
    (Ret::Locked, 205, "locked"),
    (Ret::Blacklisted, 206, "blacklisted"),
    (Ret::LoginAlreadyLoggedIn, 207, "already logged in"),
    (Ret::IllegalCommand, 502, "illegal command"),
    (Ret::AlreadyUpgrading, 511, "already upgrading"),
    (Ret::UpgradeNotStarted, 512, "upgrade not started"),
    (Ret::BadUpgradeData, 513, "bad upgrade data"),
    (Ret::UpgradeFailed, 514, "upgrade failed"),
    (Ret::UpgradeSucceeded, 515, "upgrade succeeded"),
    (Ret::RebootRequired, 603, "reboot required"),
];

impl Ret {
    /// Every code the spec names, in numeric order.
    pub fn known() -> impl Iterator<Item = Ret> {
        RET_TABLE.iter().map(|(r, _, _)| *r)
    }

    /// The numeric code.
    pub fn code(self) -> u32 {
        match self {
            Ret::Other(c) => c,
            named => RET_TABLE
                .iter()
                .find(|(r, _, _)| *r == named)
                .map_or(0, |(_, c, _)| *c),
        }
    }

    /// The variant for a numeric code; unknown codes become [`Ret::Other`].
    pub fn from_code(code: u32) -> Ret {
        RET_TABLE
            .iter()
            .find(|(_, c, _)| *c == code)
            .map_or(Ret::Other(code), |(r, _, _)| *r)
    }

    /// What the code means, for people.
    pub fn description(self) -> &'static str {
        match self {
            Ret::Other(_) => "unknown result code",
            named => RET_TABLE
                .iter()
                .find(|(r, _, _)| *r == named)
                .map_or("unknown result code", |(_, _, d)| *d),
        }
    }

    /// Whether the code reports success (100, 150, or 515 for an upgrade).
    pub fn is_success(self) -> bool {
        matches!(
            self,
            Ret::Ok | Ret::OkRebootRequired | Ret::UpgradeSucceeded
        )
    }
}

impl From<u32> for Ret {
    fn from(code: u32) -> Self {
        Ret::from_code(code)
    }
}

impl From<Ret> for u32 {
    fn from(r: Ret) -> Self {
        r.code()
    }
}

impl fmt::Display for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.description())
    }
}

impl Serialize for Ret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.code())
    }
}

impl<'de> Deserialize<'de> for Ret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u32::deserialize(d).map(Ret::from_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// NETIP-RET-01: every result code of the spec has a named variant with its number.
    #[test]
    fn ret_covers_every_spec_code() {
        let spec = [
            100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 117, 119, 150, 202, 203, 204, 205,
            206, 207, 502, 511, 512, 513, 514, 515, 603,
        ];
        for code in spec {
            let r = Ret::from_code(code);
            assert!(!matches!(r, Ret::Other(_)), "{code} has no variant");
            assert_eq!(r.code(), code);
        }
        assert_eq!(Ret::known().count(), spec.len());
        assert_eq!(Ret::from_code(4242), Ret::Other(4242));
        assert_eq!(Ret::WrongPassword.to_string(), "203 (wrong password)");
        assert!(Ret::UpgradeSucceeded.is_success());
        assert!(!Ret::UpgradeFailed.is_success());
    }

    /// NETIP-RET-01: `Ret` is a JSON integer on the wire, and unknown codes survive.
    #[test]
    fn ret_serde_is_integer() {
        assert_eq!(serde_json::to_string(&Ret::Ok).unwrap(), "100");
        let r: Ret = serde_json::from_str("515").unwrap();
        assert_eq!(r, Ret::UpgradeSucceeded);
        let r: Ret = serde_json::from_str("777").unwrap();
        assert_eq!(serde_json::to_string(&r).unwrap(), "777");
        assert!(serde_json::from_str::<Ret>("\"100\"").is_err());
    }

    /// NETIP-HDR-03: a reply's message id is the request's id plus one.
    #[test]
    fn reply_id_is_request_plus_one() {
        assert_eq!(MessageId::LOGIN.reply(), MessageId::LOGIN_REPLY);
        assert_eq!(
            MessageId::MONITOR_CLAIM.reply(),
            MessageId::MONITOR_CLAIM_REPLY
        );
        assert_eq!(
            MessageId::UPGRADE_DATA.reply(),
            MessageId::UPGRADE_DATA_REPLY
        );
        assert_eq!(MessageId(u16::MAX).reply(), MessageId(0));
        assert_eq!(MessageId::LOGIN.to_string(), "1000 (login)");
    }

    proptest! {
        #[test]
        fn ret_code_round_trip(code: u32) {
            let r = Ret::from_code(code);
            prop_assert_eq!(r.code(), code);
            let json = serde_json::to_string(&r).unwrap();
            prop_assert_eq!(serde_json::from_str::<Ret>(&json).unwrap(), r);
        }
    }
}
