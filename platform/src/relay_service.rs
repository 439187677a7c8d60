//! The video relay as a network service: admission by grant, then length-prefixed
//! sealed frames from one camera fanned out to its viewers through the [`Relay`] core.
//!
//! A camera or viewer opens a TCP connection and sends a hello:
//! `role u8 (1 camera, 2 viewer) · stream_id u32 · token vec16`. The token is the one in
//! its [`LiveViewGrant`](camproof_protocol::cdp::LiveViewGrant): `expires u64 (µs) ·
//! HMAC-SHA256(relay key, context · role · stream · expires)`, issued by the region's
//! signaling service, which shares the key with its relays. The relay answers one byte
//! (0 admitted, 1 refused) and then only moves frames, `len u32 · sealed frame`: camera →
//! relay → viewers. It reads each frame's authenticated header and nothing else; it holds
//! no pairing secret.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use camproof_protocol::video::VideoHeader;
use camproof_protocol::wire::{Reader, Writer};
use camproof_protocol::Timestamp;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zeroize::Zeroizing;

use crate::net::{Clock, Listener, Net};
use crate::relay::{Relay, RelayConfig, RelayStats};
use crate::trace::Trace;

/// Largest sealed frame a camera may send through the relay.
pub const MAX_RELAY_FRAME: usize = 1 << 20;
/// How long a grant admits its holder after it was issued.
pub const GRANT_LIFETIME: Duration = Duration::from_secs(60);
const GRANT_CONTEXT: &[u8] = b"camproof relay grant\0";

/// Which side of a stream a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RelayRole {
    /// Publishes the stream.
    Camera,
    /// Watches it.
    Viewer,
}

impl RelayRole {
    fn to_byte(self) -> u8 {
        match self {
            RelayRole::Camera => 1,
            RelayRole::Viewer => 2,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(RelayRole::Camera),
            2 => Some(RelayRole::Viewer),
            _ => None,
        }
    }
}

/// The secret a region's signaling service and relays share to issue and check grants.
/// Zeroed on drop; never printed.
#[derive(Clone)]
pub struct RelayKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for RelayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RelayKey(<redacted>)")
    }
}

impl RelayKey {
    /// A key from 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        RelayKey(Zeroizing::new(bytes))
    }

    fn mac(&self, role: RelayRole, stream_id: u32, expires: Timestamp) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(GRANT_CONTEXT);
        mac.update(&[role.to_byte()]);
        mac.update(&stream_id.to_be_bytes());
        mac.update(&expires.as_micros().to_be_bytes());
        mac.finalize().into_bytes().into()
    }

    /// A token admitting `role` to `stream_id` until `now + GRANT_LIFETIME`.
    pub fn grant(&self, role: RelayRole, stream_id: u32, now: Timestamp) -> Vec<u8> {
        let expires = now.saturating_add(GRANT_LIFETIME);
        let mut token = Vec::with_capacity(40);
        token.put_u64(expires.as_micros());
        token.extend_from_slice(&self.mac(role, stream_id, expires));
        token
    }

    /// Checks a token for `role` on `stream_id` at `now`, in constant time.
    pub fn check(
        &self,
        role: RelayRole,
        stream_id: u32,
        token: &[u8],
        now: Timestamp,
    ) -> Result<(), AdmissionError> {
        let mut r = Reader::new(token);
        let expires = r
            .u64("token.expires")
            .map_err(|_| AdmissionError::Malformed)?;
        let mac: [u8; 32] = r
            .array("token.mac")
            .map_err(|_| AdmissionError::Malformed)?;
        r.finish("token").map_err(|_| AdmissionError::Malformed)?;
        let expires = Timestamp::from_micros(expires);
        let expected = self.mac(role, stream_id, expires);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&expected[..], &mac[..])) {
            return Err(AdmissionError::BadToken);
        }
        if now > expires {
            return Err(AdmissionError::Expired);
        }
        Ok(())
    }
}

/// Why the relay refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdmissionError {
    /// The hello or token does not parse.
    #[error("malformed relay hello")]
    Malformed,
    /// The token's MAC is wrong (forged, or for another role or stream).
    #[error("relay token does not verify")]
    BadToken,
    /// The token expired.
    #[error("relay token expired")]
    Expired,
    /// A frame for another stream than the one the camera was admitted to.
    #[error("frame for a stream the camera was not admitted to")]
    WrongStream,
    /// A frame whose header does not parse or that exceeds the limit.
    #[error("malformed frame")]
    BadFrame,
}

/// Encodes a relay hello.
pub fn encode_hello(role: RelayRole, stream_id: u32, token: &[u8]) -> Vec<u8> {
    let mut out = vec![role.to_byte()];
    out.put_u32(stream_id);
    out.put_vec16(token);
    out
}

