//! The C reader (`shm/include/lpscore.h`, `shm/examples/c/sor_reader.c`) against a live Rust
//! [`Writer`]: the example is compiled with `gcc -std=c11 -Wall -Wextra -Werror -O2` into the
//! test's temp dir and every field it prints is compared with what the writer published.
//!
//! gcc must be on `PATH` (CI installs it); without it these tests fail and say why.

use lpscore_shm::layout::LAYOUT_HASH;
use lpscore_shm::{
    BucketSlot, BucketUnit, Capacities, FLAG_HAS_DATA, FLAG_NO_PRICE, LpId, ProfileId, ScoreRow,
    SymbolId, SymbolSlot, Writer, WriterOptions,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;

/// Multiplier of the stress rows: word 1 = c, word i = c * STRESS_MUL + i (i = 2..=15, wrapping);
/// the same constant is in `sor_reader.c`.
const STRESS_MUL: u64 = 0x9E37_79B9_7F4A_7C15;

/// The stress row of counter `c`: word 0 = `c`, word `i` = `c * STRESS_MUL + i + 1` (wrapping).
fn stress_words(c: u64) -> [u64; 15] {
    let mut words = [0u64; 15];
    words[0] = c;
    for (i, x) in words.iter_mut().enumerate().skip(1) {
        *x = c.wrapping_mul(STRESS_MUL).wrapping_add(i as u64 + 1);
    }
    words
}

// ------------------------------------------------------------------------------------------------
// helpers
// ------------------------------------------------------------------------------------------------

static N: AtomicU32 = AtomicU32::new(0);

/// A unique directory under the temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("lpscore-creader-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn shm_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn require_gcc() {
    match Command::new("gcc").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "`gcc --version` failed ({}): the C reader tests need gcc (CI installs it: apt-get install gcc)",
            o.status
        ),
        Err(e) => panic!(
            "gcc not found ({e}): the C reader tests need gcc on PATH (CI installs it: apt-get install gcc)"
        ),
    }
}

/// Runs gcc with `args`; panics with its output unless it succeeds without any diagnostic.
fn gcc(args: &[&std::ffi::OsStr]) {
    require_gcc();
    let out = Command::new("gcc").args(args).output().expect("run gcc");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "gcc {args:?} failed:\n{stderr}");
    assert!(stderr.trim().is_empty(), "gcc {args:?} warned:\n{stderr}");
}

/// Compiles `shm/examples/c/sor_reader.c` into `dir` with the flags CI uses.
fn build_sor_reader(dir: &Path) -> PathBuf {
    let exe = dir.join("sor_reader");
    let inc = shm_dir().join("include");
    let src = shm_dir().join("examples/c/sor_reader.c");
    gcc(&[
        "-std=c11".as_ref(),
        "-Wall".as_ref(),
        "-Wextra".as_ref(),
        "-Werror".as_ref(),
        "-O2".as_ref(),
        "-I".as_ref(),
        inc.as_os_str(),
        src.as_os_str(),
        "-o".as_ref(),
        exe.as_os_str(),
    ]);
    exe
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run the C reader")
}

fn key_values(out: Output) -> HashMap<String, String> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sor_reader failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn get<'a>(kv: &'a HashMap<String, String>, k: &str) -> &'a str {
    kv.get(k)
        .unwrap_or_else(|| panic!("sor_reader printed no `{k}=` line; it printed {kv:?}"))
}

fn get_u64(kv: &HashMap<String, String>, k: &str) -> u64 {
    let v = get(kv, k);
    v.parse()
        .unwrap_or_else(|_| panic!("`{k}={v}` is not an integer"))
}

/// Checks that `k` holds exactly the f32 `want` (printed with %.9g, which round-trips binary32).
fn assert_f32(kv: &HashMap<String, String>, k: &str, want: f32) {
    let v = get(kv, k);
    let got: f32 = v
        .parse()
        .unwrap_or_else(|_| panic!("`{k}={v}` is not a float"));
    if want.is_nan() {
        assert!(got.is_nan(), "{k}: got {v}, want NaN");
    } else {
        assert_eq!(got.to_bits(), want.to_bits(), "{k}: got {v}, want {want:?}");
    }
}

