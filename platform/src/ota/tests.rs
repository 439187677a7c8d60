//! Each behaviour with the attack or fault it stops.

use std::sync::OnceLock;

use camproof_protocol::ota::{DeviceFirmware, ImageVerifier, Manifest, OtaRefusal, RefusalCode};
use camproof_protocol::pki::{PkiOptions, PublicKey, TestPki};
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use super::*;

const MODEL: &str = "IPC-3MP";
const OTHER_MODEL: &str = "NVR-8CH";

fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| TestPki::generate(11, &PkiOptions::fast_for_tests()))
}

fn v(s: &str) -> FirmwareVersion {
    s.parse().unwrap()
}

fn t(secs: u64) -> Timestamp {
    Timestamp::from_secs(1_800_000_000 + secs)
}

fn image(version: &str) -> Vec<u8> {
    format!("camproof firmware {MODEL} {version} ")
        .repeat(200)
        .into_bytes()
}

/// A manifest for `image(version)` signed by vendor `vendor`.
fn signed_by(vendor: usize, model: &str, version: &str, min: &str) -> SignedManifest {
    let m = Manifest::for_image(model, v(version), v(min), &image(version)).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    SignedManifest::sign(m, pki().vendor_key(vendor).unwrap(), &mut rng).unwrap()
}

fn signed(version: &str) -> SignedManifest {
    signed_by(0, MODEL, version, "1.0.0")
}

/// A service trusting vendor 0 for MODEL and vendor 1 for OTHER_MODEL.
fn service_with(config: OtaConfig) -> OtaService {
    let mut s = OtaService::new(config).unwrap();
    s.trust_vendor(MODEL, pki().vendor_certificate(0).unwrap().clone())
        .unwrap();
    s.trust_vendor(OTHER_MODEL, pki().vendor_certificate(1).unwrap().clone())
        .unwrap();
    s
}

fn service() -> OtaService {
    service_with(OtaConfig::default())
}

/// A service with 2.0.0 published and a rollout at `percent`.
fn rolling(percent: u8) -> (OtaService, RolloutId) {
    let mut s = service();
    s.publish(signed("2.0.0"), image("2.0.0"), t(0)).unwrap();
    let id = s.start_rollout(MODEL, v("2.0.0"), percent, t(1)).unwrap();
    (s, id)
}

fn vendor_pub(i: usize) -> &'static PublicKey {
    &pki().vendor_certificate(i).unwrap().key
}

#[test]
fn signed_release_is_published_and_offered() {
    let (mut s, id) = rolling(100);
    assert_eq!(s.catalog().latest_version(MODEL), Some(v("2.0.0")));
    let offer = s.offer("CAM-1", MODEL, v("1.0.0"), t(2)).unwrap();
    assert_eq!((offer.rollout, offer.version), (id, v("2.0.0")));
    assert_eq!(offer.manifest, signed("2.0.0"));
    assert_eq!(offer.image_size, image("2.0.0").len() as u64);
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(matches!(events[0], OtaEvent::Published { .. }));
    assert!(matches!(
        events[1],
        OtaEvent::RolloutStarted { percent: 100, .. }
    ));
}

#[test]
fn unsigned_release_refused() {
    let mut s = service();
    let unsigned = SignedManifest::unsigned(signed("2.0.0").manifest().clone()).unwrap();
    let err = s.publish(unsigned, image("2.0.0"), t(0)).unwrap_err();
    assert_eq!(err.refusal(), Some(&OtaRefusal::Unsigned));
    assert!(err.to_string().contains("unsigned"), "{err}");
    assert!(s.catalog().release(MODEL, v("2.0.0")).is_none());
    assert!(s.start_rollout(MODEL, v("2.0.0"), 100, t(1)).is_err());
}

