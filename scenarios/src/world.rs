//! The simulated world: platform hosts and camera sites inside one turmoil simulation.
//!
//! Hosts are few on purpose (turmoil walks every pair of hosts each tick): one host per
//! gateway zone, and one host per *site* (a customer network) running its cameras as
//! tasks, each with its own TCP connection.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use camproof_platform::accounts::{Accounts, AccountsConfig, GeoPoint, Region, UserId};
use camproof_platform::gateway::{Gateway, GatewayConfig, GatewayStats};
use camproof_platform::monitoring::{Alert, Metric, Monitor, Sample};
use camproof_platform::net::{SimClock, SimNet};
use camproof_platform::ota::{OtaConfig, OtaService, RolloutCounts};
use camproof_platform::registry::{Action, Caller, Registry, RegistryConfig};
use camproof_platform::relay::RelayConfig;
use camproof_platform::relay_service::{RelayKey, RelayService, RelayServiceStats};
use camproof_platform::signaling::{store_writer, RegionServices, SignalingStats, StoreStats};
use camproof_platform::store::{
    check_erased, check_no_acked_write_lost, check_one_leader_per_term, check_residency, DiskFault,
    History, Keyspace, MemBackend, Replica, ReplicaConfig, StoreClient,
};
use camproof_platform::trace::Trace;
use camproof_protocol::cdp::SecretText;
use camproof_protocol::cdp::{ClientConfig, ServerConfig, ServerContext};
use camproof_protocol::ota::{FirmwareVersion, Manifest, SignedManifest};
use camproof_protocol::pki::PeerIdentity;
use camproof_protocol::pki::{KeyCache, TestPki};
use camproof_protocol::video::PairingSecret;
use camproof_protocol::Timestamp;
use camproof_simulated_devices::camera::{Camera, CameraConfig, FleetStats};
use camproof_simulated_devices::viewer::{Viewer, ViewerConfig, ViewerStats};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use thiserror::Error;

/// The simulated wall clock at the start of every run: 2027-01-15 08:00:00 UTC.
pub const EPOCH_SECS: u64 = 1_799_913_600;
/// The port gateways listen on.
pub const GATEWAY_PORT: u16 = 7443;
/// The port each zone's video relay listens on.
pub const RELAY_PORT: u16 = 7444;
/// The port each zone's store replica listens on.
pub const STORE_PORT: u16 = 7500;
/// The platform's regions.
pub const REGIONS: [&str; 4] = ["cn", "americas", "eu-africa", "apac"];
/// Latency between hosts in different regions (within a region: 1-10 ms).
pub const CROSS_REGION_LATENCY: Duration = Duration::from_millis(120);

/// What to build and how long to run it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorldSpec {
    /// Seed of every random draw in the run.
    pub seed: u64,
    /// Regions of the platform (names from [`REGIONS`]).
    pub regions: Vec<String>,
    /// Availability zones per region, one gateway each.
    pub zones_per_region: u32,
    /// Customer sites (simulated hosts), spread over the regions in turn.
    pub sites: u32,
    /// Cameras per site.
    pub cameras_per_site: u32,
    /// Simulated time to run.
    pub duration: Duration,
    /// Firmware settings of every camera (the gateway list is filled in by the world).
    pub camera: CameraConfig,
    /// Simulated time per simulator step: finer resolves latency better, coarser runs
    /// faster (turmoil visits every host pair each step).
    pub tick: Duration,
    /// Faults to inject, at simulated times.
    pub faults: Vec<Fault>,
    /// Users watching their cameras.
    pub viewers: ViewerSpec,
    /// A firmware rollout, if the scenario has one.
    pub ota: Option<OtaSpec>,
    /// Bugs planted in the store for negative tests (none in a real run).
    pub store_bugs: camproof_platform::store::PlantedBugs,
    /// Attackers, each with its hosts and its time window.
    pub attacks: Vec<crate::attack::AttackSpec>,
    /// Bugs planted in accounts and registry for the attack invariants' negative tests.
    pub attack_bugs: crate::attack::AttackBugs,
}

/// A firmware release rolled out during the run: published (vendor-signed) before the
/// run, rolled out to `percent` of the cameras from `start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtaSpec {
    /// The new version (cameras boot with 1.0.0).
    pub version: String,
    /// Rollout percentage.
    pub percent: u8,
    /// When the rollout starts.
    pub start: Duration,
    /// Image size in bytes.
    pub image_bytes: usize,
}

/// The model every simulated camera is.
pub const CAMERA_MODEL: &str = "bullet-4k";

/// The users of a world: one account per site, owning the site's cameras.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerSpec {
    /// Viewer apps per site (0: nobody watches; accounts exist all the same).
    pub per_site: u32,
    /// How long one live view is watched.
    pub watch: Duration,
    /// Pause between two views.
    pub pause: Duration,
    /// Whether users open live views (off: sign-in, listing and commands only).
    pub live_view: bool,
}

impl Default for ViewerSpec {
    fn default() -> Self {
        ViewerSpec {
            per_site: 0,
            watch: Duration::from_secs(30),
            pause: Duration::from_secs(10),
            live_view: true,
        }
    }
}

/// One fault at a simulated time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Simulated time since the start of the run.
    pub at: Duration,
    /// What happens.
    pub action: FaultAction,
}

