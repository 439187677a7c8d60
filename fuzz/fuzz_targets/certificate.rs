//! Certificate decoding and chain verification over arbitrary bytes.
#![no_main]

use camproof_protocol::pki::{Certificate, TrustStore};
use camproof_protocol::Timestamp;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use common::pki;

fuzz_target!(|data: &[u8]| {
    let Ok(cert) = Certificate::from_bytes(data) else {
        return;
    };
    // Canonical encoding: what decodes re-encodes to the same bytes.
    assert_eq!(cert.to_bytes(), data);
    let now = Timestamp::from_secs(1_800_000_000);
    let mut trust = TrustStore::new(pki().root_certificate().clone());
    let _ = trust.verify_server(&cert, now);
    let vendor = pki().vendor_certificate(0).cloned();
    if let Some(vendor) = vendor {
        let _ = trust.verify_device_chain(&[cert.clone(), vendor.clone()], now);
        // In the CA position only the real vendor certificate can verify: the device
        // certificate's signature pins its issuer's key.
        let device = pki().device(0).chain()[0].clone();
        if trust
            .verify_device_chain(&[device, cert.clone()], now)
            .is_ok()
        {
            assert_eq!(cert.key, vendor.key, "a forged CA verified a real device");
        }
    }
});
