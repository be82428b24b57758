//! Cross-process seqlock stress: a writer process rewrites 4 contiguous rows as fast as it can, every
//! word derived from one counter (`word[i] = counter * K[i]`); a reader process (another core)
//! validates every read. A torn read (words from two different writes) breaks the relation.
//! The test re-executes its own binary with `LPSCORE_ROLE=writer|reader`.

mod common;

use common::{TempBoard, child, role};
use lpscore_shm::{
    BucketSlot, Capacities, ReadError, ScoreRow, Scoreboard, SymbolId, Writer, WriterOptions,
};
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const TEST: &str = "cross_process_seqlock_stress";
const ROWS: u64 = 4;
const TARGET_READS: u64 = 10_000_000;

/// Odd multipliers: every word differs for every counter value, and `K[0] = 1` names the counter.
const K: [u64; 15] = [
    1,
    0x9E37_79B9_7F4A_7C15,
    0xC2B2_AE3D_27D4_EB4F,
    0x1656_67B1_9E37_79F9,
    0x85EB_CA77_C2B2_AE63,
    0x27D4_EB2F_1656_67C5,
    0xFF51_AFD7_ED55_8CCD,
    0xC4CE_B9FE_1A85_EC53,
    0x8CB9_2BA7_2F3D_8DD7,
    0xD6E8_FEB8_6659_FD93,
    0xA076_1D64_78BD_642F,
    0xE703_7ED1_A0B4_28DB,
    0x8EBC_6AF0_9C88_C6E3,
    0x5899_65CC_7537_4CC3,
    0x1D8E_4E27_C47D_124F,
];

fn words(c: u64) -> [u64; 15] {
    let mut w = [0u64; 15];
    for (x, k) in w.iter_mut().zip(K) {
        *x = c.wrapping_mul(k);
    }
    w
}

/// `full = false` for rows decoded through `ScoreRow`, which drops the reserved upper half of
/// word 15.
fn consistent(w: &[u64; 15], full: bool) -> bool {
    let mut want = words(w[0]);
    if !full {
        want[14] &= 0xFFFF_FFFF;
    }
    *w == want
}

fn opts() -> WriterOptions {
    WriterOptions {
        capacities: Capacities {
            max_lps: ROWS as u32,
            max_symbols: 1,
            n_buckets: 1,
            max_profiles: 1,
        },
        ..Default::default()
    }
}

fn writer_main(path: &std::path::Path) {
    let mut w = Writer::create(path, &opts()).expect("create");
    for l in 0..ROWS {
        w.add_lp(&format!("LP{l}")).unwrap();
    }
    w.add_symbol("SYM").unwrap();
    w.heartbeat();
    // Stop when the parent closes our stdin.
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while matches!(std::io::stdin().read(&mut buf), Ok(n) if n > 0) {}
        s2.store(true, Ordering::Relaxed);
    });
    println!("STRESS-WRITER-READY");
    let mut c: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..1024 {
            c += 1;
            // Row c % 4 (rows 0..4 = symbol 0, bucket 0, LPs 0..4) gets counter c.
            w.publish_words((c % ROWS) as usize, &words(c)).unwrap();
        }
    }
    println!("STRESS-WRITER publishes={c}");
}

fn reader_main(path: &std::path::Path) {
    let sb = Scoreboard::open_with_timeout(path, Duration::from_secs(30)).expect("open");
    let pc0 = sb.publish_count();
    let (mut reads, mut torn, mut busy, mut changes) = (0u64, 0u64, 0u64, 0u64);
    let mut last = [0u64; ROWS as usize];
    let mut snap = [ScoreRow::default(); ROWS as usize];
    let mut check = |r: usize, w: &[u64; 15], full: bool, reads: &mut u64, torn: &mut u64| {
        *reads += 1;
        let c = w[0];
        if !consistent(w, full) || (c != 0 && c % ROWS != r as u64) || c < last[r] {
            *torn += 1;
            if *torn < 5 {
                eprintln!("BAD row {r} (last counter {}): {w:x?}", last[r]);
            }
        }
        if c != last[r] {
            changes += 1;
            last[r] = c;
        }
    };
    let mut i = 0u64;
    // (Bounded: if the writer vanished mid-write every read would stay Busy.)
    while reads < TARGET_READS && busy < TARGET_READS {
        i += 1;
        if i % 64 == 0 {
            // A snapshot: the LPs of one (symbol, bucket) are contiguous rows.
            match sb.snapshot(SymbolId::new(0), BucketSlot::Bucket(0), &mut snap) {
                Ok(n) => {
                    assert_eq!(n, ROWS as usize);
                    for (r, row) in snap.iter().enumerate() {
                        check(r, &row.to_words(), false, &mut reads, &mut torn);
                    }
                }
                Err(ReadError::Busy) => busy += 1,
                Err(e) => panic!("{e}"),
            }
        } else {
            let r = (i % ROWS) as usize;
            match sb.read_words(r) {
                Ok(w) => check(r, &w, true, &mut reads, &mut torn),
                Err(ReadError::Busy) => busy += 1,
                Err(e) => panic!("{e}"),
            }
        }
    }
    let pc1 = sb.publish_count();
    println!(
        "STRESS-READER reads={reads} torn={torn} busy={busy} changes={changes} writer_publishes_during_reads={}",
        pc1 - pc0
    );
}

fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

#[test]
fn cross_process_seqlock_stress() {
    if let Some((r, path)) = role() {
        match r.as_str() {
            "writer" => writer_main(&path),
            "reader" => reader_main(&path),
            _ => {}
        }
        return;
    }
    let board = TempBoard::new("stress");
    let mut writer = child(TEST, "writer", &board.path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut wout = BufReader::new(writer.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("STRESS-WRITER-READY") {
        line.clear();
        assert!(wout.read_line(&mut line).unwrap() > 0, "writer died");
    }
    let reader = child(TEST, "reader", &board.path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let rout = reader.wait_with_output().unwrap();
    drop(writer.stdin.take()); // stop the writer
    let mut wrest = String::new();
    wout.read_to_string(&mut wrest).unwrap();
    assert!(writer.wait().unwrap().success());
    let rtext = String::from_utf8_lossy(&rout.stdout);
    assert!(rout.status.success(), "reader failed: {rtext}");
    // (libtest prints "test name ... " before the test's own output, on the same line.)
    let rl = &rtext[rtext.find("STRESS-READER").expect("reader line")..];
    let rl = rl.lines().next().unwrap();
    let wl = &wrest[wrest.find("STRESS-WRITER publishes").expect("writer line")..];
    let wl = wl.lines().next().unwrap();
    println!("{rl}\n{wl}");
    assert!(field(rl, "reads") >= TARGET_READS);
    assert_eq!(field(rl, "torn"), 0, "torn reads");
    // The writer made progress while the reader read: it saw rows change, and the publish count
    // moved between the reader's first and last read.
    assert!(field(rl, "changes") > 0);
    assert!(field(rl, "writer_publishes_during_reads") > 0);
    assert!(field(wl, "publishes") > 0);
}
