//! Scenario files: a TOML description of a world and how long to run it.
//!
//! Two stages, as in ripgrep: [`ScenarioFile`] mirrors the file (unknown keys refused),
//! then [`Scenario::parse`] checks values and turns it into a [`WorldSpec`]. Errors name
//! the file, the line and what to change.
//!
//! ```toml
//! name = "smoke"
//! duration = "2m"
//!
//! [world]
//! regions = ["eu-africa", "apac"]
//! zones_per_region = 3
//! sites = 10
//! cameras_per_site = 30
//!
//! [camera]
//! heartbeat = "20s"
//! fps = 10
//! bitrate_kbps = 256
//! gop = 25
//! ```

use std::time::Duration;

use camproof_platform::store::{CorruptAt, CorruptRecord};
use camproof_simulated_devices::camera::CameraConfig;
use serde::Deserialize;
use thiserror::Error;

use crate::plan::{Plan, PlanError, Subject};
use crate::spec::{AttackKind, AttackSpec, Fault, FaultAction, OtaSpec, ViewerSpec, WorldSpec};

/// The file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Short name, used in reports and reproduction commands.
    pub name: String,
    /// One line saying what the scenario shows.
    #[serde(default)]
    pub description: String,
    /// Simulated time to run (`"90s"`, `"10m"`).
    pub duration: String,
    /// The world.
    pub world: WorldSection,
    /// Camera firmware settings.
    #[serde(default)]
    pub camera: CameraSection,
    /// Users with the viewer app.
    #[serde(default)]
    pub viewers: ViewersSection,
    /// A firmware rollout.
    pub ota: Option<OtaSection>,
    /// The fault timeline.
    #[serde(default, rename = "fault")]
    pub faults: Vec<FaultSection>,
    /// Attackers, each a set of simulated hosts active in a time window.
    #[serde(default, rename = "attack")]
    pub attacks: Vec<AttackSection>,
    /// Settings of the reference platform.
    #[serde(default)]
    pub platform: PlatformSection,
}

/// `[platform]`: settings of the reference platform.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformSection {
    /// Capacity of each partition (device, app) of every region's handshake nonce cache
    /// (default 100,000): smaller lets a simulated hello flood fill it at an affordable
    /// rate.
    pub nonce_cache: Option<toml::Spanned<u32>>,
}

/// One `[[attack]]`: attackers of one kind on one region, from `start` to `stop`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackSection {
    /// `"credential-stuffing"`, `"botnet"` or `"cross-tenant"`.
    pub kind: toml::Spanned<String>,
    /// The region attacked (its gateways and relays).
    pub region: toml::Spanned<String>,
    /// When the attackers start (`"30s"`).
    pub start: toml::Spanned<String>,
    /// When they stop (`"90s"`; at most the run's duration).
    pub stop: toml::Spanned<String>,
    /// Attacker hosts (default: 8 stuffers, 4 bots, 1 prober).
    pub hosts: Option<toml::Spanned<u32>>,
    /// Attempts per second, all hosts together (default: 50, 100, 5).
    pub rate: Option<toml::Spanned<u32>>,
    /// Leaked username/password pairs (credential stuffing only; default 2000).
    pub leaked: Option<toml::Spanned<u32>>,
    /// Sites of the region whose routers the attacker takes, the region's first sites
    /// (rogue firmware: default 1; replay: where it alters cameras' gateway sessions,
    /// default all, 0 for none).
    pub sites: Option<toml::Spanned<u32>>,
}

/// `[ota]`: a vendor-signed release rolled out during the run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtaSection {
    /// The new version (cameras boot with 1.0.0), e.g. `"1.1.0"`.
    pub version: String,
    /// Rollout percentage (1-100).
    pub percent: u8,
    /// When the rollout starts (`"20s"`).
    pub start: String,
    /// Image size in KiB (default 256).
    pub image_kib: Option<u32>,
}

/// `[viewers]`: every site belongs to one customer account; its family watches.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewersSection {
    /// Viewer apps per site, all signed in to the site's account (0: none).
    pub per_site: Option<u32>,
    /// How long one live view is watched (`"30s"`).
    pub watch: Option<String>,
    /// Pause between two views (`"10s"`).
    pub pause: Option<String>,
    /// Whether users open live views (default true; false: sign-in, listing and
    /// commands only).
    pub live_view: Option<bool>,
}

/// One `[[fault]]`: a time and exactly one action.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSection {
    /// Simulated time since the start (`"30s"`).
    pub at: toml::Spanned<String>,
    /// Crash this host (or `region:<name>`: all its gateways).
    pub crash: Option<toml::Spanned<String>>,
    /// Restart this host.
    pub restart: Option<toml::Spanned<String>>,
    /// Cut all traffic between two targets.
    pub partition: Option<toml::Spanned<Vec<String>>>,
    /// Let traffic between two targets pass again.
    pub heal: Option<toml::Spanned<Vec<String>>>,
    /// The user deletes their account (`"user0@site3.example"`): erased everywhere,
    /// store replicas included.
    pub erase_account: Option<toml::Spanned<String>>,
    /// The store disk of a zone host (or every zone of `region:<name>`) fills up.
    pub disk_full: Option<toml::Spanned<String>>,
    /// The store disk has room again (restart the host to bring the replica back).
    pub disk_free: Option<toml::Spanned<String>>,
    /// The store disk of a zone host (or every zone of `region:<name>`) refuses writes.
    pub disk_readonly: Option<toml::Spanned<String>>,
    /// Flip a bit in the store log of a zone host (or of `region:<name>`'s zones), in
    /// the part `offset` names; seen when the replica next starts.
    pub corrupt: Option<toml::Spanned<String>>,
    /// With `corrupt`: `"payload"`, `"length"` or `"header"` of the record.
    pub offset: Option<toml::Spanned<String>>,
    /// With `corrupt`: which record, `"first"` (the default), `"middle"` or `"last"`.
    pub record: Option<toml::Spanned<String>>,
    /// Lose traffic from the first target to the second only: `["from", "to"]`.
    pub partition_oneway: Option<toml::Spanned<Vec<String>>>,
    /// Links between two targets take this long: `["a", "b", "800ms"]`; `"normal"`
    /// restores the world's latency.
    pub latency: Option<toml::Spanned<Vec<String>>>,
    /// Lose messages between two targets: `["a", "b", "0.05%"]`, the chance that a
    /// message breaks its link (what is in flight on it is lost); `"none"` stops it.
    pub loss: Option<toml::Spanned<Vec<String>>>,
    /// Hold every message between two targets, undelivered, until `release`.
    pub hold: Option<toml::Spanned<Vec<String>>>,
    /// Deliver what was held between two targets and let traffic flow again.
    pub release: Option<toml::Spanned<Vec<String>>>,
    /// A site (or `sites:<region>`) loses its uplink to every gateway.
    pub disconnect: Option<toml::Spanned<String>>,
    /// The site's uplink is back.
    pub reconnect: Option<toml::Spanned<String>>,
    /// The cameras of a site read their clock off: `["site-apac-3", "+45s"]` (`"0s"`: right).
    pub clock_skew: Option<toml::Spanned<Vec<String>>>,
    /// The relay process of a zone host (or `region:<name>`) dies; its gateway runs on.
    pub relay_crash: Option<toml::Spanned<String>>,
    /// The relay process starts again.
    pub relay_restart: Option<toml::Spanned<String>>,
    /// Sites reboot again and again: `{ target = "sites:apac", times = 3, every = "10s" }`.
    pub reboot_storm: Option<toml::Spanned<RebootStorm>>,
    /// A zone host (or `region:<name>`) may hold at most this many accepted
    /// connections: `["gw-apac-1", "20"]`; `"none"` lifts the limit.
    pub fd_limit: Option<toml::Spanned<Vec<String>>>,
}

/// A reboot storm: every site of `target` restarts `times` times, `every` apart.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RebootStorm {
    /// A site, or `sites:<region>`, or `sites:all`.
    pub target: String,
    /// How many reboots (1-100).
    pub times: u32,
    /// The time between two reboots (`"10s"`).
    pub every: String,
}

