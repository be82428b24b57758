//! Steady state allocates nothing: after a warm-up stream, a second stream of new orders (same
//! LPs and symbols) goes through the whole path (raw FIX -> parse -> engine -> rows) with zero
//! heap allocations on the feeding thread, publication included.
#![allow(unsafe_code)] // a counting global allocator is the only way to observe allocations

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use lpscore::engine::synth::{LpTruth, SynthConfig, fix_bytes, generate};
use lpscore::engine::{Engine, EngineConfig, FixFeed};
use lpscore::publish::NullSink;

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // try_with: the thread-local may be gone while a thread shuts down.
    let _ = ARMED.try_with(|a| {
        if a.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

// SAFETY: every method forwards to the system allocator unchanged; counting touches only
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn encode(seed: u64, prefix: &str, start: u64) -> Vec<(u64, Vec<u8>)> {
    let lps = (0..5)
        .map(|i| LpTruth {
            name: format!("LP{i}"),
            full_fill: 0.7,
            half_fill: 0.1,
            reject: 0.05,
            latency_ns: 1e6 * f64::from(i + 1),
            pi_bps: 0.2 * f64::from(i),
            impact_bps: 1.0,
        })
        .collect();
    let evs = generate(&SynthConfig {
        lps,
        symbols: 20,
        orders: 4000,
        order_gap_ns: 1_000_000,
        noise_quotes_per_order: 1,
        noise_bps: 0.5,
        half_spread_bps: 1.0,
        start_ns: start,
        seed,
    });
    evs.iter()
        .enumerate()
        .map(|(i, (t, e))| {
            // Distinct ClOrdIDs / ExecIDs per stream.
            let e = match e.clone() {
                lpscore::engine::synth::OwnedEvent::NewOrder {
                    cl_ord_id,
                    symbol,
                    side,
                    qty,
                    lp,
                } => lpscore::engine::synth::OwnedEvent::NewOrder {
                    cl_ord_id: format!("{prefix}{cl_ord_id}"),
                    symbol,
                    side,
                    qty,
                    lp,
                },
                lpscore::engine::synth::OwnedEvent::Exec {
                    cl_ord_id,
                    exec_id,
                    exec_type,
                    last_qty,
                    last_px,
                    lp,
                } => lpscore::engine::synth::OwnedEvent::Exec {
                    cl_ord_id: format!("{prefix}{cl_ord_id}"),
                    exec_id: format!("{prefix}{exec_id}"),
                    exec_type,
                    last_qty,
                    last_px,
                    lp,
                },
                q => q,
            };
            let mut b = Vec::new();
            fix_bytes(*t, i as u64 + 1, &e, &mut b);
            (*t, b)
        })
        .collect()
}

const SEC: u64 = 1_000_000_000;

/// Hands a stream of `(capture ts, FIX bytes)` to the feed.
type Feed = fn(&mut FixFeed<NullSink>, &[(u64, Vec<u8>)]);

/// Warms an engine up on one stream through `feed`, then counts the heap allocations while a
/// second stream (new orders, same LPs and symbols), a tick past the linger and a flush go
/// through it. Returns the count and the number of steady messages.
fn steady_state_allocations(feed: Feed) -> (u64, usize) {
    let t0 = 1_754_141_400 * SEC;
    let warm = encode(1, "W", t0);
    let steady = encode(2, "S", warm.last().unwrap().0 + SEC);
    let cfg = EngineConfig {
        max_lps: 8,
        max_symbols: 64,
        max_cells: 4096,
        max_orders: 1 << 14,
        stale_quote_ns: 0,
        ..EngineConfig::default()
    };
    let mut ff = FixFeed::new(Engine::new(cfg, NullSink).unwrap());
    feed(&mut ff, &warm);
    let before = ff.engine.counters().publications;
    // The counter counts (so the zero below means something).
    ARMED.with(|a| a.set(true));
    let probe = std::hint::black_box(Box::new(7u64));
    ARMED.with(|a| a.set(false));
    drop(probe);
    assert_eq!(COUNT.with(|c| c.replace(0)), 1);
    ARMED.with(|a| a.set(true));
    feed(&mut ff, &steady);
    ff.engine.tick(steady.last().unwrap().0 + 61 * SEC);
    ff.engine.flush();
    ARMED.with(|a| a.set(false));
    let n = COUNT.with(|c| c.get());
    let c = ff.engine.counters();
    assert!(
        c.publications - before > 1000,
        "the steady phase published rows"
    );
    assert_eq!(c.orders, 8000);
    (n, steady.len())
}

#[test]
fn steady_state_allocates_nothing() {
    let (n, msgs) = steady_state_allocations(|ff, msgs| {
        for (t, b) in msgs {
            ff.on_fix(*t, 1, b).unwrap();
        }
    });
    assert_eq!(n, 0, "{n} allocations in steady state over {msgs} messages");
}

#[test]
fn batched_steady_state_allocates_nothing() {
    // Groups of 64 gathered in a stack array, as a caller without a heap buffer would.
    let (n, msgs) = steady_state_allocations(|ff, msgs| {
        for chunk in msgs.chunks(64) {
            let mut group: [(u64, u32, &[u8]); 64] = [(0, 0, &[]); 64];
            for (g, (t, b)) in group.iter_mut().zip(chunk) {
                *g = (*t, 1, b);
            }
            assert_eq!(ff.on_fix_batch(&group[..chunk.len()]), 0);
        }
    });
    assert_eq!(
        n, 0,
        "{n} allocations in steady state over {msgs} messages (batched)"
    );
}
