//! The io_uring backend: one ring per hot thread, created on that thread.
//!
//! * Ring flags SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG; the ring fd is registered.
//! * The loop spins on the completion queue; it enters the kernel (GETEVENTS, never waiting) only
//!   when submissions are pending, the TASKRUN flag is set (deferred completions to run) or the
//!   CQ overflow flag is set (counted). In idle mode it waits in the kernel after a quiet time.
//! * Listeners and connections live in the registered-file table: slots `0..L` listeners,
//!   `L + c` connection slot `c`. Multishot accept per listener; connect (on the ring) for
//!   initiators; multishot recv on one provided buffer ring (`IOU_PBUF_RING_INC`, incremental
//!   consumption, where the kernel has it).
//! * Received bytes are framed in place in the provided buffer; the buffer goes back to the ring
//!   right after (the tail is published once per completion batch).
//! * ENOBUFS (ring empty): the buffers are recycled at the end of the batch and the recv re-armed;
//!   the data waits in the socket, nothing is lost. Counted.
#![allow(unsafe_code)]

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, Ordering};

use crossbeam_queue::ArrayQueue;
use io_uring::{IoUring, SubmissionQueue, Submitter, cqueue, opcode, squeue, types};

use super::sock::{self, SockAddr};
use super::{Housekeeping, IoError, LoopParams, Next, os, probe};
use crate::publish::RowSink;
use crate::runtime::group::Control;
use crate::runtime::ingest::{CloseReason, Ingest};

/// Capacity of each slot's in-flight send buffer, reserved up front.
const SEND_RESERVE: usize = 8 * 1024;

const BGID: u16 = 0;
const IOU_PBUF_RING_INC: u16 = 2;
const ENTER_GETEVENTS: u32 = 1;

const K_ACCEPT: u64 = 1;
const K_RECV: u64 = 2;
const K_CONNECT: u64 = 3;
const K_SEND: u64 = 4;

#[inline(always)]
fn ud(kind: u64, idx: usize) -> u64 {
    (kind << 56) | idx as u64
}

/// A provided buffer ring: `n` entries of 16 bytes (page-aligned, shared with the kernel) and
/// `n` buffers of `size` bytes.
#[derive(Debug)]
pub struct BufRing {
    ring: *mut u8,
    ring_len: usize,
    data: *mut u8,
    data_len: usize,
    n: u16,
    size: u32,
    tail: u16,
    inc: bool,
    /// Bytes of each buffer already handed out (incremental mode).
    used: Vec<u32>,
}

fn map_anon(len: usize) -> io::Result<*mut u8> {
    // SAFETY: an anonymous private mapping of `len` bytes at an address the kernel picks; no
    // existing memory is affected.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(p.cast())
    }
}

impl BufRing {
    /// Maps the ring and the buffers (`n` a power of two <= 32768) and fills the ring.
    pub fn new(n: u16, size: u32) -> io::Result<Self> {
        let ring_len = (usize::from(n) * 16).max(4096);
        let data_len = usize::from(n) * size as usize;
        let ring = map_anon(ring_len)?;
        let data = match map_anon(data_len) {
            Ok(d) => d,
            Err(e) => {
                // SAFETY: `ring` was mapped above with `ring_len` bytes and is not used again.
                unsafe { libc::munmap(ring.cast(), ring_len) };
                return Err(e);
            }
        };
        let mut b = Self {
            ring,
            ring_len,
            data,
            data_len,
            n,
            size,
            tail: 0,
            inc: false,
            used: vec![0; usize::from(n)],
        };
        for bid in 0..n {
            b.add(bid);
        }
        b.commit();
        Ok(b)
    }

    /// Registers the ring as group `bgid`, incremental if the kernel has it; returns whether.
    pub fn register(&mut self, sub: &Submitter<'_>, bgid: u16) -> io::Result<bool> {
        // SAFETY: `self.ring` is a live, page-aligned mapping of `n` entries that outlives the
        // registration (the owner drops the ring before this BufRing).
        let r = unsafe {
            sub.register_buf_ring_with_flags(self.ring as u64, self.n, bgid, IOU_PBUF_RING_INC)
        };
        match r {
            Ok(()) => self.inc = true,
            Err(_) => {
                // SAFETY: as above.
                unsafe { sub.register_buf_ring_with_flags(self.ring as u64, self.n, bgid, 0)? };
                self.inc = false;
            }
        }
        Ok(self.inc)
    }

