//! Fill records and the markout timer queues, driven by event time.
//!
//! Every fill is kept (bounded ring) with what its later figures need: price, quantity, side,
//! arrival quote, cells, and the mid seen at each resolved horizon, so a trade bust or correction
//! can reverse exactly what the fill contributed.
//!
//! The "timer wheel" is one FIFO per horizon: fills arrive in event-time order (the engine's clock
//! is monotonic), so `t_i + tau` is non-decreasing within a horizon and each FIFO is already sorted
//! by deadline. Advancing time pops due entries from the fronts: O(1) per resolution, no sorting,
//! no allocation.

use crate::orders::U64Map;
use crate::orders::map::ring_wrap;

/// At most this many markout horizons.
pub const MAX_HORIZONS: usize = 8;

/// One fill.
#[derive(Debug, Clone, Copy, Default)]
pub struct FillRec {
    /// `(session, ExecID)` key (0 when the slot is empty).
    pub exec_key: u64,
    /// Generation of the slot (stale queue entries are recognised by it).
    pub generation: u32,
    /// Key of the order it belongs to (its ClOrdID at fill time).
    pub order_key: u64,
    /// LP.
    pub lp: u16,
    /// Symbol slot.
    pub sym: u32,
    /// Size bucket.
    pub bucket: u8,
    /// +1 buy, -1 sell.
    pub side: i8,
    /// Fill price, fixed-point.
    pub px: i64,
    /// Fill quantity.
    pub qty: u64,
    /// Arrival bid, fixed-point.
    pub bid_a: i64,
    /// Arrival ask, fixed-point.
    pub ask_a: i64,
    /// Whether the arrival quote anchors price KPIs.
    pub price_ok: bool,
    /// Order arrival time.
    pub t_a: u64,
    /// Fill time.
    pub t_fill: u64,
    /// Bit h set: horizon h resolved (its contribution is in the cells).
    pub resolved: u8,
    /// Reversed by a trade bust.
    pub busted: bool,
    /// `2 * m(t_fill + tau_h)` for resolved horizons.
    pub two_mid: [i64; MAX_HORIZONS],
    /// The decay stamps of `t_fill` (a pure function of it), kept from the fill's own event so
    /// that its markouts, busts and corrections pay no `exp2`; `None`: not known (a record
    /// restored from a snapshot, which does not store them), computed when needed.
    pub stamps: Option<crate::kpi::Stamps>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Due {
    deadline: u64,
    slot: u32,
    generation: u32,
}

#[derive(Debug, Clone)]
struct Fifo {
    buf: Vec<Due>,
    head: usize,
    len: usize,
    /// Entries from the front already handed to [`Markouts::lookahead`]'s first and second
    /// stages (a hint's bookkeeping: never read by anything that changes a result).
    seen: [usize; 2],
}

impl Fifo {
    fn new(cap: usize) -> Self {
        Self {
            buf: vec![Due::default(); cap.max(1)],
            head: 0,
            len: 0,
            seen: [0; 2],
        }
    }
    fn push(&mut self, d: Due) -> Option<Due> {
        let cap = self.buf.len();
        let mut dropped = None;
        if self.len == cap {
            dropped = Some(self.buf[self.head]);
            self.head = ring_wrap(self.head + 1, cap);
            self.len -= 1;
            self.seen = self.seen.map(|x| x.saturating_sub(1));
        }
        self.buf[ring_wrap(self.head + self.len, cap)] = d;
        self.len += 1;
        dropped
    }
    fn front(&self) -> Option<&Due> {
        (self.len > 0).then(|| &self.buf[self.head])
    }
    fn pop(&mut self) -> Option<Due> {
        let d = *self.front()?;
        self.head = ring_wrap(self.head + 1, self.buf.len());
        self.len -= 1;
        self.seen = self.seen.map(|x| x.saturating_sub(1));
        Some(d)
    }
}

/// Fill store plus per-horizon queues.
#[derive(Debug, Clone)]
pub struct Markouts {
    fills: Vec<FillRec>,
    next: usize,
    index: U64Map,
    queues: Vec<Fifo>,
    horizons: Vec<u64>,
    /// Pending markouts dropped because a queue was full (resolved never).
    pub overflow: u64,
    /// Fill records overwritten while markouts were pending.
    pub evicted_pending: u64,
    /// No queue has moved since the last [`Markouts::lookahead`], which then has nothing to
    /// meet (a hint's bookkeeping, like [`Fifo::seen`]; cleared by every push and pop).
    looked: bool,
    /// A lower bound of every queue's front deadline (`u64::MAX`: every queue empty), so that
    /// [`Markouts::next_due`] at an earlier time answers `None` without walking the queues
    /// (most events resolve nothing). Set by a walk that found nothing due, lowered by every
    /// push, and 0 (walk next time) whenever a front leaves otherwise (a due markout handed
    /// out, an overflow dropping the oldest): deadlines need not be in order, so the next front
    /// may be earlier. Derived state: 0 after a restore.
    min_front: u64,
    /// Test switch: `next_due` always walks the queues (the plain path the bound must equal).
    #[cfg(test)]
    pub(crate) bound_off: bool,
}

/// A markout that came due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueMarkout {
    /// Horizon index.
    pub h: usize,
    /// Fill slot.
    pub slot: u32,
}

