//! The control socket: a Unix-domain socket (mode 0600) speaking line-delimited JSON; commands
//! reach the hot threads through their crossbeam queues. See docs/control.md.
//!
//! ```text
//! client ──line──▶ server thread (accept, <= 16 clients, one thread each, 64 KiB lines,
//!                  read timeouts) ──▶ Controller (one command at a time)
//!                     ├─ HotGroup::send(Control::Engine(Command::SetProfile { .., ack }))
//!                     ├─ waits for every group's Ack (the engine applied the command *and*
//!                     │  published the rows it changed)
//!                     └─ weights: persisted to the configuration file (toml_edit, atomic rename)
//! client ◀─line── one JSON response per request, in order
//! ```
//! Nothing here runs on a hot thread: the hot thread only pops a `Copy` command and raises an
//! atomic when it is done.

mod handler;
pub mod persist;
pub mod server;

pub use handler::{Controller, GroupTarget, Slot, Target, profiles_from_scoreboard};
pub use server::{ServerOptions, bind, serve};

/// Longest request line, bytes (without the newline).
pub const MAX_LINE: usize = 64 * 1024;