/// What a fault does. A target is a host name, or `region:<name>` for every gateway of
/// a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// The targets stop: their software and connections are gone.
    Crash(String),
    /// The targets' software starts again (after a crash, or as a restart).
    Restart(String),
    /// No traffic passes between the two targets, in either direction.
    Partition(String, String),
    /// Traffic between the two targets passes again.
    Heal(String, String),
    /// The user (by username) deletes their account.
    EraseAccount(String),
    /// The store disks of the targets (zone hosts) are full: every write fails, and
    /// the replica stops at its first failed write.
    DiskFull(String),
    /// The store disks of the targets have room again (the replica needs a restart).
    DiskFree(String),
}

impl FaultAction {
    /// The targets the fault names.
    pub fn targets(&self) -> Vec<&str> {
        match self {
            FaultAction::Crash(t)
            | FaultAction::Restart(t)
            | FaultAction::DiskFull(t)
            | FaultAction::DiskFree(t) => vec![t],
            FaultAction::Partition(a, b) | FaultAction::Heal(a, b) => vec![a, b],
            FaultAction::EraseAccount(_) => vec![],
        }
    }
}

/// Each store replica's disk quota, for the disk metric.
pub const STORE_DISK_BYTES: u64 = 256 << 20;

/// How often the world's metrics pipeline samples the platform's hosts.
pub const MONITOR_INTERVAL: Duration = Duration::from_secs(5);

/// The default simulator step.
pub const DEFAULT_TICK: Duration = Duration::from_millis(1);

impl WorldSpec {
    /// Total cameras in the world.
    pub fn cameras(&self) -> u64 {
        u64::from(self.sites) * u64::from(self.cameras_per_site)
    }

    /// Gateway hosts: one per zone of every region.
    pub fn gateways(&self) -> u32 {
        self.regions.len() as u32 * self.zones_per_region
    }

    /// The region of site `site`.
    pub fn site_region(&self, site: u32) -> &str {
        &self.regions[site as usize % self.regions.len()]
    }

    /// The names of the platform's gateway hosts, in order.
    pub fn gateway_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for region in &self.regions {
            for z in 0..self.zones_per_region {
                names.push(format!("gw-{region}-{}", z + 1));
            }
        }
        names
    }

    /// The hosts a fault target names: one host, or every gateway of `region:<name>`;
    /// `None` if it names nothing in this world.
    pub fn resolve_target(&self, target: &str) -> Option<Vec<String>> {
        if let Some(region) = target.strip_prefix("region:") {
            if !self.regions.iter().any(|r| r == region) {
                return None;
            }
            let prefix = format!("gw-{region}-");
            return Some(
                self.gateway_names()
                    .into_iter()
                    .filter(|g| g.starts_with(&prefix))
                    .collect(),
            );
        }
        let known = self.gateway_names().iter().any(|h| h == target)
            || self.site_names().iter().any(|h| h == target);
        known.then(|| vec![target.to_string()])
    }

    /// Whether the world has a user of this name (`user<U>@site<S>.example`: user U of
    /// site S).
    pub fn has_user(&self, username: &str) -> bool {
        let parse = || -> Option<(u32, u32)> {
            let rest = username.strip_prefix("user")?;
            let (u, rest) = rest.split_once("@site")?;
            let s = rest.strip_suffix(".example")?;
            Some((u.parse().ok()?, s.parse().ok()?))
        };
        parse().is_some_and(|(u, s)| u < self.viewers.per_site.max(1) && s < self.sites)
    }

    /// The names of the camera site hosts, in order.
    pub fn site_names(&self) -> Vec<String> {
        (0..self.sites)
            .map(|site| format!("site-{}-{site}", self.site_region(site)))
            .collect()
    }
}

/// Why a run could not produce a result.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WorldError {
    /// The specification cannot be built.
    #[error("invalid world: {0}")]
    Invalid(String),
    /// The simulation itself failed (a host returned an error or panicked).
    #[error("simulation failed: {0}")]
    Simulation(String),
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The seed.
    pub seed: u64,
    /// Cameras in the world.
    pub cameras: u64,
    /// Cameras with an established session at the end.
    pub cameras_online: u64,
    /// Per region: (cameras online at the end, cameras homed there).
    pub online_by_region: BTreeMap<String, (u64, u64)>,
    /// Simulated time that ran.
    pub simulated: Duration,
    /// Camera-side counters.
    pub fleet: FleetStats,
    /// Gateway counters, summed over all gateways.
    pub gateways: GatewayStats,
    /// Median camera-to-gateway frame latency.
    pub latency_p50: Option<Duration>,
    /// 99th-percentile camera-to-gateway frame latency.
    pub latency_p99: Option<Duration>,
    /// Viewer-side counters (sign-ins, commands, live views, verified frames).
    pub viewers: ViewerStats,
    /// Signaling counters, summed over the regions.
    pub signaling: SignalingStats,
    /// Relay counters, summed over the relays.
    pub relay: RelayServiceStats,
    /// The replicated store: writes, elections and the two safety invariants.
    pub store: StoreStats,
    /// The invariants the run broke (store safety, erasure, residency).
    pub invariants: Vec<Failure>,
    /// OTA rollout counts, summed over the regions.
    pub ota: Option<RolloutCounts>,
    /// What the attackers tried and what the platform refused.
    pub attacks: crate::attack::AttackSummary,
    /// Median capture-to-viewer latency of live frames.
    pub live_latency_p50: Option<Duration>,
    /// 99th-percentile capture-to-viewer latency of live frames.
    pub live_latency_p99: Option<Duration>,
    /// Alerts the monitoring fired, with when their cause began.
    pub alerts: Vec<Alert>,
    /// Faults applied, with their simulated times.
    pub faults: Vec<(Duration, FaultAction)>,
    /// Events in the trace.
    pub trace_events: u64,
    /// SHA-256 of the ordered trace.
    pub trace_hash: String,
}

