//! The reader an SOR links: [`Scoreboard`]. Opening validates the file (with `fstat` before any
//! offset is trusted) and maps it `PROT_READ`; after that, lookups and reads are plain memory
//! accesses: no syscall, no lock, no allocation.

use crate::board::{Board, check_header, header_words, profile_lock, read_row};
use crate::error::{OpenError, OsError};
use crate::layout::{
    self, Geometry, HEADER_LEN, LP_FLAG_IN_USE, LP_FLAG_PAUSED, PROFILE_FLAG_ACTIVE,
    ROW_DATA_WORDS, hw, state,
};
use crate::map::{self, Map};
use crate::row::{
    BucketSlot, BucketUnit, LpId, Name, P_FLAGS, P_NAME_HI, P_NAME_LO, P_WEIGHTS, ProfileId,
    ScoreRow, SymbolId, SymbolSlot,
};
use crate::seqlock::ReadError;
use crate::sync::{Ordering, fence};
use crate::writer::{Capacities, row_index};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

/// What [`Scoreboard::staleness`] says about the writer.
///
/// ```
/// use lpscore_shm::Liveness;
/// assert!(Liveness::Live { age: std::time::Duration::ZERO }.is_live());
/// assert!(!Liveness::Stopped.is_live());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// Heartbeat within the threshold.
    Live {
        /// Time since the last heartbeat.
        age: Duration,
    },
    /// Heartbeat older than the threshold.
    Stale {
        /// Time since the last heartbeat.
        age: Duration,
    },
    /// A new writer started (epoch changed): ids resolved before may be wrong; call
    /// [`Scoreboard::revalidate`] and resolve again.
    Restarted,
    /// The writer process no longer exists.
    WriterGone,
    /// The writer shut down cleanly.
    Stopped,
    /// The file was replaced: open the path again.
    Retired,
}

impl Liveness {
    /// `true` for [`Liveness::Live`].
    ///
    /// ```
    /// assert!(!lpscore_shm::Liveness::Retired.is_live());
    /// ```
    pub fn is_live(&self) -> bool {
        matches!(self, Liveness::Live { .. })
    }
}

/// One profile as read from the file.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("lpscore-doc-pinfo-{}", std::process::id()));
/// # let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
/// # w.set_profile(lpscore_shm::ProfileId::new(0), "fast", [2.0; 8], true)?;
/// let sb = lpscore_shm::Scoreboard::open(&path)?;
/// let p = sb.profile_info(sb.profile("fast").unwrap())?;
/// assert!(p.active && p.name.as_str() == "fast" && p.weights[0] == 2.0);
/// # drop(w); let _ = std::fs::remove_file(&path);
/// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProfileInfo {
    /// Profile name.
    pub name: Name,
    /// Whether the profile is active (inactive profiles hold NaN scores).
    pub active: bool,
    /// Weights: latency, fill rate, price improvement, impact, reject rate, effective spread,
    /// markout, reserved.
    pub weights: [f64; 8],
}

/// A read-only view of a scoreboard file.
///
/// ```
/// use lpscore_shm::{BucketSlot, ScoreRow, Scoreboard, Writer, WriterOptions, FLAG_HAS_DATA};
/// let path = std::env::temp_dir().join(format!("lpscore-doc-sb-{}", std::process::id()));
/// let mut w = Writer::create(&path, &WriterOptions::default())?;
/// let lp = w.add_lp("LP-A")?;
/// let sym = w.add_symbol("AAPL")?;
/// w.publish(sym, BucketSlot::Bucket(0), lp, &ScoreRow { flags: FLAG_HAS_DATA, n_orders: 5, ..Default::default() })?;
///
/// let sb = Scoreboard::open(&path)?;
/// let (lp, sym) = (sb.lp("LP-A").unwrap(), sb.symbol("AAPL").unwrap());
/// let row = sb.read(sym, sb.bucket_for(500), lp)?;
/// assert_eq!(row.n_orders, 5);
/// # drop(w); let _ = std::fs::remove_file(&path);
/// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Scoreboard {
    board: Board,
    epoch: u64,
}

fn os(op: &'static str) -> impl FnOnce(std::io::Error) -> OpenError {
    move |e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            OpenError::NotFound
        } else {
            OpenError::Os(OsError::new(op, &e))
        }
    }
}

