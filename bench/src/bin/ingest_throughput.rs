//! `ingest_throughput`: messages/s and GB/s through the whole appliance (io_uring multishot recv
//! -> framing in place -> FIX parse -> order state -> KPIs -> scoring -> shared-memory rows) on
//! one hot core, fed by batched writers over loopback; the raw multishot-recv rate (same ring
//! setup, no framing, no engine) on the same bytes in the same run is the baseline.
//!
//! ```text
//! cargo run --release -p lpscore-bench --bin ingest_throughput -- [HOT_CORE [WRITER_CORE]] [--quick]
//! ```
//!
//! The stream: synthetic LPs (20), 500 symbols, quotes, NewOrderSingles and ExecutionReports
//! (`lpscore::engine::synth`), about 180 bytes a message. It is sent once per session (12
//! sessions, one connection each, one after the other, 256 KiB writes), so every lap's orders are
//! new to the engine. The engine publishes with its production default (`publish_interval_ns` =
//! 1 ms). Time: from the writer's first write until the hot thread's counters show every message
//! (polled every 200 us by a sleeping thread). One writer thread on WRITER_CORE (default 0), the
//! hot thread on HOT_CORE (default 1): one spinning thread.
//!
//! Ends with `{"bench":"ingest_throughput","msgs_per_s":..,"raw_recv_msgs_per_s":..,...}`.
#![allow(clippy::disallowed_methods)] // a harness measures wall time (Instant::now)

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use lpscore::engine::synth::{fix_bytes, generate};
use lpscore::engine::{EngineConfig, ShmSink, writer_options};
use lpscore::io::LoopParams;
use lpscore::runtime::config::{Backend, IdleConfig, IoConfig, SessionConfig};
use lpscore::runtime::{GroupOptions, spawn_group};

fn stream(orders: usize) -> (Vec<u8>, u64) {
    let evs = generate(&lpscore_bench::realistic_config(orders, 0x1_9E57));
    let mut out = Vec::with_capacity(evs.len() * 200);
    for (i, (ts, ev)) in evs.iter().enumerate() {
        fix_bytes(*ts, i as u64 + 1, ev, &mut out);
    }
    (out, evs.len() as u64)
}

fn pin(core: usize) {
    if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
        eprintln!("warning: could not pin to core {core}");
    }
}

fn io() -> IoConfig {
    IoConfig {
        max_connections: 16,
        buffers: 1024,
        buffer_size: 16 * 1024,
        ..IoConfig::default()
    }
}

