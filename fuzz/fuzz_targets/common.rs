//! The test PKI the handshake targets share, with its RSA keys cached on disk: key
//! generation under coverage instrumentation takes seconds, which a short smoke run
//! cannot afford at every start.
// Each target includes this file and uses only part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use camproof_protocol::cdp::{ClientConfig, ServerConfig};
use camproof_protocol::pki::{DeviceCredentials, KeyCache, PkiOptions, TestPki};

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

/// A device-and-gateway setup for the handshake targets.
pub struct World {
    /// The shared PKI.
    pub pki: &'static TestPki,
    /// Four device identities.
    pub devices: Vec<Arc<DeviceCredentials>>,
    /// Device-side configuration.
    pub client_cfg: Arc<ClientConfig>,
    /// Gateway-side configuration.
    pub server_cfg: Arc<ServerConfig>,
}

/// The setup of this target, built once; small rekey intervals so inputs reach key updates.
pub fn world(client_rekey_after: u64, server_rekey_after: u64) -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let pki = pki();
        let mut client_cfg = ClientConfig::new(pki.trust_store());
        client_cfg.rekey_after = client_rekey_after;
        let mut server_cfg = ServerConfig::new(pki.server("gw", 0));
        server_cfg.rekey_after = server_rekey_after;
        World {
            devices: (0..4).map(|i| Arc::new(pki.device(i))).collect(),
            client_cfg: Arc::new(client_cfg),
            server_cfg: Arc::new(server_cfg),
            pki,
        }
    })
}
