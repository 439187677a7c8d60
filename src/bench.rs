//! `camproof bench …`: figures from [`camproof_bench`], printed.

use std::process::ExitCode;

use anyhow::Result;
use camproof_bench::world::{self, WorldBenchArgs};
use camproof_protocol::pki::KeyCache;

/// `camproof bench pki`: test-PKI and handshake throughput.
pub fn pki(keys: u32, iterations: u32) -> Result<ExitCode> {
    if keys > 0 && iterations > 0 {
        println!("camproof bench pki (release build recommended; one core)");
    }
    camproof_bench::pki::run(keys, iterations, &mut |row| println!("{row}"))?;
    Ok(ExitCode::SUCCESS)
}

/// `camproof bench world`: simulated seconds per wall second.
pub fn world(args: WorldBenchArgs, mut cache: Box<dyn KeyCache>) -> Result<ExitCode> {
    let spec = world::spec(&args)?;
    println!("{}", world::header(&spec));
    print!("{}", world::run(spec, cache.as_mut())?.text());
    Ok(ExitCode::SUCCESS)
}

/// `camproof bench relay`: the relay against a direct transfer and real peers.
#[cfg(unix)]
pub fn relay(args: camproof_bench::relay::RelayBenchArgs, json: bool) -> Result<ExitCode> {
    use anyhow::Context;
    let bench = camproof_bench::relay::run(args, &mut |name| {
        if !json {
            eprintln!("  measuring {name} ...");
        }
    })?;
    if json {
        let text = serde_json::to_string_pretty(&bench.to_json()).context("encoding JSON")?;
        println!("{text}");
    } else {
        print!("{}", bench.table());
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }
    Ok(ExitCode::SUCCESS)
}
