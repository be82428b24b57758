//! Replaying real QuickFIX output: the committed QuickFIX-generated messages
//! (tests/fixtures/quickfix/*.messages) and a QuickFIX `FileLog` message log made by Debian's
//! libquickfix (tests/fixtures/replay/*.messages.log, see generate.sh there). The engine sees
//! every application message and the dump's counts match the messages.
use std::path::{Path, PathBuf};

use lpscore::engine::EngineConfig;
use lpscore::journal::replay::{InputKind, LatestSink, Replayer, detect};

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(p)
}

/// (MsgType, ExecType) of every message of a one-message-per-line file, prefix stripped.
fn kinds(path: &Path) -> Vec<(String, Option<String>)> {
    let data = std::fs::read(path).unwrap();
    let mut v = Vec::new();
    for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let start = line.windows(5).position(|w| w == b"8=FIX").unwrap();
        let m = &line[start..];
        let field = |tag: &str| {
            let pat = format!("\x01{tag}=");
            let i = m.windows(pat.len()).position(|w| w == pat.as_bytes())? + pat.len();
            let end = m[i..].iter().position(|&b| b == 1)? + i;
            Some(String::from_utf8_lossy(&m[i..end]).into_owned())
        };
        // FIX 4.2: ExecTransType (20) 1/2 is a bust/correction whatever ExecType says.
        let et = match field("20").as_deref() {
            Some("1") => Some("H".to_string()),
            Some("2") => Some("G".to_string()),
            _ => field("150"),
        };
        v.push((field("35").unwrap(), et));
    }
    v
}

fn replay(paths: &[PathBuf]) -> Replayer {
    let mut rp = Replayer::new(EngineConfig::default(), LatestSink::default()).unwrap();
    for p in paths {
        rp.replay_path(p, &mut |_, _| {}).unwrap();
    }
    rp.finish();
    rp
}

fn check(path: &Path, kind: InputKind) {
    assert_eq!(detect(path).unwrap(), kind, "{}", path.display());
    let k = kinds(path);
    let count = |t: &str| k.iter().filter(|(m, _)| m == t).count() as u64;
    let rp = replay(&[path.to_path_buf()]);
    let s = &rp.stats;
    assert_eq!(s.malformed, 0, "{:?}", s.malformed_detail);
    assert_eq!(s.messages, k.len() as u64);
    assert_eq!(rp.feed.counters.parse_errors, 0);
    let c = *rp.feed.engine.counters();
    // Every application message reached the engine.
    assert_eq!(c.orders + c.duplicate_orders, count("D"), "NewOrderSingles");
    let ers = count("8");
    let ignored_ers = k
        .iter()
        .filter(|(m, e)| {
            m == "8"
                && matches!(
                    e.as_deref(),
                    Some("I" | "D" | "E" | "6" | "A" | "7" | "9" | "B" | "L" | "M")
                )
        })
        .count() as u64;
    assert_eq!(
        c.execs + c.duplicate_execs + c.early_buffered - c.early_matched,
        ers - ignored_ers,
        "ExecutionReports"
    );
    assert_eq!(
        c.cancel_requests,
        count("F") + count("G"),
        "cancel and cancel/replace requests"
    );
    assert_eq!(c.cancel_rejects, count("9"), "OrderCancelRejects");
    assert!(
        c.quotes >= count("W") + count("X"),
        "market data: {} quotes",
        c.quotes
    );
    // Session-level messages (and order-status-like reports) are the only ones ignored.
    let session_level: u64 = ["0", "1", "2", "3", "4", "5", "A", "j"]
        .iter()
        .map(|t| count(t))
        .sum();
    assert!(rp.feed.counters.ignored <= session_level + ignored_ers);
    // The dump's counts match the messages: fills per LP (LP rows: all symbols, all sizes) add
    // up to the fill reports, and every LP named in an order has rows.
    let sink = rp.feed.engine.sink();
    let all_sym = rp.feed.engine.all_symbols();
    let all_sz = rp.feed.engine.all_sizes();
    let lp_rows: Vec<_> = sink
        .rows
        .iter()
        .filter(|(k, _)| k.sym == all_sym && k.bucket == all_sz)
        .collect();
    let fills_in_dump: u64 = lp_rows.iter().map(|(_, r)| u64::from(r.n_fills)).sum();
    let fill_reports = k
        .iter()
        .filter(|(m, e)| m == "8" && matches!(e.as_deref(), Some("F" | "1" | "2")))
        .count() as u64;
    let busts = k
        .iter()
        .filter(|(m, e)| m == "8" && e.as_deref() == Some("H"))
        .count() as u64;
    eprintln!(
        "{}: {fill_reports} fill reports, {busts} busts, {fills_in_dump} in the dump; {c:?}",
        path.display()
    );
    assert_eq!(
        fills_in_dump,
        fill_reports - c.busts,
        "fills in the dump ({busts} bust reports)"
    );
    assert!(fills_in_dump > 0);
    let orders_in_dump: u64 = lp_rows.iter().map(|(_, r)| u64::from(r.n_orders)).sum();
    assert!(
        orders_in_dump <= c.orders,
        "{orders_in_dump} terminal orders of {}",
        c.orders
    );
    assert!(!lp_rows.is_empty());
    for (key, r) in &lp_rows {
        assert!(r.eff_orders >= 0.0 && r.eff_fills >= 0.0);
        for s in &r.scores[..3] {
            assert!((0.0..=100.0).contains(s), "score {s} of {key:?}");
        }
    }
}

