//! What both socket backends share: per-connection framing, the journal hand-off and the engine.
//!
//! A backend calls [`Ingest::open`] when a connection is established, [`Ingest::on_bytes`] with
//! each received chunk *in place* (the provided buffer or the recv buffer; only a message that
//! straddles two chunks is copied, by the connection's [`Framer`]), and [`Ingest::close`] when it
//! ends. Every connection slot and framer is allocated up front ([`Ingest::new`]) and the framers'
//! reassembly buffers are grown to their maximum once, so nothing allocates per message.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::engine::{Counters, FeedCounters, FixFeed};
use crate::fix::{FrameErrorKind, Framer, FramerConfig};
use crate::publish::{MemorySink, NullSink, RowSink};

use crate::journal::{AppendError, JournalProducer, Record};

/// A row sink the runtime can stop at shutdown (the scoreboard is marked STOPPED).
pub trait HotSink: RowSink {
    /// Clean shutdown: no more publications.
    fn stop(&mut self) {}
}

impl HotSink for crate::engine::ShmSink {
    fn stop(&mut self) {
        self.writer_mut().stop();
    }
}
impl HotSink for MemorySink {}
impl HotSink for NullSink {}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed it (EOF).
    PeerClosed,
    /// A socket error (reset, ...).
    Error,
    /// It sent nothing within `io.silent_timeout_ms`.
    Silent,
    /// Runtime shutdown.
    Shutdown,
}

/// Counters of one session (shared with readers through [`GroupStats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionCounters {
    /// Session id.
    pub id: u32,
    /// Connections opened.
    pub connections: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Messages framed (handed to the engine).
    pub messages: u64,
    /// Framing errors (garbage, bad checksum, ...): the framer resynchronises on the next `8=FIX`.
    pub frame_errors: u64,
    /// Messages the engine's parser refused.
    pub parse_errors: u64,
    /// Connections that ended in the middle of a message.
    pub truncated: u64,
    /// Messages scored but refused by the journal (ring full, writer failed, session stalled,
    /// too large): see docs/journal.md, "Failure".
    pub journal_refused: u64,
    /// 1 while the journal has this session stalled (its durable watermark no longer moves).
    pub journal_stalled: u64,
}

/// Counters of one hot thread (local copy; published to [`GroupStats`] once per batch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoopCounters {
    /// Connections accepted or connected.
    pub opened: u64,
    /// Connections closed (any reason).
    pub closed: u64,
    /// Of which closed by the peer.
    pub peer_closed: u64,
    /// Of which by a socket error.
    pub errors: u64,
    /// Of which because they stayed silent.
    pub silent_closed: u64,
    /// Connections refused because every slot was taken.
    pub refused: u64,
    /// Receive completions / successful recv() calls.
    pub recvs: u64,
    /// Receive batches (one capture timestamp each).
    pub batches: u64,
    /// ENOBUFS completions (buffer ring empty: recycled, re-armed; data stays in the socket).
    pub enobufs: u64,
    /// Times the completion queue overflow flag was seen.
    pub cq_overflow: u64,
    /// Multishot re-arms.
    pub rearms: u64,
    /// Connect attempts that failed.
    pub connect_failures: u64,
    /// Messages refused by the journal, over all sessions (per session: `journal_refused`).
    pub journal_refused: u64,
    /// Idle waits in the kernel (idle mode).
    pub idle_waits: u64,
    /// Engine ticks.
    pub ticks: u64,
    /// Ticks not performed because the journal ring had no room for the tick record (the next
    /// tick does their work; the journal still reproduces the live rows).
    pub journal_ticks_skipped: u64,
}

const N_LOOP: usize = 16;
const N_SESSION: usize = 8;

