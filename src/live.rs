//! `camproof serve` and `camproof swarm`: the platform and the camera model on real
//! sockets. The code is the simulator's (the same `Gateway` and `Camera`), driven by
//! `TokioNet` and `SystemClock` on a current-thread runtime.
#![allow(clippy::disallowed_methods)] // Real-socket runs live in real time.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use camproof_net::{Listener, Net, SystemClock, TokioNet};
use camproof_platform::accounts::{Accounts, AccountsConfig, GeoPoint, Region};
use camproof_platform::gateway::{Gateway, GatewayConfig, GatewayStats};
use camproof_platform::registry::{Registry, RegistryConfig};
use camproof_platform::relay::RelayConfig;
use camproof_platform::relay_service::{RelayKey, RelayService};
use camproof_platform::signaling::{store_writer, RegionServices, StoreStats};
use camproof_platform::store::{DiskFault, History, Replica, ReplicaConfig, StoreClient};
use camproof_platform::trace::Trace;
use camproof_protocol::cdp::APP_IDLE_TIMEOUT;
use camproof_protocol::cdp::{ClientConfig, ServerConfig, ServerContext};
use camproof_protocol::pki::KeyCache;
use camproof_simulated_devices::camera::{Camera, CameraConfig, FleetStats};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// The gateway name `serve` uses; `swarm` expects it as the server certificate subject.
const GATEWAY_NAME: &str = "gw-1";

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// Where `serve` keeps its state and which ports its store uses.
pub struct ServeStore {
    /// Directory of the three on-disk replicas (created if missing).
    pub data: PathBuf,
    /// First of three loopback ports for the replicas.
    pub port: u16,
}

/// Runs one gateway (with the app services, the relay and a three-replica store on
/// disk) on `listen` until `duration` passes (or forever).
pub fn serve(
    listen: String,
    duration: Option<Duration>,
    pki_seed: u64,
    store: ServeStore,
    mut cache: Box<dyn KeyCache>,
) -> Result<ExitCode> {
    let pki = crate::keycache::platform_pki(pki_seed, cache.as_mut())?;
    std::fs::create_dir_all(&store.data)
        .with_context(|| format!("creating the data directory {}", store.data.display()))?;
    let rt = runtime()?;
    let local = tokio::task::LocalSet::new();
    let stats = Rc::new(RefCell::new(GatewayStats::default()));
    let store_stats = Rc::new(RefCell::new(StoreStats::default()));
    local.block_on(&rt, async {
        // Bind first so the address printed is the one actually listening (port 0 works).
        let listener = TokioNet
            .bind(&listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let addr = Listener::local_addr(&listener).context("reading the bound address")?;
        let relay_listener = TokioNet
            .bind(&format!("{}:0", addr.ip()))
            .await
            .context("binding the relay")?;
        let relay_addr = Listener::local_addr(&relay_listener).context("reading the relay address")?;

        // The region's store: three replicas on disk, as three zones would hold it.
        let region = Region::EuAfrica;
        let members: BTreeMap<u64, String> = (0..3u16)
            .map(|i| (u64::from(i) + 1, format!("127.0.0.1:{}", store.port.saturating_add(i))))
            .collect();
        for (node, member) in &members {
            let mut cfg = ReplicaConfig::new(region, *node, member.clone(), members.clone());
            cfg.seed = pki_seed.wrapping_add(*node);
            let dir = store.data.join(format!("store-{node}"));
            let replica = Replica::on_disk(cfg, dir, DiskFault::new(), History::new());
            tokio::task::spawn_local(async move {
                if let Err(e) = replica.run(TokioNet, SystemClock).await {
                    eprintln!("camproof serve: store replica stopped: {e}");
                }
            });
        }
        let replicas: Vec<String> = members.values().cloned().collect();

        let mut seed = ChaCha8Rng::seed_from_u64(pki_seed);
        let mut relay_key = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut seed, &mut relay_key);
        let relay_key = RelayKey::from_bytes(relay_key);
        let services = Rc::new(RefCell::new(RegionServices::new(
            Accounts::new(region, AccountsConfig::production())
                .map_err(|e| anyhow::anyhow!("accounts: {e}"))?,
            Registry::new(region, RegistryConfig::default())
                .map_err(|e| anyhow::anyhow!("registry: {e}"))?,
            relay_key.clone(),
            GeoPoint::new(50.11, 8.68),
            pki_seed,
        )));
        let relay = RelayService::new(
            "relay",
            relay_key,
            RelayConfig::default(),
            Rc::default(),
            Trace::new(0),
            SystemClock,
        );
        tokio::task::spawn_local(relay.serve_on(relay_listener));
        tokio::task::spawn_local(store_writer(
            StoreClient::new(TokioNet, region, replicas.clone(), 1),
            services.clone(),
            region,
            store_stats.clone(),
        ));
        let gateway = Gateway::with_services(
            GatewayConfig {
                name: GATEWAY_NAME.into(),
                listen: addr.to_string(),
                relay: relay_addr.to_string(),
                fallbacks: Vec::new(),
                idle_timeout: Duration::from_secs(90),
                app_idle_timeout: APP_IDLE_TIMEOUT,
            },
            Arc::new(ServerConfig::new(pki.server(GATEWAY_NAME, 0))),
            Rc::new(RefCell::new(ServerContext::new(pki.trust_store()))),
            Some(services),
            pki_seed,
            stats.clone(),
            Trace::new(0),
        );
        println!(
            "camproof serve: gateway {GATEWAY_NAME} listening on {addr}, relay on {relay_addr}, store in {} (replicas {}) (pki seed {pki_seed})",
            store.data.display(),
            replicas.join(", ")
        );
        // What the store holds from earlier runs: a restart loses nothing.
        tokio::task::spawn_local(async move {
            let mut client = StoreClient::new(TokioNet, region, replicas, 2);
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if let Ok(devices) = client.scan_prefix("devices/").await {
                    println!("store: {} device records on disk", devices.len());
                    return;
                }
            }
            println!("store: no leader elected within 10 s");
        });
        let serving = gateway.serve_on(listener, SystemClock);
        match duration {
            Some(d) => {
                tokio::select! {
                    biased;
                    r = serving => r.context("gateway stopped")?,
                    _ = tokio::time::sleep(d) => {}
                }
            }
            None => serving.await.context("gateway stopped")?,
        }
        anyhow::Ok(())
    })?;
    let st = store_stats.borrow();
    println!(
        "store: {} writes acknowledged by a majority of replicas, {} retried",
        st.writes_acked, st.writes_failed
    );
    let s = stats.borrow();
    println!(
        "served: {} connections, {} handshakes, {} resumed, {} heartbeats, {} video frames ({:.1} MB), failures {:?}",
        s.connections,
        s.handshakes,
        s.resumptions,
        s.heartbeats,
        s.video_frames,
        s.video_bytes as f64 / 1e6,
        s.failures
    );
    Ok(ExitCode::SUCCESS)
}

