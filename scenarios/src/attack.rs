//! Attackers inside the simulated world, each a turmoil host of its own, and the
//! invariants that say whether the platform held.
//!
//! A scenario's `[[attack]]` entries become [`AttackSpec`]s; [`spawn_all`] builds their
//! hosts (`atk-stuffer-N`, `atk-bot-N`, `atk-prober-N`, `atk-replay-N`) before the run, and
//! [`Attacks::finish`] adds their counters to the run's summary ([`AttackSummary`]) and
//! their verdicts to its invariants:
//!
//! - `no-credential-breach`: no stuffed password opened a session;
//! - `no-cross-tenant-access`: no probe of another tenant's devices or streams worked;
//! - `logins-during-attack`: the world's own users kept signing in while an attack ran;
//! - `no-replay-accepted`: no recorded connection, replayed as-is or altered, at its
//!   gateway, another zone or another region, got a session or had a record taken; and
//!   no camera took a record or hello that the attacker on its site's path replayed,
//!   reordered, truncated or bit-flipped inside a live session.
//!
//! Attackers speak the platform's protocols with the viewer app's client
//! ([`AppClient`]); every random draw comes from a seed derived from the world's seed.
//! [`AttackBugs`] plant defects in the platform so that each invariant can be seen to
//! fail.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use camproof_net::{Clock, Net, SimClock, SimNet};
use camproof_platform::accounts::UserId;
use camproof_platform::registry::{Action, Caller, DeviceId};
use camproof_platform::signaling::{AppSession, RegionServices};
use camproof_protocol::cdp::{
    peek_frame_type, whole_frames, AppMessage, AppStatus, ClientConfig, ClientConnection,
    CommandKind, FrameSpan, FrameType, LiveViewGrant, SecretText, ServerContext, MAX_FRAME_LEN,
};
use camproof_protocol::pki::TestPki;
use camproof_protocol::relay::{RelayHello, RelayRole};
use camproof_protocol::Timestamp;
use camproof_simulated_devices::camera::FleetStats;
use camproof_simulated_devices::viewer::{AppClient, AppError, SignInState, ViewerStats};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::checks::{CheckId, Checks};
use crate::error::WorldError;
use crate::flood::{CameraPresence, FloodPlan, LockoutWatch};
use crate::onpath::{OnPath, OnPathStats};
use crate::rogue::RogueStats;
use crate::router::SiteRouter;
use crate::spec::{AttackKind, AttackSpec, WorldSpec, EPOCH_SECS, GATEWAY_PORT, RELAY_PORT};
use crate::tap::{RecordedFlow, SharedRecorder};
pub use camproof_results::{
    AttackSummary, BotnetStats, HelloFloodStats, LegitSignIns, ProbeStats, ReplayStats,
    StuffingStats,
};

/// Accounts of the attacked region whose (reused) password is in the leak.
pub const REUSED_PASSWORDS: u32 = 4;

/// The attacks of a run, once spawned: call [`Attacks::finish`] after the run.
#[derive(Debug)]
pub struct Attacks {
    specs: Vec<AttackSpec>,
    stats: Rc<RefCell<AttackSummary>>,
    rogue: Rc<RefCell<RogueStats>>,
    routers: Vec<Rc<SiteRouter>>,
    /// Per attacked region: whether the world has viewers homed there.
    viewers_in: BTreeMap<String, bool>,
    hosts: u32,
    /// `no-unauthenticated-lockout`, with a hello flood in the world.
    lockout: Option<LockoutWatch>,
}

/// The names of every attacker host of `attacks`, in order.
pub fn host_names(attacks: &[AttackSpec]) -> Vec<String> {
    let mut next: BTreeMap<AttackKind, u32> = BTreeMap::new();
    let mut names = Vec::new();
    for a in attacks {
        for _ in 0..a.hosts {
            let n = next.entry(a.kind).or_default();
            *n += 1;
            names.push(format!("{}-{n}", a.kind.host_prefix()));
        }
    }
    names
}

/// The routers of the sites attackers take, by site name: a rogue-firmware attack's
/// send the gateways' names to the rogue server while it runs; a replay attack's pass
/// gateway sessions through an on-path attacker ([`OnPath`]). Build them before the
/// sites, whose cameras connect through them.
pub fn site_routers(spec: &WorldSpec) -> BTreeMap<String, Rc<SiteRouter>> {
    let names = host_names(&spec.attacks);
    let mut name = names.iter();
    let epoch = Timestamp::from_secs(EPOCH_SECS);
    let site_names = spec.site_names();
    let mut routers: BTreeMap<String, SiteRouter> = BTreeMap::new();
    for attack in &spec.attacks {
        let hosts: Vec<&String> = name.by_ref().take(attack.hosts as usize).collect();
        let (from, until) = (
            epoch.saturating_add(attack.start),
            epoch.saturating_add(attack.stop),
        );
        let sites = (0..spec.sites)
            .filter(|s| spec.site_region(*s) == attack.region)
            .take(attack.sites as usize)
            .filter_map(|s| site_names.get(s as usize));
        for site in sites {
            let router = routers
                .remove(site)
                .unwrap_or_else(|| SiteRouter::new("gw-", GATEWAY_PORT));
            let router = match (attack.kind, hosts.first()) {
                (AttackKind::RogueFirmware, Some(rogue)) => router.hijacked_by(rogue, from, until),
                (AttackKind::Replay, _) => {
                    router.tampered_by(OnPath::new(site, &attack.region, epoch, from, until))
                }
                _ => router,
            };
            routers.insert(site.clone(), router);
        }
    }
    routers
        .into_iter()
        .filter(|(_, r)| r.is_taken())
        .map(|(site, r)| (site, Rc::new(r)))
        .collect()
}

/// What of the world the attacks reach into.
pub struct Surface<'a> {
    /// Each region's services (accounts, registry).
    pub services: &'a BTreeMap<String, Rc<RefCell<RegionServices>>>,
    /// Each region's CDP/1 endpoint state.
    pub contexts: &'a BTreeMap<String, Rc<RefCell<ServerContext>>>,
    /// The viewer app's client configuration.
    pub app_config: &'a Arc<ClientConfig>,
    /// Connections the world's tap records for a replay attack.
    pub recorder: &'a SharedRecorder,
    /// The world's PKI (a rogue server steals a platform identity from it).
    pub pki: &'a TestPki,
    /// The sites' routers a rogue-firmware attack takes ([`site_routers`]).
    pub routers: &'a BTreeMap<String, Rc<SiteRouter>>,
}

