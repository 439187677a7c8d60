//! Packets (header plus payload) and the streaming packet decoder.

use super::codes::MessageId;
use super::error::NetipError;
use super::header::{Header, HEADER_LEN, MAGIC};

/// Largest payload a client accepts and a camera accepts in a request (32 KiB).
///
/// Upgrade chunks are at most this size; clients refuse larger packets.
pub const MAX_PAYLOAD: usize = 32 * 1024;

/// Largest payload a camera sends in one packet (16 KiB).
pub const CAMERA_SEND_LIMIT: usize = 16 * 1024;

/// One NETIP packet: a header and its payload.
///
/// The header's `payload_len` always equals the payload's length: [`Packet::new`] sets
/// it, so an encoded packet can never disagree with itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Packet {
    header: Header,
    payload: Vec<u8>,
}

impl Packet {
    /// A packet with `payload`, its header's length field set to the payload's length.
    ///
    /// Fails only if the payload does not fit the 32-bit length field.
    pub fn new(mut header: Header, payload: Vec<u8>) -> Result<Packet, NetipError> {
        header.payload_len =
            u32::try_from(payload.len()).map_err(|_| NetipError::PayloadTooLarge {
                message_id: header.message_id,
                len: payload.len() as u64,
                max: u64::from(u32::MAX),
                offset: 0,
            })?;
        Ok(Packet { header, payload })
    }

    /// The reply to `request`: version 1, `session_id`, the request's sequence echoed,
    /// message id plus one, carrying `payload`.
    pub fn reply_to(
        request: &Header,
        session_id: u32,
        payload: Vec<u8>,
    ) -> Result<Packet, NetipError> {
        Packet::new(request.reply(session_id), payload)
    }

    /// The header, with `payload_len` matching the payload.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The message id from the header.
    pub fn message_id(&self) -> MessageId {
        self.header.message_id
    }

    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The header and the payload, taken apart.
    pub fn into_parts(self) -> (Header, Vec<u8>) {
        (self.header, self.payload)
    }

    /// Length of the encoded packet in bytes.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN.saturating_add(self.payload.len())
    }

    /// Appends the encoded packet to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.extend_from_slice(&self.header.encode());
        out.extend_from_slice(&self.payload);
    }

    /// The encoded packet.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Decodes exactly one packet from `buf`, accepting payloads up to `max_payload`.
    pub fn decode(buf: &[u8], max_payload: usize) -> Result<Packet, NetipError> {
        let mut dec = PacketDecoder::new(max_payload);
        dec.handle_bytes(buf);
        let packet = match dec.poll_packet() {
            Some(r) => r?,
            None => {
                let header = Header::decode(buf)?;
                return Err(NetipError::Truncated {
                    what: "NETIP payload",
                    needed: usize::try_from(header.payload_len).unwrap_or(usize::MAX),
                    available: buf.len().saturating_sub(HEADER_LEN),
                });
            }
        };
        let rest = dec.buffered();
        if rest > 0 {
            return Err(crate::wire::DecodeError::TrailingBytes {
                what: "NETIP packet",
                count: rest,
            }
            .into());
        }
        Ok(packet)
    }
}

/// A streaming decoder that cuts a TCP byte stream into NETIP packets.
///
/// Call [`handle_bytes`](Self::handle_bytes) with whatever the socket delivered, then
/// [`poll_packet`](Self::poll_packet) until it returns `None`. A header whose length
/// field exceeds the decoder's limit is reported as soon as its 20 bytes are present,
/// before any payload buffer is allocated (CVE-2019-11878).
///
/// After an error the stream has lost its framing: the error is returned once, later
/// bytes are discarded and `poll_packet` returns `None` from then on.
#[derive(Debug, Clone)]
pub struct PacketDecoder {
    buf: Vec<u8>,
    max_payload: usize,
    /// Stream offset of `buf[0]`, for error messages.
    offset: u64,
    failed: bool,
}

impl PacketDecoder {
    /// A decoder accepting payloads of at most `max_payload` bytes.
    pub fn new(max_payload: usize) -> Self {
        PacketDecoder {
            buf: Vec::new(),
            max_payload,
            offset: 0,
            failed: false,
        }
    }

