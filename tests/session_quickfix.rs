//! FIX session interop with QuickFIX (Debian's libquickfix-dev): a small C++ counterparty
//! (tests/fixtures/qf_session/qf_peer.cpp, built with g++ at test time, driven over its stdin)
//! against lpscore's session runtime, each scenario asserting that lpscore received every
//! application message exactly once and ends with the KPIs of the messages sent:
//!
//! 1. a QuickFIX initiator logs on to lpscore's acceptor, sends 10 000 NewOrderSingles and their
//!    ExecutionReports, logs out;
//! 2. a quiet period longer than 3 x HeartBtInt (1 s): heartbeats and a TestRequest, the
//!    session stays up;
//! 3. the connection is cut mid-stream, QuickFIX keeps sending while it is down (its store
//!    keeps the messages), the gap is filled by ResendRequest on reconnect;
//! 4. `lpscore run` is killed with SIGKILL mid-stream and restarted on the same sequence store
//!    and journal: the persisted sequence numbers and the resend fill the gap;
//! 5. a QuickFIX acceptor and lpscore as initiator (market data: W snapshots).
//!
//! And 4b: the journal lost its tail while the sequence store moved on; the restarted group
//! resumes inbound at the journal's last MsgSeqNum + 1 and QuickFIX resends the rest.
//!
//! "KPIs of the messages sent": the live scoreboard is compared, row word by row word, with a
//! fresh engine fed the messages as the test generated them (before QuickFIX stamped its header),
//! at the capture times and with the engine ticks the live run journaled. The journal must hold
//! each application message once, in MsgSeqNum order, its body equal to the generated one.
//!
//! Each scenario prints `scenario N: sent S, received R, de-duplicated D` (and more).
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use lpscore::engine::synth::{LpTruth, OwnedEvent, SynthConfig, fix_bytes, generate};
use lpscore::engine::{EngineConfig, FixFeed, ShmSink, writer_options};
use lpscore::fix::session::SessionSettings;
use lpscore::journal::{self, DurabilityKind, Entry, JournalConfig, JournalHandle};
use lpscore::runtime::config::{Backend, IdleConfig, IoConfig, SessionConfig};
use lpscore::runtime::{GroupOptions, HotGroup, StatsSnapshot, spawn_group};
use lpscore_shm::Scoreboard;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Builds the QuickFIX peer once per test binary.
fn qf_peer() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/qf_session/qf_peer.cpp");
        let dir = std::env::temp_dir().join(format!("lpscore-qf-peer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("qf_peer");
        if !Path::new("/usr/include/quickfix/Session.h").exists() {
            panic!(
                "QuickFIX headers not found (/usr/include/quickfix): install libquickfix-dev \
                 (apt-get install g++ libquickfix-dev)"
            );
        }
        let out = Command::new("g++")
            .args(["-std=gnu++14", "-O1", "-w", "-o"])
            .arg(&bin)
            .arg(&src)
            .args(["-lquickfix", "-lpthread"])
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run g++ ({e}): install it (apt-get install g++ libquickfix-dev)")
            });
        assert!(
            out.status.success(),
            "g++ failed to build {}:\n{}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        bin
    })
}

/// The C++ counterparty: commands on stdin, events on stdout.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    rx: Receiver<String>,
    seen: Vec<String>,
    backlog: Vec<String>,
}

impl Peer {
    fn start(mode: &str, settings: &Path) -> Peer {
        let mut child = Command::new(qf_peer())
            .arg(mode)
            .arg(settings)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start qf_peer");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(l) = line else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut p = Peer {
            child,
            stdin,
            rx,
            seen: Vec::new(),
            backlog: Vec::new(),
        };
        p.expect("ready", 20);
        p
    }

    fn cmd(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("qf_peer stdin");
        self.stdin.flush().unwrap();
    }

    /// Waits for an event line starting with `prefix`: the first such line not consumed yet,
    /// in the order the peer printed them (its callbacks run on QuickFIX's threads: a "logon"
    /// may come before the "ready" of the command loop).
    fn expect(&mut self, prefix: &str, secs: u64) -> String {
        if let Some(i) = self.backlog.iter().position(|l| l.starts_with(prefix)) {
            return self.backlog.remove(i);
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(l) => {
                    if l.starts_with("error") {
                        panic!("qf_peer: {l}");
                    }
                    self.seen.push(l.clone());
                    if l.starts_with(prefix) {
                        return l;
                    }
                    self.backlog.push(l);
                }
                Err(_) => panic!(
                    "qf_peer: no `{prefix}` within {secs} s; it said: {:?}",
                    self.seen
                ),
            }
        }
    }

    fn stats(&mut self) -> QfStats {
        self.cmd("stats");
        let l = self.expect("stats ", 10);
        let g = |k: &str| -> u64 {
            l.split_whitespace()
                .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=')?.parse().ok())
                .unwrap_or_else(|| panic!("{k} in {l}"))
        };
        QfStats {
            logons: g("logons"),
            hb_in: g("hb_in"),
            tr_in: g("tr_in"),
            rr_in: g("rr_in"),
            rej_in: g("rej_in"),
            lo_in: g("lo_in"),
            next_out: g("next_out"),
            logged_on: g("logged_on") == 1,
        }
    }

    fn quit(mut self) {
        self.cmd("quit");
        self.expect("bye", 20);
        let _ = self.child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, Copy)]
