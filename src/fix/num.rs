//! Number, boolean and time conversions, strict and allocation-free. No `f64` anywhere.
//!
//! * [`Price`] and [`Qty`] are fixed-point `i64` with **8 decimals** (scale [`SCALE`] = 1e8):
//!   `1.08099` is `Price(108_099_000)`. A value with a non-zero digit beyond the 8th decimal is
//!   rejected ([`ParseErrorKind::TooManyDecimals`](super::ParseErrorKind)), never rounded;
//!   trailing zeros beyond the 8th decimal are accepted. Values beyond `i64` (about +-92 billion
//!   units) are rejected as overflow. A leading `-` is accepted (prices may be negative), `+`,
//!   spaces and exponents are not; `.5` and `5.` are accepted.
//! * Integers (SeqNum, BodyLength, lengths, counts) are ASCII digits only: no sign, no spaces.
//! * [`UtcTimestamp`] is nanoseconds since the Unix epoch, from `YYYYMMDD-HH:MM:SS` with an
//!   optional fraction of 3, 6 or 9 digits; years 1970 to 2261, seconds 0 to 59 (a leap second
//!   60 is rejected).

use super::error::ParseErrorKind;

/// The fixed-point scale of [`Price`] and [`Qty`]: 8 decimals.
pub const SCALE: i64 = 100_000_000;

/// A price: fixed-point `i64`, 8 decimals (`Price(108_099_000)` is 1.08099).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(pub i64);

/// A quantity: fixed-point `i64`, 8 decimals like [`Price`] (`Qty(5_000_000 * SCALE)` is 5 M).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Qty(pub i64);

/// A UTCTimestamp: nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTimestamp(pub i64);

impl Price {
    /// From whole units (`Price::from_units(2)` is 2.0).
    pub const fn from_units(u: i64) -> Self {
        Self(u * SCALE)
    }
    /// Parses a FIX Price/float value (see the module docs for the rules).
    pub fn parse(v: &[u8]) -> Result<Self, ParseErrorKind> {
        parse_fixed8(v).map(Self)
    }
}

impl Qty {
    /// From whole units (`Qty::from_units(250_000)`).
    pub const fn from_units(u: i64) -> Self {
        Self(u * SCALE)
    }
    /// Parses a FIX Qty value (same rules as [`Price::parse`]).
    pub fn parse(v: &[u8]) -> Result<Self, ParseErrorKind> {
        parse_fixed8(v).map(Self)
    }
}

impl UtcTimestamp {
    /// Nanoseconds since the Unix epoch.
    pub const fn nanos(self) -> i64 {
        self.0
    }
    /// Parses `YYYYMMDD-HH:MM:SS[.fff|.ffffff|.fffffffff]`.
    pub fn parse(v: &[u8]) -> Result<Self, ParseErrorKind> {
        parse_timestamp(v).map(Self)
    }
}

#[inline(always)]
fn digit(b: u8) -> Result<u64, ParseErrorKind> {
    let d = b.wrapping_sub(b'0');
    if d < 10 {
        Ok(u64::from(d))
    } else {
        Err(ParseErrorKind::Malformed)
    }
}

/// Strict unsigned integer: one or more ASCII digits, nothing else.
#[inline]
pub fn parse_u64(v: &[u8]) -> Result<u64, ParseErrorKind> {
    if v.is_empty() {
        return Err(ParseErrorKind::Malformed);
    }
    let mut n: u64 = 0;
    if v.len() <= 19 {
        for &b in v {
            n = n * 10 + digit(b)?;
        }
        return Ok(n);
    }
    for &b in v {
        let d = digit(b)?;
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(d))
            .ok_or(ParseErrorKind::Overflow)?;
    }
    Ok(n)
}

/// Strict `u32` (see [`parse_u64`]).
#[inline]
pub fn parse_u32(v: &[u8]) -> Result<u32, ParseErrorKind> {
    let n = parse_u64(v)?;
    u32::try_from(n).map_err(|_| ParseErrorKind::Overflow)
}

/// Fixed-point with 8 decimals (see the module docs).
#[inline]
pub fn parse_fixed8(v: &[u8]) -> Result<i64, ParseErrorKind> {
    use ParseErrorKind::{Malformed, Overflow};
    let (neg, body) = match v.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some(_) => (false, v),
        None => return Err(Malformed),
    };
    if body.len() > 19 {
        return parse_fixed8_long(neg, body);
    }
    // One pass: at most 19 digits, so `mag` cannot overflow.
    let mut mag: u64 = 0;
    let mut dot = usize::MAX;
    for (i, &c) in body.iter().enumerate() {
        let d = c.wrapping_sub(b'0');
        if d < 10 {
            mag = mag * 10 + u64::from(d);
        } else if c == b'.' && dot == usize::MAX {
            dot = i;
        } else {
            return Err(Malformed);
        }
    }
    let frac = if dot == usize::MAX {
        0
    } else {
        body.len() - dot - 1
    };
    if body.len() == usize::from(dot != usize::MAX) {
        return Err(Malformed);
    }
    if frac > 8 {
        return parse_fixed8_long(neg, body);
    }
    let mag = mag.checked_mul(POW10[8 - frac]).ok_or(Overflow)?;
    finish_fixed8(neg, mag)
}

