//! The rogue firmware server: an insider's host that holds a valid platform server
//! identity (a stolen gateway key) and that hijacked site routers send the cameras to
//! ([`crate::router`]). It speaks CDP/1 like a gateway and offers each camera, one after
//! the other, a tampered image, an unsigned one, a signed downgrade and a signed image
//! for another model. A camera that installs any of them breaks `no-rogue-firmware`.
//!
//! Each image carries a version the platform never rolls out, so a camera running it at
//! the end is a camera the rogue server took over.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use camproof_net::{Clock, Net, SimClock, SimNet};
use camproof_protocol::cdp::{AppMessage, Event, ServerConfig, ServerConnection, ServerContext};
use camproof_protocol::ota::{FirmwareVersion, Manifest, SignedManifest};
use camproof_protocol::pki::{TestPki, TrustStore};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::WorldError;
use crate::spec::{CAMERA_MODEL, GATEWAY_PORT, ROGUE_VERSIONS};
pub use camproof_results::RogueStats;

/// Bytes of each rogue image (small: the attack is about what the camera checks).
const IMAGE_BYTES: usize = 48 * 1024;
/// How long the rogue server keeps a silent connection.
const IDLE: Duration = Duration::from_secs(90);

/// One image the rogue server offers.
#[derive(Debug, Clone)]
pub struct RogueImage {
    /// `tampered`, `unsigned`, `downgrade` or `wrong-model`.
    pub kind: &'static str,
    /// The version its manifest claims.
    pub version: FirmwareVersion,
    manifest: Vec<u8>,
    image: Vec<u8>,
}

/// The model the vendor's `wrong-model` release is for.
const OTHER_MODEL: &str = "dome-2k";

/// The four images, from what an attacker can get: the vendor's public releases
/// (genuinely signed: an unreleased 2.0.0, an old 0.9.0, another model's 1.2.0) and an
/// image of their own.
pub fn images(pki: &TestPki, rng: &mut ChaCha8Rng) -> Result<Vec<RogueImage>, WorldError> {
    let invalid = |e: &dyn std::fmt::Display| WorldError::Invalid(format!("rogue image: {e}"));
    let key = pki
        .vendor_key(0)
        .ok_or_else(|| WorldError::Invalid("the PKI has no vendor key".into()))?;
    let mut out = Vec::new();
    for (kind, version) in ROGUE_VERSIONS {
        let version: FirmwareVersion = version.parse().map_err(|_| invalid(&version))?;
        let mut image = vec![0u8; IMAGE_BYTES];
        rng.fill_bytes(&mut image);
        let (model, floor) = match kind {
            "wrong-model" => (OTHER_MODEL, version),
            "downgrade" => (CAMERA_MODEL, version),
            _ => (CAMERA_MODEL, FirmwareVersion::new(1, 0, 0)),
        };
        let manifest =
            Manifest::for_image(model, version, floor, &image).map_err(|e| invalid(&e))?;
        let signed = if kind == "unsigned" {
            let mut signature = vec![0u8; 256];
            rng.fill_bytes(&mut signature);
            SignedManifest::with_signature(manifest, signature).map_err(|e| invalid(&e))?
        } else {
            SignedManifest::sign(manifest, key, rng).map_err(|e| invalid(&e))?
        };
        if kind == "tampered" {
            // The release as signed, with the attacker's bytes spliced in after signing.
            for b in image.iter_mut().skip(IMAGE_BYTES / 2).take(64) {
                *b ^= 0x5a;
            }
        }
        out.push(RogueImage {
            kind,
            version,
            manifest: signed.encode(),
            image,
        });
    }
    Ok(out)
}

/// The rogue server's state shared by its connections.
struct Rogue {
    config: Arc<ServerConfig>,
    context: RefCell<ServerContext>,
    images: Vec<RogueImage>,
    /// Per camera (certificate serial): the next image to offer.
    next: RefCell<BTreeMap<u64, usize>>,
    stats: Rc<RefCell<RogueStats>>,
}

/// The rogue server's identity (a platform server certificate and key it stole) and the
/// device trust anchors it checks cameras against, like a gateway.
pub fn identity(pki: &TestPki, host: &str) -> (Arc<ServerConfig>, TrustStore) {
    // The index only makes the certificate's serial.
    (
        Arc::new(ServerConfig::new(pki.server(host, 900))),
        pki.trust_store(),
    )
}