#[test]
fn badly_signed_release_refused() {
    let mut s = service();
    let good = signed("2.0.0");
    let mut sig = good.signature().to_vec();
    sig[10] ^= 1;
    let forged = SignedManifest::with_signature(good.manifest().clone(), sig).unwrap();
    let err = s.publish(forged, image("2.0.0"), t(0)).unwrap_err();
    assert_eq!(err.refusal(), Some(&OtaRefusal::BadSignature));
    // A signed manifest whose fields were edited afterwards (a version bump) too.
    let mut m = good.manifest().clone();
    m.version = v("9.0.0");
    let edited = SignedManifest::with_signature(m, good.signature().to_vec()).unwrap();
    let err = s.publish(edited, image("2.0.0"), t(0)).unwrap_err();
    assert_eq!(err.refusal(), Some(&OtaRefusal::BadSignature));
    // Garbage bytes from a firmware server: malformed.
    let err = s
        .publish_encoded(b"CPFW\x01", image("2.0.0"), t(0))
        .unwrap_err();
    assert!(matches!(err.refusal(), Some(OtaRefusal::Malformed(_))));
    assert_eq!(s.catalog().releases(MODEL).count(), 0);
}

#[test]
fn wrong_vendor_and_unknown_model_refused() {
    let mut s = service();
    // Vendor 1 signs a manifest for MODEL, which is trusted to vendor 0.
    let err = s
        .publish(signed_by(1, MODEL, "2.0.0", "1.0.0"), image("2.0.0"), t(0))
        .unwrap_err();
    let want_expected = pki().vendor_certificate(0).unwrap().subject.clone();
    let want_signer = pki().vendor_certificate(1).unwrap().subject.clone();
    assert_eq!(
        err,
        PublishError::WrongVendor {
            model: MODEL.into(),
            version: v("2.0.0"),
            expected: want_expected,
            signed_by: want_signer,
        }
    );
    let err = s
        .publish(
            signed_by(0, "DOORBELL", "2.0.0", "1.0.0"),
            image("2.0.0"),
            t(0),
        )
        .unwrap_err();
    assert_eq!(
        err,
        PublishError::UnknownModel {
            model: "DOORBELL".into()
        }
    );
    // The right vendor for the other model is accepted.
    s.publish(
        signed_by(1, OTHER_MODEL, "2.0.0", "1.0.0"),
        image("2.0.0"),
        t(0),
    )
    .unwrap();
}

#[test]
fn tampered_image_refused() {
    let mut s = service();
    let mut evil = image("2.0.0");
    evil[3] ^= 0x40;
    let err = s.publish(signed("2.0.0"), evil, t(0)).unwrap_err();
    assert!(matches!(
        err.refusal(),
        Some(OtaRefusal::HashMismatch { .. })
    ));
    let mut long = image("2.0.0");
    long.push(0);
    let err = s.publish(signed("2.0.0"), long, t(0)).unwrap_err();
    assert!(matches!(
        err.refusal(),
        Some(OtaRefusal::SizeMismatch { .. })
    ));
    let small = OtaConfig {
        max_image_bytes: 100,
        ..OtaConfig::default()
    };
    let err = service_with(small)
        .publish(signed("2.0.0"), image("2.0.0"), t(0))
        .unwrap_err();
    assert!(matches!(err, PublishError::ImageTooLarge { max: 100, .. }));
}

#[test]
fn inconsistent_and_non_increasing_versions_refused() {
    let mut s = service();
    let err = s
        .publish(signed_by(0, MODEL, "2.0.0", "3.0.0"), image("2.0.0"), t(0))
        .unwrap_err();
    assert!(matches!(
        err.refusal(),
        Some(OtaRefusal::InconsistentVersions { .. })
    ));
    s.publish(signed("2.0.0"), image("2.0.0"), t(0)).unwrap();
    for old in ["2.0.0", "1.9.9"] {
        let err = s.publish(signed(old), image(old), t(1)).unwrap_err();
        assert_eq!(
            err,
            PublishError::NotIncreasing {
                model: MODEL.into(),
                version: v(old),
                latest: v("2.0.0")
            }
        );
    }
    s.publish(signed("2.0.1"), image("2.0.1"), t(2)).unwrap();
}

