//! The demo's smart order router: what an SOR team writes on top of `lpscore-shm`.
//!
//! It reads the scoreboard like any SOR (a read-only mapping, seqlock reads) and routes a parent
//! order in waves of IOC child orders:
//! - the wave goes to the top-ranked LPs under the profile, split in proportion to each LP's
//!   published fill rate (`route::allocate`), each child capped by that LP's recent fill capacity;
//! - the remainder of a partial fill or a reject goes straight to the next-ranked LP;
//! - the static baseline sends everything to one LP, whatever the scores say.
//!
//! Scores come from the (symbol, size bucket) row when it has enough sample, else from the
//! symbol's all-sizes row: the effective sample size is published so a router can judge that.

use lpscore_shm::{BucketSlot, LpId, ProfileId, Scoreboard, SymbolSlot, route};

/// Below this effective sample size the size bucket's row is too thin; use the all-sizes row.
const MIN_BUCKET_SAMPLE: f32 = 5.0;
/// LPs that share a wave: the top few, not the whole list.
const WAVE_LPS: usize = 3;
/// An LP scoring more than this below the leader does not share the wave.
const WAVE_SCORE_GAP: f32 = 15.0;
/// Child orders are whole round lots.
pub const LOT: u64 = 100;

/// How the router chooses LPs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// By the scorecard, under one profile.
    Scorecard(ProfileId),
    /// Everything to one LP.
    Static(LpId),
}

/// One LP as the router sees it at a decision.
#[derive(Clone, Copy, Debug)]
pub struct Ranked {
    pub lp: LpId,
    pub score: f32,
    pub fill_rate: f32,
}

/// The router's state: its policy and what it learnt of each LP's fill capacity.
#[derive(Debug)]
pub struct Router {
    pub policy: Policy,
    /// Recent fill capacity per LP (shares an IOC child can expect to fill), learnt from the
    /// router's own fills; starts at `initial_capacity`.
    capacity: Vec<f64>,
    min_child: u64,
}

impl Router {
    pub fn new(policy: Policy, n_lps: usize, initial_capacity: u64) -> Self {
        Self {
            policy,
            capacity: vec![initial_capacity as f64; n_lps],
            min_child: LOT,
        }
    }

    /// The LPs best first under the policy's profile, for an order of `qty` shares.
    /// Empty under the static policy or before any score is published.
    pub fn ranking(&self, board: &Scoreboard, symbol: SymbolSlot, qty: u64, out: &mut Vec<Ranked>) {
        out.clear();
        let Policy::Scorecard(profile) = self.policy else {
            return;
        };
        let bucket = board.bucket_for(qty);
        let thin = (0..board.lp_count()).any(|l| {
            board
                .read(symbol, bucket, LpId::new(l as u16))
                .map_or(true, |r| r.eff_orders < MIN_BUCKET_SAMPLE)
        });
        let bucket = if thin { BucketSlot::All } else { bucket };
        let mut ids = [LpId::default(); 64];
        let n = route::rank(board, symbol, bucket, profile, &mut ids);
        for &lp in &ids[..n] {
            if let Ok(row) = board.read(symbol, bucket, lp) {
                out.push(Ranked {
                    lp,
                    score: row.score(profile.index()).unwrap_or(0.0),
                    fill_rate: row.fill_rate,
                });
            }
        }
    }

    fn cap(&self, lp: LpId) -> u64 {
        ((self.capacity[lp.index()] as u64) / LOT * LOT).max(self.min_child)
    }

    /// Splits a wave of `qty` shares into child orders `(lp, qty)`.
    pub fn plan_wave(&self, ranked: &[Ranked], qty: u64, out: &mut Vec<(LpId, u64)>) {
        out.clear();
        match self.policy {
            Policy::Static(lp) => out.push((lp, qty.min(self.cap(lp)))),
            Policy::Scorecard(_) => {
                let Some(top) = ranked.first() else {
                    return;
                };
                // Allocate in lots, so every child is a round lot.
                let cands: Vec<(LpId, f64, u64)> = ranked
                    .iter()
                    .filter(|r| r.score >= top.score - WAVE_SCORE_GAP)
                    .take(WAVE_LPS)
                    .map(|r| (r.lp, f64::from(r.fill_rate).max(0.01), self.cap(r.lp) / LOT))
                    .collect();
                let mut alloc = [(LpId::default(), 0u64); WAVE_LPS];
                let n = route::allocate(qty / LOT, &cands, &mut alloc);
                out.extend(
                    alloc[..n]
                        .iter()
                        .filter(|&&(_, q)| q > 0)
                        .map(|&(lp, q)| (lp, q * LOT)),
                );
            }
        }
    }

