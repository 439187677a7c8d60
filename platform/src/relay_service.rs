//! The video relay as a network service: admission by grant in front of the
//! [`RelayNode`] socket driver, which fans sealed frames from one camera out to its
//! viewers through the [`Relay`](crate::relay::Relay) core.
//!
//! A camera or viewer opens a TCP connection and sends a
//! [`RelayHello`](camproof_protocol::relay::RelayHello):
//! `role u8 (1 camera, 2 viewer) · stream_id u32 · token vec16`. The token is the one in
//! its [`LiveViewGrant`](camproof_protocol::cdp::LiveViewGrant): `expires u64 (µs) ·
//! HMAC-SHA256(relay key, context · role · stream · expires)`, issued by the region's
//! signaling service, which shares the key with its relays. The relay answers one byte
//! (0 admitted, 1 refused); a viewer then gets the node's ten-byte ready message. After that the
//! relay only moves sealed frames as they are (each self-delimiting by its header):
//! camera → relay → viewers. It reads each frame's authenticated header and nothing
//! else; it holds no pairing secret. The simulator and `camproof serve` run this; the
//! forwarding path is the one `camproof bench relay` measures.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use camproof_protocol::wire::{Reader, Writer};
use camproof_protocol::Timestamp;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::AsyncReadExt;
use zeroize::Zeroizing;

use camproof_net::admission::write_within;
use camproof_net::{Admission, AdmissionLimits, Clock, Counted, Listener, Net};
use camproof_protocol::relay::{RelayHello, RelayRole, ADMITTED, HELLO_HEAD_LEN, REFUSED};

use crate::relay::{RelayConfig, RelayStats};
use crate::relay_net::{RelayNetError, RelayNode};
use crate::trace::Trace;
pub use camproof_results::RelayServiceStats;

/// How long a grant admits its holder after it was issued.
pub const GRANT_LIFETIME: Duration = Duration::from_secs(60);
const GRANT_CONTEXT: &[u8] = b"camproof relay grant\0";

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
    /// A second camera for a stream that already has one.
    #[error("the stream already has a camera")]
    StreamBusy,
    /// The hello was not complete within the admission deadline.
    #[error("relay hello not complete within the admission deadline")]
    Deadline,
}

/// One relay host: grant admission in front of the [`RelayNode`] that forwards frames
/// (the same socket driver `camproof relay` runs and `camproof bench relay` measures).
///
/// A connection opens with a [`RelayHello`] (`role u8 · stream_id u32 · token vec16`); the
/// relay answers one byte (0 admitted, 1 refused), sends a viewer the node's ten-byte
/// [`RelayReady`](camproof_protocol::relay::RelayReady), then
/// carries sealed frames as they are (self-delimiting by their header) both ways.
pub struct RelayService<C: Clock> {
    name: String,
    key: RelayKey,
    node: RelayNode<C>,
    stats: Rc<RefCell<RelayServiceStats>>,
    trace: Trace,
    clock: C,
    admission: AdmissionLimits,
}

