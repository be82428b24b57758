//! The glue: raw FIX bytes through `FixFeed` (the codec's typed views) into the engine and out
//! through `ShmSink` into a real scoreboard file, compared with the same events fed directly.
use lpscore::engine::synth::{LpTruth, SynthConfig, fix_bytes, generate};
use lpscore::engine::{Engine, EngineConfig, FixFeed, ShmSink, writer_options};
use lpscore::fix::{Framer, FramerConfig};
use lpscore::kpi::RowKey;
use lpscore::publish::{BitsEq, MemorySink, RowValues};
use lpscore_shm::{BucketSlot, Scoreboard, SymbolSlot, Writer};

const SEC: u64 = 1_000_000_000;

fn lps() -> Vec<LpTruth> {
    (0..4)
        .map(|i| LpTruth {
            name: format!("LP{i}"),
            full_fill: 0.6 + 0.1 * f64::from(i),
            half_fill: 0.1,
            reject: 0.02 * f64::from(i),
            latency_ns: 2e6 * f64::from(i + 1),
            pi_bps: 0.5 * f64::from(i) - 0.5,
            impact_bps: 1.0,
        })
        .collect()
}

struct TempPath(std::path::PathBuf);
impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let mut l = self.0.clone().into_os_string();
        l.push(".lock");
        let _ = std::fs::remove_file(l);
    }
}

