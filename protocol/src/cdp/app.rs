//! Application messages carried inside CDP/1 application records.
//!
//! One record carries exactly one message: `type (u8) || body`. The set is small on
//! purpose: liveness (heartbeats), video toward the relay, the platform telling a
//! device where to go, and signaling commands relayed from the app.

use crate::wire::{DecodeError, Reader, Writer};
use crate::Timestamp;

/// Longest endpoint name in an [`AppMessage::Assign`].
pub const MAX_ENDPOINT_LEN: usize = 255;
/// Most fallback endpoints in an [`AppMessage::Assign`].
pub const MAX_FALLBACKS: usize = 8;
/// Longest command or result body.
pub const MAX_COMMAND_BODY: usize = 4096;

/// What a signaling command asks the camera to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CommandKind {
    /// Pan, tilt or zoom.
    Ptz,
    /// Take a still picture.
    Snapshot,
    /// Read or change configuration.
    Config,
    /// Start or stop live view.
    LiveView,
}

impl CommandKind {
    fn to_byte(self) -> u8 {
        match self {
            CommandKind::Ptz => 1,
            CommandKind::Snapshot => 2,
            CommandKind::Config => 3,
            CommandKind::LiveView => 4,
        }
    }

    fn from_byte(b: u8) -> Result<Self, DecodeError> {
        Ok(match b {
            1 => CommandKind::Ptz,
            2 => CommandKind::Snapshot,
            3 => CommandKind::Config,
            4 => CommandKind::LiveView,
            other => {
                return Err(DecodeError::InvalidValue {
                    field: "Command.kind",
                    reason: format!("unknown command kind {other}"),
                })
            }
        })
    }
}

/// One application message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppMessage {
    /// Device → platform: the device is alive.
    Heartbeat {
        /// Counts up from 0 per connection.
        seq: u32,
        /// Seconds since the device booted.
        uptime_secs: u32,
    },
    /// Platform → device: answers a heartbeat.
    HeartbeatAck {
        /// The heartbeat's `seq`.
        seq: u32,
        /// The platform's clock.
        server_time: Timestamp,
    },
    /// Device → platform: one E2E-sealed video frame for the relay.
    Video(Vec<u8>),
    /// Platform → device: where to send video and where to reconnect if this gateway fails.
    Assign {
        /// The relay endpoint.
        relay: String,
        /// Gateway endpoints to try, in order, when this one is unreachable.
        fallbacks: Vec<String>,
    },
    /// Platform → device: a signaling command from the app.
    Command {
        /// Matches the result to the command.
        id: u32,
        /// What to do.
        kind: CommandKind,
        /// Command parameters (opaque to the platform).
        body: Vec<u8>,
    },
    /// Device → platform: the result of a command.
    CommandResult {
        /// The command's `id`.
        id: u32,
        /// 0 for success, otherwise a device-specific error code.
        status: u8,
        /// Result data (opaque to the platform).
        body: Vec<u8>,
    },
}

