//! One replica of a region's store: openraft over a backend, serving peers and clients on
//! one port.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::raft::{AppendEntriesResponse, VoteResponse};
use openraft::storage::Adaptor;
use openraft::{BasicNode, Raft, SnapshotPolicy};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use tokio::task::JoinHandle;

use super::backend::{Backend, DiskBackend, DiskFault, MemBackend};
use super::history::{History, StoreEvent};
use super::raft_store::Store;
use super::runtime;
use super::types::BackendError;
use super::types::{
    Command, Keyspace, NodeId, OpId, Proposal, Residency, StoreError, StoreTypes, WriteAck,
};
use super::wire::{
    read_frame_within, write_frame, ClientReply, ClientRequest, PeerNet, Request, Response,
};
use crate::accounts::Region;
use camproof_net::{Admission, AdmissionLimits, Clock, Net};

/// Timing of the replication protocol. Defaults suit zones of one city (a few ms apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreTiming {
    /// Leader heartbeat period.
    pub heartbeat: Duration,
    /// Election timeouts are drawn uniformly from `[election_min, election_max)`.
    pub election_min: Duration,
    /// Upper bound of the election timeout.
    pub election_max: Duration,
    /// One Raft RPC (connect, send, answer) must complete within this.
    pub rpc_timeout: Duration,
    /// A write not committed within this is answered `Indeterminate`.
    pub write_timeout: Duration,
    /// A read whose leadership check does not complete within this is redirected.
    pub read_timeout: Duration,
}

impl Default for StoreTiming {
    fn default() -> Self {
        StoreTiming {
            heartbeat: Duration::from_millis(50),
            election_min: Duration::from_millis(300),
            election_max: Duration::from_millis(600),
            rpc_timeout: Duration::from_millis(250),
            write_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(1),
        }
    }
}

/// Deliberate defects for negative tests: each makes one checker fail. All off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlantedBugs {
    /// The leader acknowledges a write as soon as it is submitted, before it is
    /// replicated or even appended. Breaks "no acknowledged write lost".
    pub ack_before_replication: bool,
    /// The replica grants every vote request without looking at its own vote or log.
    /// Lets two candidates win the same term. Breaks "one leader per term".
    pub grant_every_vote: bool,
    /// Recovery of an in-memory log takes a record whose length runs past the end for a
    /// torn write, before any other check, and the replica starts with what came before
    /// it, vote forgotten, without an error (the behaviour before 2026-12-07). Breaks
    /// "fail-stop storage".
    pub silent_truncate: bool,
}

/// A replica's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaConfig {
    /// The region the store serves; writes of other regions' users are refused.
    pub region: Region,
    /// This replica's id (a key of `members`).
    pub node: NodeId,
    /// Where to listen (`"0.0.0.0:7500"`, `"127.0.0.1:0"` is not supported: peers need
    /// the address in `members`).
    pub listen: String,
    /// Every replica of the group: id → `"host:port"` peers and clients dial.
    pub members: BTreeMap<NodeId, String>,
    /// Key prefixes that hold region-independent data ([`Residency::Global`]).
    pub global_prefixes: Vec<String>,
    /// Seeds the election-timeout RNG (mixed with the node id).
    pub seed: u64,
    /// Protocol timing.
    pub timing: StoreTiming,
    /// Build a snapshot (and compact the log) after this many entries.
    pub snapshot_every: u64,
    /// Planted bugs for negative tests.
    pub bugs: PlantedBugs,
    /// Caps on peer and client connections, and the write timeout of answers (the
    /// store's peers do not authenticate, so the handshake limits do not apply).
    pub admission: AdmissionLimits,
}

impl ReplicaConfig {
    /// A configuration with default timing, global prefixes `accounts/directory/` and
    /// `ota/`, and snapshots every 1,000 entries.
    pub fn new(
        region: Region,
        node: NodeId,
        listen: impl Into<String>,
        members: BTreeMap<NodeId, String>,
    ) -> Self {
        ReplicaConfig {
            region,
            node,
            listen: listen.into(),
            members,
            global_prefixes: vec!["accounts/directory/".into(), "ota/".into()],
            seed: 0,
            timing: StoreTiming::default(),
            snapshot_every: 1000,
            bugs: PlantedBugs::default(),
            admission: AdmissionLimits::default(),
        }
    }

