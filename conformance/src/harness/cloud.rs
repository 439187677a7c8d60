//! Cloud-side cases: the harness is the platform (CDP/1 server) and misbehaves on
//! purpose (bad certificates, skewed or stale hellos, replayed, reordered, truncated
//! and tampered records), and watches the video and the reconnects.

use std::sync::Arc;
use std::time::Duration;

use camproof_net::{Clock, Net};
use camproof_protocol::cdp::frame::{encode_frame, Frame, FrameDecoder, FrameType, MAX_FRAME_LEN};
use camproof_protocol::cdp::messages::ResumeAccept;
use camproof_protocol::cdp::{
    resumption_mac, AlertCode, AppMessage, CdpError, CommandKind, Event, ServerConfig,
    ServerConnection, ServerContext,
};
use camproof_protocol::pki::ServerCredentials;
use camproof_protocol::video::{FrameOpener, PairingSecret, VideoHeader};
use camproof_protocol::Timestamp;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Gateway, Harness, ACCEPT_TIMEOUT, GATEWAY_NAME, HANDSHAKE_TIMEOUT, REACT_TIMEOUT};
use crate::checks::{check_record_nonces, NonceReport};
use crate::outcome::{hex_prefix, Finding, Verdicted};
use crate::profiles::REVOKED_SERVER_INDEX;

/// A platform certificate the DUT must refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BadCert {
    Expired,
    WrongSignature,
    Revoked,
}

/// A record the DUT must refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BadRecord {
    Replayed,
    Reordered,
    Truncated,
    Tampered,
    /// From the next key epoch, sealed under its correctly derived key, without the
    /// KeyUpdate that moves there: only the epoch check can refuse it.
    FutureEpoch,
}

/// One platform-side connection with a tap on the raw frames the DUT sends.
pub(super) struct Platform<S> {
    stream: S,
    conn: ServerConnection,
    tap: FrameDecoder,
    tap_ok: bool,
    /// Frames the DUT sent, in order.
    pub frames: Vec<Frame>,
    /// Application messages the DUT sent (decoded).
    pub messages: Vec<AppMessage>,
    /// `Some(resumed)` once the handshake finished.
    pub connected: Option<bool>,
    /// Why our side of the connection failed, if it did.
    pub error: Option<CdpError>,
    /// The DUT closed the stream.
    pub eof: bool,
    /// Seconds our clock is shifted by for this connection.
    offset_secs: i64,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Platform<S> {
    fn new(
        stream: S,
        config: Arc<ServerConfig>,
        rng: &mut rand_chacha::ChaCha8Rng,
        offset_secs: i64,
    ) -> Self {
        Platform {
            stream,
            conn: ServerConnection::new(config, rng),
            tap: FrameDecoder::new(MAX_FRAME_LEN),
            tap_ok: true,
            frames: Vec::new(),
            messages: Vec::new(),
            connected: None,
            error: None,
            eof: false,
            offset_secs,
        }
    }

    fn shifted(&self, now: Timestamp) -> Timestamp {
        let us = now
            .as_micros()
            .saturating_add_signed(self.offset_secs.saturating_mul(1_000_000));
        Timestamp::from_micros(us)
    }

    async fn flush(&mut self) {
        let mut out = Vec::new();
        self.conn.poll_transmit(&mut out);
        if !out.is_empty() {
            let _ = self.stream.write_all(&out).await;
        }
    }

    /// Writes bytes as they are (for records the harness broke on purpose).
    async fn write_raw(&mut self, bytes: &[u8]) {
        self.flush().await;
        let _ = self.stream.write_all(bytes).await;
    }

    /// Seals `msg` as the next record and returns the bytes instead of sending them.
    async fn seal_raw(&mut self, msg: &AppMessage) -> Vec<u8> {
        self.flush().await;
        let _ = self.conn.send(&msg.encode());
        let mut out = Vec::new();
        self.conn.poll_transmit(&mut out);
        out
    }

    async fn send(&mut self, msg: &AppMessage) {
        let _ = self.conn.send(&msg.encode());
        self.flush().await;
    }

    /// Reads once (at most `wait`) and feeds the tap only; returns what was read.
    async fn read_tap(&mut self, wait: Duration) -> Option<Vec<u8>> {
        if self.eof {
            return None;
        }
        let mut buf = vec![0u8; 32 * 1024];
        let n = match tokio::time::timeout(wait, self.stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => {
                self.eof = true;
                if self.error.is_none() {
                    let _ = self.conn.handle_eof();
                }
                return None;
            }
            Ok(Ok(n)) => n,
        };
        buf.truncate(n);
        if self.tap_ok {
            self.tap.push(&buf);
            loop {
                match self.tap.next_frame() {
                    Ok(Some(f)) => self.frames.push(f),
                    Ok(None) => break,
                    Err(_) => {
                        self.tap_ok = false;
                        break;
                    }
                }
            }
        }
        Some(buf)
    }

    /// Reads once (at most `wait`) and feeds the tap and the connection.
    async fn pump<C: Clock>(&mut self, ctx: &mut ServerContext, clock: &C, wait: Duration) {
        self.flush().await;
        if let Some(data) = self.read_tap(wait).await {
            let now = self.shifted(clock.now());
            self.feed(ctx, now, &data);
        }
        self.flush().await;
    }

    /// Feeds bytes the tap has seen to the connection and collects its events.
    fn feed(&mut self, ctx: &mut ServerContext, now: Timestamp, data: &[u8]) {
        if self.error.is_none() {
            if let Err(e) = self.conn.handle_bytes(now, data, ctx) {
                self.error = Some(e);
            }
        }
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::Connected { resumed, .. } => self.connected = Some(resumed),
                Event::Data(bytes) => {
                    if let Ok(m) = AppMessage::decode(&bytes) {
                        self.messages.push(m);
                    }
                }
                _ => {}
            }
        }
    }

    /// Pumps until `done` holds, the stream ends, or `within` passes.
    async fn until<C: Clock>(
        &mut self,
        ctx: &mut ServerContext,
        clock: &C,
        within: Duration,
        done: impl Fn(&Self) -> bool,
    ) -> bool {
        let deadline = clock.now().saturating_add(within);
        loop {
            if done(self) {
                return true;
            }
            let now = clock.now();
            if self.eof || now >= deadline {
                return false;
            }
            let left = deadline.saturating_since(now);
            self.pump(ctx, clock, left).await;
        }
    }

    /// The alert the DUT sent, if any.
    fn dut_alert(&self) -> Option<AlertCode> {
        self.frames
            .iter()
            .find(|f| f.kind == FrameType::Alert)
            .and_then(|f| f.body.first().map(|b| AlertCode::from_byte(*b)))
    }

    /// Whether the DUT ended the connection (alert or close).
    fn ended(&self) -> bool {
        self.eof || self.dut_alert().is_some()
    }

    fn sent(&self, kind: FrameType) -> bool {
        self.frames.iter().any(|f| f.kind == kind)
    }

    fn records(&self) -> usize {
        self.frames
            .iter()
            .filter(|f| f.kind == FrameType::Record)
            .count()
    }

    fn results_for(&self, id: u32) -> usize {
        self.messages
            .iter()
            .filter(|m| matches!(m, AppMessage::CommandResult { id: i, .. } if *i == id))
            .count()
    }

    fn video_frames(&self) -> Vec<Vec<u8>> {
        self.messages
            .iter()
            .filter_map(|m| match m {
                AppMessage::Video(v) => Some(v.clone()),
                _ => None,
            })
            .collect()
    }

    /// Closes our side cleanly.
    async fn close(mut self) {
        self.conn.close();
        self.flush().await;
        let _ = self.stream.shutdown().await;
    }

    /// One line on how the connection ended, for evidence.
    fn describe_end(&self) -> String {
        let alert = self
            .dut_alert()
            .map(|a| format!("DUT sent alert {a:?}"))
            .unwrap_or_else(|| "no alert from the DUT".into());
        let ours = self
            .error
            .as_ref()
            .map(|e| format!("; harness side: {e}"))
            .unwrap_or_default();
        let eof = if self.eof {
            "; DUT closed the stream"
        } else {
            ""
        };
        format!("{alert}{eof}{ours}")
    }
}

