//! The simulated venue, in event time and without I/O: the market, the LPs, the firm's background
//! flow, and the SOR's child orders. Every step writes FIX messages into an [`Outbox`]: the drop
//! copy for the appliance (every order, every execution report, every quote, as the firm's FIX
//! engine would copy them) and the messages for the SOR (its execution reports and the quotes).
//!
//! `crate::sim::net` drives it over TCP (`lpscore sim`); the clock is the caller's.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::fix::{
    BeginString, Encoder, ExecutionReport, Header, MarketDataSnapshot, MdEntries, MdEntry,
    MdEntryType, NewOrderSingle, Price, Qty, Raw, Side as FixSide, UtcTimestamp,
};

use super::lp::{Execution, LpsFile, Response, Side, SimLp};
use super::market::{Market, Quote};
use super::rng::Rng;

/// The drop-copy session's CompIDs: the firm's FIX engine copies its traffic to lpscore.
pub const DROP_SENDER: &str = "SORENGINE";
pub const DROP_TARGET: &str = "LPSCORE";
/// The SOR session's CompIDs: the LPs' gateway (routing by ExDestination) and the SOR.
pub const VENUE_COMP_ID: &str = "LPSIM";
pub const SOR_COMP_ID: &str = "SOR";

/// Bytes to send, per destination.
#[derive(Debug, Default)]
pub struct Outbox {
    /// To the appliance's drop-copy acceptor.
    pub drop_copy: Vec<u8>,
    /// To the SOR.
    pub sor: Vec<u8>,
    /// Messages in `drop_copy`.
    pub drop_copy_msgs: u64,
    /// Messages in `sor`.
    pub sor_msgs: u64,
}

impl Outbox {
    pub fn clear(&mut self) {
        self.drop_copy.clear();
        self.sor.clear();
        self.drop_copy_msgs = 0;
        self.sor_msgs = 0;
    }
}

/// A child order from the SOR (the fields of its NewOrderSingle the venue needs).
#[derive(Clone, Debug, PartialEq)]
pub struct SorOrder {
    pub cl_ord_id: String,
    pub symbol: String,
    pub side: Side,
    pub qty: u64,
    /// ExDestination (100): the LP's name.
    pub lp: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Quote,
    Background,
    /// The LP answers order `i` (ack or reject).
    Respond(u32),
    /// The LP executes order `i`.
    Execute(u32),
}

#[derive(Clone, Debug)]
struct Order {
    lp: usize,
    side: Side,
    qty: u64,
    response: Response,
    arrival: Quote,
    /// The SOR's order (reports go to the SOR too), or the firm's background flow.
    sor: bool,
    cl_ord_id: String,
    acked: bool,
}

/// Counters for the closing line.
#[derive(Clone, Copy, Debug, Default)]
pub struct VenueStats {
    pub sor_orders: u64,
    pub sor_rejected_invalid: u64,
    pub background_orders: u64,
    pub fills: u64,
    /// Orders ended (filled, canceled, rejected) in the drop copy: the appliance counts each
    /// once in its rows' `n_orders`, which is how the simulator knows it has caught up.
    pub ended: u64,
}

/// The venue.
pub struct Venue {
    market: Market,
    lps: Vec<SimLp>,
    rng: Rng,
    enc: Encoder,
    drop_seq: u64,
    sor_seq: u64,
    exec_seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    qseq: u64,
    orders: Vec<Order>,
    background_every_ms: f64,
    pub stats: VenueStats,
}

impl Venue {
    /// A venue over the market and LPs of `lps`, from `start_ns` (event time), deterministic
    /// from `seed` (the same forks as the in-process demo: same seed, same market and LPs).
    pub fn new(lps: &LpsFile, seed: u64, start_ns: u64, background_every_ms: f64) -> Self {
        let root = Rng::new(seed);
        let market = Market::new(lps.market.clone(), root.fork(1), start_ns);
        let sims = lps
            .lp
            .iter()
            .enumerate()
            .map(|(i, c)| SimLp::new(c.clone(), root.fork(100 + i as u64), start_ns))
            .collect();
        let mut v = Self {
            market,
            lps: sims,
            rng: root.fork(2),
            enc: Encoder::new(),
            drop_seq: 0,
            sor_seq: 0,
            exec_seq: 0,
            queue: BinaryHeap::new(),
            qseq: 0,
            orders: Vec::new(),
            background_every_ms,
            stats: VenueStats::default(),
        };
        v.schedule(start_ns, Ev::Quote);
        v.schedule(start_ns + 1_000_000, Ev::Background);
        v
    }

