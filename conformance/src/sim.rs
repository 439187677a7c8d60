//! Mode 1: certify a simulated profile inside turmoil, deterministic from a seed.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use camproof_net::{SimClock, SimNet};
use camproof_protocol::pki::TestPki;
use thiserror::Error;

use crate::capture::{Capture, SharedCapture};
use crate::dut::DutDescription;
use crate::dutsim::{run_dut, DutConfig};
use crate::harness::{run, HarnessSetup};
use crate::outcome::Outcome;
use crate::profiles::SimProfile;

/// Simulated start time: 2026-01-01 00:00:00 UTC.
pub const SIM_EPOCH_SECS: u64 = 1_767_225_600;
/// Longest simulated run.
pub const SIM_LIMIT: Duration = Duration::from_secs(4 * 3600);

/// Why a simulated certification could not run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SimError {
    /// The simulation itself failed (a host errored or the time limit passed).
    #[error("simulation failed: {0}")]
    Sim(String),
    /// The harness produced no result.
    #[error("the harness did not finish")]
    NoResult,
}

/// What a simulated certification produced.
#[derive(Debug, Clone)]
pub struct SimResult {
    /// Per-case outcomes.
    pub outcomes: Vec<Outcome>,
    /// Every flow the harness had with the DUT.
    pub capture: Capture,
    /// Simulated time the run took.
    pub simulated: Duration,
}

/// Certifies `profile` inside turmoil; `only` runs one case.
pub fn certify_profile(
    profile: &SimProfile,
    pki: Rc<TestPki>,
    seed: u64,
    only: Option<String>,
) -> Result<SimResult, SimError> {
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(SystemTime::UNIX_EPOCH + Duration::from_secs(SIM_EPOCH_SECS))
        .simulation_duration(SIM_LIMIT)
        .tick_duration(Duration::from_millis(1))
        .tcp_capacity(256)
        .build();
    let dut_profile = profile.clone();
    let dut_pki = pki.clone();
    sim.host("dut", move || {
        let config = DutConfig {
            profile: dut_profile.clone(),
            platform: vec!["harness:7443".into()],
            netip_listen: "0.0.0.0:34567".into(),
            debug_host: "0.0.0.0".into(),
            seed: seed ^ 0xD07,
            fps: 25,
            admin_password: dut_profile.admin_password().to_owned(),
        };
        let pki = dut_pki.clone();
        async move {
            run_dut(SimNet, SimClock, pki, config, |_| {})
                .await
                .map_err(|e| e.to_string().into())
        }
    });
    let result: Rc<RefCell<Option<Vec<Outcome>>>> = Rc::new(RefCell::new(None));
    let capture: SharedCapture = Rc::new(RefCell::new(Capture::default()));
    let out = result.clone();
    let cap = capture.clone();
    let password = Some(profile.admin_password().to_owned());
    sim.client("harness", async move {
        let v4 = |name: &str| match turmoil::lookup(name) {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        };
        let setup = HarnessSetup {
            net: SimNet,
            clock: SimClock,
            pki,
            description: DutDescription::simulated(),
            password,
            listen: "0.0.0.0:7443".into(),
            fallback_listen: "0.0.0.0:7444".into(),
            fallback_advertised: "harness:7444".into(),
            dut_host: "dut".into(),
            harness_ip: v4("harness"),
            dut_ip: v4("dut"),
            seed,
            only,
            capture: cap,
        };
        let outcomes = run(setup).await?;
        *out.borrow_mut() = Some(outcomes);
        Ok(())
    });
    sim.run().map_err(|e| SimError::Sim(e.to_string()))?;
    let simulated = sim.elapsed();
    let outcomes = result.borrow_mut().take().ok_or(SimError::NoResult)?;
    let capture = capture.borrow().clone();
    Ok(SimResult {
        outcomes,
        capture,
        simulated,
    })
}
