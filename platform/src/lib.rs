//! The camproof reference cloud.
//!
//! Today: the [`net`] seam (one code path on turmoil and on real sockets), the device
//! [`gateway`], the video [`relay`] core, and the run [`trace`]. Accounts, registry, signaling, relay, OTA,
//! monitoring and the replicated store follow.
#![deny(missing_docs)]

pub mod accounts;
pub mod gateway;
pub mod net;
pub mod relay;
pub mod trace;
