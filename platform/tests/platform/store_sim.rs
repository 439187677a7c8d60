//! The replicated store under turmoil: elections, failover, partitions, restarts,
//! residency, erasure, disk full and determinism, with both checkers after every run.

use std::time::Duration;

use crate::store_support::*;
use camproof_net::SimNet;
use camproof_platform::accounts::Region;
use camproof_platform::store::{
    check_no_acked_write_lost, check_one_leader_per_term, Command, PlantedBugs, Residency,
    StoreClient, StoreError, StoreEvent,
};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

fn assert_safe(c: &Cluster) {
    check_no_acked_write_lost(&c.history).unwrap();
    check_one_leader_per_term(&c.history).unwrap();
}

/// Every replica holds the same keyspace, and it contains every acknowledged write.
fn assert_converged(c: &Cluster, acked: &[(String, Vec<u8>)]) {
    let ks = keyspaces(c);
    for (i, k) in ks.iter().enumerate() {
        assert!(
            k == &ks[0],
            "replica {} holds {} keys, replica 1 {}",
            i + 1,
            k.len(),
            ks[0].len()
        );
    }
    for (key, value) in acked {
        assert_eq!(ks[0].get(key), Some(value), "acknowledged {key} missing");
    }
}

#[test]
fn elects_one_leader_and_replicates_every_acknowledged_write() {
    let mut sim = sim(1, 60);
    let c = cluster(&mut sim, 1, PlantedBugs::default());
    let out = writer(&mut sim, "svc", 1, 40, ms(20), secs(1));
    finish(&mut sim);
    let acked = acked(&out);
    assert_eq!(acked.len(), 40, "no fault, every write acknowledged");
    assert_eq!(c.history.leaders().len(), 1, "one election, one leader");
    assert_safe(&c);
    assert_converged(&c, &acked);
    // Acked only after commit: the leader applied (so a majority had stored) each
    // acknowledged index before it answered. The majority itself is shown by
    // `a_write_needs_two_zones_one_zone_left_cannot_ack`.
    for ack in c.history.acks() {
        let StoreEvent::Ack {
            index: Some(i), at, ..
        } = ack
        else {
            panic!("ack without index")
        };
        let applied_before: usize = c
            .history
            .events()
            .iter()
            .filter(|e| matches!(e, StoreEvent::Applied { index, at: t, .. } if *index == i && *t <= at))
            .count();
        assert!(
            applied_before >= 1,
            "the leader applied index {i} before acking"
        );
    }
}

#[test]
fn a_write_needs_two_zones_one_zone_left_cannot_ack() {
    let mut sim = sim(2, 120);
    let c = cluster(&mut sim, 2, PlantedBugs::default());
    let out = writer(&mut sim, "svc", 1, 25, ms(200), secs(1));
    step_until(&mut sim, secs(2));
    // One zone down: the other two still form a majority.
    let (_, l) = leader(&c.history).unwrap();
    let follower = (1..=3).find(|n| *n != l).unwrap();
    sim.crash(host(follower));
    step_until(&mut sim, secs(4));
    let acked_with_two = acked(&out).len();
    // Two zones down: nothing can be acknowledged any more.
    let other = (1..=3).find(|n| *n != l && *n != follower).unwrap();
    sim.crash(host(other));
    let cut = now(&sim);
    finish(&mut sim);
    assert!(acked_with_two >= 15, "writes continue with 2 of 3 zones");
    let late_acks = c
        .history
        .acks()
        .into_iter()
        .filter(|e| matches!(e, StoreEvent::Ack { at, .. } if *at > cut.saturating_add(Duration::from_millis(50))))
        .count();
    assert_eq!(late_acks, 0, "a single zone acknowledged a write");
    let failed = out.borrow().iter().filter(|(_, _, r)| r.is_err()).count();
    assert!(failed > 0, "writes after losing the majority fail");
    assert_safe(&c);
}

