//! The socket side: bind (directory 0700 when created, socket 0600, a stale socket replaced only
//! when nobody answers on it), accept a bounded number of clients, read bounded lines with
//! timeouts, answer each line through the [`Controller`]. A slow, silent, oversized or garbage
//! client costs one client thread and is cut off; it never reaches the hot threads.
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use super::{Controller, MAX_LINE, Target};

/// Limits of the server.
#[derive(Debug, Clone, Copy)]
pub struct ServerOptions {
    /// Clients served at once; more are answered with an error and closed.
    pub max_clients: usize,
    /// A request line must be complete this long after its first byte.
    pub request_timeout: Duration,
    /// A connection with no request for this long is closed.
    pub idle_timeout: Duration,
    /// A response must be taken by the client within this long.
    pub write_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_clients: 16,
            request_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(300),
            write_timeout: Duration::from_secs(5),
        }
    }
}

/// Creates the socket at `path`. The message of an error names the path, the cause and the fix.
pub fn bind(path: &Path) -> Result<UnixListener, String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                format!(
                    "control socket {}: cannot create the directory {}: {e} (create it, or change \
                     [control] socket)",
                    path.display(),
                    dir.display()
                )
            })?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) => {
            use std::os::unix::fs::FileTypeExt;
            if !m.file_type().is_socket() {
                return Err(format!(
                    "control socket {}: a file that is not a socket is in the way (remove it or \
                     change [control] socket)",
                    path.display()
                ));
            }
            match UnixStream::connect(path) {
                Ok(_) => {
                    return Err(format!(
                        "control socket {}: another process is listening on it (another lpscore? \
                         stop it or change [control] socket)",
                        path.display()
                    ));
                }
                // Only "nobody listens" proves it stale (not, say, a permission error).
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                Err(e) => {
                    return Err(format!(
                        "control socket {}: exists and cannot be probed ({e}): remove it if no \
                         process uses it, or change [control] socket",
                        path.display()
                    ));
                }
            }
            // Nobody answers: a stale socket of a process that ended.
            std::fs::remove_file(path).map_err(|e| {
                format!(
                    "control socket {}: cannot remove the stale socket: {e}",
                    path.display()
                )
            })?;
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(format!("control socket {}: {e}", path.display())),
    }
    let l = UnixListener::bind(path).map_err(|e| {
        format!(
            "control socket {}: cannot bind: {e} (check the directory's permissions, or change \
             [control] socket)",
            path.display()
        )
    })?;
    // The socket is created with the umask's mode; narrow it before anyone can use it for long.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("control socket {}: cannot chmod 0600: {e}", path.display()))?;
    l.set_nonblocking(true)
        .map_err(|e| format!("control socket {}: {e}", path.display()))?;
    Ok(l)
}

/// Serves `listener` until `stop` is set (checked at least every 50 ms), then waits for the
/// client threads (each notices within 100 ms).
pub fn serve<T: Target>(
    listener: &UnixListener,
    ctl: &Controller<T>,
    stop: &AtomicBool,
    opts: &ServerOptions,
) {
    let active = AtomicUsize::new(0);
    std::thread::scope(|s| {
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => {
                    // The accepted socket must block (with timeouts), whatever the listener does.
                    if stream.set_nonblocking(false).is_err() {
                        continue;
                    }
                    if active.load(Ordering::Relaxed) >= opts.max_clients {
                        let mut stream = stream;
                        let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
                        let _ = stream.write_all(
                            format!(
                                "{{\"ok\":false,\"error\":\"too many control clients ({} at \
                                 once): try again later\"}}\n",
                                opts.max_clients
                            )
                            .as_bytes(),
                        );
                        continue;
                    }
                    active.fetch_add(1, Ordering::Relaxed);
                    let active = &active;
                    let spawned = std::thread::Builder::new()
                        .name("lpscore-ctl-client".into())
                        .spawn_scoped(s, move || {
                            client(stream, ctl, stop, opts);
                            active.fetch_sub(1, Ordering::Relaxed);
                        });
                    if spawned.is_err() {
                        active.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    tracing::warn!("control socket accept: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    });
}

/// One client: lines in, one response line each, until EOF, an error, a timeout or `stop`.
fn client<T: Target>(
    mut s: UnixStream,
    ctl: &Controller<T>,
    stop: &AtomicBool,
    opts: &ServerOptions,
) {
    const POLL: Duration = Duration::from_millis(100);
    if s.set_read_timeout(Some(POLL)).is_err()
        || s.set_write_timeout(Some(opts.write_timeout)).is_err()
    {
        return;
    }
    let mut line: Vec<u8> = Vec::with_capacity(1024);
    // After an oversized line: drop bytes up to the next newline.
    let mut discarding = false;
    let mut chunk = [0u8; 4096];
    let now = lpscore_shm::monotonic_ns;
    let mut line_start = 0u64;
    let mut last_request = now();
    let send = |s: &mut UnixStream, resp: &str| -> bool {
        let mut b = Vec::with_capacity(resp.len() + 1);
        b.extend_from_slice(resp.as_bytes());
        b.push(b'\n');
        s.write_all(&b).is_ok()
    };
    while !stop.load(Ordering::Relaxed) {
        let n = match s.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                let t = now();
                if (!line.is_empty() || discarding)
                    && t.saturating_sub(line_start) > opts.request_timeout.as_nanos() as u64
                {
                    let _ = send(
                        &mut s,
                        &format!(
                            "{{\"ok\":false,\"error\":\"incomplete request: no newline within {} s; \
                             closing\"}}",
                            opts.request_timeout.as_secs()
                        ),
                    );
                    return;
                }
                if line.is_empty()
                    && !discarding
                    && t.saturating_sub(last_request) > opts.idle_timeout.as_nanos() as u64
                {
                    return;
                }
                continue;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let mut rest = &chunk[..n];
        while !rest.is_empty() {
            if line.is_empty() && !discarding {
                line_start = now();
            }
            let nl = rest.iter().position(|b| *b == b'\n');
            let (part, done) = match nl {
                Some(i) => (&rest[..i], true),
                None => (rest, false),
            };
            rest = match nl {
                Some(i) => &rest[i + 1..],
                None => &[],
            };
            if !discarding {
                if line.len() + part.len() > MAX_LINE {
                    line.clear();
                    discarding = true;
                    if !send(
                        &mut s,
                        &format!(
                            "{{\"ok\":false,\"error\":\"request line longer than {MAX_LINE} bytes: \
                             refused\"}}"
                        ),
                    ) {
                        return;
                    }
                } else {
                    line.extend_from_slice(part);
                }
            }
            if done {
                if discarding {
                    discarding = false;
                } else {
                    last_request = now();
                    let req = line.strip_suffix(b"\r").unwrap_or(&line);
                    if !req.iter().all(u8::is_ascii_whitespace) {
                        let resp = ctl.handle_line(req);
                        if !send(&mut s, &resp) {
                            return;
                        }
                    }
                    line.clear();
                    if line.capacity() > 4 * MAX_LINE {
                        line.shrink_to(1024);
                    }
                }
            }
        }
    }
}
