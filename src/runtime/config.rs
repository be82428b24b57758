//! The runtime configuration (`lpscore run --config FILE`): TOML, every field named in errors.
//!
//! ```toml
//! backend = "io-uring"            # or "busy-poll"
//! scoreboard = "/dev/shm/lpscore.scoreboard"
//! [idle]                          # opt-in: sleep in the kernel after a quiet time
//! enabled = false
//! [[group]]                       # one pinned hot thread per group
//! core = 1
//! sessions = [ { id = 1, listen = "127.0.0.1:9001" }, { id = 2, connect = "10.0.0.5:9100" } ]
//! [engine]                        # lpscore::engine::EngineConfig
//! publish_interval_ns = 0
//! ```
//! See `config/lpscore.toml` for every field with its default and `docs/runtime.md`.
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::engine::EngineConfig;
use crate::journal::JournalConfig;

mod spans;
use spans::line_at;

/// Which socket backend the hot threads run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum Backend {
    /// io_uring: multishot accept/recv on a provided buffer ring (the default).
    #[default]
    #[serde(rename = "io-uring")]
    IoUring,
    /// Non-blocking `recv()` spinning (also the path kernel-bypass stacks accelerate).
    #[serde(rename = "busy-poll")]
    BusyPoll,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::IoUring => "io-uring",
            Backend::BusyPoll => "busy-poll",
        })
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "io-uring" | "io_uring" | "uring" => Ok(Backend::IoUring),
            "busy-poll" | "busy_poll" | "busypoll" => Ok(Backend::BusyPoll),
            _ => Err(format!(
                "backend must be \"io-uring\" or \"busy-poll\", not {s:?}"
            )),
        }
    }
}

/// The opt-in idle mode: after `quiet_us` without traffic the hot thread waits in the kernel (up
/// to `wait_us` at a time) instead of spinning. Off by default: the loop never sleeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdleConfig {
    /// Turn the idle mode on.
    pub enabled: bool,
    /// Quiet time before waiting, microseconds.
    pub quiet_us: u64,
    /// Longest single wait, microseconds (housekeeping, ticks and stop requests run at least this
    /// often while idle).
    pub wait_us: u64,
}

impl Default for IdleConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            quiet_us: 1_000_000,
            wait_us: 1_000,
        }
    }
}

/// One FIX session: exactly one of `listen` (acceptor) or `connect` (initiator).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// Session id handed to the engine with every message (unique across the file).
    pub id: u32,
    /// Accept connections on this address (acceptor).
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// Connect to this address (initiator); reconnects after `reconnect_ms`.
    #[serde(default)]
    pub connect: Option<SocketAddr>,
    /// FIX session settings (logon, heartbeats, resend); absent: a raw tap (frame and score only).
    #[serde(default)]
    pub fix: Option<crate::fix::session::SessionSettings>,
}

/// Where a session's bytes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Acceptor.
    Listen(SocketAddr),
    /// Initiator.
    Connect(SocketAddr),
}

impl SessionConfig {
    /// The endpoint (after [`RuntimeConfig::validate`]).
    pub fn endpoint(&self) -> Option<Endpoint> {
        match (self.listen, self.connect) {
            (Some(a), None) => Some(Endpoint::Listen(a)),
            (None, Some(a)) => Some(Endpoint::Connect(a)),
            _ => None,
        }
    }
}

/// One hot thread and the sessions it owns.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// Core to pin the hot thread to (none: unpinned).
    #[serde(default)]
    pub core: Option<usize>,
    /// The sessions.
    pub sessions: Vec<SessionConfig>,
    /// This group's scoreboard file (required when there is more than one group: a scoreboard
    /// has exactly one writer).
    #[serde(default)]
    pub scoreboard: Option<PathBuf>,
}

/// Connection and buffer limits per hot thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IoConfig {
    /// Connections held at once per group (more are accepted and closed at once, counted).
    pub max_connections: usize,
    /// Provided buffers in the io_uring buffer ring (power of two, <= 32768).
    pub buffers: u32,
    /// Size of each provided buffer, bytes (also the busy-poll recv buffer).
    pub buffer_size: u32,
    /// Largest FIX BodyLength accepted.
    pub max_body_len: u32,
    /// A connection that sends nothing for this long after it opened is closed (0: never).
    pub silent_timeout_ms: u64,
    /// Initiator sessions retry this long after a failed or closed connection.
    pub reconnect_ms: u64,
    /// Engine tick (markouts, heartbeat, commands) at least this often, microseconds.
    pub tick_us: u64,
    /// SO_BUSY_POLL on sockets, microseconds (0: leave unset; needs CAP_NET_ADMIN to raise).
    pub so_busy_poll_us: u32,
}

