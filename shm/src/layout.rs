//! The binary layout of the scoreboard file, layout 1.0 (see `shm/LAYOUT.md`, the contract shared
//! with the C and Python readers).
//!
//! ```text
//! +------------------------------+ 0
//! | header          4 x 128 B    |   block 0 identity, block 1 writer state,
//! |                              |   block 2 heartbeat (alone), block 3 buckets
//! +------------------------------+ lp_dir_off      = 512
//! | LP directory    max_lps x 32 B, rounded up to 128
//! +------------------------------+ sym_dir_off
//! | symbol table    sym_table_cap x 32 B (open addressing)
//! +------------------------------+ profile_dir_off
//! | profiles        max_profiles x 128 B (each a seqlock)
//! +------------------------------+ rows_off
//! | rows            n_rows x 128 B (each a seqlock)
//! +------------------------------+ file_len = rows_off + n_rows * 128
//!
//! Row (128 B = 16 words; pair words: first field bits 0..31, second bits 32..63)
//! +--------+-------------------------+------------------------+
//! | word 0 | seq (even stable, odd being written)             |
//! | word 1 | publish_ns                                       |
//! | word 2 | eff_orders f32          | eff_fills f32          |
//! | word 3 | fill_rate f32           | reject_rate f32        |
//! | word 4 | pi_bps f32              | es_bps f32             |
//! | word 5 | impact_bps f32          | markout_bps f32        |
//! | word 6 | ack_p50_ns u32          | ack_p99_ns u32         |
//! | word 7 | fill_p50_ns u32         | flags u32              |
//! | 8..11  | score[0..8] f32, two per word                    |
//! | word12 | pi_rate f32             | eq_ratio f32           |
//! | word13 | cancel_reject_rate f32  | realized_spread_bps f32|
//! | word14 | n_orders u32            | n_fills u32            |
//! | word15 | n_price_skipped u32     | reserved               |
//! +--------+-------------------------+------------------------+
//! ```
//!
//! Every word is accessed as one aligned 64-bit atomic. The types here that live in the file are
//! `#[repr(C)]` arrays of [`AtomicU64`] and are marked [`ShmSafe`].
//!
//! ```
//! use lpscore_shm::layout;
//! assert_eq!(layout::LAYOUT_HASH, layout::fnv1a64(layout::DESCRIPTOR.as_bytes()));
//! assert_eq!(layout::ROW_STRIDE, 128);
//! ```

#[cfg(not(loom))]
use core::mem::{align_of, offset_of, size_of};
#[cfg(not(loom))]
use std::sync::atomic::AtomicU64;

/// `LPSCORE\0` read as a little-endian `u64`.
///
/// ```
/// assert_eq!(&lpscore_shm::layout::MAGIC.to_le_bytes(), b"LPSCORE\0");
/// ```
pub const MAGIC: u64 = 0x0045_524F_4353_504C;
/// Layout major version: readers refuse any other major.
///
/// ```
/// assert_eq!(lpscore_shm::layout::VERSION_MAJOR, 1);
/// ```
pub const VERSION_MAJOR: u32 = 1;
/// Layout minor version.
///
/// ```
/// assert_eq!(lpscore_shm::layout::VERSION_MINOR, 0);
/// ```
pub const VERSION_MINOR: u32 = 0;
/// The `version` header word: major in bits 0..31, minor in bits 32..63.
///
/// ```
/// assert_eq!(lpscore_shm::layout::VERSION_WORD, 1);
/// ```
pub const VERSION_WORD: u64 = (VERSION_MAJOR as u64) | ((VERSION_MINOR as u64) << 32);

