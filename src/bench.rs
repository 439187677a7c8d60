//! `camproof bench …`: wall-clock figures for this machine.
//!
//! Benchmarks are the one place that reads the host clock: what they measure is the
//! host, not the simulation.
#![allow(clippy::disallowed_methods)]

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use camproof_protocol::cdp::{
    ClientConfig, ClientConnection, Event, ServerConfig, ServerConnection, ServerContext,
};
use camproof_protocol::pki::{NoCache, PkiOptions, TestPki};
use camproof_protocol::Timestamp;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

fn row(what: &str, n: u32, elapsed: Duration, unit: &str) {
    let secs = elapsed.as_secs_f64();
    let per_sec = f64::from(n) / secs;
    let each_ms = secs * 1000.0 / f64::from(n);
    println!("  {what:<40} {n:>6} {unit:<12} {per_sec:>10.1}/s {each_ms:>9.3} ms each");
}

/// Measures test-PKI and handshake throughput.
pub fn pki(keys: u32, iterations: u32) -> Result<ExitCode> {
    ensure!(
        keys > 0 && iterations > 0,
        "--keys and --iterations must be positive"
    );
    println!("camproof bench pki (release build recommended; one core)");

    // Key generation: a fresh PKI whose device pool has `keys` keys, no cache.
    let opts = PkiOptions {
        vendors: 1,
        device_key_pool: keys as usize,
        ..PkiOptions::default()
    };
    let start = Instant::now();
    let pki = TestPki::try_generate(0xBE7C4, &opts, &mut NoCache).context("generating keys")?;
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
            .context("verifying a device chain")?;
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
        tickets.push(cam.take_ticket().context("no ticket")?);
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
    Ok(ExitCode::SUCCESS)
}

fn handshake(
    mut cam: ClientConnection,
    mut gw: ServerConnection,
    now: Timestamp,
    ctx: &mut ServerContext,
) -> Result<ClientConnection> {
    let mut buf = Vec::new();
    for _ in 0..4 {
        cam.poll_transmit(&mut buf);
        gw.handle_bytes(now, &buf, ctx)?;
        buf.clear();
        gw.poll_transmit(&mut buf);
        cam.handle_bytes(now, &buf)?;
        buf.clear();
    }
    ensure!(
        matches!(cam.poll_event(), Some(Event::Connected { .. })),
        "handshake did not complete"
    );
    Ok(cam)
}
