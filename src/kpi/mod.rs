//! KPI statistics: formulas, decayed sums, histograms, the quote book, the markout queues and the
//! cells (LP x symbol x size bucket, plus the all-sizes and all-symbols aggregates).
pub mod cell;
pub mod decay;
pub mod formulas;
pub mod hist;
pub mod markout;
pub mod quotes;

pub use cell::{Cell, Estimates, EstimatorParams, PoolAccumulator, Priors, Stamps, ix, shrink};
pub use decay::{HalfLife, Stamp};
pub use formulas::{Arrival, PRICE_SCALE, QuoteRelation, SizeBuckets, px, quote_relation};
pub use markout::{FillRec, MAX_HORIZONS, Markouts};
pub use quotes::{QuoteBook, QuoteSkip, QuoteUpdate};

const NONE: u32 = u32::MAX;

/// Where a row lives in the scoreboard: `(symbol slot, bucket slot, LP)`. Symbol slot
/// `max_symbols` is all symbols; bucket slot `n_buckets` is all sizes (shm/LAYOUT.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowKey {
    /// Symbol slot (`max_symbols` = all symbols).
    pub sym: u32,
    /// Bucket slot (`n_buckets` = all sizes).
    pub bucket: u8,
    /// LP index.
    pub lp: u16,
}

/// The cells, allocated on first use (a new LP x symbol x bucket combination), indexed by the
/// scoreboard's row formula.
#[derive(Debug, Clone)]
pub struct Stats {
    index: Vec<u32>,
    cells: Vec<Cell>,
    keys: Vec<RowKey>,
    max_cells: usize,
    /// Cell table full: updates for new combinations dropped.
    pub cells_full: u64,
    /// Symbol slots (the all-symbols slot is `max_symbols`).
    pub max_symbols: u32,
    /// Size buckets (the all-sizes slot is `n_buckets`).
    pub n_buckets: u8,
    /// LPs.
    pub max_lps: u16,
    /// Also keep the (all symbols, one size bucket) rows.
    pub bucket_totals: bool,
}

impl Stats {
    /// Room for the given dimensions; at most `max_cells` cells are ever created.
    pub fn new(max_symbols: u32, n_buckets: u8, max_lps: u16, max_cells: usize) -> Self {
        let n_rows = (max_symbols as usize + 1) * (n_buckets as usize + 1) * max_lps as usize;
        Self {
            index: vec![NONE; n_rows],
            // Reserved (virtual memory) up front so that new cells never move the others; pages
            // are touched only as cells are created.
            cells: Vec::with_capacity(max_cells),
            keys: Vec::with_capacity(max_cells),
            max_cells,
            cells_full: 0,
            max_symbols,
            n_buckets,
            max_lps,
            bucket_totals: true,
        }
    }

    /// The scoreboard row index of a key.
    #[inline]
    pub fn row_index(&self, k: RowKey) -> usize {
        (k.sym as usize * (self.n_buckets as usize + 1) + k.bucket as usize) * self.max_lps as usize
            + k.lp as usize
    }

    /// The cell of `k`, creating it when new (`None` when the cell table is full or the key is out
    /// of range).
    #[inline]
    pub fn cell_id(&mut self, k: RowKey) -> Option<u32> {
        if k.sym > self.max_symbols || k.bucket > self.n_buckets || k.lp >= self.max_lps {
            return None;
        }
        let r = self.row_index(k);
        let id = self.index[r];
        if id != NONE {
            return Some(id);
        }
        if self.cells.len() >= self.max_cells {
            self.cells_full += 1;
            return None;
        }
        let id = self.cells.len() as u32;
        self.cells.push(Cell::default());
        self.keys.push(k);
        self.index[r] = id;
        Some(id)
    }

    /// The id of the cell of `k`, if it exists.
    #[inline]
    pub fn find_id(&self, k: RowKey) -> Option<u32> {
        if k.sym > self.max_symbols || k.bucket > self.n_buckets || k.lp >= self.max_lps {
            return None;
        }
        let id = self.index[self.row_index(k)];
        (id != NONE).then_some(id)
    }

