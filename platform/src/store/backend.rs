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

/// A switch that makes a backend's writes fail: "full" with [`BackendError::DiskFull`],
/// "read-only" with [`BackendError::ReadOnly`].
///
/// Clones share the switch: the fault timeline holds one, the backend another.
#[derive(Debug, Clone, Default)]
pub struct DiskFault(Rc<(Cell<bool>, Cell<bool>)>);

impl DiskFault {
    /// A switch that starts off (disk has space and takes writes).
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns "disk full" on or off.
    pub fn set_full(&self, full: bool) {
        self.0 .0.set(full);
    }

    /// Whether writes fail now because the disk is full.
    pub fn is_full(&self) -> bool {
        self.0 .0.get()
    }

    /// Turns "read-only file system" on or off.
    pub fn set_read_only(&self, read_only: bool) {
        self.0 .1.set(read_only);
    }

    /// Whether writes fail now because the disk is read-only.
    pub fn is_read_only(&self) -> bool {
        self.0 .1.get()
    }

    fn check(&self, path: &str) -> Result<(), BackendError> {
        if self.is_read_only() {
            Err(BackendError::ReadOnly { path: path.into() })
        } else if self.is_full() {
            Err(BackendError::DiskFull { path: path.into() })
        } else {
            Ok(())
        }
    }
}

/// Where in a record a `corrupt` fault flips a bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CorruptAt {
    /// A byte of the record's JSON payload: its checksum no longer matches.
    Payload,
    /// The record's length field, made 16 MiB longer (still under [`MAX_RECORD`]): it
    /// now runs past the end of a small log, as a torn last write would.
    Length,
    /// The record's checksum field.
    Header,
}

impl CorruptAt {
    /// Every class, in the order the scenario format lists them.
    pub const ALL: [CorruptAt; 3] = [CorruptAt::Payload, CorruptAt::Length, CorruptAt::Header];

    /// The name a scenario uses (`payload`, `length`, `header`).
    pub fn name(self) -> &'static str {
        match self {
            CorruptAt::Payload => "payload",
            CorruptAt::Length => "length",
            CorruptAt::Header => "header",
        }
    }

    /// The class named `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Flips one bit of the record `record` picks in the framed log `bytes` (false if
    /// the log has no whole record, or is not a log recovery would read).
    pub fn flip(self, bytes: &mut [u8], record: CorruptRecord) -> bool {
        // The records as recovery itself reads them: (offset, payload).
        let Ok((records, _)) = unframe(bytes, "log", false) else {
            return false;
        };
        let picked = match record {
            CorruptRecord::First => records.first(),
            CorruptRecord::Middle => records.get(records.len() / 2),
            CorruptRecord::Last => records.last(),
        };
        let Some((start, len)) = picked.map(|(offset, payload)| (*offset as usize, payload.len()))
        else {
            return false;
        };
        let at = match self {
            CorruptAt::Payload => start + 8 + len / 2,
            CorruptAt::Length => start + 3,
            CorruptAt::Header => start + 5,
        };
        bytes[at] ^= 0x01;
        true
    }
}

/// Which record of a log a `corrupt` fault damages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CorruptRecord {
    /// The first (the vote, when one was cast): every other record follows it.
    First,
    /// The one in the middle of the log.
    Middle,
    /// The last: the place of a torn write, which recovery must still tell apart.
    Last,
}

impl CorruptRecord {
    /// Every choice, in the order the scenario format lists them.
    pub const ALL: [CorruptRecord; 3] = [
        CorruptRecord::First,
        CorruptRecord::Middle,
        CorruptRecord::Last,
    ];

    /// The name a scenario uses (`first`, `middle`, `last`).
    pub fn name(self) -> &'static str {
        match self {
            CorruptRecord::First => "first",
            CorruptRecord::Middle => "middle",
            CorruptRecord::Last => "last",
        }
    }

    /// The choice named `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
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
    /// Bytes dropped from a torn tail of the log file during recovery (a last write
    /// cut short, or zeros where its data never reached the disk).
    pub dropped_bytes: u64,
    /// Records dropped with them: 1 for a torn last record, 0 for a zero-filled tail.
    pub dropped_records: u64,
    /// What the disk had accepted but recovery did not give back (only a backend that
    /// knows what it accepted can tell: [`MemBackend`]). Always `None` unless a planted
    /// bug truncates silently.
    pub lost: Option<String>,
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
///
/// Normally it keeps the decoded state only (fast). After [`MemBackend::corrupt`] it
/// also keeps the log as the disk backend would hold it, framed record by record with
/// one bit flipped, and the next [`Backend::recover`] reads that image through the same
/// recovery code as [`DiskBackend`].
#[derive(Debug, Clone, Default)]
pub struct MemBackend {
    state: Rc<RefCell<Recovered>>,
    /// The framed log with a flipped bit, once corrupted (until a recovery reads it).
    image: Rc<RefCell<Option<Vec<u8>>>>,
    fault: DiskFault,
    /// Planted bug: recovery takes a record that runs past the end for a torn write
    /// before any other check (the behaviour before 2026-12-07).
    silent_truncate: bool,
}

