use lpscore_shm::{FLAG_HAS_DATA, FLAG_LP_PAUSED, ScoreRow};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::model::*;
use crate::score::{Profiles, ScoreInputs, Transforms, default_profiles};

const S: u64 = 1_000_000_000;

fn profiles() -> Vec<ProfileView> {
    default_profiles()
        .iter()
        .enumerate()
        .map(|(i, p)| ProfileView {
            index: i,
            name: p.name.clone(),
            weights: p.weights.to_slots(),
        })
        .collect()
}

/// A row as the engine publishes it for these inputs (scores of the default profiles).
fn row(k: &ScoreInputs, n_orders: u32) -> ScoreRow {
    let p = Profiles::new(&default_profiles()).unwrap();
    let s = p.scores(&Transforms::default(), k);
    let mut scores = [f32::NAN; 8];
    for (o, v) in scores.iter_mut().zip(s) {
        *o = v as f32;
    }
    ScoreRow {
        flags: FLAG_HAS_DATA,
        fill_rate: k.fill_rate as f32,
        reject_rate: k.reject_rate as f32,
        pi_bps: k.pi_bps as f32,
        impact_bps: k.impact_bps as f32,
        es_bps: k.es_bps as f32,
        markout_bps: k.markout_bps as f32,
        ack_p50_ns: (k.latency_ns * 0.8) as u32,
        ack_p99_ns: (k.latency_ns * 3.0) as u32,
        n_orders,
        eff_orders: n_orders as f32,
        scores,
        ..Default::default()
    }
}

fn inputs(lat_ms: f64, fill: f64, pi: f64, imp: f64) -> ScoreInputs {
    ScoreInputs {
        latency_ns: lat_ms * 1e6,
        fill_rate: fill,
        pi_bps: pi,
        impact_bps: imp,
        reject_rate: 0.02,
        es_bps: 1.0,
        markout_bps: -0.5,
    }
}

/// Two symbols (A, *), buckets all and <10000, three LPs: FAST (fast, fills little), BIG (slow,
/// fills a lot), PAUSED.
fn snapshot(now_ns: u64) -> Snapshot {
    let lps = [
        ("FAST", inputs(0.5, 0.55, 0.2, 1.0)),
        ("BIG", inputs(30.0, 0.98, 0.5, 0.5)),
        ("PAUSED", inputs(1.0, 0.9, 0.9, 0.1)),
    ];
    let mut rows = Vec::new();
    for sym in 0..2 {
        for bucket in 0..2 {
            for (i, (name, k)) in lps.iter().enumerate() {
                let mut r = row(k, 100 + i as u32 + sym as u32 * 10);
                if *name == "PAUSED" {
                    r.flags |= FLAG_LP_PAUSED;
                }
                rows.push(RowEntry {
                    symbol: sym,
                    bucket,
                    lp_id: i,
                    lp: name.to_string(),
                    row: r,
                });
            }
        }
    }
    Snapshot {
        path: "/dev/shm/test.sb".into(),
        epoch: 3,
        writer_pid: 4242,
        start_wall_ns: Some(now_ns - 3_725 * S),
        now_ns,
        live: Some(Live::Live(12)),
        symbols: vec!["AAA".into(), "*".into()],
        buckets: vec!["all".into(), "<10000".into()],
        profiles: profiles(),
        rows,
        busy: 0,
        skipped_symbols: 0,
    }
}

fn state() -> State {
    let mut st = State::new(true, Transforms::default());
    st.update(snapshot(10_000 * S));
    st
}

#[test]
fn weight_names_are_the_weights_fields() {
    for (i, n) in WEIGHT_NAMES.iter().enumerate() {
        let w: crate::score::Weights = toml::from_str(&format!("{n} = 1.0")).unwrap();
        assert_eq!(w.to_slots()[i], 1.0, "{n}");
    }
}

#[test]
fn ranking_follows_the_profile_and_skips_paused() {
    let st = state();
    // HighFrequency (latency 0.6): FAST first; PAUSED shown last, unranked.
    let names: Vec<&str> = st.ranked().iter().map(|e| e.lp.as_str()).collect();
    assert_eq!(names, ["FAST", "BIG", "PAUSED"]);
    let (cols, rows) = st.table(200);
    assert_eq!(cols.len(), COLUMNS.len());
    assert_eq!(rows[0][0], "1");
    assert_eq!(rows[2][0], "P");
    // Block (fill 0.4): BIG first.
    let mut st = st;
    assert_eq!(st.on_key(KeyIn::Char('p')), Action::None);
    assert_eq!(st.profile_view().unwrap().name, "Block");
    let names: Vec<&str> = st.ranked().iter().map(|e| e.lp.as_str()).collect();
    assert_eq!(names, ["BIG", "FAST", "PAUSED"]);
}