/// Plants `spec.attack_bugs` in every region and adds a host per attacker to `sim`.
///
/// Call after the sites are built and before the run: it registers the accounts the
/// attacks need (leaked-password victims, the prober, who is shared one camera of the
/// region's first site) and records them in `users` (homes for the residency check,
/// names for failures).
/// Randomness comes from a stream of its own derived from the seed, so a world without
/// attacks draws exactly what it drew before. A replay attack configures `recorder`
/// (which the world's wire tap fills) to record its region's sites' gateway connections;
/// `contexts` (each region's CDP/1 endpoint state) get `spec.attack_bugs.server`.
pub fn spawn_all(
    sim: &mut turmoil::Sim<'_>,
    spec: &WorldSpec,
    surface: Surface<'_>,
    users: &mut crate::users::UserDirectory,
) -> Result<Attacks, WorldError> {
    let Surface {
        services,
        contexts,
        app_config,
        recorder,
        pki,
        routers,
    } = surface;
    for svc in services.values() {
        let mut svc = svc.borrow_mut();
        svc.accounts.plant_bugs(spec.attack_bugs.accounts);
        svc.registry.plant_bugs(spec.attack_bugs.registry);
    }
    for ctx in contexts.values() {
        ctx.borrow_mut().flaws = spec.attack_bugs.server;
    }
    let replay = replay_setup(sim, spec, recorder);
    let stats = Rc::new(RefCell::new(AttackSummary::default()));
    let rogue_stats = Rc::new(RefCell::new(RogueStats::default()));
    let flood_stats = Rc::new(RefCell::new(HelloFloodStats::default()));
    let lockout = LockoutWatch::new(spec, contexts, flood_stats.clone());
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0x6174_7461_636b_7321);
    let names = host_names(&spec.attacks);
    let mut name = names.iter();
    let made = Timestamp::from_secs(EPOCH_SECS - 1800);
    let mut viewers_in = BTreeMap::new();
    for (index, attack) in spec.attacks.iter().enumerate() {
        let svc = services
            .get(&attack.region)
            .ok_or_else(|| WorldError::Invalid(format!("no services in {}", attack.region)))?;
        let gateways: Vec<String> = spec
            .gateway_names()
            .into_iter()
            .filter(|g| g.starts_with(&format!("gw-{}-", attack.region)))
            .collect();
        let sites: Vec<u32> = (0..spec.sites)
            .filter(|s| spec.site_region(*s) == attack.region)
            .collect();
        viewers_in.insert(
            attack.region.clone(),
            spec.viewers.per_site > 0 && !sites.is_empty(),
        );
        let plan = Plan {
            gateways: gateways
                .iter()
                .map(|g| format!("{g}:{GATEWAY_PORT}"))
                .collect(),
            relays: gateways
                .iter()
                .map(|g| format!("{g}:{RELAY_PORT}"))
                .collect(),
            start: attack.start,
            stop: Timestamp::from_secs(EPOCH_SECS).saturating_add(attack.stop),
            // Each host's pause between two attempts.
            pause: Duration::from_micros(
                1_000_000 * u64::from(attack.hosts) / u64::from(attack.rate),
            ),
            app_config: app_config.clone(),
            stats: stats.clone(),
        };
        match attack.kind {
            AttackKind::CredentialStuffing => {
                let leak = leak(spec, attack, svc, users, made, &mut rng)?;
                for (h, pairs) in leak.into_iter().enumerate() {
                    let host = next_name(&mut name)?;
                    let plan = plan.clone();
                    let seed = rng.next_u64() ^ h as u64;
                    attacker_host(sim, &host, move || {
                        stuffer(plan.clone(), pairs.clone(), seed)
                    });
                }
            }
            AttackKind::Botnet => {
                for _ in 0..attack.hosts {
                    let host = next_name(&mut name)?;
                    let plan = plan.clone();
                    let seed = rng.next_u64();
                    attacker_host(sim, &host, move || bot(plan.clone(), seed));
                }
            }
            AttackKind::CrossTenant => {
                let prober = prober_account(index, &sites, svc, users, made, &mut rng)?;
                let prober = Rc::new(prober);
                for _ in 0..attack.hosts {
                    let host = next_name(&mut name)?;
                    let plan = plan.clone();
                    let prober = prober.clone();
                    let seed = rng.next_u64();
                    attacker_host(sim, &host, move || {
                        probe(plan.clone(), prober.clone(), seed)
                    });
                }
            }
            AttackKind::Replay => {
                for _ in 0..attack.hosts {
                    let host = next_name(&mut name)?;
                    let plan = plan.clone();
                    let replay = replay.clone();
                    let seed = rng.next_u64();
                    attacker_host(sim, &host, move || {
                        replayer(plan.clone(), replay.clone(), seed)
                    });
                }
            }
            AttackKind::HelloFlood => {
                spawn_flooders(sim, &plan, &flood_stats, attack.hosts, &mut name, &mut rng)?;
            }
            AttackKind::RogueFirmware => {
                let host = next_name(&mut name)?;
                // Its own stream of randomness, so other attacks draw what they drew.
                let mut rogue_rng = ChaCha8Rng::seed_from_u64(rng.next_u64());
                let images = crate::rogue::images(pki, &mut rogue_rng)?;
                let identity = crate::rogue::identity(pki, &host);
                let stats = rogue_stats.clone();
                let seed = rogue_rng.next_u64();
                attacker_host(sim, &host, move || {
                    crate::rogue::serve(identity.clone(), images.clone(), stats.clone(), seed)
                });
            }
        }
    }
    stats.borrow_mut().hosts = names.len() as u32;
    Ok(Attacks {
        specs: spec.attacks.clone(),
        stats,
        rogue: rogue_stats,
        routers: routers.values().cloned().collect(),
        viewers_in,
        hosts: names.len() as u32,
        lockout,
    })
}

/// Adds the `hosts` flooder hosts of a hello flood on `plan`'s gateways, named from
/// `names`, each seeded from `rng`.
fn spawn_flooders<'a>(
    sim: &mut turmoil::Sim<'_>,
    plan: &Plan,
    stats: &Rc<RefCell<HelloFloodStats>>,
    hosts: u32,
    names: &mut impl Iterator<Item = &'a String>,
    rng: &mut ChaCha8Rng,
) -> Result<(), WorldError> {
    let flood = FloodPlan {
        gateways: plan.gateways.clone(),
        start: plan.start,
        stop: plan.stop,
        pause: plan.pause,
        app_config: plan.app_config.clone(),
        stats: stats.clone(),
    };
    for _ in 0..hosts {
        let host = next_name(names)?;
        let flood = flood.clone();
        let seed = rng.next_u64();
        attacker_host(sim, &host, move || {
            crate::flood::flooder(flood.clone(), seed)
        });
    }
    Ok(())
}

/// Adds an attacker host to the simulation; `attack` builds its software at each (re)start.
fn attacker_host<F, Fut>(sim: &mut turmoil::Sim<'_>, host: &str, attack: F)
where
    F: Fn() -> Fut + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    sim.host(host, move || {
        let run = attack();
        async move {
            run.await;
            Ok(())
        }
    });
}

fn next_name<'a>(names: &mut impl Iterator<Item = &'a String>) -> Result<String, WorldError> {
    names
        .next()
        .cloned()
        .ok_or_else(|| WorldError::Invalid("attacker host names ran out".into()))
}

impl Attacks {
    /// Time during the attacks when a sign-in of an attacked region's viewers counts:
    /// attack time in regions with viewers, less the scenario's gateway outages.
    fn sign_in_window(&self, spec: &WorldSpec) -> Duration {
        self.specs
            .iter()
            .filter(|a| self.viewers_in.get(&a.region).copied().unwrap_or(false))
            .map(|a| counted_time(spec, a))
            .sum()
    }

    /// Attacker hosts in the world.
    pub fn hosts(&self) -> u32 {
        self.hosts
    }

    /// Whether a hello flood runs, so [`Attacks::check_lockout`] wants the cameras.
    pub(crate) fn watches_lockout(&self) -> bool {
        self.lockout.is_some()
    }

