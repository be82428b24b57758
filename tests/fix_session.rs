//! The FIX session layer, driven message by message: a test counterparty encodes with the
//! crate's `Encoder`, the session's outbox is framed and parsed back, delivered MsgSeqNums are
//! recorded. Time is passed in (`Now`), so nothing here depends on the machine's speed.
#![allow(unsafe_code)] // the counting global allocator (the no-allocation test)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};

use lpscore::fix::session::{
    DisconnectReason, Now, Outbox, Role, SeqStore, Session, SessionKey, SessionSettings,
    SessionState, StoreError, StoreOptions, Verdict,
};
use lpscore::fix::{
    BeginString, BodyWriter, Encoder, FixMessage, Framer, FramerConfig, Header, Heartbeat, Logon,
    Logout, Message, Parser, Raw, ResendRequest, SequenceReset, TestRequest, UtcTimestamp,
};
use proptest::prelude::*;

// ---- counting allocator (armed per thread, so parallel tests do not disturb it) ---------------

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    let _ = ARMED.try_with(|a| {
        if a.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

// SAFETY: every method forwards to the system allocator unchanged; counting touches only
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

// ---- helpers ---------------------------------------------------------------------------------

const SEC: u64 = 1_000_000_000;
/// 2025-11-21 12:00:00 UTC.
const T0_UTC: u64 = 1_763_726_400 * SEC;

fn now(s: u64) -> Now {
    Now {
        mono_ns: 1_000 * SEC + s * SEC,
        utc_ns: T0_UTC + s * SEC,
    }
}

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lpscore-fix-session-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn settings(dir: &Path) -> SessionSettings {
    let mut s = SessionSettings::new("LPS", "LP1");
    s.store_dir = dir.to_path_buf();
    s.heartbeat_s = 30;
    s
}

/// An application message (NewOrderSingle-like, 35=D) for the tests.
struct App<'a> {
    header: Header<'a>,
    id: u64,
}

impl FixMessage for App<'_> {
    const MSG_TYPE: &'static [u8] = b"D";
    fn header(&self) -> &Header<'_> {
        &self.header
    }
    fn encode_body(&self, w: &mut BodyWriter<'_>) {
        w.field(11, &self.id);
        w.raw(55, b"EURUSD");
        w.raw(54, b"1");
        w.raw(38, b"1000000");
        w.raw(40, b"1");
    }
}

/// The test counterparty: its own CompIDs and outbound sequence.
struct Peer {
    enc: Encoder,
    begin: BeginString,
    sender: Vec<u8>,
    target: Vec<u8>,
    seq: u64,
    /// NextExpectedMsgSeqNum (789) on its Logons.
    next_expected: Option<u64>,
}

#[derive(Clone, Copy, Default)]
struct Opts {
    seq: Option<u64>,
    poss_dup: bool,
    orig: bool,
}

impl Peer {
    fn new() -> Self {
        Self {
            enc: Encoder::new(),
            begin: BeginString::Fix44,
            sender: b"LP1".to_vec(),
            target: b"LPS".to_vec(),
            seq: 1,
            next_expected: None,
        }
    }

    /// The next seq (or `o.seq` without consuming one).
    fn take(&mut self, o: Opts) -> u64 {
        match o.seq {
            Some(s) => s,
            None => {
                self.seq += 1;
                self.seq - 1
            }
        }
    }
    fn logon_with(&mut self, t: Now, o: Opts, reset: bool, pass: Option<&[u8]>) -> Vec<u8> {
        let seq = self.take(o);
        let header = hdr(self.begin, &self.sender, &self.target, seq, t, o);
        let m = Logon {
            header,
            encrypt_method: 0,
            heart_bt_int: 30,
            reset_seq_num_flag: reset.then_some(true),
            username: pass.map(|_| &b"user"[..]),
            password: pass,
            default_appl_ver_id: None,
            next_expected_msg_seq_num: self.next_expected,
            raw: Raw::default(),
        };
        self.enc.encode(&m).to_vec()
    }
    fn logon(&mut self, t: Now) -> Vec<u8> {
        self.logon_with(t, Opts::default(), false, None)
    }
    fn app_with(&mut self, t: Now, o: Opts) -> Vec<u8> {
        let id = o.seq.unwrap_or(self.seq);
        let seq = self.take(o);
        let header = hdr(self.begin, &self.sender, &self.target, seq, t, o);
        let m = App { header, id };
        self.enc.encode(&m).to_vec()
    }
    fn app(&mut self, t: Now) -> Vec<u8> {
        self.app_with(t, Opts::default())
    }
    /// A resend of application message `seq` (PossDup, OrigSendingTime).
    fn resend_app(&mut self, t: Now, seq: u64) -> Vec<u8> {
        self.app_with(
            t,
            Opts {
                seq: Some(seq),
                poss_dup: true,
                orig: true,
            },
        )
    }
    fn heartbeat(&mut self, t: Now, id: Option<&[u8]>) -> Vec<u8> {
        let seq = self.take(Opts::default());
        let header = hdr(
            self.begin,
            &self.sender,
            &self.target,
            seq,
            t,
            Opts::default(),
        );
        let m = Heartbeat {
            header,
            test_req_id: id,
            raw: Raw::default(),
        };
        self.enc.encode(&m).to_vec()
    }
    fn test_request(&mut self, t: Now, id: &[u8]) -> Vec<u8> {
        let seq = self.take(Opts::default());
        let header = hdr(
            self.begin,
            &self.sender,
            &self.target,
            seq,
            t,
            Opts::default(),
        );
        let m = TestRequest {
            header,
            test_req_id: id,
            raw: Raw::default(),
        };
        self.enc.encode(&m).to_vec()
    }
    fn resend_request(&mut self, t: Now, begin: u64, end: u64) -> Vec<u8> {
        let seq = self.take(Opts::default());
        let header = hdr(
            self.begin,
            &self.sender,
            &self.target,
            seq,
            t,
            Opts::default(),
        );
        let m = ResendRequest {
            header,
            begin_seq_no: begin,
            end_seq_no: end,
            raw: Raw::default(),
        };
        self.enc.encode(&m).to_vec()
    }
    fn seq_reset(&mut self, t: Now, o: Opts, gap_fill: bool, new_seq: u64) -> Vec<u8> {
        let seq = self.take(o);
        let header = hdr(self.begin, &self.sender, &self.target, seq, t, o);
        let m = SequenceReset {
            header,
            gap_fill_flag: gap_fill.then_some(true),
            new_seq_no: new_seq,
            raw: Raw::default(),
        };
        self.enc.encode(&m).to_vec()
    }
    fn logout(&mut self, t: Now, text: Option<&[u8]>) -> Vec<u8> {
        let seq = self.take(Opts::default());
        let header = hdr(
            self.begin,
            &self.sender,
            &self.target,
            seq,
            t,
            Opts::default(),
        );
        let m = Logout {
            header,
            text,
            raw: Raw::default(),
        };
        self.enc.encode(&m).to_vec()
    }
}

fn hdr<'a>(
    begin: BeginString,
    sender: &'a [u8],
    target: &'a [u8],
    seq: u64,
    t: Now,
    o: Opts,
) -> Header<'a> {
    let mut h = Header::new(begin, sender, target, seq, UtcTimestamp(t.utc_ns as i64));
    if o.poss_dup {
        h.poss_dup = Some(true);
    }
    if o.orig {
        h.orig_sending_time = Some(UtcTimestamp(t.utc_ns as i64 - SEC as i64));
    }
    h
}

/// A message the session sent, as (tag, value) pairs.
#[derive(Debug, Clone)]
struct Sent(Vec<(u32, String)>);

impl Sent {
    fn get(&self, tag: u32) -> Option<&str> {
        self.0
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_str())
    }
    fn mt(&self) -> &str {
        self.get(35).unwrap_or("")
    }
    fn seq(&self) -> u64 {
        self.get(34).and_then(|v| v.parse().ok()).unwrap_or(0)
    }
}

/// Frames and parses everything in the outbox (and clears it).
fn drain(out: &mut Outbox) -> Vec<Sent> {
    let mut framer = Framer::new(FramerConfig::default());
    let mut parser = Parser::new(FramerConfig::default());
    let mut v = Vec::new();
    let bytes = out.bytes().to_vec();
    let mut frames = framer.feed(&bytes);
    while let Some(f) = frames.next_frame() {
        let f = f.expect("the session writes valid frames");
        let m = parser
            .parse_frame(f)
            .expect("the session writes parseable messages");
        v.push(Sent(
            m.fields()
                .map(|(t, v)| (t, String::from_utf8_lossy(v).into_owned()))
                .collect(),
        ));
    }
    drop(frames);
    assert_eq!(v.len(), out.messages());
    out.clear();
    v
}

/// A session under test with its outbox and the MsgSeqNums it delivered.
struct Rig {
    s: Session,
    out: Outbox,
    delivered: Vec<u64>,
}

impl Rig {
    fn new(st: &SessionSettings, role: Role) -> Self {
        let store = SeqStore::open(&st.store_dir, &SessionKey::from_settings(st)).unwrap();
        Self {
            s: Session::new(st, role, store),
            out: Outbox::new(),
            delivered: Vec::new(),
        }
    }
    fn recv(&mut self, bytes: &[u8], t: Now) -> Verdict {
        let d = &mut self.delivered;
        self.s
            .on_message(bytes, t, &mut self.out, &mut |m: &Message<'_>, seq| {
                assert!(m.bytes().starts_with(b"8=FIX"));
                d.push(seq);
            })
    }
    fn sent(&mut self) -> Vec<Sent> {
        drain(&mut self.out)
    }
    /// Connected at 0 s, the peer's Logon (its seq 1) and `apps` application messages at 1 s.
    fn logon_and_apps(&mut self, p: &mut Peer, apps: usize) {
        self.s.on_connected(now(0), &mut self.out);
        self.recv(&p.logon(now(0)), now(0));
        for _ in 0..apps {
            self.recv(&p.app(now(1)), now(1));
        }
    }
    /// Acceptor logged on with the peer (peer seq 1, ours 1).
    fn logged_on(name: &str) -> (Self, Peer) {
        let st = settings(&tmp_dir(name));
        let mut r = Self::new(&st, Role::Acceptor);
        let mut p = Peer::new();
        r.s.on_connected(now(0), &mut r.out);
        assert_eq!(r.recv(&p.logon(now(0)), now(0)), Verdict::Continue);
        let sent = r.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].mt(), "A");
        (r, p)
    }
}

