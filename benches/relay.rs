//! Relay benchmarks: the in-memory forwarding path (deframe, queue, batch) for 1 and 100
//! viewers, and video frame seal/open with RustCrypto `aes-gcm` against `ring` on the
//! same bytes (same key, nonce and header as AAD), and through `FrameSealer` and
//! `FrameOpener` themselves (which use `ring` since this comparison).
//!
//! `cargo bench --bench relay`. The socket path is measured by `camproof bench relay`.
// Benchmarks measure the host, so they may read its clock.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::Aes256Gcm;
use bytes::Bytes;
use camproof_platform::relay::{Deframer, Relay, RelayConfig};
use camproof_protocol::video::{
    Codec, FrameOpener, FrameSealer, PairingSecret, HEADER_LEN, KDF_LABEL, TAG_LEN,
};
use camproof_protocol::Timestamp;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use hkdf::Hkdf;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use sha2::Sha256;

const SIZES: [usize; 3] = [1024, 16 * 1024, 64 * 1024];

fn now() -> Timestamp {
    Timestamp::from_secs(1_800_000_000)
}

fn secret() -> PairingSecret {
    PairingSecret::from_bytes([9; 32])
}

/// About 4 MiB of sealed frames (GOP of 30: a 128 KiB keyframe, 24 KiB frames), cut
/// into 256 KiB reads as the socket driver sees them.
fn stream_reads() -> (Vec<Bytes>, usize) {
    let mut sealer = FrameSealer::new(&secret(), 1, 1);
    let mut all = Vec::new();
    for i in 0..150 {
        let len = if i % 30 == 0 { 128 * 1024 } else { 24 * 1024 };
        all.extend(
            sealer
                .seal(now(), i % 30 == 0, Codec::H264, &vec![0x11; len])
                .expect("seal"),
        );
    }
    let total = all.len();
    let all = Bytes::from(all);
    let reads = (0..total)
        .step_by(256 * 1024)
        .map(|at| all.slice(at..(at + 256 * 1024).min(total)))
        .collect();
    (reads, total)
}

fn forwarding(c: &mut Criterion) {
    let (reads, total) = stream_reads();
    let mut g = c.benchmark_group("relay forward (deframe, queue, batch)");
    for viewers in [1usize, 100] {
        g.throughput(Throughput::Bytes((total * viewers) as u64));
        g.bench_function(
            format!("1 camera → {viewers} viewers, bytes delivered"),
            |b| {
                b.iter_batched(
                    || {
                        let mut relay = Relay::new(RelayConfig {
                            max_queue_bytes: 64 << 20,
                            max_queue_frames: 4096,
                            ..RelayConfig::default()
                        });
                        let ids: Vec<_> = (0..viewers).map(|_| relay.subscribe(1)).collect();
                        (relay, ids)
                    },
                    |(mut relay, ids)| {
                        let mut deframer = Deframer::new();
                        let mut frames = Vec::new();
                        let mut batch = Vec::new();
                        for read in &reads {
                            deframer
                                .handle_bytes(now(), read.clone(), &mut frames)
                                .expect("valid stream");
                            for f in frames.drain(..) {
                                relay.handle_sealed(f);
                            }
                            for &v in &ids {
                                batch.clear();
                                relay
                                    .poll_batch(v, now(), 256, 1 << 20, &mut batch)
                                    .expect("viewer");
                                black_box(&batch);
                            }
                        }
                        relay
                    },
                    BatchSize::SmallInput,
                );
            },
        );
    }
    g.finish();
}

/// ring's AES-256-GCM keyed exactly as `FrameSealer` keys a (stream, epoch): HKDF-SHA256
/// of the pairing secret, 32 key bytes then a 4-byte nonce salt.
fn ring_key(stream_id: u32, epoch: u32) -> (LessSafeKey, Aes256Gcm, [u8; 4]) {
    let mut info = KDF_LABEL.to_vec();
    info.extend_from_slice(&stream_id.to_be_bytes());
    info.extend_from_slice(&epoch.to_be_bytes());
    let mut okm = [0u8; 36];
    Hkdf::<Sha256>::new(None, secret().expose_secret())
        .expand(&info, &mut okm)
        .expect("36 bytes");
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &okm[..32]).expect("key"));
    let rc = Aes256Gcm::new_from_slice(&okm[..32]).expect("key");
    let mut salt = [0u8; 4];
    salt.copy_from_slice(&okm[32..]);
    (key, rc, salt)
}

fn nonce_bytes(salt: [u8; 4], seq: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&salt);
    n[4..].copy_from_slice(&seq.to_be_bytes());
    n
}

