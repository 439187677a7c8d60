//! Reports: certification reports, and the reports of simulated runs and sweeps.
//!
//! Runs and sweeps:
//! - [`RunReport`] (`result.json`, schema [`RUN_SCHEMA`]) and [`SweepReport`]
//!   (`sweep.json`, [`SWEEP_SCHEMA`]), from `camproof-results`: the components'
//!   own counter types, stored as they are and read here directly.
//! - [`run_files`] / [`sweep_files`]: Markdown, one self-contained HTML page with SVG
//!   charts, and JUnit XML; [`SavedReport`] renders a saved JSON file again.
//! - [`SweepMerge`]: joins the `sweep.json` of a sweep's shards into one; [`SeedRun`]
//!   and [`SweepReport`] also give the lines a sweep and a merge print.
//!
//! Certification:
//!
//! - [`Report::build`]: outcomes of a run plus DUT identity, harness version, seed and
//!   timings, with per-requirement verdicts derived from the per-case ones.
//! - [`sign_report`] / [`verify_report`]: the JSON is signed with Ed25519 over its exact
//!   bytes, and the envelope must be byte-for-byte canonical, so changing any byte of
//!   the file makes verification fail.
//! - [`render_html`], [`render_junit`]: for people and for CI.
//! - [`SigningKeyFile`]: the signer's key on disk; [`certification_files`] and
//!   [`certification_text`]: what `camproof certify` writes and prints.
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

mod certification;
mod counters;
mod html;
mod junit;
mod junit_xml;
mod merge;
mod model;
mod run_html;
mod run_junit;
mod run_render;
mod sign;
mod svg;
mod units;

pub use camproof_results::{
    AlertEntry, CaptureInfo, CheckFailure, CheckResult, CheckStatus, FaultEntry, LatencyBucket,
    LatencyHistogram, RegionOnline, RunReport, SeedRun, SweepReport, TimelineSample,
    LATENCY_BUCKETS_US, RUN_SCHEMA, SWEEP_SCHEMA,
};
pub use certification::{
    certification_files, certification_text, verification_text, CertificationError,
};
pub use counters::{counter_rows, CounterRow};
pub use html::render_html;
pub use junit::render_junit;
pub use merge::{MergeError, SweepMerge};
pub use model::{CaseResult, DutIdentity, Report, RequirementResult, RunInfo, Summary};
pub use run_html::{render_run_html, render_sweep_html};
pub use run_junit::{render_run_junit, render_sweep_junit};
pub use run_render::{
    render_run_markdown, render_sweep_markdown, run_files, sweep_files, RenderError, SavedReport,
};
pub use sign::{
    fingerprint, parse_public_key, sign_report, verify_report, PublicKeyError, ReportError,
    SigningKeyError, SigningKeyFile, VerifiedReport, REPORT_FORMAT, SIGNING_KEY_ENV,
};
