//! A hand-written corpus of malformed messages, each with its expected error, and the replay of
//! the fuzz regression corpus (tests/fix_corpus/regressions/) and seeds (fuzz/seeds/).

use lpscore::fix::*;

/// `|` -> SOH; `{len}` is replaced by the correct BodyLength and `{cs}` by the correct CheckSum
/// (computed after the BodyLength substitution).
fn msg(s: &str) -> Vec<u8> {
    let mut s = s.replace('|', "\x01");
    if s.contains("{len}") {
        let bs = s.find("35=").unwrap_or_else(|| s.find("\x01").unwrap() + 8);
        let bs = bs.min(s.len());
        let ts = s.rfind("\x0110=").map_or(s.len(), |i| i + 1);
        let body_len = ts - bs + "{len}".len();
        let body_len = body_len - "{len}".len();
        s = s.replace("{len}", &body_len.to_string());
        // The replacement shifted the body; recompute from the final string.
        let bs = s.find("35=").unwrap_or(bs);
        let ts = s.rfind("\x0110=").map_or(s.len(), |i| i + 1);
        let actual = ts - bs;
        if actual != body_len {
            let head_end = s.find("\x019=").unwrap() + 3;
            let len_end = head_end + s[head_end..].find('\x01').unwrap();
            s.replace_range(head_end..len_end, &actual.to_string());
        }
    }
    if s.contains("{cs}") {
        let ts = s.rfind("\x0110={cs}").unwrap() + 1;
        let cs = s.as_bytes()[..ts]
            .iter()
            .map(|&b| u32::from(b))
            .sum::<u32>()
            % 256;
        s = s.replace("{cs}", &format!("{cs:03}"));
    }
    s.into_bytes()
}

const ER: &str = "35=8|49=LP|56=ME|34=7|52=20240315-14:30:18.123|37=O1|11=C1|17=E1|150=F|39=1|55=EUR/USD|54=1|151=0|14=100|";

fn er(body: &str) -> Vec<u8> {
    msg(&format!("8=FIX.4.4|9={{len}}|{body}10={{cs}}|"))
}

/// Frames a stream in one chunk and returns everything the framer said.
fn frame_all(bytes: &[u8], cfg: FramerConfig) -> Vec<Result<Vec<u8>, FrameError>> {
    let mut framer = Framer::new(cfg);
    let mut out = Vec::new();
    let mut frames = framer.feed(bytes);
    while let Some(r) = frames.next_frame() {
        out.push(r.map(|f| f.bytes.to_vec()));
    }
    drop(frames);
    if let Some(e) = framer.finish() {
        out.push(Err(e));
    }
    out
}

fn frame_err(bytes: &[u8]) -> FrameErrorKind {
    match frame_all(bytes, FramerConfig::default()).first() {
        Some(Err(e)) => e.kind,
        other => panic!("expected a framing error, got {other:?}"),
    }
}

fn parse_err(bytes: &[u8]) -> ParseError {
    let mut p = Parser::new(FramerConfig::default());
    match p.parse(bytes) {
        Err(e) => e,
        Ok(m) => m.typed().expect_err("expected a parse error"),
    }
}

#[test]
fn the_reference_message_is_valid() {
    let m = er(ER);
    let mut p = Parser::new(FramerConfig::default());
    let msg = p.parse(&m).unwrap();
    assert!(matches!(msg.typed().unwrap(), Typed::ExecutionReport(_)));
}

#[test]
fn wrong_checksum() {
    let mut m = er(ER);
    let n = m.len();
    m[n - 2] = if m[n - 2] == b'9' { b'0' } else { m[n - 2] + 1 };
    assert!(matches!(
        frame_err(&m),
        FrameErrorKind::CheckSumMismatch { .. }
    ));
    let m = msg(&format!("8=FIX.4.4|9={{len}}|{ER}10=1x3|"));
    assert_eq!(frame_err(&m), FrameErrorKind::BadCheckSum);
}