impl LoopCounters {
    fn words(&self) -> [u64; N_LOOP] {
        [
            self.opened,
            self.closed,
            self.peer_closed,
            self.errors,
            self.silent_closed,
            self.refused,
            self.recvs,
            self.batches,
            self.enobufs,
            self.cq_overflow,
            self.rearms,
            self.connect_failures,
            self.journal_refused,
            self.idle_waits,
            self.ticks,
            self.journal_ticks_skipped,
        ]
    }
    fn from_words(w: &[u64; N_LOOP]) -> Self {
        Self {
            opened: w[0],
            closed: w[1],
            peer_closed: w[2],
            errors: w[3],
            silent_closed: w[4],
            refused: w[5],
            recvs: w[6],
            batches: w[7],
            enobufs: w[8],
            cq_overflow: w[9],
            rearms: w[10],
            connect_failures: w[11],
            journal_refused: w[12],
            idle_waits: w[13],
            ticks: w[14],
            journal_ticks_skipped: w[15],
        }
    }
}

impl SessionCounters {
    fn words(&self) -> [u64; N_SESSION] {
        [
            self.connections,
            self.bytes,
            self.messages,
            self.frame_errors,
            self.parse_errors,
            self.truncated,
            self.journal_refused,
            self.journal_stalled,
        ]
    }
}

/// A hot thread's counters as other threads see them: written only by the hot thread (Relaxed
/// stores of its local counts, no read-modify-write), read by anyone (Relaxed loads: statistics,
/// no ordering with anything else).
#[derive(Debug)]
pub struct GroupStats {
    loop_words: [AtomicU64; N_LOOP],
    session_ids: Vec<u32>,
    session_words: Vec<[AtomicU64; N_SESSION]>,
    engine_events: AtomicU64,
    running: AtomicU64,
}

/// A consistent-enough copy of [`GroupStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Loop counters.
    pub io: LoopCounters,
    /// Per session, in configuration order.
    pub sessions: Vec<SessionCounters>,
    /// Events the engine processed.
    pub engine_events: u64,
}

impl StatsSnapshot {
    /// A session's counters by id.
    pub fn session(&self, id: u32) -> Option<&SessionCounters> {
        self.sessions.iter().find(|s| s.id == id)
    }
    /// Messages over all sessions.
    pub fn messages(&self) -> u64 {
        self.sessions.iter().map(|s| s.messages).sum()
    }
}

impl GroupStats {
    /// Counters for these sessions, all zero.
    pub fn new(session_ids: &[u32]) -> Self {
        Self {
            loop_words: Default::default(),
            session_ids: session_ids.to_vec(),
            session_words: session_ids.iter().map(|_| Default::default()).collect(),
            engine_events: AtomicU64::new(0),
            running: AtomicU64::new(0),
        }
    }
    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let mut w = [0u64; N_LOOP];
        for (o, a) in w.iter_mut().zip(&self.loop_words) {
            *o = a.load(Ordering::Relaxed);
        }
        let sessions = self
            .session_ids
            .iter()
            .zip(&self.session_words)
            .map(|(&id, s)| {
                let g = |i: usize| s[i].load(Ordering::Relaxed);
                SessionCounters {
                    id,
                    connections: g(0),
                    bytes: g(1),
                    messages: g(2),
                    frame_errors: g(3),
                    parse_errors: g(4),
                    truncated: g(5),
                    journal_refused: g(6),
                    journal_stalled: g(7),
                }
            })
            .collect();
        StatsSnapshot {
            io: LoopCounters::from_words(&w),
            sessions,
            engine_events: self.engine_events.load(Ordering::Relaxed),
        }
    }
    /// Messages framed over all sessions (no allocation: for polling in tests and metrics).
    pub fn messages(&self) -> u64 {
        self.session_words
            .iter()
            .map(|w| w[2].load(Ordering::Relaxed))
            .sum()
    }
    /// Whether the hot loop is running (set once it is ready, cleared when it has stopped).
    pub fn running(&self) -> bool {
        self.running.load(Ordering::Acquire) == 1
    }
    pub(crate) fn set_running(&self, on: bool) {
        // Release: a reader that sees `running == 0` after a stop sees the final counters.
        self.running.store(u64::from(on), Ordering::Release);
    }
}

