//! Media framing inside live (1412) and playback (1426) payloads.
//!
//! A frame starts with a marker and a small header, then its data; one frame may span
//! many packets and one packet may end one frame and start the next, so the payloads of
//! consecutive media packets form one byte stream. Header integers are little-endian.
//!
//! | marker | frame | header after the marker |
//! |---|---|---|
//! | `00 00 01 FC` | I-frame | codec, fps, width/8, height/8, packed time (u32), length (u32) |
//! | `00 00 01 FD` | P-frame | length (u32) |
//! | `00 00 01 FA` | audio | codec, rate index, length (u16) |
//! | `00 00 01 F9` | info | type, unused, length (u16) |

use super::codes::MessageId;
use super::error::NetipError;
use super::header::{Header, REPLY_VERSION};
use super::packet::{Packet, CAMERA_SEND_LIMIT};
use super::types::{days_in_month, NetipTime};

/// Chunk size real cameras use when splitting frames over 1412 packets.
pub const MEDIA_CHUNK: usize = 8192;

/// Default bound on one media frame (4 MiB), above any 4K I-frame seen.
pub const DEFAULT_MAX_FRAME: usize = 4 * 1024 * 1024;

/// Marker of an I-frame.
pub const MARKER_I_FRAME: [u8; 4] = [0, 0, 1, 0xFC];
/// Marker of a P-frame.
pub const MARKER_P_FRAME: [u8; 4] = [0, 0, 1, 0xFD];
/// Marker of an audio frame.
pub const MARKER_AUDIO: [u8; 4] = [0, 0, 1, 0xFA];
/// Marker of an information frame.
pub const MARKER_INFO: [u8; 4] = [0, 0, 1, 0xF9];

/// Packs a date-time into the 32-bit I-frame time: second (6 bits), minute (6), hour
/// (5), day (5), month (4), year − 2000 (6), from the low bits up.
///
/// Fails for "no time" and for years outside 2000..=2063.
pub fn encode_packed_time(t: &NetipTime) -> Result<u32, NetipError> {
    if t.is_none() || !(2000..=2063).contains(&t.year()) {
        return Err(NetipError::BadTime {
            what: "packed",
            reason: format!("{t} is outside 2000-01-01 to 2063-12-31"),
        });
    }
    let year = u32::from(t.year()).saturating_sub(2000);
    Ok(u32::from(t.second())
        | u32::from(t.minute()) << 6
        | u32::from(t.hour()) << 12
        | u32::from(t.day()) << 17
        | u32::from(t.month()) << 22
        | year << 26)
}

/// Unpacks the 32-bit I-frame time, refusing fields out of range (second or minute over
/// 59, hour over 23, month not 1 to 12, day not in the month).
pub fn decode_packed_time(v: u32) -> Result<NetipTime, NetipError> {
    let field = |shift: u32, bits: u32| -> u8 { ((v >> shift) & ((1 << bits) - 1)) as u8 };
    let (second, minute, hour) = (field(0, 6), field(6, 6), field(12, 5));
    let (day, month) = (field(17, 5), field(22, 4));
    let year = 2000 + u16::from(field(26, 6));
    let bad = |reason: String| NetipError::BadTime {
        what: "packed",
        reason: format!("0x{v:08X}: {reason}"),
    };
    if second > 59 || minute > 59 || hour > 23 {
        return Err(bad(format!(
            "{hour}:{minute}:{second} is not a time of day"
        )));
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(bad(format!("{year}-{month}-{day} is not a date")));
    }
    NetipTime::new(year, month, day, hour, minute, second)
}

/// The video codec byte of an I-frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// 2: H.264.
    H264,
    /// 3: H.265.
    H265,
    /// Any other byte, kept as received.
    Other(u8),
}

impl VideoCodec {
    /// The codec for a wire byte.
    pub fn from_byte(b: u8) -> Self {
        match b {
            2 => VideoCodec::H264,
            3 => VideoCodec::H265,
            other => VideoCodec::Other(other),
        }
    }
    /// The wire byte.
    pub fn to_byte(self) -> u8 {
        match self {
            VideoCodec::H264 => 2,
            VideoCodec::H265 => 3,
            VideoCodec::Other(b) => b,
        }
    }
}

/// The audio codec byte of an audio frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioCodec {
    /// 0x0E: G.711 A-law.
    G711A,
    /// Any other byte, kept as received.
    Other(u8),
}

