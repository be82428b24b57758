//! `lpscore sim`: the LP and market simulator as FIX counterparties (see `lpscore::sim::net`).
//! `lpscore sim --sor ARGS...` runs the example SOR (`shm/examples/sor.rs`) instead: the demo
//! starts all its processes from this one binary.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::demo::world::Scenario;
use crate::sim::Speed;
use crate::sim::lp::LpsFile;
use crate::sim::net::{self, SimOptions};

#[derive(Debug, Args)]
pub struct SimArgs {
    /// The appliance's drop-copy acceptor (a `listen` session of its configuration).
    #[arg(long, value_name = "HOST:PORT", required_unless_present = "sor")]
    pub drop_copy: Option<SocketAddr>,
    /// Where the SOR connects (FIX 4.4, Logon first; port 0 picks a free one). The bound address
    /// is printed on the first line of stdout: `listening HOST:PORT`.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// LP behaviour file (default: the seed's four LPs, config/lps.toml).
    #[arg(long)]
    pub lps: Option<PathBuf>,
    /// Seed of the simulated market and LPs.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Simulated seconds per wall-clock second, or `max` (not paced).
    #[arg(long, default_value = "60")]
    pub speed: Speed,
    /// Stop after this many simulated seconds (the SOR normally logs out first).
    #[arg(long, default_value_t = 2400.0)]
    pub duration_s: f64,
    /// The appliance's scoreboard: before the SOR sees anything, wait until the appliance has
    /// scored every order ended so far (lockstep; the demo sets it).
    #[arg(long, value_name = "PATH")]
    pub sync_scoreboard: Option<PathBuf>,
    /// Log on to the drop-copy acceptor (a `fix` session of the appliance) instead of streaming
    /// raw messages.
    #[arg(long)]
    pub drop_copy_logon: bool,
    /// Exit when stdin reaches its end (the demo holds it open: no orphan if the demo dies).
    #[arg(long, hide = true)]
    pub exit_with_stdin: bool,
    /// Run the example SOR with the arguments that follow (see shm/examples/sor.rs).
    #[arg(long, hide = true, num_args = 0.., allow_hyphen_values = true, value_name = "ARGS")]
    pub sor: Option<Vec<String>>,
}

pub fn run(args: &SimArgs) -> ExitCode {
    if args.exit_with_stdin {
        std::thread::spawn(|| {
            let mut sink = [0u8; 256];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            std::process::exit(3);
        });
    }
    if let Some(sor_args) = &args.sor {
        let rc = crate::demo::sor_process::run_sor(sor_args);
        return ExitCode::from(rc.clamp(0, 255) as u8);
    }
    let Some(drop_copy) = args.drop_copy else {
        eprintln!("lpscore sim: --drop-copy HOST:PORT is required");
        return ExitCode::from(2);
    };
    let text = match &args.lps {
        None => LpsFile::DEFAULT.to_string(),
        Some(p) => match std::fs::read_to_string(p) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("lpscore sim: cannot read the LP file {}: {e}", p.display());
                return ExitCode::from(2);
            }
        },
    };
    let lps = match LpsFile::parse(&text) {
        Ok(l) => l,
        Err(e) => {
            let what = args
                .lps
                .as_ref()
                .map_or("config/lps.toml".into(), |p| p.display().to_string());
            eprintln!("lpscore sim: {what}: {e}");
            return ExitCode::from(2);
        }
    };
    if !(args.duration_s.is_finite() && args.duration_s > 0.0) {
        eprintln!("lpscore sim: --duration-s must be positive");
        return ExitCode::from(2);
    }
    let sc = Scenario::default();
    let opts = SimOptions {
        lps,
        seed: args.seed,
        speed: args.speed,
        start_ns: sc.start_ns,
        end_ns: sc.start_ns + (args.duration_s * 1e9) as u64,
        background_every_ms: sc.background_every_ms,
        listen: args.listen,
        drop_copy,
        connect_timeout: Duration::from_secs(30),
        sync_scoreboard: args.sync_scoreboard.clone(),
        drop_copy_logon: args.drop_copy_logon,
    };
    let r = net::run(&opts, |a| {
        println!("listening {a}");
    });
    match r {
        Ok(s) => {
            eprintln!(
                "lpscore sim: {} after {:.0} simulated s: {} drop-copy messages, {} SOR orders ({} refused), {} background orders, {} fills",
                s.end,
                s.sim_s,
                s.drop_copy_msgs,
                s.sor_orders,
                s.sor_rejected_invalid,
                s.background_orders,
                s.fills
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lpscore sim: {e}");
            ExitCode::from(1)
        }
    }
}
