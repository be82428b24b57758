//! Replay: journals, QuickFIX message logs and plain FIX logs fed through [`FixFeed`] (the same
//! code as live traffic), with the files' timestamps.
//!
//! Input formats, detected per file:
//! * **journal**: a segment (magic `LPSJRNL\0`) or a directory of segments; each record's capture
//!   timestamp and session are used as recorded.
//! * **QuickFIX message log** (`*.messages.log`): `YYYYMMDD-HH:MM:SS[.f{1,9}] : 8=FIX...`, one
//!   message per line, SOH or `|` delimiters; the prefix is the capture timestamp.
//! * **plain FIX log**: one message per line, SOH or `|`; the timestamp is the message's
//!   SendingTime (52) (the previous one when missing).
//!
//! In logs, the session is the unordered pair (SenderCompID, TargetCompID), numbered in order of
//! first appearance, so both directions of one FIX session share it. A message's extent is taken
//! from its BodyLength, so a data field containing a newline does not split it. Malformed lines
//! are counted and reported with their line numbers; they never stop the replay. Logs are read
//! in large blocks by a reader thread that splits them while the engine side feeds the previous
//! block (a few blocks recycled, no per-line allocation).
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::engine::{EngineConfig, FixFeed, ShmSink};
use crate::fix::UtcTimestamp;
use crate::kpi::RowKey;
use crate::publish::{RowSink, RowValues};
use crate::score::N_WEIGHTS;

use super::format::{Entry, JournalError};
use super::reader::{list_segments, looks_like_journal, scan_entries};

/// The input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// lpscore journal segment(s).
    Journal,
    /// QuickFIX `FileLog` message log (timestamp prefix).
    QuickFixLog,
    /// One FIX message per line.
    FixLog,
}

impl InputKind {
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Journal => "lpscore journal",
            Self::QuickFixLog => "QuickFIX message log",
            Self::FixLog => "FIX log",
        }
    }
}

/// Detects the format of `path` from its first bytes (a directory is a journal directory).
pub fn detect(path: &Path) -> std::io::Result<InputKind> {
    if path.is_dir() {
        return Ok(InputKind::Journal);
    }
    let mut f = std::fs::File::open(path)?;
    let mut head = [0u8; 256];
    let mut n = 0;
    while n < head.len() {
        let k = f.read(&mut head[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let head = &head[..n];
    if looks_like_journal(head) {
        return Ok(InputKind::Journal);
    }
    let first = head
        .iter()
        .position(|&b| b == b'\n')
        .map_or(head, |i| &head[..i]);
    Ok(if split_prefix(first).is_some() {
        InputKind::QuickFixLog
    } else {
        InputKind::FixLog
    })
}

/// Splits a QuickFIX log line's `TIMESTAMP : ` prefix: returns (timestamp ns, offset of the
/// message). `None` when the line has no such prefix.
pub fn split_prefix(line: &[u8]) -> Option<(u64, usize)> {
    // "YYYYMMDD-HH:MM:SS" (17) up to ".fffffffff" (27), then " : ".
    let lim = line.len().min(40);
    let i = line[..lim].windows(3).position(|w| w == b" : ")?;
    let ts = UtcTimestamp::parse(&line[..i]).ok()?;
    Some((ts.nanos().max(0) as u64, i + 3))
}

/// A malformed line (or journal record) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// The file.
    pub file: PathBuf,
    /// Line number (1-based) in a log; the record's byte offset in a journal segment.
    pub line: u64,
    /// Whether `line` is a journal offset.
    pub is_offset: bool,
    /// The reason.
    pub reason: String,
}

impl core::fmt::Display for Malformed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.is_offset {
            write!(
                f,
                "{} offset {}: {}",
                self.file.display(),
                self.line,
                self.reason
            )
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.reason)
        }
    }
}

/// Malformed lines kept in detail (all are counted).
pub const MAX_MALFORMED_KEPT: usize = 1000;

/// What a replay saw.
#[derive(Debug, Clone, Default)]
pub struct ReplayStats {
    /// Inputs read: (path, detected kind).
    pub files: Vec<(PathBuf, InputKind)>,
    /// Input bytes read.
    pub bytes: u64,
    /// Lines (logs) or records (journals) read, blank lines excluded.
    pub lines: u64,
    /// Messages fed to the engine's adapter (parsed or not).
    pub messages: u64,
    /// Messages per MsgType (35), for the types seen (complete after [`Replayer::finish`]).
    pub by_type: std::collections::BTreeMap<String, u64>,
    /// Malformed lines or records, all of them.
    pub malformed: u64,
    /// The first [`MAX_MALFORMED_KEPT`] in detail.
    pub malformed_detail: Vec<Malformed>,
    /// Sessions seen.
    pub sessions: u32,
    /// Torn journal tails met (reported, not fatal).
    pub torn: Vec<(PathBuf, u64)>,
    /// Event-time snapshots emitted (`--every`).
    pub snapshots: u64,
    /// Journal tick records replayed (`Engine::tick` at the live tick's time).
    pub ticks: u64,
    /// Journal command records replayed (queued to the engine at the live point).
    pub commands: u64,
}

