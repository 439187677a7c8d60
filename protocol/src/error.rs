//! The crate's error type: one enum over every module's errors, for callers that handle
//! any protocol failure the same way (log it, count it, put it in a report).

use thiserror::Error;

/// Any error this crate returns, by the part of the protocol that raised it.
///
/// Each module keeps its own precise error type (and functions return that); this enum
/// only gathers them, with `From` conversions, so `?` works across modules.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// A binary field could not be decoded.
    #[error(transparent)]
    Decode(#[from] crate::wire::DecodeError),
    /// A NETIP/DVRIP packet or message was refused.
    #[error("NETIP: {0}")]
    Netip(#[from] crate::netip::NetipError),
    /// A CDP/1 connection failed.
    #[error("CDP/1: {0}")]
    Cdp(#[from] crate::cdp::CdpError),
    /// A certificate or chain was refused.
    #[error("certificate: {0}")]
    Certificate(#[from] crate::pki::CertError),
    /// The test PKI could not be generated.
    #[error("test PKI: {0}")]
    Pki(#[from] crate::pki::PkiError),
    /// A video frame was refused.
    #[error("video: {0}")]
    Video(#[from] crate::video::VideoError),
    /// A firmware image was refused.
    #[error("OTA: {0}")]
    Ota(#[from] crate::ota::OtaRefusal),
    /// A relay hello or ready message was refused.
    #[error("relay: {0}")]
    Relay(#[from] crate::relay::RelayWireError),
    /// A firmware manifest could not be built.
    #[error("OTA manifest: {0}")]
    Manifest(#[from] crate::ota::ManifestError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_errors_convert_and_keep_their_message() {
        fn frame() -> Result<(), Error> {
            let mut d = crate::cdp::FrameDecoder::new(16);
            d.push(&[0, 0, 1, 0]);
            d.next_frame()?;
            Ok(())
        }
        let err = frame().unwrap_err();
        assert!(matches!(err, Error::Cdp(_)));
        assert_eq!(
            err.to_string(),
            "CDP/1: invalid message: frame length 256 exceeds the limit of 16"
        );
        let e: Error = crate::pki::PkiError::InvalidOptions("x").into();
        assert_eq!(e.to_string(), "test PKI: invalid PKI options: x");
    }
}
