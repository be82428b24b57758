//! Readers refuse bad files with a clear typed error: never a panic, never SIGBUS.

mod common;

use common::{TempBoard, XorShift, small_opts};
use lpscore_shm::layout::{self, hw};
use lpscore_shm::{BucketSlot, LpId, OpenError, ProfileId, Scoreboard, SymbolSlot, Writer};
use std::path::Path;

/// The bytes of a valid, READY scoreboard (the writer is stopped, then the state is set READY
/// again so only the mutation under test matters).
fn valid_bytes(tag: &str) -> Vec<u8> {
    let b = TempBoard::new(tag);
    let mut w = Writer::create(&b.path, &small_opts()).unwrap();
    w.add_lp("LP-A").unwrap();
    w.add_symbol("AAPL").unwrap();
    drop(w);
    let mut bytes = std::fs::read(&b.path).unwrap();
    set_word(&mut bytes, hw::STATE, layout::state::READY);
    bytes
}

fn set_word(bytes: &mut [u8], i: usize, v: u64) {
    bytes[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
}

fn open_bytes(tag: &str, bytes: &[u8]) -> Result<Scoreboard, OpenError> {
    let b = TempBoard::new(tag);
    std::fs::write(&b.path, bytes).unwrap();
    let r = Scoreboard::open(&b.path);
    // The mapping stays valid after the path is unlinked (TempBoard drop).
    r
}

#[test]
fn the_valid_file_opens() {
    let bytes = valid_bytes("valid");
    let sb = open_bytes("valid-open", &bytes).unwrap();
    assert!(sb.lp("LP-A").is_some());
    assert!(sb.symbol("AAPL").is_some());
}

#[test]
fn zero_length() {
    let e = open_bytes("zero", &[]).err().unwrap();
    assert_eq!(e, OpenError::TooShort { len: 0 });
    assert!(e.to_string().contains("shorter than the 512-byte"));
}

#[test]
fn truncated_header() {
    let bytes = valid_bytes("trunc");
    let e = open_bytes("trunc-open", &bytes[..100]).err().unwrap();
    assert_eq!(e, OpenError::TooShort { len: 100 });
    let e = open_bytes("trunc-open2", &bytes[..511]).err().unwrap();
    assert_eq!(e, OpenError::TooShort { len: 511 });
}

#[test]
fn wrong_magic() {
    let mut bytes = valid_bytes("magic");
    bytes[0] = b'X';
    let e = open_bytes("magic-open", &bytes).err().unwrap();
    assert!(matches!(e, OpenError::BadMagic { .. }), "{e:?}");
    assert!(e.to_string().contains("not an lpscore scoreboard"));
}

#[test]
fn future_major_version() {
    let mut bytes = valid_bytes("major");
    set_word(&mut bytes, hw::VERSION, 2 | (5 << 32));
    let e = open_bytes("major-open", &bytes).err().unwrap();
    assert_eq!(e, OpenError::UnsupportedVersion { major: 2, minor: 5 });
    assert!(e.to_string().contains("2.5"));
}

#[test]
fn newer_minor_version_is_accepted() {
    let mut bytes = valid_bytes("minor");
    set_word(&mut bytes, hw::VERSION, 1 | (3 << 32));
    assert!(open_bytes("minor-open", &bytes).is_ok());
}

#[test]
fn wrong_layout_hash() {
    let mut bytes = valid_bytes("hash");
    set_word(&mut bytes, hw::LAYOUT_HASH, 0x1234);
    let e = open_bytes("hash-open", &bytes).err().unwrap();
    assert_eq!(e, OpenError::LayoutHash { found: 0x1234 });
}

#[test]
fn shorter_than_file_len() {
    let bytes = valid_bytes("short");
    let n = bytes.len();
    let e = open_bytes("short-open", &bytes[..n - 128]).err().unwrap();
    assert_eq!(
        e,
        OpenError::Truncated {
            file_len: n as u64,
            actual: n as u64 - 128
        }
    );
    // Even only the header present.
    let e = open_bytes("short-open2", &bytes[..512]).err().unwrap();
    assert!(matches!(e, OpenError::Truncated { actual: 512, .. }));
}

#[test]
fn inconsistent_offsets_and_capacities() {
    let base = valid_bytes("incons");
    let cases: &[(usize, u64, &str)] = &[
        (hw::HEADER_LEN, 256, "header_len"),
        (hw::ROW_STRIDE, 64, "row_stride"),
        (hw::MAX_LPS, 0, "max_lps"),
        (hw::MAX_LPS, 257, "max_lps"),
        (hw::MAX_SYMBOLS, u64::MAX, "max_symbols"),
        (hw::N_BUCKETS, 9, "n_buckets"),
        (hw::MAX_PROFILES, 0, "max_profiles"),
        (hw::SYM_TABLE_CAP, 8, "sym_table_cap"),
        (hw::LP_DIR_OFF, 0, "lp_dir_off"),
        (hw::SYM_DIR_OFF, 513, "sym_dir_off"),
        (hw::PROFILE_DIR_OFF, 1 << 40, "profile_dir_off"),
        (hw::ROWS_OFF, 128, "rows_off"),
        (hw::N_ROWS, 1, "n_rows"),
        (hw::FILE_LEN, u64::MAX, "file_len"),
    ];
    for &(word, v, what) in cases {
        let mut bytes = base.clone();
        set_word(&mut bytes, word, v);
        let e = open_bytes("incons-open", &bytes).err().unwrap();
        assert_eq!(e, OpenError::Inconsistent(what), "word {word} = {v}");
        assert!(e.to_string().contains(what));
    }
    // A bigger capacity with matching offsets but a file too short for it.
    let mut bytes = base.clone();
    let g = layout::Geometry::new(200, 16, 3, 4);
    for (w, v) in [
        (hw::MAX_LPS, g.max_lps),
        (hw::SYM_DIR_OFF, g.sym_dir_off),
        (hw::PROFILE_DIR_OFF, g.profile_dir_off),
        (hw::ROWS_OFF, g.rows_off),
        (hw::N_ROWS, g.n_rows),
        (hw::FILE_LEN, g.file_len),
    ] {
        set_word(&mut bytes, w, v);
    }
    let e = open_bytes("incons-open2", &bytes).err().unwrap();
    assert!(matches!(e, OpenError::Truncated { .. }), "{e:?}");
}

#[test]
fn not_ready_and_retired_states() {
    let mut bytes = valid_bytes("states");
    set_word(&mut bytes, hw::STATE, layout::state::INIT);
    assert_eq!(
        open_bytes("states-init", &bytes).err(),
        Some(OpenError::NotReady)
    );
    set_word(&mut bytes, hw::STATE, layout::state::RETIRED);
    assert_eq!(
        open_bytes("states-ret", &bytes).err(),
        Some(OpenError::Retired)
    );
    set_word(&mut bytes, hw::STATE, 77);
    assert_eq!(
        open_bytes("states-bad", &bytes).err(),
        Some(OpenError::Inconsistent("state"))
    );
}

#[test]
fn missing_and_not_a_file() {
    let b = TempBoard::new("missing");
    assert_eq!(Scoreboard::open(&b.path).err(), Some(OpenError::NotFound));
    assert_eq!(
        Scoreboard::open(std::env::temp_dir()).err(),
        Some(OpenError::NotAFile)
    );
    assert_eq!(
        Scoreboard::open(Path::new("/dev/null")).err(),
        Some(OpenError::NotAFile)
    );
}

#[test]
fn garbage_bytes() {
    let mut g = XorShift(0xDEAD_BEEF_1234_5678);
    for len in [512usize, 513, 4096, 65536] {
        let bytes: Vec<u8> = (0..len).map(|_| g.next() as u8).collect();
        let e = open_bytes("garbage", &bytes).err().unwrap();
        assert!(matches!(e, OpenError::BadMagic { .. }), "{e:?}");
    }
    // Right magic, version and hash, garbage elsewhere.
    let mut bytes: Vec<u8> = (0..8192).map(|_| g.next() as u8).collect();
    set_word(&mut bytes, hw::MAGIC, layout::MAGIC);
    set_word(&mut bytes, hw::VERSION, layout::VERSION_WORD);
    set_word(&mut bytes, hw::LAYOUT_HASH, layout::LAYOUT_HASH);
    let e = open_bytes("garbage2", &bytes).err().unwrap();
    assert!(matches!(e, OpenError::Inconsistent(_)), "{e:?}");
}

/// A valid header over garbage directories and rows: opening works, and every reader call returns
/// something or an error without panicking (bounds come from the validated capacities).
#[test]
fn valid_header_over_garbage_body_never_panics() {
    let mut g = XorShift(42);
    let base = valid_bytes("body");
    for round in 0..20 {
        let mut bytes = base.clone();
        for b in bytes[1024..].iter_mut() {
            *b = g.next() as u8;
        }
        // Garbage counts in the header too.
        set_word(&mut bytes, hw::N_LPS, g.next() % 1000);
        set_word(&mut bytes, hw::N_SYMBOLS, g.next());
        set_word(&mut bytes, hw::N_PROFILES, g.next() % 20);
        for k in 0..8 {
            set_word(&mut bytes, hw::BUCKET_UPPER + k, g.next());
        }
        let sb = open_bytes("body-open", &bytes).unwrap();
        let _ = sb.lps().count();
        let _ = sb.symbols().count();
        let _ = sb.symbol("AAPL");
        let _ = sb.symbol("ZZZZ");
        let _ = sb.lp("LP-A");
        let _ = sb.profile("p");
        for p in 0..10 {
            let _ = sb.profile_info(ProfileId::new(p));
        }
        let _ = sb.bucket_for(g.next());
        let mut rows = [lpscore_shm::ScoreRow::default(); 300];
        let mut out = [LpId::default(); 300];
        for s in 0..20u32 {
            let sym = lpscore_shm::SymbolId::new(s);
            let _ = sb.snapshot(sym, BucketSlot::All, &mut rows);
            let _ = sb.rank(sym, BucketSlot::Bucket(0), ProfileId::new(0), &mut out);
            let _ = sb.rank(sym, BucketSlot::Bucket(9), ProfileId::new(9), &mut out);
            for l in 0..10 {
                let _ = sb.read(SymbolSlot::One(sym), BucketSlot::Bucket(1), LpId::new(l));
            }
        }
        let _ = sb.staleness(std::time::Duration::from_secs(1));
        assert!(round < 20);
    }
}
