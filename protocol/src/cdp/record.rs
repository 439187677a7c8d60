//! CDP/1 key schedule and record protection.
//!
//! A record frame body is `epoch (u32) | sequence (u64) | AES-256-GCM(ciphertext | tag)`.
//! The nonce is the epoch's IV XOR the sequence number, so a nonce never repeats while
//! sequence numbers only grow and every epoch has its own key. The frame type, epoch and
//! sequence are the additional data. The plaintext ends with one content-type byte.

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::cdp::frame::{FrameType, MAX_RECORD_PAYLOAD};
use crate::cdp::{CdpError, LocalError, PeerMisbehaved};
use crate::wire::Writer;

/// Bytes of record header inside the frame body: epoch and sequence.
pub const RECORD_HEADER_LEN: usize = 12;
/// Bytes of the AES-GCM tag.
pub const TAG_LEN: usize = 16;

/// What a record carries, as its last plaintext byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// Application data.
    Application,
    /// The sender switches to the next epoch's keys after this record.
    KeyUpdate,
    /// A resumption ticket from the platform.
    Ticket,
    /// The sender closes the connection.
    Close,
}

impl ContentType {
    fn to_byte(self) -> u8 {
        match self {
            ContentType::Application => 0,
            ContentType::KeyUpdate => 1,
            ContentType::Ticket => 2,
            ContentType::Close => 3,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0 => ContentType::Application,
            1 => ContentType::KeyUpdate,
            2 => ContentType::Ticket,
            3 => ContentType::Close,
            _ => return None,
        })
    }
}

/// HKDF-Expand with a `cdp1 ` label; lengths used here never exceed HKDF's limit.
pub(crate) fn expand<const N: usize>(prk: &Hkdf<Sha256>, label: &str) -> Zeroizing<[u8; N]> {
    let mut out = Zeroizing::new([0u8; N]);
    let mut info = b"cdp1 ".to_vec();
    info.extend_from_slice(label.as_bytes());
    // Only fails for outputs over 255 * 32 bytes.
    let _ = prk.expand(&info, out.as_mut());
    out
}

/// Secrets a handshake produces.
pub(crate) struct SessionSecrets {
    pub client_to_server: Zeroizing<[u8; 32]>,
    pub server_to_client: Zeroizing<[u8; 32]>,
    pub resumption: Zeroizing<[u8; 32]>,
}

impl SessionSecrets {
    /// Derives the session secrets from the key-agreement input and the transcript hash.
    pub fn derive(ikm: &[u8], transcript_hash: &[u8; 32]) -> Self {
        let prk = Hkdf::<Sha256>::new(Some(transcript_hash), ikm);
        SessionSecrets {
            client_to_server: expand(&prk, "c2s traffic"),
            server_to_client: expand(&prk, "s2c traffic"),
            resumption: expand(&prk, "resumption"),
        }
    }
}

/// One direction's keys for one epoch.
struct EpochKeys {
    secret: Zeroizing<[u8; 32]>,
    cipher: Aes256Gcm,
    iv: Zeroizing<[u8; 12]>,
}

impl EpochKeys {
    fn new(secret: Zeroizing<[u8; 32]>) -> Self {
        let prk = Hkdf::<Sha256>::from_prk(secret.as_ref()).unwrap_or_else(|_| {
            // A 32-byte PRK is always long enough; keep a total fallback anyway.
            Hkdf::<Sha256>::new(None, secret.as_ref())
        });
        let key: Zeroizing<[u8; 32]> = expand(&prk, "key");
        let iv = expand(&prk, "iv");
        EpochKeys {
            cipher: Aes256Gcm::new(key.as_ref().into()),
            iv,
            secret,
        }
    }

    fn next(&self) -> Self {
        let prk = Hkdf::<Sha256>::from_prk(self.secret.as_ref())
            .unwrap_or_else(|_| Hkdf::<Sha256>::new(None, self.secret.as_ref()));
        EpochKeys::new(expand(&prk, "update"))
    }

    fn nonce(&self, seq: u64) -> [u8; 12] {
        let mut nonce = *self.iv;
        for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
            *n ^= s;
        }
        nonce
    }
}

/// Bytes to reserve for a record frame whose body is `body_len` bytes long. Only an
/// allocation hint: no output depends on it, so its mutants are equivalent and listed as
/// such in `.cargo/mutants.toml`.
fn reserve_hint(body_len: usize) -> usize {
    4 + 1 + body_len
}

