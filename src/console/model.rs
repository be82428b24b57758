//! The console's pure part: what was read from the scoreboard ([`Snapshot`]), the screen state and
//! its key handling ([`State::on_key`]), the ranked table ([`State::table`]), the console's own
//! history ([`History`]) and the weight editor's re-ranking preview ([`preview`]). No terminal,
//! no clock, no I/O: the caller passes the time and the rows, so all of it is unit-tested.

use std::collections::{HashMap, VecDeque};

use lpscore_shm::{FLAG_NO_PRICE, ScoreRow};

use crate::score::{N_WEIGHTS, Transforms, composite};

/// The weight names of the control protocol (the fields of [`crate::score::Weights`]), by slot.
pub const WEIGHT_NAMES: [&str; 7] = [
    "latency",
    "fill_rate",
    "price_improvement",
    "market_impact",
    "reject_rate",
    "effective_spread",
    "markout",
];

/// The step of `+` / `-` in the weight editor.
pub const WEIGHT_STEP: f64 = 0.05;

/// How far back "change since one minute ago" looks, ns.
pub const CHANGE_WINDOW_NS: u64 = 60_000_000_000;

/// A published score and the preview's recomputation of it may differ by the f32 rounding of the
/// row's fields and score; beyond this (score points) the preview says it is approximate.
pub const PREVIEW_TOLERANCE: f64 = 0.05;

/// What the writer's heartbeat says (a copy of `lpscore_shm::Liveness`, plus "no board").
#[derive(Clone, Debug, PartialEq)]
pub enum Live {
    /// Heartbeat within the threshold; its age in ms.
    Live(u64),
    /// Heartbeat older than the threshold; its age in ms.
    Stale(u64),
    /// A new writer took the file over (the console reopens it).
    Restarted,
    /// The writer process is gone.
    WriterGone,
    /// The writer shut down cleanly.
    Stopped,
    /// The file was replaced (the console reopens the path).
    Retired,
    /// No scoreboard could be opened: why.
    NoBoard(String),
}

impl Live {
    /// The staleness banner, `None` while the writer is live.
    pub fn banner(&self) -> Option<String> {
        Some(match self {
            Live::Live(_) => return None,
            Live::Stale(ms) => format!(
                "STALE: no writer heartbeat for {:.1} s (rows below may be old)",
                *ms as f64 / 1e3
            ),
            Live::Restarted => "writer restarted: reopening the scoreboard".into(),
            Live::WriterGone => {
                "STALE: the writer process is gone (rows below are its last)".into()
            }
            Live::Stopped => {
                "STOPPED: the writer shut down cleanly (rows below are its last)".into()
            }
            Live::Retired => "scoreboard file replaced: reopening".into(),
            Live::NoBoard(why) => format!("no scoreboard: {why}"),
        })
    }
}

/// One active profile as published.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileView {
    /// Score slot (the index of the control protocol).
    pub index: usize,
    /// Name.
    pub name: String,
    /// Weights by slot (7 = reserved).
    pub weights: [f64; N_WEIGHTS],
}

/// One row with data.
#[derive(Clone, Debug, PartialEq)]
pub struct RowEntry {
    /// Index into [`Snapshot::symbols`].
    pub symbol: usize,
    /// Index into [`Snapshot::buckets`].
    pub bucket: usize,
    /// LP id (directory index: ties rank the lower id first, as `lpscore_shm::route::rank`).
    pub lp_id: usize,
    /// LP name.
    pub lp: String,
    /// The row.
    pub row: ScoreRow,
}

/// One read of the scoreboard.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Snapshot {
    /// The file.
    pub path: String,
    /// Writer epoch (incremented on every restart / takeover).
    pub epoch: u64,
    /// Writer pid.
    pub writer_pid: u32,
    /// Writer start, realtime ns (`start_wall_ns` of the header), when known.
    pub start_wall_ns: Option<u64>,
    /// Realtime ns of this read.
    pub now_ns: u64,
    /// Liveness.
    pub live: Option<Live>,
    /// Symbol names, sorted, then `*` (all symbols).
    pub symbols: Vec<String>,
    /// Bucket labels: `all`, then each size bucket.
    pub buckets: Vec<String>,
    /// Active profiles, by index.
    pub profiles: Vec<ProfileView>,
    /// Rows with data.
    pub rows: Vec<RowEntry>,
    /// Rows that stayed busy after the retries of this read (read again next refresh).
    pub busy: u32,
    /// Symbols that were not read (a board too large to read whole every refresh).
    pub skipped_symbols: usize,
}

