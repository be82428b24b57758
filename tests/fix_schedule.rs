//! Session schedules with named time zones: TZif parsing against known instants (expected
//! offsets taken from Python's zoneinfo on the same tzdata), the POSIX footer rule, malformed
//! files, and daily / weekly windows across daylight-saving changes. Needs the system tz
//! database (Debian: tzdata); without it every test here fails saying so.

use lpscore::fix::session::{DEFAULT_TZDIR, Schedule, SessionSettings, Tz, TzError, Zone};

const NS: u64 = 1_000_000_000;

fn zone(name: &str) -> &'static Zone {
    let dir =
        std::env::var_os("TZDIR").map_or_else(|| DEFAULT_TZDIR.into(), std::path::PathBuf::from);
    assert!(
        dir.is_dir(),
        "{} is missing: install tzdata (apt-get install tzdata) to run the schedule tests",
        dir.display()
    );
    Zone::load(name).unwrap_or_else(|e| panic!("{e} (install tzdata)"))
}

fn tzif_bytes(name: &str) -> Vec<u8> {
    zone(name);
    let dir =
        std::env::var_os("TZDIR").map_or_else(|| DEFAULT_TZDIR.into(), std::path::PathBuf::from);
    std::fs::read(dir.join(name)).unwrap()
}

/// Seconds since the epoch of a UTC date-time.
fn utc(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> i64 {
    // Days from civil (H. Hinnant), independent of the code under test's copy.
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * ((mo + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    days * 86_400 + h * 3600 + mi * 60 + s
}

fn ns(t: i64) -> u64 {
    t as u64 * NS
}

// ---- TZif offsets ---------------------------------------------------------------------------

#[test]
fn new_york_offsets_around_dst_changes() {
    let z = zone("America/New_York");
    let cases = [
        (1_772_953_199, -18_000),  // 2026-03-08 06:59:59Z, EST
        (1_772_953_200, -14_400),  // 2026-03-08 07:00:00Z, EDT
        (1_793_512_799, -14_400),  // 2026-11-01 05:59:59Z
        (1_793_512_800, -18_000),  // 2026-11-01 06:00:00Z
        (-315_619_200, -18_000),   // 1960-01-01
        (-2_745_446_400, -17_762), // 1883-01-01, local mean time (before the first transition)
    ];
    for (t, off) in cases {
        assert_eq!(z.offset_at(t), off, "at {t}");
    }
    assert_eq!(utc(2026, 3, 8, 7, 0, 0), 1_772_953_200);
}

#[test]
fn london_tokyo_sydney_offsets() {
    let cases: [(&str, i64, i32); 15] = [
        ("Europe/London", 1_774_745_999, 0),
        ("Europe/London", 1_774_746_000, 3600),
        ("Europe/London", 1_792_889_999, 3600),
        ("Europe/London", 1_792_890_000, 0),
        ("Europe/London", 13_046_400, 3600), // 1970: British Standard Time all year
        ("Europe/London", 2_224_713_600, 3600), // 2040-07-01 (footer)
        ("Asia/Tokyo", 1_782_864_000, 32_400),
        ("Asia/Tokyo", -649_641_600, 36_000), // 1949 daylight saving
        ("Asia/Tokyo", 2_208_988_800, 32_400),
        // Southern hemisphere: daylight time from October to April.
        ("Australia/Sydney", 1_775_318_399, 39_600),
        ("Australia/Sydney", 1_775_318_400, 36_000),
        ("Australia/Sydney", 1_791_043_199, 36_000),
        ("Australia/Sydney", 1_791_043_200, 39_600),
        ("Australia/Sydney", 2_240_611_200, 39_600), // 2041-01-01 (footer, across new year)
        ("Australia/Sydney", 2_256_249_600, 36_000), // 2041-07-01
    ];
    for (name, t, off) in cases {
        assert_eq!(zone(name).offset_at(t), off, "{name} at {t}");
    }
}

#[test]
fn far_future_uses_the_posix_footer_rule() {
    let z = zone("America/New_York");
    // Beyond the last transition of even a "fat" file (2037).
    let t = utc(2040, 3, 11, 7, 0, 0);
    assert!(z.last_transition().is_none_or(|l| l < t));
    assert_eq!(t, 2_215_062_000);
    assert_eq!(z.offset_at(t - 1), -18_000);
    assert_eq!(z.offset_at(t), -14_400);
    assert_eq!(z.offset_at(utc(2040, 11, 4, 5, 59, 59)), -14_400);
    assert_eq!(z.offset_at(utc(2040, 11, 4, 6, 0, 0)), -18_000);
    // 2100 and 2400 still follow the rule.
    assert_eq!(z.offset_at(utc(2100, 7, 1, 0, 0, 0)), -14_400);
    assert_eq!(z.offset_at(utc(2400, 1, 1, 0, 0, 0)), -18_000);
}

#[test]
fn a_footer_only_file_and_a_v1_file_parse() {
    // A v2 file with no transitions: everything comes from the footer.
    let f = v2_file(&[], "EST5EDT,M3.2.0,M11.1.0");
    let z = Zone::parse("Test/FooterOnly", &f).unwrap();
    assert_eq!(z.offset_at(1_772_953_199), -18_000);
    assert_eq!(z.offset_at(1_772_953_200), -14_400);
    // Version 1 (32-bit data, no footer): the first block of a real file, version byte 0.
    let real = tzif_bytes("America/New_York");
    let mut v1 = real.clone();
    v1[4] = 0;
    let z1 = Zone::parse("Test/V1", &v1).unwrap();
    assert_eq!(z1.offset_at(1_772_953_199), -18_000);
    assert_eq!(z1.offset_at(1_772_953_200), -14_400);
    // Rules this parser does not implement: a typed error naming the zone.
    let j = v2_file(&[], "EST5EDT,J60,J300");
    let e = Zone::parse("Test/Julian", &j).unwrap_err();
    assert!(matches!(&e, TzError::UnsupportedRule { zone, .. } if zone == "Test/Julian"));
    assert!(e.to_string().contains("Test/Julian"));
}

/// A TZif v2 file: an empty v1 block, then `trans` (UTC s, offset) and the footer.
fn v2_file(trans: &[(i64, i32)], footer: &str) -> Vec<u8> {
    fn header(out: &mut Vec<u8>, timecnt: u32, typecnt: u32) {
        out.extend_from_slice(b"TZif2");
        out.extend_from_slice(&[0; 15]);
        for n in [0, 0, 0, timecnt, typecnt, 4] {
            out.extend_from_slice(&u32::to_be_bytes(n));
        }
    }
    let mut f = Vec::new();
    header(&mut f, 0, 1);
    f.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(b"UTC\0");
    let typecnt = trans.len().max(1) as u32;
    header(&mut f, trans.len() as u32, typecnt);
    for (t, _) in trans {
        f.extend_from_slice(&t.to_be_bytes());
    }
    for i in 0..trans.len() {
        f.push(i as u8);
    }
    if trans.is_empty() {
        f.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    for (_, off) in trans {
        f.extend_from_slice(&off.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
    }
    f.extend_from_slice(b"ABC\0");
    f.push(b'\n');
    f.extend_from_slice(footer.as_bytes());
    f.push(b'\n');
    f
}

#[test]
fn truncated_or_corrupt_tzif_is_a_typed_error_never_a_panic() {
    for name in ["America/New_York", "Australia/Sydney"] {
        let real = tzif_bytes(name);
        for n in 0..real.len() {
            // Every prefix except those that end exactly after a complete v1 block (none here:
            // the v2 header must follow) is malformed.
            match Zone::parse(name, &real[..n]) {
                Err(TzError::Malformed { zone, .. }) => assert_eq!(zone, name),
                other => panic!("{name} truncated to {n} bytes: {other:?}"),
            }
        }
        // Flipped bytes: an error or a zone, never a panic; queries on a zone never panic.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut b = real.clone();
            let i = (x % b.len() as u64) as usize;
            b[i] ^= (x >> 32) as u8 | 1;
            if let Ok(z) = Zone::parse(name, &b) {
                for t in [i64::MIN, -1, 0, 1_772_953_200, 4_000_000_000, i64::MAX] {
                    let _ = z.local_to_utc(t.saturating_add(i64::from(z.offset_at(t))));
                }
            }
        }
    }
    let e = Zone::parse(
        "X/Y",
        b"not a tzif file at all, just text....................",
    )
    .unwrap_err();
    assert!(matches!(e, TzError::Malformed { .. }));
    assert!(matches!(
        Zone::parse("X/Y", &v2_file(&[], "EST5EDT,M13.2.0,M11.1.0")),
        Err(TzError::UnsupportedRule { .. })
    ));
}

#[test]
fn missing_zone_and_bad_names_say_why() {
    zone("UTC");
    let e = Zone::load("Europe/Lodnon").unwrap_err();
    assert!(matches!(e, TzError::NoSuchZone { .. }));
    let msg = e.to_string();
    assert!(
        msg.starts_with("time_zone \"Europe/Lodnon\": no such zone in ")
            && msg.ends_with("(install tzdata)"),
        "{msg}"
    );
    for bad in [
        "../../etc/passwd",
        "/etc/passwd",
        "",
        "America/../UTC",
        "a b",
    ] {
        assert!(
            matches!(Zone::load(bad), Err(TzError::BadName { .. })),
            "{bad:?}"
        );
    }
    // A directory of zones is not a zone.
    assert!(matches!(
        Zone::load("America"),
        Err(TzError::NoSuchZone { .. })
    ));
    // Through the settings: the field is named.
    let mut st = SessionSettings::new("LPS", "LP1");
    st.start_time = Some("17:00:00".into());
    st.end_time = Some("17:00:00".into());
    st.time_zone = "Europe/Lodnon".into();
    let (f, m) = st.validate().unwrap_err();
    assert_eq!(f, "time_zone");
    assert!(
        m.contains("no such zone") && m.contains("install tzdata"),
        "{m}"
    );
    st.time_zone = "America/New_York".into();
    st.validate().unwrap();
    st.start_day = Some("Sun".into());
    assert_eq!(st.validate().unwrap_err().0, "end_day");
    st.end_day = Some("Fryday".into());
    assert_eq!(st.validate().unwrap_err().0, "end_day");
    st.end_day = Some("friday".into());
    st.validate().unwrap();
    st.start_time = None;
    st.end_time = None;
    assert_eq!(st.validate().unwrap_err().0, "start_time");
}

#[test]
fn the_same_zone_is_loaded_once() {
    let a = zone("Asia/Tokyo");
    let b = Zone::load("Asia/Tokyo").unwrap();
    assert!(std::ptr::eq(a, b));
}

// ---- local time to UTC ----------------------------------------------------------------------

#[test]
fn local_to_utc_gap_overlap_and_round_trip() {
    let z = zone("America/New_York");
    let local = |y, mo, d, h, mi| utc(y, mo, d, h, mi, 0);
    // Ordinary times.
    assert_eq!(
        z.local_to_utc(local(2026, 1, 15, 17, 0)),
        utc(2026, 1, 15, 22, 0, 0)
    );
    assert_eq!(
        z.local_to_utc(local(2026, 7, 15, 17, 0)),
        utc(2026, 7, 15, 21, 0, 0)
    );
    // 02:30 does not exist on 2026-03-08: the clock jumps from 02:00 EST to 03:00 EDT at
    // 07:00Z, the first instant whose wall time is past 02:30.
    assert_eq!(
        z.local_to_utc(local(2026, 3, 8, 2, 30)),
        utc(2026, 3, 8, 7, 0, 0)
    );
    assert_eq!(
        z.local_to_utc(local(2026, 3, 8, 3, 0)),
        utc(2026, 3, 8, 7, 0, 0)
    );
    // 01:30 happens twice on 2026-11-01: the first (EDT, 05:30Z).
    assert_eq!(
        z.local_to_utc(local(2026, 11, 1, 1, 30)),
        utc(2026, 11, 1, 5, 30, 0)
    );
    assert_eq!(
        z.local_to_utc(local(2026, 11, 1, 2, 0)),
        utc(2026, 11, 1, 7, 0, 0)
    );
    // Far future (footer rule): the same rules.
    assert_eq!(
        z.local_to_utc(local(2040, 3, 11, 2, 30)),
        utc(2040, 3, 11, 7, 0, 0)
    );
    assert_eq!(
        z.local_to_utc(local(2040, 11, 4, 1, 30)),
        utc(2040, 11, 4, 5, 30, 0)
    );
    // Round trip, every 15 minutes over two years in four zones: the wall time of each
    // instant maps back to it, or to its earlier twin in an overlap.
    for name in [
        "America/New_York",
        "Europe/London",
        "Asia/Tokyo",
        "Australia/Sydney",
    ] {
        let z = zone(name);
        let mut t = utc(2025, 12, 1, 0, 0, 0);
        while t < utc(2027, 12, 1, 0, 0, 0) {
            let l = t + i64::from(z.offset_at(t));
            let r = z.local_to_utc(l);
            assert!(
                r <= t && r + i64::from(z.offset_at(r)) == l,
                "{name} at {t}"
            );
            assert!(t - r <= 3600, "{name} at {t}");
            t += 900;
        }
    }
    // Sydney's gap (2026-10-04 02:00 AEST -> 03:00 AEDT = 16:00Z the day before).
    let syd = zone("Australia/Sydney");
    assert_eq!(
        syd.local_to_utc(local(2026, 10, 4, 2, 30)),
        utc(2026, 10, 3, 16, 0, 0)
    );
}

// ---- windows --------------------------------------------------------------------------------

fn new_york() -> Tz {
    zone("America/New_York");
    Tz::parse("America/New_York").unwrap()
}

#[test]
fn daily_window_across_midnight_in_new_york_follows_dst() {
    // 17:05 to 17:00 New York time (the FX day), around the March change.
    let s = Schedule::with_zone(17 * 3600 + 300, 17 * 3600, None, new_york());
    // Friday 2026-03-06 (EST): the window opened Thursday 17:05 EST = 22:05Z.
    let thu_open = utc(2026, 3, 5, 22, 5, 0);
    assert_eq!(
        s.period_start(ns(utc(2026, 3, 6, 12, 0, 0))),
        Some(ns(thu_open))
    );
    assert_eq!(
        s.period_start(ns(utc(2026, 3, 6, 21, 59, 59))),
        Some(ns(thu_open))
    );
    assert_eq!(s.period_start(ns(utc(2026, 3, 6, 22, 0, 0))), None);
    assert_eq!(
        s.period_start(ns(utc(2026, 3, 6, 22, 5, 0))),
        Some(ns(utc(2026, 3, 6, 22, 5, 0)))
    );
    // Sunday 2026-03-08 is the change day: the window that opened Saturday 17:05 EST (22:05Z)
    // closes Sunday 17:00 EDT (21:00Z), 22 h 55 min later; the next opens at 21:05Z.
    let sat_open = utc(2026, 3, 7, 22, 5, 0);
    assert_eq!(
        s.period_start(ns(utc(2026, 3, 8, 20, 59, 59))),
        Some(ns(sat_open))
    );
    assert_eq!(s.period_start(ns(utc(2026, 3, 8, 21, 0, 0))), None);
    assert_eq!(s.period_start(ns(utc(2026, 3, 8, 21, 4, 59))), None);
    assert_eq!(
        s.period_start(ns(utc(2026, 3, 8, 21, 5, 0))),
        Some(ns(utc(2026, 3, 8, 21, 5, 0)))
    );
    assert!(s.contains(ns(utc(2026, 3, 9, 4, 0, 0))));
}

#[test]
fn weekly_sunday_to_friday_new_york_across_dst_changes() {
    let s = Schedule::with_zone(17 * 3600, 17 * 3600, Some((0, 5)), new_york());
    // The week of 2026-03-01 (EST): Sunday 22:00Z to Friday 22:00Z.
    let open1 = utc(2026, 3, 1, 22, 0, 0);
    assert_eq!(s.period_start(ns(open1 - 1)), None);
    assert_eq!(s.period_start(ns(open1)), Some(ns(open1)));
    assert_eq!(
        s.period_start(ns(utc(2026, 3, 4, 3, 0, 0))),
        Some(ns(open1))
    );
    assert_eq!(
        s.period_start(ns(utc(2026, 3, 6, 21, 59, 59))),
        Some(ns(open1))
    );
    assert_eq!(s.period_start(ns(utc(2026, 3, 6, 22, 0, 0))), None);
    assert_eq!(s.period_start(ns(utc(2026, 3, 7, 12, 0, 0))), None);
    // Clocks change on Sunday 2026-03-08 at 02:00: the next week opens 17:00 EDT = 21:00Z.
    let open2 = utc(2026, 3, 8, 21, 0, 0);
    assert_eq!(s.period_start(ns(open2 - 1)), None);
    assert_eq!(s.period_start(ns(open2)), Some(ns(open2)));
    assert_eq!(
        s.period_start(ns(utc(2026, 3, 13, 20, 59, 59))),
        Some(ns(open2))
    );
    assert_eq!(s.period_start(ns(utc(2026, 3, 13, 21, 0, 0))), None);
    // Back to EST on Sunday 2026-11-01: the week before closes Friday 17:00 EDT (21:00Z), the
    // week after opens Sunday 17:00 EST (22:00Z).
    assert!(s.contains(ns(utc(2026, 10, 30, 20, 59, 59))));
    assert!(!s.contains(ns(utc(2026, 10, 30, 21, 0, 0))));
    assert!(!s.contains(ns(utc(2026, 11, 1, 21, 30, 0))));
    let open3 = utc(2026, 11, 1, 22, 0, 0);
    assert_eq!(s.period_start(ns(open3)), Some(ns(open3)));
    assert_eq!(
        s.period_start(ns(utc(2026, 11, 6, 21, 59, 59))),
        Some(ns(open3))
    );
    assert!(!s.contains(ns(utc(2026, 11, 6, 22, 0, 0))));
}

#[test]
fn weekly_edge_cases() {
    let utc_tz = Tz::Fixed(0);
    // Same start and end: always on, a new period every Sunday 17:00.
    let s = Schedule::with_zone(17 * 3600, 17 * 3600, Some((0, 0)), utc_tz);
    let sun = utc(2026, 3, 1, 17, 0, 0);
    assert_eq!(s.period_start(ns(sun - 1)), Some(ns(sun - 7 * 86_400)));
    assert_eq!(s.period_start(ns(sun)), Some(ns(sun)));
    assert_eq!(s.period_start(ns(sun + 7 * 86_400 - 1)), Some(ns(sun)));
    // Friday to Monday, across the weekend.
    let s = Schedule::with_zone(8 * 3600, 18 * 3600, Some((5, 1)), utc_tz);
    let fri = utc(2026, 3, 6, 8, 0, 0);
    assert_eq!(s.period_start(ns(utc(2026, 3, 8, 12, 0, 0))), Some(ns(fri)));
    assert_eq!(
        s.period_start(ns(utc(2026, 3, 9, 17, 59, 59))),
        Some(ns(fri))
    );
    assert!(!s.contains(ns(utc(2026, 3, 9, 18, 0, 0))));
    assert!(!s.contains(ns(utc(2026, 3, 11, 12, 0, 0))));
    // The same day, end after start: one window a week.
    let s = Schedule::with_zone(9 * 3600, 10 * 3600, Some((3, 3)), utc_tz);
    assert!(s.contains(ns(utc(2026, 3, 4, 9, 30, 0))));
    assert!(!s.contains(ns(utc(2026, 3, 5, 9, 30, 0))));
    // Fixed offsets keep working.
    let s = Schedule::with_zone(
        17 * 3600,
        17 * 3600,
        Some((0, 5)),
        Tz::parse("-05:00").unwrap(),
    );
    assert_eq!(
        s.period_start(ns(utc(2026, 3, 9, 12, 0, 0))),
        Some(ns(utc(2026, 3, 8, 22, 0, 0)))
    );
}

#[test]
fn without_the_tz_database_the_error_says_install_tzdata() {
    let dir = std::path::Path::new("/nonexistent-lpscore/zoneinfo");
    let e = Zone::load_from(dir, "America/New_York").unwrap_err();
    assert_eq!(
        e.to_string(),
        "time_zone \"America/New_York\": no such zone in /nonexistent-lpscore/zoneinfo \
         (install tzdata)"
    );
    assert_eq!(e.zone(), "America/New_York");
}

#[test]
fn weekly_settings_parse_from_toml() {
    zone("America/New_York");
    let st: SessionSettings = toml::from_str(
        r#"
        sender_comp_id = "LPS"
        target_comp_id = "LP1"
        time_zone = "America/New_York"
        start_day = "Sunday"
        start_time = "17:00:00"
        end_day = "Friday"
        end_time = "17:00:00"
        "#,
    )
    .unwrap();
    st.validate().unwrap();
    let s = st.schedule().unwrap();
    assert_eq!(
        s,
        Schedule::with_zone(17 * 3600, 17 * 3600, Some((0, 5)), new_york())
    );
    assert!(s.contains(ns(utc(2026, 3, 8, 21, 0, 0))));
    assert!(!s.contains(ns(utc(2026, 3, 8, 20, 59, 59))));
}

#[test]
fn extreme_but_valid_footer_rules_never_panic() {
    for rule in [
        "<+14>-14<+15>-15,M1.1.0/-167,M12.5.6/167",
        "<-24>24<-23>,M12.5.6/167,M1.1.0/-167",
        "AAA-24:59:59BBB,M6.1.0,M6.1.0",
        "XXX0YYY,M1.1.0/0,M12.5.6/24",
    ] {
        let z = Zone::parse("Test/Extreme", &v2_file(&[], rule)).unwrap();
        let mut t = -5_000_000_000i64;
        while t < 5_000_000_000 {
            let off = z.offset_at(t);
            assert!(off.abs() <= 26 * 3600, "{rule}");
            let r = z.local_to_utc(t + i64::from(off));
            assert!(r <= t, "{rule} at {t}");
            t += 7_919_999;
        }
        let s = Schedule::with_zone(0, 0, Some((1, 1)), Tz::Named(Box::leak(Box::new(z))));
        let _ = s.period_start(u64::MAX);
        let _ = s.period_start(0);
    }
}
