//! Engine snapshots and engine recovery.
//!
//! ```text
//! journal segments ──follower thread ("lpscore-snap")──▶ shadow Engine<LatestSink>
//!   (durable records, read back)     replays every entry      │ every N entries / M seconds,
//!                                    exactly as live           ▼ and at clean shutdown
//!                                            snapshots/snapshot-<entries>.lps (atomic)
//! lpscore run start: newest valid snapshot ─▶ replay the journal after it ─▶ state bytes
//!                    (a bad one is skipped        (full engine speed)          ─▶ hot thread
//!                     with its name and reason)                                  restores them
//! ```
//!
//! The hot thread never waits for a snapshot: a follower replays the journal (replay is
//! deterministic and bit-identical to live, docs/journal.md "Tick records") into a shadow engine
//! and snapshots that. A snapshot holds the journal position it corresponds to (segment, offset,
//! and the checksum of the last record applied, so a snapshot that does not belong to this
//! journal is refused), the per-session last sequence numbers and message counts, the engine
//! state (`engine::snapshot`) and the scoreboard's latest rows.
//!
//! File `snapshot-NNNNNNNNNNNNNNNNNNNN.lps` (entries applied, 20 digits), little endian:
//! ```text
//!  0 magic        8  b"LPSSNAP\0"
//!  8 version      u16  SNAPSHOT_VERSION
//! 10 header_len   u16  64
//! 12 flags        u32  0
//! 16 payload_len  u64
//! 24 entries      u64  journal entries (messages, ticks, commands) applied
//! 32 payload_crc  u32  CRC32C of the payload
//! 36 reserved     24 bytes of zeros
//! 60 header_crc   u32  CRC32C of bytes 0..60
//! 64 payload      position, engine state, rows
//! ```
//! Written to a temporary file, fsynced, renamed into place, directory fsynced.
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::codec::{Dec, DecodeError, Enc};
use super::crc32c::crc32c;
use super::format::{Entry, FILE_HEADER_LEN, JournalError, RecordIter, le32, le64};
use super::reader::list_segments;
use super::replay::LatestSink;
use crate::engine::{Engine, EngineConfig, FixFeed};
use crate::kpi::RowKey;
use crate::publish::{RowSink, RowValues};

/// Snapshot file magic.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"LPSSNAP\0";
/// The snapshot format version this code writes and reads.
pub const SNAPSHOT_VERSION: u16 = 1;
const HEADER_LEN: usize = 64;
/// Snapshot directory inside a journal directory.
pub const SNAPSHOT_DIR: &str = "snapshots";

/// The snapshot directory of a journal directory.
pub fn snapshot_dir(journal_dir: &Path) -> PathBuf {
    journal_dir.join(SNAPSHOT_DIR)
}

/// The file name of a snapshot after `entries` journal entries.
pub fn snapshot_name(entries: u64) -> String {
    format!("snapshot-{entries:020}.lps")
}

fn parse_snapshot_name(name: &str) -> Option<u64> {
    let d = name.strip_prefix("snapshot-")?.strip_suffix(".lps")?;
    if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    d.parse().ok()
}

/// What a snapshot (or a follower) has applied of the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalPos {
    /// Segment index of the next entry.
    pub segment: u64,
    /// File offset in `segment` just past the last entry applied (`FILE_HEADER_LEN` when none
    /// there yet; 0 before the journal's first segment was opened).
    pub offset: u64,
    /// The last entry applied in `segment`: its offset and stored checksum (verifies that a
    /// snapshot belongs to this journal).
    pub last: Option<(u64, u32)>,
    /// Entries (messages, ticks, commands) applied since the journal's start.
    pub entries: u64,
    /// Per session, by session: (session, last sequence number, messages).
    pub sessions: Vec<(u32, u64, u64)>,
}

