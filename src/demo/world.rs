//! The demo's simulated world, run in event time: the market, the LPs, the firm's background flow,
//! and the parent order worked by the router. Everything the engine learns, it learns from the FIX
//! drop copy this world writes (NewOrderSingle, ExecutionReport, market-data snapshots), exactly as
//! from a real firm's FIX engine.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use lpscore_shm::{LpId, Scoreboard, SymbolSlot};

use crate::fix::{
    BeginString, Encoder, ExecutionReport, Header, MarketDataSnapshot, MdEntries, MdEntry,
    MdEntryType, NewOrderSingle, Price, Qty, Raw, Side as FixSide, UtcTimestamp,
};
use crate::sim::lp::{Execution, LpsFile, Response, Side, SimLp};
use crate::sim::market::{Market, Quote};
use crate::sim::rng::Rng;

use super::router::{Policy, Ranked, Router};

/// Where the drop copy goes: the engine, in the demo.
pub trait DropCopy {
    /// One FIX message captured at `ts_ns`.
    fn message(&mut self, ts_ns: u64, bytes: &[u8]);
    /// Event time has reached `ts_ns` with no message (lets the engine publish and heartbeat).
    fn tick(&mut self, ts_ns: u64);
}

/// The scenario: the seed's 200 000-share ACME sale, with LP_A degrading part-way.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub seed: u64,
    /// Event time of the start (ns since the Unix epoch).
    pub start_ns: u64,
    /// Background flow only, so the scorecard has history when the parent order arrives.
    pub warmup_s: f64,
    pub parent_qty: u64,
    pub side: Side,
    /// The parent order must be done this long after it arrives.
    pub window_s: f64,
    pub wave_every_s: f64,
    pub wave_max: u64,
    /// Mean interval between the firm's other (small) orders, spread over all LPs.
    pub background_every_ms: f64,
    /// The router's first guess of what an LP fills per IOC child.
    pub initial_capacity: u64,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            seed: 7,
            // 2026-11-23 14:30:00 UTC.
            start_ns: 1_795_444_200_000_000_000,
            warmup_s: 300.0,
            parent_qty: 200_000,
            side: Side::Sell,
            window_s: 1800.0,
            wave_every_s: 60.0,
            wave_max: 20_000,
            background_every_ms: 250.0,
            initial_capacity: 20_000,
        }
    }
}

/// One fill of the parent order, as the router saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct ParentFill {
    pub t_ns: u64,
    pub lp: String,
    pub qty: u64,
    pub px: f64,
}

/// What one run of the scenario under one policy did.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub policy: String,
    pub parent_qty: u64,
    pub filled: u64,
    /// Seconds from the parent's arrival to its last fill, if it completed in the window.
    pub completion_s: Option<f64>,
    pub arrival_mid: f64,
    pub vwap: f64,
    /// Side-adjusted: `s * (arrival - vwap) / arrival * 1e4`; negative is a cost.
    pub vwap_vs_arrival_bps: f64,
    pub children: u32,
    /// Remainders sent to another LP (or, static, back to the same one).
    pub reroutes: u32,
    pub rejects: u32,
    pub fills: Vec<ParentFill>,
    /// Score changes and routing decisions, in order, as text with sim time.
    pub timeline: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Quote,
    Background,
    Wave,
    /// The LP answers child `i` (ack or reject).
    Respond(u32),
    /// The LP executes child `i`.
    Execute(u32),
    End,
}

#[derive(Clone, Debug)]
struct Child {
    lp: usize,
    side: Side,
    qty: u64,
    /// The LP's answer, decided when the order reaches it, sent after the ack latency.
    response: Response,
    arrival: Quote,
    parent: bool,
    /// LPs that already had this remainder chain (scorecard reroutes never loop).
    tried: Vec<LpId>,
    acked: bool,
}

/// A callback that shows one live line.
pub type LiveLine<'b> = Box<dyn FnMut(&str) + 'b>;

