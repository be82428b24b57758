//! Unit tests of the codec (integration tests: tests/fix_*.rs).
use super::message::TagHints;
use super::*;

const ER: &str = "8=FIX.4.4|9=240|35=8|49=LPBANK01|56=BUYSIDE1|34=100123|52=20240315-14:30:18.123|37=ORD-7F3A9C9C|11=CL000123|17=E99812468|150=F|39=1|55=EUR/USD|54=1|38=5000000|44=1.08099|32=250000|31=1.08099|151=4750000|14=250000|6=1.08099|60=20240315-14:30:18.123|30=XLON|10=208|";

/// Replaces `|` by SOH and fixes BodyLength and CheckSum.
pub(crate) fn fix_up(s: &str) -> Vec<u8> {
    let s = s.replace('|', "\x01");
    let b = s.as_bytes();
    let body_start = b.windows(3).position(|w| w == b"35=").unwrap();
    let trailer = b.windows(4).rposition(|w| w == b"\x0110=").unwrap() + 1;
    let head_end = b[..body_start].iter().position(|&c| c == 1).unwrap() + 1;
    let mut out = b[..head_end].to_vec();
    out.extend_from_slice(format!("9={}\x01", trailer - body_start).as_bytes());
    out.extend_from_slice(&b[body_start..trailer]);
    let cs: u32 = out.iter().map(|&c| u32::from(c)).sum::<u32>() % 256;
    out.extend_from_slice(format!("10={cs:03}\x01").as_bytes());
    out
}

#[test]
fn parses_the_bench_message() {
    let m = fix_up(ER);
    let mut p = Parser::new(FramerConfig::default());
    let msg = p.parse(&m).unwrap();
    let er = ExecutionReport::from_message(&msg).unwrap();
    assert_eq!(er.header.sender_comp_id, b"LPBANK01");
    assert_eq!(er.header.msg_seq_num, 100_123);
    assert_eq!(er.exec_kind(), ExecType::Trade);
    assert_eq!(er.last_px, Some(Price(108_099_000)));
    assert_eq!(er.leaves_qty, Qty::from_units(4_750_000));
    assert_eq!(er.get(30), Some(&b"XLON"[..]));
    let mut enc = Encoder::new();
    let bytes = enc.encode(&er).to_vec();
    let mut p2 = Parser::new(FramerConfig::default());
    let msg2 = p2.parse(&bytes).unwrap();
    assert_eq!(ExecutionReport::from_message(&msg2).unwrap(), er);
}

/// Indexes `m[s..e]` with the SIMD scanner or the portable one.
fn index(
    m: &[u8],
    s: usize,
    e: usize,
    hints: &mut TagHints,
    swar: bool,
) -> Result<Vec<Field>, ParseError> {
    let mut out = vec![Field::default(); (e - s) / 4 + 1];
    let n = if swar {
        scan::index_fields_swar(m, s, e, false, &mut out, hints)?
    } else {
        scan::index_fields(scan::Indexer::detect(), m, s, e, false, &mut out, hints)?
    };
    out.truncate(n);
    Ok(out)
}

#[test]
fn scanners_agree() {
    let m = fix_up(ER);
    let f = frame_one(&m, &FramerConfig::default()).unwrap();
    let (s, e) = (f.body_start as usize, f.trailer_start as usize);
    let (mut ha, mut hb) = (TagHints::default(), TagHints::default());
    // Twice: cold hints, then every tag recognised from the hints.
    for _ in 0..2 {
        let a = index(&m, s, e, &mut ha, false).unwrap();
        let b = index(&m, s, e, &mut hb, true).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 21);
    }
}

/// A body followed by fewer than 7 bytes (only direct callers of the indexer; a frame always has
/// its trailer) indexes from a padded copy: the same fields and errors as in its frame.
#[test]
fn bodies_without_a_trailer_index_the_same() {
    let msgs = [
        ER,
        "8=FIX.4.4|9=0|35=0|49=A|56=B|34=|10=000|",
        "8=FIX.4.4|9=0|35=0|49=A|56=B|35=1|10=000|",
        "8=FIX.4.4|9=0|35=0|1234567=A|12345678=B|123456789=C|10=000|",
    ];
    for (k, m) in msgs.iter().enumerate() {
        let m = fix_up(m);
        let f = frame_one(&m, &FramerConfig::default()).unwrap();
        let (s, e) = (f.body_start as usize, f.trailer_start as usize);
        let mut warm = TagHints::default();
        for round in 0..2 {
            for cut in e..e + 7 {
                for swar in [false, true] {
                    let framed = index(&m, s, e, &mut TagHints::default(), swar);
                    let bare = index(&m[..cut], s, e, &mut warm, swar);
                    assert_eq!(framed, bare, "message {k} round {round} cut {cut}");
                }
            }
        }
    }
}

