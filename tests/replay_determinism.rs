//! Replay determinism and equivalence: the same file twice gives bit-identical dumps; a journal
//! replay, and a log replay split across many blocks by its reader thread, give the same rows as
//! feeding the same messages live into an engine; SOH, `|` and
//! QuickFIX-prefixed logs of the same messages agree; malformed lines are counted with their line
//! numbers and never stop the replay; `--every` snapshots sit on event-time boundaries.
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use lpscore::engine::synth::{LpTruth, OwnedEvent, SynthConfig, fix_bytes, generate};
use lpscore::engine::{Engine, EngineConfig, FixFeed};
use lpscore::journal::replay::{DumpFormat, LatestSink, Replayer, render, table_rows};
use lpscore::journal::{AppendError, DurabilityKind, JournalConfig, Record, start};
use lpscore::publish::{BitsEq, MemorySink};

const SEC: u64 = 1_000_000_000;

fn tmp(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("lpscore-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// Rewrites one field's value of an SOH message and fixes BodyLength and CheckSum.
fn set_field(msg: &[u8], tag: &str, value: &str) -> Vec<u8> {
    let s = std::str::from_utf8(msg).unwrap();
    let fields: Vec<&str> = s.split('\x01').filter(|f| !f.is_empty()).collect();
    let mut body = String::new();
    for f in &fields[2..fields.len() - 1] {
        let (t, _) = f.split_once('=').unwrap();
        if t == tag {
            body.push_str(&format!("{tag}={value}\x01"));
        } else {
            body.push_str(f);
            body.push('\x01');
        }
    }
    let mut out = format!("{}\x019={}\x01{body}", fields[0], body.len()).into_bytes();
    let cs = out.iter().map(|&b| u32::from(b)).sum::<u32>() % 256;
    out.extend_from_slice(format!("10={cs:03}\x01").as_bytes());
    out
}

/// A realistic stream: (capture ts, message). Execution reports come from the LP's CompID so that
/// both directions of an LP's orders share a session in a log replay.
fn stream(orders: usize) -> Vec<(u64, Vec<u8>)> {
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
        symbols: 6,
        orders,
        order_gap_ns: 50_000_000,
        noise_quotes_per_order: 2,
        noise_bps: 0.5,
        half_spread_bps: 1.0,
        start_ns: 1_754_141_400 * SEC,
        seed: 42,
    });
    let mut lp_of: HashMap<String, String> = HashMap::new();
    let mut out = Vec::with_capacity(evs.len());
    for (i, (ts, ev)) in evs.iter().enumerate() {
        let mut b = Vec::new();
        fix_bytes(*ts, i as u64 + 1, ev, &mut b);
        match ev {
            OwnedEvent::NewOrder { cl_ord_id, lp, .. } => {
                lp_of.insert(cl_ord_id.clone(), lp.clone());
            }
            OwnedEvent::Exec { cl_ord_id, .. } => {
                if let Some(lp) = lp_of.get(cl_ord_id) {
                    b = set_field(&b, "49", lp);
                }
            }
            OwnedEvent::Quote { .. } => {}
        }
        out.push((*ts, b));
    }
    out
}

fn replay_files(paths: &[PathBuf]) -> Replayer {
    let mut rp = Replayer::new(EngineConfig::default(), LatestSink::default()).unwrap();
    for p in paths {
        rp.replay_path(p, &mut |_, _| {}).unwrap();
    }
    rp.finish();
    rp
}

fn dump(rp: &Replayer, fmt: DumpFormat) -> String {
    let (h, rows) = table_rows(&rp.feed, rp.feed.engine.now_ns());
    render(&h, &rows, fmt, true)
}

