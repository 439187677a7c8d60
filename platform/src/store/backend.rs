//! Storage backends: where a replica keeps its vote, log and snapshot.
//!
//! [`Backend`] is a small synchronous trait: each call returns once the data is durable
//! (the on-disk backend fsyncs), which is what Raft needs before it answers a vote or an
//! append. Two implementations:
//! - [`MemBackend`]: for the simulation. A crash (turmoil `crash`/`bounce`) loses nothing
//!   that a call accepted, as if every write had been fsynced; clones share the data, so a
//!   restarted host reopens the same "disk".
//! - [`DiskBackend`]: for `serve`. An append-only log file of checksummed records and a
//!   snapshot file; recovery truncates a torn tail and refuses corruption with a typed
//!   error.
//!
//! Both take a [`DiskFault`] switch: while it says "full", every write fails with
//! [`BackendError::DiskFull`] (as a real `ENOSPC` does), never a panic.
//!
//! The backend uses blocking file I/O: only `serve` uses [`DiskBackend`], the simulation
//! never does (no threads, no `spawn_blocking` in simulated code).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use openraft::{BasicNode, Entry, LogId, SnapshotMeta, Vote};
use serde::{Deserialize, Serialize};

use super::types::{BackendError, NodeId, StoreTypes};

/// A switch that makes a backend's writes fail with [`BackendError::DiskFull`].
///
/// Clones share the switch: the fault timeline holds one, the backend another.
#[derive(Debug, Clone, Default)]
pub struct DiskFault(Rc<Cell<bool>>);

impl DiskFault {
    /// A switch that starts off (disk has space).
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns "disk full" on or off.
    pub fn set_full(&self, full: bool) {
        self.0.set(full);
    }

    /// Whether writes fail now.
    pub fn is_full(&self) -> bool {
        self.0.get()
    }

    fn check(&self, path: &str) -> Result<(), BackendError> {
        if self.is_full() {
            Err(BackendError::DiskFull { path: path.into() })
        } else {
            Ok(())
        }
    }
}

/// A snapshot as stored: openraft's metadata and the keyspace, JSON-encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSnapshot {
    /// Last log id covered, membership, id.
    pub meta: SnapshotMeta<NodeId, BasicNode>,
    /// The keyspace at that log id (JSON of a `BTreeMap<String, Vec<u8>>`).
    pub data: Vec<u8>,
}

/// Everything a backend holds, as read back when a replica starts.
#[derive(Debug, Clone, Default)]
pub struct Recovered {
    /// The last vote saved.
    pub vote: Option<Vote<NodeId>>,
    /// The last committed log id saved (a hint: entries up to it are re-applied at start).
    pub committed: Option<LogId<NodeId>>,
    /// The last log id removed by compaction.
    pub purged: Option<LogId<NodeId>>,
    /// The retained log entries by index.
    pub entries: BTreeMap<u64, Entry<StoreTypes>>,
    /// The latest snapshot.
    pub snapshot: Option<StoredSnapshot>,
    /// Bytes dropped from a torn tail of the log file during recovery.
    pub torn_bytes: u64,
}

impl Recovered {
    fn apply(&mut self, record: Record) {
        match record {
            Record::Vote(v) => self.vote = Some(v),
            Record::Committed(c) => self.committed = c,
            Record::Entries(es) => {
                for e in es {
                    self.entries.insert(e.log_id.index, e);
                }
            }
            Record::TruncateSince(i) => {
                self.entries.split_off(&i);
            }
            Record::PurgeUpto(id) => {
                self.entries = self.entries.split_off(&(id.index + 1));
                self.purged = Some(id);
            }
        }
    }
}

/// One record of the on-disk log.
#[derive(Debug, Serialize, Deserialize)]
enum Record {
    Vote(Vote<NodeId>),
    Committed(Option<LogId<NodeId>>),
    Entries(Vec<Entry<StoreTypes>>),
    TruncateSince(u64),
    PurgeUpto(LogId<NodeId>),
}