#[allow(dead_code)]
struct QfStats {
    logons: u64,
    hb_in: u64,
    tr_in: u64,
    rr_in: u64,
    rej_in: u64,
    lo_in: u64,
    next_out: u64,
    logged_on: bool,
}

/// A scratch directory for one scenario.
struct Scratch(PathBuf);
impl Scratch {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("lpscore-qfs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    fn path(&self, s: &str) -> PathBuf {
        self.0.join(s)
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// QuickFIX settings: `mode` initiator (connect to `port`) or acceptor (listen on `port`).
fn qf_settings(path: &Path, mode: &str, port: u16, store: &Path, hb: u32, ours: &str) {
    let conn = if mode == "initiator" {
        format!("SocketConnectHost=127.0.0.1\nSocketConnectPort={port}\nReconnectInterval=1\n")
    } else {
        format!("SocketAcceptPort={port}\nSocketReuseAddress=Y\n")
    };
    let text = format!(
        "[DEFAULT]\nConnectionType={mode}\n{conn}FileStorePath={}\nStartTime=00:00:00\n\
         EndTime=00:00:00\nUseDataDictionary=N\nHeartBtInt={hb}\nSocketNodelay=Y\n\
         [SESSION]\nBeginString=FIX.4.4\nSenderCompID={ours}\nTargetCompID=LPSCORE\n",
        store.display()
    );
    std::fs::write(path, text).unwrap();
}

fn lp_settings(store: &Path, hb: u32, target: &str) -> SessionSettings {
    let mut s = SessionSettings::new("LPSCORE", target);
    s.heartbeat_s = hb;
    s.store_dir = store.to_path_buf();
    s
}

fn engine_cfg() -> EngineConfig {
    const SEC: u64 = 1_000_000_000;
    EngineConfig {
        max_lps: 16,
        max_symbols: 64,
        max_cells: 4096,
        max_orders: 1 << 15,
        dedup_window: 1 << 16,
        fill_ring: 1 << 15,
        markout_queue: 1 << 15,
        // Nothing comes due on a timer during a test: rows depend only on the messages.
        horizons_ns: vec![3600 * SEC],
        score_horizon_ns: 3600 * SEC,
        prior_refresh_ns: 0,
        publish_interval_ns: 0,
        ..EngineConfig::default()
    }
}

/// `orders` NewOrderSingles and their ExecutionReports (no market data: W has repeating groups
/// that a dictionary-less QuickFIX would reorder), one message per element.
fn drop_copy(seed: u64, orders: usize) -> Vec<Vec<u8>> {
    let lp = |name: &str, fill: f64, lat: f64, pi: f64| LpTruth {
        name: name.into(),
        full_fill: fill,
        half_fill: 0.1,
        reject: 0.05,
        latency_ns: lat,
        pi_bps: pi,
        impact_bps: 0.5,
    };
    let cfg = SynthConfig {
        lps: vec![
            lp("LP_A", 0.8, 2e6, 0.5),
            lp("LP_B", 0.6, 8e6, -0.2),
            lp("LP_C", 0.7, 4e6, 0.1),
        ],
        symbols: 4,
        orders,
        order_gap_ns: 3_000_000,
        noise_quotes_per_order: 0,
        noise_bps: 2.0,
        half_spread_bps: 2.0,
        start_ns: 1_700_000_000_000_000_000,
        seed,
    };
    generate(&cfg)
        .iter()
        .filter(|(_, ev)| !matches!(ev, OwnedEvent::Quote { .. }))
        .enumerate()
        .map(|(i, (ts, ev))| {
            let mut b = Vec::new();
            fix_bytes(*ts, i as u64 + 1, ev, &mut b);
            b
        })
        .collect()
}

fn write_lines(path: &Path, msgs: &[Vec<u8>]) {
    let mut out = Vec::new();
    for m in msgs {
        out.extend_from_slice(m);
        out.push(b'\n');
    }
    std::fs::write(path, out).unwrap();
}

/// The fields of a message that are not header or trailer (those QuickFIX stamps itself),
/// sorted: two messages are "the same message" when these are equal.
fn body(m: &[u8]) -> Vec<(u32, Vec<u8>)> {
    const STAMPED: [u32; 10] = [8, 9, 10, 34, 43, 49, 52, 56, 97, 122];
    let mut v: Vec<(u32, Vec<u8>)> = m
        .split(|&b| b == 1)
        .filter(|f| !f.is_empty())
        .filter_map(|f| {
            let eq = f.iter().position(|&b| b == b'=')?;
            let tag: u32 = std::str::from_utf8(&f[..eq]).ok()?.parse().ok()?;
            (!STAMPED.contains(&tag)).then(|| (tag, f[eq + 1..].to_vec()))
        })
        .collect();
    v.sort();
    v
}

struct Lp {
    group: HotGroup,
    journal: JournalHandle,
    jdir: PathBuf,
    board: PathBuf,
}

fn start_lpscore(
    backend: Backend,
    sessions: Vec<SessionConfig>,
    scratch: &Scratch,
    tag: &str,
) -> Lp {
    static BOARDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let jdir = scratch.path(&format!("journal-{tag}"));
    let k = BOARDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let board = scratch.path(&format!("board-{tag}-{k}"));
    let (tx, jh) = journal::start(&JournalConfig {
        dir: jdir.clone(),
        durability: DurabilityKind::None,
        ring_bytes: 32 << 20,
        ..JournalConfig::default()
    })
    .expect("journal");
    let b = board.clone();
    let group = spawn_group(
        GroupOptions {
            name: "lpscore-hot-qf".into(),
            backend,
            core: None,
            sessions,
            io: IoConfig {
                max_connections: 8,
                buffers: 64,
                buffer_size: 16384,
                tick_us: 500,
                reconnect_ms: 200,
                ..IoConfig::default()
            },
            idle: IdleConfig {
                enabled: true,
                quiet_us: 300,
                wait_us: 2_000,
            },
            engine: engine_cfg(),
            recovered: None,
        },
        move |c: &EngineConfig| {
            let w =
                lpscore_shm::Writer::create(&b, &writer_options(c)).map_err(|e| e.to_string())?;
            Ok(ShmSink::new(w, c))
        },
        Some(tx),
    )
    .unwrap_or_else(|e| panic!("{backend}: {e}"));
    Lp {
        group,
        journal: jh,
        jdir,
        board,
    }
}

fn wait_stats(
    g: &HotGroup,
    secs: u64,
    what: &str,
    f: impl Fn(&StatsSnapshot) -> bool,
) -> StatsSnapshot {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = g.stats();
        if f(&s) {
            return s;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}: {:#?}", s.sessions);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The application records of session `id` in a journal directory, with every entry (messages
/// of any session, ticks) in journal order.
/// A journal entry: (ts, message (session, seq, bytes) or a tick).
type JEntry = (u64, Option<(u32, u64, Vec<u8>)>);

fn read_journal(dir: &Path) -> Vec<JEntry> {
    let segs: Vec<PathBuf> = journal::list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect();
    let mut v = Vec::new();
    journal::scan_entries(&segs, |_, _, e| match e {
        Entry::Message(r) => v.push((r.ts_ns, Some((r.session, r.seq, r.bytes.to_vec())))),
        Entry::Tick { ts_ns } => v.push((*ts_ns, None)),
        _ => {}
    })
    .expect("journal scan");
    v
}

/// Checks that the journal holds each of `sent` once, in order, for session `id` (MsgSeqNums
/// strictly increasing), and returns the fresh-engine reference: the generated messages fed at
/// the journaled capture times, with the journaled ticks, into a scoreboard at `board`.
fn check_journal_and_replay(
    entries: &[JEntry],
    id: u32,
    sent: &[Vec<u8>],
    board: &Path,
) -> FixFeed<ShmSink> {
    let cfg = engine_cfg();
    let w = lpscore_shm::Writer::create(board, &writer_options(&cfg)).unwrap();
    let mut feed =
        FixFeed::new(lpscore::engine::Engine::new(cfg.clone(), ShmSink::new(w, &cfg)).unwrap());
    let mut k = 0usize;
    let mut last_seq = 0u64;
    for (ts, e) in entries {
        match e {
            None => feed.engine.tick(*ts),
            Some((s, seq, bytes)) if *s == id => {
                assert!(*seq > last_seq, "journal seq {seq} after {last_seq}");
                last_seq = *seq;
                assert!(k < sent.len(), "more journaled messages than sent");
                assert_eq!(
                    body(bytes),
                    body(&sent[k]),
                    "journaled message {k} (MsgSeqNum {seq}) is not the {k}th message sent"
                );
                let _ = feed.on_fix(*ts, id, &sent[k]);
                k += 1;
            }
            Some(_) => {}
        }
    }
    assert_eq!(k, sent.len(), "journaled {k} of {} messages", sent.len());
    feed.engine.flush();
    feed
}

/// Every row word of two scoreboards, compared; returns the rows with data.
fn assert_same_rows(live: &Scoreboard, reference: &Scoreboard) -> usize {
    let mut with_data = 0;
    let mut idx = 0;
    loop {
        match (live.read_words(idx), reference.read_words(idx)) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b, "row {idx} differs between lpscore and a fresh engine");
                if a.iter().any(|&w| w != 0) {
                    with_data += 1;
                }
            }
            (Err(_), Err(_)) => break,
            (a, b) => panic!("row {idx}: {a:?} vs {b:?}"),
        }
        idx += 1;
    }
    with_data
}

fn acceptor_session(id: u32, fix: SessionSettings) -> SessionConfig {
    SessionConfig {
        id,
        listen: Some("127.0.0.1:0".parse().unwrap()),
        connect: None,
        fix: Some(fix),
    }
}

/// Ends a scenario with a QuickFIX initiator sending `msgs` to lpscore: compares the KPIs.
fn finish_and_compare(
    lp: Lp,
    msgs: &[Vec<u8>],
    scratch: &Scratch,
    name: &str,
) -> (StatsSnapshot, lpscore::engine::Counters) {
    let report = lp.group.shutdown();
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.stats.io.journal_refused, 0);
    lp.journal.shutdown().expect("journal shutdown");
    let entries = read_journal(&lp.jdir);
    let refb = scratch.path(&format!("ref-{name}"));
    let feed = check_journal_and_replay(&entries, 1, msgs, &refb);
    let c = *feed.engine.counters();
    assert_eq!(report.engine.orders, c.orders, "orders");
    assert_eq!(report.engine.execs, c.execs, "execution reports");
    assert_eq!(report.engine.duplicate_orders, 0);
    assert_eq!(report.engine.duplicate_execs, 0);
    assert_eq!(report.engine.events, c.events, "engine events");
    let live = Scoreboard::open(&lp.board).unwrap();
    let reference = Scoreboard::open(&refb).unwrap();
    let rows = assert_same_rows(&live, &reference);
    assert!(rows > 3, "only {rows} rows with data");
    drop(feed);
    (report.stats, report.engine)
}