/// Header length in bytes (four 128-byte blocks).
///
/// ```
/// assert_eq!(lpscore_shm::layout::HEADER_LEN, 512);
/// ```
pub const HEADER_LEN: usize = 512;
/// Bytes per row (and per profile entry, and per header block).
///
/// ```
/// assert_eq!(lpscore_shm::layout::ROW_STRIDE, 128);
/// ```
pub const ROW_STRIDE: usize = 128;
/// Words per row, `seq` included.
///
/// ```
/// assert_eq!(lpscore_shm::layout::ROW_WORDS, 16);
/// ```
pub const ROW_WORDS: usize = 16;
/// Data words per row (`seq` excluded): the unit of [`crate::seqlock`] reads and writes.
///
/// ```
/// assert_eq!(lpscore_shm::layout::ROW_DATA_WORDS, 15);
/// ```
pub const ROW_DATA_WORDS: usize = 15;
/// Bytes per LP directory entry.
///
/// ```
/// assert_eq!(lpscore_shm::layout::LP_ENTRY_LEN, 32);
/// ```
pub const LP_ENTRY_LEN: usize = 32;
/// Bytes per symbol table entry.
///
/// ```
/// assert_eq!(lpscore_shm::layout::SYM_ENTRY_LEN, 32);
/// ```
pub const SYM_ENTRY_LEN: usize = 32;
/// Bytes per profile entry.
///
/// ```
/// assert_eq!(lpscore_shm::layout::PROFILE_ENTRY_LEN, 128);
/// ```
pub const PROFILE_ENTRY_LEN: usize = 128;
/// Maximum name length in bytes (LP ids, symbols, profile names).
///
/// ```
/// assert_eq!(lpscore_shm::layout::NAME_MAX, 16);
/// ```
pub const NAME_MAX: usize = 16;
/// Offset of the LP directory (always right after the header).
///
/// ```
/// assert_eq!(lpscore_shm::layout::LP_DIR_OFF, 512);
/// ```
pub const LP_DIR_OFF: usize = HEADER_LEN;

/// Capacity limit: at most this many LPs.
///
/// ```
/// assert_eq!(lpscore_shm::layout::MAX_LPS_LIMIT, 256);
/// ```
pub const MAX_LPS_LIMIT: u64 = 256;
/// Capacity limit: at most this many symbols.
///
/// ```
/// assert_eq!(lpscore_shm::layout::MAX_SYMBOLS_LIMIT, 1 << 20);
/// ```
pub const MAX_SYMBOLS_LIMIT: u64 = 1 << 20;
/// Capacity limit: at most this many size buckets (the all-sizes slot not counted).
///
/// ```
/// assert_eq!(lpscore_shm::layout::MAX_BUCKETS_LIMIT, 8);
/// ```
pub const MAX_BUCKETS_LIMIT: u64 = 8;
/// Capacity limit: at most this many scoring profiles (= score slots per row).
///
/// ```
/// assert_eq!(lpscore_shm::layout::MAX_PROFILES_LIMIT, 8);
/// ```
pub const MAX_PROFILES_LIMIT: u64 = 8;

