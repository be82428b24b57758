//! The journal thread: drains the ring, writes segments with `write(2)`, syncs per the durability
//! policy, rotates segments by size and age, and publishes the per-session durable watermarks.
//!
//! The write path is buffered `write(2)` + `fdatasync(2)` by default, or io_uring
//! (`backend = "uring"`: `WRITE_FIXED` from the registered write buffer + `FSYNC(DATASYNC)`);
//! docs/journal.md has the measurements of both.
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Deserialize;

use super::format::{
    FLAG_COMMAND, FLAG_TICK, FORMAT_VERSION, FileHeader, JournalError, RECORD_HEADER_LEN, le32,
    le64, record_size, seal_record, segment_name,
};
use super::reader::{RecoveryReport, recover};
use super::ring::{JournalProducer, Shared, Watermarks};
use super::uring::{Uring, explain};

/// When a record counts as durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// After `write(2)` (page cache): survives a process crash, not a power loss.
    None,
    /// Group commit: `fdatasync` at most `interval_ns` after the first unsynced write (0: as soon
    /// as the ring is drained).
    Group {
        /// Longest wait before a sync, ns.
        interval_ns: u64,
    },
    /// `fdatasync` after every record.
    PerRecord,
}

/// The durability policy's name in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DurabilityKind {
    /// See [`Durability::None`].
    None,
    /// See [`Durability::Group`].
    Group,
    /// See [`Durability::PerRecord`].
    PerRecord,
}

/// How the journal thread writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// `write(2)` + `fdatasync(2)`.
    #[default]
    Write,
    /// io_uring: `WRITE_FIXED` from the registered write buffer + `FSYNC(DATASYNC)`.
    Uring,
}

/// The `[journal]` section of the configuration.
///
/// ```
/// let c: lpscore::journal::JournalConfig =
///     toml::from_str("dir = \"/tmp/j\"\ndurability = \"group\"\ngroup_commit_us = 2000").unwrap();
/// assert_eq!(c.durability(), lpscore::journal::Durability::Group { interval_ns: 2_000_000 });
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JournalConfig {
    /// `lpscore run`: journal every framed message and tick of every group (default false: a
    /// journal needs a `dir` chosen for it). [`start`] itself ignores it.
    pub enabled: bool,
    /// Core to pin the journal thread to (none: unpinned).
    pub core: Option<usize>,
    /// Directory of the segment files.
    pub dir: PathBuf,
    /// `none`, `group` (default) or `per_record`.
    pub durability: DurabilityKind,
    /// Group commit interval, microseconds (default 2000).
    pub group_commit_us: u64,
    /// A segment is closed once it would exceed this many bytes (default 256 MiB).
    pub segment_bytes: u64,
    /// A segment is closed once its records span this many seconds of capture time (default 3600;
    /// 0: never).
    pub segment_age_s: u64,
    /// Hand-off ring size in bytes (default 8 MiB).
    pub ring_bytes: usize,
    /// Session slots (watermarks), default 256.
    pub max_sessions: u32,
    /// Bytes gathered before a `write(2)` when the ring stays busy (default 1 MiB).
    pub write_buffer: usize,
    /// `write` (default) or `uring`.
    pub backend: Backend,
    /// `lpscore run`: snapshot the engine (a follower thread replays the journal into a shadow
    /// engine) after this many journal entries (default 1 000 000; 0: not by count).
    pub snapshot_entries: u64,
    /// ... or this many seconds after the last snapshot when there is anything new (default
    /// 60; 0: not by time). A snapshot is also written at clean shutdown.
    pub snapshot_interval_s: u64,
    /// Snapshots kept in `dir/snapshots` (default 2).
    pub snapshot_keep: usize,
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            core: None,
            dir: PathBuf::from("/var/lib/lpscore/journal"),
            durability: DurabilityKind::Group,
            group_commit_us: 2_000,
            segment_bytes: 256 << 20,
            segment_age_s: 3_600,
            ring_bytes: 8 << 20,
            max_sessions: 256,
            write_buffer: 1 << 20,
            backend: Backend::Write,
            snapshot_entries: 1_000_000,
            snapshot_interval_s: 60,
            snapshot_keep: 2,
        }
    }
}

