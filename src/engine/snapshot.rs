//! Engine snapshots: the whole engine state (orders: slab, index, lists, dedup window, early
//! buffer; quote book; statistics cells; markout fills and queues; profiles; pauses; counters;
//! the clocks and caches), encoded bit for bit so that restoring a snapshot and replaying the
//! journal after it gives the same rows as replaying the whole journal. The file format, the
//! journal position and the atomic write live in `crate::journal::snapshot`.
//!
//! What is not restored: the event clock's count of timestamps that went backwards (a statistic
//! no row depends on), and the sink's own state (a restore tells the new sink every name and
//! profile and publishes the saved rows: see [`Engine::restore_rows`]).
use super::{Command, Counters, EarlyBuffer, Engine, EngineConfig, ExecMsg};
use crate::journal::codec::{Dec, DecodeError, Enc};
use crate::kpi::{Priors, RowKey, Stamp, Stamps};
use crate::publish::{RowSink, RowValues};
use crate::runtime::clock::{Clock, EventClock};
use crate::score::N_WEIGHTS;

/// Version of the engine-state encoding (inside the snapshot file's own version).
pub const STATE_VERSION: u32 = 2;

/// A fingerprint of the configuration a snapshot was taken with: a snapshot only restores into
/// an engine of the same configuration (capacities, horizons, half-lives, buckets...). The
/// profiles are left out: their live weights are part of the state.
pub fn config_fingerprint(cfg: &EngineConfig) -> u64 {
    let mut c = cfg.clone();
    c.profiles.clear();
    let s = format!("{c:?}");
    let lo = crate::journal::crc32c::crc32c(0, s.as_bytes());
    let hi = crate::journal::crc32c::crc32c(0x9e37_79b9, s.as_bytes());
    u64::from(lo) | (u64::from(hi) << 32)
}

fn put_priors(e: &mut Enc, p: &Priors) {
    for v in [
        p.fill_rate,
        p.reject_rate,
        p.cancel_reject_rate,
        p.pi_rate,
        p.at_quote_rate,
        p.outside_rate,
        p.ack_ns,
        p.fill_latency_ns,
        p.pi_bps,
        p.es_bps,
        p.qs_bps,
    ] {
        e.f64(v);
    }
    for a in [&p.markout_bps, &p.impact_bps, &p.rs_bps] {
        for v in a {
            e.f64(*v);
        }
    }
}

fn get_priors(d: &mut Dec<'_>) -> Result<Priors, DecodeError> {
    let mut p = Priors::default();
    for v in [
        &mut p.fill_rate,
        &mut p.reject_rate,
        &mut p.cancel_reject_rate,
        &mut p.pi_rate,
        &mut p.at_quote_rate,
        &mut p.outside_rate,
        &mut p.ack_ns,
        &mut p.fill_latency_ns,
        &mut p.pi_bps,
        &mut p.es_bps,
        &mut p.qs_bps,
    ] {
        *v = d.f64()?;
    }
    for a in [&mut p.markout_bps, &mut p.impact_bps, &mut p.rs_bps] {
        for v in a.iter_mut() {
            *v = d.f64()?;
        }
    }
    Ok(p)
}

fn put_stamps(e: &mut Enc, s: Option<(u64, Stamps)>) {
    match s {
        None => e.bool(false),
        Some((t, st)) => {
            e.bool(true);
            e.u64(t);
            for x in [st.fast, st.slow] {
                e.i64(x.k);
                e.f64(x.p);
            }
        }
    }
}

fn get_stamps(d: &mut Dec<'_>) -> Result<Option<(u64, Stamps)>, DecodeError> {
    if !d.bool()? {
        return Ok(None);
    }
    let t = d.u64()?;
    let fast = Stamp {
        k: d.i64()?,
        p: d.f64()?,
    };
    let slow = Stamp {
        k: d.i64()?,
        p: d.f64()?,
    };
    Ok(Some((t, Stamps { fast, slow })))
}

/// The counters, in a fixed order (a new counter goes at the end, with a new state version).
fn counter_fields(c: &mut Counters) -> [&mut u64; 28] {
    [
        &mut c.events,
        &mut c.quotes,
        &mut c.quotes_flagged,
        &mut c.orders,
        &mut c.duplicate_orders,
        &mut c.execs,
        &mut c.duplicate_execs,
        &mut c.unknown_cl_ord_id,
        &mut c.unknown_exec_ref,
        &mut c.early_buffered,
        &mut c.early_matched,
        &mut c.invalid_transitions,
        &mut c.malformed,
        &mut c.evicted_open,
        &mut c.unattributed,
        &mut c.symbols_full,
        &mut c.nbbo_missing,
        &mut c.nbbo_stale,
        &mut c.nbbo_crossed,
        &mut c.markout_unresolved,
        &mut c.busts,
        &mut c.corrections,
        &mut c.cancel_requests,
        &mut c.cancel_rejects,
        &mut c.publications,
        &mut c.weight_changes,
        &mut c.bad_commands,
        &mut c.prior_refreshes,
    ]
}

