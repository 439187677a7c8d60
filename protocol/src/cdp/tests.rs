//! Connection-level tests: both state machines driven through in-memory queues.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use super::*;
use crate::pki::tests::{now, pki};
use crate::pki::{CertError, TestPki};

/// Two endpoints, the bytes between them, and a virtual clock.
struct Pair {
    client: ClientConnection,
    server: ServerConnection,
    ctx: ServerContext,
    server_cfg: Arc<ServerConfig>,
    client_cfg: Arc<ClientConfig>,
    creds: Arc<DeviceCredentials>,
    rng: ChaCha8Rng,
    now: Timestamp,
    /// Every chunk the client sent, in order (what a tap on the wire sees).
    c2s_log: Vec<Vec<u8>>,
    client_err: Option<CdpError>,
    server_err: Option<CdpError>,
}

use crate::pki::DeviceCredentials;

impl Pair {
    fn new(seed: u64) -> Self {
        Self::with(seed, |_, _| {})
    }

    fn with(seed: u64, tweak: impl FnOnce(&mut ClientConfig, &mut ServerConfig)) -> Self {
        let mut client_cfg = ClientConfig::new(pki().trust_store());
        let mut server_cfg = ServerConfig::new(pki().server("gw-eu-1", 0));
        tweak(&mut client_cfg, &mut server_cfg);
        let client_cfg = Arc::new(client_cfg);
        let server_cfg = Arc::new(server_cfg);
        let creds = Arc::new(pki().device(seed % 4));
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let client = ClientConnection::connect(client_cfg.clone(), creds.clone(), now(), &mut rng);
        let server = ServerConnection::new(server_cfg.clone(), &mut rng);
        Pair {
            client,
            server,
            ctx: ServerContext::new(pki().trust_store()),
            server_cfg,
            client_cfg,
            creds,
            rng,
            now: now(),
            c2s_log: Vec::new(),
            client_err: None,
            server_err: None,
        }
    }

    /// Moves bytes both ways until neither side has anything to send.
    fn drive(&mut self) {
        for _ in 0..32 {
            let mut buf = Vec::new();
            let sent_c = self.client.poll_transmit(&mut buf);
            if sent_c > 0 {
                self.c2s_log.push(buf.clone());
                if self.server_err.is_none() {
                    if let Err(e) = self.server.handle_bytes(self.now, &buf, &mut self.ctx) {
                        self.server_err = Some(e);
                    }
                }
            }
            buf.clear();
            let sent_s = self.server.poll_transmit(&mut buf);
            if sent_s > 0 && self.client_err.is_none() {
                if let Err(e) = self.client.handle_bytes(self.now, &buf) {
                    self.client_err = Some(e);
                }
            }
            if sent_c == 0 && sent_s == 0 {
                return;
            }
        }
        panic!("connection did not go idle");
    }

    fn server_events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.server.poll_event()).collect()
    }

    fn client_events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }

    /// A device connection resuming with `ticket` at `now`, under this pair's
    /// configuration and credentials.
    fn resume(&mut self, ticket: SessionTicket, now: Timestamp) -> ClientConnection {
        ClientConnection::resume(
            self.client_cfg.clone(),
            self.creds.clone(),
            ticket,
            now,
            &mut self.rng,
        )
    }

    /// A fresh connection pair sharing this pair's server context and configuration.
    fn reconnect(&mut self, client: ClientConnection) {
        self.client = client;
        self.server = ServerConnection::new(self.server_cfg.clone(), &mut self.rng);
        self.c2s_log.clear();
        self.client_err = None;
        self.server_err = None;
    }
}

fn connected(events: &[Event]) -> Option<(&PeerIdentity, bool)> {
    events.iter().find_map(|e| match e {
        Event::Connected { peer, resumed } => Some((peer, *resumed)),
        _ => None,
    })
}

/// CDP-HS-03: a full handshake authenticates both sides and carries data both ways.
#[test]
fn cdp_hs_03_full_handshake() {
    let mut p = Pair::new(1);
    p.drive();
    assert_eq!(p.client_err, None);
    assert_eq!(p.server_err, None);
    let ce = p.client_events();
    let se = p.server_events();
    let (server_peer, resumed) = connected(&ce).expect("client connected");
    assert_eq!(server_peer.subject, "gw-eu-1");
    assert!(!resumed);
    let (device_peer, _) = connected(&se).expect("server connected");
    assert_eq!(device_peer.subject, "CAM-00000001");
    assert!(p.client.is_established() && p.server.is_established());
    assert_eq!(
        p.server.peer().map(|x| x.serial),
        p.creds.chain().first().map(|c| c.serial)
    );

    p.client.send(b"up").unwrap();
    p.server.send(b"down").unwrap();
    p.drive();
    assert_eq!(p.server_events(), vec![Event::Data(b"up".to_vec())]);
    assert_eq!(p.client_events(), vec![Event::Data(b"down".to_vec())]);
}

/// CDP-HS-03: data cannot be sent before the handshake finishes.
#[test]
fn cdp_hs_03_no_data_before_handshake() {
    let mut p = Pair::new(2);
    assert_eq!(
        p.client.send(b"x"),
        Err(CdpError::Local(LocalError::NotEstablished))
    );
    assert_eq!(
        p.server.send(b"x"),
        Err(CdpError::Local(LocalError::NotEstablished))
    );
}

/// CDP-HS-04: a device refuses a platform certificate that is expired, revoked or from
/// another root, and tells the platform why.
#[test]
fn cdp_hs_04_device_refuses_bad_server_certificate() {
    // Expired server certificate.
    let mut p = Pair::with(3, |_, s| {
        s.credentials = pki().server_with_validity(
            "gw-old",
            9,
            Timestamp::from_secs(1_600_000_000),
            Timestamp::from_secs(1_700_000_000),
        );
    });
    p.drive();
    assert!(matches!(
        p.client_err,
        Some(CdpError::Certificate(CertError::Expired { .. }))
    ));
    assert_eq!(
        p.server_err,
        Some(CdpError::PeerAlert(AlertCode::BadCertificate))
    );

    // Revoked server certificate.
    let revoked = pki().server("gw-eu-1", 0).certificate().serial;
    let mut p = Pair::with(4, |c, _| c.trust.revoke(revoked));
    p.drive();
    assert!(matches!(
        p.client_err,
        Some(CdpError::Certificate(CertError::Revoked { .. }))
    ));

    // A server certified by another root.
    let other = TestPki::generate(99, &crate::pki::PkiOptions::fast_for_tests());
    let mut p = Pair::with(5, |_, s| s.credentials = other.server("gw-eu-1", 0));
    p.drive();
    assert!(matches!(
        p.client_err,
        Some(CdpError::Certificate(CertError::BadSignature { .. }))
    ));

    // The right root but the wrong server name.
    let mut p = Pair::with(6, |c, _| c.expected_server = Some("gw-apac-1".into()));
    p.drive();
    assert!(matches!(
        p.client_err,
        Some(CdpError::PeerMisbehaved(PeerMisbehaved::WrongServer { .. }))
    ));
    assert!(!p.client.is_established());
}

