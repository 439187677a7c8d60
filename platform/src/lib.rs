//! The camproof reference cloud.
//!
//! Today: the device [`gateway`], the [`accounts`] service (registration, argon2, TOTP, lockout,
//! abnormal-login detection, erasure and export), the device [`registry`] (binding,
//! serial reveal, tenant isolation, authorization codes), the [`ota`] service (signed
//! catalog, staged rollout, install results), the video [`relay`] core and its socket driver [`relay_net`], [`monitoring`]
//! with alert rules, the run [`trace`], app-facing [`signaling`] (sign-in, devices,
//! authorization codes, commands, live view), the [`relay_service`] on the network, and
//! the replicated per-region [`store`] (openraft); [`key_cache`] keeps generated test keys
//! on disk between runs. Every service is generic over the `camproof_net` seam, so one
//! code path runs on turmoil and on real sockets; [`region`] assembles them into a
//! region's zones the same way for the simulated world and for `camproof serve`.
#![deny(missing_docs)]

pub mod accounts;
pub mod gateway;
pub mod key_cache;
pub mod monitoring;
pub mod ota;
pub mod region;
pub mod registry;
pub mod relay;
pub mod relay_net;
pub mod relay_service;
pub mod signaling;
pub mod store;
pub mod trace;
