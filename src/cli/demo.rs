//! `lpscore demo`: the seed's scenario, scorecard routing against static routing (see
//! `lpscore::demo`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;

use crate::console::{self, app::EmbedExit};
use crate::demo::{self, DemoOptions, DemoReport, Progress, Speed};
use crate::sim::lp::LpsFile;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seed of the simulated market and LPs: the same seed gives the same market and LPs (and,
    /// `--in-process`, the same run bit for bit; with three processes the scores, and so the
    /// routing, also depend on when the appliance read each message).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Simulated seconds per wall-clock second, or `max` (not paced; the appliance's latency
    /// and markout figures are then not meaningful, fills and prices are).
    #[arg(long, default_value = "60")]
    pub speed: Speed,
    /// LP behaviour file (default: the seed's four LPs, config/lps.toml).
    #[arg(long)]
    pub lps: Option<PathBuf>,
    /// The profile the scorecard router uses.
    #[arg(long, default_value = "Block")]
    pub profile: String,
    /// Run the simulator, the engine and the router in this process (fast, deterministic)
    /// instead of the three processes over loopback FIX.
    #[arg(long)]
    pub in_process: bool,
    /// Stream the drop copy raw instead of over a FIX session (Logon, heartbeats, sequence
    /// numbers checked by the appliance's session layer).
    #[arg(long)]
    pub raw_drop_copy: bool,
    /// Run directory: configurations, scoreboards, journals, logs (kept after the run).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Write the parent order's fills of both runs to this CSV file.
    #[arg(long)]
    pub fills: Option<PathBuf>,
    /// Only the result table and the JSON line.
    #[arg(long)]
    pub quiet: bool,
    /// No live console on a terminal: the compact log instead (as when not on a terminal).
    #[arg(long)]
    pub no_console: bool,
}

/// Refresh period of the demo's console.
const CONSOLE_REFRESH: Duration = Duration::from_millis(250);

/// Sets the flag when dropped: the console closes however the run ends (an error, a panic).
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        // Release: the console's Acquire load sees every line the run pushed before.
        self.0.store(true, Ordering::Release);
    }
}

/// Runs the three-process demo on a worker thread while the console shows it on this one
/// (which owns the terminal); the held lines are printed when the console closes.
fn run_with_console(opts: DemoOptions) -> Result<DemoReport, String> {
    let progress = Arc::new(Progress::holding(opts.seed, opts.speed));
    let opts = DemoOptions {
        progress: Some(Arc::clone(&progress)),
        ..opts
    };
    let done = Arc::new(AtomicBool::new(false));
    let flag = SetOnDrop(Arc::clone(&done));
    let worker = std::thread::Builder::new()
        .name("demo".into())
        .spawn(move || {
            let _flag = flag;
            demo::run(&opts)
        })
        .map_err(|e| format!("cannot start the demo thread: {e}"))?;
    let shown =
        console::app::run_embedded(CONSOLE_REFRESH, &done, || progress.view(CONSOLE_REFRESH));
    progress.release();
    match shown {
        Ok(EmbedExit::Stopped) => {}
        Ok(EmbedExit::Quit) => println!("(console closed; the run goes on)"),
        Ok(EmbedExit::Interrupted) => demo::procs::interrupt(),
        Err(e) => eprintln!("lpscore demo: no console ({e}); the compact log follows"),
    }
    worker
        .join()
        .unwrap_or_else(|_| Err("the demo thread panicked".into()))
}

pub fn run(args: &DemoArgs) -> ExitCode {
    let lps = match &args.lps {
        None => LpsFile::DEFAULT.to_string(),
        Some(p) => match std::fs::read_to_string(p) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("lpscore demo: cannot read the LP file {}: {e}", p.display());
                return ExitCode::from(2);
            }
        },
    };
    let dir = args.dir.clone().unwrap_or_else(|| {
        let shm = PathBuf::from("/dev/shm");
        let base = if shm.is_dir() {
            shm
        } else {
            std::env::temp_dir()
        };
        base.join(format!("lpscore-demo-{}", std::process::id()))
    });
    let opts = DemoOptions {
        seed: args.seed,
        speed: args.speed,
        lps,
        profile: args.profile.clone(),
        dir: dir.clone(),
        live: !args.quiet,
        fix_session: !args.raw_drop_copy,
        progress: None,
    };
    // The console needs the terminal both ways (keys in, screen out).
    let console = !args.quiet
        && !args.no_console
        && std::io::stdout().is_terminal()
        && std::io::stdin().is_terminal();
    let ran = if args.in_process {
        demo::run_in_process(&opts)
    } else {
        if let Err(e) = crate::runtime::signals::install() {
            eprintln!("lpscore demo: cannot install the SIGINT/SIGTERM handlers: {e}");
            return ExitCode::from(1);
        }
        if console {
            run_with_console(opts)
        } else {
            demo::run(&opts)
        }
    };
    let report = match ran {
        Ok(r) => r,
        Err(e) => {
            let what = args
                .lps
                .as_ref()
                .map_or(String::new(), |p| format!(" ({})", p.display()));
            eprintln!("lpscore demo{what}: {e}");
            if crate::runtime::signals::requested() > 0 {
                return ExitCode::from(130);
            }
            return ExitCode::from(1);
        }
    };
    print!("{}", demo::render(&report));
    if let Some(p) = &args.fills {
        if let Err(e) = std::fs::write(p, demo::fills_csv(&report)) {
            eprintln!("lpscore demo: cannot write {}: {e}", p.display());
            return ExitCode::from(1);
        }
    }
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!("{}", demo::json_line(&report));
    ExitCode::SUCCESS
}