    /// The payload limit.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// Whether a framing error has been reported and input is now discarded.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Bytes received but not yet returned as a packet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feeds bytes received from the peer.
    pub fn handle_bytes(&mut self, data: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(data);
        }
    }

    /// The next complete packet, an error if the stream is malformed, or `None` if more
    /// bytes are needed (or the decoder has failed).
    pub fn poll_packet(&mut self) -> Option<Result<Packet, NetipError>> {
        if self.failed {
            return None;
        }
        match self.try_packet() {
            Ok(p) => p.map(Ok),
            Err(e) => {
                self.failed = true;
                self.buf = Vec::new();
                Some(Err(e))
            }
        }
    }

    fn try_packet(&mut self) -> Result<Option<Packet>, NetipError> {
        // Check the magic as soon as one byte is in, so garbage fails fast.
        if let Some(&first) = self.buf.first() {
            if first != MAGIC {
                return Err(NetipError::BadMagic {
                    found: first,
                    offset: self.offset,
                });
            }
        }
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let header = Header::decode(&self.buf)?;
        // The limit is checked on the declared length before anything is allocated.
        let len = usize::try_from(header.payload_len).unwrap_or(usize::MAX);
        if len > self.max_payload {
            return Err(NetipError::PayloadTooLarge {
                message_id: header.message_id,
                len: u64::from(header.payload_len),
                max: self.max_payload as u64,
                offset: self.offset,
            });
        }
        let total = HEADER_LEN.saturating_add(len);
        let Some(payload) = self.buf.get(HEADER_LEN..total) else {
            return Ok(None);
        };
        let packet = Packet {
            header,
            payload: payload.to_vec(),
        };
        self.buf.drain(..total);
        self.offset = self.offset.saturating_add(total as u64);
        Ok(Some(packet))
    }
}