impl JournalPos {
    fn note_message(&mut self, session: u32, seq: u64) {
        match self.sessions.binary_search_by_key(&session, |p| p.0) {
            Ok(i) => {
                self.sessions[i].1 = seq;
                self.sessions[i].2 += 1;
            }
            Err(i) => self.sessions.insert(i, (session, seq, 1)),
        }
    }
    /// The last sequence number journaled for `session`.
    pub fn last_seq(&self, session: u32) -> Option<u64> {
        self.sessions
            .binary_search_by_key(&session, |p| p.0)
            .ok()
            .map(|i| self.sessions[i].1)
    }
    /// Messages journaled for `session` (all runs together).
    pub fn messages(&self, session: u32) -> u64 {
        self.sessions
            .binary_search_by_key(&session, |p| p.0)
            .map_or(0, |i| self.sessions[i].2)
    }
    fn encode(&self, e: &mut Enc) {
        e.tag(b"POSN");
        e.u64(self.segment);
        e.u64(self.offset);
        match self.last {
            None => e.bool(false),
            Some((o, c)) => {
                e.bool(true);
                e.u64(o);
                e.u32(c);
            }
        }
        e.u64(self.entries);
        e.usize(self.sessions.len());
        for &(s, q, n) in &self.sessions {
            e.u32(s);
            e.u64(q);
            e.u64(n);
        }
    }
    fn decode(d: &mut Dec<'_>) -> Result<Self, DecodeError> {
        d.tag(b"POSN", "journal position missing")?;
        let segment = d.u64()?;
        let offset = d.u64()?;
        let last = if d.bool()? {
            Some((d.u64()?, d.u32()?))
        } else {
            None
        };
        let entries = d.u64()?;
        let n = d.len(1 << 20)?;
        let mut sessions = Vec::with_capacity(n);
        for _ in 0..n {
            sessions.push((d.u32()?, d.u64()?, d.u64()?));
        }
        d.check(
            sessions.windows(2).all(|w| w[0].0 < w[1].0),
            "sessions out of order",
        )?;
        Ok(Self {
            segment,
            offset,
            last,
            entries,
            sessions,
        })
    }
}

/// A snapshot problem, naming the file.
#[derive(Debug)]
pub enum SnapshotError {
    /// An I/O error on `path`.
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        err: std::io::Error,
    },
    /// Not a snapshot (wrong magic).
    BadMagic {
        /// The file.
        path: PathBuf,
    },
    /// A snapshot format version this build cannot read.
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found.
        version: u16,
    },
    /// Bad header, cut short, or a checksum mismatch.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The contents do not fit this engine or this journal.
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
}

impl core::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Io { op, path, err } => write!(f, "snapshot: {op} {}: {err}", path.display()),
            Self::BadMagic { path } => write!(
                f,
                "snapshot {}: not an lpscore snapshot (wrong magic)",
                path.display()
            ),
            Self::UnsupportedVersion { path, version } => write!(
                f,
                "snapshot {}: format version {version}; this build reads version \
                 {SNAPSHOT_VERSION}",
                path.display()
            ),
            Self::Corrupt { path, reason } => {
                write!(f, "snapshot {}: corrupt: {reason}", path.display())
            }
            Self::Mismatch { path, reason } => {
                write!(f, "snapshot {}: unusable: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for SnapshotError {}

fn io_err(op: &'static str, path: &Path, err: std::io::Error) -> SnapshotError {
    SnapshotError::Io {
        op,
        path: path.to_path_buf(),
        err,
    }
}

/// The engine state and rows handed to a hot thread at start (the recovered engine).
#[derive(Clone)]
pub struct RecoveredState(Arc<[u8]>);

impl core::fmt::Debug for RecoveredState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RecoveredState({} bytes)", self.0.len())
    }
}

