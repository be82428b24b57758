//! `lpscore sim`: the [`Venue`] as FIX counterparties over TCP.
//!
//! - It listens for the SOR (one FIX 4.4 session, Logon first): NewOrderSingles in, routed to the
//!   LP named in ExDestination (100); ExecutionReports and market-data snapshots out.
//! - It connects to the appliance's drop-copy acceptor and sends it every order, every execution
//!   report and every quote with proper headers (CompIDs, MsgSeqNum, SendingTime): over a FIX
//!   session (`--drop-copy-logon`: Logon with ResetSeqNumFlag, Logout at the end) or raw.
//!
//! Time: the venue runs in event time from `start_ns`. At `--speed S` event time is paced at S
//! simulated seconds per wall second (and stretched when the machine falls behind, so the
//! latencies the appliance measures stay S times shorter than the simulated ones). At `max` it is
//! not paced at all.
//!
//! The SOR reacts in zero simulated time: after each event that sent the SOR something, the venue
//! sends a TestRequest and processes what the SOR sends until the matching Heartbeat (FIX keeps
//! order on the session, so the SOR's reactions come first). The venue and the SOR are therefore
//! in lockstep: the same seed and the same scores give the same run at any speed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use lpscore_shm::{BucketSlot, LpId, Scoreboard, SymbolSlot, monotonic_ns};

use crate::fix::{Framer, FramerConfig, Parser, Typed};

use super::Speed;
use super::lp::{LpsFile, Side};
use super::venue::{Outbox, SorOrder, Venue};

/// What `lpscore sim` runs.
#[derive(Clone, Debug)]
pub struct SimOptions {
    pub lps: LpsFile,
    pub seed: u64,
    pub speed: Speed,
    /// Event time of the start, ns since the Unix epoch.
    pub start_ns: u64,
    /// Event time after which the venue logs the SOR out and stops.
    pub end_ns: u64,
    /// Mean gap between the firm's background orders, ms of event time.
    pub background_every_ms: f64,
    /// Where the SOR connects (port 0: any free port).
    pub listen: SocketAddr,
    /// The appliance's drop-copy acceptor.
    pub drop_copy: SocketAddr,
    /// How long to wait for the appliance to accept and for the SOR to connect.
    pub connect_timeout: Duration,
    /// The appliance's scoreboard: before the SOR sees anything, wait until the appliance has
    /// scored every order that ended so far (the demo's lockstep; without it, at `--speed max`
    /// the SOR would read scores that lag the drop copy by seconds).
    pub sync_scoreboard: Option<std::path::PathBuf>,
    /// Log on to the appliance's drop-copy session (a `fix` session in its configuration) instead
    /// of streaming raw: Logon first (ResetSeqNumFlag=Y), Logout at the end.
    pub drop_copy_logon: bool,
}

/// The appliance's side of a FIX drop-copy session: reads what it sends (Logon, Heartbeats,
/// Logout) on its own thread; the channel gets the MsgType and Text of its Logon and Logout.
fn drop_copy_reader(dc: &TcpStream) -> Result<mpsc::Receiver<(String, String)>, String> {
    let mut r = dc.try_clone().map_err(|e| e.to_string())?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut framer = Framer::new(FramerConfig::default());
        let mut parser = Parser::new(FramerConfig::default());
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut frames = framer.feed(&buf[..n]);
            while let Some(f) = frames.next_frame() {
                let Ok(f) = f else { continue };
                let Ok(m) = parser.parse_frame(f) else {
                    continue;
                };
                let t = String::from_utf8_lossy(m.msg_type()).into_owned();
                let text = String::from_utf8_lossy(m.get(58).unwrap_or_default()).into_owned();
                if (t == "A" || t == "5") && tx.send((t, text)).is_err() {
                    return;
                }
            }
        }
    });
    Ok(rx)
}