fn aad(epoch: u32, seq: u64) -> [u8; 13] {
    let mut a = [0u8; 13];
    a[0] = FrameType::Record.to_byte();
    a[1..5].copy_from_slice(&epoch.to_be_bytes());
    a[5..].copy_from_slice(&seq.to_be_bytes());
    a
}

/// Seals outgoing records for one direction.
pub(crate) struct Sealer {
    keys: EpochKeys,
    epoch: u32,
    seq: u64,
    rekey_after: u64,
    /// Never advance the sequence, so every record reuses one nonce (a flawed sender).
    pub reuse_nonces: bool,
}

impl Sealer {
    pub fn new(secret: Zeroizing<[u8; 32]>, rekey_after: u64) -> Self {
        Sealer {
            keys: EpochKeys::new(secret),
            epoch: 0,
            seq: 0,
            rekey_after: rekey_after.max(1),
            reuse_nonces: false,
        }
    }

    /// The current epoch.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Whether the next record must first announce a key update.
    pub fn needs_rekey(&self) -> bool {
        self.seq >= self.rekey_after
    }

    /// Appends a record frame carrying `data` to `out`; after a `KeyUpdate` record the
    /// sealer moves to the next epoch.
    pub fn seal(
        &mut self,
        content: ContentType,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CdpError> {
        if data.len() > MAX_RECORD_PAYLOAD {
            return Err(LocalError::PayloadTooLarge {
                len: data.len(),
                max: MAX_RECORD_PAYLOAD,
            }
            .into());
        }
        let seq = self.seq;
        if !self.reuse_nonces {
            self.seq = self
                .seq
                .checked_add(1)
                .ok_or(LocalError::SequenceExhausted)?;
        }
        let body_len = RECORD_HEADER_LEN + data.len() + 1 + TAG_LEN;
        out.reserve(reserve_hint(body_len));
        out.put_u32((1 + body_len) as u32);
        out.push(FrameType::Record.to_byte());
        out.put_u32(self.epoch);
        out.put_u64(seq);
        let start = out.len();
        out.extend_from_slice(data);
        out.push(content.to_byte());
        let nonce = self.keys.nonce(seq);
        let tag = self
            .keys
            .cipher
            .encrypt_in_place_detached(
                Nonce::from_slice(&nonce),
                &aad(self.epoch, seq),
                &mut out[start..],
            )
            .map_err(|_| LocalError::PayloadTooLarge {
                len: data.len(),
                max: MAX_RECORD_PAYLOAD,
            })?;
        out.extend_from_slice(&tag);
        if content == ContentType::KeyUpdate {
            self.advance_epoch()?;
        }
        Ok(())
    }

    /// Moves to the next epoch's keys, sequence 0. Done after sealing a `KeyUpdate`;
    /// done alone it leaves the peer behind (what a certification harness does on
    /// purpose to send a record from a future epoch).
    pub fn advance_epoch(&mut self) -> Result<(), CdpError> {
        self.epoch = self
            .epoch
            .checked_add(1)
            .ok_or(LocalError::SequenceExhausted)?;
        self.keys = self.keys.next();
        self.seq = 0;
        Ok(())
    }
}

/// Most epochs a flawed receiver with `accept_future_epochs` derives forward in one
/// record: bounds the work a record can cause even in flawed firmware.
const MAX_EPOCH_CATCH_UP: u32 = 16;

/// Opens incoming records for one direction, refusing anything out of sequence.
pub(crate) struct Opener {
    keys: EpochKeys,
    epoch: u32,
    next_seq: u64,
    /// Accept any sequence at or above the expected one (a flawed receiver for tests).
    pub skip_replay_check: bool,
    /// Accept a record from a later epoch by deriving that epoch's keys, without the
    /// KeyUpdate that moves there (a flawed receiver for tests).
    pub accept_future_epochs: bool,
    /// Accept a record above the next expected sequence number of the current epoch,
    /// losing the skipped ones unnoticed; replays are still refused (a flawed receiver
    /// for tests).
    pub accept_skipped_seq: bool,
}

impl Opener {
    pub fn new(secret: Zeroizing<[u8; 32]>) -> Self {
        Opener {
            keys: EpochKeys::new(secret),
            epoch: 0,
            next_seq: 0,
            skip_replay_check: false,
            accept_future_epochs: false,
            accept_skipped_seq: false,
        }
    }