#[test]
fn leader_crash_fails_over_within_bound_and_loses_no_acked_write() {
    let mut sim = sim(3, 60);
    let c = cluster(&mut sim, 3, PlantedBugs::default());
    let out = writer(&mut sim, "svc", 1, 200, ms(50), secs(2));
    step_until(&mut sim, secs(3));
    let (term, old) = leader(&c.history).unwrap();
    let crashed_at = now(&sim);
    sim.crash(host(old));
    step_until(&mut sim, secs(8));
    let (new_term, new, at) = first_leader_after(&c.history, crashed_at).expect("no new leader");
    assert!(new_term > term && new != old);
    let failover = at.saturating_since(crashed_at);
    assert!(failover < secs(2), "failover took {failover:?}");
    sim.bounce(host(old));
    finish(&mut sim);
    let acked = acked(&out);
    assert!(
        acked.len() >= 180,
        "only {} of 200 acknowledged",
        acked.len()
    );
    assert_safe(&c);
    assert_converged(&c, &acked);
}

#[test]
fn partitioned_leader_cannot_ack_majority_elects_heal_steps_down() {
    let mut sim = sim(4, 60);
    let c = cluster(&mut sim, 4, PlantedBugs::default());
    let out = writer(&mut sim, "svc", 1, 150, ms(50), secs(3));
    step_until(&mut sim, secs(2));
    let (term, old) = leader(&c.history).unwrap();
    let cut = now(&sim);
    for n in (1..=3).filter(|n| *n != old) {
        sim.partition(host(old), host(n));
    }
    step_until(&mut sim, secs(8));
    // The minority leader acknowledged nothing after the cut (allow in-flight commits
    // one round trip old).
    let minority_acks = c
        .history
        .acks()
        .into_iter()
        .filter(|e| matches!(e, StoreEvent::Ack { node, at, .. } if *node == old && *at > cut.saturating_add(Duration::from_millis(20))))
        .count();
    assert_eq!(minority_acks, 0, "minority leader acknowledged writes");
    let (new_term, new, _) = first_leader_after(&c.history, cut).expect("majority elected");
    assert!(new_term > term && new != old);
    for n in (1..=3).filter(|n| *n != old) {
        sim.repair(host(old), host(n));
    }
    finish(&mut sim);
    // After healing, only the new leader (or a later one) acknowledged.
    let healed_acks_by_old_term = c
        .history
        .acks()
        .into_iter()
        .filter(|e| matches!(e, StoreEvent::Ack { term: t, at, .. } if *t == term && *at > cut.saturating_add(Duration::from_millis(20))))
        .count();
    assert_eq!(healed_acks_by_old_term, 0);
    let acked = acked(&out);
    assert!(acked.len() >= 100, "only {} acknowledged", acked.len());
    assert_safe(&c);
    assert_converged(&c, &acked);
}

#[test]
fn restarting_every_replica_recovers_everything_from_the_backends() {
    let mut sim = sim(5, 60);
    let c = cluster(&mut sim, 5, PlantedBugs::default());
    let out = writer(&mut sim, "svc", 1, 120, ms(10), secs(0));
    // 120 writes with snapshots every 50 entries: recovery uses snapshot + log tail.
    step_until(&mut sim, secs(5));
    assert!(out.borrow().len() == 120);
    for h in HOSTS {
        sim.crash(h);
    }
    step_until(&mut sim, secs(6));
    for h in HOSTS {
        sim.bounce(h);
    }
    let acked = acked(&out);
    sim.client("reader", async move {
        tokio::time::sleep(secs(3)).await;
        let mut c = StoreClient::new(SimNet, REGION, members().into_values().collect(), 9);
        let all = c.scan_prefix("accounts/user/w1/").await.unwrap();
        assert_eq!(all.len(), acked.len());
        for (k, v) in &acked {
            assert_eq!(c.get(k).await.unwrap().as_ref(), Some(v), "{k} lost");
        }
        Ok(())
    });
    finish(&mut sim);
    assert!(
        c.backends.iter().all(|b| b.snapshot().is_some()),
        "snapshots taken"
    );
    assert_safe(&c);
}

