//! The camproof reference cloud: device gateway, accounts, device registry, signaling,
//! video relay, OTA, monitoring and the replicated per-region store.
//!
//! Empty for now: the platform is built on `camproof-protocol` in a later step
//! (see ARCHITECTURE.md). Nothing here pretends to work yet.
#![deny(missing_docs)]