impl Snapshot {
    /// Writer uptime in seconds.
    pub fn uptime_s(&self) -> Option<u64> {
        self.start_wall_ns
            .filter(|s| *s > 0)
            .map(|s| self.now_ns.saturating_sub(s) / 1_000_000_000)
    }
}

/// A history key: symbol, bucket label, LP name (names survive a writer restart; ids need not).
pub type Key = (String, String, String);

/// One sample of a row in the console's history.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Realtime ns.
    pub t_ns: u64,
    /// Scores per profile slot.
    pub scores: [f32; N_WEIGHTS],
    /// Fill rate.
    pub fill_rate: f32,
    /// Ack latency p50, ns.
    pub ack_p50_ns: u32,
    /// Markout, bps.
    pub markout_bps: f32,
}

/// The console's own history of every row it reads, bounded in keys and in samples per key.
#[derive(Clone, Debug)]
pub struct History {
    map: HashMap<Key, VecDeque<Sample>>,
    /// At most one sample per key per this many ns.
    pub min_gap_ns: u64,
    /// Samples kept per key.
    pub cap: usize,
    /// Keys kept (new keys beyond it are not recorded).
    pub max_keys: usize,
}

impl Default for History {
    fn default() -> Self {
        // One sample a second for ten minutes, for up to 2048 rows: ~2048 * 600 * 56 B = 69 MB
        // worst case; a typical board (a few symbols) holds a few MB.
        Self::new(1_000_000_000, 600, 2048)
    }
}

impl History {
    /// An empty history.
    pub fn new(min_gap_ns: u64, cap: usize, max_keys: usize) -> Self {
        Self {
            map: HashMap::new(),
            min_gap_ns,
            cap: cap.max(2),
            max_keys,
        }
    }

    /// Records the rows of a snapshot (at `snap.now_ns`).
    pub fn record(&mut self, snap: &Snapshot) {
        for e in &snap.rows {
            let key = key_of(snap, e);
            if !self.map.contains_key(&key) && self.map.len() >= self.max_keys {
                continue;
            }
            let q = self.map.entry(key).or_default();
            if q.back()
                .is_some_and(|s| snap.now_ns < s.t_ns.saturating_add(self.min_gap_ns))
            {
                continue;
            }
            if q.len() >= self.cap {
                q.pop_front();
            }
            q.push_back(Sample {
                t_ns: snap.now_ns,
                scores: e.row.scores,
                fill_rate: e.row.fill_rate,
                ack_p50_ns: e.row.ack_p50_ns,
                markout_bps: e.row.markout_bps,
            });
        }
    }

    /// The samples of a key, oldest first.
    pub fn samples(&self, key: &Key) -> impl Iterator<Item = &Sample> {
        self.map.get(key).into_iter().flatten()
    }

    /// Number of keys held.
    pub fn keys(&self) -> usize {
        self.map.len()
    }

    /// `now - (score at least CHANGE_WINDOW_NS ago)`: the latest sample at or before
    /// `now_ns - CHANGE_WINDOW_NS`; `None` until the history covers a minute.
    pub fn change(&self, key: &Key, profile: usize, now_ns: u64, score_now: f32) -> Option<f32> {
        let cut = now_ns.checked_sub(CHANGE_WINDOW_NS)?;
        let then = self
            .samples(key)
            .take_while(|s| s.t_ns <= cut)
            .last()?
            .scores
            .get(profile)
            .copied()?;
        (then.is_finite() && score_now.is_finite()).then_some(score_now - then)
    }
}

fn key_of(snap: &Snapshot, e: &RowEntry) -> Key {
    (
        snap.symbols.get(e.symbol).cloned().unwrap_or_default(),
        snap.buckets.get(e.bucket).cloned().unwrap_or_default(),
        e.lp.clone(),
    )
}

