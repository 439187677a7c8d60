//! What a world is made of, as data: the regions, sites, cameras, users, faults and
//! attacks of one run, and the names and constants every part of the world shares.
//!
//! A [`WorldSpec`] is a description anyone may edit (a scenario file, an override, the
//! shrinker, a test); [`crate::plan::Plan`] is a spec that passed every check, and is
//! what a world is built from.

use std::time::Duration;

use camproof_simulated_devices::camera::CameraConfig;

use camproof_platform::accounts::AccountsBugs;
use camproof_platform::registry::RegistryBugs;
use camproof_platform::store::{CorruptAt, CorruptRecord};
use camproof_protocol::cdp::ServerFlaws;

use crate::check_id::CheckId;

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
    pub attacks: Vec<AttackSpec>,
    /// Bugs planted in accounts and registry for the attack invariants' negative tests.
    pub attack_bugs: AttackBugs,
    /// Settings of the reference platform (`[platform]`).
    pub platform: PlatformOptions,
}

/// Settings of the reference platform a scenario may change (`[platform]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlatformOptions {
    /// Capacity of each partition (device, app) of every region's handshake nonce cache;
    /// `None`: the platform's default ([`DEFAULT_NONCE_CAPACITY`]). A smaller cache lets
    /// a simulated hello flood reach what fills the default one at an affordable rate.
    pub nonce_cache: Option<u32>,
}

impl PlatformOptions {
    /// The nonce cache capacity (per partition) these settings give.
    pub fn nonce_capacity(&self) -> u64 {
        self.nonce_cache
            .map_or(DEFAULT_NONCE_CAPACITY as u64, u64::from)
    }
}

/// Largest `[platform] nonce_cache` a scenario may set.
pub const MAX_NONCE_CACHE: u32 = 1_000_000;

pub use camproof_protocol::cdp::DEFAULT_NONCE_CAPACITY;

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
    /// Gateways, relays and store replicas stop accepting at their first accept error
    /// (out of descriptors), as they did before admission control.
    pub accept_error_stops: bool,
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
    /// The store disks of the targets have room again and take writes (after
    /// `disk_full` or `disk_readonly`; the replica needs a restart).
    DiskFree(String),
    /// The store disks of the targets refuse every write (a read-only file system):
    /// the replica stops at its first write, as with a full disk.
    DiskReadOnly(String),
    /// One bit of a record of the targets' store logs flips, in the given part of the
    /// record picked; the replica sees it when it next starts (a `restart` after it).
    Corrupt(String, CorruptAt, CorruptRecord),
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
    /// The target zone hosts may hold at most this many accepted connections (`None`:
    /// no limit again); past it their accepts fail as a process out of file
    /// descriptors does (EMFILE).
    FdLimit(String, Option<u32>),
}

