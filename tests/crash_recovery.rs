//! Crash test: a scripted drop-copy session of more than 100 000 messages (orders, executions,
//! market data) sent to `lpscore run` (journal on, durability "group", snapshots every few
//! thousand entries), SIGKILLed at 20 seeded random points and restarted each time. The driver is
//! the counterparty: it keeps every message it sent and, after each restart, resends from where
//! lpscore's journal ends (the `recovered group 0 session 1: N messages through seq Q` line that
//! `lpscore run` prints at start; no FIX session layer is used: the session has no `fix`
//! settings). At the end:
//! * the journal holds exactly the input, in order, each message once (nothing lost, nothing
//!   twice);
//! * the live scoreboard's dump (`lpscore dump --format csv --buckets`) after a clean shutdown
//!   equals `lpscore replay --dump csv` of the journal, i.e. the rows of an uninterrupted run on
//!   the same input with the same capture timestamps (capture timestamps come from the live
//!   clock, so two live runs never share them; the replay is the uninterrupted run).
//!
//! This is the raw-tap path (a session without `fix` settings resumes from the printed line);
//! tests/crash_session.rs is the same test over a real FIX session, where only Logon and
//! ResendRequest bring back what the journal lacks.
#![allow(clippy::disallowed_methods)] // test harness: wall-clock deadlines

#[path = "common/ansi.rs"]
mod ansi;
#[path = "common/crash.rs"]
mod common;
use ansi::strip_ansi;
use common::{BIN, Rng, signal};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lpscore::journal::{list_segments, scan_segments};

const KILLS: usize = 20;

fn messages() -> Vec<Vec<u8>> {
    common::drop_copy()
}

/// A running appliance: its port, the resume point it printed, its recovery line.
struct Run {
    child: Child,
    port: u16,
    resume: u64,
    recovery: String,
    log: mpsc::Receiver<String>,
}

fn start(cfg: &Path) -> Run {
    let mut child = Command::new(BIN)
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    // Drains stderr for the whole life of the child (a full pipe would block it).
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            if tx.send(strip_ansi(&line)).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut resume, mut recovery, mut all) = (0, String::new(), String::new());
    loop {
        let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no listening line from lpscore run:\n{all}");
        };
        all.push_str(&line);
        all.push('\n');
        if let Some(rest) = line.strip_prefix("recovered group 0 session 1: ") {
            resume = rest.split(' ').next().unwrap().parse().unwrap();
        }
        if line.contains("engine recovered in") {
            recovery = line.clone();
        }
        if let Some(i) = line.find("listening on 127.0.0.1:") {
            let rest = &line[i + "listening on 127.0.0.1:".len()..];
            let port = rest
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap();
            return Run {
                child,
                port,
                resume,
                recovery,
                log: rx,
            };
        }
    }
}

/// Messages of session 1 in the journal (a record being written is not counted yet).
fn journaled(jdir: &Path) -> Vec<Vec<u8>> {
    let paths: Vec<PathBuf> = list_segments(jdir)
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect();
    let mut v = Vec::new();
    // A torn tail (a write in progress) is reported, not an error.
    let _ = scan_segments(&paths, |_, _, r| {
        if r.session == 1 {
            v.push(r.bytes.to_vec());
        }
    });
    v
}

fn wait_journaled(jdir: &Path, n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = journaled(jdir).len();
        if got >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigkill_at_20_points_then_restart_gives_the_uninterrupted_rows() {
    let msgs = messages();
    let total = msgs.len();
    assert!(total >= 100_000, "{total} messages");
    let dir = std::env::temp_dir().join(format!("lpscore-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let jdir = dir.join("journal");
    let board = dir.join("board.sb");
    let cfg = dir.join("run.toml");
    std::fs::write(
        &cfg,
        format!(
            "backend = \"busy-poll\"\nscoreboard = \"{}\"\n[idle]\nenabled = true\nquiet_us = 500\n\
             [journal]\nenabled = true\ndir = \"{}\"\ndurability = \"group\"\n\
             group_commit_us = 2000\nsegment_bytes = 4194304\nsnapshot_entries = 15000\n\
             snapshot_interval_s = 1\n\
             [[group]]\nsessions = [ {{ id = 1, listen = \"127.0.0.1:0\" }} ]\n\
             [engine]\npublish_interval_ns = 0\n",
            board.display(),
            jdir.display()
        ),
    )
    .unwrap();
    let mut rng = Rng(0x5eed_c0ff_ee15_1234);
    let mut points: Vec<usize> = (0..KILLS)
        .map(|_| 1 + rng.next() as usize % (total - 1))
        .collect();
    points.sort_unstable();
    let t0 = Instant::now();
    let mut last_resume = 0u64;
    let mut recoveries = Vec::new();
    let mut with_snapshot = 0;
    for (k, &p) in points.iter().chain(std::iter::once(&total)).enumerate() {
        let mut run = start(&cfg);
        // Nothing the journal held is ever lost across a SIGKILL.
        assert!(
            run.resume >= last_resume,
            "run {k}: {} < {last_resume}",
            run.resume
        );
        last_resume = run.resume;
        recoveries.push(run.recovery.clone());
        if !run.recovery.contains("snapshot none") {
            with_snapshot += 1;
        }
        let from = run.resume as usize;
        let to = p.max(from);
        let mut s = TcpStream::connect(("127.0.0.1", run.port)).unwrap();
        for m in &msgs[from..to] {
            s.write_all(m).unwrap();
        }
        s.flush().unwrap();
        if k < KILLS {
            // Let some of it reach the journal, then kill at a random moment (some messages
            // still in flight: in the socket, the ring, or the write buffer).
            wait_journaled(&jdir, from + (to - from) / 2);
            std::thread::sleep(Duration::from_millis(rng.next() % 20));
            signal(&run.child, libc::SIGKILL);
            run.child.wait().unwrap();
        } else {
            let got = wait_journaled(&jdir, total);
            assert_eq!(got, total, "the final run did not journal everything");
            signal(&run.child, libc::SIGTERM);
            let st = run.child.wait().unwrap();
            let log: Vec<String> = run.log.try_iter().collect();
            assert!(st.success(), "{st:?}\n{}", log.join("\n"));
        }
        drop(s);
    }
    let elapsed = t0.elapsed();
    // The journal holds the input exactly: in order, nothing lost, nothing twice.
    let j = journaled(&jdir);
    assert_eq!(j.len(), total);
    let first_diff = j.iter().zip(&msgs).position(|(a, b)| a != b);
    assert_eq!(first_diff, None, "journal differs from the input");
    // The live rows after 20 crashes == the rows of an uninterrupted run (the replay).
    let compared = common::assert_live_equals_replay(&board, &cfg, &jdir);
    eprintln!(
        "crash test: {total} messages, {KILLS} SIGKILLs, {compared} rows equal, \
         {with_snapshot} restarts from a snapshot, {:.1} s",
        elapsed.as_secs_f64()
    );
    for r in &recoveries {
        eprintln!("  {r}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