fn scenario_1(backend: Backend) {
    let _g = lock();
    let sc = Scratch::new(&format!("s1-{backend}"));
    let msgs = drop_copy(1, 10_000);
    let file = sc.path("msgs.fix");
    write_lines(&file, &msgs);
    let lp = start_lpscore(
        backend,
        vec![acceptor_session(
            1,
            lp_settings(&sc.path("lp-store"), 30, "QF"),
        )],
        &sc,
        "a",
    );
    let port = lp.group.addr_of(1).unwrap().port();
    let qcfg = sc.path("qf.cfg");
    qf_settings(&qcfg, "initiator", port, &sc.path("qf-store"), 30, "QF");
    let mut qf = Peer::start("initiator", &qcfg);
    qf.expect("logon", 20);
    let n = msgs.len();
    qf.cmd(&format!("send {} 0 {n}", file.display()));
    qf.expect("sent", 60);
    let st = wait_stats(&lp.group, 60, "every message delivered", |s| {
        s.session(1).unwrap().delivered as usize >= n
    });
    qf.cmd("logout");
    qf.expect("logged_out", 20);
    let q = qf.stats();
    qf.quit();
    let s1 = *st.session(1).unwrap();
    let fills = msgs
        .iter()
        .filter(|m| body(m).contains(&(150, b"F".to_vec())))
        .count();
    let (fin, eng) = finish_and_compare(lp, &msgs, &sc, "s1");
    let f1 = fin.session(1).unwrap();
    assert_eq!(f1.delivered as usize, n);
    assert_eq!(f1.logons, 1);
    assert_eq!(q.rej_in, 0, "QuickFIX got Reject(s)");
    assert_eq!(q.lo_in, 1, "lpscore answered the Logout");
    println!(
        "scenario 1 ({backend}): sent {n}, received {}, de-duplicated {}; orders {}, \
         execution reports {} ({fills} fills); lpscore session messages in {}, QuickFIX next_out {}",
        f1.delivered, f1.duplicates, eng.orders, eng.execs, f1.admin, q.next_out
    );
    let _ = s1;
}

