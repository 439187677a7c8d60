//! End-to-end encrypted video frames: sealed by the camera, opened by the viewer, and
//! forwarded, but never readable, by the cloud relay.
//!
//! - [`PairingSecret`]: the 32-byte secret camera and viewer share; it never reaches
//!   the cloud, and every frame key is derived from it alone.
//! - [`FrameSealer`]: the camera side; seals payloads into frames numbered 0, 1, 2, ...
//!   within one key epoch.
//! - [`FrameOpener`]: the viewer side; authenticates and decrypts each frame and
//!   classifies loss, late frames, replays and tampering in [`VideoStats`].
//! - [`VideoHeader`]: the authenticated plaintext header a relay reads without a key.
//! - [`VideoError`]: why a frame was refused.
//!
//! The byte layout, key schedule and receiver rules are specified, with requirement
//! IDs, in `docs/sections/video.md`.
//!
//! ```
//! use camproof_protocol::video::{Codec, FrameOpener, FrameSealer, PairingSecret, VideoHeader};
//! use camproof_protocol::Timestamp;
//!
//! let secret = PairingSecret::from_bytes([7; 32]);
//! let mut camera = FrameSealer::new(&secret, 42, 1);
//! let mut viewer = FrameOpener::new(&secret, 42, 1);
//!
//! let frame = camera.seal(Timestamp::from_secs(1_700_000_000), true, Codec::H264, b"IDR")?;
//! // The relay reads the header but cannot decrypt the payload.
//! let (header, _ciphertext) = VideoHeader::parse(&frame)?;
//! assert_eq!((header.stream_id, header.seq, header.keyframe), (42, 0, true));
//!
//! let opened = viewer.open(&frame)?;
//! assert_eq!(opened.payload, b"IDR");
//! assert_eq!(viewer.stats().accepted, 1);
//! # Ok::<(), camproof_protocol::video::VideoError>(())
//! ```

use std::fmt;

use hkdf::Hkdf;
use rand_core::CryptoRngCore;
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::time::Timestamp;
use crate::wire::{DecodeError, Reader, Writer};

/// The two magic bytes that open every frame: ASCII `"CV"`.
pub const MAGIC: [u8; 2] = *b"CV";
/// The frame format version this module reads and writes.
pub const VERSION: u8 = 1;
/// Length of the plaintext, authenticated header in bytes.
pub const HEADER_LEN: usize = 33;
/// Length of the AES-GCM authentication tag that ends every frame.
pub const TAG_LEN: usize = 16;
/// Largest payload (plaintext) one frame may carry: 4 MiB.
pub const MAX_PAYLOAD: usize = 4 * 1024 * 1024;
/// Largest ciphertext length field a frame may declare: payload plus tag.
pub const MAX_CIPHERTEXT: usize = MAX_PAYLOAD + TAG_LEN;
/// How many sequence numbers behind the highest one the viewer remembers.
pub const REPLAY_WINDOW: u64 = 1024;
/// The HKDF `info` label that precedes the stream id and epoch.
pub const KDF_LABEL: &[u8] = b"camproof video v1\0";

const FLAG_KEYFRAME: u8 = 0x01;
const KEY_LEN: usize = 32;
const SALT_LEN: usize = 4;
const WINDOW_WORDS: usize = (REPLAY_WINDOW / 64) as usize;

/// The media codec of a frame's payload, as a one-byte registry value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Codec {
    /// H.264 / AVC video (`0x01`).
    H264,
    /// H.265 / HEVC video (`0x02`).
    H265,
    /// Motion JPEG video (`0x03`).
    Mjpeg,
    /// G.711 A-law audio (`0x81`).
    G711A,
    /// G.711 µ-law audio (`0x82`).
    G711U,
    /// AAC audio (`0x83`).
    Aac,
}

impl Codec {
    /// Every codec this build knows, in registry order.
    pub const ALL: [Codec; 6] = [
        Codec::H264,
        Codec::H265,
        Codec::Mjpeg,
        Codec::G711A,
        Codec::G711U,
        Codec::Aac,
    ];

    /// The registry byte written on the wire.
    pub const fn to_u8(self) -> u8 {
        match self {
            Codec::H264 => 0x01,
            Codec::H265 => 0x02,
            Codec::Mjpeg => 0x03,
            Codec::G711A => 0x81,
            Codec::G711U => 0x82,
            Codec::Aac => 0x83,
        }
    }

    /// The codec a registry byte names, if any.
    pub const fn from_u8(v: u8) -> Option<Codec> {
        match v {
            0x01 => Some(Codec::H264),
            0x02 => Some(Codec::H265),
            0x03 => Some(Codec::Mjpeg),
            0x81 => Some(Codec::G711A),
            0x82 => Some(Codec::G711U),
            0x83 => Some(Codec::Aac),
            _ => None,
        }
    }

    /// Whether this is an audio codec (registry values with the high bit set).
    pub const fn is_audio(self) -> bool {
        self.to_u8() & 0x80 != 0
    }
}

/// Why a frame could not be sealed, parsed or accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum VideoError {
    /// The frame does not start with the magic bytes `"CV"`.
    #[error("not a camproof video frame: magic bytes {got:02x?}, expected \"CV\"")]
    BadMagic {
        /// The two bytes found.
        got: [u8; 2],
    },
    /// The frame uses a format version this build does not speak.
    #[error("unsupported video frame version {0} (this build speaks version 1)")]
    UnsupportedVersion(u8),
    /// A flag bit other than the keyframe bit is set.
    #[error("reserved flag bits set in {0:#04x} (only bit 0, keyframe, is defined)")]
    ReservedFlags(u8),
    /// The codec byte is not in the registry.
    #[error("unknown codec byte {0:#04x}")]
    UnknownCodec(u8),
    /// The input ended before the frame was complete.
    #[error("frame truncated: {field} needs {needed} bytes, {available} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// The declared ciphertext is shorter than an authentication tag.
    #[error("ciphertext length {len} is shorter than the {TAG_LEN}-byte tag")]
    CiphertextTooShort {
        /// The declared length.
        len: usize,
    },
    /// The declared ciphertext is longer than [`MAX_CIPHERTEXT`].
    #[error("ciphertext length {len} exceeds the limit of {max} bytes")]
    CiphertextTooLong {
        /// The declared length.
        len: usize,
        /// The largest allowed length.
        max: usize,
    },
    /// Bytes follow the end of the frame.
    #[error("{count} trailing bytes after the frame")]
    TrailingBytes {
        /// How many bytes were left over.
        count: usize,
    },
    /// The frame belongs to another stream than the one this opener follows.
    #[error("frame for stream {got}, but this viewer follows stream {expected}")]
    WrongStream {
        /// The stream this opener follows.
        expected: u32,
        /// The stream the frame names.
        got: u32,
    },
    /// The frame's key epoch is older than the viewer's current epoch.
    #[error("frame from key epoch {got}, older than the current epoch {current}")]
    StaleEpoch {
        /// The viewer's current epoch.
        current: u32,
        /// The frame's epoch.
        got: u32,
    },
    /// Authentication failed: header or ciphertext altered, or another secret used.
    #[error(
        "frame claiming sequence {seq} failed authentication: altered in transit, \
         or sealed with another pairing secret"
    )]
    Tampered {
        /// The sequence number the (unauthenticated) header claims.
        seq: u64,
    },
    /// The frame was already accepted.
    #[error("frame {seq} replayed: it was already accepted")]
    Replayed {
        /// The frame's sequence number.
        seq: u64,
    },
    /// An authentic frame arrived after a newer one and is refused.
    #[error("frame {seq} arrived late, after frame {highest}, and is refused")]
    Reordered {
        /// The frame's sequence number.
        seq: u64,
        /// The highest sequence number accepted so far.
        highest: u64,
    },
    /// The frame is too far behind to tell a late frame from a replay.
    #[error(
        "frame {seq} is {window} or more frames behind frame {highest}: \
         too old to tell a late frame from a replay"
    )]
    TooOld {
        /// The frame's sequence number.
        seq: u64,
        /// The highest sequence number accepted so far.
        highest: u64,
        /// The replay window size, [`REPLAY_WINDOW`].
        window: u64,
    },
    /// The payload to seal is larger than [`MAX_PAYLOAD`].
    #[error("payload of {len} bytes exceeds the limit of {max} bytes")]
    PayloadTooLarge {
        /// The payload length.
        len: usize,
        /// The largest allowed payload.
        max: usize,
    },
    /// The sealer used its last sequence number; a new epoch is needed.
    #[error(
        "sequence numbers of stream {stream_id} epoch {epoch} are exhausted: start a new epoch"
    )]
    SequenceExhausted {
        /// The sealer's stream.
        stream_id: u32,
        /// The sealer's epoch.
        epoch: u32,
    },
}

