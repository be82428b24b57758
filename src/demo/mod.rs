//! `lpscore demo`: the feedback loop of the seed's scenario, end to end.
//!
//! A portfolio manager sells 200 000 ACME (ADV 1 M) within 30 minutes. The firm's router works the
//! order in waves of IOC child orders; the LPs fill, reject and leak; the scoring engine reads the
//! FIX drop copy of all of it and publishes scores to a shared-memory scoreboard; the router reads
//! that scoreboard (through `lpscore-shm`, as any SOR would) before every decision. Part-way
//! through, LP_A (the early leader) degrades.
//!
//! The scenario runs twice on the same simulated market and seed: once routed by the scorecard,
//! once statically to LP_A. The result table compares them, honestly: if the scorecard loses on a
//! seed, the table says so.
//!
//! Two ways to run it:
//! - [`run`] (the default of `lpscore demo`): three processes over loopback FIX ([`procs`]): the
//!   appliance (`lpscore run`), the simulator (`lpscore sim`) and the example SOR
//!   (`shm/examples/sor.rs`, reading the appliance's scoreboard through `lpscore-shm`);
//! - [`run_in_process`] (`lpscore demo --in-process`): the simulator, the engine and a router in
//!   one process, talking through real FIX bytes and a real scoreboard file; fast and
//!   deterministic (the same seed gives the same table, bit for bit).

pub mod procs;
pub mod router;
pub mod sor_process;
pub mod world;

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use lpscore_shm::{Scoreboard, monotonic_ns};

use crate::engine::{Engine, EngineConfig, FixFeed, ShmSink, writer_options};
use crate::sim::lp::LpsFile;

use router::Policy;
use world::{DropCopy, Outcome, Run, Scenario};

pub use crate::sim::Speed;

/// The demo's knobs.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub seed: u64,
    pub speed: Speed,
    /// The LP file's text (`config/lps.toml` when not given).
    pub lps: String,
    /// The profile the router uses.
    pub profile: String,
    /// Where the two scoreboard files go.
    pub dir: PathBuf,
    /// Print the live lines.
    pub live: bool,
    /// Three-process run: the drop copy is a FIX session (Logon, sequence numbers checked by the
    /// appliance's session layer) rather than a raw stream.
    pub fix_session: bool,
    /// The live console's feed (`lpscore demo` on a terminal): the live lines go here instead of
    /// stdout, and each run's appliance serves a control socket for the console.
    pub progress: Option<Arc<Progress>>,
}

/// Lines kept for the console's log panel.
const RECENT_LINES: usize = 16;

/// What the console shows while the runs go (written by the run, a worker thread; read by the
/// console on the main thread), and the live lines held back while the console owns the
/// terminal.
#[derive(Debug, Default)]
pub struct Progress {
    inner: Mutex<ProgressInner>,
}

#[derive(Debug, Default)]
struct ProgressInner {
    /// The console owns the terminal: hold the lines back.
    holding: bool,
    held: Vec<String>,
    recent: VecDeque<String>,
    /// "run 1/2: scorecard routing (Block)".
    run: String,
    seed: u64,
    speed: String,
    /// The run's scoreboard and control socket, once its configuration is written.
    scoreboard: Option<PathBuf>,
    socket: Option<PathBuf>,
    /// The preview's transform scales: the generated configuration's.
    transforms: crate::score::Transforms,
    profile: Option<String>,
    /// Simulated time since the scenario's start (m:ss), shares filled and the parent's size.
    clock: Option<String>,
    filled: u64,
    qty: u64,
}

