//! One hot thread per group of sessions: spawn, pin, build the engine on the thread, run the
//! chosen backend until told to stop, shut down cleanly.
//!
//! ```text
//! caller                        hot thread (pinned)
//! bind listeners  ──spawn──▶    pin core, make sink, Engine::new, warm framers
//!                               create the ring (io_uring) / nothing (busy-poll)
//! wait for Ready  ◀──ready──    run the loop: recv -> framer -> [FIX session] -> journal::append
//!                               -> engine -> shm; session outbox -> send
//! HotGroup::stop  ──Control──▶  (crossbeam ArrayQueue, polled every tick): FIX sessions log out
//! HotGroup::join  ◀──report──   close sockets, flush the engine, stop the sink
//! ```
//!
//! Sessions with FIX settings: their sequence stores are opened by [`spawn_group`] before the
//! thread starts (see `open_sessions`); the state machines move to the hot thread.
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crossbeam_queue::ArrayQueue;

use crate::engine::{Command, Counters, Engine, EngineConfig, FeedCounters, FixFeed};
use crate::fix::session::{Role, SeqStore, Session, SessionKey, StoreOptions};
use crate::io::{self, IoError};

use super::config::{Backend, Endpoint, IdleConfig, IoConfig, SessionConfig};
use super::ingest::{GroupStats, HotSink, Ingest, StatsSnapshot};
use crate::journal::JournalProducer;

/// A command for a hot thread (through its crossbeam `ArrayQueue`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Control {
    /// Close every connection, flush the engine, stop the sink, exit the loop.
    Stop,
    /// Forward an engine command (weights, pauses).
    Engine(Command),
}

/// Everything a hot thread needs besides its sink.
#[derive(Debug, Clone)]
pub struct GroupOptions {
    /// Thread name (also in errors).
    pub name: String,
    /// Backend.
    pub backend: Backend,
    /// Core to pin to (none: unpinned).
    pub core: Option<usize>,
    /// Sessions.
    pub sessions: Vec<SessionConfig>,
    /// Limits.
    pub io: IoConfig,
    /// Idle mode.
    pub idle: IdleConfig,
    /// Engine configuration.
    pub engine: EngineConfig,
    /// The recovered engine state (`journal::snapshot::recover_for_run`): the hot thread
    /// restores it into its new engine (and publishes the recovered rows) before going live.
    pub recovered: Option<crate::journal::RecoveredState>,
}

/// Why a group could not start.
#[derive(Debug)]
pub enum StartError {
    /// A listen address could not be bound.
    Bind {
        /// Session id.
        session: u32,
        /// Address.
        addr: SocketAddr,
        /// OS error.
        err: std::io::Error,
    },
    /// The core could not be pinned.
    Pin {
        /// Core.
        core: usize,
    },
    /// The sink (scoreboard) could not be created.
    Sink(String),
    /// The engine refused the configuration.
    Engine(String),
    /// The backend could not start (io_uring unavailable, ...): the message names cause and fix.
    Io(IoError),
    /// The thread could not be spawned or died starting.
    Thread(String),
    /// A FIX session could not start (settings, sequence store).
    Session {
        /// Session id.
        session: u32,
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Bind { session, addr, err } => write!(
                f,
                "session {session}: cannot listen on {addr}: {err} (is another process using the \
                 port? change group.sessions.listen)"
            ),
            StartError::Pin { core } => write!(
                f,
                "cannot pin the hot thread to core {core} (is it in this process's cpuset / \
                 `taskset`? change group.core)"
            ),
            StartError::Sink(e) => write!(f, "{e}"),
            StartError::Engine(e) => write!(f, "engine configuration: {e}"),
            StartError::Io(e) => write!(f, "{e}"),
            StartError::Thread(e) => write!(f, "hot thread: {e}"),
            StartError::Session { session, message } => {
                write!(f, "session {session}: {message}")
            }
        }
    }
}
impl std::error::Error for StartError {}

/// What a hot thread reports when it ends.
#[derive(Debug, Clone, Default)]
pub struct GroupReport {
    /// Final counters.
    pub stats: StatsSnapshot,
    /// Engine counters.
    pub engine: Counters,
    /// FIX adapter counters.
    pub feed: FeedCounters,
    /// The loop's error, if it ended on one (not a stop request).
    pub error: Option<String>,
}

/// A running hot thread.
#[derive(Debug)]
pub struct HotGroup {
    handle: Option<JoinHandle<GroupReport>>,
    control: Arc<ArrayQueue<Control>>,
    stats: Arc<GroupStats>,
    listen: Vec<(u32, SocketAddr)>,
}