/// Header word indices (word = byte offset / 8).
///
/// ```
/// use lpscore_shm::layout::hw;
/// assert_eq!(hw::HEARTBEAT_NS * 8, 256);
/// ```
pub mod hw {
    /// `magic` at byte 0.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::MAGIC * 8, 0);
    /// ```
    pub const MAGIC: usize = 0;
    /// `version` at byte 8.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::VERSION * 8, 8);
    /// ```
    pub const VERSION: usize = 1;
    /// `layout_hash` at byte 16.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::LAYOUT_HASH * 8, 16);
    /// ```
    pub const LAYOUT_HASH: usize = 2;
    /// `file_len` at byte 24.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::FILE_LEN * 8, 24);
    /// ```
    pub const FILE_LEN: usize = 3;
    /// `header_len` at byte 32.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::HEADER_LEN * 8, 32);
    /// ```
    pub const HEADER_LEN: usize = 4;
    /// `row_stride` at byte 40.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::ROW_STRIDE * 8, 40);
    /// ```
    pub const ROW_STRIDE: usize = 5;
    /// `max_lps` at byte 48.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::MAX_LPS * 8, 48);
    /// ```
    pub const MAX_LPS: usize = 6;
    /// `max_symbols` at byte 56.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::MAX_SYMBOLS * 8, 56);
    /// ```
    pub const MAX_SYMBOLS: usize = 7;
    /// `n_buckets` at byte 64.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::N_BUCKETS * 8, 64);
    /// ```
    pub const N_BUCKETS: usize = 8;
    /// `max_profiles` at byte 72.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::MAX_PROFILES * 8, 72);
    /// ```
    pub const MAX_PROFILES: usize = 9;
    /// `sym_table_cap` at byte 80.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::SYM_TABLE_CAP * 8, 80);
    /// ```
    pub const SYM_TABLE_CAP: usize = 10;
    /// `lp_dir_off` at byte 88.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::LP_DIR_OFF * 8, 88);
    /// ```
    pub const LP_DIR_OFF: usize = 11;
    /// `sym_dir_off` at byte 96.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::SYM_DIR_OFF * 8, 96);
    /// ```
    pub const SYM_DIR_OFF: usize = 12;
    /// `profile_dir_off` at byte 104.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::PROFILE_DIR_OFF * 8, 104);
    /// ```
    pub const PROFILE_DIR_OFF: usize = 13;
    /// `rows_off` at byte 112.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::ROWS_OFF * 8, 112);
    /// ```
    pub const ROWS_OFF: usize = 14;
    /// `n_rows` at byte 120.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::N_ROWS * 8, 120);
    /// ```
    pub const N_ROWS: usize = 15;
    /// `writer_pid` at byte 128.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::WRITER_PID * 8, 128);
    /// ```
    pub const WRITER_PID: usize = 16;
    /// `epoch` at byte 136.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::EPOCH * 8, 136);
    /// ```
    pub const EPOCH: usize = 17;
    /// `state` at byte 144.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::STATE * 8, 144);
    /// ```
    pub const STATE: usize = 18;
    /// `start_wall_ns` at byte 152.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::START_WALL_NS * 8, 152);
    /// ```
    pub const START_WALL_NS: usize = 19;
    /// `n_lps` at byte 160.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::N_LPS * 8, 160);
    /// ```
    pub const N_LPS: usize = 20;
    /// `n_symbols` at byte 168.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::N_SYMBOLS * 8, 168);
    /// ```
    pub const N_SYMBOLS: usize = 21;
    /// `n_profiles` at byte 176.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::N_PROFILES * 8, 176);
    /// ```
    pub const N_PROFILES: usize = 22;
    /// `publish_count` at byte 184.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::PUBLISH_COUNT * 8, 184);
    /// ```
    pub const PUBLISH_COUNT: usize = 23;
    /// `heartbeat_ns` at byte 256, alone on its 128 bytes.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::HEARTBEAT_NS * 8, 256);
    /// ```
    pub const HEARTBEAT_NS: usize = 32;
    /// `bucket_unit` at byte 384.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::BUCKET_UNIT * 8, 384);
    /// ```
    pub const BUCKET_UNIT: usize = 48;
    /// `bucket_upper[0]` at byte 392 (eight words).
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::BUCKET_UPPER * 8, 392);
    /// ```
    pub const BUCKET_UPPER: usize = 49;
    /// `score_horizon_ns` at byte 456.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::hw::SCORE_HORIZON_NS * 8, 456);
    /// ```
    pub const SCORE_HORIZON_NS: usize = 57;
}

/// Values of the `state` header word.
///
/// ```
/// use lpscore_shm::layout::state;
/// assert_eq!((state::INIT, state::READY, state::STOPPED, state::RETIRED), (0, 1, 2, 3));
/// ```
pub mod state {
    /// Being (re)built by the writer: do not read.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::state::INIT, 0);
    /// ```
    pub const INIT: u64 = 0;
    /// Valid; the writer is (or was) running.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::state::READY, 1);
    /// ```
    pub const READY: u64 = 1;
    /// Clean shutdown of the writer.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::state::STOPPED, 2);
    /// ```
    pub const STOPPED: u64 = 2;
    /// Replaced by a new file: reopen the path.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::layout::state::RETIRED, 3);
    /// ```
    pub const RETIRED: u64 = 3;
}

/// LP directory `flags` bit 0: the entry is in use.
///
/// ```
/// assert_eq!(lpscore_shm::layout::LP_FLAG_IN_USE, 1);
/// ```
pub const LP_FLAG_IN_USE: u64 = 1;
/// LP directory `flags` bit 1: scoring paused.
///
/// ```
/// assert_eq!(lpscore_shm::layout::LP_FLAG_PAUSED, 2);
/// ```
pub const LP_FLAG_PAUSED: u64 = 2;
/// Profile flag: active.
///
/// ```
/// assert_eq!(lpscore_shm::layout::PROFILE_FLAG_ACTIVE, 1);
/// ```
pub const PROFILE_FLAG_ACTIVE: u64 = 1;

