//! The async driver: accepts NETIP connections and runs one [`NetipSession`] per
//! connection on the current thread.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use camproof_net::{Admission, AdmissionLimits, Clock, Listener};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::Instrument as _;

use super::camera::NetipCamera;
use super::event::NetipEvent;
use super::session::NetipSession;

/// How long a write may wait for a client that does not read before the connection is
/// dropped (a stalled viewer must not pin a stream forever).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves NETIP on `listener` for `camera` until the task is dropped.
///
/// Each accepted connection runs as its own `tokio::task::spawn_local` task, so this must
/// run inside a `tokio::task::LocalSet` (turmoil hosts and the CLI's current-thread
/// runtime provide one). Connections above the camera's `max_connections` are closed at
/// once; an idle connection is closed after three keepalive intervals; live media is
/// streamed while monitoring is started. Session events are recorded in the camera
/// ([`NetipCamera::take_events`]).
///
/// ```no_run
/// # use std::{cell::RefCell, rc::Rc};
/// # use camproof_net::{Net, SystemClock, TokioNet};
/// # use camproof_protocol::Timestamp;
/// # use camproof_net::Clock;
/// # use camproof_simulated_devices::netip_server::*;
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = NetipCameraConfig::reference("SN0001", "Str0ng-Pass");
/// let camera = Rc::new(RefCell::new(NetipCamera::new(config, SystemClock.now())?));
/// let listener = TokioNet.bind("127.0.0.1:34567").await?;
/// serve_netip(listener, SystemClock, camera).await;
/// # Ok(()) }
/// ```
pub async fn serve_netip<L, C>(listener: L, clock: C, camera: Rc<RefCell<NetipCamera>>)
where
    L: Listener,
    L::Stream: AsyncRead + AsyncWrite + Unpin + 'static,
    C: Clock,
{
    serve_netip_with(listener, clock, camera, AdmissionLimits::default()).await;
}

/// [`serve_netip`] with these admission limits: per-address and overall caps (the
/// camera's own `max_connections` applies too), a deadline and a byte bound for the
/// login, and the write timeout. Accept errors are retried with a backoff.
pub async fn serve_netip_with<L, C>(
    listener: L,
    clock: C,
    camera: Rc<RefCell<NetipCamera>>,
    limits: AdmissionLimits,
) where
    L: Listener,
    L::Stream: AsyncRead + AsyncWrite + Unpin + 'static,
    C: Clock,
{
    let admission = Admission::new("netip", limits);
    loop {
        let (stream, peer, permit) = match admission.accept(&listener).await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Only the planted `stop_on_accept_error` ends up here.
                tracing::warn!(error = %e, "NETIP accept failed: the server stops");
                return;
            }
        };
        let full = {
            let cam = camera.borrow();
            cam.open_connections() >= cam.config().max_connections
        };
        if full {
            tracing::warn!(%peer, "NETIP connection refused: too many connections");
            drop(stream);
            continue;
        }
        let serving = serve_admitted(stream, clock.clone(), camera.clone(), Some(limits));
        let serving = async move {
            let _permit = permit;
            serving.await;
        };
        tokio::task::spawn_local(serving.instrument(connection_span(peer)));
    }
}

/// Runs one NETIP connection on `stream` until either side closes it.
pub async fn serve_connection<S, C>(stream: S, clock: C, camera: Rc<RefCell<NetipCamera>>)
where
    S: AsyncRead + AsyncWrite + Unpin,
    C: Clock,
{
    serve_admitted(stream, clock, camera, None).await;
}

