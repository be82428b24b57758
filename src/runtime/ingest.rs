//! What both socket backends share: per-connection framing, the journal hand-off and the engine.
//!
//! A backend calls [`Ingest::open`] when a connection is established, [`Ingest::on_bytes`] with
//! each received chunk *in place* (the provided buffer or the recv buffer; only a message that
//! straddles two chunks is copied, by the connection's [`Framer`]), and [`Ingest::close`] when it
//! ends. Every connection slot and framer is allocated up front ([`Ingest::new`]) and the framers'
//! reassembly buffers are grown to their maximum once, so nothing allocates per message.
//!
//! A session with FIX settings ([`Ingest::attach_session`]) runs the [`crate::fix::session`]
//! state machine: every framed message goes through `Session::on_message`; only the application
//! messages it delivers are journaled (with their MsgSeqNum as the record's seq) and scored. What
//! the session writes (logon, heartbeats, resend requests, gap fills, logout) is appended to the
//! connection's outbound buffer ([`Ingest::out_mut`]), which the backend sends; a connection the
//! session wants closed (or whose peer stopped reading: [`SEND_CAP`]) is flagged for the backend
//! ([`Ingest::pop_attention`], [`Ingest::close_request`]).
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::engine::{Counters, FeedCounters, FixFeed};
use crate::fix::session::{Now, Outbox, Session, Verdict};
use crate::fix::{FrameErrorKind, Framer, FramerConfig, Message};
use crate::publish::{MemorySink, NullSink, RowSink};

use crate::journal::{AppendError, JournalProducer, Record};
use crate::metrics::hist::{Histogram, SharedHistogram};
use crate::runtime::clock::{Clock, LiveClock};

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
    /// The FIX session layer ended it (logout, bad logon, heartbeat timeout, ...).
    Session,
    /// The peer stopped reading: its outbound buffer reached [`SEND_CAP`].
    SendOverflow,
}

/// Most bytes waiting to be sent on one connection. A peer that stops reading while the session
/// keeps writing (heartbeats, resend answers) is disconnected when this is reached (counted in
/// `send_overflows`), so memory stays bounded.
pub const SEND_CAP: usize = 256 * 1024;
/// Outbound buffer capacity reserved per connection slot up front.
const SEND_RESERVE: usize = 8 * 1024;
/// How long a connection waits for its last bytes (a Logout) to be sent before it is closed anyway.
pub const CLOSE_FLUSH_NS: u64 = 1_000_000_000;

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
    /// FIX sessions: application messages the session layer delivered (journaled and scored;
    /// raw taps: equal to `messages`).
    pub delivered: u64,
    /// FIX sessions: session-level messages consumed (logon, heartbeat, test request, resend
    /// request, sequence reset, logout, reject).
    pub admin: u64,
    /// FIX sessions: messages dropped as duplicates (MsgSeqNum already seen, PossDup resends).
    pub duplicates: u64,
    /// FIX sessions: ResendRequests sent (gaps detected).
    pub resend_requests: u64,
    /// FIX sessions: logons completed.
    pub logons: u64,
    /// FIX sessions: connections the session layer closed (logout, refused logon, timeout).
    pub session_disconnects: u64,
    /// Bytes sent on this session's connections.
    pub bytes_sent: u64,
    /// FIX sessions: 1 while logged on.
    pub logged_on: u64,
    /// FIX sessions: next MsgSeqNum expected from the counterparty (0: raw tap).
    pub next_in: u64,
    /// FIX sessions: next MsgSeqNum this side sends (0: raw tap).
    pub next_out: u64,
    /// Messages that straddled two received chunks and were copied into the connection's
    /// reassembly buffer (every other message is framed in place).
    pub reassembled: u64,
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
    /// Send completions / successful send() calls.
    pub sends: u64,
    /// Sends that took only part of the bytes (the rest resubmitted / kept).
    pub partial_sends: u64,
    /// Connections closed because their peer stopped reading ([`SEND_CAP`]).
    pub send_overflows: u64,
    /// Connections closed at the session layer's request.
    pub session_closed: u64,
}

