//! Crash test over a real FIX session: a scripted drop-copy session of more than 100 000
//! application messages (orders, executions, market data) sent by a FIX initiator written here
//! to `lpscore run` (an acceptor session with `fix = {..}` settings, journal on, durability
//! "group", snapshots every few thousand entries), SIGKILLed at 20 seeded random points and
//! restarted each time.
//!
//! The driver behaves as a FIX counterparty (QuickFIX-like) and nothing else: it numbers every
//! message it sends and keeps them all; while lpscore is down it keeps "sending" part of the
//! script into its store (as QuickFIX does when the connection is gone); after each restart it
//! logs on with its next MsgSeqNum and answers lpscore's ResendRequest by resending the range with
//! PossDupFlag=Y and OrigSendingTime (admin messages as SequenceReset-GapFill). It is never told
//! where lpscore's journal ends: the session protocol is the only recovery mechanism (lpscore's
//! sequence store capped to the journal's last MsgSeqNum + 1 on start, then the ResendRequest).
//! A TestRequest sent right after each Logon is answered only once lpscore has consumed every
//! number below it, i.e. once the resend is complete: its answer marks "caught up".
//!
//! At the end:
//! * the journal holds every application message exactly once, in MsgSeqNum order, each with the
//!   number the driver gave it and the script's body (nothing lost, nothing twice);
//! * the live scoreboard's dump (`lpscore dump --format csv --buckets`) after a clean Logout and
//!   SIGTERM equals `lpscore replay --dump csv` of the journal (the uninterrupted run on the same
//!   input and capture timestamps; see tests/crash_recovery.rs for why the replay is the
//!   reference).
//!
//! The harness reads the journal only to pick kill moments (after part of a batch reached it) and
//! for the final checks; the driver never uses it.
//!
//! Two smaller tests make the crash window between the sequence store write and the journal write
//! deterministic (journal cut behind the store after a SIGKILL): with part of the session in the
//! journal the resend recovers the rest, and also with nothing of the session in the journal
//! (the journal ran before, so it journaled none of the session: resume at 1).
#![allow(clippy::disallowed_methods)] // test harness: wall-clock deadlines and SendingTime

#[path = "common/ansi.rs"]
mod ansi;
#[path = "common/crash.rs"]
mod common;
use ansi::strip_ansi;
use common::{BIN, Rng, signal};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lpscore::fix::num::write_timestamp;
use lpscore::journal::{list_segments, scan_segments};

const KILLS: usize = 20;
/// Our SenderCompID (lpscore's target_comp_id) and lpscore's.
const US: &str = "DRIVER";
const THEM: &str = "LPSCORE";
/// Messages per socket write while streaming the script.
const BATCH: usize = 256;

/// One script message without its session header: MsgType and the fields after the header.
struct Scripted {
    msg_type: Vec<u8>,
    rest: Vec<u8>,
}

/// Header and trailer fields: stamped by the session, not part of a message's identity.
const STAMPED: [&[u8]; 9] = [b"8", b"9", b"10", b"34", b"43", b"49", b"52", b"56", b"122"];

/// Splits `m` into MsgType and the non-header fields, in order.
fn strip_header(m: &[u8]) -> Scripted {
    let mut msg_type = Vec::new();
    let mut rest = Vec::new();
    for f in m.split(|&b| b == 1).filter(|f| !f.is_empty()) {
        let eq = f.iter().position(|&b| b == b'=').expect("tag=value");
        let (tag, val) = (&f[..eq], &f[eq + 1..]);
        if tag == b"35" {
            msg_type = val.to_vec();
        } else if !STAMPED.contains(&tag) {
            rest.extend_from_slice(f);
            rest.push(1);
        }
    }
    assert!(!msg_type.is_empty(), "no MsgType");
    Scripted { msg_type, rest }
}

/// The same drop copy as tests/crash_recovery.rs (126 696 messages, 5 LPs, 8 symbols).
fn script() -> Vec<Scripted> {
    common::drop_copy()
        .iter()
        .map(|b| strip_header(b))
        .collect()
}

