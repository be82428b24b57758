//! What the harnesses share: the "realistic mix" workload of targets.md (20 LPs of graded quality;
//! the harnesses add 500 symbols and about 30 % market data through `lpscore::engine::synth`).

use lpscore::engine::synth::{LpTruth, OwnedEvent, SynthConfig, generate};

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

/// The generator settings of the realistic mix: 20 LPs, 500 symbols, one noise quote per order.
pub fn realistic_config(orders: usize, seed: u64) -> SynthConfig {
    SynthConfig {
        lps: realistic_lps(),
        symbols: 500,
        orders,
        order_gap_ns: 20_000,
        noise_quotes_per_order: 1,
        noise_bps: 0.5,
        half_spread_bps: 1.0,
        start_ns: 1_754_141_400 * 1_000_000_000,
        seed,
    }
}

/// The realistic mix with market data thinned, deterministically, to about 30 % of the messages
/// (the first 500 events are all kept so every symbol has a quote). Each event keeps its index in
/// the unthinned stream (the harnesses use it as the sequence number).
pub fn realistic_events(orders: usize, seed: u64) -> Vec<(usize, u64, OwnedEvent)> {
    let evs = generate(&realistic_config(orders, seed));
    let is_md = |e: &OwnedEvent| matches!(e, OwnedEvent::Quote { .. });
    let n_md = evs.iter().filter(|(_, e)| is_md(e)).count();
    let keep_md = ((evs.len() - n_md) as f64 * 0.3 / 0.7) as usize;
    let mut acc = 0usize;
    let mut out = Vec::with_capacity(evs.len());
    for (i, (t, e)) in evs.into_iter().enumerate() {
        if is_md(&e) {
            acc += keep_md;
            if acc < n_md && i >= 500 {
                continue;
            }
            acc = acc.saturating_sub(n_md);
        }
        out.push((i, t, e));
    }
    out
}

/// A FIX 4.4 Logon (MsgSeqNum 1, HeartBtInt 30 s, SendingTime `ts_ns`) from `sender` to
/// `target`: how the harnesses' writers open a FIX session with lpscore.
pub fn fix_logon(sender: &str, target: &str, ts_ns: u64) -> Vec<u8> {
    let mut body = format!("35=A\x0149={sender}\x0156={target}\x0134=1\x0152=").into_bytes();
    lpscore::fix::num::write_timestamp(&mut body, ts_ns as i64);
    body.extend_from_slice(b"\x0198=0\x01108=30\x01");
    let mut m = format!("8=FIX.4.4\x019={}\x01", body.len()).into_bytes();
    m.extend_from_slice(&body);
    let sum = m.iter().map(|&b| u32::from(b)).sum::<u32>() % 256;
    m.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    m
}

/// Reads from `s` until lpscore's Logon answer has arrived (or panics after 20 s).
pub fn await_logon(s: &mut std::net::TcpStream) {
    use std::io::Read;
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(6).any(|w| w == b"\x0135=A\x01") {
        let n = s.read(&mut buf).expect("waiting for the Logon answer");
        assert!(
            n > 0,
            "lpscore closed the session before answering its Logon"
        );
        got.extend_from_slice(&buf[..n]);
    }
}

/// Removes a scoreboard file and its writer's lock file (`<path>.lock`).
pub fn remove_board(path: &std::path::Path) {
    let _ = std::fs::remove_file(path);
    let mut lock = path.as_os_str().to_owned();
    lock.push(".lock");
    let _ = std::fs::remove_file(lock);
}
