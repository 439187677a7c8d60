//! The device gateway: terminates CDP/1, authenticates devices, answers heartbeats,
//! tells each device its relay and fallback endpoints, and receives sealed video.
//!
//! One [`Gateway`] serves one endpoint; each accepted connection runs as a local task
//! that moves bytes between the socket and a [`ServerConnection`]. The gateway never
//! holds an RSA private key and cannot open video frames: it reads their authenticated
//! header only (stream, sequence, capture time).

use std::cell::RefCell;
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

use crate::signaling::{AppSession, RegionServices};
use crate::trace::Trace;
use camproof_net::admission::write_within;
use camproof_net::{Admission, AdmissionLimits, Clock, Counted, Listener, Net};
pub use camproof_results::GatewayStats;

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
    /// A device connection (or one still in its handshake) that sends nothing for this
    /// long is closed; set from the devices' heartbeat interval.
    pub idle_timeout: Duration,
    /// An app session that sends nothing for this long is closed ([`APP_IDLE_TIMEOUT`](camproof_protocol::cdp::APP_IDLE_TIMEOUT)
    /// unless a test wants otherwise). Apps do not follow the cameras' heartbeat: a
    /// person reads a one-time code or watches a live view in between requests.
    pub app_idle_timeout: Duration,
    /// Connection caps, handshake deadline, pre-authentication bound and write timeout.
    pub admission: AdmissionLimits,
}

/// Read buffer of a connection not yet authenticated (it grows to
/// [`READ_BUFFER`] once the peer is known): an idle or slow stranger costs little.
const PREAUTH_READ_BUFFER: usize = 2 * 1024;
/// Read buffer of an authenticated connection.
const READ_BUFFER: usize = 16 * 1024;

/// A device gateway endpoint.
pub struct Gateway {
    config: GatewayConfig,
    server_config: Arc<ServerConfig>,
    /// Shared with the region's other gateways: one nonce cache and one ticket store, so
    /// a replayed hello is caught and a ticket resumes at any zone of the region.
    context: Rc<RefCell<ServerContext>>,
    /// The region's app-facing services; `None` refuses apps (a device-only gateway).
    services: Option<Rc<RefCell<RegionServices>>>,
    rng: RefCell<ChaCha8Rng>,
    next_connection: std::cell::Cell<u64>,
    stats: Rc<RefCell<GatewayStats>>,
    trace: Trace,
}

/// A device's firmware as its connection knows it.
#[derive(Default)]
struct DeviceOta {
    /// Model and version, from its `DeviceInfo`.
    info: Option<(String, String)>,
    /// The model and version it was offered.
    offered: Option<(String, camproof_protocol::ota::FirmwareVersion)>,
}

