//! The device gateway: terminates CDP/1, authenticates devices, answers heartbeats,
//! tells each device its relay and fallback endpoints, and receives sealed video.
//!
//! One [`Gateway`] serves one endpoint; each accepted connection runs as a local task
//! that moves bytes between the socket and a [`ServerConnection`]. The gateway never
//! holds an RSA private key and cannot open video frames: it reads their authenticated
//! header only (stream, sequence, capture time).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use camproof_protocol::cdp::{
    AppMessage, CdpError, Event, ServerConfig, ServerConnection, ServerContext,
};
use camproof_protocol::video::VideoHeader;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net::{Clock, Listener, Net};
use crate::trace::Trace;

/// How a gateway is set up.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The endpoint's name (also its certificate subject).
    pub name: String,
    /// Address to listen on (`"0.0.0.0:7443"`).
    pub listen: String,
    /// Relay endpoint given to devices.
    pub relay: String,
    /// Gateway endpoints devices should try when this one fails.
    pub fallbacks: Vec<String>,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
}

/// What a gateway counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayStats {
    /// Connections accepted.
    pub connections: u64,
    /// Full handshakes completed.
    pub handshakes: u64,
    /// Resumed handshakes completed.
    pub resumptions: u64,
    /// Connections that failed, by error kind.
    pub failures: BTreeMap<String, u64>,
    /// Heartbeats answered.
    pub heartbeats: u64,
    /// Video frames received.
    pub video_frames: u64,
    /// Video bytes received (sealed frames).
    pub video_bytes: u64,
    /// Camera-to-gateway latency of each frame, in microseconds (capture time to arrival).
    pub frame_latency_us: Vec<u64>,
    /// Devices connected right now, by certificate subject.
    pub online: BTreeMap<String, u64>,
}

/// A device gateway endpoint.
pub struct Gateway {
    config: GatewayConfig,
    server_config: Arc<ServerConfig>,
    /// Shared with the region's other gateways: one nonce cache and one ticket store, so
    /// a replayed hello is caught and a ticket resumes at any zone of the region.
    context: Rc<RefCell<ServerContext>>,
    rng: RefCell<ChaCha8Rng>,
    stats: Rc<RefCell<GatewayStats>>,
    trace: Trace,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("name", &self.config.name)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway with its CDP/1 configuration, the context it shares with its region's
    /// other gateways, an RNG seed and counters.
    pub fn new(
        config: GatewayConfig,
        server_config: Arc<ServerConfig>,
        context: Rc<RefCell<ServerContext>>,
        seed: u64,
        stats: Rc<RefCell<GatewayStats>>,
        trace: Trace,
    ) -> Rc<Self> {
        Rc::new(Gateway {
            config,
            server_config,
            context,
            rng: RefCell::new(ChaCha8Rng::seed_from_u64(seed)),
            stats,
            trace,
        })
    }

    /// Binds the configured address and accepts connections until the listener fails.
    pub async fn serve<N: Net, C: Clock>(self: Rc<Self>, net: N, clock: C) -> std::io::Result<()> {
        let listener = net.bind(&self.config.listen).await?;
        self.serve_on(listener, clock).await
    }