/// A [`RowSink`] that keeps the latest row per key (and the names), optionally forwarding
/// everything to a scoreboard file.
#[derive(Debug, Default)]
pub struct LatestSink {
    /// Latest row per key.
    pub rows: HashMap<RowKey, RowValues>,
    /// LP names by index.
    pub lps: Vec<String>,
    /// Symbol names by slot.
    pub symbols: Vec<String>,
    /// Profile names by slot.
    pub profiles: Vec<String>,
    /// A scoreboard to publish to as well.
    pub shm: Option<ShmSink>,
}

fn put_name(v: &mut Vec<String>, i: usize, name: &[u8]) {
    if v.len() <= i {
        v.resize(i + 1, String::new());
    }
    v[i] = String::from_utf8_lossy(name).into_owned();
}

impl RowSink for LatestSink {
    fn publish(&mut self, key: RowKey, row: &RowValues) {
        self.rows.insert(key, *row);
        if let Some(s) = &mut self.shm {
            s.publish(key, row);
        }
    }
    fn register_lp(&mut self, lp: u16, name: &[u8]) {
        put_name(&mut self.lps, lp as usize, name);
        if let Some(s) = &mut self.shm {
            s.register_lp(lp, name);
        }
    }
    fn register_symbol(&mut self, slot: u32, name: &[u8]) {
        put_name(&mut self.symbols, slot as usize, name);
        if let Some(s) = &mut self.shm {
            s.register_symbol(slot, name);
        }
    }
    fn set_profile(&mut self, idx: u8, name: &[u8], weights: &[f64; N_WEIGHTS]) {
        put_name(&mut self.profiles, idx as usize, name);
        if let Some(s) = &mut self.shm {
            s.set_profile(idx, name, weights);
        }
    }
    fn heartbeat(&mut self, now_ns: u64) {
        if let Some(s) = &mut self.shm {
            s.heartbeat(now_ns);
        }
    }
}

/// Header fields a log replay needs without a full parse.
#[derive(Default)]
struct HeaderBits<'a> {
    msg_type: &'a [u8],
    sender: &'a [u8],
    target: &'a [u8],
    sending_time: &'a [u8],
}

