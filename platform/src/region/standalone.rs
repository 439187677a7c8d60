//! A standalone region, as `camproof serve` runs it: one zone with the gateway, the relay
//! and store replica 1, beside two zones that hold only their store replicas (2 and 3),
//! every replica on disk so a restart loses nothing.
//!
//! [`serve`] takes its [`Net`] and [`Clock`] like every other part of the platform; the
//! zone it runs is a [`ZoneHost`], the world's zone.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use camproof_net::{AdmissionLimits, Clock, Listener, Net};
use camproof_protocol::cdp::{ServerConfig, ServerContext, APP_IDLE_TIMEOUT};
use camproof_protocol::pki::TestPki;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use super::{region_services, Bound, RegionError, ZoneHost};
use crate::accounts::{AccountsConfig, Region};
use crate::gateway::{GatewayConfig, GatewayStats};
use crate::relay_service::RelayKey;
use crate::signaling::StoreStats;
use crate::store::{
    Backend, BackendError, DiskBackend, DiskFault, History, NodeId, Replica, ReplicaConfig,
    StoreClient, StoreError,
};
use crate::trace::Trace;

/// The standalone gateway's name and certificate subject (`camproof swarm` expects it).
pub const GATEWAY_NAME: &str = "gw-1";

/// The region a standalone platform serves.
pub const REGION: Region = Region::EuAfrica;

/// Replicas of the standalone store, one per zone.
pub const REPLICAS: u16 = 3;

/// How long a device connection may stay silent (three of `swarm`'s 5 s heartbeats and
/// then some).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// How a standalone region is set up.
#[derive(Debug, Clone)]
pub struct StandaloneConfig {
    /// Where the gateway listens (port 0: any free port); the relay listens on a free
    /// port of the same address.
    pub listen: String,
    /// Directory of the on-disk replicas (`store-1` …), created if missing.
    pub data: PathBuf,
    /// First of the replicas' consecutive loopback ports.
    pub store_port: u16,
    /// Seeds the relay grant key, the services, the gateway and the replicas.
    pub seed: u64,
    /// Stop after this long (`None`: until the gateway fails).
    pub duration: Option<Duration>,
    /// Replicas to rebuild from their peers (the operator's explicit decision, e.g. after
    /// one was found corrupt): each one's directory is renamed aside (never deleted) and
    /// it starts empty. Refused unless the other replicas are intact and a majority.
    pub rebuild: Vec<NodeId>,
    /// Admission limits of the gateway, the relay and the store replicas.
    pub admission: AdmissionLimits,
}

/// What a standalone region tells its operator while it runs; its `Display` is the
/// line `camproof serve` prints.
#[derive(Debug)]
pub enum StandaloneEvent {
    /// Gateway and relay are listening; the replicas are starting.
    Listening {
        /// The gateway's address.
        gateway: SocketAddr,
        /// The relay's address.
        relay: SocketAddr,
        /// The replicas' addresses.
        replicas: Vec<String>,
        /// Where the replicas keep their data.
        data: PathBuf,
        /// The seed the region runs with (its PKI's).
        seed: u64,
    },
    /// The store answered: it holds this many device records (from earlier runs).
    DeviceRecords(usize),
    /// The store elected no leader within [`STORE_PROBE`].
    NoLeader,
    /// A replica stopped (storage fault, bad configuration).
    ReplicaStopped(String),
    /// Fewer replicas run than all of them: the store is degraded (or, below a
    /// majority, cannot acknowledge anything and `serve` stops).
    Unhealthy {
        /// Replicas still running.
        running: u16,
    },
    /// A replica's directory was set aside so that it starts empty and catches up from
    /// its peers (asked for with `--rebuild-replica`).
    Quarantined {
        /// The replica.
        node: NodeId,
        /// Where its old directory now is.
        to: PathBuf,
    },
}

impl StandaloneEvent {
    /// Whether something went wrong (a line for standard error).
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            StandaloneEvent::ReplicaStopped(_)
                | StandaloneEvent::Unhealthy { .. }
                | StandaloneEvent::Quarantined { .. }
        )
    }
}