    /// The cell of `k`, if it exists.
    #[inline]
    pub fn find(&self, k: RowKey) -> Option<&Cell> {
        self.find_id(k).map(|id| &self.cells[id as usize])
    }

    /// The cells a per-order observation updates: (symbol, bucket), (symbol, all sizes),
    /// (all symbols, bucket) when `bucket_totals`, (all symbols, all sizes). A missing bucket or symbol skips the rows
    /// that need it. Returns the ids and how many there are.
    #[inline]
    pub fn fan_out(&mut self, lp: u16, sym: Option<u32>, bucket: Option<u8>) -> ([u32; 4], usize) {
        let all_s = self.max_symbols;
        let all_b = self.n_buckets;
        let mut out = [0u32; 4];
        let mut n = 0;
        let mut push = |st: &mut Self, s: u32, b: u8| {
            if let Some(id) = st.cell_id(RowKey {
                sym: s,
                bucket: b,
                lp,
            }) {
                out[n] = id;
                n += 1;
            }
        };
        if let Some(s) = sym {
            if let Some(b) = bucket {
                push(self, s, b);
            }
            push(self, s, all_b);
        }
        if let Some(b) = bucket.filter(|_| self.bucket_totals) {
            push(self, all_s, b);
        }
        push(self, all_s, all_b);
        (out, n)
    }

    /// A cell by id.
    #[inline]
    pub fn cell(&self, id: u32) -> &Cell {
        &self.cells[id as usize]
    }
    /// A cell by id, mutably.
    #[inline]
    pub fn cell_mut(&mut self, id: u32) -> &mut Cell {
        &mut self.cells[id as usize]
    }
    /// The key of a cell.
    #[inline]
    pub fn key(&self, id: u32) -> RowKey {
        self.keys[id as usize]
    }
    /// Number of cells.
    pub fn len(&self) -> usize {
        self.cells.len()
    }
    /// Whether there is no cell.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
    /// The pool prior: ratio of the summed slow sums of every LP's all-symbols, all-sizes cell.
    pub fn pool_priors(&self, now: Stamps, fallback: &Priors) -> Priors {
        let mut acc = PoolAccumulator::default();
        for lp in 0..self.max_lps {
            if let Some(c) = self.find(RowKey {
                sym: self.max_symbols,
                bucket: self.n_buckets,
                lp,
            }) {
                acc.add(c, now);
            }
        }
        acc.priors(fallback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_index_matches_layout() {
        // n_rows = (max_symbols + 1) * (n_buckets + 1) * max_lps; index = (s * (nb + 1) + b) * L + l
        let st = Stats::new(10, 8, 4, 100);
        assert_eq!(
            st.row_index(RowKey {
                sym: 0,
                bucket: 0,
                lp: 0
            }),
            0
        );
        assert_eq!(
            st.row_index(RowKey {
                sym: 2,
                bucket: 3,
                lp: 1
            }),
            (2 * 9 + 3) * 4 + 1
        );
        assert_eq!(
            st.row_index(RowKey {
                sym: 10,
                bucket: 8,
                lp: 3
            }),
            11 * 9 * 4 - 1
        );
    }

    #[test]
    fn fan_out_and_capacity() {
        let mut st = Stats::new(10, 8, 4, 5);
        let (ids, n) = st.fan_out(1, Some(2), Some(3));
        assert_eq!(n, 4);
        assert_eq!(
            st.key(ids[0]),
            RowKey {
                sym: 2,
                bucket: 3,
                lp: 1
            }
        );
        assert_eq!(
            st.key(ids[3]),
            RowKey {
                sym: 10,
                bucket: 8,
                lp: 1
            }
        );
        let (again, _) = st.fan_out(1, Some(2), Some(3));
        assert_eq!(ids, again);
        let (_, n) = st.fan_out(1, Some(2), None);
        assert_eq!(n, 2);
        let (_, n) = st.fan_out(2, None, None);
        assert_eq!(n, 1); // the 5th cell
        let (_, n) = st.fan_out(3, None, None);
        assert_eq!(n, 0);
        assert_eq!(st.cells_full, 1);
        assert!(
            st.cell_id(RowKey {
                sym: 0,
                bucket: 0,
                lp: 9
            })
            .is_none()
        );
    }
}