/// Where a replica keeps its vote, log and snapshot. Each call is durable on return.
pub trait Backend: 'static {
    /// Reads back everything (called once when a replica starts).
    fn recover(&mut self) -> Result<Recovered, BackendError>;
    /// Saves the vote (term and candidate voted for).
    fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), BackendError>;
    /// Saves the committed log id.
    fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<(), BackendError>;
    /// Appends entries (indices follow the last retained one).
    fn append(&mut self, entries: &[Entry<StoreTypes>]) -> Result<(), BackendError>;
    /// Drops entries at `index` and after (a conflicting suffix).
    fn truncate_since(&mut self, index: u64) -> Result<(), BackendError>;
    /// Drops entries up to and including `log_id` (covered by a snapshot).
    fn purge_upto(&mut self, log_id: LogId<NodeId>) -> Result<(), BackendError>;
    /// Replaces the snapshot.
    fn save_snapshot(&mut self, snapshot: &StoredSnapshot) -> Result<(), BackendError>;
}

/// The in-memory backend (simulation). Clones share the same data.
#[derive(Debug, Clone, Default)]
pub struct MemBackend {
    state: Rc<RefCell<Recovered>>,
    fault: DiskFault,
}

impl MemBackend {
    /// An empty backend whose writes fail while `fault` says full.
    pub fn new(fault: DiskFault) -> Self {
        MemBackend {
            state: Rc::default(),
            fault,
        }
    }

    /// The retained log entries (for erasure checks: what the log still holds).
    pub fn entries(&self) -> Vec<Entry<StoreTypes>> {
        self.state.borrow().entries.values().cloned().collect()
    }

    /// The snapshot held, if any.
    pub fn snapshot(&self) -> Option<StoredSnapshot> {
        self.state.borrow().snapshot.clone()
    }

    /// Bytes of user data retained: keys and values of the log's entries, plus the
    /// snapshot (what a disk would hold, give or take framing).
    pub fn bytes_used(&self) -> u64 {
        fn size(cmd: &crate::store::Command) -> u64 {
            use crate::store::Command;
            match cmd {
                Command::Put { key, value } => (key.len() + value.len()) as u64,
                Command::Delete { key } => key.len() as u64,
                Command::DeletePrefix { prefix } => prefix.len() as u64,
                Command::Batch { cmds } => cmds.iter().map(size).sum(),
            }
        }
        let st = self.state.borrow();
        let log: u64 = st
            .entries
            .values()
            .map(|e| match &e.payload {
                openraft::EntryPayload::Normal(p) => size(&p.cmd),
                _ => 0,
            })
            .sum();
        log + st.snapshot.as_ref().map_or(0, |s| s.data.len() as u64)
    }

    /// The fault switch of this backend's disk.
    pub fn fault(&self) -> &DiskFault {
        &self.fault
    }

    /// Whether any retained byte (log entries or snapshot) contains `needle`.
    pub fn retains(&self, needle: &[u8]) -> bool {
        let st = self.state.borrow();
        let in_log = st.entries.values().any(|e| {
            serde_json::to_vec(e)
                .map(|b| contains(&b, needle))
                .unwrap_or(false)
        });
        let in_snap = st
            .snapshot
            .as_ref()
            .is_some_and(|s| contains(&s.data, needle));
        in_log || in_snap
    }

    fn write(&self, record: Record) -> Result<(), BackendError> {
        self.fault.check("memory")?;
        self.state.borrow_mut().apply(record);
        Ok(())
    }
}

/// Whether `hay` contains `needle` (or a JSON byte-array rendering of it).
pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    // Values are JSON byte arrays inside entries ("[104,105]"), so look for that too.
    let as_json = serde_json::to_vec(needle).unwrap_or_default();
    let inner = as_json
        .get(1..as_json.len().saturating_sub(1))
        .unwrap_or(&[]);
    hay.windows(needle.len()).any(|w| w == needle)
        || (!inner.is_empty() && hay.windows(inner.len()).any(|w| w == inner))
}