/// Position of the first `b` in `h`, 8 bytes at a time (SWAR "has zero byte"; no `unsafe`).
#[inline]
fn find_byte(h: &[u8], b: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pat = LO.wrapping_mul(u64::from(b));
    let mut i = 0;
    while i + 8 <= h.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&h[i..i + 8]);
        let x = u64::from_le_bytes(w) ^ pat;
        let z = x.wrapping_sub(LO) & !x & HI;
        if z != 0 {
            return Some(i + (z.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    h[i..].iter().position(|&c| c == b).map(|p| i + p)
}

/// Walks the first fields of a message (after BeginString and BodyLength) for 35, 49, 56, 52.
fn header_bits(msg: &[u8]) -> HeaderBits<'_> {
    let mut h = HeaderBits::default();
    // The delimiter is the byte after BeginString ("8=FIX.4.4" / "8=FIXT.1.1").
    let delim = match msg.get(9) {
        Some(&1) | Some(&b'|') => msg[9],
        _ => match msg.get(10) {
            Some(&d @ (1 | b'|')) => d,
            _ => 1,
        },
    };
    let mut pos = 0usize;
    let mut found = 0u32;
    // The standard header comes first; 24 fields is plenty to reach 35/49/56/52.
    for _ in 0..24 {
        let Some(rest) = msg.get(pos..) else { break };
        // Tag digits up to '='.
        let mut tag = 0u32;
        let mut k = 0;
        while k < rest.len() && k < 7 && rest[k].is_ascii_digit() {
            tag = tag * 10 + u32::from(rest[k] - b'0');
            k += 1;
        }
        let vstart = k + 1;
        let end = find_byte(rest, delim).unwrap_or(rest.len());
        if k > 0 && rest.get(k) == Some(&b'=') && vstart <= end {
            let val = &rest[vstart..end];
            match tag {
                35 => {
                    h.msg_type = val;
                    found |= 1;
                }
                49 => {
                    h.sender = val;
                    found |= 2;
                }
                56 => {
                    h.target = val;
                    found |= 4;
                }
                52 => {
                    h.sending_time = val;
                    found |= 8;
                }
                _ => {}
            }
        }
        if found == 15 {
            break;
        }
        pos += end + 1;
    }
    h
}

/// Largest BodyLength trusted to span lines (the framer's default maximum).
const MAX_BODY: usize = 64 * 1024;

/// The extent of a message starting at `d[0]` from its BodyLength: `Some(len)` when the header is
/// well formed and the trailer `10=` sits where BodyLength says (possibly beyond `d`'s end: then
/// `len > d.len()`).
fn message_len(d: &[u8]) -> Option<usize> {
    if !d.starts_with(b"8=FIX") {
        return None;
    }
    let lim = d.len().min(16);
    let p8 = d[..lim].iter().position(|&b| b == 1 || b == b'|')?;
    let rest = d.get(p8 + 1..)?;
    if !rest.starts_with(b"9=") {
        return None;
    }
    let mut n: usize = 0;
    let mut i = 2;
    while i < rest.len() && i < 10 && rest[i].is_ascii_digit() {
        n = n * 10 + usize::from(rest[i] - b'0');
        i += 1;
    }
    if i == 2 || i >= rest.len() || !(rest[i] == 1 || rest[i] == b'|') {
        return None;
    }
    if n > MAX_BODY {
        return None;
    }
    let body_start = p8 + 1 + i + 1;
    let end = body_start + n + 7;
    if end <= d.len()
        && (&d[end - 7..end - 4] != b"10=" || !(d[end - 1] == 1 || d[end - 1] == b'|'))
    {
        return None;
    }
    Some(end)
}

/// Drives a [`FixFeed`] from files.
pub struct Replayer {
    /// The adapter and engine.
    pub feed: FixFeed<LatestSink>,
    /// Statistics.
    pub stats: ReplayStats,
    split: LogSplit,
    scratch: Vec<u8>,
    last_ts: u64,
    every_ns: u64,
    next_boundary: u64,
    dry_run: bool,
    block: usize,
    reader_core: Option<usize>,
}

/// One message (`buf[start..end]`, SOH-delimited) or one malformed line that the reader thread
/// found, in file order.
#[derive(Debug)]
enum Item {
    Msg {
        ts: u64,
        session: u32,
        start: usize,
        end: usize,
        line: u64,
    },
    Bad {
        line: u64,
        reason: String,
    },
}

/// A block of a log and what the reader found in it, handed to the engine side, then back to the
/// reader to be refilled (no allocation per block once the few in flight exist).
#[derive(Debug, Default)]
struct Batch {
    buf: Vec<u8>,
    items: Vec<Item>,
}

/// Blocks handed over and not yet taken by the engine side: the reader runs at most this far
/// ahead (memory: this many blocks, plus the one read and the one fed).
const IN_FLIGHT: usize = 2;

/// The reader side of a log replay: reads blocks, splits lines, scans headers, and finds each
/// message's event time and session. During [`Replayer::replay_log`] it runs on its own thread
/// while the engine side feeds the messages it found; its state carries from file to file (the
/// session numbers).
#[derive(Debug)]
struct LogSplit {
    sessions: HashMap<Vec<u8>, u32>,
    recent: Vec<(Vec<u8>, Vec<u8>, u32)>,
    recent_next: usize,
    key: Vec<u8>,
    /// The previous message's event time: the fallback of a line without a usable one.
    last_ts: u64,
    /// One-byte MsgTypes (all the common ones); others in `other_types`.
    type_counts: Box<[u64; 256]>,
    other_types: std::collections::BTreeMap<String, u64>,
    /// Lines and bytes read, not yet added to [`ReplayStats`].
    lines: u64,
    bytes: u64,
}

impl Default for LogSplit {
    fn default() -> Self {
        Self {
            sessions: HashMap::new(),
            recent: (0..4)
                .map(|_| (Vec::with_capacity(32), Vec::with_capacity(32), u32::MAX))
                .collect(),
            recent_next: 0,
            key: Vec::with_capacity(64),
            last_ts: 0,
            type_counts: Box::new([0; 256]),
            other_types: std::collections::BTreeMap::new(),
            lines: 0,
            bytes: 0,
        }
    }
}

impl core::fmt::Debug for Replayer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Replayer")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Called at each `--every` event-time boundary with the boundary time (rows are flushed first).
pub type SnapshotFn<'a> = dyn FnMut(u64, &FixFeed<LatestSink>) + 'a;

/// Read block size for logs.
const BLOCK: usize = 8 << 20;

impl Replayer {
    /// A replayer over a new engine.
    pub fn new(cfg: EngineConfig, sink: LatestSink) -> Result<Self, crate::engine::ConfigError> {
        let engine = crate::engine::Engine::new(cfg, sink)?;
        Ok(Self {
            feed: FixFeed::new(engine),
            stats: ReplayStats::default(),
            split: LogSplit::default(),
            scratch: Vec::with_capacity(1024),
            last_ts: 0,
            every_ns: 0,
            next_boundary: 0,
            dry_run: false,
            block: BLOCK,
            reader_core: None,
        })
    }

    /// Dry run: read, split and scan every message (counted in the statistics) without feeding
    /// the engine. Measures the replay layer alone.
    pub fn set_dry_run(&mut self, on: bool) {
        self.dry_run = on;
    }

    /// Read block size for logs (default 8 MiB; at least 64 bytes). A line longer than a block is
    /// reported as malformed. Small blocks exercise the carry-over between reads in tests.
    pub fn set_block_size(&mut self, bytes: usize) {
        self.block = bytes.max(64);
    }

    /// The core the log reader thread is pinned to (default: none, it inherits this thread's
    /// affinity; a caller pinned to one core should name another, or both threads share it).
    pub fn set_reader_core(&mut self, core: Option<usize>) {
        self.reader_core = core;
    }

    /// Emit snapshots every `ns` of event time (0: never).
    pub fn set_every(&mut self, ns: u64) {
        self.every_ns = ns;
        self.next_boundary = 0;
    }

    fn malformed(&mut self, file: &Path, line: u64, is_offset: bool, reason: String) {
        self.stats.malformed += 1;
        if self.stats.malformed_detail.len() < MAX_MALFORMED_KEPT {
            self.stats.malformed_detail.push(Malformed {
                file: file.to_path_buf(),
                line,
                is_offset,
                reason,
            });
        }
    }

    fn boundaries(&mut self, ts: u64, snap: &mut SnapshotFn<'_>) {
        if self.every_ns == 0 {
            return;
        }
        if self.next_boundary == 0 {
            self.next_boundary = (ts / self.every_ns + 1) * self.every_ns;
            return;
        }
        while ts >= self.next_boundary {
            let b = self.next_boundary;
            self.feed.engine.tick(b);
            self.feed.engine.flush();
            snap(b, &self.feed);
            self.stats.snapshots += 1;
            self.next_boundary = b + self.every_ns;
            // A long quiet gap: one snapshot, then jump to the boundary after `ts`.
            if ts >= self.next_boundary + self.every_ns {
                self.next_boundary = (ts / self.every_ns) * self.every_ns;
            }
        }
    }

    /// Feeds one message (SOH or `|`) with its timestamp and session.
    fn feed_one(
        &mut self,
        ts: u64,
        session: u32,
        msg: &[u8],
    ) -> Result<(), crate::fix::ParseError> {
        self.stats.messages += 1;
        if self.dry_run {
            return Ok(());
        }
        // `|`-delimited: the adapter parses SOH only, so translate into the reused scratch.
        let piped = msg.len() > 10 && msg[..12.min(msg.len())].contains(&b'|');
        if piped {
            self.scratch.clear();
            self.scratch
                .extend(msg.iter().map(|&b| if b == b'|' { 1 } else { b }));
            let s = core::mem::take(&mut self.scratch);
            let r = self.feed.on_fix(ts, session, &s);
            self.scratch = s;
            r
        } else {
            self.feed.on_fix(ts, session, msg)
        }
    }

    /// Replays one input (format detected).
    pub fn replay_path(
        &mut self,
        path: &Path,
        snap: &mut SnapshotFn<'_>,
    ) -> Result<InputKind, JournalError> {
        let kind = detect(path).map_err(|e| JournalError::io("open", path, e))?;
        self.stats.files.push((path.to_path_buf(), kind));
        match kind {
            InputKind::Journal => {
                let paths: Vec<PathBuf> = if path.is_dir() {
                    list_segments(path)?.into_iter().map(|s| s.path).collect()
                } else {
                    vec![path.to_path_buf()]
                };
                self.replay_journal(&paths, snap)?;
            }
            InputKind::QuickFixLog | InputKind::FixLog => self.replay_log(path, snap)?,
        }
        Ok(kind)
    }

    /// Replays journal segments in order. A corrupt record stops the replay with an error naming
    /// the segment and offset (records before it have been fed); a torn tail is reported.
    pub fn replay_journal(
        &mut self,
        paths: &[PathBuf],
        snap: &mut SnapshotFn<'_>,
    ) -> Result<(), JournalError> {
        let mut bad: Vec<(PathBuf, u64, String)> = Vec::new();
        let res = scan_entries(paths, |p, off, e: &Entry<'_>| {
            let r = match e {
                Entry::Message(r) => r,
                Entry::Tick { ts_ns } => {
                    // The live hot thread ticked the engine here: tick at the same point.
                    self.boundaries(*ts_ns, snap);
                    self.feed.engine.tick(*ts_ns);
                    self.stats.ticks += 1;
                    return;
                }
                Entry::Command { ts_ns, bytes } => {
                    // The live hot thread queued this command to the engine here.
                    self.boundaries(*ts_ns, snap);
                    match crate::journal::snapshot::queue_command(&self.feed.engine, bytes) {
                        Ok(()) => self.stats.commands += 1,
                        Err(e) => bad.push((p.to_path_buf(), off, e)),
                    }
                    return;
                }
            };
            self.stats.lines += 1;
            self.stats.bytes += r.bytes.len() as u64;
            self.boundaries(r.ts_ns, snap);
            self.last_ts = r.ts_ns;
            let h = header_bits(r.bytes);
            self.split.count_type(h.msg_type);
            if let Err(e) = self.feed_one(r.ts_ns, r.session, r.bytes) {
                bad.push((p.to_path_buf(), off, e.to_string()));
            }
        });
        for (p, off, e) in bad {
            self.malformed(&p, off, true, e);
        }
        let rep = res?;
        if let Some((p, off, _)) = rep.torn {
            self.stats.torn.push((p, off));
        }
        Ok(())
    }

    /// Replays a QuickFIX message log or plain FIX log: a reader thread splits the file into
    /// messages (and malformed lines) a block at a time while this thread feeds the engine, so
    /// the replay runs at the engine's speed. The engine sees the same messages in the same
    /// order as a single-threaded replay: the results are identical.
    pub fn replay_log(
        &mut self,
        path: &Path,
        snap: &mut SnapshotFn<'_>,
    ) -> Result<(), JournalError> {
        let f = std::fs::File::open(path).map_err(|e| JournalError::io("open", path, e))?;
        let mut split = core::mem::take(&mut self.split);
        split.last_ts = self.last_ts;
        let (block, core) = (self.block, self.reader_core);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Batch, JournalError>>(IN_FLIGHT);
        let (back_tx, back_rx) = std::sync::mpsc::channel::<Batch>();
        let (r, split) = std::thread::scope(|s| {
            let reader = std::thread::Builder::new()
                .name("lpscore-replay-read".into())
                .spawn_scoped(s, move || {
                    if let Some(c) = core {
                        if !core_affinity::set_for_current(core_affinity::CoreId { id: c }) {
                            tracing::warn!(core = c, "replay reader: could not pin");
                        }
                    }
                    split.read_file(f, path, block, &tx, &back_rx);
                    split
                });
            let reader = match reader {
                Ok(h) => h,
                Err(e) => return (Err(JournalError::io("start the reader of", path, e)), None),
            };
            let mut r = Ok(());
            // Ends when the reader is done (it drops `tx`); on an error, dropping `rx` stops it.
            for b in rx {
                match b {
                    Ok(b) => {
                        self.feed_batch(path, &b, snap);
                        // The reader may be gone (it stops after its last block): nothing to do.
                        let _ = back_tx.send(b);
                    }
                    Err(e) => {
                        r = Err(e);
                        break;
                    }
                }
            }
            match reader.join() {
                Ok(split) => (r, Some(split)),
                Err(p) => std::panic::resume_unwind(p),
            }
        });
        if let Some(mut split) = split {
            self.stats.lines += core::mem::take(&mut split.lines);
            self.stats.bytes += core::mem::take(&mut split.bytes);
            self.stats.sessions = split.sessions.len() as u32;
            self.split = split;
        }
        r
    }

    /// Feeds what the reader found in one block, in order.
    fn feed_batch(&mut self, path: &Path, b: &Batch, snap: &mut SnapshotFn<'_>) {
        for it in &b.items {
            match *it {
                Item::Msg {
                    ts,
                    session,
                    start,
                    end,
                    line,
                } => {
                    self.boundaries(ts, snap);
                    self.last_ts = ts;
                    self.stats.messages += 1;
                    if self.dry_run {
                        continue;
                    }
                    if let Err(e) = self.feed.on_fix(ts, session, &b.buf[start..end]) {
                        self.malformed(path, line, false, e.to_string());
                    }
                }
                Item::Bad { line, ref reason } => {
                    self.malformed(path, line, false, reason.clone());
                }
            }
        }
    }

    /// Ends the replay: publishes every changed row at the last event time and completes
    /// [`ReplayStats::by_type`].
    pub fn finish(&mut self) {
        self.feed.engine.flush();
        for (b, n) in self.split.type_counts.iter_mut().enumerate() {
            if *n > 0 {
                let k = String::from_utf8_lossy(&[b as u8]).into_owned();
                *self.stats.by_type.entry(k).or_insert(0) += *n;
                *n = 0;
            }
        }
        for (k, n) in core::mem::take(&mut self.split.other_types) {
            *self.stats.by_type.entry(k).or_insert(0) += n;
        }
    }
}

