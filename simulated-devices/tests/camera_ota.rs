//! The camera's cloud OTA path against a scripted gateway: it installs only what the
//! vendor signed for its model above its rollback floor, and a flawed profile installs
//! what the reference refuses.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use camproof_net::{Clock, Net, SimClock, SimNet};
use camproof_protocol::cdp::{
    AppMessage, ClientConfig, Event, ServerConfig, ServerConnection, ServerContext,
};
use camproof_protocol::ota::{FirmwareVersion, Manifest, SignedManifest};
use camproof_protocol::pki::{PkiOptions, TestPki};
use camproof_simulated_devices::camera::{Camera, CameraConfig, CameraFlaws, FleetStats};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MODEL: &str = "bullet-4k";

fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| TestPki::generate(11, &PkiOptions::fast_for_tests()))
}

fn v(s: &str) -> FirmwareVersion {
    s.parse().unwrap()
}

/// What the scripted gateway offers.
#[derive(Clone)]
struct Offer {
    manifest: Vec<u8>,
    image: Vec<u8>,
    /// Drop the first connection when the camera asks for a part past this offset.
    cut_at: Option<u64>,
}

fn signed(version: &str, min: &str, model: &str, image: &[u8], vendor: usize) -> Vec<u8> {
    let m = Manifest::for_image(model, v(version), v(min), image).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    SignedManifest::sign(m, pki().vendor_key(vendor).unwrap(), &mut rng)
        .unwrap()
        .encode()
}

