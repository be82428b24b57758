//! Routing helpers for SORs: [`rank`] the LPs of one (symbol, bucket) by a profile's score, and
//! [`allocate`] an order across LPs in proportion to their expected fill. No allocation, no syscall.

use crate::layout::MAX_LPS_LIMIT;
use crate::row::LpId;
#[cfg(not(loom))]
use crate::row::{BucketSlot, ProfileId, SymbolSlot};

#[cfg(not(loom))]
use crate::reader::Scoreboard;

/// Most LPs a scoreboard can hold (stack buffers are this long).
const N: usize = MAX_LPS_LIMIT as usize;

/// Writes the LPs of (symbol, bucket) into `out`, best first by `profile`'s score, and returns how
/// many it wrote (at most `out.len()`). Rows without data, with a NaN (inactive profile) score, of
/// a paused LP, or that stayed busy, are skipped. Ties keep the lower LP id first. Uses a stack
/// buffer of 256 entries: no allocation, no syscall.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("lpscore-doc-route-rank-{}", std::process::id()));
/// # let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
/// # let (a, b, c) = (w.add_lp("A")?, w.add_lp("B")?, w.add_lp("C")?);
/// # let s = w.add_symbol("X")?;
/// # let mut r = lpscore_shm::ScoreRow { flags: lpscore_shm::FLAG_HAS_DATA, ..Default::default() };
/// # r.scores[0] = 50.0; w.publish(s, lpscore_shm::BucketSlot::All, a, &r)?;
/// # r.scores[0] = f32::NAN; w.publish(s, lpscore_shm::BucketSlot::All, b, &r)?;
/// # r.scores[0] = 70.0; w.publish(s, lpscore_shm::BucketSlot::All, c, &r)?;
/// use lpscore_shm::{route, BucketSlot, LpId, ProfileId, SymbolSlot};
/// let sb = lpscore_shm::Scoreboard::open(&path)?;
/// let sym = SymbolSlot::One(sb.symbol("X").unwrap());
/// let mut out = [LpId::default(); 4];
/// let n = route::rank(&sb, sym, BucketSlot::All, ProfileId::new(0), &mut out);
/// assert_eq!(&out[..n], &[sb.lp("C").unwrap(), sb.lp("A").unwrap()]); // B has no score
/// # drop(w); let _ = std::fs::remove_file(&path);
/// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(not(loom))]
pub fn rank(
    board: &Scoreboard,
    symbol: SymbolSlot,
    bucket: BucketSlot,
    profile: ProfileId,
    out: &mut [LpId],
) -> usize {
    let p = profile.index();
    let mut buf = [(0.0f32, 0u16); N];
    let mut m = 0usize;
    let n = board.lp_count().min(N);
    for l in 0..n {
        let lp = LpId(l as u16);
        let Ok(row) = board.read(symbol, bucket, lp) else {
            continue;
        };
        if row.is_paused() {
            continue;
        }
        if let Some(s) = row.score(p) {
            buf[m] = (s, l as u16);
            m += 1;
        }
    }
    let ranked = &mut buf[..m];
    // Insertion sort, best first; stable, so equal scores keep the lower id first. n <= 256.
    for i in 1..ranked.len() {
        let mut j = i;
        while j > 0 && ranked[j - 1].0 < ranked[j].0 {
            ranked.swap(j - 1, j);
            j -= 1;
        }
    }
    let k = m.min(out.len());
    for (o, &(_, l)) in out.iter_mut().zip(ranked.iter()).take(k) {
        *o = LpId(l);
    }
    k
}

