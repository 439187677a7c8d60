//! CDP/1, the camera-to-cloud device protocol, as two pure state machines.
//!
//! [`ClientConnection`] runs in the camera, [`ServerConnection`] in the platform's
//! gateway. Neither touches a socket or a clock. Drive both the same way, quinn style:
//!
//! 1. feed received bytes with `handle_bytes(now, data)` (and `handle_eof` when the
//!    stream ends);
//! 2. drain bytes to send with `poll_transmit(&mut buf)`;
//! 3. drain [`Event`]s with `poll_event()`;
//! 4. send application data with `send(data)` once [`Event::Connected`] has been seen.
//!
//! The full handshake authenticates both sides (device RSA chain to the platform root;
//! platform Ed25519 certificate from the same root), agrees ephemeral X25519 keys bound
//! to a transcript both sides sign, and derives per-direction AES-256-GCM keys with
//! HKDF-SHA256. Records carry explicit epoch and sequence numbers, so replayed,
//! reordered, truncated and tampered records fail with distinct errors. See
//! `docs/protocol.md` for the byte layouts and the requirement IDs (`CDP-*`).
//!
//! ```
//! use std::sync::Arc;
//! use camproof_protocol::cdp::{ClientConfig, ClientConnection, Event, ServerConfig, ServerConnection, ServerContext};
//! use camproof_protocol::pki::{PkiOptions, TestPki};
//! use camproof_protocol::Timestamp;
//! use rand_chacha::ChaCha8Rng;
//! use rand_core::SeedableRng;
//!
//! let pki = TestPki::generate(1, &PkiOptions::fast_for_tests());
//! let mut rng = ChaCha8Rng::seed_from_u64(1);
//! let now = Timestamp::from_secs(1_800_000_000);
//! let mut ctx = ServerContext::new(pki.trust_store());
//! let server_cfg = Arc::new(ServerConfig::new(pki.server("gw-1", 0)));
//! let client_cfg = Arc::new(ClientConfig::new(pki.trust_store()));
//! let mut cam = ClientConnection::connect(client_cfg, Arc::new(pki.device(1)), now, &mut rng);
//! let mut gw = ServerConnection::new(server_cfg, &mut rng);
//! let mut wire = Vec::new();
//! for _ in 0..3 {
//!     cam.poll_transmit(&mut wire);
//!     gw.handle_bytes(now, &wire, &mut ctx).unwrap();
//!     wire.clear();
//!     gw.poll_transmit(&mut wire);
//!     cam.handle_bytes(now, &wire).unwrap();
//!     wire.clear();
//! }
//! assert!(matches!(cam.poll_event(), Some(Event::Connected { resumed: false, .. })));
//! cam.send(b"heartbeat").unwrap();
//! cam.poll_transmit(&mut wire);
//! gw.handle_bytes(now, &wire, &mut ctx).unwrap();
//! assert!(matches!(gw.poll_event(), Some(Event::Connected { .. })));
//! assert_eq!(gw.poll_event(), Some(Event::Data(b"heartbeat".to_vec())));
//! ```

pub mod app;
mod client;
pub mod frame;
mod guard;
pub mod messages;
mod record;
mod server;

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use thiserror::Error;
use zeroize::Zeroizing;

pub use app::{
    AppMessage, AppStatus, CommandKind, DeviceEntry, LiveViewGrant, SecretText, APP_IDLE_TIMEOUT,
};
pub use client::{resumption_mac, ClientConnection};
pub use frame::{
    peek_frame_type, split_frame, whole_frames, FrameDecoder, FrameHead, FrameHeads, FrameSpan,
    FrameType, Split, WholeFrames, FRAME_HEAD_LEN, MAX_FRAME_LEN, MAX_RECORD_PAYLOAD,
};
pub use guard::{NonceCache, NonceClass, NonceVerdict, TicketStore};
pub use messages::AlertCode;
pub use server::ServerConnection;

use crate::pki::{CertError, PeerIdentity, ServerCredentials, TrustStore};
use crate::wire::DecodeError;
use crate::Timestamp;
use frame::encode_frame;
use record::{ContentType, Opener, Sealer};

