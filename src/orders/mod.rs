//! Child orders: the open-order table, the state machine, id interning and de-duplication.
//!
//! Orders are keyed by `(session, ClOrdID)` hashed to a `u64` ([`order_key`]); the table is a slab
//! preallocated to the configured capacity plus an open-addressing index, so steady-state
//! processing allocates nothing. Orders are kept on two intrusive FIFO lists: open orders in
//! arrival order (the oldest is expired when the table is full) and ended orders in the order they
//! ended (retired once they have lingered long enough to absorb late fills, busts and the reports
//! of cancel races).
pub mod map;
pub mod names;
pub mod state;

pub use map::{DedupSet, MapFull, U64Map, id_hash};
pub use names::{LpResolution, LpResolver, Name, NameTable};
pub use state::{InvalidTransition, Oddity, OrderEvent, OrderState, Transition, transition};

/// No LP resolved (yet) for the order.
pub const NO_LP: u16 = u16::MAX;
/// No size bucket (the order's notional is unknown).
pub const NO_BUCKET: u8 = u8::MAX;
const NIL: u32 = u32::MAX;

/// The key of an order: `(session, ClOrdID)` hashed.
#[inline]
pub fn order_key(session: u32, cl_ord_id: &[u8]) -> u64 {
    id_hash(u64::from(session) | 0x1_0000_0000, cl_ord_id)
}

/// The key of an execution: `(session, ExecID)` hashed.
#[inline]
pub fn exec_key(session: u32, exec_id: &[u8]) -> u64 {
    id_hash(u64::from(session) | 0x2_0000_0000, exec_id)
}

/// One child order.
#[derive(Debug, Clone, Copy)]
pub struct Order {
    /// Current ClOrdID key.
    pub key: u64,
    /// Previous ClOrdID key of a replace chain (late reports may still name it), or 0.
    pub alias: u64,
    /// State.
    pub state: OrderState,
    /// LP index, or [`NO_LP`].
    pub lp: u16,
    /// Symbol slot.
    pub sym: u32,
    /// Size bucket, or [`NO_BUCKET`].
    pub bucket: u8,
    /// +1 buy, -1 sell.
    pub side: i8,
    /// OrdType (40) as its FIX character.
    pub ord_type: u8,
    /// TimeInForce (59) as its FIX character.
    pub tif: u8,
    /// Order quantity (after replaces).
    pub qty: u64,
    /// Limit price, fixed-point 1e8 (0 for market orders).
    pub limit: i64,
    /// NBBO at arrival, fixed-point 1e8 (valid when `price_ok`).
    pub bid_a: i64,
    /// See `bid_a`.
    pub ask_a: i64,
    /// Whether the arrival NBBO is usable for price KPIs.
    pub price_ok: bool,
    /// Arrival time, ns.
    pub t_a: u64,
    /// First execution report (ack latency), 0 if none yet.
    pub t_ack: u64,
    /// First fill, 0 if none yet.
    pub t_first_fill: u64,
    /// When the order ended, 0 while open.
    pub t_end: u64,
    /// Cumulative filled quantity.
    pub cum_qty: u64,
    /// The fill-rate / reject-rate accounting was done (at the terminal transition).
    pub counted: bool,
    prev: u32,
    next: u32,
    on_end_list: bool,
}

impl Order {
    /// A new order in `PendingNew`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(key: u64, lp: u16, sym: u32, bucket: u8, side: i8, qty: u64, t_a: u64) -> Self {
        Self {
            key,
            alias: 0,
            state: OrderState::PendingNew,
            lp,
            sym,
            bucket,
            side,
            ord_type: b'2',
            tif: b'0',
            qty,
            limit: 0,
            bid_a: 0,
            ask_a: 0,
            price_ok: false,
            t_a,
            t_ack: 0,
            t_first_fill: 0,
            t_end: 0,
            cum_qty: 0,
            counted: false,
            prev: NIL,
            next: NIL,
            on_end_list: false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
    len: usize,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        len: 0,
    };
}

/// Outcome of [`OrderTable::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertError {
    /// The table is full of orders (the caller evicts the oldest and retries).
    Full,
    /// An order with this key already exists (a duplicate NewOrderSingle).
    Duplicate,
}

