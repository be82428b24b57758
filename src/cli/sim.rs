//! `lpscore sim`: not built yet (see the open issue).

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct SimArgs {}

pub fn run(_args: &SimArgs) -> ExitCode {
    eprintln!("lpscore sim: not built yet");
    ExitCode::from(2)
}