/// Runs one camera against a gateway that offers `offer` once and serves its image;
/// returns the camera's counters and the reports the gateway received.
fn run(offer: Offer, flaws: CameraFlaws) -> (FleetStats, Vec<(String, u8, String)>) {
    let mut sim = turmoil::Builder::new()
        .epoch(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
        .simulation_duration(Duration::from_secs(60))
        .build();
    let reports = Rc::new(RefCell::new(Vec::new()));
    let got = reports.clone();
    let server_config = Arc::new(ServerConfig::new(pki().server("gw", 0)));
    sim.host("gw", move || {
        let offer = offer.clone();
        let got = got.clone();
        let server_config = server_config.clone();
        async move {
            let listener = SimNet.bind("0.0.0.0:7443").await?;
            let mut ctx = ServerContext::new(pki().trust_store());
            let mut rng = ChaCha8Rng::seed_from_u64(2);
            let mut offered = false;
            let mut cut = offer.cut_at;
            loop {
                let (mut stream, _) = listener.accept().await?;
                let mut conn = ServerConnection::new(server_config.clone(), &mut rng);
                let mut buf = vec![0u8; 65536];
                loop {
                    let n = match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if conn
                        .handle_bytes(SimClock.now(), &buf[..n], &mut ctx)
                        .is_err()
                    {
                        break;
                    }
                    let mut drop_conn = false;
                    while let Some(event) = conn.poll_event() {
                        let Event::Data(bytes) = event else { continue };
                        let reply = match AppMessage::decode(&bytes) {
                            Ok(AppMessage::DeviceInfo { .. }) if !offered => {
                                offered = true;
                                Some(AppMessage::OtaOffer {
                                    manifest: offer.manifest.clone(),
                                    image_size: offer.image.len() as u64,
                                })
                            }
                            Ok(AppMessage::OtaFetch { offset, .. })
                                if cut.is_some_and(|c| offset > c) =>
                            {
                                // The link dies in the middle of the download.
                                cut = None;
                                offered = false;
                                drop_conn = true;
                                break;
                            }
                            Ok(AppMessage::OtaFetch { offset, len }) => {
                                let start = (offset as usize).min(offer.image.len());
                                let end = (start + len as usize).min(offer.image.len());
                                Some(AppMessage::OtaChunk {
                                    offset,
                                    data: offer.image[start..end].to_vec(),
                                })
                            }
                            Ok(AppMessage::OtaReport {
                                version,
                                result,
                                reason,
                            }) => {
                                got.borrow_mut().push((version, result, reason));
                                None
                            }
                            Ok(AppMessage::Heartbeat { seq, .. }) => {
                                Some(AppMessage::HeartbeatAck {
                                    seq,
                                    server_time: SimClock.now(),
                                })
                            }
                            _ => None,
                        };
                        if let Some(reply) = reply {
                            let _ = conn.send(&reply.encode());
                        }
                    }
                    if drop_conn {
                        break;
                    }
                    let mut out = Vec::new();
                    conn.poll_transmit(&mut out);
                    if stream.write_all(&out).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    let stats = Rc::new(RefCell::new(FleetStats::default()));
    let fleet = stats.clone();
    sim.client("camera", async move {
        let vendor = pki().vendor_certificate(0).unwrap();
        let camproof_protocol::pki::PublicKey::Rsa(key) = &vendor.key else {
            panic!("vendor key is RSA");
        };
        let config = Rc::new(CameraConfig {
            gateways: vec!["gw:7443".into()],
            model: MODEL.into(),
            firmware: v("1.0.0"),
            vendor_key: Some(key.clone()),
            boot_window: Duration::ZERO,
            flaws,
            ..CameraConfig::default()
        });
        let camera = Camera::new(
            1,
            config,
            Arc::new(ClientConfig::new(pki().trust_store())),
            Arc::new(pki().device(1)),
            ChaCha8Rng::seed_from_u64(3),
            fleet,
        );
        let _ = tokio::time::timeout(Duration::from_secs(30), camera.run(SimNet, SimClock)).await;
        Ok(())
    });
    sim.run().expect("simulation");
    let stats = stats.borrow().clone();
    let reports = reports.borrow().clone();
    (stats, reports)
}

fn image() -> Vec<u8> {
    (0..100_000u32).map(|i| (i % 251) as u8).collect()
}

#[test]
fn a_signed_newer_image_is_installed_and_reported_after_the_reboot() {
    let img = image();
    let (stats, reports) = run(
        Offer {
            manifest: signed("1.1.0", "1.0.0", MODEL, &img, 0),
            image: img,
            cut_at: None,
        },
        CameraFlaws::default(),
    );
    assert_eq!(stats.ota_installed, 1, "{stats:?}");
    assert_eq!(stats.firmware.get("1.1.0"), Some(&1));
    assert_eq!(reports, vec![("1.1.0".to_string(), 0, String::new())]);
    assert!(
        stats.handshakes + stats.resumptions >= 2,
        "the camera rebooted"
    );
}

#[test]
fn the_reference_camera_refuses_bad_images_and_keeps_its_slot() {
    let img = image();
    let mut tampered = img.clone();
    tampered[500] ^= 1;
    let unsigned =
        SignedManifest::unsigned(Manifest::for_image(MODEL, v("6.6.6"), v("1.0.0"), &img).unwrap())
            .unwrap()
            .encode();
    let cases = [
        ("unsigned", unsigned, img.clone(), "unsigned"),
        (
            "tampered image",
            signed("1.1.0", "1.0.0", MODEL, &img, 0),
            tampered,
            "hash_mismatch",
        ),
        (
            "another vendor",
            signed("1.1.0", "1.0.0", MODEL, &img, 1),
            img.clone(),
            "bad_signature",
        ),
        (
            "wrong model",
            signed("1.1.0", "1.0.0", "dome-2k", &img, 0),
            img.clone(),
            "wrong_model",
        ),
        (
            "downgrade",
            signed("0.9.0", "0.9.0", MODEL, &img, 0),
            img.clone(),
            "downgrade",
        ),
    ];
    for (what, manifest, image, reason) in cases {
        let (stats, reports) = run(
            Offer {
                manifest,
                image,
                cut_at: None,
            },
            CameraFlaws::default(),
        );
        assert_eq!(stats.ota_installed, 0, "{what}: {stats:?}");
        assert_eq!(stats.firmware.get("1.0.0"), Some(&1), "{what}");
        assert_eq!(reports.len(), 1, "{what}: {reports:?}");
        assert_eq!((reports[0].1, reports[0].2.as_str()), (1, reason), "{what}");
    }
}

#[test]
fn flawed_profiles_install_what_the_reference_refuses() {
    let img = image();
    let unsigned =
        SignedManifest::unsigned(Manifest::for_image(MODEL, v("6.6.6"), v("1.0.0"), &img).unwrap())
            .unwrap()
            .encode();
    let (stats, _) = run(
        Offer {
            manifest: unsigned,
            image: img.clone(),
            cut_at: None,
        },
        CameraFlaws {
            accept_unsigned_ota: true,
            ..CameraFlaws::default()
        },
    );
    assert_eq!(stats.firmware.get("6.6.6"), Some(&1), "{stats:?}");
    let (stats, _) = run(
        Offer {
            manifest: signed("0.9.0", "0.9.0", MODEL, &img, 0),
            image: img,
            cut_at: None,
        },
        CameraFlaws {
            accept_downgrade_ota: true,
            ..CameraFlaws::default()
        },
    );
    assert_eq!(stats.firmware.get("0.9.0"), Some(&1), "{stats:?}");
}

#[test]
fn an_interrupted_download_keeps_the_old_slot_and_completes_when_offered_again() {
    let img = image();
    let (stats, reports) = run(
        Offer {
            manifest: signed("1.1.0", "1.0.0", MODEL, &img, 0),
            image: img,
            cut_at: Some(40_000),
        },
        CameraFlaws::default(),
    );
    assert_eq!(stats.ota_interrupted, 1, "{stats:?}");
    // Still 1.0.0 after the cut (the first session ended without installing), then the
    // second offer completes.
    assert_eq!(stats.ota_installed, 1, "{stats:?}");
    assert_eq!(reports, vec![("1.1.0".to_string(), 0, String::new())]);
}
