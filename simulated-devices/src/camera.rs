//! The camera firmware model.
//!
//! A [`Camera`] is one task: it connects to a gateway through any [`Net`], runs the
//! CDP/1 handshake (resuming with its ticket when it has one), sends heartbeats and
//! end-to-end sealed video, follows the fallback endpoints the gateway assigns, and
//! reconnects with exponential backoff and full jitter when a connection fails.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use camproof_platform::net::{Clock, Net};
use camproof_protocol::cdp::{AppMessage, ClientConfig, ClientConnection, Event, SessionTicket};
use camproof_protocol::pki::DeviceCredentials;
use camproof_protocol::video::{Codec, FrameSealer, PairingSecret};
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Deliberate defects of a flawed firmware profile; all off in the reference camera.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CameraFlaws {
    /// The camera's clock is this many seconds ahead (negative: behind) of true time.
    pub clock_skew_secs: i64,
    /// Reconnect after a fixed 100 ms, without backoff or jitter (a thundering herd).
    pub no_backoff: bool,
    /// Defects of the CDP/1 implementation (nonce reuse, no replay check).
    pub device: camproof_protocol::cdp::DeviceFlaws,
}

/// How a camera without backoff retries: fast and in lockstep.
pub const NO_BACKOFF_RETRY: Duration = Duration::from_millis(100);

/// Firmware settings shared by a fleet of cameras.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraConfig {
    /// Gateway endpoints in order of preference (the home zone first).
    pub gateways: Vec<String>,
    /// Interval between heartbeats.
    pub heartbeat: Duration,
    /// Video frames per second; 0 sends no video.
    pub fps: u32,
    /// Average video bitrate in bits per second.
    pub bitrate_bps: u64,
    /// Frames per group of pictures (one keyframe each).
    pub gop: u32,
    /// First reconnect delay bound.
    pub backoff_base: Duration,
    /// Largest reconnect delay bound.
    pub backoff_max: Duration,
    /// Cameras boot at a random moment within this window (power-on is not synchronous).
    pub boot_window: Duration,
    /// Give up a connection attempt after this long.
    pub connect_timeout: Duration,
    /// Defects of a flawed profile (none by default).
    pub flaws: CameraFlaws,
}

impl Default for CameraConfig {
    fn default() -> Self {
        CameraConfig {
            gateways: Vec::new(),
            heartbeat: Duration::from_secs(20),
            fps: 0,
            bitrate_bps: 512_000,
            gop: 25,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            boot_window: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            flaws: CameraFlaws::default(),
        }
    }
}

/// Counters a fleet of cameras shares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetStats {
    /// Connection attempts.
    pub connect_attempts: u64,
    /// Sessions established with a full handshake.
    pub handshakes: u64,
    /// Sessions established by resumption.
    pub resumptions: u64,
    /// Sessions or attempts that ended in an error.
    pub failures: u64,
    /// Heartbeats the platform acknowledged.
    pub heartbeats_acked: u64,
    /// Video frames sent.
    pub frames_sent: u64,
    /// Sealed video bytes sent.
    pub video_bytes_sent: u64,
    /// Cameras with an established session right now.
    pub online: BTreeSet<u64>,
}

/// One simulated camera.
pub struct Camera {
    index: u64,
    config: Rc<CameraConfig>,
    client_config: Arc<ClientConfig>,
    credentials: Arc<DeviceCredentials>,
    rng: ChaCha8Rng,
    pairing: PairingSecret,
    boots: u32,
    endpoints: Vec<String>,
    ticket: Option<SessionTicket>,
    stats: Rc<RefCell<FleetStats>>,
}

impl std::fmt::Debug for Camera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Camera")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// Why one session ended.
#[derive(Debug)]
enum SessionEnd {
    /// The session had been established; reconnect promptly.
    AfterEstablished,
    /// It never got established.
    Failed,
    /// The gateway stopped answering heartbeats: try the next endpoint at once.
    GatewaySilent,
}

/// Heartbeats that may go unanswered before the camera gives up on its gateway.
pub const MISSED_ACKS_BEFORE_FAILOVER: u32 = 3;

