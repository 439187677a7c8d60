//! The benchmarks' error type.

use std::error::Error as StdError;

use thiserror::Error;

/// Why a benchmark could not run or finish.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BenchError {
    /// An argument is out of range.
    #[error("{0}")]
    Invalid(String),
    /// A step failed; `what` says which, the source why.
    #[error("{what}")]
    Step {
        /// The step.
        what: String,
        /// Why it failed.
        #[source]
        source: Option<Box<dyn StdError + Send + Sync>>,
    },
    /// A socket or process operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A task of the load generator panicked or was cancelled.
    #[error(transparent)]
    Join(#[from] tokio::task::JoinError),
    /// The relay answered with something that is not a relay hello.
    #[error(transparent)]
    Relay(#[from] camproof_platform::relay::RelayError),
    /// A CDP/1 state machine refused bytes in the handshake benchmark.
    #[error(transparent)]
    Cdp(#[from] camproof_protocol::cdp::CdpError),
    /// JSON encoding failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl BenchError {
    /// A failed step without an underlying error.
    pub fn step(what: impl Into<String>) -> Self {
        BenchError::Step {
            what: what.into(),
            source: None,
        }
    }
}

/// Names the step that failed, like `anyhow::Context`, with a typed error.
pub trait Context<T> {
    /// Wraps a failure in [`BenchError::Step`] named `what`.
    fn ctx(self, what: &str) -> Result<T, BenchError>;
    /// Like [`Context::ctx`], with the name built only on failure.
    fn with_ctx(self, what: impl FnOnce() -> String) -> Result<T, BenchError>;
}

impl<T, E: StdError + Send + Sync + 'static> Context<T> for Result<T, E> {
    fn ctx(self, what: &str) -> Result<T, BenchError> {
        self.with_ctx(|| what.to_string())
    }
    fn with_ctx(self, what: impl FnOnce() -> String) -> Result<T, BenchError> {
        self.map_err(|e| BenchError::Step {
            what: what(),
            source: Some(Box::new(e)),
        })
    }
}

impl<T> Context<T> for Option<T> {
    fn ctx(self, what: &str) -> Result<T, BenchError> {
        self.ok_or_else(|| BenchError::step(what))
    }
    fn with_ctx(self, what: impl FnOnce() -> String) -> Result<T, BenchError> {
        self.ok_or_else(|| BenchError::step(what()))
    }
}
