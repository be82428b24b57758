//! The session schedule: a daily or weekly window in a time zone (UTC, a fixed offset, or a named
//! IANA zone read from the system tz database), and the session *period* (QuickFIX semantics:
//! sequence numbers restart at 1 in a new period).
//!
//! Named zones are loaded once (at [`SessionSettings::validate`] / session construction), parsed
//! from TZif files and kept for the life of the process (interned per path: a few KiB per
//! distinct zone). The per-check work ([`Schedule::period_start`]) is arithmetic and a binary
//! search, no IO and no allocation.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use super::SessionSettings;

const NS_PER_S: i64 = 1_000_000_000;
const DAY_S: i64 = 86_400;
/// Largest UTC offset accepted from a TZif file or a POSIX TZ string (RFC 8536 allows
/// -25:59:59..=+25:59:59 in POSIX strings; real zones stay within +-15 h).
const MAX_OFFSET_S: i64 = 26 * 3600;
/// Instants are clamped to +-2^50 s (35 million years) so that no arithmetic can overflow.
const LIMIT_S: i64 = 1 << 50;
/// Largest TZif file read (the biggest real ones are a few KiB).
const MAX_TZIF_BYTES: u64 = 1 << 20;
/// Where the tz database lives unless `$TZDIR` says otherwise.
pub const DEFAULT_TZDIR: &str = "/usr/share/zoneinfo";

// ---- the schedule ---------------------------------------------------------------------------

/// A session window. Daily: `[start, end)` every day (`start > end`: across midnight;
/// `start == end`: always on, a new period every day at `start`). Weekly: from `start_day`
/// `start` to the next `end_day` `end` (same day and `end <= start`: always on, a new period
/// every week). Times are local wall-clock times in the zone; the window's bounds are converted
/// to UTC instants (see [`Zone::local_to_utc`] for the daylight-saving gap and overlap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Seconds after local midnight.
    start_s: i64,
    /// Seconds after local midnight.
    end_s: i64,
    /// `(start_day, end_day)`, 0 = Sunday; `None`: daily.
    days: Option<(u8, u8)>,
    tz: Tz,
}

/// A schedule's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tz {
    /// Local time = UTC + this many seconds.
    Fixed(i32),
    /// A zone of the tz database (loaded once, shared, immutable).
    Named(&'static Zone),
}

impl Tz {
    /// Parses a `time_zone` setting: "UTC" / "GMT" / "Z", a fixed offset "+HH:MM" / "-HH:MM",
    /// or an IANA name ("America/New_York") loaded from `$TZDIR` or /usr/share/zoneinfo.
    pub fn parse(s: &str) -> Result<Self, TzError> {
        if let Some(off) = parse_offset(s) {
            return Ok(Self::Fixed(off));
        }
        Zone::load(s).map(Self::Named)
    }

    /// UTC offset (seconds east) at UTC instant `utc_s`.
    pub fn offset_at(&self, utc_s: i64) -> i32 {
        match self {
            Self::Fixed(o) => *o,
            Self::Named(z) => z.offset_at(utc_s),
        }
    }

    /// The UTC instant of local wall time `local_s` (seconds since 1970-01-01T00:00 local).
    pub fn local_to_utc(&self, local_s: i64) -> i64 {
        match self {
            Self::Fixed(o) => local_s.saturating_sub(i64::from(*o)),
            Self::Named(z) => z.local_to_utc(local_s),
        }
    }
}

impl Schedule {
    /// A daily schedule from seconds after local midnight and a fixed offset from UTC (seconds).
    pub fn new(start_s: u32, end_s: u32, offset_s: i32) -> Self {
        Self::with_zone(start_s, end_s, None, Tz::Fixed(offset_s))
    }

    /// A schedule in any zone; `days` = `(start_day, end_day)` (0 = Sunday .. 6 = Saturday)
    /// makes it weekly.
    pub fn with_zone(start_s: u32, end_s: u32, days: Option<(u8, u8)>, tz: Tz) -> Self {
        Self {
            start_s: i64::from(start_s) % DAY_S,
            end_s: i64::from(end_s) % DAY_S,
            days: days.map(|(a, b)| (a % 7, b % 7)),
            tz,
        }
    }