/// One connection slot.
#[derive(Debug)]
struct Conn {
    framer: Framer,
    session: usize,
    open: bool,
    got_bytes: bool,
    opened_mono_ns: u64,
}

/// The shared ingest state of one hot thread.
#[derive(Debug)]
pub struct Ingest<S: RowSink> {
    /// The engine behind the FIX adapter.
    pub feed: FixFeed<S>,
    conns: Vec<Conn>,
    sessions: Vec<SessionState>,
    journal: Option<JournalProducer>,
    /// Loop counters (the backend bumps the io ones).
    pub counters: LoopCounters,
    shared: Arc<GroupStats>,
}

#[derive(Debug, Clone, Copy, Default)]
struct SessionState {
    c: SessionCounters,
    seq: u64,
}

impl<S: RowSink> Ingest<S> {
    /// `max_conns` connection slots, each with a framer whose reassembly buffer is pre-grown to
    /// `max_body_len` (so a straddling message never allocates).
    pub fn new(
        feed: FixFeed<S>,
        session_ids: &[u32],
        max_conns: usize,
        max_body_len: u32,
        journal: Option<JournalProducer>,
        shared: Arc<GroupStats>,
    ) -> Self {
        let cfg = FramerConfig {
            max_body_len,
            ..FramerConfig::default()
        };
        let conns = (0..max_conns)
            .map(|_| Conn {
                framer: warmed_framer(cfg),
                session: 0,
                open: false,
                got_bytes: false,
                opened_mono_ns: 0,
            })
            .collect();
        let sessions = session_ids
            .iter()
            .map(|&id| SessionState {
                c: SessionCounters {
                    id,
                    ..Default::default()
                },
                seq: 0,
            })
            .collect();
        Self {
            feed,
            conns,
            sessions,
            journal,
            counters: LoopCounters::default(),
            shared,
        }
    }

    /// Number of connection slots.
    pub fn capacity(&self) -> usize {
        self.conns.len()
    }

    /// A free slot, if any.
    pub fn free_slot(&self) -> Option<usize> {
        self.conns.iter().position(|c| !c.open)
    }

    /// Whether slot `conn` holds an open connection.
    pub fn is_open(&self, conn: usize) -> bool {
        self.conns.get(conn).is_some_and(|c| c.open)
    }

    /// Session id of a session index.
    pub fn session_id(&self, session: usize) -> u32 {
        self.sessions[session].c.id
    }

    /// A connection of session index `session` opened in slot `conn`.
    pub fn open(&mut self, conn: usize, session: usize, mono_ns: u64) {
        let c = &mut self.conns[conn];
        c.framer.reset();
        c.session = session;
        c.open = true;
        c.got_bytes = false;
        c.opened_mono_ns = mono_ns;
        self.sessions[session].c.connections += 1;
        self.counters.opened += 1;
    }

