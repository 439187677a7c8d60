//! A directory of cached test-PKI keys, so runs after the first skip RSA generation.
//!
//! [`KeyCache`] is defined beside the test PKI in `camproof-protocol`, which does no I/O;
//! this is its implementation on disk, used by every command that builds a PKI (the
//! simulator, the certification harness, the real-socket platform and cameras).

use std::fs;
use std::path::PathBuf;

use camproof_protocol::pki::{KeyCache, NoCache};

/// The environment variable naming the default cache directory.
pub const KEY_CACHE_ENV: &str = "CAMPROOF_KEY_CACHE";

/// Keys stored one file per name (`<name>.der`, PKCS#8) in a directory.
#[derive(Debug, Clone)]
pub struct DirKeyCache {
    dir: PathBuf,
}

impl DirKeyCache {
    /// A cache in `dir` (created on the first write).
    pub fn new(dir: PathBuf) -> Self {
        DirKeyCache { dir }
    }

    /// The default directory: `$CAMPROOF_KEY_CACHE`, else `~/.cache/camproof/keys`, else
    /// none (no home directory).
    pub fn default_dir() -> Option<PathBuf> {
        std::env::var_os(KEY_CACHE_ENV)
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/camproof/keys"))
            })
    }
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

/// The cache a user chose: none if `disabled`, else `dir`, else
/// [`DirKeyCache::default_dir`], else none.
pub fn open(dir: Option<PathBuf>, disabled: bool) -> Box<dyn KeyCache> {
    if disabled {
        return Box::new(NoCache);
    }
    match dir.or_else(DirKeyCache::default_dir) {
        Some(dir) => Box::new(DirKeyCache::new(dir)),
        None => Box::new(NoCache),
    }
}