/// The protocol version this implementation speaks.
pub const PROTOCOL_VERSION: u16 = 1;
/// Default tolerance between the peers' clocks: real fleets drift 10-20 s.
pub const DEFAULT_SKEW_WINDOW: Duration = Duration::from_secs(30);
/// Default number of records sent under one key before a key update.
pub const DEFAULT_REKEY_AFTER: u64 = 100_000;
/// Default capacity of each partition (device, app) of the handshake nonce cache.
pub const DEFAULT_NONCE_CAPACITY: usize = 100_000;
/// Default lifetime of a resumption ticket.
pub const DEFAULT_TICKET_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Everything that can go wrong on a CDP/1 connection.
///
/// Every error but [`CdpError::Local`] is fatal: the connection queues an alert for
/// the peer (if it can still send one) and refuses further input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CdpError {
    /// The peer sent bytes that do not parse.
    #[error("invalid message: {0}")]
    InvalidMessage(#[from] InvalidMessage),
    /// The peer sent well-formed bytes that break the protocol.
    #[error("peer misbehaved: {0}")]
    PeerMisbehaved(#[from] PeerMisbehaved),
    /// The peer's certificate chain was refused.
    #[error("certificate refused: {0}")]
    Certificate(#[from] CertError),
    /// The peer ended the connection with an alert.
    #[error("peer sent alert {0:?}")]
    PeerAlert(AlertCode),
    /// The local side asked for something it cannot do.
    #[error("local error: {0}")]
    Local(#[from] LocalError),
    /// The connection already failed or closed.
    #[error("the connection is closed")]
    Closed,
}

impl From<DecodeError> for CdpError {
    fn from(e: DecodeError) -> Self {
        CdpError::InvalidMessage(InvalidMessage::Decode(e))
    }
}

/// Bytes that do not parse as CDP/1.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum InvalidMessage {
    /// A field could not be decoded.
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// A frame's length field exceeds the limit.
    #[error("frame length {len} exceeds the limit of {max}")]
    FrameTooLarge {
        /// The declared length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A frame with length zero (no type byte).
    #[error("empty frame")]
    EmptyFrame,
    /// A frame type this version does not define.
    #[error("unknown frame type 0x{0:02x}")]
    UnknownFrameType(u8),
}

/// Well-formed input that breaks the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PeerMisbehaved {
    /// The hello asks for a version other than CDP/1.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u16),
    /// A frame arrived that the current state does not accept.
    #[error("unexpected {got:?} frame while {state}")]
    UnexpectedFrame {
        /// What the connection was waiting for.
        state: &'static str,
        /// The frame that arrived.
        got: FrameType,
    },
    /// A record carried a content type the current state does not accept.
    #[error("unexpected {got} record while {state}")]
    UnexpectedContent {
        /// What the connection was waiting for.
        state: &'static str,
        /// The content that arrived.
        got: &'static str,
    },
    /// The peer's handshake timestamp is outside the skew window.
    #[error("peer clock {peer_time} is {skew:?} away from ours ({now}); the window is {window:?}")]
    ClockSkew {
        /// The timestamp the peer sent.
        peer_time: Timestamp,
        /// Our time.
        now: Timestamp,
        /// The difference.
        skew: Duration,
        /// The allowed difference.
        window: Duration,
    },
    /// The handshake random was already used: a replayed hello.
    #[error("handshake random seen before: replayed hello")]
    ReplayedHandshake,
    /// The platform's transcript signature does not verify.
    #[error("server transcript signature does not verify")]
    BadServerSignature,
    /// The device's transcript signature does not verify.
    #[error("device transcript signature does not verify")]
    BadClientSignature,
    /// The resumption binder or accept MAC does not verify.
    #[error("resumption MAC does not verify")]
    BadResumptionMac,
    /// The resumption ticket is unknown, already used or expired.
    #[error("unknown, used or expired resumption ticket")]
    UnknownTicket,
    /// The server certificate names another server than the one expected.
    #[error("server is '{got}', expected '{expected}'")]
    WrongServer {
        /// The expected subject.
        expected: String,
        /// The presented subject.
        got: String,
    },
    /// A key share that yields an all-zero secret (a low-order point).
    #[error("key share is a low-order point")]
    WeakKeyShare,
    /// A record older than the next expected one: a replay.
    #[error("replayed record: epoch {epoch} seq {seq}, expected epoch {expected_epoch} seq {expected_seq}")]
    ReplayedRecord {
        /// Epoch of the record.
        epoch: u32,
        /// Sequence of the record.
        seq: u64,
        /// Epoch expected.
        expected_epoch: u32,
        /// Sequence expected.
        expected_seq: u64,
    },
    /// A record ahead of the next expected one: reordered or a record was removed.
    #[error("out-of-order record: epoch {epoch} seq {seq}, expected epoch {expected_epoch} seq {expected_seq}")]
    ReorderedRecord {
        /// Epoch of the record.
        epoch: u32,
        /// Sequence of the record.
        seq: u64,
        /// Epoch expected.
        expected_epoch: u32,
        /// Sequence expected.
        expected_seq: u64,
    },
    /// A record too short to hold its header and tag.
    #[error("truncated record of {len} bytes")]
    TruncatedRecord {
        /// Its length.
        len: usize,
    },
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame ({buffered} bytes buffered)")]
    TruncatedStream {
        /// Bytes of the unfinished frame.
        buffered: usize,
    },
    /// A record whose authentication tag does not verify.
    #[error("tampered record: epoch {epoch} seq {seq} fails authentication")]
    TamperedRecord {
        /// Epoch of the record.
        epoch: u32,
        /// Sequence of the record.
        seq: u64,
    },
    /// An authenticated record with an undefined content type.
    #[error("record with unknown content type")]
    UnknownContentType,
}

/// A request the local side made that cannot be honoured; the connection survives.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LocalError {
    /// Payload larger than one record can carry.
    #[error("payload of {len} bytes exceeds the record limit of {max}")]
    PayloadTooLarge {
        /// The payload length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Data sent before the handshake finished.
    #[error("the handshake has not finished")]
    NotEstablished,
    /// Sequence or epoch numbers would wrap.
    #[error("sequence numbers exhausted")]
    SequenceExhausted,
    /// The nonce cache's device partition is full of live entries; new device
    /// handshakes are refused.
    #[error("handshake nonce cache is full")]
    NonceCacheFull,
}

impl CdpError {
    /// The alert that tells the peer about this error.
    pub fn alert_code(&self) -> AlertCode {
        match self {
            CdpError::InvalidMessage(_) => AlertCode::DecodeError,
            CdpError::Certificate(_) => AlertCode::BadCertificate,
            CdpError::PeerMisbehaved(p) => match p {
                PeerMisbehaved::UnsupportedVersion(_) => AlertCode::UnsupportedVersion,
                PeerMisbehaved::UnexpectedFrame { .. }
                | PeerMisbehaved::UnexpectedContent { .. } => AlertCode::UnexpectedMessage,
                PeerMisbehaved::ClockSkew { .. } => AlertCode::ClockSkew,
                PeerMisbehaved::ReplayedHandshake => AlertCode::ReplayedHandshake,
                PeerMisbehaved::BadServerSignature
                | PeerMisbehaved::BadClientSignature
                | PeerMisbehaved::BadResumptionMac => AlertCode::BadSignature,
                PeerMisbehaved::UnknownTicket => AlertCode::UnknownTicket,
                PeerMisbehaved::WrongServer { .. } => AlertCode::BadCertificate,
                _ => AlertCode::BadRecord,
            },
            CdpError::Local(LocalError::NonceCacheFull) => AlertCode::Busy,
            CdpError::PeerAlert(_) | CdpError::Local(_) | CdpError::Closed => AlertCode::Internal,
        }
    }
}

/// What a connection reports to its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The handshake finished; the peer is authenticated.
    Connected {
        /// Who the peer is.
        peer: PeerIdentity,
        /// Whether a ticket resumed an earlier session.
        resumed: bool,
    },
    /// Platform side: an app finished the server-authenticated handshake. The app is
    /// anonymous until its user signs in inside the session.
    AppConnected,
    /// Application data arrived.
    Data(Vec<u8>),
    /// One direction moved to a new key epoch.
    KeyUpdated {
        /// `true` for the keys we send with.
        outgoing: bool,
        /// The new epoch.
        epoch: u32,
    },
    /// The connection ended; `clean` if the peer closed it with a close record.
    Closed {
        /// Whether the peer sent a close record first.
        clean: bool,
    },
}

/// Deliberate defects of flawed camera firmware, for certification negative tests.
///
/// All `false` in the reference device; the platform never sets them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceFlaws {
    /// Seal every record with the same nonce (the sequence never advances).
    pub reuse_record_nonces: bool,
    /// Accept a record whose sequence number was already used (no replay check).
    pub accept_replayed_records: bool,
    /// Accept any platform certificate whose key signs the transcript: no check of
    /// issuer, validity period or revocation (a device that trusts whoever answers).
    pub accept_any_server_certificate: bool,
    /// Once established, silently drop a record that fails to open (replayed,
    /// reordered, truncated, tampered) and keep the connection, instead of failing it.
    pub ignore_bad_records: bool,
    /// Skip the check of the platform's resumption proof (`ResumeAccept.verify`), so
    /// whoever saw a ResumeHello can answer it without the ticket's secret.
    pub skip_resumption_proof_check: bool,
    /// Accept a record from a later epoch by deriving that epoch's keys, without the
    /// KeyUpdate that moves there.
    pub accept_future_epochs: bool,
    /// Accept a record that skips sequence numbers of the current epoch (still refusing
    /// replays), so records removed in transit go unnoticed.
    pub accept_skipped_records: bool,
}

