//! The session runtime with a hand-written FIX peer, for both backends:
//! * a peer that stops reading while lpscore keeps answering it (TestRequests, each answered by a
//!   Heartbeat) is disconnected once [`SEND_CAP`] bytes wait, counted in `send_overflows`, and
//!   the hot thread's memory stays bounded;
//! * a second connection for a FIX session that is logged on is refused (closed, counted), the
//!   first keeps running;
//! * a stop logs the session out: the peer receives a Logout, and the group waits for its answer.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lpscore::engine::EngineConfig;
use lpscore::fix::session::SessionSettings;
use lpscore::publish::NullSink;
use lpscore::runtime::clock::{Clock, LiveClock};
use lpscore::runtime::config::{Backend, IdleConfig, IoConfig, SessionConfig};
use lpscore::runtime::ingest::SEND_CAP;
use lpscore::runtime::{GroupOptions, HotGroup, StatsSnapshot, spawn_group};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A FIX 4.4 message from "QF" to "LPSCORE" with MsgSeqNum `seq`, SendingTime now.
fn fix_msg(mt: &str, seq: u64, rest: &str) -> Vec<u8> {
    let mut body = format!("35={mt}\x0149=QF\x0156=LPSCORE\x0134={seq}\x0152=").into_bytes();
    lpscore::fix::num::write_timestamp(&mut body, LiveClock.now_ns() as i64);
    body.push(1);
    body.extend_from_slice(rest.as_bytes());
    let mut m = format!("8=FIX.4.4\x019={}\x01", body.len()).into_bytes();
    m.extend_from_slice(&body);
    let sum = m.iter().map(|&b| u32::from(b)).sum::<u32>() % 256;
    m.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    m
}

/// Reads until `pat` has been seen (or panics after 20 s); returns everything read.
fn read_until(s: &mut TcpStream, pat: &[u8]) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(pat.len()).any(|w| w == pat) {
        let n = s
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("waiting for {:?}: {e}", String::from_utf8_lossy(pat)));
        assert!(
            n > 0,
            "lpscore closed while we waited for {:?}",
            String::from_utf8_lossy(pat)
        );
        got.extend_from_slice(&buf[..n]);
    }
    got
}

fn logon(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&fix_msg("A", 1, "98=0\x01108=30\x01")).unwrap();
    read_until(&mut s, b"\x0135=A\x01");
    s
}

struct Fixture {
    group: HotGroup,
    store: PathBuf,
}