/// The symbol table capacity for `max_symbols`: the next power of two >= max(16, 2 * max_symbols).
///
/// ```
/// assert_eq!(lpscore_shm::layout::sym_table_cap(1), 16);
/// assert_eq!(lpscore_shm::layout::sym_table_cap(9), 32);
/// ```
pub const fn sym_table_cap(max_symbols: u64) -> u64 {
    let want = if 2 * max_symbols > 16 {
        2 * max_symbols
    } else {
        16
    };
    want.next_power_of_two()
}

/// Rounds `n` up to a multiple of 128.
///
/// ```
/// assert_eq!(lpscore_shm::layout::round128(32), 128);
/// assert_eq!(lpscore_shm::layout::round128(256), 256);
/// ```
pub const fn round128(n: u64) -> u64 {
    n.div_ceil(128) * 128
}

/// Section offsets and sizes derived from the capacities (the formulas of `LAYOUT.md`).
///
/// ```
/// let g = lpscore_shm::layout::Geometry::new(16, 100, 4, 4);
/// assert_eq!(g.lp_dir_off, 512);
/// assert_eq!(g.n_rows, 101 * 5 * 16);
/// assert_eq!(g.file_len, g.rows_off + g.n_rows * 128);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Capacity: LPs.
    pub max_lps: u64,
    /// Capacity: symbols.
    pub max_symbols: u64,
    /// Size buckets (without the all-sizes slot).
    pub n_buckets: u64,
    /// Capacity: profiles.
    pub max_profiles: u64,
    /// Symbol table entries (a power of two).
    pub sym_table_cap: u64,
    /// Byte offset of the LP directory.
    pub lp_dir_off: u64,
    /// Byte offset of the symbol table.
    pub sym_dir_off: u64,
    /// Byte offset of the profiles.
    pub profile_dir_off: u64,
    /// Byte offset of the rows.
    pub rows_off: u64,
    /// Number of rows.
    pub n_rows: u64,
    /// Total file length in bytes.
    pub file_len: u64,
}

impl Geometry {
    /// Computes the geometry. The capacities must be within the limits
    /// (see [`Geometry::checked`]); this function does not check them.
    ///
    /// ```
    /// let g = lpscore_shm::layout::Geometry::new(1, 1, 1, 1);
    /// assert_eq!(g.sym_dir_off, 640);
    /// ```
    pub const fn new(max_lps: u64, max_symbols: u64, n_buckets: u64, max_profiles: u64) -> Self {
        let cap = sym_table_cap(max_symbols);
        let lp_dir_off = LP_DIR_OFF as u64;
        let sym_dir_off = lp_dir_off + round128(max_lps * LP_ENTRY_LEN as u64);
        let profile_dir_off = sym_dir_off + cap * SYM_ENTRY_LEN as u64;
        let rows_off = profile_dir_off + max_profiles * PROFILE_ENTRY_LEN as u64;
        let n_rows = (max_symbols + 1) * (n_buckets + 1) * max_lps;
        Geometry {
            max_lps,
            max_symbols,
            n_buckets,
            max_profiles,
            sym_table_cap: cap,
            lp_dir_off,
            sym_dir_off,
            profile_dir_off,
            rows_off,
            n_rows,
            file_len: rows_off + n_rows * ROW_STRIDE as u64,
        }
    }

