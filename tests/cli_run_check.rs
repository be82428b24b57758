//! `lpscore run --check` as a process: a valid file is summarised (exit 0); a missing file, a bad
//! flag and each kind of configuration error exit 2 with `FILE:LINE: FIELD: MESSAGE` on stderr.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_lpscore");

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("lpscore-cli-check-{}-{name}", std::process::id()))
}

fn check(path: &Path) -> Output {
    Command::new(BIN)
        .args(["run", "--check", "--config", path.to_str().unwrap()])
        .output()
        .unwrap()
}

fn valid(sock: &Path) -> String {
    format!(
        r#"# a test configuration
backend = "busy-poll"
scoreboard = "/tmp/lpscore-cli-check.sb"

[[group]]
sessions = [ {{ id = 1, listen = "127.0.0.1:0" }} ]

[engine]
lps = ["LP_A"]

[[engine.profiles]]
name = "Fast"
latency = 1.0

[control]
socket = "{}"

[metrics]
listen = "127.0.0.1:0"
"#,
        sock.display()
    )
}

fn line_of(text: &str, needle: &str) -> usize {
    text[..text.find(needle).unwrap()].matches('\n').count() + 1
}

#[test]
fn check_accepts_a_valid_file_and_summarises_it() {
    let cfg = tmp("ok.toml");
    let sock = tmp("ok.sock");
    std::fs::write(&cfg, valid(&sock)).unwrap();
    let out = check(&cfg);
    let _ = std::fs::remove_file(&cfg);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("OK: backend busy-poll, 1 group(s), 1 session(s)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("control socket {}", sock.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains("metrics http://127.0.0.1:0/metrics"),
        "{stdout}"
    );
    // --check creates nothing.
    assert!(!sock.exists());
}

#[test]
fn check_refuses_a_missing_file() {
    let cfg = tmp("missing.toml");
    let out = check(&cfg);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}: cannot read the configuration", cfg.display())),
        "{err}"
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    let out = Command::new(BIN).args(["run", "--chekc"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--chekc"));
    let out = Command::new(BIN).args(["run", "--check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config"));
    let out = Command::new(BIN).args(["run", "--help"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--check"));
}

#[test]
fn each_kind_of_error_names_file_line_and_field() {
    let sock = tmp("kinds.sock");
    let base = valid(&sock);
    let nodir = tmp("no/such/dir/c.sock");
    let cases: Vec<(String, &str, &str, &str)> =
        vec![
        // (edited text, needle on the expected line, field, words of the message)
        (
            base.replace("latency = 1.0", "latency = \"fast\""),
            "latency = \"fast\"",
            "engine.profiles[0].latency",
            "expected a number, found a string",
        ),
        (
            base.replace("lps = [\"LP_A\"]", "lps = [\"LP_A\"]\nmax_lpz = 3"),
            "max_lpz",
            "engine.max_lpz",
            "unknown field",
        ),
        (
            base.replace("lps = [\"LP_A\"]", "lps = [\"LP_A\"]\n[engine.buckets]\nedges = [5, 5]"),
            "edges",
            "engine.buckets.edges",
            "strictly increasing",
        ),
        (
            base.replace("[[group]]\n", "[[group]]\ncore = 9999\n"),
            "core = 9999",
            "group[0].core",
            "does not exist",
        ),
        (
            base.replace(
                "{ id = 1, listen = \"127.0.0.1:0\" } ]",
                "{ id = 1, listen = \"127.0.0.1:0\" },\n  { id = 1, listen = \"127.0.0.1:0\" } ]",
            ),
            "  { id = 1",
            "group[0].sessions[1].id",
            "already used",
        ),
        (
            base.replace("name = \"Fast\"", "name = \"Fast lane\""),
            "Fast lane",
            "engine.profiles[0].name",
            "letters, digits",
        ),
        (
            base.replace(&sock.display().to_string(), &nodir.display().to_string()),
            "socket =",
            "control.socket",
            "does not exist",
        ),
        (
            base.replace("backend = \"busy-poll\"", "backend = \"epoll\""),
            "backend",
            "backend",
            "epoll",
        ),
    ];
    let cfg = tmp("kinds.toml");
    for (text, at, field, words) in cases {
        std::fs::write(&cfg, &text).unwrap();
        let out = check(&cfg);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{field}: {err}");
        let want = format!("{}:{}: {field}: ", cfg.display(), line_of(&text, at));
        assert!(err.contains(&want), "want {want:?} in {err:?}");
        assert!(err.contains(words), "want {words:?} in {err:?}");
    }
    let _ = std::fs::remove_file(&cfg);
}
