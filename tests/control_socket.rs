//! The control socket of a running appliance (`lpscore run` as a process, FIX over TCP, the
//! scoreboard read as a router would): weight changes made while messages flow are in the
//! scoreboard's profile table and in every row's composite score by the time the change is
//! acknowledged (the engine acknowledges after publishing the rows it changed), and persisted to
//! the configuration with its comments; profiles are added and removed; LPs paused and resumed;
//! garbage, oversized lines, invalid JSON, unknown commands and too many clients are refused while
//! the appliance keeps serving; `lpscore weights` drives it from the command line;
//! `rotate_journal` closes the journal's segment (a new one is on disk for the next records) and
//! is refused with a reason when the journal is off.
#![allow(clippy::disallowed_methods)] // deadlines in a test harness

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lpscore_shm::{
    BucketSlot, FLAG_LP_PAUSED, ProfileId, ReadError, ScoreRow, Scoreboard, SymbolSlot,
};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_lpscore");

/// A synthetic order flow (two LPs, three symbols) as FIX bytes, cut at message boundaries.
fn synth_messages() -> Vec<Vec<u8>> {
    use lpscore::engine::synth::{LpTruth, SynthConfig, fix_bytes, generate};
    let lp = |name: &str, fill: f64| LpTruth {
        name: name.into(),
        full_fill: fill,
        half_fill: 0.1,
        reject: 0.05,
        latency_ns: 3e6,
        pi_bps: 0.2,
        impact_bps: 0.5,
    };
    let evs = generate(&SynthConfig {
        lps: vec![lp("LP_A", 0.8), lp("LP_B", 0.4)],
        symbols: 3,
        orders: 600,
        order_gap_ns: 2_000_000,
        noise_quotes_per_order: 1,
        noise_bps: 2.0,
        half_spread_bps: 2.0,
        start_ns: 1_700_000_000_000_000_000,
        seed: 11,
    });
    evs.iter()
        .enumerate()
        .map(|(i, (ts, ev))| {
            let mut out = Vec::new();
            fix_bytes(*ts, i as u64 + 1, ev, &mut out);
            out
        })
        .collect()
}

struct Appliance {
    child: Child,
    dir: PathBuf,
    cfg: PathBuf,
    sock: PathBuf,
    board: PathBuf,
    port: u16,
}

impl Drop for Appliance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const CONFIG: &str = r#"# Control-socket test configuration.
backend = "busy-poll"
scoreboard = "BOARD"

[idle]
enabled = true      # do not spin a core of the test machine
quiet_us = 500

[[group]]
sessions = [ { id = 1, listen = "127.0.0.1:0" } ]

[engine]
lps = ["LP_A", "LP_B"]
publish_interval_ns = 1000000   # rows at most 1 ms after a change

# The router's profiles.
[[engine.profiles]]
name = "HighFrequency"
latency = 0.6         # speed matters most
fill_rate = 0.15
price_improvement = 0.1
market_impact = 0.15

[[engine.profiles]]
name = "Block"        # large orders
latency = 0.1
fill_rate = 0.4
price_improvement = 0.2
market_impact = 0.3

[control]
socket = "SOCK"       # the control socket
"#;

fn start() -> Appliance {
    start_with("e2e", "")
}

