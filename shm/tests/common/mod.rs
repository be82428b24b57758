//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

static N: AtomicU32 = AtomicU32::new(0);

/// A unique scoreboard path under the temp dir, removed (with its lock and temp files) on drop.
pub struct TempBoard {
    pub path: PathBuf,
}

impl TempBoard {
    pub fn new(tag: &str) -> Self {
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("lpscore-test-{tag}-{}-{n}", std::process::id()));
        let t = TempBoard { path };
        t.cleanup();
        t
    }

    pub fn lock_path(&self) -> PathBuf {
        with_suffix(&self.path, ".lock")
    }

    fn cleanup(&self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_file(self.lock_path());
    }
}

impl Drop for TempBoard {
    fn drop(&mut self) {
        self.cleanup();
    }
}

pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Small capacities for tests.
pub fn small_opts() -> lpscore_shm::WriterOptions {
    lpscore_shm::WriterOptions {
        capacities: lpscore_shm::Capacities {
            max_lps: 8,
            max_symbols: 16,
            n_buckets: 3,
            max_profiles: 4,
        },
        ..Default::default()
    }
}

/// Deterministic generator (xorshift64).
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Re-executes this test binary running only `test_name`, with `LPSCORE_ROLE=role` and
/// `LPSCORE_PATH=path`.
pub fn child(test_name: &str, role: &str, path: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(std::env::current_exe().unwrap());
    c.args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env("LPSCORE_ROLE", role)
        .env("LPSCORE_PATH", path);
    c
}

/// `Some((role, path))` in a re-executed child.
pub fn role() -> Option<(String, PathBuf)> {
    let r = std::env::var("LPSCORE_ROLE").ok()?;
    let p = std::env::var_os("LPSCORE_PATH")?;
    Some((r, PathBuf::from(p)))
}
