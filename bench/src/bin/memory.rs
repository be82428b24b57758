//! `memory`: the engine's memory against targets.md's row ("bounded by configuration; flat over a
//! 10-minute soak; 1 M open orders fit in <= 512 MB"), measured as this process's resident set
//! (`VmRSS` in `/proc/self/status`).
//!
//! ```text
//! cargo run --release -p lpscore-bench --bin memory -- [--seconds S] [--orders N]
//! ```
//!
//! 1. **Open orders.** An engine sized for `N` orders (default 1,048,576 = 2^20, the other tables
//!    as the `engine` harness sizes them) is fed `N` NewOrderSingles through the FIX path
//!    (`FixFeed::on_fix`: 20 LPs, 500 symbols, distinct ClOrdIDs, nothing filled or cancelled),
//!    so every one stays open. Reported: the resident set before the engine exists (the
//!    baseline), with the empty engine, and with `N` open orders.
//! 2. **Full table.** Another `N` NewOrderSingles: the table is full, so each one expires the
//!    oldest open order (counted as `evicted_open`); the resident set must not grow.
//! 3. **Soak.** The realistic mix of the `engine` harness (orders, acks, fills, cancels, rejects,
//!    about 30 % market data), generated in rounds of 100,000 orders with fresh ClOrdIDs, ExecIDs
//!    and times, fed for `S` seconds (default 60; the target's soak is `--seconds 600`) into a
//!    fresh engine with the `engine` harness's configuration. The resident set is sampled after
//!    every round; the first quarter of the time is the warm-up (tables filling up to their
//!    configured capacities), the growth is the largest sample after it minus the first sample
//!    after it.
//!
//! Ends with `{"bench":"memory","open_orders":..,"rss_open_orders_mb":..,"target_mb":512,..}`.
#![allow(clippy::disallowed_methods)] // a harness measures wall time

use std::time::{Duration, Instant};

use lpscore::engine::synth::{OwnedEvent, fix_bytes, generate};
use lpscore::engine::{Engine, EngineConfig, FixFeed};
use lpscore::publish::NullSink;

const SEC: u64 = 1_000_000_000;
/// Megabytes of the target: 10^6 bytes (the stricter reading of "512 MB").
const MB: f64 = 1e6;

/// This process's resident set, bytes.
fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS in /proc/self/status")
        * 1024
}

/// The `engine` harness's configuration, with room for `orders` orders.
fn config(orders: usize) -> EngineConfig {
    EngineConfig {
        max_lps: 32,
        max_symbols: 512,
        max_cells: 1 << 17,
        max_orders: orders,
        ..EngineConfig::default()
    }
}

fn feed(orders: usize) -> FixFeed<NullSink> {
    FixFeed::new(Engine::new(config(orders), NullSink).expect("engine configuration"))
}

/// NewOrderSingles `first..first + n` (ClOrdID `M<k>`), one every microsecond from `t0`.
fn new_orders(f: &mut FixFeed<NullSink>, first: u64, n: u64, t0: u64) {
    let mut buf = Vec::with_capacity(256);
    for k in first..first + n {
        let ev = OwnedEvent::NewOrder {
            cl_ord_id: format!("M{k}"),
            symbol: format!("S{:03}", k % 500),
            side: if k % 2 == 0 { b'1' } else { b'2' },
            qty: 1_000 * (1 + k % 50),
            lp: format!("LP{:02}", k % 20),
        };
        let ts = t0 + k * 1_000;
        buf.clear();
        fix_bytes(ts, k + 1, &ev, &mut buf);
        f.on_fix(ts, 1, &buf).expect("a valid NewOrderSingle");
    }
}

/// One soak round: the realistic mix with round `r`'s seed, times shifted past the previous
/// rounds and identifiers made unique to the round.
fn soak_round(r: u64, orders: usize) -> (Vec<u8>, Vec<(u64, usize, usize)>) {
    let mut cfg = lpscore_bench::realistic_config(orders, 0x50A4 + r);
    // Each round spans orders x 20 us of event time; leave a second between rounds.
    let span = orders as u64 * cfg.order_gap_ns + SEC;
    cfg.start_ns += r * span;
    let evs = generate(&cfg);
    let mut bytes = Vec::with_capacity(evs.len() * 170);
    let mut msgs = Vec::with_capacity(evs.len());
    for (i, (t, mut e)) in evs.into_iter().enumerate() {
        match &mut e {
            OwnedEvent::NewOrder { cl_ord_id, .. } => cl_ord_id.push_str(&format!(".{r}")),
            OwnedEvent::Exec {
                cl_ord_id, exec_id, ..
            } => {
                cl_ord_id.push_str(&format!(".{r}"));
                exec_id.push_str(&format!(".{r}"));
            }
            OwnedEvent::Quote { .. } => {}
        }
        let start = bytes.len();
        fix_bytes(t, i as u64 + 1, &e, &mut bytes);
        msgs.push((t, start, bytes.len()));
    }
    (bytes, msgs)
}

