//! Fuzzes the video frame decoder and the viewer's state machine
//! (`camproof_protocol::video`).
//!
//! The first byte picks a mode:
//! - even: the rest is a byte stream of frames, cut with `VideoHeader::frame_len`
//!   (bounded chunks when it cannot be cut), each parsed and fed to one viewer;
//! - odd: the rest is a script: a camera with a fixed pairing secret seals frames,
//!   restarts with new epochs, and the frames are delivered dropped, duplicated,
//!   reordered, edited or truncated. The viewer's verdicts are checked against what
//!   was actually sent: nothing altered or replayed is accepted, accepted frames are
//!   strictly increasing, and a fresh in-order frame is never refused.
#![no_main]

use std::collections::BTreeSet;

use camproof_protocol::video::{
    Codec, FrameOpener, FrameSealer, PairingSecret, VideoHeader, HEADER_LEN,
};
use camproof_protocol::Timestamp;
use libfuzzer_sys::fuzz_target;

const STREAM: u32 = 7;
const MAX_OPS: usize = 512;

fn secret() -> PairingSecret {
    PairingSecret::from_bytes([0x5A; 32])
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        raw_frames(rest);
    } else {
        script(rest);
    }
});

fn raw_frames(mut data: &[u8]) {
    let mut viewer = FrameOpener::new(&secret(), STREAM, 1);
    let _ = VideoHeader::parse(data);
    let _ = viewer.open(data);
    let mut fed = 1u64;
    while !data.is_empty() {
        let len = match VideoHeader::frame_len(data) {
            Ok(Some(len)) if len <= data.len() => len,
            Ok(None) => data.len(),
            Ok(Some(_)) | Err(_) => data.len().min(HEADER_LEN + 64),
        };
        let (frame, tail) = data.split_at(len);
        if let Ok((header, ciphertext)) = VideoHeader::parse(frame) {
            assert_eq!(HEADER_LEN + ciphertext.len(), frame.len());
            assert_eq!(VideoHeader::frame_len(frame), Ok(Some(frame.len())));
            let _ = (header.seq, header.codec.is_audio());
        }
        if let Ok(opened) = viewer.open(frame) {
            assert_eq!(opened.header.stream_id, STREAM);
            assert!(opened.header.epoch >= 1);
        }
        fed += 1;
        data = tail;
    }
    let stats = viewer.stats();
    assert_eq!(stats.accepted + stats.rejected(), fed);
}

/// One frame the camera sealed.
struct Sent {
    frame: Vec<u8>,
    epoch: u32,
    seq: u64,
    payload: Vec<u8>,
}

fn script(data: &[u8]) {
    let secret = secret();
    let mut epoch = 1u32;
    let mut camera = FrameSealer::new(&secret, STREAM, epoch);
    let mut viewer = FrameOpener::new(&secret, STREAM, epoch);
    let mut sent: Vec<Sent> = Vec::new();
    let mut accepted: BTreeSet<(u32, u64)> = BTreeSet::new();
    let mut last: Option<(u32, u64)> = None;
    let mut deliveries = 0u64;
    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next();
    let mut ts = 1_700_000_000_000_000u64;

    for _ in 0..MAX_OPS {
        let Some(op) = next() else { break };
        let arg = next().unwrap_or(0);
        match op % 8 {
            // Seal the next frame; deliver it at once (0, 1) or drop it (2).
            0..=2 => {
                ts += 33_333;
                let payload = vec![arg; usize::from(arg)];
                let codec = Codec::ALL[usize::from(op >> 3) % Codec::ALL.len()];
                let Ok(frame) =
                    camera.seal(Timestamp::from_micros(ts), arg & 1 == 1, codec, &payload)
                else {
                    break;
                };
                let (header, _) = VideoHeader::parse(&frame).expect("own frame parses");
                sent.push(Sent {
                    frame,
                    epoch: header.epoch,
                    seq: header.seq,
                    payload,
                });
                if op % 8 < 2 {
                    let i = sent.len() - 1;
                    let fresh = deliver(&mut viewer, &sent[i], &mut accepted, &mut last);
                    deliveries += 1;
                    // The newest frame of the newest epoch, delivered at once, is accepted.
                    assert!(fresh, "fresh in-order frame refused");
                }
            }
            // Deliver an earlier frame again: a duplicate or a late frame.
            3 | 4 => {
                if !sent.is_empty() {
                    let i = usize::from(arg) % sent.len();
                    deliver(&mut viewer, &sent[i], &mut accepted, &mut last);
                    deliveries += 1;
                }
            }
            // Deliver an earlier frame with one byte changed: never accepted.
            5 => {
                if let Some(s) = pick(&sent, arg) {
                    let mut frame = s.frame.clone();
                    let at = usize::from(next().unwrap_or(0)) * 7 % frame.len();
                    frame[at] ^= next().unwrap_or(0) | 1;
                    assert!(viewer.open(&frame).is_err(), "edited frame accepted");
                    deliveries += 1;
                }
            }
            // Deliver a truncated or extended frame: never accepted.
            6 => {
                if let Some(s) = pick(&sent, arg) {
                    let mut frame = s.frame.clone();
                    if arg & 1 == 0 {
                        frame.truncate(usize::from(next().unwrap_or(0)) % frame.len());
                    } else {
                        frame.push(arg);
                    }
                    assert!(viewer.open(&frame).is_err(), "cut frame accepted");
                    deliveries += 1;
                }
            }
            // The camera restarts its stream with a newer epoch.
            _ => {
                epoch = epoch.saturating_add(1 + u32::from(arg % 3));
                camera = FrameSealer::new(&secret, STREAM, epoch);
            }
        }
    }
    let stats = viewer.stats();
    assert_eq!(stats.accepted + stats.rejected(), deliveries);
    assert_eq!(stats.accepted, accepted.len() as u64);
}

fn pick(sent: &[Sent], arg: u8) -> Option<&Sent> {
    if sent.is_empty() {
        None
    } else {
        sent.get(usize::from(arg) % sent.len())
    }
}

/// Delivers an authentic frame; returns whether it was accepted, checking that only
/// new, strictly increasing frames are, with their own payload.
fn deliver(
    viewer: &mut FrameOpener,
    s: &Sent,
    accepted: &mut BTreeSet<(u32, u64)>,
    last: &mut Option<(u32, u64)>,
) -> bool {
    let key = (s.epoch, s.seq);
    match viewer.open(&s.frame) {
        Ok(opened) => {
            assert_eq!(opened.payload, s.payload);
            assert!(accepted.insert(key), "replay accepted: {key:?}");
            assert!(last.is_none_or(|l| key > l), "late frame accepted: {key:?}");
            *last = Some(key);
            true
        }
        Err(_) => {
            assert!(
                accepted.contains(&key) || last.is_some_and(|l| key < l),
                "fresh frame {key:?} refused"
            );
            false
        }
    }
}