impl AudioCodec {
    /// The codec for a wire byte.
    pub fn from_byte(b: u8) -> Self {
        match b {
            0x0E => AudioCodec::G711A,
            other => AudioCodec::Other(other),
        }
    }
    /// The wire byte.
    pub fn to_byte(self) -> u8 {
        match self {
            AudioCodec::G711A => 0x0E,
            AudioCodec::Other(b) => b,
        }
    }
}

/// What kind of frame, with the fields of its header other than the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// Key frame, 16-byte header.
    IFrame {
        /// Video codec.
        codec: VideoCodec,
        /// Frames per second.
        fps: u8,
        /// Width in pixels divided by 8.
        width_div8: u8,
        /// Height in pixels divided by 8.
        height_div8: u8,
        /// Capture time (camera local time).
        time: NetipTime,
    },
    /// Predicted frame, 8-byte header.
    PFrame,
    /// Audio, 8-byte header.
    Audio {
        /// Audio codec.
        codec: AudioCodec,
        /// Sample-rate index (2 = 8 kHz).
        rate_index: u8,
    },
    /// Information frame, 8-byte header.
    Info {
        /// Information type.
        info_type: u8,
        /// The unused byte, kept as received.
        unused: u8,
    },
}

impl FrameKind {
    /// Bytes of the header, marker included.
    pub fn header_len(&self) -> usize {
        match self {
            FrameKind::IFrame { .. } => 16,
            _ => 8,
        }
    }

    /// Largest data length the header's length field can express.
    pub fn max_data_len(&self) -> usize {
        match self {
            FrameKind::IFrame { .. } | FrameKind::PFrame => u32::MAX as usize,
            FrameKind::Audio { .. } | FrameKind::Info { .. } => usize::from(u16::MAX),
        }
    }
}

/// One media frame: its kind and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFrame {
    /// Kind and header fields.
    pub kind: FrameKind,
    /// The frame's data (an H.264/H.265 access unit, audio samples, …).
    pub data: Vec<u8>,
}

impl MediaFrame {
    /// The encoded frame: marker, header and data.
    ///
    /// Fails if the data does not fit the length field (64 KiB for audio and info) or
    /// an I-frame's time cannot be packed.
    pub fn encode(&self) -> Result<Vec<u8>, NetipError> {
        let len = self.data.len();
        if len > self.kind.max_data_len() {
            return Err(NetipError::InvalidField {
                field: "media frame length",
                reason: format!("{len} bytes exceed {}", self.kind.max_data_len()),
            });
        }
        let mut out = Vec::with_capacity(self.kind.header_len().saturating_add(len));
        match self.kind {
            FrameKind::IFrame {
                codec,
                fps,
                width_div8,
                height_div8,
                time,
            } => {
                out.extend_from_slice(&MARKER_I_FRAME);
                out.extend_from_slice(&[codec.to_byte(), fps, width_div8, height_div8]);
                out.extend_from_slice(&encode_packed_time(&time)?.to_le_bytes());
                out.extend_from_slice(&(len as u32).to_le_bytes());
            }
            FrameKind::PFrame => {
                out.extend_from_slice(&MARKER_P_FRAME);
                out.extend_from_slice(&(len as u32).to_le_bytes());
            }
            FrameKind::Audio { codec, rate_index } => {
                out.extend_from_slice(&MARKER_AUDIO);
                out.extend_from_slice(&[codec.to_byte(), rate_index]);
                out.extend_from_slice(&(len as u16).to_le_bytes());
            }
            FrameKind::Info { info_type, unused } => {
                out.extend_from_slice(&MARKER_INFO);
                out.extend_from_slice(&[info_type, unused]);
                out.extend_from_slice(&(len as u16).to_le_bytes());
            }
        }
        out.extend_from_slice(&self.data);
        Ok(out)
    }
}

/// Whether `b` starts with one of the four frame markers.
fn is_marker(b: &[u8]) -> bool {
    matches!(b, [0, 0, 1, 0xF9 | 0xFA | 0xFC | 0xFD, ..])
}