fn hex_hash(h: u64) -> String {
    format!("0x{h:016x}")
}

/// The header word `layout_hash` of the file, read from its bytes.
fn file_hash(path: &Path) -> u64 {
    let bytes = std::fs::read(path).expect("read the scoreboard file");
    u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"))
}

/// The `#define LPSCORE_LAYOUT_HASH 0x...ULL` of the header.
fn c_header_hash() -> u64 {
    let text =
        std::fs::read_to_string(shm_dir().join("include/lpscore.h")).expect("read lpscore.h");
    let line = text
        .lines()
        .find(|l| l.starts_with("#define LPSCORE_LAYOUT_HASH "))
        .expect("lpscore.h defines LPSCORE_LAYOUT_HASH");
    let v = line
        .split_whitespace()
        .nth(2)
        .expect("a value")
        .trim_end_matches("ULL");
    u64::from_str_radix(v.trim_start_matches("0x"), 16).expect("hex constant")
}

fn opts() -> WriterOptions {
    WriterOptions {
        capacities: Capacities {
            max_lps: 8,
            max_symbols: 4,
            n_buckets: 3,
            max_profiles: 3,
        },
        bucket_unit: BucketUnit::Shares,
        bucket_upper: [
            1_000,
            25_000,
            u64::MAX,
            u64::MAX,
            u64::MAX,
            u64::MAX,
            u64::MAX,
            u64::MAX,
        ],
        score_horizon_ns: 5_000_000_000,
        ..Default::default()
    }
}

/// A row where every field has a distinct, non-round value derived from `k`.
fn known_row(k: u32, score0: f32) -> ScoreRow {
    let f = k as f32;
    ScoreRow {
        publish_ns: 1_763_700_000_000_000_000 + u64::from(k) * 1_000_003,
        eff_orders: 120.25 + f,
        eff_fills: 99.125 + f,
        fill_rate: 0.1 + f / 100.0,
        reject_rate: 0.0123 + f / 1000.0,
        pi_bps: 0.37 + f,
        es_bps: -1.83 - f,
        impact_bps: 2.71 + f,
        markout_bps: -0.577 - f,
        ack_p50_ns: 41_000 + k,
        ack_p99_ns: 4_000_000_000 + k,
        fill_p50_ns: 87_000 + k,
        flags: FLAG_HAS_DATA | if k % 2 == 1 { FLAG_NO_PRICE } else { 0 },
        scores: [
            score0,
            33.3 + f,
            f32::NAN,
            1.5 + f,
            2.5 + f,
            3.5 + f,
            4.5 + f,
            5.5 + f,
        ],
        pi_rate: 0.4 + f / 100.0,
        eq_ratio: 0.91 + f / 10.0,
        cancel_reject_rate: 0.003 + f / 1000.0,
        realized_spread_bps: 0.77 + f,
        n_orders: 1_000 + k,
        n_fills: 900 + k,
        n_price_skipped: 7 + k,
    }
}

/// The row the background writer keeps publishing: every field derives from the counter `c`.
fn moving_row(c: u32) -> ScoreRow {
    ScoreRow {
        publish_ns: u64::from(c) * 1_000,
        n_orders: c,
        n_fills: c / 2,
        n_price_skipped: c % 7,
        ack_p50_ns: c.wrapping_mul(3),
        flags: FLAG_HAS_DATA,
        ..Default::default()
    }
}

