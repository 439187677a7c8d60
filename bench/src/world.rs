//! Simulation speed: simulated seconds per wall second for a world of cameras.
#![allow(clippy::disallowed_methods)] // It measures the host.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use camproof_protocol::pki::{KeyCache, PkiOptions, TestPki};
use camproof_scenarios::plan::Plan;
use camproof_scenarios::world::{self, RunSummary, WorldSpec};
use camproof_simulated_devices::camera::CameraConfig;

use crate::error::{BenchError, Context as _};

/// The world `camproof bench world` builds.
#[derive(Debug, Clone)]
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

/// The world of a benchmark: cameras spread evenly over the sites, no faults.
pub fn spec(args: &WorldBenchArgs) -> Result<WorldSpec, BenchError> {
    if !(args.sites > 0 && (1..=4).contains(&args.regions) && args.zones_per_region > 0) {
        return Err(BenchError::Invalid(
            "--sites and --zones-per-region must be positive, --regions 1 to 4".into(),
        ));
    }
    if args.cameras < u64::from(args.sites) {
        return Err(BenchError::Invalid(
            "--cameras must be at least --sites".into(),
        ));
    }
    let per_site =
        u32::try_from(args.cameras / u64::from(args.sites)).ctx("too many cameras per site")?;
    let regions: Vec<&str> = world::REGIONS[..args.regions as usize].to_vec();
    let spec = WorldSpec {
        seed: args.seed,
        zones_per_region: args.zones_per_region,
        camera: CameraConfig {
            fps: args.fps,
            bitrate_bps: args.bitrate_kbps * 1000,
            boot_window: Duration::from_secs(30),
            ..CameraConfig::default()
        },
        tick: args.tick,
        viewers: world::ViewerSpec {
            per_site: args.viewers_per_site,
            live_view: args.live_view,
            ..world::ViewerSpec::default()
        },
        ..WorldSpec::new(&regions, args.sites, per_site, args.duration)
    };
    // Refused here, with the plan's reason, before the PKI is built.
    Plan::new(spec.clone()).map_err(|e| BenchError::Invalid(e.to_string()))?;
    Ok(spec)
}

/// The line that says what is about to run.
pub fn header(spec: &WorldSpec) -> String {
    format!(
        "camproof bench world: {} cameras in {} sites, {} regions x {} zones, {} simulated, {}",
        spec.cameras(),
        spec.sites,
        spec.regions.len(),
        spec.zones_per_region,
        humantime::format_duration(spec.duration),
        if spec.camera.fps == 0 {
            "heartbeats only".to_string()
        } else {
            format!(
                "{} fps at {} kbit/s",
                spec.camera.fps,
                spec.camera.bitrate_bps / 1000
            )
        },
    )
}

/// What one benchmark run measured.
#[derive(Debug, Clone)]
pub struct WorldBench {
    /// The world that ran.
    pub spec: WorldSpec,
    /// Wall-clock time to build the PKI.
    pub setup: Duration,
    /// Wall-clock time of the run.
    pub wall: Duration,
    /// What the run measured.
    pub summary: RunSummary,
}

/// Builds the platform's test PKI (seed 1, keys from `cache`) and runs `spec`, timing
/// both.
pub fn run(spec: WorldSpec, cache: &mut dyn KeyCache) -> Result<WorldBench, BenchError> {
    let start = Instant::now();
    let pki = TestPki::try_generate(1, &PkiOptions::default(), cache)
        .ctx("generating the test PKI (seed 1)")?;
    let setup = start.elapsed();
    let start = Instant::now();
    let plan = Plan::new(spec.clone()).map_err(|e| BenchError::Invalid(e.to_string()))?;
    let summary = world::run(&plan, &pki, cache).ctx("running the world")?;
    let wall = start.elapsed();
    Ok(WorldBench {
        spec,
        setup,
        wall,
        summary,
    })
}

impl WorldBench {
    /// The figures for people, one per line, with the process's peak memory.
    pub fn text(&self) -> String {
        let (spec, summary) = (&self.spec, &self.summary);
        let mut out = String::new();
        let ratio = spec.duration.as_secs_f64() / self.wall.as_secs_f64().max(1e-9);
        let _ = writeln!(
            out,
            "  PKI setup               {:.2} s",
            self.setup.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "  world run               {:.2} s wall (device certificates from the cache or issued, handshakes included)",
            self.wall.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "  speed                   {ratio:.1} simulated s per wall s"
        );
        let _ = writeln!(
            out,
            "  cameras online          {}/{}",
            summary.cameras_online, summary.cameras
        );
        let _ = writeln!(
            out,
            "  sessions                {} full handshakes, {} resumed, {} connect attempts",
            summary.counters.gateways.handshakes,
            summary.counters.gateways.resumptions,
            summary.counters.fleet.connect_attempts
        );
        let _ = writeln!(
            out,
            "  heartbeats acknowledged {}; frames delivered {} ({:.1} MB)",
            summary.counters.fleet.heartbeats_acked,
            summary.counters.gateways.video_frames,
            summary.counters.gateways.video_bytes as f64 / 1e6
        );
        let v = &summary.counters.viewers;
        let _ = writeln!(
            out,
            "  viewers                 {} ({} per site): {} sign-ins with TOTP, {} commands relayed and answered, {} live views, {} frames verified end to end",
            spec.viewers.per_site * spec.sites,
            spec.viewers.per_site,
            v.logins,
            summary.counters.signaling.answered,
            v.live_views,
            v.frames_verified
        );
        let _ = writeln!(
            out,
            "  store                   {} writes acknowledged, {} leaders, invariants {}",
            summary.counters.store.writes_acked,
            summary.counters.store.leaders,
            if summary.counters.store.violations.is_empty() {
                "ok"
            } else {
                "VIOLATED"
            }
        );
        let _ = match peak_rss_kib() {
            Some(kib) => writeln!(
                out,
                "  peak memory (VmHWM)     {:.1} MiB",
                kib as f64 / 1024.0
            ),
            None => writeln!(out, "  peak memory             unavailable on this OS"),
        };
        out
    }
}

/// The process's peak resident set size, from /proc (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