impl MemBackend {
    /// An empty backend whose writes fail while `fault` says full or read-only.
    pub fn new(fault: DiskFault) -> Self {
        MemBackend {
            state: Rc::default(),
            image: Rc::default(),
            fault,
            silent_truncate: false,
        }
    }

    /// The same backend with recovery's planted bug on or off (see
    /// [`PlantedBugs::silent_truncate`](super::PlantedBugs::silent_truncate)).
    pub fn with_silent_truncate(mut self, on: bool) -> Self {
        self.silent_truncate = on;
        self
    }

    /// Flips one bit of the log's record `record` picks, as the disk backend would frame
    /// it; the replica sees it when it next starts. False if the log has no record yet.
    pub fn corrupt(&self, at: CorruptAt, record: CorruptRecord) -> bool {
        let mut bytes = match self.framed_log() {
            Ok(b) => b,
            Err(_) => return false,
        };
        if !at.flip(&mut bytes, record) {
            return false;
        }
        *self.image.borrow_mut() = Some(bytes);
        true
    }

    /// Whether the log holds a flipped bit that no recovery has read yet.
    pub fn is_corrupt(&self) -> bool {
        self.image.borrow().is_some()
    }

    /// The log as [`DiskBackend`] would hold it after compaction: vote, committed,
    /// purged, then one record per entry.
    fn framed_log(&self) -> Result<Vec<u8>, BackendError> {
        let st = self.state.borrow();
        let mut records = Vec::new();
        if let Some(v) = st.vote {
            records.push(Record::Vote(v));
        }
        records.push(Record::Committed(st.committed));
        if let Some(p) = st.purged {
            records.push(Record::PurgeUpto(p));
        }
        records.extend(
            st.entries
                .values()
                .map(|e| Record::Entries(vec![e.clone()])),
        );
        let mut bytes = Vec::new();
        for r in &records {
            bytes.extend(frame(&encode(r)?)?);
        }
        Ok(bytes)
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
        if let Some(image) = self.image.borrow_mut().as_mut() {
            // The damaged file grows as the disk backend's would.
            image.extend(frame(&encode(&record)?)?);
        }
        self.state.borrow_mut().apply(record);
        Ok(())
    }
}

/// What the disk had accepted (`had`) but a recovery (`got`) did not give back.
fn loss(had: &Recovered, got: &Recovered) -> Option<String> {
    let mut lost = Vec::new();
    if had.vote.is_some() && got.vote != had.vote {
        lost.push(format!(
            "its vote ({})",
            had.vote.map_or("none".into(), |v| v.to_string())
        ));
    }
    let missing = had
        .entries
        .keys()
        .filter(|i| !got.entries.contains_key(i))
        .count();
    if missing > 0 {
        lost.push(format!("{missing} log entries"));
    }
    if had.committed.is_some() && got.committed.is_none() {
        lost.push("its commit index".into());
    }
    (!lost.is_empty()).then(|| lost.join(", "))
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
        let image = self.image.borrow().clone();
        let Some(bytes) = image else {
            return Ok(self.state.borrow().clone());
        };
        // A refused recovery leaves the image as it is: the replica stays down.
        let (mut rec, _) = replay(&bytes, "memory/log", self.silent_truncate)?;
        let mut st = self.state.borrow_mut();
        rec.snapshot = st.snapshot.clone();
        rec.lost = loss(&st, &rec);
        // Recovery cut the file to what it read: that is the disk's content now.
        *st = Recovered {
            lost: None,
            dropped_bytes: 0,
            dropped_records: 0,
            ..rec.clone()
        };
        *self.image.borrow_mut() = None;
        Ok(rec)
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

fn header(bytes: &[u8], at: usize) -> Option<(usize, u32)> {
    let h = bytes.get(at..at.checked_add(8)?)?;
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
    Some((len, u32::from_le_bytes([h[4], h[5], h[6], h[7]])))
}

/// The offset of the first whole, valid record starting at or after `from`, if any.
///
/// Cheap in practice: JSON holds no zero bytes, so at almost every offset the length
/// read is far over [`MAX_RECORD`] and no checksum is computed.
fn next_record(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len()).find(|&at| {
        header(bytes, at).is_some_and(|(len, crc)| {
            len > 0
                && len <= MAX_RECORD
                && bytes
                    .get(at + 8..at + 8 + len)
                    .is_some_and(|p| crc32fast::hash(p) == crc)
        })
    })
}