fn put_exec(e: &mut Enc, m: &ExecMsg) {
    e.u64(m.key);
    e.u64(m.exec_key);
    e.u64(m.orig_key);
    e.u64(m.ref_key);
    e.u8(m.exec_type);
    e.u64(m.last_qty);
    e.i64(m.last_px);
    e.u16(m.lp_hint);
    e.u64(m.order_qty);
    e.u64(m.ts);
    e.bool(m.consumed);
}

fn get_exec(d: &mut Dec<'_>) -> Result<ExecMsg, DecodeError> {
    Ok(ExecMsg {
        key: d.u64()?,
        exec_key: d.u64()?,
        orig_key: d.u64()?,
        ref_key: d.u64()?,
        exec_type: d.u8()?,
        last_qty: d.u64()?,
        last_px: d.i64()?,
        lp_hint: d.u16()?,
        order_qty: d.u64()?,
        ts: d.u64()?,
        consumed: d.bool()?,
    })
}

impl EarlyBuffer {
    fn snap_write(&self, e: &mut Enc) {
        e.tag(b"EARL");
        e.usize(self.buf.len());
        e.usize(self.head);
        e.usize(self.len);
        for k in 0..self.len {
            put_exec(e, &self.buf[(self.head + k) % self.buf.len()]);
        }
    }

    fn snap_read(&mut self, d: &mut Dec<'_>) -> Result<(), DecodeError> {
        d.tag(b"EARL", "early buffer section missing")?;
        let cap = d.usize()?;
        d.check(
            cap == self.buf.len(),
            "early buffer size differs from the configuration's",
        )?;
        self.head = d.index(cap)?;
        self.len = d.len(cap)?;
        self.buf.iter_mut().for_each(|m| *m = ExecMsg::default());
        for k in 0..self.len {
            self.buf[(self.head + k) % cap] = get_exec(d)?;
        }
        self.recount();
        Ok(())
    }
}

/// Longest command encoding (SetProfile: code, slot, name length, 16 name bytes, weights).
pub const MAX_COMMAND_LEN: usize = 3 + 16 + 8 * N_WEIGHTS;

/// Encodes a command into `out` without allocating (the hot thread journals commands); returns
/// the length.
pub fn encode_command_into(c: &Command, out: &mut [u8; MAX_COMMAND_LEN]) -> usize {
    match *c {
        Command::SetWeights { profile, weights } => {
            out[0] = 1;
            out[1] = profile;
            for (i, w) in weights.iter().enumerate() {
                out[2 + 8 * i..10 + 8 * i].copy_from_slice(&w.to_bits().to_le_bytes());
            }
            2 + 8 * N_WEIGHTS
        }
        Command::PauseLp { lp, paused } => {
            out[0] = 2;
            out[1..3].copy_from_slice(&lp.to_le_bytes());
            out[3] = u8::from(paused);
            4
        }
        // Control-socket commands (helper C): the acknowledgement is not journaled.
        Command::SetProfile {
            profile,
            name,
            weights,
            ..
        } => {
            out[0] = 3;
            out[1] = profile;
            let n = name.as_str().as_bytes();
            out[2] = n.len() as u8;
            out[3..3 + n.len()].copy_from_slice(n);
            let mut o = 3 + n.len();
            for w in weights {
                out[o..o + 8].copy_from_slice(&w.to_bits().to_le_bytes());
                o += 8;
            }
            o
        }
        Command::RemoveProfile { profile, .. } => {
            out[0] = 4;
            out[1] = profile;
            2
        }
        Command::PauseLpNamed { lp, paused, .. } => {
            out[0] = 5;
            out[1] = u8::from(paused);
            let n = lp.as_str().as_bytes();
            out[2] = n.len() as u8;
            out[3..3 + n.len()].copy_from_slice(n);
            3 + n.len()
        }
    }
}

/// A 1..=16-byte name of a command encoding.
fn decode_short_name(d: &mut Dec<'_>) -> Result<crate::engine::ShortName, DecodeError> {
    let n = d.u8()? as usize;
    let mut b = [0u8; 16];
    d.check((1..=16).contains(&n), "command name length")?;
    for x in b.iter_mut().take(n) {
        *x = d.u8()?;
    }
    core::str::from_utf8(&b[..n])
        .ok()
        .and_then(crate::engine::ShortName::new)
        .ok_or_else(|| d.err("command name is not UTF-8"))
}

