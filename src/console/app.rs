//! The impure part of the console: reading the scoreboard into a [`Snapshot`] and the terminal
//! loop (crossterm events, periodic refresh, terminal restored on exit and on panic).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lpscore_shm::{BucketSlot, Liveness, ProfileId, ReadError, ScoreRow, Scoreboard, SymbolSlot};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

use super::control::ControlClient;
use super::model::{Action, Embed, KeyIn, Live, ProfileView, RowEntry, Snapshot, State};
use crate::journal::replay::bucket_label_of;
use crate::runtime::clock::{Clock, LiveClock};

/// A heartbeat older than this is stale.
pub const STALE_AFTER: Duration = Duration::from_secs(2);

/// Rows read per refresh at most; beyond it only the selected symbol (and `*`) is read.
pub const MAX_ROWS_PER_READ: usize = 65_536;

/// Tries per row on a busy seqlock before leaving it for the next refresh.
const BUSY_RETRIES: usize = 8;

/// Byte offset of `start_wall_ns` in the header (shm/LAYOUT.md).
const START_WALL_OFF: u64 = 152;

/// Reads one scoreboard path, reopening it when the writer restarts or the file is replaced.
pub struct BoardReader {
    path: PathBuf,
    board: Option<Scoreboard>,
}

fn read_retry(
    board: &Scoreboard,
    s: SymbolSlot,
    b: BucketSlot,
    lp: lpscore_shm::LpId,
) -> Result<ScoreRow, ReadError> {
    let mut last = Err(ReadError::Busy);
    for _ in 0..BUSY_RETRIES {
        last = board.read(s, b, lp);
        if !matches!(last, Err(ReadError::Busy)) {
            break;
        }
        std::thread::yield_now();
    }
    last
}

fn start_wall_ns(path: &Path) -> Option<u64> {
    let f = File::open(path).ok()?;
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, START_WALL_OFF).ok()?;
    Some(u64::from_le_bytes(b))
}

impl BoardReader {
    /// A reader of `path` (opened lazily, retried every read).
    pub fn new(path: PathBuf) -> Self {
        Self { path, board: None }
    }

    /// Reads everything the console shows. `want_symbol` is read even when the board is too
    /// large to read whole.
    pub fn read(&mut self, now_ns: u64, want_symbol: Option<&str>) -> Snapshot {
        let mut snap = Snapshot {
            path: self.path.display().to_string(),
            now_ns,
            ..Snapshot::default()
        };
        if let Some(b) = &self.board {
            match b.staleness(STALE_AFTER) {
                Liveness::Restarted | Liveness::Retired => self.board = None,
                _ => {}
            }
        }
        if self.board.is_none() {
            match Scoreboard::open(&self.path) {
                Ok(b) => self.board = Some(b),
                Err(e) => {
                    snap.live = Some(Live::NoBoard(format!(
                        "{}: {e} (is `lpscore run` up? pass --scoreboard or --config)",
                        self.path.display()
                    )));
                    return snap;
                }
            }
        }
        let Some(board) = &self.board else {
            return snap;
        };
        snap.epoch = board.epoch();
        snap.writer_pid = board.writer_pid();
        snap.start_wall_ns = start_wall_ns(&self.path);
        snap.live = Some(match board.staleness(STALE_AFTER) {
            Liveness::Live { age } => Live::Live(age.as_millis() as u64),
            Liveness::Stale { age } => Live::Stale(age.as_millis() as u64),
            Liveness::Restarted => Live::Restarted,
            Liveness::WriterGone => Live::WriterGone,
            Liveness::Stopped => Live::Stopped,
            Liveness::Retired => Live::Retired,
        });
        let caps = board.capacities();
        for p in 0..caps.max_profiles.min(8) as u8 {
            let mut info = None;
            for _ in 0..BUSY_RETRIES {
                match board.profile_info(ProfileId::new(p)) {
                    Err(ReadError::Busy) => continue,
                    r => {
                        info = r.ok();
                        break;
                    }
                }
            }
            if let Some(i) = info.filter(|i| i.active && !i.name.as_str().is_empty()) {
                snap.profiles.push(ProfileView {
                    index: p as usize,
                    name: i.name.as_str().to_string(),
                    weights: i.weights,
                });
            }
        }
        let edges = board.bucket_edges();
        let n_buckets = caps.n_buckets as u8;
        let mut buckets = vec![(BucketSlot::All, "all".to_string())];
        buckets.extend(
            (0..n_buckets).map(|b| (BucketSlot::Bucket(b), bucket_label_of(&edges, b.into()))),
        );
        snap.buckets = buckets.iter().map(|b| b.1.clone()).collect();
        let mut syms: Vec<(SymbolSlot, String)> = board
            .symbols()
            .map(|(id, n)| (SymbolSlot::One(id), n.as_str().to_string()))
            .collect();
        syms.sort_by(|a, b| a.1.cmp(&b.1));
        syms.push((SymbolSlot::All, "*".to_string()));
        snap.symbols = syms.iter().map(|s| s.1.clone()).collect();
        let lps: Vec<_> = board.lps().collect();
        let whole = syms.len() * buckets.len() * lps.len().max(1) <= MAX_ROWS_PER_READ;
        for (si, (slot, name)) in syms.iter().enumerate() {
            if !whole && *slot != SymbolSlot::All && want_symbol != Some(name.as_str()) {
                snap.skipped_symbols += 1;
                continue;
            }
            for (bi, (bslot, _)) in buckets.iter().enumerate() {
                for (lp, lname) in &lps {
                    match read_retry(board, *slot, *bslot, *lp) {
                        Ok(row) if row.has_data() => snap.rows.push(RowEntry {
                            symbol: si,
                            bucket: bi,
                            lp_id: lp.index(),
                            lp: lname.as_str().to_string(),
                            row,
                        }),
                        Ok(_) => {}
                        Err(ReadError::Busy) => snap.busy += 1,
                        Err(_) => {}
                    }
                }
            }
        }
        snap
    }
}