fn write_laps(
    addrs: Vec<std::net::SocketAddr>,
    bytes: &'static [u8],
    laps_per_conn: usize,
    core: usize,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        pin(core);
        let mut conns: Vec<TcpStream> = addrs
            .iter()
            .map(|a| TcpStream::connect(a).unwrap())
            .collect();
        for c in &mut conns {
            for _ in 0..laps_per_conn {
                for chunk in bytes.chunks(256 * 1024) {
                    c.write_all(chunk).unwrap();
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    })
}

/// The engine alone, in process, on the same laps (framer over 16 KiB chunks, one capture
/// timestamp per chunk, `FixFeed::on_fix`, scoreboard rows): what the runtime adds is the
/// difference to the appliance's rate.
fn engine_alone(bytes: &[u8], laps: usize, engine: &EngineConfig, hot: usize) -> (u64, f64) {
    use lpscore::engine::{Engine, FixFeed};
    use lpscore::fix::{Framer, FramerConfig};
    pin(hot);
    let path = std::env::temp_dir().join(format!("lpscore-ingest-alone-{}.sb", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let w = lpscore_shm::Writer::create(&path, &writer_options(engine)).unwrap();
    let mut feed = FixFeed::new(Engine::new(engine.clone(), ShmSink::new(w, engine)).unwrap());
    let mut n = 0u64;
    let t0 = Instant::now();
    for lap in 0..laps {
        let mut fr = Framer::new(FramerConfig::default());
        for chunk in bytes.chunks(16 * 1024) {
            let ts = lpscore_shm::realtime_ns();
            let mut frames = fr.feed(chunk);
            while let Some(f) = frames.next_frame() {
                if let Ok(f) = f {
                    let _ = feed.on_fix(ts, lap as u32 + 1, f.bytes);
                    n += 1;
                }
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    drop(feed);
    let _ = std::fs::remove_file(&path);
    let mut l = path.into_os_string();
    l.push(".lock");
    let _ = std::fs::remove_file(l);
    (n, secs)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let nums: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let hot = nums.first().copied().unwrap_or(1);
    let writer = nums.get(1).copied().unwrap_or(0);
    let (orders, laps) = if quick { (30_000, 6) } else { (100_000, 12) };
    let (bytes, n_msgs) = stream(orders);
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    let total_msgs = n_msgs * laps as u64;
    let total_bytes = bytes.len() as u64 * laps as u64;
    println!(
        "ingest_throughput: hot core {hot}, writer core {writer}; {laps} sessions x {n_msgs} messages ({:.1} MB, {:.0} B/message)",
        total_bytes as f64 / 1e6,
        bytes.len() as f64 / n_msgs as f64
    );

    // Baseline: raw multishot recv on the hot core, same bytes.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let rx = std::thread::spawn(move || {
        pin(hot);
        let (c, _) = l.accept().unwrap();
        let p = LoopParams {
            io: io(),
            idle: IdleConfig::default(),
        };
        lpscore::io::uring::raw_recv(c, &p, total_bytes).unwrap_or_else(|e| panic!("{e}"))
    });
    let t0 = Instant::now();
    let w = write_laps(vec![addr], bytes, laps, writer);
    let raw = rx.join().unwrap();
    let raw_s = t0.elapsed().as_secs_f64();
    w.join().unwrap();
    assert_eq!(raw.bytes, total_bytes);
    let raw_mps = total_msgs as f64 / raw_s;

    // The whole appliance.
    let path = std::env::temp_dir().join(format!("lpscore-ingest-{}.sb", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let p2 = path.clone();
    let sessions: Vec<SessionConfig> = (1..=laps as u32)
        .map(|id| SessionConfig {
            id,
            listen: Some("127.0.0.1:0".parse().unwrap()),
            connect: None,
            fix: None,
        })
        .collect();
    let engine = EngineConfig {
        max_lps: 32,
        max_symbols: 1024,
        lps: lpscore_bench::realistic_lps()
            .into_iter()
            .map(|l| l.name)
            .collect(),
        ..EngineConfig::default()
    };
    let g = spawn_group(
        GroupOptions {
            name: "hot".into(),
            backend: Backend::IoUring,
            core: Some(hot),
            sessions,
            io: io(),
            idle: IdleConfig::default(),
            engine: engine.clone(),
            recovered: None,
        },
        move |c: &EngineConfig| {
            let w =
                lpscore_shm::Writer::create(&p2, &writer_options(c)).map_err(|e| e.to_string())?;
            Ok(ShmSink::new(w, c))
        },
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let stats = g.shared_stats();
    let addrs: Vec<_> = (1..=laps as u32).map(|id| g.addr_of(id).unwrap()).collect();
    let t0 = Instant::now();
    let w = write_laps(addrs, bytes, 1, writer);
    let deadline = t0 + Duration::from_secs(120);
    while stats.messages() < total_msgs && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
    let eng_s = t0.elapsed().as_secs_f64();
    w.join().unwrap();
    let r = g.shutdown();
    let got = r.stats.messages();
    let (alone_n, alone_s) = engine_alone(bytes, laps, &engine, hot);
    let alone_mps = alone_n as f64 / alone_s;
    let mps = got as f64 / eng_s;
    let gbps = total_bytes as f64 / eng_s / 1e9;
    println!(
        "raw multishot recv : {:>6.2} M msgs/s  {:>5.2} GB/s  ({} recvs, {} ENOBUFS)",
        raw_mps / 1e6,
        total_bytes as f64 / raw_s / 1e9,
        raw.recvs,
        raw.enobufs
    );
    println!(
        "whole engine       : {:>6.2} M msgs/s  {:>5.2} GB/s  ({got} of {total_msgs} messages, {} events, {} parse errors, {} ENOBUFS, {} frame errors)",
        mps / 1e6,
        gbps,
        r.engine.events,
        r.feed.parse_errors,
        r.stats.io.enobufs,
        r.stats.sessions.iter().map(|s| s.frame_errors).sum::<u64>()
    );
    println!(
        "target >= 5 M msgs/s: {}; engine / raw recv = {:.2}",
        if mps >= 5e6 { "met" } else { "NOT met" },
        mps / raw_mps
    );
    let _ = std::fs::remove_file(&path);
    let mut lk = path.into_os_string();
    lk.push(".lock");
    let _ = std::fs::remove_file(lk);
    println!(
        "{{\"bench\":\"ingest_throughput\",\"msgs_per_s\":{:.0},\"gb_per_s\":{:.3},\"raw_recv_msgs_per_s\":{:.0},\"raw_recv_gb_per_s\":{:.3},\"engine_alone_msgs_per_s\":{:.0},\"messages\":{},\"lost\":{}}}",
        mps,
        gbps,
        raw_mps,
        total_bytes as f64 / raw_s / 1e9,
        alone_mps,
        got,
        total_msgs.saturating_sub(got)
    );
}