    /// From the settings: `Ok(None)` when neither time is given. Loads a named zone (IO: call
    /// at configuration time, never per message).
    pub fn from_settings(s: &SessionSettings) -> Result<Option<Self>, (&'static str, String)> {
        let tz = Tz::parse(&s.time_zone).map_err(|e| ("time_zone", e.reason()))?;
        let day = |field: &'static str, v: &Option<String>| -> Result<Option<u8>, _> {
            v.as_deref()
                .map(|d| {
                    parse_weekday(d).ok_or_else(|| {
                        (
                            field,
                            format!(
                                "\"{d}\" is not a day: use \"Sunday\"..\"Saturday\" or \
                                 \"Sun\"..\"Sat\""
                            ),
                        )
                    })
                })
                .transpose()
        };
        let days = match (day("start_day", &s.start_day)?, day("end_day", &s.end_day)?) {
            (None, None) => None,
            (Some(_), None) => return Err(("end_day", "start_day is set: set end_day too".into())),
            (None, Some(_)) => {
                return Err(("start_day", "end_day is set: set start_day too".into()));
            }
            (Some(a), Some(b)) => Some((a, b)),
        };
        match (&s.start_time, &s.end_time) {
            (None, None) if days.is_some() => Err((
                "start_time",
                "start_day / end_day need start_time and end_time".into(),
            )),
            (None, None) => Ok(None),
            (Some(_), None) => Err(("end_time", "start_time is set: set end_time too".into())),
            (None, Some(_)) => Err(("start_time", "end_time is set: set start_time too".into())),
            (Some(a), Some(b)) => {
                let start = parse_hms(a).ok_or_else(|| {
                    (
                        "start_time",
                        format!("\"{a}\" is not a time: use \"HH:MM:SS\""),
                    )
                })?;
                let end = parse_hms(b).ok_or_else(|| {
                    (
                        "end_time",
                        format!("\"{b}\" is not a time: use \"HH:MM:SS\""),
                    )
                })?;
                Ok(Some(Self::with_zone(start, end, days, tz)))
            }
        }
    }

    /// The time zone.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Whole local days from a window's start date to its end date.
    fn span_days(&self) -> i64 {
        match self.days {
            None => i64::from(self.start_s >= self.end_s),
            Some((a, b)) => {
                let k = (i64::from(b) - i64::from(a)).rem_euclid(7);
                if k == 0 && self.end_s <= self.start_s {
                    7
                } else {
                    k
                }
            }
        }
    }

    /// The start (UTC ns) of the period that contains `utc_ns`, `None` outside the window.
    /// Periods are the windows themselves: the latest window start at or before `utc_ns`,
    /// inside iff `utc_ns` is before that window's end.
    pub fn period_start(&self, utc_ns: u64) -> Option<u64> {
        let t = (utc_ns / NS_PER_S as u64) as i64;
        let local_day = (t + i64::from(self.tz.offset_at(t))).div_euclid(DAY_S);
        // Candidate start dates, latest first (a window is at most 7 days long; one extra day
        // each side covers the zone's offset).
        let mut cands = [0i64; 4];
        let n = match self.days {
            None => {
                cands = [local_day + 1, local_day, local_day - 1, local_day - 2];
                4
            }
            Some((a, _)) => {
                let back = (weekday(local_day + 1) - i64::from(a)).rem_euclid(7);
                let d = local_day + 1 - back;
                cands[..3].copy_from_slice(&[d, d - 7, d - 14]);
                3
            }
        };
        for &d in &cands[..n] {
            let s = self.tz.local_to_utc(d * DAY_S + self.start_s);
            if s <= t {
                let e = self
                    .tz
                    .local_to_utc((d + self.span_days()) * DAY_S + self.end_s);
                return if t < e {
                    u64::try_from(s.checked_mul(NS_PER_S)?).ok()
                } else {
                    None
                };
            }
        }
        None
    }

    /// Whether `utc_ns` is inside the window.
    pub fn contains(&self, utc_ns: u64) -> bool {
        self.period_start(utc_ns).is_some()
    }
}

/// "HH:MM:SS" -> seconds after midnight.
fn parse_hms(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let two = |i: usize| -> Option<u32> {
        let (h, l) = (b[i], b[i + 1]);
        (h.is_ascii_digit() && l.is_ascii_digit())
            .then(|| u32::from(h - b'0') * 10 + u32::from(l - b'0'))
    };
    let (h, m, sec) = (two(0)?, two(3)?, two(6)?);
    (h < 24 && m < 60 && sec < 60).then_some(h * 3600 + m * 60 + sec)
}