/// How the console runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The scoreboard file.
    pub scoreboard: PathBuf,
    /// The control socket, if any.
    pub socket: Option<PathBuf>,
    /// Refresh period.
    pub refresh: Duration,
    /// Transform scales for the preview (the writer's configuration's, when known).
    pub transforms: crate::score::Transforms,
}

fn key_of(k: event::KeyEvent) -> Option<KeyIn> {
    if k.kind != KeyEventKind::Press {
        return None;
    }
    Some(match k.code {
        KeyCode::Char(c) => KeyIn::Char(c),
        KeyCode::Enter => KeyIn::Enter,
        KeyCode::Esc => KeyIn::Esc,
        KeyCode::Up => KeyIn::Up,
        KeyCode::Down => KeyIn::Down,
        KeyCode::Left => KeyIn::Left,
        KeyCode::Right => KeyIn::Right,
        KeyCode::Tab => KeyIn::Tab,
        KeyCode::BackTab => KeyIn::BackTab,
        KeyCode::Backspace => KeyIn::Backspace,
        _ => return None,
    })
}

/// Why an embedded console closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmbedExit {
    /// The host set the stop flag (its run ended).
    Stopped,
    /// The user left the console (`q`); the host goes on without it.
    Quit,
    /// Ctrl-C (raw mode turns it into a key): the host should stop as on SIGINT.
    Interrupted,
}

/// What an embedding host says on each refresh: the lines around the console and what to read.
#[derive(Clone, Debug, Default)]
pub struct HostView {
    /// Title and log lines (see [`Embed`]).
    pub embed: Embed,
    /// What to read; `None` until the host has a scoreboard. A different scoreboard or socket
    /// path starts a fresh console state (a new run: the old history does not apply).
    pub source: Option<Options>,
    /// The profile to select when it first appears in a source's scoreboard.
    pub profile: Option<String>,
}

/// Runs the console until the user quits. The terminal is restored on return and, through
/// ratatui's panic hook, on a panic.
pub fn run(opts: &Options) -> std::io::Result<()> {
    run_loop(Some(opts), opts.refresh, None, None).map(|_| ())
}

/// Runs the console inside a host process (`lpscore demo`) on the calling thread, which must
/// own the terminal: `host` is polled every `refresh` for the title, the log lines and the
/// source; the console closes when `stop` is set (Acquire: pairs with the host's Release
/// store after its last line), when the user quits, or on Ctrl-C. The host must not write to
/// the terminal meanwhile.
pub fn run_embedded(
    refresh: Duration,
    stop: &AtomicBool,
    mut host: impl FnMut() -> HostView,
) -> std::io::Result<EmbedExit> {
    run_loop(None, refresh, Some(stop), Some(&mut host))
}