    /// The geometry if every capacity is within its limit, else the name of the first bad one.
    ///
    /// ```
    /// use lpscore_shm::layout::Geometry;
    /// assert!(Geometry::checked(16, 10, 4, 4).is_ok());
    /// assert_eq!(Geometry::checked(0, 10, 4, 4), Err("max_lps"));
    /// ```
    pub const fn checked(
        max_lps: u64,
        max_symbols: u64,
        n_buckets: u64,
        max_profiles: u64,
    ) -> Result<Self, &'static str> {
        if max_lps < 1 || max_lps > MAX_LPS_LIMIT {
            return Err("max_lps");
        }
        if max_symbols < 1 || max_symbols > MAX_SYMBOLS_LIMIT {
            return Err("max_symbols");
        }
        if n_buckets < 1 || n_buckets > MAX_BUCKETS_LIMIT {
            return Err("n_buckets");
        }
        if max_profiles < 1 || max_profiles > MAX_PROFILES_LIMIT {
            return Err("max_profiles");
        }
        Ok(Self::new(max_lps, max_symbols, n_buckets, max_profiles))
    }

    /// Row index of (symbol slot, bucket slot, LP); slots `max_symbols` / `n_buckets` are "all".
    /// `None` when any index is out of range.
    ///
    /// ```
    /// let g = lpscore_shm::layout::Geometry::new(4, 10, 2, 1);
    /// assert_eq!(g.row_index(0, 0, 3), Some(3));
    /// assert_eq!(g.row_index(10, 2, 0), Some((10 * 3 + 2) * 4));
    /// assert_eq!(g.row_index(11, 0, 0), None);
    /// ```
    #[inline]
    pub const fn row_index(&self, sym_slot: u64, bucket_slot: u64, lp: u64) -> Option<u64> {
        if sym_slot > self.max_symbols || bucket_slot > self.n_buckets || lp >= self.max_lps {
            return None;
        }
        Some((sym_slot * (self.n_buckets + 1) + bucket_slot) * self.max_lps + lp)
    }
}

/// FNV-1a, 64 bits: offset basis `0xcbf29ce484222325`, prime `0x100000001b3`, xor then multiply.
///
/// ```
/// assert_eq!(lpscore_shm::layout::fnv1a64(b""), 0xcbf29ce484222325);
/// assert_eq!(lpscore_shm::layout::fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
/// ```
pub const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

/// The layout descriptor string of `LAYOUT.md` (one line, no spaces).
///
/// ```
/// let d = lpscore_shm::layout::DESCRIPTOR;
/// assert!(d.starts_with("lpscore-layout-1;header.magic@0+8;"));
/// assert!(d.ends_with(";row@0+128"));
/// assert!(!d.contains(' ') && !d.contains('\n'));
/// ```
pub const DESCRIPTOR: &str = concat!(
    "lpscore-layout-1;",
    "header.magic@0+8;header.version@8+8;header.layout_hash@16+8;header.file_len@24+8;",
    "header.header_len@32+8;header.row_stride@40+8;header.max_lps@48+8;header.max_symbols@56+8;",
    "header.n_buckets@64+8;header.max_profiles@72+8;header.sym_table_cap@80+8;header.lp_dir_off@88+8;",
    "header.sym_dir_off@96+8;header.profile_dir_off@104+8;header.rows_off@112+8;header.n_rows@120+8;",
    "header.writer_pid@128+8;header.epoch@136+8;header.state@144+8;header.start_wall_ns@152+8;",
    "header.n_lps@160+8;header.n_symbols@168+8;header.n_profiles@176+8;header.publish_count@184+8;",
    "header.heartbeat_ns@256+8;header.bucket_unit@384+8;header.bucket_upper@392+64;",
    "header.score_horizon_ns@456+8;header@0+512;",
    "lp.name@0+16;lp.flags@16+8;lp@0+32;",
    "sym.tag@0+8;sym.name@8+16;sym.hash@24+8;sym@0+32;",
    "profile.seq@0+8;profile.name@8+16;profile.flags@24+8;profile.weights@32+64;profile@0+128;",
    "row.seq@0+8;row.publish_ns@8+8;row.eff_orders@16+4;row.eff_fills@20+4;row.fill_rate@24+4;",
    "row.reject_rate@28+4;row.pi_bps@32+4;row.es_bps@36+4;row.impact_bps@40+4;row.markout_bps@44+4;",
    "row.ack_p50_ns@48+4;row.ack_p99_ns@52+4;row.fill_p50_ns@56+4;row.flags@60+4;row.score@64+32;",
    "row.pi_rate@96+4;row.eq_ratio@100+4;row.cancel_reject_rate@104+4;row.realized_spread_bps@108+4;",
    "row.n_orders@112+4;row.n_fills@116+4;row.n_price_skipped@120+4;row@0+128"
);

/// `fnv1a64(DESCRIPTOR)`, computed at compile time; stored in the header and checked by readers.
///
/// ```
/// assert_eq!(lpscore_shm::layout::LAYOUT_HASH, lpscore_shm::layout::fnv1a64(lpscore_shm::layout::DESCRIPTOR.as_bytes()));
/// ```
pub const LAYOUT_HASH: u64 = fnv1a64(DESCRIPTOR.as_bytes());

