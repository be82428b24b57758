//! `lpscore dump`: prints the live scoreboard as any reader sees it (read-only mapping, seqlock
//! reads), as a table, JSON lines or CSV.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use lpscore_shm::{BucketSlot, LpId, ProfileId, ScoreRow, Scoreboard, SymbolSlot};

use crate::journal::replay::{DumpFormat, bucket_label_of, render, row_cells, table_header};

/// Where the appliance publishes by default.
pub const DEFAULT_SCOREBOARD: &str = "/dev/shm/lpscore.scoreboard";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct DumpArgs {
    /// The scoreboard file.
    #[arg(long, default_value = DEFAULT_SCOREBOARD)]
    pub scoreboard: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Only this symbol (`*` for the all-symbols rows).
    #[arg(long)]
    pub symbol: Option<String>,
    /// Only this profile's score (by name); default: every active profile.
    #[arg(long)]
    pub profile: Option<String>,
    /// Include the per-size-bucket rows, not only the all-sizes rows.
    #[arg(long)]
    pub buckets: bool,
}

/// One printed row: where it is, and what it holds.
struct Line {
    symbol: String,
    bucket: String,
    lp: String,
    row: ScoreRow,
}

pub fn run(args: &DumpArgs) -> ExitCode {
    // A stopped writer's last rows are still worth reading; only a starting one is waited for.
    let opened = Scoreboard::open(&args.scoreboard)
        .or_else(|_| Scoreboard::open_with_timeout(&args.scoreboard, Duration::from_millis(500)));
    let board = match opened {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "lpscore dump: cannot open the scoreboard {}: {e}\n  is the appliance running \
                 (`lpscore run`), and is this the path of its [scoreboard] section? \
                 Pass --scoreboard PATH otherwise.",
                args.scoreboard.display()
            );
            return ExitCode::from(1);
        }
    };
    let profiles: Vec<(usize, String)> = (0..board.capacities().max_profiles as usize)
        .filter_map(|p| {
            let info = board.profile_info(ProfileId::new(p as u8)).ok()?;
            (info.active && !info.name.as_str().is_empty())
                .then(|| (p, info.name.as_str().to_string()))
        })
        .filter(|(_, n)| args.profile.as_deref().is_none_or(|want| want == n))
        .collect();
    if let Some(want) = &args.profile {
        if profiles.is_empty() {
            eprintln!(
                "lpscore dump: no active profile named {want:?} in {}",
                args.scoreboard.display()
            );
            return ExitCode::from(1);
        }
    }
    let lines = collect(&board, args);
    let out = io::stdout();
    let mut out = out.lock();
    let r = match args.format {
        Format::Table => table(&mut out, &board, &lines, &profiles),
        Format::Json => machine(&mut out, &lines, &profiles, DumpFormat::Json),
        Format::Csv => machine(&mut out, &lines, &profiles, DumpFormat::Csv),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lpscore dump: {e}");
            ExitCode::from(1)
        }
    }
}

fn collect(board: &Scoreboard, args: &DumpArgs) -> Vec<Line> {
    let n_buckets = board.capacities().n_buckets as u8;
    let edges = board.bucket_edges();
    let lps: Vec<(LpId, String)> = board
        .lps()
        .map(|(id, n)| (id, n.as_str().to_string()))
        .collect();
    let mut slots: Vec<(SymbolSlot, String)> = board
        .symbols()
        .map(|(id, n)| (SymbolSlot::One(id), n.as_str().to_string()))
        .collect();
    slots.sort_by(|a, b| a.1.cmp(&b.1));
    slots.push((SymbolSlot::All, "*".to_string()));
    let mut lines = Vec::new();
    for (slot, sym) in &slots {
        if args.symbol.as_deref().is_some_and(|want| want != sym) {
            continue;
        }
        let mut buckets = vec![(BucketSlot::All, "all".to_string())];
        if args.buckets {
            buckets.extend(
                (0..n_buckets).map(|b| (BucketSlot::Bucket(b), bucket_label_of(&edges, b.into()))),
            );
        }
        for (bucket, bname) in &buckets {
            for (lp, lname) in &lps {
                if let Ok(row) = board.read(*slot, *bucket, *lp) {
                    if row.has_data() {
                        lines.push(Line {
                            symbol: sym.clone(),
                            bucket: bname.clone(),
                            lp: lname.clone(),
                            row,
                        });
                    }
                }
            }
        }
    }
    lines
}

fn us(ns: u32) -> f64 {
    f64::from(ns) / 1e3
}

fn table(
    out: &mut impl Write,
    board: &Scoreboard,
    lines: &[Line],
    profiles: &[(usize, String)],
) -> io::Result<()> {
    writeln!(
        out,
        "scoreboard epoch {} writer pid {} | {}",
        board.epoch(),
        board.writer_pid(),
        match board.staleness(Duration::from_secs(1)) {
            lpscore_shm::Liveness::Live { age } =>
                format!("live (heartbeat {} ms ago)", age.as_millis()),
            other => format!("{other:?}"),
        }
    )?;
    write!(
        out,
        "{:<10} {:<4} {:<10} {:>7} {:>7} {:>6} {:>6} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9}",
        "symbol",
        "size",
        "lp",
        "orders",
        "eff_n",
        "fill%",
        "rej%",
        "PI_bp",
        "ES_bp",
        "imp_bp",
        "mo_bp",
        "ack50_us",
        "ack99_us"
    )?;
    for (_, name) in profiles {
        write!(out, " {:>10}", truncate(name, 10))?;
    }
    writeln!(out)?;
    for l in lines {
        let r = &l.row;
        write!(
            out,
            "{:<10} {:<4} {:<10} {:>7} {:>7.1} {:>6.1} {:>6.1} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>9.1} {:>9.1}",
            truncate(&l.symbol, 10),
            l.bucket,
            truncate(&l.lp, 10),
            r.n_orders,
            r.eff_orders,
            r.fill_rate * 100.0,
            r.reject_rate * 100.0,
            r.pi_bps,
            r.es_bps,
            r.impact_bps,
            r.markout_bps,
            us(r.ack_p50_ns),
            us(r.ack_p99_ns)
        )?;
        for (p, _) in profiles {
            match r.score(*p) {
                Some(s) => write!(out, " {s:>10.1}")?,
                None => write!(out, " {:>10}", "-")?,
            }
        }
        writeln!(out)?;
    }
    if lines.is_empty() {
        writeln!(out, "(no row has data yet)")?;
    }
    Ok(())
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// JSON lines and CSV use the KPI table schema of `lpscore replay --dump` (the same columns and
/// bucket labels), so a live scoreboard and a replay can be compared line for line. `t_ns` is the
/// event time the table is as of: the latest `publish_ns` among its rows (a replay's `t_ns` is
/// its event time too), so two dumps of the same rows are identical.
fn machine(
    out: &mut impl Write,
    lines: &[Line],
    profiles: &[(usize, String)],
    fmt: DumpFormat,
) -> io::Result<()> {
    let names: Vec<String> = profiles.iter().map(|(_, n)| n.clone()).collect();
    let header = table_header(&names);
    let as_of = lines.iter().map(|l| l.row.publish_ns).max().unwrap_or(0);
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            let mut cells = row_cells(
                as_of,
                l.lp.clone(),
                l.symbol.clone(),
                l.bucket.clone(),
                &l.row,
                0,
            );
            cells.extend(
                profiles
                    .iter()
                    .map(|(p, _)| l.row.score(*p).map_or(String::new(), |v| v.to_string())),
            );
            cells
        })
        .collect();
    out.write_all(render(&header, &rows, fmt, true).as_bytes())
}
