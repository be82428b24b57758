//! The FIX session layer (logon, heartbeats, sequence numbers, resend): a sans-IO state machine
//! per session, driven by the ingest runtime. See docs/session.md.

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
    /// Time zone of the schedule: "UTC" or a fixed offset like "+01:00".
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Directory of the persisted sequence numbers (one file per session).
    #[serde(default = "default_store_dir")]
    pub store_dir: PathBuf,
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