    /// Queues buffer `bid` (published by [`Self::commit`]).
    #[inline(always)]
    fn add(&mut self, bid: u16) {
        let idx = usize::from(self.tail & (self.n - 1));
        let addr = self.data as u64 + u64::from(bid) * u64::from(self.size);
        // SAFETY: `idx < n`, so the 16-byte entry lies inside the ring mapping; the kernel only
        // reads entries between its head and the published tail, and this one is beyond the tail
        // until `commit`.
        unsafe {
            let e = self.ring.add(idx * 16);
            e.cast::<u64>().write(addr);
            e.add(8).cast::<u32>().write(self.size);
            e.add(12).cast::<u16>().write(bid);
        }
        self.used[usize::from(bid)] = 0;
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publishes the queued buffers to the kernel.
    #[inline(always)]
    fn commit(&self) {
        // SAFETY: the tail is the u16 at byte 14 of the ring (struct io_uring_buf_ring), 2-byte
        // aligned inside the mapping; the kernel reads it atomically.
        let t = unsafe { &*self.ring.add(14).cast::<AtomicU16>() };
        // Release pairs with the kernel's smp_load_acquire of the tail: the entries written by
        // `add` are visible before the new tail.
        t.store(self.tail, Ordering::Release);
    }

    /// The `n` bytes a completion delivered into buffer `bid` (advancing the buffer's use in
    /// incremental mode); `None` if out of range.
    #[inline(always)]
    fn take(&mut self, bid: u16, n: usize) -> Option<&[u8]> {
        let b = usize::from(bid);
        if b >= usize::from(self.n) {
            return None;
        }
        let off = if self.inc { self.used[b] as usize } else { 0 };
        if off + n > self.size as usize {
            return None;
        }
        if self.inc {
            self.used[b] += n as u32;
        }
        // SAFETY: `bid < n` and `off + n <= size`, so the range lies inside the data mapping;
        // the kernel wrote these bytes before posting the completion and does not touch this
        // part of the buffer again until it is re-added to the ring.
        Some(unsafe { core::slice::from_raw_parts(self.data.add(b * self.size as usize + off), n) })
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: both regions were mapped in `new` with these lengths and are unmapped once.
        unsafe {
            libc::munmap(self.ring.cast(), self.ring_len);
            libc::munmap(self.data.cast(), self.data_len);
        }
    }
}

enum Dial {
    Wait(u64),
    Connecting(usize),
    Up,
}

struct Initiator {
    session: usize,
    /// Boxed: the kernel reads it after submission, until the connect completes.
    addr: Box<SockAddr>,
    state: Dial,
}

/// Per-slot send state: the in-flight buffer (swapped with the ingest's filling buffer when a
/// send starts, so the session keeps writing into the other one), the bytes of it already sent,
/// and whether a SEND is in flight. The in-flight buffer is never touched (grown, cleared,
/// dropped) while its SEND is in flight, and a slot is not reused until its SEND completed.
struct Sends {
    buf: Vec<Vec<u8>>,
    off: Vec<usize>,
    busy: Vec<bool>,
}

/// The io_uring loop of one hot thread. Field order matters: the ring is dropped before the
/// buffers it uses.
pub struct UringLoop {
    ring: IoUring,
    bufs: BufRing,
    sends: Sends,
    p: LoopParams,
    listeners: Vec<(usize, TcpListener)>,
    accept_armed: Vec<bool>,
    initiators: Vec<Initiator>,
    conns: Vec<Option<TcpStream>>,
    owner: Vec<Option<usize>>,
    closing: Vec<Option<CloseReason>>,
    nl: usize,
}

impl UringLoop {
    /// Creates the ring on the calling thread (it becomes the single issuer), probes the
    /// opcodes, registers the file table and the buffer ring.
    pub fn new(
        p: &LoopParams,
        listeners: Vec<(usize, TcpListener)>,
        initiators: Vec<(usize, SocketAddr)>,
    ) -> Result<Self, IoError> {
        let n = p.io.max_connections;
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_taskrun_flag()
            .setup_cqsize(8192)
            .build(512)
            .map_err(probe::diagnose_setup)?;
        probe::check_opcodes(&ring)?;
        let nl = listeners.len();
        let sub = ring.submitter();
        sub.register_files_sparse((nl + n) as u32)
            .map_err(os("IORING_REGISTER_FILES (sparse)"))?;
        let fds: Vec<i32> = listeners.iter().map(|(_, l)| l.as_raw_fd()).collect();
        if !fds.is_empty() {
            sub.register_files_update(0, &fds)
                .map_err(os("IORING_REGISTER_FILES_UPDATE"))?;
        }
        let nbuf = u16::try_from(p.io.buffers).unwrap_or(32768);
        let mut bufs = BufRing::new(nbuf, p.io.buffer_size).map_err(probe::diagnose_buf_ring)?;
        bufs.register(&sub, BGID)
            .map_err(probe::diagnose_buf_ring)?;
        tracing::debug!(incremental = bufs.inc, "io_uring buffer ring registered");
        let initiators = initiators
            .into_iter()
            .map(|(session, a)| Initiator {
                session,
                addr: Box::new(SockAddr::new(&a)),
                state: Dial::Wait(0),
            })
            .collect();
        Ok(Self {
            ring,
            bufs,
            sends: Sends {
                buf: (0..n).map(|_| Vec::with_capacity(SEND_RESERVE)).collect(),
                off: vec![0; n],
                busy: vec![false; n],
            },
            p: *p,
            accept_armed: vec![false; nl],
            listeners,
            initiators,
            conns: (0..n).map(|_| None).collect(),
            owner: vec![None; n],
            closing: vec![None; n],
            nl,
        })
    }