/// The 8 bytes of `buf` that end at `end` (little-endian), when there are 8 before it. (A
/// `u64`, not a reference: an `Option<&[u8; 8]>` cost a null test of the computed pointer.)
#[inline(always)]
pub(crate) fn eight_ending_at(buf: &[u8], end: usize) -> Option<u64> {
    super::scan::word_ending_at(buf, end)
}

/// [`parse_fixed8`] of `buf[start..end]`, reading the up to 8 value bytes with one 8-byte load
/// that ends at `end` (the bytes before the value are masked off): one SWAR classification of
/// the bytes (digits, and at most one dot), the dot removed by a shift, one SWAR conversion.
/// Anything unusual (a sign, more than 8 bytes, no room before the value, a malformed value) goes
/// to [`parse_fixed8`], so results are identical.
#[inline(always)]
pub fn parse_fixed8_in(buf: &[u8], start: usize, end: usize) -> Result<i64, ParseErrorKind> {
    let slow = || parse_fixed8(buf.get(start..end).unwrap_or(&[]));
    let k = end.wrapping_sub(start);
    let Some(w) = eight_ending_at(buf, end) else {
        return slow();
    };
    if k.wrapping_sub(1) >= 8 {
        return if (9..=16).contains(&k) {
            fixed8_9_to_16(buf, end, k).unwrap_or_else(slow)
        } else {
            slow()
        };
    }
    match fixed8_word(w, k) {
        Some(v) => Ok(v),
        None => slow(),
    }
}

/// The fast case of [`parse_fixed8_in`]: the value is the top `k` bytes of `w` (`1 <= k <= 8`),
/// digits with at most one dot and at least one digit; `None` for anything else (the caller
/// takes the general path). The batched conversion (`scan::fixed8_x8`) computes the same.
#[inline(always)]
pub(crate) fn fixed8_word(w: u64, k: usize) -> Option<i64> {
    use super::message::{ZEROS, combine8, non_digits};
    debug_assert!((1..=8).contains(&k));
    // The value is the top k bytes (its last byte the top one).
    let vmask = !0u64 << (8 * (8 - k));
    let nd = non_digits(w) & vmask;
    if nd == 0 {
        return Some((combine8((w & vmask) - (ZEROS & vmask)) * POW10[8]) as i64);
    }
    // Exactly one non-digit, a dot, and a digit besides: `non_digits` flags the lowest
    // non-digit byte exactly and never misses one above it.
    let j = nd.trailing_zeros() / 8; // byte index of the first non-digit
    let above = (!0u64 << (8 * j)) << 8; // bytes above it
    if (w >> (8 * j)) as u8 != b'.' || nd & above != 0 || k < 2 {
        return None;
    }
    let below = !(above | (0xFF << (8 * j)));
    // Remove the dot: the bytes below it move up one byte.
    let digits = (((w & below) << 8) | (w & above)) & (vmask << 8);
    let v = combine8(digits - (ZEROS & (vmask << 8)));
    // `7 - j` decimals (at most 7, at most 7 digits): no overflow.
    Some((v * POW10[1 + j as usize]) as i64)
}

/// [`parse_fixed8_in`] of a value of 9 to 16 bytes (8-decimal prices such as `1.08123456`):
/// its first `k - 8` bytes are the top of the word `lo` before the last 8, `hi`. `None` for what
/// this does not handle (a sign, more than 8 decimals, a possible overflow, a malformed value):
/// the caller then takes the general path.
#[inline(always)]
fn fixed8_9_to_16(buf: &[u8], end: usize, k: usize) -> Option<Result<i64, ParseErrorKind>> {
    use super::message::{ZEROS, combine8, non_digits};
    let word = |at: usize| {
        buf.get(at..at + 8)
            .and_then(|r| r.first_chunk::<8>())
            .map(|w| u64::from_le_bytes(*w))
    };
    let (lo, hi) = (word(end.checked_sub(16)?)?, word(end - 8)?);
    let amask = !0u64 << (8 * (16 - k)); // the first k - 8 bytes, at the top of `lo`
    let (nda, ndb) = (non_digits(lo) & amask, non_digits(hi));
    // (Wrapping: garbage when a byte is no digit, and then unused.)
    let a = combine8((lo & amask).wrapping_sub(ZEROS & amask));
    let v = match (nda, ndb) {
        // 9 to 16 digits, no dot (beyond `i64`: an overflow, as in `parse_fixed8`).
        (0, 0) => (a * POW10[8] + combine8(hi - ZEROS)).checked_mul(POW10[8])?,
        // The dot among the last 8 bytes, at byte j: 7 decimals or fewer.
        (0, _) => {
            let j = ndb.trailing_zeros() / 8;
            let above = (!0u64 << (8 * j)) << 8;
            if (hi >> (8 * j)) as u8 != b'.' || ndb & above != 0 {
                return None;
            }
            let below = !(above | (0xFF << (8 * j)));
            let digits = ((hi & below) << 8) | (hi & above); // 7 digits in bytes 1..=7
            let b7 = combine8((digits & !0xFF) - (ZEROS & !0xFF));
            (a * POW10[7] + b7).checked_mul(POW10[1 + j as usize])?
        }
        // The dot last of the first part: exactly 8 decimals.
        (_, 0) if (lo >> 56) as u8 == b'.' && nda >> 56 != 0 && nda << 8 == 0 => {
            // The digits before the dot, moved up over it.
            let (x, mask) = (lo << 8, amask << 8);
            combine8((x & mask) - (ZEROS & mask)) * POW10[8] + combine8(hi - ZEROS)
        }
        _ => return None,
    };
    Some(i64::try_from(v).map_err(|_| ParseErrorKind::Overflow))
}