#[test]
fn trust_needs_an_rsa_vendor_ca() {
    let mut s = service();
    let root = pki().root_certificate().clone();
    assert!(matches!(
        s.trust_vendor(MODEL, root),
        Err(TrustError::NotVendorCa { .. })
    ));
    let server = pki().server("gw", 1).certificate().clone();
    assert!(s.trust_vendor(MODEL, server).is_err());
    assert!(matches!(
        s.trust_vendor("", pki().vendor_certificate(0).unwrap().clone()),
        Err(TrustError::BadModel(_))
    ));
}

/// 10 % of 10,000 ids: the count is Binomial(10000, 0.1), standard deviation 30, so
/// ±150 (5 sigma) would only fail for a broken hash; and every device in at 10 % is in at
/// 50 %.
#[test]
fn rollout_percentage_respected_and_stable() {
    let (mut s, id) = rolling(10);
    let ids: Vec<String> = (0..10_000).map(|i| format!("CAM-{i:08}")).collect();
    let at10: Vec<&String> = ids
        .iter()
        .filter(|d| s.offer(d, MODEL, v("1.0.0"), t(2)).is_some())
        .collect();
    assert!((850..=1150).contains(&at10.len()), "{}", at10.len());
    assert_eq!(s.status(id).unwrap().counts.offered, at10.len() as u64);
    s.set_percent(id, 50, t(3)).unwrap();
    let at50: Vec<&String> = ids
        .iter()
        .filter(|d| s.offer(d, MODEL, v("1.0.0"), t(4)).is_some())
        .collect();
    assert!((4_850..=5_150).contains(&at50.len()), "{}", at50.len());
    assert!(at10.iter().all(|d| at50.contains(d)));
    // 0 % offers nothing, 100 % everything.
    assert!(!ids.iter().any(|d| is_eligible(id, d, 0)));
    assert!(ids.iter().all(|d| is_eligible(id, d, 100)));
    assert!(s.set_percent(id, 101, t(5)).is_err());
}

#[test]
fn ineligible_or_up_to_date_devices_get_no_offer() {
    let (mut s, id) = rolling(30);
    let out = (0..1000)
        .map(|i| format!("CAM-{i}"))
        .find(|d| !is_eligible(id, d, 30))
        .unwrap();
    let inside = (0..1000)
        .map(|i| format!("CAM-{i}"))
        .find(|d| is_eligible(id, d, 30))
        .unwrap();
    assert!(s.offer(&out, MODEL, v("1.0.0"), t(2)).is_none());
    assert!(s.offer(&inside, MODEL, v("2.0.0"), t(2)).is_none());
    assert!(s.offer(&inside, MODEL, v("2.1.0"), t(2)).is_none());
    assert!(s.offer(&inside, OTHER_MODEL, v("1.0.0"), t(2)).is_none());
    assert!(s.offer("", MODEL, v("1.0.0"), t(2)).is_none());
    assert!(s.offer(&"x".repeat(200), MODEL, v("1.0.0"), t(2)).is_none());
    assert!(s.offer(&inside, MODEL, v("1.0.0"), t(2)).is_some());
    let c = s.status(id).unwrap().counts;
    assert_eq!((c.eligible, c.offered), (1, 1));
}

#[test]
fn minimum_current_version_respected() {
    let mut s = service();
    s.publish(signed("2.0.0"), image("2.0.0"), t(0)).unwrap();
    s.start_rollout_from(MODEL, v("2.0.0"), 100, v("1.5.0"), t(1))
        .unwrap();
    assert!(s.offer("CAM-1", MODEL, v("1.4.0"), t(2)).is_none());
    assert!(s.offer("CAM-1", MODEL, v("1.5.0"), t(2)).is_some());
}

