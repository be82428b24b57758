//! `lpscore weights` without an appliance: usage and configuration errors exit 2, an unreachable
//! appliance exits 1 naming the socket and the fix. (Against a running appliance: see
//! tests/control_socket.rs.)
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_lpscore");

fn weights(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("weights")
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_lists_the_actions_and_kpis() {
    let o = weights(&["--help"]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    for w in [
        "show",
        "set",
        "add-profile",
        "remove-profile",
        "--socket",
        "--config",
        "fill_rate",
    ] {
        assert!(out.contains(w), "{w} in {out}");
    }
    assert!(weights(&["set", "--help"]).status.success());
}

#[test]
fn usage_errors_exit_2() {
    // No action, unknown action, missing weights.
    assert_eq!(weights(&[]).status.code(), Some(2));
    assert_eq!(weights(&["frob"]).status.code(), Some(2));
    assert_eq!(weights(&["set", "Block"]).status.code(), Some(2));
    // No way to find the socket.
    let o = weights(&["show"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--socket"), "{}", stderr(&o));
    // Bad KPI=W pairs, refused before any connection.
    for bad in [
        "speed=1",
        "latency",
        "latency=fast",
        "latency=-1",
        "latency=inf",
    ] {
        let o = weights(&["--socket", "/nonexistent.sock", "set", "Block", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        assert!(stderr(&o).contains("KPI=W"), "{bad}: {}", stderr(&o));
    }
    // Both --socket and --config.
    let o = weights(&["--socket", "a", "--config", "b", "show"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn configuration_problems_exit_2() {
    let dir = std::env::temp_dir();
    let missing = dir.join(format!("lpscore-wcli-missing-{}.toml", std::process::id()));
    let o = weights(&["--config", missing.to_str().unwrap(), "show"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));
    let nosock = dir.join(format!("lpscore-wcli-nosock-{}.toml", std::process::id()));
    std::fs::write(&nosock, "[[group]]\nsessions = []\n").unwrap();
    let o = weights(&["--config", nosock.to_str().unwrap(), "show"]);
    let _ = std::fs::remove_file(&nosock);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no [control] socket"), "{}", stderr(&o));
}

#[test]
fn an_unreachable_appliance_exits_1_and_says_where() {
    let sock = std::env::temp_dir().join(format!("lpscore-wcli-{}.sock", std::process::id()));
    let o = weights(&["--socket", sock.to_str().unwrap(), "show"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains(&sock.display().to_string()), "{e}");
    assert!(e.contains("is `lpscore run` running"), "{e}");
}