#[test]
fn s1_quickfix_initiator_10k_orders_io_uring() {
    scenario_1(Backend::IoUring);
}

#[test]
fn s1_quickfix_initiator_10k_orders_busy_poll() {
    scenario_1(Backend::BusyPoll);
}

#[test]
fn s2_heartbeats_and_test_requests_over_a_quiet_period() {
    let _g = lock();
    let sc = Scratch::new("s2");
    let msgs = drop_copy(2, 50);
    let file = sc.path("msgs.fix");
    write_lines(&file, &msgs);
    let lp = start_lpscore(
        Backend::IoUring,
        vec![acceptor_session(
            1,
            lp_settings(&sc.path("lp-store"), 1, "QF"),
        )],
        &sc,
        "a",
    );
    let port = lp.group.addr_of(1).unwrap().port();
    let qcfg = sc.path("qf.cfg");
    qf_settings(&qcfg, "initiator", port, &sc.path("qf-store"), 1, "QF");
    let mut qf = Peer::start("initiator", &qcfg);
    qf.expect("logon", 20);
    let n = msgs.len();
    qf.cmd(&format!("send {} 0 {n}", file.display()));
    qf.expect("sent", 20);
    wait_stats(&lp.group, 20, "the first messages", |s| {
        s.session(1).unwrap().delivered as usize >= n
    });
    let before = lp.group.stats();
    let q0 = qf.stats();
    // Quiet for more than 3 x HeartBtInt.
    std::thread::sleep(Duration::from_millis(4_500));
    qf.cmd("testreq T1");
    qf.expect("heartbeat T1", 10);
    let q = qf.stats();
    let after = lp.group.stats();
    let (b, a) = (before.session(1).unwrap(), after.session(1).unwrap());
    assert!(q.logged_on, "QuickFIX dropped the session");
    assert_eq!(q.logons, 1, "QuickFIX logged on again");
    assert!(
        q.hb_in - q0.hb_in >= 3,
        "QuickFIX got {} heartbeats from lpscore in 4.5 s (HeartBtInt 1)",
        q.hb_in - q0.hb_in
    );
    assert!(
        a.admin - b.admin >= 3,
        "lpscore got {} session messages in 4.5 s",
        a.admin - b.admin
    );
    assert_eq!(a.logged_on, 1);
    assert_eq!(a.logons, 1);
    assert_eq!(a.session_disconnects, 0);
    assert_eq!(after.io.closed, 0, "a connection was closed");
    qf.cmd("logout");
    qf.expect("logged_out", 20);
    qf.quit();
    let (fin, _) = finish_and_compare(lp, &msgs, &sc, "s2");
    let f = fin.session(1).unwrap();
    println!(
        "scenario 2: sent {n}, received {}, de-duplicated {}; quiet 4.5 s at HeartBtInt 1: \
         heartbeats lpscore->QuickFIX {}, session messages QuickFIX->lpscore {}, TestRequests \
         lpscore->QuickFIX {}, TestRequest QuickFIX->lpscore answered",
        f.delivered,
        f.duplicates,
        q.hb_in - q0.hb_in,
        a.admin - b.admin,
        q.tr_in
    );
}