/// Reassembles media frames from the payloads of consecutive media packets.
///
/// Call [`handle_payload`](Self::handle_payload) with each 1412 payload in order, then
/// [`poll_frame`](Self::poll_frame) until it returns `None`. A frame's declared length
/// is checked against the limit as soon as its header is in, before its data is
/// buffered into a frame. After a malformed header the error is returned once and the
/// stream resynchronises at the next frame marker.
#[derive(Debug, Clone)]
pub struct MediaReassembler {
    buf: Vec<u8>,
    max_frame: usize,
    /// Media stream offset of `buf[0]`, for error messages.
    offset: u64,
}

impl MediaReassembler {
    /// A reassembler accepting frames of at most `max_frame` data bytes.
    pub fn new(max_frame: usize) -> Self {
        MediaReassembler {
            buf: Vec::new(),
            max_frame,
            offset: 0,
        }
    }

    /// Bytes received but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feeds the payload of one media packet.
    pub fn handle_payload(&mut self, payload: &[u8]) {
        self.buf.extend_from_slice(payload);
    }

    /// The next complete frame, an error for a malformed header, or `None` if more
    /// bytes are needed.
    pub fn poll_frame(&mut self) -> Option<Result<MediaFrame, NetipError>> {
        match self.try_frame() {
            Ok(f) => f.map(Ok),
            Err(e) => {
                self.resync();
                Some(Err(e))
            }
        }
    }

    /// Drops bytes up to the next marker after the current position, keeping a tail
    /// that might be the start of a marker split across payloads.
    fn resync(&mut self) {
        let start = (1..self.buf.len())
            .find(|&i| self.buf.get(i..).is_some_and(is_marker))
            .unwrap_or_else(|| self.buf.len().saturating_sub(3).max(1));
        let start = start.min(self.buf.len());
        self.buf.drain(..start);
        self.offset = self.offset.saturating_add(start as u64);
    }

    fn try_frame(&mut self) -> Result<Option<MediaFrame>, NetipError> {
        let Some(head) = self.buf.first_chunk::<8>() else {
            if let Some(m) = self.buf.first_chunk::<4>() {
                if !is_marker(m) {
                    return Err(NetipError::BadMediaMarker {
                        marker: *m,
                        offset: self.offset,
                    });
                }
            }
            return Ok(None);
        };
        let marker = [head[0], head[1], head[2], head[3]];
        let (kind, header_len, len): (FrameKind, usize, usize) = match marker {
            MARKER_I_FRAME => {
                let Some(h) = self.buf.first_chunk::<16>() else {
                    return Ok(None);
                };
                let packed = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
                let len = u32::from_le_bytes([h[12], h[13], h[14], h[15]]);
                // Bound the length before looking at anything else.
                self.check_len(u64::from(len))?;
                let time = decode_packed_time(packed).map_err(|e| NetipError::BadTime {
                    what: "packed",
                    reason: format!("I-frame at media stream offset {}: {e}", self.offset),
                })?;
                let kind = FrameKind::IFrame {
                    codec: VideoCodec::from_byte(h[4]),
                    fps: h[5],
                    width_div8: h[6],
                    height_div8: h[7],
                    time,
                };
                (kind, 16, len as usize)
            }
            MARKER_P_FRAME => {
                let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
                self.check_len(u64::from(len))?;
                (FrameKind::PFrame, 8, len as usize)
            }
            MARKER_AUDIO => {
                let len = u16::from_le_bytes([head[6], head[7]]);
                self.check_len(u64::from(len))?;
                let kind = FrameKind::Audio {
                    codec: AudioCodec::from_byte(head[4]),
                    rate_index: head[5],
                };
                (kind, 8, usize::from(len))
            }
            MARKER_INFO => {
                let len = u16::from_le_bytes([head[6], head[7]]);
                self.check_len(u64::from(len))?;
                let kind = FrameKind::Info {
                    info_type: head[4],
                    unused: head[5],
                };
                (kind, 8, usize::from(len))
            }
            other => {
                return Err(NetipError::BadMediaMarker {
                    marker: other,
                    offset: self.offset,
                })
            }
        };
        let end = header_len.saturating_add(len);
        let Some(data) = self.buf.get(header_len..end) else {
            return Ok(None);
        };
        let frame = MediaFrame {
            kind,
            data: data.to_vec(),
        };
        self.buf.drain(..end);
        self.offset = self.offset.saturating_add(end as u64);
        Ok(Some(frame))
    }

    fn check_len(&self, len: u64) -> Result<(), NetipError> {
        if len > self.max_frame as u64 {
            return Err(NetipError::FrameTooLarge {
                len,
                max: self.max_frame as u64,
                offset: self.offset,
            });
        }
        Ok(())
    }
}