/// `[world]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldSection {
    /// Regions (default: all four).
    #[serde(default = "default_regions")]
    pub regions: Vec<String>,
    /// Availability zones per region (one gateway each).
    #[serde(default = "default_zones")]
    pub zones_per_region: u32,
    /// Customer sites (simulated hosts).
    pub sites: u32,
    /// Cameras per site.
    pub cameras_per_site: u32,
}

fn default_zones() -> u32 {
    3
}

fn default_regions() -> Vec<String> {
    crate::spec::REGIONS.iter().map(|r| r.to_string()).collect()
}

/// `[camera]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSection {
    /// Heartbeat interval (`"20s"`).
    pub heartbeat: Option<String>,
    /// Video frames per second (0: heartbeats only).
    pub fps: Option<u32>,
    /// Average video bitrate in kbit/s.
    pub bitrate_kbps: Option<u64>,
    /// Frames per group of pictures.
    pub gop: Option<u32>,
    /// Records either end of a camera's gateway session sends under one key before a
    /// key update (default 100000).
    pub rekey_after: Option<u64>,
}

/// A checked scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name.
    pub name: String,
    /// What it shows.
    pub description: String,
    /// The world to build (seed 0 until the caller sets one).
    pub world: WorldSpec,
    /// Where its faults and attacks are written, for errors about them.
    pub source: SourceLines,
    /// What `--allow-truncate` dropped from the file, each `file:line: what (why)`;
    /// empty when nothing was.
    pub dropped: Vec<String>,
}

/// Two scenarios are the same when they describe the same world by the same name; where
/// each was written does not matter (a scenario read back from its `to_toml` is equal).
impl PartialEq for Scenario {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.description == other.description
            && self.world == other.world
    }
}

/// Where a scenario's faults and attacks are written: the file and the line of each (by
/// index in the world's lists); empty for a scenario built in code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceLines {
    /// The file as given.
    pub file: String,
    /// The line of each fault.
    pub faults: Vec<usize>,
    /// The line of each attack.
    pub attacks: Vec<usize>,
}

impl SourceLines {
    /// `file:line` of fault `i`, or `fault i+1` when the line is not known.
    pub fn fault(&self, i: usize) -> String {
        self.faults
            .get(i)
            .map_or(format!("fault {}", i + 1), |l| format!("{}:{l}", self.file))
    }

    /// `file:line` of attack `i`, or `attack i+1` when the line is not known.
    pub fn attack(&self, i: usize) -> String {
        self.attacks
            .get(i)
            .map_or(format!("attack {}", i + 1), |l| {
                format!("{}:{l}", self.file)
            })
    }
}

/// Why a scenario file was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The TOML does not parse or does not match the format.
    #[error("{file}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A fault names something that does not exist or cannot happen.
    #[error("{file}:{line}: {message}")]
    Fault {
        /// The file.
        file: String,
        /// The line of the offending value.
        line: usize,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// An attack names something that does not exist, or a value out of range.
    #[error("{file}:{line}: {message}")]
    Attack {
        /// The file.
        file: String,
        /// The line of the offending value.
        line: usize,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// A value is out of range or malformed.
    #[error("{file}:{line}: `{key}` = {value}: {hint}")]
    Value {
        /// The file.
        file: String,
        /// The line of the key (of its section, or 1, when the file leaves it out).
        line: usize,
        /// The offending key.
        key: &'static str,
        /// The offending value.
        value: String,
        /// What to write instead.
        hint: String,
    },
}

/// Most simulated hosts a world may have (defined by the plan).
pub use crate::plan::MAX_HOSTS;

/// A scenario file being read: its name and text, for errors with a line.
struct Reader<'a> {
    file: &'a str,
    text: &'a str,
}

impl Reader<'_> {
    /// A malformed value of `key`.
    fn value(&self, key: &'static str, value: String, hint: &str) -> ScenarioError {
        ScenarioError::Value {
            file: self.file.to_string(),
            line: key_line(self.text, key),
            key,
            value,
            hint: hint.to_string(),
        }
    }

    /// A malformed fault, at the value `span` covers.
    fn fault(&self, span: std::ops::Range<usize>, message: String) -> ScenarioError {
        ScenarioError::Fault {
            file: self.file.to_string(),
            line: line_of(self.text, span.start),
            message,
        }
    }

    /// A malformed attack, at the value `span` covers.
    fn attack(&self, span: std::ops::Range<usize>, message: String) -> ScenarioError {
        ScenarioError::Attack {
            file: self.file.to_string(),
            line: line_of(self.text, span.start),
            message,
        }
    }

    /// A duration at `key`, malformed unless it parses.
    fn duration(
        &self,
        key: &'static str,
        text: &str,
        hint: &str,
    ) -> Result<Duration, ScenarioError> {
        parse_duration(text).ok_or_else(|| self.value(key, format!("{text:?}"), hint))
    }
}