fn types(v: &[Sent]) -> Vec<&str> {
    v.iter().map(Sent::mt).collect()
}

// ---- sequence store failure --------------------------------------------------------------------

/// A store write that fails (a full disk, an I/O error) disconnects the session before the
/// message is handed on (its MsgSeqNum was not persisted, so handing it on could lose or repeat
/// it after a restart); while the store still fails, a new connection is not logged on; once it
/// can be written again, the session logs on and expects the message that failed, which the
/// counterparty's resend then delivers exactly once.
#[test]
fn a_store_write_failure_disconnects_before_handing_on_and_recovers() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let st = settings(&tmp_dir("store_fault"));
    let fault = Arc::new(AtomicBool::new(false));
    let mut store = SeqStore::open(&st.store_dir, &SessionKey::from_settings(&st)).unwrap();
    store.inject_write_faults(Arc::clone(&fault));
    let mut r = Rig {
        s: Session::new(&st, Role::Acceptor, store),
        out: Outbox::new(),
        delivered: Vec::new(),
    };
    let mut p = Peer::new();
    r.s.on_connected(now(0), &mut r.out);
    assert_eq!(r.recv(&p.logon(now(0)), now(0)), Verdict::Continue);
    assert_eq!(types(&r.sent()), ["A"]);
    assert_eq!(r.recv(&p.app(now(1)), now(1)), Verdict::Continue);
    assert_eq!(r.delivered, [2]);
    fault.store(true, Ordering::Relaxed);
    let v = r.recv(&p.app(now(2)), now(2));
    assert_eq!(v, Verdict::Disconnect(DisconnectReason::StoreFailed));
    assert_eq!(
        r.delivered,
        [2],
        "a message whose MsgSeqNum was not persisted is not handed on"
    );
    r.s.on_disconnected(now(2));
    // Still failing: the next connection gets no Logon answer, and is closed.
    r.s.on_connected(now(3), &mut r.out);
    let mut p2 = Peer::new();
    p2.seq = 4;
    let _ = r.recv(&p2.logon(now(3)), now(3));
    assert!(
        types(&r.sent()).iter().all(|t| *t != "A"),
        "logged on with a failing store"
    );
    assert_eq!(
        r.s.on_timer(now(4), &mut r.out),
        Verdict::Disconnect(DisconnectReason::StoreFailed)
    );
    r.s.on_disconnected(now(4));
    // Repaired: log on; message 3 (never handed on) is asked for again and delivered once.
    fault.store(false, Ordering::Relaxed);
    r.s.on_connected(now(5), &mut r.out);
    let mut p3 = Peer::new();
    p3.seq = 5;
    assert_eq!(r.recv(&p3.logon(now(5)), now(5)), Verdict::Continue);
    let sent = r.sent();
    assert_eq!(sent[0].mt(), "A");
    let rr: Vec<&Sent> = sent.iter().filter(|m| m.mt() == "2").collect();
    assert_eq!(rr.len(), 1, "one ResendRequest: {:?}", types(&sent));
    assert_eq!(rr[0].get(7), Some("3"));
    for seq in 3..5 {
        let _ = r.recv(&p3.resend_app(now(6), seq), now(6));
    }
    assert_eq!(r.delivered, [2, 3, 4]);
    assert_eq!(r.s.next_in(), 6);
}

// ---- logon -----------------------------------------------------------------------------------

#[test]
fn acceptor_logon_is_answered_with_the_same_heartbeat_interval() {
    let (mut r, _p) = Rig::logged_on("logon_ok");
    assert_eq!(r.s.state(), SessionState::Active);
    assert_eq!(r.s.next_in(), 2);
    assert_eq!(r.s.next_out(), 2);
    assert_eq!(r.s.heartbeat_s(), 30);
    assert_eq!(r.s.counters().logons, 1);
    assert!(r.sent().is_empty());
}

#[test]
fn logon_answer_carries_compids_heartbeat_and_seq() {
    let st = settings(&tmp_dir("logon_fields"));
    let mut r = Rig::new(&st, Role::Acceptor);
    let mut p = Peer::new();
    r.s.on_connected(now(0), &mut r.out);
    r.recv(&p.logon(now(0)), now(0));
    let s = r.sent();
    assert_eq!(s[0].get(8), Some("FIX.4.4"));
    assert_eq!(s[0].get(49), Some("LPS"));
    assert_eq!(s[0].get(56), Some("LP1"));
    assert_eq!(s[0].get(34), Some("1"));
    assert_eq!(s[0].get(108), Some("30"));
    assert_eq!(s[0].get(98), Some("0"));
    assert_eq!(s[0].get(141), None);
}

#[test]
fn our_sending_time_has_millisecond_precision() {
    let st = settings(&tmp_dir("ms"));
    let mut r = Rig::new(&st, Role::Initiator);
    let t = Now {
        mono_ns: 5,
        utc_ns: T0_UTC + 123_456_789,
    };
    r.s.on_connected(t, &mut r.out);
    assert_eq!(r.sent()[0].get(52), Some("20251121-12:00:00.123"));
}

#[test]
fn wrong_compid_logon_gets_logout_and_disconnect() {
    let st = settings(&tmp_dir("wrong_compid"));
    let mut r = Rig::new(&st, Role::Acceptor);
    let mut p = Peer::new();
    p.sender = b"INTRUDER".to_vec();
    r.s.on_connected(now(0), &mut r.out);
    let v = r.recv(&p.logon(now(0)), now(0));
    assert_eq!(v, Verdict::Disconnect(DisconnectReason::LogonRejected));
    let s = r.sent();
    assert_eq!(types(&s), ["5"]);
    assert!(
        s[0].get(58).unwrap().contains("Unknown counterparty"),
        "{s:?}"
    );
    assert!(s[0].get(58).unwrap().contains("INTRUDER"));
    assert!(r.s.is_closed());
    assert_eq!(r.s.counters().logons, 0);
    assert_eq!(r.s.counters().logons_refused, 1);
    // Nothing consumed: the next attempt starts from the same numbers.
    assert_eq!(r.s.next_in(), 1);
}

#[test]
fn wrong_password_gets_logout_and_disconnect() {
    let mut st = settings(&tmp_dir("wrong_password"));
    st.username = Some("user".into());
    st.password = Some("secret".into());
    let mut r = Rig::new(&st, Role::Acceptor);
    let mut p = Peer::new();
    r.s.on_connected(now(0), &mut r.out);
    let v = r.recv(
        &p.logon_with(now(0), Opts::default(), false, Some(b"guess")),
        now(0),
    );
    assert_eq!(v, Verdict::Disconnect(DisconnectReason::LogonRejected));
    let s = r.sent();
    assert_eq!(types(&s), ["5"]);
    assert!(s[0].get(58).unwrap().contains("Password"));

    // The right password, on a new connection.
    r.s.on_disconnected(now(1));
    r.s.on_connected(now(1), &mut r.out);
    let mut p = Peer::new();
    let v = r.recv(
        &p.logon_with(now(1), Opts::default(), false, Some(b"secret")),
        now(1),
    );
    assert_eq!(v, Verdict::Continue);
    assert_eq!(types(&r.sent()), ["A"]);
    // A missing password is refused too.
    let mut st2 = st.clone();
    st2.store_dir = tmp_dir("wrong_password2");
    let mut r2 = Rig::new(&st2, Role::Acceptor);
    r2.s.on_connected(now(0), &mut r2.out);
    let v = r2.recv(&Peer::new().logon(now(0)), now(0));
    assert_eq!(v, Verdict::Disconnect(DisconnectReason::LogonRejected));
}

#[test]
fn first_message_not_a_logon_gets_logout_and_disconnect() {
    let st = settings(&tmp_dir("not_logon"));
    let mut r = Rig::new(&st, Role::Acceptor);
    let mut p = Peer::new();
    r.s.on_connected(now(0), &mut r.out);
    let v = r.recv(&p.app(now(0)), now(0));
    assert_eq!(v, Verdict::Disconnect(DisconnectReason::NotLogon));
    let s = r.sent();
    assert_eq!(types(&s), ["5"]);
    assert!(s[0].get(58).unwrap().contains("not a Logon"));
    assert!(r.delivered.is_empty());
}

#[test]
fn second_logon_while_logged_on_is_a_protocol_error() {
    let (mut r, mut p) = Rig::logged_on("second_logon");
    let v = r.recv(&p.logon(now(1)), now(1));
    assert_eq!(v, Verdict::Disconnect(DisconnectReason::UnexpectedLogon));
    assert_eq!(types(&r.sent()), ["5"]);
}

#[test]
fn wrong_begin_string_logon_is_refused() {
    let st = settings(&tmp_dir("begin_string"));
    let mut r = Rig::new(&st, Role::Acceptor);
    let mut p = Peer::new();
    p.begin = BeginString::Fix42;
    r.s.on_connected(now(0), &mut r.out);
    let v = r.recv(&p.logon(now(0)), now(0));
    assert_eq!(v, Verdict::Disconnect(DisconnectReason::LogonRejected));
    let s = r.sent();
    assert!(s[0].get(58).unwrap().contains("BeginString"));
}

#[test]
fn logon_timeout_disconnects() {
    let st = settings(&tmp_dir("logon_timeout"));
    let mut r = Rig::new(&st, Role::Acceptor);
    r.s.on_connected(now(0), &mut r.out);
    assert_eq!(r.s.on_timer(now(9), &mut r.out), Verdict::Continue);
    assert_eq!(
        r.s.on_timer(now(10), &mut r.out),
        Verdict::Disconnect(DisconnectReason::LogonTimeout)
    );
}

#[test]
fn logon_with_higher_seq_is_accepted_then_the_gap_is_requested() {
    let st = settings(&tmp_dir("logon_high"));
    let mut r = Rig::new(&st, Role::Acceptor);
    let mut p = Peer::new();
    p.seq = 5; // the peer sent 1..=4 before (we never saw them)
    r.s.on_connected(now(0), &mut r.out);
    assert_eq!(r.recv(&p.logon(now(0)), now(0)), Verdict::Continue);
    let s = r.sent();
    assert_eq!(types(&s), ["A", "2"]);
    assert_eq!(s[1].get(7), Some("1"));
    assert_eq!(s[1].get(16), Some("0"));
    assert!(r.s.resend_pending());
    // The resend: 1 and 2 application messages, 3..=4 gap-filled (they were admin).
    r.recv(&p.resend_app(now(1), 1), now(1));
    r.recv(&p.resend_app(now(1), 2), now(1));
    let gf = p.seq_reset(
        now(1),
        Opts {
            seq: Some(3),
            poss_dup: true,
            orig: true,
        },
        true,
        5,
    );
    assert_eq!(r.recv(&gf, now(1)), Verdict::Continue);
    assert_eq!(r.delivered, [1, 2]);
    // The Logon's own number (5) was consumed when the gap closed.
    assert_eq!(r.s.next_in(), 6);
    assert!(!r.s.resend_pending());
    r.recv(&p.app(now(2)), now(2));
    assert_eq!(r.delivered, [1, 2, 6]);
    assert!(r.sent().is_empty());
    assert_eq!(r.s.counters().gap_fills_received, 1);
}

