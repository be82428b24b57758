//! End-to-end over loopback, for both backends: clients write scripted FIX streams in random
//! chunk sizes across several connections (acceptor and initiator sessions); the scoreboard file,
//! read through `lpscore_shm::Scoreboard`, must hold exactly the rows that the replay of the
//! group's real journal (segment files written by `lpscore::journal`, read back and replayed by
//! `lpscore::journal::replay::Replayer`: messages and engine ticks, in the order the hot thread
//! saw them) produces - compared bit for bit, every row of the file. Then hostile
//! peers (disconnect mid-message, 1 byte per second, garbage flood, silence) next to a good
//! session, and a bounded sustained-load run with VmRSS watched.
//!
//! The tests hold one lock: at most one hot thread at a time, and it runs the idle mode, so no
//! more than one thread spins on this 2-core machine.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use lpscore::engine::synth::{LpTruth, SplitMix64, SynthConfig, fix_bytes, generate};
use lpscore::engine::{EngineConfig, ShmSink, writer_options};
use lpscore::journal::replay::{LatestSink, Replayer};
use lpscore::journal::{self, DurabilityKind, JournalConfig, JournalHandle};
use lpscore::runtime::config::{Backend, IdleConfig, IoConfig, SessionConfig};
use lpscore::runtime::{GroupOptions, HotGroup, StatsSnapshot, spawn_group};
use lpscore_shm::Scoreboard;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn engine_cfg() -> EngineConfig {
    const SEC: u64 = 1_000_000_000;
    EngineConfig {
        max_lps: 16,
        max_symbols: 64,
        max_cells: 4096,
        max_orders: 1 << 14,
        dedup_window: 1 << 14,
        fill_ring: 1 << 14,
        markout_queue: 1 << 14,
        // Nothing comes due on a timer during a test: rows depend only on the messages.
        horizons_ns: vec![3600 * SEC],
        score_horizon_ns: 3600 * SEC,
        prior_refresh_ns: 0,
        publish_interval_ns: 0,
        ..EngineConfig::default()
    }
}

fn idle() -> IdleConfig {
    IdleConfig {
        enabled: true,
        quiet_us: 300,
        wait_us: 2_000,
    }
}

