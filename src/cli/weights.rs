//! `lpscore weights show|set|add-profile|remove-profile`: a client of the running appliance's
//! control socket (docs/control.md). Changes are applied by the hot threads, then persisted to the
//! configuration by the appliance. Exit codes: 0 done, 1 the appliance refused or is unreachable,
//! 2 usage or configuration error.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use crate::score::{WEIGHT_NAMES, weight_slot};

#[derive(Debug, Args)]
#[command(
    after_help = "KPI names: latency, fill_rate, price_improvement, market_impact, \
                        reject_rate, effective_spread, markout.\n\
                        Examples:\n  lpscore weights --config config/lpscore.toml show\n  \
                        lpscore weights --socket /run/lpscore/control.sock set Block fill_rate=0.5 latency=0.1\n  \
                        lpscore weights --config config/lpscore.toml add-profile Quiet markout=1 reject_rate=0.5\n  \
                        lpscore weights --config config/lpscore.toml remove-profile Quiet"
)]
pub struct WeightsArgs {
    /// The appliance's control socket.
    #[arg(long, global = true, conflicts_with = "config")]
    pub socket: Option<PathBuf>,
    /// The appliance's configuration: the socket is its `[control] socket`.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// How long to wait for the appliance, milliseconds.
    #[arg(long, global = true, default_value_t = 5000)]
    pub timeout_ms: u64,
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Print every profile's weights.
    Show {
        /// Print the JSON response instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Change some weights of a profile (by name or index); the others keep their value.
    Set {
        /// Profile name or index.
        profile: String,
        /// Weights as KPI=W (e.g. fill_rate=0.5).
        #[arg(required = true, value_name = "KPI=W")]
        weights: Vec<String>,
    },
    /// Add a profile (unnamed weights are 0).
    AddProfile {
        /// Name: 1 to 16 of letters, digits, '_', '-', '.'.
        name: String,
        /// Weights as KPI=W.
        #[arg(required = true, value_name = "KPI=W")]
        weights: Vec<String>,
    },
    /// Remove a profile (its score slot becomes inactive; the others keep their slots).
    RemoveProfile {
        /// Profile name or index.
        profile: String,
    },
}

/// An error and the exit code it deserves.
struct Fail(u8, String);

pub fn run(args: &WeightsArgs) -> ExitCode {
    match run_inner(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(code, msg)) => {
            eprintln!("lpscore weights: {msg}");
            ExitCode::from(code)
        }
    }
}

fn run_inner(args: &WeightsArgs) -> Result<(), Fail> {
    // Requests are checked before the socket is looked for: a typo is a usage error (2).
    let req = match &args.action {
        Action::Show { .. } => json!({"cmd": "weights"}),
        Action::Set { profile, weights } => json!({
            "cmd": "set_weights",
            "profile": profile_ref(profile),
            "weights": parse_kv(weights)?,
        }),
        Action::AddProfile { name, weights } => json!({
            "cmd": "add_profile",
            "name": name,
            "weights": parse_kv(weights)?,
        }),
        Action::RemoveProfile { profile } => {
            json!({"cmd": "remove_profile", "profile": profile_ref(profile)})
        }
    };
    let socket = socket_path(args)?;
    let resp = request(&socket, &req, Duration::from_millis(args.timeout_ms.max(1)))?;
    if resp.get("ok").and_then(Value::as_bool) != Some(true) {
        let e = resp
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no reason given");
        return Err(Fail(1, format!("the appliance refused: {e}")));
    }
    match &args.action {
        Action::Show { json: true } => println!("{resp}"),
        Action::Show { json: false } => print_table(resp.get("profiles")),
        _ => {
            let p = resp.get("profile");
            print_table(p.map(|p| Value::Array(vec![p.clone()])).as_ref());
            match resp.get("persisted").and_then(Value::as_bool) {
                Some(true) => println!("applied and saved to the configuration"),
                _ => {
                    let why = resp
                        .get("persist_error")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown reason");
                    println!("applied, but NOT saved to the configuration: {why}");
                }
            }
        }
    }
    Ok(())
}

/// A profile given as "3" is the index 3, otherwise a name.
fn profile_ref(p: &str) -> Value {
    match p.parse::<u64>() {
        Ok(i) => json!(i),
        Err(_) => json!(p),
    }
}

