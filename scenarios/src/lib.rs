//! The scenario engine: the simulated [`world`] on turmoil, built from a seed.
//!
//! A world of regions, gateway zones, camera sites and viewers runs for a simulated
//! duration; a [`scenario`] file names its faults and [`attack`]s, and the run reports
//! what it measured, the invariants it broke and the trace hash. Every world is built
//! from a [`plan::Plan`], the one validation path of files, [`overrides`], the
//! [`sweep`] shrinker and worlds built in code; [`run`] and [`sweep`] also hold what
//! `camproof run` and `camproof sweep` do around them.
#![deny(missing_docs)]

pub mod attack;
pub mod check_id;
pub mod checks;
pub mod error;
pub mod flood;
pub mod onpath;
pub mod overrides;
pub mod plan;
pub mod plants;
pub mod report;
pub mod rogue;
pub mod router;
pub mod run;
pub mod scenario;
pub mod spec;
pub mod summary;
pub mod sweep;
pub mod tap;
pub mod users;
pub mod world;
