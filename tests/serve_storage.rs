//! `camproof serve` on a data directory whose store logs are damaged: it refuses to start
//! without a majority of intact replicas, names each file and offset, and rebuilds a
//! replica only when asked to, keeping the damaged directory aside.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `camproof serve` on loopback for `duration` with the data in `data`.
fn serve(data: &Path, duration: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_camproof"))
        .args(["serve", "--listen", "127.0.0.1:0", "--duration", duration])
        .arg("--data")
        .arg(data)
        .args(["--store-port", "17640"])
        .args(extra)
        .env(
            "CAMPROOF_KEY_CACHE",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/keys"),
        )
        .output()
        .expect("camproof serve runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn log(data: &Path, node: u32) -> PathBuf {
    data.join(format!("store-{node}")).join("log")
}

/// Flips the lowest bit of the first record's length field's high byte: the record
/// now claims 16 MiB more than the file holds, as a torn last write would.
fn damage_length(path: &Path) {
    let mut bytes = std::fs::read(path).expect("log");
    assert!(bytes.len() > 8, "{} holds a record", path.display());
    bytes[3] ^= 1;
    std::fs::write(path, bytes).expect("write log");
}

#[test]
fn serve_refuses_two_corrupt_replicas_and_rebuilds_one_only_when_asked() {
    let data = PathBuf::from(concat!(env!("CARGO_TARGET_TMPDIR"), "/serve-corrupt"));
    let _ = std::fs::remove_dir_all(&data);
    let first = serve(&data, "3s", &[]);
    assert!(first.status.success(), "{:?}", text(&first));
    let intact = std::fs::read(log(&data, 2)).expect("replica 2's log");

    // The same bit flipped in two of three logs: refused, each file and offset named.
    damage_length(&log(&data, 1));
    damage_length(&log(&data, 2));
    let refused = serve(&data, "3s", &[]);
    let (out, err) = text(&refused);
    assert_eq!(refused.status.code(), Some(2), "{out}\n{err}");
    assert!(err.contains("store refused to start"), "{err}");
    for node in [1, 2] {
        let at = format!("{} at byte 0: record length", log(&data, node).display());
        assert!(err.contains(&at), "{at:?} in {err}");
    }
    assert!(!out.contains("listening"), "nothing listened: {out}");
    assert!(!out.contains("device records"), "{out}");

    // Rebuilding one of them would copy from a single replica: refused, nothing moved.
    let refused = serve(&data, "3s", &["--rebuild-replica", "1"]);
    let (_, err) = text(&refused);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(err.contains("fewer than a majority"), "{err}");
    assert!(log(&data, 1).exists());

    // One corrupt replica: serve runs on the other two and says it is unhealthy.
    std::fs::write(log(&data, 2), &intact).expect("restore replica 2");
    let degraded = serve(&data, "3s", &[]);
    let (out, err) = text(&degraded);
    assert!(degraded.status.success(), "{out}\n{err}");
    assert!(
        err.contains("unhealthy: 2 of 3 store replicas running"),
        "{err}"
    );
    assert!(err.contains("store-1/log at byte 0"), "{err}");

    // Rebuilt on the operator's word: the damaged directory is kept aside.
    let rebuilt = serve(&data, "3s", &["--rebuild-replica", "1"]);
    let (out, err) = text(&rebuilt);
    assert!(rebuilt.status.success(), "{out}\n{err}");
    assert!(err.contains("rebuilding store replica 1"), "{err}");
    assert!(!err.contains("unhealthy"), "{err}");
    let kept = data.join("store-1.quarantined-1").join("log");
    assert!(kept.exists(), "the damaged log is kept");
    assert!(log(&data, 1).exists(), "replica 1 starts afresh");
}
