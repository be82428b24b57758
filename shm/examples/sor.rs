//! The example SOR: how an SOR team routes by the lpscore scoreboard, with only `lpscore-shm`
//! and std (its few FIX messages are written by hand).
//!
//! It maps the scoreboard read-only and works one parent order in waves of IOC child orders over
//! one FIX 4.4 session, ExDestination (100) naming the LP:
//! - the primary LP is the profile's top score (`route::rank`);
//! - a wave is split across the top LPs in proportion to their expected fill (`route::allocate`),
//!   each child capped by what that LP filled recently (its fill capacity);
//! - the remainder of a partial fill or a reject goes at once to the next-ranked LP;
//! - `--static LP` sends everything to one LP instead (the baseline `lpscore demo` compares with).
//!
//! It prints its decisions and fills as JSON lines on stdout. Its clock is the SendingTime of what
//! it receives (simulated time in the demo; a production SOR reads its own clock), and it answers
//! a TestRequest only after acting on everything before it (the simulator uses that to run in
//! lockstep with it).
//!
//! ```sh
//! cargo run -p lpscore-shm --example sor -- --scoreboard /dev/shm/lpscore.scoreboard \
//!     --connect 127.0.0.1:9200 --profile Block --qty 200000 --side sell --symbol ACME
//! ```
//! `lpscore demo` runs it (as `lpscore sim --sor ...`, the same file compiled into lpscore) against
//! `lpscore sim` and `lpscore run`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use lpscore_shm::{BucketSlot, BucketUnit, LpId, ProfileId, Scoreboard, SymbolSlot, route};

const USAGE: &str =
    "usage: sor --scoreboard PATH --connect HOST:PORT [--profile NAME | --static LP]
    [--symbol ACME] [--side buy|sell] [--qty 200000] [--start-ns T] [--window-s 1800]
    [--wave-s 60] [--wave-max 20000] [--capacity 20000]";
const LOT: u64 = 100;
/// LPs sharing a wave: the top few, and only those within this many points of the leader.
const WAVE_LPS: usize = 3;
const WAVE_SCORE_GAP: f32 = 15.0;
/// Below this effective sample the size bucket's row is too thin: use the all-sizes row.
const MIN_BUCKET_SAMPLE: f32 = 5.0;

#[allow(dead_code)] // unused where this file is compiled into lpscore as a module
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(run_sor(&args));
}

/// Runs the SOR with command-line `args`; returns the exit code (0: done, 1: error, 2: usage).
pub fn run_sor(args: &[String]) -> i32 {
    let opts = match Opts::parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("sor: {e}\n{USAGE}");
            return 2;
        }
    };
    match Sor::new(opts).and_then(|mut s| s.run()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("sor: {e}");
            1
        }
    }
}

struct Opts {
    scoreboard: String,
    connect: String,
    profile: Option<String>,
    static_lp: Option<String>,
    symbol: String,
    sell: bool,
    qty: u64,
    start_ns: u64,
    window_s: u64,
    wave_s: u64,
    wave_max: u64,
    capacity: u64,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = Opts {
            scoreboard: String::new(),
            connect: String::new(),
            profile: None,
            static_lp: None,
            symbol: "ACME".into(),
            sell: true,
            qty: 200_000,
            start_ns: 0,
            window_s: 1800,
            wave_s: 60,
            wave_max: 20_000,
            capacity: 20_000,
        };
        let mut it = args.iter();
        while let Some(k) = it.next() {
            let v = it.next().ok_or(format!("{k} needs a value"))?.clone();
            let num = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| format!("{k}: not a number: {v}"))
            };
            match k.as_str() {
                "--scoreboard" => o.scoreboard = v,
                "--connect" => o.connect = v,
                "--profile" => o.profile = Some(v),
                "--static" => o.static_lp = Some(v),
                "--symbol" => o.symbol = v,
                "--side" if v == "buy" || v == "sell" => o.sell = v == "sell",
                "--qty" => o.qty = num(&v)?,
                "--start-ns" => o.start_ns = num(&v)?,
                "--window-s" => o.window_s = num(&v)?,
                "--wave-s" => o.wave_s = num(&v)?.max(1),
                "--wave-max" => o.wave_max = num(&v)?.max(LOT),
                "--capacity" => o.capacity = num(&v)?.max(LOT),
                _ => return Err(format!("unknown option {k} {v}")),
            }
        }
        if o.scoreboard.is_empty() || o.connect.is_empty() {
            return Err("--scoreboard and --connect are required".into());
        }
        Ok(o)
    }
}

