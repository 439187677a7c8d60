//! CDP/1 framing: `length (u32 BE) | type (u8) | body`, with a hard size limit.
//!
//! A peer decodes frames with [`FrameDecoder`]. An observer of someone else's stream (a
//! wire tap, an on-path or replaying attacker) splits it in place with [`split_frame`],
//! [`whole_frames`] and [`FrameHeads`]: frames come back as they were on the wire, type
//! byte unchecked, nothing copied or decrypted.

use crate::cdp::{CdpError, InvalidMessage};
use crate::wire::Writer;

/// Length of the frame length prefix.
pub const LENGTH_PREFIX: usize = 4;
/// Largest application payload one record carries (64 KiB).
pub const MAX_RECORD_PAYLOAD: usize = 64 * 1024;
/// Hard upper bound of a frame's length field (type + body), whatever the configuration.
///
/// A record body is epoch (4) + sequence (8) + payload + inner content type (1) + tag (16).
pub const MAX_FRAME_LEN: usize = 1 + 12 + MAX_RECORD_PAYLOAD + 1 + 16;

/// The type byte of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FrameType {
    /// Device → platform: opens a full handshake.
    ClientHello,
    /// Platform → device: key share, certificate, transcript signature.
    ServerHello,
    /// Device → platform: certificate chain and transcript signature.
    ClientAuth,
    /// Device → platform: opens a resumed handshake with a ticket.
    ResumeHello,
    /// Platform → device: accepts a resumption.
    ResumeAccept,
    /// App → platform: opens a server-authenticated handshake (the user signs in inside).
    AppHello,
    /// Either side: a plaintext alert explaining why the connection ends.
    Alert,
    /// Either side: a sealed record.
    Record,
}

impl FrameType {
    /// The wire value.
    pub fn to_byte(self) -> u8 {
        match self {
            FrameType::ClientHello => 0x01,
            FrameType::ServerHello => 0x02,
            FrameType::ClientAuth => 0x03,
            FrameType::ResumeHello => 0x04,
            FrameType::ResumeAccept => 0x05,
            FrameType::AppHello => 0x06,
            FrameType::Alert => 0x15,
            FrameType::Record => 0x17,
        }
    }

    /// The frame type of a wire value.
    pub fn from_byte(b: u8) -> Result<Self, InvalidMessage> {
        Ok(match b {
            0x01 => FrameType::ClientHello,
            0x02 => FrameType::ServerHello,
            0x03 => FrameType::ClientAuth,
            0x04 => FrameType::ResumeHello,
            0x05 => FrameType::ResumeAccept,
            0x06 => FrameType::AppHello,
            0x15 => FrameType::Alert,
            0x17 => FrameType::Record,
            other => return Err(InvalidMessage::UnknownFrameType(other)),
        })
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the frame carries.
    pub kind: FrameType,
    /// The body, after the type byte.
    pub body: Vec<u8>,
}

impl Frame {
    /// The bytes the transcript hashes: the type byte followed by the body.
    pub fn content(&self) -> Vec<u8> {
        let mut c = Vec::with_capacity(1 + self.body.len());
        c.push(self.kind.to_byte());
        c.extend_from_slice(&self.body);
        c
    }
}

/// Appends a frame of `kind` with `body` to `out`.
///
/// The caller keeps bodies within [`MAX_FRAME_LEN`]; every producer in this crate does.
pub fn encode_frame(kind: FrameType, body: &[u8], out: &mut Vec<u8>) {
    debug_assert!(body.len() < MAX_FRAME_LEN);
    out.put_u32((1 + body.len()) as u32);
    out.push(kind.to_byte());
    out.extend_from_slice(body);
}

/// Splits a byte stream into frames.
///
/// Feed bytes with [`FrameDecoder::push`], then call [`FrameDecoder::next_frame`] until it
/// returns `Ok(None)`. A length field over the limit is an error as soon as the four
/// length bytes are seen, before the body is buffered.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    max_frame_len: usize,
}