impl LogSplit {
    #[inline]
    fn count_type(&mut self, mt: &[u8]) {
        if let [b] = mt {
            self.type_counts[usize::from(*b)] += 1;
            return;
        }
        let mt = String::from_utf8_lossy(mt);
        if let Some(c) = self.other_types.get_mut(mt.as_ref()) {
            *c += 1;
        } else {
            self.other_types.insert(mt.into_owned(), 1);
        }
    }

    fn session_of(&mut self, a: &[u8], b: &[u8]) -> u32 {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        // A few recent pairs, compared in place (market data and order sessions interleave).
        for (plo, phi, id) in &self.recent {
            if *id != u32::MAX && plo == lo && phi == hi {
                return *id;
            }
        }
        self.key.clear();
        self.key.extend_from_slice(lo);
        self.key.push(0);
        self.key.extend_from_slice(hi);
        let id = match self.sessions.get(&self.key[..]) {
            Some(&id) => id,
            None => {
                let id = self.sessions.len() as u32;
                self.sessions.insert(self.key.clone(), id);
                id
            }
        };
        // Replace the oldest cached pair, reusing its buffers (no allocation once grown).
        let slot = self.recent_next % self.recent.len();
        self.recent_next = self.recent_next.wrapping_add(1);
        let e = &mut self.recent[slot];
        e.0.clear();
        e.0.extend_from_slice(lo);
        e.1.clear();
        e.1.extend_from_slice(hi);
        e.2 = id;
        id
    }