impl Scenario {
    /// Parses the TOML text of `file` and checks it as a [`Plan`] would: every value in
    /// range, every name it uses present in its world.
    pub fn parse(file: &str, text: &str) -> Result<Self, ScenarioError> {
        let raw: ScenarioFile = toml::from_str(text).map_err(|e| ScenarioError::Syntax {
            file: file.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let r = Reader { file, text };
        let duration = r.duration(
            "duration",
            &raw.duration,
            "a positive duration such as \"90s\" or \"10m\"",
        )?;
        let mut world = WorldSpec {
            seed: 0,
            ota: read_ota(&r, raw.ota.as_ref())?,
            store_bugs: Default::default(),
            wire: Default::default(),
            world_bugs: Default::default(),
            attacks: Vec::new(),
            attack_bugs: Default::default(),
            platform: read_platform(&r, &raw.platform)?,
            viewers: read_viewers(&r, &raw.viewers)?,
            regions: raw.world.regions.clone(),
            zones_per_region: raw.world.zones_per_region,
            sites: raw.world.sites,
            cameras_per_site: raw.world.cameras_per_site,
            duration,
            camera: read_camera(&r, &raw.camera)?,
            tick: crate::spec::DEFAULT_TICK,
            faults: Vec::new(),
        };
        // The world's own values first: faults and attacks name its hosts and regions.
        let bare = WorldSpec {
            faults: Vec::new(),
            attacks: Vec::new(),
            ..world.clone()
        };
        Plan::new(bare).map_err(|e| locate(&r, &raw, &[], e))?;
        // The line of each fault's action, by index in `world.faults` (a reboot storm is
        // several faults on one line).
        let mut fault_lines = Vec::new();
        for f in &raw.faults {
            for fault in read_fault(&r, f)? {
                fault_lines.push(fault.0);
                world.faults.push(fault.1);
            }
        }
        let mut attack_lines = Vec::new();
        for a in &raw.attacks {
            let attack = read_attack(&r, a, &world)?;
            attack_lines.push(line_of(text, a.kind.span().start));
            world.attacks.push(attack);
        }
        let plan = Plan::new(world).map_err(|e| locate(&r, &raw, &fault_lines, e))?;
        Ok(Scenario {
            name: raw.name,
            description: raw.description,
            world: plan.into_spec(),
            source: SourceLines {
                file: file.to_string(),
                faults: fault_lines,
                attacks: attack_lines,
            },
            dropped: Vec::new(),
        })
    }
}

/// A plan's error as a scenario file's: with the line of what it is about.
fn locate(
    r: &Reader<'_>,
    raw: &ScenarioFile,
    fault_lines: &[usize],
    e: PlanError,
) -> ScenarioError {
    match e.subject {
        Subject::Key(key) => ScenarioError::Value {
            file: r.file.to_string(),
            line: key_line(r.text, key),
            key,
            value: e.value,
            hint: e.message,
        },
        Subject::Fault(i) => ScenarioError::Fault {
            file: r.file.to_string(),
            line: fault_lines.get(i).copied().unwrap_or(1),
            message: e.message,
        },
        Subject::Attack(i, key) => {
            let line = raw.attacks.get(i).map_or(1, |a| {
                let span = match key {
                    "region" => a.region.span(),
                    "start" => a.start.span(),
                    "stop" => a.stop.span(),
                    "hosts" => a.hosts.as_ref().map_or(a.kind.span(), |h| h.span()),
                    "rate" => a.rate.as_ref().map_or(a.kind.span(), |h| h.span()),
                    "leaked" => a.leaked.as_ref().map_or(a.kind.span(), |h| h.span()),
                    "sites" => a.sites.as_ref().map_or(a.region.span(), |h| h.span()),
                    _ => a.kind.span(),
                };
                line_of(r.text, span.start)
            });
            ScenarioError::Attack {
                file: r.file.to_string(),
                line,
                message: e.message,
            }
        }
    }
}

/// `[camera]` over the firmware's defaults.
fn read_camera(r: &Reader<'_>, c: &CameraSection) -> Result<CameraConfig, ScenarioError> {
    let mut camera = CameraConfig::default();
    if let Some(hb) = &c.heartbeat {
        camera.heartbeat = r.duration(
            "camera.heartbeat",
            hb,
            "a duration of at least 1s, such as \"20s\"",
        )?;
    }
    if let Some(fps) = c.fps {
        camera.fps = fps;
    }
    if let Some(kbps) = c.bitrate_kbps {
        camera.bitrate_bps = kbps.saturating_mul(1000);
    }
    if let Some(gop) = c.gop {
        camera.gop = gop;
    }
    camera.rekey_after = c.rekey_after.or(camera.rekey_after);
    Ok(camera)
}

/// `[platform]` over the platform's defaults.
fn read_platform(
    r: &Reader<'_>,
    p: &PlatformSection,
) -> Result<crate::spec::PlatformOptions, ScenarioError> {
    let mut out = crate::spec::PlatformOptions::default();
    if let Some(n) = &p.nonce_cache {
        let max = crate::spec::MAX_NONCE_CACHE;
        if *n.get_ref() == 0 || *n.get_ref() > max {
            return Err(ScenarioError::Value {
                file: r.file.to_string(),
                line: line_of(r.text, n.span().start),
                key: "platform.nonce_cache",
                value: n.get_ref().to_string(),
                hint: format!("randoms per partition of the nonce cache, between 1 and {max}"),
            });
        }
        out.nonce_cache = Some(*n.get_ref());
    }
    Ok(out)
}

/// `[viewers]` over the defaults.
fn read_viewers(r: &Reader<'_>, v: &ViewersSection) -> Result<ViewerSpec, ScenarioError> {
    let mut viewers = ViewerSpec::default();
    if let Some(n) = v.per_site {
        viewers.per_site = n;
    }
    if let Some(live) = v.live_view {
        viewers.live_view = live;
    }
    let hint = "a duration of at least 1s, such as \"30s\"";
    if let Some(w) = &v.watch {
        viewers.watch = r.duration("viewers.watch", w, hint)?;
    }
    if let Some(p) = &v.pause {
        viewers.pause = r.duration("viewers.pause", p, hint)?;
    }
    Ok(viewers)
}

/// `[ota]`, if the file has one.
fn read_ota(r: &Reader<'_>, o: Option<&OtaSection>) -> Result<Option<OtaSpec>, ScenarioError> {
    let Some(o) = o else {
        return Ok(None);
    };
    // Kept as the firmware writes it ("01.1.0" is 1.1.0), so versions compare.
    let version = o
        .version
        .parse::<camproof_protocol::ota::FirmwareVersion>()
        .map_err(|_| {
            r.value(
                "ota.version",
                format!("{:?}", o.version),
                "a version such as \"1.1.0\"",
            )
        })?;
    let start = r.duration(
        "ota.start",
        &o.start,
        "a duration before the end of the run",
    )?;
    let kib = o.image_kib.unwrap_or(256) as usize;
    Ok(Some(OtaSpec {
        version: version.to_string(),
        percent: o.percent,
        start,
        image_bytes: kib.saturating_mul(1024),
    }))
}

/// The faults one `[[fault]]` entry stands for, each with the line of its action.
fn read_fault(r: &Reader<'_>, f: &FaultSection) -> Result<Vec<(usize, Fault)>, ScenarioError> {
    let at = parse_duration(f.at.get_ref()).ok_or_else(|| {
        r.fault(
            f.at.span(),
            format!(
                "fault time {:?}: write a duration such as \"30s\"",
                f.at.get_ref()
            ),
        )
    })?;
    let mut actions = fault_actions(r, f)?;
    if actions.len() != 1 {
        return Err(r.fault(
            f.at.span(),
            format!("a fault needs exactly one action, one of: {}", fault_keys()),
        ));
    }
    let Some((span, steps, every)) = actions.pop() else {
        return Ok(Vec::new());
    };
    let line = line_of(r.text, span.start);
    Ok(steps
        .into_iter()
        .enumerate()
        .map(|(i, action)| {
            // A storm's reboots are `every` apart; a step that overflows is refused by the
            // plan as past the end of the run.
            let at = u32::try_from(i)
                .ok()
                .and_then(|i| every.checked_mul(i))
                .and_then(|d| at.checked_add(d))
                .unwrap_or(Duration::MAX);
            (line, Fault { at, action })
        })
        .collect())
}

/// One fault action: the span of its key's value, its steps and the time between them.
type Steps = (std::ops::Range<usize>, Vec<FaultAction>, Duration);

/// Every action key a `[[fault]]` entry sets (exactly one is allowed).
/// The choice of `all` whose name `given` is, or an error at `given` listing the names
/// `key` takes.
fn named<T: Copy, const N: usize>(
    r: &Reader<'_>,
    key: &str,
    given: &toml::Spanned<String>,
    all: [T; N],
    name: fn(T) -> &'static str,
) -> Result<T, ScenarioError> {
    all.into_iter()
        .find(|c| name(*c) == given.get_ref())
        .ok_or_else(|| {
            r.fault(
                given.span(),
                format!(
                    "{key} {:?}: write one of {}",
                    given.get_ref(),
                    all.map(|c| format!("{:?}", name(c))).join(", ")
                ),
            )
        })
}

fn fault_actions(r: &Reader<'_>, f: &FaultSection) -> Result<Vec<Steps>, ScenarioError> {
    let mut actions: Vec<Steps> = Vec::new();
    let mut one = |span, action| actions.push((span, vec![action], Duration::ZERO));
    let single = [
        (&f.crash, FaultAction::Crash as fn(String) -> FaultAction),
        (&f.restart, FaultAction::Restart),
        (&f.erase_account, FaultAction::EraseAccount),
        (&f.disk_full, FaultAction::DiskFull),
        (&f.disk_free, FaultAction::DiskFree),
        (&f.disk_readonly, FaultAction::DiskReadOnly),
        (&f.disconnect, FaultAction::Disconnect),
        (&f.reconnect, FaultAction::Reconnect),
        (&f.relay_crash, FaultAction::RelayCrash),
        (&f.relay_restart, FaultAction::RelayRestart),
    ];
    for (value, action) in single {
        if let Some(h) = value {
            one(h.span(), action(h.get_ref().clone()));
        }
    }
    let pairs = [
        (
            &f.partition,
            FaultAction::Partition as fn(String, String) -> FaultAction,
        ),
        (&f.heal, FaultAction::Heal),
        (&f.partition_oneway, FaultAction::PartitionOneway),
        (&f.hold, FaultAction::Hold),
        (&f.release, FaultAction::Release),
    ];
    for (value, action) in pairs {
        if let Some(p) = value {
            let [a, b] = p.get_ref().as_slice() else {
                return Err(r.fault(
                    p.span(),
                    "this fault names exactly two targets: [\"a\", \"b\"]".to_string(),
                ));
            };
            one(p.span(), action(a.clone(), b.clone()));
        }
    }
    match (&f.corrupt, &f.offset) {
        (Some(t), Some(o)) => {
            let at = named(r, "offset", o, CorruptAt::ALL, CorruptAt::name)?;
            let record = match &f.record {
                None => CorruptRecord::First,
                Some(which) => named(r, "record", which, CorruptRecord::ALL, CorruptRecord::name)?,
            };
            one(
                t.span(),
                FaultAction::Corrupt(t.get_ref().clone(), at, record),
            );
        }
        (Some(t), None) => {
            return Err(r.fault(
                t.span(),
                "corrupt needs offset = \"payload\", \"length\" or \"header\" (the part of \
                 the record whose bit flips)"
                    .to_string(),
            ))
        }
        (None, Some(o)) => {
            return Err(r.fault(
                o.span(),
                "offset goes with corrupt = \"<zone host>\"".to_string(),
            ))
        }
        (None, None) => {}
    }
    if let (None, Some(which)) = (&f.corrupt, &f.record) {
        return Err(r.fault(
            which.span(),
            "record goes with corrupt = \"<zone host>\"".to_string(),
        ));
    }
    if let Some(p) = &f.latency {
        one(p.span(), read_latency(r, p)?);
    }
    if let Some(p) = &f.loss {
        one(p.span(), read_loss(r, p)?);
    }
    if let Some(p) = &f.clock_skew {
        one(p.span(), read_clock_skew(r, p)?);
    }
    if let Some(p) = &f.fd_limit {
        one(p.span(), read_fd_limit(r, p)?);
    }
    if let Some(s) = &f.reboot_storm {
        actions.push(read_storm(r, s)?);
    }
    Ok(actions)
}

/// `latency = ["a", "b", "800ms"]` (or `"normal"`).
fn read_latency(
    r: &Reader<'_>,
    p: &toml::Spanned<Vec<String>>,
) -> Result<FaultAction, ScenarioError> {
    let bad = |text: &str| {
        r.fault(
            p.span(),
            format!("latency {text:?}: write a duration from 1ms to 60s, or \"normal\""),
        )
    };
    let [a, b, l] = p.get_ref().as_slice() else {
        return Err(r.fault(
            p.span(),
            "latency names two targets and a latency: [\"a\", \"b\", \"800ms\"] (or \"normal\")"
                .to_string(),
        ));
    };
    let latency = match l.as_str() {
        "normal" => None,
        text => Some(parse_duration(text).ok_or_else(|| bad(text))?),
    };
    Ok(FaultAction::Latency(a.clone(), b.clone(), latency))
}

/// `loss = ["a", "b", "0.05%"]` (or `"none"`).
fn read_loss(r: &Reader<'_>, p: &toml::Spanned<Vec<String>>) -> Result<FaultAction, ScenarioError> {
    let [a, b, rate] = p.get_ref().as_slice() else {
        return Err(r.fault(
            p.span(),
            "loss names two targets and a chance per message: [\"a\", \"b\", \"0.05%\"] (or \
             \"none\")"
                .to_string(),
        ));
    };
    let ppm = parse_loss(rate).ok_or_else(|| {
        r.fault(
            p.span(),
            format!(
                "loss {rate:?}: write a percentage from 0.0001% to 10% (\"0.05%\"), or \"none\""
            ),
        )
    })?;
    Ok(FaultAction::Loss(a.clone(), b.clone(), ppm))
}

/// `fd_limit = ["gw-apac-1", "20"]` (or `"none"`).
fn read_fd_limit(
    r: &Reader<'_>,
    p: &toml::Spanned<Vec<String>>,
) -> Result<FaultAction, ScenarioError> {
    let bad = || {
        r.fault(
            p.span(),
            "fd_limit names a zone host and how many connections it may hold: \
             [\"gw-apac-1\", \"20\"] (0 to 1000000), or [\"gw-apac-1\", \"none\"] to lift it"
                .to_string(),
        )
    };
    let [target, fds] = p.get_ref().as_slice() else {
        return Err(bad());
    };
    let fds = match fds.as_str() {
        "none" => None,
        n => Some(
            n.parse::<u32>()
                .ok()
                .filter(|n| *n <= 1_000_000)
                .ok_or_else(bad)?,
        ),
    };
    Ok(FaultAction::FdLimit(target.clone(), fds))
}

/// `clock_skew = ["site-apac-3", "+45s"]`.
fn read_clock_skew(
    r: &Reader<'_>,
    p: &toml::Spanned<Vec<String>>,
) -> Result<FaultAction, ScenarioError> {
    let bad = || {
        r.fault(
            p.span(),
            "clock_skew names a site and an offset: [\"site-apac-3\", \"+45s\"] or \
             [\"sites:apac\", \"-90s\"], at most one day"
                .to_string(),
        )
    };
    let [target, offset] = p.get_ref().as_slice() else {
        return Err(bad());
    };
    let (sign, magnitude) = match offset.strip_prefix('-') {
        Some(rest) => (-1i64, rest),
        None => (1, offset.strip_prefix('+').unwrap_or(offset)),
    };
    let ms = parse_duration(magnitude)
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .ok_or_else(bad)?;
    Ok(FaultAction::ClockSkew(target.clone(), sign * ms))
}

/// `reboot_storm = { target, times, every }`: `times` restarts, `every` apart.
fn read_storm(r: &Reader<'_>, s: &toml::Spanned<RebootStorm>) -> Result<Steps, ScenarioError> {
    let storm = s.get_ref();
    let every = parse_duration(&storm.every).filter(|d| !d.is_zero());
    let (Some(every), 1..=100) = (every, storm.times) else {
        return Err(r.fault(
            s.span(),
            format!(
                "reboot_storm {{ times = {}, every = {:?} }}: times is 1-100 and every a duration \
                 such as \"10s\"",
                storm.times, storm.every
            ),
        ));
    };
    let restarts = (0..storm.times)
        .map(|_| FaultAction::Restart(storm.target.clone()))
        .collect();
    Ok((s.span(), restarts, every))
}

/// One `[[attack]]` entry; what it names and its ranges are the plan's to check.
fn read_attack(
    r: &Reader<'_>,
    a: &AttackSection,
    world: &WorldSpec,
) -> Result<AttackSpec, ScenarioError> {
    let kind = AttackKind::from_name(a.kind.get_ref()).ok_or_else(|| {
        let kinds: Vec<&str> = AttackKind::ALL.iter().map(|k| k.name()).collect();
        r.attack(
            a.kind.span(),
            format!(
                "unknown attack kind {:?}; write one of {}",
                a.kind.get_ref(),
                kinds.join(", ")
            ),
        )
    })?;
    let time = |t: &toml::Spanned<String>, what: &str| {
        parse_duration(t.get_ref()).ok_or_else(|| {
            r.attack(
                t.span(),
                format!(
                    "attack {what} {:?}: write a duration such as \"30s\", at most the run's \
                     duration",
                    t.get_ref()
                ),
            )
        })
    };
    let mut spec = AttackSpec::new(
        kind,
        a.region.get_ref(),
        time(&a.start, "start")?,
        time(&a.stop, "stop")?,
    );
    if let (Some(l), false) = (&a.leaked, kind == AttackKind::CredentialStuffing) {
        return Err(r.attack(
            l.span(),
            format!(
                "`leaked` is for credential-stuffing attacks, not {}",
                kind.name()
            ),
        ));
    }
    if let (Some(rate), AttackKind::RogueFirmware) = (&a.rate, kind) {
        return Err(r.attack(
            rate.span(),
            "a rogue-firmware server answers cameras; it has no `rate`".into(),
        ));
    }
    if let (Some(n), false) = (
        &a.sites,
        matches!(kind, AttackKind::RogueFirmware | AttackKind::Replay),
    ) {
        return Err(r.attack(
            n.span(),
            format!(
                "`sites` is for rogue-firmware and replay attacks, not {}",
                kind.name()
            ),
        ));
    }
    if kind == AttackKind::Replay {
        // On the path of every site's gateway sessions unless the file says fewer.
        spec.sites = world.region_sites(&spec.region);
    }
    if let Some(h) = &a.hosts {
        spec.hosts = *h.get_ref();
    }
    if let Some(n) = &a.rate {
        spec.rate = *n.get_ref();
    }
    if let Some(l) = &a.leaked {
        spec.leaked = *l.get_ref();
    }
    if let Some(n) = &a.sites {
        spec.sites = *n.get_ref();
    }
    Ok(spec)
}

/// The line of `key` (`duration`, `world.sites`) in a scenario file's text: the line
/// that sets it, else its section's, else 1.
fn key_line(text: &str, key: &str) -> usize {
    let (section, name) = match key.split_once('.') {
        Some((s, n)) => (Some(s), n),
        None => (None, key),
    };
    let mut current: Option<&str> = None;
    let mut section_line = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(s) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            current = Some(s.trim_matches(['[', ']']).trim());
            if current == section {
                section_line = section_line.or(Some(i + 1));
            }
            continue;
        }
        let sets = t.split_once('=').is_some_and(|(k, _)| k.trim() == name);
        if sets && current == section {
            return i + 1;
        }
    }
    section_line.unwrap_or(1)
}

