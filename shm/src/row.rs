//! Plain decoded values: [`ScoreRow`], identifiers ([`LpId`], [`SymbolId`], [`ProfileId`]),
//! slots ([`SymbolSlot`], [`BucketSlot`]) and [`Name`].

use crate::layout::{NAME_MAX, ROW_DATA_WORDS};
use core::fmt;

/// Row flag: the row has data.
///
/// ```
/// assert_eq!(lpscore_shm::FLAG_HAS_DATA, 1);
/// ```
pub const FLAG_HAS_DATA: u32 = 1;
/// Row flag: the LP's scoring is paused.
///
/// ```
/// assert_eq!(lpscore_shm::FLAG_LP_PAUSED, 2);
/// ```
pub const FLAG_LP_PAUSED: u32 = 2;
/// Row flag: price KPIs are unavailable (no NBBO).
///
/// ```
/// assert_eq!(lpscore_shm::FLAG_NO_PRICE, 4);
/// ```
pub const FLAG_NO_PRICE: u32 = 4;

// Profile data word indices (data = entry words 1..16).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const P_NAME_LO: usize = 0;
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const P_NAME_HI: usize = 1;
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const P_FLAGS: usize = 2;
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const P_WEIGHTS: usize = 3;

/// Byte offset within the row and byte length of a row field named as in the layout descriptor.
#[cfg(test)]
pub(crate) fn field_offset(name: &str) -> Option<(usize, usize)> {
    let w = |word: usize, half: usize| (word * 8 + half * 4, 4);
    Some(match name {
        "publish_ns" => (8, 8),
        "eff_orders" => w(2, 0),
        "eff_fills" => w(2, 1),
        "fill_rate" => w(3, 0),
        "reject_rate" => w(3, 1),
        "pi_bps" => w(4, 0),
        "es_bps" => w(4, 1),
        "impact_bps" => w(5, 0),
        "markout_bps" => w(5, 1),
        "ack_p50_ns" => w(6, 0),
        "ack_p99_ns" => w(6, 1),
        "fill_p50_ns" => w(7, 0),
        "flags" => w(7, 1),
        "score" => (64, 32),
        "pi_rate" => w(12, 0),
        "eq_ratio" => w(12, 1),
        "cancel_reject_rate" => w(13, 0),
        "realized_spread_bps" => w(13, 1),
        "n_orders" => w(14, 0),
        "n_fills" => w(14, 1),
        "n_price_skipped" => w(15, 0),
        _ => return None,
    })
}

/// An LP: its index in the LP directory (the `l` of the row formula).
///
/// ```
/// let lp = lpscore_shm::LpId::new(3);
/// assert_eq!(lp.index(), 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LpId(pub(crate) u16);

impl LpId {
    /// An LP id from its directory index (checked against the capacity when used).
    ///
    /// ```
    /// assert_eq!(lpscore_shm::LpId::new(7).index(), 7);
    /// ```
    pub const fn new(index: u16) -> Self {
        LpId(index)
    }
    /// The directory index.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::LpId::new(0).index(), 0);
    /// ```
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A symbol: its slot (given in insertion order 0, 1, 2, ...).
///
/// ```
/// assert_eq!(lpscore_shm::SymbolId::new(5).index(), 5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SymbolId(pub(crate) u32);

impl SymbolId {
    /// A symbol id from its slot (checked against the capacity when used).
    ///
    /// ```
    /// assert_eq!(lpscore_shm::SymbolId::new(1).index(), 1);
    /// ```
    pub const fn new(slot: u32) -> Self {
        SymbolId(slot)
    }
    /// The slot.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::SymbolId::new(2).index(), 2);
    /// ```
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A scoring profile: its index, which is also its score slot in every row.
///
/// ```
/// assert_eq!(lpscore_shm::ProfileId::new(1).index(), 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ProfileId(pub(crate) u8);

impl ProfileId {
    /// A profile id from its index (checked against the capacity when used).
    ///
    /// ```
    /// assert_eq!(lpscore_shm::ProfileId::new(0).index(), 0);
    /// ```
    pub const fn new(index: u8) -> Self {
        ProfileId(index)
    }
    /// The index (= score slot).
    ///
    /// ```
    /// assert_eq!(lpscore_shm::ProfileId::new(3).index(), 3);
    /// ```
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// Which symbol a row aggregates: one symbol, or all symbols.
///
/// ```
/// use lpscore_shm::{SymbolId, SymbolSlot};
/// let s: SymbolSlot = SymbolId::new(0).into();
/// assert_eq!(s, SymbolSlot::One(SymbolId::new(0)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SymbolSlot {
    /// One symbol.
    One(SymbolId),
    /// All symbols (slot `max_symbols`).
    All,
}

impl From<SymbolId> for SymbolSlot {
    fn from(s: SymbolId) -> Self {
        SymbolSlot::One(s)
    }
}

/// Which size bucket a row aggregates: one bucket, or all sizes.
///
/// ```
/// use lpscore_shm::BucketSlot;
/// assert_ne!(BucketSlot::Bucket(0), BucketSlot::All);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BucketSlot {
    /// Size bucket `i` (0-based, `< n_buckets`).
    Bucket(u8),
    /// All sizes (slot `n_buckets`).
    All,
}

/// What the size buckets measure.
///
/// ```
/// assert_eq!(lpscore_shm::BucketUnit::Shares as u64, 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u64)]
pub enum BucketUnit {
    /// Order notional in whole USD.
    #[default]
    NotionalUsd = 0,
    /// Shares.
    Shares = 1,
}

/// A name from the file (LP id, symbol, profile): up to 16 bytes, no allocation.
///
/// ```
/// let n = lpscore_shm::Name::from_words(u64::from_le_bytes(*b"LP-ALPHA"), 0);
/// assert_eq!(n.as_str(), "LP-ALPHA");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Name {
    bytes: [u8; NAME_MAX],
    len: u8,
}