    /// Whether the buffer ring consumes buffers incrementally.
    pub fn incremental(&self) -> bool {
        self.bufs.inc
    }

    /// Runs until a [`Control::Stop`]; closes every connection before returning.
    pub fn run<S: RowSink>(
        &mut self,
        ingest: &mut Ingest<S>,
        control: &ArrayQueue<Control>,
    ) -> Result<(), IoError> {
        let mut hk = Housekeeping::new(&self.p, ingest);
        let UringLoop {
            ring,
            bufs,
            sends,
            p,
            listeners,
            accept_armed,
            initiators,
            conns,
            owner,
            closing,
            nl,
        } = self;
        let nl = *nl;
        let idle = p.idle;
        let quiet_ns = idle.quiet_us * 1_000;
        let busy_poll = p.io.so_busy_poll_us;
        let (mut sub, mut sq, mut cq) = ring.split();
        // One Submitter for the whole loop: it carries the registered ring fd.
        let _ = sub.register_ring_fd();

        for (li, armed) in accept_armed.iter_mut().enumerate() {
            push(
                &mut sq,
                &sub,
                &opcode::AcceptMulti::new(types::Fixed(li as u32))
                    .build()
                    .user_data(ud(K_ACCEPT, li)),
            );
            *armed = true;
        }
        let mut last_activity = lpscore_shm::monotonic_ns();
        let result = loop {
            // 1. Enter only when there is something to submit or deferred work to run.
            sq.sync();
            let overflow = sq.cq_overflow();
            if overflow {
                ingest.counters.cq_overflow += 1;
            }
            if !sq.is_empty() || sq.taskrun() || overflow {
                // SAFETY: plain io_uring_enter with no extended argument.
                let r = unsafe {
                    sub.enter::<libc::sigset_t>(sq.len() as u32, 0, ENTER_GETEVENTS, None)
                };
                if let Err(e) = r {
                    match e.raw_os_error() {
                        Some(libc::EINTR) | Some(libc::EAGAIN) | Some(libc::EBUSY) => {}
                        _ => {
                            break Err(IoError::Os {
                                op: "io_uring_enter",
                                err: e,
                            });
                        }
                    }
                }
                sq.sync();
            }
            // 2. Drain the completion queue: one capture timestamp per batch.
            cq.sync();
            if !cq.is_empty() {
                let ts = hk.capture_ns();
                ingest.counters.batches += 1;
                let now = lpscore_shm::monotonic_ns();
                for cqe in &mut cq {
                    let data = cqe.user_data();
                    let kind = data >> 56;
                    let idx = (data & 0x00ff_ffff_ffff_ffff) as usize;
                    let res = cqe.result();
                    let flags = cqe.flags();
                    match kind {
                        K_RECV => {
                            let slot = idx;
                            let mut done = !cqueue::more(flags);
                            if let Some(bid) = cqueue::buffer_select(flags) {
                                if res > 0 {
                                    ingest.counters.recvs += 1;
                                    if let Some(bytes) = bufs.take(bid, res as usize) {
                                        ingest.on_bytes(slot, ts, bytes);
                                    }
                                }
                                if !bufs.inc || !cqueue::buffer_more(flags) {
                                    bufs.add(bid);
                                }
                            }
                            if res == -libc::ENOBUFS {
                                ingest.counters.enobufs += 1;
                            }
                            if done
                                && (res > 0 || res == -libc::ENOBUFS)
                                && closing[slot].is_none()
                                && conns[slot].is_some()
                            {
                                // Multishot ended (buffers ran out): re-arm; the bytes wait in
                                // the socket.
                                ingest.counters.rearms += 1;
                                push(&mut sq, &sub, &recv_sqe(nl, slot));
                                done = false;
                            }
                            if done {
                                let why = closing[slot].take().unwrap_or(if res == 0 {
                                    CloseReason::PeerClosed
                                } else {
                                    CloseReason::Error
                                });
                                close_slot(
                                    &sub,
                                    conns,
                                    owner,
                                    initiators,
                                    ingest,
                                    nl,
                                    slot,
                                    why,
                                    retry_at(&hk, now),
                                );
                            }
                        }
                        K_ACCEPT => {
                            let li = idx;
                            if res >= 0 {
                                let s = sock::adopt(res);
                                let session = listeners[li].0;
                                match free_slot(conns, sends) {
                                    None => {
                                        ingest.counters.refused += 1;
                                        drop(s);
                                    }
                                    Some(slot) => {
                                        sock::tune(&s, busy_poll);
                                        if sub
                                            .register_files_update(
                                                (nl + slot) as u32,
                                                &[s.as_raw_fd()],
                                            )
                                            .is_err()
                                        {
                                            ingest.counters.errors += 1;
                                        } else {
                                            conns[slot] = Some(s);
                                            closing[slot] = None;
                                            ingest.open(slot, session, now);
                                            push(&mut sq, &sub, &recv_sqe(nl, slot));
                                        }
                                    }
                                }
                            } else {
                                ingest.counters.errors += 1;
                            }
                            if !cqueue::more(flags) {
                                // Re-armed at the next tick (an error storm cannot spin).
                                accept_armed[li] = false;
                            }
                        }
                        K_SEND => {
                            let slot = idx;
                            if slot >= sends.busy.len() {
                                continue;
                            }
                            sends.busy[slot] = false;
                            let live = conns[slot].is_some() && closing[slot].is_none();
                            if res > 0 {
                                ingest.sent(slot, res as usize);
                                sends.off[slot] += res as usize;
                                if sends.off[slot] < sends.buf[slot].len() {
                                    ingest.counters.partial_sends += 1;
                                    if live {
                                        submit_send(&mut sq, &sub, nl, slot, sends);
                                        continue;
                                    }
                                }
                            } else if (res == -libc::EAGAIN || res == -libc::EINTR) && live {
                                submit_send(&mut sq, &sub, nl, slot, sends);
                                continue;
                            } else if live {
                                // The peer is gone (EPIPE, ECONNRESET, ...): close; the armed
                                // recv completes and the close happens there.
                                shutdown_slot(conns, closing, slot, CloseReason::Error);
                            }
                            sends.buf[slot].clear();
                            sends.off[slot] = 0;
                            if conns[slot].is_some() {
                                start_send(&mut sq, &sub, nl, slot, sends, conns, ingest);
                                close_if_flushed(conns, closing, sends, ingest, slot, now);
                            }
                        }
                        K_CONNECT => {
                            let i = idx;
                            let Dial::Connecting(slot) = initiators[i].state else {
                                continue;
                            };
                            if res == 0 {
                                initiators[i].state = Dial::Up;
                                owner[slot] = Some(i);
                                closing[slot] = None;
                                ingest.open(slot, initiators[i].session, now);
                                push(&mut sq, &sub, &recv_sqe(nl, slot));
                            } else {
                                ingest.counters.connect_failures += 1;
                                let _ = sub.register_files_update((nl + slot) as u32, &[-1]);
                                conns[slot] = None;
                                initiators[i].state = Dial::Wait(retry_at(&hk, now));
                            }
                        }
                        _ => {}
                    }
                }
                cq.sync();
                // Recycled buffers go back in one tail store per batch (before any re-armed recv
                // is submitted at the next enter).
                bufs.commit();
                // What the sessions wrote goes out (submitted at the next enter).
                while let Some(slot) = ingest.pop_attention() {
                    start_send(&mut sq, &sub, nl, slot, sends, conns, ingest);
                    close_if_flushed(conns, closing, sends, ingest, slot, now);
                }
                // Counters are published every tick (housekeeping), not per batch.
                last_activity = now;
            }
            // 3. Housekeeping every tick.
            let now = lpscore_shm::monotonic_ns();
            if hk.due(now) {
                for (li, armed) in accept_armed.iter_mut().enumerate() {
                    if !*armed {
                        push(
                            &mut sq,
                            &sub,
                            &opcode::AcceptMulti::new(types::Fixed(li as u32))
                                .build()
                                .user_data(ud(K_ACCEPT, li)),
                        );
                        *armed = true;
                    }
                }
                for (i, ini) in initiators.iter_mut().enumerate() {
                    if let Dial::Wait(t) = ini.state {
                        if now < t || hk.stopping() {
                            continue;
                        }
                        let Some(slot) = free_slot(conns, sends) else {
                            continue;
                        };
                        let s = match sock::tcp_socket(&ini.addr, false) {
                            Ok(s) => s,
                            Err(_) => {
                                ingest.counters.connect_failures += 1;
                                ini.state = Dial::Wait(now + hk.reconnect_ns);
                                continue;
                            }
                        };
                        sock::tune(&s, busy_poll);
                        if sub
                            .register_files_update((nl + slot) as u32, &[s.as_raw_fd()])
                            .is_err()
                        {
                            ingest.counters.connect_failures += 1;
                            ini.state = Dial::Wait(now + hk.reconnect_ns);
                            continue;
                        }
                        conns[slot] = Some(s);
                        ini.state = Dial::Connecting(slot);
                        let e = opcode::Connect::new(
                            types::Fixed((nl + slot) as u32),
                            ini.addr.as_ptr(),
                            ini.addr.len(),
                        )
                        .build()
                        .user_data(ud(K_CONNECT, i));
                        push(&mut sq, &sub, &e);
                    }
                }
                ingest.for_each_silent(now, hk.silent_ns, |slot| {
                    if closing[slot].is_none() {
                        closing[slot] = Some(CloseReason::Silent);
                        if let Some(s) = &conns[slot] {
                            // The armed recv completes with 0: the close happens there.
                            let _ = s.shutdown(Shutdown::Both);
                        }
                    }
                });
                ingest.for_each_close_due(now, |slot, why| {
                    shutdown_slot(conns, closing, slot, why);
                });
                if hk.run(now, ingest, control) == Next::Stop {
                    break Ok(());
                }
                while let Some(slot) = ingest.pop_attention() {
                    start_send(&mut sq, &sub, nl, slot, sends, conns, ingest);
                    close_if_flushed(conns, closing, sends, ingest, slot, now);
                }
            }
            // 4. Idle mode: wait in the kernel for a completion (bounded).
            if idle.enabled && sq.is_empty() && now.saturating_sub(last_activity) >= quiet_ns {
                let ts = types::Timespec::new()
                    .sec(idle.wait_us / 1_000_000)
                    .nsec(((idle.wait_us % 1_000_000) * 1_000) as u32);
                let args = types::SubmitArgs::new().timespec(&ts);
                ingest.counters.idle_waits += 1;
                match sub.submit_with_args(1, &args) {
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc::ETIME)
                                | Some(libc::EINTR)
                                | Some(libc::EBUSY)
                                | Some(libc::EAGAIN)
                        ) => {}
                    Err(e) => {
                        break Err(IoError::Os {
                            op: "io_uring_enter (idle wait)",
                            err: e,
                        });
                    }
                }
            }
        };
        // Shutdown: close every connection (the peers see FIN), ring teardown cancels the rest.
        for slot in 0..conns.len() {
            if conns[slot].is_some() {
                if let Some(s) = &conns[slot] {
                    let _ = s.shutdown(Shutdown::Both);
                }
                let why = if ingest.is_open(slot) {
                    CloseReason::Shutdown
                } else {
                    CloseReason::Error
                };
                close_slot(
                    &sub,
                    conns,
                    owner,
                    initiators,
                    ingest,
                    nl,
                    slot,
                    why,
                    u64::MAX,
                );
            }
        }
        // SENDs still in flight fail fast on the shut-down sockets: wait for their completions
        // (bounded) so that the kernel is done with the buffers before they are dropped.
        let t0 = lpscore_shm::monotonic_ns();
        while sends.busy.iter().any(|&b| b)
            && lpscore_shm::monotonic_ns().saturating_sub(t0) < 500_000_000
        {
            sq.sync();
            // SAFETY: plain io_uring_enter with no extended argument.
            let _ =
                unsafe { sub.enter::<libc::sigset_t>(sq.len() as u32, 0, ENTER_GETEVENTS, None) };
            cq.sync();
            for cqe in &mut cq {
                let data = cqe.user_data();
                if data >> 56 == K_SEND {
                    let slot = (data & 0x00ff_ffff_ffff_ffff) as usize;
                    if let Some(b) = sends.busy.get_mut(slot) {
                        *b = false;
                    }
                }
            }
            cq.sync();
        }
        result
    }
}