/// Splits a log file into record payloads. Returns the payloads with their offsets and
/// the length of the valid prefix; what follows it is a torn last write.
///
/// Records are appended one `write` + `fsync` at a time, so a crash can damage only the
/// last one, and only in the ways a write that did not complete leaves a file: cut
/// short (the length runs past the end, the bytes present are not a whole record and
/// no valid record follows), or with zeros where its data never reached the disk. That
/// is a torn tail. Anything else is [`BackendError::Corrupt`] naming the file, the
/// record's offset and what was found: a length over [`MAX_RECORD`] or zero, a length
/// running past the end with a valid record after it (a damaged length field), a
/// checksum mismatch (with records after it, or in a last record that is not
/// zero-filled).
///
/// `silent_truncate` is a planted bug (the behaviour before 2026-12-07): a length
/// running past the end is taken for a torn write before anything else is checked.
fn unframe<'a>(
    bytes: &'a [u8],
    path: &str,
    silent_truncate: bool,
) -> Result<Unframed<'a>, BackendError> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while off < bytes.len() {
        let rest = &bytes[off..];
        let corrupt = |reason: String| BackendError::Corrupt {
            path: path.into(),
            offset: off as u64,
            reason,
        };
        if rest.iter().all(|b| *b == 0) {
            break; // space of a last write whose data never reached the disk
        }
        let Some((len, crc)) = header(rest, 0) else {
            break; // a header cut short: torn last write
        };
        let avail = rest.len() - 8;
        if silent_truncate && len > avail {
            break; // planted bug
        }
        if len > MAX_RECORD {
            return Err(corrupt(format!(
                "record length {len} exceeds the largest record ({MAX_RECORD} bytes)"
            )));
        }
        if len == 0 {
            return Err(corrupt("record length 0 (every record holds JSON)".into()));
        }
        if len > avail {
            if crc32fast::hash(&rest[8..]) == crc {
                return Err(corrupt(format!(
                    "record length {len} runs past the end of the file ({avail} bytes left), \
                     but those bytes are a whole record (its checksum matches): the length \
                     field is damaged"
                )));
            }
            if let Some(next) = next_record(bytes, off + 8) {
                return Err(corrupt(format!(
                    "record length {len} runs past the end of the file ({avail} bytes left), \
                     but a valid record follows at byte {next}: the length field is damaged"
                )));
            }
            break; // cut short: torn last write
        }
        let payload = &rest[8..8 + len];
        if crc32fast::hash(payload) != crc {
            let last = 8 + len == rest.len();
            if last && payload.last() == Some(&0) {
                break; // its last blocks never reached the disk: torn last write
            }
            return Err(corrupt(if last {
                "checksum mismatch in the last record (not a torn write: it is whole and \
                 not zero-filled)"
                    .into()
            } else {
                format!(
                    "checksum mismatch ({} bytes of records follow)",
                    rest.len() - 8 - len
                )
            }));
        }
        out.push((off as u64, payload));
        off += 8 + len;
    }
    Ok((out, off))
}

/// Reads a framed log back (records decoded and applied in order); returns what it
/// holds, with the torn tail counted, and the length of the valid prefix.
fn replay(
    bytes: &[u8],
    path: &str,
    silent_truncate: bool,
) -> Result<(Recovered, usize), BackendError> {
    let mut rec = Recovered::default();
    let (records, good) = unframe(bytes, path, silent_truncate)?;
    for (offset, payload) in records {
        let record: Record =
            serde_json::from_slice(payload).map_err(|e| BackendError::Corrupt {
                path: path.into(),
                offset,
                reason: format!("undecodable record: {e}"),
            })?;
        rec.apply(record);
    }
    let tail = &bytes[good..];
    rec.dropped_bytes = tail.len() as u64;
    rec.dropped_records = u64::from(tail.iter().any(|b| *b != 0));
    Ok((rec, good))
}

