//! Logs of the real binary: `RUST_LOG` turns them on, a simulated run stamps them with
//! simulated time, a run without `RUST_LOG` prints nothing more than before, and no log
//! line at any level holds a password or its hash.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use camproof_protocol::netip::{sofia_hash, LoginRequest, PacketDecoder, Reply, Request, Ret};

const KEYS: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/keys");

/// Logs in once over NETIP at `addr` on a fresh connection; returns the reply's code.
fn netip_login(addr: &str, user: &str, password: &str) -> Ret {
    let mut stream = TcpStream::connect(addr).expect("the camera's NETIP port answers");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("a read timeout");
    let login = Request::Login(LoginRequest::new(user, password));
    let packet = login.to_packet(0, 1).expect("a login packet");
    stream.write_all(&packet.encode()).expect("login sent");
    let mut decoder = PacketDecoder::default();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(reply) = decoder.poll_packet() {
            let reply = reply.expect("a NETIP packet");
            match Reply::decode(reply.message_id(), reply.payload()) {
                Ok(Reply::Login(r)) => return r.ret,
                other => panic!("not a login reply: {other:?}"),
            }
        }
        let n = stream.read(&mut buf).expect("the camera answers");
        assert!(n > 0, "the camera closed the connection without answering");
        decoder.handle_bytes(&buf[..n]);
    }
}

/// The secrets of [`camera_logs_logins_and_never_a_password`]; a test of the test below
/// plants one of them in a log line.
const PASSWORD: &str = "S3cret-Pa55word!";
const WRONG: &str = "Wr0ng-Guess-77";

/// Which of the secrets (a password, or its Sofia hash, which NETIP accepts in place
/// of the password) appear in `log`.
fn secrets_in(log: &str) -> Vec<String> {
    [PASSWORD, WRONG]
        .iter()
        .flat_map(|p| [p.to_string(), sofia_hash(p)])
        .filter(|s| log.contains(s.as_str()))
        .collect()
}

#[test]
fn the_secret_check_catches_a_password_or_its_hash() {
    assert!(secrets_in("INFO login accepted user=\"admin\"").is_empty());
    let leaked = format!("DEBUG configured password={PASSWORD}");
    assert_eq!(secrets_in(&leaked), [PASSWORD]);
    let hashed = format!("TRACE request PassWord={}", sofia_hash(WRONG));
    assert_eq!(secrets_in(&hashed), [sofia_hash(WRONG)]);
}

/// `camproof camera` with `RUST_LOG=trace`: a refused and an accepted NETIP login are
/// logged with the user name, and neither password nor hash is logged at any level.
#[test]
fn camera_logs_logins_and_never_a_password() {
    let mut camera = Command::new(env!("CARGO_BIN_EXE_camproof"))
        .args([
            "camera",
            "--netip",
            "127.0.0.1:0",
            "--admin-password",
            PASSWORD,
            "--duration",
            "3s",
        ])
        .env("CAMPROOF_KEY_CACHE", KEYS)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("camera starts");
    let mut stderr = camera.stderr.take().expect("stderr");
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut lines = BufReader::new(camera.stdout.take().expect("stdout"));
    let mut first = String::new();
    lines
        .read_line(&mut first)
        .expect("camera prints its address");
    let addr = first
        .split_whitespace()
        .find(|w| w.starts_with("127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .trim_end_matches(',')
        .to_string();

    assert_ne!(netip_login(&addr, "admin", WRONG), Ret::Ok);
    assert_eq!(netip_login(&addr, "admin", PASSWORD), Ret::Ok);

    let status = camera.wait().expect("camera exits after --duration");
    assert!(status.success());
    let log = log.join().expect("stderr read");
    assert!(
        log.lines()
            .any(|l| l.contains("login refused") && l.contains("user=\"admin\"")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("login accepted") && l.contains("user=\"admin\"")),
        "{log}"
    );
    assert!(log.contains("netip{peer=127.0.0.1:"), "{log}");
    assert_eq!(secrets_in(&log), Vec::<String>::new(), "{log}");
}

fn run_zone_split(rust_log: Option<&str>) -> Output {
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/zone-split.toml");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_camproof"));
    cmd.args(["run", scenario, "--duration", "25s", "--no-wire-scan"])
        .env("CAMPROOF_KEY_CACHE", KEYS)
        .env_remove("RUST_LOG");
    if let Some(filter) = rust_log {
        cmd.env("RUST_LOG", filter);
    }
    let out = cmd.output().expect("the camproof binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A simulated run logs with simulated time, faults included; without `RUST_LOG` it
/// logs nothing, and what it prints is the same either way.
#[test]
fn a_simulated_run_logs_in_simulated_time_and_only_when_asked() {
    let logged = run_zone_split(Some("camproof=info"));
    let log = String::from_utf8_lossy(&logged.stderr);
    // The crash at 5 s, stamped with simulated time (the world's step is not a host).
    let crash = log
        .lines()
        .find(|l| l.contains("fault applied") && l.contains("Crash(\"site-eu-africa-0\")"))
        .unwrap_or_else(|| panic!("no crash fault line in:\n{log}"));
    assert!(crash.starts_with("sim+5.000000s "), "{crash}");
    assert!(crash.contains(" world{seed=1}: "), "{crash}");
    // Events inside hosts carry simulated time too, never the date.
    let handshake = log
        .lines()
        .find(|l| l.contains("handshake done"))
        .unwrap_or_else(|| panic!("no handshake line in:\n{log}"));
    assert!(handshake.starts_with("sim+"), "{handshake}");
    assert!(log.lines().all(|l| l.starts_with("sim+")), "{log}");

    let quiet = run_zone_split(None);
    assert_eq!(String::from_utf8_lossy(&quiet.stderr), "");
    // Logging changes nothing in the simulation: same trace hash.
    assert_eq!(trace_line(&quiet), trace_line(&logged));
}

fn trace_line(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .find(|l| l.trim_start().starts_with("trace"))
        .unwrap_or_else(|| panic!("no trace line in {}", String::from_utf8_lossy(&o.stdout)))
        .to_string()
}
