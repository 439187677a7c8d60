//! The key cache chosen on the command line, and the platform's test PKI built with it.

use std::path::PathBuf;

use anyhow::Context;
use camproof_protocol::pki::{KeyCache, PkiOptions, TestPki};

/// The cache chosen by the command line: an explicit directory, `$CAMPROOF_KEY_CACHE`,
/// `~/.cache/camproof/keys`, or none.
pub fn open(dir: Option<PathBuf>, disabled: bool) -> Box<dyn KeyCache> {
    camproof_platform::key_cache::open(dir, disabled)
}

/// The platform's test PKI for `seed` (default shape), with keys from `cache`.
pub fn platform_pki(seed: u64, cache: &mut dyn KeyCache) -> anyhow::Result<TestPki> {
    TestPki::try_generate(seed, &PkiOptions::default(), cache)
        .with_context(|| format!("generating the test PKI (seed {seed})"))
}
