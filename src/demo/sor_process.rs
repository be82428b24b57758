//! The example SOR (`shm/examples/sor.rs`, which uses only `lpscore-shm` and std) compiled into
//! the lpscore binary, so that `lpscore demo` can run it as a process (`lpscore sim --sor ...`)
//! without a separate build. It is the same file, not a copy.

#[allow(dead_code)] // its `main` is for `cargo run -p lpscore-shm --example sor`
#[path = "../../shm/examples/sor.rs"]
mod sor_example;

/// Runs the example SOR with its command-line arguments; returns its exit code.
pub fn run_sor(args: &[String]) -> i32 {
    sor_example::run_sor(args)
}