impl FrameDecoder {
    /// A decoder refusing frames longer than `max_frame_len` (capped at [`MAX_FRAME_LEN`]).
    pub fn new(max_frame_len: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            max_frame_len: max_frame_len.min(MAX_FRAME_LEN),
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, CdpError> {
        let avail = &self.buf[self.start..];
        let Some(prefix) = avail.get(..LENGTH_PREFIX) else {
            return Ok(None);
        };
        let mut len_bytes = [0u8; LENGTH_PREFIX];
        len_bytes.copy_from_slice(prefix);
        let len = u32::from_be_bytes(len_bytes) as usize;
        if len == 0 {
            return Err(InvalidMessage::EmptyFrame.into());
        }
        if len > self.max_frame_len {
            return Err(InvalidMessage::FrameTooLarge {
                len,
                max: self.max_frame_len,
            }
            .into());
        }
        let Some(content) = avail.get(LENGTH_PREFIX..LENGTH_PREFIX + len) else {
            return Ok(None);
        };
        let kind = FrameType::from_byte(content[0])?;
        let body = content[1..].to_vec();
        self.start += LENGTH_PREFIX + len;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 && self.start * 2 >= self.buf.len() {
            // Compact so a long-lived connection does not grow its buffer forever, but
            // only once the consumed part is at least half the buffer: compacting after
            // every frame would move the whole backlog each time (quadratic in a burst).
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Ok(Some(Frame { kind, body }))
    }
}

/// Length of a frame's head: the length prefix and the type byte.
pub const FRAME_HEAD_LEN: usize = LENGTH_PREFIX + 1;

/// Where one whole CDP/1 frame lies in a byte buffer: `buf[start..end]` is the frame as
/// it was on the wire (length prefix, type byte, body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSpan {
    /// Offset of its length prefix.
    pub start: usize,
    /// Offset just past its body.
    pub end: usize,
    /// Its type byte as sent (not checked against [`FrameType`]).
    pub kind: u8,
}

impl FrameSpan {
    /// Its frame type, if the type byte is one CDP/1 defines.
    pub fn frame_type(&self) -> Option<FrameType> {
        FrameType::from_byte(self.kind).ok()
    }

    /// Whether it is a frame of type `kind`.
    pub fn is(&self, kind: FrameType) -> bool {
        self.kind == kind.to_byte()
    }

    /// Its body (the bytes after the type byte) in `buf`, the buffer it was split from;
    /// empty if `buf` is too short to hold it.
    pub fn body<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.start + FRAME_HEAD_LEN..self.end)
            .unwrap_or_default()
    }
}

/// What the bytes at an offset of a buffer hold, by [`split_frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// A whole frame.
    Frame(FrameSpan),
    /// The start of a frame (or nothing): more bytes are needed.
    Partial,
    /// A length field CDP/1 does not allow (zero, or over [`MAX_FRAME_LEN`]): what follows
    /// is not CDP/1.
    Invalid {
        /// The length field read.
        len: usize,
    },
}

/// Looks at the frame that starts at `start` of `buf`, without copying or decrypting it.
///
/// Sans-IO and lenient, for observers of a stream (a tap, an on-path attacker): the
/// length field is checked against [`MAX_FRAME_LEN`] as soon as its four bytes are there;
/// the type byte is reported as sent. A peer uses [`FrameDecoder`] instead.
pub fn split_frame(buf: &[u8], start: usize) -> Split {
    let Some(prefix) = buf.get(start..).and_then(|b| b.get(..LENGTH_PREFIX)) else {
        return Split::Partial;
    };
    let mut len_bytes = [0u8; LENGTH_PREFIX];
    len_bytes.copy_from_slice(prefix);
    let len = u32::from_be_bytes(len_bytes) as usize;
    if len == 0 || len > MAX_FRAME_LEN {
        return Split::Invalid { len };
    }
    let end = start + LENGTH_PREFIX + len;
    if end > buf.len() {
        return Split::Partial;
    }
    Split::Frame(FrameSpan {
        start,
        end,
        kind: buf[start + LENGTH_PREFIX],
    })
}

/// The whole frames at the front of `buf`, in order: stops at a frame cut off at the end
/// or at a length CDP/1 does not allow.
pub fn whole_frames(buf: &[u8]) -> WholeFrames<'_> {
    WholeFrames { buf, at: 0 }
}

/// Iterator returned by [`whole_frames`].
#[derive(Debug, Clone)]
pub struct WholeFrames<'a> {
    buf: &'a [u8],
    at: usize,
}

impl WholeFrames<'_> {
    /// Where the next frame would start: the end of the last whole frame returned.
    pub fn offset(&self) -> usize {
        self.at
    }
}

impl Iterator for WholeFrames<'_> {
    type Item = FrameSpan;

    fn next(&mut self) -> Option<FrameSpan> {
        match split_frame(self.buf, self.at) {
            Split::Frame(f) => {
                self.at = f.end;
                Some(f)
            }
            Split::Partial | Split::Invalid { .. } => None,
        }
    }
}

/// The type byte of the frame at the front of `buf`, once its length prefix and type
/// byte are there (not checked against [`FrameType`]).
pub fn peek_frame_type(buf: &[u8]) -> Option<u8> {
    buf.get(LENGTH_PREFIX).copied()
}

/// The head of one frame as [`FrameHeads`] saw it pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    /// Its length field (type byte and body).
    pub len: usize,
    /// Its type byte as sent.
    pub kind: u8,
}

