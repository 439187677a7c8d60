//! The store's observable history and the two safety checkers that read it.
//!
//! Replicas record, as they happen: each acknowledged write (at the leader, when it
//! answers the client), each entry applied to a state machine, each leadership taken,
//! and each storage fault. A [`History`] is shared by every replica of a simulation
//! (single-threaded, like [`Trace`](crate::trace::Trace)); checkers belong to the
//! harness and read it:
//! - [`check_no_acked_write_lost`]: every acknowledged write is applied, at its index,
//!   by every replica that reached that index, and by at least one.
//! - [`check_one_leader_per_term`]: no term has two leaders, and every acknowledgement
//!   came from its term's leader (no two writers).
//!
//! Events carry no keys or values, only hashes and operation ids, so the history keeps
//! nothing that account erasure would have to remove.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use camproof_protocol::Timestamp;
use sha2::{Digest, Sha256};

use super::types::{NodeId, OpId};
use crate::trace::Trace;

/// One thing that happened in a region's store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreEvent {
    /// `node` became leader of `term`.
    Leader {
        /// When.
        at: Timestamp,
        /// The term.
        term: u64,
        /// The node.
        node: NodeId,
    },
    /// `node` acknowledged a write to its client.
    Ack {
        /// When.
        at: Timestamp,
        /// The acknowledging node.
        node: NodeId,
        /// Its term.
        term: u64,
        /// The entry's index (`None` when acknowledged before it was even appended: the
        /// planted bug).
        index: Option<u64>,
        /// The operation.
        op: OpId,
        /// Fingerprint of the value written (0 for deletions).
        value_hash: u64,
    },
    /// `node` applied an entry to its state machine.
    Applied {
        /// When.
        at: Timestamp,
        /// The node.
        node: NodeId,
        /// Entry index.
        index: u64,
        /// Entry term.
        term: u64,
        /// The operation (`None` for Raft's own entries: blank, membership).
        op: Option<OpId>,
    },
    /// `node`'s storage failed; it stops (no more votes, appends or acks).
    StorageFault {
        /// When.
        at: Timestamp,
        /// The node.
        node: NodeId,
        /// The error.
        error: String,
    },
    /// `node` started from a log that recovery shortened (recorded only when it did).
    Recovered {
        /// When.
        at: Timestamp,
        /// The node.
        node: NodeId,
        /// Bytes of a torn last write dropped.
        dropped_bytes: u64,
        /// Records dropped with them.
        dropped_records: u64,
        /// What its disk had accepted but recovery did not give back (`None`: nothing;
        /// only a simulated disk knows).
        lost: Option<String>,
    },
}

impl fmt::Display for StoreEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreEvent::Leader { at, term, node } => write!(f, "{at} leader t{term} n{node}"),
            StoreEvent::Ack {
                at,
                node,
                term,
                index,
                op,
                value_hash,
            } => write!(
                f,
                "{at} ack n{node} t{term} i{} {op} v{value_hash:016x}",
                index.map_or("?".into(), |i| i.to_string())
            ),
            StoreEvent::Applied {
                at,
                node,
                index,
                term,
                op,
            } => write!(
                f,
                "{at} apply n{node} i{index} t{term} {}",
                op.map_or("-".into(), |o| o.to_string())
            ),
            StoreEvent::StorageFault { at, node, error } => {
                write!(f, "{at} storage-fault n{node} {error}")
            }
            StoreEvent::Recovered {
                at,
                node,
                dropped_bytes,
                dropped_records,
                lost,
            } => write!(
                f,
                "{at} recovered n{node} dropped {dropped_bytes} bytes {dropped_records} records lost {}",
                lost.as_deref().unwrap_or("nothing")
            ),
        }
    }
}

/// A shared, append-only log of [`StoreEvent`]s (clones share it).
#[derive(Debug, Clone, Default)]
pub struct History {
    inner: Rc<RefCell<HistoryInner>>,
}

#[derive(Debug, Default)]
struct HistoryInner {
    events: Vec<StoreEvent>,
    hash: Sha256,
    trace: Option<Trace>,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty history that also copies every event into the run's trace.
    pub fn with_trace(trace: Trace) -> Self {
        let h = Self::default();
        h.inner.borrow_mut().trace = Some(trace);
        h
    }