/// The rows of one (symbol, bucket) ranked by a profile's score, as `lpscore_shm::route::rank`
/// does: best first, ties by lower LP id; rows of paused LPs and rows without a score come after
/// the ranked ones (shown, unranked).
pub fn ranked(rows: &[RowEntry], symbol: usize, bucket: usize, profile: usize) -> Vec<&RowEntry> {
    let mut v: Vec<&RowEntry> = rows
        .iter()
        .filter(|e| e.symbol == symbol && e.bucket == bucket)
        .collect();
    let rank_score = |e: &RowEntry| {
        if e.row.is_paused() {
            None
        } else {
            e.row.score(profile)
        }
    };
    v.sort_by(|a, b| {
        match (rank_score(a), rank_score(b)) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
        .then(a.lp_id.cmp(&b.lp_id))
    });
    v
}

/// A key, independent of the terminal library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyIn {
    /// A character.
    Char(char),
    /// Enter.
    Enter,
    /// Escape.
    Esc,
    /// Arrow up.
    Up,
    /// Arrow down.
    Down,
    /// Arrow left.
    Left,
    /// Arrow right.
    Right,
    /// Tab.
    Tab,
    /// Shift-Tab.
    BackTab,
    /// Backspace.
    Backspace,
}

/// The screens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// The ranked table.
    Table,
    /// One LP's sparklines.
    Drill,
    /// The weight editor.
    Weights,
    /// The key help.
    Help,
}

/// The weight editor.
#[derive(Clone, Debug, PartialEq)]
pub struct Editor {
    /// Profile name being edited.
    pub profile: String,
    /// Its published weights when the editor opened (or after the last apply).
    pub original: [f64; N_WEIGHTS],
    /// The edited weights.
    pub weights: [f64; N_WEIGHTS],
    /// Selected weight slot (0..7).
    pub field: usize,
    /// A value being typed.
    pub input: Option<String>,
    /// The last message (a refused value, the apply's ack or error).
    pub message: Option<String>,
}

/// What the caller must do after a key.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Nothing beyond redrawing.
    None,
    /// Leave the console.
    Quit,
    /// Send `set_weights` for this profile with these (name, value) pairs.
    Apply {
        /// Profile name.
        profile: String,
        /// Every weight by name.
        weights: Vec<(&'static str, f64)>,
    },
}

/// The console state.
#[derive(Clone, Debug)]
pub struct State {
    /// Current screen.
    pub screen: Screen,
    /// Where Help returns to.
    pub back: Screen,
    /// Selected symbol (index into the snapshot's symbols).
    pub symbol: usize,
    /// Selected bucket.
    pub bucket: usize,
    /// Selected profile (index into the snapshot's active profiles).
    pub profile: usize,
    /// Selected row in the ranked table.
    pub row: usize,
    /// The latest read.
    pub snap: Snapshot,
    /// The console's history.
    pub history: History,
    /// The weight editor (open or not, it keeps its edits until applied or reset).
    pub editor: Option<Editor>,
    /// Whether a control socket is configured (else the editor previews only).
    pub can_apply: bool,
    /// Transform scales used by the preview.
    pub transforms: Transforms,
    /// What a host embedding the console shows around it (`lpscore demo`); `None` for `top`.
    pub embed: Option<Embed>,
}

/// The host's lines around an embedded console: a title (which run, its clock) above the
/// table and the host's last log lines below it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Embed {
    /// The title line.
    pub title: String,
    /// The host's most recent log lines, oldest first (the last few that fit are shown).
    pub log: Vec<String>,
}

impl State {
    /// A state with no read yet.
    pub fn new(can_apply: bool, transforms: Transforms) -> Self {
        Self {
            screen: Screen::Table,
            back: Screen::Table,
            symbol: 0,
            bucket: 0,
            profile: 0,
            row: 0,
            snap: Snapshot::default(),
            history: History::default(),
            editor: None,
            can_apply,
            transforms,
            embed: None,
        }
    }

    /// Selects the active profile named `name`; false when the snapshot has none by that name.
    pub fn select_profile(&mut self, name: &str) -> bool {
        match self.snap.profiles.iter().position(|p| p.name == name) {
            Some(i) => {
                self.profile = i;
                let n = self.ranked().len();
                self.row = self.row.min(n.saturating_sub(1));
                true
            }
            None => false,
        }
    }