/// One run: the world plus the router under one policy.
pub struct Run<'b, D: DropCopy> {
    sc: Scenario,
    market: Market,
    lps: Vec<SimLp>,
    lp_ids: Vec<LpId>,
    rng: Rng,
    enc: Encoder,
    seq: u64,
    exec_seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    qseq: u64,
    children: Vec<Child>,
    drop: D,
    board: &'b Scoreboard,
    router: Router,
    profile_name: String,
    // Parent progress.
    parent_start_ns: u64,
    arrival_mid: f64,
    filled: u64,
    in_flight: u64,
    notional: f64,
    out: Outcome,
    ranked: Vec<Ranked>,
    last_leader: Option<LpId>,
    last_scores: Vec<f32>,
    /// Called at each wave with a line for the live display.
    pub on_wave: Option<LiveLine<'b>>,
}

const SENDER: &[u8] = b"SORENGINE";
const TARGET: &[u8] = b"LPSCORE";

impl<'b, D: DropCopy> Run<'b, D> {
    /// A run of `sc` over the LPs of `lps`, the router reading `board` (whose LP directory
    /// names them) under `policy`. `profile_name` labels the scores in the timeline.
    pub fn new(
        sc: Scenario,
        lps: &LpsFile,
        board: &'b Scoreboard,
        policy: Policy,
        profile_name: &str,
        drop: D,
    ) -> Result<Self, String> {
        let root = Rng::new(sc.seed);
        let market = Market::new(lps.market.clone(), root.fork(1), sc.start_ns);
        let mut sims = Vec::new();
        let mut ids = Vec::new();
        for (i, cfg) in lps.lp.iter().enumerate() {
            sims.push(SimLp::new(
                cfg.clone(),
                root.fork(100 + i as u64),
                sc.start_ns,
            ));
            let id = board
                .lp(&cfg.name)
                .ok_or_else(|| format!("LP {} is not in the scoreboard's directory", cfg.name))?;
            ids.push(id);
        }
        let router = Router::new(
            policy,
            board.capacities().max_lps as usize,
            sc.initial_capacity,
        );
        let policy_name = match policy {
            Policy::Scorecard(_) => format!("scorecard ({profile_name})"),
            Policy::Static(lp) => format!(
                "static ({})",
                lps.lp[ids.iter().position(|x| *x == lp).unwrap_or(0)].name
            ),
        };
        let n = sims.len();
        let mut run = Self {
            market,
            lps: sims,
            lp_ids: ids,
            rng: root.fork(2),
            enc: Encoder::new(),
            seq: 0,
            exec_seq: 0,
            queue: BinaryHeap::new(),
            qseq: 0,
            children: Vec::new(),
            drop,
            board,
            router,
            profile_name: profile_name.to_string(),
            parent_start_ns: sc.start_ns + (sc.warmup_s * 1e9) as u64,
            arrival_mid: 0.0,
            filled: 0,
            in_flight: 0,
            notional: 0.0,
            out: Outcome {
                policy: policy_name,
                parent_qty: sc.parent_qty,
                filled: 0,
                completion_s: None,
                arrival_mid: 0.0,
                vwap: 0.0,
                vwap_vs_arrival_bps: 0.0,
                children: 0,
                reroutes: 0,
                rejects: 0,
                fills: Vec::new(),
                timeline: Vec::new(),
            },
            ranked: Vec::new(),
            last_leader: None,
            last_scores: vec![f32::NAN; n],
            on_wave: None,
            sc,
        };
        let t0 = run.sc.start_ns;
        run.schedule(t0, Ev::Quote);
        run.schedule(t0 + 1_000_000, Ev::Background);
        run.schedule(run.parent_start_ns, Ev::Wave);
        run.schedule(
            run.parent_start_ns + (run.sc.window_s * 1e9) as u64,
            Ev::End,
        );
        Ok(run)
    }

    fn schedule(&mut self, t: u64, ev: Ev) {
        self.qseq += 1;
        self.queue.push(Reverse((t, self.qseq, ev)));
    }