fn write_log(path: &PathBuf, msgs: &[(u64, Vec<u8>)], style: &str) {
    let mut out = Vec::new();
    for (ts, m) in msgs {
        match style {
            "soh" => out.extend_from_slice(m),
            "pipe" => out.extend(m.iter().map(|&b| if b == 1 { b'|' } else { b })),
            "quickfix" => {
                let mut t = Vec::new();
                lpscore::fix::num::write_timestamp(&mut t, *ts as i64);
                out.extend_from_slice(&t);
                out.extend_from_slice(b" : ");
                out.extend_from_slice(m);
            }
            _ => unreachable!(),
        }
        out.push(b'\n');
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn same_file_twice_gives_bit_identical_dumps() {
    let dir = tmp("rd-twice");
    std::fs::create_dir_all(&dir).unwrap();
    let msgs = stream(1500);
    let p = dir.join("a.log");
    write_log(&p, &msgs, "quickfix");
    let a = replay_files(std::slice::from_ref(&p));
    let b = replay_files(std::slice::from_ref(&p));
    assert_eq!(a.stats.malformed, 0, "{:?}", a.stats.malformed_detail);
    assert_eq!(a.stats.messages, msgs.len() as u64);
    let (ja, jb) = (dump(&a, DumpFormat::Json), dump(&b, DumpFormat::Json));
    assert!(ja.lines().count() > 20, "a rich table");
    assert_eq!(ja, jb);
    assert_eq!(dump(&a, DumpFormat::Csv), dump(&b, DumpFormat::Csv));
    // Bit-level: every row's words.
    for (k, r) in &a.feed.engine.sink().rows {
        assert!(r.bits_eq(&b.feed.engine.sink().rows[k]));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn soh_pipe_and_quickfix_logs_agree() {
    let dir = tmp("rd-styles");
    std::fs::create_dir_all(&dir).unwrap();
    let msgs = stream(600);
    let mut dumps = Vec::new();
    for style in ["soh", "pipe", "quickfix"] {
        let p = dir.join(format!("{style}.log"));
        write_log(&p, &msgs, style);
        let rp = replay_files(&[p]);
        assert_eq!(
            rp.stats.malformed, 0,
            "{style}: {:?}",
            rp.stats.malformed_detail
        );
        assert_eq!(rp.feed.counters.parse_errors, 0);
        // The synthetic SendingTime is the capture time, so all three see the same timestamps.
        dumps.push(dump(&rp, DumpFormat::Json));
    }
    assert_eq!(dumps[0], dumps[1], "SOH vs |");
    assert_eq!(dumps[0], dumps[2], "plain vs QuickFIX prefix");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn journal_replay_equals_live_feed() {
    let msgs = stream(1200);
    // Live: the messages straight into an engine.
    let mut live =
        FixFeed::new(Engine::new(EngineConfig::default(), MemorySink::default()).unwrap());
    for (ts, m) in &msgs {
        live.on_fix(*ts, 0, m).unwrap();
    }
    live.engine.flush();
    // Journal: appended through the ring by a producer thread, across rotations.
    let dir = tmp("rd-journal");
    let cfg = JournalConfig {
        dir: dir.clone(),
        durability: DurabilityKind::Group,
        group_commit_us: 500,
        segment_bytes: 64 * 1024,
        ring_bytes: 32 * 1024,
        ..JournalConfig::default()
    };
    let (mut prod, handle) = start(&cfg).unwrap();
    let to_send = msgs.clone();
    std::thread::spawn(move || {
        for (i, (ts, m)) in to_send.iter().enumerate() {
            let rec = Record {
                ts_ns: *ts,
                session: 0,
                seq: i as u64 + 1,
                bytes: m,
            };
            loop {
                match prod.append(&rec) {
                    Ok(()) => break,
                    Err(AppendError::RingFull { .. } | AppendError::SessionStalled { .. }) => {
                        prod.resume(0);
                        std::thread::sleep(Duration::from_micros(100));
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
    })
    .join()
    .unwrap();
    let stats = handle.shutdown().unwrap();
    assert!(stats.segments > 1);
    let rp = replay_files(std::slice::from_ref(&dir));
    assert_eq!(rp.stats.messages, msgs.len() as u64);
    assert_eq!(rp.stats.malformed, 0);
    // Same rows, bit for bit.
    let mut latest: HashMap<_, _> = HashMap::new();
    for (k, r) in &live.engine.sink().log {
        latest.insert(*k, *r);
    }
    let got = &rp.feed.engine.sink().rows;
    assert_eq!(got.len(), latest.len());
    assert!(!got.is_empty());
    for (k, r) in &latest {
        assert!(got[k].bits_eq(r), "row {k:?} differs");
    }
    assert_eq!(rp.feed.engine.counters(), live.engine.counters());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The value of `tag` in a SOH-delimited message.
fn field<'a>(m: &'a [u8], tag: &str) -> &'a [u8] {
    let pat = format!("\x01{tag}=");
    let i = m
        .windows(pat.len())
        .position(|w| w == pat.as_bytes())
        .unwrap()
        + pat.len();
    let n = m[i..].iter().position(|&b| b == 1).unwrap();
    &m[i..i + n]
}

#[test]
fn log_replay_across_many_blocks_equals_live_feed() {
    let msgs = stream(1200);
    // Live: the messages straight into an engine, with the log replay's sessions (the unordered
    // CompID pair, numbered in order of first appearance).
    let mut live =
        FixFeed::new(Engine::new(EngineConfig::default(), MemorySink::default()).unwrap());
    let mut sessions: HashMap<(Vec<u8>, Vec<u8>), u32> = HashMap::new();
    for (ts, m) in &msgs {
        let (a, b) = (field(m, "49").to_vec(), field(m, "56").to_vec());
        let pair = if a <= b { (a, b) } else { (b, a) };
        let n = sessions.len() as u32;
        let s = *sessions.entry(pair).or_insert(n);
        live.on_fix(*ts, s, m).unwrap();
    }
    live.engine.flush();
    let mut latest: HashMap<_, _> = HashMap::new();
    for (k, r) in &live.engine.sink().log {
        latest.insert(*k, *r);
    }
    let dir = tmp("rd-blocks");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("pipe.log");
    // `|`-delimited: the reader thread also rewrites each message to SOH in its block.
    write_log(&p, &msgs, "pipe");
    let len = std::fs::metadata(&p).unwrap().len();
    // Blocks of 4 KiB (about 20 messages: hundreds of hand-overs, each with a carried partial
    // line) and the default; the reader unpinned and pinned.
    for (block, core) in [(Some(4096), None), (Some(4096), Some(0)), (None, None)] {
        let mut rp = Replayer::new(EngineConfig::default(), LatestSink::default()).unwrap();
        if let Some(b) = block {
            rp.set_block_size(b);
        }
        rp.set_reader_core(core);
        rp.replay_path(&p, &mut |_, _| {}).unwrap();
        rp.finish();
        assert_eq!(rp.stats.bytes, len);
        assert_eq!(rp.stats.messages, msgs.len() as u64, "block {block:?}");
        assert_eq!(rp.stats.lines, msgs.len() as u64);
        assert_eq!(rp.stats.malformed, 0, "{:?}", rp.stats.malformed_detail);
        assert_eq!(rp.stats.sessions as usize, sessions.len());
        let got = &rp.feed.engine.sink().rows;
        assert_eq!(got.len(), latest.len());
        for (k, r) in &latest {
            assert!(got[k].bits_eq(r), "block {block:?}: row {k:?} differs");
        }
        assert_eq!(rp.feed.engine.counters(), live.engine.counters());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn malformed_lines_are_counted_with_line_numbers_and_skipped() {
    let dir = tmp("rd-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let msgs = stream(50);
    let good = |i: usize| msgs[i].1.clone();
    let mut lines: Vec<Vec<u8>> = vec![
        good(0),                             // 1
        b"garbage that is not FIX".to_vec(), // 2: malformed
        good(1),                             // 3
        Vec::new(),                          // 4: blank, ignored
    ];
    let mut bad_cs = good(2);
    let n = bad_cs.len();
    bad_cs[n - 2] = if bad_cs[n - 2] == b'0' { b'1' } else { b'0' }; // 5: checksum wrong
    lines.push(bad_cs);
    let mut cut = good(3);
    cut.truncate(cut.len() / 2); // 6: truncated message
    lines.push(cut);
    lines.push(good(4)); // 7
    let mut trailing = good(5);
    trailing.extend_from_slice(b"junk"); // 8: bytes after the checksum
    lines.push(trailing);
    lines.push(b"20240315-14:30:18.123 : not a message".to_vec()); // 9: prefix, no message
    lines.push(good(6)); // 10
    lines.push(vec![0xff; 3000]); // 11: binary junk
    lines.push(b"8=FIX.4.4\x019=99999999\x0135=D\x01".to_vec()); // 12: absurd BodyLength
    lines.push(good(7)); // 13
    let mut data = Vec::new();
    for l in &lines {
        data.extend_from_slice(l);
        data.push(b'\n');
    }
    data.extend_from_slice(&good(8)); // 14, no final newline
    let p = dir.join("bad.log");
    std::fs::write(&p, &data).unwrap();
    let rp = replay_files(std::slice::from_ref(&p));
    let bad: Vec<u64> = rp.stats.malformed_detail.iter().map(|m| m.line).collect();
    assert_eq!(
        bad,
        vec![2, 5, 6, 8, 9, 11, 12],
        "{:#?}",
        rp.stats.malformed_detail
    );
    assert_eq!(rp.stats.malformed, 7);
    // The good ones all reached the engine.
    assert_eq!(rp.stats.messages - rp.feed.counters.parse_errors, 6);
    for m in &rp.stats.malformed_detail {
        assert!(m.to_string().contains("bad.log:"), "{m}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn message_with_a_newline_in_a_data_field_is_one_message() {
    // RawData (95/96) may hold any byte, a newline included: the extent comes from BodyLength.
    let body = "35=D\x0149=SOR\x0156=LP0\x0134=1\x0152=20240315-14:30:18\x0111=N1\x0155=S0000\x0154=1\x0138=100\x0140=1\x01100=LP0\x0195=3\x0196=a\nb\x01";
    let mut m = format!("8=FIX.4.4\x019={}\x01{body}", body.len()).into_bytes();
    let cs = m.iter().map(|&b| u32::from(b)).sum::<u32>() % 256;
    m.extend_from_slice(format!("10={cs:03}\x01\n").as_bytes());
    m.extend_from_slice(b"junk line\n");
    let dir = tmp("rd-nl");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("nl.log");
    std::fs::write(&p, &m).unwrap();
    let rp = replay_files(std::slice::from_ref(&p));
    assert_eq!(rp.stats.messages, 1);
    assert_eq!(rp.feed.counters.parse_errors, 0);
    assert_eq!(rp.feed.engine.counters().orders, 1);
    // Line numbers count physical lines: the junk is line 3.
    assert_eq!(
        rp.stats
            .malformed_detail
            .iter()
            .map(|m| m.line)
            .collect::<Vec<_>>(),
        vec![3]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_snapshots_sit_on_event_time_boundaries_and_are_deterministic() {
    let dir = tmp("rd-every");
    std::fs::create_dir_all(&dir).unwrap();
    let msgs = stream(800);
    let p = dir.join("e.log");
    write_log(&p, &msgs, "soh");
    let run = || {
        let mut rp = Replayer::new(EngineConfig::default(), LatestSink::default()).unwrap();
        rp.set_every(5 * SEC);
        let mut snaps: Vec<(u64, String)> = Vec::new();
        rp.replay_path(&p, &mut |t, feed| {
            let (h, rows) = table_rows(feed, t);
            snaps.push((t, render(&h, &rows, DumpFormat::Csv, false)));
        })
        .unwrap();
        rp.finish();
        let fin = dump(&rp, DumpFormat::Csv);
        (snaps, fin)
    };
    let (a, fa) = run();
    let (b, fb) = run();
    assert!(a.len() >= 5, "{} snapshots", a.len());
    assert!(a.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(a.iter().all(|(t, _)| t % (5 * SEC) == 0));
    assert_eq!(a, b);
    assert_eq!(fa, fb);
    // Snapshots do not change the final result.
    let plain = replay_files(std::slice::from_ref(&p));
    assert_eq!(dump(&plain, DumpFormat::Csv), fa);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_dumps_are_bit_identical() {
    let dir = tmp("rd-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let msgs = stream(300);
    let p = dir.join("c.messages.log");
    write_log(&p, &msgs, "quickfix");
    let run = |fmt: &str| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_lpscore"))
            .args(["replay", "--dump", fmt])
            .arg(&p)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (o.stdout, String::from_utf8_lossy(&o.stderr).into_owned())
    };
    for fmt in ["json", "csv", "table"] {
        let (a, err) = run(fmt);
        let (b, _) = run(fmt);
        assert!(!a.is_empty());
        assert_eq!(a, b, "{fmt}");
        assert!(err.contains("QuickFIX message log"), "{err}");
        assert!(err.contains("0 malformed"), "{err}");
    }
    // Scoreboard output, then read back by `lpscore dump`.
    let sb = dir.join("board");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lpscore"))
        .args(["replay", "--quiet", "--scoreboard"])
        .arg(&sb)
        .arg(&p)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lpscore"))
        .args(["dump", "--format", "csv", "--scoreboard"])
        .arg(&sb)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("LP1"));
    let _ = std::fs::remove_dir_all(&dir);
}