impl FaultAction {
    /// The targets the fault names.
    pub fn targets(&self) -> Vec<&str> {
        match self {
            FaultAction::Crash(t)
            | FaultAction::Restart(t)
            | FaultAction::DiskFull(t)
            | FaultAction::DiskFree(t)
            | FaultAction::DiskReadOnly(t)
            | FaultAction::Corrupt(t, ..)
            | FaultAction::Disconnect(t)
            | FaultAction::Reconnect(t)
            | FaultAction::ClockSkew(t, _)
            | FaultAction::RelayCrash(t)
            | FaultAction::RelayRestart(t)
            | FaultAction::FdLimit(t, _) => vec![t],
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
            | FaultAction::DiskReadOnly(_)
            | FaultAction::Corrupt(..)
            | FaultAction::RelayCrash(_)
            | FaultAction::RelayRestart(_)
            | FaultAction::FdLimit(..) => Some(HostKind::Zone),
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

/// Each store replica's disk quota, for the disk metric.
pub const STORE_DISK_BYTES: u64 = 256 << 20;

/// How often the world's metrics pipeline samples the platform's hosts.
pub const MONITOR_INTERVAL: Duration = Duration::from_secs(5);

/// Viewers must have verified live frames within this window before the end of a run.
pub const STREAMS_WINDOW: Duration = Duration::from_secs(60);

/// The default simulator step.
pub const DEFAULT_TICK: Duration = Duration::from_millis(1);

impl WorldSpec {
    /// A world of `sites` sites with `cameras_per_site` cameras each, over `regions`
    /// with three zones each, run for `duration`; everything else at its default: the
    /// firmware's settings, nobody watching, no fault, rollout, attack or planted bug,
    /// the wire scanned, seed 0.
    pub fn new(regions: &[&str], sites: u32, cameras_per_site: u32, duration: Duration) -> Self {
        WorldSpec {
            seed: 0,
            regions: regions.iter().map(|r| r.to_string()).collect(),
            zones_per_region: 3,
            sites,
            cameras_per_site,
            duration,
            camera: CameraConfig::default(),
            tick: DEFAULT_TICK,
            faults: Vec::new(),
            viewers: ViewerSpec::default(),
            ota: None,
            store_bugs: Default::default(),
            wire: WireOptions::default(),
            world_bugs: WorldBugs::default(),
            attacks: Vec::new(),
            attack_bugs: AttackBugs::default(),
            platform: PlatformOptions::default(),
        }
    }

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

/// What an attacker does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AttackKind {
    /// Leaked username/password pairs tried against the region's app sign-in.
    CredentialStuffing,
    /// Compromised hosts flooding the region's gateways and relays.
    Botnet,
    /// A signed-in user probing other tenants' devices and streams.
    CrossTenant,
    /// An eavesdropper replaying recorded camera and app connections at the gateways.
    Replay,
    /// An insider's firmware server that hijacked site routers send cameras to.
    RogueFirmware,
    /// Parties without credentials flooding the region's gateways with fresh hellos.
    HelloFlood,
}

impl AttackKind {
    /// Every kind, in order.
    pub const ALL: [AttackKind; 6] = [
        AttackKind::CredentialStuffing,
        AttackKind::Botnet,
        AttackKind::CrossTenant,
        AttackKind::Replay,
        AttackKind::RogueFirmware,
        AttackKind::HelloFlood,
    ];

    /// The name a scenario file uses (`credential-stuffing`, `botnet`, `cross-tenant`,
    /// `replay`, `rogue-firmware`, `hello-flood`).
    pub fn name(self) -> &'static str {
        match self {
            AttackKind::CredentialStuffing => "credential-stuffing",
            AttackKind::Botnet => "botnet",
            AttackKind::CrossTenant => "cross-tenant",
            AttackKind::Replay => "replay",
            AttackKind::RogueFirmware => "rogue-firmware",
            AttackKind::HelloFlood => "hello-flood",
        }
    }

    /// The checks a run with this attack makes.
    pub fn checks(self) -> &'static [CheckId] {
        match self {
            AttackKind::CredentialStuffing => {
                &[CheckId::NoCredentialBreach, CheckId::LoginsDuringAttack]
            }
            AttackKind::Botnet => &[CheckId::LoginsDuringAttack],
            AttackKind::CrossTenant => &[CheckId::NoCrossTenantAccess, CheckId::LoginsDuringAttack],
            AttackKind::Replay => &[CheckId::NoReplayAccepted, CheckId::LoginsDuringAttack],
            AttackKind::RogueFirmware => &[CheckId::NoRogueFirmware, CheckId::LoginsDuringAttack],
            AttackKind::HelloFlood => &[CheckId::NoUnauthenticatedLockout],
        }
    }

    /// The kind a scenario file names, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        AttackKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Prefix of the kind's host names (`atk-stuffer`, `atk-bot`, `atk-prober`,
    /// `atk-replay`, `atk-rogue`, `atk-flood`).
    pub fn host_prefix(self) -> &'static str {
        match self {
            AttackKind::CredentialStuffing => "atk-stuffer",
            AttackKind::Botnet => "atk-bot",
            AttackKind::CrossTenant => "atk-prober",
            AttackKind::Replay => "atk-replay",
            AttackKind::RogueFirmware => "atk-rogue",
            AttackKind::HelloFlood => "atk-flood",
        }
    }

