//! The simulated world: platform hosts and camera sites inside one turmoil simulation.
//!
//! Hosts are few on purpose (turmoil walks every pair of hosts each tick): one host per
//! gateway zone, and one host per *site* (a customer network) running its cameras as
//! tasks, each with its own TCP connection.
//!
//! A [`World`] is built from a checked [`Plan`] out of components, each owning its
//! build, the faults it applies, its counters and its checks: the platform
//! ([`platform`]: regions and their zone hosts), the customer sites ([`sites`]: cameras,
//! users, viewers), the attackers ([`crate::attack`]), the wire tap ([`crate::tap`]),
//! the monitoring ([`monitoring`]) and the fault timeline ([`faults`]). The world steps
//! the simulator itself: between two steps it applies the faults that are due, and at
//! every sampling instant it samples the platform and makes the checks that can be
//! made while the run goes, keeping the simulated time each violation was first seen.

pub(crate) mod faults;
pub(crate) mod monitoring;
pub(crate) mod platform;
pub(crate) mod sites;

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::time::{Duration, SystemTime};

use camproof_platform::monitoring::Alert;
use camproof_platform::ota::RolloutCounts;
use camproof_platform::trace::Trace;
use camproof_protocol::pki::{KeyCache, TestPki};
use camproof_protocol::Timestamp;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::attack::Attacks;
pub use crate::checks::Failure;
use crate::checks::{CheckId, Checks};
pub use crate::error::WorldError;
use crate::plan::Plan;
pub use crate::spec::*;
use crate::tap::{FlowRecorder, Leak, Tap, TappedSegment};
pub use crate::world::sites::SkewedClock;
pub use camproof_results::{Counters, OfflineCamera, TimelineSample, WireStats};
use faults::FaultTimeline;
use monitoring::{percentile, Monitoring};
use platform::{Platform, Setup};
use sites::Sites;

/// What a run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// Every component's counters.
    pub counters: Counters,
    /// The seed.
    pub seed: u64,
    /// Cameras in the world.
    pub cameras: u64,
    /// Cameras with an established session at the end.
    pub cameras_online: u64,
    /// Per region: (cameras online at the end, cameras homed there).
    pub online_by_region: BTreeMap<String, (u64, u64)>,
    /// The cameras without a session at the end, site by site, with since when.
    pub offline: Vec<OfflineCamera>,
    /// Simulated time that ran.
    pub simulated: Duration,
    /// Median camera-to-gateway frame latency.
    pub latency_p50: Option<Duration>,
    /// 99th-percentile camera-to-gateway frame latency.
    pub latency_p99: Option<Duration>,
    /// The invariants the run broke (store safety, erasure, residency).
    pub invariants: Vec<Failure>,
    /// Every check the run made, `liveness` first, in a fixed order.
    pub checks: Vec<CheckId>,
    /// Median capture-to-viewer latency of live frames.
    pub live_latency_p50: Option<Duration>,
    /// 99th-percentile capture-to-viewer latency of live frames.
    pub live_latency_p99: Option<Duration>,
    /// Alerts the monitoring fired, with when their cause began.
    pub alerts: Vec<Alert>,
    /// Faults applied, with their simulated times.
    pub faults: Vec<(Duration, FaultAction)>,
    /// The run sampled every [`MONITOR_INTERVAL`]: cameras online, frames, latency.
    pub timeline: Vec<TimelineSample>,
    /// Segments to and from the hosts of [`WireOptions::capture`], in wire order.
    pub captured: Vec<TappedSegment>,
    /// Host name of every simulated address, for capture files.
    pub hosts: BTreeMap<std::net::IpAddr, String>,
    /// Events in the trace.
    pub trace_events: u64,
    /// SHA-256 of the ordered trace.
    pub trace_hash: String,
}

/// A world under simulation: its components and the checks made so far.
pub struct World {
    spec: WorldSpec,
    sim: turmoil::Sim<'static>,
    trace: Trace,
    platform: Platform,
    sites: Sites,
    attacks: Attacks,
    tap: Tap,
    secret_count: u64,
    hosts: BTreeMap<std::net::IpAddr, String>,
    monitoring: Monitoring,
    faults: FaultTimeline,
    checks: Checks,
}