/// `ticket_id` of a ResumeHello body.
fn ticket_id(f: &Frame) -> Option<String> {
    (f.kind == FrameType::ResumeHello)
        .then(|| f.body.get(2..18).map(hex::encode))
        .flatten()
}

impl<N: Net, C: Clock + Unpin> Harness<N, C> {
    /// Accepts the DUT's next connection on `gw` and handshakes with `config`.
    async fn session(
        &mut self,
        gw: Gateway,
        config: Arc<ServerConfig>,
        offset_secs: i64,
    ) -> Result<Platform<crate::capture::Recorded<N::Stream, C>>, String> {
        let (stream, _peer) = self.accept(gw, ACCEPT_TIMEOUT).await?;
        let mut p = Platform::new(stream, config, &mut self.rng, offset_secs);
        let clock = self.setup.clock.clone();
        let ctx = match gw {
            Gateway::Primary => &mut self.ctx_primary,
            Gateway::Fallback => &mut self.ctx_fallback,
        };
        p.until(ctx, &clock, HANDSHAKE_TIMEOUT, |p| {
            p.connected.is_some() || p.ended() || p.error.is_some()
        })
        .await;
        Ok(p)
    }

    fn ctx(&mut self, gw: Gateway) -> &mut ServerContext {
        match gw {
            Gateway::Primary => &mut self.ctx_primary,
            Gateway::Fallback => &mut self.ctx_fallback,
        }
    }

    /// An established session on the active gateway, or why there is none.
    async fn established(
        &mut self,
        config: Arc<ServerConfig>,
        f: &mut Finding,
    ) -> Result<Platform<crate::capture::Recorded<N::Stream, C>>, String> {
        let gw = self.active;
        let p = self.session(gw, config, 0).await?;
        if p.connected.is_some() {
            return Ok(p);
        }
        f.note("handshake", p.describe_end());
        Err(format!(
            "no session could be established with the DUT ({})",
            p.describe_end()
        ))
    }