impl Default for PacketDecoder {
    /// A decoder with the 32 KiB limit of [`MAX_PAYLOAD`].
    fn default() -> Self {
        PacketDecoder::new(MAX_PAYLOAD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_packet() -> impl Strategy<Value = Packet> {
        (
            any::<u8>(),
            any::<[u8; 2]>(),
            any::<u32>(),
            any::<u32>(),
            any::<u8>(),
            any::<u8>(),
            any::<u16>(),
            proptest::collection::vec(any::<u8>(), 0..200),
        )
            .prop_map(|(v, r, s, q, c, i, m, payload)| {
                let h = Header {
                    version: v,
                    reserved: r,
                    session_id: s,
                    sequence: q,
                    fragment_count: c,
                    fragment_index: i,
                    message_id: MessageId(m),
                    payload_len: 0,
                };
                Packet::new(h, payload).unwrap()
            })
    }

    fn drain(dec: &mut PacketDecoder) -> Vec<Result<Packet, NetipError>> {
        std::iter::from_fn(|| dec.poll_packet()).collect()
    }

    /// NETIP-LEN-01: a length over the limit is refused as soon as the 20 header bytes
    /// are in, before any payload is received or allocated.
    #[test]
    fn oversized_length_refused_at_header() {
        let h = Header {
            message_id: MessageId::LOGIN,
            payload_len: u32::MAX,
            ..Header::default()
        };
        let mut dec = PacketDecoder::new(MAX_PAYLOAD);
        dec.handle_bytes(&h.encode()[..19]);
        assert!(dec.poll_packet().is_none());
        dec.handle_bytes(&h.encode()[19..]);
        let err = dec.poll_packet().unwrap().unwrap_err();
        assert!(matches!(
            err,
            NetipError::PayloadTooLarge {
                len: 0xFFFF_FFFF,
                max: 32768,
                offset: 0,
                ..
            }
        ));
        assert!(err.to_string().contains("1000 (login)"));
        // The stream is dead: no further packets, no growth.
        dec.handle_bytes(&[0xFF; 100]);
        assert!(dec.poll_packet().is_none());
        assert_eq!(dec.buffered(), 0);
        assert!(dec.is_failed());
    }

    /// NETIP-LEN-02: requests up to 32 KiB are accepted (upgrade chunks), one byte more
    /// is not; the camera's own send limit is 16 KiB.
    #[test]
    fn limit_is_inclusive() {
        assert_eq!(MAX_PAYLOAD, 32768);
        assert_eq!(CAMERA_SEND_LIMIT, 16384);
        let h = Header::request(MessageId::UPGRADE_DATA, 5, 9);
        let ok = Packet::new(h, vec![7; MAX_PAYLOAD]).unwrap().encode();
        assert!(Packet::decode(&ok, MAX_PAYLOAD).is_ok());
        let big = Packet::new(h, vec![7; MAX_PAYLOAD + 1]).unwrap().encode();
        assert!(matches!(
            Packet::decode(&big, MAX_PAYLOAD),
            Err(NetipError::PayloadTooLarge { .. })
        ));
    }

    /// NETIP-HDR-02: garbage instead of a header fails on its first byte.
    #[test]
    fn bad_magic_in_stream() {
        let mut dec = PacketDecoder::default();
        let p = Packet::new(Header::default(), b"x".to_vec()).unwrap();
        dec.handle_bytes(&p.encode());
        dec.handle_bytes(b"GET / HTTP/1.1");
        let out = drain(&mut dec);
        assert_eq!(out.len(), 2);
        assert!(out[0].is_ok());
        assert!(matches!(
            out[1],
            Err(NetipError::BadMagic {
                found: b'G',
                offset: 21
            })
        ));
    }

    #[test]
    fn truncated_packet_waits_then_decode_reports() {
        let p = Packet::new(Header::default(), vec![1, 2, 3, 4]).unwrap();
        let b = p.encode();
        let mut dec = PacketDecoder::default();
        dec.handle_bytes(&b[..22]);
        assert!(dec.poll_packet().is_none());
        assert!(matches!(
            Packet::decode(&b[..22], MAX_PAYLOAD),
            Err(NetipError::Truncated {
                needed: 4,
                available: 2,
                ..
            })
        ));
        assert!(matches!(
            Packet::decode(&b[..5], MAX_PAYLOAD),
            Err(NetipError::Truncated { .. })
        ));
        let mut extra = b.clone();
        extra.push(0);
        assert!(matches!(
            Packet::decode(&extra, MAX_PAYLOAD),
            Err(NetipError::Wire(_))
        ));
    }

    /// NETIP-HDR-03: `Packet::reply_to` builds a reply header by the rules.
    #[test]
    fn reply_to_packet() {
        let req = Header::request(MessageId::KEEPALIVE, 9, 41);
        let rep = Packet::reply_to(&req, 9, b"{}".to_vec()).unwrap();
        assert_eq!(rep.header().version, 1);
        assert_eq!(rep.header().sequence, 41);
        assert_eq!(rep.header().session_id, 9);
        assert_eq!(rep.message_id(), MessageId::KEEPALIVE_REPLY);
        assert_eq!(rep.header().payload_len, 2);
    }

    proptest! {
        /// NETIP-LEN-03: the stream decoder yields the same packets however the byte
        /// stream is split into reads.
        #[test]
        fn stream_round_trip_any_split(
            packets in proptest::collection::vec(arb_packet(), 0..6),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
        ) {
            let mut stream = Vec::new();
            for p in &packets {
                p.encode_into(&mut stream);
            }
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            points.push(0);
            points.push(stream.len());
            points.sort_unstable();
            let mut dec = PacketDecoder::new(256);
            let mut got = Vec::new();
            for w in points.windows(2) {
                dec.handle_bytes(&stream[w[0]..w[1]]);
                while let Some(r) = dec.poll_packet() {
                    got.push(r.unwrap());
                }
            }
            prop_assert_eq!(got, packets);
            prop_assert_eq!(dec.buffered(), 0);
        }

        /// NETIP-FUZZ-01: the decoder never panics on arbitrary bytes and stops after
        /// its first error.
        #[test]
        fn decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400), max in 0usize..300) {
            let mut dec = PacketDecoder::new(max);
            dec.handle_bytes(&data);
            let mut errors = 0;
            while let Some(r) = dec.poll_packet() {
                match r {
                    Ok(p) => prop_assert!(p.payload().len() <= max),
                    Err(_) => errors += 1,
                }
            }
            prop_assert!(errors <= 1);
            let _ = Packet::decode(&data, max);
        }
    }
}
