//! `lpscore demo` end to end, as a user runs it: the binary, a fixed seed, `--speed max`.
//! The result table's figures must agree with the journal of fills the run wrote, and with the
//! appliance's own journal of the drop copy.
#![allow(clippy::disallowed_methods)] // test harness: polls with wall-clock deadlines

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use lpscore::fix::{FramerConfig, Parser, Typed};

fn lpscore() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lpscore"))
}

/// A number field of the flat JSON object `obj` (the demo's JSON line has no nested strings
/// with braces, so a key search is enough here).
fn field<'a>(obj: &'a str, key: &str) -> &'a str {
    let k = format!("\"{key}\":");
    let at = obj
        .find(&k)
        .unwrap_or_else(|| panic!("{key} missing in {obj}"))
        + k.len();
    let rest = &obj[at..];
    let end = rest.find([',', '}']).unwrap();
    &rest[..end]
}

fn section<'a>(json: &'a str, key: &str) -> &'a str {
    let k = format!("\"{key}\":{{");
    let at = json.find(&k).unwrap() + k.len();
    let end = json[at..].find('}').unwrap();
    &json[at..at + end]
}

/// The parent fills the appliance journaled (ExecutionReports with ExecType F of the SOR's
/// `P...` orders): (shares, notional).
fn journal_fills(dir: &Path) -> (u64, f64) {
    let segs: Vec<_> = lpscore::journal::list_segments(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .into_iter()
        .map(|s| s.path)
        .collect();
    assert!(!segs.is_empty(), "no journal in {}", dir.display());
    let mut p = Parser::new(FramerConfig::default());
    let (mut qty, mut notional) = (0u64, 0.0f64);
    lpscore::journal::scan_segments(&segs, |_, _, rec| {
        let m = p
            .parse(rec.bytes)
            .expect("the journal holds parsed messages");
        if let Ok(Typed::ExecutionReport(er)) = m.typed() {
            if er.exec_type == b'F' && er.cl_ord_id.is_some_and(|id| id.starts_with(b"P")) {
                let q = er.last_qty.expect("a fill has LastQty").0 as f64 / 1e8;
                let px = er.last_px.expect("a fill has LastPx").0 as f64 / 1e8;
                qty += q as u64;
                notional += q * px;
            }
        }
    })
    .unwrap();
    (qty, notional)
}

#[test]
fn demo_completes_and_its_table_agrees_with_the_fills_journal() {
    let dir = std::env::temp_dir().join(format!("lpscore-demo-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fills = dir.join("fills.csv");
    // The default: three processes (appliance, simulator, SOR) over loopback FIX.
    let out = lpscore()
        .args(["demo", "--speed", "max", "--seed", "11", "--quiet", "--dir"])
        .arg(&dir)
        .arg("--fills")
        .arg(&fills)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("verdict:"), "{stdout}");
    let json = stdout.lines().last().unwrap();
    assert!(json.starts_with("{\"demo\":\"acme_200k\""), "{json}");
    let parent: u64 = field(json, "parent_qty").parse().unwrap();
    let arrival: f64 = field(json, "arrival_mid").parse().unwrap();
    assert_eq!(parent, 200_000);

    // Recompute each policy's figures from the fills journal.
    let csv = std::fs::read_to_string(&fills).unwrap();
    let mut per: BTreeMap<String, (u64, f64, u64, u64)> = BTreeMap::new(); // qty, notional, first, last
    for line in csv.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        let (t, q, px): (u64, u64, f64) = (
            c[1].parse().unwrap(),
            c[3].parse().unwrap(),
            c[4].parse().unwrap(),
        );
        assert!(q > 0 && px > 0.0, "{line}");
        let e = per.entry(c[0].to_string()).or_insert((0, 0.0, u64::MAX, 0));
        e.0 += q;
        e.1 += q as f64 * px;
        e.2 = e.2.min(t);
        e.3 = e.3.max(t);
    }
    for key in ["scorecard", "static"] {
        let s = section(json, key);
        let policy = field(s, "policy").trim_matches('"').to_string();
        let filled: u64 = field(s, "filled").parse().unwrap();
        let (q, notional, _, _) = per.get(&policy).copied().unwrap_or((0, 0.0, 0, 0));
        assert_eq!(
            filled, q,
            "{policy}: table says {filled} filled, the journal {q}"
        );
        // Both strategies filled the order, or the table says why not.
        let completion = field(s, "completion_s");
        if filled == parent {
            assert_ne!(
                completion, "null",
                "{policy} filled everything but has no completion time"
            );
        } else {
            assert_eq!(completion, "null");
            assert!(stdout.contains("not done"), "{stdout}");
        }
        // The appliance journaled the same fills (the drop copy of the SOR's orders).
        let (jq, jn) = journal_fills(&dir.join(key).join("journal"));
        assert_eq!(
            jq, filled,
            "{policy}: the appliance's journal has {jq} shares filled"
        );
        if jq > 0 {
            let table_vwap: f64 = field(s, "vwap").parse().unwrap();
            assert!(
                (jn / jq as f64 - table_vwap).abs() < 1e-5,
                "{policy}: journal vwap {} vs table {table_vwap}",
                jn / jq as f64
            );
        }
        if q > 0 {
            let vwap = notional / q as f64;
            let table_vwap: f64 = field(s, "vwap").parse().unwrap();
            assert!(
                (vwap - table_vwap).abs() < 1e-5,
                "{policy}: vwap {vwap} vs table {table_vwap}"
            );
            // A sale: the side sign is -1, so bps = -(arrival - vwap) / arrival * 1e4.
            let bps = -(arrival - vwap) / arrival * 1e4;
            let table_bps: f64 = field(s, "vwap_vs_arrival_bps").parse().unwrap();
            assert!(
                (bps - table_bps).abs() < 1e-3,
                "{policy}: {bps} vs {table_bps}"
            );
        }
    }
    // The scoreboards were real files, readable by `lpscore dump` after the run.
    let dump = lpscore()
        .args([
            "dump",
            "--format",
            "csv",
            "--symbol",
            "ACME",
            "--scoreboard",
        ])
        .arg(dir.join("scorecard").join("scoreboard"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&dump.stdout);
    assert!(
        dump.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    for lp in ["LP_A", "LP_B", "LP_C", "LP_D"] {
        assert!(
            text.contains(&format!(",{lp},ACME,all,")),
            "{lp} missing from\n{text}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn same_seed_same_result_and_bad_inputs_are_refused() {
    let run = |seed: &str| {
        let o = lpscore()
            .args([
                "demo",
                "--in-process",
                "--speed",
                "max",
                "--quiet",
                "--seed",
                seed,
            ])
            .output()
            .unwrap();
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .last()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        run("3"),
        run("3"),
        "in process, a seed must reproduce its run exactly"
    );

    // The drop copy as a raw stream (no FIX session) works too.
    let o = lpscore()
        .args([
            "demo",
            "--speed",
            "max",
            "--quiet",
            "--raw-drop-copy",
            "--seed",
            "5",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("verdict:"));

    let o = lpscore()
        .args(["demo", "--speed", "fast"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "clap usage error");
    assert!(String::from_utf8_lossy(&o.stderr).contains("speed"));

    let o = lpscore()
        .args(["demo", "--lps", "/nonexistent/lps.toml"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/lps.toml"));

    let dir = std::env::temp_dir().join(format!("lpscore-demo-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("lps.toml");
    std::fs::write(&bad, "[market]\nsymbol = \"ACME\"\n").unwrap();
    let o = lpscore()
        .args(["demo", "--speed", "max", "--lps"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("lps.toml") && err.contains("missing"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dump_and_doctor_report_clear_errors() {
    let o = lpscore()
        .args(["dump", "--scoreboard", "/nonexistent/board"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("/nonexistent/board") && err.contains("--scoreboard"),
        "{err}"
    );

    let o = lpscore()
        .args(["dump", "--format", "xml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));

    // doctor prints each check and exits 0 (all good) or 1 (something to fix), never 2.
    let o = lpscore().args(["doctor", "--cores", "0"]).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{text}");
    for check in [
        "isolcpus",
        "RLIMIT_MEMLOCK",
        "kernel.io_uring_disabled",
        "net.core.busy_poll",
    ] {
        assert!(text.contains(check), "{check} missing from\n{text}");
    }
}

/// Every process whose command line mentions `needle` (the run directory: the demo's children).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            let c = String::from_utf8_lossy(&c).replace('\0', " ");
            if c.contains(needle) {
                v.push(format!("{name}: {c}"));
            }
        }
    }
    v
}

#[test]
fn interrupting_the_demo_leaves_no_process_behind() {
    let dir = std::env::temp_dir().join(format!("lpscore-demo-int-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut demo = lpscore()
        .args(["demo", "--speed", "5", "--quiet", "--dir"])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the SOR is working the order: all three children are up.
    let log = dir.join("scorecard").join("sor.jsonl");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !std::fs::read_to_string(&log).is_ok_and(|s| s.contains("\"ev\":\"start\"")) {
        assert!(Instant::now() < deadline, "the SOR never started");
        assert!(demo.try_wait().unwrap().is_none(), "the demo ended early");
        std::thread::sleep(Duration::from_millis(50));
    }
    let needle = dir.to_string_lossy().to_string();
    assert!(
        processes_mentioning(&needle).len() >= 3,
        "{:?}",
        processes_mentioning(&needle)
    );
    // SAFETY: kill(2) on our own child, not reaped yet.
    unsafe { libc::kill(demo.id() as libc::pid_t, libc::SIGINT) };
    let st = demo.wait().unwrap();
    assert!(!st.success(), "an interrupted demo does not report success");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut demo.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("interrupted"), "{err}");
    // The children are gone once the demo has exited (they were stopped, then reaped).
    let left = processes_mentioning(&needle);
    assert!(left.is_empty(), "orphans: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
