//! Simulated camera firmware, the viewer app client and attackers.
//!
//! The [`camera`] model (CDP/1 session, heartbeats, sealed video, signaling, live view
//! to the relay, fallbacks, reconnect with backoff and jitter, flawed profiles), its
//! NETIP LAN server ([`netip_server`]), and the [`viewer`] app (sign-in with a second
//! factor, devices, signaling, end-to-end verified live view); a [`swarm`] of cameras
//! against one platform endpoint (`camproof swarm`).
#![deny(missing_docs)]

pub mod camera;
pub mod netip_server;
pub mod swarm;
pub mod viewer;
