//! Encode/parse round trips of every typed view: messages generated from each view's schema are
//! parsed (view 1), encoded, parsed again (view 2): view 1 == view 2, and encoding is stable.

use lpscore::fix::*;
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum K {
    Str,
    U64,
    U32,
    Char,
    Bool,
    Fixed,
    Ts,
    Side,
    Date,
    Time,
}

const HEADER: &[(u32, K, bool)] = &[
    (49, K::Str, true),
    (56, K::Str, true),
    (115, K::Str, false),
    (128, K::Str, false),
    (34, K::U64, true),
    (43, K::Bool, false),
    (97, K::Bool, false),
    (52, K::Ts, true),
    (122, K::Ts, false),
];

fn schema(mt: &str) -> Vec<(u32, K, bool)> {
    use K::*;
    match mt {
        "D" => vec![
            (1, Str, false),
            (11, Str, true),
            (55, Str, true),
            (54, Side, true),
            (60, Ts, false),
            (38, Fixed, true),
            (40, Char, true),
            (44, Fixed, false),
            (59, Char, false),
            (100, Str, false),
            (58, Str, false),
        ],
        "8" => vec![
            (37, Str, true),
            (11, Str, false),
            (41, Str, false),
            (17, Str, true),
            (20, Char, false),
            (19, Str, false),
            (150, Char, true),
            (39, Char, true),
            (103, U32, false),
            (55, Str, true),
            (54, Side, true),
            (38, Fixed, false),
            (40, Char, false),
            (44, Fixed, false),
            (59, Char, false),
            (100, Str, false),
            (32, Fixed, false),
            (31, Fixed, false),
            (30, Str, false),
            (151, Fixed, true),
            (14, Fixed, true),
            (6, Fixed, false),
            (60, Ts, false),
            (58, Str, false),
        ],
        "F" => vec![
            (41, Str, true),
            (37, Str, false),
            (11, Str, true),
            (55, Str, true),
            (54, Side, true),
            (60, Ts, false),
            (38, Fixed, false),
            (58, Str, false),
        ],
        "G" => vec![
            (37, Str, false),
            (41, Str, true),
            (11, Str, true),
            (55, Str, true),
            (54, Side, true),
            (60, Ts, false),
            (38, Fixed, true),
            (40, Char, true),
            (44, Fixed, false),
            (59, Char, false),
            (100, Str, false),
            (58, Str, false),
        ],
        "9" => vec![
            (37, Str, true),
            (11, Str, true),
            (41, Str, false),
            (39, Char, true),
            (434, Char, true),
            (102, U32, false),
            (58, Str, false),
        ],
        "j" => vec![
            (45, U64, false),
            (372, Str, true),
            (379, Str, false),
            (380, U32, true),
            (58, Str, false),
        ],
        "3" => vec![
            (45, U64, true),
            (371, U32, false),
            (372, Str, false),
            (373, U32, false),
            (58, Str, false),
        ],
        "A" => vec![
            (98, U32, true),
            (108, U32, true),
            (141, Bool, false),
            (553, Str, false),
            (554, Str, false),
            (1137, Str, true),
        ],
        "0" => vec![(112, Str, false)],
        "1" => vec![(112, Str, true)],
        "2" => vec![(7, U64, true), (16, U64, true)],
        "4" => vec![(123, Bool, false), (36, U64, true)],
        "5" => vec![(58, Str, false)],
        "W" => vec![(262, Str, false), (55, Str, true)],
        "X" => vec![(262, Str, false)],
        _ => unreachable!(),
    }
}

fn gen_value(k: K) -> BoxedStrategy<String> {
    match k {
        K::Str => "[A-Za-z0-9/._:-][A-Za-z0-9/._:= -]{0,15}".boxed(),
        K::U64 => any::<u64>().prop_map(|v| v.to_string()).boxed(),
        K::U32 => any::<u32>().prop_map(|v| v.to_string()).boxed(),
        K::Char => "[0-9A-Z]".boxed(),
        K::Side => "[1-9]".boxed(),
        K::Bool => prop_oneof![Just("Y".to_string()), Just("N".to_string())].boxed(),
        K::Fixed => (any::<i64>(), 0u32..=8, 0usize..3)
            .prop_map(|(v, dec, zeros)| {
                let neg = v < 0;
                let m = v.unsigned_abs() / 10u64.pow(8 - dec) * 10u64.pow(8 - dec);
                let (i, f) = (m / 100_000_000, m % 100_000_000);
                let mut s = format!("{}{i}", if neg && m != 0 { "-" } else { "" });
                if dec > 0 {
                    s += &format!(".{f:08}")[..dec as usize + 1];
                    s += &"0".repeat(zeros);
                }
                s
            })
            .boxed(),
        K::Ts => (0i64..9_000_000_000, 0u32..1_000_000_000, 0usize..4)
            .prop_map(|(secs, ns, prec)| {
                let days = secs / 86_400;
                let (y, m, d) = lpscore::fix::num::civil_from_days(days);
                let t = secs % 86_400;
                let base = format!(
                    "{y:04}{m:02}{d:02}-{:02}:{:02}:{:02}",
                    t / 3600,
                    t / 60 % 60,
                    t % 60
                );
                match prec {
                    0 => base,
                    1 => format!("{base}.{:03}", ns / 1_000_000),
                    2 => format!("{base}.{:06}", ns / 1_000),
                    _ => format!("{base}.{ns:09}"),
                }
            })
            .boxed(),
        K::Date => (0i64..100_000)
            .prop_map(|d| {
                let (y, m, dd) = lpscore::fix::num::civil_from_days(d);
                format!("{y:04}{m:02}{dd:02}")
            })
            .boxed(),
        K::Time => (0u32..86_400, 0u32..1000)
            .prop_map(|(t, ms)| format!("{:02}:{:02}:{:02}.{ms:03}", t / 3600, t / 60 % 60, t % 60))
            .boxed(),
    }
}

