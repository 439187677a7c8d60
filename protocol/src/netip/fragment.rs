//! Reassembly of JSON payloads split over several packets.
//!
//! Header byte 12 holds the fragment count and byte 13 the fragment index, counted from
//! 0; a count of 0 or 1 is a packet on its own. On media and upgrade packets
//! ([`MessageId::uses_media_fields`]) the same bytes mean channel and end flag, so those
//! packets pass through untouched.

use super::codes::MessageId;
use super::error::NetipError;
use super::header::Header;
use super::packet::Packet;

/// Default bound on a reassembled payload (1 MiB), far above any JSON reply seen.
pub const DEFAULT_MAX_REASSEMBLED: usize = 1024 * 1024;

#[derive(Debug, Clone)]
struct Pending {
    header: Header,
    count: u8,
    next: u8,
    payload: Vec<u8>,
}

/// Joins fragmented packets back into whole packets.
///
/// Feed every decoded packet to [`handle_packet`](Self::handle_packet) in arrival order;
/// it returns a packet whenever one is complete. Fragments must arrive in order, once
/// each, all with the same message id, session and count, and together within the size
/// bound. After an error the partial message is dropped and the next packet starts
/// afresh.
#[derive(Debug, Clone)]
pub struct FragmentReassembler {
    max_total: usize,
    pending: Option<Pending>,
}

impl FragmentReassembler {
    /// A reassembler accepting reassembled payloads of at most `max_total` bytes.
    pub fn new(max_total: usize) -> Self {
        FragmentReassembler {
            max_total,
            pending: None,
        }
    }

    /// Whether no fragmented message is partly received.
    pub fn is_idle(&self) -> bool {
        self.pending.is_none()
    }

    /// Takes one packet; returns a complete packet (unfragmented, media, or the last
    /// fragment of a message) or `None` while a message is still incomplete.
    pub fn handle_packet(&mut self, packet: Packet) -> Result<Option<Packet>, NetipError> {
        let h = *packet.header();
        if h.message_id.uses_media_fields() {
            return Ok(Some(packet));
        }
        let result = self.step(packet);
        if result.is_err() {
            self.pending = None;
        }
        result
    }

    fn step(&mut self, packet: Packet) -> Result<Option<Packet>, NetipError> {
        let h = *packet.header();
        let m = h.message_id;
        if h.fragment_count <= 1 {
            if let Some(p) = &self.pending {
                return Err(inconsistent(
                    m,
                    h.fragment_index,
                    format!(
                        "a whole packet arrived while fragment {} of {} of message {} was awaited",
                        p.next, p.count, p.header.message_id
                    ),
                ));
            }
            return Ok(Some(packet));
        }
        let (count, index) = (h.fragment_count, h.fragment_index);
        if index >= count {
            return Err(inconsistent(
                m,
                index,
                format!("index {index} is not below the fragment count {count}"),
            ));
        }
        let (_, payload) = packet.into_parts();
        let pending = match self.pending.take() {
            None if index == 0 => Pending {
                header: h,
                count,
                next: 0,
                payload: Vec::new(),
            },
            None => {
                return Err(NetipError::FragmentOutOfOrder {
                    message_id: m,
                    got: index,
                    expected: 0,
                    count,
                })
            }
            Some(p) => p,
        };
        if m != pending.header.message_id {
            return Err(inconsistent(
                m,
                index,
                format!("message id differs from {}", pending.header.message_id),
            ));
        }
        if h.session_id != pending.header.session_id {
            return Err(inconsistent(
                m,
                index,
                format!(
                    "session 0x{:08X} differs from 0x{:08X}",
                    h.session_id, pending.header.session_id
                ),
            ));
        }
        if count != pending.count {
            return Err(inconsistent(
                m,
                index,
                format!("fragment count {count} differs from {}", pending.count),
            ));
        }
        if index < pending.next {
            return Err(NetipError::FragmentDuplicate {
                message_id: m,
                index,
                count,
            });
        }
        if index > pending.next {
            return Err(NetipError::FragmentOutOfOrder {
                message_id: m,
                got: index,
                expected: pending.next,
                count,
            });
        }
        let total = pending.payload.len().saturating_add(payload.len());
        if total > self.max_total {
            return Err(NetipError::ReassembledTooLarge {
                message_id: m,
                len: total as u64,
                max: self.max_total as u64,
            });
        }
        let mut pending = pending;
        pending.payload.extend_from_slice(&payload);
        pending.next = index.saturating_add(1);
        if pending.next < count {
            self.pending = Some(pending);
            return Ok(None);
        }
        let header = Header {
            fragment_count: 0,
            fragment_index: 0,
            ..pending.header
        };
        Packet::new(header, pending.payload).map(Some)
    }
}

