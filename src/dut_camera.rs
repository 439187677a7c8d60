//! `camproof camera --platform ADDR [--profile P]`: one simulated camera on real
//! sockets that also connects to a platform over CDP/1 — the DUT of certification
//! modes 2 and 3 (`camproof certify --listen`, `--image`).
#![allow(clippy::disallowed_methods)] // Real-socket runs live in real time.

use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{Context, Result};
use camproof_conformance::dutsim::{run_dut, DutConfig};
use camproof_conformance::profiles;
use camproof_net::{SystemClock, TokioNet};
use camproof_protocol::pki::KeyCache;

use crate::live::NetipFlaw;

/// What the camera runs.
pub struct DutCameraArgs {
    /// NETIP listen address.
    pub netip: String,
    /// Platform endpoints (`@gateway:PORT` = the default route's gateway).
    pub platform: Vec<String>,
    /// Firmware profile.
    pub profile: String,
    /// Extra NETIP flaws.
    pub flaws: Vec<NetipFlaw>,
    /// Admin password.
    pub admin_password: String,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Seed of the camera's draws.
    pub seed: u64,
    /// Video frames per second.
    pub fps: u32,
}

/// The IPv4 default gateway from `/proc/net/route` (inside a container: the Docker
/// host on the container's network).
fn default_gateway() -> Result<String> {
    let table = std::fs::read_to_string("/proc/net/route").context("reading /proc/net/route")?;
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 2 && f[1] == "00000000" {
            let g = u32::from_str_radix(f[2], 16).context("parsing /proc/net/route")?;
            let [a, b, c, d] = g.to_le_bytes();
            return Ok(format!("{a}.{b}.{c}.{d}"));
        }
    }
    anyhow::bail!("no default route in /proc/net/route")
}

/// Runs the camera until `duration` passes (or forever).
pub fn run(args: DutCameraArgs, mut cache: Box<dyn KeyCache>) -> Result<ExitCode> {
    let mut profile = profiles::find(&args.profile).with_context(|| {
        format!(
            "unknown profile {:?}; profiles: {}",
            args.profile,
            profiles::names().join(", ")
        )
    })?;
    for f in &args.flaws {
        let n = &mut profile.netip;
        match f {
            NetipFlaw::EmptyAdminPassword => n.empty_admin_password = true,
            NetipFlaw::HiddenDefaultAccount => n.hidden_default_account = true,
            NetipFlaw::CommandsBeforeLogin => n.commands_before_login = true,
            NetipFlaw::AcceptUnsignedUpgrade => n.accept_unsigned_upgrade = true,
            NetipFlaw::NoLockout => n.no_lockout = true,
            NetipFlaw::AcceptDowngrade => n.accept_downgrade = true,
        }
    }
    let platform = args
        .platform
        .iter()
        .map(|p| match p.strip_prefix("@gateway:") {
            Some(port) => default_gateway().map(|g| format!("{g}:{port}")),
            None => Ok(p.clone()),
        })
        .collect::<Result<Vec<_>>>()?;
    let pki = Rc::new(crate::keycache::platform_pki(
        profiles::CERT_PKI_SEED,
        cache.as_mut(),
    )?);
    let debug_host = args
        .netip
        .rsplit_once(':')
        .map(|(h, _)| h.to_string())
        .unwrap_or_else(|| "0.0.0.0".into());
    let config = DutConfig {
        profile: profile.clone(),
        platform: platform.clone(),
        netip_listen: args.netip.clone(),
        debug_host,
        seed: args.seed,
        fps: args.fps,
        admin_password: args.admin_password,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let local = tokio::task::LocalSet::new();
    let name = profile.name;
    local.block_on(&rt, async move {
        let running = run_dut(TokioNet, SystemClock, pki, config, |addr| {
            println!(
                "camproof camera {}: profile {name}, NETIP on {addr}, platform {}",
                profiles::SIM_SERIAL,
                if platform.is_empty() {
                    "none".to_string()
                } else {
                    platform.join(", ")
                }
            );
        });
        match args.duration {
            Some(d) => {
                tokio::select! {
                    biased;
                    r = running => r.context("running the camera")?,
                    _ = tokio::time::sleep(d) => {}
                }
            }
            None => running.await.context("running the camera")?,
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
