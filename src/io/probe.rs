//! Start-up probing of io_uring: a failure names the cause and the fix (kernel.io_uring_disabled,
//! a seccomp profile, RLIMIT_MEMLOCK, a kernel too old for a needed opcode or flag).
use io_uring::{IoUring, Probe, opcode};

use super::IoError;
use super::sock::memlock_limit;

/// What the kernel offers (from a successful probe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// Incremental provided-buffer consumption (IOU_PBUF_RING_INC, 6.12+).
    pub incremental_buffers: bool,
}

fn sysctl_disabled() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

fn uring(cause: impl Into<String>, fix: impl Into<String>) -> IoError {
    IoError::Uring {
        cause: cause.into(),
        fix: fix.into(),
    }
}

/// Explains an `io_uring_setup` failure.
pub fn diagnose_setup(e: std::io::Error) -> IoError {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => match sysctl_disabled() {
            Some(2) => uring(
                format!(
                    "io_uring_setup: {e}: io_uring is disabled on this host (sysctl kernel.io_uring_disabled = 2)"
                ),
                "`sysctl -w kernel.io_uring_disabled=0` (persist it in /etc/sysctl.d/)",
            ),
            Some(1) => uring(
                format!(
                    "io_uring_setup: {e}: io_uring is restricted to the group kernel.io_uring_group (sysctl kernel.io_uring_disabled = 1)"
                ),
                "add this user to the group whose gid is in /proc/sys/kernel/io_uring_group, run as root, or `sysctl -w kernel.io_uring_disabled=0`",
            ),
            _ => uring(
                format!(
                    "io_uring_setup: {e}: refused although kernel.io_uring_disabled allows it, which is what a seccomp profile does (container runtimes' default profiles block io_uring_setup)"
                ),
                "run with a seccomp profile that allows io_uring_setup, io_uring_enter and io_uring_register (e.g. docker --security-opt seccomp=<profile>, or a systemd unit without SystemCallFilter=~@io_uring)",
            ),
        },
        Some(libc::ENOSYS) => uring(
            format!(
                "io_uring_setup: {e}: the kernel has no io_uring (CONFIG_IO_URING off, older than 5.1) or a seccomp profile answers ENOSYS"
            ),
            "use a kernel with io_uring (6.1 or newer for DEFER_TASKRUN), or allow the io_uring system calls in the seccomp profile",
        ),
        Some(libc::ENOMEM) => uring(
            format!(
                "io_uring_setup: {e}: the ring's memory could not be locked (RLIMIT_MEMLOCK = {})",
                memlock_limit()
                    .map(|b| format!("{} KiB", b / 1024))
                    .unwrap_or_else(|| "unlimited".into())
            ),
            "raise the locked-memory limit (`ulimit -l unlimited`, LimitMEMLOCK=infinity in the systemd unit, or memlock in /etc/security/limits.conf), or lower io.buffers",
        ),
        Some(libc::EINVAL) => uring(
            format!(
                "io_uring_setup: {e}: the kernel refuses SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG (needs Linux 6.1 or newer)"
            ),
            "upgrade the kernel to 6.1 or newer",
        ),
        _ => uring(
            format!("io_uring_setup: {e}"),
            "check dmesg and the kernel's io_uring support",
        ),
    }
}

/// Checks the opcodes the backend uses (multishot accept needs 5.19, multishot recv with a
/// provided buffer ring 6.0).
pub fn check_opcodes(ring: &IoUring) -> Result<(), IoError> {
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe).map_err(|e| {
        uring(
            format!("IORING_REGISTER_PROBE: {e}: kernel too old (needs 5.6+)"),
            "upgrade the kernel to 6.1 or newer",
        )
    })?;
    for (code, name) in [
        (opcode::Accept::CODE, "ACCEPT (multishot)"),
        (opcode::Connect::CODE, "CONNECT"),
        (opcode::Recv::CODE, "RECV (multishot)"),
        (opcode::Send::CODE, "SEND"),
    ] {
        if !probe.is_supported(code) {
            return Err(uring(
                format!("the kernel lacks the io_uring opcode IORING_OP_{name}"),
                "upgrade the kernel to 6.1 or newer",
            ));
        }
    }
    Ok(())
}

/// Explains a provided-buffer-ring registration failure.
pub fn diagnose_buf_ring(e: std::io::Error) -> IoError {
    match e.raw_os_error() {
        Some(libc::ENOMEM) => uring(
            format!(
                "IORING_REGISTER_PBUF_RING: {e} (RLIMIT_MEMLOCK = {})",
                memlock_limit()
                    .map(|b| format!("{} KiB", b / 1024))
                    .unwrap_or_else(|| "unlimited".into())
            ),
            "raise the locked-memory limit (`ulimit -l`, LimitMEMLOCK= in the systemd unit) or lower io.buffers",
        ),
        _ => uring(
            format!(
                "IORING_REGISTER_PBUF_RING: {e}: the kernel has no provided buffer rings (needs 5.19+, multishot recv 6.0+)"
            ),
            "upgrade the kernel to 6.1 or newer",
        ),
    }
}

/// Probes io_uring as the backend would use it (a ring with the backend's flags, the opcodes,
/// a small buffer ring). `lpscore doctor`-style checks and the tests call it.
pub fn probe() -> Result<Features, IoError> {
    let ring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_taskrun_flag()
        .build(8)
        .map_err(diagnose_setup)?;
    check_opcodes(&ring)?;
    let mut br = super::uring::BufRing::new(8, 4096).map_err(diagnose_buf_ring)?;
    let inc = br
        .register(&ring.submitter(), 0)
        .map_err(diagnose_buf_ring)?;
    Ok(Features {
        incremental_buffers: inc,
    })
}
