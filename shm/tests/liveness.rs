//! Writer lifecycle and reader liveness: heartbeat staleness, epoch change on restart and takeover,
//! a dead writer (killed child process), a second live writer refused, RETIRED on an incompatible
//! re-create, file permissions and the reader's read-only mapping.

mod common;

use common::{TempBoard, child, role, small_opts};
use lpscore_shm::{
    BucketSlot, Capacities, FLAG_HAS_DATA, Liveness, OpenError, ScoreRow, Scoreboard, ShmError,
    SymbolSlot, Writer, WriterOptions,
};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Stdio;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn heartbeat_staleness() {
    let b = TempBoard::new("hb");
    let w = Writer::create(&b.path, &small_opts()).unwrap();
    let sb = Scoreboard::open(&b.path).unwrap();
    w.heartbeat();
    assert!(matches!(sb.staleness(HOUR), Liveness::Live { .. }));
    // No heartbeat for a while (sleep guarantees at least this much): stale for a 1 ms threshold.
    std::thread::sleep(Duration::from_millis(5));
    match sb.staleness(Duration::from_millis(1)) {
        Liveness::Stale { age } => assert!(age >= Duration::from_millis(5)),
        other => panic!("{other:?}"),
    }
    // A fresh heartbeat makes it live again for a generous threshold.
    w.heartbeat();
    assert!(sb.staleness(HOUR).is_live());
}

#[test]
fn clean_stop_then_restart_bumps_epoch_in_place() {
    let b = TempBoard::new("restart");
    let mut w = Writer::create(&b.path, &small_opts()).unwrap();
    assert_eq!(w.epoch(), 1);
    let lp = w.add_lp("LP-A").unwrap();
    let sym = w.add_symbol("AAPL").unwrap();
    let row = ScoreRow {
        flags: FLAG_HAS_DATA,
        n_orders: 7,
        ..Default::default()
    };
    w.publish(sym, BucketSlot::All, lp, &row).unwrap();
    let mut sb = Scoreboard::open(&b.path).unwrap();
    assert_eq!(sb.read(sym, BucketSlot::All, lp).unwrap().n_orders, 7);
    let ino = std::fs::metadata(&b.path).unwrap().ino();
    drop(w);
    assert_eq!(sb.staleness(HOUR), Liveness::Stopped);

    let mut w2 = Writer::create(&b.path, &small_opts()).unwrap();
    assert_eq!(w2.epoch(), 2);
    // Same capacities: taken over in place (same inode), directories and rows cleared.
    assert_eq!(std::fs::metadata(&b.path).unwrap().ino(), ino);
    assert_eq!(sb.staleness(HOUR), Liveness::Restarted);
    assert_eq!(sb.epoch(), 2);
    assert!(sb.lp("LP-A").is_none());
    assert!(sb.symbol("AAPL").is_none());
    assert!(!sb.read(sym, BucketSlot::All, lp).unwrap().has_data());
    sb.revalidate().unwrap();
    assert!(sb.staleness(HOUR).is_live());
    // The new writer registers again; the reader resolves again.
    let lp2 = w2.add_lp("LP-B").unwrap();
    assert_eq!(sb.lp("LP-B"), Some(lp2));
    // A fresh reader sees epoch 2 as well.
    assert_eq!(Scoreboard::open(&b.path).unwrap().epoch(), 2);
}

#[test]
fn incompatible_recreate_retires_the_old_file() {
    let b = TempBoard::new("retire");
    let w = Writer::create(&b.path, &small_opts()).unwrap();
    let old = Scoreboard::open(&b.path).unwrap();
    let ino = std::fs::metadata(&b.path).unwrap().ino();
    drop(w);
    let mut opts = small_opts();
    opts.capacities.max_lps = 16;
    let w2 = Writer::create(&b.path, &opts).unwrap();
    assert_eq!(w2.epoch(), 2, "epoch continues from the old file");
    assert_ne!(
        std::fs::metadata(&b.path).unwrap().ino(),
        ino,
        "renamed over"
    );
    assert_eq!(old.staleness(HOUR), Liveness::Retired);
    let new = Scoreboard::open(&b.path).unwrap();
    assert_eq!(new.capacities().max_lps, 16);
    assert!(new.staleness(HOUR).is_live());
    // No temporary file left behind.
    let tmp = common::with_suffix(&b.path, &format!(".tmp.{}", std::process::id()));
    assert!(!tmp.exists());
}

#[test]
fn garbage_at_the_path_is_replaced() {
    let b = TempBoard::new("replace");
    std::fs::write(&b.path, b"garbage that is not a scoreboard").unwrap();
    let w = Writer::create(&b.path, &small_opts()).unwrap();
    assert_eq!(w.epoch(), 1);
    assert!(Scoreboard::open(&b.path).is_ok());
}

