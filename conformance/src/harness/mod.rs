//! The live harness: plays the platform the DUT connects to and a NETIP client of the
//! DUT's LAN port, runs the catalog's cases in order and records every flow.
//!
//! Generic over [`Net`] and [`Clock`]: the same code runs inside turmoil against a
//! simulated profile (mode 1) and on real sockets against a device, a container or a
//! `camproof camera` process (modes 2 and 3).

pub(crate) mod cloud;
pub(crate) mod netip;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use camproof_net::{Clock, Listener, Net};
use camproof_protocol::cdp::{ServerConfig, ServerContext};
use camproof_protocol::pki::TestPki;
use camproof_protocol::Timestamp;

use crate::capture::{Recorded, SharedCapture};
use crate::catalog::{TestCase, CATALOG};
use crate::dut::DutDescription;
use crate::outcome::{Finding, Outcome, Verdict, Verdicted};

/// Name of the platform identity the harness presents.
pub const GATEWAY_NAME: &str = "gw-cert";

/// Everything the harness needs for one run.
pub struct HarnessSetup<N: Net, C: Clock> {
    /// The network (simulated or real).
    pub net: N,
    /// The clock.
    pub clock: C,
    /// The certification test PKI.
    pub pki: Rc<TestPki>,
    /// What the DUT declares.
    pub description: DutDescription,
    /// The DUT's NETIP administrator password, if known (never reported).
    pub password: Option<String>,
    /// Where the platform listens (the DUT is configured to connect here).
    pub listen: String,
    /// Where the fallback ("other region") endpoint listens.
    pub fallback_listen: String,
    /// The fallback address as the DUT must be told it.
    pub fallback_advertised: String,
    /// The DUT's host (NETIP and debug ports are reached there).
    pub dut_host: String,
    /// IPv4 addresses written into captures for the harness and the DUT.
    pub harness_ip: Ipv4Addr,
    /// See `harness_ip`.
    pub dut_ip: Ipv4Addr,
    /// Seed of every random draw of the harness.
    pub seed: u64,
    /// Run only this case.
    pub only: Option<String>,
    /// Where flows are recorded.
    pub capture: SharedCapture,
}

/// Longest wait for the DUT to (re)connect: its backoff may reach 60 s.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(75);
/// Longest wait for one handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the DUT has to react to a bad record or certificate.
const REACT_TIMEOUT: Duration = Duration::from_secs(3);

/// Which platform endpoint the DUT is expected at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gateway {
    /// The home zone.
    Primary,
    /// The fallback region (after a failover).
    Fallback,
}

/// State shared by the cases of one run.
pub(crate) struct Harness<N: Net, C: Clock> {
    setup: HarnessSetup<N, C>,
    primary: Option<N::Listener>,
    fallback: Option<N::Listener>,
    /// Contexts (nonce cache, tickets) of the two regions.
    ctx_primary: ServerContext,
    ctx_fallback: ServerContext,
    active: Gateway,
    rng: rand_chacha::ChaCha8Rng,
    netip_port_hint: u16,
    /// Video frames seen, per session (filled once, used by the video cases).
    video: Option<Vec<Vec<Vec<u8>>>>,
    /// A connection the fallback case accepted for the stale-session case.
    pending_fallback: Option<(Recorded<N::Stream, C>, SocketAddr)>,
}

