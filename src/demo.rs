//! `camproof demo`: the protocol core end to end, in memory, from one seed
//! ([`camproof_protocol::demo`]); this prints its lines.

use std::process::ExitCode;

use anyhow::Result;
use camproof_protocol::pki::KeyCache;

/// Runs the demonstration; exits non-zero if any step does not behave as it must.
pub fn run(seed: u64, frames: u32, mut cache: Box<dyn KeyCache>) -> Result<ExitCode> {
    camproof_protocol::demo::run(seed, frames, cache.as_mut(), &mut |line| println!("{line}"))?;
    Ok(ExitCode::SUCCESS)
}