    /// Appends one event.
    pub fn record(&self, event: StoreEvent) {
        let mut h = self.inner.borrow_mut();
        let line = event.to_string();
        h.hash.update(line.as_bytes());
        h.hash.update([b'\n']);
        if let Some(t) = &h.trace {
            let at = match &event {
                StoreEvent::Leader { at, .. }
                | StoreEvent::Ack { at, .. }
                | StoreEvent::Applied { at, .. }
                | StoreEvent::StorageFault { at, .. }
                | StoreEvent::Recovered { at, .. } => *at,
            };
            // The trace prefixes its own time; drop ours from the text.
            let text = line.split_once(' ').map_or(line.as_str(), |(_, r)| r);
            t.record(at, format!("store {text}"));
        }
        h.events.push(event);
    }

    /// Every event so far, in order.
    pub fn events(&self) -> Vec<StoreEvent> {
        self.inner.borrow().events.clone()
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.inner.borrow().events.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// SHA-256 over every event's text, in order, as hex.
    pub fn hash_hex(&self) -> String {
        let d = self.inner.borrow().hash.clone().finalize();
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The acknowledgements recorded.
    pub fn acks(&self) -> Vec<StoreEvent> {
        self.inner
            .borrow()
            .events
            .iter()
            .filter(|e| matches!(e, StoreEvent::Ack { .. }))
            .cloned()
            .collect()
    }

    /// The leaderships recorded, as (term, node, time).
    pub fn leaders(&self) -> Vec<(u64, NodeId, Timestamp)> {
        self.inner
            .borrow()
            .events
            .iter()
            .filter_map(|e| match e {
                StoreEvent::Leader { at, term, node } => Some((*term, *node, *at)),
                _ => None,
            })
            .collect()
    }
}

/// A safety property the history breaks, with the times, terms, indexes and nodes of
/// the events that break it ([`Violation::describe`] names the nodes' hosts and the
/// writers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// An acknowledged write was replaced at its index by another entry.
    #[error(
        "acknowledged write {op} (index {index}, term {term}, acknowledged by node {acked_by} \
         at {acked_at}) lost: node {node} applied {found} there at {found_at}"
    )]
    AckOverwritten {
        /// The acknowledged operation.
        op: OpId,
        /// Its index.
        index: u64,
        /// The term it was acknowledged in.
        term: u64,
        /// The node that acknowledged it.
        acked_by: NodeId,
        /// When it was acknowledged.
        acked_at: Timestamp,
        /// A node that applied something else there.
        node: NodeId,
        /// What it applied.
        found: String,
        /// When it applied that.
        found_at: Timestamp,
    },
    /// An acknowledged write was never applied by any replica.
    #[error(
        "acknowledged write {op} (index {}, term {term}, acknowledged by node {acked_by} at \
         {acked_at}) was applied by no replica",
        index.map_or("unknown".into(), |i| i.to_string())
    )]
    AckNeverApplied {
        /// The operation.
        op: OpId,
        /// Its index, if known (`None`: acknowledged before it was appended).
        index: Option<u64>,
        /// The term it was acknowledged in.
        term: u64,
        /// The node that acknowledged it.
        acked_by: NodeId,
        /// When it was acknowledged.
        acked_at: Timestamp,
    },
    /// Two nodes led the same term.
    #[error(
        "two leaders in term {term}: nodes {first} (at {first_at}) and {second} (at {second_at})"
    )]
    TwoLeaders {
        /// The term.
        term: u64,
        /// The first leader recorded.
        first: NodeId,
        /// When it took the lead.
        first_at: Timestamp,
        /// Another.
        second: NodeId,
        /// When that one took the lead.
        second_at: Timestamp,
    },
    /// A node acknowledged a write in a term it did not lead.
    #[error("node {node} acknowledged {op} in term {term} at {at}, led by {}", leader.map_or("nobody".into(), |n| format!("node {n}")))]
    AckByNonLeader {
        /// The node.
        node: NodeId,
        /// The operation.
        op: OpId,
        /// The term.
        term: u64,
        /// When it acknowledged.
        at: Timestamp,
        /// The term's leader (`None` if nobody was recorded).
        leader: Option<NodeId>,
    },
    /// A replica started without something its disk had accepted, and said nothing.
    #[error("node {node} started at {at} without {lost} that its disk had accepted")]
    SilentLoss {
        /// The node.
        node: NodeId,
        /// When it started.
        at: Timestamp,
        /// What it lost.
        lost: String,
    },
}

