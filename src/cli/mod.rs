//! The command line: argument parsing and dispatch. Each command lives in its own file and returns
//! an exit code; errors are printed by `main` with the path, the cause and the fix.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo;
mod doctor;
pub mod dump;
pub mod replay;
pub mod run;
pub mod sim;
pub mod top;
pub mod weights;

/// lpscore: a liquidity-provider scorecard for smart order routers.
#[derive(Debug, Parser)]
#[command(name = "lpscore", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The seed's scenario end to end: scorecard routing against static routing.
    Demo(demo::DemoArgs),
    /// Check this host's tuning for low latency and print what to fix (tuning/check-host).
    Doctor(doctor::DoctorArgs),
    /// Print the live scoreboard as any reader sees it (table, JSON lines or CSV).
    Dump(dump::DumpArgs),
    /// Run the appliance: FIX sessions in, scores out (see config/lpscore.toml).
    Run(run::RunArgs),
    /// Feed journals and FIX logs through the engine; print the KPI table.
    Replay(replay::ReplayArgs),
    /// The LP and market simulator as FIX counterparties (used by the demo).
    Sim(sim::SimArgs),
    /// The review and calibration console.
    Top(top::TopArgs),
    /// Show or change profile weights on the running appliance (persisted to the configuration).
    Weights(weights::WeightsArgs),
}

/// Parses the arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Doctor(args) => doctor::run(&args),
        Command::Dump(args) => dump::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Sim(args) => sim::run(&args),
        Command::Top(args) => top::run(&args),
        Command::Weights(args) => weights::run(&args),
    }
}