impl JournalConfig {
    /// The snapshot policy.
    pub fn snapshot_policy(&self) -> super::snapshot::SnapshotPolicy {
        super::snapshot::SnapshotPolicy {
            every_entries: self.snapshot_entries,
            every_ns: self.snapshot_interval_s.saturating_mul(1_000_000_000),
            keep: self.snapshot_keep.max(1),
        }
    }

    /// The policy.
    pub fn durability(&self) -> Durability {
        match self.durability {
            DurabilityKind::None => Durability::None,
            DurabilityKind::Group => Durability::Group {
                interval_ns: self.group_commit_us.saturating_mul(1_000),
            },
            DurabilityKind::PerRecord => Durability::PerRecord,
        }
    }
}

/// Counts of the journal thread's work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Records written.
    pub records: u64,
    /// Bytes written (headers and padding included).
    pub bytes: u64,
    /// fdatasync calls.
    pub syncs: u64,
    /// Segments created.
    pub segments: u64,
}

/// Owns the journal thread.
#[derive(Debug)]
pub struct JournalHandle {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Result<(), JournalError>>>,
    recovery: RecoveryReport,
    cfg: JournalConfig,
    follower: Option<super::snapshot::FollowerHandle>,
    engine_recovery_ns: u64,
}

impl JournalHandle {
    /// The watermarks (clone freely).
    pub fn watermarks(&self) -> Watermarks {
        Watermarks {
            shared: Arc::clone(&self.shared),
        }
    }
    /// Whether the thread stopped on an error.
    pub fn failed(&self) -> bool {
        self.shared.failed.load(Ordering::Acquire)
    }
    /// The error that stopped the thread, as text.
    pub fn error(&self) -> Option<String> {
        self.shared.error.lock().ok().and_then(|e| e.clone())
    }
    /// A snapshot of the counters.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            records: self.shared.records.load(Ordering::Relaxed),
            bytes: self.shared.bytes.load(Ordering::Relaxed),
            syncs: self.shared.syncs.load(Ordering::Relaxed),
            segments: self.shared.segments.load(Ordering::Relaxed),
        }
    }
    /// What recovery found when the journal was opened.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }
    /// The configuration it was started with.
    pub fn config(&self) -> &JournalConfig {
        &self.cfg
    }
    /// Attaches the snapshot follower: [`JournalHandle::shutdown`] finishes it (a last
    /// catch-up and a snapshot) after the journal thread is joined.
    pub fn attach_follower(&mut self, f: super::snapshot::FollowerHandle) {
        self.follower = Some(f);
    }
    /// Journal entries the snapshot follower has applied (0 without one).
    pub fn follower_applied(&self) -> u64 {
        self.follower.as_ref().map_or(0, |f| f.applied())
    }
    /// Records how long the engine recovery took (see `snapshot::recover_for_run`).
    pub fn set_engine_recovery_ns(&mut self, ns: u64) {
        self.engine_recovery_ns = ns;
    }
    /// How long the engine recovery (snapshot load + journal replay) took, ns.
    pub fn engine_recovery_ns(&self) -> u64 {
        self.engine_recovery_ns
    }
    /// Drains the ring, syncs (unless the policy is `none`), joins the thread, then finishes
    /// the snapshot follower, if any (a last catch-up and a snapshot).
    pub fn shutdown(mut self) -> Result<WriterStats, JournalError> {
        self.shared.stop.store(true, Ordering::Release);
        let joined = self.thread.take().map(|t| t.join());
        if let Some(f) = self.follower.take() {
            f.finish();
        }
        let r = match joined {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(JournalError::Io {
                op: "join the journal thread",
                path: PathBuf::new(),
                err: std::io::Error::other("the journal thread panicked"),
            }),
            None => Ok(()),
        };
        r.map(|()| self.stats())
    }
}

impl Drop for JournalHandle {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(f) = self.follower.take() {
            f.finish();
        }
    }
}