    /// Takes a new read: records it and keeps the selections by name where they still exist.
    pub fn update(&mut self, snap: Snapshot) {
        let keep = |old: &[String], new: &[String], i: usize| {
            old.get(i)
                .and_then(|n| new.iter().position(|x| x == n))
                .unwrap_or_else(|| i.min(new.len().saturating_sub(1)))
        };
        self.symbol = keep(&self.snap.symbols, &snap.symbols, self.symbol);
        self.bucket = keep(&self.snap.buckets, &snap.buckets, self.bucket);
        let old_p: Vec<String> = self.snap.profiles.iter().map(|p| p.name.clone()).collect();
        let new_p: Vec<String> = snap.profiles.iter().map(|p| p.name.clone()).collect();
        self.profile = keep(&old_p, &new_p, self.profile);
        self.history.record(&snap);
        self.snap = snap;
        // The editor's baseline follows the published weights; the edits stay.
        if let Some(ed) = &mut self.editor {
            if let Some(p) = self.snap.profiles.iter().find(|p| p.name == ed.profile) {
                ed.original = p.weights;
            }
        }
        let n = self.ranked().len();
        self.row = self.row.min(n.saturating_sub(1));
    }

    /// The selected profile.
    pub fn profile_view(&self) -> Option<&ProfileView> {
        self.snap.profiles.get(self.profile)
    }

    /// The selected symbol's name.
    pub fn symbol_name(&self) -> &str {
        self.snap
            .symbols
            .get(self.symbol)
            .map_or("-", |s| s.as_str())
    }

    /// The selected bucket's label.
    pub fn bucket_name(&self) -> &str {
        self.snap
            .buckets
            .get(self.bucket)
            .map_or("-", |s| s.as_str())
    }

    /// The rows of the selected (symbol, bucket), ranked under the selected profile.
    pub fn ranked(&self) -> Vec<&RowEntry> {
        let slot = self.profile_view().map_or(0, |p| p.index);
        ranked(&self.snap.rows, self.symbol, self.bucket, slot)
    }

    /// The selected row.
    pub fn selected(&self) -> Option<&RowEntry> {
        self.ranked().get(self.row).copied()
    }

    /// The history key of a row.
    pub fn key(&self, e: &RowEntry) -> Key {
        key_of(&self.snap, e)
    }

    fn cycle(i: &mut usize, n: usize, fwd: bool) {
        if n == 0 {
            *i = 0;
        } else if fwd {
            *i = (*i + 1) % n;
        } else {
            *i = (*i + n - 1) % n;
        }
    }

    fn open_editor(&mut self) {
        let Some(p) = self.profile_view().cloned() else {
            return;
        };
        let keep = self.editor.as_ref().is_some_and(|e| e.profile == p.name);
        if !keep {
            self.editor = Some(Editor {
                profile: p.name,
                original: p.weights,
                weights: p.weights,
                field: 0,
                input: None,
                message: None,
            });
        }
        self.screen = Screen::Weights;
    }

    /// Handles one key; returns what the caller must do.
    pub fn on_key(&mut self, k: KeyIn) -> Action {
        if self.screen == Screen::Weights {
            return self.on_editor_key(k);
        }
        let n_sym = self.snap.symbols.len();
        let n_b = self.snap.buckets.len();
        let n_p = self.snap.profiles.len();
        match (self.screen, k) {
            (Screen::Help, KeyIn::Char('q')) => return Action::Quit,
            (Screen::Help, _) => self.screen = self.back,
            (_, KeyIn::Char('q')) => return Action::Quit,
            (Screen::Table, KeyIn::Esc) => return Action::Quit,
            (Screen::Drill, KeyIn::Esc | KeyIn::Enter) => self.screen = Screen::Table,
            (_, KeyIn::Char('?')) => {
                self.back = self.screen;
                self.screen = Screen::Help;
            }
            (_, KeyIn::Char('s') | KeyIn::Right) => {
                Self::cycle(&mut self.symbol, n_sym, true);
                self.row = 0;
            }
            (_, KeyIn::Char('S') | KeyIn::Left) => {
                Self::cycle(&mut self.symbol, n_sym, false);
                self.row = 0;
            }
            (_, KeyIn::Char('b')) => {
                Self::cycle(&mut self.bucket, n_b, true);
                self.row = 0;
            }
            (_, KeyIn::Char('B')) => {
                Self::cycle(&mut self.bucket, n_b, false);
                self.row = 0;
            }
            (_, KeyIn::Char('p') | KeyIn::Tab) => Self::cycle(&mut self.profile, n_p, true),
            (_, KeyIn::Char('P') | KeyIn::BackTab) => Self::cycle(&mut self.profile, n_p, false),
            (_, KeyIn::Down | KeyIn::Char('j')) => {
                let n = self.ranked().len();
                if self.row + 1 < n {
                    self.row += 1;
                }
            }
            (_, KeyIn::Up | KeyIn::Char('k')) => self.row = self.row.saturating_sub(1),
            (Screen::Table, KeyIn::Enter) if self.selected().is_some() => {
                self.screen = Screen::Drill;
            }
            (_, KeyIn::Char('w')) => self.open_editor(),
            _ => {}
        }
        Action::None
    }

