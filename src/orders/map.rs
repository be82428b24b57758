//! A fixed-capacity open-addressing map from a non-zero `u64` key (an id hash) to a `u32` value:
//! linear probing, backward-shift deletion (no tombstones), allocated once at construction.

/// Hash of an identifier (ClOrdID, ExecID, symbol, LP name) scoped by a 64-bit salt such as the
/// session number: FNV-1a 64 over the bytes, then a final avalanche (splitmix64) so the low bits
/// used by the probe are well mixed. Never returns 0 (0 marks an empty slot).
#[inline]
pub fn id_hash(salt: u64, bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let h = mix64(h);
    if h == 0 { 1 } else { h }
}

/// splitmix64's finaliser.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The map is full (its capacity is fixed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapFull;

/// One slot of a [`U64Map`] (key 0: empty).
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    key: u64,
    val: u32,
}

/// Open-addressing `u64 -> u32` map with a fixed number of slots (a power of two, at least twice
/// the number of entries it is asked to hold, so probe sequences stay short).
#[derive(Debug, Clone)]
pub struct U64Map {
    /// Key and value side by side: a lookup touches one cache line, not one per array.
    slots: Vec<Slot>,
    mask: usize,
    len: usize,
    max_len: usize,
}

impl U64Map {
    /// A map that holds up to `max_len` entries.
    pub fn with_capacity(max_len: usize) -> Self {
        let slots = (max_len.max(1) * 2).next_power_of_two();
        Self {
            slots: vec![Slot::default(); slots],
            mask: slots - 1,
            len: 0,
            max_len: max_len.max(1),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn find(&self, key: u64) -> Result<usize, usize> {
        debug_assert!(key != 0);
        let mut i = (key as usize) & self.mask;
        loop {
            let k = self.slots[i].key;
            if k == key {
                return Ok(i);
            }
            if k == 0 {
                return Err(i);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Asks for the cache line of `key`'s home slot (where a lookup, insert or removal of `key`
    /// starts). A hint: changes nothing.
    #[inline]
    pub fn prefetch(&self, key: u64) {
        crate::prefetch::line(&self.slots[(key as usize) & self.mask]);
    }

    /// The value for `key`.
    #[inline]
    pub fn get(&self, key: u64) -> Option<u32> {
        self.find(key).ok().map(|i| self.slots[i].val)
    }

    /// Inserts or overwrites.
    #[inline]
    pub fn insert(&mut self, key: u64, val: u32) -> Result<(), MapFull> {
        match self.find(key) {
            Ok(i) => {
                self.slots[i].val = val;
                Ok(())
            }
            Err(i) => {
                if self.len >= self.max_len {
                    return Err(MapFull);
                }
                self.slots[i] = Slot { key, val };
                self.len += 1;
                Ok(())
            }
        }
    }

    /// Removes `key`, returning its value. Backward-shift deletion keeps every probe chain intact.
    #[inline]
    pub fn remove(&mut self, key: u64) -> Option<u32> {
        let mut i = self.find(key).ok()?;
        let val = self.slots[i].val;
        self.len -= 1;
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let k = self.slots[j].key;
            if k == 0 {
                break;
            }
            let home = (k as usize) & self.mask;
            // Move k back into the hole at i when its home is not in (i, j] (cyclically).
            let in_range = if i <= j {
                home > i && home <= j
            } else {
                home > i || home <= j
            };
            if !in_range {
                self.slots[i] = self.slots[j];
                i = j;
            }
        }
        self.slots[i] = Slot::default();
        Some(val)
    }
}

/// A bounded de-duplication set: remembers the last `cap` keys (FIFO eviction).
#[derive(Debug, Clone)]
pub struct DedupSet {
    ring: Vec<u64>,
    head: usize,
    len: usize,
    index: U64Map,
}

/// `i % cap` (`cap > 0`) without a division in the cases a ring meets (`i < 2 * cap`: an index
/// plus a length or plus one): a 64-bit division costs tens of cycles per push and pop.
#[inline(always)]
pub(crate) fn ring_wrap(i: usize, cap: usize) -> usize {
    if i < cap {
        i
    } else if i - cap < cap {
        i - cap
    } else {
        i % cap
    }
}

impl DedupSet {
    /// Remembers up to `cap` keys.
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        Self {
            ring: vec![0; cap],
            head: 0,
            len: 0,
            index: U64Map::with_capacity(cap),
        }
    }

    /// Whether `key` was seen (within the window).
    #[inline]
    pub fn contains(&self, key: u64) -> bool {
        self.index.get(key).is_some()
    }

    /// Asks for the lines [`DedupSet::insert`] of `key` will touch: `key`'s index slot and,
    /// when the window is full, the index slot of the key it evicts. A hint.
    #[inline]
    pub fn prefetch(&self, key: u64) {
        self.index.prefetch(key);
        if self.len == self.ring.len() {
            self.index.prefetch(self.ring[self.head]);
        }
    }

    /// Records `key`; returns `false` if it was already there (a duplicate).
    #[inline(always)]
    pub fn insert(&mut self, key: u64) -> bool {
        if self.contains(key) {
            return false;
        }
        let cap = self.ring.len();
        if self.len == cap {
            let old = self.ring[self.head];
            self.index.remove(old);
            self.ring[self.head] = key;
            self.head = ring_wrap(self.head + 1, cap);
        } else {
            self.ring[ring_wrap(self.head + self.len, cap)] = key;
            self.len += 1;
        }
        let _ = self.index.insert(key, 1);
        true
    }
}

// ---- snapshots (lpscore::journal::snapshot): the exact slot layout, so probing is unchanged.
use crate::journal::codec::{Dec, DecodeError, Enc};

impl U64Map {
    /// Writes the occupied slots (position, key, value) and the length.
    pub fn snap_write(&self, e: &mut Enc) {
        e.tag(b"MAP_");
        e.usize(self.max_len);
        e.usize(self.len);
        e.usize(self.slots.len());
        let n = self.slots.iter().filter(|s| s.key != 0).count();
        e.usize(n);
        for (i, s) in self.slots.iter().enumerate() {
            if s.key != 0 {
                e.usize(i);
                e.u64(s.key);
                e.u32(s.val);
            }
        }
    }

    /// Restores what [`U64Map::snap_write`] wrote into a map of the same capacity.
    pub fn snap_read(&mut self, d: &mut Dec<'_>) -> Result<(), DecodeError> {
        d.tag(b"MAP_", "map section missing")?;
        let max_len = d.usize()?;
        d.check(
            max_len == self.max_len,
            "map capacity differs from the configuration's",
        )?;
        let len = d.len(max_len)?;
        let slots = d.usize()?;
        d.check(
            slots == self.slots.len(),
            "map size differs from the configuration's",
        )?;
        let n = d.len(slots)?;
        d.check(n == len, "map length does not match its slots")?;
        self.slots.fill(Slot::default());
        for _ in 0..n {
            let i = d.index(slots)?;
            let k = d.u64()?;
            d.check(k != 0 && self.slots[i].key == 0, "bad map slot")?;
            self.slots[i] = Slot {
                key: k,
                val: d.u32()?,
            };
        }
        self.len = len;
        Ok(())
    }
}

impl DedupSet {
    /// Writes the window (ring, head, length) and its index.
    pub fn snap_write(&self, e: &mut Enc) {
        e.tag(b"DEDU");
        e.usize(self.head);
        e.usize(self.len);
        e.sparse(&self.ring, |&k| k != 0, |e, &k| e.u64(k));
        self.index.snap_write(e);
    }

    /// Restores what [`DedupSet::snap_write`] wrote into a set of the same capacity.
    pub fn snap_read(&mut self, d: &mut Dec<'_>) -> Result<(), DecodeError> {
        d.tag(b"DEDU", "dedup section missing")?;
        let cap = self.ring.len();
        self.head = d.index(cap)?;
        self.len = d.len(cap)?;
        d.sparse(
            &mut self.ring,
            |k| *k = 0,
            |d, k| {
                *k = d.u64()?;
                Ok(())
            },
        )?;
        self.index.snap_read(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_wrap_is_the_remainder() {
        for cap in 1..=9usize {
            for i in 0..5 * cap {
                assert_eq!(ring_wrap(i, cap), i % cap, "{i} % {cap}");
            }
        }
        assert_eq!(ring_wrap(usize::MAX, 7), usize::MAX % 7);
    }
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn insert_get_remove() {
        let mut m = U64Map::with_capacity(4);
        m.insert(5, 1).unwrap();
        m.insert(13, 2).unwrap();
        assert_eq!(m.get(5), Some(1));
        assert_eq!(m.remove(5), Some(1));
        assert_eq!(m.get(13), Some(2));
        assert_eq!(m.get(5), None);
        m.insert(1, 1).unwrap();
        m.insert(2, 1).unwrap();
        m.insert(3, 1).unwrap();
        assert_eq!(m.insert(4, 1), Err(MapFull));
    }

    #[test]
    fn dedup_window_is_bounded() {
        let mut d = DedupSet::new(3);
        assert!(d.insert(10));
        assert!(!d.insert(10));
        assert!(d.insert(11));
        assert!(d.insert(12));
        assert!(d.insert(13)); // evicts 10
        assert!(!d.contains(10));
        assert!(d.contains(11) && d.contains(12) && d.contains(13));
        assert!(d.insert(10)); // evicts 11
        assert!(!d.contains(11));
        assert!(d.contains(12));
    }

    proptest! {
        // The map agrees with std's HashMap (the naive oracle) under any mix of operations,
        // including keys that collide in the low bits.
        #[test]
        fn map_matches_oracle(ops in proptest::collection::vec((0u8..3, 1u64..64, any::<u32>()), 0..400)) {
            let mut m = U64Map::with_capacity(40);
            let mut o: HashMap<u64, u32> = HashMap::new();
            for (op, k, v) in ops {
                let key = k << 7 | (k & 3); // many collisions on the low bits
                match op {
                    0 => {
                        let r = m.insert(key, v);
                        if o.len() < 40 || o.contains_key(&key) { prop_assert!(r.is_ok()); o.insert(key, v); }
                        else { prop_assert_eq!(r, Err(MapFull)); }
                    }
                    1 => prop_assert_eq!(m.remove(key), o.remove(&key)),
                    _ => prop_assert_eq!(m.get(key), o.get(&key).copied()),
                }
                prop_assert_eq!(m.len(), o.len());
            }
            for (k, v) in &o { prop_assert_eq!(m.get(*k), Some(*v)); }
        }

        #[test]
        fn dedup_remembers_last_n(keys in proptest::collection::vec(1u64..50, 0..300)) {
            let cap = 8;
            let mut d = DedupSet::new(cap);
            let mut window: std::collections::VecDeque<u64> = Default::default();
            for k in keys {
                let fresh = !window.contains(&k);
                prop_assert_eq!(d.insert(k), fresh);
                if fresh {
                    if window.len() == cap { window.pop_front(); }
                    window.push_back(k);
                }
                for w in &window { prop_assert!(d.contains(*w)); }
            }
        }
    }
}
