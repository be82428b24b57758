//! The only module with `unsafe`: the file mapping, the few libc calls (`flock`, `kill`,
//! `clock_gettime`) and the prefetch hints.
//!
//! The mapping is a [`memmap2::MmapRaw`], which never hands out `&[u8]` (the bytes change under
//! us, so a shared byte slice would be a lie). Typed views are created only for [`ShmSafe`] types,
//! which consist of `AtomicU64` words (interior mutability), after a bounds and alignment check.
//!
//! ```
//! // Internal module; its effect is visible through `Scoreboard` and `Writer`.
//! assert!(lpscore_shm::monotonic_ns() > 0);
//! ```

use crate::layout::ShmSafe;
use core::mem::{align_of, size_of};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// A mapping of the first `len` bytes of a scoreboard file.
pub(crate) struct Map {
    raw: memmap2::MmapRaw,
    len: usize,
}

impl Map {
    /// Maps `len` bytes `PROT_READ`, `MAP_SHARED`. The caller has checked with `fstat` that the
    /// file is at least `len` bytes long, so no access within `len` can raise SIGBUS (unless the
    /// file is truncated later, which only its owner, the writer, may do, and never does).
    pub(crate) fn read_only(file: &File, len: usize) -> io::Result<Map> {
        let raw = memmap2::MmapOptions::new()
            .len(len)
            .map_raw_read_only(file)?;
        Ok(Map { raw, len })
    }

    /// Maps `len` bytes read-write, `MAP_SHARED` (the writer only).
    pub(crate) fn read_write(file: &File, len: usize) -> io::Result<Map> {
        let raw = memmap2::MmapOptions::new().len(len).map_raw(file)?;
        Ok(Map { raw, len })
    }

    /// Mapped length in bytes.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// A typed view of the `T` at byte offset `off`, or `None` if it is out of bounds or misaligned.
    #[inline]
    pub(crate) fn get<T: ShmSafe>(&self, off: usize) -> Option<&T> {
        self.slice::<T>(off, 1).map(|s| &s[0])
    }

    /// A typed view of `n` consecutive `T` from byte offset `off`, or `None` if out of bounds or
    /// misaligned.
    #[inline]
    pub(crate) fn slice<T: ShmSafe>(&self, off: usize, n: usize) -> Option<&[T]> {
        let bytes = n.checked_mul(size_of::<T>())?;
        let end = off.checked_add(bytes)?;
        if end > self.len {
            return None;
        }
        let base = self.raw.as_ptr();
        // SAFETY: `off <= end <= self.len`, the mapped length, so the pointer stays within (or one
        // past the end of) the mapping.
        let ptr = unsafe { base.add(off) };
        if (ptr as usize) % align_of::<T>() != 0 {
            return None;
        }
        // SAFETY: the range [off, off + n * size_of::<T>()) lies within the live mapping (checked
        // above; the mapping lives as long as `self`) and is aligned for `T`. `T: ShmSafe` is made
        // only of `AtomicU64` words: valid for any bit pattern, and all mutation (by this or other
        // processes) goes through atomics, so a shared reference is sound. On a read-only mapping
        // the crate performs only relaxed loads through it (see `seqlock`).
        Some(unsafe { core::slice::from_raw_parts(ptr.cast::<T>(), n) })
    }
}

/// Takes `flock(LOCK_EX | LOCK_NB)` on `file`: `Ok(true)` when taken, `Ok(false)` when another
/// open file description holds it.
pub(crate) fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    // SAFETY: flock on a valid, open file descriptor owned by `file`; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime writes only it (vDSO, no syscall
    // on common kernels).
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// `CLOCK_MONOTONIC` in nanoseconds (the heartbeat clock; system-wide, so comparable across
/// processes).
///
/// ```
/// let a = lpscore_shm::monotonic_ns();
/// assert!(lpscore_shm::monotonic_ns() >= a);
/// ```
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// `CLOCK_REALTIME` in nanoseconds since the Unix epoch.
///
/// ```
/// assert!(lpscore_shm::realtime_ns() > 1_600_000_000_000_000_000);
/// ```
pub fn realtime_ns() -> u64 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// `false` only when `kill(pid, 0)` fails with `ESRCH` (no such process). A pid of 0 or one that
/// does not fit a `pid_t` counts as gone.
pub(crate) fn pid_alive(pid: u64) -> bool {
    let Ok(p) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if p <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 performs only the existence and permission check; no memory.
    let rc = unsafe { libc::kill(p, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Asks the CPU for the cache lines of `len` bytes at `p` (a hint for a row about to be written).
#[inline(always)]
pub(crate) fn prefetch(p: *const u8, len: usize) {
    let mut off = 0;
    while off < len {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: PREFETCHT0 is a hint: it never faults and never changes memory, whatever the
        // address, and SSE is part of the x86_64 baseline.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                p.wrapping_add(off).cast::<i8>(),
            );
        }
        off += 64;
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Whether this CPU has PREFETCHW (CPUID 8000_0001h ECX bit 8, "3DNowPrefetch"/PRFCHW: every
/// AMD64 CPU, Intel since Broadwell). Asked once per writer.
pub(crate) fn has_prefetchw() -> bool {
    // `__cpuid` is a safe function since Rust 1.87 and `unsafe` before: the block serves both.
    #[cfg(target_arch = "x86_64")]
    #[allow(unused_unsafe)]
    // SAFETY: CPUID is part of the x86_64 baseline; leaf 8000_0000h reports the highest extended
    // leaf, so 8000_0001h is only queried where it exists.
    unsafe {
        use core::arch::x86_64::__cpuid;
        __cpuid(0x8000_0000).eax >= 0x8000_0001 && __cpuid(0x8000_0001).ecx & (1 << 8) != 0
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Asks the CPU for the cache lines of `len` bytes at `p` with intent to write (PREFETCHW):
/// they arrive exclusive, so the seqlock's stores that follow commit back to back and its `seq`
/// stays odd for a few nanoseconds instead of one cache-line transfer per line. `prefetchw` is
/// [`has_prefetchw`]; without it, a plain prefetch.
#[inline(always)]
pub(crate) fn prefetch_write(p: *const u8, len: usize, prefetchw: bool) {
    #[cfg(target_arch = "x86_64")]
    if prefetchw {
        let mut off = 0;
        while off < len {
            // SAFETY: PREFETCHW is a hint: it never faults and never changes memory, whatever
            // the address; the caller checked that the CPU has it (has_prefetchw).
            unsafe {
                core::arch::asm!(
                    "prefetchw [{0}]",
                    in(reg) p.wrapping_add(off),
                    options(nostack, preserves_flags, readonly)
                );
            }
            off += 64;
        }
        return;
    }
    let _ = prefetchw;
    prefetch(p, len);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hints never fault, whatever the address: null, unmapped, the end of the address
    /// space, with PREFETCHW and without.
    #[test]
    fn prefetch_hints_never_fault() {
        for &w in &[false, has_prefetchw()] {
            for &a in &[0usize, 64, 0xdead_0000, usize::MAX - 127] {
                prefetch_write(a as *const u8, 128, w);
                prefetch(a as *const u8, 128);
            }
        }
        let v = [0u8; 256];
        prefetch_write(v.as_ptr(), v.len(), has_prefetchw());
        assert_eq!(v, [0u8; 256], "a hint changes nothing");
    }
}
