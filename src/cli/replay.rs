//! `lpscore replay [--config F] FILE...`: feeds journals, QuickFIX message logs and plain FIX
//! logs through the same engine code as live traffic, with the files' timestamps, and prints the
//! final KPI table (and event-time snapshots with `--every`). See `lpscore::journal::replay`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::engine::{EngineConfig, ShmSink, writer_options};
use crate::journal::replay::{DumpFormat, LatestSink, Replayer, render, table_rows};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Csv,
    Table,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Inputs: journal segments or directories, QuickFIX `*.messages.log`, plain FIX logs
    /// (format detected per file), replayed in the order given.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Engine configuration (TOML: the engine's keys at top level or under `[engine]`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Also publish into a scoreboard file at this path.
    #[arg(long)]
    pub scoreboard: Option<PathBuf>,
    /// Print the final KPI table (every row field, effective sample sizes, every profile's score).
    #[arg(long, value_enum)]
    pub dump: Option<Format>,
    /// Also print the table at every boundary of this much event time (`500ms`, `1m`, `1h`).
    #[arg(long, value_parser = parse_duration)]
    pub every: Option<u64>,
    /// Print no summary on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// Parses `N[ns|us|ms|s|m|h]` (no unit: seconds) into nanoseconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: f64 = n
        .parse()
        .map_err(|_| format!("bad duration {s:?} (e.g. 500ms, 1m)"))?;
    let mult = match unit {
        "ns" => 1.0,
        "us" => 1e3,
        "ms" => 1e6,
        "" | "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => return Err(format!("bad duration unit {unit:?} (ns, us, ms, s, m, h)")),
    };
    let ns = n * mult;
    if !(1.0..1.8e19).contains(&ns) {
        return Err(format!("duration {s:?} out of range"));
    }
    Ok(ns as u64)
}

/// Loads an engine configuration: the whole file, or its `[engine]` table.
pub fn load_config(path: &std::path::Path) -> Result<EngineConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| format!("{}: not TOML: {e}", path.display()))?;
    let r = match table.get("engine") {
        Some(v) => v.clone().try_into::<EngineConfig>(),
        None => EngineConfig::from_toml(&text),
    };
    r.map_err(|e| format!("{}: bad engine configuration: {e}", path.display()))
}

pub fn run(args: &ReplayArgs) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
    let cfg = match &args.config {
        None => EngineConfig::default(),
        Some(p) => match load_config(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("lpscore replay: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let mut sink = LatestSink::default();
    if let Some(path) = &args.scoreboard {
        match lpscore_shm::Writer::create(path, &writer_options(&cfg)) {
            Ok(w) => sink.shm = Some(ShmSink::new(w, &cfg)),
            Err(e) => {
                eprintln!(
                    "lpscore replay: cannot create the scoreboard {}: {e}",
                    path.display()
                );
                return ExitCode::from(2);
            }
        }
    }
    let mut rp = match Replayer::new(cfg, sink) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lpscore replay: the engine refuses the configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let fmt = args.dump.map(|f| match f {
        Format::Json => DumpFormat::Json,
        Format::Csv => DumpFormat::Csv,
        Format::Table => DumpFormat::Table,
    });
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut first_table = true;
    let mut write_err = false;
    if let Some(every) = args.every {
        rp.set_every(every);
    }
    let mut failed = false;
    let t0 = lpscore_shm::monotonic_ns();
    {
        let mut snap = |t: u64, feed: &crate::engine::FixFeed<LatestSink>| {
            let (h, rows) = table_rows(feed, t);
            let text = render(&h, &rows, fmt.unwrap_or(DumpFormat::Csv), first_table);
            first_table = false;
            write_err |= out.write_all(text.as_bytes()).is_err();
        };
        for f in &args.files {
            match rp.replay_path(f, &mut snap) {
                Ok(kind) => {
                    if !args.quiet {
                        eprintln!("lpscore replay: {} ({})", f.display(), kind.name());
                    }
                }
                Err(e) => {
                    eprintln!("lpscore replay: {e}");
                    failed = true;
                    break;
                }
            }
        }
    }
    rp.finish();
    let secs = (lpscore_shm::monotonic_ns().saturating_sub(t0)) as f64 / 1e9;
    if let Some(fmt) = fmt {
        let t = rp.feed.engine.now_ns();
        let (h, rows) = table_rows(&rp.feed, t);
        let text = render(&h, &rows, fmt, first_table || args.every.is_none());
        write_err |= out.write_all(text.as_bytes()).is_err();
    }
    write_err |= out.flush().is_err();
    let s = &rp.stats;
    if !args.quiet {
        let c = rp.feed.engine.counters();
        eprintln!(
            "lpscore replay: {} input(s), {} bytes, {} lines/records, {} messages, {} sessions, {} malformed, {:.1} MB/s",
            s.files.len(),
            s.bytes,
            s.lines,
            s.messages,
            s.sessions,
            s.malformed,
            s.bytes as f64 / 1e6 / secs.max(1e-9)
        );
        let types: Vec<String> = s.by_type.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!("  messages by MsgType: {}", types.join(" "));
        eprintln!(
            "  engine: {} events, {} orders, {} execs, {} quotes, {} cancel requests, {} cancel rejects, \
             {} unknown ClOrdID, {} duplicate execs; adapter: {} parse errors, {} ignored",
            c.events,
            c.orders,
            c.execs,
            c.quotes,
            c.cancel_requests,
            c.cancel_rejects,
            c.unknown_cl_ord_id,
            c.duplicate_execs,
            rp.feed.counters.parse_errors,
            rp.feed.counters.ignored
        );
        for (p, off) in &s.torn {
            eprintln!(
                "  torn journal tail (ignored): {} at offset {off}",
                p.display()
            );
        }
        for m in &s.malformed_detail {
            eprintln!("  malformed: {m}");
        }
        if s.malformed > s.malformed_detail.len() as u64 {
            eprintln!(
                "  ... and {} more malformed",
                s.malformed - s.malformed_detail.len() as u64
            );
        }
    }
    if write_err {
        eprintln!("lpscore replay: cannot write the output");
        return ExitCode::from(1);
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1m"), Ok(60_000_000_000));
        assert_eq!(parse_duration("500ms"), Ok(500_000_000));
        assert_eq!(parse_duration("2"), Ok(2_000_000_000));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
