//! What the harnesses share: the "realistic mix" workload of targets.md (20 LPs of graded quality;
//! the harnesses add 500 symbols and about 30 % market data through `lpscore::engine::synth`).

use lpscore::engine::synth::LpTruth;

/// The 20 synthetic LPs every whole-engine harness (engine, replay, ingest_throughput) drives:
/// LP00 is the best filler and the slowest improver; each next LP fills a little more, rejects a
/// little more, is slower and improves price more, so no two rank alike under every profile.
pub fn realistic_lps() -> Vec<LpTruth> {
    (0..20)
        .map(|i| {
            let f = f64::from(i);
            LpTruth {
                name: format!("LP{i:02}"),
                full_fill: 0.55 + 0.02 * f,
                half_fill: 0.1,
                reject: 0.01 + 0.005 * f,
                latency_ns: 80_000.0 + 40_000.0 * f,
                pi_bps: -0.5 + 0.1 * f,
                impact_bps: 0.2 + 0.1 * f,
            }
        })
        .collect()
}