    /// `no-unauthenticated-lockout` at the sampling instant `at`: `cameras` as the
    /// samples see them, `sessions` the fleet's handshakes and resumptions so far.
    pub(crate) fn check_lockout(
        &mut self,
        at: Duration,
        cameras: &[CameraPresence<'_>],
        sessions: u64,
        checks: &mut Checks,
    ) {
        if let Some(watch) = &mut self.lockout {
            watch.sample(at, cameras, sessions, checks);
        }
    }

    /// The attack checks that can be made while the run goes, at `at`: a breach,
    /// an accepted replay or a camera that took an altered record is a violation the
    /// moment it happens.
    pub fn check_now(&self, at: Duration, checks: &mut Checks) {
        let stats = self.stats.borrow();
        if let Some(who) = stats.stuffing.breaches.first() {
            let found = Err(format!("a stuffed password opened a session for {who}"));
            checks.seen(CheckId::NoCredentialBreach, at, found);
        }
        if let Some(probe) = stats.probing.breaches.first() {
            let found = Err(format!("a probe of another tenant worked: {probe}"));
            checks.seen(CheckId::NoCrossTenantAccess, at, found);
        }
        if let Some(replay) = stats.replay.findings.first() {
            let found = Err(format!(
                "the platform accepted a replayed connection: {replay}"
            ));
            checks.seen(CheckId::NoReplayAccepted, at, found);
        }
        for router in &self.routers {
            if let Some(taken) = router
                .onpath_stats()
                .and_then(|s| s.findings.first().cloned())
            {
                let found = Err(format!("a camera took an altered record or hello: {taken}"));
                checks.seen(CheckId::NoReplayAccepted, at, found);
            }
        }
    }

    /// Counts the sign-ins of the attacked regions' users during the attacks (outside
    /// the scenario's own gateway outages) into `legit`; returns the refused ones.
    fn legit_sign_ins(
        &self,
        spec: &WorldSpec,
        viewers: &ViewerStats,
        legit: &mut LegitSignIns,
    ) -> Vec<String> {
        let epoch = Timestamp::from_secs(EPOCH_SECS);
        let mut refusals = Vec::new();
        for record in &viewers.sign_ins {
            let region = user_region(spec, &record.username);
            let during = self.specs.iter().any(|a| {
                Some(a.region.as_str()) == region
                    && record.at >= epoch.saturating_add(a.start)
                    && record.at <= epoch.saturating_add(a.stop)
            });
            // A gateway the scenario crashed is not the attackers' doing.
            let outage =
                region.is_some_and(|r| gateway_outage(spec, r, record.at.saturating_since(epoch)));
            if !during || outage {
                continue;
            }
            match &record.refused {
                None => legit.ok += 1,
                Some(reason) => {
                    *legit.refused.entry(reason.clone()).or_default() += 1;
                    refusals.push(format!(
                        "{} at {:.1} s into the run ({reason})",
                        record.username,
                        record.at.saturating_since(epoch).as_secs_f64()
                    ));
                }
            }
        }
        refusals
    }

    /// The counters, with the legitimate sign-ins of `viewers` during the attacks and
    /// the firmware `fleet` runs at the end; the attack checks are made on the whole run
    /// into `checks`.
    pub fn finish(
        &self,
        spec: &WorldSpec,
        viewers: &ViewerStats,
        fleet: &FleetStats,
        checks: &mut Checks,
    ) -> AttackSummary {
        let mut summary = self.stats.borrow().clone();
        summary.rogue = self.rogue.borrow().clone();
        summary.rogue.redirected = self.routers.iter().map(|r| r.redirected()).sum();
        let camera_stats: Vec<OnPathStats> = self
            .routers
            .iter()
            .filter_map(|r| r.onpath_stats())
            .collect();
        for stats in &camera_stats {
            summary.replay.cameras.add(stats);
        }
        let at_cameras = !camera_stats.is_empty();
        let refusals = self.legit_sign_ins(spec, viewers, &mut summary.legit);
        let ran = |kind| self.specs.iter().any(|a| a.kind == kind);
        if ran(AttackKind::CredentialStuffing) {
            if !summary.stuffing.breaches.is_empty() {
                checks.fail(
                    CheckId::NoCredentialBreach,
                    spec.duration,
                    format!(
                        "stuffed passwords opened sessions for {}",
                        summary.stuffing.breaches.join(", ")
                    ),
                );
            } else if summary.stuffing.attempts == 0 {
                checks.fail(
                    CheckId::NoCredentialBreach,
                    spec.duration,
                    "the stuffers tried nothing: the check proved nothing".into(),
                );
            }
        }
        if ran(AttackKind::CrossTenant) {
            let tried: u64 = summary.probing.probes.values().sum();
            if !summary.probing.breaches.is_empty() {
                checks.fail(
                    CheckId::NoCrossTenantAccess,
                    spec.duration,
                    format!(
                        "{} probes of other tenants worked: {}",
                        summary.probing.breaches.len(),
                        first_five(&summary.probing.breaches)
                    ),
                );
            } else if tried == 0 {
                checks.fail(
                    CheckId::NoCrossTenantAccess,
                    spec.duration,
                    "the prober probed nothing (never signed in?): the check proved \
                             nothing"
                        .into(),
                );
            }
        }
        if ran(AttackKind::Replay) {
            let r = &summary.replay;
            let answered: u64 = r
                .outcomes
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "no-connection" | "unanswered"))
                .map(|(_, n)| n)
                .sum();
            if r.accepted > 0 {
                checks.fail(
                    CheckId::NoReplayAccepted,
                    spec.duration,
                    format!(
                        "the platform accepted {} replayed connections: {}",
                        r.accepted,
                        first_five(&r.findings)
                    ),
                );
            } else if answered == 0 {
                checks.fail(
                    CheckId::NoReplayAccepted,
                    spec.duration,
                    format!(
                        "no replay reached a gateway ({} flows recorded): the check proved \
                         nothing",
                        r.flows.values().sum::<u64>()
                    ),
                );
            }
            if r.cameras.accepted > 0 {
                checks.fail(
                    CheckId::NoReplayAccepted,
                    spec.duration,
                    format!(
                        "cameras took {} altered records or hellos: {}",
                        r.cameras.accepted,
                        first_five(&r.cameras.findings)
                    ),
                );
            } else if at_cameras && r.cameras.judged() == 0 {
                checks.fail(
                    CheckId::NoReplayAccepted,
                    spec.duration,
                    format!(
                        "no altered record reached a camera that answered ({} altered): the \
                         check proved nothing at cameras",
                        r.cameras.tampered.values().sum::<u64>()
                    ),
                );
            }
        }
        if ran(AttackKind::RogueFirmware) {
            check_rogue_firmware(spec, fleet, &mut summary.rogue, checks);
        }
        if let Some(watch) = &self.lockout {
            watch.finish(spec.duration, checks);
            summary.hello_flood = watch.stats.borrow().clone();
        }
        if !refusals.is_empty() {
            checks.fail(
                CheckId::LoginsDuringAttack,
                spec.duration,
                format!(
                    "{} legitimate sign-ins failed during an attack: {}",
                    refusals.len(),
                    first_five(&refusals)
                ),
            );
        } else if summary.legit.ok == 0 && self.sign_in_window(spec) >= MIN_SIGN_IN_WINDOW {
            checks.fail(
                CheckId::LoginsDuringAttack,
                spec.duration,
                "no legitimate user signed in while an attack was on".into(),
            );
        }
        summary
    }
}

/// `no-rogue-firmware`: no camera ever installed a version other than the one the
/// platform rolled out; `rogue.running` gets the versions cameras run at the end that
/// are neither that nor the one they booted.
fn check_rogue_firmware(
    spec: &WorldSpec,
    fleet: &FleetStats,
    rogue: &mut RogueStats,
    checks: &mut Checks,
) {
    let rolled_out: Vec<String> = spec.ota.iter().map(|o| o.version.clone()).collect();
    let booted = spec.camera.firmware.to_string();
    rogue.running = fleet
        .firmware
        .iter()
        .filter(|(v, n)| **n > 0 && **v != booted && !rolled_out.contains(v))
        .map(|(v, n)| (v.clone(), *n))
        .collect();
    let foreign: Vec<String> = fleet
        .installs
        .iter()
        .filter(|(v, n)| **n > 0 && !rolled_out.contains(v))
        .map(|(version, n)| {
            let kind = crate::spec::rogue_kind(version).unwrap_or("not from the platform");
            format!("{n} of {version} ({kind})")
        })
        .collect();
    // A verdict is a camera's report on an image: an offer cut short proves nothing.
    let judged: u64 = rogue.refused.values().chain(rogue.installed.values()).sum();
    if !foreign.is_empty() {
        let running: Vec<String> = rogue
            .running
            .iter()
            .map(|(v, n)| format!("{n} on {v}"))
            .collect();
        checks.fail(
            CheckId::NoRogueFirmware,
            spec.duration,
            format!(
                "cameras installed firmware the platform never rolled out: {}; at the end {}",
                foreign.join(", "),
                if running.is_empty() {
                    "none runs it (a later install replaced it)".to_string()
                } else {
                    format!("cameras run it: {}", running.join(", "))
                }
            ),
        );
    } else if judged == 0 {
        checks.fail(
            CheckId::NoRogueFirmware,
            spec.duration,
            format!(
                "no camera judged a rogue image ({} connections redirected to the rogue \
                 server, {} images offered): the check proved nothing",
                rogue.redirected,
                rogue.offered.values().sum::<u64>()
            ),
        );
    }
}

/// Sign-ins that end within this long after a gateway of the region came back are
/// still counted as during its outage (a viewer's own timeout).
const OUTAGE_GRACE: Duration = Duration::from_secs(20);
/// `logins-during-attack` asks for at least one sign-in only when the attacks left this
/// much countable time: viewers sign in when their app session starts, not every few
/// seconds, so a shorter window can pass without one by chance.
const MIN_SIGN_IN_WINDOW: Duration = Duration::from_secs(30);

/// The first five of `items`, for a failure's detail.
fn first_five(items: &[String]) -> String {
    items
        .iter()
        .take(5)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Seconds of `attack` outside the scenario's outages of its region's gateways.
fn counted_time(spec: &WorldSpec, attack: &AttackSpec) -> Duration {
    let seconds = (attack.start.as_secs()..attack.stop.as_secs())
        .filter(|t| !gateway_outage(spec, &attack.region, Duration::from_secs(*t)))
        .count();
    Duration::from_secs(seconds as u64)
}

/// Whether a gateway of `region` was down (crashed and not yet restarted, plus
/// [`OUTAGE_GRACE`]) at `at` into the run, by the scenario's faults.
fn gateway_outage(spec: &WorldSpec, region: &str, at: Duration) -> bool {
    let prefix = format!("gw-{region}-");
    let mut faults: Vec<&crate::spec::Fault> = spec.faults.iter().collect();
    faults.sort_by_key(|f| f.at);
    let mut down: BTreeMap<String, Duration> = BTreeMap::new();
    let mut windows: Vec<(Duration, Duration)> = Vec::new();
    for f in faults {
        let (crash, target) = match &f.action {
            crate::spec::FaultAction::Crash(t) => (true, t),
            crate::spec::FaultAction::Restart(t) => (false, t),
            _ => continue,
        };
        for host in spec.resolve_target(target).unwrap_or_default() {
            if !host.starts_with(&prefix) {
                continue;
            }
            if crash {
                down.entry(host).or_insert(f.at);
            } else if let Some(since) = down.remove(&host) {
                windows.push((since, f.at + OUTAGE_GRACE));
            }
        }
    }
    windows.extend(down.into_values().map(|since| (since, Duration::MAX)));
    windows.iter().any(|(from, to)| at >= *from && at <= *to)
}

/// The home region of a world user (`user<U>@site<S>.example`).
fn user_region<'a>(spec: &'a WorldSpec, username: &str) -> Option<&'a str> {
    let site: u32 = username
        .split_once("@site")?
        .1
        .strip_suffix(".example")?
        .parse()
        .ok()?;
    (site < spec.sites).then(|| spec.site_region(site))
}

