//! The on-disk backend: round trip, torn tail, corruption, disk full, compaction, and
//! three replicas on loopback that are stopped and started again (as `serve` restarts).

use std::collections::BTreeMap;
use std::time::Duration;

use camproof_net::{SystemClock, TokioNet};
use camproof_platform::accounts::Region;
use camproof_platform::store::{
    Backend, BackendError, Command, DiskBackend, DiskFault, History, NodeId, OpId, Proposal,
    Replica, ReplicaConfig, Residency, StoreClient, StoreTypes,
};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Vote};

fn entry(term: u64, index: u64, key: &str, value: &[u8]) -> Entry<StoreTypes> {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
        payload: EntryPayload::Normal(Proposal {
            op: OpId {
                client: 1,
                seq: index,
            },
            cmd: Command::Put {
                key: key.into(),
                value: value.to_vec(),
            },
        }),
    }
}

fn open(dir: &std::path::Path) -> DiskBackend {
    DiskBackend::open(dir, DiskFault::new()).unwrap()
}

#[test]
fn round_trip_truncate_and_purge_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = open(dir.path());
    assert!(
        b.recover().unwrap().entries.is_empty(),
        "empty dir, empty store"
    );
    b.save_vote(&Vote::new(3, 2)).unwrap();
    b.append(&[entry(3, 1, "a", b"1"), entry(3, 2, "b", b"2")])
        .unwrap();
    b.append(&[entry(3, 3, "c", b"3")]).unwrap();
    b.save_committed(Some(LogId::new(CommittedLeaderId::new(3, 1), 2)))
        .unwrap();
    b.truncate_since(3).unwrap();
    b.append(&[entry(4, 3, "c", b"33")]).unwrap();
    drop(b);

    let rec = open(dir.path()).recover().unwrap();
    assert_eq!(rec.vote, Some(Vote::new(3, 2)));
    assert_eq!(rec.entries.len(), 3);
    assert_eq!(
        rec.entries[&3].log_id.leader_id.term, 4,
        "truncated suffix replaced"
    );
    assert_eq!(rec.committed.map(|c| c.index), Some(2));
    assert_eq!(rec.dropped_bytes, 0);

    let mut b = open(dir.path());
    b.recover().unwrap();
    b.purge_upto(LogId::new(CommittedLeaderId::new(3, 1), 2))
        .unwrap();
    let rec = open(dir.path()).recover().unwrap();
    assert_eq!(rec.entries.keys().copied().collect::<Vec<_>>(), [3]);
    assert_eq!(rec.purged.map(|p| p.index), Some(2));
    assert_eq!(rec.vote, Some(Vote::new(3, 2)), "compaction keeps the vote");
}

#[test]
fn compaction_removes_purged_values_from_the_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = open(dir.path());
    b.recover().unwrap();
    b.append(&[entry(1, 1, "accounts/user/alice/p", b"alice-secret")])
        .unwrap();
    b.append(&[entry(1, 2, "accounts/user/bob/p", b"bob-data")])
        .unwrap();
    let log = std::fs::read(b.log_path()).unwrap();
    assert!(String::from_utf8_lossy(&log).contains("alice"));
    b.purge_upto(LogId::new(CommittedLeaderId::new(1, 1), 1))
        .unwrap();
    let log = std::fs::read(b.log_path()).unwrap();
    let text = String::from_utf8_lossy(&log);
    assert!(
        !text.contains("alice"),
        "purged entry still in the log file"
    );
    assert!(text.contains("bob"));
}

#[test]
fn a_torn_tail_is_truncated_and_the_log_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = open(dir.path());
    b.recover().unwrap();
    for i in 1..=3 {
        b.append(&[entry(1, i, "k", b"v")]).unwrap();
    }
    let path = b.log_path();
    drop(b);
    // A crash in the middle of the last write: its bytes are only partly on disk.
    let full = std::fs::read(&path).unwrap();
    std::fs::write(&path, &full[..full.len() - 5]).unwrap();

    let mut b = open(dir.path());
    let rec = b.recover().unwrap();
    assert_eq!(
        rec.entries.len(),
        2,
        "the torn record is dropped, the rest kept"
    );
    assert!(rec.dropped_bytes > 0);
    assert!(std::fs::metadata(&path).unwrap().len() < full.len() as u64 - 5);
    b.append(&[entry(1, 3, "k", b"again")]).unwrap();
    let rec = open(dir.path()).recover().unwrap();
    assert_eq!(rec.entries.len(), 3);
    assert_eq!(rec.dropped_bytes, 0);
}