#[test]
fn wrong_body_length() {
    let good = er(ER);
    let s = String::from_utf8(good).unwrap();
    let len: usize = s.split('\x01').nth(1).unwrap()[2..].parse().unwrap();
    for wrong in [len - 1, len + 1, len + 40] {
        let bad = s.replacen(&format!("9={len}"), &format!("9={wrong}"), 1);
        // The framer needs more bytes for a longer length: finish() reports truncation, which
        // a following message turns into BodyLengthMismatch; test both.
        let mut stream = bad.clone().into_bytes();
        stream.extend_from_slice(&er(ER));
        stream.extend_from_slice(&er(ER));
        let out = frame_all(&stream, FramerConfig::default());
        assert!(
            matches!(
                out[0],
                Err(FrameError {
                    kind: FrameErrorKind::BodyLengthMismatch,
                    offset: 0
                })
            ),
            "{wrong}: {out:?}"
        );
        // Lose no message that follows.
        assert_eq!(out.iter().filter(|r| r.is_ok()).count(), 2, "{wrong}");
    }
    assert_eq!(
        frame_err(&msg("8=FIX.4.4|9=3|35=0|10=000|")),
        FrameErrorKind::BodyLengthMismatch
    );
}

#[test]
fn missing_msg_type() {
    let m = msg("8=FIX.4.4|9={len}|49=LP|56=ME|34=7|52=20240315-14:30:18|10={cs}|");
    assert_eq!(frame_err(&m), FrameErrorKind::MissingMsgType);
    // 35 not third: also missing from the framer's point of view.
    let m = msg("8=FIX.4.4|9={len}|49=LP|35=0|56=ME|34=7|52=20240315-14:30:18|10={cs}|");
    assert_eq!(frame_err(&m), FrameErrorKind::MissingMsgType);
}

#[test]
fn duplicate_tags() {
    let e = parse_err(&er(&format!("{ER}11=C2|")));
    assert_eq!((e.kind, e.tag), (ParseErrorKind::Duplicate, 11));
    let e = parse_err(&er(&format!("{ER}35=8|")));
    assert_eq!((e.kind, e.tag), (ParseErrorKind::Duplicate, 35));
    let e = parse_err(&er(&format!("{ER}9=12|")));
    assert_eq!((e.kind, e.tag), (ParseErrorKind::Duplicate, 9));
    let e = parse_err(&er(&format!("{ER}10=123|")));
    assert_eq!((e.kind, e.tag), (ParseErrorKind::Duplicate, 10));
    let e = parse_err(&er(&format!("{ER}34=8|")));
    assert_eq!((e.kind, e.tag), (ParseErrorKind::Duplicate, 34));
    // Repeating groups may repeat tags: NoPartyIDs is ignored by the view.
    let ok = er(&format!("{ER}453=2|448=A|447=D|452=1|448=B|447=D|452=3|"));
    let mut p = Parser::new(FramerConfig::default());
    assert!(p.parse(&ok).unwrap().typed().is_ok());
}

#[test]
fn non_numeric_numbers() {
    for (field, tag, kind) in [
        ("34=12a", 34, ParseErrorKind::Malformed),
        ("34=+12", 34, ParseErrorKind::Malformed),
        ("34= 12", 34, ParseErrorKind::Malformed),
        ("34=-1", 34, ParseErrorKind::Malformed),
        ("34=99999999999999999999", 34, ParseErrorKind::Overflow),
        ("14=abc", 14, ParseErrorKind::Malformed),
        ("14=1e5", 14, ParseErrorKind::Malformed),
        ("150=FF", 150, ParseErrorKind::Malformed),
        ("52=20240315 14:30:18", 52, ParseErrorKind::Malformed),
        ("52=20240230-14:30:18", 52, ParseErrorKind::Malformed),
        ("52=20240315-14:30:18.12", 52, ParseErrorKind::Malformed),
        ("43=X", 43, ParseErrorKind::Malformed),
    ] {
        let (t, _) = field.split_once('=').unwrap();
        let body: String = ER
            .split('|')
            .filter(|f| !f.is_empty() && !f.starts_with(&format!("{t}=")))
            .map(|f| format!("{f}|"))
            .collect();
        let e = parse_err(&er(&format!("{body}{field}|")));
        assert_eq!((e.kind, e.tag), (kind, tag), "{field}");
    }
}