/// What a relay host counted, beyond the core's [`RelayStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayServiceStats {
    /// Connections admitted, by role.
    pub admitted_cameras: u64,
    /// Viewers admitted.
    pub admitted_viewers: u64,
    /// Connections refused at admission or for a bad frame.
    pub refused: u64,
    /// The core's counters.
    pub core: RelayStats,
    /// Longest a frame waited in a viewer queue, seen at any poll (µs).
    pub max_held_us: u64,
}

impl RelayServiceStats {
    /// Adds another relay's counters to these (the longest hold is the maximum).
    pub fn add(&mut self, o: &RelayServiceStats) {
        self.admitted_cameras += o.admitted_cameras;
        self.admitted_viewers += o.admitted_viewers;
        self.refused += o.refused;
        self.max_held_us = self.max_held_us.max(o.max_held_us);
        let (c, oc) = (&mut self.core, &o.core);
        c.frames_in += oc.frames_in;
        c.bytes_in += oc.bytes_in;
        c.frames_out += oc.frames_out;
        c.bytes_out += oc.bytes_out;
        c.dropped_overflow += oc.dropped_overflow;
        c.dropped_expired += oc.dropped_expired;
        c.skipped_to_keyframe += oc.skipped_to_keyframe;
        c.queued_frames += oc.queued_frames;
        c.queued_bytes += oc.queued_bytes;
        c.peak_queued_bytes = c.peak_queued_bytes.max(oc.peak_queued_bytes);
    }
}

/// One relay host: the core shared by all its connections, and its counters.
pub struct RelayService {
    name: String,
    key: RelayKey,
    core: RefCell<Relay>,
    wake: tokio::sync::Notify,
    stats: Rc<RefCell<RelayServiceStats>>,
    trace: Trace,
}