const N_LOOP: usize = 20;
const N_SESSION: usize = 19;

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
            self.sends,
            self.partial_sends,
            self.send_overflows,
            self.session_closed,
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
            sends: w[16],
            partial_sends: w[17],
            send_overflows: w[18],
            session_closed: w[19],
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
            self.delivered,
            self.admin,
            self.duplicates,
            self.resend_requests,
            self.logons,
            self.session_disconnects,
            self.bytes_sent,
            self.logged_on,
            self.next_in,
            self.next_out,
            self.reassembled,
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
    wire_to_score: SharedHistogram,
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
            wire_to_score: SharedHistogram::default(),
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
            .filter_map(|&id| self.session(id))
            .collect();
        StatsSnapshot {
            io: LoopCounters::from_words(&w),
            sessions,
            engine_events: self.engine_events.load(Ordering::Relaxed),
        }
    }
    /// One session's counters by id (no allocation: for polling in tests and metrics).
    pub fn session(&self, id: u32) -> Option<SessionCounters> {
        let i = self.session_ids.iter().position(|&s| s == id)?;
        let w = &self.session_words[i];
        let g = |k: usize| w[k].load(Ordering::Relaxed);
        Some(SessionCounters {
            id,
            connections: g(0),
            bytes: g(1),
            messages: g(2),
            frame_errors: g(3),
            parse_errors: g(4),
            truncated: g(5),
            journal_refused: g(6),
            journal_stalled: g(7),
            delivered: g(8),
            admin: g(9),
            duplicates: g(10),
            resend_requests: g(11),
            logons: g(12),
            session_disconnects: g(13),
            bytes_sent: g(14),
            logged_on: g(15),
            next_in: g(16),
            next_out: g(17),
            reassembled: g(18),
        })
    }

    /// Messages framed over all sessions (no allocation: for polling in tests and metrics).
    pub fn messages(&self) -> u64 {
        self.session_words
            .iter()
            .map(|w| w[2].load(Ordering::Relaxed))
            .sum()
    }
    /// Wire-to-score latency of the messages handed to the engine: capture timestamp of the
    /// received chunk to the moment the engine had finished with the chunk's last message (its
    /// row publication included when `publish_interval_ns = 0`), CLOCK_REALTIME. An upper bound
    /// for every message of a chunk but its last. Published every tick.
    pub fn wire_to_score(&self) -> Histogram {
        self.wire_to_score.snapshot()
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
    /// Bytes waiting to be sent (the backend takes them: [`Ingest::out_mut`]).
    out: Vec<u8>,
    /// Close requested (after the pending bytes are sent, or at `close_at` at the latest).
    close_req: Option<CloseReason>,
    /// Monotonic deadline of a requested close.
    close_at: u64,
    /// In the attention list.
    attn: bool,
}

/// A FIX session driven by the hot thread, bound to at most one connection at a time.
struct FixSession {
    s: Session,
    out: Outbox,
    conn: Option<usize>,
}

impl std::fmt::Debug for FixSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixSession")
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

