//! Whole-engine harness: an in-memory stream of raw FIX bytes (20 LPs, 500 symbols, about 30%
//! market data, the rest NewOrderSingles and ExecutionReports) through framing + parsing + order
//! state + KPI statistics + scoring + shared-memory publication, one core. The parse-only figure
//! (frame + index + typed view, nothing else) is measured in the same run as the baseline.
//!
//! The first half of the stream warms the engine up (creates its statistics cells, fills its
//! tables); the second half is timed: steady state. Usage: `engine [orders] [core]` (default
//! 200000 orders, no pinning). Ends with one JSON line:
//! `{"bench":"engine","ns_per_msg":..,"msgs_per_s":..,"parse_only_ns_per_msg":..,...}`.
use std::hint::black_box;
use std::time::Instant;

use lpscore::engine::synth::{LpTruth, OwnedEvent, SynthConfig, fix_bytes, generate};
use lpscore::engine::{Engine, EngineConfig, FixFeed, ShmSink, writer_options};
use lpscore::fix::{FramerConfig, Parser};
use lpscore::publish::NullSink;

const SEC: u64 = 1_000_000_000;

fn lps() -> Vec<LpTruth> {
    (0..20)
        .map(|i| {
            let f = f64::from(i);
            LpTruth {
                name: format!("LP{i:02}"),
                full_fill: 0.55 + 0.02 * f,
                half_fill: 0.1,
                reject: 0.01 + 0.005 * f,
                latency_ns: 80_000.0 + 40_000.0 * f,
                pi_bps: -0.5 + 0.1 * f,
                impact_bps: 0.2 + 0.1 * f,
            }
        })
        .collect()
}

struct Stream {
    bytes: Vec<u8>,
    msgs: Vec<(u64, std::ops::Range<usize>)>,
    md: usize,
}

fn build(orders: usize) -> Stream {
    let evs = generate(&SynthConfig {
        lps: lps(),
        symbols: 500,
        orders,
        order_gap_ns: 20_000,
        noise_quotes_per_order: 1,
        noise_bps: 0.5,
        half_spread_bps: 1.0,
        start_ns: 1_754_141_400 * SEC,
        seed: 0xBE7C,
    });
    // Thin the market data to about 30% of the messages (deterministically).
    let n_md = evs
        .iter()
        .filter(|(_, e)| matches!(e, OwnedEvent::Quote { .. }))
        .count();
    let n_other = evs.len() - n_md;
    let keep_md = (n_other as f64 * 0.3 / 0.7) as usize;
    let mut acc = 0usize;
    let mut s = Stream {
        bytes: Vec::with_capacity(evs.len() * 170),
        msgs: Vec::with_capacity(evs.len()),
        md: 0,
    };
    for (i, (t, e)) in evs.iter().enumerate() {
        if matches!(e, OwnedEvent::Quote { .. }) {
            acc += keep_md;
            if acc < n_md && i >= 500 {
                continue;
            }
            acc = acc.saturating_sub(n_md);
            s.md += 1;
        }
        let start = s.bytes.len();
        fix_bytes(*t, i as u64 + 1, e, &mut s.bytes);
        s.msgs.push((*t, start..s.bytes.len()));
    }
    s
}

fn config() -> EngineConfig {
    let publish_interval_ns = std::env::var("LPSCORE_PUBLISH_INTERVAL_NS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    EngineConfig {
        publish_interval_ns,
        max_lps: 32,
        max_symbols: 512,
        max_cells: 1 << 17,
        max_orders: 1 << 18,
        ..EngineConfig::default()
    }
}