/// Real UTC in ns, rounded to the millisecond (FIX.4.4 UTCTimestamp precision).
fn utc_ms_ns() -> u64 {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    ns / 1_000_000 * 1_000_000
}

/// Appends one FIX.4.4 message from us to lpscore: header, `fields` (after the header), BodyLength
/// and CheckSum. `orig_ns`: a resend (PossDupFlag=Y, OrigSendingTime).
fn frame(out: &mut Vec<u8>, msg_type: &[u8], seq: u64, orig_ns: Option<u64>, fields: &[u8]) {
    let mut body = Vec::with_capacity(fields.len() + 96);
    body.extend_from_slice(b"35=");
    body.extend_from_slice(msg_type);
    body.extend_from_slice(format!("\x0149={US}\x0156={THEM}\x0134={seq}\x01").as_bytes());
    if orig_ns.is_some() {
        body.extend_from_slice(b"43=Y\x01");
    }
    body.extend_from_slice(b"52=");
    write_timestamp(&mut body, utc_ms_ns() as i64);
    body.push(1);
    if let Some(o) = orig_ns {
        body.extend_from_slice(b"122=");
        write_timestamp(&mut body, o as i64);
        body.push(1);
    }
    body.extend_from_slice(fields);
    let start = out.len();
    out.extend_from_slice(format!("8=FIX.4.4\x019={}\x01", body.len()).as_bytes());
    out.extend_from_slice(&body);
    let sum = out[start..].iter().map(|&b| u32::from(b)).sum::<u32>() % 256;
    out.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
}

/// Fields of an inbound message, by tag (first occurrence).
type Fields = BTreeMap<u32, String>;

fn parse(m: &[u8]) -> Fields {
    let mut f = BTreeMap::new();
    for kv in m.split(|&b| b == 1).filter(|f| !f.is_empty()) {
        let s = String::from_utf8_lossy(kv);
        if let Some((t, v)) = s.split_once('=')
            && let Ok(t) = t.parse()
        {
            f.entry(t).or_insert_with(|| v.to_string());
        }
    }
    f
}

/// Whole messages at the front of `buf` (by BodyLength), removed from it.
fn split_messages(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    // "8=FIX.4.4\x019=NNN\x01"
    while let Some(p9) = buf.windows(3).position(|w| w == b"\x019=") {
        let Some(end9) = buf[p9 + 3..].iter().position(|&b| b == 1) else {
            break;
        };
        let len: usize = std::str::from_utf8(&buf[p9 + 3..p9 + 3 + end9])
            .expect("BodyLength")
            .parse()
            .expect("BodyLength");
        let total = p9 + 3 + end9 + 1 + len + 7; // + "10=NNN\x01"
        if buf.len() < total {
            break;
        }
        out.push(buf.drain(..total).collect());
    }
    out
}

/// A connection to lpscore: a reader thread parses what lpscore sends.
struct Conn {
    stream: TcpStream,
    rx: mpsc::Receiver<Fields>,
}

impl Conn {
    fn connect(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut r = stream.try_clone().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = vec![0u8; 65536];
            loop {
                match r.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                for m in split_messages(&mut buf) {
                    if tx.send(parse(&m)).is_err() {
                        return;
                    }
                }
            }
        });
        Conn { stream, rx }
    }
}

/// What the driver sent under each MsgSeqNum (index seq - 1).
#[derive(Clone, Copy)]
enum Sent {
    /// Script message `idx`, first sent at `at_ns`.
    App { idx: usize, at_ns: u64 },
    /// A session message (Logon, TestRequest, Heartbeat, Logout): resent as a GapFill.
    Admin { at_ns: u64 },
}