/// Tag hints left by one layout never change what another message indexes to, nor its errors.
#[test]
fn tag_hints_never_change_results() {
    let msgs = [
        ER,
        "8=FIX.4.4|9=0|35=0|49=A|56=B|34=1|52=20240101-00:00:00|95=5|96=a|b|c|10=000|",
        "8=FIX.4.4|9=0|35=0|4=A|5=B|3=1|5=20240101-00:00:00|10=000|",
        "8=FIX.4.4|9=0|35=0|490=A|560=B|341=1|520=20240101-00:00:00|10=000|",
        "8=FIX.4.4|9=0|35=0|49=A|56=B|34=1|0520=x|10=000|",
        "8=FIX.4.4|9=0|35=0|1234567=A|12345678=B|123456789=C|10=000|",
        "8=FIX.4.4|9=0|35=0|1234567=A|1234567|12345678=B|10=000|",
        "8=FIX.4.4|9=0|35=0|49=A|56=B|34=|10=000|",
        "8=FIX.4.4|9=0|35=0|49=A|56=B|35=1|10=000|",
    ];
    let frames: Vec<Vec<u8>> = msgs.iter().map(|m| fix_up(m)).collect();
    let mut warm = TagHints::default();
    for round in 0..3 {
        for (k, m) in frames.iter().enumerate() {
            let f = frame_one(m, &FramerConfig::default()).unwrap();
            let (s, e) = (f.body_start as usize, f.trailer_start as usize);
            let ra = index(m, s, e, &mut TagHints::default(), false);
            let rb = index(m, s, e, &mut warm, false);
            let rc = index(m, s, e, &mut warm, true);
            assert_eq!(ra, rb, "round {round} message {k}");
            assert_eq!(ra, rc, "round {round} message {k}");
        }
    }
}

#[test]
fn data_fields_may_hold_soh() {
    let m = fix_up("8=FIX.4.4|9=0|35=0|49=A|56=B|34=1|52=20240101-00:00:00|95=5|96=a|b|c|10=000|");
    let mut p = Parser::new(FramerConfig::default());
    let msg = p.parse(&m).unwrap();
    assert_eq!(msg.get(96), Some(&b"a\x01b\x01c"[..]));
    let hb = Heartbeat::from_message(&msg).unwrap();
    assert_eq!(hb.test_req_id, None);
}

#[test]
fn frames_are_slices_of_the_callers_chunk_and_only_straddlers_are_copied() {
    let one = fix_up(ER);
    let mut stream = Vec::new();
    for _ in 0..3 {
        stream.extend_from_slice(&one);
    }
    let mut framer = Framer::new(FramerConfig::default());
    // Whole messages in one chunk: every frame points into the chunk, nothing is buffered.
    let mut frames = framer.feed(&stream);
    let mut n = 0;
    while let Some(f) = frames.next_frame() {
        let f = f.unwrap();
        let at = f.bytes.as_ptr() as usize - stream.as_ptr() as usize;
        assert_eq!(at, n * one.len());
        n += 1;
    }
    drop(frames);
    assert_eq!((n, framer.buffered()), (3, 0));
    // A cut in the middle of the second message: only that one is copied (and handed out from
    // the reassembly buffer); the third comes from the second chunk in place.
    let cut = one.len() + 100;
    let (a, b) = stream.split_at(cut);
    let mut frames = framer.feed(a);
    let f = frames.next_frame().unwrap().unwrap();
    assert_eq!(f.bytes.as_ptr(), a.as_ptr());
    assert!(frames.next_frame().is_none());
    drop(frames);
    assert_eq!(framer.buffered(), 100);
    let mut frames = framer.feed(b);
    let f = frames.next_frame().unwrap().unwrap();
    assert_eq!(f.bytes, &one[..]);
    assert!(!b.as_ptr_range().contains(&f.bytes.as_ptr()));
    let f = frames.next_frame().unwrap().unwrap();
    assert_eq!(
        f.bytes.as_ptr() as usize,
        b.as_ptr() as usize + (one.len() - 100)
    );
    assert!(frames.next_frame().is_none());
    drop(frames);
    assert_eq!(framer.buffered(), 0);
}

