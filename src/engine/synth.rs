//! Synthetic LPs of known behaviour and a deterministic event stream they produce (tests, the
//! convergence check, benchmarks). No `rand` dependency: a splitmix64 generator with a fixed seed.
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::event::{Event, ExecReport, NewOrder, Quote};
use crate::kpi::PRICE_SCALE;
use crate::score::ScoreInputs;

/// splitmix64: tiny, fast, good enough for simulation; deterministic for a given seed.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        crate::orders::map::mix64(self.0)
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The true behaviour of a synthetic LP.
#[derive(Debug, Clone, PartialEq)]
pub struct LpTruth {
    /// Name (also its ExDestination).
    pub name: String,
    /// Probability an order is fully filled (given not rejected).
    pub full_fill: f64,
    /// Probability it is half filled, the rest canceled (given not rejected).
    pub half_fill: f64,
    /// Probability it is rejected.
    pub reject: f64,
    /// Mean response latency, ns (uniform on [0.5, 1.5] x mean).
    pub latency_ns: f64,
    /// Price improvement against the touch, bps of the mid.
    pub pi_bps: f64,
    /// Mid move in the trade's direction right after each fill, bps.
    pub impact_bps: f64,
}

impl LpTruth {
    /// True fill rate (shares; rejects count as sent with nothing filled).
    pub fn fill_rate(&self) -> f64 {
        (1.0 - self.reject) * (self.full_fill + 0.5 * self.half_fill)
    }
    /// True KPI values as the score sees them (latency = mean ack latency). The effective spread
    /// is `2 * (half_spread - PI)`; the markout is `impact - ES / 2`.
    pub fn inputs(&self, half_spread_bps: f64) -> ScoreInputs {
        let es = 2.0 * (half_spread_bps - self.pi_bps);
        ScoreInputs {
            latency_ns: self.latency_ns,
            fill_rate: self.fill_rate(),
            pi_bps: self.pi_bps,
            impact_bps: self.impact_bps,
            reject_rate: self.reject,
            es_bps: es,
            markout_bps: self.impact_bps - es / 2.0,
        }
    }
}

/// An owned event (the stream is generated ahead of time).
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedEvent {
    /// Quote.
    Quote {
        /// Symbol.
        symbol: String,
        /// Bid.
        bid: i64,
        /// Ask.
        ask: i64,
    },
    /// NewOrderSingle.
    NewOrder {
        /// ClOrdID.
        cl_ord_id: String,
        /// Symbol.
        symbol: String,
        /// Side character.
        side: u8,
        /// Quantity.
        qty: u64,
        /// LP (ExDestination).
        lp: String,
    },
    /// ExecutionReport.
    Exec {
        /// ClOrdID.
        cl_ord_id: String,
        /// ExecID.
        exec_id: String,
        /// ExecType.
        exec_type: u8,
        /// LastQty.
        last_qty: u64,
        /// LastPx.
        last_px: i64,
        /// The LP that sent it (its SenderCompID on the wire: the NewOrderSingle's
        /// TargetCompID, so both directions are one FIX session in a replayed log).
        lp: String,
    },
}

impl OwnedEvent {
    /// The borrowed engine event (session 1).
    pub fn as_event(&self) -> Event<'_> {
        match self {
            OwnedEvent::Quote { symbol, bid, ask } => Event::Quote(Quote {
                symbol: symbol.as_bytes(),
                bid: *bid,
                ask: *ask,
            }),
            OwnedEvent::NewOrder {
                cl_ord_id,
                symbol,
                side,
                qty,
                lp,
            } => Event::NewOrder(NewOrder {
                session: 1,
                cl_ord_id: cl_ord_id.as_bytes(),
                symbol: symbol.as_bytes(),
                side: *side,
                qty: *qty,
                ord_type: b'2',
                tif: b'3',
                ex_destination: lp.as_bytes(),
                ..NewOrder::default()
            }),
            OwnedEvent::Exec {
                cl_ord_id,
                exec_id,
                exec_type,
                last_qty,
                last_px,
                ..
            } => Event::Exec(ExecReport {
                session: 1,
                cl_ord_id: cl_ord_id.as_bytes(),
                exec_id: exec_id.as_bytes(),
                exec_type: *exec_type,
                last_qty: *last_qty,
                last_px: *last_px,
                ..ExecReport::default()
            }),
        }
    }
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// The LPs; each order picks one uniformly.
    pub lps: Vec<LpTruth>,
    /// Number of symbols.
    pub symbols: usize,
    /// Number of orders.
    pub orders: usize,
    /// Time between orders, ns.
    pub order_gap_ns: u64,
    /// Random quote updates (zero-mean mid moves) per order.
    pub noise_quotes_per_order: usize,
    /// Size of a noise move (uniform in +-), bps.
    pub noise_bps: f64,
    /// Half the quoted spread, bps of the mid.
    pub half_spread_bps: f64,
    /// First event time, ns.
    pub start_ns: u64,
    /// Seed.
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Send(u32),
    Respond(u32),
    Jump(u32, i32),
    Noise,
}

