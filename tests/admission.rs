//! End to end: `camproof serve`, `relay` and `camera` on loopback enforce their
//! admission limits (issue 21): connections over the per-address cap are closed at once,
//! a handshake that trickles in is cut at the deadline, and a camera from another
//! address still connects.

use std::io::Read;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

mod common;
use common::KEYS;

/// A connection to `to` from the loopback address `from` (Linux answers on all of
/// 127.0.0.0/8, so each test address is its own source).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(to).await
}

/// Whether the server closes `stream` within `bound` (the bound only keeps a broken
/// server from hanging the test).
async fn closed_within(stream: &mut TcpStream, bound: Duration) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match tokio::time::timeout(bound, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[test]
fn serve_caps_an_address_and_cuts_a_slow_handshake_while_cameras_connect() {
    let data = concat!(env!("CARGO_TARGET_TMPDIR"), "/admission-data");
    let _ = std::fs::remove_dir_all(data);
    let common::Running {
        child: mut server,
        addr,
        mut lines,
    } = common::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--duration",
        "12s",
        "--data",
        data,
        "--store-port",
        "17640",
        "--max-per-source",
        "4",
        "--handshake-deadline",
        "2s",
    ]);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (refused, slow_cut) = rt.block_on(async {
        // Seven idle connections from one address: four are admitted, three closed.
        let mut flood = Vec::new();
        for _ in 0..7 {
            flood.push(connect_from([127, 0, 0, 2], addr).await.expect("connect"));
        }
        let mut refused = 0;
        for s in flood.iter_mut().skip(4) {
            if closed_within(s, Duration::from_secs(1)).await {
                refused += 1;
            }
        }
        // A handshake that sends its first bytes and then stalls, from elsewhere.
        let mut slow = connect_from([127, 0, 0, 3], addr).await.expect("connect");
        slow.write_all(&[0, 0, 1]).await.expect("write");
        let slow_cut = closed_within(&mut slow, Duration::from_secs(8)).await;
        (refused, slow_cut)
    });
    assert_eq!(refused, 3, "connections over --max-per-source are closed");
    assert!(slow_cut, "a stalled handshake is closed at the deadline");

    // Real cameras from 127.0.0.1 connect meanwhile.
    let swarm = Command::new(env!("CARGO_BIN_EXE_camproof"))
        .args([
            "swarm",
            "--platform",
            &addr.to_string(),
            "--cameras",
            "3",
            "--duration",
            "3s",
        ])
        .env("CAMPROOF_KEY_CACHE", KEYS)
        .output()
        .expect("swarm runs");
    let swarm_out = String::from_utf8_lossy(&swarm.stdout);
    assert!(swarm.status.success(), "{swarm_out}");
    assert!(
        swarm_out.contains("cameras online   3/3 at the end"),
        "{swarm_out}"
    );

    let status = server.wait().expect("serve exits after --duration");
    assert!(status.success());
    let mut rest = String::new();
    lines.read_to_string(&mut rest).expect("serve output");
    let served = rest
        .lines()
        .find(|l| l.starts_with("served:"))
        .unwrap_or_else(|| panic!("no served line in {rest}"));
    assert!(served.contains("3 refused at accept"), "{served}");
    assert!(served.contains("\"HandshakeDeadline\""), "{served}");
    assert!(served.contains("3 handshakes"), "{served}");
}

/// Two connections from one address to a listener whose `--max-per-source` is 1: the
/// second is closed at once, the first is kept (until the handshake deadline).
async fn second_from_one_address_is_refused(addr: SocketAddr) -> (bool, bool) {
    let mut first = connect_from([127, 0, 0, 4], addr).await.expect("connect");
    let mut second = connect_from([127, 0, 0, 4], addr).await.expect("connect");
    let second_closed = closed_within(&mut second, Duration::from_secs(2)).await;
    let first_closed = closed_within(&mut first, Duration::from_millis(300)).await;
    (second_closed, first_closed)
}

#[test]
fn relay_and_camera_honour_their_admission_flags() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let flags = ["--max-per-source", "1", "--handshake-deadline", "5s"];
    let relay_args = [
        &["relay", "--listen", "127.0.0.1:0", "--duration", "8s"][..],
        &flags[..],
    ]
    .concat();
    let camera_args = [
        &[
            "camera",
            "--netip",
            "127.0.0.1:0",
            "--admin-password",
            "Str0ng-Pass",
            "--duration",
            "8s",
        ][..],
        &flags[..],
    ]
    .concat();
    for args in [relay_args, camera_args] {
        let mut running = common::start(&args);
        let (second_closed, first_closed) =
            rt.block_on(second_from_one_address_is_refused(running.addr));
        let _ = running.child.kill();
        let _ = running.child.wait();
        assert!(
            second_closed,
            "camproof {args:?}: the second connection is refused"
        );
        assert!(!first_closed, "camproof {args:?}: the first is admitted");
    }

    // Flags a firmware profile would not honour are refused, not dropped.
    let out = Command::new(env!("CARGO_BIN_EXE_camproof"))
        .args(["camera", "--profile", "reference", "--max-per-source", "1"])
        .env("CAMPROOF_KEY_CACHE", KEYS)
        .output()
        .expect("camera runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("admission flags"), "{err}");
}
