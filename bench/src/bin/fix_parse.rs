//! FIX parse harness: a ring of 4096 distinct FIX 4.4 ExecutionReports (~260 bytes, 24 fields)
//! framed (BodyLength and CheckSum checked), indexed and converted into the typed
//! `ExecutionReport` (16 fields: ids, enums, prices, quantities, timestamps), pinned to one core.
//! Baselines in the same run on the same messages: QuickFIX `FIX::Message(string)` + the same
//! getField calls (bench/cpp/quickfix_shim.cpp, when QuickFIX is installed), and a naive
//! split-into-a-Vec parser.
//!
//! `cargo run --release -p lpscore-bench --bin fix_parse -- [--core N] [--reps N] [--quick] [--ours-only]`
//! (`--passes N`: only N passes of our parser over the ring, for instruction counts)
//!
//! Ends with one JSON line:
//! `{"bench":"fix_parse","ns_per_msg":..,"quickfix_ns_per_msg":..,"naive_ns_per_msg":..,"quickfix_over_ours":..}`
//! (plus `via_typed_ns_per_msg`: the same messages through `Message::typed()`, the engine glue's
//! path, interleaved in the same rounds).
#![allow(clippy::disallowed_methods)] // reason: a benchmark harness measures wall time itself.

use lpscore::fix::{ExecutionReport, Framer, FramerConfig, Parser, Typed};
use std::hint::black_box;
use std::time::Instant;

const RING: usize = 4096;

/// The converted values that both of our paths fold into the checksum.
#[inline(always)]
fn fold(acc: i64, er: &ExecutionReport<'_>) -> i64 {
    acc.wrapping_add(er.last_px.map_or(0, |p| p.0))
        .wrapping_add(er.last_qty.map_or(0, |q| q.0))
        .wrapping_add(er.leaves_qty.0 ^ er.cum_qty.0)
        .wrapping_add(er.avg_px.map_or(0, |p| p.0))
        .wrapping_add(er.transact_time.map_or(0, |t| t.0))
        .wrapping_add(er.header.msg_seq_num as i64)
        .wrapping_add(i64::from(er.exec_type) + i64::from(er.side.as_byte()))
        .wrapping_add((er.order_id.len() + er.exec_id.len() + er.symbol.len()) as i64)
}

/// Parses every message of the ring with our codec (`Parser::parse_frame`, then
/// `ExecutionReport::from_message`); returns a checksum of the converted values.
fn ours(stream: &[u8], framer: &mut Framer, parser: &mut Parser) -> i64 {
    let mut acc = 0i64;
    let mut frames = framer.feed(stream);
    while let Some(f) = frames.next_frame() {
        let Ok(f) = f else { panic!("bad frame") };
        let msg = parser.parse_frame(f).expect("parse");
        let er = ExecutionReport::from_message(&msg).expect("view");
        acc = fold(acc, &er);
    }
    acc
}

/// The path the engine glue uses (`Parser::parse_frame`, then `Message::typed`, which dispatches
/// on MsgType to the same `from_message`).
fn ours_via_typed(stream: &[u8], framer: &mut Framer, parser: &mut Parser) -> i64 {
    let mut acc = 0i64;
    let mut frames = framer.feed(stream);
    while let Some(f) = frames.next_frame() {
        let Ok(f) = f else { panic!("bad frame") };
        let msg = parser.parse_frame(f).expect("parse");
        let Typed::ExecutionReport(er) = msg.typed().expect("view") else {
            panic!("not an ExecutionReport")
        };
        acc = fold(acc, &er);
    }
    acc
}

/// The naive baseline: check the checksum, split on SOH into a `Vec`, look fields up linearly,
/// convert with `str::parse` (f64 for prices).
fn naive(msg: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(msg).ok()?;
    let t = s.rfind("\x0110=")? + 1;
    let sum = msg[..t].iter().map(|&b| u32::from(b)).sum::<u32>() % 256;
    let fields: Vec<(u32, &str)> = s
        .split('\x01')
        .filter(|f| !f.is_empty())
        .map(|f| {
            let (k, v) = f.split_once('=').unwrap_or((f, ""));
            (k.parse().unwrap_or(0), v)
        })
        .collect();
    let get = |tag: u32| fields.iter().find(|(t, _)| *t == tag).map(|(_, v)| *v);
    let body_len: usize = get(9)?.parse().ok()?;
    let body_start = s.find("\x0135=")? + 1;
    if body_len != t - body_start || get(10)?.parse::<u32>().ok()? != sum {
        return None;
    }
    let px: f64 = get(31)?.parse().ok()?;
    let lq: f64 = get(32)?.parse().ok()?;
    let lv: f64 = get(151)?.parse().ok()?;
    let cq: f64 = get(14)?.parse().ok()?;
    let ap: f64 = get(6)?.parse().ok()?;
    let oq: f64 = get(38)?.parse().ok()?;
    let p: f64 = get(44)?.parse().ok()?;
    let seq: u64 = get(34)?.parse().ok()?;
    let ids = get(37)?.len() + get(11)?.len() + get(17)?.len() + get(55)?.len() + get(30)?.len();
    let tt = get(60)?.len();
    let chars = get(150)?.len() + get(39)?.len() + get(54)?.len();
    Some(((px + lq + lv + cq + ap + oq + p) as i64) + seq as i64 + (ids + tt + chars) as i64)
}