/// What every attacker host of one attack shares.
#[derive(Clone)]
struct Plan {
    gateways: Vec<String>,
    relays: Vec<String>,
    start: Duration,
    stop: Timestamp,
    pause: Duration,
    app_config: Arc<ClientConfig>,
    stats: Rc<RefCell<AttackSummary>>,
}

impl Plan {
    fn over(&self) -> bool {
        SimClock.now() >= self.stop
    }

    fn time_left(&self) -> Duration {
        self.stop.saturating_since(SimClock.now())
    }
}

/// One leaked pair.
#[derive(Clone)]
struct Leaked {
    username: String,
    password: SecretText,
}

/// Builds the leak, one list per stuffer host: every tenth pair a victim's real
/// (reused) password, three in ten a world user's name with a wrong password, the rest
/// names the platform never saw. Victims are registered in the attacked region without a
/// second factor, and signed in once from home (their usual place).
fn leak(
    spec: &WorldSpec,
    attack: &AttackSpec,
    svc: &Rc<RefCell<RegionServices>>,
    users: &mut crate::users::UserDirectory,
    made: Timestamp,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Vec<Leaked>>, WorldError> {
    let mut victims = Vec::new();
    {
        let mut s = svc.borrow_mut();
        let home = s.region;
        for k in 0..REUSED_PASSWORDS {
            let username = format!("reuser{k}-{}@leak.example", attack.region);
            if s.accounts.find(&username).is_some() {
                // A second stuffing attack on the region reuses the first one's victims.
                continue;
            }
            let password = SecretText::new(random_hex(rng, 12));
            let reg = s
                .accounts
                .register(&username, password.expose(), home, made, rng)
                .map_err(|e| WorldError::Invalid(format!("registering {username}: {e}")))?;
            users.add(reg.user_id.as_str(), &username, home);
            // The victim's usual sign-in, from home, through the platform's own path.
            let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
            let address = std::net::IpAddr::from([10, 200, k as u8, 1]);
            let mut session = AppSession::new(address, tx);
            let login = AppMessage::Login {
                username: username.clone(),
                password: password.clone(),
                totp: SecretText::default(),
            };
            s.handle_app(
                &mut session,
                login,
                made.saturating_add(Duration::from_secs(60)),
            );
            if !session.signed_in() {
                return Err(WorldError::Invalid(format!(
                    "the leak's victim {username} could not sign in from home"
                )));
            }
            victims.push(Leaked { username, password });
        }
    }
    let world_users: Vec<String> = (0..spec.sites)
        .flat_map(|s| {
            (0..spec.viewers.per_site.max(1)).map(move |u| format!("user{u}@site{s}.example"))
        })
        .collect();
    let per_host = (attack.leaked / attack.hosts).max(1);
    let mut lists = Vec::new();
    let mut n = 0usize;
    for _ in 0..attack.hosts {
        let mut list = Vec::with_capacity(per_host as usize);
        for j in 0..per_host {
            n += 1;
            let pair = match j % 10 {
                3 if !victims.is_empty() => victims[n % victims.len()].clone(),
                0 | 5 | 7 if !world_users.is_empty() => Leaked {
                    username: world_users[rng.next_u32() as usize % world_users.len()].clone(),
                    password: SecretText::new(format!("Summer{}!", 2000 + rng.next_u32() % 30)),
                },
                _ => Leaked {
                    username: format!("member{}@mail.example", rng.next_u32() % 1_000_000),
                    password: SecretText::new(random_hex(rng, 6)),
                },
            };
            list.push(pair);
        }
        lists.push(list);
    }
    Ok(lists)
}

fn random_hex(rng: &mut ChaCha8Rng, bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rng.fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sorts a sign-in answer into the stuffer's outcome names.
fn outcome_of(status: AppStatus, message: &str) -> &'static str {
    match status {
        AppStatus::Ok => "session",
        AppStatus::SecondFactorRequired => "second-factor-required",
        AppStatus::Locked if message.contains("from your address") => "address-blocked",
        AppStatus::Locked => "account-locked",
        AppStatus::Refused if message.contains("unusual") => "unusual-sign-in-refused",
        AppStatus::Refused if message.contains("authenticator") => "wrong-second-factor",
        AppStatus::Refused => "wrong-credentials",
        _ => "other",
    }
}

fn count(map: &mut BTreeMap<String, u64>, key: &str) {
    *map.entry(key.to_owned()).or_default() += 1;
}

/// One stuffer host: one app session at a time, a leaked pair per request, a new
/// session (next gateway) whenever one fails.
async fn stuffer(plan: Plan, pairs: Vec<Leaked>, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    tokio::time::sleep(plan.start).await;
    let clock = SimClock;
    let mut next = pairs.iter().cycle();
    let mut round = 0usize;
    while !plan.over() {
        round += 1;
        let gateway = &plan.gateways[round % plan.gateways.len().max(1)];
        let timeout = Duration::from_secs(5).min(plan.time_left());
        let Ok(mut app) = AppClient::open(
            &SimNet,
            &clock,
            gateway,
            plan.app_config.clone(),
            &mut rng,
            timeout,
        )
        .await
        else {
            tokio::time::sleep(plan.pause).await;
            continue;
        };
        while !plan.over() {
            let Some(pair) = next.next() else {
                return;
            };
            plan.stats.borrow_mut().stuffing.attempts += 1;
            let login = AppMessage::Login {
                username: pair.username.clone(),
                password: pair.password.clone(),
                totp: SecretText::default(),
            };
            let answer = app.ask(&login, &clock).await;
            let Ok(AppMessage::LoginResult { status, message }) = answer else {
                count(&mut plan.stats.borrow_mut().stuffing.outcomes, "no-answer");
                break;
            };
            let mut outcome = outcome_of(status, &message);
            if status == AppStatus::SecondFactorRequired {
                // The password was right: guess a code, as bots do.
                let guess = format!("{:06}", rng.next_u32() % 1_000_000);
                let again = AppMessage::Login {
                    username: pair.username.clone(),
                    password: pair.password.clone(),
                    totp: SecretText::new(guess),
                };
                if let Ok(AppMessage::LoginResult { status, message }) =
                    app.ask(&again, &clock).await
                {
                    outcome = outcome_of(status, &message);
                }
            }
            {
                let mut stats = plan.stats.borrow_mut();
                count(&mut stats.stuffing.outcomes, outcome);
                if outcome == "session" {
                    stats.stuffing.breaches.push(pair.username.clone());
                }
            }
            if outcome == "session" {
                // Signed in as the victim: start over on a fresh session.
                app.close().await;
                break;
            }
            tokio::time::sleep(plan.pause).await;
        }
        tokio::time::sleep(plan.pause).await;
    }
}

/// The attack vectors of a bot, drawn in turn.
const VECTORS: [&str; 6] = [
    "gateway-garbage",
    "gateway-oversized",
    "gateway-handshake",
    "gateway-replayed-hello",
    "relay-bogus-grant",
    "relay-garbage",
];

/// What became of one flood connection.
enum Flood {
    Refused,
    Accepted,
    Unanswered,
}

/// One bot host: a few connections at a time, each one attack vector.
async fn bot(plan: Plan, seed: u64) {
    tokio::time::sleep(plan.start).await;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Four connections in flight per bot: the pause is per connection slot.
    let slots = 4u64;
    let mut tasks = Vec::new();
    for _ in 0..slots {
        let plan = plan.clone();
        let seed = rng.next_u64();
        tasks.push(tokio::task::spawn_local(async move {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let pause = plan.pause * slots as u32;
            while !plan.over() {
                let vector = VECTORS[rng.next_u32() as usize % VECTORS.len()];
                count(&mut plan.stats.borrow_mut().botnet.attempts, vector);
                let result =
                    tokio::time::timeout(Duration::from_secs(3), flood(&plan, vector, &mut rng))
                        .await
                        .unwrap_or(Flood::Unanswered);
                {
                    let mut stats = plan.stats.borrow_mut();
                    let map = match result {
                        Flood::Refused => &mut stats.botnet.refused,
                        Flood::Accepted => &mut stats.botnet.accepted,
                        Flood::Unanswered => &mut stats.botnet.unanswered,
                    };
                    count(map, vector);
                }
                tokio::time::sleep(pause).await;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// Reads until the peer closes (refused) or `wait` passes (unanswered).
async fn closed_within<S: tokio::io::AsyncRead + Unpin>(stream: &mut S, wait: Duration) -> Flood {
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return Flood::Refused,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(wait, read)
        .await
        .unwrap_or(Flood::Unanswered)
}

async fn flood(plan: &Plan, vector: &str, rng: &mut ChaCha8Rng) -> Flood {
    let pick = |list: &[String], r: u32| list[r as usize % list.len().max(1)].clone();
    let gateway = pick(&plan.gateways, rng.next_u32());
    let relay = pick(&plan.relays, rng.next_u32());
    let target = if vector.starts_with("relay") {
        relay
    } else {
        gateway
    };
    let Ok(mut stream) = SimNet.connect(&target).await else {
        return Flood::Refused;
    };
    let wait = Duration::from_secs(2);
    match vector {
        "gateway-garbage" | "relay-garbage" => {
            let mut junk = vec![0u8; 16 + rng.next_u32() as usize % 496];
            rng.fill_bytes(&mut junk);
            if vector == "relay-garbage" {
                // A hello with a role byte that exists and a token length beyond reason.
                junk[0] = 2;
                junk[5] = 0xff;
            }
            if stream.write_all(&junk).await.is_err() {
                return Flood::Refused;
            }
            closed_within(&mut stream, wait).await
        }
        "gateway-oversized" => {
            // A record frame whose length prefix is beyond the hard limit.
            let extra = rng.next_u32() % (u32::MAX - MAX_FRAME_LEN as u32);
            let len = MAX_FRAME_LEN as u32 + 1 + extra;
            let mut frame = len.to_be_bytes().to_vec();
            frame.push(FrameType::Record.to_byte());
            frame.extend_from_slice(&[0u8; 64]);
            if stream.write_all(&frame).await.is_err() {
                return Flood::Refused;
            }
            closed_within(&mut stream, wait).await
        }
        "gateway-handshake" | "gateway-replayed-hello" => {
            let clock = SimClock;
            let mut conn = ClientConnection::connect_app(plan.app_config.clone(), clock.now(), rng);
            let mut hello = Vec::new();
            conn.poll_transmit(&mut hello);
            if stream.write_all(&hello).await.is_err() {
                return Flood::Refused;
            }
            if vector == "gateway-replayed-hello" {
                // A hello's random is remembered once its session proved itself with a
                // record that opens (CDP-NONCE-01): finish the session, send a request
                // and read its answer, then send the same hello again on a second
                // connection: the nonce was spent.
                if !matches!(
                    handshake_answer(&mut stream, &mut conn, &clock, wait, true).await,
                    Flood::Accepted
                ) {
                    return Flood::Refused;
                }
                let mut request = Vec::new();
                if conn.send(&AppMessage::ListDevices.encode()).is_ok() {
                    conn.poll_transmit(&mut request);
                }
                if stream.write_all(&request).await.is_err() {
                    return Flood::Refused;
                }
                let mut first = [0u8; 1];
                let _ = tokio::time::timeout(wait, stream.read(&mut first)).await;
                let Ok(mut again) = SimNet.connect(&target).await else {
                    return Flood::Refused;
                };
                if again.write_all(&hello).await.is_err() {
                    return Flood::Refused;
                }
                return handshake_answer(&mut again, &mut conn, &clock, wait, false).await;
            }
            handshake_answer(&mut stream, &mut conn, &clock, wait, true).await
        }
        "relay-bogus-grant" => {
            let role = if rng.next_u32() % 2 == 0 {
                RelayRole::Viewer
            } else {
                RelayRole::Camera
            };
            // A token shaped like a grant: an expiry a minute away and a made-up MAC.
            let expires = SimClock.now().saturating_add(Duration::from_secs(60));
            let mut token = expires.as_micros().to_be_bytes().to_vec();
            let mut mac = [0u8; 32];
            rng.fill_bytes(&mut mac);
            token.extend_from_slice(&mac);
            let stream_id = (1 << 31) | (rng.next_u32() % 4096);
            if stream
                .write_all(
                    &RelayHello {
                        role,
                        stream_id,
                        token: &token,
                    }
                    .encode(),
                )
                .await
                .is_err()
            {
                return Flood::Refused;
            }
            relay_answer(&mut stream, wait).await
        }
        _ => Flood::Unanswered,
    }
}

/// Feeds the handshake; `Accepted` once connected. With `feed` false, any answer but a
/// close counts as acceptance (a replayed hello must not get one).
async fn handshake_answer<S>(
    stream: &mut S,
    conn: &mut ClientConnection,
    clock: &SimClock,
    wait: Duration,
    feed: bool,
) -> Flood
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    let answer = async {
        loop {
            let n = match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return Flood::Refused,
                Ok(n) => n,
            };
            if !feed {
                // A server hello answers a replay only if the platform took it; an alert
                // (then a close) refuses it.
                return if peek_frame_type(&buf[..n]) == Some(FrameType::Alert.to_byte()) {
                    Flood::Refused
                } else {
                    Flood::Accepted
                };
            }
            if conn.handle_bytes(clock.now(), &buf[..n]).is_err() {
                return Flood::Refused;
            }
            let mut out = Vec::new();
            conn.poll_transmit(&mut out);
            if !out.is_empty() && stream.write_all(&out).await.is_err() {
                return Flood::Refused;
            }
            if conn.is_established() {
                return Flood::Accepted;
            }
        }
    };
    tokio::time::timeout(wait, answer)
        .await
        .unwrap_or(Flood::Unanswered)
}

/// The relay's one-byte admission answer: 0 admitted, anything else refused.
async fn relay_answer<S: tokio::io::AsyncRead + Unpin>(stream: &mut S, wait: Duration) -> Flood {
    let mut answer = [0u8; 1];
    match tokio::time::timeout(wait, stream.read_exact(&mut answer)).await {
        Ok(Ok(_)) if answer[0] == 0 => Flood::Accepted,
        Ok(_) => Flood::Refused,
        Err(_) => Flood::Unanswered,
    }
}

/// The prober's account and what it knows.
struct Prober {
    username: String,
    password: SecretText,
    totp: SecretText,
    /// The one device shared with the prober.
    own: String,
    /// Other tenants' devices (and a few that never existed).
    targets: Vec<String>,
}

/// Registers the prober (with a second factor) in the attacked region, has the first
/// site's owner share one camera with them, and lists the region's other devices.
fn prober_account(
    index: usize,
    sites: &[u32],
    svc: &Rc<RefCell<RegionServices>>,
    users: &mut crate::users::UserDirectory,
    made: Timestamp,
    rng: &mut ChaCha8Rng,
) -> Result<Prober, WorldError> {
    let username = format!("prober{}@attack.example", index + 1);
    let mut s = svc.borrow_mut();
    let (caller, password, totp) = crate::users::register_user(&mut s, &username, made, rng)?;
    users.add(caller.user.as_str(), &username, caller.home);
    let region = s.region;
    let devices_of = |site: u32| -> Vec<DeviceId> {
        let owner = format!("user0@site{site}.example");
        let Some(id) = s.accounts.find(&owner).cloned() else {
            return Vec::new();
        };
        s.registry
            .list_devices(&Caller::new(id, region))
            .map(|list| list.into_iter().map(|d| d.id).collect())
            .unwrap_or_default()
    };
    let mut all: Vec<(u32, DeviceId)> = Vec::new();
    for site in sites {
        all.extend(devices_of(*site).into_iter().map(|d| (*site, d)));
    }
    let Some((first_site, own)) = all.first().cloned() else {
        return Err(WorldError::Invalid(format!(
            "cross-tenant attack: the region {region} has no cameras to share with the prober"
        )));
    };
    let owner_id: UserId = s
        .accounts
        .find(&format!("user0@site{first_site}.example"))
        .cloned()
        .ok_or_else(|| WorldError::Invalid("cross-tenant attack: no site owner".into()))?;
    let owner = Caller::new(owner_id, region);
    let code = s
        .registry
        .issue_code(&owner, &own, Action::Share, made, rng)
        .map_err(|e| WorldError::Invalid(format!("sharing with the prober: {e}")))?;
    s.registry
        .share(&owner, &own, &caller, code.expose(), made)
        .map_err(|e| WorldError::Invalid(format!("sharing with the prober: {e}")))?;
    let mut targets: Vec<String> = all
        .iter()
        .filter(|(_, d)| *d != own)
        .map(|(_, d)| d.as_str().to_owned())
        .collect();
    for k in 0..3 {
        targets.push(format!("{}-made-up-{k}", own.as_str()));
    }
    Ok(Prober {
        username,
        password,
        totp,
        own: own.as_str().to_owned(),
        targets,
    })
}

/// The probes a prober cycles through.
const PROBES: [&str; 6] = [
    "list",
    "authorize-ptz",
    "authorize-live-view",
    "shared-ptz",
    "code-for-other-device",
    "relay-other-stream",
];

/// One prober host: signs in, then probes in turn, a new session when one fails.
async fn probe(plan: Plan, prober: Rc<Prober>, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    tokio::time::sleep(plan.start).await;
    let clock = SimClock;
    let mut state = SignInState::default();
    let mut round = 0usize;
    let mut n = 0usize;
    while !plan.over() {
        round += 1;
        let gateway = &plan.gateways[round % plan.gateways.len().max(1)];
        let timeout = Duration::from_secs(10);
        let opened = AppClient::open(
            &SimNet,
            &clock,
            gateway,
            plan.app_config.clone(),
            &mut rng,
            timeout,
        )
        .await;
        let Ok(mut app) = opened else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        if app
            .sign_in(
                &clock,
                &prober.username,
                &prober.password,
                Some(&prober.totp),
                &mut state,
            )
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        plan.stats.borrow_mut().probing.sign_ins += 1;
        while !plan.over() {
            let kind = PROBES[n % PROBES.len()];
            let target = prober.targets[n / PROBES.len() % prober.targets.len().max(1)].clone();
            n += 1;
            count(&mut plan.stats.borrow_mut().probing.probes, kind);
            match one_probe(&plan, &prober, &mut app, kind, &target, &mut rng).await {
                Ok(Verdict::Refused(why)) => {
                    count(&mut plan.stats.borrow_mut().probing.refused, &why)
                }
                Ok(Verdict::Breach(what)) => {
                    plan.stats.borrow_mut().probing.breaches.push(what);
                }
                Ok(Verdict::Inconclusive) => {}
                Err(_) => break,
            }
            tokio::time::sleep(plan.pause).await;
        }
    }
}

/// What one probe found.
enum Verdict {
    /// The platform said no (with this answer).
    Refused(String),
    /// It worked: what, on whose device.
    Breach(String),
    /// The probe could not be made (the prober's own camera offline, say).
    Inconclusive,
}

async fn authorize<S>(
    app: &mut AppClient<S>,
    device: &str,
    kind: CommandKind,
) -> Result<(AppStatus, SecretText), AppError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let request = AppMessage::Authorize {
        device: device.to_owned(),
        kind,
    };
    match app.ask(&request, &SimClock).await? {
        AppMessage::Authorized { status, code } => Ok((status, code)),
        _ => Err(AppError::Session),
    }
}

/// Sends a signal; the platform's status (or the device's answer when relayed).
async fn signal<S>(
    app: &mut AppClient<S>,
    device: &str,
    code: SecretText,
    kind: CommandKind,
    rng: &mut ChaCha8Rng,
) -> Result<(AppStatus, u8, Vec<u8>), AppError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let id = rng.next_u32();
    let request = AppMessage::Signal {
        id,
        device: device.to_owned(),
        code,
        kind,
        body: Vec::new(),
    };
    let mut answer = app.ask(&request, &SimClock).await?;
    loop {
        match answer {
            AppMessage::SignalResult {
                id: got,
                status,
                device_status,
                body,
            } if got == id => return Ok((status, device_status, body)),
            // A late answer to an earlier signal: wait for ours.
            AppMessage::SignalResult { .. } => answer = app.recv(&SimClock).await?,
            _ => return Err(AppError::Session),
        }
    }
}

async fn one_probe<S>(
    plan: &Plan,
    prober: &Prober,
    app: &mut AppClient<S>,
    kind: &str,
    target: &str,
    rng: &mut ChaCha8Rng,
) -> Result<Verdict, AppError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let refused = |s: AppStatus| Ok(Verdict::Refused(format!("{s:?}")));
    match kind {
        "list" => {
            let AppMessage::DeviceList { status, devices } =
                app.ask(&AppMessage::ListDevices, &SimClock).await?
            else {
                return Err(AppError::Session);
            };
            let others: BTreeSet<&str> = devices
                .iter()
                .map(|d| d.id.as_str())
                .filter(|id| *id != prober.own)
                .collect();
            if let Some(other) = others.first() {
                return Ok(Verdict::Breach(format!("listed {other}")));
            }
            // Only the prober's own device listed: the platform answered as it should.
            let _ = status;
            Ok(Verdict::Refused("list-own-only".into()))
        }
        "authorize-ptz" | "authorize-live-view" | "shared-ptz" => {
            let (device, command) = match kind {
                "authorize-ptz" => (target, CommandKind::Ptz),
                "authorize-live-view" => (target, CommandKind::LiveView),
                _ => (prober.own.as_str(), CommandKind::Ptz),
            };
            let (status, code) = authorize(app, device, command).await?;
            if status != AppStatus::Ok {
                return refused(status);
            }
            // A code for someone else's device: see whether it also goes through.
            let (status, _, _) = signal(app, device, code, command, rng).await?;
            Ok(Verdict::Breach(format!(
                "{kind}: code issued for {device} (signal {status:?})"
            )))
        }
        "code-for-other-device" => {
            let (status, code) = authorize(app, &prober.own, CommandKind::LiveView).await?;
            if status != AppStatus::Ok {
                return Ok(Verdict::Inconclusive);
            }
            let (status, _, _) = signal(app, target, code, CommandKind::LiveView, rng).await?;
            if status == AppStatus::Ok {
                return Ok(Verdict::Breach(format!(
                    "a code for {} worked on {target}",
                    prober.own
                )));
            }
            refused(status)
        }
        "relay-other-stream" => {
            let (status, code) = authorize(app, &prober.own, CommandKind::LiveView).await?;
            if status != AppStatus::Ok {
                return Ok(Verdict::Inconclusive);
            }
            let (status, device_status, body) =
                signal(app, &prober.own, code, CommandKind::LiveView, rng).await?;
            let grant = match LiveViewGrant::decode(&body) {
                Ok(g) if status == AppStatus::Ok && device_status == 0 => g,
                _ => return Ok(Verdict::Inconclusive),
            };
            // The control: the grant admits its own stream.
            let own = relay_hello(&grant.relay, RelayRole::Viewer, grant.stream_id, &grant).await;
            if matches!(own, Some(Flood::Accepted)) {
                plan.stats.borrow_mut().probing.own_admitted += 1;
            }
            // The probe: the same token for the streams issued just before and after,
            // other tenants' live views.
            for other in [
                grant.stream_id.wrapping_sub(1),
                grant.stream_id.wrapping_add(1),
            ] {
                let other = other | (1 << 31);
                if other == grant.stream_id {
                    continue;
                }
                if let Some(Flood::Accepted) =
                    relay_hello(&grant.relay, RelayRole::Viewer, other, &grant).await
                {
                    return Ok(Verdict::Breach(format!(
                        "the grant for stream {} admitted stream {other}",
                        grant.stream_id
                    )));
                }
            }
            Ok(Verdict::Refused("relay-refused".into()))
        }
        _ => Ok(Verdict::Inconclusive),
    }
}

/// Presents `grant`'s token for `stream_id` at `relay`; the relay's answer.
async fn relay_hello(
    relay: &str,
    role: RelayRole,
    stream_id: u32,
    grant: &LiveViewGrant,
) -> Option<Flood> {
    let wait = Duration::from_secs(5);
    let mut stream = tokio::time::timeout(wait, SimNet.connect(relay))
        .await
        .ok()?
        .ok()?;
    stream
        .write_all(
            &RelayHello {
                role,
                stream_id,
                token: &grant.token,
            }
            .encode(),
        )
        .await
        .ok()?;
    Some(relay_answer(&mut stream, wait).await)
}

/// Most recorded connections held at once (recording or waiting for a replayer).
pub const REPLAY_MAX_FLOWS: usize = 16;
/// Bytes recorded per connection and direction.
pub const REPLAY_MAX_BYTES: usize = 64 * 1024;
/// A connection is handed to the replayers this long after it opened, at the latest.
pub const REPLAY_RIPE_AFTER: Duration = Duration::from_secs(3);
/// How long after a connection opened its `late` replay is sent: past the ±30 s skew
/// window, so its hello is stale and no longer in any nonce cache.
pub const REPLAY_LATE: Duration = Duration::from_secs(40);
/// Recorded connections one replayer host works on at once.
const REPLAY_IN_FLIGHT: usize = 8;

/// What every replayer shares: the recorder and who is who on the wire.
struct ReplayPlan {
    recorder: SharedRecorder,
    /// Host names by address (gateways and sites).
    names: BTreeMap<std::net::IpAddr, String>,
    /// Gateway host names by region, zones in order.
    gateways: BTreeMap<String, Vec<String>>,
}

/// Configures `recorder` for the world's replay attacks (the sites of every attacked
/// region) and gathers the names the replayers need; `None` without a replay attack.
fn replay_setup(
    sim: &turmoil::Sim<'_>,
    spec: &WorldSpec,
    recorder: &SharedRecorder,
) -> Option<Rc<ReplayPlan>> {
    let regions: BTreeSet<&str> = spec
        .attacks
        .iter()
        .filter(|a| a.kind == AttackKind::Replay)
        .map(|a| a.region.as_str())
        .collect();
    if regions.is_empty() {
        return None;
    }
    let mut names = BTreeMap::new();
    let mut sources = BTreeSet::new();
    for (site, name) in spec.site_names().into_iter().enumerate() {
        let addr = sim.lookup(name.as_str());
        if regions.contains(spec.site_region(site as u32)) {
            sources.insert(addr);
        }
        names.insert(addr, name);
    }
    let mut gateways: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in spec.gateway_names() {
        names.insert(sim.lookup(name.as_str()), name.clone());
        if let Some(region) = gateway_region(&name) {
            gateways.entry(region.to_owned()).or_default().push(name);
        }
    }
    recorder.borrow_mut().configure(
        GATEWAY_PORT,
        sources,
        REPLAY_MAX_FLOWS,
        REPLAY_MAX_BYTES,
        REPLAY_RIPE_AFTER,
    );
    Some(Rc::new(ReplayPlan {
        recorder: recorder.clone(),
        names,
        gateways,
    }))
}

/// The region of a gateway host (`gw-<region>-<zone>`).
fn gateway_region(name: &str) -> Option<&str> {
    name.strip_prefix("gw-")?.rsplit_once('-').map(|(r, _)| r)
}

/// One replayer host: takes recorded connections as the tap hands them over and
/// replays each, a few at a time.
async fn replayer(plan: Plan, replay: Option<Rc<ReplayPlan>>, seed: u64) {
    let Some(replay) = replay else {
        return;
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    tokio::time::sleep(plan.start).await;
    let in_flight = Rc::new(std::cell::Cell::new(0usize));
    while !plan.over() {
        let flow = if in_flight.get() < REPLAY_IN_FLIGHT {
            replay.recorder.borrow_mut().take()
        } else {
            None
        };
        let Some(flow) = flow else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        in_flight.set(in_flight.get() + 1);
        let (plan, replay, in_flight) = (plan.clone(), replay.clone(), in_flight.clone());
        let seed = rng.next_u64();
        tokio::task::spawn_local(async move {
            replay_flow(&plan, &replay, flow, seed).await;
            in_flight.set(in_flight.get().saturating_sub(1));
        });
    }
}

/// The whole frames of `bytes`, in order; a frame cut off at the end is left out.
fn frames_of(bytes: &[u8]) -> Vec<FrameSpan> {
    whole_frames(bytes).collect()
}

/// A record frame's key epoch (the first four bytes of its body).
fn record_epoch(bytes: &[u8], f: &FrameSpan) -> u32 {
    f.body(bytes)
        .get(..4)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The kind of a recorded connection, by its first frame.
fn flow_kind(flow: &RecordedFlow) -> &'static str {
    match flow
        .first_frame_type()
        .and_then(|k| FrameType::from_byte(k).ok())
    {
        Some(FrameType::ClientHello) => "device-hello",
        Some(FrameType::ResumeHello) => "device-resume",
        Some(FrameType::AppHello) => "app-hello",
        _ => "other",
    }
}

/// Variants of one recorded client stream, in the order they are sent.
const VARIANTS: [&str; 6] = [
    "as-is",
    "hello-only",
    "bit-flipped",
    "reordered",
    "truncated",
    "after-rekey",
];

/// The bytes of one variant of `client` (its whole frames `frames`), and whether to end
/// the stream after them; `None` if the recording has nothing to build it from.
fn variant_bytes(
    variant: &str,
    client: &[u8],
    frames: &[FrameSpan],
    rng: &mut ChaCha8Rng,
) -> Option<(Vec<u8>, bool)> {
    let whole = &client[..frames.last()?.end];
    let records: Vec<&FrameSpan> = frames.iter().filter(|f| f.is(FrameType::Record)).collect();
    let handshake_end = frames
        .iter()
        .take_while(|f| !f.is(FrameType::Record))
        .last()
        .map_or(0, |f| f.end);
    match variant {
        "as-is" | "late" => Some((whole.to_vec(), false)),
        "hello-only" => Some((client[..frames[0].end].to_vec(), false)),
        "bit-flipped" => {
            let mut out = whole.to_vec();
            // Past the first frame's length and type: the frame still parses.
            let span = out.len().checked_sub(5).filter(|n| *n > 0)?;
            let at = 5 + rng.next_u32() as usize % span;
            out[at] ^= 1 << (rng.next_u32() % 8);
            Some((out, false))
        }
        "reordered" => {
            let (a, b) = (records.first()?, records.get(1)?);
            let mut out = client[..a.start].to_vec();
            out.extend_from_slice(&client[b.start..b.end]);
            out.extend_from_slice(&client[a.start..a.end]);
            out.extend_from_slice(&client[b.end..whole.len()]);
            Some((out, false))
        }
        "truncated" => {
            let a = records.first()?;
            let cut = a.start + (a.end - a.start) / 2;
            Some((client[..cut].to_vec(), true))
        }
        "after-rekey" => {
            let later: Vec<&&FrameSpan> = records
                .iter()
                .filter(|f| record_epoch(client, f) > 0)
                .collect();
            if later.is_empty() {
                return None;
            }
            let mut out = client[..handshake_end].to_vec();
            for f in later {
                out.extend_from_slice(&client[f.start..f.end]);
            }
            Some((out, false))
        }
        _ => None,
    }
}

/// What the gateway did with one replay, from its answer: `accepted` if a ResumeAccept
/// or a sealed record came back; otherwise by the first refusal. `next` is the type of
/// the replay's frame after its hello.
fn classify(answer: &[u8], closed: bool, next: Option<u8>) -> &'static str {
    let frames = frames_of(answer);
    if frames
        .iter()
        .any(|f| f.is(FrameType::ResumeAccept) || f.is(FrameType::Record))
    {
        return "accepted";
    }
    match frames.first().map(|f| f.frame_type()) {
        None if closed => "refused-hello",
        None => "unanswered",
        Some(Some(FrameType::ServerHello)) => {
            if closed || frames.iter().any(|f| f.is(FrameType::Alert)) {
                match next.map(FrameType::from_byte) {
                    Some(Ok(FrameType::ClientAuth)) | None => "refused-finish",
                    Some(_) => "refused-record",
                }
            } else {
                "hello-answered"
            }
        }
        Some(_) => "refused-hello",
    }
}

/// Sends `bytes` to `target` on a fresh connection as the recorded client did: its
/// first frame, then (once the gateway answered it) the rest; reads the answer until the
/// gateway closes or two seconds pass.
async fn replay_once(target: &str, bytes: &[u8], end: bool, next: Option<u8>) -> &'static str {
    let wait = Duration::from_secs(2);
    let Ok(Ok(mut stream)) = tokio::time::timeout(wait, SimNet.connect(target)).await else {
        return "no-connection";
    };
    let first = frames_of(bytes).first().map_or(bytes.len(), |f| f.end);
    let (hello, rest) = bytes.split_at(first);
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // A gateway that refuses early may close before all is written: read what it said.
    let _ = stream.write_all(hello).await;
    let mut closed = false;
    let first_answer = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if !frames_of(&answer).is_empty() {
                        return false;
                    }
                }
            }
        }
    };
    match tokio::time::timeout(wait, first_answer).await {
        Ok(true) => closed = true,
        Ok(false) => {}
        Err(_) => return classify(&answer, false, next),
    }
    if !closed {
        if !rest.is_empty() {
            let _ = stream.write_all(rest).await;
        }
        if end {
            let _ = stream.shutdown().await;
        }
        let read = async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return true,
                    Ok(n) => {
                        if answer.len() < 64 * 1024 {
                            answer.extend_from_slice(&buf[..n]);
                        }
                    }
                }
            }
        };
        closed = tokio::time::timeout(wait, read).await.unwrap_or(false);
    }
    classify(&answer, closed, next)
}