#[test]
fn chunks_reassemble_and_verify_on_device() {
    let config = OtaConfig {
        max_chunk_bytes: 1000,
        ..OtaConfig::default()
    };
    let mut s = service_with(config);
    s.publish(signed("2.0.0"), image("2.0.0"), t(0)).unwrap();
    s.start_rollout(MODEL, v("2.0.0"), 100, t(1)).unwrap();
    let offer = s.offer("CAM-7", MODEL, v("1.2.0"), t(2)).unwrap();
    // The device decodes the manifest from the wire and verifies as it downloads.
    let wire = SignedManifest::decode(&offer.manifest.encode()).unwrap();
    let device = DeviceFirmware::new(MODEL, v("1.2.0"), v("1.0.0"));
    let PublicKey::Rsa(key) = vendor_pub(0) else {
        panic!("vendor key is RSA")
    };
    let mut verifier = ImageVerifier::new(&wire, &device, key).unwrap();
    let mut whole = Vec::new();
    let mut offset = 0;
    loop {
        let chunk = s.image_chunk(MODEL, offer.version, offset, 4096).unwrap();
        assert!(chunk.len() <= 1000, "chunk capped at max_chunk_bytes");
        if chunk.is_empty() {
            break;
        }
        verifier.update(chunk).unwrap();
        whole.extend_from_slice(chunk);
        offset += chunk.len() as u64;
    }
    assert_eq!(whole, image("2.0.0"));
    assert!(verifier.finish().is_ok());
    assert!(matches!(
        s.image_chunk(MODEL, offer.version, offset + 1, 10),
        Err(ChunkError::OffsetBeyondEnd { .. })
    ));
    assert!(matches!(
        s.image_chunk(MODEL, v("9.9.9"), 0, 10),
        Err(ChunkError::UnknownRelease { .. })
    ));
}

/// Offers `n` devices, returning the ids that got the offer.
fn offered(s: &mut OtaService, n: usize, now: Timestamp) -> Vec<String> {
    (0..n)
        .map(|i| format!("CAM-{i:05}"))
        .filter(|d| s.offer(d, MODEL, v("1.0.0"), now).is_some())
        .collect()
}

#[test]
fn failure_ratio_above_threshold_halts() {
    let (mut s, id) = rolling(100);
    let devices = offered(&mut s, 40, t(2));
    // Two early failures put the ratio over 5 % at t(10), before the sample is reached.
    s.report(&devices[0], v("2.0.0"), InstallResult::Failed, t(10))
        .unwrap();
    s.report(&devices[1], v("2.0.0"), InstallResult::Installed, t(11))
        .unwrap();
    s.report(
        &devices[2],
        v("2.0.0"),
        InstallResult::Refused(RefusalCode::HashMismatch),
        t(12),
    )
    .unwrap();
    for (i, d) in devices[3..19].iter().enumerate() {
        s.report(d, v("2.0.0"), InstallResult::Installed, t(20 + i as u64))
            .unwrap();
        assert_eq!(s.status(id).unwrap().state, RolloutState::Active);
    }
    // The 20th report: 2 of 20 = 10 % > 5 %.
    s.report(&devices[19], v("2.0.0"), InstallResult::Installed, t(50))
        .unwrap();
    let st = s.status(id).unwrap();
    let RolloutState::Halted { at, reason } = &st.state else {
        panic!("{:?}", st.state)
    };
    assert_eq!(*at, t(50));
    assert_eq!(
        *reason,
        HaltReason::FailureRatio {
            failures: 2,
            reports: 20,
            max_failure_permille: 50
        }
    );
    let alert = &s.alerts()[0];
    assert_eq!((alert.began, alert.fired), (t(10), t(50)));
    assert_eq!(st.counts.refusals[&RefusalCode::HashMismatch], 1);
    assert!(alert.to_string().contains("2 of 20"), "{alert}");
    assert!(std::iter::from_fn(|| s.poll_event()).any(|e| matches!(e, OtaEvent::Halted(_))));
    // Halted: no new offers; reports still count.
    assert!(s.offer("CAM-99999", MODEL, v("1.0.0"), t(51)).is_none());
    s.report(&devices[20], v("2.0.0"), InstallResult::Installed, t(52))
        .unwrap();
    assert_eq!(s.status(id).unwrap().counts.reported(), 21);
}