impl Camera {
    /// Camera `index` with its credentials and a seeded RNG for every random draw.
    pub fn new(
        index: u64,
        config: Rc<CameraConfig>,
        client_config: Arc<ClientConfig>,
        credentials: Arc<DeviceCredentials>,
        mut rng: ChaCha8Rng,
        stats: Rc<RefCell<FleetStats>>,
    ) -> Self {
        let pairing = PairingSecret::generate(&mut rng);
        let endpoints = config.gateways.clone();
        Camera {
            index,
            config,
            client_config,
            credentials,
            rng,
            pairing,
            boots: 0,
            endpoints,
            ticket: None,
            stats,
        }
    }

    /// Runs the camera until the task is dropped.
    pub async fn run<N: Net, C: Clock>(mut self, net: N, clock: C) {
        let window = u64::try_from(self.config.boot_window.as_micros()).unwrap_or(u64::MAX);
        if window > 0 {
            tokio::time::sleep(Duration::from_micros(self.rng.next_u64() % window)).await;
        }
        let mut attempt: u32 = 0;
        let mut next_endpoint = 0usize;
        loop {
            if self.endpoints.is_empty() {
                return;
            }
            let endpoint = self.endpoints[next_endpoint % self.endpoints.len()].clone();
            self.stats.borrow_mut().connect_attempts += 1;
            let connected =
                tokio::time::timeout(self.config.connect_timeout, net.connect(&endpoint)).await;
            let end = match connected {
                Ok(Ok(stream)) => self.session(stream, &clock).await,
                _ => SessionEnd::Failed,
            };
            match end {
                SessionEnd::AfterEstablished => attempt = 0,
                SessionEnd::GatewaySilent => {
                    attempt = 0;
                    next_endpoint += 1;
                }
                SessionEnd::Failed => {
                    self.stats.borrow_mut().failures += 1;
                    // Try the next endpoint: the home gateway may be down.
                    next_endpoint += 1;
                }
            }
            let delay = self.backoff(attempt);
            attempt = attempt.saturating_add(1);
            tokio::time::sleep(delay).await;
        }
    }

    /// Full jitter: a uniform delay up to `min(max, base * 2^attempt)`.
    fn backoff(&mut self, attempt: u32) -> Duration {
        if self.config.flaws.no_backoff {
            return NO_BACKOFF_RETRY;
        }
        let base = u64::try_from(self.config.backoff_base.as_micros()).unwrap_or(u64::MAX);
        let max = u64::try_from(self.config.backoff_max.as_micros()).unwrap_or(u64::MAX);
        let bound = base.saturating_mul(1u64 << attempt.min(30)).min(max).max(1);
        Duration::from_micros(self.rng.next_u64() % bound)
    }

    /// The camera's own idea of the time: the true time plus its clock's skew.
    fn local_time<C: Clock>(&self, clock: &C) -> camproof_protocol::Timestamp {
        let now = clock.now().as_micros();
        let skew = self.config.flaws.clock_skew_secs.saturating_mul(1_000_000);
        camproof_protocol::Timestamp::from_micros(now.saturating_add_signed(skew))
    }

