//! `prefault_cells`: the cell storage is resident from the start (measured on this process's
//! resident set, alone in its own test binary so no other test allocates meanwhile), and an engine
//! that pre-faults publishes exactly what one that does not publishes.
use lpscore::engine::synth::{LpTruth, SynthConfig, generate};
use lpscore::engine::{Engine, EngineConfig};
use lpscore::publish::{BitsEq, MemorySink};

const SEC: u64 = 1_000_000_000;

/// Resident set of this process, bytes (`/proc/self/statm`, field 2, in pages of 4 KiB).
fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    s.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4096
}

fn cfg(prefault_cells: usize) -> EngineConfig {
    EngineConfig {
        max_lps: 8,
        max_symbols: 32,
        max_cells: 8192,
        prefault_cells,
        max_orders: 8192,
        stale_quote_ns: 0,
        publish_interval_ns: 0,
        ..EngineConfig::default()
    }
}

#[test]
fn prefaulted_cells_are_resident_and_change_no_result() {
    // 8192 cells of about 2 KiB: 16 MiB of storage, untouched without prefaulting.
    let r0 = rss();
    let mut plain = Engine::new(cfg(0), MemorySink::default()).unwrap();
    let r1 = rss();
    let mut warm = Engine::new(cfg(usize::MAX), MemorySink::default()).unwrap();
    let r2 = rss();
    let (grew_plain, grew_warm) = (r1.saturating_sub(r0), r2.saturating_sub(r1));
    assert!(
        grew_warm >= grew_plain + (14 << 20),
        "prefaulting 8192 cells grew the resident set by {grew_warm} bytes, a plain engine by {grew_plain}"
    );

    let lps: Vec<LpTruth> = (0..4)
        .map(|i| LpTruth {
            name: format!("LP{i}"),
            full_fill: 0.6 + 0.1 * f64::from(i),
            half_fill: 0.1,
            reject: 0.02 * f64::from(i),
            latency_ns: 2e6 * f64::from(i + 1),
            pi_bps: 0.5 * f64::from(i) - 0.5,
            impact_bps: 1.0,
        })
        .collect();
    let evs = generate(&SynthConfig {
        lps,
        symbols: 20,
        orders: 2000,
        order_gap_ns: 5_000_000,
        noise_quotes_per_order: 1,
        noise_bps: 0.5,
        half_spread_bps: 1.0,
        start_ns: 1_754_141_400 * SEC,
        seed: 5,
    });
    for (t, ev) in &evs {
        plain.on_event(*t, &ev.as_event());
        warm.on_event(*t, &ev.as_event());
    }
    plain.flush();
    warm.flush();
    let (a, b) = (&plain.sink().log, &warm.sink().log);
    assert!(a.len() > 1000, "only {} rows published", a.len());
    assert_eq!(a.len(), b.len());
    for ((ka, ra), (kb, rb)) in a.iter().zip(b) {
        assert_eq!(ka, kb);
        assert!(ra.bits_eq(rb), "{ka:?}: {ra:?} vs {rb:?}");
    }
}
