//! The store's checkers: each planted bug makes its checker fail under a fault, and the
//! reference store passes both under random crash, partition and disk-full schedules.

use std::time::Duration;

use crate::store_support::*;
use camproof_platform::store::{
    check_no_acked_write_lost, check_one_leader_per_term, PlantedBugs, Violation,
};
use proptest::prelude::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

/// The leader is cut off from both peers (its client still reaches it), then healed.
fn partition_leader(seed: u64, bugs: PlantedBugs) -> Cluster {
    let mut sim = sim(seed, 120);
    let c = cluster(&mut sim, seed, bugs);
    let _out = writer(&mut sim, "svc", 1, 100, ms(50), secs(3));
    step_until(&mut sim, secs(2));
    let (_, old) = leader(&c.history).expect("a leader");
    for n in (1..=3).filter(|n| *n != old) {
        sim.partition(host(old), host(n));
    }
    step_until(&mut sim, secs(5));
    for n in (1..=3).filter(|n| *n != old) {
        sim.repair(host(old), host(n));
    }
    finish(&mut sim);
    c
}

#[test]
fn ack_before_replication_loses_acknowledged_writes_and_the_checker_says_so() {
    let good = partition_leader(21, PlantedBugs::default());
    assert_eq!(check_no_acked_write_lost(&good.history), Ok(()));
    let bad = partition_leader(
        21,
        PlantedBugs {
            ack_before_replication: true,
            ..PlantedBugs::default()
        },
    );
    let err = check_no_acked_write_lost(&bad.history).unwrap_err();
    assert!(
        matches!(err, Violation::AckNeverApplied { .. }),
        "unexpected: {err}"
    );
    println!("planted ack-before-replication caught: {err}");
}

/// The leader crashes while its two followers cannot reach each other; it comes back
/// after a while, reachable by both. Honest voters make one of them leader; a voter that
/// grants every request can make both leaders of the same term.
fn split_followers(seed: u64, bugs: PlantedBugs) -> Cluster {
    let mut sim = sim(seed, 60);
    let c = cluster(&mut sim, seed, bugs);
    let _out = writer(&mut sim, "svc", 1, 40, ms(100), secs(2));
    step_until(&mut sim, secs(2));
    let (_, old) = leader(&c.history).expect("a leader");
    let others: Vec<u64> = (1..=3).filter(|n| *n != old).collect();
    sim.partition(host(others[0]), host(others[1]));
    sim.crash(host(old));
    step_until(&mut sim, secs(2) + ms(1500 + (seed % 7) * 170));
    sim.bounce(host(old));
    step_until(&mut sim, secs(8));
    sim.repair(host(others[0]), host(others[1]));
    if bugs == PlantedBugs::default() {
        finish(&mut sim);
    } else {
        // With two leaders per term openraft's own defensive check gives up (it panics
        // inside its task): the run cannot converge, so stop at a fixed time.
        step_until(&mut sim, secs(20));
    }
    c
}

#[test]
fn granting_every_vote_elects_two_leaders_in_one_term_and_the_checker_says_so() {
    let bug = PlantedBugs {
        grant_every_vote: true,
        ..PlantedBugs::default()
    };
    let mut caught = Vec::new();
    for seed in 31..37 {
        let good = split_followers(seed, PlantedBugs::default());
        assert_eq!(
            check_one_leader_per_term(&good.history),
            Ok(()),
            "seed {seed}"
        );
        assert_eq!(
            check_no_acked_write_lost(&good.history),
            Ok(()),
            "seed {seed}"
        );
        if let Err(e) = check_one_leader_per_term(&split_followers(seed, bug).history) {
            caught.push((seed, e));
        }
    }
    assert!(
        !caught.is_empty(),
        "the planted bug never produced two leaders"
    );
    println!(
        "planted grant-every-vote caught on {} of 6 seeds, e.g. {}",
        caught.len(),
        caught[0].1
    );
}

/// One fault of a random schedule.
#[derive(Debug, Clone)]
enum Fault {
    Crash(u64),
    Bounce(u64),
    Partition(u64, u64),
    DiskFull(u64),
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        (1u64..=3).prop_map(Fault::Crash),
        (1u64..=3).prop_map(Fault::Bounce),
        (1u64..=3, 1u64..=3)
            .prop_filter("two nodes", |(a, b)| a != b)
            .prop_map(|(a, b)| Fault::Partition(a, b)),
        (1u64..=3).prop_map(Fault::DiskFull),
    ]
}

/// Runs one fault schedule, heals everything, and checks safety throughout and that
/// every acknowledged write reached every replica at the end.
fn run_schedule(seed: u64, mut faults: Vec<(u64, Fault)>) -> Result<(), TestCaseError> {
    let mut sim = sim(seed, 120);
    let c = cluster(&mut sim, seed, PlantedBugs::default());
    let out = writer(&mut sim, "svc", 1, 120, ms(50), secs(6));
    faults.sort_by_key(|(at, _)| *at);
    let mut down = [false; 3];
    for (at, f) in &faults {
        step_until(&mut sim, ms(500 + at));
        match *f {
            Fault::Crash(n) => {
                sim.crash(host(n));
                down[(n - 1) as usize] = true;
            }
            Fault::Bounce(n) => {
                sim.bounce(host(n));
                // A node restarted onto a full disk stops again at its first write:
                // it still needs a restart once the disk is freed.
                down[(n - 1) as usize] = c.faults[(n - 1) as usize].is_full();
            }
            Fault::Partition(a, b) => sim.partition(host(a), host(b)),
            Fault::DiskFull(n) => {
                c.faults[(n - 1) as usize].set_full(true);
                down[(n - 1) as usize] = true;
            }
        }
        // Safety holds at every point, not only at the end.
        prop_assert_eq!(check_one_leader_per_term(&c.history), Ok(()));
    }
    step_until(&mut sim, ms(5000));
    // Heal: reconnect everyone, free the disks, restart what is down.
    for a in 1..=3u64 {
        for b in (a + 1)..=3 {
            sim.repair(host(a), host(b));
        }
    }
    for n in 1..=3u64 {
        c.faults[(n - 1) as usize].set_full(false);
        if down[(n - 1) as usize] {
            sim.bounce(host(n));
        }
    }
    finish(&mut sim);
    prop_assert_eq!(check_one_leader_per_term(&c.history), Ok(()));
    prop_assert_eq!(check_no_acked_write_lost(&c.history), Ok(()));
    let ks = keyspaces(&c);
    for (k, v) in acked(&out) {
        for (i, replica) in ks.iter().enumerate() {
            prop_assert_eq!(replica.get(&k), Some(&v), "replica {} lacks {}", i + 1, k);
        }
    }
    Ok(())
}

/// Found by the property below: a node restarted while its disk is still full stops
/// again, so healing must restart it once more after freeing the disk.
#[test]
fn a_node_bounced_onto_a_full_disk_catches_up_after_heal() {
    run_schedule(0, vec![(257, Fault::Bounce(3)), (249, Fault::DiskFull(3))]).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, failure_persistence: None, ..ProptestConfig::default() })]

    /// Safety under any schedule, then liveness once everything is healed: both
    /// checkers hold, and every acknowledged write is on every replica.
    #[test]
    fn checkers_hold_under_random_faults(
        seed in 0u64..1_000_000,
        faults in proptest::collection::vec((100u64..4000, fault()), 1..5),
    ) {
        run_schedule(seed, faults)?;
    }
}