/// The shared ingest state of one hot thread.
#[derive(Debug)]
pub struct Ingest<S: RowSink> {
    /// The engine behind the FIX adapter.
    pub feed: FixFeed<S>,
    conns: Vec<Conn>,
    sessions: Vec<SessionState>,
    fix: Vec<Option<FixSession>>,
    journal: Option<JournalProducer>,
    /// Slots the backend must look at (bytes to send, a close request).
    attention: Vec<usize>,
    /// Loop counters (the backend bumps the io ones).
    pub counters: LoopCounters,
    /// Wire-to-score latencies (local; published with the counters).
    w2s: Histogram,
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
                out: Vec::new(),
                close_req: None,
                close_at: 0,
                attn: false,
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
            fix: session_ids.iter().map(|_| None).collect(),
            journal,
            attention: Vec::with_capacity(max_conns),
            counters: LoopCounters::default(),
            w2s: Histogram::default(),
            shared,
        }
    }

    /// Runs session index `session` as a FIX session (instead of a raw tap). Call before the
    /// loop starts. The connection slots get their outbound buffers here (raw taps send nothing).
    pub fn attach_session(&mut self, session: usize, s: Session) {
        if session >= self.fix.len() {
            return;
        }
        if !self.fix.iter().any(|f| f.is_some()) {
            for c in &mut self.conns {
                c.out.reserve(SEND_RESERVE);
            }
        }
        let mut fx = FixSession {
            s,
            out: Outbox::new(),
            conn: None,
        };
        let st = &mut self.sessions[session];
        st.c.next_in = fx.s.next_in();
        st.c.next_out = fx.s.next_out();
        fx.out.clear();
        self.fix[session] = Some(fx);
    }

    /// Whether session index `session` runs the FIX session layer.
    pub fn is_fix(&self, session: usize) -> bool {
        self.fix.get(session).is_some_and(|f| f.is_some())
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

    /// A connection of session index `session` opened in slot `conn`. A FIX session already
    /// bound to another connection refuses the new one (a close is requested at once, counted
    /// in `refused`); otherwise the session starts on it (an initiator writes its Logon).
    pub fn open(&mut self, conn: usize, session: usize, mono_ns: u64) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        c.framer.reset();
        c.session = session;
        c.open = true;
        c.got_bytes = false;
        c.opened_mono_ns = mono_ns;
        c.out.clear();
        c.close_req = None;
        self.sessions[session].c.connections += 1;
        self.counters.opened += 1;
        let Some(fx) = self.fix.get_mut(session).and_then(|f| f.as_mut()) else {
            return;
        };
        if fx.conn.is_some() {
            // One connection per FIX session: the second is closed, the first keeps running.
            self.counters.refused += 1;
            c.close_req = Some(CloseReason::Session);
            c.close_at = mono_ns;
            c.session = usize::MAX;
            push_attention(&mut self.attention, c, conn);
            return;
        }
        fx.conn = Some(conn);
        let now = Now {
            mono_ns,
            utc_ns: LiveClock.now_ns(),
        };
        fx.s.on_connected(now, &mut fx.out);
        let st = &mut self.sessions[session];
        take_outbox(
            c,
            &mut fx.out,
            conn,
            mono_ns,
            &mut self.counters,
            &mut self.attention,
        );
        sync_session(st, &fx.s);
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
        c.out.clear();
        c.close_req = None;
        self.counters.closed += 1;
        match why {
            CloseReason::PeerClosed => self.counters.peer_closed += 1,
            CloseReason::Error => self.counters.errors += 1,
            CloseReason::Silent => self.counters.silent_closed += 1,
            CloseReason::Session => self.counters.session_closed += 1,
            CloseReason::SendOverflow | CloseReason::Shutdown => {}
        }
        if c.session == usize::MAX {
            // A refused second connection of a FIX session: it never reached the session.
            return;
        }
        if let Some(e) = c.framer.finish() {
            if e.kind == FrameErrorKind::Truncated {
                self.sessions[c.session].c.truncated += 1;
            }
        }
        if let Some(fx) = self.fix.get_mut(c.session).and_then(|f| f.as_mut()) {
            if fx.conn == Some(conn) {
                fx.conn = None;
                fx.s.on_disconnected(Now {
                    mono_ns: lpscore_shm::monotonic_ns(),
                    utc_ns: LiveClock.now_ns(),
                });
                fx.out.clear();
                let st = &mut self.sessions[c.session];
                if why == CloseReason::Session {
                    st.c.session_disconnects += 1;
                }
                sync_session(st, &fx.s);
            }
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

    /// Received bytes of connection `conn`, captured at `ts_ns`: frames them in place; a raw
    /// tap journals and feeds every complete message, a FIX session hands each to the session
    /// layer, which delivers the application messages (journaled with their MsgSeqNum, then
    /// scored) and may write an answer or ask for the connection to be closed.
    #[inline]
    pub fn on_bytes(&mut self, conn: usize, ts_ns: u64, bytes: &[u8]) {
        let Self {
            feed,
            conns,
            sessions,
            fix,
            journal,
            attention,
            counters,
            w2s,
            ..
        } = self;
        let Some(c) = conns.get_mut(conn) else { return };
        c.got_bytes = true;
        if c.session == usize::MAX || c.close_req.is_some() {
            // Refused, or closing: what the peer still sends is not processed.
            return;
        }
        let sess = &mut sessions[c.session];
        sess.c.bytes += bytes.len() as u64;
        let id = sess.c.id;
        let delivered0 = sess.c.delivered;
        // A frame outside the chunk was assembled in the framer's buffer (pointer comparison
        // only, nothing is dereferenced).
        let chunk = bytes.as_ptr_range();
        if let Some(fx) = fix[c.session].as_mut() {
            let mono_ns = lpscore_shm::monotonic_ns();
            let now = Now {
                mono_ns,
                utc_ns: ts_ns,
            };
            let mut disconnect = false;
            {
                let mut frames = c.framer.feed(bytes);
                while let Some(r) = frames.next_frame() {
                    match r {
                        Ok(f) => {
                            sess.c.messages += 1;
                            if !chunk.contains(&f.bytes.as_ptr()) {
                                sess.c.reassembled += 1;
                            }
                            let mut deliver = |msg: &Message<'_>, seq: u64| {
                                sess.c.delivered += 1;
                                sess.seq = seq;
                                if let Some(j) = journal.as_mut() {
                                    let rec = Record {
                                        ts_ns,
                                        session: id,
                                        seq,
                                        bytes: msg.bytes(),
                                    };
                                    if let Err(e) = j.append(&rec) {
                                        journal_refused(sess, counters, &e);
                                    }
                                }
                                // Indexed once, by the session layer: the feed takes its index.
                                if feed.on_message(ts_ns, id, msg).is_err() {
                                    sess.c.parse_errors += 1;
                                }
                            };
                            let v = fx.s.on_frame(f, now, &mut fx.out, &mut deliver);
                            if matches!(v, Verdict::Disconnect(_)) {
                                disconnect = true;
                                break;
                            }
                        }
                        Err(_) => sess.c.frame_errors += 1,
                    }
                }
            }
            take_outbox(c, &mut fx.out, conn, mono_ns, counters, attention);
            if disconnect {
                request_close(c, conn, CloseReason::Session, mono_ns, attention);
            }
            sync_session(sess, &fx.s);
            record_w2s(w2s, ts_ns, sess.c.delivered - delivered0);
            return;
        }
        {
            let mut frames = c.framer.feed(bytes);
            while let Some(r) = frames.next_frame() {
                match r {
                    Ok(f) => {
                        sess.seq += 1;
                        sess.c.messages += 1;
                        sess.c.delivered += 1;
                        if !chunk.contains(&f.bytes.as_ptr()) {
                            sess.c.reassembled += 1;
                        }
                        // Journal first, then score: a refused message is still scored (the
                        // live rows must not depend on the disk), and the refusal is never silent.
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
                        // Framed and checksummed once, here: the feed indexes the frame.
                        if feed.on_frame(ts_ns, id, f).is_err() {
                            sess.c.parse_errors += 1;
                        }
                    }
                    Err(_) => sess.c.frame_errors += 1,
                }
            }
        }
        record_w2s(w2s, ts_ns, sess.c.delivered - delivered0);
    }

    /// Ticks the engine at `ts_ns` (markouts, heartbeat, commands), journaling the tick first so
    /// that a replay ticks at the same point. When the journal ring has no room for the tick
    /// record the engine tick is skipped (counted; the next tick does its work), so the journal
    /// still reproduces the live rows; when the journal thread has failed, the engine ticks anyway
    /// (every session is stalled by then). Then every connected FIX session's timer runs
    /// (heartbeats, test requests, timeouts).
    pub fn tick(&mut self, ts_ns: u64) {
        self.session_timers(ts_ns);
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

    /// `on_timer` of every FIX session bound to a connection.
    fn session_timers(&mut self, utc_ns: u64) {
        let Self {
            conns,
            sessions,
            fix,
            attention,
            counters,
            ..
        } = self;
        let mut mono_ns = 0;
        for (i, fx) in fix.iter_mut().enumerate() {
            let Some(fx) = fx.as_mut() else { continue };
            let Some(conn) = fx.conn else { continue };
            if mono_ns == 0 {
                mono_ns = lpscore_shm::monotonic_ns();
            }
            let c = &mut conns[conn];
            if c.close_req.is_some() {
                continue;
            }
            let v = fx.s.on_timer(Now { mono_ns, utc_ns }, &mut fx.out);
            take_outbox(c, &mut fx.out, conn, mono_ns, counters, attention);
            if matches!(v, Verdict::Disconnect(_)) {
                request_close(c, conn, CloseReason::Session, mono_ns, attention);
            }
            sync_session(&mut sessions[i], &fx.s);
        }
    }

    /// Clean stop, first step: every FIX session bound to a connection starts its logout (the
    /// Logout is queued for sending). Returns whether any session has a connection to wait for
    /// (see [`Self::sessions_down`]).
    pub fn begin_stop(&mut self) -> bool {
        let Self {
            conns,
            sessions,
            fix,
            attention,
            counters,
            ..
        } = self;
        let mono_ns = lpscore_shm::monotonic_ns();
        let now = Now {
            mono_ns,
            utc_ns: LiveClock.now_ns(),
        };
        let mut any = false;
        for (i, fx) in fix.iter_mut().enumerate() {
            let Some(fx) = fx.as_mut() else { continue };
            let Some(conn) = fx.conn else { continue };
            any = true;
            let c = &mut conns[conn];
            if c.close_req.is_some() {
                continue;
            }
            fx.s.begin_logout("lpscore shutting down", now, &mut fx.out);
            take_outbox(c, &mut fx.out, conn, mono_ns, counters, attention);
            if fx.s.is_closed() {
                request_close(c, conn, CloseReason::Shutdown, mono_ns, attention);
            }
            sync_session(&mut sessions[i], &fx.s);
        }
        any
    }

    /// Whether no FIX session is bound to a connection any more (clean stop, last step).
    pub fn sessions_down(&self) -> bool {
        self.fix.iter().flatten().all(|f| f.conn.is_none())
    }

    /// Whether any slot awaits the backend (see [`Self::pop_attention`]).
    #[inline(always)]
    pub fn has_attention(&self) -> bool {
        !self.attention.is_empty()
    }

    /// The next slot that has bytes to send or a close request, if any (each slot once until
    /// it is marked again).
    #[inline]
    pub fn pop_attention(&mut self) -> Option<usize> {
        let slot = self.attention.pop()?;
        if let Some(c) = self.conns.get_mut(slot) {
            c.attn = false;
        }
        Some(slot)
    }

    /// The bytes waiting to be sent on `conn`. The backend sends from the front and removes what
    /// was sent, or swaps the vector for an empty one of its own (io_uring: the in-flight buffer
    /// must not move until its completion).
    #[inline]
    pub fn out_mut(&mut self, conn: usize) -> &mut Vec<u8> {
        &mut self.conns[conn].out
    }

    /// Whether `conn` has bytes waiting.
    #[inline]
    pub fn has_out(&self, conn: usize) -> bool {
        self.conns.get(conn).is_some_and(|c| !c.out.is_empty())
    }

    /// The backend sent `n` bytes of `conn` (counted per session).
    #[inline]
    pub fn sent(&mut self, conn: usize, n: usize) {
        let Some(c) = self.conns.get(conn) else {
            return;
        };
        self.counters.sends += 1;
        if let Some(s) = self.sessions.get_mut(c.session) {
            s.c.bytes_sent += n as u64;
        }
    }

    /// A close requested on `conn`: the reason, and whether it is due at monotonic `now` (the
    /// flush deadline passed; the backend closes at once when nothing is left to send).
    #[inline]
    pub fn close_request(&self, conn: usize, now_mono_ns: u64) -> Option<(CloseReason, bool)> {
        let c = self.conns.get(conn)?;
        c.close_req.map(|r| (r, now_mono_ns >= c.close_at))
    }

    /// Slots whose requested close is due at `now` (flush deadline passed): `f(slot, reason)`.
    pub fn for_each_close_due(&self, now_mono_ns: u64, mut f: impl FnMut(usize, CloseReason)) {
        for (i, c) in self.conns.iter().enumerate() {
            if let Some(r) = c.close_req {
                if c.open && now_mono_ns >= c.close_at {
                    f(i, r);
                }
            }
        }
    }

    /// Journals an engine command (weights, profiles, pauses) so replays apply it at the same
    /// point; a refusal is counted by the producer and logged (the command still applies live).
    pub fn journal_command(&mut self, ts_ns: u64, cmd: &crate::engine::Command) {
        if let Some(j) = self.journal.as_mut() {
            if let Err(e) = j.append_command(ts_ns, cmd) {
                tracing::error!(error = %e, "engine command not journaled: replays will not apply it");
            }
        }
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
        sh.wire_to_score.publish(&self.w2s);
        if let Some(j) = &self.journal {
            j.publish_counters();
        }
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

#[inline]
fn push_attention(attention: &mut Vec<usize>, c: &mut Conn, conn: usize) {
    if !c.attn {
        c.attn = true;
        // Within the capacity reserved in `new` (one entry per slot at most): no allocation.
        attention.push(conn);
    }
}

/// Moves what the session wrote into the connection's outbound buffer; past [`SEND_CAP`] the
/// bytes are dropped and the connection closed (the peer stopped reading).
#[inline]
fn take_outbox(
    c: &mut Conn,
    out: &mut Outbox,
    conn: usize,
    mono_ns: u64,
    counters: &mut LoopCounters,
    attention: &mut Vec<usize>,
) {
    if out.is_empty() {
        return;
    }
    let b = out.bytes();
    if c.close_req == Some(CloseReason::SendOverflow) {
        // Already given up on this peer.
    } else if c.out.len() + b.len() > SEND_CAP {
        counters.send_overflows += 1;
        tracing::warn!(
            pending = c.out.len(),
            "a FIX peer stopped reading: {SEND_CAP} bytes unsent; disconnecting"
        );
        c.out.clear();
        c.close_req = Some(CloseReason::SendOverflow);
        c.close_at = mono_ns;
    } else {
        c.out.extend_from_slice(b);
    }
    out.clear();
    push_attention(attention, c, conn);
}

#[inline]
fn request_close(
    c: &mut Conn,
    conn: usize,
    why: CloseReason,
    mono_ns: u64,
    attention: &mut Vec<usize>,
) {
    if c.close_req.is_none() {
        c.close_req = Some(why);
        c.close_at = mono_ns + CLOSE_FLUSH_NS;
    }
    push_attention(attention, c, conn);
}

/// Records `n` messages captured at `ts_ns` (CLOCK_REALTIME) and finished now: one clock read per
/// received chunk, not per message (the clock seam may be a slow clock source on some hosts).
#[inline]
fn record_w2s(h: &mut Histogram, ts_ns: u64, n: u64) {
    if n > 0 {
        let done = LiveClock.now_ns();
        h.record_n(done.saturating_sub(ts_ns), n);
    }
}

/// Copies the session layer's counters into the session's shared counters.
#[inline]
fn sync_session(st: &mut SessionState, s: &Session) {
    st.c.next_in = s.next_in();
    st.c.next_out = s.next_out();
    let k = s.counters();
    st.c.admin = k.admin;
    st.c.duplicates = k.duplicates;
    st.c.resend_requests = k.resend_requests_sent;
    st.c.logons = k.logons;
    st.c.logged_on = u64::from(s.is_logged_on());
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

    #[test]
    fn straddling_messages_are_counted_and_every_delivered_message_is_timed() {
        let (ring, ranges) = crate::fix::testkit::execution_report_ring(4, 7);
        let mut i = ingest(None);
        let ts = LiveClock.now_ns();
        // Whole messages in one chunk: framed in place.
        let first = ranges[1].end;
        i.on_bytes(0, ts, &ring[..first]);
        // The third message cut in two: reassembled once.
        let cut = ranges[2].start + 10;
        i.on_bytes(0, ts, &ring[first..cut]);
        i.on_bytes(0, ts, &ring[cut..ranges[3].end]);
        i.publish_stats();
        let s = i.shared().session(1).unwrap();
        assert_eq!((s.messages, s.delivered, s.reassembled), (4, 4, 1), "{s:?}");
        let h = i.shared().wire_to_score();
        assert_eq!(h.count(), 4);
        // Before any publication the shared histogram is empty.
        assert_eq!(GroupStats::new(&[1]).wire_to_score().count(), 0);
    }

    fn fix_msg(mt: &str, seq: u64, ts: u64, rest: &str) -> Vec<u8> {
        let mut body = format!("35={mt}\x0149=QF\x0156=LPSCORE\x0134={seq}\x0152=").into_bytes();
        crate::fix::num::write_timestamp(&mut body, ts as i64);
        body.push(1);
        body.extend_from_slice(rest.as_bytes());
        let mut m = format!("8=FIX.4.4\x019={}\x01", body.len()).into_bytes();
        m.extend_from_slice(&body);
        let sum = m.iter().map(|&b| u32::from(b)).sum::<u32>() % 256;
        m.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
        m
    }

    /// (session, seq) of every message record in the journal ring so far.
    fn journaled(cons: &mut rtrb::Consumer<u8>) -> Vec<(u32, u64)> {
        let mut v = Vec::new();
        while let Ok(ch) = cons.read_chunk(32) {
            let h: Vec<u8> = ch.into_iter().collect();
            let len = u32::from_le_bytes(h[4..8].try_into().unwrap()) as usize;
            let session = u32::from_le_bytes(h[16..20].try_into().unwrap());
            let flags = u32::from_le_bytes(h[20..24].try_into().unwrap());
            let seq = u64::from_le_bytes(h[24..32].try_into().unwrap());
            if len > 0 {
                cons.read_chunk(len).unwrap().commit_all();
            }
            if flags == 0 {
                v.push((session, seq));
            }
        }
        v
    }

    fn fix_ingest() -> (Ingest<NullSink>, rtrb::Consumer<u8>) {
        use crate::fix::session::{Role, SeqStore, Session, SessionSettings};
        let (prod, cons) = rtrb::RingBuffer::<u8>::new(1 << 20);
        let feed = FixFeed::new(Engine::new(EngineConfig::default(), NullSink).unwrap());
        let mut i = Ingest::new(
            feed,
            &[1, 2],
            2,
            4096,
            Some(JournalProducer::new(prod, Shared::new(4, &[]))),
            Arc::new(GroupStats::new(&[1, 2])),
        );
        let st = SessionSettings::new("LPSCORE", "QF");
        i.attach_session(0, Session::new(&st, Role::Acceptor, SeqStore::memory()));
        i.open(0, 0, 1);
        (i, cons)
    }

    fn take_out(i: &mut Ingest<NullSink>) -> String {
        while i.pop_attention().is_some() {}
        let s = String::from_utf8_lossy(i.out_mut(0)).into_owned();
        i.out_mut(0).clear();
        s
    }

    #[test]
    fn a_fix_session_journals_app_messages_by_msg_seq_num_and_queues_its_answers() {
        let (mut i, mut cons) = fix_ingest();
        let ts = 1_700_000_000_000_000_000u64;
        i.on_bytes(0, ts, &fix_msg("A", 1, ts, "98=0\x01108=30\x01"));
        assert!(i.has_attention());
        assert!(take_out(&mut i).contains("\x0135=A\x01"), "Logon answer");
        let nos =
            |k: u64| format!("11=C{k}\x0155=EUR/USD\x0154=1\x0138=1000000\x0140=1\x01100=LP_A\x01");
        let mut bytes = Vec::new();
        for seq in [2, 3] {
            bytes.extend_from_slice(&fix_msg("D", seq, ts, &nos(seq)));
        }
        // 4 is missing: 5 is held, a ResendRequest for 4.. goes out.
        bytes.extend_from_slice(&fix_msg("D", 5, ts, &nos(5)));
        i.on_bytes(0, ts, &bytes);
        let out = take_out(&mut i);
        assert!(
            out.contains("\x0135=2\x01") && out.contains("\x017=4\x01"),
            "ResendRequest: {out:?}"
        );
        assert_eq!(journaled(&mut cons), vec![(1, 2), (1, 3)]);
        // The resend: 4 (PossDup), then 5 is released; a second copy of 3 is dropped.
        let mut bytes = fix_msg(
            "D",
            4,
            ts,
            &format!("43=Y\x01122=20231114-22:13:20\x01{}", nos(4)),
        );
        bytes.extend_from_slice(&fix_msg(
            "D",
            3,
            ts,
            &format!("43=Y\x01122=20231114-22:13:20\x01{}", nos(3)),
        ));
        i.on_bytes(0, ts, &bytes);
        assert_eq!(journaled(&mut cons), vec![(1, 4), (1, 5)]);
        i.publish_stats();
        let s = i.shared().session(1).unwrap();
        assert_eq!((s.messages, s.delivered, s.duplicates), (6, 4, 1), "{s:?}");
        assert_eq!((s.logged_on, s.logons, s.next_in), (1, 1, 6), "{s:?}");
        assert_eq!(i.feed.engine.counters().orders, 4);
        // Session-level messages are not journaled; a tick runs the session timers.
        i.tick(ts + 1);
        assert!(journaled(&mut cons).is_empty());
        // A clean stop: the Logout is queued, the connection waits for the answer.
        assert!(i.begin_stop());
        assert!(take_out(&mut i).contains("\x0135=5\x01"));
        assert!(!i.sessions_down());
        i.on_bytes(0, ts, &fix_msg("5", 6, ts, ""));
        assert_eq!(i.close_request(0, 0), Some((CloseReason::Session, false)));
        i.close(0, CloseReason::Session);
        assert!(i.sessions_down());
    }

    #[test]
    fn a_peer_that_stops_reading_is_cut_off_at_the_send_cap() {
        let (mut i, _cons) = fix_ingest();
        let ts = 1_700_000_000_000_000_000u64;
        i.on_bytes(0, ts, &fix_msg("A", 1, ts, "98=0\x01108=30\x01"));
        // TestRequests whose Heartbeats nobody takes away (the backend never sends).
        let mut seq = 2;
        while i.close_request(0, 0).is_none() {
            let mut bytes = Vec::new();
            for _ in 0..100 {
                bytes.extend_from_slice(&fix_msg("1", seq, ts, &format!("112=T{seq}\x01")));
                seq += 1;
            }
            i.on_bytes(0, ts, &bytes);
            assert!(i.out_mut(0).len() <= SEND_CAP);
            assert!(seq < 1_000_000, "never cut off");
        }
        assert_eq!(
            i.close_request(0, u64::MAX),
            Some((CloseReason::SendOverflow, true))
        );
        assert_eq!(i.counters.send_overflows, 1);
        assert!(i.out_mut(0).is_empty(), "the unsendable bytes are dropped");
        // What the peer still sends is not processed.
        let before = i.shared().session(1).unwrap().messages;
        i.on_bytes(0, ts, &fix_msg("1", seq, ts, "112=X\x01"));
        i.publish_stats();
        assert!(i.shared().session(1).unwrap().messages >= before);
        i.close(0, CloseReason::SendOverflow);
        assert!(i.sessions_down());
    }
}
