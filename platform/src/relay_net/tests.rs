//! Socket driver tests: loopback (tokio) and the simulator (turmoil), each bounded in
//! time. No assertion here depends on speed.

use std::time::Duration;

use camproof_protocol::video::{Codec, FrameOpener, FrameSealer, PairingSecret, VideoHeader};
use camproof_protocol::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::*;
use camproof_net::{SimClock, SystemClock};

const LIMIT: Duration = Duration::from_secs(30);

fn secret() -> PairingSecret {
    PairingSecret::from_bytes([5; 32])
}

/// `count` sealed frames of stream `id`, a keyframe every `gop`, `len` payload bytes.
fn frames(id: u32, count: u64, gop: u64, len: usize) -> Vec<Vec<u8>> {
    let mut sealer = FrameSealer::new(&secret(), id, 1);
    let payload = vec![0x5A; len];
    (0..count)
        .map(|i| {
            sealer
                .seal(
                    Timestamp::from_micros(i),
                    i % gop == 0,
                    Codec::H264,
                    &payload,
                )
                .expect("seal")
        })
        .collect()
}

/// Runs `body` on a current-thread runtime inside a `LocalSet`, as the relay runs.
fn local<F: std::future::Future<Output = ()>>(body: F) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        tokio::time::timeout(LIMIT, body)
            .await
            .expect("test took too long");
    });
}

async fn start(config: RelayConfig) -> (RelayNode<SystemClock>, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let node = RelayNode::new(config, SystemClock);
    let server = node.clone();
    tokio::task::spawn_local(async move {
        let _ = server.serve(listener).await;
    });
    (node, addr)
}

async fn viewer(addr: &str, id: u32, rcvbuf: Option<u32>) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    if let Some(size) = rcvbuf {
        socket.set_recv_buffer_size(size).expect("rcvbuf");
    }
    let mut s = socket
        .connect(addr.parse().expect("addr"))
        .await
        .expect("connect");
    s.write_all(&hello(RelayRole::Viewer, id))
        .await
        .expect("hello");
    assert_eq!(s.read_u8().await.expect("status"), ADMITTED);
    let mut ready = [0u8; RelayReady::LEN];
    s.read_exact(&mut ready).await.expect("ready");
    assert_eq!(
        RelayReady::decode(&ready),
        Ok(RelayReady {
            role: RelayRole::Viewer,
            stream_id: id
        })
    );
    s
}

async fn camera(addr: &str, id: u32) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(&hello(RelayRole::Camera, id))
        .await
        .expect("hello");
    assert_eq!(s.read_u8().await.expect("status"), ADMITTED);
    s
}

/// A bare relay's hello: no grant.
fn hello(role: RelayRole, stream_id: u32) -> Vec<u8> {
    RelayHello {
        role,
        stream_id,
        token: &[],
    }
    .encode()
}

/// Reads sealed frames until EOF; returns their bytes.
async fn read_frames<S: AsyncRead + Unpin>(s: &mut S) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    s.read_to_end(&mut all).await.expect("read");
    let mut out = Vec::new();
    let mut rest = &all[..];
    while !rest.is_empty() {
        let len = VideoHeader::frame_len(rest)
            .expect("valid header")
            .expect("whole header");
        assert!(len <= rest.len(), "stream cut inside a frame");
        out.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    out
}

/// Sealed frames cross the relay unchanged, in order, to every viewer, which open them
/// with the pairing secret the relay never had; the core counted them.
#[test]
fn forwards_sealed_frames_over_loopback() {
    local(async {
        // Longer than the test may run: a slow machine must not turn into a timeout.
        let config = RelayConfig {
            max_age: 2 * LIMIT,
            ..RelayConfig::default()
        };
        let (node, addr) = start(config).await;
        let mut a = viewer(&addr, 3, None).await;
        let mut b = viewer(&addr, 3, None).await;
        let sent = frames(3, 200, 25, 30_000);
        let mut cam = camera(&addr, 3).await;
        // Odd write sizes so frames and headers straddle reads.
        let stream: Vec<u8> = sent.concat();
        for piece in stream.chunks(7_777) {
            cam.write_all(piece).await.expect("send");
        }
        drop(cam);
        for v in [&mut a, &mut b] {
            let got = read_frames(v).await;
            assert_eq!(got, sent);
            let mut opener = FrameOpener::new(&secret(), 3, 1);
            for f in &got {
                opener.open(f).expect("authentic");
            }
        }
        let stats = node.stats();
        assert_eq!(stats.frames_in, 200);
        assert_eq!(stats.frames_out, 400);
        assert_eq!(stats.bytes_out, 2 * stream.len() as u64);
        assert_eq!(stats.queued_frames, 0);
        assert_eq!(node.driver_stats().cameras, 1);
        assert_eq!(node.driver_stats().viewers, 2);
    });
}

