//! Threads, wiring and the clock seam.
pub mod clock;