/// CDP-HS-05: the platform refuses a device chain that is revoked or does not lead to
/// its root, and no session is established.
#[test]
fn cdp_hs_05_platform_refuses_bad_device_chain() {
    let mut p = Pair::new(7);
    p.ctx.trust.revoke(p.creds.chain()[0].serial);
    p.drive();
    assert!(matches!(
        p.server_err,
        Some(CdpError::Certificate(CertError::Revoked { .. }))
    ));
    assert_eq!(
        p.client_err,
        Some(CdpError::PeerAlert(AlertCode::BadCertificate))
    );
    assert!(connected(&p.server_events()).is_none());
    assert!(connected(&p.client_events()).is_none());

    let other = TestPki::generate(99, &crate::pki::PkiOptions::fast_for_tests());
    let mut p = Pair::new(8);
    let client = ClientConnection::connect(
        p.client_cfg.clone(),
        Arc::new(other.device(1)),
        p.now,
        &mut p.rng,
    );
    p.reconnect(client);
    p.drive();
    assert!(matches!(
        p.server_err,
        Some(CdpError::Certificate(CertError::BadSignature { .. }))
    ));
}

/// CDP-HS-06: a replayed ClientHello is refused by the nonce cache.
#[test]
fn cdp_hs_06_replayed_hello_refused() {
    let mut p = Pair::new(9);
    p.drive();
    let hello = p.c2s_log[0].clone();
    let mut replay = ServerConnection::new(p.server_cfg.clone(), &mut p.rng);
    let err = replay.handle_bytes(p.now, &hello, &mut p.ctx).unwrap_err();
    assert_eq!(
        err,
        CdpError::PeerMisbehaved(PeerMisbehaved::ReplayedHandshake)
    );
    let mut alert = Vec::new();
    replay.poll_transmit(&mut alert);
    assert_eq!(
        alert,
        [0, 0, 0, 2, 0x15, AlertCode::ReplayedHandshake.to_byte()]
    );
}

/// CDP-HS-06: a whole recorded handshake replayed to a fresh connection fails: the new
/// ServerHello differs, so the recorded device signature does not cover it.
#[test]
fn cdp_hs_06_replayed_handshake_cannot_authenticate() {
    let mut p = Pair::new(10);
    p.drive();
    let mut ctx = ServerContext::new(pki().trust_store()); // an empty nonce cache
    let mut replay = ServerConnection::new(p.server_cfg.clone(), &mut p.rng);
    replay.handle_bytes(p.now, &p.c2s_log[0], &mut ctx).unwrap();
    let err = replay
        .handle_bytes(p.now, &p.c2s_log[1], &mut ctx)
        .unwrap_err();
    assert_eq!(
        err,
        CdpError::PeerMisbehaved(PeerMisbehaved::BadClientSignature)
    );
    assert!(replay.poll_event().is_none());
}

/// CDP-HS-07: handshake timestamps are checked against the skew window (default ±30 s),
/// on both sides, and the window is configurable.
#[test]
fn cdp_hs_07_clock_skew_window() {
    for (offset_secs, ahead, ok) in [
        (29, true, true),
        (29, false, true),
        (31, true, false),
        (31, false, false),
    ] {
        let mut p = Pair::new(11);
        let d = Duration::from_secs(offset_secs);
        let skewed = if ahead {
            p.now.saturating_add(d)
        } else {
            Timestamp::from_micros(p.now.as_micros() - d.as_micros() as u64)
        };
        let client =
            ClientConnection::connect(p.client_cfg.clone(), p.creds.clone(), skewed, &mut p.rng);
        p.reconnect(client);
        p.drive();
        if ok {
            assert_eq!(p.server_err, None, "offset {offset_secs}s ahead={ahead}");
        } else {
            assert!(
                matches!(
                    p.server_err,
                    Some(CdpError::PeerMisbehaved(PeerMisbehaved::ClockSkew { .. }))
                ),
                "offset {offset_secs}s ahead={ahead}: {:?}",
                p.server_err
            );
            assert_eq!(
                p.client_err,
                Some(CdpError::PeerAlert(AlertCode::ClockSkew))
            );
        }
    }
    // A wider window admits a camera 90 s off.
    let mut p = Pair::with(12, |_, s| s.skew_window = Duration::from_secs(120));
    let client = ClientConnection::connect(
        p.client_cfg.clone(),
        p.creds.clone(),
        p.now.saturating_add(Duration::from_secs(90)),
        &mut p.rng,
    );
    p.reconnect(client);
    p.drive();
    assert_eq!(p.server_err, None);
    // The device checks the platform's clock too.
    let mut p = Pair::new(13);
    let mut buf = Vec::new();
    p.client.poll_transmit(&mut buf);
    p.server.handle_bytes(p.now, &buf, &mut p.ctx).unwrap();
    buf.clear();
    p.server.poll_transmit(&mut buf);
    let late = p.now.saturating_add(Duration::from_secs(45));
    assert!(matches!(
        p.client.handle_bytes(late, &buf),
        Err(CdpError::PeerMisbehaved(PeerMisbehaved::ClockSkew { .. }))
    ));
}

/// CDP-HS-08: the platform's transcript signature is checked: a forged ServerHello
/// (signature bytes changed, or key share swapped by a man in the middle) is refused.
#[test]
fn cdp_hs_08_server_signature_binds_transcript() {
    for target in ["signature", "key_share"] {
        let mut p = Pair::new(14);
        let mut buf = Vec::new();
        p.client.poll_transmit(&mut buf);
        p.server.handle_bytes(p.now, &buf, &mut p.ctx).unwrap();
        buf.clear();
        p.server.poll_transmit(&mut buf);
        let idx = match target {
            "signature" => buf.len() - 1,
            _ => 5 + 32 + 8 + 3, // inside the server's key share
        };
        buf[idx] ^= 0x40;
        assert_eq!(
            p.client.handle_bytes(p.now, &buf),
            Err(CdpError::PeerMisbehaved(PeerMisbehaved::BadServerSignature)),
            "{target}"
        );
    }
}

/// CDP-HS-09: the device's transcript signature is checked by the platform.
#[test]
fn cdp_hs_09_client_signature_checked() {
    let mut p = Pair::new(15);
    let mut buf = Vec::new();
    p.client.poll_transmit(&mut buf);
    p.server.handle_bytes(p.now, &buf, &mut p.ctx).unwrap();
    buf.clear();
    p.server.poll_transmit(&mut buf);
    p.client.handle_bytes(p.now, &buf).unwrap();
    buf.clear();
    p.client.poll_transmit(&mut buf);
    let last = buf.len() - 1;
    buf[last] ^= 1;
    assert_eq!(
        p.server.handle_bytes(p.now, &buf, &mut p.ctx),
        Err(CdpError::PeerMisbehaved(PeerMisbehaved::BadClientSignature))
    );
}

