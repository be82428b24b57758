//! Criterion: how fast the FIX codec frames, parses and converts the fix_parse ring of
//! ExecutionReports (per message), with the naive split-into-a-Vec parser as the baseline in the
//! same run. The pinned harness with the QuickFIX baseline is `bench/src/bin/fix_parse.rs`.
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lpscore::fix::{Encoder, ExecutionReport, Framer, FramerConfig, Parser, Typed};
use std::hint::black_box;

const RING: usize = 4096;

fn naive(msg: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(msg).ok()?;
    let fields: Vec<(u32, &str)> = s
        .split('\x01')
        .filter(|f| !f.is_empty())
        .filter_map(|f| f.split_once('=').map(|(k, v)| (k.parse().unwrap_or(0), v)))
        .collect();
    let get = |tag: u32| fields.iter().find(|(t, _)| *t == tag).map(|(_, v)| *v);
    let px: f64 = get(31)?.parse().ok()?;
    let lq: f64 = get(32)?.parse().ok()?;
    let seq: u64 = get(34)?.parse().ok()?;
    Some(px as u64 + lq as u64 + seq + get(37)?.len() as u64)
}

fn bench(c: &mut Criterion) {
    let (stream, ranges) = lpscore::fix::testkit::execution_report_ring(RING, 0x5eed);
    let cfg = FramerConfig::default();
    let mut g = c.benchmark_group("fix_parse");
    g.throughput(Throughput::Elements(RING as u64));
    g.bench_function("ours_frame_parse_view_ring", |b| {
        let mut framer = Framer::new(cfg);
        let mut parser = Parser::new(cfg);
        b.iter(|| {
            let mut acc = 0i64;
            let mut frames = framer.feed(black_box(&stream));
            while let Some(Ok(f)) = frames.next_frame() {
                let m = parser.parse_frame(f).unwrap();
                let er = ExecutionReport::from_message(&m).unwrap();
                acc = acc.wrapping_add(er.last_px.map_or(0, |p| p.0) ^ er.cum_qty.0);
            }
            acc
        })
    });
    // The engine glue's path: the same, through `Message::typed()`.
    g.bench_function("ours_frame_parse_typed_ring", |b| {
        let mut framer = Framer::new(cfg);
        let mut parser = Parser::new(cfg);
        b.iter(|| {
            let mut acc = 0i64;
            let mut frames = framer.feed(black_box(&stream));
            while let Some(Ok(f)) = frames.next_frame() {
                let m = parser.parse_frame(f).unwrap();
                if let Typed::ExecutionReport(er) = m.typed().unwrap() {
                    acc = acc.wrapping_add(er.last_px.map_or(0, |p| p.0) ^ er.cum_qty.0);
                }
            }
            acc
        })
    });
    g.bench_function("naive_split_vec_ring", |b| {
        b.iter(|| {
            ranges
                .iter()
                .map(|r| naive(black_box(&stream[r.clone()])).unwrap_or(0))
                .sum::<u64>()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("fix_encode");
    let mut parser = Parser::new(cfg);
    let first = &stream[ranges[0].clone()];
    let m = parser.parse(first).unwrap();
    let er = ExecutionReport::from_message(&m).unwrap();
    g.throughput(Throughput::Elements(1));
    g.bench_function("execution_report", |b| {
        let mut enc = Encoder::new();
        b.iter(|| enc.encode(black_box(&er)).len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