impl Markouts {
    /// `cap` fills remembered; `horizons` in ns (at most 8); each queue holds `queue_cap` entries.
    pub fn new(cap: usize, horizons: &[u64], queue_cap: usize) -> Self {
        let horizons: Vec<u64> = horizons.iter().copied().take(MAX_HORIZONS).collect();
        Self {
            fills: vec![FillRec::default(); cap.max(1)],
            next: 0,
            index: U64Map::with_capacity(cap.max(1)),
            queues: horizons.iter().map(|_| Fifo::new(queue_cap)).collect(),
            horizons,
            overflow: 0,
            evicted_pending: 0,
            looked: false,
            min_front: 0,
            #[cfg(test)]
            bound_off: false,
        }
    }

    /// The horizons, ns.
    pub fn horizons(&self) -> &[u64] {
        &self.horizons
    }

    /// Records a fill (overwriting the oldest when the ring is full) and, when `schedule`, queues
    /// its markouts. Returns its slot.
    pub fn add(&mut self, mut rec: FillRec, schedule: bool) -> u32 {
        let slot = self.next;
        self.next = ring_wrap(self.next + 1, self.fills.len());
        let old = self.fills[slot];
        if old.exec_key != 0 {
            if self.index.get(old.exec_key) == Some(slot as u32) {
                self.index.remove(old.exec_key);
            }
            if old.price_ok && !old.busted && old.resolved.count_ones() < self.horizons.len() as u32
            {
                self.evicted_pending += 1;
            }
        }
        rec.generation = old.generation.wrapping_add(1);
        rec.resolved = 0;
        rec.busted = false;
        self.fills[slot] = rec;
        let _ = self.index.insert(rec.exec_key, slot as u32);
        if schedule {
            self.looked = false;
            for (h, q) in self.queues.iter_mut().enumerate() {
                let d = Due {
                    deadline: rec.t_fill.saturating_add(self.horizons[h]),
                    slot: slot as u32,
                    generation: rec.generation,
                };
                self.min_front = self.min_front.min(d.deadline);
                if q.push(d).is_some() {
                    self.overflow += 1;
                    // The front was dropped: the next one may be due earlier (deadlines need
                    // not be in order). Rare: the next call walks.
                    self.min_front = 0;
                }
            }
        }
        slot as u32
    }

    /// Asks for the lines [`Markouts::add`] of a fill with ExecID key `exec_key` will touch: its
    /// index slot, the index slot of the record it overwrites (whose ExecID is read here: its
    /// lines were asked for by the previous call, see next) and the ring slot after it, which
    /// the next fill takes. A hint.
    #[inline]
    pub fn prefetch_add(&self, exec_key: u64) {
        self.index.prefetch(exec_key);
        let old = &self.fills[self.next];
        if old.exec_key != 0 {
            self.index.prefetch(old.exec_key);
        }
        let after = ring_wrap(self.next + 1, self.fills.len());
        crate::prefetch::lines_of(&self.fills[after]);
    }

