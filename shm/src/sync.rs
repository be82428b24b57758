//! Atomics facade: `std` normally, `loom` under `--cfg loom` (crossbeam's `cfg(crossbeam_loom)`
//! primitive module). The seqlock uses only what is re-exported here, so the loom model tests check
//! the very code the readers run.
//!
//! ```
//! use lpscore_shm::sync::{AtomicU64, Ordering};
//! let a = AtomicU64::new(1);
//! assert_eq!(a.load(Ordering::Relaxed), 1);
//! ```

#[cfg(loom)]
pub use loom::sync::atomic::{AtomicU64, Ordering, fence};

#[cfg(not(loom))]
pub use core::sync::atomic::{AtomicU64, Ordering, fence};

/// Spin-wait hint between seqlock retries (`core::hint::spin_loop`; under loom, a yield so the
/// model checker runs the writer).
///
/// ```
/// lpscore_shm::sync::spin_loop();
/// ```
#[inline(always)]
pub fn spin_loop() {
    #[cfg(loom)]
    loom::hint::spin_loop();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}
