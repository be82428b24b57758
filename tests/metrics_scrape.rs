//! `lpscore run` with `[metrics] listen`: feed a FIX stream, scrape `/metrics`, parse every line
//! with a small Prometheus text-format parser, and check the counts against what was sent.
#![allow(clippy::disallowed_methods)] // test harness: wall-clock deadlines

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_lpscore");

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut esc = false;
    for c in s.chars() {
        match (esc, c) {
            (false, '\x1b') => esc = true,
            (true, 'm') => esc = false,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

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
             {journal}[[group]]\nsessions = [ {{ id = 1, listen = \"127.0.0.1:0\" }} ]\n\
             [engine]\npublish_interval_ns = 0\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
            board.display()
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
    let (mut fix_port, mut metrics_port) = (None, None);
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
        fix_port = fix_port.or(port_after(&line, "listening on 127.0.0.1:"));
        metrics_port = metrics_port.or(port_after(&line, "metrics: serving http://127.0.0.1:"));
        if fix_port.is_some() && metrics_port.is_some() {
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
    let (Some(fix_port), Some(metrics_port)) = (fix_port, metrics_port) else {
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
    s.write_all(garbage).unwrap();
    for chunk in bytes.chunks(1400) {
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
        if msgs == [n_msgs as f64] && rows.iter().sum::<f64>() >= n_orders as f64 {
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
    let sess = [("group", "0"), ("session", "1")];
    assert_eq!(one("lpscore_session_messages_total", &sess), n_msgs as f64);
    assert_eq!(one("lpscore_session_received_bytes_total", &sess), sent);
    assert_eq!(one("lpscore_session_connections_total", &sess), 1.0);
    assert!(one("lpscore_session_frame_errors_total", &sess) >= 1.0);
    assert_eq!(one("lpscore_session_parse_errors_total", &sess), 0.0);
    assert_eq!(
        one("lpscore_io_connections_opened_total", &[("group", "0")]),
        1.0
    );
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
    } else {
        assert!(get(&samples, "lpscore_journal_durable_seqnum", &[]).is_empty());
    }
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