    /// Where the unfilled `qty` of a child at `from` goes next: the next-ranked LP not yet tried
    /// for this remainder (scorecard), or the same LP (static).
    pub fn reroute(
        &self,
        ranked: &[Ranked],
        from: LpId,
        tried: &[LpId],
        qty: u64,
    ) -> Option<(LpId, u64)> {
        let lp = match self.policy {
            Policy::Static(lp) => lp,
            Policy::Scorecard(_) => ranked
                .iter()
                .map(|r| r.lp)
                .find(|lp| *lp != from && !tried.contains(lp))?,
        };
        let q = qty.min(self.cap(lp)) / LOT * LOT;
        (q > 0).then_some((lp, q))
    }

    /// Learns from a finished child: a full fill says the LP can take more; a partial fill says
    /// about that much.
    pub fn on_child_done(&mut self, lp: LpId, sent: u64, filled: u64) {
        let c = &mut self.capacity[lp.index()];
        if filled >= sent {
            *c = c.max(sent as f64 * 1.25);
        } else if filled > 0 {
            *c = 0.5 * *c + 0.5 * filled as f64;
        }
    }

    pub fn capacity(&self, lp: LpId) -> u64 {
        self.cap(lp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(l: u16, score: f32, fill_rate: f32) -> Ranked {
        Ranked {
            lp: LpId::new(l),
            score,
            fill_rate,
        }
    }

    fn router(policy: Policy) -> Router {
        Router::new(policy, 4, 20_000)
    }

    #[test]
    fn a_wave_goes_to_the_close_leaders_in_proportion_to_fill_rate() {
        let rt = router(Policy::Scorecard(ProfileId::new(1)));
        let ranked = [
            r(2, 90.0, 0.9),
            r(0, 85.0, 0.6),
            r(3, 80.0, 0.3),
            r(1, 40.0, 0.9),
        ];
        let mut out = Vec::new();
        rt.plan_wave(&ranked, 18_000, &mut out);
        let total: u64 = out.iter().map(|x| x.1).sum();
        assert_eq!(total, 18_000);
        assert!(out.iter().all(|x| x.1 % LOT == 0), "round lots: {out:?}");
        assert!(
            out.iter().all(|(lp, _)| lp.index() != 1),
            "LP 1 is 50 points behind: {out:?}"
        );
        let q = |l: u16| out.iter().find(|x| x.0 == LpId::new(l)).map_or(0, |x| x.1);
        assert!(q(2) > q(0) && q(0) > q(3), "{out:?}");
    }

    #[test]
    fn children_respect_learnt_capacity() {
        let mut rt = router(Policy::Scorecard(ProfileId::new(1)));
        rt.on_child_done(LpId::new(2), 10_000, 2_000); // 0.5 * 20000 + 0.5 * 2000
        assert_eq!(rt.capacity(LpId::new(2)), 11_000);
        let ranked = [r(2, 90.0, 0.9)];
        let mut out = Vec::new();
        rt.plan_wave(&ranked, 50_000, &mut out);
        assert_eq!(out, [(LpId::new(2), 11_000)]);
        rt.on_child_done(LpId::new(2), 11_000, 11_000);
        assert_eq!(
            rt.capacity(LpId::new(2)),
            13_700,
            "capacity is in round lots"
        );
    }

    #[test]
    fn remainders_go_to_the_next_ranked_lp_or_stay_static() {
        let rt = router(Policy::Scorecard(ProfileId::new(1)));
        let ranked = [r(0, 90.0, 0.9), r(2, 80.0, 0.9), r(3, 70.0, 0.9)];
        assert_eq!(
            rt.reroute(&ranked, LpId::new(0), &[], 5_000),
            Some((LpId::new(2), 5_000))
        );
        assert_eq!(
            rt.reroute(&ranked, LpId::new(2), &[LpId::new(0)], 5_000),
            Some((LpId::new(3), 5_000))
        );
        assert_eq!(
            rt.reroute(&ranked, LpId::new(3), &[LpId::new(0), LpId::new(2)], 5_000),
            None
        );
        let st = router(Policy::Static(LpId::new(0)));
        assert_eq!(
            st.reroute(&[], LpId::new(0), &[LpId::new(0)], 5_000),
            Some((LpId::new(0), 5_000))
        );
        assert_eq!(
            st.reroute(&[], LpId::new(0), &[], 99),
            None,
            "odd lots wait for the next wave"
        );
    }

    #[test]
    fn no_scores_no_wave() {
        let rt = router(Policy::Scorecard(ProfileId::new(1)));
        let mut out = vec![(LpId::new(0), 1)];
        rt.plan_wave(&[], 10_000, &mut out);
        assert!(out.is_empty());
    }
}