/// Packs a name (1..=16 bytes, no NUL) into `(name_lo, name_hi)`; `None` if it is not a valid name.
///
/// ```
/// let (lo, hi) = lpscore_shm::layout::pack_name("EURUSD").unwrap();
/// assert_eq!(lo, u64::from_le_bytes(*b"EURUSD\0\0"));
/// assert_eq!(hi, 0);
/// assert!(lpscore_shm::layout::pack_name("").is_none());
/// ```
#[inline]
pub fn pack_name(name: &str) -> Option<(u64, u64)> {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > NAME_MAX || b.contains(&0) {
        return None;
    }
    let mut buf = [0u8; NAME_MAX];
    buf[..b.len()].copy_from_slice(b);
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&buf[..8]);
    hi.copy_from_slice(&buf[8..]);
    Some((u64::from_le_bytes(lo), u64::from_le_bytes(hi)))
}

/// Marker for types that may live in the shared file (iceoryx2 `ZeroCopySend` style).
///
/// # Safety
/// The implementing type must be `#[repr(C)]`, contain only [`AtomicU64`] words (no pointers, no
/// handles, no padding), be valid for every bit pattern, and its size and alignment must match the
/// layout (checked at compile time below).
///
/// ```
/// fn needs_shm<T: lpscore_shm::layout::ShmSafe>() {}
/// needs_shm::<lpscore_shm::layout::Row>();
/// ```
#[cfg(not(loom))]
pub unsafe trait ShmSafe: Sync {}

/// The 512-byte header: 64 words (four 128-byte blocks); index it with [`hw`].
///
/// ```
/// assert_eq!(core::mem::size_of::<lpscore_shm::layout::Header>(), 512);
/// ```
#[cfg(not(loom))]
#[repr(C, align(128))]
pub struct Header {
    /// Words 0..64.
    pub words: [AtomicU64; 64],
}

/// One LP directory entry (32 bytes).
///
/// ```
/// assert_eq!(core::mem::size_of::<lpscore_shm::layout::LpEntry>(), 32);
/// ```
#[cfg(not(loom))]
#[repr(C)]
pub struct LpEntry {
    /// Name bytes 0..8.
    pub name_lo: AtomicU64,
    /// Name bytes 8..16.
    pub name_hi: AtomicU64,
    /// Bit 0 in use, bit 1 scoring paused.
    pub flags: AtomicU64,
    /// Reserved, 0.
    pub reserved: AtomicU64,
}

/// One symbol table entry (32 bytes).
///
/// ```
/// assert_eq!(core::mem::size_of::<lpscore_shm::layout::SymEntry>(), 32);
/// ```
#[cfg(not(loom))]
#[repr(C)]
pub struct SymEntry {
    /// 0 = empty, else symbol slot + 1; stored last, with Release.
    pub tag: AtomicU64,
    /// Name bytes 0..8.
    pub name_lo: AtomicU64,
    /// Name bytes 8..16.
    pub name_hi: AtomicU64,
    /// `fnv1a64(name)`.
    pub hash: AtomicU64,
}

/// One profile entry (128 bytes), a seqlock over words 1..16.
///
/// ```
/// assert_eq!(core::mem::align_of::<lpscore_shm::layout::ProfileEntry>(), 128);
/// ```
#[cfg(not(loom))]
#[repr(C, align(128))]
pub struct ProfileEntry {
    /// Sequence word (even = stable).
    pub seq: AtomicU64,
    /// name_lo, name_hi, flags, weight[0..8], reserved x 4.
    pub data: [AtomicU64; ROW_DATA_WORDS],
}

/// One row (128 bytes), a seqlock over words 1..16.
///
/// ```
/// assert_eq!(core::mem::size_of::<lpscore_shm::layout::Row>(), 128);
/// ```
#[cfg(not(loom))]
#[repr(C, align(128))]
pub struct Row {
    /// Sequence word (even = stable).
    pub seq: AtomicU64,
    /// Words 1..16 (see the diagram).
    pub data: [AtomicU64; ROW_DATA_WORDS],
}