#[test]
fn keys_cycle_symbol_bucket_profile_and_screens() {
    let mut st = state();
    assert_eq!(st.symbol_name(), "AAA");
    st.on_key(KeyIn::Char('s'));
    assert_eq!(st.symbol_name(), "*");
    st.on_key(KeyIn::Char('s'));
    assert_eq!(st.symbol_name(), "AAA");
    st.on_key(KeyIn::Char('S'));
    assert_eq!(st.symbol_name(), "*");
    st.on_key(KeyIn::Char('b'));
    assert_eq!(st.bucket_name(), "<10000");
    st.on_key(KeyIn::Char('B'));
    assert_eq!(st.bucket_name(), "all");
    st.on_key(KeyIn::Char('P'));
    assert_eq!(st.profile_view().unwrap().name, "BestPrice");
    st.on_key(KeyIn::Down);
    assert_eq!(st.row, 1);
    st.on_key(KeyIn::Enter);
    assert_eq!(st.screen, Screen::Drill);
    st.on_key(KeyIn::Esc);
    assert_eq!(st.screen, Screen::Table);
    st.on_key(KeyIn::Char('?'));
    assert_eq!(st.screen, Screen::Help);
    st.on_key(KeyIn::Char('x'));
    assert_eq!(st.screen, Screen::Table);
    assert_eq!(st.on_key(KeyIn::Char('q')), Action::Quit);
    assert_eq!(st.on_key(KeyIn::Esc), Action::Quit);
    // Selections survive a new read by name.
    st.update(snapshot(10_001 * S));
    assert_eq!(st.symbol_name(), "*");
    assert_eq!(st.profile_view().unwrap().name, "BestPrice");
}

#[test]
fn keys_on_an_empty_board_do_not_panic() {
    let mut st = State::new(false, Transforms::default());
    for k in [
        KeyIn::Char('s'),
        KeyIn::Char('S'),
        KeyIn::Char('b'),
        KeyIn::Char('p'),
        KeyIn::Down,
        KeyIn::Up,
        KeyIn::Enter,
        KeyIn::Char('w'),
        KeyIn::Char('+'),
        KeyIn::Enter,
    ] {
        st.on_key(k);
    }
    assert_eq!(st.screen, Screen::Table);
    assert!(st.table(80).1.is_empty());
}

#[test]
fn editor_steps_types_and_applies() {
    let mut st = state();
    st.on_key(KeyIn::Char('w'));
    assert_eq!(st.screen, Screen::Weights);
    let ed = st.editor.clone().unwrap();
    assert_eq!(ed.profile, "HighFrequency");
    st.on_key(KeyIn::Down); // fill_rate
    st.on_key(KeyIn::Char('+'));
    assert!((st.editor.as_ref().unwrap().weights[1] - 0.20).abs() < 1e-9);
    st.on_key(KeyIn::Char('-'));
    st.on_key(KeyIn::Char('-'));
    assert!((st.editor.as_ref().unwrap().weights[1] - 0.10).abs() < 1e-9);
    // Typed value.
    for c in ['0', '.', '7', '5'] {
        st.on_key(KeyIn::Char(c));
    }
    assert_eq!(st.editor.as_ref().unwrap().input.as_deref(), Some("0.75"));
    st.on_key(KeyIn::Enter);
    assert_eq!(st.editor.as_ref().unwrap().weights[1], 0.75);
    // A bad typed value is refused with a message.
    st.on_key(KeyIn::Char('.'));
    st.on_key(KeyIn::Char('.'));
    st.on_key(KeyIn::Enter);
    let ed = st.editor.clone().unwrap();
    assert_eq!(ed.weights[1], 0.75);
    assert!(ed.message.unwrap().contains("not a weight"));
    // Enter applies every weight by name.
    match st.on_key(KeyIn::Enter) {
        Action::Apply { profile, weights } => {
            assert_eq!(profile, "HighFrequency");
            assert_eq!(weights.len(), 7);
            assert_eq!(weights[1], ("fill_rate", 0.75));
            assert_eq!(weights[0], ("latency", 0.6));
        }
        a => panic!("{a:?}"),
    }
    let w = [0.6, 0.75, 0.1, 0.15, 0.0, 0.0, 0.0, 0.0];
    st.on_applied(Ok((w, true)));
    assert!(
        st.editor
            .as_ref()
            .unwrap()
            .message
            .as_ref()
            .unwrap()
            .contains("persisted")
    );
    st.on_applied(Err("unknown profile".into()));
    assert!(
        st.editor
            .as_ref()
            .unwrap()
            .message
            .as_ref()
            .unwrap()
            .contains("not applied: unknown profile")
    );
    // All-zero weights are never sent.
    st.editor.as_mut().unwrap().weights = [0.0; 8];
    assert_eq!(st.on_key(KeyIn::Enter), Action::None);
    // Esc leaves the editor.
    st.on_key(KeyIn::Esc);
    assert_eq!(st.screen, Screen::Table);
}

