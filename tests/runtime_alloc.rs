//! No allocation on the hot path once it runs: a counting global allocator, both backends. The
//! hot thread is warmed up with one session's stream; then, with every other thread of the test
//! quiet (the writer's bytes and connection prepared beforehand, the test thread polling atomics
//! only), a second session streams the same traffic and the allocation count must not move. The
//! real journal runs (its thread counts too: the global allocator sees every thread).
//!
//! The same for FIX sessions (the session layer: sequence checks, the store written before each
//! message is handed on, the journal with MsgSeqNum, the send path): session 3 logs on and warms
//! up, session 4 logs on before counting starts, then streams while its peer sends TestRequests
//! that lpscore answers (Heartbeats through the outbound buffers and the backend's send path).
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use lpscore::engine::synth::{LpTruth, SynthConfig, fix_bytes, generate};
use lpscore::engine::{EngineConfig, ShmSink, writer_options};
use lpscore::fix::session::SessionSettings;
use lpscore::journal::{self, DurabilityKind, JournalConfig};
use lpscore::runtime::clock::{Clock, LiveClock};
use lpscore::runtime::config::{Backend, IdleConfig, IoConfig, SessionConfig};
use lpscore::runtime::{GroupOptions, spawn_group};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn script() -> (Vec<u8>, u64) {
    let lp = |name: &str| LpTruth {
        name: name.into(),
        full_fill: 0.7,
        half_fill: 0.1,
        reject: 0.05,
        latency_ns: 3e6,
        pi_bps: 0.2,
        impact_bps: 0.5,
    };
    let cfg = SynthConfig {
        lps: vec![lp("LP_A"), lp("LP_B")],
        symbols: 3,
        orders: 400,
        order_gap_ns: 2_000_000,
        noise_quotes_per_order: 1,
        noise_bps: 2.0,
        half_spread_bps: 2.0,
        start_ns: 1_700_000_000_000_000_000,
        seed: 1,
    };
    let evs = generate(&cfg);
    let mut out = Vec::new();
    for (i, (ts, ev)) in evs.iter().enumerate() {
        fix_bytes(*ts, i as u64 + 1, ev, &mut out);
    }
    (out, evs.len() as u64)
}

/// The fields of a message from 35 on, without CompIDs, MsgSeqNum, SendingTime, checksum.
fn app_fields(m: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut mt = Vec::new();
    let mut rest = Vec::new();
    for f in m.split(|&b| b == 1).filter(|f| !f.is_empty()) {
        let eq = f.iter().position(|&b| b == b'=').unwrap();
        match &f[..eq] {
            b"8" | b"9" | b"10" | b"34" | b"49" | b"52" | b"56" => {}
            b"35" => mt = f[eq + 1..].to_vec(),
            _ => {
                rest.extend_from_slice(f);
                rest.push(1);
            }
        }
    }
    (mt, rest)
}

/// A FIX 4.4 message from the peer "QF" to "LPSCORE" with MsgSeqNum `seq`, SendingTime now.
fn fix_msg(mt: &[u8], seq: u64, rest: &[u8]) -> Vec<u8> {
    let mut body = b"35=".to_vec();
    body.extend_from_slice(mt);
    body.extend_from_slice(format!("\x0149=QF\x0156=LPSCORE\x0134={seq}\x0152=").as_bytes());
    lpscore::fix::num::write_timestamp(&mut body, LiveClock.now_ns() as i64);
    body.push(1);
    body.extend_from_slice(rest);
    let mut m = format!("8=FIX.4.4\x019={}\x01", body.len()).into_bytes();
    m.extend_from_slice(&body);
    let sum = m.iter().map(|&b| u32::from(b)).sum::<u32>() % 256;
    m.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    m
}

