//! The store's data types: what a log entry carries, its result, residency, errors.

use std::fmt;
use std::io::Cursor;

use openraft::{BasicNode, Entry};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::accounts::Region;

/// A replica's id inside its region's group (1, 2, 3: one per zone).
pub type NodeId = u64;

/// A replica's keyspace: key → value bytes, ordered (the same type the services use).
pub type Keyspace = std::collections::BTreeMap<String, Vec<u8>>;

openraft::declare_raft_types!(
    /// openraft's type configuration for the store.
    pub StoreTypes:
        D = Proposal,
        R = Applied,
        NodeId = NodeId,
        Node = BasicNode,
        Entry = Entry<StoreTypes>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = super::runtime::LocalRuntime,
);

/// A mutation of the keyspace, as carried by one log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Command {
    /// Sets `key` to `value`.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: Vec<u8>,
    },
    /// Removes `key` (no-op if absent).
    Delete {
        /// The key.
        key: String,
    },
    /// Removes every key that starts with `prefix` (account erasure).
    DeletePrefix {
        /// The prefix; must not be empty.
        prefix: String,
    },
    /// Several puts and deletes applied in order as one log entry: one round of
    /// replication for many records, all or none.
    Batch {
        /// The commands; not empty, none of them a batch.
        cmds: Vec<Command>,
    },
}

impl Command {
    /// Every key or prefix the command touches, in order.
    pub fn targets(&self) -> Vec<&str> {
        match self {
            Command::Put { key, .. } | Command::Delete { key } => vec![key],
            Command::DeletePrefix { prefix } => vec![prefix],
            Command::Batch { cmds } => cmds.iter().flat_map(Command::targets).collect(),
        }
    }

    /// A short fingerprint of the written values (0 for a single deletion), for
    /// histories that must not hold user data.
    pub fn value_hash(&self) -> u64 {
        match self {
            Command::Put { value, .. } => value_hash(value),
            Command::Batch { cmds } => {
                let mut h = Sha256::new();
                for c in cmds {
                    h.update(c.value_hash().to_be_bytes());
                    for t in c.targets() {
                        h.update((t.len() as u64).to_be_bytes());
                        h.update(t.as_bytes());
                    }
                }
                first_u64(&h.finalize())
            }
            _ => 0,
        }
    }

    /// Checks the shape the store accepts: keys non-empty and bounded, no empty prefix
    /// (it would erase everything), batches non-empty and flat.
    pub fn check(&self) -> Result<(), StoreError> {
        match self {
            Command::Put { key, .. } | Command::Delete { key } => check_key(key),
            Command::DeletePrefix { prefix } if prefix.is_empty() => Err(StoreError::InvalidKey {
                key: String::new(),
                reason: "empty prefix would erase everything".into(),
            }),
            Command::DeletePrefix { prefix } => check_key(prefix),
            Command::Batch { cmds } if cmds.is_empty() => Err(StoreError::InvalidKey {
                key: String::new(),
                reason: "empty batch".into(),
            }),
            Command::Batch { cmds } => cmds.iter().try_for_each(|c| match c {
                Command::Batch { .. } => Err(StoreError::InvalidKey {
                    key: String::new(),
                    reason: "a batch inside a batch".into(),
                }),
                c => c.check(),
            }),
        }
    }
}

/// The first 8 bytes of SHA-256 of `value`, big-endian.
pub fn value_hash(value: &[u8]) -> u64 {
    first_u64(&Sha256::digest(value))
}

/// The first 8 bytes of a digest, big-endian.
fn first_u64(d: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

/// Which client operation an entry came from: lets a checker match an acknowledgement to
/// the entry that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OpId {
    /// The client's id (unique per client in a run).
    pub client: u64,
    /// The client's sequence number for this operation.
    pub seq: u64,
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}#{}", self.client, self.seq)
    }
}