    fn on_editor_key(&mut self, k: KeyIn) -> Action {
        let can_apply = self.can_apply;
        let names: Vec<String> = self.snap.profiles.iter().map(|p| p.name.clone()).collect();
        let Some(ed) = self.editor.as_mut() else {
            self.screen = Screen::Table;
            return Action::None;
        };
        if let Some(buf) = &mut ed.input {
            match k {
                KeyIn::Char(c) if (c.is_ascii_digit() || c == '.') && buf.len() < 16 => {
                    buf.push(c);
                }
                KeyIn::Backspace => {
                    buf.pop();
                }
                KeyIn::Esc => ed.input = None,
                KeyIn::Enter => {
                    match buf.parse::<f64>() {
                        Ok(v) if v.is_finite() && v >= 0.0 => {
                            ed.weights[ed.field] = v;
                            ed.message = None;
                        }
                        _ => {
                            ed.message = Some(format!(
                                "{buf:?} is not a weight (a number >= 0, e.g. 0.25)"
                            ))
                        }
                    }
                    ed.input = None;
                }
                _ => {}
            }
            return Action::None;
        }
        match k {
            KeyIn::Esc | KeyIn::Char('w') => self.screen = Screen::Table,
            KeyIn::Char('q') => return Action::Quit,
            KeyIn::Char('?') => {
                self.back = Screen::Weights;
                self.screen = Screen::Help;
            }
            KeyIn::Up | KeyIn::Char('k') => ed.field = ed.field.saturating_sub(1),
            KeyIn::Down | KeyIn::Char('j') => ed.field = (ed.field + 1).min(WEIGHT_NAMES.len() - 1),
            KeyIn::Char('+' | '=') | KeyIn::Right => {
                ed.weights[ed.field] = round_step(ed.weights[ed.field] + WEIGHT_STEP);
            }
            KeyIn::Char('-') | KeyIn::Left => {
                ed.weights[ed.field] = round_step((ed.weights[ed.field] - WEIGHT_STEP).max(0.0));
            }
            KeyIn::Char(c) if c.is_ascii_digit() || c == '.' => ed.input = Some(c.to_string()),
            KeyIn::Char('r') => {
                ed.weights = ed.original;
                ed.message = Some("edits reset to the published weights".into());
            }
            KeyIn::Char('p' | 'P') | KeyIn::Tab | KeyIn::BackTab => {
                let fwd = matches!(k, KeyIn::Char('p') | KeyIn::Tab);
                let n = names.len();
                Self::cycle(&mut self.profile, n, fwd);
                self.editor = None;
                self.open_editor();
            }
            KeyIn::Enter => {
                if crate::score::check_weights(&ed.weights).is_err() {
                    ed.message =
                        Some("not applied: weights must be finite, >= 0 and not all zero".into());
                } else if !can_apply {
                    ed.message = Some(
                        "read-only: no control socket (pass --config or --socket to apply)".into(),
                    );
                } else {
                    ed.message = Some("applying...".into());
                    return Action::Apply {
                        profile: ed.profile.clone(),
                        weights: WEIGHT_NAMES
                            .iter()
                            .zip(ed.weights)
                            .map(|(n, w)| (*n, w))
                            .collect(),
                    };
                }
            }
            _ => {}
        }
        Action::None
    }