#[derive(Clone, Copy)]
struct Pending {
    lp: usize,
    sym: usize,
    side: i8,
    qty: u64,
    bid: i64,
    ask: i64,
}

fn quote_of(mid: f64, hs_bps: f64) -> (i64, i64) {
    let s = PRICE_SCALE as f64;
    (
        (mid * (1.0 - hs_bps * 1e-4) * s).round() as i64,
        (mid * (1.0 + hs_bps * 1e-4) * s).round() as i64,
    )
}

/// Generates the time-ordered event stream of `cfg` (`(ts_ns, event)`).
pub fn generate(cfg: &SynthConfig) -> Vec<(u64, OwnedEvent)> {
    let mut rng = SplitMix64(cfg.seed);
    let mut out = Vec::with_capacity(cfg.orders * (3 + cfg.noise_quotes_per_order) + cfg.symbols);
    let mut mids: Vec<f64> = (0..cfg.symbols)
        .map(|i| 20.0 + (i % 50) as f64 * 3.0)
        .collect();
    let names: Vec<String> = (0..cfg.symbols).map(|i| format!("S{i:04}")).collect();
    for (i, m) in mids.iter().enumerate() {
        let (bid, ask) = quote_of(*m, cfg.half_spread_bps);
        out.push((
            cfg.start_ns,
            OwnedEvent::Quote {
                symbol: names[i].clone(),
                bid,
                ask,
            },
        ));
    }
    let mut heap: BinaryHeap<Reverse<(u64, u64, Action)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |heap: &mut BinaryHeap<_>, t: u64, a: Action| {
        seq += 1;
        heap.push(Reverse((t, seq, a)));
    };
    for i in 0..cfg.orders {
        let t = cfg.start_ns + 1_000 + i as u64 * cfg.order_gap_ns;
        push(&mut heap, t, Action::Send(i as u32));
        for k in 0..cfg.noise_quotes_per_order {
            let dt = cfg.order_gap_ns * (k as u64 + 1) / (cfg.noise_quotes_per_order as u64 + 1);
            push(&mut heap, t + dt, Action::Noise);
        }
    }
    let mut pending: Vec<Option<Pending>> = vec![None; cfg.orders];
    let mut exec_n = 0u64;
    while let Some(Reverse((t, _, a))) = heap.pop() {
        match a {
            Action::Send(i) => {
                let lp = rng.below(cfg.lps.len() as u64) as usize;
                let sym = rng.below(cfg.symbols as u64) as usize;
                let side: i8 = if rng.f64() < 0.5 { 1 } else { -1 };
                let qty = 100 * (1 + rng.below(20));
                let (bid, ask) = quote_of(mids[sym], cfg.half_spread_bps);
                pending[i as usize] = Some(Pending {
                    lp,
                    sym,
                    side,
                    qty,
                    bid,
                    ask,
                });
                out.push((
                    t,
                    OwnedEvent::NewOrder {
                        cl_ord_id: format!("O{i}"),
                        symbol: names[sym].clone(),
                        side: if side > 0 { b'1' } else { b'2' },
                        qty,
                        lp: cfg.lps[lp].name.clone(),
                    },
                ));
                let l = cfg.lps[lp].latency_ns * (0.5 + rng.f64());
                push(&mut heap, t + l.max(1.0) as u64, Action::Respond(i));
            }
            Action::Respond(i) => {
                let Some(p) = pending[i as usize].take() else {
                    continue;
                };
                let lp = &cfg.lps[p.lp];
                let id = format!("O{i}");
                let mut exec = |out: &mut Vec<_>, t: u64, ty: u8, q: u64, px: i64| {
                    exec_n += 1;
                    out.push((
                        t,
                        OwnedEvent::Exec {
                            cl_ord_id: id.clone(),
                            exec_id: format!("E{exec_n}"),
                            exec_type: ty,
                            last_qty: q,
                            last_px: px,
                            lp: lp.name.clone(),
                        },
                    ));
                };
                if rng.f64() < lp.reject {
                    exec(&mut out, t, b'8', 0, 0);
                    continue;
                }
                let u = rng.f64();
                let filled = if u < lp.full_fill {
                    p.qty
                } else if u < lp.full_fill + lp.half_fill {
                    p.qty / 2
                } else {
                    0
                };
                if filled > 0 {
                    let two_mid = (p.bid + p.ask) as f64;
                    let touch = if p.side > 0 { p.ask } else { p.bid };
                    let px = touch as f64 - f64::from(p.side) * lp.pi_bps * 1e-4 * two_mid / 2.0;
                    exec(&mut out, t, b'F', filled, px.round() as i64);
                    let d = (f64::from(p.side) * lp.impact_bps * 1000.0).round() as i32;
                    push(&mut heap, t + 1_000, Action::Jump(p.sym as u32, d));
                }
                if filled < p.qty {
                    exec(&mut out, t + 1, b'4', 0, 0);
                }
            }
            Action::Jump(sym, milli_bps) => {
                let m = &mut mids[sym as usize];
                *m *= 1.0 + f64::from(milli_bps) / 1000.0 * 1e-4;
                let (bid, ask) = quote_of(*m, cfg.half_spread_bps);
                out.push((
                    t,
                    OwnedEvent::Quote {
                        symbol: names[sym as usize].clone(),
                        bid,
                        ask,
                    },
                ));
            }
            Action::Noise => {
                let sym = rng.below(cfg.symbols as u64) as usize;
                let m = &mut mids[sym];
                *m *= 1.0 + (rng.f64() * 2.0 - 1.0) * cfg.noise_bps * 1e-4;
                let (bid, ask) = quote_of(*m, cfg.half_spread_bps);
                out.push((
                    t,
                    OwnedEvent::Quote {
                        symbol: names[sym].clone(),
                        bid,
                        ask,
                    },
                ));
            }
        }
    }
    out
}