/// Runs the world described by `spec` with identities from `pki`; device certificates
/// are kept in `cache` between runs.
pub fn run(
    spec: &WorldSpec,
    pki: &TestPki,
    cache: &mut dyn KeyCache,
) -> Result<RunSummary, WorldError> {
    if spec.tick.is_zero() || spec.tick > Duration::from_secs(1) {
        return Err(WorldError::Invalid(
            "the tick must be between 1 µs and 1 s".into(),
        ));
    }
    if spec.regions.is_empty() || spec.zones_per_region == 0 || spec.sites == 0 {
        return Err(WorldError::Invalid(
            "at least one region, one zone and one site are needed".into(),
        ));
    }
    if let Some(bad) = spec.regions.iter().find(|r| !REGIONS.contains(&r.as_str())) {
        return Err(WorldError::Invalid(format!(
            "unknown region {bad:?}; the regions are {REGIONS:?}"
        )));
    }
    if spec.sites + spec.gateways() > 200 {
        return Err(WorldError::Invalid(format!(
            "{} hosts: keep sites + gateways within 200 (turmoil walks every host pair each tick)",
            spec.sites + spec.gateways()
        )));
    }
    if let Some(name) = spec.faults.iter().find_map(|f| match &f.action {
        FaultAction::EraseAccount(u) if !spec.has_user(u) => Some(u),
        _ => None,
    }) {
        return Err(WorldError::Invalid(format!(
            "erase_account: unknown user {name:?} (users are user<U>@site<S>.example)"
        )));
    }
    if let Some((f, target)) = spec.faults.iter().find_map(|f| {
        f.action
            .targets()
            .into_iter()
            .find(|t| spec.resolve_target(t).is_none())
            .map(|t| (f, t))
    }) {
        let hosts: Vec<String> = spec
            .gateway_names()
            .into_iter()
            .chain(spec.site_names())
            .collect();
        return Err(WorldError::Invalid(format!(
            "fault at {:?} names unknown host {target:?}; hosts are {} (or region:<name>)",
            f.at,
            hosts.join(", ")
        )));
    }
    let cameras = spec.cameras();
    let mut seeds = ChaCha8Rng::seed_from_u64(spec.seed);
    let trace = Trace::new(64);
    let fleet = Rc::new(RefCell::new(FleetStats::default()));

    let mut sim = turmoil::Builder::new()
        .rng_seed(seeds.next_u64())
        .epoch(SystemTime::UNIX_EPOCH + Duration::from_secs(EPOCH_SECS))
        .simulation_duration(spec.duration + Duration::from_secs(60))
        .tick_duration(spec.tick)
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(10))
        .tcp_capacity(65_536)
        .build();

    // Gateways: one per zone, named gw-<region>-<zone>.
    let mut gateways: Vec<(String, String)> = Vec::new(); // (region, host name)
    for region in &spec.regions {
        for z in 0..spec.zones_per_region {
            gateways.push((region.clone(), format!("gw-{region}-{}", z + 1)));
        }
    }
    let endpoint = |host: &str| format!("{host}:{GATEWAY_PORT}");
    let gateway_stats: Vec<Rc<RefCell<GatewayStats>>> =
        gateways.iter().map(|_| Rc::default()).collect();
    // One CDP/1 context per region (in production it lives in the region's replicated
    // store): its zones share the nonce cache and the ticket store.
    let contexts: BTreeMap<String, Rc<RefCell<ServerContext>>> = spec
        .regions
        .iter()
        .map(|r| {
            (
                r.clone(),
                Rc::new(RefCell::new(ServerContext::new(pki.trust_store()))),
            )
        })
        .collect();
    // Accounts, registry and signaling per region; users and their cameras are set up
    // as the product would have left them: each site's owner registered with a second
    // factor, and the site's cameras provisioned and paired to that account.
    let start = Timestamp::from_secs(EPOCH_SECS);
    let mut setup_rng = ChaCha8Rng::seed_from_u64(seeds.next_u64());
    // Each region name parsed once (names were checked against REGIONS above).
    let region_of: BTreeMap<&str, Region> = spec
        .regions
        .iter()
        .map(|name| {
            name.parse().map(|r| (name.as_str(), r)).map_err(
                |e: camproof_platform::accounts::UnknownRegion| WorldError::Invalid(e.to_string()),
            )
        })
        .collect::<Result<_, _>>()?;
    let mut services: BTreeMap<String, Rc<RefCell<RegionServices>>> = BTreeMap::new();
    let mut relay_keys: BTreeMap<String, RelayKey> = BTreeMap::new();
    for region in &spec.regions {
        let r = region_of[region.as_str()];
        let accounts = Accounts::new(r, AccountsConfig::for_tests())
            .map_err(|e| WorldError::Invalid(format!("accounts: {e}")))?;
        let registry = Registry::new(r, RegistryConfig::default())
            .map_err(|e| WorldError::Invalid(format!("registry: {e}")))?;
        let mut key = [0u8; 32];
        setup_rng.fill_bytes(&mut key);
        let relay_key = RelayKey::from_bytes(key);
        relay_keys.insert(region.clone(), relay_key.clone());
        services.insert(
            region.clone(),
            Rc::new(RefCell::new(RegionServices::new(
                accounts,
                registry,
                relay_key,
                region_location(r),
                seeds.next_u64(),
            ))),
        );
    }
    // The vendor signs the release offline; each region's OTA service trusts the vendor
    // for the model and publishes the image (verifying it).
    let vendor_cert = pki
        .vendor_certificate(0)
        .ok_or_else(|| WorldError::Invalid("the PKI has no vendor".into()))?
        .clone();
    let vendor_public = match &vendor_cert.key {
        camproof_protocol::pki::PublicKey::Rsa(k) => Some(k.clone()),
        _ => None,
    };
    let mut rollouts: Vec<(String, FirmwareVersion)> = Vec::new();
    if let Some(ota) = &spec.ota {
        let version: FirmwareVersion = ota
            .version
            .parse()
            .map_err(|_| WorldError::Invalid(format!("OTA version {:?}", ota.version)))?;
        let image: Vec<u8> = (0..ota.image_bytes).map(|i| (i * 31 % 251) as u8).collect();
        let manifest =
            Manifest::for_image(CAMERA_MODEL, version, FirmwareVersion::new(1, 0, 0), &image)
                .map_err(|e| WorldError::Invalid(format!("OTA manifest: {e}")))?;
        let key = pki
            .vendor_key(0)
            .ok_or_else(|| WorldError::Invalid("the PKI has no vendor key".into()))?;
        let signed = SignedManifest::sign(manifest, key, &mut setup_rng)
            .map_err(|e| WorldError::Invalid(format!("OTA signature: {e}")))?;
        for (region, svc) in &services {
            let mut service = OtaService::new(OtaConfig::default())
                .map_err(|e| WorldError::Invalid(format!("OTA: {e}")))?;
            service
                .trust_vendor(CAMERA_MODEL, vendor_cert.clone())
                .map_err(|e| WorldError::Invalid(format!("OTA: {e}")))?;
            service
                .publish(signed.clone(), image.clone(), start)
                .map_err(|e| WorldError::Invalid(format!("OTA: {e}")))?;
            svc.borrow_mut().ota = Some(service);
            rollouts.push((region.clone(), version));
        }
    }
    // The replicated store: one replica per zone, on the zone's host, one history per
    // region for the invariant checkers.
    let mut histories: BTreeMap<String, History> = BTreeMap::new();
    let mut stores: BTreeMap<String, ZoneStore> = BTreeMap::new();
    for region in &spec.regions {
        let r = region_of[region.as_str()];
        let members: BTreeMap<u64, String> = (1..=u64::from(spec.zones_per_region))
            .map(|z| (z, format!("gw-{region}-{z}:{STORE_PORT}")))
            .collect();
        let history = History::with_trace(trace.clone());
        for z in 1..=u64::from(spec.zones_per_region) {
            let mut cfg =
                ReplicaConfig::new(r, z, format!("0.0.0.0:{STORE_PORT}"), members.clone());
            cfg.seed = seeds.next_u64();
            cfg.bugs = spec.store_bugs;
            let backend = MemBackend::new(DiskFault::new());
            let replica = Replica::in_memory(cfg, backend.clone(), history.clone());
            stores.insert(
                format!("gw-{region}-{z}"),
                ZoneStore {
                    replica,
                    region: r,
                    disk: backend,
                },
            );
        }
        histories.insert(region.clone(), history);
    }
    let store_stats = Rc::new(RefCell::new(StoreStats::default()));
    let store_clients = Rc::new(std::cell::Cell::new(0u64));
    let relay_stats: Vec<Rc<RefCell<RelayServiceStats>>> =
        gateways.iter().map(|_| Rc::default()).collect();
    for (g, (region, name)) in gateways.iter().enumerate() {
        let server_config = Arc::new(ServerConfig::new(pki.server(name, g as u64)));
        // Fallbacks a gateway hands out: the other zones of its region.
        let fallbacks: Vec<String> = gateways
            .iter()
            .filter(|(r, n)| r == region && n != name)
            .map(|(_, n)| endpoint(n))
            .collect();
        let config = GatewayConfig {
            name: name.clone(),
            listen: format!("0.0.0.0:{GATEWAY_PORT}"),
            relay: format!("{name}:{RELAY_PORT}"),
            fallbacks,
            idle_timeout: spec.camera.heartbeat * 3,
        };
        let context = contexts[region].clone();
        let region_services = services[region].clone();
        let gateway_services = region_services.clone();
        let relay_key = relay_keys[region].clone();
        let stats = gateway_stats[g].clone();
        let relay_stats = relay_stats[g].clone();
        let trace = trace.clone();
        let seed = seeds.next_u64();
        let host = name.clone();
        let replica = stores.get(name).map(|z| z.replica.clone());
        let store_members: Vec<String> = (1..=spec.zones_per_region)
            .map(|z| format!("gw-{region}-{z}:{STORE_PORT}"))
            .collect();
        let store_region = region_of[region.as_str()];
        let store_stats = store_stats.clone();
        let store_clients = store_clients.clone();
        sim.host(name.as_str(), move || {
            if let Some(replica) = replica.clone() {
                tokio::task::spawn_local(async move {
                    let _ = replica.run(SimNet, SimClock).await;
                });
            }
            // The zone's store writer: the region's services' records, written with home
            // residency; a write counts once a majority of zones holds it.
            let client_id = store_clients.get() + 1;
            store_clients.set(client_id);
            let writer = store_writer(
                StoreClient::new(SimNet, store_region, store_members.clone(), client_id),
                region_services.clone(),
                store_region,
                store_stats.clone(),
            );
            tokio::task::spawn_local(writer);
            let gateway = Gateway::with_services(
                config.clone(),
                server_config.clone(),
                context.clone(),
                Some(gateway_services.clone()),
                seed,
                stats.clone(),
                trace.clone(),
            );
            // The zone's relay runs beside its gateway; a crash takes both.
            let relay = RelayService::new(
                format!("relay@{host}"),
                relay_key.clone(),
                RelayConfig::default(),
                relay_stats.clone(),
                trace.clone(),
                SimClock,
            );
            async move {
                tokio::task::spawn_local(async move {
                    let listen = format!("0.0.0.0:{RELAY_PORT}");
                    let _ = relay.serve(SimNet, &listen).await;
                });
                gateway.serve(SimNet, SimClock).await?;
                Ok(())
            }
        });
    }

    let app_config = Arc::new(ClientConfig::new(pki.trust_store()));
    let viewer_stats = Rc::new(RefCell::new(ViewerStats::default()));
    let mut client_config = ClientConfig::new(pki.trust_store());
    client_config.flaws = spec.camera.flaws.device;
    let client_config = Arc::new(client_config);
    let mut homes: BTreeMap<u64, String> = BTreeMap::new();
    // Every user's home region, for the residency check.
    let mut user_homes: BTreeMap<String, Region> = BTreeMap::new();
    let mut site_names = Vec::new();
    for site in 0..spec.sites {
        let region = spec.site_region(site).to_string();
        let home: Vec<String> = gateways
            .iter()
            .filter(|(r, _)| *r == region)
            .map(|(_, n)| endpoint(n))
            .collect();
        let away: Vec<String> = gateways
            .iter()
            .filter(|(r, _)| *r != region)
            .map(|(_, n)| endpoint(n))
            .collect();
        // The site's owner, and the family members the owner shares the cameras with
        // (each with an account of their own: one-time codes are single-use).
        let r_services = services[&region].clone();
        let mut users = Vec::new();
        for u in 0..spec.viewers.per_site.max(1) {
            let username = format!("user{u}@site{site}.example");
            // Accounts were made before the run starts (a code used at enrolment is
            // spent, so enrolling at the first instant would refuse the first sign-in).
            let made = Timestamp::from_secs(EPOCH_SECS - 3600);
            let user = register_user(
                &mut r_services.borrow_mut(),
                &username,
                made,
                &mut setup_rng,
            )?;
            users.push((username, user));
        }
        for (_, (caller, _, _)) in &users {
            user_homes.insert(caller.user.as_str().to_owned(), caller.home);
        }
        let owner = users[0].1 .0.clone();
        let mut pairings: BTreeMap<String, PairingSecret> = BTreeMap::new();
        let mut devices = Vec::with_capacity(spec.cameras_per_site as usize);
        for c in 0..spec.cameras_per_site {
            let index = u64::from(site) * u64::from(spec.cameras_per_site) + u64::from(c);
            // Home-region zones first, spread over the zones; other regions last.
            let mut gateways = home.clone();
            gateways.rotate_left((index % home.len() as u64) as usize);
            gateways.extend(away.iter().cloned());
            let config = Rc::new(CameraConfig {
                gateways,
                // A live view lasts as long as its viewer watches, and a little more.
                live_view_max: spec.viewers.watch + Duration::from_secs(2),
                model: CAMERA_MODEL.to_owned(),
                vendor_key: vendor_public.clone(),
                ..spec.camera.clone()
            });
            homes.insert(index, region.clone());
            let creds = Arc::new(pki.device_cached(index, cache));
            let camera_seed = seeds.next_u64();
            // Manufacture and pairing: provisioned, then claimed by the site's owner
            // with the token the camera shows. The pairing secret stays between the
            // camera and the owner's app.
            if let Some(leaf) = creds.chain().first() {
                let peer = PeerIdentity {
                    subject: leaf.subject.clone(),
                    serial: leaf.serial,
                    issuer: leaf.issuer.clone(),
                };
                let mut svc = r_services.borrow_mut();
                let id = svc
                    .registry
                    .provision(&peer, "bullet-4k", start, &mut setup_rng)
                    .map_err(|e| {
                        WorldError::Invalid(format!("provisioning camera {index}: {e}"))
                    })?;
                let token = svc
                    .registry
                    .begin_pairing(&peer, start, &mut setup_rng)
                    .map_err(|e| WorldError::Invalid(format!("pairing camera {index}: {e}")))?;
                svc.registry
                    .claim(&owner, token.expose(), start)
                    .map_err(|e| WorldError::Invalid(format!("claiming camera {index}: {e}")))?;
                for (_, (family, _, _)) in users.iter().skip(1) {
                    let code = svc
                        .registry
                        .issue_code(&owner, &id, Action::Share, start, &mut setup_rng)
                        .map_err(|e| WorldError::Invalid(format!("sharing camera {index}: {e}")))?;
                    svc.registry
                        .share(&owner, &id, family, code.expose(), start)
                        .map_err(|e| WorldError::Invalid(format!("sharing camera {index}: {e}")))?;
                }
                let pairing = Camera::pairing_secret(&mut ChaCha8Rng::seed_from_u64(camera_seed));
                pairings.insert(id.as_str().to_owned(), pairing);
            }
            devices.push((index, config, creds, camera_seed));
        }
        let viewers: Vec<(Rc<ViewerConfig>, u64)> = users
            .into_iter()
            .take(spec.viewers.per_site as usize)
            .enumerate()
            .map(|(u, (username, (_, password, totp_secret)))| {
                let config = Rc::new(ViewerConfig {
                    gateways: home.clone(),
                    username,
                    password,
                    totp_secret: Some(totp_secret),
                    pairings: pairings.clone(),
                    // Only the owner may steer the cameras; family members watch.
                    send_commands: u == 0,
                    live_view: spec.viewers.live_view,
                    watch: spec.viewers.watch,
                    pause: spec.viewers.pause,
                    start_window: Duration::from_secs(20),
                    timeout: Duration::from_secs(15),
                });
                (config, seeds.next_u64())
            })
            .collect();
        let site_name = spec.site_names()[site as usize].clone();
        site_names.push((region, site_name.clone()));
        let client_config = client_config.clone();
        let fleet = fleet.clone();
        let app_config = app_config.clone();
        let viewer_stats = viewer_stats.clone();
        sim.host(site_name.as_str(), move || {
            let devices = devices.clone();
            let client_config = client_config.clone();
            let fleet = fleet.clone();
            for (viewer_config, seed) in &viewers {
                let viewer = Viewer::new(
                    viewer_config.clone(),
                    app_config.clone(),
                    ChaCha8Rng::seed_from_u64(*seed),
                    viewer_stats.clone(),
                );
                tokio::task::spawn_local(viewer.run(SimNet, SimClock));
            }
            async move {
                let tasks: Vec<_> = devices
                    .into_iter()
                    .map(|(index, config, creds, seed)| {
                        let camera = Camera::new(
                            index,
                            config,
                            client_config.clone(),
                            creds,
                            ChaCha8Rng::seed_from_u64(seed),
                            fleet.clone(),
                        );
                        tokio::task::spawn_local(camera.run(SimNet, SimClock))
                    })
                    .collect();
                for t in tasks {
                    let _ = t.await;
                }
                Ok(())
            }
        });
    }

    let attacks =
        crate::attack::spawn_all(&mut sim, spec, &services, &app_config, &mut user_homes)?;

    // Links between regions are long; within a region they keep the 1-10 ms default.
    for (site_region, site) in &site_names {
        for (gw_region, gw) in &gateways {
            if site_region != gw_region {
                sim.set_link_latency(site.as_str(), gw.as_str(), CROSS_REGION_LATENCY);
            }
        }
    }

    let duration = spec.duration;
    sim.client("observer", async move {
        tokio::time::sleep(duration).await;
        Ok(())
    });
    // Step the simulation ourselves: faults are applied and the platform's hosts sampled
    // between steps, at simulated times.
    let mut faults: Vec<Fault> = spec.faults.clone();
    faults.sort_by_key(|f| f.at);
    let mut faults = std::collections::VecDeque::from(faults);
    let mut applied = Vec::new();
    let mut erased: Vec<UserId> = Vec::new();
    let mut monitor = Monitor::standard();
    let mut next_sample = Duration::ZERO;
    // Per gateway host: relay bytes in and out, gateway video bytes in, at the last sample.
    let mut last_bytes: BTreeMap<usize, (u64, u64, u64)> = BTreeMap::new();
    let epoch = Timestamp::from_secs(EPOCH_SECS);
    loop {
        let elapsed = sim.elapsed();
        let now = epoch.saturating_add(elapsed);
        while faults.front().is_some_and(|f| f.at <= elapsed) {
            let Some(fault) = faults.pop_front() else {
                break;
            };
            let hosts = |t: &str| spec.resolve_target(t).unwrap_or_default();
            match &fault.action {
                FaultAction::Crash(t) => {
                    for h in hosts(t) {
                        sim.crash(h.as_str());
                    }
                }
                FaultAction::Restart(t) => {
                    for h in hosts(t) {
                        sim.bounce(h.as_str());
                    }
                }
                FaultAction::DiskFull(t) | FaultAction::DiskFree(t) => {
                    let full = matches!(fault.action, FaultAction::DiskFull(_));
                    for h in hosts(t) {
                        if let Some(zone) = stores.get(&h) {
                            zone.disk.fault().set_full(full);
                        }
                    }
                }
                FaultAction::EraseAccount(username) => {
                    let mut records = Vec::new();
                    for (region, svc) in &services {
                        let mut svc = svc.borrow_mut();
                        let Some(id) = svc.accounts.find(username).cloned() else {
                            continue;
                        };
                        match svc.delete_account(&id, now) {
                            Ok(record) => {
                                erased.push(id);
                                records.push((region, record));
                            }
                            Err(e) => trace.record(now, format!("erasure refused: {e}")),
                        }
                    }
                    // Other regions drop what they learnt of the account (its
                    // directory entry) and any share or code it held there.
                    for (home, record) in &records {
                        for (_, svc) in services.iter().filter(|(r, _)| r != home) {
                            let mut svc = svc.borrow_mut();
                            svc.accounts.apply_erasure(record);
                            svc.registry.erase_user(&record.user_id, now);
                        }
                    }
                }
                FaultAction::Partition(a, b) | FaultAction::Heal(a, b) => {
                    let heal = matches!(fault.action, FaultAction::Heal(..));
                    for x in hosts(a) {
                        for y in hosts(b) {
                            if heal {
                                sim.repair(x.as_str(), y.as_str());
                            } else {
                                sim.partition(x.as_str(), y.as_str());
                            }
                        }
                    }
                }
            }
            trace.record(now, format!("fault {:?}", fault.action));
            applied.push((elapsed, fault.action));
        }
        if let Some(ota) = spec.ota.as_ref().filter(|o| elapsed >= o.start) {
            for (region, version) in std::mem::take(&mut rollouts) {
                if let Some(service) = services[&region].borrow_mut().ota.as_mut() {
                    match service.start_rollout(CAMERA_MODEL, version, ota.percent, now) {
                        Ok(_) => trace.record(
                            now,
                            format!("ota rollout {version} {}% in {region}", ota.percent),
                        ),
                        Err(e) => {
                            trace.record(now, format!("ota rollout refused in {region}: {e}"))
                        }
                    }
                }
            }
        }
        if elapsed >= next_sample {
            // A running host reports itself up, and its relay its traffic; a crashed
            // one reports nothing.
            let secs = MONITOR_INTERVAL.as_secs_f64();
            for (g, (_, name)) in gateways.iter().enumerate() {
                if !sim.is_host_running(name.as_str()) {
                    continue;
                }
                monitor.observe(Sample::new(name, "gateway", Metric::Up, 1.0, now));
                if let Some(disk) = stores.get(name).map(|z| &z.disk) {
                    // A full disk reads as full; otherwise what the replica holds of
                    // its quota.
                    let used = if disk.fault().is_full() {
                        1.0
                    } else {
                        disk.bytes_used() as f64 / STORE_DISK_BYTES as f64
                    };
                    monitor.observe(Sample::new(name, "store", Metric::DiskUsedRatio, used, now));
                }
                let core = relay_stats[g].borrow().core;
                let gateway_in = gateway_stats[g].borrow().video_bytes;
                let before = last_bytes.insert(g, (core.bytes_in, core.bytes_out, gateway_in));
                let (bin, bout, gin) =
                    before.unwrap_or((core.bytes_in, core.bytes_out, gateway_in));
                let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / secs;
                for (service, metric, value) in [
                    ("relay", Metric::Up, 1.0),
                    ("relay", Metric::BytesInPerSec, rate(core.bytes_in, bin)),
                    ("relay", Metric::BytesOutPerSec, rate(core.bytes_out, bout)),
                    ("gateway", Metric::BytesInPerSec, rate(gateway_in, gin)),
                ] {
                    monitor.observe(Sample::new(name, service, metric, value, now));
                }
            }
            for alert in monitor.evaluate(now) {
                trace.record(
                    now,
                    format!(
                        "alert {} on {} (began {})",
                        alert.kind, alert.host, alert.began
                    ),
                );
            }
            next_sample += MONITOR_INTERVAL;
        }
        if sim
            .step()
            .map_err(|e| WorldError::Simulation(e.to_string()))?
        {
            break;
        }
    }

    let mut gateways = GatewayStats::default();
    for s in &gateway_stats {
        let s = s.borrow();
        gateways.connections += s.connections;
        gateways.handshakes += s.handshakes;
        gateways.resumptions += s.resumptions;
        gateways.heartbeats += s.heartbeats;
        gateways.video_frames += s.video_frames;
        gateways.video_bytes += s.video_bytes;
        gateways
            .frame_latency_us
            .extend_from_slice(&s.frame_latency_us);
        for (k, v) in &s.failures {
            *gateways.failures.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &s.online {
            *gateways.online.entry(k.clone()).or_default() += v;
        }
    }
    let mut relay = RelayServiceStats::default();
    for r in &relay_stats {
        relay.add(&r.borrow());
    }
    let mut signaling = SignalingStats::default();
    for s in services.values() {
        signaling.add(s.borrow().stats());
    }
    let mut store = store_stats.borrow().clone();
    // Each invariant is named where it is checked; the store's counters keep the text.
    let mut invariants: Vec<Failure> = Vec::new();
    for (region, history) in &histories {
        store.leaders += history.leaders().len() as u64;
        if let Err(v) = check_one_leader_per_term(history) {
            invariants.push(Failure::new(
                "one-leader-per-term",
                format!("{region}: {v}"),
            ));
        }
        if let Err(v) = check_no_acked_write_lost(history) {
            invariants.push(Failure::new(
                "no-acked-write-lost",
                format!("{region}: {v}"),
            ));
        }
    }
    // Personal data: nothing of an erased user on any replica, and every user's
    // records only in their home region.
    let keyspaces: Vec<(&str, Region, Keyspace)> = stores
        .iter()
        .map(|(name, z)| (name.as_str(), z.region, z.replica.keyspace()))
        .collect();
    if let Err(v) = check_erased(keyspaces.iter().map(|(n, _, k)| (*n, k)), &erased) {
        invariants.push(Failure::new("erasure", v.to_string()));
    }
    if let Err(v) = check_residency(keyspaces.iter().map(|(n, r, k)| (*n, *r, k)), &user_homes) {
        invariants.push(Failure::new("residency", v.to_string()));
    }
    store
        .violations
        .extend(invariants.iter().map(|f| f.detail.clone()));
    let viewers = viewer_stats.borrow().clone();
    let attacks = attacks.finish(spec, &viewers, &mut invariants);
    let mut ota: Option<RolloutCounts> = None;
    for s in services.values() {
        if let Some(service) = &s.borrow().ota {
            for status in service.rollouts() {
                let total = ota.get_or_insert_with(RolloutCounts::default);
                let c = &status.counts;
                total.eligible += c.eligible;
                total.offered += c.offered;
                total.installed += c.installed;
                total.refused += c.refused;
                total.failed += c.failed;
                for (code, n) in &c.refusals {
                    *total.refusals.entry(*code).or_default() += n;
                }
            }
        }
    }
    let mut live = viewers.latency_us.clone();
    live.sort_unstable();
    let mut latencies = gateways.frame_latency_us.clone();
    latencies.sort_unstable();
    let fleet = fleet.borrow().clone();
    let mut online_by_region: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (index, region) in &homes {
        let entry = online_by_region.entry(region.clone()).or_default();
        entry.1 += 1;
        if fleet.online.contains(index) {
            entry.0 += 1;
        }
    }
    Ok(RunSummary {
        seed: spec.seed,
        cameras,
        cameras_online: fleet.online.len() as u64,
        online_by_region,
        simulated: spec.duration,
        latency_p50: percentile(&latencies, 50),
        latency_p99: percentile(&latencies, 99),
        fleet,
        gateways,
        live_latency_p50: percentile(&live, 50),
        live_latency_p99: percentile(&live, 99),
        viewers,
        signaling,
        relay,
        store,
        invariants,
        ota,
        attacks,
        alerts: monitor.alerts().to_vec(),
        faults: applied,
        trace_events: trace.len(),
        trace_hash: trace.hash_hex(),
    })
}

