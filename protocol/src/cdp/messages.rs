//! CDP/1 handshake messages and alerts: typed bodies with bounded decoders.
//!
//! Each signed or MACed message is encoded as a *core* (every field but the last)
//! followed by its signature or MAC, so the signer can sign the core's transcript.

use crate::cdp::{CdpError, InvalidMessage, PROTOCOL_VERSION};
use crate::pki::{Certificate, MAX_SIGNATURE_LEN};
use crate::wire::{Reader, Writer};
use crate::Timestamp;

/// Size of the random values, key shares and ticket ids on the wire.
pub const RANDOM_LEN: usize = 32;
/// Size of a ticket id.
pub const TICKET_ID_LEN: usize = 16;
/// Size of an Ed25519 signature.
pub const ED25519_SIG_LEN: usize = 64;
/// Size of an HMAC-SHA256 value.
pub const MAC_LEN: usize = 32;
/// Longest encoded certificate accepted in a handshake.
pub const MAX_CERT_LEN: usize = 2048;

/// Device → platform: the first message of a full handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// Protocol version; 1 for CDP/1.
    pub version: u16,
    /// Fresh random value; the platform's nonce cache refuses a repeat.
    pub random: [u8; RANDOM_LEN],
    /// The device's clock when it sent the hello.
    pub timestamp: Timestamp,
    /// Ephemeral X25519 public key.
    pub key_share: [u8; 32],
}

impl ClientHello {
    /// The body encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + 32 + 8 + 32);
        out.put_u16(self.version);
        out.extend_from_slice(&self.random);
        out.put_u64(self.timestamp.as_micros());
        out.extend_from_slice(&self.key_share);
        out
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self, CdpError> {
        let mut r = Reader::new(body);
        let version = r.u16("ClientHello.version")?;
        check_version(version)?;
        let hello = ClientHello {
            version,
            random: r.array("ClientHello.random")?,
            timestamp: Timestamp::from_micros(r.u64("ClientHello.timestamp")?),
            key_share: r.array("ClientHello.key_share")?,
        };
        r.finish("ClientHello")?;
        Ok(hello)
    }
}

/// Platform → device: key share, certificate and signature over the transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// Fresh random value.
    pub random: [u8; RANDOM_LEN],
    /// The platform's clock.
    pub timestamp: Timestamp,
    /// Ephemeral X25519 public key.
    pub key_share: [u8; 32],
    /// The platform server certificate (Ed25519 key).
    pub certificate: Certificate,
    /// Ed25519 signature over the transcript up to the end of the core.
    pub signature: [u8; ED25519_SIG_LEN],
}

impl ServerHello {
    /// Encodes every field but the signature.
    pub fn encode_core(
        random: &[u8; 32],
        timestamp: Timestamp,
        key_share: &[u8; 32],
        certificate: &Certificate,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(random);
        out.put_u64(timestamp.as_micros());
        out.extend_from_slice(key_share);
        out.put_vec16(&certificate.to_bytes());
        out
    }

    /// The body encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Self::encode_core(
            &self.random,
            self.timestamp,
            &self.key_share,
            &self.certificate,
        );
        out.extend_from_slice(&self.signature);
        out
    }

    /// Decodes a body; also returns the length of the core.
    pub fn decode(body: &[u8]) -> Result<(Self, usize), CdpError> {
        let mut r = Reader::new(body);
        let random = r.array("ServerHello.random")?;
        let timestamp = Timestamp::from_micros(r.u64("ServerHello.timestamp")?);
        let key_share = r.array("ServerHello.key_share")?;
        let cert_bytes = r.vec16("ServerHello.certificate", MAX_CERT_LEN)?;
        let certificate = Certificate::from_bytes(cert_bytes)?;
        let core_len = body.len() - r.remaining();
        let signature = r.array("ServerHello.signature")?;
        r.finish("ServerHello")?;
        Ok((
            ServerHello {
                random,
                timestamp,
                key_share,
                certificate,
                signature,
            },
            core_len,
        ))
    }
}