#[allow(clippy::disallowed_methods)] // a harness measures wall time
fn now() -> Instant {
    Instant::now()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let orders: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    if let Some(core) = args.get(2).and_then(|a| a.parse::<usize>().ok()) {
        let ok = core_affinity::set_for_current(core_affinity::CoreId { id: core });
        eprintln!("pinned to core {core}: {ok}");
    }
    let s = build(orders);
    let n = s.msgs.len();
    let half = n / 2;
    let timed = n - half;
    println!(
        "stream: {n} messages, {} bytes, {:.1}% market data, 20 LPs, 500 symbols",
        s.bytes.len(),
        100.0 * s.md as f64 / n as f64
    );

    // Baseline in the same run: frame + index + typed view only.
    let mut parser = Parser::new(FramerConfig::default());
    let mut best_parse = f64::MAX;
    for _ in 0..3 {
        let t = now();
        let mut acc = 0usize;
        for (_, r) in &s.msgs {
            let m = parser.parse(black_box(&s.bytes[r.clone()])).unwrap();
            let ty = m.typed().unwrap();
            acc = acc.wrapping_add(black_box(&ty) as *const _ as usize & 1);
        }
        black_box(acc);
        best_parse = best_parse.min(t.elapsed().as_nanos() as f64 / n as f64);
    }

    // Whole path into a real scoreboard file (fresh engine each pass: ids are unique per stream).
    let path = std::env::temp_dir().join(format!("lpscore-bench-engine-{}", std::process::id()));
    let mut best = f64::MAX;
    let mut null_best = f64::MAX;
    let mut pubs = 0;
    for pass in 0..3 {
        let cfg = config();
        let w = lpscore_shm::Writer::create(&path, &writer_options(&cfg)).expect("scoreboard");
        let mut feed = FixFeed::new(Engine::new(cfg.clone(), ShmSink::new(w, &cfg)).unwrap());
        for (ts, r) in &s.msgs[..half] {
            let _ = feed.on_fix(*ts, 1, &s.bytes[r.clone()]);
        }
        let p0 = feed.engine.counters().publications;
        let t = now();
        for (ts, r) in &s.msgs[half..] {
            let _ = feed.on_fix(*ts, 1, &s.bytes[r.clone()]);
        }
        feed.engine.flush();
        let ns = t.elapsed().as_nanos() as f64 / timed as f64;
        best = best.min(ns);
        pubs = feed.engine.counters().publications - p0;
        if pass == 0 {
            let c = feed.engine.counters();
            let (cells, full) = feed.engine.cells();
            println!("statistics cells: {cells} (updates dropped for lack of cells: {full})");
            println!(
                "engine: {} orders, {} execs, {} quotes, {} rows published, {} invalid, {} unknown, {} parse errors, shm errors {}",
                c.orders,
                c.execs,
                c.quotes,
                c.publications,
                c.invalid_transitions,
                c.unknown_cl_ord_id,
                feed.counters.parse_errors,
                feed.engine.sink().errors
            );
        }
        drop(feed);
        // Same path with no publication (what the shm write costs).
        let mut nf = FixFeed::new(Engine::new(cfg, NullSink).unwrap());
        for (ts, r) in &s.msgs[..half] {
            let _ = nf.on_fix(*ts, 1, &s.bytes[r.clone()]);
        }
        let t = now();
        for (ts, r) in &s.msgs[half..] {
            let _ = nf.on_fix(*ts, 1, &s.bytes[r.clone()]);
        }
        nf.engine.flush();
        null_best = null_best.min(t.elapsed().as_nanos() as f64 / timed as f64);
    }
    let _ = std::fs::remove_file(&path);
    let mut lock = path.into_os_string();
    lock.push(".lock");
    let _ = std::fs::remove_file(lock);

    println!(
        "parse only: {best_parse:.1} ns/msg; whole engine: {best:.1} ns/msg ({:.2} M msgs/s), \
         without shm publication {null_best:.1} ns/msg; engine/parse ratio {:.2}",
        1e3 / best,
        best / best_parse
    );
    println!(
        "{{\"bench\":\"engine\",\"ns_per_msg\":{best:.1},\"msgs_per_s\":{:.0},\"parse_only_ns_per_msg\":{best_parse:.1},\"null_sink_ns_per_msg\":{null_best:.1},\"messages_timed\":{timed},\"market_data_share\":{:.3},\"rows_published\":{pubs}}}",
        1e9 / best,
        s.md as f64 / n as f64
    );
}