/// What a [`Violation`] is told in people's words with: the host of each node, the
/// writer behind each client id, and the run's start to give times since then.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreNames {
    /// The simulated (or real) clock at the start of the run.
    pub epoch: Timestamp,
    /// Each node's host name.
    pub nodes: BTreeMap<NodeId, String>,
    /// Who writes with each client id (e.g. `the store writer on gw-apac-2`).
    pub clients: BTreeMap<u64, String>,
}

impl StoreNames {
    fn node(&self, node: NodeId) -> String {
        self.nodes
            .get(&node)
            .cloned()
            .unwrap_or_else(|| format!("node {node}"))
    }

    /// The operation with its writer: `c3#17 (written by the store writer on gw-apac-2)`.
    fn op(&self, op: &OpId) -> String {
        match self.clients.get(&op.client) {
            Some(writer) => format!("{op} (written by {writer})"),
            None => op.to_string(),
        }
    }

    fn at(&self, t: Timestamp) -> String {
        let since = t.saturating_since(self.epoch);
        format!("{:.3} s", since.as_secs_f64())
    }
}

impl Violation {
    /// The time the history shows the violation at: when the entry replacing an
    /// acknowledged write was applied, the second leader took its term, or the rogue
    /// acknowledgement was given; `None` for a write no replica applied (known only at
    /// the end).
    pub fn at(&self) -> Option<Timestamp> {
        match self {
            Violation::AckOverwritten { found_at, .. } => Some(*found_at),
            Violation::AckNeverApplied { .. } => None,
            Violation::TwoLeaders { second_at, .. } => Some(*second_at),
            Violation::AckByNonLeader { at, .. } => Some(*at),
            Violation::SilentLoss { at, .. } => Some(*at),
        }
    }

    /// The violation told with host names, writers and times since the run's start.
    pub fn describe(&self, names: &StoreNames) -> String {
        let n = |node: &NodeId| names.node(*node);
        match self {
            Violation::AckOverwritten {
                op,
                index,
                term,
                acked_by,
                acked_at,
                node,
                found,
                found_at,
            } => format!(
                "acknowledged write {} at index {index} of term {term}, acknowledged by {} at \
                 {}, lost: {} applied {found} there at {}",
                names.op(op),
                n(acked_by),
                names.at(*acked_at),
                n(node),
                names.at(*found_at)
            ),
            Violation::AckNeverApplied {
                op,
                index,
                term,
                acked_by,
                acked_at,
            } => format!(
                "acknowledged write {} at index {} of term {term}, acknowledged by {} at {}, \
                 was applied by no replica",
                names.op(op),
                index.map_or("unknown".into(), |i| i.to_string()),
                n(acked_by),
                names.at(*acked_at)
            ),
            Violation::TwoLeaders {
                term,
                first,
                first_at,
                second,
                second_at,
            } => format!(
                "two leaders in term {term}: {} from {} and {} from {}",
                n(first),
                names.at(*first_at),
                n(second),
                names.at(*second_at)
            ),
            Violation::AckByNonLeader {
                node,
                op,
                term,
                at,
                leader,
            } => format!(
                "{} acknowledged {} in term {term} at {}, a term led by {}",
                n(node),
                names.op(op),
                names.at(*at),
                leader.as_ref().map_or("nobody".into(), n)
            ),
            Violation::SilentLoss { node, at, lost } => format!(
                "{} restarted at {} without {lost} that its disk had accepted, and no error: \
                 storage is not fail-stop",
                n(node),
                names.at(*at)
            ),
        }
    }
}

/// "Fail-stop storage": a replica either starts with everything its disk accepted or
/// refuses to start with a typed error; it never starts having silently lost a vote,
/// a commit index or log entries. (That nothing acknowledged is kept by no replica is
/// [`check_no_acked_write_lost`].) A safety property: can be called after every step.
pub fn check_fail_stop_storage(history: &History) -> Result<(), Violation> {
    for e in history.events() {
        if let StoreEvent::Recovered {
            at,
            node,
            lost: Some(lost),
            ..
        } = e
        {
            return Err(Violation::SilentLoss { node, at, lost });
        }
    }
    Ok(())
}

