//! Application messages carried inside CDP/1 application records.
//!
//! One record carries exactly one message: `type (u8) || body`. The set is small on
//! purpose: liveness (heartbeats), video toward the relay, the platform telling a
//! device where to go, and signaling commands relayed from the app. Apps (viewers)
//! speak the same record layer after an `AppHello`: sign in, list devices, get an
//! authorization code, send a signaling command.

use std::time::Duration;

use crate::wire::{DecodeError, Reader, Writer};
use crate::Timestamp;

/// How long a platform keeps an app session that sends nothing: several of an app's
/// keepalives, and longer than a person waits for a fresh one-time code (one 30 s step).
/// Apps send a keepalive well within it.
pub const APP_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Length of the time step of the one-time codes in [`AppMessage::Login`], in seconds
/// (RFC 6238's recommended value): platform and app must agree on it.
pub const TOTP_STEP_SECS: u64 = 30;

/// Digits in the one-time codes users type (what authenticator apps show by default).
pub const TOTP_DIGITS: usize = 6;

/// Longest endpoint name in an [`AppMessage::Assign`].
pub const MAX_ENDPOINT_LEN: usize = 255;
/// Most fallback endpoints in an [`AppMessage::Assign`].
pub const MAX_FALLBACKS: usize = 8;
/// Longest command or result body.
pub const MAX_COMMAND_BODY: usize = 4096;
/// Longest username, password, one-time code, device id or authorization code.
pub const MAX_TEXT_LEN: usize = 254;
/// Longest human-readable status message.
pub const MAX_MESSAGE_LEN: usize = 1024;
/// Most devices in one [`AppMessage::DeviceList`].
pub const MAX_DEVICES: usize = 256;
/// Largest image part in one [`AppMessage::OtaChunk`].
pub const MAX_OTA_CHUNK: usize = 32 * 1024;
/// Largest signed manifest in an [`AppMessage::OtaOffer`].
pub const MAX_OTA_MANIFEST: usize = 4096;

/// Text that must never be printed: a password, a one-time code, an authorization
/// code. `Debug` shows `<redacted>`; equality is constant-time; zeroed on drop.
#[derive(Clone, Default)]
pub struct SecretText(zeroize::Zeroizing<String>);

impl SecretText {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Self {
        SecretText(zeroize::Zeroizing::new(text.into()))
    }

    /// The text, for the one place that checks it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl PartialEq for SecretText {
    fn eq(&self, other: &Self) -> bool {
        subtle::ConstantTimeEq::ct_eq(self.0.as_bytes(), other.0.as_bytes()).into()
    }
}

impl Eq for SecretText {}

/// The outcome an app request reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AppStatus {
    /// Done.
    Ok,
    /// The password was right; send it again with a one-time code.
    SecondFactorRequired,
    /// Wrong credentials, wrong code, or a refused sign-in.
    Refused,
    /// Too many failures: locked or rate limited for a while.
    Locked,
    /// The request needs a signed-in session.
    NotSignedIn,
    /// No such device for this user (another tenant's devices do not exist for them).
    NotFound,
    /// The authorization code is missing, spent, expired, or for another action.
    Unauthorized,
    /// The device is not connected.
    Offline,
    /// The device did not answer in time.
    Timeout,
}

impl AppStatus {
    fn to_byte(self) -> u8 {
        match self {
            AppStatus::Ok => 0,
            AppStatus::SecondFactorRequired => 1,
            AppStatus::Refused => 2,
            AppStatus::Locked => 3,
            AppStatus::NotSignedIn => 4,
            AppStatus::NotFound => 5,
            AppStatus::Unauthorized => 6,
            AppStatus::Offline => 7,
            AppStatus::Timeout => 8,
        }
    }

    fn from_byte(b: u8) -> Result<Self, DecodeError> {
        Ok(match b {
            0 => AppStatus::Ok,
            1 => AppStatus::SecondFactorRequired,
            2 => AppStatus::Refused,
            3 => AppStatus::Locked,
            4 => AppStatus::NotSignedIn,
            5 => AppStatus::NotFound,
            6 => AppStatus::Unauthorized,
            7 => AppStatus::Offline,
            8 => AppStatus::Timeout,
            other => {
                return Err(DecodeError::InvalidValue {
                    field: "AppStatus",
                    reason: format!("unknown status {other}"),
                })
            }
        })
    }
}

