//! The `lpscore` binary: a thin CLI over the library (see `lpscore::cli`).
fn main() -> std::process::ExitCode {
    lpscore::cli::main()
}
