//! `lpscore run --config FILE [--check]`: the appliance. One pinned hot thread per `[[group]]`
//! (sockets -> framing -> journal hand-off -> engine -> scoreboard), a journal writer thread per
//! group, and this thread as the control thread: it waits for SIGINT/SIGTERM (a second one exits
//! at once), then stops every group cleanly (connections closed, journal drained and flushed,
//! scoreboard marked stopped).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::engine::{ShmSink, writer_options};
use crate::runtime::config::{Backend, RuntimeConfig};
use crate::runtime::journal::{self, CountingJournal};
use crate::runtime::{GroupOptions, HotGroup, signals, spawn_group};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The runtime configuration (TOML; see config/lpscore.toml).
    #[arg(long)]
    pub config: PathBuf,
    /// Validate the configuration (and probe the backend), print a summary and exit.
    #[arg(long)]
    pub check: bool,
    /// Override the configuration's backend (`io-uring` or `busy-poll`).
    #[arg(long)]
    pub backend: Option<Backend>,
}

pub fn run(args: &RunArgs) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let mut cfg = match RuntimeConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lpscore run: {}: {e}", args.config.display());
            return ExitCode::from(2);
        }
    };
    if let Some(b) = args.backend {
        cfg.backend = b;
    }
    if cfg.backend == Backend::IoUring {
        if let Err(e) = crate::io::probe::probe() {
            eprintln!("lpscore run: {e}");
            return ExitCode::from(1);
        }
    }
    if args.check {
        let sessions: usize = cfg.groups.iter().map(|g| g.sessions.len()).sum();
        println!(
            "{}: OK: backend {}, {} group(s), {} session(s), idle mode {}, journal {}",
            args.config.display(),
            cfg.backend,
            cfg.groups.len(),
            sessions,
            if cfg.idle.enabled { "on" } else { "off" },
            if cfg.journal.enabled { "on" } else { "off" },
        );
        for (g, grp) in cfg.groups.iter().enumerate() {
            println!(
                "  group {g}: core {}, scoreboard {}",
                grp.core
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "unpinned".into()),
                cfg.scoreboard_of(g).display()
            );
            for s in &grp.sessions {
                match (s.listen, s.connect) {
                    (Some(a), _) => println!("    session {}: listen {a}", s.id),
                    (_, Some(a)) => println!("    session {}: connect {a}", s.id),
                    _ => {}
                }
            }
        }
        return ExitCode::SUCCESS;
    }
    if let Err(e) = signals::install() {
        eprintln!("lpscore run: cannot install the SIGINT/SIGTERM handlers: {e}");
        return ExitCode::from(1);
    }
    let mut groups: Vec<HotGroup> = Vec::new();
    let mut journals = Vec::new();
    for (g, grp) in cfg.groups.iter().enumerate() {
        let (tx, rx) = if cfg.journal.enabled {
            let (t, r) = journal::channel(cfg.journal.records, cfg.journal.bytes);
            (Some(t), Some(r))
        } else {
            (None, None)
        };
        if let Some(rx) = rx {
            let core = cfg.journal.core;
            let h = std::thread::Builder::new()
                .name(format!("lpscore-journal-{g}"))
                .spawn(move || {
                    if let Some(c) = core {
                        core_affinity::set_for_current(core_affinity::CoreId { id: c });
                    }
                    // The journal module's file writer plugs in here (JournalSink).
                    journal::drain(rx, CountingJournal::default())
                });
            match h {
                Ok(h) => journals.push(h),
                Err(e) => {
                    eprintln!("lpscore run: cannot start the journal thread: {e}");
                    return ExitCode::from(1);
                }
            }
        }
        let path = cfg.scoreboard_of(g);
        let opts = GroupOptions {
            name: format!("lpscore-hot-{g}"),
            backend: cfg.backend,
            core: grp.core,
            sessions: grp.sessions.clone(),
            io: cfg.io,
            idle: cfg.idle,
            engine: cfg.engine.clone(),
        };
        let started = spawn_group(
            opts,
            move |ec| {
                let w = lpscore_shm::Writer::create(&path, &writer_options(ec)).map_err(|e| {
                    format!(
                        "cannot create the scoreboard {}: {e} (change `scoreboard`)",
                        path.display()
                    )
                })?;
                Ok(ShmSink::new(w, ec))
            },
            tx,
        );
        match started {
            Ok(h) => {
                for (id, a) in h.listen_addrs() {
                    tracing::info!(group = g, session = id, "listening on {a}");
                }
                groups.push(h);
            }
            Err(e) => {
                eprintln!("lpscore run: group {g}: {e}");
                for h in groups {
                    h.shutdown();
                }
                return ExitCode::from(1);
            }
        }
    }
    tracing::info!(groups = groups.len(), backend = %cfg.backend, "running; SIGINT/SIGTERM to stop");
    let mut failed = false;
    loop {
        std::thread::sleep(Duration::from_millis(50));
        if signals::requested() > 0 {
            tracing::info!("shutdown requested: stopping (a second signal exits at once)");
            break;
        }
        if groups.iter().any(|g| g.is_finished()) {
            failed = true;
            break;
        }
    }
    for g in &groups {
        g.stop();
    }
    for (i, g) in groups.into_iter().enumerate() {
        let r = g.join();
        if let Some(e) = &r.error {
            eprintln!("lpscore run: group {i} ended on an error: {e}");
            failed = true;
        }
        tracing::info!(
            group = i,
            messages = r.stats.messages(),
            events = r.engine.events,
            frame_errors = r.stats.sessions.iter().map(|s| s.frame_errors).sum::<u64>(),
            parse_errors = r.feed.parse_errors,
            enobufs = r.stats.io.enobufs,
            journal_dropped = r.stats.io.journal_dropped,
            "group stopped"
        );
    }
    for j in journals {
        if let Ok(c) = j.join() {
            tracing::info!(messages = c.messages, bytes = c.bytes, "journal flushed");
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
