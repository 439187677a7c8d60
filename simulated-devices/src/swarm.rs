//! A swarm: many cameras against one platform endpoint, as `camproof swarm` runs them on
//! real sockets. Each is the [`Camera`] the simulated world runs in its sites, driven
//! by the [`Net`] and [`Clock`] it is given.
//!
//! ```no_run
//! use camproof_net::{SystemClock, TokioNet};
//! use camproof_protocol::pki::{PkiOptions, TestPki};
//! use camproof_simulated_devices::swarm::{run_swarm, SwarmConfig};
//!
//! # async fn example() -> Result<(), camproof_simulated_devices::swarm::SwarmError> {
//! let pki = TestPki::generate(1, &PkiOptions::default());
//! let config = SwarmConfig::new("127.0.0.1:7443", 10);
//! let report = run_swarm(TokioNet, SystemClock, &pki, &config, std::time::Duration::from_secs(30)).await?;
//! println!("{report}");
//! # Ok(()) }
//! ```

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use camproof_net::{Clock, Net};
use camproof_protocol::cdp::ClientConfig;
use camproof_protocol::pki::TestPki;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::camera::{Camera, CameraConfig, FleetStats};

/// Most cameras one swarm runs.
pub const MAX_CAMERAS: u64 = 10_000;

/// Most video frames per second a swarm's camera sends.
pub const MAX_FPS: u32 = 60;

/// What a swarm runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmConfig {
    /// The gateway's address (`host:port`).
    pub platform: String,
    /// Number of cameras (1 to [`MAX_CAMERAS`]).
    pub cameras: u64,
    /// Video frames per second per camera (0: heartbeats only; at most [`MAX_FPS`]).
    pub fps: u32,
    /// Video bitrate per camera, bit/s.
    pub bitrate_bps: u64,
    /// Seed of the cameras' random draws (one seed per camera, drawn in index order).
    pub seed: u64,
    /// The certificate subject the gateway must present (`None`: any the PKI signed).
    pub expected_server: Option<String>,
}

impl SwarmConfig {
    /// `cameras` cameras against `platform`: 10 frames per second at 256 kbit/s, seed 1.
    pub fn new(platform: impl Into<String>, cameras: u64) -> Self {
        SwarmConfig {
            platform: platform.into(),
            cameras,
            fps: 10,
            bitrate_bps: 256_000,
            seed: 1,
            expected_server: None,
        }
    }

    /// Checks the limits.
    pub fn check(&self) -> Result<(), SwarmError> {
        if self.cameras == 0 || self.cameras > MAX_CAMERAS {
            return Err(SwarmError::Cameras(self.cameras));
        }
        if self.fps > MAX_FPS {
            return Err(SwarmError::Fps(self.fps));
        }
        Ok(())
    }
}

/// Why a swarm cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SwarmError {
    /// Too few or too many cameras (named as `camproof swarm` names the setting).
    #[error("--cameras must be 1 to {MAX_CAMERAS} (not {0})")]
    Cameras(u64),
    /// Too many frames per second.
    #[error("--fps must be 0 to {MAX_FPS} (not {0})")]
    Fps(u32),
}

/// What a swarm's cameras counted, at the end of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmReport {
    /// Cameras run.
    pub cameras: u64,
    /// Their counters.
    pub fleet: FleetStats,
}

impl SwarmReport {
    /// Whether every camera was online at the end.
    pub fn passed(&self) -> bool {
        self.fleet.online.len() as u64 == self.cameras
    }
}

impl fmt::Display for SwarmReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.fleet;
        writeln!(
            f,
            "  cameras online   {}/{} at the end",
            s.online.len(),
            self.cameras
        )?;
        writeln!(
            f,
            "  sessions         {} full handshakes, {} resumed; {} connect attempts, {} failed",
            s.handshakes, s.resumptions, s.connect_attempts, s.failures
        )?;
        writeln!(f, "  heartbeats       {} acknowledged", s.heartbeats_acked)?;
        let mb = s.video_bytes_sent as f64 / 1e6;
        writeln!(
            f,
            "  video            {} frames sent ({mb:.1} MB)",
            s.frames_sent
        )?;
        let verdict = if self.passed() {
            "pass"
        } else {
            "fail (not every camera online)"
        };
        write!(f, "result: {verdict}")
    }
}

/// Runs the swarm of `config` with identities from `pki` for `duration`, then stops
/// every camera and reports.
pub async fn run_swarm<N: Net, C: Clock>(
    net: N,
    clock: C,
    pki: &TestPki,
    config: &SwarmConfig,
    duration: Duration,
) -> Result<SwarmReport, SwarmError> {
    config.check()?;
    let mut client_config = ClientConfig::new(pki.trust_store());
    client_config.expected_server = config.expected_server.clone();
    let client_config = Arc::new(client_config);
    let camera_config = Rc::new(CameraConfig {
        gateways: vec![config.platform.clone()],
        fps: config.fps,
        bitrate_bps: config.bitrate_bps,
        heartbeat: Duration::from_secs(5),
        boot_window: Duration::from_millis(500),
        ..CameraConfig::default()
    });
    let fleet = Rc::new(RefCell::new(FleetStats::default()));
    // The cameras' tasks live in a set of their own: dropping it stops them all.
    let swarm = tokio::task::LocalSet::new();
    let mut seeds = ChaCha8Rng::seed_from_u64(config.seed);
    for index in 0..config.cameras {
        let camera = Camera::new(
            index,
            camera_config.clone(),
            client_config.clone(),
            Arc::new(pki.device(index)),
            ChaCha8Rng::seed_from_u64(seeds.next_u64()),
            fleet.clone(),
        );
        swarm.spawn_local(camera.run(net.clone(), clock.clone()));
    }
    swarm.run_until(tokio::time::sleep(duration)).await;
    drop(swarm);
    let fleet = fleet.borrow().clone();
    Ok(SwarmReport {
        cameras: config.cameras,
        fleet,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_and_named() {
        assert_eq!(SwarmConfig::new("gw:7443", 10).check(), Ok(()));
        let none = SwarmConfig::new("gw:7443", 0).check();
        assert_eq!(none, Err(SwarmError::Cameras(0)));
        let too_many = SwarmConfig::new("gw:7443", MAX_CAMERAS + 1).check();
        assert_eq!(too_many, Err(SwarmError::Cameras(MAX_CAMERAS + 1)));
        let fast = SwarmConfig {
            fps: MAX_FPS + 1,
            ..SwarmConfig::new("gw:7443", 1)
        };
        let err = fast.check().expect_err("61 fps");
        assert_eq!(err.to_string(), "--fps must be 0 to 60 (not 61)");
    }

    #[test]
    fn the_report_passes_only_with_every_camera_online() {
        let mut report = SwarmReport {
            cameras: 2,
            fleet: FleetStats::default(),
        };
        report.fleet.online.insert(0);
        assert!(!report.passed());
        assert!(report
            .to_string()
            .ends_with("result: fail (not every camera online)"));
        report.fleet.online.insert(1);
        assert!(report.passed());
        assert!(report
            .to_string()
            .contains("cameras online   2/2 at the end"));
    }
}
