//! The seed's ACME scenario: LP_A leads on history; one complete fill keeps it there; then its
//! fills shrink to half and its latency rises from 15 to 40 ms, and on the fast statistics it
//! loses the lead (Block profile, the scenario's "impact, fill rate and latency" priorities) within
//! a few orders, its score falling with every bad order under every profile.
use lpscore::engine::{Engine, EngineConfig, Event, ExecReport, NewOrder, Quote};
use lpscore::kpi::{RowKey, px};
use lpscore::publish::MemorySink;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;
const T0: u64 = 1_754_128_800 * SEC; // 10:00 New York, 2025-08-02

struct Lp {
    name: &'static str,
    /// One order in `miss_every` is filled only half.
    miss_every: u64,
    latency_ms: u64,
    /// Price improvement against the touch, in cents on a 20.00 / 20.02 market.
    improve_cents: f64,
}

struct Sim {
    e: Engine<MemorySink>,
    n: u64,
    ids: Vec<String>,
}

impl Sim {
    fn quote(&mut self, t: u64) {
        self.e.on_event(
            t,
            &Event::Quote(Quote {
                symbol: b"ACME",
                bid: px(20.00),
                ask: px(20.02),
            }),
        );
    }

    /// A 20,000-share IOC sell to `lp` at `t`, answered after `latency_ms` with `filled` shares.
    fn order(&mut self, t: u64, lp: &str, filled: u64, latency_ms: u64, improve_cents: f64) {
        self.n += 1;
        self.ids.push(format!("O{}", self.n));
        self.ids.push(format!("X{}a", self.n));
        self.ids.push(format!("X{}b", self.n));
        let k = self.ids.len();
        let (id, xa, xb) = (
            self.ids[k - 3].clone(),
            self.ids[k - 2].clone(),
            self.ids[k - 1].clone(),
        );
        self.e.on_event(
            t,
            &Event::NewOrder(NewOrder {
                session: 1,
                cl_ord_id: id.as_bytes(),
                symbol: b"ACME",
                side: b'2',
                qty: 20_000,
                ord_type: b'2',
                tif: b'3',
                limit: px(19.90),
                ex_destination: lp.as_bytes(),
                ..NewOrder::default()
            }),
        );
        let t1 = t + latency_ms * MS;
        if filled > 0 {
            self.e.on_event(
                t1,
                &Event::Exec(ExecReport {
                    session: 1,
                    cl_ord_id: id.as_bytes(),
                    exec_id: xa.as_bytes(),
                    exec_type: b'F',
                    last_qty: filled,
                    last_px: px(20.00 + improve_cents / 100.0),
                    ..ExecReport::default()
                }),
            );
        }
        if filled < 20_000 {
            self.e.on_event(
                t1 + 1,
                &Event::Exec(ExecReport {
                    session: 1,
                    cl_ord_id: id.as_bytes(),
                    exec_id: xb.as_bytes(),
                    exec_type: b'4',
                    ..ExecReport::default()
                }),
            );
        }
    }

    fn scores(&self, lp: &str) -> [f32; 3] {
        let key = RowKey {
            sym: self.e.symbol_slot("ACME").unwrap(),
            bucket: self.e.all_sizes(),
            lp: self.e.lp_index(lp).unwrap(),
        };
        let r = self.e.row(key).unwrap();
        [r.scores[0], r.scores[1], r.scores[2]]
    }
}

const BLOCK: usize = 1;

#[test]
fn acme_lp_a_loses_the_lead_within_a_few_orders() {
    let lps = [
        Lp {
            name: "LP_A",
            miss_every: 50, // 99% of shares
            latency_ms: 15,
            improve_cents: 0.1,
        },
        Lp {
            name: "LP_C",
            miss_every: 25, // 98% of shares
            latency_ms: 25,
            improve_cents: 0.16,
        },
        Lp {
            name: "LP_D",
            miss_every: 2, // a dark pool: 75%
            latency_ms: 30,
            improve_cents: 0.05,
        },
    ];
    let mut sim = Sim {
        e: Engine::new(
            EngineConfig {
                max_symbols: 16,
                max_lps: 8,
                ..EngineConfig::default()
            },
            MemorySink::default(),
        )
        .unwrap(),
        n: 0,
        ids: Vec::new(),
    };
    // 30 minutes of history: each LP gets an order every 6 s.
    let mut t = T0 - 1800 * SEC;
    let mut i = 0u64;
    while t < T0 {
        sim.quote(t);
        for (j, lp) in lps.iter().enumerate() {
            let filled = if (i + j as u64) % lp.miss_every == 0 {
                10_000
            } else {
                20_000
            };
            sim.order(
                t + j as u64 * 2 * SEC,
                lp.name,
                filled,
                lp.latency_ms,
                lp.improve_cents,
            );
        }
        i += 1;
        t += 6 * SEC;
    }
    sim.quote(T0);
    let a0 = sim.scores("LP_A");
    let c0 = sim.scores("LP_C");
    let d0 = sim.scores("LP_D");
    println!("10:00 before: LP_A {a0:?} LP_C {c0:?} LP_D {d0:?}");
    for p in 0..3 {
        assert!(
            a0[p] > c0[p] && a0[p] > d0[p],
            "LP_A should lead profile {p} on history"
        );
    }
    // 10:00: 20,000 to LP_A, complete in 15 ms: still the leader.
    sim.order(T0 + SEC, "LP_A", 20_000, 15, 0.1);
    let a1 = sim.scores("LP_A");
    println!("after the complete fill: LP_A {a1:?}");
    assert!(a1[BLOCK] > sim.scores("LP_C")[BLOCK]);
    // Then LP_A deteriorates: half fills at 40 ms. Its score falls with every order, under every
    // profile, and it loses the Block lead to LP_C within three orders.
    let mut prev = a1;
    let mut lost_at = None;
    for k in 0..5u64 {
        sim.order(T0 + (3 + 2 * k) * SEC, "LP_A", 10_000, 40, 0.1);
        let a = sim.scores("LP_A");
        let c = sim.scores("LP_C");
        println!("bad order {}: LP_A {a:?} LP_C {c:?}", k + 1);
        for p in 0..3 {
            assert!(a[p] < prev[p], "profile {p}: {} -> {}", prev[p], a[p]);
        }
        if lost_at.is_none() && c[BLOCK] > a[BLOCK] {
            lost_at = Some(k + 1);
        }
        prev = a;
    }
    let lost_at = lost_at.expect("LP_A never lost the Block lead");
    println!("LP_A lost the Block lead after {lost_at} bad order(s)");
    assert!(lost_at <= 3);
}