/// The script as FIX session traffic from seq 2 on (after the Logon), with a TestRequest after
/// every `test_every` application messages; returns the bytes and the next seq.
fn session_stream(script: &[u8], test_every: usize) -> (Vec<u8>, u64) {
    let mut out = Vec::new();
    let mut seq = 2;
    let mut fr = lpscore::fix::Framer::new(Default::default());
    let mut frames = fr.feed(script);
    let mut k = 0;
    while let Some(Ok(f)) = frames.next_frame() {
        let (mt, rest) = app_fields(f.bytes);
        out.extend_from_slice(&fix_msg(&mt, seq, &rest));
        seq += 1;
        k += 1;
        if test_every > 0 && k % test_every == 0 {
            out.extend_from_slice(&fix_msg(b"1", seq, format!("112=T{k}\x01").as_bytes()));
            seq += 1;
        }
    }
    (out, seq)
}

/// Connects to a FIX acceptor session and logs on (waits for lpscore's Logon).
fn logon(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&fix_msg(b"A", 1, b"98=0\x01108=30\x01"))
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(5).any(|w| w == b"\x0135=A") {
        let n = s.read(&mut buf).expect("lpscore's Logon");
        assert!(n > 0, "lpscore closed the connection instead of logging on");
        got.extend_from_slice(&buf[..n]);
    }
    s
}

/// Reads and drops what lpscore sends (heartbeats) until it closes.
fn drain(mut s: TcpStream) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 4096];
        let mut n = 0u64;
        s.set_read_timeout(None).unwrap();
        while let Ok(k) = s.read(&mut buf) {
            if k == 0 {
                break;
            }
            n += k as u64;
        }
        n
    })
}

