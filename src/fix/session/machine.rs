//! The session state machine (see docs/session.md for the state diagram).

use std::collections::BTreeMap;
use std::fmt;

use crate::fix::num;
use crate::fix::{
    BeginString, BodyWriter, Encoder, FixMessage, Frame, FramerConfig, Header, Heartbeat, Logon,
    Logout, Message, ParseError, ParseErrorKind, Parser, Raw, Reject, ResendRequest, SequenceReset,
    TestRequest, UtcTimestamp, frame_one,
};

use super::{Schedule, SeqStore, SessionSettings, StoreError, StoreOptions};

const NS_PER_S: u64 = 1_000_000_000;

/// Which side opens the connection and sends the first Logon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Waits for the counterparty's Logon and answers it.
    Acceptor,
    /// Sends the Logon on connect and waits for the answer.
    Initiator,
}

/// The time, passed in by the caller (the state machine never reads a clock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Now {
    /// Monotonic nanoseconds (any epoch): every timer.
    pub mono_ns: u64,
    /// Nanoseconds since the Unix epoch (UTC): SendingTime (52), the schedule.
    pub utc_ns: u64,
}

/// Complete encoded FIX messages to send, appended in order. The caller sends [`Outbox::bytes`]
/// and then calls [`Outbox::clear`]; the buffer is reused (no allocation once grown).
#[derive(Debug, Default, Clone)]
pub struct Outbox {
    buf: Vec<u8>,
    messages: usize,
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Self {
            buf: Vec::with_capacity(4096),
            messages: 0,
        }
    }
    /// The bytes to send (whole messages, SOH-delimited).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
    /// Forgets everything (after sending).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.messages = 0;
    }
    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// Messages appended since the last clear.
    pub fn messages(&self) -> usize {
        self.messages
    }
    fn push(&mut self, msg: &[u8]) {
        self.buf.extend_from_slice(msg);
        self.messages += 1;
    }
}

/// Why the session wants the connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// We refused the counterparty's Logon (unknown CompID, wrong password, bad BeginString,
    /// invalid Logon); a Logout with the reason was queued.
    LogonRejected,
    /// The counterparty answered our Logon with a Logout.
    LogonRefused,
    /// The first message was not a Logon.
    NotLogon,
    /// A Logon outside the session schedule (or an initiator connected outside it).
    OutsideSchedule,
    /// No Logon within `logon_timeout_s`.
    LogonTimeout,
    /// A TestRequest after 1.2 x HeartBtInt of silence got no answer within another HeartBtInt.
    HeartbeatTimeout,
    /// The counterparty logged out; we answered with a Logout.
    PeerLogout,
    /// We logged out and the counterparty answered.
    LogoutComplete,
    /// We logged out and the counterparty did not answer within `logout_timeout_s`.
    LogoutTimeout,
    /// MsgSeqNum lower than expected without PossDupFlag.
    SeqTooLow,
    /// The counterparty's Logon asks, with NextExpectedMsgSeqNum (789), for a number above the
    /// next we will send: its state is ahead of ours, which no resend can repair.
    NextExpectedTooHigh,
    /// A later message with the wrong CompIDs (Reject 373=9 and Logout were queued).
    CompIdProblem,
    /// A message with another BeginString.
    IncorrectBeginString,
    /// SendingTime (52) too far from our clock, or OrigSendingTime after SendingTime.
    SendingTimeAccuracy,
    /// A message without a usable MsgSeqNum (34).
    MissingSeqNum,
    /// A Logon while logged on (without ResetSeqNumFlag).
    UnexpectedLogon,
    /// The sequence store could not be written: nothing more is handed on.
    StoreFailed,
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::LogonRejected => "logon rejected",
            Self::LogonRefused => "logon refused by the counterparty",
            Self::NotLogon => "first message not a Logon",
            Self::OutsideSchedule => "outside session schedule",
            Self::LogonTimeout => "logon timeout",
            Self::HeartbeatTimeout => "heartbeat timeout (TestRequest unanswered)",
            Self::PeerLogout => "counterparty logged out",
            Self::LogoutComplete => "logout complete",
            Self::LogoutTimeout => "logout timeout",
            Self::SeqTooLow => "MsgSeqNum too low",
            Self::NextExpectedTooHigh => "NextExpectedMsgSeqNum (789) too high",
            Self::CompIdProblem => "CompID problem",
            Self::IncorrectBeginString => "incorrect BeginString",
            Self::SendingTimeAccuracy => "SendingTime accuracy problem",
            Self::MissingSeqNum => "MsgSeqNum missing",
            Self::UnexpectedLogon => "Logon while logged on",
            Self::StoreFailed => "sequence store write failed",
        })
    }
}

/// What the caller does with the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Keep it.
    Continue,
    /// Send what is in the outbox (it may hold a Logout), then close it and call
    /// [`Session::on_disconnected`].
    Disconnect(DisconnectReason),
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// No connection.
    Disconnected,
    /// Acceptor: connected, waiting for the counterparty's Logon.
    AwaitingLogon,
    /// Initiator: Logon sent, waiting for the answer.
    LogonSent,
    /// Logged on.
    Active,
    /// Our Logout sent, waiting for the counterparty's.
    LogoutSent,
    /// Done with this connection (a Disconnect verdict was or will be given).
    Closed,
}

/// What the session has done (monotonic counts since [`Session::new`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionCounters {
    /// Messages handed to `on_message` (and released from the gap queue are not counted again).
    pub received: u64,
    /// Application messages delivered.
    pub delivered: u64,
    /// Session-level messages processed in sequence.
    pub admin: u64,
    /// Messages dropped as already seen (PossDup below the expected MsgSeqNum, or covered by a
    /// gap fill while queued).
    pub duplicates: u64,
    /// Gaps detected (a ResendRequest was sent for each).
    pub gaps: u64,
    /// ResendRequests sent.
    pub resend_requests_sent: u64,
    /// ResendRequests received (answered with a gap fill).
    pub resend_requests_received: u64,
    /// SequenceReset-GapFill received and applied.
    pub gap_fills_received: u64,
    /// SequenceReset-GapFill sent.
    pub gap_fills_sent: u64,
    /// SequenceReset-Reset received.
    pub sequence_resets_received: u64,
    /// Messages held in the gap queue.
    pub queued: u64,
    /// Messages dropped because the gap queue was full (the resend brings them again).
    pub queue_dropped: u64,
    /// Reject (3) sent.
    pub rejects_sent: u64,
    /// Reject (3) received.
    pub rejects_received: u64,
    /// Logons completed.
    pub logons: u64,
    /// Logons refused (ours by the counterparty, or theirs by us).
    pub logons_refused: u64,
    /// Logout sent.
    pub logouts_sent: u64,
    /// Logout received.
    pub logouts_received: u64,
    /// Heartbeats sent.
    pub heartbeats_sent: u64,
    /// Heartbeats received.
    pub heartbeats_received: u64,
    /// TestRequests sent.
    pub test_requests_sent: u64,
    /// TestRequests received (answered).
    pub test_requests_received: u64,
    /// Messages whose fields could not be indexed (rejected or ignored).
    pub malformed: u64,
    /// Messages received while no connection was active (ignored).
    pub ignored: u64,
    /// Disconnect verdicts given.
    pub disconnects: u64,
}

/// The identity of a session (from its settings).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    /// BeginString (8).
    pub begin_string: String,
    /// Our CompID.
    pub sender_comp_id: String,
    /// The counterparty's CompID.
    pub target_comp_id: String,
    /// Our SubID.
    pub sender_sub_id: Option<String>,
    /// The counterparty's SubID.
    pub target_sub_id: Option<String>,
}

impl SessionKey {
    /// The key of these settings.
    pub fn from_settings(s: &SessionSettings) -> Self {
        Self {
            begin_string: s.begin_string.clone(),
            sender_comp_id: s.sender_comp_id.clone(),
            target_comp_id: s.target_comp_id.clone(),
            sender_sub_id: s.sender_sub_id.clone(),
            target_sub_id: s.target_sub_id.clone(),
        }
    }

