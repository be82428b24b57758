//! The busy-poll backend: non-blocking `recv()` on every open connection, spinning; the same
//! [`Ingest`] (framing in place, journal, engine) as io_uring. New connections are accepted and
//! initiator connects progressed at every housekeeping tick (`io.tick_us`), so the per-iteration
//! cost is one `recv()` per open connection and one vDSO clock read.
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;

use crossbeam_queue::ArrayQueue;

use super::sock::{self, SockAddr};
use super::{Housekeeping, IoError, LoopParams, Next, os};
use crate::publish::RowSink;
use crate::runtime::group::Control;
use crate::runtime::ingest::{CloseReason, Ingest};

enum Dial {
    /// Waiting to (re)try at this monotonic time.
    Wait(u64),
    /// Connect in progress.
    Connecting(TcpStream, u64),
    /// Connected in this slot.
    Up,
}

struct Initiator {
    session: usize,
    addr: SockAddr,
    state: Dial,
}

/// The busy-poll loop of one hot thread.
pub struct BusyLoop {
    p: LoopParams,
    listeners: Vec<(usize, TcpListener)>,
    initiators: Vec<Initiator>,
    /// Open connections by slot.
    conns: Vec<Option<TcpStream>>,
    /// Initiator index of a slot's connection.
    owner: Vec<Option<usize>>,
    /// Open slots, in no order.
    open: Vec<usize>,
    buf: Vec<u8>,
    pollfds: Vec<libc::pollfd>,
    /// Slots with bytes left to send or a close request pending (each once: `pending_flag`).
    pending: Vec<usize>,
    pending_flag: Vec<bool>,
}

impl BusyLoop {
    /// Sets the listeners non-blocking and allocates every buffer.
    pub fn new(
        p: &LoopParams,
        listeners: Vec<(usize, TcpListener)>,
        initiators: Vec<(usize, SocketAddr)>,
    ) -> Result<Self, IoError> {
        for (_, l) in &listeners {
            l.set_nonblocking(true)
                .map_err(os("fcntl(O_NONBLOCK) on a listener"))?;
        }
        let n = p.io.max_connections;
        let initiators: Vec<Initiator> = initiators
            .into_iter()
            .map(|(session, a)| Initiator {
                session,
                addr: SockAddr::new(&a),
                state: Dial::Wait(0),
            })
            .collect();
        Ok(Self {
            p: *p,
            pollfds: Vec::with_capacity(n + listeners.len() + initiators.len()),
            listeners,
            initiators,
            conns: (0..n).map(|_| None).collect(),
            owner: vec![None; n],
            open: Vec::with_capacity(n),
            buf: vec![0u8; p.io.buffer_size as usize],
            pending: Vec::with_capacity(n),
            pending_flag: vec![false; n],
        })
    }

    /// Sends what the session layer wrote and carries out requested closes: every slot the
    /// ingest flagged, plus those still pending from before (a full socket buffer: the rest is
    /// kept and retried on the next pass, never blocking).
    fn service<S: RowSink>(
        &mut self,
        ingest: &mut Ingest<S>,
        now: u64,
        hk: &Housekeeping,
        stopping: bool,
    ) {
        while let Some(slot) = ingest.pop_attention() {
            if slot < self.pending_flag.len() && !self.pending_flag[slot] {
                self.pending_flag[slot] = true;
                self.pending.push(slot);
            }
        }
        let mut k = 0;
        while k < self.pending.len() {
            let slot = self.pending[k];
            let failed = self.send_out(ingest, slot);
            let close = match ingest.close_request(slot, now) {
                _ if failed => Some(CloseReason::Error),
                Some((why, due)) if due || !ingest.has_out(slot) => Some(why),
                _ => None,
            };
            if let Some(why) = close {
                if self.conns[slot].is_some() {
                    self.close(ingest, slot, why, now, hk, stopping);
                }
            }
            let done = self.conns[slot].is_none()
                || (!ingest.has_out(slot) && ingest.close_request(slot, now).is_none());
            if done {
                self.pending_flag[slot] = false;
                self.pending.swap_remove(k);
            } else {
                k += 1;
            }
        }
    }

