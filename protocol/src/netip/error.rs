//! The one error type of the NETIP codec.

use thiserror::Error;

use super::codes::MessageId;
use crate::wire::DecodeError;

/// Why NETIP bytes could not be decoded or encoded.
///
/// Every variant names what was wrong and, where the input is a stream, where: the byte
/// offset in the stream or the message id of the packet concerned. Decoders return these
/// instead of panicking on anything read from the wire.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NetipError {
    /// The first byte of a packet header was not 0xFF.
    #[error("bad NETIP magic 0x{found:02X} at stream offset {offset} (expected 0xFF)")]
    BadMagic {
        /// The byte found instead of 0xFF.
        found: u8,
        /// Offset of the header in the byte stream.
        offset: u64,
    },
    /// A header declared a payload longer than the receiver accepts.
    #[error(
        "message {message_id} at stream offset {offset} declares a {len}-byte payload, \
         over the limit of {max} bytes; refused without reading it"
    )]
    PayloadTooLarge {
        /// Message id of the offending header.
        message_id: MessageId,
        /// The declared payload length.
        len: u64,
        /// The largest accepted payload.
        max: u64,
        /// Offset of the header in the byte stream.
        offset: u64,
    },
    /// The input ended before a fixed-size structure was complete.
    #[error("truncated {what}: needs {needed} bytes, {available} available")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes the structure needs.
        needed: usize,
        /// Bytes that were present.
        available: usize,
    },
    /// A JSON payload did not parse into the expected message.
    #[error("message {message_id}: bad JSON payload: {reason}")]
    BadJson {
        /// Message id of the packet whose payload failed to parse.
        message_id: MessageId,
        /// The parser's explanation.
        reason: String,
    },
    /// A field held a value the protocol does not define.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field concerned, as named in the spec.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A reply listed more entries than the protocol allows in one message.
    #[error("{what} lists {count} entries, more than the {max} allowed per reply")]
    TooManyEntries {
        /// The list concerned.
        what: &'static str,
        /// Entries present.
        count: usize,
        /// Entries allowed.
        max: usize,
    },
    /// A fragment arrived with an index other than the next expected one.
    #[error(
        "message {message_id}: fragment {got} of {count} arrived, expected fragment {expected}"
    )]
    FragmentOutOfOrder {
        /// Message id of the fragmented message.
        message_id: MessageId,
        /// The index that arrived.
        got: u8,
        /// The index that was expected.
        expected: u8,
        /// Fragment count of the message.
        count: u8,
    },
    /// A fragment arrived a second time.
    #[error("message {message_id}: fragment {index} of {count} arrived twice")]
    FragmentDuplicate {
        /// Message id of the fragmented message.
        message_id: MessageId,
        /// The repeated index.
        index: u8,
        /// Fragment count of the message.
        count: u8,
    },
    /// A fragment disagreed with the earlier fragments of its message.
    #[error("message {message_id}: fragment {index} is inconsistent: {reason}")]
    FragmentInconsistent {
        /// Message id of the fragment.
        message_id: MessageId,
        /// Index of the fragment.
        index: u8,
        /// Which field disagrees and how.
        reason: String,
    },
    /// Reassembling fragments would exceed the total size bound.
    #[error(
        "message {message_id}: reassembled payload would be {len} bytes, over the limit of {max}"
    )]
    ReassembledTooLarge {
        /// Message id of the fragmented message.
        message_id: MessageId,
        /// Size the payload would reach.
        len: u64,
        /// The largest accepted reassembled payload.
        max: u64,
    },
    /// A media stream did not start a frame with a known frame marker.
    #[error("media stream offset {offset}: unknown frame marker {marker:02X?}")]
    BadMediaMarker {
        /// The four bytes found where a marker was expected.
        marker: [u8; 4],
        /// Offset in the media stream.
        offset: u64,
    },
    /// A media frame header declared a frame longer than the receiver accepts.
    #[error("media stream offset {offset}: frame of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// The declared frame length.
        len: u64,
        /// The largest accepted frame.
        max: u64,
        /// Offset of the frame header in the media stream.
        offset: u64,
    },
    /// A packed media timestamp or a date string did not hold a valid date and time.
    #[error("invalid {what} time: {reason}")]
    BadTime {
        /// Which time representation (`packed` or `string`).
        what: &'static str,
        /// Which component is out of range.
        reason: String,
    },
    /// A generic bounded-read failure from the shared wire helpers.
    #[error(transparent)]
    Wire(#[from] DecodeError),
}
