//! Test-PKI throughput: key generation, certificate issue and verification, and CDP/1
//! handshakes (full and resumed), both sides in memory.
#![allow(clippy::disallowed_methods)] // It measures the host.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use camproof_protocol::cdp::{
    ClientConfig, ClientConnection, Event, ServerConfig, ServerConnection, ServerContext,
};
use camproof_protocol::pki::{NoCache, PkiOptions, TestPki};
use camproof_protocol::Timestamp;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::error::{BenchError, Context as _};

/// One measured figure: `n` operations of a kind in `elapsed`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// What was measured.
    pub what: &'static str,
    /// Operations.
    pub n: u32,
    /// Wall-clock time they took.
    pub elapsed: Duration,
    /// What one operation is called (`keys`, `handshakes`).
    pub unit: &'static str,
}

impl fmt::Display for Row {
    /// One table line: the operations, the rate per second and the time of each.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, n, unit) = (self.what, self.n, self.unit);
        let secs = self.elapsed.as_secs_f64();
        let per_sec = f64::from(n) / secs;
        let each_ms = secs * 1000.0 / f64::from(n);
        write!(
            f,
            "  {what:<40} {n:>6} {unit:<12} {per_sec:>10.1}/s {each_ms:>9.3} ms each"
        )
    }
}

/// Measures test-PKI and handshake throughput: `keys` RSA keys generated, then
/// `iterations` of each other operation; calls `on_row` as each figure is measured.
pub fn run(keys: u32, iterations: u32, on_row: &mut dyn FnMut(&Row)) -> Result<(), BenchError> {
    if keys == 0 || iterations == 0 {
        return Err(BenchError::Invalid(
            "--keys and --iterations must be positive".into(),
        ));
    }
    let mut row = |what, n, elapsed, unit| {
        on_row(&Row {
            what,
            n,
            elapsed,
            unit,
        })
    };

    // Key generation: a fresh PKI whose device pool has `keys` keys, no cache.
    let opts = PkiOptions {
        vendors: 1,
        device_key_pool: keys as usize,
        ..PkiOptions::default()
    };
    let start = Instant::now();
    let pki = TestPki::try_generate(0xBE7C4, &opts, &mut NoCache).ctx("generating keys")?;
    // Root + one vendor + the pool.
    row("RSA-2048 key generation", keys + 2, start.elapsed(), "keys");

    let start = Instant::now();
    let devices: Vec<_> = (0..u64::from(iterations)).map(|i| pki.device(i)).collect();
    row(
        "device certificate issue (PSS sign)",
        iterations,
        start.elapsed(),
        "certs",
    );

    let start = Instant::now();
    for i in 0..u64::from(iterations) {
        let _ = pki.server("gw", i);
    }
    row(
        "server identity (Ed25519 key + cert)",
        iterations,
        start.elapsed(),
        "identities",
    );

    let now = Timestamp::from_secs(1_800_000_000);
    let mut trust = pki.trust_store();
    let start = Instant::now();
    for d in &devices {
        trust
            .verify_device_chain(d.chain(), now)
            .ctx("verifying a device chain")?;
    }
    row(
        "device chain verify (vendor CA cached)",
        iterations,
        start.elapsed(),
        "chains",
    );

    // Full and resumed handshakes, both sides, in memory.
    let client_cfg = Arc::new(ClientConfig::new(pki.trust_store()));
    let server_cfg = Arc::new(ServerConfig::new(pki.server("gw", 0)));
    let mut ctx = ServerContext::new(pki.trust_store());
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let creds: Vec<_> = devices.into_iter().map(Arc::new).collect();
    let mut tickets = Vec::with_capacity(creds.len());
    let start = Instant::now();
    for c in &creds {
        let cam = ClientConnection::connect(client_cfg.clone(), c.clone(), now, &mut rng);
        let gw = ServerConnection::new(server_cfg.clone(), &mut rng);
        let mut cam = handshake(cam, gw, now, &mut ctx)?;
        tickets.push(cam.take_ticket().ctx("no ticket")?);
    }
    row(
        "full CDP/1 handshake (both sides)",
        iterations,
        start.elapsed(),
        "handshakes",
    );

    let start = Instant::now();
    for (c, t) in creds.iter().zip(tickets) {
        let cam = ClientConnection::resume(client_cfg.clone(), c.clone(), t, now, &mut rng);
        let gw = ServerConnection::new(server_cfg.clone(), &mut rng);
        handshake(cam, gw, now, &mut ctx)?;
    }
    row(
        "resumed CDP/1 handshake (both sides)",
        iterations,
        start.elapsed(),
        "handshakes",
    );
    Ok(())
}

fn handshake(
    mut cam: ClientConnection,
    mut gw: ServerConnection,
    now: Timestamp,
    ctx: &mut ServerContext,
) -> Result<ClientConnection, BenchError> {
    let mut buf = Vec::new();
    for _ in 0..4 {
        cam.poll_transmit(&mut buf);
        gw.handle_bytes(now, &buf, ctx)?;
        buf.clear();
        gw.poll_transmit(&mut buf);
        cam.handle_bytes(now, &buf)?;
        buf.clear();
    }
    if !matches!(cam.poll_event(), Some(Event::Connected { .. })) {
        return Err(BenchError::step("handshake did not complete"));
    }
    Ok(cam)
}