    /// Attacker hosts when the scenario does not say.
    pub fn default_hosts(self) -> u32 {
        match self {
            AttackKind::CredentialStuffing => 8,
            AttackKind::Botnet => 4,
            AttackKind::CrossTenant => 1,
            AttackKind::Replay => 1,
            AttackKind::RogueFirmware => 1,
            AttackKind::HelloFlood => 2,
        }
    }

    /// Attempts per second (all hosts together) when the scenario does not say.
    pub fn default_rate(self) -> u32 {
        match self {
            AttackKind::CredentialStuffing => 50,
            AttackKind::Botnet => 100,
            AttackKind::CrossTenant => 5,
            AttackKind::Replay => 20,
            // The rogue server answers; it does not send at a rate.
            AttackKind::RogueFirmware => 1,
            // What fills a cache of the default 100,000 randoms within a minute.
            AttackKind::HelloFlood => 2_000,
        }
    }
}

/// Leaked pairs a credential stuffer tries when the scenario does not say.
pub const DEFAULT_LEAKED: u32 = 2_000;

/// One attack: who, where, when and how hard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttackSpec {
    /// What the attackers do.
    pub kind: AttackKind,
    /// The region whose gateways and relays they attack.
    pub region: String,
    /// When they start (simulated time since the start of the run).
    pub start: Duration,
    /// When they stop.
    pub stop: Duration,
    /// Attacker hosts, each with its own address.
    pub hosts: u32,
    /// Attempts per second, all hosts together.
    pub rate: u32,
    /// Leaked username/password pairs (credential stuffing only).
    pub leaked: u32,
    /// Sites of the region whose routers the attacker takes, the region's first ones
    /// (rogue firmware: 1 to the region's sites; replay: where it alters the gateway
    /// sessions of cameras, 0 for none, any larger number meaning all of them, the
    /// default; other kinds: 1, unused).
    pub sites: u32,
}

impl AttackSpec {
    /// An attack of `kind` on `region` from `start` to `stop` with the kind's defaults.
    pub fn new(kind: AttackKind, region: &str, start: Duration, stop: Duration) -> Self {
        AttackSpec {
            kind,
            region: region.to_owned(),
            start,
            stop,
            hosts: kind.default_hosts(),
            rate: kind.default_rate(),
            leaked: DEFAULT_LEAKED,
            // A replayer is on the path of every site of its region (`take` caps it).
            sites: if kind == AttackKind::Replay {
                u32::MAX
            } else {
                1
            },
        }
    }
}

/// Defects planted in the platform for the attack invariants' negative tests (all off
/// in a real run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttackBugs {
    /// Defects of every region's accounts service.
    pub accounts: AccountsBugs,
    /// Defects of every region's device registry.
    pub registry: RegistryBugs,
    /// Defects of every region's CDP/1 endpoint state (nonce cache, ticket store).
    pub server: ServerFlaws,
}

/// The versions of the rogue images, by kind (none of them is ever rolled out).
pub const ROGUE_VERSIONS: [(&str, &str); 4] = [
    ("tampered", "2.0.0"),
    ("unsigned", "6.6.6"),
    ("downgrade", "0.9.0"),
    ("wrong-model", "1.2.0"),
];

/// The kind of rogue image that claims `version` (as the firmware writes it), if any.
pub fn rogue_kind(version: &str) -> Option<&'static str> {
    ROGUE_VERSIONS
        .iter()
        .find(|(_, v)| *v == version)
        .map(|(kind, _)| *kind)
}
