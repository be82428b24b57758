//! Requests to commands: parse one JSON line, check it, send the engine command to every group,
//! wait for every acknowledgement, persist weight changes, answer one JSON line.
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::persist::{self, Change};
use crate::engine::{Ack, Command, Outcome, ShortName};
use crate::journal::Watermarks;
use crate::runtime::{Control, HotGroup};
use crate::score::{
    MAX_PROFILES, N_WEIGHTS, ProfileConfig, WEIGHT_NAMES, check_profile_name, check_weights,
    weight_slot,
};

/// A profile slot: `(name, weight slots)`, `None` when free.
pub type Slot = Option<(String, [f64; N_WEIGHTS])>;

/// What the controller drives: the hot threads (one per group).
pub trait Target: Sync {
    /// Number of groups.
    fn groups(&self) -> usize;
    /// Queues `c` for group `g`'s engine; `false` when its control queue is full.
    fn send(&self, g: usize, c: Command) -> bool;
    /// Whether group `g`'s hot thread is running.
    fn running(&self, g: usize) -> bool;
    /// Group `g`'s counters, as a JSON object.
    fn status(&self, g: usize) -> Value;
}

/// The running appliance's groups.
#[derive(Debug)]
pub struct GroupTarget<'a>(pub &'a [HotGroup]);

impl Target for GroupTarget<'_> {
    fn groups(&self) -> usize {
        self.0.len()
    }
    fn send(&self, g: usize, c: Command) -> bool {
        self.0[g].send(Control::Engine(c))
    }
    fn running(&self, g: usize) -> bool {
        !self.0[g].is_finished()
    }
    fn status(&self, g: usize) -> Value {
        let s = self.0[g].stats();
        let sum = |f: fn(&crate::runtime::ingest::SessionCounters) -> u64| {
            s.sessions.iter().map(f).sum::<u64>()
        };
        json!({
            "index": g,
            "running": !self.0[g].is_finished(),
            "messages": s.messages(),
            "bytes": sum(|c| c.bytes),
            "connections": sum(|c| c.connections),
            "frame_errors": sum(|c| c.frame_errors),
            "parse_errors": sum(|c| c.parse_errors),
            "engine_events": s.engine_events,
            "enobufs": s.io.enobufs,
            "journal_refused": s.io.journal_refused,
            "sessions": s.sessions.iter().map(|c| json!({
                "id": c.id,
                "connections": c.connections,
                "messages": c.messages,
                "bytes": c.bytes,
                "frame_errors": c.frame_errors,
                "parse_errors": c.parse_errors,
            })).collect::<Vec<_>>(),
        })
    }
}

