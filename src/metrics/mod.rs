//! The Prometheus text endpoint, served off the hot path from the scoreboard and the counters.
