//! Simulated camera firmware, the viewer app client and attackers.
//!
//! Today: the [`camera`] model (CDP/1 session, heartbeats, sealed video, fallbacks,
//! reconnect with backoff and jitter). Flawed profiles, the NETIP LAN server, the viewer
//! and the attackers follow.
#![deny(missing_docs)]

pub mod camera;
pub mod netip_server;