#[test]
fn fix_bytes_to_scoreboard_match_direct_events() {
    let evs = generate(&SynthConfig {
        lps: lps(),
        symbols: 20,
        orders: 3000,
        order_gap_ns: 5_000_000,
        noise_quotes_per_order: 1,
        noise_bps: 0.5,
        half_spread_bps: 1.0,
        start_ns: 1_754_141_400 * SEC,
        seed: 99,
    });
    let cfg = EngineConfig {
        max_lps: 8,
        max_symbols: 32,
        max_cells: 4096,
        max_orders: 8192,
        stale_quote_ns: 0,
        ..EngineConfig::default()
    };
    let path =
        TempPath(std::env::temp_dir().join(format!("lpscore-engine-glue-{}", std::process::id())));
    let w = Writer::create(&path.0, &writer_options(&cfg)).unwrap();
    let mut feed = FixFeed::new(Engine::new(cfg.clone(), ShmSink::new(w, &cfg)).unwrap());
    let mut framed = FixFeed::new(Engine::new(cfg.clone(), MemorySink::default()).unwrap());
    let mut direct = Engine::new(cfg, MemorySink::default()).unwrap();
    let mut buf = Vec::new();
    let mut stream = Vec::new();
    for (i, (t, ev)) in evs.iter().enumerate() {
        buf.clear();
        fix_bytes(*t, i as u64 + 1, ev, &mut buf);
        feed.on_fix(*t, 1, &buf).unwrap();
        direct.on_event(*t, &ev.as_event());
        stream.extend_from_slice(&buf);
    }
    // The same bytes as one stream cut by the codec's Framer, handed over frame by frame.
    let mut framer = Framer::new(FramerConfig::default());
    let mut frames = framer.feed(&stream);
    let mut i = 0;
    while let Some(f) = frames.next_frame() {
        framed.on_frame(evs[i].0, 1, f.unwrap()).unwrap();
        i += 1;
    }
    assert_eq!(i, evs.len());
    // Garbage is counted, never fatal.
    assert!(
        feed.on_fix(
            evs.last().unwrap().0,
            1,
            b"8=FIX.4.4\x019=5\x0135=D\x0110=000\x01"
        )
        .is_err()
    );
    assert_eq!(feed.counters.parse_errors, 1);
    let end = evs.last().unwrap().0 + 61 * SEC;
    feed.engine.tick(end);
    feed.engine.flush();
    direct.tick(end);
    direct.flush();
    framed.engine.tick(end);
    framed.engine.flush();
    assert_eq!(framed.engine.sink().log.len(), direct.sink().log.len());
    for ((ka, ra), (kb, rb)) in framed.engine.sink().log.iter().zip(&direct.sink().log) {
        assert_eq!(ka, kb);
        assert!(ra.bits_eq(rb));
    }
    assert_eq!(feed.engine.sink().errors, 0);
    assert_eq!(feed.engine.counters(), direct.counters());

    let sb = Scoreboard::open(&path.0).unwrap();
    for lp in lps() {
        let k = direct.lp_key(&lp.name).unwrap();
        let a = feed.engine.row(k).unwrap();
        let b = direct.row(k).unwrap();
        assert!(a.bits_eq(&b), "{}: FIX path {a:?} vs direct {b:?}", lp.name);
        // The file holds what the engine published last for this row.
        let published = direct.sink().latest(k).copied().unwrap();
        let id = sb.lp(&lp.name).unwrap();
        let r = sb.read(SymbolSlot::All, BucketSlot::All, id).unwrap();
        let back = RowValues {
            publish_ns: r.publish_ns,
            eff_orders: r.eff_orders,
            eff_fills: r.eff_fills,
            fill_rate: r.fill_rate,
            reject_rate: r.reject_rate,
            pi_bps: r.pi_bps,
            es_bps: r.es_bps,
            impact_bps: r.impact_bps,
            markout_bps: r.markout_bps,
            ack_p50_ns: r.ack_p50_ns,
            ack_p99_ns: r.ack_p99_ns,
            fill_p50_ns: r.fill_p50_ns,
            flags: r.flags,
            scores: r.scores,
            pi_rate: r.pi_rate,
            eq_ratio: r.eq_ratio,
            cancel_reject_rate: r.cancel_reject_rate,
            realized_spread_bps: r.realized_spread_bps,
            n_orders: r.n_orders,
            n_fills: r.n_fills,
            n_price_skipped: r.n_price_skipped,
        };
        assert!(
            back.bits_eq(&published),
            "{}: file {back:?} vs {published:?}",
            lp.name
        );
        assert!(r.n_orders > 500);
        // A per-symbol row too.
        let sym = sb.symbol("S0003").unwrap();
        let ks = RowKey {
            sym: direct.symbol_slot("S0003").unwrap(),
            bucket: direct.all_sizes(),
            lp: k.lp,
        };
        let rs = sb.read(sym, BucketSlot::All, id).unwrap();
        assert_eq!(rs.n_orders, direct.sink().latest(ks).unwrap().n_orders);
    }
    let block = sb.profile("Block").unwrap();
    assert_eq!(sb.profile_weights(block).unwrap()[1], 0.40);
}

/// Feeds `msgs` through one `FixFeed::on_fix` per message, and through `on_fix_batch` in
/// groups of `chunk`; both engines must publish the same rows, bit for bit, and count the same.
fn per_message_vs_batched(cfg: &EngineConfig, msgs: &[(u64, u32, &[u8])], chunk: usize) {
    let mut one = FixFeed::new(Engine::new(cfg.clone(), MemorySink::default()).unwrap());
    let mut many = FixFeed::new(Engine::new(cfg.clone(), MemorySink::default()).unwrap());
    let mut errors = 0;
    for &(ts, session, bytes) in msgs {
        errors += usize::from(one.on_fix(ts, session, bytes).is_err());
    }
    let mut batch_errors = 0;
    for group in msgs.chunks(chunk) {
        batch_errors += many.on_fix_batch(group);
    }
    assert_eq!(batch_errors, errors, "chunk {chunk}");
    assert!(errors > 0, "the stream holds garbage");
    let end = msgs.last().unwrap().0 + 61 * SEC;
    for f in [&mut one.engine, &mut many.engine] {
        f.tick(end);
        f.flush();
    }
    assert_eq!(one.counters, many.counters, "chunk {chunk}");
    assert_eq!(
        one.engine.counters(),
        many.engine.counters(),
        "chunk {chunk}"
    );
    let (a, b) = (&one.engine.sink().log, &many.engine.sink().log);
    assert_eq!(a.len(), b.len(), "chunk {chunk}");
    assert!(a.len() > 1000);
    for (i, ((ka, ra), (kb, rb))) in a.iter().zip(b).enumerate() {
        assert_eq!(ka, kb, "chunk {chunk}, publication {i}");
        assert!(
            ra.bits_eq(rb),
            "chunk {chunk}, publication {i}: {ra:?} vs {rb:?}"
        );
    }
    assert_eq!(one.engine.sink().symbols, many.engine.sink().symbols);
    assert_eq!(one.engine.sink().lps, many.engine.sink().lps);
}