impl Scoreboard {
    /// Opens and validates a scoreboard (`O_RDONLY`, `PROT_READ`). A READY or STOPPED file opens;
    /// INIT gives [`OpenError::NotReady`], RETIRED [`OpenError::Retired`].
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("lpscore-doc-open-{}", std::process::id()));
    /// std::fs::write(&path, b"not a scoreboard")?;
    /// assert!(matches!(lpscore_shm::Scoreboard::open(&path), Err(lpscore_shm::OpenError::TooShort { len: 16 })));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Scoreboard, OpenError> {
        let file = File::open(path.as_ref()).map_err(os("open"))?;
        let meta = file.metadata().map_err(os("fstat"))?;
        if !meta.is_file() {
            return Err(OpenError::NotAFile);
        }
        let len = meta.len();
        if len < HEADER_LEN as u64 {
            return Err(OpenError::TooShort { len });
        }
        let mut bytes = [0u8; HEADER_LEN];
        file.read_exact_at(&mut bytes, 0).map_err(os("pread"))?;
        let words = header_words(&bytes);
        let geo = check_header(&words, len)?;
        let map = Map::read_only(&file, geo.file_len as usize).map_err(os("mmap"))?;
        let board = Board::new(map, geo);
        // The identity cannot change within a file; check the mapping agrees with what we read.
        for (i, w) in words.iter().enumerate().take(16) {
            if board.hw(i).load(Ordering::Relaxed) != *w {
                return Err(OpenError::Inconsistent("header changed while opening"));
            }
        }
        if board.map.len() < HEADER_LEN {
            return Err(OpenError::TooShort { len });
        }
        let sb = Scoreboard {
            epoch: board.hw(hw::EPOCH).load(Ordering::Relaxed),
            board,
        };
        match sb.state() {
            state::READY | state::STOPPED => Ok(sb),
            state::RETIRED => Err(OpenError::Retired),
            state::INIT => Err(OpenError::NotReady),
            _ => Err(OpenError::Inconsistent("state")),
        }
    }

    /// Opens the path, waiting up to `timeout` for it to exist and be READY (it also reopens
    /// through a RETIRED file). Sleeps 1 ms between attempts (not a read-path call).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-owt-{}", std::process::id()));
    /// # let w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// let sb = lpscore_shm::Scoreboard::open_with_timeout(&path, std::time::Duration::from_secs(5))?;
    /// assert!(sb.epoch() >= 1);
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_with_timeout(
        path: impl AsRef<Path>,
        timeout: Duration,
    ) -> Result<Scoreboard, OpenError> {
        let path = path.as_ref();
        let deadline = map::monotonic_ns().saturating_add(timeout.as_nanos() as u64);
        loop {
            match Self::open(path) {
                Ok(sb) if sb.state() == state::READY => return Ok(sb),
                Ok(_)
                | Err(OpenError::NotFound)
                | Err(OpenError::NotReady)
                | Err(OpenError::Retired) => {}
                Err(e) => return Err(e),
            }
            if map::monotonic_ns() >= deadline {
                return Err(OpenError::Timeout);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[inline]
    fn load_acquire(&self, i: usize) -> u64 {
        // Relaxed load + fence(Acquire) = load(Acquire), but valid on a PROT_READ mapping (see
        // `seqlock`). Pairs with the writer's Release store of this header word.
        let v = self.board.hw(i).load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        v
    }

    fn state(&self) -> u64 {
        self.load_acquire(hw::STATE)
    }

    /// The capacities of this file.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-cap-{}", std::process::id()));
    /// # let w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// assert_eq!(sb.capacities(), lpscore_shm::Capacities::default());
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn capacities(&self) -> Capacities {
        Capacities::from_geometry(&self.board.geo)
    }

    /// The section geometry (offsets, row count, file length).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-geo-{}", std::process::id()));
    /// # let w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// assert_eq!(sb.geometry().lp_dir_off, 512);
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn geometry(&self) -> Geometry {
        self.board.geo
    }

    /// The epoch now in the file (compare with the one seen at open: [`Liveness::Restarted`]).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-ep-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// # let w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// assert_eq!(sb.epoch(), 1);
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn epoch(&self) -> u64 {
        self.load_acquire(hw::EPOCH)
    }

    /// Accepts a restarted writer's epoch (same file, same capacities) once the file is READY
    /// again; afterwards resolve LP and symbol ids again.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-rv-{}", std::process::id()));
    /// # let w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// let mut sb = lpscore_shm::Scoreboard::open(&path)?;
    /// sb.revalidate()?;
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn revalidate(&mut self) -> Result<(), OpenError> {
        match self.state() {
            state::READY | state::STOPPED => {
                self.epoch = self.epoch();
                Ok(())
            }
            state::RETIRED => Err(OpenError::Retired),
            _ => Err(OpenError::NotReady),
        }
    }

    /// The writer's pid, as stored in the header.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-pid-{}", std::process::id()));
    /// # let w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// assert_eq!(sb.writer_pid(), std::process::id());
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn writer_pid(&self) -> u32 {
        self.board.hw(hw::WRITER_PID).load(Ordering::Relaxed) as u32
    }

    /// Row publications since the writer started.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-pc-{}", std::process::id()));
    /// # let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// # w.publish_words(0, &[0; 15])?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// assert_eq!(sb.publish_count(), 1);
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn publish_count(&self) -> u64 {
        self.board.hw(hw::PUBLISH_COUNT).load(Ordering::Relaxed)
    }

    /// The writer's liveness: `Retired`, `Stopped`, `Restarted` (epoch changed since open),
    /// `WriterGone` (`kill(pid, 0)` says ESRCH; a syscall, so keep it off the read path), `Stale`
    /// (heartbeat older than `threshold`) or `Live`.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-live-{}", std::process::id()));
    /// let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// w.heartbeat();
    /// assert!(sb.staleness(std::time::Duration::from_secs(3600)).is_live());
    /// w.stop();
    /// assert_eq!(sb.staleness(std::time::Duration::from_secs(1)), lpscore_shm::Liveness::Stopped);
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn staleness(&self, threshold: Duration) -> Liveness {
        match self.state() {
            state::RETIRED => return Liveness::Retired,
            state::STOPPED => return Liveness::Stopped,
            _ => {}
        }
        if self.epoch() != self.epoch {
            return Liveness::Restarted;
        }
        if !map::pid_alive(self.board.hw(hw::WRITER_PID).load(Ordering::Relaxed)) {
            return Liveness::WriterGone;
        }
        let hb = self.load_acquire(hw::HEARTBEAT_NS);
        let age = Duration::from_nanos(map::monotonic_ns().saturating_sub(hb));
        if age > threshold {
            Liveness::Stale { age }
        } else {
            Liveness::Live { age }
        }
    }

    fn n_lps(&self) -> u64 {
        self.load_acquire(hw::N_LPS).min(self.board.geo.max_lps)
    }

    /// The id of LP `name` (a scan of the LP directory; no allocation, no syscall).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-lp-{}", std::process::id()));
    /// # let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// # w.add_lp("LP-A")?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// assert_eq!(sb.lp("LP-A").map(|l| l.index()), Some(0));
    /// assert_eq!(sb.lp("LP-Z"), None);
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lp(&self, name: &str) -> Option<LpId> {
        let (lo, hi) = layout::pack_name(name)?;
        (0..self.n_lps()).find_map(|l| {
            let e = self.board.lp_entry(l)?;
            (e.name_lo.load(Ordering::Relaxed) == lo
                && e.name_hi.load(Ordering::Relaxed) == hi
                && e.flags.load(Ordering::Relaxed) & LP_FLAG_IN_USE != 0)
                .then_some(LpId(l as u16))
        })
    }

    /// Whether the LP's scoring is paused (directory flag).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-lpp-{}", std::process::id()));
    /// # let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// # let lp = w.add_lp("LP-A")?; w.set_lp_paused(lp, true)?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// assert!(sb.lp_paused(sb.lp("LP-A").unwrap()));
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lp_paused(&self, lp: LpId) -> bool {
        self.board
            .lp_entry(lp.index() as u64)
            .is_some_and(|e| e.flags.load(Ordering::Relaxed) & LP_FLAG_PAUSED != 0)
    }

    /// The slot of symbol `name`: an open-addressing probe, no allocation, no syscall.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-sym-{}", std::process::id()));
    /// # let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// # w.add_symbol("AAPL")?; w.add_symbol("MSFT")?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// assert_eq!(sb.symbol("MSFT").map(|s| s.index()), Some(1));
    /// assert_eq!(sb.symbol("IBM"), None);
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn symbol(&self, name: &str) -> Option<SymbolId> {
        let (lo, hi) = layout::pack_name(name)?;
        let h = layout::fnv1a64(name.as_bytes());
        let cap = self.board.geo.sym_table_cap;
        let mut i = h & (cap - 1);
        for _ in 0..cap {
            let e = self.board.sym_entry(i)?;
            let tag = e.tag.load(Ordering::Relaxed);
            if tag == 0 {
                return None;
            }
            // Pairs with the writer's Release store of the tag: the other words are complete.
            fence(Ordering::Acquire);
            if e.hash.load(Ordering::Relaxed) == h
                && e.name_lo.load(Ordering::Relaxed) == lo
                && e.name_hi.load(Ordering::Relaxed) == hi
            {
                let slot = tag - 1;
                return (slot < self.board.geo.max_symbols).then_some(SymbolId(slot as u32));
            }
            i = (i + 1) & (cap - 1);
        }
        None
    }

    /// The registered LPs, in id order.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-lps-{}", std::process::id()));
    /// # let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// # w.add_lp("LP-A")?; w.add_lp("LP-B")?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// let names: Vec<String> = sb.lps().map(|(_, n)| n.to_string()).collect();
    /// assert_eq!(names, ["LP-A", "LP-B"]);
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lps(&self) -> impl Iterator<Item = (LpId, Name)> + '_ {
        (0..self.n_lps()).filter_map(|l| {
            let e = self.board.lp_entry(l)?;
            let n = Name::from_words(
                e.name_lo.load(Ordering::Relaxed),
                e.name_hi.load(Ordering::Relaxed),
            );
            Some((LpId(l as u16), n))
        })
    }

    /// The registered symbols, in table order (not slot order).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-syms-{}", std::process::id()));
    /// # let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// # w.add_symbol("AAPL")?; w.add_symbol("MSFT")?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// let mut names: Vec<String> = sb.symbols().map(|(_, n)| n.to_string()).collect();
    /// names.sort();
    /// assert_eq!(names, ["AAPL", "MSFT"]);
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn symbols(&self) -> impl Iterator<Item = (SymbolId, Name)> + '_ {
        let max = self.board.geo.max_symbols;
        (0..self.board.geo.sym_table_cap).filter_map(move |i| {
            let e = self.board.sym_entry(i)?;
            let tag = e.tag.load(Ordering::Relaxed);
            if tag == 0 || tag > max {
                return None;
            }
            // Pairs with the writer's Release store of the tag.
            fence(Ordering::Acquire);
            let n = Name::from_words(
                e.name_lo.load(Ordering::Relaxed),
                e.name_hi.load(Ordering::Relaxed),
            );
            Some((SymbolId((tag - 1) as u32), n))
        })
    }

    /// The id of profile `name`.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-pf-{}", std::process::id()));
    /// # let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// # w.set_profile(lpscore_shm::ProfileId::new(1), "cheap", [1.0; 8], true)?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// assert_eq!(sb.profile("cheap"), Some(lpscore_shm::ProfileId::new(1)));
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn profile(&self, name: &str) -> Option<ProfileId> {
        let (lo, hi) = layout::pack_name(name)?;
        let n = self
            .load_acquire(hw::N_PROFILES)
            .min(self.board.geo.max_profiles);
        (0..n).find_map(|p| {
            let w = profile_lock(self.board.profile(p)?).read().ok()?;
            (w[P_NAME_LO] == lo && w[P_NAME_HI] == hi).then_some(ProfileId(p as u8))
        })
    }

    /// Name, active flag and weights of a profile (one seqlock read).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-pi-{}", std::process::id()));
    /// # let w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// assert!(!sb.profile_info(lpscore_shm::ProfileId::new(0))?.active);
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn profile_info(&self, p: ProfileId) -> Result<ProfileInfo, ReadError> {
        let e = self
            .board
            .profile(p.index() as u64)
            .ok_or(ReadError::OutOfRange)?;
        let w = profile_lock(e).read()?;
        let mut weights = [0.0; 8];
        for (k, x) in weights.iter_mut().enumerate() {
            *x = f64::from_bits(w[P_WEIGHTS + k]);
        }
        Ok(ProfileInfo {
            name: Name::from_words(w[P_NAME_LO], w[P_NAME_HI]),
            active: w[P_FLAGS] & PROFILE_FLAG_ACTIVE != 0,
            weights,
        })
    }

    /// The weights of a profile.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-pw-{}", std::process::id()));
    /// # let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// # w.set_profile(lpscore_shm::ProfileId::new(0), "p", [0.5; 8], true)?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// assert_eq!(sb.profile_weights(lpscore_shm::ProfileId::new(0))?, [0.5; 8]);
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn profile_weights(&self, p: ProfileId) -> Result<[f64; 8], ReadError> {
        self.profile_info(p).map(|i| i.weights)
    }

    /// What the buckets measure.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-bu-{}", std::process::id()));
    /// # let w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// assert_eq!(sb.bucket_unit(), lpscore_shm::BucketUnit::NotionalUsd);
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bucket_unit(&self) -> BucketUnit {
        if self.board.hw(hw::BUCKET_UNIT).load(Ordering::Relaxed) == 1 {
            BucketUnit::Shares
        } else {
            BucketUnit::NotionalUsd
        }
    }

    /// The markout / impact horizon of the rows, ns.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-hz-{}", std::process::id()));
    /// # let w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// assert_eq!(sb.score_horizon_ns(), 1_000_000_000);
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn score_horizon_ns(&self) -> u64 {
        self.board.hw(hw::SCORE_HORIZON_NS).load(Ordering::Relaxed)
    }

    /// The finite upper edges of the size buckets, in [`Self::bucket_unit`]: bucket `i` covers
    /// `[edges[i-1], edges[i])`, the last bucket is unbounded, so there are `n_buckets - 1` edges.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-bu-{}", std::process::id()));
    /// # let w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// let edges = sb.bucket_edges();
    /// assert_eq!(edges.len(), sb.capacities().n_buckets as usize - 1);
    /// assert!(edges.windows(2).all(|e| e[0] < e[1]));
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bucket_edges(&self) -> Vec<u64> {
        let nb = self.board.geo.n_buckets as usize;
        (0..nb.saturating_sub(1))
            .map(|i| self.board.hw(hw::BUCKET_UPPER + i).load(Ordering::Relaxed))
            .collect()
    }

    /// The size bucket of an order of `qty` (notional USD or shares, see [`Self::bucket_unit`]):
    /// the first bucket whose upper bound exceeds it.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-bf-{}", std::process::id()));
    /// # let w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// use lpscore_shm::BucketSlot;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// assert_eq!(sb.bucket_for(9_999), BucketSlot::Bucket(0));
    /// assert_eq!(sb.bucket_for(10_000), BucketSlot::Bucket(1));
    /// assert_eq!(sb.bucket_for(u64::MAX), BucketSlot::Bucket(3));
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bucket_for(&self, qty: u64) -> BucketSlot {
        let nb = self.board.geo.n_buckets as usize;
        for b in 0..nb {
            if qty < self.board.hw(hw::BUCKET_UPPER + b).load(Ordering::Relaxed) {
                return BucketSlot::Bucket(b as u8);
            }
        }
        BucketSlot::Bucket((nb - 1) as u8)
    }

    /// The row index of (symbol slot, bucket slot, LP), `None` if out of range.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-rix-{}", std::process::id()));
    /// # let w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// assert_eq!(sb.row_index(lpscore_shm::SymbolId::new(0), lpscore_shm::BucketSlot::Bucket(0), lpscore_shm::LpId::new(2)), Some(2));
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn row_index(
        &self,
        symbol: impl Into<SymbolSlot>,
        bucket: BucketSlot,
        lp: LpId,
    ) -> Option<usize> {
        row_index(&self.board.geo, symbol.into(), bucket, lp).map(|i| i as usize)
    }

    /// One row, consistent (seqlock), or [`ReadError::Busy`] after [`crate::seqlock::MAX_TRIES`].
    /// A row never published reads as all zero (no [`crate::FLAG_HAS_DATA`]).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-read-{}", std::process::id()));
    /// # let w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// use lpscore_shm::{BucketSlot, LpId, SymbolSlot};
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// assert!(!sb.read(SymbolSlot::All, BucketSlot::All, LpId::new(0))?.has_data());
    /// assert!(sb.read(SymbolSlot::All, BucketSlot::All, LpId::new(999)).is_err());
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn read(
        &self,
        symbol: impl Into<SymbolSlot>,
        bucket: BucketSlot,
        lp: LpId,
    ) -> Result<ScoreRow, ReadError> {
        let idx =
            row_index(&self.board.geo, symbol.into(), bucket, lp).ok_or(ReadError::OutOfRange)?;
        let r = self.board.row(idx).ok_or(ReadError::OutOfRange)?;
        read_row(r).map(|w| ScoreRow::from_words(&w))
    }

    /// The raw 15 data words of row `row_index`, consistent (seqlock).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-rw-{}", std::process::id()));
    /// # let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// # w.publish_words(3, &[1; 15])?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// assert_eq!(sb.read_words(3)?, [1; 15]);
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn read_words(&self, row_index: usize) -> Result<[u64; ROW_DATA_WORDS], ReadError> {
        let r = self
            .board
            .row(row_index as u64)
            .ok_or(ReadError::OutOfRange)?;
        read_row(r)
    }

    /// The sequence word of row `row_index`: one load from the row's first cache line, no copy.
    /// It grows by 2 with every publication of the row (odd while a write is in progress), so a
    /// reader that only needs to know whether a row moved (to re-read it, or to time a
    /// publication) polls this word and leaves the row's second line to the writer. A new value
    /// says only that a write began: read the row ([`Self::read_words`]) for its contents.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-rseq-{}", std::process::id()));
    /// # let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// let before = sb.row_seq(3)?;
    /// w.publish_words(3, &[1; 15])?;
    /// assert_eq!(sb.row_seq(3)?, before + 2);
    /// assert!(sb.row_seq(usize::MAX).is_err());
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn row_seq(&self, row_index: usize) -> Result<u64, ReadError> {
        let r = self
            .board
            .row(row_index as u64)
            .ok_or(ReadError::OutOfRange)?;
        // Acquire pairs with the writer's final Release store of the even `seq`: a reader that
        // sees it and then reads the row sees at least that write's words.
        Ok(r.seq.load(Ordering::Acquire))
    }

    /// The LP's row over all symbols and all sizes.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-ras-{}", std::process::id()));
    /// # let w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// assert!(sb.read_all_symbols(lpscore_shm::LpId::new(0)).is_ok());
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn read_all_symbols(&self, lp: LpId) -> Result<ScoreRow, ReadError> {
        self.read(SymbolSlot::All, BucketSlot::All, lp)
    }

    /// The rows of LPs `0..n` of one (symbol, bucket), where `n = min(out.len(), registered LPs)`.
    /// The rows are contiguous in the file; each row is consistent on its own (one seqlock per
    /// row). Returns `n`, or [`ReadError::Busy`] if any row stayed busy.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-snap-{}", std::process::id()));
    /// # let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// # w.add_lp("A")?; w.add_lp("B")?; w.add_symbol("X")?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// let mut rows = [lpscore_shm::ScoreRow::default(); 16];
    /// let n = sb.snapshot(sb.symbol("X").unwrap(), lpscore_shm::BucketSlot::All, &mut rows)?;
    /// assert_eq!(n, 2);
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn snapshot(
        &self,
        symbol: impl Into<SymbolSlot>,
        bucket: BucketSlot,
        out: &mut [ScoreRow],
    ) -> Result<usize, ReadError> {
        let first = row_index(&self.board.geo, symbol.into(), bucket, LpId(0))
            .ok_or(ReadError::OutOfRange)?;
        let n = self.n_lps().min(out.len() as u64);
        let rows = self.board.rows(first, n).ok_or(ReadError::OutOfRange)?;
        for (o, r) in out.iter_mut().zip(rows) {
            *o = ScoreRow::from_words(&read_row(r)?);
        }
        Ok(n as usize)
    }

    /// The LPs of one (symbol, bucket), best first by `profile`'s score (see [`crate::route::rank`]).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-rank-{}", std::process::id()));
    /// # let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// # let (a, b) = (w.add_lp("A")?, w.add_lp("B")?);
    /// # let s = w.add_symbol("X")?;
    /// # let mut r = lpscore_shm::ScoreRow { flags: lpscore_shm::FLAG_HAS_DATA, ..Default::default() };
    /// # r.scores[0] = 10.0; w.publish(s, lpscore_shm::BucketSlot::All, a, &r)?;
    /// # r.scores[0] = 90.0; w.publish(s, lpscore_shm::BucketSlot::All, b, &r)?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// let mut best = [lpscore_shm::LpId::default(); 8];
    /// let n = sb.rank(sb.symbol("X").unwrap(), lpscore_shm::BucketSlot::All, lpscore_shm::ProfileId::new(0), &mut best);
    /// assert_eq!(&best[..n], &[sb.lp("B").unwrap(), sb.lp("A").unwrap()]);
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rank(
        &self,
        symbol: impl Into<SymbolSlot>,
        bucket: BucketSlot,
        profile: ProfileId,
        out: &mut [LpId],
    ) -> usize {
        crate::route::rank(self, symbol.into(), bucket, profile, out)
    }

    /// Number of registered LPs (rows `0..n` of each (symbol, bucket) can have data).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-nlps-{}", std::process::id()));
    /// # let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// # w.add_lp("A")?;
    /// let sb = lpscore_shm::Scoreboard::open(&path)?;
    /// assert_eq!(sb.lp_count(), 1);
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lp_count(&self) -> usize {
        self.n_lps() as usize
    }
}
