//! `ingest_throughput`: messages/s and GB/s through the whole appliance (io_uring multishot recv
//! -> framing in place -> FIX parse -> order state -> KPIs -> scoring -> shared-memory rows) on
//! one hot core, fed by batched writers over loopback; the raw multishot-recv rate (same ring
//! setup, no framing, no engine) on the same bytes in the same run is the baseline.
//!
//! ```text
//! cargo run --release -p lpscore-bench --bin ingest_throughput -- [HOT_CORE [WRITER_CORE]] [--quick]
//!     [--alone]
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
//! The same laps again through one FIX session per connection (the production drop-copy
//! path): each writer logs on first, every message carries that session's CompIDs and next
//! MsgSeqNum, and the session layer checks each header and writes its sequence store before the
//! engine sees the message: `fix_session_msgs_per_s`. `--alone` times the engine and the
//! session layer in process only (no sockets: for callgrind).
//!
//! Ends with `{"bench":"ingest_throughput","msgs_per_s":..,"raw_recv_msgs_per_s":..,...,
//! "fix_session_msgs_per_s":..,...}`.
#![allow(clippy::disallowed_methods)] // a harness measures wall time (Instant::now)

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use lpscore::engine::synth::{fix_bytes_as, generate};
use lpscore::engine::{EngineConfig, ShmSink, writer_options};
use lpscore::fix::session::SessionSettings;
use lpscore::io::LoopParams;
use lpscore::runtime::config::{Backend, IdleConfig, IoConfig, SessionConfig};
use lpscore::runtime::{GroupOptions, spawn_group};

/// The synthetic events (capture time, event), rendered by [`render`].
type Events = Vec<(u64, lpscore::engine::synth::OwnedEvent)>;

/// The events as one byte stream, numbered from `first_seq`: each message between the CompIDs of
/// the synthetic LPs (`comp_ids` `None`, the raw drop-copy path), or all from `comp_ids.0` to
/// `comp_ids.1` with SendingTime moved to start at `t0_ns` (one FIX session's stream).
fn render(evs: &Events, comp_ids: Option<(&str, &str)>, first_seq: u64, t0_ns: u64) -> Vec<u8> {
    let base = evs.first().map_or(0, |e| e.0);
    let mut out = Vec::with_capacity(evs.len() * 200);
    for (i, (ts, ev)) in evs.iter().enumerate() {
        let ts = if comp_ids.is_some() {
            ts - base + t0_ns
        } else {
            *ts
        };
        fix_bytes_as(ts, first_seq + i as u64, ev, comp_ids, &mut out);
    }
    out
}