/// Message types alternate on one parser (as in the engine): each MsgType keeps its own tag
/// layout hints and view plans, and results are always those of a fresh parser, also when a
/// layout changes at a position, when one layout is a prefix of another, and for bad messages
/// whose tags all match the hints.
#[test]
fn per_msg_type_hints_alternate_and_never_change_results() {
    let er_new = "8=FIX.4.4|9=0|35=8|49=LP|56=SOR|34=7|52=20240315-14:30:18.123|37=O1|11=C1|17=E1|150=0|39=0|55=EUR/USD|54=1|151=100|14=0|10=000|";
    // The fill adds two fields at the end: the new layout is a prefix of it.
    let er_fill = "8=FIX.4.4|9=0|35=8|49=LP|56=SOR|34=8|52=20240315-14:30:18.124|37=O1|11=C1|17=E2|150=F|39=2|55=EUR/USD|54=1|151=0|14=100|32=100|31=1.08099|10=000|";
    // Another layout of the same type: position 7 holds 41 instead of 17 (and 17 moves on).
    let er_other = "8=FIX.4.4|9=0|35=8|49=LP|56=SOR|34=9|52=20240315-14:30:18.125|37=O1|11=C2|41=C1|17=E3|150=5|39=0|55=EUR/USD|54=1|151=100|14=0|10=000|";
    let nos = "8=FIX.4.4|9=0|35=D|49=SOR|56=LP|34=10|52=20240315-14:30:18.126|11=C3|55=EUR/USD|54=2|38=5000|40=2|44=1.1|59=3|100=LP|10=000|";
    let md = "8=FIX.4.4|9=0|35=W|49=MD|56=SOR|34=11|52=20240315-14:30:18.127|55=EUR/USD|268=2|269=0|270=1.08|269=1|270=1.09|10=000|";
    let cancel = "8=FIX.4.4|9=0|35=F|49=SOR|56=LP|34=12|52=20240315-14:30:18.128|41=C3|11=C4|55=EUR/USD|54=2|10=000|";
    let reject = "8=FIX.4.4|9=0|35=9|49=LP|56=SOR|34=13|52=20240315-14:30:18.129|37=O2|11=C4|41=C3|39=8|434=1|58=too late|10=000|";
    let heartbeat = "8=FIX.4.4|9=0|35=0|49=LP|56=SOR|34=14|52=20240315-14:30:18.130|10=000|";
    // A two-character MsgType (the shared set) and an unknown one.
    let other = "8=FIX.4.4|9=0|35=AE|49=LP|56=SOR|34=15|52=20240315-14:30:18.131|571=R1|10=000|";
    // Bad messages whose tags all match the hints of a valid layout above.
    let er_bad_px = "8=FIX.4.4|9=0|35=8|49=LP|56=SOR|34=8|52=20240315-14:30:18.124|37=O1|11=C1|17=E2|150=F|39=2|55=EUR/USD|54=1|151=0|14=100|32=100|31=1.0x099|10=000|";
    let er_missing = "8=FIX.4.4|9=0|35=8|49=LP|56=SOR|34=7|52=20240315-14:30:18.123|37=O1|11=C1|17=E1|150=0|39=0|55=EUR/USD|54=1|151=100|10=000|";
    let er_dup = "8=FIX.4.4|9=0|35=8|49=LP|56=SOR|34=7|52=20240315-14:30:18.123|37=O1|11=C1|17=E1|150=0|39=0|55=EUR/USD|54=1|151=100|151=100|10=000|";
    let er_dup35 = "8=FIX.4.4|9=0|35=8|49=LP|56=SOR|34=7|52=20240315-14:30:18.123|35=O1|11=C1|17=E1|150=0|39=0|55=EUR/USD|54=1|151=100|14=0|10=000|";
    let er_empty = "8=FIX.4.4|9=0|35=8|49=LP|56=SOR|34=7|52=20240315-14:30:18.123|37=|11=C1|17=E1|150=0|39=0|55=EUR/USD|54=1|151=100|14=0|10=000|";
    let valid = [
        er_new, er_fill, er_other, nos, md, cancel, reject, heartbeat, other,
    ];
    // (Index errors: a 35 at a hinted position, an empty value.)
    let bad = [er_bad_px, er_missing, er_dup];
    let sequence: Vec<Vec<u8>> = [
        er_new, nos, er_fill, md, er_new, cancel, er_fill, reject, heartbeat, er_other, er_fill,
        er_bad_px, other, er_new, er_missing, er_fill, er_dup, er_dup35, er_new, er_empty,
    ]
    .iter()
    .map(|m| fix_up(m))
    .collect();
    let mut warm = Parser::new(FramerConfig::default());
    for round in 0..4 {
        for (k, m) in sequence.iter().enumerate() {
            let mut fresh = Parser::new(FramerConfig::default());
            let want = fresh
                .parse(m)
                .map(|msg| (msg.fields().collect::<Vec<_>>(), msg.typed()));
            let got = warm
                .parse(m)
                .map(|msg| (msg.fields().collect::<Vec<_>>(), msg.typed()));
            assert_eq!(got, want, "round {round} message {k}");
        }
    }
    // Every layout that indexes, parsed again after messages of every other type, is still recognised from
    // its own type's hints, and the views with a plan use it.
    let msg_type = |m: &[u8]| {
        let mut p = Parser::new(FramerConfig::default());
        p.parse(m).unwrap().msg_type().to_vec()
    };
    for m in valid.iter().chain(&bad).map(|m| fix_up(m)) {
        let mt = msg_type(&m);
        warm.parse(&m).map(|_| ()).unwrap();
        for o in valid.iter().map(|o| fix_up(o)) {
            if msg_type(&o) != mt {
                warm.parse(&o).map(|_| ()).unwrap();
            }
        }
        let msg = warm.parse(&m).unwrap();
        let planned = msg.plan().is_some();
        let text = String::from_utf8_lossy(&m).into_owned();
        assert!(warm.last_all_hinted(), "{text}");
        let has_view = !matches!(&mt[..], b"W" | b"AE");
        // A duplicate view field, or a required one missing (`er_missing` has no 14), has no
        // plan (the full path reports it).
        let dup = text.contains("\u{1}151=100\u{1}151=");
        let missing = m == fix_up(er_missing);
        assert_eq!(planned, has_view && !dup && !missing, "{text}");
    }
}

/// The hint loop has two entries: with room for 40 fields (the parser's case: a bound per field
/// serves the hints and the output) and without (short output buffers, direct callers only).
/// Both index every message to the same fields and errors, cold and warm, with both scanners.
#[test]
fn short_and_long_field_buffers_index_the_same() {
    let msgs = [
        ER,
        "8=FIX.4.4|9=0|35=0|49=A|56=B|34=1|52=20240101-00:00:00|95=5|96=a|b|c|10=000|",
        "8=FIX.4.4|9=0|35=0|49=A|56=B|34=|10=000|",
        "8=FIX.4.4|9=0|35=0|49=A|56=B|35=1|10=000|",
        "8=FIX.4.4|9=0|35=0|1234567=A|12345678=B|123456789=C|10=000|",
        "8=FIX.4.4|9=0|35=0|10=000|",
        "8=FIX.4.4|9=0|35=0|49=A|56=B|34=1||10=000|",
    ];
    let run = |m: &[u8], hints: &mut TagHints, swar: bool, room: usize| {
        let f = frame_one(m, &FramerConfig::default()).unwrap();
        let (s, e) = (f.body_start as usize, f.trailer_start as usize);
        let mut out = vec![Field::default(); room.max((e - s) / 4 + 1)];
        let n = if swar {
            scan::index_fields_swar(m, s, e, false, &mut out, hints)
        } else {
            scan::index_fields(scan::Indexer::detect(), m, s, e, false, &mut out, hints)
        };
        n.map(|n| out[..n].to_vec())
    };
    for swar in [false, true] {
        let (mut short, mut long) = (TagHints::default(), TagHints::default());
        for round in 0..3 {
            for (k, m) in msgs.iter().enumerate() {
                let m = fix_up(m);
                let a = run(&m, &mut short, swar, 0);
                let b = run(&m, &mut long, swar, 256);
                let fresh = run(&m, &mut TagHints::default(), swar, 256);
                assert_eq!(a, b, "swar {swar} round {round} message {k}");
                assert_eq!(b, fresh, "swar {swar} round {round} message {k}");
            }
        }
    }
}