/// [`parse_u64`] of `buf[start..end]`: up to 8 digits with one 8-byte load that ends at `end`
/// and one SWAR conversion; anything else goes to [`parse_u64`] (identical results).
#[inline(always)]
pub fn parse_u64_in(buf: &[u8], start: usize, end: usize) -> Result<u64, ParseErrorKind> {
    use super::message::{ZEROS, combine8, non_digits};
    let slow = || parse_u64(buf.get(start..end).unwrap_or(&[]));
    let k = end.wrapping_sub(start);
    let Some(w) = eight_ending_at(buf, end) else {
        return slow();
    };
    if k.wrapping_sub(1) >= 8 {
        return slow();
    }
    let vmask = !0u64 << (8 * (8 - k));
    if non_digits(w) & vmask != 0 {
        return slow();
    }
    Ok(combine8((w & vmask) - (ZEROS & vmask)))
}

const POW10: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

#[inline(always)]
fn finish_fixed8(neg: bool, mag: u64) -> Result<i64, ParseErrorKind> {
    if neg {
        if mag > 1u64 << 63 {
            return Err(ParseErrorKind::Overflow);
        }
        Ok((mag as i64).wrapping_neg())
    } else {
        i64::try_from(mag).map_err(|_| ParseErrorKind::Overflow)
    }
}

/// The general case: long values, more than 8 decimals (zeros only), overflow checks.
#[cold]
fn parse_fixed8_long(neg: bool, body: &[u8]) -> Result<i64, ParseErrorKind> {
    use ParseErrorKind::{Malformed, Overflow, TooManyDecimals};
    let (ip, fp) = match body.iter().position(|&c| c == b'.') {
        Some(k) => (&body[..k], &body[k + 1..]),
        None => (body, &[][..]),
    };
    if ip.is_empty() && fp.is_empty() {
        return Err(Malformed);
    }
    let mut int: u64 = 0;
    for &c in ip {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return Err(Malformed);
        }
        int = int
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d)))
            .ok_or(Overflow)?;
    }
    if !fp.iter().all(u8::is_ascii_digit) {
        return Err(Malformed);
    }
    if fp.len() > 8 && fp[8..].iter().any(|&c| c != b'0') {
        return Err(TooManyDecimals);
    }
    let mut frac: u64 = 0;
    for i in 0..8 {
        frac = frac * 10 + fp.get(i).map_or(0, |&c| u64::from(c - b'0'));
    }
    let mag = int
        .checked_mul(SCALE as u64)
        .and_then(|n| n.checked_add(frac))
        .ok_or(Overflow)?;
    finish_fixed8(neg, mag)
}

/// `Y` / `N`.
#[inline]
pub fn parse_bool(v: &[u8]) -> Result<bool, ParseErrorKind> {
    match v {
        b"Y" => Ok(true),
        b"N" => Ok(false),
        _ => Err(ParseErrorKind::Malformed),
    }
}

/// A single-character value.
#[inline]
pub fn parse_char(v: &[u8]) -> Result<u8, ParseErrorKind> {
    match v {
        [c] => Ok(*c),
        _ => Err(ParseErrorKind::Malformed),
    }
}