/// Device → platform: the device chain and its signature over the transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuth {
    /// `[device certificate, vendor CA certificate]`.
    pub chain: Vec<Certificate>,
    /// RSA-PSS/SHA-256 signature by the device key over the transcript.
    pub signature: Vec<u8>,
}

/// Most certificates a chain may carry.
pub const MAX_CHAIN_LEN: usize = 4;

impl ClientAuth {
    /// Encodes every field but the signature.
    pub fn encode_core(chain: &[Certificate]) -> Vec<u8> {
        let mut out = Vec::with_capacity(2048);
        out.push(chain.len().min(MAX_CHAIN_LEN) as u8);
        for cert in chain.iter().take(MAX_CHAIN_LEN) {
            out.put_vec16(&cert.to_bytes());
        }
        out
    }

    /// The body encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Self::encode_core(&self.chain);
        out.put_vec16(&self.signature);
        out
    }

    /// Decodes a body; also returns the length of the core.
    pub fn decode(body: &[u8]) -> Result<(Self, usize), CdpError> {
        let mut r = Reader::new(body);
        let count = usize::from(r.u8("ClientAuth.chain_length")?);
        if count > MAX_CHAIN_LEN {
            return Err(
                InvalidMessage::Decode(crate::wire::DecodeError::LengthTooLarge {
                    field: "ClientAuth.chain_length",
                    len: count as u64,
                    max: MAX_CHAIN_LEN as u64,
                })
                .into(),
            );
        }
        let mut chain = Vec::with_capacity(count);
        for _ in 0..count {
            chain.push(Certificate::from_bytes(
                r.vec16("ClientAuth.certificate", MAX_CERT_LEN)?,
            )?);
        }
        let core_len = body.len() - r.remaining();
        let signature = r.vec16("ClientAuth.signature", MAX_SIGNATURE_LEN)?.to_vec();
        r.finish("ClientAuth")?;
        Ok((ClientAuth { chain, signature }, core_len))
    }
}

/// Device → platform: opens a resumed handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeHello {
    /// Protocol version; 1 for CDP/1.
    pub version: u16,
    /// The ticket issued by the platform in the previous session.
    pub ticket_id: [u8; TICKET_ID_LEN],
    /// Fresh random value.
    pub random: [u8; RANDOM_LEN],
    /// The device's clock.
    pub timestamp: Timestamp,
    /// Ephemeral X25519 public key (resumed sessions keep forward secrecy).
    pub key_share: [u8; 32],
    /// HMAC over the core with the ticket's binder key.
    pub binder: [u8; MAC_LEN],
}

impl ResumeHello {
    /// Encodes every field but the binder.
    pub fn encode_core(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.put_u16(self.version);
        out.extend_from_slice(&self.ticket_id);
        out.extend_from_slice(&self.random);
        out.put_u64(self.timestamp.as_micros());
        out.extend_from_slice(&self.key_share);
        out
    }

    /// The body encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.encode_core();
        out.extend_from_slice(&self.binder);
        out
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self, CdpError> {
        let mut r = Reader::new(body);
        let version = r.u16("ResumeHello.version")?;
        check_version(version)?;
        let hello = ResumeHello {
            version,
            ticket_id: r.array("ResumeHello.ticket_id")?,
            random: r.array("ResumeHello.random")?,
            timestamp: Timestamp::from_micros(r.u64("ResumeHello.timestamp")?),
            key_share: r.array("ResumeHello.key_share")?,
            binder: r.array("ResumeHello.binder")?,
        };
        r.finish("ResumeHello")?;
        Ok(hello)
    }
}

