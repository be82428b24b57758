//! The hand-off from the hot thread to the journal thread: an `rtrb` byte ring carrying records
//! in the on-disk layout (checksum left to the journal thread), the per-session durable
//! watermarks, and the typed errors the producer gets instead of ever blocking or dropping.
//!
//! ```text
//! hot thread                                   journal thread
//!  JournalProducer::append(&Record)  --rtrb-->  copy + CRC32C -> write(2) -> fdatasync
//!  Watermarks::durable(session)      <--------  AtomicU64 store (Release) after the policy's sync
//! ```
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::metrics::hist::{Histogram, SharedHistogram};

use super::format::{
    FLAG_COMMAND, FLAG_TICK, MAX_RECORD_LEN, RECORD_HEADER_LEN, Record, encode_record_header,
    encode_record_header_flags,
};

/// State shared by the producer, the journal thread and every watermark reader.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Highest (latest appended) MsgSeqNum per session held at the configured durability; 0 when
    /// none. Written only by the journal thread.
    pub(crate) watermarks: Box<[AtomicU64]>,
    /// The journal thread hit an error and stopped: no watermark moves any more.
    pub(crate) failed: AtomicBool,
    /// Shut down requested: drain the ring, sync, exit.
    pub(crate) stop: AtomicBool,
    /// Recovery found segments: this journal ran before (so a session it holds nothing of has
    /// journaled nothing, rather than never having been journaled).
    pub(crate) preexisting: AtomicBool,
    /// Records written (to the file, not necessarily synced).
    pub(crate) records: AtomicU64,
    /// Bytes written, headers included.
    pub(crate) bytes: AtomicU64,
    /// fdatasync calls.
    pub(crate) syncs: AtomicU64,
    /// Segments created.
    pub(crate) segments: AtomicU64,
    /// Records durable at the configured durability (written for `none`, synced otherwise):
    /// `records` as of the journal thread's last watermark publication.
    pub(crate) durable_records: AtomicU64,
    /// fdatasync latencies (journal thread only).
    pub(crate) fsync: SharedHistogram,
    /// Longest fdatasync, ns.
    pub(crate) fsync_max_ns: AtomicU64,
    /// Segments closed on request ([`Watermarks::request_rotate`]).
    pub(crate) rotations: AtomicU64,
    /// Rotation tickets handed out by [`Watermarks::request_rotate`].
    pub(crate) rotate_requested: AtomicU64,
    /// The last ticket the journal thread has served (its segment closed, or nothing to close).
    pub(crate) rotate_served: AtomicU64,
    /// The error that stopped the journal thread.
    pub(crate) error: Mutex<Option<String>>,
    /// Producer side, on its own cache line (written by the hot thread every tick, never by
    /// the journal thread).
    pub(crate) producer: ProducerShared,
}

/// What the hot thread publishes of its [`ProducerCounters`] (Relaxed stores at the counters'
/// publication cadence; read by the metrics thread).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct ProducerShared {
    /// Records handed over (messages, ticks, commands).
    pub(crate) appended: AtomicU64,
    /// Bytes handed over, record headers included.
    pub(crate) bytes: AtomicU64,
    /// Refusals, any reason.
    pub(crate) refused: AtomicU64,
}

impl Shared {
    pub(crate) fn new(max_sessions: u32, initial: &[(u32, u64)]) -> Arc<Self> {
        let watermarks: Box<[AtomicU64]> = (0..max_sessions.max(1))
            .map(|_| AtomicU64::new(0))
            .collect();
        for &(s, seq) in initial {
            if let Some(w) = watermarks.get(s as usize) {
                w.store(seq, Ordering::Relaxed);
            }
        }
        Arc::new(Self {
            watermarks,
            failed: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            preexisting: AtomicBool::new(false),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            segments: AtomicU64::new(0),
            durable_records: AtomicU64::new(0),
            fsync: SharedHistogram::default(),
            fsync_max_ns: AtomicU64::new(0),
            rotations: AtomicU64::new(0),
            rotate_requested: AtomicU64::new(0),
            rotate_served: AtomicU64::new(0),
            error: Mutex::new(None),
            producer: ProducerShared::default(),
        })
    }
}