/// Every action a `[[fault]]` may take: its key in a scenario file and what it does, in
/// one line (for `camproof list faults` and the hint of a fault without one).
pub const FAULT_ACTIONS: [(&str, &str); 21] = [
    (
        "crash",
        "the host stops: its software and connections are gone",
    ),
    ("restart", "the host's software starts again"),
    (
        "partition",
        "no traffic between the two targets, either way",
    ),
    (
        "partition_oneway",
        "traffic from the first target to the second is lost",
    ),
    (
        "heal",
        "traffic between the two targets passes again (both ways)",
    ),
    (
        "latency",
        "every message between the targets takes this long",
    ),
    (
        "loss",
        "each message between the targets breaks the link with this chance",
    ),
    ("hold", "messages between the targets are held, undelivered"),
    ("release", "held messages are delivered, late and in order"),
    ("disconnect", "the site's uplink goes down"),
    ("reconnect", "the site's uplink is back"),
    (
        "clock_skew",
        "the site's cameras read their clock this far off",
    ),
    (
        "relay_crash",
        "the zone's relay process dies with its connections",
    ),
    ("relay_restart", "the zone's relay process starts again"),
    (
        "reboot_storm",
        "the sites' cameras reboot this many times, this far apart",
    ),
    ("erase_account", "the user deletes their account"),
    (
        "disk_full",
        "the zone's store disk is full: writes fail, the replica stops",
    ),
    (
        "disk_free",
        "the zone's store disk has room again and takes writes",
    ),
    (
        "disk_readonly",
        "the zone's store disk refuses writes: the replica stops at its next write",
    ),
    (
        "corrupt",
        "a bit flips in the zone's store log (offset = payload, length or header; record = \
         first, middle or last); the replica refuses to start from it",
    ),
    (
        "fd_limit",
        "the zone host runs out of file descriptors at this many connections: accepts fail (EMFILE) until \"none\" lifts it",
    ),
];