impl Default for MediaReassembler {
    /// A reassembler with the [`DEFAULT_MAX_FRAME`] bound.
    fn default() -> Self {
        MediaReassembler::new(DEFAULT_MAX_FRAME)
    }
}

/// Cuts encoded frames into 1412 packets as a camera sends them.
///
/// Packets carry version 1, the session's id, the channel in byte 12 and a sequence
/// number counting from 1; each payload is at most the chunk size (8192 by default,
/// never more than the camera's 16 KiB send limit).
#[derive(Debug, Clone)]
pub struct MediaPacketizer {
    session_id: u32,
    channel: u8,
    next_sequence: u32,
    chunk: usize,
}

impl MediaPacketizer {
    /// A packetizer for `channel` of session `session_id`, 8192-byte chunks.
    pub fn new(session_id: u32, channel: u8) -> Self {
        MediaPacketizer {
            session_id,
            channel,
            next_sequence: 1,
            chunk: MEDIA_CHUNK,
        }
    }

    /// The same packetizer with payloads of at most `chunk` bytes (1 to 16 KiB).
    pub fn with_chunk_size(mut self, chunk: usize) -> Self {
        self.chunk = chunk.clamp(1, CAMERA_SEND_LIMIT);
        self
    }

    /// The sequence number the next packet will carry.
    pub fn next_sequence(&self) -> u32 {
        self.next_sequence
    }

