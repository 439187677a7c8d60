//! Protocol-core benchmarks: CDP/1 record seal and open, E2E video frame seal and open,
//! full and resumed handshakes, NETIP decoding.
//!
//! `cargo bench --bench protocol`; compare the seal/open figures with
//! `openssl speed -evp aes-256-gcm` on the same machine.
// Benchmarks measure the host, so they may read its clock.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use camproof_protocol::cdp::{
    ClientConfig, ClientConnection, Event, ServerConfig, ServerConnection, ServerContext,
};
use camproof_protocol::netip::media::{FrameKind, MediaFrame, MediaPacketizer, MediaReassembler};
use camproof_protocol::netip::{LoginRequest, PacketDecoder, Request, MAX_PAYLOAD};
use camproof_protocol::pki::{DeviceCredentials, PkiOptions, TestPki};
use camproof_protocol::video::{Codec, FrameOpener, FrameSealer, PairingSecret};
use camproof_protocol::Timestamp;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

const SIZES: [usize; 3] = [1024, 16 * 1024, 64 * 1024];

struct Setup {
    client_cfg: Arc<ClientConfig>,
    server_cfg: Arc<ServerConfig>,
    creds: Arc<DeviceCredentials>,
    pki: TestPki,
}

fn setup() -> Setup {
    let pki = TestPki::generate(1, &PkiOptions::fast_for_tests());
    Setup {
        client_cfg: Arc::new(ClientConfig::new(pki.trust_store())),
        server_cfg: Arc::new(ServerConfig::new(pki.server("gw", 0))),
        creds: Arc::new(pki.device(1)),
        pki,
    }
}

fn now() -> Timestamp {
    Timestamp::from_secs(1_800_000_000)
}

/// An established (camera, gateway, context) triple.
fn established(
    s: &Setup,
    rng: &mut ChaCha8Rng,
) -> (ClientConnection, ServerConnection, ServerContext) {
    let mut ctx = ServerContext::new(s.pki.trust_store());
    let mut cam = ClientConnection::connect(s.client_cfg.clone(), s.creds.clone(), now(), rng);
    let mut gw = ServerConnection::new(s.server_cfg.clone(), rng);
    handshake(&mut cam, &mut gw, &mut ctx);
    (cam, gw, ctx)
}

fn handshake(cam: &mut ClientConnection, gw: &mut ServerConnection, ctx: &mut ServerContext) {
    let mut buf = Vec::new();
    for _ in 0..3 {
        cam.poll_transmit(&mut buf);
        gw.handle_bytes(now(), &buf, ctx).expect("gateway");
        buf.clear();
        gw.poll_transmit(&mut buf);
        cam.handle_bytes(now(), &buf).expect("camera");
        buf.clear();
    }
    assert!(matches!(cam.poll_event(), Some(Event::Connected { .. })));
    while gw.poll_event().is_some() {}
}

fn cdp_records(c: &mut Criterion) {
    let s = setup();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut group = c.benchmark_group("cdp_record");
    for size in SIZES {
        let payload = vec![0xA5u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        let (mut cam, _gw, _ctx) = established(&s, &mut rng);
        let mut out = Vec::with_capacity(size + 64);
        group.bench_function(format!("seal/{}KiB", size / 1024), |b| {
            b.iter(|| {
                cam.send(black_box(&payload)).expect("send");
                out.clear();
                cam.poll_transmit(&mut out);
                black_box(&out);
            })
        });
        group.bench_function(format!("open/{}KiB", size / 1024), |b| {
            b.iter_custom(|iters| {
                let (mut cam, mut gw, mut ctx) = established(&s, &mut rng);
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(128);
                    let mut wire = Vec::new();
                    for _ in 0..n {
                        cam.send(&payload).expect("send");
                    }
                    cam.poll_transmit(&mut wire);
                    let start = Instant::now();
                    gw.handle_bytes(now(), &wire, &mut ctx).expect("open");
                    while let Some(ev) = gw.poll_event() {
                        black_box(ev);
                    }
                    total += start.elapsed();
                    left -= n;
                }
                total
            })
        });
    }
    group.finish();
}

