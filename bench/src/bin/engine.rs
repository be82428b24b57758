//! Whole-engine harness: an in-memory stream of raw FIX bytes (20 LPs, 500 symbols, about 30%
//! market data, the rest NewOrderSingles and ExecutionReports) through framing + parsing + order
//! state + KPI statistics + scoring + shared-memory publication, one core. The parse-only figure
//! (frame + index + typed view, nothing else) is measured in the same run as the baseline.
//!
//! The first half of the stream warms the engine up (creates its statistics cells, fills its
//! tables); the second half is timed: steady state. Usage: `engine [orders] [core] [reps]`
//! (default 200000 orders, no pinning, 5 repetitions; each repetition runs parse-only, the whole
//! engine into a scoreboard file and the whole engine into a null sink, then both again through
//! the batched entry point `FixFeed::on_fix_batch`; the medians are reported). Ends with one
//! JSON line:
//! `{"bench":"engine","ns_per_msg":..,"msgs_per_s":..,"parse_only_ns_per_msg":..,...}`.
use std::hint::black_box;
use std::ops::Range;
use std::time::Instant;

use lpscore::engine::synth::{OwnedEvent, SynthConfig, fix_bytes, generate};
use lpscore::engine::{
    BusinessReject, CancelReject, CancelRequest, Engine, EngineConfig, Event, ExecReport, FixFeed,
    ShmSink, writer_options,
};
use lpscore::fix::{FramerConfig, Parser};
use lpscore::kpi::RowKey;
use lpscore::publish::{NullSink, RowSink, RowValues};

const SEC: u64 = 1_000_000_000;

struct Stream {
    bytes: Vec<u8>,
    msgs: Vec<(u64, Range<usize>)>,
    md: usize,
}

fn build(orders: usize) -> Stream {
    let evs = lpscore_bench::realistic_events(orders, 0xBE7C);
    let mut s = Stream {
        bytes: Vec::with_capacity(evs.len() * 170),
        msgs: Vec::with_capacity(evs.len()),
        md: 0,
    };
    for (i, t, e) in &evs {
        if matches!(e, OwnedEvent::Quote { .. }) {
            s.md += 1;
        }
        let start = s.bytes.len();
        fix_bytes(*t, *i as u64 + 1, e, &mut s.bytes);
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
        // As a live appliance is configured (config/lpscore.toml): the ~40 000 cells the stream
        // creates take no page fault inside the timed half.
        prefault_cells: 1 << 16,
        max_orders: 1 << 18,
        ..EngineConfig::default()
    }
}

#[allow(clippy::disallowed_methods)] // a harness measures wall time
fn now() -> Instant {
    Instant::now()
}

/// Time this thread has spent on a CPU, ns (`/proc/thread-self/schedstat`, field 1): on a shared
/// machine the wall time also counts the time neighbours held the core; this does not.
fn on_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Minor page faults of this process so far (`/proc/self/stat`, field 10).
fn minor_faults() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &s[s.rfind(')')? + 2..];
    rest.split_whitespace().nth(7)?.parse().ok()
}

/// Wall and on-CPU time of `f`, ns.
fn time_it<R>(f: impl FnOnce() -> R) -> (R, f64, f64) {
    let c0 = on_cpu_ns();
    let t = now();
    let r = f();
    let wall = t.elapsed().as_nanos() as f64;
    let cpu = match (c0, on_cpu_ns()) {
        (Some(a), Some(b)) => b.saturating_sub(a) as f64,
        _ => f64::NAN,
    };
    (r, wall, cpu)
}