impl<C: Clock> std::fmt::Debug for RelayService<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayService")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<C: Clock> RelayService<C> {
    /// A relay named `name` checking grants with `key`; its counters go to `stats`.
    pub fn new(
        name: impl Into<String>,
        key: RelayKey,
        config: RelayConfig,
        stats: Rc<RefCell<RelayServiceStats>>,
        trace: Trace,
        clock: C,
    ) -> Rc<Self> {
        let admission = AdmissionLimits::default();
        Self::with_admission(name, key, config, stats, trace, clock, admission)
    }

    /// [`RelayService::new`] with these admission limits (caps, admission deadline,
    /// write timeout).
    pub fn with_admission(
        name: impl Into<String>,
        key: RelayKey,
        config: RelayConfig,
        stats: Rc<RefCell<RelayServiceStats>>,
        trace: Trace,
        clock: C,
        admission: AdmissionLimits,
    ) -> Rc<Self> {
        let node = RelayNode::new(config, clock.clone());
        let sink = stats.clone();
        node.on_stats(move |core| {
            let mut s = sink.borrow_mut();
            s.core = *core;
            s.max_held_us = s.max_held_us.max(core.max_held_us);
        });
        Rc::new(RelayService {
            name: name.into(),
            key,
            node,
            stats,
            trace,
            clock,
            admission,
        })
    }

    /// Binds `listen` and serves until the listener fails.
    pub async fn serve<N: Net>(self: Rc<Self>, net: N, listen: &str) -> std::io::Result<()> {
        let listener = net.bind(listen).await?;
        self.serve_on(listener).await
    }

    /// Serves connections from an already bound listener, and expires old frames.
    pub async fn serve_on<L: Listener>(self: Rc<Self>, listener: L) -> std::io::Result<()>
    where
        L::Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
    {
        let expiry = self.node.expire_periodically();
        let stats = self.stats.clone();
        let admission = Admission::new(self.name.clone(), self.admission).observe(move |counted| {
            let mut stats = stats.borrow_mut();
            match counted {
                Counted::Refused(_) => stats.refused += 1,
                Counted::AcceptError => stats.accept_errors += 1,
            }
        });
        let accept = async {
            loop {
                let (stream, peer, permit) = match admission.accept(&listener).await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(relay = %self.name, error = %e, "accept failed: the relay stops");
                        return Err(e);
                    }
                };
                tracing::debug!(relay = %self.name, %peer, "accepted connection");
                let relay = self.clone();
                tokio::task::spawn_local(async move {
                    let _permit = permit;
                    if let Err(e) = relay.connection(stream, peer).await {
                        tracing::warn!(relay = %relay.name, %peer, error = %e, "refused");
                        relay.stats.borrow_mut().refused += 1;
                        relay.trace.record(
                            relay.clock.now(),
                            format!("{} refused {peer}: {e}", relay.name),
                        );
                    }
                });
            }
        };
        tokio::select! {
            biased;
            r = accept => r,
            () = expiry => Ok(()),
        }
    }

    async fn connection<S>(
        &self,
        mut stream: S,
        peer: std::net::SocketAddr,
    ) -> Result<(), AdmissionError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let limits = self.admission;
        // The whole hello, however slowly it trickles in, within the deadline; its
        // length is bounded by the hello's own token limit.
        let hello = async {
            let mut head = [0u8; HELLO_HEAD_LEN];
            stream
                .read_exact(&mut head)
                .await
                .map_err(|_| AdmissionError::Malformed)?;
            let head = RelayHello::decode_head(&head).map_err(|_| AdmissionError::Malformed)?;
            let mut token = vec![0u8; head.token_len];
            stream
                .read_exact(&mut token)
                .await
                .map_err(|_| AdmissionError::Malformed)?;
            Ok::<_, AdmissionError>((head.role, head.stream_id, token))
        };
        let (role, stream_id, token) = tokio::time::timeout(limits.handshake_deadline, hello)
            .await
            .map_err(|_| AdmissionError::Deadline)??;
        if let Err(e) = self.key.check(role, stream_id, &token, self.clock.now()) {
            let _ = write_within(&mut stream, &[REFUSED], limits.write_timeout).await;
            return Err(e);
        }
        if write_within(&mut stream, &[ADMITTED], limits.write_timeout)
            .await
            .is_err()
        {
            return Ok(());
        }
        match role {
            RelayRole::Camera => self.stats.borrow_mut().admitted_cameras += 1,
            RelayRole::Viewer => self.stats.borrow_mut().admitted_viewers += 1,
        }
        let name = &self.name;
        tracing::info!(relay = %name, %peer, ?role, stream = stream_id, "admitted");
        match self.node.serve_admitted(stream, role, stream_id).await {
            Ok(()) => {
                tracing::info!(relay = %name, %peer, ?role, stream = stream_id, "disconnected");
                Ok(())
            }
            Err(RelayNetError::Io(e)) => {
                tracing::info!(relay = %name, %peer, ?role, stream = stream_id, reason = %e, "disconnected");
                Ok(())
            }
            Err(RelayNetError::WrongStream { .. }) => Err(AdmissionError::WrongStream),
            Err(RelayNetError::StreamBusy(_)) => Err(AdmissionError::StreamBusy),
            Err(_) => Err(AdmissionError::BadFrame),
        }
    }

    /// The core's counters now.
    pub fn core_stats(&self) -> RelayStats {
        self.node.stats()
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
