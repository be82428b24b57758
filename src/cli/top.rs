//! `lpscore top`: not built yet (see the open issue).

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct TopArgs {}

pub fn run(_args: &TopArgs) -> ExitCode {
    eprintln!("lpscore top: not built yet");
    ExitCode::from(2)
}