impl AppMessage {
    /// Encodes the message as one record payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            AppMessage::Heartbeat { seq, uptime_secs } => {
                out.push(1);
                out.put_u32(*seq);
                out.put_u32(*uptime_secs);
            }
            AppMessage::HeartbeatAck { seq, server_time } => {
                out.push(2);
                out.put_u32(*seq);
                out.put_u64(server_time.as_micros());
            }
            AppMessage::Video(frame) => {
                out.reserve(1 + frame.len());
                out.push(3);
                out.extend_from_slice(frame);
            }
            AppMessage::Assign { relay, fallbacks } => {
                out.push(4);
                put_name(&mut out, relay);
                let n = fallbacks.len().min(MAX_FALLBACKS);
                out.push(n as u8);
                for f in &fallbacks[..n] {
                    put_name(&mut out, f);
                }
            }
            AppMessage::Command { id, kind, body } => {
                out.push(5);
                out.put_u32(*id);
                out.push(kind.to_byte());
                out.put_vec16(&body[..body.len().min(MAX_COMMAND_BODY)]);
            }
            AppMessage::CommandResult { id, status, body } => {
                out.push(6);
                out.put_u32(*id);
                out.push(*status);
                out.put_vec16(&body[..body.len().min(MAX_COMMAND_BODY)]);
            }
        }
        out
    }

    /// Decodes one record payload.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(payload);
        let msg = match r.u8("AppMessage.type")? {
            1 => AppMessage::Heartbeat {
                seq: r.u32("Heartbeat.seq")?,
                uptime_secs: r.u32("Heartbeat.uptime")?,
            },
            2 => AppMessage::HeartbeatAck {
                seq: r.u32("HeartbeatAck.seq")?,
                server_time: Timestamp::from_micros(r.u64("HeartbeatAck.server_time")?),
            },
            3 => {
                let frame = r.rest().to_vec();
                return Ok(AppMessage::Video(frame));
            }
            4 => {
                let relay = r.str16("Assign.relay", MAX_ENDPOINT_LEN)?.to_owned();
                let n = usize::from(r.u8("Assign.fallback_count")?);
                if n > MAX_FALLBACKS {
                    return Err(DecodeError::LengthTooLarge {
                        field: "Assign.fallback_count",
                        len: n as u64,
                        max: MAX_FALLBACKS as u64,
                    });
                }
                let mut fallbacks = Vec::with_capacity(n);
                for _ in 0..n {
                    fallbacks.push(r.str16("Assign.fallback", MAX_ENDPOINT_LEN)?.to_owned());
                }
                AppMessage::Assign { relay, fallbacks }
            }
            5 => AppMessage::Command {
                id: r.u32("Command.id")?,
                kind: CommandKind::from_byte(r.u8("Command.kind")?)?,
                body: r.vec16("Command.body", MAX_COMMAND_BODY)?.to_vec(),
            },
            6 => AppMessage::CommandResult {
                id: r.u32("CommandResult.id")?,
                status: r.u8("CommandResult.status")?,
                body: r.vec16("CommandResult.body", MAX_COMMAND_BODY)?.to_vec(),
            },
            other => {
                return Err(DecodeError::InvalidValue {
                    field: "AppMessage.type",
                    reason: format!("unknown message type {other}"),
                })
            }
        };
        r.finish("AppMessage")?;
        Ok(msg)
    }
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    let bytes = name.as_bytes();
    out.put_vec16(&bytes[..bytes.len().min(MAX_ENDPOINT_LEN)]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name() -> impl Strategy<Value = String> {
        "[a-z0-9.:-]{0,40}"
    }

    fn message() -> impl Strategy<Value = AppMessage> {
        let kind = prop::sample::select(vec![
            CommandKind::Ptz,
            CommandKind::Snapshot,
            CommandKind::Config,
            CommandKind::LiveView,
        ]);
        let body = || prop::collection::vec(any::<u8>(), 0..200);
        prop_oneof![
            (any::<u32>(), any::<u32>())
                .prop_map(|(seq, uptime_secs)| AppMessage::Heartbeat { seq, uptime_secs }),
            (any::<u32>(), any::<u64>()).prop_map(|(seq, t)| AppMessage::HeartbeatAck {
                seq,
                server_time: Timestamp::from_micros(t)
            }),
            body().prop_map(AppMessage::Video),
            (name(), prop::collection::vec(name(), 0..=MAX_FALLBACKS))
                .prop_map(|(relay, fallbacks)| AppMessage::Assign { relay, fallbacks }),
            (any::<u32>(), kind, body()).prop_map(|(id, kind, body)| AppMessage::Command {
                id,
                kind,
                body
            }),
            (any::<u32>(), any::<u8>(), body())
                .prop_map(|(id, status, body)| AppMessage::CommandResult { id, status, body }),
        ]
    }

    proptest! {
        /// CDP-APP-01: every application message round-trips through its encoding.
        #[test]
        fn cdp_app_01_round_trip(m in message()) {
            prop_assert_eq!(AppMessage::decode(&m.encode()).unwrap(), m);
        }

        /// CDP-APP-02: the decoder is total and refuses what it cannot parse.
        #[test]
        fn cdp_app_02_decoder_total(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = AppMessage::decode(&bytes);
        }
    }

    /// CDP-APP-01: the heartbeat layout is pinned.
    #[test]
    fn cdp_app_01_heartbeat_bytes() {
        let m = AppMessage::Heartbeat {
            seq: 2,
            uptime_secs: 300,
        };
        assert_eq!(m.encode(), [1, 0, 0, 0, 2, 0, 0, 1, 44]);
    }

    /// CDP-APP-02: unknown types, unknown command kinds, too many fallbacks and trailing
    /// bytes are refused.
    #[test]
    fn cdp_app_02_negative() {
        assert!(AppMessage::decode(&[]).is_err());
        assert!(AppMessage::decode(&[99]).is_err());
        assert!(AppMessage::decode(&[5, 0, 0, 0, 1, 9, 0, 0]).is_err());
        assert!(matches!(
            AppMessage::decode(&[4, 0, 0, 9]),
            Err(DecodeError::LengthTooLarge { len: 9, .. })
        ));
        let mut hb = AppMessage::Heartbeat {
            seq: 1,
            uptime_secs: 1,
        }
        .encode();
        hb.push(0);
        assert!(matches!(
            AppMessage::decode(&hb),
            Err(DecodeError::TrailingBytes { .. })
        ));
    }
}
