//! Value types shared by NETIP messages: session ids, hex counters and date-times.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::NetipError;
use crate::time::Timestamp;

/// Parses `0x0000ABCD`, `0X...` or bare hex digits into a `u32`.
fn parse_hex_u32(field: &'static str, s: &str) -> Result<u32, NetipError> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NetipError::InvalidField {
            field,
            reason: format!("{s:?} is not a 32-bit hex string like \"0x0000001F\""),
        });
    }
    u32::from_str_radix(digits, 16).map_err(|e| NetipError::InvalidField {
        field,
        reason: e.to_string(),
    })
}

struct HexVisitor(&'static str);

impl Visitor<'_> for HexVisitor {
    type Value = u32;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a hex string like \"0x0000001F\" for {}", self.0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u32, E> {
        parse_hex_u32(self.0, v).map_err(E::custom)
    }
    // Some firmware writes counters as plain numbers; accept them when they fit.
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u32, E> {
        u32::try_from(v).map_err(|_| E::custom(format!("{} {v} does not fit 32 bits", self.0)))
    }
}

/// A NETIP session id, written in JSON as the string `"0x%08X"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SessionId(pub u32);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08X}", self.0)
    }
}

impl FromStr for SessionId {
    type Err = NetipError;
    fn from_str(s: &str) -> Result<Self, NetipError> {
        parse_hex_u32("SessionID", s).map(SessionId)
    }
}

impl Serialize for SessionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(HexVisitor("SessionID")).map(SessionId)
    }
}

/// A counter written in JSON as a hex string `"0x%08X"` (uptime in minutes, disk sizes
/// in MiB, file lengths in KiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HexU32(pub u32);

impl fmt::Display for HexU32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08X}", self.0)
    }
}

impl Serialize for HexU32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HexU32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(HexVisitor("hex counter")).map(HexU32)
    }
}

/// A calendar date and time as NETIP writes it, `"YYYY-MM-DD HH:MM:SS"`, always valid.
///
/// The all-zero value [`NetipTime::NONE`] (`"0000-00-00 00:00:00"`) means "no time".
/// Times carry no zone: cameras use their local time, which the simulator treats as UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NetipTime {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

/// Days in `month` of `year` in the proleptic Gregorian calendar.
pub(crate) fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

impl NetipTime {
    /// "No time", written `"0000-00-00 00:00:00"`.
    pub const NONE: NetipTime = NetipTime {
        year: 0,
        month: 0,
        day: 0,
        hour: 0,
        minute: 0,
        second: 0,
    };

