//! The thin adapter from raw FIX messages (the `fix` codec's typed views) to engine events.
//!
//! `FixFeed::on_fix(ts, session, bytes)` frames and parses one message, maps it to an [`Event`]
//! and feeds the engine. Quantities are the codec's fixed-point `Qty` truncated to whole units;
//! prices are the codec's fixed-point `Price` (same 1e8 scale as the engine). Market data:
//! a snapshot (W) sets the symbol's best bid and offer from its entries; an incremental refresh
//! (X) treats each New/Change bid or offer entry as the new top of that side (an NBBO feed).
use crate::fix::{
    ExecType, Frame, FramerConfig, MdEntries, MdEntryType, MdUpdateAction, Message, ParseError,
    Parser, Price, SCALE, Typed,
};

use super::event::{
    BusinessReject, CancelReject, CancelRequest, Event, ExecReport, NewOrder, Quote,
};
use super::{Engine, Keys};
use crate::orders::{exec_key, order_key};
use crate::publish::RowSink;

/// Counts of messages the adapter did not hand to the engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedCounters {
    /// Messages that failed framing or parsing.
    pub parse_errors: u64,
    /// Valid messages the engine has no use for (session level, order-status reports, ...).
    pub ignored: u64,
}

/// Messages [`FixFeed::on_fix_batch`] parses before applying the first of them.
pub const BATCH_AHEAD: usize = 4;

/// Raw FIX in, engine events out.
#[derive(Debug)]
pub struct FixFeed<S: RowSink> {
    parser: Parser,
    /// One parser per message of a [`FixFeed::on_fix_batch`] group (each view borrows its own).
    ahead: Box<[Parser; BATCH_AHEAD]>,
    /// The engine.
    pub engine: Engine<S>,
    /// Tags carrying the NBBO stamped on NewOrderSingles (bid, ask), if configured.
    pub nbbo_tags: Option<(u32, u32)>,
    /// Counters.
    pub counters: FeedCounters,
}

#[inline]
fn units(q: i64) -> u64 {
    if q <= 0 { 0 } else { (q / SCALE) as u64 }
}

#[inline]
fn exec_byte(k: ExecType) -> Option<u8> {
    Some(match k {
        ExecType::New => b'0',
        ExecType::Trade | ExecType::PartialFill | ExecType::Fill => b'F',
        ExecType::Canceled => b'4',
        ExecType::Rejected => b'8',
        ExecType::Expired => b'C',
        ExecType::DoneForDay => b'3',
        ExecType::Replaced => b'5',
        ExecType::TradeCancel => b'H',
        ExecType::TradeCorrect => b'G',
        _ => return None,
    })
}

/// Best bid and offer among snapshot entries (0 when a side is absent).
fn top_of(entries: &MdEntries<'_>) -> (i64, i64) {
    let (mut bid, mut ask) = (0i64, 0i64);
    for e in entries.iter().flatten() {
        let Some(Price(p)) = e.px else { continue };
        match e.entry_type {
            Some(MdEntryType::Bid) if p > bid => bid = p,
            Some(MdEntryType::Offer) if ask == 0 || p < ask => ask = p,
            _ => {}
        }
    }
    (bid, ask)
}

impl<S: RowSink> FixFeed<S> {
    /// Wraps an engine.
    pub fn new(engine: Engine<S>) -> Self {
        Self {
            parser: Parser::new(FramerConfig::default()),
            ahead: Box::new(core::array::from_fn(|_| {
                Parser::new(FramerConfig::default())
            })),
            engine,
            nbbo_tags: None,
            counters: FeedCounters::default(),
        }
    }

    /// One complete FIX message captured at `ts_ns` on `session` (framed and checked here).
    pub fn on_fix(&mut self, ts_ns: u64, session: u32, bytes: &[u8]) -> Result<(), ParseError> {
        let r = self.parser.parse(bytes).and_then(|m| {
            dispatch(
                &mut self.engine,
                &mut self.counters,
                self.nbbo_tags,
                ts_ns,
                session,
                &m,
            )
        });
        if r.is_err() {
            self.counters.parse_errors += 1;
        }
        r
    }