impl World {
    /// Builds the world of `plan` with identities from `pki`; device certificates are
    /// kept in `cache` between runs. Nothing runs until [`World::step`].
    pub fn build(plan: &Plan, pki: &TestPki, cache: &mut dyn KeyCache) -> Result<Self, WorldError> {
        let spec = plan.spec().clone();
        let mut seeds = ChaCha8Rng::seed_from_u64(spec.seed);
        let trace = Trace::new(64);
        // Descriptor budgets (the `fd_limit` fault) of an earlier run on this thread
        // must not leak into this one.
        camproof_net::sim_fd::reset();
        let mut sim = turmoil::Builder::new()
            .rng_seed(seeds.next_u64())
            .epoch(SystemTime::UNIX_EPOCH + Duration::from_secs(EPOCH_SECS))
            .simulation_duration(spec.duration.saturating_add(Duration::from_secs(60)))
            .tick_duration(spec.tick)
            .min_message_latency(Duration::from_millis(1))
            .max_message_latency(Duration::from_millis(10))
            .tcp_capacity(65_536)
            .build();
        let mut setup_rng = ChaCha8Rng::seed_from_u64(seeds.next_u64());
        let mut secrets = Vec::new();
        let mut setup = Setup {
            spec: &spec,
            pki,
            trace: &trace,
            seeds: &mut seeds,
            setup_rng: &mut setup_rng,
            secrets: &mut secrets,
        };
        let platform = Platform::build(&mut sim, &mut setup)?;
        // Routers a rogue-firmware or replay attack takes over; the other sites' cameras
        // reach the network directly.
        let routers = crate::attack::site_routers(&spec);
        let mut sites = Sites::build(&mut sim, &mut setup, cache, &platform.services, &routers)?;
        // Connections a replay attack records (fed by the tap below; idle without one).
        let recorder = FlowRecorder::shared();
        let surface = crate::attack::Surface {
            services: &platform.services,
            contexts: &platform.contexts,
            app_config: &sites.app_config,
            recorder: &recorder,
            pki,
            routers: &routers,
        };
        let attacks = crate::attack::spawn_all(&mut sim, &spec, surface, &mut sites.users)?;
        set_region_latencies(&mut sim, &platform, &sites);
        let hosts = host_addresses(&sim, &platform, &sites);
        let secret_count = secrets.len() as u64;
        let mut tap = Tap::new(
            if spec.wire.scan { secrets } else { Vec::new() },
            spec.wire
                .capture
                .iter()
                .flat_map(|t| spec.resolve_target(t).unwrap_or_default())
                .map(|h| sim.lookup(h.as_str()))
                .collect(),
        );
        tap.record_flows(recorder);
        for (addr, name) in &hosts {
            tap.name(*addr, name.clone());
        }
        let duration = spec.duration;
        sim.client("observer", async move {
            tokio::time::sleep(duration).await;
            Ok(())
        });
        let monitoring = Monitoring::new(&spec, platform.zones.len());
        let faults = FaultTimeline::new(&spec);
        let checks = planned_checks(&spec, tap.scans());
        Ok(World {
            spec,
            sim,
            trace,
            platform,
            sites,
            attacks,
            tap,
            secret_count,
            hosts,
            monitoring,
            faults,
            checks,
        })
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.sim.elapsed()
    }

    /// Cameras with an established session now.
    pub fn cameras_online(&self) -> u64 {
        self.sites.cameras_online()
    }

    /// The checks made so far, with the simulated time each failed one was first seen.
    pub fn checks(&self) -> &Checks {
        &self.checks
    }