#[test]
fn failure_ratio_at_or_below_threshold_does_not_halt() {
    let (mut s, id) = rolling(100);
    let devices = offered(&mut s, 40, t(2));
    // 2 of 40 = 5 % at the end: never above the limit.
    for (i, d) in devices.iter().enumerate() {
        let r = if i >= 38 {
            InstallResult::Failed
        } else {
            InstallResult::Installed
        };
        s.report(d, v("2.0.0"), r, t(10 + i as u64)).unwrap();
    }
    assert_eq!(s.status(id).unwrap().state, RolloutState::Active);
    // 5 failures of 5 reports: above the ratio but below the minimum sample.
    let (mut s, id) = rolling(100);
    for d in offered(&mut s, 5, t(2)) {
        s.report(&d, v("2.0.0"), InstallResult::Failed, t(3))
            .unwrap();
    }
    assert_eq!(s.status(id).unwrap().state, RolloutState::Active);
    assert!(s.alerts().is_empty());
}

#[test]
fn unsolicited_reports_are_ignored() {
    let (mut s, id) = rolling(100);
    // An attacker floods failure reports for devices never offered: nothing moves.
    for i in 0..100 {
        let err = s
            .report(
                &format!("EVIL-{i}"),
                v("2.0.0"),
                InstallResult::Failed,
                t(2),
            )
            .unwrap_err();
        assert!(matches!(err, ReportError::NotOffered { .. }));
    }
    let devices = offered(&mut s, 1, t(2));
    assert!(s
        .report(&devices[0], v("3.0.0"), InstallResult::Installed, t(3))
        .is_err());
    assert_eq!(s.status(id).unwrap().counts.reported(), 0);
    assert_eq!(s.status(id).unwrap().state, RolloutState::Active);
}

#[test]
fn latest_report_per_device_counts_once() {
    let (mut s, id) = rolling(100);
    let d = &offered(&mut s, 1, t(2))[0];
    for _ in 0..30 {
        s.report(d, v("2.0.0"), InstallResult::Failed, t(3))
            .unwrap();
    }
    assert_eq!(s.status(id).unwrap().state, RolloutState::Active);
    s.report(d, v("2.0.0"), InstallResult::Installed, t(4))
        .unwrap();
    let c = s.status(id).unwrap().counts;
    assert_eq!((c.installed, c.failed, c.reported()), (1, 0, 1));
}

#[test]
fn pause_resume_abort_complete() {
    let (mut s, id) = rolling(100);
    s.pause(id, t(2)).unwrap();
    assert!(s.offer("CAM-1", MODEL, v("1.0.0"), t(3)).is_none());
    assert!(matches!(
        s.pause(id, t(3)),
        Err(RolloutError::InvalidTransition {
            action: "pause",
            ..
        })
    ));
    s.resume(id, t(4)).unwrap();
    assert!(s.offer("CAM-1", MODEL, v("1.0.0"), t(5)).is_some());
    assert!(s.resume(id, t(5)).is_err());
    // One open rollout per model.
    s.publish(signed("2.1.0"), image("2.1.0"), t(6)).unwrap();
    assert!(matches!(
        s.start_rollout(MODEL, v("2.1.0"), 5, t(6)),
        Err(RolloutError::AlreadyOpen { .. })
    ));
    s.abort(id, t(7)).unwrap();
    assert_eq!(s.status(id).unwrap().ended_at, Some(t(7)));
    assert!(s.offer("CAM-1", MODEL, v("1.0.0"), t(8)).is_none());
    assert!(s.resume(id, t(8)).is_err());
    assert!(s.set_percent(id, 50, t(8)).is_err());
    assert!(s.abort(id, t(8)).is_err());
    // A new rollout; completion needs 100 %, then everyone is offered the release.
    let next = s.start_rollout(MODEL, v("2.1.0"), 10, t(9)).unwrap();
    assert!(matches!(
        s.complete(next, t(10)),
        Err(RolloutError::NotAtFullPercent { percent: 10, .. })
    ));
    s.set_percent(next, 100, t(10)).unwrap();
    s.complete(next, t(11)).unwrap();
    assert_eq!(
        s.offer("CAM-1", MODEL, v("1.0.0"), t(12))
            .map(|o| o.rollout),
        Some(next)
    );
    assert!(matches!(
        s.start_rollout(MODEL, v("2.0.0"), 10, t(13)),
        Err(RolloutError::Superseded { .. })
    ));
    assert!(matches!(
        s.pause(RolloutId(999), t(13)),
        Err(RolloutError::UnknownRollout(_))
    ));
}

