//! Sans-IO wire formats and cryptography for camproof.
//!
//! Nothing in this crate touches a socket, a clock or an OS random source: bytes and a
//! [`Timestamp`] go in, bytes and events come out, and every random draw comes from an
//! RNG the caller seeded. The same state machines therefore run in the deterministic
//! simulator, on real sockets, and under a fuzzer.
//!
//! - [`netip`]: the NETIP/DVRIP LAN protocol that Xiongmai-family cameras speak.
//! - [`cdp`]: CDP/1, the authenticated, encrypted camera-to-cloud protocol.
//! - [`video`]: end-to-end sealed video frames the relay forwards but cannot read.
//! - [`ota`]: signed firmware manifests with anti-rollback.
//! - [`relay`]: how a connection to the video relay opens (hello, status, ready).
//! - [`pki`]: certificates and a deterministic test PKI.
//! - [`demo`]: all of the above end to end in memory from one seed (`camproof demo`).
#![deny(missing_docs)]

pub mod cdp;
pub mod demo;
mod error;
pub mod netip;
pub mod ota;
pub mod pki;
pub mod relay;
pub mod sig;
pub mod time;
pub mod video;
pub mod wire;

pub use error::Error;
pub use time::Timestamp;
