//! The few socket calls std does not offer (SO_BUSY_POLL, unconnected sockets, non-blocking
//! connect, ppoll, adopting a descriptor the kernel returned through io_uring).
#![allow(unsafe_code)]

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};

/// A socket address in the kernel's layout, at a stable address while it lives (io_uring's
/// connect reads it after submission: keep it boxed until the completion).
pub(crate) enum SockAddr {
    V4(libc::sockaddr_in),
    V6(libc::sockaddr_in6),
}

impl SockAddr {
    pub(crate) fn new(a: &SocketAddr) -> Self {
        match a {
            SocketAddr::V4(a) => SockAddr::V4(libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            }),
            SocketAddr::V6(a) => SockAddr::V6(libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            }),
        }
    }
    pub(crate) fn as_ptr(&self) -> *const libc::sockaddr {
        match self {
            SockAddr::V4(a) => (a as *const libc::sockaddr_in).cast(),
            SockAddr::V6(a) => (a as *const libc::sockaddr_in6).cast(),
        }
    }
    pub(crate) fn len(&self) -> libc::socklen_t {
        match self {
            SockAddr::V4(_) => core::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            SockAddr::V6(_) => core::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        }
    }
    fn family(&self) -> libc::c_int {
        match self {
            SockAddr::V4(_) => libc::AF_INET,
            SockAddr::V6(_) => libc::AF_INET6,
        }
    }
}

/// Takes ownership of a socket descriptor the kernel just returned (accept completion).
pub(crate) fn adopt(fd: RawFd) -> TcpStream {
    // SAFETY: `fd` is a fresh descriptor returned by the kernel to this thread's ring (an accept
    // completion); nothing else owns it, so the TcpStream becomes its only owner.
    unsafe { TcpStream::from_raw_fd(fd) }
}

/// A new, unconnected TCP socket for `addr`'s family (close-on-exec; non-blocking if asked).
pub(crate) fn tcp_socket(addr: &SockAddr, nonblocking: bool) -> io::Result<TcpStream> {
    let mut ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    if nonblocking {
        ty |= libc::SOCK_NONBLOCK;
    }
    // SAFETY: socket(2) takes plain integers and returns a new descriptor or -1.
    let fd = unsafe { libc::socket(addr.family(), ty, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(adopt(fd))
}

/// Starts a connect on a non-blocking socket: `Ok(true)` connected, `Ok(false)` in progress.
pub(crate) fn connect_start(s: &TcpStream, addr: &SockAddr) -> io::Result<bool> {
    // SAFETY: `addr.as_ptr()` points to a live sockaddr of `addr.len()` bytes; the descriptor
    // is owned by `s`.
    let rc = unsafe { libc::connect(s.as_raw_fd(), addr.as_ptr(), addr.len()) };
    if rc == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINPROGRESS) | Some(libc::EALREADY) | Some(libc::EINTR) => Ok(false),
        _ => Err(e),
    }
}

/// Whether a non-blocking connect finished: `Some(Ok)` connected, `Some(Err)` failed, `None`
/// still in progress.
pub(crate) fn connect_done(s: &TcpStream) -> Option<io::Result<()>> {
    let mut p = [libc::pollfd {
        fd: s.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    }];
    if wait(&mut p, 0).is_err() || p[0].revents == 0 {
        return None;
    }
    match s.take_error() {
        Ok(Some(e)) | Err(e) => Some(Err(e)),
        Ok(None) => match s.peer_addr() {
            Ok(_) => Some(Ok(())),
            Err(e) => Some(Err(e)),
        },
    }
}

/// Waits up to `timeout_ns` for any of `fds` (ppoll); returns how many are ready.
pub(crate) fn wait(fds: &mut [libc::pollfd], timeout_ns: u64) -> io::Result<usize> {
    let ts = libc::timespec {
        tv_sec: (timeout_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (timeout_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: `fds` is a valid, writable array of `fds.len()` pollfds; `ts` is a valid timespec;
    // no signal mask is passed.
    let rc = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &ts,
            core::ptr::null(),
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(rc as usize)
}

/// SO_BUSY_POLL (microseconds). Raising it needs CAP_NET_ADMIN; failure is not fatal.
pub(crate) fn set_busy_poll(s: &impl AsRawFd, us: u32) -> io::Result<()> {
    let v: libc::c_int = us.min(i32::MAX as u32) as libc::c_int;
    // SAFETY: `v` is a live c_int and its size is passed; the descriptor is owned by `s`.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BUSY_POLL,
            (&v as *const libc::c_int).cast(),
            core::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// TCP_NODELAY and (if `busy_poll_us` > 0, where permitted) SO_BUSY_POLL on a new connection.
pub(crate) fn tune(s: &TcpStream, busy_poll_us: u32) {
    let _ = s.set_nodelay(true);
    if busy_poll_us > 0 {
        let _ = set_busy_poll(s, busy_poll_us);
    }
}

/// RLIMIT_MEMLOCK soft limit in bytes (None: unlimited or unknown).
pub(crate) fn memlock_limit() -> Option<u64> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid, writable rlimit.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut r) };
    if rc != 0 || r.rlim_cur == libc::RLIM_INFINITY {
        None
    } else {
        Some(r.rlim_cur)
    }
}
