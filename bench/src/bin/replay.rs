//! Replay throughput harness: a realistic FIX log (NewOrderSingles, acks, fills, cancels and
//! cancel requests, about 30% market data, 20 LPs, 500 symbols) written to a temp file, replayed
//! through the whole engine by `lpscore::journal::replay::Replayer` (read in 8 MiB blocks, line
//! split and header scan on a reader thread; FixFeed parse, order state, KPIs, scoring, row
//! capture on this one). Baselines in the same run: parse only (frame + index + typed view of
//! every line, file already in memory), and the engine alone on the messages in memory.
//! Also measured: the same messages as a QuickFIX `FileLog` (timestamp prefix) and as a journal.
//!
//! Usage: `replay [orders] [core]` (default 200000 orders; `core` pins this thread there and the
//! reader thread to another core). Ends with one JSON line:
//! `{"bench":"replay","mb_per_s":..,"msgs_per_s":..,"parse_only_mb_per_s":..,...}`.
#![allow(clippy::disallowed_methods)] // a harness measures wall time with Instant::now
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use lpscore::engine::EngineConfig;
use lpscore::engine::synth::{OwnedEvent, fix_bytes};
use lpscore::fix::{FramerConfig, Parser};
use lpscore::journal::replay::{LatestSink, Replayer};
use lpscore::journal::{DurabilityKind, JournalConfig, Record};

/// Frames a body (fields after BodyLength) into a FIX 4.4 message.
fn frame(body: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(b"8=FIX.4.4\x019=");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.push(1);
    out.extend_from_slice(body);
    let cs = out[start..].iter().map(|&b| u32::from(b)).sum::<u32>() % 256;
    out.extend_from_slice(format!("10={cs:03}\x01").as_bytes());
}

/// (capture ts, message) in time order.
fn build(orders: usize) -> (Vec<(u64, Vec<u8>)>, usize) {
    let evs = lpscore_bench::realistic_events(orders, 0xBE7C);
    let mut md = 0usize;
    let mut out = Vec::with_capacity(evs.len() + orders / 10);
    for (i, t, e) in &evs {
        let (i, t) = (*i, *t);
        if matches!(e, OwnedEvent::Quote { .. }) {
            md += 1;
        }
        let mut b = Vec::with_capacity(256);
        fix_bytes(t, i as u64 + 1, e, &mut b);
        out.push((t, b));
        // One order in ten also gets a cancel request right after it (35=F).
        if let OwnedEvent::NewOrder {
            cl_ord_id,
            symbol,
            lp,
            ..
        } = e
        {
            if i % 10 == 3 {
                let body = format!(
                    "35=F\x0149=SOR\x0156={lp}\x0134={}\x0152=20250802-13:30:00.000000000\x0111=X{cl_ord_id}\x0141={cl_ord_id}\x0155={symbol}\x0154=1\x0160=20250802-13:30:00.000\x01",
                    i + 1
                );
                let mut m = Vec::new();
                frame(body.as_bytes(), &mut m);
                out.push((t + 1_000, m));
            }
        }
    }
    (out, md)
}

fn config() -> EngineConfig {
    EngineConfig {
        max_lps: 32,
        max_symbols: 512,
        max_cells: 1 << 17,
        max_orders: 1 << 18,
        ..EngineConfig::default()
    }
}

fn write_file(path: &Path, msgs: &[(u64, Vec<u8>)], prefix: bool) -> u64 {
    let mut out = Vec::with_capacity(msgs.len() * 220);
    for (ts, m) in msgs {
        if prefix {
            lpscore::fix::num::write_timestamp(&mut out, *ts as i64);
            out.extend_from_slice(b" : ");
        }
        out.extend_from_slice(m);
        out.push(b'\n');
    }
    std::fs::write(path, &out).expect("write the log");
    out.len() as u64
}