#[test]
fn s3_connection_cut_mid_stream_gap_filled_by_resend() {
    scenario_3("s3", false);
}

/// As scenario 3 with NextExpectedMsgSeqNum (789) in lpscore's Logons: QuickFIX C++ 1.15 does not
/// implement 789 (QuickFIX/J and /n do), so this proves that a counterparty that ignores it still
/// interoperates, and the gap is still filled by the ResendRequest.
#[test]
fn s3b_with_next_expected_msg_seq_num_in_our_logons() {
    scenario_3("s3b", true);
}

fn scenario_3(name: &str, send_789: bool) {
    let _g = lock();
    let sc = Scratch::new(name);
    let msgs = drop_copy(3, 2_000);
    let file = sc.path("msgs.fix");
    write_lines(&file, &msgs);
    let mut fix = lp_settings(&sc.path("lp-store"), 30, "QF");
    fix.next_expected_msg_seq_num = send_789;
    let lp = start_lpscore(Backend::BusyPoll, vec![acceptor_session(1, fix)], &sc, "a");
    let port = lp.group.addr_of(1).unwrap().port();
    let qcfg = sc.path("qf.cfg");
    qf_settings(&qcfg, "initiator", port, &sc.path("qf-store"), 30, "QF");
    let mut qf = Peer::start("initiator", &qcfg);
    qf.expect("logon", 20);
    let n = msgs.len();
    let (a, b) = (n / 3, 2 * n / 3);
    qf.cmd(&format!("send {} 0 {a}", file.display()));
    qf.expect("sent", 20);
    // Cut at once (the last messages may still be in flight) and keep sending while down.
    qf.cmd("disconnect");
    qf.expect("disconnected", 10);
    qf.cmd(&format!("send {} {a} {b}", file.display()));
    qf.expect("sent", 20);
    // QuickFIX reconnects (ReconnectInterval=1), logs on with a higher MsgSeqNum; lpscore asks
    // for the gap.
    qf.expect("logon", 30);
    qf.cmd(&format!("send {} {b} {n}", file.display()));
    qf.expect("sent", 20);
    wait_stats(&lp.group, 30, "every message delivered", |s| {
        s.session(1).unwrap().delivered as usize >= n
    });
    qf.cmd("logout");
    qf.expect("logged_out", 20);
    let q = qf.stats();
    qf.quit();
    let (fin, eng) = finish_and_compare(lp, &msgs, &sc, name);
    let f = fin.session(1).unwrap();
    assert_eq!(f.delivered as usize, n);
    assert_eq!(f.logons, 2);
    assert!(f.resend_requests >= 1, "no ResendRequest: {f:?}");
    assert!(q.rr_in >= 1, "QuickFIX got no ResendRequest");
    println!(
        "scenario {name}: sent {n} ({} while disconnected), received {}, de-duplicated {}; \
         ResendRequests {}, connections {}, orders {}, execs {}",
        b - a,
        f.delivered,
        f.duplicates,
        f.resend_requests,
        f.connections,
        eng.orders,
        eng.execs
    );
}

