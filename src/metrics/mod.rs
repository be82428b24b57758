//! The Prometheus text endpoint, served off the hot path from the scoreboard and the counters.
//!
//! A plain `std::net::TcpListener` on its own thread answers `GET /metrics` (HTTP/1.1,
//! `Connection: close`) with the text exposition format 0.0.4; any other path is 404, any other
//! method 405, a request head over [`MAX_REQUEST`] bytes 431, and a client that sends nothing
//! for [`IO_TIMEOUT`] is dropped. Each scrape reads:
//! - every group's [`GroupStats`] (Relaxed atomic loads of what the hot thread publishes every
//!   tick), its wire-to-score histogram included ([`hist`]);
//! - every journal's [`Watermarks`] (durable MsgSeqNum per session, failed flag, and
//!   [`Watermarks::stats`]: records, bytes, fsyncs and their latencies, segments, lag);
//! - every group's scoreboard, opened read-only like any SOR (seqlocked rows, Busy retried).
//!
//! Names follow the Prometheus conventions: `lpscore_` prefix, `_total` counters, base units
//! (`_seconds`, `_bytes`, `_ratio`; basis points are exported as ratios: 1 bp = 0.0001).

pub mod hist;

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use lpscore_shm::{BucketSlot, Liveness, ProfileId, ReadError, Scoreboard, SymbolSlot};

use crate::journal::Watermarks;
use crate::journal::replay::bucket_label_of;
use crate::runtime::ingest::GroupStats;

/// Longest request head accepted (request line and headers).
pub const MAX_REQUEST: usize = 8 * 1024;
/// Read / write timeout of one connection.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Scoreboard rows exported per scrape at most (label cardinality bound); the rest are counted
/// in `lpscore_metrics_rows_omitted`.
pub const MAX_ROWS: usize = 20_000;
/// A heartbeat older than this makes `lpscore_scoreboard_live` 0.
pub const STALE_AFTER: Duration = Duration::from_secs(2);

/// What the endpoint reads.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// Each hot group's counters (index = group number).
    pub groups: Vec<Arc<GroupStats>>,
    /// Each journal's watermarks, with its group number.
    pub journals: Vec<(usize, Watermarks)>,
    /// Each group's scoreboard file (index = group number).
    pub scoreboards: Vec<PathBuf>,
}

/// A Prometheus text exposition being written: families are declared once (HELP, TYPE), then
/// their samples; label values are escaped.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

/// Escapes a label value (backslash, double quote, line feed).
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