    /// The result of an [`Action::Apply`]: the acknowledged weights (by slot) and whether the
    /// appliance persisted them, or the error to show.
    pub fn on_applied(&mut self, r: Result<([f64; N_WEIGHTS], bool), String>) {
        let Some(ed) = self.editor.as_mut() else {
            return;
        };
        match r {
            Ok((w, persisted)) => {
                ed.original = w;
                ed.weights = w;
                ed.message = Some(if persisted {
                    format!("applied to {}: ack ok, persisted", ed.profile)
                } else {
                    format!("applied to {}: ack ok, NOT persisted", ed.profile)
                });
            }
            Err(e) => ed.message = Some(format!("not applied: {e}")),
        }
    }
}

fn round_step(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// One line of the re-ranking preview.
#[derive(Clone, Debug, PartialEq)]
pub struct PreviewRow {
    /// LP name.
    pub lp: String,
    /// Rank under the published weights (1-based), `None` when unranked.
    pub rank_now: Option<usize>,
    /// The published score.
    pub score_now: Option<f32>,
    /// Rank under the edited weights.
    pub rank_new: Option<usize>,
    /// The score under the edited weights, `None` when it cannot be computed from the row.
    pub score_new: Option<f64>,
}

/// The re-ranking preview of one (symbol, bucket).
#[derive(Clone, Debug, PartialEq)]
pub struct Preview {
    /// LPs in the new order (ranked first, then the others).
    pub rows: Vec<PreviewRow>,
    /// Largest gap between a published score and its recomputation from the row (score points):
    /// how exact the preview is.
    pub max_residual: f64,
    /// Why some rows could not be previewed, if any.
    pub note: Option<String>,
}

/// The per-KPI terms `n_k` of a row, as far as the row carries them: every slot but latency is a
/// transform of a row field (the same f64 estimate the engine scored, rounded to f32). Latency is
/// scored on the *mean* ack latency, which the row does not carry (only p50/p99): it is solved
/// from a published score whose profile weighs latency, `None` if there is none.
pub fn terms_of(
    row: &ScoreRow,
    profiles: &[ProfileView],
    t: &Transforms,
) -> Option<[f64; N_WEIGHTS]> {
    use crate::score::ScoreInputs;
    let k = ScoreInputs {
        latency_ns: 0.0,
        fill_rate: f64::from(row.fill_rate),
        pi_bps: f64::from(row.pi_bps),
        impact_bps: f64::from(row.impact_bps),
        reject_rate: f64::from(row.reject_rate),
        es_bps: f64::from(row.es_bps),
        markout_bps: f64::from(row.markout_bps),
    };
    let mut n = t.normalise(&k);
    n[7] = 0.0;
    // Solve the latency term from the profile that weighs it most (best conditioned).
    let best = profiles
        .iter()
        .filter_map(|p| {
            let sum: f64 = p.weights.iter().sum();
            let share = p.weights[0] / sum;
            let s = row.score(p.index)?;
            (share > 1e-6 && sum > 0.0).then_some((share, sum, s, p))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, sum, s, p)) => {
            let rest: f64 = (1..N_WEIGHTS).map(|i| p.weights[i] * n[i]).sum();
            n[0] = ((f64::from(s) / 100.0 * sum - rest) / p.weights[0]).clamp(0.0, 1.0);
            Some(n)
        }
        None => {
            n[0] = f64::NAN;
            Some(n)
        }
    }
}

