//! Journal durability cost per policy (none, group commit, fdatasync per record) on the disk
//! that holds the temp directory (or `LPSCORE_JOURNAL_DIR`), with the `write(2)` backend and
//! again with the io_uring backend.
//!
//! For each policy:
//! * **latency** (open loop): records of ~250 bytes offered at a fixed rate (default 2000/s) by
//!   one thread, which also watches the durable watermark (sleeping 20 us between checks, so
//!   figures carry up to ~0.1 ms of detection error). `push` = the hot thread's cost of
//!   `append` (ring hand-off); `durable` = append -> the watermark covers the record (what a
//!   session layer waiting to advance its sequence number sees). p50/p99 of each.
//! * **throughput** (closed loop): records appended as fast as the ring takes them, timed until
//!   the last one is durable: records/s.
//!
//! Usage: `journal_fsync [latency_records] [rate_per_s] [throughput_records]`. Ends with one JSON
//! line `{"bench":"journal_fsync","none_p99_ns":..,"group_p99_ns":..,"per_record_p99_ns":..,...}`
//! (the `*_p99_ns` figures are the durable latency).
#![allow(clippy::disallowed_methods)] // a harness measures wall time with Instant::now
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use lpscore::journal::{AppendError, Backend, DurabilityKind, JournalConfig, Record, start};

struct Result {
    name: &'static str,
    push_p50: u64,
    push_p99: u64,
    dur_p50: u64,
    dur_p99: u64,
    dur_max: u64,
    records_per_s: f64,
    syncs_lat: u64,
}

fn message(i: u64) -> Vec<u8> {
    let mut m = format!(
        "8=FIX.4.4\x019=200\x0135=8\x0149=LP07\x0156=SOR\x0134={i}\x0152=20250802-13:30:00.123456789\x01\
         37=O{i}\x0111=C{i}\x0117=E{i}\x01150=F\x0139=1\x0155=S0123\x0154=1\x01151=0\x0114=100\x0132=100\x0131=101.25\x01"
    )
    .into_bytes();
    m.resize(240, b'x');
    m.extend_from_slice(b"\x0110=000\x01");
    m
}

fn cfg(dir: &Path, d: DurabilityKind, backend: Backend) -> JournalConfig {
    JournalConfig {
        dir: dir.to_path_buf(),
        durability: d,
        group_commit_us: 2_000,
        segment_bytes: 64 << 20,
        ring_bytes: 8 << 20,
        backend,
        ..JournalConfig::default()
    }
}