/// Replays one recorded connection in every variant the recording allows, to its
/// gateway, another zone of that region and a gateway of another region; then, once
/// its hello has gone stale, as-is once more.
async fn replay_flow(plan: &Plan, replay: &ReplayPlan, flow: RecordedFlow, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let kind = flow_kind(&flow);
    let frames = frames_of(&flow.to_server);
    let origin = replay.names.get(&flow.server.ip()).cloned();
    let site = replay
        .names
        .get(&flow.client.ip())
        .cloned()
        .unwrap_or_else(|| flow.client.ip().to_string());
    let after_rekey = frames
        .iter()
        .any(|f| f.is(FrameType::Record) && record_epoch(&flow.to_server, f) > 0);
    {
        let mut stats = plan.stats.borrow_mut();
        count(&mut stats.replay.flows, kind);
        if after_rekey {
            stats.replay.flows_after_rekey += 1;
        }
        let home = spec_region_of_site(&site);
        if let (Some(o), Some(h)) = (origin.as_deref().and_then(gateway_region), home) {
            if o != h {
                stats.replay.flows_failed_over += 1;
            }
        }
    }
    let Some(origin) = origin.filter(|_| !frames.is_empty()) else {
        replay.recorder.borrow_mut().release(&flow);
        return;
    };
    let region = gateway_region(&origin).unwrap_or_default().to_owned();
    let mut targets: Vec<(&str, String)> = vec![("original", origin.clone())];
    if let Some(zones) = replay.gateways.get(&region) {
        if let Some(i) = zones.iter().position(|z| *z == origin) {
            if zones.len() > 1 {
                targets.push(("same-region", zones[(i + 1) % zones.len()].clone()));
            }
        }
    }
    if let Some(other) = replay
        .gateways
        .iter()
        .find(|(r, _)| **r != region)
        .and_then(|(_, zones)| zones.first())
    {
        targets.push(("other-region", other.clone()));
    }
    let next = frames.get(1).map(|f| f.kind);
    for variant in VARIANTS {
        let Some((bytes, end)) = variant_bytes(variant, &flow.to_server, &frames, &mut rng) else {
            continue;
        };
        let next = if variant == "hello-only" { None } else { next };
        for (what, gateway) in &targets {
            if plan.over() {
                replay.recorder.borrow_mut().release(&flow);
                return;
            }
            let outcome =
                replay_once(&format!("{gateway}:{GATEWAY_PORT}"), &bytes, end, next).await;
            note_replay(plan, variant, what, gateway, kind, &site, outcome);
            tokio::time::sleep(plan.pause).await;
        }
    }
    replay.recorder.borrow_mut().release(&flow);
    // Once stale: the hello's timestamp is outside every gateway's skew window.
    let late = Timestamp::from_secs(EPOCH_SECS).saturating_add(flow.opened + REPLAY_LATE);
    if late >= plan.stop {
        return;
    }
    tokio::time::sleep(late.saturating_since(SimClock.now())).await;
    let Some((bytes, end)) = variant_bytes("late", &flow.to_server, &frames, &mut rng) else {
        return;
    };
    for (what, gateway) in &targets {
        if plan.over() {
            return;
        }
        let outcome = replay_once(&format!("{gateway}:{GATEWAY_PORT}"), &bytes, end, next).await;
        note_replay(plan, "late", what, gateway, kind, &site, outcome);
        tokio::time::sleep(plan.pause).await;
    }
}