/// CDP-HS-10: a frame the state does not expect ends the connection with an alert.
#[test]
fn cdp_hs_10_unexpected_frame() {
    let mut p = Pair::new(16);
    p.drive();
    // A ClientHello on an established connection.
    let hello = p.c2s_log[0].clone();
    let err = p
        .server
        .handle_bytes(p.now, &hello, &mut p.ctx)
        .unwrap_err();
    assert!(matches!(
        err,
        CdpError::PeerMisbehaved(PeerMisbehaved::UnexpectedFrame {
            got: FrameType::ClientHello,
            ..
        })
    ));
    assert_eq!(
        p.server.handle_bytes(p.now, &[], &mut p.ctx),
        Err(CdpError::Closed)
    );
    assert!(!p.server.is_established());
}

/// Captures the record frames the client sends for each payload.
fn established_with_records(seed: u64, payloads: &[&[u8]]) -> (Pair, Vec<Vec<u8>>) {
    let mut p = Pair::new(seed);
    p.drive();
    p.server_events();
    let mut frames = Vec::new();
    for payload in payloads {
        p.client.send(payload).unwrap();
        let mut buf = Vec::new();
        p.client.poll_transmit(&mut buf);
        frames.push(buf);
    }
    (p, frames)
}

/// CDP-REC-02: a record replayed on the wire is refused with `ReplayedRecord` and an alert.
#[test]
fn cdp_rec_02_replayed_record_on_connection() {
    let (mut p, frames) = established_with_records(17, &[b"a", b"b"]);
    p.server
        .handle_bytes(p.now, &frames[0], &mut p.ctx)
        .unwrap();
    let err = p
        .server
        .handle_bytes(p.now, &frames[0], &mut p.ctx)
        .unwrap_err();
    assert!(matches!(
        err,
        CdpError::PeerMisbehaved(PeerMisbehaved::ReplayedRecord { seq: 0, .. })
    ));
    assert_eq!(p.server_events(), vec![Event::Data(b"a".to_vec())]);
    let mut alert = Vec::new();
    p.server.poll_transmit(&mut alert);
    assert_eq!(alert.last(), Some(&AlertCode::BadRecord.to_byte()));
}

/// CDP-REC-03: records delivered out of order are refused with `ReorderedRecord`.
#[test]
fn cdp_rec_03_reordered_record_on_connection() {
    let (mut p, frames) = established_with_records(18, &[b"a", b"b"]);
    let err = p
        .server
        .handle_bytes(p.now, &frames[1], &mut p.ctx)
        .unwrap_err();
    assert!(matches!(
        err,
        CdpError::PeerMisbehaved(PeerMisbehaved::ReorderedRecord {
            seq: 1,
            expected_seq: 0,
            ..
        })
    ));
    assert!(p.server_events().is_empty());
}

/// CDP-REC-04: a truncated record, or a stream cut inside a frame, is refused.
#[test]
fn cdp_rec_04_truncated_record_on_connection() {
    let (mut p, frames) = established_with_records(19, &[b"abc"]);
    // Shorten the frame and its length field consistently to below a tag.
    let mut short = frames[0][..4 + 1 + 12 + 4].to_vec();
    short[..4].copy_from_slice(&(1u32 + 12 + 4).to_be_bytes());
    let err = p
        .server
        .handle_bytes(p.now, &short, &mut p.ctx)
        .unwrap_err();
    assert!(matches!(
        err,
        CdpError::PeerMisbehaved(PeerMisbehaved::TruncatedRecord { len: 16 })
    ));

    let (mut p, frames) = established_with_records(20, &[b"abc"]);
    p.server
        .handle_bytes(p.now, &frames[0][..10], &mut p.ctx)
        .unwrap();
    assert_eq!(
        p.server.handle_eof(),
        Err(CdpError::PeerMisbehaved(PeerMisbehaved::TruncatedStream {
            buffered: 10
        }))
    );
}

/// CDP-REC-05: a tampered record is refused with `TamperedRecord`.
#[test]
fn cdp_rec_05_tampered_record_on_connection() {
    let (mut p, frames) = established_with_records(21, &[b"open the door"]);
    let mut bad = frames[0].clone();
    bad[20] ^= 0x01;
    let err = p.server.handle_bytes(p.now, &bad, &mut p.ctx).unwrap_err();
    assert!(matches!(
        err,
        CdpError::PeerMisbehaved(PeerMisbehaved::TamperedRecord { .. })
    ));
    assert!(p.server_events().is_empty());
}

/// CDP-REC-06: both directions rekey after the configured record count, keep working,
/// and report the new epochs.
#[test]
fn cdp_rec_06_rekey_on_connection() {
    let mut p = Pair::with(22, |c, s| {
        c.rekey_after = 3;
        s.rekey_after = 2;
    });
    p.drive();
    p.client_events();
    p.server_events();
    for i in 0..7u8 {
        p.client.send(&[i]).unwrap();
        p.server.send(&[i, i]).unwrap();
        p.drive();
    }
    let se = p.server_events();
    let ce = p.client_events();
    let data = |ev: &[Event]| ev.iter().filter(|e| matches!(e, Event::Data(_))).count();
    assert_eq!(data(&se), 7);
    assert_eq!(data(&ce), 7);
    // The client sends 7 records at 3 per epoch: epochs 1 and 2.
    assert!(se.contains(&Event::KeyUpdated {
        outgoing: false,
        epoch: 2
    }));
    assert!(ce.contains(&Event::KeyUpdated {
        outgoing: true,
        epoch: 2
    }));
    // The server sends a ticket and 7 records at 2 per epoch: epochs 1 to 3.
    assert!(ce.contains(&Event::KeyUpdated {
        outgoing: false,
        epoch: 3
    }));
    assert_eq!(p.client_err, None);
    assert_eq!(p.server_err, None);
}

/// CDP-RES-01: a ticket resumes a session with fresh keys, authenticates the platform
/// by its MAC, and yields a new ticket.
#[test]
fn cdp_res_01_resumption() {
    let mut p = Pair::new(23);
    p.drive();
    let ticket = p.client.take_ticket().expect("ticket issued");
    assert!(ticket.is_valid(p.now));
    assert_eq!(ticket.server().subject, "gw-eu-1");
    let device = p.server.peer().cloned();
    let client = p.resume(ticket, p.now);
    p.reconnect(client);
    p.drive();
    assert_eq!(p.server_err, None);
    assert_eq!(p.client_err, None);
    let (peer, resumed) = connected(&p.server_events())
        .map(|(a, b)| (a.clone(), b))
        .expect("resumed");
    assert!(resumed);
    assert_eq!(Some(peer), device);
    assert!(matches!(connected(&p.client_events()), Some((_, true))));
    assert!(p.client.take_ticket().is_some());
    p.client.send(b"after resume").unwrap();
    p.drive();
    assert_eq!(
        p.server_events(),
        vec![Event::Data(b"after resume".to_vec())]
    );
    // No RSA work: the resumed ClientHello is short.
    assert!(p.c2s_log[0].len() < 200);
}