/// The rogue server's software on its host: listens where a gateway does.
pub async fn serve(
    (config, trust): (Arc<ServerConfig>, TrustStore),
    images: Vec<RogueImage>,
    stats: Rc<RefCell<RogueStats>>,
    seed: u64,
) {
    let rogue = Rc::new(Rogue {
        config,
        context: RefCell::new(ServerContext::new(trust)),
        images,
        next: RefCell::new(BTreeMap::new()),
        stats,
    });
    let Ok(listener) = SimNet.bind(&format!("0.0.0.0:{GATEWAY_PORT}")).await else {
        return;
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    while let Ok((stream, _)) = listener.accept().await {
        let conn = ServerConnection::new(rogue.config.clone(), &mut rng);
        tokio::task::spawn_local(connection(rogue.clone(), stream, conn));
    }
}

async fn connection(
    rogue: Rc<Rogue>,
    mut stream: camproof_net::SimStream,
    mut conn: ServerConnection,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut camera: Option<u64> = None;
    // The image this connection offered last.
    let mut current: Option<usize> = None;
    loop {
        let n = match tokio::time::timeout(IDLE, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return,
        };
        let handled = conn.handle_bytes(SimClock.now(), &buf[..n], &mut rogue.context.borrow_mut());
        if handled.is_err() {
            let mut out = Vec::new();
            conn.poll_transmit(&mut out);
            let _ = stream.write_all(&out).await;
            return;
        }
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Connected { peer, .. } => {
                    rogue.stats.borrow_mut().sessions += 1;
                    camera = Some(peer.serial);
                }
                Event::Data(bytes) => {
                    let Ok(message) = AppMessage::decode(&bytes) else {
                        continue;
                    };
                    if let Some(reply) = rogue.answer(camera, &mut current, message) {
                        let _ = conn.send(&reply.encode());
                    }
                }
                Event::Closed { .. } => return,
                _ => {}
            }
        }
        let mut out = Vec::new();
        conn.poll_transmit(&mut out);
        if !out.is_empty() && stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

impl Rogue {
    /// What the rogue server says to `message` from `camera`.
    fn answer(
        &self,
        camera: Option<u64>,
        current: &mut Option<usize>,
        message: AppMessage,
    ) -> Option<AppMessage> {
        match message {
            AppMessage::Heartbeat { seq, .. } => Some(AppMessage::HeartbeatAck {
                seq,
                server_time: SimClock.now(),
            }),
            AppMessage::DeviceInfo { .. } => self.offer(camera?, current),
            AppMessage::OtaFetch { offset, len } => {
                let image = &self.images.get((*current)?)?.image;
                let start = usize::try_from(offset).ok()?.min(image.len());
                let end = start.saturating_add(len as usize).min(image.len());
                Some(AppMessage::OtaChunk {
                    offset,
                    data: image[start..end].to_vec(),
                })
            }
            AppMessage::OtaReport {
                version,
                result,
                reason,
            } => {
                // The report names the version; an install is reported after the reboot,
                // on a later connection.
                // Reports of the platform's own releases are none of its business.
                let kind = crate::spec::rogue_kind(&version)?;
                {
                    let mut stats = self.stats.borrow_mut();
                    let key = if result == 0 {
                        kind.to_owned()
                    } else {
                        format!("{kind}: {reason}")
                    };
                    let map = if result == 0 {
                        &mut stats.installed
                    } else {
                        &mut stats.refused
                    };
                    *map.entry(key).or_default() += 1;
                }
                // Refused: try the next image at once.
                if result == 0 {
                    None
                } else {
                    self.offer(camera?, current)
                }
            }
            _ => None,
        }
    }

    /// The next image for `camera`, until it has been offered every one.
    fn offer(&self, camera: u64, current: &mut Option<usize>) -> Option<AppMessage> {
        let index = {
            let mut next = self.next.borrow_mut();
            let n = next.entry(camera).or_default();
            let index = *n;
            *n += 1;
            index
        };
        let image = self.images.get(index)?;
        *current = Some(index);
        *self
            .stats
            .borrow_mut()
            .offered
            .entry(image.kind.to_owned())
            .or_default() += 1;
        Some(AppMessage::OtaOffer {
            manifest: image.manifest.clone(),
            image_size: image.image.len() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camproof_protocol::pki::PkiOptions;

    #[test]
    fn each_image_is_what_its_kind_says() {
        let pki = TestPki::generate(3, &PkiOptions::fast_for_tests());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let images = images(&pki, &mut rng).expect("images");
        let kinds: Vec<&str> = images.iter().map(|i| i.kind).collect();
        assert_eq!(kinds, ["tampered", "unsigned", "downgrade", "wrong-model"]);
        for i in &images {
            let signed = SignedManifest::decode(&i.manifest).expect("manifest");
            let m = signed.manifest();
            assert_eq!(m.version, i.version, "{}", i.kind);
            // Reports name versions as the firmware writes them: each maps back to its kind.
            assert_eq!(
                crate::spec::rogue_kind(&m.version.to_string()),
                Some(i.kind)
            );
            let hash_matches = Manifest::for_image(&m.model, m.version, m.min_version, &i.image)
                .map(|fresh| fresh.image_sha256 == m.image_sha256)
                .unwrap_or(false);
            // Only the tampered image differs from what its manifest promises.
            assert_eq!(hash_matches, i.kind != "tampered", "{}", i.kind);
            assert_eq!(
                m.model == CAMERA_MODEL,
                i.kind != "wrong-model",
                "{}",
                i.kind
            );
            assert!(!signed.signature().is_empty(), "{}", i.kind);
        }
    }
}
