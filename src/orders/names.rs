//! Interned names (LP ids, symbols): at most 16 bytes each (the scoreboard's name width), given
//! dense indices in order of first appearance. Allocation happens only when a name is new.
use super::map::{U64Map, id_hash};

/// Longest name the scoreboard stores.
pub const NAME_LEN: usize = 16;

/// A name of at most 16 bytes, zero-padded.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Name {
    bytes: [u8; NAME_LEN],
    len: u8,
}

impl Name {
    /// Truncates to 16 bytes.
    pub fn new(b: &[u8]) -> Self {
        let len = b.len().min(NAME_LEN);
        let mut bytes = [0u8; NAME_LEN];
        bytes[..len].copy_from_slice(&b[..len]);
        Self {
            bytes,
            len: len as u8,
        }
    }
    /// The name's bytes (without padding).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl core::fmt::Debug for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// Capacity reached: the name was not registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableFull;

/// Name -> dense index, bounded.
#[derive(Debug, Clone)]
pub struct NameTable {
    names: Vec<Name>,
    index: U64Map,
    cap: usize,
}

impl NameTable {
    /// Up to `cap` names.
    pub fn new(cap: usize) -> Self {
        Self {
            names: Vec::with_capacity(cap),
            index: U64Map::with_capacity(cap),
            cap,
        }
    }
    /// Hash used for lookups (of the possibly-truncated name).
    #[inline]
    pub fn hash(b: &[u8]) -> u64 {
        id_hash(0x4e41_4d45, &b[..b.len().min(NAME_LEN)])
    }
    /// Index of a name, if registered.
    #[inline]
    pub fn get(&self, b: &[u8]) -> Option<u32> {
        self.index.get(Self::hash(b))
    }
    /// Index of a name, registering it if new. `Ok((idx, true))` when it was just registered.
    #[inline]
    pub fn intern(&mut self, b: &[u8]) -> Result<(u32, bool), TableFull> {
        let h = Self::hash(b);
        if let Some(i) = self.index.get(h) {
            return Ok((i, false));
        }
        if self.names.len() >= self.cap {
            return Err(TableFull);
        }
        let i = self.names.len() as u32;
        self.index.insert(h, i).map_err(|_| TableFull)?;
        self.names.push(Name::new(b));
        Ok((i, true))
    }
    /// The name at `idx`.
    pub fn name(&self, idx: u32) -> Option<&Name> {
        self.names.get(idx as usize)
    }
    /// Number of names.
    pub fn len(&self) -> usize {
        self.names.len()
    }
    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
    /// Capacity.
    pub fn capacity(&self) -> usize {
        self.cap
    }
}

/// Maps the raw LP identifiers found on messages (ExDestination, counterparty CompID, LastMkt) to
/// LP indices: first through the configured raw -> LP-name map, else the raw value is itself the
/// LP name (when `auto_register`).
#[derive(Debug, Clone)]
pub struct LpResolver {
    /// The registered LPs.
    pub lps: NameTable,
    alias: U64Map,
    auto_register: bool,
}

/// What resolving an LP gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LpResolution {
    /// Known LP.
    Known(u16),
    /// An LP registered just now (the engine tells the sink).
    New(u16),
    /// No identifier on the message, an unmapped one with auto-registration off, or the LP table
    /// is full.
    Unattributed,
}

impl LpResolver {
    /// `map`: raw value -> LP name; `preregistered` LP names get the first indices, in order.
    pub fn new(
        max_lps: usize,
        map: &[(String, String)],
        preregistered: &[String],
        auto_register: bool,
    ) -> Self {
        let mut lps = NameTable::new(max_lps);
        for n in preregistered {
            let _ = lps.intern(n.as_bytes());
        }
        let mut alias = U64Map::with_capacity(map.len().max(1));
        for (raw, name) in map {
            if let Ok((i, _)) = lps.intern(name.as_bytes()) {
                let _ = alias.insert(NameTable::hash(raw.as_bytes()), i);
            }
        }
        Self {
            lps,
            alias,
            auto_register,
        }
    }

    /// The first non-empty of `candidates` (in priority order) decides.
    #[inline]
    pub fn resolve(&mut self, candidates: [&[u8]; 3]) -> LpResolution {
        let Some(raw) = candidates.into_iter().find(|c| !c.is_empty()) else {
            return LpResolution::Unattributed;
        };
        self.resolve_raw(raw)
    }

    /// Resolves one raw identifier.
    #[inline]
    pub fn resolve_raw(&mut self, raw: &[u8]) -> LpResolution {
        if raw.is_empty() {
            return LpResolution::Unattributed;
        }
        // One hash for both lookups (an FNV pass is a serial chain of multiplies).
        let h = NameTable::hash(raw);
        if let Some(i) = self.alias.get(h) {
            return LpResolution::Known(i as u16);
        }
        if let Some(i) = self.lps.index.get(h) {
            return LpResolution::Known(i as u16);
        }
        if !self.auto_register {
            return LpResolution::Unattributed;
        }
        match self.lps.intern(raw) {
            Ok((i, _)) => LpResolution::New(i as u16),
            Err(TableFull) => LpResolution::Unattributed,
        }
    }
}

// ---- snapshots (lpscore::journal::snapshot).
use crate::journal::codec::{Dec, DecodeError, Enc};

impl NameTable {
    /// Writes the names in index order and the index.
    pub fn snap_write(&self, e: &mut Enc) {
        e.tag(b"NAME");
        e.usize(self.cap);
        e.usize(self.names.len());
        for n in &self.names {
            e.bytes(n.as_bytes());
        }
        self.index.snap_write(e);
    }