/// A child order in flight.
struct Child {
    lp: LpId,
    qty: u64,
    filled: u64,
    /// LPs this remainder chain has been to (reroutes never loop).
    tried: Vec<LpId>,
}

enum Policy {
    Scorecard(ProfileId),
    Static(LpId),
}

struct Sor {
    o: Opts,
    board: Scoreboard,
    policy: Policy,
    label: String,
    fix: Fix,
    names: Vec<String>,
    /// Shares an IOC child to this LP can expect to fill, learnt from our own fills.
    capacity: Vec<f64>,
    children: HashMap<String, Child>,
    next_id: u32,
    mid: f64,
    arrival_mid: f64,
    next_wave: u64,
    filled: u64,
    in_flight: u64,
    counts: [u32; 3], // children, reroutes, rejects
}

impl Sor {
    fn new(o: Opts) -> Result<Self, String> {
        let board = Scoreboard::open_with_timeout(&o.scoreboard, Duration::from_secs(30))
            .map_err(|e| format!("cannot open the scoreboard {}: {e}", o.scoreboard))?;
        let mut names = vec![String::new(); board.lp_count()];
        for (lp, name) in board.lps() {
            names[lp.index()] = name.as_str().to_string();
        }
        let (policy, label) = match (&o.static_lp, &o.profile) {
            (Some(lp), _) => {
                let id = board
                    .lp(lp)
                    .ok_or(format!("LP {lp} is not on the scoreboard"))?;
                (Policy::Static(id), format!("static ({lp})"))
            }
            (None, p) => {
                let p = p.as_deref().unwrap_or("Block");
                let id = board
                    .profile(p)
                    .ok_or(format!("no profile {p} on the scoreboard"))?;
                (Policy::Scorecard(id), format!("scorecard ({p})"))
            }
        };
        let fix = Fix::connect(&o.connect)?;
        let capacity = vec![o.capacity as f64; names.len()];
        let side = if o.sell { "sell" } else { "buy" };
        println!(
            "{{\"ev\":\"start\",\"policy\":\"{label}\",\"symbol\":\"{}\",\"side\":\"{side}\",\"qty\":{}}}",
            o.symbol, o.qty
        );
        Ok(Sor {
            next_wave: o.start_ns,
            o,
            board,
            policy,
            label,
            fix,
            names,
            capacity,
            children: HashMap::new(),
            next_id: 0,
            mid: 0.0,
            arrival_mid: 0.0,
            filled: 0,
            in_flight: 0,
            counts: [0; 3],
        })
    }

    fn run(&mut self) -> Result<(), String> {
        self.fix
            .send("A", &[(98, "0".into()), (108, "30".into())])?;
        loop {
            let Some(m) = self.fix.recv()? else {
                return Err("the venue closed the session".into());
            };
            match get(&m, 35) {
                "W" => self.on_quote(&m),
                "8" => self.on_report(&m)?,
                // Answered after everything before it was acted on (the simulator's lockstep).
                "1" => self.fix.send("0", &[(112, get(&m, 112).into())])?,
                "5" => {
                    // The venue ends the session (its simulated time is over).
                    self.done_line();
                    return self.fix.send("5", &[]);
                }
                _ => {}
            }
            // The clock moved: a wave may be due, or the order done.
            self.on_timer()?;
            if self.finished() {
                return self.finish();
            }
        }
    }

    fn finished(&self) -> bool {
        let over = self.arrival_mid > 0.0
            && self.fix.now_ns >= self.o.start_ns + self.o.window_s * 1_000_000_000;
        self.in_flight == 0 && (self.filled >= self.o.qty || over)
    }

    /// Logs out (the window is over or the order is done) and waits for the venue's Logout.
    fn finish(&mut self) -> Result<(), String> {
        self.done_line();
        self.fix.send("5", &[])?;
        while let Some(m) = self.fix.recv()? {
            if get(&m, 35) == "5" {
                break;
            }
        }
        Ok(())
    }

    fn done_line(&self) {
        let [children, reroutes, rejects] = self.counts;
        println!(
            "{{\"ev\":\"done\",\"t_ns\":{},\"policy\":\"{}\",\"filled\":{},\"children\":{children},\"reroutes\":{reroutes},\"rejects\":{rejects}}}",
            self.fix.now_ns, self.label, self.filled
        );
    }