    fn raft_config(&self) -> Result<Arc<openraft::Config>, StoreError> {
        if !self.members.contains_key(&self.node) {
            return Err(StoreError::Config(format!(
                "node {} is not among the members {:?}",
                self.node,
                self.members.keys().collect::<Vec<_>>()
            )));
        }
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        if self.timing.election_min >= self.timing.election_max
            || self.timing.election_min < self.timing.heartbeat * 4
        {
            return Err(StoreError::Config(format!(
                "need heartbeat * 4 <= election_min < election_max, got {:?}",
                self.timing
            )));
        }
        let cfg = openraft::Config {
            cluster_name: format!("camproof-store-{}", self.region),
            heartbeat_interval: ms(self.timing.heartbeat),
            // Elections are driven by our own timer (see `election_timer`); openraft's
            // `election_timeout_max` only sets the leader lease during which a follower
            // refuses other candidates, and our timeouts start where it ends.
            election_timeout_min: ms(self.timing.election_min) / 2,
            election_timeout_max: ms(self.timing.election_min),
            enable_elect: false,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_every.max(1)),
            // Keep nothing a snapshot covers: erased values must leave the log.
            max_in_snapshot_log_to_keep: 0,
            purge_batch_size: 1,
            ..Default::default()
        };
        cfg.validate()
            .map(Arc::new)
            .map_err(|e| StoreError::Config(e.to_string()))
    }

    /// Checks a write against data residency and key rules.
    pub fn check_write(&self, cmd: &Command, residency: Residency) -> Result<(), StoreError> {
        cmd.check()?;
        for key in cmd.targets() {
            match residency {
                Residency::Home(home) if home != self.region => {
                    return Err(StoreError::Residency {
                        key: key.into(),
                        home,
                        store: self.region,
                    })
                }
                Residency::Home(_) => {}
                Residency::Global => {
                    if !self.global_prefixes.iter().any(|p| key.starts_with(p)) {
                        return Err(StoreError::NotGlobal { key: key.into() });
                    }
                }
            }
        }
        Ok(())
    }
}

type OpenFn = Rc<dyn Fn() -> Result<Box<dyn Backend>, BackendError>>;

/// One replica: run it with [`Replica::run`]; clones share its state, so a test or the
/// world can hold one to inspect the replica while it runs (and across restarts).
#[derive(Clone)]
pub struct Replica {
    cfg: ReplicaConfig,
    open: OpenFn,
    history: History,
    live: Rc<RefCell<Option<Store>>>,
}

impl Replica {
    /// A replica over an in-memory backend (simulation). Restarting it (`run` again)
    /// reopens the same data, as a host restart reopens its disk.
    pub fn in_memory(cfg: ReplicaConfig, backend: MemBackend, history: History) -> Self {
        let backend = backend.with_silent_truncate(cfg.bugs.silent_truncate);
        let open: OpenFn = Rc::new(move || Ok(Box::new(backend.clone()) as Box<dyn Backend>));
        Replica {
            cfg,
            open,
            history,
            live: Rc::default(),
        }
    }