/// Platform → device: accepts a resumption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeAccept {
    /// Fresh random value.
    pub random: [u8; RANDOM_LEN],
    /// The platform's clock.
    pub timestamp: Timestamp,
    /// Ephemeral X25519 public key.
    pub key_share: [u8; 32],
    /// HMAC over the transcript with the ticket's binder key: proves the platform
    /// knows the resumption secret.
    pub verify: [u8; MAC_LEN],
}

impl ResumeAccept {
    /// Encodes every field but the MAC.
    pub fn encode_core(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(&self.random);
        out.put_u64(self.timestamp.as_micros());
        out.extend_from_slice(&self.key_share);
        out
    }

    /// The body encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.encode_core();
        out.extend_from_slice(&self.verify);
        out
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self, CdpError> {
        let mut r = Reader::new(body);
        let accept = ResumeAccept {
            random: r.array("ResumeAccept.random")?,
            timestamp: Timestamp::from_micros(r.u64("ResumeAccept.timestamp")?),
            key_share: r.array("ResumeAccept.key_share")?,
            verify: r.array("ResumeAccept.verify")?,
        };
        r.finish("ResumeAccept")?;
        Ok(accept)
    }
}

/// Why a peer ended the connection, sent in a plaintext alert frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum AlertCode {
    /// A message could not be decoded.
    DecodeError,
    /// A message arrived that the state does not expect.
    UnexpectedMessage,
    /// The protocol version is not supported.
    UnsupportedVersion,
    /// The certificate chain was refused.
    BadCertificate,
    /// A handshake signature or MAC did not verify.
    BadSignature,
    /// The handshake timestamp is outside the skew window.
    ClockSkew,
    /// The handshake random was seen before.
    ReplayedHandshake,
    /// The resumption ticket is unknown, used or expired.
    UnknownTicket,
    /// A record was replayed, reordered, truncated or tampered with.
    BadRecord,
    /// The peer cannot take more handshakes right now.
    Busy,
    /// Any other failure.
    Internal,
    /// An alert code this implementation does not know.
    Unknown(u8),
}

impl AlertCode {
    /// The wire value.
    pub fn to_byte(self) -> u8 {
        match self {
            AlertCode::DecodeError => 1,
            AlertCode::UnexpectedMessage => 2,
            AlertCode::UnsupportedVersion => 3,
            AlertCode::BadCertificate => 4,
            AlertCode::BadSignature => 5,
            AlertCode::ClockSkew => 6,
            AlertCode::ReplayedHandshake => 7,
            AlertCode::UnknownTicket => 8,
            AlertCode::BadRecord => 9,
            AlertCode::Busy => 10,
            AlertCode::Internal => 11,
            AlertCode::Unknown(b) => b,
        }
    }

    /// The code of a wire value.
    pub fn from_byte(b: u8) -> Self {
        match b {
            1 => AlertCode::DecodeError,
            2 => AlertCode::UnexpectedMessage,
            3 => AlertCode::UnsupportedVersion,
            4 => AlertCode::BadCertificate,
            5 => AlertCode::BadSignature,
            6 => AlertCode::ClockSkew,
            7 => AlertCode::ReplayedHandshake,
            8 => AlertCode::UnknownTicket,
            9 => AlertCode::BadRecord,
            10 => AlertCode::Busy,
            11 => AlertCode::Internal,
            other => AlertCode::Unknown(other),
        }
    }

    /// Decodes an alert body (one byte).
    pub fn decode(body: &[u8]) -> Result<Self, CdpError> {
        let mut r = Reader::new(body);
        let code = Self::from_byte(r.u8("Alert.code")?);
        r.finish("Alert")?;
        Ok(code)
    }
}