    fn on_quote(&mut self, m: &[(u32, String)]) {
        // MDEntryType (269) 0 = bid, 1 = offer, each followed by its MDEntryPx (270).
        let (mut bid, mut ask, mut kind) = (0.0, 0.0, "");
        for (tag, v) in m {
            match tag {
                269 => kind = v,
                270 if kind == "0" => bid = v.parse().unwrap_or(0.0),
                270 if kind == "1" => ask = v.parse().unwrap_or(0.0),
                _ => {}
            }
        }
        if bid > 0.0 && ask > 0.0 {
            self.mid = (bid + ask) / 2.0;
        }
    }

    fn on_timer(&mut self) -> Result<(), String> {
        let now = self.fix.now_ns;
        if now < self.next_wave || self.filled >= self.o.qty || self.finished() || self.mid == 0.0 {
            return Ok(());
        }
        if self.arrival_mid == 0.0 {
            self.arrival_mid = self.mid;
            println!(
                "{{\"ev\":\"parent\",\"t_ns\":{now},\"arrival_mid\":{:.6}}}",
                self.mid
            );
        }
        self.next_wave = now + self.o.wave_s * 1_000_000_000;
        if self.in_flight > 0 || now >= self.o.start_ns + self.o.window_s * 1_000_000_000 {
            return Ok(());
        }
        let qty = (self.o.qty - self.filled).min(self.o.wave_max);
        let ranked = self.ranking(qty);
        let mut plan: Vec<(LpId, u64)> = Vec::new();
        match self.policy {
            Policy::Static(lp) => plan.push((lp, qty.min(self.cap(lp)))),
            Policy::Scorecard(_) if ranked.is_empty() => {
                // No scores yet (a cold scoreboard): spread evenly rather than guess.
                let n = self.names.len() as u64;
                for l in 0..n {
                    plan.push((LpId::new(l as u16), qty / n / LOT * LOT));
                }
            }
            Policy::Scorecard(_) => {
                // Expected fill ~ fill rate: allocate whole lots in proportion, capped.
                let top = ranked[0].1;
                let cands: Vec<(LpId, f64, u64)> = ranked
                    .iter()
                    .filter(|r| r.1 >= top - WAVE_SCORE_GAP)
                    .take(WAVE_LPS)
                    .map(|&(lp, _, fill)| (lp, f64::from(fill).max(0.01), self.cap(lp) / LOT))
                    .collect();
                let mut alloc = [(LpId::default(), 0u64); WAVE_LPS];
                let n = route::allocate(qty / LOT, &cands, &mut alloc);
                plan.extend(alloc[..n].iter().map(|&(lp, lots)| (lp, lots * LOT)));
            }
        }
        plan.retain(|p| p.1 > 0);
        let fmt = |v: Vec<String>| v.join(",");
        println!(
            "{{\"ev\":\"wave\",\"t_ns\":{now},\"qty\":{qty},\"filled\":{},\"plan\":[{}],\"scores\":[{}]}}",
            self.filled,
            fmt(plan
                .iter()
                .map(|(lp, q)| format!("[\"{}\",{q}]", self.name(*lp)))
                .collect()),
            fmt(ranked
                .iter()
                .map(|(lp, s, _)| format!("[\"{}\",{s:.2}]", self.name(*lp)))
                .collect()),
        );
        for (lp, q) in plan {
            self.send_child(lp, q, vec![lp])?;
        }
        Ok(())
    }

    /// The LPs best first under the profile, with (score, fill rate); empty when static.
    fn ranking(&self, qty: u64) -> Vec<(LpId, f32, f32)> {
        let Policy::Scorecard(profile) = self.policy else {
            return Vec::new();
        };
        let sym = self
            .board
            .symbol(&self.o.symbol)
            .map_or(SymbolSlot::All, SymbolSlot::One);
        let size = match self.board.bucket_unit() {
            BucketUnit::Shares => qty,
            _ => (qty as f64 * self.mid) as u64,
        };
        let mut bucket = self.board.bucket_for(size);
        let thin = (0..self.names.len()).any(|l| {
            !matches!(self.board.read(sym, bucket, LpId::new(l as u16)),
                Ok(r) if r.eff_orders >= MIN_BUCKET_SAMPLE)
        });
        if thin {
            bucket = BucketSlot::All;
        }
        let mut ids = [LpId::default(); 64];
        let n = route::rank(&self.board, sym, bucket, profile, &mut ids);
        ids[..n]
            .iter()
            .filter_map(|&lp| {
                let row = self.board.read(sym, bucket, lp).ok()?;
                Some((lp, row.score(profile.index())?, row.fill_rate))
            })
            .collect()
    }