    /// The store file name: `BEGIN-SENDER[.SUB]-TARGET[.SUB].seqs`, bytes other than
    /// `[A-Za-z0-9_]` written as `%XX` (so two keys never share a file).
    pub fn file_name(&self) -> String {
        fn push(out: &mut String, s: &str) {
            for b in s.bytes() {
                if b.is_ascii_alphanumeric() || b == b'_' {
                    out.push(b as char);
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
        let mut out = String::new();
        push(&mut out, &self.begin_string);
        out.push('-');
        push(&mut out, &self.sender_comp_id);
        if let Some(s) = &self.sender_sub_id {
            out.push('.');
            push(&mut out, s);
        }
        out.push('-');
        push(&mut out, &self.target_comp_id);
        if let Some(s) = &self.target_sub_id {
            out.push('.');
            push(&mut out, s);
        }
        out.push_str(".seqs");
        out
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.begin_string, self.sender_comp_id)?;
        if let Some(s) = &self.sender_sub_id {
            write!(f, "/{s}")?;
        }
        write!(f, "->{}", self.target_comp_id)?;
        if let Some(s) = &self.target_sub_id {
            write!(f, "/{s}")?;
        }
        Ok(())
    }
}

/// Our identity on the wire, as bytes (kept apart from the encoder so both can be borrowed).
#[derive(Debug)]
struct Ids {
    begin: BeginString,
    sender: Vec<u8>,
    target: Vec<u8>,
    sender_sub: Option<Vec<u8>>,
    target_sub: Option<Vec<u8>>,
}

/// Our timestamps in milliseconds: every engine accepts them (FIX.4.2 has no finer precision;
/// QuickFIX's default TimestampPrecision is 3).
fn ms(now: Now) -> UtcTimestamp {
    UtcTimestamp((now.utc_ns / 1_000_000 * 1_000_000) as i64)
}

fn header(ids: &Ids, seq: u64, now: Now) -> Header<'_> {
    Header::new(ids.begin, &ids.sender, &ids.target, seq, ms(now))
}

/// A session message with our SubIDs written right after the standard header fields (so they
/// stay in the header block).
struct WithSub<'s, M> {
    m: M,
    ids: &'s Ids,
}

impl<M: FixMessage> FixMessage for WithSub<'_, M> {
    const MSG_TYPE: &'static [u8] = M::MSG_TYPE;
    fn header(&self) -> &Header<'_> {
        self.m.header()
    }
    fn encode_body(&self, w: &mut BodyWriter<'_>) {
        if let Some(s) = &self.ids.sender_sub {
            w.raw(50, s);
        }
        if let Some(s) = &self.ids.target_sub {
            w.raw(57, s);
        }
        self.m.encode_body(w);
    }
}

/// The standard header fields the session checks, from one pass over the field index.
#[derive(Debug, Default, Clone, Copy)]
struct Hdr<'a> {
    seq: Option<u64>,
    sender: Option<&'a [u8]>,
    target: Option<&'a [u8]>,
    sender_sub: Option<&'a [u8]>,
    target_sub: Option<&'a [u8]>,
    /// `Err` when present but malformed.
    sending_time: Option<Result<i64, ()>>,
    poss_dup: bool,
    orig_sending_time: Option<Result<i64, ()>>,
}

fn scan_header<'a>(m: &Message<'a>) -> Hdr<'a> {
    let mut h = Hdr::default();
    for f in m.field_index().get(3..).unwrap_or(&[]) {
        let v = m.value(f);
        match f.tag {
            34 => h.seq = num::parse_u64(v).ok(),
            49 => h.sender = Some(v),
            56 => h.target = Some(v),
            50 => h.sender_sub = Some(v),
            57 => h.target_sub = Some(v),
            52 => h.sending_time = Some(num::parse_timestamp(v).map_err(|_| ())),
            43 => h.poss_dup = v == b"Y",
            122 => h.orig_sending_time = Some(num::parse_timestamp(v).map_err(|_| ())),
            _ => {}
        }
    }
    h
}

/// SessionRejectReason (373) for a parse error.
pub(super) fn reject_reason(k: ParseErrorKind) -> u32 {
    match k {
        ParseErrorKind::BadTag => 0,
        ParseErrorKind::Missing => 1,
        ParseErrorKind::EmptyValue => 4,
        ParseErrorKind::WrongMsgType => 11,
        ParseErrorKind::Duplicate => 13,
        ParseErrorKind::GroupCount => 16,
        _ => 6,
    }
}

/// A message held while a gap is filled.
#[derive(Debug)]
enum Queued {
    /// The bytes, processed again when in sequence.
    Msg(Vec<u8>),
    /// Already acted on when it arrived (a Logon or ResendRequest): only its seq is consumed.
    Consumed,
}

/// Encodes `$m` (whose header borrows `$s.ids`) with our SubIDs into `$out`. A macro so the
/// borrows of `ids` and `encoder` stay disjoint field borrows.
macro_rules! push {
    ($s:ident, $out:ident, $m:expr) => {{
        let w = WithSub {
            m: $m,
            ids: &$s.ids,
        };
        $out.push($s.encoder.encode(&w));
    }};
}

/// Spare queue buffers kept for reuse.
const SPARE_BUFFERS: usize = 64;

/// One FIX session: sans-IO, driven by the runtime (see the module docs).
#[derive(Debug)]
pub struct Session {
    settings: SessionSettings,
    key: SessionKey,
    role: Role,
    ids: Ids,
    schedule: Option<Schedule>,
    store: SeqStore,
    next_in: u64,
    next_out: u64,
    state: SessionState,
    /// Always `Some` between calls (taken out during [`Session::on_frame`]).
    parser: Option<Parser>,
    encoder: Encoder,
    counters: SessionCounters,
    /// Negotiated HeartBtInt in ns (0: no heartbeats).
    hb_ns: u64,
    last_sent: u64,
    last_recv: u64,
    /// Mono time our outstanding TestRequest was sent.
    test_req_sent: Option<u64>,
    logon_deadline: u64,
    logout_deadline: u64,
    /// We sent ResetSeqNumFlag=Y in our Logon.
    sent_reset: bool,
    /// A ResendRequest is outstanding: (BeginSeqNo, last seq the gap is known to cover).
    resend: Option<(u64, u64)>,
    /// Last PossDup MsgSeqNum seen above the expected one while resending (a lower one starts a
    /// new resend pass).
    pass_last: u64,
    /// A ResendRequest was repeated in the current pass.
    rerequested: bool,
    /// `next_in` when progress was last seen, and when (mono): a resend that stops making
    /// progress is asked for again.
    progress: (u64, u64),
    queue: BTreeMap<u64, Queued>,
    spare: Vec<Vec<u8>>,
    /// Given by `on_timer` (a decision taken where no verdict could be returned).
    pending: Option<DisconnectReason>,
    framer_cfg: FramerConfig,
}

impl Session {
    /// A session resuming from `store`'s sequence numbers. Check the settings with
    /// [`SessionSettings::validate`] first (an invalid schedule is treated as none here).
    pub fn new(settings: &SessionSettings, role: Role, store: SeqStore) -> Self {
        let opt_bytes = |s: &Option<String>| s.as_ref().map(|s| s.as_bytes().to_vec());
        let ids = Ids {
            begin: BeginString::from_bytes(settings.begin_string.as_bytes()).unwrap_or_default(),
            sender: settings.sender_comp_id.as_bytes().to_vec(),
            target: settings.target_comp_id.as_bytes().to_vec(),
            sender_sub: opt_bytes(&settings.sender_sub_id),
            target_sub: opt_bytes(&settings.target_sub_id),
        };
        let (next_in, next_out) = (store.next_in(), store.next_out());
        Self {
            key: SessionKey::from_settings(settings),
            settings: settings.clone(),
            role,
            ids,
            schedule: settings.schedule(),
            store,
            next_in,
            next_out,
            state: SessionState::Disconnected,
            parser: Some(Parser::new(FramerConfig::default())),
            encoder: Encoder::new(),
            counters: SessionCounters::default(),
            hb_ns: u64::from(settings.heartbeat_s) * NS_PER_S,
            last_sent: 0,
            last_recv: 0,
            test_req_sent: None,
            logon_deadline: 0,
            logout_deadline: 0,
            sent_reset: false,
            resend: None,
            pass_last: 0,
            rerequested: false,
            progress: (0, 0),
            queue: BTreeMap::new(),
            spare: Vec::new(),
            pending: None,
            framer_cfg: FramerConfig {
                max_body_len: u32::MAX,
                ..FramerConfig::default()
            },
        }
    }

