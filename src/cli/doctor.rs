//! `lpscore doctor`: the host check of `tuning/check-host`, embedded so the binary carries it.

use std::process::{Command, ExitCode};

use clap::Args;

/// The script itself, so `doctor` and `tuning/check-host` can never disagree.
const CHECK_HOST: &str = include_str!("../../tuning/check-host");

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The hot cores, e.g. `2,3` or `2-3` (default: the last core).
    #[arg(long)]
    pub cores: Option<String>,
    /// The NIC that carries the FIX traffic (default: the default route's).
    #[arg(long)]
    pub iface: Option<String>,
}

/// Runs the check; its exit status is the command's: 0 all good, 1 something to fix.
pub fn run(args: &DoctorArgs) -> ExitCode {
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(CHECK_HOST).arg("lpscore doctor");
    if let Some(c) = &args.cores {
        cmd.args(["--cores", c]);
    }
    if let Some(i) = &args.iface {
        cmd.args(["--iface", i]);
    }
    match cmd.status() {
        Ok(s) => ExitCode::from(s.code().unwrap_or(2).clamp(0, 255) as u8),
        Err(e) => {
            eprintln!(
                "lpscore doctor: cannot run bash ({e}); install bash or run tuning/check-host"
            );
            ExitCode::from(2)
        }
    }
}
