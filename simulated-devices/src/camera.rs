//! The camera firmware model.
//!
//! A [`Camera`] is one task: it connects to a gateway through any [`Net`], runs the
//! CDP/1 handshake (resuming with its ticket when it has one), sends heartbeats and
//! end-to-end sealed video, follows the fallback endpoints the gateway assigns, and
//! reconnects with exponential backoff and full jitter when a connection fails.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use camproof_net::{Clock, Net};
use camproof_protocol::cdp::{
    AppMessage, ClientConfig, ClientConnection, CommandKind, Event, LiveViewGrant, SessionTicket,
};
use camproof_protocol::ota::{DeviceFirmware, FirmwareVersion, ImageVerifier, SignedManifest};
use camproof_protocol::pki::DeviceCredentials;
use camproof_protocol::relay::{RelayHello, RelayRole, MAX_RELAY_FRAME};
use rsa::RsaPublicKey;

use crate::netip_server::upgrade::{Policy, UpgradeFlaws, UpgradeOutcome, UpgradeReceiver};
use camproof_protocol::video::{Codec, FrameSealer, PairingSecret};
pub use camproof_results::FleetStats;
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
    /// The video pairing secret is all zeros, so anyone (the relay too) can open frames.
    pub weak_pairing_secret: bool,
    /// Every streaming session reuses video key epoch 1 (sequence restarts: nonce reuse).
    pub reuse_video_epoch: bool,
    /// No frame carries the keyframe flag.
    pub no_keyframe_flag: bool,
    /// Keep presenting the first valid resumption ticket, even once spent or refused.
    pub reuse_ticket: bool,
    /// Ignore the fallback endpoints the platform assigns.
    pub ignore_fallbacks: bool,
    /// Install a cloud OTA image without checking its signature.
    pub accept_unsigned_ota: bool,
    /// Install a correctly signed image below the rollback floor.
    pub accept_downgrade_ota: bool,
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
    /// Longest a live view streams to the relay before the camera ends it.
    pub live_view_max: Duration,
    /// The camera's model (what OTA images must be built for).
    pub model: String,
    /// The firmware version in the active slot at first boot.
    pub firmware: FirmwareVersion,
    /// The vendor key firmware images must be signed with (`None`: no OTA possible).
    pub vendor_key: Option<RsaPublicKey>,
    /// Records the camera sends under one key before a key update (`None`: the CDP/1
    /// configuration's, 100,000 by default).
    pub rekey_after: Option<u64>,
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
            live_view_max: Duration::from_secs(60),
            model: "bullet-4k".to_owned(),
            firmware: FirmwareVersion::new(1, 0, 0),
            vendor_key: None,
            rekey_after: None,
            flaws: CameraFlaws::default(),
        }
    }
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
    live_epoch: u32,
    /// A/B slots: the firmware state of the active slot and what the other holds.
    firmware: DeviceFirmware,
    inactive_slot: Option<FirmwareVersion>,
    /// An install to report once the camera is back up.
    ota_report: Option<AppMessage>,
    /// The image being downloaded, if any.
    download: Option<Download>,
    /// An image was installed: reboot into it when the current event is handled.
    reboot: bool,
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
    /// It failed (never established, or broken), for this reason.
    Failed(&'static str),
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
        let pairing = if config.flaws.weak_pairing_secret {
            PairingSecret::from_bytes([0; 32])
        } else {
            Self::pairing_secret(&mut rng)
        };
        let endpoints = config.gateways.clone();
        let client_config = match config.rekey_after {
            Some(n) if n != client_config.rekey_after => {
                let mut c = ClientConfig::clone(&client_config);
                c.rekey_after = n.max(1);
                Arc::new(c)
            }
            _ => client_config,
        };
        let firmware = DeviceFirmware::new(config.model.clone(), config.firmware, config.firmware);
        Camera {
            index,
            config,
            client_config,
            credentials,
            rng,
            pairing,
            boots: 0,
            live_epoch: 0,
            firmware,
            inactive_slot: None,
            ota_report: None,
            download: None,
            reboot: false,
            endpoints,
            ticket: None,
            stats,
        }
    }

    /// The pairing secret a camera built with an RNG seeded like `rng` holds: its first
    /// draw. The world hands the same secret to the owner's viewer (as pairing would).
    pub fn pairing_secret(rng: &mut ChaCha8Rng) -> PairingSecret {
        PairingSecret::generate(rng)
    }

    /// Runs the camera until the task is dropped.
    pub async fn run<N: Net, C: Clock>(mut self, net: N, clock: C) {
        let window = u64::try_from(self.config.boot_window.as_micros()).unwrap_or(u64::MAX);
        if window > 0 {
            tokio::time::sleep(Duration::from_micros(self.rng.next_u64() % window)).await;
        }
        self.stats
            .borrow_mut()
            .boot(self.index, self.firmware.current.to_string());
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
                Ok(Ok(stream)) => self.session(stream, &endpoint, &net, &clock).await,
                Ok(Err(e)) => {
                    tracing::info!(camera = self.index, %endpoint, error = %e, "connect failed");
                    SessionEnd::Failed("connect failed")
                }
                Err(_) => {
                    tracing::info!(camera = self.index, %endpoint, "connect timed out");
                    SessionEnd::Failed("connect timed out")
                }
            };
            match end {
                SessionEnd::AfterEstablished => attempt = 0,
                SessionEnd::GatewaySilent => {
                    attempt = 0;
                    next_endpoint += 1;
                }
                SessionEnd::Failed(_) => {
                    self.stats.borrow_mut().failures += 1;
                    // Try the next endpoint: the home gateway may be down.
                    next_endpoint += 1;
                }
            }
            let delay = self.backoff(attempt);
            tracing::info!(
                camera = self.index,
                attempt,
                delay_ms = delay.as_millis(),
                "retrying"
            );
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

    async fn session<S, N, C>(
        &mut self,
        stream: S,
        endpoint: &str,
        net: &N,
        clock: &C,
    ) -> SessionEnd
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
        N: Net,
        C: Clock,
    {
        let now = self.local_time(clock);
        let ticket = if self.config.flaws.reuse_ticket {
            self.ticket.clone()
        } else {
            self.ticket.take()
        }
        .filter(|t| t.is_valid(now));
        // Kept in case the attempt dies before the platform says anything: then the
        // platform never redeemed it, and the next attempt may still resume. (Had it
        // redeemed it, the next attempt is refused and falls back to a full handshake.)
        let mut unspent = ticket.clone();
        let mut conn = match ticket {
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
        let epoch = if self.config.flaws.reuse_video_epoch {
            1
        } else {
            self.boots
        };
        let mut sealer = FrameSealer::new(&self.pairing, self.index as u32, epoch);
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut buf = vec![0u8; 16 * 1024];
        let mut out = Vec::new();
        let mut heartbeat = tokio::time::interval(self.config.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A handshake whose answer was lost (a segment dropped by a partition, with no
        // close) must not hold the camera forever.
        let handshake_deadline = tokio::time::sleep(self.config.connect_timeout);
        tokio::pin!(handshake_deadline);
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
                break SessionEnd::Failed("write failed");
            }
            tokio::select! {
                biased;
                read = rd.read(&mut buf) => {
                    let n = match read {
                        Ok(0) => break SessionEnd::Failed("closed by the gateway"),
                        Err(_) => break SessionEnd::Failed("read failed"),
                        Ok(n) => n,
                    };
                    unspent = None;
                    if let Err(e) = conn.handle_bytes(self.local_time(clock), &buf[..n]) {
                        tracing::warn!(camera = self.index, %endpoint, error = %e, "CDP/1 error");
                        // Send the alert the connection queued, then give up.
                        out.clear();
                        conn.poll_transmit(&mut out);
                        let _ = wr.write_all(&out).await;
                        break SessionEnd::Failed("CDP/1 error");
                    }
                    while let Some(event) = conn.poll_event() {
                        match event {
                            Event::Connected { resumed, .. } => {
                                established = true;
                                tracing::info!(camera = self.index, %endpoint, resumed, "connected");
                                {
                                    let mut stats = self.stats.borrow_mut();
                                    if resumed { stats.resumptions += 1 } else { stats.handshakes += 1 }
                                    stats.online.insert(self.index);
                                }
                                let info = AppMessage::DeviceInfo {
                                    model: self.firmware.model.clone(),
                                    version: self.firmware.current.to_string(),
                                };
                                let _ = conn.send(&info.encode());
                                if let Some(report) = self.ota_report.take() {
                                    let _ = conn.send(&report.encode());
                                }
                            }
                            Event::Data(bytes) => {
                                if self.on_message(&mut conn, &bytes, net, clock) {
                                    last_ack = self.local_time(clock);
                                }
                                if self.reboot {
                                    break;
                                }
                            }
                            Event::KeyUpdated { .. } | Event::Closed { .. } | Event::AppConnected => {}
                        }
                    }
                    if self.reboot {
                        // Boot into the new slot: the session ends, the camera comes back
                        // with the new firmware and reports the install.
                        out.clear();
                        conn.poll_transmit(&mut out);
                        let _ = wr.write_all(&out).await;
                        self.reboot = false;
                        break SessionEnd::AfterEstablished;
                    }
                }
                _ = &mut handshake_deadline, if !established => {
                    break SessionEnd::Failed("handshake timed out");
                }
                _ = heartbeat.tick(), if established => {
                    if self.local_time(clock).saturating_since(last_ack) > silence_limit {
                        break SessionEnd::GatewaySilent;
                    }
                    let uptime = u32::try_from(self.local_time(clock).as_secs()).unwrap_or(u32::MAX);
                    let hb = AppMessage::Heartbeat { seq: heartbeat_seq, uptime_secs: uptime };
                    heartbeat_seq = heartbeat_seq.wrapping_add(1);
                    if conn.send(&hb.encode()).is_err() {
                        break SessionEnd::Failed("heartbeat not sent");
                    }
                    self.stats.borrow_mut().heartbeats_sent += 1;
                }
                _ = frames.tick(), if established && self.config.fps > 0 => {
                    let keyframe = !self.config.flaws.no_keyframe_flag
                        && frame_no % u64::from(self.config.gop.max(1)) == 0;
                    let len = if keyframe { avg_frame * 3 } else { avg_frame };
                    let payload = vec![0u8; len.min(camproof_protocol::cdp::MAX_RECORD_PAYLOAD - 128)];
                    frame_no += 1;
                    let Ok(frame) = sealer.seal(self.local_time(clock), keyframe, Codec::H264, &payload) else {
                        break SessionEnd::Failed("video not sealed");
                    };
                    let bytes = frame.len() as u64;
                    if conn.send(&AppMessage::Video(frame).encode()).is_err() {
                        break SessionEnd::Failed("video not sent");
                    }
                    let mut stats = self.stats.borrow_mut();
                    stats.frames_sent += 1;
                    stats.video_bytes_sent += bytes;
                }
            }
        };
        self.stats.borrow_mut().online.remove(&self.index);
        if self.download.take().is_some() {
            // The old slot stays active; the platform offers the image again later.
            self.stats.borrow_mut().ota_interrupted += 1;
        }
        if let Some(ticket) = conn.take_ticket().or(unspent) {
            let now = self.local_time(clock);
            let keep_old = self.config.flaws.reuse_ticket
                && self.ticket.as_ref().is_some_and(|t| t.is_valid(now));
            if !keep_old {
                self.ticket = Some(ticket);
            }
        }
        match &end {
            SessionEnd::GatewaySilent => {
                tracing::warn!(camera = self.index, %endpoint, "gateway silent: session lost")
            }
            SessionEnd::Failed(reason) if established => {
                tracing::warn!(camera = self.index, %endpoint, reason, "session lost")
            }
            SessionEnd::Failed(reason) => {
                tracing::info!(camera = self.index, %endpoint, reason, "session not established")
            }
            SessionEnd::AfterEstablished => {
                tracing::info!(camera = self.index, %endpoint, "rebooting into new firmware")
            }
        }
        match end {
            SessionEnd::GatewaySilent => end,
            _ if established => SessionEnd::AfterEstablished,
            _ => end,
        }
    }

    /// Handles one message from the platform; returns whether it was a heartbeat ack.
    fn on_message<N: Net, C: Clock>(
        &mut self,
        conn: &mut ClientConnection,
        bytes: &[u8],
        net: &N,
        clock: &C,
    ) -> bool {
        match AppMessage::decode(bytes) {
            Ok(AppMessage::HeartbeatAck { .. }) => {
                self.stats.borrow_mut().heartbeats_acked += 1;
                return true;
            }
            Ok(AppMessage::Assign { fallbacks, .. }) if !self.config.flaws.ignore_fallbacks => {
                // Keep the current endpoint first, then the platform's fallbacks.
                for f in fallbacks {
                    if !self.endpoints.contains(&f) {
                        self.endpoints.push(f);
                    }
                }
            }
            Ok(AppMessage::OtaOffer {
                manifest,
                image_size,
            }) if self.download.is_none() => self.begin_download(conn, &manifest, image_size),
            Ok(AppMessage::OtaChunk { offset, data }) => self.on_chunk(conn, offset, &data),
            Ok(AppMessage::Command { id, kind, body }) => {
                self.stats.borrow_mut().commands += 1;
                let (status, body) = match kind {
                    CommandKind::LiveView => match LiveViewGrant::decode(&body) {
                        Ok(grant) => {
                            // A fresh key epoch per live view: no nonce is ever reused,
                            // even if the platform hands out a stream id again.
                            self.live_epoch = self.live_epoch.wrapping_add(1);
                            let epoch = self.live_epoch;
                            tokio::task::spawn_local(live_view(LiveView {
                                net: net.clone(),
                                clock: clock.clone(),
                                grant,
                                pairing: self.pairing.clone(),
                                epoch,
                                config: self.config.clone(),
                                stats: self.stats.clone(),
                            }));
                            (0, epoch.to_be_bytes().to_vec())
                        }
                        Err(_) => (2, Vec::new()),
                    },
                    // PTZ, snapshot and configuration succeed on the reference camera.
                    _ => (0, Vec::new()),
                };
                let result = AppMessage::CommandResult { id, status, body };
                let _ = conn.send(&result.encode());
            }
            // Anything else from the platform is ignored by this firmware.
            _ => {}
        }
        false
    }
}

