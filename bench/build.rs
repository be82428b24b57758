//! Builds the QuickFIX baseline shim (bench/cpp/quickfix_shim.cpp) when QuickFIX is installed
//! (`pkg-config --exists quickfix`, or the header in /usr/include/quickfix) and sets
//! `cfg(have_quickfix)`; without it the harnesses report the baseline as null.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(have_quickfix)");
    println!("cargo::rerun-if-changed=cpp/quickfix_shim.cpp");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=LPSCORE_NO_QUICKFIX");
    if std::env::var_os("LPSCORE_NO_QUICKFIX").is_some() {
        println!("cargo::warning=LPSCORE_NO_QUICKFIX set: QuickFIX baseline disabled");
        return;
    }
    let pkg = std::process::Command::new("pkg-config")
        .args(["--exists", "quickfix"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let header = std::path::Path::new("/usr/include/quickfix/Message.h").exists();
    if !(pkg || header) {
        println!(
            "cargo::warning=QuickFIX not found (apt-get install libquickfix-dev): the QuickFIX \
             baseline of fix_parse will be null"
        );
        return;
    }
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .file("cpp/quickfix_shim.cpp")
        // QuickFIX 1.15 headers use dynamic exception specifications, gone in C++17.
        .flag_if_supported("-std=gnu++14")
        .flag_if_supported("-w")
        .opt_level(2);
    if let Ok(out) = std::process::Command::new("pkg-config")
        .args(["--cflags", "quickfix"])
        .output()
    {
        for f in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Some(dir) = f.strip_prefix("-I") {
                build.include(dir);
            }
        }
    }
    build.compile("quickfix_shim");
    println!("cargo::rustc-link-lib=dylib=quickfix");
    println!("cargo::rustc-cfg=have_quickfix");
}