/// One device in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceEntry {
    /// The opaque id the app uses in requests.
    pub id: String,
    /// The masked serial number (`CAM-****0042`).
    pub label: String,
    /// Whether the device has a session right now.
    pub online: bool,
}

/// Where a live view goes: the relay endpoint, the stream and the token that admits
/// one side (camera or viewer) to it. Carried in the body of a live-view command and
/// of its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveViewGrant {
    /// The relay endpoint (`host:port`).
    pub relay: String,
    /// The stream id the relay routes by.
    pub stream_id: u32,
    /// The video key epoch the camera seals this stream with (0 in the camera's grant:
    /// the camera picks it and reports it in its result).
    pub epoch: u32,
    /// The admission token (MAC over role, stream and expiry; see the relay).
    pub token: Vec<u8>,
}

impl LiveViewGrant {
    /// Encodes the grant as a command body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_name(&mut out, &self.relay);
        out.put_u32(self.stream_id);
        out.put_u32(self.epoch);
        out.put_vec16(&self.token[..self.token.len().min(MAX_TEXT_LEN)]);
        out
    }

    /// Decodes a grant from a command body.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let grant = LiveViewGrant {
            relay: r.str16("LiveViewGrant.relay", MAX_ENDPOINT_LEN)?.to_owned(),
            stream_id: r.u32("LiveViewGrant.stream_id")?,
            epoch: r.u32("LiveViewGrant.epoch")?,
            token: r.vec16("LiveViewGrant.token", MAX_TEXT_LEN)?.to_vec(),
        };
        r.finish("LiveViewGrant")?;
        Ok(grant)
    }
}

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
    /// App → platform: sign in (with the one-time code when asked for one).
    Login {
        /// Username.
        username: String,
        /// Password.
        password: SecretText,
        /// One-time code from the authenticator app; empty if none.
        totp: SecretText,
    },
    /// Platform → app: how a sign-in went.
    LoginResult {
        /// The outcome.
        status: AppStatus,
        /// Why, in words.
        message: String,
    },
    /// App → platform: list my devices.
    ListDevices,
    /// Platform → app: the signed-in user's devices.
    DeviceList {
        /// The outcome.
        status: AppStatus,
        /// The devices (owned or shared).
        devices: Vec<DeviceEntry>,
    },
    /// App → platform: a single-use authorization code for one action on one device.
    Authorize {
        /// The device id.
        device: String,
        /// The action.
        kind: CommandKind,
    },
    /// Platform → app: the code (empty unless `status` is ok).
    Authorized {
        /// The outcome.
        status: AppStatus,
        /// The code to send with the command.
        code: SecretText,
    },
    /// App → platform: a signaling command for a device, with its authorization code.
    Signal {
        /// Matches the result to the request.
        id: u32,
        /// The device id.
        device: String,
        /// The authorization code for this device and action.
        code: SecretText,
        /// What to do.
        kind: CommandKind,
        /// Parameters (opaque to the platform).
        body: Vec<u8>,
    },
    /// Device → platform: what it is and runs (sent after every handshake).
    DeviceInfo {
        /// The model.
        model: String,
        /// The firmware version running.
        version: String,
    },
    /// Platform → device: a firmware image to install, with its vendor-signed manifest.
    OtaOffer {
        /// The signed manifest, exactly as the vendor encoded it.
        manifest: Vec<u8>,
        /// The image's size in bytes.
        image_size: u64,
    },
    /// Device → platform: send this part of the offered image.
    OtaFetch {
        /// Offset into the image.
        offset: u64,
        /// Most bytes wanted.
        len: u32,
    },
    /// Platform → device: a part of the offered image.
    OtaChunk {
        /// Offset into the image.
        offset: u64,
        /// The bytes (at most [`MAX_OTA_CHUNK`]).
        data: Vec<u8>,
    },
    /// Device → platform: how an offered update ended.
    OtaReport {
        /// The offered version.
        version: String,
        /// 0 installed, 1 refused, 2 failed.
        result: u8,
        /// Why it was refused (a refusal code name), or empty.
        reason: String,
    },
    /// Platform → app: the outcome of a signal (for live view, a [`LiveViewGrant`]).
    SignalResult {
        /// The signal's `id`.
        id: u32,
        /// The platform's verdict.
        status: AppStatus,
        /// The device's status byte (0 = ok) when it answered.
        device_status: u8,
        /// Result data.
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
            AppMessage::Login {
                username,
                password,
                totp,
            } => {
                out.push(7);
                put_text(&mut out, username);
                put_text(&mut out, password.expose());
                put_text(&mut out, totp.expose());
            }
            AppMessage::LoginResult { status, message } => {
                out.push(8);
                out.push(status.to_byte());
                put_message(&mut out, message);
            }
            AppMessage::ListDevices => out.push(9),
            AppMessage::DeviceList { status, devices } => {
                out.push(10);
                out.push(status.to_byte());
                let n = devices.len().min(MAX_DEVICES);
                out.put_u16(n as u16);
                for d in &devices[..n] {
                    put_text(&mut out, &d.id);
                    put_text(&mut out, &d.label);
                    out.push(u8::from(d.online));
                }
            }
            AppMessage::Authorize { device, kind } => {
                out.push(11);
                put_text(&mut out, device);
                out.push(kind.to_byte());
            }
            AppMessage::Authorized { status, code } => {
                out.push(12);
                out.push(status.to_byte());
                put_text(&mut out, code.expose());
            }
            AppMessage::Signal {
                id,
                device,
                code,
                kind,
                body,
            } => {
                out.push(13);
                out.put_u32(*id);
                put_text(&mut out, device);
                put_text(&mut out, code.expose());
                out.push(kind.to_byte());
                out.put_vec16(&body[..body.len().min(MAX_COMMAND_BODY)]);
            }
            AppMessage::DeviceInfo { model, version } => {
                out.push(15);
                put_text(&mut out, model);
                put_text(&mut out, version);
            }
            AppMessage::OtaOffer {
                manifest,
                image_size,
            } => {
                out.push(16);
                out.put_vec16(&manifest[..manifest.len().min(MAX_OTA_MANIFEST)]);
                out.put_u64(*image_size);
            }
            AppMessage::OtaFetch { offset, len } => {
                out.push(17);
                out.put_u64(*offset);
                out.put_u32(*len);
            }
            AppMessage::OtaChunk { offset, data } => {
                out.push(18);
                out.put_u64(*offset);
                out.put_vec16(&data[..data.len().min(MAX_OTA_CHUNK)]);
            }
            AppMessage::OtaReport {
                version,
                result,
                reason,
            } => {
                out.push(19);
                put_text(&mut out, version);
                out.push(*result);
                put_text(&mut out, reason);
            }
            AppMessage::SignalResult {
                id,
                status,
                device_status,
                body,
            } => {
                out.push(14);
                out.put_u32(*id);
                out.push(status.to_byte());
                out.push(*device_status);
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
            7 => AppMessage::Login {
                username: r.str16("Login.username", MAX_TEXT_LEN)?.to_owned(),
                password: SecretText::new(r.str16("Login.password", MAX_TEXT_LEN)?),
                totp: SecretText::new(r.str16("Login.totp", MAX_TEXT_LEN)?),
            },
            8 => AppMessage::LoginResult {
                status: AppStatus::from_byte(r.u8("LoginResult.status")?)?,
                message: r.str16("LoginResult.message", MAX_MESSAGE_LEN)?.to_owned(),
            },
            9 => AppMessage::ListDevices,
            10 => {
                let status = AppStatus::from_byte(r.u8("DeviceList.status")?)?;
                let n = usize::from(r.u16("DeviceList.count")?);
                if n > MAX_DEVICES {
                    return Err(DecodeError::LengthTooLarge {
                        field: "DeviceList.count",
                        len: n as u64,
                        max: MAX_DEVICES as u64,
                    });
                }
                let mut devices = Vec::with_capacity(n);
                for _ in 0..n {
                    devices.push(DeviceEntry {
                        id: r.str16("DeviceList.id", MAX_TEXT_LEN)?.to_owned(),
                        label: r.str16("DeviceList.label", MAX_TEXT_LEN)?.to_owned(),
                        online: match r.u8("DeviceList.online")? {
                            0 => false,
                            1 => true,
                            other => {
                                return Err(DecodeError::InvalidValue {
                                    field: "DeviceList.online",
                                    reason: format!("{other} is not 0 or 1"),
                                })
                            }
                        },
                    });
                }
                AppMessage::DeviceList { status, devices }
            }
            11 => AppMessage::Authorize {
                device: r.str16("Authorize.device", MAX_TEXT_LEN)?.to_owned(),
                kind: CommandKind::from_byte(r.u8("Authorize.kind")?)?,
            },
            12 => AppMessage::Authorized {
                status: AppStatus::from_byte(r.u8("Authorized.status")?)?,
                code: SecretText::new(r.str16("Authorized.code", MAX_TEXT_LEN)?),
            },
            13 => AppMessage::Signal {
                id: r.u32("Signal.id")?,
                device: r.str16("Signal.device", MAX_TEXT_LEN)?.to_owned(),
                code: SecretText::new(r.str16("Signal.code", MAX_TEXT_LEN)?),
                kind: CommandKind::from_byte(r.u8("Signal.kind")?)?,
                body: r.vec16("Signal.body", MAX_COMMAND_BODY)?.to_vec(),
            },
            15 => AppMessage::DeviceInfo {
                model: r.str16("DeviceInfo.model", MAX_TEXT_LEN)?.to_owned(),
                version: r.str16("DeviceInfo.version", MAX_TEXT_LEN)?.to_owned(),
            },
            16 => AppMessage::OtaOffer {
                manifest: r.vec16("OtaOffer.manifest", MAX_OTA_MANIFEST)?.to_vec(),
                image_size: r.u64("OtaOffer.image_size")?,
            },
            17 => AppMessage::OtaFetch {
                offset: r.u64("OtaFetch.offset")?,
                len: r.u32("OtaFetch.len")?,
            },
            18 => AppMessage::OtaChunk {
                offset: r.u64("OtaChunk.offset")?,
                data: r.vec16("OtaChunk.data", MAX_OTA_CHUNK)?.to_vec(),
            },
            19 => AppMessage::OtaReport {
                version: r.str16("OtaReport.version", MAX_TEXT_LEN)?.to_owned(),
                result: r.u8("OtaReport.result")?,
                reason: r.str16("OtaReport.reason", MAX_TEXT_LEN)?.to_owned(),
            },
            14 => AppMessage::SignalResult {
                id: r.u32("SignalResult.id")?,
                status: AppStatus::from_byte(r.u8("SignalResult.status")?)?,
                device_status: r.u8("SignalResult.device_status")?,
                body: r.vec16("SignalResult.body", MAX_COMMAND_BODY)?.to_vec(),
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
    put_str(out, name, MAX_ENDPOINT_LEN);
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    put_str(out, text, MAX_TEXT_LEN);
}

fn put_message(out: &mut Vec<u8>, text: &str) {
    put_str(out, text, MAX_MESSAGE_LEN);
}

/// Writes at most `max` bytes of `text`, cut at a character boundary so the result
/// still decodes as UTF-8.
fn put_str(out: &mut Vec<u8>, text: &str, max: usize) {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out.put_vec16(&text.as_bytes()[..end]);
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
            (any::<u32>(), kind.clone(), body()).prop_map(|(id, kind, body)| AppMessage::Command {
                id,
                kind,
                body
            }),
            (any::<u32>(), any::<u8>(), body())
                .prop_map(|(id, status, body)| AppMessage::CommandResult { id, status, body }),
            (text(), text(), text()).prop_map(|(username, p, t)| AppMessage::Login {
                username,
                password: SecretText::new(p),
                totp: SecretText::new(t)
            }),
            (status(), text())
                .prop_map(|(status, message)| AppMessage::LoginResult { status, message }),
            Just(AppMessage::ListDevices),
            (
                status(),
                prop::collection::vec(
                    (text(), text(), any::<bool>())
                        .prop_map(|(id, label, online)| { DeviceEntry { id, label, online } }),
                    0..5
                )
            )
                .prop_map(|(status, devices)| AppMessage::DeviceList { status, devices }),
            (text(), kind.clone())
                .prop_map(|(device, kind)| AppMessage::Authorize { device, kind }),
            (status(), text()).prop_map(|(status, code)| AppMessage::Authorized {
                status,
                code: SecretText::new(code)
            }),
            (any::<u32>(), text(), text(), kind, body()).prop_map(
                |(id, device, code, kind, body)| AppMessage::Signal {
                    id,
                    device,
                    code: SecretText::new(code),
                    kind,
                    body
                }
            ),
            (any::<u32>(), status(), any::<u8>(), body()).prop_map(
                |(id, status, device_status, body)| AppMessage::SignalResult {
                    id,
                    status,
                    device_status,
                    body
                }
            ),
        ]
    }

    fn ota() -> impl Strategy<Value = AppMessage> {
        prop_oneof![
            (text(), text()).prop_map(|(model, version)| AppMessage::DeviceInfo { model, version }),
            (prop::collection::vec(any::<u8>(), 0..300), any::<u64>()).prop_map(
                |(manifest, image_size)| AppMessage::OtaOffer {
                    manifest,
                    image_size
                }
            ),
            (any::<u64>(), any::<u32>())
                .prop_map(|(offset, len)| AppMessage::OtaFetch { offset, len }),
            (any::<u64>(), prop::collection::vec(any::<u8>(), 0..300))
                .prop_map(|(offset, data)| AppMessage::OtaChunk { offset, data }),
            (text(), any::<u8>(), text()).prop_map(|(version, result, reason)| {
                AppMessage::OtaReport {
                    version,
                    result,
                    reason,
                }
            }),
        ]
    }

    fn text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9@.é-]{0,30}"
    }

    fn status() -> impl Strategy<Value = AppStatus> {
        (0u8..=8).prop_map(|b| AppStatus::from_byte(b).unwrap())
    }

    proptest! {
        /// CDP-APP-01: every application message round-trips through its encoding.
        #[test]
        fn cdp_app_01_round_trip(m in message()) {
            prop_assert_eq!(AppMessage::decode(&m.encode()).unwrap(), m);
        }

        /// CDP-APP-01: the OTA messages round-trip too.
        #[test]
        fn cdp_app_01_ota_round_trip(m in ota()) {
            prop_assert_eq!(AppMessage::decode(&m.encode()).unwrap(), m);
        }

        /// CDP-APP-02: the decoder is total and refuses what it cannot parse.
        #[test]
        fn cdp_app_02_decoder_total(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = AppMessage::decode(&bytes);
        }
    }

    /// CDP-APP-03: passwords, one-time codes and authorization codes never appear in
    /// `Debug` output.
    #[test]
    fn cdp_app_03_secrets_redacted() {
        let login = AppMessage::Login {
            username: "alice".into(),
            password: SecretText::new("correct horse battery"),
            totp: SecretText::new("123456"),
        };
        let shown = format!("{login:?}");
        assert!(shown.contains("alice"), "{shown}");
        assert!(
            !shown.contains("horse") && !shown.contains("123456"),
            "{shown}"
        );
        let signal = AppMessage::Signal {
            id: 1,
            device: "d".into(),
            code: SecretText::new("c0ffee"),
            kind: CommandKind::Ptz,
            body: vec![],
        };
        assert!(!format!("{signal:?}").contains("c0ffee"));
        assert_eq!(SecretText::new("a"), SecretText::new("a"));
        assert_ne!(SecretText::new("a"), SecretText::new("b"));
    }

    /// CDP-APP-04: a live-view grant round-trips and refuses trailing bytes.
    #[test]
    fn cdp_app_04_live_view_grant() {
        let g = LiveViewGrant {
            relay: "gw-eu-africa-1:7444".into(),
            stream_id: 42,
            epoch: 3,
            token: vec![7; 40],
        };
        let mut bytes = g.encode();
        assert_eq!(LiveViewGrant::decode(&bytes).unwrap(), g);
        bytes.push(0);
        assert!(LiveViewGrant::decode(&bytes).is_err());
        assert!(LiveViewGrant::decode(&bytes[..5]).is_err());
    }

    /// CDP-APP-02: a device list may not claim more entries than the limit, and an
    /// online flag is 0 or 1.
    #[test]
    fn cdp_app_02_device_list_limits() {
        assert!(matches!(
            AppMessage::decode(&[10, 0, 0x01, 0x01]),
            Err(DecodeError::LengthTooLarge { .. })
        ));
        let list = AppMessage::DeviceList {
            status: AppStatus::Ok,
            devices: vec![DeviceEntry {
                id: "a".into(),
                label: "b".into(),
                online: true,
            }],
        };
        let mut bytes = list.encode();
        *bytes.last_mut().unwrap() = 2;
        assert!(AppMessage::decode(&bytes).is_err());
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