/// An OTA image arriving in chunks.
struct Download {
    receiver: UpgradeReceiver,
    signed: Option<SignedManifest>,
    image_size: u64,
    received: u64,
}

/// Bytes asked for per OTA fetch.
const OTA_FETCH: u32 = camproof_protocol::cdp::app::MAX_OTA_CHUNK as u32;

impl Camera {
    /// The firmware's upgrade policy: the real checks, minus what a flaw skips.
    fn policy(&self) -> Policy<'_> {
        Policy {
            vendor_key: self.config.vendor_key.as_ref(),
            firmware: &self.firmware,
            flaws: UpgradeFlaws {
                accept_unsigned_upgrade: self.config.flaws.accept_unsigned_ota,
                accept_downgrade: self.config.flaws.accept_downgrade_ota,
            },
        }
    }

    fn begin_download(&mut self, conn: &mut ClientConnection, manifest: &[u8], image_size: u64) {
        let signed = SignedManifest::decode(manifest).ok();
        let mut frame = (manifest.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(manifest);
        let limit = image_size.saturating_add(frame.len() as u64);
        let mut receiver = UpgradeReceiver::new(limit);
        if receiver.chunk(&frame, &self.policy()).is_err() {
            let reason = self.refusal_code(signed.as_ref());
            self.report_refusal(conn, signed.as_ref(), reason);
            return;
        }
        self.download = Some(Download {
            receiver,
            signed,
            image_size,
            received: 0,
        });
        self.fetch_next(conn);
    }

    fn fetch_next(&mut self, conn: &mut ClientConnection) {
        let Some(d) = &self.download else {
            return;
        };
        let len = u32::try_from(d.image_size - d.received)
            .unwrap_or(u32::MAX)
            .min(OTA_FETCH);
        let _ = conn.send(
            &AppMessage::OtaFetch {
                offset: d.received,
                len,
            }
            .encode(),
        );
    }

    fn on_chunk(&mut self, conn: &mut ClientConnection, offset: u64, data: &[u8]) {
        let policy_flaws = self.policy().flaws;
        let Some(mut d) = self.download.take() else {
            return;
        };
        if offset != d.received || data.is_empty() {
            // Not what was asked for: give up on this download (offered again later).
            self.stats.borrow_mut().ota_interrupted += 1;
            return;
        }
        let policy = Policy {
            vendor_key: self.config.vendor_key.as_ref(),
            firmware: &self.firmware,
            flaws: policy_flaws,
        };
        if d.receiver.chunk(data, &policy).is_err() {
            let reason = self.refusal_code(d.signed.as_ref());
            self.report_refusal(conn, d.signed.as_ref(), reason);
            return;
        }
        d.received += data.len() as u64;
        if d.received < d.image_size {
            self.download = Some(d);
            self.fetch_next(conn);
            return;
        }
        let before = self.firmware.current;
        let mut firmware = self.firmware.clone();
        let outcome = {
            let policy = Policy {
                vendor_key: self.config.vendor_key.as_ref(),
                firmware: &self.firmware,
                flaws: policy_flaws,
            };
            d.receiver.finish(&policy, &mut firmware)
        };
        match outcome {
            UpgradeOutcome::Installed(version) => {
                // Written to the inactive slot, which becomes active at the reboot.
                self.firmware = firmware;
                self.inactive_slot = Some(before);
                self.ota_report = Some(AppMessage::OtaReport {
                    version: version.to_string(),
                    result: 0,
                    reason: String::new(),
                });
                let mut stats = self.stats.borrow_mut();
                stats.ota_installed += 1;
                stats.boot(self.index, version.to_string());
                *stats.installs.entry(version.to_string()).or_default() += 1;
                self.reboot = true;
            }
            UpgradeOutcome::Refused(_) => {
                let reason = self.refusal_code(d.signed.as_ref());
                self.report_refusal(conn, d.signed.as_ref(), reason);
            }
        }
    }

    /// Why the reference policy refuses `signed` (for the report to the platform).
    fn refusal_code(&self, signed: Option<&SignedManifest>) -> &'static str {
        use camproof_protocol::ota::RefusalCode;
        let (Some(signed), Some(key)) = (signed, self.config.vendor_key.as_ref()) else {
            return RefusalCode::Malformed.as_str();
        };
        match ImageVerifier::new(signed, &self.firmware, key) {
            Err(e) => RefusalCode::from(&e).as_str(),
            // The manifest was fine: the image did not match it.
            Ok(_) => RefusalCode::HashMismatch.as_str(),
        }
    }

    fn report_refusal(
        &mut self,
        conn: &mut ClientConnection,
        signed: Option<&SignedManifest>,
        reason: &str,
    ) {
        self.stats.borrow_mut().ota_refused += 1;
        let version = signed
            .map(|s| s.manifest().version.to_string())
            .unwrap_or_default();
        let _ = conn.send(
            &AppMessage::OtaReport {
                version,
                result: 1,
                reason: reason.to_owned(),
            }
            .encode(),
        );
    }
}

