//! Firmware certification for camproof: test cases mapped to requirement IDs, the
//! harness that runs them against a device, and the ways to reach one.
//!
//! - [`catalog`]: every case ([`catalog::TestCase`]): ID, requirements, purpose, the
//!   features it needs, its prerequisites.
//! - [`dut`]: the DUT description (TOML, like Matter's PICS) that decides which cases
//!   apply; skipped cases say why.
//! - [`harness`]: plays the platform the DUT connects to (misbehaving on purpose) and a
//!   NETIP client of its LAN port; generic over the network, so it runs inside turmoil
//!   and on real sockets.
//! - [`profiles`] and [`dutsim`]: the simulated DUTs, the reference and one flawed
//!   firmware per weakness; [`sim`] certifies one inside turmoil (mode 1).
//! - [`capture`]: records the harness's flows as pcap/pcapng and reads captures back;
//!   [`offline`] decides what a capture can (mode 4).
//! - [`outcome`]: verdicts and evidence; [`requirements`]: the requirement index.
//! - [`certify`]: one certification of a DUT reached in any of the four modes.
//!
//! ```no_run
//! use std::rc::Rc;
//! use camproof_conformance::{profiles, sim};
//! use camproof_protocol::pki::{NoCache, PkiOptions, TestPki};
//!
//! let pki = TestPki::try_generate(profiles::CERT_PKI_SEED, &PkiOptions::default(), &mut NoCache).unwrap();
//! let reference = profiles::find("reference").unwrap();
//! let run = sim::certify_profile(&reference, Rc::new(pki), 1, None).unwrap();
//! assert!(run.outcomes.iter().all(|o| o.verdict == camproof_conformance::outcome::Verdict::Pass));
//! ```
#![deny(missing_docs)]

pub mod capture;
pub mod catalog;
pub mod certify;
pub mod checks;
pub mod dut;
pub mod dutsim;
pub mod harness;
pub mod offline;
pub mod outcome;
pub mod profiles;
pub mod requirements;
pub mod sim;