/// When a closed initiator retries (never while the loop is stopping).
#[inline]
fn retry_at(hk: &Housekeeping, now: u64) -> u64 {
    if hk.stopping() {
        u64::MAX
    } else {
        now + hk.reconnect_ns
    }
}

/// A slot with no connection and no SEND in flight.
#[inline]
fn free_slot(conns: &[Option<TcpStream>], sends: &Sends) -> Option<usize> {
    conns
        .iter()
        .zip(&sends.busy)
        .position(|(c, &b)| c.is_none() && !b)
}

/// Starts a SEND of `slot`'s waiting bytes unless one is in flight: the ingest's filling buffer
/// and the slot's empty in-flight buffer swap places (no copy, no allocation).
#[inline]
fn start_send<S: RowSink>(
    sq: &mut SubmissionQueue<'_>,
    sub: &Submitter<'_>,
    nl: usize,
    slot: usize,
    sends: &mut Sends,
    conns: &[Option<TcpStream>],
    ingest: &mut Ingest<S>,
) {
    if slot >= sends.busy.len() || sends.busy[slot] || !ingest.has_out(slot) {
        return;
    }
    if conns[slot].is_none() {
        ingest.out_mut(slot).clear();
        return;
    }
    debug_assert!(sends.buf[slot].is_empty());
    sends.buf[slot].clear();
    core::mem::swap(ingest.out_mut(slot), &mut sends.buf[slot]);
    sends.off[slot] = 0;
    submit_send(sq, sub, nl, slot, sends);
}