impl RecoveredState {
    /// The encoded state and rows of `engine`.
    pub fn of(engine: &mut Engine<LatestSink>) -> Self {
        let mut e = Enc::new();
        encode_engine(engine, &mut e);
        Self(e.buf.into())
    }
    /// Bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether empty (never, for a real state).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Restores the state into `engine` (fresh from `Engine::new` with the same configuration)
    /// and publishes the recovered rows to its sink.
    pub fn restore_into<S: RowSink>(&self, engine: &mut Engine<S>) -> Result<(), DecodeError> {
        let mut d = Dec::new(&self.0);
        engine.restore_state(&mut d)?;
        engine.restore_rows(&mut d)?;
        d.check(d.remaining() == 0, "trailing bytes after the rows")
    }
}

fn encode_engine(engine: &mut Engine<LatestSink>, e: &mut Enc) {
    engine.encode_state(e);
    let mut rows: Vec<(RowKey, RowValues)> =
        engine.sink().rows.iter().map(|(k, r)| (*k, *r)).collect();
    rows.sort_by_key(|(k, _)| (k.lp, k.sym, k.bucket));
    Engine::<LatestSink>::encode_rows(&rows, e);
}

/// Encodes a snapshot file's bytes.
pub fn encode_snapshot(pos: &JournalPos, engine: &mut Engine<LatestSink>) -> Vec<u8> {
    let mut e = Enc::new();
    e.raw(&[0u8; HEADER_LEN]);
    pos.encode(&mut e);
    encode_engine(engine, &mut e);
    let mut b = e.buf;
    let payload_len = (b.len() - HEADER_LEN) as u64;
    let pcrc = crc32c(0, &b[HEADER_LEN..]);
    b[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
    b[8..10].copy_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    b[10..12].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
    b[16..24].copy_from_slice(&payload_len.to_le_bytes());
    b[24..32].copy_from_slice(&pos.entries.to_le_bytes());
    b[32..36].copy_from_slice(&pcrc.to_le_bytes());
    let hcrc = crc32c(0, &b[..60]);
    b[60..64].copy_from_slice(&hcrc.to_le_bytes());
    b
}

/// Checks a snapshot's header and checksums; returns the journal position and the payload
/// offset of the engine state.
pub fn check_snapshot(path: &Path, b: &[u8]) -> Result<(JournalPos, usize), SnapshotError> {
    let corrupt = |reason: &str| SnapshotError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if b.len() < 8 || b[..8] != SNAPSHOT_MAGIC {
        return Err(SnapshotError::BadMagic {
            path: path.to_path_buf(),
        });
    }
    if b.len() < HEADER_LEN {
        return Err(corrupt("file shorter than its header"));
    }
    let version = u16::from_le_bytes([b[8], b[9]]);
    if version != SNAPSHOT_VERSION {
        return Err(SnapshotError::UnsupportedVersion {
            path: path.to_path_buf(),
            version,
        });
    }
    if crc32c(0, &b[..60]) != le32(&b[60..64]) {
        return Err(corrupt("header checksum mismatch"));
    }
    let payload_len = le64(&b[16..24]);
    if payload_len != (b.len() - HEADER_LEN) as u64 {
        return Err(corrupt(&format!(
            "payload is {} bytes, the header says {payload_len} (cut short or extended)",
            b.len() - HEADER_LEN
        )));
    }
    if crc32c(0, &b[HEADER_LEN..]) != le32(&b[32..36]) {
        return Err(corrupt("payload checksum mismatch"));
    }
    let mut d = Dec::new(&b[HEADER_LEN..]);
    let pos = JournalPos::decode(&mut d).map_err(|e| corrupt(&e.to_string()))?;
    if pos.entries != le64(&b[24..32]) {
        return Err(corrupt("entry count differs from the header's"));
    }
    Ok((pos, HEADER_LEN + d.pos()))
}

/// Writes `bytes` as `dir/name` atomically: temporary file, fsync, rename, fsync of the directory.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, SnapshotError> {
    std::fs::create_dir_all(dir).map_err(|e| io_err("create the directory", dir, e))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| io_err("create", &tmp, e))?;
        f.write_all(bytes).map_err(|e| io_err("write", &tmp, e))?;
        f.sync_all().map_err(|e| io_err("fsync", &tmp, e))?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| io_err("rename into place", &path, e))?;
    let d = std::fs::File::open(dir).map_err(|e| io_err("open", dir, e))?;
    d.sync_all().map_err(|e| io_err("fsync", dir, e))?;
    Ok(path)
}