/// The keys a `[[fault]]` may set, comma-separated, for the hint.
fn fault_keys() -> String {
    FAULT_ACTIONS.map(|(key, _)| key).join(", ")
}

impl Scenario {
    /// The scenario as a file that [`Scenario::parse`] reads back to the same world
    /// (what the file format can say: camera flaws, tick and planted bugs are not part
    /// of it).
    pub fn to_toml(&self) -> String {
        use std::fmt::Write as _;
        let w = &self.world;
        let d = |d: Duration| format!("{:?}", humantime::format_duration(d).to_string());
        // TOML's own quoting: Rust's `{:?}` writes `\u{352}`, which TOML refuses.
        let q = |s: &str| toml::Value::String(s.into()).to_string();
        let mut out = String::new();
        let _ = writeln!(out, "name = {}", q(&self.name));
        if !self.description.is_empty() {
            let _ = writeln!(out, "description = {}", q(&self.description));
        }
        let _ = writeln!(out, "duration = {}", d(w.duration));
        let regions: Vec<String> = w.regions.iter().map(|r| q(r)).collect();
        let _ = writeln!(out, "\n[world]\nregions = [{}]", regions.join(", "));
        let _ = writeln!(out, "zones_per_region = {}", w.zones_per_region);
        let _ = writeln!(out, "sites = {}", w.sites);
        let _ = writeln!(out, "cameras_per_site = {}", w.cameras_per_site);
        let c = &w.camera;
        let _ = writeln!(out, "\n[camera]\nheartbeat = {}", d(c.heartbeat));
        let _ = writeln!(out, "fps = {}", c.fps);
        let _ = writeln!(out, "bitrate_kbps = {}", (c.bitrate_bps / 1000).max(1));
        let _ = writeln!(out, "gop = {}", c.gop);
        if let Some(n) = c.rekey_after {
            let _ = writeln!(out, "rekey_after = {n}");
        }
        let v = &w.viewers;
        let _ = writeln!(out, "\n[viewers]\nper_site = {}", v.per_site);
        let _ = writeln!(out, "watch = {}", d(v.watch));
        let _ = writeln!(out, "pause = {}", d(v.pause));
        let _ = writeln!(out, "live_view = {}", v.live_view);
        if let Some(o) = &w.ota {
            let _ = writeln!(out, "\n[ota]\nversion = {}", q(&o.version));
            let _ = writeln!(out, "percent = {}", o.percent);
            let _ = writeln!(out, "start = {}", d(o.start));
            let _ = writeln!(out, "image_kib = {}", o.image_bytes / 1024);
        }
        for f in &w.faults {
            use crate::spec::FaultAction;
            let _ = writeln!(out, "\n[[fault]]\nat = {}", d(f.at));
            let _ = match &f.action {
                FaultAction::Crash(t) => writeln!(out, "crash = {}", q(t)),
                FaultAction::Restart(t) => writeln!(out, "restart = {}", q(t)),
                FaultAction::Partition(a, b) => {
                    writeln!(out, "partition = [{}, {}]", q(a), q(b))
                }
                FaultAction::Heal(a, b) => writeln!(out, "heal = [{}, {}]", q(a), q(b)),
                FaultAction::EraseAccount(u) => writeln!(out, "erase_account = {}", q(u)),
                FaultAction::DiskFull(t) => writeln!(out, "disk_full = {}", q(t)),
                FaultAction::DiskFree(t) => writeln!(out, "disk_free = {}", q(t)),
                FaultAction::DiskReadOnly(t) => writeln!(out, "disk_readonly = {}", q(t)),
                FaultAction::Corrupt(t, at, CorruptRecord::First) => {
                    writeln!(out, "corrupt = {}\noffset = {}", q(t), q(at.name()))
                }
                FaultAction::Corrupt(t, at, record) => writeln!(
                    out,
                    "corrupt = {}\noffset = {}\nrecord = {}",
                    q(t),
                    q(at.name()),
                    q(record.name())
                ),
                FaultAction::PartitionOneway(a, b) => {
                    writeln!(out, "partition_oneway = [{}, {}]", q(a), q(b))
                }
                FaultAction::Latency(a, b, l) => {
                    let l = l.map_or_else(|| q("normal"), d);
                    writeln!(out, "latency = [{}, {}, {l}]", q(a), q(b))
                }
                FaultAction::Hold(a, b) => writeln!(out, "hold = [{}, {}]", q(a), q(b)),
                FaultAction::Release(a, b) => writeln!(out, "release = [{}, {}]", q(a), q(b)),
                FaultAction::Disconnect(t) => writeln!(out, "disconnect = {}", q(t)),
                FaultAction::Reconnect(t) => writeln!(out, "reconnect = {}", q(t)),
                FaultAction::ClockSkew(t, ms) => {
                    let sign = if *ms < 0 { "-" } else { "+" };
                    let off = humantime::format_duration(Duration::from_millis(ms.unsigned_abs()));
                    writeln!(out, "clock_skew = [{}, \"{sign}{off}\"]", q(t))
                }
                FaultAction::Loss(a, b, ppm) => {
                    writeln!(
                        out,
                        "loss = [{}, {}, {}]",
                        q(a),
                        q(b),
                        q(&format_loss(*ppm))
                    )
                }
                FaultAction::RelayCrash(t) => writeln!(out, "relay_crash = {}", q(t)),
                FaultAction::RelayRestart(t) => writeln!(out, "relay_restart = {}", q(t)),
                FaultAction::FdLimit(t, fds) => {
                    let fds = fds.map_or_else(|| "none".to_string(), |n| n.to_string());
                    writeln!(out, "fd_limit = [{}, {}]", q(t), q(&fds))
                }
            };
        }
        if let Some(n) = w.platform.nonce_cache {
            let _ = writeln!(out, "\n[platform]\nnonce_cache = {n}");
        }
        for a in &w.attacks {
            let _ = writeln!(out, "\n[[attack]]\nkind = {}", q(a.kind.name()));
            let _ = writeln!(out, "region = {}", q(&a.region));
            let _ = writeln!(out, "start = {}", d(a.start));
            let _ = writeln!(out, "stop = {}", d(a.stop));
            let _ = writeln!(out, "hosts = {}", a.hosts);
            if a.kind != AttackKind::RogueFirmware {
                let _ = writeln!(out, "rate = {}", a.rate);
            }
            if a.kind == AttackKind::CredentialStuffing {
                let _ = writeln!(out, "leaked = {}", a.leaked);
            }
            if matches!(a.kind, AttackKind::RogueFirmware | AttackKind::Replay) {
                // A shrunk world may have fewer sites than the attack took: all of them.
                let sites = a.sites.min(w.region_sites(&a.region));
                let _ = writeln!(out, "sites = {sites}");
            }
        }
        out
    }
}