#[test]
fn batched_entry_point_matches_one_message_at_a_time() {
    let evs = generate(&SynthConfig {
        lps: lps(),
        symbols: 20,
        orders: 2500,
        order_gap_ns: 2_000_000,
        noise_quotes_per_order: 1,
        noise_bps: 0.5,
        half_spread_bps: 1.0,
        start_ns: 1_754_141_400 * SEC,
        seed: 7,
    });
    // The stream, with the oddities a batch must keep in order: every 17th message resent
    // (duplicate ExecIDs and orders), every 29th pair swapped (reports before their orders), a
    // second session, garbage every 101st message.
    let mut bytes = Vec::new();
    let mut spans = Vec::new();
    for (i, (t, ev)) in evs.iter().enumerate() {
        let start = bytes.len();
        fix_bytes(*t, i as u64 + 1, ev, &mut bytes);
        let session = 1 + u32::from(i % 13 == 0);
        spans.push((*t, session, start..bytes.len()));
        if i % 17 == 0 {
            spans.push((*t, session, start..bytes.len()));
        }
        if i % 101 == 0 {
            let g = bytes.len();
            bytes.extend_from_slice(b"8=FIX.4.4\x019=5\x0135=D\x0110=000\x01");
            spans.push((*t, 1, g..bytes.len()));
        }
    }
    for i in (0..spans.len() - 1).step_by(29) {
        spans.swap(i, i + 1);
        // Event time never goes backwards for the engine's clock either way; keep it monotone.
        let t = spans[i].0.min(spans[i + 1].0);
        spans[i].0 = t;
    }
    let msgs: Vec<(u64, u32, &[u8])> = spans
        .iter()
        .map(|(t, s, r)| (*t, *s, &bytes[r.clone()]))
        .collect();
    let base = EngineConfig {
        max_lps: 8,
        max_symbols: 32,
        max_cells: 4096,
        max_orders: 1024,
        stale_quote_ns: 0,
        ..EngineConfig::default()
    };
    // A small order table (evictions), immediate publication, and tiny half-lives (rescales).
    let tiny = EngineConfig {
        publish_interval_ns: 0,
        fast_half_life_ns: 1_000_000,
        slow_half_life_ns: 20_000_000,
        prior_refresh_ns: 50_000_000,
        ..base.clone()
    };
    for chunk in [1, 3, 4, 5, 64, msgs.len()] {
        per_message_vs_batched(&base, &msgs, chunk);
    }
    per_message_vs_batched(&tiny, &msgs, 7);
}