/// Runs the certification: every applicable case in catalog order (or only
/// `setup.only`). Binding the platform listeners is the only step that can fail as a
/// whole; every other problem becomes a case's verdict.
pub async fn run<N: Net, C: Clock + Unpin>(
    setup: HarnessSetup<N, C>,
) -> Result<Vec<Outcome>, std::io::Error> {
    use rand_core::SeedableRng;
    let primary = setup.net.bind(&setup.listen).await?;
    let fallback = setup.net.bind(&setup.fallback_listen).await?;
    tracing::info!(
        listen = %setup.listen,
        fallback = %setup.fallback_listen,
        dut = %setup.dut_host,
        "certification harness listening"
    );
    let trust = setup.pki.trust_store();
    let mut h = Harness {
        primary: Some(primary),
        fallback: Some(fallback),
        ctx_primary: ServerContext::new(trust.clone()),
        ctx_fallback: ServerContext::new(trust),
        active: Gateway::Primary,
        rng: rand_chacha::ChaCha8Rng::seed_from_u64(setup.seed),
        netip_port_hint: 40_000,
        video: None,
        pending_fallback: None,
        setup,
    };
    let mut outcomes: Vec<Outcome> = Vec::new();
    for case in CATALOG {
        if let Some(only) = &h.setup.only {
            if !case.id.eq_ignore_ascii_case(only) {
                continue;
            }
        }
        let started = h.setup.clock.now();
        tracing::info!(case = case.id, "case started");
        let verdicted = h.decide(case, &outcomes).await;
        let took = h.setup.clock.now().saturating_since(started);
        // The verdict only: a summary may quote what the device answered.
        tracing::info!(
            case = case.id,
            verdict = verdicted.verdict.as_str(),
            took_ms = took.as_millis(),
            "case ended"
        );
        outcomes.push(verdicted.into_outcome(case.id, took.as_micros() as u64));
    }
    Ok(outcomes)
}

impl<N: Net, C: Clock + Unpin> Harness<N, C> {
    async fn decide(&mut self, case: &TestCase, done: &[Outcome]) -> Verdicted {
        if let Some(reason) = self.setup.description.skip_reason(case.needs) {
            return Finding::new().skip(reason);
        }
        for req in case.requires {
            if let Some(prev) = done.iter().find(|o| o.id == *req) {
                if matches!(
                    prev.verdict,
                    Verdict::Fail | Verdict::Error | Verdict::Blocked
                ) {
                    return Verdicted {
                        verdict: Verdict::Blocked,
                        summary: format!(
                            "not run: prerequisite {req} did not pass ({})",
                            prev.verdict.as_str()
                        ),
                        explanation: format!("fix {req} first; this case needs what it checks"),
                        evidence: Vec::new(),
                    };
                }
            }
        }
        match case.id {
            "CLOUD-HS-01" => self.cloud_handshake().await,
            "CLOUD-NONCE-01" => self.cloud_nonce().await,
            "CLOUD-CERT-01" => self.cloud_cert(cloud::BadCert::Expired).await,
            "CLOUD-CERT-02" => self.cloud_cert(cloud::BadCert::WrongSignature).await,
            "CLOUD-CERT-03" => self.cloud_cert(cloud::BadCert::Revoked).await,
            "CLOUD-SKEW-01" => self.cloud_skew_tolerated().await,
            "CLOUD-SKEW-02" => self.cloud_stale_hello().await,
            "CLOUD-REC-01" => self.cloud_bad_record(cloud::BadRecord::Replayed).await,
            "CLOUD-REC-02" => self.cloud_bad_record(cloud::BadRecord::Reordered).await,
            "CLOUD-REC-03" => self.cloud_bad_record(cloud::BadRecord::Truncated).await,
            "CLOUD-REC-04" => self.cloud_bad_record(cloud::BadRecord::Tampered).await,
            "CLOUD-REC-05" => self.cloud_bad_record(cloud::BadRecord::FutureEpoch).await,
            "CLOUD-REKEY-01" => self.cloud_rekey().await,
            "VIDEO-E2E-01" => self.video_e2e().await,
            "VIDEO-SEQ-01" => self.video_seq().await,
            "VIDEO-KEY-01" => self.video_keyframes().await,
            "RES-BACKOFF-01" => self.backoff().await,
            "RES-FALLBACK-01" => self.fallback().await,
            "RES-STALE-01" => self.stale_after_failover().await,
            "CLOUD-RES-01" => self.resumption().await,
            "CLOUD-RES-02" => self.forged_resumption().await,
            "OTA-UNSIGNED-01" => self.ota(netip::BadImage::Unsigned).await,
            "OTA-TAMPER-01" => self.ota(netip::BadImage::Tampered).await,
            "OTA-MODEL-01" => self.ota(netip::BadImage::WrongModel).await,
            "OTA-DOWNGRADE-01" => self.ota(netip::BadImage::Downgrade).await,
            "OTA-INTERRUPT-01" => self.ota_interrupted().await,
            "NETIP-AUTH-01" => self.netip_default_passwords().await,
            "NETIP-AUTH-02" => self.netip_hidden_accounts().await,
            "NETIP-PLAIN-01" => self.netip_plaintext_login().await,
            "NETIP-PRE-01" => self.netip_before_login().await,
            "HYG-WIRE-01" => self.hygiene().await,
            "NETIP-LOCK-01" => self.netip_lockout().await,
            "NETIP-LEN-01" => self.netip_length().await,
            "NETIP-DEBUG-01" => self.debug_ports().await,
            other => Finding::new().error(format!("no live implementation of {other}")),
        }
    }

