//! The camproof reference cloud.
//!
//! Today: the [`net`] seam (one code path on turmoil and on real sockets), the device
//! [`gateway`], the [`accounts`] service (registration, argon2, TOTP, lockout,
//! abnormal-login detection, erasure and export), the device [`registry`] (binding,
//! serial reveal, tenant isolation, authorization codes), the [`ota`] service (signed
//! catalog, staged rollout, install results), the video [`relay`] core, [`monitoring`]
//! with alert rules, and the run [`trace`]. Signaling from the app and the replicated
//! store follow.
#![deny(missing_docs)]

pub mod accounts;
pub mod gateway;
pub mod monitoring;
pub mod net;
pub mod ota;
pub mod registry;
pub mod relay;
pub mod trace;
