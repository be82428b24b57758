//! The fast framer and parser agree with a naive oracle (style.md #6, after memchr's
//! `naive.rs`): on generated valid messages, on mutated and garbage-laden streams, and on every
//! random split of a stream into chunks. Also: encode/parse round trips of every typed view.

use lpscore::fix::*;
use proptest::prelude::*;

/// A deliberately simple implementation of the same rules: string prefixes, `split`, `Vec`s.
mod naive {
    use lpscore::fix::{Delimiter, FrameErrorKind as K, ParseError, ParseErrorKind as P};

    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Ev {
        Msg {
            offset: u64,
            bytes: Vec<u8>,
            fields: Result<Vec<(u32, Vec<u8>)>, ParseError>,
        },
        Err {
            offset: u64,
            kind: K,
        },
    }

    enum Fr {
        Ok(usize),
        Incomplete,
        Bad(K),
    }

    fn is_delim(d: Delimiter, b: u8) -> bool {
        b == 1 || (d == Delimiter::Log && b == b'|')
    }

    fn frame(d: &[u8], max: u32, dl: Delimiter) -> Fr {
        let sync = b"8=FIX";
        if !d.starts_with(sync) {
            return if sync.starts_with(d) {
                Fr::Incomplete
            } else {
                Fr::Bad(K::Garbage)
            };
        }
        let mut pos = None;
        let mut maybe = false;
        for cand in ["FIX.4.4", "FIX.4.2", "FIXT.1.1"] {
            let h = format!("8={cand}");
            if d.len() > h.len() && d.starts_with(h.as_bytes()) && is_delim(dl, d[h.len()]) {
                pos = Some(h.len() + 1);
            } else if h.as_bytes().starts_with(d) || d == h.as_bytes() {
                maybe = true;
            }
        }
        let Some(p) = pos else {
            return if maybe {
                Fr::Incomplete
            } else {
                Fr::Bad(K::BadBeginString)
            };
        };
        let rest = &d[p..];
        if !rest.starts_with(b"9=") {
            return if b"9=".starts_with(rest) {
                Fr::Incomplete
            } else {
                Fr::Bad(K::BadBodyLength)
            };
        }
        let digits: Vec<u8> = rest[2..]
            .iter()
            .copied()
            .take_while(u8::is_ascii_digit)
            .collect();
        let mut v: u64 = 0;
        for (i, c) in digits.iter().enumerate() {
            v = v * 10 + u64::from(c - b'0');
            if v > u64::from(max) || i >= 10 {
                return Fr::Bad(K::BodyLengthTooLarge);
            }
        }
        let Some(&after) = rest.get(2 + digits.len()) else {
            return Fr::Incomplete;
        };
        if digits.is_empty() || !is_delim(dl, after) {
            return Fr::Bad(K::BadBodyLength);
        }
        let body_len = v as usize;
        if body_len < 5 {
            return Fr::Bad(K::BodyLengthMismatch);
        }
        let bs = p + 2 + digits.len() + 1;
        let body = &d[bs..];
        if !body.starts_with(b"35=") {
            return if b"35=".starts_with(body) {
                Fr::Incomplete
            } else {
                Fr::Bad(K::MissingMsgType)
            };
        }
        let total = bs + body_len + 7;
        if d.len() < total {
            return Fr::Incomplete;
        }
        let ts = bs + body_len;
        if !is_delim(dl, d[ts - 1]) || &d[ts..ts + 3] != b"10=" {
            return Fr::Bad(K::BodyLengthMismatch);
        }
        let cs = &d[ts + 3..total];
        if !cs[..3].iter().all(u8::is_ascii_digit) || !is_delim(dl, cs[3]) {
            return Fr::Bad(K::BadCheckSum);
        }
        let declared: u16 = std::str::from_utf8(&cs[..3]).unwrap().parse().unwrap();
        let sum: u32 = d[..ts]
            .iter()
            .map(|&b| {
                if dl == Delimiter::Log && b == b'|' {
                    1
                } else {
                    u32::from(b)
                }
            })
            .sum();
        let computed = (sum % 256) as u8;
        if declared != u16::from(computed) {
            return Fr::Bad(K::CheckSumMismatch { declared, computed });
        }
        Fr::Ok(total)
    }

