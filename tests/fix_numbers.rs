//! Number and time conversions against naive oracles (i128 arithmetic, string splitting).

use lpscore::fix::ParseErrorKind as K;
use lpscore::fix::num::{
    days_from_civil, parse_char, parse_char_in, parse_fixed8, parse_fixed8_in, parse_time_of_day,
    parse_timestamp, parse_timestamp_in, parse_u64, parse_u64_in,
};
use proptest::prelude::*;

fn naive_fixed8(v: &str) -> Result<i64, K> {
    let (neg, body) = match v.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, v),
    };
    let (ip, fp) = body.split_once('.').unwrap_or((body, ""));
    if (ip.is_empty() && fp.is_empty()) || !ip.bytes().all(|c| c.is_ascii_digit()) {
        return Err(K::Malformed);
    }
    if !fp.bytes().all(|c| c.is_ascii_digit()) {
        return Err(K::Malformed);
    }
    // Overflow of the integer part itself (beyond u64) comes before fraction errors.
    let int: i128 = if ip.is_empty() {
        0
    } else {
        ip.parse::<u64>().map_err(|_| K::Overflow)?.into()
    };
    if fp.len() > 8 && fp[8..].bytes().any(|c| c != b'0') {
        return Err(K::TooManyDecimals);
    }
    let f8: String = fp.chars().chain(std::iter::repeat('0')).take(8).collect();
    let frac: i128 = f8.parse().unwrap();
    let mag = int * 100_000_000 + frac;
    if mag > u64::MAX as i128 {
        return Err(K::Overflow);
    }
    let val = if neg { -mag } else { mag };
    i64::try_from(val).map_err(|_| K::Overflow)
}

