//! Accounts: registration, login with a second factor, lockout, erasure (being written).
//!
//! Building blocks so far: [`geo`] (regions, haversine), [`limiter`] (sliding-window
//! lockout), [`password`] (policy and Argon2id), [`totp`] (RFC 6238 with replay
//! protection).

pub mod geo;
pub mod limiter;
// Crate-private helpers here are used by the service, which comes next.
#[allow(dead_code)]
pub mod password;
#[allow(dead_code)]
pub mod totp;