/// The appliance with `extra` appended to the configuration (`JDIR` replaced by a directory
/// under the test's).
fn start_with(tag: &str, extra: &str) -> Appliance {
    let dir = std::env::temp_dir().join(format!("lpscore-ctl-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let board = dir.join("board.sb");
    // The socket's directory does not exist yet: the appliance creates it, mode 0700.
    let sock = dir.join("run").join("control.sock");
    let cfg = dir.join("lpscore.toml");
    std::fs::write(
        &cfg,
        (CONFIG.to_string() + extra)
            .replace("BOARD", board.to_str().unwrap())
            .replace("SOCK", sock.to_str().unwrap())
            .replace("JDIR", dir.join("journal").to_str().unwrap()),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut port = None;
    let mut log = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        if let Some(i) = line.find("listening on 127.0.0.1:") {
            let rest = &line[i + "listening on 127.0.0.1:".len()..];
            port = rest
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|p| p.parse().ok());
        }
        if line.contains("running;") {
            break;
        }
    }
    // Keep draining stderr so the appliance never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let port = port.unwrap_or_else(|| panic!("no listening line in:\n{log}"));
    Appliance {
        child,
        dir,
        cfg,
        sock,
        board,
        port,
    }
}

/// One request on a fresh connection.
fn ctl(sock: &Path, req: &str) -> Value {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(b"\n").unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

fn read_row(sb: &Scoreboard, sym: SymbolSlot, lp: lpscore_shm::LpId) -> ScoreRow {
    loop {
        match sb.read(sym, BucketSlot::All, lp) {
            Ok(r) => return r,
            Err(ReadError::Busy) => std::thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
}

fn profile_weights(sb: &Scoreboard, p: u8) -> [f64; 8] {
    loop {
        match sb.profile_weights(ProfileId::new(p)) {
            Ok(w) => return w,
            Err(ReadError::Busy) => std::thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
}

/// Every row with data of both LPs (all symbols and each symbol, all buckets).
fn rows(sb: &Scoreboard) -> Vec<(String, ScoreRow)> {
    let mut out = Vec::new();
    let syms: Vec<_> = sb.symbols().collect();
    for lp_name in ["LP_A", "LP_B"] {
        let lp = sb.lp(lp_name).unwrap();
        let mut slots = vec![(format!("{lp_name}/all"), SymbolSlot::All)];
        for (id, n) in &syms {
            slots.push((format!("{lp_name}/{n}"), SymbolSlot::One(*id)));
        }
        for (what, s) in slots {
            let r = read_row(sb, s, lp);
            if r.has_data() {
                out.push((what, r));
            }
        }
    }
    out
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn control_socket_changes_weights_live_and_survives_garbage() {
    let app = start();
    let msgs = synth_messages();
    let half = msgs.len() / 2;
    let mut tcp = TcpStream::connect(("127.0.0.1", app.port)).unwrap();
    for m in &msgs[..half] {
        tcp.write_all(m).unwrap();
    }
    // The socket: 0600 in a directory created 0700.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&app.sock), 0o600);
    assert_eq!(mode(app.sock.parent().unwrap()), 0o700);

    let sb = Scoreboard::open(&app.board).unwrap();
    wait_for("rows of both LPs", || {
        ["LP_A", "LP_B"].iter().all(|n| {
            sb.lp(n)
                .is_some_and(|lp| read_row(&sb, SymbolSlot::All, lp).has_data())
        })
    });
    let st = ctl(&app.sock, r#"{"cmd":"status","id":"s1"}"#);
    assert_eq!(st["ok"], true, "{st}");
    assert_eq!(st["id"], "s1");
    assert!(
        st["status"]["groups"][0]["messages"].as_u64().unwrap() > 0,
        "{st}"
    );
    assert_eq!(
        st["status"]["journals"],
        serde_json::json!([]),
        "journal off"
    );

    // The second half flows while the weights change.
    let rest: Vec<Vec<u8>> = msgs[half..].to_vec();
    let feeder = std::thread::spawn(move || {
        for chunk in rest.chunks(20) {
            for m in chunk {
                tcp.write_all(m).unwrap();
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        tcp
    });

    // All of Block's weight on the fill rate: its composite becomes 100 x fill rate, in every
    // row, by the time the change is acknowledged.
    let r = ctl(
        &app.sock,
        r#"{"cmd":"set_weights","profile":"Block","weights":{"latency":0,"fill_rate":1,"price_improvement":0,"market_impact":0}}"#,
    );
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["persisted"], true, "{r}");
    assert_eq!(r["profile"]["index"], 1);
    assert_eq!(r["profile"]["weights"]["fill_rate"], 1.0);
    assert_eq!(
        profile_weights(&sb, 1),
        [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    );
    let rs = rows(&sb);
    assert!(rs.len() >= 4, "{}", rs.len());
    for (what, row) in &rs {
        let want = 100.0 * row.fill_rate;
        assert!(
            (row.scores[1] - want).abs() < 0.01,
            "{what}: Block score {} != 100 x fill rate {}",
            row.scores[1],
            row.fill_rate
        );
    }
    // HighFrequency untouched.
    assert_eq!(profile_weights(&sb, 0)[0], 0.6);
    // Persisted, comments kept, and the file still loads with the new weights.
    let text = std::fs::read_to_string(&app.cfg).unwrap();
    assert!(
        text.contains("latency = 0.6         # speed matters most"),
        "{text}"
    );
    assert!(
        text.contains("name = \"Block\"        # large orders"),
        "{text}"
    );
    assert!(text.contains("socket = "), "{text}");
    assert!(text.contains("# the control socket"), "{text}");
    let cfg = lpscore::runtime::RuntimeConfig::load(&app.cfg).unwrap();
    assert_eq!(cfg.engine.profiles[1].weights.fill_rate, 1.0);
    assert_eq!(cfg.engine.profiles[1].weights.latency, 0.0);
    assert_eq!(cfg.engine.profiles[0].weights.latency, 0.6);

    // Garbage on one connection: each bad line gets a reason, the connection keeps serving.
    let mut s = UnixStream::connect(&app.sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut ask = |bytes: &[u8]| -> Value {
        s.write_all(bytes).unwrap();
        s.write_all(b"\n").unwrap();
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    };
    let mut big = vec![b'{'; 70 * 1024];
    big.extend_from_slice(b"\"cmd\":\"status\"}");
    for (req, why) in [
        (b"hello there".to_vec(), "invalid JSON"),
        (vec![0u8, 159, 146, 150, 255, 1, 2], "invalid JSON"),
        (big, "longer than 65536"),
        (b"{\"cmd\":\"frobnicate\"}".to_vec(), "unknown command"),
        (b"{\"cmd\":42}".to_vec(), "must be a string"),
        (b"[\"status\"]".to_vec(), "JSON object"),
        (
            b"{\"cmd\":\"set_weights\",\"profile\":\"Nope\",\"weights\":{\"latency\":1}}".to_vec(),
            "unknown profile",
        ),
        (
            b"{\"cmd\":\"set_weights\",\"profile\":\"Block\",\"weights\":{\"latency\":1e999}}"
                .to_vec(),
            "invalid JSON",
        ),
        (
            b"{\"cmd\":\"set_weights\",\"profile\":\"Block\",\"weights\":{\"latency\":-1}}"
                .to_vec(),
            ">= 0",
        ),
        (
            b"{\"cmd\":\"set_weights\",\"profile\":\"Block\",\"weights\":{\"speed\":1}}".to_vec(),
            "unknown weight",
        ),
        (
            b"{\"cmd\":\"pause_lp\",\"lp\":\"LP_Z\"}".to_vec(),
            "unknown LP",
        ),
        (
            b"{\"cmd\":\"rotate_journal\"}".to_vec(),
            "the journal is off",
        ),
    ] {
        let v = ask(&req);
        assert_eq!(v["ok"], false, "{v}");
        assert!(v["error"].as_str().unwrap().contains(why), "{why}: {v}");
    }
    assert_eq!(ask(b"{\"cmd\":\"status\"}")["ok"], true);

    // A client that never finishes its line does not hold anyone else up; 16 clients at most.
    let mut stuck = UnixStream::connect(&app.sock).unwrap();
    stuck.write_all(b"{\"cmd\":\"sta").unwrap();
    let mut idle: Vec<UnixStream> = (0..15)
        .map(|_| UnixStream::connect(&app.sock).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = UnixStream::connect(&app.sock).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut refused = String::new();
    extra.read_to_string(&mut refused).unwrap();
    assert!(refused.contains("too many control clients"), "{refused:?}");
    idle.clear();
    drop(s);
    wait_for("a free client slot", || {
        let mut c = UnixStream::connect(&app.sock).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        c.write_all(b"{\"cmd\":\"status\"}\n").unwrap();
        let mut line = String::new();
        let _ = BufReader::new(c).read_line(&mut line);
        line.contains("\"ok\":true")
    });
    // The stuck client is cut off after the request timeout, with a reason.
    stuck
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut why = String::new();
    stuck.read_to_string(&mut why).unwrap();
    assert!(why.contains("incomplete request"), "{why:?}");

    // Pause and resume an LP: its rows carry the flag once acknowledged.
    let lp_a = sb.lp("LP_A").unwrap();
    let r = ctl(&app.sock, r#"{"cmd":"pause_lp","lp":"LP_A"}"#);
    assert_eq!(r["ok"], true, "{r}");
    assert_ne!(
        read_row(&sb, SymbolSlot::All, lp_a).flags & FLAG_LP_PAUSED,
        0
    );
    let r = ctl(&app.sock, r#"{"cmd":"resume_lp","lp":"LP_A"}"#);
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(
        read_row(&sb, SymbolSlot::All, lp_a).flags & FLAG_LP_PAUSED,
        0
    );

    // Add a profile: slot 2, published, scored, persisted.
    let r = ctl(
        &app.sock,
        r#"{"cmd":"add_profile","name":"Quiet","weights":{"reject_rate":1}}"#,
    );
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["profile"]["index"], 2);
    assert_eq!(sb.profile("Quiet"), Some(ProfileId::new(2)));
    assert_eq!(profile_weights(&sb, 2)[4], 1.0);
    for (what, row) in rows(&sb) {
        let want = 100.0 * (1.0 - row.reject_rate);
        assert!(
            (row.scores[2] - want).abs() < 0.01,
            "{what}: {} != {want}",
            row.scores[2]
        );
    }
    assert!(
        std::fs::read_to_string(&app.cfg)
            .unwrap()
            .contains("name = \"Quiet\"")
    );
    let dup = ctl(
        &app.sock,
        r#"{"cmd":"add_profile","name":"Quiet","weights":{"latency":1}}"#,
    );
    assert_eq!(dup["ok"], false, "{dup}");

    // The command line client.
    let weights = |args: &[&str]| {
        Command::new(BIN)
            .arg("weights")
            .args(args)
            .output()
            .unwrap()
    };
    let cfg_s = app.cfg.to_str().unwrap();
    let out = weights(&["--config", cfg_s, "show"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for w in ["HighFrequency", "Block", "Quiet", "fill", "1.0000"] {
        assert!(table.contains(w), "{w} in {table}");
    }
    let out = weights(&["set", "Block", "latency=0.5", "--config", cfg_s]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("saved"));
    assert_eq!(profile_weights(&sb, 1)[0], 0.5);
    assert_eq!(profile_weights(&sb, 1)[1], 1.0);
    let out = weights(&[
        "--socket",
        app.sock.to_str().unwrap(),
        "set",
        "Block",
        "speed=1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = weights(&["--config", cfg_s, "set", "Nope", "latency=1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown profile"));

    // Remove it: the slot goes inactive (all-zero weights, NaN scores), the file forgets it.
    let out = weights(&["--config", cfg_s, "remove-profile", "Quiet"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(profile_weights(&sb, 2), [0.0; 8]);
    for (what, row) in rows(&sb) {
        assert!(row.scores[2].is_nan(), "{what}: {}", row.scores[2]);
        assert!(!row.scores[1].is_nan(), "{what}");
    }
    let text = std::fs::read_to_string(&app.cfg).unwrap();
    assert!(!text.contains("Quiet"), "{text}");
    assert!(text.contains("# speed matters most"), "{text}");

    // Every message arrived and the appliance is still serving.
    let tcp = feeder.join().unwrap();
    let n = msgs.len() as u64;
    wait_for("every message", || {
        ctl(&app.sock, r#"{"cmd":"status"}"#)["status"]["groups"][0]["messages"].as_u64() == Some(n)
    });
    drop(tcp);
    // A clean stop removes the socket.
    let mut app = app;
    // SAFETY: signalling our own child process.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(app.child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0);
    let status = app.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!app.sock.exists());
}

#[test]
fn rotate_journal_closes_the_segment_and_the_next_records_open_a_new_one() {
    let app = start_with(
        "rotate",
        "\n[journal]\nenabled = true\ndir = \"JDIR\"\ndurability = \"group\"\n",
    );
    let jdir = app.dir.join("journal");
    let segments = || lpscore::journal::list_segments(&jdir).unwrap().len();
    let msgs = synth_messages();
    let third = msgs.len() / 3;
    let mut tcp = TcpStream::connect(("127.0.0.1", app.port)).unwrap();
    let status_messages = || {
        ctl(&app.sock, r#"{"cmd":"status"}"#)["status"]["groups"][0]["messages"]
            .as_u64()
            .unwrap()
    };
    let mut sent = 0;
    for (round, part) in msgs.chunks(third).enumerate() {
        for m in part {
            tcp.write_all(m).unwrap();
        }
        sent += part.len() as u64;
        wait_for("the messages", || status_messages() == sent);
        if round == 2 {
            break;
        }
        // Rotate while the journal holds records of this round: one segment closed, and the
        // next record (a tick, or the next round's messages) opens a new one.
        let before = segments();
        let r = ctl(&app.sock, r#"{"cmd":"rotate_journal","id":9}"#);
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["id"], 9);
        assert_eq!(r["rotated"], 1, "{r}");
        assert_eq!(r["journals"][0]["group"], 0, "{r}");
        assert_eq!(r["journals"][0]["closed"], true, "{r}");
        assert_eq!(r["journals"][0]["rotations"], round as u64 + 1, "{r}");
        wait_for("a new segment on disk", || segments() == before + 1);
    }
    assert!(segments() >= 3, "{}", segments());
    let st = ctl(&app.sock, r#"{"cmd":"status"}"#);
    let j = &st["status"]["journals"][0];
    assert_eq!(j["group"], 0, "{st}");
    assert_eq!(j["failed"], false, "{st}");
    assert_eq!(j["rotations"], 2, "{st}");
    assert!(j["segments"].as_u64().unwrap() >= 3, "{st}");
    assert!(j["records"].as_u64().unwrap() >= sent, "{st}");
    drop(tcp);
    let mut app = app;
    // SAFETY: signalling our own child process.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(app.child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0);
    let status = app.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    // Every message is in the journal once, in order, across the segments.
    let paths: Vec<PathBuf> = lpscore::journal::list_segments(&jdir)
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect();
    let mut seqs = Vec::new();
    lpscore::journal::scan_segments(&paths, |_, _, r| seqs.push(r.seq)).unwrap();
    assert_eq!(seqs, (1..=sent).collect::<Vec<u64>>());
}

#[test]
fn a_stale_socket_is_replaced_and_a_live_one_is_not() {
    let dir = std::env::temp_dir().join(format!("lpscore-ctl-stale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("c.sock");
    // Stale: bound, then its listener gone.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let l = lpscore::control::bind(&sock).unwrap();
    // Live: the second bind is refused and the socket left alone.
    let e = lpscore::control::bind(&sock).unwrap_err();
    assert!(e.contains("another process is listening"), "{e}");
    assert!(sock.exists());
    drop(l);
    // Not a socket: refused.
    std::fs::remove_file(&sock).unwrap();
    std::fs::write(&sock, b"x").unwrap();
    let e = lpscore::control::bind(&sock).unwrap_err();
    assert!(e.contains("not a socket"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