/// A loss rate in parts per million from `"0.05%"` (0.0001% to 10%), or 0 from `"none"`.
fn parse_loss(text: &str) -> Option<u32> {
    if text.trim() == "none" {
        return Some(0);
    }
    let percent: f64 = text.trim().strip_suffix('%')?.trim().parse().ok()?;
    if !(0.0001..=10.0).contains(&percent) {
        return None;
    }
    Some((percent * 10_000.0).round() as u32)
}

/// A loss rate in parts per million as a scenario file writes it.
fn format_loss(ppm: u32) -> String {
    if ppm == 0 {
        return "none".into();
    }
    format!("{}%", f64::from(ppm) / 10_000.0)
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

/// Parses `"90s"`, `"10m"`, `"1h 30m"`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    humantime::parse_duration(text.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "smoke"
duration = "2m"

[world]
regions = ["eu-africa", "apac"]
sites = 4
cameras_per_site = 25

[camera]
heartbeat = "10s"
fps = 5
bitrate_kbps = 128
"#;

    #[test]
    fn parses_a_scenario() {
        let s = Scenario::parse("smoke.toml", GOOD).unwrap();
        assert_eq!(s.name, "smoke");
        assert_eq!(s.world.duration, Duration::from_secs(120));
        assert_eq!(s.world.cameras(), 100);
        assert_eq!(s.world.camera.heartbeat, Duration::from_secs(10));
        assert_eq!(s.world.camera.bitrate_bps, 128_000);
        assert_eq!(s.world.camera.gop, CameraConfig::default().gop);
        assert_eq!(s.world.regions, ["eu-africa", "apac"]);
        assert_eq!(s.world.zones_per_region, 3);
    }

    #[test]
    fn unknown_keys_are_refused_with_file_and_line() {
        let text = GOOD.replace("fps = 5", "fps = 5\nframerate = 5");
        let err = Scenario::parse("smoke.toml", &text)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("smoke.toml: "), "{err}");
        assert!(err.contains("unknown field `framerate`"), "{err}");
        assert!(err.contains("line 13"), "{err}");
    }

    #[test]
    fn to_toml_quotes_any_text_so_it_reads_back() {
        // Found by the scenario_file fuzz target: a combining mark in the description.
        let mut s = Scenario::parse("s.toml", CATALOG_SMOKE_FOR_QUOTING).expect("parses");
        s.description = "restarts a\u{352}\u{1}\"\\ cameras".into();
        let back = Scenario::parse("again.toml", &s.to_toml()).expect("reads back");
        assert_eq!(back.description, s.description);
    }

    const CATALOG_SMOKE_FOR_QUOTING: &str = include_str!("../catalog/smoke.toml");

    #[test]
    fn to_toml_reads_back_to_the_same_world() {
        let with = format!(
            "{GOOD}\n[viewers]\nper_site = 2\nwatch = \"1m 30s\"\n\n[ota]\nversion = \"1.3.0\"\npercent = 40\nstart = \"20s\"\n\n[[fault]]\nat = \"30s\"\ncrash = \"gw-apac-2\"\n\n[[fault]]\nat = \"45s\"\npartition = [\"site-apac-1\", \"region:apac\"]\n\n[[fault]]\nat = \"50s\"\nerase_account = \"user1@site0.example\"\n\n[[fault]]\nat = \"55s\"\nloss = [\"sites:apac\", \"region:apac\", \"0.0125%\"]\n\n[[attack]]\nkind = \"rogue-firmware\"\nregion = \"apac\"\nstart = \"10s\"\nstop = \"40s\"\nsites = 2\n\n[platform]\nnonce_cache = 4000\n"
        );
        let s = Scenario::parse("f.toml", &with).unwrap();
        let text = s.to_toml();
        let back = Scenario::parse("back.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, s, "{text}");
    }

    #[test]
    fn a_corrupt_fault_picks_its_record_reads_back_and_refuses_a_bad_pick() {
        use crate::spec::FaultAction;
        let with = |fault: &str| format!("{GOOD}\n[[fault]]\nat = \"5s\"\n{fault}\n");
        let s = Scenario::parse(
            "f.toml",
            &with("corrupt = \"gw-apac-1\"\noffset = \"length\"\nrecord = \"last\""),
        )
        .unwrap();
        assert_eq!(
            s.world.faults[0].action,
            FaultAction::Corrupt("gw-apac-1".into(), CorruptAt::Length, CorruptRecord::Last)
        );
        let text = s.to_toml();
        assert_eq!(Scenario::parse("back.toml", &text).unwrap(), s, "{text}");
        let first = Scenario::parse(
            "f.toml",
            &with("corrupt = \"gw-apac-1\"\noffset = \"header\""),
        )
        .unwrap();
        assert!(matches!(
            first.world.faults[0].action,
            FaultAction::Corrupt(_, CorruptAt::Header, CorruptRecord::First)
        ));
        let err = Scenario::parse(
            "f.toml",
            &with("corrupt = \"gw-apac-1\"\noffset = \"header\"\nrecord = \"second\""),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("record \"second\": write one of \"first\", \"middle\", \"last\""),
            "{err}"
        );
        let err = Scenario::parse(
            "f.toml",
            &with("disk_full = \"gw-apac-1\"\nrecord = \"last\""),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("record goes with corrupt"), "{err}");
    }

    #[test]
    fn network_clock_relay_and_storm_faults_parse_and_are_checked() {
        use crate::spec::FaultAction;
        let with = |fault: &str| format!("{GOOD}\n[[fault]]\n{fault}\n");
        let parse = |f: &str| Scenario::parse("f.toml", &with(f));
        let action = |f: &str| parse(f).unwrap().world.faults[0].action.clone();
        assert_eq!(
            action("at = \"5s\"\npartition_oneway = [\"gw-apac-1\", \"gw-apac-2\"]"),
            FaultAction::PartitionOneway("gw-apac-1".into(), "gw-apac-2".into())
        );
        assert_eq!(
            action("at = \"5s\"\nlatency = [\"site-apac-1\", \"region:apac\", \"800ms\"]"),
            FaultAction::Latency(
                "site-apac-1".into(),
                "region:apac".into(),
                Some(Duration::from_millis(800))
            )
        );
        assert_eq!(
            action("at = \"5s\"\nlatency = [\"site-apac-1\", \"region:apac\", \"normal\"]"),
            FaultAction::Latency("site-apac-1".into(), "region:apac".into(), None)
        );
        assert_eq!(
            action("at = \"5s\"\nclock_skew = [\"sites:apac\", \"-45s\"]"),
            FaultAction::ClockSkew("sites:apac".into(), -45_000)
        );
        assert_eq!(
            action("at = \"5s\"\nrelay_crash = \"region:apac\""),
            FaultAction::RelayCrash("region:apac".into())
        );
        assert_eq!(
            action("at = \"5s\"\nfd_limit = [\"gw-apac-1\", \"20\"]"),
            FaultAction::FdLimit("gw-apac-1".into(), Some(20))
        );
        assert_eq!(
            action("at = \"5s\"\nfd_limit = [\"gw-apac-1\", \"none\"]"),
            FaultAction::FdLimit("gw-apac-1".into(), None)
        );
        let err = parse("at = \"5s\"\nfd_limit = [\"gw-apac-1\", \"many\"]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("fd_limit names a zone host"), "{err}");
        assert_eq!(
            action("at = \"5s\"\nhold = [\"gw-apac-1\", \"site-apac-1\"]"),
            FaultAction::Hold("gw-apac-1".into(), "site-apac-1".into())
        );
        // A storm is its restarts, `every` apart.
        let storm = parse(
            "at = \"10s\"\nreboot_storm = { target = \"sites:apac\", times = 3, every = \"5s\" }",
        )
        .unwrap();
        let times: Vec<(Duration, FaultAction)> = storm
            .world
            .faults
            .iter()
            .map(|f| (f.at, f.action.clone()))
            .collect();
        let restart = || FaultAction::Restart("sites:apac".into());
        assert_eq!(
            times,
            vec![
                (Duration::from_secs(10), restart()),
                (Duration::from_secs(15), restart()),
                (Duration::from_secs(20), restart()),
            ]
        );
        assert_eq!(
            action("at = \"5s\"\nloss = [\"sites:apac\", \"region:apac\", \"0.05%\"]"),
            FaultAction::Loss("sites:apac".into(), "region:apac".into(), 500)
        );
        assert_eq!(
            action("at = \"5s\"\nloss = [\"sites:apac\", \"region:apac\", \"none\"]"),
            FaultAction::Loss("sites:apac".into(), "region:apac".into(), 0)
        );
        // Each refusal names its line and says what to write.
        for (fault, expected) in [
            (
                "at = \"5s\"\nloss = [\"site-apac-1\", \"gw-apac-1\", \"20%\"]",
                "f.toml:17: loss \"20%\": write a percentage from 0.0001% to 10%",
            ),
            (
                "at = \"5s\"\nloss = [\"site-apac-1\", \"gw-apac-1\", \"0.5\"]",
                "f.toml:17: loss \"0.5\": write a percentage",
            ),
            (
                "at = \"5s\"\nloss = [\"site-apac-1\", \"gw-apac-9\", \"1%\"]",
                "f.toml:17: unknown host \"gw-apac-9\"",
            ),
            (
                "at = \"5s\"\nrelay_crash = \"site-apac-1\"",
                "f.toml:17: \"site-apac-1\" is not a zone host",
            ),
            (
                "at = \"5s\"\nclock_skew = [\"gw-apac-1\", \"+1s\"]",
                "f.toml:17: \"gw-apac-1\" is not a site",
            ),
            (
                "at = \"5s\"\nclock_skew = [\"site-apac-1\", \"soon\"]",
                "f.toml:17: clock_skew names a site and an offset",
            ),
            (
                "at = \"5s\"\nlatency = [\"site-apac-1\", \"gw-apac-1\", \"2h\"]",
                "f.toml:17: latency \"2h\": write a duration from 1ms to 60s",
            ),
            (
                "at = \"5s\"\nlatency = [\"site-apac-1\", \"gw-apac-1\"]",
                "f.toml:17: latency names two targets and a latency",
            ),
            (
                "at = \"5s\"\ndisconnect = \"sites:mars\"",
                "f.toml:17: unknown host \"sites:mars\"",
            ),
            (
                "at = \"1m50s\"\nreboot_storm = { target = \"sites:all\", times = 5, every = \"10s\" }",
                "f.toml:17: fault at 2m is not before the end of the run",
            ),
            (
                "at = \"5s\"\nreboot_storm = { target = \"sites:all\", times = 0, every = \"10s\" }",
                "f.toml:17: reboot_storm { times = 0",
            ),
            (
                "at = \"5s\"\ndisconnect = \"site-apac-1\"\nrelay_crash = \"gw-apac-1\"",
                "f.toml:16: a fault needs exactly one action",
            ),
        ] {
            let err = parse(fault).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{fault}: {err}");
        }
    }

    #[test]
    fn faults_parse_and_bad_faults_name_their_line() {
        let with = |fault: &str| format!("{GOOD}\n[[fault]]\n{fault}\n");
        let s = Scenario::parse("f.toml", &with("at = \"30s\"\ncrash = \"gw-apac-2\"")).unwrap();
        assert_eq!(s.world.faults.len(), 1);
        assert_eq!(s.world.faults[0].at, Duration::from_secs(30));
        let err =
            Scenario::parse("f.toml", &with("at = \"30s\"\ncrash = \"gw-apac-9\"")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("f.toml:17: unknown host \"gw-apac-9\""),
            "{text}"
        );
        assert!(
            text.contains("gw-eu-africa-1"),
            "the hint lists the hosts: {text}"
        );
        let err =
            Scenario::parse("f.toml", &with("at = \"5m\"\ncrash = \"gw-apac-1\"")).unwrap_err();
        assert!(
            err.to_string().contains("is not before the end of the run"),
            "{err}"
        );
        let err = Scenario::parse("f.toml", &with("at = \"5s\"")).unwrap_err();
        assert!(err.to_string().contains("exactly one action"), "{err}");
        let s = Scenario::parse(
            "f.toml",
            &with("at = \"5s\"\npartition = [\"site-apac-1\", \"region:apac\"]"),
        )
        .unwrap();
        assert_eq!(
            s.world.faults[0].action,
            crate::spec::FaultAction::Partition("site-apac-1".into(), "region:apac".into())
        );
        let err =
            Scenario::parse("f.toml", &with("at = \"5s\"\nheal = [\"site-apac-1\"]")).unwrap_err();
        assert!(err.to_string().contains("exactly two targets"), "{err}");
        let err =
            Scenario::parse("f.toml", &with("at = \"5s\"\ncrash = \"region:mars\"")).unwrap_err();
        assert!(
            err.to_string().contains("unknown host \"region:mars\""),
            "{err}"
        );
        let err = Scenario::parse(
            "f.toml",
            &with("at = \"5s\"\ncrash = \"gw-apac-1\"\nreboot = 1"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `reboot`"), "{err}");
        let s = Scenario::parse(
            "f.toml",
            &with("at = \"5s\"\nerase_account = \"user0@site1.example\""),
        )
        .unwrap();
        assert_eq!(
            s.world.faults[0].action,
            crate::spec::FaultAction::EraseAccount("user0@site1.example".into())
        );
        let err = Scenario::parse(
            "f.toml",
            &with("at = \"5s\"\nerase_account = \"mallory@example.com\""),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("f.toml:17: unknown user \"mallory@example.com\""),
            "{err}"
        );
    }

    #[test]
    fn attacks_parse_and_bad_attacks_name_their_line() {
        use AttackKind;
        let with = |attack: &str| format!("{GOOD}\n[[attack]]\n{attack}\n");
        let s = Scenario::parse(
            "a.toml",
            &with("kind = \"credential-stuffing\"\nregion = \"apac\"\nstart = \"30s\"\nstop = \"90s\"\nleaked = 500"),
        )
        .unwrap();
        let a = &s.world.attacks[0];
        assert_eq!(a.kind, AttackKind::CredentialStuffing);
        assert_eq!(
            (a.start, a.stop),
            (Duration::from_secs(30), Duration::from_secs(90))
        );
        assert_eq!((a.hosts, a.rate, a.leaked), (8, 50, 500));
        let err = |attack: &str| {
            Scenario::parse("a.toml", &with(attack))
                .unwrap_err()
                .to_string()
        };
        let e = err("kind = \"ddos\"\nregion = \"apac\"\nstart = \"3s\"\nstop = \"9s\"");
        assert!(
            e.starts_with("a.toml:16: unknown attack kind \"ddos\""),
            "{e}"
        );
        assert!(e.contains("cross-tenant"), "the hint lists the kinds: {e}");
        let e = err("kind = \"botnet\"\nregion = \"cn\"\nstart = \"3s\"\nstop = \"9s\"");
        assert!(
            e.starts_with("a.toml:17: region \"cn\" is not in this world"),
            "{e}"
        );
        let e = err("kind = \"botnet\"\nregion = \"apac\"\nstart = \"9s\"\nstop = \"3s\"");
        assert!(e.starts_with("a.toml:19: the attack stops"), "{e}");
        let e = err("kind = \"botnet\"\nregion = \"apac\"\nstart = \"3s\"\nstop = \"3h\"");
        assert!(e.contains("at most the run's duration"), "{e}");
        let e =
            err("kind = \"botnet\"\nregion = \"apac\"\nstart = \"3s\"\nstop = \"9s\"\nhosts = 0");
        assert!(e.starts_with("a.toml:20: hosts = 0"), "{e}");
        let e =
            err("kind = \"botnet\"\nregion = \"apac\"\nstart = \"3s\"\nstop = \"9s\"\nleaked = 5");
        assert!(e.contains("`leaked` is for credential-stuffing"), "{e}");
        let e =
            err("kind = \"botnet\"\nregion = \"apac\"\nstart = \"3s\"\nstop = \"9s\"\nbots = 5");
        assert!(e.contains("unknown field `bots`"), "{e}");
        let e = err("kind = \"botnet\"\nregion = \"apac\"\nstart = \"soon\"\nstop = \"9s\"");
        assert!(e.starts_with("a.toml:18: attack start \"soon\""), "{e}");
        let rogue = "kind = \"rogue-firmware\"\nregion = \"apac\"\nstart = \"3s\"\nstop = \"9s\"";
        let s = Scenario::parse("a.toml", &with(&format!("{rogue}\nsites = 2"))).unwrap();
        assert_eq!(s.world.attacks[0].kind, AttackKind::RogueFirmware);
        assert_eq!(s.world.attacks[0].sites, 2);
        let e = err(&format!("{rogue}\nsites = 3"));
        assert!(
            e.starts_with("a.toml:20: sites = 3: between 1 and the 2 sites of apac"),
            "{e}"
        );
        let e = err(&format!("{rogue}\nhosts = 2"));
        assert!(
            e.starts_with("a.toml:20: a rogue-firmware attack is one server"),
            "{e}"
        );
        let e = err(&format!("{rogue}\nrate = 5"));
        assert!(e.starts_with("a.toml:20: a rogue-firmware server"), "{e}");
        let e = err(&format!("{rogue}\n\n[[attack]]\n{rogue}"));
        assert!(
            e.starts_with("a.toml:22: one rogue-firmware attack per world"),
            "{e}"
        );
        // The rollout may not use a rogue image's version, however it is written.
        let ota = "\n[ota]\nversion = \"06.6.6\"\npercent = 100\nstart = \"2s\"\n";
        let e = Scenario::parse("a.toml", &format!("{GOOD}{ota}\n[[attack]]\n{rogue}"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the rollout's version is the rogue server's unsigned"),
            "{e}"
        );
        let e =
            err("kind = \"botnet\"\nregion = \"apac\"\nstart = \"3s\"\nstop = \"9s\"\nsites = 1");
        assert!(e.contains("`sites` is for rogue-firmware"), "{e}");
        // A replay attacker is on the path of every site of its region unless told fewer.
        let replay = "kind = \"replay\"\nregion = \"apac\"\nstart = \"3s\"\nstop = \"9s\"";
        let sites = |extra: &str| {
            Scenario::parse("a.toml", &with(&format!("{replay}{extra}")))
                .map(|s| s.world.attacks[0].sites)
                .map_err(|e| e.to_string())
        };
        assert_eq!(sites(""), Ok(2));
        assert_eq!(sites("\nsites = 0"), Ok(0));
        let e = sites("\nsites = 3").unwrap_err();
        assert!(
            e.contains("sites = 3: between 0 and the 2 sites of apac"),
            "{e}"
        );
        let twice = format!("{GOOD}\n[[attack]]\n{replay}\n\n[[attack]]\n{replay}\n");
        let e = Scenario::parse("a.toml", &twice).unwrap_err().to_string();
        assert!(
            e.starts_with("a.toml:22: a second replay attack on the path of apac's sites"),
            "{e}"
        );
        let at_platform = format!("{twice}sites = 0\n");
        assert!(Scenario::parse("a.toml", &at_platform).is_ok());
    }

    #[test]
    fn attacks_round_trip_through_to_toml() {
        let with = format!(
            "{GOOD}\n[[attack]]\nkind = \"cross-tenant\"\nregion = \"apac\"\nstart = \"10s\"\nstop = \"1m\"\n\n[[attack]]\nkind = \"credential-stuffing\"\nregion = \"eu-africa\"\nstart = \"20s\"\nstop = \"2m\"\nhosts = 3\nrate = 7\n"
        );
        let s = Scenario::parse("f.toml", &with).unwrap();
        let text = s.to_toml();
        let back = Scenario::parse("back.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, s, "{text}");
        assert_eq!(back.world.attacks.len(), 2);
    }

    #[test]
    fn huge_durations_are_refused_with_their_line() {
        let huge = "\"18446744073709551615s\"";
        let err = Scenario::parse("s.toml", &GOOD.replace("\"2m\"", huge)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("s.toml:3: `duration` = \"584542046090years"),
            "{err}"
        );
        let storm = format!(
            "{GOOD}\n[[fault]]\nat = \"5s\"\nreboot_storm = {{ target = \"sites:all\", times = 3, \
             every = {huge} }}\n"
        );
        let err = Scenario::parse("s.toml", &storm).unwrap_err().to_string();
        assert!(err.starts_with("s.toml:17: fault at"), "{err}");
        assert!(err.contains("not before the end of the run"), "{err}");
    }

    #[test]
    fn values_out_of_range_name_their_line() {
        let err = Scenario::parse("s.toml", &GOOD.replace("fps = 5", "fps = 500")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "s.toml:12: `camera.fps` = 500: between 0 and 60"
        );
        assert_eq!(key_line(GOOD, "world.sites"), 7);
        assert_eq!(
            key_line(GOOD, "camera.gop"),
            10,
            "a key left out: its section's line"
        );
        assert_eq!(
            key_line(GOOD, "ota.percent"),
            1,
            "a section left out: line 1"
        );
    }

    #[test]
    fn bad_values_get_a_hint() {
        let err = Scenario::parse("s.toml", &GOOD.replace("\"2m\"", "\"soon\"")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "s.toml:3: `duration` = \"soon\": a positive duration such as \"90s\" or \"10m\""
        );
        let err = Scenario::parse("s.toml", &GOOD.replace("sites = 4", "sites = 400")).unwrap_err();
        assert!(matches!(
            err,
            ScenarioError::Value {
                key: "world.sites",
                ..
            }
        ));
        let err = Scenario::parse("s.toml", &GOOD.replace("fps = 5", "fps = 500")).unwrap_err();
        assert!(matches!(
            err,
            ScenarioError::Value {
                key: "camera.fps",
                ..
            }
        ));
        let err = Scenario::parse("s.toml", &GOOD.replace("\"apac\"", "\"mars\"")).unwrap_err();
        assert!(matches!(
            err,
            ScenarioError::Value {
                key: "world.regions",
                ..
            }
        ));
        let err = Scenario::parse("s.toml", "name = 3").unwrap_err();
        assert!(matches!(err, ScenarioError::Syntax { .. }));
    }
}