/// "Sunday".."Saturday" / "Sun".."Sat" (any case) -> 0..=6.
fn parse_weekday(s: &str) -> Option<u8> {
    const NAMES: [&str; 7] = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    let l = s.to_ascii_lowercase();
    NAMES
        .iter()
        .position(|n| l == *n || (l.len() == 3 && n.starts_with(l.as_str())))
        .map(|i| i as u8)
}

/// "UTC" / "GMT" / "Z" / "+HH:MM" / "-HH:MM" -> seconds east of UTC.
fn parse_offset(s: &str) -> Option<i32> {
    if s.eq_ignore_ascii_case("UTC") || s.eq_ignore_ascii_case("GMT") || s == "Z" {
        return Some(0);
    }
    let b = s.as_bytes();
    if b.len() != 6 || b[3] != b':' {
        return None;
    }
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = [b[1], b[2], b[4], b[5]];
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let h = i32::from(digits[0] - b'0') * 10 + i32::from(digits[1] - b'0');
    let m = i32::from(digits[2] - b'0') * 10 + i32::from(digits[3] - b'0');
    (h <= 14 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

// ---- civil calendar (proleptic Gregorian, days since 1970-01-01) ----------------------------

/// Days since 1970-01-01 of `y-m-d` (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The year of a day count.
fn year_of_days(z: i64) -> i64 {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(m <= 2)
}

/// 0 = Sunday.
fn weekday(days: i64) -> i64 {
    (days + 4).rem_euclid(7)
}

// ---- errors ---------------------------------------------------------------------------------

/// Why a time zone could not be used. Every variant names the zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TzError {
    /// Not a fixed offset and not a well-formed zone name (e.g. "../etc/passwd", "").
    BadName { zone: String },
    /// No such file in the tz database directory.
    NoSuchZone { zone: String, dir: PathBuf },
    /// The file exists but could not be read.
    Io { zone: String, message: String },
    /// Not a valid TZif file (truncated, bad counts, bad indices, ...).
    Malformed { zone: String, reason: &'static str },
    /// A leap-second ("right/") zone: the schedule needs POSIX time.
    LeapSeconds { zone: String },
    /// The footer POSIX TZ string uses a rule form this parser does not implement (only
    /// `STDoff[DST[off],Mm.w.d[/time],Mm.w.d[/time]]` is supported).
    UnsupportedRule { zone: String, tz_string: String },
}

impl TzError {
    /// The zone it is about.
    pub fn zone(&self) -> &str {
        match self {
            Self::BadName { zone }
            | Self::NoSuchZone { zone, .. }
            | Self::Io { zone, .. }
            | Self::Malformed { zone, .. }
            | Self::LeapSeconds { zone }
            | Self::UnsupportedRule { zone, .. } => zone,
        }
    }

    /// The reason, naming the zone but not the setting (for `(field, message)` errors).
    pub fn reason(&self) -> String {
        let z = self.zone();
        match self {
            Self::BadName { .. } => format!(
                "\"{z}\" is not a time zone: use \"UTC\", a fixed offset like \"+01:00\" or an \
                 IANA name like \"America/New_York\""
            ),
            Self::NoSuchZone { dir, .. } => format!(
                "\"{z}\": no such zone in {} (install tzdata)",
                dir.display()
            ),
            Self::Io { message, .. } => format!("\"{z}\": cannot read the zone file: {message}"),
            Self::Malformed { reason, .. } => format!("\"{z}\": not a valid TZif file: {reason}"),
            Self::LeapSeconds { .. } => format!(
                "\"{z}\": leap-second zones (\"right/...\") are not supported: use the plain name"
            ),
            Self::UnsupportedRule { tz_string, .. } => format!(
                "\"{z}\": daylight-saving rule \"{tz_string}\" is not supported (only \
                 Mm.w.d rules)"
            ),
        }
    }
}

impl fmt::Display for TzError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "time_zone {}", self.reason())
    }
}

impl std::error::Error for TzError {}

// ---- TZif zones -----------------------------------------------------------------------------

/// A time zone from a TZif file (RFC 8536, versions 1 to 4; the 64-bit block when present).
#[derive(Clone, PartialEq, Eq)]
pub struct Zone {
    name: String,
    /// Transition instants, UTC seconds, strictly ascending.
    trans: Vec<i64>,
    /// UTC offset in force from each transition.
    trans_off: Vec<i32>,
    /// Offset before the first transition (time type 0).
    initial_off: i32,
    /// The footer rule, in force after the last transition.
    footer: Option<PosixTz>,
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zone")
            .field("name", &self.name)
            .field("transitions", &self.trans.len())
            .field("footer", &self.footer)
            .finish()
    }
}

