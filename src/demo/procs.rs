//! The demo as three processes over loopback FIX, all started from this binary:
//! - the appliance: `lpscore run --config DIR/lpscore.toml` (generated: idle mode, one acceptor
//!   session for the drop copy, a FIX session unless `--raw-drop-copy`, scoreboard and journal
//!   in DIR);
//! - the simulator: `lpscore sim` (the LPs as the SOR's FIX counterparties, the drop copy to the
//!   appliance);
//! - the example SOR: `lpscore sim --sor ...` (`shm/examples/sor.rs`), its decisions and fills as
//!   JSON lines on stdout, which this module reads.
//!
//! The scenario runs twice (scorecard routing, then static routing to the first LP), each with a
//! fresh appliance, on the same seed. Children are stopped on every exit path: `Proc`'s drop
//! (errors, panics), SIGINT/SIGTERM (polled), and the simulator also exits when its stdin (held
//! by this process) closes.
#![allow(unsafe_code)] // `libc::kill` on our children: `Proc::terminate`, `interrupt`

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use lpscore_shm::{Scoreboard, monotonic_ns};
use serde_json::Value;

use crate::runtime::signals;
use crate::sim::Speed;
use crate::sim::lp::LpsFile;

use super::world::{Outcome, ParentFill, Scenario};
use super::{DemoOptions, Progress};

/// The speed the appliance's time constants are scaled by at `--speed max` (about what this
/// machine reaches unpaced; latencies and markouts are not meaningful there anyway).
const MAX_SPEED_NOMINAL: f64 = 1000.0;

/// Longest control socket path used (`sun_path` holds 108 bytes with its NUL).
const MAX_SOCKET_PATH: usize = 100;

/// A child process that is stopped when dropped.
struct Proc {
    name: &'static str,
    child: Child,
}

