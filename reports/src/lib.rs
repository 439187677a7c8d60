//! Certification reports: the [`Report`] model, its signed JSON form, HTML and JUnit XML.
//!
//! - [`Report::build`]: outcomes of a run plus DUT identity, harness version, seed and
//!   timings, with per-requirement verdicts derived from the per-case ones.
//! - [`sign_report`] / [`verify_report`]: the JSON is signed with Ed25519 over its exact
//!   bytes, and the envelope must be byte-for-byte canonical, so changing any byte of
//!   the file makes verification fail.
//! - [`render_html`], [`render_junit`]: for people and for CI.
//!
//! ```
//! use camproof_reports::{sign_report, verify_report, Report, RunInfo, DutIdentity};
//! let report = Report::build(DutIdentity::default(), RunInfo::default(), &[]);
//! let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
//! let file = sign_report(&report, &key).unwrap();
//! assert!(verify_report(&file, None).is_ok());
//! let mut tampered = file.clone();
//! tampered[20] ^= 1;
//! assert!(verify_report(&tampered, None).is_err());
//! ```
#![deny(missing_docs)]

mod html;
mod junit;
mod model;
mod sign;

pub use html::render_html;
pub use junit::render_junit;
pub use model::{CaseResult, DutIdentity, Report, RequirementResult, RunInfo, Summary};
pub use sign::{
    fingerprint, sign_report, verify_report, ReportError, VerifiedReport, REPORT_FORMAT,
};