fn tzdir() -> PathBuf {
    std::env::var_os("TZDIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_TZDIR), PathBuf::from)
}

/// "Area/Location" names only: no absolute path, no "." / ".." component, no odd characters.
fn valid_zone_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-+.".contains(&b))
        })
}

impl Zone {
    /// Loads `name` from `$TZDIR` (default /usr/share/zoneinfo), once per process: later calls
    /// for the same file return the same zone. Failures are not remembered.
    pub fn load(name: &str) -> Result<&'static Zone, TzError> {
        Self::load_from(&tzdir(), name)
    }

    /// [`Zone::load`] from a given directory.
    pub fn load_from(dir: &Path, name: &str) -> Result<&'static Zone, TzError> {
        static CACHE: OnceLock<Mutex<HashMap<PathBuf, &'static Zone>>> = OnceLock::new();
        if !valid_zone_name(name) {
            return Err(TzError::BadName { zone: name.into() });
        }
        let path = dir.join(name);
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        // A poisoned lock only means another thread panicked mid-insert of a complete value.
        if let Some(z) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&path) {
            return Ok(z);
        }
        let bytes = read_zone_file(dir, &path, name)?;
        let zone = Self::parse(name, &bytes)?;
        let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
        // Interned: bounded by the number of distinct zone files named in configurations.
        Ok(*map.entry(path).or_insert_with(|| Box::leak(Box::new(zone))))
    }

    /// Parses TZif bytes (`name` is for errors and `Debug` only).
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Self, TzError> {
        parse_tzif(bytes)
            .map_err(|e| match e {
                ParseErr::Malformed(reason) => TzError::Malformed {
                    zone: name.into(),
                    reason,
                },
                ParseErr::LeapSeconds => TzError::LeapSeconds { zone: name.into() },
                ParseErr::Rule(tz_string) => TzError::UnsupportedRule {
                    zone: name.into(),
                    tz_string,
                },
            })
            .map(|mut z| {
                z.name = name.into();
                z
            })
    }

    /// The last transition of the table (later instants follow the footer rule, if any).
    pub fn last_transition(&self) -> Option<i64> {
        self.trans.last().copied()
    }

    /// The zone's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// UTC offset (seconds east) at UTC instant `utc_s`.
    pub fn offset_at(&self, utc_s: i64) -> i32 {
        let utc_s = utc_s.clamp(-LIMIT_S, LIMIT_S);
        let i = self.trans.partition_point(|&x| x <= utc_s);
        if i == 0 && !self.trans.is_empty() {
            return self.initial_off;
        }
        if i == self.trans.len() {
            if let Some(f) = &self.footer {
                return f.offset_at(utc_s);
            }
            return self.trans_off.last().copied().unwrap_or(self.initial_off);
        }
        self.trans_off[i - 1]
    }

    /// The UTC instant at which the local wall clock first reads `local_s` or later (seconds
    /// since 1970-01-01T00:00 local). QuickFIX compares the wall clock with the schedule's
    /// times, so: a time in a spring-forward gap maps to the transition instant (the first
    /// instant whose wall time is past it); a time repeated by a fall-back overlap maps to its
    /// first occurrence (the earlier UTC instant).
    pub fn local_to_utc(&self, local_s: i64) -> i64 {
        let local_s = local_s.clamp(-LIMIT_S, LIMIT_S);
        // Any instant whose wall time is `local_s` lies within MAX_OFFSET_S of it.
        let lo = local_s - MAX_OFFSET_S - 3600;
        let hi = local_s + MAX_OFFSET_S + 3600;
        let mut pts = [0i64; 16];
        let n = self.transitions_in(lo, hi, &mut pts);
        let mut seg_start = lo;
        for &end in pts[..n].iter().chain(std::iter::once(&(hi + 1))) {
            let off = i64::from(self.offset_at(seg_start));
            // The wall clock runs over [seg_start + off, end + off) in this segment.
            if local_s < end + off {
                return seg_start.max(local_s - off);
            }
            seg_start = end;
        }
        local_s - i64::from(self.offset_at(hi))
    }

    /// Transition instants in `(lo, hi]`, ascending, into `out` (at most its length; the
    /// window is a few days, real zones have at most a few transitions in it).
    fn transitions_in(&self, lo: i64, hi: i64, out: &mut [i64; 16]) -> usize {
        let mut n = 0;
        let first = self.trans.partition_point(|&x| x <= lo);
        for &t in self.trans[first..].iter().take_while(|&&t| t <= hi) {
            if n < out.len() {
                out[n] = t;
                n += 1;
            }
        }
        if let Some(f) = &self.footer {
            let floor = self.trans.last().copied().unwrap_or(i64::MIN);
            let (y0, y1) = (f.year_of(lo) - 1, f.year_of(hi) + 1);
            let start = n;
            for y in y0..=y1 {
                if let Some(d) = &f.dst {
                    for t in [f.dst_start(d, y), f.dst_end(d, y)] {
                        if t > lo && t <= hi && t > floor && n < out.len() {
                            out[n] = t;
                            n += 1;
                        }
                    }
                }
            }
            out[start..n].sort_unstable();
        }
        n
    }
}

