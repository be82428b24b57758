//! `[log]`: `lpscore run` writes structured JSON lines to the configured file (through its
//! logging thread), and a bad `log.level` / `log.file` is refused with the line and the field.
#![allow(clippy::disallowed_methods)] // reason: a test polls with its own deadlines.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_lpscore");

struct Dir(std::path::PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp(name: &str) -> Dir {
    let d = std::env::temp_dir().join(format!("lpscore-logs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Dir(d)
}

#[test]
fn json_lines_go_to_the_log_file() {
    let d = temp("json");
    let log = d.0.join("lpscore.log");
    let cfg = d.0.join("lpscore.toml");
    std::fs::write(
        &cfg,
        format!(
            "backend = \"busy-poll\"\nscoreboard = \"{}\"\n[idle]\nenabled = true\nquiet_us = 500\n\
             [log]\nfile = \"{}\"\nformat = \"json\"\nlevel = \"info\"\n\
             [[group]]\nsessions = [ {{ id = 1, listen = \"127.0.0.1:0\" }} ]\n",
            d.0.join("board").display(),
            log.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("listening on") {
            break;
        }
        assert!(Instant::now() < deadline, "no 'listening on' in {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: signalling our own child process.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    let mut n = 0;
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(v["timestamp"].is_string(), "{line}");
        assert!(v["level"].is_string(), "{line}");
        assert!(v["fields"].is_object(), "{line}");
        n += 1;
    }
    // Start-up and the clean stop (flushed by the logging thread before exit).
    assert!(text.contains("group stopped"), "{text}");
    assert!(n >= 3, "{text}");
}

#[test]
fn bad_log_settings_name_the_line_and_the_field() {
    let d = temp("bad");
    let cases = [
        ("level = \"info,,=\"", "log.level"),
        ("file = \"/nonexistent-dir-lpscore/x.log\"", "log.file"),
        ("format = \"xml\"", "log.format"),
    ];
    for (line, field) in cases {
        let cfg = d.0.join("bad.toml");
        std::fs::write(
            &cfg,
            format!(
                "[[group]]\nsessions = [ {{ id = 1, listen = \"127.0.0.1:0\" }} ]\n[log]\n{line}\n"
            ),
        )
        .unwrap();
        let out = Command::new(BIN)
            .args(["run", "--check", "--config", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{line}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("bad.toml:4: {field}")),
            "{line}: {err}"
        );
    }
}