fn check_row(kv: &HashMap<String, String>, r: &ScoreRow) {
    assert_eq!(get_u64(kv, "publish_ns"), r.publish_ns);
    assert_f32(kv, "eff_orders", r.eff_orders);
    assert_f32(kv, "eff_fills", r.eff_fills);
    assert_f32(kv, "fill_rate", r.fill_rate);
    assert_f32(kv, "reject_rate", r.reject_rate);
    assert_f32(kv, "pi_bps", r.pi_bps);
    assert_f32(kv, "es_bps", r.es_bps);
    assert_f32(kv, "impact_bps", r.impact_bps);
    assert_f32(kv, "markout_bps", r.markout_bps);
    assert_eq!(get_u64(kv, "ack_p50_ns"), u64::from(r.ack_p50_ns));
    assert_eq!(get_u64(kv, "ack_p99_ns"), u64::from(r.ack_p99_ns));
    assert_eq!(get_u64(kv, "fill_p50_ns"), u64::from(r.fill_p50_ns));
    assert_eq!(get_u64(kv, "flags"), u64::from(r.flags));
    for (p, s) in r.scores.iter().enumerate() {
        assert_f32(kv, &format!("score{p}"), *s);
    }
    assert_f32(kv, "pi_rate", r.pi_rate);
    assert_f32(kv, "eq_ratio", r.eq_ratio);
    assert_f32(kv, "cancel_reject_rate", r.cancel_reject_rate);
    assert_f32(kv, "realized_spread_bps", r.realized_spread_bps);
    assert_eq!(get_u64(kv, "n_orders"), u64::from(r.n_orders));
    assert_eq!(get_u64(kv, "n_fills"), u64::from(r.n_fills));
    assert_eq!(get_u64(kv, "n_price_skipped"), u64::from(r.n_price_skipped));
    let seq = get_u64(kv, "seq");
    assert!(seq > 0 && seq % 2 == 0, "seq {seq} must be even and > 0");
}

/// A writer thread that keeps publishing `moving_row(c)` into one row (and heartbeats) until
/// stopped; gives the writer back.
struct Background {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Writer>>,
}