    fn data_tag(t: u32) -> Option<u32> {
        lpscore::fix::data_tag_for(t)
    }

    /// Splits a framed message into fields.
    pub fn fields(m: &[u8], dl: Delimiter) -> Result<Vec<(u32, Vec<u8>)>, ParseError> {
        let e = |kind, tag, off: usize| {
            Err(ParseError {
                kind,
                tag,
                offset: off as u32,
            })
        };
        let delim = |b: &u8| is_delim(dl, *b);
        // Pieces between delimiters with their start offsets; data fields re-join pieces.
        let mut pieces = Vec::new();
        let mut start = 0;
        for (i, b) in m.iter().enumerate() {
            if delim(b) {
                pieces.push((start, &m[start..i]));
                start = i + 1;
            }
        }
        let mut out: Vec<(u32, Vec<u8>)> = Vec::new();
        let mut i = 0;
        let mut pending: Option<(u32, usize)> = None;
        let end = m.len() - 7; // offset of "10="
        while i < pieces.len() {
            let (off, piece) = pieces[i];
            if off >= end {
                break;
            }
            let mut kv = piece.splitn(2, |&b| b == b'=');
            let t = kv.next().unwrap();
            let tag_ok = !t.is_empty()
                && t.len() <= 9
                && t[0] != b'0'
                && t.iter().all(u8::is_ascii_digit)
                && piece.len() > t.len();
            if !tag_ok {
                return e(P::BadTag, 0, off);
            }
            let tag: u32 = std::str::from_utf8(t).unwrap().parse().unwrap();
            let vstart = off + t.len() + 1;
            let value: Vec<u8>;
            if let Some((dt, len)) = pending.take() {
                if dt != tag {
                    return e(P::DataLength, dt, off);
                }
                let vend = vstart.checked_add(len).filter(|&v| v < end && delim(&m[v]));
                let Some(vend) = vend else {
                    return e(P::DataLength, tag, off);
                };
                value = m[vstart..vend].to_vec();
                while i + 1 < pieces.len() && pieces[i + 1].0 <= vend {
                    i += 1;
                }
            } else {
                value = kv.next().unwrap_or(&[]).to_vec();
            }
            if value.is_empty() {
                return e(P::EmptyValue, tag, off);
            }
            let position = out.len();
            if [8, 9, 10].contains(&tag) && position >= 2 || tag == 35 && position != 2 {
                return e(P::Duplicate, tag, off);
            }
            if position >= 2 {
                if let Some(dt) = data_tag(tag) {
                    let s = std::str::from_utf8(&value)
                        .ok()
                        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()));
                    match s.map(|s| s.parse::<u64>()) {
                        Some(Ok(n)) => {
                            pending = Some((dt, usize::try_from(n).unwrap_or(usize::MAX)))
                        }
                        Some(Err(_)) => return e(P::Overflow, tag, off),
                        None => return e(P::Malformed, tag, off),
                    }
                }
            }
            out.push((tag, value));
            i += 1;
        }
        if let Some((dt, _)) = pending {
            return e(P::DataLength, dt, end);
        }
        out.push((10, m[end + 3..end + 6].to_vec()));
        Ok(out)
    }

    /// The whole stream at once.
    pub fn stream(s: &[u8], max: u32, dl: Delimiter) -> Vec<Ev> {
        let mut out = Vec::new();
        let mut p = 0usize;
        let mut resync = false;
        loop {
            if resync {
                match s[p..].windows(5).position(|w| w == b"8=FIX") {
                    Some(k) => {
                        p += k;
                        resync = false;
                    }
                    None => break,
                }
            }
            if p >= s.len() {
                break;
            }
            if dl == Delimiter::Log && matches!(s[p], b'\n' | b'\r' | b' ') {
                p += 1;
                continue;
            }
            match frame(&s[p..], max, dl) {
                Fr::Ok(n) => {
                    let bytes = s[p..p + n].to_vec();
                    let fields = fields(&bytes, dl);
                    out.push(Ev::Msg {
                        offset: p as u64,
                        bytes,
                        fields,
                    });
                    p += n;
                }
                Fr::Incomplete => {
                    out.push(Ev::Err {
                        offset: p as u64,
                        kind: K::Truncated,
                    });
                    break;
                }
                Fr::Bad(kind) => {
                    out.push(Ev::Err {
                        offset: p as u64,
                        kind,
                    });
                    p += 1;
                    resync = true;
                }
            }
        }
        out
    }
}