fn run(backend: Backend) {
    const SEC: u64 = 1_000_000_000;
    let engine = EngineConfig {
        max_lps: 8,
        max_symbols: 16,
        max_cells: 1024,
        max_orders: 1 << 12,
        dedup_window: 1 << 12,
        fill_ring: 1 << 12,
        markout_queue: 1 << 12,
        horizons_ns: vec![3600 * SEC],
        score_horizon_ns: 3600 * SEC,
        prior_refresh_ns: 0,
        publish_interval_ns: 0,
        ..EngineConfig::default()
    };
    let board =
        std::env::temp_dir().join(format!("lpscore-rt-alloc-{}-{backend}", std::process::id()));
    let b2 = board.clone();
    let store = std::env::temp_dir().join(format!(
        "lpscore-rt-alloc-store-{}-{backend}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&store);
    let sessions = (1..=4)
        .map(|id| SessionConfig {
            id,
            listen: Some("127.0.0.1:0".parse().unwrap()),
            connect: None,
            fix: (id > 2).then(|| {
                let mut s = SessionSettings::new("LPSCORE", "QF");
                s.store_dir = store.join(format!("s{id}"));
                s
            }),
        })
        .collect();
    let jdir = std::env::temp_dir().join(format!(
        "lpscore-rt-alloc-j-{}-{backend}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&jdir);
    let (tx, jh) = journal::start(&JournalConfig {
        dir: jdir.clone(),
        durability: DurabilityKind::Group,
        ring_bytes: 8 << 20,
        ..JournalConfig::default()
    })
    .expect("journal");
    let g = spawn_group(
        GroupOptions {
            name: "alloc-test".into(),
            backend,
            core: None,
            sessions,
            io: IoConfig {
                max_connections: 4,
                buffers: 64,
                buffer_size: 4096,
                tick_us: 500,
                ..IoConfig::default()
            },
            idle: IdleConfig {
                enabled: true,
                quiet_us: 300,
                wait_us: 2_000,
            },
            engine,
            recovered: None,
        },
        move |c: &EngineConfig| {
            let w =
                lpscore_shm::Writer::create(&b2, &writer_options(c)).map_err(|e| e.to_string())?;
            Ok(ShmSink::new(w, c))
        },
        Some(tx),
    )
    .unwrap_or_else(|e| panic!("{backend}: {e}"));
    let stats = g.shared_stats();
    let (bytes, n) = script();
    let (fix_bytes, _) = session_stream(&bytes, 0);
    let (fix_bytes_t, _) = session_stream(&bytes, 100);
    let n_fix = n;
    let wait_for = |m: u64| {
        for _ in 0..3000 {
            if stats.messages() >= m {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!(
            "{backend}: timed out at {} of {m} messages",
            stats.messages()
        );
    };
    // Warm-up: session 1 (raw), session 3 (FIX: logon, stream with TestRequests answered).
    let mut s1 = TcpStream::connect(g.addr_of(1).unwrap()).unwrap();
    s1.write_all(&bytes).unwrap();
    wait_for(n);
    let mut s3 = logon(g.addr_of(3).unwrap());
    s3.write_all(&fix_bytes_t).unwrap();
    let d3 = drain(s3.try_clone().unwrap());
    let delivered = |id: u32| stats.session(id).map(|s| s.delivered).unwrap_or(0);
    let wait_delivered = |id: u32, m: u64| {
        for _ in 0..3000 {
            if delivered(id) >= m {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("{backend}: session {id} delivered {} of {m}", delivered(id));
    };
    wait_delivered(3, n_fix);
    // Session 4 logs on now (the logon writes the store, logs): not counted.
    let mut s4 = logon(g.addr_of(4).unwrap());
    let d4 = drain(s4.try_clone().unwrap());
    let _ = fix_bytes;
    // The journal thread has written the warm-up (its first segment is open).
    for _ in 0..3000 {
        if jh.stats().records >= 2 * n {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Session 2: connected and its writer parked before counting starts.
    let go = Arc::new(AtomicBool::new(false));
    let mut s2 = TcpStream::connect(g.addr_of(2).unwrap()).unwrap();
    let go2 = go.clone();
    let bytes2 = bytes.clone();
    let w = std::thread::spawn(move || {
        while !go2.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        for chunk in bytes2.chunks(1000) {
            s2.write_all(chunk).unwrap();
        }
        s2
    });
    let go4 = go.clone();
    let fix4 = fix_bytes_t.clone();
    let w4 = std::thread::spawn(move || {
        while !go4.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        for chunk in fix4.chunks(1000) {
            s4.write_all(chunk).unwrap();
        }
        s4
    });
    // Let the accept and the engine tick settle.
    std::thread::sleep(Duration::from_millis(100));
    let sent_before = stats.session(4).unwrap().bytes_sent;
    let before = ALLOCS.load(Ordering::SeqCst);
    go.store(true, Ordering::Release);
    wait_delivered(2, n);
    wait_delivered(4, n_fix);
    // The last TestRequest's Heartbeat is out.
    let tests = n_fix / 100;
    for _ in 0..3000 {
        let s4 = stats.session(4).unwrap();
        if s4.bytes_sent > sent_before && s4.admin > tests {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(20));
    let after = ALLOCS.load(Ordering::SeqCst);
    let s2 = w.join().unwrap();
    let s4 = w4.join().unwrap();
    let st4 = stats.session(4).unwrap();
    eprintln!(
        "{backend}: {} allocations while {n} raw messages and {n_fix} FIX session messages \
         (with {tests} TestRequests answered: {} bytes sent) went through the hot thread",
        after - before,
        st4.bytes_sent - sent_before
    );
    assert_eq!(after - before, 0, "{backend}: the hot path allocated");
    assert!(st4.bytes_sent > sent_before, "{backend}: no heartbeat sent");
    assert_eq!(st4.delivered, n_fix);
    assert_eq!(st4.duplicates, 0);
    drop((s1, s2, s3, s4));
    let rep = g.shutdown();
    let _ = (d3.join(), d4.join());
    let _ = std::fs::remove_dir_all(&store);
    assert_eq!(rep.stats.io.journal_refused, 0, "{backend}");
    let st = jh.shutdown().expect("journal shutdown");
    assert!(
        st.records >= 4 * n,
        "{backend}: journal wrote {} records",
        st.records
    );
    let _ = std::fs::remove_dir_all(&jdir);
    let _ = std::fs::remove_file(&board);
    let mut l = board.into_os_string();
    l.push(".lock");
    let _ = std::fs::remove_file(l);
}

#[test]
fn hot_path_does_not_allocate() {
    run(Backend::BusyPoll);
    run(Backend::IoUring);
}