/// One check a run failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Which check: `liveness`, `one-leader-per-term`, `no-acked-write-lost`,
    /// `erasure`, `residency`, `no-credential-breach`, `no-cross-tenant-access` or
    /// `logins-during-attack`.
    pub check: &'static str,
    /// What was found.
    pub detail: String,
}

impl Failure {
    fn new(check: &'static str, detail: String) -> Self {
        Failure { check, detail }
    }
}

impl RunSummary {
    /// The checks this run failed (empty: it passed).
    pub fn failures(&self) -> Vec<Failure> {
        let mut out = Vec::new();
        if self.cameras_online < self.cameras {
            out.push(Failure::new(
                "liveness",
                format!(
                    "{}/{} cameras online at the end",
                    self.cameras_online, self.cameras
                ),
            ));
        }
        out.extend(self.invariants.iter().cloned());
        out
    }
}

/// One zone's store replica, its region and its disk.
struct ZoneStore {
    replica: Replica,
    region: Region,
    disk: MemBackend,
}

/// Registers `username` in the region with a strong random password and an enrolled
/// authenticator; returns the caller, the password and the authenticator's secret.
pub(crate) fn register_user(
    svc: &mut RegionServices,
    username: &str,
    now: Timestamp,
    rng: &mut ChaCha8Rng,
) -> Result<(Caller, SecretText, SecretText), WorldError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        WorldError::Invalid(format!("{what} {username}: {e}"))
    };
    let mut raw = [0u8; 16];
    rng.fill_bytes(&mut raw);
    let password: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let home = svc.region;
    let reg = svc
        .accounts
        .register(username, &password, home, now, rng)
        .map_err(|e| fail("registering", &e))?;
    let enrol = svc
        .accounts
        .begin_totp_enrolment(&reg.user_id, rng)
        .map_err(|e| fail("enrolling", &e))?;
    let secret = enrol.secret_base32().to_owned();
    let code = camproof_platform::accounts::Totp::from_base32(&secret, 6)
        .map_err(|e| fail("enrolling", &e))?
        .code_at(now);
    svc.accounts
        .confirm_totp(&reg.user_id, &code, now)
        .map_err(|e| fail("enrolling", &e))?;
    svc.persist_account(&reg.user_id);
    Ok((
        Caller::new(reg.user_id, home),
        SecretText::new(password),
        SecretText::new(secret),
    ))
}

/// Where logins through a region's edge appear to come from (its main city).
fn region_location(region: Region) -> GeoPoint {
    match region {
        Region::Cn => GeoPoint::new(31.23, 121.47),
        Region::Americas => GeoPoint::new(39.04, -77.49),
        Region::EuAfrica => GeoPoint::new(50.11, 8.68),
        Region::Apac => GeoPoint::new(1.35, 103.82),
    }
}

/// The `p`th percentile (nearest rank) of sorted microsecond values.
fn percentile(sorted: &[u64], p: u64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as u64).div_ceil(100).max(1) as usize;
    sorted.get(rank - 1).map(|us| Duration::from_micros(*us))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), Some(Duration::from_micros(50)));
        assert_eq!(percentile(&v, 99), Some(Duration::from_micros(99)));
        assert_eq!(percentile(&[7], 99), Some(Duration::from_micros(7)));
        assert_eq!(percentile(&[], 50), None);
    }
}