impl Default for IoConfig {
    fn default() -> Self {
        Self {
            max_connections: 64,
            buffers: 1024,
            buffer_size: 16 * 1024,
            max_body_len: 64 * 1024,
            silent_timeout_ms: 0,
            reconnect_ms: 1_000,
            tick_us: 1_000,
            so_busy_poll_us: 50,
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Socket backend.
    #[serde(default)]
    pub backend: Backend,
    /// Scoreboard file of the (single) group.
    #[serde(default = "default_scoreboard")]
    pub scoreboard: PathBuf,
    /// Idle mode.
    #[serde(default)]
    pub idle: IdleConfig,
    /// Limits.
    #[serde(default)]
    pub io: IoConfig,
    /// The journal (`[journal]`: `enabled`, `core` and the journal module's settings, see
    /// [`JournalConfig`] and docs/journal.md).
    #[serde(default)]
    pub journal: JournalConfig,
    /// Hot threads.
    #[serde(rename = "group")]
    pub groups: Vec<GroupConfig>,
    /// The engine.
    #[serde(default)]
    pub engine: EngineConfig,
    /// The control socket.
    #[serde(default)]
    pub control: ControlConfig,
    /// The Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Structured logs.
    #[serde(default)]
    pub log: LogConfig,
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (for log shippers).
    Json,
}

/// `[log]`: structured logs (tracing), written by a logging thread: the hot threads only hand
/// lines to its bounded queue (lossy when full, never blocking on the terminal or the disk).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Append to this file (absent: stderr).
    pub file: Option<PathBuf>,
    /// `text` or `json`.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `info,lpscore::fix::session=debug` (`RUST_LOG` overrides).
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            file: None,
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// `[control]`: the Unix-domain control socket (mode 0600).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlConfig {
    /// Socket path (absent: no control socket; the example configuration uses `/run/lpscore/control.sock`).
    pub socket: Option<PathBuf>,
}

/// `[metrics]`: the Prometheus text endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Listen address, e.g. "127.0.0.1:9464" (absent: no endpoint).
    pub listen: Option<SocketAddr>,
}

fn default_scoreboard() -> PathBuf {
    PathBuf::from("/dev/shm/lpscore.scoreboard")
}

/// A configuration refused: the file, the line and the field (TOML path) it is about, what is
/// wrong and how to fix it. Displays as `FILE:LINE: FIELD: MESSAGE` (the parts known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfigError {
    /// The file (set by [`RuntimeConfig::load`]).
    pub file: Option<PathBuf>,
    /// The 1-based line of the field in the file.
    pub line: Option<usize>,
    /// The field (TOML path), e.g. `group[0].sessions[1].listen`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for RuntimeConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(p), Some(l)) => write!(f, "{}:{l}: ", p.display())?,
            (Some(p), None) => write!(f, "{}: ", p.display())?,
            (None, Some(l)) => write!(f, "line {l}: ")?,
            (None, None) => {}
        }
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}
impl std::error::Error for RuntimeConfigError {}

fn err(field: impl Into<String>, message: impl Into<String>) -> RuntimeConfigError {
    RuntimeConfigError {
        file: None,
        line: None,
        field: field.into(),
        message: message.into(),
    }
}

/// The cores this process may run on (`None`: unknown).
fn available_cores() -> Option<Vec<usize>> {
    match core_affinity::get_core_ids() {
        Some(ids) if !ids.is_empty() => Some(ids.into_iter().map(|c| c.id).collect()),
        _ => std::thread::available_parallelism()
            .ok()
            .map(|n| (0..n.get()).collect()),
    }
}

