//! How a connection to the video relay opens: the [`RelayHello`] a camera or a viewer
//! sends, the relay's one status byte, and the [`RelayReady`] a viewer then receives.
//!
//! ```text
//! client → relay   hello    role u8 · stream_id u32 · token vec16
//! relay  → client  status   one byte: ADMITTED (0) or REFUSED (1)
//! relay  → viewer  ready    "CPRL" · version u8 (1) · role u8 · stream_id u32
//! then             sealed video frames back to back (camera → relay → viewers)
//! ```
//!
//! Roles are `0x01` camera (publishes `stream_id`) and `0x02` viewer (watches it). The
//! token is the relay grant the signaling service issued (a bare relay with no key reads
//! and ignores it). Frames are self-delimiting by their authenticated header
//! ([`crate::video`]) and at most [`MAX_RELAY_FRAME`] long. See `docs/relay.md`.
//!
//! ```
//! use camproof_protocol::relay::{RelayHello, RelayRole, HELLO_HEAD_LEN};
//!
//! let hello = RelayHello { role: RelayRole::Viewer, stream_id: 7, token: b"grant" };
//! let wire = hello.encode();
//! // A relay reads the fixed head first, then exactly the token it announces, so the
//! // frames that follow stay in the socket.
//! let head = RelayHello::decode_head(wire[..HELLO_HEAD_LEN].try_into()?)?;
//! assert_eq!(head.token_len, 5);
//! assert_eq!(RelayHello::decode(&wire)?, hello);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use thiserror::Error;

use crate::wire::{DecodeError, Reader, Writer};

/// Largest sealed frame a camera may send through the relay.
pub const MAX_RELAY_FRAME: usize = 1 << 20;

/// Longest token a hello may carry (a grant is 40 bytes).
pub const MAX_TOKEN_LEN: usize = 256;

/// Length of a [`RelayHello`]'s fixed head: role, stream id and token length.
pub const HELLO_HEAD_LEN: usize = 7;

/// The relay's status byte: the hello was accepted.
pub const ADMITTED: u8 = 0;

/// The relay's status byte: the hello was refused (the relay then closes).
pub const REFUSED: u8 = 1;

/// Which side of a stream a relay connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RelayRole {
    /// Publishes the stream (role byte `0x01`).
    Camera,
    /// Watches it (role byte `0x02`).
    Viewer,
}

impl RelayRole {
    /// The role byte on the wire.
    pub fn to_byte(self) -> u8 {
        match self {
            RelayRole::Camera => 1,
            RelayRole::Viewer => 2,
        }
    }

    /// The role of a role byte.
    pub fn from_byte(b: u8) -> Result<Self, RelayWireError> {
        match b {
            1 => Ok(RelayRole::Camera),
            2 => Ok(RelayRole::Viewer),
            other => Err(RelayWireError::UnknownRole(other)),
        }
    }
}

/// Why relay opening bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RelayWireError {
    /// The role byte is neither camera nor viewer.
    #[error("relay role byte {0:#04x} is neither 0x01 (camera) nor 0x02 (viewer)")]
    UnknownRole(u8),
    /// The hello announces a token longer than [`MAX_TOKEN_LEN`].
    #[error("relay hello token of {len} bytes exceeds the limit of {max}")]
    TokenTooLong {
        /// The announced length.
        len: usize,
        /// The largest allowed.
        max: usize,
    },
    /// The bytes end early or run on past the message.
    #[error("relay hello: {0}")]
    Decode(#[from] DecodeError),
    /// A ready message that does not open with `"CPRL"`.
    #[error("relay ready: magic bytes are not \"CPRL\"")]
    BadMagic,
    /// A ready message of another version.
    #[error("relay ready: unsupported version {0} (this build speaks 1)")]
    UnsupportedVersion(u8),
}

/// The first message of every relay connection: who the client is, which stream, and
/// the grant that admits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayHello<'a> {
    /// Camera or viewer.
    pub role: RelayRole,
    /// The stream published or watched.
    pub stream_id: u32,
    /// The relay grant (at most [`MAX_TOKEN_LEN`] bytes; empty for a bare relay).
    pub token: &'a [u8],
}

/// The fixed part of a [`RelayHello`]: enough to know how many token bytes follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayHelloHead {
    /// Camera or viewer.
    pub role: RelayRole,
    /// The stream published or watched.
    pub stream_id: u32,
    /// Token bytes that follow the head (at most [`MAX_TOKEN_LEN`]).
    pub token_len: usize,
}

impl<'a> RelayHello<'a> {
    /// The bytes on the wire. A token longer than [`MAX_TOKEN_LEN`] is written as
    /// given (a relay refuses it), up to `u16::MAX` bytes.
    pub fn encode(&self) -> Vec<u8> {
        let token = &self.token[..self.token.len().min(usize::from(u16::MAX))];
        let mut out = Vec::with_capacity(HELLO_HEAD_LEN + token.len());
        out.push(self.role.to_byte());
        out.put_u32(self.stream_id);
        out.put_vec16(token);
        out
    }

    /// Parses the head; the caller then reads exactly `token_len` more bytes.
    pub fn decode_head(head: &[u8; HELLO_HEAD_LEN]) -> Result<RelayHelloHead, RelayWireError> {
        let role = RelayRole::from_byte(head[0])?;
        let stream_id = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
        let token_len = usize::from(u16::from_be_bytes([head[5], head[6]]));
        if token_len > MAX_TOKEN_LEN {
            return Err(RelayWireError::TokenTooLong {
                len: token_len,
                max: MAX_TOKEN_LEN,
            });
        }
        Ok(RelayHelloHead {
            role,
            stream_id,
            token_len,
        })
    }

