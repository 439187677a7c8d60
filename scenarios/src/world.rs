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

use camproof_platform::gateway::{Gateway, GatewayConfig, GatewayStats};
use camproof_platform::monitoring::{Alert, Metric, Monitor, Sample};
use camproof_platform::net::{SimClock, SimNet};
use camproof_platform::trace::Trace;
use camproof_protocol::cdp::{ClientConfig, ServerConfig, ServerContext};
use camproof_protocol::pki::{KeyCache, TestPki};
use camproof_protocol::Timestamp;
use camproof_simulated_devices::camera::{Camera, CameraConfig, FleetStats};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use thiserror::Error;

/// The simulated wall clock at the start of every run: 2027-01-15 08:00:00 UTC.
pub const EPOCH_SECS: u64 = 1_799_913_600;
/// The port gateways listen on.
pub const GATEWAY_PORT: u16 = 7443;
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
}

impl FaultAction {
    /// The targets the fault names.
    pub fn targets(&self) -> Vec<&str> {
        match self {
            FaultAction::Crash(t) | FaultAction::Restart(t) => vec![t],
            FaultAction::Partition(a, b) | FaultAction::Heal(a, b) => vec![a, b],
        }
    }
}

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
            relay: format!("relay-{region}:{}", GATEWAY_PORT + 1),
            fallbacks,
            idle_timeout: spec.camera.heartbeat * 3,
        };
        let context = contexts[region].clone();
        let stats = gateway_stats[g].clone();
        let trace = trace.clone();
        let seed = seeds.next_u64();
        sim.host(name.as_str(), move || {
            let gateway = Gateway::new(
                config.clone(),
                server_config.clone(),
                context.clone(),
                seed,
                stats.clone(),
                trace.clone(),
            );
            async move {
                gateway.serve(SimNet, SimClock).await?;
                Ok(())
            }
        });
    }

    let mut client_config = ClientConfig::new(pki.trust_store());
    client_config.flaws = spec.camera.flaws.device;
    let client_config = Arc::new(client_config);
    let mut homes: BTreeMap<u64, String> = BTreeMap::new();
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
        let mut devices = Vec::with_capacity(spec.cameras_per_site as usize);
        for c in 0..spec.cameras_per_site {
            let index = u64::from(site) * u64::from(spec.cameras_per_site) + u64::from(c);
            // Home-region zones first, spread over the zones; other regions last.
            let mut gateways = home.clone();
            gateways.rotate_left((index % home.len() as u64) as usize);
            gateways.extend(away.iter().cloned());
            let config = Rc::new(CameraConfig {
                gateways,
                ..spec.camera.clone()
            });
            homes.insert(index, region.clone());
            devices.push((
                index,
                config,
                Arc::new(pki.device_cached(index, cache)),
                seeds.next_u64(),
            ));
        }
        let site_name = spec.site_names()[site as usize].clone();
        site_names.push((region, site_name.clone()));
        let client_config = client_config.clone();
        let fleet = fleet.clone();
        sim.host(site_name.as_str(), move || {
            let devices = devices.clone();
            let client_config = client_config.clone();
            let fleet = fleet.clone();
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
    let mut monitor = Monitor::standard();
    let mut next_sample = Duration::ZERO;
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
        if elapsed >= next_sample {
            // A running host reports itself up; a crashed one reports nothing.
            for (_, name) in &gateways {
                if sim.is_host_running(name.as_str()) {
                    monitor.observe(Sample::new(name, "gateway", Metric::Up, 1.0, now));
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
        alerts: monitor.alerts().to_vec(),
        faults: applied,
        trace_events: trace.len(),
        trace_hash: trace.hash_hex(),
    })
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