/// A viewer that does not read never stalls the camera or the other viewer: the fast
/// viewer gets every frame; the slow one, once it reads, sees gaps only before
/// keyframes.
#[test]
fn slow_viewer_stalls_nobody_and_resumes_at_a_keyframe() {
    local(async {
        let config = RelayConfig {
            max_queue_bytes: 512 * 1024,
            max_age: 2 * LIMIT,
            ..RelayConfig::default()
        };
        let (node, addr) = start(config).await;
        let mut fast = viewer(&addr, 8, None).await;
        let mut slow = viewer(&addr, 8, Some(4096)).await;
        let sent = frames(8, 1200, 30, 32 * 1024);
        let fast_reader = tokio::task::spawn_local(async move { read_frames(&mut fast).await });
        let mut cam = camera(&addr, 8).await;
        for f in &sent {
            cam.write_all(f)
                .await
                .expect("camera never blocks for long");
        }
        drop(cam);
        // The camera finished while the slow viewer had read nothing.
        let got = fast_reader.await.expect("fast viewer");
        assert_eq!(got.len(), sent.len());
        let slow_got = read_frames(&mut slow).await;
        assert!(slow_got.len() < sent.len(), "the slow viewer lost frames");
        let headers: Vec<VideoHeader> = slow_got
            .iter()
            .map(|f| VideoHeader::parse(f).expect("header").0)
            .collect();
        assert!(headers[0].keyframe);
        for pair in headers.windows(2) {
            if pair[1].seq != pair[0].seq + 1 {
                assert!(pair[1].keyframe, "resumed mid-GOP at {}", pair[1].seq);
            }
        }
        assert!(node.stats().dropped_overflow > 0);
        assert_eq!(node.stats().queued_bytes, 0);
    });
}

/// A viewer whose socket accepts nothing for `max_age` is disconnected and its queue
/// released: no frame is held longer than the limit.
#[test]
fn stalled_viewer_is_cut_after_max_age() {
    local(async {
        let config = RelayConfig {
            max_age: Duration::from_millis(200),
            ..RelayConfig::default()
        };
        let (node, addr) = start(config).await;
        let _stalled = viewer(&addr, 4, Some(4096)).await;
        let mut cam = camera(&addr, 4).await;
        for f in frames(4, 400, 25, 32 * 1024) {
            cam.write_all(&f).await.expect("send");
        }
        // Keep the camera connected; the viewer's write stalls.
        let mut waited = Duration::ZERO;
        while node.driver_stats().viewers_timed_out == 0 && waited < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += Duration::from_millis(50);
        }
        assert_eq!(node.driver_stats().viewers_timed_out, 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(node.stats().queued_frames, 0);
        assert_eq!(node.stats().queued_bytes, 0);
        drop(cam);
    });
}

/// Bad hellos, a second camera for a stream, and frames of another stream are refused.
#[test]
fn refuses_bad_peers() {
    local(async {
        let (node, addr) = start(RelayConfig::default()).await;
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.expect("write");
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink).await;

        let mut first = camera(&addr, 1).await;
        first
            .write_all(&frames(1, 1, 1, 10)[0])
            .await
            .expect("send");
        let v = viewer(&addr, 1, None).await;
        let mut second = camera(&addr, 1).await;
        let _ = second.read_to_end(&mut sink).await;

        let mut liar = camera(&addr, 2).await;
        liar.write_all(&frames(1, 1, 1, 10)[0]).await.expect("send");
        let _ = liar.read_to_end(&mut sink).await;
        assert_eq!(node.driver_stats().refused, 3);
        drop((first, v));
    });
}