    /// Parses a whole hello; `buf` must hold exactly one.
    pub fn decode(buf: &'a [u8]) -> Result<RelayHello<'a>, RelayWireError> {
        let mut r = Reader::new(buf);
        let head: [u8; HELLO_HEAD_LEN] = r.array("relay hello head")?;
        let head = Self::decode_head(&head)?;
        let token = r.bytes("relay hello token", head.token_len)?;
        r.finish("relay hello")?;
        Ok(RelayHello {
            role: head.role,
            stream_id: head.stream_id,
            token,
        })
    }
}

/// The relay's word to a viewer that its subscription is live: frames follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayReady {
    /// The role admitted (a viewer).
    pub role: RelayRole,
    /// The stream subscribed to.
    pub stream_id: u32,
}

impl RelayReady {
    /// Length on the wire.
    pub const LEN: usize = 10;
    /// The magic bytes that open it.
    pub const MAGIC: [u8; 4] = *b"CPRL";
    /// The version this build speaks.
    pub const VERSION: u8 = 1;

    /// The ten bytes on the wire.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..4].copy_from_slice(&Self::MAGIC);
        out[4] = Self::VERSION;
        out[5] = self.role.to_byte();
        out[6..].copy_from_slice(&self.stream_id.to_be_bytes());
        out
    }

    /// Parses the ten bytes.
    pub fn decode(buf: &[u8; Self::LEN]) -> Result<RelayReady, RelayWireError> {
        if buf[..4] != Self::MAGIC {
            return Err(RelayWireError::BadMagic);
        }
        if buf[4] != Self::VERSION {
            return Err(RelayWireError::UnsupportedVersion(buf[4]));
        }
        let role = RelayRole::from_byte(buf[5])?;
        let stream_id = u32::from_be_bytes([buf[6], buf[7], buf[8], buf[9]]);
        Ok(RelayReady { role, stream_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The bytes a camera sends today, pinned.
    #[test]
    fn hello_known_bytes() {
        let hello = RelayHello {
            role: RelayRole::Camera,
            stream_id: 0x0102_0304,
            token: &[0xAA, 0xBB],
        };
        assert_eq!(hello.encode(), [1, 1, 2, 3, 4, 0, 2, 0xAA, 0xBB]);
        let ready = RelayReady {
            role: RelayRole::Viewer,
            stream_id: 0xDEAD_BEEF,
        };
        assert_eq!(ready.encode(), *b"CPRL\x01\x02\xDE\xAD\xBE\xEF");
    }

    /// Bad hellos are refused with the reason, never a panic.
    #[test]
    fn hello_refusals() {
        assert_eq!(
            RelayHello::decode(&[3, 0, 0, 0, 1, 0, 0]),
            Err(RelayWireError::UnknownRole(3))
        );
        assert_eq!(
            RelayHello::decode_head(&[2, 0, 0, 0, 1, 0x01, 0x01]),
            Err(RelayWireError::TokenTooLong { len: 257, max: 256 })
        );
        assert!(matches!(
            RelayHello::decode(&[2, 0, 0, 0, 1, 0, 4, 9]),
            Err(RelayWireError::Decode(DecodeError::Truncated { .. }))
        ));
        assert!(matches!(
            RelayHello::decode(&[2, 0, 0]),
            Err(RelayWireError::Decode(DecodeError::Truncated { .. }))
        ));
        assert!(matches!(
            RelayHello::decode(&[2, 0, 0, 0, 1, 0, 0, 9]),
            Err(RelayWireError::Decode(DecodeError::TrailingBytes { .. }))
        ));
    }

    /// Bad ready messages are refused with the reason.
    #[test]
    fn ready_refusals() {
        let mut bad = RelayReady {
            role: RelayRole::Viewer,
            stream_id: 1,
        }
        .encode();
        bad[5] = 3;
        assert_eq!(
            RelayReady::decode(&bad),
            Err(RelayWireError::UnknownRole(3))
        );
        bad[4] = 2;
        assert_eq!(
            RelayReady::decode(&bad),
            Err(RelayWireError::UnsupportedVersion(2))
        );
        bad[0] = b'X';
        assert!(RelayReady::decode(&bad)
            .unwrap_err()
            .to_string()
            .contains("magic"));
    }

    fn arb_role() -> impl Strategy<Value = RelayRole> {
        prop_oneof![Just(RelayRole::Camera), Just(RelayRole::Viewer)]
    }

    proptest! {
        #[test]
        fn hello_round_trips(
            role in arb_role(),
            stream_id in any::<u32>(),
            token in proptest::collection::vec(any::<u8>(), 0..=MAX_TOKEN_LEN),
        ) {
            let hello = RelayHello { role, stream_id, token: &token };
            let wire = hello.encode();
            prop_assert_eq!(RelayHello::decode(&wire), Ok(hello));
            let head: [u8; HELLO_HEAD_LEN] = wire[..HELLO_HEAD_LEN].try_into().unwrap();
            prop_assert_eq!(RelayHello::decode_head(&head).map(|h| h.token_len), Ok(token.len()));
        }

        #[test]
        fn ready_round_trips(role in arb_role(), stream_id in any::<u32>()) {
            let ready = RelayReady { role, stream_id };
            prop_assert_eq!(RelayReady::decode(&ready.encode()), Ok(ready));
        }

        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = RelayHello::decode(&bytes);
            if let Ok(head) = <[u8; HELLO_HEAD_LEN]>::try_from(&bytes[..bytes.len().min(7)]) {
                let _ = RelayHello::decode_head(&head);
            }
            if let Ok(ready) = <[u8; RelayReady::LEN]>::try_from(&bytes[..bytes.len().min(10)]) {
                let _ = RelayReady::decode(&ready);
            }
        }
    }
}