    async fn session<S, C>(&mut self, stream: S, clock: &C) -> SessionEnd
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
        C: Clock,
    {
        let now = self.local_time(clock);
        let mut conn = match self.ticket.take().filter(|t| t.is_valid(now)) {
            Some(ticket) => ClientConnection::resume(
                self.client_config.clone(),
                self.credentials.clone(),
                ticket,
                now,
                &mut self.rng,
            ),
            None => ClientConnection::connect(
                self.client_config.clone(),
                self.credentials.clone(),
                now,
                &mut self.rng,
            ),
        };
        self.boots = self.boots.wrapping_add(1);
        // A new key epoch per session: a restarted stream never reuses a nonce.
        let mut sealer = FrameSealer::new(&self.pairing, self.index as u32, self.boots);
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut buf = vec![0u8; 16 * 1024];
        let mut out = Vec::new();
        let mut heartbeat = tokio::time::interval(self.config.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let frame_interval = if self.config.fps > 0 {
            Duration::from_micros(1_000_000 / u64::from(self.config.fps))
        } else {
            Duration::from_secs(3600)
        };
        let mut frames = tokio::time::interval(frame_interval);
        frames.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut heartbeat_seq = 0u32;
        let mut last_ack = now;
        let silence_limit = self.config.heartbeat * MISSED_ACKS_BEFORE_FAILOVER;
        let mut frame_no = 0u64;
        let mut established = false;
        let avg_frame = if self.config.fps > 0 {
            (self.config.bitrate_bps / 8 / u64::from(self.config.fps)) as usize
        } else {
            0
        };
        let end = loop {
            out.clear();
            conn.poll_transmit(&mut out);
            if !out.is_empty() && wr.write_all(&out).await.is_err() {
                break SessionEnd::Failed;
            }
            tokio::select! {
                biased;
                read = rd.read(&mut buf) => {
                    let n = match read {
                        Ok(0) | Err(_) => break SessionEnd::Failed,
                        Ok(n) => n,
                    };
                    if conn.handle_bytes(self.local_time(clock), &buf[..n]).is_err() {
                        // Send the alert the connection queued, then give up.
                        out.clear();
                        conn.poll_transmit(&mut out);
                        let _ = wr.write_all(&out).await;
                        break SessionEnd::Failed;
                    }
                    while let Some(event) = conn.poll_event() {
                        match event {
                            Event::Connected { resumed, .. } => {
                                established = true;
                                let mut stats = self.stats.borrow_mut();
                                if resumed { stats.resumptions += 1 } else { stats.handshakes += 1 }
                                stats.online.insert(self.index);
                            }
                            Event::Data(bytes) => {
                                if self.on_message(&mut conn, &bytes) {
                                    last_ack = self.local_time(clock);
                                }
                            }
                            Event::KeyUpdated { .. } => {}
                            Event::Closed { .. } => {}
                        }
                    }
                }
                _ = heartbeat.tick(), if established => {
                    if self.local_time(clock).saturating_since(last_ack) > silence_limit {
                        break SessionEnd::GatewaySilent;
                    }
                    let uptime = u32::try_from(self.local_time(clock).as_secs()).unwrap_or(u32::MAX);
                    let hb = AppMessage::Heartbeat { seq: heartbeat_seq, uptime_secs: uptime };
                    heartbeat_seq = heartbeat_seq.wrapping_add(1);
                    if conn.send(&hb.encode()).is_err() {
                        break SessionEnd::Failed;
                    }
                }
                _ = frames.tick(), if established && self.config.fps > 0 => {
                    let keyframe = frame_no % u64::from(self.config.gop.max(1)) == 0;
                    let len = if keyframe { avg_frame * 3 } else { avg_frame };
                    let payload = vec![0u8; len.min(camproof_protocol::cdp::MAX_RECORD_PAYLOAD - 128)];
                    frame_no += 1;
                    let Ok(frame) = sealer.seal(self.local_time(clock), keyframe, Codec::H264, &payload) else {
                        break SessionEnd::Failed;
                    };
                    let bytes = frame.len() as u64;
                    if conn.send(&AppMessage::Video(frame).encode()).is_err() {
                        break SessionEnd::Failed;
                    }
                    let mut stats = self.stats.borrow_mut();
                    stats.frames_sent += 1;
                    stats.video_bytes_sent += bytes;
                }
            }
        };
        self.stats.borrow_mut().online.remove(&self.index);
        if let Some(ticket) = conn.take_ticket() {
            self.ticket = Some(ticket);
        }
        match end {
            SessionEnd::GatewaySilent => end,
            _ if established => SessionEnd::AfterEstablished,
            _ => end,
        }
    }

    /// Handles one message from the platform; returns whether it was a heartbeat ack.
    fn on_message(&mut self, conn: &mut ClientConnection, bytes: &[u8]) -> bool {
        match AppMessage::decode(bytes) {
            Ok(AppMessage::HeartbeatAck { .. }) => {
                self.stats.borrow_mut().heartbeats_acked += 1;
                return true;
            }
            Ok(AppMessage::Assign { fallbacks, .. }) => {
                // Keep the current endpoint first, then the platform's fallbacks.
                for f in fallbacks {
                    if !self.endpoints.contains(&f) {
                        self.endpoints.push(f);
                    }
                }
            }
            Ok(AppMessage::Command { id, .. }) => {
                let result = AppMessage::CommandResult {
                    id,
                    status: 0,
                    body: Vec::new(),
                };
                let _ = conn.send(&result.encode());
            }
            // Anything else from the platform is ignored by this firmware.
            _ => {}
        }
        false
    }
}