#[test]
fn s5_quickfix_acceptor_lpscore_initiator_market_data() {
    let _g = lock();
    let sc = Scratch::new("s5");
    let port = free_port();
    let qcfg = sc.path("qf.cfg");
    qf_settings(&qcfg, "acceptor", port, &sc.path("qf-store"), 30, "QFMD");
    let mut qf = Peer::start("acceptor", &qcfg);
    let lp = start_lpscore(
        Backend::IoUring,
        vec![SessionConfig {
            id: 1,
            listen: None,
            connect: Some(format!("127.0.0.1:{port}").parse().unwrap()),
            fix: Some(lp_settings(&sc.path("lp-store"), 30, "QFMD")),
        }],
        &sc,
        "a",
    );
    qf.expect("logon", 30);
    let n = 3_000u64;
    qf.cmd(&format!("send_w {n}"));
    qf.expect("sent", 30);
    wait_stats(&lp.group, 30, "every snapshot delivered", |s| {
        s.session(1).unwrap().delivered >= n
    });
    // lpscore stops: it logs out, QuickFIX answers, then the group ends.
    let t0 = Instant::now();
    let report = lp.group.shutdown();
    let stop_s = t0.elapsed().as_secs_f64();
    qf.expect("logout", 10);
    let q = qf.stats();
    qf.quit();
    lp.journal.shutdown().expect("journal");
    let f = *report.stats.session(1).unwrap();
    assert_eq!(f.delivered, n);
    assert_eq!(report.engine.quotes, n, "one quote per snapshot");
    assert_eq!(q.lo_in, 1, "QuickFIX got lpscore's Logout");
    assert_eq!(q.rej_in, 0);
    // The journal holds every snapshot once, in MsgSeqNum order.
    let entries = read_journal(&lp.jdir);
    let seqs: Vec<u64> = entries
        .iter()
        .filter_map(|(_, e)| e.as_ref().map(|(_, s, _)| *s))
        .collect();
    assert_eq!(seqs.len() as u64, n);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
    println!(
        "scenario 5: sent {n} W, received {}, de-duplicated {}; quotes scored {}; lpscore's \
         Logout answered, stop took {:.1} ms",
        f.delivered,
        f.duplicates,
        report.engine.quotes,
        stop_s * 1e3
    );
}

