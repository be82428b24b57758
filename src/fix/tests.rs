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

#[test]
fn scanners_agree() {
    let mut a = Vec::new();
    let mut b = Vec::new();
    let m = fix_up(ER);
    let f = frame_one(&m, &FramerConfig::default()).unwrap();
    let (s, e) = (f.body_start as usize, f.trailer_start as usize);
    let (mut ha, mut hb) = (TagHints::default(), TagHints::default());
    // Twice: cold hints, then every tag recognised from the hints.
    for _ in 0..2 {
        a.clear();
        b.clear();
        scan::index_fields(&m, s, e, false, &mut a, &mut ha).unwrap();
        scan::index_fields_swar(&m, s, e, false, &mut b, &mut hb).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 21);
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
            let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
            let ra = scan::index_fields(m, s, e, false, &mut a, &mut TagHints::default());
            let rb = scan::index_fields(m, s, e, false, &mut b, &mut warm);
            let rc = scan::index_fields_swar(m, s, e, false, &mut c, &mut warm);
            assert_eq!(ra, rb, "round {round} message {k}");
            assert_eq!(ra, rc, "round {round} message {k}");
            if ra.is_ok() {
                assert_eq!(a, b);
                assert_eq!(a, c);
            }
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