/// The region a site host's name cannot tell (`site-<region>-<n>`), if it follows the
/// world's naming.
fn spec_region_of_site(site: &str) -> Option<&str> {
    site.strip_prefix("site-")?.rsplit_once('-').map(|(r, _)| r)
}

/// Counts one replay and, if the platform took it, describes the finding.
fn note_replay(
    plan: &Plan,
    variant: &str,
    target: &str,
    gateway: &str,
    kind: &str,
    site: &str,
    outcome: &str,
) {
    let mut stats = plan.stats.borrow_mut();
    let r = &mut stats.replay;
    count(&mut r.replays, variant);
    count(&mut r.targets, target);
    count(&mut r.outcomes, outcome);
    count(&mut r.by_target, &format!("{target} {outcome}"));
    if outcome == "accepted" {
        r.accepted += 1;
        if r.findings.len() < 20 {
            r.findings.push(format!(
                "{variant} replay of a {kind} connection from {site} at {gateway} ({target}), \
                 {:.1} s into the run",
                SimClock
                    .now()
                    .saturating_since(Timestamp::from_secs(EPOCH_SECS))
                    .as_secs_f64()
            ));
        }
    }
}

#[cfg(test)]
mod replay_tests {
    use super::*;
    use camproof_protocol::cdp::frame::encode_frame;