impl Backend for MemBackend {
    fn recover(&mut self) -> Result<Recovered, BackendError> {
        Ok(self.state.borrow().clone())
    }

    fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), BackendError> {
        self.write(Record::Vote(*vote))
    }

    fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<(), BackendError> {
        self.write(Record::Committed(committed))
    }

    fn append(&mut self, entries: &[Entry<StoreTypes>]) -> Result<(), BackendError> {
        self.write(Record::Entries(entries.to_vec()))
    }

    fn truncate_since(&mut self, index: u64) -> Result<(), BackendError> {
        self.write(Record::TruncateSince(index))
    }

    fn purge_upto(&mut self, log_id: LogId<NodeId>) -> Result<(), BackendError> {
        self.write(Record::PurgeUpto(log_id))
    }

    fn save_snapshot(&mut self, snapshot: &StoredSnapshot) -> Result<(), BackendError> {
        self.fault.check("memory")?;
        self.state.borrow_mut().snapshot = Some(snapshot.clone());
        Ok(())
    }
}

/// The largest record the log accepts or reads back (bounds allocation on recovery).
pub const MAX_RECORD: usize = 64 << 20;

/// Frames one record: `len: u32 LE | crc32(payload): u32 LE | payload`.
fn frame(payload: &[u8]) -> Result<Vec<u8>, BackendError> {
    if payload.len() > MAX_RECORD {
        return Err(BackendError::Encode(format!(
            "record of {} bytes exceeds {MAX_RECORD}",
            payload.len()
        )));
    }
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// Record payloads with their byte offsets, and the length of the valid prefix.
type Unframed<'a> = (Vec<(u64, &'a [u8])>, usize);

/// Splits a log file into record payloads. Returns the payloads with their offsets and
/// the length of the valid prefix: anything after it is a torn tail (a record cut short,
/// or a last record whose checksum fails because its write never completed). A bad
/// checksum with more records after it is corruption, not a torn write.
fn unframe<'a>(bytes: &'a [u8], path: &str) -> Result<Unframed<'a>, BackendError> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while off < bytes.len() {
        let rest = &bytes[off..];
        if rest.len() < 8 {
            break;
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len > rest.len() - 8 {
            break; // cut short: torn tail
        }
        if len > MAX_RECORD {
            return Err(BackendError::Corrupt {
                path: path.into(),
                offset: off as u64,
                reason: format!("record length {len} exceeds {MAX_RECORD}"),
            });
        }
        let payload = &rest[8..8 + len];
        if crc32fast::hash(payload) != crc {
            if 8 + len == rest.len() {
                break; // the last record's write did not complete: torn tail
            }
            return Err(BackendError::Corrupt {
                path: path.into(),
                offset: off as u64,
                reason: "checksum mismatch".into(),
            });
        }
        out.push((off as u64, payload));
        off += 8 + len;
    }
    Ok((out, off))
}