    /// The current epoch.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Opens a record frame body; on success returns its content type and payload.
    #[cfg(test)]
    pub fn open(&mut self, body: &[u8]) -> Result<(ContentType, Vec<u8>), CdpError> {
        self.open_owned(body.to_vec())
    }

    /// Opens a record frame body in place (no copy of the payload); on success returns
    /// its content type and payload.
    pub fn open_owned(&mut self, mut body: Vec<u8>) -> Result<(ContentType, Vec<u8>), CdpError> {
        if body.len() < RECORD_HEADER_LEN + 1 + TAG_LEN {
            return Err(PeerMisbehaved::TruncatedRecord { len: body.len() }.into());
        }
        let mut epoch_bytes = [0u8; 4];
        epoch_bytes.copy_from_slice(&body[..4]);
        let epoch = u32::from_be_bytes(epoch_bytes);
        let mut seq_bytes = [0u8; 8];
        seq_bytes.copy_from_slice(&body[4..12]);
        let seq = u64::from_be_bytes(seq_bytes);
        let replayed = epoch < self.epoch || (epoch == self.epoch && seq < self.next_seq);
        if replayed && !self.skip_replay_check {
            return Err(PeerMisbehaved::ReplayedRecord {
                epoch,
                seq,
                expected_epoch: self.epoch,
                expected_seq: self.next_seq,
            }
            .into());
        }
        let reordered = PeerMisbehaved::ReorderedRecord {
            epoch,
            seq,
            expected_epoch: self.epoch,
            expected_seq: self.next_seq,
        };
        // Keys of a later epoch, derived only by a flawed receiver.
        let mut ahead = None;
        if epoch > self.epoch {
            let steps = epoch - self.epoch;
            if !self.accept_future_epochs || steps > MAX_EPOCH_CATCH_UP {
                return Err(reordered.into());
            }
            let mut keys = self.keys.next();
            for _ in 1..steps {
                keys = keys.next();
            }
            ahead = Some(keys);
        } else if epoch == self.epoch && seq > self.next_seq && !self.accept_skipped_seq {
            return Err(reordered.into());
        }
        let keys = ahead.as_ref().unwrap_or(&self.keys);
        let tag_at = body.len() - TAG_LEN;
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&body[tag_at..]);
        let nonce = keys.nonce(seq);
        keys.cipher
            .decrypt_in_place_detached(
                Nonce::from_slice(&nonce),
                &aad(epoch, seq),
                &mut body[RECORD_HEADER_LEN..tag_at],
                Tag::from_slice(&tag),
            )
            .map_err(|_| PeerMisbehaved::TamperedRecord { epoch, seq })?;
        if let Some(keys) = ahead {
            self.keys = keys;
            self.epoch = epoch;
        }
        body.truncate(tag_at);
        body.drain(..RECORD_HEADER_LEN);
        let mut plain = body;
        let content = plain
            .pop()
            .and_then(ContentType::from_byte)
            .ok_or(PeerMisbehaved::UnknownContentType)?;
        self.next_seq = seq.saturating_add(1);
        if content == ContentType::KeyUpdate {
            self.epoch = self.epoch.saturating_add(1);
            self.keys = self.keys.next();
            self.next_seq = 0;
        }
        Ok((content, plain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pair(rekey_after: u64) -> (Sealer, Opener) {
        let secret = Zeroizing::new([7u8; 32]);
        (
            Sealer::new(secret.clone(), rekey_after),
            Opener::new(secret),
        )
    }

    fn body(frame: &[u8]) -> &[u8] {
        &frame[5..]
    }

    fn seal_one(s: &mut Sealer, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        s.seal(ContentType::Application, data, &mut out).unwrap();
        out
    }

    /// CDP-REC-01: the record nonce is the IV XOR the sequence number; the layout and the
    /// ciphertext are pinned (a change of key schedule or layout fails here).
    #[test]
    fn cdp_rec_01_known_answer() {
        let (mut s, _) = pair(1000);
        let frame = seal_one(&mut s, b"hello");
        assert_eq!(frame.len(), 4 + 1 + 12 + 5 + 1 + 16);
        assert_eq!(&frame[..5], &[0, 0, 0, 35, 0x17]);
        assert_eq!(&frame[5..17], &[0; 12]);
        assert_eq!(
            hex::encode(&frame[17..]),
            KNOWN_RECORD_HEX,
            "record encryption changed"
        );
        let k = EpochKeys::new(Zeroizing::new([7u8; 32]));
        let n0 = k.nonce(0);
        let n1 = k.nonce(0x0102);
        assert_eq!(n0[..10], n1[..10]);
        assert_eq!(n0[10] ^ n1[10], 0x01);
        assert_eq!(n0[11] ^ n1[11], 0x02);
    }

    /// Computed independently of this crate (Python `cryptography`: HKDF-Expand of the
    /// labels "cdp1 key"/"cdp1 iv" from PRK 07×32, AES-256-GCM over "hello" || 0x00 with
    /// AAD 17 || epoch 0 || seq 0).
    const KNOWN_RECORD_HEX: &str = "e534908159031d4f19124ca8a9f158e85a3871d1a77e";

    /// CDP-REC-02: a replayed record is refused with `ReplayedRecord`.
    #[test]
    fn cdp_rec_02_replay_refused() {
        let (mut s, mut o) = pair(1000);
        let f = seal_one(&mut s, b"one");
        assert_eq!(
            o.open(body(&f)).unwrap(),
            (ContentType::Application, b"one".to_vec())
        );
        assert!(matches!(
            o.open(body(&f)),
            Err(CdpError::PeerMisbehaved(PeerMisbehaved::ReplayedRecord {
                seq: 0,
                expected_seq: 1,
                ..
            }))
        ));
    }

    /// CDP-REC-03: a record ahead of the expected sequence is refused with `ReorderedRecord`.
    #[test]
    fn cdp_rec_03_reorder_refused() {
        let (mut s, mut o) = pair(1000);
        let _first = seal_one(&mut s, b"one");
        let second = seal_one(&mut s, b"two");
        assert!(matches!(
            o.open(body(&second)),
            Err(CdpError::PeerMisbehaved(PeerMisbehaved::ReorderedRecord {
                seq: 1,
                expected_seq: 0,
                ..
            }))
        ));
    }

    /// CDP-REC-04: a record too short to hold header and tag is refused with `TruncatedRecord`.
    #[test]
    fn cdp_rec_04_truncated_refused() {
        let (mut s, mut o) = pair(1000);
        let f = seal_one(&mut s, b"");
        assert!(matches!(
            o.open(&body(&f)[..body(&f).len() - 1]),
            Err(CdpError::PeerMisbehaved(
                PeerMisbehaved::TruncatedRecord { .. }
            ))
        ));
    }

    /// CDP-REC-05: an edited ciphertext, tag or header is refused with `TamperedRecord`.
    #[test]
    fn cdp_rec_05_tamper_refused() {
        let (mut s, mut o) = pair(1000);
        let f = seal_one(&mut s, b"payload!");
        let mut b = body(&f).to_vec();
        // Cut a byte of ciphertext: length consistent, content not.
        b.remove(13);
        assert!(matches!(
            o.open(&b),
            Err(CdpError::PeerMisbehaved(
                PeerMisbehaved::TamperedRecord { .. }
            ))
        ));
        assert_eq!(o.open(body(&f)).unwrap().1, b"payload!");
    }

    /// CDP-REC-06: after `rekey_after` records the sender announces a key update and both
    /// sides move to the next epoch's keys; old-epoch records are then replays.
    #[test]
    fn cdp_rec_06_rekey() {
        let (mut s, mut o) = pair(2);
        let a = seal_one(&mut s, b"a");
        let b = seal_one(&mut s, b"b");
        assert!(s.needs_rekey());
        let mut ku = Vec::new();
        s.seal(ContentType::KeyUpdate, &[], &mut ku).unwrap();
        assert_eq!(s.epoch(), 1);
        let c = seal_one(&mut s, b"c");
        assert_eq!(&c[5..9], &[0, 0, 0, 1]);
        o.open(body(&a)).unwrap();
        o.open(body(&b)).unwrap();
        assert_eq!(o.open(body(&ku)).unwrap().0, ContentType::KeyUpdate);
        assert_eq!(o.epoch(), 1);
        assert_eq!(o.open(body(&c)).unwrap().1, b"c");
        assert!(matches!(
            o.open(body(&b)),
            Err(CdpError::PeerMisbehaved(PeerMisbehaved::ReplayedRecord {
                epoch: 0,
                ..
            }))
        ));
        // The epochs use different keys: an epoch-0 ciphertext relabelled as epoch 1 fails.
        let mut forged = body(&a).to_vec();
        forged[..12].copy_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert!(matches!(
            o.open(&forged),
            Err(CdpError::PeerMisbehaved(
                PeerMisbehaved::TamperedRecord { .. }
            ))
        ));
    }

    /// Seals `plain || content` under `keys` with an arbitrary header: what a sender who
    /// holds the keys, but does not follow the sequence, could put on the wire.
    fn forge(keys: &EpochKeys, epoch: u32, seq: u64, plain: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&epoch.to_be_bytes());
        body.extend_from_slice(&seq.to_be_bytes());
        let mut ct = plain.to_vec();
        ct.push(ContentType::Application.to_byte());
        let tag = keys
            .cipher
            .encrypt_in_place_detached(
                Nonce::from_slice(&keys.nonce(seq)),
                &aad(epoch, seq),
                &mut ct,
            )
            .unwrap();
        body.extend_from_slice(&ct);
        body.extend_from_slice(&tag);
        body
    }

    fn reordered(r: Result<(ContentType, Vec<u8>), CdpError>, epoch: u32, seq: u64) -> bool {
        matches!(
            r,
            Err(CdpError::PeerMisbehaved(PeerMisbehaved::ReorderedRecord {
                epoch: e,
                seq: s,
                expected_epoch: 0,
                expected_seq: 0,
            })) if e == epoch && s == seq
        )
    }

    /// CDP-REC-03, CDP-REC-06: a record from a future epoch is refused as reordered before
    /// it is opened, whether it is sealed under that epoch's key (a sender who skipped the
    /// KeyUpdate) or under the current key (only the epoch check can refuse it: its tag
    /// verifies); and the receiver stays where it was.
    #[test]
    fn cdp_rec_03_future_epoch_refused() {
        let keys = EpochKeys::new(Zeroizing::new([7u8; 32]));
        let (_, mut o) = pair(1000);
        assert!(reordered(o.open(&forge(&keys.next(), 1, 0, b"x")), 1, 0));
        assert!(reordered(o.open(&forge(&keys, 1, 0, b"x")), 1, 0));
        assert!(reordered(
            o.open(&forge(&keys, u32::MAX, 0, b"x")),
            u32::MAX,
            0
        ));
        assert_eq!(o.epoch(), 0);
        // The same bytes labelled with the current epoch open: the forgery is well formed.
        assert_eq!(o.open(&forge(&keys, 0, 0, b"x")).unwrap().1, b"x");
    }

    /// CDP-REC-03: a correctly sealed record that skips a sequence number is refused, and
    /// the expected one still opens afterwards.
    #[test]
    fn cdp_rec_03_skipped_seq_refused() {
        let keys = EpochKeys::new(Zeroizing::new([7u8; 32]));
        let (_, mut o) = pair(1000);
        assert!(reordered(o.open(&forge(&keys, 0, 1, b"x")), 0, 1));
        assert!(reordered(
            o.open(&forge(&keys, 0, u64::MAX, b"x")),
            0,
            u64::MAX
        ));
        assert_eq!(o.open(&forge(&keys, 0, 0, b"y")).unwrap().1, b"y");
    }

    /// CDP-REC-04: the shortest record (header, content type, tag) opens; one byte less is
    /// refused as truncated before anything is decrypted.
    #[test]
    fn cdp_rec_04_length_boundary() {
        let (mut s, mut o) = pair(1000);
        let f = seal_one(&mut s, b"");
        let b = body(&f);
        assert_eq!(b.len(), RECORD_HEADER_LEN + 1 + TAG_LEN);
        assert!(matches!(
            o.open(&b[..b.len() - 1]),
            Err(CdpError::PeerMisbehaved(PeerMisbehaved::TruncatedRecord { len })) if len == b.len() - 1
        ));
        assert_eq!(o.open(b).unwrap(), (ContentType::Application, Vec::new()));
    }

    /// CDP-REC-01: a key update moves the sender to the next epoch's keys and restarts its
    /// sequence at 0; the records of the new epoch are sealed under the derived key.
    #[test]
    fn cdp_rec_06_new_epoch_keys_and_sequence() {
        let (mut s, _) = pair(1);
        let _a = seal_one(&mut s, b"a");
        let mut ku = Vec::new();
        s.seal(ContentType::KeyUpdate, &[], &mut ku).unwrap();
        assert_eq!(&ku[5..17], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let c = seal_one(&mut s, b"c");
        assert_eq!(&c[5..17], &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        let next = EpochKeys::new(Zeroizing::new([7u8; 32])).next();
        assert_eq!(body(&c), &forge(&next, 1, 0, b"c")[..]);
    }

    /// Flaw `accept_future_epochs` (profile `accept-future-epoch`): the flawed receiver
    /// derives the next epoch's keys and opens a record the reference refuses as
    /// reordered (CDP-REC-03); a record under the current key labelled with the next
    /// epoch still fails its tag.
    #[test]
    fn flaw_accept_future_epochs_is_observable() {
        let keys = EpochKeys::new(Zeroizing::new([7u8; 32]));
        let (_, mut flawed) = pair(1000);
        flawed.accept_future_epochs = true;
        assert!(matches!(
            flawed.open(&forge(&keys, 1, 0, b"x")),
            Err(CdpError::PeerMisbehaved(
                PeerMisbehaved::TamperedRecord { .. }
            ))
        ));
        assert_eq!(flawed.epoch(), 0);
        assert_eq!(
            flawed.open(&forge(&keys.next(), 1, 0, b"x")).unwrap().1,
            b"x"
        );
        assert_eq!(flawed.epoch(), 1);
        let (mut s, _) = pair(1000);
        s.advance_epoch().unwrap();
        assert_eq!(
            seal_one(&mut s, b"x")[5..17],
            [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    /// Flaw `accept_skipped_seq` (profile `accept-skipped-seq`): the flawed receiver opens
    /// a record that skips a sequence number (CDP-REC-03) yet still refuses a replay
    /// (CDP-REC-02).
    #[test]
    fn flaw_accept_skipped_seq_is_observable() {
        let (mut s, _) = pair(1000);
        let a = seal_one(&mut s, b"a");
        let b = seal_one(&mut s, b"b");
        let (_, mut flawed) = pair(1000);
        flawed.accept_skipped_seq = true;
        assert_eq!(flawed.open(body(&b)).unwrap().1, b"b".to_vec());
        assert!(matches!(
            flawed.open(body(&a)),
            Err(CdpError::PeerMisbehaved(
                PeerMisbehaved::ReplayedRecord { .. }
            ))
        ));
    }

    #[test]
    fn oversized_payload_refused_locally() {
        let (mut s, _) = pair(10);
        let mut out = Vec::new();
        assert!(matches!(
            s.seal(
                ContentType::Application,
                &vec![0; MAX_RECORD_PAYLOAD + 1],
                &mut out
            ),
            Err(CdpError::Local(LocalError::PayloadTooLarge { .. }))
        ));
        s.seal(
            ContentType::Application,
            &vec![0; MAX_RECORD_PAYLOAD],
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), 4 + crate::cdp::frame::MAX_FRAME_LEN);
    }

    proptest! {
        /// CDP-REC-01: any payloads seal and open in order, across rekeys.
        #[test]
        fn cdp_rec_01_round_trip(payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..20), rekey in 1u64..6) {
            let (mut s, mut o) = pair(rekey);
            for p in &payloads {
                let mut out = Vec::new();
                if s.needs_rekey() {
                    s.seal(ContentType::KeyUpdate, &[], &mut out).unwrap();
                }
                s.seal(ContentType::Application, p, &mut out).unwrap();
                let mut d = crate::cdp::frame::FrameDecoder::new(crate::cdp::frame::MAX_FRAME_LEN);
                d.push(&out);
                let mut got = None;
                while let Some(f) = d.next_frame().unwrap() {
                    let (ct, data) = o.open(&f.body).unwrap();
                    if ct == ContentType::Application { got = Some(data); }
                }
                prop_assert_eq!(got.as_deref(), Some(&p[..]));
            }
        }

        /// CDP-REC-05: flipping any bit of a record is detected.
        #[test]
        fn cdp_rec_05_any_bit_flip_refused(payload in prop::collection::vec(any::<u8>(), 0..64), bit in 0usize..10_000) {
            let (mut s, mut o) = pair(100);
            let f = seal_one(&mut s, &payload);
            let mut b = body(&f).to_vec();
            let bit = bit % (b.len() * 8);
            b[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(o.open(&b).is_err());
        }
    }
}
