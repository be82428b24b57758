//! `lpscore demo` on a terminal: the live console (the code of `lpscore top`) runs while the
//! scenario does, titled with the run and its simulated clock, pointed at each run's appliance
//! (scoreboard and control socket); it closes by itself when the runs end and the result table
//! follows; `q` leaves it early and the run goes on with the compact log. The terminal is a tmux
//! pane; the assertions are on what a person sees.
#![allow(clippy::disallowed_methods)] // test harness: wall-clock deadlines

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_lpscore");

/// One demo at a time: each runs three processes, and the machine may have two cores.
static SERIAL: Mutex<()> = Mutex::new(());

struct Tmux {
    server: String,
    dir: PathBuf,
}

impl Tmux {
    fn start(name: &str, cmdline: &str, dir: PathBuf) -> Option<Self> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("SKIPPED: tmux is not installed (CI installs it)");
            return None;
        }
        let t = Tmux {
            server: format!("lpscore-{name}-{}", std::process::id()),
            dir,
        };
        let o = t.cmd(&[
            "new-session",
            "-d",
            "-x",
            "100",
            "-y",
            "30",
            "-s",
            "demo",
            cmdline,
        ]);
        assert!(o.status.success(), "tmux new-session: {o:?}");
        Some(t)
    }
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.server)
            .args(args)
            .output()
            .expect("tmux")
    }
    /// The visible screen.
    fn screen(&self) -> String {
        let o = self.cmd(&["capture-pane", "-p", "-t", "demo"]);
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    /// The screen and the scrollback (the main screen's; the console's alternate screen has
    /// none).
    fn history(&self) -> String {
        let o = self.cmd(&["capture-pane", "-p", "-S", "-1000", "-t", "demo"]);
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    fn key(&self, k: &str) {
        let o = self.cmd(&["send-keys", "-t", "demo", k]);
        assert!(o.status.success(), "send-keys {k}: {o:?}");
    }
    /// Polls `what` (the screen or the history) until `pred` holds; generous deadline.
    fn wait_for(
        &self,
        what: &str,
        read: impl Fn(&Self) -> String,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let s = read(self);
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{s}\nthe history:\n{}",
                self.history()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // A failed test: stop the demo as a person would (its children stop cleanly) before
        // the pane goes.
        let deadline = Instant::now() + Duration::from_secs(20);
        if !self.history().contains("DEMO-EXIT=") {
            let _ = self.cmd(&["send-keys", "-t", "demo", "C-c"]);
            while !self.history().contains("DEMO-EXIT=") && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = self.cmd(&["kill-server"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lpscore-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn demo_cmdline(speed: &str, dir: &Path) -> String {
    format!(
        "{BIN} demo --speed {speed} --seed 11 --dir {}; echo DEMO-EXIT=$?; sleep 600",
        dir.display()
    )
}

/// The console's ranked table with every LP of the demo and a numeric score.
fn console_with_scores(s: &str) -> bool {
    s.contains("ranked LPs")
        && ["LP_A", "LP_B", "LP_C", "LP_D"].iter().all(|lp| {
            s.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.get(1) == Some(lp) && f.get(2).is_some_and(|x| x.parse::<f64>().is_ok())
            })
        })
}

/// The demo's title line: which run, the simulated clock and the progress.
fn title(s: &str) -> Option<&str> {
    s.lines().find(|l| l.starts_with("lpscore demo  run "))
}

#[test]
fn demo_on_a_terminal_shows_the_console_then_the_result_table() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = run_dir("demo-console");
    // Paced: each run lasts seconds of wall-clock time, so the console is seen even on a
    // loaded machine.
    let Some(t) = Tmux::start("demo-console", &demo_cmdline("300", &dir), dir.clone()) else {
        return;
    };

    let scr = t.wait_for("the console of the scorecard run", Tmux::screen, |s| {
        title(s).is_some_and(|l| l.contains("run 1/2: scorecard routing (Block)"))
            && console_with_scores(s)
    });
    println!("the demo's console (scorecard run):\n{scr}");
    let head = title(&scr).unwrap();
    assert!(head.contains("seed 11"), "{head}");
    assert!(
        scr.contains("profile Block"),
        "the router's profile is selected:\n{scr}"
    );
    assert!(scr.contains("q leave console"), "{scr}");
    // The compact log does not scribble over the console: its lines appear only in the log
    // panel, under the table.
    let panel = scr
        .find(" log ─")
        .unwrap_or_else(|| panic!("no log panel:\n{scr}"));
    assert!(
        !scr[..panel].contains("appliance + simulator + SOR"),
        "a log line over the console:\n{scr}"
    );
    assert!(
        scr[panel..].contains("scorecard routing (Block): appliance + simulator + SOR"),
        "{scr}"
    );
    // The appliance serves the console's control socket.
    assert!(dir.join("scorecard/control.sock").exists());

    let scr = t.wait_for(
        "the console of the static run, with the simulated clock",
        Tmux::screen,
        |s| {
            title(s).is_some_and(|l| {
                l.contains("run 2/2: static routing to LP_A")
                    && l.contains(" sim ")
                    && l.contains("filled ")
            }) && console_with_scores(s)
        },
    );
    println!("the demo's console (static run):\n{scr}");

    // The console closes by itself; the held log, the table and the verdict follow.
    let hist = t.wait_for("the end of the demo", Tmux::history, |s| {
        s.contains("DEMO-EXIT=")
    });
    assert!(hist.contains("DEMO-EXIT=0"), "{hist}");
    let scr = t.screen();
    assert!(scr.contains("  verdict: "), "{scr}");
    assert!(scr.contains("result: sell 200000 ACME"), "{scr}");
    assert!(
        !scr.contains("q leave console") && title(&scr).is_none(),
        "the console is gone:\n{scr}"
    );
    for held in [
        "scorecard routing (Block): appliance + simulator + SOR",
        "static routing to LP_A, same market and seed: appliance + simulator + SOR",
        "parent order arrives",
    ] {
        assert!(
            hist.contains(held),
            "the held line {held:?} is printed:\n{hist}"
        );
    }
    // In order: the run's log before the table.
    let log_at = hist.find("parent order arrives").unwrap();
    let table_at = hist.find("result: sell").unwrap();
    assert!(log_at < table_at, "{hist}");
}

#[test]
fn demo_console_q_leaves_and_the_run_goes_on() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = run_dir("demo-console-q");
    let Some(t) = Tmux::start("demo-console-q", &demo_cmdline("100", &dir), dir.clone()) else {
        return;
    };
    t.wait_for("the console with scores", Tmux::screen, |s| {
        title(s).is_some() && console_with_scores(s)
    });
    t.key("q");
    let hist = t.wait_for("the console closed", Tmux::history, |s| {
        s.contains("(console closed; the run goes on)")
    });
    assert!(
        hist.contains("scorecard routing (Block): appliance + simulator + SOR"),
        "{hist}"
    );
    // The runs go on with the compact log, then the table.
    let hist = t.wait_for("the end of the demo", Tmux::history, |s| {
        s.contains("DEMO-EXIT=")
    });
    assert!(hist.contains("DEMO-EXIT=0"), "{hist}");
    assert!(hist.contains("  verdict: "), "{hist}");
    let closed_at = hist.find("(console closed; the run goes on)").unwrap();
    let static_at = hist
        .find("static routing to LP_A, same market and seed: appliance")
        .unwrap();
    assert!(closed_at < hist.find("result: sell").unwrap(), "{hist}");
    assert!(static_at < hist.find("result: sell").unwrap(), "{hist}");
    assert!(title(&t.screen()).is_none());
}