impl Background {
    fn start(mut w: Writer, symbol: SymbolSlot, bucket: BucketSlot, lp: LpId) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut c = 0u32;
            // Relaxed: a plain stop flag, no data is passed through it.
            while !s.load(Ordering::Relaxed) {
                c = c.wrapping_add(1);
                w.publish(symbol, bucket, lp, &moving_row(c))
                    .expect("publish");
                if c % 1024 == 0 {
                    w.heartbeat();
                    std::thread::yield_now();
                }
            }
            w
        });
        Background {
            stop,
            handle: Some(handle),
        }
    }

    fn finish(mut self) -> Writer {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .expect("joined once")
            .join()
            .expect("writer thread")
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

// ------------------------------------------------------------------------------------------------
// tests
// ------------------------------------------------------------------------------------------------

#[test]
fn c_reader_prints_every_field_while_the_writer_runs() {
    let dir = TempDir::new("fields");
    let exe = build_sor_reader(&dir.0);
    let path = dir.0.join("board");
    let mut w = Writer::create(&path, &opts()).expect("create writer");
    let lps: Vec<LpId> = ["LP_ALPHA", "LP_BETA", "LP_GAMMA", "LP_DELTA_16BYTES"]
        .iter()
        .map(|n| w.add_lp(n).expect("add_lp"))
        .collect();
    let syms: Vec<SymbolId> = ["EURUSD", "USDJPY", "XAUUSD"]
        .iter()
        .map(|n| w.add_symbol(n).expect("add_symbol"))
        .collect();
    w.set_profile(ProfileId::new(0), "balanced", [1.0; 8], true)
        .expect("profile 0");
    w.set_profile(ProfileId::new(1), "passive", [0.5; 8], true)
        .expect("profile 1");
    w.set_profile(ProfileId::new(2), "off", [0.0; 8], false)
        .expect("profile 2");

    // USDJPY bucket 1: four LPs with known rows; score[0] decides the ranking (GAMMA, ALPHA,
    // DELTA; BETA is paused, so it is left out of the ranking).
    let usdjpy = syms[1];
    let b1 = BucketSlot::Bucket(1);
    let score0 = [71.5f32, 88.25, 90.0, 12.75];
    let rows: Vec<ScoreRow> = (0..4)
        .map(|i| known_row(i as u32 + 10, score0[i]))
        .collect();
    w.set_lp_paused(lps[1], true).expect("pause");
    for (i, r) in rows.iter().enumerate() {
        w.publish(usdjpy, b1, lps[i], r).expect("publish");
    }
    let mut beta_row = rows[1];
    beta_row.flags |= lpscore_shm::FLAG_LP_PAUSED;
    w.set_lp_paused(lps[1], false).expect("unpause");
    // All symbols, all sizes for LP_ALPHA.
    let alpha_all = known_row(3, 55.0);
    w.publish(SymbolSlot::All, BucketSlot::All, lps[0], &alpha_all)
        .expect("publish all");
    w.heartbeat();
    let beta_idx = w.row_index(usdjpy, b1, lps[1]).expect("row index");
    let alpha_all_idx = w
        .row_index(SymbolSlot::All, BucketSlot::All, lps[0])
        .expect("row index");

    // From now on a writer thread keeps updating (EURUSD, all sizes, LP_GAMMA).
    let bg = Background::start(w, syms[0].into(), BucketSlot::All, lps[2]);

    // 1. LP_BETA on USDJPY bucket 1, ranked by profile 0.
    let kv = key_values(run(Command::new(&exe)
        .arg(&path)
        .args(["LP_BETA", "USDJPY", "1", "0"])));
    assert_eq!(get(&kv, "layout_hash"), hex_hash(LAYOUT_HASH));
    assert_eq!(get(&kv, "file_layout_hash"), hex_hash(LAYOUT_HASH));
    assert_eq!(get_u64(&kv, "max_lps"), 8);
    assert_eq!(get_u64(&kv, "max_symbols"), 4);
    assert_eq!(get_u64(&kv, "n_buckets"), 3);
    assert_eq!(get_u64(&kv, "max_profiles"), 3);
    assert_eq!(get_u64(&kv, "n_lps"), 4);
    assert_eq!(get_u64(&kv, "n_symbols"), 3);
    assert_eq!(get_u64(&kv, "n_profiles"), 3);
    assert_eq!(get_u64(&kv, "lp_index"), lps[1].index() as u64);
    assert_eq!(get_u64(&kv, "symbol_slot"), usdjpy.index() as u64);
    assert_eq!(get(&kv, "bucket"), "1");
    assert_eq!(get_u64(&kv, "row_index"), beta_idx as u64);
    check_row(&kv, &beta_row);
    // A row at rest: its sequence word alone equals the seqlock copy's.
    assert_eq!(get_u64(&kv, "row_seq"), get_u64(&kv, "seq"));
    assert_eq!(get_u64(&kv, "row_seq"), 2);
    assert_eq!(get_u64(&kv, "rank_count"), 3);
    assert_eq!(get(&kv, "rank0"), "LP_GAMMA:90");
    assert_eq!(get(&kv, "rank1"), "LP_ALPHA:71.5");
    assert_eq!(get(&kv, "rank2"), "LP_DELTA_16BYTES:12.75");
    let live = get(&kv, "liveness");
    assert!(live == "live" || live == "stale", "liveness {live}");

    // 2. Ranked by profile 1 (33.3 + k: DELTA has the largest k).
    let kv = key_values(run(Command::new(&exe).arg(&path).args([
        "LP_DELTA_16BYTES",
        "USDJPY",
        "1",
        "1",
    ])));
    check_row(&kv, &rows[3]);
    let order: Vec<&str> = (0..3)
        .map(|i| {
            get(&kv, &format!("rank{i}"))
                .split(':')
                .next()
                .unwrap_or("")
        })
        .collect();
    assert_eq!(order, ["LP_DELTA_16BYTES", "LP_GAMMA", "LP_ALPHA"]);

    // 3. All symbols ("*"), all sizes.
    let kv = key_values(run(Command::new(&exe)
        .arg(&path)
        .args(["LP_ALPHA", "*", "all"])));
    assert_eq!(get(&kv, "bucket"), "all");
    assert_eq!(get_u64(&kv, "row_index"), alpha_all_idx as u64);
    check_row(&kv, &alpha_all);

    // 4. The row being updated: a consistent copy, every field from one counter.
    for _ in 0..5 {
        let kv = key_values(run(Command::new(&exe)
            .arg(&path)
            .args(["LP_GAMMA", "EURUSD", "all"])));
        let c = get_u64(&kv, "n_orders") as u32;
        check_row(&kv, &moving_row(c));
    }

    // 5. Unknown names are errors, not crashes.
    let out = run(Command::new(&exe).arg(&path).args(["LP_NOPE", "USDJPY"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));

    let mut w = bg.finish();
    w.stop();
    let kv = key_values(run(Command::new(&exe)
        .arg(&path)
        .args(["LP_ALPHA", "USDJPY", "1"])));
    assert_eq!(get(&kv, "liveness"), "stopped");
    drop(w);
}

#[test]
fn layout_hash_of_c_equals_rust_and_the_file() {
    let dir = TempDir::new("hash");
    let path = dir.0.join("board");
    let w = Writer::create(&path, &opts()).expect("create writer");
    assert_eq!(
        c_header_hash(),
        LAYOUT_HASH,
        "lpscore.h LPSCORE_LAYOUT_HASH"
    );
    assert_eq!(file_hash(&path), LAYOUT_HASH, "the file's layout_hash");
    drop(w);
}

#[test]
fn c_reader_refuses_a_foreign_layout() {
    let dir = TempDir::new("refuse");
    let exe = build_sor_reader(&dir.0);
    let path = dir.0.join("board");
    let mut w = Writer::create(&path, &opts()).expect("create writer");
    w.add_lp("LP_A").expect("add_lp");
    w.add_symbol("EURUSD").expect("add_symbol");
    let good = std::fs::read(&path).expect("read");
    let cases: [(usize, &str); 3] = [
        (16, "layout hash"),  // layout_hash
        (0, "wrong magic"),   // magic
        (8, "major version"), // version
    ];
    for (off, msg) in cases {
        let mut bad = good.clone();
        bad[off] ^= 0x5a;
        let p = dir.0.join(format!("bad-{off}"));
        std::fs::write(&p, &bad).expect("write");
        let out = run(Command::new(&exe).arg(&p).args(["LP_A", "EURUSD"]));
        assert_eq!(out.status.code(), Some(1), "byte {off} corrupted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(msg), "byte {off}: stderr {err}");
    }
    let short = dir.0.join("short");
    std::fs::write(&short, &good[..good.len() - 128]).expect("write");
    let out = run(Command::new(&exe).arg(&short).args(["LP_A", "EURUSD"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shorter"));
    drop(w);
}

/// Every function of the header, compiled with `-Wpedantic` as C11 and C99.
#[test]
fn header_compiles_pedantic() {
    let dir = TempDir::new("pedantic");
    let src = dir.0.join("all_api.c");
    std::fs::write(
        &src,
        r#"#include "lpscore.h"
#include <stdio.h>

int use_everything(const char *path);
int use_everything(const char *path) {
    lpscore_board b;
    lpscore_row row;
    lpscore_row rows[16];
    lpscore_rank_entry rank[16];
    lpscore_profile_info prof;
    lpscore_liveness live;
    uint64_t words[16];
    char name[LPSCORE_NAME_MAX + 1];
    uint32_t flags = 0;
    int32_t lp, sym;
    int rc = lpscore_open_timeout(path, &b, 10);
    if (rc != LPSCORE_OK) rc = lpscore_open(path, &b);
    if (rc != LPSCORE_OK) { puts(lpscore_strerror(rc)); return rc; }
    lp = lpscore_lp(&b, "LP");
    sym = lpscore_symbol(&b, "SYM");
    if (lp < 0 || sym < 0) { lpscore_close(&b); return LPSCORE_ERR_NOT_FOUND; }
    rc = lpscore_read(&b, (uint32_t)sym, LPSCORE_ALL_BUCKETS, (uint32_t)lp, &row);
    if (rc == LPSCORE_OK) rc = (int)(row.flags & LPSCORE_ROW_HAS_DATA);
    if (lpscore_read_words(&b, (uint64_t)lpscore_row_index(&b, LPSCORE_ALL_SYMBOLS, 0, 0), words) == LPSCORE_OK)
        rc += (int)(words[1] & 1u);
    if (lpscore_row_seq(&b, 0, &words[0]) == LPSCORE_OK) rc += (int)(words[0] & 1u);
    rc += lpscore_snapshot(&b, (uint32_t)sym, 0, rows, 16);
    rc += lpscore_rank(&b, (uint32_t)sym, 0, 0, rank, 16);
    rc += lpscore_profile(&b, 0, &prof);
    rc += lpscore_lp_name(&b, 0, name, &flags);
    rc += lpscore_symbol_name(&b, 0, name);
    rc += (int)lpscore_n_lps(&b) + (int)lpscore_n_symbols(&b) + (int)lpscore_n_profiles(&b);
    rc += lpscore_staleness(&b, 0, &live);
    puts(lpscore_liveness_str(live.kind));
    rc += (int)(lpscore_header_word(&b, LPSCORE_H_PUBLISH_COUNT) & 1u);
    rc += (int)(lpscore_fnv1a64("x", 1) & 1u);
    rc += lpscore_revalidate(&b);
    lpscore_close(&b);
    return rc;
}
"#,
    )
    .expect("write C source");
    let inc = shm_dir().join("include");
    for std in ["-std=c11", "-std=c99"] {
        let obj = dir.0.join(format!("all_api{std}.o"));
        gcc(&[
            std.as_ref(),
            "-Wall".as_ref(),
            "-Wextra".as_ref(),
            "-Werror".as_ref(),
            "-Wpedantic".as_ref(),
            "-O2".as_ref(),
            "-I".as_ref(),
            inc.as_os_str(),
            "-c".as_ref(),
            src.as_os_str(),
            "-o".as_ref(),
            obj.as_os_str(),
        ]);
    }

    // Included after a system header without a feature-test macro, the header says what to do.
    let late = dir.0.join("late.c");
    std::fs::write(
        &late,
        "#include <stdio.h>\n#include \"lpscore.h\"\nint f(void);\nint f(void) { return 0; }\n",
    )
    .expect("write C source");
    let out = Command::new("gcc")
        .args(["-std=c11", "-I"])
        .arg(&inc)
        .arg("-c")
        .arg(&late)
        .arg("-o")
        .arg(dir.0.join("late.o"))
        .output()
        .expect("run gcc");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("_POSIX_C_SOURCE 200809L"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Many C reads of a row the writer rewrites as fast as it can, every word derived from one
/// counter: zero torn reads.
#[test]
fn c_stress_zero_torn_reads() {
    let dir = TempDir::new("stress");
    let exe = build_sor_reader(&dir.0);
    let path = dir.0.join("board");
    let mut w = Writer::create(&path, &opts()).expect("create writer");
    let lp = w.add_lp("LP_HOT").expect("add_lp");
    let sym = w.add_symbol("EURUSD").expect("add_symbol");
    let idx = w
        .row_index(sym, BucketSlot::Bucket(0), lp)
        .expect("row index");
    // The row's first value is published before the reader starts: a never-published row
    // (all zero) is not a stress row, and a reader that started before the writer thread's
    // first publication counted it as torn (seen on a loaded 2-vCPU host).
    let mut c = 1u64;
    w.publish_words(idx, &stress_words(c))
        .expect("publish_words");
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let writer = std::thread::spawn(move || {
        // Relaxed: a plain stop flag.
        while !s.load(Ordering::Relaxed) {
            c += 1;
            w.publish_words(idx, &stress_words(c))
                .expect("publish_words");
        }
        (w, c)
    });
    let out =
        run(Command::new(&exe)
            .arg(&path)
            .args(["--stress", &idx.to_string(), "2000000", "20000"]));
    stop.store(true, Ordering::Relaxed);
    let (w, updates) = writer.join().expect("writer thread");
    let kv = key_values(out);
    assert_eq!(get_u64(&kv, "torn"), 0, "torn reads: {kv:?}");
    assert!(get_u64(&kv, "reads") >= 2_000_000, "{kv:?}");
    println!(
        "C stress: {} reads, {} torn, {} busy, {} changes seen, {updates} writer updates",
        get(&kv, "reads"),
        get(&kv, "torn"),
        get(&kv, "busy"),
        get(&kv, "changes")
    );
    drop(w);
}
