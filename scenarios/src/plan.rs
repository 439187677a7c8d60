//! The one validation path of a world: a [`WorldSpec`] (from a scenario file, a
//! command-line override, the shrinker or code) becomes a [`Plan`] only if every value
//! is in range and every name it uses exists. A world is built only from a plan.
//!
//! The limits are defined here, once. An error names what is wrong as a [`Subject`] (a
//! key, a fault or an attack) so that each caller can say where: a scenario file gives
//! the file and line, an override its flag.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use camproof_protocol::ota::FirmwareVersion;
use thiserror::Error;

use crate::spec::{AttackKind, AttackSpec, FaultAction, HostKind, WorldSpec, REGIONS};

/// Most simulated hosts a world may have (turmoil walks every host pair each tick).
pub const MAX_HOSTS: u32 = 200;
/// Most availability zones per region.
pub const MAX_ZONES_PER_REGION: u32 = 6;
/// Most cameras per site: a site's owner account holds at most this many devices (the
/// registry's default `max_devices_per_user`).
pub const MAX_CAMERAS_PER_SITE: u32 = 256;
/// Most viewer apps per site.
pub const MAX_VIEWERS_PER_SITE: u32 = 100;
/// Longest simulated run.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Coarsest simulator step.
pub const MAX_TICK: Duration = Duration::from_secs(1);
/// Shortest heartbeat interval, and shortest live-view watch and pause.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Longest heartbeat interval.
pub const MAX_HEARTBEAT: Duration = Duration::from_secs(3600);
/// Most video frames per second.
pub const MAX_FPS: u32 = 60;
/// Highest video bitrate, kbit/s.
pub const MAX_BITRATE_KBPS: u64 = 20_000;
/// Longest group of pictures, in frames.
pub const MAX_GOP: u32 = 600;
/// Most records under one key before a key update.
pub const MAX_REKEY_AFTER: u64 = 1 << 40;
/// Largest OTA image, KiB.
pub const MAX_OTA_IMAGE_KIB: usize = 64 * 1024;
/// Largest clock skew a fault may set.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(86_400);
/// Highest message loss a fault may set, parts per million (10 %).
pub const MAX_LOSS_PPM: u32 = 100_000;
/// Most attacker hosts of one attack.
pub const MAX_ATTACK_HOSTS: u32 = 32;
/// Highest attack rate, attempts per second.
pub const MAX_ATTACK_RATE: u32 = 10_000;
/// Most leaked pairs a credential stuffer tries.
pub const MAX_LEAKED: u32 = 100_000;

/// What a [`PlanError`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A setting, by its scenario-file key (`world.sites`, `camera.fps`, `duration`).
    Key(&'static str),
    /// The fault at this index of [`WorldSpec::faults`].
    Fault(usize),
    /// A setting of the attack at this index of [`WorldSpec::attacks`], by its key
    /// (`kind`, `region`, `start`, `stop`, `hosts`, `rate`, `leaked`, `sites`).
    Attack(usize, &'static str),
}

/// Why a spec is not a plan.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct PlanError {
    /// What is wrong.
    pub subject: Subject,
    /// The offending value, as a scenario file writes it.
    pub value: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.subject {
            Subject::Key(key) => write!(f, "`{key}` = {}: {}", self.value, self.message),
            Subject::Fault(i) => write!(f, "fault {}: {}", i + 1, self.message),
            Subject::Attack(i, _) => write!(f, "attack {}: {}", i + 1, self.message),
        }
    }
}

/// A world description that passed every check; built only by [`Plan::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    spec: WorldSpec,
}

impl Plan {
    /// Checks `spec`; the first problem found is the error.
    pub fn new(spec: WorldSpec) -> Result<Self, PlanError> {
        check_world(&spec)?;
        check_camera(&spec)?;
        check_viewers(&spec)?;
        check_ota(&spec)?;
        for i in 0..spec.faults.len() {
            check_fault(&spec, i)?;
        }
        check_attacks(&spec)?;
        Ok(Plan { spec })
    }

    /// The checked description.
    pub fn spec(&self) -> &WorldSpec {
        &self.spec
    }

    /// The description, to change and check again.
    pub fn into_spec(self) -> WorldSpec {
        self.spec
    }
}