fn check_version(version: u16) -> Result<(), CdpError> {
    if version == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(crate::cdp::PeerMisbehaved::UnsupportedVersion(version).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::tests::pki;
    use proptest::prelude::*;

    fn arr<const N: usize>() -> impl Strategy<Value = [u8; N]> {
        prop::collection::vec(any::<u8>(), N).prop_map(|v| {
            let mut a = [0u8; N];
            a.copy_from_slice(&v);
            a
        })
    }

    proptest! {
        /// CDP-HS-01: handshake messages round-trip through their encodings.
        #[test]
        fn cdp_hs_01_messages_round_trip(
            random in arr::<32>(), share in arr::<32>(), ts: u64, sig in arr::<64>(),
            ticket in arr::<16>(), mac in arr::<32>(), rsa_sig in prop::collection::vec(any::<u8>(), 0..512),
            idx in 0u64..50,
        ) {
            let ch = ClientHello { version: 1, random, timestamp: Timestamp::from_micros(ts), key_share: share };
            prop_assert_eq!(ClientHello::decode(&ch.encode()).unwrap(), ch);

            let certificate = pki().server("gw", idx).certificate().clone();
            let sh = ServerHello { random, timestamp: Timestamp::from_micros(ts), key_share: share, certificate, signature: sig };
            let body = sh.encode();
            let (back, core) = ServerHello::decode(&body).unwrap();
            prop_assert_eq!(core, body.len() - 64);
            prop_assert_eq!(back, sh);

            let ca = ClientAuth { chain: pki().device(idx).chain().to_vec(), signature: rsa_sig };
            let body = ca.encode();
            let (back, core) = ClientAuth::decode(&body).unwrap();
            prop_assert_eq!(core, ClientAuth::encode_core(&ca.chain).len());
            prop_assert_eq!(back, ca);

            let rh = ResumeHello { version: 1, ticket_id: ticket, random, timestamp: Timestamp::from_micros(ts), key_share: share, binder: mac };
            prop_assert_eq!(ResumeHello::decode(&rh.encode()).unwrap(), rh);
            let ra = ResumeAccept { random, timestamp: Timestamp::from_micros(ts), key_share: share, verify: mac };
            prop_assert_eq!(ResumeAccept::decode(&ra.encode()).unwrap(), ra);
        }

        /// CDP-HS-01: decoders are total over arbitrary bytes.
        #[test]
        fn decoders_never_panic(body in prop::collection::vec(any::<u8>(), 0..1500)) {
            let _ = ClientHello::decode(&body);
            let _ = ServerHello::decode(&body);
            let _ = ClientAuth::decode(&body);
            let _ = ResumeHello::decode(&body);
            let _ = ResumeAccept::decode(&body);
            let _ = AlertCode::decode(&body);
        }
    }

    /// CDP-HS-02: a hello with another version is refused with a distinct error.
    #[test]
    fn cdp_hs_02_unknown_version_refused() {
        let ch = ClientHello {
            version: 2,
            random: [1; 32],
            timestamp: Timestamp::ZERO,
            key_share: [2; 32],
        };
        assert!(matches!(
            ClientHello::decode(&ch.encode()),
            Err(CdpError::PeerMisbehaved(
                crate::cdp::PeerMisbehaved::UnsupportedVersion(2)
            ))
        ));
    }

    /// CDP-HS-01: the ClientHello layout is pinned byte for byte.
    #[test]
    fn cdp_hs_01_client_hello_known_bytes() {
        let ch = ClientHello {
            version: 1,
            random: [0x11; 32],
            timestamp: Timestamp::from_micros(0x0102_0304_0506_0708),
            key_share: [0x22; 32],
        };
        let enc = ch.encode();
        assert_eq!(enc.len(), 74);
        assert_eq!(&enc[..2], &[0, 1]);
        assert_eq!(&enc[34..42], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(ClientHello::decode(&enc[..73]).is_err());
        let mut long = enc.clone();
        long.push(0);
        assert!(ClientHello::decode(&long).is_err());
    }

    #[test]
    fn alert_codes_round_trip() {
        for b in 0..=255u8 {
            assert_eq!(AlertCode::from_byte(b).to_byte(), b);
        }
    }
}