#[derive(Default, Debug)]
struct Figures {
    /// Application messages sent for the first time (over the socket or into the store).
    sent: usize,
    /// Of those, "sent" while lpscore was down (into the store only).
    sent_while_down: usize,
    /// Application messages resent (PossDupFlag=Y) because a ResendRequest asked for them.
    resent: usize,
    /// SequenceReset-GapFill messages sent for admin numbers in a resent range.
    gap_fills: usize,
    /// ResendRequests received from lpscore.
    resend_requests: usize,
    /// ResendRequests we sent lpscore (its outbound numbers skipped one after a kill).
    our_resend_requests: usize,
    /// TestRequests from lpscore answered.
    test_requests: usize,
    /// Heartbeats received from lpscore.
    heartbeats: usize,
}

struct Driver<'a> {
    script: &'a [Scripted],
    sent: Vec<Sent>,
    /// Next script message to send for the first time.
    next_app: usize,
    /// Next MsgSeqNum expected from lpscore.
    next_in: u64,
    fig: Figures,
    /// Logon answered, TestRequest IDs answered, Logout received (this connection).
    logged_on: bool,
    answered: Vec<String>,
    logout: Option<String>,
    /// Answer a ResendRequest twice (a clumsy counterparty: lpscore must drop the second copy).
    resend_twice: bool,
    /// TestRequests sent and not answered yet: (MsgSeqNum, TestReqID).
    pending_tr: Vec<(u64, String)>,
    /// Figures of this connection.
    rr_this_run: usize,
}

impl<'a> Driver<'a> {
    fn new(script: &'a [Scripted]) -> Self {
        Driver {
            script,
            sent: Vec::new(),
            next_app: 0,
            next_in: 1,
            fig: Figures::default(),
            logged_on: false,
            answered: Vec::new(),
            logout: None,
            resend_twice: false,
            pending_tr: Vec::new(),
            rr_this_run: 0,
        }
    }

    /// Forgets the state of the previous connection.
    fn new_connection(&mut self) {
        self.logged_on = false;
        self.logout = None;
        self.pending_tr.clear();
        self.rr_this_run = 0;
    }

    fn next_out(&self) -> u64 {
        self.sent.len() as u64 + 1
    }

    fn admin(&mut self, out: &mut Vec<u8>, msg_type: &[u8], fields: &[u8]) {
        let at_ns = utc_ms_ns();
        frame(out, msg_type, self.next_out(), None, fields);
        self.sent.push(Sent::Admin { at_ns });
    }

    /// Appends the next `n` script messages to `out` (numbered and kept).
    fn app(&mut self, out: &mut Vec<u8>, n: usize) {
        let end = (self.next_app + n).min(self.script.len());
        for idx in self.next_app..end {
            let s = &self.script[idx];
            let at_ns = utc_ms_ns();
            frame(out, &s.msg_type, self.next_out(), None, &s.rest);
            self.sent.push(Sent::App { idx, at_ns });
        }
        self.fig.sent += end - self.next_app;
        self.next_app = end;
    }

    /// Answers ResendRequest(begin, end) as QuickFIX does: application messages again with
    /// PossDupFlag=Y and OrigSendingTime, runs of admin numbers as one SequenceReset-GapFill.
    fn resend(&mut self, out: &mut Vec<u8>, begin: u64, end: u64) {
        let last = self.next_out() - 1;
        let end = if end == 0 || end > last { last } else { end };
        let mut seq = begin.max(1);
        while seq <= end {
            match self.sent[seq as usize - 1] {
                Sent::App { idx, at_ns } => {
                    let s = &self.script[idx];
                    frame(out, &s.msg_type, seq, Some(at_ns), &s.rest);
                    self.fig.resent += 1;
                    seq += 1;
                }
                Sent::Admin { at_ns } => {
                    let mut to = seq + 1;
                    while to <= end && matches!(self.sent[to as usize - 1], Sent::Admin { .. }) {
                        to += 1;
                    }
                    frame(
                        out,
                        b"4",
                        seq,
                        Some(at_ns),
                        format!("123=Y\x0136={to}\x01").as_bytes(),
                    );
                    self.fig.gap_fills += 1;
                    seq = to;
                }
            }
        }
        // A TestRequest inside the range was just gap-filled, never to be answered: ask again
        // (QuickFIX would, one heartbeat interval later).
        let again: Vec<String> = self
            .pending_tr
            .iter()
            .filter(|(s, _)| (begin..=end).contains(s))
            .map(|(_, id)| id.clone())
            .collect();
        for id in again {
            self.pending_tr.retain(|(_, i)| *i != id);
            self.test_request_into(out, &id);
        }
    }