fn main() {
    let mut seconds = 60u64;
    let mut orders = 1usize << 20;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().and_then(|v| v.parse::<u64>().ok());
        match (a.as_str(), v) {
            ("--seconds", Some(v)) => seconds = v.max(1),
            ("--orders", Some(v)) => orders = v.max(1) as usize,
            _ => {
                eprintln!("usage: memory [--seconds S] [--orders N]");
                std::process::exit(2);
            }
        }
    }
    let t0 = 1_754_141_400 * SEC;

    // 1. Open orders.
    let rss_base = rss();
    let mut f = feed(orders);
    let rss_empty = rss();
    new_orders(&mut f, 0, orders as u64, t0);
    let rss_open = rss();
    let open = f.engine.open_orders();
    assert_eq!(open, orders, "every order stays open");
    let per_order = (rss_open.saturating_sub(rss_base)) as f64 / orders as f64;
    println!(
        "open orders: {open} held; VmRSS {:.1} MB before the engine, {:.1} MB with the empty \
         engine (its tables are sized by the configuration and touched when it is made), {:.1} MB \
         with {open} open orders ({:+.1} MB for the orders themselves): the engine holds {:.1} MB, \
         {per_order:.0} B per order of capacity, every other table included",
        rss_base as f64 / MB,
        rss_empty as f64 / MB,
        rss_open as f64 / MB,
        (rss_open as f64 - rss_empty as f64) / MB,
        (rss_open - rss_base) as f64 / MB,
    );

    // 2. Full table: as many again.
    new_orders(&mut f, orders as u64, orders as u64, t0);
    let rss_full = rss();
    let evicted = f.engine.counters().evicted_open;
    println!(
        "full table: {orders} more orders, {evicted} oldest open orders expired (counted), \
         {} open; VmRSS {:.1} MB ({:+.1} MB)",
        f.engine.open_orders(),
        rss_full as f64 / MB,
        (rss_full as f64 - rss_open as f64) / MB,
    );
    drop(f);

    // 3. Soak.
    let mut f = feed(1 << 18);
    let start = Instant::now();
    let warm = Duration::from_secs(seconds) / 4;
    let mut samples: Vec<(f64, u64, u64)> = Vec::new(); // (s, messages so far, rss)
    let mut msgs_total = 0u64;
    let mut r = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        let (bytes, msgs) = soak_round(r, 100_000);
        for &(t, a, b) in &msgs {
            let _ = f.on_fix(t, 1, &bytes[a..b]);
        }
        f.engine.flush();
        msgs_total += msgs.len() as u64;
        samples.push((start.elapsed().as_secs_f64(), msgs_total, rss()));
        r += 1;
    }
    let after: Vec<_> = samples
        .iter()
        .filter(|s| s.0 >= warm.as_secs_f64())
        .collect();
    let (first, max) = match after.first() {
        Some(s) => (s.2, after.iter().map(|s| s.2).max().unwrap_or(s.2)),
        None => (rss(), rss()),
    };
    let growth = max as f64 - first as f64;
    let c = f.engine.counters();
    println!(
        "soak: {r} rounds, {msgs_total} messages in {:.0} s; VmRSS after the warm-up ({:.0} s) \
         {:.1} MB, largest after it {:.1} MB ({:+.2} MB); orders held {}, evicted open {}, \
         parse errors {}",
        start.elapsed().as_secs_f64(),
        warm.as_secs_f64(),
        first as f64 / MB,
        max as f64 / MB,
        growth / MB,
        f.engine.orders_held(),
        c.evicted_open,
        f.counters.parse_errors,
    );
    for (s, m, b) in samples.iter().step_by((samples.len() / 10).max(1)) {
        println!(
            "  t {s:6.1} s  messages {m:>11}  VmRSS {:.1} MB",
            *b as f64 / MB
        );
    }
    let mb = |b: u64| (b as f64 / MB * 10.0).round() / 10.0;
    println!(
        "target {open} open orders in <= 512 MB: {}",
        if (rss_open - rss_base) as f64 <= 512.0 * MB {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "{{\"bench\":\"memory\",\"open_orders\":{open},\"rss_base_mb\":{},\"rss_open_orders_mb\":{},\
         \"rss_empty_engine_mb\":{},\"engine_mb\":{},\"bytes_per_order\":{per_order:.0},\"target_mb\":512,\"full_table_growth_mb\":{},\
         \"soak_s\":{:.0},\"soak_msgs\":{msgs_total},\"soak_rss_mb\":{},\"soak_growth_mb\":{:.2}}}",
        mb(rss_base),
        mb(rss_open),
        mb(rss_empty),
        mb(rss_open - rss_base),
        ((rss_full as f64 - rss_open as f64) / MB * 10.0).round() / 10.0,
        start.elapsed().as_secs_f64(),
        mb(max),
        growth / MB,
    );
}