impl Name {
    /// Decodes `(name_lo, name_hi)`; the name ends at the first NUL. Invalid UTF-8 decodes as empty.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::Name::from_words(0, 0).as_str(), "");
    /// ```
    pub fn from_words(lo: u64, hi: u64) -> Self {
        let mut bytes = [0u8; NAME_MAX];
        bytes[..8].copy_from_slice(&lo.to_le_bytes());
        bytes[8..].copy_from_slice(&hi.to_le_bytes());
        let len = bytes.iter().position(|&b| b == 0).unwrap_or(NAME_MAX);
        let len = if core::str::from_utf8(&bytes[..len]).is_ok() {
            len
        } else {
            0
        };
        Name {
            bytes,
            len: len as u8,
        }
    }
    /// The name as a string slice.
    ///
    /// ```
    /// let n = lpscore_shm::Name::from_words(u64::from_le_bytes(*b"AAPL\0\0\0\0"), 0);
    /// assert_eq!(n.as_str(), "AAPL");
    /// ```
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One decoded score row (the 15 data words of a row, `seq` excluded).
///
/// ```
/// use lpscore_shm::ScoreRow;
/// let mut r = ScoreRow::default();
/// r.fill_rate = 0.5;
/// r.scores[2] = 77.0;
/// r.n_orders = 10;
/// assert_eq!(ScoreRow::from_words(&r.to_words()), r);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct ScoreRow {
    /// Engine event time of the last update (ns since the Unix epoch).
    pub publish_ns: u64,
    /// Effective (decayed) order count.
    pub eff_orders: f32,
    /// Effective (decayed) fill count.
    pub eff_fills: f32,
    /// Fill rate, 0..1.
    pub fill_rate: f32,
    /// Reject rate, 0..1.
    pub reject_rate: f32,
    /// Price improvement, bps.
    pub pi_bps: f32,
    /// Effective spread, bps.
    pub es_bps: f32,
    /// Market impact at the score horizon, bps.
    pub impact_bps: f32,
    /// Markout at the score horizon, bps.
    pub markout_bps: f32,
    /// Ack latency median, ns (saturating).
    pub ack_p50_ns: u32,
    /// Ack latency p99, ns (saturating).
    pub ack_p99_ns: u32,
    /// Fill latency median, ns (saturating).
    pub fill_p50_ns: u32,
    /// [`FLAG_HAS_DATA`], [`FLAG_LP_PAUSED`], [`FLAG_NO_PRICE`].
    pub flags: u32,
    /// Score per profile slot, in [0, 100]; NaN for an inactive profile.
    pub scores: [f32; 8],
    /// Share of orders with price improvement, 0..1.
    pub pi_rate: f32,
    /// Effective-over-quoted spread ratio.
    pub eq_ratio: f32,
    /// Cancel reject rate.
    pub cancel_reject_rate: f32,
    /// Realized spread, bps.
    pub realized_spread_bps: f32,
    /// Raw order count (saturating).
    pub n_orders: u32,
    /// Raw fill count (saturating).
    pub n_fills: u32,
    /// Orders skipped by the price KPIs.
    pub n_price_skipped: u32,
}

#[inline]
fn pair(lo: u32, hi: u32) -> u64 {
    u64::from(lo) | (u64::from(hi) << 32)
}
#[inline]
fn fpair(lo: f32, hi: f32) -> u64 {
    pair(lo.to_bits(), hi.to_bits())
}
#[inline]
fn lo32(w: u64) -> u32 {
    w as u32
}
#[inline]
fn hi32(w: u64) -> u32 {
    (w >> 32) as u32
}
#[inline]
fn flo(w: u64) -> f32 {
    f32::from_bits(lo32(w))
}
#[inline]
fn fhi(w: u64) -> f32 {
    f32::from_bits(hi32(w))
}