    /// The next event's time, if any.
    pub fn next_time(&self) -> Option<u64> {
        self.queue.peek().map(|Reverse((t, _, _))| *t)
    }

    /// The drop-copy sink (the engine), e.g. to read its counters after the run.
    pub fn drop_copy(&mut self) -> &mut D {
        &mut self.drop
    }

    fn elapsed(&self, t: u64) -> String {
        let s = t.saturating_sub(self.sc.start_ns) / 1_000_000_000;
        format!("{:02}:{:02}", s / 60, s % 60)
    }

    /// Processes one event; false when the run is over.
    pub fn step(&mut self) -> bool {
        let Some(Reverse((t, _, ev))) = self.queue.pop() else {
            return false;
        };
        self.market.advance(t);
        match ev {
            Ev::Quote => {
                self.send_quote(t);
                let dt = (self.market.config().quote_interval_ms * 1e6) as u64;
                self.schedule(t + dt.max(1), Ev::Quote);
            }
            Ev::Background => {
                let lp = (self.rng.next_u64() % self.lps.len() as u64) as usize;
                let side = if self.rng.chance(0.5) {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let qty = 100 * (1 + self.rng.next_u64() % 20);
                self.send_child(t, lp, qty, side, false, Vec::new());
                let gap = self.rng.lognormal(self.sc.background_every_ms, 0.5) * 1e6;
                self.schedule(t + gap.max(1e6) as u64, Ev::Background);
            }
            Ev::Wave => self.wave(t),
            Ev::Respond(i) => self.respond(t, i),
            Ev::Execute(i) => self.execute(t, i),
            Ev::End => {
                self.out.timeline.push(format!(
                    "{} window over: {} of {} shares filled",
                    self.elapsed(t),
                    self.filled,
                    self.sc.parent_qty
                ));
                return false;
            }
        }
        self.drop.tick(t);
        !(self.filled >= self.sc.parent_qty && self.in_flight == 0)
    }

    /// Runs to the end and returns the outcome.
    pub fn run(mut self) -> Outcome {
        while self.step() {}
        self.finish()
    }

    /// The outcome so far (call after the last `step`).
    pub fn finish(mut self) -> Outcome {
        let o = &mut self.out;
        o.filled = self.filled;
        o.arrival_mid = self.arrival_mid;
        if self.filled > 0 {
            o.vwap = self.notional / self.filled as f64;
            // A sale below arrival (or a purchase above) is a cost: negative.
            o.vwap_vs_arrival_bps =
                self.sc.side.sign() * (self.arrival_mid - o.vwap) / self.arrival_mid * 1e4;
        }
        if self.filled >= self.sc.parent_qty {
            let last = o.fills.last().map_or(self.parent_start_ns, |f| f.t_ns);
            o.completion_s = Some((last - self.parent_start_ns) as f64 * 1e-9);
        }
        self.out
    }

    fn scores_line(&self) -> String {
        let mut s = String::new();
        for r in &self.ranked {
            let name = self.lp_name(r.lp);
            s.push_str(&format!(" {name} {:.1}", r.score));
        }
        s
    }

    fn lp_name(&self, lp: LpId) -> &str {
        self.lp_ids
            .iter()
            .position(|x| *x == lp)
            .map_or("?", |i| self.lps[i].name())
    }

    /// The market's symbol in the scoreboard (registered by the engine on its first quote).
    fn symbol_slot(&self) -> SymbolSlot {
        self.board
            .symbol(&self.market.config().symbol)
            .map_or(SymbolSlot::All, SymbolSlot::One)
    }

    fn lp_index(&self, lp: LpId) -> usize {
        self.lp_ids.iter().position(|x| *x == lp).unwrap_or(0)
    }

    fn wave(&mut self, t: u64) {
        if self.filled >= self.sc.parent_qty {
            return;
        }
        if self.arrival_mid == 0.0 {
            self.arrival_mid = self.market.quote().mid;
            self.out.timeline.push(format!(
                "{} parent order: {} {} {} at arrival mid {:.4}",
                self.elapsed(t),
                if self.sc.side == Side::Sell {
                    "sell"
                } else {
                    "buy"
                },
                self.sc.parent_qty,
                self.market.config().symbol,
                self.arrival_mid
            ));
        }
        self.schedule(t + (self.sc.wave_every_s * 1e9) as u64, Ev::Wave);
        let remaining =
            self.sc.parent_qty - self.filled - self.in_flight.min(self.sc.parent_qty - self.filled);
        if remaining == 0 || self.in_flight > 0 {
            return;
        }
        let qty = remaining.min(self.sc.wave_max);
        let mut ranked = std::mem::take(&mut self.ranked);
        self.router
            .ranking(self.board, self.symbol_slot(), qty, &mut ranked);
        self.ranked = ranked;
        self.note_score_changes(t);
        let mut plan = Vec::new();
        self.router.plan_wave(&self.ranked, qty, &mut plan);
        if plan.is_empty() {
            // No score yet (a cold scoreboard): spread evenly rather than guess.
            let n = self.lps.len() as u64;
            plan = self
                .lp_ids
                .iter()
                .map(|&lp| (lp, qty / n))
                .filter(|x| x.1 > 0)
                .collect();
        }
        let mut line = format!("{} wave {}:", self.elapsed(t), qty);
        for &(lp, q) in &plan {
            line.push_str(&format!(" {} {}", self.lp_name(lp), q));
        }
        if !self.ranked.is_empty() {
            line.push_str(&format!(" | {}:{}", self.profile_name, self.scores_line()));
        }
        line.push_str(&format!(" | filled {}/{}", self.filled, self.sc.parent_qty));
        if let Some(f) = self.on_wave.as_mut() {
            f(&line);
        }
        self.out.timeline.push(line);
        for (lp, q) in plan {
            let i = self.lp_index(lp);
            self.send_child(t, i, q, self.sc.side, true, vec![lp]);
        }
    }

    /// Adds a timeline entry when the leader changes or an LP's score moves by 5 points or more.
    fn note_score_changes(&mut self, t: u64) {
        let leader = self.ranked.first().map(|r| r.lp);
        if leader != self.last_leader {
            if let (Some(new), Some(old)) = (leader, self.last_leader) {
                let e = format!(
                    "{} rank change: {} now leads ({})",
                    self.elapsed(t),
                    self.lp_name(new),
                    self.scores_line().trim()
                );
                let _ = old;
                self.out.timeline.push(e);
            }
            self.last_leader = leader;
        }
        for k in 0..self.ranked.len() {
            let r = self.ranked[k];
            let i = self.lp_index(r.lp);
            let before = self.last_scores[i];
            if before.is_finite() && (r.score - before).abs() >= 5.0 {
                let e = format!(
                    "{} score: {} {:.1} -> {:.1}",
                    self.elapsed(t),
                    self.lp_name(r.lp),
                    before,
                    r.score
                );
                self.out.timeline.push(e);
            }
            if !before.is_finite() || (r.score - before).abs() >= 5.0 {
                self.last_scores[i] = r.score;
            }
        }
    }

    fn respond(&mut self, t: u64, i: u32) {
        let c = self.children[i as usize].clone();
        match c.response {
            Response::Reject => {
                self.exec_report(t, i, b'8', b'8', None, 0, 0);
                self.child_done(t, i, 0, true);
            }
            Response::Ack => {
                // A last-look LP answers only once it has decided, at execution time.
                if self.lps[c.lp].config().last_look_bps.is_none() {
                    self.exec_report(t, i, b'0', b'0', None, c.qty, 0);
                    self.children[i as usize].acked = true;
                }
                let d = self.lps[c.lp].fill_delay(t);
                self.schedule(t + d, Ev::Execute(i));
            }
        }
    }

    fn execute(&mut self, t: u64, i: u32) {
        let c = self.children[i as usize].clone();
        let now = self.market.quote();
        let tick = self.market.config().tick;
        let exec = self.lps[c.lp].execute(t, c.side, c.qty, c.arrival, now, tick);
        if !c.acked && exec != Execution::LastLookReject {
            self.exec_report(t, i, b'0', b'0', None, c.qty, 0);
        }
        match exec {
            Execution::Fill { qty, px } => {
                let status = if qty >= c.qty { b'2' } else { b'1' };
                self.exec_report(t, i, b'F', status, Some((qty, px)), c.qty - qty, qty);
                if qty < c.qty {
                    // IOC: the rest is canceled at once.
                    self.exec_report(t, i, b'4', b'4', None, 0, qty);
                }
                let (bps, over) = self.lps[c.lp].leakage(c.side, qty);
                self.market.push_drift(bps, over);
                if c.parent {
                    self.filled += qty;
                    self.notional += qty as f64 * px;
                    self.out.fills.push(ParentFill {
                        t_ns: t,
                        lp: self.lps[c.lp].name().to_string(),
                        qty,
                        px,
                    });
                }
                self.child_done(t, i, qty, false);
            }
            Execution::LastLookReject => {
                self.exec_report(t, i, b'8', b'8', None, 0, 0);
                self.child_done(t, i, 0, true);
            }
            Execution::NoFill => {
                self.exec_report(t, i, b'4', b'4', None, 0, 0);
                self.child_done(t, i, 0, false);
            }
        }
    }

    fn child_done(&mut self, t: u64, i: u32, filled: u64, rejected: bool) {
        let c = self.children[i as usize].clone();
        if !c.parent {
            return;
        }
        self.in_flight -= c.qty;
        if rejected {
            self.out.rejects += 1;
        }
        let lp = self.lp_ids[c.lp];
        self.router.on_child_done(lp, c.qty, filled);
        let rest = c.qty - filled;
        let open = self
            .sc
            .parent_qty
            .saturating_sub(self.filled + self.in_flight);
        let rest = rest.min(open);
        if rest == 0 || c.tried.len() >= self.lps.len() - 1 {
            return;
        }
        let mut ranked = std::mem::take(&mut self.ranked);
        self.router
            .ranking(self.board, self.symbol_slot(), rest, &mut ranked);
        self.ranked = ranked;
        if let Some((to, q)) = self.router.reroute(&self.ranked, lp, &c.tried, rest) {
            let mut tried = c.tried.clone();
            tried.push(to);
            self.out.reroutes += 1;
            self.out.timeline.push(format!(
                "{} reroute: {} of {} unfilled at {} -> {}",
                self.elapsed(t),
                q,
                c.qty,
                self.lps[c.lp].name(),
                self.lp_name(to)
            ));
            let idx = self.lp_index(to);
            self.send_child(t, idx, q, c.side, true, tried);
        }
    }

    fn header(&mut self, t: u64) -> Header<'static> {
        self.seq += 1;
        Header {
            begin_string: BeginString::Fix44,
            sender_comp_id: SENDER,
            target_comp_id: TARGET,
            on_behalf_of_comp_id: None,
            deliver_to_comp_id: None,
            msg_seq_num: self.seq,
            poss_dup: None,
            poss_resend: None,
            sending_time: UtcTimestamp(t as i64),
            orig_sending_time: None,
            appl_ver_id: None,
        }
    }