    /// Restores what [`NameTable::snap_write`] wrote into a table of the same capacity.
    pub fn snap_read(&mut self, d: &mut Dec<'_>) -> Result<(), DecodeError> {
        d.tag(b"NAME", "name table section missing")?;
        let cap = d.usize()?;
        d.check(
            cap == self.cap,
            "name table capacity differs from the configuration's",
        )?;
        let n = d.len(cap)?;
        self.names.clear();
        for _ in 0..n {
            let b = d.bytes(NAME_LEN)?;
            self.names.push(Name::new(b));
        }
        self.index.snap_read(d)
    }
}

impl LpResolver {
    /// Writes the LP names, the aliases and the auto-registration flag.
    pub fn snap_write(&self, e: &mut Enc) {
        e.tag(b"LPRS");
        self.lps.snap_write(e);
        self.alias.snap_write(e);
        e.bool(self.auto_register);
    }

    /// Restores what [`LpResolver::snap_write`] wrote.
    pub fn snap_read(&mut self, d: &mut Dec<'_>) -> Result<(), DecodeError> {
        d.tag(b"LPRS", "LP resolver section missing")?;
        self.lps.snap_read(d)?;
        self.alias.snap_read(d)?;
        self.auto_register = d.bool()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lp_priority_and_map() {
        let map = vec![("XNAS-GW1".to_string(), "LP_A".to_string())];
        let mut r = LpResolver::new(4, &map, &["LP_Z".to_string()], true);
        assert_eq!(r.lps.get(b"LP_Z"), Some(0));
        // ExDestination wins over the counterparty and LastMkt.
        assert_eq!(
            r.resolve([b"XNAS-GW1", b"CPTY", b"LM"]),
            LpResolution::Known(1)
        );
        // No ExDestination: the counterparty CompID, auto-registered.
        assert_eq!(r.resolve([b"", b"CPTY", b"LM"]), LpResolution::New(2));
        assert_eq!(r.resolve([b"", b"CPTY", b""]), LpResolution::Known(2));
        // Only LastMkt.
        assert_eq!(r.resolve([b"", b"", b"LM"]), LpResolution::New(3));
        // Full.
        assert_eq!(r.resolve([b"", b"", b"OTHER"]), LpResolution::Unattributed);
        assert_eq!(r.resolve([b"", b"", b""]), LpResolution::Unattributed);
        let mut strict = LpResolver::new(4, &map, &[], false);
        assert_eq!(
            strict.resolve([b"", b"CPTY", b""]),
            LpResolution::Unattributed
        );
        assert_eq!(
            strict.resolve([b"XNAS-GW1", b"", b""]),
            LpResolution::Known(0)
        );
    }

    /// What `resolve_raw` computed before it hashed once: the alias map by the raw value's
    /// hash, then the LP table's own lookup, then registration.
    fn resolve_reference(r: &mut LpResolver, raw: &[u8]) -> LpResolution {
        if raw.is_empty() {
            return LpResolution::Unattributed;
        }
        if let Some(i) = r.alias.get(NameTable::hash(raw)) {
            return LpResolution::Known(i as u16);
        }
        if let Some(i) = r.lps.get(raw) {
            return LpResolution::Known(i as u16);
        }
        if !r.auto_register {
            return LpResolution::Unattributed;
        }
        match r.lps.intern(raw) {
            Ok((i, _)) => LpResolution::New(i as u16),
            Err(TableFull) => LpResolution::Unattributed,
        }
    }

    proptest::proptest! {
        /// `resolve_raw` (one hash for the alias and LP lookups) resolves every identifier as
        /// the two-hash form does, on twin resolvers fed the same stream: aliases, names an
        /// alias maps to, preregistered and auto-registered names, names past 16 bytes (equal
        /// once truncated), the empty identifier, a full table, auto-registration off.
        #[test]
        fn one_hash_resolves_as_two(
            raws in proptest::collection::vec(0usize..12, 1..60),
            cap in 2usize..8,
            auto in proptest::prelude::any::<bool>(),
        ) {
            const POOL: [&str; 12] = [
                "XNAS-GW1", "XNYS-GW2", "LP_A", "LP_B", "LP_Z", "CPTY", "LM", "",
                "ABCDEFGHIJKLMNOPQ", "ABCDEFGHIJKLMNOPZ", "ABCDEFGHIJKLMNOP", "lp_a",
            ];
            let map = vec![
                ("XNAS-GW1".to_string(), "LP_A".to_string()),
                ("XNYS-GW2".to_string(), "LP_B".to_string()),
            ];
            let pre = ["LP_Z".to_string()];
            let mut fast = LpResolver::new(cap, &map, &pre, auto);
            let mut plain = LpResolver::new(cap, &map, &pre, auto);
            for k in raws {
                let raw = POOL[k].as_bytes();
                proptest::prop_assert_eq!(
                    fast.resolve_raw(raw),
                    resolve_reference(&mut plain, raw),
                    "{:?}",
                    POOL[k]
                );
            }
        }
    }

    #[test]
    fn names_truncate_to_16() {
        let mut t = NameTable::new(2);
        let (i, new) = t.intern(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ").unwrap();
        assert!(new);
        assert_eq!(t.name(i).unwrap().as_bytes(), b"ABCDEFGHIJKLMNOP");
        assert_eq!(t.intern(b"ABCDEFGHIJKLMNOP").unwrap(), (i, false));
    }
}