    /// Handles what lpscore sent so far (waiting up to `wait` for the first message); writes
    /// the answers. Returns false when the connection is gone.
    fn service(&mut self, c: &mut Conn, wait: Duration) -> bool {
        let mut out = Vec::new();
        let mut first = Some(wait);
        loop {
            let m = match first.take() {
                Some(w) if !w.is_zero() => c.rx.recv_timeout(w).map_err(|e| match e {
                    mpsc::RecvTimeoutError::Timeout => mpsc::TryRecvError::Empty,
                    mpsc::RecvTimeoutError::Disconnected => mpsc::TryRecvError::Disconnected,
                }),
                _ => c.rx.try_recv(),
            };
            let m = match m {
                Ok(m) => m,
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.flush(c, &out);
                    return false;
                }
            };
            let get = |t: u32| m.get(&t).map(String::as_str).unwrap_or("");
            let seq: u64 = get(34).parse().expect("MsgSeqNum from lpscore");
            let mt = get(35).to_string();
            assert_eq!((get(49), get(56)), (THEM, US), "CompIDs: {m:?}");
            // Their numbers: a gap (lpscore persisted a number it never sent before a kill) is
            // asked for once, as any FIX engine would; a number too low is a protocol error.
            let poss_dup = get(43) == "Y";
            if seq < self.next_in && !poss_dup && mt != "4" {
                panic!(
                    "lpscore's MsgSeqNum too low: expected {}, got {m:?}",
                    self.next_in
                );
            }
            if seq > self.next_in && mt != "4" && mt != "5" {
                let from = self.next_in;
                self.admin(&mut out, b"2", format!("7={from}\x0116=0\x01").as_bytes());
                self.fig.our_resend_requests += 1;
                // Their admin messages are not resent: the GapFill moves `next_in` up.
            }
            match mt.as_str() {
                "4" => {
                    let new: u64 = get(36).parse().expect("NewSeqNo");
                    self.next_in = self.next_in.max(new);
                    continue;
                }
                "A" => self.logged_on = true,
                "2" => {
                    let b: u64 = get(7).parse().unwrap();
                    let e: u64 = get(16).parse().unwrap();
                    self.fig.resend_requests += 1;
                    self.rr_this_run += 1;
                    self.resend(&mut out, b, e);
                    if self.resend_twice {
                        self.resend(&mut out, b, e);
                    }
                }
                "1" => {
                    let id = get(112).to_string();
                    self.admin(&mut out, b"0", format!("112={id}\x01").as_bytes());
                    self.fig.test_requests += 1;
                }
                "0" => {
                    self.fig.heartbeats += 1;
                    if !get(112).is_empty() {
                        self.pending_tr.retain(|(_, i)| i != get(112));
                        self.answered.push(get(112).to_string());
                    }
                }
                "5" => self.logout = Some(get(58).to_string()),
                "3" => panic!("lpscore rejected one of our messages: {m:?}"),
                _ => panic!("unexpected message from lpscore: {m:?}"),
            }
            if seq >= self.next_in {
                self.next_in = seq + 1;
            }
        }
        self.flush(c, &out)
    }

    fn flush(&self, c: &mut Conn, out: &[u8]) -> bool {
        out.is_empty() || c.stream.write_all(out).is_ok()
    }

    /// Sends a TestRequest with ID `id`.
    fn test_request(&mut self, c: &mut Conn, id: &str) {
        let mut out = Vec::new();
        self.test_request_into(&mut out, id);
        c.stream.write_all(&out).unwrap();
    }

    fn test_request_into(&mut self, out: &mut Vec<u8>, id: &str) {
        self.pending_tr.push((self.next_out(), id.to_string()));
        self.admin(out, b"1", format!("112={id}\x01").as_bytes());
    }

    /// Services the connection until `done(self)` or `secs` pass (panics with lpscore's log).
    fn until(
        &mut self,
        c: &mut Conn,
        run: &mut Run,
        secs: u64,
        what: &str,
        mut done: impl FnMut(&Self) -> bool,
    ) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !done(self) {
            let alive = self.service(c, Duration::from_millis(5));
            if let Some(r) = &self.logout {
                panic!("lpscore logged out ({r}) while {what}:\n{}", run.log_text());
            }
            if !alive || Instant::now() > deadline {
                panic!(
                    "{what}: {} (connection alive: {alive}):\n{}",
                    if alive {
                        "timed out"
                    } else {
                        "connection lost"
                    },
                    run.log_text()
                );
            }
        }
    }
}

