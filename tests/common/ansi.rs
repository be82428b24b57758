//! What the integration tests that read `lpscore`'s log share (each test file is its own crate:
//! included with `#[path = "common/ansi.rs"] mod ansi;`).

/// A log line without its ANSI colour codes.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut esc = false;
    for c in s.chars() {
        match (esc, c) {
            (false, '\x1b') => esc = true,
            (true, 'm') => esc = false,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}
