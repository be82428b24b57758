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

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

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
    for (name, policy) in runs {
        if opts.live {
            let what = match name {
                "scorecard" => format!("scorecard routing ({})", opts.profile),
                _ => format!("static routing to {first}, same market and seed"),
            };
            println!(
                "{what}: appliance + simulator + SOR, speed {}, run dir {}",
                opts.speed,
                opts.dir.join(name).display()
            );
            procs::console_hook(&opts.dir.join(name).join("scoreboard"));
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