#[test]
fn residency_and_global_prefixes_are_enforced() {
    let mut sim = sim(6, 30);
    let _c = cluster(&mut sim, 6, PlantedBugs::default());
    sim.client("svc", async {
        let mut c = StoreClient::new(SimNet, REGION, members().into_values().collect(), 1);
        let r = c
            .put(
                "accounts/user/x/profile",
                b"{}".to_vec(),
                Residency::Home(Region::Apac),
            )
            .await;
        assert!(
            matches!(
                r,
                Err(StoreError::Residency {
                    home: Region::Apac,
                    store: Region::EuAfrica,
                    ..
                })
            ),
            "{r:?}"
        );
        let r = c
            .put("accounts/user/x/profile", b"{}".to_vec(), Residency::Global)
            .await;
        assert!(matches!(r, Err(StoreError::NotGlobal { .. })), "{r:?}");
        c.put(
            "accounts/directory/abc",
            b"eu-africa".to_vec(),
            Residency::Global,
        )
        .await
        .unwrap();
        let r = c.delete_prefix("", Residency::Home(REGION)).await;
        assert!(matches!(r, Err(StoreError::InvalidKey { .. })), "{r:?}");
        let r = c.put("", vec![], Residency::Home(REGION)).await;
        assert!(matches!(r, Err(StoreError::InvalidKey { .. })), "{r:?}");
        assert_eq!(
            c.get("accounts/directory/abc").await.unwrap(),
            Some(b"eu-africa".to_vec())
        );
        Ok(())
    });
    finish(&mut sim);
}

#[test]
fn erasure_removes_a_user_from_every_replica_and_from_compacted_logs() {
    let mut sim = sim(7, 60);
    let c = cluster(&mut sim, 7, PlantedBugs::default());
    let home = Residency::Home(REGION);
    sim.client("svc", async move {
        let mut s = StoreClient::new(SimNet, REGION, members().into_values().collect(), 1);
        for i in 0..10 {
            s.put(
                &format!("accounts/user/alice/login/{i}"),
                b"alice-secret-7f3a".to_vec(),
                home,
            )
            .await
            .unwrap();
            s.put(
                &format!("accounts/user/bob/login/{i}"),
                b"bob-data".to_vec(),
                home,
            )
            .await
            .unwrap();
        }
        let export = s.scan_prefix("accounts/user/alice/").await.unwrap();
        assert_eq!(export.len(), 10);
        let ack = s.delete_prefix("accounts/user/alice/", home).await.unwrap();
        assert_eq!(ack.keys_changed, 10);
        assert!(s
            .scan_prefix("accounts/user/alice/")
            .await
            .unwrap()
            .is_empty());
        assert_eq!(s.scan_prefix("accounts/user/bob/").await.unwrap().len(), 10);
        tokio::time::sleep(secs(3)).await; // compaction on every replica
        Ok(())
    });
    finish(&mut sim);
    for (i, r) in c.replicas.iter().enumerate() {
        let ks = r.keyspace();
        assert!(
            !ks.keys().any(|k| k.contains("alice")),
            "replica {} keeps alice",
            i + 1
        );
        assert_eq!(ks.keys().filter(|k| k.contains("bob")).count(), 10);
    }
    for (i, b) in c.backends.iter().enumerate() {
        assert!(
            !b.retains(b"alice-secret-7f3a"),
            "replica {} log/snapshot keeps alice's values",
            i + 1
        );
        assert!(b.retains(b"bob-data"), "bob's data is still stored");
    }
    assert_safe(&c);
}