/// CDP-RES-02: a recorded ResumeHello replayed later is refused, even when the nonce
/// cache has forgotten it: the ticket was spent.
#[test]
fn cdp_res_02_resumption_replay_refused() {
    let mut p = Pair::new(24);
    p.drive();
    let ticket = p.client.take_ticket().unwrap();
    let client = p.resume(ticket.clone(), p.now);
    p.reconnect(client);
    p.drive();
    let resume_hello = p.c2s_log[0].clone();

    let mut replay = ServerConnection::new(p.server_cfg.clone(), &mut p.rng);
    assert_eq!(
        replay.handle_bytes(p.now, &resume_hello, &mut p.ctx),
        Err(CdpError::PeerMisbehaved(PeerMisbehaved::ReplayedHandshake))
    );
    // Later, with the nonce long forgotten, the spent ticket still refuses it.
    let later = p.now.saturating_add(Duration::from_secs(20));
    let mut replay = ServerConnection::new(p.server_cfg.clone(), &mut p.rng);
    p.ctx.nonces = NonceCache::new(10);
    let err = replay.handle_bytes(p.now, &resume_hello, &mut p.ctx);
    assert_eq!(
        err,
        Err(CdpError::PeerMisbehaved(PeerMisbehaved::UnknownTicket))
    );
    // The same ticket presented again by the device itself is refused too.
    let client = p.resume(ticket, later);
    p.reconnect(client);
    p.now = later;
    p.drive();
    assert_eq!(
        p.server_err,
        Some(CdpError::PeerMisbehaved(PeerMisbehaved::UnknownTicket))
    );
    assert_eq!(
        p.client_err,
        Some(CdpError::PeerAlert(AlertCode::UnknownTicket))
    );
}

/// CDP-RES-03: a ResumeHello whose binder does not verify is refused.
#[test]
fn cdp_res_03_bad_binder_refused() {
    let mut p = Pair::new(25);
    p.drive();
    let ticket = p.client.take_ticket().unwrap();
    let mut client = p.resume(ticket, p.now);
    let mut buf = Vec::new();
    client.poll_transmit(&mut buf);
    let last = buf.len() - 1;
    buf[last] ^= 0x80;
    let mut server = ServerConnection::new(p.server_cfg.clone(), &mut p.rng);
    assert_eq!(
        server.handle_bytes(p.now, &buf, &mut p.ctx),
        Err(CdpError::PeerMisbehaved(PeerMisbehaved::BadResumptionMac))
    );
}

/// CDP-RES-03: a party that knows a ticket's id but not its secret cannot resume: the
/// platform refuses a ResumeHello whose binder was made under another secret, although
/// the ticket is live and everything else in the hello is right.
#[test]
fn cdp_res_03_binder_without_the_ticket_secret_refused() {
    for secret in [[0u8; 32], [0x42; 32]] {
        let mut p = Pair::new(25);
        p.drive();
        let ticket = p.client.take_ticket().unwrap();
        let mut stolen = ticket.clone();
        stolen.secret = Zeroizing::new(secret);
        assert_ne!(stolen.secret, ticket.secret);
        let client = p.resume(stolen, p.now);
        p.reconnect(client);
        p.drive();
        assert_eq!(
            p.server_err,
            Some(CdpError::PeerMisbehaved(PeerMisbehaved::BadResumptionMac))
        );
        assert_eq!(connected(&p.server_events()), None);
        assert!(!p.server.is_established());
    }
}

/// The frames a cloud impersonator answers a ResumeHello with: a well-formed ResumeAccept
/// whose `verify` MAC is made under `secret` (the ticket's own secret for the control).
fn resume_accept(resume_hello: &[u8], secret: &[u8; 32], now: Timestamp, seed: u64) -> Vec<u8> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let (_, key_share, random) = fresh_share(&mut rng);
    let mut accept = messages::ResumeAccept {
        random,
        timestamp: now,
        key_share,
        verify: [0; 32],
    };
    accept.verify = client::resumption_mac(
        secret,
        &[
            resume_hello,
            &[FrameType::ResumeAccept.to_byte()],
            &accept.encode_core(),
        ],
    );
    let mut out = Vec::new();
    encode_frame(FrameType::ResumeAccept, &accept.encode(), &mut out);
    out
}

/// CDP-RES-03: the device refuses a ResumeAccept whose proof was made without the
/// ticket's secret (a cloud impersonator that saw the ticket id in the ResumeHello), and
/// accepts the same message made with it.
#[test]
fn cdp_res_03_resume_accept_without_the_ticket_secret_refused() {
    for (secret, accepted) in [
        (None, true),
        (Some([0u8; 32]), false),
        (Some([0x42; 32]), false),
    ] {
        let mut p = Pair::new(26);
        p.drive();
        let ticket = p.client.take_ticket().unwrap();
        let real = *ticket.secret;
        let mut client = p.resume(ticket, p.now);
        let mut hello = Vec::new();
        client.poll_transmit(&mut hello);
        let answer = resume_accept(&hello[4..], &secret.unwrap_or(real), p.now, 9);
        let got = client.handle_bytes(p.now, &answer);
        let events: Vec<Event> = std::iter::from_fn(|| client.poll_event()).collect();
        if accepted {
            assert_eq!(got, Ok(()));
            // The device waits for the ticket record before it reports the session.
            assert!(!client.is_established());
        } else {
            assert_eq!(
                got,
                Err(CdpError::PeerMisbehaved(PeerMisbehaved::BadResumptionMac))
            );
            assert_eq!(connected(&events), None);
            assert!(!client.is_established());
            // It tells the impersonator why, and accepts nothing more.
            let mut alert = Vec::new();
            client.poll_transmit(&mut alert);
            assert_eq!(alert[4], FrameType::Alert.to_byte());
            assert_eq!(client.handle_bytes(p.now, &answer), Err(CdpError::Closed));
        }
    }
}

/// CDP-RES-04: an expired ticket is refused by the platform.
#[test]
fn cdp_res_04_expired_ticket_refused() {
    let mut p = Pair::with(26, |_, s| s.ticket_lifetime = Duration::from_secs(60));
    p.drive();
    let ticket = p.client.take_ticket().unwrap();
    let later = p.now.saturating_add(Duration::from_secs(61));
    assert!(!ticket.is_valid(later));
    let client = p.resume(ticket, later);
    p.reconnect(client);
    p.now = later;
    p.drive();
    assert_eq!(
        p.server_err,
        Some(CdpError::PeerMisbehaved(PeerMisbehaved::UnknownTicket))
    );
}