/// Submits a SEND of the unsent part of `slot`'s in-flight buffer.
#[inline]
fn submit_send(
    sq: &mut SubmissionQueue<'_>,
    sub: &Submitter<'_>,
    nl: usize,
    slot: usize,
    sends: &mut Sends,
) {
    let b = &sends.buf[slot][sends.off[slot]..];
    let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
    let e = opcode::Send::new(types::Fixed((nl + slot) as u32), b.as_ptr(), len)
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(ud(K_SEND, slot));
    sends.busy[slot] = true;
    push(sq, sub, &e);
}

/// Shuts a connection down for `why`: its armed recv completes with 0 and the close (counted
/// with `why`) happens there.
#[inline]
fn shutdown_slot(
    conns: &[Option<TcpStream>],
    closing: &mut [Option<CloseReason>],
    slot: usize,
    why: CloseReason,
) {
    if closing[slot].is_none() {
        if let Some(s) = &conns[slot] {
            closing[slot] = Some(why);
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Carries out a requested close once its last bytes are sent (or its flush deadline passed).
#[inline]
fn close_if_flushed<S: RowSink>(
    conns: &[Option<TcpStream>],
    closing: &mut [Option<CloseReason>],
    sends: &Sends,
    ingest: &Ingest<S>,
    slot: usize,
    now: u64,
) {
    if let Some((why, due)) = ingest.close_request(slot, now) {
        if due || (!sends.busy[slot] && !ingest.has_out(slot)) {
            shutdown_slot(conns, closing, slot, why);
        }
    }
}

#[inline(always)]
fn recv_sqe(nl: usize, slot: usize) -> squeue::Entry {
    opcode::RecvMulti::new(types::Fixed((nl + slot) as u32), BGID)
        .build()
        .user_data(ud(K_RECV, slot))
}

#[inline]
fn push(sq: &mut SubmissionQueue<'_>, sub: &Submitter<'_>, e: &squeue::Entry) {
    loop {
        // SAFETY: every entry built here references only the registered file table, the
        // registered buffer group, a boxed sockaddr owned by the loop that outlives the
        // operation (connect), or a slot's in-flight send buffer (send), which is neither
        // modified, grown nor dropped until its completion (`Sends`; the loop waits for the
        // outstanding sends before it returns); nothing is freed while the operation is in flight.
        if unsafe { sq.push(e) }.is_ok() {
            return;
        }
        sq.sync();
        let _ = sub.submit();
        sq.sync();
    }
}

#[allow(clippy::too_many_arguments)]
fn close_slot<S: RowSink>(
    sub: &Submitter<'_>,
    conns: &mut [Option<TcpStream>],
    owner: &mut [Option<usize>],
    initiators: &mut [Initiator],
    ingest: &mut Ingest<S>,
    nl: usize,
    slot: usize,
    why: CloseReason,
    retry_at: u64,
) {
    let _ = sub.register_files_update((nl + slot) as u32, &[-1]);
    conns[slot] = None;
    ingest.close(slot, why);
    if let Some(i) = owner[slot].take() {
        initiators[i].state = Dial::Wait(retry_at);
    }
}

/// What [`raw_recv`] saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawRecv {
    /// Bytes received.
    pub bytes: u64,
    /// Receive completions with data.
    pub recvs: u64,
    /// ENOBUFS completions.
    pub enobufs: u64,
}

/// The benchmark baseline: the backend's ring setup (same flags, registered file, provided
/// buffer ring, multishot recv, same enter policy) on one connection, with no framing and no
/// engine: it only counts bytes until `until_bytes` have arrived or the peer closes. Runs on the
/// calling thread (it creates the ring).
pub fn raw_recv(stream: TcpStream, p: &LoopParams, until_bytes: u64) -> Result<RawRecv, IoError> {
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_taskrun_flag()
        .setup_cqsize(8192)
        .build(64)
        .map_err(probe::diagnose_setup)?;
    let nbuf = u16::try_from(p.io.buffers).unwrap_or(32768);
    let mut bufs = BufRing::new(nbuf, p.io.buffer_size).map_err(probe::diagnose_buf_ring)?;
    let mut out = RawRecv::default();
    {
        let (mut sub, mut sq, mut cq) = ring.split();
        let _ = sub.register_ring_fd();
        sub.register_files(&[stream.as_raw_fd()])
            .map_err(os("IORING_REGISTER_FILES"))?;
        bufs.register(&sub, BGID)
            .map_err(probe::diagnose_buf_ring)?;
        push(&mut sq, &sub, &recv_sqe(0, 0));
        'outer: loop {
            sq.sync();
            if !sq.is_empty() || sq.taskrun() || sq.cq_overflow() {
                // SAFETY: plain io_uring_enter with no extended argument.
                let r = unsafe {
                    sub.enter::<libc::sigset_t>(sq.len() as u32, 0, ENTER_GETEVENTS, None)
                };
                if let Err(e) = r {
                    if !matches!(
                        e.raw_os_error(),
                        Some(libc::EINTR) | Some(libc::EAGAIN) | Some(libc::EBUSY)
                    ) {
                        return Err(IoError::Os {
                            op: "io_uring_enter",
                            err: e,
                        });
                    }
                }
            }
            cq.sync();
            let mut rearm = false;
            let mut eof = false;
            for cqe in &mut cq {
                let (res, flags) = (cqe.result(), cqe.flags());
                if let Some(bid) = cqueue::buffer_select(flags) {
                    if res > 0 {
                        out.bytes += res as u64;
                        out.recvs += 1;
                        if let Some(b) = bufs.take(bid, res as usize) {
                            core::hint::black_box(b);
                        }
                    }
                    if !bufs.inc || !cqueue::buffer_more(flags) {
                        bufs.add(bid);
                    }
                }
                if res == -libc::ENOBUFS {
                    out.enobufs += 1;
                }
                if !cqueue::more(flags) {
                    if res > 0 || res == -libc::ENOBUFS {
                        rearm = true;
                    } else {
                        eof = true;
                    }
                }
            }
            cq.sync();
            bufs.commit();
            if out.bytes >= until_bytes || eof {
                break 'outer;
            }
            if rearm {
                push(&mut sq, &sub, &recv_sqe(0, 0));
            }
        }
    }
    drop(ring);
    drop(bufs);
    Ok(out)
}