    /// Applies the faults that are due, samples and checks if a sample is due, and
    /// steps the simulator once; `true` once the run is over.
    pub fn step(&mut self) -> Result<bool, WorldError> {
        let elapsed = self.sim.elapsed();
        let now = Timestamp::from_secs(EPOCH_SECS).saturating_add(elapsed);
        while let Some(fault) = self.faults.next_due(elapsed) {
            self.apply(&fault.action, now);
            camproof_net::log_time::in_world(elapsed, || {
                tracing::info!(action = ?fault.action, "fault applied");
            });
            self.trace.record(now, format!("fault {:?}", fault.action));
            self.faults.applied.push((elapsed, fault.action));
        }
        self.platform
            .start_rollouts(&self.spec, elapsed, now, &self.trace);
        if self.monitoring.due(elapsed) {
            self.monitoring.sample(
                &mut self.sim,
                &self.platform,
                &self.sites,
                elapsed,
                &self.trace,
            );
            self.sites.sample_presence(elapsed);
            self.check_now(elapsed);
        }
        let over = self
            .sim
            .step()
            .map_err(|e| WorldError::Simulation(e.to_string()))?;
        if !over {
            self.tap.look(&self.sim, self.sim.elapsed());
        }
        Ok(over)
    }

    /// Hands a fault to the component it acts on.
    fn apply(&mut self, action: &FaultAction, now: Timestamp) {
        let spec = &self.spec;
        let hosts: Vec<String> = action
            .targets()
            .iter()
            .flat_map(|t| spec.resolve_target(t).unwrap_or_default())
            .collect();
        if let FaultAction::FdLimit(_, fds) = action {
            // The hosts' listeners (camproof_net::SimListener) honour the budget.
            for host in &hosts {
                let limit = fds.and_then(|n| usize::try_from(n).ok());
                camproof_net::sim_fd::set_limit(self.sim.lookup(host.as_str()), limit);
            }
            return;
        }
        if self.platform.apply(action, &hosts, now, &self.trace) || self.sites.apply(action, &hosts)
        {
            return;
        }
        let zones: Vec<String> = self.platform.zones.iter().map(|z| z.name.clone()).collect();
        let region_of = |h: &str| {
            let zone = self
                .platform
                .zones
                .iter()
                .find(|z| z.name == h)
                .map(|z| &z.region);
            let site = self
                .sites
                .names
                .iter()
                .find(|(_, n)| n == h)
                .map(|(r, _)| r);
            zone.or(site).cloned()
        };
        faults::apply_network(
            &mut self.sim,
            action,
            |t| spec.resolve_target(t).unwrap_or_default(),
            region_of,
            &zones,
        );
    }

    /// The checks made while the run goes, at `elapsed`.
    fn check_now(&mut self, elapsed: Duration) {
        let checks = &mut self.checks;
        self.platform.check_now(elapsed, &self.sites.users, checks);
        self.monitoring
            .check_now(&self.spec, &self.faults.applied, elapsed, checks);
        if let Some(leak) = self.tap.leaks().first() {
            checks.seen(
                CheckId::NoPlaintextSecret,
                leak.at,
                Err(leak_detail(leak, 1)),
            );
        }
        self.attacks.check_now(elapsed, checks);
        if self.attacks.watches_lockout() {
            let sessions = {
                let fleet = self.sites.fleet.borrow();
                fleet.handshakes + fleet.resumptions
            };
            let cameras = self.sites.presence_now();
            self.attacks
                .check_lockout(elapsed, &cameras, sessions, checks);
        }
    }

    /// Runs the world to its end and reports what it measured and every check.
    pub fn run(mut self) -> Result<RunSummary, WorldError> {
        while !self.step()? {}
        Ok(self.finish())
    }

