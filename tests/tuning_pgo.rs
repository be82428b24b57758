//! `tuning/pgo-build`: the checks it makes before spending four builds' time. (The build and the
//! training themselves take ~15 minutes and are run by hand; `docs/kpis.md`, Session 11.)

use std::path::Path;
use std::process::Command;

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/pgo-build")
}

#[test]
fn script_parses() {
    let out = Command::new("bash")
        .arg("-n")
        .arg(script())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Without `llvm-profdata` in the toolchain the script stops at once (exit 2), names the file it
/// looked for and the command that installs it, and builds nothing.
#[test]
fn missing_llvm_profdata_is_named_with_its_fix() {
    let dir = std::env::temp_dir().join(format!("lpscore-pgo-test-{}", std::process::id()));
    let bin = dir.join("bin");
    let sysroot = dir.join("sysroot");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&sysroot).unwrap();
    // A `rustc` whose sysroot has no llvm-tools, and a `cargo` that fails loudly if reached.
    let rustc = bin.join("rustc");
    std::fs::write(
        &rustc,
        format!(
            "#!/bin/sh\ncase \"$1\" in --print) echo '{}';; -vV) echo 'host: x86_64-unknown-linux-gnu';; esac\n",
            sysroot.display()
        ),
    )
    .unwrap();
    let cargo = bin.join("cargo");
    std::fs::write(&cargo, "#!/bin/sh\necho cargo-was-run >&2\nexit 99\n").unwrap();
    for f in [&rustc, &cargo] {
        let st = Command::new("chmod").arg("+x").arg(f).status().unwrap();
        assert!(st.success());
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new("bash")
        .arg(script())
        .env("PATH", path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(
        err.contains("lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-profdata"),
        "{err}"
    );
    assert!(err.contains("rustup component add llvm-tools"), "{err}");
    assert!(!err.contains("cargo-was-run"), "{err}");
}