/// Per-session durable watermarks, readable lock-free from any thread.
#[derive(Debug, Clone)]
pub struct Watermarks {
    pub(crate) shared: Arc<Shared>,
}

impl Watermarks {
    /// The MsgSeqNum of the latest record of `session` that the journal holds at the configured
    /// durability (written for `none`, fdatasync'ed for `group` and `per_record`); 0 when none
    /// (or an unknown session). The session layer may persist/advance its sequence number up to
    /// this value and no further.
    /// Whether the journal already held segments when it started (it ran before). With it,
    /// `durable(s) == 0` means the journal holds nothing of session `s`, and a sequence store
    /// that says otherwise is ahead of the journal.
    pub fn preexisting(&self) -> bool {
        // Set once before the journal thread and its producer exist (Relaxed: the Arc hand-off
        // orders it).
        self.shared.preexisting.load(Ordering::Relaxed)
    }

    #[inline]
    pub fn durable(&self, session: u32) -> u64 {
        // SYNC POINT: consumer. Acquire pairs with the journal thread's Release store made after
        // the write/fdatasync that made the record durable.
        self.shared
            .watermarks
            .get(session as usize)
            .map_or(0, |w| w.load(Ordering::Acquire))
    }

    /// Whether the journal thread has failed (I/O error, full disk): watermarks no longer move.
    #[inline]
    pub fn failed(&self) -> bool {
        self.shared.failed.load(Ordering::Acquire)
    }

    /// The error that stopped the journal thread, as text.
    pub fn error(&self) -> Option<String> {
        self.shared.error.lock().ok().and_then(|e| e.clone())
    }

    /// Number of session slots.
    pub fn sessions(&self) -> u32 {
        self.shared.watermarks.len() as u32
    }

    /// The journal's counters (Relaxed loads: statistics, each one a value its writer stored).
    pub fn stats(&self) -> JournalStats {
        let sh = &*self.shared;
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        JournalStats {
            records: r(&sh.records),
            bytes: r(&sh.bytes),
            fsyncs: r(&sh.syncs),
            segments: r(&sh.segments),
            durable_records: r(&sh.durable_records),
            appended: r(&sh.producer.appended),
            appended_bytes: r(&sh.producer.bytes),
            refused: r(&sh.producer.refused),
            rotations: r(&sh.rotations),
            fsync_max_ns: r(&sh.fsync_max_ns),
            fsync: sh.fsync.snapshot(),
        }
    }

