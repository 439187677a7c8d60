//! `camproof serve`, `swarm` and `camera` (NETIP only) on real sockets: the library
//! code the simulator runs (`region::standalone`, `swarm`, `netip_server`), driven by
//! `TokioNet` and `SystemClock` on a current-thread runtime.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use camproof_net::{SystemClock, TokioNet};
use camproof_platform::region::standalone::{self, StandaloneConfig};
use camproof_protocol::pki::KeyCache;
use camproof_simulated_devices::netip_server::{self as netip, StandaloneCamera};
use camproof_simulated_devices::swarm::{run_swarm, SwarmConfig};

/// Runs `fut` to its end on a current-thread runtime inside a `LocalSet`.
pub fn block_on<F: Future>(fut: F) -> Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    Ok(tokio::task::LocalSet::new().block_on(&rt, fut))
}

/// Runs the standalone region (gateway, relay, three-replica store on disk) with the
/// test PKI of seed `config.seed` until `config.duration` passes (or forever).
pub fn serve(config: StandaloneConfig, mut cache: Box<dyn KeyCache>) -> Result<ExitCode> {
    let pki = crate::keycache::platform_pki(config.seed, cache.as_mut())?;
    let report = block_on(standalone::serve(
        TokioNet,
        SystemClock,
        &pki,
        config,
        |e| {
            if e.is_failure() {
                eprintln!("{e}");
            } else {
                println!("{e}");
            }
        },
    ))?
    .context("running the platform")?;
    println!("{report}");
    if report.writes_dropped > 0 {
        eprintln!(
            "camproof serve: {} store write(s) were dropped unwritten: the store fell too \
             far behind (look for its errors above)",
            report.writes_dropped
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `config.cameras` simulated cameras against a real platform endpoint for
/// `duration`; fails unless every camera is online at the end.
pub fn swarm(
    mut config: SwarmConfig,
    duration: Duration,
    pki_seed: u64,
    mut cache: Box<dyn KeyCache>,
) -> Result<ExitCode> {
    config.check()?;
    let pki = crate::keycache::platform_pki(pki_seed, cache.as_mut())?;
    config.expected_server = Some(standalone::GATEWAY_NAME.into());
    let report = block_on(run_swarm(TokioNet, SystemClock, &pki, &config, duration))??;
    let took = humantime::format_duration(duration);
    println!(
        "camproof swarm: {} cameras against {} for {took}",
        config.cameras, config.platform
    );
    println!("{report}");
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Runs one simulated camera whose NETIP port third-party DVRIP tools can talk to.
pub fn camera(
    camera: StandaloneCamera,
    pki_seed: u64,
    mut cache: Box<dyn KeyCache>,
) -> Result<ExitCode> {
    let pki = crate::keycache::platform_pki(pki_seed, cache.as_mut())?;
    let running = netip::run_standalone(TokioNet, SystemClock, &pki, camera, |at| println!("{at}"));
    let events = block_on(running)?.context("running the camera")?;
    println!("camera stopped after {events} session events");
    Ok(ExitCode::SUCCESS)
}