/// BodyLength of 1 to 7 digits is converted by one SWAR step, longer ones (and any prefix of a
/// message too short for the 8-byte load) by the digit loop: on every prefix of a message,
/// `check_frame` answers `NeedMore` or exactly what it answers on the whole message, which is
/// the expected frame or error (leading zeros, 1 to 12 digits, the maximum, non-digits, both
/// delimiter modes).
#[test]
fn body_length_swar_agrees_with_the_digit_loop() {
    use super::error::FrameErrorKind as K;
    use super::frame::{Step, check_frame};
    let body = "35=0\x0149=A\x0156=B\x0134=1\x01";
    let n = body.len();
    let cases: Vec<(String, Result<(), K>)> = (0..=11)
        .map(|zeros| {
            let digits = format!("{}{n}", "0".repeat(zeros));
            let want = if digits.len() <= 10 {
                Ok(())
            } else {
                Err(K::BodyLengthTooLarge)
            };
            (digits, want)
        })
        .chain([
            (String::new(), Err(K::BadBodyLength)),
            (format!("{n}x"), Err(K::BadBodyLength)),
            (format!("x{n}"), Err(K::BadBodyLength)),
            ("+25".to_string(), Err(K::BadBodyLength)),
            ("65537".to_string(), Err(K::BodyLengthTooLarge)),
            ("9999999".to_string(), Err(K::BodyLengthTooLarge)),
            ("99999999".to_string(), Err(K::BodyLengthTooLarge)),
            ("4".to_string(), Err(K::BodyLengthMismatch)),
            (format!("{}", n - 1), Err(K::BodyLengthMismatch)),
        ])
        .collect();
    for (delim, mode) in [(b'\x01', Delimiter::Soh), (b'|', Delimiter::Log)] {
        for max in [64 * 1024, n as u32, n as u32 - 1] {
            let cfg = FramerConfig {
                max_body_len: max,
                delimiter: mode,
            };
            for (digits, want) in &cases {
                let mut m = format!("8=FIX.4.4\x019={digits}").into_bytes();
                m.push(delim);
                m.extend_from_slice(body.as_bytes());
                // (Log mode counts `|` as SOH.)
                let sum = m
                    .iter()
                    .map(|&c| if c == b'|' { 1 } else { u32::from(c) })
                    .sum::<u32>()
                    % 256;
                m.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
                let whole = check_frame(&m, &cfg);
                let fits = digits.parse::<u64>().is_ok_and(|v| v <= u64::from(max));
                let want = match want {
                    Ok(()) if !fits => Step::Error(K::BodyLengthTooLarge),
                    Ok(()) => {
                        let body_start = 12 + digits.len() + 1;
                        let Step::Complete(l) = whole else {
                            panic!("{digits:?} {mode:?} max {max}: {whole:?}");
                        };
                        assert_eq!(
                            (l.len, l.body_start, l.trailer_start),
                            (m.len(), body_start, body_start + n),
                            "{digits:?} {mode:?}"
                        );
                        whole
                    }
                    Err(k) if max == 64 * 1024 => Step::Error(*k),
                    // A smaller maximum may stop the digits first: the prefixes decide.
                    Err(_) => whole,
                };
                assert_eq!(whole, want, "{digits:?} {mode:?} max {max}");
                for k in 1..m.len() {
                    match check_frame(&m[..k], &cfg) {
                        Step::NeedMore(t) => assert!(t > k, "{digits:?} prefix {k}"),
                        s => assert_eq!(s, whole, "{digits:?} {mode:?} max {max} prefix {k}"),
                    }
                }
            }
        }
    }
}

/// The value of `tag` in `msg` (`|`-delimited) replaced by `v`.
fn with_value(msg: &str, tag: &str, v: &str) -> String {
    let key = format!("|{tag}=");
    let at = msg.find(&key).unwrap() + key.len();
    let end = at + msg[at..].find('|').unwrap();
    format!("{}{v}{}", &msg[..at], &msg[end..])
}