impl fmt::Display for StandaloneEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StandaloneEvent::Listening {
                gateway,
                relay,
                replicas,
                data,
                seed,
            } => write!(
                f,
                "camproof serve: gateway {GATEWAY_NAME} listening on {gateway}, relay on {relay}, \
                 store in {} (replicas {}) (pki seed {seed})",
                data.display(),
                replicas.join(", ")
            ),
            StandaloneEvent::DeviceRecords(n) => write!(f, "store: {n} device records on disk"),
            StandaloneEvent::NoLeader => write!(
                f,
                "store: no leader elected within {} s",
                STORE_PROBE.as_secs()
            ),
            StandaloneEvent::ReplicaStopped(e) => {
                write!(f, "camproof serve: store replica stopped: {e}")
            }
            StandaloneEvent::Unhealthy { running } => write!(
                f,
                "camproof serve: unhealthy: {running} of {REPLICAS} store replicas running{}",
                if *running >= MAJORITY {
                    "; writes continue on the others (restart with --rebuild-replica N to \
                     rebuild a corrupt one from its peers)"
                } else {
                    "; the store cannot record anything: stopping"
                }
            ),
            StandaloneEvent::Quarantined { node, to } => write!(
                f,
                "camproof serve: rebuilding store replica {node} from its peers, as asked: \
                 its old directory is kept at {}",
                to.display()
            ),
        }
    }
}

/// Replicas needed to acknowledge a write.
pub const MAJORITY: u16 = REPLICAS / 2 + 1;

/// How long after the start the store's contents are looked at.
pub const STORE_PROBE: Duration = Duration::from_secs(10);

/// What a standalone region counted, at the end; its `Display` is what `camproof
/// serve` prints when it stops.
#[derive(Debug, Clone, Default)]
pub struct StandaloneReport {
    /// The gateway's counters.
    pub gateway: GatewayStats,
    /// The store writer's counters.
    pub store: StoreStats,
    /// Writes dropped unwritten because the queue for the store was full.
    pub writes_dropped: u64,
}

impl fmt::Display for StandaloneReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (st, s) = (&self.store, &self.gateway);
        writeln!(
            f,
            "store: {} writes acknowledged by a majority of replicas, {} retried",
            st.writes_acked, st.writes_failed
        )?;
        if self.writes_dropped > 0 {
            writeln!(
                f,
                "store: {} writes DROPPED unwritten (the queue for the store was full)",
                self.writes_dropped
            )?;
        }
        write!(
            f,
            "served: {} connections, {} handshakes, {} resumed, {} heartbeats, \
             {} video frames ({:.1} MB), failures {:?}, {} refused at accept, {} accept errors",
            s.connections,
            s.handshakes,
            s.resumptions,
            s.heartbeats,
            s.video_frames,
            s.video_bytes as f64 / 1e6,
            s.failures,
            s.refused,
            s.accept_errors
        )
    }
}