    fn cap(&self, lp: LpId) -> u64 {
        ((self.capacity[lp.index()] as u64) / LOT * LOT).max(LOT)
    }

    fn name(&self, lp: LpId) -> &str {
        &self.names[lp.index()]
    }

    fn send_child(&mut self, lp: LpId, qty: u64, tried: Vec<LpId>) -> Result<(), String> {
        self.next_id += 1;
        let id = format!("P{:07}", self.next_id);
        let now = self.fix.now_ns;
        self.fix.send(
            "D",
            &[
                (11, id.clone()),
                (55, self.o.symbol.clone()),
                (54, if self.o.sell { "2" } else { "1" }.into()),
                (60, fmt_time(now)),
                (38, qty.to_string()),
                (40, "1".into()), // market
                (59, "3".into()), // IOC
                (100, self.name(lp).to_string()),
            ],
        )?;
        self.in_flight += qty;
        self.counts[0] += 1;
        self.children.insert(
            id,
            Child {
                lp,
                qty,
                filled: 0,
                tried,
            },
        );
        Ok(())
    }

    fn on_report(&mut self, m: &[(u32, String)]) -> Result<(), String> {
        let id = get(m, 11).to_string();
        let Some(c) = self.children.get_mut(&id) else {
            return Ok(()); // not ours
        };
        let (lp, now) = (c.lp, self.fix.now_ns);
        match get(m, 150) {
            "F" => {
                let qty: f64 = get(m, 32).parse().unwrap_or(0.0);
                let px: f64 = get(m, 31).parse().unwrap_or(0.0);
                c.filled += qty as u64;
                self.filled += qty as u64;
                let name = &self.names[lp.index()];
                println!(
                    "{{\"ev\":\"fill\",\"t_ns\":{now},\"id\":\"{id}\",\"lp\":\"{name}\",\"qty\":{},\"px\":{px}}}",
                    qty as u64
                );
            }
            "8" => {
                self.counts[2] += 1;
                let (name, text) = (&self.names[lp.index()], get(m, 58).replace('"', "'"));
                println!(
                    "{{\"ev\":\"reject\",\"t_ns\":{now},\"id\":\"{id}\",\"lp\":\"{name}\",\"text\":\"{text}\"}}"
                );
            }
            _ => {}
        }
        // OrdStatus (39): filled, canceled (the IOC's rest) or rejected ends the child.
        if matches!(get(m, 39), "2" | "4" | "8") {
            if let Some(c) = self.children.remove(&id) {
                self.child_done(c)?;
            }
        }
        Ok(())
    }

    fn child_done(&mut self, c: Child) -> Result<(), String> {
        self.in_flight -= c.qty;
        // Learn the LP's capacity: a full fill says it can take more, a partial fill about that much.
        let cap = &mut self.capacity[c.lp.index()];
        if c.filled >= c.qty {
            *cap = cap.max(c.qty as f64 * 1.25);
        } else if c.filled > 0 {
            *cap = 0.5 * *cap + 0.5 * c.filled as f64;
        }
        let open = self.o.qty.saturating_sub(self.filled + self.in_flight);
        let rest = (c.qty - c.filled).min(open);
        if rest == 0 || c.tried.len() >= self.names.len() {
            return Ok(());
        }
        let to = match self.policy {
            Policy::Static(lp) => Some(lp),
            Policy::Scorecard(_) => self
                .ranking(rest)
                .iter()
                .map(|r| r.0)
                .find(|lp| !c.tried.contains(lp)),
        };
        let Some(to) = to else { return Ok(()) };
        let q = rest.min(self.cap(to)) / LOT * LOT;
        if q == 0 {
            return Ok(());
        }
        self.counts[1] += 1;
        println!(
            "{{\"ev\":\"reroute\",\"t_ns\":{},\"from\":\"{}\",\"to\":\"{}\",\"qty\":{q},\"of\":{}}}",
            self.fix.now_ns,
            self.name(c.lp),
            self.name(to),
            c.qty
        );
        let mut tried = c.tried;
        tried.push(to);
        self.send_child(to, q, tried)
    }
}

