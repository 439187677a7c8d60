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

use crate::checks;
use crate::router::RoutedNet;
use crate::tap::{KnownSecret, Leak, Tap, TappedSegment};
use camproof_net::{Clock, SimClock, SimNet};
use camproof_platform::accounts::{Accounts, AccountsConfig, GeoPoint, Region, UserId};
use camproof_platform::gateway::{Gateway, GatewayConfig, GatewayStats};
use camproof_platform::monitoring::{Alert, Metric, Monitor, Rule, Sample};
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
use camproof_protocol::cdp::APP_IDLE_TIMEOUT;
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
    /// What the wire tap does.
    pub wire: WireOptions,
    /// Bugs planted in monitoring and the relay for negative tests (none in a real run).
    pub world_bugs: WorldBugs,
    /// Attackers, each with its hosts and its time window.
    pub attacks: Vec<crate::attack::AttackSpec>,
    /// Bugs planted in accounts and registry for the attack invariants' negative tests.
    pub attack_bugs: crate::attack::AttackBugs,
}

/// Defects planted in the world's monitoring and relays, to show the checks catch them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorldBugs {
    /// The alert rules wait 5 minutes, not 30-60 s, before they fire (a hold given in
    /// the wrong unit).
    pub slow_alerts: bool,
    /// The viewer app sends its password in clear to its gateway before each sign-in.
    pub app_leaks_password: bool,
    /// The OTA services serve image parts from one byte past the offset asked for.
    pub ota_chunk_off_by_one: bool,
}

/// The wire tap's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireOptions {
    /// Scan every byte on the simulated wire for the run's passwords and keys.
    pub scan: bool,
    /// Hosts (or `region:<name>`) whose segments are kept for capture files.
    pub capture: Vec<String>,
}

impl Default for WireOptions {
    fn default() -> Self {
        WireOptions {
            scan: true,
            capture: Vec::new(),
        }
    }
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

/// How long a rollout runs before the end for `ota-rollout-complete` to be made: three
/// unanswered heartbeats to leave a dead connection, a reconnect and a download.
pub const OTA_SETTLE: Duration = Duration::from_secs(90);

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
    /// Traffic from the first target to the second is lost; the other way passes.
    PartitionOneway(String, String),
    /// Links between the two targets take this long (`None`: back to normal).
    Latency(String, String, Option<Duration>),
    /// Each message on a link between the two targets breaks the link with this chance,
    /// in parts per million (0: no loss): everything in flight on it is lost, and as
    /// turmoil's TCP does not retransmit, the connections on it stall until their ends
    /// give up on them.
    Loss(String, String, u32),
    /// Messages between the two targets are held, undelivered, until released.
    Hold(String, String),
    /// Held messages between the two targets are delivered and traffic flows again.
    Release(String, String),
    /// The site's uplink goes down: nothing passes between it and any gateway.
    Disconnect(String),
    /// The site's uplink is back.
    Reconnect(String),
    /// The cameras of the target sites read their clock this far off (ms, + is ahead).
    ClockSkew(String, i64),
    /// The relay process of the target zone hosts dies; the gateway keeps running.
    RelayCrash(String),
    /// The relay process of the target zone hosts starts again.
    RelayRestart(String),
}

impl FaultAction {
    /// The targets the fault names.
    pub fn targets(&self) -> Vec<&str> {
        match self {
            FaultAction::Crash(t)
            | FaultAction::Restart(t)
            | FaultAction::DiskFull(t)
            | FaultAction::DiskFree(t)
            | FaultAction::Disconnect(t)
            | FaultAction::Reconnect(t)
            | FaultAction::ClockSkew(t, _)
            | FaultAction::RelayCrash(t)
            | FaultAction::RelayRestart(t) => vec![t],
            FaultAction::Partition(a, b)
            | FaultAction::Heal(a, b)
            | FaultAction::PartitionOneway(a, b)
            | FaultAction::Latency(a, b, _)
            | FaultAction::Loss(a, b, _)
            | FaultAction::Hold(a, b)
            | FaultAction::Release(a, b) => vec![a, b],
            FaultAction::EraseAccount(_) => vec![],
        }
    }

