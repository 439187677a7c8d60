//! Shared harness for the store's turmoil tests: a region of three zone hosts, each
//! running one replica on port 7500 over an in-memory backend, plus helpers to step the
//! simulation to a time, find the leader, and drive client workloads.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use camproof_net::{SimClock, SimNet};
use camproof_platform::accounts::Region;
use camproof_platform::store::{
    DiskFault, History, MemBackend, NodeId, PlantedBugs, Replica, ReplicaConfig, Residency,
    StoreClient, StoreError, StoreEvent, WriteAck,
};

/// The region every test uses.
pub const REGION: Region = Region::EuAfrica;

/// Zone host names, index i holds node i+1.
pub const HOSTS: [&str; 3] = ["gw-eu-africa-1", "gw-eu-africa-2", "gw-eu-africa-3"];

/// The simulation: zones of one city (1-5 ms one way), 1 ms ticks.
pub fn sim<'a>(seed: u64, secs: u64) -> turmoil::Sim<'a> {
    turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .simulation_duration(Duration::from_secs(secs))
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(5))
        .tcp_capacity(256)
        .build()
}

/// The three replicas of a region, as the test sees them.
pub struct Cluster {
    /// The shared history.
    pub history: History,
    /// Replica handles (index i = node i+1).
    pub replicas: Vec<Replica>,
    /// Their backends (survive crashes).
    pub backends: Vec<MemBackend>,
    /// Their disk-full switches.
    pub faults: Vec<DiskFault>,
}

/// `"host:7500"` of every replica, by node id.
pub fn members() -> BTreeMap<NodeId, String> {
    HOSTS
        .iter()
        .enumerate()
        .map(|(i, h)| (i as NodeId + 1, format!("{h}:7500")))
        .collect()
}

/// Adds the three replica hosts to `sim`.
pub fn cluster(sim: &mut turmoil::Sim<'_>, seed: u64, bugs: PlantedBugs) -> Cluster {
    let history = History::new();
    let mut c = Cluster {
        history: history.clone(),
        replicas: Vec::new(),
        backends: Vec::new(),
        faults: Vec::new(),
    };
    for (i, host) in HOSTS.iter().enumerate() {
        let mut cfg = ReplicaConfig::new(REGION, i as NodeId + 1, "0.0.0.0:7500", members());
        cfg.seed = seed;
        cfg.bugs = bugs;
        cfg.snapshot_every = 50;
        let fault = DiskFault::new();
        let backend = MemBackend::new(fault.clone());
        let replica = Replica::in_memory(cfg, backend.clone(), history.clone());
        let r = replica.clone();
        sim.host(*host, move || {
            let r = r.clone();
            async move {
                // A replica that stops (storage fault) stays down until restarted.
                let _ = r.run(SimNet, SimClock).await;
                std::future::pending::<()>().await;
                Ok(())
            }
        });
        c.replicas.push(replica);
        c.backends.push(backend);
        c.faults.push(fault);
    }
    c
}

/// Steps until simulated time `t`; returns true if every client finished first.
pub fn step_until(sim: &mut turmoil::Sim<'_>, t: Duration) -> bool {
    while sim.elapsed() < t {
        match sim.step() {
            Ok(true) => return true,
            Ok(false) => {}
            Err(e) => panic!("simulation failed: {e}"),
        }
    }
    false
}

/// Steps until every client finished (or the simulation's duration runs out: a panic).
pub fn finish(sim: &mut turmoil::Sim<'_>) {
    loop {
        match sim.step() {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => panic!("simulation failed: {e}"),
        }
    }
}

/// The leader of the highest term recorded so far.
pub fn leader(h: &History) -> Option<(u64, NodeId)> {
    h.leaders()
        .into_iter()
        .max_by_key(|(term, _, _)| *term)
        .map(|(t, n, _)| (t, n))
}

/// Host name of node `n`.
pub fn host(n: NodeId) -> &'static str {
    HOSTS[(n - 1) as usize]
}

/// What a writer saw: (key, value, result) per write.
pub type Outcomes = Rc<RefCell<Vec<(String, Vec<u8>, Result<WriteAck, StoreError>)>>>;

/// A client host `name` that writes `n` keys `w{id}/k{i}` every `every`, then waits
/// `linger` (so the run covers the faults after its last write).
pub fn writer(
    sim: &mut turmoil::Sim<'_>,
    name: &str,
    client_id: u64,
    n: u64,
    every: Duration,
    linger: Duration,
) -> Outcomes {
    let out: Outcomes = Rc::default();
    let o = out.clone();
    sim.client(name.to_string(), async move {
        let mut c = StoreClient::new(SimNet, REGION, members().into_values().collect(), client_id);
        for i in 0..n {
            let key = format!("accounts/user/w{client_id}/k{i:04}");
            let value = format!("value {i} of writer {client_id}").into_bytes();
            let r = c.put(&key, value.clone(), Residency::Home(REGION)).await;
            o.borrow_mut().push((key, value, r));
            tokio::time::sleep(every).await;
        }
        tokio::time::sleep(linger).await;
        Ok(())
    });
    out
}

/// Keys each replica's state machine holds, by node.
pub fn keyspaces(c: &Cluster) -> Vec<BTreeMap<String, Vec<u8>>> {
    c.replicas.iter().map(|r| r.keyspace()).collect()
}

/// Every acknowledged (key, value) of a writer.
pub fn acked(out: &Outcomes) -> Vec<(String, Vec<u8>)> {
    out.borrow()
        .iter()
        .filter(|(_, _, r)| r.is_ok())
        .map(|(k, v, _)| (k.clone(), v.clone()))
        .collect()
}

/// Time of the first `Leader` event after `after` (simulated, since the epoch).
pub fn first_leader_after(
    h: &History,
    after: camproof_protocol::Timestamp,
) -> Option<(u64, NodeId, camproof_protocol::Timestamp)> {
    h.events().into_iter().find_map(|e| match e {
        StoreEvent::Leader { at, term, node } if at > after => Some((term, node, at)),
        _ => None,
    })
}

/// Simulated now as a timestamp.
pub fn now(sim: &turmoil::Sim<'_>) -> camproof_protocol::Timestamp {
    camproof_protocol::Timestamp::from_micros(
        1_700_000_000_000_000 + u64::try_from(sim.elapsed().as_micros()).unwrap_or(0),
    )
}
