//! Firmware certification test cases mapped to requirement IDs, and DUT adapters.
//!
//! Empty for now: built on the protocol crate and the simulated devices in a later step.
#![deny(missing_docs)]