impl HotGroup {
    /// The bound address of each acceptor session (ephemeral ports resolved).
    pub fn listen_addrs(&self) -> &[(u32, SocketAddr)] {
        &self.listen
    }
    /// The bound address of acceptor session `id`.
    pub fn addr_of(&self, id: u32) -> Option<SocketAddr> {
        self.listen.iter().find(|(s, _)| *s == id).map(|(_, a)| *a)
    }
    /// Live counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }
    /// The shared counters (for a metrics thread).
    pub fn shared_stats(&self) -> Arc<GroupStats> {
        Arc::clone(&self.stats)
    }
    /// Queues a control command; `false` if the queue is full.
    pub fn send(&self, c: Control) -> bool {
        self.control.push(c).is_ok()
    }
    /// Asks the thread to stop (retries while the queue is full).
    pub fn stop(&self) {
        while self.control.push(Control::Stop).is_err() {
            std::thread::yield_now();
        }
    }
    /// Whether the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }
    /// Waits for the thread to end.
    pub fn join(mut self) -> GroupReport {
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => GroupReport {
                error: Some("hot thread panicked".into()),
                ..Default::default()
            },
            None => GroupReport::default(),
        }
    }
    /// Stops and joins.
    pub fn shutdown(self) -> GroupReport {
        self.stop();
        self.join()
    }
}

impl Drop for HotGroup {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            while self.control.push(Control::Stop).is_err() {
                std::thread::yield_now();
            }
            let _ = h.join();
        }
    }
}

/// Binds the listeners now (errors name the session and address), then starts the hot thread,
/// which pins itself, builds the sink with `make_sink` and the engine *on that thread*, sets up
/// the backend (the io_uring ring is created there: SINGLE_ISSUER) and reports ready. Returns
/// once the loop runs, or with the reason it could not start. `journal`: the producer end of a
/// [`crate::journal::start`]ed journal (one per group); every framed message and every engine
/// tick is appended to it on the hot thread.
pub fn spawn_group<S, F>(
    opts: GroupOptions,
    make_sink: F,
    journal: Option<JournalProducer>,
) -> Result<HotGroup, StartError>
where
    S: HotSink + 'static,
    F: FnOnce(&EngineConfig) -> Result<S, String> + Send + 'static,
{
    let mut listeners: Vec<(usize, TcpListener)> = Vec::new();
    let mut initiators: Vec<(usize, SocketAddr)> = Vec::new();
    let mut listen = Vec::new();
    for (i, s) in opts.sessions.iter().enumerate() {
        match s.endpoint() {
            Some(Endpoint::Listen(addr)) => {
                let l = TcpListener::bind(addr).map_err(|err| StartError::Bind {
                    session: s.id,
                    addr,
                    err,
                })?;
                let local = l.local_addr().map_err(|err| StartError::Bind {
                    session: s.id,
                    addr,
                    err,
                })?;
                listen.push((s.id, local));
                listeners.push((i, l));
            }
            Some(Endpoint::Connect(addr)) => initiators.push((i, addr)),
            None => {
                return Err(StartError::Thread(format!(
                    "session {}: set exactly one of listen / connect",
                    s.id
                )));
            }
        }
    }
    let ids: Vec<u32> = opts.sessions.iter().map(|s| s.id).collect();
    let fix = open_sessions(&opts.sessions, journal.as_ref())?;
    let stats = Arc::new(GroupStats::new(&ids));
    let control = Arc::new(ArrayQueue::new(64));
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), StartError>>(1);
    let (st, ctl) = (Arc::clone(&stats), Arc::clone(&control));
    let handle = std::thread::Builder::new()
        .name(opts.name.clone())
        .spawn(move || {
            hot_main(
                opts, make_sink, journal, fix, listeners, initiators, ids, st, ctl, ready_tx,
            )
        })
        .map_err(|e| StartError::Thread(e.to_string()))?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(HotGroup {
            handle: Some(handle),
            control,
            stats,
            listen,
        }),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => {
            let _ = handle.join();
            Err(StartError::Thread("died while starting".into()))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn hot_main<S, F>(
    opts: GroupOptions,
    make_sink: F,
    journal: Option<JournalProducer>,
    fix: Vec<(usize, Session)>,
    listeners: Vec<(usize, TcpListener)>,
    initiators: Vec<(usize, SocketAddr)>,
    ids: Vec<u32>,
    stats: Arc<GroupStats>,
    control: Arc<ArrayQueue<Control>>,
    ready: mpsc::SyncSender<Result<(), StartError>>,
) -> GroupReport
where
    S: HotSink,
    F: FnOnce(&EngineConfig) -> Result<S, String>,
{
    macro_rules! fail {
        ($e:expr) => {{
            let e = $e;
            let msg = e.to_string();
            let _ = ready.send(Err(e));
            return GroupReport {
                error: Some(msg),
                ..Default::default()
            };
        }};
    }
    if let Some(core) = opts.core {
        if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
            fail!(StartError::Pin { core });
        }
    }
    let sink = match make_sink(&opts.engine) {
        Ok(s) => s,
        Err(e) => fail!(StartError::Sink(e)),
    };
    let mut engine = match Engine::new(opts.engine.clone(), sink) {
        Ok(e) => e,
        Err(e) => fail!(StartError::Engine(e.0.to_string())),
    };
    if let Some(Err(e)) = opts.recovered.as_ref().map(|r| r.restore_into(&mut engine)) {
        fail!(StartError::Engine(format!("recovered state: {e}")));
    }
    let feed = FixFeed::new(engine);
    let mut ingest = Ingest::new(
        feed,
        &ids,
        opts.io.max_connections,
        opts.io.max_body_len,
        journal,
        Arc::clone(&stats),
    );
    for (i, s) in fix {
        ingest.attach_session(i, s);
    }
    ingest.publish_stats();
    let params = io::LoopParams {
        io: opts.io,
        idle: opts.idle,
    };
    let result = match opts.backend {
        Backend::IoUring => match io::uring::UringLoop::new(&params, listeners, initiators) {
            Ok(mut l) => {
                stats.set_running(true);
                let _ = ready.send(Ok(()));
                l.run(&mut ingest, &control)
            }
            Err(e) => fail!(StartError::Io(e)),
        },
        Backend::BusyPoll => match io::busypoll::BusyLoop::new(&params, listeners, initiators) {
            Ok(mut l) => {
                stats.set_running(true);
                let _ = ready.send(Ok(()));
                l.run(&mut ingest, &control)
            }
            Err(e) => fail!(StartError::Io(e)),
        },
    };
    // Clean shutdown: the backend closed its sockets; publish what is pending, stop the sink.
    ingest.feed.engine.flush();
    ingest.feed.engine.sink_mut().stop();
    ingest.publish_stats();
    stats.set_running(false);
    let (engine, feed) = ingest.engine_counters();
    GroupReport {
        stats: stats.snapshot(),
        engine,
        feed,
        error: result.err().map(|e| e.to_string()),
    }
}