fn io_err(path: &Path, e: io::Error) -> BackendError {
    let path = path.display().to_string();
    if e.kind() == io::ErrorKind::StorageFull {
        BackendError::DiskFull { path }
    } else {
        BackendError::Io {
            path,
            reason: e.to_string(),
        }
    }
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, BackendError> {
    serde_json::to_vec(v).map_err(|e| BackendError::Encode(e.to_string()))
}

/// The on-disk backend: `DIR/log` (append-only records) and `DIR/snapshot`.
///
/// Every write appends one framed record and fsyncs (`sync_data`) before returning.
/// Compaction (after a snapshot) rewrites the log without the purged entries into
/// `log.tmp`, fsyncs it and renames it over `log`, so purged entries (for example an
/// erased user's puts) leave the file; the file system may still hold the freed blocks.
#[derive(Debug)]
pub struct DiskBackend {
    dir: PathBuf,
    log: Option<File>,
    mirror: Recovered,
    fault: DiskFault,
}

impl DiskBackend {
    /// Opens (creating if needed) the backend in `dir`. Nothing is read until
    /// [`Backend::recover`].
    pub fn open(dir: impl Into<PathBuf>, fault: DiskFault) -> Result<Self, BackendError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        Ok(DiskBackend {
            dir,
            log: None,
            mirror: Recovered::default(),
            fault,
        })
    }

    /// The log file's path.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// The snapshot file's path.
    pub fn snapshot_path(&self) -> PathBuf {
        self.dir.join("snapshot")
    }

    fn append_record(&mut self, record: &Record) -> Result<(), BackendError> {
        let path = self.log_path();
        self.fault.check(&path.display().to_string())?;
        let bytes = frame(&encode(record)?)?;
        if self.log.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| io_err(&path, e))?;
            self.log = Some(f);
        }
        let Some(f) = self.log.as_mut() else {
            return Err(io_err(&path, io::Error::other("log not open")));
        };
        f.write_all(&bytes).map_err(|e| io_err(&path, e))?;
        f.sync_data().map_err(|e| io_err(&path, e))
    }

    fn sync_dir(&self) -> Result<(), BackendError> {
        // A rename is durable only once the directory entry is.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err(&self.dir, e))
    }

    /// Writes `bytes` to `name.tmp`, fsyncs, renames over `name`, fsyncs the directory.
    fn replace_file(&self, name: &str, bytes: &[u8]) -> Result<(), BackendError> {
        let tmp = self.dir.join(format!("{name}.tmp"));
        let dst = self.dir.join(name);
        self.fault.check(&tmp.display().to_string())?;
        let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        f.write_all(bytes).map_err(|e| io_err(&tmp, e))?;
        f.sync_all().map_err(|e| io_err(&tmp, e))?;
        std::fs::rename(&tmp, &dst).map_err(|e| io_err(&dst, e))?;
        self.sync_dir()
    }

    fn compact(&mut self) -> Result<(), BackendError> {
        let mut bytes = Vec::new();
        if let Some(v) = self.mirror.vote {
            bytes.extend(frame(&encode(&Record::Vote(v))?)?);
        }
        bytes.extend(frame(&encode(&Record::Committed(self.mirror.committed))?)?);
        if let Some(p) = self.mirror.purged {
            bytes.extend(frame(&encode(&Record::PurgeUpto(p))?)?);
        }
        let rest: Vec<_> = self.mirror.entries.values().cloned().collect();
        if !rest.is_empty() {
            bytes.extend(frame(&encode(&Record::Entries(rest))?)?);
        }
        self.log = None; // reopened in append mode on the next write
        self.replace_file("log", &bytes)
    }
}

fn read_all(path: &Path) -> Result<Option<Vec<u8>>, BackendError> {
    match File::open(path) {
        Ok(mut f) => {
            let mut buf = Vec::new();
            f.read_to_end(&mut buf).map_err(|e| io_err(path, e))?;
            Ok(Some(buf))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path, e)),
    }
}