/// Deliberate defects of a flawed platform endpoint, planted by the simulation's attack
/// negative tests; all `false` in the reference platform.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerFlaws {
    /// Skip the handshake nonce cache: a hello's random is never remembered (CDP-HS-06).
    pub skip_nonce_cache: bool,
    /// Leave a resumption ticket in the store when it is redeemed, so it can be
    /// presented again within its lifetime (CDP-RES-02).
    pub reusable_tickets: bool,
    /// Remember every hello's random when the hello arrives, before its client proved
    /// anything, in one partition that refuses handshakes when full: a flood of hellos
    /// from anyone locks every device out (what CDP-NONCE-01 forbids).
    pub cache_unproven_hellos: bool,
}

/// Device-side configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Root and revocation list used to verify the platform's certificate.
    pub trust: TrustStore,
    /// Largest accepted difference between the platform's clock and ours.
    pub skew_window: Duration,
    /// Records sent under one key before a key update.
    pub rekey_after: u64,
    /// Largest accepted frame.
    pub max_frame_len: usize,
    /// If set, the platform certificate's subject must equal this.
    pub expected_server: Option<String>,
    /// Defects of a flawed firmware profile (none in the reference device).
    pub flaws: DeviceFlaws,
}

impl ClientConfig {
    /// Defaults: ±30 s skew, rekey every 100,000 records, no server name check.
    pub fn new(trust: TrustStore) -> Self {
        ClientConfig {
            trust,
            skew_window: DEFAULT_SKEW_WINDOW,
            rekey_after: DEFAULT_REKEY_AFTER,
            max_frame_len: MAX_FRAME_LEN,
            expected_server: None,
            flaws: DeviceFlaws::default(),
        }
    }
}