/// Runs one connection; with `limits`, a peer that has not logged in within the
/// deadline, or sends more than the pre-login bound, is closed.
async fn serve_admitted<S, C>(
    mut stream: S,
    clock: C,
    camera: Rc<RefCell<NetipCamera>>,
    limits: Option<AdmissionLimits>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
    C: Clock,
{
    let write_timeout = limits.map_or(WRITE_TIMEOUT, |l| l.write_timeout);
    let login_deadline = limits.map(|l| tokio::time::Instant::now() + l.handshake_deadline);
    let mut prelogin_bytes = 0usize;
    let mut session = NetipSession::new(camera.clone(), clock.now());
    let connection = session.connection();
    tracing::info!(connection, "NETIP connection opened");
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Vec::new();
    loop {
        out.clear();
        if session.poll_transmit(&mut out) {
            let written = tokio::time::timeout(write_timeout, stream.write_all(&out)).await;
            if !matches!(written, Ok(Ok(()))) {
                session.close();
            }
        }
        {
            let mut cam = camera.borrow_mut();
            while let Some(event) = session.poll_event() {
                log_event(connection, &event);
                cam.record_event(connection, event);
            }
        }
        if session.is_closed() {
            break;
        }
        let sleep = session
            .poll_timeout()
            .map(|at| at.saturating_since(clock.now()));
        // Before login, the admission deadline closes the connection too.
        let login_deadline = login_deadline.filter(|_| session.session_id().is_none());
        let login_wait = async {
            match login_deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = login_wait => {
                tracing::info!(connection, "NETIP connection closed: no login within the deadline");
                session.close();
            }
            read = stream.read(&mut buf) => {
                match read {
                    Ok(n) if n > 0 && limits.is_some_and(|l| {
                        if session.session_id().is_none() {
                            prelogin_bytes += n;
                        }
                        prelogin_bytes > l.preauth_bytes
                    }) => {
                        tracing::info!(connection, "NETIP connection closed: too many bytes before login");
                        session.close();
                    }
                    Ok(n) if n > 0 => {
                        let data = buf.get(..n).unwrap_or_default();
                        // A framing error closes the session; the loop flushes and ends.
                        let _ = session.handle_bytes(clock.now(), data);
                    }
                    _ => session.close(),
                }
            }
            _ = tokio::time::sleep(sleep.unwrap_or(Duration::from_secs(3600))) => {
                session.handle_timeout(clock.now());
            }
        }
    }
    let _ = stream.shutdown().await;
    let mut cam = camera.borrow_mut();
    while let Some(event) = session.poll_event() {
        log_event(connection, &event);
        cam.record_event(connection, event);
    }
}

/// The span of one NETIP connection: its events name the peer.
pub fn connection_span(peer: std::net::SocketAddr) -> tracing::Span {
    tracing::info_span!("netip", %peer)
}

/// Logs a session event: identities (user names, session ids) and result codes, never
/// a password, a hash or a request's content.
fn log_event(connection: u64, event: &NetipEvent) {
    use tracing::{debug, info, warn};
    match event {
        NetipEvent::LoggedIn { user, session_id } => {
            info!(connection, ?user, session = session_id.0, "login accepted")
        }
        NetipEvent::LoginFailed { user, ret } => {
            warn!(connection, ?user, ret = %ret, "login refused")
        }
        NetipEvent::LoggedOut { session_id } => {
            info!(connection, session = session_id.0, "logged out")
        }
        NetipEvent::CommandRefused { message_id, ret } => {
            warn!(connection, message = %message_id, ret = %ret, "command refused")
        }
        NetipEvent::CommandExecuted { message_id } => {
            debug!(connection, message = %message_id, "command executed")
        }
        // The reason may quote the request, which may hold a credential.
        NetipEvent::BadRequest { message_id, .. } => {
            warn!(connection, message = %message_id, "request refused: does not decode")
        }
        NetipEvent::MonitorClaimed { session_id } => {
            debug!(connection, session = session_id.0, "claimed for live media")
        }
        NetipEvent::MonitorStarted { session_id } => {
            info!(connection, session = session_id.0, "live media started")
        }
        NetipEvent::MonitorStopped { session_id } => {
            info!(connection, session = session_id.0, "live media stopped")
        }
        NetipEvent::TimeSet { time } => info!(connection, ?time, "clock set"),
        NetipEvent::RebootRequested => info!(connection, "reboot requested"),
        NetipEvent::UpgradeInstalled { version } => {
            info!(connection, %version, "firmware installed")
        }
        NetipEvent::UpgradeRefused { reason } => {
            warn!(connection, %reason, "firmware refused")
        }
        NetipEvent::Closed { reason } => info!(connection, ?reason, "NETIP connection closed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netip_server::{NetipCameraConfig, NetipEvent};
    use camproof_net::{Net, SystemClock, TokioNet};
    use camproof_protocol::netip::{
        LoginRequest, MessageId, MonitorAction, MonitorRequest, NamedRequest, Packet,
        PacketDecoder, Reply, Request, Ret, SessionId,
    };
    use tokio::net::TcpStream;

    async fn read_packet(stream: &mut TcpStream, decoder: &mut PacketDecoder) -> Packet {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(p) = decoder.poll_packet() {
                return p.unwrap();
            }
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "server closed the connection");
            decoder.handle_bytes(&buf[..n]);
        }
    }

    async fn ask(
        stream: &mut TcpStream,
        dec: &mut PacketDecoder,
        req: Request,
        sid: u32,
    ) -> Packet {
        let pk = req.to_packet(sid, 42).unwrap();
        stream.write_all(&pk.encode()).await.unwrap();
        let reply = read_packet(stream, dec).await;
        assert_eq!(reply.header().sequence, 42);
        assert_eq!(reply.message_id(), req.message_id().reply());
        reply
    }

    /// NETIP-SRV-31: the driver serves every accepted connection as its own session
    /// over real TCP: login, SystemInfo, live media on a claimed connection, logout.
    #[test]
    fn netip_srv_31_driver_over_loopback() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            let listener = TokioNet.bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            let mut config = NetipCameraConfig::reference("SN-E2E", "Str0ng-Pass");
            config.max_connections = 2;
            let camera = Rc::new(RefCell::new(
                NetipCamera::new(config, SystemClock.now()).unwrap(),
            ));
            let server =
                tokio::task::spawn_local(serve_netip(listener, SystemClock, camera.clone()));
            let run = async {
                for round in 1..=3u32 {
                    let mut s = TokioNet.connect(&addr).await.unwrap();
                    let mut dec = PacketDecoder::default();
                    let login = Request::Login(LoginRequest::new("admin", "Str0ng-Pass"));
                    let p = ask(&mut s, &mut dec, login, 0).await;
                    let Ok(Reply::Login(r)) = Reply::decode(p.message_id(), p.payload()) else {
                        panic!("not a login reply");
                    };
                    assert_eq!(r.ret, Ret::Ok);
                    let sid = p.header().session_id;
                    assert_eq!(sid, round);
                    let info = Request::Info(NamedRequest::new("SystemInfo", SessionId(sid)));
                    let p = ask(&mut s, &mut dec, info, sid).await;
                    let Ok(Reply::SystemInfo(info)) = Reply::decode(p.message_id(), p.payload())
                    else {
                        panic!("not a SystemInfo reply");
                    };
                    assert_eq!(info.system_info.unwrap().serial_no, "SN-E2E");
                    if round == 1 {
                        // A second connection claims and starts the media.
                        let mut m = TokioNet.connect(&addr).await.unwrap();
                        let mut mdec = PacketDecoder::default();
                        let claim = Request::MonitorClaim(MonitorRequest::new(
                            MonitorAction::Start,
                            SessionId(sid),
                        ));
                        let p = ask(&mut m, &mut mdec, claim, sid).await;
                        assert_eq!(p.header().session_id, sid);
                        let media = read_packet(&mut m, &mut mdec).await;
                        assert_eq!(media.message_id(), MessageId::MONITOR_DATA);
                        assert_eq!(media.header().sequence, 1);
                        // A third connection is over the limit: closed at once.
                        let mut extra = TokioNet.connect(&addr).await.unwrap();
                        let mut byte = [0u8; 1];
                        assert!(matches!(extra.read(&mut byte).await, Ok(0) | Err(_)));
                    }
                    let logout = Request::Logout(NamedRequest::new("", SessionId(sid)));
                    let p = ask(&mut s, &mut dec, logout, sid).await;
                    let Ok(Reply::Logout(r)) = Reply::decode(p.message_id(), p.payload()) else {
                        panic!("not a logout reply");
                    };
                    assert_eq!(r.ret, Ret::Ok);
                    drop(s);
                    while camera.borrow().open_connections() > 0 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            };
            tokio::time::timeout(Duration::from_secs(5), run)
                .await
                .expect("the exchange finishes within 5 s");
            server.abort();
            let events = camera.borrow_mut().take_events();
            let logins = events
                .iter()
                .filter(|(_, e)| matches!(e, NetipEvent::LoggedIn { .. }))
                .count();
            assert_eq!(logins, 3);
        });
    }
}