impl VideoError {
    /// Maps a wire-level read error; the header reads only fixed-size fields.
    fn from_wire(e: DecodeError) -> Self {
        match e {
            DecodeError::Truncated {
                field,
                needed,
                available,
            } => VideoError::Truncated {
                field,
                needed,
                available,
            },
            DecodeError::TrailingBytes { count, .. } => VideoError::TrailingBytes { count },
            // Not produced by the fixed-size reads used here; report it as a length error
            // rather than panic.
            _ => VideoError::Truncated {
                field: "frame",
                needed: HEADER_LEN,
                available: 0,
            },
        }
    }
}

/// The plaintext header of a frame: readable by anyone, authenticated by the tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoHeader {
    /// Whether the payload is a keyframe (decodable on its own).
    pub keyframe: bool,
    /// The payload's codec.
    pub codec: Codec,
    /// The stream the frame belongs to.
    pub stream_id: u32,
    /// The key epoch: one value per streaming session of the camera.
    pub epoch: u32,
    /// The frame's sequence number within the epoch.
    pub seq: u64,
    /// The capture time the camera claims.
    pub timestamp: Timestamp,
}

impl VideoHeader {
    /// Parses one whole frame into its header and ciphertext (payload || tag), without a key.
    ///
    /// The input must be exactly one frame: a short input is [`VideoError::Truncated`],
    /// extra bytes are [`VideoError::TrailingBytes`]. Nothing is allocated.
    pub fn parse(frame: &[u8]) -> Result<(VideoHeader, &[u8]), VideoError> {
        let (header, _aad, ciphertext) = split_frame(frame)?;
        Ok((header, ciphertext))
    }

    /// The total length of the frame that starts `buf`, or `None` while its header is incomplete.
    ///
    /// For relays that cut frames out of a byte stream: validates the header fields
    /// (magic, version, flags, codec, length bounds) as soon as all of them are present.
    pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, VideoError> {
        Ok(VideoHeader::peek(buf)?.map(|(_, len)| len))
    }

    /// The header of the frame that starts `buf` and the frame's total length, or `None`
    /// while the header is incomplete.
    ///
    /// Like [`frame_len`](Self::frame_len), for relays that route a frame before all of
    /// its bytes have arrived; the header is not authenticated until the viewer opens it.
    pub fn peek(buf: &[u8]) -> Result<Option<(VideoHeader, usize)>, VideoError> {
        if buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let (header, ct_len) = read_header(&mut Reader::new(buf))?;
        Ok(Some((header, HEADER_LEN + ct_len)))
    }

    /// Appends the header bytes, declaring `ciphertext_len` bytes of ciphertext to follow.
    fn write(&self, ciphertext_len: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(if self.keyframe { FLAG_KEYFRAME } else { 0 });
        out.push(self.codec.to_u8());
        out.put_u32(self.stream_id);
        out.put_u32(self.epoch);
        out.put_u64(self.seq);
        out.put_u64(self.timestamp.as_micros());
        out.put_u32(ciphertext_len);
    }
}

/// Reads and validates the fixed header; returns it and the declared ciphertext length.
fn read_header(r: &mut Reader<'_>) -> Result<(VideoHeader, usize), VideoError> {
    let magic: [u8; 2] = r.array("magic").map_err(VideoError::from_wire)?;
    if magic != MAGIC {
        return Err(VideoError::BadMagic { got: magic });
    }
    let version = r.u8("version").map_err(VideoError::from_wire)?;
    if version != VERSION {
        return Err(VideoError::UnsupportedVersion(version));
    }
    let flags = r.u8("flags").map_err(VideoError::from_wire)?;
    if flags & !FLAG_KEYFRAME != 0 {
        return Err(VideoError::ReservedFlags(flags));
    }
    let codec_byte = r.u8("codec").map_err(VideoError::from_wire)?;
    let codec = Codec::from_u8(codec_byte).ok_or(VideoError::UnknownCodec(codec_byte))?;
    let stream_id = r.u32("stream id").map_err(VideoError::from_wire)?;
    let epoch = r.u32("key epoch").map_err(VideoError::from_wire)?;
    let seq = r.u64("sequence").map_err(VideoError::from_wire)?;
    let timestamp = Timestamp::from_micros(r.u64("timestamp").map_err(VideoError::from_wire)?);
    let declared = r.u32("ciphertext length").map_err(VideoError::from_wire)?;
    let len = usize::try_from(declared).unwrap_or(usize::MAX);
    if len < TAG_LEN {
        return Err(VideoError::CiphertextTooShort { len });
    }
    if len > MAX_CIPHERTEXT {
        return Err(VideoError::CiphertextTooLong {
            len,
            max: MAX_CIPHERTEXT,
        });
    }
    let header = VideoHeader {
        keyframe: flags & FLAG_KEYFRAME != 0,
        codec,
        stream_id,
        epoch,
        seq,
        timestamp,
    };
    Ok((header, len))
}

/// Splits a whole frame into header, header bytes (the AAD) and ciphertext.
fn split_frame(frame: &[u8]) -> Result<(VideoHeader, &[u8], &[u8]), VideoError> {
    let mut r = Reader::new(frame);
    let (header, ct_len) = read_header(&mut r)?;
    let aad = frame.get(..HEADER_LEN).unwrap_or_default();
    let ciphertext = r
        .bytes("ciphertext", ct_len)
        .map_err(VideoError::from_wire)?;
    r.finish("video frame").map_err(VideoError::from_wire)?;
    Ok((header, aad, ciphertext))
}

/// The 32-byte secret shared by a camera and its viewers at pairing; never sent to the cloud.
///
/// Wiped from memory on drop, redacted in `Debug`, compared in constant time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PairingSecret([u8; 32]);

impl PairingSecret {
    /// Length of a pairing secret in bytes.
    pub const LEN: usize = 32;

    /// A secret from its bytes (the caller should wipe its own copy).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PairingSecret(bytes)
    }

    /// A fresh secret drawn from `rng`.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        let secret = PairingSecret(bytes);
        bytes.zeroize();
        secret
    }

    /// The secret's bytes, for storing it on the device or in the viewer's keychain.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for PairingSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PairingSecret(<redacted>)")
    }
}