fn describe_cores(c: &[usize]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < c.len() {
        let mut j = i;
        while j + 1 < c.len() && c[j + 1] == c[j] + 1 {
            j += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if j > i {
            out.push_str(&format!("{}-{}", c[i], c[j]));
        } else {
            out.push_str(&c[i].to_string());
        }
        i = j + 1;
    }
    out
}

fn check_core(field: &str, c: usize, cores: &Option<Vec<usize>>) -> Result<(), RuntimeConfigError> {
    if let Some(cs) = cores {
        if !cs.contains(&c) {
            return Err(err(
                field,
                format!(
                    "core {c} does not exist on this machine or is outside this process's CPU set \
                     (available: {}): pick one of those",
                    describe_cores(cs)
                ),
            ));
        }
    }
    Ok(())
}

/// Checks that the control socket can be created: its directory exists (or its parent does, for
/// the server creates one level, mode 0700) and is writable.
fn check_socket_dir(p: &Path) -> Result<(), RuntimeConfigError> {
    let f = "control.socket";
    if p.as_os_str().len() >= 108 {
        return Err(err(
            f,
            format!(
                "{} is {} bytes long: a Unix socket path must be under 108 bytes; choose a shorter path",
                p.display(),
                p.as_os_str().len()
            ),
        ));
    }
    if p.file_name().is_none() {
        return Err(err(f, format!("{} names no file", p.display())));
    }
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let (probe, what) = if dir.is_dir() {
        (dir, "directory")
    } else {
        match dir.parent() {
            Some(pp) if pp.as_os_str().is_empty() || pp.is_dir() => (
                if pp.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    pp
                },
                "parent directory (lpscore creates the socket's directory, mode 0700)",
            ),
            _ => {
                return Err(err(
                    f,
                    format!(
                        "the directory {} does not exist: create it (mode 0700) or choose another \
                         path",
                        dir.display()
                    ),
                ));
            }
        }
    };
    if !writable(probe) {
        return Err(err(
            f,
            format!(
                "the {what} {} is not writable by this user: fix its permissions or choose another \
                 path",
                probe.display()
            ),
        ));
    }
    Ok(())
}

/// Whether this user can create files in `dir` (a probe file, created and removed at once: the
/// permission bits alone do not tell, with ACLs, read-only mounts and root).
fn writable(dir: &Path) -> bool {
    let probe = dir.join(format!(".lpscore-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            true
        }
        Err(e) => e.kind() == std::io::ErrorKind::AlreadyExists,
    }
}

impl RuntimeConfig {
    /// Parses and validates TOML text. Every error names the field and, where it is in the text,
    /// its line.
    pub fn from_toml(text: &str) -> Result<Self, RuntimeConfigError> {
        let doc = toml_edit::ImDocument::parse(text).map_err(|e| {
            let msg = e.message().trim().replace('\n', "; ");
            let mut x = err("", format!("TOML syntax: {msg}"));
            x.line = e.span().map(|s| line_at(text, s.start));
            x
        })?;
        let at = |mut e: RuntimeConfigError| {
            if e.line.is_none() {
                e.line = spans::line_of_path(text, &doc, &e.field);
            }
            e
        };
        spans::precheck(&doc).map_err(at)?;
        let cfg: RuntimeConfig = toml::from_str(text).map_err(|e| {
            let (field, line) = match e.span() {
                Some(s) => (
                    spans::path_at(&doc, s.start).unwrap_or_default(),
                    Some(line_at(text, s.start)),
                ),
                None => (String::new(), None),
            };
            let mut x = err(field, spans::tidy_message(e.message()));
            x.line = line;
            at(x)
        })?;
        cfg.validate().map_err(at)?;
        Ok(cfg)
    }