/// "No acknowledged write lost": every acknowledged write is applied, at its index, by
/// every replica that applied that index, and by at least one replica.
///
/// Call it after the run has healed and converged (the liveness phase): a write that
/// is acknowledged but not yet applied anywhere counts as lost. An acknowledgement
/// without an index (ack before replication) must appear somewhere with its op id.
pub fn check_no_acked_write_lost(history: &History) -> Result<(), Violation> {
    let events = history.events();
    // node -> index -> (op applied there, when); op -> whether anyone applied it.
    let mut applied: BTreeMap<NodeId, BTreeMap<u64, (Option<OpId>, Timestamp)>> = BTreeMap::new();
    let mut seen_ops: BTreeMap<OpId, u64> = BTreeMap::new();
    for e in &events {
        if let StoreEvent::Applied {
            at,
            node,
            index,
            op,
            ..
        } = e
        {
            applied.entry(*node).or_default().insert(*index, (*op, *at));
            if let Some(op) = op {
                seen_ops.insert(*op, *index);
            }
        }
    }
    for e in &events {
        let StoreEvent::Ack {
            at,
            node: acked_by,
            term,
            op,
            index,
            ..
        } = e
        else {
            continue;
        };
        let never_applied = || Violation::AckNeverApplied {
            op: *op,
            index: *index,
            term: *term,
            acked_by: *acked_by,
            acked_at: *at,
        };
        match index {
            Some(i) => {
                let mut found_somewhere = false;
                for (node, log) in &applied {
                    match log.get(i) {
                        Some((Some(got), _)) if got == op => found_somewhere = true,
                        Some((got, found_at)) => {
                            return Err(Violation::AckOverwritten {
                                op: *op,
                                index: *i,
                                term: *term,
                                acked_by: *acked_by,
                                acked_at: *at,
                                node: *node,
                                found: got.map_or("a raft entry".into(), |o| o.to_string()),
                                found_at: *found_at,
                            })
                        }
                        None => {}
                    }
                }
                if !found_somewhere {
                    return Err(never_applied());
                }
            }
            None => {
                if !seen_ops.contains_key(op) {
                    return Err(never_applied());
                }
            }
        }
    }
    Ok(())
}

