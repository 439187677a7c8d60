//! A simulated DUT: camproof's camera firmware model configured from a [`SimProfile`]
//! (the CDP/1 camera, its NETIP server, and DUT-level services such as a debug shell).
//!
//! Generic over [`Net`] and [`Clock`]: the harness runs it inside turmoil (mode 1), and
//! `camproof camera --profile P --platform ADDR` runs it on real sockets (modes 2, 3).

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
    serve_connection, NetipCamera, NetipCameraConfig, NetipServerError,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

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
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let full = {
            let cam = camera.borrow();
            cam.open_connections() >= cam.config().max_connections
        };
        if full || crashed.get() {
            continue;
        }
        let guarded = Guarded {
            inner: stream,
            crashed: crashed.clone(),
            armed: crash_on_oversized,
            header: Vec::new(),
            skip: 0,
        };
        tokio::task::spawn_local(serve_connection(guarded, clock.clone(), camera.clone()));
    }
    // The listener is dropped here: the port is closed, as after a crash.
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