/// CDP-CLOSE-01: a close record ends the connection cleanly; an end of stream without
/// one is reported as unclean.
#[test]
fn cdp_close_01_clean_and_unclean_close() {
    let mut p = Pair::new(27);
    p.drive();
    p.server_events();
    p.client.close();
    assert_eq!(p.client.send(b"late"), Err(CdpError::Closed));
    p.drive();
    assert_eq!(p.server_events(), vec![Event::Closed { clean: true }]);

    let mut p = Pair::new(28);
    p.drive();
    p.client_events();
    assert_eq!(p.client.handle_eof(), Ok(()));
    assert_eq!(p.client_events(), vec![Event::Closed { clean: false }]);
    assert!(!p.client.is_established());
}

/// CDP-CLOSE-01: either side's close sends one close record and nothing after it, and
/// the receiver of a close accepts nothing more; a connection is established only from
/// the end of the handshake to the close.
#[test]
fn cdp_close_01_closed_connection_sends_and_accepts_nothing() {
    let mut p = Pair::new(32);
    assert!(!p.client.is_established());
    assert!(!p.server.is_established());
    p.drive();
    assert!(p.client.is_established());
    assert!(p.server.is_established());
    p.client_events();
    p.server_events();
    p.server.close();
    p.server.close();
    assert_eq!(p.server.send(b"late"), Err(CdpError::Closed));
    let mut close = Vec::new();
    p.server.poll_transmit(&mut close);
    // One record: length, type, epoch, seq, content type, tag.
    assert_eq!(
        close.len(),
        4 + 1 + 12 + 1 + 16,
        "not exactly one close record"
    );
    assert_eq!(p.client.handle_bytes(p.now, &close), Ok(()));
    assert_eq!(p.client_events(), vec![Event::Closed { clean: true }]);
    assert!(!p.client.is_established());
    assert_eq!(p.client.send(b"late"), Err(CdpError::Closed));
    assert_eq!(p.client.handle_bytes(p.now, &close), Err(CdpError::Closed));
    let mut nothing = Vec::new();
    assert_eq!(p.client.poll_transmit(&mut nothing), 0);
    // The server's own state: closed for sending, still established for reading until
    // the peer's close arrives, which then ends it.
    p.client.close();
    assert_eq!(p.client.poll_transmit(&mut nothing), 0, "closed twice");

    let mut p = Pair::new(33);
    p.drive();
    p.client.close();
    p.drive();
    assert!(!p.server.is_established());
    assert_eq!(p.server.send(b"late"), Err(CdpError::Closed));
}

/// A flawed device that drops records it cannot open keeps its session through a
/// tampered record, where the reference device ends it; neither ignores an error that
/// is not a bad record (an unexpected handshake frame after the handshake).
#[test]
fn flaw_ignore_bad_records_only_drops_bad_records() {
    for lenient in [false, true] {
        let mut p = Pair::with(41, |c, _| c.flaws.ignore_bad_records = lenient);
        p.drive();
        p.client_events();
        p.server.send(b"tampered").unwrap();
        let mut record = Vec::new();
        p.server.poll_transmit(&mut record);
        let mut tampered = record.clone();
        let n = tampered.len();
        tampered[n - 1] ^= 1;
        let got = p.client.handle_bytes(p.now, &tampered);
        if lenient {
            assert_eq!(got, Ok(()));
            assert!(p.client.is_established());
            assert_eq!(p.client_events(), vec![]);
            // The genuine record still opens: the tampered copy was dropped, not counted.
            assert_eq!(p.client.handle_bytes(p.now, &record), Ok(()));
            assert_eq!(p.client_events(), vec![Event::Data(b"tampered".to_vec())]);
        } else {
            assert!(matches!(
                got,
                Err(CdpError::PeerMisbehaved(
                    PeerMisbehaved::TamperedRecord { .. }
                ))
            ));
            assert!(!p.client.is_established());
            continue;
        }
        // A ServerHello after the handshake is no bad record: even the lenient device fails.
        let mut hello = Vec::new();
        encode_frame(FrameType::ServerHello, &[0; 8], &mut hello);
        assert!(p.client.handle_bytes(p.now, &hello).is_err());
        assert!(!p.client.is_established());
    }
}

/// CDP-HS-04, CDP-HS-05: each side reports its peer's authenticated identity once the
/// handshake finished, and not before.
#[test]
fn cdp_hs_04_peer_identity_only_once_established() {
    let mut p = Pair::new(35);
    assert_eq!(p.client.peer(), None);
    assert_eq!(p.server.peer(), None);
    p.drive();
    assert_eq!(p.client.peer().map(|i| i.subject.as_str()), Some("gw-eu-1"));
    let device = p.server.peer().cloned().expect("device identity");
    assert_eq!(
        connected(&p.server_events()).map(|(i, _)| i.clone()),
        Some(device)
    );
}

/// CDP-RES-05: a session carries one ticket, in the platform's first record; a second
/// ticket record is refused, and the first ticket keeps the session's secret.
#[test]
fn cdp_res_05_second_ticket_refused() {
    let mut p = Pair::new(36);
    p.drive();
    p.client_events();
    let mut second = vec![0x55; 16];
    second.extend_from_slice(&3600u32.to_be_bytes());
    p.server.seal_raw(ContentType::Ticket, &second).unwrap();
    p.drive();
    assert_eq!(
        p.client_err,
        Some(CdpError::PeerMisbehaved(
            PeerMisbehaved::UnexpectedContent {
                state: "established",
                got: "a second ticket",
            }
        ))
    );
    assert!(!p.client.is_established());
    let ticket = p.client.take_ticket().expect("the first ticket");
    assert_ne!(ticket.id, [0x55; 16]);
    assert_ne!(*ticket.secret, [0; 32], "a ticket without its secret");
}

/// CDP-FRAME-02: an oversized frame ends the connection before its body arrives.
#[test]
fn cdp_frame_02_oversized_frame_on_connection() {
    let mut p = Pair::new(29);
    let err = p
        .server
        .handle_bytes(p.now, &[0x7F, 0, 0, 0], &mut p.ctx)
        .unwrap_err();
    assert!(matches!(
        err,
        CdpError::InvalidMessage(InvalidMessage::FrameTooLarge { .. })
    ));
}

/// CDP-KEY-01: the same seeds give byte-identical handshakes (determinism), and
/// different seeds give different keys.
#[test]
fn cdp_key_01_deterministic_from_seed() {
    let transcript = |seed| {
        let mut p = Pair::new(seed);
        p.drive();
        p.client.send(b"x").unwrap();
        p.drive();
        p.c2s_log.concat()
    };
    assert_eq!(transcript(30), transcript(30));
    assert_ne!(transcript(30), transcript(34));
}