/// `FixFeed::on_message` (a FIX session's delivery: the message indexed already, by the
/// session's own parser) against `on_fix` of the same bytes: the same verdicts, counters and
/// published rows bit for bit, whichever configuration indexed the messages. A message framed in
/// the other delimiter mode, or with a body over the feed's 64 KiB (which a session whose
/// framer allows 1 MiB hands over), takes `on_fix`'s path and gets its verdict.
#[test]
fn session_messages_by_index_match_on_fix() {
    let evs = generate(&SynthConfig {
        lps: lps(),
        symbols: 8,
        orders: 600,
        order_gap_ns: 5_000_000,
        noise_quotes_per_order: 1,
        noise_bps: 0.5,
        half_spread_bps: 1.0,
        start_ns: 1_754_141_400 * SEC,
        seed: 7,
    });
    let cfg = EngineConfig {
        max_lps: 8,
        max_symbols: 16,
        max_cells: 1024,
        max_orders: 2048,
        stale_quote_ns: 0,
        ..EngineConfig::default()
    };
    let mut msgs: Vec<(u64, Vec<u8>)> = Vec::new();
    for (i, (t, ev)) in evs.iter().enumerate() {
        let mut b = Vec::new();
        fix_bytes(*t, i as u64 + 1, ev, &mut b);
        msgs.push((*t, b));
    }
    // A body over 64 KiB: an application message (a News, 35=B) with a long headline.
    let big = {
        let body = format!(
            "35=B\x0149=A\x0156=B\x0134=9\x01148={}\x01",
            "x".repeat(70_000)
        );
        let mut m = format!("8=FIX.4.4\x019={}\x01{body}", body.len()).into_bytes();
        let cs = m.iter().map(|&c| u32::from(c)).sum::<u32>() % 256;
        m.extend_from_slice(format!("10={cs:03}\x01").as_bytes());
        m
    };
    let t_big = msgs[msgs.len() / 2].0;
    msgs.insert(msgs.len() / 2, (t_big, big));
    let mut refused = 0;
    let mut feed_parser = lpscore::fix::Parser::new(FramerConfig::default());
    let mut fast_by_config = Vec::new();
    for delimiter in [lpscore::fix::Delimiter::Soh, lpscore::fix::Delimiter::Log] {
        for max_body_len in [64 * 1024, 1 << 20] {
            let fcfg = FramerConfig {
                max_body_len,
                delimiter,
            };
            let mut by_index =
                FixFeed::new(Engine::new(cfg.clone(), MemorySink::default()).unwrap());
            let mut by_bytes =
                FixFeed::new(Engine::new(cfg.clone(), MemorySink::default()).unwrap());
            let mut session_parser = lpscore::fix::Parser::new(fcfg);
            let mut fast = 0;
            for (t, b) in &msgs {
                let want = by_bytes.on_fix(*t, 1, b);
                let mut framer = Framer::new(fcfg);
                let mut frames = framer.feed(b);
                match frames.next_frame() {
                    Some(Ok(f)) => {
                        let m = session_parser.parse_frame(f).unwrap();
                        // Where the feed takes the index as it is, its own parse gives the same
                        // message (fields, delimiter mode, bytes).
                        if feed_parser.indexes_as(&m) {
                            fast += 1;
                            assert_eq!(feed_parser.parse(m.bytes()), Ok(m), "{fcfg:?}");
                        }
                        assert_eq!(by_index.on_message(*t, 1, &m), want, "{fcfg:?}");
                    }
                    // The session's framer refused it (over its maximum): never delivered.
                    _ => {
                        refused += 1;
                        by_bytes.counters.parse_errors -= 1;
                        assert!(want.is_err());
                    }
                }
            }
            fast_by_config.push(fast);
            assert_eq!(by_index.counters, by_bytes.counters, "{fcfg:?}");
            assert_eq!(by_index.engine.counters(), by_bytes.engine.counters());
            let (a, b) = (&by_index.engine.sink().log, &by_bytes.engine.sink().log);
            assert_eq!(a.len(), b.len(), "{fcfg:?}");
            assert!(!a.is_empty());
            for ((ka, ra), (kb, rb)) in a.iter().zip(b) {
                assert_eq!(ka, kb);
                assert!(ra.bits_eq(rb));
            }
        }
    }
    // The big message was refused by the 64 KiB framers only.
    assert_eq!(refused, 2);
    // Every message of the SOH sessions took the index as it is (but the big one, over the
    // feed's maximum, under the 1 MiB framer); none of the log-mode sessions'.
    let n = msgs.len() as u32;
    assert_eq!(fast_by_config, [n - 1, n - 1, 0, 0]);
}
