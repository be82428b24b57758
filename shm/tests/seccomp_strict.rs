//! The read path makes no system call: a forked child enters `SECCOMP_MODE_STRICT` (only `read`,
//! `write`, `_exit` and `sigreturn` are allowed; anything else is SIGKILL) and then runs name
//! lookups, reads, snapshots, ranking and allocation many times while the parent keeps publishing.
//! It reports through `write(2)` on a pipe and leaves with `syscall(SYS_exit, 0)` (`exit_group`,
//! which `std::process::exit` uses, is not allowed).
//!
//! Everything the child needs is prepared before `fork` (the parent is multi-threaded; the child
//! only touches the mapping and its stack: no allocation, no lock).

mod common;

use common::{TempBoard, small_opts};
use lpscore_shm::{
    BucketSlot, FLAG_HAS_DATA, LpId, ProfileId, ReadError, ScoreRow, Scoreboard, SymbolId,
    SymbolSlot, Writer, route,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const ITERS: u64 = 100_000;

/// Runs in the forked child after seccomp: returns (ok iterations, busy iterations, failed checks).
/// "Busy" is the bounded seqlock giving up, which happens when the publishing thread is preempted
/// mid-write on a loaded 2-core machine; it is not a wrong answer.
fn child_loop(sb: &Scoreboard) -> (u64, u64, u64) {
    let (mut ok, mut busy, mut bad) = (0u64, 0u64, 0u64);
    let mut rows = [ScoreRow::default(); 8];
    let mut ranked = [LpId::default(); 8];
    let mut alloc = [(LpId::default(), 0u64); 8];
    for i in 0..ITERS {
        let (Some(lp), Some(sym), Some(prof)) =
            (sb.lp("LP-2"), sb.symbol("AAPL"), sb.profile("fast"))
        else {
            bad += 1;
            continue;
        };
        if sb.symbol("NOPE").is_some() || sb.lp("LP-9").is_some() {
            bad += 1;
            continue;
        }
        let bucket = sb.bucket_for(i * 10);
        let (r, all, n) = match (
            sb.read(sym, bucket, lp),
            sb.read_all_symbols(lp),
            sb.snapshot(sym, BucketSlot::All, &mut rows),
        ) {
            (Ok(r), Ok(all), Ok(n)) => (r, all, n),
            (r, a, n) => {
                let is_busy = |e: Option<ReadError>| e.is_none_or(|e| e == ReadError::Busy);
                if is_busy(r.err()) && is_busy(a.err()) && is_busy(n.err()) {
                    busy += 1;
                } else {
                    bad += 1;
                }
                continue;
            }
        };
        // rank skips rows that stay busy, so k < 4 can happen; whatever it ranks is in order.
        let k = sb.rank(sym, BucketSlot::All, prof, &mut ranked);
        let ranked_ok = k <= 4 && (k < 4 || ranked[..4] == [3, 2, 1, 0].map(LpId::new));
        let mut cands = [(LpId::default(), 0.0, 0u64); 8];
        for (j, (c, row)) in cands.iter_mut().zip(&rows[..n]).enumerate() {
            *c = (LpId::new(j as u16), f64::from(row.fill_rate), 1000);
        }
        let a = route::allocate(1500, &cands[..n], &mut alloc);
        let total: u64 = alloc[..a].iter().map(|x| x.1).sum();
        let rows_ok = rows[..n]
            .iter()
            .enumerate()
            .all(|(l, row)| row.has_data() && row.scores[1] == 10.0 * l as f32 + 1.0);
        if r.has_data() && all.has_data() && n == 4 && rows_ok && ranked_ok && total == 1500 {
            ok += 1;
        } else {
            bad += 1;
        }
    }
    (ok, busy, bad)
}

fn row(l: u32, v: u32) -> ScoreRow {
    let mut r = ScoreRow {
        flags: FLAG_HAS_DATA,
        fill_rate: 0.5 + l as f32 / 10.0,
        n_orders: v,
        ..Default::default()
    };
    r.scores = [f32::NAN; 8];
    r.scores[1] = 10.0 * l as f32 + 1.0;
    r
}

fn publish_all(w: &mut Writer, lps: &[LpId], sym: SymbolId, v: u32) {
    for (l, &lp) in lps.iter().enumerate() {
        let r = row(l as u32, v);
        for b in [
            BucketSlot::Bucket(0),
            BucketSlot::Bucket(1),
            BucketSlot::Bucket(2),
            BucketSlot::All,
        ] {
            w.publish(sym, b, lp, &r).unwrap();
        }
        w.publish(SymbolSlot::All, BucketSlot::All, lp, &r).unwrap();
    }
}

#[test]
fn read_path_runs_under_seccomp_strict() {
    let board = TempBoard::new("seccomp");
    let mut w = Writer::create(&board.path, &small_opts()).unwrap();
    let lps: Vec<LpId> = (0..4)
        .map(|l| w.add_lp(&format!("LP-{l}")).unwrap())
        .collect();
    let sym = w.add_symbol("AAPL").unwrap();
    w.set_profile(ProfileId::new(1), "fast", [1.0; 8], true)
        .unwrap();
    publish_all(&mut w, &lps, sym, 0);
    let sb = Scoreboard::open(&board.path).unwrap();

    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid array of two c_ints for pipe2 to fill.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fork in a multi-threaded test process: the child runs only code that neither
    // allocates nor takes locks (reads of the mapping, stack buffers, raw syscalls) and leaves
    // with SYS_exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: prctl with integer arguments only.
        let rc = unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_STRICT as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
        let mut msg = [0u8; 25];
        let code = if rc != 0 {
            msg[0] = b'U'; // seccomp unavailable here
            3
        } else {
            let (ok, busy, bad) = child_loop(&sb);
            msg[0] = b'K';
            msg[1..9].copy_from_slice(&ok.to_le_bytes());
            msg[9..17].copy_from_slice(&busy.to_le_bytes());
            msg[17..25].copy_from_slice(&bad.to_le_bytes());
            0
        };
        // SAFETY: write(2) of a valid stack buffer to the pipe's write end; allowed in strict mode.
        unsafe { libc::write(fds[1], msg.as_ptr().cast(), msg.len()) };
        // SAFETY: SYS_exit ends this (only) thread of the child; allowed in strict mode.
        unsafe { libc::syscall(libc::SYS_exit, code) };
        unreachable!();
    }
    // SAFETY: closing our copy of the write end, a valid fd we own.
    unsafe { libc::close(fds[1]) };

    // Keep publishing while the child reads, so its reads meet in-progress writes.
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let publisher = std::thread::spawn(move || {
        let mut v = 1;
        while !s2.load(Ordering::Relaxed) {
            publish_all(&mut w, &lps, sym, v);
            v += 1;
        }
        v
    });

    let mut msg = [0u8; 25];
    let mut got = 0usize;
    while got < msg.len() {
        // SAFETY: read into the unfilled tail of a valid stack buffer from the read end we own.
        let n = unsafe { libc::read(fds[0], msg[got..].as_mut_ptr().cast(), msg.len() - got) };
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    let mut status = 0;
    // SAFETY: waitpid on our own child with a valid status pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    // SAFETY: closing the read end, a valid fd we own.
    unsafe { libc::close(fds[0]) };
    stop.store(true, Ordering::Relaxed);
    let publications = publisher.join().unwrap();

    assert!(
        !libc::WIFSIGNALED(status),
        "child killed by signal {} (SIGKILL = a forbidden syscall under seccomp strict)",
        libc::WTERMSIG(status)
    );
    if got >= 1 && msg[0] == b'U' {
        eprintln!("SKIPPED: prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) is not permitted here");
        return;
    }
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    assert_eq!(got, msg.len(), "short result");
    assert_eq!(msg[0], b'K');
    let ok = u64::from_le_bytes(msg[1..9].try_into().unwrap());
    let busy = u64::from_le_bytes(msg[9..17].try_into().unwrap());
    let bad = u64::from_le_bytes(msg[17..25].try_into().unwrap());
    println!(
        "seccomp strict child: {ok} iterations ok, {busy} busy (writer preempted mid-write), {bad} wrong; parent published {publications} rounds meanwhile"
    );
    assert_eq!(bad, 0);
    assert_eq!(ok + busy, ITERS);
    assert!(ok > 0);
}

/// The guard works: a syscall after seccomp strict kills the child (so the test above would catch
/// one on the read path).
#[test]
fn seccomp_strict_kills_a_forbidden_syscall() {
    // SAFETY: fork; the child makes only raw syscalls and never returns into Rust code that
    // allocates or locks.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // SAFETY: prctl with integer arguments only.
        let rc = unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_STRICT as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
        if rc != 0 {
            // SAFETY: raw exit of the child.
            unsafe { libc::syscall(libc::SYS_exit, 3) };
        }
        // SAFETY: getppid is a forbidden syscall under strict mode: the kernel kills us here.
        unsafe { libc::syscall(libc::SYS_getppid) };
        // SAFETY: raw exit of the child (not reached).
        unsafe { libc::syscall(libc::SYS_exit, 0) };
        unreachable!();
    }
    let mut status = 0;
    // SAFETY: waitpid on our own child with a valid status pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 3 {
        eprintln!("SKIPPED: seccomp strict not permitted here");
        return;
    }
    assert!(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL);
}
