//! openraft's storage over a [`Backend`]: the log, the vote, the snapshot and the
//! key-value state machine of one replica.
//!
//! The state machine is volatile: on start it is rebuilt from the backend's snapshot,
//! then openraft re-applies the committed entries after it. Every storage call goes
//! through the backend first, so a failed write (disk full) changes nothing in memory
//! and surfaces as openraft's `StorageError`, which stops the engine on that node: it
//! no longer votes, appends or acknowledges, and the others elect without it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::Cursor;
use std::ops::RangeBounds;
use std::rc::Rc;

use camproof_protocol::Timestamp;
use openraft::storage::{LogState, RaftLogReader, RaftSnapshotBuilder, RaftStorage, Snapshot};
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, OptionalSend, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership, Vote,
};
use tokio::sync::{watch, Notify};

use super::backend::{Backend, StoredSnapshot};
use super::history::{History, StoreEvent};
use super::types::BackendError;
use super::types::{Applied, Command, Keyspace, NodeId, StoreTypes};

/// Reads the time for history events (the injected `Clock`, type-erased).
pub(crate) type NowFn = Rc<dyn Fn() -> Timestamp>;

/// The state machine: the keyspace and how far it has applied.
#[derive(Debug, Default)]
pub(crate) struct StateMachine {
    pub(crate) kv: Keyspace,
    pub(crate) applied: Option<LogId<NodeId>>,
    pub(crate) membership: StoredMembership<NodeId, BasicNode>,
}

pub(crate) struct Inner {
    node: NodeId,
    backend: Box<dyn Backend>,
    log: BTreeMap<u64, Entry<StoreTypes>>,
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
    purged: Option<LogId<NodeId>>,
    snapshot: Option<StoredSnapshot>,
    pub(crate) sm: StateMachine,
    history: History,
    now: NowFn,
    /// The applied index, for reads waiting on read-index.
    applied_tx: watch::Sender<u64>,
    /// Set when an erasure was applied; the replica compacts (snapshot + purge) so the
    /// erased values leave the log too.
    pub(crate) erase_compaction: Rc<Notify>,
    /// The first storage error; the node is dead from then on.
    pub(crate) fault: Option<BackendError>,
}

/// One replica's openraft storage (clones share it).
#[derive(Clone)]
pub(crate) struct Store(pub(crate) Rc<RefCell<Inner>>);

impl Store {
    /// Opens the store from `backend`: reads back vote, log and snapshot, and rebuilds the
    /// state machine from the snapshot.
    pub(crate) fn open(
        node: NodeId,
        mut backend: Box<dyn Backend>,
        history: History,
        now: NowFn,
    ) -> Result<(Self, watch::Receiver<u64>), BackendError> {
        let rec = match backend.recover() {
            Ok(rec) => rec,
            Err(e) => {
                // A replica that cannot read its disk back refuses to start: recorded so
                // checkers and operators see why it is down.
                history.record(StoreEvent::StorageFault {
                    at: now(),
                    node,
                    error: e.to_string(),
                });
                return Err(e);
            }
        };
        if rec.dropped_bytes > 0 || rec.lost.is_some() {
            tracing::warn!(
                replica = node,
                dropped_bytes = rec.dropped_bytes,
                dropped_records = rec.dropped_records,
                lost = rec.lost.as_deref().unwrap_or("nothing"),
                "store replica recovered without its torn last write"
            );
            history.record(StoreEvent::Recovered {
                at: now(),
                node,
                dropped_bytes: rec.dropped_bytes,
                dropped_records: rec.dropped_records,
                lost: rec.lost.clone(),
            });
        }
        let mut sm = StateMachine::default();
        if let Some(s) = &rec.snapshot {
            sm.kv = serde_json::from_slice(&s.data).map_err(|e| BackendError::Corrupt {
                path: "snapshot".into(),
                offset: 0,
                reason: format!("undecodable keyspace: {e}"),
            })?;
            sm.applied = s.meta.last_log_id;
            sm.membership = s.meta.last_membership.clone();
        }
        let applied = sm.applied.map_or(0, |l| l.index);
        let (applied_tx, applied_rx) = watch::channel(applied);
        let inner = Inner {
            node,
            backend,
            log: rec.entries,
            vote: rec.vote,
            committed: rec.committed,
            purged: rec.purged,
            snapshot: rec.snapshot,
            sm,
            history,
            now,
            applied_tx,
            erase_compaction: Rc::new(Notify::new()),
            fault: None,
        };
        Ok((Store(Rc::new(RefCell::new(inner))), applied_rx))
    }

