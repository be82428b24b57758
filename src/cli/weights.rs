//! `lpscore weights`: not built yet (see the open issue).

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct WeightsArgs {}

pub fn run(_args: &WeightsArgs) -> ExitCode {
    eprintln!("lpscore weights: not built yet");
    ExitCode::from(2)
}