/// Follows a CDP/1 byte stream and reports each frame's head as it passes, without
/// buffering bodies (an observer that only needs frame types).
///
/// Feed every byte of the stream, in order, to [`next_head`](Self::next_head). Nothing
/// is checked: a length field of zero still counts its type byte.
#[derive(Debug, Clone, Default)]
pub struct FrameHeads {
    head: [u8; FRAME_HEAD_LEN],
    have: usize,
    skip: usize,
}

impl FrameHeads {
    /// A follower at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes `data` up to and including the next complete frame head and returns it;
    /// `None` once `data` is used up without completing one. Call until `None`.
    pub fn next_head(&mut self, data: &mut &[u8]) -> Option<FrameHead> {
        while !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                *data = &data[n..];
                continue;
            }
            let n = (FRAME_HEAD_LEN - self.have).min(data.len());
            self.head[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            *data = &data[n..];
            if self.have < FRAME_HEAD_LEN {
                return None;
            }
            self.have = 0;
            let mut len_bytes = [0u8; LENGTH_PREFIX];
            len_bytes.copy_from_slice(&self.head[..LENGTH_PREFIX]);
            let len = u32::from_be_bytes(len_bytes) as usize;
            self.skip = len.saturating_sub(1);
            return Some(FrameHead {
                len,
                kind: self.head[LENGTH_PREFIX],
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// CDP-FRAME-01: frames round-trip through any split of the byte stream.
    #[test]
    fn cdp_frame_01_round_trip_known_bytes() {
        let mut out = Vec::new();
        encode_frame(FrameType::ClientHello, &[0xAA, 0xBB], &mut out);
        assert_eq!(out, [0, 0, 0, 3, 0x01, 0xAA, 0xBB]);
        let mut d = FrameDecoder::new(MAX_FRAME_LEN);
        d.push(&out[..5]);
        assert_eq!(d.next_frame().unwrap(), None);
        d.push(&out[5..]);
        let f = d.next_frame().unwrap().unwrap();
        assert_eq!(f.kind, FrameType::ClientHello);
        assert_eq!(f.body, [0xAA, 0xBB]);
        assert_eq!(d.buffered(), 0);
    }

    /// CDP-FRAME-02: a length over the limit is refused from the four length bytes alone.
    #[test]
    fn cdp_frame_02_oversized_length_refused_before_body() {
        let mut d = FrameDecoder::new(1024);
        d.push(&[0x00, 0x00, 0x04, 0x01]);
        assert!(matches!(
            d.next_frame(),
            Err(CdpError::InvalidMessage(InvalidMessage::FrameTooLarge {
                len: 1025,
                max: 1024
            }))
        ));
        let mut d = FrameDecoder::new(usize::MAX);
        d.push(&[0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(matches!(
            d.next_frame(),
            Err(CdpError::InvalidMessage(InvalidMessage::FrameTooLarge {
                max: MAX_FRAME_LEN,
                ..
            }))
        ));
    }

    /// CDP-FRAME-03: empty frames and unknown frame types are refused.
    #[test]
    fn cdp_frame_03_empty_and_unknown_types_refused() {
        let mut d = FrameDecoder::new(MAX_FRAME_LEN);
        d.push(&[0, 0, 0, 0]);
        assert!(matches!(
            d.next_frame(),
            Err(CdpError::InvalidMessage(InvalidMessage::EmptyFrame))
        ));
        let mut d = FrameDecoder::new(MAX_FRAME_LEN);
        d.push(&[0, 0, 0, 1, 0x99]);
        assert!(matches!(
            d.next_frame(),
            Err(CdpError::InvalidMessage(InvalidMessage::UnknownFrameType(
                0x99
            )))
        ));
    }

    /// CDP-FRAME-01: a long burst that crosses the compaction threshold many times, fed
    /// in uneven pieces with reads in between, decodes intact.
    #[test]
    fn cdp_frame_01_compaction_keeps_frames_intact() {
        let mut wire = Vec::new();
        let frames: Vec<Vec<u8>> = (0..300u32)
            .map(|i| (0..(700 + i * 13) % 5000).map(|j| (i ^ j) as u8).collect())
            .collect();
        for f in &frames {
            encode_frame(FrameType::Record, f, &mut wire);
        }
        for piece_len in [7_001, 65_536, 200_000, wire.len()] {
            let mut d = FrameDecoder::new(MAX_FRAME_LEN);
            let mut got = Vec::new();
            for piece in wire.chunks(piece_len) {
                d.push(piece);
                // Read only some of what is available, so a backlog builds up.
                for _ in 0..3 {
                    if let Some(f) = d.next_frame().unwrap() {
                        got.push(f.body);
                    }
                }
            }
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f.body);
            }
            assert_eq!(got, frames, "piece length {piece_len}");
            assert_eq!(d.buffered(), 0);
        }
    }

    fn frame_type() -> impl Strategy<Value = FrameType> {
        prop::sample::select(vec![
            FrameType::ClientHello,
            FrameType::ServerHello,
            FrameType::ClientAuth,
            FrameType::ResumeHello,
            FrameType::ResumeAccept,
            FrameType::AppHello,
            FrameType::Alert,
            FrameType::Record,
        ])
    }

    proptest! {
        /// CDP-FRAME-01: any sequence of frames, split anywhere, decodes to itself.
        #[test]
        fn cdp_frame_01_round_trip(
            frames in prop::collection::vec((frame_type(), prop::collection::vec(any::<u8>(), 0..2000)), 0..8),
            chunk in 1usize..700,
        ) {
            let mut wire = Vec::new();
            for (k, b) in &frames {
                encode_frame(*k, b, &mut wire);
            }
            let mut d = FrameDecoder::new(MAX_FRAME_LEN);
            let mut got = Vec::new();
            for piece in wire.chunks(chunk) {
                d.push(piece);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push((f.kind, f.body));
                }
            }
            prop_assert_eq!(got, frames);
            prop_assert_eq!(d.buffered(), 0);
        }

        /// CDP-FRAME-02: arbitrary input never panics.
        #[test]
        fn decoder_is_total(data in prop::collection::vec(any::<u8>(), 0..3000)) {
            let mut d = FrameDecoder::new(2048);
            d.push(&data);
            while let Ok(Some(_)) = d.next_frame() {}
        }
    }

    /// The splitter finds whole frames in place, waits for cut ones, and stops at a
    /// length CDP/1 does not allow.
    #[test]
    fn split_frames_in_place() {
        let mut buf = Vec::new();
        encode_frame(FrameType::ServerHello, &[1, 2, 3], &mut buf);
        encode_frame(FrameType::Record, &[9; 20], &mut buf);
        let whole = buf.len();
        encode_frame(FrameType::Alert, &[7], &mut buf);
        buf.truncate(buf.len() - 1);
        let spans: Vec<FrameSpan> = whole_frames(&buf).collect();
        assert_eq!(spans.len(), 2);
        assert_eq!((spans[0].start, spans[0].end), (0, 8));
        assert!(spans[0].is(FrameType::ServerHello));
        assert_eq!(spans[0].body(&buf), [1, 2, 3]);
        assert_eq!(spans[1].frame_type(), Some(FrameType::Record));
        assert_eq!(spans[1].end, whole);
        assert_eq!(split_frame(&buf, whole), Split::Partial);
        assert_eq!(split_frame(&buf, buf.len() + 10), Split::Partial);
        let mut frames = whole_frames(&buf);
        frames.by_ref().for_each(drop);
        assert_eq!(frames.offset(), whole);
        assert_eq!(split_frame(&[0, 0, 0, 0, 1], 0), Split::Invalid { len: 0 });
        let huge = (MAX_FRAME_LEN as u32 + 1).to_be_bytes();
        assert_eq!(
            split_frame(&huge, 0),
            Split::Invalid {
                len: MAX_FRAME_LEN + 1
            }
        );
        assert_eq!(
            peek_frame_type(&buf),
            Some(FrameType::ServerHello.to_byte())
        );
        assert_eq!(peek_frame_type(&buf[..4]), None);
    }

    proptest! {
        /// Whatever the bytes, the splitter never panics and its spans tile the front of
        /// the buffer; frames encoded by this crate come back in order.
        #[test]
        fn split_matches_the_encoder(
            bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..6),
            junk in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut buf = Vec::new();
            for b in &bodies {
                encode_frame(FrameType::Record, b, &mut buf);
            }
            let spans: Vec<FrameSpan> = whole_frames(&buf).collect();
            prop_assert_eq!(spans.len(), bodies.len());
            for (s, b) in spans.iter().zip(&bodies) {
                prop_assert_eq!(s.body(&buf), &b[..]);
            }
            let mut at = 0;
            for s in whole_frames(&junk) {
                prop_assert_eq!(s.start, at);
                prop_assert!(s.end <= junk.len());
                at = s.end;
            }
        }

        /// The head follower sees the same frame types however the stream is cut.
        #[test]
        fn heads_survive_any_split(
            bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..6),
            cut in 1usize..17,
        ) {
            let mut buf = Vec::new();
            for (i, b) in bodies.iter().enumerate() {
                let kind = if i % 2 == 0 { FrameType::Record } else { FrameType::Alert };
                encode_frame(kind, b, &mut buf);
            }
            let mut heads = FrameHeads::new();
            let mut seen = Vec::new();
            for mut piece in buf.chunks(cut) {
                while let Some(h) = heads.next_head(&mut piece) {
                    seen.push((h.len, h.kind));
                }
            }
            let expected: Vec<(usize, u8)> = whole_frames(&buf)
                .map(|s| (s.end - s.start - LENGTH_PREFIX, s.kind))
                .collect();
            prop_assert_eq!(seen, expected);
        }
    }
}