    /// Accepts connections on an already bound listener until it fails.
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
            self.stats.borrow_mut().connections += 1;
            let conn_seed = self.rng.borrow_mut().next_u64();
            let gw = self.clone();
            let clock = clock.clone();
            tokio::task::spawn_local(async move {
                let result = gw.connection(stream, clock.clone(), conn_seed).await;
                if let Err(e) = result {
                    let kind = failure_kind(&e);
                    *gw.stats.borrow_mut().failures.entry(kind).or_default() += 1;
                    gw.trace.record(
                        clock.now(),
                        format!("{} refused {peer}: {e}", gw.config.name),
                    );
                }
            });
        }
    }

    async fn connection<S, C>(&self, stream: S, clock: C, seed: u64) -> Result<(), GatewayError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
        C: Clock,
    {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut conn = ServerConnection::new(self.server_config.clone(), &mut rng);
        let mut buf = vec![0u8; 16 * 1024];
        let mut out = Vec::new();
        let mut device: Option<String> = None;
        let result = loop {
            let read = tokio::time::timeout(self.config.idle_timeout, rd.read(&mut buf)).await;
            let n = match read {
                Err(_) => break Err(GatewayError::IdleTimeout),
                Ok(Err(e)) => break Err(GatewayError::Io(e.kind())),
                Ok(Ok(0)) => break conn.handle_eof().map_err(GatewayError::Protocol),
                Ok(Ok(n)) => n,
            };
            let now = clock.now();
            let handled = conn.handle_bytes(now, &buf[..n], &mut self.context.borrow_mut());
            while let Some(event) = conn.poll_event() {
                self.on_event(&mut conn, event, now, &mut device)?;
            }
            out.clear();
            conn.poll_transmit(&mut out);
            if !out.is_empty() && wr.write_all(&out).await.is_err() {
                break Err(GatewayError::Io(std::io::ErrorKind::BrokenPipe));
            }
            if let Err(e) = handled {
                break Err(GatewayError::Protocol(e));
            }
        };
        if let Some(subject) = device {
            let mut stats = self.stats.borrow_mut();
            if let Some(count) = stats.online.get_mut(&subject) {
                *count -= 1;
                if *count == 0 {
                    stats.online.remove(&subject);
                }
            }
        }
        result
    }

    fn on_event(
        &self,
        conn: &mut ServerConnection,
        event: Event,
        now: camproof_protocol::Timestamp,
        device: &mut Option<String>,
    ) -> Result<(), GatewayError> {
        match event {
            Event::Connected { peer, resumed } => {
                {
                    let mut stats = self.stats.borrow_mut();
                    if resumed {
                        stats.resumptions += 1;
                    } else {
                        stats.handshakes += 1;
                    }
                    *stats.online.entry(peer.subject.clone()).or_default() += 1;
                }
                self.trace.record(
                    now,
                    format!(
                        "{} {} {}",
                        self.config.name,
                        if resumed { "resumed" } else { "authenticated" },
                        peer.subject
                    ),
                );
                *device = Some(peer.subject);
                let assign = AppMessage::Assign {
                    relay: self.config.relay.clone(),
                    fallbacks: self.config.fallbacks.clone(),
                };
                conn.send(&assign.encode())
                    .map_err(GatewayError::Protocol)?;
            }
            Event::Data(bytes) => match AppMessage::decode(&bytes) {
                Ok(AppMessage::Heartbeat { seq, .. }) => {
                    self.stats.borrow_mut().heartbeats += 1;
                    let ack = AppMessage::HeartbeatAck {
                        seq,
                        server_time: now,
                    };
                    conn.send(&ack.encode()).map_err(GatewayError::Protocol)?;
                }
                Ok(AppMessage::Video(frame)) => {
                    let (header, _) =
                        VideoHeader::parse(&frame).map_err(|_| GatewayError::BadVideo)?;
                    let mut stats = self.stats.borrow_mut();
                    stats.video_frames += 1;
                    stats.video_bytes += frame.len() as u64;
                    let latency = now.saturating_since(header.timestamp);
                    stats
                        .frame_latency_us
                        .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
                }
                Ok(AppMessage::CommandResult { .. }) => {}
                Ok(_) => return Err(GatewayError::UnexpectedMessage),
                Err(_) => return Err(GatewayError::BadMessage),
            },
            Event::KeyUpdated { .. } | Event::Closed { .. } => {}
        }
        Ok(())
    }
}

/// Why a gateway connection ended badly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The CDP/1 connection failed.
    #[error("CDP/1: {0}")]
    Protocol(CdpError),
    /// The socket failed.
    #[error("socket: {0}")]
    Io(std::io::ErrorKind),
    /// The device sent nothing within the idle timeout.
    #[error("idle timeout")]
    IdleTimeout,
    /// An application message that does not parse.
    #[error("malformed application message")]
    BadMessage,
    /// An application message a device must not send.
    #[error("unexpected application message")]
    UnexpectedMessage,
    /// A video message whose frame header does not parse.
    #[error("malformed video frame header")]
    BadVideo,
}

fn failure_kind(e: &GatewayError) -> String {
    match e {
        GatewayError::Protocol(CdpError::PeerMisbehaved(p)) => {
            let text = format!("{p:?}");
            text.split([' ', '(', '{'])
                .next()
                .unwrap_or("protocol")
                .to_string()
        }
        GatewayError::Protocol(CdpError::Certificate(_)) => "Certificate".into(),
        GatewayError::Protocol(_) => "Protocol".into(),
        GatewayError::Io(_) => "Io".into(),
        GatewayError::IdleTimeout => "IdleTimeout".into(),
        GatewayError::BadMessage => "BadMessage".into(),
        GatewayError::UnexpectedMessage => "UnexpectedMessage".into(),
        GatewayError::BadVideo => "BadVideo".into(),
    }
}