/// The re-ranking preview of `rows` (one symbol and bucket) under `new_weights` for the profile in
/// score slot `slot`, computed locally from the rows (see [`terms_of`]). A row whose latency term
/// is unknown while the new weights weigh latency gets no preview score, and `note` says why.
pub fn preview(
    rows: &[&RowEntry],
    profiles: &[ProfileView],
    slot: usize,
    new_weights: &[f64; N_WEIGHTS],
    t: &Transforms,
) -> Preview {
    let mut note = None;
    let mut max_residual = 0.0f64;
    let mut out: Vec<(PreviewRow, usize)> = Vec::new();
    let mut now: Vec<(usize, f32)> = rows
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.row.is_paused())
        .filter_map(|(i, e)| e.row.score(slot).map(|s| (i, s)))
        .collect();
    now.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then(rows[a.0].lp_id.cmp(&rows[b.0].lp_id))
    });
    for (i, e) in rows.iter().enumerate() {
        let n = terms_of(&e.row, profiles, t);
        let score_new = match n {
            Some(n) if n[0].is_nan() && new_weights[0] != 0.0 => {
                note = Some(
                    "no preview for some rows: the row has no mean latency and no published \
                     profile weighs latency to solve it from"
                        .to_string(),
                );
                None
            }
            Some(mut n) => {
                if n[0].is_nan() {
                    n[0] = 0.0; // weighed 0 by the new weights: no effect
                } else {
                    for p in profiles {
                        if let Some(s) = e.row.score(p.index) {
                            let r = (composite(&p.weights, &n) - f64::from(s)).abs();
                            max_residual = max_residual.max(r);
                        }
                    }
                }
                let v = composite(new_weights, &n);
                v.is_finite().then_some(v)
            }
            None => None,
        };
        out.push((
            PreviewRow {
                lp: e.lp.clone(),
                rank_now: now.iter().position(|(j, _)| *j == i).map(|r| r + 1),
                score_now: e.row.score(slot),
                rank_new: None,
                score_new: if e.row.is_paused() { None } else { score_new },
            },
            e.lp_id,
        ));
    }
    out.sort_by(|a, b| {
        match (a.0.score_new, b.0.score_new) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
        .then(a.1.cmp(&b.1))
    });
    for (i, (r, _)) in out.iter_mut().enumerate() {
        if r.score_new.is_some() {
            r.rank_new = Some(i + 1);
        }
    }
    if max_residual > PREVIEW_TOLERANCE && note.is_none() {
        note = Some(format!(
            "approximate: published scores differ from their recomputation by up to {max_residual:.2} \
             (transform scales differ from the writer's? pass its --config)"
        ));
    }
    Preview {
        rows: out.into_iter().map(|(r, _)| r).collect(),
        max_residual,
        note,
    }
}

/// Whether a row's price KPIs are unavailable (no NBBO): shown as a marker.
pub fn no_price(row: &ScoreRow) -> bool {
    row.flags & FLAG_NO_PRICE != 0
}

/// A column of the ranked table: title, width, and how soon it is dropped on a narrow terminal
/// (higher goes first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// Header text.
    pub title: &'static str,
    /// Width in cells.
    pub width: u16,
    /// Drop order (0 = never dropped).
    pub drop: u8,
}

/// Every column, in display order.
pub const COLUMNS: [Column; 14] = [
    Column {
        title: "#",
        width: 2,
        drop: 0,
    },
    Column {
        title: "LP",
        width: 10,
        drop: 0,
    },
    Column {
        title: "score",
        width: 6,
        drop: 0,
    },
    Column {
        title: "chg1m",
        width: 6,
        drop: 2,
    },
    Column {
        title: "orders",
        width: 7,
        drop: 1,
    },
    Column {
        title: "fill%",
        width: 6,
        drop: 3,
    },
    Column {
        title: "ack50us",
        width: 8,
        drop: 4,
    },
    Column {
        title: "PI_bp",
        width: 6,
        drop: 5,
    },
    Column {
        title: "imp_bp",
        width: 6,
        drop: 6,
    },
    Column {
        title: "mo_bp",
        width: 6,
        drop: 7,
    },
    Column {
        title: "rej%",
        width: 5,
        drop: 8,
    },
    Column {
        title: "ES_bp",
        width: 6,
        drop: 9,
    },
    Column {
        title: "eff_n",
        width: 7,
        drop: 10,
    },
    Column {
        title: "ack99us",
        width: 8,
        drop: 11,
    },
];

/// The columns that fit in `width` cells (one space between columns): the highest `drop` goes
/// first; the `drop == 0` columns always stay.
pub fn columns_for(width: u16) -> Vec<Column> {
    let mut cols: Vec<Column> = COLUMNS.to_vec();
    let total = |c: &[Column]| {
        c.iter().map(|c| u32::from(c.width)).sum::<u32>() + c.len().saturating_sub(1) as u32
    };
    while total(&cols) > u32::from(width) {
        let Some((i, _)) = cols
            .iter()
            .enumerate()
            .filter(|(_, c)| c.drop > 0)
            .max_by_key(|(_, c)| c.drop)
        else {
            break;
        };
        cols.remove(i);
    }
    cols
}

fn fmt_f(x: f32, prec: usize) -> String {
    if x.is_finite() {
        format!("{x:.prec$}")
    } else {
        "-".into()
    }
}

fn fmt_us(ns: u32) -> String {
    let us = f64::from(ns) / 1e3;
    if us >= 100_000.0 {
        format!("{:.0}ms", us / 1e3)
    } else {
        format!("{us:.1}")
    }
}