/// What `camproof swarm` runs.
pub struct SwarmArgs {
    /// Gateway address.
    pub platform: String,
    /// Number of cameras.
    pub cameras: u64,
    /// How long to run.
    pub duration: Duration,
    /// Video frames per second per camera.
    pub fps: u32,
    /// Video bitrate per camera, kbit/s.
    pub bitrate_kbps: u64,
    /// Seed of the cameras' random draws.
    pub seed: u64,
    /// Seed of the test PKI (must match the platform's).
    pub pki_seed: u64,
}

/// Runs `cameras` simulated cameras against a real platform endpoint.
pub fn swarm(args: SwarmArgs, mut cache: Box<dyn KeyCache>) -> Result<ExitCode> {
    ensure!(
        args.cameras > 0 && args.cameras <= 10_000,
        "--cameras must be 1 to 10000"
    );
    ensure!(args.fps <= 60, "--fps must be 0 to 60");
    let pki = crate::keycache::platform_pki(args.pki_seed, cache.as_mut())?;
    let mut client_config = ClientConfig::new(pki.trust_store());
    client_config.expected_server = Some(GATEWAY_NAME.into());
    let client_config = Arc::new(client_config);
    let config = Rc::new(CameraConfig {
        gateways: vec![args.platform.clone()],
        fps: args.fps,
        bitrate_bps: args.bitrate_kbps * 1000,
        heartbeat: Duration::from_secs(5),
        boot_window: Duration::from_millis(500),
        ..CameraConfig::default()
    });
    let fleet = Rc::new(RefCell::new(FleetStats::default()));
    let rt = runtime()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let mut seeds = ChaCha8Rng::seed_from_u64(args.seed);
        for index in 0..args.cameras {
            let camera = Camera::new(
                index,
                config.clone(),
                client_config.clone(),
                Arc::new(pki.device(index)),
                ChaCha8Rng::seed_from_u64(rand_core::RngCore::next_u64(&mut seeds)),
                fleet.clone(),
            );
            tokio::task::spawn_local(camera.run(TokioNet, SystemClock));
        }
        tokio::time::sleep(args.duration).await;
    });
    let f = fleet.borrow();
    println!(
        "camproof swarm: {} cameras against {} for {}",
        args.cameras,
        args.platform,
        humantime::format_duration(args.duration)
    );
    println!(
        "  cameras online   {}/{} at the end",
        f.online.len(),
        args.cameras
    );
    println!(
        "  sessions         {} full handshakes, {} resumed; {} connect attempts, {} failed",
        f.handshakes, f.resumptions, f.connect_attempts, f.failures
    );
    println!("  heartbeats       {} acknowledged", f.heartbeats_acked);
    println!(
        "  video            {} frames sent ({:.1} MB)",
        f.frames_sent,
        f.video_bytes_sent as f64 / 1e6
    );
    let ok = f.online.len() as u64 == args.cameras;
    println!(
        "result: {}",
        if ok {
            "pass"
        } else {
            "fail (not every camera online)"
        }
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A NETIP flaw that `camproof camera --flaw` can switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NetipFlaw {
    /// admin with the empty password (SEC Consult 2018).
    EmptyAdminPassword,
    /// hidden account default/tluafed (CVE-2018-17919).
    HiddenDefaultAccount,
    /// commands executed before login (CVE-2024-3765).
    CommandsBeforeLogin,
    /// firmware installed without verification.
    AcceptUnsignedUpgrade,
    /// no lockout after failed logins.
    NoLockout,
    /// signed but older firmware installed.
    AcceptDowngrade,
}

/// Runs one simulated camera whose NETIP port third-party DVRIP tools can talk to.
pub fn camera(
    netip: String,
    serial: String,
    admin_password: String,
    flaws: Vec<NetipFlaw>,
    duration: Option<Duration>,
    pki_seed: u64,
    mut cache: Box<dyn KeyCache>,
) -> Result<ExitCode> {
    use camproof_net::Clock;
    use camproof_simulated_devices::netip_server::{serve_netip, NetipCamera, NetipCameraConfig};
    use rsa::traits::PublicKeyParts as _;

    let pki = crate::keycache::platform_pki(pki_seed, cache.as_mut())?;
    let mut config = NetipCameraConfig::reference(&serial, &admin_password);
    let vendor = pki.vendor_key(0).context("the test PKI has no vendor")?;
    config.vendor_key = Some(vendor.to_public_key());
    for flaw in &flaws {
        let f = &mut config.flaws;
        match flaw {
            NetipFlaw::EmptyAdminPassword => f.empty_admin_password = true,
            NetipFlaw::HiddenDefaultAccount => f.hidden_default_account = true,
            NetipFlaw::CommandsBeforeLogin => f.commands_before_login = true,
            NetipFlaw::AcceptUnsignedUpgrade => f.accept_unsigned_upgrade = true,
            NetipFlaw::NoLockout => f.no_lockout = true,
            NetipFlaw::AcceptDowngrade => f.accept_downgrade = true,
        }
    }
    let camera = NetipCamera::new(config, SystemClock.now()).context("configuring the camera")?;
    let camera = Rc::new(RefCell::new(camera));
    let rt = runtime()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let listener = TokioNet.bind(&netip).await.with_context(|| format!("binding {netip}"))?;
        let addr = Listener::local_addr(&listener).context("reading the bound address")?;
        let flaw_names: Vec<String> = flaws.iter().map(|f| format!("{f:?}")).collect();
        println!(
            "camproof camera {serial}: NETIP on {addr}, firmware signed by vendor-0 (pki seed {pki_seed}, {}-bit key), flaws: {}",
            vendor.size() * 8,
            if flaw_names.is_empty() { "none".to_string() } else { flaw_names.join(", ") }
        );
        let serving = serve_netip(listener, SystemClock, camera.clone());
        match duration {
            Some(d) => {
                tokio::select! {
                    biased;
                    _ = serving => {}
                    _ = tokio::time::sleep(d) => {}
                }
            }
            None => serving.await,
        }
        anyhow::Ok(())
    })?;
    let events = camera.borrow_mut().take_events();
    println!("camera stopped after {} session events", events.len());
    Ok(ExitCode::SUCCESS)
}
