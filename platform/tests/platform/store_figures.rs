//! Measured figures for docs/store.md (ignored by default: a measurement, not a check).
//! `cargo test -p camproof-platform --test platform store_figures -- --ignored --nocapture`

use std::time::Duration;

use crate::store_support::*;
use camproof_net::SimNet;
use camproof_platform::store::{PlantedBugs, Residency, StoreClient};

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[test]
#[ignore]
#[allow(clippy::disallowed_methods)] // Wall time of the whole run is the figure measured.
fn figures() {
    // Commit latency and throughput: one client, 1,000 sequential puts.
    let started = std::time::Instant::now();
    let mut s = sim(100, 600);
    let _c = cluster(&mut s, 100, PlantedBugs::default());
    let lat = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let l = lat.clone();
    s.client("svc", async move {
        let mut c = StoreClient::new(SimNet, REGION, members().into_values().collect(), 1);
        tokio::time::sleep(Duration::from_secs(2)).await;
        for i in 0..1000 {
            let t0 = tokio::time::Instant::now();
            c.put(
                &format!("accounts/user/u/k{i}"),
                vec![0; 256],
                Residency::Home(REGION),
            )
            .await
            .unwrap();
            l.borrow_mut().push(t0.elapsed());
        }
        Ok(())
    });
    finish(&mut s);
    let wall = started.elapsed();
    let mut lat = lat.borrow().clone();
    lat.sort();
    let sim_secs = s.elapsed().as_secs_f64();
    println!(
        "commit latency (1-5 ms links): p50 {:?} p99 {:?} max {:?}; 1000 puts in {:.2} simulated s, {:.2} wall s: {:.0} puts per wall second",
        pct(&lat, 0.5), pct(&lat, 0.99), lat[lat.len() - 1], sim_secs, wall.as_secs_f64(), 1000.0 / wall.as_secs_f64()
    );

    // Failover: crash the leader at 2 s, time until the next leader, over 30 seeds.
    let mut times = Vec::new();
    for seed in 0..30 {
        let mut sim = sim(seed, 60);
        let c = cluster(&mut sim, seed, PlantedBugs::default());
        let _out = writer(
            &mut sim,
            "svc",
            1,
            20,
            Duration::from_millis(200),
            Duration::from_secs(1),
        );
        step_until(&mut sim, Duration::from_secs(2));
        let (_, old) = leader(&c.history).unwrap();
        let at = now(&sim);
        sim.crash(host(old));
        step_until(&mut sim, Duration::from_secs(6));
        let (_, _, t) = first_leader_after(&c.history, at).expect("no failover");
        times.push(t.saturating_since(at));
    }
    times.sort();
    println!(
        "failover after leader crash over 30 seeds: min {:?} p50 {:?} p90 {:?} max {:?}",
        times[0],
        pct(&times, 0.5),
        pct(&times, 0.9),
        times[times.len() - 1]
    );
}