    /// Reads `f` in blocks of `block` bytes and sends each block with what it holds; a line that
    /// does not end in its block is carried into the next. A read error is sent last.
    fn read_file(
        &mut self,
        mut f: std::fs::File,
        path: &Path,
        block: usize,
        tx: &std::sync::mpsc::SyncSender<Result<Batch, JournalError>>,
        back: &std::sync::mpsc::Receiver<Batch>,
    ) {
        // A returned block, or a new one while every block is in flight (at most
        // `IN_FLIGHT + 2` ever exist).
        let fresh = || {
            let mut b = back.try_recv().unwrap_or_default();
            b.items.clear();
            b.buf.resize(block, 0);
            b
        };
        let mut cur = fresh();
        let mut filled = 0usize;
        let mut line_no = 1u64;
        let mut eof = false;
        // Skipping the rest of an over-long line.
        let mut skipping = false;
        loop {
            if !eof && filled < block {
                match f.read(&mut cur.buf[filled..]) {
                    Ok(0) => eof = true,
                    Ok(n) => {
                        filled += n;
                        self.bytes += n as u64;
                        if filled < block {
                            continue;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = tx.send(Err(JournalError::io("read", path, e)));
                        return;
                    }
                }
            }
            let consumed = self.lines(
                &mut cur.buf[..filled],
                eof,
                &mut line_no,
                &mut skipping,
                &mut cur.items,
            );
            let mut next = fresh();
            if consumed == 0 && !eof && filled == block {
                // One line larger than the block: report it and skip to its end.
                cur.items.push(Item::Bad {
                    line: line_no,
                    reason: format!("line longer than {block} bytes"),
                });
                skipping = true;
                filled = 0;
            } else {
                let tail = filled - consumed;
                next.buf[..tail].copy_from_slice(&cur.buf[consumed..filled]);
                filled = tail;
            }
            let done = eof && (filled == 0 || consumed == 0);
            let full = core::mem::replace(&mut cur, next);
            // An empty send only when the engine side is gone (it stopped on an error).
            if !full.items.is_empty() && tx.send(Ok(full)).is_err() {
                return;
            }
            if done {
                return;
            }
        }
    }

    /// Finds the messages and malformed lines among the complete lines of `d` (pushed to
    /// `items`, messages rewritten in place to SOH when `|`-delimited); returns the bytes
    /// consumed.
    fn lines(
        &mut self,
        d: &mut [u8],
        eof: bool,
        line_no: &mut u64,
        skipping: &mut bool,
        items: &mut Vec<Item>,
    ) -> usize {
        let mut pos = 0usize;
        let nl = |d: &[u8], from: usize| find_byte(&d[from..], b'\n').map(|i| from + i);
        let bad = |items: &mut Vec<Item>, line: u64, reason: &str| {
            items.push(Item::Bad {
                line,
                reason: reason.into(),
            })
        };
        if *skipping {
            match nl(d, 0) {
                Some(i) => {
                    *skipping = false;
                    *line_no += 1;
                    pos = i + 1;
                }
                None => return d.len(),
            }
        }
        while pos < d.len() {
            let rest = &d[pos..];
            // Blank lines.
            if rest[0] == b'\n' {
                *line_no += 1;
                pos += 1;
                continue;
            }
            let (prefix_ts, mstart) = if rest.starts_with(b"8=FIX") {
                (None, 0)
            } else {
                match split_prefix(&rest[..rest.len().min(48)]) {
                    Some((ts, off)) => (Some(ts), off),
                    None => {
                        // No message on this line (or only whitespace).
                        let Some(end) = nl(d, pos) else {
                            if !eof {
                                return pos;
                            }
                            if !d[pos..].iter().all(|b| b.is_ascii_whitespace()) {
                                self.lines += 1;
                                bad(items, *line_no, "no FIX message (8=FIX) on the line");
                            }
                            return d.len();
                        };
                        if !d[pos..end].iter().all(|b| b.is_ascii_whitespace()) {
                            self.lines += 1;
                            bad(
                                items,
                                *line_no,
                                "no FIX message (8=FIX) at the start of the line",
                            );
                        }
                        *line_no += 1;
                        pos = end + 1;
                        continue;
                    }
                }
            };
            let m = &rest[mstart..];
            // The message's extent: from BodyLength when it is consistent, else to the newline.
            let (msg_end, line_end) = match message_len(m) {
                Some(len) if len <= m.len() => {
                    let after = pos + mstart + len;
                    match nl(d, after) {
                        Some(e) => (after, e),
                        None if eof => (after, d.len()),
                        None => return pos,
                    }
                }
                Some(_) if !eof => return pos,
                _ => match nl(d, pos + mstart) {
                    Some(e) => (e, e),
                    None if eof => (d.len(), d.len()),
                    None => return pos,
                },
            };
            let start = pos + mstart;
            let mut end = msg_end;
            while end > start && matches!(d[end - 1], b'\r' | b' ') {
                end -= 1;
            }
            let msg = &d[start..end];
            // A newline inside the message (a data field) is rare: look before counting.
            let inner_nl = if find_byte(msg, b'\n').is_some() {
                msg.iter().filter(|&&b| b == b'\n').count() as u64
            } else {
                0
            };
            self.lines += 1;
            let this_line = *line_no;
            if !d[msg_end..line_end].iter().all(|b| b.is_ascii_whitespace()) {
                bad(
                    items,
                    this_line,
                    "unexpected bytes after the message's checksum",
                );
            } else {
                let h = header_bits(msg);
                let ts = prefix_ts
                    .or_else(|| {
                        UtcTimestamp::parse(h.sending_time)
                            .ok()
                            .map(|t| t.nanos().max(0) as u64)
                    })
                    .unwrap_or(self.last_ts);
                let (mt, sender, target) = (h.msg_type, h.sender, h.target);
                self.count_type(mt);
                let session = self.session_of(sender, target);
                self.last_ts = ts;
                // `|`-delimited: the adapter parses SOH only, so translate in place.
                if msg.len() > 10 && msg[..12.min(msg.len())].contains(&b'|') {
                    for b in &mut d[start..end] {
                        if *b == b'|' {
                            *b = 1;
                        }
                    }
                }
                items.push(Item::Msg {
                    ts,
                    session,
                    start,
                    end,
                    line: this_line,
                });
            }
            *line_no += 1 + inner_nl;
            pos = (line_end + 1).min(d.len());
        }
        pos
    }
}

/// Output formats of the KPI table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    /// JSON lines, one object per row.
    Json,
    /// CSV with a header line.
    Csv,
    /// An aligned text table.
    Table,
}

