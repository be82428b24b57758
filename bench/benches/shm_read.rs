//! Scoreboard reads (seqlock): one row uncontended, one row while a writer thread rewrites that same
//! row continuously, and a 16-LP snapshot. Baseline in the same run: copying 15 plain words.
//!
//! `cargo bench -p lpscore-bench --bench shm_read`

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use lpscore_shm::{
    BucketSlot, Capacities, FLAG_HAS_DATA, LpId, ScoreRow, Scoreboard, SymbolId, Writer,
    WriterOptions,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

struct Board {
    path: PathBuf,
}

impl Drop for Board {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let mut l = self.path.clone().into_os_string();
        l.push(".lock");
        let _ = std::fs::remove_file(l);
    }
}

fn setup(tag: &str) -> (Board, Writer, SymbolId, Vec<LpId>) {
    let path = std::env::temp_dir().join(format!("lpscore-bench-{tag}-{}", std::process::id()));
    let opts = WriterOptions {
        capacities: Capacities {
            max_lps: 16,
            max_symbols: 64,
            n_buckets: 4,
            max_profiles: 4,
        },
        ..Default::default()
    };
    let mut w = Writer::create(&path, &opts).expect("create scoreboard");
    let lps: Vec<LpId> = (0..16)
        .map(|i| w.add_lp(&format!("LP{i}")).unwrap())
        .collect();
    let sym = w.add_symbol("EURUSD").unwrap();
    for (i, &lp) in lps.iter().enumerate() {
        let row = ScoreRow {
            flags: FLAG_HAS_DATA,
            n_orders: i as u32,
            ..Default::default()
        };
        w.publish(sym, BucketSlot::All, lp, &row).unwrap();
    }
    (Board { path }, w, sym, lps)
}

fn reads(c: &mut Criterion) {
    let mut g = c.benchmark_group("shm_read");

    // Baseline: a plain copy of 15 words (what a read costs without the seqlock).
    let plain = [7u64; 15];
    g.bench_function("baseline_plain_copy_15_words", |b| {
        b.iter(|| black_box(*black_box(&plain)))
    });

    let (board, w, sym, lps) = setup("uncontended");
    let sb = Scoreboard::open(&board.path).unwrap();
    let lp = lps[3];
    g.bench_function("read_uncontended", |b| {
        b.iter(|| black_box(sb.read(black_box(sym), BucketSlot::All, black_box(lp))))
    });
    let mut rows = [ScoreRow::default(); 16];
    g.bench_function("snapshot_16_lps_uncontended", |b| {
        b.iter(|| black_box(sb.snapshot(sym, BucketSlot::All, black_box(&mut rows))))
    });
    g.bench_function("lookup_symbol_and_lp", |b| {
        b.iter(|| black_box((sb.symbol(black_box("EURUSD")), sb.lp(black_box("LP7")))))
    });
    drop(sb);
    drop(w);
    drop(board);

    // Contended: a writer thread rewrites the very row being read, as fast as it can.
    let (board, mut w, sym, lps) = setup("contended");
    let sb = Scoreboard::open(&board.path).unwrap();
    let lp = lps[3];
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let writer = std::thread::spawn(move || {
        let mut row = ScoreRow {
            flags: FLAG_HAS_DATA,
            ..Default::default()
        };
        let mut n = 0u64;
        while !s2.load(Ordering::Relaxed) {
            row.n_orders = row.n_orders.wrapping_add(1);
            w.publish(sym, BucketSlot::All, lp, &row).unwrap();
            n += 1;
        }
        n
    });
    g.bench_function("read_contended_same_row", |b| {
        b.iter(|| black_box(sb.read(black_box(sym), BucketSlot::All, black_box(lp))))
    });
    let mut rows = [ScoreRow::default(); 16];
    g.bench_function("snapshot_16_lps_contended", |b| {
        b.iter(|| black_box(sb.snapshot(sym, BucketSlot::All, black_box(&mut rows))))
    });
    stop.store(true, Ordering::Relaxed);
    let n = writer.join().unwrap();
    eprintln!("writer published {n} rows during the contended benches");
    g.finish();
    drop(board);
}

criterion_group!(benches, reads);
criterion_main!(benches);