/// Runs a standalone region with identities from `pki` until `config.duration` passes
/// (or the gateway fails), telling `events` what happens.
pub async fn serve<N: Net, C: Clock>(
    net: N,
    clock: C,
    pki: &TestPki,
    config: StandaloneConfig,
    events: impl Fn(StandaloneEvent) + 'static,
) -> Result<StandaloneReport, RegionError> {
    let events: Rc<dyn Fn(StandaloneEvent)> = Rc::new(move |e: StandaloneEvent| {
        log_event(&e);
        events(e);
    });
    std::fs::create_dir_all(&config.data).map_err(|source| RegionError::DataDir {
        path: config.data.clone(),
        source,
    })?;
    check_replicas(&config, events.as_ref())?;
    // Bind first so the address told is the one actually listening (port 0 works).
    let (gateway_listener, gateway) = bind(&net, "gateway", &config.listen).await?;
    let relay_at = format!("{}:0", gateway.ip());
    let (relay_listener, relay) = bind(&net, "relay", &relay_at).await?;

    let members: BTreeMap<NodeId, String> = (0..REPLICAS)
        .map(|i| {
            let port = config.store_port.saturating_add(i);
            (u64::from(i) + 1, format!("127.0.0.1:{port}"))
        })
        .collect();
    // Replicas still running; below a majority the store can record nothing more and
    // `serve` stops with an error.
    let running = Rc::new(Cell::new(REPLICAS));
    let lost_quorum = Rc::new(tokio::sync::Notify::new());
    let stopped = {
        let (events, running, lost_quorum) = (events.clone(), running.clone(), lost_quorum.clone());
        Rc::new(move |e: &StoreError| {
            events(StandaloneEvent::ReplicaStopped(e.to_string()));
            running.set(running.get().saturating_sub(1));
            events(StandaloneEvent::Unhealthy {
                running: running.get(),
            });
            if running.get() < MAJORITY {
                lost_quorum.notify_one();
            }
        })
    };
    let replica = |node: NodeId| {
        let member = members.get(&node).cloned().unwrap_or_default();
        let mut cfg = ReplicaConfig::new(REGION, node, member, members.clone());
        cfg.seed = config.seed.wrapping_add(node);
        cfg.admission = config.admission;
        let dir = config.data.join(format!("store-{node}"));
        Replica::on_disk(cfg, dir, DiskFault::new(), History::new())
    };
    // Zones 2 and 3 hold only their replicas; zone 1 runs replica 1 with its gateway.
    for node in 2..=NodeId::from(REPLICAS) {
        let (replica, net, clock) = (replica(node), net.clone(), clock.clone());
        let stopped = stopped.clone();
        tokio::task::spawn_local(async move {
            if let Err(e) = replica.run(net, clock).await {
                stopped(&e);
            }
        });
    }
    let store_members: Vec<String> = members.values().cloned().collect();

    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut key = [0u8; 32];
    rng.fill_bytes(&mut key);
    let relay_key = RelayKey::from_bytes(key);
    let zone = ZoneHost {
        gateway: GatewayConfig {
            name: GATEWAY_NAME.into(),
            listen: gateway.to_string(),
            relay: relay.to_string(),
            fallbacks: Vec::new(),
            idle_timeout: IDLE_TIMEOUT,
            app_idle_timeout: APP_IDLE_TIMEOUT,
            admission: config.admission,
        },
        server_config: Arc::new(ServerConfig::new(pki.server(GATEWAY_NAME, 0))),
        context: Rc::new(RefCell::new(ServerContext::new(pki.trust_store()))),
        services: region_services(
            REGION,
            AccountsConfig::production(),
            relay_key.clone(),
            config.seed,
        )?,
        relay_key,
        relay_listen: relay.to_string(),
        gateway_stats: Rc::default(),
        relay_stats: Rc::default(),
        relay_down: Rc::default(),
        trace: Trace::new(0),
        seed: config.seed,
        replica: replica(1),
        store_members: store_members.clone(),
        store_region: REGION,
        store_stats: Rc::default(),
        store_clients: Rc::new(Cell::new(0)),
        replica_stopped: Some(stopped),
    };
    events(StandaloneEvent::Listening {
        gateway,
        relay,
        replicas: store_members.clone(),
        data: config.data.clone(),
        seed: config.seed,
    });
    let bound = Bound {
        gateway: Some(gateway_listener),
        relay: Some(relay_listener),
    };
    let serving = zone.start_on(net.clone(), clock, bound);
    let client_id = zone.store_clients.get() + 1;
    tokio::task::spawn_local(probe_store(net, store_members, client_id, events));
    let until = async {
        match config.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let served = tokio::select! {
        biased;
        _ = lost_quorum.notified() => {
            // Queued, and the batch being written when the quorum went.
            let pending =
                zone.services.borrow().outbox_len() + zone.store_stats.borrow().in_flight as usize;
            return Err(RegionError::StoreLost {
                running: running.get(),
                pending,
            });
        }
        r = serving => r,
        _ = until => Ok(()),
    };
    served.map_err(RegionError::Gateway)?;
    let report = StandaloneReport {
        gateway: zone.gateway_stats.borrow().clone(),
        store: zone.store_stats.borrow().clone(),
        writes_dropped: zone.services.borrow().stats().writes_dropped,
    };
    Ok(report)
}

/// Logs what the operator is told (a stopped replica logs its own stop).
fn log_event(e: &StandaloneEvent) {
    match e {
        StandaloneEvent::Listening {
            gateway,
            relay,
            replicas,
            data,
            seed,
        } => tracing::info!(
            %gateway,
            %relay,
            ?replicas,
            data = %data.display(),
            pki_seed = seed,
            "platform listening"
        ),
        StandaloneEvent::DeviceRecords(n) => {
            tracing::info!(device_records = n, "store answered")
        }
        StandaloneEvent::NoLeader => tracing::warn!(
            within_secs = STORE_PROBE.as_secs(),
            "store elected no leader"
        ),
        StandaloneEvent::ReplicaStopped(_) => {}
        StandaloneEvent::Unhealthy { running } => {
            tracing::error!(running, of = REPLICAS, "store unhealthy")
        }
        StandaloneEvent::Quarantined { node, to } => tracing::warn!(
            replica = node,
            kept_at = %to.display(),
            "store replica quarantined by request: rebuilding it from its peers"
        ),
    }
}

/// Before anything listens: sets aside the replicas the operator asked to rebuild, and
/// reads every other replica's disk back. Refuses to start when fewer than a majority
/// of replicas are intact (a corrupt log, an unreadable directory), or when a rebuild
/// would have to copy from fewer than a majority: the store would start with fewer
/// records than it acknowledged. One bad replica is left to stop with its own error
/// (the others carry on, and `serve` says it is unhealthy).
fn check_replicas(
    config: &StandaloneConfig,
    events: &dyn Fn(StandaloneEvent),
) -> Result<(), RegionError> {
    let nodes = 1..=NodeId::from(REPLICAS);
    if let Some(bad) = config.rebuild.iter().find(|n| !nodes.contains(*n)) {
        return Err(RegionError::StoreRefused(format!(
            "--rebuild-replica {bad}: the replicas are 1 to {REPLICAS}"
        )));
    }
    let mut broken: Vec<(NodeId, BackendError)> = Vec::new();
    for node in nodes.clone().filter(|n| !config.rebuild.contains(n)) {
        let dir = config.data.join(format!("store-{node}"));
        if let Err(e) = DiskBackend::open(&dir, DiskFault::new()).and_then(|mut b| b.recover()) {
            broken.push((node, e));
        }
    }
    let mut rebuild = config.rebuild.clone();
    rebuild.sort_unstable();
    rebuild.dedup();
    let intact = usize::from(REPLICAS).saturating_sub(rebuild.len() + broken.len());
    let told: Vec<String> = broken
        .iter()
        .map(|(n, e)| format!("replica {n}: {e}"))
        .collect();
    if intact < usize::from(MAJORITY) {
        // A data directory that cannot be written is repaired differently from one that
        // holds corrupt logs: say which.
        let advice = if broken
            .iter()
            .any(|(_, e)| matches!(e, BackendError::ReadOnly { .. }))
        {
            "make the data directory writable (a read-only file system, or files this user \
             may not write) and start again"
        } else {
            "restore the data directory from a backup"
        };
        let what = if rebuild.is_empty() {
            String::new()
        } else {
            format!(
                " (rebuilding {rebuild:?} would copy from {intact} intact replica(s), fewer \
                 than a majority)"
            )
        };
        return Err(RegionError::StoreRefused(format!(
            "only {intact} of {REPLICAS} store replicas are intact, and a majority \
             ({MAJORITY}) is needed to start without losing acknowledged records{what}: {}. \
             Nothing was changed; {advice}",
            told.join("; ")
        )));
    }
    for &node in &rebuild {
        let dir = config.data.join(format!("store-{node}"));
        if !dir.exists() {
            continue;
        }
        let to = (1u32..)
            .map(|k| config.data.join(format!("store-{node}.quarantined-{k}")))
            .find(|p| !p.exists())
            .unwrap_or_else(|| config.data.join(format!("store-{node}.quarantined")));
        std::fs::rename(&dir, &to).map_err(|source| RegionError::DataDir {
            path: dir.clone(),
            source,
        })?;
        events(StandaloneEvent::Quarantined { node, to });
    }
    Ok(())
}

/// Binds `addr` for `what`, with the address actually bound.
async fn bind<N: Net>(
    net: &N,
    what: &'static str,
    addr: &str,
) -> Result<(N::Listener, SocketAddr), RegionError> {
    let fail = |source| RegionError::Bind {
        what,
        addr: addr.to_owned(),
        source,
    };
    let listener = net.bind(addr).await.map_err(fail)?;
    let local = listener.local_addr().map_err(fail)?;
    Ok((listener, local))
}

/// Tells what the store holds from earlier runs (a restart loses nothing), once it has
/// a leader.
async fn probe_store<N: Net>(
    net: N,
    members: Vec<String>,
    client_id: u64,
    events: Rc<dyn Fn(StandaloneEvent)>,
) {
    const EVERY: Duration = Duration::from_millis(500);
    let mut client = StoreClient::new(net, REGION, members, client_id);
    for _ in 0..STORE_PROBE.as_millis() / EVERY.as_millis() {
        tokio::time::sleep(EVERY).await;
        if let Ok(devices) = client.scan_prefix("devices/").await {
            events(StandaloneEvent::DeviceRecords(devices.len()));
            return;
        }
    }
    events(StandaloneEvent::NoLeader);
}