    /// Complete FIX messages `(capture ts_ns, session, bytes)`, applied in order with exactly the
    /// results of one [`FixFeed::on_fix`] per message (same rows, same counters), faster: each
    /// group of [`BATCH_AHEAD`] messages is parsed first, and the order, ExecID and cell lines
    /// each will need are asked for (prefetched) before the first is applied, so that the cache
    /// misses of several messages overlap instead of following each other. Returns the number of
    /// messages that failed framing or parsing (counted in `counters.parse_errors`, as
    /// `on_fix` does; the others are applied).
    pub fn on_fix_batch(&mut self, msgs: &[(u64, u32, &[u8])]) -> usize {
        let mut errors = 0;
        for group in msgs.chunks(BATCH_AHEAD) {
            let mut views: [Option<Result<Typed<'_>, ParseError>>; BATCH_AHEAD] =
                [None, None, None, None];
            // Per message: its id hashes (computed once, for the hints and the engine), its
            // ExecType byte and LastQty.
            let mut pre = [(Keys::NONE, 0u8, 0u64); BATCH_AHEAD];
            for (((p, &(_, session, bytes)), v), k) in self
                .ahead
                .iter_mut()
                .zip(group)
                .zip(views.iter_mut())
                .zip(pre.iter_mut())
            {
                // Written and read in place (a view is several hundred bytes).
                if let Ok(t) = v.insert(p.parse(bytes).and_then(|m| m.typed())) {
                    *k = keys_of(session, t);
                    self.engine.prefetch_keys(k.0, k.1);
                }
            }
            for (i, &(ts_ns, session, _)) in group.iter().enumerate() {
                // The next message's cells, its order's index line being near by now (the
                // first message's too, after the others' parsing).
                if i == 0 {
                    let (k, ty, qty) = pre[0];
                    self.engine.prefetch_exec_cells(k, ty, qty);
                }
                if let Some(&(k, ty, qty)) = pre.get(i + 1) {
                    self.engine.prefetch_exec_cells(k, ty, qty);
                }
                match &views[i] {
                    Some(Ok(t)) => dispatch_typed(
                        &mut self.engine,
                        &mut self.counters,
                        self.nbbo_tags,
                        ts_ns,
                        session,
                        t,
                        pre[i].0,
                    ),
                    Some(Err(_)) | None => {
                        self.counters.parse_errors += 1;
                        errors += 1;
                    }
                }
            }
        }
        errors
    }

    /// A message already framed (and checksummed) by a [`crate::fix::Framer`]: no second framing.
    pub fn on_frame(
        &mut self,
        ts_ns: u64,
        session: u32,
        frame: Frame<'_>,
    ) -> Result<(), ParseError> {
        let r = self.parser.parse_frame(frame).and_then(|m| {
            dispatch(
                &mut self.engine,
                &mut self.counters,
                self.nbbo_tags,
                ts_ns,
                session,
                &m,
            )
        });
        if r.is_err() {
            self.counters.parse_errors += 1;
        }
        r
    }
}

/// Maps one parsed message to engine events.
fn dispatch<S: RowSink>(
    eng: &mut Engine<S>,
    counters: &mut FeedCounters,
    nbbo_tags: Option<(u32, u32)>,
    ts_ns: u64,
    session: u32,
    m: &Message<'_>,
) -> Result<(), ParseError> {
    // Read in place: `m.typed()?` would copy the view (several hundred bytes) out of the
    // `Result`.
    let typed = m.typed();
    let t = typed.as_ref().map_err(|e| *e)?;
    dispatch_typed(eng, counters, nbbo_tags, ts_ns, session, t, Keys::NONE);
    Ok(())
}

/// The id hashes of the engine event a typed message maps to (those [`dispatch_typed`] hands
/// the engine), its ExecType byte (0: not an execution report) and LastQty in units.
#[inline]
fn keys_of(session: u32, t: &Typed<'_>) -> (Keys, u8, u64) {
    match t {
        Typed::ExecutionReport(r) => {
            let Some(ty) = exec_byte(r.exec_kind()) else {
                return (Keys::NONE, 0, 0);
            };
            let cl = r.cl_ord_id.unwrap_or(b"");
            let qty = r.last_qty.map(|q| units(q.0)).unwrap_or(0);
            (
                Keys {
                    order: order_key(session, cl),
                    exec: exec_key(session, r.exec_id),
                },
                ty,
                qty,
            )
        }
        Typed::NewOrderSingle(o) => (
            Keys {
                order: order_key(session, o.cl_ord_id),
                exec: 0,
            },
            0,
            0,
        ),
        _ => (Keys::NONE, 0, 0),
    }
}

/// Maps one typed message to engine events.
fn dispatch_typed<S: RowSink>(
    eng: &mut Engine<S>,
    counters: &mut FeedCounters,
    nbbo_tags: Option<(u32, u32)>,
    ts_ns: u64,
    session: u32,
    typed: &Typed<'_>,
    keys: Keys,
) {
    match typed {
        Typed::NewOrderSingle(o) => {
            let nbbo = nbbo_tags.and_then(|(b, a)| {
                let b = Price::parse(o.get(b)?).ok()?;
                let a = Price::parse(o.get(a)?).ok()?;
                Some((b.0, a.0))
            });
            eng.on_event_keyed(
                ts_ns,
                &Event::NewOrder(NewOrder {
                    session,
                    cl_ord_id: o.cl_ord_id,
                    symbol: o.symbol,
                    side: o.side.as_byte(),
                    qty: units(o.order_qty.0),
                    ord_type: o.ord_type,
                    tif: o.time_in_force.unwrap_or(b'0'),
                    limit: o.price.map(|p| p.0).unwrap_or(0),
                    ex_destination: o.ex_destination.unwrap_or(b""),
                    counterparty: o.header.target_comp_id,
                    nbbo,
                    transact_time_ns: o.transact_time.map(|t| t.0.max(0) as u64),
                    sending_time_ns: Some(o.header.sending_time.0.max(0) as u64),
                }),
                keys,
            );
        }
        Typed::ExecutionReport(r) => {
            let Some(exec_type) = exec_byte(r.exec_kind()) else {
                counters.ignored += 1;
                return;
            };
            eng.on_event_keyed(
                ts_ns,
                &Event::Exec(ExecReport {
                    session,
                    cl_ord_id: r.cl_ord_id.unwrap_or(b""),
                    orig_cl_ord_id: r.orig_cl_ord_id.unwrap_or(b""),
                    exec_id: r.exec_id,
                    exec_type,
                    last_qty: r.last_qty.map(|q| units(q.0)).unwrap_or(0),
                    last_px: r.last_px.map(|p| p.0).unwrap_or(0),
                    exec_ref_id: r.exec_ref_id.unwrap_or(b""),
                    last_mkt: r.last_mkt.unwrap_or(b""),
                    order_qty: r.order_qty.map(|q| units(q.0)).unwrap_or(0),
                }),
                keys,
            );
        }
        Typed::OrderCancelRequest(c) => eng.on_event(
            ts_ns,
            &Event::CancelRequest(CancelRequest {
                session,
                cl_ord_id: c.cl_ord_id,
                orig_cl_ord_id: c.orig_cl_ord_id,
                replace: false,
            }),
        ),
        Typed::OrderCancelReplaceRequest(c) => eng.on_event(
            ts_ns,
            &Event::CancelRequest(CancelRequest {
                session,
                cl_ord_id: c.cl_ord_id,
                orig_cl_ord_id: c.orig_cl_ord_id,
                replace: true,
            }),
        ),
        Typed::OrderCancelReject(c) => eng.on_event(
            ts_ns,
            &Event::CancelReject(CancelReject {
                session,
                cl_ord_id: c.cl_ord_id,
                orig_cl_ord_id: c.orig_cl_ord_id.unwrap_or(b""),
            }),
        ),
        Typed::BusinessMessageReject(b) => match b.business_reject_ref_id {
            Some(id) if b.ref_msg_type == b"D" => eng.on_event(
                ts_ns,
                &Event::BusinessReject(BusinessReject {
                    session,
                    ref_id: id,
                }),
            ),
            _ => counters.ignored += 1,
        },
        Typed::MarketDataSnapshot(s) => {
            let (bid, ask) = top_of(&s.entries);
            eng.on_event(
                ts_ns,
                &Event::Quote(Quote {
                    symbol: s.symbol,
                    bid,
                    ask,
                }),
            );
        }
        Typed::MarketDataIncremental(x) => {
            for e in x.entries.iter().flatten() {
                if matches!(e.update_action, Some(MdUpdateAction::Delete)) {
                    continue;
                }
                let (Some(Price(p)), Some(sym)) = (e.px, e.symbol.or(x.symbol)) else {
                    continue;
                };
                let (bid, ask) = match e.entry_type {
                    Some(MdEntryType::Bid) => (p, 0),
                    Some(MdEntryType::Offer) => (0, p),
                    _ => continue,
                };
                eng.on_event(
                    ts_ns,
                    &Event::Quote(Quote {
                        symbol: sym,
                        bid,
                        ask,
                    }),
                );
            }
        }
        _ => counters.ignored += 1,
    }
}
