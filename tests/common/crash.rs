//! What the two crash tests (tests/crash_recovery.rs: a raw tap; tests/crash_session.rs: a FIX
//! session) share: reading the appliance's log lines, signalling it, and the final comparison of
//! the live scoreboard with the replay of its journal.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command};

use lpscore::engine::synth::{LpTruth, SynthConfig, fix_bytes, generate};

/// The `lpscore` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_lpscore");

/// The scripted drop copy both tests send: 126 696 FIX messages (orders, executions, market
/// data; 5 LPs, 8 symbols), deterministic.
pub fn drop_copy() -> Vec<Vec<u8>> {
    const SEC: u64 = 1_000_000_000;
    let lps: Vec<LpTruth> = (0..5)
        .map(|i| LpTruth {
            name: format!("LP{i}"),
            full_fill: 0.55 + 0.08 * f64::from(i),
            half_fill: 0.1,
            reject: 0.02 * f64::from(i),
            latency_ns: 150_000.0 * (1.0 + f64::from(i)),
            pi_bps: 0.2 * f64::from(i) - 0.3,
            impact_bps: 0.4,
        })
        .collect();
    let evs = generate(&SynthConfig {
        lps,
        symbols: 8,
        orders: 26_000,
        order_gap_ns: 2_000_000,
        noise_quotes_per_order: 2,
        noise_bps: 0.5,
        half_spread_bps: 1.0,
        start_ns: 1_754_141_400 * SEC,
        seed: 7,
    });
    evs.iter()
        .enumerate()
        .map(|(i, (ts, ev))| {
            let mut b = Vec::new();
            fix_bytes(*ts, i as u64 + 1, ev, &mut b);
            b
        })
        .collect()
}

/// xorshift64: the seeded kill points.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Sends `sig` to the appliance.
pub fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: signalling our own child process.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    assert_eq!(rc, 0);
}

/// Rows keyed by (lp, symbol, bucket).
type Rows = BTreeMap<(String, String, String), Vec<String>>;

/// CSV rows keyed by (lp, symbol, bucket), every column but `t_ns`.
fn csv_rows(text: &str) -> (Vec<String>, Rows) {
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split(',')
        .map(String::from)
        .collect();
    let mut rows = BTreeMap::new();
    for l in lines {
        let c: Vec<String> = l.split(',').map(String::from).collect();
        rows.insert((c[1].clone(), c[2].clone(), c[3].clone()), c[1..].to_vec());
    }
    (header, rows)
}

/// The live rows (`lpscore dump --format csv --buckets` of `board`) equal the rows of an
/// uninterrupted run, i.e. `lpscore replay --dump csv` of the journal `jdir` under `cfg`, on
/// every column but `t_ns`; every replay row with data is live. Returns the rows compared.
pub fn assert_live_equals_replay(board: &Path, cfg: &Path, jdir: &Path) -> usize {
    let live = Command::new(BIN)
        .args(["dump", "--scoreboard", board.to_str().unwrap()])
        .args(["--format", "csv", "--buckets"])
        .output()
        .unwrap();
    assert!(
        live.status.success(),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    let replay = Command::new(BIN)
        .args(["replay", "--config", cfg.to_str().unwrap(), "--dump", "csv"])
        .arg(jdir)
        .output()
        .unwrap();
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let live = String::from_utf8(live.stdout).unwrap();
    let replay = String::from_utf8(replay.stdout).unwrap();
    let (lh, lrows) = csv_rows(&live);
    let (rh, rrows) = csv_rows(&replay);
    assert_eq!(lh[1..], rh[1..lh.len()], "columns");
    assert!(lrows.len() > 50, "{live}");
    let mut compared = 0;
    for (k, lv) in &lrows {
        let rv = rrows
            .get(k)
            .unwrap_or_else(|| panic!("row {k:?} not in the replay"));
        assert_eq!(lv[..], rv[..lv.len()], "row {k:?}");
        compared += 1;
    }
    let with_data = rrows.values().filter(|r| r[4] != "0").count();
    assert!(
        compared >= with_data,
        "{compared} live rows, {with_data} replay rows with data"
    );
    compared
}