    fn schedule(&mut self, t: u64, ev: Ev) {
        self.qseq += 1;
        self.queue.push(Reverse((t, self.qseq, ev)));
    }

    /// The next event's time.
    pub fn next_time(&self) -> Option<u64> {
        self.queue.peek().map(|Reverse((t, _, _))| *t)
    }

    pub fn quote(&self) -> Quote {
        self.market.quote()
    }

    /// Processes the next event (at [`Self::next_time`]); its messages go to `out`.
    pub fn step(&mut self, out: &mut Outbox) -> Option<u64> {
        let Reverse((t, _, ev)) = self.queue.pop()?;
        self.market.advance(t);
        match ev {
            Ev::Quote => {
                self.send_quote(t, out);
                let dt = (self.market.config().quote_interval_ms * 1e6) as u64;
                self.schedule(t + dt.max(1), Ev::Quote);
            }
            Ev::Background => {
                let lp = (self.rng.next_u64() % self.lps.len() as u64) as usize;
                let side = if self.rng.chance(0.5) {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let qty = 100 * (1 + self.rng.next_u64() % 20);
                let id = format!("B{:07}", self.orders.len());
                self.stats.background_orders += 1;
                self.new_order(t, lp, qty, side, false, id, out);
                let gap = self.rng.lognormal(self.background_every_ms, 0.5) * 1e6;
                self.schedule(t + gap.max(1e6) as u64, Ev::Background);
            }
            Ev::Respond(i) => self.respond(t, i, out),
            Ev::Execute(i) => self.execute(t, i, out),
        }
        Some(t)
    }

    /// A NewOrderSingle from the SOR at `t_ns`. An order the venue cannot take (unknown LP or
    /// symbol, zero quantity) is rejected at once, with the reason in Text (58).
    pub fn on_sor_order(&mut self, t_ns: u64, o: &SorOrder, out: &mut Outbox) {
        self.market.advance(t_ns);
        self.stats.sor_orders += 1;
        let lp = self.lps.iter().position(|l| l.name() == o.lp);
        let problem = if lp.is_none() {
            Some(format!("unknown ExDestination {}", o.lp))
        } else if o.symbol != self.market.config().symbol {
            Some(format!("unknown symbol {}", o.symbol))
        } else if o.qty == 0 {
            Some("OrderQty must be positive".to_string())
        } else {
            None
        };
        match (lp, problem) {
            (Some(lp), None) => {
                self.new_order(t_ns, lp, o.qty, o.side, true, o.cl_ord_id.clone(), out)
            }
            (_, problem) => {
                self.stats.sor_rejected_invalid += 1;
                let text = problem.unwrap_or_default();
                self.invalid_reject(t_ns, o, &text, out);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn new_order(
        &mut self,
        t: u64,
        lp: usize,
        qty: u64,
        side: Side,
        sor: bool,
        cl_ord_id: String,
        out: &mut Outbox,
    ) {
        let i = self.orders.len() as u32;
        let (ack_ns, response) = self.lps[lp].respond(t);
        self.orders.push(Order {
            lp,
            side,
            qty,
            response,
            arrival: self.market.quote(),
            sor,
            cl_ord_id,
            acked: false,
        });
        // The drop copy of the order as the firm's engine sent it.
        let o = &self.orders[i as usize];
        let h = header(DROP_SENDER, DROP_TARGET, &mut self.drop_seq, t);
        let sym = self.market.config().symbol.as_bytes();
        let m = NewOrderSingle {
            header: h,
            account: None,
            cl_ord_id: o.cl_ord_id.as_bytes(),
            symbol: sym,
            side: fix_side(side),
            transact_time: Some(UtcTimestamp(t as i64)),
            order_qty: shares(qty),
            ord_type: b'1',
            price: None,
            time_in_force: Some(b'3'),
            ex_destination: Some(self.lps[lp].name().as_bytes()),
            text: None,
            raw: Raw(None),
        };
        out.drop_copy.extend_from_slice(self.enc.encode(&m));
        out.drop_copy_msgs += 1;
        self.schedule(t + ack_ns, Ev::Respond(i));
    }

    fn respond(&mut self, t: u64, i: u32, out: &mut Outbox) {
        let c = self.orders[i as usize].clone();
        match c.response {
            Response::Reject => self.report(t, i, b'8', b'8', None, 0, 0, out),
            Response::Ack => {
                // A last-look LP answers only once it has decided, at execution time.
                if self.lps[c.lp].config().last_look_bps.is_none() {
                    self.report(t, i, b'0', b'0', None, c.qty, 0, out);
                    self.orders[i as usize].acked = true;
                }
                let d = self.lps[c.lp].fill_delay(t);
                self.schedule(t + d, Ev::Execute(i));
            }
        }
    }

    fn execute(&mut self, t: u64, i: u32, out: &mut Outbox) {
        let c = self.orders[i as usize].clone();
        let now = self.market.quote();
        let tick = self.market.config().tick;
        let exec = self.lps[c.lp].execute(t, c.side, c.qty, c.arrival, now, tick);
        if !c.acked && exec != Execution::LastLookReject {
            self.report(t, i, b'0', b'0', None, c.qty, 0, out);
        }
        match exec {
            Execution::Fill { qty, px } => {
                self.stats.fills += 1;
                let status = if qty >= c.qty { b'2' } else { b'1' };
                self.report(t, i, b'F', status, Some((qty, px)), c.qty - qty, qty, out);
                if qty < c.qty {
                    // IOC: the rest is canceled at once.
                    self.report(t, i, b'4', b'4', None, 0, qty, out);
                }
                let (bps, over) = self.lps[c.lp].leakage(c.side, qty);
                self.market.push_drift(bps, over);
            }
            Execution::LastLookReject => self.report(t, i, b'8', b'8', None, 0, 0, out),
            Execution::NoFill => self.report(t, i, b'4', b'4', None, 0, 0, out),
        }
    }

    fn send_quote(&mut self, t: u64, out: &mut Outbox) {
        let q = self.market.quote();
        let entries = [
            MdEntry {
                entry_type: Some(MdEntryType::Bid),
                px: Some(px(q.bid)),
                size: Some(shares(5_000)),
                ..Default::default()
            },
            MdEntry {
                entry_type: Some(MdEntryType::Offer),
                px: Some(px(q.ask)),
                size: Some(shares(5_000)),
                ..Default::default()
            },
        ];
        let sym = self.market.config().symbol.clone();
        for to_sor in [false, true] {
            let h = if to_sor {
                header(VENUE_COMP_ID, SOR_COMP_ID, &mut self.sor_seq, t)
            } else {
                header(DROP_SENDER, DROP_TARGET, &mut self.drop_seq, t)
            };
            let m = MarketDataSnapshot {
                header: h,
                md_req_id: None,
                symbol: sym.as_bytes(),
                entries: MdEntries::Slice(&entries),
                raw: Raw(None),
            };
            let bytes = self.enc.encode(&m);
            if to_sor {
                out.sor.extend_from_slice(bytes);
                out.sor_msgs += 1;
            } else {
                out.drop_copy.extend_from_slice(bytes);
                out.drop_copy_msgs += 1;
            }
        }
    }

    /// An execution report for order `i`: to the drop copy, and to the SOR for its orders.
    #[allow(clippy::too_many_arguments)]
    fn report(
        &mut self,
        t: u64,
        i: u32,
        exec_type: u8,
        ord_status: u8,
        last: Option<(u64, f64)>,
        leaves: u64,
        cum: u64,
        out: &mut Outbox,
    ) {
        self.exec_seq += 1;
        if matches!(ord_status, b'2' | b'4' | b'8') {
            self.stats.ended += 1;
        }
        let c = self.orders[i as usize].clone();
        let order_id = format!("O{i:07}");
        let exec_id = format!("X{:08}", self.exec_seq);
        let sym = self.market.config().symbol.clone();
        let lp = self.lps[c.lp].name().to_string();
        for to_sor in [false, true] {
            if to_sor && !c.sor {
                break;
            }
            let h = if to_sor {
                header(VENUE_COMP_ID, SOR_COMP_ID, &mut self.sor_seq, t)
            } else {
                header(DROP_SENDER, DROP_TARGET, &mut self.drop_seq, t)
            };
            let m = ExecutionReport {
                header: h,
                order_id: order_id.as_bytes(),
                cl_ord_id: Some(c.cl_ord_id.as_bytes()),
                orig_cl_ord_id: None,
                exec_id: exec_id.as_bytes(),
                exec_trans_type: None,
                exec_ref_id: None,
                exec_type,
                ord_status,
                ord_rej_reason: (exec_type == b'8').then_some(0),
                symbol: sym.as_bytes(),
                side: fix_side(c.side),
                order_qty: Some(shares(c.qty)),
                ord_type: Some(b'1'),
                price: None,
                time_in_force: Some(b'3'),
                ex_destination: None,
                last_qty: last.map(|(q, _)| shares(q)),
                last_px: last.map(|(_, p)| px(p)),
                last_mkt: Some(lp.as_bytes()),
                leaves_qty: shares(leaves),
                cum_qty: shares(cum),
                avg_px: last.map(|(_, p)| px(p)),
                transact_time: Some(UtcTimestamp(t as i64)),
                text: None,
                raw: Raw(None),
            };
            let bytes = self.enc.encode(&m);
            if to_sor {
                out.sor.extend_from_slice(bytes);
                out.sor_msgs += 1;
            } else {
                out.drop_copy.extend_from_slice(bytes);
                out.drop_copy_msgs += 1;
            }
        }
    }

    /// A reject of an order the venue could not take (never reached an LP: no drop copy).
    fn invalid_reject(&mut self, t: u64, o: &SorOrder, text: &str, out: &mut Outbox) {
        self.exec_seq += 1;
        let exec_id = format!("X{:08}", self.exec_seq);
        let h = header(VENUE_COMP_ID, SOR_COMP_ID, &mut self.sor_seq, t);
        let m = ExecutionReport {
            header: h,
            order_id: b"NONE",
            cl_ord_id: Some(o.cl_ord_id.as_bytes()),
            orig_cl_ord_id: None,
            exec_id: exec_id.as_bytes(),
            exec_trans_type: None,
            exec_ref_id: None,
            exec_type: b'8',
            ord_status: b'8',
            ord_rej_reason: Some(99),
            symbol: o.symbol.as_bytes(),
            side: fix_side(o.side),
            order_qty: Some(shares(o.qty)),
            ord_type: Some(b'1'),
            price: None,
            time_in_force: Some(b'3'),
            ex_destination: None,
            last_qty: None,
            last_px: None,
            last_mkt: None,
            leaves_qty: shares(0),
            cum_qty: shares(0),
            avg_px: None,
            transact_time: Some(UtcTimestamp(t as i64)),
            text: Some(text.as_bytes()),
            raw: Raw(None),
        };
        out.sor.extend_from_slice(self.enc.encode(&m));
        out.sor_msgs += 1;
    }

    /// A session-level message to the SOR (Logon, TestRequest, Logout) with the SOR session's
    /// next sequence number: `body` is the fields after the standard header.
    pub fn sor_session_message(
        &mut self,
        t: u64,
        msg_type: &[u8],
        body: &[(u32, &[u8])],
        out: &mut Outbox,
    ) {
        self.sor_seq += 1;
        out.sor.extend_from_slice(&session_message(
            msg_type,
            VENUE_COMP_ID,
            SOR_COMP_ID,
            self.sor_seq,
            t,
            body,
        ));
        out.sor_msgs += 1;
    }
}

impl Venue {
    /// A session-level message on the drop-copy session (Logon, Logout), with its next sequence
    /// number (the same counter as the copied messages).
    pub fn drop_copy_session_message(
        &mut self,
        t: u64,
        msg_type: &[u8],
        body: &[(u32, &[u8])],
        out: &mut Outbox,
    ) {
        self.drop_seq += 1;
        out.drop_copy.extend_from_slice(&session_message(
            msg_type,
            DROP_SENDER,
            DROP_TARGET,
            self.drop_seq,
            t,
            body,
        ));
        out.drop_copy_msgs += 1;
    }
}

/// A FIX 4.4 message with the standard header, `body` fields and a correct BodyLength and
/// CheckSum (for the few session messages the typed encoder has no struct for here).
pub fn session_message(
    msg_type: &[u8],
    sender: &str,
    target: &str,
    seq: u64,
    t_ns: u64,
    body: &[(u32, &[u8])],
) -> Vec<u8> {
    let mut b = Vec::with_capacity(128);
    b.extend_from_slice(b"35=");
    b.extend_from_slice(msg_type);
    b.push(1);
    let mut ts = Vec::new();
    crate::fix::num::write_timestamp(&mut ts, t_ns as i64);
    for (tag, v) in [
        (49u32, sender.as_bytes()),
        (56, target.as_bytes()),
        (34, seq.to_string().as_bytes()),
        (52, &ts[..]),
    ]
    .iter()
    .map(|(t, v)| (*t, v.to_vec()))
    .chain(body.iter().map(|(t, v)| (*t, v.to_vec())))
    {
        b.extend_from_slice(format!("{tag}=").as_bytes());
        b.extend_from_slice(&v);
        b.push(1);
    }
    let mut m = format!("8=FIX.4.4\x019={}\x01", b.len()).into_bytes();
    m.extend_from_slice(&b);
    let sum = m.iter().map(|&x| u32::from(x)).sum::<u32>() % 256;
    m.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    m
}

fn header(sender: &'static str, target: &'static str, seq: &mut u64, t: u64) -> Header<'static> {
    *seq += 1;
    Header::new(
        BeginString::Fix44,
        sender.as_bytes(),
        target.as_bytes(),
        *seq,
        UtcTimestamp(t as i64),
    )
}

fn px(v: f64) -> Price {
    Price((v * 1e8).round() as i64)
}

fn shares(q: u64) -> Qty {
    Qty(q as i64 * 100_000_000)
}

fn fix_side(s: Side) -> FixSide {
    match s {
        Side::Buy => FixSide::Buy,
        Side::Sell => FixSide::Sell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::{FramerConfig, Parser, Typed};

    fn venue() -> Venue {
        Venue::new(
            &LpsFile::parse(LpsFile::DEFAULT).unwrap(),
            7,
            1_795_444_200_000_000_000,
            250.0,
        )
    }

    /// Every message of a byte stream, parsed.
    fn types(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut fr = crate::fix::Framer::new(FramerConfig::default());
        let mut p = Parser::new(FramerConfig::default());
        let mut v = Vec::new();
        let mut frames = fr.feed(bytes);
        while let Some(f) = frames.next_frame() {
            let m = p.parse_frame(f.expect("framed")).expect("parsed");
            m.typed().expect("typed");
            v.push(m.msg_type().to_vec());
        }
        v
    }

    #[test]
    fn sor_orders_are_answered_and_copied() {
        let mut v = venue();
        let mut out = Outbox::default();
        let t0 = v.next_time().unwrap();
        v.step(&mut out); // the first quote
        assert_eq!((out.drop_copy_msgs, out.sor_msgs), (1, 1));
        out.clear();
        let o = SorOrder {
            cl_ord_id: "P1".into(),
            symbol: "ACME".into(),
            side: Side::Sell,
            qty: 1000,
            lp: "LP_A".into(),
        };
        v.on_sor_order(t0, &o, &mut out);
        assert_eq!(types(&out.drop_copy), [b"D".to_vec()]);
        assert!(out.sor.is_empty());
        // Run until the order is done: the SOR gets only reports of its own order (and quotes).
        let mut sor = Vec::new();
        let mut drop = Vec::new();
        for _ in 0..200 {
            out.clear();
            v.step(&mut out);
            sor.extend_from_slice(&out.sor);
            drop.extend_from_slice(&out.drop_copy);
        }
        let st = types(&sor);
        assert!(st.iter().any(|t| t == b"8"), "{st:?}");
        assert!(st.iter().all(|t| t == b"8" || t == b"W"));
        let n_sor_reports = st.iter().filter(|t| *t == b"8").count();
        let mut fr = crate::fix::Framer::new(FramerConfig::default());
        let mut p = Parser::new(FramerConfig::default());
        let mut frames = fr.feed(&drop);
        let mut copied = 0;
        while let Some(f) = frames.next_frame() {
            let m = p.parse_frame(f.unwrap()).unwrap();
            if let Ok(Typed::ExecutionReport(er)) = m.typed() {
                if er.cl_ord_id == Some(b"P1") {
                    copied += 1;
                }
            }
        }
        assert_eq!(
            copied, n_sor_reports,
            "every report to the SOR is in the drop copy"
        );
    }

    #[test]
    fn invalid_orders_are_rejected_with_a_reason() {
        let mut v = venue();
        let mut out = Outbox::default();
        let o = SorOrder {
            cl_ord_id: "P9".into(),
            symbol: "ACME".into(),
            side: Side::Buy,
            qty: 100,
            lp: "LP_Z".into(),
        };
        v.on_sor_order(v.next_time().unwrap(), &o, &mut out);
        assert!(out.drop_copy.is_empty());
        let text = String::from_utf8_lossy(&out.sor).to_string();
        assert!(text.contains("150=8") && text.contains("LP_Z"), "{text}");
        assert_eq!(types(&out.sor), [b"8".to_vec()]);
    }

    #[test]
    fn session_messages_frame() {
        let m = session_message(b"1", "A", "B", 3, 1_000_000_000, &[(112, b"T1")]);
        assert_eq!(types(&m), [b"1".to_vec()]);
    }
}