    /// Lookahead over the pending markouts (a hint, for prefetching), three stages deep: the
    /// record lines of each queued entry are asked for when it comes within `3 * ahead` entries
    /// of its queue's front, `f(h, record, false)` is called once for it within `2 * ahead`
    /// (for the lines the record leads to), and `f(h, record, true)` once within `ahead` (for
    /// the lines those lead to). The record may be stale (overwritten or busted since). The
    /// queues resolve in order, so the entries met here are the next ones to resolve.
    #[inline]
    pub fn lookahead(&mut self, ahead: usize, mut f: impl FnMut(usize, &FillRec, bool)) {
        // Nothing pushed or popped since the last call: every queue's window is as that call
        // left it, already met (the loops below would not run).
        if self.looked {
            return;
        }
        self.looked = true;
        for (h, q) in self.queues.iter_mut().enumerate() {
            let cap = q.buf.len();
            let stop = (2 * ahead).min(q.len);
            while q.seen[0] < stop {
                let far = q.seen[0] + ahead;
                if far < q.len {
                    let slot = q.buf[ring_wrap(q.head + far, cap)].slot as usize;
                    if let Some(r) = self.fills.get(slot) {
                        crate::prefetch::lines_of(r);
                    }
                }
                let slot = q.buf[ring_wrap(q.head + q.seen[0], cap)].slot as usize;
                if let Some(r) = self.fills.get(slot) {
                    f(h, r, false);
                }
                q.seen[0] += 1;
            }
            let stop = ahead.min(q.len);
            while q.seen[1] < stop {
                let slot = q.buf[ring_wrap(q.head + q.seen[1], cap)].slot as usize;
                if let Some(r) = self.fills.get(slot) {
                    f(h, r, true);
                }
                q.seen[1] += 1;
            }
        }
    }

    /// The fill named by an ExecID key (for busts and corrections).
    pub fn find(&self, exec_key: u64) -> Option<u32> {
        self.index.get(exec_key)
    }

    /// The fill in `slot`.
    pub fn get(&self, slot: u32) -> &FillRec {
        &self.fills[slot as usize]
    }
    /// The fill in `slot`, mutably.
    pub fn get_mut(&mut self, slot: u32) -> &mut FillRec {
        &mut self.fills[slot as usize]
    }

    /// The next markout whose deadline is strictly before `now` (the mid at the deadline is the
    /// last one at or before it, so a quote stamped exactly at the deadline still counts).
    /// Entries whose fill was overwritten or busted are skipped.
    #[inline]
    pub fn next_due(&mut self, now: u64) -> Option<DueMarkout> {
        // Every front is at or after the bound: none is due.
        #[cfg(test)]
        let bound_off = self.bound_off;
        #[cfg(not(test))]
        let bound_off = false;
        if self.min_front >= now && !bound_off {
            return None;
        }
        let mut min_front = u64::MAX;
        for h in 0..self.queues.len() {
            while let Some(d) = self.queues[h].front().copied() {
                if d.deadline >= now {
                    min_front = min_front.min(d.deadline);
                    break;
                }
                self.queues[h].pop();
                self.looked = false;
                let f = &self.fills[d.slot as usize];
                if f.generation != d.generation || f.busted {
                    continue;
                }
                // The popped front's successor may be due earlier than the bound: the next
                // call walks (the engine calls again at the same time until `None` anyway).
                self.min_front = 0;
                return Some(DueMarkout { h, slot: d.slot });
            }
        }
        // Nothing due: every front was met (or its queue is empty).
        self.min_front = min_front;
        None
    }

    /// Pending entries (all horizons).
    pub fn pending(&self) -> usize {
        self.queues.iter().map(|q| q.len).sum()
    }
}

// ---- snapshots (lpscore::journal::snapshot): the fill ring, its index and the pending queues.
use crate::journal::codec::{Dec, DecodeError, Enc};