#[cfg(test)]
mod admission_tests {
    use super::*;
    use crate::netip_server::NetipCameraConfig;
    use camproof_net::{Net, SimClock, SimNet};

    #[test]
    fn a_client_that_never_logs_in_is_closed_at_the_deadline() {
        let mut sim = turmoil::Builder::new().build();
        sim.host("camera", || async {
            let config = NetipCameraConfig::reference("SN0001", "Str0ng-Pass");
            let camera = Rc::new(RefCell::new(NetipCamera::new(config, SimClock.now())?));
            let listener = SimNet.bind("0.0.0.0:34567").await?;
            let limits = AdmissionLimits {
                handshake_deadline: Duration::from_secs(2),
                ..AdmissionLimits::default()
            };
            serve_netip_with(listener, SimClock, camera, limits).await;
            Ok(())
        });
        sim.client("idle", async {
            let mut s = SimNet.connect("camera:34567").await?;
            let start = tokio::time::Instant::now();
            let mut byte = [0u8; 1];
            let n = s.read(&mut byte).await.unwrap_or(0);
            assert_eq!(n, 0);
            // Closed by the login deadline, long before the keepalive's idle close.
            let held = start.elapsed();
            assert!(
                held >= Duration::from_secs(2) && held < Duration::from_secs(5),
                "{held:?}"
            );
            Ok(())
        });
        sim.run().expect("simulation");
    }
}