/// Slab of orders plus the `(session, ClOrdID)` index and the open / ended FIFO lists.
#[derive(Debug, Clone)]
pub struct OrderTable {
    slots: Vec<Order>,
    free: Vec<u32>,
    index: U64Map,
    open: List,
    ended: List,
}

impl OrderTable {
    /// Room for `cap` orders (open or lingering). Allocates everything now.
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        let blank = Order::new(0, NO_LP, 0, NO_BUCKET, 1, 0, 0);
        Self {
            slots: vec![blank; cap],
            free: (0..cap as u32).rev().collect(),
            // keys and replace aliases
            index: U64Map::with_capacity(cap * 2),
            open: List::EMPTY,
            ended: List::EMPTY,
        }
    }

    /// Orders held (open plus lingering).
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }
    /// Whether no order is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Open orders.
    pub fn open_len(&self) -> usize {
        self.open.len
    }
    /// Capacity.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Slot of the order with key `key` (its ClOrdID, or the previous one of a replace chain).
    #[inline]
    pub fn find(&self, key: u64) -> Option<u32> {
        self.index.get(key)
    }

    /// Asks for the index line a [`OrderTable::find`] of `key` reads first. A hint.
    #[inline]
    pub fn prefetch_key(&self, key: u64) {
        self.index.prefetch(key);
    }

    /// Asks for the records an [`OrderTable::set_state`] moving `slot` between the lists
    /// touches besides its own: its neighbours on its list. A hint.
    #[inline]
    pub fn prefetch_links(&self, slot: u32) {
        let o = &self.slots[slot as usize];
        for n in [o.prev, o.next] {
            if let Some(p) = self.slots.get(n as usize) {
                crate::prefetch::line(p);
            }
        }
    }

    /// Asks for what the next [`OrderTable::retire`] of the oldest ended order touches: the
    /// index slot of its key and the record after it (whose own slot is asked for at the next
    /// call: a chain one order ahead). A hint.
    #[inline]
    pub fn prefetch_retire(&self) {
        let Some(o) = self.slots.get(self.ended.head as usize) else {
            return;
        };
        self.index.prefetch(o.key);
        if let Some(n) = self.slots.get(o.next as usize) {
            crate::prefetch::line(n);
        }
    }

    /// The order in `slot`.
    #[inline]
    pub fn get(&self, slot: u32) -> &Order {
        &self.slots[slot as usize]
    }
    /// The order in `slot`, mutably. Do not change `state` to a terminal one directly: use
    /// [`OrderTable::set_state`] so the lists stay right.
    #[inline]
    pub fn get_mut(&mut self, slot: u32) -> &mut Order {
        &mut self.slots[slot as usize]
    }

    /// Adds an order (state `PendingNew`, put on the open list).
    pub fn insert(&mut self, order: Order) -> Result<u32, InsertError> {
        if self.index.get(order.key).is_some() {
            return Err(InsertError::Duplicate);
        }
        let Some(slot) = self.free.pop() else {
            return Err(InsertError::Full);
        };
        if self.index.insert(order.key, slot).is_err() {
            self.free.push(slot);
            return Err(InsertError::Full);
        }
        let mut o = order;
        o.prev = NIL;
        o.next = NIL;
        o.on_end_list = false;
        self.slots[slot as usize] = o;
        let on_end = o.state.is_terminal();
        self.push_back(slot, on_end);
        Ok(slot)
    }

    /// Re-keys an order after a replace: the new ClOrdID becomes its key, the old one stays as an
    /// alias for late reports (the alias before it is dropped).
    pub fn rekey(&mut self, slot: u32, new_key: u64) -> Result<(), MapFull> {
        let (old, old_alias) = {
            let o = &self.slots[slot as usize];
            (o.key, o.alias)
        };
        if old == new_key {
            return Ok(());
        }
        self.index.insert(new_key, slot)?;
        if old_alias != 0 && old_alias != new_key {
            self.index.remove(old_alias);
        }
        let o = &mut self.slots[slot as usize];
        o.alias = old;
        o.key = new_key;
        Ok(())
    }

    /// Sets the state; moves the order to the ended list (stamped `now`) when it becomes terminal
    /// and back to the open list when a bust re-opens it.
    #[inline(always)]
    pub fn set_state(&mut self, slot: u32, next: OrderState, now: u64) {
        let (was_end, is_end) = {
            let o = &self.slots[slot as usize];
            (o.on_end_list, next.is_terminal())
        };
        self.slots[slot as usize].state = next;
        if was_end != is_end {
            self.unlink(slot);
            if is_end {
                self.slots[slot as usize].t_end = now;
            } else {
                self.slots[slot as usize].t_end = 0;
            }
            self.push_back(slot, is_end);
        }
    }

    /// The oldest open order.
    pub fn oldest_open(&self) -> Option<u32> {
        (self.open.head != NIL).then_some(self.open.head)
    }
    /// The order that ended longest ago.
    pub fn oldest_ended(&self) -> Option<u32> {
        (self.ended.head != NIL).then_some(self.ended.head)
    }

    /// Removes the order and its keys.
    pub fn retire(&mut self, slot: u32) {
        let (key, alias) = {
            let o = &self.slots[slot as usize];
            (o.key, o.alias)
        };
        self.unlink(slot);
        self.index.remove(key);
        if alias != 0 && self.index.get(alias) == Some(slot) {
            self.index.remove(alias);
        }
        self.slots[slot as usize].key = 0;
        self.free.push(slot);
    }

    fn list(&mut self, end: bool) -> &mut List {
        if end { &mut self.ended } else { &mut self.open }
    }

    fn push_back(&mut self, slot: u32, end: bool) {
        let tail = self.list(end).tail;
        {
            let o = &mut self.slots[slot as usize];
            o.prev = tail;
            o.next = NIL;
            o.on_end_list = end;
        }
        if tail != NIL {
            self.slots[tail as usize].next = slot;
        }
        let l = self.list(end);
        if l.head == NIL {
            l.head = slot;
        }
        l.tail = slot;
        l.len += 1;
    }

    #[inline(always)]
    fn unlink(&mut self, slot: u32) {
        let (prev, next, end) = {
            let o = &self.slots[slot as usize];
            (o.prev, o.next, o.on_end_list)
        };
        if prev != NIL {
            self.slots[prev as usize].next = next;
        } else {
            self.list(end).head = next;
        }
        if next != NIL {
            self.slots[next as usize].prev = prev;
        } else {
            self.list(end).tail = prev;
        }
        let l = self.list(end);
        l.len -= 1;
        let o = &mut self.slots[slot as usize];
        o.prev = NIL;
        o.next = NIL;
    }
}