#[test]
fn logon_with_lower_seq_is_refused() {
    let dir = tmp_dir("logon_low");
    let st = settings(&dir);
    {
        let mut store = SeqStore::open(&dir, &SessionKey::from_settings(&st)).unwrap();
        store.set(10, 7).unwrap();
    }
    let mut r = Rig::new(&st, Role::Acceptor);
    let mut p = Peer::new();
    p.seq = 5;
    r.s.on_connected(now(0), &mut r.out);
    let v = r.recv(&p.logon(now(0)), now(0));
    assert_eq!(v, Verdict::Disconnect(DisconnectReason::SeqTooLow));
    let s = r.sent();
    assert_eq!(types(&s), ["5"]);
    assert_eq!(
        s[0].get(58),
        Some("MsgSeqNum too low, expecting 10 but received 5")
    );
    assert_eq!(s[0].seq(), 7);
}

// ---- sequence numbers ------------------------------------------------------------------------

#[test]
fn in_sequence_application_messages_are_delivered() {
    let (mut r, mut p) = Rig::logged_on("in_seq");
    for i in 0..5 {
        assert_eq!(r.recv(&p.app(now(i)), now(i)), Verdict::Continue);
    }
    assert_eq!(r.delivered, [2, 3, 4, 5, 6]);
    assert_eq!(r.s.counters().delivered, 5);
    assert!(r.sent().is_empty());
}