/// [`parse_char`] of `buf[start..end]` (one length test and one bound check).
#[inline(always)]
pub fn parse_char_in(buf: &[u8], start: usize, end: usize) -> Result<u8, ParseErrorKind> {
    match buf.get(start) {
        Some(&c) if end.wrapping_sub(start) == 1 => Ok(c),
        _ => Err(ParseErrorKind::Malformed),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub const fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
pub const fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days before each month in a common year.
const CUM_DAYS: [u16; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

/// Days from 1970-01-01 to January 1st of each year 1970..=2262.
const YEAR_DAYS: [u32; 293] = {
    let mut t = [0u32; 293];
    let mut i = 1;
    while i < 293 {
        let y = 1970 + i as i64 - 1;
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        t[i] = t[i - 1] + if leap { 366 } else { 365 };
        i += 1;
    }
    t
};

/// Days in each month of a common year.
const MONTH_DAYS: [u8; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// Year, month, day -> days since the epoch, checked (years 1970..=2261), by table lookups.
#[inline(always)]
fn ymd_days(y: u32, m: u32, d: u32) -> Result<i64, ParseErrorKind> {
    let yi = y.wrapping_sub(1970) as usize;
    let mi = m.wrapping_sub(1) as usize;
    let (Some(&y0), Some(&y1), Some(&md), Some(&cum)) = (
        YEAR_DAYS.get(yi),
        YEAR_DAYS.get(yi + 1),
        MONTH_DAYS.get(mi),
        CUM_DAYS.get(mi),
    ) else {
        return Err(ParseErrorKind::Malformed);
    };
    if yi >= 292 {
        return Err(ParseErrorKind::Malformed);
    }
    let leap = u32::from(y1 - y0 == 366);
    let feb_leap = leap & u32::from(m == 2);
    if d == 0 || d > u32::from(md) + feb_leap {
        return Err(ParseErrorKind::Malformed);
    }
    Ok(i64::from(
        y0 + u32::from(cum) + (leap & u32::from(m > 2)) + d - 1,
    ))
}

/// Days since 1970-01-01 of a valid date (tests compare it with `days_from_civil`).
#[cfg(test)]
fn days_since_epoch(y: u32, m: u32, d: u32) -> i64 {
    ymd_days(y, m, d).unwrap_or(-1)
}

/// `YYYYMMDD` (8 bytes) -> days since the epoch.
#[inline(always)]
fn date8(w: &[u8; 8]) -> Result<i64, ParseErrorKind> {
    let d = super::message::swar_digit_values(u64::from_le_bytes(*w))
        .ok_or(ParseErrorKind::Malformed)?;
    // Pairs: byte 0 = century, 2 = year in century, 4 = month, 6 = day.
    let p = (d.wrapping_mul(10).wrapping_add(d >> 8)) & 0x00FF_00FF_00FF_00FF;
    let y = (p & 0xFF) as u32 * 100 + ((p >> 16) & 0xFF) as u32;
    ymd_days(y, ((p >> 32) & 0xFF) as u32, ((p >> 48) & 0xFF) as u32)
}

thread_local! {
    /// `(YYYYMMDD as a little-endian word, its day number)` of the last date converted by
    /// [`parse_timestamp`]; starts as a valid pair (1970-01-01 is day 0).
    static LAST_DATE: core::cell::Cell<(u64, i64)> =
        const { core::cell::Cell::new((u64::from_le_bytes(*b"19700101"), 0)) };
}

thread_local! {
    /// `(YYYYMMDD, HH:MM:SS as little-endian words, ns since the epoch at that second)` of the
    /// last timestamp converted by [`parse_timestamp_in`]'s fast path; starts as a valid triple.
    static LAST_SECOND: core::cell::Cell<(u64, u64, i64)> = const {
        core::cell::Cell::new((
            u64::from_le_bytes(*b"19700101"),
            u64::from_le_bytes(*b"00:00:00"),
            0,
        ))
    };
    /// `(YYYYMMDD, HH:MM:SS << 16 (the seconds shifted out), ns since the epoch at that
    /// minute)` of the last minute converted by [`parse_timestamp_in`]'s full checks; starts as
    /// a valid triple.
    static LAST_MINUTE: core::cell::Cell<(u64, u64, i64)> = const {
        core::cell::Cell::new((
            u64::from_le_bytes(*b"19700101"),
            u64::from_le_bytes(*b"00:00:00") << 16,
            0,
        ))
    };
}

/// `YYYYMMDD` -> days since the epoch (years 1970..=2261).
#[inline]
pub fn parse_date_days(v: &[u8]) -> Result<i64, ParseErrorKind> {
    match v.first_chunk::<8>() {
        Some(w) if v.len() == 8 => date8(w),
        _ => Err(ParseErrorKind::Malformed),
    }
}

/// `HH:MM:SS` at the start of `v` -> seconds since midnight.
#[inline(always)]
fn hms(v: &[u8]) -> Result<u32, ParseErrorKind> {
    const COLONS: u64 = 0x0000_3A00_003A_0000;
    const COLON_MASK: u64 = 0x0000_FF00_00FF_0000;
    let Some(t) = v.first_chunk::<8>() else {
        return Err(ParseErrorKind::Malformed);
    };
    let x = u64::from_le_bytes(*t);
    if x & COLON_MASK != COLONS {
        return Err(ParseErrorKind::Malformed);
    }
    // Colons -> '0' so that all 8 bytes must be digits.
    let x = (x & !COLON_MASK) | (0x3030_3030_3030_3030 & COLON_MASK);
    let d = super::message::swar_digit_values(x).ok_or(ParseErrorKind::Malformed)?;
    let byte = |i: u32| ((d >> (8 * i)) & 0xFF) as u32;
    let (h, mi, s) = (
        byte(0) * 10 + byte(1),
        byte(3) * 10 + byte(4),
        byte(6) * 10 + byte(7),
    );
    if h > 23 || mi > 59 || s > 59 {
        return Err(ParseErrorKind::Malformed);
    }
    Ok(h * 3600 + mi * 60 + s)
}

/// The fraction `.fff`, `.ffffff` or `.fffffffff` at the end of `v` (`frac` bytes long, dot
/// included) as nanoseconds; `v` is at least 8 bytes longer than the fraction's digits.
#[inline(always)]
fn fraction_ns(v: &[u8], frac: usize) -> Result<u64, ParseErrorKind> {
    let digits = frac - 1;
    let len = v.len();
    if v[len - frac] != b'.' {
        return Err(ParseErrorKind::Malformed);
    }
    let Some(last8) = v.get(len - 8..).and_then(|r| r.first_chunk::<8>()) else {
        return Err(ParseErrorKind::Malformed);
    };
    let x = u64::from_le_bytes(*last8);
    let n = digits.min(8) as u32;
    let low = super::message::swar_digits(x & (!0u64 << (8 * (8 - n))), n)
        .ok_or(ParseErrorKind::Malformed)?;
    Ok(match digits {
        3 => low * 1_000_000,
        6 => low * 1_000,
        _ => {
            let d = u64::from(v[len - 9].wrapping_sub(b'0'));
            if d > 9 {
                return Err(ParseErrorKind::Malformed);
            }
            d * 100_000_000 + low
        }
    })
}

/// `HH:MM:SS[.fff|.ffffff|.fffffffff]` -> nanoseconds since midnight.
pub fn parse_time_of_day(v: &[u8]) -> Result<i64, ParseErrorKind> {
    let secs = hms(v)?;
    let ns = match v.len() {
        8 => 0,
        12 | 15 | 18 => fraction_ns(v, v.len() - 8)?,
        _ => return Err(ParseErrorKind::Malformed),
    };
    Ok(i64::from(secs) * 1_000_000_000 + ns as i64)
}

/// `YYYYMMDD-HH:MM:SS[.fff|.ffffff|.fffffffff]` -> ns since the Unix epoch.
#[inline(always)]
pub fn parse_timestamp(v: &[u8]) -> Result<i64, ParseErrorKind> {
    let frac = match v.len() {
        17 => 0,
        21 | 24 | 27 => v.len() - 17,
        _ => return Err(ParseErrorKind::Malformed),
    };
    let (Some(date), Some(rest)) = (v.first_chunk::<8>(), v.get(9..)) else {
        return Err(ParseErrorKind::Malformed);
    };
    if v[8] != b'-' {
        return Err(ParseErrorKind::Malformed);
    }
    // SendingTime (52) and TransactTime (60) of a message nearly always share the date: the day
    // number of the last valid date is kept per thread (only valid dates are ever cached, so the
    // result is the same as converting every time).
    let w = u64::from_le_bytes(*date);
    let (cw, cd) = LAST_DATE.get();
    let days = if cw == w {
        cd
    } else {
        let d = date8(date)?;
        LAST_DATE.set((w, d));
        d
    };
    let secs = hms(rest)?;
    let ns = if frac == 0 { 0 } else { fraction_ns(v, frac)? };
    Ok((days * 86_400 + i64::from(secs)) * 1_000_000_000 + ns as i64)
}

/// [`parse_timestamp`] of `buf[start..end]` for second, milli and microsecond precision: the
/// time of day and the fraction in one SWAR step each, on 8-byte loads (the fraction's ends at
/// `end`). Anything else (nanoseconds, a malformed value) goes to [`parse_timestamp`], so results
/// are identical.
#[inline(always)]
pub fn parse_timestamp_in(buf: &[u8], start: usize, end: usize) -> Result<i64, ParseErrorKind> {
    use super::message::{ZEROS, combine8, non_digits};
    /// `:` at bytes 2 and 5 of `HH:MM:SS`.
    const COLONS: u64 = 0x0000_3A00_003A_0000;
    const COLON_MASK: u64 = 0x0000_FF00_00FF_0000;
    let slow = || parse_timestamp(buf.get(start..end).unwrap_or(&[]));
    let Some(v) = buf.get(start..end) else {
        return slow();
    };
    // Milliseconds, the usual precision, first: a fixed length, so fixed offsets and masks (the
    // same checks as the general case below with n = 3).
    let (date, t, ns) = if let Ok(a) = <&[u8; 21]>::try_from(v) {
        const MS: u64 = !0u64 << 40; // the fraction's 3 digits, the top bytes of `last`
        let (Some(date), Some(t), Some(last)) = (
            a.first_chunk::<8>(),
            a[9..].first_chunk::<8>(),
            a.last_chunk::<8>(),
        ) else {
            return slow();
        };
        let x = u64::from_le_bytes(*last);
        if a[8] != b'-' || non_digits(x) & MS != 0 || (x >> 32) as u8 != b'.' {
            return slow();
        }
        (date, t, combine8((x & MS) - (ZEROS & MS)) * 1_000_000)
    } else {
        let (Some(date), Some(b'-'), Some(t), Some(last)) = (
            v.first_chunk::<8>(),
            v.get(8),
            v.get(9..).and_then(|r| r.first_chunk::<8>()),
            v.last_chunk::<8>(),
        ) else {
            return slow();
        };
        // The fraction: its n digits are the top bytes of `last`, the dot right below them.
        let ns = match v.len() {
            17 => 0,
            21 | 24 => {
                let n = v.len() - 18;
                let x = u64::from_le_bytes(*last);
                let mask = !0u64 << (8 * (8 - n));
                if non_digits(x) & mask != 0 || (x >> (8 * (7 - n))) as u8 != b'.' {
                    return slow();
                }
                let f = combine8((x & mask) - (ZEROS & mask));
                if n == 3 { f * 1_000_000 } else { f * 1_000 }
            }
            _ => return slow(),
        };
        (date, t, ns)
    };
    // The same second as the last timestamp converted here (SendingTime and TransactTime of a
    // message, messages of one second): its ns are cached per thread. Only validated
    // `YYYYMMDD` / `HH:MM:SS` pairs are cached (byte 8 is checked above), so the result is the
    // conversion's.
    let (w, x) = (u64::from_le_bytes(*date), u64::from_le_bytes(*t));
    let (lw, lx, lns) = LAST_SECOND.get();
    if lw == w && lx == x {
        return Ok(lns + ns as i64);
    }
    // The same minute as the last one fully checked here (messages of one minute, in any
    // second): `YYYYMMDD` and `HH:MM:` are equal to a pair that passed the checks below, so
    // only the seconds' two digits are left to check (a tens digit of 6 or more, or a
    // non-digit, takes the full checks, which report it).
    let (mw, mx, mns) = LAST_MINUTE.get();
    if mw == w && mx == x << 16 {
        let tens = ((x >> 48) as u8).wrapping_sub(b'0');
        let units = ((x >> 56) as u8).wrapping_sub(b'0');
        if tens <= 5 && units <= 9 {
            let second = mns + i64::from(tens * 10 + units) * 1_000_000_000;
            LAST_SECOND.set((w, x, second));
            return Ok(second + ns as i64);
        }
    }
    // HH:MM:SS: colons in place, then (colons made '0') all digits.
    let y = x ^ (COLON_MASK & 0x0A0A_0A0A_0A0A_0A0A); // ':' ^ 0x0A == '0'
    if x & COLON_MASK != COLONS || non_digits(y) != 0 {
        return slow();
    }
    let d = y - ZEROS;
    // Byte i: 10 * digit i + digit i + 1 (at most 99: no carry): hours at 0, minutes at 3,
    // seconds at 6.
    let p = d * 10 + (d >> 8);
    let (h, m, sec) = (p & 0xFF, (p >> 24) & 0xFF, (p >> 48) & 0xFF);
    if h > 23 || m > 59 || sec > 59 {
        return slow();
    }
    // The date: as `parse_timestamp` (the same per-thread cache).
    let (cw, cd) = LAST_DATE.get();
    let days = if cw == w {
        cd
    } else {
        let Ok(dd) = date8(date) else {
            return slow();
        };
        LAST_DATE.set((w, dd));
        dd
    };
    let minute = (days * 86_400 + (h * 3600 + m * 60) as i64) * 1_000_000_000;
    LAST_MINUTE.set((w, x << 16, minute));
    let second = minute + sec as i64 * 1_000_000_000;
    LAST_SECOND.set((w, x, second));
    Ok(second + ns as i64)
}

/// Appends the decimal digits of `n`.
#[inline]
pub fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Appends a fixed-point value with 8 decimals, trailing zeros trimmed (`108099000` -> `1.08099`,
/// `500000000` -> `5`).
pub fn write_fixed8(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    let mag = v.unsigned_abs();
    write_u64(out, mag / SCALE as u64);
    let mut frac = mag % SCALE as u64;
    if frac != 0 {
        let mut digits = 8;
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        out.push(b'.');
        let mut tmp = [b'0'; 8];
        let mut i = digits;
        while i > 0 {
            i -= 1;
            tmp[i] = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        out.extend_from_slice(&tmp[..digits]);
    }
}

fn push2(out: &mut Vec<u8>, n: u32) {
    out.push(b'0' + (n / 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

/// Appends `YYYYMMDD` of a day number.
pub fn write_date_days(out: &mut Vec<u8>, days: i64) {
    let (y, m, d) = civil_from_days(days);
    let y = y.clamp(0, 9999) as u32;
    push2(out, y / 100);
    push2(out, y % 100);
    push2(out, m);
    push2(out, d);
}

/// Appends `HH:MM:SS` and the shortest exact fraction (none, 3, 6 or 9 digits).
pub fn write_time_of_day(out: &mut Vec<u8>, ns: i64) {
    let ns = ns.rem_euclid(86_400_000_000_000) as u64;
    let secs = (ns / 1_000_000_000) as u32;
    let frac = ns % 1_000_000_000;
    push2(out, secs / 3600);
    out.push(b':');
    push2(out, secs / 60 % 60);
    out.push(b':');
    push2(out, secs % 60);
    let (val, digits) = if frac == 0 {
        return;
    } else if frac % 1_000_000 == 0 {
        (frac / 1_000_000, 3)
    } else if frac % 1_000 == 0 {
        (frac / 1_000, 6)
    } else {
        (frac, 9)
    };
    out.push(b'.');
    let mut tmp = [b'0'; 9];
    let mut v = val;
    let mut i = digits;
    while i > 0 {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&tmp[..digits]);
}

/// Appends a UTCTimestamp with the shortest exact precision.
pub fn write_timestamp(out: &mut Vec<u8>, ns: i64) {
    let days = ns.div_euclid(86_400_000_000_000);
    write_date_days(out, days);
    out.push(b'-');
    write_time_of_day(out, ns.rem_euclid(86_400_000_000_000));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed8() {
        assert_eq!(parse_fixed8(b"1.08099"), Ok(108_099_000));
        assert_eq!(parse_fixed8(b"5000000"), Ok(500_000_000_000_000));
        assert_eq!(parse_fixed8(b"-0.5"), Ok(-50_000_000));
        assert_eq!(parse_fixed8(b".5"), Ok(50_000_000));
        assert_eq!(parse_fixed8(b"5."), Ok(500_000_000));
        assert_eq!(parse_fixed8(b"1.123456780000"), Ok(112_345_678));
        assert_eq!(
            parse_fixed8(b"1.123456789"),
            Err(ParseErrorKind::TooManyDecimals)
        );
        assert_eq!(parse_fixed8(b"92233720368.54775807"), Ok(i64::MAX));
        assert_eq!(parse_fixed8(b"-92233720368.54775808"), Ok(i64::MIN));
        assert_eq!(
            parse_fixed8(b"92233720368.54775808"),
            Err(ParseErrorKind::Overflow)
        );
        assert_eq!(
            parse_fixed8(b"99999999999999999999999"),
            Err(ParseErrorKind::Overflow)
        );
        for bad in [
            &b""[..],
            b"-",
            b".",
            b"+1",
            b" 1",
            b"1e5",
            b"1.2.3",
            b"--1",
            b"0x10",
        ] {
            assert_eq!(parse_fixed8(bad), Err(ParseErrorKind::Malformed), "{bad:?}");
        }
        let mut out = Vec::new();
        for v in [
            0,
            1,
            -1,
            108_099_000,
            i64::MAX,
            i64::MIN,
            500_000_000,
            -50_000_000,
        ] {
            out.clear();
            write_fixed8(&mut out, v);
            assert_eq!(
                parse_fixed8(&out),
                Ok(v),
                "{}",
                String::from_utf8_lossy(&out)
            );
        }
    }

    #[test]
    fn char_in_agrees_with_char() {
        // Every (start, end), in and out of bounds, backwards too.
        for buf in [&b""[..], b"1", b"12", b"\x01A\x01", b"abcdefghij"] {
            for start in 0..buf.len() + 3 {
                for end in 0..buf.len() + 3 {
                    let v = buf.get(start..end).unwrap_or(&[]);
                    assert_eq!(
                        parse_char_in(buf, start, end),
                        parse_char(v),
                        "{buf:?} {start}..{end}"
                    );
                }
            }
        }
    }

    #[test]
    fn ints() {
        assert_eq!(parse_u64(b"0042"), Ok(42));
        assert_eq!(parse_u64(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            parse_u64(b"18446744073709551616"),
            Err(ParseErrorKind::Overflow)
        );
        for bad in [&b""[..], b"+1", b"-1", b" 1", b"1 ", b"1a"] {
            assert_eq!(parse_u64(bad), Err(ParseErrorKind::Malformed));
        }
    }

    #[test]
    fn day_numbers_agree() {
        for days in 0..(2262 - 1970) * 366 {
            let (y, m, d) = civil_from_days(days);
            if y > 2261 {
                break;
            }
            assert_eq!(days_from_civil(y, m, d), days);
            assert_eq!(days_since_epoch(y as u32, m, d), days);
            let mut out = Vec::new();
            write_date_days(&mut out, days);
            assert_eq!(parse_date_days(&out), Ok(days));
        }
    }

    #[test]
    fn swar_digits_agree() {
        use super::super::message::swar_digits;
        let mut x: u64 = 88172645463325252;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 8 + 1) as usize;
            let mut b = [0u8; 8];
            for (i, c) in b.iter_mut().enumerate() {
                let r = (x >> (8 * i)) as u8;
                *c = if r % 7 == 0 { r } else { b'0' + r % 10 };
            }
            let digits = &b[..n];
            let want = digits.iter().all(u8::is_ascii_digit).then(|| {
                digits
                    .iter()
                    .fold(0u64, |a, &c| a * 10 + u64::from(c - b'0'))
            });
            let word = u64::from_le_bytes(b) << (8 * (8 - n));
            assert_eq!(swar_digits(word, n as u32), want, "{digits:?}");
        }
    }

    /// The timestamp tests' noise (xorshift64).
    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// `parse_timestamp_in` of `v` inside random bytes (0 to 11 before, 0 to 3 after) gives
    /// `parse_timestamp(v)`, value or error; returns whether `v` is valid.
    fn agrees_inside_noise(v: &[u8], next: &mut dyn FnMut() -> u64) -> bool {
        let pre = (next() % 12) as usize;
        let mut buf: Vec<u8> = (0..pre).map(|_| next() as u8).collect();
        buf.extend_from_slice(v);
        buf.extend((0..next() % 4).map(|_| next() as u8));
        let want = parse_timestamp(v);
        assert_eq!(
            parse_timestamp_in(&buf, pre, pre + v.len()),
            want,
            "{:?}",
            String::from_utf8_lossy(v)
        );
        want.is_ok()
    }

    /// `parse_timestamp_in`'s per-thread cache of the last second (`LAST_SECOND`) against
    /// `parse_timestamp`, which does not use it: 300,000 timestamps of 17, 21, 24 and 27 bytes
    /// drawn from 3 dates and 3 times (so most repeat the cached second), a third of them with 1
    /// to 3 bytes changed (digits, separators, noise; anywhere, the `-` and the fraction
    /// included), each inside random bytes, in random order: the value or the error must be the
    /// same. (It fails when a hit compares only the date word: checked.)
    #[test]
    fn cached_seconds_agree_with_the_general_path() {
        let dates: [&[u8; 8]; 3] = [b"20240315", b"20240316", b"22611231"];
        let times: [&[u8; 8]; 3] = [b"14:30:18", b"14:30:19", b"23:59:59"];
        let fracs: [&[u8]; 4] = [b"", b".123", b".123456", b".123456789"];
        let subs = b"0123456789:-.+ /\x00\x01\x7f\xff\xfa";
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        let (mut hits, mut ok, mut last) = (0, 0, Vec::new());
        for _ in 0..300_000 {
            let mut v = Vec::with_capacity(27);
            v.extend_from_slice(dates[(next() % 3) as usize]);
            v.push(b'-');
            v.extend_from_slice(times[(next() % 3) as usize]);
            v.extend_from_slice(fracs[(next() % 4) as usize]);
            if next() % 3 == 0 {
                for _ in 0..1 + next() % 3 {
                    let i = (next() % v.len() as u64) as usize;
                    v[i] = subs[(next() % subs.len() as u64) as usize];
                }
            }
            let valid = agrees_inside_noise(&v, &mut next);
            hits += usize::from(v.get(..17) == last.get(..17));
            ok += usize::from(valid);
            last = v;
        }
        // Both outcomes, and the same 17 leading bytes as the previous timestamp, are common.
        assert!(hits > 10_000 && ok > 100_000 && ok < 280_000, "{hits} {ok}");
    }

    /// `parse_timestamp_in`'s per-thread cache of the last minute (`LAST_MINUTE`: only the
    /// seconds' two digits checked) against `parse_timestamp`: 300,000 timestamps of 17, 21 and
    /// 24 bytes from 2 dates and 3 minutes, every second from 00 to 99 (60 to 99 invalid), so
    /// most share the cached minute and few the cached second; a third with 1 to 3 bytes
    /// changed to digits, separators or noise anywhere, half of those in the seconds' two
    /// bytes, inside random bytes. The value and the error must be the same. (It fails when a
    /// hit accepts a tens digit of 6, or compares only `HH:M` of the minute: checked.)
    #[test]
    fn cached_minutes_agree_with_the_general_path() {
        let dates: [&[u8; 8]; 2] = [b"20240315", b"22611231"];
        let minutes: [&[u8; 6]; 3] = [b"14:30:", b"14:31:", b"23:59:"];
        let fracs: [&[u8]; 3] = [b"", b".123", b".123456"];
        let subs = b"0123456789:-.+ /\x00\x01\x7f\xff\xfa";
        let mut next = xorshift(0xD1B5_4A32_D192_ED03);
        let (mut minute_hits, mut ok, mut last) = (0, 0, Vec::new());
        for _ in 0..300_000 {
            let mut v = Vec::with_capacity(24);
            v.extend_from_slice(dates[(next() % 2) as usize]);
            v.push(b'-');
            v.extend_from_slice(minutes[(next() % 3) as usize]);
            let s = next() % 100;
            v.extend_from_slice(&[b'0' + (s / 10) as u8, b'0' + (s % 10) as u8]);
            v.extend_from_slice(fracs[(next() % 3) as usize]);
            if next() % 3 == 0 {
                for _ in 0..1 + next() % 3 {
                    let i = if next() % 2 == 0 {
                        15 + (next() % 2) as usize
                    } else {
                        (next() % v.len() as u64) as usize
                    };
                    v[i] = subs[(next() % subs.len() as u64) as usize];
                }
            }
            let valid = agrees_inside_noise(&v, &mut next);
            minute_hits += usize::from(v.get(..15) == last.get(..15));
            ok += usize::from(valid);
            last = v;
        }
        // The previous timestamp's minute is common, and both outcomes.
        assert!(
            minute_hits > 30_000 && ok > 100_000 && ok < 250_000,
            "{minute_hits} {ok}"
        );
    }

    /// `parse_timestamp_in`'s millisecond path (21 bytes, fixed offsets) against
    /// `parse_timestamp`: every single-byte change of a valid value to a byte of a set of
    /// neighbours (digits, separators, noise), then 200,000 random two- and three-byte changes,
    /// each inside random bytes; the value and the error must be the same. (It fails when the
    /// path accepts what the general path rejects, e.g. without its `-` check: checked.)
    #[test]
    fn millisecond_timestamps_agree_with_the_general_path() {
        let base = *b"20240315-14:30:18.123";
        let subs = b"0123456789:-.+ /\x00\x01\x7f\xff\xfa";
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        let mut ok = 0;
        for i in 0..21 {
            for &c in subs {
                let mut v = base;
                v[i] = c;
                ok += usize::from(parse_timestamp(&v).is_ok());
                agrees_inside_noise(&v, &mut next);
            }
        }
        assert!(ok > 100, "{ok}");
        for _ in 0..200_000 {
            let mut v = base;
            for _ in 0..2 + next() % 2 {
                let i = (next() % 21) as usize;
                v[i] = subs[(next() % subs.len() as u64) as usize];
            }
            agrees_inside_noise(&v, &mut next);
        }
    }

    #[test]
    fn timestamps() {
        let s = parse_timestamp(b"20240315-14:30:18").unwrap();
        assert_eq!(s, 1_710_513_018 * 1_000_000_000);
        assert_eq!(
            parse_timestamp(b"20240315-14:30:18.123"),
            Ok(s + 123_000_000)
        );
        assert_eq!(
            parse_timestamp(b"20240315-14:30:18.123456"),
            Ok(s + 123_456_000)
        );
        assert_eq!(
            parse_timestamp(b"20240315-14:30:18.123456789"),
            Ok(s + 123_456_789)
        );
        for bad in [
            &b"20240315-14:30:18.12"[..],
            b"20240230-14:30:18",
            b"20240315-24:00:00",
            b"20240315-14:30:60",
            b"20240315 14:30:18",
            b"2024031-14:30:18",
        ] {
            assert!(parse_timestamp(bad).is_err());
        }
        let mut out = Vec::new();
        for v in [0, s, s + 123_000_000, s + 123_456_000, s + 1] {
            out.clear();
            write_timestamp(&mut out, v);
            assert_eq!(parse_timestamp(&out), Ok(v));
        }
    }
}