fn parse_kv(kv: &[String]) -> Result<Map<String, Value>, Fail> {
    let mut m = Map::new();
    for a in kv {
        let usage = |why: String| {
            Fail(
                2,
                format!(
                    "{a:?}: {why}; weights are KPI=W with KPI one of {}",
                    WEIGHT_NAMES.join(", ")
                ),
            )
        };
        let (k, v) = a
            .split_once('=')
            .ok_or_else(|| usage("expected KPI=W".into()))?;
        let k = k.trim();
        if weight_slot(k).is_none() {
            return Err(usage(format!("unknown KPI {k:?}")));
        }
        let w: f64 = v
            .trim()
            .parse()
            .map_err(|_| usage(format!("{v:?} is not a number")))?;
        if !w.is_finite() || w < 0.0 {
            return Err(usage(format!("{w} must be finite and >= 0")));
        }
        m.insert(k.to_string(), json!(w));
    }
    Ok(m)
}

fn socket_path(args: &WeightsArgs) -> Result<PathBuf, Fail> {
    if let Some(s) = &args.socket {
        return Ok(s.clone());
    }
    let Some(cfg) = &args.config else {
        return Err(Fail(
            2,
            "give the appliance's control socket (--socket PATH) or its configuration \
             (--config FILE, whose [control] socket is used)"
                .into(),
        ));
    };
    socket_of_config(cfg).map_err(|e| Fail(2, e))
}

/// `[control] socket` of a configuration file (only that table is read: the rest of the file
/// may be for another machine).
pub fn socket_of_config(cfg: &Path) -> Result<PathBuf, String> {
    let text = std::fs::read_to_string(cfg)
        .map_err(|e| format!("{}: cannot read the configuration: {e}", cfg.display()))?;
    let t: toml::Table =
        toml::from_str(&text).map_err(|e| format!("{}: {}", cfg.display(), e.message().trim()))?;
    match t
        .get("control")
        .and_then(|c| c.get("socket"))
        .and_then(|s| s.as_str())
    {
        Some(s) => Ok(PathBuf::from(s)),
        None => Err(format!(
            "{}: no [control] socket: add `[control]` with `socket = \"/run/lpscore/control.sock\"` \
             and restart the appliance, or pass --socket",
            cfg.display()
        )),
    }
}

/// One request, one response line.
fn request(socket: &Path, req: &Value, timeout: Duration) -> Result<Value, Fail> {
    let unreachable = |e: std::io::Error| {
        Fail(
            1,
            format!(
                "cannot reach the appliance at {}: {e} (is `lpscore run` running with this \
                 [control] socket? check the path, and that you can access it: it is mode 0600, \
                 for the user running lpscore)",
                socket.display()
            ),
        )
    };
    let mut s = UnixStream::connect(socket).map_err(unreachable)?;
    s.set_read_timeout(Some(timeout)).map_err(unreachable)?;
    s.set_write_timeout(Some(timeout)).map_err(unreachable)?;
    let mut line = req.to_string();
    line.push('\n');
    s.write_all(line.as_bytes()).map_err(unreachable)?;
    let mut reply = String::new();
    BufReader::new(s.take(1 << 22))
        .read_line(&mut reply)
        .map_err(|e| {
            Fail(
                1,
                format!("no answer from the appliance at {}: {e}", socket.display()),
            )
        })?;
    if reply.trim().is_empty() {
        return Err(Fail(
            1,
            format!(
                "the appliance at {} closed without answering",
                socket.display()
            ),
        ));
    }
    serde_json::from_str(reply.trim_end())
        .map_err(|e| Fail(1, format!("bad answer from {}: {e}", socket.display())))
}

fn print_table(profiles: Option<&Value>) {
    let empty = Vec::new();
    let list = profiles.and_then(Value::as_array).unwrap_or(&empty);
    let short = [
        "latency",
        "fill",
        "price_impr",
        "impact",
        "rejects",
        "eff_spread",
        "markout",
    ];
    print!("{:>3}  {:<16}", "#", "profile");
    for h in short {
        print!(" {h:>10}");
    }
    println!();
    for p in list {
        let idx = p.get("index").and_then(Value::as_u64).unwrap_or(0);
        let name = p.get("name").and_then(Value::as_str).unwrap_or("?");
        let active = p.get("active").and_then(Value::as_bool).unwrap_or(true);
        print!(
            "{idx:>3}  {:<16}",
            if active {
                name.to_string()
            } else {
                format!("{name} (removed)")
            }
        );
        for k in WEIGHT_NAMES {
            let w = p
                .get("weights")
                .and_then(|w| w.get(k))
                .and_then(Value::as_f64)
                .unwrap_or(f64::NAN);
            print!(" {w:>10.4}");
        }
        println!();
    }
}
