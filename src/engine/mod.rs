//! The scoring engine: one entry point, [`Engine::on_event`], fed events with capture timestamps.
//!
//! Pure and I/O-free: time is the events' time ([`EventClock`]), rows go to a [`RowSink`]. Replaying
//! the same events produces bit-identical rows.
//!
//! Per event: (1) event time advances; markouts that came due are resolved against the book *before*
//! the event is applied (the mid at `t + tau` is the last one at or before it), ended orders that
//! have lingered long enough are retired, early execution reports that waited too long are dropped;
//! (2) the event is applied (orders, quote book, statistics cells, marking rows dirty); (3) dirty
//! rows are published if the oldest change is `publish_interval_ns` old (0: now).
pub mod config;
pub mod event;
pub mod fix_glue;
pub mod shm_sink;
pub mod snapshot;
pub mod synth;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_queue::ArrayQueue;

pub use config::{ArrivalTime, BucketConfig, BucketUnit, ConfigError, EngineConfig, LpMapEntry};
pub use event::{BusinessReject, CancelReject, CancelRequest, Event, ExecReport, NewOrder, Quote};
pub use fix_glue::{FeedCounters, FixFeed};
pub use shm_sink::{ShmSink, writer_options};

use crate::kpi::{
    Arrival, CellRef, Estimates, EstimatorParams, FillRec, HalfLife, Markouts, Priors, QuoteBook,
    QuoteRelation, QuoteSkip, QuoteUpdate, RowKey, RowQuantiles, SizeBuckets, Stamps, Stats,
    formulas, ix, quote_relation,
};
use crate::orders::{
    DedupSet, InsertError, LpResolution, LpResolver, NO_BUCKET, NO_LP, NameTable, Oddity, Order,
    OrderEvent, OrderState, OrderTable, Transition, exec_key, order_key, transition,
};
use crate::publish::{RowSink, RowValues};
use crate::runtime::clock::{Clock, EventClock};
use crate::score::{N_WEIGHTS, PreparedProfiles, Profiles, ScoreInputs, Transforms, check_weights};

/// A name of at most 16 bytes, held inline so that a [`Command`] stays `Copy` and allocation-free.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ShortName {
    len: u8,
    bytes: [u8; 16],
}

impl ShortName {
    /// `None` when `s` is empty or longer than 16 bytes.
    pub fn new(s: &str) -> Option<Self> {
        if s.is_empty() || s.len() > 16 {
            return None;
        }
        let mut bytes = [0u8; 16];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Some(Self {
            len: s.len() as u8,
            bytes,
        })
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        // Built from a `&str` cut at its own length: always valid UTF-8.
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl core::fmt::Debug for ShortName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// What the engine did with an acknowledged command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Outcome {
    /// Applied; the rows it changed were published before the acknowledgement.
    Applied = 1,
    /// No such profile slot (or a slot past the next free one).
    NoSuchProfile = 2,
    /// The profile name is not 1..=16 of `[A-Za-z0-9_.-]`.
    BadName = 3,
    /// Weights not finite, negative or all zero.
    BadWeights = 4,
    /// Another profile has this name.
    DuplicateName = 5,
    /// The slot holds another profile.
    SlotTaken = 6,
    /// The last profile cannot be removed.
    LastProfile = 7,
    /// No LP of that name.
    UnknownLp = 8,
}

impl Outcome {
    fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            1 => Outcome::Applied,
            2 => Outcome::NoSuchProfile,
            3 => Outcome::BadName,
            4 => Outcome::BadWeights,
            5 => Outcome::DuplicateName,
            6 => Outcome::SlotTaken,
            7 => Outcome::LastProfile,
            8 => Outcome::UnknownLp,
            _ => return None,
        })
    }
    fn of(e: crate::score::ProfileError) -> Self {
        use crate::score::ProfileError as P;
        match e {
            P::NoSuchSlot => Outcome::NoSuchProfile,
            P::BadName => Outcome::BadName,
            P::BadWeights => Outcome::BadWeights,
            P::DuplicateName => Outcome::DuplicateName,
            P::SlotTaken => Outcome::SlotTaken,
            P::LastProfile => Outcome::LastProfile,
        }
    }
}

/// Where the engine acknowledges a command: once the command took effect *and* the rows it
/// changed were published, the engine raises the cell to `seq << 8 | outcome` (`fetch_max`,
/// Release; pairs with the Acquire load in [`Ack::outcome`]). Sequence numbers grow per cell, so
/// a late acknowledgement of an abandoned command never hides a newer one. The cell is
/// `'static` (leaked once per control server) so that the command stays `Copy` and the hot thread
/// never allocates, frees or reference-counts anything to acknowledge.
#[derive(Clone, Copy)]
pub struct Ack {
    cell: &'static AtomicU64,
    seq: u64,
}

impl Ack {
    /// An acknowledgement of command number `seq` (1..2^56, growing) through `cell`.
    pub fn new(cell: &'static AtomicU64, seq: u64) -> Self {
        Self { cell, seq }
    }
    /// The outcome, once the engine acknowledged this command.
    pub fn outcome(&self) -> Option<Outcome> {
        let v = self.cell.load(Ordering::Acquire);
        if v >> 8 == self.seq {
            Outcome::from_code(v as u8)
        } else {
            None
        }
    }
    fn complete(&self, o: Outcome) {
        self.cell
            .fetch_max((self.seq << 8) | o as u64, Ordering::Release);
    }
}

impl PartialEq for Ack {
    fn eq(&self, o: &Self) -> bool {
        core::ptr::eq(self.cell, o.cell) && self.seq == o.seq
    }
}

impl core::fmt::Debug for Ack {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Ack({})", self.seq)
    }
}

/// A control command for the hot thread (through [`Engine::commands`]). Journaled by
/// `engine::snapshot::encode_command` (the `ack` is not: a replayed command is acknowledged to
/// nobody).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Command {
    /// Replace a profile's weights (slots per LAYOUT.md); effective at the next publication cycle.
    SetWeights {
        /// Profile index.
        profile: u8,
        /// Weight slots.
        weights: [f64; N_WEIGHTS],
    },
    /// Pause or resume an LP's scoring flag (bit 1 of its rows' flags).
    PauseLp {
        /// LP index.
        lp: u16,
        /// Paused.
        paused: bool,
    },
    /// Sets profile slot `profile` to `name` and `weights`: new weights when the slot holds
    /// `name`, a new profile when the slot is free (the next slot or a removed one). Acknowledged.
    SetProfile {
        /// Profile slot (0..8).
        profile: u8,
        /// Name.
        name: ShortName,
        /// Weight slots.
        weights: [f64; N_WEIGHTS],
        /// Acknowledgement (`None`: replayed from the journal, nobody waits).
        ack: Option<Ack>,
    },
    /// Removes the profile in slot `profile` (its scores become NaN, the slot inactive; the other
    /// profiles keep their slots). Acknowledged.
    RemoveProfile {
        /// Profile slot.
        profile: u8,
        /// Acknowledgement (`None`: replayed from the journal, nobody waits).
        ack: Option<Ack>,
    },
    /// Pauses or resumes an LP by name. Acknowledged.
    PauseLpNamed {
        /// LP name.
        lp: ShortName,
        /// Paused.
        paused: bool,
        /// Acknowledgement (`None`: replayed from the journal, nobody waits).
        ack: Option<Ack>,
    },
}

/// Counts of everything irregular (and a few regular things), never reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Events processed.
    pub events: u64,
    /// Market-data updates.
    pub quotes: u64,
    /// Crossed or locked quotes.
    pub quotes_flagged: u64,
    /// NewOrderSingles accepted.
    pub orders: u64,
    /// NewOrderSingles whose (session, ClOrdID) was already live.
    pub duplicate_orders: u64,
    /// Execution reports processed.
    pub execs: u64,
    /// Execution reports dropped as duplicate ExecIDs.
    pub duplicate_execs: u64,
    /// Reports whose ClOrdID matched no order (after waiting in the early buffer, or with it full).
    pub unknown_cl_ord_id: u64,
    /// Busts/corrections whose ExecRefID matched no remembered fill.
    pub unknown_exec_ref: u64,
    /// Reports held because they arrived before their order.
    pub early_buffered: u64,
    /// Of which matched when the order arrived.
    pub early_matched: u64,
    /// `(state, event)` pairs the state machine refused.
    pub invalid_transitions: u64,
    /// Accepted oddities, by [`Oddity`] (index = discriminant order in `oddity_index`).
    pub oddities: [u64; 9],
    /// Events with missing or impossible fields.
    pub malformed: u64,
    /// Open orders expired because the order table was full.
    pub evicted_open: u64,
    /// Orders ended with no LP resolved (not scored).
    pub unattributed: u64,
    /// Symbols dropped because the symbol table was full.
    pub symbols_full: u64,
    /// Orders with no arrival quote (book or tags).
    pub nbbo_missing: u64,
    /// Orders whose book quote was stale (and no tags).
    pub nbbo_stale: u64,
    /// Orders whose arrival quote was crossed or locked.
    pub nbbo_crossed: u64,
    /// Markouts that came due with no usable mid for the symbol.
    pub markout_unresolved: u64,
    /// Trade busts applied.
    pub busts: u64,
    /// Trade corrections applied.
    pub corrections: u64,
    /// Cancel and cancel/replace requests.
    pub cancel_requests: u64,
    /// OrderCancelRejects.
    pub cancel_rejects: u64,
    /// Row publications.
    pub publications: u64,
    /// Weight changes applied.
    pub weight_changes: u64,
    /// Commands refused.
    pub bad_commands: u64,
    /// Prior refreshes.
    pub prior_refreshes: u64,
}