    /// Asks the journal thread to close its current segment at its next loop iteration (written
    /// and synced per the durability policy; the next record opens a new segment). Returns the
    /// ticket to wait for with [`Watermarks::rotation_done`]. A segment holding no record yet is
    /// not closed (nothing to rotate); the ticket is served all the same.
    pub fn request_rotate(&self) -> u64 {
        // AcqRel: tickets are unique and ordered; the journal thread's Acquire load pairs with it.
        self.shared.rotate_requested.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Whether the rotation of `ticket` is done (the segment closed, or there was nothing to
    /// close). Never true once the journal thread has failed or stopped.
    pub fn rotation_done(&self, ticket: u64) -> bool {
        // Acquire pairs with the journal thread's Release store after closing the segment: a
        // caller that sees the ticket served sees the closed segment on disk.
        self.shared.rotate_served.load(Ordering::Acquire) >= ticket
    }
}

/// A journal's counters, as [`Watermarks::stats`] reads them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Records written by the journal thread (messages, ticks, commands).
    pub records: u64,
    /// Bytes written, segment headers and padding included.
    pub bytes: u64,
    /// fdatasync calls.
    pub fsyncs: u64,
    /// Segments created.
    pub segments: u64,
    /// Records held at the configured durability.
    pub durable_records: u64,
    /// Records the hot thread handed over (as of its last counter publication, every tick).
    pub appended: u64,
    /// Bytes the hot thread handed over (record headers included, no padding).
    pub appended_bytes: u64,
    /// Records the hot thread could not hand over (ring full, writer failed, stalled, ...).
    pub refused: u64,
    /// Segments closed on request.
    pub rotations: u64,
    /// Longest fdatasync, ns.
    pub fsync_max_ns: u64,
    /// fdatasync latencies.
    pub fsync: Histogram,
}

impl JournalStats {
    /// Records handed over by the hot thread but not yet durable (0 when the published producer
    /// count lags the journal thread's).
    pub fn lag_records(&self) -> u64 {
        self.appended.saturating_sub(self.durable_records)
    }
}

/// Why a record was not taken. The hot thread never waits and nothing is dropped silently: every
/// refusal is one of these, and a session refused once stays refused ([`AppendError::SessionStalled`])
/// until [`JournalProducer::resume`], so its watermark cannot jump over a missing record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendError {
    /// The ring has no room for the record (the journal thread is behind): counted; the session
    /// is stalled.
    RingFull {
        /// Bytes the record needs.
        needed: usize,
        /// Bytes free.
        free: usize,
    },
    /// The journal thread stopped on an I/O error or a full disk.
    WriterFailed,
    /// An earlier record of this session was refused; resume after re-synchronising.
    SessionStalled {
        /// The session.
        session: u32,
    },
    /// Payload larger than the format allows.
    TooLarge {
        /// Payload length.
        len: usize,
    },
    /// Session index outside the configured `max_sessions`.
    BadSession {
        /// The session.
        session: u32,
    },
}

impl core::fmt::Display for AppendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::RingFull { needed, free } => write!(
                f,
                "journal ring full ({needed} bytes needed, {free} free): the journal thread is \
                 behind the disk; the session stops advancing"
            ),
            Self::WriterFailed => write!(
                f,
                "the journal thread stopped on an I/O error or a full disk; the session stops advancing"
            ),
            Self::SessionStalled { session } => write!(
                f,
                "session {session} is stalled after an earlier journal refusal (resume after resync)"
            ),
            Self::TooLarge { len } => {
                write!(
                    f,
                    "message of {len} bytes exceeds the journal's {MAX_RECORD_LEN}-byte limit"
                )
            }
            Self::BadSession { session } => {
                write!(f, "session {session} is outside the journal's max_sessions")
            }
        }
    }
}

impl std::error::Error for AppendError {}

/// Counts kept by the producer (the hot thread's own, no atomics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProducerCounters {
    /// Records handed over.
    pub appended: u64,
    /// Bytes handed over (record headers included).
    pub bytes: u64,
    /// Refusals because the ring was full.
    pub ring_full: u64,
    /// Refusals because the journal thread had failed.
    pub writer_failed: u64,
    /// Refusals because the session was stalled.
    pub stalled: u64,
    /// Other refusals (too large, bad session).
    pub rejected: u64,
    /// Tick records handed over (also in `appended` and `bytes`).
    pub ticks: u64,
    /// Tick records refused (ring full or writer failed; also in `ring_full` / `writer_failed`).
    pub ticks_refused: u64,
    /// Command records handed over (also in `appended` and `bytes`).
    pub commands: u64,
    /// Command records refused (also in `ring_full` / `writer_failed`).
    pub commands_refused: u64,
}

/// The hot thread's end of the journal: `append` never blocks and never allocates.
#[derive(Debug)]
pub struct JournalProducer {
    pub(crate) ring: rtrb::Producer<u8>,
    pub(crate) shared: Arc<Shared>,
    stalled: Vec<bool>,
    counters: ProducerCounters,
}

impl JournalProducer {
    pub(crate) fn new(ring: rtrb::Producer<u8>, shared: Arc<Shared>) -> Self {
        let n = shared.watermarks.len();
        Self {
            ring,
            shared,
            stalled: vec![false; n],
            counters: ProducerCounters::default(),
        }
    }

