//! Structured logs (`[log]`): tracing lines go through a bounded queue to a logging thread that
//! writes stderr or a file, so a thread that logs (the hot thread does, on rare events: a
//! connection opened or closed, a logon, a refusal) never waits on the terminal or the disk. When
//! the queue is full, lines are dropped rather than blocking.

use std::fs::OpenOptions;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use super::config::{LogConfig, LogFormat};

/// Lines the queue holds before it drops.
const QUEUE_LINES: usize = 64 * 1024;

/// Keeps the logging thread alive; dropping it flushes the queued lines.
#[must_use = "logs stop (and queued lines are lost) when the guard is dropped"]
pub struct LogGuard(#[allow(dead_code)] WorkerGuard);

/// Installs the global subscriber per `cfg` (`RUST_LOG` overrides `cfg.level`). An error names
/// the log file and the cause.
pub fn init(cfg: &LogConfig) -> Result<LogGuard, String> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::builder().parse(&cfg.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUE_LINES)
        .thread_name("lpscore-log");
    let (writer, guard) = match &cfg.file {
        Some(path) => {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open the log file {}: {e}", path.display()))?;
            builder.finish(f)
        }
        None => builder.finish(std::io::stderr()),
    };
    let ansi = cfg.file.is_none();
    let base = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_thread_names(true);
    // A second init (tests that run the CLI in-process) keeps the first subscriber.
    let _ = match cfg.format {
        LogFormat::Text => base.with_ansi(ansi).try_init(),
        LogFormat::Json => base.json().with_ansi(false).try_init(),
    };
    Ok(LogGuard(guard))
}