#[test]
fn garbled_message_in_the_middle_is_recovered_by_resend() {
    let (mut r, mut p) = Rig::logged_on("garbled");
    // 2, 3 (garbled on the wire), 4, 5 through a real Framer: it drops the bad frame.
    let m2 = p.app(now(1));
    let mut m3 = p.app(now(1));
    let m4 = p.app(now(1));
    let m5 = p.app(now(1));
    let n = m3.len();
    m3[n - 3] = if m3[n - 3] == b'0' { b'1' } else { b'0' }; // CheckSum digit
    let stream: Vec<u8> = [m2, m3, m4, m5].concat();
    let mut framer = Framer::new(FramerConfig::default());
    let mut frames = framer.feed(&stream);
    let mut errors = 0;
    while let Some(f) = frames.next_frame() {
        match f {
            Ok(f) => {
                let d = &mut r.delivered;
                let v =
                    r.s.on_frame(f, now(1), &mut r.out, &mut |_: &Message<'_>, s| d.push(s));
                assert_eq!(v, Verdict::Continue);
            }
            Err(_) => errors += 1,
        }
    }
    drop(frames);
    assert_eq!(errors, 1);
    assert_eq!(r.delivered, [2]);
    assert_eq!(r.s.queued(), 2);
    // Exactly one ResendRequest for the gap, from 3 to infinity.
    let s = r.sent();
    assert_eq!(types(&s), ["2"]);
    assert_eq!((s[0].get(7), s[0].get(16)), (Some("3"), Some("0")));
    assert_eq!(r.s.counters().gaps, 1);
    // The counterparty resends 3..=5 (PossDup): 3 fills the gap, 4 and 5 are released from the
    // queue, their resends are dropped as duplicates.
    for seq in 3..=5 {
        assert_eq!(
            r.recv(&p.resend_app(now(2), seq), now(2)),
            Verdict::Continue
        );
    }
    assert_eq!(r.delivered, [2, 3, 4, 5]);
    assert_eq!(r.s.counters().duplicates, 2);
    assert!(!r.s.resend_pending());
    assert_eq!(r.s.queued(), 0);
    r.recv(&p.app(now(3)), now(3));
    assert_eq!(r.delivered, [2, 3, 4, 5, 6]);
    assert!(r.sent().is_empty());
}

#[test]
fn queued_messages_are_released_in_order_whatever_their_arrival_order() {
    let (mut r, mut p) = Rig::logged_on("queue_order");
    let msgs: Vec<Vec<u8>> = (0..5).map(|_| p.app(now(1))).collect(); // seqs 2..=6
    // 2, then 6, 4, 5 (queued), then the resend of 3.
    r.recv(&msgs[0], now(1));
    r.recv(&msgs[4], now(1));
    r.recv(&msgs[2], now(1));
    r.recv(&msgs[3], now(1));
    assert_eq!(r.delivered, [2]);
    assert_eq!(types(&r.sent()), ["2"]); // one ResendRequest only
    r.recv(&p.resend_app(now(2), 3), now(2));
    assert_eq!(r.delivered, [2, 3, 4, 5, 6]);
    assert_eq!(r.s.next_in(), 7);
}

#[test]
fn held_messages_are_not_rejected_for_age_when_released() {
    let (mut r, mut p) = Rig::logged_on("held_age");
    p.seq = 3; // 2 lost
    r.recv(&p.app(now(1)), now(1));
    r.sent();
    // The resend arrives long after 3 was sent (beyond max_latency_s = 120).
    let v = r.recv(&p.resend_app(now(300), 2), now(300));
    assert_eq!(v, Verdict::Continue);
    assert_eq!(r.delivered, [2, 3]);
    assert!(r.sent().is_empty());
}

#[test]
fn reconnect_after_a_cut_recovers_what_was_sent_while_down() {
    let dir = tmp_dir("reconnect");
    let st = settings(&dir);
    let mut r = Rig::new(&st, Role::Acceptor);
    let mut p = Peer::new();
    r.logon_and_apps(&mut p, 4); // 2..=5
    // 7 arrives (6 garbled), then the connection is cut: 7 was held, it is forgotten.
    p.seq = 7;
    r.recv(&p.app(now(1)), now(1));
    assert_eq!(r.s.queued(), 1);
    r.s.on_disconnected(now(2));
    assert_eq!(r.s.queued(), 0);
    r.sent();
    // The counterparty "sent" 8..=9 while down; it logs on again with 10.
    p.seq = 10;
    r.s.on_connected(now(5), &mut r.out);
    assert_eq!(r.recv(&p.logon(now(5)), now(5)), Verdict::Continue);
    let s = r.sent();
    assert_eq!(types(&s), ["A", "2"]);
    assert_eq!(s[1].get(7), Some("6"));
    for seq in 6..=9 {
        r.recv(&p.resend_app(now(6), seq), now(6));
    }
    r.recv(&p.app(now(7)), now(7)); // 11
    assert_eq!(r.delivered, [2, 3, 4, 5, 6, 7, 8, 9, 11]);
    assert_eq!(r.s.counters().duplicates, 0);
    assert_eq!(r.s.counters().logons, 2);
}

#[test]
fn a_resend_that_never_comes_is_asked_for_again() {
    let (mut r, mut p) = Rig::logged_on("resend_stall");
    p.seq = 3; // 2 lost
    r.recv(&p.app(now(1)), now(1));
    assert_eq!(types(&r.sent()), ["2"]);
    // The answer is lost. The counterparty's heartbeats keep the session alive.
    r.recv(&p.heartbeat(now(20), None), now(20));
    r.s.on_timer(now(20), &mut r.out);
    assert!(r.sent().is_empty());
    r.recv(&p.heartbeat(now(40), None), now(40));
    r.s.on_timer(now(40), &mut r.out);
    let s = r.sent();
    assert!(types(&s).contains(&"2"), "{:?}", types(&s));
    let rr = s.iter().find(|m| m.mt() == "2").unwrap();
    assert_eq!(rr.get(7), Some("2"));
    r.recv(&p.resend_app(now(41), 2), now(41));
    assert_eq!(r.delivered, [2, 3]);
    assert_eq!(r.s.next_in(), 6);
    assert_eq!(r.s.counters().gaps, 1);
    assert_eq!(r.s.counters().resend_requests_sent, 2);
}

#[test]
fn queue_bound_drops_the_excess_and_the_resend_brings_it_back() {
    let mut st = settings(&tmp_dir("queue_bound"));
    st.max_queued = 2;
    let mut r = Rig::new(&st, Role::Acceptor);
    let mut p = Peer::new();
    r.s.on_connected(now(0), &mut r.out);
    r.recv(&p.logon(now(0)), now(0));
    r.sent();
    let msgs: Vec<Vec<u8>> = (0..6).map(|_| p.app(now(1))).collect(); // 2..=7
    for m in &msgs[1..] {
        r.recv(m, now(1)); // 3..=7: 3, 4 queued, 5..=7 dropped
    }
    assert_eq!(r.s.queued(), 2);
    assert_eq!(r.s.counters().queue_dropped, 3);
    for seq in 2..=7 {
        r.recv(&p.resend_app(now(2), seq), now(2));
    }
    assert_eq!(r.delivered, [2, 3, 4, 5, 6, 7]);
    assert_eq!(r.s.next_in(), 8);
}

#[test]
fn sequence_reset_gap_fill_advances_next_in() {
    let (mut r, mut p) = Rig::logged_on("gap_fill");
    let gf = p.seq_reset(now(1), Opts::default(), true, 10); // seq 2, NewSeqNo 10
    assert_eq!(r.recv(&gf, now(1)), Verdict::Continue);
    assert_eq!(r.s.next_in(), 10);
    assert_eq!(r.s.counters().gap_fills_received, 1);
    p.seq = 10;
    r.recv(&p.app(now(1)), now(1));
    assert_eq!(r.delivered, [10]);
    assert!(r.sent().is_empty());
}

#[test]
fn gap_fill_above_the_expected_seq_waits_for_the_gap() {
    let (mut r, mut p) = Rig::logged_on("gap_fill_high");
    p.seq = 3; // 2 lost
    let gf = p.seq_reset(now(1), Opts::default(), true, 6); // seq 3, NewSeqNo 6
    r.recv(&gf, now(1));
    assert_eq!(r.s.next_in(), 2);
    assert_eq!(types(&r.sent()), ["2"]);
    r.recv(&p.resend_app(now(2), 2), now(2));
    assert_eq!(r.delivered, [2]);
    assert_eq!(r.s.next_in(), 6);
}

#[test]
fn sequence_reset_to_a_lower_number_is_rejected() {
    let (mut r, mut p) = Rig::logged_on("reset_lower");
    for _ in 0..4 {
        r.recv(&p.app(now(1)), now(1)); // 2..=5
    }
    let sr = p.seq_reset(now(1), Opts::default(), false, 3); // Reset mode, NewSeqNo 3 < 7
    assert_eq!(r.recv(&sr, now(1)), Verdict::Continue);
    let s = r.sent();
    assert_eq!(types(&s), ["3"]);
    assert_eq!(s[0].get(45), Some("6"));
    assert_eq!(s[0].get(373), Some("5"));
    assert_eq!(s[0].get(371), Some("36"));
    assert_eq!(s[0].get(372), Some("4"));
    // Reset mode does not consume its own number (as QuickFIX): 6 is still expected.
    assert_eq!(r.s.next_in(), 6);
    assert_eq!(r.s.state(), SessionState::Active);
}

#[test]
fn sequence_reset_reset_mode_applies_whatever_its_own_seq() {
    let (mut r, mut p) = Rig::logged_on("reset_mode");
    let sr = p.seq_reset(
        now(1),
        Opts {
            seq: Some(99),
            ..Opts::default()
        },
        false,
        50,
    );
    assert_eq!(r.recv(&sr, now(1)), Verdict::Continue);
    assert_eq!(r.s.next_in(), 50);
    assert!(r.sent().is_empty());
    assert_eq!(r.s.counters().sequence_resets_received, 1);
}

#[test]
fn possdup_resend_of_an_already_seen_message_is_dropped() {
    let (mut r, mut p) = Rig::logged_on("possdup");
    r.recv(&p.app(now(1)), now(1)); // 2
    r.recv(&p.app(now(1)), now(1)); // 3
    let v = r.recv(&p.resend_app(now(2), 2), now(2));
    assert_eq!(v, Verdict::Continue);
    assert_eq!(r.delivered, [2, 3]);
    assert_eq!(r.s.counters().duplicates, 1);
    assert!(r.sent().is_empty());
    assert_eq!(r.s.next_in(), 4);
}

#[test]
fn possdup_without_orig_sending_time_is_rejected() {
    let (mut r, mut p) = Rig::logged_on("possdup_122");
    r.recv(&p.app(now(1)), now(1)); // 2
    let dup = p.app_with(
        now(2),
        Opts {
            seq: Some(2),
            poss_dup: true,
            orig: false,
        },
    );
    assert_eq!(r.recv(&dup, now(2)), Verdict::Continue);
    let s = r.sent();
    assert_eq!(types(&s), ["3"]);
    assert_eq!(s[0].get(373), Some("1"));
    assert_eq!(s[0].get(371), Some("122"));
    assert_eq!(s[0].get(45), Some("2"));
    assert_eq!(r.delivered, [2]);
}

#[test]
fn seq_too_low_without_possdup_gets_logout() {
    let (mut r, mut p) = Rig::logged_on("too_low");
    for _ in 0..4 {
        r.recv(&p.app(now(1)), now(1)); // 2..=5
    }
    let low = p.app_with(
        now(2),
        Opts {
            seq: Some(3),
            ..Opts::default()
        },
    );
    let v = r.recv(&low, now(2));
    assert_eq!(v, Verdict::Disconnect(DisconnectReason::SeqTooLow));
    let s = r.sent();
    assert_eq!(types(&s), ["5"]);
    assert_eq!(
        s[0].get(58),
        Some("MsgSeqNum too low, expecting 6 but received 3")
    );
    assert_eq!(r.delivered, [2, 3, 4, 5]);
}

#[test]
fn wrong_compid_in_a_later_message_gets_reject_then_logout() {
    let (mut r, mut p) = Rig::logged_on("later_compid");
    p.target = b"SOMEONE_ELSE".to_vec();
    let v = r.recv(&p.app(now(1)), now(1));
    assert_eq!(v, Verdict::Disconnect(DisconnectReason::CompIdProblem));
    let s = r.sent();
    assert_eq!(types(&s), ["3", "5"]);
    assert_eq!(s[0].get(373), Some("9"));
    assert_eq!(s[0].get(371), Some("56"));
    assert!(r.delivered.is_empty());
}

#[test]
fn session_level_message_missing_a_required_tag_is_rejected() {
    let (mut r, mut p) = Rig::logged_on("missing_tag");
    // A TestRequest without TestReqID (112): built by hand.
    let body = format!(
        "35=1\x0149=LP1\x0156=LPS\x0134={}\x0152=20251121-12:00:01.000\x01",
        p.seq
    );
    p.seq += 1;
    let head = format!("8=FIX.4.4\x019={}\x01", body.len());
    let mut m = format!("{head}{body}").into_bytes();
    let sum: u32 = m.iter().map(|&b| u32::from(b)).sum::<u32>() % 256;
    m.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    assert_eq!(r.recv(&m, now(1)), Verdict::Continue);
    let s = r.sent();
    assert_eq!(types(&s), ["3"]);
    assert_eq!(s[0].get(373), Some("1"));
    assert_eq!(s[0].get(371), Some("112"));
    assert_eq!(s[0].get(372), Some("1"));
    // Consumed: the next message is in sequence.
    r.recv(&p.app(now(2)), now(2));
    assert_eq!(r.delivered, [3]);
}

#[test]
fn sending_time_far_from_our_clock_is_rejected_and_logged_out() {
    let (mut r, mut p) = Rig::logged_on("latency");
    let late = p.app(now(0));
    let v = r.recv(&late, now(500));
    assert_eq!(
        v,
        Verdict::Disconnect(DisconnectReason::SendingTimeAccuracy)
    );
    let s = r.sent();
    assert_eq!(types(&s), ["3", "5"]);
    assert_eq!(s[0].get(373), Some("10"));
}

// ---- heartbeats ------------------------------------------------------------------------------

#[test]
fn heartbeat_sent_after_interval_without_sending() {
    let (mut r, mut p) = Rig::logged_on("hb_send");
    assert_eq!(r.s.on_timer(now(29), &mut r.out), Verdict::Continue);
    assert!(r.sent().is_empty());
    // Inbound traffic keeps the TestRequest away; we still owe a heartbeat.
    r.recv(&p.app(now(29)), now(29));
    assert_eq!(r.s.on_timer(now(30), &mut r.out), Verdict::Continue);
    let s = r.sent();
    assert_eq!(types(&s), ["0"]);
    assert_eq!(s[0].seq(), 2);
    assert_eq!(s[0].get(112), None);
    assert_eq!(r.s.counters().heartbeats_sent, 1);
}

#[test]
fn heartbeat_timeout_sends_test_request_then_disconnects() {
    let (mut r, _p) = Rig::logged_on("hb_timeout");
    // 1.2 x 30 s = 36 s of silence.
    assert_eq!(r.s.on_timer(now(35), &mut r.out), Verdict::Continue);
    assert_eq!(types(&r.sent()), ["0"]); // our own heartbeat at 30 s
    assert_eq!(r.s.on_timer(now(36), &mut r.out), Verdict::Continue);
    let s = r.sent();
    assert_eq!(types(&s), ["1"]);
    assert!(s[0].get(112).is_some());
    assert_eq!(r.s.counters().test_requests_sent, 1);
    assert_eq!(r.s.on_timer(now(65), &mut r.out), Verdict::Continue);
    r.sent();
    assert_eq!(
        r.s.on_timer(now(66), &mut r.out),
        Verdict::Disconnect(DisconnectReason::HeartbeatTimeout)
    );
    assert!(r.s.is_closed());
}

#[test]
fn answered_test_request_keeps_the_session() {
    let (mut r, mut p) = Rig::logged_on("hb_answered");
    r.s.on_timer(now(36), &mut r.out);
    let s = r.sent();
    let id = s
        .iter()
        .find(|m| m.mt() == "1")
        .unwrap()
        .get(112)
        .unwrap()
        .to_owned();
    r.recv(&p.heartbeat(now(40), Some(id.as_bytes())), now(40));
    assert_eq!(r.s.on_timer(now(66), &mut r.out), Verdict::Continue);
    assert_eq!(r.s.counters().heartbeats_received, 1);
}

#[test]
fn test_request_is_answered_with_its_id() {
    let (mut r, mut p) = Rig::logged_on("tr_answer");
    r.recv(&p.test_request(now(1), b"PING-42"), now(1));
    let s = r.sent();
    assert_eq!(types(&s), ["0"]);
    assert_eq!(s[0].get(112), Some("PING-42"));
    assert_eq!(s[0].seq(), 2);
    assert_eq!(r.s.next_in(), 3);
}

// ---- logout ----------------------------------------------------------------------------------

#[test]
fn counterparty_logout_is_answered() {
    let (mut r, mut p) = Rig::logged_on("logout_peer");
    let v = r.recv(&p.logout(now(1), Some(b"bye")), now(1));
    assert_eq!(v, Verdict::Disconnect(DisconnectReason::PeerLogout));
    assert_eq!(types(&r.sent()), ["5"]);
    assert!(r.s.is_closed());
    assert_eq!(r.s.next_in(), 3);
}

#[test]
fn our_logout_completes_on_the_answer() {
    let (mut r, mut p) = Rig::logged_on("logout_ours");
    r.s.begin_logout("maintenance", now(1), &mut r.out);
    let s = r.sent();
    assert_eq!(types(&s), ["5"]);
    assert_eq!(s[0].get(58), Some("maintenance"));
    assert_eq!(r.s.state(), SessionState::LogoutSent);
    assert!(!r.s.is_closed());
    // Messages still flow until the answer.
    r.recv(&p.app(now(1)), now(1));
    assert_eq!(r.delivered, [2]);
    let v = r.recv(&p.logout(now(1), None), now(1));
    assert_eq!(v, Verdict::Disconnect(DisconnectReason::LogoutComplete));
    assert!(r.s.is_closed());
    assert!(r.sent().is_empty());
}

#[test]
fn our_logout_times_out() {
    let (mut r, _p) = Rig::logged_on("logout_timeout");
    r.s.begin_logout("bye", now(1), &mut r.out);
    assert_eq!(r.s.on_timer(now(2), &mut r.out), Verdict::Continue);
    assert_eq!(
        r.s.on_timer(now(3), &mut r.out),
        Verdict::Disconnect(DisconnectReason::LogoutTimeout)
    );
}

// ---- as the side asked to resend -------------------------------------------------------------

#[test]
fn counterparty_resend_request_is_answered_with_gap_fill() {
    let (mut r, mut p) = Rig::logged_on("answer_resend");
    r.s.on_timer(now(30), &mut r.out); // our heartbeat, seq 2
    r.sent();
    assert_eq!(r.s.next_out(), 3);
    r.recv(&p.resend_request(now(31), 1, 0), now(31));
    let s = r.sent();
    assert_eq!(types(&s), ["4"]);
    assert_eq!(s[0].get(34), Some("1"));
    assert_eq!(s[0].get(43), Some("Y"));
    assert!(s[0].get(122).is_some());
    assert_eq!(s[0].get(123), Some("Y"));
    assert_eq!(s[0].get(36), Some("3"));
    assert_eq!(
        r.s.next_out(),
        3,
        "a gap fill is a resend: next_out does not move"
    );
    assert_eq!(r.s.counters().gap_fills_sent, 1);
    // A bounded range: NewSeqNo is EndSeqNo + 1.
    r.recv(&p.resend_request(now(32), 1, 1), now(32));
    let s = r.sent();
    assert_eq!(s[0].get(36), Some("2"));
}

// ---- NextExpectedMsgSeqNum (789) -------------------------------------------------------------

/// An acceptor that sent 1..=3 before a cut (Logon answer, two heartbeats) and received 1..=10.
fn acceptor_after_a_cut(name: &str, send_789: bool) -> (Rig, SessionSettings) {
    let mut st = settings(&tmp_dir(name));
    st.next_expected_msg_seq_num = send_789;
    {
        let mut r = Rig::new(&st, Role::Acceptor);
        let mut p = Peer::new();
        r.logon_and_apps(&mut p, 9); // 2..=10
        r.s.on_timer(now(30), &mut r.out); // our 2
        r.s.on_timer(now(60), &mut r.out); // our 3 (a heartbeat every 30 s)
        assert_eq!((r.s.next_in(), r.s.next_out()), (11, 4));
    }
    (Rig::new(&st, Role::Acceptor), st)
}

/// The counterparty of [`acceptor_after_a_cut`] reconnects at `seq` with `next_expected` (789)
/// on its Logon: the verdict and what the session sent.
fn reconnect(r: &mut Rig, seq: u64, next_expected: Option<u64>) -> (Peer, Verdict, Vec<Sent>) {
    let mut p = Peer::new();
    p.seq = seq;
    p.next_expected = next_expected;
    r.s.on_connected(now(100), &mut r.out);
    let v = r.recv(&p.logon(now(100)), now(100));
    let sent = r.sent();
    (p, v, sent)
}

#[test]
fn next_expected_below_ours_is_answered_with_logon_then_gap_fill() {
    let (mut r, _) = acceptor_after_a_cut("nems_low", true);
    // The counterparty got only our 1 (the Logon answer): it expects 2.
    let (mut p, v, s) = reconnect(&mut r, 11, Some(2));
    assert_eq!(v, Verdict::Continue);
    assert_eq!(types(&s), ["A", "4"], "our Logon first, then the resend");
    assert_eq!(s[0].seq(), 4);
    assert_eq!(
        s[0].get(789),
        Some("12"),
        "we expect the number after its in-sequence Logon"
    );
    assert_eq!(s[1].seq(), 2);
    assert_eq!(s[1].get(43), Some("Y"));
    assert!(s[1].get(122).is_some());
    assert_eq!(s[1].get(123), Some("Y"));
    assert_eq!(
        s[1].get(36),
        Some("5"),
        "covers 2..=4, our Logon answer included"
    );
    assert_eq!(r.s.next_out(), 5, "a gap fill does not move next_out");
    assert_eq!(r.s.counters().gap_fills_sent, 1);
    assert_eq!(r.s.state(), SessionState::Active);
    r.recv(&p.app(now(101)), now(101));
    assert_eq!(r.delivered, [12]);
}

#[test]
fn next_expected_equal_to_ours_sends_nothing_more() {
    let (mut r, _) = acceptor_after_a_cut("nems_eq", false);
    let (_, v, s) = reconnect(&mut r, 11, Some(4));
    assert_eq!(v, Verdict::Continue);
    assert_eq!(types(&s), ["A"]);
    assert_eq!(s[0].seq(), 4);
    assert_eq!(s[0].get(789), None, "not sent unless configured");
    assert_eq!(r.s.counters().gap_fills_sent, 0);
}

#[test]
fn next_expected_above_ours_is_refused_with_logout() {
    let (mut r, _) = acceptor_after_a_cut("nems_high", false);
    let (_, v, s) = reconnect(&mut r, 11, Some(9));
    assert_eq!(
        v,
        Verdict::Disconnect(DisconnectReason::NextExpectedTooHigh)
    );
    assert_eq!(types(&s), ["5"]);
    assert_eq!(
        s[0].get(58),
        Some("NextExpectedMsgSeqNum (789) too high, expecting at most 4 but received 9")
    );
    assert_eq!(r.delivered, Vec::<u64>::new());
    // Nothing was consumed: the counterparty's Logon is expected again.
    assert_eq!(r.s.next_in(), 11);
}

#[test]
fn next_expected_zero_is_refused() {
    let (mut r, mut p) = (
        Rig::new(&settings(&tmp_dir("nems_zero")), Role::Acceptor),
        Peer::new(),
    );
    p.next_expected = Some(0);
    r.s.on_connected(now(0), &mut r.out);
    let v = r.recv(&p.logon(now(0)), now(0));
    assert_eq!(v, Verdict::Disconnect(DisconnectReason::LogonRejected));
    let s = r.sent();
    assert_eq!(
        s[0].get(58),
        Some("NextExpectedMsgSeqNum (789) must be at least 1")
    );
}

#[test]
fn initiator_sends_next_expected_and_honours_the_answers() {
    let (_, st) = acceptor_after_a_cut("nems_init", true);
    // The same store, now as the initiator: next_in 11, next_out 4.
    let mut r = Rig::new(&st, Role::Initiator);
    r.s.on_connected(now(100), &mut r.out);
    let s = r.sent();
    assert_eq!(types(&s), ["A"]);
    assert_eq!(s[0].seq(), 4);
    assert_eq!(s[0].get(789), Some("11"));
    // The answer says it has seen only up to our 2: GapFill 3..=4.
    let mut p = Peer::new();
    p.seq = 11;
    p.next_expected = Some(3);
    assert_eq!(r.recv(&p.logon(now(101)), now(101)), Verdict::Continue);
    let s = r.sent();
    assert_eq!(types(&s), ["4"]);
    assert_eq!((s[0].seq(), s[0].get(36)), (3, Some("5")));
    assert_eq!(r.s.state(), SessionState::Active);
}

#[test]
fn acceptor_answer_next_expected_asks_for_a_gap_before_a_high_logon() {
    let (mut r, _) = acceptor_after_a_cut("nems_gap", true);
    let (_, v, s) = reconnect(&mut r, 15, None); // 11..=14 lost
    assert_eq!(v, Verdict::Continue);
    assert_eq!(types(&s), ["A", "2"], "our Logon, then the ResendRequest");
    assert_eq!(s[0].get(789), Some("11"));
    assert_eq!(s[1].get(7), Some("11"));
}

// ---- persistence -----------------------------------------------------------------------------

#[test]
fn sequence_numbers_persist_across_a_new_session() {
    let dir = tmp_dir("persist");
    let st = settings(&dir);
    {
        let mut r = Rig::new(&st, Role::Acceptor);
        let mut p = Peer::new();
        r.logon_and_apps(&mut p, 9); // 2..=10
        r.s.on_timer(now(30), &mut r.out); // heartbeat: our 2
        assert_eq!((r.s.next_in(), r.s.next_out()), (11, 3));
        // Dropped without any orderly shutdown (as a killed process).
    }
    let mut r = Rig::new(&st, Role::Acceptor);
    assert_eq!((r.s.next_in(), r.s.next_out()), (11, 3));
    // The counterparty reconnects at 11.
    let mut p = Peer::new();
    p.seq = 11;
    r.s.on_connected(now(40), &mut r.out);
    assert_eq!(r.recv(&p.logon(now(40)), now(40)), Verdict::Continue);
    let s = r.sent();
    assert_eq!(types(&s), ["A"]);
    assert_eq!(s[0].seq(), 3);
    r.recv(&p.app(now(41)), now(41));
    assert_eq!(r.delivered, [12]);
}

#[test]
fn store_is_written_before_deliver() {
    let dir = tmp_dir("persist_before");
    let st = settings(&dir);
    let (mut r, mut p) = {
        let mut r = Rig::new(&st, Role::Acceptor);
        let mut p = Peer::new();
        r.s.on_connected(now(0), &mut r.out);
        r.recv(&p.logon(now(0)), now(0));
        (r, p)
    };
    let key = SessionKey::from_settings(&st);
    let m = p.app(now(1));
    let mut seen = None;
    r.s.on_message(&m, now(1), &mut r.out, &mut |_: &Message<'_>, seq| {
        // The session holds the store: read the file without taking it.
        let (next_in, _) = SeqStore::peek(&dir, &key).unwrap().unwrap();
        seen = Some((seq, next_in));
    });
    assert_eq!(seen, Some((2, 3)));
}

