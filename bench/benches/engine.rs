//! Criterion: the whole engine per message (raw FIX bytes -> parse -> orders -> KPIs -> scores ->
//! rows to a null sink) against parsing alone, on the same synthetic stream. The harness with the
//! shared-memory publication and the JSON line is `bench/src/bin/engine.rs`.
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lpscore::engine::synth::{LpTruth, SynthConfig, fix_bytes, generate};
use lpscore::engine::{Engine, EngineConfig, FixFeed};
use lpscore::fix::{FramerConfig, Parser};
use lpscore::publish::NullSink;
use std::hint::black_box;

fn stream() -> (Vec<u8>, Vec<(u64, std::ops::Range<usize>)>) {
    let lps = (0..20)
        .map(|i| LpTruth {
            name: format!("LP{i:02}"),
            full_fill: 0.7,
            half_fill: 0.1,
            reject: 0.02,
            latency_ns: 100_000.0 + 20_000.0 * f64::from(i),
            pi_bps: 0.1 * f64::from(i),
            impact_bps: 0.5,
        })
        .collect();
    let evs = generate(&SynthConfig {
        lps,
        symbols: 500,
        orders: 20_000,
        order_gap_ns: 20_000,
        noise_quotes_per_order: 0,
        noise_bps: 0.5,
        half_spread_bps: 1.0,
        start_ns: 1_754_141_400_000_000_000,
        seed: 7,
    });
    let mut bytes = Vec::new();
    let mut msgs = Vec::new();
    for (i, (t, e)) in evs.iter().enumerate() {
        let s = bytes.len();
        fix_bytes(*t, i as u64 + 1, e, &mut bytes);
        msgs.push((*t, s..bytes.len()));
    }
    (bytes, msgs)
}

fn bench(c: &mut Criterion) {
    let (bytes, msgs) = stream();
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_only_per_msg", |b| {
        let mut p = Parser::new(FramerConfig::default());
        let mut i = 0;
        b.iter(|| {
            let (_, r) = &msgs[i % msgs.len()];
            i += 1;
            let m = p.parse(black_box(&bytes[r.clone()])).unwrap();
            black_box(m.typed().is_ok())
        })
    });
    g.bench_function("whole_engine_per_msg", |b| {
        // A fresh engine for every pass over the stream (ClOrdIDs are unique within it); only the
        // feeding is timed.
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let mut feed =
                    FixFeed::new(Engine::new(EngineConfig::default(), NullSink).unwrap());
                let k = left.min(msgs.len());
                #[allow(clippy::disallowed_methods)] // a benchmark measures wall time
                let t = std::time::Instant::now();
                for (ts, r) in &msgs[..k] {
                    let _ = feed.on_fix(*ts, 1, black_box(&bytes[r.clone()]));
                }
                total += t.elapsed();
                left -= k;
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
