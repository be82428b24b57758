//! `lpscore run` with `[metrics] listen`: feed a FIX stream, scrape `/metrics`, parse every line
//! with a small Prometheus text-format parser, and check the counts against what was sent: per
//! session (a raw tap, and a FIX session driven by a hand-written peer: logon, test request, a
//! duplicate, a gap), the reassembly count, the wire-to-score histogram and the journal's
//! counters and fsync histogram.
#![allow(clippy::disallowed_methods)] // test harness: wall-clock deadlines

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "common/ansi.rs"]
mod ansi;
use ansi::strip_ansi;

const BIN: &str = env!("CARGO_BIN_EXE_lpscore");

/// One parsed sample.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

fn valid_name(n: &str, colon: bool) -> bool {
    let mut it = n.chars();
    let ok_first = |c: char| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':');
    it.next().is_some_and(ok_first)
        && it.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
}

fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => v.parse::<f64>().map_err(|e| format!("value {v:?}: {e}")),
    }
}

/// Parses the text exposition format 0.0.4 strictly: every line is a HELP, a TYPE, or a sample
/// of a declared family; label values are unescaped; a family is declared once.
fn parse(text: &str) -> Result<(Vec<Sample>, HashMap<String, String>), String> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helps: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    if !text.ends_with('\n') {
        return Err("the exposition does not end with a line feed".into());
    }
    for (i, line) in text.lines().enumerate() {
        let err = |m: &str| format!("line {}: {m}: {line:?}", i + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest
                .split_once(' ')
                .ok_or_else(|| err("HELP without text"))?;
            if !valid_name(name, true) || helps.insert(name.into(), help.into()).is_some() {
                return Err(err("bad or repeated HELP"));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest
                .split_once(' ')
                .ok_or_else(|| err("TYPE without type"))?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&ty) {
                return Err(err("unknown type"));
            }
            if !valid_name(name, true) || types.insert(name.into(), ty.into()).is_some() {
                return Err(err("bad or repeated TYPE"));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        // name{labels} value
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => (&line[..i], &line[i..]),
            None => return Err(err("no value")),
        };
        if !valid_name(name, true) {
            return Err(err("bad metric name"));
        }
        let mut labels = Vec::new();
        let rest = if let Some(mut r) = rest.strip_prefix('{') {
            loop {
                if let Some(after) = r.strip_prefix('}') {
                    break after;
                }
                let (k, after) = r
                    .split_once("=\"")
                    .ok_or_else(|| err("label without =\""))?;
                if !valid_name(k, false) {
                    return Err(err("bad label name"));
                }
                let mut v = String::new();
                let mut chars = after.char_indices();
                let end = loop {
                    match chars.next() {
                        Some((_, '\\')) => match chars.next() {
                            Some((_, 'n')) => v.push('\n'),
                            Some((_, '\\')) => v.push('\\'),
                            Some((_, '"')) => v.push('"'),
                            _ => return Err(err("bad escape")),
                        },
                        Some((j, '"')) => break j,
                        Some((_, c)) => v.push(c),
                        None => return Err(err("unterminated label value")),
                    }
                };
                labels.push((k.to_string(), v));
                r = &after[end + 1..];
                r = r.strip_prefix(',').unwrap_or(r);
            }
        } else {
            rest
        };
        let value = rest
            .strip_prefix(' ')
            .ok_or_else(|| err("no space before the value"))?;
        let value = parse_value(value.split(' ').next().unwrap_or("")).map_err(|e| err(&e))?;
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|b| types.get(*b).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        let ty = types
            .get(family)
            .ok_or_else(|| err("sample of an undeclared family"))?;
        if ty == "counter" && !name.ends_with("_total") {
            return Err(err("counter without _total"));
        }
        if !name.starts_with("lpscore_") {
            return Err(err("name without the lpscore_ prefix"));
        }
        samples.push(Sample {
            name: name.into(),
            labels,
            value,
        });
    }
    Ok((samples, types))
}

/// The value of the only sample of `name` with these labels (asserted to be one).
fn one_of(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let v = get(samples, name, labels);
    assert_eq!(v.len(), 1, "{name} {labels:?}: {v:?}");
    v[0]
}

fn get(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> Vec<f64> {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && want
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
        })
        .map(|s| s.value)
        .collect()
}

fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn body(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// Scrapes and parses (panics with the text on a parse error).
fn scrape(port: u16) -> Vec<Sample> {
    let resp = http_get(port, "/metrics").unwrap();
    let text = body(&resp);
    parse(text).unwrap_or_else(|e| panic!("{e}\n{text}")).0
}

/// Scrapes until `f` holds (60 s deadline: a loaded machine), returns the last scrape.
fn scrape_until(port: u16, what: &str, f: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = scrape(port);
        if f(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value of the only sample of `name` with these labels (NaN when none or several).
fn only(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    match get(samples, name, labels).as_slice() {
        [v] => *v,
        _ => f64::NAN,
    }
}

/// A histogram's cumulative buckets (by increasing `le`, `+Inf` last), `_sum` and `_count`;
/// checks the bucket bounds are increasing and end with `+Inf`.
fn histogram(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> (Vec<f64>, f64, f64) {
    let mut b: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| {
            s.name == format!("{name}_bucket")
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
        })
        .map(|s| {
            let le = s
                .labels
                .iter()
                .find(|(k, _)| k == "le")
                .map(|(_, v)| parse_value(v).unwrap())
                .unwrap_or_else(|| panic!("{name}: a bucket without le"));
            (le, s.value)
        })
        .collect();
    assert!(b.len() >= 2, "{name}: buckets {b:?}");
    let order: Vec<f64> = b.iter().map(|x| x.0).collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "{name}: bounds not increasing: {order:?}"
    );
    assert_eq!(b.last().unwrap().0, f64::INFINITY, "{name}: no +Inf bucket");
    let sum = only(samples, &format!("{name}_sum"), labels);
    let count = only(samples, &format!("{name}_count"), labels);
    (b.drain(..).map(|x| x.1).collect(), sum, count)
}

/// A FIX 4.4 message from "QF" to "LPSCORE" with MsgSeqNum `seq`, SendingTime now.
fn fix_msg(mt: &str, seq: u64, rest: &str) -> Vec<u8> {
    use lpscore::runtime::clock::{Clock, LiveClock};
    let mut body = format!("35={mt}\x0149=QF\x0156=LPSCORE\x0134={seq}\x0152=").into_bytes();
    lpscore::fix::num::write_timestamp(&mut body, LiveClock.now_ns() as i64);
    body.push(1);
    body.extend_from_slice(rest.as_bytes());
    let mut m = format!("8=FIX.4.4\x019={}\x01", body.len()).into_bytes();
    m.extend_from_slice(&body);
    let sum = m.iter().map(|&b| u32::from(b)).sum::<u32>() % 256;
    m.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    m
}

/// Reads until `pat` has been seen (20 s read timeout); returns the bytes read.
fn read_until(s: &mut TcpStream, pat: &[u8]) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(pat.len()).any(|w| w == pat) {
        let n = s
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("waiting for {:?}: {e}", String::from_utf8_lossy(pat)));
        assert!(n > 0, "lpscore closed the FIX session");
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// A synthetic order flow (three LPs, two symbols) as FIX bytes, its message and order counts.
fn synth_stream() -> (Vec<u8>, usize, usize) {
    use lpscore::engine::synth::{LpTruth, SynthConfig, fix_bytes, generate};
    let lp = |name: &str, latency_ns: f64, fill: f64| LpTruth {
        name: name.into(),
        full_fill: fill,
        half_fill: 0.1,
        reject: 0.05,
        latency_ns,
        pi_bps: 0.2,
        impact_bps: 0.5,
    };
    let orders = 300;
    let evs = generate(&SynthConfig {
        lps: vec![
            lp("LP_A", 1e6, 0.8),
            lp("LP_B", 8e6, 0.6),
            lp("LP_C", 3e6, 0.4),
        ],
        symbols: 2,
        orders,
        order_gap_ns: 2_000_000,
        noise_quotes_per_order: 1,
        noise_bps: 2.0,
        half_spread_bps: 2.0,
        start_ns: 1_700_000_000_000_000_000,
        seed: 5,
    });
    let mut out = Vec::new();
    for (i, (ts, ev)) in evs.iter().enumerate() {
        fix_bytes(*ts, i as u64 + 1, ev, &mut out);
    }
    (out, evs.len(), orders)
}

struct Appliance {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Drop for Appliance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn scrape_counts_match_what_was_sent() {
    scrape_run("plain", false);
}

#[test]
fn scrape_with_a_journal_shows_its_durable_watermark() {
    scrape_run("journal", true);
}

/// Starts the appliance (with or without a journal), feeds a stream, scrapes and checks.
fn scrape_run(tag: &str, with_journal: bool) {
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let board = dir.join(format!("lpscore-metrics-{tag}-{pid}.sb"));
    let cfg = dir.join(format!("lpscore-metrics-{tag}-{pid}.toml"));
    let jdir = dir.join(format!("lpscore-metrics-{tag}-{pid}-journal"));
    let _ = std::fs::remove_dir_all(&jdir);
    let store = dir.join(format!("lpscore-metrics-{tag}-{pid}-store"));
    let _ = std::fs::remove_dir_all(&store);
    let journal = if with_journal {
        format!(
            "[journal]\nenabled = true\ndir = \"{}\"\ndurability = \"group\"\n",
            jdir.display()
        )
    } else {
        String::new()
    };
    std::fs::write(
        &cfg,
        format!(
            "backend = \"busy-poll\"\nscoreboard = \"{}\"\n[idle]\nenabled = true\nquiet_us = 500\n\
             {journal}[[group]]\nsessions = [ {{ id = 1, listen = \"127.0.0.1:0\" }}, \
             {{ id = 2, listen = \"127.0.0.1:0\", fix = {{ sender_comp_id = \"LPSCORE\", \
             target_comp_id = \"QF\", heartbeat_s = 30, store_dir = \"{}\" }} }} ]\n\
             [engine]\npublish_interval_ns = 0\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
            board.display(),
            store.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut app = Appliance {
        child,
        log: Arc::new(Mutex::new(String::new())),
    };
    let mut lines = BufReader::new(stderr).lines();
    let (mut fix_port, mut fix2_port, mut metrics_port) = (None, None, None);
    let port_after = |line: &str, pat: &str| {
        line.find(pat).and_then(|i| {
            line[i + pat.len()..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|p| p.parse::<u16>().ok())
        })
    };
    for line in lines.by_ref() {
        let line = strip_ansi(&line.unwrap());
        app.log.lock().unwrap().push_str(&line);
        app.log.lock().unwrap().push('\n');
        if line.contains("session=2") {
            fix2_port = fix2_port.or(port_after(&line, "listening on 127.0.0.1:"));
        } else {
            fix_port = fix_port.or(port_after(&line, "listening on 127.0.0.1:"));
        }
        metrics_port = metrics_port.or(port_after(&line, "metrics: serving http://127.0.0.1:"));
        if fix_port.is_some() && fix2_port.is_some() && metrics_port.is_some() {
            break;
        }
    }
    let log = Arc::clone(&app.log);
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            log.lock().unwrap().push_str(&strip_ansi(&l));
            log.lock().unwrap().push('\n');
        }
    });
    let (Some(fix_port), Some(fix2_port), Some(metrics_port)) = (fix_port, fix2_port, metrics_port)
    else {
        panic!("no listening lines:\n{}", app.log.lock().unwrap());
    };

    // Before any traffic: the endpoint answers, everything parses, counts are zero.
    let first = http_get(metrics_port, "/metrics").unwrap();
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
    assert!(
        first.contains("Content-Type: text/plain; version=0.0.4"),
        "{first}"
    );
    let (s0, _) = parse(body(&first)).unwrap_or_else(|e| panic!("{e}\n{first}"));
    assert_eq!(
        get(
            &s0,
            "lpscore_session_messages_total",
            &[("group", "0"), ("session", "1")]
        ),
        [0.0]
    );
    assert!(
        http_get(metrics_port, "/")
            .unwrap()
            .starts_with("HTTP/1.1 404")
    );

    let (bytes, n_msgs, n_orders) = synth_stream();
    let garbage = b"this is not FIX\x01";
    let mut s = TcpStream::connect(("127.0.0.1", fix_port)).unwrap();
    s.set_nodelay(true).unwrap();
    // The first message cut in two, the second part sent once the first is received: at least
    // one message straddles two reads and is reassembled.
    let mut head = garbage.to_vec();
    head.extend_from_slice(&bytes[..100]);
    s.write_all(&head).unwrap();
    let sess = [("group", "0"), ("session", "1")];
    scrape_until(metrics_port, "the first part received", |x| {
        only(x, "lpscore_session_received_bytes_total", &sess) == head.len() as f64
    });
    for chunk in bytes[100..].chunks(1400) {
        s.write_all(chunk).unwrap();
    }
    let sent = (bytes.len() + garbage.len()) as f64;

    let deadline = Instant::now() + Duration::from_secs(60);
    let (samples, types) = loop {
        let resp = http_get(metrics_port, "/metrics").unwrap();
        let text = body(&resp).to_string();
        let (samples, types) = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let msgs = get(
            &samples,
            "lpscore_session_messages_total",
            &[("session", "1")],
        );
        let rows = get(
            &samples,
            "lpscore_lp_orders",
            &[("symbol", "*"), ("bucket", "all")],
        );
        // The histogram is published with the counters; a scrape may fall between the two.
        let timed = get(
            &samples,
            "lpscore_wire_to_score_seconds_count",
            &[("group", "0")],
        );
        if msgs == [n_msgs as f64]
            && rows.iter().sum::<f64>() >= n_orders as f64
            && timed == [n_msgs as f64]
        {
            break (samples, types);
        }
        assert!(
            Instant::now() < deadline,
            "messages {msgs:?} of {n_msgs}, all-rows orders {rows:?}\n{text}\n{}",
            app.log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let one = |name: &str, labels: &[(&str, &str)]| {
        let v = get(&samples, name, labels);
        assert_eq!(v.len(), 1, "{name} {labels:?}: {v:?}");
        v[0]
    };
    assert_eq!(one("lpscore_session_messages_total", &sess), n_msgs as f64);
    assert_eq!(one("lpscore_session_delivered_total", &sess), n_msgs as f64);
    let reassembled = one("lpscore_session_reassembled_total", &sess);
    assert!(
        reassembled >= 1.0 && reassembled <= n_msgs as f64,
        "reassembled {reassembled}"
    );
    // A raw tap: no session layer.
    for name in [
        "lpscore_session_logons_total",
        "lpscore_session_logged_on",
        "lpscore_session_next_in_seqnum",
        "lpscore_session_sent_bytes_total",
        "lpscore_session_admin_messages_total",
    ] {
        assert_eq!(one(name, &sess), 0.0, "{name}");
    }
    // Wire to score: one observation per message handed to the engine, cumulative buckets.
    let (buckets, sum, count) =
        histogram(&samples, "lpscore_wire_to_score_seconds", &[("group", "0")]);
    assert_eq!(count, n_msgs as f64);
    assert_eq!(*buckets.last().unwrap(), count);
    assert!(
        buckets.windows(2).all(|w| w[0] <= w[1]),
        "not cumulative: {buckets:?}"
    );
    assert!(sum > 0.0 && sum.is_finite(), "sum {sum}");
    assert_eq!(types["lpscore_wire_to_score_seconds"], "histogram");
    assert_eq!(one("lpscore_session_received_bytes_total", &sess), sent);
    assert_eq!(one("lpscore_session_connections_total", &sess), 1.0);
    assert!(one("lpscore_session_frame_errors_total", &sess) >= 1.0);
    assert_eq!(one("lpscore_session_parse_errors_total", &sess), 0.0);
    assert_eq!(
        one("lpscore_io_connections_opened_total", &[("group", "0")]),
        1.0
    );
    for name in [
        "lpscore_io_sends_total",
        "lpscore_io_partial_sends_total",
        "lpscore_io_send_overflows_total",
        "lpscore_io_connections_session_closed_total",
    ] {
        assert_eq!(one(name, &[("group", "0")]), 0.0, "{name}");
    }
    assert_eq!(one("lpscore_group_running", &[("group", "0")]), 1.0);
    assert_eq!(one("lpscore_scoreboard_up", &[("group", "0")]), 1.0);
    assert_eq!(one("lpscore_scoreboard_live", &[("group", "0")]), 1.0);
    assert!(one("lpscore_engine_events_total", &[("group", "0")]) >= n_msgs as f64);
    // Per-LP rows: every order counted once over the LPs' all-symbols, all-sizes rows.
    let all = [("symbol", "*"), ("bucket", "all")];
    let mut total_orders = 0.0;
    for lp in ["LP_A", "LP_B", "LP_C"] {
        let l = [all[0], all[1], ("lp", lp)];
        total_orders += one("lpscore_lp_orders", &l);
        let fill = one("lpscore_lp_fill_ratio", &l);
        assert!((0.0..=1.0).contains(&fill), "{lp} fill {fill}");
        for p in ["HighFrequency", "Block", "BestPrice"] {
            let s = one(
                "lpscore_lp_score",
                &[all[0], all[1], ("lp", lp), ("profile", p)],
            );
            assert!((0.0..=100.0).contains(&s), "{lp} {p} {s}");
        }
        let q = get(&samples, "lpscore_lp_ack_latency_seconds", &l);
        assert_eq!(q.len(), 2, "{lp}: p50 and p99");
    }
    assert_eq!(total_orders, n_orders as f64);
    // Quantiles are ordered (the stream is sent in one burst, so the capture-time latencies
    // themselves say little here).
    for lp in ["LP_A", "LP_B", "LP_C"] {
        let q = |p: &str| {
            one(
                "lpscore_lp_ack_latency_seconds",
                &[all[0], all[1], ("lp", lp), ("quantile", p)],
            )
        };
        assert!(q("0.5") >= 0.0 && q("0.5") <= q("0.99"), "{lp}");
    }
    // Units and conventions.
    for (name, ty) in &types {
        assert!(name.starts_with("lpscore_"), "{name}");
        if ty == "counter" {
            assert!(name.ends_with("_total"), "{name}");
        }
    }
    assert!(types.contains_key("lpscore_io_enobufs_total"));
    if with_journal {
        // The journal holds every message durably: its watermark reaches the last MsgSeqNum.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let resp = http_get(metrics_port, "/metrics").unwrap();
            let (samples, _) = parse(body(&resp)).unwrap();
            assert_eq!(
                get(&samples, "lpscore_journal_failed", &[("group", "0")]),
                [0.0]
            );
            let w = get(&samples, "lpscore_journal_durable_seqnum", &sess);
            if w == [n_msgs as f64] {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "durable watermark {w:?} of {n_msgs}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // The journal's own counters: every message (and the ticks) written, synced (group
        // commit), nothing refused; the fsync histogram counts the fsyncs.
        let g0 = [("group", "0")];
        let x = scrape(metrics_port);
        assert!(one_of(&x, "lpscore_journal_records_total", &g0) >= n_msgs as f64);
        assert!(one_of(&x, "lpscore_journal_appended_records_total", &g0) >= n_msgs as f64);
        assert!(one_of(&x, "lpscore_journal_written_bytes_total", &g0) >= sent);
        assert!(one_of(&x, "lpscore_journal_segments_total", &g0) >= 1.0);
        assert_eq!(
            one_of(&x, "lpscore_journal_refused_records_total", &g0),
            0.0
        );
        assert_eq!(one_of(&x, "lpscore_journal_rotations_total", &g0), 0.0);
        let lag = one_of(&x, "lpscore_journal_lag_records", &g0);
        assert!(
            lag >= 0.0 && lag <= one_of(&x, "lpscore_journal_appended_records_total", &g0),
            "lag {lag}"
        );
        let fsyncs = one_of(&x, "lpscore_journal_fsyncs_total", &g0);
        assert!(fsyncs >= 1.0);
        let (b, sum, count) = histogram(&x, "lpscore_journal_fsync_seconds", &g0);
        // Recorded before the fsync counter moves: never fewer observations than fsyncs.
        assert!(count >= fsyncs && count >= 1.0, "{count} < {fsyncs}");
        assert_eq!(*b.last().unwrap(), count);
        assert!(b.windows(2).all(|w| w[0] <= w[1]), "{b:?}");
        assert!(sum > 0.0);
        assert!(one_of(&x, "lpscore_journal_fsync_max_seconds", &g0) > 0.0);
    } else {
        assert!(get(&samples, "lpscore_journal_durable_seqnum", &[]).is_empty());
        assert!(get(&samples, "lpscore_journal_records_total", &[]).is_empty());
    }

    // The FIX session: Logon, TestRequest, an application message, a duplicate of it, then a gap.
    let s2 = [("group", "0"), ("session", "2")];
    let mut peer = TcpStream::connect(("127.0.0.1", fix2_port)).unwrap();
    peer.set_nodelay(true).unwrap();
    peer.write_all(&fix_msg("A", 1, "98=0\x01108=30\x01"))
        .unwrap();
    let mut received = read_until(&mut peer, b"\x0135=A\x01").len();
    peer.write_all(&fix_msg("1", 2, "112=T1\x01")).unwrap();
    received += read_until(&mut peer, b"\x01112=T1\x01").len();
    let nos = "11=F1\x0155=EUR/USD\x0154=1\x0138=1000000\x0140=1\x01100=LP_F\x01";
    peer.write_all(&fix_msg("D", 3, nos)).unwrap();
    peer.write_all(&fix_msg(
        "D",
        3,
        &format!("43=Y\x01122=20231114-22:13:20\x01{nos}"),
    ))
    .unwrap();
    peer.write_all(&fix_msg("D", 5, &nos.replace("F1", "F5")))
        .unwrap();
    received += read_until(&mut peer, b"\x0135=2\x01").len();
    let x = scrape_until(metrics_port, "the FIX session's counters", |x| {
        only(x, "lpscore_session_messages_total", &s2) == 5.0
            && only(x, "lpscore_session_resend_requests_total", &s2) == 1.0
            && only(x, "lpscore_wire_to_score_seconds_count", &[("group", "0")])
                == n_msgs as f64 + 1.0
    });
    assert_eq!(one_of(&x, "lpscore_session_logons_total", &s2), 1.0);
    assert_eq!(one_of(&x, "lpscore_session_logged_on", &s2), 1.0);
    assert_eq!(one_of(&x, "lpscore_session_delivered_total", &s2), 1.0);
    assert_eq!(one_of(&x, "lpscore_session_duplicates_total", &s2), 1.0);
    assert!(one_of(&x, "lpscore_session_admin_messages_total", &s2) >= 2.0);
    assert_eq!(one_of(&x, "lpscore_session_next_in_seqnum", &s2), 4.0);
    // Logon, Heartbeat, ResendRequest sent (and a Heartbeat more if 30 s passed).
    assert!(one_of(&x, "lpscore_session_next_out_seqnum", &s2) >= 4.0);
    assert!(one_of(&x, "lpscore_session_sent_bytes_total", &s2) >= received as f64);
    assert_eq!(one_of(&x, "lpscore_session_disconnects_total", &s2), 0.0);
    assert_eq!(one_of(&x, "lpscore_session_connections_total", &s2), 1.0);
    assert!(one_of(&x, "lpscore_io_sends_total", &[("group", "0")]) >= 3.0);
    assert_eq!(
        one_of(&x, "lpscore_session_delivered_total", &sess),
        n_msgs as f64
    );
    let (b, _, count) = histogram(&x, "lpscore_wire_to_score_seconds", &[("group", "0")]);
    assert_eq!(count, n_msgs as f64 + 1.0);
    assert_eq!(*b.last().unwrap(), count);
    drop(peer);
    drop(s);
    // SAFETY: signalling our own child process.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(app.child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = app.child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "no exit after SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}\n{}", app.log.lock().unwrap());
    let _ = std::fs::remove_file(&cfg);
    let _ = std::fs::remove_dir_all(&jdir);
    let _ = std::fs::remove_dir_all(&store);
    let _ = std::fs::remove_file(&board);
    let mut l = board.into_os_string();
    l.push(".lock");
    let _ = std::fs::remove_file(l);
    drop(app);
}

#[test]
fn parser_rejects_malformed_expositions() {
    assert!(parse("# TYPE lpscore_a_total counter\nlpscore_a_total 1\n").is_ok());
    assert!(parse("lpscore_a_total 1\n").is_err(), "undeclared");
    assert!(
        parse("# TYPE lpscore_a counter\nlpscore_a 1\n").is_err(),
        "no _total"
    );
    assert!(parse("# TYPE lpscore_a gauge\nlpscore_a{x=\"1} 1\n").is_err());
    assert!(parse("# TYPE lpscore_a gauge\nlpscore_a{x=\"\\q\"} 1\n").is_err());
    assert!(parse("# TYPE lpscore_a gauge\nlpscore_a one\n").is_err());
    let (s, _) =
        parse("# TYPE lpscore_a gauge\nlpscore_a{x=\"a\\\"b\\\\c\\n\",y=\"\"} NaN\n").unwrap();
    assert_eq!(
        s[0].labels,
        [
            ("x".into(), "a\"b\\c\n".into()),
            ("y".into(), String::new())
        ]
    );
}