    /// Hands one message to the journal thread. The runtime should call this for every inbound
    /// message the engine will use (see [`super::should_journal`]: everything but heartbeats and
    /// test requests), before or right after feeding it to the engine.
    #[inline]
    pub fn append(&mut self, rec: &Record<'_>) -> Result<(), AppendError> {
        let s = rec.session as usize;
        if s >= self.stalled.len() {
            self.counters.rejected += 1;
            return Err(AppendError::BadSession {
                session: rec.session,
            });
        }
        // Relaxed is enough: a stale `false` only lets one more record into a ring nobody reads;
        // it is never made durable (the watermarks stop with the thread).
        if self.shared.failed.load(Ordering::Relaxed) {
            self.counters.writer_failed += 1;
            self.stalled[s] = true;
            return Err(AppendError::WriterFailed);
        }
        if self.stalled[s] {
            self.counters.stalled += 1;
            return Err(AppendError::SessionStalled {
                session: rec.session,
            });
        }
        let len = rec.bytes.len();
        if len > MAX_RECORD_LEN {
            self.counters.rejected += 1;
            self.stalled[s] = true;
            return Err(AppendError::TooLarge { len });
        }
        let needed = RECORD_HEADER_LEN + len;
        let free = self.ring.slots();
        if free < needed {
            self.counters.ring_full += 1;
            self.stalled[s] = true;
            return Err(AppendError::RingFull { needed, free });
        }
        let mut h = [0u8; RECORD_HEADER_LEN];
        encode_record_header(&mut h, len as u32, rec.ts_ns, rec.session, rec.seq);
        // Both pushes fit (checked above; only this thread adds to the ring). The consumer waits
        // for the payload after seeing the header.
        let pushed = self
            .ring
            .push_entire_slice(&h)
            .and_then(|()| self.ring.push_entire_slice(rec.bytes));
        if pushed.is_err() {
            // Unreachable by the check above; refuse rather than panic.
            self.counters.ring_full += 1;
            self.stalled[s] = true;
            return Err(AppendError::RingFull { needed, free });
        }
        self.counters.appended += 1;
        self.counters.bytes += needed as u64;
        Ok(())
    }

    /// Hands over an engine tick at `ts_ns` (a [`FLAG_TICK`] record: no payload, no session, no
    /// watermark). Never blocks or allocates. A refusal (`RingFull`, `WriterFailed`) stalls no
    /// session: the caller decides (the runtime skips that engine tick, so the journal still
    /// reproduces the live rows).
    #[inline]
    pub fn append_tick(&mut self, ts_ns: u64) -> Result<(), AppendError> {
        if self.shared.failed.load(Ordering::Relaxed) {
            self.counters.writer_failed += 1;
            self.counters.ticks_refused += 1;
            return Err(AppendError::WriterFailed);
        }
        let free = self.ring.slots();
        if free < RECORD_HEADER_LEN {
            self.counters.ring_full += 1;
            self.counters.ticks_refused += 1;
            return Err(AppendError::RingFull {
                needed: RECORD_HEADER_LEN,
                free,
            });
        }
        let mut h = [0u8; RECORD_HEADER_LEN];
        encode_record_header_flags(&mut h, 0, ts_ns, 0, 0, FLAG_TICK);
        if self.ring.push_entire_slice(&h).is_err() {
            // Unreachable by the check above.
            self.counters.ring_full += 1;
            self.counters.ticks_refused += 1;
            return Err(AppendError::RingFull {
                needed: RECORD_HEADER_LEN,
                free,
            });
        }
        self.counters.appended += 1;
        self.counters.ticks += 1;
        self.counters.bytes += RECORD_HEADER_LEN as u64;
        Ok(())
    }