impl Exposition {
    /// Declares a family: `kind` is `counter` or `gauge`.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// One sample.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(val));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", fmt_value(v));
    }

    /// The samples of one histogram (declared with `family(name, "histogram", ..)`): cumulative
    /// `_bucket{le=..}` in seconds, `_sum` in seconds, `_count` (= the `+Inf` bucket).
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &hist::Histogram) {
        let bucket = format!("{name}_bucket");
        let mut ls: Vec<(&str, &str)> = labels.to_vec();
        let cum = h.cumulative();
        let les: Vec<String> = (0..hist::BUCKETS)
            .map(|i| match hist::upper_bound_ns(i) {
                Some(ns) => fmt_value(ns as f64 / 1e9),
                None => "+Inf".into(),
            })
            .collect();
        for (le, c) in les.iter().zip(cum) {
            ls.push(("le", le));
            self.sample(&bucket, &ls, c as f64);
            ls.pop();
        }
        self.sample(&format!("{name}_sum"), labels, h.sum_ns as f64 / 1e9);
        self.sample(
            &format!("{name}_count"),
            labels,
            cum[hist::BUCKETS - 1] as f64,
        );
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

/// One family of per-session counters: (name suffix, help, accessor).
type SessionField = (
    &'static str,
    &'static str,
    &'static str,
    fn(&crate::runtime::ingest::SessionCounters) -> u64,
);

const SESSION_FIELDS: [SessionField; 19] = [
    (
        "lpscore_session_messages_total",
        "counter",
        "FIX messages framed and handed to the engine.",
        |s| s.messages,
    ),
    (
        "lpscore_session_received_bytes_total",
        "counter",
        "Bytes received on the session's connections.",
        |s| s.bytes,
    ),
    (
        "lpscore_session_connections_total",
        "counter",
        "Connections opened for the session.",
        |s| s.connections,
    ),
    (
        "lpscore_session_frame_errors_total",
        "counter",
        "Framing errors (garbage, bad checksum); the framer resynchronises on the next 8=FIX.",
        |s| s.frame_errors,
    ),
    (
        "lpscore_session_parse_errors_total",
        "counter",
        "Framed messages the engine's parser refused.",
        |s| s.parse_errors,
    ),
    (
        "lpscore_session_truncated_total",
        "counter",
        "Connections that ended in the middle of a message.",
        |s| s.truncated,
    ),
    (
        "lpscore_session_journal_refused_total",
        "counter",
        "Messages scored but refused by the journal.",
        |s| s.journal_refused,
    ),
    (
        "lpscore_session_journal_stalled",
        "gauge",
        "1 while the journal has the session stalled.",
        |s| s.journal_stalled,
    ),
    (
        "lpscore_session_reassembled_total",
        "counter",
        "Messages that straddled two received chunks and were copied into the reassembly buffer.",
        |s| s.reassembled,
    ),
    (
        "lpscore_session_delivered_total",
        "counter",
        "Application messages handed to the engine (journaled and scored); raw taps: every message.",
        |s| s.delivered,
    ),
    (
        "lpscore_session_admin_messages_total",
        "counter",
        "FIX session-level messages consumed (logon, heartbeat, test request, resend request, \
         sequence reset, logout, reject).",
        |s| s.admin,
    ),
    (
        "lpscore_session_duplicates_total",
        "counter",
        "FIX messages dropped as duplicates (MsgSeqNum already seen, PossDup resends).",
        |s| s.duplicates,
    ),
    (
        "lpscore_session_resend_requests_total",
        "counter",
        "FIX ResendRequests sent (sequence gaps detected).",
        |s| s.resend_requests,
    ),
    (
        "lpscore_session_logons_total",
        "counter",
        "FIX logons completed.",
        |s| s.logons,
    ),
    (
        "lpscore_session_disconnects_total",
        "counter",
        "Connections the FIX session layer closed (logout, refused logon, timeout).",
        |s| s.session_disconnects,
    ),
    (
        "lpscore_session_sent_bytes_total",
        "counter",
        "Bytes sent on the session's connections.",
        |s| s.bytes_sent,
    ),
    (
        "lpscore_session_logged_on",
        "gauge",
        "1 while the FIX session is logged on (0 for a raw tap).",
        |s| s.logged_on,
    ),
    (
        "lpscore_session_next_in_seqnum",
        "gauge",
        "Next MsgSeqNum expected from the counterparty (0 for a raw tap).",
        |s| s.next_in,
    ),
    (
        "lpscore_session_next_out_seqnum",
        "gauge",
        "Next MsgSeqNum this side sends (0 for a raw tap).",
        |s| s.next_out,
    ),
];

type LoopField = (
    &'static str,
    &'static str,
    fn(&crate::runtime::ingest::LoopCounters) -> u64,
);

const LOOP_FIELDS: [LoopField; 20] = [
    (
        "lpscore_io_enobufs_total",
        "ENOBUFS receive completions (provided-buffer ring empty; data stays in the socket).",
        |c| c.enobufs,
    ),
    (
        "lpscore_io_cq_overflow_total",
        "Times the io_uring completion-queue overflow flag was seen.",
        |c| c.cq_overflow,
    ),
    (
        "lpscore_io_rearms_total",
        "Multishot receive re-arms.",
        |c| c.rearms,
    ),
    (
        "lpscore_io_receives_total",
        "Receive completions / successful recv calls.",
        |c| c.recvs,
    ),
    (
        "lpscore_io_batches_total",
        "Receive batches (one capture timestamp each).",
        |c| c.batches,
    ),
    (
        "lpscore_io_connections_opened_total",
        "Connections accepted or connected.",
        |c| c.opened,
    ),
    (
        "lpscore_io_connections_closed_total",
        "Connections closed, any reason.",
        |c| c.closed,
    ),
    (
        "lpscore_io_connections_peer_closed_total",
        "Connections closed by the peer.",
        |c| c.peer_closed,
    ),
    (
        "lpscore_io_connection_errors_total",
        "Connections closed by a socket error.",
        |c| c.errors,
    ),
    (
        "lpscore_io_connections_silent_closed_total",
        "Connections closed because they stayed silent.",
        |c| c.silent_closed,
    ),
    (
        "lpscore_io_connections_refused_total",
        "Connections refused because every slot was taken.",
        |c| c.refused,
    ),
    (
        "lpscore_io_connect_failures_total",
        "Outgoing connect attempts that failed.",
        |c| c.connect_failures,
    ),
    (
        "lpscore_io_journal_refused_total",
        "Messages refused by the journal, all sessions.",
        |c| c.journal_refused,
    ),
    (
        "lpscore_io_journal_ticks_skipped_total",
        "Engine ticks skipped because the journal ring had no room.",
        |c| c.journal_ticks_skipped,
    ),
    (
        "lpscore_io_idle_waits_total",
        "Idle waits in the kernel (idle mode).",
        |c| c.idle_waits,
    ),
    ("lpscore_engine_ticks_total", "Engine ticks.", |c| c.ticks),
    (
        "lpscore_io_sends_total",
        "Send completions / successful send calls.",
        |c| c.sends,
    ),
    (
        "lpscore_io_partial_sends_total",
        "Sends that took only part of the bytes (the rest sent again).",
        |c| c.partial_sends,
    ),
    (
        "lpscore_io_send_overflows_total",
        "Connections closed because the peer stopped reading (outbound buffer cap reached).",
        |c| c.send_overflows,
    ),
    (
        "lpscore_io_connections_session_closed_total",
        "Connections closed at the FIX session layer's request.",
        |c| c.session_closed,
    ),
];

/// Renders every metric (one scrape).
pub fn render(src: &Sources) -> String {
    let mut x = Exposition::default();
    let snaps: Vec<_> = src.groups.iter().map(|g| g.snapshot()).collect();
    let gname: Vec<String> = (0..snaps.len()).map(|g| g.to_string()).collect();
    for (name, kind, help, get) in SESSION_FIELDS {
        x.family(name, kind, help);
        for (g, s) in snaps.iter().enumerate() {
            for c in &s.sessions {
                let id = c.id.to_string();
                x.sample(
                    name,
                    &[("group", &gname[g]), ("session", &id)],
                    get(c) as f64,
                );
            }
        }
    }
    for (name, help, get) in LOOP_FIELDS {
        x.family(name, "counter", help);
        for (g, s) in snaps.iter().enumerate() {
            x.sample(name, &[("group", &gname[g])], get(&s.io) as f64);
        }
    }
    x.family(
        "lpscore_engine_events_total",
        "counter",
        "Events the engine processed.",
    );
    for (g, s) in snaps.iter().enumerate() {
        x.sample(
            "lpscore_engine_events_total",
            &[("group", &gname[g])],
            s.engine_events as f64,
        );
    }
    x.family(
        "lpscore_group_running",
        "gauge",
        "1 while the group's hot loop runs.",
    );
    for (g, st) in src.groups.iter().enumerate() {
        x.sample(
            "lpscore_group_running",
            &[("group", &gname[g])],
            f64::from(u8::from(st.running())),
        );
    }
    x.family(
        "lpscore_wire_to_score_seconds",
        "histogram",
        "Capture timestamp of a received chunk to the engine done with its messages (rows \
         published when publication is immediate); CLOCK_REALTIME; one observation per message \
         handed to the engine, an upper bound for all but a chunk's last.",
    );
    for (g, st) in src.groups.iter().enumerate() {
        x.histogram(
            "lpscore_wire_to_score_seconds",
            &[("group", &gname[g])],
            &st.wire_to_score(),
        );
    }
    journal(&mut x, src);
    for (g, path) in src.scoreboards.iter().enumerate() {
        scoreboard(&mut x, g, path);
    }
    x.finish()
}

/// Per-journal counters: (name, kind, help, value).
type JournalField = (
    &'static str,
    &'static str,
    &'static str,
    fn(&crate::journal::ring::JournalStats) -> f64,
);

const JOURNAL_FIELDS: [JournalField; 9] = [
    (
        "lpscore_journal_records_total",
        "counter",
        "Records written by the journal thread (messages, ticks, commands).",
        |s| s.records as f64,
    ),
    (
        "lpscore_journal_written_bytes_total",
        "counter",
        "Bytes written to the journal segments (headers and padding included).",
        |s| s.bytes as f64,
    ),
    (
        "lpscore_journal_fsyncs_total",
        "counter",
        "fdatasync calls of the journal thread.",
        |s| s.fsyncs as f64,
    ),
    (
        "lpscore_journal_segments_total",
        "counter",
        "Journal segments created.",
        |s| s.segments as f64,
    ),
    (
        "lpscore_journal_rotations_total",
        "counter",
        "Segments closed on request (rotate_journal).",
        |s| s.rotations as f64,
    ),
    (
        "lpscore_journal_appended_records_total",
        "counter",
        "Records the hot thread handed to the journal (published every tick).",
        |s| s.appended as f64,
    ),
    (
        "lpscore_journal_refused_records_total",
        "counter",
        "Records the hot thread could not hand over (ring full, writer failed, session stalled).",
        |s| s.refused as f64,
    ),
    (
        "lpscore_journal_lag_records",
        "gauge",
        "Records handed over by the hot thread but not yet durable at the configured durability.",
        |s| s.lag_records() as f64,
    ),
    (
        "lpscore_journal_fsync_max_seconds",
        "gauge",
        "Longest fdatasync so far.",
        |s| s.fsync_max_ns as f64 / 1e9,
    ),
];

fn journal(x: &mut Exposition, src: &Sources) {
    let stats: Vec<(String, crate::journal::ring::JournalStats)> = src
        .journals
        .iter()
        .map(|(g, w)| (g.to_string(), w.stats()))
        .collect();
    for (name, kind, help, get) in JOURNAL_FIELDS {
        x.family(name, kind, help);
        for (g, st) in &stats {
            x.sample(name, &[("group", g)], get(st));
        }
    }
    x.family(
        "lpscore_journal_fsync_seconds",
        "histogram",
        "fdatasync latency of the journal thread.",
    );
    for (g, st) in &stats {
        x.histogram("lpscore_journal_fsync_seconds", &[("group", g)], &st.fsync);
    }
    x.family(
        "lpscore_journal_failed",
        "gauge",
        "1 when the group's journal thread stopped on an error (watermarks no longer move).",
    );
    for (g, w) in &src.journals {
        x.sample(
            "lpscore_journal_failed",
            &[("group", &g.to_string())],
            f64::from(u8::from(w.failed())),
        );
    }
    x.family(
        "lpscore_journal_durable_seqnum",
        "gauge",
        "MsgSeqNum of the latest record of the session held at the configured durability.",
    );
    for (g, w) in &src.journals {
        let gs = g.to_string();
        // Only the configured sessions (a watermark slot per possible session id exists).
        let ids: Vec<u32> = src
            .groups
            .get(*g)
            .map(|st| st.snapshot().sessions.iter().map(|s| s.id).collect())
            .unwrap_or_default();
        for id in ids {
            x.sample(
                "lpscore_journal_durable_seqnum",
                &[("group", &gs), ("session", &id.to_string())],
                w.durable(id) as f64,
            );
        }
    }
}

fn read_retry(
    b: &Scoreboard,
    s: SymbolSlot,
    bucket: BucketSlot,
    lp: lpscore_shm::LpId,
) -> Result<lpscore_shm::ScoreRow, ReadError> {
    let mut r = Err(ReadError::Busy);
    for _ in 0..16 {
        r = b.read(s, bucket, lp);
        if !matches!(r, Err(ReadError::Busy)) {
            break;
        }
        std::thread::yield_now();
    }
    r
}

/// Per-LP row gauges: (name, help, value of the row).
type RowField = (
    &'static str,
    &'static str,
    fn(&lpscore_shm::ScoreRow) -> f64,
);

const ROW_FIELDS: [RowField; 13] = [
    (
        "lpscore_lp_orders",
        "Child orders counted in the row (sample size).",
        |r| f64::from(r.n_orders),
    ),
    ("lpscore_lp_fills", "Fills counted in the row.", |r| {
        f64::from(r.n_fills)
    }),
    (
        "lpscore_lp_effective_orders",
        "Decay-weighted order count behind the estimates.",
        |r| f64::from(r.eff_orders),
    ),
    ("lpscore_lp_fill_ratio", "Fill rate.", |r| {
        f64::from(r.fill_rate)
    }),
    ("lpscore_lp_reject_ratio", "Reject rate.", |r| {
        f64::from(r.reject_rate)
    }),
    (
        "lpscore_lp_cancel_reject_ratio",
        "Cancel-reject rate.",
        |r| f64::from(r.cancel_reject_rate),
    ),
    (
        "lpscore_lp_price_improvement_ratio",
        "Price improvement versus the NBBO (1 bp = 0.0001).",
        |r| f64::from(r.pi_bps) * 1e-4,
    ),
    (
        "lpscore_lp_effective_spread_ratio",
        "Effective spread (1 bp = 0.0001).",
        |r| f64::from(r.es_bps) * 1e-4,
    ),
    (
        "lpscore_lp_market_impact_ratio",
        "Market impact at the score horizon (1 bp = 0.0001).",
        |r| f64::from(r.impact_bps) * 1e-4,
    ),
    (
        "lpscore_lp_markout_ratio",
        "Markout at the score horizon (1 bp = 0.0001).",
        |r| f64::from(r.markout_bps) * 1e-4,
    ),
    (
        "lpscore_lp_fill_latency_p50_seconds",
        "Median order-to-fill latency.",
        |r| f64::from(r.fill_p50_ns) * 1e-9,
    ),
    (
        "lpscore_lp_paused",
        "1 while the LP's scoring is paused.",
        |r| f64::from(u8::from(r.is_paused())),
    ),
    (
        "lpscore_lp_price_unavailable",
        "1 when the row's price KPIs are unavailable (no NBBO).",
        |r| f64::from(u8::from(r.flags & lpscore_shm::FLAG_NO_PRICE != 0)),
    ),
];

struct RowOut {
    labels: [String; 4],
    row: lpscore_shm::ScoreRow,
}

fn scoreboard(x: &mut Exposition, g: usize, path: &std::path::Path) {
    let gs = g.to_string();
    let ps = path.display().to_string();
    let sb_labels = [("group", gs.as_str()), ("scoreboard", ps.as_str())];
    x.family(
        "lpscore_scoreboard_up",
        "gauge",
        "1 when the scoreboard file could be opened and validated.",
    );
    let board = match Scoreboard::open(path) {
        Ok(b) => b,
        Err(_) => {
            x.sample("lpscore_scoreboard_up", &sb_labels, 0.0);
            return;
        }
    };
    x.sample("lpscore_scoreboard_up", &sb_labels, 1.0);
    let (live, age) = match board.staleness(STALE_AFTER) {
        Liveness::Live { age } => (1.0, Some(age)),
        Liveness::Stale { age } => (0.0, Some(age)),
        _ => (0.0, None),
    };
    x.family(
        "lpscore_scoreboard_live",
        "gauge",
        "1 while the writer's heartbeat is fresh.",
    );
    x.sample("lpscore_scoreboard_live", &sb_labels, live);
    if let Some(a) = age {
        x.family(
            "lpscore_scoreboard_heartbeat_age_seconds",
            "gauge",
            "Time since the writer's last heartbeat.",
        );
        x.sample(
            "lpscore_scoreboard_heartbeat_age_seconds",
            &sb_labels,
            a.as_secs_f64(),
        );
    }
    x.family(
        "lpscore_scoreboard_epoch",
        "gauge",
        "Writer epoch (incremented on every restart or takeover).",
    );
    x.sample("lpscore_scoreboard_epoch", &sb_labels, board.epoch() as f64);
    x.family(
        "lpscore_scoreboard_publishes_total",
        "counter",
        "Row publications by the writer.",
    );
    x.sample(
        "lpscore_scoreboard_publishes_total",
        &sb_labels,
        board.publish_count() as f64,
    );

    // Rows with data.
    let caps = board.capacities();
    let edges = board.bucket_edges();
    let mut buckets = vec![(BucketSlot::All, "all".to_string())];
    buckets.extend(
        (0..caps.n_buckets as u8)
            .map(|b| (BucketSlot::Bucket(b), bucket_label_of(&edges, b.into()))),
    );
    let mut syms: Vec<(SymbolSlot, String)> = board
        .symbols()
        .map(|(id, n)| (SymbolSlot::One(id), n.as_str().to_string()))
        .collect();
    syms.sort_by(|a, b| a.1.cmp(&b.1));
    syms.push((SymbolSlot::All, "*".into()));
    let lps: Vec<_> = board.lps().collect();
    let profiles: Vec<(usize, String)> = (0..caps.max_profiles.min(8) as u8)
        .filter_map(|p| {
            let i = board.profile_info(ProfileId::new(p)).ok()?;
            (i.active && !i.name.as_str().is_empty())
                .then(|| (p as usize, i.name.as_str().to_string()))
        })
        .collect();
    let mut rows: Vec<RowOut> = Vec::new();
    let (mut omitted, mut busy) = (0u64, 0u64);
    for (slot, sname) in &syms {
        for (b, bname) in &buckets {
            for (lp, lname) in &lps {
                match read_retry(&board, *slot, *b, *lp) {
                    Ok(r) if r.has_data() => {
                        if rows.len() >= MAX_ROWS {
                            omitted += 1;
                            continue;
                        }
                        rows.push(RowOut {
                            labels: [
                                gs.clone(),
                                sname.clone(),
                                bname.clone(),
                                lname.as_str().to_string(),
                            ],
                            row: r,
                        });
                    }
                    Ok(_) => {}
                    Err(ReadError::Busy) => busy += 1,
                    Err(_) => {}
                }
            }
        }
    }
    x.family(
        "lpscore_metrics_rows_omitted",
        "gauge",
        "Scoreboard rows with data not exported by this scrape (cardinality bound).",
    );
    x.sample(
        "lpscore_metrics_rows_omitted",
        &[("group", &gs)],
        omitted as f64,
    );
    x.family(
        "lpscore_metrics_rows_busy",
        "gauge",
        "Scoreboard rows that stayed busy (seqlock) through the retries of this scrape.",
    );
    x.sample("lpscore_metrics_rows_busy", &[("group", &gs)], busy as f64);
    let lab = |r: &RowOut| -> [(&'static str, String); 4] {
        [
            ("group", r.labels[0].clone()),
            ("symbol", r.labels[1].clone()),
            ("bucket", r.labels[2].clone()),
            ("lp", r.labels[3].clone()),
        ]
    };
    for (name, help, get) in ROW_FIELDS {
        x.family(name, "gauge", help);
        for r in &rows {
            let l = lab(r);
            let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
            x.sample(name, &l, get(&r.row));
        }
    }
    x.family(
        "lpscore_lp_ack_latency_seconds",
        "gauge",
        "Order-to-ack latency quantiles of the row.",
    );
    for r in &rows {
        let l = lab(r);
        for (q, v) in [("0.5", r.row.ack_p50_ns), ("0.99", r.row.ack_p99_ns)] {
            let mut ls: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
            ls.push(("quantile", q));
            x.sample("lpscore_lp_ack_latency_seconds", &ls, f64::from(v) * 1e-9);
        }
    }
    x.family(
        "lpscore_lp_score",
        "gauge",
        "Composite score (0..100) under each active profile.",
    );
    for r in &rows {
        let l = lab(r);
        for (p, pname) in &profiles {
            if let Some(s) = r.row.score(*p) {
                let mut ls: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
                ls.push(("profile", pname));
                x.sample("lpscore_lp_score", &ls, f64::from(s));
            }
        }
    }
}

/// The running endpoint; dropping it stops the thread.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// The bound address (the port when the configuration said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        // Release pairs with the Acquire load of the accept loop.
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Binds `addr` and serves `GET /metrics` on a thread named `lpscore-metrics`.
pub fn serve(addr: SocketAddr, src: Sources) -> io::Result<MetricsServer> {
    let l = TcpListener::bind(addr)?;
    // Non-blocking accept polled every 25 ms, so that a drop stops the thread promptly.
    l.set_nonblocking(true)?;
    let bound = l.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("lpscore-metrics".into())
        .spawn(move || {
            while !s2.load(Ordering::Acquire) {
                match l.accept() {
                    Ok((c, _)) => {
                        if let Err(e) = handle(c, &src) {
                            tracing::debug!("metrics: connection: {e}");
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(25))
                    }
                    Err(e) => {
                        tracing::warn!("metrics: accept: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })?;
    Ok(MetricsServer {
        addr: bound,
        stop,
        thread: Some(thread),
    })
}

/// What a request head asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /metrics` (or `HEAD`).
    Metrics {
        /// HEAD: headers only.
        head: bool,
    },
    /// Another path.
    NotFound,
    /// Another method.
    MethodNotAllowed,
    /// Not an HTTP request line.
    BadRequest,
}

/// Routes a request head's first line.
pub fn route(request_line: &str) -> Route {
    let mut it = request_line.split_ascii_whitespace();
    let (Some(m), Some(target), Some(v)) = (it.next(), it.next(), it.next()) else {
        return Route::BadRequest;
    };
    if !v.starts_with("HTTP/1.") || it.next().is_some() {
        return Route::BadRequest;
    }
    let path = target.split('?').next().unwrap_or("");
    match (m, path) {
        ("GET", "/metrics") => Route::Metrics { head: false },
        ("HEAD", "/metrics") => Route::Metrics { head: true },
        ("GET" | "HEAD", _) => Route::NotFound,
        _ => Route::MethodNotAllowed,
    }
}

fn handle(mut c: TcpStream, src: &Sources) -> io::Result<()> {
    c.set_nonblocking(false)?;
    c.set_read_timeout(Some(IO_TIMEOUT))?;
    c.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut n = 0;
    let complete = loop {
        if buf[..n].windows(4).any(|w| w == b"\r\n\r\n")
            || buf[..n].windows(2).any(|w| w == b"\n\n")
        {
            break true;
        }
        if n == buf.len() {
            break false;
        }
        match c.read(&mut buf[n..]) {
            Ok(0) => return Ok(()),
            Ok(k) => n += k,
            Err(e) => return Err(e),
        }
    };
    if !complete {
        return reply(
            &mut c,
            "431 Request Header Fields Too Large",
            "text/plain",
            b"request head too large\n",
            false,
        );
    }
    let head = String::from_utf8_lossy(&buf[..n]);
    let line = head.lines().next().unwrap_or("");
    match route(line) {
        Route::Metrics { head } => {
            let body = render(src);
            reply(
                &mut c,
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                body.as_bytes(),
                head,
            )
        }
        Route::NotFound => reply(
            &mut c,
            "404 Not Found",
            "text/plain",
            b"only /metrics is served here\n",
            false,
        ),
        Route::MethodNotAllowed => reply(
            &mut c,
            "405 Method Not Allowed",
            "text/plain",
            b"GET /metrics only\n",
            false,
        ),
        Route::BadRequest => reply(
            &mut c,
            "400 Bad Request",
            "text/plain",
            b"bad request\n",
            false,
        ),
    }
}

fn reply(
    c: &mut TcpStream,
    status: &str,
    ctype: &str,
    body: &[u8],
    head_only: bool,
) -> io::Result<()> {
    let h = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    c.write_all(h.as_bytes())?;
    if !head_only {
        c.write_all(body)?;
    }
    c.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_labels_and_help() {
        assert_eq!(escape_label(r#"a"b\c"#.to_owned().as_str()), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        let mut x = Exposition::default();
        x.family("lpscore_x_total", "counter", "line1\nline2 \\");
        x.sample("lpscore_x_total", &[("lp", "L\"1")], 3.0);
        x.sample("lpscore_x_total", &[], f64::NAN);
        assert_eq!(
            x.finish(),
            "# HELP lpscore_x_total line1\\nline2 \\\\\n# TYPE lpscore_x_total counter\n\
             lpscore_x_total{lp=\"L\\\"1\"} 3\nlpscore_x_total NaN\n"
        );
    }

    #[test]
    fn routes() {
        assert_eq!(
            route("GET /metrics HTTP/1.1"),
            Route::Metrics { head: false }
        );
        assert_eq!(
            route("GET /metrics?x=1 HTTP/1.0"),
            Route::Metrics { head: false }
        );
        assert_eq!(
            route("HEAD /metrics HTTP/1.1"),
            Route::Metrics { head: true }
        );
        assert_eq!(route("GET / HTTP/1.1"), Route::NotFound);
        assert_eq!(route("POST /metrics HTTP/1.1"), Route::MethodNotAllowed);
        assert_eq!(route("garbage"), Route::BadRequest);
        assert_eq!(route("GET /metrics SPDY/3"), Route::BadRequest);
        assert_eq!(route(""), Route::BadRequest);
    }

    #[test]
    fn renders_group_counters_without_a_board() {
        let src = Sources {
            groups: vec![Arc::new(GroupStats::new(&[7, 9]))],
            journals: vec![],
            scoreboards: vec![std::env::temp_dir().join("lpscore-metrics-no-board.sb")],
        };
        let t = render(&src);
        assert!(
            t.contains("lpscore_session_messages_total{group=\"0\",session=\"7\"} 0\n"),
            "{t}"
        );
        assert!(
            t.contains("lpscore_session_messages_total{group=\"0\",session=\"9\"} 0\n"),
            "{t}"
        );
        assert!(
            t.contains("lpscore_io_enobufs_total{group=\"0\"} 0\n"),
            "{t}"
        );
        assert!(
            t.contains("lpscore_scoreboard_up{group=\"0\",scoreboard="),
            "{t}"
        );
        // Every family is declared once and every name has the prefix.
        let mut seen = std::collections::HashSet::new();
        for l in t.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap();
                assert!(seen.insert(name.to_string()), "{name} declared twice");
                assert!(name.starts_with("lpscore_"));
                if rest.ends_with(" counter") {
                    assert!(name.ends_with("_total"), "{name}");
                }
            }
        }
    }

    #[test]
    fn renders_histograms_cumulatively_and_the_journal_counters() {
        let mut h = hist::Histogram::default();
        h.record(100);
        h.record_n(3_000, 2);
        let mut x = Exposition::default();
        x.family("lpscore_x_seconds", "histogram", "x");
        x.histogram("lpscore_x_seconds", &[("group", "0")], &h);
        let t = x.finish();
        assert!(
            t.contains("lpscore_x_seconds_bucket{group=\"0\",le=\"0.000000256\"} 1\n"),
            "{t}"
        );
        assert!(
            t.contains("lpscore_x_seconds_bucket{group=\"0\",le=\"0.000002048\"} 1\n"),
            "{t}"
        );
        assert!(
            t.contains("lpscore_x_seconds_bucket{group=\"0\",le=\"0.000004096\"} 3\n"),
            "{t}"
        );
        assert!(
            t.contains("lpscore_x_seconds_bucket{group=\"0\",le=\"+Inf\"} 3\n"),
            "{t}"
        );
        assert!(
            t.contains("lpscore_x_seconds_sum{group=\"0\"} 0.0000061\n"),
            "{t}"
        );
        assert!(
            t.contains("lpscore_x_seconds_count{group=\"0\"} 3\n"),
            "{t}"
        );
        assert_eq!(
            t.lines().filter(|l| l.contains("_bucket{")).count(),
            hist::BUCKETS
        );

        let shared = crate::journal::ring::Shared::new(4, &[]);
        shared.records.store(10, Ordering::Relaxed);
        shared.durable_records.store(7, Ordering::Relaxed);
        shared.producer.appended.store(12, Ordering::Relaxed);
        shared.fsync.record(50_000);
        let src = Sources {
            groups: vec![Arc::new(GroupStats::new(&[1]))],
            journals: vec![(0, crate::journal::Watermarks { shared })],
            scoreboards: vec![],
        };
        let t = render(&src);
        for want in [
            "lpscore_journal_records_total{group=\"0\"} 10\n",
            "lpscore_journal_lag_records{group=\"0\"} 5\n",
            "lpscore_journal_fsync_seconds_count{group=\"0\"} 1\n",
            "lpscore_journal_fsync_seconds_bucket{group=\"0\",le=\"0.000065536\"} 1\n",
            "lpscore_wire_to_score_seconds_count{group=\"0\"} 0\n",
            "lpscore_session_reassembled_total{group=\"0\",session=\"1\"} 0\n",
            "lpscore_io_sends_total{group=\"0\"} 0\n",
        ] {
            assert!(t.contains(want), "{want} in\n{t}");
        }
    }

    #[test]
    fn serves_404_405_431_and_metrics() {
        let src = Sources {
            groups: vec![Arc::new(GroupStats::new(&[1]))],
            ..Sources::default()
        };
        let srv = serve("127.0.0.1:0".parse().unwrap(), src).unwrap();
        let get = |req: &[u8]| {
            let mut s = TcpStream::connect(srv.local_addr()).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(req).unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out
        };
        let ok = get(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains("lpscore_session_messages_total{group=\"0\",session=\"1\"} 0"),
            "{ok}"
        );
        assert!(get(b"GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(get(b"DELETE /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        let big = vec![b'A'; MAX_REQUEST];
        assert!(get(&big).starts_with("HTTP/1.1 431"));
        assert!(get(b"\x00\x01garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
        drop(srv);
    }
}