// ---- snapshots (lpscore::journal::snapshot): slab, free list, index and both lists, exactly.
use crate::journal::codec::{Dec, DecodeError, Enc};

fn state_code(s: OrderState) -> u8 {
    OrderState::ALL.iter().position(|x| *x == s).unwrap_or(0) as u8
}

fn put_order(e: &mut Enc, o: &Order) {
    e.u64(o.key);
    e.u64(o.alias);
    e.u8(state_code(o.state));
    e.u16(o.lp);
    e.u32(o.sym);
    e.u8(o.bucket);
    e.i8(o.side);
    e.u8(o.ord_type);
    e.u8(o.tif);
    e.u64(o.qty);
    e.i64(o.limit);
    e.i64(o.bid_a);
    e.i64(o.ask_a);
    e.bool(o.price_ok);
    e.u64(o.t_a);
    e.u64(o.t_ack);
    e.u64(o.t_first_fill);
    e.u64(o.t_end);
    e.u64(o.cum_qty);
    e.bool(o.counted);
    e.u32(o.prev);
    e.u32(o.next);
    e.bool(o.on_end_list);
}

fn get_order(d: &mut Dec<'_>, o: &mut Order) -> Result<(), DecodeError> {
    o.key = d.u64()?;
    o.alias = d.u64()?;
    let s = d.u8()? as usize;
    o.state = *OrderState::ALL
        .get(s)
        .ok_or_else(|| d.err("unknown order state"))?;
    o.lp = d.u16()?;
    o.sym = d.u32()?;
    o.bucket = d.u8()?;
    o.side = d.i8()?;
    o.ord_type = d.u8()?;
    o.tif = d.u8()?;
    o.qty = d.u64()?;
    o.limit = d.i64()?;
    o.bid_a = d.i64()?;
    o.ask_a = d.i64()?;
    o.price_ok = d.bool()?;
    o.t_a = d.u64()?;
    o.t_ack = d.u64()?;
    o.t_first_fill = d.u64()?;
    o.t_end = d.u64()?;
    o.cum_qty = d.u64()?;
    o.counted = d.bool()?;
    o.prev = d.u32()?;
    o.next = d.u32()?;
    o.on_end_list = d.bool()?;
    Ok(())
}