/// CDP-KEY-02: a key share that is a low-order point is refused.
#[test]
fn cdp_key_02_low_order_key_share_refused() {
    let mut p = Pair::new(31);
    let mut buf = Vec::new();
    p.client.poll_transmit(&mut buf);
    // Zero the client's key share (last 32 bytes of the ClientHello).
    let n = buf.len();
    buf[n - 32..].fill(0);
    assert_eq!(
        p.server.handle_bytes(p.now, &buf, &mut p.ctx),
        Err(CdpError::PeerMisbehaved(PeerMisbehaved::WeakKeyShare))
    );
}

/// Flawed profile `accept_replayed_records`: the flawed device accepts a replayed
/// record twice, where the reference device refuses it (CDP-REC-02).
#[test]
fn flaw_accept_replayed_records_is_observable() {
    for flawed in [false, true] {
        let mut p = Pair::with(40, |c, _| c.flaws.accept_replayed_records = flawed);
        p.drive();
        p.client_events();
        p.server.send(b"unlock").unwrap();
        let mut record = Vec::new();
        p.server.poll_transmit(&mut record);
        p.client.handle_bytes(p.now, &record).unwrap();
        let replay = p.client.handle_bytes(p.now, &record);
        let data: Vec<_> = p
            .client_events()
            .into_iter()
            .filter(|e| matches!(e, Event::Data(_)))
            .collect();
        if flawed {
            assert_eq!(replay, Ok(()));
            assert_eq!(
                data.len(),
                2,
                "the flawed device executes the command twice"
            );
        } else {
            assert!(matches!(
                replay,
                Err(CdpError::PeerMisbehaved(
                    PeerMisbehaved::ReplayedRecord { .. }
                ))
            ));
            assert_eq!(data.len(), 1);
        }
    }
}

/// CDP-RES-03, flawed profile `skip_resumption_proof_check`: a ResumeAccept whose
/// `verify` was made under the binder key of another secret (an impersonator that saw
/// the ResumeHello but never held the ticket's secret) is refused by the reference
/// device and taken by the flawed one.
#[test]
fn flaw_skip_resumption_proof_check_is_observable() {
    for flawed in [false, true] {
        let mut p = Pair::with(42, |c, _| c.flaws.skip_resumption_proof_check = flawed);
        p.drive();
        let ticket = p.client.take_ticket().unwrap();
        let mut client = p.resume(ticket, p.now);
        let mut hello = Vec::new();
        client.poll_transmit(&mut hello);
        let frame = resume_accept(&hello[4..], &[0; 32], p.now, 3);
        let got = client.handle_bytes(p.now, &frame);
        if flawed {
            assert_eq!(got, Ok(()), "the flawed device waits for the session");
        } else {
            assert_eq!(
                got,
                Err(CdpError::PeerMisbehaved(PeerMisbehaved::BadResumptionMac))
            );
            let mut alert = Vec::new();
            client.poll_transmit(&mut alert);
            assert_eq!(alert.get(4), Some(&FrameType::Alert.to_byte()));
        }
        assert!(!client.is_established());
    }
}

/// CDP-REC-03, CDP-REC-06: after `rekey_unannounced` the platform's next record comes
/// from epoch 1 under that epoch's key, with no KeyUpdate before it: the reference
/// device refuses it as reordered, the `accept_future_epochs` flaw opens it. Once
/// closed, the connection refuses to move.
#[test]
fn rekey_unannounced_sends_a_future_epoch_record() {
    for flawed in [false, true] {
        let mut p = Pair::with(43, |c, _| c.flaws.accept_future_epochs = flawed);
        p.drive();
        p.client_events();
        p.server.rekey_unannounced().unwrap();
        p.server.send(b"ahead").unwrap();
        let mut record = Vec::new();
        p.server.poll_transmit(&mut record);
        assert_eq!(&record[5..17], &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        let got = p.client.handle_bytes(p.now, &record);
        if flawed {
            assert_eq!(got, Ok(()));
            assert!(p.client_events().contains(&Event::Data(b"ahead".to_vec())));
        } else {
            assert!(matches!(
                got,
                Err(CdpError::PeerMisbehaved(PeerMisbehaved::ReorderedRecord {
                    epoch: 1,
                    seq: 0,
                    expected_epoch: 0,
                    ..
                }))
            ));
        }
        p.server.close();
        assert_eq!(p.server.rekey_unannounced(), Err(CdpError::Closed));
    }
}

/// Flawed profile `reuse_record_nonces`: two records share a nonce, so the XOR of the
/// ciphertexts is the XOR of the plaintexts; the reference platform refuses the second
/// record as a replay (CDP-REC-02).
#[test]
fn flaw_reuse_record_nonces_is_observable() {
    let mut p = Pair::with(41, |c, _| c.flaws.reuse_record_nonces = true);
    p.drive();
    p.server_events();
    let (a, b) = (b"temperature=21.5C".to_vec(), b"password=hunter22".to_vec());
    let mut frames = Vec::new();
    for m in [&a, &b] {
        p.client.send(m).unwrap();
        let mut f = Vec::new();
        p.client.poll_transmit(&mut f);
        frames.push(f);
    }
    // Same epoch and sequence in both headers.
    assert_eq!(frames[0][5..17], frames[1][5..17]);
    let ct = |f: &Vec<u8>| f[17..17 + a.len()].to_vec();
    let xor_ct: Vec<u8> = ct(&frames[0])
        .iter()
        .zip(ct(&frames[1]))
        .map(|(x, y)| x ^ y)
        .collect();
    let xor_pt: Vec<u8> = a.iter().zip(&b).map(|(x, y)| x ^ y).collect();
    assert_eq!(xor_ct, xor_pt, "keystream reuse leaks the plaintexts' XOR");
    p.server
        .handle_bytes(p.now, &frames[0], &mut p.ctx)
        .unwrap();
    assert!(matches!(
        p.server.handle_bytes(p.now, &frames[1], &mut p.ctx),
        Err(CdpError::PeerMisbehaved(
            PeerMisbehaved::ReplayedRecord { .. }
        ))
    ));
    // The reference device never repeats a sequence number.
    let (_, frames) = established_with_records(42, &[b"x", b"y"]);
    assert_ne!(frames[0][5..17], frames[1][5..17]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// CDP-HS-03: the handshake and any data survive any chunking of the byte streams.
    #[test]
    fn cdp_hs_03_any_chunking(seed in 0u64..1000, chunk in 1usize..300, msgs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..500), 0..6)) {
        let mut p = Pair::new(seed);
        let mut server_got = Vec::new();
        let mut sent = false;
        for _ in 0..64 {
            let mut buf = Vec::new();
            p.client.poll_transmit(&mut buf);
            for piece in buf.chunks(chunk) {
                p.server.handle_bytes(p.now, piece, &mut p.ctx).unwrap();
            }
            let mut buf = Vec::new();
            p.server.poll_transmit(&mut buf);
            for piece in buf.chunks(chunk) {
                p.client.handle_bytes(p.now, piece).unwrap();
            }
            if p.client.is_established() && !sent {
                for m in &msgs { p.client.send(m).unwrap(); }
                sent = true;
            }
            while let Some(e) = p.server.poll_event() {
                if let Event::Data(d) = e { server_got.push(d); }
            }
        }
        prop_assert_eq!(server_got, msgs);
    }

    /// CDP-HS-01: arbitrary bytes never panic either state machine.
    #[test]
    fn state_machines_are_total(data in prop::collection::vec(any::<u8>(), 0..2000)) {
        let mut p = Pair::new(1);
        let _ = p.server.handle_bytes(p.now, &data, &mut p.ctx);
        let _ = p.client.handle_bytes(p.now, &data);
    }
}