/// Waits until the appliance's rows count `ended` orders on `symbol` (each order is counted once,
/// when it ends). False after `timeout` (the caller stops waiting from then on).
fn appliance_caught_up(board: &Scoreboard, symbol: &str, ended: u64, timeout: Duration) -> bool {
    let deadline = monotonic_ns() + timeout.as_nanos() as u64;
    loop {
        let counted: u64 = board.symbol(symbol).map_or(0, |sym| {
            (0..board.lp_count())
                .map(|l| {
                    board
                        .read(SymbolSlot::One(sym), BucketSlot::All, LpId::new(l as u16))
                        .map_or(0, |r| u64::from(r.n_orders))
                })
                .sum()
        });
        if counted >= ended {
            return true;
        }
        if monotonic_ns() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// What a run did.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimSummary {
    pub drop_copy_msgs: u64,
    pub sor_msgs: u64,
    pub sor_orders: u64,
    pub sor_rejected_invalid: u64,
    pub background_orders: u64,
    pub fills: u64,
    /// Messages from the SOR that did not parse.
    pub sor_bad: u64,
    /// Simulated seconds run.
    pub sim_s: f64,
    /// Why it ended.
    pub end: &'static str,
}

/// One message from the SOR, owned.
#[derive(Debug)]
enum FromSor {
    Order(SorOrder),
    Heartbeat(Option<String>),
    TestRequest(String),
    Logon,
    Logout,
    /// Anything else (ignored) or a message that does not parse (counted, reported).
    Other,
    Bad(String),
}

/// The SOR's session: framing and parsing of what it sends.
struct SorLink {
    stream: TcpStream,
    framer: Framer,
    parser: Parser,
    buf: Vec<u8>,
    bad: u64,
    /// Parsed but not yet handled (a read can bring several messages).
    pending: std::collections::VecDeque<FromSor>,
}

impl SorLink {
    /// The next message; `Ok(None)` at the end of the stream.
    fn next(&mut self) -> Result<Option<FromSor>, String> {
        if self.pending.is_empty() {
            match self.read_some()? {
                Some(msgs) => self.pending.extend(msgs),
                None => return Ok(None),
            }
        }
        Ok(self.pending.pop_front())
    }

    /// Reads until at least one message is available; `Ok(None)` on end of stream.
    fn read_some(&mut self) -> Result<Option<Vec<FromSor>>, String> {
        loop {
            let n = match self.stream.read(&mut self.buf) {
                Ok(0) => return Ok(None),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return Err("the SOR stopped answering (no data for 30 s)".into());
                }
                Err(e) => return Err(format!("reading from the SOR: {e}")),
            };
            let mut msgs = Vec::new();
            let mut frames = self.framer.feed(&self.buf[..n]);
            while let Some(f) = frames.next_frame() {
                let m = match f {
                    Ok(f) => match self.parser.parse_frame(f) {
                        Ok(m) => m,
                        Err(e) => {
                            msgs.push(FromSor::Bad(e.to_string()));
                            continue;
                        }
                    },
                    Err(e) => {
                        msgs.push(FromSor::Bad(e.to_string()));
                        continue;
                    }
                };
                msgs.push(match m.typed() {
                    Ok(Typed::NewOrderSingle(o)) => {
                        let side = match o.side {
                            crate::fix::Side::Buy => Some(Side::Buy),
                            crate::fix::Side::Sell => Some(Side::Sell),
                            _ => None,
                        };
                        let qty = o.order_qty.0 / 100_000_000;
                        match side {
                            Some(side) if qty > 0 && o.order_qty.0 % 100_000_000 == 0 => {
                                FromSor::Order(SorOrder {
                                    cl_ord_id: String::from_utf8_lossy(o.cl_ord_id).into(),
                                    symbol: String::from_utf8_lossy(o.symbol).into(),
                                    side,
                                    qty: qty as u64,
                                    lp: o
                                        .ex_destination
                                        .map(|d| String::from_utf8_lossy(d).into())
                                        .unwrap_or_default(),
                                })
                            }
                            _ => FromSor::Bad(
                                "NewOrderSingle: side or quantity not supported".into(),
                            ),
                        }
                    }
                    Ok(Typed::Heartbeat(h)) => FromSor::Heartbeat(
                        h.test_req_id
                            .map(|v| String::from_utf8_lossy(v).into_owned()),
                    ),
                    Ok(Typed::TestRequest(r)) => {
                        FromSor::TestRequest(String::from_utf8_lossy(r.test_req_id).into())
                    }
                    Ok(Typed::Logon(_)) => FromSor::Logon,
                    Ok(Typed::Logout(_)) => FromSor::Logout,
                    Ok(_) => FromSor::Other,
                    Err(e) => FromSor::Bad(e.to_string()),
                });
            }
            if !msgs.is_empty() {
                return Ok(Some(msgs));
            }
        }
    }
}