/// Splits `order_qty` across `candidates` `(lp, fill_prob, cap_qty)` in proportion to each LP's
/// fill probability (so each LP's expected fill `p_i * q_i` is proportional to `p_i^2`, the better
/// LPs getting more), never above an LP's cap; an LP whose proportional share exceeds its cap
/// gets its cap and the rest is shared again among the others (water-filling).
///
/// - The allocations sum to exactly `min(order_qty, sum of the used caps)`: rounding is by largest
///   remainder, computed exactly in integers (weights are the probabilities in 2^-32 units).
/// - Higher fill probability is preferred: when there are more candidates than `out.len()` (or 256),
///   the most likely to fill are used; remainder ties go to the higher probability; an LP with a
///   higher probability never gets less than one with a lower probability unless capped.
/// - Candidates with a probability that is not finite or not > 0, or a cap of 0, get nothing.
///   Probabilities above 1 count as 1.
///
/// Writes `(lp, qty)` for each LP with `qty > 0`, highest probability first, and returns how many.
///
/// ```
/// use lpscore_shm::{route::allocate, LpId};
/// let (a, b, c) = (LpId::new(0), LpId::new(1), LpId::new(2));
/// let mut out = [(LpId::default(), 0); 3];
/// // 1000 split 0.6 : 0.3 : 0.1 ...
/// let n = allocate(1000, &[(a, 0.6, 10_000), (b, 0.3, 10_000), (c, 0.1, 10_000)], &mut out);
/// assert_eq!(&out[..n], &[(a, 600), (b, 300), (c, 100)]);
/// // ... and with A capped at 200, the other 800 split 3 : 1.
/// let n = allocate(1000, &[(a, 0.6, 200), (b, 0.3, 10_000), (c, 0.1, 10_000)], &mut out);
/// assert_eq!(&out[..n], &[(a, 200), (b, 600), (c, 200)]);
/// ```
pub fn allocate(order_qty: u64, candidates: &[(LpId, f64, u64)], out: &mut [(LpId, u64)]) -> usize {
    let k_max = out.len().min(N);
    // Selected candidates, highest probability first (stable among equals).
    let mut sel: [(LpId, u64, u64); N] = [(LpId(0), 0, 0); N]; // (lp, weight, cap)
    let mut m = 0usize;
    if k_max == 0 || order_qty == 0 {
        return 0;
    }
    for &(lp, p, cap) in candidates {
        if !(p.is_finite() && p > 0.0) || cap == 0 {
            continue;
        }
        let w = ((p.min(1.0) * 4_294_967_296.0).round() as u64).max(1);
        if m == k_max {
            if sel[m - 1].1 >= w {
                continue;
            }
            m -= 1; // drop the worst
        }
        let mut j = m;
        while j > 0 && sel[j - 1].1 < w {
            sel[j] = sel[j - 1];
            j -= 1;
        }
        sel[j] = (lp, w, cap);
        m += 1;
    }
    let sel = &sel[..m];
    let mut alloc = [0u64; N];
    let mut sat = [false; N];
    let mut rem = u128::from(order_qty);
    loop {
        let w_sum: u128 = (0..m)
            .filter(|&i| !sat[i])
            .map(|i| u128::from(sel[i].1))
            .sum();
        if w_sum == 0 || rem == 0 {
            break;
        }
        // Saturate every LP whose proportional share reaches its cap, then share again.
        let mut capped = 0u128;
        for i in 0..m {
            if !sat[i] && rem * u128::from(sel[i].1) >= u128::from(sel[i].2) * w_sum {
                sat[i] = true;
                alloc[i] = sel[i].2;
                capped += u128::from(sel[i].2);
            }
        }
        if capped > 0 {
            rem -= capped; // sum of the capped shares <= rem, see the condition above
            continue;
        }
        // No cap binds: floor of the exact shares, then largest remainders get +1.
        let mut frac = [0u128; N];
        let mut given = 0u128;
        for i in 0..m {
            if !sat[i] {
                let x = rem * u128::from(sel[i].1);
                alloc[i] = (x / w_sum) as u64;
                frac[i] = x % w_sum;
                given += x / w_sum;
            }
        }
        let mut left = rem - given; // < number of unsaturated LPs
        while left > 0 {
            // The largest remainder; `sel` is sorted by weight, so ties go to higher probability.
            let mut best: Option<usize> = None;
            for i in 0..m {
                if !sat[i] && best.is_none_or(|b| frac[i] > frac[b]) {
                    best = Some(i);
                }
            }
            let Some(b) = best else { break };
            alloc[b] += 1; // share < cap, so floor + 1 <= cap
            sat[b] = true; // at most one +1 each
            left -= 1;
        }
        break;
    }
    let mut k = 0;
    for i in 0..m {
        if alloc[i] > 0 {
            out[k] = (sel[i].0, alloc[i]);
            k += 1;
        }
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Naive f64 water-filling oracle: the exact (fractional) shares.
    fn oracle(order: u64, c: &[(u64, u64)]) -> Vec<f64> {
        let mut share = vec![0.0; c.len()];
        let mut sat = vec![false; c.len()];
        let mut rem = order as f64;
        loop {
            let w: f64 = (0..c.len())
                .filter(|&i| !sat[i])
                .map(|i| c[i].0 as f64)
                .sum();
            if w == 0.0 || rem <= 0.0 {
                break;
            }
            let mut any = false;
            for i in 0..c.len() {
                if !sat[i] && rem * c[i].0 as f64 / w >= c[i].1 as f64 {
                    sat[i] = true;
                    share[i] = c[i].1 as f64;
                    rem -= c[i].1 as f64;
                    any = true;
                }
            }
            if !any {
                for i in 0..c.len() {
                    if !sat[i] {
                        share[i] = rem * c[i].0 as f64 / w;
                    }
                }
                break;
            }
        }
        share
    }

    #[test]
    fn allocate_matches_oracle_and_invariants() {
        let mut g = XorShift(0x1234_5678_9abc_def1);
        for case in 0..3000 {
            let n = 1 + g.below(12) as usize;
            let order = g.below(1_000_000);
            let cands: Vec<(LpId, f64, u64)> = (0..n)
                .map(|i| {
                    let p = (1 + g.below(1000)) as f64 / 1000.0;
                    let cap = if g.below(4) == 0 { 0 } else { g.below(400_000) };
                    (LpId(i as u16), p, cap)
                })
                .collect();
            let mut out = [(LpId(0), 0u64); 16];
            let k = allocate(order, &cands, &mut out);
            let got = &out[..k];
            let cap_sum: u64 = cands.iter().map(|c| c.2).sum();
            let total: u64 = got.iter().map(|x| x.1).sum();
            assert_eq!(total, order.min(cap_sum), "case {case}: sum");
            let usable: Vec<(u64, u64)> = cands
                .iter()
                .map(|&(_, p, cap)| (((p * 4_294_967_296.0).round() as u64).max(1), cap))
                .collect();
            let sh = oracle(order, &usable);
            for (i, c) in cands.iter().enumerate() {
                let a = got.iter().find(|x| x.0 == c.0).map_or(0, |x| x.1);
                assert!(a <= c.2, "case {case}: cap");
                assert!(
                    (a as f64 - sh[i]).abs() < 1.0 + 1e-6,
                    "case {case}: lp {i} got {a}, share {}",
                    sh[i]
                );
            }
            // Monotone: higher probability, not capped -> not less.
            for x in &cands {
                for y in &cands {
                    let ax = got.iter().find(|g| g.0 == x.0).map_or(0, |g| g.1);
                    let ay = got.iter().find(|g| g.0 == y.0).map_or(0, |g| g.1);
                    if x.1 > y.1 && ax < x.2 && y.2 > 0 {
                        assert!(ax >= ay, "case {case}: monotone");
                    }
                }
            }
            // Highest probability first.
            assert!(got.windows(2).all(|w| {
                let p = |l: LpId| cands.iter().find(|c| c.0 == l).unwrap().1;
                p(w[0].0) >= p(w[1].0)
            }));
        }
    }

    #[test]
    fn allocate_edges() {
        let a = LpId(0);
        let b = LpId(1);
        let mut out = [(LpId(0), 0u64); 2];
        assert_eq!(allocate(0, &[(a, 0.5, 10)], &mut out), 0);
        assert_eq!(
            allocate(10, &[(a, f64::NAN, 10), (b, 0.0, 10)], &mut out),
            0
        );
        assert_eq!(allocate(10, &[(a, 0.5, 10)], &mut []), 0);
        // Caps short of the order: everyone at cap.
        let n = allocate(100, &[(a, 0.5, 10), (b, 0.9, 20)], &mut out);
        assert_eq!(&out[..n], &[(b, 20), (a, 10)]);
        // Only one output slot: the most likely LP takes what its cap allows.
        let mut one = [(LpId(0), 0u64); 1];
        let n = allocate(100, &[(a, 0.5, 1000), (b, 0.9, 1000)], &mut one);
        assert_eq!(&one[..n], &[(b, 100)]);
        // Remainder to the higher probability: 3 split 1:1 -> 2/1 with the first at higher p.
        let n = allocate(3, &[(a, 0.5, 10), (b, 0.5, 10)], &mut out);
        assert_eq!(&out[..n], &[(a, 2), (b, 1)]);
        // Huge quantities stay exact.
        let n = allocate(
            u64::MAX,
            &[(a, 1.0, u64::MAX), (b, 1.0, u64::MAX)],
            &mut out,
        );
        assert_eq!(
            out[..n].iter().map(|x| u128::from(x.1)).sum::<u128>(),
            u128::from(u64::MAX)
        );
    }
}