/// The prices and quantities of a planned ExecutionReport are converted in one batch
/// (`scan::fixed8_x8`): with every value shape (short, 9 to 16 bytes, signed, more than 8
/// decimals, malformed) in each of the 7 fields, alone and mixed, a warm parser (plan, batch)
/// and a fresh one (full path, one field at a time) give the same view or the same error.
#[test]
fn batched_prices_agree_with_the_full_path() {
    let shapes = [
        "0",
        "5",
        "5000000",
        "99999999",
        "1.08099",
        ".5",
        "5.",
        "0.0000001",
        "1.2345678",
        "1234567.8",
        "1.08123456",
        "123456789",
        "12345678.12345678",
        "-1.5",
        "-0",
        "-99999999",
        ".",
        "1.2.3",
        "1e5",
        "+1",
        "1 ",
        "12345678901234567890",
        "0.000000001",
        "1.000000000",
        "00000001",
        "-",
        "1..",
        "..1",
        "1/2",
    ];
    let tags = ["38", "44", "32", "31", "151", "14", "6"];
    let mut warm = Parser::new(FramerConfig::default());
    let mut planned = 0;
    let mut cases = 0;
    let mut check = |s: &str| {
        let m = fix_up(s);
        let mut fresh = Parser::new(FramerConfig::default());
        let want = fresh.parse(&m).map(|x| x.typed());
        let got = warm.parse(&m).map(|x| {
            planned += usize::from(x.plan().is_some());
            x.typed()
        });
        assert_eq!(got, want, "{s}");
        cases += 1;
    };
    check(ER);
    for tag in tags {
        for shape in shapes {
            check(&with_value(ER, tag, shape));
        }
    }
    for i in 0..shapes.len() {
        let mut s = ER.to_string();
        for (j, tag) in tags.iter().enumerate() {
            s = with_value(&s, tag, shapes[(i + 3 * j) % shapes.len()]);
        }
        check(&s);
    }
    // Every message but the first took the plan (the same tags in the same order).
    assert_eq!(planned, cases - 1);
}

/// Messages with more fields after 35 than the hints have positions (40), including a data
/// field with SOH past them: a cold, a warm and a fresh parser give the naive field list. (The
/// full path used to fail with `BadTag` from the 42nd field on: the hint slice of a position past
/// the last was out of range.)
#[test]
fn long_messages_index_past_the_hinted_positions() {
    for fields in [39, 40, 41, 42, 43, 60, 120] {
        for data_at in [None, Some(38), Some(41), Some(fields - 1)] {
            let mut body = String::from("8=FIX.4.4|9=0|35=8|");
            let mut want = vec![(35, b"8".to_vec())];
            for k in 0..fields {
                if data_at == Some(k) {
                    body.push_str("95=5|96=a|b|c|");
                    want.push((95, b"5".to_vec()));
                    want.push((96, b"a\x01b\x01c".to_vec()));
                } else {
                    let (tag, v) = (5000 + k as u32, format!("v{k}"));
                    body.push_str(&format!("{tag}={v}|"));
                    want.push((tag, v.into_bytes()));
                }
            }
            body.push_str("10=000|");
            // (`fix_up` turns the data's `|` into SOH too: as intended.)
            let m = fix_up(&body);
            let mut warm = Parser::new(FramerConfig::default());
            for round in 0..3 {
                let mut fresh = Parser::new(FramerConfig::default());
                for p in [&mut warm, &mut fresh] {
                    let msg = p.parse(&m).unwrap_or_else(|e| {
                        panic!("{fields} fields, data at {data_at:?}, round {round}: {e:?}")
                    });
                    let got: Vec<(u32, Vec<u8>)> = msg
                        .fields()
                        .skip(2)
                        .take_while(|&(t, _)| t != 10)
                        .map(|(t, v)| (t, v.to_vec()))
                        .collect();
                    assert_eq!(got, want, "{fields} fields, data at {data_at:?}");
                }
            }
        }
    }
}

/// The value of `tag` in `msg` (`|`-delimited) removed with its field.
fn without(msg: &str, tag: &str) -> String {
    let key = format!("|{tag}=");
    let at = msg.find(&key).unwrap();
    let end = at + 1 + msg[at + 1..].find('|').unwrap();
    format!("{}{}", &msg[..at], &msg[end..])
}

/// A plan exists only for layouts that have every required field of their view (the planned
/// views read required fields without a presence test): an ExecutionReport or a NewOrderSingle
/// without one of its required fields, parsed again and again by a warm parser (the layout's
/// hints all match), is `Missing` with that tag, as from a fresh parser (full path); the complete
/// layouts take the plan.
#[test]
fn plans_need_every_required_field() {
    const NOS: &str = "8=FIX.4.4|9=0|35=D|49=BUYSIDE1|56=LPBANK01|34=7|52=20240315-14:30:18.123|1=ACC|11=CL1|55=EUR/USD|54=1|60=20240315-14:30:18.123|38=5000000|40=2|44=1.08099|59=0|10=000|";
    let cases: [(&str, &[&str]); 2] = [
        (
            ER,
            &[
                "37", "17", "150", "39", "55", "54", "151", "14", "49", "56", "34", "52",
            ],
        ),
        (NOS, &["11", "55", "54", "38", "40", "49", "56", "34", "52"]),
    ];
    let mut warm = Parser::new(FramerConfig::default());
    for (msg, required) in cases {
        for tag in required {
            let m = fix_up(&without(msg, tag));
            let mut fresh = Parser::new(FramerConfig::default());
            let want = fresh.parse(&m).map(|x| x.typed());
            let t: u32 = tag.parse().unwrap();
            assert_eq!(
                want,
                Ok(Err(ParseError::missing(t))),
                "{tag} missing: {want:?}"
            );
            for round in 0..3 {
                let got = warm.parse(&m).map(|x| x.typed());
                assert_eq!(got, want, "{tag} missing, round {round}");
                assert!(warm.last_all_hinted() || round == 0, "{tag}: hints");
            }
        }
        let m = fix_up(msg);
        for round in 0..3 {
            let x = warm.parse(&m).unwrap();
            assert!(x.typed().is_ok());
            assert_eq!(x.plan().is_some(), round > 0, "round {round}");
        }
    }
}