impl ConstantTimeEq for PairingSecret {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for PairingSecret {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for PairingSecret {}

/// HKDF-SHA256 output for one (stream, epoch): 32 key bytes then 4 nonce-salt bytes.
fn derive_okm(
    secret: &PairingSecret,
    stream_id: u32,
    epoch: u32,
) -> Zeroizing<[u8; KEY_LEN + SALT_LEN]> {
    let mut info = [0u8; KDF_LABEL.len() + 8];
    let (label, ids) = info.split_at_mut(KDF_LABEL.len());
    label.copy_from_slice(KDF_LABEL);
    let (sid, ep) = ids.split_at_mut(4);
    sid.copy_from_slice(&stream_id.to_be_bytes());
    ep.copy_from_slice(&epoch.to_be_bytes());
    let hk = Hkdf::<Sha256>::new(None, secret.expose_secret());
    let mut okm = Zeroizing::new([0u8; KEY_LEN + SALT_LEN]);
    // 36 bytes is far below HKDF-SHA256's limit of 8160, so this cannot fail.
    hk.expand(&info, okm.as_mut())
        .expect("36 bytes is within the HKDF-SHA256 output limit");
    okm
}

/// AES-256-GCM as frames use it: header as AAD, tag detached, 12-byte nonce.
///
/// The one seam between the frame layer and a cipher implementation. `ring` is the
/// backend (measured here: about 5× RustCrypto `aes-gcm` 0.10 at 1-64 KiB, see
/// `docs/relay.md`); RustCrypto's implements it too and the tests check that both
/// produce the same bytes (AES-256-GCM is AES-256-GCM).
trait FrameAead: Send + Sync {
    /// Encrypts `body` in place; `None` if the input is too long for GCM.
    fn seal(&self, nonce: [u8; 12], aad: &[u8], body: &mut [u8]) -> Option<[u8; TAG_LEN]>;
    /// Decrypts `body` in place; `false` (and `body` unspecified) if the tag fails.
    fn open(&self, nonce: [u8; 12], aad: &[u8], body: &mut [u8], tag: &[u8; TAG_LEN]) -> bool;
}

/// `ring`'s AES-256-GCM. Unlike the `aes` crate it does not wipe its expanded round keys
/// on drop; the pairing secret and the derived key bytes still are wiped.
struct RingAead(ring::aead::LessSafeKey);

impl RingAead {
    fn new(key: &[u8]) -> Option<Self> {
        let key = ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, key).ok()?;
        Some(RingAead(ring::aead::LessSafeKey::new(key)))
    }
}

impl FrameAead for RingAead {
    fn seal(&self, nonce: [u8; 12], aad: &[u8], body: &mut [u8]) -> Option<[u8; TAG_LEN]> {
        let nonce = ring::aead::Nonce::assume_unique_for_key(nonce);
        let tag = self
            .0
            .seal_in_place_separate_tag(nonce, ring::aead::Aad::from(aad), body)
            .ok()?;
        tag.as_ref().try_into().ok()
    }

    fn open(&self, nonce: [u8; 12], aad: &[u8], body: &mut [u8], tag: &[u8; TAG_LEN]) -> bool {
        let nonce = ring::aead::Nonce::assume_unique_for_key(nonce);
        let tag = ring::aead::Tag::from(*tag);
        self.0
            .open_in_place_separate_tag(nonce, ring::aead::Aad::from(aad), tag, body, 0..)
            .is_ok()
    }
}

/// RustCrypto's AES-256-GCM, kept to cross-check the `ring` backend byte for byte.
#[cfg(test)]
struct RustCryptoAead(aes_gcm::Aes256Gcm);

#[cfg(test)]
impl FrameAead for RustCryptoAead {
    fn seal(&self, nonce: [u8; 12], aad: &[u8], body: &mut [u8]) -> Option<[u8; TAG_LEN]> {
        use aes_gcm::aead::AeadInPlace;
        let tag = self
            .0
            .encrypt_in_place_detached(&nonce.into(), aad, body)
            .ok()?;
        Some(tag.into())
    }

    fn open(&self, nonce: [u8; 12], aad: &[u8], body: &mut [u8], tag: &[u8; TAG_LEN]) -> bool {
        use aes_gcm::aead::AeadInPlace;
        self.0
            .decrypt_in_place_detached(&nonce.into(), aad, body, tag.into())
            .is_ok()
    }
}

/// The AEAD key and nonce salt of one (stream, epoch); wiped on drop.
struct FrameKey {
    aead: Box<dyn FrameAead>,
    salt: [u8; SALT_LEN],
}

impl FrameKey {
    fn derive(secret: &PairingSecret, stream_id: u32, epoch: u32) -> Self {
        let okm = derive_okm(secret, stream_id, epoch);
        let (key, salt) = okm.split_at(KEY_LEN);
        let mut salt_bytes = [0u8; SALT_LEN];
        salt_bytes.copy_from_slice(salt);
        FrameKey {
            // A 32-byte key is always a valid AES-256 key.
            aead: Box::new(RingAead::new(key).expect("32-byte AES-256 key")),
            salt: salt_bytes,
        }
    }

    /// salt (4 bytes) || seq (8 bytes, big-endian).
    fn nonce(&self, seq: u64) -> [u8; 12] {
        let mut n = [0u8; 12];
        let (salt, ctr) = n.split_at_mut(SALT_LEN);
        salt.copy_from_slice(&self.salt);
        ctr.copy_from_slice(&seq.to_be_bytes());
        n
    }

    /// Authenticates and decrypts; `None` if the tag does not verify.
    fn open(&self, seq: u64, aad: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
        let body_len = ciphertext.len().checked_sub(TAG_LEN)?;
        let (body, tag) = ciphertext.split_at(body_len);
        let tag: [u8; TAG_LEN] = tag.try_into().ok()?;
        let mut buf = body.to_vec();
        if !self.aead.open(self.nonce(seq), aad, &mut buf, &tag) {
            // Unauthenticated plaintext never leaves; wipe it.
            buf.zeroize();
            return None;
        }
        Some(buf)
    }
}

impl Drop for FrameKey {
    fn drop(&mut self) {
        // The derived key bytes were wiped by `Zeroizing`; see `RingAead` on round keys.
        self.salt.zeroize();
    }
}

/// The camera side of a stream: seals payloads into frames with consecutive sequence numbers.
///
/// Sequence numbers start at 0 in each key epoch; the camera must pick a fresh, strictly
/// increasing epoch for every streaming session so that no nonce is ever reused.
pub struct FrameSealer {
    key: FrameKey,
    stream_id: u32,
    epoch: u32,
    next_seq: Option<u64>,
}

impl fmt::Debug for FrameSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameSealer")
            .field("stream_id", &self.stream_id)
            .field("epoch", &self.epoch)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

impl FrameSealer {
    /// A sealer for `stream_id` in key epoch `epoch`, starting at sequence 0.
    pub fn new(secret: &PairingSecret, stream_id: u32, epoch: u32) -> Self {
        FrameSealer {
            key: FrameKey::derive(secret, stream_id, epoch),
            stream_id,
            epoch,
            next_seq: Some(0),
        }
    }

    /// This sealer, numbering its next frame `seq`.
    ///
    /// Sealing two frames with the same (secret, stream, epoch, seq) reuses an AES-GCM
    /// nonce and breaks confidentiality and integrity: use only to resume a session
    /// whose last sequence number is known, or to simulate a flawed camera.
    pub fn with_next_seq(mut self, seq: u64) -> Self {
        self.next_seq = Some(seq);
        self
    }

    /// The stream this sealer writes.
    pub fn stream_id(&self) -> u32 {
        self.stream_id
    }

    /// The key epoch this sealer writes.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The sequence number of the next frame, or `None` once all are used.
    pub fn next_seq(&self) -> Option<u64> {
        self.next_seq
    }

    /// Seals one payload into a new frame.
    pub fn seal(
        &mut self,
        timestamp: Timestamp,
        keyframe: bool,
        codec: Codec,
        payload: &[u8],
    ) -> Result<Vec<u8>, VideoError> {
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + TAG_LEN);
        self.seal_into(timestamp, keyframe, codec, payload, &mut out)?;
        Ok(out)
    }