#[test]
fn corruption_is_a_typed_error_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = open(dir.path());
    b.recover().unwrap();
    for i in 1..=3 {
        b.append(&[entry(1, i, "k", b"v")]).unwrap();
    }
    let path = b.log_path();
    let last = std::fs::metadata(&path).unwrap().len() as usize;
    b.append(&[entry(1, 4, "k", b"v")]).unwrap();
    drop(b);
    let good = std::fs::read(&path).unwrap();
    // A flipped byte in the first record (records follow it): corruption.
    let mut bad = good.clone();
    bad[12] ^= 0x40;
    std::fs::write(&path, &bad).unwrap();
    match open(dir.path()).recover() {
        Err(BackendError::Corrupt { offset: 0, .. }) => {}
        other => panic!("expected corruption at offset 0, got {other:?}"),
    }
    // Every single-byte flip and every truncation gives Ok or a typed error.
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] = bad[i].wrapping_add(1);
        std::fs::write(&path, &bad).unwrap();
        let got = open(dir.path()).recover();
        if i < last {
            // Before the last record nothing is a torn write: never silent.
            match got {
                Err(BackendError::Corrupt { path: p, .. }) => {
                    assert_eq!(p, path.display().to_string())
                }
                other => panic!("flip at byte {i}: expected corruption, got {other:?}"),
            }
        }
        std::fs::write(&path, &good[..i]).unwrap();
        assert!(
            open(dir.path()).recover().is_ok(),
            "a prefix is a torn tail"
        );
    }
    // A snapshot file that is garbage: typed error.
    std::fs::write(&path, &good).unwrap();
    std::fs::write(dir.path().join("snapshot"), b"garbage").unwrap();
    assert!(matches!(
        open(dir.path()).recover(),
        Err(BackendError::Corrupt { .. })
    ));
}

#[test]
fn disk_full_is_a_typed_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fault = DiskFault::new();
    let mut b = DiskBackend::open(dir.path(), fault.clone()).unwrap();
    b.recover().unwrap();
    b.append(&[entry(1, 1, "k", b"v")]).unwrap();
    fault.set_full(true);
    assert!(matches!(
        b.append(&[entry(1, 2, "k", b"w")]),
        Err(BackendError::DiskFull { .. })
    ));
    assert!(matches!(
        b.save_vote(&Vote::new(2, 1)),
        Err(BackendError::DiskFull { .. })
    ));
    fault.set_full(false);
    let rec = open(dir.path()).recover().unwrap();
    assert_eq!(rec.entries.len(), 1);
    assert_eq!(rec.vote, None);
}

fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Runs three on-disk replicas on loopback in a fresh runtime, then `body` as a client.
fn with_loopback_region<F, Fut>(dirs: &[std::path::PathBuf], ports: &[u16], body: F)
where
    F: FnOnce(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let members: BTreeMap<NodeId, String> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| (i as NodeId + 1, format!("127.0.0.1:{p}")))
        .collect();
    local.block_on(&rt, async {
        for (i, dir) in dirs.iter().enumerate() {
            let node = i as NodeId + 1;
            let cfg =
                ReplicaConfig::new(Region::Apac, node, members[&node].clone(), members.clone());
            let r = Replica::on_disk(cfg, dir, DiskFault::new(), History::new());
            tokio::task::spawn_local(async move { r.run(TokioNet, SystemClock).await });
        }
        let addrs = members.values().cloned().collect();
        tokio::time::timeout(Duration::from_secs(30), body(addrs))
            .await
            .expect("loopback region timed out");
    });
    // Dropping the runtime ends every replica task: a process exit.
}

#[test]
fn three_replicas_on_disk_stop_and_restart_without_losing_a_write() {
    let root = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = (1..=3).map(|i| root.path().join(format!("r{i}"))).collect();
    let ports = free_ports(3);
    let home = Residency::Home(Region::Apac);
    with_loopback_region(&dirs, &ports, |addrs| async move {
        let mut c = StoreClient::new(TokioNet, Region::Apac, addrs, 1);
        for i in 0..20 {
            c.put(
                &format!("ota/report/{i}"),
                format!("r{i}").into_bytes(),
                home,
            )
            .await
            .unwrap();
        }
    });
    with_loopback_region(&dirs, &ports, |addrs| async move {
        let mut c = StoreClient::new(TokioNet, Region::Apac, addrs, 2);
        let all = c.scan_prefix("ota/report/").await.unwrap();
        assert_eq!(all.len(), 20, "every acknowledged write survives a restart");
        assert_eq!(c.get("ota/report/7").await.unwrap(), Some(b"r7".to_vec()));
    });
}

#[test]
fn a_log_removed_under_a_running_replica_fails_its_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = open(dir.path());
    b.recover().unwrap();
    b.append(&[entry(1, 1, "k", b"v")]).unwrap();
    std::fs::remove_file(b.log_path()).unwrap();
    match b.append(&[entry(1, 2, "k", b"w")]) {
        Err(BackendError::Io { path, .. }) => {
            assert_eq!(path, b.log_path().display().to_string())
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
}