impl OrderTable {
    /// Writes the live slots, the free list (its order decides future slots), the index and
    /// both lists.
    pub fn snap_write(&self, e: &mut Enc) {
        e.tag(b"ORDS");
        e.sparse(&self.slots, |o| o.key != 0, put_order);
        e.usize(self.free.len());
        for &f in &self.free {
            e.u32(f);
        }
        self.index.snap_write(e);
        for l in [self.open, self.ended] {
            e.u32(l.head);
            e.u32(l.tail);
            e.usize(l.len);
        }
    }

    /// Restores what [`OrderTable::snap_write`] wrote into a table of the same capacity.
    pub fn snap_read(&mut self, d: &mut Dec<'_>) -> Result<(), DecodeError> {
        d.tag(b"ORDS", "order table section missing")?;
        let blank = Order::new(0, NO_LP, 0, NO_BUCKET, 1, 0, 0);
        d.sparse(&mut self.slots, |o| *o = blank, get_order)?;
        let cap = self.slots.len();
        let n = d.len(cap)?;
        self.free.clear();
        for _ in 0..n {
            let f = d.u32()?;
            d.check((f as usize) < cap, "free slot out of range")?;
            self.free.push(f);
        }
        self.index.snap_read(d)?;
        let link_ok = |x: u32| x == NIL || (x as usize) < cap;
        for end in [false, true] {
            let head = d.u32()?;
            let tail = d.u32()?;
            let len = d.len(cap)?;
            d.check(
                link_ok(head) && link_ok(tail),
                "order list link out of range",
            )?;
            *self.list(end) = List { head, tail, len };
        }
        // Every link inside the slab must stay in range (a damaged one would index out of it).
        let bad = self
            .slots
            .iter()
            .any(|o| o.key != 0 && (!link_ok(o.prev) || !link_ok(o.next)));
        d.check(!bad, "order link out of range")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ord(key: u64) -> Order {
        Order::new(key, 0, 0, 0, 1, 100, 0)
    }

    #[test]
    fn lists_and_retirement() {
        let mut t = OrderTable::new(3);
        let a = t.insert(ord(11)).unwrap();
        let b = t.insert(ord(12)).unwrap();
        let c = t.insert(ord(13)).unwrap();
        assert_eq!(t.insert(ord(14)), Err(InsertError::Full));
        assert_eq!(t.insert(ord(11)), Err(InsertError::Duplicate));
        assert_eq!(t.oldest_open(), Some(a));
        t.set_state(b, OrderState::Filled, 50);
        assert_eq!(t.oldest_ended(), Some(b));
        assert_eq!(t.get(b).t_end, 50);
        assert_eq!(t.open_len(), 2);
        t.set_state(a, OrderState::Canceled, 60);
        assert_eq!(t.oldest_open(), Some(c));
        assert_eq!(t.oldest_ended(), Some(b));
        t.retire(b);
        assert_eq!(t.oldest_ended(), Some(a));
        assert_eq!(t.find(12), None);
        let d = t.insert(ord(14)).unwrap();
        assert_eq!(t.find(14), Some(d));
        // a bust re-opens a filled order: back on the open list
        t.set_state(a, OrderState::PartiallyFilled, 70);
        assert_eq!(t.oldest_ended(), None);
        assert_eq!(t.open_len(), 3);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn rekey_keeps_one_alias() {
        let mut t = OrderTable::new(2);
        let a = t.insert(ord(1)).unwrap();
        t.rekey(a, 2).unwrap();
        assert_eq!((t.find(1), t.find(2)), (Some(a), Some(a)));
        t.rekey(a, 3).unwrap();
        assert_eq!((t.find(1), t.find(2), t.find(3)), (None, Some(a), Some(a)));
        t.retire(a);
        assert_eq!((t.find(2), t.find(3)), (None, None));
        assert!(t.is_empty());
    }
}
