//! Run reports: JSON, JUnit XML, Markdown, HTML, pcap export and report signing.
//!
//! Empty for now: built once runs produce results.
#![deny(missing_docs)]