    /// A validated date-time (year 1 to 9999, a real day of the month, 24-hour clock).
    pub fn new(
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
    ) -> Result<NetipTime, NetipError> {
        let bad = |reason: String| NetipError::BadTime {
            what: "date",
            reason,
        };
        if !(1..=9999).contains(&year) {
            return Err(bad(format!("year {year} is outside 1..=9999")));
        }
        if !(1..=12).contains(&month) {
            return Err(bad(format!("month {month} is outside 1..=12")));
        }
        let dim = days_in_month(year, month);
        if day == 0 || day > dim {
            return Err(bad(format!(
                "day {day} is outside 1..={dim} for {year}-{month:02}"
            )));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(bad(format!(
                "{hour:02}:{minute:02}:{second:02} is not a time of day"
            )));
        }
        Ok(NetipTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// Whether this is [`NetipTime::NONE`].
    pub fn is_none(&self) -> bool {
        *self == NetipTime::NONE
    }

    /// The year (0 only for `NONE`).
    pub fn year(&self) -> u16 {
        self.year
    }
    /// The month, 1 to 12 (0 only for `NONE`).
    pub fn month(&self) -> u8 {
        self.month
    }
    /// The day of the month, from 1 (0 only for `NONE`).
    pub fn day(&self) -> u8 {
        self.day
    }
    /// The hour, 0 to 23.
    pub fn hour(&self) -> u8 {
        self.hour
    }
    /// The minute, 0 to 59.
    pub fn minute(&self) -> u8 {
        self.minute
    }
    /// The second, 0 to 59.
    pub fn second(&self) -> u8 {
        self.second
    }

    /// The civil time of `ts` (UTC), whole seconds; `None` after year 9999.
    pub fn from_timestamp(ts: Timestamp) -> Option<NetipTime> {
        let secs = ts.as_secs();
        let days = i64::try_from(secs / 86_400).ok()?;
        let rem = secs % 86_400;
        // Howard Hinnant's civil_from_days.
        let z = days.checked_add(719_468)?;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe.checked_add(era.checked_mul(400)?)? + i64::from(month <= 2);
        NetipTime::new(
            u16::try_from(year).ok()?,
            u8::try_from(month).ok()?,
            u8::try_from(day).ok()?,
            u8::try_from(rem / 3600).ok()?,
            u8::try_from(rem % 3600 / 60).ok()?,
            u8::try_from(rem % 60).ok()?,
        )
        .ok()
    }

    /// This time as a timestamp (UTC); `None` for `NONE` and dates before 1970.
    pub fn to_timestamp(&self) -> Option<Timestamp> {
        if self.is_none() {
            return None;
        }
        // Howard Hinnant's days_from_civil.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let m = i64::from(self.month);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let mp = if m > 2 { m - 3 } else { m + 9 };
        let doy = (153 * mp + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let secs = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        u64::try_from(secs).ok().map(Timestamp::from_secs)
    }
}

impl fmt::Display for NetipTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

impl FromStr for NetipTime {
    type Err = NetipError;
    fn from_str(s: &str) -> Result<Self, NetipError> {
        let bad = || NetipError::BadTime {
            what: "string",
            reason: format!("{s:?} is not \"YYYY-MM-DD HH:MM:SS\""),
        };
        let b = s.as_bytes();
        let shape_ok = b.len() == 19
            && b.iter().enumerate().all(|(i, &c)| match i {
                4 | 7 => c == b'-',
                10 => c == b' ',
                13 | 16 => c == b':',
                _ => c.is_ascii_digit(),
            });
        if !shape_ok {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> Result<u16, NetipError> {
            s.get(r).and_then(|t| t.parse().ok()).ok_or_else(bad)
        };
        let small = |r: std::ops::Range<usize>| -> Result<u8, NetipError> {
            u8::try_from(num(r)?).map_err(|_| bad())
        };
        let (y, mo, d) = (num(0..4)?, small(5..7)?, small(8..10)?);
        let (h, mi, se) = (small(11..13)?, small(14..16)?, small(17..19)?);
        if (y, mo, d, h, mi, se) == (0, 0, 0, 0, 0, 0) {
            return Ok(NetipTime::NONE);
        }
        NetipTime::new(y, mo, d, h, mi, se)
    }
}

impl Serialize for NetipTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NetipTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn arb_time() -> impl Strategy<Value = NetipTime> {
        (1970u16..2100, 1u8..=12, 1u8..=31, 0u8..24, 0u8..60, 0u8..60).prop_map(
            |(y, mo, d, h, mi, s)| {
                let d = d.min(days_in_month(y, mo));
                NetipTime::new(y, mo, d, h, mi, s).unwrap()
            },
        )
    }

    /// NETIP-JSON-01: `SessionID` is the string "0x%08X".
    #[test]
    fn session_id_format() {
        assert_eq!(
            serde_json::to_string(&SessionId(1)).unwrap(),
            "\"0x00000001\""
        );
        assert_eq!(
            serde_json::to_string(&SessionId(0xABCDEF12)).unwrap(),
            "\"0xABCDEF12\""
        );
        let s: SessionId = serde_json::from_str("\"0x0000ab12\"").unwrap();
        assert_eq!(s, SessionId(0xAB12));
        assert!(serde_json::from_str::<SessionId>("\"0xZZ\"").is_err());
        assert!(serde_json::from_str::<SessionId>("\"0x123456789\"").is_err());
        assert!(serde_json::from_str::<SessionId>("\"\"").is_err());
    }

    /// NETIP-JSON-02: times are "YYYY-MM-DD HH:MM:SS" and the all-zero time means none.
    #[test]
    fn time_string_format() {
        let t: NetipTime = "2024-05-01 12:00:00".parse().unwrap();
        assert_eq!(t.to_string(), "2024-05-01 12:00:00");
        assert_eq!(t.to_timestamp(), Some(Timestamp::from_secs(1_714_564_800)));
        let none: NetipTime = "0000-00-00 00:00:00".parse().unwrap();
        assert!(none.is_none());
        assert_eq!(none.to_string(), "0000-00-00 00:00:00");
        for bad in [
            "2024-13-01 00:00:00",
            "2023-02-29 00:00:00",
            "2024-05-01 24:00:00",
            "2024-05-01T12:00:00",
            "2024-5-1 12:00:00",
            "",
        ] {
            assert!(bad.parse::<NetipTime>().is_err(), "{bad} accepted");
        }
    }

    /// NETIP-JSON-03: counters are hex strings "0x%08X".
    #[test]
    fn hex_counter_format() {
        assert_eq!(
            serde_json::to_string(&HexU32(0x1F)).unwrap(),
            "\"0x0000001F\""
        );
        let h: HexU32 = serde_json::from_str("\"0x0001D2F4\"").unwrap();
        assert_eq!(h, HexU32(0x1D2F4));
        let h: HexU32 = serde_json::from_str("42").unwrap();
        assert_eq!(h, HexU32(42));
    }

    proptest! {
        /// NETIP-JSON-02: date-times round-trip through their string and a timestamp.
        #[test]
        fn time_round_trip(t in arb_time()) {
            let s = serde_json::to_string(&t).unwrap();
            prop_assert_eq!(serde_json::from_str::<NetipTime>(&s).unwrap(), t);
            let ts = t.to_timestamp().unwrap();
            prop_assert_eq!(NetipTime::from_timestamp(ts), Some(t));
        }

        #[test]
        fn hex_round_trip(v: u32) {
            let s = serde_json::to_string(&SessionId(v)).unwrap();
            prop_assert_eq!(serde_json::from_str::<SessionId>(&s).unwrap(), SessionId(v));
            let s = serde_json::to_string(&HexU32(v)).unwrap();
            prop_assert_eq!(serde_json::from_str::<HexU32>(&s).unwrap(), HexU32(v));
        }

        #[test]
        fn time_parse_never_panics(s in "[0-9: -]{0,22}") {
            let _ = s.parse::<NetipTime>();
        }
    }
}