fn video_frames(c: &mut Criterion) {
    let secret = PairingSecret::from_bytes([9; 32]);
    let mut group = c.benchmark_group("video_frame");
    for size in SIZES {
        let payload = vec![0x5Au8; size];
        group.throughput(Throughput::Bytes(size as u64));
        let mut sealer = FrameSealer::new(&secret, 1, 1);
        let mut out = Vec::with_capacity(size + 64);
        group.bench_function(format!("seal/{}KiB", size / 1024), |b| {
            b.iter(|| {
                out.clear();
                sealer
                    .seal_into(now(), false, Codec::H264, black_box(&payload), &mut out)
                    .expect("seal");
                black_box(&out);
            })
        });
        group.bench_function(format!("open/{}KiB", size / 1024), |b| {
            b.iter_batched(
                || {
                    let mut sealer = FrameSealer::new(&secret, 1, 1);
                    let frame = sealer
                        .seal(now(), false, Codec::H264, &payload)
                        .expect("seal");
                    (FrameOpener::new(&secret, 1, 1), frame)
                },
                |(mut opener, frame)| black_box(opener.open(&frame).expect("open")),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn handshakes(c: &mut Criterion) {
    let s = setup();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut group = c.benchmark_group("cdp_handshake");
    group.sample_size(20);
    group.bench_function("full_both_sides", |b| {
        let mut ctx = ServerContext::new(s.pki.trust_store());
        b.iter(|| {
            let mut cam =
                ClientConnection::connect(s.client_cfg.clone(), s.creds.clone(), now(), &mut rng);
            let mut gw = ServerConnection::new(s.server_cfg.clone(), &mut rng);
            handshake(&mut cam, &mut gw, &mut ctx);
        })
    });
    group.bench_function("resumed_both_sides", |b| {
        let (mut cam, _gw, mut ctx) = established(&s, &mut rng);
        let mut ticket = cam.take_ticket().expect("ticket");
        b.iter(|| {
            let mut cam = ClientConnection::resume(
                s.client_cfg.clone(),
                s.creds.clone(),
                ticket.clone(),
                now(),
                &mut rng,
            );
            let mut gw = ServerConnection::new(s.server_cfg.clone(), &mut rng);
            handshake(&mut cam, &mut gw, &mut ctx);
            ticket = cam.take_ticket().expect("ticket");
        })
    });
    group.finish();
}

fn netip(c: &mut Criterion) {
    let mut group = c.benchmark_group("netip_decode");
    let login = Request::Login(LoginRequest::new("admin", "123456"))
        .to_packet(0, 1)
        .expect("login packet")
        .encode();
    let stream: Vec<u8> = login
        .iter()
        .copied()
        .cycle()
        .take(login.len() * 100)
        .collect();
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function("login_requests_x100", |b| {
        b.iter(|| {
            let mut d = PacketDecoder::new(MAX_PAYLOAD);
            d.handle_bytes(black_box(&stream));
            let mut n = 0;
            while let Some(p) = d.poll_packet() {
                let p = p.expect("packet");
                black_box(Request::from_packet(&p).expect("login"));
                n += 1;
            }
            assert_eq!(n, 100);
        })
    });
    let frame = MediaFrame {
        kind: FrameKind::PFrame,
        data: vec![0x11; 64 * 1024],
    };
    let packets = MediaPacketizer::new(1, 0)
        .packetize(&frame)
        .expect("packetize");
    let payloads: Vec<Vec<u8>> = packets.iter().map(|p| p.payload().to_vec()).collect();
    group.throughput(Throughput::Bytes(64 * 1024));
    group.bench_function("media_reassembly/64KiB", |b| {
        b.iter(|| {
            let mut r = MediaReassembler::new(4 * 1024 * 1024);
            for p in &payloads {
                r.handle_payload(black_box(p));
            }
            black_box(r.poll_frame().expect("frame").expect("ok"));
        })
    });
    group.finish();
}

criterion_group!(benches, cdp_records, video_frames, handshakes, netip);
criterion_main!(benches);
