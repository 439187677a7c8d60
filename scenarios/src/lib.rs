//! The scenario engine: the simulated [`world`] on turmoil, built from a seed.
//!
//! A world of regions, gateway zones, camera sites and viewers runs for a simulated
//! duration; a [`scenario`] file names its faults and [`attack`]s, and the run reports
//! what it measured, the invariants it broke and the trace hash.
#![deny(missing_docs)]

pub mod attack;
pub mod checks;
pub mod onpath;
pub mod overrides;
pub mod plants;
pub mod rogue;
pub mod router;
pub mod scenario;
pub mod summary;
pub mod sweep;
pub mod tap;
pub mod world;