#[test]
fn resume_inbound_at_caps_next_in_to_the_journal() {
    let dir = tmp_dir("resume");
    let st = settings(&dir);
    {
        let mut store = SeqStore::open(&dir, &SessionKey::from_settings(&st)).unwrap();
        store.set(20, 5).unwrap();
    }
    let mut r = Rig::new(&st, Role::Acceptor);
    r.s.resume_inbound_at(25); // never raises
    assert_eq!(r.s.next_in(), 20);
    r.s.resume_inbound_at(15);
    assert_eq!(r.s.next_in(), 15);
    // Persisted.
    let key = SessionKey::from_settings(&st);
    assert_eq!(SeqStore::peek(&dir, &key).unwrap(), Some((15, 5)));
    // The counterparty logs on at 21: 15..=20 are asked for again.
    let mut p = Peer::new();
    p.seq = 21;
    r.s.on_connected(now(0), &mut r.out);
    r.recv(&p.logon(now(0)), now(0));
    let s = r.sent();
    assert_eq!(types(&s), ["A", "2"]);
    assert_eq!(s[1].get(7), Some("15"));
}

#[test]
fn corrupted_store_file_is_a_typed_error() {
    let dir = tmp_dir("corrupt");
    let st = settings(&dir);
    let key = SessionKey::from_settings(&st);
    {
        let mut store = SeqStore::open(&dir, &key).unwrap();
        store.set(7, 8).unwrap();
    }
    let path = dir.join(key.file_name());
    // Garbage of the right size.
    std::fs::write(&path, [0xABu8; 96]).unwrap();
    match SeqStore::open(&dir, &key) {
        Err(StoreError::Corrupt { reason, .. }) => assert!(reason.contains("slot A"), "{reason}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Short file.
    std::fs::write(&path, b"LPSQ").unwrap();
    let e = SeqStore::open(&dir, &key).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }));
    assert!(e.to_string().contains("4 bytes"), "{e}");
    // Session::open reports it too.
    assert!(Session::open(&st, Role::Acceptor).is_err());
}