    /// Reads, parses and validates a file; errors name the file.
    pub fn load(path: &Path) -> Result<Self, RuntimeConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| RuntimeConfigError {
            file: Some(path.to_path_buf()),
            line: None,
            field: String::new(),
            message: format!("cannot read the configuration: {e}"),
        })?;
        Self::from_toml(&text).map_err(|mut e| {
            e.file = Some(path.to_path_buf());
            e
        })
    }

    /// Checks every field; the error names the first bad one (no line: see
    /// [`RuntimeConfig::from_toml`]).
    pub fn validate(&self) -> Result<(), RuntimeConfigError> {
        if self.groups.is_empty() {
            return Err(err(
                "group",
                "at least one [[group]] with sessions is needed",
            ));
        }
        let cores = available_cores();
        let mut ids: HashMap<u32, String> = HashMap::new();
        let mut stores: HashMap<std::path::PathBuf, String> = HashMap::new();
        let mut addrs = HashSet::new();
        let mut group_cores = HashSet::new();
        let mut boards = HashSet::new();
        for (g, grp) in self.groups.iter().enumerate() {
            if grp.sessions.is_empty() {
                return Err(err(
                    format!("group[{g}].sessions"),
                    "a group needs at least one session",
                ));
            }
            if let Some(c) = grp.core {
                check_core(&format!("group[{g}].core"), c, &cores)?;
                if !group_cores.insert(c) {
                    return Err(err(
                        format!("group[{g}].core"),
                        format!("core {c} is already another group's hot core"),
                    ));
                }
            }
            if self.groups.len() > 1 {
                match &grp.scoreboard {
                    None => {
                        return Err(err(
                            format!("group[{g}].scoreboard"),
                            "with more than one group each group needs its own scoreboard file \
                             (a scoreboard has exactly one writer)",
                        ));
                    }
                    Some(p) if !boards.insert(p.clone()) => {
                        return Err(err(format!("group[{g}].scoreboard"), "used by two groups"));
                    }
                    Some(_) => {}
                }
            }
            for (s, ses) in grp.sessions.iter().enumerate() {
                let f = format!("group[{g}].sessions[{s}]");
                if let Some(first) = ids.insert(ses.id, format!("{f}.id")) {
                    return Err(err(
                        format!("{f}.id"),
                        format!(
                            "session id {} is already used by {first}: session ids are unique \
                             across the file",
                            ses.id
                        ),
                    ));
                }
                match (ses.listen, ses.connect) {
                    (Some(_), Some(_)) => {
                        return Err(err(
                            f,
                            "set exactly one of `listen` and `connect`, not both",
                        ));
                    }
                    (None, None) => {
                        return Err(err(
                            f,
                            "set one of `listen` (acceptor) or `connect` (initiator)",
                        ));
                    }
                    (Some(a), None) => {
                        if a.port() != 0 && !addrs.insert(a) {
                            return Err(err(
                                format!("{f}.listen"),
                                format!("{a} is listened on twice"),
                            ));
                        }
                    }
                    (None, Some(a)) => {
                        if a.port() == 0 {
                            return Err(err(
                                format!("{f}.connect"),
                                "port 0 cannot be connected to",
                            ));
                        }
                    }
                }
                if let Some(fix) = &ses.fix {
                    fix.validate()
                        .map_err(|(k, m)| err(format!("{f}.fix.{k}"), m))?;
                    // One sequence store per session: two sessions with the same key in one
                    // store_dir would overwrite each other's numbers.
                    let key = crate::fix::session::SessionKey::from_settings(fix);
                    let file = fix.store_dir.join(key.file_name());
                    if let Some(first) = stores.insert(file, format!("{f}.fix")) {
                        return Err(err(
                            format!("{f}.fix"),
                            format!(
                                "the same session ({key}) and store_dir as {first}: their \
                                 sequence numbers would overwrite each other; give each its own \
                                 CompIDs or store_dir"
                            ),
                        ));
                    }
                }
            }
        }
        let io = &self.io;
        if io.max_connections == 0 || io.max_connections > 60_000 {
            return Err(err("io.max_connections", "must be 1..=60000"));
        }
        if !io.buffers.is_power_of_two() || io.buffers > 32_768 || io.buffers < 2 {
            return Err(err(
                "io.buffers",
                format!("{} must be a power of two in 2..=32768", io.buffers),
            ));
        }
        if io.buffer_size < 512 || io.buffer_size > (1 << 24) {
            return Err(err("io.buffer_size", "must be 512..=16777216 bytes"));
        }
        if io.max_body_len < 64 {
            return Err(err("io.max_body_len", "must be at least 64"));
        }
        if io.tick_us == 0 {
            return Err(err("io.tick_us", "must be positive"));
        }
        if self.idle.enabled && self.idle.wait_us == 0 {
            return Err(err("idle.wait_us", "must be positive when idle.enabled"));
        }
        if self.journal.enabled {
            let j = &self.journal;
            if j.ring_bytes < 4096 {
                return Err(err("journal.ring_bytes", "must be at least 4096"));
            }
            if j.dir.as_os_str().is_empty() {
                return Err(err("journal.dir", "set the journal directory"));
            }
            if let Some(c) = j.core {
                check_core("journal.core", c, &cores)?;
            }
            for (g, grp) in self.groups.iter().enumerate() {
                for (s, ses) in grp.sessions.iter().enumerate() {
                    if ses.id >= j.max_sessions {
                        return Err(err(
                            format!("group[{g}].sessions[{s}].id"),
                            format!(
                                "session id {} is not below journal.max_sessions ({}): raise \
                                 journal.max_sessions",
                                ses.id, j.max_sessions
                            ),
                        ));
                    }
                }
            }
        }
        if let Some(p) = &self.control.socket {
            check_socket_dir(p)?;
        }
        if let Some(f) = &self.log.file {
            let dir = f
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if !dir.is_dir() {
                return Err(err(
                    "log.file",
                    format!(
                        "the directory {} does not exist: create it or change `log.file`",
                        dir.display()
                    ),
                ));
            }
        }
        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&self.log.level) {
            return Err(err(
                "log.level",
                format!(
                    "{:?} is not a tracing filter ({e}); e.g. \"info\" or \"warn,lpscore=debug\"",
                    self.log.level
                ),
            ));
        }
        if let Some(a) = self.metrics.listen {
            if addrs.contains(&a) {
                return Err(err(
                    "metrics.listen",
                    format!("{a} is also a session's listen address"),
                ));
            }
        }
        self.engine
            .check()
            .map_err(|(f, m)| err(format!("engine.{f}"), m))?;
        Ok(())
    }

    /// The journal directory of group `g`: `journal.dir` with one group, `journal.dir/group-G`
    /// with several (a journal has exactly one producer).
    pub fn journal_dir_of(&self, g: usize) -> PathBuf {
        if self.groups.len() > 1 {
            self.journal.dir.join(format!("group-{g}"))
        } else {
            self.journal.dir.clone()
        }
    }

    /// The scoreboard path of group `g`.
    pub fn scoreboard_of(&self, g: usize) -> PathBuf {
        self.groups
            .get(g)
            .and_then(|grp| grp.scoreboard.clone())
            .unwrap_or_else(|| self.scoreboard.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"
        backend = "busy-poll"
        scoreboard = "/tmp/x.sb"
        [idle]
        enabled = true
        quiet_us = 100
        [[group]]
        core = 0
        sessions = [ { id = 1, listen = "127.0.0.1:0" }, { id = 2, connect = "127.0.0.1:9" } ]
        [engine]
        publish_interval_ns = 0
    "#;

    #[test]
    fn parses_and_validates() {
        let c = RuntimeConfig::from_toml(OK).unwrap();
        assert_eq!(c.backend, Backend::BusyPoll);
        assert!(c.idle.enabled);
        assert_eq!(c.idle.wait_us, 1_000);
        assert_eq!(c.groups[0].sessions.len(), 2);
        assert_eq!(c.engine.publish_interval_ns, 0);
        assert!(matches!(
            c.groups[0].sessions[1].endpoint(),
            Some(Endpoint::Connect(_))
        ));
    }

    #[test]
    fn errors_name_the_field() {
        let e = RuntimeConfig::from_toml(&OK.replace("busy-poll", "epoll")).unwrap_err();
        assert!(e.to_string().contains("line"), "{e}");
        let e = RuntimeConfig::from_toml(&OK.replace("id = 2", "id = 1")).unwrap_err();
        assert_eq!(e.field, "group[0].sessions[1].id");
        let e = RuntimeConfig::from_toml(&OK.replace("connect = \"127.0.0.1:9\"", "")).unwrap_err();
        assert!(
            e.to_string().contains("line") || e.field.starts_with("group[0]"),
            "{e}"
        );
        let e = RuntimeConfig::from_toml(&OK.replace("publish_interval_ns = 0", "max_lps = 0"))
            .unwrap_err();
        assert_eq!(e.field, "engine.max_lps");
        assert_eq!(e.line, Some(11), "{e}");
        let e = RuntimeConfig::from_toml(&OK.replace("core = 0", "core = 4096")).unwrap_err();
        assert_eq!(e.field, "group[0].core");
        let e = RuntimeConfig::from_toml(&format!("{OK}\n[io]\nbuffers = 1000\n")).unwrap_err();
        assert_eq!(e.field, "io.buffers");
        let j = "\n[journal]\nenabled = true\ndir = \"/tmp/j\"\nmax_sessions = 2\n";
        let e = RuntimeConfig::from_toml(&format!("{OK}{j}")).unwrap_err();
        assert_eq!(e.field, "group[0].sessions[1].id");
    }

    #[test]
    fn journal_table_is_the_journal_modules_config() {
        let j = "\n[journal]\nenabled = true\ncore = 0\ndir = \"/tmp/j\"\ndurability = \"none\"\n\
                 ring_bytes = 65536\nbackend = \"write\"\n";
        let c = RuntimeConfig::from_toml(&format!("{OK}{j}")).unwrap();
        assert!(c.journal.enabled);
        assert_eq!(c.journal.core, Some(0));
        assert_eq!(c.journal.dir, PathBuf::from("/tmp/j"));
        assert_eq!(c.journal.durability(), crate::journal::Durability::None);
        assert_eq!(c.journal.ring_bytes, 65536);
        assert_eq!(c.journal_dir_of(0), PathBuf::from("/tmp/j"));
        let e = RuntimeConfig::from_toml(&format!("{OK}{j}records = 5\n")).unwrap_err();
        assert!(e.to_string().contains("records"), "{e}");
        // Off by default.
        assert!(!RuntimeConfig::from_toml(OK).unwrap().journal.enabled);
    }
}