    /// Opens the session's store in `settings.store_dir` (with `settings.store_fsync`) and
    /// builds the session on it.
    pub fn open(settings: &SessionSettings, role: Role) -> Result<Self, StoreError> {
        let key = SessionKey::from_settings(settings);
        let store = SeqStore::open_with(
            &settings.store_dir,
            &key,
            StoreOptions {
                fsync: settings.store_fsync,
            },
        )?;
        Ok(Self::new(settings, role, store))
    }

    /// Caps the next expected inbound MsgSeqNum: `next_in = min(next_in, n)` (after a crash the
    /// journal may hold fewer messages than the store says were handed on; the resend fills the
    /// difference). Call before [`Session::on_connected`]. Persisted when it lowers `next_in`.
    pub fn resume_inbound_at(&mut self, n: u64) {
        let n = n.max(1);
        if n < self.next_in {
            tracing::info!(session = %self.key, store = self.next_in, journal = n,
                "resuming inbound sequence from the journal");
            self.next_in = n;
            if let Err(e) = self.store.set(self.next_in, self.next_out) {
                tracing::error!(session = %self.key, error = %e, "sequence store write failed");
                self.pending = Some(DisconnectReason::StoreFailed);
            }
        }
    }

    /// A connection is up. The initiator queues its Logon (with ResetSeqNumFlag when
    /// `reset_on_logon`); the acceptor waits for the counterparty's. An initiator outside its
    /// schedule sends nothing and its next `on_timer` says `Disconnect(OutsideSchedule)`.
    pub fn on_connected(&mut self, now: Now, out: &mut Outbox) {
        self.reset_connection();
        self.last_sent = now.mono_ns;
        self.last_recv = now.mono_ns;
        self.logon_deadline = now
            .mono_ns
            .saturating_add(u64::from(self.settings.logon_timeout_s) * NS_PER_S);
        if self.pending == Some(DisconnectReason::StoreFailed) {
            // The store failed earlier: log on only once it can be written again.
            if let Err(e) = self.persist() {
                self.store_failed(&e);
                return;
            }
            self.pending = None;
        }
        if let Err(e) = self.check_period(now) {
            self.store_failed(&e);
            return;
        }
        match self.role {
            Role::Acceptor => self.state = SessionState::AwaitingLogon,
            Role::Initiator => {
                if !self.in_schedule(now) {
                    tracing::info!(session = %self.key, "not logging on: outside session schedule");
                    self.state = SessionState::Closed;
                    self.pending = Some(DisconnectReason::OutsideSchedule);
                    return;
                }
                self.sent_reset = self.settings.reset_on_logon;
                if self.sent_reset {
                    if let Err(e) = self.reset_seqs(now) {
                        self.store_failed(&e);
                        return;
                    }
                }
                self.hb_ns = u64::from(self.settings.heartbeat_s) * NS_PER_S;
                let hb = self.settings.heartbeat_s;
                let reset = self.sent_reset;
                let next_in = self.next_in;
                if let Err(e) = self.send_logon(hb, reset, next_in, now, out) {
                    self.store_failed(&e);
                    return;
                }
                tracing::info!(session = %self.key, seq = self.next_out - 1, reset, "Logon sent");
                self.state = SessionState::LogonSent;
            }
        }
    }

