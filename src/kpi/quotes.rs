//! Top of book per symbol, from market data, with crossed/locked and stale quotes flagged.

/// Why an arrival quote could not anchor price KPIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteSkip {
    /// No quote in the book and none stamped on the order.
    NoQuote,
    /// The book's quote is older than the staleness limit (and the order carried none).
    Stale,
    /// Bid >= ask (crossed or locked), or a non-positive side.
    CrossedOrLocked,
}

/// Result of a quote update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteUpdate {
    /// A usable two-sided quote.
    Ok,
    /// Crossed or locked (bid >= ask) or a side <= 0: stored and flagged, price KPIs will not use it.
    Flagged,
}

#[derive(Debug, Clone, Copy, Default)]
struct Top {
    bid: i64,
    ask: i64,
    ts: u64,
    /// bid + ask of the last usable quote (0 = none yet): the mid used for markouts.
    good_two_mid: i64,
    present: bool,
}

/// The quote book: one top of book per symbol slot.
#[derive(Debug, Clone)]
pub struct QuoteBook {
    tops: Vec<Top>,
    /// Crossed or locked quotes received.
    pub flagged: u64,
}

impl QuoteBook {
    /// A book for `max_symbols` symbol slots.
    pub fn new(max_symbols: usize) -> Self {
        Self {
            tops: vec![Top::default(); max_symbols],
            flagged: 0,
        }
    }

    /// Applies a market-data update.
    #[inline]
    pub fn update(&mut self, sym: u32, bid: i64, ask: i64, ts: u64) -> QuoteUpdate {
        let Some(t) = self.tops.get_mut(sym as usize) else {
            return QuoteUpdate::Flagged;
        };
        t.bid = bid;
        t.ask = ask;
        t.ts = ts;
        t.present = true;
        if bid > 0 && ask > bid {
            t.good_two_mid = bid.saturating_add(ask);
            QuoteUpdate::Ok
        } else {
            self.flagged += 1;
            QuoteUpdate::Flagged
        }
    }

    /// The book's quote for an order arriving at `now`: `Ok((bid, ask))` when present, usable and
    /// not older than `stale_ns` (0 = never stale).
    #[inline]
    pub fn arrival(&self, sym: u32, now: u64, stale_ns: u64) -> Result<(i64, i64), QuoteSkip> {
        let t = self
            .tops
            .get(sym as usize)
            .filter(|t| t.present)
            .ok_or(QuoteSkip::NoQuote)?;
        if !(t.bid > 0 && t.ask > t.bid) {
            return Err(QuoteSkip::CrossedOrLocked);
        }
        if stale_ns > 0 && now.saturating_sub(t.ts) > stale_ns {
            return Err(QuoteSkip::Stale);
        }
        Ok((t.bid, t.ask))
    }

    /// The stored bid and ask (0 when never set), usable or not.
    #[inline]
    pub fn sides(&self, sym: u32) -> (i64, i64) {
        self.tops
            .get(sym as usize)
            .map(|t| (t.bid, t.ask))
            .unwrap_or((0, 0))
    }

    /// `bid + ask` of the last usable quote (`2 * m(t)`), for markouts.
    #[inline]
    pub fn two_mid(&self, sym: u32) -> Option<i64> {
        self.tops
            .get(sym as usize)
            .map(|t| t.good_two_mid)
            .filter(|m| *m > 0)
    }
}

// ---- snapshots (lpscore::journal::snapshot).
use crate::journal::codec::{Dec, DecodeError, Enc};

impl QuoteBook {
    /// Writes the symbols' tops that hold anything, and the flagged count.
    pub fn snap_write(&self, e: &mut Enc) {
        e.tag(b"BOOK");
        e.u64(self.flagged);
        e.sparse(
            &self.tops,
            |t| t.present || t.bid != 0 || t.ask != 0 || t.ts != 0 || t.good_two_mid != 0,
            |e, t| {
                e.i64(t.bid);
                e.i64(t.ask);
                e.u64(t.ts);
                e.i64(t.good_two_mid);
                e.bool(t.present);
            },
        );
    }

    /// Restores what [`QuoteBook::snap_write`] wrote into a book of the same size.
    pub fn snap_read(&mut self, d: &mut Dec<'_>) -> Result<(), DecodeError> {
        d.tag(b"BOOK", "quote book section missing")?;
        self.flagged = d.u64()?;
        d.sparse(
            &mut self.tops,
            |t| *t = Top::default(),
            |d, t| {
                t.bid = d.i64()?;
                t.ask = d.i64()?;
                t.ts = d.u64()?;
                t.good_two_mid = d.i64()?;
                t.present = d.bool()?;
                Ok(())
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_staleness() {
        let mut b = QuoteBook::new(2);
        assert_eq!(b.arrival(0, 0, 10), Err(QuoteSkip::NoQuote));
        assert_eq!(b.update(0, 100, 102, 5), QuoteUpdate::Ok);
        assert_eq!(b.arrival(0, 10, 10), Ok((100, 102)));
        assert_eq!(b.arrival(0, 16, 10), Err(QuoteSkip::Stale));
        assert_eq!(b.arrival(0, 1_000, 0), Ok((100, 102)));
        assert_eq!(b.update(0, 102, 102, 20), QuoteUpdate::Flagged); // locked
        assert_eq!(b.arrival(0, 20, 10), Err(QuoteSkip::CrossedOrLocked));
        assert_eq!(b.two_mid(0), Some(202)); // the last usable mid survives
        assert_eq!(b.update(0, 103, 102, 21), QuoteUpdate::Flagged); // crossed
        assert_eq!(b.flagged, 2);
        assert_eq!(b.two_mid(1), None);
        assert_eq!(b.update(5, 1, 2, 0), QuoteUpdate::Flagged); // out of range
    }
}