/// Who is on the other end of a gateway connection.
enum Peer {
    /// Handshake not finished.
    Unknown,
    /// An authenticated device, and what it runs and was offered.
    Device(camproof_protocol::pki::PeerIdentity, DeviceOta),
    /// An app (signed in or not).
    App(AppSession),
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
        Self::with_services(config, server_config, context, None, seed, stats, trace)
    }

    /// A gateway that also serves apps through its region's `services` (sign-in,
    /// devices, authorization codes, signaling, live view).
    pub fn with_services(
        config: GatewayConfig,
        server_config: Arc<ServerConfig>,
        context: Rc<RefCell<ServerContext>>,
        services: Option<Rc<RefCell<RegionServices>>>,
        seed: u64,
        stats: Rc<RefCell<GatewayStats>>,
        trace: Trace,
    ) -> Rc<Self> {
        Rc::new(Gateway {
            config,
            server_config,
            context,
            services,
            rng: RefCell::new(ChaCha8Rng::seed_from_u64(seed)),
            next_connection: std::cell::Cell::new(0),
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
        if let Some(services) = self.services.clone() {
            // Commands whose device never answers are answered `Timeout`.
            let clock = clock.clone();
            tokio::task::spawn_local(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    services.borrow_mut().expire(clock.now());
                }
            });
        }
        let stats = self.stats.clone();
        let admission = Admission::new(self.config.name.clone(), self.config.admission).observe(
            move |counted| {
                let mut stats = stats.borrow_mut();
                match counted {
                    Counted::Refused(_) => stats.refused += 1,
                    Counted::AcceptError => stats.accept_errors += 1,
                }
            },
        );
        loop {
            let (stream, peer, permit) = match admission.accept(&listener).await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(gateway = %self.config.name, error = %e, "accept failed: the gateway stops");
                    return Err(e);
                }
            };
            tracing::info!(gateway = %self.config.name, %peer, "accepted connection");
            self.stats.borrow_mut().connections += 1;
            let conn_seed = self.rng.borrow_mut().next_u64();
            let gw = self.clone();
            let clock = clock.clone();
            tokio::task::spawn_local(async move {
                // The connection's place under the caps is held until its task ends.
                let _permit = permit;
                let result = gw.connection(stream, peer, clock.clone(), conn_seed).await;
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

    async fn connection<S, C>(
        &self,
        stream: S,
        source: std::net::SocketAddr,
        clock: C,
        seed: u64,
    ) -> Result<(), GatewayError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
        C: Clock,
    {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut conn = ServerConnection::new(self.server_config.clone(), &mut rng);
        let limits = self.config.admission;
        let mut buf = vec![0u8; PREAUTH_READ_BUFFER];
        // The whole handshake must be over by then, however slowly its bytes trickle in.
        let handshake_deadline = tokio::time::Instant::now() + limits.handshake_deadline;
        // What the peer sent before it was authenticated.
        let mut preauth_bytes = 0usize;
        let mut out = Vec::new();
        let id = self.next_connection.get();
        self.next_connection.set(id + 1);
        // Messages for this connection from elsewhere: commands for a device, results
        // for an app.
        let (inbox_tx, mut inbox) = tokio::sync::mpsc::unbounded_channel::<AppMessage>();
        let mut peer = Peer::Unknown;
        let result = loop {
            // Devices heartbeat on a schedule; app sessions have a limit of their own.
            let idle_timeout = match peer {
                Peer::App(_) => self.config.app_idle_timeout,
                Peer::Device(..) => self.config.idle_timeout,
                Peer::Unknown => self
                    .config
                    .idle_timeout
                    .min(handshake_deadline.saturating_duration_since(tokio::time::Instant::now())),
            };
            let read = tokio::select! {
                biased;
                Some(message) = inbox.recv() => {
                    if let Err(e) = conn.send(&message.encode()) {
                        break Err(GatewayError::Protocol(e));
                    }
                    out.clear();
                    conn.poll_transmit(&mut out);
                    if let Err(e) = write_within(&mut wr, &out, limits.write_timeout).await {
                        break Err(GatewayError::write(&e));
                    }
                    continue;
                }
                read = tokio::time::timeout(idle_timeout, rd.read(&mut buf)) => read,
            };
            let n = match read {
                Err(_)
                    if matches!(peer, Peer::Unknown)
                        && tokio::time::Instant::now() >= handshake_deadline =>
                {
                    break Err(GatewayError::HandshakeDeadline)
                }
                Err(_) => break Err(GatewayError::IdleTimeout),
                Ok(Err(e)) => break Err(GatewayError::Io(e.kind())),
                Ok(Ok(0)) => break conn.handle_eof().map_err(GatewayError::Protocol),
                Ok(Ok(n)) => n,
            };
            if matches!(peer, Peer::Unknown) {
                preauth_bytes += n;
                if preauth_bytes > limits.preauth_bytes {
                    break Err(GatewayError::PreauthLimit);
                }
            }
            let now = clock.now();
            let handled = conn.handle_bytes(now, &buf[..n], &mut self.context.borrow_mut());
            let mut failed = None;
            let mut closed = false;
            while let Some(event) = conn.poll_event() {
                closed |= matches!(event, Event::Closed { clean: true });
                if let Err(e) =
                    self.on_event(&mut conn, event, now, &mut peer, id, source, &inbox_tx)
                {
                    failed = Some(e);
                    break;
                }
            }
            if !matches!(peer, Peer::Unknown) && buf.len() < READ_BUFFER {
                buf.resize(READ_BUFFER, 0);
            }
            out.clear();
            conn.poll_transmit(&mut out);
            if !out.is_empty() {
                if let Err(e) = write_within(&mut wr, &out, limits.write_timeout).await {
                    break Err(GatewayError::write(&e));
                }
            }
            if let Some(e) = failed {
                break Err(e);
            }
            if closed {
                // The peer said goodbye: say it too, and whatever the socket does next is
                // not a failure.
                conn.close();
                out.clear();
                conn.poll_transmit(&mut out);
                let _ = write_within(&mut wr, &out, limits.write_timeout).await;
                let _ = tokio::time::timeout(limits.write_timeout, wr.shutdown()).await;
                break Ok(());
            }
            if let Err(e) = handled {
                break Err(GatewayError::Protocol(e));
            }
        };
        self.log_end(&peer, source, &result);
        if let Peer::Device(device, _) = peer {
            if let Some(services) = &self.services {
                services
                    .borrow_mut()
                    .detach(&device, self.connection_key(id));
            }
            let mut stats = self.stats.borrow_mut();
            if let Some(count) = stats.online.get_mut(&device.subject) {
                *count -= 1;
                if *count == 0 {
                    stats.online.remove(&device.subject);
                }
            }
        }
        result
    }

    /// Logs how a connection ended: a refusal (the peer broke the protocol or failed
    /// authentication) as a warning, any other end as the session's last event.
    fn log_end(
        &self,
        peer: &Peer,
        source: std::net::SocketAddr,
        result: &Result<(), GatewayError>,
    ) {
        use tracing::field::display;
        let gateway = display(&self.config.name);
        let who = display(match peer {
            Peer::Unknown => "unauthenticated peer",
            Peer::Device(..) => "device",
            Peer::App(_) => "app",
        });
        let device = match peer {
            Peer::Device(d, _) => Some(display(&d.subject)),
            _ => None,
        };
        match result {
            Ok(()) => {
                tracing::info!(gateway, peer = %source, who, device, "session ended: closed")
            }
            Err(
                e @ (GatewayError::Protocol(_)
                | GatewayError::BadMessage
                | GatewayError::UnexpectedMessage
                | GatewayError::BadVideo
                | GatewayError::PreauthLimit),
            ) => tracing::warn!(gateway, peer = %source, who, device, error = %e, "refused"),
            Err(e) => {
                tracing::info!(gateway, peer = %source, who, device, reason = %e, "session ended")
            }
        }
    }

    /// A connection id unique across the region's gateways (they share one directory).
    fn connection_key(&self, id: u64) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.config.name.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        h ^ id.rotate_left(32)
    }

    #[allow(clippy::too_many_arguments)]
    fn on_event(
        &self,
        conn: &mut ServerConnection,
        event: Event,
        now: camproof_protocol::Timestamp,
        peer_state: &mut Peer,
        id: u64,
        source: std::net::SocketAddr,
        inbox: &tokio::sync::mpsc::UnboundedSender<AppMessage>,
    ) -> Result<(), GatewayError> {
        if let Peer::App(app) = peer_state {
            return self.on_app_event(conn, event, now, app);
        }
        match event {
            Event::AppConnected => {
                if self.services.is_none() {
                    return Err(GatewayError::UnexpectedMessage);
                }
                self.stats.borrow_mut().app_sessions += 1;
                tracing::info!(gateway = %self.config.name, peer = %source, "app session opened");
                *peer_state = Peer::App(AppSession::new(source.ip(), inbox.clone()));
            }
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
                tracing::info!(
                    gateway = %self.config.name,
                    peer = %source,
                    device = %peer.subject,
                    resumed,
                    "handshake done"
                );
                if let Some(services) = &self.services {
                    services.borrow_mut().attach(
                        &peer,
                        self.connection_key(id),
                        &self.config.relay,
                        inbox.clone(),
                    );
                }
                *peer_state = Peer::Device(peer, DeviceOta::default());
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
                    // A heartbeat is also the device's check-in for firmware updates.
                    self.check_ota(conn, peer_state, now)?;
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
                        .record(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
                }
                Ok(AppMessage::CommandResult { id, status, body }) => {
                    if let Some(services) = &self.services {
                        services.borrow_mut().complete(id, status, body);
                    }
                }
                Ok(AppMessage::DeviceInfo { model, version }) => {
                    if let Peer::Device(_, ota) = &mut *peer_state {
                        ota.info = Some((model, version));
                        ota.offered = None;
                    }
                    self.check_ota(conn, peer_state, now)?;
                }
                Ok(AppMessage::OtaFetch { offset, len }) => {
                    let (
                        Some(services),
                        Peer::Device(
                            _,
                            DeviceOta {
                                offered: Some((model, version)),
                                ..
                            },
                        ),
                    ) = (&self.services, &*peer_state)
                    else {
                        return Err(GatewayError::UnexpectedMessage);
                    };
                    let chunk = services
                        .borrow()
                        .ota_chunk(model, *version, offset, len)
                        .ok_or(GatewayError::UnexpectedMessage)?;
                    conn.send(&chunk.encode()).map_err(GatewayError::Protocol)?;
                }
                Ok(AppMessage::OtaReport {
                    version,
                    result,
                    reason,
                }) => {
                    if let (Some(services), Peer::Device(device, _)) =
                        (&self.services, &*peer_state)
                    {
                        services.borrow_mut().ota_report(
                            &device.subject,
                            &version,
                            result,
                            &reason,
                            now,
                        );
                        self.trace.record(
                            now,
                            format!("{} ota report {version} {result} {reason}", device.subject),
                        );
                    }
                }
                Ok(_) => return Err(GatewayError::UnexpectedMessage),
                Err(_) => return Err(GatewayError::BadMessage),
            },
            Event::KeyUpdated { .. } | Event::Closed { .. } => {}
        }
        Ok(())
    }

    /// Offers the device an update if a rollout has one for it and none is under way.
    fn check_ota(
        &self,
        conn: &mut ServerConnection,
        peer_state: &mut Peer,
        now: camproof_protocol::Timestamp,
    ) -> Result<(), GatewayError> {
        let (Some(services), Peer::Device(device, ota)) = (&self.services, peer_state) else {
            return Ok(());
        };
        let (Some((model, version)), None) = (&ota.info, &ota.offered) else {
            return Ok(());
        };
        let offer = services
            .borrow_mut()
            .ota_offer(&device.subject, model, version, now);
        if let Some((message, offered)) = offer {
            ota.offered = Some((model.clone(), offered));
            conn.send(&message.encode())
                .map_err(GatewayError::Protocol)?;
        }
        Ok(())
    }

    /// An event on an app's connection: requests go to the region's services.
    fn on_app_event(
        &self,
        conn: &mut ServerConnection,
        event: Event,
        now: camproof_protocol::Timestamp,
        app: &mut AppSession,
    ) -> Result<(), GatewayError> {
        let Event::Data(bytes) = event else {
            return Ok(());
        };
        let request = AppMessage::decode(&bytes).map_err(|_| GatewayError::BadMessage)?;
        let reply = match request {
            // Apps keep their session alive like devices do.
            AppMessage::Heartbeat { seq, .. } => Some(AppMessage::HeartbeatAck {
                seq,
                server_time: now,
            }),
            request => {
                let services = self
                    .services
                    .as_ref()
                    .ok_or(GatewayError::UnexpectedMessage)?;
                services.borrow_mut().handle_app(app, request, now)
            }
        };
        if let Some(reply) = reply {
            conn.send(&reply.encode()).map_err(GatewayError::Protocol)?;
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
    /// The peer (device or app) sent nothing within its idle timeout.
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
    /// The handshake was not over within the admission's deadline.
    #[error("handshake deadline passed")]
    HandshakeDeadline,
    /// The peer sent more than the admission allows before it was authenticated.
    #[error("too many bytes before authentication")]
    PreauthLimit,
    /// A write waited longer than the admission's write timeout (the peer does not read).
    #[error("write timed out")]
    WriteTimeout,
}

impl GatewayError {
    /// A failed write: timed out, or the socket's own error.
    fn write(e: &std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::TimedOut => GatewayError::WriteTimeout,
            _ => GatewayError::Io(std::io::ErrorKind::BrokenPipe),
        }
    }
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
        GatewayError::HandshakeDeadline => "HandshakeDeadline".into(),
        GatewayError::PreauthLimit => "PreauthLimit".into(),
        GatewayError::WriteTimeout => "WriteTimeout".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camproof_net::{SimClock, SimNet};
    use camproof_protocol::pki::{PkiOptions, TestPki};
    use std::sync::OnceLock;

    fn pki() -> &'static TestPki {
        static PKI: OnceLock<TestPki> = OnceLock::new();
        PKI.get_or_init(|| TestPki::generate(3, &PkiOptions::fast_for_tests()))
    }

    /// A gateway on `gw:7443` with `admission`, its counters returned.
    fn gateway(
        sim: &mut turmoil::Sim<'_>,
        admission: AdmissionLimits,
    ) -> Rc<RefCell<GatewayStats>> {
        let stats: Rc<RefCell<GatewayStats>> = Rc::default();
        let host_stats = stats.clone();
        sim.host("gw", move || {
            let config = GatewayConfig {
                name: "gw".into(),
                listen: "0.0.0.0:7443".into(),
                relay: "relay:7000".into(),
                fallbacks: Vec::new(),
                idle_timeout: Duration::from_secs(30),
                app_idle_timeout: Duration::from_secs(30),
                admission,
            };
            let gw = Gateway::new(
                config,
                Arc::new(ServerConfig::new(pki().server("gw", 0))),
                Rc::new(RefCell::new(ServerContext::new(pki().trust_store()))),
                1,
                host_stats.clone(),
                Trace::new(0),
            );
            async move { Ok(gw.serve(SimNet, SimClock).await?) }
        });
        stats
    }

    /// Reads until the gateway closes the connection; the bytes it sent before.
    async fn until_closed(s: &mut <SimNet as Net>::Stream) -> usize {
        let mut total = 0;
        let mut buf = [0u8; 256];
        while let Ok(n @ 1..) = s.read(&mut buf).await {
            total += n;
        }
        total
    }

    #[test]
    fn a_handshake_sent_a_byte_at_a_time_is_cut_at_the_deadline() {
        let mut sim = turmoil::Builder::new()
            .simulation_duration(Duration::from_secs(120))
            .build();
        let limits = AdmissionLimits {
            handshake_deadline: Duration::from_secs(10),
            ..AdmissionLimits::default()
        };
        let stats = gateway(&mut sim, limits);
        sim.client("slowloris", async {
            let s = SimNet.connect("gw:7443").await?;
            let (mut rd, mut wr) = tokio::io::split(s);
            let start = tokio::time::Instant::now();
            // A plausible frame head, then one byte every 3 s: within the idle timeout,
            // never within the deadline.
            let trickle = async {
                for b in [0u8, 0, 1, 0, 1].into_iter().chain(std::iter::repeat(7)) {
                    if wr.write_all(&[b]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(3)).await;
                }
            };
            let mut byte = [0u8; 1];
            tokio::select! {
                biased;
                _ = rd.read(&mut byte) => {}
                () = trickle => {}
            }
            let held = start.elapsed();
            assert!(
                held >= Duration::from_secs(10) && held < Duration::from_secs(13),
                "{held:?}"
            );
            Ok(())
        });
        sim.run().expect("simulation");
        assert_eq!(stats.borrow().failures.get("HandshakeDeadline"), Some(&1));
    }

    #[test]
    fn a_stranger_may_send_only_the_preauth_bound() {
        let mut sim = turmoil::Builder::new().build();
        let limits = AdmissionLimits {
            preauth_bytes: 4096,
            ..AdmissionLimits::default()
        };
        let stats = gateway(&mut sim, limits);
        sim.client("stranger", async {
            let mut s = SimNet.connect("gw:7443").await?;
            // A client hello head announcing a 60 KiB frame (allowed by the frame
            // limit), then the start of its body.
            let mut bytes = (60 * 1024u32).to_be_bytes().to_vec();
            bytes.push(1);
            bytes.resize(8 * 1024, 0);
            let _ = s.write_all(&bytes).await;
            // An alert at most: the connection is closed long before the frame is whole.
            assert!(until_closed(&mut s).await < 64);
            Ok(())
        });
        sim.run().expect("simulation");
        assert_eq!(stats.borrow().failures.get("PreauthLimit"), Some(&1));
    }

    #[test]
    fn connections_over_the_per_source_cap_are_refused_and_counted() {
        let mut sim = turmoil::Builder::new().build();
        let limits = AdmissionLimits {
            max_per_source: 2,
            ..AdmissionLimits::default()
        };
        let stats = gateway(&mut sim, limits);
        sim.client("flood", async {
            let mut held = Vec::new();
            for _ in 0..2 {
                held.push(SimNet.connect("gw:7443").await?);
            }
            let mut third = SimNet.connect("gw:7443").await?;
            assert_eq!(until_closed(&mut third).await, 0);
            Ok(())
        });
        sim.run().expect("simulation");
        let stats = stats.borrow();
        assert_eq!((stats.connections, stats.refused), (2, 1));
    }
}