/// An error about `key` with its offending `value`.
fn key_err(key: &'static str, value: impl fmt::Display, message: impl Into<String>) -> PlanError {
    PlanError {
        subject: Subject::Key(key),
        value: value.to_string(),
        message: message.into(),
    }
}

/// A duration as a scenario file writes it.
fn text(d: Duration) -> String {
    format!("\"{}\"", humantime::format_duration(d))
}

/// The hosts of the world (sites, zones, attackers) are within [`MAX_HOSTS`].
pub fn host_count(spec: &WorldSpec) -> u64 {
    let attackers: u64 = spec.attacks.iter().map(|a| u64::from(a.hosts)).sum();
    u64::from(spec.sites) + u64::from(spec.gateways()) + attackers
}

fn check_world(spec: &WorldSpec) -> Result<(), PlanError> {
    if spec.duration.is_zero() || spec.duration > MAX_DURATION {
        return Err(key_err(
            "duration",
            text(spec.duration),
            format!(
                "a positive duration such as \"90s\" or \"10m\", at most {}",
                humantime::format_duration(MAX_DURATION)
            ),
        ));
    }
    if spec.tick.is_zero() || spec.tick > MAX_TICK {
        return Err(key_err("tick", text(spec.tick), "between 1µs and 1s"));
    }
    let distinct: BTreeSet<&String> = spec.regions.iter().collect();
    if spec.regions.is_empty()
        || distinct.len() != spec.regions.len()
        || !spec.regions.iter().all(|r| REGIONS.contains(&r.as_str()))
    {
        return Err(key_err(
            "world.regions",
            format!("{:?}", spec.regions),
            "distinct names from \"cn\", \"americas\", \"eu-africa\", \"apac\"",
        ));
    }
    if spec.zones_per_region == 0 || spec.zones_per_region > MAX_ZONES_PER_REGION {
        return Err(key_err(
            "world.zones_per_region",
            spec.zones_per_region,
            format!("between 1 and {MAX_ZONES_PER_REGION}"),
        ));
    }
    let others = u64::from(spec.gateways());
    if spec.sites == 0 || u64::from(spec.sites) + others > u64::from(MAX_HOSTS) {
        return Err(key_err(
            "world.sites",
            spec.sites,
            format!(
                "at least 1, and sites + gateways at most {MAX_HOSTS} (its gateways take \
                 {others})"
            ),
        ));
    }
    if spec.cameras_per_site == 0 || spec.cameras_per_site > MAX_CAMERAS_PER_SITE {
        let sites = spec.cameras().div_ceil(u64::from(MAX_CAMERAS_PER_SITE));
        return Err(key_err(
            "world.cameras_per_site",
            spec.cameras_per_site,
            format!(
                "between 1 and {MAX_CAMERAS_PER_SITE} (a site's account holds at most \
                 {MAX_CAMERAS_PER_SITE} cameras: {} cameras need {sites} sites or more)",
                spec.cameras()
            ),
        ));
    }
    Ok(())
}

fn check_camera(spec: &WorldSpec) -> Result<(), PlanError> {
    let c = &spec.camera;
    if c.heartbeat < MIN_INTERVAL || c.heartbeat > MAX_HEARTBEAT {
        return Err(key_err(
            "camera.heartbeat",
            text(c.heartbeat),
            "a duration from 1s to 1h, such as \"20s\"",
        ));
    }
    if c.fps > MAX_FPS {
        return Err(key_err(
            "camera.fps",
            c.fps,
            format!("between 0 and {MAX_FPS}"),
        ));
    }
    if c.bitrate_bps == 0 || c.bitrate_bps > MAX_BITRATE_KBPS * 1000 {
        return Err(key_err(
            "camera.bitrate_kbps",
            c.bitrate_bps / 1000,
            format!("between 1 and {MAX_BITRATE_KBPS}"),
        ));
    }
    if c.gop == 0 || c.gop > MAX_GOP {
        return Err(key_err(
            "camera.gop",
            c.gop,
            format!("between 1 and {MAX_GOP}"),
        ));
    }
    if let Some(n) = c.rekey_after.filter(|n| *n == 0 || *n > MAX_REKEY_AFTER) {
        return Err(key_err(
            "camera.rekey_after",
            n,
            "a record count between 1 and 2^40",
        ));
    }
    Ok(())
}