#[test]
fn a_batch_is_one_entry_applied_whole_on_every_replica_and_checked_per_key() {
    let mut sim = sim(9, 60);
    let c = cluster(&mut sim, 9, PlantedBugs::default());
    let home = Residency::Home(REGION);
    sim.client("svc", async move {
        let mut s = StoreClient::new(SimNet, REGION, members().into_values().collect(), 1);
        let records: Vec<(String, Vec<u8>)> = (0..300)
            .map(|i| {
                (
                    format!("accounts/user/carol/audit/{i:04}"),
                    vec![i as u8; 40],
                )
            })
            .collect();
        let first = s.put_many(records.clone(), home).await.unwrap();
        // The same batch again: idempotent, every key replaced.
        let again = s.put_many(records, home).await.unwrap();
        assert_eq!(again.keys_changed, 300);
        assert_eq!(
            again.index,
            first.index.map(|i| i + 1),
            "one log entry per batch"
        );
        // One bad key refuses the whole batch, and nothing of it is applied.
        let mixed = vec![
            Command::Put {
                key: "accounts/user/carol/ok".into(),
                value: b"v".to_vec(),
            },
            Command::Put {
                key: String::new(),
                value: b"v".to_vec(),
            },
        ];
        let r = s.write(Command::Batch { cmds: mixed }, home).await;
        assert!(matches!(r, Err(StoreError::InvalidKey { .. })), "{r:?}");
        let nested = Command::Batch {
            cmds: vec![Command::Batch {
                cmds: vec![Command::Delete { key: "k".into() }],
            }],
        };
        let r = s.write(nested, home).await;
        assert!(matches!(r, Err(StoreError::InvalidKey { .. })), "{r:?}");
        let r = s.write(Command::Batch { cmds: vec![] }, home).await;
        assert!(matches!(r, Err(StoreError::InvalidKey { .. })), "{r:?}");
        // Residency holds for every key of a batch: a global write with one user key
        // is refused.
        let r = s
            .write(
                Command::Batch {
                    cmds: vec![
                        Command::Put {
                            key: "accounts/directory/x".into(),
                            value: b"eu".to_vec(),
                        },
                        Command::Put {
                            key: "accounts/user/carol/p".into(),
                            value: b"v".to_vec(),
                        },
                    ],
                },
                Residency::Global,
            )
            .await;
        assert!(matches!(r, Err(StoreError::NotGlobal { .. })), "{r:?}");
        // Puts then an erasure in one batch, in order.
        let ack = s
            .write(
                Command::Batch {
                    cmds: vec![
                        Command::Put {
                            key: "accounts/user/dave/a".into(),
                            value: b"1".to_vec(),
                        },
                        Command::DeletePrefix {
                            prefix: "accounts/user/carol/".into(),
                        },
                    ],
                },
                home,
            )
            .await
            .unwrap();
        assert_eq!(ack.keys_changed, 300);
        tokio::time::sleep(secs(2)).await; // followers learn the commit
        Ok(())
    });
    finish(&mut sim);
    for (i, ks) in keyspaces(&c).iter().enumerate() {
        assert!(
            !ks.keys().any(|k| k.contains("carol")),
            "replica {} keeps carol",
            i + 1
        );
        assert!(ks.contains_key("accounts/user/dave/a"), "replica {}", i + 1);
        assert!(
            !ks.contains_key("accounts/directory/x"),
            "replica {}",
            i + 1
        );
    }
    assert_safe(&c);
}

#[test]
fn disk_full_on_the_leader_stops_it_and_the_others_take_over() {
    let mut sim = sim(8, 60);
    let c = cluster(&mut sim, 8, PlantedBugs::default());
    let out = writer(&mut sim, "svc", 1, 150, ms(50), secs(3));
    step_until(&mut sim, secs(2));
    let (_, old) = leader(&c.history).unwrap();
    let full_at = now(&sim);
    c.faults[(old - 1) as usize].set_full(true);
    step_until(&mut sim, secs(6));
    let fault = c
        .history
        .events()
        .into_iter()
        .find(|e| matches!(e, StoreEvent::StorageFault { node, .. } if *node == old));
    assert!(fault.is_some(), "disk full recorded as a storage fault");
    let (_, new, _) = first_leader_after(&c.history, full_at).expect("a new leader");
    assert_ne!(new, old);
    // Space freed, node restarted: it recovers and catches up.
    c.faults[(old - 1) as usize].set_full(false);
    sim.bounce(host(old));
    finish(&mut sim);
    let acked = acked(&out);
    assert!(acked.len() >= 120, "only {} acknowledged", acked.len());
    assert_safe(&c);
    assert_converged(&c, &acked);
}

/// Runs a fixed crash-and-partition schedule and returns the history hash.
fn scripted_run(seed: u64) -> String {
    let mut sim = sim(seed, 60);
    let c = cluster(&mut sim, seed, PlantedBugs::default());
    let _out = writer(&mut sim, "svc", 1, 60, ms(40), secs(2));
    step_until(&mut sim, secs(1));
    let (_, l) = leader(&c.history).unwrap();
    sim.crash(host(l));
    step_until(&mut sim, secs(3));
    sim.bounce(host(l));
    finish(&mut sim);
    assert_safe(&c);
    c.history.hash_hex()
}

#[test]
fn same_seed_same_history_different_seed_different_history() {
    let a = scripted_run(11);
    let b = scripted_run(11);
    let c = scripted_run(12);
    assert_eq!(a, b, "same seed, same history");
    assert_ne!(a, c, "different seeds, different histories");
}