    /// The kind of host the fault's targets must be, if it matters.
    pub fn target_kind(&self) -> Option<HostKind> {
        match self {
            FaultAction::DiskFull(_)
            | FaultAction::DiskFree(_)
            | FaultAction::RelayCrash(_)
            | FaultAction::RelayRestart(_) => Some(HostKind::Zone),
            FaultAction::Disconnect(_) | FaultAction::Reconnect(_) | FaultAction::ClockSkew(..) => {
                Some(HostKind::Site)
            }
            _ => None,
        }
    }
}

/// The two kinds of host in a world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// A platform zone host (`gw-<region>-<zone>`): gateway, relay and store replica.
    Zone,
    /// A customer site (`site-<region>-<n>`): cameras and the users' phones.
    Site,
}

/// The clock of one site's cameras: simulated time, plus the skew a fault sets.
#[derive(Debug, Clone, Default)]
pub struct SkewedClock {
    skew_ms: Rc<std::cell::Cell<i64>>,
}

impl Clock for SkewedClock {
    fn now(&self) -> Timestamp {
        let now = SimClock.now();
        let skew = self.skew_ms.get();
        let micros = now.as_micros() as i128 + i128::from(skew) * 1000;
        Timestamp::from_micros(u64::try_from(micros.max(0)).unwrap_or(u64::MAX))
    }
}

/// Each store replica's disk quota, for the disk metric.
pub const STORE_DISK_BYTES: u64 = 256 << 20;

/// How often the world's metrics pipeline samples the platform's hosts.
pub const MONITOR_INTERVAL: Duration = Duration::from_secs(5);

