//! CDP/1 framing: `length (u32 BE) | type (u8) | body`, with a hard size limit.

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
}