/// Opens (recovering: a torn tail is truncated with a log line; a corrupt record refuses to
/// start) the journal in `cfg.dir`, and starts the journal thread. New records go to a new
/// segment after the last one. The watermarks start at the last sequence number per session
/// found in the journal.
pub fn start(cfg: &JournalConfig) -> Result<(JournalProducer, JournalHandle), JournalError> {
    std::fs::create_dir_all(&cfg.dir)
        .map_err(|e| JournalError::io("create the journal directory", &cfg.dir, e))?;
    let recovery = recover(&cfg.dir)?;
    tracing::info!(
        dir = %cfg.dir.display(),
        segments = recovery.segments,
        records = recovery.records,
        truncated = recovery.truncated.is_some(),
        elapsed_ms = recovery.elapsed_ns as f64 / 1e6,
        "journal recovered"
    );
    let initial: Vec<(u32, u64)> = recovery.last_seq.clone();
    let shared = Shared::new(cfg.max_sessions, &initial);
    shared
        .preexisting
        .store(recovery.segments > 0, Ordering::Relaxed);
    let (prod, cons) = rtrb::RingBuffer::<u8>::new(cfg.ring_bytes.max(RECORD_HEADER_LEN * 2));
    // Reserved to its maximum (a buffer just under `write_buffer` plus the largest record), so
    // it never reallocates: the io_uring backend registers it as a fixed buffer.
    let buf: Vec<u8> = Vec::with_capacity(cfg.write_buffer.max(4096) + (1 << 20) + 64);
    let uring = match cfg.backend {
        Backend::Write => None,
        Backend::Uring => match Uring::new(buf.as_ptr(), buf.capacity()) {
            Ok(u) => {
                tracing::info!(fixed_buffer = u.has_fixed(), "journal: io_uring backend");
                Some(u)
            }
            Err(e) => {
                return Err(JournalError::io(
                    "set up io_uring for",
                    &cfg.dir,
                    std::io::Error::new(e.kind(), explain(&e)),
                ));
            }
        },
    };
    let mut w = Thread {
        durability: cfg.durability(),
        dir: cfg.dir.clone(),
        segment_bytes: cfg.segment_bytes.max(4096),
        segment_age_ns: cfg.segment_age_s.saturating_mul(1_000_000_000),
        write_buffer: cfg.write_buffer.max(4096),
        ring: cons,
        shared: Arc::clone(&shared),
        buf,
        uring,
        seg: None,
        next_index: recovery.next_segment,
        pending: vec![0; shared.watermarks.len()],
        touched: Vec::new(),
        is_touched: vec![false; shared.watermarks.len()],
        unsynced_since: None,
        needs_sync: false,
        written_records: 0,
        rotate_seen: 0,
    };
    let core = cfg.core;
    let thread = std::thread::Builder::new()
        .name("lpscore-journal".into())
        .spawn(move || {
            if let Some(c) = core {
                if !core_affinity::set_for_current(core_affinity::CoreId { id: c }) {
                    tracing::warn!(core = c, "journal thread: cannot pin to the core; unpinned");
                }
            }
            let r = w.run();
            if let Err(e) = &r {
                // Loud: the session layer stops advancing from here on.
                tracing::error!(error = %e, "journal thread stopped: watermarks frozen, sessions stop advancing");
                eprintln!("lpscore journal: FATAL: {e}; watermarks frozen, sessions stop advancing");
                if let Ok(mut slot) = w.shared.error.lock() {
                    *slot = Some(e.to_string());
                }
                w.shared.failed.store(true, Ordering::Release);
            }
            r
        })
        .map_err(|e| JournalError::io("spawn the journal thread", &cfg.dir, e))?;
    let producer = JournalProducer::new(prod, Arc::clone(&shared));
    Ok((
        producer,
        JournalHandle {
            shared,
            thread: Some(thread),
            recovery,
            cfg: cfg.clone(),
            follower: None,
            engine_recovery_ns: 0,
        },
    ))
}

struct Segment {
    file: File,
    path: PathBuf,
    /// Bytes in the file plus bytes buffered for it.
    len: u64,
    /// Bytes in the file.
    written: u64,
    first_ts: u64,
    has_records: bool,
}

struct Thread {
    durability: Durability,
    dir: PathBuf,
    segment_bytes: u64,
    segment_age_ns: u64,
    write_buffer: usize,
    ring: rtrb::Consumer<u8>,
    shared: Arc<Shared>,
    buf: Vec<u8>,
    uring: Option<Uring>,
    seg: Option<Segment>,
    next_index: u64,
    pending: Vec<u64>,
    touched: Vec<u32>,
    is_touched: Vec<bool>,
    unsynced_since: Option<u64>,
    /// A session message or a command was written since the last fdatasync. Tick records alone
    /// never start a sync: they move no watermark, and an idle appliance ticking every
    /// millisecond would otherwise fdatasync continuously (a tick lost in a crash only means the
    /// recovered engine is the replay of what the journal holds, as always).
    needs_sync: bool,
    /// Records moved into the write buffer so far (this thread's copy of `shared.records`).
    written_records: u64,
    /// The last rotation ticket served.
    rotate_seen: u64,
}

