//! A simulated DUT: camproof's camera firmware model configured from a [`SimProfile`]
//! (the CDP/1 camera, its NETIP server, and DUT-level services such as a debug shell).
//!
//! Generic over [`Net`] and [`Clock`]: the harness runs it inside turmoil (mode 1), and
//! `camproof camera --profile P --platform ADDR` runs it on real sockets (modes 2, 3),
//! set up by [`DutCamera::config`].

use std::cell::{Cell, RefCell};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use camproof_net::{Clock, Listener, Net};
use camproof_protocol::netip::{HEADER_LEN, MAX_PAYLOAD};
use camproof_protocol::pki::TestPki;
use camproof_simulated_devices::camera::{Camera, CameraConfig, FleetStats};
use camproof_simulated_devices::netip_server::{
    connection_span, serve_connection, NetipCamera, NetipCameraConfig, NetipFlaw, NetipServerError,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tracing::Instrument as _;

use crate::profiles::{SimProfile, DEBUG_PORTS, SIM_DEVICE_INDEX, SIM_GOP, SIM_SERIAL};

/// What a simulated DUT needs besides its profile.
#[derive(Debug, Clone)]
pub struct DutConfig {
    /// The firmware.
    pub profile: SimProfile,
    /// Platform endpoints, home first (empty: no cloud connection).
    pub platform: Vec<String>,
    /// Where NETIP listens (`0.0.0.0:34567`).
    pub netip_listen: String,
    /// Host part debug services bind to (`0.0.0.0`).
    pub debug_host: String,
    /// Seed of the camera's random draws.
    pub seed: u64,
    /// Video frames per second.
    pub fps: u32,
    /// The NETIP admin password (ignored by the `empty-admin-password` profile).
    pub admin_password: String,
}

/// A DUT camera as `camproof camera --platform ADDR [--profile P]` sets it up.
#[derive(Debug, Clone)]
pub struct DutCamera {
    /// NETIP listen address.
    pub netip: String,
    /// Platform endpoints; `@gateway:PORT` is the default route's gateway (inside a
    /// container: the Docker host).
    pub platform: Vec<String>,
    /// Firmware profile name.
    pub profile: String,
    /// NETIP flaws switched on beyond the profile's.
    pub flaws: Vec<NetipFlaw>,
    /// The NETIP admin password.
    pub admin_password: String,
    /// Seed of the camera's draws.
    pub seed: u64,
    /// Video frames per second.
    pub fps: u32,
}

/// Why a DUT camera cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DutCameraError {
    /// No profile has this name.
    #[error("unknown profile {name:?}; profiles: {known}")]
    UnknownProfile {
        /// The name asked for.
        name: String,
        /// Every profile's name, comma-separated.
        known: String,
    },
    /// The routing table could not be read.
    #[error("reading {ROUTE_TABLE}: {0}")]
    Routes(#[source] io::Error),
    /// The routing table names no default gateway.
    #[error("no default route in {ROUTE_TABLE}")]
    NoDefaultRoute,
}

/// Where Linux lists the IPv4 routes.
const ROUTE_TABLE: &str = "/proc/net/route";

impl DutCamera {
    /// The DUT's configuration: the profile with the extra flaws, `@gateway:PORT`
    /// endpoints resolved, debug services on the NETIP address's host.
    pub fn config(self) -> Result<DutConfig, DutCameraError> {
        let mut profile =
            crate::profiles::find(&self.profile).ok_or_else(|| DutCameraError::UnknownProfile {
                name: self.profile.clone(),
                known: crate::profiles::names().join(", "),
            })?;
        for flaw in &self.flaws {
            flaw.switch_on(&mut profile.netip);
        }
        let platform = self
            .platform
            .iter()
            .map(|p| match p.strip_prefix("@gateway:") {
                Some(port) => default_gateway().map(|g| format!("{g}:{port}")),
                None => Ok(p.clone()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let debug_host = self
            .netip
            .rsplit_once(':')
            .map(|(h, _)| h.to_string())
            .unwrap_or_else(|| "0.0.0.0".into());
        Ok(DutConfig {
            profile,
            platform,
            netip_listen: self.netip,
            debug_host,
            seed: self.seed,
            fps: self.fps,
            admin_password: self.admin_password,
        })
    }
}

/// The IPv4 default gateway from the routing table (inside a container: the Docker
/// host on the container's network).
pub fn default_gateway() -> Result<String, DutCameraError> {
    let table = std::fs::read_to_string(ROUTE_TABLE).map_err(DutCameraError::Routes)?;
    parse_default_gateway(&table).ok_or(DutCameraError::NoDefaultRoute)
}

/// The default gateway in the text of `/proc/net/route`, if it names one.
fn parse_default_gateway(table: &str) -> Option<String> {
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 2 && f[1] == "00000000" {
            let [a, b, c, d] = u32::from_str_radix(f[2], 16).ok()?.to_le_bytes();
            Some(format!("{a}.{b}.{c}.{d}"))
        } else {
            None
        }
    })
}

impl DutConfig {
    /// The line `camproof camera` prints once NETIP listens on `netip`.
    pub fn banner(&self, netip: std::net::SocketAddr) -> String {
        let platform = if self.platform.is_empty() {
            "none".to_string()
        } else {
            self.platform.join(", ")
        };
        format!(
            "camproof camera {SIM_SERIAL}: profile {}, NETIP on {netip}, platform {platform}",
            self.profile.name
        )
    }
}

/// Builds the NETIP camera of `profile`.
pub fn netip_camera(
    profile: &SimProfile,
    password: &str,
    pki: &TestPki,
    now: camproof_protocol::Timestamp,
) -> Result<NetipCamera, NetipServerError> {
    let password = if profile.netip.empty_admin_password {
        "unused"
    } else {
        password
    };
    let mut config = NetipCameraConfig::reference(SIM_SERIAL, password);
    config.vendor_key = pki.vendor_key(0).map(|k| k.to_public_key());
    config.flaws = profile.netip;
    config.max_upgrade_size = 1 << 20;
    NetipCamera::new(config, now)
}

/// Runs the DUT until the task is dropped: the camera task, the NETIP service and the
/// profile's extra services. Fails only if a port cannot be bound.
pub async fn run_dut<N: Net, C: Clock>(
    net: N,
    clock: C,
    pki: Rc<TestPki>,
    config: DutConfig,
    bound: impl FnOnce(std::net::SocketAddr),
) -> io::Result<()> {
    let profile = &config.profile;
    let netip = netip_camera(profile, &config.admin_password, &pki, clock.now())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let listener = net.bind(&config.netip_listen).await?;
    bound(listener.local_addr()?);
    if profile.debug_shell {
        for port in DEBUG_PORTS {
            let l = net.bind(&format!("{}:{port}", config.debug_host)).await?;
            tokio::task::spawn_local(debug_shell::<N>(l));
        }
    }
    if !config.platform.is_empty() {
        let camera_config = Rc::new(CameraConfig {
            gateways: config.platform.clone(),
            heartbeat: Duration::from_secs(5),
            fps: config.fps,
            bitrate_bps: 128_000,
            gop: SIM_GOP,
            boot_window: Duration::from_millis(200),
            flaws: profile.camera,
            ..CameraConfig::default()
        });
        let camera = Camera::new(
            SIM_DEVICE_INDEX,
            camera_config,
            Arc::new(profile.client_config(&pki)),
            Arc::new(profile.credentials(&pki)),
            ChaCha8Rng::seed_from_u64(config.seed),
            Rc::new(RefCell::new(FleetStats::default())),
        );
        tokio::task::spawn_local(camera.run(net.clone(), clock.clone()));
    }
    serve(
        listener,
        clock,
        Rc::new(RefCell::new(netip)),
        profile.crash_on_oversized_length,
    )
    .await;
    Ok(())
}

/// [`run_dut`] for at most `duration` (`None`: until the task is dropped).
pub async fn run_dut_for<N: Net, C: Clock>(
    net: N,
    clock: C,
    pki: Rc<TestPki>,
    config: DutConfig,
    duration: Option<Duration>,
    bound: impl FnOnce(std::net::SocketAddr),
) -> io::Result<()> {
    let running = run_dut(net, clock, pki, config, bound);
    match duration {
        Some(d) => {
            tokio::select! {
                biased;
                r = running => r,
                _ = tokio::time::sleep(d) => Ok(()),
            }
        }
        None => running.await,
    }
}

/// The NETIP accept loop; with `crash_on_oversized` the whole service dies at the first
/// oversized length field (CVE-2019-11878), as the flawed firmware did.
async fn serve<L, C>(
    listener: L,
    clock: C,
    camera: Rc<RefCell<NetipCamera>>,
    crash_on_oversized: bool,
) where
    L: Listener,
    L::Stream: AsyncRead + AsyncWrite + Unpin + 'static,
    C: Clock,
{
    let crashed = Rc::new(Cell::new(false));
    loop {
        let accepted = tokio::select! {
            biased;
            _ = wait_crash(crashed.clone()) => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "NETIP accept failed; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let full = {
            let cam = camera.borrow();
            cam.open_connections() >= cam.config().max_connections
        };
        if crashed.get() {
            continue;
        }
        if full {
            tracing::warn!(%peer, "NETIP connection refused: too many connections");
            continue;
        }
        let guarded = Guarded {
            inner: stream,
            crashed: crashed.clone(),
            armed: crash_on_oversized,
            header: Vec::new(),
            skip: 0,
        };
        let serving = serve_connection(guarded, clock.clone(), camera.clone());
        tokio::task::spawn_local(serving.instrument(connection_span(peer)));
    }
    // The listener is dropped here: the port is closed, as after a crash.
    tracing::warn!("NETIP service crashed (oversized length field): port closed");
}

async fn wait_crash(crashed: Rc<Cell<bool>>) {
    while !crashed.get() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A connection of a firmware that may crash: watches NETIP headers going in.
struct Guarded<S> {
    inner: S,
    crashed: Rc<Cell<bool>>,
    armed: bool,
    header: Vec<u8>,
    skip: u64,
}

impl<S> Guarded<S> {
    fn watch(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.skip > 0 {
                let n = (self.skip as usize).min(data.len());
                self.skip -= n as u64;
                data = &data[n..];
                continue;
            }
            let need = HEADER_LEN - self.header.len();
            let n = need.min(data.len());
            self.header.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.header.len() == HEADER_LEN {
                let len = u32::from_le_bytes([
                    self.header[16],
                    self.header[17],
                    self.header[18],
                    self.header[19],
                ]);
                self.header.clear();
                if len as usize > MAX_PAYLOAD {
                    self.crashed.set(true);
                    return;
                }
                self.skip = u64::from(len);
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.crashed.get() {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if this.armed {
            if let Poll::Ready(Ok(())) = &r {
                let new = buf.filled()[before..].to_vec();
                this.watch(&new);
                if this.crashed.get() {
                    return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
                }
            }
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A debug shell as deployed firmware leaves it on 9527/9530: a banner and a login.
async fn debug_shell<N: Net>(listener: N::Listener) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        tokio::task::spawn_local(async move {
            let _ = s
                .write_all(b"\r\nBusyBox v1.20.2 built-in shell (ash)\r\nLocalHost login: ")
                .await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_route_names_the_gateway() {
        let table = "Iface\tDestination\tGateway \tFlags\n\
                     eth0\t00000000\t010011AC\t0003\n\
                     eth0\t000011AC\t00000000\t0001\n";
        assert_eq!(parse_default_gateway(table).as_deref(), Some("172.17.0.1"));
        let no_default = "Iface\tDestination\tGateway \tFlags\neth0\t000011AC\t00000000\t0001\n";
        assert_eq!(parse_default_gateway(no_default), None);
    }

    #[test]
    fn a_dut_camera_takes_its_profile_and_extra_flaws() {
        let camera = DutCamera {
            netip: "127.0.0.1:0".into(),
            platform: vec!["127.0.0.1:7443".into()],
            profile: "reference".into(),
            flaws: vec![NetipFlaw::NoLockout],
            admin_password: "pw".into(),
            seed: 1,
            fps: 25,
        };
        let config = camera.clone().config().expect("the reference profile");
        assert!(config.profile.netip.no_lockout);
        assert_eq!(config.debug_host, "127.0.0.1");
        assert_eq!(config.platform, ["127.0.0.1:7443"]);
        let unknown = DutCamera {
            profile: "no-such".into(),
            ..camera
        };
        let err = unknown.config().expect_err("an unknown profile");
        assert!(err.to_string().contains("reference"), "{err}");
    }
}