/// Encodes a command (for the journal's command records and snapshots).
pub fn encode_command(c: &Command, e: &mut Enc) {
    let mut b = [0u8; MAX_COMMAND_LEN];
    let n = encode_command_into(c, &mut b);
    e.raw(&b[..n]);
}

/// Decodes a command written by [`encode_command`].
pub fn decode_command(d: &mut Dec<'_>) -> Result<Command, DecodeError> {
    match d.u8()? {
        1 => {
            let profile = d.u8()?;
            let mut weights = [0.0; N_WEIGHTS];
            for w in weights.iter_mut() {
                *w = d.f64()?;
            }
            Ok(Command::SetWeights { profile, weights })
        }
        2 => Ok(Command::PauseLp {
            lp: d.u16()?,
            paused: d.bool()?,
        }),
        3 => {
            let profile = d.u8()?;
            let name = decode_short_name(d)?;
            let mut weights = [0.0; N_WEIGHTS];
            for w in weights.iter_mut() {
                *w = d.f64()?;
            }
            Ok(Command::SetProfile {
                profile,
                name,
                weights,
                ack: None,
            })
        }
        4 => Ok(Command::RemoveProfile {
            profile: d.u8()?,
            ack: None,
        }),
        5 => {
            let paused = d.bool()?;
            Ok(Command::PauseLpNamed {
                lp: decode_short_name(d)?,
                paused,
                ack: None,
            })
        }
        _ => Err(d.err("unknown engine command")),
    }
}

impl<S: RowSink> Engine<S> {
    /// Encodes the engine's state (not the sink's rows: see [`Engine::encode_rows`]). Takes
    /// `&mut self` only to read the pending command queue (drained and refilled in order).
    pub fn encode_state(&mut self, e: &mut Enc) {
        e.tag(b"ENGN");
        e.u32(STATE_VERSION);
        e.u64(config_fingerprint(&self.cfg));
        e.u64(self.clock.now_ns());
        e.bool(self.clock.started());
        for h in [self.fast, self.slow] {
            e.u64(h.ns);
            e.u64(h.t0);
        }
        self.lps.snap_write(e);
        self.symbols.snap_write(e);
        self.orders.snap_write(e);
        self.dedup.snap_write(e);
        self.early.snap_write(e);
        self.book.snap_write(e);
        self.marks.snap_write(e);
        self.stats.snap_write(e);
        put_priors(e, &self.fallback_priors);
        put_priors(e, &self.priors);
        e.usize(self.profiles.names.len());
        for (n, w) in self.profiles.names.iter().zip(&self.profiles.weights) {
            e.bytes(n.as_bytes());
            for x in w {
                e.f64(*x);
            }
        }
        e.usize(self.paused.len());
        for &p in &self.paused {
            e.bool(p);
        }
        e.usize(self.dirty.len());
        for &id in &self.dirty {
            e.u32(id);
        }
        e.u64(self.first_dirty_ns);
        e.u64(self.last_hb_ns);
        e.u64(self.last_prior_ns);
        put_stamps(e, self.now_stamps);
        put_stamps(e, self.other_stamps);
        e.bool(self.force_flush);
        // Version 2: the republication in progress.
        e.u64(self.republish.map_or(u64::MAX, u64::from));
        e.u64(self.last_republish_ns);
        // Commands queued but not yet applied (applied at the next flush).
        let mut pending = Vec::new();
        while let Some(c) = self.commands.pop() {
            pending.push(c);
        }
        e.usize(pending.len());
        for c in &pending {
            encode_command(c, e);
            // Refilled in order: the queue had room for them a moment ago.
            let _ = self.commands.push(*c);
        }
        let mut c = self.counters;
        for v in counter_fields(&mut c) {
            e.u64(*v);
        }
        for v in c.oddities {
            e.u64(v);
        }
        e.tag(b"END_");
    }