/// The pids of the running children, not yet reaped: [`interrupt`] signals them. A pid is
/// removed under this lock when its child is reaped, so a pid read under it is never reused.
static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn running() -> std::sync::MutexGuard<'static, Vec<u32>> {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command) -> Result<Self, String> {
        let mut pids = running();
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start the {name}: {e}"))?;
        pids.push(child.id());
        Ok(Self { name, child })
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let mut pids = running();
        let st = self.child.try_wait().ok().flatten();
        if st.is_some() {
            pids.retain(|&p| p != self.child.id());
        }
        st
    }

    /// SIGTERM (a clean stop: the appliance flushes its journal), then SIGKILL after `grace`.
    fn terminate(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        if let Some(st) = self.exited() {
            return Some(st);
        }
        if signals::requested() > 0 {
            // A Ctrl-C in a terminal reached the whole process group: the child is stopping on
            // its own, and a second signal would make the appliance exit without its clean stop.
            if let Some(st) = self.wait_for(Duration::from_secs(2)) {
                return Some(st);
            }
        }
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on our own child's pid, which is not reaped yet (try_wait said it is
        // running), so the pid cannot have been reused.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        if let Some(st) = self.wait_for(grace) {
            return Some(st);
        }
        let _ = self.child.kill();
        let mut pids = running();
        let st = self.child.wait().ok();
        pids.retain(|&p| p != self.child.id());
        st
    }

    fn wait_for(&mut self, d: Duration) -> Option<std::process::ExitStatus> {
        let deadline = monotonic_ns() + d.as_nanos() as u64;
        loop {
            if let Some(st) = self.exited() {
                return Some(st);
            }
            if monotonic_ns() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited().is_none() {
            tracing::debug!(name = self.name, "stopping");
            self.terminate(Duration::from_secs(3));
        }
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn file(path: &Path) -> Result<std::fs::File, String> {
    std::fs::File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

fn tail(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// The appliance's configuration for the demo: idle mode (the machine has 2 cores and three
/// processes), one acceptor (a FIX session, or raw), journal on, and the engine's time constants
/// divided by the speed (the appliance runs on wall-clock capture time, the scenario on simulated
/// time). `control`: the control socket to serve (the live console's).
pub fn appliance_config(
    dir: &Path,
    port: u16,
    lps: &LpsFile,
    speed: Speed,
    fix_session: bool,
    control: Option<&Path>,
) -> String {
    let s = match speed {
        Speed::Max => MAX_SPEED_NOMINAL,
        Speed::Times(x) => x,
    };
    let ns = |secs: f64| ((secs * 1e9 / s) as u64).max(1);
    let backend = if crate::io::probe::probe().is_ok() {
        "io-uring"
    } else {
        "busy-poll"
    };
    // A FIX session checks sequence numbers and answers Logon/Logout; SendingTime is simulated
    // time, so the latency check is off.
    let fix = if fix_session {
        format!(
            ", fix = {{ sender_comp_id = {:?}, target_comp_id = {:?}, reset_on_logon = true, \
             max_latency_s = 0, store_dir = \"{}\" }}",
            crate::sim::venue::DROP_TARGET,
            crate::sim::venue::DROP_SENDER,
            dir.join("sessions").display()
        )
    } else {
        String::new()
    };
    // The shipped example configuration is the base (the demo runs what the repository
    // documents); the demo overrides what a run needs: its paths and port, idle mode, a
    // sized-down engine and time constants divided by the speed.
    let mut doc: toml_edit::DocumentMut = EXAMPLE_CONFIG
        .parse()
        .expect("config/lpscore.toml is valid TOML (tested)");
    let p = |x: &Path| x.display().to_string();
    doc["backend"] = toml_edit::value(backend);
    doc["scoreboard"] = toml_edit::value(p(&dir.join("scoreboard")));
    doc["idle"]["enabled"] = toml_edit::value(true);
    doc["idle"]["quiet_us"] = toml_edit::value(2000);
    doc["idle"]["wait_us"] = toml_edit::value(1000);
    doc["io"]["so_busy_poll_us"] = toml_edit::value(0);
    doc["journal"]["enabled"] = toml_edit::value(true);
    doc["journal"]["dir"] = toml_edit::value(p(&dir.join("journal")));
    doc["journal"]["durability"] = toml_edit::value("none");
    doc["journal"]["ring_bytes"] = toml_edit::value(4_194_304);
    let e = &mut doc["engine"];
    for (k, v) in [
        ("max_lps", 16),
        ("max_symbols", 16),
        ("max_cells", 4096),
        ("max_orders", 65_536),
        ("dedup_window", 65_536),
        ("fill_ring", 65_536),
        ("markout_queue", 65_536),
        ("publish_interval_ns", 0),
    ] {
        e[k] = toml_edit::value(v);
    }
    let lp_names: toml_edit::Array = lps.lp.iter().map(|l| l.name.as_str()).collect();
    e["lps"] = toml_edit::value(lp_names);
    let horizons: toml_edit::Array = [0.1, 1.0, 15.0, 60.0]
        .iter()
        .map(|&x| ns(x) as i64)
        .collect();
    e["horizons_ns"] = toml_edit::value(horizons);
    for (k, secs) in [
        ("score_horizon_ns", 1.0),
        ("fast_half_life_ns", 60.0),
        ("slow_half_life_ns", 86_400.0),
        ("prior_refresh_ns", 900.0),
        ("stale_quote_ns", 5.0),
        ("linger_ns", 65.0),
        ("early_ttl_ns", 0.5),
    ] {
        e[k] = toml_edit::value(ns(secs) as i64);
    }
    e["transforms"]["latency_half_ns"] = toml_edit::value(ns(0.010) as i64);
    // One group with the drop-copy session (unpinned: three processes share 2 cores), the
    // control socket only with the console, no metrics endpoint, no log file.
    for k in ["group", "control", "metrics"] {
        doc.remove(k);
    }
    if let Some(l) = doc.get_mut("log").and_then(|l| l.as_table_mut()) {
        l.remove("file");
    }
    let control = control.map_or(String::new(), |p| {
        format!("\n[control]\nsocket = \"{}\"\n", p.display())
    });
    format!(
        "# Generated by `lpscore demo` (speed {speed}) from config/lpscore.toml: the engine's time \
         constants are divided by the speed.\n{doc}\n[[group]]\nsessions = [{{ id = 1, listen = \
         \"127.0.0.1:{port}\"{fix} }}]\n{control}"
    )
}

/// The shipped, commented example configuration (`config/lpscore.toml`).
const EXAMPLE_CONFIG: &str = include_str!("../../config/lpscore.toml");

/// What one run (one policy) left behind.
pub struct RunResult {
    pub outcome: Outcome,
    pub dir: PathBuf,
    pub parse_errors: u64,
}

/// Runs the scenario once with three processes; `policy` is the SOR's `--profile P` or
/// `--static LP`.
pub fn run_policy(
    opts: &DemoOptions,
    lps: &LpsFile,
    lps_path: &Path,
    name: &str,
    policy: [&str; 2],
) -> Result<RunResult, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let dir = opts.dir.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let sc = Scenario {
        seed: opts.seed,
        ..Scenario::default()
    };
    let parent_ns = sc.start_ns + (sc.warmup_s * 1e9) as u64;
    let port = free_port()?;
    let cfg_path = dir.join("lpscore.toml");
    // The console's control socket; none where the path is too long for a Unix socket (the
    // console then previews weights without applying them).
    let socket = opts
        .progress
        .as_ref()
        .map(|_| dir.join("control.sock"))
        .filter(|p| p.as_os_str().len() < MAX_SOCKET_PATH);
    let cfg = appliance_config(
        &dir,
        port,
        lps,
        opts.speed,
        opts.fix_session,
        socket.as_deref(),
    );
    std::fs::write(&cfg_path, cfg)
        .map_err(|e| format!("cannot write {}: {e}", cfg_path.display()))?;
    let board = dir.join("scoreboard");
    if let Some(p) = &opts.progress {
        p.source(&cfg_path, board.clone(), socket);
    }

    // 1. The appliance; wait for its scoreboard.
    let mut appliance = Proc::spawn(
        "appliance",
        Command::new(&exe)
            .arg("run")
            .arg("--config")
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file(&dir.join("appliance.log"))?),
    )?;
    let deadline = monotonic_ns() + 30_000_000_000;
    while Scoreboard::open(&board).is_err() {
        if appliance.exited().is_some() || monotonic_ns() > deadline || signals::requested() > 0 {
            return Err(format!(
                "the appliance did not start (see {}):\n{}",
                dir.join("appliance.log").display(),
                tail(&dir.join("appliance.log"))
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    // 2. The simulator; its first line is the SOR's address.
    let duration = sc.warmup_s + sc.window_s + 120.0;
    let mut sim = Proc::spawn(
        "simulator",
        Command::new(&exe)
            .args(["sim", "--exit-with-stdin", "--drop-copy"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--lps")
            .arg(lps_path)
            .args(["--seed", &opts.seed.to_string()])
            .args(["--speed", &opts.speed.to_string()])
            .args(["--duration-s", &duration.to_string()])
            .arg("--sync-scoreboard")
            .arg(&board)
            .args(opts.fix_session.then_some("--drop-copy-logon"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(file(&dir.join("sim.log"))?),
    )?;
    let sim_out = sim.child.stdout.take().ok_or("no simulator stdout")?;
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut l = String::new();
        let _ = BufReader::new(sim_out).read_line(&mut l);
        let _ = tx.send(l);
    });
    let sor_addr = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(l) if l.starts_with("listening ") => l["listening ".len()..].trim().to_string(),
        _ => {
            return Err(format!(
                "the simulator did not start (see {}):\n{}",
                dir.join("sim.log").display(),
                tail(&dir.join("sim.log"))
            ));
        }
    };

    // 3. The SOR.
    let mut sor = Proc::spawn(
        "SOR",
        Command::new(&exe)
            .args(["sim", "--exit-with-stdin", "--sor", "--scoreboard"])
            .arg(&board)
            .args(["--connect", &sor_addr, policy[0], policy[1]])
            .args(["--symbol", &lps.market.symbol, "--side", "sell"])
            .args(["--qty", &sc.parent_qty.to_string()])
            .args(["--start-ns", &parent_ns.to_string()])
            .args(["--window-s", &(sc.window_s as u64).to_string()])
            .args(["--wave-s", &(sc.wave_every_s as u64).to_string()])
            .args(["--wave-max", &sc.wave_max.to_string()])
            .args(["--capacity", &sc.initial_capacity.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(file(&dir.join("sor.log"))?),
    )?;
    let sor_out = sor.child.stdout.take().ok_or("no SOR stdout")?;
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for l in BufReader::new(sor_out).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut log = file(&dir.join("sor.jsonl"))?;
    let mut events = Vec::new();
    let mut live = Timeline::new(sc.start_ns, opts.profile.clone());
    let deadline = monotonic_ns() + 600_000_000_000;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let _ = writeln!(log, "{line}");
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if let Some(text) = live.on_event(&v) {
                    if opts.live {
                        Progress::say(opts.progress.as_ref(), true, &format!("  {text}"));
                    }
                }
                if let (Some(p), Some(t)) = (&opts.progress, v.get("t_ns").and_then(Value::as_u64))
                {
                    p.clock(
                        mmss_since(sc.start_ns, t),
                        v.get("filled").and_then(Value::as_u64),
                    );
                }
                events.push(v);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if signals::requested() > 0 {
            return Err(
                "interrupted: the appliance, the simulator and the SOR were stopped".into(),
            );
        }
        if monotonic_ns() > deadline {
            return Err("the run took more than 10 minutes: stopped".into());
        }
        if sim.exited().is_some() && sor.exited().is_some() {
            // Both gone, but the reader thread may still hold the SOR's last lines (its "done"
            // line among them): take everything until the pipe's end, within a bound.
            let drain_until = monotonic_ns() + 10_000_000_000;
            while monotonic_ns() < drain_until {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(line) => {
                        let _ = writeln!(log, "{line}");
                        if let Ok(v) = serde_json::from_str::<Value>(&line) {
                            if let Some(text) = live.on_event(&v) {
                                if opts.live {
                                    Progress::say(
                                        opts.progress.as_ref(),
                                        true,
                                        &format!("  {text}"),
                                    );
                                }
                            }
                            events.push(v);
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            break;
        }
    }
    if signals::requested() > 0 {
        return Err("interrupted: the appliance, the simulator and the SOR were stopped".into());
    }
    let sor_status = sor.wait_for(Duration::from_secs(10));
    let sim_status = sim.wait_for(Duration::from_secs(10));
    let app_status = appliance.terminate(Duration::from_secs(20));
    let ok = |s: Option<std::process::ExitStatus>| s.is_some_and(|s| s.success());
    if !ok(sor_status) || !ok(sim_status) {
        return Err(format!(
            "the run failed (SOR {sor_status:?}, simulator {sim_status:?}); logs in {}:\n{}\n{}",
            dir.display(),
            tail(&dir.join("sor.log")),
            tail(&dir.join("sim.log"))
        ));
    }
    if !ok(app_status) {
        return Err(format!(
            "the appliance did not stop cleanly ({app_status:?}); see {}:\n{}",
            dir.join("appliance.log").display(),
            tail(&dir.join("appliance.log"))
        ));
    }
    let outcome = outcome(&events, &sc, live)?;
    let parse_errors = std::fs::read_to_string(dir.join("appliance.log"))
        .unwrap_or_default()
        .split("parse_errors=")
        .skip(1)
        .filter_map(|s| {
            s.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    Ok(RunResult {
        outcome,
        dir,
        parse_errors,
    })
}

/// The outcome of a run, from the SOR's events.
fn outcome(events: &[Value], sc: &Scenario, live: Timeline) -> Result<Outcome, String> {
    let field = |v: &Value, k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    let u = |v: &Value, k: &str| field(v, k).as_u64().unwrap_or(0);
    let ev = |e: &'static str| events.iter().filter(move |v| field(v, "ev") == e);
    let start = ev("start").next().ok_or("the SOR printed no start line")?;
    let done = ev("done")
        .next()
        .ok_or("the SOR did not finish (no done line)")?;
    let parent = ev("parent").next();
    let arrival_mid = parent
        .and_then(|p| field(p, "arrival_mid").as_f64())
        .unwrap_or(0.0);
    let parent_t = parent.map_or(0, |p| u(p, "t_ns"));
    let fills: Vec<ParentFill> = ev("fill")
        .map(|f| ParentFill {
            t_ns: u(f, "t_ns"),
            lp: field(f, "lp").as_str().unwrap_or("?").to_string(),
            qty: u(f, "qty"),
            px: field(f, "px").as_f64().unwrap_or(0.0),
        })
        .collect();
    let filled: u64 = fills.iter().map(|f| f.qty).sum();
    let notional: f64 = fills.iter().map(|f| f.qty as f64 * f.px).sum();
    let vwap = if filled > 0 {
        notional / filled as f64
    } else {
        0.0
    };
    let mut timeline = live.lines;
    let completion_s = (filled >= sc.parent_qty)
        .then(|| {
            fills
                .last()
                .map(|f| f.t_ns.saturating_sub(parent_t) as f64 * 1e-9)
        })
        .flatten();
    if completion_s.is_none() {
        timeline.push(format!(
            "{} window over: {filled} of {} shares filled",
            mmss_since(sc.start_ns, u(done, "t_ns")),
            sc.parent_qty
        ));
    }
    Ok(Outcome {
        policy: field(start, "policy").as_str().unwrap_or("?").to_string(),
        parent_qty: sc.parent_qty,
        filled,
        completion_s,
        arrival_mid,
        vwap,
        vwap_vs_arrival_bps: if filled > 0 && arrival_mid > 0.0 {
            sc.side.sign() * (arrival_mid - vwap) / arrival_mid * 1e4
        } else {
            0.0
        },
        children: u(done, "children") as u32,
        reroutes: u(done, "reroutes") as u32,
        rejects: u(done, "rejects") as u32,
        fills,
        timeline,
    })
}

fn mmss_since(start: u64, t: u64) -> String {
    let s = t.saturating_sub(start) / 1_000_000_000;
    format!("{:02}:{:02}", s / 60, s % 60)
}

/// The timeline (and the live log) from the SOR's events: waves, rank changes, score moves of 5
/// points or more, reroutes.
struct Timeline {
    start: u64,
    profile: String,
    lines: Vec<String>,
    leader: Option<String>,
    scores: Vec<(String, f64)>,
}

impl Timeline {
    fn new(start: u64, profile: String) -> Self {
        Self {
            start,
            profile,
            lines: Vec::new(),
            leader: None,
            scores: Vec::new(),
        }
    }

    /// Notes one SOR event; returns the live line for it, if any.
    fn on_event(&mut self, v: &Value) -> Option<String> {
        let t = mmss_since(self.start, v.get("t_ns")?.as_u64()?);
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
        let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        let mut out = Vec::new();
        match v.get("ev")?.as_str()? {
            "parent" => out.push(format!(
                "{t} parent order arrives: arrival mid {:.4}",
                v.get("arrival_mid")?.as_f64()?
            )),
            "wave" => {
                let pairs = |k: &str| -> Vec<(String, f64)> {
                    v.get(k)
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|p| {
                                    Some((p.get(0)?.as_str()?.to_string(), p.get(1)?.as_f64()?))
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                };
                let (plan, scores) = (pairs("plan"), pairs("scores"));
                let show = |x: &[(String, f64)], prec: usize| {
                    x.iter()
                        .map(|(a, b)| format!(" {a} {b:.prec$}"))
                        .collect::<String>()
                };
                if let Some((lead, _)) = scores.first() {
                    if self.leader.as_ref().is_some_and(|l| l != lead) {
                        out.push(format!(
                            "{t} rank change: {lead} now leads ({})",
                            show(&scores, 1).trim()
                        ));
                    }
                    self.leader = Some(lead.clone());
                }
                for (lp, sc) in &scores {
                    match self.scores.iter_mut().find(|x| &x.0 == lp) {
                        Some(prev) if (sc - prev.1).abs() >= 5.0 => {
                            out.push(format!("{t} score: {lp} {:.1} -> {sc:.1}", prev.1));
                            prev.1 = *sc;
                        }
                        Some(_) => {}
                        None => self.scores.push((lp.clone(), *sc)),
                    }
                }
                let mut w = format!("{t} wave {}:{}", n("qty"), show(&plan, 0));
                if !scores.is_empty() {
                    w.push_str(&format!(" | {}:{}", self.profile, show(&scores, 1)));
                }
                w.push_str(&format!(" | filled {}", n("filled")));
                out.insert(0, w);
            }
            "reroute" => out.push(format!(
                "{t} reroute: {} of {} unfilled at {} -> {}",
                n("qty"),
                n("of"),
                s("from"),
                s("to")
            )),
            _ => return None,
        }
        self.lines.extend(out.iter().cloned());
        Some(out.join("\n  "))
    }
}

/// With a terminal attached but the console off (`--no-console`), says how to watch the run's
/// scoreboard from another terminal.
pub fn console_hook(config: &Path) {
    if std::io::stdout().is_terminal() {
        println!(
            "  (watch the scores meanwhile: lpscore top --config {})",
            config.display()
        );
    }
}

/// Ctrl-C pressed in the console (raw mode: the terminal sent no SIGINT): does what the
/// terminal's Ctrl-C does, in an order without a race: this process's shutdown flag first (so
/// the run reports an interruption, not a failure, when the children die), then SIGINT to each
/// running child.
pub fn interrupt() {
    signals::request();
    let pids = running();
    for &pid in pids.iter() {
        // SAFETY: kill(2) on our own child, not reaped yet: it stays in `RUNNING`, whose lock we
        // hold, until reaped, so the pid cannot have been reused.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::config::RuntimeConfig;

    /// The demo's appliance configuration is the shipped example with the run's overrides, and
    /// it validates like any configuration.
    #[test]
    fn the_demo_runs_the_example_configuration_with_its_overrides() {
        let lps = LpsFile::parse(include_str!("../../config/lps.toml")).unwrap();
        let dir = std::env::temp_dir();
        let text = appliance_config(
            &dir,
            9999,
            &lps,
            Speed::Times(60.0),
            true,
            Some(&dir.join("c.sock")),
        );
        // The example's comments came along.
        assert!(
            text.contains("# Socket backend of the hot threads"),
            "{text}"
        );
        let cfg = RuntimeConfig::from_toml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert!(cfg.idle.enabled);
        assert_eq!(cfg.scoreboard, dir.join("scoreboard"));
        assert_eq!(cfg.journal.dir, dir.join("journal"));
        assert_eq!(cfg.groups.len(), 1);
        assert_eq!(cfg.groups[0].core, None);
        let s = &cfg.groups[0].sessions[0];
        assert_eq!(s.listen, Some("127.0.0.1:9999".parse().unwrap()));
        assert!(s.fix.is_some());
        assert_eq!(cfg.control.socket, Some(dir.join("c.sock")));
        assert_eq!(cfg.metrics.listen, None);
        assert_eq!(cfg.log.file, None);
        let names: Vec<&str> = lps.lp.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(cfg.engine.lps, names);
        // Time constants divided by the speed: 60 s half-life -> 1 s.
        assert_eq!(cfg.engine.fast_half_life_ns, 1_000_000_000);
        assert_eq!(cfg.engine.horizons_ns[1], 1_000_000_000 / 60);
    }
}