    /// The 1412 packets carrying `frame`.
    pub fn packetize(&mut self, frame: &MediaFrame) -> Result<Vec<Packet>, NetipError> {
        let bytes = frame.encode()?;
        bytes
            .chunks(self.chunk)
            .map(|chunk| {
                let header = Header {
                    version: REPLY_VERSION,
                    reserved: [0, 0],
                    session_id: self.session_id,
                    sequence: self.next_sequence,
                    fragment_count: self.channel,
                    fragment_index: 0,
                    message_id: MessageId::MONITOR_DATA,
                    payload_len: 0,
                };
                self.next_sequence = self.next_sequence.wrapping_add(1);
                Packet::new(header, chunk.to_vec())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netip::packet::PacketDecoder;
    use proptest::prelude::*;

    fn t(s: &str) -> NetipTime {
        s.parse().unwrap()
    }

    fn i_frame(data: Vec<u8>) -> MediaFrame {
        MediaFrame {
            kind: FrameKind::IFrame {
                codec: VideoCodec::H264,
                fps: 25,
                width_div8: 240,
                height_div8: 135,
                time: t("2024-05-01 12:00:00"),
            },
            data,
        }
    }

    fn drain(r: &mut MediaReassembler) -> Vec<Result<MediaFrame, NetipError>> {
        std::iter::from_fn(|| r.poll_frame()).collect()
    }

    /// NETIP-MEDIA-01: an I-frame header is 16 bytes: 00 00 01 FC, codec, fps, width/8,
    /// height/8, packed time and length, little-endian.
    #[test]
    fn i_frame_known_bytes() {
        let b = i_frame(vec![0xAA; 5]).encode().unwrap();
        assert_eq!(
            &b[..16],
            &[
                0x00, 0x00, 0x01, 0xFC, 2, 25, 240, 135, // marker, codec, fps, w/8, h/8
                0x00, 0xC0, 0x42, 0x61, // 2024-05-01 12:00:00 packed
                5, 0, 0, 0, // length
            ]
        );
        assert_eq!(b.len(), 21);
    }

    /// NETIP-MEDIA-02: P-frame, audio and info headers are 8 bytes with their markers.
    #[test]
    fn small_headers_known_bytes() {
        let p = MediaFrame {
            kind: FrameKind::PFrame,
            data: vec![1, 2, 3],
        };
        assert_eq!(p.encode().unwrap(), [0, 0, 1, 0xFD, 3, 0, 0, 0, 1, 2, 3]);
        let a = MediaFrame {
            kind: FrameKind::Audio {
                codec: AudioCodec::G711A,
                rate_index: 2,
            },
            data: vec![9; 320],
        };
        assert_eq!(
            &a.encode().unwrap()[..8],
            &[0, 0, 1, 0xFA, 0x0E, 2, 0x40, 0x01]
        );
        let i = MediaFrame {
            kind: FrameKind::Info {
                info_type: 1,
                unused: 0,
            },
            data: vec![7; 4],
        };
        assert_eq!(&i.encode().unwrap()[..8], &[0, 0, 1, 0xF9, 1, 0, 4, 0]);
        let too_long = MediaFrame {
            kind: FrameKind::Audio {
                codec: AudioCodec::G711A,
                rate_index: 2,
            },
            data: vec![0; 70_000],
        };
        assert!(too_long.encode().is_err());
    }

    /// NETIP-MEDIA-03: packed time layout and its validation.
    #[test]
    fn packed_time_layout_and_validation() {
        let v = encode_packed_time(&t("2024-05-01 12:00:00")).unwrap();
        assert_eq!(v, 0x6142_C000);
        let v = encode_packed_time(&t("2063-12-31 23:59:59")).unwrap();
        assert_eq!(decode_packed_time(v).unwrap(), t("2063-12-31 23:59:59"));
        assert!(encode_packed_time(&t("1999-12-31 23:59:59")).is_err());
        assert!(encode_packed_time(&t("2064-01-01 00:00:00")).is_err());
        assert!(encode_packed_time(&NetipTime::NONE).is_err());
        let ok = 0x6142_C000u32;
        for bad in [
            0,                                                        // month 0, day 0
            (ok & !(0xF << 22)) | 13 << 22,                           // month 13
            (ok & !(0x1F << 12)) | 24 << 12,                          // hour 24
            ok | 60 << 6,                                             // minute 60
            ok | 60,                                                  // second 60
            (ok & !(0xF << 22) & !(0x1F << 17)) | 2 << 22 | 30 << 17, // 30 February
        ] {
            assert!(
                matches!(decode_packed_time(bad), Err(NetipError::BadTime { .. })),
                "0x{bad:08X} accepted"
            );
        }
    }

    /// NETIP-MEDIA-04: a frame length over the limit is refused as soon as the frame
    /// header is in, before its data arrives.
    #[test]
    fn oversized_frame_refused_at_header() {
        let mut r = MediaReassembler::new(1000);
        let mut head = [0u8; 8];
        head[..4].copy_from_slice(&MARKER_P_FRAME);
        head[4..].copy_from_slice(&u32::MAX.to_le_bytes());
        r.handle_payload(&head);
        let out = drain(&mut r);
        assert!(matches!(
            out[..],
            [Err(NetipError::FrameTooLarge {
                len: 0xFFFF_FFFF,
                max: 1000,
                offset: 0
            })]
        ));
        let mut big_i = i_frame(vec![0; 1001]).encode().unwrap();
        big_i.truncate(16);
        r.handle_payload(&big_i);
        assert!(drain(&mut r)
            .iter()
            .any(|e| matches!(e, Err(NetipError::FrameTooLarge { len: 1001, .. }))));
    }

    /// NETIP-MEDIA-05: an unknown marker or a bad I-frame time is reported with its
    /// offset, and the stream resumes at the next frame.
    #[test]
    fn bad_marker_resyncs() {
        let mut r = MediaReassembler::default();
        let good = MediaFrame {
            kind: FrameKind::PFrame,
            data: vec![5; 10],
        };
        let mut stream = b"junk!".to_vec();
        stream.extend(good.encode().unwrap());
        let mut bad_time = i_frame(vec![1]).encode().unwrap();
        bad_time[8..12].copy_from_slice(&0u32.to_le_bytes());
        stream.extend(bad_time);
        stream.extend(good.encode().unwrap());
        r.handle_payload(&stream);
        let out = drain(&mut r);
        assert!(matches!(
            out[0],
            Err(NetipError::BadMediaMarker { offset: 0, .. })
        ));
        assert_eq!(out[1].as_ref().unwrap(), &good);
        assert!(matches!(out[2], Err(NetipError::BadTime { .. })));
        assert_eq!(out[3].as_ref().unwrap(), &good);
        assert_eq!(out.len(), 4);
        assert_eq!(r.buffered(), 0);
    }

    /// NETIP-MEDIA-06: a camera splits frames into 8192-byte 1412 packets with
    /// sequence numbers from 1, and the client side reassembles them.
    #[test]
    fn packetize_and_reassemble() {
        let frame = i_frame((0..20_000u32).map(|i| i as u8).collect());
        let mut pk = MediaPacketizer::new(0x22, 0);
        let packets = pk.packetize(&frame).unwrap();
        assert_eq!(packets.len(), 3);
        assert_eq!(packets[0].payload().len(), MEDIA_CHUNK);
        assert_eq!(packets[0].header().sequence, 1);
        assert_eq!(packets[2].header().sequence, 3);
        assert_eq!(pk.next_sequence(), 4);
        assert!(packets
            .iter()
            .all(|p| p.message_id() == MessageId::MONITOR_DATA && p.header().version == 1));
        let mut wire = Vec::new();
        for p in &packets {
            p.encode_into(&mut wire);
        }
        let mut dec = PacketDecoder::new(CAMERA_SEND_LIMIT);
        dec.handle_bytes(&wire);
        let mut r = MediaReassembler::default();
        let mut frames = Vec::new();
        while let Some(p) = dec.poll_packet() {
            r.handle_payload(p.unwrap().payload());
            while let Some(f) = r.poll_frame() {
                frames.push(f.unwrap());
            }
        }
        assert_eq!(frames, [frame]);
        let pk = MediaPacketizer::new(1, 0).with_chunk_size(1 << 20);
        assert_eq!(pk.chunk, CAMERA_SEND_LIMIT);
    }

    fn arb_time_2000() -> impl Strategy<Value = NetipTime> {
        (
            2000u16..=2063,
            1u8..=12,
            1u8..=31,
            0u8..24,
            0u8..60,
            0u8..60,
        )
            .prop_map(|(y, mo, d, h, mi, s)| {
                NetipTime::new(y, mo, d.min(days_in_month(y, mo)), h, mi, s).unwrap()
            })
    }

    fn arb_frame() -> impl Strategy<Value = MediaFrame> {
        let data = proptest::collection::vec(any::<u8>(), 0..300);
        let kind = prop_oneof![
            (
                any::<u8>(),
                any::<u8>(),
                any::<u8>(),
                any::<u8>(),
                arb_time_2000()
            )
                .prop_map(|(c, fps, w, h, time)| FrameKind::IFrame {
                    codec: VideoCodec::from_byte(c),
                    fps,
                    width_div8: w,
                    height_div8: h,
                    time,
                }),
            Just(FrameKind::PFrame),
            (any::<u8>(), any::<u8>()).prop_map(|(c, r)| FrameKind::Audio {
                codec: AudioCodec::from_byte(c),
                rate_index: r,
            }),
            (any::<u8>(), any::<u8>()).prop_map(|(t, u)| FrameKind::Info {
                info_type: t,
                unused: u,
            }),
        ];
        (kind, data).prop_map(|(kind, data)| MediaFrame { kind, data })
    }

    proptest! {
        /// NETIP-MEDIA-03: packed times round-trip for every valid date 2000-2063.
        #[test]
        fn packed_time_round_trip(time in arb_time_2000()) {
            let v = encode_packed_time(&time).unwrap();
            prop_assert_eq!(decode_packed_time(v).unwrap(), time);
        }

        /// NETIP-MEDIA-06: frames survive any split of their byte stream into payloads.
        #[test]
        fn frames_round_trip_any_split(
            frames in proptest::collection::vec(arb_frame(), 0..5),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let mut stream = Vec::new();
            for f in &frames {
                stream.extend(f.encode().unwrap());
            }
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            points.extend([0, stream.len()]);
            points.sort_unstable();
            let mut r = MediaReassembler::new(300);
            let mut got = Vec::new();
            for w in points.windows(2) {
                r.handle_payload(&stream[w[0]..w[1]]);
                while let Some(f) = r.poll_frame() {
                    got.push(f.unwrap());
                }
            }
            prop_assert_eq!(got, frames);
        }

        /// NETIP-FUZZ-01: the media reassembler never panics and always makes progress.
        #[test]
        fn reassembler_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400), max in 0usize..100) {
            let mut r = MediaReassembler::new(max);
            r.handle_payload(&data);
            let mut n = 0;
            while let Some(f) = r.poll_frame() {
                if let Ok(f) = f {
                    prop_assert!(f.data.len() <= max);
                }
                n += 1;
                prop_assert!(n <= data.len());
            }
        }

        #[test]
        fn packed_time_decode_never_panics(v: u32) {
            if let Ok(t) = decode_packed_time(v) {
                prop_assert_eq!(encode_packed_time(&t).unwrap(), v);
            }
        }
    }
}
