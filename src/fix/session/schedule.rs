//! The daily session schedule: `[start_time, end_time)` in a fixed-offset time zone, and the
//! session *period* (QuickFIX semantics: sequence numbers restart at 1 in a new period).

use super::SessionSettings;

const NS_PER_S: i64 = 1_000_000_000;
const DAY_S: i64 = 86_400;

/// A daily window. `start < end`: the same day; `start > end`: across midnight; `start == end`:
/// always on, with a new period every day at `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Seconds after local midnight.
    start_s: i64,
    /// Seconds after local midnight.
    end_s: i64,
    /// Local time = UTC + this.
    offset_s: i64,
}

impl Schedule {
    /// A schedule from seconds after local midnight and the zone's offset from UTC (seconds).
    pub fn new(start_s: u32, end_s: u32, offset_s: i32) -> Self {
        Self {
            start_s: i64::from(start_s) % DAY_S,
            end_s: i64::from(end_s) % DAY_S,
            offset_s: i64::from(offset_s),
        }
    }

    /// From the settings: `Ok(None)` when neither time is given.
    pub fn from_settings(s: &SessionSettings) -> Result<Option<Self>, (&'static str, String)> {
        let offset = parse_offset(&s.time_zone).ok_or_else(|| {
            (
                "time_zone",
                format!(
                    "\"{}\" is not supported: use \"UTC\" or a fixed offset like \"+01:00\" \
                     (named zones with daylight saving are not supported)",
                    s.time_zone
                ),
            )
        })?;
        match (&s.start_time, &s.end_time) {
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
                Ok(Some(Self::new(start, end, offset)))
            }
        }
    }

    /// The start (UTC ns) of the period that contains `utc_ns`, `None` outside the window.
    pub fn period_start(&self, utc_ns: u64) -> Option<u64> {
        let t = (utc_ns / NS_PER_S as u64) as i64 + self.offset_s;
        let day = t.div_euclid(DAY_S);
        let tod = t.rem_euclid(DAY_S);
        let start_day = if self.start_s < self.end_s {
            if tod < self.start_s || tod >= self.end_s {
                return None;
            }
            day
        } else {
            if self.start_s > self.end_s && tod >= self.end_s && tod < self.start_s {
                return None;
            }
            if tod >= self.start_s { day } else { day - 1 }
        };
        let start = (start_day * DAY_S + self.start_s - self.offset_s) * NS_PER_S;
        u64::try_from(start).ok()
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

/// "UTC" / "Z" / "+HH:MM" / "-HH:MM" -> seconds east of UTC.
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
    fn always_on_rolls_daily() {
        let s = Schedule::new(17 * 3600, 17 * 3600, 0);
        let day = 20_000 * 24 * H;
        assert_eq!(s.period_start(day + 16 * H), Some(day - 7 * H));
        assert_eq!(s.period_start(day + 17 * H), Some(day + 17 * H));
        assert!(s.contains(day + 3 * H));
    }
}
