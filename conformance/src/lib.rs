//! Firmware certification for camproof: requirement IDs and, in later steps, the test
//! cases that check them against a device.
//!
//! Today this crate holds the requirement index: [`requirements::parse_requirements`]
//! reads the normative statements of `docs/protocol.md`, and
//! [`requirements::uncited`] lists those no test cites, so a requirement without a test
//! fails the build instead of going unnoticed.
//!
//! ```
//! use camproof_conformance::requirements::{parse_requirements, uncited};
//!
//! let spec = "- **CDP-HS-01** Hellos have the layout above.\n- **CDP-HS-02** Version 1 only.\n";
//! let reqs = parse_requirements(spec).unwrap();
//! let tests = [("a.rs".to_string(), "#[cfg(test)]\n/// CDP-HS-01: checks layouts\n".to_string())];
//! let missing = uncited(&reqs, &tests);
//! assert_eq!(missing.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["CDP-HS-02"]);
//! ```
#![deny(missing_docs)]

pub mod requirements;
