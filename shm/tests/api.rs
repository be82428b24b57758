//! Writer -> reader round trips through a real file: rows, directories, profiles, buckets,
//! snapshots, ranking, pause flags, capacity limits.

mod common;

use common::{TempBoard, XorShift, small_opts};
use lpscore_shm::layout::{self, hw};
use lpscore_shm::{
    BucketSlot, BucketUnit, Capacities, FLAG_HAS_DATA, FLAG_LP_PAUSED, LpId, ProfileId, ReadError,
    ScoreRow, Scoreboard, ShmError, SymbolId, SymbolSlot, Writer, WriterOptions,
};

fn random_row(g: &mut XorShift) -> ScoreRow {
    let mut w = [0u64; 15];
    for x in w.iter_mut() {
        *x = g.next();
    }
    w[14] &= 0xFFFF_FFFF;
    ScoreRow::from_words(&w)
}

#[test]
fn every_row_round_trips_bit_exact() {
    let b = TempBoard::new("rows");
    let opts = small_opts();
    let mut w = Writer::create(&b.path, &opts).unwrap();
    let c = opts.capacities;
    let mut g = XorShift(7);
    let mut want = Vec::new();
    for s in 0..=c.max_symbols {
        for bk in 0..=c.n_buckets {
            for l in 0..c.max_lps {
                let sym = if s == c.max_symbols {
                    SymbolSlot::All
                } else {
                    SymbolSlot::One(SymbolId::new(s))
                };
                let bucket = if bk == c.n_buckets {
                    BucketSlot::All
                } else {
                    BucketSlot::Bucket(bk as u8)
                };
                let r = random_row(&mut g);
                w.publish(sym, bucket, LpId::new(l as u16), &r).unwrap();
                want.push((sym, bucket, LpId::new(l as u16), r));
            }
        }
    }
    let sb = Scoreboard::open(&b.path).unwrap();
    assert_eq!(sb.publish_count(), want.len() as u64);
    for (sym, bucket, lp, r) in &want {
        let got = sb.read(*sym, *bucket, *lp).unwrap();
        assert_eq!(got.to_words(), r.to_words());
        // The row formula of LAYOUT.md.
        let s = match sym {
            SymbolSlot::One(s) => s.index(),
            SymbolSlot::All => c.max_symbols as usize,
        };
        let bk = match bucket {
            BucketSlot::Bucket(b) => *b as usize,
            BucketSlot::All => c.n_buckets as usize,
        };
        let idx = (s * (c.n_buckets as usize + 1) + bk) * c.max_lps as usize + lp.index();
        assert_eq!(sb.row_index(*sym, *bucket, *lp), Some(idx));
        assert_eq!(sb.read_words(idx).unwrap(), r.to_words());
    }
    // Out of range is an error, not a panic.
    let lp_out = LpId::new(c.max_lps as u16);
    assert_eq!(
        sb.read(SymbolSlot::All, BucketSlot::All, lp_out),
        Err(ReadError::OutOfRange)
    );
    assert_eq!(
        sb.read(SymbolId::new(c.max_symbols), BucketSlot::All, LpId::new(0)),
        Err(ReadError::OutOfRange)
    );
    assert_eq!(
        sb.read(
            SymbolSlot::All,
            BucketSlot::Bucket(c.n_buckets as u8),
            LpId::new(0)
        ),
        Err(ReadError::OutOfRange)
    );
    assert_eq!(sb.read_words(usize::MAX), Err(ReadError::OutOfRange));
    assert_eq!(
        w.publish(
            SymbolSlot::All,
            BucketSlot::All,
            lp_out,
            &ScoreRow::default()
        ),
        Err(ShmError::OutOfRange)
    );
}

