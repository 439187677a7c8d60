//! The simulated camera's NETIP/DVRIP LAN server (TCP 34567).
//!
//! Third-party DVRIP clients and camproof's certification suite talk to it; the rules it
//! follows are specified, with requirement IDs `NETIP-SRV-NN`, at the end of
//! `docs/protocol.md`.
//!
//! - [`NetipCamera`]: the camera-wide state every connection of one camera shares
//!   (accounts, lockout counters, clock offset, logs, recordings, installed firmware,
//!   active sessions), built from a [`NetipCameraConfig`].
//! - [`NetipFlaws`]: knobs that make the server behave like known-vulnerable firmware,
//!   for the negative tests of the certification suite; all off in the reference profile.
//! - [`NetipSession`]: the sans-IO state machine of one TCP connection: bytes in with
//!   [`NetipSession::handle_bytes`], bytes out with [`NetipSession::poll_transmit`],
//!   [`NetipEvent`]s out with [`NetipSession::poll_event`], media and keepalive
//!   deadlines through [`NetipSession::poll_timeout`] / [`NetipSession::handle_timeout`].
//! - [`serve_netip`]: the small async driver that accepts connections on any
//!   [`camproof_net::Listener`] and runs one session per connection.
//! - [`NetipServerError`]: the one error type.
//! - [`run_standalone`]: one camera on its own (`camproof camera`), with [`NetipFlaw`]s
//!   switched on by name.
//!
//! Firmware upgrades (1520/1522/1524) carry an upload framed as
//! `u32 LE length N`, `N` bytes of [`SignedManifest::encode`], then the image
//! ([`encode_upgrade_upload`]); a camera without the [`NetipFlaws::accept_unsigned_upgrade`]
//! flaw installs it only after [`camproof_protocol::ota::ImageVerifier`] accepted it.
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use camproof_protocol::netip::*;
//! use camproof_protocol::Timestamp;
//! use camproof_simulated_devices::netip_server::*;
//!
//! let now = Timestamp::from_secs(1_714_564_800);
//! let config = NetipCameraConfig::reference("SN0001", "Str0ng-Pass");
//! let camera = Rc::new(RefCell::new(NetipCamera::new(config, now)?));
//! let mut session = NetipSession::new(camera.clone(), now);
//!
//! let login = Request::Login(LoginRequest::new("admin", "Str0ng-Pass"));
//! session.handle_bytes(now, &login.to_packet(0, 1)?.encode())?;
//! let mut out = Vec::new();
//! session.poll_transmit(&mut out);
//! let reply = Packet::decode(&out, MAX_PAYLOAD)?;
//! assert_eq!(reply.header().session_id, 1);
//! assert!(matches!(session.poll_event(), Some(NetipEvent::LoggedIn { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod camera;
mod driver;
mod event;
mod session;
mod standalone;
pub(crate) mod upgrade;

pub use camera::{
    synthetic_recordings, MediaSettings, NetipCamera, NetipCameraConfig, NetipFlaws,
    StoredPassword, DEFAULT_LOCKOUT_THRESHOLD, DEFAULT_MAX_UPGRADE_SIZE,
};
pub use driver::{connection_span, serve_connection, serve_netip, serve_netip_with};
pub use event::{CloseReason, NetipEvent};
pub use session::NetipSession;
pub use standalone::{run_standalone, Listening, NetipFlaw, StandaloneCamera, StandaloneError};
pub use upgrade::{encode_upgrade_upload, MAX_MANIFEST_FRAME};

use camproof_protocol::netip::NetipError;
#[cfg(doc)]
use camproof_protocol::ota::SignedManifest;
use thiserror::Error;

/// Why the NETIP server refused a configuration or dropped a connection.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NetipServerError {
    /// The client's byte stream lost its framing (bad magic, oversized length field);
    /// the connection is closed.
    #[error("client broke NETIP framing: {0}")]
    Framing(#[from] NetipError),
    /// Bytes arrived on a connection the server already closed.
    #[error("the NETIP connection is closed")]
    Closed,
    /// The camera configuration is unusable, e.g. an empty admin password without the
    /// `empty_admin_password` flaw.
    #[error("invalid NETIP camera configuration: {0}")]
    Config(String),
}