fn read_zone_file(dir: &Path, path: &Path, name: &str) -> Result<Vec<u8>, TzError> {
    let no_such = || TzError::NoSuchZone {
        zone: name.into(),
        dir: dir.to_path_buf(),
    };
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(no_such()),
        Err(e) => {
            return Err(TzError::Io {
                zone: name.into(),
                message: e.to_string(),
            });
        }
    };
    let meta = f.metadata().map_err(|e| TzError::Io {
        zone: name.into(),
        message: e.to_string(),
    })?;
    if !meta.is_file() {
        // "America" is a directory of zones, not a zone.
        return Err(no_such());
    }
    let mut bytes = Vec::new();
    f.take(MAX_TZIF_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| TzError::Io {
            zone: name.into(),
            message: e.to_string(),
        })?;
    Ok(bytes)
}

enum ParseErr {
    Malformed(&'static str),
    LeapSeconds,
    Rule(String),
}

/// A bounds-checked reader.
struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseErr> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or(ParseErr::Malformed("truncated"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn be32(&mut self) -> Result<u32, ParseErr> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
}

struct Header {
    version: u8,
    isutcnt: usize,
    isstdcnt: usize,
    leapcnt: usize,
    timecnt: usize,
    typecnt: usize,
    charcnt: usize,
}

fn header(c: &mut Cur<'_>) -> Result<Header, ParseErr> {
    if c.take(4)? != b"TZif" {
        return Err(ParseErr::Malformed("no TZif magic"));
    }
    let version = c.take(1)?[0];
    c.take(15)?;
    let mut n = [0usize; 6];
    for v in &mut n {
        // Counts above 2^20 are not a real zone (and would only waste memory).
        let x = c.be32()?;
        if x > 1 << 20 {
            return Err(ParseErr::Malformed("count out of range"));
        }
        *v = x as usize;
    }
    let h = Header {
        version,
        isutcnt: n[0],
        isstdcnt: n[1],
        leapcnt: n[2],
        timecnt: n[3],
        typecnt: n[4],
        charcnt: n[5],
    };
    if h.typecnt == 0 {
        return Err(ParseErr::Malformed("no local time types"));
    }
    if (h.isutcnt != 0 && h.isutcnt != h.typecnt) || (h.isstdcnt != 0 && h.isstdcnt != h.typecnt) {
        return Err(ParseErr::Malformed(
            "indicator counts differ from the type count",
        ));
    }
    Ok(h)
}

fn parse_tzif(b: &[u8]) -> Result<Zone, ParseErr> {
    let mut c = Cur { b, pos: 0 };
    let h1 = header(&mut c)?;
    let (h, time_size) = if h1.version >= b'2' {
        // Skip the 32-bit block: the 64-bit one follows with its own header.
        let v1 = h1.timecnt * 5
            + h1.typecnt * 6
            + h1.charcnt
            + h1.leapcnt * 8
            + h1.isstdcnt
            + h1.isutcnt;
        c.take(v1)?;
        (header(&mut c)?, 8)
    } else if h1.version == 0 {
        (h1, 4)
    } else {
        return Err(ParseErr::Malformed("unknown version"));
    };
    if h.leapcnt != 0 {
        return Err(ParseErr::LeapSeconds);
    }
    let times = c.take(h.timecnt * time_size)?;
    let idx = c.take(h.timecnt)?;
    let types = c.take(h.typecnt * 6)?;
    c.take(h.charcnt + h.isstdcnt + h.isutcnt)?;
    let mut offs = Vec::with_capacity(h.typecnt);
    for t in types.chunks_exact(6) {
        let off = i32::from_be_bytes([t[0], t[1], t[2], t[3]]);
        if i64::from(off).abs() > MAX_OFFSET_S {
            return Err(ParseErr::Malformed("UTC offset out of range"));
        }
        if t[4] > 1 || usize::from(t[5]) >= h.charcnt.max(1) {
            return Err(ParseErr::Malformed("bad local time type"));
        }
        offs.push(off);
    }
    let mut trans = Vec::with_capacity(h.timecnt);
    let mut trans_off = Vec::with_capacity(h.timecnt);
    for (i, &ti) in idx.iter().enumerate() {
        let s = &times[i * time_size..(i + 1) * time_size];
        let t = if time_size == 8 {
            i64::from_be_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]])
        } else {
            i64::from(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        };
        if trans.last().is_some_and(|&p| t <= p) {
            return Err(ParseErr::Malformed("transition times not ascending"));
        }
        let off = *offs
            .get(usize::from(ti))
            .ok_or(ParseErr::Malformed("transition type index out of range"))?;
        trans.push(t);
        trans_off.push(off);
    }
    let footer = if time_size == 8 {
        let rest = &b[c.pos..];
        if rest.first() != Some(&b'\n') {
            return Err(ParseErr::Malformed("missing footer"));
        }
        let len = rest[1..]
            .iter()
            .position(|&x| x == b'\n')
            .ok_or(ParseErr::Malformed("unterminated footer"))?;
        let s = std::str::from_utf8(&rest[1..1 + len])
            .map_err(|_| ParseErr::Malformed("footer is not text"))?;
        if s.is_empty() {
            None
        } else {
            Some(PosixTz::parse(s).ok_or_else(|| ParseErr::Rule(s.into()))?)
        }
    } else {
        None
    };
    Ok(Zone {
        name: String::new(),
        trans,
        trans_off,
        initial_off: offs[0],
        footer,
    })
}

