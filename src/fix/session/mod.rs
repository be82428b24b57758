//! The FIX session layer (logon, heartbeats, sequence numbers, resend): a sans-IO state machine
//! per session, driven by the ingest runtime. See docs/session.md.
//!
//! ```text
//! runtime (io_uring)                         Session (this module, no IO, no clock)
//!   connect / accept  ---- on_connected ---->  initiator: Logon into the Outbox
//!   Framer frame      ---- on_message ----->  sequence checks, admin answers, deliver(app msg)
//!   every few ms      ---- on_timer ------->  heartbeats, TestRequest, timeouts
//!   send Outbox bytes <--- Outbox ----------  complete encoded FIX messages, in order
//!   close socket      <--- Verdict::Disconnect
//!   socket closed     ---- on_disconnected ->
//! ```
//!
//! Time comes in as [`Now`] (monotonic for timers, UTC for SendingTime and the schedule).
//! Sequence numbers are persisted by [`SeqStore`] before a message is handed on.

mod machine;
mod schedule;
mod store;
#[cfg(test)]
mod tests;

pub use machine::{
    DisconnectReason, Now, Outbox, Role, Session, SessionCounters, SessionKey, SessionState,
    Verdict,
};
pub use schedule::{DEFAULT_TZDIR, Schedule, Tz, TzError, Zone};
pub use store::{SeqStore, StoreError, StoreOptions};

use std::path::PathBuf;

use serde::Deserialize;

/// A session's FIX settings (`fix = { ... }` on a `[[group]] sessions` entry). A session without
/// them is a raw tap: bytes are framed and scored, nothing is sent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    /// BeginString (8): "FIX.4.2", "FIX.4.4" or "FIXT.1.1".
    #[serde(default = "default_begin_string")]
    pub begin_string: String,
    /// Our CompID (49 on what we send).
    pub sender_comp_id: String,
    /// The counterparty's CompID (56 on what we send).
    pub target_comp_id: String,
    /// Optional SenderSubID / TargetSubID.
    #[serde(default)]
    pub sender_sub_id: Option<String>,
    /// Optional TargetSubID.
    #[serde(default)]
    pub target_sub_id: Option<String>,
    /// HeartBtInt (108), seconds.
    #[serde(default = "default_heartbeat_s")]
    pub heartbeat_s: u32,
    /// Username (553) the counterparty must present (acceptor) or that we send (initiator).
    #[serde(default)]
    pub username: Option<String>,
    /// Password (554), as above.
    #[serde(default)]
    pub password: Option<String>,
    /// ResetSeqNumFlag (141) on logon: both sides restart at 1.
    #[serde(default)]
    pub reset_on_logon: bool,
    /// Session schedule start, "HH:MM:SS" in `time_zone` (absent: always on).
    #[serde(default)]
    pub start_time: Option<String>,
    /// Session schedule end, "HH:MM:SS".
    #[serde(default)]
    pub end_time: Option<String>,
    /// Time zone of the schedule: "UTC", a fixed offset like "+01:00", or an IANA name like
    /// "America/New_York" (read from `$TZDIR` or /usr/share/zoneinfo; daylight saving applies).
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Weekly schedule: the day the window opens at `start_time` ("Sunday".."Saturday" or
    /// "Sun".."Sat"); absent: daily. Set together with `end_day`.
    #[serde(default)]
    pub start_day: Option<String>,
    /// Weekly schedule: the day the window closes at `end_time`.
    #[serde(default)]
    pub end_day: Option<String>,
    /// Directory of the persisted sequence numbers (one file per session).
    #[serde(default = "default_store_dir")]
    pub store_dir: PathBuf,
    /// fsync the sequence store after every write (default off: a write reaches the page cache,
    /// which survives the death of the process but not of the machine).
    #[serde(default)]
    pub store_fsync: bool,
    /// Seconds to wait for the Logon (acceptor: the counterparty's; initiator: the answer).
    #[serde(default = "default_logon_timeout_s")]
    pub logon_timeout_s: u32,
    /// Seconds to wait for the counterparty's Logout after ours.
    #[serde(default = "default_logout_timeout_s")]
    pub logout_timeout_s: u32,
    /// Largest accepted difference between SendingTime (52) and our clock, seconds; 0 = no check
    /// (QuickFIX's CheckLatency / MaxLatency).
    #[serde(default = "default_max_latency_s")]
    pub max_latency_s: u32,
    /// Most messages held while a sequence gap is being filled; later ones are dropped (the
    /// resend brings them again).
    #[serde(default = "default_max_queued")]
    pub max_queued: usize,
    /// DefaultApplVerID (1137) sent in a FIXT.1.1 Logon (default `9` = FIX.5.0SP2).
    #[serde(default)]
    pub default_appl_ver_id: Option<String>,
    /// Send NextExpectedMsgSeqNum (789), the next MsgSeqNum we expect, in our Logons (QuickFIX's
    /// EnableNextExpectedMsgSeqNum), so the counterparty can resend what we lack without waiting
    /// for a ResendRequest. A counterparty's 789 is honoured whatever this says.
    #[serde(default)]
    pub next_expected_msg_seq_num: bool,
}

