//! A directory of cached test-PKI keys, so runs after the first skip RSA generation.

use std::fs;
use std::path::PathBuf;

use anyhow::Context;
use camproof_protocol::pki::{KeyCache, NoCache, PkiOptions, TestPki};

/// Keys stored one file per name (`<name>.der`, PKCS#8) in a directory.
pub struct DirKeyCache {
    dir: PathBuf,
}

impl KeyCache for DirKeyCache {
    fn get(&mut self, name: &str) -> Option<Vec<u8>> {
        fs::read(self.dir.join(format!("{name}.der"))).ok()
    }

    fn put(&mut self, name: &str, pkcs8_der: &[u8]) {
        // A cache that cannot be written only costs time on the next run.
        if fs::create_dir_all(&self.dir).is_err() {
            return;
        }
        let tmp = self.dir.join(format!(".{name}.tmp"));
        if fs::write(&tmp, pkcs8_der).is_ok() {
            let _ = fs::rename(&tmp, self.dir.join(format!("{name}.der")));
        }
    }
}

/// The cache chosen by the command line: an explicit directory, `$CAMPROOF_KEY_CACHE`,
/// `~/.cache/camproof/keys`, or none.
pub fn open(dir: Option<PathBuf>, disabled: bool) -> Box<dyn KeyCache> {
    if disabled {
        return Box::new(NoCache);
    }
    let dir = dir
        .or_else(|| std::env::var_os("CAMPROOF_KEY_CACHE").map(PathBuf::from))
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/camproof/keys"))
        });
    match dir {
        Some(dir) => Box::new(DirKeyCache { dir }),
        None => Box::new(NoCache),
    }
}

/// The platform's test PKI for `seed` (default shape), with keys from `cache`.
pub fn platform_pki(seed: u64, cache: &mut dyn KeyCache) -> anyhow::Result<TestPki> {
    TestPki::try_generate(seed, &PkiOptions::default(), cache)
        .with_context(|| format!("generating the test PKI (seed {seed})"))
}