/// `check_frame`'s one-word path for a three-digit BodyLength followed by SOH and `35=` gives
/// the general path's answers: each message is compared with the same message whose BodyLength
/// has a leading zero (four digits: the SWAR step and the `35=` test), with every byte from the
/// BodyLength's first digit to the MsgType replaced by digits, delimiters, `3`, `5`, `=` and
/// noise, body lengths 5 to 1,000, both delimiter modes and maxima below and above the length.
#[test]
fn three_digit_body_length_word_agrees_with_the_general_path() {
    use super::frame::{Step, check_frame};
    let with_sum = |mut m: Vec<u8>, mode: Delimiter| {
        let sum = m
            .iter()
            .map(|&c| if mode.is(c) { 1 } else { u32::from(c) })
            .sum::<u32>()
            % 256;
        m.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
        m
    };
    // The reference's answer mapped onto the message without the leading zero.
    let unshift = |s: Step| match s {
        Step::Complete(l) => Step::Complete(super::frame::Layout {
            len: l.len - 1,
            body_start: l.body_start - 1,
            trailer_start: l.trailer_start - 1,
            ..l
        }),
        Step::NeedMore(t) => Step::NeedMore(t - 1),
        s => s,
    };
    let noise = [
        b'0', b'1', b'5', b'9', b'/', b':', 0x01, b'|', b'3', b'=', b'x', 0x00, 0xFF, b' ',
    ];
    let mut checked = 0;
    for body_len in [5usize, 6, 99, 100, 101, 240, 263, 999, 1000] {
        let body = match body_len.checked_sub(6) {
            Some(n) => format!("35=8\x01{}\x01", "5".repeat(n)),
            None => "35=8\x01".to_string(),
        };
        assert_eq!(body.len(), body_len);
        for (delim, mode) in [(b'\x01', Delimiter::Soh), (b'|', Delimiter::Log)] {
            let head = |zero: &str| {
                let mut m = b"8=FIX.4.4".to_vec();
                m.push(delim);
                m.extend_from_slice(format!("9={zero}{body_len:03}").as_bytes());
                m.push(delim);
                m.extend_from_slice(body.as_bytes());
                m
            };
            let (plain, zeroed) = (head(""), head("0"));
            for max in [64 * 1024, 239, 240, 5] {
                let cfg = FramerConfig {
                    max_body_len: max,
                    delimiter: mode,
                };
                // Position 12 is the first digit; the MsgType is at 12 + digits + 4.
                let digits = format!("{body_len:03}").len();
                for at in 12..=(12 + digits + 4).min(plain.len() - 1) {
                    for &b in std::iter::once(&plain[at]).chain(noise.iter()) {
                        let (mut m, mut r) = (plain.clone(), zeroed.clone());
                        m[at] = b;
                        r[at + 1] = b;
                        let (m, r) = (with_sum(m, mode), with_sum(r, mode));
                        let got = check_frame(&m, &cfg);
                        // (A delimiter first: no digits, where the reference has "0".)
                        let want = if at == 12 && mode.is(b) {
                            Step::Error(super::error::FrameErrorKind::BadBodyLength)
                        } else {
                            unshift(check_frame(&r, &cfg))
                        };
                        assert_eq!(got, want, "len {body_len} {mode:?} max {max} [{at}]={b}");
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 2_000);
}

/// The hand-written hint loop (`scan::avx2::hint_hits`, taken by the AVX2 + BMI indexer in SOH
/// mode) indexes exactly as the portable scanner's loop: random layouts of 1 to 60 fields (tags
/// of 1 to 9 digits, data fields holding SOH, repeated tags), values of 1 to 40 bytes, each
/// message at every alignment to the 64-byte blocks and with 0 to 80 bytes after its trailer
/// (blocks the assembly may not load), one tag changed or one value emptied in some messages;
/// a warm AVX2 indexer, a warm portable one and a fresh one give the same fields or error.
#[test]
fn hand_written_hint_loop_agrees_with_the_portable_loop() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let (mut simd, mut swar) = (TagHints::default(), TagHints::default());
    let mut hits = 0usize;
    for round in 0..400 {
        let n = 1 + rnd(60) as usize;
        let layout: Vec<u32> = (0..n)
            .map(|_| match rnd(20) {
                0 => 95,
                1 => 1 + rnd(7) as u32,
                2 => 10_000_000 + rnd(989_999_999) as u32,
                3 => 49,
                _ => 1 + rnd(9_999) as u32,
            })
            .collect();
        for msg in 0..12 {
            let mut body = b"35=8\x01".to_vec();
            for &tag in &layout {
                let tag = if msg > 0 && rnd(40) == 0 {
                    tag + 1
                } else {
                    tag
                };
                if tag == 95 {
                    body.extend_from_slice(b"95=4\x0196=ab\x01c\x01");
                    continue;
                }
                let len = if rnd(60) == 0 {
                    0
                } else {
                    1 + rnd(40) as usize
                };
                body.extend_from_slice(format!("{tag}=").as_bytes());
                body.extend((0..len).map(|_| b'a' + rnd(26) as u8));
                body.push(1);
            }
            let pad = rnd(64) as usize;
            let mut m = vec![b'x'; pad];
            m.extend_from_slice(&body);
            let (s, e) = (pad, pad + body.len());
            m.extend_from_slice(b"10=000\x01");
            let tail = rnd(81) as usize;
            m.extend((0..tail).map(|k| if k % 7 == 3 { 1 } else { b'y' }));
            let fresh = index(&m, s, e, &mut TagHints::default(), true);
            let a = index(&m, s, e, &mut simd, false);
            let b = index(&m, s, e, &mut swar, true);
            assert_eq!(a, fresh, "round {round} message {msg}");
            assert_eq!(b, fresh, "round {round} message {msg}");
            hits += usize::from(a.is_ok());
        }
    }
    assert!(hits > 1_000, "{hits}");
}

/// The CheckSum's fast path (the trailer as one word, the computed sum's digits from a table)
/// against a plain reading of the rules: 300 bodies of random bytes (every sum), SOH and log
/// mode, the declared CheckSum right, off by one, off by 100 and 256, or random, and each of
/// the 8 bytes from the delimiter before `10=` to the last one replaced by digits, delimiters,
/// `1`, `0`, `=` and noise; `check_frame` gives the frame, `BodyLengthMismatch`, `BadCheckSum`
/// or `CheckSumMismatch` exactly as the rules say. (It fails when the fast path compares only
/// two of the three digits: checked.)
#[test]
fn checksum_word_agrees_with_the_rules() {
    use super::error::FrameErrorKind as K;
    use super::frame::{Step, check_frame};
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let noise = [
        b'0', b'1', b'2', b'5', b'9', b'/', b':', 0x01, b'|', b'=', b'x', 0x00, 0xFF, b' ',
    ];
    let (mut complete, mut checked) = (0, 0);
    for round in 0..300 {
        for (delim, mode) in [(b'\x01', Delimiter::Soh), (b'|', Delimiter::Log)] {
            let cfg = FramerConfig {
                max_body_len: 64 * 1024,
                delimiter: mode,
            };
            // A body of 5 to 300 bytes: `35=8`, then random bytes that are no delimiter.
            let mut body = b"35=8".to_vec();
            body.push(delim);
            for _ in 0..next() % 296 {
                let b = (next() % 254) as u8 + 2;
                body.push(if b == b'|' { b'a' } else { b });
            }
            body.push(delim);
            let mut m = b"8=FIX.4.4".to_vec();
            m.push(delim);
            m.extend_from_slice(format!("9={}", body.len()).as_bytes());
            m.push(delim);
            m.extend_from_slice(&body);
            let ts = m.len();
            let sum = |d: &[u8]| -> u8 {
                d.iter()
                    .fold(0u8, |s, &c| s.wrapping_add(if mode.is(c) { 1 } else { c }))
            };
            let right = u32::from(sum(&m));
            let declared = match round % 6 {
                0 | 1 => right,
                2 => (right + 1) % 1000,
                3 => (right + 100) % 1000,
                4 => right + 256,
                _ => (next() % 1000) as u32,
            };
            m.extend_from_slice(format!("10={declared:03}").as_bytes());
            m.push(delim);
            let Step::Complete(layout) = (if declared == right {
                check_frame(&m, &cfg)
            } else {
                let mut ok = m.clone();
                ok[ts + 3..ts + 6].copy_from_slice(format!("{right:03}").as_bytes());
                check_frame(&ok, &cfg)
            }) else {
                panic!("the valid message is not framed")
            };
            for at in ts - 1..ts + 7 {
                for &b in std::iter::once(&m[at]).chain(noise.iter()) {
                    let mut v = m.clone();
                    v[at] = b;
                    let c = &v[ts + 3..ts + 7];
                    let want = if !mode.is(v[ts - 1]) || &v[ts..ts + 3] != b"10=" {
                        Step::Error(K::BodyLengthMismatch)
                    } else if !c[..3].iter().all(u8::is_ascii_digit) || !mode.is(c[3]) {
                        Step::Error(K::BadCheckSum)
                    } else {
                        let d = c[..3]
                            .iter()
                            .fold(0u16, |a, &c| a * 10 + u16::from(c - b'0'));
                        let computed = sum(&v[..ts]);
                        if d == u16::from(computed) {
                            Step::Complete(layout)
                        } else {
                            Step::Error(K::CheckSumMismatch {
                                declared: d,
                                computed,
                            })
                        }
                    };
                    complete += usize::from(matches!(want, Step::Complete(_)));
                    assert_eq!(check_frame(&v, &cfg), want, "{mode:?} [{at}]={b}");
                    checked += 1;
                }
            }
        }
    }
    assert!(complete > 1_000 && checked > 50_000, "{complete} {checked}");
}

/// One entry field for the NoMDEntries walks: (tag, value).
fn md_field() -> impl proptest::strategy::Strategy<Value = (u32, &'static str)> {
    use proptest::prelude::*;
    (
        prop::sample::select(vec![
            269u32, 269, 270, 270, 279, 271, 272, 273, 278, 55, 290,
        ]),
        prop::sample::select(vec![
            "0", "1", "2", "1.08", "-5", "x", "1.2.3", "100", "20240315", "14:30:18", "25:99:99",
            "01",
        ]),
    )
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

    /// `validate_entries` (one pass, cut at the first field's tag) returns the first error of
    /// `MdEntries::iter()` (which cuts each entry by a re-scan), and visits exactly the entries
    /// that iterator yields before it: over arbitrary field sequences, whatever tag leads the
    /// group (a hand-built `MdEntries::Parsed` need not start with 269 or 279).
    #[test]
    fn md_validation_walk_matches_the_iterator(
        fields in proptest::collection::vec(md_field(), 0..12),
    ) {
        let mut text = String::from("8=FIX.4.4|9=0|35=W|49=MD|56=SOR|34=1|52=20240315-14:30:18|");
        for (t, v) in &fields {
            text.push_str(&format!("{t}={v}|"));
        }
        text.push_str("10=000|");
        let bytes = fix_up(&text);
        let mut p = Parser::new(FramerConfig::default());
        let m = p.parse(&bytes).unwrap();
        // The generated fields: after the six header fields, before the trailer.
        let idx = m.field_index();
        let group = &idx[7..idx.len() - 1];
        proptest::prop_assert_eq!(group.len(), fields.len());
        let entries = MdEntries::Parsed { msg: m, fields: group, count: 0 };
        let mut want_ok = Vec::new();
        let mut want = Ok(0);
        for e in entries.iter() {
            match e {
                Ok(e) => want_ok.push(e),
                Err(err) => {
                    want = Err(err);
                    break;
                }
            }
        }
        if want.is_ok() {
            want = Ok(want_ok.len());
        }
        let mut seen = Vec::new();
        let got = views::validate_entries(&m, group, |e| seen.push(*e));
        proptest::prop_assert_eq!(got, want);
        proptest::prop_assert_eq!(seen, want_ok);
    }
}

/// The NoMDEntries checks before the group was walked once (the oracle): the group cut, its
/// first tag and its count checked on the fields, then every entry as the iterator parses it.
fn md_group_oracle(m: &Message<'_>, body: &[message::Field], at: usize) -> Result<(), ParseError> {
    let f268 = body[at];
    let count: u32 = views::FieldValue::parse(m.value(&f268))
        .map_err(|k| ParseError::new(k, 268, f268.start))?;
    let rest = body.get(at + 1..).unwrap_or(&[]);
    let n = rest
        .iter()
        .take_while(|f| views::is_md_group_tag(f.tag))
        .count();
    let group = &rest[..n];
    let bad = ParseError::new(ParseErrorKind::GroupCount, 268, f268.start);
    match group.first() {
        None if count == 0 => {}
        Some(first) if matches!(first.tag, 269 | 279) => {
            let seen = group.iter().filter(|f| f.tag == first.tag).count();
            if seen != count as usize {
                return Err(bad);
            }
        }
        _ => return Err(bad),
    }
    let entries = MdEntries::Parsed {
        msg: *m,
        fields: group,
        count,
    };
    entries.iter().try_for_each(|e| e.map(|_| ()))
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

    /// A snapshot's errors (which kind, which tag, which offset) are those of the oracle
    /// `md_group_oracle` (count checked on the fields before the entries): the group is now
    /// walked once, its count compared with the entries the validation finds.
    #[test]
    fn md_group_errors_match_the_two_pass_oracle(
        lead in proptest::sample::select(vec![269u32, 269, 279, 270]),
        fields in proptest::collection::vec(md_field(), 0..10),
        count in proptest::sample::select(vec!["0", "1", "2", "3", "4", "x", "-1"]),
        tail in proptest::prelude::any::<bool>(),
    ) {
        let mut text = format!(
            "8=FIX.4.4|9=0|35=W|49=MD|56=SOR|34=1|52=20240315-14:30:18|55=EUR/USD|268={count}|"
        );
        if !fields.is_empty() {
            text.push_str(&format!("{lead}=0|"));
        }
        for (t, v) in &fields {
            text.push_str(&format!("{t}={v}|"));
        }
        if tail {
            text.push_str("262=R1|");
        }
        text.push_str("10=000|");
        let bytes = fix_up(&text);
        let mut p = Parser::new(FramerConfig::default());
        let m = p.parse(&bytes).unwrap();
        let body = &m.field_index()[3..m.field_index().len() - 1];
        let at = body.iter().position(|f| f.tag == 268).unwrap();
        let got = MarketDataSnapshot::from_message(&m).map(|_| ());
        proptest::prop_assert_eq!(got, md_group_oracle(&m, body, at));
    }
}

/// `parse_framed` of a streaming framer's frame is `parse` of the frame's bytes, whatever the two
/// configurations: the same message, or the same error (a body over the parser's `max_body_len`
/// that the framer's larger maximum let through; a delimiter the parser does not take).
#[test]
fn parse_framed_is_parse_of_the_frame_bytes() {
    let big = format!(
        "8=FIX.4.4|9=0|35=B|49=A|56=B|34=7|52=20240101-00:00:00|148={}|10=000|",
        "x".repeat(300)
    );
    let soh: Vec<Vec<u8>> = [ER, "8=FIX.4.2|9=0|35=0|49=A|56=B|34=1|10=000|", &big]
        .iter()
        .map(|m| fix_up(m))
        .collect();
    let pipe: Vec<Vec<u8>> = soh
        .iter()
        .map(|m| m.iter().map(|&b| if b == 1 { b'|' } else { b }).collect())
        .collect();
    let delims = [Delimiter::Soh, Delimiter::Log];
    let maxes = [64, 250, 320, 64 * 1024];
    let (mut same_ok, mut same_err) = (0, 0);
    for fd in delims {
        for fmax in maxes {
            let fcfg = FramerConfig {
                max_body_len: fmax,
                delimiter: fd,
            };
            for pd in delims {
                for pmax in maxes {
                    let pcfg = FramerConfig {
                        max_body_len: pmax,
                        delimiter: pd,
                    };
                    let (mut framed, mut plain) = (Parser::new(pcfg), Parser::new(pcfg));
                    for m in soh.iter().chain(&pipe) {
                        let mut framer = Framer::new(fcfg);
                        let mut frames = framer.feed(m);
                        while let Some(Ok(f)) = frames.next_frame() {
                            let a = framed.parse_framed(f);
                            let b = plain.parse(f.bytes);
                            assert_eq!(a, b, "framer {fcfg:?}, parser {pcfg:?}");
                            if a.is_ok() {
                                same_ok += 1;
                            } else {
                                same_err += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    // Both sides of each check were met: accepted frames the parser takes, and frames it refuses
    // (too long for it, or another delimiter).
    assert!(same_ok > 20 && same_err > 20, "{same_ok} {same_err}");
}