/// Viewers must have verified live frames within this window before the end of a run.
pub const STREAMS_WINDOW: Duration = Duration::from_secs(60);

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

    /// How many of the world's sites are in `region`.
    pub fn region_sites(&self, region: &str) -> u32 {
        (0..self.sites)
            .filter(|s| self.site_region(*s) == region)
            .count() as u32
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

    /// The hosts a fault target names: one host, every zone host of `region:<name>`, or
    /// every site of `sites:<region>` (`sites:all`); `None` if it names nothing here.
    pub fn resolve_target(&self, target: &str) -> Option<Vec<String>> {
        if let Some(region) = target.strip_prefix("sites:") {
            if region != "all" && !self.regions.iter().any(|r| r == region) {
                return None;
            }
            return Some(
                (0..self.sites)
                    .filter(|s| region == "all" || self.site_region(*s) == region)
                    .map(|s| self.site_names()[s as usize].clone())
                    .collect(),
            );
        }
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

    /// The kind of a host of this world, by name.
    pub fn host_kind(&self, host: &str) -> Option<HostKind> {
        if self.gateway_names().iter().any(|h| h == host) {
            Some(HostKind::Zone)
        } else if self.site_names().iter().any(|h| h == host) {
            Some(HostKind::Site)
        } else {
            None
        }
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
    /// Every check the run made, `liveness` first, in a fixed order.
    pub checks: Vec<&'static str>,
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
    /// The run sampled every [`MONITOR_INTERVAL`]: cameras online, frames, latency.
    pub timeline: Vec<TimelinePoint>,
    /// What the wire tap saw: segments, bytes, and secrets found in clear.
    pub wire: WireStats,
    /// Segments to and from the hosts of [`WireOptions::capture`], in wire order.
    pub captured: Vec<TappedSegment>,
    /// Host name of every simulated address, for capture files.
    pub hosts: BTreeMap<std::net::IpAddr, String>,
    /// Events in the trace.
    pub trace_events: u64,
    /// SHA-256 of the ordered trace.
    pub trace_hash: String,
}

/// What the wire tap saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WireStats {
    /// Whether every byte was scanned for the run's secrets.
    pub scanned: bool,
    /// Secrets the scan knew.
    pub secrets: u64,
    /// TCP segments seen.
    pub segments: u64,
    /// Payload bytes seen.
    pub bytes: u64,
    /// Secrets found in clear.
    pub leaks: Vec<Leak>,
}

/// The world at one sampling instant; counts are for the interval that ended there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimelinePoint {
    /// Simulated time since the start.
    pub at: Duration,
    /// Cameras with an established session.
    pub cameras_online: u64,
    /// Video frames that reached a gateway in the interval.
    pub frames: u64,
    /// Median camera-to-gateway latency of those frames.
    pub latency_p50: Option<Duration>,
    /// 99th-percentile camera-to-gateway latency of those frames.
    pub latency_p99: Option<Duration>,
    /// Live frames viewers verified end to end in the interval.
    pub live_frames: u64,
    /// Sign-ins of the world's users that succeeded in the interval.
    pub logins: u64,
    /// Sign-ins of the world's users that were refused in the interval.
    pub login_refusals: u64,
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
    // Everything that must never cross the wire in clear, for the tap's scan.
    let mut secrets: Vec<KnownSecret> = Vec::new();
    let mut relay_keys: BTreeMap<String, RelayKey> = BTreeMap::new();
    for region in &spec.regions {
        let r = region_of[region.as_str()];
        let accounts = Accounts::new(r, AccountsConfig::for_tests())
            .map_err(|e| WorldError::Invalid(format!("accounts: {e}")))?;
        let registry = Registry::new(r, RegistryConfig::default())
            .map_err(|e| WorldError::Invalid(format!("registry: {e}")))?;
        let mut key = [0u8; 32];
        setup_rng.fill_bytes(&mut key);
        secrets.push(KnownSecret {
            label: format!("relay grant key of {region}"),
            value: key.to_vec(),
        });
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
            service.plant_bugs(camproof_platform::ota::OtaBugs {
                chunk_off_by_one: spec.world_bugs.ota_chunk_off_by_one,
            });
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
    // Per zone host: whether its relay process is down (a `relay_crash` fault).
    let relay_down: Vec<Rc<std::cell::Cell<bool>>> =
        gateways.iter().map(|_| Rc::default()).collect();
    for (g, (region, name)) in gateways.iter().enumerate() {
        let mut server_config = ServerConfig::new(pki.server(name, g as u64));
        // Both ends of a session rekey on the same schedule (`camera.rekey_after`).
        if let Some(n) = spec.camera.rekey_after {
            server_config.rekey_after = n.max(1);
        }
        let server_config = Arc::new(server_config);
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
            app_idle_timeout: APP_IDLE_TIMEOUT,
        };
        let context = contexts[region].clone();
        let region_services = services[region].clone();
        let gateway_services = region_services.clone();
        let relay_key = relay_keys[region].clone();
        let stats = gateway_stats[g].clone();
        let relay_stats = relay_stats[g].clone();
        let relay_down = relay_down[g].clone();
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
            // The zone's relay runs beside its gateway as a process of its own: a host
            // crash takes both, a relay crash only the relay and its connections.
            let relay = RelaySupervisor {
                name: format!("relay@{host}"),
                key: relay_key.clone(),
                stats: relay_stats.clone(),
                trace: trace.clone(),
                down: relay_down.clone(),
            };
            async move {
                tokio::task::spawn_local(relay.run());
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
    let mut site_clocks: BTreeMap<String, SkewedClock> = BTreeMap::new();
    // Routers a rogue-firmware attack takes over; the other sites' cameras reach the
    // network directly.
    let routers = crate::attack::site_routers(spec);
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
        for (username, (caller, password, totp)) in &users {
            user_homes.insert(caller.user.as_str().to_owned(), caller.home);
            secrets.push(KnownSecret {
                label: format!("password of {username}"),
                value: password.expose().as_bytes().to_vec(),
            });
            secrets.push(KnownSecret {
                label: format!("TOTP secret of {username}"),
                value: totp.expose().as_bytes().to_vec(),
            });
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
                secrets.push(KnownSecret {
                    label: format!("pairing secret of camera {index}"),
                    value: pairing.expose_secret().to_vec(),
                });
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
                    leaks_password: spec.world_bugs.app_leaks_password,
                });
                (config, seeds.next_u64())
            })
            .collect();
        let site_name = spec.site_names()[site as usize].clone();
        site_names.push((region, site_name.clone()));
        let clock = SkewedClock::default();
        site_clocks.insert(site_name.clone(), clock.clone());
        let client_config = client_config.clone();
        let fleet = fleet.clone();
        let app_config = app_config.clone();
        let viewer_stats = viewer_stats.clone();
        let router = routers.get(&site_name).cloned();
        sim.host(site_name.as_str(), move || {
            let devices = devices.clone();
            let client_config = client_config.clone();
            let fleet = fleet.clone();
            let clock = clock.clone();
            let router = router.clone();
            if let Some(router) = &router {
                tokio::task::spawn_local(router.clone().run());
            }
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
                        match &router {
                            // Only the cameras sit behind the site's router.
                            Some(router) => tokio::task::spawn_local(
                                camera.run(RoutedNet::new(router.clone()), clock.clone()),
                            ),
                            None => tokio::task::spawn_local(camera.run(SimNet, clock.clone())),
                        }
                    })
                    .collect();
                for t in tasks {
                    let _ = t.await;
                }
                Ok(())
            }
        });
    }

    // Connections a replay attack records (fed by the tap below; idle without one).
    let recorder = crate::tap::FlowRecorder::shared();
    let attacks = crate::attack::spawn_all(
        &mut sim,
        spec,
        crate::attack::Surface {
            services: &services,
            contexts: &contexts,
            app_config: &app_config,
            recorder: &recorder,
            pki,
            routers: &routers,
        },
        &mut user_homes,
    )?;

    // Links between regions are long; within a region they keep the 1-10 ms default.
    for (site_region, site) in &site_names {
        for (gw_region, gw) in &gateways {
            if site_region != gw_region {
                sim.set_link_latency(site.as_str(), gw.as_str(), CROSS_REGION_LATENCY);
            }
        }
    }

    // The tap: every host named, the captured hosts' addresses, the secrets to scan for.
    let mut hosts: BTreeMap<std::net::IpAddr, String> = BTreeMap::new();
    for name in gateways
        .iter()
        .map(|(_, n)| n.clone())
        .chain(site_names.iter().map(|(_, n)| n.clone()))
    {
        hosts.insert(sim.lookup(name.as_str()), name);
    }
    let keep = spec
        .wire
        .capture
        .iter()
        .flat_map(|t| spec.resolve_target(t).unwrap_or_default())
        .map(|h| sim.lookup(h.as_str()))
        .collect();
    let secret_count = secrets.len() as u64;
    let mut tap = Tap::new(if spec.wire.scan { secrets } else { Vec::new() }, keep);
    tap.record_flows(recorder);
    for (addr, name) in &hosts {
        tap.name(*addr, name.clone());
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
    let mut monitor = if spec.world_bugs.slow_alerts {
        let hold = Duration::from_secs(300);
        Monitor::new(vec![
            Rule::service_not_running(Duration::from_secs(30), hold),
            Rule::high_disk(0.9, hold),
        ])
    } else {
        Monitor::standard()
    };
    let mut next_sample = Duration::ZERO;
    let monitor_interval = MONITOR_INTERVAL;
    // Per gateway host: relay bytes in and out, gateway video bytes in, at the last sample.
    let mut last_bytes: BTreeMap<usize, (u64, u64, u64)> = BTreeMap::new();
    let mut timeline: Vec<TimelinePoint> = Vec::new();
    let mut invariants: Vec<Failure> = Vec::new();
    // Per gateway: how many latency samples the previous point had already seen.
    let mut latency_seen: Vec<usize> = vec![0; gateways.len()];
    let mut viewer_seen = (0u64, 0u64, 0u64); // (frames verified, logins, refusals)
    let epoch = Timestamp::from_secs(EPOCH_SECS);
    loop {
        let elapsed = sim.elapsed();
        let now = epoch.saturating_add(elapsed);
        while faults.front().is_some_and(|f| f.at <= elapsed) {
            let Some(fault) = faults.pop_front() else {
                break;
            };
            let hosts = |t: &str| spec.resolve_target(t).unwrap_or_default();
            let host_region = |h: &str| {
                gateways
                    .iter()
                    .chain(site_names.iter())
                    .find(|(_, n)| n == h)
                    .map(|(r, _)| r.clone())
            };
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
                FaultAction::PartitionOneway(a, b) => {
                    for x in hosts(a) {
                        for y in hosts(b) {
                            sim.partition_oneway(x.as_str(), y.as_str());
                        }
                    }
                }
                FaultAction::Hold(a, b) | FaultAction::Release(a, b) => {
                    let release = matches!(fault.action, FaultAction::Release(..));
                    for x in hosts(a) {
                        for y in hosts(b) {
                            if release {
                                sim.release(x.as_str(), y.as_str());
                            } else {
                                sim.hold(x.as_str(), y.as_str());
                            }
                        }
                    }
                }
                FaultAction::Latency(a, b, latency) => {
                    for x in hosts(a) {
                        for y in hosts(b) {
                            let (x, y) = (x.as_str(), y.as_str());
                            match latency {
                                Some(l) => sim.set_link_latency(x, y, *l),
                                None if host_region(x) != host_region(y) => {
                                    sim.set_link_latency(x, y, CROSS_REGION_LATENCY)
                                }
                                None => {
                                    // Back to the builder's 1-10 ms.
                                    sim.set_link_latency(x, y, Duration::from_millis(1));
                                    sim.set_link_max_message_latency(
                                        x,
                                        y,
                                        Duration::from_millis(10),
                                    );
                                }
                            }
                        }
                    }
                }
                FaultAction::Loss(a, b, ppm) => {
                    for x in hosts(a) {
                        for y in hosts(b) {
                            let rate = f64::from(*ppm) / 1_000_000.0;
                            sim.set_link_fail_rate(x.as_str(), y.as_str(), rate);
                        }
                    }
                }
                FaultAction::Disconnect(t) | FaultAction::Reconnect(t) => {
                    let reconnect = matches!(fault.action, FaultAction::Reconnect(_));
                    for site in hosts(t) {
                        for (_, gw) in &gateways {
                            if reconnect {
                                sim.repair(site.as_str(), gw.as_str());
                            } else {
                                sim.partition(site.as_str(), gw.as_str());
                            }
                        }
                    }
                }
                FaultAction::ClockSkew(t, ms) => {
                    for site in hosts(t) {
                        if let Some(clock) = site_clocks.get(&site) {
                            clock.skew_ms.set(*ms);
                        }
                    }
                }
                FaultAction::RelayCrash(t) | FaultAction::RelayRestart(t) => {
                    let down = matches!(fault.action, FaultAction::RelayCrash(_));
                    for h in hosts(t) {
                        if let Some(g) = gateways.iter().position(|(_, n)| *n == h) {
                            relay_down[g].set(down);
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
            let secs = monitor_interval.as_secs_f64();
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
                let relay_up = !relay_down[g].get();
                let gateway_in = gateway_stats[g].borrow().video_bytes;
                let before = last_bytes.insert(g, (core.bytes_in, core.bytes_out, gateway_in));
                let (bin, bout, gin) =
                    before.unwrap_or((core.bytes_in, core.bytes_out, gateway_in));
                let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / secs;
                monitor.observe(Sample::new(
                    name,
                    "gateway",
                    Metric::BytesInPerSec,
                    rate(gateway_in, gin),
                    now,
                ));
                // A dead relay process reports nothing; its counters stand still.
                if relay_up {
                    for (metric, value) in [
                        (Metric::Up, 1.0),
                        (Metric::BytesInPerSec, rate(core.bytes_in, bin)),
                        (Metric::BytesOutPerSec, rate(core.bytes_out, bout)),
                    ] {
                        monitor.observe(Sample::new(name, "relay", metric, value, now));
                    }
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
            let mut interval: Vec<u64> = Vec::new();
            for (g, stats) in gateway_stats.iter().enumerate() {
                let stats = stats.borrow();
                let seen = latency_seen[g].min(stats.frame_latency_us.len());
                interval.extend_from_slice(&stats.frame_latency_us[seen..]);
                latency_seen[g] = stats.frame_latency_us.len();
            }
            interval.sort_unstable();
            let v = viewer_stats.borrow();
            let refusals: u64 = v.login_refusals.values().sum();
            let point = TimelinePoint {
                at: elapsed,
                cameras_online: fleet.borrow().online.len() as u64,
                frames: interval.len() as u64,
                latency_p50: percentile(&interval, 50),
                latency_p99: percentile(&interval, 99),
                live_frames: v.frames_verified - viewer_seen.0,
                logins: v.logins - viewer_seen.1,
                login_refusals: refusals - viewer_seen.2,
            };
            viewer_seen = (v.frames_verified, v.logins, refusals);
            drop(v);
            timeline.push(point);
            next_sample += monitor_interval;
        }
        if sim
            .step()
            .map_err(|e| WorldError::Simulation(e.to_string()))?
        {
            break;
        }
        tap.look(&sim, sim.elapsed());
    }
    let wire = WireStats {
        scanned: tap.scans(),
        secrets: if tap.scans() { secret_count } else { 0 },
        segments: tap.segments,
        bytes: tap.bytes,
        leaks: tap.leaks().to_vec(),
    };
    if let Some(leak) = wire.leaks.first() {
        invariants.push(Failure::new(
            "no-plaintext-secret",
            format!(
                "{} crossed the wire in clear from {} to {} at {:?} ({} findings)",
                leak.secret,
                leak.from,
                leak.to,
                leak.at,
                wire.leaks.len()
            ),
        ));
    }
    let captured = tap.into_kept();

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
    // Monitoring: every alert a fault causes fires within its deadline.
    let expected = checks::expected_alerts(&applied, spec.duration, |t| {
        spec.resolve_target(t).unwrap_or_default()
    });
    if let Err(v) = checks::check_alert_deadlines(&expected, monitor.alerts(), epoch) {
        invariants.push(Failure::new("alert-deadline", v));
    }
    // Live video: with people watching, frames reach them again after the faults.
    if spec.viewers.live_view
        && spec.viewers.per_site > 0
        && spec.duration >= STREAMS_WINDOW * 3 / 2
    {
        let from = spec.duration.saturating_sub(STREAMS_WINDOW);
        let recent: u64 = timeline
            .iter()
            .filter(|p| p.at > from)
            .map(|p| p.live_frames)
            .sum();
        if recent == 0 {
            invariants.push(Failure::new(
                "streams-resume",
                format!(
                    "no viewer verified a live frame in the last {} of the run",
                    humantime::format_duration(STREAMS_WINDOW)
                ),
            ));
        }
    }
    // Relays: no frame waited beyond the platform's limit.
    let held = Duration::from_micros(relay.max_held_us);
    if let Err(v) = checks::check_relay_hold(held, RelayConfig::default().max_age) {
        invariants.push(Failure::new("relay-hold-limit", v));
    }
    store
        .violations
        .extend(invariants.iter().map(|f| f.detail.clone()));
    let viewers = viewer_stats.borrow().clone();
    let attacks = attacks.finish(spec, &viewers, &fleet.borrow(), &mut invariants);
    let mut checks: Vec<&'static str> = vec![
        "liveness",
        "one-leader-per-term",
        "no-acked-write-lost",
        "erasure",
        "residency",
        "alert-deadline",
        "relay-hold-limit",
    ];
    if spec.viewers.live_view
        && spec.viewers.per_site > 0
        && spec.duration >= STREAMS_WINDOW * 3 / 2
    {
        checks.push("streams-resume");
    }
    if wire.scanned {
        checks.push("no-plaintext-secret");
    }
    for check in spec.attacks.iter().flat_map(|a| a.kind.checks()) {
        if !checks.contains(check) {
            checks.push(check);
        }
    }
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
    // The rollout: every camera it covers runs the release at the end, and no camera
    // refused the vendor's image.
    if let Some(o) = spec
        .ota
        .as_ref()
        .filter(|o| spec.duration >= o.start.saturating_add(OTA_SETTLE))
    {
        checks.push("ota-rollout-complete");
        let none = RolloutCounts::default();
        let counts = ota.as_ref().unwrap_or(&none);
        let running = &fleet.borrow().firmware;
        if let Err(v) = checks::check_rollout(o, spec.cameras(), counts, running) {
            invariants.push(Failure::new("ota-rollout-complete", v));
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
        checks,
        ota,
        attacks,
        alerts: monitor.alerts().to_vec(),
        faults: applied,
        timeline,
        wire,
        captured,
        hosts,
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

/// Runs a zone's relay as its own process: up until a `relay_crash`, when the relay and
/// every connection it holds go at once, and up again at `relay_restart`.
struct RelaySupervisor {
    name: String,
    key: RelayKey,
    stats: Rc<RefCell<RelayServiceStats>>,
    trace: Trace,
    down: Rc<std::cell::Cell<bool>>,
}

impl RelaySupervisor {
    /// How often the supervisor looks whether its process should change state.
    const POLL: Duration = Duration::from_millis(100);

    async fn run(self) {
        loop {
            while self.down.get() {
                tokio::time::sleep(Self::POLL).await;
            }
            let relay = RelayService::new(
                self.name.clone(),
                self.key.clone(),
                RelayConfig::default(),
                self.stats.clone(),
                self.trace.clone(),
                SimClock,
            );
            // The relay's tasks live in a set of their own, so dropping the set kills
            // the process: its listener and every viewer and camera connection.
            let process = tokio::task::LocalSet::new();
            let down = self.down.clone();
            let crashed = async move {
                while !down.get() {
                    tokio::time::sleep(Self::POLL).await;
                }
            };
            tokio::select! {
                _ = process.run_until(async move {
                    let listen = format!("0.0.0.0:{RELAY_PORT}");
                    let _ = relay.serve(SimNet, &listen).await;
                }) => {
                    // The relay stopped on its own (it could not bind): try again later.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                _ = crashed => {}
            }
            drop(process);
        }
    }
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