impl SessionSettings {
    /// Settings with the defaults of the configuration file and these CompIDs.
    pub fn new(sender_comp_id: &str, target_comp_id: &str) -> Self {
        Self {
            begin_string: default_begin_string(),
            sender_comp_id: sender_comp_id.into(),
            target_comp_id: target_comp_id.into(),
            sender_sub_id: None,
            target_sub_id: None,
            heartbeat_s: default_heartbeat_s(),
            username: None,
            password: None,
            reset_on_logon: false,
            start_time: None,
            end_time: None,
            time_zone: default_time_zone(),
            start_day: None,
            end_day: None,
            store_dir: default_store_dir(),
            store_fsync: false,
            logon_timeout_s: default_logon_timeout_s(),
            logout_timeout_s: default_logout_timeout_s(),
            max_latency_s: default_max_latency_s(),
            max_queued: default_max_queued(),
            default_appl_ver_id: None,
            next_expected_msg_seq_num: false,
        }
    }

    /// Checks every field: `Err((field, message a person can act on))`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if crate::fix::BeginString::from_bytes(self.begin_string.as_bytes()).is_none() {
            return Err((
                "begin_string",
                format!(
                    "\"{}\" is not supported: use \"FIX.4.2\", \"FIX.4.4\" or \"FIXT.1.1\"",
                    self.begin_string
                ),
            ));
        }
        let ids: [(&'static str, Option<&str>); 6] = [
            ("sender_comp_id", Some(&self.sender_comp_id)),
            ("target_comp_id", Some(&self.target_comp_id)),
            ("sender_sub_id", self.sender_sub_id.as_deref()),
            ("target_sub_id", self.target_sub_id.as_deref()),
            ("username", self.username.as_deref()),
            ("password", self.password.as_deref()),
        ];
        for (field, v) in ids {
            let Some(v) = v else { continue };
            if v.is_empty() {
                return Err((field, "must not be empty (leave it out instead)".into()));
            }
            if v.len() > 64 || v.bytes().any(|b| b < 0x20 || b == 0x7f || b == b'|') {
                return Err((
                    field,
                    format!("\"{v}\": at most 64 printable characters, no '|'"),
                ));
            }
        }
        if !(1..=3600).contains(&self.heartbeat_s) {
            return Err((
                "heartbeat_s",
                format!(
                    "{} is out of range: HeartBtInt is 1 to 3600 seconds",
                    self.heartbeat_s
                ),
            ));
        }
        if self.logon_timeout_s == 0 || self.logon_timeout_s > 3600 {
            return Err(("logon_timeout_s", "must be 1 to 3600 seconds".into()));
        }
        if self.logout_timeout_s == 0 || self.logout_timeout_s > 3600 {
            return Err(("logout_timeout_s", "must be 1 to 3600 seconds".into()));
        }
        if self.max_queued == 0 || self.max_queued > 1_000_000 {
            return Err(("max_queued", "must be 1 to 1000000 messages".into()));
        }
        if self.store_dir.as_os_str().is_empty() {
            return Err(("store_dir", "must name a directory".into()));
        }
        if let Some(v) = &self.default_appl_ver_id {
            if self.begin_string != "FIXT.1.1" {
                return Err((
                    "default_appl_ver_id",
                    "only meaningful with begin_string = \"FIXT.1.1\"".into(),
                ));
            }
            if v.is_empty() || v.bytes().any(|b| !b.is_ascii_alphanumeric()) {
                return Err((
                    "default_appl_ver_id",
                    format!("\"{v}\" is not an ApplVerID"),
                ));
            }
        }
        Schedule::from_settings(self).map(|_| ())
    }

    /// The schedule, `None` when the session is always on (no start/end time). Invalid
    /// settings also give `None` here; [`SessionSettings::validate`] reports them. A named
    /// time zone is loaded here (once per process and zone): call at construction, not per
    /// message.
    pub fn schedule(&self) -> Option<Schedule> {
        Schedule::from_settings(self).ok().flatten()
    }
}

fn default_begin_string() -> String {
    "FIX.4.4".into()
}
fn default_heartbeat_s() -> u32 {
    30
}
fn default_time_zone() -> String {
    "UTC".into()
}
fn default_store_dir() -> PathBuf {
    PathBuf::from("/var/lib/lpscore/sessions")
}
fn default_logon_timeout_s() -> u32 {
    10
}
fn default_logout_timeout_s() -> u32 {
    2
}
fn default_max_latency_s() -> u32 {
    120
}
fn default_max_queued() -> usize {
    10_000
}