/// Rows of a republication (after the pool priors changed) per chunk: about 10 us of work, so a
/// chunk adds at most that to the event it rides on.
pub const REPUBLISH_BUDGET: u32 = 32;
/// Event time between two republication chunks: 40 000 rows take about 0.6 s of event time,
/// 2 % of one core, instead of one stall of about 12 ms.
pub const REPUBLISH_EVERY_NS: u64 = 500_000;
/// Pending markouts per horizon whose cells are asked for ahead of their resolution (each
/// resolves a few events later; two is enough for the lines to arrive, few enough for them to
/// stay in the L2 cache until used).
const MARKOUT_LOOKAHEAD: usize = 2;

/// The id hashes of an event, computed once by a caller that needs them before the event is
/// applied (prefetch hints); 0: not computed (the engine hashes the id itself).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Keys {
    /// [`order_key`] of the ClOrdID.
    pub order: u64,
    /// [`exec_key`] of the ExecID.
    pub exec: u64,
}

impl Keys {
    /// Nothing computed.
    pub const NONE: Keys = Keys { order: 0, exec: 0 };

    /// `given` if computed (checked in debug builds), else `hash` now.
    #[inline]
    fn or_hash(given: u64, hash: impl FnOnce() -> u64) -> u64 {
        if given == 0 {
            return hash();
        }
        debug_assert_eq!(given, hash());
        given
    }

    #[inline]
    fn order_key(&self, session: u32, cl_ord_id: &[u8]) -> u64 {
        Self::or_hash(self.order, || order_key(session, cl_ord_id))
    }

    #[inline]
    fn exec_key(&self, session: u32, exec_id: &[u8]) -> u64 {
        Self::or_hash(self.exec, || exec_key(session, exec_id))
    }
}

/// Index of an oddity in [`Counters::oddities`].
pub fn oddity_index(o: Oddity) -> usize {
    match o {
        Oddity::FillAfterTerminal => 0,
        Oddity::FillBeforeAck => 1,
        Oddity::LateAck => 2,
        Oddity::DuplicateAck => 3,
        Oddity::LateTerminal => 4,
        Oddity::CancelAfterTerminal => 5,
        Oddity::AmendAfterTerminal => 6,
        Oddity::RejectAfterAck => 7,
        Oddity::ReplaceBeforeAck => 8,
    }
}

/// An execution report reduced to hashes and numbers (Copy, so it can wait in the early buffer).
#[derive(Debug, Clone, Copy, Default)]
struct ExecMsg {
    key: u64,
    exec_key: u64,
    orig_key: u64,
    ref_key: u64,
    exec_type: u8,
    last_qty: u64,
    last_px: i64,
    lp_hint: u16,
    order_qty: u64,
    ts: u64,
    consumed: bool,
}

/// Reports waiting for their order: a bounded FIFO.
#[derive(Debug, Clone)]
struct EarlyBuffer {
    buf: Vec<ExecMsg>,
    head: usize,
    len: usize,
    /// Per hash slot of a key, how many waiting (unconsumed) reports carry it as their key or
    /// their OrigClOrdID key: a new order whose slot is 0 has none waiting, and skips the scan
    /// of the whole buffer (replaying a log that keeps a few hundred reports waiting spent 18 %
    /// of its time in that scan). Derived state: rebuilt from the entries after a restore.
    pending: Vec<u32>,
}

/// Slots of [`EarlyBuffer::pending`] (16 KiB).
const EARLY_SLOTS: usize = 4096;

impl EarlyBuffer {
    fn new(cap: usize) -> Self {
        Self {
            buf: vec![ExecMsg::default(); cap.max(1)],
            head: 0,
            len: 0,
            pending: vec![0; EARLY_SLOTS],
        }
    }
    /// The slot of an order key (its high bits: the order index uses the low ones).
    #[inline]
    fn slot(key: u64) -> usize {
        (key >> 40) as usize & (EARLY_SLOTS - 1)
    }
    /// Counts a waiting report in (`up`) or out of the filter.
    #[inline]
    fn count(&mut self, m: &ExecMsg, up: bool) {
        for k in [m.key, m.orig_key] {
            let c = &mut self.pending[Self::slot(k)];
            debug_assert!(up || *c > 0, "early filter count below zero");
            *c = if up {
                c.wrapping_add(1)
            } else {
                c.wrapping_sub(1)
            };
        }
    }
    /// False when no waiting report can match an order of key `key`.
    #[inline]
    fn may_hold(&self, key: u64) -> bool {
        self.len > 0 && self.pending[Self::slot(key)] != 0
    }
    fn push(&mut self, m: ExecMsg) -> bool {
        if self.len == self.buf.len() {
            return false;
        }
        let cap = self.buf.len();
        self.buf[crate::orders::map::ring_wrap(self.head + self.len, cap)] = m;
        self.len += 1;
        if !m.consumed {
            self.count(&m, true);
        }
        true
    }
    /// Marks the entry at ring position `j` consumed (matched by its order).
    fn consume(&mut self, j: usize) {
        let m = self.buf[j];
        debug_assert!(!m.consumed);
        self.buf[j].consumed = true;
        self.count(&m, false);
    }
    fn pop_front_if(&mut self, f: impl Fn(&ExecMsg) -> bool) -> Option<ExecMsg> {
        if self.len == 0 || !f(&self.buf[self.head]) {
            return None;
        }
        let m = self.buf[self.head];
        self.head = crate::orders::map::ring_wrap(self.head + 1, self.buf.len());
        self.len -= 1;
        if !m.consumed {
            self.count(&m, false);
        }
        Some(m)
    }
    /// Whether [`EarlyBuffer::pending`] equals its recount from the entries.
    #[cfg(test)]
    fn filter_is_exact(&self) -> bool {
        let mut c = self.clone();
        c.recount();
        c.pending == self.pending
    }
    /// Rebuilds [`EarlyBuffer::pending`] from the entries (after a snapshot restore).
    fn recount(&mut self) {
        self.pending.iter_mut().for_each(|c| *c = 0);
        let cap = self.buf.len();
        for k in 0..self.len {
            let m = self.buf[(self.head + k) % cap];
            if !m.consumed {
                self.count(&m, true);
            }
        }
    }
}

// The hot path's rare diagnostics, out of line and cold: a `tracing` call site inlined into
// `advance` or `apply_exec` is code interleaved with the hot straight line (instruction-cache
// footprint), executed or not.
#[cold]
#[inline(never)]
fn early_dropped(key: u64) {
    tracing::debug!(key, "execution report for an unknown ClOrdID dropped");
}

#[cold]
#[inline(never)]
fn unknown_cl_ord_id(key: u64) {
    tracing::debug!(key, "execution report for an unknown ClOrdID");
}

#[cold]
#[inline(never)]
fn refused(e: &crate::orders::InvalidTransition) {
    tracing::debug!(%e, "order state machine refused an event");
}

/// What a terminal order adds to its cells (weighted at its arrival time).
#[derive(Debug, Clone, Copy)]
struct TerminalObs {
    st: Stamps,
    rejected: f64,
    qty: f64,
    filled: f64,
}

impl TerminalObs {
    #[inline]
    fn apply(&self, c: &mut crate::kpi::CellMut<'_>) {
        let w = c.prepare_weights(self.st);
        c.add_w(ix::ORDERS, w, 1.0);
        c.add_w(ix::REJECTS, w, self.rejected);
        c.add_w(ix::QTY_SENT, w, self.qty);
        c.add_w(ix::QTY_FILLED, w, self.filled);
        c.head.n_orders += 1;
    }
}

/// A fill's per-fill contributions (added, `sign` = 1, or reversed, -1), with the weights of its
/// fill time.
#[derive(Debug, Clone, Copy)]
struct FillObs {
    sign: f64,
    x: f64,
    tte: usize,
    /// PI, ES, quoted spread (bps) and the quote relation, when the arrival quote is usable.
    price: Option<(f64, f64, f64, QuoteRelation)>,
}

impl FillObs {
    #[inline(always)]
    fn of(r: &FillRec, sign: f64) -> Self {
        let price = if r.price_ok {
            let a = Arrival {
                side: r.side,
                bid: r.bid_a,
                ask: r.ask_a,
            };
            let rel = quote_relation(&a, r.px);
            Some((
                a.price_improvement_bps(r.px),
                a.effective_spread_bps(r.px),
                a.quoted_spread_bps(),
                rel,
            ))
        } else {
            None
        };
        Self {
            sign,
            x: r.qty as f64,
            tte: formulas::tte_bucket(r.t_fill.saturating_sub(r.t_a)),
            price,
        }
    }

    #[inline]
    fn apply(&self, c: &mut crate::kpi::CellMut<'_>, w: [f64; 2]) {
        let (sign, x) = (self.sign, self.x);
        c.add_w(ix::FILLS, w, sign);
        c.add_w(ix::TTE + self.tte, w, sign * x);
        if sign > 0.0 {
            c.head.n_fills += 1;
        } else {
            c.head.n_fills = c.head.n_fills.saturating_sub(1);
        }
        match self.price {
            Some((pi, es, qs, rel)) => {
                c.add_w(ix::PX_N, w, sign);
                c.add_w(ix::PX_QTY, w, sign * x);
                c.add_w(ix::PI, w, sign * x * pi);
                c.add_w(ix::ES, w, sign * x * es);
                c.add_w(ix::QS, w, sign * x * qs);
                let i = match rel {
                    QuoteRelation::Improved => ix::PI_POS,
                    QuoteRelation::AtQuote => ix::PI_ZERO,
                    QuoteRelation::Outside => ix::PI_NEG,
                };
                c.add_w(i, w, sign * x);
            }
            None => {
                if sign > 0.0 {
                    c.head.n_price_skipped += 1;
                } else {
                    c.head.n_price_skipped = c.head.n_price_skipped.saturating_sub(1);
                }
            }
        }
    }
}