#[inline]
fn now_ns() -> u64 {
    lpscore_shm::monotonic_ns()
}

impl Thread {
    fn run(&mut self) -> Result<(), JournalError> {
        // The first segment is opened now, not at the first record: every run of a journal
        // leaves a segment, so the next start knows this journal ran ([`Watermarks::preexisting`]).
        // (Capture time 0: no record yet; the segment's age counts from its first record.)
        self.before_record(0, 0)?;
        let mut idle_spins = 0u32;
        loop {
            self.serve_rotation()?;
            let mut got = 0usize;
            while self.buf.len() < self.write_buffer {
                if !self.take_record()? {
                    break;
                }
                got += 1;
            }
            if !self.buf.is_empty() {
                self.flush()?;
                match self.durability {
                    Durability::None => self.publish(),
                    Durability::Group { .. }
                        if self.unsynced_since.is_none() && self.needs_sync =>
                    {
                        self.unsynced_since = Some(now_ns());
                    }
                    _ => {}
                }
            }
            if let (Durability::Group { interval_ns }, Some(t0)) =
                (self.durability, self.unsynced_since)
            {
                if now_ns().saturating_sub(t0) >= interval_ns {
                    self.sync()?;
                    self.publish();
                }
            }
            if got == 0 {
                if self.shared.stop.load(Ordering::Acquire) && self.ring.is_empty() {
                    self.flush()?;
                    if self.durability != Durability::None {
                        self.sync()?;
                    }
                    self.publish();
                    return Ok(());
                }
                idle_spins += 1;
                if idle_spins > 64 {
                    let wait = match (self.durability, self.unsynced_since) {
                        (Durability::Group { interval_ns }, Some(t0)) => {
                            (t0 + interval_ns).saturating_sub(now_ns()).min(50_000)
                        }
                        _ => 50_000,
                    };
                    std::thread::sleep(Duration::from_nanos(wait.max(1_000)));
                } else {
                    std::hint::spin_loop();
                }
            } else {
                idle_spins = 0;
            }
        }
    }

    /// Moves one record from the ring into the write buffer; `false` when none is complete.
    fn take_record(&mut self) -> Result<bool, JournalError> {
        let avail = self.ring.slots();
        if avail < RECORD_HEADER_LEN {
            return Ok(false);
        }
        let mut h = [0u8; RECORD_HEADER_LEN];
        {
            let Ok(chunk) = self.ring.read_chunk(RECORD_HEADER_LEN) else {
                return Ok(false);
            };
            let (a, b) = chunk.as_slices();
            h[..a.len()].copy_from_slice(a);
            h[a.len()..].copy_from_slice(b);
            // Not committed: the header is consumed with its payload below.
        }
        let len = le32(&h[4..8]) as usize;
        let ts = le64(&h[8..16]);
        let session = le32(&h[16..20]);
        let seq = le64(&h[24..32]);
        // Ticks and commands carry no session: they move no watermark.
        let is_tick = le32(&h[20..24]) & (FLAG_TICK | FLAG_COMMAND) != 0;
        let total = RECORD_HEADER_LEN + len;
        if avail < total && self.ring.slots() < total {
            return Ok(false);
        }
        self.before_record(ts, record_size(len) as u64)?;
        let start = self.buf.len();
        {
            let Ok(chunk) = self.ring.read_chunk(total) else {
                return Ok(false);
            };
            let (a, b) = chunk.as_slices();
            self.buf.extend_from_slice(a);
            self.buf.extend_from_slice(b);
            chunk.commit_all();
        }
        seal_record(&mut self.buf[start..start + total]);
        let padded = record_size(len);
        self.buf.resize(start + padded, 0);
        if let Some(seg) = self.seg.as_mut() {
            seg.len += padded as u64;
            if !seg.has_records {
                seg.first_ts = ts;
            }
            seg.has_records = true;
        }
        self.written_records += 1;
        // Single writer: a plain store of its own count (Relaxed: statistics).
        self.shared
            .records
            .store(self.written_records, Ordering::Relaxed);
        // A tick carries no session: no watermark moves for it.
        if let Some(p) = self.pending.get_mut(session as usize).filter(|_| !is_tick) {
            *p = seq;
            if !self.is_touched[session as usize] {
                self.is_touched[session as usize] = true;
                self.touched.push(session);
            }
        }
        let tick = le32(&h[20..24]) & FLAG_TICK != 0;
        if !tick {
            self.needs_sync = true;
        }
        if self.durability == Durability::PerRecord && !tick {
            self.flush()?;
            self.sync()?;
            self.publish();
        }
        Ok(true)
    }