fn connect_retry(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, String> {
    let deadline = monotonic_ns() + timeout.as_nanos() as u64;
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(s) => return Ok(s),
            Err(e) if monotonic_ns() >= deadline => {
                return Err(format!(
                    "cannot connect to the drop-copy acceptor {addr}: {e}"
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn accept_timeout(l: &TcpListener, timeout: Duration) -> Result<TcpStream, String> {
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    let deadline = monotonic_ns() + timeout.as_nanos() as u64;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).map_err(|e| e.to_string())?;
                return Ok(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if monotonic_ns() >= deadline {
                    return Err(format!("no SOR connected within {timeout:?}"));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    }
}

/// Binds the SOR's listener; `on_listening` gets the bound address (the demo reads it from the
/// first line of stdout). Then runs the venue until the SOR logs out or `end_ns`.
pub fn run(opts: &SimOptions, on_listening: impl FnOnce(SocketAddr)) -> Result<SimSummary, String> {
    let listener = TcpListener::bind(opts.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    on_listening(local);
    let mut dc = connect_retry(opts.drop_copy, opts.connect_timeout)?;
    let _ = dc.set_nodelay(true);
    let stream = accept_timeout(&listener, opts.connect_timeout)?;
    let _ = stream.set_nodelay(true);
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut sor = SorLink {
        stream,
        framer: Framer::new(FramerConfig::default()),
        parser: Parser::new(FramerConfig::default()),
        buf: vec![0; 64 * 1024],
        bad: 0,
        pending: Default::default(),
    };
    let board = match &opts.sync_scoreboard {
        Some(p) => Some(
            Scoreboard::open_with_timeout(p, opts.connect_timeout)
                .map_err(|e| format!("cannot open the scoreboard {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let symbol = opts.lps.market.symbol.clone();
    let mut syncing = board.is_some();
    let mut venue = Venue::new(
        &opts.lps,
        opts.seed,
        opts.start_ns,
        opts.background_every_ms,
    );
    let mut out = Outbox::default();
    let mut sum = SimSummary::default();
    let dc_events = if opts.drop_copy_logon {
        let rx = drop_copy_reader(&dc)?;
        venue.drop_copy_session_message(
            opts.start_ns,
            b"A",
            &[(98, b"0"), (108, b"30"), (141, b"Y")],
            &mut out,
        );
        send_drop_copy(&mut dc, &mut out, &mut sum)?;
        match rx.recv_timeout(opts.connect_timeout) {
            Ok((t, _)) if t == "A" => {}
            Ok((_, text)) => {
                return Err(format!("the appliance refused the drop-copy logon: {text}"));
            }
            Err(_) => return Err("the appliance did not answer the drop-copy Logon".into()),
        }
        Some(rx)
    } else {
        None
    };

    // Logon first, answered with our Logon.
    if !matches!(sor.next()?, Some(FromSor::Logon)) {
        return Err("the SOR must send Logon (35=A) first".into());
    }
    venue.sor_session_message(opts.start_ns, b"A", &[(98, b"0"), (108, b"30")], &mut out);
    send(&mut sor.stream, &mut dc, &mut out, &mut sum)?;

    let mut wall0 = monotonic_ns();
    let mut barrier = 0u64;
    let mut last_t = opts.start_ns;
    'run: loop {
        let Some(t) = venue.next_time() else {
            sum.end = "no more events";
            break;
        };
        if t > opts.end_ns {
            sum.end = "end of the simulated time";
            break;
        }
        if let Speed::Times(s) = opts.speed {
            let due = wall0 + ((t - opts.start_ns) as f64 / s) as u64;
            let now = monotonic_ns();
            if due > now {
                std::thread::sleep(Duration::from_nanos(due - now));
            } else if now - due > 1_000_000 {
                // Behind: stretch time rather than compress the latencies the appliance sees.
                wall0 += now - due;
            }
        }
        venue.step(&mut out);
        last_t = t;
        if out.sor_msgs > 0 && syncing {
            // The appliance first: the SOR acts on what it receives, by the scores.
            send_drop_copy(&mut dc, &mut out, &mut sum)?;
            if let Some(b) = &board {
                if !appliance_caught_up(b, &symbol, venue.stats.ended, Duration::from_secs(10)) {
                    tracing::warn!(
                        "sim: the appliance did not catch up within 10 s; not waiting any more"
                    );
                    syncing = false;
                }
            }
        }
        // Lockstep with the SOR: it answers everything it was sent before the next event.
        while out.sor_msgs > 0 {
            barrier += 1;
            let id = format!("T{barrier}");
            venue.sor_session_message(t, b"1", &[(112, id.as_bytes())], &mut out);
            send(&mut sor.stream, &mut dc, &mut out, &mut sum)?;
            let mut got_orders = false;
            loop {
                let Some(m) = sor.next()? else {
                    sum.end = "the SOR disconnected";
                    break 'run;
                };
                {
                    match m {
                        FromSor::Order(o) => {
                            got_orders = true;
                            venue.on_sor_order(t, &o, &mut out);
                        }
                        FromSor::Heartbeat(Some(h)) if h == id => break,
                        FromSor::TestRequest(r) => {
                            venue.sor_session_message(t, b"0", &[(112, r.as_bytes())], &mut out)
                        }
                        FromSor::Logout => {
                            sum.end = "the SOR logged out";
                            venue.sor_session_message(t, b"5", &[], &mut out);
                            send(&mut sor.stream, &mut dc, &mut out, &mut sum)?;
                            break 'run;
                        }
                        FromSor::Bad(e) => {
                            sor.bad += 1;
                            tracing::warn!("sim: bad message from the SOR: {e}");
                        }
                        FromSor::Heartbeat(_) | FromSor::Logon | FromSor::Other => {}
                    }
                }
            }
            if got_orders {
                if let Speed::Times(s) = opts.speed {
                    // The orders left at event time t: map t to now (see the module comment).
                    wall0 = monotonic_ns().saturating_sub(((t - opts.start_ns) as f64 / s) as u64);
                }
            }
            // Whatever the SOR's messages produced for it (immediate rejects) needs another round.
        }
        send(&mut sor.stream, &mut dc, &mut out, &mut sum)?;
    }
    if sum.end != "the SOR logged out" && sum.end != "the SOR disconnected" {
        venue.sor_session_message(last_t, b"5", &[(58, sum.end.as_bytes())], &mut out);
        let _ = send(&mut sor.stream, &mut dc, &mut out, &mut sum);
    }
    // Let the appliance score everything before the demo stops it.
    let _ = send_drop_copy(&mut dc, &mut out, &mut sum);
    if let (Some(b), true) = (&board, syncing) {
        appliance_caught_up(b, &symbol, venue.stats.ended, Duration::from_secs(10));
    }
    if let Some(rx) = &dc_events {
        venue.drop_copy_session_message(last_t, b"5", &[], &mut out);
        let _ = send_drop_copy(&mut dc, &mut out, &mut sum);
        // The appliance answers with its Logout once it has read everything before ours.
        let _ = rx.recv_timeout(Duration::from_secs(10));
    }
    let _ = dc.flush();
    let _ = dc.shutdown(std::net::Shutdown::Write);
    sum.sor_orders = venue.stats.sor_orders;
    sum.sor_rejected_invalid = venue.stats.sor_rejected_invalid;
    sum.background_orders = venue.stats.background_orders;
    sum.fills = venue.stats.fills;
    sum.sor_bad = sor.bad;
    sum.sim_s = (last_t - opts.start_ns) as f64 * 1e-9;
    Ok(sum)
}

fn send_drop_copy(
    dc: &mut TcpStream,
    out: &mut Outbox,
    sum: &mut SimSummary,
) -> Result<(), String> {
    if !out.drop_copy.is_empty() {
        dc.write_all(&out.drop_copy)
            .map_err(|e| format!("the appliance closed the drop copy: {e}"))?;
    }
    sum.drop_copy_msgs += out.drop_copy_msgs;
    out.drop_copy.clear();
    out.drop_copy_msgs = 0;
    Ok(())
}

fn send(
    sor: &mut TcpStream,
    dc: &mut TcpStream,
    out: &mut Outbox,
    sum: &mut SimSummary,
) -> Result<(), String> {
    if !out.drop_copy.is_empty() {
        dc.write_all(&out.drop_copy)
            .map_err(|e| format!("the appliance closed the drop copy: {e}"))?;
    }
    if !out.sor.is_empty() {
        sor.write_all(&out.sor)
            .map_err(|e| format!("writing to the SOR: {e}"))?;
    }
    sum.drop_copy_msgs += out.drop_copy_msgs;
    sum.sor_msgs += out.sor_msgs;
    out.clear();
    Ok(())
}