fn check_viewers(spec: &WorldSpec) -> Result<(), PlanError> {
    let v = &spec.viewers;
    if v.per_site > MAX_VIEWERS_PER_SITE {
        return Err(key_err(
            "viewers.per_site",
            v.per_site,
            format!("between 0 and {MAX_VIEWERS_PER_SITE}"),
        ));
    }
    for (key, d) in [("viewers.watch", v.watch), ("viewers.pause", v.pause)] {
        if d < MIN_INTERVAL || d > MAX_DURATION {
            return Err(key_err(
                key,
                text(d),
                "a duration of at least 1s, such as \"30s\"",
            ));
        }
    }
    Ok(())
}

fn check_ota(spec: &WorldSpec) -> Result<(), PlanError> {
    let Some(o) = &spec.ota else {
        return Ok(());
    };
    if o.version.parse::<FirmwareVersion>().is_err() {
        return Err(key_err(
            "ota.version",
            format!("{:?}", o.version),
            "a version such as \"1.1.0\"",
        ));
    }
    if o.percent == 0 || o.percent > 100 {
        return Err(key_err("ota.percent", o.percent, "between 1 and 100"));
    }
    if o.start >= spec.duration {
        return Err(key_err(
            "ota.start",
            text(o.start),
            "a duration before the end of the run",
        ));
    }
    if o.image_bytes == 0 || o.image_bytes > MAX_OTA_IMAGE_KIB * 1024 || o.image_bytes % 1024 != 0 {
        return Err(key_err(
            "ota.image_kib",
            o.image_bytes / 1024,
            format!("between 1 and {MAX_OTA_IMAGE_KIB}"),
        ));
    }
    Ok(())
}

/// Checks fault `i`: its time, the hosts and users it names, its values.
fn check_fault(spec: &WorldSpec, i: usize) -> Result<(), PlanError> {
    let f = &spec.faults[i];
    let err = |message: String| PlanError {
        subject: Subject::Fault(i),
        value: format!("{:?}", f.action),
        message,
    };
    if f.at >= spec.duration {
        return Err(err(format!(
            "fault at {} is not before the end of the run ({})",
            humantime::format_duration(f.at),
            humantime::format_duration(spec.duration)
        )));
    }
    if let Some(message) = target_error(spec, &f.action) {
        return Err(err(message));
    }
    match &f.action {
        FaultAction::EraseAccount(u) if !spec.has_user(u) => Err(err(format!(
            "unknown user {u:?}; this world's users are user<U>@site<S>.example with U below {} \
             and S below {}",
            spec.viewers.per_site.max(1),
            spec.sites
        ))),
        FaultAction::ClockSkew(_, ms) if ms.unsigned_abs() > MAX_CLOCK_SKEW.as_millis() as u64 => {
            Err(err("a clock skew of at most one day".into()))
        }
        FaultAction::Loss(_, _, ppm) if *ppm > MAX_LOSS_PPM => {
            Err(err("a loss from 0.0001% to 10%, or \"none\"".into()))
        }
        FaultAction::Latency(_, _, Some(l)) if l.is_zero() || *l > Duration::from_secs(60) => {
            Err(err(format!(
                "latency {:?}: write a duration from 1ms to 60s, or \"normal\"",
                humantime::format_duration(*l).to_string()
            )))
        }
        _ => Ok(()),
    }
}

/// What is wrong with the hosts `action` names, if anything.
pub fn target_error(world: &WorldSpec, action: &FaultAction) -> Option<String> {
    let targets = action.targets();
    if let Some(unknown) = targets.iter().find(|t| world.resolve_target(t).is_none()) {
        let hosts: Vec<String> = world
            .gateway_names()
            .into_iter()
            .chain(world.site_names())
            .collect();
        return Some(format!(
            "unknown host {unknown:?}; this world's hosts are {} (or region:<name>, \
             sites:<region>, sites:all)",
            hosts.join(", ")
        ));
    }
    let kind = action.target_kind()?;
    let wrong = targets
        .iter()
        .flat_map(|t| world.resolve_target(t).unwrap_or_default())
        .find(|h| world.host_kind(h) != Some(kind))?;
    Some(match kind {
        HostKind::Zone => format!(
            "{wrong:?} is not a zone host; this fault targets gw-<region>-<zone> or region:<name>"
        ),
        HostKind::Site => format!(
            "{wrong:?} is not a site; this fault targets site-<region>-<n> or sites:<region>"
        ),
    })
}

