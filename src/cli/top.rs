//! `lpscore top`: the review and calibration console (see docs/console.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::dump::DEFAULT_SCOREBOARD;
use crate::console::app::{Options, run as run_console};
use crate::runtime::config::RuntimeConfig;

#[derive(Debug, Args)]
pub struct TopArgs {
    /// The scoreboard file (default: the --config file's, else the appliance's default).
    #[arg(long)]
    pub scoreboard: Option<PathBuf>,
    /// The control socket (to apply weights); default: the --config file's `[control] socket`.
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// The appliance's runtime configuration: scoreboard path, control socket, transform scales.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Refresh period, ms.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub refresh_ms: u64,
}

pub fn run(args: &TopArgs) -> ExitCode {
    let cfg = match &args.config {
        Some(p) => match RuntimeConfig::load(p) {
            Ok(c) => Some(c),
            Err(e) => {
                // The error names the field (or the file itself when it cannot be read).
                if e.field == p.display().to_string() {
                    eprintln!("lpscore top: {e}");
                } else {
                    eprintln!("lpscore top: {}: {e}", p.display());
                }
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let scoreboard = args
        .scoreboard
        .clone()
        .or_else(|| cfg.as_ref().map(|c| c.scoreboard_of(0)))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SCOREBOARD));
    let socket = args
        .socket
        .clone()
        .or_else(|| cfg.as_ref().and_then(|c| c.control.socket.clone()));
    let opts = Options {
        scoreboard,
        socket,
        refresh: Duration::from_millis(args.refresh_ms),
        transforms: cfg.map(|c| c.engine.transforms).unwrap_or_default(),
    };
    match run_console(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "lpscore top: terminal: {e} (it needs an interactive terminal; for a script use \
                 `lpscore dump`)"
            );
            ExitCode::from(1)
        }
    }
}
