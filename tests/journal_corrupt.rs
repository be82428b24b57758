//! A damaged journal: a clear error naming the segment file and offset, and reading/recovery stops
//! there. One test per case: a flipped byte in a record, a torn tail (truncated with a log line,
//! earlier records kept), a wrong magic, a future version.
use std::path::{Path, PathBuf};

use lpscore::journal::format::{FILE_HEADER_LEN, record_size};
use lpscore::journal::{
    DurabilityKind, JournalConfig, JournalError, Record, list_segments, recover, scan_segments,
    start,
};

fn tmp(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("lpscore-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

const N: u64 = 20;

fn msg(i: u64) -> Vec<u8> {
    format!("8=FIX.4.4|9=5|35=D|record {i}|10=000|").into_bytes()
}

/// Writes N records into one segment; returns the dir, the segment path and each record's offset.
fn journal(name: &str) -> (PathBuf, PathBuf, Vec<u64>) {
    let dir = tmp(name);
    let cfg = JournalConfig {
        dir: dir.clone(),
        durability: DurabilityKind::None,
        ..JournalConfig::default()
    };
    let (mut p, h) = start(&cfg).unwrap();
    for i in 0..N {
        let m = msg(i);
        p.append(&Record {
            ts_ns: 1000 + i,
            session: 1,
            seq: i + 1,
            bytes: &m,
        })
        .unwrap();
    }
    h.shutdown().unwrap();
    let segs = list_segments(&dir).unwrap();
    assert_eq!(segs.len(), 1);
    let mut offs = Vec::new();
    let mut off = FILE_HEADER_LEN as u64;
    for i in 0..N {
        offs.push(off);
        off += record_size(msg(i).len()) as u64;
    }
    assert_eq!(std::fs::metadata(&segs[0].path).unwrap().len(), off);
    (dir, segs[0].path.clone(), offs)
}

fn read(paths: &[PathBuf]) -> (Vec<u64>, Result<lpscore::journal::ScanReport, JournalError>) {
    let mut seqs = Vec::new();
    let r = scan_segments(paths, |_, _, r| seqs.push(r.seq));
    (seqs, r)
}

fn patch(path: &Path, off: u64, f: impl FnOnce(&mut u8)) {
    let mut d = std::fs::read(path).unwrap();
    f(&mut d[off as usize]);
    std::fs::write(path, d).unwrap();
}

#[test]
fn intact_journal_reads_back() {
    let (dir, seg, _) = journal("jc-ok");
    let (seqs, r) = read(&[seg]);
    let rep = r.unwrap();
    assert_eq!(seqs, (1..=N).collect::<Vec<_>>());
    assert_eq!(rep.last_seq, vec![(1, N)]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn flipped_byte_names_the_record_and_stops() {
    let (dir, seg, offs) = journal("jc-flip");
    // A payload byte of record 7 (0-based).
    patch(&seg, offs[7] + 40, |b| *b ^= 0x20);
    let (seqs, r) = read(std::slice::from_ref(&seg));
    assert_eq!(
        seqs,
        (1..=7).collect::<Vec<_>>(),
        "records before the bad one are delivered"
    );
    match r {
        Err(JournalError::Corrupt {
            path,
            offset,
            reason,
        }) => {
            assert_eq!(path, seg);
            assert_eq!(offset, offs[7]);
            assert_eq!(reason, "checksum mismatch");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let e = recover(&dir).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains(&seg.display().to_string()) && text.contains(&format!("offset {}", offs[7])),
        "{text}"
    );
    // The writer refuses to start on it (it would otherwise append after a hole).
    let cfg = JournalConfig {
        dir: dir.clone(),
        ..JournalConfig::default()
    };
    assert!(matches!(start(&cfg), Err(JournalError::Corrupt { .. })));
    // A flipped bit in a header field (the length) is caught too.
    let (dir2, seg2, offs2) = journal("jc-flip-len");
    patch(&seg2, offs2[3] + 4, |b| *b ^= 0x01);
    let (seqs, r) = read(&[seg2]);
    assert_eq!(seqs.len(), 3);
    assert!(matches!(r, Err(JournalError::Corrupt { offset, .. }) if offset == offs2[3]));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&dir2);
}

#[test]
fn torn_tail_is_truncated_and_earlier_records_kept() {
    let (dir, seg, offs) = journal("jc-torn");
    let full = std::fs::metadata(&seg).unwrap().len();
    // A crash in the middle of writing the last record.
    let cut = offs[N as usize - 1] + 20;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(cut)
        .unwrap();
    let (seqs, r) = read(std::slice::from_ref(&seg));
    assert_eq!(seqs, (1..N).collect::<Vec<_>>());
    let rep = r.unwrap();
    assert_eq!(rep.torn, Some((seg.clone(), offs[N as usize - 1], cut)));
    // Recovery truncates the torn record (with a log line) ...
    let rec = recover(&dir).unwrap();
    assert_eq!(
        rec.truncated,
        Some((
            seg.clone(),
            offs[N as usize - 1],
            cut - offs[N as usize - 1]
        ))
    );
    assert_eq!(rec.records, N - 1);
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), offs[N as usize - 1]);
    assert!(std::fs::metadata(&seg).unwrap().len() < full);
    // ... and the journal reopens, continues in a new segment, and the watermark starts at the
    // last record kept.
    let cfg = JournalConfig {
        dir: dir.clone(),
        durability: DurabilityKind::Group,
        ..JournalConfig::default()
    };
    let (mut p, h) = start(&cfg).unwrap();
    assert_eq!(h.watermarks().durable(1), N - 1);
    assert_eq!(h.recovery().next_segment, 1);
    p.append(&Record {
        ts_ns: 5000,
        session: 1,
        seq: N,
        bytes: b"again",
    })
    .unwrap();
    h.shutdown().unwrap();
    let paths: Vec<PathBuf> = list_segments(&dir)
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect();
    assert_eq!(paths.len(), 2);
    let (seqs, r) = read(&paths);
    r.unwrap();
    assert_eq!(seqs, (1..=N).collect::<Vec<_>>());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn torn_tail_with_a_full_length_garbage_record() {
    // The length made it to disk, the payload did not (zeros, or stale bytes): checksum says torn.
    let (dir, seg, offs) = journal("jc-torn2");
    let last = offs[N as usize - 1];
    patch(&seg, last + 36, |b| *b = 0);
    let (seqs, r) = read(std::slice::from_ref(&seg));
    assert_eq!(seqs.len() as u64, N - 1);
    assert_eq!(r.unwrap().torn.map(|t| t.1), Some(last));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn torn_tail_in_an_earlier_segment_is_corruption() {
    let (dir, seg, offs) = journal("jc-torn-mid");
    let (dir2, seg2, _) = journal("jc-torn-mid2");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(offs[5] + 10)
        .unwrap();
    let (seqs, r) = read(&[seg.clone(), seg2]);
    assert_eq!(seqs.len(), 5);
    assert!(
        matches!(r, Err(JournalError::Corrupt { path, offset, .. }) if path == seg && offset == offs[5])
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&dir2);
}

#[test]
fn wrong_magic_is_named() {
    let (dir, seg, _) = journal("jc-magic");
    patch(&seg, 0, |b| *b = b'X');
    let (seqs, r) = read(std::slice::from_ref(&seg));
    assert!(seqs.is_empty());
    match r {
        Err(e @ JournalError::BadMagic { .. }) => {
            assert!(e.to_string().contains(&seg.display().to_string()), "{e}");
            assert!(e.to_string().contains("wrong magic"));
        }
        other => panic!("expected BadMagic, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn future_version_is_refused() {
    let (dir, seg, _) = journal("jc-version");
    patch(&seg, 8, |b| *b = 2);
    let (seqs, r) = read(std::slice::from_ref(&seg));
    assert!(seqs.is_empty());
    match r {
        Err(e @ JournalError::UnsupportedVersion { version: 2, .. }) => {
            assert!(e.to_string().contains("version 2"), "{e}");
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
    let cfg = JournalConfig {
        dir: dir.clone(),
        ..JournalConfig::default()
    };
    assert!(matches!(
        start(&cfg),
        Err(JournalError::UnsupportedVersion { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn header_checksum_is_checked() {
    let (dir, seg, _) = journal("jc-hdr");
    patch(&seg, 20, |b| *b ^= 1);
    let (_, r) = read(&[seg]);
    assert!(matches!(r, Err(JournalError::BadHeader { .. })));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Hostile bytes never panic the reader.
#[test]
fn random_damage_never_panics() {
    let (dir, seg, _) = journal("jc-fuzz");
    let good = std::fs::read(&seg).unwrap();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut d = good.clone();
        let n = 1 + (x % 4) as usize;
        for k in 0..n {
            let pos = ((x >> (8 * k)) as usize).wrapping_mul(2_654_435_761) % d.len();
            d[pos] ^= (x >> 32) as u8 | 1;
        }
        if x % 3 == 0 {
            d.truncate((x >> 20) as usize % d.len());
        }
        if let Ok((_, it)) = lpscore::journal::RecordIter::new(&d, &seg) {
            for r in it {
                if r.is_err() {
                    break;
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn replay_of_a_corrupt_journal_stops_at_the_bad_record_and_names_it() {
    use lpscore::engine::EngineConfig;
    use lpscore::journal::replay::{LatestSink, Replayer};
    let (dir, seg, offs) = journal("jc-replay");
    patch(&seg, offs[7] + 40, |b| *b ^= 0x20);
    let mut rp = Replayer::new(EngineConfig::default(), LatestSink::default()).unwrap();
    let e = rp.replay_path(&dir, &mut |_, _| {}).unwrap_err();
    assert!(
        matches!(&e, JournalError::Corrupt { path, offset, .. } if *path == seg && *offset == offs[7])
    );
    assert_eq!(rp.stats.lines, 7, "the records before it were replayed");
    // The CLI: exit code 1 and the segment and offset on stderr.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lpscore"))
        .args(["replay", "--dump", "csv"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&seg.display().to_string()) && err.contains(&format!("offset {}", offs[7])),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