/// What a new fill adds to its order's cells besides the terminal accounting: its fill latency
/// (the order's first fill), its figures, and a late fill's shares (weighted at arrival time).
#[derive(Debug, Clone, Copy)]
struct FillCells {
    first_lat: Option<u64>,
    obs: FillObs,
    late: Option<(Stamps, f64)>,
    /// The fill's record for the fill ring, and whether its markouts are scheduled: added
    /// after the cells (no row reads the ring), so after the report's own row is out.
    rec: FillRec,
    schedule: bool,
}

/// The scoring engine.
pub struct Engine<S: RowSink> {
    cfg: EngineConfig,
    clock: EventClock,
    fast: HalfLife,
    slow: HalfLife,
    lps: LpResolver,
    symbols: NameTable,
    orders: OrderTable,
    dedup: DedupSet,
    early: EarlyBuffer,
    book: QuoteBook,
    marks: Markouts,
    stats: Stats,
    buckets: SizeBuckets,
    fallback_priors: Priors,
    priors: Priors,
    est: EstimatorParams,
    profiles: Profiles,
    /// `profiles` prepared for scoring (recomputed on every weight change).
    prepared: PreparedProfiles,
    transforms: Transforms,
    paused: Vec<bool>,
    dirty: Vec<u32>,
    first_dirty_ns: u64,
    last_hb_ns: u64,
    last_prior_ns: u64,
    /// The stamps of the current event time (most observations are stamped now), computed on
    /// first use (`None`: not yet): events that update no cell (quotes, new orders) pay no
    /// `exp2`.
    now_stamps: Option<(u64, Stamps)>,
    /// The stamps of the last other time asked for (an order's arrival, a fill's time).
    other_stamps: Option<(u64, Stamps)>,
    force_flush: bool,
    /// The next cell of a republication in progress (the pool priors changed, so every row
    /// changed): [`REPUBLISH_BUDGET`] rows join a publication pass at most every
    /// [`REPUBLISH_EVERY_NS`] of event time; [`Engine::flush`] finishes it.
    republish: Option<u32>,
    /// Event time of the last republication chunk.
    last_republish_ns: u64,
    commands: Arc<ArrayQueue<Command>>,
    /// Acknowledgements of the commands applied in this flush, completed once the rows are out
    /// (capacity `command_queue`: at most that many commands are applied per flush).
    acks: Vec<(Ack, Outcome)>,
    counters: Counters,
    sink: S,
    /// Tests: the early own-row publication switched off, and how often it ran.
    #[cfg(test)]
    early_rows: EarlyRows,
}

/// Test hooks of [`Engine::apply_exec`]'s early own-row publication.
#[cfg(test)]
#[derive(Debug, Default, Clone, Copy)]
struct EarlyRows {
    /// Off: every row waits for the publication pass (the reference).
    off: bool,
    /// Own rows published early while nothing was pending.
    fresh: u64,
    /// Own rows published early that were already pending (a markout of the same event).
    pending: u64,
}

impl<S: RowSink> core::fmt::Debug for Engine<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Engine")
            .field("now_ns", &self.clock)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

/// Why no row is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowError {
    /// No such LP.
    UnknownLp,
    /// No such symbol.
    UnknownSymbol,
    /// No data for that combination yet.
    NoData,
}