#[test]
fn second_writer_in_process_is_refused() {
    let b = TempBoard::new("second");
    let _w = Writer::create(&b.path, &small_opts()).unwrap();
    let e = Writer::create(&b.path, &small_opts()).err().unwrap();
    assert_eq!(
        e,
        ShmError::AlreadyOwned {
            pid: std::process::id()
        }
    );
    assert!(
        e.to_string()
            .contains(&format!("pid {}", std::process::id()))
    );
}

#[test]
fn permissions_0640_group_and_read_only_mapping() {
    let b = TempBoard::new("perm");
    // SAFETY: getegid has no preconditions.
    let gid = unsafe { libc::getegid() };
    let opts = WriterOptions {
        group: Some(gid),
        ..small_opts()
    };
    let _w = Writer::create(&b.path, &opts).unwrap();
    for p in [b.path.clone(), b.lock_path()] {
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o640, "{}", p.display());
        assert_eq!(m.gid(), gid);
    }
    let sb = Scoreboard::open(&b.path).unwrap();
    // The reader's mapping of the file is read-only and shared ("r--s" in /proc/self/maps).
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let name = b.path.to_str().unwrap();
    let perms: Vec<&str> = maps
        .lines()
        .filter(|l| l.ends_with(name))
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert!(perms.contains(&"r--s"), "{perms:?}");
    assert!(perms.contains(&"rw-s"), "the writer's mapping: {perms:?}");
    drop(sb);
}

#[test]
fn bad_writer_options_are_refused() {
    let b = TempBoard::new("opts");
    let mut o = small_opts();
    o.capacities = Capacities {
        max_lps: 0,
        ..o.capacities
    };
    assert_eq!(
        Writer::create(&b.path, &o).err(),
        Some(ShmError::BadOption("max_lps"))
    );
    let mut o = small_opts();
    o.bucket_upper = [100, 50, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        Writer::create(&b.path, &o).err(),
        Some(ShmError::BadOption("bucket_upper"))
    );
}

#[test]
fn open_with_timeout_waits_for_the_writer() {
    let b = TempBoard::new("wait");
    assert_eq!(
        Scoreboard::open_with_timeout(&b.path, Duration::from_millis(20)).err(),
        Some(OpenError::Timeout)
    );
    let path = b.path.clone();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        let w = Writer::create(&path, &small_opts()).unwrap();
        let _ = done_rx.recv(); // keep the writer until the reader has opened
        drop(w);
    });
    let sb = Scoreboard::open_with_timeout(&b.path, Duration::from_secs(60)).unwrap();
    assert_eq!(sb.epoch(), 1);
    done_tx.send(()).unwrap();
    t.join().unwrap();
}

const TEST_GONE: &str = "dead_writer_is_detected_and_taken_over";

#[test]
fn dead_writer_is_detected_and_taken_over() {
    if let Some((r, path)) = role() {
        if r == "writer" {
            let mut w = Writer::create(&path, &small_opts()).unwrap();
            let lp = w.add_lp("LP-A").unwrap();
            w.publish(
                SymbolSlot::All,
                BucketSlot::All,
                lp,
                &ScoreRow {
                    flags: FLAG_HAS_DATA,
                    ..Default::default()
                },
            )
            .unwrap();
            w.heartbeat();
            println!("WRITER-READY");
            // Block until killed.
            let mut buf = [0u8; 1];
            let _ = std::io::stdin().read(&mut buf);
            std::mem::forget(w); // if the parent closes stdin instead: die without STOPPED
            std::process::exit(0);
        }
        return;
    }
    let b = TempBoard::new("gone");
    let mut c = child(TEST_GONE, "writer", &b.path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(c.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("WRITER-READY") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "child writer died");
    }
    let sb = Scoreboard::open(&b.path).unwrap();
    assert_eq!(sb.writer_pid(), c.id());
    assert!(sb.staleness(HOUR).is_live());
    // A second live writer (another process) is refused, naming the owner's pid.
    assert_eq!(
        Writer::create(&b.path, &small_opts()).err(),
        Some(ShmError::AlreadyOwned { pid: c.id() })
    );
    // Kill it (no clean stop) and reap it.
    c.kill().unwrap();
    c.wait().unwrap();
    assert_eq!(sb.staleness(HOUR), Liveness::WriterGone);
    // The lock died with it: a new writer takes the file over in place, epoch + 1.
    let w = Writer::create(&b.path, &small_opts()).unwrap();
    assert_eq!(w.epoch(), 2);
    assert_eq!(sb.staleness(HOUR), Liveness::Restarted);
    assert!(sb.lp("LP-A").is_none());
}