    #[test]
    fn sign_ins_count_outside_the_regions_gateway_outages() {
        use crate::spec::{Fault, FaultAction};
        let text =
            "name = \"t\"\nduration = \"2m\"\n[world]\nregions = [\"eu-africa\", \"apac\"]\n\
                    zones_per_region = 2\nsites = 4\ncameras_per_site = 1\n";
        let mut spec = crate::scenario::Scenario::parse("t.toml", text)
            .expect("a valid scenario")
            .world;
        let fault = |at: u64, action: FaultAction| Fault {
            at: Duration::from_secs(at),
            action,
        };
        let attack = AttackSpec::new(
            AttackKind::Replay,
            "eu-africa",
            Duration::from_secs(10),
            Duration::from_secs(100),
        );
        assert_eq!(counted_time(&spec, &attack), Duration::from_secs(90));
        // replay-attack's faults: a zone down 20-30 s (counted again 20 s after its
        // restart) and the region lost at 50 s leave 10 s: too short to ask for a sign-in.
        spec.faults = vec![
            fault(20, FaultAction::Crash("gw-eu-africa-1".into())),
            fault(30, FaultAction::Restart("gw-eu-africa-1".into())),
            fault(50, FaultAction::Crash("region:eu-africa".into())),
        ];
        assert_eq!(counted_time(&spec, &attack), Duration::from_secs(10));
        assert!(counted_time(&spec, &attack) < MIN_SIGN_IN_WINDOW);
        // Another region's outage does not count against it.
        spec.faults = vec![fault(20, FaultAction::Crash("region:apac".into()))];
        assert_eq!(counted_time(&spec, &attack), Duration::from_secs(90));
    }