    /// The connection in slot `conn` ended.
    pub fn close(&mut self, conn: usize, why: CloseReason) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        if !c.open {
            return;
        }
        c.open = false;
        if let Some(e) = c.framer.finish() {
            if e.kind == FrameErrorKind::Truncated {
                self.sessions[c.session].c.truncated += 1;
            }
        }
        self.counters.closed += 1;
        match why {
            CloseReason::PeerClosed => self.counters.peer_closed += 1,
            CloseReason::Error => self.counters.errors += 1,
            CloseReason::Silent => self.counters.silent_closed += 1,
            CloseReason::Shutdown => {}
        }
    }

    /// Slots of connections that have sent nothing since `deadline_mono_ns - timeout` (for the
    /// silent-peer timeout): calls `f(slot)` for each.
    pub fn for_each_silent(&self, now_mono_ns: u64, timeout_ns: u64, mut f: impl FnMut(usize)) {
        if timeout_ns == 0 {
            return;
        }
        for (i, c) in self.conns.iter().enumerate() {
            if c.open && !c.got_bytes && now_mono_ns.saturating_sub(c.opened_mono_ns) >= timeout_ns
            {
                f(i);
            }
        }
    }

    /// Received bytes of connection `conn`, captured at `ts_ns`: frames them in place, journals
    /// and feeds every complete message.
    #[inline]
    pub fn on_bytes(&mut self, conn: usize, ts_ns: u64, bytes: &[u8]) {
        let Self {
            feed,
            conns,
            sessions,
            journal,
            counters,
            ..
        } = self;
        let Some(c) = conns.get_mut(conn) else { return };
        c.got_bytes = true;
        let sess = &mut sessions[c.session];
        sess.c.bytes += bytes.len() as u64;
        let id = sess.c.id;
        let mut frames = c.framer.feed(bytes);
        while let Some(r) = frames.next_frame() {
            match r {
                Ok(f) => {
                    sess.seq += 1;
                    sess.c.messages += 1;
                    // Journal first, then score: a refused message is still scored (the live
                    // rows must not depend on the disk), and the refusal is never silent.
                    if let Some(j) = journal.as_mut() {
                        let rec = Record {
                            ts_ns,
                            session: id,
                            seq: sess.seq,
                            bytes: f.bytes,
                        };
                        if let Err(e) = j.append(&rec) {
                            journal_refused(sess, counters, &e);
                        }
                    }
                    if feed.on_fix(ts_ns, id, f.bytes).is_err() {
                        sess.c.parse_errors += 1;
                    }
                }
                Err(_) => sess.c.frame_errors += 1,
            }
        }
    }

    /// Ticks the engine at `ts_ns` (markouts, heartbeat, commands), journaling the tick first so
    /// that a replay ticks at the same point. When the journal ring has no room for the tick
    /// record the engine tick is skipped (counted; the next tick does its work), so the journal
    /// still reproduces the live rows; when the journal thread has failed, the engine ticks anyway
    /// (every session is stalled by then).
    pub fn tick(&mut self, ts_ns: u64) {
        if let Some(j) = self.journal.as_mut() {
            if let Err(AppendError::RingFull { .. }) = j.append_tick(ts_ns) {
                self.counters.journal_ticks_skipped += 1;
                let n = self.counters.journal_ticks_skipped;
                if n.is_power_of_two() {
                    tracing::warn!(
                        skipped = n,
                        "journal ring full: engine tick skipped (journaled ticks and rows stay in step)"
                    );
                }
                return;
            }
        }
        self.feed.engine.tick(ts_ns);
        self.counters.ticks += 1;
    }

    /// The journal producer (counters, stalls, `resume`), when journaling.
    pub fn journal(&self) -> Option<&JournalProducer> {
        self.journal.as_ref()
    }

    /// Clears the journal stall of session `id` (after the session layer re-synchronised).
    pub fn resume_journal(&mut self, id: u32) {
        if let Some(j) = self.journal.as_mut() {
            j.resume(id);
        }
        if let Some(s) = self.sessions.iter_mut().find(|s| s.c.id == id) {
            s.c.journal_stalled = 0;
        }
    }

    /// Publishes the counters to the shared [`GroupStats`] (Relaxed stores).
    pub fn publish_stats(&self) {
        let sh = &*self.shared;
        for (a, v) in sh.loop_words.iter().zip(self.counters.words()) {
            a.store(v, Ordering::Relaxed);
        }
        for (s, words) in self.sessions.iter().zip(&sh.session_words) {
            for (a, v) in words.iter().zip(s.c.words()) {
                a.store(v, Ordering::Relaxed);
            }
        }
        sh.engine_events
            .store(self.feed.engine.counters().events, Ordering::Relaxed);
    }

    /// The shared counters.
    pub fn shared(&self) -> &Arc<GroupStats> {
        &self.shared
    }

    /// Engine and adapter counters.
    pub fn engine_counters(&self) -> (Counters, FeedCounters) {
        (*self.feed.engine.counters(), self.feed.counters)
    }
}