/// One FIX 4.4 session over TCP: hand-written tag=value messages.
struct Fix {
    stream: TcpStream,
    buf: Vec<u8>,
    seq: u64,
    /// The latest SendingTime (52) received: the SOR's clock.
    now_ns: u64,
}

fn get(m: &[(u32, String)], tag: u32) -> &str {
    m.iter().find(|f| f.0 == tag).map_or("", |f| f.1.as_str())
}

impl Fix {
    fn connect(addr: &str) -> Result<Self, String> {
        let stream =
            TcpStream::connect(addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        Ok(Fix {
            stream,
            buf: Vec::new(),
            seq: 0,
            now_ns: 0,
        })
    }

    fn send(&mut self, msg_type: &str, body: &[(u32, String)]) -> Result<(), String> {
        self.seq += 1;
        let mut b = format!(
            "35={msg_type}\x0149=SOR\x0156=LPSIM\x0134={}\x0152={}\x01",
            self.seq,
            fmt_time(self.now_ns)
        );
        for (tag, v) in body {
            b.push_str(&format!("{tag}={v}\x01"));
        }
        let mut m = format!("8=FIX.4.4\x019={}\x01{b}", b.len());
        let sum = m.bytes().map(u32::from).sum::<u32>() % 256;
        m.push_str(&format!("10={sum:03}\x01"));
        self.stream
            .write_all(m.as_bytes())
            .map_err(|e| format!("send: {e}"))
    }

    /// The next message as (tag, value) pairs; `None` at the end of the stream.
    fn recv(&mut self) -> Result<Option<Vec<(u32, String)>>, String> {
        loop {
            if let Some(len) = self.complete() {
                let raw: Vec<u8> = self.buf.drain(..len).collect();
                let text = String::from_utf8_lossy(&raw);
                let m: Vec<(u32, String)> = text
                    .split('\x01')
                    .filter_map(|f| f.split_once('='))
                    .filter_map(|(t, v)| Some((t.parse().ok()?, v.to_string())))
                    .collect();
                if let Some(t) = parse_time(get(&m, 52)) {
                    self.now_ns = self.now_ns.max(t);
                }
                return Ok(Some(m));
            }
            let mut chunk = [0u8; 16384];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(None),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("receive: {e}")),
            }
        }
    }

    /// The length of the first complete message in the buffer: `8=...|9=LEN|` + LEN + `10=NNN|`.
    fn complete(&self) -> Option<usize> {
        let b = &self.buf;
        let start = b.iter().position(|&x| x == 1)? + 1; // after 8=FIX.4.4
        let end = start + b[start..].iter().position(|&x| x == 1)?;
        let len: usize = std::str::from_utf8(b.get(start + 2..end)?)
            .ok()?
            .parse()
            .ok()?;
        let total = end + 1 + len + 7;
        (b.len() >= total).then_some(total)
    }
}

/// `YYYYMMDD-HH:MM:SS.sss...` (UTC) to ns since the Unix epoch.
fn parse_time(s: &str) -> Option<u64> {
    let (date, time) = s.split_once('-')?;
    let n = |r: std::ops::Range<usize>, v: &str| v.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (n(0..4, date)?, n(4..6, date)?, n(6..8, date)?);
    let secs = n(0..2, time)? * 3600 + n(3..5, time)? * 60 + n(6..8, time)?;
    let frac = time.get(9..).unwrap_or("");
    let ns = format!("{frac:0<9}").get(..9)?.parse::<i64>().ok()?;
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    u64::try_from((days * 86_400 + secs) * 1_000_000_000 + ns).ok()
}

/// ns since the Unix epoch to `YYYYMMDD-HH:MM:SS.sss` (UTC).
fn fmt_time(ns: u64) -> String {
    let (days, rem) = ((ns / 86_400_000_000_000) as i64, ns % 86_400_000_000_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let s = rem / 1_000_000_000;
    let ms = rem % 1_000_000_000 / 1_000_000;
    format!(
        "{y:04}{m:02}{d:02}-{:02}:{:02}:{:02}.{ms:03}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_round_trip() {
        for s in [
            "20261123-14:30:00.000",
            "20000229-23:59:59.999",
            "19700101-00:00:00.000",
        ] {
            assert_eq!(super::fmt_time(super::parse_time(s).unwrap()), s);
        }
        assert_eq!(
            super::parse_time("20261123-14:30:00.123456789").unwrap() % 1_000_000_000,
            123_456_789
        );
        assert_eq!(super::parse_time("garbage"), None);
    }
}