impl<S: RowSink> Engine<S> {
    /// Builds the engine (allocating every table now) and tells the sink the configured LPs and
    /// profiles.
    pub fn new(cfg: EngineConfig, mut sink: S) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let profiles =
            Profiles::new(&cfg.profiles).map_err(|_| ConfigError("bad profile weights"))?;
        let map: Vec<(String, String)> = cfg
            .lp_map
            .iter()
            .map(|e| (e.raw.clone(), e.lp.clone()))
            .collect();
        let lps = LpResolver::new(cfg.max_lps as usize, &map, &cfg.lps, cfg.auto_register_lps);
        for i in 0..lps.lps.len() as u32 {
            if let Some(n) = lps.lps.name(i) {
                sink.register_lp(i as u16, n.as_bytes());
            }
        }
        for (i, (name, w)) in profiles.names.iter().zip(&profiles.weights).enumerate() {
            sink.set_profile(i as u8, name.as_bytes(), w);
        }
        let buckets = cfg.size_buckets();
        let score_horizon = cfg
            .horizons_ns
            .iter()
            .position(|h| *h == cfg.score_horizon_ns)
            .unwrap_or(0);
        Ok(Self {
            clock: EventClock::default(),
            fast: HalfLife {
                ns: cfg.fast_half_life_ns,
                t0: 0,
            },
            slow: HalfLife {
                ns: cfg.slow_half_life_ns,
                t0: 0,
            },
            symbols: NameTable::new(cfg.max_symbols as usize),
            orders: OrderTable::new(cfg.max_orders),
            dedup: DedupSet::new(cfg.dedup_window),
            early: EarlyBuffer::new(cfg.early_buffer),
            book: QuoteBook::new(cfg.max_symbols as usize),
            marks: Markouts::new(cfg.fill_ring, &cfg.horizons_ns, cfg.markout_queue),
            stats: {
                let mut st = Stats::new(
                    cfg.max_symbols,
                    buckets.len() as u8,
                    cfg.max_lps,
                    cfg.max_cells,
                );
                st.bucket_totals = cfg.bucket_totals;
                st.prefault(cfg.prefault_cells);
                st
            },
            buckets,
            fallback_priors: Priors::default(),
            priors: Priors::default(),
            est: EstimatorParams {
                prior_strength: cfg.prior_strength,
                fast_shrink: cfg.fast_shrink,
                score_horizon,
                n_horizons: cfg.horizons_ns.len(),
            },
            prepared: profiles.prepared(),
            profiles,
            transforms: cfg.transforms,
            paused: vec![false; cfg.max_lps as usize],
            dirty: Vec::with_capacity(cfg.max_cells.min(1 << 16)),
            first_dirty_ns: 0,
            last_hb_ns: 0,
            last_prior_ns: 0,
            now_stamps: None,
            other_stamps: None,
            force_flush: false,
            republish: None,
            last_republish_ns: 0,
            commands: Arc::new(ArrayQueue::new(cfg.command_queue.max(1))),
            acks: Vec::with_capacity(cfg.command_queue.max(1)),
            counters: Counters::default(),
            lps,
            sink,
            cfg,
            #[cfg(test)]
            early_rows: EarlyRows::default(),
        })
    }

    // ------------------------------------------------------------------ public surface

    /// Processes one event captured at `ts_ns`.
    pub fn on_event(&mut self, ts_ns: u64, ev: &Event<'_>) {
        self.on_event_keyed(ts_ns, ev, Keys::NONE);
    }

    /// [`Engine::on_event`] with the event's id hashes already computed (by a batch entry point
    /// that hashed them for its prefetch hints): each FNV pass over an id is a serial chain of
    /// multiplies, worth not repeating. `keys` must hold the event's own hashes ([`order_key`] of
    /// its session and ClOrdID, [`exec_key`] of its ExecID; checked in debug builds), or 0.
    #[inline]
    pub(crate) fn on_event_keyed(&mut self, ts_ns: u64, ev: &Event<'_>, keys: Keys) {
        let now = self.advance(ts_ns);
        self.counters.events += 1;
        match ev {
            Event::Quote(q) => self.on_quote(now, q),
            Event::NewOrder(o) => self.on_new_order(now, o, keys),
            Event::CancelRequest(c) => self.on_cancel_request(now, c),
            Event::Exec(e) => self.on_exec(now, e, keys),
            Event::CancelReject(c) => self.on_cancel_reject(now, c),
            Event::BusinessReject(b) => self.on_business_reject(now, b),
        }
        self.maybe_flush(now);
        // Hints for later events, once this event's rows are out.
        self.prefetch_ahead();
    }

    /// Moves event time to `ts_ns` with no event (idle): resolves due markouts, publishes what is
    /// due, applies queued commands, and beats the heartbeat every `heartbeat_interval_ns`.
    pub fn tick(&mut self, ts_ns: u64) {
        let now = self.advance(ts_ns);
        self.maybe_flush(now);
        self.prefetch_ahead();
        if !self.commands.is_empty() {
            self.flush();
        }
        if now.saturating_sub(self.last_hb_ns) >= self.cfg.heartbeat_interval_ns
            || self.last_hb_ns == 0
        {
            self.last_hb_ns = now.max(1);
            self.sink.heartbeat(now);
        }
    }

    /// Publishes every changed row now (and applies queued commands, and finishes a pending
    /// republication after a priors change).
    pub fn flush(&mut self) {
        self.publish_pass(u32::MAX);
    }

    /// One publication pass: queued commands, the priors' refresh, at most `republish_budget`
    /// rows of a pending republication, then every dirty row.
    fn publish_pass(&mut self, republish_budget: u32) {
        let now = self.clock.now_ns();
        self.apply_commands();
        self.refresh_priors(now);
        if let Some(next) = self.republish {
            let cells = self.stats.len() as u32;
            let end = next.saturating_add(republish_budget).min(cells);
            for id in next..end {
                self.mark_dirty(id);
            }
            self.republish = (end < cells).then_some(end);
            self.last_republish_ns = now;
        }
        let mut ids = core::mem::take(&mut self.dirty);
        let st = self.stamps_mut(now);
        let h = self.est.score_horizon;
        // A software pipeline over the rows: two rows ahead, the cell's header and sums are
        // requested; one row ahead (its header now near), its histogram lines and its scoreboard
        // row. Each row's cache misses then overlap the previous row's arithmetic.
        for &id in ids.iter().take(2) {
            self.stats.prefetch_row(id, h);
        }
        for (j, &id) in ids.iter().enumerate() {
            if let Some(&next2) = ids.get(j + 2) {
                self.stats.prefetch_row(next2, h);
            }
            if let Some(&next) = ids.get(j + 1) {
                self.stats.prefetch_bins(next);
                self.sink.prefetch(self.stats.key(next));
            }
            self.publish_row(id, now, st);
        }
        ids.clear();
        self.dirty = ids;
        self.force_flush = false;
        // The rows the commands changed are out: acknowledge.
        for (a, o) in self.acks.drain(..) {
            a.complete(o);
        }
    }

    /// Publishes cell `id`'s row now (`now` the event time, `st` its stamps) and clears its
    /// dirty flag. Out of line: the publication pass and [`Engine::apply_exec`]'s early
    /// publication of a report's own row share one copy of the row code (~9 KiB of straight
    /// line: two inlined copies would both be fetched per fill).
    #[inline(never)]
    fn publish_row(&mut self, id: u32, now: u64, st: Stamps) {
        // The latency quantiles from the cache where the histograms did not change.
        let (fresh, cached) = self.stats.take_row(id);
        let c = self.stats.cell(id);
        let q = c.row_quantiles_cached(fresh, cached);
        let row = self.row_of_cell(c, id, now, st, q);
        self.stats.cache_quantiles(id, q);
        let key = self.stats.key(id);
        self.sink.publish(key, &row);
        self.counters.publications += 1;
    }

    /// Whether this event's publication pass, run at its end by [`Engine::maybe_flush`], will
    /// publish the dirty rows with nothing changed before them: the pass is due (`force_flush`,
    /// or the oldest pending row, this event's if none is pending, is `publish_interval_ns`
    /// old), no command is queued (weights and pauses change rows), no priors refresh is due
    /// (the pooled priors change every row) and no republication is pending (it adds rows to
    /// the pass). A command queued by another thread after this check is applied by the pass,
    /// which then republishes the rows it changes: as if it had come one event later.
    #[inline]
    fn pass_due_as_is(&self, now: u64) -> bool {
        let oldest = if self.dirty.is_empty() {
            now
        } else {
            self.first_dirty_ns
        };
        let every = self.cfg.prior_refresh_ns;
        (self.force_flush || now.saturating_sub(oldest) >= self.cfg.publish_interval_ns)
            && self.republish.is_none()
            && (every == 0 || now.saturating_sub(self.last_prior_ns) < every)
            && self.commands.is_empty()
    }

    /// The queue control commands go through (weights, pauses). Push from any thread.
    pub fn commands(&self) -> Arc<ArrayQueue<Command>> {
        Arc::clone(&self.commands)
    }

    /// Current event time.
    pub fn now_ns(&self) -> u64 {
        self.clock.now_ns()
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }
    /// The sink, mutably.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }
    /// Takes the sink back.
    pub fn into_sink(self) -> S {
        self.sink
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Index of an LP by name.
    pub fn lp_index(&self, name: &str) -> Option<u16> {
        self.lps.lps.get(name.as_bytes()).map(|i| i as u16)
    }
    /// Slot of a symbol.
    pub fn symbol_slot(&self, name: &str) -> Option<u32> {
        self.symbols.get(name.as_bytes())
    }
    /// The all-symbols slot.
    pub fn all_symbols(&self) -> u32 {
        self.stats.max_symbols
    }
    /// The all-sizes slot.
    pub fn all_sizes(&self) -> u8 {
        self.stats.n_buckets
    }
    /// Orders held (open and lingering).
    pub fn orders_held(&self) -> usize {
        self.orders.len()
    }
    /// Open orders.
    pub fn open_orders(&self) -> usize {
        self.orders.open_len()
    }
    /// Statistics cells created, and updates dropped because `max_cells` was reached.
    pub fn cells(&self) -> (usize, u64) {
        (self.stats.len(), self.stats.cells_full)
    }

    /// Markouts pending.
    pub fn markouts_pending(&self) -> usize {
        self.marks.pending()
    }
    /// The current pool priors.
    pub fn priors(&self) -> &Priors {
        &self.priors
    }

    /// The row of `key` computed at the current event time (what would be published now).
    pub fn row(&self, key: RowKey) -> Result<RowValues, RowError> {
        let now = self.clock.now_ns();
        let id = self.cell_of(key)?;
        Ok(self.row_of(id, now, self.stamps(now)))
    }

    /// The KPI estimates of `key` at the current event time.
    pub fn estimates(&self, key: RowKey) -> Result<Estimates, RowError> {
        let now = self.clock.now_ns();
        let id = self.cell_of(key)?;
        Ok(self
            .stats
            .cell(id)
            .estimate(self.stamps(now), &self.priors, &self.est))
    }

    /// The (LP, all symbols, all sizes) row key of an LP by name.
    pub fn lp_key(&self, lp: &str) -> Result<RowKey, RowError> {
        Ok(RowKey {
            sym: self.stats.max_symbols,
            bucket: self.stats.n_buckets,
            lp: self.lp_index(lp).ok_or(RowError::UnknownLp)?,
        })
    }

    // ------------------------------------------------------------------ internals

    fn cell_of(&self, key: RowKey) -> Result<u32, RowError> {
        if key.lp >= self.stats.max_lps || key.lp as usize >= self.lps.lps.len() {
            return Err(RowError::UnknownLp);
        }
        if key.sym > self.stats.max_symbols {
            return Err(RowError::UnknownSymbol);
        }
        self.stats.find_id(key).ok_or(RowError::NoData)
    }

    fn row_of(&self, id: u32, now: u64, st: Stamps) -> RowValues {
        let c = self.stats.cell(id);
        self.row_of_cell(c, id, now, st, c.row_quantiles())
    }

    /// [`Engine::row_of`] of cell `c` (id `id`) with its latency quantiles given (`q` must be
    /// its [`CellRef::row_quantiles`]; the publication path takes them from the cache).
    #[inline(always)]
    fn row_of_cell(
        &self,
        c: CellRef<'_>,
        id: u32,
        now: u64,
        st: Stamps,
        q: RowQuantiles,
    ) -> RowValues {
        // The score horizon's figures apart: no array indexed by the horizon, so the estimates
        // stay in registers (same values as `estimate_row` and `build_row` at the horizon).
        let (e, hz) = c.estimate_row_parts_with(st, &self.priors, &self.est, q);
        let scores = Profiles::scores_prepared(
            &self.prepared,
            &self.transforms,
            &ScoreInputs::from_row(&e, &hz),
        );
        let lp = self.stats.key(id).lp as usize;
        crate::publish::build_row_parts(
            now,
            &e,
            &hz,
            &scores,
            self.paused.get(lp).copied().unwrap_or(false),
            c.n_orders,
            c.n_fills,
            c.n_price_skipped,
        )
    }

    /// The stamps of `t` if remembered (the current event time's, or the last other time's).
    #[inline]
    fn remembered_stamps(&self, t: u64) -> Option<Stamps> {
        match (self.now_stamps, self.other_stamps) {
            (Some((u, st)), _) if u == t => Some(st),
            (_, Some((u, st))) if u == t => Some(st),
            _ => None,
        }
    }

    #[inline]
    fn stamps(&self, t: u64) -> Stamps {
        if let Some(st) = self.remembered_stamps(t) {
            return st;
        }
        Stamps {
            fast: self.fast.stamp(t),
            slow: self.slow.stamp(t),
        }
    }

    /// [`Engine::stamps`], remembering the result (the same pure function of `t`).
    #[inline]
    fn stamps_mut(&mut self, t: u64) -> Stamps {
        if let Some(st) = self.remembered_stamps(t) {
            return st;
        }
        let st = Stamps {
            fast: self.fast.stamp(t),
            slow: self.slow.stamp(t),
        };
        if t == self.clock.now_ns() {
            self.now_stamps = Some((t, st));
        } else {
            self.other_stamps = Some((t, st));
        }
        st
    }

    /// Event time moves to `ts`; due work happens.
    fn advance(&mut self, ts: u64) -> u64 {
        let first = !self.clock.started();
        let now = self.clock.observe(ts);
        if first {
            self.fast.t0 = now;
            self.slow.t0 = now;
            self.last_prior_ns = now;
        }
        if first {
            // The origin moved: nothing remembered is valid.
            self.now_stamps = None;
            self.other_stamps = None;
        }
        while let Some(d) = self.marks.next_due(now) {
            self.resolve_markout(now, d.h, d.slot);
        }
        while let Some(slot) = self.orders.oldest_ended() {
            if self
                .orders
                .get(slot)
                .t_end
                .saturating_add(self.cfg.linger_ns)
                <= now
            {
                self.orders.retire(slot);
            } else {
                break;
            }
        }
        let ttl = self.cfg.early_ttl_ns;
        while let Some(m) = self
            .early
            .pop_front_if(|m| m.consumed || m.ts.saturating_add(ttl) < now)
        {
            if !m.consumed {
                self.counters.unknown_cl_ord_id += 1;
                early_dropped(m.key);
            }
        }
        now
    }

    /// Hints for work that comes due at later events, whose addresses are known now: the cells
    /// of the next markouts of each horizon (their queues resolve in order) and the next retired
    /// order. Reads only; changes no result. Issued at the end of an event (after its rows are
    /// out: the report's own row does not wait for them), not at the start of the next.
    #[inline]
    fn prefetch_ahead(&mut self) {
        let stats = &self.stats;
        let all_s = stats.max_symbols;
        self.marks.lookahead(MARKOUT_LOOKAHEAD, |h, r, cells| {
            if r.price_ok && r.lp != NO_LP {
                let s = (r.sym < all_s).then_some(r.sym);
                let b = (r.bucket != NO_BUCKET).then_some(r.bucket);
                if cells {
                    stats.prefetch_fan(r.lp, s, b, &[(ix::MO + 4 * h) / 4], None);
                } else {
                    stats.prefetch_fan_index(r.lp, s, b);
                }
            }
        });
        self.orders.prefetch_retire();
    }

    /// Asks for the cells and order-list neighbours an execution report of type `exec_type`
    /// applied to order `o` (in `slot`) will touch, before the state machine runs: their misses
    /// then overlap instead of following each other. A hint. Returns the order's cells when
    /// they all exist ([`Stats::prefetch_fan`]), which [`Engine::apply_exec`] then need not
    /// look up again.
    #[inline]
    fn prefetch_exec(
        &self,
        now: u64,
        o: &Order,
        slot: u32,
        exec_type: u8,
        last_qty: u64,
    ) -> Option<([u32; 4], usize)> {
        if o.lp == NO_LP {
            return None;
        }
        // Sums lines (see `ix`): 0 terminal accounting, 1 ack latency, 2-4 fill figures and
        // fill latency, 4-6 time to execution.
        let mut lines = [0usize; 6];
        let mut n = 0;
        let mut push = |l: usize| {
            lines[n] = l;
            n += 1;
        };
        let terminal = match exec_type {
            b'0' => false,
            b'F' => {
                push(ix::FILLS / 4);
                push(ix::PI_POS / 4);
                push(ix::FLAT_N / 4);
                let tte = formulas::tte_bucket(now.saturating_sub(o.t_a));
                push((ix::TTE + tte) / 4);
                o.cum_qty.saturating_add(last_qty) >= o.qty
            }
            b'4' | b'8' | b'C' | b'3' => true,
            _ => return None,
        };
        if terminal && !o.counted {
            push(ix::ORDERS / 4);
        }
        // A first report or first fill adds a latency to a histogram bin.
        let mut bins_line = None;
        if o.t_ack == 0 {
            push(ix::ACK_N / 4);
        }
        if o.t_ack == 0 || (exec_type == b'F' && o.t_first_fill == 0) {
            bins_line = Some(crate::kpi::hist::bucket_of(now.saturating_sub(o.t_a)) / 8);
        }
        if terminal {
            self.orders.prefetch_links(slot);
        }
        self.stats.prefetch_fan(
            o.lp,
            (o.sym < self.stats.max_symbols).then_some(o.sym),
            (o.bucket != NO_BUCKET).then_some(o.bucket),
            &lines[..n],
            bins_line,
        )
    }

    /// First-stage hint for an event that will be applied soon (a batch entry point such as
    /// [`FixFeed::on_fix_batch`] parses ahead), from its [`Keys`]: the order index's line and,
    /// for an execution report (`exec_type` as in [`ExecReport`], 0 for a NewOrderSingle), the
    /// ExecID window's and (a fill) the fill ring's lines. Reads only; changes no result.
    #[inline]
    pub(crate) fn prefetch_keys(&self, keys: Keys, exec_type: u8) {
        if keys.order != 0 {
            self.orders.prefetch_key(keys.order);
        }
        if keys.exec != 0 {
            self.dedup.prefetch(keys.exec);
            if exec_type == b'F' {
                self.marks.prefetch_add(keys.exec);
            }
        }
    }

    /// Second-stage hint (after [`Engine::prefetch_keys`], once the index line is near) for an
    /// execution report of type `exec_type`: the order's record, the lines of its cells the
    /// report will update and its list neighbours. Reads only; changes no result.
    #[inline]
    pub(crate) fn prefetch_exec_cells(&self, keys: Keys, exec_type: u8, last_qty: u64) {
        if keys.order == 0 {
            return;
        }
        let Some(slot) = self.orders.find(keys.order) else {
            return;
        };
        let o = self.orders.get(slot);
        // (The cells found are for `apply_exec`'s own call: a hint here.)
        let _ = self.prefetch_exec(self.clock.now_ns(), o, slot, exec_type, last_qty);
    }

    fn maybe_flush(&mut self, now: u64) {
        if self.force_flush
            || (!self.dirty.is_empty()
                && now.saturating_sub(self.first_dirty_ns) >= self.cfg.publish_interval_ns)
            || (self.republish.is_some()
                && now.saturating_sub(self.last_republish_ns) >= REPUBLISH_EVERY_NS)
        {
            self.publish_pass(REPUBLISH_BUDGET);
        }
    }

    fn apply_commands(&mut self) {
        // Most passes find no command: two loads instead of a pop's attempt.
        if self.commands.is_empty() {
            return;
        }
        let mut changed = false;
        // Bounded: a sender that keeps pushing cannot hold the hot thread here, and `acks` never
        // grows past its capacity.
        for _ in 0..self.acks.capacity() - self.acks.len() {
            let Some(c) = self.commands.pop() else { break };
            let mut removed = None;
            let (outcome, ack) = match c {
                Command::SetWeights { profile, weights } => {
                    let i = profile as usize;
                    let o = if !self.profiles.is_active(i) {
                        Outcome::NoSuchProfile
                    } else if check_weights(&weights).is_err() {
                        Outcome::BadWeights
                    } else {
                        self.profiles.weights[i] = weights;
                        Outcome::Applied
                    };
                    (o, None)
                }
                Command::PauseLp { lp, paused } => (self.pause(lp as usize, paused), None),
                Command::SetProfile {
                    profile,
                    name,
                    weights,
                    ack,
                } => {
                    let o = self
                        .profiles
                        .set(profile as usize, name.as_str(), &weights)
                        .map_or_else(Outcome::of, |()| Outcome::Applied);
                    (o, ack)
                }
                Command::RemoveProfile { profile, ack } => {
                    removed = self
                        .profiles
                        .names
                        .get(profile as usize)
                        .and_then(|n| ShortName::new(n));
                    let o = self
                        .profiles
                        .remove(profile as usize)
                        .map_or_else(Outcome::of, |()| Outcome::Applied);
                    (o, ack)
                }
                Command::PauseLpNamed { lp, paused, ack } => {
                    let o = match self.lps.lps.get(lp.as_str().as_bytes()) {
                        Some(i) => self.pause(i as usize, paused),
                        None => Outcome::UnknownLp,
                    };
                    (o, ack)
                }
            };
            match c {
                _ if outcome != Outcome::Applied => self.counters.bad_commands += 1,
                Command::SetWeights { profile, .. }
                | Command::SetProfile { profile, .. }
                | Command::RemoveProfile { profile, .. } => {
                    let i = profile as usize;
                    self.prepared = self.profiles.prepared();
                    // A removed slot is published with its old name and all-zero weights.
                    let name = match c {
                        Command::RemoveProfile { .. } => removed,
                        _ => ShortName::new(&self.profiles.names[i]),
                    };
                    if let Some(n) = name {
                        self.sink.set_profile(
                            profile,
                            n.as_str().as_bytes(),
                            &self.profiles.weights[i],
                        );
                    }
                    self.counters.weight_changes += 1;
                    changed = true;
                }
                // `pause` marked the LP's rows.
                Command::PauseLp { .. } | Command::PauseLpNamed { .. } => {}
            }
            if let Some(a) = ack {
                self.acks.push((a, outcome));
            }
        }
        if changed {
            // New weights: every row's scores changed, and the acknowledgement promises every
            // row under them (docs/control.md), so all go out in this pass: an operator's action,
            // unlike the periodic priors refresh, which is paced.
            self.mark_all_dirty();
        }
    }

    fn mark_all_dirty(&mut self) {
        for id in 0..self.stats.len() as u32 {
            self.mark_dirty(id);
        }
    }

    /// Queues cell `id`'s row for this publication pass.
    #[inline]
    fn mark_dirty(&mut self, id: u32) {
        let c = self.stats.head_mut(id);
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(id);
        }
    }

    /// Pauses or resumes an LP; its rows (only) go out in this pass with the flag.
    fn pause(&mut self, lp: usize, paused: bool) -> Outcome {
        match self.paused.get_mut(lp) {
            Some(p) => {
                *p = paused;
                self.sink.set_lp_paused(lp as u16, paused);
                for id in 0..self.stats.len() as u32 {
                    if usize::from(self.stats.key(id).lp) == lp {
                        self.mark_dirty(id);
                    }
                }
                Outcome::Applied
            }
            _ => Outcome::UnknownLp,
        }
    }

    fn refresh_priors(&mut self, now: u64) {
        let every = self.cfg.prior_refresh_ns;
        if every == 0 || now.saturating_sub(self.last_prior_ns) < every {
            return;
        }
        self.last_prior_ns = now;
        let st = self.stamps_mut(now);
        let p = self.stats.pool_priors(st, &self.fallback_priors);
        self.counters.prior_refreshes += 1;
        if p != self.priors {
            self.priors = p;
            // Every row shows the priors, but republishing tens of thousands of rows at once
            // would stall the hot thread for milliseconds: they go out in paced chunks.
            self.republish = Some(0);
        }
    }

    #[inline]
    fn touch(&mut self, ids: &[u32], now: u64) {
        for &id in ids {
            let c = self.stats.head_mut(id);
            if !c.dirty {
                c.dirty = true;
                if self.dirty.is_empty() {
                    self.first_dirty_ns = now;
                }
                self.dirty.push(id);
            }
        }
    }

    /// Applies `f` to every cell an observation of `(lp, sym, bucket)` feeds, then marks them dirty.
    #[inline]
    fn each_cell(
        &mut self,
        now: u64,
        lp: u16,
        sym: u32,
        bucket: u8,
        f: impl FnMut(&mut crate::kpi::CellMut<'_>),
    ) {
        self.each_cell_marking(now, lp, sym, bucket, true, f);
    }

    /// As [`Engine::each_cell`]; `dirty == false` for changes no row field shows (markouts at
    /// horizons other than the score horizon): they wait for the rows' next publication.
    #[inline]
    fn each_cell_marking(
        &mut self,
        now: u64,
        lp: u16,
        sym: u32,
        bucket: u8,
        dirty: bool,
        mut f: impl FnMut(&mut crate::kpi::CellMut<'_>),
    ) {
        if lp == NO_LP {
            return;
        }
        let s = (sym < self.stats.max_symbols).then_some(sym);
        let b = (bucket != NO_BUCKET).then_some(bucket);
        let (ids, n) = self.stats.fan_out(lp, s, b);
        for &id in &ids[..n] {
            f(&mut self.stats.cell_mut(id));
        }
        if dirty {
            self.touch(&ids[..n], now);
        }
    }

    fn intern_symbol(&mut self, sym: &[u8]) -> u32 {
        match self.symbols.intern(sym) {
            Ok((i, new)) => {
                if new {
                    self.sink.register_symbol(i, sym);
                }
                i
            }
            Err(_) => {
                self.counters.symbols_full += 1;
                u32::MAX
            }
        }
    }

    // Inlined into its two callers (a new order, an execution report), its rare first sight of
    // an LP out of line: on the hot thread a call is a jump to code the instruction cache and
    // the branch predictors have lost since the last message.
    #[inline(always)]
    fn resolve_lp(&mut self, cands: [&[u8]; 3]) -> u16 {
        match self.lps.resolve(cands) {
            LpResolution::Known(i) => i,
            LpResolution::New(i) => self.register_lp(i),
            LpResolution::Unattributed => NO_LP,
        }
    }

    #[cold]
    #[inline(never)]
    fn register_lp(&mut self, i: u16) -> u16 {
        if let Some(n) = self.lps.lps.name(u32::from(i)) {
            let n = *n;
            self.sink.register_lp(i, n.as_bytes());
        }
        i
    }

    fn on_quote(&mut self, now: u64, q: &Quote<'_>) {
        self.counters.quotes += 1;
        if q.symbol.is_empty() {
            self.counters.malformed += 1;
            return;
        }
        let sym = self.intern_symbol(q.symbol);
        if sym == u32::MAX {
            return;
        }
        // A side given as 0 is unchanged (incremental market data updates one side at a time).
        let (bid, ask) = if q.bid == 0 || q.ask == 0 {
            let (b0, a0) = self.book.sides(sym);
            (
                if q.bid == 0 { b0 } else { q.bid },
                if q.ask == 0 { a0 } else { q.ask },
            )
        } else {
            (q.bid, q.ask)
        };
        if self.book.update(sym, bid, ask, now) == QuoteUpdate::Flagged && bid != 0 && ask != 0 {
            self.counters.quotes_flagged += 1;
        }
    }

    fn on_new_order(&mut self, now: u64, o: &NewOrder<'_>, keys: Keys) {
        let side: i8 = match o.side {
            b'1' => 1,
            b'2' | b'5' | b'6' => -1,
            _ => 0,
        };
        if side == 0 || o.qty == 0 || o.cl_ord_id.is_empty() || o.symbol.is_empty() {
            self.counters.malformed += 1;
            return;
        }
        let key = keys.order_key(o.session, o.cl_ord_id);
        if self.orders.find(key).is_some() {
            self.counters.duplicate_orders += 1;
            return;
        }
        let sym = self.intern_symbol(o.symbol);
        let lp = self.resolve_lp([o.ex_destination, o.counterparty, b""]);
        let t_a = match self.cfg.arrival_time {
            ArrivalTime::Capture => now,
            ArrivalTime::TransactTime => o.transact_time_ns.unwrap_or(now),
            ArrivalTime::SendingTime => o.sending_time_ns.unwrap_or(now),
        };
        // Arrival NBBO: the book, else the tags on the order, else none (counted).
        let book = if sym == u32::MAX {
            Err(QuoteSkip::NoQuote)
        } else {
            self.book.arrival(sym, now, self.cfg.stale_quote_ns)
        };
        let nbbo = match book {
            Ok(q) => Some(q),
            Err(why) => {
                let tags = o.nbbo.filter(|(b, a)| *b > 0 && *a > *b);
                if tags.is_none() {
                    match (why, o.nbbo) {
                        (_, Some(_)) | (QuoteSkip::CrossedOrLocked, None) => {
                            self.counters.nbbo_crossed += 1
                        }
                        (QuoteSkip::Stale, None) => self.counters.nbbo_stale += 1,
                        (QuoteSkip::NoQuote, None) => self.counters.nbbo_missing += 1,
                    }
                }
                tags
            }
        };
        let ref_px = nbbo
            .map(|(b, a)| ((i128::from(b) + i128::from(a)) / 2) as i64)
            .or((o.limit > 0).then_some(o.limit));
        let bucket = self.buckets.bucket(o.qty, ref_px).unwrap_or(NO_BUCKET);
        let mut order = Order::new(key, lp, sym, bucket, side, o.qty, t_a);
        order.ord_type = o.ord_type;
        order.tif = o.tif;
        order.limit = o.limit;
        if let Some((b, a)) = nbbo {
            order.bid_a = b;
            order.ask_a = a;
            order.price_ok = true;
        }
        let slot = match self.orders.insert(order) {
            Ok(s) => s,
            Err(InsertError::Duplicate) => {
                self.counters.duplicate_orders += 1;
                return;
            }
            Err(InsertError::Full) => {
                self.make_room(now);
                match self.orders.insert(order) {
                    Ok(s) => s,
                    Err(_) => {
                        self.counters.malformed += 1;
                        return;
                    }
                }
            }
        };
        self.counters.orders += 1;
        // Reports that arrived before this order.
        if self.early.may_hold(key) {
            let cap = self.early.buf.len();
            for i in 0..self.early.len {
                let j = crate::orders::map::ring_wrap(self.early.head + i, cap);
                let m = self.early.buf[j];
                if !m.consumed && (m.key == key || m.orig_key == key) {
                    self.early.consume(j);
                    self.counters.early_matched += 1;
                    // Another report of this order may follow in this event: no early row.
                    self.apply_exec(now, &m, slot, false);
                }
            }
        }
    }

    /// The table is full: retire the order that ended longest ago, else expire the oldest open one.
    fn make_room(&mut self, now: u64) {
        if let Some(s) = self.orders.oldest_ended() {
            self.orders.retire(s);
            return;
        }
        if let Some(s) = self.orders.oldest_open() {
            if let Ok(t) = transition(self.orders.get(s).state, OrderEvent::Evict) {
                self.orders.set_state(s, t.next, now);
                self.account_terminal(now, s);
            }
            self.counters.evicted_open += 1;
            self.orders.retire(s);
        }
    }

    fn find_order(&self, key: u64, orig_key: u64) -> Option<u32> {
        self.orders.find(key).or_else(|| {
            (orig_key != 0)
                .then(|| self.orders.find(orig_key))
                .flatten()
        })
    }

    fn on_cancel_request(&mut self, now: u64, c: &CancelRequest<'_>) {
        if c.orig_cl_ord_id.is_empty() {
            self.counters.malformed += 1;
            return;
        }
        self.counters.cancel_requests += 1;
        let Some(slot) = self.orders.find(order_key(c.session, c.orig_cl_ord_id)) else {
            self.counters.unknown_cl_ord_id += 1;
            return;
        };
        if !self.step(now, slot, OrderEvent::CancelRequest) {
            return;
        }
        let o = *self.orders.get(slot);
        let st = self.stamps_mut(now);
        self.each_cell(now, o.lp, o.sym, o.bucket, |c| {
            let w = c.prepare_weights(st);
            c.add_w(ix::CXL_REQ, w, 1.0);
        });
    }

    fn on_cancel_reject(&mut self, now: u64, c: &CancelReject<'_>) {
        self.counters.cancel_rejects += 1;
        let key = order_key(c.session, c.cl_ord_id);
        let orig = if c.orig_cl_ord_id.is_empty() {
            0
        } else {
            order_key(c.session, c.orig_cl_ord_id)
        };
        let Some(slot) = (if orig != 0 {
            self.orders.find(orig).or_else(|| self.orders.find(key))
        } else {
            self.orders.find(key)
        }) else {
            self.counters.unknown_cl_ord_id += 1;
            tracing::debug!("OrderCancelReject for an unknown order");
            return;
        };
        if !self.step(now, slot, OrderEvent::CancelReject) {
            return;
        }
        let o = *self.orders.get(slot);
        let st = self.stamps_mut(now);
        self.each_cell(now, o.lp, o.sym, o.bucket, |c| {
            let w = c.prepare_weights(st);
            c.add_w(ix::CXL_REJ, w, 1.0);
        });
    }

    fn on_business_reject(&mut self, now: u64, b: &BusinessReject<'_>) {
        if b.ref_id.is_empty() {
            self.counters.malformed += 1;
            return;
        }
        // A synthetic "Rejected" report, de-duplicated on (session, "35=j", ref).
        let dk = crate::orders::id_hash(0x6a00_0000 | u64::from(b.session), b.ref_id);
        if !self.dedup.insert(dk) {
            self.counters.duplicate_execs += 1;
            return;
        }
        let m = ExecMsg {
            key: order_key(b.session, b.ref_id),
            exec_type: b'8',
            lp_hint: NO_LP,
            ts: now,
            ..ExecMsg::default()
        };
        self.dispatch_exec(now, m);
    }

    fn on_exec(&mut self, now: u64, e: &ExecReport<'_>, keys: Keys) {
        let known = matches!(
            e.exec_type,
            b'0' | b'F' | b'4' | b'8' | b'C' | b'3' | b'5' | b'H' | b'G'
        );
        if !known || e.exec_id.is_empty() || e.cl_ord_id.is_empty() {
            self.counters.malformed += 1;
            return;
        }
        if matches!(e.exec_type, b'F' | b'G') && (e.last_qty == 0 || e.last_px <= 0) {
            self.counters.malformed += 1;
            return;
        }
        if matches!(e.exec_type, b'H' | b'G') && e.exec_ref_id.is_empty() {
            self.counters.malformed += 1;
            return;
        }
        let ek = keys.exec_key(e.session, e.exec_id);
        let key = keys.order_key(e.session, e.cl_ord_id);
        // The ExecID window's, the order index's and the fill ring's lines, all asked for at
        // once: their misses overlap.
        self.dedup.prefetch(ek);
        self.orders.prefetch_key(key);
        if e.exec_type == b'F' {
            self.marks.prefetch_add(ek);
        }
        if !self.dedup.insert(ek) {
            self.counters.duplicate_execs += 1;
            return;
        }
        let lp_hint = if e.last_mkt.is_empty() {
            NO_LP
        } else {
            self.resolve_lp([b"", b"", e.last_mkt])
        };
        let m = ExecMsg {
            key,
            exec_key: ek,
            orig_key: if e.orig_cl_ord_id.is_empty() {
                0
            } else {
                order_key(e.session, e.orig_cl_ord_id)
            },
            ref_key: if e.exec_ref_id.is_empty() {
                0
            } else {
                exec_key(e.session, e.exec_ref_id)
            },
            exec_type: e.exec_type,
            last_qty: e.last_qty,
            last_px: e.last_px,
            lp_hint,
            order_qty: e.order_qty,
            ts: now,
            consumed: false,
        };
        self.counters.execs += 1;
        self.dispatch_exec(now, m);
    }

    // `inline(always)` here and on the small helpers of the fill path (`apply_transition`,
    // `terminal_obs`, `FillObs::of`, `OrderTable::set_state`/`unlink`, `DedupSet::insert`):
    // each call is a jump to code the hot thread's instruction cache and branch predictors have
    // lost since the last message; straight-line code is fetched ahead (Session 6, second round
    // in docs/kpis.md: fewer I1 misses and instructions, the fill ~3-4 % faster).
    #[inline(always)]
    fn dispatch_exec(&mut self, now: u64, m: ExecMsg) {
        if matches!(m.exec_type, b'H' | b'G') {
            self.amend(now, &m);
            return;
        }
        match self.find_order(m.key, m.orig_key) {
            Some(slot) => self.apply_exec(now, &m, slot, true),
            None => {
                if self.early.push(m) {
                    self.counters.early_buffered += 1;
                } else {
                    self.counters.unknown_cl_ord_id += 1;
                    unknown_cl_ord_id(m.key);
                }
            }
        }
    }

    /// Runs the state machine; counts refusals and oddities. Returns whether the move was legal.
    fn step(&mut self, now: u64, slot: u32, ev: OrderEvent) -> bool {
        match self.step_state(now, slot, ev) {
            Some(ended) => {
                if ended {
                    self.account_terminal(now, slot);
                }
                true
            }
            None => false,
        }
    }

    /// [`Engine::step`] without the terminal accounting: `None` when the move was refused, else
    /// whether the order has just ended (the caller then owes [`Engine::account_terminal`], or
    /// [`Engine::terminal_obs`] applied in its own pass over the cells).
    #[inline]
    fn step_state(&mut self, now: u64, slot: u32, ev: OrderEvent) -> Option<bool> {
        let state = self.orders.get(slot).state;
        match transition(state, ev) {
            Ok(t) => Some(self.apply_transition(now, slot, state, t)),
            Err(e) => {
                self.counters.invalid_transitions += 1;
                refused(&e);
                None
            }
        }
    }

    /// Applies move `t` (of `transition(state, ..)`, `state` the order's current state): counts
    /// its oddity, moves the state. Returns whether the order has just ended.
    #[inline(always)]
    fn apply_transition(&mut self, now: u64, slot: u32, state: OrderState, t: Transition) -> bool {
        if let Some(o) = t.oddity {
            self.counters.oddities[oddity_index(o)] += 1;
        }
        self.orders.set_state(slot, t.next, now);
        t.next.is_terminal() && !state.is_terminal()
    }

    /// Fill-rate and reject-rate accounting, once per order, when it first ends.
    fn account_terminal(&mut self, now: u64, slot: u32) {
        let Some(t) = self.terminal_obs(slot) else {
            return;
        };
        let o = *self.orders.get(slot);
        self.each_cell(now, o.lp, o.sym, o.bucket, |c| t.apply(c));
    }

    /// The bookkeeping of [`Engine::account_terminal`] (the order is marked counted, an
    /// unattributed one is counted) and what it adds to the order's cells; `None`: nothing.
    #[inline(always)]
    fn terminal_obs(&mut self, slot: u32) -> Option<TerminalObs> {
        let o = *self.orders.get(slot);
        if o.counted {
            return None;
        }
        self.orders.get_mut(slot).counted = true;
        if o.lp == NO_LP {
            self.counters.unattributed += 1;
            return None;
        }
        Some(TerminalObs {
            st: self.stamps_mut(o.t_a),
            rejected: if o.state == OrderState::Rejected {
                1.0
            } else {
                0.0
            },
            qty: o.qty as f64,
            filled: o.cum_qty.min(o.qty) as f64,
        })
    }

    /// Applies execution report `m` to the order in `slot`. `last`: no other report or
    /// observation of this event updates a cell after it (its own row may then be published
    /// early, see below).
    fn apply_exec(&mut self, now: u64, m: &ExecMsg, slot: u32, last: bool) {
        if self.orders.get(slot).lp == NO_LP && m.lp_hint != NO_LP {
            self.orders.get_mut(slot).lp = m.lp_hint;
        }
        let o = *self.orders.get(slot);
        // The order's cells, when they all exist (no cell is created before the pass below, and
        // a replace, which may move the order to other cells, gets none).
        let found = self.prefetch_exec(now, &o, slot, m.exec_type, m.last_qty);
        let ev = match m.exec_type {
            b'0' => OrderEvent::Ack,
            b'F' => OrderEvent::Fill {
                complete: o.cum_qty + m.last_qty >= o.qty,
            },
            b'4' => OrderEvent::Canceled,
            b'8' => OrderEvent::Rejected,
            b'C' => OrderEvent::Expired,
            b'3' => OrderEvent::DoneForDay,
            b'5' => OrderEvent::Replaced {
                complete: m.order_qty > 0 && o.cum_qty >= m.order_qty,
            },
            _ => {
                self.counters.malformed += 1;
                return;
            }
        };
        // The move, decided once (a pure function of the state and the event; nothing below
        // changes the state before it is applied).
        let t = match transition(o.state, ev) {
            Ok(t) => t,
            Err(e) => {
                self.counters.invalid_transitions += 1;
                refused(&e);
                return;
            }
        };
        // Replaced: the order continues under the new ClOrdID and quantity (before the state move,
        // so a terminal accounting sees the new quantity).
        if m.exec_type == b'5' {
            if m.key != o.key && self.orders.rekey(slot, m.key).is_err() {
                self.counters.malformed += 1;
            }
            if m.order_qty > 0 {
                self.orders.get_mut(slot).qty = m.order_qty;
            }
        }
        let counted_before = o.counted;
        if m.exec_type == b'F' {
            // Apply the quantity before the state move so a completing fill is in cum at accounting.
            self.orders.get_mut(slot).cum_qty += m.last_qty;
        }
        let ended = self.apply_transition(now, slot, o.state, t);
        // Everything this report adds to the order's cells goes in one pass over them (one
        // fan-out, one header update per timestamp): per cell, the same operations in the same
        // order as one pass per observation (terminal accounting at arrival time, ack and fill
        // latency, the fill's figures, a late fill's shares), so the same bits.
        let term = if ended { self.terminal_obs(slot) } else { None };
        let o = *self.orders.get(slot);
        // Ack latency: the order's first report (New, Trade, Rejected, or an IOC's Canceled...).
        let ack_lat = if o.t_ack == 0 && m.exec_type != b'5' {
            self.orders.get_mut(slot).t_ack = now.max(1);
            Some(now.saturating_sub(o.t_a))
        } else {
            None
        };
        let fill = if m.exec_type == b'F' {
            Some(self.record_fill(now, m, slot, counted_before))
        } else {
            None
        };
        if term.is_none() && ack_lat.is_none() && fill.is_none() {
            return;
        }
        let st = self.stamps_mut(now);
        let apply = |c: &mut crate::kpi::CellMut<'_>| {
            if let Some(t) = &term {
                t.apply(c);
            }
            if ack_lat.is_none() && fill.is_none() {
                return;
            }
            let w = c.prepare_weights(st);
            if let Some(lat) = ack_lat {
                c.add_latency_w(false, lat, w);
            }
            if let Some(f) = &fill {
                if let Some(lat) = f.first_lat {
                    c.add_latency_w(true, lat, w);
                }
                f.obs.apply(c, w);
                if let Some((st_a, q)) = f.late {
                    let w = c.prepare_weights(st_a);
                    c.add_w(ix::QTY_FILLED, w, q);
                }
            }
        };
        let s = (o.sym < self.stats.max_symbols).then_some(o.sym);
        let b = (o.bucket != NO_BUCKET).then_some(o.bucket);
        let (ids, n) = if o.lp == NO_LP {
            ([0; 4], 0)
        } else if let Some(f) = found {
            self.stats.fan_out_found(o.lp, s, b, f)
        } else {
            self.stats.fan_out(o.lp, s, b)
        };
        let ids = &ids[..n];
        // The report's own row (its first cell: LP x symbol x size bucket, the row an SOR reads)
        // goes out as soon as its cell is updated, before the wider cells are, when this event's
        // publication pass would publish it first anyway: the last report of the event
        // (`last`: nothing updates a cell after it), the pass due as is, and the row first in
        // the pass's order (nothing pending, or it is the first pending row: a markout of this
        // event). Each row reads only its own cell and state no cell update touches (priors,
        // weights, pauses, the event time), so every row has the same bits, and the rows go out
        // in the same order; the pass publishes the others.
        let early = last
            && !ids.is_empty()
            && self.dirty.first().is_none_or(|&d| d == ids[0])
            && self.pass_due_as_is(now);
        #[cfg(test)]
        let early = early && !self.early_rows.off;
        if early {
            // Its scoreboard row and histogram lines (the header and sums are near: the report's
            // own hint asked for them).
            self.stats.prefetch_bins(ids[0]);
            self.sink.prefetch(self.stats.key(ids[0]));
        }
        for (j, &id) in ids.iter().enumerate() {
            apply(&mut self.stats.cell_mut(id));
            if early && j == 0 {
                self.publish_row(id, self.clock.now_ns(), st);
            }
        }
        if early {
            // The pending list and its age as if the row had been queued (same snapshot).
            let was_empty = self.dirty.is_empty();
            let first_dirty = self.first_dirty_ns;
            #[cfg(test)]
            if was_empty {
                self.early_rows.fresh += 1;
            } else {
                self.early_rows.pending += 1;
            }
            if !was_empty {
                // It was the first pending row (published above, its flag cleared).
                self.dirty.remove(0);
            }
            self.touch(&ids[1..], now);
            self.first_dirty_ns = if was_empty { now } else { first_dirty };
            // With nothing left pending (a one-cell fan-out), the pass does not run: it would
            // have published this row only (no command was queued, no refresh was due).
        } else {
            self.touch(ids, now);
        }
        if let Some(f) = &fill {
            self.marks.add(f.rec, f.schedule);
        }
    }

    /// The order and fill-ring side of a fill (first-fill time, the fill's record and markouts)
    /// and what it adds to the order's cells, for [`Engine::apply_exec`]'s pass over them.
    /// `late`: the order had already ended and been counted before this fill (fill after
    /// cancel).
    #[inline]
    fn record_fill(&mut self, now: u64, m: &ExecMsg, slot: u32, late: bool) -> FillCells {
        let o = *self.orders.get(slot);
        let first_lat = if o.t_first_fill == 0 {
            self.orders.get_mut(slot).t_first_fill = now.max(1);
            Some(now.saturating_sub(o.t_a))
        } else {
            None
        };
        let rec = FillRec {
            exec_key: m.exec_key,
            order_key: o.key,
            lp: o.lp,
            sym: o.sym,
            bucket: o.bucket,
            side: o.side,
            px: m.last_px,
            qty: m.last_qty,
            bid_a: o.bid_a,
            ask_a: o.ask_a,
            price_ok: o.price_ok,
            t_a: o.t_a,
            t_fill: now,
            stamps: Some(self.stamps_mut(now)),
            ..FillRec::default()
        };
        // From the record as built (`Markouts::add` sets only its bookkeeping fields).
        let obs = FillObs::of(&rec, 1.0);
        let schedule = o.price_ok && o.lp != NO_LP && o.sym != u32::MAX;
        // A fill after the order was counted (fill after cancel): add it to the filled shares.
        let late = late.then(|| (self.stamps_mut(o.t_a), m.last_qty as f64));
        FillCells {
            first_lat,
            obs,
            late,
            rec,
            schedule,
        }
    }

    /// The stamps of a fill's time: those kept in its record, else computed.
    #[inline]
    fn fill_stamps(&mut self, r: &FillRec) -> Stamps {
        match r.stamps {
            Some(st) => st,
            None => self.stamps_mut(r.t_fill),
        }
    }

    /// Adds (`sign` = 1) or reverses (-1) a fill's per-fill contributions, observed at its fill time.
    fn fill_contrib(&mut self, now: u64, r: &FillRec, sign: f64) {
        let st = self.fill_stamps(r);
        let obs = FillObs::of(r, sign);
        self.each_cell(now, r.lp, r.sym, r.bucket, |c| {
            let w = c.prepare_weights(st);
            obs.apply(c, w);
        });
    }

    /// Adds or reverses horizon `h` of a fill (weighted at its fill time).
    fn markout_contrib(&mut self, now: u64, r: &MarkoutObs, h: usize, sign: f64) {
        let st = match r.stamps {
            Some(st) => st,
            None => self.stamps_mut(r.t_fill),
        };
        let a = Arrival {
            side: r.side,
            bid: r.bid_a,
            ask: r.ask_a,
        };
        let later = i128::from(r.two_mid);
        let x = r.qty as f64;
        let mo = a.markout_bps(r.px, later);
        let im = a.impact_bps(later);
        let rs = a.realized_spread_bps(r.px, later);
        let q = ix::MO + 4 * h;
        let shown = h == self.est.score_horizon;
        self.each_cell_marking(now, r.lp, r.sym, r.bucket, shown, |c| {
            let w = c.prepare_weights(st);
            c.add_w(q, w, sign * x);
            c.add_w(q + 1, w, sign * x * mo);
            c.add_w(q + 2, w, sign * x * im);
            c.add_w(q + 3, w, sign * x * rs);
        });
    }

    fn resolve_markout(&mut self, now: u64, h: usize, slot: u32) {
        let sym = self.marks.get(slot).sym;
        let Some(two_mid) = self.book.two_mid(sym) else {
            self.counters.markout_unresolved += 1;
            return;
        };
        let m = {
            let r = self.marks.get_mut(slot);
            r.two_mid[h] = two_mid;
            r.resolved |= 1 << h;
            MarkoutObs::of(r, h)
        };
        self.markout_contrib(now, &m, h, 1.0);
    }

    /// Trade bust (H) or correction (G) of the fill named by ExecRefID.
    fn amend(&mut self, now: u64, m: &ExecMsg) {
        let Some(fslot) = self.marks.find(m.ref_key) else {
            self.counters.unknown_exec_ref += 1;
            tracing::debug!("bust/correction names an unknown ExecID");
            return;
        };
        let old = *self.marks.get(fslot);
        if old.busted {
            self.counters.invalid_transitions += 1;
            return;
        }
        let bust = m.exec_type == b'H';
        let (new_qty, new_px) = if bust {
            (0, old.px)
        } else {
            (m.last_qty, m.last_px)
        };
        // The order, if still held.
        let slot = self
            .find_order(old.order_key, 0)
            .or_else(|| self.find_order(m.key, m.orig_key));
        let mut counted = true; // a retired order was counted when it ended
        if let Some(s) = slot {
            let o = *self.orders.get(s);
            let cum = o.cum_qty.saturating_sub(old.qty).saturating_add(new_qty);
            let ev = if bust {
                OrderEvent::TradeCancel {
                    none_left: cum == 0,
                }
            } else {
                OrderEvent::TradeCorrect {
                    complete: cum >= o.qty,
                    none_left: cum == 0,
                }
            };
            if transition(o.state, ev).is_err() {
                self.counters.invalid_transitions += 1;
                return;
            }
            self.orders.get_mut(s).cum_qty = cum;
            counted = o.counted;
            self.step(now, s, ev);
        }
        // Reverse what the fill contributed, then (correction) add the amended fill.
        self.fill_contrib(now, &old, -1.0);
        for h in 0..self.marks.horizons().len() {
            if old.resolved & (1 << h) != 0 {
                self.markout_contrib(now, &MarkoutObs::of(&old, h), h, -1.0);
            }
        }
        if counted {
            let st = self.stamps_mut(old.t_a);
            let delta = new_qty as f64 - old.qty as f64;
            self.each_cell(now, old.lp, old.sym, old.bucket, |c| {
                let w = c.prepare_weights(st);
                c.add_w(ix::QTY_FILLED, w, delta);
            });
        }
        if bust {
            self.marks.get_mut(fslot).busted = true;
            self.counters.busts += 1;
        } else {
            let r = {
                let r = self.marks.get_mut(fslot);
                r.qty = new_qty;
                r.px = new_px;
                *r
            };
            self.fill_contrib(now, &r, 1.0);
            for h in 0..self.marks.horizons().len() {
                if r.resolved & (1 << h) != 0 {
                    self.markout_contrib(now, &MarkoutObs::of(&r, h), h, 1.0);
                }
            }
            self.counters.corrections += 1;
        }
    }
}

/// What a markout at horizon `h` reads of its fill's record: taken from the fill ring's record
/// in place (a copy of the whole [`FillRec`], ~190 bytes, was a `memcpy` call per markout).
#[derive(Debug, Clone, Copy)]
struct MarkoutObs {
    lp: u16,
    sym: u32,
    bucket: u8,
    side: i8,
    px: i64,
    qty: u64,
    bid_a: i64,
    ask_a: i64,
    /// `two_mid[h]`.
    two_mid: i64,
    t_fill: u64,
    stamps: Option<Stamps>,
}

impl MarkoutObs {
    #[inline(always)]
    fn of(r: &FillRec, h: usize) -> Self {
        Self {
            lp: r.lp,
            sym: r.sym,
            bucket: r.bucket,
            side: r.side,
            px: r.px,
            qty: r.qty,
            bid_a: r.bid_a,
            ask_a: r.ask_a,
            two_mid: r.two_mid[h],
            t_fill: r.t_fill,
            stamps: r.stamps,
        }
    }
}

#[cfg(test)]
mod tests;