#[test]
fn quickfix_generated_messages() {
    check(&fixture("quickfix/fix44.messages"), InputKind::FixLog);
    check(&fixture("quickfix/fix42.messages"), InputKind::FixLog);
    check(&fixture("quickfix/fixt11.messages"), InputKind::FixLog);
}

#[test]
fn quickfix_filelog_messages_log() {
    let p = fixture("replay/FIX.4.4-BUYSIDE1-LPBANK01.messages.log");
    check(&p, InputKind::QuickFixLog);
    // The FileLog's timestamps are the capture times: the engine's clock ends at the last one.
    let data = std::fs::read_to_string(&p).unwrap();
    let last = data.lines().last().unwrap();
    let ts =
        lpscore::fix::UtcTimestamp::parse(last.split(" : ").next().unwrap().as_bytes()).unwrap();
    let first = data.lines().next().unwrap();
    let t0 =
        lpscore::fix::UtcTimestamp::parse(first.split(" : ").next().unwrap().as_bytes()).unwrap();
    let rp = replay(&[p]);
    let now = rp.feed.engine.now_ns();
    assert!(
        now > t0.nanos() as u64 && now <= ts.nanos() as u64,
        "event time {now} outside the log's"
    );
    let stamps: Vec<u64> = data
        .lines()
        .map(|l| {
            lpscore::fix::UtcTimestamp::parse(l.split(" : ").next().unwrap().as_bytes())
                .unwrap()
                .nanos() as u64
        })
        .collect();
    assert!(
        stamps.contains(&now),
        "event time is one of the capture timestamps"
    );
}

#[test]
fn filelog_and_plain_log_of_the_same_messages_agree_on_counts() {
    let a = replay(&[fixture("replay/FIX.4.4-BUYSIDE1-LPBANK01.messages.log")]);
    let b = replay(&[fixture("quickfix/fix44.messages")]);
    let (ca, cb) = (a.feed.engine.counters(), b.feed.engine.counters());
    assert_eq!(
        (
            ca.orders,
            ca.execs,
            ca.cancel_requests,
            ca.cancel_rejects,
            ca.quotes
        ),
        (
            cb.orders,
            cb.execs,
            cb.cancel_requests,
            cb.cancel_rejects,
            cb.quotes
        )
    );
    assert_eq!(a.stats.by_type, b.stats.by_type);
}