    /// Hands over an engine command (weights, pauses) that the hot thread is about to queue to
    /// the engine (a [`super::format::FLAG_COMMAND`] record: session 0, seq 0, no watermark), so
    /// a replay applies it at the same point. Call it right before pushing the command to
    /// `Engine::commands()`, with nothing fed to the engine in between. Never blocks or
    /// allocates. A refusal (`RingFull`, `WriterFailed`) stalls no session; the caller should
    /// still apply the command (live rows first) and log that replays of this journal will not
    /// see it (counted in [`ProducerCounters::commands_refused`]).
    pub fn append_command(
        &mut self,
        ts_ns: u64,
        cmd: &crate::engine::Command,
    ) -> Result<(), AppendError> {
        use crate::engine::snapshot::{MAX_COMMAND_LEN, encode_command_into};
        let mut payload = [0u8; MAX_COMMAND_LEN];
        let len = encode_command_into(cmd, &mut payload);
        if self.shared.failed.load(Ordering::Relaxed) {
            self.counters.writer_failed += 1;
            self.counters.commands_refused += 1;
            return Err(AppendError::WriterFailed);
        }
        let needed = RECORD_HEADER_LEN + len;
        let free = self.ring.slots();
        if free < needed {
            self.counters.ring_full += 1;
            self.counters.commands_refused += 1;
            return Err(AppendError::RingFull { needed, free });
        }
        let mut h = [0u8; RECORD_HEADER_LEN];
        encode_record_header_flags(&mut h, len as u32, ts_ns, 0, 0, FLAG_COMMAND);
        let pushed = self
            .ring
            .push_entire_slice(&h)
            .and_then(|()| self.ring.push_entire_slice(&payload[..len]));
        if pushed.is_err() {
            // Unreachable by the check above.
            self.counters.ring_full += 1;
            self.counters.commands_refused += 1;
            return Err(AppendError::RingFull { needed, free });
        }
        self.counters.appended += 1;
        self.counters.commands += 1;
        self.counters.bytes += needed as u64;
        Ok(())
    }

    /// Clears a session's stall after the session layer has re-synchronised (e.g. a resend
    /// request will bring the refused messages again).
    pub fn resume(&mut self, session: u32) {
        if let Some(s) = self.stalled.get_mut(session as usize) {
            *s = false;
        }
    }

    /// Whether `session` is stalled.
    pub fn is_stalled(&self, session: u32) -> bool {
        self.stalled.get(session as usize).copied().unwrap_or(true)
    }

    /// The counters.
    pub fn counters(&self) -> ProducerCounters {
        self.counters
    }

    /// The watermarks.
    pub fn watermarks(&self) -> Watermarks {
        Watermarks {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Free bytes in the ring.
    pub fn free(&self) -> usize {
        self.ring.slots()
    }

    /// Publishes the counters for [`Watermarks::stats`] (Relaxed stores, no read-modify-write;
    /// call at the counters' publication cadence, not per record).
    pub fn publish_counters(&self) {
        let c = &self.counters;
        let p = &self.shared.producer;
        p.appended.store(c.appended, Ordering::Relaxed);
        p.bytes.store(c.bytes, Ordering::Relaxed);
        p.refused.store(
            c.ring_full + c.writer_failed + c.stalled + c.rejected,
            Ordering::Relaxed,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_tick_stalls_no_session() {
        // No journal thread: nothing drains the 64-byte ring.
        let (prod, _cons) = rtrb::RingBuffer::<u8>::new(64);
        let mut p = JournalProducer::new(prod, Shared::new(4, &[]));
        p.append(&Record {
            ts_ns: 1,
            session: 1,
            seq: 1,
            bytes: &[7u8; 28],
        })
        .unwrap();
        assert_eq!(
            p.append_tick(2),
            Err(AppendError::RingFull {
                needed: RECORD_HEADER_LEN,
                free: 4
            })
        );
        let c = p.counters();
        assert_eq!((c.ticks, c.ticks_refused, c.ring_full), (0, 1, 1));
        assert!(!p.is_stalled(0) && !p.is_stalled(1));
        // A failed writer refuses ticks as such.
        p.shared.failed.store(true, Ordering::Release);
        assert_eq!(p.append_tick(3), Err(AppendError::WriterFailed));
        assert_eq!(p.counters().ticks_refused, 2);
    }
}