// ---- POSIX TZ strings (the TZif footer) -----------------------------------------------------

/// `STDoffset[DST[offset],Mm.w.d[/time],Mm.w.d[/time]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PosixTz {
    /// Standard time UTC offset (seconds east; the string's sign is the opposite).
    std_off: i32,
    dst: Option<Dst>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dst {
    off: i32,
    start: Rule,
    end: Rule,
}

/// Day `d` (0 = Sunday) of week `w` (1..=5, 5 = last) of month `m`, at `time` seconds
/// (local: standard time for the start, daylight time for the end; may be negative or > 24 h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    m: u8,
    w: u8,
    d: u8,
    time: i32,
}

impl PosixTz {
    fn parse(s: &str) -> Option<Self> {
        let mut p = s.as_bytes();
        name(&mut p)?;
        let std_off = -hms(&mut p, 24)?;
        if p.is_empty() {
            return Some(Self { std_off, dst: None });
        }
        name(&mut p)?;
        let off = if p.first() == Some(&b',') {
            std_off + 3600
        } else {
            -hms(&mut p, 24)?
        };
        let start = rule(&mut p)?;
        let end = rule(&mut p)?;
        p.is_empty().then_some(Self {
            std_off,
            dst: Some(Dst { off, start, end }),
        })
    }

    fn year_of(&self, utc_s: i64) -> i64 {
        year_of_days((utc_s + i64::from(self.std_off)).div_euclid(DAY_S))
    }

    fn dst_start(&self, d: &Dst, year: i64) -> i64 {
        d.start.local(year) - i64::from(self.std_off)
    }

    fn dst_end(&self, d: &Dst, year: i64) -> i64 {
        d.end.local(year) - i64::from(d.off)
    }

    fn offset_at(&self, utc_s: i64) -> i32 {
        let Some(d) = &self.dst else {
            return self.std_off;
        };
        let y = self.year_of(utc_s);
        let (s, e) = (self.dst_start(d, y), self.dst_end(d, y));
        let in_dst = if s < e {
            s <= utc_s && utc_s < e
        } else {
            // Southern hemisphere: daylight time spans the new year.
            !(e <= utc_s && utc_s < s)
        };
        if in_dst { d.off } else { self.std_off }
    }
}

