//! Simulated camera firmware (with flawed profiles), the viewer app client and attackers.
//!
//! Empty for now: built on `camproof-protocol` in a later step.
#![deny(missing_docs)]