    /// A replica over the on-disk backend in `dir` (`serve`).
    pub fn on_disk(
        cfg: ReplicaConfig,
        dir: impl Into<std::path::PathBuf>,
        fault: DiskFault,
        history: History,
    ) -> Self {
        let dir = dir.into();
        let open: OpenFn = Rc::new(move || {
            DiskBackend::open(dir.clone(), fault.clone()).map(|b| Box::new(b) as Box<dyn Backend>)
        });
        Replica {
            cfg,
            open,
            history,
            live: Rc::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ReplicaConfig {
        &self.cfg
    }

    /// The state machine's keyspace now (empty before the first `run`).
    pub fn keyspace(&self) -> Keyspace {
        self.live
            .borrow()
            .as_ref()
            .map(|s| s.0.borrow().sm.kv.clone())
            .unwrap_or_default()
    }

    /// The index applied to the state machine so far.
    pub fn applied_index(&self) -> u64 {
        self.live
            .borrow()
            .as_ref()
            .and_then(|s| s.0.borrow().sm.applied.map(|l| l.index))
            .unwrap_or(0)
    }

    /// Runs the replica: opens the backend, starts openraft, joins the group (the first
    /// start of an empty group initializes it with `members`), and serves peers and
    /// clients on `listen`.
    ///
    /// Returns only when the replica stops: `Err(StoreError::Storage(..))` after a
    /// storage fault (disk full, I/O error, corrupt log), other errors if it cannot
    /// start. It never panics on bad input. Under turmoil, run it as a host's software;
    /// a `crash`/`bounce` simply drops it, and the next `run` recovers from the backend.
    pub async fn run<N: Net, C: Clock>(&self, net: N, clock: C) -> Result<(), StoreError> {
        let result = self.run_until_stopped(net, clock).await;
        if let Err(e) = &result {
            tracing::warn!(replica = self.cfg.node, error = %e, "store replica stopped");
        }
        result
    }

    async fn run_until_stopped<N: Net, C: Clock>(
        &self,
        net: N,
        clock: C,
    ) -> Result<(), StoreError> {
        let cfg = &self.cfg;
        let raft_cfg = cfg.raft_config()?;
        runtime::reseed(cfg.seed ^ cfg.node.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let backend = (self.open)()?;
        let now_clock = clock.clone();
        let (store, applied_rx) = Store::open(
            cfg.node,
            backend,
            self.history.clone(),
            Rc::new(move || now_clock.now()),
        )?;
        *self.live.borrow_mut() = Some(store.clone());
        let (log_store, sm) = Adaptor::new(store.clone());
        let network = PeerNet {
            net: net.clone(),
            rpc_timeout: cfg.timing.rpc_timeout,
        };
        let raft = Raft::<StoreTypes>::new(cfg.node, raft_cfg, network, log_store, sm)
            .await
            .map_err(|e| StoreError::Stopped(e.to_string()))?;
        let members: BTreeMap<NodeId, BasicNode> = cfg
            .members
            .iter()
            .map(|(id, addr)| (*id, BasicNode { addr: addr.clone() }))
            .collect();
        // Every replica offers the same initial membership; openraft accepts it only on
        // a replica that has never seen a log or a vote, so restarts and late joiners are
        // unaffected, and all three agree on the same first entry.
        let _ = raft.initialize(members).await;

        let listener = net
            .bind(&cfg.listen)
            .await
            .map_err(|e| StoreError::Config(format!("cannot listen on {}: {e}", cfg.listen)))?;
        let contact = Rc::new(Cell::new(tokio::time::Instant::now()));
        let server = Server {
            contact: contact.clone(),
            raft: raft.clone(),
            cfg: cfg.clone(),
            store: store.clone(),
            applied: applied_rx,
            history: self.history.clone(),
            clock,
        };
        let mut tasks: Vec<JoinHandle<()>> = Vec::new();
        let conns: Rc<RefCell<Vec<JoinHandle<()>>>> = Rc::default();
        let accept_conns = conns.clone();
        let node = cfg.node;
        tracing::info!(replica = node, listen = %cfg.listen, "store replica listening");
        let admission = Admission::new(format!("store replica {node}"), cfg.admission);
        tasks.push(tokio::task::spawn_local(async move {
            loop {
                let (stream, permit) = match admission.accept(&listener).await {
                    Ok((stream, peer, permit)) => {
                        tracing::debug!(replica = node, %peer, "store peer connected");
                        (stream, permit)
                    }
                    Err(e) => {
                        // The replica stays a member but takes no more calls; its peers
                        // see it as unreachable.
                        tracing::warn!(replica = node, error = %e, "store replica: accept failed, no more peer connections");
                        break;
                    }
                };
                let server = server.clone();
                let mut list = accept_conns.borrow_mut();
                list.retain(|h| !h.is_finished());
                list.push(tokio::task::spawn_local(async move {
                    let _permit = permit;
                    server.serve_conn(stream).await;
                }));
            }
        }));
        tasks.push(tokio::task::spawn_local(election_timer(
            raft.clone(),
            contact,
            cfg.timing,
            ChaCha8Rng::seed_from_u64(cfg.seed ^ cfg.node.wrapping_mul(0xd6e8_feb8_6659_fd93)),
        )));
        // Erasure compaction: after a prefix deletion is applied, snapshot so the log
        // entries that held the erased values can be purged.
        let compact = store.0.borrow().erase_compaction.clone();
        let compact_raft = raft.clone();
        tasks.push(tokio::task::spawn_local(async move {
            loop {
                compact.notified().await;
                if compact_raft.trigger().snapshot().await.is_err() {
                    break;
                }
            }
        }));

        // Wait until the engine stops (a storage fault is fatal to it).
        let mut metrics = raft.metrics();
        let outcome = loop {
            let state = metrics.borrow().running_state.clone();

            if let Err(fatal) = state {
                break fatal.to_string();
            }
            if metrics.changed().await.is_err() {
                break "engine stopped".to_string();
            }
        };
        for t in tasks.iter().chain(conns.borrow().iter()) {
            t.abort();
        }
        let _ = raft.shutdown().await;
        let fault = store.0.borrow().fault.clone();
        Err(match fault {
            Some(e) => StoreError::Storage(e),
            None => StoreError::Stopped(outcome),
        })
    }
}

/// Starts an election when no leader has been heard from for a timeout drawn afresh,
/// uniformly in `[election_min, election_max)`, from the replica's seeded RNG.
///
/// Why not openraft's own timer: openraft 0.9 draws one election timeout per process
/// and checks it only on a tick of 1.5 heartbeats. Replicas started in the same instant
/// (every turmoil world; a region restarted together) then share tick phases, and two
/// whose fixed timeouts land in the same tick split the vote in every round, forever.
/// Raft's liveness argument needs a fresh random timeout per round, which this is.
async fn election_timer(
    raft: Raft<StoreTypes>,
    contact: Rc<Cell<tokio::time::Instant>>,
    timing: StoreTiming,
    mut rng: ChaCha8Rng,
) {
    let min = timing.election_min;
    let spread = u64::try_from((timing.election_max - min).as_micros())
        .unwrap_or(1)
        .max(1);
    loop {
        let timeout = min + Duration::from_micros(rng.next_u64() % spread);
        loop {
            let deadline = contact.get() + timeout;
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep_until(deadline).await;
        }
        contact.set(tokio::time::Instant::now());
        let leading = raft.metrics().borrow().state == openraft::ServerState::Leader;
        if !leading && raft.trigger().elect().await.is_err() {
            return; // the engine stopped
        }
    }
}

/// What a replica needs to answer a connection.
struct Server<C: Clock> {
    /// When a leader was last heard from (or a vote granted): resets the election timer.
    contact: Rc<Cell<tokio::time::Instant>>,
    raft: Raft<StoreTypes>,
    cfg: ReplicaConfig,
    store: Store,
    applied: tokio::sync::watch::Receiver<u64>,
    history: History,
    clock: C,
}

impl<C: Clock> Clone for Server<C> {
    fn clone(&self) -> Self {
        Server {
            contact: self.contact.clone(),
            raft: self.raft.clone(),
            cfg: self.cfg.clone(),
            store: self.store.clone(),
            applied: self.applied.clone(),
            history: self.history.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl<C: Clock> Server<C> {
    async fn serve_conn<S>(self, mut stream: S)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        // A peer that sends garbage, hangs up, or takes longer than the handshake
        // deadline to finish a frame it began just loses its connection. Silence between
        // frames is allowed: clients and peers keep their connections for the next call,
        // and the admission caps bound how many there are.
        let within = self.cfg.admission.handshake_deadline;
        while let Ok(req) = read_frame_within::<_, Request>(&mut stream, within).await {
            let resp = self.handle(req).await;
            // A peer that does not read its answer loses its connection too.
            let written = tokio::time::timeout(
                self.cfg.admission.write_timeout,
                write_frame(&mut stream, &resp),
            )
            .await;
            if !matches!(written, Ok(Ok(()))) {
                break;
            }
        }
    }

    async fn handle(&self, req: Request) -> Response {
        match req {
            Request::Append(r) => {
                let resp = self.raft.append_entries(r).await;
                // Any answer but "I have a higher vote" means a current leader spoke.
                if matches!(&resp, Ok(a) if !matches!(a, AppendEntriesResponse::HigherVote(_))) {
                    self.contact.set(tokio::time::Instant::now());
                }
                Response::Append(resp)
            }
            Request::Vote(r) if self.cfg.bugs.grant_every_vote => {
                // Planted bug: grant without consulting our vote or log.
                Response::Vote(Ok(VoteResponse::new(r.vote, r.last_log_id, true)))
            }
            Request::Vote(r) => {
                let resp = self.raft.vote(r).await;
                if matches!(&resp, Ok(v) if v.vote_granted) {
                    self.contact.set(tokio::time::Instant::now());
                }
                Response::Vote(resp)
            }
            Request::Snapshot(r) => Response::Snapshot(self.raft.install_snapshot(r).await),
            Request::Client(c) => Response::Client(self.client(c).await),
        }
    }

    fn me(&self) -> NodeId {
        self.cfg.node
    }

    fn leader_hint(&self) -> ClientReply {
        let leader = self.raft.metrics().borrow().current_leader;
        ClientReply::NotLeader {
            leader: leader
                .filter(|l| *l != self.me())
                .and_then(|l| self.cfg.members.get(&l).cloned()),
        }
    }

    async fn client(&self, req: ClientRequest) -> ClientReply {
        if let Some(e) = &self.store.0.borrow().fault {
            return ClientReply::Refused(StoreError::Storage(e.clone()));
        }
        match req {
            ClientRequest::Write { op, cmd, residency } => self.write(op, cmd, residency).await,
            ClientRequest::Get { key } => match self.linearize().await {
                Ok(()) => ClientReply::Value(self.store.0.borrow().sm.kv.get(&key).cloned()),
                Err(reply) => reply,
            },
            ClientRequest::Scan { prefix } => match self.linearize().await {
                Ok(()) => {
                    let inner = self.store.0.borrow();
                    let found: Keyspace = inner
                        .sm
                        .kv
                        .range(prefix.clone()..)
                        .take_while(|(k, _)| k.starts_with(&prefix))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    ClientReply::Scan(found)
                }
                Err(reply) => reply,
            },
        }
    }

    async fn write(&self, op: OpId, cmd: Command, residency: Residency) -> ClientReply {
        if let Err(e) = self.cfg.check_write(&cmd, residency) {
            return ClientReply::Refused(e);
        }
        let value_hash = cmd.value_hash();
        let proposal = Proposal { op, cmd };
        if self.cfg.bugs.ack_before_replication {
            // Planted bug: answer as soon as the leader has taken the proposal.
            let (leader, term) = {
                let m = self.raft.metrics();
                let m = m.borrow();
                (m.current_leader, m.current_term)
            };
            if leader != Some(self.me()) {
                return self.leader_hint();
            }
            return match self.raft.client_write_ff(proposal).await {
                Ok(rx) => {
                    tokio::task::spawn_local(async move {
                        let _ = rx.await;
                    });
                    self.history.record(StoreEvent::Ack {
                        at: self.clock.now(),
                        node: self.me(),
                        term,
                        index: None,
                        op,
                        value_hash,
                    });
                    ClientReply::Written(WriteAck {
                        index: None,
                        term,
                        keys_changed: 0,
                    })
                }
                Err(e) => ClientReply::Refused(StoreError::Stopped(e.to_string())),
            };
        }
        let timeout = self.cfg.timing.write_timeout;
        match tokio::time::timeout(timeout, self.raft.client_write(proposal)).await {
            Ok(Ok(resp)) => {
                let term = resp.log_id.leader_id.term;
                let index = resp.log_id.index;
                self.history.record(StoreEvent::Ack {
                    at: self.clock.now(),
                    node: self.me(),
                    term,
                    index: Some(index),
                    op,
                    value_hash,
                });
                ClientReply::Written(WriteAck {
                    index: Some(index),
                    term,
                    keys_changed: resp.data.keys_changed,
                })
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                ClientReply::NotLeader {
                    leader: f.leader_node.map(|n| n.addr),
                }
            }
            Ok(Err(e)) => ClientReply::Refused(StoreError::Indeterminate(e.to_string())),
            Err(_) => ClientReply::Refused(StoreError::Indeterminate(format!(
                "not committed within {timeout:?} (leader may have lost its quorum)"
            ))),
        }
    }

    /// Read-index: confirm leadership with a quorum, then wait until the state machine
    /// has applied up to the commit index seen at that moment.
    async fn linearize(&self) -> Result<(), ClientReply> {
        let timeout = self.cfg.timing.read_timeout;
        let read = match tokio::time::timeout(timeout, self.raft.get_read_log_id()).await {
            Ok(Ok((read, _applied))) => read,
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
                return Err(ClientReply::NotLeader {
                    leader: f.leader_node.map(|n| n.addr),
                })
            }
            Ok(Err(_)) | Err(_) => return Err(ClientReply::NotLeader { leader: None }),
        };
        let want = read.map_or(0, |l| l.index);
        let mut applied = self.applied.clone();
        let reached = tokio::time::timeout(timeout, applied.wait_for(|a| *a >= want))
            .await
            .is_ok_and(|r| r.is_ok());
        if reached {
            Ok(())
        } else {
            Err(ClientReply::NotLeader { leader: None })
        }
    }
}