/// Checks every attack alone, then the attacks together.
fn check_attacks(spec: &WorldSpec) -> Result<(), PlanError> {
    for (i, a) in spec.attacks.iter().enumerate() {
        check_attack(spec, i, a)?;
    }
    Ok(())
}

/// Checks attack `i` against the world and the attacks before it.
fn check_attack(spec: &WorldSpec, i: usize, a: &AttackSpec) -> Result<(), PlanError> {
    let err = |key: &'static str, value: String, message: String| PlanError {
        subject: Subject::Attack(i, key),
        value,
        message,
    };
    if !spec.regions.contains(&a.region) {
        return Err(err(
            "region",
            format!("{:?}", a.region),
            format!(
                "region {:?} is not in this world; its regions are {}",
                a.region,
                spec.regions.join(", ")
            ),
        ));
    }
    for (key, t) in [("start", a.start), ("stop", a.stop)] {
        if t > spec.duration {
            return Err(err(
                key,
                text(t),
                format!(
                    "attack {key} {}: at most the run's duration ({})",
                    humantime::format_duration(t),
                    humantime::format_duration(spec.duration)
                ),
            ));
        }
    }
    if a.stop <= a.start {
        return Err(err(
            "stop",
            text(a.stop),
            format!(
                "the attack stops ({}) before it starts ({}): stop must be later",
                humantime::format_duration(a.stop),
                humantime::format_duration(a.start)
            ),
        ));
    }
    check_attack_sizes(spec, i, a)?;
    check_attack_sites(spec, i, a)?;
    let before = &spec.attacks[..i];
    if a.kind == AttackKind::RogueFirmware {
        if before.iter().any(|o| o.kind == AttackKind::RogueFirmware) {
            return Err(err(
                "kind",
                a.kind.name().into(),
                "one rogue-firmware attack per world: a site's router has one attacker".into(),
            ));
        }
        if let Some(what) = spec
            .ota
            .as_ref()
            .and_then(|o| crate::spec::rogue_kind(&o.version))
        {
            return Err(err(
                "kind",
                a.kind.name().into(),
                format!(
                    "the rollout's version is the rogue server's {what} image; roll out another \
                     version (the rogue's are {})",
                    crate::spec::ROGUE_VERSIONS
                        .iter()
                        .map(|(_, v)| *v)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    let on_path =
        |o: &AttackSpec| o.kind == AttackKind::Replay && o.sites > 0 && o.region == a.region;
    if on_path(a) && before.iter().any(on_path) {
        return Err(err(
            "kind",
            a.kind.name().into(),
            format!(
                "a second replay attack on the path of {}'s sites: a site's router has one \
                 replayer (write `sites = 0` to replay at the platform only)",
                a.region
            ),
        ));
    }
    let hosts = host_count(&WorldSpec {
        attacks: spec.attacks[..=i].to_vec(),
        ..spec.clone()
    });
    if hosts > u64::from(MAX_HOSTS) {
        let attackers: u32 = spec.attacks[..=i].iter().map(|a| a.hosts).sum();
        return Err(err(
            "kind",
            a.kind.name().into(),
            format!(
                "{attackers} attacker hosts bring the world to {hosts} hosts: keep sites + \
                 gateways + attackers within {MAX_HOSTS}"
            ),
        ));
    }
    Ok(())
}

/// Checks the hosts, rate and leak size of attack `i`.
fn check_attack_sizes(spec: &WorldSpec, i: usize, a: &AttackSpec) -> Result<(), PlanError> {
    let err = |key: &'static str, value: u32, message: String| PlanError {
        subject: Subject::Attack(i, key),
        value: value.to_string(),
        message,
    };
    if a.hosts == 0 || a.hosts > MAX_ATTACK_HOSTS {
        return Err(err(
            "hosts",
            a.hosts,
            format!("hosts = {}: between 1 and {MAX_ATTACK_HOSTS}", a.hosts),
        ));
    }
    if a.kind == AttackKind::RogueFirmware && a.hosts != 1 {
        return Err(err(
            "hosts",
            a.hosts,
            "a rogue-firmware attack is one server: leave out `hosts` or write 1".into(),
        ));
    }
    if a.rate == 0 || a.rate > MAX_ATTACK_RATE {
        return Err(err(
            "rate",
            a.rate,
            format!(
                "rate = {}: attempts per second, between 1 and {MAX_ATTACK_RATE}",
                a.rate
            ),
        ));
    }
    if a.kind == AttackKind::HelloFlood {
        // A flood too weak to fill a cache that remembered every hello would show
        // nothing: it must be able to lock out a platform that did.
        let capacity = spec.platform.nonce_capacity();
        let lives = crate::flood::CACHED_HELLO_LIFETIME.min(a.stop.saturating_sub(a.start));
        let fills = u64::from(a.rate) * lives.as_secs();
        if fills < capacity {
            let need = capacity.div_ceil(lives.as_secs().max(1));
            return Err(err(
                "rate",
                a.rate,
                format!(
                    "rate = {}: {} s of this flood send {fills} hellos, fewer than the nonce \
                     cache's {capacity} randoms; write rate = {need} or more, a longer \
                     flood, or a smaller `[platform] nonce_cache`",
                    a.rate,
                    lives.as_secs()
                ),
            ));
        }
    }
    if a.kind == AttackKind::CredentialStuffing && (a.leaked == 0 || a.leaked > MAX_LEAKED) {
        return Err(err(
            "leaked",
            a.leaked,
            format!("leaked = {}: between 1 and {MAX_LEAKED}", a.leaked),
        ));
    }
    Ok(())
}

/// Checks the sites attack `i` takes the routers of.
fn check_attack_sites(spec: &WorldSpec, i: usize, a: &AttackSpec) -> Result<(), PlanError> {
    let region_sites = spec.region_sites(&a.region);
    let err = |message: String| PlanError {
        subject: Subject::Attack(i, "sites"),
        value: a.sites.to_string(),
        message,
    };
    match a.kind {
        AttackKind::RogueFirmware if region_sites == 0 => Err(err(format!(
            "region {} has no site for the rogue server to take",
            a.region
        ))),
        AttackKind::RogueFirmware if a.sites == 0 || a.sites > region_sites => Err(err(format!(
            "sites = {}: between 1 and the {region_sites} sites of {}",
            a.sites, a.region
        ))),
        // A replayer takes every site of its region unless told fewer; `u32::MAX` (the
        // default of a spec built in code) means all of them.
        AttackKind::Replay if a.sites > region_sites && a.sites != u32::MAX => Err(err(format!(
            "sites = {}: between 0 and the {region_sites} sites of {}",
            a.sites, a.region
        ))),
        AttackKind::RogueFirmware | AttackKind::Replay => Ok(()),
        _ if a.sites != 1 => Err(err(format!(
            "`sites` is for rogue-firmware and replay attacks, not {}",
            a.kind.name()
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Fault;

    fn spec() -> WorldSpec {
        WorldSpec {
            seed: 1,
            ..WorldSpec::new(&["eu-africa", "apac"], 4, 10, Duration::from_secs(120))
        }
    }

    fn refused(change: impl FnOnce(&mut WorldSpec)) -> PlanError {
        let mut s = spec();
        change(&mut s);
        Plan::new(s).expect_err("the plan should be refused")
    }

    #[test]
    fn a_good_spec_is_a_plan() {
        let plan = Plan::new(spec()).expect("a good spec");
        assert_eq!(plan.spec().cameras(), 40);
    }

    #[test]
    fn every_limit_is_refused_with_its_key() {
        let key = |e: PlanError| match e.subject {
            Subject::Key(k) => k,
            other => panic!("not a key: {other:?}"),
        };
        assert_eq!(
            key(refused(|s| s.duration = Duration::from_secs(u64::MAX))),
            "duration"
        );
        assert_eq!(key(refused(|s| s.duration = Duration::ZERO)), "duration");
        assert_eq!(
            key(refused(
                |s| s.duration = MAX_DURATION + Duration::from_secs(1)
            )),
            "duration"
        );
        assert_eq!(key(refused(|s| s.tick = Duration::ZERO)), "tick");
        assert_eq!(
            key(refused(|s| s.regions = vec!["mars".into()])),
            "world.regions"
        );
        assert_eq!(
            key(refused(|s| s.regions.push("apac".into()))),
            "world.regions"
        );
        assert_eq!(
            key(refused(|s| s.zones_per_region = 7)),
            "world.zones_per_region"
        );
        assert_eq!(key(refused(|s| s.sites = 0)), "world.sites");
        assert_eq!(key(refused(|s| s.sites = 195)), "world.sites");
        assert_eq!(
            key(refused(|s| s.cameras_per_site = 257)),
            "world.cameras_per_site"
        );
        assert_eq!(key(refused(|s| s.camera.fps = 61)), "camera.fps");
        assert_eq!(key(refused(|s| s.camera.gop = 0)), "camera.gop");
        assert_eq!(
            key(refused(|s| s.camera.bitrate_bps = 0)),
            "camera.bitrate_kbps"
        );
        assert_eq!(
            key(refused(|s| s.camera.rekey_after = Some(0))),
            "camera.rekey_after"
        );
        assert_eq!(
            key(refused(|s| s.viewers.per_site = 101)),
            "viewers.per_site"
        );
        assert_eq!(
            key(refused(|s| s.viewers.watch = Duration::ZERO)),
            "viewers.watch"
        );
    }

    #[test]
    fn the_limits_themselves_are_allowed() {
        let mut s = spec();
        s.duration = MAX_DURATION;
        s.cameras_per_site = MAX_CAMERAS_PER_SITE;
        s.zones_per_region = MAX_ZONES_PER_REGION;
        s.sites = MAX_HOSTS - 2 * MAX_ZONES_PER_REGION;
        s.camera.fps = MAX_FPS;
        Plan::new(s).expect("limits are inclusive");
    }

    #[test]
    fn faults_are_checked_against_the_world() {
        let fault = |at: u64, action: FaultAction| Fault {
            at: Duration::from_secs(at),
            action,
        };
        let e = refused(|s| {
            s.faults
                .push(fault(130, FaultAction::Crash("gw-apac-1".into())))
        });
        assert_eq!(e.subject, Subject::Fault(0));
        assert!(e.message.contains("not before the end"), "{e}");
        let e = refused(|s| {
            s.faults
                .push(fault(5, FaultAction::Crash("gw-apac-9".into())))
        });
        assert!(e.message.contains("unknown host \"gw-apac-9\""), "{e}");
        let e = refused(|s| {
            s.faults
                .push(fault(5, FaultAction::DiskFull("site-apac-1".into())))
        });
        assert!(e.message.contains("is not a zone host"), "{e}");
        let e = refused(|s| {
            s.faults
                .push(fault(5, FaultAction::EraseAccount("x@y".into())))
        });
        assert!(e.message.contains("unknown user"), "{e}");
        let e = refused(|s| {
            s.faults.push(fault(
                5,
                FaultAction::ClockSkew("site-apac-1".into(), 86_400_001),
            ))
        });
        assert!(e.message.contains("one day"), "{e}");
    }

    #[test]
    fn attacks_are_checked_alone_and_together() {
        let attack = |kind| {
            AttackSpec::new(
                kind,
                "apac",
                Duration::from_secs(10),
                Duration::from_secs(60),
            )
        };
        let e = refused(|s| {
            s.attacks.push(AttackSpec {
                hosts: 33,
                ..attack(AttackKind::Botnet)
            })
        });
        assert_eq!(e.subject, Subject::Attack(0, "hosts"));
        let e = refused(|s| {
            s.attacks.push(AttackSpec {
                stop: Duration::from_secs(5),
                ..attack(AttackKind::Botnet)
            })
        });
        assert_eq!(e.subject, Subject::Attack(0, "stop"));
        let e = refused(|s| {
            s.attacks.push(AttackSpec {
                region: "cn".into(),
                ..attack(AttackKind::Botnet)
            })
        });
        assert_eq!(e.subject, Subject::Attack(0, "region"));
        let e = refused(|s| {
            s.attacks.push(attack(AttackKind::RogueFirmware));
            s.attacks.push(attack(AttackKind::RogueFirmware));
        });
        assert_eq!(e.subject, Subject::Attack(1, "kind"));
        let e = refused(|s| {
            s.attacks.push(attack(AttackKind::Replay));
            s.attacks.push(attack(AttackKind::Replay));
        });
        assert_eq!(e.subject, Subject::Attack(1, "kind"));
        let e = refused(|s| {
            s.sites = 170;
            s.attacks.push(AttackSpec {
                hosts: 32,
                ..attack(AttackKind::Botnet)
            });
        });
        assert_eq!(e.subject, Subject::Attack(0, "kind"));
        assert!(e.message.contains("within 200"), "{e}");
    }
}