/// A running appliance: its port and every stderr line so far.
struct Run {
    child: Child,
    port: u16,
    lines: Vec<String>,
    log: mpsc::Receiver<String>,
}

/// A failed assertion must not leave the appliance running (std knows when `child` was already
/// reaped and then sends nothing).
impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Run {
    fn drain(&mut self) {
        self.lines.extend(self.log.try_iter());
    }
    fn log_text(&mut self) -> String {
        self.drain();
        self.lines.join("\n")
    }
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
    let mut lines = Vec::new();
    loop {
        let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no listening line from lpscore run:\n{}", lines.join("\n"));
        };
        lines.push(line.clone());
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
                lines,
                log: rx,
            };
        }
    }
}

/// Session 1's message records in the journal (a record being written is not counted yet).
fn journaled(jdir: &Path) -> Vec<(u64, Vec<u8>)> {
    let paths: Vec<PathBuf> = list_segments(jdir)
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.path)
        .collect();
    let mut v = Vec::new();
    // A torn tail (a write in progress) is reported, not an error.
    let _ = scan_segments(&paths, |_, _, r| {
        if r.session == 1 {
            v.push((r.seq, r.bytes.to_vec()));
        }
    });
    v
}

fn journaled_count(jdir: &Path) -> usize {
    let paths: Vec<PathBuf> = list_segments(jdir)
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.path)
        .collect();
    let mut n = 0;
    let _ = scan_segments(&paths, |_, _, r| n += usize::from(r.session == 1));
    n
}

/// One restart's figures, from the driver and from lpscore's log.
struct Restart {
    /// lpscore's "engine recovered in X ms: ..." line.
    engine: String,
    /// The session resumed inbound from the journal (store ahead of it): "store S journal J".
    resumed: Option<String>,
    /// Application messages the driver had sent that lpscore's journal lacked at restart.
    missing: usize,
    /// ResendRequests this run, and the application messages resent for them.
    rrs: usize,
    resent: usize,
    /// The resend was sent twice this run.
    twice: bool,
    /// Spawn to Logon answer, spawn to the TestRequest answer (resend complete).
    logon: Duration,
    caught_up: Duration,
}

