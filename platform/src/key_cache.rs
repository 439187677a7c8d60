//! A directory of cached test-PKI keys, so runs after the first skip RSA generation.
//!
//! [`KeyCache`] is defined beside the test PKI in `camproof-protocol`, which does no I/O;
//! this is its implementation on disk, used by every command that builds a PKI (the
//! simulator, the certification harness, the real-socket platform and cameras), and
//! [`platform_pki`], the platform's test PKI built with it.

use std::fs;
use std::path::PathBuf;

use camproof_protocol::pki::{KeyCache, NoCache, PkiError, PkiOptions, TestPki};
use thiserror::Error;

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

/// Why the platform's test PKI could not be generated.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("generating the test PKI (seed {seed})")]
pub struct PlatformPkiError {
    /// The PKI's seed.
    pub seed: u64,
    /// Why.
    #[source]
    pub source: PkiError,
}

/// The platform's test PKI for `seed` (the default shape: 2048-bit RSA, three vendors,
/// eight device keys), with keys from `cache`. Costs twelve RSA key generations (about
/// 3 s on one core) when the cache holds none of them.
pub fn platform_pki(seed: u64, cache: &mut dyn KeyCache) -> Result<TestPki, PlatformPkiError> {
    TestPki::try_generate(seed, &PkiOptions::default(), cache)
        .map_err(|source| PlatformPkiError { seed, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts what a directory cache is asked for and what it stores.
    struct Counting {
        inner: DirKeyCache,
        hits: usize,
        puts: usize,
    }

    impl KeyCache for Counting {
        fn get(&mut self, name: &str) -> Option<Vec<u8>> {
            let got = self.inner.get(name);
            self.hits += usize::from(got.is_some());
            got
        }

        fn put(&mut self, name: &str, pkcs8_der: &[u8]) {
            self.puts += 1;
            self.inner.put(name, pkcs8_der);
        }
    }

    /// The first build stores every key in the directory; the second reads them all
    /// back and builds the same PKI, generating nothing.
    #[test]
    fn the_platform_pki_is_cached_on_disk() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut cache = Counting {
            inner: DirKeyCache::new(dir.path().join("keys")),
            hits: 0,
            puts: 0,
        };
        let first = platform_pki(3, &mut cache).expect("generates");
        assert_eq!((cache.hits, cache.puts), (0, 12));
        let files = fs::read_dir(dir.path().join("keys")).expect("dir").count();
        assert_eq!(files, 12);
        cache.puts = 0;
        let second = platform_pki(3, &mut cache).expect("reads");
        assert_eq!((cache.hits, cache.puts), (12, 0));
        assert_eq!(first.root_certificate(), second.root_certificate());
    }
}
