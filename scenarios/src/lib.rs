//! The scenario engine: world builder on turmoil, fault timeline, invariants, catalog.
//!
//! Empty for now: built on the platform and simulated devices in a later step.
#![deny(missing_docs)]