#[test]
fn sigkill_at_20_points_fix_session_resend_recovers_everything() {
    let script = script();
    let total = script.len();
    assert!(total >= 100_000, "{total} messages");
    let dir = std::env::temp_dir().join(format!("lpscore-crash-fix-{}", std::process::id()));
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
             [[group]]\nsessions = [ {{ id = 1, listen = \"127.0.0.1:0\", fix = {{ \
             sender_comp_id = \"{THEM}\", target_comp_id = \"{US}\", heartbeat_s = 30, \
             store_dir = \"{}\" }} }} ]\n\
             [engine]\npublish_interval_ns = 0\n",
            board.display(),
            jdir.display(),
            dir.join("seqs").display(),
        ),
    )
    .unwrap();
    let mut rng = Rng(0x5eed_c0ff_ee15_1234);
    let mut points: Vec<usize> = (0..KILLS)
        .map(|_| 1 + rng.next() as usize % (total - 1))
        .collect();
    points.sort_unstable();
    let t0 = Instant::now();
    let mut d = Driver::new(&script);
    let mut restarts: Vec<Restart> = Vec::new();
    for (k, &p) in points.iter().chain(std::iter::once(&total)).enumerate() {
        if k > 0 {
            // lpscore is down: the counterparty goes on "sending" into its store.
            let n = (rng.next() % 400) as usize;
            let before = d.next_app;
            d.app(&mut Vec::new(), n);
            d.fig.sent_while_down += d.next_app - before;
        }
        let j0 = journaled_count(&jdir);
        let resent0 = d.fig.resent;
        let spawned = Instant::now();
        let mut run = start(&cfg);
        let mut c = Conn::connect(run.port);
        d.new_connection();
        // Every seventh restart the resend comes twice: the second copy must be dropped.
        d.resend_twice = k % 7 == 3;
        let mut out = Vec::new();
        d.admin(&mut out, b"A", b"98=0\x01108=30\x01");
        c.stream.write_all(&out).unwrap();
        d.until(&mut c, &mut run, 30, "waiting for the Logon answer", |d| {
            d.logged_on
        });
        let logon = spawned.elapsed();
        let id = format!("caught-up-{k}");
        d.test_request(&mut c, &id);
        d.until(&mut c, &mut run, 60, "waiting for the resend to end", |d| {
            d.answered.contains(&id)
        });
        let caught_up = spawned.elapsed();
        // What the journal lacks (sent before the kill but lost, or sent while lpscore was
        // down) can only come back by a ResendRequest, answered before the TestRequest is.
        let missing = d.next_app - j0;
        assert!(
            missing == 0 || d.rr_this_run > 0,
            "run {k}: the journal lacks {missing} messages and lpscore asked for nothing:\n{}",
            run.log_text()
        );
        // The script up to the kill point, in batches, answering lpscore in between.
        let to = p.max(d.next_app);
        while d.next_app < to {
            let mut out = Vec::new();
            d.app(&mut out, BATCH.min(to - d.next_app));
            c.stream.write_all(&out).unwrap();
            assert!(d.service(&mut c, Duration::ZERO), "{}", run.log_text());
            if let Some(r) = &d.logout {
                panic!("lpscore logged out: {r}\n{}", run.log_text());
            }
        }
        if k < KILLS {
            // Let some of it reach the journal, then kill at a random moment (some messages
            // still in flight: in the socket, the ring, the gap queue or the write buffer).
            let target = j0 + (d.next_app - j0) / 2;
            let deadline = Instant::now() + Duration::from_secs(60);
            while journaled_count(&jdir) < target {
                assert!(d.service(&mut c, Duration::from_millis(10)));
                assert!(
                    Instant::now() < deadline,
                    "journal stuck:\n{}",
                    run.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(rng.next() % 20));
            signal(&run.child, libc::SIGKILL);
            run.child.wait().unwrap();
        } else {
            let id = "final".to_string();
            d.test_request(&mut c, &id);
            d.until(
                &mut c,
                &mut run,
                60,
                "waiting for the final TestRequest",
                |d| d.answered.contains(&id),
            );
            let deadline = Instant::now() + Duration::from_secs(60);
            while journaled_count(&jdir) < total {
                assert!(d.service(&mut c, Duration::from_millis(10)));
                assert!(
                    Instant::now() < deadline,
                    "the final run did not journal everything:\n{}",
                    run.log_text()
                );
            }
            let mut out = Vec::new();
            d.admin(&mut out, b"5", b"");
            c.stream.write_all(&out).unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            while d.logout.is_none() {
                d.service(&mut c, Duration::from_millis(10));
                assert!(Instant::now() < deadline, "no Logout answer");
            }
            signal(&run.child, libc::SIGTERM);
            let st = run.child.wait().unwrap();
            let log = run.log_text();
            assert!(st.success(), "{st:?}\n{log}");
        }
        drop(c);
        run.drain();
        let engine = run
            .lines
            .iter()
            .find(|l| l.contains("engine recovered in"))
            .cloned()
            .unwrap_or_default();
        let resumed = run
            .lines
            .iter()
            .find(|l| l.contains("resuming inbound sequence from the journal"))
            .map(|l| {
                let kv = |key: &str| {
                    l.split_whitespace()
                        .find_map(|w| w.strip_prefix(key))
                        .unwrap_or("?")
                        .to_string()
                };
                format!("store {} journal {}", kv("store="), kv("journal="))
            });
        // Every message the journal lacked at this restart came back by a resend.
        assert!(
            d.fig.resent - resent0 >= missing,
            "run {k}: resent {} < lacked {missing}",
            d.fig.resent - resent0
        );
        restarts.push(Restart {
            engine,
            resumed,
            missing,
            rrs: d.rr_this_run,
            resent: d.fig.resent - resent0,
            twice: d.resend_twice,
            logon,
            caught_up,
        });
    }
    let elapsed = t0.elapsed();

    // The journal holds the script exactly: in MsgSeqNum order, each message once, with the
    // number the driver gave it and the script's body.
    let j = journaled(&jdir);
    let seq_of: Vec<u64> = {
        let mut v = vec![0; total];
        for (i, s) in d.sent.iter().enumerate() {
            if let Sent::App { idx, .. } = s {
                v[*idx] = i as u64 + 1;
            }
        }
        v
    };
    assert_eq!(j.len(), total, "journal records of session 1");
    let mut possdup = 0;
    for (idx, (seq, bytes)) in j.iter().enumerate() {
        assert_eq!(*seq, seq_of[idx], "record {idx}: MsgSeqNum");
        let f = parse(bytes);
        assert_eq!(
            f.get(&34).map(String::as_str),
            Some(seq.to_string().as_str())
        );
        possdup += usize::from(f.get(&43).is_some_and(|v| v == "Y"));
        let s = strip_header(bytes);
        assert!(
            s.msg_type == script[idx].msg_type && s.rest == script[idx].rest,
            "record {idx} (seq {seq}) differs from the script"
        );
    }

    // The live rows after 20 crashes == the rows of an uninterrupted run (the replay).
    let compared = common::assert_live_equals_replay(&board, &cfg, &jdir);
    let f = &d.fig;
    assert_eq!(f.sent, total);
    let lacked: usize = restarts.iter().map(|r| r.missing).sum();
    assert!(possdup <= f.resent);
    eprintln!(
        "crash test (FIX session): {total} application messages, {KILLS} SIGKILLs, {} MsgSeqNums \
         used; sent {} ({} into the store while lpscore was down); the journal lacked {lacked} \
         at the restarts, lpscore sent {} ResendRequests and got {} application messages resent \
         (PossDupFlag=Y) + {} GapFills; resent messages not journaled (dropped as duplicates): \
         {}; our ResendRequests to lpscore {}, its TestRequests {}, its Heartbeats {}; journal \
         {} records, {possdup} of them resends; {compared} rows equal; {:.1} s",
        d.sent.len(),
        f.sent,
        f.sent_while_down,
        f.resend_requests,
        f.resent,
        f.gap_fills,
        f.resent - possdup,
        f.our_resend_requests,
        f.test_requests,
        f.heartbeats,
        j.len(),
        elapsed.as_secs_f64()
    );
    for (k, r) in restarts.iter().enumerate() {
        eprintln!(
            "  run {k:2}: logon {:6.1} ms, caught up {:6.1} ms; journal lacked {:5}, \
             ResendRequests {}, resent {:5}{}; store capped to the journal: {}; {}",
            r.logon.as_secs_f64() * 1e3,
            r.caught_up.as_secs_f64() * 1e3,
            r.missing,
            r.rrs,
            r.resent,
            if r.twice { " (twice)" } else { "" },
            r.resumed.as_deref().unwrap_or("no"),
            r.engine.trim_start_matches("lpscore run: ")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A SIGKILL between the sequence store write and the journal write of the same messages (the
/// store is written before `deliver`, the journal thread writes a moment later): lpscore's store
/// says the next number is 53 while the journal holds only the first `keep` of the 50 messages
/// numbered 2..=51. The state such a kill leaves on disk is made here deterministically: the
/// run ends by SIGKILL after everything was journaled, then the segment is cut right after the
/// first `keep` records of the session (what the journal thread had written when it died). On
/// restart the counterparty logs on with 53 and must be asked to resend what the journal lacks.
fn journal_behind_the_store(keep: usize) {
    let script = script();
    let dir = std::env::temp_dir().join(format!(
        "lpscore-crash-fix-tail{keep}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let jdir = dir.join("journal");
    let cfg = dir.join("run.toml");
    std::fs::write(
        &cfg,
        format!(
            "backend = \"busy-poll\"\nscoreboard = \"{}\"\n[idle]\nenabled = true\n\
             [journal]\nenabled = true\ndir = \"{}\"\ndurability = \"group\"\n\
             [[group]]\nsessions = [ {{ id = 1, listen = \"127.0.0.1:0\", fix = {{ \
             sender_comp_id = \"{THEM}\", target_comp_id = \"{US}\", heartbeat_s = 30, \
             store_dir = \"{}\" }} }} ]\n",
            dir.join("board.sb").display(),
            jdir.display(),
            dir.join("seqs").display(),
        ),
    )
    .unwrap();
    let n = 50;
    let mut d = Driver::new(&script[..n]);
    let mut rrs = Vec::new();
    for run_no in 0..2 {
        let mut run = start(&cfg);
        let mut c = Conn::connect(run.port);
        d.new_connection();
        let mut out = Vec::new();
        d.admin(&mut out, b"A", b"98=0\x01108=30\x01");
        d.app(&mut out, n);
        c.stream.write_all(&out).unwrap();
        let id = format!("caught-up-{run_no}");
        d.test_request(&mut c, &id);
        d.until(
            &mut c,
            &mut run,
            30,
            "waiting for the TestRequest answer",
            |d| d.answered.contains(&id),
        );
        rrs.push(d.rr_this_run);
        if run_no == 0 {
            // Everything consumed (store: next 53) and journaled; then the crash.
            let deadline = Instant::now() + Duration::from_secs(30);
            while journaled_count(&jdir) < n {
                assert!(Instant::now() < deadline, "{}", run.log_text());
                std::thread::sleep(Duration::from_millis(10));
            }
            signal(&run.child, libc::SIGKILL);
            run.child.wait().unwrap();
            let mut cut = None;
            let mut seen = 0;
            let paths: Vec<PathBuf> = list_segments(&jdir)
                .unwrap()
                .into_iter()
                .map(|s| s.path)
                .collect();
            scan_segments(&paths, |p, off, r| {
                if r.session == 1 {
                    if seen == keep && cut.is_none() {
                        cut = Some((p.to_path_buf(), off));
                    }
                    seen += 1;
                }
            })
            .unwrap();
            let (p, off) = cut.unwrap();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&p)
                .unwrap()
                .set_len(off)
                .unwrap();
            assert_eq!(journaled_count(&jdir), keep);
        } else {
            let mut out = Vec::new();
            d.admin(&mut out, b"5", b"");
            c.stream.write_all(&out).unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            while d.logout.is_none() {
                d.service(&mut c, Duration::from_millis(10));
                assert!(Instant::now() < deadline, "no Logout answer");
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while journaled_count(&jdir) < n && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            signal(&run.child, libc::SIGTERM);
            assert!(run.child.wait().unwrap().success(), "{}", run.log_text());
        }
    }
    let j = journaled(&jdir);
    let seqs: Vec<u64> = j.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        seqs,
        (2..2 + n as u64).collect::<Vec<_>>(),
        "journal after the restart (kept {keep} of {n}); ResendRequests per run {rrs:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn journal_behind_the_store_is_recovered_by_resend() {
    journal_behind_the_store(1);
}

/// The same with nothing of the session in the journal: the journal ran before (it has
/// segments), so holding nothing of the session means none of it was journaled, and the session
/// resumes at 1 (`open_sessions` in src/runtime/group.rs, `Watermarks::preexisting`).
#[test]
fn journal_with_nothing_of_the_session_is_recovered_by_resend() {
    journal_behind_the_store(0);
}
