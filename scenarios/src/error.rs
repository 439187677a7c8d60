//! Why a world could not be built or run.

use thiserror::Error;

/// Why a run could not produce a result.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WorldError {
    /// The specification cannot be built.
    #[error("invalid world: {0}")]
    Invalid(String),
    /// The simulation itself failed (a host returned an error or panicked).
    #[error("simulation failed: {0}")]
    Simulation(String),
}
