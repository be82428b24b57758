//! Hostile and oddly chunked input: the log reader never panics, and results never depend on
//! where the read blocks split the file.
use std::path::{Path, PathBuf};

use lpscore::engine::EngineConfig;
use lpscore::journal::replay::{DumpFormat, LatestSink, Replayer, render, table_rows};

fn tmp(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("lpscore-{name}-{}-{n}", std::process::id()))
}

fn fixture_lines() -> Vec<Vec<u8>> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/replay/FIX.4.4-BUYSIDE1-LPBANK01.messages.log");
    std::fs::read(p)
        .unwrap()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn run(path: &Path, block: Option<usize>) -> (String, u64, u64, Vec<u64>) {
    let cfg = EngineConfig {
        max_orders: 1 << 12,
        max_cells: 1 << 12,
        dedup_window: 1 << 12,
        fill_ring: 1 << 12,
        markout_queue: 1 << 12,
        ..EngineConfig::default()
    };
    let mut rp = Replayer::new(cfg, LatestSink::default()).unwrap();
    if let Some(b) = block {
        rp.set_block_size(b);
    }
    rp.replay_path(path, &mut |_, _| {}).unwrap();
    rp.finish();
    let (h, rows) = table_rows(&rp.feed, rp.feed.engine.now_ns());
    let lines = rp.stats.malformed_detail.iter().map(|m| m.line).collect();
    (
        render(&h, &rows, DumpFormat::Csv, true),
        rp.stats.messages,
        rp.stats.malformed,
        lines,
    )
}

#[test]
fn block_boundaries_do_not_change_results() {
    let mut data = Vec::new();
    for (i, l) in fixture_lines().iter().enumerate() {
        data.extend_from_slice(l);
        data.push(b'\n');
        if i % 17 == 0 {
            data.extend_from_slice(b"not fix\n\n");
        }
        if i % 29 == 0 {
            data.extend_from_slice(b"\r\n");
        }
    }
    let p = tmp("rh-blocks");
    std::fs::write(&p, &data).unwrap();
    let reference = run(&p, None);
    assert!(reference.1 > 250);
    for block in [400, 401, 512, 777, 1000, 4096, 65_536] {
        assert_eq!(run(&p, Some(block)), reference, "block {block}");
    }
    let _ = std::fs::remove_file(&p);
}

#[test]
fn random_damage_never_panics_or_stops_the_replay() {
    let lines = fixture_lines();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let p = tmp("rh-fuzz");
    for round in 0..40 {
        let mut data = Vec::new();
        for _ in 0..60 {
            let mut l = lines[(rnd() % lines.len() as u64) as usize].clone();
            match rnd() % 8 {
                0 => {
                    let i = (rnd() % l.len() as u64) as usize;
                    l[i] = (rnd() & 0xff) as u8;
                }
                1 => l.truncate((rnd() % l.len() as u64) as usize),
                2 => {
                    let i = (rnd() % l.len() as u64) as usize;
                    l.insert(i, b'\n');
                }
                3 => {
                    let i = (rnd() % l.len() as u64) as usize;
                    l.insert(i, if rnd() % 2 == 0 { b'|' } else { 1 });
                }
                4 => {
                    // BodyLength digits changed.
                    if let Some(i) = l.windows(3).position(|w| w == b"\x019=") {
                        l.insert(i + 3, b'0' + (rnd() % 10) as u8);
                    }
                }
                5 => l = (0..(rnd() % 400)).map(|_| (rnd() & 0xff) as u8).collect(),
                _ => {}
            }
            data.extend_from_slice(&l);
            data.push(b'\n');
        }
        std::fs::write(&p, &data).unwrap();
        for block in [None, Some(64), Some(300), Some(1000)] {
            let (_, msgs, bad, _) = run(&p, block);
            assert!(msgs + bad > 0, "round {round}");
        }
    }
    let _ = std::fs::remove_file(&p);
}