fn start(backend: Backend, name: &str) -> Fixture {
    let store = std::env::temp_dir().join(format!(
        "lpscore-rt-session-{}-{name}-{backend}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&store);
    let mut fix = SessionSettings::new("LPSCORE", "QF");
    fix.store_dir = store.clone();
    let group = spawn_group(
        GroupOptions {
            name: "lpscore-hot-session".into(),
            backend,
            core: None,
            sessions: vec![SessionConfig {
                id: 1,
                listen: Some("127.0.0.1:0".parse().unwrap()),
                connect: None,
                fix: Some(fix),
            }],
            io: IoConfig {
                max_connections: 4,
                buffers: 64,
                buffer_size: 16384,
                tick_us: 500,
                ..IoConfig::default()
            },
            idle: IdleConfig {
                enabled: true,
                quiet_us: 300,
                wait_us: 2_000,
            },
            engine: EngineConfig::default(),
            recovered: None,
        },
        |_: &EngineConfig| Ok(NullSink),
        None,
    )
    .unwrap_or_else(|e| panic!("{backend}: {e}"));
    Fixture { group, store }
}

fn wait(g: &HotGroup, what: &str, f: impl Fn(&StatsSnapshot) -> bool) -> StatsSnapshot {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = g.stats();
        if f(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s:#?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn peer_that_stops_reading(backend: Backend) {
    let _g = lock();
    let fx = start(backend, "overflow");
    let addr = fx.group.addr_of(1).unwrap();
    let mut s = logon(addr);
    let rss0 = vm_rss_kib();
    // TestRequests, never reading the Heartbeats: the socket buffers fill, then the outbound
    // buffer, then lpscore gives up on this peer.
    let mut batch = Vec::new();
    let mut seq = 2;
    let mut written = 0usize;
    let deadline = Instant::now() + Duration::from_secs(30);
    s.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    'outer: loop {
        batch.clear();
        for _ in 0..1000 {
            batch.extend_from_slice(&fix_msg("1", seq, &format!("112=T{seq}\x01")));
            seq += 1;
        }
        let mut off = 0;
        while off < batch.len() {
            match s.write(&batch[off..]) {
                Ok(0) | Err(_) => break 'outer,
                Ok(n) => off += n,
            }
        }
        written += batch.len();
        if fx.group.stats().io.send_overflows > 0 || Instant::now() > deadline {
            break;
        }
    }
    let st = wait(&fx.group, "the overflow disconnect", |s| {
        s.io.send_overflows == 1 && s.io.closed == 1
    });
    let rss1 = vm_rss_kib();
    let s1 = st.session(1).unwrap();
    assert_eq!(s1.logged_on, 0, "{s1:?}");
    // What the kernel took before the disconnect is counted as sent (io_uring: completed
    // SENDs only; one stuck behind the full socket buffer never completes).
    assert!(s1.bytes_sent > 0, "{st:#?}");
    // Bounded: the outbound buffer stopped at SEND_CAP (the kernel's socket buffers hold the
    // rest); generous margin for the allocator and the test's own buffers.
    assert!(
        rss1 < rss0 + 64 * 1024,
        "VmRSS grew from {rss0} KiB to {rss1} KiB"
    );
    println!(
        "{backend}: peer stopped reading: {written} bytes of TestRequests in, {} bytes of \
         Heartbeats out before the disconnect (cap {SEND_CAP} bytes queued); send_overflows {}, \
         VmRSS {rss0} -> {rss1} KiB",
        s1.bytes_sent, st.io.send_overflows
    );
    drop(s);
    let r = fx.group.shutdown();
    assert!(r.error.is_none(), "{:?}", r.error);
    let _ = std::fs::remove_dir_all(&fx.store);
}

#[test]
fn a_peer_that_stops_reading_is_disconnected_io_uring() {
    peer_that_stops_reading(Backend::IoUring);
}

#[test]
fn a_peer_that_stops_reading_is_disconnected_busy_poll() {
    peer_that_stops_reading(Backend::BusyPoll);
}

fn second_connection_and_stop(backend: Backend) {
    let _g = lock();
    let fx = start(backend, "second");
    let addr = fx.group.addr_of(1).unwrap();
    let mut first = logon(addr);
    // A second connection for the same session: closed by lpscore, counted as refused.
    let mut second = TcpStream::connect(addr).unwrap();
    second
        .write_all(&fix_msg("A", 1, "98=0\x01108=30\x01"))
        .unwrap();
    second
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = second.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the second connection got an answer");
    let st = wait(&fx.group, "the refusal", |s| {
        s.io.refused == 1 && s.io.closed == 1
    });
    assert_eq!(st.session(1).unwrap().logged_on, 1);
    // The first still works: a TestRequest is answered.
    first
        .write_all(&fix_msg("1", 2, "112=STILL-UP\x01"))
        .unwrap();
    read_until(&mut first, b"112=STILL-UP\x01");
    // Stop: lpscore sends a Logout and waits for the answer.
    let g = fx.group;
    let stopper = std::thread::spawn(move || g.shutdown());
    read_until(&mut first, b"\x0135=5\x01");
    first.write_all(&fix_msg("5", 3, "")).unwrap();
    let r = stopper.join().unwrap();
    assert!(r.error.is_none(), "{:?}", r.error);
    let s1 = r.stats.session(1).unwrap();
    assert_eq!(s1.logged_on, 0);
    assert_eq!(s1.logons, 1);
    assert_eq!(s1.next_in, 4, "our Logout answer was processed");
    let _ = std::fs::remove_dir_all(&fx.store);
    println!("{backend}: second connection refused; stop logged out: {s1:?}");
}

#[test]
fn second_connection_refused_and_stop_logs_out_io_uring() {
    second_connection_and_stop(Backend::IoUring);
}

#[test]
fn second_connection_refused_and_stop_logs_out_busy_poll() {
    second_connection_and_stop(Backend::BusyPoll);
}
