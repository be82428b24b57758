//! Every kind of configuration error names the file, the exact line and the field, and says what
//! to change.
use std::path::PathBuf;

use lpscore::runtime::RuntimeConfig;
use lpscore::runtime::config::RuntimeConfigError;

/// A valid configuration; line numbers below count from its first line.
const BASE: &str = r#"backend = "busy-poll"
scoreboard = "/tmp/lpscore-config-test.sb"

[[group]]
core = 0
sessions = [
  { id = 1, listen = "127.0.0.1:0" },
  { id = 2, connect = "127.0.0.1:9" },
]

[engine]
max_lps = 8
lps = ["LP_A", "LP_B"]

[engine.buckets]
unit = "shares"
edges = [100, 1000, 10000]

[[engine.profiles]]
name = "Fast"
latency = 0.7
fill_rate = 0.3

[[engine.profiles]]
name = "Block"
fill_rate = 0.5
market_impact = 0.5
"#;

fn line_of(text: &str, needle: &str) -> usize {
    let pos = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in the test text"));
    text[..pos].matches('\n').count() + 1
}

fn bad(text: &str) -> RuntimeConfigError {
    match RuntimeConfig::from_toml(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

/// Replaces `from` (once) and expects an error at the line of `at` (in the edited text).
fn expect(from: &str, to: &str, at: &str, field: &str, msg: &str) {
    assert!(BASE.contains(from), "{from:?}");
    let text = BASE.replacen(from, to, 1);
    let e = bad(&text);
    assert_eq!(e.field, field, "{e}");
    assert_eq!(e.line, Some(line_of(&text, at)), "{e}\n{text}");
    assert!(e.message.contains(msg), "{e}");
}

#[test]
fn the_base_configuration_is_valid() {
    let c = RuntimeConfig::from_toml(BASE).unwrap();
    assert_eq!(c.engine.profiles.len(), 2);
    assert_eq!(c.engine.profiles[1].weights.market_impact, 0.5);
}

#[test]
fn syntax_error_names_the_line() {
    let text = BASE.replacen("max_lps = 8", "max_lps = = 8", 1);
    let e = bad(&text);
    assert_eq!(e.line, Some(line_of(&text, "max_lps")), "{e}");
}

#[test]
fn unknown_keys() {
    expect(
        "max_lps = 8",
        "max_lps = 8\nmax_lpz = 9",
        "max_lpz",
        "engine.max_lpz",
        "unknown field",
    );
    expect(
        "core = 0",
        "core = 0\ncores = 1",
        "cores = 1",
        "group[0].cores",
        "unknown field",
    );
    expect(
        "{ id = 2, connect",
        "{ id = 2, lisen = \"x\", connect",
        "lisen",
        "group[0].sessions[1].lisen",
        "unknown field",
    );
    expect(
        "backend = \"busy-poll\"",
        "backend = \"busy-poll\"\nscorebord = \"x\"",
        "scorebord",
        "scorebord",
        "unknown field",
    );
    expect(
        "market_impact = 0.5",
        "market_impact = 0.5\nspeed = 1",
        "speed",
        "engine.profiles[1].speed",
        "unknown key `speed`",
    );
}

#[test]
fn a_weight_that_is_not_a_number() {
    expect(
        "market_impact = 0.5",
        "market_impact = \"high\"",
        "market_impact = \"high\"",
        "engine.profiles[1].market_impact",
        "expected a number, found a string",
    );
    // Inline profiles too.
    let text = BASE.replacen(
        "[engine.buckets]",
        "profiles = [ { name = \"X\", latency = true } ]\n[engine.buckets]",
        1,
    );
    let text = text
        .split("[[engine.profiles]]")
        .next()
        .unwrap()
        .to_string();
    let e = bad(&text);
    assert_eq!(e.field, "engine.profiles[0].latency", "{e}");
    assert_eq!(e.line, Some(line_of(&text, "latency = true")), "{e}");
    assert!(e.message.contains("found a boolean"), "{e}");
}

#[test]
fn wrong_types_and_values_elsewhere() {
    expect(
        "max_lps = 8",
        "max_lps = \"many\"",
        "max_lps",
        "engine.max_lps",
        "found string",
    );
    expect(
        "backend = \"busy-poll\"",
        "backend = \"epoll\"",
        "backend",
        "backend",
        "epoll",
    );
    expect(
        "{ id = 2, connect = \"127.0.0.1:9\" }",
        "{ id = 2, connect = \"nowhere\" }",
        "nowhere",
        "group[0].sessions[1].connect",
        "",
    );
    expect(
        "max_lps = 8",
        "max_lps = 0",
        "max_lps",
        "engine.max_lps",
        "1..=256",
    );
}

#[test]
fn overlapping_or_unsorted_buckets() {
    expect(
        "edges = [100, 1000, 10000]",
        "edges = [100, 10000, 1000]",
        "edges",
        "engine.buckets.edges",
        "strictly increasing",
    );
    expect(
        "edges = [100, 1000, 10000]",
        "edges = [100, 100, 10000]",
        "edges",
        "engine.buckets.edges",
        "overlap",
    );
    expect(
        "edges = [100, 1000, 10000]",
        "edges = [1, 2, 3, 4, 5, 6, 7, 8]",
        "edges",
        "engine.buckets.edges",
        "at most 7",
    );
}

#[test]
fn a_core_that_does_not_exist() {
    expect(
        "core = 0",
        "core = 4096",
        "core = 4096",
        "group[0].core",
        "does not exist",
    );
    let text = format!("{BASE}\n[journal]\nenabled = true\ndir = \"/tmp/j\"\ncore = 5000\n");
    let e = bad(&text);
    assert_eq!(e.field, "journal.core", "{e}");
    assert_eq!(e.line, Some(line_of(&text, "core = 5000")), "{e}");
}

#[test]
fn duplicate_session_ids() {
    let text = format!(
        "{BASE}\n[[group]]\nscoreboard = \"/tmp/b.sb\"\nsessions = [\n  {{ id = 3, listen = \"127.0.0.1:0\" }},\n  {{ id = 2, listen = \"127.0.0.1:0\" }},\n]\n"
    )
    .replacen("[[group]]\ncore = 0", "[[group]]\ncore = 0\nscoreboard = \"/tmp/a.sb\"", 1);
    let e = bad(&text);
    assert_eq!(e.field, "group[1].sessions[1].id", "{e}");
    assert_eq!(
        e.line,
        Some(line_of(&text, "{ id = 2, listen = \"127.0.0.1:0\" }")),
        "{e}"
    );
    assert!(e.message.contains("group[0].sessions[1].id"), "{e}");
}

#[test]
fn two_sessions_on_one_sequence_store() {
    // The same CompIDs in the same store_dir: one store file for two sessions.
    let fix = "fix = { sender_comp_id = \"LPS\", target_comp_id = \"DC\", store_dir = \"/tmp/lpscore-cfg-seqs\" }";
    let text = BASE
        .replace(
            "{ id = 1, listen = \"127.0.0.1:0\" }",
            &format!("{{ id = 1, listen = \"127.0.0.1:0\", {fix} }}"),
        )
        .replace(
            "{ id = 2, connect = \"127.0.0.1:9\" }",
            &format!("{{ id = 2, connect = \"127.0.0.1:9\", {fix} }}"),
        );
    let e = bad(&text);
    assert_eq!(e.field, "group[0].sessions[1].fix", "{e}");
    assert_eq!(e.line, Some(line_of(&text, "{ id = 2, connect")), "{e}");
    assert!(e.message.contains("group[0].sessions[0].fix"), "{e}");
    assert!(e.message.contains("store_dir"), "{e}");
    // Another store_dir, or other CompIDs, is fine.
    let other = text.replacen("lpscore-cfg-seqs", "lpscore-cfg-seqs-2", 1);
    assert!(RuntimeConfig::from_toml(&other).is_ok());
    let other = text.replacen("target_comp_id = \"DC\"", "target_comp_id = \"DC2\"", 1);
    assert!(RuntimeConfig::from_toml(&other).is_ok());
}

#[test]
fn bad_profile_names() {
    expect(
        "name = \"Block\"",
        "name = \"Block trades\"",
        "Block trades",
        "engine.profiles[1].name",
        "letters, digits",
    );
    expect(
        "name = \"Block\"",
        "name = \"Fast\"",
        "name = \"Fast\"\nfill_rate = 0.5",
        "engine.profiles[1].name",
        "also the name of profiles[0]",
    );
    expect(
        "name = \"Block\"",
        "name = \"ABCDEFGHIJKLMNOPQ\"",
        "ABCDEFGHIJKLMNOPQ",
        "engine.profiles[1].name",
        "1 to 16",
    );
    // A whole profile: the line of its `[[engine.profiles]]` header.
    expect(
        "latency = 0.7\nfill_rate = 0.3",
        "latency = 0\nfill_rate = 0",
        "[[engine.profiles]]\nname = \"Fast\"",
        "engine.profiles[0]",
        "every weight is 0",
    );
    expect(
        "latency = 0.7",
        "latency = -0.7",
        "latency = -0.7",
        "engine.profiles[0].latency",
        "non-negative",
    );
}

#[test]
fn bad_fix_session_settings() {
    expect(
        "{ id = 1, listen = \"127.0.0.1:0\" }",
        "{ id = 1, listen = \"127.0.0.1:0\", fix = { sender_comp_id = \"A\", target_comp_id = \"B\", begin_string = \"FIX.9.9\" } }",
        "FIX.9.9",
        "group[0].sessions[0].fix.begin_string",
        "not supported",
    );
    expect(
        "{ id = 1, listen = \"127.0.0.1:0\" }",
        "{ id = 1, listen = \"127.0.0.1:0\", fix = { sender_comp_id = \"A\", target_comp_id = \"B\", heartbeat_s = 0 } }",
        "heartbeat_s",
        "group[0].sessions[0].fix.heartbeat_s",
        "1 to 3600",
    );
    // serde's own errors inside the session table also point at the key.
    expect(
        "{ id = 1, listen = \"127.0.0.1:0\" }",
        "{ id = 1, listen = \"127.0.0.1:0\", fix = { sender_comp_id = \"A\", target_comp_id = \"B\", heartbeat = 5 } }",
        "heartbeat = 5",
        "group[0].sessions[0].fix.heartbeat",
        "unknown field",
    );
}

#[test]
fn control_socket_directory() {
    let dir = std::env::temp_dir().join(format!("lpscore-cfg-nodir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sock = dir.join("a").join("b").join("control.sock");
    let text = format!("{BASE}\n[control]\nsocket = \"{}\"\n", sock.display());
    let e = bad(&text);
    assert_eq!(e.field, "control.socket", "{e}");
    assert_eq!(e.line, Some(line_of(&text, "socket =")), "{e}");
    assert!(e.message.contains("does not exist"), "{e}");
    // One missing level is created by the appliance (mode 0700): accepted.
    let ok = format!(
        "{BASE}\n[control]\nsocket = \"{}\"\n",
        dir.join("control.sock").display()
    );
    RuntimeConfig::from_toml(&ok).unwrap();
    // A path too long for a Unix socket.
    let long = format!("/tmp/{}/c.sock", "x".repeat(120));
    let e = bad(&format!("{BASE}\n[control]\nsocket = \"{long}\"\n"));
    assert!(e.message.contains("108"), "{e}");
}

#[test]
fn control_socket_directory_not_writable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("lpscore-cfg-ro-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();
    let text = format!(
        "{BASE}\n[control]\nsocket = \"{}\"\n",
        dir.join("control.sock").display()
    );
    let probe = dir.join("probe");
    let root_can_write = std::fs::write(&probe, b"").is_ok();
    let r = RuntimeConfig::from_toml(&text);
    let _ = std::fs::remove_file(&probe);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    if root_can_write {
        // Running as root: permission bits do not stop us, nor the appliance.
        r.unwrap();
    } else {
        let e = r.unwrap_err();
        assert_eq!(e.field, "control.socket", "{e}");
        assert!(e.message.contains("not writable"), "{e}");
    }
}

#[test]
fn load_names_the_file_line_and_field() {
    let path: PathBuf =
        std::env::temp_dir().join(format!("lpscore-cfg-load-{}.toml", std::process::id()));
    let text = BASE.replacen("latency = 0.7", "latency = \"fast\"", 1);
    std::fs::write(&path, &text).unwrap();
    let e = RuntimeConfig::load(&path).unwrap_err();
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        e.to_string(),
        format!(
            "{}:{}: engine.profiles[0].latency: expected a number, found a string",
            path.display(),
            line_of(&text, "latency = \"fast\"")
        )
    );
    let e = RuntimeConfig::load(&path).unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("{}: cannot read", path.display())),
        "{e}"
    );
}

#[test]
fn the_shipped_example_is_valid_but_for_its_socket_directory() {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/config/lpscore.toml")).unwrap();
    // The example's socket lives in /run/lpscore (created by the appliance where it can).
    let text = text.replace(
        "/run/lpscore/control.sock",
        &std::env::temp_dir()
            .join("lpscore-example.sock")
            .display()
            .to_string(),
    );
    let c = RuntimeConfig::from_toml(&text).unwrap();
    assert!(c.control.socket.is_some());
    assert!(c.metrics.listen.is_some());
}