    /// Seals one payload and appends the frame to `out`, reusing its allocation.
    ///
    /// Returns the frame's header. On error `out` is left as it was and the sequence
    /// number is not consumed.
    pub fn seal_into(
        &mut self,
        timestamp: Timestamp,
        keyframe: bool,
        codec: Codec,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<VideoHeader, VideoError> {
        let too_large = VideoError::PayloadTooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD,
        };
        if payload.len() > MAX_PAYLOAD {
            return Err(too_large);
        }
        let ct_len = u32::try_from(payload.len() + TAG_LEN).map_err(|_| too_large.clone())?;
        let seq = self.next_seq.ok_or(VideoError::SequenceExhausted {
            stream_id: self.stream_id,
            epoch: self.epoch,
        })?;
        let header = VideoHeader {
            keyframe,
            codec,
            stream_id: self.stream_id,
            epoch: self.epoch,
            seq,
            timestamp,
        };
        let start = out.len();
        out.reserve(HEADER_LEN + payload.len() + TAG_LEN);
        header.write(ct_len, out);
        out.extend_from_slice(payload);
        let frame = out.get_mut(start..).unwrap_or_default();
        let (aad, body) = frame.split_at_mut(HEADER_LEN.min(frame.len()));
        match self.key.aead.seal(self.key.nonce(seq), aad, body) {
            Some(tag) => out.extend_from_slice(&tag),
            None => {
                out.truncate(start);
                return Err(too_large);
            }
        }
        self.next_seq = seq.checked_add(1);
        Ok(header)
    }
}

/// A frame the viewer accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedFrame {
    /// The frame's authenticated header.
    pub header: VideoHeader,
    /// The decrypted payload.
    pub payload: Vec<u8>,
    /// How many sequence numbers were skipped just before this frame (lost frames).
    pub lost_before: u64,
    /// Whether this frame started a new key epoch (the camera restarted its stream).
    pub epoch_changed: bool,
}

/// Counters of what a [`FrameOpener`] received; every call to `open` bumps exactly one
/// of the outcome counters (all but `lost` and `epoch_changes`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VideoStats {
    /// Frames accepted.
    pub accepted: u64,
    /// Sequence numbers skipped over by accepted frames (frames lost in transit).
    pub lost: u64,
    /// Authentic frames refused because they arrived after a newer frame.
    pub reordered: u64,
    /// Authentic frames refused because they were already accepted.
    pub replayed: u64,
    /// Authentic frames refused because they are older than the replay window.
    pub too_old: u64,
    /// Frames refused because authentication failed.
    pub tampered: u64,
    /// Frames refused because they could not be parsed.
    pub malformed: u64,
    /// Frames refused because they belong to another stream.
    pub wrong_stream: u64,
    /// Frames refused because their key epoch is older than the current one.
    pub stale_epoch: u64,
    /// Times an authentic frame moved the viewer to a newer key epoch.
    pub epoch_changes: u64,
}

impl VideoStats {
    /// Frames refused, for any reason.
    pub fn rejected(&self) -> u64 {
        self.reordered
            .saturating_add(self.replayed)
            .saturating_add(self.too_old)
            .saturating_add(self.tampered)
            .saturating_add(self.malformed)
            .saturating_add(self.wrong_stream)
            .saturating_add(self.stale_epoch)
    }

    fn count_error(&mut self, e: &VideoError) {
        let counter = match e {
            VideoError::WrongStream { .. } => &mut self.wrong_stream,
            VideoError::StaleEpoch { .. } => &mut self.stale_epoch,
            VideoError::Tampered { .. } => &mut self.tampered,
            VideoError::Replayed { .. } => &mut self.replayed,
            VideoError::Reordered { .. } => &mut self.reordered,
            VideoError::TooOld { .. } => &mut self.too_old,
            _ => &mut self.malformed,
        };
        *counter = counter.saturating_add(1);
    }
}

/// Sliding anti-replay window: bit `d` set means frame `highest - d` was accepted.
#[derive(Debug, Clone, Default)]
struct ReplayWindow {
    highest: Option<u64>,
    bits: [u64; WINDOW_WORDS],
}

impl ReplayWindow {
    /// Records an authentic frame; returns how many sequence numbers it skipped.
    fn admit(&mut self, seq: u64) -> Result<u64, VideoError> {
        let Some(highest) = self.highest else {
            // The first frame of an epoch is the baseline: a viewer may join mid-stream.
            self.bits = [0; WINDOW_WORDS];
            self.bits[0] = 1;
            self.highest = Some(seq);
            return Ok(0);
        };
        if seq > highest {
            let advance = seq - highest;
            self.shift(advance);
            self.bits[0] |= 1;
            self.highest = Some(seq);
            return Ok(advance - 1);
        }
        let behind = highest - seq;
        if behind >= REPLAY_WINDOW {
            return Err(VideoError::TooOld {
                seq,
                highest,
                window: REPLAY_WINDOW,
            });
        }
        let word = self.bits.get((behind / 64) as usize).copied().unwrap_or(0);
        if (word >> (behind % 64)) & 1 == 1 {
            Err(VideoError::Replayed { seq })
        } else {
            Err(VideoError::Reordered { seq, highest })
        }
    }

    /// Ages every remembered frame by `by` sequence numbers.
    fn shift(&mut self, by: u64) {
        if by >= REPLAY_WINDOW {
            self.bits = [0; WINDOW_WORDS];
            return;
        }
        let words = (by / 64) as usize;
        let bits = (by % 64) as u32;
        for i in (0..WINDOW_WORDS).rev() {
            let main = i.checked_sub(words).map_or(0, |j| self.bits[j] << bits);
            let carry = match (bits, i.checked_sub(words + 1)) {
                (0, _) | (_, None) => 0,
                (_, Some(j)) => self.bits[j] >> (64 - bits),
            };
            self.bits[i] = main | carry;
        }
    }
}

/// The viewer side of a stream: authenticates, decrypts and orders frames.
///
/// Each frame is checked in this order: well-formed, same stream, epoch not older than
/// the current one, tag valid, sequence newer than any accepted one. Nothing about the
/// opener's state changes until a frame has authenticated.
pub struct FrameOpener {
    secret: PairingSecret,
    stream_id: u32,
    epoch: u32,
    key: FrameKey,
    window: ReplayWindow,
    stats: VideoStats,
}