/// A pair whose client is an app (`AppHello`), not a device.
fn app_pair(seed: u64) -> Pair {
    let mut p = Pair::new(seed);
    let client = ClientConnection::connect_app(p.client_cfg.clone(), p.now, &mut p.rng);
    p.reconnect(client);
    p
}

/// CDP-APP-HS-01: an app authenticates the platform, presents no certificate, gets no
/// ticket, and both sides exchange sealed records.
#[test]
fn cdp_app_hs_01_server_authenticated_session() {
    let mut p = app_pair(11);
    p.drive();
    assert_eq!(p.client_err, None);
    assert_eq!(p.server_err, None);
    let ce = p.client_events();
    let (server, resumed) = connected(&ce).expect("app connected");
    assert_eq!(server.subject, "gw-eu-1");
    assert!(!resumed);
    assert_eq!(p.server_events(), vec![Event::AppConnected]);
    p.client.send(b"sign me in").unwrap();
    p.server.send(b"welcome").unwrap();
    p.drive();
    assert_eq!(p.server_events(), vec![Event::Data(b"sign me in".to_vec())]);
    assert_eq!(p.client_events(), vec![Event::Data(b"welcome".to_vec())]);
    assert!(p.client.take_ticket().is_none(), "apps get no ticket");
    // No ClientAuth crossed the wire: the app has no key to sign with.
    let wire: Vec<u8> = p.c2s_log.concat();
    assert_eq!(wire[4], FrameType::AppHello.to_byte());
}

/// CDP-APP-HS-02: the app refuses a platform certificate it does not trust, exactly as a
/// device does.
#[test]
fn cdp_app_hs_02_untrusted_platform_refused() {
    let other = TestPki::generate(99, &crate::pki::PkiOptions::fast_for_tests());
    let mut p = Pair::with(12, |_, server| {
        *server = ServerConfig::new(other.server("gw-evil", 0));
    });
    let client = ClientConnection::connect_app(p.client_cfg.clone(), p.now, &mut p.rng);
    p.reconnect(client);
    p.drive();
    assert!(
        matches!(p.client_err, Some(CdpError::Certificate(_))),
        "{:?}",
        p.client_err
    );
    assert!(!p.client.is_established());
}

/// CDP-APP-HS-03: a replayed AppHello is refused by the nonce cache once the app's first
/// record proved its session (CDP-NONCE-01), and an AppHello outside the skew window by
/// the clock check.
#[test]
fn cdp_app_hs_03_replay_and_skew() {
    let mut p = app_pair(13);
    p.drive();
    assert_eq!(p.server_err, None);
    assert!(
        p.ctx.nonces.is_empty(),
        "an app hello remembered before any proof"
    );
    p.client.send(b"sign me in").unwrap();
    p.drive();
    assert_eq!(p.server_err, None);
    assert_eq!(p.ctx.nonces.len_of(NonceClass::App), 1);
    let hello = p.c2s_log[0].clone();
    let mut replay = ServerConnection::new(p.server_cfg.clone(), &mut p.rng);
    let r = replay.handle_bytes(p.now, &hello, &mut p.ctx);
    assert!(
        matches!(
            r,
            Err(CdpError::PeerMisbehaved(PeerMisbehaved::ReplayedHandshake))
        ),
        "{r:?}"
    );
    let mut late = ServerConnection::new(p.server_cfg.clone(), &mut p.rng);
    let r = late.handle_bytes(
        p.now.saturating_add(Duration::from_secs(31)),
        &hello,
        &mut ServerContext::new(pki().trust_store()),
    );
    assert!(r.is_err(), "stale AppHello accepted");
}

/// A hello frame of `kind` (ClientHello layout) from a party with no credentials: a fresh
/// random, a valid timestamp, any key share.
fn bare_hello(kind: FrameType, now: Timestamp, rng: &mut ChaCha8Rng) -> Vec<u8> {
    use rand_core::RngCore;
    let mut hello = messages::ClientHello {
        version: PROTOCOL_VERSION,
        random: [0; 32],
        // As far ahead as the window allows: the longest a cached random would live.
        timestamp: now.saturating_add(Duration::from_secs(25)),
        key_share: [0; 32],
    };
    rng.fill_bytes(&mut hello.random);
    rng.fill_bytes(&mut hello.key_share);
    let mut out = Vec::new();
    encode_frame(kind, &hello.encode(), &mut out);
    out
}

/// A ResumeHello naming a ticket that was never issued, with a made-up binder.
fn bogus_resume(now: Timestamp, rng: &mut ChaCha8Rng) -> Vec<u8> {
    use rand_core::RngCore;
    let mut hello = messages::ResumeHello {
        version: PROTOCOL_VERSION,
        ticket_id: [0; messages::TICKET_ID_LEN],
        random: [0; 32],
        timestamp: now,
        key_share: [0; 32],
        binder: [0; 32],
    };
    rng.fill_bytes(&mut hello.ticket_id);
    rng.fill_bytes(&mut hello.random);
    rng.fill_bytes(&mut hello.key_share);
    rng.fill_bytes(&mut hello.binder);
    let mut out = Vec::new();
    encode_frame(FrameType::ResumeHello, &hello.encode(), &mut out);
    out
}

/// Sends `n` hellos of every kind from parties without credentials, each on its own
/// connection, to the endpoint of `p`; returns how many were answered with a ServerHello
/// and how many refused as busy.
fn flood(p: &mut Pair, n: usize) -> (usize, usize) {
    let (mut answered, mut busy) = (0, 0);
    for i in 0..n {
        let bytes = match i % 3 {
            0 => bare_hello(FrameType::ClientHello, p.now, &mut p.rng),
            1 => bare_hello(FrameType::AppHello, p.now, &mut p.rng),
            _ => bogus_resume(p.now, &mut p.rng),
        };
        let mut conn = ServerConnection::new(p.server_cfg.clone(), &mut p.rng);
        match conn.handle_bytes(p.now, &bytes, &mut p.ctx) {
            Err(CdpError::Local(LocalError::NonceCacheFull)) => busy += 1,
            Ok(()) => answered += 1,
            Err(_) => {}
        }
    }
    (answered, busy)
}