/// One live view: where to stream, with what, for how long.
struct LiveView<N, C> {
    net: N,
    clock: C,
    grant: LiveViewGrant,
    pairing: PairingSecret,
    epoch: u32,
    config: Rc<CameraConfig>,
    stats: Rc<RefCell<FleetStats>>,
}

/// Streams sealed frames to the relay named in the grant until the view's time is up or
/// the relay goes away.
async fn live_view<N: Net, C: Clock>(view: LiveView<N, C>) {
    let LiveView {
        net,
        clock,
        grant,
        pairing,
        epoch,
        config,
        stats,
    } = view;
    let mut sealer = FrameSealer::new(&pairing, grant.stream_id, epoch);
    drop(pairing);
    let ok = async {
        let mut stream = tokio::time::timeout(config.connect_timeout, net.connect(&grant.relay))
            .await
            .ok()?
            .ok()?;
        stream
            .write_all(
                &RelayHello {
                    role: RelayRole::Camera,
                    stream_id: grant.stream_id,
                    token: &grant.token,
                }
                .encode(),
            )
            .await
            .ok()?;
        let mut admitted = [0u8; 1];
        stream.read_exact(&mut admitted).await.ok()?;
        if admitted[0] != 0 {
            return None;
        }
        stats.borrow_mut().live_views += 1;
        let fps = if config.fps > 0 { config.fps } else { 15 };
        let avg = (config.bitrate_bps / 8 / u64::from(fps)) as usize;
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / u64::from(fps)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let frames = u64::from(fps) * config.live_view_max.as_secs().max(1);
        let skew = config.flaws.clock_skew_secs.saturating_mul(1_000_000);
        for n in 0..frames {
            tick.tick().await;
            let keyframe = n % u64::from(config.gop.max(1)) == 0;
            let len = if keyframe { avg * 3 } else { avg };
            let payload = vec![0u8; len.min(MAX_RELAY_FRAME / 2)];
            let now = camproof_protocol::Timestamp::from_micros(
                clock.now().as_micros().saturating_add_signed(skew),
            );
            let frame = sealer.seal(now, keyframe, Codec::H264, &payload).ok()?;
            // Frames go as they are: each is as long as its header says.
            stream.write_all(&frame).await.ok()?;
            stats.borrow_mut().live_frames_sent += 1;
        }
        Some(())
    }
    .await;
    if ok.is_none() {
        stats.borrow_mut().live_view_failures += 1;
    }
}