/// Opens the sequence store of every session with FIX settings and builds its state machine
/// (on the caller's thread: errors name the session). With a journal, a session whose store is
/// ahead of the journal (it persisted sequence numbers of messages the journal never got: a crash
/// between the two) resumes inbound at the journal's last MsgSeqNum + 1, so the counterparty
/// resends what the journal is missing.
fn open_sessions(
    sessions: &[SessionConfig],
    journal: Option<&JournalProducer>,
) -> Result<Vec<(usize, Session)>, StartError> {
    let wm = journal.map(|j| j.watermarks());
    let mut out = Vec::new();
    for (i, sc) in sessions.iter().enumerate() {
        let Some(fs) = &sc.fix else { continue };
        let err = |message: String| StartError::Session {
            session: sc.id,
            message,
        };
        if let Err((field, m)) = fs.validate() {
            return Err(err(format!("fix.{field}: {m}")));
        }
        let role = match sc.endpoint() {
            Some(Endpoint::Listen(_)) => Role::Acceptor,
            _ => Role::Initiator,
        };
        let key = SessionKey::from_settings(fs);
        let store = SeqStore::open_with(
            &fs.store_dir,
            &key,
            StoreOptions {
                fsync: fs.store_fsync,
            },
        )
        .map_err(|e| {
            err(format!(
                "sequence store in {}: {e} (check fix.store_dir)",
                fs.store_dir.display()
            ))
        })?;
        let mut s = Session::new(fs, role, store);
        if let Some(wm) = &wm {
            // The store may be ahead of the journal (a crash between the two writes): the
            // journal is the truth, the counterparty resends the rest. A journal that ran before
            // and holds nothing of this session journaled none of it: resume at 1. A brand-new
            // journal says nothing about the store's past: keep it (and say so).
            let last = wm.durable(sc.id);
            if (last > 0 || wm.preexisting()) && last + 1 < s.next_in() {
                tracing::warn!(
                    session = sc.id,
                    journal_last = last,
                    store_next_in = s.next_in(),
                    "FIX session: the sequence store is ahead of the journal; resuming inbound at \
                     the journal's last MsgSeqNum + 1 (the counterparty resends the rest)"
                );
                s.resume_inbound_at(last + 1);
            } else if last == 0 && s.next_in() > 1 {
                tracing::warn!(
                    session = sc.id,
                    store_next_in = s.next_in(),
                    "FIX session: a new journal; messages before the store's next MsgSeqNum are \
                     not in it (the store is kept)"
                );
            }
        }
        out.push((i, s));
    }
    Ok(out)
}