    /// Non-blocking send of `slot`'s waiting bytes; the unsent rest stays. `true` on a socket
    /// error.
    fn send_out<S: RowSink>(&mut self, ingest: &mut Ingest<S>, slot: usize) -> bool {
        let Some(s) = self.conns[slot].as_ref() else {
            ingest.out_mut(slot).clear();
            return false;
        };
        let mut s: &TcpStream = s;
        loop {
            let out = ingest.out_mut(slot);
            if out.is_empty() {
                return false;
            }
            let len = out.len();
            match s.write(out) {
                Ok(0) => return true,
                Ok(n) => {
                    // Moves the rest to the front: no allocation (partial sends are rare).
                    out.drain(..n);
                    if n < len {
                        ingest.counters.partial_sends += 1;
                    }
                    ingest.sent(slot, n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(_) => return true,
            }
        }
    }

    fn free_slot(&self) -> Option<usize> {
        self.conns.iter().position(|c| c.is_none())
    }

    fn close<S: RowSink>(
        &mut self,
        ingest: &mut Ingest<S>,
        slot: usize,
        why: CloseReason,
        now: u64,
        hk: &Housekeeping,
        stopping: bool,
    ) {
        if let Some(s) = self.conns[slot].take() {
            let _ = s.shutdown(Shutdown::Both);
        }
        ingest.close(slot, why);
        if let Some(k) = self.open.iter().position(|&s| s == slot) {
            self.open.swap_remove(k);
        }
        if let Some(i) = self.owner[slot].take() {
            self.initiators[i].state = Dial::Wait(if stopping {
                u64::MAX
            } else {
                now + hk.reconnect_ns
            });
        }
    }

    fn attach<S: RowSink>(
        &mut self,
        ingest: &mut Ingest<S>,
        s: TcpStream,
        session: usize,
        now: u64,
    ) -> Option<usize> {
        let Some(slot) = self.free_slot() else {
            ingest.counters.refused += 1;
            let _ = s.shutdown(Shutdown::Both);
            return None;
        };
        if s.set_nonblocking(true).is_err() {
            ingest.counters.errors += 1;
            return None;
        }
        sock::tune(&s, self.p.io.so_busy_poll_us);
        self.conns[slot] = Some(s);
        self.open.push(slot);
        ingest.open(slot, session, now);
        Some(slot)
    }

    fn accept_and_dial<S: RowSink>(&mut self, ingest: &mut Ingest<S>, now: u64, hk: &Housekeeping) {
        for li in 0..self.listeners.len() {
            loop {
                let (session, r) = {
                    let (session, l) = &self.listeners[li];
                    (*session, l.accept())
                };
                match r {
                    Ok((s, _)) => {
                        self.attach(ingest, s, session, now);
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        ingest.counters.errors += 1;
                        break;
                    }
                }
            }
        }
        for i in 0..self.initiators.len() {
            let state = core::mem::replace(&mut self.initiators[i].state, Dial::Wait(u64::MAX));
            self.initiators[i].state = match state {
                Dial::Wait(t) if now >= t => {
                    let r = sock::tcp_socket(&self.initiators[i].addr, true)
                        .and_then(|s| sock::connect_start(&s, &self.initiators[i].addr).map(|_| s));
                    match r {
                        Ok(s) => Dial::Connecting(s, now + hk.reconnect_ns.max(100_000_000)),
                        Err(_) => {
                            ingest.counters.connect_failures += 1;
                            Dial::Wait(now + hk.reconnect_ns)
                        }
                    }
                }
                Dial::Connecting(s, deadline) => match sock::connect_done(&s) {
                    Some(Ok(())) => {
                        let session = self.initiators[i].session;
                        match self.attach(ingest, s, session, now) {
                            Some(slot) => {
                                self.owner[slot] = Some(i);
                                Dial::Up
                            }
                            None => Dial::Wait(now + hk.reconnect_ns),
                        }
                    }
                    Some(Err(_)) => {
                        ingest.counters.connect_failures += 1;
                        Dial::Wait(now + hk.reconnect_ns)
                    }
                    None if now >= deadline => {
                        ingest.counters.connect_failures += 1;
                        Dial::Wait(now + hk.reconnect_ns)
                    }
                    None => Dial::Connecting(s, deadline),
                },
                other => other,
            };
        }
    }

    /// Runs until a [`Control::Stop`]; closes every connection before returning.
    pub fn run<S: RowSink>(
        &mut self,
        ingest: &mut Ingest<S>,
        control: &ArrayQueue<Control>,
    ) -> Result<(), IoError> {
        let mut hk = Housekeeping::new(&self.p, ingest);
        let idle = self.p.idle;
        let quiet_ns = idle.quiet_us * 1_000;
        let mut last_activity = lpscore_shm::monotonic_ns();
        loop {
            let mut ts = 0u64;
            let mut k = 0;
            while k < self.open.len() {
                let slot = self.open[k];
                let mut closed = None;
                while let Some(s) = self.conns[slot].as_mut() {
                    match s.read(&mut self.buf) {
                        Ok(0) => {
                            closed = Some(CloseReason::PeerClosed);
                            break;
                        }
                        Ok(n) => {
                            if ts == 0 {
                                ts = hk.capture_ns();
                                ingest.counters.batches += 1;
                            }
                            ingest.counters.recvs += 1;
                            ingest.on_bytes(slot, ts, &self.buf[..n]);
                            if n < self.buf.len() {
                                break;
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(_) => {
                            closed = Some(CloseReason::Error);
                            break;
                        }
                    }
                }
                if let Some(why) = closed {
                    let now = lpscore_shm::monotonic_ns();
                    self.close(ingest, slot, why, now, &hk, hk.stopping());
                } else {
                    k += 1;
                }
            }
            let now = lpscore_shm::monotonic_ns();
            if ts != 0 {
                // Counters are published every tick (housekeeping), not per batch.
                last_activity = now;
            }
            if ingest.has_attention() || !self.pending.is_empty() {
                self.service(ingest, now, &hk, hk.stopping());
            }
            if hk.due(now) {
                if !hk.stopping() {
                    self.accept_and_dial(ingest, now, &hk);
                }
                let mut silent = [usize::MAX; 8];
                let mut n_silent = 0;
                ingest.for_each_silent(now, hk.silent_ns, |slot| {
                    if n_silent < silent.len() {
                        silent[n_silent] = slot;
                        n_silent += 1;
                    }
                });
                for &slot in &silent[..n_silent] {
                    self.close(ingest, slot, CloseReason::Silent, now, &hk, hk.stopping());
                }
                if hk.run(now, ingest, control) == Next::Stop {
                    // Last bytes (Logouts) out if the sockets take them, then close.
                    self.service(ingest, now, &hk, true);
                    for slot in 0..self.conns.len() {
                        if self.conns[slot].is_some() {
                            let _ = self.send_out(ingest, slot);
                            self.close(ingest, slot, CloseReason::Shutdown, now, &hk, true);
                        }
                    }
                    return Ok(());
                }
                if ingest.has_attention() {
                    self.service(ingest, now, &hk, hk.stopping());
                }
            }
            if idle.enabled && now.saturating_sub(last_activity) >= quiet_ns {
                self.pollfds.clear();
                for (_, l) in &self.listeners {
                    self.pollfds.push(libc::pollfd {
                        fd: l.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    });
                }
                for &slot in &self.open {
                    if let Some(s) = &self.conns[slot] {
                        self.pollfds.push(libc::pollfd {
                            fd: s.as_raw_fd(),
                            events: libc::POLLIN,
                            revents: 0,
                        });
                    }
                }
                for i in &self.initiators {
                    if let Dial::Connecting(s, _) = &i.state {
                        self.pollfds.push(libc::pollfd {
                            fd: s.as_raw_fd(),
                            events: libc::POLLOUT,
                            revents: 0,
                        });
                    }
                }
                ingest.counters.idle_waits += 1;
                if let Ok(n) = sock::wait(&mut self.pollfds, idle.wait_us * 1_000) {
                    if n > 0 {
                        // Something is ready: accept / connect promptly, then spin again.
                        hk.next_due_now();
                        last_activity = lpscore_shm::monotonic_ns().saturating_sub(quiet_ns / 2);
                    }
                }
            }
        }
    }
}
