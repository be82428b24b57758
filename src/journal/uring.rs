//! The io_uring write path of the journal thread (`backend = "uring"`): `IORING_OP_WRITE_FIXED`
//! from the write buffer registered once as fixed buffer 0 (no per-write page pinning), falling
//! back to `IORING_OP_WRITE` if the data is not inside it, and `IORING_OP_FSYNC` with
//! `IORING_FSYNC_DATASYNC`. Each operation is submitted and waited for (the journal thread has
//! nothing else to do meanwhile); the gain over `write(2)` is the fixed buffer, not overlap.
//!
//! This module holds the `unsafe` of pushing submission entries: the kernel reads the buffer
//! until the completion, and every call waits for its completion before returning.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;

use io_uring::{IoUring, opcode, types};

/// A small ring for synchronous writes and syncs.
pub(crate) struct Uring {
    ring: IoUring,
    /// The registered buffer (base, length), if registration succeeded.
    fixed: Option<(usize, usize)>,
}

impl core::fmt::Debug for Uring {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Uring")
            .field("fixed", &self.fixed)
            .finish_non_exhaustive()
    }
}

/// Why io_uring is not available, in words an operator can act on.
pub(crate) fn explain(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOSYS) => "io_uring is not supported by this kernel (ENOSYS)".into(),
        Some(libc::EPERM) | Some(libc::EACCES) => {
            "io_uring is disabled (sysctl kernel.io_uring_disabled) \
             or blocked by a seccomp profile (container default); set kernel.io_uring_disabled=0 \
             or allow io_uring_setup, or use backend = \"write\""
                .into()
        }
        Some(libc::ENOMEM) => {
            "io_uring setup failed for lack of locked memory: raise RLIMIT_MEMLOCK \
             (ulimit -l) or use backend = \"write\""
                .into()
        }
        _ => format!("io_uring setup failed: {e}"),
    }
}

impl Uring {
    /// A ring of 8 entries, with `buf`'s allocation (`cap` bytes at `base`) registered as fixed
    /// buffer 0 when the kernel allows it (otherwise plain writes are used).
    pub(crate) fn new(base: *const u8, cap: usize) -> io::Result<Self> {
        let ring = IoUring::new(8)?;
        let iov = libc::iovec {
            iov_base: base as *mut libc::c_void,
            iov_len: cap,
        };
        // SAFETY: `base..base+cap` is the live allocation of the journal thread's write buffer,
        // which the thread keeps (never reallocated: it is reserved to its maximum size) for the
        // ring's whole life; the kernel only pins its pages here and reads them during the
        // WRITE_FIXED operations submitted below, each waited for.
        let fixed = match unsafe { ring.submitter().register_buffers(&[iov]) } {
            Ok(()) => Some((base as usize, cap)),
            Err(e) => {
                tracing::warn!(error = %e, "journal: io_uring fixed buffer not registered; plain writes");
                None
            }
        };
        Ok(Self { ring, fixed })
    }

    /// Whether the write buffer is registered.
    pub(crate) fn has_fixed(&self) -> bool {
        self.fixed.is_some()
    }

    fn run(&mut self, sqe: io_uring::squeue::Entry) -> io::Result<i32> {
        // SAFETY: the entry refers to a file descriptor and a buffer that the caller keeps alive
        // and unchanged until this function returns, and it returns only after the completion
        // of this entry (submit_and_wait(1) and the completion queue read below).
        unsafe {
            self.ring
                .submission()
                .push(&sqe)
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        }
        self.ring.submit_and_wait(1)?;
        let cqe = self
            .ring
            .completion()
            .next()
            .ok_or_else(|| io::Error::other("io_uring: no completion"))?;
        let r = cqe.result();
        if r < 0 {
            Err(io::Error::from_raw_os_error(-r))
        } else {
            Ok(r)
        }
    }

    /// Writes all of `data` at `offset` of `fd`.
    pub(crate) fn write_all(
        &mut self,
        fd: RawFd,
        mut data: &[u8],
        mut offset: u64,
    ) -> io::Result<()> {
        while !data.is_empty() {
            let len = data.len().min(1 << 30) as u32;
            let p = data.as_ptr() as usize;
            let sqe = match self.fixed {
                Some((base, cap)) if p >= base && p + len as usize <= base + cap => {
                    opcode::WriteFixed::new(types::Fd(fd), data.as_ptr(), len, 0)
                        .offset(offset)
                        .build()
                }
                _ => opcode::Write::new(types::Fd(fd), data.as_ptr(), len)
                    .offset(offset)
                    .build(),
            };
            let n = self.run(sqe)? as usize;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "io_uring write returned 0",
                ));
            }
            data = &data[n.min(data.len())..];
            offset += n as u64;
        }
        Ok(())
    }

    /// fdatasync(fd) through the ring.
    pub(crate) fn fdatasync(&mut self, fd: RawFd) -> io::Result<()> {
        let sqe = opcode::Fsync::new(types::Fd(fd))
            .flags(types::FsyncFlags::DATASYNC)
            .build();
        self.run(sqe).map(drop)
    }
}