/// Counts a journal refusal of a message of `sess` (scored anyway) and logs the session's move
/// into the stalled state once (a stalled session's later refusals are only counted).
#[cold]
fn journal_refused(sess: &mut SessionState, counters: &mut LoopCounters, e: &AppendError) {
    sess.c.journal_refused += 1;
    counters.journal_refused += 1;
    if sess.c.journal_stalled == 0 {
        sess.c.journal_stalled = 1;
        tracing::error!(
            session = sess.c.id,
            seq = sess.seq,
            error = %e,
            "journal refused a message: scored but not journaled; session stalled (its durable \
             sequence number stops advancing)"
        );
    }
}

/// A framer whose reassembly buffer already has its largest capacity (a message prefix of the
/// maximum length is fed and dropped once), so framing never allocates later.
fn warmed_framer(cfg: FramerConfig) -> Framer {
    let mut f = Framer::new(cfg);
    let head = format!("8=FIX.4.4\x019={}\x0135=8\x01", cfg.max_body_len);
    let mut prefix = head.into_bytes();
    prefix.resize(cfg.max_body_len as usize + 24, b'x');
    {
        let mut frames = f.feed(&prefix);
        while frames.next_frame().is_some() {}
    }
    f.reset();
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, EngineConfig};
    use crate::journal::ring::Shared;

    fn ingest(journal: Option<JournalProducer>) -> Ingest<NullSink> {
        let feed = FixFeed::new(Engine::new(EngineConfig::default(), NullSink).unwrap());
        let mut i = Ingest::new(
            feed,
            &[1, 2],
            2,
            4096,
            journal,
            Arc::new(GroupStats::new(&[1, 2])),
        );
        i.open(0, 0, 0);
        i
    }

    #[test]
    fn a_refused_message_is_scored_counted_and_stalls_its_session() {
        let (ring, ranges) = crate::fix::testkit::execution_report_ring(4, 7);
        // A 64-byte ring that nothing drains: no message fits, two ticks do.
        let (prod, _cons) = rtrb::RingBuffer::<u8>::new(64);
        let mut with = ingest(Some(JournalProducer::new(prod, Shared::new(4, &[]))));
        let mut without = ingest(None);
        for ing in [&mut with, &mut without] {
            ing.on_bytes(0, 1_000, &ring);
            for t in 0..3 {
                ing.tick(2_000 + t);
            }
            ing.publish_stats();
        }
        // Scored all the same.
        assert_eq!(with.feed.counters, without.feed.counters);
        assert_eq!(
            with.feed.engine.counters().events,
            without.feed.engine.counters().events
        );
        let st = with.shared().snapshot();
        let s1 = st.session(1).unwrap();
        assert_eq!(s1.messages, ranges.len() as u64);
        assert_eq!(s1.journal_refused, ranges.len() as u64);
        assert_eq!(s1.journal_stalled, 1);
        assert_eq!(st.session(2).unwrap().journal_stalled, 0);
        assert_eq!(st.io.journal_refused, ranges.len() as u64);
        let j = with.journal().unwrap();
        assert!(j.is_stalled(1) && !j.is_stalled(2));
        assert_eq!(
            j.counters().ring_full,
            2,
            "the first message and the third tick"
        );
        assert_eq!(j.counters().stalled, ranges.len() as u64 - 1);
        // Two ticks journaled and performed, the third skipped (not performed).
        assert_eq!((st.io.ticks, st.io.journal_ticks_skipped), (2, 1));
        with.resume_journal(1);
        assert!(!with.journal().unwrap().is_stalled(1));
        with.publish_stats();
        assert_eq!(
            with.shared().snapshot().session(1).unwrap().journal_stalled,
            0
        );
    }
}