impl Rule {
    /// The local instant (seconds since 1970-01-01T00:00 local) in `year`.
    fn local(&self, year: i64) -> i64 {
        let m = i64::from(self.m);
        let first = days_from_civil(year, m, 1);
        let next = if m == 12 {
            days_from_civil(year + 1, 1, 1)
        } else {
            days_from_civil(year, m + 1, 1)
        };
        let mut day = first + (i64::from(self.d) - weekday(first)).rem_euclid(7);
        day += 7 * (i64::from(self.w) - 1);
        while day >= next {
            day -= 7;
        }
        day * DAY_S + i64::from(self.time)
    }
}

/// A zone abbreviation: `<...>` or 3+ letters.
fn name(p: &mut &[u8]) -> Option<()> {
    if p.first() == Some(&b'<') {
        let end = p.iter().position(|&b| b == b'>')?;
        let inner = &p[1..end];
        if inner.len() < 3
            || !inner
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'-')
        {
            return None;
        }
        *p = &p[end + 1..];
    } else {
        let n = p.iter().take_while(|b| b.is_ascii_alphabetic()).count();
        if n < 3 {
            return None;
        }
        *p = &p[n..];
    }
    Some(())
}

/// `[+-]h[hh][:mm[:ss]]` -> seconds (hours at most `max_h`).
fn hms(p: &mut &[u8], max_h: i32) -> Option<i32> {
    let sign = match p.first() {
        Some(b'-') => -1,
        _ => 1,
    };
    if matches!(p.first(), Some(b'-' | b'+')) {
        *p = &p[1..];
    }
    let h = digits(p, 3)?;
    if h > max_h {
        return None;
    }
    let mut v = h * 3600;
    for unit in [60, 1] {
        if p.first() != Some(&b':') {
            break;
        }
        *p = &p[1..];
        let x = digits(p, 2)?;
        if x > 59 {
            return None;
        }
        v += x * unit;
    }
    Some(sign * v)
}

/// 1 to `max` decimal digits.
fn digits(p: &mut &[u8], max: usize) -> Option<i32> {
    let n = p
        .iter()
        .take(max)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if n == 0 {
        return None;
    }
    let v = p[..n]
        .iter()
        .fold(0i32, |a, &b| a * 10 + i32::from(b - b'0'));
    *p = &p[n..];
    Some(v)
}