fn naive_ts(v: &str) -> Option<i64> {
    let (date, time) = v.split_once('-')?;
    if date.len() != 8 || !date.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (y, m, d): (i64, u32, u32) = (
        date[..4].parse().ok()?,
        date[4..6].parse().ok()?,
        date[6..].parse().ok()?,
    );
    let (hms, frac) = time
        .split_once('.')
        .map_or((time, None), |(a, b)| (a, Some(b)));
    let parts: Vec<&str> = hms.split(':').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let (h, mi, s): (i64, i64, i64) = (
        parts[0].parse().ok()?,
        parts[1].parse().ok()?,
        parts[2].parse().ok()?,
    );
    if !(1970..=2261).contains(&y)
        || !(1..=12).contains(&m)
        || d == 0
        || h > 23
        || mi > 59
        || s > 59
    {
        return None;
    }
    let dim = [
        31,
        if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
            29
        } else {
            28
        },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if d > dim[m as usize - 1] {
        return None;
    }
    let ns = match frac {
        None => 0,
        Some(f) if [3, 6, 9].contains(&f.len()) && f.bytes().all(|c| c.is_ascii_digit()) => {
            f.parse::<i64>().ok()? * 10i64.pow(9 - f.len() as u32)
        }
        Some(_) => return None,
    };
    Some(((days_from_civil(y, m, d) * 86_400) + h * 3600 + mi * 60 + s) * 1_000_000_000 + ns)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn fixed8_agrees(v in "-?[0-9.]{0,24}|[0-9+ e.-]{0,6}") {
        prop_assert_eq!(parse_fixed8(v.as_bytes()), naive_fixed8(&v), "{:?}", v);
    }

    #[test]
    fn fixed8_in_a_message_agrees(
        prefix in "[0-9=.|-]{0,9}",
        v in "-?[0-9.]{0,10}|[0-9.]{1,8}|[0-9+ e.-]{0,6}",
        suffix in "[|0-9]{0,3}",
    ) {
        let buf = format!("{prefix}{v}{suffix}");
        let (start, end) = (prefix.len(), prefix.len() + v.len());
        prop_assert_eq!(parse_fixed8_in(buf.as_bytes(), start, end), naive_fixed8(&v), "{:?}", buf);
    }

    #[test]
    fn fixed8_round_trips_every_i64(x in any::<i64>()) {
        let s = format!("{}{}.{:08}", if x < 0 { "-" } else { "" }, x.unsigned_abs() / 100_000_000, x.unsigned_abs() % 100_000_000);
        prop_assert_eq!(parse_fixed8(s.as_bytes()), Ok(x));
    }

    #[test]
    fn timestamps_agree(
        y in 1965u32..2270, m in 0u32..14, d in 0u32..33, h in 0u32..25, mi in 0u32..61, s in 0u32..61,
        frac in prop_oneof![Just(String::new()), "\\.[0-9]{3}", "\\.[0-9]{6}", "\\.[0-9]{9}", "\\.[0-9]{1,10}", "[:.x0-9]{0,3}"],
    ) {
        let v = format!("{y:04}{m:02}{d:02}-{h:02}:{mi:02}:{s:02}{frac}");
        prop_assert_eq!(parse_timestamp(v.as_bytes()).ok(), naive_ts(&v), "{}", v);
        let t = format!("{h:02}:{mi:02}:{s:02}{frac}");
        let want = naive_ts(&format!("19700101-{t}"));
        prop_assert_eq!(parse_time_of_day(t.as_bytes()).ok(), want, "{}", t);
    }

    #[test]
    fn timestamps_reject_noise(v in "[0-9:.-]{15,28}") {
        prop_assert_eq!(parse_timestamp(v.as_bytes()).ok(), naive_ts(&v), "{}", v);
    }

    /// The in-message conversions (word loads around the value) agree with the slice ones
    /// whatever bytes surround the value (high bytes too: SWAR carries).
    #[test]
    fn conversions_in_a_message_agree(
        prefix in prop::collection::vec(prop_oneof![any::<u8>(), Just(0xFFu8), Just(b'9')], 0..10),
        y in 1965u32..2270, m in 0u32..14, d in 0u32..33, h in 0u32..25, mi in 0u32..61, s in 0u32..61,
        frac in prop_oneof![Just(String::new()), "\\.[0-9]{3}", "\\.[0-9]{6}", "\\.[0-9]{9}", "\\.[0-9]{1,10}", "[:.x0-9]{0,3}"],
        num in "-?[0-9.]{0,10}|[0-9.]{1,8}|[0-9]{1,20}|[0-9.]{9,17}|[0-9]{1,11}\\.[0-9]{1,9}",
        noise in prop::option::of((0usize..28, any::<u8>())),
        suffix in prop::collection::vec(any::<u8>(), 0..3),
    ) {
        let mut ts = format!("{y:04}{m:02}{d:02}-{h:02}:{mi:02}:{s:02}{frac}").into_bytes();
        let mut num = num.into_bytes();
        if let Some((i, b)) = noise {
            if let Some(c) = ts.get_mut(i) {
                *c = b;
            }
            if let Some(c) = num.get_mut(i) {
                *c = b;
            }
        }
        for v in [&ts, &num] {
            let mut buf = prefix.clone();
            buf.extend_from_slice(v);
            buf.extend_from_slice(&suffix);
            let (start, end) = (prefix.len(), prefix.len() + v.len());
            prop_assert_eq!(parse_timestamp_in(&buf, start, end), parse_timestamp(v), "{:?}", buf);
            prop_assert_eq!(parse_fixed8_in(&buf, start, end), parse_fixed8(v), "{:?}", buf);
            prop_assert_eq!(parse_u64_in(&buf, start, end), parse_u64(v), "{:?}", buf);
            prop_assert_eq!(parse_char_in(&buf, start, end), parse_char(v), "{:?}", buf);
        }
        let want = std::str::from_utf8(&ts).ok().and_then(naive_ts);
        prop_assert_eq!(parse_timestamp(&ts).ok(), want);
    }

    #[test]
    fn integers_agree(v in "[0-9]{0,22}|[0-9+ -]{0,4}") {
        let want = if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
            Err(K::Malformed)
        } else {
            v.parse::<u64>().map_err(|_| K::Overflow)
        };
        prop_assert_eq!(parse_u64(v.as_bytes()), want);
    }
}