// SAFETY: repr(C), 64 AtomicU64 words, no padding (size asserted below), valid for any bits.
#[cfg(not(loom))]
unsafe impl ShmSafe for Header {}
// SAFETY: repr(C), four AtomicU64 words, valid for any bits.
#[cfg(not(loom))]
unsafe impl ShmSafe for LpEntry {}
// SAFETY: repr(C), four AtomicU64 words, valid for any bits.
#[cfg(not(loom))]
unsafe impl ShmSafe for SymEntry {}
// SAFETY: repr(C), sixteen AtomicU64 words (128 bytes, align 128, no padding), valid for any bits.
#[cfg(not(loom))]
unsafe impl ShmSafe for ProfileEntry {}
// SAFETY: repr(C), sixteen AtomicU64 words (128 bytes, align 128, no padding), valid for any bits.
#[cfg(not(loom))]
unsafe impl ShmSafe for Row {}
// SAFETY: a single AtomicU64 is repr(C)-compatible with u64 and valid for any bits.
#[cfg(not(loom))]
unsafe impl ShmSafe for AtomicU64 {}

#[cfg(not(loom))]
const _: () = {
    assert!(size_of::<AtomicU64>() == 8 && align_of::<AtomicU64>() == 8);
    assert!(size_of::<Header>() == HEADER_LEN && align_of::<Header>() == 128);
    assert!(size_of::<LpEntry>() == LP_ENTRY_LEN);
    assert!(offset_of!(LpEntry, flags) == 16);
    assert!(size_of::<SymEntry>() == SYM_ENTRY_LEN);
    assert!(offset_of!(SymEntry, name_lo) == 8 && offset_of!(SymEntry, hash) == 24);
    assert!(size_of::<ProfileEntry>() == PROFILE_ENTRY_LEN && align_of::<ProfileEntry>() == 128);
    assert!(offset_of!(ProfileEntry, data) == 8);
    assert!(size_of::<Row>() == ROW_STRIDE && align_of::<Row>() == 128);
    assert!(offset_of!(Row, data) == 8);
};