/// Platform-side configuration of one endpoint.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The endpoint's Ed25519 key and certificate.
    pub credentials: ServerCredentials,
    /// Largest accepted difference between a device's clock and ours.
    pub skew_window: Duration,
    /// Records sent under one key before a key update.
    pub rekey_after: u64,
    /// Largest accepted frame.
    pub max_frame_len: usize,
    /// How long an issued resumption ticket stays valid.
    pub ticket_lifetime: Duration,
}

impl ServerConfig {
    /// Defaults: ±30 s skew, rekey every 100,000 records, 24 h tickets.
    pub fn new(credentials: ServerCredentials) -> Self {
        ServerConfig {
            credentials,
            skew_window: DEFAULT_SKEW_WINDOW,
            rekey_after: DEFAULT_REKEY_AFTER,
            max_frame_len: MAX_FRAME_LEN,
            ticket_lifetime: DEFAULT_TICKET_LIFETIME,
        }
    }
}

/// State one platform endpoint shares among all its connections.
#[derive(Debug)]
pub struct ServerContext {
    /// Root, revocations and the verified-CA cache used to check device chains.
    pub trust: TrustStore,
    /// Randoms of proven handshakes within the skew window.
    pub nonces: NonceCache,
    /// Outstanding resumption tickets.
    pub tickets: TicketStore,
    /// Planted defects (none in the reference platform).
    pub flaws: ServerFlaws,
}