/// The console's source: a reader, a control client and a fresh state.
fn open_source(opts: &Options) -> (BoardReader, Option<ControlClient>, State) {
    let control = opts.socket.clone().map(ControlClient::new);
    let state = State::new(control.is_some(), opts.transforms);
    (BoardReader::new(opts.scoreboard.clone()), control, state)
}

fn run_loop(
    opts: Option<&Options>,
    refresh: Duration,
    stop: Option<&AtomicBool>,
    mut host: Option<&mut dyn FnMut() -> HostView>,
) -> std::io::Result<EmbedExit> {
    let mut source = opts.cloned();
    let (mut reader, mut control, mut state) = match &source {
        Some(o) => {
            let (r, c, s) = open_source(o);
            (Some(r), c, s)
        }
        None => (None, None, State::new(false, Default::default())),
    };
    let mut profile_done = false;
    let clock = LiveClock;
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            // Raw mode may be on already: undo what was done.
            let _ = ratatui::try_restore();
            return Err(e);
        }
    };
    let r = (|| -> std::io::Result<EmbedExit> {
        let mut last_read: Option<u64> = None;
        let refresh_ns = refresh.as_nanos() as u64;
        loop {
            if stop.is_some_and(|s| s.load(Ordering::Acquire)) {
                return Ok(EmbedExit::Stopped);
            }
            let now = clock.now_ns();
            let mut want_profile = None;
            if let Some(h) = host.as_mut() {
                let v = h();
                let changed = match (&source, &v.source) {
                    (_, None) => false,
                    (None, Some(_)) => true,
                    (Some(a), Some(b)) => a.scoreboard != b.scoreboard || a.socket != b.socket,
                };
                if changed {
                    if let Some(o) = &v.source {
                        let (r, c, s) = open_source(o);
                        (reader, control, state) = (Some(r), c, s);
                        source = v.source.clone();
                        profile_done = false;
                        last_read = None;
                    }
                }
                state.embed = Some(v.embed);
                want_profile = v.profile;
            }
            if last_read.is_none_or(|t| now.saturating_sub(t) >= refresh_ns) {
                let want = state.snap.symbols.get(state.symbol).cloned();
                let snap = match reader.as_mut() {
                    Some(r) => r.read(now, want.as_deref()),
                    None => Snapshot {
                        now_ns: now,
                        live: Some(Live::NoBoard("waiting for the appliance".into())),
                        ..Snapshot::default()
                    },
                };
                state.update(snap);
                if !profile_done {
                    if let Some(p) = &want_profile {
                        profile_done = state.select_profile(p);
                    }
                }
                last_read = Some(now);
            }
            terminal.draw(|f| super::view::draw(f, &state))?;
            let wait =
                Duration::from_nanos(refresh_ns.saturating_sub(clock.now_ns().saturating_sub(now)))
                    .min(refresh);
            if !event::poll(wait)? {
                continue;
            }
            // Drain what is queued so a burst of keys is handled before the next draw.
            loop {
                match event::read()? {
                    Event::Key(k)
                        if k.code == KeyCode::Char('c')
                            && k.modifiers.contains(KeyModifiers::CONTROL) =>
                    {
                        return Ok(EmbedExit::Interrupted);
                    }
                    Event::Key(k) => {
                        if let Some(k) = key_of(k) {
                            match state.on_key(k) {
                                Action::Quit => return Ok(EmbedExit::Quit),
                                Action::None => {}
                                Action::Apply { profile, weights } => {
                                    let r = match &control {
                                        Some(c) => c.set_weights(&profile, &weights),
                                        None => Err("no control socket".into()),
                                    };
                                    state.on_applied(r);
                                    // Show the new published scores as soon as they land.
                                    last_read = None;
                                }
                            }
                        }
                    }
                    Event::Resize(..) => {}
                    _ => {}
                }
                if !event::poll(Duration::ZERO)? {
                    break;
                }
            }
        }
    })();
    ratatui::try_restore()?;
    r
}