#[test]
fn overflowing_and_too_precise_prices() {
    let e = parse_err(&er(&format!("{ER}44=99999999999.5|")));
    assert_eq!((e.kind, e.tag), (ParseErrorKind::Overflow, 44));
    let e = parse_err(&er(&format!("{ER}31=1.123456789|")));
    assert_eq!((e.kind, e.tag), (ParseErrorKind::TooManyDecimals, 31));
    let e = parse_err(&er(&format!("{ER}6=123456789012345678901234567890|")));
    assert_eq!((e.kind, e.tag), (ParseErrorKind::Overflow, 6));
}

#[test]
fn ten_megabyte_body_length() {
    let m = msg("8=FIX.4.4|9=10485760|35=0|");
    let mut framer = Framer::new(FramerConfig::default());
    let mut frames = framer.feed(&m);
    let e = frames.next_frame().unwrap().unwrap_err();
    assert_eq!(
        e,
        FrameError {
            kind: FrameErrorKind::BodyLengthTooLarge,
            offset: 0
        }
    );
    assert!(frames.next_frame().is_none());
    drop(frames);
    assert!(
        framer.buffered() < 64,
        "nothing was buffered for the 10 MB body"
    );
}

#[test]
fn embedded_soh_outside_a_data_field() {
    let e = parse_err(&er(&format!("{ER}58=abc|def|")));
    assert_eq!(e.kind, ParseErrorKind::BadTag);
    // ... and inside a data field it is fine.
    let ok = er(&format!("{ER}95=7|96=abc|def|"));
    let mut p = Parser::new(FramerConfig::default());
    let m = p.parse(&ok).unwrap();
    assert_eq!(m.get(96), Some(&b"abc\x01def"[..]));
    // A data field whose length is wrong.
    let e = parse_err(&er(&format!("{ER}95=9|96=abc|def|")));
    assert_eq!((e.kind, e.tag), (ParseErrorKind::DataLength, 96));
    let e = parse_err(&er(&format!("{ER}95=3|58=abc|")));
    assert_eq!((e.kind, e.tag), (ParseErrorKind::DataLength, 96));
}

#[test]
fn truncated_trailer() {
    let good = er(ER);
    // Cut inside the trailer, then end of stream.
    let cut = &good[..good.len() - 2];
    let out = frame_all(cut, FramerConfig::default());
    assert_eq!(
        out,
        vec![Err(FrameError {
            kind: FrameErrorKind::Truncated,
            offset: 0
        })]
    );
    // Cut inside the trailer, then another message: the bad one is reported, the next kept.
    let mut stream = cut.to_vec();
    stream.push(1);
    stream.extend_from_slice(&good);
    let out = frame_all(&stream, FramerConfig::default());
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(
        out[0].clone().unwrap_err().kind,
        FrameErrorKind::BadCheckSum
    );
    assert_eq!(out[1].as_ref().unwrap(), &good);
}

