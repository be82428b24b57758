//! Round trip through the journal: records appended through the rtrb ring by a producer thread
//! come back identical from the reader, across rotations, under each durability policy; the
//! watermark covers only records the policy made durable; ring-full and disk-full refusals are
//! typed, counted and stall the session.
use std::path::{Path, PathBuf};
use std::time::Duration;

use lpscore::journal::{
    AppendError, Backend, Durability, DurabilityKind, JournalConfig, Record, list_segments,
    scan_segments, start,
};

fn tmp(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("lpscore-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// A deterministic message of varying length (not FIX: the journal does not care).
fn payload(i: u64) -> Vec<u8> {
    let len = 1 + (i.wrapping_mul(2_654_435_761) % 700) as usize;
    (0..len).map(|k| (i as usize * 31 + k * 7) as u8).collect()
}

fn cfg(dir: &Path, durability: DurabilityKind) -> JournalConfig {
    JournalConfig {
        dir: dir.to_path_buf(),
        durability,
        group_commit_us: 1_000,
        segment_bytes: 64 * 1024,
        segment_age_s: 0,
        ring_bytes: 64 * 1024,
        max_sessions: 8,
        write_buffer: 16 * 1024,
        backend: Backend::Write,
        ..JournalConfig::default()
    }
}

type Owned = (u64, u32, u64, Vec<u8>);

fn read_all(dir: &Path) -> Vec<Owned> {
    let paths: Vec<PathBuf> = list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect();
    let mut v = Vec::new();
    let rep = scan_segments(&paths, |_, _, r| {
        v.push((r.ts_ns, r.session, r.seq, r.bytes.to_vec()))
    })
    .unwrap();
    assert!(rep.torn.is_none());
    v
}

fn round_trip(durability: DurabilityKind, n: u64) {
    round_trip_with(durability, n, Backend::Write);
}

fn round_trip_with(durability: DurabilityKind, n: u64, backend: Backend) {
    let dir = tmp("journal-rt");
    let mut c = cfg(&dir, durability);
    c.backend = backend;
    let (mut prod, handle) = match start(&c) {
        Ok(x) => x,
        Err(e) if backend == Backend::Uring => {
            eprintln!("skipped: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let wm = handle.watermarks();
    let producer = std::thread::spawn(move || {
        let mut sent: Vec<Owned> = Vec::new();
        let mut seqs = [0u64; 3];
        for i in 0..n {
            let session = (i % 3) as u32;
            let bytes = payload(i);
            let rec = Record {
                ts_ns: 1_700_000_000_000_000_000 + i * 1_000,
                session,
                seq: seqs[session as usize] + 1,
                bytes: &bytes,
            };
            // The hot thread never waits; a test producer retries a full ring after a pause and
            // resumes the session (as the session layer would after a resend).
            loop {
                match prod.append(&rec) {
                    Ok(()) => break,
                    Err(AppendError::RingFull { .. }) | Err(AppendError::SessionStalled { .. }) => {
                        prod.resume(session);
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    Err(e) => panic!("append: {e}"),
                }
            }
            seqs[session as usize] += 1;
            sent.push((rec.ts_ns, session, rec.seq, bytes));
        }
        (sent, prod.counters(), seqs)
    });
    let (sent, counters, seqs) = producer.join().unwrap();
    assert_eq!(counters.appended, n);
    let stats = handle.shutdown().unwrap();
    assert_eq!(stats.records, n);
    assert!(
        stats.segments > 1,
        "expected rotations, got {} segment(s)",
        stats.segments
    );
    if durability != DurabilityKind::None {
        assert!(stats.syncs > 0);
    }
    if durability == DurabilityKind::PerRecord {
        assert!(stats.syncs >= n);
    }
    for s in 0..3u32 {
        assert_eq!(
            wm.durable(s),
            seqs[s as usize],
            "session {s} watermark after shutdown"
        );
    }
    let got = read_all(&dir);
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "records differ after the round trip");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn round_trip_none() {
    round_trip(DurabilityKind::None, 3000);
}

#[test]
fn round_trip_group() {
    round_trip(DurabilityKind::Group, 3000);
}

#[test]
fn round_trip_per_record() {
    round_trip(DurabilityKind::PerRecord, 300);
}

#[test]
fn round_trip_io_uring_none() {
    round_trip_with(DurabilityKind::None, 3000, Backend::Uring);
}

#[test]
fn round_trip_io_uring_group() {
    round_trip_with(DurabilityKind::Group, 3000, Backend::Uring);
}

#[test]
fn round_trip_io_uring_per_record() {
    round_trip_with(DurabilityKind::PerRecord, 300, Backend::Uring);
}

fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..20_000 {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    false
}

#[test]
fn group_watermark_waits_for_the_sync() {
    let dir = tmp("journal-wm");
    let mut c = cfg(&dir, DurabilityKind::Group);
    c.group_commit_us = 3_600_000_000; // one hour: no sync happens during the test by the timer
    c.segment_bytes = 1 << 30;
    let (mut prod, handle) = start(&c).unwrap();
    assert_eq!(
        c.durability(),
        Durability::Group {
            interval_ns: 3_600_000_000_000
        }
    );
    for i in 1..=10u64 {
        prod.append(&Record {
            ts_ns: i,
            session: 1,
            seq: i,
            bytes: b"8=FIX.4.4",
        })
        .unwrap();
    }
    assert!(
        wait_until(|| handle.stats().records == 10),
        "records not written"
    );
    // Written (in the page cache) but not fdatasync'ed: the watermark must not cover them.
    assert_eq!(handle.stats().syncs, 0);
    assert_eq!(handle.watermarks().durable(1), 0);
    let wm = handle.watermarks();
    let stats = handle.shutdown().unwrap();
    assert!(stats.syncs >= 1);
    assert_eq!(wm.durable(1), 10);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rotation_syncs_and_advances_the_watermark() {
    let dir = tmp("journal-rot");
    let mut c = cfg(&dir, DurabilityKind::Group);
    c.group_commit_us = 3_600_000_000;
    c.segment_bytes = 4096;
    let (mut prod, handle) = start(&c).unwrap();
    let big = vec![b'x'; 1000];
    for i in 1..=6u64 {
        prod.append(&Record {
            ts_ns: i,
            session: 0,
            seq: i,
            bytes: &big,
        })
        .unwrap();
    }
    assert!(wait_until(|| handle.stats().records == 6));
    // The first segment closed (synced) after 3 records; the rest wait for the timer.
    let w = handle.watermarks().durable(0);
    assert!((3..6).contains(&w), "watermark {w}");
    assert!(handle.stats().syncs >= 1);
    drop(handle);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn none_policy_watermark_follows_writes() {
    let dir = tmp("journal-none");
    let (mut prod, handle) = start(&cfg(&dir, DurabilityKind::None)).unwrap();
    for i in 1..=5u64 {
        prod.append(&Record {
            ts_ns: i,
            session: 2,
            seq: 100 + i,
            bytes: b"abc",
        })
        .unwrap();
    }
    let wm = handle.watermarks();
    assert!(wait_until(|| wm.durable(2) == 105));
    assert_eq!(handle.stats().syncs, 0);
    handle.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ring_full_is_typed_counted_and_stalls_the_session() {
    let dir = tmp("journal-full");
    let mut c = cfg(&dir, DurabilityKind::None);
    c.ring_bytes = 64;
    let (mut prod, handle) = start(&c).unwrap();
    let big = vec![0u8; 100];
    let e = prod
        .append(&Record {
            ts_ns: 1,
            session: 3,
            seq: 1,
            bytes: &big,
        })
        .unwrap_err();
    assert!(
        matches!(e, AppendError::RingFull { needed: 132, .. }),
        "{e:?}"
    );
    // Later records of the session are refused too, so its watermark cannot skip the gap.
    let e = prod
        .append(&Record {
            ts_ns: 2,
            session: 3,
            seq: 2,
            bytes: b"x",
        })
        .unwrap_err();
    assert_eq!(e, AppendError::SessionStalled { session: 3 });
    // Other sessions are unaffected.
    prod.append(&Record {
        ts_ns: 2,
        session: 4,
        seq: 7,
        bytes: b"x",
    })
    .unwrap();
    assert_eq!(prod.counters().ring_full, 1);
    assert_eq!(prod.counters().stalled, 1);
    prod.resume(3);
    assert!(!prod.is_stalled(3));
    assert!(matches!(
        prod.append(&Record {
            ts_ns: 3,
            session: 99,
            seq: 1,
            bytes: b"x"
        }),
        Err(AppendError::BadSession { session: 99 })
    ));
    let wm = handle.watermarks();
    handle.shutdown().unwrap();
    assert_eq!(wm.durable(3), 0);
    assert_eq!(wm.durable(4), 7);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn io_error_stops_the_watermark_loudly() {
    if !std::path::Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full");
        return;
    }
    let dir = tmp("journal-enospc");
    std::fs::create_dir_all(&dir).unwrap();
    // The first segment the writer creates is /dev/full: every write fails with ENOSPC.
    std::os::unix::fs::symlink("/dev/full", dir.join("journal-0000000000.lpj")).unwrap();
    let mut c = cfg(&dir, DurabilityKind::Group);
    c.durability = DurabilityKind::None;
    // create_new refuses an existing name; a symlink to a device is not a segment to recover, so
    // the writer would start at index 0 and fail to create it: either way an I/O error.
    let (mut prod, handle) = start(&c).unwrap();
    let mut refused = None;
    for i in 1..=20_000u64 {
        match prod.append(&Record {
            ts_ns: i,
            session: 0,
            seq: i,
            bytes: b"8=FIX.4.4|35=D",
        }) {
            Ok(()) => std::thread::sleep(Duration::from_micros(100)),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert_eq!(refused, Some(AppendError::WriterFailed));
    assert!(handle.failed());
    let msg = handle.error().unwrap();
    assert!(msg.contains("journal"), "{msg}");
    assert_eq!(handle.watermarks().durable(0), 0);
    assert!(handle.watermarks().failed());
    // Stays refused.
    assert!(
        prod.append(&Record {
            ts_ns: 1,
            session: 0,
            seq: 1,
            bytes: b"x"
        })
        .is_err()
    );
    assert!(handle.shutdown().is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A real full disk: a 64 KiB tmpfs (needs root to mount; skipped otherwise).
#[test]
fn disk_full_stops_the_watermark_loudly() {
    let mnt = tmp("journal-tmpfs");
    std::fs::create_dir_all(&mnt).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&mnt)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: cannot mount a tmpfs (not root?)");
        let _ = std::fs::remove_dir(&mnt);
        return;
    }
    let mut c = cfg(&mnt, DurabilityKind::Group);
    c.group_commit_us = 0;
    c.segment_bytes = 1 << 30;
    let (mut prod, handle) = start(&c).unwrap();
    let wm = handle.watermarks();
    let rec = vec![b'x'; 1000];
    let mut last_ok = 0;
    let mut refused = None;
    for i in 1..=20_000u64 {
        match prod.append(&Record {
            ts_ns: i,
            session: 5,
            seq: i,
            bytes: &rec,
        }) {
            Ok(()) => {
                last_ok = i;
                std::thread::sleep(Duration::from_micros(50));
            }
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert_eq!(
        refused,
        Some(AppendError::WriterFailed),
        "never refused after {last_ok} records"
    );
    let msg = handle.error().unwrap();
    assert!(msg.contains("No space left"), "{msg}");
    let frozen = wm.durable(5);
    assert!(
        frozen < last_ok,
        "watermark {frozen} covers records that were never written ({last_ok})"
    );
    assert!(frozen > 0);
    let err = handle.shutdown().unwrap_err();
    assert!(err.to_string().contains("journal"));
    assert_eq!(wm.durable(5), frozen);
    let _ = std::process::Command::new("umount").arg(&mnt).status();
    let _ = std::fs::remove_dir(&mnt);
}

#[test]
fn tick_records_round_trip_and_move_no_watermark() {
    use lpscore::journal::{Entry, scan_entries};
    let dir = tmp("journal-ticks");
    let (mut prod, handle) = start(&cfg(&dir, DurabilityKind::Group)).unwrap();
    let p1 = payload(1);
    prod.append(&Record {
        ts_ns: 10,
        session: 2,
        seq: 5,
        bytes: &p1,
    })
    .unwrap();
    prod.append_tick(11).unwrap();
    prod.append_tick(12).unwrap();
    prod.append(&Record {
        ts_ns: 13,
        session: 2,
        seq: 6,
        bytes: b"x",
    })
    .unwrap();
    prod.append_tick(14).unwrap();
    assert_eq!(prod.counters().ticks, 3);
    let w = prod.watermarks();
    drop(prod);
    let st = handle.shutdown().unwrap();
    assert_eq!(st.records, 5);
    // The tick records touched no watermark (session 0 stays at 0).
    assert_eq!(w.durable(2), 6);
    assert_eq!(w.durable(0), 0);
    let paths: Vec<PathBuf> = list_segments(&dir)
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect();
    let mut seen = Vec::new();
    let rep = scan_entries(&paths, |_, _, e| {
        seen.push(match *e {
            Entry::Message(r) => (r.ts_ns, Some(r.seq)),
            Entry::Tick { ts_ns } => (ts_ns, None),
            Entry::Command { .. } => unreachable!("no command was journaled"),
        })
    })
    .unwrap();
    assert_eq!(
        seen,
        vec![
            (10, Some(5)),
            (11, None),
            (12, None),
            (13, Some(6)),
            (14, None)
        ]
    );
    assert_eq!((rep.records, rep.ticks), (2, 3));
    assert_eq!(rep.last_seq, vec![(2, 6)]);
    // scan_segments (and the record iterator) see messages only.
    let mut n = 0;
    scan_segments(&paths, |_, _, _| n += 1).unwrap();
    assert_eq!(n, 2);
    // Reopening recovers the messages' watermark, not the ticks'.
    let (_prod, handle) = start(&cfg(&dir, DurabilityKind::Group)).unwrap();
    assert_eq!(handle.recovery().last_seq, vec![(2, 6)]);
    assert_eq!(handle.recovery().records, 2);
    drop(handle);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An idle appliance journals a tick every millisecond: tick records alone never cost an
/// fdatasync (under either syncing policy); the next session record does, and only it moves the
/// watermark.
#[test]
fn tick_records_alone_start_no_fdatasync() {
    for kind in [DurabilityKind::Group, DurabilityKind::PerRecord] {
        let dir = tmp("journal-idle-ticks");
        let mut c = cfg(&dir, kind);
        c.group_commit_us = 1_000; // 1 ms: a sync would follow quickly if ticks started one
        let (mut prod, handle) = start(&c).unwrap();
        for t in 1..=500u64 {
            prod.append_tick(t).unwrap();
        }
        assert!(
            wait_until(|| handle.stats().records == 500),
            "ticks not written"
        );
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(handle.stats().syncs, 0, "{kind:?}: ticks alone were synced");
        prod.append(&Record {
            ts_ns: 501,
            session: 3,
            seq: 7,
            bytes: b"8=FIX.4.4",
        })
        .unwrap();
        let wm = handle.watermarks();
        assert!(
            wait_until(|| wm.durable(3) == 7),
            "{kind:?}: the session record was not made durable"
        );
        assert!(handle.stats().syncs >= 1);
        drop(prod);
        handle.shutdown().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
