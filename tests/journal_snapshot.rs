//! Engine snapshots: restoring a snapshot and replaying the journal after it gives the same
//! engine (state bytes, rows bit for bit, counters) as replaying the whole journal, for random
//! streams and random snapshot points; the recovered state handed to a live engine continues
//! identically; command records replay live weight changes; corrupted, truncated, foreign,
//! future-version and wrong-configuration snapshots are skipped with an error naming them, and
//! recovery falls back to an older snapshot or to the journal's start.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lpscore::engine::synth::{LpTruth, SynthConfig, fix_bytes, generate};
use lpscore::engine::{Command, Engine, EngineConfig, FixFeed};
use lpscore::journal::codec::Enc;
use lpscore::journal::replay::{LatestSink, Replayer};
use lpscore::journal::snapshot::{
    Follower, SnapshotPolicy, list_snapshots, recover_engine, snapshot_dir,
};
use lpscore::journal::{
    AppendError, DurabilityKind, JournalConfig, JournalProducer, Record, start,
};
use lpscore::publish::{BitsEq, MemorySink};

const SEC: u64 = 1_000_000_000;

fn tmp(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("lpscore-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// A journal entry to write.
#[derive(Clone)]
enum In {
    Msg(u64, u32, Vec<u8>),
    Tick(u64),
    Cmd(u64, Command),
}

/// A random stream: synthetic orders, executions and quotes on two sessions, a tick every few
/// messages, and a few weight changes and pauses.
fn stream(orders: usize, seed: u64) -> Vec<In> {
    let lps: Vec<LpTruth> = (0..4)
        .map(|i| LpTruth {
            name: format!("LP{i}"),
            full_fill: 0.6 + 0.1 * f64::from(i),
            half_fill: 0.1,
            reject: 0.02 * f64::from(i),
            latency_ns: 100_000.0 * (1.0 + f64::from(i)),
            pi_bps: 0.3 * f64::from(i) - 0.3,
            impact_bps: 0.5,
        })
        .collect();
    let evs = generate(&SynthConfig {
        lps,
        symbols: 5,
        orders,
        order_gap_ns: 40_000_000,
        noise_quotes_per_order: 2,
        noise_bps: 0.5,
        half_spread_bps: 1.0,
        start_ns: 1_754_141_400 * SEC,
        seed,
    });
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut out = Vec::new();
    for (i, (ts, ev)) in evs.iter().enumerate() {
        let mut b = Vec::new();
        fix_bytes(*ts, i as u64 + 1, ev, &mut b);
        out.push(In::Msg(*ts, (i % 2) as u32, b));
        let r = next();
        if r % 4 == 0 {
            out.push(In::Tick(*ts + 1_000));
        }
        if r % 97 == 0 {
            let w = (r >> 8) % 5 + 1;
            out.push(In::Cmd(
                *ts + 2_000,
                Command::SetWeights {
                    profile: (r >> 16) as u8 % 2,
                    weights: [w as f64, 1.0, 0.5, 0.2, 0.0, 0.1, 0.3, 0.0],
                },
            ));
        }
        if r % 89 == 0 {
            out.push(In::Cmd(
                *ts + 3_000,
                Command::PauseLp {
                    lp: (r >> 20) as u16 % 4,
                    paused: (r >> 24) % 2 == 0,
                },
            ));
        }
    }
    out
}

fn jcfg(dir: &Path) -> JournalConfig {
    JournalConfig {
        dir: dir.to_path_buf(),
        durability: DurabilityKind::None,
        segment_bytes: 48 * 1024,
        ring_bytes: 256 * 1024,
        ..JournalConfig::default()
    }
}

fn push(prod: &mut JournalProducer, x: &In, seq: &mut [u64; 2]) {
    loop {
        let r = match x {
            In::Msg(ts, s, b) => {
                let rec = Record {
                    ts_ns: *ts,
                    session: *s,
                    seq: seq[*s as usize] + 1,
                    bytes: b,
                };
                prod.append(&rec)
            }
            In::Tick(ts) => prod.append_tick(*ts),
            In::Cmd(ts, c) => prod.append_command(*ts, c),
        };
        match r {
            Ok(()) => {
                if let In::Msg(_, s, _) = x {
                    seq[*s as usize] += 1;
                }
                return;
            }
            Err(AppendError::RingFull { .. } | AppendError::SessionStalled { .. }) => {
                prod.resume(0);
                prod.resume(1);
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// Appends `items` to the journal in `dir` (a new run: a new segment), then shuts it down.
fn write_run(dir: &Path, items: &[In], seq: &mut [u64; 2]) {
    let (mut prod, h) = start(&jcfg(dir)).unwrap();
    for x in items {
        push(&mut prod, x, seq);
    }
    h.shutdown().unwrap();
}

fn policy() -> SnapshotPolicy {
    SnapshotPolicy {
        every_entries: 0,
        every_ns: 0,
        keep: 10,
    }
}

/// The engine's full state as bytes (compares everything: orders, cells, markouts, counters...).
fn state<S: lpscore::publish::RowSink>(e: &mut Engine<S>) -> Vec<u8> {
    let mut enc = Enc::new();
    e.encode_state(&mut enc);
    enc.buf
}

fn assert_same(a: &mut FixFeed<LatestSink>, b: &mut FixFeed<LatestSink>, what: &str) {
    assert_eq!(a.engine.counters(), b.engine.counters(), "{what}: counters");
    assert!(
        state(&mut a.engine) == state(&mut b.engine),
        "{what}: engine states differ"
    );
    let (ra, rb) = (&a.engine.sink().rows, &b.engine.sink().rows);
    assert_eq!(ra.len(), rb.len(), "{what}: row count");
    assert!(!ra.is_empty());
    for (k, r) in ra {
        assert!(rb[k].bits_eq(r), "{what}: row {k:?} differs");
    }
}

/// The reference: the whole journal replayed from its start (no snapshot).
fn full_replay(dir: &Path) -> Follower {
    let mut f = Follower::new(dir, &EngineConfig::default(), policy()).unwrap();
    f.catch_up().unwrap();
    f
}

#[test]
fn restore_then_replay_equals_full_replay_at_random_points() {
    for seed in 1..=4u64 {
        let items = stream(250, seed);
        let n = items.len();
        // Random snapshot points (sorted), the journal written in runs between them.
        let mut rng = seed * 7919;
        let mut cuts: Vec<usize> = (0..3)
            .map(|_| {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                1 + (rng >> 33) as usize % (n - 1)
            })
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let dir = tmp("snap-prop");
        let mut seq = [0u64; 2];
        let mut from = 0;
        for &c in &cuts {
            write_run(&dir, &items[from..c], &mut seq);
            // Snapshot at the cut: recover (newest snapshot + the rest), then snapshot.
            let mut rec = recover_engine(&dir, &EngineConfig::default(), policy()).unwrap();
            rec.follower.snapshot().unwrap();
            from = c;
        }
        write_run(&dir, &items[from..], &mut seq);
        let mut full = full_replay(&dir);
        // The journal replayed by the `lpscore replay` driver gives the same rows.
        let mut rp = Replayer::new(EngineConfig::default(), LatestSink::default()).unwrap();
        rp.replay_path(&dir, &mut |_, _| {}).unwrap();
        assert!(rp.stats.commands > 0, "the stream holds commands");
        assert_same(&mut rp.feed, &mut full.feed, "replayer vs follower");
        assert!(full.feed.engine.counters().weight_changes > 0);
        // Every snapshot, newest first: restore + replay the rest == full replay.
        let snaps = list_snapshots(&snapshot_dir(&dir));
        assert_eq!(snaps.len(), cuts.len());
        for (k, (_, path)) in snaps.iter().enumerate() {
            let mut f =
                Follower::from_snapshot(&dir, &EngineConfig::default(), policy(), path).unwrap();
            let before = f.pos.entries;
            let applied = f.catch_up().unwrap();
            assert_eq!(
                before + applied,
                full.pos.entries,
                "seed {seed} snapshot {k}"
            );
            assert_eq!(f.pos, full.pos);
            assert_same(
                &mut f.feed,
                &mut full.feed,
                &format!("seed {seed} snapshot {k}"),
            );
        }
        // recover_engine picks the newest.
        let rec = recover_engine(&dir, &EngineConfig::default(), policy()).unwrap();
        assert_eq!(rec.snapshot.as_deref(), Some(snaps[0].1.as_path()));
        assert!(rec.skipped.is_empty());
        assert_eq!(rec.last_seq(0), Some(seq[0]));
        assert_eq!(rec.messages(1), seq[1]);
        // The journal's own recovery report gives the same last seq per session (the session
        // layer resumes inbound at last + 1).
        let (_p, h) = start(&jcfg(&dir)).unwrap();
        assert_eq!(h.recovery().last_seq(0), Some(seq[0]));
        assert_eq!(h.recovery().last_seq(1), Some(seq[1]));
        assert_eq!(h.recovery().last_seq(7), None);
        h.shutdown().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn recovered_state_continues_live_identically() {
    let items = stream(300, 11);
    let cut = items.len() / 2;
    let dir = tmp("snap-live");
    let mut seq = [0u64; 2];
    write_run(&dir, &items[..cut], &mut seq);
    let mut rec = recover_engine(&dir, &EngineConfig::default(), policy()).unwrap();
    rec.follower.snapshot().unwrap();
    // The hot thread's path: a fresh engine with another sink restores the state and the rows.
    let st = rec.follower.state();
    let mut live =
        FixFeed::new(Engine::new(EngineConfig::default(), MemorySink::default()).unwrap());
    st.restore_into(&mut live.engine).unwrap();
    // Then live traffic, exactly as journaled.
    for x in &items[cut..] {
        match x {
            In::Msg(ts, s, b) => {
                let _ = live.on_fix(*ts, *s, b);
            }
            In::Tick(ts) => live.engine.tick(*ts),
            In::Cmd(_, c) => live.engine.commands().push(*c).unwrap(),
        }
    }
    write_run(&dir, &items[cut..], &mut seq);
    let mut full = full_replay(&dir);
    assert_eq!(live.engine.counters(), full.feed.engine.counters());
    assert!(state(&mut live.engine) == state(&mut full.feed.engine));
    // The sink saw the recovered rows first, then the live ones: its latest rows are the full
    // replay's.
    let mut latest = HashMap::new();
    for (k, r) in &live.engine.sink().log {
        latest.insert(*k, *r);
    }
    let rows = &full.feed.engine.sink().rows;
    assert_eq!(latest.len(), rows.len());
    for (k, r) in rows {
        assert!(latest[k].bits_eq(r), "row {k:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A journal with two snapshots (after 1/3 and 2/3 of the stream); returns (dir, full replay).
fn two_snapshots() -> (PathBuf, Follower, Vec<(u64, PathBuf)>) {
    let items = stream(150, 5);
    let n = items.len();
    let dir = tmp("snap-bad");
    let mut seq = [0u64; 2];
    write_run(&dir, &items[..n / 3], &mut seq);
    recover_engine(&dir, &EngineConfig::default(), policy())
        .unwrap()
        .follower
        .snapshot()
        .unwrap();
    write_run(&dir, &items[n / 3..2 * n / 3], &mut seq);
    recover_engine(&dir, &EngineConfig::default(), policy())
        .unwrap()
        .follower
        .snapshot()
        .unwrap();
    write_run(&dir, &items[2 * n / 3..], &mut seq);
    let full = full_replay(&dir);
    let snaps = list_snapshots(&snapshot_dir(&dir));
    assert_eq!(snaps.len(), 2);
    (dir, full, snaps)
}

/// Damages the newest snapshot with `damage`, recovers, and checks that it was skipped with an
/// error naming it and containing `reason`, that the older one was used, and that the engine is
/// still the full replay's.
fn newest_damaged(damage: impl Fn(&mut Vec<u8>), reason: &str) {
    let (dir, mut full, snaps) = two_snapshots();
    let mut b = std::fs::read(&snaps[0].1).unwrap();
    damage(&mut b);
    std::fs::write(&snaps[0].1, &b).unwrap();
    let mut rec = recover_engine(&dir, &EngineConfig::default(), policy()).unwrap();
    assert_eq!(rec.skipped.len(), 1, "{:?}", rec.skipped);
    let name = snaps[0].1.file_name().unwrap().to_str().unwrap();
    assert!(rec.skipped[0].contains(name), "{}", rec.skipped[0]);
    assert!(rec.skipped[0].contains(reason), "{}", rec.skipped[0]);
    assert_eq!(rec.snapshot.as_deref(), Some(snaps[1].1.as_path()));
    assert_same(&mut rec.follower.feed, &mut full.feed, reason);
    // Both bad: back to the journal's start, same engine.
    std::fs::write(&snaps[1].1, b"LPSSNAP\0 short").unwrap();
    let mut rec = recover_engine(&dir, &EngineConfig::default(), policy()).unwrap();
    assert_eq!(rec.skipped.len(), 2);
    assert!(rec.snapshot.is_none());
    assert_same(&mut rec.follower.feed, &mut full.feed, "from the start");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn flipped_byte_in_a_snapshot_is_skipped() {
    newest_damaged(
        |b| {
            let i = b.len() / 2;
            b[i] ^= 0x10;
        },
        "payload checksum mismatch",
    );
}

#[test]
fn truncated_snapshot_is_skipped() {
    newest_damaged(|b| b.truncate(b.len() - 100), "cut short");
}

#[test]
fn wrong_magic_snapshot_is_skipped() {
    newest_damaged(|b| b[0] = b'X', "wrong magic");
}

#[test]
fn future_version_snapshot_is_skipped() {
    newest_damaged(
        |b| {
            b[8] = 9;
            // A valid header checksum: only the version is wrong.
            let c = lpscore::journal::crc32c::crc32c(0, &b[..60]);
            b[60..64].copy_from_slice(&c.to_le_bytes());
        },
        "format version 9",
    );
}

#[test]
fn snapshot_of_another_journal_or_configuration_is_skipped() {
    let (dir, mut full, snaps) = two_snapshots();
    // The newest snapshot moved next to another journal: its position names a record that
    // journal does not hold.
    let other = tmp("snap-other");
    let mut seq = [0u64; 2];
    write_run(&other, &stream(150, 99), &mut seq);
    std::fs::create_dir_all(snapshot_dir(&other)).unwrap();
    let moved = snapshot_dir(&other).join(snaps[0].1.file_name().unwrap());
    std::fs::copy(&snaps[0].1, &moved).unwrap();
    let rec = recover_engine(&other, &EngineConfig::default(), policy()).unwrap();
    assert_eq!(rec.skipped.len(), 1);
    assert!(rec.skipped[0].contains("unusable"), "{}", rec.skipped[0]);
    assert!(rec.snapshot.is_none());
    // Another engine configuration: skipped, replayed from the start.
    let cfg = EngineConfig {
        max_orders: 1000,
        ..EngineConfig::default()
    };
    let rec = recover_engine(&dir, &cfg, policy()).unwrap();
    assert_eq!(rec.skipped.len(), 2);
    assert!(
        rec.skipped[0].contains("another engine configuration"),
        "{}",
        rec.skipped[0]
    );
    // The right configuration still uses the newest.
    let mut rec = recover_engine(&dir, &EngineConfig::default(), policy()).unwrap();
    assert_eq!(rec.snapshot.as_deref(), Some(snaps[0].1.as_path()));
    assert_same(&mut rec.follower.feed, &mut full.feed, "newest");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}

#[test]
fn follower_thread_snapshots_and_finishes_at_shutdown() {
    let items = stream(200, 3);
    let dir = tmp("snap-thread");
    let (mut prod, h) = start(&jcfg(&dir)).unwrap();
    let rec = recover_engine(
        &dir,
        &EngineConfig::default(),
        SnapshotPolicy {
            every_entries: 300,
            every_ns: 0,
            keep: 2,
        },
    )
    .unwrap();
    let fh = rec.follower.spawn("snap-test").unwrap();
    let mut seq = [0u64; 2];
    for x in &items {
        push(&mut prod, x, &mut seq);
    }
    h.shutdown().unwrap();
    fh.finish();
    // The last snapshot (written at finish) covers the whole journal; at most `keep` remain.
    let snaps = list_snapshots(&snapshot_dir(&dir));
    assert!(!snaps.is_empty() && snaps.len() <= 2, "{snaps:?}");
    let mut full = full_replay(&dir);
    assert_eq!(snaps[0].0, full.pos.entries);
    let mut f =
        Follower::from_snapshot(&dir, &EngineConfig::default(), policy(), &snaps[0].1).unwrap();
    assert_eq!(f.catch_up().unwrap(), 0);
    assert_same(&mut f.feed, &mut full.feed, "shutdown snapshot");
    let _ = std::fs::remove_dir_all(&dir);
}