    /// One complete frame's bytes (as cut by a [`Framer`](crate::fix::Framer)). Calls
    /// `deliver(message, msg_seq_num)` (framed and indexed: `message.bytes()` is the whole
    /// message) for every application message to hand on, in sequence
    /// order: several when queued messages are released, none for session-level messages,
    /// duplicates and held messages. Sequence numbers are persisted before each `deliver`.
    /// Nothing is allocated for an in-sequence application message.
    pub fn on_message(
        &mut self,
        frame: &[u8],
        now: Now,
        out: &mut Outbox,
        deliver: &mut dyn FnMut(&Message<'_>, u64),
    ) -> Verdict {
        match frame_one(frame, &self.framer_cfg) {
            Ok(f) => self.on_frame(f, now, out, deliver),
            Err(e) => {
                // The runtime's framer already validated it; count and ignore (like a garbled
                // message: the gap it leaves is filled by a ResendRequest).
                self.counters.received += 1;
                self.counters.malformed += 1;
                tracing::debug!(session = %self.key, error = %e, "unframeable message ignored");
                Verdict::Continue
            }
        }
    }

    /// [`Session::on_message`] for a [`Frame`] from the runtime's framer (no second validation).
    pub fn on_frame(
        &mut self,
        frame: Frame<'_>,
        now: Now,
        out: &mut Outbox,
        deliver: &mut dyn FnMut(&Message<'_>, u64),
    ) -> Verdict {
        self.counters.received += 1;
        // Any message is a sign of life: the silence timer restarts, a TestRequest is answered.
        self.last_recv = now.mono_ns;
        self.test_req_sent = None;
        // The parser moves out for the call so the parsed message can be held while `self`
        // changes (`Option::take` moves it without building a replacement: nothing allocated).
        let mut parser = self
            .parser
            .take()
            .unwrap_or_else(|| Parser::new(FramerConfig::default()));
        let mut v = self.handle(&mut parser, frame, false, now, out, deliver);
        if v == Verdict::Continue && !self.queue.is_empty() {
            v = self.release_queue(&mut parser, now, out, deliver);
        }
        self.parser = Some(parser);
        self.finish(v)
    }

    /// Timers; call at least every few milliseconds: Heartbeat after HeartBtInt without sending,
    /// TestRequest after 1.2 x HeartBtInt of inbound silence, Disconnect when it stays
    /// unanswered for another HeartBtInt; logon and logout timeouts; the end of the schedule.
    pub fn on_timer(&mut self, now: Now, out: &mut Outbox) -> Verdict {
        if let Some(r) = self.pending {
            self.state = SessionState::Closed;
            return Verdict::Disconnect(r);
        }
        let v = self.timers(now, out);
        self.finish(v)
    }

    /// The connection is gone (whoever closed it). Held messages and an outstanding resend are
    /// forgotten; the sequence numbers stay.
    pub fn on_disconnected(&mut self, _now: Now) {
        if !matches!(
            self.state,
            SessionState::Disconnected | SessionState::Closed
        ) {
            tracing::info!(session = %self.key, state = ?self.state, "disconnected");
        }
        self.reset_connection();
        self.state = SessionState::Disconnected;
    }

    /// Orderly shutdown: a Logout when logged on ([`Session::is_closed`] once the counterparty
    /// answers or `logout_timeout_s` passes, `on_timer` then gives the Disconnect); otherwise the
    /// session is closed at once.
    pub fn begin_logout(&mut self, reason: &str, now: Now, out: &mut Outbox) {
        match self.state {
            SessionState::Active => {
                if let Err(e) = self.send_logout(reason.as_bytes(), now, out) {
                    self.store_failed(&e);
                    return;
                }
                tracing::info!(session = %self.key, reason, "Logout sent");
                self.state = SessionState::LogoutSent;
                self.logout_deadline = now
                    .mono_ns
                    .saturating_add(u64::from(self.settings.logout_timeout_s) * NS_PER_S);
            }
            SessionState::AwaitingLogon | SessionState::LogonSent => {
                self.state = SessionState::Closed;
            }
            SessionState::LogoutSent | SessionState::Closed | SessionState::Disconnected => {}
        }
    }

    /// Where the session is.
    pub fn state(&self) -> SessionState {
        self.state
    }
    /// Whether the connection is done with (closed, or never opened).
    pub fn is_closed(&self) -> bool {
        matches!(
            self.state,
            SessionState::Closed | SessionState::Disconnected
        )
    }
    /// Whether logged on (including while our Logout is outstanding).
    pub fn is_logged_on(&self) -> bool {
        matches!(self.state, SessionState::Active | SessionState::LogoutSent)
    }
    /// The counters.
    pub fn counters(&self) -> &SessionCounters {
        &self.counters
    }
    /// The settings.
    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }
    /// The session's identity.
    pub fn key(&self) -> &SessionKey {
        &self.key
    }
    /// Acceptor or initiator.
    pub fn role(&self) -> Role {
        self.role
    }
    /// Next MsgSeqNum expected from the counterparty.
    pub fn next_in(&self) -> u64 {
        self.next_in
    }
    /// Next MsgSeqNum we send.
    pub fn next_out(&self) -> u64 {
        self.next_out
    }
    /// Messages held while a gap is filled.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }
    /// Whether a ResendRequest is outstanding.
    pub fn resend_pending(&self) -> bool {
        self.resend.is_some()
    }
    /// The HeartBtInt in force, seconds (the counterparty's for an acceptor once logged on).
    pub fn heartbeat_s(&self) -> u64 {
        self.hb_ns / NS_PER_S
    }
    /// Whether `now` is inside the schedule (always, without one). An initiator should connect
    /// only then.
    pub fn in_schedule(&self, now: Now) -> bool {
        self.schedule.is_none_or(|s| s.contains(now.utc_ns))
    }

    // ---- internals -------------------------------------------------------------------------

    fn finish(&mut self, v: Verdict) -> Verdict {
        if let Verdict::Disconnect(r) = v {
            self.state = SessionState::Closed;
            self.counters.disconnects += 1;
            tracing::info!(session = %self.key, reason = %r, "disconnecting");
        }
        v
    }

    fn reset_connection(&mut self) {
        self.test_req_sent = None;
        self.resend = None;
        self.sent_reset = false;
        self.pass_last = 0;
        self.rerequested = false;
        while let Some((_, q)) = self.queue.pop_first() {
            self.recycle(q);
        }
        // A decision about the previous connection does not carry over (a store failure is
        // retried by `on_connected`).
        if self.pending != Some(DisconnectReason::StoreFailed) {
            self.pending = None;
        }
    }

    fn recycle(&mut self, q: Queued) {
        if let Queued::Msg(mut v) = q {
            if self.spare.len() < SPARE_BUFFERS {
                v.clear();
                self.spare.push(v);
            }
        }
    }

    fn store_failed(&mut self, e: &StoreError) {
        tracing::error!(session = %self.key, error = %e, "sequence store write failed: disconnecting");
        self.state = SessionState::Closed;
        self.pending = Some(DisconnectReason::StoreFailed);
    }

    fn persist(&mut self) -> Result<(), StoreError> {
        self.store.set(self.next_in, self.next_out)
    }

    /// A new schedule period restarts both numbers at 1 (QuickFIX semantics).
    fn check_period(&mut self, now: Now) -> Result<(), StoreError> {
        let Some(s) = self.schedule else {
            return Ok(());
        };
        if let Some(p) = s.period_start(now.utc_ns) {
            if self.store.period_start_ns() != p {
                tracing::info!(session = %self.key, "new session period: sequence numbers restart at 1");
                self.store.reset(p)?;
                self.next_in = 1;
                self.next_out = 1;
            }
        }
        Ok(())
    }

    fn reset_seqs(&mut self, now: Now) -> Result<(), StoreError> {
        let period = self
            .schedule
            .and_then(|s| s.period_start(now.utc_ns))
            .unwrap_or(self.store.period_start_ns());
        self.store.reset(period)?;
        self.next_in = 1;
        self.next_out = 1;
        Ok(())
    }

    /// Consumes `seq` (in sequence): persists `next_in = seq + 1`.
    fn consume(&mut self, seq: u64) -> Result<(), DisconnectReason> {
        self.advance_in(seq.saturating_add(1))
    }

    /// Moves `next_in` to `to` and persists it. When the store cannot be written, `next_in`
    /// stays where it was (what was not persisted was not consumed: the counterparty sends it
    /// again after the next Logon, which is allowed only once the store can be written) and the
    /// session is closed.
    fn advance_in(&mut self, to: u64) -> Result<(), DisconnectReason> {
        let before = self.next_in;
        self.next_in = to;
        if let Err(e) = self.persist() {
            self.next_in = before;
            self.store_failed(&e);
            return Err(DisconnectReason::StoreFailed);
        }
        Ok(())
    }

    fn timers(&mut self, now: Now, out: &mut Outbox) -> Verdict {
        let t = now.mono_ns;
        match self.state {
            SessionState::AwaitingLogon | SessionState::LogonSent => {
                if t >= self.logon_deadline {
                    tracing::warn!(session = %self.key, "no Logon within {} s", self.settings.logon_timeout_s);
                    return Verdict::Disconnect(DisconnectReason::LogonTimeout);
                }
                Verdict::Continue
            }
            SessionState::Active | SessionState::LogoutSent => {
                if self.state == SessionState::LogoutSent && t >= self.logout_deadline {
                    tracing::warn!(session = %self.key, "no Logout answer within {} s", self.settings.logout_timeout_s);
                    return Verdict::Disconnect(DisconnectReason::LogoutTimeout);
                }
                if self.state == SessionState::Active {
                    if let Some(s) = self.schedule {
                        if s.period_start(now.utc_ns) != Some(self.store.period_start_ns()) {
                            self.begin_logout("End of session period", now, out);
                            return self.pending.map_or(Verdict::Continue, Verdict::Disconnect);
                        }
                    }
                }
                if self.resend.is_some() {
                    // A resend that makes no progress for a HeartBtInt (30 s without one) is
                    // asked for again (the answer or a resent message was lost).
                    if self.progress.0 != self.next_in {
                        self.progress = (self.next_in, t);
                    } else if t.saturating_sub(self.progress.1)
                        >= if self.hb_ns == 0 {
                            30 * NS_PER_S
                        } else {
                            self.hb_ns
                        }
                    {
                        let first = self
                            .queue
                            .first_key_value()
                            .map_or(self.next_in, |(k, _)| *k);
                        if let Verdict::Disconnect(r) = self.send_resend_request(first, now, out) {
                            return Verdict::Disconnect(r);
                        }
                    }
                }
                if self.hb_ns == 0 {
                    return Verdict::Continue;
                }
                if let Some(sent) = self.test_req_sent {
                    if t.saturating_sub(sent) >= self.hb_ns {
                        tracing::warn!(session = %self.key, "TestRequest unanswered: heartbeat timeout");
                        return Verdict::Disconnect(DisconnectReason::HeartbeatTimeout);
                    }
                } else if t.saturating_sub(self.last_recv) >= self.hb_ns / 5 * 6 {
                    let id = format!("TEST{}", self.counters.test_requests_sent + 1);
                    if let Err(r) = self.send_test_request(id.as_bytes(), now, out) {
                        return Verdict::Disconnect(r);
                    }
                    self.test_req_sent = Some(t);
                }
                if t.saturating_sub(self.last_sent) >= self.hb_ns {
                    if let Err(r) = self.send_heartbeat(None, now, out) {
                        return Verdict::Disconnect(r);
                    }
                }
                Verdict::Continue
            }
            SessionState::Closed | SessionState::Disconnected => Verdict::Continue,
        }
    }

    /// One inbound message (from the wire or released from the queue).
    /// `queued`: released from the gap queue (its SendingTime was checked on arrival; the
    /// resend may have taken longer than `max_latency_s`).
    #[allow(clippy::too_many_arguments)]
    fn handle(
        &mut self,
        parser: &mut Parser,
        frame: Frame<'_>,
        queued: bool,
        now: Now,
        out: &mut Outbox,
        deliver: &mut dyn FnMut(&Message<'_>, u64),
    ) -> Verdict {
        let bytes = frame.bytes;
        let msg = match parser.parse_frame(frame) {
            Ok(m) => m,
            Err(e) => return self.unparseable(bytes, e, now, out),
        };
        let mt = msg.msg_type();
        let h = scan_header(&msg);
        match self.state {
            SessionState::Disconnected | SessionState::Closed => {
                self.counters.ignored += 1;
                return Verdict::Continue;
            }
            SessionState::AwaitingLogon | SessionState::LogonSent => {
                if mt == b"A" {
                    return self.on_logon(&msg, &h, now, out);
                }
                if mt == b"5" {
                    self.counters.logouts_received += 1;
                    self.counters.logons_refused += 1;
                    let text = String::from_utf8_lossy(msg.get(58).unwrap_or(b""));
                    tracing::warn!(session = %self.key, text = %text, "Logout instead of a Logon");
                    return Verdict::Disconnect(DisconnectReason::LogonRefused);
                }
                let text = format!(
                    "First message is not a Logon (35=A): received 35={}",
                    String::from_utf8_lossy(mt)
                );
                return self.refuse(&text, DisconnectReason::NotLogon, now, out);
            }
            SessionState::Active | SessionState::LogoutSent => {}
        }
        let Some(seq) = h.seq else {
            return self.logout_close(
                "MsgSeqNum (34) missing or not a number",
                DisconnectReason::MissingSeqNum,
                now,
                out,
            );
        };
        if msg.begin_string() != self.ids.begin {
            let text = format!(
                "Incorrect BeginString (8): expected {}, received {}",
                self.settings.begin_string,
                String::from_utf8_lossy(msg.begin_string().as_bytes())
            );
            return self.logout_close(&text, DisconnectReason::IncorrectBeginString, now, out);
        }
        if let Some(tag) = self.comp_id_problem(&h) {
            let text = format!("CompID problem: tag {tag} does not match the session");
            if let Err(r) = self.send_reject(seq, mt, Some(tag), 9, &text, now, out) {
                return Verdict::Disconnect(r);
            }
            return self.logout_close(&text, DisconnectReason::CompIdProblem, now, out);
        }
        match h.sending_time {
            None | Some(Err(())) => {
                let (reason, text) = if h.sending_time.is_none() {
                    (1, "SendingTime (52) missing")
                } else {
                    (6, "SendingTime (52) malformed")
                };
                if let Err(r) = self.send_reject(seq, mt, Some(52), reason, text, now, out) {
                    return Verdict::Disconnect(r);
                }
                return self.consume_if_next(seq);
            }
            Some(Ok(st)) => {
                let max = u64::from(self.settings.max_latency_s) * NS_PER_S;
                if !queued
                    && max > 0
                    && (st as i128 - now.utc_ns as i128).unsigned_abs() > u128::from(max)
                {
                    let text = "SendingTime accuracy problem";
                    if let Err(r) = self.send_reject(seq, mt, Some(52), 10, text, now, out) {
                        return Verdict::Disconnect(r);
                    }
                    return self.logout_close(
                        text,
                        DisconnectReason::SendingTimeAccuracy,
                        now,
                        out,
                    );
                }
            }
        }
        if mt == b"A" {
            return self.logon_while_active(&msg, seq, now, out);
        }
        if mt == b"4" && msg.get(123) != Some(b"Y") {
            return self.sequence_reset(&msg, seq, now, out);
        }
        if seq > self.next_in {
            return self.too_high(&msg, mt, seq, h.poss_dup, now, out);
        }
        if seq < self.next_in {
            return self.too_low(&h, mt, seq, now, out);
        }
        self.in_sequence(&msg, mt, seq, now, out, deliver)
    }

    fn comp_id_problem(&self, h: &Hdr<'_>) -> Option<u32> {
        // The counterparty's SenderCompID is our TargetCompID and the other way round.
        if h.sender != Some(&self.ids.target[..]) {
            return Some(49);
        }
        if h.target != Some(&self.ids.sender[..]) {
            return Some(56);
        }
        if let Some(s) = &self.ids.target_sub {
            if h.sender_sub != Some(&s[..]) {
                return Some(50);
            }
        }
        if let Some(s) = &self.ids.sender_sub {
            if h.target_sub != Some(&s[..]) {
                return Some(57);
            }
        }
        None
    }

    fn consume_if_next(&mut self, seq: u64) -> Verdict {
        if seq == self.next_in {
            if let Err(r) = self.consume(seq) {
                return Verdict::Disconnect(r);
            }
        }
        Verdict::Continue
    }

    /// A frame whose fields could not be indexed: Reject it when its MsgSeqNum is the expected
    /// one (and consume it, so the resend does not bring it back forever), ignore it otherwise.
    fn unparseable(&mut self, bytes: &[u8], e: ParseError, now: Now, out: &mut Outbox) -> Verdict {
        self.counters.malformed += 1;
        tracing::warn!(session = %self.key, error = %e, "malformed message");
        match self.state {
            SessionState::AwaitingLogon | SessionState::LogonSent => {
                let text = format!("Invalid Logon: {e}");
                self.refuse(&text, DisconnectReason::LogonRejected, now, out)
            }
            SessionState::Active | SessionState::LogoutSent => {
                let seq = raw_field(bytes, b"\x0134=").and_then(|v| num::parse_u64(v).ok());
                let mt = raw_field(bytes, b"\x0135=").unwrap_or(b"");
                match seq {
                    Some(seq) if seq == self.next_in => {
                        let text = e.to_string();
                        let tag = (e.tag != 0).then_some(e.tag);
                        if let Err(r) =
                            self.send_reject(seq, mt, tag, reject_reason(e.kind), &text, now, out)
                        {
                            return Verdict::Disconnect(r);
                        }
                        self.consume_if_next(seq)
                    }
                    _ => Verdict::Continue,
                }
            }
            SessionState::Disconnected | SessionState::Closed => Verdict::Continue,
        }
    }

    /// The counterparty's Logon (acceptor) or the answer to ours (initiator).
    fn on_logon(&mut self, msg: &Message<'_>, h: &Hdr<'_>, now: Now, out: &mut Outbox) -> Verdict {
        let logon = match Logon::from_message(msg) {
            Ok(l) => l,
            Err(e) => {
                let text = format!("Invalid Logon: {e}");
                return self.refuse(&text, DisconnectReason::LogonRejected, now, out);
            }
        };
        if msg.begin_string() != self.ids.begin {
            let text = format!(
                "Incorrect BeginString (8): expected {}, received {}",
                self.settings.begin_string,
                String::from_utf8_lossy(msg.begin_string().as_bytes())
            );
            return self.refuse(&text, DisconnectReason::LogonRejected, now, out);
        }
        if self.comp_id_problem(h).is_some() {
            let text = format!(
                "Unknown counterparty: SenderCompID (49) '{}', TargetCompID (56) '{}'",
                String::from_utf8_lossy(h.sender.unwrap_or(b"")),
                String::from_utf8_lossy(h.target.unwrap_or(b""))
            );
            return self.refuse(&text, DisconnectReason::LogonRejected, now, out);
        }
        if !self.in_schedule(now) {
            return self.refuse(
                "Logon outside session schedule",
                DisconnectReason::OutsideSchedule,
                now,
                out,
            );
        }
        if self.role == Role::Acceptor {
            let user_ok = self
                .settings
                .username
                .as_ref()
                .is_none_or(|u| logon.username == Some(u.as_bytes()));
            let pass_ok = self
                .settings
                .password
                .as_ref()
                .is_none_or(|p| logon.password == Some(p.as_bytes()));
            if !user_ok || !pass_ok {
                return self.refuse(
                    "Invalid Username (553) or Password (554)",
                    DisconnectReason::LogonRejected,
                    now,
                    out,
                );
            }
            if logon.heart_bt_int > 3600 {
                let text = format!(
                    "HeartBtInt (108) {} is out of range 0 to 3600",
                    logon.heart_bt_int
                );
                return self.refuse(&text, DisconnectReason::LogonRejected, now, out);
            }
        }
        if let Some(Ok(st)) = h.sending_time {
            let max = u64::from(self.settings.max_latency_s) * NS_PER_S;
            if max > 0 && (st as i128 - now.utc_ns as i128).unsigned_abs() > u128::from(max) {
                return self.refuse(
                    "SendingTime accuracy problem",
                    DisconnectReason::SendingTimeAccuracy,
                    now,
                    out,
                );
            }
        }
        let Some(seq) = h.seq else {
            return self.refuse(
                "MsgSeqNum (34) missing or not a number",
                DisconnectReason::LogonRejected,
                now,
                out,
            );
        };
        if let Err(e) = self.check_period(now) {
            self.store_failed(&e);
            return Verdict::Disconnect(DisconnectReason::StoreFailed);
        }
        let peer_reset = logon.reset_seq_num_flag == Some(true);
        let mut reset = false;
        match self.role {
            Role::Acceptor => {
                if peer_reset || self.settings.reset_on_logon {
                    if let Err(e) = self.reset_seqs(now) {
                        self.store_failed(&e);
                        return Verdict::Disconnect(DisconnectReason::StoreFailed);
                    }
                    reset = true;
                }
            }
            Role::Initiator => {
                if peer_reset && !self.sent_reset {
                    // The counterparty restarted its numbers.
                    self.next_in = 1;
                }
            }
        }
        if seq < self.next_in {
            let text = format!(
                "MsgSeqNum too low, expecting {} but received {seq}",
                self.next_in
            );
            return self.refuse(&text, DisconnectReason::SeqTooLow, now, out);
        }
        // NextExpectedMsgSeqNum (789): the number the counterparty expects from us next, set
        // before our answer (acceptor) or after our Logon (initiator): `next_out` either way.
        let peer_next = logon.next_expected_msg_seq_num;
        let our_next = self.next_out;
        match peer_next {
            Some(0) => {
                return self.refuse(
                    "NextExpectedMsgSeqNum (789) must be at least 1",
                    DisconnectReason::LogonRejected,
                    now,
                    out,
                );
            }
            Some(n) if n > our_next => {
                let text = format!(
                    "NextExpectedMsgSeqNum (789) too high, expecting at most {our_next} but received {n}"
                );
                return self.refuse(&text, DisconnectReason::NextExpectedTooHigh, now, out);
            }
            _ => {}
        }
        if self.role == Role::Acceptor {
            self.hb_ns = u64::from(logon.heart_bt_int) * NS_PER_S;
            // Our answer's 789 counts this Logon when it is the number we expect.
            let next_in = if seq == self.next_in {
                seq + 1
            } else {
                self.next_in
            };
            if let Err(e) = self.send_logon(logon.heart_bt_int, reset, next_in, now, out) {
                self.store_failed(&e);
                return Verdict::Disconnect(DisconnectReason::StoreFailed);
            }
        }
        if let Some(begin) = peer_next.filter(|&n| n < our_next) {
            // The counterparty lacks some of what we sent before this Logon (all session
            // messages): one GapFill after our Logon, as for a ResendRequest(begin, 0).
            tracing::info!(session = %self.key, begin, next_out = self.next_out,
                "NextExpectedMsgSeqNum (789) below our last MsgSeqNum: answered with GapFill");
            self.send_gap_fill(begin, self.next_out, now, out);
        }
        self.state = SessionState::Active;
        self.counters.logons += 1;
        self.counters.admin += 1;
        tracing::info!(session = %self.key, seq, next_in = self.next_in, next_out = self.next_out,
            heartbeat_s = self.hb_ns / NS_PER_S, reset = reset || peer_reset, "logged on");
        if seq == self.next_in {
            if let Err(r) = self.consume(seq) {
                return Verdict::Disconnect(r);
            }
            Verdict::Continue
        } else {
            // Accepted; its number is consumed once the gap before it is filled.
            self.queue.insert(seq, Queued::Consumed);
            self.request_resend(seq, now, out)
        }
    }

    /// A Logon while logged on: a sequence reset when it carries ResetSeqNumFlag=Y.
    fn logon_while_active(
        &mut self,
        msg: &Message<'_>,
        seq: u64,
        now: Now,
        out: &mut Outbox,
    ) -> Verdict {
        match Logon::from_message(msg) {
            Ok(l) if l.reset_seq_num_flag == Some(true) && seq == 1 => {
                tracing::info!(session = %self.key, "Logon with ResetSeqNumFlag while logged on: sequence numbers restart at 1");
                while let Some((_, q)) = self.queue.pop_first() {
                    self.recycle(q);
                }
                self.resend = None;
                if let Err(e) = self.reset_seqs(now) {
                    self.store_failed(&e);
                    return Verdict::Disconnect(DisconnectReason::StoreFailed);
                }
                self.hb_ns = u64::from(l.heart_bt_int.min(3600)) * NS_PER_S;
                let hb = l.heart_bt_int.min(3600);
                // 789 = 2: this Logon is number 1.
                if let Err(e) = self.send_logon(hb, true, 2, now, out) {
                    self.store_failed(&e);
                    return Verdict::Disconnect(DisconnectReason::StoreFailed);
                }
                self.counters.admin += 1;
                match self.consume(1) {
                    Ok(()) => Verdict::Continue,
                    Err(r) => Verdict::Disconnect(r),
                }
            }
            _ => self.logout_close(
                "Logon received while already logged on",
                DisconnectReason::UnexpectedLogon,
                now,
                out,
            ),
        }
    }

    /// SequenceReset-Reset: applied whatever its MsgSeqNum.
    fn sequence_reset(
        &mut self,
        msg: &Message<'_>,
        seq: u64,
        now: Now,
        out: &mut Outbox,
    ) -> Verdict {
        let sr = match SequenceReset::from_message(msg) {
            Ok(s) => s,
            Err(e) => return self.reject_parse(seq, b"4", e, now, out),
        };
        self.counters.admin += 1;
        self.counters.sequence_resets_received += 1;
        let new = sr.new_seq_no;
        if new > self.next_in {
            tracing::info!(session = %self.key, from = self.next_in, to = new, "SequenceReset-Reset");
            if let Err(r) = self.advance_in(new) {
                return Verdict::Disconnect(r);
            }
            self.after_advance();
            Verdict::Continue
        } else if new < self.next_in {
            let text = format!(
                "NewSeqNo (36) {new} is lower than the expected MsgSeqNum {}",
                self.next_in
            );
            tracing::warn!(session = %self.key, "{text}");
            match self.send_reject(seq, b"4", Some(36), 5, &text, now, out) {
                Ok(()) => Verdict::Continue,
                Err(r) => Verdict::Disconnect(r),
            }
        } else {
            Verdict::Continue
        }
    }

    /// After `next_in` moved: queued messages it jumped over are dropped; a resend that has
    /// reached its end is over.
    fn after_advance(&mut self) {
        while let Some(e) = self.queue.first_entry() {
            if *e.key() >= self.next_in {
                break;
            }
            let q = e.remove();
            if matches!(q, Queued::Msg(_)) {
                self.counters.duplicates += 1;
            }
            self.recycle(q);
        }
        if let Some((_, end)) = self.resend {
            if self.next_in > end {
                tracing::info!(session = %self.key, next_in = self.next_in, "resend complete");
                self.resend = None;
            }
        }
    }

    /// MsgSeqNum above the expected one: hold the message, ask for the gap once.
    fn too_high(
        &mut self,
        msg: &Message<'_>,
        mt: &[u8],
        seq: u64,
        poss_dup: bool,
        now: Now,
        out: &mut Outbox,
    ) -> Verdict {
        match mt {
            // Acted on at once whatever the sequence (as QuickFIX does).
            b"5" => return self.logout_received(msg, now, out),
            b"2" => {
                if let Verdict::Disconnect(r) = self.resend_request(msg, seq, now, out) {
                    return Verdict::Disconnect(r);
                }
                self.queue.insert(seq, Queued::Consumed);
            }
            _ => {
                if self.queue.contains_key(&seq) {
                    self.counters.duplicates += 1;
                } else if self.queue.len() < self.settings.max_queued {
                    let mut v = self.spare.pop().unwrap_or_default();
                    v.extend_from_slice(msg.bytes());
                    self.queue.insert(seq, Queued::Msg(v));
                    self.counters.queued += 1;
                } else {
                    self.counters.queue_dropped += 1;
                }
            }
        }
        if poss_dup && self.resend.is_some() {
            // Resends come in order from BeginSeqNo: one above `next_in` means this pass skipped
            // (lost) the messages in between. Ask again, once per pass (a lower PossDup seq than
            // the last starts a new pass).
            if seq <= self.pass_last {
                self.rerequested = false;
            }
            self.pass_last = seq;
            if !self.rerequested {
                self.rerequested = true;
                return self.send_resend_request(seq, now, out);
            }
            return Verdict::Continue;
        }
        self.request_resend(seq, now, out)
    }

    /// Sends ResendRequest(next_in, 0) unless one is outstanding.
    fn request_resend(&mut self, seq: u64, now: Now, out: &mut Outbox) -> Verdict {
        if self.resend.is_some() {
            return Verdict::Continue;
        }
        self.counters.gaps += 1;
        self.pass_last = 0;
        self.rerequested = false;
        self.send_resend_request(seq, now, out)
    }

    /// Sends ResendRequest(next_in, 0) (EndSeqNo 0: everything up to the counterparty's last).
    fn send_resend_request(&mut self, seq: u64, now: Now, out: &mut Outbox) -> Verdict {
        let begin = self.next_in;
        tracing::info!(session = %self.key, begin, received = seq, "sequence gap: ResendRequest");
        self.resend = Some((begin, seq.saturating_sub(1).max(begin)));
        self.progress = (self.next_in, now.mono_ns);
        push!(
            self,
            out,
            ResendRequest {
                header: header(&self.ids, self.next_out, now),
                begin_seq_no: begin,
                end_seq_no: 0,
                raw: Raw::default(),
            }
        );
        match self.sent(now) {
            Ok(()) => {
                self.counters.resend_requests_sent += 1;
                Verdict::Continue
            }
            Err(r) => Verdict::Disconnect(r),
        }
    }

    /// MsgSeqNum below the expected one.
    fn too_low(&mut self, h: &Hdr<'_>, mt: &[u8], seq: u64, now: Now, out: &mut Outbox) -> Verdict {
        if !h.poss_dup {
            let text = format!(
                "MsgSeqNum too low, expecting {} but received {seq}",
                self.next_in
            );
            tracing::warn!(session = %self.key, "{text}");
            return self.logout_close(&text, DisconnectReason::SeqTooLow, now, out);
        }
        match (h.orig_sending_time, h.sending_time) {
            (None, _) => {
                let text = "PossDupFlag (43) set without OrigSendingTime (122)";
                match self.send_reject(seq, mt, Some(122), 1, text, now, out) {
                    Ok(()) => Verdict::Continue,
                    Err(r) => Verdict::Disconnect(r),
                }
            }
            (Some(Err(())), _) => {
                let text = "OrigSendingTime (122) malformed";
                match self.send_reject(seq, mt, Some(122), 6, text, now, out) {
                    Ok(()) => Verdict::Continue,
                    Err(r) => Verdict::Disconnect(r),
                }
            }
            (Some(Ok(orig)), Some(Ok(st))) if orig > st => {
                let text = "OrigSendingTime (122) after SendingTime (52)";
                if let Err(r) = self.send_reject(seq, mt, Some(122), 10, text, now, out) {
                    return Verdict::Disconnect(r);
                }
                self.logout_close(text, DisconnectReason::SendingTimeAccuracy, now, out)
            }
            _ => {
                self.counters.duplicates += 1;
                Verdict::Continue
            }
        }
    }

    fn in_sequence(
        &mut self,
        msg: &Message<'_>,
        mt: &[u8],
        seq: u64,
        now: Now,
        out: &mut Outbox,
        deliver: &mut dyn FnMut(&Message<'_>, u64),
    ) -> Verdict {
        let admin = mt.len() == 1 && matches!(mt[0], b'0'..=b'5' | b'A');
        if !admin {
            // Application message: persisted, then handed on.
            if let Err(r) = self.consume(seq) {
                return Verdict::Disconnect(r);
            }
            self.counters.delivered += 1;
            deliver(msg, seq);
            if self.resend.is_some() {
                self.after_advance();
            }
            return Verdict::Continue;
        }
        self.counters.admin += 1;
        let v = match mt {
            b"0" => {
                self.counters.heartbeats_received += 1;
                self.consume_if_next(seq)
            }
            b"1" => match TestRequest::from_message(msg) {
                Err(e) => self.reject_parse(seq, mt, e, now, out),
                Ok(t) => {
                    self.counters.test_requests_received += 1;
                    if let Err(r) = self.consume(seq) {
                        return Verdict::Disconnect(r);
                    }
                    match self.send_heartbeat(Some(t.test_req_id), now, out) {
                        Ok(()) => Verdict::Continue,
                        Err(r) => Verdict::Disconnect(r),
                    }
                }
            },
            b"2" => {
                if let Err(r) = self.consume(seq) {
                    return Verdict::Disconnect(r);
                }
                self.resend_request(msg, seq, now, out)
            }
            b"3" => {
                self.counters.rejects_received += 1;
                let text = String::from_utf8_lossy(msg.get(58).unwrap_or(b""));
                tracing::warn!(session = %self.key, ref_seq = %String::from_utf8_lossy(msg.get(45).unwrap_or(b"")),
                    reason = %String::from_utf8_lossy(msg.get(373).unwrap_or(b"")), text = %text, "Reject received");
                self.consume_if_next(seq)
            }
            b"4" => self.gap_fill(msg, seq, now, out),
            b"5" => self.logout_received(msg, now, out),
            _ => self.consume_if_next(seq),
        };
        if v == Verdict::Continue && self.resend.is_some() {
            self.after_advance();
        }
        v
    }

    /// SequenceReset-GapFill in sequence.
    fn gap_fill(&mut self, msg: &Message<'_>, seq: u64, now: Now, out: &mut Outbox) -> Verdict {
        let sr = match SequenceReset::from_message(msg) {
            Ok(s) => s,
            Err(e) => return self.reject_parse(seq, b"4", e, now, out),
        };
        if sr.new_seq_no <= seq {
            let text = format!(
                "NewSeqNo (36) {} does not move past the GapFill's own MsgSeqNum {seq}",
                sr.new_seq_no
            );
            if let Err(r) = self.send_reject(seq, b"4", Some(36), 5, &text, now, out) {
                return Verdict::Disconnect(r);
            }
            return self.consume_if_next(seq);
        }
        self.counters.gap_fills_received += 1;
        if let Err(r) = self.advance_in(sr.new_seq_no) {
            return Verdict::Disconnect(r);
        }
        self.after_advance();
        Verdict::Continue
    }

    /// The counterparty's ResendRequest: we send no application messages, so one
    /// SequenceReset-GapFill covers the range.
    fn resend_request(
        &mut self,
        msg: &Message<'_>,
        seq: u64,
        now: Now,
        out: &mut Outbox,
    ) -> Verdict {
        let rr = match ResendRequest::from_message(msg) {
            Ok(r) => r,
            Err(e) => return self.reject_parse(seq, b"2", e, now, out),
        };
        self.counters.resend_requests_received += 1;
        let (begin, end) = (rr.begin_seq_no, rr.end_seq_no);
        let last_sent = self.next_out - 1;
        if begin == 0 || (end != 0 && end < begin) {
            let text = format!("Invalid resend range {begin} to {end}");
            return match self.send_reject(seq, b"2", Some(7), 5, &text, now, out) {
                Ok(()) => Verdict::Continue,
                Err(r) => Verdict::Disconnect(r),
            };
        }
        if begin > last_sent {
            tracing::warn!(session = %self.key, begin, last_sent, "ResendRequest beyond our last MsgSeqNum: nothing to resend");
            return Verdict::Continue;
        }
        let new_seq = if end == 0 || end >= last_sent {
            self.next_out
        } else {
            end + 1
        };
        tracing::info!(session = %self.key, begin, end, new_seq, "ResendRequest answered with GapFill");
        self.send_gap_fill(begin, new_seq, now, out);
        Verdict::Continue
    }

    /// SequenceReset-GapFill at MsgSeqNum `begin` up to `new_seq`: a resend, written at its old
    /// number, so `next_out` does not move.
    fn send_gap_fill(&mut self, begin: u64, new_seq: u64, now: Now, out: &mut Outbox) {
        push!(self, out, {
            let mut hdr = header(&self.ids, begin, now);
            hdr.poss_dup = Some(true);
            hdr.orig_sending_time = Some(ms(now));
            SequenceReset {
                header: hdr,
                gap_fill_flag: Some(true),
                new_seq_no: new_seq,
                raw: Raw::default(),
            }
        });
        self.last_sent = now.mono_ns;
        self.counters.gap_fills_sent += 1;
    }

    fn logout_received(&mut self, msg: &Message<'_>, now: Now, out: &mut Outbox) -> Verdict {
        self.counters.logouts_received += 1;
        let text = String::from_utf8_lossy(msg.get(58).unwrap_or(b"")).into_owned();
        if let Some(seq) = msg.get(34).and_then(|v| num::parse_u64(v).ok()) {
            if seq == self.next_in {
                if let Err(r) = self.consume(seq) {
                    return Verdict::Disconnect(r);
                }
            }
        }
        if self.state == SessionState::LogoutSent {
            tracing::info!(session = %self.key, text = %text, "Logout answered");
            Verdict::Disconnect(DisconnectReason::LogoutComplete)
        } else {
            tracing::info!(session = %self.key, text = %text, "Logout received, answering");
            if let Err(e) = self.send_logout(b"", now, out) {
                self.store_failed(&e);
                return Verdict::Disconnect(DisconnectReason::StoreFailed);
            }
            Verdict::Disconnect(DisconnectReason::PeerLogout)
        }
    }

    /// Releases queued messages that are now in sequence.
    fn release_queue(
        &mut self,
        parser: &mut Parser,
        now: Now,
        out: &mut Outbox,
        deliver: &mut dyn FnMut(&Message<'_>, u64),
    ) -> Verdict {
        loop {
            self.after_advance();
            let Some(q) = self.queue.remove(&self.next_in) else {
                break;
            };
            let v = match &q {
                Queued::Consumed => match self.consume(self.next_in) {
                    Ok(()) => Verdict::Continue,
                    Err(r) => Verdict::Disconnect(r),
                },
                Queued::Msg(bytes) => match frame_one(bytes, &self.framer_cfg) {
                    Ok(f) => self.handle(parser, f, true, now, out, deliver),
                    Err(_) => Verdict::Continue,
                },
            };
            self.recycle(q);
            if v != Verdict::Continue || !self.is_logged_on() {
                return v;
            }
        }
        // Held messages beyond a hole (dropped when the queue was full): ask again now rather
        // than at the next inbound message.
        if self.resend.is_none() {
            if let Some((&first, _)) = self.queue.first_key_value() {
                return self.request_resend(first, now, out);
            }
        }
        Verdict::Continue
    }

    fn reject_parse(
        &mut self,
        seq: u64,
        mt: &[u8],
        e: ParseError,
        now: Now,
        out: &mut Outbox,
    ) -> Verdict {
        let text = e.to_string();
        let tag = (e.tag != 0).then_some(e.tag);
        if let Err(r) = self.send_reject(seq, mt, tag, reject_reason(e.kind), &text, now, out) {
            return Verdict::Disconnect(r);
        }
        self.consume_if_next(seq)
    }

    /// Refuses a Logon: Logout with the reason, then Disconnect.
    fn refuse(&mut self, text: &str, r: DisconnectReason, now: Now, out: &mut Outbox) -> Verdict {
        tracing::warn!(session = %self.key, reason = text, "Logon refused");
        self.counters.logons_refused += 1;
        self.logout_close(text, r, now, out)
    }

    fn logout_close(
        &mut self,
        text: &str,
        r: DisconnectReason,
        now: Now,
        out: &mut Outbox,
    ) -> Verdict {
        if let Err(e) = self.send_logout(text.as_bytes(), now, out) {
            self.store_failed(&e);
            return Verdict::Disconnect(DisconnectReason::StoreFailed);
        }
        Verdict::Disconnect(r)
    }

    // ---- sending -----------------------------------------------------------------------------

    /// Bookkeeping after a message numbered `next_out` went into the outbox: advance and
    /// persist `next_out`.
    fn sent(&mut self, now: Now) -> Result<(), DisconnectReason> {
        self.next_out += 1;
        self.last_sent = now.mono_ns;
        if let Err(e) = self.persist() {
            self.store_failed(&e);
            return Err(DisconnectReason::StoreFailed);
        }
        Ok(())
    }

    /// Our Logon; `next_in` is its NextExpectedMsgSeqNum (789) when the settings send one.
    fn send_logon(
        &mut self,
        hb: u32,
        reset: bool,
        next_in: u64,
        now: Now,
        out: &mut Outbox,
    ) -> Result<(), StoreError> {
        let fixt = self.ids.begin == BeginString::Fixt11;
        let appl = self.settings.default_appl_ver_id.as_deref().unwrap_or("9");
        let send_creds = self.role == Role::Initiator;
        let logon = Logon {
            header: header(&self.ids, self.next_out, now),
            encrypt_method: 0,
            heart_bt_int: hb,
            reset_seq_num_flag: reset.then_some(true),
            username: self
                .settings
                .username
                .as_deref()
                .filter(|_| send_creds)
                .map(str::as_bytes),
            password: self
                .settings
                .password
                .as_deref()
                .filter(|_| send_creds)
                .map(str::as_bytes),
            default_appl_ver_id: fixt.then_some(appl.as_bytes()),
            next_expected_msg_seq_num: self.settings.next_expected_msg_seq_num.then_some(next_in),
            raw: Raw::default(),
        };
        push!(self, out, logon);
        self.next_out += 1;
        self.last_sent = now.mono_ns;
        self.store.set(self.next_in, self.next_out)
    }

    fn send_logout(&mut self, text: &[u8], now: Now, out: &mut Outbox) -> Result<(), StoreError> {
        let lo = Logout {
            header: header(&self.ids, self.next_out, now),
            text: (!text.is_empty()).then_some(text),
            raw: Raw::default(),
        };
        push!(self, out, lo);
        self.next_out += 1;
        self.last_sent = now.mono_ns;
        self.counters.logouts_sent += 1;
        self.store.set(self.next_in, self.next_out)
    }

    fn send_heartbeat(
        &mut self,
        test_req_id: Option<&[u8]>,
        now: Now,
        out: &mut Outbox,
    ) -> Result<(), DisconnectReason> {
        push!(
            self,
            out,
            Heartbeat {
                header: header(&self.ids, self.next_out, now),
                test_req_id,
                raw: Raw::default(),
            }
        );
        self.sent(now)?;
        self.counters.heartbeats_sent += 1;
        Ok(())
    }

    fn send_test_request(
        &mut self,
        id: &[u8],
        now: Now,
        out: &mut Outbox,
    ) -> Result<(), DisconnectReason> {
        push!(
            self,
            out,
            TestRequest {
                header: header(&self.ids, self.next_out, now),
                test_req_id: id,
                raw: Raw::default(),
            }
        );
        self.sent(now)?;
        self.counters.test_requests_sent += 1;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn send_reject(
        &mut self,
        ref_seq: u64,
        ref_msg_type: &[u8],
        ref_tag: Option<u32>,
        reason: u32,
        text: &str,
        now: Now,
        out: &mut Outbox,
    ) -> Result<(), DisconnectReason> {
        tracing::warn!(session = %self.key, ref_seq, reason, text, "Reject sent");
        push!(
            self,
            out,
            Reject {
                header: header(&self.ids, self.next_out, now),
                ref_seq_num: ref_seq,
                ref_tag_id: ref_tag,
                ref_msg_type: (!ref_msg_type.is_empty()).then_some(ref_msg_type),
                session_reject_reason: Some(reason),
                text: Some(text.as_bytes()),
                raw: Raw::default(),
            }
        );
        self.sent(now)?;
        self.counters.rejects_sent += 1;
        Ok(())
    }
}

/// The value of the first field after `pat` (`\x01TAG=`) in raw bytes.
pub(super) fn raw_field<'a>(bytes: &'a [u8], pat: &[u8]) -> Option<&'a [u8]> {
    let at = bytes.windows(pat.len()).position(|w| w == pat)? + pat.len();
    let rest = &bytes[at..];
    let end = rest.iter().position(|&b| b == 1)?;
    Some(&rest[..end])
}