fn run(
    base: &Path,
    name: &'static str,
    d: DurabilityKind,
    backend: Backend,
    n_lat: u64,
    rate: u64,
    n_tp: u64,
) -> Result {
    let dir = base.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let (mut prod, handle) = start(&cfg(&dir, d, backend)).expect("journal");
    let wm = handle.watermarks();
    let msg = message(1);
    let mut push = Histogram::<u64>::new(3).expect("histogram");
    let mut dur = Histogram::<u64>::new(3).expect("histogram");
    // Latency, open loop.
    let gap = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let mut sent_at: Vec<Instant> = Vec::with_capacity(n_lat as usize);
    let mut acked = 0u64;
    let t0 = Instant::now();
    let mut next = t0;
    while acked < n_lat {
        let now = Instant::now();
        if (sent_at.len() as u64) < n_lat && now >= next {
            let seq = sent_at.len() as u64 + 1;
            let rec = Record {
                ts_ns: seq,
                session: 0,
                seq,
                bytes: &msg,
            };
            let a = Instant::now();
            match prod.append(&rec) {
                Ok(()) => {}
                Err(e) => panic!("append: {e}"),
            }
            let _ = push.record(a.elapsed().as_nanos() as u64);
            sent_at.push(a);
            next += gap;
        }
        let w = wm.durable(0);
        while acked < w {
            let _ = dur.record(sent_at[acked as usize].elapsed().as_nanos() as u64);
            acked += 1;
        }
        // Sleep rather than spin: on a 2-core host a spinning producer steals the journal
        // thread's core. The watermark is checked at least every ~20-80 us (timer slack), which
        // bounds the measurement error of the durable latency.
        std::thread::sleep(Duration::from_micros(20));
    }
    let syncs_lat = handle.stats().syncs;
    // Throughput, closed loop, on session 1.
    let t = Instant::now();
    for seq in 1..=n_tp {
        let rec = Record {
            ts_ns: seq,
            session: 1,
            seq,
            bytes: &msg,
        };
        loop {
            match prod.append(&rec) {
                Ok(()) => break,
                Err(AppendError::RingFull { .. } | AppendError::SessionStalled { .. }) => {
                    prod.resume(1);
                    std::thread::sleep(Duration::from_micros(20));
                }
                Err(e) => panic!("append: {e}"),
            }
        }
    }
    while wm.durable(1) < n_tp {
        std::thread::sleep(Duration::from_micros(20));
    }
    let records_per_s = n_tp as f64 / t.elapsed().as_secs_f64();
    handle.shutdown().expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
    Result {
        name,
        push_p50: push.value_at_quantile(0.5),
        push_p99: push.value_at_quantile(0.99),
        dur_p50: dur.value_at_quantile(0.5),
        dur_p99: dur.value_at_quantile(0.99),
        dur_max: dur.max(),
        records_per_s,
        syncs_lat,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n_lat: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let rate: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let n_tp: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let base = std::env::var_os("LPSCORE_JOURNAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("lpscore-bench-fsync-{}", std::process::id()));
    std::fs::create_dir_all(&base).expect("dir");
    println!(
        "journal dir {}; {n_lat} records at {rate}/s for latency, {n_tp} for throughput (per_record: a quarter at a tenth of the rate, {} for throughput)",
        base.display(),
        (n_tp / 50).max(500)
    );
    let w = Backend::Write;
    let u = Backend::Uring;
    let (pl, pr, pt) = (
        (n_lat / 4).max(100),
        (rate / 10).max(1),
        (n_tp / 50).max(500),
    );
    // One fdatasync per record cannot keep up with the others' rate on most disks (the queue
    // would grow without bound): per_record is offered a tenth of it, and the JSON says so.
    let res = [
        run(&base, "none", DurabilityKind::None, w, n_lat, rate, n_tp),
        run(&base, "group", DurabilityKind::Group, w, n_lat, rate, n_tp),
        run(
            &base,
            "per_record",
            DurabilityKind::PerRecord,
            w,
            pl,
            pr,
            pt,
        ),
    ];
    // The io_uring backend (WRITE_FIXED + FSYNC DATASYNC), same loads.
    let uring = [
        run(
            &base,
            "uring_none",
            DurabilityKind::None,
            u,
            n_lat,
            rate,
            n_tp,
        ),
        run(
            &base,
            "uring_group",
            DurabilityKind::Group,
            u,
            n_lat,
            rate,
            n_tp,
        ),
        run(
            &base,
            "uring_per_record",
            DurabilityKind::PerRecord,
            u,
            pl,
            pr,
            pt,
        ),
    ];
    let _ = std::fs::remove_dir_all(&base);
    for r in res.iter().chain(&uring) {
        println!(
            "{:<16} push p50 {:>6} ns p99 {:>6} ns | durable p50 {:>9} ns p99 {:>9} ns max {:>9} ns | {:>10.0} records/s | {} syncs in the latency phase",
            r.name,
            r.push_p50,
            r.push_p99,
            r.dur_p50,
            r.dur_p99,
            r.dur_max,
            r.records_per_s,
            r.syncs_lat
        );
    }
    let [a, b, c] = &res;
    let [ua, ub, uc] = &uring;
    println!(
        "{{\"bench\":\"journal_fsync\",\"none_p99_ns\":{},\"group_p99_ns\":{},\"per_record_p99_ns\":{},\"none_p50_ns\":{},\"group_p50_ns\":{},\"per_record_p50_ns\":{},\"push_p99_ns\":{},\"none_records_per_s\":{:.0},\"group_records_per_s\":{:.0},\"per_record_records_per_s\":{:.0},\"uring_none_p99_ns\":{},\"uring_group_p99_ns\":{},\"uring_per_record_p99_ns\":{},\"uring_none_records_per_s\":{:.0},\"uring_group_records_per_s\":{:.0},\"uring_per_record_records_per_s\":{:.0},\"group_commit_us\":2000,\"rate_per_s\":{rate},\"per_record_rate_per_s\":{}}}",
        a.dur_p99,
        b.dur_p99,
        c.dur_p99,
        a.dur_p50,
        b.dur_p50,
        c.dur_p50,
        a.push_p99.max(b.push_p99).max(c.push_p99),
        a.records_per_s,
        b.records_per_s,
        c.records_per_s,
        ua.dur_p99,
        ub.dur_p99,
        uc.dur_p99,
        ua.records_per_s,
        ub.records_per_s,
        uc.records_per_s,
        pr
    );
}