#[test]
fn resuming_a_halted_rollout_opens_a_new_window() {
    let (mut s, id) = rolling(100);
    let devices = offered(&mut s, 60, t(2));
    for d in &devices[..20] {
        s.report(d, v("2.0.0"), InstallResult::Failed, t(3))
            .unwrap();
    }
    assert!(matches!(
        s.status(id).unwrap().state,
        RolloutState::Halted { .. }
    ));
    s.resume(id, t(4)).unwrap();
    // The old failures do not re-trip the rule; new successes keep it active.
    for d in &devices[20..45] {
        s.report(d, v("2.0.0"), InstallResult::Installed, t(5))
            .unwrap();
    }
    let st = s.status(id).unwrap();
    assert_eq!(st.state, RolloutState::Active);
    assert_eq!((st.counts.failed, st.counts.installed), (20, 25));
    assert_eq!(s.alerts().len(), 1);
}

#[test]
fn records_round_trip() {
    let (mut s, id) = rolling(40);
    let devices = offered(&mut s, 200, t(2));
    for (i, d) in devices.iter().enumerate().take(30) {
        let r = if i % 3 == 0 {
            InstallResult::Refused(RefusalCode::BadSignature)
        } else {
            InstallResult::Installed
        };
        s.report(d, v("2.0.0"), r, t(3)).unwrap();
    }
    s.trust_vendor("odd/model %x", pki().vendor_certificate(1).unwrap().clone())
        .unwrap();
    let keys = s.records();
    assert!(keys.keys().all(|k| k.starts_with("ota/")));
    assert!(keys.contains_key("ota/trust/odd%2Fmodel%20%25x"));
    let back = OtaService::from_records(OtaConfig::default(), &keys).unwrap();
    assert_eq!(back.records(), keys);
    assert_eq!(back.status(id), s.status(id));
    assert_eq!(back.alerts(), s.alerts());
    // A release tampered with in the store is refused on load.
    let mut bad = keys.clone();
    let image_key = keys.keys().find(|k| k.ends_with("/image")).unwrap().clone();
    bad.get_mut(&image_key).unwrap()[0] ^= 1;
    assert!(matches!(
        OtaService::from_records(OtaConfig::default(), &bad),
        Err(RecordError::ReleaseRejected { .. })
    ));
    let mut bad = keys;
    bad.insert("ota/bogus".into(), vec![]);
    assert!(matches!(
        OtaService::from_records(OtaConfig::default(), &bad),
        Err(RecordError::UnexpectedKey(_))
    ));
}

#[test]
fn config_validated() {
    let mut c = OtaConfig::default();
    c.halt.min_reports = 0;
    assert_eq!(
        OtaService::new(c).unwrap_err(),
        ConfigError::NoMinimumSample
    );
    let mut c = OtaConfig::default();
    c.halt.max_failure_permille = 1001;
    assert!(OtaService::new(c).is_err());
}

proptest! {
    /// Eligibility is monotone in the percentage: in at p implies in at every q >= p.
    #[test]
    fn eligibility_monotone(rollout in any::<u64>(), device in "[ -~]{1,40}", p in 0u8..=100, q in 0u8..=100) {
        let (lo, hi) = (p.min(q), p.max(q));
        let id = RolloutId(rollout);
        if is_eligible(id, &device, lo) {
            prop_assert!(is_eligible(id, &device, hi));
        }
        prop_assert!(u64::from(eligibility_bucket(id, &device)) < BUCKETS);
    }
}
