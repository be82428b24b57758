//! Socket backends of the hot threads: rings, buffers, connections.
//!
//! * [`uring`] (the default): one io_uring per hot thread, created on it with SINGLE_ISSUER |
//!   DEFER_TASKRUN | TASKRUN_FLAG; multishot accept, connect, multishot recv on a provided buffer
//!   ring (incremental consumption where the kernel has it) with registered files; the loop spins
//!   on the completion queue and enters the kernel (GETEVENTS) only when submissions are pending
//!   or the TASKRUN flag is set.
//! * [`busypoll`]: non-blocking `recv()` spinning over the same [`Ingest`] (framing, journal,
//!   engine); SO_BUSY_POLL where permitted, TCP_NODELAY.
//! * [`probe`]: start-up feature probing; an [`IoError::Uring`] names the cause and the fix.
//!
//! Both loops share [`Housekeeping`]: control commands (crossbeam queue), engine ticks, silent-peer
//! timeouts and counters, every `io.tick_us`.
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use crate::engine::Command;
use crate::publish::RowSink;
use crate::runtime::clock::{Clock, LiveClock};
use crate::runtime::config::{IdleConfig, IoConfig};
use crate::runtime::group::Control;
use crate::runtime::ingest::Ingest;

pub mod busypoll;
pub mod probe;
mod sock;
pub mod uring;

/// Loop settings.
#[derive(Debug, Clone, Copy)]
pub struct LoopParams {
    /// Limits.
    pub io: IoConfig,
    /// Idle mode.
    pub idle: IdleConfig,
}

/// A backend error. `Uring` carries the probe's diagnosis.
#[derive(Debug)]
pub enum IoError {
    /// io_uring cannot be used here: what is missing and how to fix it.
    Uring {
        /// What failed.
        cause: String,
        /// How to fix it.
        fix: String,
    },
    /// A system call failed.
    Os {
        /// Which.
        op: &'static str,
        /// The error.
        err: std::io::Error,
    },
}

impl std::fmt::Display for IoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IoError::Uring { cause, fix } => write!(
                f,
                "io_uring unavailable: {cause}. Fix: {fix}. Or run the busy-poll backend \
                 (backend = \"busy-poll\" in the configuration)"
            ),
            IoError::Os { op, err } => write!(f, "{op}: {err}"),
        }
    }
}
impl std::error::Error for IoError {}

pub(crate) fn os(op: &'static str) -> impl FnOnce(std::io::Error) -> IoError {
    move |err| IoError::Os { op, err }
}

/// What housekeeping asks the loop to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Run,
    Stop,
}

/// Periodic work shared by both backends.
/// How long a clean stop waits for the counterparties' Logout answers.
pub const STOP_LOGOUT_WAIT_NS: u64 = 2_000_000_000;

pub(crate) struct Housekeeping {
    next_ns: u64,
    /// Clean stop in progress (FIX sessions logging out): give up waiting at this time.
    stop_at: Option<u64>,
    tick_ns: u64,
    pub(crate) silent_ns: u64,
    pub(crate) reconnect_ns: u64,
    commands: Arc<ArrayQueue<Command>>,
    clock: LiveClock,
}

impl Housekeeping {
    pub(crate) fn new<S: RowSink>(p: &LoopParams, ingest: &Ingest<S>) -> Self {
        Self {
            next_ns: 0,
            stop_at: None,
            tick_ns: p.io.tick_us.max(1) * 1_000,
            silent_ns: p.io.silent_timeout_ms * 1_000_000,
            reconnect_ns: p.io.reconnect_ms * 1_000_000,
            commands: ingest.feed.engine.commands(),
            clock: LiveClock,
        }
    }

    /// Whether the periodic work is due at monotonic `now`.
    #[inline(always)]
    pub(crate) fn due(&self, now: u64) -> bool {
        now >= self.next_ns
    }

    /// Whether a clean stop is in progress (initiators do not reconnect).
    #[inline(always)]
    pub(crate) fn stopping(&self) -> bool {
        self.stop_at.is_some()
    }

    /// Control commands, engine tick (and FIX session timers), counters. On a stop request the
    /// FIX sessions with a connection start their logout; `Next::Stop` once every one is down
    /// or [`STOP_LOGOUT_WAIT_NS`] has passed (at once without FIX sessions).
    pub(crate) fn run<S: RowSink>(
        &mut self,
        now: u64,
        ingest: &mut Ingest<S>,
        control: &ArrayQueue<Control>,
    ) -> Next {
        self.next_ns = now + self.tick_ns;
        let mut next = Next::Run;
        while let Some(c) = control.pop() {
            match c {
                Control::Stop if self.stop_at.is_none() => {
                    if ingest.begin_stop() {
                        self.stop_at = Some(now + STOP_LOGOUT_WAIT_NS);
                    } else {
                        next = Next::Stop;
                    }
                }
                Control::Stop => {}
                Control::Engine(cmd) => {
                    // Journaled where it is queued (no message in between), so a replay queues it
                    // at the same point; a command the queue refused is not journaled.
                    if self.commands.push(cmd).is_err() {
                        tracing::warn!("engine command queue full: command dropped");
                    } else {
                        ingest.journal_command(self.clock.now_ns(), &cmd);
                    }
                }
            }
        }
        ingest.tick(self.clock.now_ns());
        ingest.publish_stats();
        if let Some(t) = self.stop_at {
            if now >= t || ingest.sessions_down() {
                next = Next::Stop;
            }
        }
        next
    }

    /// Makes the periodic work due at once (after an idle wake-up).
    pub(crate) fn next_due_now(&mut self) {
        self.next_ns = 0;
    }

    /// Capture timestamp (the clock seam).
    #[inline(always)]
    pub(crate) fn capture_ns(&self) -> u64 {
        self.clock.now_ns()
    }
}