/// The text of one cell (see [`COLUMNS`]); `rank` is 1-based, `None` when unranked.
pub fn cell(
    col: &Column,
    e: &RowEntry,
    rank: Option<usize>,
    slot: usize,
    change: Option<f32>,
) -> String {
    let r = &e.row;
    match col.title {
        "#" => match rank {
            Some(n) => n.to_string(),
            None if r.is_paused() => "P".into(),
            None => "-".into(),
        },
        "LP" => {
            let mut s: String = e.lp.chars().take(usize::from(col.width)).collect();
            if no_price(r) && s.chars().count() < usize::from(col.width) {
                s.push('~');
            }
            s
        }
        "score" => r.score(slot).map_or("-".into(), |s| fmt_f(s, 1)),
        "chg1m" => change.map_or("-".into(), |c| format!("{c:+.1}")),
        "orders" => r.n_orders.to_string(),
        "fill%" => fmt_f(r.fill_rate * 100.0, 1),
        "ack50us" => fmt_us(r.ack_p50_ns),
        "PI_bp" => fmt_f(r.pi_bps, 2),
        "imp_bp" => fmt_f(r.impact_bps, 2),
        "mo_bp" => fmt_f(r.markout_bps, 2),
        "rej%" => fmt_f(r.reject_rate * 100.0, 1),
        "ES_bp" => fmt_f(r.es_bps, 2),
        "eff_n" => fmt_f(r.eff_orders, 1),
        "ack99us" => fmt_us(r.ack_p99_ns),
        _ => String::new(),
    }
}

impl State {
    /// The ranked table of the selected (symbol, bucket, profile) for a terminal `width` wide:
    /// the columns that fit, and the cells of each row.
    pub fn table(&self, width: u16) -> (Vec<Column>, Vec<Vec<String>>) {
        let cols = columns_for(width);
        let slot = self.profile_view().map_or(0, |p| p.index);
        let rows = self
            .ranked()
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let ranked = !e.row.is_paused() && e.row.score(slot).is_some();
                let change = e
                    .row
                    .score(slot)
                    .and_then(|s| self.history.change(&self.key(e), slot, self.snap.now_ns, s));
                cols.iter()
                    .map(|c| cell(c, e, ranked.then_some(i + 1), slot, change))
                    .collect()
            })
            .collect();
        (cols, rows)
    }

    /// The drill-down series of the selected row (oldest first): score under the selected
    /// profile, fill rate, ack p50 latency (ns) and markout (bps).
    pub fn series(&self) -> Option<Series> {
        let e = self.selected()?;
        let slot = self.profile_view().map_or(0, |p| p.index);
        let key = self.key(e);
        let mut s = Series::default();
        for x in self.history.samples(&key) {
            s.score.push(f64::from(x.scores[slot]));
            s.fill.push(f64::from(x.fill_rate));
            s.latency.push(f64::from(x.ack_p50_ns));
            s.markout.push(f64::from(x.markout_bps));
            s.t0 = if s.t0 == 0 { x.t_ns } else { s.t0 };
            s.t1 = x.t_ns;
        }
        Some(s)
    }
}

/// The drill-down series of one row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Score under the selected profile.
    pub score: Vec<f64>,
    /// Fill rate.
    pub fill: Vec<f64>,
    /// Ack latency p50, ns.
    pub latency: Vec<f64>,
    /// Markout, bps.
    pub markout: Vec<f64>,
    /// First sample time, realtime ns.
    pub t0: u64,
    /// Last sample time.
    pub t1: u64,
}

/// A series scaled for a sparkline (non-negative integers; the minimum maps to 1 so that a flat
/// series still shows a bar), keeping its last `width` points; with its min and max.
pub fn spark(v: &[f64], width: usize) -> (Vec<u64>, f64, f64) {
    let v: Vec<f64> = v[v.len().saturating_sub(width)..]
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .collect();
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if v.is_empty() {
        return (Vec::new(), f64::NAN, f64::NAN);
    }
    let span = hi - lo;
    let data = v
        .iter()
        .map(|x| {
            if span > 0.0 {
                1 + ((x - lo) / span * 99.0).round() as u64
            } else {
                50
            }
        })
        .collect();
    (data, lo, hi)
}