    /// What the run measured, with every check made on the whole run.
    fn finish(mut self) -> RunSummary {
        let spec = &self.spec;
        let end = spec.duration;
        let checks = &mut self.checks;
        let wire = WireStats {
            scanned: self.tap.scans(),
            secrets: if self.tap.scans() {
                self.secret_count
            } else {
                0
            },
            segments: self.tap.segments,
            bytes: self.tap.bytes,
            leaks: self.tap.leaks().to_vec(),
        };
        if let Some(leak) = wire.leaks.first() {
            checks.fail(
                CheckId::NoPlaintextSecret,
                end,
                leak_detail(leak, wire.leaks.len()),
            );
        }
        self.platform
            .check_store_at_end(end, &self.sites.users, checks);
        self.monitoring
            .check_at_end(spec, &self.faults.applied, checks);
        let timeline = std::mem::take(&mut self.monitoring.timeline);
        Sites::check_streams_at_end(spec, &timeline, checks);
        checks.finish(
            CheckId::RelayHoldLimit,
            end,
            self.platform.check_relay_hold(),
        );
        let mut store = self.platform.store_totals();
        store
            .violations
            .extend(checks.failures().iter().map(|f| f.detail.clone()));
        let viewers = self.sites.viewers.borrow().clone();
        let fleet = self.sites.fleet.borrow().clone();
        let attacks = self.attacks.finish(spec, &viewers, &fleet, checks);
        let ota = self.platform.rollout_totals();
        if let Some(o) = spec
            .ota
            .as_ref()
            .filter(|o| end >= o.start.saturating_add(OTA_SETTLE))
        {
            let none = RolloutCounts::default();
            let counts = ota.as_ref().unwrap_or(&none);
            let behind = self.sites.cameras_not_running(&o.version);
            let result =
                crate::checks::check_rollout(o, spec.cameras(), counts, &fleet.firmware, &behind);
            checks.finish(CheckId::OtaRolloutComplete, end, result);
        }
        let gateways = self.platform.gateway_totals();
        let live = viewers.latency_us.clone();
        let latencies = gateways.frame_latency_us.clone();
        let online_by_region = self.sites.online_by_region();
        let offline = self.sites.offline_cameras(end);
        let (checks, invariants) = std::mem::take(&mut self.checks).into_parts();
        let cameras_online = fleet.online.len() as u64;
        RunSummary {
            counters: Counters {
                fleet,
                gateways,
                viewers,
                signaling: self.platform.signaling_totals(),
                store,
                relay: self.platform.relay_totals(),
                ota,
                wire,
                attacks,
            },
            seed: spec.seed,
            cameras: spec.cameras(),
            cameras_online,
            online_by_region,
            offline,
            simulated: end,
            latency_p50: percentile(&latencies, 50),
            latency_p99: percentile(&latencies, 99),
            live_latency_p50: percentile(&live, 50),
            live_latency_p99: percentile(&live, 99),
            invariants,
            checks,
            alerts: self.monitoring.alerts().to_vec(),
            faults: std::mem::take(&mut self.faults.applied),
            timeline,
            captured: self.tap.into_kept(),
            hosts: self.hosts,
            trace_events: self.trace.len(),
            trace_hash: self.trace.hash_hex(),
        }
    }
}

/// Runs the world of `plan` with identities from `pki` to its end; device certificates
/// are kept in `cache` between runs.
pub fn run(plan: &Plan, pki: &TestPki, cache: &mut dyn KeyCache) -> Result<RunSummary, WorldError> {
    // Every event of the run names its seed: a sweep's runs log side by side.
    let _run = tracing::info_span!("world", seed = plan.spec().seed).entered();
    World::build(plan, pki, cache)?.run()
}

/// Where a run is, as [`run_watched`] tells its watcher once per simulated second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Simulated time since the start.
    pub elapsed: Duration,
    /// The run's whole simulated length.
    pub duration: Duration,
    /// Cameras with a session now.
    pub cameras_online: u64,
    /// Cameras in the world.
    pub cameras: u64,
}