/// `lpscore run` with one FIX acceptor session, the journal on, in `sc`.
fn run_config(sc: &Scratch, port: u16) -> PathBuf {
    let p = sc.path("lpscore.toml");
    let text = format!(
        r#"backend = "busy-poll"
scoreboard = "{board}"
[idle]
enabled = true
quiet_us = 300
wait_us = 2000
[io]
tick_us = 500
max_connections = 8
[journal]
enabled = true
dir = "{jdir}"
durability = "none"
[[group]]
sessions = [ {{ id = 1, listen = "127.0.0.1:{port}", fix = {{ sender_comp_id = "LPSCORE", target_comp_id = "QF", heartbeat_s = 30, store_dir = "{store}" }} }} ]
"#,
        board = sc.path("board").display(),
        jdir = sc.path("journal").display(),
        store = sc.path("lp-store").display(),
    );
    std::fs::write(&p, text).unwrap();
    p
}

fn spawn_lpscore(cfg: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_lpscore"))
        .args(["run", "--config"])
        .arg(cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start lpscore run")
}

/// Session 1's message records in the journal directory so far (a torn tail ends the scan).
fn journaled(dir: &Path) -> usize {
    let Ok(segs) = journal::list_segments(dir) else {
        return 0;
    };
    let paths: Vec<PathBuf> = segs.into_iter().map(|s| s.path).collect();
    let mut n = 0;
    let _ = journal::scan_segments(&paths, |_, _, r| {
        if r.session == 1 {
            n += 1;
        }
    });
    n
}

fn wait_journaled(dir: &Path, n: usize, secs: u64, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while journaled(dir) < n {
        if Instant::now() > deadline {
            panic!(
                "journal holds {} of {n} messages after {secs} s; lpscore said:\n{}",
                journaled(dir),
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn s4_lpscore_killed_mid_stream_and_restarted() {
    let _g = lock();
    let sc = Scratch::new("s4");
    let msgs = drop_copy(4, 2_000);
    let n = msgs.len();
    let file = sc.path("msgs.fix");
    write_lines(&file, &msgs);
    let port = free_port();
    let cfg = run_config(&sc, port);
    let log1 = sc.path("lpscore-1.log");
    let mut lp = spawn_lpscore(&cfg, &log1);
    let qcfg = sc.path("qf.cfg");
    qf_settings(&qcfg, "initiator", port, &sc.path("qf-store"), 30, "QF");
    let mut qf = Peer::start("initiator", &qcfg);
    qf.expect("logon", 30);
    let (a, b) = (n / 2, 3 * n / 4);
    qf.cmd(&format!("send {} 0 {a}", file.display()));
    qf.expect("sent", 20);
    // Mid-stream: as soon as the journal holds anything, SIGKILL.
    wait_journaled(&sc.path("journal"), 1, 30, &log1);
    lp.kill().expect("SIGKILL lpscore");
    let _ = lp.wait();
    let before_restart = journaled(&sc.path("journal"));
    // QuickFIX sees the connection drop and keeps sending into its store.
    qf.expect("logout", 30);
    qf.cmd(&format!("send {} {a} {b}", file.display()));
    qf.expect("sent", 20);
    // Restart on the same store and journal: QuickFIX reconnects, the gap is resent.
    let log2 = sc.path("lpscore-2.log");
    let mut lp = spawn_lpscore(&cfg, &log2);
    qf.expect("logon", 30);
    qf.cmd(&format!("send {} {b} {n}", file.display()));
    qf.expect("sent", 20);
    wait_journaled(&sc.path("journal"), n, 30, &log2);
    qf.cmd("logout");
    qf.expect("logged_out", 20);
    let q = qf.stats();
    qf.quit();
    // Clean stop (SIGTERM): journal flushed.
    let st = Command::new("kill")
        .args(["-TERM", &lp.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(c) = lp.try_wait().unwrap() {
            break c;
        }
        if Instant::now() > deadline {
            let _ = lp.kill();
            panic!("lpscore did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        code.success(),
        "lpscore run exited with {code}:\n{}",
        std::fs::read_to_string(&log2).unwrap_or_default()
    );
    // Every message once, in order, across both runs; the KPIs of exactly the messages sent.
    let entries = read_journal(&sc.path("journal"));
    let feed = check_journal_and_replay(&entries, 1, &msgs, &sc.path("ref"));
    let c = *feed.engine.counters();
    let orders = msgs
        .iter()
        .filter(|m| body(m).contains(&(35, b"D".to_vec())))
        .count();
    assert_eq!(c.orders as usize, orders);
    assert_eq!(c.execs as usize, n - orders);
    assert_eq!((c.duplicate_orders, c.duplicate_execs), (0, 0));
    assert!(
        q.rr_in >= 1,
        "QuickFIX got no ResendRequest after the restart"
    );
    let log = std::fs::read_to_string(&log2).unwrap_or_default();
    let resumed = log.contains("ahead of the journal");
    println!(
        "scenario 4: sent {n} ({} while lpscore was down), journaled {n} exactly once across the \
         kill ({before_restart} before the restart; store ahead of the journal at restart: \
         {resumed}), ResendRequests answered by QuickFIX {}; orders {}, execs {}",
        b - a,
        q.rr_in,
        c.orders,
        c.execs
    );
}

/// The journal lost its tail (here: cut at a record boundary) while the sequence store had moved
/// on: the restarted group resumes inbound at the journal's last MsgSeqNum + 1 and QuickFIX
/// resends the rest, so the journal ends with every message once.
#[test]
fn s4b_store_ahead_of_the_journal_resumes_from_the_journal() {
    let _g = lock();
    let sc = Scratch::new("s4b");
    let msgs = drop_copy(5, 1_000);
    let n = msgs.len();
    let file = sc.path("msgs.fix");
    write_lines(&file, &msgs);
    let fix = lp_settings(&sc.path("lp-store"), 30, "QF");
    let lp = start_lpscore(
        Backend::IoUring,
        vec![acceptor_session(1, fix.clone())],
        &sc,
        "a",
    );
    let addr = lp.group.addr_of(1).unwrap();
    let qcfg = sc.path("qf.cfg");
    qf_settings(
        &qcfg,
        "initiator",
        addr.port(),
        &sc.path("qf-store"),
        30,
        "QF",
    );
    let mut qf = Peer::start("initiator", &qcfg);
    qf.expect("logon", 20);
    qf.cmd(&format!("send {} 0 {n}", file.display()));
    qf.expect("sent", 30);
    wait_stats(&lp.group, 30, "every message delivered", |s| {
        s.session(1).unwrap().delivered as usize >= n
    });
    let first = lp.group.shutdown();
    qf.expect("logout", 10);
    lp.journal.shutdown().expect("journal");
    // Cut the journal after `keep` application messages (a record boundary).
    let keep = n / 2;
    let segs: Vec<PathBuf> = journal::list_segments(&lp.jdir)
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect();
    let mut cut = None;
    let mut k = 0;
    journal::scan_segments(&segs, |p, off, r| {
        if r.session == 1 {
            if k == keep && cut.is_none() {
                cut = Some((p.to_path_buf(), off));
            }
            k += 1;
        }
    })
    .unwrap();
    let (seg, off) = cut.expect("cut point");
    for later in segs.iter().filter(|p| **p > seg) {
        std::fs::remove_file(later).unwrap();
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(off)
        .unwrap();
    // Restart on the same port, store and journal (the old ring's teardown, which holds the
    // listener, finishes asynchronously in the kernel: wait until the port is free).
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpListener::bind(addr).is_err() {
        assert!(Instant::now() < deadline, "{addr} stays in use");
        std::thread::sleep(Duration::from_millis(20));
    }
    let lp = start_lpscore(
        Backend::IoUring,
        vec![SessionConfig {
            id: 1,
            listen: Some(addr),
            connect: None,
            fix: Some(fix),
        }],
        &sc,
        "a",
    );
    let resumed = lp.group.stats();
    qf.expect("logon", 30);
    let st = wait_stats(&lp.group, 30, "the resent tail", |s| {
        s.session(1).unwrap().delivered as usize >= n - keep
    });
    qf.cmd("logout");
    qf.expect("logged_out", 20);
    let q = qf.stats();
    qf.quit();
    let report = lp.group.shutdown();
    lp.journal.shutdown().expect("journal");
    let entries = read_journal(&lp.jdir);
    let feed = check_journal_and_replay(&entries, 1, &msgs, &sc.path("ref"));
    let c = *feed.engine.counters();
    let s1 = report.stats.session(1).unwrap();
    assert_eq!(
        resumed.session(1).unwrap().next_in,
        keep as u64 + 2,
        "resumed at the journal's last MsgSeqNum + 1 (the Logon was 1)"
    );
    assert_eq!(s1.delivered as usize, n - keep);
    assert!(s1.resend_requests >= 1 && q.rr_in >= 1);
    assert_eq!((c.duplicate_orders, c.duplicate_execs), (0, 0));
    println!(
        "scenario 4b: sent {n}; first run received {}, journal cut to {keep}; restart resumed at \
         MsgSeqNum {} (store said {}), received {} by resend, de-duplicated {}; journal holds \
         {n} exactly once; orders {}, execs {}",
        first.stats.session(1).unwrap().delivered,
        keep + 2,
        first.stats.session(1).unwrap().next_in,
        s1.delivered,
        s1.duplicates,
        c.orders,
        c.execs
    );
    let _ = st;
}
