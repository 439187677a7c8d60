//! Signed OTA firmware manifests (being written).