#[test]
fn one_torn_store_slot_falls_back_to_the_other() {
    let dir = tmp_dir("torn");
    let st = settings(&dir);
    let key = SessionKey::from_settings(&st);
    {
        let mut store = SeqStore::open(&dir, &key).unwrap();
        store.set(5, 6).unwrap(); // generation 2: slot A
        store.set(7, 8).unwrap(); // generation 3: slot B (newest)
    }
    let path = dir.join(key.file_name());
    let mut b = std::fs::read(&path).unwrap();
    b[48 + 20] ^= 0xff; // tear the newest slot
    std::fs::write(&path, &b).unwrap();
    let store = SeqStore::open(&dir, &key).unwrap();
    assert_eq!((store.next_in(), store.next_out()), (5, 6));
}

#[test]
fn a_store_has_one_holder_at_a_time() {
    // Two stores of one file would overwrite each other's numbers: the second open is refused
    // while the first lives (another process, or a second session with the same CompIDs and
    // store_dir), and taken once it is gone. `peek` reads without taking it.
    let dir = tmp_dir("one_holder");
    let st = settings(&dir);
    let key = SessionKey::from_settings(&st);
    assert_eq!(SeqStore::peek(&dir, &key).unwrap(), None);
    let mut first = SeqStore::open(&dir, &key).unwrap();
    first.set(5, 3).unwrap();
    for fsync in [false, true] {
        match SeqStore::open_with(&dir, &key, StoreOptions { fsync }) {
            Err(e @ StoreError::InUse { .. }) => {
                let m = e.to_string();
                assert!(m.contains(&key.file_name()) && m.contains("in use"), "{m}");
            }
            other => panic!("expected InUse, got {other:?}"),
        }
    }
    assert!(matches!(
        Session::open(&st, Role::Acceptor),
        Err(StoreError::InUse { .. })
    ));
    assert_eq!(SeqStore::peek(&dir, &key).unwrap(), Some((5, 3)));
    drop(first);
    let again = SeqStore::open(&dir, &key).unwrap();
    assert_eq!((again.next_in(), again.next_out()), (5, 3));
}

#[test]
fn store_writes_are_in_the_file_at_once_mapped_or_fsynced() {
    // Without fsync the store writes into its mapping of the file; with fsync, pwrite and
    // fdatasync. Either way the record is the file's content the moment `set` returns: the store
    // is leaked, never dropped or unmapped (as when the process is killed; the SIGKILL case runs
    // in tests/crash_session.rs), and a plain read of the file finds it in the page cache.
    for fsync in [false, true] {
        let dir = tmp_dir(&format!("at_once_{fsync}"));
        let st = settings(&dir);
        let key = SessionKey::from_settings(&st);
        let mut store = SeqStore::open_with(&dir, &key, StoreOptions { fsync }).unwrap();
        store.set(9, 4).unwrap();
        store.set(11, 6).unwrap();
        std::mem::forget(store);
        // Read without taking the store (the leaked one still holds its lock).
        let back = SeqStore::peek(&dir, &key).unwrap();
        assert_eq!(back, Some((11, 6)), "fsync {fsync}");
        let b = std::fs::read(dir.join(key.file_name())).unwrap();
        assert_eq!(b.len(), 96, "fsync {fsync}: the file keeps its two slots");
        // Generation 3 (1 at creation, then two writes) is in slot B, generation 2 in slot A.
        assert_eq!(&b[48 + 16..48 + 24], &11u64.to_le_bytes(), "fsync {fsync}");
        assert_eq!(&b[16..24], &9u64.to_le_bytes(), "fsync {fsync}");
    }
}

// ---- reset, schedule, initiator --------------------------------------------------------------

#[test]
fn reset_seq_num_flag_restarts_both_sides_at_one() {
    let dir = tmp_dir("reset_flag");
    let st = settings(&dir);
    {
        let mut store = SeqStore::open(&dir, &SessionKey::from_settings(&st)).unwrap();
        store.set(40, 30).unwrap();
    }
    let mut r = Rig::new(&st, Role::Acceptor);
    let mut p = Peer::new();
    r.s.on_connected(now(0), &mut r.out);
    let v = r.recv(&p.logon_with(now(0), Opts::default(), true, None), now(0));
    assert_eq!(v, Verdict::Continue);
    let s = r.sent();
    assert_eq!(types(&s), ["A"]);
    assert_eq!(s[0].get(141), Some("Y"));
    assert_eq!(s[0].seq(), 1);
    assert_eq!((r.s.next_in(), r.s.next_out()), (2, 2));
}

#[test]
fn reset_on_logon_initiator_sends_reset_flag() {
    let mut st = settings(&tmp_dir("reset_init"));
    st.reset_on_logon = true;
    st.username = Some("user".into());
    st.password = Some("pw".into());
    let mut r = Rig::new(&st, Role::Initiator);
    r.s.on_connected(now(0), &mut r.out);
    let s = r.sent();
    assert_eq!(types(&s), ["A"]);
    assert_eq!(s[0].get(141), Some("Y"));
    assert_eq!(s[0].get(553), Some("user"));
    assert_eq!(s[0].get(554), Some("pw"));
    assert_eq!(s[0].get(108), Some("30"));
    assert_eq!(r.s.state(), SessionState::LogonSent);
    let mut p = Peer::new();
    let v = r.recv(&p.logon_with(now(1), Opts::default(), true, None), now(1));
    assert_eq!(v, Verdict::Continue);
    assert_eq!(r.s.state(), SessionState::Active);
    assert!(
        r.sent().is_empty(),
        "the initiator does not answer the answer"
    );
    r.recv(&p.app(now(2)), now(2));
    assert_eq!(r.delivered, [2]);
}

#[test]
fn initiator_logon_refused_by_logout() {
    let st = settings(&tmp_dir("init_refused"));
    let mut r = Rig::new(&st, Role::Initiator);
    r.s.on_connected(now(0), &mut r.out);
    r.sent();
    let mut p = Peer::new();
    let v = r.recv(&p.logout(now(1), Some(b"not today")), now(1));
    assert_eq!(v, Verdict::Disconnect(DisconnectReason::LogonRefused));
}

#[test]
fn logon_outside_the_schedule_is_refused() {
    let mut st = settings(&tmp_dir("schedule"));
    // T0 is 12:00 UTC; the window is 13:00 to 17:00.
    st.start_time = Some("13:00:00".into());
    st.end_time = Some("17:00:00".into());
    assert!(st.validate().is_ok());
    let mut r = Rig::new(&st, Role::Acceptor);
    let mut p = Peer::new();
    r.s.on_connected(now(0), &mut r.out);
    let v = r.recv(&p.logon(now(0)), now(0));
    assert_eq!(v, Verdict::Disconnect(DisconnectReason::OutsideSchedule));
    let s = r.sent();
    assert!(s[0].get(58).unwrap().contains("outside session schedule"));
    // An initiator does not even log on (the acceptor's session gone: one holder per store).
    drop(r);
    let mut r = Rig::new(&st, Role::Initiator);
    r.s.on_connected(now(0), &mut r.out);
    assert!(r.sent().is_empty());
    assert!(!r.s.in_schedule(now(0)));
    assert_eq!(
        r.s.on_timer(now(0), &mut r.out),
        Verdict::Disconnect(DisconnectReason::OutsideSchedule)
    );
}

#[test]
fn a_new_schedule_period_restarts_sequence_numbers() {
    let dir = tmp_dir("period");
    let mut st = settings(&dir);
    st.start_time = Some("08:00:00".into());
    st.end_time = Some("20:00:00".into());
    {
        // Yesterday's period, 08:00 UTC.
        let mut store = SeqStore::open(&dir, &SessionKey::from_settings(&st)).unwrap();
        store.reset(T0_UTC - 4 * 3600 * SEC - 86_400 * SEC).unwrap();
        store.set(500, 400).unwrap();
    }
    let mut r = Rig::new(&st, Role::Acceptor);
    assert_eq!(r.s.next_in(), 500);
    r.s.on_connected(now(0), &mut r.out);
    assert_eq!((r.s.next_in(), r.s.next_out()), (1, 1));
    let mut p = Peer::new();
    assert_eq!(r.recv(&p.logon(now(0)), now(0)), Verdict::Continue);
    // Same period on a later connection: no reset.
    r.recv(&p.app(now(1)), now(1));
    r.s.on_disconnected(now(2));
    r.s.on_connected(now(3), &mut r.out);
    assert_eq!(r.s.next_in(), 3);
}

#[test]
fn session_is_logged_out_at_the_end_of_the_schedule() {
    let mut st = settings(&tmp_dir("schedule_end"));
    st.start_time = Some("11:00:00".into());
    st.end_time = Some("12:00:10".into());
    let mut r = Rig::new(&st, Role::Acceptor);
    let mut p = Peer::new();
    r.s.on_connected(now(0), &mut r.out);
    r.recv(&p.logon(now(0)), now(0));
    r.sent();
    assert_eq!(r.s.on_timer(now(9), &mut r.out), Verdict::Continue);
    assert!(r.sent().is_empty());
    r.s.on_timer(now(10), &mut r.out);
    let s = r.sent();
    assert_eq!(types(&s), ["5"]);
    assert_eq!(r.s.state(), SessionState::LogoutSent);
}

#[test]
fn sub_ids_are_sent_and_checked() {
    let mut st = settings(&tmp_dir("subids"));
    st.sender_sub_id = Some("DESK1".into());
    st.target_sub_id = Some("TRADER9".into());
    let mut r = Rig::new(&st, Role::Initiator);
    r.s.on_connected(now(0), &mut r.out);
    let s = r.sent();
    assert_eq!(s[0].get(50), Some("DESK1"));
    assert_eq!(s[0].get(57), Some("TRADER9"));
    // SubIDs come right after the header fields the codec writes (still in the header block).
    let pos = |t: u32| s[0].0.iter().position(|(x, _)| *x == t).unwrap();
    assert!(pos(57) < pos(98));
    // The answer without SubIDs is an unknown counterparty.
    let v = r.recv(&Peer::new().logon(now(1)), now(1));
    assert_eq!(v, Verdict::Disconnect(DisconnectReason::LogonRejected));
}

