//! The thin adapter from raw FIX messages (the `fix` codec's typed views) to engine events.
//!
//! `FixFeed::on_fix(ts, session, bytes)` frames and parses one message, maps it to an [`Event`]
//! and feeds the engine. Quantities are the codec's fixed-point `Qty` truncated to whole units;
//! prices are the codec's fixed-point `Price` (same 1e8 scale as the engine). Market data:
//! a snapshot (W) sets the symbol's best bid and offer from its entries; an incremental refresh
//! (X) treats each New/Change bid or offer entry as the new top of that side (an NBBO feed).
use crate::fix::{
    ExecType, Frame, FramerConfig, MarketDataSnapshot, MdEntry, MdEntryType, MdUpdateAction,
    Message, ParseError, Parser, Price, SCALE, Typed,
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

/// One snapshot entry into the best bid and offer so far, `(bid, ask)` (0: no price yet on that
/// side): the highest positive bid, the lowest offer.
#[inline(always)]
fn top_step(top: &mut (i64, i64), e: &MdEntry<'_>) {
    let Some(Price(p)) = e.px else { return };
    match e.entry_type {
        Some(MdEntryType::Bid) if p > top.0 => top.0 = p,
        Some(MdEntryType::Offer) if top.1 == 0 || p < top.1 => top.1 = p,
        _ => {}
    }
}

/// `m.typed()`; for a MarketDataSnapshot, also its best bid and offer in `top`, from `(0, 0)`
/// (the fold of [`top_step`] over `entries.iter().flatten()`, folded while the view's
/// validation parses the entries: one pass over them, not two). `top` is left as it is for
/// other MsgTypes and is meaningless on an error.
#[inline(always)]
fn typed_top<'a>(m: &Message<'a>, top: &mut (i64, i64)) -> Result<Typed<'a>, ParseError> {
    if m.msg_type() == MarketDataSnapshot::MSG_TYPE {
        MarketDataSnapshot::typed_visiting(m, |e| top_step(top, e))
    } else {
        m.typed()
    }
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
            // Per message: a snapshot's best bid and offer.
            let mut tops = [(0i64, 0i64); BATCH_AHEAD];
            for ((((p, &(_, session, bytes)), v), k), top) in self
                .ahead
                .iter_mut()
                .zip(group)
                .zip(views.iter_mut())
                .zip(pre.iter_mut())
                .zip(tops.iter_mut())
            {
                // Written and read in place (a view is several hundred bytes).
                if let Ok(t) = v.insert(p.parse(bytes).and_then(|m| typed_top(&m, top))) {
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
                        tops[i],
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

    /// An application message a FIX session has framed and indexed already (its `deliver`): the
    /// verdict, rows and counters of `on_fix(ts_ns, session, m.bytes())`, without framing and
    /// indexing the bytes again when this feed's parser would index them the same way
    /// ([`Parser::indexes_as`]).
    pub fn on_message(
        &mut self,
        ts_ns: u64,
        session: u32,
        m: &Message<'_>,
    ) -> Result<(), ParseError> {
        if !self.parser.indexes_as(m) {
            return self.on_fix(ts_ns, session, m.bytes());
        }
        let r = dispatch(
            &mut self.engine,
            &mut self.counters,
            self.nbbo_tags,
            ts_ns,
            session,
            m,
        );
        if r.is_err() {
            self.counters.parse_errors += 1;
        }
        r
    }

    /// A message already framed (and checksummed) by a [`crate::fix::Framer`]: the verdict, rows
    /// and counters of `on_fix(ts_ns, session, frame.bytes)` whatever the framer's configuration
    /// ([`Parser::parse_framed`]), without framing the bytes a second time.
    pub fn on_frame(
        &mut self,
        ts_ns: u64,
        session: u32,
        frame: Frame<'_>,
    ) -> Result<(), ParseError> {
        let r = self.parser.parse_framed(frame).and_then(|m| {
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
    let mut top = (0, 0);
    let typed = typed_top(m, &mut top);
    let t = typed.as_ref().map_err(|e| *e)?;
    dispatch_typed(eng, counters, nbbo_tags, ts_ns, session, t, Keys::NONE, top);
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

/// Maps one typed message to engine events; `top`: a snapshot's best bid and offer (from
/// [`typed_top`]).
#[allow(clippy::too_many_arguments)]
fn dispatch_typed<S: RowSink>(
    eng: &mut Engine<S>,
    counters: &mut FeedCounters,
    nbbo_tags: Option<(u32, u32)>,
    ts_ns: u64,
    session: u32,
    typed: &Typed<'_>,
    keys: Keys,
    top: (i64, i64),
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
            let (bid, ask) = top;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::MdEntries;
    use proptest::prelude::*;

    /// The glue's `top_of` before `typed_top` (the oracle): best bid and offer among the
    /// entries the iterator yields (0 when a side is absent).
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

    /// A snapshot with `body` after Symbol (`|` for SOH), BodyLength and CheckSum filled in.
    fn snapshot(body: &str) -> Vec<u8> {
        crate::fix::tests::fix_up(&format!(
            "8=FIX.4.4|9=0|35=W|49=MD|56=SOR|34=11|52=20240315-14:30:18.127|55=EUR/USD|{body}10=000|"
        ))
    }

    /// `typed_top`'s view, error and top against `typed()` and the oracle; `Some(top)` when
    /// the message parses.
    fn check(bytes: &[u8]) -> Option<(i64, i64)> {
        let mut p = Parser::new(FramerConfig::default());
        let m = p.parse(bytes).ok()?;
        let mut top = (0, 0);
        let new = typed_top(&m, &mut top);
        let old = m.typed();
        assert_eq!(new, old, "{}", String::from_utf8_lossy(bytes));
        match old.ok()? {
            Typed::MarketDataSnapshot(s) => {
                assert_eq!(
                    top,
                    top_of(&s.entries),
                    "{}",
                    String::from_utf8_lossy(bytes)
                );
                Some(top)
            }
            _ => unreachable!(),
        }
    }

    #[test]
    fn snapshot_top_edge_cases() {
        let px = |s: &str| Price::parse(s.as_bytes()).unwrap().0;
        let cases: &[(&str, Option<(i64, i64)>)] = &[
            (
                "268=2|269=0|270=1.08|269=1|270=1.09|",
                Some((px("1.08"), px("1.09"))),
            ),
            // Absent sides, no entries.
            ("268=1|269=0|270=1.08|", Some((px("1.08"), 0))),
            ("268=1|269=1|270=1.09|", Some((0, px("1.09")))),
            ("268=0|", Some((0, 0))),
            // Zero and negative prices: a bid must be positive, the first offer is taken.
            ("268=2|269=0|270=0|269=1|270=-1.5|", Some((0, px("-1.5")))),
            (
                "268=3|269=0|270=-2|269=1|270=0|269=1|270=3|",
                Some((0, px("3"))),
            ),
            // Several bids and offers.
            (
                "268=4|269=0|270=1.07|269=0|270=1.08|269=1|270=1.10|269=1|270=1.09|",
                Some((px("1.08"), px("1.09"))),
            ),
            // Entries without a price, trades, other fields, a Delete without a type.
            (
                "268=3|269=0|271=5|269=2|270=9|269=1|270=1.2|271=100|278=A|273=14:30:18|279=2|",
                Some((0, px("1.2"))),
            ),
            (
                "268=3|279=0|269=0|270=1.1|279=2|279=1|269=1|270=1.3|",
                Some((px("1.1"), px("1.3"))),
            ),
            // Malformed: the view's errors, not a top.
            ("268=2|269=0|270=1.08|269=1|270=x|", None),
            ("268=2|269=0|270=1.08|270=1.07|269=1|270=1.09|", None),
            ("268=2|269=0|270=1.08|269=1|270=1.09|273=25:99:99|", None),
            ("268=2|270=1.08|269=1|", None),
            ("268=3|269=0|270=1.08|269=1|270=1.09|", None),
        ];
        for (body, want) in cases {
            let got = check(&snapshot(body));
            if let Some(w) = want {
                assert_eq!(got, Some(*w), "{body}");
            }
        }
        // A Delete without a type (a group led by MDUpdateAction).
        assert_eq!(
            check(&snapshot("268=2|279=0|269=1|270=1.2|279=2|")),
            Some((0, px("1.2")))
        );
    }

    /// One generated entry field: (tag, value).
    fn entry_field() -> impl Strategy<Value = (u32, &'static str)> {
        prop_oneof![
            4 => Just(269).prop_flat_map(|t| {
                prop::sample::select(vec!["0", "1", "2", "0", "1", "x", "01"]).prop_map(move |v| (t, v))
            }),
            4 => Just(270).prop_flat_map(|t| {
                prop::sample::select(vec![
                    "1.08", "1.09", "1.08123456", "100", "0", "-5", "-0.5", "0.0", "12345678.9",
                    "abc", "1.2.3", "99999999999999.5", "1e5",
                ])
                .prop_map(move |v| (t, v))
            }),
            1 => (prop::sample::select(vec![279u32, 271, 272, 273, 278, 55, 290, 58]),
                  prop::sample::select(vec![
                      "0", "1", "2", "5", "100", "x", "20240315", "2024x315", "14:30:18",
                      "25:99:99", "ID7",
                  ])),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// `typed_top` gives `typed()`'s view or error, and the oracle's top, for generated
        /// groups: well formed or not (bad values, duplicates, missing types, wrong counts,
        /// groups led by MDUpdateAction).
        #[test]
        fn typed_top_matches_top_of_over_the_iterator(
            entries in prop::collection::vec(
                (any::<bool>(), prop::collection::vec(entry_field(), 0..4), any::<bool>()),
                0..6,
            ),
            lead_279 in prop::sample::select(vec![false, false, false, true]),
            count_skew in prop::sample::select(vec![0i64, 0, 0, 0, 1, -1]),
        ) {
            let mut body = format!(
                "268={}|",
                (entries.len() as i64 + count_skew).max(0)
            );
            for (has_px, rest, bid) in &entries {
                if lead_279 {
                    body.push_str("279=0|");
                }
                body.push_str(if *bid { "269=0|" } else { "269=1|" });
                if *has_px {
                    body.push_str("270=1.07|");
                }
                for (t, v) in rest {
                    body.push_str(&format!("{t}={v}|"));
                }
            }
            check(&snapshot(&body));
        }
    }
}