    pub(super) async fn cloud_handshake(&mut self) -> Verdicted {
        let mut f = Finding::new();
        let cfg = self.server_config(false);
        let mut p = match self.session(Gateway::Primary, cfg, 0).await {
            Ok(p) => p,
            Err(e) => return f.error(e),
        };
        let Some(first) = p.frames.first() else {
            return f.fail(
                "the DUT connected but sent no handshake",
                "send a ClientHello (CDP-HS-01) right after connecting",
            );
        };
        f.note(
            "first frame",
            format!("{:?}, {} bytes", first.kind, first.body.len()),
        );
        if first.kind == FrameType::ClientHello {
            let version = first
                .body
                .get(..2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .unwrap_or(0);
            let ts = first
                .body
                .get(34..42)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            let now = self.now().as_micros();
            f.note("ClientHello version", version.to_string());
            f.note(
                "ClientHello timestamp - harness clock",
                format!("{:+.3} s", (ts as i128 - now as i128) as f64 / 1e6),
            );
        }
        if p.connected.is_none() {
            f.note("handshake", p.describe_end());
            let why = p
                .error
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_else(|| "the DUT stopped".into());
            return f.fail(
                format!("the handshake did not complete: {why}"),
                "the DUT must present a chain [device, vendor CA] that verifies to the \
                 certification root (CDP-CERT-02) and sign the transcript with its device \
                 key (CDP-HS-09); check the provisioned identity",
            );
        }
        let clock = self.setup.clock.clone();
        let got = p
            .until(
                self.ctx(Gateway::Primary),
                &clock,
                Duration::from_secs(30),
                |p| !p.messages.is_empty() || p.ended(),
            )
            .await;
        let verdict = if got {
            f.note(
                "first application message",
                format!("{:?}", kind_of(&p.messages[0])),
            );
            f.pass("full handshake completed; the DUT sent application data once established")
        } else {
            f.note("session", p.describe_end());
            f.fail(
                "the session was established but the DUT sent no application message",
                "send a Heartbeat (CDP-APP-01) once established",
            )
        };
        p.close().await;
        verdict
    }

    pub(super) async fn cloud_nonce(&mut self) -> Verdicted {
        let mut f = Finding::new();
        let cfg = self.server_config(false);
        let mut p = match self.established(cfg, &mut f).await {
            Ok(p) => p,
            Err(e) => return f.error(e),
        };
        let clock = self.setup.clock.clone();
        let gw = self.active;
        // Keep reading even after our side refused a record: the tap still sees them.
        let deadline = clock.now().saturating_add(Duration::from_secs(15));
        while p.records() < 45 && !p.eof && clock.now() < deadline {
            let left = deadline.saturating_since(clock.now());
            p.pump(self.ctx(gw), &clock, left).await;
        }
        let bodies: Vec<&[u8]> = p
            .frames
            .iter()
            .filter(|fr| fr.kind == FrameType::Record)
            .map(|fr| fr.body.as_slice())
            .collect();
        let verdict = nonce_verdict(check_record_nonces(bodies.iter().copied()), f);
        p.close().await;
        verdict
    }

    pub(super) async fn cloud_cert(&mut self, kind: BadCert) -> Verdicted {
        let mut f = Finding::new();
        let pki = self.setup.pki.clone();
        let creds = match kind {
            BadCert::Expired => pki.server_with_validity(
                GATEWAY_NAME,
                1,
                Timestamp::from_secs(1_577_836_800),
                Timestamp::from_secs(1_609_459_200),
            ),
            BadCert::WrongSignature => {
                let good = pki.server(GATEWAY_NAME, 3);
                let mut cert = good.certificate().clone();
                if let Some(b) = cert.signature.get_mut(10) {
                    *b ^= 0x01;
                }
                ServerCredentials::new(good.key().clone(), cert)
            }
            BadCert::Revoked => pki.server(GATEWAY_NAME, REVOKED_SERVER_INDEX),
        };
        let cert = creds.certificate().clone();
        f.note(
            "certificate presented",
            format!(
                "subject {}, serial {}, valid {} to {} (µs since epoch), issuer {}",
                cert.subject,
                cert.serial,
                cert.not_before.as_micros(),
                cert.not_after.as_micros(),
                cert.issuer
            ),
        );
        match kind {
            BadCert::Expired => f.note("why it is bad", "expired on 2021-01-01"),
            BadCert::WrongSignature => f.note(
                "why it is bad",
                "signature byte 10 flipped: it does not verify under the root",
            ),
            BadCert::Revoked => f.note(
                "why it is bad",
                format!(
                    "serial {} is on the certification revocation list",
                    cert.serial
                ),
            ),
        }
        let mut config = ServerConfig::new(creds);
        config.ticket_lifetime = Duration::ZERO;
        let mut p = match self.session(self.active, Arc::new(config), 0).await {
            Ok(p) => p,
            Err(e) => return f.error(e),
        };
        let clock = self.setup.clock.clone();
        let gw = self.active;
        p.until(self.ctx(gw), &clock, REACT_TIMEOUT, |p| {
            p.sent(FrameType::ClientAuth) || p.ended()
        })
        .await;
        f.note("DUT reaction", p.describe_end());
        let verdict = if p.frames.first().map(|f| f.kind) == Some(FrameType::ResumeHello) {
            f.error("the DUT resumed a session, so no certificate was presented; run again")
        } else if let Some(auth) = p.frames.iter().find(|f| f.kind == FrameType::ClientAuth) {
            f.note("ClientAuth sent", hex_prefix(&auth.body, 24));
            f.fail(
                "the DUT accepted the bad platform certificate and authenticated to it",
                match kind {
                    BadCert::Expired => "check not_before/not_after of the platform certificate against the device clock before sending ClientAuth (CDP-CERT-04, CDP-HS-04)",
                    BadCert::WrongSignature => "verify the platform certificate's signature under the provisioned root before sending ClientAuth (CDP-CERT-03, CDP-HS-04)",
                    BadCert::Revoked => "load the certification revocation list and refuse revoked serials (CDP-CERT-04, CDP-HS-04)",
                },
            )
        } else if p.ended() {
            f.pass(format!("refused: {}", p.describe_end()))
        } else {
            f.fail(
                "the DUT neither refused the certificate nor continued within 3 s",
                "refuse a bad platform certificate at once with a BadCertificate alert (CDP-HS-04)",
            )
        };
        p.close().await;
        verdict
    }

    pub(super) async fn cloud_skew_tolerated(&mut self) -> Verdicted {
        let mut f = Finding::new();
        for offset in [20i64, -20] {
            let cfg = self.server_config(false);
            let p = match self.session(self.active, cfg, offset).await {
                Ok(p) => p,
                Err(e) => return f.error(e),
            };
            let ok = p.connected.is_some();
            f.note(
                format!("platform clock {offset:+} s"),
                if ok {
                    "session established".to_string()
                } else {
                    p.describe_end()
                },
            );
            p.close().await;
            if !ok {
                return f.fail(
                    format!("the DUT refused a platform whose clock is {offset:+} s off"),
                    "accept handshake timestamps within ±30 s (CDP-HS-07); fleets drift 10-20 s, \
                     and the device clock must be kept in sync (NTP)",
                );
            }
        }
        f.pass("sessions established with the platform clock 20 s ahead and 20 s behind")
    }

    pub(super) async fn cloud_stale_hello(&mut self) -> Verdicted {
        let mut f = Finding::new();
        let mut config = ServerConfig::new(self.setup.pki.server(GATEWAY_NAME, 0));
        config.ticket_lifetime = Duration::ZERO;
        // The harness accepts the DUT's hello whatever its time; only the DUT judges.
        config.skew_window = Duration::from_secs(24 * 3600);
        let mut p = match self.session(self.active, Arc::new(config), -60).await {
            Ok(p) => p,
            Err(e) => return f.error(e),
        };
        f.note(
            "ServerHello",
            "correctly signed over this handshake, timestamp 60 s in the past (a replayed hello)",
        );
        let clock = self.setup.clock.clone();
        let gw = self.active;
        p.until(self.ctx(gw), &clock, REACT_TIMEOUT, |p| {
            p.sent(FrameType::ClientAuth) || p.ended()
        })
        .await;
        f.note("DUT reaction", p.describe_end());
        let verdict = if p.sent(FrameType::ClientAuth) {
            f.fail(
                "the DUT accepted a ServerHello 60 s outside the skew window",
                "compare the ServerHello timestamp with the device clock and refuse more than \
                 the window (±30 s) with a ClockSkew alert (CDP-HS-07)",
            )
        } else if p.ended() {
            f.pass(format!("refused: {}", p.describe_end()))
        } else {
            f.fail(
                "the DUT neither refused nor continued within 3 s",
                "refuse a stale ServerHello at once (CDP-HS-07)",
            )
        };
        p.close().await;
        verdict
    }

    pub(super) async fn cloud_bad_record(&mut self, kind: BadRecord) -> Verdicted {
        let mut f = Finding::new();
        let cfg = self.server_config(false);
        let mut p = match self.established(cfg, &mut f).await {
            Ok(p) => p,
            Err(e) => return f.error(e),
        };
        let clock = self.setup.clock.clone();
        let gw = self.active;
        let cmd = |id: u32| AppMessage::Command {
            id,
            kind: CommandKind::Snapshot,
            body: Vec::new(),
        };
        p.send(&cmd(1)).await;
        if !p
            .until(self.ctx(gw), &clock, Duration::from_secs(5), |p| {
                p.results_for(1) > 0 || p.ended()
            })
            .await
        {
            f.note("session", p.describe_end());
            p.close().await;
            return f.error("the DUT did not answer a Command; record cases need CommandResult");
        }
        let (bad, watched_id) = match kind {
            BadRecord::Replayed => {
                let r = p.seal_raw(&cmd(2)).await;
                p.write_raw(&r).await;
                p.until(self.ctx(gw), &clock, Duration::from_secs(5), |p| {
                    p.results_for(2) > 0 || p.ended()
                })
                .await;
                f.note("original record (command 2)", "answered once");
                (r, 2)
            }
            BadRecord::Reordered => {
                let a = p.seal_raw(&cmd(3)).await;
                let b = p.seal_raw(&cmd(4)).await;
                f.note(
                    "record sent first",
                    format!("seq+1 (command 4): {}", hex_prefix(&b, 24)),
                );
                p.write_raw(&b).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                p.write_raw(&a).await;
                (b, 4)
            }
            BadRecord::Truncated => {
                let mut r = vec![0, 0, 0, 21, FrameType::Record.to_byte()];
                r.extend_from_slice(&[0; 4]);
                r.extend_from_slice(&2u64.to_be_bytes());
                r.extend_from_slice(&[0xA5; 8]);
                (r, 0)
            }
            BadRecord::Tampered => {
                let mut r = p.seal_raw(&cmd(5)).await;
                if let Some(b) = r.get_mut(5 + 12) {
                    *b ^= 0x01;
                }
                f.note("change", "bit 0 of the first ciphertext byte flipped");
                (r, 5)
            }
            BadRecord::FutureEpoch => {
                p.flush().await;
                if let Err(e) = p.conn.rekey_unannounced() {
                    p.close().await;
                    return f.error(format!("could not move to the next epoch: {e}"));
                }
                let r = p.seal_raw(&cmd(6)).await;
                let header = |at: usize, len: usize| {
                    r.get(at..at + len)
                        .map(|b| b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
                        .unwrap_or(0)
                };
                f.note(
                    "change",
                    format!(
                        "the harness moved to the next epoch's keys without a KeyUpdate \
                         record: epoch {} seq {} (command 6), sealed under that epoch's key",
                        header(5, 4),
                        header(9, 8)
                    ),
                );
                (r, 6)
            }
        };
        let before_records = p.records();
        let before_results = if watched_id == 0 {
            0
        } else {
            p.results_for(watched_id)
        };
        if kind != BadRecord::Reordered {
            p.write_raw(&bad).await;
        }
        f.note("bad record", hex_prefix(&bad, 48));
        p.until(self.ctx(gw), &clock, REACT_TIMEOUT, |p| p.ended())
            .await;
        // Let a lenient DUT show what it does with the session afterwards.
        if !p.ended() {
            p.until(self.ctx(gw), &clock, Duration::from_millis(500), |_| false)
                .await;
        }
        let after_records = p.records().saturating_sub(before_records);
        let executed = if watched_id == 0 {
            0
        } else {
            p.results_for(watched_id).saturating_sub(before_results)
        };
        f.note("DUT reaction", p.describe_end());
        f.note("records the DUT sent afterwards", after_records.to_string());
        let (what, req) = match kind {
            BadRecord::Replayed => ("a replayed record", "CDP-REC-02: refuse (epoch, seq) below the next expected one before decrypting"),
            BadRecord::Reordered => ("a reordered record", "CDP-REC-03: refuse (epoch, seq) above the next expected one; nothing may be skipped"),
            BadRecord::Truncated => ("a truncated record", "CDP-REC-04: refuse a record shorter than header plus tag"),
            BadRecord::Tampered => ("a tampered record", "CDP-REC-05: refuse a record whose tag does not verify"),
            BadRecord::FutureEpoch => ("a record from a future key epoch", "CDP-REC-03, CDP-REC-06: refuse a record whose epoch is above the current one; only the peer's KeyUpdate record moves the receiver to the next epoch"),
        };
        let verdict = if executed > 0 {
            f.note(
                "command executed by the bad record",
                format!("id {watched_id}, {executed} more CommandResult"),
            );
            f.fail(
                format!("the DUT executed {what}"),
                format!("{req}, then end the connection with a BadRecord alert"),
            )
        } else if p.ended() {
            f.pass(format!("refused {what}: {}", p.describe_end()))
        } else {
            f.fail(
                format!("the DUT kept the session open after {what}"),
                format!("{req}; every record error is fatal: send a BadRecord alert and close"),
            )
        };
        p.close().await;
        verdict
    }

    pub(super) async fn cloud_rekey(&mut self) -> Verdicted {
        let mut f = Finding::new();
        let mut config = ServerConfig::new(self.setup.pki.server(GATEWAY_NAME, 0));
        config.ticket_lifetime = Duration::ZERO;
        config.rekey_after = 4;
        let mut p = match self.established(Arc::new(config), &mut f).await {
            Ok(p) => p,
            Err(e) => return f.error(e),
        };
        let clock = self.setup.clock.clone();
        let gw = self.active;
        for id in 100..110u32 {
            p.send(&AppMessage::Command {
                id,
                kind: CommandKind::Config,
                body: Vec::new(),
            })
            .await;
        }
        let answered = p
            .until(self.ctx(gw), &clock, Duration::from_secs(5), |p| {
                (100..110).all(|id| p.results_for(id) > 0) || p.ended()
            })
            .await;
        f.note(
            "platform key updates",
            "the harness rekeyed every 4 records; 10 commands spanned epochs 0 to 2",
        );
        if !answered {
            let n = (100..110).filter(|id| p.results_for(*id) > 0).count();
            f.note(
                "commands answered",
                format!("{n} of 10; {}", p.describe_end()),
            );
            p.close().await;
            return f.fail(
                "the DUT did not follow the platform's key updates",
                "after a KeyUpdate record move the receiving direction to the next epoch \
                 (CDP-REC-06)",
            );
        }
        let declared = self.setup.description.rekey_after_records;
        if declared > 5_000 {
            p.close().await;
            f.note(
                "own key updates",
                format!("not observed: declared after {declared} records"),
            );
            return f.pass(
                "followed the platform's key updates (own rekey interval too long to observe)",
            );
        }
        let budget = declared as usize + 12;
        let deadline = clock.now().saturating_add(Duration::from_secs(60));
        let epoch_of = |fr: &Frame| {
            fr.body
                .get(..4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        let rekeyed = |p: &Platform<_>| {
            p.frames
                .iter()
                .filter(|fr| fr.kind == FrameType::Record)
                .any(|fr| epoch_of(fr).unwrap_or(0) > 0)
        };
        while !rekeyed(&p) && p.records() < budget && !p.eof && clock.now() < deadline {
            let left = deadline.saturating_since(clock.now());
            p.pump(self.ctx(gw), &clock, left).await;
        }
        let records: Vec<(u32, u64)> = p
            .frames
            .iter()
            .filter(|fr| fr.kind == FrameType::Record)
            .filter_map(|fr| {
                let e = epoch_of(fr)?;
                let s = u64::from_be_bytes(fr.body.get(4..12)?.try_into().ok()?);
                Some((e, s))
            })
            .collect();
        let first_new = records.iter().position(|(e, _)| *e > 0);
        f.note("DUT records observed", records.len().to_string());
        let verdict = match first_new {
            Some(i) if i <= declared as usize + 2 => {
                f.note("first record of epoch 1", format!("record #{}", i + 1));
                f.pass(format!(
                    "followed the platform's key updates and rekeyed after {declared} records"
                ))
            }
            Some(i) => {
                f.note("first record of epoch 1", format!("record #{}", i + 1));
                f.fail(
                    format!(
                        "the DUT rekeyed late: record #{} instead of #{}",
                        i + 1,
                        declared + 2
                    ),
                    "send a KeyUpdate after `rekey_after` records in an epoch (CDP-REC-06)",
                )
            }
            None => {
                if let Some((e, s)) = records.last() {
                    f.note("last record", format!("epoch {e} seq {s}"));
                }
                f.fail(
                    format!(
                        "no key update after {} records; the DUT declares one every {declared}",
                        records.len()
                    ),
                    "send a KeyUpdate record after `rekey_after` records and move to the next \
                     epoch (CDP-REC-06); a key must not protect unbounded data",
                )
            }
        };
        p.close().await;
        verdict
    }

    /// Two streaming sessions' video frames, collected once.
    async fn video_sample(&mut self, f: &mut Finding) -> Result<Vec<Vec<Vec<u8>>>, String> {
        if let Some(v) = &self.video {
            return Ok(v.clone());
        }
        let need = (self.setup.description.keyframe_interval as usize * 2 + 2).max(12);
        let mut sessions = Vec::new();
        for want in [need, 8] {
            let cfg = self.server_config(false);
            let mut p = self.established(cfg, f).await?;
            let clock = self.setup.clock.clone();
            let gw = self.active;
            p.until(self.ctx(gw), &clock, Duration::from_secs(30), |p| {
                p.video_frames().len() >= want || p.ended()
            })
            .await;
            sessions.push(p.video_frames());
            p.close().await;
        }
        self.video = Some(sessions.clone());
        Ok(sessions)
    }

    pub(super) async fn video_e2e(&mut self) -> Verdicted {
        let mut f = Finding::new();
        let sessions = match self.video_sample(&mut f).await {
            Ok(s) => s,
            Err(e) => return f.error(e),
        };
        let frames: Vec<&Vec<u8>> = sessions.iter().flatten().collect();
        if frames.len() < 5 {
            return f.error(format!(
                "only {} video frames arrived in 30 s",
                frames.len()
            ));
        }
        f.note("frames examined", frames.len().to_string());
        let serial = crate::profiles::SIM_SERIAL.as_bytes();
        let weak: [(&str, [u8; 32]); 4] = [
            ("all-zero pairing secret", [0; 32]),
            ("all-0xFF pairing secret", [0xff; 32]),
            ("SHA-256 of the empty string", Sha256::digest(b"").into()),
            (
                "SHA-256 of the serial number",
                Sha256::digest(serial).into(),
            ),
        ];
        let mut zero_heavy = 0usize;
        for frame in &frames {
            let (hdr, ct) = match VideoHeader::parse(frame) {
                Ok(x) => x,
                Err(e) => {
                    f.note("frame", hex_prefix(frame, 40));
                    return f.fail(
                        format!("a video frame does not parse: {e}"),
                        "send frames laid out as VID-HDR-01 (33-byte header, big-endian)",
                    );
                }
            };
            if ct.len() >= 64 && ct.iter().filter(|b| **b == 0).count() * 2 > ct.len() {
                zero_heavy += 1;
            }
            for (name, secret) in &weak {
                let mut opener = FrameOpener::new(
                    &PairingSecret::from_bytes(*secret),
                    hdr.stream_id,
                    hdr.epoch,
                );
                if opener.open(frame).is_ok() {
                    f.note(
                        "frame opened by the relay",
                        format!(
                            "stream {} epoch {} seq {} with the {name}",
                            hdr.stream_id, hdr.epoch, hdr.seq
                        ),
                    );
                    return f.fail(
                        format!("the relay decrypted a video frame with the {name}"),
                        "derive frame keys from a random 32-byte pairing secret agreed with the \
                         viewer, never a constant or a public value (VID-E2E-01, VID-KEY-02)",
                    );
                }
            }
        }
        if zero_heavy > 0 {
            return f.fail(
                format!(
                    "{zero_heavy} frames carry mostly zero bytes: the payload looks unencrypted"
                ),
                "seal every payload with AES-256-GCM (VID-AEAD-01)",
            );
        }
        f.pass("every frame parses with its header readable by the relay, and no weak secret opens any")
    }

    pub(super) async fn video_seq(&mut self) -> Verdicted {
        let mut f = Finding::new();
        let sessions = match self.video_sample(&mut f).await {
            Ok(s) => s,
            Err(e) => return f.error(e),
        };
        let mut epochs = Vec::new();
        for (i, frames) in sessions.iter().enumerate() {
            let hdrs: Vec<VideoHeader> = frames
                .iter()
                .filter_map(|fr| VideoHeader::parse(fr).ok().map(|(h, _)| h))
                .collect();
            let Some(first) = hdrs.first() else {
                return f.error(format!("session {} carried no video", i + 1));
            };
            f.note(
                format!("session {}", i + 1),
                format!(
                    "stream {} epoch {}, seq {}..{}",
                    first.stream_id,
                    first.epoch,
                    first.seq,
                    hdrs.last().map(|h| h.seq).unwrap_or(0)
                ),
            );
            for w in hdrs.windows(2) {
                if w[1].epoch == w[0].epoch && w[1].seq != w[0].seq.wrapping_add(1) {
                    return f.fail(
                        format!("session {}: seq {} followed by {}", i + 1, w[0].seq, w[1].seq),
                        "number frames 0, 1, 2, ... within an epoch, never reusing a number (VID-SEQ-01)",
                    );
                }
            }
            epochs.push((first.stream_id, first.epoch, first.seq));
        }
        if let [(s1, e1, _), (s2, e2, q2), ..] = epochs[..] {
            if s1 == s2 && e2 <= e1 {
                f.note(
                    "nonce reused",
                    format!("stream {s2} epoch {e2} seq {q2} sealed again in a new session"),
                );
                return f.fail(
                    format!("the second session reuses key epoch {e2} (first was {e1}) and restarts its sequence"),
                    "pick a strictly greater epoch for every streaming session, e.g. a persistent \
                     boot or session counter (VID-KEY-03): same epoch and seq means the same \
                     AES-GCM key and nonce",
                );
            }
        }
        f.pass("sequence numbers consecutive; each session uses a new, greater epoch")
    }

    pub(super) async fn video_keyframes(&mut self) -> Verdicted {
        let mut f = Finding::new();
        let sessions = match self.video_sample(&mut f).await {
            Ok(s) => s,
            Err(e) => return f.error(e),
        };
        let interval = self.setup.description.keyframe_interval as usize;
        for (i, frames) in sessions.iter().enumerate() {
            let flags: Vec<bool> = frames
                .iter()
                .filter_map(|fr| VideoHeader::parse(fr).ok().map(|(h, _)| h.keyframe))
                .collect();
            let Some(&first) = flags.first() else {
                return f.error(format!("session {} carried no video", i + 1));
            };
            let keyframes = flags.iter().filter(|k| **k).count();
            f.note(
                format!("session {}", i + 1),
                format!("{} frames, {keyframes} keyframes", flags.len()),
            );
            if !first {
                return f.fail(
                    format!(
                        "session {} starts with a frame not flagged as keyframe",
                        i + 1
                    ),
                    "start every session with a keyframe and set flag bit 0 on it (VID-HDR-03): a \
                     relay fans out from keyframes",
                );
            }
            let mut gap = 0usize;
            for k in &flags {
                gap = if *k { 0 } else { gap + 1 };
                if gap >= interval {
                    return f.fail(
                        format!("{gap} frames without a keyframe; the DUT declares at most {interval}"),
                        "send a keyframe at least every `keyframe_interval` frames, flagged in the header",
                    );
                }
            }
        }
        f.pass(format!(
            "sessions start with a keyframe and keyframes recur within {interval} frames"
        ))
    }

    pub(super) async fn backoff(&mut self) -> Verdicted {
        let mut f = Finding::new();
        let gw = self.active;
        let mut times = Vec::new();
        // Four refusals, three measured delays: with exponential backoff they are
        // bounded by 2, 4 and 8 s after an established session; more would cost a
        // real device minutes.
        for _ in 0..4 {
            match self.accept(gw, ACCEPT_TIMEOUT).await {
                Ok((stream, _)) => {
                    times.push(self.now());
                    drop(stream);
                }
                Err(e) => return f.error(e),
            }
        }
        let delays: Vec<Duration> = times
            .windows(2)
            .map(|w| w[1].saturating_since(w[0]))
            .collect();
        f.note(
            "delays between refused attempts",
            delays
                .iter()
                .map(|d| format!("{:.3} s", d.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(", "),
        );
        // Let the DUT back in, so its backoff resets for what follows.
        let cfg = self.server_config(false);
        if let Ok(p) = self.session(gw, cfg, 0).await {
            p.close().await;
        }
        let total: Duration = delays.iter().sum();
        let spread = delays
            .iter()
            .max()
            .zip(delays.iter().min())
            .map(|(a, b)| a.saturating_sub(*b))
            .unwrap_or_default();
        if total < Duration::from_secs(1) {
            f.fail(
                format!("3 retries within {:.3} s: no backoff", total.as_secs_f64()),
                "after a failed connection wait a random delay up to min(60 s, 1 s × 2^attempt) \
                 (exponential backoff with full jitter): 10,000 cameras retrying at a fixed short \
                 interval keep a recovering platform down",
            )
        } else if spread < Duration::from_millis(20) {
            f.fail(
                "the retry delays are all the same: no jitter",
                "randomise each delay (full jitter) so that a fleet does not reconnect in lockstep",
            )
        } else {
            f.pass(format!(
                "retries spread over {:.3} s with growing, jittered delays",
                total.as_secs_f64()
            ))
        }
    }

    pub(super) async fn fallback(&mut self) -> Verdicted {
        let mut f = Finding::new();
        let cfg = self.server_config(true);
        let mut p = match self.established(cfg, &mut f).await {
            Ok(p) => p,
            Err(e) => return f.error(e),
        };
        let fallback = self.setup.fallback_advertised.clone();
        p.send(&AppMessage::Assign {
            relay: self.setup.listen.clone(),
            fallbacks: vec![fallback.clone()],
        })
        .await;
        f.note("Assign sent", format!("fallbacks [{fallback}]"));
        let clock = self.setup.clock.clone();
        p.until(
            self.ctx(Gateway::Primary),
            &clock,
            Duration::from_millis(500),
            |_| false,
        )
        .await;
        p.close().await;
        // The zone fails: nothing listens on the primary endpoint any more.
        self.primary = None;
        f.note("primary endpoint", "stopped listening (zone failure)");
        match self.accept(Gateway::Fallback, ACCEPT_TIMEOUT).await {
            Ok((stream, peer)) => {
                self.active = Gateway::Fallback;
                f.note("DUT reached the fallback from", peer.to_string());
                self.pending_fallback = Some((stream, peer));
                f.pass(format!("the DUT moved to the fallback endpoint {fallback}"))
            }
            Err(e) => {
                self.active = Gateway::Fallback;
                f.fail(
                    format!("the DUT never reached the fallback endpoint: {e}"),
                    "keep the fallback endpoints of the platform's Assign message and try them \
                     when the current endpoint fails",
                )
            }
        }
    }

    pub(super) async fn stale_after_failover(&mut self) -> Verdicted {
        let mut f = Finding::new();
        if self.pending_fallback.is_none() && self.active == Gateway::Primary {
            // Run on its own (`--test`): fail over first.
            let moved = self.fallback().await;
            if moved.verdict != crate::outcome::Verdict::Pass {
                return f.error(format!("could not fail the DUT over: {}", moved.summary));
            }
        }
        let cfg = self.server_config(true);
        let clock = self.setup.clock.clone();
        let first = match self.pending_fallback.take() {
            Some((stream, _)) => stream,
            None => match self.accept(Gateway::Fallback, ACCEPT_TIMEOUT).await {
                Ok((s, _)) => s,
                Err(e) => return f.error(e),
            },
        };
        let mut p = Platform::new(first, cfg.clone(), &mut self.rng, 0);
        p.until(&mut self.ctx_fallback, &clock, HANDSHAKE_TIMEOUT, |p| {
            p.connected.is_some() || p.ended() || p.error.is_some()
        })
        .await;
        let refused = p.frames.first().and_then(ticket_id);
        if let Some(t) = &refused {
            f.note(
                "first hello at the new region",
                format!("ResumeHello with ticket {t}, refused: this region never issued it"),
            );
        } else {
            f.note(
                "first hello at the new region",
                "ClientHello (full handshake)",
            );
        }
        let ok_first = p.connected.is_some();
        p.close().await;
        let Some(refused) = refused else {
            return if ok_first {
                f.pass("after failover the DUT did a full handshake")
            } else {
                f.fail(
                    "the DUT could not establish a session at the fallback region",
                    "after failover start a fresh full handshake",
                )
            };
        };
        let p = match self.session(Gateway::Fallback, cfg, 0).await {
            Ok(p) => p,
            Err(e) => return f.error(e),
        };
        let again = p.frames.first().and_then(ticket_id);
        let verdict = match again {
            Some(t) if t == refused => {
                f.note(
                    "next hello",
                    format!("ResumeHello with the refused ticket {t} again"),
                );
                f.fail(
                    "the DUT presented a ticket that was refused: it keeps a stale session",
                    "a ticket is spent once presented (CDP-RES-02): drop it whatever the answer \
                     and fall back to a full handshake",
                )
            }
            Some(t) => {
                f.note("next hello", format!("ResumeHello with ticket {t}"));
                f.fail(
                    "the DUT resumed with a ticket this region never issued",
                    "after a refused resumption, do a full handshake",
                )
            }
            None if p.connected.is_some() => {
                f.note("next hello", "ClientHello, session established");
                f.pass("after the refused resumption the DUT dropped its ticket and did a full handshake")
            }
            None => {
                f.note("next hello", p.describe_end());
                f.fail(
                    "the DUT's full handshake at the new region did not complete",
                    "after failover a full handshake must succeed",
                )
            }
        };
        p.close().await;
        verdict
    }

    pub(super) async fn resumption(&mut self) -> Verdicted {
        let mut f = Finding::new();
        let cfg = self.server_config(true);
        let gw = self.active;
        let mut seen: Vec<String> = Vec::new();
        let mut resumed_with = Vec::new();
        for round in 0..3 {
            let p = match self.session(gw, cfg.clone(), 0).await {
                Ok(p) => p,
                Err(e) => return f.error(e),
            };
            let ticket = p.frames.first().and_then(ticket_id);
            let kind = match (&ticket, p.connected) {
                (Some(t), Some(true)) => format!("resumed with ticket {t}"),
                (Some(t), _) => {
                    format!("ResumeHello with ticket {t} refused ({})", p.describe_end())
                }
                (None, Some(_)) => "full handshake".to_string(),
                (None, None) => format!("full handshake failed ({})", p.describe_end()),
            };
            f.note(format!("session {}", round + 1), kind);
            let connected = p.connected.is_some();
            p.close().await;
            if let Some(t) = ticket {
                if seen.contains(&t) {
                    return f.fail(
                        format!("the DUT presented ticket {t} a second time"),
                        "a ticket is single-use (CDP-RES-02): replace it with the new ticket the \
                         resumed session issues, never present a spent one",
                    );
                }
                seen.push(t.clone());
                if connected {
                    resumed_with.push(t);
                }
            }
            if !connected {
                return f.fail(
                    "a session could not be established",
                    "resume with the latest ticket, or fall back to a full handshake",
                );
            }
        }
        if resumed_with.len() < 2 {
            return f.fail(
                "the DUT declares resumption but did full handshakes with a valid ticket in hand",
                "resume with the latest ticket (CDP-RES-01): it saves the platform RSA work",
            );
        }
        f.pass("resumed twice, each time with the newest ticket, never twice the same")
    }

    /// The harness plays a cloud impersonator: it saw the DUT's ResumeHello (so it holds
    /// the ticket id) but never held the ticket's secret, and answers with a
    /// ResumeAccept whose `verify` it made under a secret of its own.
    pub(super) async fn forged_resumption(&mut self) -> Verdicted {
        let mut f = Finding::new();
        let cfg = self.server_config(true);
        let gw = self.active;
        let clock = self.setup.clock.clone();
        // A DUT resumes only with a ticket in hand: when it has none (the case runs
        // alone, or its ticket expired) one full handshake issues it one.
        for attempt in 1..=2 {
            let (stream, _) = match self.accept(gw, ACCEPT_TIMEOUT).await {
                Ok(s) => s,
                Err(e) => return f.error(e),
            };
            let mut p = Platform::new(stream, cfg.clone(), &mut self.rng, 0);
            // Hold what arrives until the first frame says which hello it is: a
            // ResumeHello must never reach the real platform, which would redeem it.
            let mut held = Vec::new();
            let deadline = clock.now().saturating_add(HANDSHAKE_TIMEOUT);
            while p.frames.is_empty() && !p.eof && clock.now() < deadline {
                let left = deadline.saturating_since(clock.now());
                if let Some(data) = p.read_tap(left).await {
                    held.extend_from_slice(&data);
                }
            }
            let Some(hello) = p.frames.first().cloned() else {
                f.note(format!("connection {attempt}"), p.describe_end());
                p.close().await;
                return f.error("the DUT connected but sent no hello");
            };
            let Some(ticket) = ticket_id(&hello) else {
                let now = p.shifted(clock.now());
                p.feed(self.ctx(gw), now, &held);
                p.until(self.ctx(gw), &clock, HANDSHAKE_TIMEOUT, |p| {
                    p.connected.is_some() || p.ended() || p.error.is_some()
                })
                .await;
                let ok = p.connected.is_some();
                f.note(
                    format!("connection {attempt}"),
                    if ok {
                        "ClientHello: full handshake, ticket issued".to_string()
                    } else {
                        p.describe_end()
                    },
                );
                p.close().await;
                if !ok {
                    return f.error("no session could be established to issue a ticket");
                }
                continue;
            };
            f.note(
                format!("connection {attempt}"),
                format!("ResumeHello with ticket {ticket}"),
            );
            let now = p.shifted(clock.now());
            let forged = forged_resume_accept(&hello, now, &mut self.rng);
            f.note(
                "ResumeAccept sent",
                format!(
                    "fresh key share, verify = HMAC-SHA256 under the binder key of an all-zero \
                     secret instead of the ticket's: {}",
                    hex_prefix(&forged, 24)
                ),
            );
            p.write_raw(&forged).await;
            let deadline = clock.now().saturating_add(REACT_TIMEOUT);
            while !p.ended() && p.records() == 0 && clock.now() < deadline {
                let left = deadline.saturating_since(clock.now());
                p.read_tap(left).await;
            }
            f.note("DUT reaction", p.describe_end());
            let records = p.records();
            let verdict = if records > 0 {
                f.note("records the DUT sent", records.to_string());
                f.fail(
                    "the DUT went on with a session whose resumption proof it did not check",
                    "verify the ResumeAccept's `verify` MAC under the ticket's binder key before \
                     anything else, and abort with a BadSignature alert if it does not verify \
                     (CDP-RES-03)",
                )
            } else if p.ended() {
                f.pass(format!(
                    "refused the ResumeAccept made without the ticket's secret: {}",
                    p.describe_end()
                ))
            } else {
                f.fail(
                    "the DUT accepted a ResumeAccept whose proof was made without the ticket's \
                     secret and waited for the session to go on",
                    "the platform proves it holds the ticket's secret with `verify` (CDP-RES-01): \
                     check it in constant time and abort at once with a BadSignature alert \
                     when it does not verify (CDP-RES-03); whoever saw a ResumeHello knows the \
                     ticket id",
                )
            };
            p.close().await;
            return verdict;
        }
        f.error("the DUT did not resume with the ticket it was issued")
    }
}

/// A ResumeAccept answering `hello` as an impersonator can: fresh random and key share,
/// `verify` made under the binder key of an all-zero secret (it never held the
/// ticket's). Returns the whole frame.
fn forged_resume_accept(
    hello: &Frame,
    now: Timestamp,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Vec<u8> {
    use rand_core::RngCore;
    let mut random = [0u8; 32];
    rng.fill_bytes(&mut random);
    let mut key_share = [0u8; 32];
    rng.fill_bytes(&mut key_share);
    let mut accept = ResumeAccept {
        random,
        timestamp: now,
        key_share,
        verify: [0; 32],
    };
    accept.verify = resumption_mac(
        &[0u8; 32],
        &[
            &hello.content(),
            &[FrameType::ResumeAccept.to_byte()],
            &accept.encode_core(),
        ],
    );
    let mut out = Vec::new();
    encode_frame(FrameType::ResumeAccept, &accept.encode(), &mut out);
    out
}

fn kind_of(m: &AppMessage) -> &'static str {
    match m {
        AppMessage::Heartbeat { .. } => "Heartbeat",
        AppMessage::HeartbeatAck { .. } => "HeartbeatAck",
        AppMessage::Video(_) => "Video",
        AppMessage::Assign { .. } => "Assign",
        AppMessage::Command { .. } => "Command",
        AppMessage::CommandResult { .. } => "CommandResult",
        _ => "other",
    }
}

/// The verdict of the nonce check, shared by live and offline runs.
pub(crate) fn nonce_verdict(report: NonceReport, mut f: Finding) -> Verdicted {
    f.note("records examined", report.records.to_string());
    if let Some(dup) = report.duplicate {
        f.note("first record", dup.first);
        f.note("same nonce again", dup.second);
        return f.fail(
            format!(
                "two records sealed with the same nonce (epoch {} seq {})",
                dup.epoch, dup.seq
            ),
            "advance the sequence number after every record (CDP-REC-01): a repeated AES-GCM \
             nonce leaks the XOR of plaintexts and lets anyone forge tags",
        );
    }
    if let Some(gap) = report.gap {
        f.note("sequence", gap.clone());
        return f.fail(
            format!("record sequence numbers are not consecutive: {gap}"),
            "number records 0, 1, 2, ... in each epoch (CDP-REC-01, CDP-REC-06)",
        );
    }
    if report.records < 2 {
        return f.error("fewer than 2 records to compare");
    }
    f.pass(format!(
        "{} records, every (epoch, seq) unique and consecutive",
        report.records
    ))
}
