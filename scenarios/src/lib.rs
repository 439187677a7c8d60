//! The scenario engine: the simulated [`world`] on turmoil, built from a seed.
//!
//! Today: a world of gateway zones and camera sites that runs for a simulated duration
//! and reports what it measured with the trace hash. Scenario files, faults, attackers
//! and invariants follow.
#![deny(missing_docs)]

pub mod attack;
pub mod checks;
pub mod rogue;
pub mod router;
pub mod scenario;
pub mod tap;
pub mod world;