    fn frame(kind: FrameType, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(kind, body, &mut out);
        out
    }

    fn record(epoch: u32, seq: u64) -> Vec<u8> {
        let mut body = epoch.to_be_bytes().to_vec();
        body.extend_from_slice(&seq.to_be_bytes());
        body.extend_from_slice(&[0xAA; 20]);
        frame(FrameType::Record, &body)
    }

    #[test]
    fn answers_are_classified_by_what_the_gateway_sent() {
        let hello = frame(FrameType::ServerHello, &[1; 40]);
        let alert = frame(FrameType::Alert, &[7]);
        assert_eq!(
            classify(&alert, true, Some(FrameType::ClientAuth.to_byte())),
            "refused-hello"
        );
        assert_eq!(classify(&[], true, None), "refused-hello");
        assert_eq!(classify(&[], false, None), "unanswered");
        let mut hs = hello.clone();
        hs.extend_from_slice(&alert);
        assert_eq!(
            classify(&hs, true, Some(FrameType::ClientAuth.to_byte())),
            "refused-finish"
        );
        assert_eq!(
            classify(&hs, true, Some(FrameType::Record.to_byte())),
            "refused-record"
        );
        assert_eq!(classify(&hello, false, None), "hello-answered");
        let mut resumed = frame(FrameType::ResumeAccept, &[2; 40]);
        resumed.extend_from_slice(&record(0, 0));
        assert_eq!(
            classify(&resumed, true, Some(FrameType::Record.to_byte())),
            "accepted"
        );
        // A cut-off answer is read as far as it goes.
        assert_eq!(classify(&hello[..10], true, None), "refused-hello");
    }

    #[test]
    fn variants_are_built_from_whole_frames() {
        let mut client = frame(FrameType::ResumeHello, &[3; 30]);
        let r0 = record(0, 0);
        let r1 = record(0, 1);
        let r2 = record(1, 0);
        for r in [&r0, &r1, &r2] {
            client.extend_from_slice(r);
        }
        // A frame cut off by the recorder's limit.
        client.extend_from_slice(&record(1, 1)[..9]);
        let frames = frames_of(&client);
        assert_eq!(frames.len(), 4);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut v = |name| variant_bytes(name, &client, &frames, &mut rng);
        let whole = frames[3].end;
        assert_eq!(v("as-is").unwrap().0, client[..whole].to_vec());
        assert_eq!(v("hello-only").unwrap().0.len(), 35);
        let (reordered, _) = v("reordered").unwrap();
        assert_eq!(&reordered[35..35 + r1.len()], &r1[..]);
        let (cut, end) = v("truncated").unwrap();
        assert!(end && cut.len() > 35 && cut.len() < 35 + r0.len());
        let (later, _) = v("after-rekey").unwrap();
        assert_eq!(&later[35..], &r2[..]);
        let (flipped, _) = v("bit-flipped").unwrap();
        assert_eq!(flipped.len(), whole);
        assert_eq!(
            flipped
                .iter()
                .zip(&client)
                .map(|(a, b)| (a ^ b).count_ones())
                .sum::<u32>(),
            1
        );
        // Nothing after the hello: no reordering, truncation or rekey to replay.
        let hello_only = frame(FrameType::AppHello, &[4; 30]);
        let f = frames_of(&hello_only);
        for name in ["reordered", "truncated", "after-rekey"] {
            assert!(variant_bytes(name, &hello_only, &f, &mut rng).is_none());
        }
    }
}