impl Default for FragmentReassembler {
    /// A reassembler with the [`DEFAULT_MAX_REASSEMBLED`] bound.
    fn default() -> Self {
        FragmentReassembler::new(DEFAULT_MAX_REASSEMBLED)
    }
}

fn inconsistent(message_id: MessageId, index: u8, reason: String) -> NetipError {
    NetipError::FragmentInconsistent {
        message_id,
        index,
        reason,
    }
}

/// Splits `payload` into packets of at most `max_fragment` payload bytes under `header`
/// (whose fragment fields and length are overwritten); one packet if it fits.
///
/// Fails if `max_fragment` is 0, if more than 255 fragments would be needed, or if
/// `header` is a media id whose bytes 12 and 13 mean something else.
pub fn split_into_fragments(
    header: Header,
    payload: &[u8],
    max_fragment: usize,
) -> Result<Vec<Packet>, NetipError> {
    if max_fragment == 0 {
        return Err(NetipError::InvalidField {
            field: "fragment size",
            reason: "must be at least one byte".to_owned(),
        });
    }
    if payload.len() <= max_fragment {
        let h = Header {
            fragment_count: 0,
            fragment_index: 0,
            ..header
        };
        return Packet::new(h, payload.to_vec()).map(|p| vec![p]);
    }
    if header.message_id.uses_media_fields() {
        return Err(NetipError::InvalidField {
            field: "fragment count",
            reason: format!(
                "message {} carries a channel, not fragments",
                header.message_id
            ),
        });
    }
    let count = u8::try_from(payload.len().div_ceil(max_fragment)).map_err(|_| {
        NetipError::InvalidField {
            field: "fragment count",
            reason: format!(
                "{} bytes in {max_fragment}-byte fragments need more than 255",
                payload.len()
            ),
        }
    })?;
    payload
        .chunks(max_fragment)
        .zip(0..count)
        .map(|(chunk, index)| {
            let h = Header {
                fragment_count: count,
                fragment_index: index,
                ..header
            };
            Packet::new(h, chunk.to_vec())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frag(m: u16, session: u32, count: u8, index: u8, data: &[u8]) -> Packet {
        let h = Header {
            session_id: session,
            fragment_count: count,
            fragment_index: index,
            message_id: MessageId(m),
            ..Header::default()
        };
        Packet::new(h, data.to_vec()).unwrap()
    }

    /// NETIP-FRAG-01: a payload split over fragments 0..n of one message is joined in
    /// order into one packet.
    #[test]
    fn joins_in_order() {
        let mut r = FragmentReassembler::default();
        assert!(r
            .handle_packet(frag(1043, 1, 3, 0, b"ab"))
            .unwrap()
            .is_none());
        assert!(r
            .handle_packet(frag(1043, 1, 3, 1, b"cd"))
            .unwrap()
            .is_none());
        let p = r.handle_packet(frag(1043, 1, 3, 2, b"e")).unwrap().unwrap();
        assert_eq!(p.payload(), b"abcde");
        assert_eq!(p.header().payload_len, 5);
        assert_eq!(p.header().fragment_count, 0);
        assert!(r.is_idle());
        // Count 0 and 1 mean a packet on its own.
        for count in [0, 1] {
            let p = r
                .handle_packet(frag(1043, 1, count, 0, b"x"))
                .unwrap()
                .unwrap();
            assert_eq!(p.payload(), b"x");
        }
    }

    /// NETIP-FRAG-02: out-of-order, duplicate and inconsistent fragments are errors.
    #[test]
    fn rejects_bad_sequences() {
        let mut r = FragmentReassembler::default();
        assert!(matches!(
            r.handle_packet(frag(1043, 1, 3, 1, b"x")),
            Err(NetipError::FragmentOutOfOrder {
                got: 1,
                expected: 0,
                ..
            })
        ));
        r.handle_packet(frag(1043, 1, 3, 0, b"x")).unwrap();
        assert!(matches!(
            r.handle_packet(frag(1043, 1, 3, 2, b"x")),
            Err(NetipError::FragmentOutOfOrder {
                got: 2,
                expected: 1,
                ..
            })
        ));
        assert!(r.is_idle(), "an error drops the partial message");

        r.handle_packet(frag(1043, 1, 3, 0, b"x")).unwrap();
        r.handle_packet(frag(1043, 1, 3, 1, b"x")).unwrap();
        assert!(matches!(
            r.handle_packet(frag(1043, 1, 3, 1, b"x")),
            Err(NetipError::FragmentDuplicate { index: 1, .. })
        ));

        let cases = [
            frag(1045, 1, 3, 1, b"x"), // other message id
            frag(1043, 2, 3, 1, b"x"), // other session
            frag(1043, 1, 4, 1, b"x"), // other count
            frag(1043, 1, 0, 0, b"x"), // whole packet in the middle
        ];
        for bad in cases {
            r.handle_packet(frag(1043, 1, 3, 0, b"x")).unwrap();
            assert!(matches!(
                r.handle_packet(bad),
                Err(NetipError::FragmentInconsistent { .. })
            ));
        }
        assert!(matches!(
            r.handle_packet(frag(1043, 1, 3, 3, b"x")),
            Err(NetipError::FragmentInconsistent { index: 3, .. })
        ));
    }

    /// NETIP-FRAG-03: the reassembled size is bounded before the fragment is copied.
    #[test]
    fn bounds_total_size() {
        let mut r = FragmentReassembler::new(10);
        r.handle_packet(frag(1043, 1, 3, 0, &[0; 6])).unwrap();
        assert!(matches!(
            r.handle_packet(frag(1043, 1, 3, 1, &[0; 5])),
            Err(NetipError::ReassembledTooLarge {
                len: 11,
                max: 10,
                ..
            })
        ));
    }

    /// NETIP-FRAG-04: media packets, whose bytes 12 and 13 are channel and end flag,
    /// pass through untouched.
    #[test]
    fn media_passes_through() {
        let mut r = FragmentReassembler::default();
        r.handle_packet(frag(1043, 1, 3, 0, b"x")).unwrap();
        let media = frag(1412, 1, 5, 1, b"frame");
        assert_eq!(r.handle_packet(media.clone()).unwrap(), Some(media));
        assert!(!r.is_idle());
        let h = Header {
            message_id: MessageId::MONITOR_DATA,
            ..Header::default()
        };
        assert!(split_into_fragments(h, &[0; 10], 4).is_err());
        assert!(split_into_fragments(h, &[0; 10], 0).is_err());
        assert!(split_into_fragments(Header::default(), &[0; 300], 1).is_err());
    }

    proptest! {
        /// NETIP-FRAG-01: any payload split into fragments reassembles to itself.
        #[test]
        fn split_join_round_trip(
            payload in proptest::collection::vec(any::<u8>(), 0..2000),
            max in 8usize..600,
            session: u32,
        ) {
            let h = Header { session_id: session, message_id: MessageId::CONFIG_GET_REPLY, ..Header::default() };
            let frags = split_into_fragments(h, &payload, max).unwrap();
            let mut r = FragmentReassembler::default();
            let mut out = Vec::new();
            for f in frags {
                prop_assert!(f.payload().len() <= max);
                if let Some(p) = r.handle_packet(f).unwrap() {
                    out.push(p);
                }
            }
            prop_assert_eq!(out.len(), 1);
            prop_assert_eq!(out[0].payload(), &payload[..]);
            prop_assert_eq!(out[0].header().session_id, session);
        }

        /// NETIP-FUZZ-01: arbitrary fragment headers never panic the reassembler.
        #[test]
        fn reassembler_never_panics(seq in proptest::collection::vec((0u16..3, 0u32..2, any::<u8>(), any::<u8>(), 0usize..8), 0..30)) {
            let mut r = FragmentReassembler::new(20);
            for (m, s, c, i, n) in seq {
                let _ = r.handle_packet(frag(1040 + m, s, c % 5, i % 5, &vec![0; n]));
            }
        }
    }
}