#[cfg(have_quickfix)]
mod qf {
    #[repr(C)]
    #[derive(Default)]
    pub struct QfExec {
        pub seq: i64,
        pub price: f64,
        pub last_px: f64,
        pub last_qty: f64,
        pub leaves_qty: f64,
        pub cum_qty: f64,
        pub avg_px: f64,
        pub order_qty: f64,
        pub transact_time_ms: i64,
        pub side: i32,
        pub exec_type: i32,
        pub ord_status: i32,
        pub id_len: usize,
    }
    // The shim is compiled by bench/build.rs (cc) into the build script's OUT_DIR, which is on
    // the link path; a binary that does not use the bench library must name it itself.
    #[link(name = "quickfix_shim", kind = "static")]
    #[link(name = "quickfix")]
    #[link(name = "stdc++")]
    unsafe extern "C" {
        fn qf_parse_exec(data: *const u8, len: usize, out: *mut QfExec) -> i32;
    }
    pub fn parse(msg: &[u8]) -> Option<i64> {
        let mut out = QfExec::default();
        // SAFETY: `msg` is a valid slice for `len` bytes, `out` a valid, exclusively borrowed
        // QfExec with the C layout the shim writes; the shim catches every C++ exception.
        let rc = unsafe { qf_parse_exec(msg.as_ptr(), msg.len(), &mut out) };
        (rc == 0).then_some(
            (out.last_px + out.last_qty + out.leaves_qty + out.cum_qty + out.avg_px) as i64
                + out.seq
                + out.transact_time_ms
                + out.id_len as i64,
        )
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `f` over the whole ring `reps` times; ns per message of each repetition.
fn measure(reps: usize, mut f: impl FnMut() -> i64) -> Vec<f64> {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed().as_nanos() as f64 / RING as f64
        })
        .collect()
}