impl Backend for DiskBackend {
    fn recover(&mut self) -> Result<Recovered, BackendError> {
        let mut rec = Recovered::default();
        let snap_path = self.snapshot_path();
        if let Some(bytes) = read_all(&snap_path)? {
            let shown = snap_path.display().to_string();
            let (records, good) = unframe(&bytes, &shown)?;
            // The snapshot is replaced by rename, so it is never torn: a short file is
            // corruption.
            match records.as_slice() {
                [(_, payload)] if good == bytes.len() => {
                    let snap: StoredSnapshot =
                        serde_json::from_slice(payload).map_err(|e| BackendError::Corrupt {
                            path: shown.clone(),
                            offset: 0,
                            reason: format!("undecodable snapshot: {e}"),
                        })?;
                    rec.snapshot = Some(snap);
                }
                _ => {
                    return Err(BackendError::Corrupt {
                        path: shown,
                        offset: good as u64,
                        reason: "snapshot file is not exactly one record".into(),
                    })
                }
            }
        }
        let log_path = self.log_path();
        if let Some(bytes) = read_all(&log_path)? {
            let shown = log_path.display().to_string();
            let (records, good) = unframe(&bytes, &shown)?;
            for (offset, payload) in records {
                let record: Record =
                    serde_json::from_slice(payload).map_err(|e| BackendError::Corrupt {
                        path: shown.clone(),
                        offset,
                        reason: format!("undecodable record: {e}"),
                    })?;
                rec.apply(record);
            }
            if good < bytes.len() {
                rec.torn_bytes = (bytes.len() - good) as u64;
                let f = OpenOptions::new()
                    .write(true)
                    .open(&log_path)
                    .map_err(|e| io_err(&log_path, e))?;
                f.set_len(good as u64).map_err(|e| io_err(&log_path, e))?;
                f.sync_all().map_err(|e| io_err(&log_path, e))?;
            }
        }
        self.mirror = rec.clone();
        self.mirror.snapshot = None; // kept in its own file, not needed for compaction
        Ok(rec)
    }

    fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), BackendError> {
        self.append_record(&Record::Vote(*vote))?;
        self.mirror.apply(Record::Vote(*vote));
        Ok(())
    }

    fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<(), BackendError> {
        self.append_record(&Record::Committed(committed))?;
        self.mirror.apply(Record::Committed(committed));
        Ok(())
    }

    fn append(&mut self, entries: &[Entry<StoreTypes>]) -> Result<(), BackendError> {
        let record = Record::Entries(entries.to_vec());
        self.append_record(&record)?;
        self.mirror.apply(record);
        Ok(())
    }

    fn truncate_since(&mut self, index: u64) -> Result<(), BackendError> {
        self.append_record(&Record::TruncateSince(index))?;
        self.mirror.apply(Record::TruncateSince(index));
        Ok(())
    }

    fn purge_upto(&mut self, log_id: LogId<NodeId>) -> Result<(), BackendError> {
        let before = self.mirror.clone();
        self.mirror.apply(Record::PurgeUpto(log_id));
        if let Err(e) = self.compact() {
            self.mirror = before;
            return Err(e);
        }
        Ok(())
    }

    fn save_snapshot(&mut self, snapshot: &StoredSnapshot) -> Result<(), BackendError> {
        let bytes = frame(&encode(snapshot)?)?;
        self.replace_file("snapshot", &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unframe_stops_at_a_torn_tail_and_flags_corruption_before_it() {
        let a = frame(b"one").unwrap();
        let b = frame(b"two").unwrap();
        let mut bytes = [a.clone(), b.clone()].concat();
        let (recs, good) = unframe(&bytes, "t").unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(good, bytes.len());
        // Cut the last record short: torn, the first survives.
        let torn = &bytes[..bytes.len() - 2];
        let (recs, good) = unframe(torn, "t").unwrap();
        assert_eq!((recs.len(), good), (1, a.len()));
        // Flip a byte in the last record: torn too (its write did not complete).
        let n = bytes.len();
        bytes[n - 1] ^= 1;
        assert_eq!(unframe(&bytes, "t").unwrap().0.len(), 1);
        // Flip a byte in the first record: corruption, reported with its offset.
        let mut bad = [a, b].concat();
        bad[9] ^= 1;
        match unframe(&bad, "t") {
            Err(BackendError::Corrupt { offset: 0, .. }) => {}
            other => panic!("{other:?}"),
        }
        // A header alone is torn, not corruption.
        assert_eq!(unframe(&[1, 0, 0], "t").unwrap().1, 0);
    }

    #[test]
    fn contains_finds_raw_and_json_renderings() {
        assert!(contains(b"xx secret yy", b"secret"));
        assert!(contains(b"[1,115,101,99,2]", b"sec"));
        assert!(!contains(b"nothing", b"secret"));
    }
}
