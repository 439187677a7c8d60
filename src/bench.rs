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

/// What `camproof bench world` builds.
pub struct WorldBenchArgs {
    /// Total cameras.
    pub cameras: u64,
    /// Camera sites (simulated hosts).
    pub sites: u32,
    /// Regions (the first N of cn, americas, eu-africa, apac).
    pub regions: u32,
    /// Availability zones per region.
    pub zones_per_region: u32,
    /// Simulated duration.
    pub duration: Duration,
    /// Video frames per second per camera (0: heartbeats only).
    pub fps: u32,
    /// Video bitrate per camera, kbit/s.
    pub bitrate_kbps: u64,
    /// Run seed.
    pub seed: u64,
    /// Simulator step.
    pub tick: Duration,
    /// Viewer apps per site.
    pub viewers_per_site: u32,
    /// Whether viewers open live views (real sealed video through the relays).
    pub live_view: bool,
}

/// Measures how fast the simulated world runs: simulated seconds per wall second.
pub fn world(
    args: WorldBenchArgs,
    mut cache: Box<dyn camproof_protocol::pki::KeyCache>,
) -> Result<ExitCode> {
    use camproof_scenarios::world::{self, WorldSpec};
    use camproof_simulated_devices::camera::CameraConfig;

    ensure!(
        args.sites > 0 && (1..=4).contains(&args.regions) && args.zones_per_region > 0,
        "--sites and --zones-per-region must be positive, --regions 1 to 4"
    );
    ensure!(
        args.cameras >= u64::from(args.sites),
        "--cameras must be at least --sites"
    );
    let per_site =
        u32::try_from(args.cameras / u64::from(args.sites)).context("too many cameras per site")?;
    let spec = WorldSpec {
        seed: args.seed,
        regions: world::REGIONS[..args.regions as usize]
            .iter()
            .map(|r| r.to_string())
            .collect(),
        zones_per_region: args.zones_per_region,
        sites: args.sites,
        cameras_per_site: per_site,
        duration: args.duration,
        camera: CameraConfig {
            fps: args.fps,
            bitrate_bps: args.bitrate_kbps * 1000,
            boot_window: Duration::from_secs(30),
            ..CameraConfig::default()
        },
        tick: args.tick,
        faults: Vec::new(),
        viewers: world::ViewerSpec {
            per_site: args.viewers_per_site,
            live_view: args.live_view,
            ..world::ViewerSpec::default()
        },
        ota: None,
        store_bugs: Default::default(),
        wire: Default::default(),
        world_bugs: Default::default(),
        attacks: Vec::new(),
        attack_bugs: Default::default(),
    };
    println!(
        "camproof bench world: {} cameras in {} sites, {} regions x {} zones, {} simulated, {}",
        spec.cameras(),
        spec.sites,
        spec.regions.len(),
        spec.zones_per_region,
        humantime::format_duration(spec.duration),
        if args.fps == 0 {
            "heartbeats only".to_string()
        } else {
            format!("{} fps at {} kbit/s", args.fps, args.bitrate_kbps)
        },
    );
    let start = Instant::now();
    let pki = crate::keycache::platform_pki(1, cache.as_mut())?;
    let setup = start.elapsed();
    let start = Instant::now();
    let plan = camproof_scenarios::plan::Plan::new(spec.clone()).context("checking the world")?;
    let summary = world::run(&plan, &pki, cache.as_mut()).context("running the world")?;
    let wall = start.elapsed();
    let ratio = spec.duration.as_secs_f64() / wall.as_secs_f64().max(1e-9);
    println!("  PKI setup               {:.2} s", setup.as_secs_f64());
    println!(
        "  world run               {:.2} s wall (device certificates from the cache or issued, handshakes included)",
        wall.as_secs_f64()
    );
    println!("  speed                   {ratio:.1} simulated s per wall s");
    println!(
        "  cameras online          {}/{}",
        summary.cameras_online, summary.cameras
    );
    println!(
        "  sessions                {} full handshakes, {} resumed, {} connect attempts",
        summary.gateways.handshakes, summary.gateways.resumptions, summary.fleet.connect_attempts
    );
    println!(
        "  heartbeats acknowledged {}; frames delivered {} ({:.1} MB)",
        summary.fleet.heartbeats_acked,
        summary.gateways.video_frames,
        summary.gateways.video_bytes as f64 / 1e6
    );
    let v = &summary.viewers;
    println!(
        "  viewers                 {} ({} per site): {} sign-ins with TOTP, {} commands relayed and answered, {} live views, {} frames verified end to end",
        spec.viewers.per_site * spec.sites,
        spec.viewers.per_site,
        v.logins,
        summary.signaling.answered,
        v.live_views,
        v.frames_verified
    );
    println!(
        "  store                   {} writes acknowledged, {} leaders, invariants {}",
        summary.store.writes_acked,
        summary.store.leaders,
        if summary.store.violations.is_empty() {
            "ok"
        } else {
            "VIOLATED"
        }
    );
    match peak_rss_kib() {
        Some(kib) => println!("  peak memory (VmHWM)     {:.1} MiB", kib as f64 / 1024.0),
        None => println!("  peak memory             unavailable on this OS"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The process's peak resident set size, from /proc (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