#[test]
fn other_malformed_messages() {
    use FrameErrorKind as F;
    assert_eq!(
        frame_err(&msg("8=FIX.4.3|9={len}|35=0|10={cs}|")),
        F::BadBeginString
    );
    assert_eq!(
        frame_err(&msg("8=FIXT.1.2|9={len}|35=0|10={cs}|")),
        F::BadBeginString
    );
    assert_eq!(
        frame_err(&msg("8=FIX.4.4|9=abc|35=0|10=000|")),
        F::BadBodyLength
    );
    assert_eq!(
        frame_err(&msg("8=FIX.4.4|9=+12|35=0|10=000|")),
        F::BadBodyLength
    );
    assert_eq!(
        frame_err(&msg("8=FIX.4.4|9=|35=0|10=000|")),
        F::BadBodyLength
    );
    assert_eq!(
        frame_err(&msg("8=FIX.4.4|35=0|9=5|10=000|")),
        F::BadBodyLength
    );
    assert_eq!(frame_err(b"hello"), F::Garbage);
    let e = parse_err(&er(&format!("{ER}0123=x|")));
    assert_eq!(e.kind, ParseErrorKind::BadTag);
    let e = parse_err(&er(&format!("{ER}58=|")));
    assert_eq!((e.kind, e.tag), (ParseErrorKind::EmptyValue, 58));
    let e = parse_err(&er(&ER.replace("37=O1|", "")));
    assert_eq!((e.kind, e.tag), (ParseErrorKind::Missing, 37));
    let e = parse_err(&er(&ER.replace("34=7|", "")));
    assert_eq!((e.kind, e.tag), (ParseErrorKind::Missing, 34));
    let w = "35=W|49=LP|56=ME|34=7|52=20240315-14:30:18|55=EUR/USD|268=2|269=0|270=1.1|";
    let e = parse_err(&er(w));
    assert_eq!((e.kind, e.tag), (ParseErrorKind::GroupCount, 268));
    // Fuzz finding (tests/fix_corpus/regressions/parsing-md-bad-entry-time.fix): a bad entry
    // field is an error of the view, not of a later iteration.
    let w = "35=W|49=LP|56=ME|34=7|52=20240315-14:30:18|55=EUR/USD|268=1|269=0|273=13:140:8|";
    let e = parse_err(&er(w));
    assert_eq!((e.kind, e.tag), (ParseErrorKind::Malformed, 273));
}

#[test]
fn garbage_between_messages_is_reported_once_and_nothing_is_lost() {
    let good = er(ER);
    let mut stream = b"xx8=FI garbage 8=FIX.4.4\x019=zz".to_vec();
    stream.extend_from_slice(&good);
    stream.extend_from_slice(b"\r\nmore junk");
    stream.extend_from_slice(&good);
    let out = frame_all(&stream, FramerConfig::default());
    let kinds: Vec<_> = out
        .iter()
        .map(|r| r.as_ref().map(|_| ()).map_err(|e| e.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            Err(FrameErrorKind::Garbage),
            Err(FrameErrorKind::BadBodyLength),
            Ok(()),
            Err(FrameErrorKind::Garbage),
            Ok(())
        ]
    );
}

/// Every file in tests/fix_corpus/regressions/ and fuzz/seeds/: framed in several chunkings and
/// parsed, must not panic and must frame identically whatever the chunking; a warm parser and a
/// fresh one give the same view or error for every frame.
#[test]
fn replay_regressions_and_seeds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in [
        "tests/fix_corpus/regressions",
        "fuzz/seeds/framing",
        "fuzz/seeds/parsing",
        "fuzz/seeds/plans",
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let data = std::fs::read(e.path()).unwrap();
            n += 1;
            for delimiter in [Delimiter::Soh, Delimiter::Log] {
                let cfg = FramerConfig {
                    max_body_len: 4096,
                    delimiter,
                };
                let whole = frame_all(&data, cfg);
                // A parser warm from the file's earlier frames (hints, plans) and a fresh one
                // (the full path) agree on every frame (the `plans` fuzz target's check).
                let mut p = Parser::new(cfg);
                for r in whole.iter().flatten() {
                    let warm = p.parse(r).map(|m| format!("{:?}", m.typed()));
                    let fresh = Parser::new(cfg)
                        .parse(r)
                        .map(|m| format!("{:?}", m.typed()));
                    assert_eq!(warm, fresh, "{}", e.path().display());
                }
                for step in [1, 7, 64] {
                    let mut framer = Framer::new(cfg);
                    let mut got = Vec::new();
                    for c in data.chunks(step) {
                        let mut frames = framer.feed(c);
                        while let Some(r) = frames.next_frame() {
                            got.push(r.map(|f| f.bytes.to_vec()));
                        }
                    }
                    if let Some(e) = framer.finish() {
                        got.push(Err(e));
                    }
                    assert_eq!(got, whole, "{} step {step}", e.path().display());
                }
            }
        }
    }
    eprintln!("replayed {n} corpus files");
}