/// The column names of the KPI table (before the per-profile scores).
pub const COLUMNS: [&str; 24] = [
    "t_ns",
    "lp",
    "symbol",
    "bucket",
    "publish_ns",
    "eff_orders",
    "eff_fills",
    "n_orders",
    "n_fills",
    "n_price_skipped",
    "fill_rate",
    "reject_rate",
    "cancel_reject_rate",
    "pi_bps",
    "pi_rate",
    "es_bps",
    "eq_ratio",
    "impact_bps",
    "markout_bps",
    "realized_spread_bps",
    "ack_p50_ns",
    "ack_p99_ns",
    "fill_p50_ns",
    "flags",
];

fn bucket_label(cfg: &EngineConfig, b: u8) -> String {
    bucket_label_of(&cfg.size_buckets().edges, usize::from(b))
}

/// The label of size bucket `b` given the buckets' finite upper edges (`<250`, `250-1000`,
/// `>=200000`, or `all` for the all-sizes slot): the same labels for a replay's table and for
/// `lpscore dump` of a live scoreboard.
pub fn bucket_label_of(edges: &[u64], b: usize) -> String {
    if b > edges.len() {
        "all".into()
    } else if b == 0 {
        format!("<{}", edges.first().copied().unwrap_or(u64::MAX))
    } else if b == edges.len() {
        format!(">={}", edges[b - 1])
    } else {
        format!("{}-{}", edges[b - 1], edges[b])
    }
}