fn put_fill(e: &mut Enc, f: &FillRec) {
    e.u64(f.exec_key);
    e.u32(f.generation);
    e.u64(f.order_key);
    e.u16(f.lp);
    e.u32(f.sym);
    e.u8(f.bucket);
    e.i8(f.side);
    e.i64(f.px);
    e.u64(f.qty);
    e.i64(f.bid_a);
    e.i64(f.ask_a);
    e.bool(f.price_ok);
    e.u64(f.t_a);
    e.u64(f.t_fill);
    e.u8(f.resolved);
    e.bool(f.busted);
    for m in f.two_mid {
        e.i64(m);
    }
}

fn get_fill(d: &mut Dec<'_>, f: &mut FillRec) -> Result<(), DecodeError> {
    // Not in snapshots: found again when needed.
    f.stamps = None;
    f.exec_key = d.u64()?;
    f.generation = d.u32()?;
    f.order_key = d.u64()?;
    f.lp = d.u16()?;
    f.sym = d.u32()?;
    f.bucket = d.u8()?;
    f.side = d.i8()?;
    f.px = d.i64()?;
    f.qty = d.u64()?;
    f.bid_a = d.i64()?;
    f.ask_a = d.i64()?;
    f.price_ok = d.bool()?;
    f.t_a = d.u64()?;
    f.t_fill = d.u64()?;
    f.resolved = d.u8()?;
    f.busted = d.bool()?;
    for m in f.two_mid.iter_mut() {
        *m = d.i64()?;
    }
    Ok(())
}

impl Markouts {
    /// Writes the fills, the ring position, the index, and each horizon's pending entries.
    pub fn snap_write(&self, e: &mut Enc) {
        e.tag(b"MRKO");
        e.usize(self.next);
        e.u64(self.overflow);
        e.u64(self.evicted_pending);
        e.usize(self.horizons.len());
        for &h in &self.horizons {
            e.u64(h);
        }
        e.sparse(
            &self.fills,
            |f| f.exec_key != 0 || f.generation != 0,
            put_fill,
        );
        self.index.snap_write(e);
        for q in &self.queues {
            e.usize(q.buf.len());
            e.usize(q.head);
            e.usize(q.len);
            // Only the live entries (the rest are never read).
            for k in 0..q.len {
                let d = q.buf[(q.head + k) % q.buf.len()];
                e.u64(d.deadline);
                e.u32(d.slot);
                e.u32(d.generation);
            }
        }
    }

