//! Fuzzes the OTA manifest decoder and verifier (`camproof_protocol::ota`).
//!
//! Input layout:
//!
//! | bytes | meaning |
//! |---|---|
//! | 0 | flags: bit 0 re-sign the decoded manifest with the fixed vendor key (reaches the policy and image checks), bit 1 the device takes the manifest's model, bits 2-7 streaming chunk size - 1 |
//! | 1..4 | device's current version (major, minor, patch) |
//! | 4..7 | device's rollback floor |
//! | 7..9 | `n`, big-endian |
//! | 9..9+n | signed manifest encoding |
//! | rest | firmware image |
//!
//! Checked: decoding never panics and is canonical (re-encoding gives the input back);
//! streaming and one-shot verification agree for the chunk size drawn; an accepted image
//! matches the manifest and installs with the documented floor rule.
//!
//! The vendor key is RSA-2048 generated once per process from a fixed seed
//! (`ChaCha8Rng::seed_from_u64(0x0CA7)`), so seed inputs signed with it can be built
//! by a small program using the same seed.
#![no_main]

use std::sync::OnceLock;

use camproof_protocol::ota::{
    DeviceFirmware, FirmwareVersion, ImageVerifier, OtaRefusal, SignedManifest,
};
use libfuzzer_sys::fuzz_target;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rsa::{RsaPrivateKey, RsaPublicKey};

fn vendor_key() -> &'static (RsaPrivateKey, RsaPublicKey) {
    static KEY: OnceLock<(RsaPrivateKey, RsaPublicKey)> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = RsaPrivateKey::new(&mut ChaCha8Rng::seed_from_u64(0x0CA7), 2048)
            .expect("RSA-2048 key generation");
        let public = key.to_public_key();
        (key, public)
    })
}

fn version(b: &[u8]) -> FirmwareVersion {
    FirmwareVersion::new(b[0].into(), b[1].into(), b[2].into())
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let (head, rest) = data.split_at(9);
    let flags = head[0];
    let n = usize::from(u16::from_be_bytes([head[7], head[8]])).min(rest.len());
    let (encoded, image) = rest.split_at(n);

    let _ = camproof_protocol::ota::Manifest::decode(encoded);
    let Ok(mut signed) = SignedManifest::decode(encoded) else {
        return;
    };
    assert_eq!(signed.encode(), encoded, "decoding is not canonical");

    let (private, public) = vendor_key();
    if flags & 1 == 1 {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        signed = SignedManifest::sign(signed.manifest().clone(), private, &mut rng)
            .expect("a decoded manifest is encodable");
    }
    let model = if flags & 2 == 2 {
        signed.manifest().model.clone()
    } else {
        "FUZZ-CAM".to_owned()
    };
    let mut device = DeviceFirmware::new(model, version(&head[1..4]), version(&head[4..7]));

    let one_shot = signed.verify(image, &device, public);

    let chunk = usize::from(flags >> 2) + 1;
    let streamed = ImageVerifier::new(&signed, &device, public).and_then(|mut v| {
        for part in image.chunks(chunk) {
            v.update(part)?;
        }
        v.finish()
    });
    match (&one_shot, &streamed) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(b),
            "one-shot {a:?} vs streamed {b:?}"
        ),
        _ => panic!("one-shot {one_shot:?} vs streamed {streamed:?}"),
    }
    let _ = one_shot.as_ref().map_err(OtaRefusal::to_string);

    if let Ok(verified) = one_shot {
        let m = verified.manifest();
        assert_eq!(m.image_size, image.len() as u64);
        assert!(m.min_version <= m.version);
        let floor_before = device.floor;
        device
            .install(&verified)
            .expect("verified against this very state");
        assert_eq!(device.current, m.version);
        assert_eq!(device.floor, floor_before.max(m.min_version));
        assert!(matches!(
            device.install(&verified),
            Err(OtaRefusal::AlreadyInstalled { .. })
        ));
    }
});