fn num(x: f32) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

/// The KPI table's header: [`COLUMNS`], then `score_NAME` per profile.
pub fn table_header(profiles: &[String]) -> Vec<String> {
    let mut header: Vec<String> = COLUMNS.iter().map(|s| s.to_string()).collect();
    header.extend(profiles.iter().map(|n| format!("score_{n}")));
    header
}

/// One row of the KPI table as text cells, in [`COLUMNS`] order then `n_prof` scores (a
/// non-finite value is an empty cell: null in JSON).
pub fn row_cells(
    t_ns: u64,
    lp: String,
    symbol: String,
    bucket: String,
    r: &RowValues,
    n_prof: usize,
) -> Vec<String> {
    let mut row = vec![
        t_ns.to_string(),
        lp,
        symbol,
        bucket,
        r.publish_ns.to_string(),
        num(r.eff_orders),
        num(r.eff_fills),
        r.n_orders.to_string(),
        r.n_fills.to_string(),
        r.n_price_skipped.to_string(),
        num(r.fill_rate),
        num(r.reject_rate),
        num(r.cancel_reject_rate),
        num(r.pi_bps),
        num(r.pi_rate),
        num(r.es_bps),
        num(r.eq_ratio),
        num(r.impact_bps),
        num(r.markout_bps),
        num(r.realized_spread_bps),
        r.ack_p50_ns.to_string(),
        r.ack_p99_ns.to_string(),
        r.fill_p50_ns.to_string(),
        r.flags.to_string(),
    ];
    row.extend(r.scores.iter().take(n_prof).map(|s| num(*s)));
    row
}

/// The KPI table's rows, sorted by (LP, symbol, bucket) index: the text cells per column
/// (`COLUMNS` then one score per active profile). Deterministic for a given input.
pub fn table_rows(feed: &FixFeed<LatestSink>, t_ns: u64) -> (Vec<String>, Vec<Vec<String>>) {
    let sink = feed.engine.sink();
    let cfg = feed.engine.config();
    let all_sym = feed.engine.all_symbols();
    let n_prof = cfg.profiles.len().min(8);
    let names: Vec<String> = (0..n_prof)
        .map(|p| {
            sink.profiles
                .get(p)
                .cloned()
                .unwrap_or_else(|| format!("profile{p}"))
        })
        .collect();
    let header = table_header(&names);
    let mut keys: Vec<&RowKey> = sink.rows.keys().collect();
    keys.sort_by_key(|k| (k.lp, k.sym, k.bucket));
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        let r = &sink.rows[k];
        let lp = sink
            .lps
            .get(k.lp as usize)
            .cloned()
            .unwrap_or_else(|| format!("#{}", k.lp));
        let sym = if k.sym == all_sym {
            "*".to_string()
        } else {
            sink.symbols
                .get(k.sym as usize)
                .cloned()
                .unwrap_or_else(|| format!("#{}", k.sym))
        };
        let row = row_cells(t_ns, lp, sym, bucket_label(cfg, k.bucket), r, n_prof);
        out.push(row);
    }
    (header, out)
}

fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn csv_cell(s: &str, out: &mut String) {
    if s.contains([',', '"', '\n']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// Columns that are text in JSON (the rest are numbers; empty = null).
const TEXT_COLS: [usize; 3] = [1, 2, 3];

/// Renders the KPI table in `fmt`. `with_header` applies to CSV and the table.
pub fn render(
    header: &[String],
    rows: &[Vec<String>],
    fmt: DumpFormat,
    with_header: bool,
) -> String {
    let mut out = String::new();
    match fmt {
        DumpFormat::Json => {
            for r in rows {
                out.push('{');
                for (i, (h, v)) in header.iter().zip(r).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    json_str(h, &mut out);
                    out.push(':');
                    if TEXT_COLS.contains(&i) {
                        json_str(v, &mut out);
                    } else if v.is_empty() {
                        out.push_str("null");
                    } else {
                        out.push_str(v);
                    }
                }
                out.push_str("}\n");
            }
        }
        DumpFormat::Csv => {
            let line = |cells: &[String], out: &mut String| {
                for (i, c) in cells.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    csv_cell(c, out);
                }
                out.push('\n');
            };
            if with_header {
                line(header, &mut out);
            }
            for r in rows {
                line(r, &mut out);
            }
        }
        DumpFormat::Table => {
            let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
            for r in rows {
                for (i, c) in r.iter().enumerate() {
                    w[i] = w[i].max(c.len());
                }
            }
            let line = |cells: &[String], out: &mut String| {
                for (i, c) in cells.iter().enumerate() {
                    if i > 0 {
                        out.push_str("  ");
                    }
                    if TEXT_COLS.contains(&i) {
                        out.push_str(&format!("{c:<width$}", width = w[i]));
                    } else {
                        out.push_str(&format!("{c:>width$}", width = w[i]));
                    }
                }
                while out.ends_with(' ') {
                    out.pop();
                }
                out.push('\n');
            };
            if with_header {
                line(header, &mut out);
            }
            for r in rows {
                line(r, &mut out);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix() {
        assert_eq!(
            split_prefix(b"20240315-14:30:18.123456789 : 8=FIX.4.4|9=5|"),
            Some((1_710_513_018_123_456_789, 30))
        );
        assert_eq!(
            split_prefix(b"20240315-14:30:18 : 8=FIX"),
            Some((1_710_513_018_000_000_000, 20))
        );
        assert_eq!(split_prefix(b"8=FIX.4.4|9=5|"), None);
        assert_eq!(split_prefix(b"garbage : 8=FIX"), None);
        assert_eq!(split_prefix(b""), None);
    }

    #[test]
    fn extent_from_body_length() {
        let m = b"8=FIX.4.4|9=5|35=0|10=123|";
        assert_eq!(message_len(m), Some(m.len()));
        assert_eq!(message_len(&m[..10]), None); // no BodyLength yet: not decidable, treated as a line
        assert_eq!(message_len(&m[..20]), Some(m.len())); // needs more
        assert_eq!(message_len(b"8=FIX.4.4|9=4|35=0|10=123|"), None); // trailer not where BodyLength says
        assert_eq!(message_len(b"8=FIX.4.4|9=6|35=0|10=123|"), Some(27)); // longer than the data: needs more
        assert_eq!(message_len(b"8=FIX.4.4|9=x|35=0|10=123|"), None);
        assert_eq!(message_len(b"8=FIX.4.4|9=99999999|"), None);
        assert_eq!(message_len(b"hello"), None);
    }

    #[test]
    fn find_byte_matches_naive() {
        let h: Vec<u8> = (0..200u32).map(|i| (i * 7 % 251) as u8).collect();
        for b in [0u8, 1, 7, 14, 250, 255] {
            for s in 0..20 {
                assert_eq!(
                    find_byte(&h[s..], b),
                    h[s..].iter().position(|&c| c == b),
                    "{b} {s}"
                );
            }
        }
        assert_eq!(find_byte(b"", 1), None);
        assert_eq!(find_byte(b"\x80\x81\x01", 1), Some(2));
    }

    #[test]
    fn header_fields() {
        let h = header_bits(
            b"8=FIX.4.4\x019=5\x0135=D\x0134=1\x0149=A\x0152=20240315-14:30:18\x0156=B\x0111=x\x01",
        );
        assert_eq!(h.msg_type, b"D");
        assert_eq!(h.sender, b"A");
        assert_eq!(h.target, b"B");
        assert_eq!(h.sending_time, b"20240315-14:30:18");
        let h = header_bits(b"");
        assert!(h.msg_type.is_empty());
    }

    #[test]
    fn bucket_labels() {
        let cfg = EngineConfig::default();
        assert_eq!(bucket_label(&cfg, 0), "<250");
        assert_eq!(bucket_label(&cfg, 1), "250-1000");
        assert_eq!(bucket_label(&cfg, 7), ">=200000");
        assert_eq!(bucket_label(&cfg, 8), "all");
    }

    #[test]
    fn csv_and_json_escape() {
        let h = vec!["t_ns".to_string(), "lp".to_string()];
        let rows = vec![vec!["1".to_string(), "a,\"b".to_string()]];
        assert_eq!(
            render(&h, &rows, DumpFormat::Csv, true),
            "t_ns,lp\n1,\"a,\"\"b\"\n"
        );
        assert_eq!(
            render(&h, &rows, DumpFormat::Json, true),
            "{\"t_ns\":1,\"lp\":\"a,\\\"b\"}\n"
        );
    }
}
