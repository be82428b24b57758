//! SIGINT / SIGTERM: the first one requests a clean shutdown (sessions closed, journal flushed,
//! scoreboard marked stopped); a second one exits at once (`_exit(130)`).
//!
//! The handler only touches an atomic and calls `_exit`, both async-signal-safe. The control
//! thread polls [`requested`] and stops the hot threads through their control queues.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU32, Ordering};

static SIGNALS: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_signal(_sig: libc::c_int) {
    // Relaxed: a flag polled by the control thread; nothing else is published through it.
    if SIGNALS.fetch_add(1, Ordering::Relaxed) >= 1 {
        // SAFETY: _exit is async-signal-safe and ends the process immediately.
        unsafe { libc::_exit(130) };
    }
}

/// Installs the handlers for SIGINT and SIGTERM.
pub fn install() -> std::io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; fields are set below.
        let mut sa: libc::sigaction = unsafe { core::mem::zeroed() };
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = libc::SA_RESTART;
        // SAFETY: `sa.sa_mask` is a valid sigset_t owned by `sa`.
        unsafe { libc::sigemptyset(&mut sa.sa_mask) };
        // SAFETY: `sa` is a fully initialised sigaction whose handler only does
        // async-signal-safe work; the old action is not requested.
        let rc = unsafe { libc::sigaction(sig, &sa, core::ptr::null_mut()) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// How many shutdown signals arrived (0: none).
pub fn requested() -> u32 {
    SIGNALS.load(Ordering::Relaxed)
}

/// Requests a shutdown as a first signal would (tests, the control plane).
pub fn request() {
    SIGNALS.fetch_add(1, Ordering::Relaxed);
}
