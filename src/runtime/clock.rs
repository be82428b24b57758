//! The clock seam: the only place in the crate that reads the machine's clocks.
//!
//! The engine runs on *event time*: every event carries its capture timestamp and the engine's
//! notion of "now" is the largest timestamp it has seen ([`EventClock`]). That makes a replay of a
//! journal bit-identical to the live run that recorded it. [`LiveClock`] is for the few places
//! that need the machine's time (capture timestamps, the shared-memory heartbeat); tests and
//! replay use [`ManualClock`].
use std::cell::Cell;

/// A source of nanosecond timestamps.
pub trait Clock {
    /// Nanoseconds; the epoch depends on the implementation (see each type).
    fn now_ns(&self) -> u64;
}

/// The machine's realtime clock: `now_ns` is CLOCK_REALTIME nanoseconds since the Unix epoch (the
/// scale of capture timestamps and of a row's `publish_ns`). The shared-memory heartbeat's
/// CLOCK_MONOTONIC stamp is taken by the shm writer itself (it owns the `unsafe` needed for
/// `clock_gettime`; this crate is `deny(unsafe_code)`).
#[derive(Debug, Default, Clone, Copy)]
pub struct LiveClock;

impl Clock for LiveClock {
    #[allow(clippy::disallowed_methods)] // the clock seam: the one place allowed to read the clock
    fn now_ns(&self) -> u64 {
        use std::time::{SystemTime, UNIX_EPOCH};
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to: for tests and replay.
#[derive(Debug, Default, Clone)]
pub struct ManualClock {
    now: Cell<u64>,
}

impl ManualClock {
    /// A clock reading `start_ns`.
    pub fn new(start_ns: u64) -> Self {
        Self {
            now: Cell::new(start_ns),
        }
    }
    /// Sets the time (may go backwards: it is a manual clock).
    pub fn set(&self, ns: u64) {
        self.now.set(ns);
    }
    /// Moves the time forward by `ns`.
    pub fn advance(&self, ns: u64) {
        self.now.set(self.now.get().saturating_add(ns));
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> u64 {
        self.now.get()
    }
}

/// Event time: the largest capture timestamp seen so far. Timestamps that go backwards (two
/// capture sources slightly out of step) do not move it back, so every consumer sees a monotonic
/// time and the markout queues stay ordered.
#[derive(Debug, Default, Clone, Copy)]
pub struct EventClock {
    now: u64,
    started: bool,
    backwards: u64,
}

impl EventClock {
    /// Observes an event timestamp and returns the (monotonic) event time.
    #[inline]
    pub fn observe(&mut self, ts_ns: u64) -> u64 {
        if !self.started {
            self.started = true;
            self.now = ts_ns;
        } else if ts_ns > self.now {
            self.now = ts_ns;
        } else if ts_ns < self.now {
            self.backwards += 1;
        }
        self.now
    }
    /// Whether any event has been observed.
    pub fn started(&self) -> bool {
        self.started
    }
    /// How many timestamps went backwards (and were clamped).
    pub fn backwards(&self) -> u64 {
        self.backwards
    }
}

impl Clock for EventClock {
    fn now_ns(&self) -> u64 {
        self.now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_clock_is_monotonic() {
        let mut c = EventClock::default();
        assert_eq!(c.observe(100), 100);
        assert_eq!(c.observe(90), 100);
        assert_eq!(c.observe(150), 150);
        assert_eq!(c.backwards(), 1);
        assert_eq!(c.now_ns(), 150);
    }

    #[test]
    fn manual_clock_moves_when_told() {
        let c = ManualClock::new(5);
        c.advance(10);
        assert_eq!(c.now_ns(), 15);
        c.set(3);
        assert_eq!(c.now_ns(), 3);
    }

    #[test]
    fn live_clock_moves_forward() {
        let c = LiveClock;
        assert!(c.now_ns() > 1_600_000_000_000_000_000);
    }
}