/// Encodes an event as one FIX 4.4 message (SOH delimited, BodyLength and CheckSum right), the
/// SOR's CompID `SOR` on one side and the LP's name (or `MD` for market data) on the other.
/// Execution reports carry placeholder Symbol/Side (the engine keys them by ClOrdID).
pub fn fix_bytes(ts_ns: u64, seq: u64, ev: &OwnedEvent, out: &mut Vec<u8>) {
    fix_bytes_as(ts_ns, seq, ev, None, out);
}

/// [`fix_bytes`] with every message from `comp_ids.0` to `comp_ids.1` when given: one FIX
/// session's stream (a drop copy: the LP then comes from ExDestination on the order).
pub fn fix_bytes_as(
    ts_ns: u64,
    seq: u64,
    ev: &OwnedEvent,
    comp_ids: Option<(&str, &str)>,
    out: &mut Vec<u8>,
) {
    use crate::fix::num::{write_fixed8, write_timestamp};
    let mut body: Vec<u8> = Vec::with_capacity(256);
    let f = |b: &mut Vec<u8>, tag: &str, v: &[u8]| {
        b.extend_from_slice(tag.as_bytes());
        b.push(b'=');
        b.extend_from_slice(v);
        b.push(1);
    };
    let px = |b: &mut Vec<u8>, tag: &str, v: i64| {
        b.extend_from_slice(tag.as_bytes());
        b.push(b'=');
        write_fixed8(b, v);
        b.push(1);
    };
    let header = |b: &mut Vec<u8>, mt: &str, sender: &str, target: &str| {
        let (sender, target) = comp_ids.unwrap_or((sender, target));
        f(b, "35", mt.as_bytes());
        f(b, "49", sender.as_bytes());
        f(b, "56", target.as_bytes());
        f(b, "34", seq.to_string().as_bytes());
        b.extend_from_slice(b"52=");
        write_timestamp(b, ts_ns as i64);
        b.push(1);
    };
    match ev {
        OwnedEvent::Quote { symbol, bid, ask } => {
            header(&mut body, "W", "MD", "SOR");
            f(&mut body, "55", symbol.as_bytes());
            f(&mut body, "268", b"2");
            f(&mut body, "269", b"0");
            px(&mut body, "270", *bid);
            f(&mut body, "269", b"1");
            px(&mut body, "270", *ask);
        }
        OwnedEvent::NewOrder {
            cl_ord_id,
            symbol,
            side,
            qty,
            lp,
        } => {
            header(&mut body, "D", "SOR", lp);
            f(&mut body, "11", cl_ord_id.as_bytes());
            f(&mut body, "55", symbol.as_bytes());
            f(&mut body, "54", &[*side]);
            f(&mut body, "38", qty.to_string().as_bytes());
            f(&mut body, "40", b"1");
            f(&mut body, "59", b"3");
            f(&mut body, "100", lp.as_bytes());
        }
        OwnedEvent::Exec {
            cl_ord_id,
            exec_id,
            exec_type,
            last_qty,
            last_px,
            lp,
        } => {
            header(&mut body, "8", lp, "SOR");
            f(&mut body, "37", cl_ord_id.as_bytes());
            f(&mut body, "11", cl_ord_id.as_bytes());
            f(&mut body, "17", exec_id.as_bytes());
            f(&mut body, "150", &[*exec_type]);
            let status = match exec_type {
                b'F' => b'1',
                o => *o,
            };
            f(&mut body, "39", &[status]);
            f(&mut body, "55", b"X");
            f(&mut body, "54", b"1");
            f(&mut body, "151", b"0");
            f(&mut body, "14", last_qty.to_string().as_bytes());
            if *exec_type == b'F' {
                f(&mut body, "32", last_qty.to_string().as_bytes());
                px(&mut body, "31", *last_px);
            }
        }
    }
    let start = out.len();
    out.extend_from_slice(b"8=FIX.4.4\x019=");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.push(1);
    out.extend_from_slice(&body);
    let cs = out[start..].iter().map(|&b| u32::from(b)).sum::<u32>() % 256;
    out.extend_from_slice(format!("10={cs:03}\x01").as_bytes());
}
