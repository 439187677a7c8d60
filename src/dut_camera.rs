//! `camproof camera --platform ADDR [--profile P]`: one simulated camera on real
//! sockets that also connects to a platform over CDP/1 — the DUT of certification
//! modes 2 and 3 (`camproof certify --listen`, `--image`), set up by
//! `conformance::dutsim`.

use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{Context, Result};
use camproof_conformance::dutsim::{run_dut_for, DutCamera};
use camproof_conformance::profiles;
use camproof_net::{SystemClock, TokioNet};
use camproof_protocol::pki::KeyCache;

/// Runs the camera until `duration` passes (or forever).
pub fn run(
    camera: DutCamera,
    duration: Option<Duration>,
    mut cache: Box<dyn KeyCache>,
) -> Result<ExitCode> {
    let config = camera.config()?;
    let pki = crate::keycache::platform_pki(profiles::CERT_PKI_SEED, cache.as_mut())?;
    let shown = config.clone();
    let bound = move |addr| println!("{}", shown.banner(addr));
    let running = run_dut_for(TokioNet, SystemClock, Rc::new(pki), config, duration, bound);
    crate::live::block_on(running)?.context("running the camera")?;
    Ok(ExitCode::SUCCESS)
}