/// The snapshot files of `dir`, newest (most entries) first. Temporary files are ignored.
pub fn list_snapshots(dir: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(u64, PathBuf)> = rd
        .flatten()
        .filter_map(|e| {
            let n = parse_snapshot_name(e.file_name().to_str()?)?;
            let md = std::fs::symlink_metadata(e.path()).ok()?;
            md.is_file().then(|| (n, e.path()))
        })
        .collect();
    v.sort_by_key(|x| std::cmp::Reverse(x.0));
    v
}

/// When the follower snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// After this many journal entries since the last snapshot (0: not by count).
    pub every_entries: u64,
    /// After this many ns with new entries since the last snapshot (0: not by time).
    pub every_ns: u64,
    /// Snapshots kept (older ones are removed after a new one is in place; at least 1).
    pub keep: usize,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        Self {
            every_entries: 1_000_000,
            every_ns: 60_000_000_000,
            keep: 2,
        }
    }
}

/// Queues an encoded command (a journal command record) to `engine`, as the live hot thread
/// did.
pub fn queue_command<S: RowSink>(engine: &Engine<S>, bytes: &[u8]) -> Result<(), String> {
    let mut d = Dec::new(bytes);
    let c = crate::engine::snapshot::decode_command(&mut d)
        .map_err(|e| format!("bad command record: {e}"))?;
    engine
        .commands()
        .push(c)
        .map_err(|_| "engine command queue full: command dropped".to_string())
}

/// A shadow engine that follows a journal directory and snapshots it.
pub struct Follower {
    /// The shadow engine (its sink keeps the latest row per key).
    pub feed: FixFeed<LatestSink>,
    dir: PathBuf,
    snap_dir: PathBuf,
    /// What has been applied.
    pub pos: JournalPos,
    policy: SnapshotPolicy,
    snap_entries: u64,
    snap_at_ns: u64,
    buf: Vec<u8>,
    /// Snapshots written.
    pub snapshots: u64,
}

impl core::fmt::Debug for Follower {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Follower")
            .field("dir", &self.dir)
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

fn now_ns() -> u64 {
    lpscore_shm::monotonic_ns()
}

impl Follower {
    /// A follower at the journal's start, with a fresh engine.
    pub fn new(
        journal_dir: &Path,
        cfg: &EngineConfig,
        policy: SnapshotPolicy,
    ) -> Result<Self, crate::engine::ConfigError> {
        let engine = Engine::new(cfg.clone(), LatestSink::default())?;
        Ok(Self {
            feed: FixFeed::new(engine),
            dir: journal_dir.to_path_buf(),
            snap_dir: snapshot_dir(journal_dir),
            pos: JournalPos::default(),
            policy,
            snap_entries: 0,
            snap_at_ns: now_ns(),
            buf: Vec::new(),
            snapshots: 0,
        })
    }