impl ServerContext {
    /// A context with room for 100,000 live device nonces, 100,000 app nonces and
    /// 100,000 tickets.
    pub fn new(trust: TrustStore) -> Self {
        ServerContext {
            trust,
            nonces: NonceCache::new(DEFAULT_NONCE_CAPACITY),
            tickets: TicketStore::new(100_000),
            flaws: ServerFlaws::default(),
        }
    }
}

/// A resumption ticket as the device keeps it.
#[derive(Clone)]
pub struct SessionTicket {
    id: [u8; messages::TICKET_ID_LEN],
    secret: Zeroizing<[u8; 32]>,
    server: PeerIdentity,
    expires: Timestamp,
}

impl fmt::Debug for SessionTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionTicket")
            .field("server", &self.server.subject)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl SessionTicket {
    /// Whether the ticket can still be presented at `now`.
    pub fn is_valid(&self, now: Timestamp) -> bool {
        now < self.expires
    }

    /// The platform endpoint that issued it.
    pub fn server(&self) -> &PeerIdentity {
        &self.server
    }
}

/// A fresh ephemeral X25519 secret, its public key share, and a fresh hello random.
fn fresh_share(
    rng: &mut rand_chacha::ChaCha20Rng,
) -> (x25519_dalek::EphemeralSecret, [u8; 32], [u8; 32]) {
    let secret = x25519_dalek::EphemeralSecret::random_from_rng(&mut *rng);
    let share = x25519_dalek::PublicKey::from(&secret).to_bytes();
    let mut random = [0u8; 32];
    rand_core::RngCore::fill_bytes(rng, &mut random);
    (secret, share, random)
}

/// X25519 with the peer's key share, refusing a low-order point (all-zero secret).
fn agree(
    secret: x25519_dalek::EphemeralSecret,
    peer_share: [u8; 32],
) -> Result<x25519_dalek::SharedSecret, CdpError> {
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(peer_share));
    if shared.was_contributory() {
        Ok(shared)
    } else {
        Err(PeerMisbehaved::WeakKeyShare.into())
    }
}

/// Rejects a peer timestamp outside the window.
fn check_skew(peer_time: Timestamp, now: Timestamp, window: Duration) -> Result<(), CdpError> {
    let skew = peer_time.abs_diff(now);
    if skew > window {
        return Err(PeerMisbehaved::ClockSkew {
            peer_time,
            now,
            skew,
            window,
        }
        .into());
    }
    Ok(())
}

/// The part of a connection both sides share: framing, record layer, queues.
struct Core {
    decoder: FrameDecoder,
    out: Vec<u8>,
    events: VecDeque<Event>,
    sealer: Option<Sealer>,
    opener: Option<Opener>,
    /// Set once the connection failed or closed: input is refused from then on.
    done: bool,
    /// Set once we sent a close record: sending is refused from then on.
    sent_close: bool,
}

impl Core {
    fn new(max_frame_len: usize) -> Self {
        Core {
            decoder: FrameDecoder::new(max_frame_len),
            out: Vec::new(),
            events: VecDeque::new(),
            sealer: None,
            opener: None,
            done: false,
            sent_close: false,
        }
    }

    /// Buffers received bytes; refused once the connection failed or closed.
    fn receive(&mut self, data: &[u8]) -> Result<(), CdpError> {
        if self.done {
            return Err(CdpError::Closed);
        }
        self.decoder.push(data);
        Ok(())
    }

