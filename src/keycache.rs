//! The platform's test PKI with the key cache chosen on the command line.

pub use camproof_platform::key_cache::platform_pki;
