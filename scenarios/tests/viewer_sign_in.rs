//! The viewer app's sign-in against a scripted gateway that closes app sessions silent
//! for 10 s: a user whose one-time code for this step is spent waits for the next one
//! without holding a silent session, and keeps signing in round after round.
//!
//! Here rather than in simulated-devices: the scripted gateway checks codes with the
//! platform's verifier (`accounts::Totp`, a code works once), and simulated devices do
//! not depend on the platform.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use camproof_net::{Clock, Net, SimClock, SimNet};
use camproof_platform::accounts::Totp;
use camproof_protocol::cdp::{
    AppMessage, AppStatus, ClientConfig, Event, SecretText, ServerConfig, ServerConnection,
    ServerContext,
};
use camproof_protocol::pki::{PkiOptions, TestPki};
use camproof_simulated_devices::viewer::{Viewer, ViewerConfig, ViewerStats};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The scripted gateway closes an app session that sends nothing for this long: shorter
/// than one 30 s code step, as a platform may well choose.
const IDLE: Duration = Duration::from_secs(10);

fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| TestPki::generate(12, &PkiOptions::fast_for_tests()))
}

/// What the scripted gateway counted.
#[derive(Debug, Default)]
struct Seen {
    /// Codes accepted.
    accepted: u64,
    /// Codes refused (wrong or replayed).
    refused: u64,
    /// Sessions closed for silence.
    idle_closed: u64,
}

/// One app session: password then code, an empty device list, heartbeats answered.
async fn serve_app<S>(
    mut stream: S,
    config: Arc<ServerConfig>,
    totp: Rc<RefCell<Totp>>,
    seen: Rc<RefCell<Seen>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut conn = ServerConnection::new(config, &mut rng);
    let mut ctx = ServerContext::new(pki().trust_store());
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match tokio::time::timeout(IDLE, stream.read(&mut buf)).await {
            Err(_) => {
                seen.borrow_mut().idle_closed += 1;
                return;
            }
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(n)) => n,
        };
        let now = SimClock.now();
        if conn.handle_bytes(now, &buf[..n], &mut ctx).is_err() {
            return;
        }
        while let Some(event) = conn.poll_event() {
            let Event::Data(bytes) = event else { continue };
            let reply = match AppMessage::decode(&bytes) {
                Ok(AppMessage::Login { totp: code, .. }) if code.expose().is_empty() => {
                    AppMessage::LoginResult {
                        status: AppStatus::SecondFactorRequired,
                        message: String::new(),
                    }
                }
                Ok(AppMessage::Login { totp: code, .. }) => {
                    let ok = totp.borrow_mut().verify(code.expose(), now).is_ok();
                    let mut seen = seen.borrow_mut();
                    if ok {
                        seen.accepted += 1;
                    } else {
                        seen.refused += 1;
                    }
                    AppMessage::LoginResult {
                        status: if ok {
                            AppStatus::Ok
                        } else {
                            AppStatus::Refused
                        },
                        message: String::new(),
                    }
                }
                Ok(AppMessage::ListDevices) => AppMessage::DeviceList {
                    status: AppStatus::Ok,
                    devices: Vec::new(),
                },
                Ok(AppMessage::Heartbeat { seq, .. }) => AppMessage::HeartbeatAck {
                    seq,
                    server_time: now,
                },
                _ => return,
            };
            if conn.send(&reply.encode()).is_err() {
                return;
            }
        }
        let mut out = Vec::new();
        conn.poll_transmit(&mut out);
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// Runs one viewer for `secs` simulated seconds against the scripted gateway.
fn run(secs: u64) -> (ViewerStats, Seen) {
    let mut sim = turmoil::Builder::new()
        // A whole number of 30 s code steps since the Unix epoch: the run starts a step.
        .epoch(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
        .simulation_duration(Duration::from_secs(secs + 30))
        .build();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let totp = Totp::generate(&mut rng);
    let secret = SecretText::new(totp.secret_base32().as_str());
    let seen = Rc::new(RefCell::new(Seen::default()));
    let server_config = Arc::new(ServerConfig::new(pki().server("gw", 0)));
    let (gateway_seen, gateway_totp) = (seen.clone(), Rc::new(RefCell::new(totp)));
    sim.host("gw", move || {
        let (seen, totp, config) = (
            gateway_seen.clone(),
            gateway_totp.clone(),
            server_config.clone(),
        );
        async move {
            let listener = SimNet.bind("0.0.0.0:7443").await?;
            loop {
                let (stream, _) = listener.accept().await?;
                tokio::task::spawn_local(serve_app(
                    stream,
                    config.clone(),
                    totp.clone(),
                    seen.clone(),
                ));
            }
        }
    });
    let stats = Rc::new(RefCell::new(ViewerStats::default()));
    let viewer_stats = stats.clone();
    sim.client("phone", async move {
        let config = Rc::new(ViewerConfig {
            gateways: vec!["gw:7443".into()],
            username: "user0@site0.example".into(),
            password: SecretText::new("correct horse battery staple"),
            totp_secret: Some(secret),
            pairings: BTreeMap::new(),
            send_commands: false,
            live_view: false,
            watch: Duration::from_secs(8),
            pause: Duration::from_secs(4),
            start_window: Duration::ZERO,
            timeout: Duration::from_secs(15),
            leaks_password: false,
        });
        let viewer = Viewer::new(
            config,
            Arc::new(ClientConfig::new(pki().trust_store())),
            ChaCha8Rng::seed_from_u64(3),
            viewer_stats,
        );
        let _ = tokio::time::timeout(Duration::from_secs(secs), viewer.run(SimNet, SimClock)).await;
        Ok(())
    });
    sim.run().expect("simulation");
    let stats = stats.borrow().clone();
    let seen = std::mem::take(&mut *seen.borrow_mut());
    (stats, seen)
}

/// A code works once, so the user signs in once per 30 s step; a round that begins in a
/// step whose code is spent waits for the next step before opening a session, so the
/// gateway never closes one for silence and every sign-in succeeds.
#[test]
fn a_spent_code_is_waited_out_before_the_session_opens() {
    let (stats, seen) = run(125);
    let failed: Vec<_> = stats
        .sign_ins
        .iter()
        .filter(|s| s.refused.is_some())
        .collect();
    assert!(
        failed.is_empty(),
        "failed sign-ins {failed:#?}; gateway saw {seen:?}"
    );
    // Steps starting at 0, 30, 60, 90 and 120 s.
    assert_eq!(stats.logins, 5, "{stats:#?}; gateway saw {seen:?}");
    assert_eq!(seen.accepted, 5, "{seen:?}");
    assert_eq!(seen.refused, 0, "{seen:?}");
    assert_eq!(seen.idle_closed, 0, "{seen:?}");
}