/// Best of `passes` replays of `path`: (seconds, messages, malformed).
fn replay(path: &Path, passes: usize, reader_core: Option<usize>) -> (f64, u64, u64, String) {
    let mut best = f64::MAX;
    let mut msgs = 0;
    let mut bad = 0;
    let mut info = String::new();
    for _ in 0..passes {
        let mut rp = Replayer::new(config(), LatestSink::default()).expect("engine");
        rp.set_reader_core(reader_core);
        let t = Instant::now();
        rp.replay_path(path, &mut |_, _| {}).expect("replay");
        rp.finish();
        best = best.min(t.elapsed().as_secs_f64());
        msgs = rp.stats.messages;
        bad = rp.stats.malformed;
        let c = rp.feed.engine.counters();
        info = format!(
            "{} orders, {} execs ({} waited for their order, {} matched it later, {} never), {} quotes, {} cancel requests, {} rows, {} parse errors",
            c.orders,
            c.execs,
            c.early_buffered,
            c.early_matched,
            c.unknown_cl_ord_id,
            c.quotes,
            c.cancel_requests,
            rp.feed.engine.sink().rows.len(),
            rp.feed.counters.parse_errors
        );
    }
    (best, msgs, bad, info)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let orders: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    // Pinned: the engine side on `core`, the log reader thread on another core (read before
    // pinning: the ids are those of this thread's affinity mask).
    let mut reader_core = None;
    if let Some(core) = args.get(2).and_then(|a| a.parse::<usize>().ok()) {
        reader_core = core_affinity::get_core_ids()
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.id)
            .find(|&c| c != core);
        let ok = core_affinity::set_for_current(core_affinity::CoreId { id: core });
        eprintln!("pinned to core {core}: {ok}; log reader thread on core {reader_core:?}");
    }
    let (msgs, md) = build(orders);
    let n = msgs.len();
    let dir: PathBuf =
        std::env::temp_dir().join(format!("lpscore-bench-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let plain = dir.join("plain.log");
    let qf = dir.join("FIX.4.4-SOR-LP.messages.log");
    let bytes = write_file(&plain, &msgs, false);
    let qf_bytes = write_file(&qf, &msgs, true);
    println!(
        "log: {n} messages, {bytes} bytes ({:.0} B/msg), {:.1}% market data, 20 LPs, 500 symbols; \
         crc32c sse4.2: {}",
        bytes as f64 / n as f64,
        100.0 * md as f64 / n as f64,
        lpscore::journal::crc32c::hardware_accelerated()
    );

    // Baseline: parse only, file in memory.
    let data = std::fs::read(&plain).expect("read");
    let mut parser = Parser::new(FramerConfig::default());
    let mut parse_best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let mut k = 0usize;
        for line in data.split(|&b| b == b'\n') {
            if line.is_empty() {
                continue;
            }
            if let Ok(m) = parser.parse(black_box(line)) {
                if let Ok(ty) = m.typed() {
                    k = k.wrapping_add(black_box(&ty) as *const _ as usize & 1);
                }
            }
        }
        black_box(k);
        parse_best = parse_best.min(t.elapsed().as_secs_f64());
    }

    // Baseline 2: the engine alone on the same messages from memory (no file, no line
    // handling): FixFeed::on_fix with the replay's sessions (by CompID pair: SOR<->LP, MD).
    let mut engine_best = f64::MAX;
    for _ in 0..3 {
        let engine = lpscore::engine::Engine::new(config(), LatestSink::default()).expect("engine");
        let mut feed = lpscore::engine::FixFeed::new(engine);
        let t = Instant::now();
        for (ts, m) in &msgs {
            let _ = feed.on_fix(*ts, 0, black_box(m));
        }
        feed.engine.flush();
        engine_best = engine_best.min(t.elapsed().as_secs_f64());
    }

    // Baseline 3: the replay layer alone (read, line split, header scan; no engine).
    let mut layer_best = f64::MAX;
    for _ in 0..3 {
        let mut rp = Replayer::new(config(), LatestSink::default()).expect("engine");
        rp.set_dry_run(true);
        rp.set_reader_core(reader_core);
        let t = Instant::now();
        rp.replay_path(&plain, &mut |_, _| {}).expect("replay");
        layer_best = layer_best.min(t.elapsed().as_secs_f64());
        assert_eq!(rp.stats.messages as usize, n);
    }

    let (t_plain, m_plain, bad, info) = replay(&plain, 3, reader_core);
    assert_eq!(m_plain as usize, n);
    println!("engine: {info}; malformed {bad}");
    let (t_qf, m_qf, _, _) = replay(&qf, 3, reader_core);
    assert_eq!(m_qf as usize, n);

    // The same messages as a journal (durability none: this measures the reader, not the disk).
    let jdir = dir.join("journal");
    let cfg = JournalConfig {
        dir: jdir.clone(),
        durability: DurabilityKind::None,
        ..JournalConfig::default()
    };
    let (mut prod, handle) = lpscore::journal::start(&cfg).expect("journal");
    let t = Instant::now();
    for (i, (ts, m)) in msgs.iter().enumerate() {
        let rec = Record {
            ts_ns: *ts,
            session: 0,
            seq: i as u64 + 1,
            bytes: m,
        };
        while prod.append(&rec).is_err() {
            prod.resume(0);
            std::hint::spin_loop();
        }
    }
    let jstats = handle.shutdown().expect("journal shutdown");
    let t_jwrite = t.elapsed().as_secs_f64();
    let (t_j, m_j, _, _) = replay(&jdir, 3, reader_core);
    assert_eq!(m_j as usize, n);

    let mbps = |b: u64, t: f64| b as f64 / 1e6 / t;
    let mb_per_s = mbps(bytes, t_plain);
    let parse_mb = mbps(bytes, parse_best);
    let engine_mb = mbps(bytes, engine_best);
    let layer_mb = mbps(bytes, layer_best);
    println!(
        "replay layer alone (read 8 MiB blocks, lines, header scan, no engine): {layer_mb:.0} MB/s"
    );
    println!(
        "engine alone (in memory) {engine_mb:.0} MB/s ({:.0} ns/msg); replay layer (read, lines, \
         header scan) costs {:.0} ns/msg on top",
        engine_best * 1e9 / n as f64,
        (t_plain - engine_best).max(0.0) * 1e9 / n as f64
    );
    println!(
        "parse only {parse_mb:.0} MB/s; replay plain log {mb_per_s:.0} MB/s ({:.2} M msgs/s, {:.0} ns/msg); \
         QuickFIX log {:.0} MB/s; journal {:.0} MB/s of records ({:.0} MB/s of FIX); journal write \
         (ring + CRC + write, none) {:.0} MB/s",
        n as f64 / t_plain / 1e6,
        t_plain * 1e9 / n as f64,
        mbps(qf_bytes, t_qf),
        mbps(jstats.bytes, t_j),
        mbps(bytes, t_j),
        mbps(jstats.bytes, t_jwrite)
    );
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{{\"bench\":\"replay\",\"mb_per_s\":{mb_per_s:.1},\"msgs_per_s\":{:.0},\"parse_only_mb_per_s\":{parse_mb:.1},\"engine_only_mb_per_s\":{engine_mb:.1},\"replay_layer_only_mb_per_s\":{layer_mb:.1},\"replay_vs_parse\":{:.3},\"replay_vs_engine_only\":{:.3},\"quickfix_log_mb_per_s\":{:.1},\"journal_mb_per_s\":{:.1},\"journal_write_mb_per_s\":{:.1},\"bytes\":{bytes},\"messages\":{n},\"market_data_share\":{:.3}}}",
        n as f64 / t_plain,
        mb_per_s / parse_mb,
        mb_per_s / engine_mb,
        mbps(qf_bytes, t_qf),
        mbps(jstats.bytes, t_j),
        mbps(jstats.bytes, t_jwrite),
        md as f64 / n as f64
    );
}