/// The CompIDs of lap `lap`'s FIX session: the counterparty (a drop-copy source) and ours.
fn session_comp_ids(lap: u32) -> (String, String) {
    (format!("DC{lap:02}"), "LPSCORE".into())
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

/// One writer thread: connects to every address in turn (after its Logon when `logons` has
/// one per connection) and writes its bytes `laps_per_conn` times, in 256 KiB writes.
fn write_laps(
    addrs: Vec<std::net::SocketAddr>,
    bytes: Vec<&'static [u8]>,
    logons: Vec<Vec<u8>>,
    laps_per_conn: usize,
    core: usize,
) -> std::thread::JoinHandle<Instant> {
    std::thread::spawn(move || {
        pin(core);
        let mut conns: Vec<TcpStream> = addrs
            .iter()
            .map(|a| TcpStream::connect(a).unwrap())
            .collect();
        for (c, l) in conns.iter_mut().zip(&logons) {
            c.write_all(l).unwrap();
            lpscore_bench::await_logon(c);
        }
        let start = Instant::now();
        for (i, c) in conns.iter_mut().enumerate() {
            let b = bytes[i.min(bytes.len() - 1)];
            for _ in 0..laps_per_conn {
                for chunk in b.chunks(256 * 1024) {
                    c.write_all(chunk).unwrap();
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
        start
    })
}

/// The engine alone, in process, on the same laps (framer over 16 KiB chunks, one capture
/// timestamp per chunk, `FixFeed::on_fix`, scoreboard rows): what the runtime adds is the
/// difference to the appliance's rate.
#[inline(never)]
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
    lpscore_bench::remove_board(&path);
    (n, secs)
}

/// [`engine_alone`] through one FIX session per lap, as the runtime drives it: the session's
/// Logon, then its stream, each frame through `Session::on_frame` (header checks, MsgSeqNum,
/// the sequence store) and each delivered message into `FixFeed::on_message`. `store_fsync`
/// is the settings' default (off: the mapped store). What the session layer adds is the
/// difference to [`engine_alone`].
#[inline(never)]
fn session_alone(bytes: &[&[u8]], engine: &EngineConfig, hot: usize) -> (u64, f64) {
    use lpscore::engine::{Engine, FixFeed};
    use lpscore::fix::session::{Now, Outbox, Role, Session};
    use lpscore::fix::{Framer, FramerConfig};
    pin(hot);
    let path =
        std::env::temp_dir().join(format!("lpscore-ingest-salone-{}.sb", std::process::id()));
    let store =
        std::env::temp_dir().join(format!("lpscore-ingest-salone-seq-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir_all(&store);
    let w = lpscore_shm::Writer::create(&path, &writer_options(engine)).unwrap();
    let mut feed = FixFeed::new(Engine::new(engine.clone(), ShmSink::new(w, engine)).unwrap());
    let mut out = Outbox::new();
    let mut n = 0u64;
    let mut secs = 0.0;
    for (lap, b) in bytes.iter().enumerate() {
        let id = lap as u32 + 1;
        let (them, us) = session_comp_ids(id);
        let mut st = SessionSettings::new(&us, &them);
        st.store_dir = store.clone();
        let mut s = Session::open(&st, Role::Acceptor).unwrap();
        let now = || Now {
            mono_ns: lpscore_shm::monotonic_ns(),
            utc_ns: lpscore_shm::realtime_ns(),
        };
        s.on_connected(now(), &mut out);
        let lg = lpscore_bench::fix_logon(&them, &us, lpscore_shm::realtime_ns());
        let _ = s.on_message(&lg, now(), &mut out, &mut |_, _| {});
        assert!(s.is_logged_on(), "session {id} did not log on");
        out.clear();
        let mut fr = Framer::new(FramerConfig::default());
        let t0 = Instant::now();
        for chunk in b.chunks(16 * 1024) {
            let t = now();
            let mut frames = fr.feed(chunk);
            while let Some(f) = frames.next_frame() {
                if let Ok(f) = f {
                    let _ = s.on_frame(f, t, &mut out, &mut |m, _| {
                        let _ = feed.on_message(t.utc_ns, id, m);
                        n += 1;
                    });
                }
            }
            out.clear();
        }
        secs += t0.elapsed().as_secs_f64();
    }
    drop(feed);
    lpscore_bench::remove_board(&path);
    let _ = std::fs::remove_dir_all(&store);
    (n, secs)
}

/// What one run of the appliance did.
struct Run {
    msgs: u64,
    secs: f64,
    report: lpscore::runtime::GroupReport,
}

/// The whole appliance on the hot core, one session per lap: the raw drop-copy path (`laps`
/// `None`: `fix` unset, the bytes as they are) or one FIX session each (`Some`: the bytes of
/// each lap's session, after a Logon; sequence store in a fresh temporary directory).
fn appliance(
    raw: &'static [u8],
    fix: Option<&[&'static [u8]]>,
    laps: usize,
    n_msgs: u64,
    engine: &EngineConfig,
    hot: usize,
    writer: usize,
) -> Run {
    let tag = if fix.is_some() { "session" } else { "raw" };
    let path = std::env::temp_dir().join(format!("lpscore-ingest-{tag}-{}.sb", std::process::id()));
    let store = std::env::temp_dir().join(format!("lpscore-ingest-seq-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir_all(&store);
    let p2 = path.clone();
    let sessions: Vec<SessionConfig> = (1..=laps as u32)
        .map(|id| SessionConfig {
            id,
            listen: Some("127.0.0.1:0".parse().unwrap()),
            connect: None,
            fix: fix.map(|_| {
                let (them, us) = session_comp_ids(id);
                let mut s = SessionSettings::new(&us, &them);
                s.store_dir = store.clone();
                s
            }),
        })
        .collect();
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
    let (bytes, logons, total) = match fix {
        None => (vec![raw], Vec::new(), n_msgs * laps as u64),
        Some(b) => {
            let logons = (1..=laps as u32)
                .map(|id| {
                    let (them, us) = session_comp_ids(id);
                    lpscore_bench::fix_logon(&them, &us, lpscore_shm::realtime_ns())
                })
                .collect();
            // Each session's Logon is framed and counted too.
            (b.to_vec(), logons, (n_msgs + 1) * laps as u64)
        }
    };
    let w = write_laps(addrs, bytes, logons, 1, writer);
    let deadline = Instant::now() + Duration::from_secs(120);
    while stats.messages() < total && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
    let end = Instant::now();
    let start = w.join().unwrap();
    let report = g.shutdown();
    lpscore_bench::remove_board(&path);
    let _ = std::fs::remove_dir_all(&store);
    let logons = if fix.is_some() { laps as u64 } else { 0 };
    let msgs = report.stats.messages().saturating_sub(logons);
    Run {
        msgs,
        secs: (end - start).as_secs_f64(),
        report,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let nums: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let hot = nums.first().copied().unwrap_or(1);
    let writer = nums.get(1).copied().unwrap_or(0);
    let (orders, laps) = if quick { (30_000, 6) } else { (100_000, 12) };
    let evs: Events = generate(&lpscore_bench::realistic_config(orders, 0x1_9E57));
    let n_msgs = evs.len() as u64;
    let bytes: &'static [u8] = Box::leak(render(&evs, None, 1, 0).into_boxed_slice());
    // One stream per FIX session (its own CompIDs; MsgSeqNum 2.. after the Logon, SendingTime
    // from now, within the sessions' 120 s latency check).
    let t0_ns = lpscore_shm::realtime_ns();
    let session_bytes: Vec<&'static [u8]> = (1..=laps as u32)
        .map(|id| {
            let (them, us) = session_comp_ids(id);
            let b = render(&evs, Some((&them, &us)), 2, t0_ns);
            &*Box::leak(b.into_boxed_slice())
        })
        .collect();
    drop(evs);
    let total_msgs = n_msgs * laps as u64;
    let total_bytes = bytes.len() as u64 * laps as u64;
    println!(
        "ingest_throughput: hot core {hot}, writer core {writer}; {laps} sessions x {n_msgs} messages ({:.1} MB, {:.0} B/message)",
        total_bytes as f64 / 1e6,
        bytes.len() as f64 / n_msgs as f64
    );

    let engine = EngineConfig {
        max_lps: 32,
        max_symbols: 1024,
        lps: lpscore_bench::realistic_lps()
            .into_iter()
            .map(|l| l.name)
            .collect(),
        ..EngineConfig::default()
    };
    if args.iter().any(|a| a == "--alone") {
        // In process only (no sockets, no io_uring: runs under callgrind).
        let (n, s) = engine_alone(bytes, laps, &engine, hot);
        let (sn, ss) = session_alone(&session_bytes, &engine, hot);
        println!(
            "engine alone {:.2} M msgs/s ({n} messages); through FIX sessions {:.2} M msgs/s ({sn} messages)",
            n as f64 / s / 1e6,
            sn as f64 / ss / 1e6
        );
        return;
    }

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
    let w = write_laps(vec![addr], vec![bytes], Vec::new(), laps, writer);
    let raw = rx.join().unwrap();
    let raw_end = Instant::now();
    let raw_s = (raw_end - w.join().unwrap()).as_secs_f64();
    assert_eq!(raw.bytes, total_bytes);
    let raw_mps = total_msgs as f64 / raw_s;

    // The whole appliance: the raw drop-copy path, then one FIX session per lap.
    let a = appliance(bytes, None, laps, n_msgs, &engine, hot, writer);
    let f = appliance(
        bytes,
        Some(&session_bytes),
        laps,
        n_msgs,
        &engine,
        hot,
        writer,
    );
    let (alone_n, alone_s) = engine_alone(bytes, laps, &engine, hot);
    let alone_mps = alone_n as f64 / alone_s;
    let mps = a.msgs as f64 / a.secs;
    let gbps = total_bytes as f64 / a.secs / 1e9;
    let fix_mps = f.msgs as f64 / f.secs;
    let fix_bytes_total: u64 = session_bytes.iter().map(|b| b.len() as u64).sum();
    println!(
        "raw multishot recv : {:>6.2} M msgs/s  {:>5.2} GB/s  ({} recvs, {} ENOBUFS)",
        raw_mps / 1e6,
        total_bytes as f64 / raw_s / 1e9,
        raw.recvs,
        raw.enobufs
    );
    for (what, r, m, b) in [
        ("whole engine       ", &a, mps, total_bytes),
        ("with FIX sessions  ", &f, fix_mps, fix_bytes_total),
    ] {
        let s = &r.report.stats.sessions;
        println!(
            "{what}: {:>6.2} M msgs/s  {:>5.2} GB/s  ({} of {total_msgs} messages, {} events, {} rows, {} parse errors, {} ENOBUFS, {} frame errors, {} logons, {} duplicates, {} resend requests)",
            m / 1e6,
            b as f64 / r.secs / 1e9,
            r.msgs,
            r.report.engine.events,
            r.report.engine.publications,
            r.report.feed.parse_errors,
            r.report.stats.io.enobufs,
            s.iter().map(|s| s.frame_errors).sum::<u64>(),
            s.iter().map(|s| s.logons).sum::<u64>(),
            s.iter().map(|s| s.duplicates).sum::<u64>(),
            s.iter().map(|s| s.resend_requests).sum::<u64>(),
        );
    }
    println!(
        "target >= 5 M msgs/s: {}; engine / raw recv = {:.2}; FIX sessions / raw drop-copy path = {:.2}",
        if mps >= 5e6 { "met" } else { "NOT met" },
        mps / raw_mps,
        fix_mps / mps
    );
    println!(
        "{{\"bench\":\"ingest_throughput\",\"msgs_per_s\":{:.0},\"gb_per_s\":{:.3},\"raw_recv_msgs_per_s\":{:.0},\"raw_recv_gb_per_s\":{:.3},\"engine_alone_msgs_per_s\":{:.0},\"fix_session_msgs_per_s\":{:.0},\"messages\":{},\"lost\":{},\"fix_session_lost\":{}}}",
        mps,
        gbps,
        raw_mps,
        total_bytes as f64 / raw_s / 1e9,
        alone_mps,
        fix_mps,
        a.msgs,
        total_msgs.saturating_sub(a.msgs),
        total_msgs.saturating_sub(f.msgs)
    );
}
