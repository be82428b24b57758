//! No allocation on the hot path once it runs: a counting global allocator, both backends. The
//! hot thread is warmed up with one session's stream; then, with every other thread of the test
//! quiet (the writer's bytes and connection prepared beforehand, the test thread polling atomics
//! only), a second session streams the same traffic and the allocation count must not move. The
//! real journal runs (its thread counts too: the global allocator sees every thread).
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use lpscore::engine::synth::{LpTruth, SynthConfig, fix_bytes, generate};
use lpscore::engine::{EngineConfig, ShmSink, writer_options};
use lpscore::journal::{self, DurabilityKind, JournalConfig};
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
    let sessions = (1..=2)
        .map(|id| SessionConfig {
            id,
            listen: Some("127.0.0.1:0".parse().unwrap()),
            connect: None,
            fix: None,
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
    // Warm-up: session 1.
    let mut s1 = TcpStream::connect(g.addr_of(1).unwrap()).unwrap();
    s1.write_all(&bytes).unwrap();
    wait_for(n);
    // The journal thread has written the warm-up (its first segment is open).
    for _ in 0..3000 {
        if jh.stats().records >= n {
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
    // Let the accept and the engine tick settle.
    std::thread::sleep(Duration::from_millis(100));
    let before = ALLOCS.load(Ordering::SeqCst);
    go.store(true, Ordering::Release);
    wait_for(2 * n);
    std::thread::sleep(Duration::from_millis(20));
    let after = ALLOCS.load(Ordering::SeqCst);
    let s2 = w.join().unwrap();
    eprintln!(
        "{backend}: {} allocations while {n} messages went through the hot thread",
        after - before
    );
    assert_eq!(after - before, 0, "{backend}: the hot path allocated");
    drop((s1, s2));
    let rep = g.shutdown();
    assert_eq!(rep.stats.io.journal_refused, 0, "{backend}");
    let st = jh.shutdown().expect("journal shutdown");
    assert!(
        st.records >= 2 * n,
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