fn io_cfg() -> IoConfig {
    IoConfig {
        max_connections: 16,
        buffers: 64,
        buffer_size: 4096,
        tick_us: 500,
        reconnect_ms: 50,
        ..IoConfig::default()
    }
}

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("lpscore-rt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

fn cleanup(p: &Path) {
    let _ = std::fs::remove_file(p);
    let mut l = p.as_os_str().to_owned();
    l.push(".lock");
    let _ = std::fs::remove_file(PathBuf::from(l));
}

/// One session's scripted drop-copy stream (synthetic LPs, quotes, orders, reports).
fn script(seed: u64, orders: usize) -> (Vec<u8>, usize) {
    let lp = |name: &str, fill: f64, lat: f64, pi: f64| LpTruth {
        name: name.into(),
        full_fill: fill,
        half_fill: 0.1,
        reject: 0.05,
        latency_ns: lat,
        pi_bps: pi,
        impact_bps: 0.5,
    };
    let cfg = SynthConfig {
        lps: vec![
            lp("LP_A", 0.8, 2e6, 0.5),
            lp("LP_B", 0.6, 8e6, -0.2),
            lp("LP_C", 0.7, 4e6, 0.1),
        ],
        symbols: 4,
        orders,
        order_gap_ns: 3_000_000,
        noise_quotes_per_order: 1,
        noise_bps: 2.0,
        half_spread_bps: 2.0,
        start_ns: 1_700_000_000_000_000_000,
        seed,
    };
    let mut out = Vec::new();
    let evs = generate(&cfg);
    for (i, (ts, ev)) in evs.iter().enumerate() {
        fix_bytes(*ts, i as u64 + 1, ev, &mut out);
    }
    (out, evs.len())
}

/// Writes `bytes` in random chunks (1..=max) with occasional short sleeps.
fn write_chunked(s: &mut TcpStream, bytes: &[u8], seed: u64, max: u64) {
    let mut rng = SplitMix64(seed);
    let mut i = 0;
    while i < bytes.len() {
        let n = (1 + rng.below(max)) as usize;
        let j = (i + n).min(bytes.len());
        s.write_all(&bytes[i..j]).unwrap();
        i = j;
        if rng.below(16) == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

fn start(
    backend: Backend,
    sessions: Vec<SessionConfig>,
    board: &Path,
    io: IoConfig,
    journal_dir: Option<&Path>,
) -> (HotGroup, Option<JournalHandle>) {
    let (tx, rx) = match journal_dir {
        Some(dir) => {
            let _ = std::fs::remove_dir_all(dir);
            let (t, h) = journal::start(&JournalConfig {
                dir: dir.to_path_buf(),
                durability: DurabilityKind::None,
                ring_bytes: 64 << 20,
                ..JournalConfig::default()
            })
            .expect("journal");
            (Some(t), Some(h))
        }
        None => (None, None),
    };
    let board = board.to_path_buf();
    let opts = GroupOptions {
        name: "lpscore-hot-test".into(),
        backend,
        core: None,
        sessions,
        io,
        idle: idle(),
        engine: engine_cfg(),
        recovered: None,
    };
    let g = spawn_group(
        opts,
        move |cfg: &EngineConfig| {
            let w = lpscore_shm::Writer::create(&board, &writer_options(cfg))
                .map_err(|e| e.to_string())?;
            Ok(ShmSink::new(w, cfg))
        },
        tx,
    );
    match g {
        Ok(g) => (g, rx),
        // io_uring unavailable must fail loudly, with the probe's diagnosis.
        Err(e) => panic!("{backend} backend could not start: {e}"),
    }
}

fn wait_until(
    g: &HotGroup,
    secs: u64,
    what: &str,
    f: impl Fn(&StatsSnapshot) -> bool,
) -> StatsSnapshot {
    for _ in 0..secs * 200 {
        let s = g.stats();
        if f(&s) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("timed out waiting for {what}: {:#?}", g.stats());
}

fn acceptor(id: u32) -> SessionConfig {
    SessionConfig {
        id,
        listen: Some("127.0.0.1:0".parse().unwrap()),
        connect: None,
        fix: None,
    }
}

/// Every row word of two scoreboards, compared.
fn assert_same_rows(live: &Scoreboard, replay: &Scoreboard) -> usize {
    let mut with_data = 0;
    let mut idx = 0;
    loop {
        match (live.read_words(idx), replay.read_words(idx)) {
            (Ok(a), Ok(b)) => {
                assert_eq!(
                    a, b,
                    "row {idx} differs between the live scoreboard and the engine alone"
                );
                if a.iter().any(|&w| w != 0) {
                    with_data += 1;
                }
            }
            (Err(_), Err(_)) => break,
            (a, b) => panic!("row {idx}: {a:?} vs {b:?}"),
        }
        idx += 1;
    }
    let names = |s: &Scoreboard| {
        s.lps()
            .map(|(_, n)| n.as_str().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(live), names(replay));
    with_data
}

fn e2e(backend: Backend) {
    let _g = lock();
    let board = tmp(&format!("e2e-{backend}"));
    let replay_board = tmp(&format!("e2e-{backend}-replay"));
    // The initiator session connects to this listener.
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let up_addr: SocketAddr = upstream.local_addr().unwrap();
    let mut sessions: Vec<SessionConfig> = (1..=3).map(acceptor).collect();
    sessions.push(SessionConfig {
        id: 4,
        listen: None,
        connect: Some(up_addr),
        fix: None,
    });
    let jdir = tmp(&format!("e2e-{backend}-journal"));
    let (g, jh) = start(backend, sessions, &board, io_cfg(), Some(&jdir));
    let jh = jh.unwrap();
    let live = Scoreboard::open(&board).expect("scoreboard");
    let scripts: Vec<(Vec<u8>, usize)> = (1..=4).map(|k| script(k, 250)).collect();
    let total: usize = scripts.iter().map(|s| s.1).sum();
    let mut writers = Vec::new();
    for (k, (bytes, _)) in scripts.iter().enumerate() {
        let bytes = bytes.clone();
        let id = k as u32 + 1;
        if id == 4 {
            let (mut s, _) = upstream.accept().unwrap();
            writers.push(std::thread::spawn(move || {
                write_chunked(&mut s, &bytes, 99, 700)
            }));
        } else {
            let addr = g.addr_of(id).unwrap();
            writers.push(std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                write_chunked(&mut s, &bytes, u64::from(id), 700);
                // Keep the connection open until the runtime has everything.
                std::thread::sleep(Duration::from_millis(50));
            }));
        }
    }
    for w in writers {
        w.join().unwrap();
    }
    let st = wait_until(&g, 15, "every message", |s| s.messages() as usize == total);
    for s in &st.sessions {
        assert_eq!(s.frame_errors, 0, "{s:?}");
        assert_eq!(s.parse_errors, 0, "{s:?}");
    }
    // Stop the group (the engine is flushed, the scoreboard marked stopped), then the journal
    // (its ring drained into the segments).
    let report = g.shutdown();
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.stats.io.journal_refused, 0);
    assert_eq!(report.stats.io.journal_ticks_skipped, 0);
    // 4, plus the initiator's reconnects after its peer closed.
    assert!(report.stats.io.opened >= 4);
    // The scoreboard is marked stopped after a clean shutdown.
    assert!(
        !live.staleness(Duration::from_secs(60)).is_live(),
        "scoreboard not marked stopped"
    );
    let jst = jh.shutdown().expect("journal shutdown");
    assert!(jst.records as usize > total, "messages and ticks: {jst:?}");
    // The journal files hold every message of every session, byte for byte, in order, with the
    // runtime's per-session sequence numbers 1, 2, ...
    let segs: Vec<PathBuf> = journal::list_segments(&jdir)
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect();
    let mut per_session: Vec<(Vec<u8>, u64)> = vec![(Vec::new(), 0); 5];
    let rep = journal::scan_segments(&segs, |_, _, r| {
        let (bytes, last) = &mut per_session[r.session as usize];
        assert_eq!(r.seq, *last + 1, "session {} seq", r.session);
        *last = r.seq;
        bytes.extend_from_slice(r.bytes);
    })
    .unwrap();
    assert_eq!(rep.records as usize, total);
    assert!(
        rep.ticks > 0,
        "the live engine ticked; the journal has no tick"
    );
    assert!(rep.torn.is_none());
    for (k, (bytes, _)) in scripts.iter().enumerate() {
        let id = k + 1;
        assert!(
            per_session[id].0 == *bytes,
            "session {id}: journaled bytes differ from the script"
        );
    }
    // The journal directory replayed by the replay code path (`lpscore replay`), into a second
    // scoreboard: the same rows, bit for bit.
    let cfg = engine_cfg();
    let w = lpscore_shm::Writer::create(&replay_board, &writer_options(&cfg)).unwrap();
    let sink = LatestSink {
        shm: Some(ShmSink::new(w, &cfg)),
        ..LatestSink::default()
    };
    let mut rp = Replayer::new(cfg, sink).unwrap();
    rp.replay_path(&jdir, &mut |_, _| {}).expect("replay");
    rp.finish();
    assert_eq!(rp.stats.ticks, rep.ticks);
    assert_eq!(rp.stats.malformed, 0);
    let replay = Scoreboard::open(&replay_board).unwrap();
    let rows = assert_same_rows(&live, &replay);
    assert!(rows > 10, "only {rows} rows have data");
    assert_eq!(report.engine.events, rp.feed.engine.counters().events);
    drop((live, replay, rp));
    let _ = std::fs::remove_dir_all(&jdir);
    cleanup(&board);
    cleanup(&replay_board);
}

#[test]
fn e2e_io_uring() {
    e2e(Backend::IoUring);
}

#[test]
fn e2e_busy_poll() {
    e2e(Backend::BusyPoll);
}

fn hostile(backend: Backend) {
    let _g = lock();
    let board = tmp(&format!("hostile-{backend}"));
    let sessions: Vec<SessionConfig> = (1..=5).map(acceptor).collect();
    let io = IoConfig {
        silent_timeout_ms: 400,
        ..io_cfg()
    };
    let jdir = tmp(&format!("hostile-{backend}-journal"));
    let (g, jh) = start(backend, sessions, &board, io, Some(&jdir));
    let jh = jh.unwrap();
    let (good, n_good) = script(7, 200);
    let (other, _) = script(8, 20);
    // Message boundaries of `other`, to cut one in the middle.
    let mut ends = Vec::new();
    {
        let mut fr = lpscore::fix::Framer::new(Default::default());
        let mut f = fr.feed(&other);
        while let Some(Ok(m)) = f.next_frame() {
            ends.push((m.offset + m.bytes.len() as u64) as usize);
        }
    }
    let a = |id| g.addr_of(id).unwrap();
    let (a1, a2, a3, a4, a5) = (a(1), a(2), a(3), a(4), a(5));
    // 5: connects and sends nothing.
    let silent = TcpStream::connect(a5).unwrap();
    let good_w = std::thread::spawn(move || {
        let mut s = TcpStream::connect(a1).unwrap();
        write_chunked(&mut s, &good, 11, 500);
        std::thread::sleep(Duration::from_millis(100));
    });
    // 2: ten messages, then half of the eleventh, then gone.
    let cut = ends[9] + (ends[10] - ends[9]) / 2;
    let abrupt = other[..cut].to_vec();
    let abrupt_w = std::thread::spawn(move || {
        let mut s = TcpStream::connect(a2).unwrap();
        s.write_all(&abrupt).unwrap();
    });
    // 3: one message, its first 3 bytes at 1 byte per second, then the rest.
    let slow = other[..ends[0]].to_vec();
    let slow_w = std::thread::spawn(move || {
        let mut s = TcpStream::connect(a3).unwrap();
        s.set_nodelay(true).unwrap();
        for b in &slow[..3] {
            s.write_all(&[*b]).unwrap();
            std::thread::sleep(Duration::from_secs(1));
        }
        s.write_all(&slow[3..]).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    });
    // 4: 4 MiB of garbage (no "8=FIX" in it), then five valid messages.
    let mut garbage = vec![0u8; 4 << 20];
    let mut rng = SplitMix64(5);
    for b in garbage.iter_mut() {
        *b = b"0123456789=|ABC\x01"[rng.below(16) as usize];
    }
    let flood_tail = other[..ends[4]].to_vec();
    let flood_w = std::thread::spawn(move || {
        let mut s = TcpStream::connect(a4).unwrap();
        s.write_all(&garbage).unwrap();
        s.write_all(&flood_tail).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    });
    for w in [good_w, abrupt_w, slow_w, flood_w] {
        w.join().unwrap();
    }
    let st = wait_until(&g, 15, "all sessions", |s| {
        s.session(1).unwrap().messages as usize == n_good
            && s.session(2).unwrap().truncated == 1
            && s.session(3).unwrap().messages == 1
            && s.session(4).unwrap().messages == 5
            && s.io.silent_closed >= 1
    });
    let s = |id| *st.session(id).unwrap();
    assert_eq!(s(1).frame_errors, 0);
    assert_eq!(s(1).parse_errors, 0);
    assert_eq!(s(2).messages, 10);
    assert!(s(4).frame_errors >= 1, "{:?}", s(4));
    assert_eq!(s(4).bytes, (4 << 20) + ends[4] as u64);
    assert_eq!(s(5).bytes, 0);
    // The silent peer was closed by the runtime: it reads EOF.
    let mut silent = silent;
    silent
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    assert_eq!(silent.read(&mut [0u8; 16]).unwrap_or(0), 0);
    // The good session's bytes reached the engine whole and in order.
    let report = g.shutdown();
    assert!(report.error.is_none(), "{:?}", report.error);
    jh.shutdown().expect("journal shutdown");
    let (good, _) = script(7, 200);
    let segs: Vec<PathBuf> = journal::list_segments(&jdir)
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect();
    let mut got = Vec::new();
    journal::scan_segments(&segs, |_, _, r| {
        if r.session == 1 {
            got.extend_from_slice(r.bytes)
        }
    })
    .unwrap();
    assert!(got == good, "good session's bytes differ");
    cleanup(&board);
    let _ = std::fs::remove_dir_all(&jdir);
}

#[test]
fn hostile_peers_io_uring() {
    hostile(Backend::IoUring);
}

#[test]
fn hostile_peers_busy_poll() {
    hostile(Backend::BusyPoll);
}

fn vm_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn soak(backend: Backend) {
    let _g = lock();
    let board = tmp(&format!("soak-{backend}"));
    let (g, _) = start(backend, vec![acceptor(1)], &board, io_cfg(), None);
    let (ring, ranges) = lpscore::fix::testkit::execution_report_ring(4096, 3);
    let n_per = ranges.len() as u64;
    let addr = g.addr_of(1).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let st = stop.clone();
    let w = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let mut laps = 0u64;
        while !st.load(std::sync::atomic::Ordering::Relaxed) {
            s.write_all(&ring).unwrap();
            laps += 1;
        }
        laps
    });
    std::thread::sleep(Duration::from_millis(800));
    let rss0 = vm_rss_kib();
    let mut peak = rss0;
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(100));
        peak = peak.max(vm_rss_kib());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let laps = w.join().unwrap();
    let sent = laps * n_per;
    let st = wait_until(&g, 15, "every message of the soak", |s| {
        s.messages() >= sent
    });
    assert_eq!(st.messages(), sent, "messages lost or invented");
    assert_eq!(st.sessions[0].frame_errors, 0);
    assert!(
        peak <= rss0 + 8 * 1024,
        "VmRSS grew from {rss0} KiB to {peak} KiB"
    );
    eprintln!(
        "{backend} soak: {sent} messages in ~2.8 s, VmRSS {rss0} -> {peak} KiB, enobufs {}",
        st.io.enobufs
    );
    g.shutdown();
    cleanup(&board);
}

#[test]
fn sustained_load_io_uring() {
    soak(Backend::IoUring);
}

#[test]
fn sustained_load_busy_poll() {
    soak(Backend::BusyPoll);
}

/// The kernel offers what the io_uring backend needs; otherwise this fails with the probe's
/// diagnosis (cause and fix).
#[test]
fn io_uring_probe() {
    match lpscore::io::probe::probe() {
        Ok(f) => eprintln!("io_uring probe: {f:?}"),
        Err(e) => panic!("{e}"),
    }
}