    /// Opens the first segment or rotates before a record of `size` bytes captured at `ts`.
    fn before_record(&mut self, ts: u64, size: u64) -> Result<(), JournalError> {
        let rotate = match &self.seg {
            None => true,
            Some(s) => {
                s.has_records
                    && (s.len + size > self.segment_bytes
                        || (self.segment_age_ns > 0
                            && ts.saturating_sub(s.first_ts) >= self.segment_age_ns))
            }
        };
        if !rotate {
            return Ok(());
        }
        if self.seg.is_some() {
            self.flush()?;
            if self.durability != Durability::None {
                self.sync()?;
            }
            self.publish();
        }
        let index = self.next_index;
        let path = self.dir.join(segment_name(index));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| JournalError::io("create segment", &path, e))?;
        let h = FileHeader {
            version: FORMAT_VERSION,
            segment: index,
            created_ns: ts,
        }
        .encode();
        file.write_all(&h)
            .map_err(|e| JournalError::io("write segment header", &path, e))?;
        if self.durability != Durability::None {
            file.sync_data()
                .map_err(|e| JournalError::io("fdatasync", &path, e))?;
            sync_dir(&self.dir)?;
        }
        self.next_index += 1;
        self.shared.segments.fetch_add(1, Ordering::Relaxed);
        self.shared
            .bytes
            .fetch_add(h.len() as u64, Ordering::Relaxed);
        tracing::debug!(path = %path.display(), "journal segment opened");
        self.seg = Some(Segment {
            file,
            path,
            len: h.len() as u64,
            written: h.len() as u64,
            first_ts: ts,
            has_records: false,
        });
        Ok(())
    }

    fn flush(&mut self) -> Result<(), JournalError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let Some(seg) = self.seg.as_mut() else {
            self.buf.clear();
            return Ok(());
        };
        match self.uring.as_mut() {
            Some(u) => u.write_all(seg.file.as_raw_fd(), &self.buf, seg.written),
            None => seg.file.write_all(&self.buf),
        }
        .map_err(|e| JournalError::io("write", &seg.path, e))?;
        seg.written += self.buf.len() as u64;
        self.shared
            .bytes
            .fetch_add(self.buf.len() as u64, Ordering::Relaxed);
        self.buf.clear();
        Ok(())
    }

    fn sync(&mut self) -> Result<(), JournalError> {
        if let Some(seg) = self.seg.as_mut() {
            let t0 = now_ns();
            match self.uring.as_mut() {
                Some(u) => u.fdatasync(seg.file.as_raw_fd()),
                None => seg.file.sync_data(),
            }
            .map_err(|e| JournalError::io("fdatasync", &seg.path, e))?;
            let took = now_ns().saturating_sub(t0);
            // Statistics, this thread the only writer: Relaxed.
            self.shared.fsync.record(took);
            self.shared.fsync_max_ns.fetch_max(took, Ordering::Relaxed);
            self.shared.syncs.fetch_add(1, Ordering::Relaxed);
        }
        self.unsynced_since = None;
        self.needs_sync = false;
        Ok(())
    }

    /// Serves a rotation request ([`Watermarks::request_rotate`]): the current segment, if it
    /// holds records, is written, synced per the policy and closed; the next record opens a new
    /// one. Records already taken from the ring stay in the closed segment.
    fn serve_rotation(&mut self) -> Result<(), JournalError> {
        // Acquire pairs with `request_rotate`'s AcqRel increment.
        let req = self.shared.rotate_requested.load(Ordering::Acquire);
        if req == self.rotate_seen {
            return Ok(());
        }
        if self.seg.as_ref().is_some_and(|s| s.has_records) {
            self.flush()?;
            if self.durability != Durability::None {
                self.sync()?;
            }
            self.publish();
            if let Some(seg) = self.seg.take() {
                tracing::info!(path = %seg.path.display(), bytes = seg.written, "journal segment closed on request");
            }
            self.shared.rotations.fetch_add(1, Ordering::Relaxed);
        }
        self.rotate_seen = req;
        // SYNC POINT: producer. Release pairs with `Watermarks::rotation_done`'s Acquire, after
        // the segment was closed (and synced per the policy).
        self.shared.rotate_served.store(req, Ordering::Release);
        Ok(())
    }

    /// Every record written so far is durable: move the watermarks.
    fn publish(&mut self) {
        // Records moved into the buffer are written by now (every caller flushed first).
        self.shared
            .durable_records
            .store(self.written_records, Ordering::Relaxed);
        for &s in &self.touched {
            // SYNC POINT: producer. Release pairs with `Watermarks::durable`'s Acquire; it is
            // issued only after the write (none) or fdatasync (group, per_record) returned.
            self.shared.watermarks[s as usize].store(self.pending[s as usize], Ordering::Release);
            self.is_touched[s as usize] = false;
        }
        self.touched.clear();
    }
}

fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| JournalError::io("fsync the journal directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::format::Record;
    use crate::journal::reader::{list_segments, scan_segments};

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lpscore-writer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// Polls `f` (the journal thread runs on its own; generous deadline for a loaded machine).
    fn wait(what: &str, mut f: impl FnMut() -> bool) {
        let t0 = now_ns();
        while !f() {
            assert!(
                now_ns() - t0 < 60_000_000_000,
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn append(p: &mut JournalProducer, seq: u64) {
        p.append(&Record {
            ts_ns: 1_000 + seq,
            session: 1,
            seq,
            bytes: b"8=FIX.4.4\x019=5\x0135=8\x0110=000\x01",
        })
        .unwrap();
    }

    #[test]
    fn a_requested_rotation_closes_the_segment_and_the_next_record_opens_one() {
        let d = dir("rotate");
        let cfg = JournalConfig {
            dir: d.clone(),
            durability: DurabilityKind::Group,
            group_commit_us: 100,
            ..JournalConfig::default()
        };
        let (mut p, h) = start(&cfg).unwrap();
        let w = h.watermarks();
        // Nothing written yet: served without closing anything.
        let t = w.request_rotate();
        wait("an empty rotation", || w.rotation_done(t));
        assert_eq!(w.stats().rotations, 0);
        for seq in 1..=3 {
            append(&mut p, seq);
        }
        p.publish_counters();
        wait("3 durable records", || w.durable(1) == 3);
        let t = w.request_rotate();
        wait("the rotation", || w.rotation_done(t));
        let st = w.stats();
        assert_eq!((st.rotations, st.segments, st.records), (1, 1, 3));
        assert_eq!(st.durable_records, 3);
        assert_eq!(st.appended, 3);
        assert_eq!(st.lag_records(), 0);
        assert!(st.fsyncs >= 1);
        assert_eq!(st.fsync.count(), st.fsyncs);
        // A second request with nothing new written closes nothing.
        let t = w.request_rotate();
        wait("a rotation with nothing new", || w.rotation_done(t));
        assert_eq!(w.stats().rotations, 1);
        for seq in 4..=5 {
            append(&mut p, seq);
        }
        wait("5 durable records", || w.durable(1) == 5);
        assert_eq!(w.stats().segments, 2);
        drop(p);
        let end = h.shutdown().unwrap();
        assert_eq!((end.segments, end.records), (2, 5));
        let segs = list_segments(&d).unwrap();
        assert_eq!(segs.len(), 2);
        let paths: Vec<PathBuf> = segs.iter().map(|s| s.path.clone()).collect();
        let mut per_segment = Vec::new();
        for p in &paths {
            let mut seqs = Vec::new();
            scan_segments(std::slice::from_ref(p), |_, _, r| seqs.push(r.seq)).unwrap();
            per_segment.push(seqs);
        }
        assert_eq!(per_segment, vec![vec![1, 2, 3], vec![4, 5]]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_rotation_is_never_served_by_a_stopped_journal() {
        let d = dir("rotate-stopped");
        let cfg = JournalConfig {
            dir: d.clone(),
            durability: DurabilityKind::None,
            ..JournalConfig::default()
        };
        let (p, h) = start(&cfg).unwrap();
        let w = h.watermarks();
        drop(p);
        h.shutdown().unwrap();
        // The thread is joined: nobody will ever serve the ticket.
        let t = w.request_rotate();
        assert!(!w.rotation_done(t));
        assert!(!w.failed());
        let _ = std::fs::remove_dir_all(&d);
    }
}