    fn now(&self) -> Timestamp {
        self.setup.clock.now()
    }

    /// The platform configuration: the harness's valid identity, tickets that expire at
    /// once (so the DUT does a full handshake, and so sees our certificate, every time)
    /// unless `tickets` is set.
    fn server_config(&self, tickets: bool) -> Arc<ServerConfig> {
        let mut c = ServerConfig::new(self.setup.pki.server(GATEWAY_NAME, 0));
        if !tickets {
            c.ticket_lifetime = Duration::ZERO;
        }
        Arc::new(c)
    }

    fn harness_addr(&self, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(self.setup.harness_ip, port)
    }

    fn listen_port(&self, gw: Gateway) -> u16 {
        let addr = match gw {
            Gateway::Primary => &self.setup.listen,
            Gateway::Fallback => &self.setup.fallback_listen,
        };
        addr.rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// Waits for the DUT's next connection to gateway `gw`.
    async fn accept(
        &mut self,
        gw: Gateway,
        timeout: Duration,
    ) -> Result<(Recorded<N::Stream, C>, SocketAddr), String> {
        let listener = match gw {
            Gateway::Primary => self.primary.as_ref(),
            Gateway::Fallback => self.fallback.as_ref(),
        };
        let Some(listener) = listener else {
            return Err("that gateway is down".into());
        };
        match tokio::time::timeout(timeout, listener.accept()).await {
            Ok(Ok((stream, peer))) => {
                tracing::info!(gateway = ?gw, %peer, "DUT connected");
                let client = match peer {
                    SocketAddr::V4(v4) => v4,
                    SocketAddr::V6(v6) => SocketAddrV4::new(self.setup.dut_ip, v6.port()),
                };
                let server = self.harness_addr(self.listen_port(gw));
                let rec = Recorded::new(
                    stream,
                    self.setup.capture.clone(),
                    self.setup.clock.clone(),
                    client,
                    server,
                    false,
                );
                Ok((rec, peer))
            }
            Ok(Err(e)) => {
                tracing::warn!(gateway = ?gw, error = %e, "accept failed");
                Err(format!("accept failed: {e}"))
            }
            Err(_) => {
                tracing::info!(gateway = ?gw, within_secs = timeout.as_secs(), "the DUT did not connect");
                Err(format!(
                    "the DUT did not connect to the platform within {} s",
                    timeout.as_secs()
                ))
            }
        }
    }

    /// Opens a recorded connection from the harness to the DUT's `port`.
    async fn connect_dut(&mut self, port: u16) -> Result<Recorded<N::Stream, C>, String> {
        let addr = format!("{}:{port}", self.setup.dut_host);
        let stream = match tokio::time::timeout(REACT_TIMEOUT, self.setup.net.connect(&addr)).await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::info!(%addr, error = %e, "connecting to the DUT failed");
                return Err(format!("connecting to {addr}: {e}"));
            }
            Err(_) => {
                tracing::info!(%addr, "connecting to the DUT timed out");
                return Err(format!("connecting to {addr}: timed out"));
            }
        };
        tracing::debug!(%addr, "connected to the DUT");
        self.netip_port_hint = self.netip_port_hint.wrapping_add(1).max(40_000);
        let client = self.harness_addr(self.netip_port_hint);
        let server = SocketAddrV4::new(self.setup.dut_ip, port);
        Ok(Recorded::new(
            stream,
            self.setup.capture.clone(),
            self.setup.clock.clone(),
            client,
            server,
            true,
        ))
    }
}
