//! `lpscore run --config FILE [--check]`: the appliance. One pinned hot thread per `[[group]]`
//! (sockets -> framing -> `journal::JournalProducer::append` -> engine -> scoreboard), with
//! `[journal] enabled` one journal thread per group (`lpscore::journal::start`: recovery, then
//! segments in `journal.dir`, or `journal.dir/group-G` with several groups), and this thread as
//! the control thread: it waits for SIGINT/SIGTERM (a second one exits at once), then stops every
//! group cleanly (connections closed, engine flushed, scoreboard marked stopped), then every
//! journal (ring drained, synced per the durability policy). With `[control] socket` a control
//! thread serves the control protocol (docs/control.md) until the stop.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use std::sync::atomic::{AtomicBool, Ordering};

use crate::control;
use crate::engine::{ShmSink, writer_options};
use crate::journal::{self, JournalHandle};
use crate::runtime::config::{Backend, RuntimeConfig};
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
    let mut cfg = match RuntimeConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            // `e` names the file, the line and the field.
            eprintln!("lpscore run: {e}");
            return ExitCode::from(2);
        }
    };
    // Held until this function returns: dropping it flushes the queued log lines.
    let _logs = match crate::runtime::logs::init(&cfg.log) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("lpscore run: {e} (change `log.file`)");
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
            if cfg.journal.enabled {
                format!(
                    "on ({}, durability {:?}, backend {:?})",
                    cfg.journal.dir.display(),
                    cfg.journal.durability,
                    cfg.journal.backend
                )
            } else {
                "off".into()
            },
        );
        match &cfg.control.socket {
            Some(p) => println!("  control socket {}", p.display()),
            None => println!("  control socket off ([control] socket)"),
        }
        match cfg.metrics.listen {
            Some(a) => println!("  metrics http://{a}/metrics"),
            None => println!("  metrics off ([metrics] listen)"),
        }
        for (g, grp) in cfg.groups.iter().enumerate() {
            println!(
                "  group {g}: core {}, scoreboard {}",
                grp.core
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "unpinned".into()),
                cfg.scoreboard_of(g).display()
            );
            for s in &grp.sessions {
                let end = match (s.listen, s.connect) {
                    (Some(a), _) => format!("listen {a}"),
                    (_, Some(a)) => format!("connect {a}"),
                    _ => continue,
                };
                let fix = match &s.fix {
                    Some(f) => format!(
                        ", FIX session {} {}->{}, HeartBtInt {} s, store {}",
                        f.begin_string,
                        f.sender_comp_id,
                        f.target_comp_id,
                        f.heartbeat_s,
                        f.store_dir.display()
                    ),
                    None => ", raw tap".into(),
                };
                println!("    session {}: {end}{fix}", s.id);
            }
        }
        return ExitCode::SUCCESS;
    }
    if let Err(e) = signals::install() {
        eprintln!("lpscore run: cannot install the SIGINT/SIGTERM handlers: {e}");
        return ExitCode::from(1);
    }
    let mut groups: Vec<HotGroup> = Vec::new();
    let mut journals: Vec<(usize, JournalHandle)> = Vec::new();
    for (g, grp) in cfg.groups.iter().enumerate() {
        let producer = if cfg.journal.enabled {
            let jc = journal::JournalConfig {
                dir: cfg.journal_dir_of(g),
                ..cfg.journal.clone()
            };
            match journal::start(&jc) {
                Ok((p, h)) => {
                    tracing::info!(
                        group = g,
                        dir = %jc.dir.display(),
                        durability = ?jc.durability(),
                        recovered_records = h.recovery().records,
                        "journal started"
                    );
                    journals.push((g, h));
                    Some(p)
                }
                Err(e) => {
                    eprintln!("lpscore run: group {g}: cannot start the journal: {e}");
                    stop_all(groups, journals);
                    return ExitCode::from(1);
                }
            }
        } else {
            None
        };
        let path = cfg.scoreboard_of(g);
        // ---- F (journal, snapshots): rebuild the engine from the newest valid snapshot and the
        // journal after it, start the snapshot follower, hand the state to the hot thread.
        let recovered = match journals.last_mut().filter(|(jg, _)| *jg == g) {
            Some((_, h)) => match journal::snapshot::recover_for_run(g, &cfg.engine, h) {
                Ok(st) => Some(st),
                Err(e) => {
                    eprintln!("lpscore run: group {g}: cannot recover the engine: {e}");
                    stop_all(groups, journals);
                    return ExitCode::from(1);
                }
            },
            None => None,
        };
        let opts = GroupOptions {
            name: format!("lpscore-hot-{g}"),
            backend: cfg.backend,
            core: grp.core,
            sessions: grp.sessions.clone(),
            io: cfg.io,
            idle: cfg.idle,
            engine: cfg.engine.clone(),
            recovered,
        };
        // ---- F end
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
            producer,
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
                stop_all(groups, journals);
                return ExitCode::from(1);
            }
        }
    }
    let listener = match &cfg.control.socket {
        Some(p) => match control::bind(p) {
            Ok(l) => {
                tracing::info!(socket = %p.display(), "control socket listening");
                Some(l)
            }
            Err(e) => {
                eprintln!("lpscore run: {e}");
                stop_all(groups, journals);
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    // ---- metrics endpoint (DM: src/metrics) ----
    // Dropped at the end of `run`, after the groups and journals it reads have stopped.
    let _metrics = match cfg.metrics.listen {
        Some(addr) => {
            let sources = crate::metrics::Sources {
                groups: groups.iter().map(|g| g.shared_stats()).collect(),
                journals: journals.iter().map(|(g, h)| (*g, h.watermarks())).collect(),
                scoreboards: (0..cfg.groups.len())
                    .map(|g| cfg.scoreboard_of(g))
                    .collect(),
            };
            match crate::metrics::serve(addr, sources) {
                Ok(m) => {
                    tracing::info!("metrics: serving http://{}/metrics", m.local_addr());
                    Some(m)
                }
                Err(e) => {
                    eprintln!(
                        "lpscore run: cannot serve metrics on {addr}: {e} (change [metrics] listen)"
                    );
                    stop_all(groups, journals);
                    return ExitCode::from(1);
                }
            }
        }
        None => None,
    };
    // ---- end metrics endpoint (DM) ----
    tracing::info!(groups = groups.len(), backend = %cfg.backend, "running; SIGINT/SIGTERM to stop");
    let mut failed = false;
    let control_stop = AtomicBool::new(false);
    // The profiles as the engines hold them (a recovered engine keeps its live weights), else as
    // configured.
    let slots = control::profiles_from_scoreboard(&cfg.scoreboard_of(0)).unwrap_or_else(|| {
        cfg.engine
            .profiles
            .iter()
            .map(|p| Some((p.name.clone(), p.weights.to_slots())))
            .collect()
    });
    let ctl = control::Controller::with_slots(
        control::GroupTarget(&groups),
        &slots,
        Some(args.config.clone()),
    )
    // ---- DM (metrics/control): `rotate_journal` needs every group's journal ----
    .with_journals(journals.iter().map(|(g, h)| (*g, h.watermarks())).collect());
    std::thread::scope(|s| {
        if let Some(l) = &listener {
            let (ctl, stop) = (&ctl, &control_stop);
            let spawned = std::thread::Builder::new()
                .name("lpscore-control".into())
                .spawn_scoped(s, move || {
                    control::serve(l, ctl, stop, &control::ServerOptions::default())
                });
            if let Err(e) = spawned {
                eprintln!("lpscore run: cannot start the control thread: {e}");
                failed = true;
                return;
            }
        }
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
        // The control thread and its clients end within ~100 ms; the scope waits for them.
        control_stop.store(true, Ordering::Relaxed);
    });
    drop(ctl);
    if let (Some(_), Some(p)) = (listener, &cfg.control.socket) {
        let _ = std::fs::remove_file(p);
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
            journal_refused = r.stats.io.journal_refused,
            journal_ticks_skipped = r.stats.io.journal_ticks_skipped,
            "group stopped"
        );
        for s in r.stats.sessions.iter().filter(|s| s.journal_refused > 0) {
            eprintln!(
                "lpscore run: group {i}: session {}: {} message(s) scored but refused by the \
                 journal (session stalled)",
                s.id, s.journal_refused
            );
        }
    }
    // The hot threads (the producers) are gone: drain, sync and join every journal thread.
    for (g, h) in journals {
        match h.shutdown() {
            Ok(st) => tracing::info!(
                group = g,
                records = st.records,
                bytes = st.bytes,
                syncs = st.syncs,
                segments = st.segments,
                "journal flushed"
            ),
            Err(e) => {
                eprintln!("lpscore run: group {g}: journal: {e}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Stops the groups started so far, then their journals (start-up failure path).
fn stop_all(groups: Vec<HotGroup>, journals: Vec<(usize, JournalHandle)>) {
    for h in groups {
        h.shutdown();
    }
    for (g, h) in journals {
        if let Err(e) = h.shutdown() {
            eprintln!("lpscore run: group {g}: journal: {e}");
        }
    }
}
