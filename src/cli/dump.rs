//! `lpscore dump`: prints the live scoreboard as any reader sees it (read-only mapping, seqlock
//! reads), as a table, JSON lines or CSV.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use lpscore_shm::{BucketSlot, LpId, ProfileId, ScoreRow, Scoreboard, SymbolSlot};

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
        Format::Json => json(&mut out, &lines, &profiles),
        Format::Csv => csv(&mut out, &lines, &profiles),
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
            buckets.extend((0..n_buckets).map(|b| (BucketSlot::Bucket(b), format!("b{b}"))));
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

/// JSON string escaping for names (they are short UTF-8 without NUL).
fn jstr(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A float as JSON: non-finite values become null.
fn jnum(v: f32) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

const FIELDS: &str = "symbol,bucket,lp,publish_ns,n_orders,n_fills,eff_orders,eff_fills,fill_rate,reject_rate,\
cancel_reject_rate,pi_bps,pi_rate,es_bps,eq_ratio,realized_spread_bps,impact_bps,markout_bps,\
ack_p50_ns,ack_p99_ns,fill_p50_ns,n_price_skipped,flags";

fn values(l: &Line, quote: fn(&str) -> String) -> Vec<String> {
    let r = &l.row;
    vec![
        quote(&l.symbol),
        quote(&l.bucket),
        quote(&l.lp),
        r.publish_ns.to_string(),
        r.n_orders.to_string(),
        r.n_fills.to_string(),
        jnum(r.eff_orders),
        jnum(r.eff_fills),
        jnum(r.fill_rate),
        jnum(r.reject_rate),
        jnum(r.cancel_reject_rate),
        jnum(r.pi_bps),
        jnum(r.pi_rate),
        jnum(r.es_bps),
        jnum(r.eq_ratio),
        jnum(r.realized_spread_bps),
        jnum(r.impact_bps),
        jnum(r.markout_bps),
        r.ack_p50_ns.to_string(),
        r.ack_p99_ns.to_string(),
        r.fill_p50_ns.to_string(),
        r.n_price_skipped.to_string(),
        r.flags.to_string(),
    ]
}

fn json(out: &mut impl Write, lines: &[Line], profiles: &[(usize, String)]) -> io::Result<()> {
    let names: Vec<&str> = FIELDS.split(',').collect();
    for l in lines {
        let vals = values(l, jstr);
        let mut s = String::from("{");
        for (k, v) in names.iter().zip(&vals) {
            s.push_str(&format!("\"{k}\":{v},"));
        }
        s.push_str("\"scores\":{");
        let sc: Vec<String> = profiles
            .iter()
            .map(|(p, n)| {
                format!(
                    "{}:{}",
                    jstr(n),
                    l.row.score(*p).map_or("null".into(), jnum)
                )
            })
            .collect();
        s.push_str(&sc.join(","));
        s.push_str("}}");
        writeln!(out, "{s}")?;
    }
    Ok(())
}

fn csv(out: &mut impl Write, lines: &[Line], profiles: &[(usize, String)]) -> io::Result<()> {
    let q = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    write!(out, "{FIELDS}")?;
    for (_, n) in profiles {
        write!(out, ",score_{}", q(n))?;
    }
    writeln!(out)?;
    for l in lines {
        let mut vals = values(l, |s| s.to_string());
        for v in vals.iter_mut().take(3) {
            *v = q(v);
        }
        for v in vals.iter_mut().skip(3) {
            if v == "null" {
                v.clear();
            }
        }
        write!(out, "{}", vals.join(","))?;
        for (p, _) in profiles {
            match l.row.score(*p) {
                Some(s) => write!(out, ",{s}")?,
                None => write!(out, ",")?,
            }
        }
        writeln!(out)?;
    }
    Ok(())
}