use naive::Ev;

/// The fast path over chunks.
fn fast(stream: &[u8], cuts: &[usize], max: u32, dl: Delimiter) -> Vec<Ev> {
    let cfg = FramerConfig {
        max_body_len: max,
        delimiter: dl,
    };
    let mut framer = Framer::new(cfg);
    let mut parser = Parser::new(cfg);
    let mut out = Vec::new();
    let mut prev = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(stream.len())).collect();
    cuts.sort_unstable();
    cuts.push(stream.len());
    for c in cuts {
        let mut frames = framer.feed(&stream[prev..c]);
        while let Some(r) = frames.next_frame() {
            out.push(match r {
                Ok(f) => {
                    let bytes = f.bytes.to_vec();
                    let offset = f.offset;
                    let fields = parser
                        .parse_frame(f)
                        .map(|m| m.fields().map(|(t, v)| (t, v.to_vec())).collect::<Vec<_>>());
                    Ev::Msg {
                        offset,
                        bytes,
                        fields,
                    }
                }
                Err(e) => Ev::Err {
                    offset: e.offset,
                    kind: e.kind,
                },
            });
        }
        prev = c;
    }
    if let Some(e) = framer.finish() {
        out.push(Ev::Err {
            offset: e.offset,
            kind: e.kind,
        });
    }
    out
}

fn fix_up(fields: &[(u32, Vec<u8>)], begin: &str, delim: u8) -> Vec<u8> {
    let mut body = Vec::new();
    for (t, v) in fields {
        body.extend_from_slice(format!("{t}=").as_bytes());
        body.extend_from_slice(v);
        body.push(delim);
    }
    let mut m = format!(
        "8={begin}{}9={}{}",
        delim as char,
        body.len(),
        delim as char
    )
    .into_bytes();
    m.extend_from_slice(&body);
    let cs: u32 = m
        .iter()
        .map(|&b| {
            if delim == b'|' && b == b'|' {
                1
            } else {
                u32::from(b)
            }
        })
        .sum::<u32>()
        % 256;
    m.extend_from_slice(format!("10={cs:03}{}", delim as char).as_bytes());
    m
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[A-Za-z0-9./:=-]{1,12}".prop_map(String::into_bytes),
        (0i64..10_000_000_000).prop_map(|v| v.to_string().into_bytes()),
        Just(b"20240315-14:30:18.123".to_vec()),
    ]
}

