//! Typed access to a mapped scoreboard (shared by the writer and the reader), and the header check.

use crate::error::OpenError;
use crate::layout::{
    Geometry, HEADER_LEN, Header, LAYOUT_HASH, LpEntry, MAGIC, PROFILE_ENTRY_LEN, ProfileEntry,
    ROW_DATA_WORDS, ROW_STRIDE, Row, SYM_ENTRY_LEN, SymEntry, VERSION_MAJOR, hw,
};
use crate::map::Map;
use crate::seqlock::SeqLock;
use std::sync::atomic::AtomicU64;

static ZERO_HEADER: Header = Header {
    words: [const { AtomicU64::new(0) }; 64],
};

/// A mapping plus its validated geometry.
pub(crate) struct Board {
    pub(crate) map: Map,
    pub(crate) geo: Geometry,
}

impl Board {
    /// `map` must be at least `geo.file_len` bytes (checked by the callers; accessors return `None`
    /// rather than panic if not).
    pub(crate) fn new(map: Map, geo: Geometry) -> Self {
        Board { map, geo }
    }

    #[inline]
    pub(crate) fn header(&self) -> &Header {
        // The map is always >= 512 bytes; the zero header is only a no-panic fallback.
        self.map.get::<Header>(0).unwrap_or(&ZERO_HEADER)
    }

    /// Header word `i` (an [`hw`] constant).
    #[inline]
    pub(crate) fn hw(&self, i: usize) -> &AtomicU64 {
        let h = self.header();
        h.words.get(i).unwrap_or(&ZERO_HEADER.words[0])
    }

    #[inline]
    pub(crate) fn lp_entry(&self, l: u64) -> Option<&LpEntry> {
        if l >= self.geo.max_lps {
            return None;
        }
        let off = self.geo.lp_dir_off + l * crate::layout::LP_ENTRY_LEN as u64;
        self.map.get(usize::try_from(off).ok()?)
    }

    #[inline]
    pub(crate) fn sym_entry(&self, i: u64) -> Option<&SymEntry> {
        if i >= self.geo.sym_table_cap {
            return None;
        }
        let off = self.geo.sym_dir_off + i * SYM_ENTRY_LEN as u64;
        self.map.get(usize::try_from(off).ok()?)
    }

    #[inline]
    pub(crate) fn profile(&self, p: u64) -> Option<&ProfileEntry> {
        if p >= self.geo.max_profiles {
            return None;
        }
        let off = self.geo.profile_dir_off + p * PROFILE_ENTRY_LEN as u64;
        self.map.get(usize::try_from(off).ok()?)
    }

    #[inline]
    pub(crate) fn rows(&self, first: u64, n: u64) -> Option<&[Row]> {
        if first.checked_add(n)? > self.geo.n_rows {
            return None;
        }
        let off = self.geo.rows_off + first * ROW_STRIDE as u64;
        self.map
            .slice(usize::try_from(off).ok()?, usize::try_from(n).ok()?)
    }

    #[inline]
    pub(crate) fn row(&self, idx: u64) -> Option<&Row> {
        self.rows(idx, 1).map(|r| &r[0])
    }
}

/// A consistent copy of row `r`'s data words. The row's second line is requested before the
/// `seq` load: after a publication both lines have moved to the writer's core, and the reader
/// then waits for the two transfers together instead of one after the other.
#[inline]
pub(crate) fn read_row(r: &Row) -> Result<[u64; ROW_DATA_WORDS], crate::ReadError> {
    crate::map::prefetch((r as *const Row).cast::<u8>().wrapping_add(64), 64);
    row_lock(r).read()
}

#[inline]
pub(crate) fn row_lock(r: &Row) -> SeqLock<'_, ROW_DATA_WORDS> {
    SeqLock::new(&r.seq, &r.data)
}

#[inline]
pub(crate) fn profile_lock(p: &ProfileEntry) -> SeqLock<'_, ROW_DATA_WORDS> {
    SeqLock::new(&p.seq, &p.data)
}

/// Decodes the 512 header bytes into words (little-endian).
pub(crate) fn header_words(bytes: &[u8; HEADER_LEN]) -> [u64; 64] {
    let mut w = [0u64; 64];
    for (i, c) in bytes.chunks_exact(8).enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        w[i] = u64::from_le_bytes(b);
    }
    w
}

/// Checks identity, version, hash, capacities, offsets and length against the layout formulas.
pub(crate) fn check_header(w: &[u64; 64], actual_len: u64) -> Result<Geometry, OpenError> {
    if w[hw::MAGIC] != MAGIC {
        return Err(OpenError::BadMagic {
            found: w[hw::MAGIC],
        });
    }
    let major = w[hw::VERSION] as u32;
    let minor = (w[hw::VERSION] >> 32) as u32;
    if major != VERSION_MAJOR {
        return Err(OpenError::UnsupportedVersion { major, minor });
    }
    if w[hw::LAYOUT_HASH] != LAYOUT_HASH {
        return Err(OpenError::LayoutHash {
            found: w[hw::LAYOUT_HASH],
        });
    }
    if w[hw::HEADER_LEN] != HEADER_LEN as u64 {
        return Err(OpenError::Inconsistent("header_len"));
    }
    if w[hw::ROW_STRIDE] != ROW_STRIDE as u64 {
        return Err(OpenError::Inconsistent("row_stride"));
    }
    let geo = Geometry::checked(
        w[hw::MAX_LPS],
        w[hw::MAX_SYMBOLS],
        w[hw::N_BUCKETS],
        w[hw::MAX_PROFILES],
    )
    .map_err(OpenError::Inconsistent)?;
    let checks = [
        (hw::SYM_TABLE_CAP, geo.sym_table_cap, "sym_table_cap"),
        (hw::LP_DIR_OFF, geo.lp_dir_off, "lp_dir_off"),
        (hw::SYM_DIR_OFF, geo.sym_dir_off, "sym_dir_off"),
        (hw::PROFILE_DIR_OFF, geo.profile_dir_off, "profile_dir_off"),
        (hw::ROWS_OFF, geo.rows_off, "rows_off"),
        (hw::N_ROWS, geo.n_rows, "n_rows"),
        (hw::FILE_LEN, geo.file_len, "file_len"),
    ];
    for (i, want, name) in checks {
        if w[i] != want {
            return Err(OpenError::Inconsistent(name));
        }
    }
    if usize::try_from(geo.file_len).is_err() {
        return Err(OpenError::Inconsistent(
            "file_len exceeds the address space",
        ));
    }
    if actual_len < geo.file_len {
        return Err(OpenError::Truncated {
            file_len: geo.file_len,
            actual: actual_len,
        });
    }
    Ok(geo)
}
