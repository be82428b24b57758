//! `lpscore top` in a real terminal: the appliance scores a FIX stream, the console runs in an
//! 80x24 tmux pane, keys are sent and the pane is captured; the assertions are on what a person
//! sees (LP names, scores, a changed symbol / profile, the drill-down, the weight editor, and a
//! changed weight through the control socket when the appliance serves one).
#![allow(clippy::disallowed_methods)] // test harness: wall-clock deadlines

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "common/ansi.rs"]
mod ansi;
use ansi::strip_ansi;

const BIN: &str = env!("CARGO_BIN_EXE_lpscore");

struct Tmux {
    server: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.server)
            .args(args)
            .output()
            .expect("tmux")
    }
    fn capture(&self) -> String {
        let o = self.cmd(&["capture-pane", "-p", "-t", "top"]);
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let o = self.cmd(&["send-keys", "-t", "top", k]);
            assert!(o.status.success(), "send-keys {k}: {:?}", o);
            // Keys are queued by the pane; a short gap keeps Esc from merging with a next key
            // into an escape sequence (tmux escape-time).
            std::thread::sleep(Duration::from_millis(150));
        }
    }
    /// Polls the pane until `pred` holds (generous deadline), returns the screen.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.capture();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

struct Appliance {
    child: Child,
    log: Arc<Mutex<String>>,
    files: Vec<PathBuf>,
}

impl Drop for Appliance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

fn synth_stream() -> Vec<u8> {
    use lpscore::engine::synth::{LpTruth, SynthConfig, fix_bytes, generate};
    let lp = |name: &str, latency_ns: f64, fill: f64, pi_bps: f64| LpTruth {
        name: name.into(),
        full_fill: fill,
        half_fill: 0.1,
        reject: 0.05,
        latency_ns,
        pi_bps,
        impact_bps: 0.5,
    };
    let evs = generate(&SynthConfig {
        lps: vec![
            lp("LP_A", 1e6, 0.85, 0.1),
            lp("LP_B", 8e6, 0.6, 0.8),
            lp("LP_C", 3e6, 0.4, 0.3),
        ],
        symbols: 2,
        orders: 400,
        order_gap_ns: 2_000_000,
        noise_quotes_per_order: 1,
        noise_bps: 2.0,
        half_spread_bps: 2.0,
        start_ns: 1_700_000_000_000_000_000,
        seed: 11,
    });
    let mut out = Vec::new();
    for (i, (ts, ev)) in evs.iter().enumerate() {
        fix_bytes(*ts, i as u64 + 1, ev, &mut out);
    }
    out
}

fn start_appliance(dir: &Path, board: &Path, sock: &Path) -> (Appliance, u16) {
    let cfg = dir.join("appliance.toml");
    std::fs::write(
        &cfg,
        format!(
            "backend = \"busy-poll\"\nscoreboard = \"{}\"\n[idle]\nenabled = true\nquiet_us = 500\n\
             [[group]]\nsessions = [ {{ id = 1, listen = \"127.0.0.1:0\" }} ]\n\
             [engine]\npublish_interval_ns = 0\n[control]\nsocket = \"{}\"\n",
            board.display(),
            sock.display()
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
    let app = Appliance {
        child,
        log: Arc::new(Mutex::new(String::new())),
        files: vec![cfg.clone(), board.to_path_buf()],
    };
    let mut lines = BufReader::new(stderr).lines();
    let mut port = None;
    for line in lines.by_ref() {
        let line = strip_ansi(&line.unwrap());
        app.log.lock().unwrap().push_str(&format!("{line}\n"));
        if let Some(i) = line.find("listening on 127.0.0.1:") {
            port = line[i + "listening on 127.0.0.1:".len()..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|p| p.parse::<u16>().ok());
        }
        if line.contains("running;") {
            break;
        }
    }
    let log = Arc::clone(&app.log);
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            log.lock()
                .unwrap()
                .push_str(&format!("{}\n", strip_ansi(&l)));
        }
    });
    let port = port.unwrap_or_else(|| panic!("no listening line:\n{}", app.log.lock().unwrap()));
    (app, port)
}