/// CDP-NONCE-01: a flood of hellos from parties without credentials (device hellos never
/// followed by a ClientAuth, app hellos never followed by a record, resumptions of
/// tickets never issued) remembers nothing, and a device's handshake is never `Busy`.
#[test]
fn cdp_nonce_01_unproven_flood_never_locks_devices_out() {
    let mut p = Pair::new(50);
    p.ctx.nonces = NonceCache::new(16);
    let (answered, busy) = flood(&mut p, 300);
    assert_eq!(busy, 0);
    assert_eq!(answered, 200, "device and app hellos are answered");
    assert!(p.ctx.nonces.is_empty(), "{:?}", p.ctx.nonces);
    // Many devices connect in the middle of the flood, and each gets its session.
    for seed in 0..12 {
        let creds = Arc::new(pki().device(seed % 4));
        let client = ClientConnection::connect(p.client_cfg.clone(), creds, p.now, &mut p.rng);
        p.reconnect(client);
        p.drive();
        assert_eq!(p.server_err, None, "device {seed}");
        assert!(connected(&p.server_events()).is_some(), "device {seed}");
        flood(&mut p, 30);
    }
    // Only the proven handshakes are remembered: 12 of 16 device slots, no app slot.
    assert_eq!(p.ctx.nonces.len_of(NonceClass::Device), 12);
    assert_eq!(p.ctx.nonces.len_of(NonceClass::App), 0);
}

/// CDP-NONCE-01: the planted flaw `cache_unproven_hellos` (remember every hello as it
/// arrives, refuse when full) lets the same flood lock devices out.
#[test]
fn cdp_nonce_01_caching_unproven_hellos_locks_devices_out() {
    let mut p = Pair::new(51);
    p.ctx.nonces = NonceCache::new(10);
    p.ctx.flaws.cache_unproven_hellos = true;
    let (_, busy) = flood(&mut p, 30);
    assert_eq!(busy, 20);
    p.drive();
    assert_eq!(
        p.server_err,
        Some(CdpError::Local(LocalError::NonceCacheFull))
    );
    assert_eq!(p.client_err, Some(CdpError::PeerAlert(AlertCode::Busy)));
}

/// CDP-NONCE-01: a recorded app session's hello and first record, replayed after its
/// random was forgotten, get a ServerHello but never a session: the server's fresh random
/// and share make new keys, under which the recorded record does not open.
#[test]
fn cdp_nonce_01_forgotten_app_hello_cannot_complete() {
    let mut p = app_pair(52);
    p.drive();
    p.client.send(b"sign me in").unwrap();
    p.drive();
    let recorded: Vec<u8> = p.c2s_log.concat();
    let mut forgetful = ServerContext::new(pki().trust_store());
    let mut replay = ServerConnection::new(p.server_cfg.clone(), &mut p.rng);
    let r = replay.handle_bytes(p.now, &recorded, &mut forgetful);
    assert!(
        matches!(
            r,
            Err(CdpError::PeerMisbehaved(
                PeerMisbehaved::TamperedRecord { .. }
            ))
        ),
        "{r:?}"
    );
    assert!(forgetful.nonces.is_empty());
    let events: Vec<Event> = std::iter::from_fn(|| replay.poll_event()).collect();
    assert!(!events.iter().any(|e| matches!(e, Event::Data(_))));
}

/// CDP-NONCE-02: two copies of one ClientHello in flight at once, answered by two
/// connections whose ServerHellos are byte-identical (the worst case: the transcript
/// cannot tell them apart, so one ClientAuth verifies at both): only the first to prove
/// possession completes; the other is refused as a replay.
#[test]
fn cdp_nonce_02_concurrent_copies_only_one_completes() {
    let mut p = Pair::new(53);
    let twin_rng = p.rng.clone();
    let mut a = ServerConnection::new(p.server_cfg.clone(), &mut p.rng.clone());
    let mut b = ServerConnection::new(p.server_cfg.clone(), &mut twin_rng.clone());
    let mut hello = Vec::new();
    p.client.poll_transmit(&mut hello);
    a.handle_bytes(p.now, &hello, &mut p.ctx).unwrap();
    b.handle_bytes(p.now, &hello, &mut p.ctx).unwrap();
    let (mut sh_a, mut sh_b) = (Vec::new(), Vec::new());
    a.poll_transmit(&mut sh_a);
    b.poll_transmit(&mut sh_b);
    assert_eq!(sh_a, sh_b, "the twins answer alike");
    p.client.handle_bytes(p.now, &sh_a).unwrap();
    let mut auth = Vec::new();
    p.client.poll_transmit(&mut auth);
    a.handle_bytes(p.now, &auth, &mut p.ctx).unwrap();
    assert!(a.is_established());
    assert_eq!(
        b.handle_bytes(p.now, &auth, &mut p.ctx),
        Err(CdpError::PeerMisbehaved(PeerMisbehaved::ReplayedHandshake))
    );
    assert!(!b.is_established());
    assert!(b.poll_event().is_none());
}

/// CDP-NONCE-02: a ResumeHello is remembered once its binder verified, so a recorded one
/// replayed is refused at once; a ResumeHello for a ticket never issued proves nothing
/// and remembers nothing.
#[test]
fn cdp_nonce_02_resumption_binder_replay_refused() {
    let mut p = Pair::new(54);
    p.drive();
    let ticket = p.client.take_ticket().unwrap();
    assert_eq!(p.ctx.nonces.len_of(NonceClass::Device), 1);
    let client = p.resume(ticket, p.now);
    p.reconnect(client);
    p.drive();
    assert!(connected(&p.server_events()).is_some());
    assert_eq!(p.ctx.nonces.len_of(NonceClass::Device), 2);
    let resume_hello = p.c2s_log[0].clone();
    let mut replay = ServerConnection::new(p.server_cfg.clone(), &mut p.rng);
    assert_eq!(
        replay.handle_bytes(p.now, &resume_hello, &mut p.ctx),
        Err(CdpError::PeerMisbehaved(PeerMisbehaved::ReplayedHandshake))
    );
    let bogus = bogus_resume(p.now, &mut p.rng);
    let mut conn = ServerConnection::new(p.server_cfg.clone(), &mut p.rng);
    assert_eq!(
        conn.handle_bytes(p.now, &bogus, &mut p.ctx),
        Err(CdpError::PeerMisbehaved(PeerMisbehaved::UnknownTicket))
    );
    assert_eq!(p.ctx.nonces.len_of(NonceClass::Device), 2);
}