impl fmt::Debug for FrameOpener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameOpener")
            .field("stream_id", &self.stream_id)
            .field("epoch", &self.epoch)
            .field("highest_seq", &self.window.highest)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl FrameOpener {
    /// An opener for `stream_id` that accepts key epoch `epoch` and any later one.
    pub fn new(secret: &PairingSecret, stream_id: u32, epoch: u32) -> Self {
        FrameOpener {
            secret: secret.clone(),
            stream_id,
            epoch,
            key: FrameKey::derive(secret, stream_id, epoch),
            window: ReplayWindow::default(),
            stats: VideoStats::default(),
        }
    }

    /// Verifies, decrypts and classifies one frame, updating the counters.
    ///
    /// Costs one AES-GCM pass over the frame, plus an HKDF derivation when the frame
    /// names a newer epoch.
    pub fn open(&mut self, frame: &[u8]) -> Result<OpenedFrame, VideoError> {
        let result = self.open_inner(frame);
        match &result {
            Ok(opened) => {
                self.stats.accepted = self.stats.accepted.saturating_add(1);
                self.stats.lost = self.stats.lost.saturating_add(opened.lost_before);
                if opened.epoch_changed {
                    self.stats.epoch_changes = self.stats.epoch_changes.saturating_add(1);
                }
            }
            Err(e) => self.stats.count_error(e),
        }
        result
    }

    fn open_inner(&mut self, frame: &[u8]) -> Result<OpenedFrame, VideoError> {
        let (header, aad, ciphertext) = split_frame(frame)?;
        if header.stream_id != self.stream_id {
            return Err(VideoError::WrongStream {
                expected: self.stream_id,
                got: header.stream_id,
            });
        }
        if header.epoch < self.epoch {
            return Err(VideoError::StaleEpoch {
                current: self.epoch,
                got: header.epoch,
            });
        }
        let new_key = (header.epoch > self.epoch)
            .then(|| FrameKey::derive(&self.secret, self.stream_id, header.epoch));
        let key = new_key.as_ref().unwrap_or(&self.key);
        let payload = key
            .open(header.seq, aad, ciphertext)
            .ok_or(VideoError::Tampered { seq: header.seq })?;
        let epoch_changed = match new_key {
            Some(k) => {
                self.key = k;
                self.epoch = header.epoch;
                self.window = ReplayWindow::default();
                true
            }
            None => false,
        };
        let lost_before = self.window.admit(header.seq)?;
        Ok(OpenedFrame {
            header,
            payload,
            lost_before,
            epoch_changed,
        })
    }

    /// The counters so far.
    pub fn stats(&self) -> VideoStats {
        self.stats
    }

    /// The stream this opener follows.
    pub fn stream_id(&self) -> u32 {
        self.stream_id
    }

    /// The key epoch currently accepted.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The highest sequence number accepted in the current epoch.
    pub fn highest_seq(&self) -> Option<u64> {
        self.window.highest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::Index;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;
    use std::collections::BTreeSet;

    const TS: Timestamp = Timestamp::from_secs(1_700_000_000);

    fn secret() -> PairingSecret {
        PairingSecret::from_bytes([0x11; 32])
    }

    /// The `ring` backend and RustCrypto's `aes-gcm` produce the same bytes and open
    /// each other's frames (VID-AEAD-01's known answers run on `ring`).
    #[test]
    fn ring_and_rustcrypto_agree() {
        use aes_gcm::KeyInit;
        let key = [0x5C; 32];
        let ring = RingAead::new(&key).unwrap();
        let rc = RustCryptoAead(aes_gcm::Aes256Gcm::new((&key).into()));
        let aad = [7u8; HEADER_LEN];
        for len in [0usize, 1, 15, 16, 17, 1000, 65_536] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let nonce = [len as u8; 12];
            let (mut a, mut b) = (plain.clone(), plain.clone());
            let ta = ring.seal(nonce, &aad, &mut a).unwrap();
            let tb = rc.seal(nonce, &aad, &mut b).unwrap();
            assert_eq!((&a, ta), (&b, tb), "{len} bytes");
            assert!(rc.open(nonce, &aad, &mut a, &ta));
            assert!(ring.open(nonce, &aad, &mut b, &tb));
            assert_eq!((&a, &b), (&plain, &plain));
            let mut bad = ta;
            bad[0] ^= 1;
            assert!(!ring.open(nonce, &aad, &mut a.clone(), &bad));
        }
    }

    /// One frame of `stream`/`epoch` with sequence `seq`; its payload is `seq` itself.
    fn frame_at(stream: u32, epoch: u32, seq: u64) -> Vec<u8> {
        FrameSealer::new(&secret(), stream, epoch)
            .with_next_seq(seq)
            .seal(TS, seq % 30 == 0, Codec::H264, &seq.to_be_bytes())
            .unwrap()
    }

    fn stream(n: u64) -> Vec<Vec<u8>> {
        let mut sealer = FrameSealer::new(&secret(), 1, 1);
        (0..n)
            .map(|i| {
                sealer
                    .seal(TS, i == 0, Codec::H264, format!("frame {i}").as_bytes())
                    .unwrap()
            })
            .collect()
    }

    // The expected bytes below were computed independently of this crate, in Python
    // (`cryptography`: HKDF-SHA256 and AESGCM), from the layout in docs/sections/video.md.
    const KAT_OKM: &str =
        "10093ac8eb6043a1acae2f14363fb6a8ffc0d28a2def49d646c964c9079ccad92b05418c";
    const KAT_FRAME: &str = "43560101010000002a00000007000000000000000500060a24181e4000000000\
                             227ee54652d0de22d57f01b478f67766ae878c6c569c1b6ad9b71cdbc3b47ed2\
                             1b568f";

    fn kat_secret() -> PairingSecret {
        let mut b = [0u8; 32];
        for (i, x) in b.iter_mut().enumerate() {
            *x = i as u8;
        }
        PairingSecret::from_bytes(b)
    }

    /// VID-KEY-01: the key schedule (HKDF-SHA256, empty salt, label || stream id || epoch,
    /// 36 bytes = key || nonce salt) is pinned by a known answer.
    #[test]
    fn kat_key_schedule() {
        assert_eq!(
            hex::encode(derive_okm(&kat_secret(), 42, 7).as_ref()),
            KAT_OKM
        );
    }

    /// VID-HDR-01, VID-AEAD-01, VID-AEAD-02, VID-KEY-01: a fixed secret, stream, epoch,
    /// sequence and payload seal to exactly these bytes.
    #[test]
    fn kat_sealed_frame() {
        let mut sealer = FrameSealer::new(&kat_secret(), 42, 7).with_next_seq(5);
        let frame = sealer
            .seal(
                Timestamp::from_micros(1_700_000_000_000_000),
                true,
                Codec::H264,
                b"camproof KAT frame",
            )
            .unwrap();
        assert_eq!(hex::encode(&frame), KAT_FRAME);
        let opened = FrameOpener::new(&kat_secret(), 42, 7)
            .open(&hex::decode(KAT_FRAME).unwrap())
            .unwrap();
        assert_eq!(opened.payload, b"camproof KAT frame");
    }

    /// VID-HDR-01: every header field sits at its documented offset, big-endian.
    #[test]
    fn header_field_offsets() {
        let mut sealer = FrameSealer::new(&secret(), 0x0102_0304, 0x0506_0708)
            .with_next_seq(0x1112_1314_1516_1718);
        let frame = sealer
            .seal(
                Timestamp::from_micros(0x2122_2324_2526_2728),
                true,
                Codec::Mjpeg,
                &[0xAA; 3],
            )
            .unwrap();
        assert_eq!(&frame[0..2], b"CV");
        assert_eq!(frame[2], 1);
        assert_eq!(frame[3], 0x01);
        assert_eq!(frame[4], 0x03);
        assert_eq!(frame[5..9], [1, 2, 3, 4]);
        assert_eq!(frame[9..13], [5, 6, 7, 8]);
        assert_eq!(
            frame[13..21],
            [0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]
        );
        assert_eq!(
            frame[21..29],
            [0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28]
        );
        assert_eq!(frame[29..33], 19u32.to_be_bytes());
        assert_eq!(frame.len(), HEADER_LEN + 3 + TAG_LEN);
    }

    /// VID-HDR-02: a frame with other magic bytes is refused.
    #[test]
    fn bad_magic_rejected() {
        let mut f = frame_at(1, 1, 0);
        f[0] = b'X';
        assert_eq!(
            VideoHeader::parse(&f),
            Err(VideoError::BadMagic { got: *b"XV" })
        );
    }

    /// VID-HDR-02: a frame of another format version is refused.
    #[test]
    fn unsupported_version_rejected() {
        let mut f = frame_at(1, 1, 0);
        f[2] = 2;
        assert_eq!(
            VideoHeader::parse(&f),
            Err(VideoError::UnsupportedVersion(2))
        );
    }

    /// VID-HDR-03: reserved flag bits must be zero; bit 0 is the keyframe flag.
    #[test]
    fn reserved_flags_rejected() {
        let mut f = frame_at(1, 1, 0);
        assert!(VideoHeader::parse(&f).unwrap().0.keyframe);
        f[3] = 0x81;
        assert_eq!(VideoHeader::parse(&f), Err(VideoError::ReservedFlags(0x81)));
    }

    /// VID-HDR-04: the codec byte must be in the registry; the registry round-trips.
    #[test]
    fn codec_registry() {
        for c in Codec::ALL {
            assert_eq!(Codec::from_u8(c.to_u8()), Some(c));
            assert_eq!(
                c.is_audio(),
                matches!(c, Codec::G711A | Codec::G711U | Codec::Aac)
            );
        }
        let known = (0..=255u8).filter(|b| Codec::from_u8(*b).is_some()).count();
        assert_eq!(known, Codec::ALL.len());
        let mut f = frame_at(1, 1, 0);
        f[4] = 0x00;
        assert_eq!(VideoHeader::parse(&f), Err(VideoError::UnknownCodec(0)));
    }

    /// VID-HDR-05: ciphertext lengths below the tag or above MAX_CIPHERTEXT are refused
    /// from the header alone, before anything is read or allocated.
    #[test]
    fn ciphertext_length_bounds() {
        let mut f = frame_at(1, 1, 0);
        f[29..33].copy_from_slice(&15u32.to_be_bytes());
        assert_eq!(
            VideoHeader::parse(&f),
            Err(VideoError::CiphertextTooShort { len: 15 })
        );
        f[29..33].copy_from_slice(&u32::MAX.to_be_bytes());
        let err = VideoHeader::parse(&f[..HEADER_LEN]).unwrap_err();
        assert!(matches!(
            err,
            VideoError::CiphertextTooLong {
                max: MAX_CIPHERTEXT,
                ..
            }
        ));
        assert_eq!(VideoHeader::frame_len(&f), Err(err));
    }

    /// VID-HDR-05: a frame cut short is Truncated, bytes after it are TrailingBytes.
    #[test]
    fn truncation_and_trailing_bytes_rejected() {
        let f = frame_at(1, 1, 0);
        let mut opener = FrameOpener::new(&secret(), 1, 1);
        for cut in [0, 1, 10, HEADER_LEN - 1, HEADER_LEN, f.len() - 1] {
            let err = opener.open(&f[..cut]).unwrap_err();
            assert!(
                matches!(err, VideoError::Truncated { .. }),
                "cut {cut}: {err}"
            );
        }
        let mut long = f.clone();
        long.push(0);
        assert_eq!(
            opener.open(&long),
            Err(VideoError::TrailingBytes { count: 1 })
        );
        assert_eq!(opener.stats().malformed, 7);
        assert!(opener.open(&f).is_ok());
    }

    /// VID-HDR-06: a relay reads the header and cuts frames out of a byte stream
    /// without any key; `seal_into` appends frames to one buffer.
    #[test]
    fn relay_frames_a_byte_stream_without_a_key() {
        let mut sealer = FrameSealer::new(&secret(), 5, 2);
        let mut buf = Vec::new();
        for i in 0..3u8 {
            let h = sealer
                .seal_into(
                    TS,
                    i == 0,
                    Codec::H265,
                    &vec![i; usize::from(i) * 10],
                    &mut buf,
                )
                .unwrap();
            assert_eq!(h.seq, u64::from(i));
        }
        let mut rest = &buf[..];
        let mut seen = Vec::new();
        while !rest.is_empty() {
            assert_eq!(VideoHeader::frame_len(&rest[..HEADER_LEN - 1]), Ok(None));
            let len = VideoHeader::frame_len(rest).unwrap().unwrap();
            let (h, ct) = VideoHeader::parse(&rest[..len]).unwrap();
            assert_eq!(ct.len(), len - HEADER_LEN);
            seen.push((h.stream_id, h.epoch, h.seq, h.keyframe, h.codec));
            rest = &rest[len..];
        }
        assert_eq!(
            seen,
            [
                (5, 2, 0, true, Codec::H265),
                (5, 2, 1, false, Codec::H265),
                (5, 2, 2, false, Codec::H265)
            ]
        );
    }

    /// VID-E2E-01: the relay cannot decrypt: the key comes only from the pairing secret,
    /// no key material is on the wire, and anyone else's secret fails authentication.
    #[test]
    fn relay_cannot_decrypt() {
        let payload = b"a secret picture of the living room";
        let frame = FrameSealer::new(&secret(), 1, 1)
            .seal(TS, true, Codec::Mjpeg, payload)
            .unwrap();
        assert!(!frame.windows(8).any(|w| payload.windows(8).any(|p| p == w)));
        let okm = derive_okm(&secret(), 1, 1);
        assert!(!frame.windows(8).any(|w| okm.windows(8).any(|k| k == w)));
        let guess = PairingSecret::from_bytes([0x12; 32]);
        assert_ne!(*derive_okm(&guess, 1, 1), *okm);
        let mut relay = FrameOpener::new(&guess, 1, 1);
        assert_eq!(relay.open(&frame), Err(VideoError::Tampered { seq: 0 }));
    }

    /// VID-KEY-02: the pairing secret never prints its bytes, compares by value in
    /// constant time, and can be drawn from a seeded RNG.
    #[test]
    fn pairing_secret_hygiene() {
        let s = PairingSecret::from_bytes([0xAB; 32]);
        let shown = format!("{s:?}");
        assert_eq!(shown, "PairingSecret(<redacted>)");
        assert!(!shown.to_lowercase().contains("ab"));
        assert_eq!(s, PairingSecret::from_bytes([0xAB; 32]));
        assert_ne!(s, PairingSecret::from_bytes([0xAC; 32]));
        assert!(bool::from(s.ct_eq(&s.clone())));
        let a = PairingSecret::generate(&mut ChaCha8Rng::seed_from_u64(1));
        let b = PairingSecret::generate(&mut ChaCha8Rng::seed_from_u64(1));
        let c = PairingSecret::generate(&mut ChaCha8Rng::seed_from_u64(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let sealer = FrameSealer::new(&s, 1, 1);
        let opener = FrameOpener::new(&s, 1, 1);
        for shown in [format!("{sealer:?}"), format!("{opener:?}")] {
            assert!(!shown.contains("171"), "{shown}");
            assert!(!shown.to_lowercase().contains("ab, ab"), "{shown}");
        }
    }

    /// VID-KEY-03: each epoch has its own key and salt, so the same sequence number in
    /// a new epoch never reuses a nonce.
    #[test]
    fn epochs_have_distinct_keys() {
        let a = frame_at(1, 1, 0);
        let b = frame_at(1, 2, 0);
        assert_ne!(a[HEADER_LEN..], b[HEADER_LEN..]);
        assert_ne!(*derive_okm(&secret(), 1, 1), *derive_okm(&secret(), 1, 2));
        assert_ne!(*derive_okm(&secret(), 1, 1), *derive_okm(&secret(), 2, 1));
    }

    /// VID-SEQ-01: a sealer numbers frames 0, 1, 2, ... and refuses to wrap the sequence.
    #[test]
    fn sealer_numbers_frames_and_refuses_to_wrap() {
        let mut sealer = FrameSealer::new(&secret(), 1, 1);
        for want in 0..3 {
            let f = sealer.seal(TS, false, Codec::H264, b"x").unwrap();
            assert_eq!(VideoHeader::parse(&f).unwrap().0.seq, want);
        }
        let mut sealer = sealer.with_next_seq(u64::MAX);
        assert!(sealer.seal(TS, false, Codec::H264, b"last").is_ok());
        assert_eq!(sealer.next_seq(), None);
        let mut out = vec![1, 2, 3];
        assert_eq!(
            sealer.seal_into(TS, false, Codec::H264, b"x", &mut out),
            Err(VideoError::SequenceExhausted {
                stream_id: 1,
                epoch: 1
            })
        );
        assert_eq!(out, [1, 2, 3]);
    }

    /// VID-SEAL-01: a payload above MAX_PAYLOAD is refused and consumes no sequence number.
    #[test]
    fn oversized_payload_refused() {
        let mut sealer = FrameSealer::new(&secret(), 1, 1);
        let big = vec![0u8; MAX_PAYLOAD + 1];
        let mut out = Vec::new();
        assert_eq!(
            sealer.seal_into(TS, false, Codec::H264, &big, &mut out),
            Err(VideoError::PayloadTooLarge {
                len: MAX_PAYLOAD + 1,
                max: MAX_PAYLOAD
            })
        );
        assert!(out.is_empty());
        assert_eq!(sealer.next_seq(), Some(0));
        let f = sealer.seal(TS, true, Codec::H264, &big[1..]).unwrap();
        assert_eq!(f.len(), HEADER_LEN + MAX_CIPHERTEXT);
        let mut opener = FrameOpener::new(&secret(), 1, 1);
        assert_eq!(opener.open(&f).unwrap().payload.len(), MAX_PAYLOAD);
    }

    /// VID-SEQ-02: a frame already accepted is rejected as a replay, and counted.
    #[test]
    fn replay_rejected() {
        let frames = stream(3);
        let mut o = FrameOpener::new(&secret(), 1, 1);
        for f in &frames {
            o.open(f).unwrap();
        }
        assert_eq!(o.open(&frames[2]), Err(VideoError::Replayed { seq: 2 }));
        assert_eq!(o.open(&frames[0]), Err(VideoError::Replayed { seq: 0 }));
        assert_eq!(o.stats().replayed, 2);
        assert_eq!(o.stats().accepted, 3);
    }

    /// VID-SEQ-03: a gap in the sequence is accepted; the lost frames are reported on the
    /// next frame and counted.
    #[test]
    fn dropped_frames_counted() {
        let frames = stream(10);
        let mut o = FrameOpener::new(&secret(), 1, 1);
        assert_eq!(o.open(&frames[0]).unwrap().lost_before, 0);
        assert_eq!(o.open(&frames[4]).unwrap().lost_before, 3);
        assert_eq!(o.open(&frames[5]).unwrap().lost_before, 0);
        assert_eq!(o.open(&frames[9]).unwrap().lost_before, 3);
        assert_eq!(o.stats().lost, 6);
        assert_eq!(o.stats().accepted, 4);
    }

    /// VID-SEQ-04: an authentic frame older than the highest accepted one, and not seen
    /// before, is rejected as reordered and counted (its loss stays counted).
    #[test]
    fn late_frame_rejected() {
        let frames = stream(4);
        let mut o = FrameOpener::new(&secret(), 1, 1);
        o.open(&frames[0]).unwrap();
        o.open(&frames[2]).unwrap();
        assert_eq!(
            o.open(&frames[1]),
            Err(VideoError::Reordered { seq: 1, highest: 2 })
        );
        assert_eq!(o.stats().reordered, 1);
        assert_eq!(o.stats().lost, 1);
        assert_eq!(o.open(&frames[3]).unwrap().lost_before, 0);
    }

    /// VID-SEQ-05: a frame REPLAY_WINDOW or more behind the highest is rejected as too old.
    #[test]
    fn frame_behind_window_rejected() {
        let mut o = FrameOpener::new(&secret(), 1, 1);
        o.open(&frame_at(1, 1, 0)).unwrap();
        o.open(&frame_at(1, 1, REPLAY_WINDOW)).unwrap();
        assert_eq!(
            o.open(&frame_at(1, 1, 0)),
            Err(VideoError::TooOld {
                seq: 0,
                highest: REPLAY_WINDOW,
                window: REPLAY_WINDOW
            })
        );
        assert_eq!(
            o.open(&frame_at(1, 1, 1)),
            Err(VideoError::Reordered {
                seq: 1,
                highest: REPLAY_WINDOW
            })
        );
        assert_eq!(o.stats().too_old, 1);
    }

    /// VID-SEQ-06: the first frame accepted in an epoch is the baseline; a viewer that
    /// joins mid-stream counts no loss before it.
    #[test]
    fn first_frame_is_the_baseline() {
        let mut o = FrameOpener::new(&secret(), 1, 1);
        let first = o.open(&frame_at(1, 1, 5000)).unwrap();
        assert_eq!(first.lost_before, 0);
        assert_eq!(o.highest_seq(), Some(5000));
        assert_eq!(o.open(&frame_at(1, 1, 5002)).unwrap().lost_before, 1);
    }

    /// VID-SEQ-07: a frame that fails authentication changes no state: a forged high
    /// sequence number neither advances the window nor counts loss.
    #[test]
    fn forged_frames_change_no_state() {
        let frames = stream(3);
        let mut o = FrameOpener::new(&secret(), 1, 1);
        o.open(&frames[0]).unwrap();
        let mut forged = frame_at(1, 1, 1_000_000);
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert!(matches!(o.open(&forged), Err(VideoError::Tampered { .. })));
        let mut forged_epoch = frame_at(1, 9, 0);
        forged_epoch[HEADER_LEN] ^= 1;
        assert!(matches!(
            o.open(&forged_epoch),
            Err(VideoError::Tampered { .. })
        ));
        assert_eq!(o.epoch(), 1);
        assert_eq!(o.highest_seq(), Some(0));
        let next = o.open(&frames[1]).unwrap();
        assert_eq!((next.lost_before, next.epoch_changed), (0, false));
        assert_eq!(o.stats().lost, 0);
    }

    /// VID-INT-01: a relay that edits any header field (sequence, timestamp, keyframe
    /// flag, codec, length) or the ciphertext causes a rejection.
    #[test]
    fn header_edits_rejected() {
        let f = frame_at(1, 1, 0);
        let mut o = FrameOpener::new(&secret(), 1, 1);
        let edits: [(usize, u8); 5] = [(20, 1), (28, 1), (3, 1), (4, 3), (HEADER_LEN, 0x80)];
        for (at, mask) in edits {
            let mut g = f.clone();
            g[at] ^= mask;
            assert_eq!(
                o.open(&g),
                Err(VideoError::Tampered { seq: g[20].into() }),
                "byte {at}"
            );
        }
        assert_eq!(o.stats().tampered, 5);
        assert!(o.open(&f).is_ok());
    }

    /// VID-INT-01: every single bit flip of a sealed frame is rejected (exhaustive).
    #[test]
    fn every_bit_flip_rejected() {
        let f = frame_at(7, 3, 41);
        for bit in 0..f.len() * 8 {
            let mut g = f.clone();
            g[bit / 8] ^= 1 << (bit % 8);
            let mut o = FrameOpener::new(&secret(), 7, 3);
            assert!(o.open(&g).is_err(), "bit {bit} accepted");
        }
    }

    /// VID-INT-02: a frame of another stream is rejected, even with a valid tag.
    #[test]
    fn wrong_stream_rejected() {
        let mut o = FrameOpener::new(&secret(), 1, 1);
        assert_eq!(
            o.open(&frame_at(2, 1, 0)),
            Err(VideoError::WrongStream {
                expected: 1,
                got: 2
            })
        );
        assert_eq!(o.stats().wrong_stream, 1);
    }

    /// VID-EPOCH-01: a frame from an older epoch than the current one is rejected.
    #[test]
    fn stale_epoch_rejected() {
        let mut o = FrameOpener::new(&secret(), 1, 4);
        assert_eq!(
            o.open(&frame_at(1, 3, 0)),
            Err(VideoError::StaleEpoch { current: 4, got: 3 })
        );
        assert_eq!(o.stats().stale_epoch, 1);
    }

    /// VID-EPOCH-02: an authentic frame of a newer epoch (the camera restarted) moves the
    /// viewer to that epoch and resets the window; the old epoch is then stale.
    #[test]
    fn newer_epoch_resets_the_window() {
        let mut o = FrameOpener::new(&secret(), 1, 1);
        for seq in 0..100 {
            o.open(&frame_at(1, 1, seq)).unwrap();
        }
        let restarted = o.open(&frame_at(1, 2, 0)).unwrap();
        assert!(restarted.epoch_changed);
        assert_eq!(restarted.lost_before, 0);
        assert_eq!((o.epoch(), o.highest_seq()), (2, Some(0)));
        assert_eq!(o.open(&frame_at(1, 2, 1)).unwrap().lost_before, 0);
        assert!(matches!(
            o.open(&frame_at(1, 1, 100)),
            Err(VideoError::StaleEpoch { current: 2, got: 1 })
        ));
        assert_eq!(o.stats().epoch_changes, 1);
    }

    /// VID-STAT-01: messages for people name the numbers involved.
    #[test]
    fn errors_read_well() {
        let e = VideoError::Reordered { seq: 3, highest: 9 };
        assert_eq!(
            e.to_string(),
            "frame 3 arrived late, after frame 9, and is refused"
        );
        let e = VideoError::BadMagic { got: *b"GE" };
        assert!(e.to_string().contains("[47, 45]"), "{e}");
    }

    proptest! {
        /// VID-HDR-01: any header writes and parses back unchanged.
        #[test]
        fn header_round_trip(
            keyframe: bool,
            codec in proptest::sample::select(Codec::ALL.to_vec()),
            stream_id: u32, epoch: u32, seq: u64, ts: u64,
            ct in proptest::collection::vec(any::<u8>(), TAG_LEN..100),
        ) {
            let h = VideoHeader { keyframe, codec, stream_id, epoch, seq, timestamp: Timestamp::from_micros(ts) };
            let mut buf = Vec::new();
            h.write(ct.len() as u32, &mut buf);
            prop_assert_eq!(buf.len(), HEADER_LEN);
            buf.extend_from_slice(&ct);
            prop_assert_eq!(VideoHeader::parse(&buf), Ok((h, &ct[..])));
            prop_assert_eq!(VideoHeader::frame_len(&buf), Ok(Some(buf.len())));
        }

        /// VID-AEAD-01: any payload, timestamp, flag and codec seal and open unchanged.
        #[test]
        fn seal_open_round_trip(
            payload in proptest::collection::vec(any::<u8>(), 0..2048),
            ts: u64, keyframe: bool,
            codec in proptest::sample::select(Codec::ALL.to_vec()),
            stream_id: u32, epoch: u32,
        ) {
            let mut sealer = FrameSealer::new(&secret(), stream_id, epoch);
            let frame = sealer.seal(Timestamp::from_micros(ts), keyframe, codec, &payload).unwrap();
            prop_assert_eq!(frame.len(), HEADER_LEN + payload.len() + TAG_LEN);
            let opened = FrameOpener::new(&secret(), stream_id, epoch).open(&frame).unwrap();
            prop_assert_eq!(opened.payload, payload);
            prop_assert_eq!(opened.header.timestamp.as_micros(), ts);
            prop_assert_eq!((opened.header.keyframe, opened.header.codec), (keyframe, codec));
        }

        /// VID-INT-01: any single bit flip anywhere in a sealed frame is rejected.
        #[test]
        fn any_bit_flip_rejected(
            payload in proptest::collection::vec(any::<u8>(), 0..256),
            ts: u64, keyframe: bool, epoch in 1u32.., bit: Index,
        ) {
            let mut frame = FrameSealer::new(&secret(), 9, epoch)
                .seal(Timestamp::from_micros(ts), keyframe, Codec::G711A, &payload).unwrap();
            let bit = bit.index(frame.len() * 8);
            frame[bit / 8] ^= 1 << (bit % 8);
            let mut o = FrameOpener::new(&secret(), 9, epoch);
            prop_assert!(o.open(&frame).is_err());
            prop_assert_eq!(o.stats().accepted, 0);
            prop_assert_eq!(o.stats().rejected(), 1);
        }

        /// VID-SEQ-02, VID-SEQ-03, VID-SEQ-04, VID-SEQ-05, VID-SEQ-06, VID-STAT-01: any
        /// delivery order, with duplicates and gaps, is classified exactly as a model
        /// predicts, and every frame bumps exactly one counter.
        #[test]
        fn delivery_order_classified(
            gaps in proptest::collection::vec(prop_oneof![8 => 1u64..3, 1 => 1u64..1200], 1..24),
            order in proptest::collection::vec(any::<Index>(), 0..64),
        ) {
            let seqs: Vec<u64> = gaps.iter().scan(0u64, |s, g| { *s += g; Some(*s) }).collect();
            let frames: Vec<Vec<u8>> = seqs.iter().map(|&s| frame_at(1, 1, s)).collect();
            let mut o = FrameOpener::new(&secret(), 1, 1);
            let mut accepted = BTreeSet::new();
            let mut highest: Option<u64> = None;
            let mut lost = 0;
            for idx in &order {
                let i = idx.index(frames.len());
                let seq = seqs[i];
                let got = o.open(&frames[i]);
                match highest {
                    Some(h) if seq <= h => {
                        let want = if h - seq >= REPLAY_WINDOW {
                            VideoError::TooOld { seq, highest: h, window: REPLAY_WINDOW }
                        } else if accepted.contains(&seq) {
                            VideoError::Replayed { seq }
                        } else {
                            VideoError::Reordered { seq, highest: h }
                        };
                        prop_assert_eq!(got, Err(want));
                    }
                    _ => {
                        let want_lost = highest.map_or(0, |h| seq - h - 1);
                        let opened = got.unwrap();
                        prop_assert_eq!(opened.lost_before, want_lost);
                        prop_assert_eq!(opened.payload, seq.to_be_bytes().to_vec());
                        lost += want_lost;
                        highest = Some(seq);
                        accepted.insert(seq);
                    }
                }
            }
            let st = o.stats();
            prop_assert_eq!(st.accepted, accepted.len() as u64);
            prop_assert_eq!(st.lost, lost);
            prop_assert_eq!(st.accepted + st.rejected(), order.len() as u64);
        }

        /// VID-SEQ-02: the replay bitmap agrees with a set-based model for arbitrary
        /// sequence numbers, including jumps across and within word boundaries.
        #[test]
        fn replay_window_matches_model(
            seqs in proptest::collection::vec(prop_oneof![0u64..200, 0u64..5000, Just(u64::MAX)], 1..300),
        ) {
            let mut w = ReplayWindow::default();
            let mut accepted = BTreeSet::new();
            let mut highest: Option<u64> = None;
            for seq in seqs {
                let got = w.admit(seq);
                let fresh = highest.is_none_or(|h| seq > h);
                if fresh {
                    prop_assert_eq!(got, Ok(highest.map_or(0, |h| seq - h - 1)));
                    highest = Some(seq);
                    accepted.insert(seq);
                } else {
                    let h = highest.unwrap();
                    let replay = accepted.contains(&seq);
                    match got {
                        Err(VideoError::TooOld { .. }) => prop_assert!(h - seq >= REPLAY_WINDOW),
                        Err(VideoError::Replayed { .. }) => prop_assert!(replay && h - seq < REPLAY_WINDOW),
                        Err(VideoError::Reordered { .. }) => prop_assert!(!replay && h - seq < REPLAY_WINDOW),
                        other => prop_assert!(false, "unexpected {:?}", other),
                    }
                }
            }
        }

        /// VID-ERR-01: parsing and opening arbitrary bytes never panics and is counted.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = VideoHeader::parse(&bytes);
            let _ = VideoHeader::frame_len(&bytes);
            let mut o = FrameOpener::new(&secret(), 1, 1);
            prop_assert!(o.open(&bytes).is_err());
            prop_assert_eq!(o.stats().rejected(), 1);
        }

        /// VID-ERR-01: valid frames with arbitrary edits and cuts never panic the decoder.
        #[test]
        fn mutated_frames_never_panic(
            edits in proptest::collection::vec((any::<Index>(), any::<u8>()), 0..6),
            cut: Index,
        ) {
            let mut f = frame_at(1, 1, 3);
            for (at, v) in edits {
                let i = at.index(f.len());
                f[i] = v;
            }
            let cut = cut.index(f.len() + 1);
            let mut o = FrameOpener::new(&secret(), 1, 1);
            let _ = VideoHeader::parse(&f[..cut]);
            let _ = VideoHeader::frame_len(&f[..cut]);
            let _ = o.open(&f[..cut]);
            prop_assert_eq!(o.stats().accepted + o.stats().rejected(), 1);
        }
    }
}