thread_local! {
    /// Minor page faults per timed message of the last pass.
    static FAULTS: std::cell::Cell<f64> = const { std::cell::Cell::new(f64::NAN) };
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Parse only (frame + index + typed view), the baseline. Not inlined so that a profiler
/// (`valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*timed_parse*'`) can count it
/// alone.
#[inline(never)]
fn timed_parse(parser: &mut Parser, s: &Stream) -> usize {
    let mut acc = 0usize;
    for (_, r) in &s.msgs {
        let m = parser.parse(black_box(&s.bytes[r.clone()])).unwrap();
        // Read in place, as the engine's glue does (`unwrap()` would copy the view out).
        let r = m.typed();
        let ty = r.as_ref().unwrap();
        acc = acc.wrapping_add(black_box(ty) as *const _ as usize & 1);
    }
    acc
}

/// The timed (steady-state) half of the stream through the whole engine, and the final flush.
/// Not inlined: `--toggle-collect='*timed_engine*'` counts exactly this part.
#[inline(never)]
fn timed_engine<S: RowSink>(feed: &mut FixFeed<S>, s: &Stream, msgs: &[(u64, Range<usize>)]) {
    for (ts, r) in msgs {
        let _ = feed.on_fix(*ts, 1, black_box(&s.bytes[r.clone()]));
    }
    feed.engine.flush();
}

/// Messages per [`FixFeed::on_fix_batch`] call in the batched passes (what one read of a
/// capture or journal buffer might hold).
const BATCH: usize = 64;

/// As [`timed_engine`] through [`FixFeed::on_fix_batch`], `BATCH` messages a call.
#[inline(never)]
fn timed_engine_batch<S: RowSink>(feed: &mut FixFeed<S>, msgs: &[(u64, u32, &[u8])]) {
    for chunk in msgs.chunks(BATCH) {
        let _ = feed.on_fix_batch(black_box(chunk));
    }
    feed.engine.flush();
}

/// Warms a fresh engine up on the first half of the stream, then times the second half (one
/// [`FixFeed::on_fix`] per message, or batched). Returns wall and on-CPU ns per timed message
/// and the rows published in the timed half.
fn engine_pass<S: RowSink>(
    feed: &mut FixFeed<S>,
    s: &Stream,
    half: usize,
    batched: bool,
) -> (f64, f64, u64) {
    for (ts, r) in &s.msgs[..half] {
        let _ = feed.on_fix(*ts, 1, &s.bytes[r.clone()]);
    }
    let batch: Vec<(u64, u32, &[u8])> = if batched {
        s.msgs[half..]
            .iter()
            .map(|(ts, r)| (*ts, 1, &s.bytes[r.clone()]))
            .collect()
    } else {
        Vec::new()
    };
    let p0 = feed.engine.counters().publications;
    let f0 = minor_faults();
    let ((), wall, cpu) = time_it(|| {
        if batched {
            timed_engine_batch(feed, &batch)
        } else {
            timed_engine(feed, s, &s.msgs[half..])
        }
    });
    let n = (s.msgs.len() - half) as f64;
    if let (Some(a), Some(b)) = (f0, minor_faults()) {
        FAULTS.with(|f| f.set((b - a) as f64 / n));
    }
    (wall / n, cpu / n, feed.engine.counters().publications - p0)
}

/// FNV-1a over 64-bit words: a digest of everything an engine published.
#[derive(Debug, Clone, Copy)]
struct DigestSink {
    h: u64,
    n: u64,
}

impl Default for DigestSink {
    fn default() -> Self {
        Self {
            h: 0xcbf2_9ce4_8422_2325,
            n: 0,
        }
    }
}

impl DigestSink {
    fn word(&mut self, w: u64) {
        for b in w.to_le_bytes() {
            self.h = (self.h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl RowSink for DigestSink {
    fn publish(&mut self, key: RowKey, row: &RowValues) {
        self.n += 1;
        self.word(u64::from(key.sym) << 24 | u64::from(key.bucket) << 16 | u64::from(key.lp));
        for w in row.to_words() {
            self.word(w);
        }
    }
}

/// Digest of the final state: every LP's all-symbols row and full estimates, a few symbol rows,
/// the counters.
fn final_digest(e: &Engine<DigestSink>, syms: &[&str]) -> u64 {
    let mut d = DigestSink::default();
    d.word(e.sink().h);
    d.word(e.sink().n);
    for lp in 0..20 {
        let name = format!("LP{lp:02}");
        let Ok(k) = e.lp_key(&name) else { continue };
        let mut keys = vec![k];
        for s in syms {
            if let Some(slot) = e.symbol_slot(s) {
                keys.push(RowKey { sym: slot, ..k });
                keys.push(RowKey {
                    sym: slot,
                    bucket: 3,
                    ..k
                });
            }
        }
        for key in keys {
            if let Ok(r) = e.row(key) {
                for w in r.to_words() {
                    d.word(w);
                }
            }
            if let Ok(x) = e.estimates(key) {
                let f = [
                    x.fill_rate,
                    x.reject_rate,
                    x.cancel_reject_rate,
                    x.pi_rate,
                    x.at_quote_rate,
                    x.outside_rate,
                    x.ack_mean_ns,
                    x.fill_latency_mean_ns,
                    x.pi_bps,
                    x.es_bps,
                    x.qs_bps,
                    x.eq_ratio,
                    x.eff_orders,
                    x.eff_fills,
                    x.eff_orders_fast,
                ];
                for v in f
                    .iter()
                    .chain(&x.markout_bps)
                    .chain(&x.impact_bps)
                    .chain(&x.rs_bps)
                    .chain(&x.tte_share)
                {
                    d.word(v.to_bits());
                }
                d.word(x.ack_p50_ns ^ x.ack_p99_ns << 1 ^ x.fill_p50_ns << 2);
                d.word(u64::from(x.has_data) | u64::from(x.price_unavailable) << 1);
            }
        }
    }
    for b in format!("{:?}", e.counters()).bytes() {
        d.word(u64::from(b));
    }
    d.h
}

/// `LPSCORE_BENCH_DIGEST=1 engine [orders]`: digests of everything published for several
/// configurations (a regression check that optimisations leave every published bit unchanged):
/// the synthetic events with busts, corrections, cancel requests and rejects, business rejects
/// and early reports injected; no publication coalescing; tiny half-lives (rescales) with
/// frequent prior refreshes; and the FIX byte stream of the benchmark.
fn digests(orders: usize) {
    let evs = generate(&SynthConfig {
        lps: lpscore_bench::realistic_lps(),
        symbols: 500,
        orders,
        order_gap_ns: 20_000,
        noise_quotes_per_order: 1,
        noise_bps: 0.5,
        half_spread_bps: 1.0,
        start_ns: 1_754_141_400 * SEC,
        seed: 0xD16E,
    });
    let syms = ["S0000", "S0007", "S0123", "S0499"];
    let configs: Vec<(&str, EngineConfig)> = vec![
        ("default", config()),
        (
            "publish_now+bucket_totals",
            EngineConfig {
                publish_interval_ns: 0,
                bucket_totals: true,
                ..config()
            },
        ),
        (
            "tiny_half_lives",
            EngineConfig {
                fast_half_life_ns: 1_000_000,
                slow_half_life_ns: 20_000_000,
                prior_refresh_ns: 50_000_000,
                ..config()
            },
        ),
    ];
    for (name, cfg) in configs {
        let mut e = Engine::new(cfg, DigestSink::default()).unwrap();
        let mut fills = 0u64;
        let mut held: Option<(u64, OwnedEvent)> = None;
        let mut n_orders = 0u64;
        let mut extra = 0u64;
        for (t, ev) in &evs {
            match ev {
                OwnedEvent::NewOrder { .. } => {
                    n_orders += 1;
                    if n_orders % 71 == 0 && held.is_none() {
                        held = Some((*t, ev.clone()));
                        continue;
                    }
                    e.on_event(*t, &ev.as_event());
                    let OwnedEvent::NewOrder { cl_ord_id, .. } = ev else {
                        unreachable!()
                    };
                    if n_orders % 41 == 0 {
                        extra += 1;
                        let id = format!("X{extra}");
                        e.on_event(
                            *t + 5,
                            &Event::CancelRequest(CancelRequest {
                                session: 1,
                                cl_ord_id: id.as_bytes(),
                                orig_cl_ord_id: cl_ord_id.as_bytes(),
                                replace: n_orders % 82 == 0,
                            }),
                        );
                        if n_orders % 123 == 0 {
                            e.on_event(
                                *t + 7,
                                &Event::CancelReject(CancelReject {
                                    session: 1,
                                    cl_ord_id: id.as_bytes(),
                                    orig_cl_ord_id: cl_ord_id.as_bytes(),
                                }),
                            );
                        }
                    }
                    if n_orders % 97 == 0 {
                        e.on_event(
                            *t + 9,
                            &Event::BusinessReject(BusinessReject {
                                session: 1,
                                ref_id: cl_ord_id.as_bytes(),
                            }),
                        );
                    }
                }
                OwnedEvent::Exec {
                    cl_ord_id,
                    exec_id,
                    exec_type,
                    last_qty,
                    last_px,
                    ..
                } => {
                    e.on_event(*t, &ev.as_event());
                    if let Some((_, OwnedEvent::NewOrder { cl_ord_id: h, .. })) = &held {
                        if h == cl_ord_id {
                            let (_, o) = held.take().unwrap();
                            e.on_event(*t, &o.as_event());
                        }
                    }
                    if *exec_type == b'F' {
                        fills += 1;
                        let bust = fills % 37 == 0;
                        let correct = fills % 53 == 0;
                        if bust || correct {
                            extra += 1;
                            let id = format!("Y{extra}");
                            e.on_event(
                                *t + 300_000_000 + fills % 7 * 100_000_000,
                                &Event::Exec(ExecReport {
                                    session: 1,
                                    cl_ord_id: cl_ord_id.as_bytes(),
                                    exec_id: id.as_bytes(),
                                    exec_type: if bust { b'H' } else { b'G' },
                                    last_qty: (last_qty / 2).max(1),
                                    last_px: last_px + 1_000,
                                    exec_ref_id: exec_id.as_bytes(),
                                    ..ExecReport::default()
                                }),
                            );
                        }
                    }
                }
                OwnedEvent::Quote { .. } => e.on_event(*t, &ev.as_event()),
            }
        }
        let end = e.now_ns();
        for k in 1..=70 {
            e.tick(end + k * SEC);
        }
        e.flush();
        println!(
            "digest {name}: {:016x} ({} rows published)",
            final_digest(&e, &syms),
            e.sink().n
        );
    }
    // The FIX byte stream of the benchmark.
    let s = build(orders);
    let mut feed = FixFeed::new(Engine::new(config(), DigestSink::default()).unwrap());
    for (ts, r) in &s.msgs {
        let _ = feed.on_fix(*ts, 1, &s.bytes[r.clone()]);
    }
    feed.engine.flush();
    println!(
        "digest fix_stream: {:016x} ({} rows published)",
        final_digest(&feed.engine, &syms),
        feed.engine.sink().n
    );
    // The same stream through the batched entry point: must print the same digest.
    let mut feed = FixFeed::new(Engine::new(config(), DigestSink::default()).unwrap());
    let batch: Vec<(u64, u32, &[u8])> = s
        .msgs
        .iter()
        .map(|(ts, r)| (*ts, 1, &s.bytes[r.clone()]))
        .collect();
    for chunk in batch.chunks(BATCH) {
        let _ = feed.on_fix_batch(chunk);
    }
    feed.engine.flush();
    println!(
        "digest fix_stream_batch: {:016x} ({} rows published)",
        final_digest(&feed.engine, &syms),
        feed.engine.sink().n
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let orders: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let core = args.get(2).and_then(|a| a.parse::<usize>().ok());
    if std::env::var_os("LPSCORE_BENCH_DIGEST").is_some() {
        digests(orders);
        return;
    }
    let reps: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(5).max(1);
    if let Some(core) = core {
        let ok = core_affinity::set_for_current(core_affinity::CoreId { id: core });
        eprintln!("pinned to core {core}: {ok}");
    }
    let s = build(orders);
    let n = s.msgs.len();
    let half = n / 2;
    let timed = n - half;
    println!(
        "stream: {n} messages, {} bytes, {:.1}% market data, 20 LPs, 500 symbols; {reps} repetitions",
        s.bytes.len(),
        100.0 * s.md as f64 / n as f64
    );

    // Only the parts a profiler asked for (LPSCORE_BENCH_ONLY=parse|shm|null|batch_shm|
    // batch_null), once.
    let only = std::env::var("LPSCORE_BENCH_ONLY").unwrap_or_default();

    // Whole path into a real scoreboard file (fresh engine each pass: ids are unique per stream),
    // the same path with no publication, and the parse-only baseline, interleaved so that a
    // neighbour's load affects all three alike.
    let path = std::env::temp_dir().join(format!("lpscore-bench-engine-{}", std::process::id()));
    let mut parse_ns = Vec::with_capacity(reps);
    let mut shm_ns = Vec::with_capacity(reps);
    let mut null_ns = Vec::with_capacity(reps);
    let (mut parse_cpu, mut shm_cpu, mut null_cpu) = (Vec::new(), Vec::new(), Vec::new());
    // The batched entry point (`FixFeed::on_fix_batch`), same passes.
    let (mut bshm_ns, mut bshm_cpu, mut bnull_ns, mut bnull_cpu) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut pubs = 0;
    let mut parser = Parser::new(FramerConfig::default());
    for pass in 0..reps {
        if only.is_empty() || only == "parse" {
            let (acc, wall, cpu) = time_it(|| timed_parse(&mut parser, &s));
            black_box(acc);
            parse_ns.push(wall / n as f64);
            parse_cpu.push(cpu / n as f64);
        }
        let cfg = config();
        if only.is_empty() || only == "shm" {
            let w = lpscore_shm::Writer::create(&path, &writer_options(&cfg)).expect("scoreboard");
            let mut feed = FixFeed::new(Engine::new(cfg.clone(), ShmSink::new(w, &cfg)).unwrap());
            let (ns, cpu, p) = engine_pass(&mut feed, &s, half, false);
            shm_ns.push(ns);
            shm_cpu.push(cpu);
            pubs = p;
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
        }
        if only.is_empty() || only == "null" {
            let mut nf = FixFeed::new(Engine::new(cfg.clone(), NullSink).unwrap());
            let (ns, cpu, _) = engine_pass(&mut nf, &s, half, false);
            null_ns.push(ns);
            null_cpu.push(cpu);
        }
        if only.is_empty() || only == "batch_shm" {
            let w = lpscore_shm::Writer::create(&path, &writer_options(&cfg)).expect("scoreboard");
            let mut feed = FixFeed::new(Engine::new(cfg.clone(), ShmSink::new(w, &cfg)).unwrap());
            let (ns, cpu, _) = engine_pass(&mut feed, &s, half, true);
            bshm_ns.push(ns);
            bshm_cpu.push(cpu);
        }
        if only.is_empty() || only == "batch_null" {
            let mut nf = FixFeed::new(Engine::new(cfg, NullSink).unwrap());
            let (ns, cpu, _) = engine_pass(&mut nf, &s, half, true);
            bnull_ns.push(ns);
            bnull_cpu.push(cpu);
        }
        if !only.is_empty() {
            break;
        }
    }
    lpscore_bench::remove_board(&path);
    if !only.is_empty() {
        return;
    }

    let min = |v: &[f64]| v.iter().copied().fold(f64::MAX, f64::min);
    let (parse_min, shm_min, null_min) = (min(&parse_ns), min(&shm_ns), min(&null_ns));
    let parse = median(&mut parse_ns);
    let whole = median(&mut shm_ns);
    let null = median(&mut null_ns);
    let (parse_c, whole_c, null_c) = (
        median(&mut parse_cpu),
        median(&mut shm_cpu),
        median(&mut null_cpu),
    );
    println!(
        "medians of {reps}: parse only {parse:.1} ns/msg (min {parse_min:.1}); whole engine \
         {whole:.1} ns/msg (min {shm_min:.1}; {:.2} M msgs/s); without shm publication {null:.1} \
         ns/msg (min {null_min:.1}); engine/parse ratio {:.2}; on-CPU time (excludes time the \
         core was taken by others): parse {parse_c:.1}, whole engine {whole_c:.1}, null sink \
         {null_c:.1} ns/msg",
        1e3 / whole,
        whole / parse
    );
    let (bshm, bshm_c, bnull, bnull_c) = (
        median(&mut bshm_ns),
        median(&mut bshm_cpu),
        median(&mut bnull_ns),
        median(&mut bnull_cpu),
    );
    println!(
        "batched (FixFeed::on_fix_batch, {BATCH} messages a call), medians of {reps}: whole engine \
         {bshm:.1} ns/msg (on-CPU {bshm_c:.1}), without shm publication {bnull:.1} ns/msg \
         (on-CPU {bnull_c:.1})"
    );
    println!(
        "{{\"bench\":\"engine\",\"ns_per_msg\":{whole:.1},\"msgs_per_s\":{:.0},\"parse_only_ns_per_msg\":{parse:.1},\"null_sink_ns_per_msg\":{null:.1},\"ns_per_msg_min\":{shm_min:.1},\"cpu_ns_per_msg\":{whole_c:.1},\"parse_only_cpu_ns_per_msg\":{parse_c:.1},\"null_sink_cpu_ns_per_msg\":{null_c:.1},\"parse_only_min\":{parse_min:.1},\"repetitions\":{reps},\"page_faults_per_msg\":{:.4},\"core\":{},\"messages_timed\":{timed},\"market_data_share\":{:.3},\"rows_published\":{pubs},\"batch_ns_per_msg\":{bshm:.1},\"batch_cpu_ns_per_msg\":{bshm_c:.1},\"batch_null_sink_ns_per_msg\":{bnull:.1},\"batch_null_sink_cpu_ns_per_msg\":{bnull_c:.1},\"batch_size\":{BATCH}}}",
        1e9 / whole,
        FAULTS.with(|f| f.get()),
        core.map_or("null".to_string(), |c| c.to_string()),
        s.md as f64 / n as f64
    );
}