/// A raw message: 35 first, then random fields, sometimes a data field with SOH inside.
fn raw_message(delim: u8) -> impl Strategy<Value = Vec<u8>> {
    let tags = prop_oneof![
        1u32..60,
        Just(150u32),
        Just(151u32),
        Just(5000u32),
        Just(9999u32),
        Just(123_456_789u32),
    ];
    (
        prop::sample::select(vec!["FIX.4.2", "FIX.4.4", "FIXT.1.1"]),
        "[0-9A-Za-z]{1,2}",
        prop::collection::vec((tags, value()), 0..24),
        prop::option::of(prop::collection::vec(any::<u8>(), 1..20)),
    )
        .prop_map(move |(begin, mt, fs, data)| {
            let mut fields = vec![(35u32, mt.into_bytes())];
            fields.extend(fs.into_iter().filter(|(t, _)| ![8, 9, 10, 35].contains(t)));
            if let Some(d) = data {
                let at = fields.len() / 2 + 1;
                fields.insert(at, (95, d.len().to_string().into_bytes()));
                fields.insert(at + 1, (96, d));
            }
            fix_up(&fields, begin, delim)
        })
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (
            any::<usize>(),
            prop_oneof![
                prop::collection::vec(any::<u8>(), 1..8),
                Just(b"8=FIX".to_vec()),
                Just(b"8=FIX.4.4\x019=".to_vec()),
                Just(b"\x01".to_vec()),
                Just(b"\n".to_vec()),
            ]
        )
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1usize..6).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

fn apply(mut s: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        if s.is_empty() {
            break;
        }
        match m {
            Mutation::Flip(i, b) => {
                let i = i % s.len();
                s[i] = *b;
            }
            Mutation::Insert(i, v) => {
                let i = i % (s.len() + 1);
                s.splice(i..i, v.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let i = i % s.len();
                let e = (i + n).min(s.len());
                s.drain(i..e);
            }
        }
    }
    s
}

fn check(stream: &[u8], cuts: &[usize], max: u32, dl: Delimiter) -> Result<(), TestCaseError> {
    let want = naive::stream(stream, max, dl);
    let whole = fast(stream, &[], max, dl);
    prop_assert_eq!(&whole, &want, "whole stream");
    let chunked = fast(stream, cuts, max, dl);
    prop_assert_eq!(&chunked, &want, "chunked at {:?}", cuts);
    // Every byte at most once, one byte at a time.
    if stream.len() < 600 {
        let ones: Vec<usize> = (1..stream.len()).collect();
        prop_assert_eq!(&fast(stream, &ones, max, dl), &want, "byte at a time");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn valid_streams_agree(
        msgs in prop::collection::vec(raw_message(1), 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let stream: Vec<u8> = msgs.concat();
        let cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
        let want = naive::stream(&stream, 4096, Delimiter::Soh);
        prop_assert_eq!(want.len(), msgs.len());
        for ev in &want {
            let is_ok = matches!(ev, Ev::Msg { fields: Ok(_), .. });
            prop_assert!(is_ok, "{:?}", ev);
        }
        check(&stream, &cuts, 4096, Delimiter::Soh)?;
    }

    #[test]
    fn mutated_streams_agree(
        msgs in prop::collection::vec(raw_message(1), 1..5),
        muts in prop::collection::vec(mutation(), 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        max in prop_oneof![Just(4096u32), 5u32..300],
    ) {
        let stream = apply(msgs.concat(), &muts);
        let cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
        check(&stream, &cuts, max, Delimiter::Soh)?;
    }

    #[test]
    fn log_mode_agrees(
        msgs in prop::collection::vec(raw_message(b'|'), 1..5),
        muts in prop::collection::vec(mutation(), 0..3),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut s = Vec::new();
        for m in &msgs {
            s.extend_from_slice(m);
            s.push(b'\n');
        }
        let stream = apply(s, &muts);
        let cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
        check(&stream, &cuts, 4096, Delimiter::Log)?;
    }

    #[test]
    fn random_bytes_agree(
        stream in prop::collection::vec(prop_oneof![
            4 => any::<u8>(),
            1 => Just(1u8),
            1 => Just(b'8'),
            1 => Just(b'='),
        ], 0..300),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut stream = stream;
        stream.splice(0..0, b"8=FIX.4.4\x019=".iter().copied());
        check(&stream, &cuts, 4096, Delimiter::Soh)?;
    }
}