fn main() {
    let mut core = 0usize;
    let mut reps = 301usize;
    let mut quick = false;
    let mut ours_only = false;
    let mut passes: Option<usize> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--core" => core = args.next().and_then(|v| v.parse().ok()).expect("--core N"),
            "--reps" => reps = args.next().and_then(|v| v.parse().ok()).expect("--reps N"),
            "--quick" => quick = true,
            "--ours-only" => ours_only = true,
            "--passes" => {
                passes = Some(
                    args.next()
                        .and_then(|v| v.parse().ok())
                        .expect("--passes N"),
                );
            }
            "-h" | "--help" => {
                println!("fix_parse [--core N] [--reps N] [--quick] [--ours-only] [--passes N]");
                return;
            }
            other => panic!("unknown argument {other}"),
        }
    }
    if quick {
        reps = reps.min(21);
    }
    let pinned = core_affinity::set_for_current(core_affinity::CoreId { id: core });
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let (stream, ranges) = lpscore::fix::testkit::execution_report_ring(RING, 0x5eed);
    let bytes = stream.len();
    let avg_len = bytes as f64 / RING as f64;
    println!(
        "fix_parse: {RING} ExecutionReports, {avg_len:.1} bytes each, core {core} (pinned: {pinned}), \
         cpu {cpu}, avx2 {}",
        std::is_x86_feature_detected!("avx2")
    );

    let cfg = FramerConfig::default();
    let mut framer = Framer::new(cfg);
    let mut parser = Parser::new(cfg);
    let expect = ours(&stream, &mut framer, &mut parser);
    assert_eq!(ours_via_typed(&stream, &mut framer, &mut parser), expect);
    if let Some(n) = passes {
        // For instruction counting (`valgrind --tool=callgrind`): `n` more passes over the ring
        // and nothing else; the difference between two values of `n` is the per-pass cost.
        // `LPSCORE_VIA_TYPED=1` counts the engine glue's path (`typed()`) instead.
        let via_typed = std::env::var_os("LPSCORE_VIA_TYPED").is_some();
        for _ in 0..n {
            let got = if via_typed {
                ours_via_typed(&stream, &mut framer, &mut parser)
            } else {
                ours(&stream, &mut framer, &mut parser)
            };
            assert_eq!(got, expect);
        }
        println!("passes {n}: {expect}");
        return;
    }
    for _ in 0..20 {
        assert_eq!(ours(&stream, &mut framer, &mut parser), expect);
    }
    let mut v = measure(reps, || ours(&stream, &mut framer, &mut parser));
    let ns = median(&mut v);
    let p10 = v[v.len() / 10];
    let p90 = v[v.len() * 9 / 10];
    println!(
        "ours:     {ns:7.1} ns/msg median ({p10:.1} p10, {p90:.1} p90 over {reps} reps), {:.2} M msg/s, {:.2} GB/s",
        1e3 / ns,
        avg_len / ns
    );

    // Where the time goes: framing only (BodyLength + CheckSum), then + field index.
    let mut v = measure(reps.min(301), || {
        let mut n = 0i64;
        let mut frames = framer.feed(&stream);
        while let Some(Ok(f)) = frames.next_frame() {
            n += f.trailer_start() as i64;
        }
        n
    });
    let frame_ns = median(&mut v);
    let mut v = measure(reps.min(301), || {
        let mut n = 0i64;
        let mut frames = framer.feed(&stream);
        while let Some(Ok(f)) = frames.next_frame() {
            n += parser
                .parse_frame(f)
                .map_or(0, |m| m.field_index().len() as i64);
        }
        n
    });
    let index_ns = median(&mut v);
    let mut v = measure(reps, || ours_via_typed(&stream, &mut framer, &mut parser));
    let via_typed_ns = median(&mut v);
    println!(
        "breakdown: framing+checksum {frame_ns:.1} ns, +field index {index_ns:.1} ns, \
         +typed view {ns:.1} ns \
         (through Message::typed(), the engine glue's path: {via_typed_ns:.1} ns)"
    );
    if ours_only {
        println!(
            "{{\"bench\":\"fix_parse\",\"ns_per_msg\":{ns:.1},\"via_typed_ns_per_msg\":{via_typed_ns:.1}}}"
        );
        return;
    }
    // The baselines are measured interleaved with ours, round by round, so that the load of this
    // shared machine weighs on all three alike: each round is 20 repetitions of ours, 10 of ours through typed(), 2 of the
    // naive parser and 1 of QuickFIX over the whole ring.
    for r in &ranges {
        assert!(naive(&stream[r.clone()]).is_some());
    }
    #[cfg(have_quickfix)]
    for r in &ranges {
        assert!(
            qf::parse(&stream[r.clone()]).is_some(),
            "QuickFIX rejected a message"
        );
    }
    let rounds = (reps / 20).max(5);
    let (mut ours_v, mut naive_v, mut via_typed_v) = (Vec::new(), Vec::new(), Vec::new());
    #[cfg_attr(not(have_quickfix), allow(unused_mut))]
    let mut qf_v: Vec<f64> = Vec::new();
    for _ in 0..rounds {
        ours_v.extend(measure(20, || ours(&stream, &mut framer, &mut parser)));
        via_typed_v.extend(measure(10, || {
            ours_via_typed(&stream, &mut framer, &mut parser)
        }));
        naive_v.extend(measure(2, || {
            ranges
                .iter()
                .map(|r| naive(&stream[r.clone()]).unwrap_or(0))
                .fold(0, i64::wrapping_add)
        }));
        #[cfg(have_quickfix)]
        qf_v.extend(measure(1, || {
            ranges
                .iter()
                .map(|r| qf::parse(&stream[r.clone()]).unwrap_or(0))
                .fold(0, i64::wrapping_add)
        }));
    }
    let ns_round = median(&mut ours_v);
    let naive_ns = median(&mut naive_v);
    let via_typed_round = median(&mut via_typed_v);
    println!(
        "interleaved over {rounds} rounds: ours {ns_round:.1} ns/msg \
         (through typed(), the engine glue's path: {via_typed_round:.1} ns/msg), \
         naive {naive_ns:.1} ns/msg ({:.1}x ours)",
        naive_ns / ns_round
    );
    let ns = ns_round;
    let qf_ns: Option<f64> = if qf_v.is_empty() {
        println!("quickfix: not built (install libquickfix-dev and rebuild): baseline null");
        None
    } else {
        let q = median(&mut qf_v);
        println!(
            "quickfix: {q:.1} ns/msg median over {} rounds ({:.1}x ours)",
            qf_v.len(),
            q / ns
        );
        Some(q)
    };

    let fmt = |v: Option<f64>| v.map_or("null".to_string(), |v| format!("{v:.1}"));
    println!(
        "{{\"bench\":\"fix_parse\",\"ns_per_msg\":{ns:.1},\"msgs_per_s\":{:.0},\"gb_per_s\":{:.3},\
         \"quickfix_ns_per_msg\":{},\"naive_ns_per_msg\":{naive_ns:.1},\"quickfix_over_ours\":{},\
         \"via_typed_ns_per_msg\":{via_typed_round:.1},\"msg_bytes\":{avg_len:.1},\"core\":{core}}}",
        1e9 / ns,
        avg_len / ns,
        fmt(qf_ns),
        fmt(qf_ns.map(|q| q / ns)),
    );
}
