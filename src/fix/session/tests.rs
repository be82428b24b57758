//! Unit tests of the session internals (the protocol is tested end to end in
//! tests/fix_session.rs).

use super::machine::{raw_field, reject_reason};
use super::*;
use crate::fix::ParseErrorKind;

#[test]
fn store_file_names_escape_everything_but_alphanumerics() {
    let mut s = SessionSettings::new("LP/S", "A B");
    s.sender_sub_id = Some("x.y".into());
    let k = SessionKey::from_settings(&s);
    assert_eq!(k.file_name(), "FIX%2E4%2E4-LP%2FS.x%2Ey-A%20B.seqs");
    assert_eq!(k.to_string(), "FIX.4.4:LP/S/x.y->A B");
    // Distinct keys, distinct files.
    let a = SessionKey::from_settings(&SessionSettings::new("A-B", "C"));
    let b = SessionKey::from_settings(&SessionSettings::new("A", "B-C"));
    assert_ne!(a.file_name(), b.file_name());
}

#[test]
fn raw_field_finds_values_without_an_index() {
    let m = b"8=FIX.4.4\x019=5\x0135=D\x0134=17\x0110=000\x01";
    assert_eq!(raw_field(m, b"\x0134="), Some(&b"17"[..]));
    assert_eq!(raw_field(m, b"\x0135="), Some(&b"D"[..]));
    assert_eq!(raw_field(m, b"\x0143="), None);
    assert_eq!(raw_field(b"\x0134=1", b"\x0134="), None); // no delimiter after the value
}

#[test]
fn parse_errors_map_to_session_reject_reasons() {
    assert_eq!(reject_reason(ParseErrorKind::Missing), 1);
    assert_eq!(reject_reason(ParseErrorKind::EmptyValue), 4);
    assert_eq!(reject_reason(ParseErrorKind::Malformed), 6);
    assert_eq!(reject_reason(ParseErrorKind::Duplicate), 13);
    assert_eq!(reject_reason(ParseErrorKind::BadTag), 0);
}

#[test]
fn memory_store_counts_without_a_file() {
    let mut s = SeqStore::memory();
    assert_eq!((s.next_in(), s.next_out()), (1, 1));
    s.set(5, 9).unwrap();
    assert_eq!((s.next_in(), s.next_out()), (5, 9));
    s.reset(42).unwrap();
    assert_eq!((s.next_in(), s.next_out(), s.period_start_ns()), (1, 1, 42));
}