/// The same driver runs inside the deterministic simulator (turmoil), with the same
/// core accounting.
#[test]
fn runs_in_the_simulator() {
    let mut sim = turmoil::Builder::new()
        .rng_seed(7)
        .epoch(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
        .simulation_duration(Duration::from_secs(60))
        .build();
    let stats = Rc::new(Cell::new(RelayStats::default()));
    let seen = stats.clone();
    sim.host("relay", move || {
        let seen = seen.clone();
        async move {
            let listener = turmoil::net::TcpListener::bind("0.0.0.0:7000").await?;
            let node = RelayNode::new(RelayConfig::default(), SimClock);
            let watcher = node.clone();
            tokio::task::spawn_local(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    seen.set(watcher.stats());
                }
            });
            node.serve(listener).await?;
            Ok(())
        }
    });
    let sent = frames(5, 50, 10, 2000);
    let expected = sent.clone();
    sim.client("viewer", async move {
        let mut s = turmoil::net::TcpStream::connect("relay:7000").await?;
        s.write_all(&hello(RelayRole::Viewer, 5)).await?;
        assert_eq!(s.read_u8().await?, ADMITTED);
        let mut ready = [0u8; RelayReady::LEN];
        s.read_exact(&mut ready).await?;
        let got = read_frames(&mut s).await;
        assert_eq!(got, expected);
        Ok(())
    });
    sim.client("camera", async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut s = turmoil::net::TcpStream::connect("relay:7000").await?;
        s.write_all(&hello(RelayRole::Camera, 5)).await?;
        assert_eq!(s.read_u8().await?, ADMITTED);
        for f in &sent {
            s.write_all(f).await?;
        }
        Ok(())
    });
    sim.run().expect("simulation");
    let st = stats.get();
    assert_eq!((st.frames_in, st.frames_out), (50, 50));
}

/// `serve_until` returns once its stop future resolves, and the JSON counters name
/// every core and driver counter with the values the node holds.
#[test]
fn serve_until_stops_and_reports_every_counter() {
    local(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let node = RelayNode::new(RelayConfig::default(), SystemClock);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = node.clone();
        let serving = tokio::task::spawn_local(async move {
            server
                .serve_until(listener, async {
                    let _ = rx.await;
                })
                .await
        });
        let mut cam = camera(&addr, 9).await;
        let sent = frames(9, 3, 1, 1_000);
        cam.write_all(&sent.concat()).await.expect("frames");
        drop(cam);
        while node.stats().frames_in < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tx.send(()).expect("the server waits");
        serving.await.expect("task").expect("served");
        let json = node.stats_json();
        let keys: Vec<&str> = json
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 14, "{keys:?}");
        assert_eq!(json["frames_in"], 3);
        assert_eq!(json["cameras"], 1);
        assert_eq!(json["viewers"], 0);
        assert_eq!(json["reads"], node.driver_stats().reads);
    });
}

/// A standalone relay announces the port it bound, stops when told, and reports a
/// bind failure with the address at fault.
#[test]
fn standalone_relay_announces_stops_and_names_a_bad_address() {
    let mut announced = None;
    let stats = run_standalone(
        "127.0.0.1:0",
        RelayConfig::default(),
        AdmissionLimits::default(),
        Some(LIMIT),
        async {},
        |addr| {
            announced = Some(addr);
            Ok(())
        },
    )
    .expect("runs");
    assert_ne!(announced.map(|a| a.port()), Some(0));
    assert_eq!(stats["frames_in"], 0);
    let err = run_standalone(
        "not an address",
        RelayConfig::default(),
        AdmissionLimits::default(),
        None,
        async {},
        |_| Ok(()),
    )
    .unwrap_err();
    assert!(matches!(err, StandaloneError::Bind { .. }), "{err:?}");
    assert_eq!(err.to_string(), "binding not an address");
}
