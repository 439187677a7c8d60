//! The 20-byte little-endian NETIP packet header.

use super::codes::MessageId;
use super::error::NetipError;

/// Length of a NETIP header in bytes.
pub const HEADER_LEN: usize = 20;

/// The first byte of every header.
pub const MAGIC: u8 = 0xFF;

/// The version a camera puts in every reply (one client rejects anything else).
pub const REPLY_VERSION: u8 = 1;

/// The 20-byte header that precedes every NETIP payload; all integers little-endian.
///
/// The magic byte is not stored: it is always 0xFF, written by [`Header::encode`] and
/// checked by [`Header::decode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Header {
    /// Protocol version: clients send 0 or 1, a camera replies with 1.
    pub version: u8,
    /// Bytes 2 and 3, kept as received (0 on control packets; 1 and 0x80 seen on media).
    pub reserved: [u8; 2],
    /// Session id: 0 before login, the session's id afterwards.
    pub session_id: u32,
    /// Sequence number chosen by the client and echoed by replies.
    pub sequence: u32,
    /// Byte 12: fragment count, or the channel on media packets.
    pub fragment_count: u8,
    /// Byte 13: fragment index, or the end flag on media and upgrade packets.
    pub fragment_index: u8,
    /// What the payload is.
    pub message_id: MessageId,
    /// Declared payload length in bytes.
    pub payload_len: u32,
}

impl Header {
    /// A version-0 request header as a client sends it, with no payload length yet.
    pub fn request(message_id: MessageId, session_id: u32, sequence: u32) -> Header {
        Header {
            version: 0,
            session_id,
            sequence,
            message_id,
            ..Header::default()
        }
    }

    /// The header of a reply to this request: version 1, the session's id, the request's
    /// sequence echoed and the request's message id plus one.
    pub fn reply(&self, session_id: u32) -> Header {
        Header {
            version: REPLY_VERSION,
            reserved: [0, 0],
            session_id,
            sequence: self.sequence,
            fragment_count: 0,
            fragment_index: 0,
            message_id: self.message_id.reply(),
            payload_len: 0,
        }
    }

    /// On media packets: the channel (byte 12).
    pub fn channel(&self) -> u8 {
        self.fragment_count
    }

    /// On media and upgrade packets: whether byte 13 marks the last packet.
    pub fn end_flag(&self) -> bool {
        self.fragment_index == 1
    }

    /// The 20 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = MAGIC;
        out[1] = self.version;
        out[2..4].copy_from_slice(&self.reserved);
        out[4..8].copy_from_slice(&self.session_id.to_le_bytes());
        out[8..12].copy_from_slice(&self.sequence.to_le_bytes());
        out[12] = self.fragment_count;
        out[13] = self.fragment_index;
        out[14..16].copy_from_slice(&self.message_id.0.to_le_bytes());
        out[16..20].copy_from_slice(&self.payload_len.to_le_bytes());
        out
    }

    /// Decodes the header at the start of `buf`; bytes after the first 20 are ignored.
    pub fn decode(buf: &[u8]) -> Result<Header, NetipError> {
        let Some(b) = buf.first_chunk::<HEADER_LEN>() else {
            return Err(NetipError::Truncated {
                what: "NETIP header",
                needed: HEADER_LEN,
                available: buf.len(),
            });
        };
        if b[0] != MAGIC {
            return Err(NetipError::BadMagic {
                found: b[0],
                offset: 0,
            });
        }
        Ok(Header {
            version: b[1],
            reserved: [b[2], b[3]],
            session_id: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            sequence: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            fragment_count: b[12],
            fragment_index: b[13],
            message_id: MessageId(u16::from_le_bytes([b[14], b[15]])),
            payload_len: u32::from_le_bytes([b[16], b[17], b[18], b[19]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_header() -> impl Strategy<Value = Header> {
        (
            any::<u8>(),
            any::<[u8; 2]>(),
            any::<u32>(),
            any::<u32>(),
            any::<u8>(),
            any::<u8>(),
            any::<u16>(),
            any::<u32>(),
        )
            .prop_map(|(v, r, s, q, c, i, m, l)| Header {
                version: v,
                reserved: r,
                session_id: s,
                sequence: q,
                fragment_count: c,
                fragment_index: i,
                message_id: MessageId(m),
                payload_len: l,
            })
    }

    /// NETIP-HDR-01: the header is 20 bytes, magic 0xFF, every integer little-endian.
    #[test]
    fn header_known_bytes() {
        let h = Header {
            version: 1,
            reserved: [0, 0],
            session_id: 0x0000_0001,
            sequence: 0x0102_0304,
            fragment_count: 0,
            fragment_index: 0,
            message_id: MessageId::LOGIN_REPLY,
            payload_len: 0x6A,
        };
        let expected: [u8; 20] = [
            0xFF, 0x01, 0x00, 0x00, // magic, version, reserved
            0x01, 0x00, 0x00, 0x00, // session id
            0x04, 0x03, 0x02, 0x01, // sequence
            0x00, 0x00, // fragment count, index
            0xE9, 0x03, // 1001
            0x6A, 0x00, 0x00, 0x00, // payload length
        ];
        assert_eq!(h.encode(), expected);
        assert_eq!(Header::decode(&expected).unwrap(), h);
    }

    /// NETIP-HDR-02: a header whose first byte is not 0xFF is rejected.
    #[test]
    fn bad_magic_is_rejected() {
        let mut b = Header::default().encode();
        b[0] = 0xFE;
        assert!(matches!(
            Header::decode(&b),
            Err(NetipError::BadMagic { found: 0xFE, .. })
        ));
    }

    #[test]
    fn truncated_header_is_reported() {
        let b = Header::default().encode();
        assert!(matches!(
            Header::decode(&b[..19]),
            Err(NetipError::Truncated {
                needed: 20,
                available: 19,
                ..
            })
        ));
    }

    /// NETIP-HDR-03: a reply carries version 1, the session's id, the request's sequence
    /// and the request's id plus one.
    #[test]
    fn reply_header_rules() {
        let req = Header {
            version: 0,
            sequence: 77,
            session_id: 0,
            message_id: MessageId::LOGIN,
            ..Header::default()
        };
        let rep = req.reply(0x1234);
        assert_eq!(rep.version, 1);
        assert_eq!(rep.session_id, 0x1234);
        assert_eq!(rep.sequence, 77);
        assert_eq!(rep.message_id, MessageId::LOGIN_REPLY);
    }

    proptest! {
        /// NETIP-HDR-01: every header round-trips, reserved bytes kept as they are.
        #[test]
        fn header_round_trip(h in arb_header()) {
            let b = h.encode();
            prop_assert_eq!(b[0], 0xFF);
            prop_assert_eq!(Header::decode(&b).unwrap(), h);
        }
    }
}
