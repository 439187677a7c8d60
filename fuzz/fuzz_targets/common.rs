//! The test PKI the handshake targets share, with its RSA keys cached on disk: key
//! generation under coverage instrumentation takes seconds, which a short smoke run
//! cannot afford at every start.

use std::path::PathBuf;
use std::sync::OnceLock;

use camproof_protocol::pki::{KeyCache, PkiOptions, TestPki};

struct DirCache(PathBuf);

impl KeyCache for DirCache {
    fn get(&mut self, name: &str) -> Option<Vec<u8>> {
        std::fs::read(self.0.join(name)).ok()
    }
    fn put(&mut self, name: &str, der: &[u8]) {
        let _ = std::fs::create_dir_all(&self.0);
        let _ = std::fs::write(self.0.join(name), der);
    }
}

/// The seeded PKI every handshake target uses.
pub fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".pki-cache");
        TestPki::try_generate(1, &PkiOptions::fast_for_tests(), &mut DirCache(dir))
            .expect("test PKI")
    })
}