    /// Restores a state written by [`Engine::encode_state`] into this engine, which must be
    /// fresh from [`Engine::new`] with the same configuration (checked by fingerprint and by
    /// every table's size). On error the engine is left half restored: build a new one.
    pub fn restore_state(&mut self, d: &mut Dec<'_>) -> Result<(), DecodeError> {
        d.tag(b"ENGN", "not an engine state")?;
        let v = d.u32()?;
        // Version 1 differs only by the absent republication cursor.
        d.check(
            v == STATE_VERSION || v == 1,
            "engine state of another version",
        )?;
        let fp = d.u64()?;
        d.check(
            fp == config_fingerprint(&self.cfg),
            "snapshot taken with another engine configuration",
        )?;
        let now = d.u64()?;
        let started = d.bool()?;
        let mut clock = EventClock::default();
        if started {
            clock.observe(now);
        }
        self.clock = clock;
        for h in [&mut self.fast, &mut self.slow] {
            let ns = d.u64()?;
            d.check(ns == h.ns, "half-life differs from the configuration's")?;
            h.t0 = d.u64()?;
        }
        self.lps.snap_read(d)?;
        self.symbols.snap_read(d)?;
        self.orders.snap_read(d)?;
        self.dedup.snap_read(d)?;
        self.early.snap_read(d)?;
        self.book.snap_read(d)?;
        self.marks.snap_read(d)?;
        self.stats.snap_read(d)?;
        self.fallback_priors = get_priors(d)?;
        self.priors = get_priors(d)?;
        let np = d.len(crate::score::MAX_PROFILES)?;
        let mut names = Vec::with_capacity(np);
        let mut weights = Vec::with_capacity(np);
        for _ in 0..np {
            let n = d.bytes(4096)?;
            names.push(String::from_utf8_lossy(n).into_owned());
            let mut w = [0.0; N_WEIGHTS];
            for x in w.iter_mut() {
                *x = d.f64()?;
            }
            weights.push(w);
        }
        self.profiles.names = names;
        self.profiles.weights = weights;
        self.prepared = self.profiles.prepared();
        let n = d.usize()?;
        d.check(
            n == self.paused.len(),
            "LP count differs from the configuration's",
        )?;
        for p in self.paused.iter_mut() {
            *p = d.bool()?;
        }
        let cells = self.stats.len();
        let n = d.len(cells)?;
        self.dirty.clear();
        for _ in 0..n {
            let id = d.u32()?;
            d.check((id as usize) < cells, "dirty cell out of range")?;
            self.dirty.push(id);
        }
        self.first_dirty_ns = d.u64()?;
        self.last_hb_ns = d.u64()?;
        self.last_prior_ns = d.u64()?;
        self.now_stamps = get_stamps(d)?;
        self.other_stamps = get_stamps(d)?;
        self.force_flush = d.bool()?;
        (self.republish, self.last_republish_ns) = if v >= 2 {
            let next = d.u64()?;
            let next = if next == u64::MAX {
                None
            } else {
                d.check(next <= cells as u64, "republication cursor out of range")?;
                Some(next as u32)
            };
            (next, d.u64()?)
        } else {
            (None, 0)
        };
        while self.commands.pop().is_some() {}
        let n = d.len(self.commands.capacity())?;
        for _ in 0..n {
            let c = decode_command(d)?;
            let _ = self.commands.push(c);
        }
        let mut c = Counters::default();
        for v in counter_fields(&mut c) {
            *v = d.u64()?;
        }
        for v in c.oddities.iter_mut() {
            *v = d.u64()?;
        }
        self.counters = c;
        d.tag(b"END_", "engine state longer than expected")?;
        Ok(())
    }

    /// Encodes `rows` (the scoreboard's latest rows, sorted by key for a stable encoding).
    pub fn encode_rows(rows: &[(RowKey, RowValues)], e: &mut Enc) {
        e.tag(b"ROWS");
        e.usize(rows.len());
        for (k, r) in rows {
            e.u32(k.sym);
            e.u8(k.bucket);
            e.u16(k.lp);
            for w in r.to_words() {
                e.u64(w);
            }
        }
    }

    /// After [`Engine::restore_state`]: tells the sink every LP, symbol and profile, then
    /// publishes the saved rows (what the scoreboard showed when the snapshot was taken), without
    /// touching the engine's state or counters.
    pub fn restore_rows(&mut self, d: &mut Dec<'_>) -> Result<(), DecodeError> {
        d.tag(b"ROWS", "rows section missing")?;
        for i in 0..self.lps.lps.len() as u32 {
            if let Some(n) = self.lps.lps.name(i) {
                self.sink.register_lp(i as u16, n.as_bytes());
            }
        }
        for i in 0..self.symbols.len() as u32 {
            if let Some(n) = self.symbols.name(i) {
                self.sink.register_symbol(i, n.as_bytes());
            }
        }
        for (i, (name, w)) in self
            .profiles
            .names
            .iter()
            .zip(&self.profiles.weights)
            .enumerate()
            .filter(|(_, (n, _))| !n.is_empty())
        {
            self.sink.set_profile(i as u8, name.as_bytes(), w);
        }
        let max_rows = (self.stats.max_symbols as usize + 1)
            * (self.stats.n_buckets as usize + 1)
            * self.stats.max_lps as usize;
        let n = d.len(max_rows)?;
        for _ in 0..n {
            let k = RowKey {
                sym: d.u32()?,
                bucket: d.u8()?,
                lp: d.u16()?,
            };
            let mut w = RowValues::default().to_words();
            for x in w.iter_mut() {
                *x = d.u64()?;
            }
            self.sink.publish(k, &RowValues::from_words(&w));
        }
        Ok(())
    }
}
