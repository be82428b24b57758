//! Convergence: synthetic LPs of known behaviour (fixed seed), 50 000 orders through the engine;
//! every estimated KPI must be within a stated tolerance of the truth, and every default profile
//! must rank the LPs as their true KPIs imply. Run with `--nocapture` to see the table.
use lpscore::engine::synth::{LpTruth, SynthConfig, generate};
use lpscore::engine::{Engine, EngineConfig};
use lpscore::publish::MemorySink;
use lpscore::score::{Profiles, ScoreInputs, Transforms, default_profiles};

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;
const HALF_SPREAD_BPS: f64 = 1.0;

fn lps() -> Vec<LpTruth> {
    let lp = |name: &str, full, half, reject, lat_ms: f64, pi, im| LpTruth {
        name: name.into(),
        full_fill: full,
        half_fill: half,
        reject,
        latency_ns: lat_ms * 1e6,
        pi_bps: pi,
        impact_bps: im,
    };
    vec![
        lp("LP_FAST", 0.80, 0.10, 0.02, 1.0, 0.2, 2.5),
        lp("LP_BLOCK", 0.97, 0.02, 0.01, 30.0, 0.5, 0.0),
        lp("LP_PRICE", 0.70, 0.10, 0.03, 12.0, 2.5, 1.0),
        lp("LP_BAD", 0.55, 0.15, 0.15, 50.0, -0.3, 3.0),
    ]
}

/// Indices sorted by descending score.
fn ranking(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    idx
}

#[test]
fn estimates_converge_and_profiles_rank_by_truth() {
    let truth = lps();
    let evs = generate(&SynthConfig {
        lps: truth.clone(),
        symbols: 200,
        orders: 50_000,
        order_gap_ns: 10 * MS,
        noise_quotes_per_order: 1,
        noise_bps: 0.3,
        half_spread_bps: HALF_SPREAD_BPS,
        start_ns: 1_754_141_400 * SEC,
        seed: 0x5EED_1234,
    });
    let cfg = EngineConfig {
        max_symbols: 256,
        max_lps: 8,
        stale_quote_ns: 0,
        ..EngineConfig::default()
    };
    let mut e = Engine::new(cfg, MemorySink::default()).unwrap();
    for (t, ev) in &evs {
        e.on_event(*t, &ev.as_event());
    }
    // Let the last fills' markouts (up to 60 s) resolve.
    e.tick(evs.last().unwrap().0 + 61 * SEC);
    let c = *e.counters();
    assert_eq!(c.orders, 50_000);
    assert_eq!(c.invalid_transitions + c.malformed + c.unknown_cl_ord_id, 0);

    let profiles = Profiles::new(&default_profiles()).unwrap();
    let tr = Transforms::default();
    println!(
        "{} events, {} orders, {} rows published",
        evs.len(),
        c.orders,
        c.publications
    );
    println!(
        "{:<9} {:>17} {:>17} {:>19} {:>15} {:>15} {:>15} {:>15} {:>15} {:>9}",
        "LP",
        "fill est/true",
        "reject est/true",
        "ack mean ms e/t",
        "ack p50 ms e/t",
        "PI bps e/t",
        "ES bps e/t",
        "IM1s bps e/t",
        "MO1s bps e/t",
        "eff ord"
    );
    let mut est_scores = vec![Vec::new(); 3];
    let mut true_scores = vec![Vec::new(); 3];
    let mut failures = Vec::new();
    for t in &truth {
        let key = e.lp_key(&t.name).unwrap();
        let est = e.estimates(key).unwrap();
        let row = e.row(key).unwrap();
        let ti = t.inputs(HALF_SPREAD_BPS);
        println!(
            "{:<9} {:>8.4}/{:<8.4} {:>8.4}/{:<8.4} {:>9.3}/{:<9.3} {:>7.2}/{:<7.2} {:>7.3}/{:<7.3} {:>7.3}/{:<7.3} {:>7.3}/{:<7.3} {:>7.3}/{:<7.3} {:>9.1}",
            t.name,
            est.fill_rate,
            ti.fill_rate,
            est.reject_rate,
            ti.reject_rate,
            est.ack_mean_ns / 1e6,
            ti.latency_ns / 1e6,
            est.ack_p50_ns as f64 / 1e6,
            ti.latency_ns / 1e6,
            est.pi_bps,
            ti.pi_bps,
            est.es_bps,
            ti.es_bps,
            est.impact_bps[1],
            ti.impact_bps,
            est.markout_bps[1],
            ti.markout_bps,
            est.eff_orders,
        );
        // Stated tolerances.
        let mut check = |what: &str, got: f64, want: f64, tol: f64| {
            if (got - want).abs() > tol {
                failures.push(format!("{} {what}: {got} vs {want} (tol {tol})", t.name));
            }
        };
        check("fill rate", est.fill_rate, ti.fill_rate, 0.02);
        check("reject rate", est.reject_rate, ti.reject_rate, 0.01);
        check(
            "ack mean",
            est.ack_mean_ns,
            ti.latency_ns,
            0.05 * ti.latency_ns,
        );
        check(
            "ack p50",
            est.ack_p50_ns as f64,
            ti.latency_ns,
            0.15 * ti.latency_ns,
        );
        check("PI", est.pi_bps, ti.pi_bps, 0.05);
        check("ES", est.es_bps, ti.es_bps, 0.1);
        check("impact 1s", est.impact_bps[1], ti.impact_bps, 0.3);
        check("markout 1s", est.markout_bps[1], ti.markout_bps, 0.3);
        check(
            "E/Q",
            est.eq_ratio,
            ti.es_bps / (2.0 * HALF_SPREAD_BPS),
            0.05,
        );
        let ts = profiles.scores(&tr, &ti);
        let from_row: Vec<f64> = row.scores[..3].iter().map(|s| f64::from(*s)).collect();
        let direct = profiles.scores(&tr, &ScoreInputs::from_estimates(&est, 1));
        for p in 0..3 {
            assert!((from_row[p] - direct[p]).abs() < 1e-3);
            est_scores[p].push(from_row[p]);
            true_scores[p].push(ts[p]);
        }
    }
    println!(
        "{:<14} {:>24} {:>24}",
        "profile", "estimated scores", "true scores"
    );
    for (p, name) in profiles.names.iter().enumerate() {
        let fmt = |v: &[f64]| {
            v.iter()
                .map(|s| format!("{s:5.1}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let (er, tr_) = (ranking(&est_scores[p]), ranking(&true_scores[p]));
        let names = |r: &[usize]| {
            r.iter()
                .map(|i| truth[*i].name.as_str())
                .collect::<Vec<_>>()
                .join(" > ")
        };
        println!(
            "{name:<14} {:>24} {:>24}   est rank: {}   true rank: {}",
            fmt(&est_scores[p]),
            fmt(&true_scores[p]),
            names(&er),
            names(&tr_)
        );
        if er != tr_ {
            failures.push(format!("{name}: ranking {er:?} vs truth {tr_:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