    /// Runs a backend write; on failure records the fault (once) and converts the error.
    // The error type is openraft's, returned as openraft's storage traits require.
    #[allow(clippy::result_large_err)]
    fn write(
        &self,
        what: impl FnOnce(&mut dyn Backend) -> Result<(), BackendError>,
        wrap: fn(AnyError) -> StorageIOError<NodeId>,
    ) -> Result<(), StorageError<NodeId>> {
        let mut inner = self.0.borrow_mut();
        if let Some(f) = &inner.fault {
            // Once a write failed the node stays down; do not half-write later calls.
            return Err(StorageError::IO {
                source: wrap(AnyError::new(f)),
            });
        }
        match what(inner.backend.as_mut()) {
            Ok(()) => Ok(()),
            Err(e) => {
                let at = (inner.now)();
                inner.history.record(StoreEvent::StorageFault {
                    at,
                    node: inner.node,
                    error: e.to_string(),
                });
                let err = StorageError::IO {
                    source: wrap(AnyError::new(&e)),
                };
                inner.fault = Some(e);
                Err(err)
            }
        }
    }

    fn write_snapshot_err(e: AnyError) -> StorageIOError<NodeId> {
        StorageIOError::write_snapshot(None, e)
    }
}

impl RaftLogReader<StoreTypes> for Store {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<StoreTypes>>, StorageError<NodeId>> {
        Ok(self
            .0
            .borrow()
            .log
            .range(range)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl RaftSnapshotBuilder<StoreTypes> for Store {
    async fn build_snapshot(&mut self) -> Result<Snapshot<StoreTypes>, StorageError<NodeId>> {
        let (meta, data) = {
            let inner = self.0.borrow();
            let data = serde_json::to_vec(&inner.sm.kv).map_err(|e| StorageError::IO {
                source: StorageIOError::read_state_machine(AnyError::new(&e)),
            })?;
            let last = inner.sm.applied;
            let meta = SnapshotMeta {
                last_log_id: last,
                last_membership: inner.sm.membership.clone(),
                snapshot_id: last.map_or("empty".into(), |l| {
                    format!("{}-{}", l.leader_id.term, l.index)
                }),
            };
            (meta, data)
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        };
        let s2 = stored.clone();
        self.write(|b| b.save_snapshot(&s2), Self::write_snapshot_err)?;
        self.0.borrow_mut().snapshot = Some(stored);
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStorage<StoreTypes> for Store {
    type LogReader = Store;
    type SnapshotBuilder = Store;

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.write(|b| b.save_vote(vote), StorageIOError::write_vote)?;
        let mut inner = self.0.borrow_mut();
        inner.vote = Some(*vote);
        // A committed vote for ourselves means a quorum granted it: we lead this term.
        if vote.is_committed() && vote.leader_id().voted_for() == Some(inner.node) {
            let at = (inner.now)();
            inner.history.record(StoreEvent::Leader {
                at,
                term: vote.leader_id().get_term(),
                node: inner.node,
            });
        }
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(self.0.borrow().vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        self.write(|b| b.save_committed(committed), StorageIOError::write)?;
        self.0.borrow_mut().committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(self.0.borrow().committed)
    }

    async fn get_log_state(&mut self) -> Result<LogState<StoreTypes>, StorageError<NodeId>> {
        let inner = self.0.borrow();
        let last = inner
            .log
            .values()
            .next_back()
            .map(|e| e.log_id)
            .or(inner.purged);
        Ok(LogState {
            last_purged_log_id: inner.purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn append_to_log<I>(&mut self, entries: I) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<StoreTypes>> + OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        if entries.is_empty() {
            return Ok(());
        }
        self.write(|b| b.append(&entries), StorageIOError::write_logs)?;
        let mut inner = self.0.borrow_mut();
        for e in entries {
            inner.log.insert(e.log_id.index, e);
        }
        Ok(())
    }

    async fn delete_conflict_logs_since(
        &mut self,
        log_id: LogId<NodeId>,
    ) -> Result<(), StorageError<NodeId>> {
        self.write(
            |b| b.truncate_since(log_id.index),
            StorageIOError::write_logs,
        )?;
        self.0.borrow_mut().log.split_off(&log_id.index);
        Ok(())
    }

    async fn purge_logs_upto(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.write(|b| b.purge_upto(log_id), StorageIOError::write_logs)?;
        let mut inner = self.0.borrow_mut();
        inner.log = inner.log.split_off(&(log_id.index + 1));
        inner.purged = Some(log_id);
        Ok(())
    }

    async fn last_applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>>
    {
        let inner = self.0.borrow();
        Ok((inner.sm.applied, inner.sm.membership.clone()))
    }

    async fn apply_to_state_machine(
        &mut self,
        entries: &[Entry<StoreTypes>],
    ) -> Result<Vec<Applied>, StorageError<NodeId>> {
        let mut inner = self.0.borrow_mut();
        let inner = &mut *inner;
        let mut out = Vec::with_capacity(entries.len());
        let mut erased = false;
        for e in entries {
            inner.sm.applied = Some(e.log_id);
            let mut result = Applied::default();
            let op = match &e.payload {
                EntryPayload::Normal(p) => {
                    result.keys_changed = apply_command(&mut inner.sm.kv, &p.cmd, &mut erased);
                    Some(p.op)
                }
                EntryPayload::Membership(m) => {
                    inner.sm.membership = StoredMembership::new(Some(e.log_id), m.clone());
                    None
                }
                EntryPayload::Blank => None,
            };
            let at = (inner.now)();
            inner.history.record(StoreEvent::Applied {
                at,
                node: inner.node,
                index: e.log_id.index,
                term: e.log_id.leader_id.term,
                op,
            });
            out.push(result);
        }
        if let Some(last) = inner.sm.applied {
            inner.applied_tx.send_replace(last.index);
        }
        if erased {
            inner.erase_compaction.notify_one();
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let data = snapshot.into_inner();
        let kv: Keyspace = serde_json::from_slice(&data).map_err(|e| StorageError::IO {
            source: StorageIOError::read_snapshot(None, AnyError::new(&e)),
        })?;
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        let s2 = stored.clone();
        self.write(|b| b.save_snapshot(&s2), Self::write_snapshot_err)?;
        let mut inner = self.0.borrow_mut();
        inner.sm.kv = kv;
        inner.sm.applied = meta.last_log_id;
        inner.sm.membership = meta.last_membership.clone();
        inner.snapshot = Some(stored);
        if let Some(l) = meta.last_log_id {
            inner.applied_tx.send_replace(l.index);
        }
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<StoreTypes>>, StorageError<NodeId>> {
        Ok(self.0.borrow().snapshot.as_ref().map(|s| Snapshot {
            meta: s.meta.clone(),
            snapshot: Box::new(Cursor::new(s.data.clone())),
        }))
    }
}

/// Applies one command to a keyspace; returns the keys removed or replaced, and sets
/// `erased` when a prefix was erased (the log must then be compacted).
fn apply_command(kv: &mut Keyspace, cmd: &Command, erased: &mut bool) -> u64 {
    match cmd {
        Command::Put { key, value } => u64::from(kv.insert(key.clone(), value.clone()).is_some()),
        Command::Delete { key } => u64::from(kv.remove(key).is_some()),
        Command::DeletePrefix { prefix } => {
            let before = kv.len();
            kv.retain(|k, _| !k.starts_with(prefix.as_str()));
            *erased = true;
            (before - kv.len()) as u64
        }
        Command::Batch { cmds } => cmds.iter().map(|c| apply_command(kv, c, erased)).sum(),
    }
}
