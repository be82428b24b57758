//! The routing helper an SOR splits a large order with (`route::allocate`), through the public
//! API: the allocation sums to the order (or to the caps), never exceeds an LP's cap, and gives
//! more to the LP more likely to fill.

use lpscore_shm::LpId;
use lpscore_shm::route::allocate;

/// A small deterministic generator (no dependency).
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn lp(i: u16) -> LpId {
    LpId::new(i)
}

#[test]
fn sums_to_the_order_respects_caps_and_prefers_higher_fill_probability() {
    let mut g = Lcg(42);
    for case in 0..5_000 {
        let n = 1 + g.below(8) as usize;
        let order = g.below(300_000);
        let cands: Vec<(LpId, f64, u64)> = (0..n)
            .map(|i| {
                let p = (1 + g.below(100)) as f64 / 100.0;
                (lp(i as u16), p, g.below(100_000))
            })
            .collect();
        let mut out = [(LpId::default(), 0u64); 8];
        let k = allocate(order, &cands, &mut out);
        let got = &out[..k];
        let caps: u64 = cands.iter().map(|c| c.2).sum();
        let total: u64 = got.iter().map(|g| g.1).sum();
        assert_eq!(total, order.min(caps), "case {case}: the sum");
        let q = |l: LpId| got.iter().find(|g| g.0 == l).map_or(0, |g| g.1);
        for c in &cands {
            assert!(q(c.0) <= c.2, "case {case}: {:?} over its cap", c.0);
        }
        for a in &cands {
            for b in &cands {
                // More likely to fill, not capped: at least as much as the other (largest-remainder
                // rounding may give the less likely LP one share more only when probabilities tie).
                if a.1 > b.1 && q(a.0) < a.2 {
                    assert!(
                        q(a.0) >= q(b.0),
                        "case {case}: {a:?} got less than {b:?}: {got:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_seeds_example_split() {
    // 20 000 shares across three LPs with fill rates 0.9, 0.6, 0.3; LP 0 capped at 8 000.
    let c = [
        (lp(0), 0.9, 8_000),
        (lp(1), 0.6, 50_000),
        (lp(2), 0.3, 50_000),
    ];
    let mut out = [(LpId::default(), 0u64); 3];
    let k = allocate(20_000, &c, &mut out);
    // LP 0 takes its cap; the other 12 000 are split 2:1.
    assert_eq!(&out[..k], &[(lp(0), 8_000), (lp(1), 8_000), (lp(2), 4_000)]);
    // Without caps: in proportion, 0.9 : 0.6 : 0.3.
    let c = [
        (lp(0), 0.9, 50_000),
        (lp(1), 0.6, 50_000),
        (lp(2), 0.3, 50_000),
    ];
    let k = allocate(18_000, &c, &mut out);
    assert_eq!(&out[..k], &[(lp(0), 9_000), (lp(1), 6_000), (lp(2), 3_000)]);
    // Caps short of the order: everyone at cap, the rest unallocated.
    let c = [(lp(0), 0.9, 1_000), (lp(1), 0.6, 2_000)];
    let k = allocate(20_000, &c, &mut out);
    assert_eq!(out[..k].iter().map(|x| x.1).sum::<u64>(), 3_000);
    // Nothing to allocate to: LPs with no fill probability or no capacity get nothing.
    let c = [(lp(0), 0.0, 1_000), (lp(1), 0.6, 0)];
    assert_eq!(allocate(20_000, &c, &mut out), 0);
}
