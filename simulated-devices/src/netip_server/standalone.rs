//! One NETIP camera on its own, as `camproof camera` runs it for third-party DVRIP
//! tools: the reference firmware, trusting firmware signed by a test PKI's first vendor,
//! with the [`NetipFlaw`]s asked for.

use std::cell::RefCell;
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use camproof_net::{AdmissionLimits, Clock, Listener, Net};
use camproof_protocol::pki::TestPki;
use rsa::traits::PublicKeyParts as _;

use super::{serve_netip_with, NetipCamera, NetipCameraConfig, NetipFlaws, NetipServerError};

/// One flaw of known-vulnerable firmware, by name: each switches on one of
/// [`NetipFlaws`]' knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum NetipFlaw {
    /// admin with the empty password (SEC Consult 2018).
    EmptyAdminPassword,
    /// hidden account default/tluafed (CVE-2018-17919).
    HiddenDefaultAccount,
    /// commands executed before login (CVE-2024-3765).
    CommandsBeforeLogin,
    /// firmware installed without verification.
    AcceptUnsignedUpgrade,
    /// no lockout after failed logins.
    NoLockout,
    /// signed but older firmware installed.
    AcceptDowngrade,
}

impl NetipFlaw {
    /// Switches this flaw on in `flaws`.
    pub fn switch_on(self, flaws: &mut NetipFlaws) {
        let knob = match self {
            NetipFlaw::EmptyAdminPassword => &mut flaws.empty_admin_password,
            NetipFlaw::HiddenDefaultAccount => &mut flaws.hidden_default_account,
            NetipFlaw::CommandsBeforeLogin => &mut flaws.commands_before_login,
            NetipFlaw::AcceptUnsignedUpgrade => &mut flaws.accept_unsigned_upgrade,
            NetipFlaw::NoLockout => &mut flaws.no_lockout,
            NetipFlaw::AcceptDowngrade => &mut flaws.accept_downgrade,
        };
        *knob = true;
    }
}

/// What a standalone NETIP camera runs with.
#[derive(Debug, Clone)]
pub struct StandaloneCamera {
    /// Where NETIP listens (port 0: any free port).
    pub listen: String,
    /// The serial number it reports.
    pub serial: String,
    /// The admin password (may be empty only with [`NetipFlaw::EmptyAdminPassword`]).
    pub admin_password: String,
    /// The flaws switched on.
    pub flaws: Vec<NetipFlaw>,
    /// Stop after this long (`None`: never).
    pub duration: Option<Duration>,
    /// Admission limits of the NETIP port.
    pub admission: AdmissionLimits,
}

/// Where a standalone camera listens, and what it runs; its `Display` is the line
/// `camproof camera` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listening {
    /// The camera's serial number.
    pub serial: String,
    /// The NETIP address actually bound.
    pub addr: SocketAddr,
    /// Seed of the PKI whose vendor-0 key signs accepted firmware.
    pub pki_seed: u64,
    /// Size of that key, in bits.
    pub vendor_key_bits: usize,
    /// The flaws switched on.
    pub flaws: Vec<NetipFlaw>,
}

impl fmt::Display for Listening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flaws: Vec<String> = self.flaws.iter().map(|f| format!("{f:?}")).collect();
        write!(
            f,
            "camproof camera {}: NETIP on {}, firmware signed by vendor-0 (pki seed {}, \
             {}-bit key), flaws: {}",
            self.serial,
            self.addr,
            self.pki_seed,
            self.vendor_key_bits,
            if flaws.is_empty() {
                "none".to_string()
            } else {
                flaws.join(", ")
            }
        )
    }
}

/// Why a standalone camera could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StandaloneError {
    /// The PKI has no vendor to sign firmware.
    #[error("the test PKI has no vendor")]
    NoVendor,
    /// The camera's configuration is unusable (an empty admin password, say).
    #[error("configuring the camera: {0}")]
    Camera(#[from] NetipServerError),
    /// The NETIP address could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

/// Runs the camera of `config` until its duration passes, telling `listening` where it
/// listens once bound; returns the number of session events it recorded.
pub async fn run_standalone<N: Net, C: Clock>(
    net: N,
    clock: C,
    pki: &TestPki,
    config: StandaloneCamera,
    listening: impl FnOnce(Listening),
) -> Result<usize, StandaloneError> {
    let mut camera = NetipCameraConfig::reference(&config.serial, &config.admin_password);
    let vendor = pki.vendor_key(0).ok_or(StandaloneError::NoVendor)?;
    camera.vendor_key = Some(vendor.to_public_key());
    for flaw in &config.flaws {
        flaw.switch_on(&mut camera.flaws);
    }
    let camera = Rc::new(RefCell::new(NetipCamera::new(camera, clock.now())?));
    let bind = |source| StandaloneError::Bind {
        addr: config.listen.clone(),
        source,
    };
    let listener = net.bind(&config.listen).await.map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;
    listening(Listening {
        serial: config.serial.clone(),
        addr,
        pki_seed: pki.seed(),
        vendor_key_bits: vendor.size() * 8,
        flaws: config.flaws.clone(),
    });
    let serving = serve_netip_with(listener, clock, camera.clone(), config.admission);
    match config.duration {
        Some(d) => {
            tokio::select! {
                biased;
                _ = serving => {}
                _ = tokio::time::sleep(d) => {}
            }
        }
        None => serving.await,
    }
    let events = camera.borrow_mut().take_events().len();
    Ok(events)
}