#[test]
fn header_fields_match_layout() {
    let b = TempBoard::new("hdr");
    let opts = WriterOptions {
        bucket_unit: BucketUnit::Shares,
        bucket_upper: [100, 1000, 5, 5, 5, 5, 5, 5],
        score_horizon_ns: 5_000_000_000,
        ..small_opts()
    };
    let _w = Writer::create(&b.path, &opts).unwrap();
    let bytes = std::fs::read(&b.path).unwrap();
    let word = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
    let g = layout::Geometry::new(8, 16, 3, 4);
    assert_eq!(&bytes[..8], b"LPSCORE\0");
    assert_eq!(word(hw::VERSION), 1);
    assert_eq!(word(hw::LAYOUT_HASH), layout::LAYOUT_HASH);
    assert_eq!(word(hw::FILE_LEN), bytes.len() as u64);
    assert_eq!(word(hw::FILE_LEN), g.file_len);
    assert_eq!(word(hw::HEADER_LEN), 512);
    assert_eq!(word(hw::ROW_STRIDE), 128);
    assert_eq!(word(hw::SYM_TABLE_CAP), 32);
    assert_eq!(word(hw::LP_DIR_OFF), 512);
    assert_eq!(word(hw::SYM_DIR_OFF), 512 + 256);
    assert_eq!(word(hw::PROFILE_DIR_OFF), 512 + 256 + 32 * 32);
    assert_eq!(word(hw::ROWS_OFF), 512 + 256 + 1024 + 4 * 128);
    assert_eq!(word(hw::N_ROWS), 17 * 4 * 8);
    assert_eq!(word(hw::WRITER_PID), u64::from(std::process::id()));
    assert_eq!(word(hw::STATE), layout::state::READY);
    assert_eq!(word(hw::BUCKET_UNIT), 1);
    // Buckets: given bounds, the last used one and the unused ones are u64::MAX.
    assert_eq!(word(hw::BUCKET_UPPER), 100);
    assert_eq!(word(hw::BUCKET_UPPER + 1), 1000);
    for k in 2..8 {
        assert_eq!(word(hw::BUCKET_UPPER + k), u64::MAX);
    }
    assert_eq!(word(hw::SCORE_HORIZON_NS), 5_000_000_000);
    for r in (24..32).chain(33..48).chain(58..64) {
        assert_eq!(word(r), 0, "reserved word {r}");
    }
    let sb = Scoreboard::open(&b.path).unwrap();
    assert_eq!(sb.bucket_unit(), BucketUnit::Shares);
    assert_eq!(sb.bucket_for(0), BucketSlot::Bucket(0));
    assert_eq!(sb.bucket_for(99), BucketSlot::Bucket(0));
    assert_eq!(sb.bucket_for(100), BucketSlot::Bucket(1));
    assert_eq!(sb.bucket_for(1000), BucketSlot::Bucket(2));
    assert_eq!(sb.bucket_for(u64::MAX), BucketSlot::Bucket(2));
}

#[test]
fn directories_and_profiles() {
    let b = TempBoard::new("dirs");
    let mut w = Writer::create(&b.path, &small_opts()).unwrap();
    let names: Vec<String> = (0..8).map(|i| format!("LP-{i:02}")).collect();
    for (i, n) in names.iter().enumerate() {
        assert_eq!(w.add_lp(n).unwrap().index(), i);
    }
    assert_eq!(
        w.add_lp("one-too-many"),
        Err(ShmError::Full("LP directory"))
    );
    assert_eq!(w.add_lp("seventeen-bytes!!"), Err(ShmError::BadName));
    // 16 symbols: fills max_symbols; the probe sequence must still find each one.
    let syms: Vec<String> = (0..16).map(|i| format!("SYM{i}")).collect();
    for (i, s) in syms.iter().enumerate() {
        assert_eq!(w.add_symbol(s).unwrap().index(), i);
    }
    assert_eq!(w.add_symbol("EXTRA"), Err(ShmError::Full("symbol table")));
    assert_eq!(w.add_symbol("SYM3").unwrap().index(), 3);
    w.set_profile(
        ProfileId::new(0),
        "balanced",
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 0.0],
        true,
    )
    .unwrap();
    w.set_profile(ProfileId::new(2), "ABCDEFGHIJKLMNOP", [0.5; 8], false)
        .unwrap();
    assert_eq!(
        w.set_profile(ProfileId::new(4), "x", [0.0; 8], true),
        Err(ShmError::OutOfRange)
    );

    let sb = Scoreboard::open(&b.path).unwrap();
    for (i, n) in names.iter().enumerate() {
        assert_eq!(sb.lp(n), Some(LpId::new(i as u16)));
    }
    let listed: Vec<(usize, String)> = sb.lps().map(|(l, n)| (l.index(), n.to_string())).collect();
    assert_eq!(listed.len(), 8);
    assert_eq!(listed[3], (3, "LP-03".to_string()));
    for (i, s) in syms.iter().enumerate() {
        assert_eq!(sb.symbol(s), Some(SymbolId::new(i as u32)), "{s}");
    }
    assert_eq!(sb.symbol("EXTRA"), None);
    assert_eq!(sb.symbol(""), None);
    let mut all: Vec<(u32, String)> = sb
        .symbols()
        .map(|(s, n)| (s.index() as u32, n.to_string()))
        .collect();
    all.sort();
    assert_eq!(all.len(), 16);
    assert_eq!(all[15], (15, "SYM15".to_string()));
    assert_eq!(sb.profile("balanced"), Some(ProfileId::new(0)));
    assert_eq!(sb.profile("ABCDEFGHIJKLMNOP"), Some(ProfileId::new(2)));
    assert_eq!(sb.profile("nope"), None);
    assert_eq!(sb.profile_weights(ProfileId::new(0)).unwrap()[6], 7.0);
    let p2 = sb.profile_info(ProfileId::new(2)).unwrap();
    assert!(!p2.active);
    assert_eq!(
        sb.profile_info(ProfileId::new(4)),
        Err(ReadError::OutOfRange)
    );
}