/// Whether the appliance's control socket answers `status` with ok.
fn control_answers(sock: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(sock) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"{\"cmd\":\"status\"}\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).contains("\"ok\":true")
}

/// The weight editor's preview table: (LP, published score, preview score) per line.
fn preview_rows(screen: &str) -> Vec<(String, f64, f64)> {
    screen
        .lines()
        .filter_map(|l| {
            let right = l.split("││").nth(1)?;
            let f: Vec<&str> = right.trim_end_matches('│').split_whitespace().collect();
            if f.len() != 5 || !f[0].starts_with("LP_") {
                return None;
            }
            Some((f[0].to_string(), f[1].parse().ok()?, f[3].parse().ok()?))
        })
        .collect()
}

#[test]
fn top_in_tmux_shows_ranks_switches_and_edits_weights() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIPPED: tmux is not installed (CI installs it)");
        return;
    }
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("lpscore-console-tmux-{pid}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let board = dir.join("board.sb");
    let sock = dir.join("control.sock");
    let (app, port) = start_appliance(&dir, &board, &sock);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for chunk in synth_stream().chunks(1400) {
        s.write_all(chunk).unwrap();
    }

    let tmux = Tmux {
        server: format!("lpscore-test-{pid}"),
    };
    let cfg = dir.join("appliance.toml");
    let cmdline = format!(
        "{BIN} top --scoreboard {} --config {} --refresh-ms 200; echo TOP-EXIT=$?; sleep 600",
        board.display(),
        cfg.display()
    );
    let o = tmux.cmd(&[
        "new-session",
        "-d",
        "-x",
        "80",
        "-y",
        "24",
        "-s",
        "top",
        &cmdline,
    ]);
    assert!(o.status.success(), "tmux new-session: {o:?}");

    // The ranked table: every LP, with a score, on the first symbol.
    let scr = tmux.wait_for("LP rows with scores", |s| {
        s.contains("sym S0000")
            && ["LP_A", "LP_B", "LP_C"].iter().all(|lp| {
                s.lines().any(|l| {
                    l.contains(lp)
                        && l.split_whitespace()
                            .nth(2)
                            .is_some_and(|x| x.parse::<f64>().is_ok())
                })
            })
    });
    eprintln!("--- table (80x24) ---\n{scr}");
    assert!(scr.contains("profile HighFrequency"), "{scr}");
    assert!(scr.contains("lpscore top epoch"), "header: {scr}");
    assert!(scr.contains("q quit"), "footer: {scr}");
    assert!(scr.contains("live"), "{scr}");
    for l in scr.lines() {
        assert!(l.chars().count() <= 80, "line wider than 80: {l:?}");
    }

    // A narrower terminal: the layout degrades to fewer columns, nothing wraps; and back.
    let o = tmux.cmd(&["resize-window", "-t", "top", "-x", "56", "-y", "16"]);
    assert!(o.status.success(), "resize-window: {o:?}");
    let scr = tmux.wait_for("the narrow layout", |s| {
        s.contains("LP_A") && s.contains("score") && !s.contains("PI_bp")
    });
    eprintln!("--- table (56x16) ---\n{scr}");
    assert!(scr.contains("?help q"), "terse footer: {scr}");
    for l in scr.lines() {
        assert!(l.chars().count() <= 56, "line wider than 56: {l:?}");
    }
    let o = tmux.cmd(&["resize-window", "-t", "top", "-x", "80", "-y", "24"]);
    assert!(o.status.success(), "resize-window: {o:?}");
    tmux.wait_for("the 80-column layout", |s| s.contains("PI_bp"));

    // s: next symbol.
    tmux.keys(&["s"]);
    tmux.wait_for("symbol S0001", |s| s.contains("sym S0001"));
    // p: next profile.
    tmux.keys(&["p"]);
    let scr = tmux.wait_for("profile Block", |s| s.contains("profile Block"));
    assert!(scr.contains("LP_A"), "{scr}");
    // b: next size bucket (the label changes from `all`).
    tmux.keys(&["b"]);
    tmux.wait_for("a size bucket", |s| {
        s.contains("size ") && !s.contains("size all")
    });
    tmux.keys(&["B"]);
    tmux.wait_for("size all", |s| s.contains("size all"));

    // Enter: drill-down of the top LP, with its sparklines.
    tmux.keys(&["Enter"]);
    let scr = tmux.wait_for("the drill-down", |s| {
        s.contains(" on S0001 / all") && s.contains("fill rate:") && s.contains("markout:")
    });
    eprintln!("--- drill-down ---\n{scr}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("the table again", |s| s.contains("orders"));

    // w: the weight editor of Block, with a preview of the current rows.
    tmux.keys(&["w"]);
    let scr = tmux.wait_for("the weight editor", |s| {
        s.contains("weights: Block") && s.contains("preview S0001/all")
    });
    assert!(scr.contains("fill_rate"), "{scr}");
    // Type a fill-rate weight; the edited value is shown (marked as changed).
    tmux.keys(&["Down", "2", ".", "5", "Enter"]);
    let scr = tmux.wait_for("the typed weight", |s| s.contains("2.500 *"));
    eprintln!("--- weight editor ---\n{scr}");

    assert!(
        control_answers(&sock),
        "the appliance serves no control socket at {}",
        sock.display()
    );
    {
        let predicted = preview_rows(&scr);
        assert_eq!(predicted.len(), 3, "{scr}");
        tmux.keys(&["Enter"]);
        let scr = tmux.wait_for("the ack", |s| {
            s.contains("ack ok") && s.contains("persisted")
        });
        eprintln!("--- applied ---\n{scr}");
        // The appliance's new published scores are what the preview computed locally.
        tmux.wait_for("published scores equal to the preview", |s| {
            let now = preview_rows(s);
            now.len() == predicted.len()
                && predicted.iter().all(|(lp, _, new)| {
                    now.iter()
                        .any(|(l, pub_now, _)| l == lp && (pub_now - new).abs() <= 0.11)
                })
        });
        // The published profile now has the new weight (any reader sees it).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let sb = lpscore_shm::Scoreboard::open(&board).unwrap();
            let p = sb.profile("Block").expect("profile Block");
            let w = sb.profile_weights(p).unwrap();
            if (w[1] - 2.5).abs() < 1e-9 {
                break;
            }
            assert!(Instant::now() < deadline, "Block weights {w:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
        // The table shows the re-ranked rows under the new weights.
        tmux.keys(&["Escape"]);
        tmux.wait_for("the table again", |s| s.contains("orders"));
    }

    // A writer that stops beating (SIGSTOP): the staleness banner; it goes when it beats again.
    let signal = |sig: libc::c_int| {
        // SAFETY: signalling our own child process.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::kill(app.child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0);
    };
    signal(libc::SIGSTOP);
    let scr = tmux.wait_for("the staleness banner", |s| {
        s.contains("STALE: no writer heartbeat for")
    });
    eprintln!("--- stale ---\n{scr}");
    signal(libc::SIGCONT);
    tmux.wait_for("the banner gone", |s| {
        !s.contains("STALE") && s.contains(" live ")
    });

    // ?: help, any key back; q: quit (the pane closes).
    tmux.keys(&["?"]);
    tmux.wait_for("the help", |s| {
        s.contains("Weights:") && s.contains("Columns:")
    });
    tmux.keys(&["x"]);
    tmux.wait_for("the table again", |s| s.contains("orders"));
    // q: quit; the shell behind it prints the exit status on a restored screen.
    tmux.keys(&["q"]);
    let scr = tmux.wait_for("top's exit", |s| s.contains("TOP-EXIT="));
    assert!(scr.contains("TOP-EXIT=0"), "{scr}");
    assert!(
        !scr.contains("q quit"),
        "the console's screen was not cleared: {scr}"
    );
    drop(s);
    drop(tmux);
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}