/// Runs the world of `plan` like [`run`], telling `watch` where it is once per simulated
/// second; the run stops when `watch` says [`ControlFlow::Break`], and then there is no
/// summary (`Ok(None)`): a run's checks need its whole length.
pub fn run_watched(
    plan: &Plan,
    pki: &TestPki,
    cache: &mut dyn KeyCache,
    watch: &mut dyn FnMut(&Progress) -> ControlFlow<()>,
) -> Result<Option<RunSummary>, WorldError> {
    let _run = tracing::info_span!("world", seed = plan.spec().seed).entered();
    let mut world = World::build(plan, pki, cache)?;
    let (duration, cameras) = (world.spec.duration, world.spec.cameras());
    let mut told = None;
    loop {
        let elapsed = world.elapsed();
        if told != Some(elapsed.as_secs()) {
            told = Some(elapsed.as_secs());
            let at = Progress {
                elapsed,
                duration,
                cameras_online: world.cameras_online(),
                cameras,
            };
            if watch(&at).is_break() {
                return Ok(None);
            }
        }
        if world.step()? {
            return Ok(Some(world.finish()));
        }
    }
}

/// The checks a run of `spec` makes, `liveness` first, in a fixed order.
fn planned_checks(spec: &WorldSpec, scans: bool) -> Checks {
    let mut checks = Checks::default();
    for check in [
        CheckId::Liveness,
        CheckId::OneLeaderPerTerm,
        CheckId::NoAckedWriteLost,
        CheckId::Erasure,
        CheckId::Residency,
        CheckId::AlertDeadline,
        CheckId::RelayHoldLimit,
    ] {
        checks.make(check);
    }
    if Sites::checks_streams(spec) {
        checks.make(CheckId::StreamsResume);
    }
    if scans {
        checks.make(CheckId::NoPlaintextSecret);
    }
    if spec.faults.iter().any(|f| {
        matches!(
            f.action,
            FaultAction::Corrupt(..) | FaultAction::DiskReadOnly(_) | FaultAction::DiskFull(_)
        )
    }) {
        checks.make(CheckId::FailStopStorage);
    }
    for check in spec.attacks.iter().flat_map(|a| a.kind.checks()) {
        checks.make(*check);
    }
    if spec
        .ota
        .as_ref()
        .is_some_and(|o| spec.duration >= o.start.saturating_add(OTA_SETTLE))
    {
        checks.make(CheckId::OtaRolloutComplete);
    }
    checks
}

/// The checks a run of `spec` will make, `liveness` first, in a fixed order: known
/// before it runs (a planted bug none of them can catch is refused).
pub fn checks_made(spec: &WorldSpec) -> Vec<CheckId> {
    planned_checks(spec, spec.wire.scan).into_parts().0
}

/// The detail of a `no-plaintext-secret` failure: the first leak, of `count` found.
fn leak_detail(leak: &Leak, count: usize) -> String {
    format!(
        "{} crossed the wire in clear from {} to {} at {:.3} s into the run ({count} findings)",
        leak.secret,
        leak.from,
        leak.to,
        leak.at.as_secs_f64()
    )
}

/// Links between regions are long; within a region they keep the 1-10 ms default.
fn set_region_latencies(sim: &mut turmoil::Sim<'static>, platform: &Platform, sites: &Sites) {
    for (site_region, site) in &sites.names {
        for zone in platform.zones.iter().filter(|z| &z.region != site_region) {
            sim.set_link_latency(site.as_str(), zone.name.as_str(), CROSS_REGION_LATENCY);
        }
    }
}

/// The name of every zone and site host, by address.
fn host_addresses(
    sim: &turmoil::Sim<'static>,
    platform: &Platform,
    sites: &Sites,
) -> BTreeMap<std::net::IpAddr, String> {
    platform
        .zones
        .iter()
        .map(|z| z.name.clone())
        .chain(sites.names.iter().map(|(_, n)| n.clone()))
        .map(|name| (sim.lookup(name.as_str()), name))
        .collect()
}

impl RunSummary {
    /// The checks this run failed (empty: it passed).
    pub fn failures(&self) -> Vec<Failure> {
        let mut out = Vec::new();
        if self.cameras_online < self.cameras {
            out.push(Failure::new(
                CheckId::Liveness,
                self.simulated,
                sites::liveness_detail(self.cameras_online, self.cameras, &self.offline),
            ));
        }
        out.extend(self.invariants.iter().cloned());
        out
    }
}