/// One proposed log entry: the operation id and the command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Where it came from.
    pub op: OpId,
    /// What it does.
    pub cmd: Command,
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cmd {
            Command::Batch { cmds } => write!(f, "{} batch of {}", self.op, cmds.len()),
            cmd => write!(f, "{} {:?}", self.op, cmd.targets().first().unwrap_or(&"")),
        }
    }
}

/// The result of applying one entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// Keys removed (deletions) or replaced (puts).
    pub keys_changed: u64,
}

/// Whose data a write is, for data residency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Residency {
    /// Data of a user (or a device of a user) whose home region is this one. The store
    /// refuses it unless the region is the store's own.
    Home(Region),
    /// Region-independent data (routing directory, OTA catalog): allowed only under one of
    /// the store's configured global prefixes.
    Global,
}

/// Where a write was acknowledged: durable on a majority of the region's zones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteAck {
    /// The log index of the entry (`None` only with the planted ack-before-replication bug).
    pub index: Option<u64>,
    /// The leader's term.
    pub term: u64,
    /// Keys removed or replaced.
    pub keys_changed: u64,
}

/// Why the store refused or could not complete a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum StoreError {
    /// Data residency: the data's home region is not this store's region.
    #[error("data residency: {key:?} belongs to region {home}, this store is region {store}")]
    Residency {
        /// The key written.
        key: String,
        /// The data's home region.
        home: Region,
        /// The store's region.
        store: Region,
    },
    /// A write marked global outside the store's global prefixes.
    #[error("{key:?} is not under a global prefix; say whose data it is (Residency::Home)")]
    NotGlobal {
        /// The key written.
        key: String,
    },
    /// A key or prefix the store does not accept (empty prefix, empty key, oversized).
    #[error("invalid key or prefix {key:?}: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No replica answered as leader within the client's attempts.
    #[error("no leader reachable in region {region} after {attempts} attempts: {last}")]
    Unavailable {
        /// The store's region.
        region: Region,
        /// Attempts made.
        attempts: u32,
        /// The last thing that went wrong.
        last: String,
    },
    /// A write was proposed but its fate is unknown (leader lost or timed out before
    /// commit): it may or may not be applied later. Retrying a put is safe (idempotent).
    #[error("write outcome unknown: {0}")]
    Indeterminate(String),
    /// The replica's storage failed (disk full, I/O error, corrupt log).
    #[error("storage: {0}")]
    Storage(#[from] BackendError),
    /// A peer sent bytes that are not a store frame.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The replica's configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The Raft engine stopped (after a storage fault, or shut down).
    #[error("raft engine stopped: {0}")]
    Stopped(String),
}

/// Checks a key written by a client: non-empty, bounded.
pub(crate) fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::InvalidKey {
            key: key.into(),
            reason: "empty".into(),
        });
    }
    if key.len() > MAX_KEY_LEN {
        return Err(StoreError::InvalidKey {
            key: key.chars().take(64).collect(),
            reason: "longer than 1024 bytes".into(),
        });
    }
    Ok(())
}

/// The longest key the store accepts.
pub const MAX_KEY_LEN: usize = 1024;

/// What a backend failed to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum BackendError {
    /// No space left (injected through [`DiskFault`](super::DiskFault), or `ENOSPC` from the OS).
    #[error("disk full writing {path}")]
    DiskFull {
        /// The file (or `memory`) being written.
        path: String,
    },
    /// The file system refuses writes (read-only, or permission denied).
    #[error("{path} cannot be written (read-only file system or no permission)")]
    ReadOnly {
        /// The file (or `memory`) being written.
        path: String,
    },
    /// Any other I/O error.
    #[error("I/O error on {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// The file holds bytes that are not what this backend wrote (not a torn tail).
    #[error("corrupt {path} at byte {offset}: {reason}")]
    Corrupt {
        /// The file.
        path: String,
        /// Byte offset of the bad record.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A record could not be encoded.
    #[error("cannot encode a record: {0}")]
    Encode(String),
}