#[test]
fn snapshot_rank_and_pause() {
    let b = TempBoard::new("rank");
    let mut w = Writer::create(&b.path, &small_opts()).unwrap();
    let lps: Vec<LpId> = (0..5)
        .map(|i| w.add_lp(&format!("L{i}")).unwrap())
        .collect();
    let sym = w.add_symbol("EURUSD").unwrap();
    // Profile 1 scores: L0 40, L1 no data, L2 90, L3 NaN, L4 40 (tie with L0).
    let scores = [Some(40.0), None, Some(90.0), Some(f32::NAN), Some(40.0)];
    for (lp, s) in lps.iter().zip(scores) {
        let mut r = ScoreRow::default();
        if let Some(s) = s {
            r.flags = FLAG_HAS_DATA;
            r.scores = [f32::NAN; 8];
            r.scores[1] = s;
        }
        w.publish(sym, BucketSlot::Bucket(1), *lp, &r).unwrap();
    }
    let sb = Scoreboard::open(&b.path).unwrap();
    let mut rows = [ScoreRow::default(); 8];
    assert_eq!(sb.snapshot(sym, BucketSlot::Bucket(1), &mut rows), Ok(5));
    assert_eq!(rows[2].scores[1], 90.0);
    assert!(!rows[1].has_data());
    let mut two = [ScoreRow::default(); 2];
    assert_eq!(sb.snapshot(sym, BucketSlot::Bucket(1), &mut two), Ok(2));

    let mut out = [LpId::default(); 8];
    let n = sb.rank(sym, BucketSlot::Bucket(1), ProfileId::new(1), &mut out);
    assert_eq!(&out[..n], &[lps[2], lps[0], lps[4]]);
    let mut one = [LpId::default(); 1];
    assert_eq!(
        sb.rank(sym, BucketSlot::Bucket(1), ProfileId::new(1), &mut one),
        1
    );
    assert_eq!(one[0], lps[2]);
    // Profile 0 is NaN everywhere: nothing ranked.
    assert_eq!(
        sb.rank(sym, BucketSlot::Bucket(1), ProfileId::new(0), &mut out),
        0
    );

    // Pausing L2: its rows carry the flag and it drops out of the ranking.
    w.set_lp_paused(lps[2], true).unwrap();
    let mut r = ScoreRow {
        flags: FLAG_HAS_DATA,
        ..Default::default()
    };
    r.scores[1] = 95.0;
    w.publish(sym, BucketSlot::Bucket(1), lps[2], &r).unwrap();
    assert!(sb.lp_paused(lps[2]));
    let got = sb.read(sym, BucketSlot::Bucket(1), lps[2]).unwrap();
    assert_eq!(got.flags & FLAG_LP_PAUSED, FLAG_LP_PAUSED);
    let n = sb.rank(sym, BucketSlot::Bucket(1), ProfileId::new(1), &mut out);
    assert_eq!(&out[..n], &[lps[0], lps[4]]);
    w.set_lp_paused(lps[2], false).unwrap();
    w.publish(sym, BucketSlot::Bucket(1), lps[2], &r).unwrap();
    assert!(!sb.lp_paused(lps[2]));
    assert_eq!(
        sb.rank(sym, BucketSlot::Bucket(1), ProfileId::new(1), &mut out),
        3
    );
}

#[test]
fn large_symbol_table_probes() {
    let b = TempBoard::new("bigsym");
    let opts = WriterOptions {
        capacities: Capacities {
            max_lps: 1,
            max_symbols: 5000,
            n_buckets: 1,
            max_profiles: 1,
        },
        ..Default::default()
    };
    let mut w = Writer::create(&b.path, &opts).unwrap();
    for i in 0..5000 {
        assert_eq!(w.add_symbol(&format!("S{i}")).unwrap().index(), i);
    }
    let sb = Scoreboard::open(&b.path).unwrap();
    for i in 0..5000u32 {
        assert_eq!(sb.symbol(&format!("S{i}")), Some(SymbolId::new(i)));
    }
    assert_eq!(sb.symbol("S5000"), None);
    assert_eq!(sb.symbols().count(), 5000);
}

#[test]
fn a_stuck_odd_row_reads_busy_and_a_new_writer_repairs_it() {
    // A writer that died mid-write leaves seq odd: readers give up with Busy (bounded), and the
    // next writer's takeover clears the row through the seqlock, leaving seq even.
    let b = TempBoard::new("odd");
    let w = Writer::create(&b.path, &small_opts()).unwrap();
    drop(w);
    let mut bytes = std::fs::read(&b.path).unwrap();
    let g = layout::Geometry::new(8, 16, 3, 4);
    let off = g.rows_off as usize;
    bytes[off..off + 8].copy_from_slice(&5u64.to_le_bytes());
    bytes[hw::STATE * 8..hw::STATE * 8 + 8].copy_from_slice(&1u64.to_le_bytes());
    std::fs::write(&b.path, &bytes).unwrap();
    let sb = Scoreboard::open(&b.path).unwrap();
    assert_eq!(sb.read_words(0), Err(ReadError::Busy));
    let mut w = Writer::create(&b.path, &small_opts()).unwrap();
    let mut sb2 = Scoreboard::open(&b.path).unwrap();
    assert_eq!(sb2.read_words(0), Ok([0; 15]));
    w.publish_words(0, &[3; 15]).unwrap();
    assert_eq!(sb2.read_words(0), Ok([3; 15]));
    sb2.revalidate().unwrap();
}

#[test]
fn handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Scoreboard>();
    send::<Writer>();
    send_sync::<lpscore_shm::OpenError>();
    send_sync::<ShmError>();
}