const _: () = {
    // Header word indices agree with the byte offsets of LAYOUT.md.
    assert!(hw::MAGIC * 8 == 0 && hw::LAYOUT_HASH * 8 == 16 && hw::N_ROWS * 8 == 120);
    assert!(hw::WRITER_PID * 8 == 128 && hw::STATE * 8 == 144 && hw::PUBLISH_COUNT * 8 == 184);
    assert!(hw::HEARTBEAT_NS * 8 == 256 && hw::BUCKET_UNIT * 8 == 384);
    assert!(hw::BUCKET_UPPER * 8 == 392 && hw::SCORE_HORIZON_NS * 8 == 456);
    assert!(HEADER_LEN % 128 == 0 && LP_DIR_OFF == 512);
    assert!(ROW_WORDS * 8 == ROW_STRIDE && ROW_DATA_WORDS + 1 == ROW_WORDS);
    // Sections stay 128-aligned at the extremes.
    let g = Geometry::new(1, 1, 1, 1);
    assert!(g.sym_dir_off % 128 == 0 && g.profile_dir_off % 128 == 0 && g.rows_off % 128 == 0);
    let g = Geometry::new(256, 1 << 20, 8, 8);
    assert!(g.sym_dir_off % 128 == 0 && g.profile_dir_off % 128 == 0 && g.rows_off % 128 == 0);
    assert!(LAYOUT_HASH == fnv1a64(DESCRIPTOR.as_bytes()));
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `name@off+len` of the descriptor matches the constants and struct offsets.
    #[test]
    fn descriptor_matches_constants() {
        let mut seen = 0;
        for item in DESCRIPTOR.split(';').skip(1) {
            let (name, rest) = item.split_once('@').unwrap();
            let (off, len) = rest.split_once('+').unwrap();
            let off: usize = off.parse().unwrap();
            let len: usize = len.parse().unwrap();
            let expect = match name {
                "header.magic" => (hw::MAGIC * 8, 8),
                "header.version" => (hw::VERSION * 8, 8),
                "header.layout_hash" => (hw::LAYOUT_HASH * 8, 8),
                "header.file_len" => (hw::FILE_LEN * 8, 8),
                "header.header_len" => (hw::HEADER_LEN * 8, 8),
                "header.row_stride" => (hw::ROW_STRIDE * 8, 8),
                "header.max_lps" => (hw::MAX_LPS * 8, 8),
                "header.max_symbols" => (hw::MAX_SYMBOLS * 8, 8),
                "header.n_buckets" => (hw::N_BUCKETS * 8, 8),
                "header.max_profiles" => (hw::MAX_PROFILES * 8, 8),
                "header.sym_table_cap" => (hw::SYM_TABLE_CAP * 8, 8),
                "header.lp_dir_off" => (hw::LP_DIR_OFF * 8, 8),
                "header.sym_dir_off" => (hw::SYM_DIR_OFF * 8, 8),
                "header.profile_dir_off" => (hw::PROFILE_DIR_OFF * 8, 8),
                "header.rows_off" => (hw::ROWS_OFF * 8, 8),
                "header.n_rows" => (hw::N_ROWS * 8, 8),
                "header.writer_pid" => (hw::WRITER_PID * 8, 8),
                "header.epoch" => (hw::EPOCH * 8, 8),
                "header.state" => (hw::STATE * 8, 8),
                "header.start_wall_ns" => (hw::START_WALL_NS * 8, 8),
                "header.n_lps" => (hw::N_LPS * 8, 8),
                "header.n_symbols" => (hw::N_SYMBOLS * 8, 8),
                "header.n_profiles" => (hw::N_PROFILES * 8, 8),
                "header.publish_count" => (hw::PUBLISH_COUNT * 8, 8),
                "header.heartbeat_ns" => (hw::HEARTBEAT_NS * 8, 8),
                "header.bucket_unit" => (hw::BUCKET_UNIT * 8, 8),
                "header.bucket_upper" => (hw::BUCKET_UPPER * 8, 64),
                "header.score_horizon_ns" => (hw::SCORE_HORIZON_NS * 8, 8),
                "header" => (0, size_of::<Header>()),
                "lp.name" => (offset_of!(LpEntry, name_lo), 16),
                "lp.flags" => (offset_of!(LpEntry, flags), 8),
                "lp" => (0, size_of::<LpEntry>()),
                "sym.tag" => (offset_of!(SymEntry, tag), 8),
                "sym.name" => (offset_of!(SymEntry, name_lo), 16),
                "sym.hash" => (offset_of!(SymEntry, hash), 8),
                "sym" => (0, size_of::<SymEntry>()),
                "profile.seq" => (offset_of!(ProfileEntry, seq), 8),
                "profile.name" => (8 + 8 * crate::row::P_NAME_LO, 16),
                "profile.flags" => (8 + 8 * crate::row::P_FLAGS, 8),
                "profile.weights" => (8 + 8 * crate::row::P_WEIGHTS, 64),
                "profile" => (0, size_of::<ProfileEntry>()),
                "row.seq" => (offset_of!(Row, seq), 8),
                "row" => (0, size_of::<Row>()),
                other => {
                    let field = other.strip_prefix("row.").unwrap();
                    let (o, l) = crate::row::field_offset(field).unwrap();
                    (o, l)
                }
            };
            assert_eq!((off, len), expect, "{name}");
            seen += 1;
        }
        assert_eq!(seen, 64);
    }

    /// The descriptor is exactly the text of LAYOUT.md (its lines concatenated).
    #[test]
    fn descriptor_is_the_layout_md_text() {
        let md = include_str!("../LAYOUT.md");
        let sec = &md[md.find("## Layout hash descriptor").unwrap()..];
        let start = sec.find("```\n").unwrap() + 4;
        let end = start + sec[start..].find("```").unwrap();
        let joined: String = sec[start..end].lines().map(str::trim_end).collect();
        assert_eq!(joined, DESCRIPTOR);
    }

    #[test]
    fn hash_value_is_stable() {
        // The C and Python readers carry this constant.
        println!("LAYOUT_HASH = {LAYOUT_HASH:#018x}");
        assert_eq!(LAYOUT_HASH, fnv1a64(DESCRIPTOR.as_bytes()));
        assert_eq!(DESCRIPTOR.len(), DESCRIPTOR.trim().len());
    }
}