impl std::fmt::Debug for RelayService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayService")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl RelayService {
    /// A relay named `name` checking grants with `key`.
    pub fn new(
        name: impl Into<String>,
        key: RelayKey,
        config: RelayConfig,
        stats: Rc<RefCell<RelayServiceStats>>,
        trace: Trace,
    ) -> Rc<Self> {
        Rc::new(RelayService {
            name: name.into(),
            key,
            core: RefCell::new(Relay::new(config)),
            wake: tokio::sync::Notify::new(),
            stats,
            trace,
        })
    }

    /// Binds `listen` and serves until the listener fails.
    pub async fn serve<N: Net, C: Clock>(
        self: Rc<Self>,
        net: N,
        listen: &str,
        clock: C,
    ) -> std::io::Result<()> {
        let listener = net.bind(listen).await?;
        self.serve_on(listener, clock).await
    }

    /// Serves connections from an already bound listener.
    pub async fn serve_on<L: Listener, C: Clock>(
        self: Rc<Self>,
        listener: L,
        clock: C,
    ) -> std::io::Result<()>
    where
        L::Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
    {
        loop {
            let (stream, peer) = listener.accept().await?;
            let relay = self.clone();
            let clock = clock.clone();
            tokio::task::spawn_local(async move {
                if let Err(e) = relay.connection(stream, &clock).await {
                    relay.stats.borrow_mut().refused += 1;
                    relay
                        .trace
                        .record(clock.now(), format!("{} refused {peer}: {e}", relay.name));
                }
            });
        }
    }

    async fn connection<S, C>(&self, stream: S, clock: &C) -> Result<(), AdmissionError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
        C: Clock,
    {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut head = [0u8; 7];
        rd.read_exact(&mut head)
            .await
            .map_err(|_| AdmissionError::Malformed)?;
        let role = RelayRole::from_byte(head[0]).ok_or(AdmissionError::Malformed)?;
        let stream_id = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
        let len = usize::from(u16::from_be_bytes([head[5], head[6]]));
        if len > 256 {
            return Err(AdmissionError::Malformed);
        }
        let mut token = vec![0u8; len];
        rd.read_exact(&mut token)
            .await
            .map_err(|_| AdmissionError::Malformed)?;
        if let Err(e) = self.key.check(role, stream_id, &token, clock.now()) {
            let _ = wr.write_all(&[1]).await;
            return Err(e);
        }
        if wr.write_all(&[0]).await.is_err() {
            return Ok(());
        }
        match role {
            RelayRole::Camera => {
                self.stats.borrow_mut().admitted_cameras += 1;
                self.publish(&mut rd, stream_id, clock).await
            }
            RelayRole::Viewer => {
                self.stats.borrow_mut().admitted_viewers += 1;
                self.watch(&mut wr, stream_id, clock).await;
                Ok(())
            }
        }
    }

    async fn publish<R, C>(
        &self,
        rd: &mut R,
        stream_id: u32,
        clock: &C,
    ) -> Result<(), AdmissionError>
    where
        R: tokio::io::AsyncRead + Unpin,
        C: Clock,
    {
        loop {
            let mut len = [0u8; 4];
            if rd.read_exact(&mut len).await.is_err() {
                return Ok(());
            }
            let len = u32::from_be_bytes(len) as usize;
            if len > MAX_RELAY_FRAME {
                return Err(AdmissionError::BadFrame);
            }
            let mut frame = vec![0u8; len];
            if rd.read_exact(&mut frame).await.is_err() {
                return Ok(());
            }
            let (header, _) = VideoHeader::parse(&frame).map_err(|_| AdmissionError::BadFrame)?;
            if header.stream_id != stream_id {
                return Err(AdmissionError::WrongStream);
            }
            let now = clock.now();
            let mut core = self.core.borrow_mut();
            core.handle_frame(now, frame)
                .map_err(|_| AdmissionError::BadFrame)?;
            self.stats.borrow_mut().core = core.stats();
            drop(core);
            self.wake.notify_waiters();
        }
    }

    async fn watch<W, C>(&self, wr: &mut W, stream_id: u32, clock: &C)
    where
        W: tokio::io::AsyncWrite + Unpin,
        C: Clock,
    {
        let viewer = self.core.borrow_mut().subscribe(stream_id);
        let mut out = Vec::new();
        'serve: loop {
            // Register for a wake-up before looking, so a frame arriving in between is
            // not missed.
            let notified = self.wake.notified();
            out.clear();
            {
                let now = clock.now();
                let mut core = self.core.borrow_mut();
                if let Some(age) = core.oldest_age(now) {
                    let mut stats = self.stats.borrow_mut();
                    let us = u64::try_from(age.as_micros()).unwrap_or(u64::MAX);
                    stats.max_held_us = stats.max_held_us.max(us);
                }
                while let Ok(Some(frame)) = core.poll_frame(viewer, now) {
                    out.put_u32(frame.bytes().len() as u32);
                    out.extend_from_slice(&frame.bytes());
                }
                self.stats.borrow_mut().core = core.stats();
            }
            if !out.is_empty() {
                if wr.write_all(&out).await.is_err() {
                    break 'serve;
                }
                continue;
            }
            // A viewer that went away is noticed at the next write; bound the wait so
            // an idle stream's viewer is checked now and then.
            let _ = tokio::time::timeout(Duration::from_secs(5), notified).await;
            if wr.flush().await.is_err() {
                break;
            }
        }
        let _ = self.core.borrow_mut().unsubscribe(viewer);
    }

    /// The core's counters now.
    pub fn core_stats(&self) -> RelayStats {
        self.core.borrow().stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> Timestamp {
        Timestamp::from_secs(1_700_000_000 + s)
    }

    #[test]
    fn grant_admits_its_role_and_stream_until_it_expires() {
        let key = RelayKey::from_bytes([7; 32]);
        let token = key.grant(RelayRole::Viewer, 42, t(0));
        assert_eq!(key.check(RelayRole::Viewer, 42, &token, t(10)), Ok(()));
        assert_eq!(
            key.check(RelayRole::Camera, 42, &token, t(10)),
            Err(AdmissionError::BadToken)
        );
        assert_eq!(
            key.check(RelayRole::Viewer, 43, &token, t(10)),
            Err(AdmissionError::BadToken)
        );
        assert_eq!(
            key.check(RelayRole::Viewer, 42, &token, t(61)),
            Err(AdmissionError::Expired)
        );
        let other = RelayKey::from_bytes([8; 32]);
        assert_eq!(
            other.check(RelayRole::Viewer, 42, &token, t(10)),
            Err(AdmissionError::BadToken)
        );
        let mut flipped = token.clone();
        flipped[20] ^= 1;
        assert_eq!(
            key.check(RelayRole::Viewer, 42, &flipped, t(10)),
            Err(AdmissionError::BadToken)
        );
        assert_eq!(
            key.check(RelayRole::Viewer, 42, &token[..39], t(10)),
            Err(AdmissionError::Malformed)
        );
        // Extending the expiry invalidates the MAC.
        let mut later = token.clone();
        later[0] ^= 0x01;
        assert_eq!(
            key.check(RelayRole::Viewer, 42, &later, t(10)),
            Err(AdmissionError::BadToken)
        );
        assert!(!format!("{key:?}").contains('7'));
    }
}