fn gen_fields(list: Vec<(u32, K, bool)>) -> BoxedStrategy<Vec<(u32, String)>> {
    let parts: Vec<BoxedStrategy<Option<(u32, String)>>> = list
        .into_iter()
        .map(|(t, k, req)| {
            if req {
                gen_value(k).prop_map(move |v| Some((t, v))).boxed()
            } else {
                prop::option::of(gen_value(k).prop_map(move |v| (t, v))).boxed()
            }
        })
        .collect();
    parts
        .prop_map(|v| v.into_iter().flatten().collect())
        .boxed()
}

fn md_entries(incremental: bool) -> BoxedStrategy<Vec<(u32, String)>> {
    let entry = (
        "[0-2]",
        "[0-2]",
        prop::option::of(gen_value(K::Fixed)),
        prop::option::of(gen_value(K::Fixed)),
        prop::option::of((gen_value(K::Date), gen_value(K::Time))),
        prop::option::of(gen_value(K::Str)),
    );
    prop::collection::vec(entry, 0..6)
        .prop_map(move |es| {
            let mut out = vec![(268, es.len().to_string())];
            for (action, ty, px, sz, dt, sym) in es {
                if incremental {
                    out.push((279, action));
                }
                out.push((269, ty));
                if incremental {
                    if let Some(s) = sym {
                        out.push((55, s));
                    }
                }
                if let Some(p) = px {
                    out.push((270, p));
                }
                if let Some(s) = sz {
                    out.push((271, s));
                }
                if let Some((d, t)) = dt {
                    out.push((272, d));
                    out.push((273, t));
                }
            }
            out
        })
        .boxed()
}

fn message() -> impl Strategy<Value = (String, Vec<u8>)> {
    let mts = [
        "D", "8", "F", "G", "9", "j", "3", "A", "0", "1", "2", "4", "5", "W", "X",
    ];
    (
        prop::sample::select(mts.to_vec()),
        prop::sample::select(vec!["FIX.4.2", "FIX.4.4", "FIXT.1.1"]),
    )
        .prop_flat_map(|(mt, begin)| {
            let md = match mt {
                "W" => md_entries(false),
                "X" => md_entries(true),
                _ => Just(vec![]).boxed(),
            };
            (
                Just(mt),
                Just(begin),
                gen_fields(HEADER.to_vec()),
                gen_fields(schema(mt)),
                md,
            )
        })
        .prop_map(|(mt, begin, h, b, md)| {
            let mut body = format!("35={mt}\x01");
            for (t, v) in h.iter().chain(&b).chain(&md) {
                if t == &1137 && begin != "FIXT.1.1" {
                    continue;
                }
                body += &format!("{t}={v}\x01");
            }
            let mut m = format!("8={begin}\x019={}\x01{body}", body.len()).into_bytes();
            let cs = m.iter().map(|&c| u32::from(c)).sum::<u32>() % 256;
            m.extend_from_slice(format!("10={cs:03}\x01").as_bytes());
            (mt.to_string(), m)
        })
}

macro_rules! rt {
    ($m:expr, $T:ident) => {{
        let v1 = $T::from_message($m).map_err(|e| TestCaseError::fail(format!("view 1: {e}")))?;
        let mut enc = Encoder::new();
        let bytes = enc.encode(&v1).to_vec();
        let mut p = Parser::new(FramerConfig::default());
        let m2 = p
            .parse(&bytes)
            .map_err(|e| TestCaseError::fail(format!("reparse: {e}")))?;
        let v2 = $T::from_message(&m2).map_err(|e| TestCaseError::fail(format!("view 2: {e}")))?;
        prop_assert_eq!(&v1, &v2);
        let bytes2 = enc.encode(&v2).to_vec();
        prop_assert_eq!(bytes, bytes2);
    }};
}