/// How long a command may take to be applied by every hot thread (ticked every `io.tick_us`).
const ACK_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long `rotate_journal` waits for every journal thread to close its segment (a write and an
/// fdatasync on a possibly busy disk).
const ROTATE_TIMEOUT: Duration = Duration::from_secs(5);

struct State {
    /// Profile slots as the engines hold them (the engines refuse what this refuses).
    profiles: [Slot; MAX_PROFILES],
    /// Last command sequence number.
    seq: u64,
}

/// Handles requests, one at a time (a mutex: commands are rare and each waits for its
/// acknowledgements).
pub struct Controller<T: Target> {
    target: T,
    config: Option<PathBuf>,
    /// One acknowledgement cell per group, leaked once (see [`Ack`]).
    acks: Vec<&'static AtomicU64>,
    state: Mutex<State>,
    started_ns: u64,
    ack_timeout: Duration,
    /// Each journal's watermarks, with its group (empty: journal off).
    journals: Vec<(usize, Watermarks)>,
}

impl<T: Target> std::fmt::Debug for Controller<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

type Reply = Result<Map<String, Value>, String>;

impl<T: Target> Controller<T> {
    /// A controller of `target` whose engines started with `profiles`; weight changes are
    /// persisted to `config` when given.
    pub fn new(target: T, profiles: &[ProfileConfig], config: Option<PathBuf>) -> Self {
        let slots: Vec<_> = profiles
            .iter()
            .map(|p| Some((p.name.clone(), p.weights.to_slots())))
            .collect();
        Self::with_slots(target, &slots, config)
    }

    /// A controller of engines whose profile slot `i` holds `slots[i]` (`None`: free), e.g. as
    /// read back from the scoreboard ([`profiles_from_scoreboard`]) after a recovery.
    pub fn with_slots(target: T, profiles: &[Slot], config: Option<PathBuf>) -> Self {
        let mut slots: [Slot; MAX_PROFILES] = Default::default();
        for (s, p) in slots.iter_mut().zip(profiles) {
            *s = p.clone();
        }
        let acks = (0..target.groups())
            .map(|_| &*Box::leak(Box::new(AtomicU64::new(0))))
            .collect();
        Self {
            target,
            config,
            acks,
            state: Mutex::new(State {
                profiles: slots,
                seq: 0,
            }),
            started_ns: lpscore_shm::monotonic_ns(),
            ack_timeout: ACK_TIMEOUT,
            journals: Vec::new(),
        }
    }

    /// The groups' journals, for `rotate_journal` (none: the journal is off).
    pub fn with_journals(mut self, journals: Vec<(usize, Watermarks)>) -> Self {
        self.journals = journals;
        self
    }

    /// Answers one request line (without its newline) with one response line (without newline).
    pub fn handle_line(&self, line: &[u8]) -> String {
        let req: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => return error_line(None, &format!("invalid JSON: {e}")),
        };
        let id = req.get("id").cloned();
        let Some(obj) = req.as_object() else {
            return error_line(id, "a request is a JSON object: {\"cmd\":\"status\"}");
        };
        let reply = match obj.get("cmd") {
            Some(Value::String(c)) => self.dispatch(c, obj),
            Some(_) => Err("\"cmd\" must be a string".into()),
            None => Err(
                "missing \"cmd\" (status, weights, set_weights, add_profile, \
                         remove_profile, pause_lp, resume_lp, rotate_journal)"
                    .into(),
            ),
        };
        match reply {
            Ok(mut m) => {
                let mut out = Map::new();
                if let Some(id) = id {
                    out.insert("id".into(), id);
                }
                out.insert("ok".into(), Value::Bool(true));
                out.append(&mut m);
                Value::Object(out).to_string()
            }
            Err(e) => error_line(id, &e),
        }
    }

    fn dispatch(&self, cmd: &str, req: &Map<String, Value>) -> Reply {
        // A poisoned lock only means a panic elsewhere mid-request: the state is still whole
        // (every update is a plain assignment after the acknowledgements).
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match cmd {
            "status" => Ok(self.status(&st)),
            "weights" => Ok(Map::from_iter([("profiles".into(), profiles_json(&st))])),
            "set_weights" => self.set_weights(&mut st, req),
            "add_profile" => self.add_profile(&mut st, req),
            "remove_profile" => self.remove_profile(&mut st, req),
            "pause_lp" => self.pause(&mut st, req, true),
            "resume_lp" => self.pause(&mut st, req, false),
            // Under the lock like every command: one rotation at a time.
            "rotate_journal" => self.rotate_journal(),
            other => Err(format!(
                "unknown command {other:?}: use status, weights, set_weights, add_profile, \
                 remove_profile, pause_lp, resume_lp or rotate_journal"
            )),
        }
    }

    /// Asks every journal thread to close its current segment and waits until each one has
    /// (the next record of each group opens a new segment).
    fn rotate_journal(&self) -> Reply {
        if self.journals.is_empty() {
            return Err(
                "the journal is off: nothing to rotate (set [journal] enabled = true \
                        and dir)"
                    .into(),
            );
        }
        let failed = |g: &usize, w: &Watermarks| {
            format!(
                "group {g}'s journal thread stopped on an error ({}): not rotated",
                w.error().unwrap_or_else(|| "unknown".into())
            )
        };
        let mut tickets = Vec::with_capacity(self.journals.len());
        for (g, w) in &self.journals {
            if w.failed() {
                return Err(failed(g, w));
            }
            tickets.push((w.stats().rotations, w.request_rotate()));
        }
        let deadline = lpscore_shm::monotonic_ns() + ROTATE_TIMEOUT.as_nanos() as u64;
        let mut out = Vec::with_capacity(self.journals.len());
        let mut rotated = 0u64;
        for ((g, w), (before, ticket)) in self.journals.iter().zip(tickets) {
            while !w.rotation_done(ticket) {
                if w.failed() {
                    return Err(failed(g, w));
                }
                if lpscore_shm::monotonic_ns() > deadline {
                    return Err(format!(
                        "group {g}'s journal did not close its segment within {} s (disk busy, \
                         or the journal stopped): it rotates when it gets to it",
                        ROTATE_TIMEOUT.as_secs()
                    ));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            let st = w.stats();
            // The ticket is served with the segment closed, or with nothing written to close.
            let closed = st.rotations > before;
            rotated += u64::from(closed);
            out.push(json!({
                "group": g,
                "closed": closed,
                "segments": st.segments,
                "rotations": st.rotations,
            }));
        }
        Ok(Map::from_iter([
            ("rotated".into(), json!(rotated)),
            ("journals".into(), Value::Array(out)),
        ]))
    }

    fn status(&self, st: &State) -> Map<String, Value> {
        let up = lpscore_shm::monotonic_ns().saturating_sub(self.started_ns) / 1_000_000_000;
        let groups: Vec<Value> = (0..self.target.groups())
            .map(|g| self.target.status(g))
            .collect();
        let mut s = Map::new();
        s.insert("uptime_s".into(), json!(up));
        s.insert("pid".into(), json!(std::process::id()));
        s.insert("groups".into(), Value::Array(groups));
        s.insert(
            "profiles".into(),
            json!(st.profiles.iter().flatten().count()),
        );
        if let Some(c) = &self.config {
            s.insert("config".into(), json!(c.display().to_string()));
        }
        let journals: Vec<Value> = self
            .journals
            .iter()
            .map(|(g, w)| {
                let j = w.stats();
                json!({
                    "group": g,
                    "failed": w.failed(),
                    "records": j.records,
                    "bytes": j.bytes,
                    "fsyncs": j.fsyncs,
                    "segments": j.segments,
                    "rotations": j.rotations,
                    "lag_records": j.lag_records(),
                    "fsync_max_us": j.fsync_max_ns / 1_000,
                })
            })
            .collect();
        s.insert("journals".into(), Value::Array(journals));
        Map::from_iter([("status".into(), Value::Object(s))])
    }

    fn set_weights(&self, st: &mut State, req: &Map<String, Value>) -> Reply {
        let slot = find_profile(st, req.get("profile"))?;
        let (name, old) = st.profiles[slot].clone().ok_or("no such profile")?;
        let w = parse_weights(req.get("weights"), old, true)?;
        self.install_profile(st, slot, name, w, false)
    }

    /// Puts profile `name` with weights `w` in `slot` in every group (acknowledged), then in
    /// the control thread's model, then in the configuration file (`add`: a new profile, else
    /// new weights for an existing one).
    fn install_profile(
        &self,
        st: &mut State,
        slot: usize,
        name: String,
        w: [f64; N_WEIGHTS],
        add: bool,
    ) -> Reply {
        let sn = ShortName::new(&name).ok_or("bad profile name")?;
        self.apply_all(st, |ack| Command::SetProfile {
            profile: slot as u8,
            name: sn,
            weights: w,
            ack: Some(ack),
        })?;
        st.profiles[slot] = Some((name.clone(), w));
        let change = if add {
            Change::Add {
                name: &name,
                weights: &w,
            }
        } else {
            Change::Set {
                name: &name,
                weights: &w,
            }
        };
        let persisted = self.persist(st, change);
        Ok(with_persisted(profile_json(slot, &name, &w), persisted))
    }

    fn add_profile(&self, st: &mut State, req: &Map<String, Value>) -> Reply {
        let name = match req.get("name") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err("\"name\" (a string) is required".into()),
        };
        check_profile_name(&name).map_err(|m| format!("profile name {name:?}: {m}"))?;
        if st.profiles.iter().flatten().any(|(n, _)| *n == name) {
            return Err(format!("a profile named {name:?} exists: use set_weights"));
        }
        let slot = st
            .profiles
            .iter()
            .position(Option::is_none)
            .ok_or("all 8 profile slots are taken: remove a profile first")?;
        let w = parse_weights(req.get("weights"), [0.0; N_WEIGHTS], true)?;
        self.install_profile(st, slot, name, w, true)
    }

    fn remove_profile(&self, st: &mut State, req: &Map<String, Value>) -> Reply {
        let slot = find_profile(st, req.get("profile"))?;
        if st.profiles.iter().flatten().count() == 1 {
            return Err("the last profile cannot be removed".into());
        }
        let (name, w) = st.profiles[slot].clone().ok_or("no such profile")?;
        self.apply_all(st, |ack| Command::RemoveProfile {
            profile: slot as u8,
            ack: Some(ack),
        })?;
        st.profiles[slot] = None;
        let persisted = self.persist(st, Change::Remove { name: &name });
        let mut p = profile_json(slot, &name, &w);
        p.insert("active".into(), Value::Bool(false));
        Ok(with_persisted(p, persisted))
    }

    fn pause(&self, st: &mut State, req: &Map<String, Value>, paused: bool) -> Reply {
        let lp = match req.get("lp") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err("\"lp\" (an LP name) is required".into()),
        };
        let sn = ShortName::new(&lp).ok_or_else(|| format!("unknown LP {lp:?}"))?;
        let outcomes = self.send_all(st, |ack| Command::PauseLpNamed {
            lp: sn,
            paused,
            ack: Some(ack),
        })?;
        // An LP may trade through one group only: applied by any is applied.
        if !outcomes.contains(&Outcome::Applied) {
            return Err(format!(
                "unknown LP {lp:?} (LPs are named in engine.lps or registered by traffic)"
            ));
        }
        Ok(Map::from_iter([
            ("lp".into(), json!(lp)),
            ("paused".into(), json!(paused)),
        ]))
    }

    /// Sends to every group and requires every one to apply it.
    fn apply_all(&self, st: &mut State, make: impl Fn(Ack) -> Command) -> Result<(), String> {
        let outcomes = self.send_all(st, make)?;
        match outcomes.iter().find(|o| **o != Outcome::Applied) {
            None => Ok(()),
            Some(o) => Err(format!("refused by the engine: {}", outcome_text(*o))),
        }
    }

    /// Sends a command to every group and waits for every acknowledgement.
    fn send_all(
        &self,
        st: &mut State,
        make: impl Fn(Ack) -> Command,
    ) -> Result<Vec<Outcome>, String> {
        st.seq += 1;
        let seq = st.seq;
        let deadline = lpscore_shm::monotonic_ns() + self.ack_timeout.as_nanos() as u64;
        let acks: Vec<Ack> = self.acks.iter().map(|c| Ack::new(c, seq)).collect();
        for (g, a) in acks.iter().enumerate() {
            if !self.target.running(g) {
                return Err(format!("group {g}'s hot thread is not running"));
            }
            while !self.target.send(g, make(*a)) {
                if lpscore_shm::monotonic_ns() > deadline {
                    return Err(format!(
                        "group {g}'s control queue stayed full: not sent (try again)"
                    ));
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        let mut out = Vec::with_capacity(acks.len());
        for (g, a) in acks.iter().enumerate() {
            loop {
                if let Some(o) = a.outcome() {
                    out.push(o);
                    break;
                }
                if lpscore_shm::monotonic_ns() > deadline {
                    return Err(format!(
                        "group {g} did not acknowledge within {} ms ({}): the change may still \
                         apply; check with {{\"cmd\":\"weights\"}}",
                        self.ack_timeout.as_millis(),
                        if self.target.running(g) {
                            "hot thread running but busy"
                        } else {
                            "hot thread stopped"
                        }
                    ));
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        Ok(out)
    }

    /// Persists a change; `Err` says why it was not (the change is live either way).
    fn persist(&self, st: &State, change: Change<'_>) -> Result<(), String> {
        let Some(path) = &self.config else {
            return Err("no configuration file to persist to".into());
        };
        let all: Vec<(String, [f64; N_WEIGHTS])> = st.profiles.iter().flatten().cloned().collect();
        persist::persist(path, change, &all).inspect_err(|e| {
            tracing::warn!(config = %path.display(), "weights applied but not persisted: {e}");
        })
    }
}

/// The profile slots a scoreboard publishes (what its engine holds, recovered state included): a
/// slot that is inactive or whose weights are invalid (a removed profile's are all zero) is free.
/// `None` when the scoreboard cannot be read.
pub fn profiles_from_scoreboard(path: &std::path::Path) -> Option<Vec<Slot>> {
    let sb = lpscore_shm::Scoreboard::open(path).ok()?;
    let n = sb.capacities().max_profiles.min(MAX_PROFILES as u32) as u8;
    let mut out = Vec::new();
    for p in 0..n {
        let mut tries = 0;
        let info = loop {
            match sb.profile_info(lpscore_shm::ProfileId::new(p)) {
                Ok(i) => break i,
                Err(lpscore_shm::ReadError::Busy) if tries < 1000 => {
                    tries += 1;
                    std::thread::yield_now();
                }
                Err(_) => return None,
            }
        };
        let name = info.name.to_string();
        let ok = info.active && !name.is_empty() && check_weights(&info.weights).is_ok();
        out.push(ok.then_some((name, info.weights)));
    }
    while out.last().is_some_and(Option::is_none) {
        out.pop();
    }
    (!out.is_empty()).then_some(out)
}

fn with_persisted(
    profile: Map<String, Value>,
    persisted: Result<(), String>,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("profile".into(), Value::Object(profile));
    m.insert("persisted".into(), Value::Bool(persisted.is_ok()));
    if let Err(e) = persisted {
        m.insert("persist_error".into(), Value::String(e));
    }
    m
}

fn error_line(id: Option<Value>, e: &str) -> String {
    let mut out = Map::new();
    if let Some(id) = id {
        out.insert("id".into(), id);
    }
    out.insert("ok".into(), Value::Bool(false));
    out.insert("error".into(), Value::String(e.to_string()));
    Value::Object(out).to_string()
}

fn outcome_text(o: Outcome) -> &'static str {
    match o {
        Outcome::Applied => "applied",
        Outcome::NoSuchProfile => "no such profile slot",
        Outcome::BadName => "bad profile name",
        Outcome::BadWeights => "weights must be finite, non-negative and not all zero",
        Outcome::DuplicateName => "another profile has this name",
        Outcome::SlotTaken => "the slot holds another profile",
        Outcome::LastProfile => "the last profile cannot be removed",
        Outcome::UnknownLp => "unknown LP",
    }
}

fn find_profile(st: &State, p: Option<&Value>) -> Result<usize, String> {
    let names = || {
        st.profiles
            .iter()
            .flatten()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match p {
        Some(Value::String(s)) => st
            .profiles
            .iter()
            .position(|p| p.as_ref().is_some_and(|(n, _)| n == s))
            .ok_or_else(|| format!("unknown profile {s:?} (profiles: {})", names())),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|i| i as usize)
            .filter(|&i| i < MAX_PROFILES && st.profiles[i].is_some())
            .ok_or_else(|| format!("no profile at index {n} (profiles: {})", names())),
        _ => Err("\"profile\" (a name or an index) is required".into()),
    }
}

/// `{"fill_rate":0.5,...}` over `base`: unnamed weights keep their value.
fn parse_weights(
    v: Option<&Value>,
    mut base: [f64; N_WEIGHTS],
    required: bool,
) -> Result<[f64; N_WEIGHTS], String> {
    let obj = match v {
        Some(Value::Object(o)) => o,
        None if !required => return Ok(base),
        _ => {
            return Err(format!(
                "\"weights\" must be an object of weights by name ({})",
                WEIGHT_NAMES.join(", ")
            ));
        }
    };
    for (k, x) in obj {
        let slot = weight_slot(k).ok_or_else(|| {
            format!(
                "unknown weight {k:?}: the weights are {}",
                WEIGHT_NAMES.join(", ")
            )
        })?;
        let x = x
            .as_f64()
            .ok_or_else(|| format!("weight {k:?} must be a number, not {x}"))?;
        if !x.is_finite() || x < 0.0 {
            return Err(format!("weight {k:?} must be finite and >= 0, not {x}"));
        }
        base[slot] = x;
    }
    check_weights(&base).map_err(|_| "at least one weight must be positive".to_string())?;
    Ok(base)
}

fn profile_json(slot: usize, name: &str, w: &[f64; N_WEIGHTS]) -> Map<String, Value> {
    let weights: Map<String, Value> = WEIGHT_NAMES
        .iter()
        .enumerate()
        .map(|(k, n)| ((*n).to_string(), json!(w[k])))
        .collect();
    Map::from_iter([
        ("index".into(), json!(slot)),
        ("name".into(), json!(name)),
        ("active".into(), json!(true)),
        ("weights".into(), Value::Object(weights)),
    ])
}

fn profiles_json(st: &State) -> Value {
    Value::Array(
        st.profiles
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                p.as_ref()
                    .map(|(n, w)| Value::Object(profile_json(i, n, w)))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, EngineConfig};
    use crate::publish::MemorySink;
    use crossbeam_queue::ArrayQueue;
    use std::sync::Arc;

    /// A target whose "hot thread" is an engine ticked by a helper thread.
    struct Fake(Arc<ArrayQueue<Command>>);
    impl Target for Fake {
        fn groups(&self) -> usize {
            1
        }
        fn send(&self, _g: usize, c: Command) -> bool {
            self.0.push(c).is_ok()
        }
        fn running(&self, _g: usize) -> bool {
            true
        }
        fn status(&self, g: usize) -> Value {
            json!({"index": g})
        }
    }

    fn req(c: &Controller<Fake>, s: &str) -> Value {
        serde_json::from_str(&c.handle_line(s.as_bytes())).unwrap()
    }

    #[test]
    fn commands_are_applied_acknowledged_and_checked() {
        let cfg = EngineConfig::default();
        let mut e = Engine::new(cfg.clone(), MemorySink::default()).unwrap();
        let q = e.commands();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = Arc::clone(&stop);
        let ticker = std::thread::spawn(move || {
            let mut t = 1;
            while !s2.load(std::sync::atomic::Ordering::Relaxed) {
                t += 1_000_000;
                e.tick(t);
                std::thread::sleep(Duration::from_micros(300));
            }
            e
        });
        let c = Controller::new(Fake(q), &cfg.profiles, None);
        let r = req(
            &c,
            r#"{"id":7,"cmd":"set_weights","profile":"Block","weights":{"fill_rate":0.9}}"#,
        );
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["id"], 7);
        assert_eq!(r["profile"]["weights"]["fill_rate"], 0.9);
        assert_eq!(r["profile"]["weights"]["latency"], 0.1);
        assert_eq!(r["persisted"], false);
        let r = req(
            &c,
            r#"{"cmd":"add_profile","name":"Custom","weights":{"markout":1}}"#,
        );
        assert_eq!(r["profile"]["index"], 3, "{r}");
        let r = req(&c, r#"{"cmd":"remove_profile","profile":1}"#);
        assert_eq!(r["ok"], true, "{r}");
        let r = req(&c, r#"{"cmd":"weights"}"#);
        let names: Vec<_> = r["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].clone())
            .collect();
        assert_eq!(
            names,
            vec![json!("HighFrequency"), json!("BestPrice"), json!("Custom")]
        );
        for (bad, why) in [
            ("nope", "invalid JSON"),
            ("[1]", "JSON object"),
            (r#"{"cmd":"frobnicate"}"#, "unknown command"),
            (
                r#"{"cmd":"set_weights","profile":"Nope","weights":{}}"#,
                "unknown profile",
            ),
            (
                r#"{"cmd":"set_weights","profile":0,"weights":{"speed":1}}"#,
                "unknown weight",
            ),
            (
                r#"{"cmd":"set_weights","profile":0,"weights":{"latency":-1}}"#,
                ">= 0",
            ),
            (
                r#"{"cmd":"set_weights","profile":0,"weights":{"latency":"x"}}"#,
                "number",
            ),
            (
                r#"{"cmd":"add_profile","name":"bad name","weights":{"latency":1}}"#,
                "profile name",
            ),
            (
                r#"{"cmd":"add_profile","name":"Custom","weights":{"latency":1}}"#,
                "exists",
            ),
            (r#"{"cmd":"pause_lp","lp":"NOPE"}"#, "unknown LP"),
            (r#"{"cmd":"rotate_journal"}"#, "the journal is off"),
        ] {
            let r = req(&c, bad);
            assert_eq!(r["ok"], false, "{bad}: {r}");
            assert!(r["error"].as_str().unwrap().contains(why), "{bad}: {r}");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let e = ticker.join().unwrap();
        assert_eq!(e.counters().weight_changes, 3);
        // The sink saw the new weights, the new profile and the removal (all-zero weights).
        let p = &e.sink().profiles;
        assert!(
            p.iter()
                .any(|(i, n, w)| *i == 1 && n == b"Block" && w[1] == 0.9)
        );
        assert!(
            p.iter()
                .any(|(i, n, w)| *i == 3 && n == b"Custom" && w[6] == 1.0)
        );
        assert!(p.iter().any(|(i, _, w)| *i == 1 && *w == [0.0; 8]));
        // A refused engine command (bad LP) is counted.
        assert_eq!(e.counters().bad_commands, 1);
    }
}