/// "No two writers": at most one leader per term, and every acknowledgement came from
/// the leader of its term.
///
/// Holds at every point of a run (a safety property): it can be called as the run goes.
pub fn check_one_leader_per_term(history: &History) -> Result<(), Violation> {
    let mut leader_of: BTreeMap<u64, (NodeId, Timestamp)> = BTreeMap::new();
    for e in history.events() {
        match e {
            StoreEvent::Leader { at, term, node } => match leader_of.get(&term) {
                Some(&(first, first_at)) if first != node => {
                    return Err(Violation::TwoLeaders {
                        term,
                        first,
                        first_at,
                        second: node,
                        second_at: at,
                    })
                }
                _ => {
                    leader_of.insert(term, (node, at));
                }
            },
            StoreEvent::Ack {
                at, node, term, op, ..
            } if leader_of.get(&term).map(|(n, _)| *n) != Some(node) => {
                return Err(Violation::AckByNonLeader {
                    node,
                    op,
                    term,
                    at,
                    leader: leader_of.get(&term).map(|(n, _)| *n),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }
    const OP: OpId = OpId { client: 1, seq: 1 };

    #[test]
    fn checkers_accept_a_clean_history_and_reject_each_violation() {
        let h = History::new();
        h.record(StoreEvent::Leader {
            at: t(1),
            term: 1,
            node: 1,
        });
        for node in [1, 2] {
            h.record(StoreEvent::Applied {
                at: t(2),
                node,
                index: 5,
                term: 1,
                op: Some(OP),
            });
        }
        h.record(StoreEvent::Ack {
            at: t(2),
            node: 1,
            term: 1,
            index: Some(5),
            op: OP,
            value_hash: 9,
        });
        assert_eq!(check_no_acked_write_lost(&h), Ok(()));
        assert_eq!(check_one_leader_per_term(&h), Ok(()));

        // Another op at the acked index on node 3: lost.
        let lost = h.clone();
        lost.record(StoreEvent::Applied {
            at: t(3),
            node: 3,
            index: 5,
            term: 2,
            op: Some(OpId { client: 2, seq: 1 }),
        });
        assert!(matches!(
            check_no_acked_write_lost(&lost),
            Err(Violation::AckOverwritten { node: 3, .. })
        ));

        // A second leader in term 1.
        let two = History::new();
        for node in [1, 2] {
            two.record(StoreEvent::Leader {
                at: t(1),
                term: 1,
                node,
            });
        }
        assert!(matches!(
            check_one_leader_per_term(&two),
            Err(Violation::TwoLeaders { term: 1, .. })
        ));

        // An ack by a node that did not lead that term; an ack never applied.
        let rogue = History::new();
        rogue.record(StoreEvent::Ack {
            at: t(1),
            node: 2,
            term: 4,
            index: None,
            op: OP,
            value_hash: 0,
        });
        assert!(matches!(
            check_one_leader_per_term(&rogue),
            Err(Violation::AckByNonLeader { .. })
        ));
        assert!(matches!(
            check_no_acked_write_lost(&rogue),
            Err(Violation::AckNeverApplied { .. })
        ));
    }

    fn names() -> StoreNames {
        StoreNames {
            epoch: t(1),
            nodes: [
                (1, "gw-apac-1".into()),
                (2, "gw-apac-2".into()),
                (3, "gw-apac-3".into()),
            ]
            .into_iter()
            .collect(),
            clients: [(1, "the store writer on gw-apac-1".into())]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn violations_name_hosts_writers_terms_indexes_and_times() {
        // A write acknowledged by gw-apac-1 at index 5 of term 1, then replaced there.
        let h = History::new();
        h.record(StoreEvent::Leader {
            at: t(1),
            term: 1,
            node: 1,
        });
        h.record(StoreEvent::Ack {
            at: t(3),
            node: 1,
            term: 1,
            index: Some(5),
            op: OP,
            value_hash: 9,
        });
        h.record(StoreEvent::Applied {
            at: t(11),
            node: 2,
            index: 5,
            term: 2,
            op: Some(OpId { client: 2, seq: 4 }),
        });
        let v = check_no_acked_write_lost(&h).unwrap_err();
        assert_eq!(v.at(), Some(t(11)));
        assert_eq!(
            v.describe(&names()),
            "acknowledged write c1#1 (written by the store writer on gw-apac-1) at index 5 \
             of term 1, acknowledged by gw-apac-1 at 2.000 s, lost: gw-apac-2 applied c2#4 \
             there at 10.000 s"
        );
        // Without names the text still has every number.
        assert_eq!(
            v.to_string(),
            "acknowledged write c1#1 (index 5, term 1, acknowledged by node 1 at 3.000000s) \
             lost: node 2 applied c2#4 there at 11.000000s"
        );

        // Two leaders of term 2: both hosts and when each took the lead.
        h.record(StoreEvent::Leader {
            at: t(7),
            term: 2,
            node: 2,
        });
        h.record(StoreEvent::Leader {
            at: t(8),
            term: 2,
            node: 3,
        });
        let v = check_one_leader_per_term(&h).unwrap_err();
        assert_eq!(v.at(), Some(t(8)));
        assert_eq!(
            v.describe(&names()),
            "two leaders in term 2: gw-apac-2 from 6.000 s and gw-apac-3 from 7.000 s"
        );

        // An ack nobody applied, from a node that led no term; its writer is unknown.
        let rogue = History::new();
        rogue.record(StoreEvent::Ack {
            at: t(4),
            node: 3,
            term: 4,
            index: None,
            op: OpId { client: 9, seq: 2 },
            value_hash: 0,
        });
        let v = check_no_acked_write_lost(&rogue).unwrap_err();
        assert_eq!(v.at(), None);
        assert_eq!(
            v.describe(&names()),
            "acknowledged write c9#2 at index unknown of term 4, acknowledged by gw-apac-3 at \
             3.000 s, was applied by no replica"
        );
        let v = check_one_leader_per_term(&rogue).unwrap_err();
        assert_eq!(
            v.describe(&names()),
            "gw-apac-3 acknowledged c9#2 in term 4 at 3.000 s, a term led by nobody"
        );
    }

    #[test]
    fn hash_follows_events_and_trace_gets_copies() {
        let trace = Trace::new(10);
        let a = History::with_trace(trace.clone());
        let b = History::new();
        for h in [&a, &b] {
            h.record(StoreEvent::Leader {
                at: t(1),
                term: 1,
                node: 1,
            });
        }
        assert_eq!(a.hash_hex(), b.hash_hex());
        assert_eq!(trace.kept(), ["1.000000s store leader t1 n1"]);
        b.record(StoreEvent::Leader {
            at: t(2),
            term: 2,
            node: 2,
        });
        assert_ne!(a.hash_hex(), b.hash_hex());
    }
}