    fn send_quote(&mut self, t: u64) {
        let q = self.market.quote();
        let h = self.header(t);
        let sym = self.market.config().symbol.clone();
        let entries = [
            MdEntry {
                entry_type: Some(MdEntryType::Bid),
                px: Some(px(q.bid)),
                size: Some(Qty(5_000 * 100_000_000)),
                ..Default::default()
            },
            MdEntry {
                entry_type: Some(MdEntryType::Offer),
                px: Some(px(q.ask)),
                size: Some(Qty(5_000 * 100_000_000)),
                ..Default::default()
            },
        ];
        let m = MarketDataSnapshot {
            header: h,
            md_req_id: None,
            symbol: sym.as_bytes(),
            entries: MdEntries::Slice(&entries),
            raw: Raw(None),
        };
        let bytes = self.enc.encode(&m);
        self.drop.message(t, bytes);
    }

    fn cl_ord_id(i: u32, parent: bool) -> String {
        format!("{}{:07}", if parent { 'P' } else { 'B' }, i)
    }

    fn send_child(
        &mut self,
        t: u64,
        lp: usize,
        qty: u64,
        side: Side,
        parent: bool,
        tried: Vec<LpId>,
    ) {
        let i = self.children.len() as u32;
        let (ack_ns, response) = self.lps[lp].respond(t);
        self.children.push(Child {
            lp,
            side,
            qty,
            response,
            arrival: self.market.quote(),
            parent,
            tried,
            acked: false,
        });
        let h = self.header(t);
        let id = Self::cl_ord_id(i, parent);
        let sym = self.market.config().symbol.clone();
        let dest = self.lps[lp].name().to_string();
        let m = NewOrderSingle {
            header: h,
            account: None,
            cl_ord_id: id.as_bytes(),
            symbol: sym.as_bytes(),
            side: fix_side(side),
            transact_time: Some(UtcTimestamp(t as i64)),
            order_qty: Qty(qty as i64 * 100_000_000),
            ord_type: b'1',
            price: None,
            time_in_force: Some(b'3'),
            ex_destination: Some(dest.as_bytes()),
            text: None,
            raw: Raw(None),
        };
        let bytes = self.enc.encode(&m);
        self.drop.message(t, bytes);
        self.schedule(t + ack_ns, Ev::Respond(i));
        if parent {
            self.in_flight += qty;
            self.out.children += 1;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn exec_report(
        &mut self,
        t: u64,
        i: u32,
        exec_type: u8,
        ord_status: u8,
        last: Option<(u64, f64)>,
        leaves: u64,
        cum: u64,
    ) {
        let c = self.children[i as usize].clone();
        self.exec_seq += 1;
        let h = self.header(t);
        let id = Self::cl_ord_id(i, c.parent);
        let order_id = format!("O{i:07}");
        let exec_id = format!("X{:08}", self.exec_seq);
        let sym = self.market.config().symbol.clone();
        let lp = self.lps[c.lp].name().to_string();
        let side = c.side;
        let m = ExecutionReport {
            header: h,
            order_id: order_id.as_bytes(),
            cl_ord_id: Some(id.as_bytes()),
            orig_cl_ord_id: None,
            exec_id: exec_id.as_bytes(),
            exec_trans_type: None,
            exec_ref_id: None,
            exec_type,
            ord_status,
            ord_rej_reason: (exec_type == b'8').then_some(0),
            symbol: sym.as_bytes(),
            side: fix_side(side),
            order_qty: Some(Qty(c.qty as i64 * 100_000_000)),
            ord_type: Some(b'1'),
            price: None,
            time_in_force: Some(b'3'),
            ex_destination: None,
            last_qty: last.map(|(q, _)| Qty(q as i64 * 100_000_000)),
            last_px: last.map(|(_, p)| px(p)),
            last_mkt: Some(lp.as_bytes()),
            leaves_qty: Qty(leaves as i64 * 100_000_000),
            cum_qty: Qty(cum as i64 * 100_000_000),
            avg_px: last.map(|(_, p)| px(p)),
            transact_time: Some(UtcTimestamp(t as i64)),
            text: None,
            raw: Raw(None),
        };
        let bytes = self.enc.encode(&m);
        self.drop.message(t, bytes);
    }
}

fn px(v: f64) -> Price {
    Price((v * 1e8).round() as i64)
}

fn fix_side(s: Side) -> FixSide {
    match s {
        Side::Buy => FixSide::Buy,
        Side::Sell => FixSide::Sell,
    }
}