#[test]
fn read_only_editor_does_not_apply() {
    let mut st = State::new(false, Transforms::default());
    st.update(snapshot(10_000 * S));
    st.on_key(KeyIn::Char('w'));
    assert_eq!(st.on_key(KeyIn::Enter), Action::None);
    assert!(st.editor.unwrap().message.unwrap().contains("read-only"));
}

#[test]
fn preview_matches_the_engine_score_of_new_weights() {
    let t = Transforms::default();
    let ks = [
        inputs(0.5, 0.55, 0.2, 1.0),
        inputs(30.0, 0.98, 0.5, 0.5),
        inputs(7.0, 0.8, -0.3, 2.0),
    ];
    let rows: Vec<RowEntry> = ks
        .iter()
        .enumerate()
        .map(|(i, k)| RowEntry {
            symbol: 0,
            bucket: 0,
            lp_id: i,
            lp: format!("LP{i}"),
            row: row(k, 10),
        })
        .collect();
    let refs: Vec<&RowEntry> = rows.iter().collect();
    let new_w = [0.05, 0.1, 0.0, 0.05, 0.3, 0.2, 0.3, 0.0];
    let pv = preview(&refs, &profiles(), 0, &new_w, &t);
    assert!(pv.note.is_none(), "{:?}", pv.note);
    assert!(pv.max_residual < 0.01, "{}", pv.max_residual);
    for r in &pv.rows {
        let i: usize = r.lp[2..].parse().unwrap();
        let truth = crate::score::composite(&new_w, &t.normalise(&ks[i]));
        let got = r.score_new.unwrap();
        assert!((got - truth).abs() < 0.01, "{}: {got} vs {truth}", r.lp);
    }
    // The new order is by the new score.
    let s: Vec<f64> = pv.rows.iter().map(|r| r.score_new.unwrap()).collect();
    assert!(s.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(pv.rows[0].rank_new, Some(1));
    // Wrong transform scales are noticed and said, not hidden.
    let wrong = Transforms {
        pi_scale_bps: 0.1,
        ..Transforms::default()
    };
    let pv = preview(&refs, &profiles(), 0, &new_w, &wrong);
    assert!(pv.note.unwrap().contains("approximate"));
}

#[test]
fn preview_says_when_latency_cannot_be_solved() {
    let t = Transforms::default();
    let mut only_fill = profiles();
    only_fill.truncate(1);
    only_fill[0].weights = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    let mut r = row(&inputs(1.0, 0.5, 0.0, 0.0), 5);
    r.scores[0] = 50.0;
    let e = RowEntry {
        symbol: 0,
        bucket: 0,
        lp_id: 0,
        lp: "X".into(),
        row: r,
    };
    let pv = preview(
        &[&e],
        &only_fill,
        0,
        &[1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        &t,
    );
    assert_eq!(pv.rows[0].score_new, None);
    assert!(pv.note.unwrap().contains("latency"));
    // Without latency in the new weights the preview is exact.
    let pv = preview(
        &[&e],
        &only_fill,
        0,
        &[0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        &t,
    );
    assert!(pv.rows[0].score_new.is_some());
}

#[test]
fn history_change_needs_a_minute_and_is_bounded() {
    let mut st = State::new(true, Transforms::default());
    st.history = History::new(S, 5, 100);
    let base = 10_000 * S;
    st.update(snapshot(base));
    let e = st.ranked()[0].clone();
    let key = st.key(&e);
    assert_eq!(st.history.change(&key, 0, base + 30 * S, 60.0), None);
    // Same second: not recorded twice.
    st.update(snapshot(base + S / 2));
    assert_eq!(st.history.samples(&key).count(), 1);
    let then = e.row.scores[0];
    assert_eq!(
        st.history.change(&key, 0, base + 61 * S, then + 2.5),
        Some(2.5)
    );
    for i in 1..20 {
        st.update(snapshot(base + i * 20 * S));
    }
    assert_eq!(st.history.samples(&key).count(), 5);
    let (cols, rows) = st.table(200);
    let chg = cols.iter().position(|c| c.title == "chg1m").unwrap();
    assert_eq!(rows[0][chg], "+0.0");
    let s = st.series().unwrap();
    assert_eq!(s.score.len(), 5);
}

#[test]
fn narrow_terminals_drop_columns_but_keep_lp_and_score() {
    let wide = columns_for(200);
    assert_eq!(wide.len(), COLUMNS.len());
    let c80 = columns_for(80);
    let w: u32 = c80.iter().map(|c| u32::from(c.width) + 1).sum();
    assert!(w - 1 <= 80);
    for t in ["#", "LP", "score", "orders", "chg1m"] {
        assert!(c80.iter().any(|c| c.title == t), "{t}");
    }
    let c20 = columns_for(20);
    assert_eq!(
        c20.iter().map(|c| c.title).collect::<Vec<_>>(),
        ["#", "LP", "score"]
    );
}

fn render(st: &State, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| super::view::draw(f, st)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

#[test]
fn renders_80x24_every_screen() {
    let mut st = state();
    let s = render(&st, 80, 24);
    assert!(s.contains("epoch 3 pid 4242 up 1:02:05 live 12ms"), "{s}");
    assert!(
        s.contains("sym AAA 1/2  size all 1/2  profile HighFrequency 1/3"),
        "{s}"
    );
    assert!(
        s.contains("FAST") && s.contains("BIG") && s.contains("PAUSED"),
        "{s}"
    );
    assert!(s.contains("s/S sym"), "{s}");
    assert_eq!(s.lines().count(), 24);
    st.on_key(KeyIn::Enter);
    let s = render(&st, 80, 24);
    assert!(s.contains("FAST on AAA / all"), "{s}");
    assert!(s.contains("fill rate:") && s.contains("markout:"), "{s}");
    st.on_key(KeyIn::Esc);
    st.on_key(KeyIn::Char('w'));
    let s = render(&st, 80, 24);
    assert!(s.contains("weights: HighFrequency"), "{s}");
    assert!(s.contains("preview AAA/all"), "{s}");
    st.on_key(KeyIn::Char('?'));
    let s = render(&st, 80, 24);
    assert!(s.contains("help"), "{s}");
    // Stale banner.
    let mut snap = snapshot(12_000 * S);
    snap.live = Some(Live::Stale(5_000));
    st.update(snap);
    st.on_key(KeyIn::Esc);
    let s = render(&st, 80, 24);
    assert!(s.contains("STALE: no writer heartbeat for 5.0 s"), "{s}");
    // A narrow terminal: fewer columns, the terse footer.
    st.on_key(KeyIn::Esc);
    assert_eq!(st.screen, Screen::Table);
    let s = render(&st, 50, 20);
    assert!(
        s.contains("?help q") && s.contains("FAST") && !s.contains("ack50us"),
        "{s}"
    );
    assert!(s.lines().all(|l| l.chars().count() == 50), "{s}");
    // Tiny and huge terminals: no panic.
    for (w, h) in [(20, 5), (1, 1), (250, 80)] {
        render(&st, w, h);
    }
}

#[test]
fn embedded_console_has_the_hosts_title_log_and_footer() {
    let mut st = state();
    assert!(st.select_profile("Block") && st.profile_view().unwrap().name == "Block");
    assert!(!st.select_profile("NoSuchProfile"));
    let plain = render(&st, 80, 24);
    st.embed = Some(Embed {
        title: "lpscore demo  run 1/2: scorecard routing (Block)  sim 12:00".into(),
        log: (1..=9).map(|i| format!("log line {i}")).collect(),
    });
    let s = render(&st, 80, 24);
    let lines: Vec<&str> = s.lines().collect();
    assert!(lines[0].starts_with("lpscore demo  run 1/2"), "{s}");
    assert!(lines[1].contains("epoch 3 pid 4242"), "{s}");
    // The last four log lines, under the table; the older ones are not shown.
    for i in 6..=9 {
        assert!(s.contains(&format!("log line {i}")), "{s}");
    }
    assert!(!s.contains("log line 5"), "{s}");
    let log_at = s.find(" log ").unwrap();
    assert!(s.find("FAST").unwrap() < log_at, "{s}");
    assert!(lines[23].contains("q leave console"), "{s}");
    assert!(!plain.contains("leave console") && !plain.contains(" log "));
    // Other screens keep their own footers; small terminals drop the log, never panic.
    st.on_key(KeyIn::Char('w'));
    assert!(render(&st, 80, 24).contains("Enter apply"));
    let s = render(&st, 60, 12);
    assert!(!s.contains("log line"), "{s}");
    for (w, h) in [(20, 5), (1, 1), (250, 80)] {
        render(&st, w, h);
    }
}

#[test]
fn no_board_is_shown_not_fatal() {
    let mut r = super::app::BoardReader::new(std::env::temp_dir().join("lpscore-no-such-board.sb"));
    let snap = r.read(5, None);
    assert!(matches!(snap.live, Some(Live::NoBoard(_))));
    let mut st = State::new(false, Transforms::default());
    st.update(snap);
    let s = render(&st, 80, 24);
    assert!(s.contains("no scoreboard:"), "{s}");
}

#[test]
fn reads_a_live_board_like_dump() {
    use lpscore_shm::{BucketSlot, ProfileId, Writer, WriterOptions};
    let path = std::env::temp_dir().join(format!("lpscore-console-read-{}.sb", std::process::id()));
    let mut w = Writer::create(&path, &WriterOptions::default()).unwrap();
    let a = w.add_lp("LP_A").unwrap();
    let b = w.add_lp("LP_B").unwrap();
    let s = w.add_symbol("EURUSD").unwrap();
    w.set_profile(
        ProfileId::new(0),
        "HighFrequency",
        [0.6, 0.15, 0.1, 0.15, 0.0, 0.0, 0.0, 0.0],
        true,
    )
    .unwrap();
    let mut r = row(&inputs(1.0, 0.9, 0.1, 0.2), 7);
    w.publish(s, BucketSlot::All, a, &r).unwrap();
    r.scores[0] = 99.0;
    w.publish(s, BucketSlot::Bucket(1), b, &r).unwrap();
    w.heartbeat();
    let mut reader = super::app::BoardReader::new(path.clone());
    let snap = reader.read(1, None);
    assert!(matches!(snap.live, Some(Live::Live(_))), "{:?}", snap.live);
    assert_eq!(snap.symbols, ["EURUSD", "*"]);
    assert_eq!(snap.buckets[0], "all");
    assert_eq!(snap.profiles.len(), 1);
    assert_eq!(snap.rows.len(), 2);
    assert!(snap.start_wall_ns.unwrap() > 0);
    let mut st = State::new(false, Transforms::default());
    st.update(snap);
    assert_eq!(st.ranked().len(), 1);
    assert_eq!(st.ranked()[0].lp, "LP_A");
    drop(w);
    let _ = std::fs::remove_file(&path);
    let mut l = path.into_os_string();
    l.push(".lock");
    let _ = std::fs::remove_file(l);
}

#[test]
fn a_restarted_writer_is_followed_to_its_new_epoch() {
    use lpscore_shm::{BucketSlot, Writer, WriterOptions};
    let path =
        std::env::temp_dir().join(format!("lpscore-console-restart-{}.sb", std::process::id()));
    let mut w = Writer::create(&path, &WriterOptions::default()).unwrap();
    let a = w.add_lp("LP_A").unwrap();
    let s = w.add_symbol("EURUSD").unwrap();
    w.publish(s, BucketSlot::All, a, &row(&inputs(1.0, 0.9, 0.1, 0.2), 7))
        .unwrap();
    let mut reader = super::app::BoardReader::new(path.clone());
    let first = reader.read(1, None);
    assert_eq!(first.rows.len(), 1);
    w.stop();
    drop(w);
    let stopped = reader.read(2, None);
    assert_eq!(stopped.live, Some(Live::Stopped));
    assert!(
        stopped
            .live
            .as_ref()
            .unwrap()
            .banner()
            .unwrap()
            .contains("STOPPED")
    );
    let mut w = Writer::create(&path, &WriterOptions::default()).unwrap();
    let b = w.add_lp("LP_B").unwrap();
    let s = w.add_symbol("EURUSD").unwrap();
    w.publish(s, BucketSlot::All, b, &row(&inputs(1.0, 0.9, 0.1, 0.2), 9))
        .unwrap();
    w.heartbeat();
    let again = reader.read(3, None);
    assert!(
        again.epoch > first.epoch,
        "{} -> {}",
        first.epoch,
        again.epoch
    );
    assert!(
        matches!(again.live, Some(Live::Live(_))),
        "{:?}",
        again.live
    );
    drop(w);
    let _ = std::fs::remove_file(&path);
    let mut l = path.into_os_string();
    l.push(".lock");
    let _ = std::fs::remove_file(l);
}