/// Seals `frame`'s payload in place with RustCrypto (header = AAD); returns the tag.
fn rc_seal(key: &Aes256Gcm, salt: [u8; 4], seq: u64, frame: &mut [u8]) -> [u8; TAG_LEN] {
    let (aad, body) = frame.split_at_mut(HEADER_LEN);
    let tag = key
        .encrypt_in_place_detached(&nonce_bytes(salt, seq).into(), aad, body)
        .expect("seal");
    tag.into()
}

fn nonce(salt: [u8; 4], seq: u64) -> Nonce {
    Nonce::assume_unique_for_key(nonce_bytes(salt, seq))
}

/// Seals `frame`'s payload in place with ring (header = AAD); returns the tag.
fn ring_seal(key: &LessSafeKey, salt: [u8; 4], seq: u64, frame: &mut [u8]) -> [u8; TAG_LEN] {
    let (aad, body) = frame.split_at_mut(HEADER_LEN);
    let tag = key
        .seal_in_place_separate_tag(nonce(salt, seq), Aad::from(&aad[..]), body)
        .expect("seal");
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(tag.as_ref());
    out
}

fn seal_open(c: &mut Criterion) {
    let (key, rc, salt) = ring_key(1, 1);
    // Same key, same nonce, same AAD: both backends produce FrameSealer's bytes.
    for &len in &SIZES {
        let frame = FrameSealer::new(&secret(), 1, 1)
            .seal(now(), true, Codec::H264, &vec![0x42; len])
            .expect("seal");
        for use_ring in [true, false] {
            let mut mine = frame[..frame.len() - TAG_LEN].to_vec();
            mine[HEADER_LEN..].fill(0x42);
            let tag = if use_ring {
                ring_seal(&key, salt, 0, &mut mine)
            } else {
                rc_seal(&rc, salt, 0, &mut mine)
            };
            mine.extend_from_slice(&tag);
            assert_eq!(
                mine, frame,
                "backend (ring {use_ring}) differs at {len} bytes"
            );
        }
    }

    let mut g = c.benchmark_group("video frame seal");
    for &len in &SIZES {
        g.throughput(Throughput::Bytes(len as u64));
        let payload = vec![0x42; len];
        let mut sealer = FrameSealer::new(&secret(), 1, 1);
        let mut out = Vec::with_capacity(len + 64);
        g.bench_function(format!("FrameSealer {len}"), |b| {
            b.iter(|| {
                out.clear();
                sealer
                    .seal_into(now(), false, Codec::H264, black_box(&payload), &mut out)
                    .expect("seal");
            });
        });
        let template = FrameSealer::new(&secret(), 1, 1)
            .seal(now(), false, Codec::H264, &payload)
            .expect("seal");
        let mut buf = template[..template.len() - TAG_LEN].to_vec();
        let mut seq = 0u64;
        g.bench_function(format!("aes-gcm {len}"), |b| {
            b.iter(|| {
                buf[HEADER_LEN..].copy_from_slice(black_box(&payload));
                seq += 1;
                black_box(rc_seal(&rc, salt, seq, &mut buf));
            });
        });
        g.bench_function(format!("ring {len}"), |b| {
            b.iter(|| {
                buf[HEADER_LEN..].copy_from_slice(black_box(&payload));
                seq += 1;
                black_box(ring_seal(&key, salt, seq, &mut buf));
            });
        });
    }
    g.finish();

    let mut g = c.benchmark_group("video frame open");
    for &len in &SIZES {
        g.throughput(Throughput::Bytes(len as u64));
        let frame = FrameSealer::new(&secret(), 1, 1)
            .seal(now(), false, Codec::H264, &vec![0x42; len])
            .expect("seal");
        g.bench_function(format!("FrameOpener {len}"), |b| {
            b.iter_batched(
                || FrameOpener::new(&secret(), 1, 1),
                |mut o| o.open(black_box(&frame)).expect("open"),
                BatchSize::SmallInput,
            );
        });
        let mut buf = frame.clone();
        g.bench_function(format!("aes-gcm {len}"), |b| {
            b.iter(|| {
                buf.copy_from_slice(&frame);
                let (aad, rest) = buf.split_at_mut(HEADER_LEN);
                let (body, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
                let tag: [u8; TAG_LEN] = (&*tag).try_into().expect("tag");
                rc.decrypt_in_place_detached(&nonce_bytes(salt, 0).into(), aad, body, &tag.into())
                    .expect("open");
                black_box(body.len());
            });
        });
        g.bench_function(format!("ring {len}"), |b| {
            b.iter(|| {
                buf.copy_from_slice(&frame);
                let (aad, body) = buf.split_at_mut(HEADER_LEN);
                let plain = key
                    .open_in_place(nonce(salt, 0), Aad::from(&aad[..]), body)
                    .expect("open");
                black_box(plain.len());
            });
        });
    }
    g.finish();
}

criterion_group!(benches, forwarding, seal_open);
criterion_main!(benches);