#[test]
fn settings_validation_names_the_field() {
    let mut st = SessionSettings::new("LPS", "LP1");
    assert!(st.validate().is_ok());
    st.begin_string = "FIX.5.0".into();
    assert_eq!(st.validate().unwrap_err().0, "begin_string");
    st.begin_string = "FIX.4.2".into();
    st.heartbeat_s = 0;
    assert_eq!(st.validate().unwrap_err().0, "heartbeat_s");
    st.heartbeat_s = 30;
    st.start_time = Some("25:00:00".into());
    st.end_time = Some("17:00:00".into());
    assert_eq!(st.validate().unwrap_err().0, "start_time");
    st.start_time = Some("08:00:00".into());
    st.time_zone = "Europe/Lodnon".into();
    let (f, msg) = st.validate().unwrap_err();
    assert_eq!(f, "time_zone");
    assert!(msg.contains("no such zone"), "{msg}");
    st.time_zone = "+01:00".into();
    assert!(st.validate().is_ok());
    st.target_comp_id = String::new();
    assert_eq!(st.validate().unwrap_err().0, "target_comp_id");
}

#[test]
fn settings_parse_from_toml_with_defaults() {
    let st: SessionSettings = toml::from_str(
        r#"
        sender_comp_id = "LPS"
        target_comp_id = "LP1"
        heartbeat_s = 10
        store_fsync = true
        "#,
    )
    .unwrap();
    assert_eq!(st.begin_string, "FIX.4.4");
    assert_eq!(st.logon_timeout_s, 10);
    assert_eq!(st.max_latency_s, 120);
    assert!(st.store_fsync);
    assert!(st.validate().is_ok());
}

// ---- the hot path ----------------------------------------------------------------------------

#[test]
fn in_sequence_application_message_does_not_allocate() {
    let (mut r, mut p) = Rig::logged_on("no_alloc");
    let msgs: Vec<Vec<u8>> = (0..200).map(|_| p.app(now(1))).collect();
    let mut delivered = 0u64;
    let mut deliver = |_: &Message<'_>, _: u64| delivered += 1;
    for m in &msgs[..100] {
        r.s.on_message(m, now(1), &mut r.out, &mut deliver);
    }
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    for m in &msgs[100..] {
        r.s.on_message(m, now(1), &mut r.out, &mut deliver);
    }
    ARMED.with(|a| a.set(false));
    assert_eq!(delivered, 200);
    assert_eq!(
        COUNT.with(Cell::get),
        0,
        "allocations on the in-sequence path"
    );
}

// ---- property: whatever is lost or duplicated, everything arrives once, in order --------------

/// A counterparty that answers ResendRequests the way QuickFIX does: application messages again
/// (PossDup, OrigSendingTime), admin messages as a GapFill.
struct SimPeer {
    p: Peer,
    /// What each seq was: `true` for an application message.
    kinds: Vec<bool>,
}