impl ScoreRow {
    /// Encodes into the 15 data words (row words 1..16), pairs packed low field first.
    ///
    /// ```
    /// let mut r = lpscore_shm::ScoreRow::default();
    /// r.ack_p50_ns = 1;
    /// r.ack_p99_ns = 2;
    /// assert_eq!(r.to_words()[5], 1 | (2 << 32));
    /// ```
    pub fn to_words(&self) -> [u64; ROW_DATA_WORDS] {
        [
            self.publish_ns,
            fpair(self.eff_orders, self.eff_fills),
            fpair(self.fill_rate, self.reject_rate),
            fpair(self.pi_bps, self.es_bps),
            fpair(self.impact_bps, self.markout_bps),
            pair(self.ack_p50_ns, self.ack_p99_ns),
            pair(self.fill_p50_ns, self.flags),
            fpair(self.scores[0], self.scores[1]),
            fpair(self.scores[2], self.scores[3]),
            fpair(self.scores[4], self.scores[5]),
            fpair(self.scores[6], self.scores[7]),
            fpair(self.pi_rate, self.eq_ratio),
            fpair(self.cancel_reject_rate, self.realized_spread_bps),
            pair(self.n_orders, self.n_fills),
            pair(self.n_price_skipped, 0),
        ]
    }

    /// Decodes the 15 data words (row words 1..16).
    ///
    /// ```
    /// let r = lpscore_shm::ScoreRow::from_words(&[0; 15]);
    /// assert!(!r.has_data());
    /// ```
    pub fn from_words(w: &[u64; ROW_DATA_WORDS]) -> Self {
        ScoreRow {
            publish_ns: w[0],
            eff_orders: flo(w[1]),
            eff_fills: fhi(w[1]),
            fill_rate: flo(w[2]),
            reject_rate: fhi(w[2]),
            pi_bps: flo(w[3]),
            es_bps: fhi(w[3]),
            impact_bps: flo(w[4]),
            markout_bps: fhi(w[4]),
            ack_p50_ns: lo32(w[5]),
            ack_p99_ns: hi32(w[5]),
            fill_p50_ns: lo32(w[6]),
            flags: hi32(w[6]),
            scores: [
                flo(w[7]),
                fhi(w[7]),
                flo(w[8]),
                fhi(w[8]),
                flo(w[9]),
                fhi(w[9]),
                flo(w[10]),
                fhi(w[10]),
            ],
            pi_rate: flo(w[11]),
            eq_ratio: fhi(w[11]),
            cancel_reject_rate: flo(w[12]),
            realized_spread_bps: fhi(w[12]),
            n_orders: lo32(w[13]),
            n_fills: hi32(w[13]),
            n_price_skipped: lo32(w[14]),
        }
    }

    /// Whether the row has data ([`FLAG_HAS_DATA`]).
    ///
    /// ```
    /// let mut r = lpscore_shm::ScoreRow::default();
    /// r.flags = lpscore_shm::FLAG_HAS_DATA;
    /// assert!(r.has_data());
    /// ```
    pub fn has_data(&self) -> bool {
        self.flags & FLAG_HAS_DATA != 0
    }

    /// Whether the LP's scoring is paused ([`FLAG_LP_PAUSED`]).
    ///
    /// ```
    /// assert!(!lpscore_shm::ScoreRow::default().is_paused());
    /// ```
    pub fn is_paused(&self) -> bool {
        self.flags & FLAG_LP_PAUSED != 0
    }

    /// The score of profile slot `p`, `None` when out of range, NaN, or the row has no data.
    ///
    /// ```
    /// let mut r = lpscore_shm::ScoreRow::default();
    /// r.flags = lpscore_shm::FLAG_HAS_DATA;
    /// r.scores = [f32::NAN; 8];
    /// r.scores[1] = 50.0;
    /// assert_eq!(r.score(1), Some(50.0));
    /// assert_eq!(r.score(0), None);
    /// ```
    pub fn score(&self, p: usize) -> Option<f32> {
        let s = *self.scores.get(p)?;
        (self.has_data() && !s.is_nan()).then_some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_pack_low_field_first() {
        let mut r = ScoreRow {
            eff_orders: 1.0,
            eff_fills: 2.0,
            ..Default::default()
        };
        r.n_price_skipped = 9;
        let w = r.to_words();
        assert_eq!(w[1] as u32, 1.0f32.to_bits());
        assert_eq!((w[1] >> 32) as u32, 2.0f32.to_bits());
        assert_eq!(w[14], 9);
    }

    #[test]
    fn roundtrip_all_fields_bit_exact() {
        let mut w = [0u64; ROW_DATA_WORDS];
        for (i, x) in w.iter_mut().enumerate() {
            *x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) & 0x3F7F_FFFF_3F7F_FFFF;
        }
        w[14] &= 0xFFFF_FFFF; // reserved half is 0
        assert_eq!(ScoreRow::from_words(&w).to_words(), w);
    }

    #[test]
    fn name_decodes() {
        let (lo, hi) = crate::layout::pack_name("ABCDEFGHIJKLMNOP").unwrap();
        assert_eq!(Name::from_words(lo, hi).as_str(), "ABCDEFGHIJKLMNOP");
        assert!(crate::layout::pack_name("ABCDEFGHIJKLMNOPQ").is_none());
        assert!(crate::layout::pack_name("a\0b").is_none());
    }
}