fn io_err(path: &Path, e: io::Error) -> BackendError {
    let path = path.display().to_string();
    if e.kind() == io::ErrorKind::StorageFull {
        BackendError::DiskFull { path }
    } else if matches!(
        e.kind(),
        io::ErrorKind::ReadOnlyFilesystem | io::ErrorKind::PermissionDenied
    ) {
        BackendError::ReadOnly { path }
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

    /// The log, opened for appending (and created) if it is not open yet.
    fn open_log(&mut self) -> Result<&mut File, BackendError> {
        let path = self.log_path();
        if self.log.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| io_err(&path, e))?;
            self.log = Some(f);
        }
        self.log
            .as_mut()
            .ok_or_else(|| io_err(&path, io::Error::other("log not open")))
    }

    fn append_record(&mut self, record: &Record) -> Result<(), BackendError> {
        let path = self.log_path();
        self.fault.check(&path.display().to_string())?;
        let bytes = frame(&encode(record)?)?;
        let f = self.open_log()?;
        still_named(&path, f)?;
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

/// Fails unless the open log file is still the one its path names: a data directory
/// removed (or a log replaced) under a running replica would otherwise take writes into
/// an unlinked file and lose them all at the next start, without a word. One `stat` per
/// record, next to an `fsync`.
fn still_named(path: &Path, open: &File) -> Result<(), BackendError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let held = open.metadata().map_err(|e| io_err(path, e))?;
        let named = std::fs::metadata(path).map_err(|e| io_err(path, e))?;
        if held.nlink() == 0 || held.dev() != named.dev() || held.ino() != named.ino() {
            return Err(BackendError::Io {
                path: path.display().to_string(),
                reason: "the open log file was removed or replaced".into(),
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (path, open);
    Ok(())
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
            let (records, good) = unframe(&bytes, &shown, false)?;
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
            let (log, good) = replay(&bytes, &shown, false)?;
            rec = Recovered {
                snapshot: rec.snapshot,
                ..log
            };
            if good < bytes.len() {
                tracing::warn!(
                    file = %shown,
                    offset = good,
                    dropped_bytes = rec.dropped_bytes,
                    dropped_records = rec.dropped_records,
                    "store log: torn last write dropped"
                );
                self.fault.check(&shown)?;
                let f = OpenOptions::new()
                    .write(true)
                    .open(&log_path)
                    .map_err(|e| io_err(&log_path, e))?;
                f.set_len(good as u64).map_err(|e| io_err(&log_path, e))?;
                f.sync_all().map_err(|e| io_err(&log_path, e))?;
            }
        }
        // The log is opened for appending now, so that one that cannot be written (a
        // read-only file system, no permission) stops the replica at its start, with the
        // path named, rather than at its first write, perhaps minutes later.
        self.open_log()?;
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

    fn log_of(payloads: &[&[u8]]) -> Vec<u8> {
        payloads.iter().flat_map(|p| frame(p).unwrap()).collect()
    }

    fn corrupt_at(r: Result<Unframed<'_>, BackendError>) -> (u64, String) {
        match r {
            Err(BackendError::Corrupt { offset, reason, .. }) => (offset, reason),
            other => panic!("expected corruption, got {other:?}"),
        }
    }

    #[test]
    fn a_cut_short_last_record_is_torn() {
        let a = frame(b"\"one\"").unwrap();
        let bytes = log_of(&[b"\"one\"", b"\"two\""]);
        let (recs, good) = unframe(&bytes, "t", false).unwrap();
        assert_eq!((recs.len(), good), (2, bytes.len()));
        for cut in a.len()..bytes.len() {
            let (recs, good) = unframe(&bytes[..cut], "t", false).unwrap();
            assert_eq!((recs.len(), good), (1, a.len()), "cut at {cut}");
        }
        // A header alone is torn, not corruption.
        assert_eq!(unframe(&[1, 0, 0], "t", false).unwrap().1, 0);
    }

    #[test]
    fn a_zero_filled_tail_is_torn() {
        let mut bytes = log_of(&[b"\"one\""]);
        let good = bytes.len();
        bytes.extend([0u8; 40]);
        assert_eq!(unframe(&bytes, "t", false).unwrap().1, good);
        // A whole last record whose end reads back as zeros: its data never landed.
        let mut last = log_of(&[b"\"one\"", b"\"two\""]);
        let n = last.len();
        last[n - 2..].fill(0);
        assert_eq!(unframe(&last, "t", false).unwrap().1, good);
    }

    #[test]
    fn each_offset_class_in_a_first_record_is_corruption_at_its_offset() {
        let bytes = log_of(&[b"\"one\"", b"\"two\"", b"\"three\""]);
        for at in CorruptAt::ALL {
            let mut bad = bytes.clone();
            assert!(at.flip(&mut bad, CorruptRecord::First));
            let (offset, reason) = corrupt_at(unframe(&bad, "t", false));
            assert_eq!(offset, 0, "{at:?}: {reason}");
        }
        // The length class is what the planted bug takes for a torn write: everything
        // dropped without an error.
        let mut bad = bytes.clone();
        CorruptAt::Length.flip(&mut bad, CorruptRecord::First);
        assert_eq!(unframe(&bad, "t", true).unwrap(), (vec![], 0));
        let (_, reason) = corrupt_at(unframe(&bad, "t", false));
        assert!(reason.contains("valid record follows at byte"), "{reason}");
    }

    /// The names scenarios write for the fault's two choices, and only those, read back.
    #[test]
    fn corrupt_choices_are_named_as_scenarios_write_them() {
        let records: Vec<&str> = CorruptRecord::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(records, ["first", "middle", "last"]);
        let parts: Vec<&str> = CorruptAt::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(parts, ["payload", "length", "header"]);
        for r in CorruptRecord::ALL {
            assert_eq!(CorruptRecord::from_name(r.name()), Some(r));
        }
        for a in CorruptAt::ALL {
            assert_eq!(CorruptAt::from_name(a.name()), Some(a));
        }
        assert_eq!(CorruptRecord::from_name("second"), None);
        assert_eq!(CorruptAt::from_name(""), None);
    }

    /// A fault can damage the first, middle or last record, and recovery names the
    /// record it hit, whichever it is and in every offset class.
    #[test]
    fn each_record_pick_damages_that_record_and_recovery_names_it() {
        let records: [&[u8]; 5] = [b"\"a\"", b"\"bb\"", b"\"ccc\"", b"\"dddd\"", b"\"eeeee\""];
        let bytes = log_of(&records);
        let mut starts = vec![0u64];
        for r in &records[..4] {
            let last = *starts.last().unwrap();
            starts.push(last + frame(r).unwrap().len() as u64);
        }
        for (pick, start) in [
            (CorruptRecord::First, starts[0]),
            (CorruptRecord::Middle, starts[2]),
            (CorruptRecord::Last, starts[4]),
        ] {
            for at in CorruptAt::ALL {
                let mut bad = bytes.clone();
                assert!(at.flip(&mut bad, pick));
                let (offset, reason) = corrupt_at(unframe(&bad, "t", false));
                assert_eq!(offset, start, "{pick:?} {at:?}: {reason}");
            }
        }
        assert!(!CorruptAt::Payload.flip(&mut [], CorruptRecord::Last));
    }

    #[test]
    fn damage_to_a_last_record_is_corruption_unless_it_looks_torn() {
        let first = frame(b"\"one\"").unwrap().len() as u64;
        let bytes = log_of(&[b"\"one\"", b"\"two\""]);
        // Payload byte of the last record: whole, not zero-filled: corruption.
        let mut bad = bytes.clone();
        let n = bad.len();
        bad[n - 2] ^= 1;
        assert_eq!(corrupt_at(unframe(&bad, "t", false)).0, first);
        // Its length made longer: the bytes present are still a whole record.
        let mut bad = bytes.clone();
        bad[first as usize + 1] ^= 1;
        let (offset, reason) = corrupt_at(unframe(&bad, "t", false));
        assert_eq!(offset, first);
        assert!(reason.contains("checksum matches"), "{reason}");
        // Over the largest record, or zero.
        let mut bad = bytes.clone();
        bad[first as usize + 3] = 0x80;
        assert!(corrupt_at(unframe(&bad, "t", false)).1.contains("exceeds"));
        let mut bad = bytes;
        bad[first as usize..first as usize + 4].fill(0);
        assert!(corrupt_at(unframe(&bad, "t", false)).1.contains("length 0"));
    }

    #[test]
    fn replay_counts_what_it_dropped() {
        let v = Record::Vote(Vote::new(3, 2));
        let c = Record::Committed(None);
        let mut bytes = frame(&encode(&v).unwrap()).unwrap();
        let good = bytes.len();
        bytes.extend(&frame(&encode(&c).unwrap()).unwrap()[..5]);
        let (rec, at) = replay(&bytes, "t", false).unwrap();
        assert_eq!((at, rec.dropped_bytes, rec.dropped_records), (good, 5, 1));
        assert_eq!(rec.vote, Some(Vote::new(3, 2)));
        bytes.truncate(good);
        bytes.extend([0u8; 9]);
        let (rec, _) = replay(&bytes, "t", false).unwrap();
        assert_eq!((rec.dropped_bytes, rec.dropped_records), (9, 0));
    }

    #[test]
    fn mem_backend_corruption_stops_recovery_and_the_plant_forgets_silently() {
        let mut mem = MemBackend::new(DiskFault::new());
        mem.save_vote(&Vote::new(4, 1)).unwrap();
        mem.save_committed(None).unwrap();
        for at in CorruptAt::ALL {
            let mut m = mem.clone();
            assert!(m.corrupt(at, CorruptRecord::First));
            assert!(matches!(
                m.recover(),
                Err(BackendError::Corrupt { offset: 0, .. })
            ));
            // Still corrupt: every restart refuses.
            assert!(m.is_corrupt() && m.recover().is_err());
            *m.image.borrow_mut() = None;
        }
        let mut planted = mem.clone().with_silent_truncate(true);
        assert!(planted.corrupt(CorruptAt::Length, CorruptRecord::First));
        let rec = planted.recover().unwrap();
        assert_eq!(rec.vote, None);
        assert!(
            rec.lost.as_deref().is_some_and(|l| l.contains("vote")),
            "{:?}",
            rec.lost
        );
        assert!(!planted.is_corrupt());
    }

    #[test]
    fn mem_backend_read_only_refuses_writes() {
        let fault = DiskFault::new();
        let mut mem = MemBackend::new(fault.clone());
        fault.set_read_only(true);
        assert!(matches!(
            mem.save_committed(None),
            Err(BackendError::ReadOnly { .. })
        ));
        fault.set_read_only(false);
        mem.save_committed(None).unwrap();
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Random truncation is a torn tail (never an error); a random bit flip before
        /// the last record is corruption, never silent.
        #[test]
        fn truncation_is_torn_and_flips_before_the_last_record_are_corruption(
            sizes in proptest::collection::vec(1usize..300, 2..6),
            cut in 0.0f64..1.0,
            flip in 0.0f64..1.0,
            bit in 0u8..8,
        ) {
            let payloads: Vec<Vec<u8>> = sizes
                .iter()
                .enumerate()
                .map(|(i, n)| format!("\"{}\"", "x".repeat(*n + i)).into_bytes())
                .collect();
            let bytes: Vec<u8> = payloads.iter().flat_map(|p| frame(p).unwrap()).collect();
            let last = bytes.len() - frame(&payloads[payloads.len() - 1]).unwrap().len();
            let keep = (bytes.len() as f64 * cut) as usize;
            let ends: Vec<usize> = payloads
                .iter()
                .scan(0, |o, p| {
                    *o += p.len() + 8;
                    Some(*o)
                })
                .filter(|o| *o <= keep)
                .collect();
            let (recs, good) = unframe(&bytes[..keep], "t", false).unwrap();
            proptest::prop_assert_eq!(recs.len(), ends.len());
            proptest::prop_assert_eq!(good, ends.last().copied().unwrap_or(0));
            let at = ((last as f64) * flip) as usize;
            let mut bad = bytes.clone();
            bad[at] ^= 1 << bit;
            let r = unframe(&bad, "t", false);
            proptest::prop_assert!(
                matches!(r, Err(BackendError::Corrupt { .. })),
                "flip at {} bit {} of {}: {:?}", at, bit, bad.len(), r.map(|(r, g)| (r.len(), g))
            );
        }
    }

    #[test]
    fn contains_finds_raw_and_json_renderings() {
        assert!(contains(b"xx secret yy", b"secret"));
        assert!(contains(b"[1,115,101,99,2]", b"sec"));
        assert!(!contains(b"nothing", b"secret"));
    }
}