impl SimPeer {
    fn send(&mut self, app: bool, t: Now) -> Vec<u8> {
        self.kinds.push(app);
        if app {
            self.p.app(t)
        } else {
            self.p.heartbeat(t, None)
        }
    }
    fn resend(&mut self, begin: u64, t: Now) -> Vec<Vec<u8>> {
        let last = self.p.seq - 1;
        let mut v = Vec::new();
        let mut seq = begin.max(1);
        while seq <= last {
            if self.kinds[seq as usize - 1] {
                v.push(self.p.resend_app(t, seq));
                seq += 1;
            } else {
                let mut end = seq;
                while end < last && !self.kinds[end as usize] {
                    end += 1;
                }
                let o = Opts {
                    seq: Some(seq),
                    poss_dup: true,
                    orig: true,
                };
                v.push(self.p.seq_reset(t, o, true, end + 1));
                seq = end + 1;
            }
        }
        v
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    /// The counterparty sends a random mix of application and admin messages. On the way, some
    /// are lost (garbled: the framer drops them), some are duplicated (a PossDup copy somewhere
    /// later in the stream), some resent ones are lost again; the counterparty has a random
    /// number of messages in flight when it reads our ResendRequest (they arrive before the
    /// resend, as on a TCP stream); the connection may be cut (everything in flight is lost) and
    /// the counterparty logs on again with its next number. Whatever happens, every application
    /// message is delivered exactly once, in order, and the session itself never disconnects.
    #[test]
    fn every_application_message_is_delivered_once_in_order(
        kinds in proptest::collection::vec(prop::bool::weighted(0.8), 1..80),
        lose in proptest::collection::vec(prop::bool::weighted(0.15), 97),
        dup_at in proptest::collection::vec(prop::option::weighted(0.15, 0usize..10), 97),
        depth in proptest::collection::vec(0usize..8, 31),
        lose_resent in proptest::collection::vec(prop::bool::weighted(0.1), 101),
        cuts in proptest::collection::vec(0usize..120, 0..3),
    ) {
        let mut st = SessionSettings::new("LPS", "LP1");
        st.max_latency_s = 0; // the test's clock jumps ahead between rounds
        let mut r = Rig {
            s: Session::new(&st, Role::Acceptor, SeqStore::memory()),
            out: Outbox::new(),
            delivered: Vec::new(),
        };
        let mut peer = SimPeer { p: Peer::new(), kinds: vec![false] };
        r.s.on_connected(now(0), &mut r.out);
        prop_assert_eq!(r.recv(&peer.p.logon(now(0)), now(0)), Verdict::Continue);
        r.sent();
        let mut wire: std::collections::VecDeque<Vec<u8>> = Default::default();
        let mut plan = kinds.iter().copied();
        // PossDup copies waiting for (countdown) more messages to be sent first.
        let mut delayed: Vec<(usize, Vec<u8>)> = Vec::new();
        let mut step = 0usize;
        let mut resent_n = 0usize;
        let mut t = 1;
        let mut rounds = 0;
        loop {
            // The counterparty keeps up to `depth` messages in flight.
            while wire.len() < depth[step % depth.len()] + 1 {
                let Some(app) = plan.next() else { break };
                let seq = peer.p.seq;
                let m = peer.send(app, now(t));
                if !lose[seq as usize % lose.len()] {
                    wire.push_back(m);
                }
                // Duplicates due now go on the wire after this message.
                for d in delayed.iter_mut() {
                    d.0 = d.0.saturating_sub(1);
                }
                while let Some(i) = delayed.iter().position(|d| d.0 == 0) {
                    wire.push_back(delayed.remove(i).1);
                }
                if let (Some(after), true) = (dup_at[seq as usize % dup_at.len()], app) {
                    delayed.push((after + 1, peer.p.resend_app(now(t), seq)));
                }
            }
            if wire.is_empty() && !delayed.is_empty() {
                wire.extend(delayed.drain(..).map(|d| d.1));
            }
            step += 1;
            if cuts.contains(&step) {
                // Connection cut: what was in flight is lost; a new connection, a new Logon.
                r.s.on_disconnected(now(t));
                wire.clear();
                delayed.clear();
                r.s.on_connected(now(t), &mut r.out);
                peer.kinds.push(false);
                let logon = peer.p.logon(now(t));
                wire.push_back(logon);
            }
            if let Some(m) = wire.pop_front() {
                let v = r.recv(&m, now(t));
                prop_assert_eq!(v, Verdict::Continue);
                for s in r.sent() {
                    if s.mt() == "2" {
                        // Read by the counterparty now: the resend follows what is in flight.
                        let begin: u64 = s.get(7).unwrap().parse().unwrap();
                        for m in peer.resend(begin, now(t)) {
                            resent_n += 1;
                            if !lose_resent[resent_n % lose_resent.len()] {
                                wire.push_back(m);
                            }
                        }
                    }
                }
                continue;
            }
            let expected: Vec<u64> =
                (1..peer.p.seq).filter(|&s| peer.kinds[s as usize - 1]).collect();
            if r.delivered == expected && r.s.next_in() == peer.p.seq {
                break;
            }
            rounds += 1;
            prop_assert!(rounds < 50, "no convergence: delivered {:?}, expected {:?}",
                r.delivered, expected);
            // Idle: the counterparty's next heartbeat reveals a gap at the end of the stream;
            // our timer asks again for a resend that stopped making progress.
            t += 31;
            wire.push_back(peer.send(false, now(t)));
            let v = r.s.on_timer(now(t), &mut r.out);
            prop_assert_eq!(v, Verdict::Continue);
            for s in r.sent() {
                if s.mt() == "2" {
                    let begin: u64 = s.get(7).unwrap().parse().unwrap();
                    for m in peer.resend(begin, now(t)) {
                        wire.push_back(m);
                    }
                }
            }
        }
        prop_assert_eq!(r.s.counters().delivered as usize, r.delivered.len());
    }
}

/// Not a test: prints the cost of `on_message` for in-sequence application messages, with the
/// file store (one pwrite each) and with the memory store. Run with
/// `cargo test --test fix_session cost_figure -- --ignored --nocapture` (use `--release` for a
/// meaningful figure).
#[test]
#[ignore]
#[allow(clippy::disallowed_methods)] // wall time is what is measured
fn cost_figure() {
    // The default store is the mapped file; with fsync, a pwrite and an fdatasync per message
    // (fewer messages: each waits for the disk).
    for (what, fsync, n) in [
        ("memory", None, 200_000usize),
        ("file (mapped)", Some(false), 200_000),
        ("file, fsync per write", Some(true), 2_000),
    ] {
        let dir = tmp_dir("cost");
        let st = settings(&dir);
        let store = match fsync {
            Some(fsync) => SeqStore::open_with(
                &dir,
                &SessionKey::from_settings(&st),
                StoreOptions { fsync },
            )
            .unwrap(),
            None => SeqStore::memory(),
        };
        let mut s = Session::new(&st, Role::Acceptor, store);
        let mut out = Outbox::new();
        let mut p = Peer::new();
        s.on_connected(now(0), &mut out);
        s.on_message(
            &p.logon(now(0)),
            now(0),
            &mut out,
            &mut |_: &Message<'_>, _| {},
        );
        let msgs: Vec<Vec<u8>> = (0..n).map(|_| p.app(now(1))).collect();
        let mut got = 0u64;
        let t0 = std::time::Instant::now();
        for m in &msgs {
            s.on_message(m, now(1), &mut out, &mut |_: &Message<'_>, _| got += 1);
        }
        let el = t0.elapsed();
        assert_eq!(got, n as u64);
        println!(
            "{what} store: {:.0} ns per in-sequence application message ({} bytes each, {n} messages)",
            el.as_nanos() as f64 / n as f64,
            msgs[0].len()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A correctly framed message with the given fields after 35 (for hostile input).
fn framed(msg_type: &str, fields: &[(u32, String)]) -> Vec<u8> {
    let mut body = format!("35={msg_type}\x01");
    for (t, v) in fields {
        body.push_str(&format!("{t}={v}\x01"));
    }
    let mut m = format!("8=FIX.4.4\x019={}\x01{body}", body.len()).into_bytes();
    let sum: u32 = m.iter().map(|&b| u32::from(b)).sum::<u32>() % 256;
    m.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    /// Hostile but well-framed session traffic never panics; whatever the verdict, the session
    /// stays consistent (numbers never go below 1, a Disconnect closes it).
    #[test]
    fn hostile_session_messages_never_panic(
        msgs in proptest::collection::vec(
            (
                prop::sample::select(vec!["0", "1", "2", "3", "4", "5", "A", "D", "8", "Z"]),
                proptest::collection::vec(
                    (
                        prop::sample::select(vec![
                            7u32, 16, 34, 36, 43, 49, 52, 56, 58, 98, 108, 112, 122, 123, 141,
                            553, 554, 1137, 50, 57, 45, 373,
                        ]),
                        prop::sample::select(vec![
                            "0".to_string(), "1".into(), "2".into(), "Y".into(), "N".into(),
                            "LP1".into(), "LPS".into(), "18446744073709551615".into(),
                            "99999999999999999999".into(), "-1".into(), "20251121-12:00:00".into(),
                            "20251121-12:00:00.000".into(), "x".into(), "3600".into(),
                        ]),
                    ),
                    0..12,
                ),
            ),
            1..30,
        ),
        good_header in prop::bool::weighted(0.7),
        seq_jitter in proptest::collection::vec(-2i64..3, 30),
    ) {
        let mut st = SessionSettings::new("LPS", "LP1");
        st.max_latency_s = 0;
        let mut s = Session::new(&st, Role::Acceptor, SeqStore::memory());
        let mut out = Outbox::new();
        s.on_connected(now(0), &mut out);
        // Half the cases start logged on.
        if msgs.len() % 2 == 0 {
            let mut p = Peer::new();
            prop_assert_eq!(s.on_message(&p.logon(now(0)), now(0), &mut out, &mut |_: &Message<'_>, _| {}), Verdict::Continue);
        }
        for (i, (mt, fields)) in msgs.iter().enumerate() {
            let mut all = Vec::new();
            if good_header {
                // A plausible header (numbers near the expected one), then the random fields.
                let seq = (s.next_in() as i64 + seq_jitter[i % 30]).max(1);
                all.push((49, "LP1".to_string()));
                all.push((56, "LPS".to_string()));
                all.push((34, seq.to_string()));
                all.push((52, "20251121-12:00:00.000".to_string()));
            }
            all.extend(fields.iter().cloned());
            let m = framed(mt, &all);
            let v = s.on_message(&m, now(i as u64), &mut out, &mut |m: &Message<'_>, _| {
                assert!(m.bytes().starts_with(b"8=FIX"));
            });
            s.on_timer(now(i as u64 * 20), &mut out);
            prop_assert!(s.next_in() >= 1 && s.next_out() >= 1);
            // Everything written is valid FIX.
            drain(&mut out);
            if let Verdict::Disconnect(_) = v {
                prop_assert!(s.is_closed());
                s.on_disconnected(now(i as u64));
                s.on_connected(now(i as u64), &mut out);
            }
        }
    }
}

// ---- named time zones and weekly schedules (zone maths: tests/fix_schedule.rs) --------------

/// A `Now` at UTC second `utc_s` (the monotonic clock follows it).
fn at(utc_s: u64) -> Now {
    Now {
        mono_ns: utc_s * SEC,
        utc_ns: utc_s * SEC,
    }
}

/// 2026-03-06 21:59:40Z, Friday, 16:59:40 EST.
const FRI_1659: u64 = 1_772_834_380;
/// 2026-03-07 12:00:00Z, Saturday.
const SAT_NOON: u64 = 1_772_884_800;
/// 2026-03-08 21:00:00Z, Sunday: 17:00 EDT (clocks went forward at 07:00Z that day).
const SUN_1700_EDT: u64 = 1_773_003_600;

fn new_york_settings(name: &str) -> SessionSettings {
    let mut st = settings(&tmp_dir(name));
    st.time_zone = "America/New_York".into();
    st.start_time = Some("17:00:00".into());
    st.end_time = Some("17:00:00".into());
    if let Err((f, m)) = st.validate() {
        panic!("{f}: {m} (the schedule tests need the tz database: install tzdata)");
    }
    st
}

#[test]
fn weekly_new_york_session_ends_friday_and_restarts_sunday_across_dst() {
    let mut st = new_york_settings("weekly_ny");
    st.start_day = Some("Sunday".into());
    st.end_day = Some("Fri".into());
    st.validate().unwrap();
    let mut r = Rig::new(&st, Role::Acceptor);
    let mut p = Peer::new();
    // Friday 16:59:40 EST: inside the week's window.
    r.s.on_connected(at(FRI_1659), &mut r.out);
    assert_eq!(
        r.recv(&p.logon(at(FRI_1659)), at(FRI_1659)),
        Verdict::Continue
    );
    r.recv(&p.app(at(FRI_1659 + 1)), at(FRI_1659 + 1));
    assert_eq!(r.delivered, [2]);
    r.sent();
    assert_eq!(
        r.s.on_timer(at(FRI_1659 + 19), &mut r.out),
        Verdict::Continue
    );
    assert!(r.sent().is_empty());
    // Friday 17:00:00 EST: the window closes.
    r.s.on_timer(at(FRI_1659 + 20), &mut r.out);
    let s = r.sent();
    assert_eq!(types(&s), ["5"]);
    assert_eq!(s[0].get(58), Some("End of session period"));
    r.s.on_disconnected(at(FRI_1659 + 21));
    // Saturday: refused.
    assert!(!r.s.in_schedule(at(SAT_NOON)));
    r.s.on_connected(at(SAT_NOON), &mut r.out);
    let mut p2 = Peer::new();
    let v = r.recv(&p2.logon(at(SAT_NOON)), at(SAT_NOON));
    assert_eq!(v, Verdict::Disconnect(DisconnectReason::OutsideSchedule));
    r.sent();
    r.s.on_disconnected(at(SAT_NOON));
    assert_eq!((r.s.next_in(), r.s.next_out()), (3, 4)); // our Logouts used 2 and 3
    // Sunday 16:59:59 EDT: still closed (a fixed -05:00 zone would open only at 22:00Z).
    assert!(!r.s.in_schedule(at(SUN_1700_EDT - 1)));
    assert!(r.s.in_schedule(at(SUN_1700_EDT)));
    // Sunday 17:00 EDT: a new period, both numbers restart at 1.
    r.s.on_connected(at(SUN_1700_EDT), &mut r.out);
    assert_eq!((r.s.next_in(), r.s.next_out()), (1, 1));
    let mut p3 = Peer::new();
    let v = r.recv(&p3.logon(at(SUN_1700_EDT)), at(SUN_1700_EDT));
    assert_eq!(v, Verdict::Continue);
    let s = r.sent();
    assert_eq!(types(&s), ["A"]);
    assert_eq!(s[0].seq(), 1);
    assert_eq!(r.s.next_in(), 2);
    // The new period survives a reconnect within the week (no second reset).
    r.recv(&p3.app(at(SUN_1700_EDT + 5)), at(SUN_1700_EDT + 5));
    r.s.on_disconnected(at(SUN_1700_EDT + 6));
    r.s.on_connected(at(SUN_1700_EDT + 86_400), &mut r.out);
    assert_eq!(r.s.next_in(), 3);
}

#[test]
fn daily_new_york_window_across_midnight_resets_at_the_next_start() {
    // 17:05 to 17:00 New York time (crosses midnight), across the March change.
    let mut st = new_york_settings("daily_ny");
    st.start_time = Some("17:05:00".into());
    st.validate().unwrap();
    let mut r = Rig::new(&st, Role::Acceptor);
    let mut p = Peer::new();
    // Saturday 2026-03-07 23:00Z = 18:00 EST: inside the window opened at 17:05 EST.
    let sat = SAT_NOON + 11 * 3600;
    r.s.on_connected(at(sat), &mut r.out);
    assert_eq!(r.recv(&p.logon(at(sat)), at(sat)), Verdict::Continue);
    r.recv(&p.app(at(sat + 1)), at(sat + 1));
    r.s.on_disconnected(at(sat + 2));
    // Sunday 16:59:30 EDT, after midnight and the change: the same period, no reset.
    let t = SUN_1700_EDT - 30;
    r.s.on_connected(at(t), &mut r.out);
    assert_eq!((r.s.next_in(), r.s.next_out()), (3, 2));
    assert_eq!(r.recv(&p.logon(at(t)), at(t)), Verdict::Continue);
    r.sent();
    assert_eq!(r.s.on_timer(at(t + 29), &mut r.out), Verdict::Continue);
    assert!(r.sent().is_empty());
    // 17:00 EDT: the end of the period.
    r.s.on_timer(at(SUN_1700_EDT), &mut r.out);
    assert_eq!(types(&r.sent()), ["5"]);
    r.s.on_disconnected(at(SUN_1700_EDT + 1));
    // 17:02 EDT: between the windows.
    let mut p2 = Peer::new();
    r.s.on_connected(at(SUN_1700_EDT + 120), &mut r.out);
    let v = r.recv(&p2.logon(at(SUN_1700_EDT + 120)), at(SUN_1700_EDT + 120));
    assert_eq!(v, Verdict::Disconnect(DisconnectReason::OutsideSchedule));
    r.sent();
    r.s.on_disconnected(at(SUN_1700_EDT + 121));
    // 17:05 EDT: the next period starts at 1.
    let open = SUN_1700_EDT + 300;
    r.s.on_connected(at(open), &mut r.out);
    assert_eq!((r.s.next_in(), r.s.next_out()), (1, 1));
    let mut p3 = Peer::new();
    assert_eq!(r.recv(&p3.logon(at(open)), at(open)), Verdict::Continue);
    assert_eq!(r.sent()[0].seq(), 1);
}