    /// The next whole frame, or `None` when more bytes are needed or the connection is done.
    fn next_frame(&mut self) -> Result<Option<frame::Frame>, CdpError> {
        if self.done {
            return Ok(None);
        }
        self.decoder.next_frame()
    }

    /// Marks the connection failed and queues an alert telling the peer why.
    fn fail(&mut self, err: CdpError) -> CdpError {
        if !self.done {
            self.done = true;
            if !matches!(err, CdpError::PeerAlert(_) | CdpError::Closed) {
                encode_frame(
                    FrameType::Alert,
                    &[err.alert_code().to_byte()],
                    &mut self.out,
                );
            }
        }
        err
    }

    fn install_keys(
        &mut self,
        send: Zeroizing<[u8; 32]>,
        recv: Zeroizing<[u8; 32]>,
        rekey_after: u64,
        flaws: DeviceFlaws,
    ) {
        let mut sealer = Sealer::new(send, rekey_after);
        sealer.reuse_nonces = flaws.reuse_record_nonces;
        let mut opener = Opener::new(recv);
        opener.skip_replay_check = flaws.accept_replayed_records;
        opener.accept_future_epochs = flaws.accept_future_epochs;
        opener.accept_skipped_seq = flaws.accept_skipped_records;
        self.sealer = Some(sealer);
        self.opener = Some(opener);
    }

    fn seal(&mut self, content: ContentType, data: &[u8]) -> Result<(), CdpError> {
        let sealer = self.sealer.as_mut().ok_or(LocalError::NotEstablished)?;
        if sealer.needs_rekey() {
            sealer.seal(ContentType::KeyUpdate, &[], &mut self.out)?;
            self.events.push_back(Event::KeyUpdated {
                outgoing: true,
                epoch: sealer.epoch(),
            });
        }
        sealer.seal(content, data, &mut self.out)
    }

    fn send(&mut self, established: bool, data: &[u8]) -> Result<(), CdpError> {
        if self.done || self.sent_close {
            return Err(CdpError::Closed);
        }
        if !established {
            return Err(LocalError::NotEstablished.into());
        }
        self.seal(ContentType::Application, data)
    }

    /// Moves the sending direction to the next epoch without a KeyUpdate record.
    fn rekey_unannounced(&mut self) -> Result<(), CdpError> {
        if self.done || self.sent_close {
            return Err(CdpError::Closed);
        }
        self.sealer
            .as_mut()
            .ok_or(LocalError::NotEstablished)?
            .advance_epoch()
    }

    fn close(&mut self) {
        if !self.done && !self.sent_close && self.sealer.is_some() {
            self.sent_close = true;
            // Cannot fail: the close record is empty and sequence space was checked.
            let _ = self.seal(ContentType::Close, &[]);
        }
    }

    /// Opens a record and handles the content types common to every state.
    fn open(&mut self, body: Vec<u8>) -> Result<Option<(ContentType, Vec<u8>)>, CdpError> {
        let opener = self
            .opener
            .as_mut()
            .ok_or(PeerMisbehaved::UnexpectedFrame {
                state: "handshaking",
                got: FrameType::Record,
            })?;
        let (content, data) = opener.open_owned(body)?;
        match content {
            ContentType::KeyUpdate => {
                self.events.push_back(Event::KeyUpdated {
                    outgoing: false,
                    epoch: opener.epoch(),
                });
                Ok(None)
            }
            ContentType::Close => {
                self.done = true;
                self.events.push_back(Event::Closed { clean: true });
                Ok(None)
            }
            other => Ok(Some((other, data))),
        }
    }

    fn handle_eof(&mut self) -> Result<(), CdpError> {
        if self.done {
            return Ok(());
        }
        let buffered = self.decoder.buffered();
        self.done = true;
        if buffered > 0 {
            return Err(PeerMisbehaved::TruncatedStream { buffered }.into());
        }
        self.events.push_back(Event::Closed { clean: false });
        Ok(())
    }

    fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> usize {
        let n = self.out.len();
        buf.append(&mut self.out);
        n
    }
}

#[cfg(test)]
mod tests;