/// `m` with byte `at` of its body replaced by `b` and the CheckSum fixed (the layout may change).
fn mutate(m: &[u8], at: usize, b: u8) -> Vec<u8> {
    let mut m = m.to_vec();
    let body = m.windows(4).position(|w| w == b"\x0135=").unwrap() + 1;
    let trailer = m.len() - 7;
    let at = body + at % (trailer - body);
    if m[at] != 1 && b != 1 {
        m[at] = b;
    }
    let cs = m[..trailer].iter().map(|&c| u32::from(c)).sum::<u32>() % 256;
    m[trailer + 3..trailer + 6].copy_from_slice(format!("{cs:03}").as_bytes());
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// A parser that has seen the layout (tags recognised from its hints, views filled from a
    /// plan) gives the same views and errors as a fresh one, also when a byte of the message
    /// changed since (a malformed value, another tag).
    #[test]
    fn warm_parser_agrees_with_fresh((_mt, bytes) in message(), at in any::<usize>(), b in any::<u8>()) {
        let mut warm = Parser::new(FramerConfig::default());
        let changed = mutate(&bytes, at, b);
        for m in [&bytes, &bytes, &changed, &bytes, &changed] {
            let mut fresh = Parser::new(FramerConfig::default());
            let want = fresh.parse(m).map(|x| (x.fields().collect::<Vec<_>>(), x.typed()));
            let got = warm.parse(m).map(|x| (x.fields().collect::<Vec<_>>(), x.typed()));
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn typed_views_round_trip((mt, bytes) in message()) {
        let mut p = Parser::new(FramerConfig::default());
        let m = p.parse(&bytes).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let typed = m.typed().map_err(|e| TestCaseError::fail(format!("{mt}: {e}")))?;
        prop_assert!(!matches!(typed, Typed::Other(_)));
        match mt.as_str() {
            "D" => rt!(&m, NewOrderSingle),
            "8" => rt!(&m, ExecutionReport),
            "F" => rt!(&m, OrderCancelRequest),
            "G" => rt!(&m, OrderCancelReplaceRequest),
            "9" => rt!(&m, OrderCancelReject),
            "j" => rt!(&m, BusinessMessageReject),
            "3" => rt!(&m, Reject),
            "A" => rt!(&m, Logon),
            "0" => rt!(&m, Heartbeat),
            "1" => rt!(&m, TestRequest),
            "2" => rt!(&m, ResendRequest),
            "4" => rt!(&m, SequenceReset),
            "5" => rt!(&m, Logout),
            "W" => {
                let w = MarketDataSnapshot::from_message(&m).unwrap();
                for e in w.entries.iter() {
                    prop_assert!(e.is_ok(), "{:?}", e);
                }
                rt!(&m, MarketDataSnapshot)
            }
            "X" => rt!(&m, MarketDataIncremental),
            _ => unreachable!(),
        }
    }

    #[test]
    fn hand_built_execution_reports_round_trip(
        seq in 1u64..u64::MAX / 2,
        px in any::<i64>(),
        qty in any::<i64>(),
        ts in 0i64..9_000_000_000_000_000_000,
        id in "[A-Z0-9-]{1,20}",
        text in prop::option::of("[ -~]{1,40}".prop_filter("no pipe", |s| !s.contains('|'))),
    ) {
        let er = ExecutionReport {
            header: Header::new(BeginString::Fix44, b"LP", b"ME", seq, UtcTimestamp(ts)),
            order_id: id.as_bytes(),
            cl_ord_id: Some(b"C1"),
            orig_cl_ord_id: None,
            exec_id: id.as_bytes(),
            exec_trans_type: None,
            exec_ref_id: None,
            exec_type: b'F',
            ord_status: b'1',
            ord_rej_reason: None,
            symbol: b"EUR/USD",
            side: Side::Sell,
            order_qty: Some(Qty(qty)),
            ord_type: Some(b'2'),
            price: Some(Price(px)),
            time_in_force: None,
            ex_destination: None,
            last_qty: Some(Qty(qty)),
            last_px: Some(Price(px)),
            last_mkt: None,
            leaves_qty: Qty(0),
            cum_qty: Qty(qty),
            avg_px: Some(Price(px)),
            transact_time: Some(UtcTimestamp(ts)),
            text: text.as_deref().map(str::as_bytes),
            raw: Raw::default(),
        };
        let mut enc = Encoder::new();
        let bytes = enc.encode_with_extra(&er, &[(7001, b"1.0835"), (7002, b"1.0836")]).to_vec();
        let mut p = Parser::new(FramerConfig::default());
        let m = p.parse(&bytes).unwrap();
        let back = ExecutionReport::from_message(&m).unwrap();
        prop_assert_eq!(back, er);
        prop_assert_eq!(back.get(7002), Some(&b"1.0836"[..]));
    }
}

#[test]
fn fix42_exec_trans_type_maps_to_fix44_meaning() {
    let mk = |begin: &str, extra: &str| {
        let body = format!(
            "35=8\x0149=A\x0156=B\x0134=2\x0152=20240102-03:04:05\x0137=O\x0117=E\x01{extra}39=1\x0155=X\x0154=1\x01151=0\x0114=1\x01"
        );
        let mut m = format!("8={begin}\x019={}\x01{body}", body.len()).into_bytes();
        let cs = m.iter().map(|&c| u32::from(c)).sum::<u32>() % 256;
        m.extend_from_slice(format!("10={cs:03}\x01").as_bytes());
        m
    };
    let cases = [
        ("FIX.4.2", "20=0\x01150=1\x01", ExecType::Trade),
        ("FIX.4.2", "20=0\x01150=2\x01", ExecType::Trade),
        ("FIX.4.2", "20=1\x01150=2\x01", ExecType::TradeCancel),
        ("FIX.4.2", "20=2\x01150=2\x01", ExecType::TradeCorrect),
        ("FIX.4.2", "20=0\x01150=4\x01", ExecType::Canceled),
        ("FIX.4.4", "150=F\x01", ExecType::Trade),
        ("FIX.4.4", "150=H\x0119=E0\x01", ExecType::TradeCancel),
        ("FIX.4.4", "150=G\x0119=E0\x01", ExecType::TradeCorrect),
        ("FIXT.1.1", "150=F\x01", ExecType::Trade),
    ];
    for (begin, extra, want) in cases {
        let bytes = mk(begin, extra);
        let mut p = Parser::new(FramerConfig::default());
        let m = p.parse(&bytes).unwrap();
        let er = ExecutionReport::from_message(&m).unwrap();
        assert_eq!(er.exec_kind(), want, "{begin} {extra:?}");
    }
}

#[test]
fn fixt_logon_requires_default_appl_ver_id() {
    let hb = Logon {
        header: Header::new(BeginString::Fixt11, b"A", b"B", 1, UtcTimestamp(0)),
        encrypt_method: 0,
        heart_bt_int: 30,
        reset_seq_num_flag: Some(true),
        username: None,
        password: None,
        default_appl_ver_id: None,
        next_expected_msg_seq_num: Some(17),
        raw: Raw::default(),
    };
    let mut enc = Encoder::new();
    let bytes = enc.encode(&hb).to_vec();
    let mut p = Parser::new(FramerConfig::default());
    let m = p.parse(&bytes).unwrap();
    assert_eq!(Logon::from_message(&m).unwrap_err().tag, 1137);
    let ok = Logon {
        default_appl_ver_id: Some(b"9"),
        ..hb
    };
    let bytes = enc.encode(&ok).to_vec();
    let m = p.parse(&bytes).unwrap();
    assert_eq!(Logon::from_message(&m).unwrap(), ok);
}

#[test]
fn market_data_entries() {
    let entries = [
        MdEntry {
            entry_type: Some(MdEntryType::Bid),
            px: Some(Price(108_090_000)),
            size: Some(Qty::from_units(1_000_000)),
            ..MdEntry::default()
        },
        MdEntry {
            entry_type: Some(MdEntryType::Offer),
            px: Some(Price(108_100_000)),
            size: Some(Qty::from_units(2_000_000)),
            date: Some(UtcDate(19_797)),
            time: Some(UtcTimeOnly(52_218_123_000_000)),
            ..MdEntry::default()
        },
    ];
    let w = MarketDataSnapshot {
        header: Header::new(BeginString::Fix44, b"MD", b"ME", 9, UtcTimestamp(1)),
        md_req_id: None,
        symbol: b"EUR/USD",
        entries: MdEntries::Slice(&entries),
        raw: Raw::default(),
    };
    let mut enc = Encoder::new();
    let bytes = enc.encode(&w).to_vec();
    let mut p = Parser::new(FramerConfig::default());
    let m = p.parse(&bytes).unwrap();
    let back = MarketDataSnapshot::from_message(&m).unwrap();
    assert_eq!(back, w);
    let got: Vec<MdEntry<'_>> = back.entries.iter().map(Result::unwrap).collect();
    assert_eq!(got, entries);
    assert_eq!(
        got[1].timestamp(),
        Some(UtcTimestamp(
            19_797 * 86_400_000_000_000 + 52_218_123_000_000
        ))
    );
}
