//! Benchmarks that print figures for people: wall-clock measurements of this machine,
//! never timed assertions.
//!
//! - [`relay`]: the end-to-end encrypted video relay (`camproof relay`, run as a child
//!   process) against a direct transfer, `socat` and `srt-live-transmit` on loopback.
//! - [`pki`]: test-PKI throughput (key generation, certificates, CDP/1 handshakes).
//! - [`world`]: how fast the simulated world runs (simulated seconds per wall second).
//!
//! Benchmarks are the one place outside the real-network drivers that reads the host
//! clock: what they measure is the host, not the simulation.
//!
//! ```no_run
//! let rows = camproof_bench::pki::run(1, 10, &mut |row| println!("{row}")).unwrap();
//! ```
#![deny(missing_docs)]

pub mod error;
pub mod pki;
#[cfg(unix)]
pub mod relay;
pub mod world;

pub use error::BenchError;