    /// Restores what [`Markouts::snap_write`] wrote into queues of the same configuration.
    pub fn snap_read(&mut self, d: &mut Dec<'_>) -> Result<(), DecodeError> {
        d.tag(b"MRKO", "markout section missing")?;
        self.min_front = 0;
        let cap = self.fills.len();
        self.next = d.index(cap)?;
        self.overflow = d.u64()?;
        self.evicted_pending = d.u64()?;
        let nh = d.len(MAX_HORIZONS)?;
        d.check(
            nh == self.horizons.len(),
            "markout horizons differ from the configuration's",
        )?;
        for i in 0..nh {
            let h = d.u64()?;
            d.check(
                h == self.horizons[i],
                "markout horizons differ from the configuration's",
            )?;
        }
        d.sparse(&mut self.fills, |f| *f = FillRec::default(), get_fill)?;
        self.index.snap_read(d)?;
        for q in self.queues.iter_mut() {
            let qcap = d.usize()?;
            d.check(
                qcap == q.buf.len(),
                "markout queue size differs from the configuration's",
            )?;
            q.head = d.index(qcap)?;
            q.len = d.len(qcap)?;
            q.seen = [0; 2];
            self.looked = false;
            q.buf.iter_mut().for_each(|x| *x = Due::default());
            for k in 0..q.len {
                let due = Due {
                    deadline: d.u64()?,
                    slot: d.u32()?,
                    generation: d.u32()?,
                };
                d.check((due.slot as usize) < cap, "markout slot out of range")?;
                q.buf[(q.head + k) % qcap] = due;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(key: u64, t: u64) -> FillRec {
        FillRec {
            exec_key: key,
            t_fill: t,
            price_ok: true,
            qty: 1,
            ..Default::default()
        }
    }

    #[test]
    fn lookahead_meets_each_pending_entry_once_per_stage_in_order() {
        let mut m = Markouts::new(16, &[100, 1_000], 16);
        for k in 1..=6 {
            m.add(rec(k, 10 * k), true);
        }
        let mut seen = Vec::new();
        m.lookahead(2, |h, r, cells| seen.push((h, r.exec_key, cells)));
        // Stage one within 4 entries of the front, stage two within 2, per horizon.
        let want = |h| {
            vec![
                (h, 1, false),
                (h, 2, false),
                (h, 3, false),
                (h, 4, false),
                (h, 1, true),
                (h, 2, true),
            ]
        };
        assert_eq!(seen, [want(0), want(1)].concat());
        seen.clear();
        m.lookahead(2, |h, r, cells| seen.push((h, r.exec_key, cells)));
        assert!(seen.is_empty(), "nothing met twice: {seen:?}");
        // Two entries of horizon 0 resolve: the window moves by two.
        assert!(m.next_due(125).is_some() && m.next_due(125).is_some());
        assert_eq!(m.next_due(125), None);
        m.lookahead(2, |h, r, cells| seen.push((h, r.exec_key, cells)));
        assert_eq!(
            seen,
            [(0, 5, false), (0, 6, false), (0, 3, true), (0, 4, true)]
        );
        // Hints only: the queues are as they were.
        assert_eq!(m.pending(), 10);
    }

    #[test]
    fn lookahead_skips_only_when_no_queue_moved() {
        // The skip (nothing pushed or popped since the last lookahead) must not hide an entry
        // that a push, a pop or a snapshot restore brought into a window.
        let mut m = Markouts::new(16, &[100], 16);
        let mut seen = Vec::new();
        let mut look = |m: &mut Markouts| {
            seen.clear();
            m.lookahead(1, |_, r, cells| seen.push((r.exec_key, cells)));
            seen.clone()
        };
        m.add(rec(1, 10), true);
        assert_eq!(look(&mut m), [(1, false), (1, true)]);
        assert_eq!(look(&mut m), []);
        // A push: entry 2 enters the first stage's window (2 entries deep).
        m.add(rec(2, 20), true);
        assert_eq!(look(&mut m), [(2, false)]);
        // A fill with no markouts moves no queue.
        m.add(rec(3, 30), false);
        assert_eq!(look(&mut m), []);
        // A pop: entry 2 reaches the second stage.
        assert!(m.next_due(115).is_some());
        assert_eq!(look(&mut m), [(2, true)]);
        // A restored copy meets its pending entries again.
        let mut e = Enc::new();
        m.snap_write(&mut e);
        let mut r = Markouts::new(16, &[100], 16);
        r.snap_read(&mut Dec::new(&e.buf)).unwrap();
        assert_eq!(look(&mut r), [(2, false), (2, true)]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// A fill at this time (scheduled or not).
        Add(u64, bool),
        /// `next_due` until `None`, at this time (relative: it may go back).
        Due(u64),
        /// One `next_due` call (a due markout may be left for later).
        DueOnce(u64),
        Bust,
        Restore,
    }

    proptest! {
        /// `next_due` with the front bound answers as the plain walk over the queues, call by
        /// call: fills in and out of time order (deadlines out of order in a queue), unscheduled
        /// fills, full queues (overflow), overwritten and busted fills, times going back, due
        /// markouts left for a later call, snapshot restores.
        #[test]
        fn front_bound_changes_no_due_markout(
            ops in proptest::collection::vec(
                prop_oneof![
                    4 => (0u64..400, proptest::bool::weighted(0.8)).prop_map(|(t, s)| Op::Add(t, s)),
                    4 => (0u64..1_500).prop_map(Op::Due),
                    2 => (0u64..1_500).prop_map(Op::DueOnce),
                    1 => Just(Op::Bust),
                    1 => Just(Op::Restore),
                ],
                1..120,
            ),
        ) {
            let horizons = [100, 30, 1_000];
            let mut fast = Markouts::new(6, &horizons, 5);
            let mut plain = Markouts::new(6, &horizons, 5);
            plain.bound_off = true;
            let mut key = 0;
            let mut base = 0;
            for op in &ops {
                match *op {
                    Op::Add(t, s) => {
                        key += 1;
                        let a = fast.add(rec(key, base + t), s);
                        let b = plain.add(rec(key, base + t), s);
                        prop_assert_eq!(a, b);
                        base += t / 4;
                    }
                    Op::Due(t) => loop {
                        let t = (base + t).saturating_sub(400);
                        let (a, b) = (fast.next_due(t), plain.next_due(t));
                        prop_assert_eq!(a, b);
                        if a.is_none() {
                            break;
                        }
                    },
                    Op::DueOnce(t) => {
                        let t = (base + t).saturating_sub(400);
                        prop_assert_eq!(fast.next_due(t), plain.next_due(t));
                    }
                    Op::Bust => {
                        if key > 0 {
                            if let Some(slot) = fast.find(key) {
                                fast.get_mut(slot).busted = true;
                                plain.get_mut(slot).busted = true;
                            }
                        }
                    }
                    Op::Restore => {
                        let mut e = Enc::new();
                        fast.snap_write(&mut e);
                        let mut r = Markouts::new(6, &horizons, 5);
                        r.snap_read(&mut Dec::new(&e.buf)).unwrap();
                        prop_assert_eq!(r.min_front, 0);
                        fast = r;
                    }
                }
                prop_assert_eq!(fast.pending(), plain.pending());
            }
        }
    }

    /// The bound is used: an event before every deadline walks nothing.
    #[test]
    fn front_bound_skips_only_before_every_deadline() {
        let mut m = Markouts::new(8, &[100, 1_000], 8);
        m.add(rec(1, 0), true);
        assert_eq!(m.min_front, 0);
        assert_eq!(m.next_due(50), None);
        assert_eq!(m.min_front, 100);
        m.add(rec(2, 20), true);
        assert_eq!(m.min_front, 100);
        assert!(m.next_due(101).is_some());
        assert_eq!(m.next_due(101), None);
        assert_eq!(m.min_front, 120);
    }

    #[test]
    fn due_in_deadline_order_per_horizon() {
        let mut m = Markouts::new(8, &[100, 1_000], 8);
        let a = m.add(rec(1, 0), true);
        let b = m.add(rec(2, 50), true);
        assert_eq!(m.next_due(100), None); // deadline 100 is not strictly before 100
        assert_eq!(m.next_due(101), Some(DueMarkout { h: 0, slot: a }));
        assert_eq!(m.next_due(101), None);
        assert_eq!(m.next_due(151), Some(DueMarkout { h: 0, slot: b }));
        assert_eq!(m.next_due(2_000), Some(DueMarkout { h: 1, slot: a }));
        assert_eq!(m.next_due(2_000), Some(DueMarkout { h: 1, slot: b }));
        assert_eq!(m.next_due(2_000), None);
        assert_eq!(m.find(2), Some(b));
    }

    #[test]
    fn busted_and_overwritten_are_skipped() {
        let mut m = Markouts::new(2, &[10], 8);
        let a = m.add(rec(1, 0), true);
        m.get_mut(a).busted = true;
        m.add(rec(2, 1), true);
        m.add(rec(3, 2), true); // overwrites slot of fill 1
        assert_eq!(m.find(1), None);
        let d = m.next_due(100).unwrap();
        assert_eq!(m.get(d.slot).exec_key, 2);
        let d = m.next_due(100).unwrap();
        assert_eq!(m.get(d.slot).exec_key, 3);
        assert_eq!(m.next_due(100), None);
        // queue overflow is counted
        let mut m = Markouts::new(8, &[10], 1);
        m.add(rec(1, 0), true);
        m.add(rec(2, 0), true);
        assert_eq!(m.overflow, 1);
        assert_eq!(m.pending(), 1);
    }
}