/// `,Mm.w.d[/time]`.
fn rule(p: &mut &[u8]) -> Option<Rule> {
    if p.first() != Some(&b',') || p.get(1) != Some(&b'M') {
        return None;
    }
    *p = &p[2..];
    let field = |p: &mut &[u8], lo: i32, hi: i32| -> Option<u8> {
        let v = digits(p, 2)?;
        (lo..=hi).contains(&v).then_some(v as u8)
    };
    let m = field(p, 1, 12)?;
    (p.first() == Some(&b'.')).then_some(())?;
    *p = &p[1..];
    let w = field(p, 1, 5)?;
    (p.first() == Some(&b'.')).then_some(())?;
    *p = &p[1..];
    let d = field(p, 0, 6)?;
    let time = if p.first() == Some(&b'/') {
        *p = &p[1..];
        hms(p, 167)?
    } else {
        7200
    };
    Some(Rule { m, w, d, time })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3600 * 1_000_000_000;

    #[test]
    fn parses_times_and_zones() {
        assert_eq!(parse_hms("08:30:05"), Some(8 * 3600 + 30 * 60 + 5));
        assert_eq!(parse_hms("24:00:00"), None);
        assert_eq!(parse_hms("8:30:05"), None);
        assert_eq!(parse_offset("UTC"), Some(0));
        assert_eq!(parse_offset("+01:30"), Some(5400));
        assert_eq!(parse_offset("-05:00"), Some(-18000));
        assert_eq!(parse_offset("Europe/London"), None);
    }

    #[test]
    fn same_day_window() {
        let s = Schedule::new(8 * 3600, 17 * 3600, 0);
        let day = 20_000 * 24 * H;
        assert_eq!(s.period_start(day + 7 * H), None);
        assert_eq!(s.period_start(day + 8 * H), Some(day + 8 * H));
        assert_eq!(s.period_start(day + 16 * H), Some(day + 8 * H));
        assert_eq!(s.period_start(day + 17 * H), None);
    }

    #[test]
    fn overnight_window_and_offset() {
        // 22:00 to 06:00 at UTC+02:00 = 20:00 to 04:00 UTC.
        let s = Schedule::new(22 * 3600, 6 * 3600, 7200);
        let day = 20_000 * 24 * H;
        assert_eq!(s.period_start(day + 19 * H), None);
        assert_eq!(s.period_start(day + 21 * H), Some(day + 20 * H));
        assert_eq!(s.period_start(day + 24 * H + 3 * H), Some(day + 20 * H));
        assert_eq!(s.period_start(day + 24 * H + 4 * H), None);
    }

    #[test]
    fn parses_days_and_posix_rules() {
        assert_eq!(parse_weekday("Sunday"), Some(0));
        assert_eq!(parse_weekday("sat"), Some(6));
        assert_eq!(parse_weekday("FRI"), Some(5));
        assert_eq!(parse_weekday("Fr"), None);
        assert_eq!(parse_weekday("Sundays"), None);
        let ny = PosixTz::parse("EST5EDT,M3.2.0,M11.1.0").unwrap();
        assert_eq!(ny.std_off, -18_000);
        let d = ny.dst.unwrap();
        assert_eq!((d.off, d.start.time, d.end.time), (-14_400, 7200, 7200));
        // Quoted names, explicit DST offset, negative and > 24 h rule times (tzdata v3).
        let g = PosixTz::parse("<-02>2<-01>,M3.5.0/-1,M10.5.0/0").unwrap();
        assert_eq!(g.std_off, -7200);
        assert_eq!(g.dst.unwrap().start.time, -3600);
        let il = PosixTz::parse("IST-2IDT,M3.4.4/26,M10.5.0").unwrap();
        assert_eq!((il.std_off, il.dst.unwrap().start.time), (7200, 26 * 3600));
        let nf = PosixTz::parse("NST3:30NDT,M3.2.0,M11.1.0").unwrap();
        assert_eq!(nf.std_off, -(3 * 3600 + 1800));
        assert_eq!(
            PosixTz::parse("<+0545>-5:45").unwrap().std_off,
            5 * 3600 + 2700
        );
        for bad in [
            "EST5EDT",
            "EST5EDT,J60,J300",
            "EST5EDT,60,300",
            "EST5EDT,M3.2.0",
            "EST5EDT,M3.6.0,M11.1.0",
            "EST5EDT,M3.2.7,M11.1.0",
            "EST5EDT,M3.2.0,M11.1.0/168",
            "EST5EDT,M3.2.0,M11.1.0x",
            "ES5",
            "EST",
            "EST25",
            "<AB>5",
            "",
        ] {
            assert_eq!(PosixTz::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn last_week_rule_and_southern_hemisphere() {
        // Last Sunday of March 2026 is the 29th; of October, the 25th.
        let r = Rule {
            m: 3,
            w: 5,
            d: 0,
            time: 3600,
        };
        assert_eq!(r.local(2026), days_from_civil(2026, 3, 29) * DAY_S + 3600);
        let r = Rule {
            m: 10,
            w: 5,
            d: 0,
            time: 0,
        };
        assert_eq!(r.local(2026), days_from_civil(2026, 10, 25) * DAY_S);
        // Sydney: daylight time from the first Sunday of October to the first of April.
        let syd = PosixTz::parse("AEST-10AEDT,M10.1.0,M4.1.0/3").unwrap();
        let jan = days_from_civil(2041, 1, 1) * DAY_S;
        let jul = days_from_civil(2041, 7, 1) * DAY_S;
        assert_eq!((syd.offset_at(jan), syd.offset_at(jul)), (39_600, 36_000));
        assert_eq!(year_of_days(days_from_civil(2041, 1, 1)), 2041);
        assert_eq!(year_of_days(days_from_civil(2040, 12, 31)), 2040);
        assert_eq!(weekday(0), 4); // 1970-01-01 was a Thursday
    }

    #[test]
    fn zone_names_are_checked_before_any_file_is_opened() {
        for ok in [
            "America/New_York",
            "Etc/GMT+5",
            "America/Port-au-Prince",
            "UTC",
        ] {
            assert!(valid_zone_name(ok), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "a/",
            "a b",
            "a\\b",
        ] {
            assert!(!valid_zone_name(bad), "{bad}");
        }
    }

    #[test]
    fn always_on_rolls_daily() {
        let s = Schedule::new(17 * 3600, 17 * 3600, 0);
        let day = 20_000 * 24 * H;
        assert_eq!(s.period_start(day + 16 * H), Some(day - 7 * H));
        assert_eq!(s.period_start(day + 17 * H), Some(day + 17 * H));
        assert!(s.contains(day + 3 * H));
    }
}