    /// Loads the snapshot at `path` into a follower, checking that it fits `cfg` and that the
    /// journal holds the record it ends at.
    pub fn from_snapshot(
        journal_dir: &Path,
        cfg: &EngineConfig,
        policy: SnapshotPolicy,
        path: &Path,
    ) -> Result<Self, SnapshotError> {
        let b = std::fs::read(path).map_err(|e| io_err("read", path, e))?;
        let (pos, at) = check_snapshot(path, &b)?;
        let mut f = Self::new(journal_dir, cfg, policy).map_err(|e| SnapshotError::Mismatch {
            path: path.to_path_buf(),
            reason: format!("engine configuration: {}", e.0),
        })?;
        let mut d = Dec::new(&b[at..]);
        let mismatch = |e: DecodeError| SnapshotError::Mismatch {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        f.feed.engine.restore_state(&mut d).map_err(mismatch)?;
        f.feed.engine.restore_rows(&mut d).map_err(mismatch)?;
        if d.remaining() != 0 {
            return Err(SnapshotError::Corrupt {
                path: path.to_path_buf(),
                reason: "trailing bytes after the rows".into(),
            });
        }
        f.verify_position(&pos)
            .map_err(|reason| SnapshotError::Mismatch {
                path: path.to_path_buf(),
                reason,
            })?;
        f.snap_entries = pos.entries;
        f.pos = pos;
        Ok(f)
    }

    fn segment_path(&self, index: u64) -> PathBuf {
        self.dir.join(super::format::segment_name(index))
    }

    /// Checks that the journal holds the record `pos` ends at.
    fn verify_position(&self, pos: &JournalPos) -> Result<(), String> {
        if pos.offset == 0 {
            return Ok(()); // the journal's start: nothing to check
        }
        let path = self.segment_path(pos.segment);
        let mut f = std::fs::File::open(&path)
            .map_err(|e| format!("its journal segment {}: {e}", path.display()))?;
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < pos.offset {
            return Err(format!(
                "its journal position {}@{} is past the end of the journal ({len} bytes)",
                path.display(),
                pos.offset
            ));
        }
        let Some((off, crc)) = pos.last else {
            return Ok(());
        };
        let mut b = vec![0u8; (pos.offset.saturating_sub(off)) as usize];
        f.seek(SeekFrom::Start(off))
            .and_then(|_| f.read_exact(&mut b))
            .map_err(|e| format!("read {}: {e}", path.display()))?;
        let mut it = RecordIter::from_offset(&b, off, &path);
        match it.next_entry() {
            Some(Ok(_)) if le32(&b[0..4]) == crc && it.position() == pos.offset => Ok(()),
            _ => Err(format!(
                "the journal record at {}@{off} is not the one it was taken after (another \
                 journal?)",
                path.display()
            )),
        }
    }

    /// Applies every complete entry the journal holds beyond the position; returns how many.
    /// A record still being written (an incomplete tail) is left for the next call.
    pub fn catch_up(&mut self) -> Result<u64, JournalError> {
        let mut applied = 0;
        loop {
            if self.pos.offset == 0 {
                // Not started: the first segment present.
                let segs = list_segments(&self.dir)?;
                let Some(first) = segs.first() else {
                    return Ok(applied);
                };
                self.pos.segment = first.index;
                self.pos.offset = FILE_HEADER_LEN as u64;
                self.pos.last = None;
                if !self.header_ready(first.index)? {
                    self.pos.offset = 0;
                    return Ok(applied);
                }
            }
            let (n, _) = self.read_segment()?;
            applied += n;
            // A later segment means this one is complete (the writer finishes a segment before
            // it creates the next): read it once more to its end, then move on.
            let next = list_segments(&self.dir)?
                .into_iter()
                .find(|s| s.index > self.pos.segment);
            let Some(next) = next else {
                return Ok(applied);
            };
            let (n, clean) = self.read_segment()?;
            applied += n;
            if !clean {
                return Err(JournalError::Corrupt {
                    path: self.segment_path(self.pos.segment),
                    offset: self.pos.offset,
                    reason: "incomplete record in a segment that is not the last",
                });
            }
            if !self.header_ready(next.index)? {
                return Ok(applied);
            }
            self.pos.segment = next.index;
            self.pos.offset = FILE_HEADER_LEN as u64;
            self.pos.last = None;
        }
    }

    /// Whether segment `index` has a complete, valid header (an incomplete one is being written).
    fn header_ready(&self, index: u64) -> Result<bool, JournalError> {
        let path = self.segment_path(index);
        let mut b = [0u8; FILE_HEADER_LEN];
        let mut f = std::fs::File::open(&path).map_err(|e| JournalError::io("open", &path, e))?;
        let mut n = 0;
        while n < b.len() {
            match f.read(&mut b[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) => return Err(JournalError::io("read", &path, e)),
            }
        }
        if n < FILE_HEADER_LEN {
            return Ok(false);
        }
        RecordIter::new(&b, &path).map(|_| true)
    }

    /// Applies the complete entries of the current segment past the position. Returns the
    /// count and whether the data ended exactly at a record boundary.
    fn read_segment(&mut self) -> Result<(u64, bool), JournalError> {
        let path = self.segment_path(self.pos.segment);
        let mut f = std::fs::File::open(&path).map_err(|e| JournalError::io("open", &path, e))?;
        f.seek(SeekFrom::Start(self.pos.offset))
            .map_err(|e| JournalError::io("seek", &path, e))?;
        let mut buf = core::mem::take(&mut self.buf);
        buf.clear();
        f.read_to_end(&mut buf)
            .map_err(|e| JournalError::io("read", &path, e))?;
        let mut it = RecordIter::from_offset(&buf, self.pos.offset, &path);
        let mut n = 0;
        let mut clean = true;
        let mut err = None;
        while let Some(r) = it.next_entry() {
            match r {
                Ok((off, e)) => {
                    let rel = (off - self.pos.offset) as usize;
                    let crc = le32(&buf[rel..rel + 4]);
                    self.apply(&e);
                    n += 1;
                    self.pos.last = Some((off, crc));
                }
                Err(JournalError::TornTail { .. }) => clean = false,
                Err(e) => err = Some(e),
            }
        }
        self.pos.offset = it.position();
        self.buf = buf;
        match err {
            Some(e) => Err(e),
            None => Ok((n, clean)),
        }
    }

    /// Applies one journal entry to the shadow engine, exactly as the live hot thread did.
    fn apply(&mut self, e: &Entry<'_>) {
        self.pos.entries += 1;
        match *e {
            Entry::Message(r) => {
                self.pos.note_message(r.session, r.seq);
                // A parse error changes nothing in the engine (live counted it the same way).
                let _ = self.feed.on_fix(r.ts_ns, r.session, r.bytes);
            }
            Entry::Tick { ts_ns } => self.feed.engine.tick(ts_ns),
            Entry::Command { bytes, .. } => {
                if let Err(e) = queue_command(&self.feed.engine, bytes) {
                    tracing::warn!(error = %e, "snapshot follower: command record not applied");
                }
            }
        }
    }

    /// Writes a snapshot of the shadow engine now (and removes the oldest beyond the policy's
    /// `keep`).
    pub fn snapshot(&mut self) -> Result<PathBuf, SnapshotError> {
        let bytes = encode_snapshot(&self.pos, &mut self.feed.engine);
        let path = write_atomic(&self.snap_dir, &snapshot_name(self.pos.entries), &bytes)?;
        self.snap_entries = self.pos.entries;
        self.snap_at_ns = now_ns();
        self.snapshots += 1;
        for (_, old) in list_snapshots(&self.snap_dir)
            .into_iter()
            .skip(self.policy.keep.max(1))
        {
            if let Err(e) = std::fs::remove_file(&old) {
                tracing::warn!(path = %old.display(), error = %e, "cannot remove an old snapshot");
            }
        }
        tracing::info!(path = %path.display(), entries = self.pos.entries, bytes = bytes.len(),
            "snapshot written");
        Ok(path)
    }

    /// Whether the policy asks for a snapshot now.
    pub fn due(&self) -> bool {
        let new = self.pos.entries.saturating_sub(self.snap_entries);
        new > 0
            && ((self.policy.every_entries > 0 && new >= self.policy.every_entries)
                || (self.policy.every_ns > 0
                    && now_ns().saturating_sub(self.snap_at_ns) >= self.policy.every_ns))
    }

    /// Entries applied since the last snapshot written or loaded.
    pub fn since_snapshot(&self) -> u64 {
        self.pos.entries.saturating_sub(self.snap_entries)
    }

    /// The state to hand to the hot thread.
    pub fn state(&mut self) -> RecoveredState {
        RecoveredState::of(&mut self.feed.engine)
    }

    /// Runs the follower on its own thread: catch up every few ms, snapshot per the policy;
    /// on [`FollowerHandle::finish`], a last catch-up and a snapshot (clean shutdown).
    pub fn spawn(self, name: &str) -> std::io::Result<FollowerHandle> {
        self.spawn_on(name, None)
    }

    /// [`Follower::spawn`] pinned to `core` (`lpscore run` uses the journal thread's core, so
    /// the shadow engine stays off the hot threads' cores).
    pub fn spawn_on(mut self, name: &str, core: Option<usize>) -> std::io::Result<FollowerHandle> {
        let stop = Arc::new(AtomicBool::new(false));
        let applied = Arc::new(AtomicU64::new(self.pos.entries));
        let (st, ap) = (Arc::clone(&stop), Arc::clone(&applied));
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                if let Some(c) = core {
                    if !core_affinity::set_for_current(core_affinity::CoreId { id: c }) {
                        tracing::warn!(core = c, "snapshot follower: cannot pin to the core; unpinned");
                    }
                }
                let mut failed = false;
                loop {
                    // SYNC POINT: Acquire pairs with `finish`'s Release store, which happens
                    // after the journal thread was joined (every record is in the files).
                    let stopping = st.load(Ordering::Acquire);
                    if !failed {
                        match self.catch_up() {
                            Ok(_) => {
                                // Relaxed: a progress statistic.
                                ap.store(self.pos.entries, Ordering::Relaxed);
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "snapshot follower stopped: no more snapshots");
                                eprintln!("lpscore snapshot follower: {e}; no more snapshots");
                                failed = true;
                            }
                        }
                        if !failed && (self.due() || (stopping && self.since_snapshot() > 0)) {
                            if let Err(e) = self.snapshot() {
                                tracing::error!(error = %e, "snapshot failed");
                                eprintln!("lpscore snapshot follower: {e}");
                            }
                        }
                    }
                    if stopping {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })?;
        Ok(FollowerHandle {
            stop,
            applied,
            thread: Some(thread),
        })
    }
}

/// Owns a follower thread.
#[derive(Debug)]
pub struct FollowerHandle {
    stop: Arc<AtomicBool>,
    applied: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl FollowerHandle {
    /// Journal entries applied by the shadow engine so far.
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Relaxed)
    }
    /// A last catch-up, a snapshot if anything is new, then the thread ends. Call after the
    /// journal thread has stopped (every record is in the files).
    pub fn finish(mut self) {
        self.stop_join();
    }
    fn stop_join(&mut self) {
        // SYNC POINT: Release; pairs with the follower's Acquire load.
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FollowerHandle {
    fn drop(&mut self) {
        self.stop_join();
    }
}

/// What [`recover_engine`] did.
#[derive(Debug)]
pub struct EngineRecovery {
    /// The follower, at the journal's end, holding the recovered shadow engine.
    pub follower: Follower,
    /// The snapshot used, if any.
    pub snapshot: Option<PathBuf>,
    /// Snapshots skipped (unreadable, corrupt, from another configuration or journal), with why.
    pub skipped: Vec<String>,
    /// Journal entries replayed after the snapshot.
    pub replayed: u64,
    /// Wall time of the whole recovery, ns.
    pub elapsed_ns: u64,
}

impl EngineRecovery {
    /// The last sequence number journaled for `session`.
    pub fn last_seq(&self, session: u32) -> Option<u64> {
        self.follower.pos.last_seq(session)
    }
    /// Messages journaled for `session`.
    pub fn messages(&self, session: u32) -> u64 {
        self.follower.pos.messages(session)
    }
}

/// Rebuilds the engine from the journal in `journal_dir`: the newest valid snapshot (a bad one
/// is skipped with a log line naming it and why, falling back to an older one or to the
/// journal's start), then every journal entry after it, at full engine speed. Run it after
/// [`super::start`] (which truncated a torn tail) and before the hot thread appends.
pub fn recover_engine(
    journal_dir: &Path,
    cfg: &EngineConfig,
    policy: SnapshotPolicy,
) -> Result<EngineRecovery, JournalError> {
    let t0 = now_ns();
    let mut skipped = Vec::new();
    let mut chosen = None;
    for (_, path) in list_snapshots(&snapshot_dir(journal_dir)) {
        match Follower::from_snapshot(journal_dir, cfg, policy, &path) {
            Ok(f) => {
                chosen = Some((f, path));
                break;
            }
            Err(e) => {
                tracing::error!(error = %e, "snapshot skipped");
                eprintln!("lpscore recovery: skipping {e}");
                skipped.push(e.to_string());
            }
        }
    }
    let (mut follower, snapshot) = match chosen {
        Some((f, p)) => (f, Some(p)),
        None => (
            Follower::new(journal_dir, cfg, policy).map_err(|e| JournalError::Io {
                op: "build the engine for",
                path: journal_dir.to_path_buf(),
                err: std::io::Error::other(e.0),
            })?,
            None,
        ),
    };
    let replayed = follower.catch_up()?;
    Ok(EngineRecovery {
        follower,
        snapshot,
        skipped,
        replayed,
        elapsed_ns: now_ns().saturating_sub(t0),
    })
}

/// `lpscore run`, per group with a journal: recovers the engine from `handle`'s journal
/// directory ([`recover_engine`]), logs the recovery (snapshot used, entries replayed, time) and
/// prints one line per session (`recovered group G session S: N messages through seq Q`: the
/// resume point for a counterparty without a session layer), starts the snapshot follower
/// (finished by [`super::JournalHandle::shutdown`]), and returns the state for the hot thread
/// (`GroupOptions::recovered`). Call it after [`super::start`], before the hot thread starts.
pub fn recover_for_run(
    group: usize,
    engine: &EngineConfig,
    handle: &mut super::JournalHandle,
) -> Result<RecoveredState, JournalError> {
    let t0 = now_ns();
    let cfg = handle.config().clone();
    let mut rec = recover_engine(&cfg.dir, engine, cfg.snapshot_policy())?;
    let state = rec.follower.state();
    // Snapshot load, journal replay and the state's encoding for the hot thread.
    let ns = now_ns().saturating_sub(t0);
    handle.set_engine_recovery_ns(ns);
    tracing::info!(
        group,
        snapshot = %rec.snapshot.as_deref().map_or("none".into(), |p| p.display().to_string()),
        skipped = rec.skipped.len(),
        replayed_entries = rec.replayed,
        entries = rec.follower.pos.entries,
        elapsed_ms = ns as f64 / 1e6,
        state_bytes = state.len(),
        "engine recovered"
    );
    eprintln!(
        "lpscore run: group {group}: engine recovered in {:.3} ms: snapshot {}, {} journal \
         entries replayed after it, {} in all",
        ns as f64 / 1e6,
        rec.snapshot
            .as_deref()
            .map_or("none".into(), |p| p.display().to_string()),
        rec.replayed,
        rec.follower.pos.entries
    );
    for &(s, q, n) in &rec.follower.pos.sessions {
        eprintln!("recovered group {group} session {s}: {n} messages through seq {q}");
    }
    let fh = rec
        .follower
        .spawn_on(&format!("lpscore-snap-{group}"), cfg.core)
        .map_err(|e| JournalError::io("spawn the snapshot follower for", &cfg.dir, e))?;
    handle.attach_follower(fh);
    Ok(state)
}