impl Progress {
    /// A feed that holds the lines back until [`Progress::release`].
    pub fn holding(seed: u64, speed: Speed) -> Self {
        Self {
            inner: Mutex::new(ProgressInner {
                holding: true,
                seed,
                speed: speed.to_string(),
                ..ProgressInner::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProgressInner> {
        // A panic elsewhere while holding it leaves plain data: keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One live line (may hold several lines): printed now, or held while the console runs.
    pub fn line(&self, text: &str) {
        let mut g = self.lock();
        for l in text.lines() {
            if g.recent.len() == RECENT_LINES {
                g.recent.pop_front();
            }
            g.recent.push_back(l.trim().to_string());
            if g.holding {
                g.held.push(l.to_string());
            } else {
                // Printed under the lock: the order of the lines is kept across threads.
                println!("{l}");
            }
        }
    }

    /// A new run starts: its title and what the console should read.
    fn start_run(&self, title: String, profile: Option<String>, qty: u64) {
        let mut g = self.lock();
        g.run = title;
        g.profile = profile;
        g.scoreboard = None;
        g.socket = None;
        g.clock = None;
        g.filled = 0;
        g.qty = qty;
    }

    /// The run's appliance configuration is written: the console may read its scoreboard.
    fn source(&self, config: &Path, scoreboard: PathBuf, socket: Option<PathBuf>) {
        let transforms = crate::runtime::config::RuntimeConfig::load(config)
            .map(|c| c.engine.transforms)
            .unwrap_or_default();
        let mut g = self.lock();
        g.transforms = transforms;
        g.scoreboard = Some(scoreboard);
        g.socket = socket;
    }

    /// The simulated clock (m:ss since the scenario's start) and the shares filled so far.
    fn clock(&self, clock: String, filled: Option<u64>) {
        let mut g = self.lock();
        g.clock = Some(clock);
        if let Some(f) = filled {
            g.filled = f;
        }
    }

    /// The console's view: its title, the recent lines and the run's scoreboard.
    pub fn view(&self, refresh: std::time::Duration) -> crate::console::app::HostView {
        use crate::console::app::{HostView, Options};
        let g = self.lock();
        // Most important first: a narrow terminal cuts the end.
        let mut title = format!("lpscore demo  {}", g.run);
        if let Some(c) = &g.clock {
            title.push_str(&format!("  sim {c}"));
        }
        if g.qty > 0 {
            title.push_str(&format!("  filled {}/{}", g.filled, g.qty));
        }
        title.push_str(&format!("  seed {}  speed {}", g.seed, g.speed));
        let source = g.scoreboard.clone().map(|scoreboard| Options {
            scoreboard,
            socket: g.socket.clone(),
            refresh,
            transforms: g.transforms,
        });
        HostView {
            embed: crate::console::model::Embed {
                title,
                log: g.recent.iter().cloned().collect(),
            },
            source,
            profile: g.profile.clone(),
        }
    }

    /// The console closed: print the held lines; the next ones go straight to stdout.
    pub fn release(&self) {
        let mut g = self.lock();
        g.holding = false;
        for l in std::mem::take(&mut g.held) {
            println!("{l}");
        }
    }

    /// Prints (or holds) a live line; without a feed, prints it when `live`.
    fn say(p: Option<&Arc<Progress>>, live: bool, text: &str) {
        match p {
            Some(p) => p.line(text),
            None if live => println!("{text}"),
            None => {}
        }
    }
}

/// Both runs, and where their scoreboards were.
#[derive(Debug)]
pub struct DemoReport {
    pub scorecard: Outcome,
    pub static_: Outcome,
    pub scoreboards: [PathBuf; 2],
    pub engine_parse_errors: u64,
}

/// The engine behind the drop copy.
struct Feed {
    feed: FixFeed<ShmSink>,
    parse_errors: u64,
}

impl DropCopy for Feed {
    fn message(&mut self, ts_ns: u64, bytes: &[u8]) {
        if self.feed.on_fix(ts_ns, 0, bytes).is_err() {
            self.parse_errors += 1;
        }
    }
    fn tick(&mut self, ts_ns: u64) {
        self.feed.engine.tick(ts_ns);
    }
}

fn engine_config(lps: &LpsFile) -> EngineConfig {
    EngineConfig {
        max_lps: 16,
        max_symbols: 16,
        max_cells: 4096,
        max_orders: 1 << 16,
        dedup_window: 1 << 16,
        fill_ring: 1 << 16,
        markout_queue: 1 << 16,
        lps: lps.lp.iter().map(|l| l.name.clone()).collect(),
        ..EngineConfig::default()
    }
}

/// Runs one policy; `policy_of` picks it once the scoreboard exists.
fn run_one(
    opts: &DemoOptions,
    lps: &LpsFile,
    path: &Path,
    policy_of: impl Fn(&Scoreboard) -> Result<(Policy, String), String>,
    live: bool,
) -> Result<(Outcome, u64), String> {
    let cfg = engine_config(lps);
    let _ = std::fs::remove_file(path);
    let writer = lpscore_shm::Writer::create(path, &writer_options(&cfg))
        .map_err(|e| format!("cannot create the scoreboard {}: {e}", path.display()))?;
    let sink = ShmSink::new(writer, &cfg);
    let engine =
        Engine::new(cfg.clone(), sink).map_err(|e| format!("engine configuration: {}", e.0))?;
    let feed = Feed {
        feed: FixFeed::new(engine),
        parse_errors: 0,
    };
    let board =
        Scoreboard::open(path).map_err(|e| format!("cannot map {}: {e}", path.display()))?;
    let (policy, label) = policy_of(&board)?;
    let sc = Scenario {
        seed: opts.seed,
        ..Scenario::default()
    };
    let start_ns = sc.start_ns;
    let mut run = Run::new(sc, lps, &board, policy, &label, feed)?;
    if live {
        run.on_wave = Some(Box::new(|line: &str| println!("  {line}")));
    }
    let wall0 = monotonic_ns();
    while let Some(t) = run.next_time() {
        if let Speed::Times(x) = opts.speed {
            let due = wall0 + ((t - start_ns) as f64 / x) as u64;
            let now = monotonic_ns();
            if due > now + 1_000_000 {
                std::thread::sleep(std::time::Duration::from_nanos(due - now));
            }
        }
        if !run.step() {
            break;
        }
    }
    let errors = run.drop_copy().parse_errors;
    Ok((run.finish(), errors))
}

/// Runs the scenario under both policies, three processes each (see [`procs`]).
pub fn run(opts: &DemoOptions) -> Result<DemoReport, String> {
    let lps = LpsFile::parse(&opts.lps)?;
    std::fs::create_dir_all(&opts.dir)
        .map_err(|e| format!("cannot create {}: {e}", opts.dir.display()))?;
    let lps_path = opts.dir.join("lps.toml");
    std::fs::write(&lps_path, &opts.lps)
        .map_err(|e| format!("cannot write {}: {e}", lps_path.display()))?;
    let first = lps.lp[0].name.clone();
    let runs: [(&str, [&str; 2]); 2] = [
        ("scorecard", ["--profile", &opts.profile]),
        ("static", ["--static", &first]),
    ];
    let mut out = Vec::new();
    let sc = Scenario::default();
    for (i, (name, policy)) in runs.into_iter().enumerate() {
        let what = match name {
            "scorecard" => format!("scorecard routing ({})", opts.profile),
            _ => format!("static routing to {first}, same market and seed"),
        };
        if let Some(p) = &opts.progress {
            let short = match name {
                "scorecard" => format!("scorecard routing ({})", opts.profile),
                _ => format!("static routing to {first}"),
            };
            // Both runs show the router's profile: the static run's LPs under the same lens.
            p.start_run(
                format!("run {}/2: {short}", i + 1),
                Some(opts.profile.clone()),
                sc.parent_qty,
            );
        }
        if opts.live {
            Progress::say(
                opts.progress.as_ref(),
                true,
                &format!(
                    "{what}: appliance + simulator + SOR, speed {}, run dir {}",
                    opts.speed,
                    opts.dir.join(name).display()
                ),
            );
            if opts.progress.is_none() {
                procs::console_hook(&opts.dir.join(name).join("lpscore.toml"));
            }
        }
        out.push(procs::run_policy(opts, &lps, &lps_path, name, policy)?);
    }
    let parse_errors = out.iter().map(|r| r.parse_errors).sum();
    let mut it = out.into_iter();
    let (a, b) = (it.next().expect("two runs"), it.next().expect("two runs"));
    Ok(DemoReport {
        scoreboards: [a.dir.join("scoreboard"), b.dir.join("scoreboard")],
        scorecard: a.outcome,
        static_: b.outcome,
        engine_parse_errors: parse_errors,
    })
}

/// Runs the scenario under both policies in this process (`lpscore demo --in-process`).
pub fn run_in_process(opts: &DemoOptions) -> Result<DemoReport, String> {
    let lps = LpsFile::parse(&opts.lps)?;
    std::fs::create_dir_all(&opts.dir)
        .map_err(|e| format!("cannot create {}: {e}", opts.dir.display()))?;
    let paths = [
        opts.dir.join("scorecard.scoreboard"),
        opts.dir.join("static.scoreboard"),
    ];
    let first = lps.lp[0].name.clone();
    if opts.live {
        println!(
            "scorecard routing ({}), scoreboard {} (try `lpscore dump --scoreboard {}` meanwhile):",
            opts.profile,
            paths[0].display(),
            paths[0].display()
        );
    }
    let profile = opts.profile.clone();
    let (scorecard, e1) = run_one(
        opts,
        &lps,
        &paths[0],
        |b| {
            let p = b
                .profile(&profile)
                .ok_or_else(|| format!("no profile named {profile:?} in the scoreboard"))?;
            Ok((Policy::Scorecard(p), profile.clone()))
        },
        opts.live,
    )?;
    if opts.live {
        println!("static routing to {first}, same market and seed (not paced)...");
    }
    let fast = DemoOptions {
        speed: Speed::Max,
        ..opts.clone()
    };
    let (static_, e2) = run_one(
        &fast,
        &lps,
        &paths[1],
        |b| {
            let lp = b.lp(&first).ok_or_else(|| format!("LP {first} missing"))?;
            Ok((Policy::Static(lp), first.clone()))
        },
        false,
    )?;
    Ok(DemoReport {
        scorecard,
        static_,
        scoreboards: paths,
        engine_parse_errors: e1 + e2,
    })
}

fn mmss(s: f64) -> String {
    let s = s.round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

/// The result table, the verdict and the scorecard run's timeline of rank changes and reroutes.
pub fn render(r: &DemoReport) -> String {
    let mut o = String::new();
    let (a, b) = (&r.scorecard, &r.static_);
    let _ = writeln!(
        o,
        "\ntimeline of the scorecard run (score changes, rank changes, reroutes):"
    );
    for line in a.timeline.iter().filter(|l| !l.contains(" wave ")) {
        let _ = writeln!(o, "  {line}");
    }
    let done = |x: &Outcome| match x.completion_s {
        Some(s) => mmss(s),
        None => format!("not done: {} left", x.parent_qty - x.filled),
    };
    let _ = writeln!(
        o,
        "\nresult: sell {} ACME, arrival mid {:.4}",
        a.parent_qty, a.arrival_mid
    );
    let _ = writeln!(o, "  {:<26} {:>22} {:>22}", "", a.policy, b.policy);
    let rows: [(&str, String, String); 7] = [
        ("completion time (m:ss)", done(a), done(b)),
        (
            "fill rate",
            format!("{:.1}%", 100.0 * a.filled as f64 / a.parent_qty as f64),
            format!("{:.1}%", 100.0 * b.filled as f64 / b.parent_qty as f64),
        ),
        ("VWAP", format!("{:.4}", a.vwap), format!("{:.4}", b.vwap)),
        (
            "VWAP vs arrival (bps)",
            format!("{:+.2}", a.vwap_vs_arrival_bps),
            format!("{:+.2}", b.vwap_vs_arrival_bps),
        ),
        (
            "child orders",
            a.children.to_string(),
            b.children.to_string(),
        ),
        ("reroutes", a.reroutes.to_string(), b.reroutes.to_string()),
        ("rejects", a.rejects.to_string(), b.rejects.to_string()),
    ];
    for (k, x, y) in rows {
        let _ = writeln!(o, "  {k:<26} {x:>22} {y:>22}");
    }
    let _ = writeln!(o, "  verdict: {}", verdict(a, b));
    if r.engine_parse_errors > 0 {
        let _ = writeln!(
            o,
            "  (the engine refused {} drop-copy messages)",
            r.engine_parse_errors
        );
    }
    o
}

/// One honest sentence: who won on what.
pub fn verdict(a: &Outcome, b: &Outcome) -> String {
    let mut parts = Vec::new();
    match (a.completion_s, b.completion_s) {
        (Some(x), Some(y)) if x < y => {
            parts.push(format!("the scorecard finished {} sooner", mmss(y - x)))
        }
        (Some(x), Some(y)) => parts.push(format!("static finished {} sooner", mmss(x - y))),
        (Some(_), None) => {
            parts.push("only the scorecard completed the order in the window".into())
        }
        (None, Some(_)) => {
            parts.push("only static routing completed the order in the window".into())
        }
        (None, None) => parts.push(format!(
            "neither completed ({} vs {} shares filled)",
            a.filled, b.filled
        )),
    }
    let d = a.vwap_vs_arrival_bps - b.vwap_vs_arrival_bps;
    if a.filled > 0 && b.filled > 0 {
        if d >= 0.0 {
            parts.push(format!("its VWAP was {d:.2} bps better against arrival"));
        } else {
            parts.push(format!(
                "but its VWAP was {:.2} bps worse against arrival",
                -d
            ));
        }
    }
    parts.join("; ")
}

/// One JSON line with the figures, for scripts.
pub fn json_line(r: &DemoReport) -> String {
    let f = |o: &Outcome| {
        format!(
            "{{\"policy\":\"{}\",\"filled\":{},\"completion_s\":{},\"vwap\":{:.6},\"vwap_vs_arrival_bps\":{:.4},\"children\":{},\"reroutes\":{},\"rejects\":{}}}",
            o.policy,
            o.filled,
            o.completion_s.map_or("null".into(), |s| format!("{s:.3}")),
            o.vwap,
            o.vwap_vs_arrival_bps,
            o.children,
            o.reroutes,
            o.rejects
        )
    };
    format!(
        "{{\"demo\":\"acme_200k\",\"parent_qty\":{},\"arrival_mid\":{:.6},\"scorecard\":{},\"static\":{}}}",
        r.scorecard.parent_qty,
        r.scorecard.arrival_mid,
        f(&r.scorecard),
        f(&r.static_)
    )
}

/// The parent fills of both runs as CSV (policy, t_ns, lp, qty, px): the journal of fills the
/// result table is computed from.
pub fn fills_csv(r: &DemoReport) -> String {
    let mut o = String::from("policy,t_ns,lp,qty,px\n");
    for out in [&r.scorecard, &r.static_] {
        for f in &out.fills {
            let _ = writeln!(
                o,
                "{},{},{},{},{:.6}",
                out.policy, f.t_ns, f.lp, f.qty, f.px
            );
        }
    }
    o
}

#[cfg(test)]
mod progress_tests {
    use super::*;

    #[test]
    fn progress_holds_lines_titles_the_run_and_points_at_its_board() {
        let p = Progress::holding(11, Speed::Max);
        let v = p.view(std::time::Duration::from_millis(250));
        assert!(v.source.is_none() && v.embed.log.is_empty());
        p.start_run(
            "run 1/2: scorecard routing (Block)".into(),
            Some("Block".into()),
            200_000,
        );
        for i in 0..40 {
            p.line(&format!("  line {i}\n  more {i}"));
        }
        p.clock("12:00".into(), Some(80_000));
        let dir = std::env::temp_dir();
        p.source(&dir.join("no-such-config.toml"), dir.join("sb"), None);
        let v = p.view(std::time::Duration::from_millis(250));
        assert_eq!(
            v.embed.title,
            "lpscore demo  run 1/2: scorecard routing (Block)  sim 12:00  filled 80000/200000  \
             seed 11  speed max"
        );
        // The panel's lines: the most recent, bounded, trimmed.
        assert_eq!(v.embed.log.len(), RECENT_LINES);
        assert_eq!(v.embed.log.last().map(String::as_str), Some("more 39"));
        assert_eq!(v.source.map(|o| o.scoreboard), Some(dir.join("sb")));
        assert_eq!(v.profile.as_deref(), Some("Block"));
        // Every line is held (none lost to the bound) until the console closes.
        assert_eq!(p.lock().held.len(), 80);
        p.release();
        assert!(p.lock().held.is_empty() && !p.lock().holding);
        // A new run forgets the old board and clock.
        p.start_run("run 2/2: static routing to LP_A".into(), None, 200_000);
        let v = p.view(std::time::Duration::from_millis(250));
        assert!(v.source.is_none() && !v.embed.title.contains("sim "));
    }
}
