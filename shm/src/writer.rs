//! The single writer of a scoreboard file (the appliance's publish stage).
//!
//! Lifecycle (`LAYOUT.md`, "Writer lifecycle"): take `flock(LOCK_EX | LOCK_NB)` on `<path>.lock`;
//! take over a compatible file left by a dead or stopped writer in place (epoch + 1), or build
//! `<path>.tmp.<pid>` and `rename` it over the path (the old file, if it was a scoreboard, is marked
//! RETIRED). `state = STOPPED` on [`Writer::stop`] or drop.

use crate::board::{Board, check_header, header_words, profile_lock, row_lock};
use crate::error::{OsError, ShmError};
use crate::layout::{
    self, Geometry, HEADER_LEN, LAYOUT_HASH, LP_FLAG_IN_USE, LP_FLAG_PAUSED, MAGIC,
    PROFILE_FLAG_ACTIVE, ROW_DATA_WORDS, ROW_STRIDE, VERSION_WORD, hw, state,
};
use crate::map::{self, Map};
use crate::row::{
    BucketSlot, BucketUnit, FLAG_LP_PAUSED, LpId, P_FLAGS, P_NAME_HI, P_NAME_LO, P_WEIGHTS,
    ProfileId, ScoreRow, SymbolId, SymbolSlot,
};
use std::ffi::OsString;
use std::fs::{File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// The four capacities of a scoreboard (fixed for the life of the file).
///
/// ```
/// let c = lpscore_shm::Capacities { max_lps: 8, max_symbols: 100, n_buckets: 3, max_profiles: 2 };
/// assert_eq!(c.max_lps, 8);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacities {
    /// LPs, 1..=256.
    pub max_lps: u32,
    /// Symbols, 1..=2^20.
    pub max_symbols: u32,
    /// Size buckets (not counting the all-sizes slot), 1..=8.
    pub n_buckets: u32,
    /// Scoring profiles (= score slots per row), 1..=8.
    pub max_profiles: u32,
}

impl Default for Capacities {
    /// 32 LPs, 1024 symbols, 4 buckets, 4 profiles.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::Capacities::default().n_buckets, 4);
    /// ```
    fn default() -> Self {
        Capacities {
            max_lps: 32,
            max_symbols: 1024,
            n_buckets: 4,
            max_profiles: 4,
        }
    }
}

impl Capacities {
    pub(crate) fn geometry(&self) -> Result<Geometry, &'static str> {
        Geometry::checked(
            u64::from(self.max_lps),
            u64::from(self.max_symbols),
            u64::from(self.n_buckets),
            u64::from(self.max_profiles),
        )
    }

    pub(crate) fn from_geometry(g: &Geometry) -> Self {
        Capacities {
            max_lps: g.max_lps as u32,
            max_symbols: g.max_symbols as u32,
            n_buckets: g.n_buckets as u32,
            max_profiles: g.max_profiles as u32,
        }
    }
}

/// How to create the scoreboard.
///
/// ```
/// let o = lpscore_shm::WriterOptions::default();
/// assert_eq!(o.mode, 0o640);
/// assert_eq!(o.bucket_upper[o.capacities.n_buckets as usize - 1], u64::MAX);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterOptions {
    /// The capacities.
    pub capacities: Capacities,
    /// What the size buckets measure.
    pub bucket_unit: BucketUnit,
    /// Exclusive upper bounds of buckets `0..n_buckets`, strictly increasing; the last used one is
    /// stored as `u64::MAX` whatever is given, and so are the unused ones.
    pub bucket_upper: [u64; 8],
    /// Markout / impact horizon of the rows, ns.
    pub score_horizon_ns: u64,
    /// Group id to `fchown` the file (and its lock file) to, so that SOR users in that group can
    /// read it.
    pub group: Option<u32>,
    /// File mode, default `0o640` (owner read-write, group read).
    pub mode: u32,
}

impl Default for WriterOptions {
    /// Default capacities; buckets < $10k, < $100k, < $1M, the rest; 1 s horizon; mode 0640.
    ///
    /// ```
    /// assert_eq!(lpscore_shm::WriterOptions::default().bucket_upper[0], 10_000);
    /// ```
    fn default() -> Self {
        WriterOptions {
            capacities: Capacities::default(),
            bucket_unit: BucketUnit::NotionalUsd,
            bucket_upper: [
                10_000,
                100_000,
                1_000_000,
                u64::MAX,
                u64::MAX,
                u64::MAX,
                u64::MAX,
                u64::MAX,
            ],
            score_horizon_ns: 1_000_000_000,
            group: None,
            mode: 0o640,
        }
    }
}

/// The writer of one scoreboard file. Only the writer maps the file read-write.
///
/// ```
/// use lpscore_shm::{BucketSlot, ScoreRow, SymbolSlot, Writer, WriterOptions, FLAG_HAS_DATA};
/// let path = std::env::temp_dir().join(format!("lpscore-doc-writer-{}", std::process::id()));
/// let mut w = Writer::create(&path, &WriterOptions::default())?;
/// let lp = w.add_lp("LP-A")?;
/// let sym = w.add_symbol("EURUSD")?;
/// let row = ScoreRow { flags: FLAG_HAS_DATA, fill_rate: 0.9, ..Default::default() };
/// w.publish(sym, BucketSlot::All, lp, &row)?;
/// w.publish(SymbolSlot::All, BucketSlot::All, lp, &row)?;
/// w.heartbeat();
/// w.stop();
/// # drop(w); let _ = std::fs::remove_file(&path);
/// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
/// # Ok::<(), lpscore_shm::ShmError>(())
/// ```
pub struct Writer {
    board: Board,
    path: PathBuf,
    _file: File,
    _lock: File,
    epoch: u64,
    n_lps: u64,
    n_symbols: u64,
    paused: [u64; 4],
    publish_count: u64,
    stopped: bool,
    /// The CPU has PREFETCHW (`map::has_prefetchw`).
    prefetchw: bool,
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn os(op: &'static str) -> impl FnOnce(std::io::Error) -> ShmError {
    move |e| ShmError::Os(OsError::new(op, &e))
}

fn apply_owner(file: &File, opts: &WriterOptions) -> Result<(), ShmError> {
    file.set_permissions(Permissions::from_mode(opts.mode))
        .map_err(os("fchmod"))?;
    if let Some(gid) = opts.group {
        std::os::unix::fs::fchown(file, None, Some(gid)).map_err(os("fchown"))?;
    }
    Ok(())
}

/// How long `create` keeps trying a lock that is held. A lock is also held, briefly, by any child
/// process forked between `fork` and `exec` (it inherits the descriptor until `O_CLOEXEC` closes
/// it), so a writer restarted inside a process that spawns children must not fail on that window.
/// A live writer holds it far longer and is refused after this grace.
const LOCK_GRACE_NS: u64 = 500_000_000;

fn lock_with_grace(lock: &File) -> Result<bool, ShmError> {
    let deadline = map::monotonic_ns().saturating_add(LOCK_GRACE_NS);
    loop {
        if map::try_lock_exclusive(lock).map_err(os("flock"))? {
            return Ok(true);
        }
        if map::monotonic_ns() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// What lies at the path before we start.
enum Existing {
    None,
    /// Not a scoreboard we understand: replace without touching it.
    Foreign,
    /// A valid scoreboard: its file, geometry and epoch.
    Valid(File, Geometry, u64),
}

fn examine(path: &Path) -> Result<Existing, ShmError> {
    let file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Existing::None),
        Err(_) => return Ok(Existing::Foreign),
    };
    let Ok(meta) = file.metadata() else {
        return Ok(Existing::Foreign);
    };
    if !meta.is_file() || meta.len() < HEADER_LEN as u64 {
        return Ok(Existing::Foreign);
    }
    let mut bytes = [0u8; HEADER_LEN];
    if file.read_exact_at(&mut bytes, 0).is_err() {
        return Ok(Existing::Foreign);
    }
    let w = header_words(&bytes);
    match check_header(&w, meta.len()) {
        Ok(geo) => Ok(Existing::Valid(file, geo, w[hw::EPOCH])),
        Err(_) => Ok(Existing::Foreign),
    }
}

impl Writer {
    /// Creates (or takes over) the scoreboard at `path` and leaves it READY with empty directories.
    ///
    /// Errors: [`ShmError::AlreadyOwned`] when another live writer holds `<path>.lock` (after a
    /// grace of 500 ms, for locks held only transiently by a forked child before its `exec`),
    /// [`ShmError::BadOption`] for capacities or buckets out of range, [`ShmError::Os`] otherwise.
    ///
    /// ```
    /// use lpscore_shm::{Writer, WriterOptions, ShmError};
    /// let path = std::env::temp_dir().join(format!("lpscore-doc-create-{}", std::process::id()));
    /// let w = Writer::create(&path, &WriterOptions::default())?;
    /// // A second writer on the same path is refused, naming the owner.
    /// match Writer::create(&path, &WriterOptions::default()) {
    ///     Err(ShmError::AlreadyOwned { pid }) => assert_eq!(pid, std::process::id()),
    ///     _ => unreachable!(),
    /// }
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), ShmError>(())
    /// ```
    pub fn create(path: impl AsRef<Path>, opts: &WriterOptions) -> Result<Writer, ShmError> {
        let path = path.as_ref().to_path_buf();
        let geo = opts.capacities.geometry().map_err(ShmError::BadOption)?;
        let nb = geo.n_buckets as usize;
        let mut upper = [u64::MAX; 8];
        upper[..nb - 1].copy_from_slice(&opts.bucket_upper[..nb - 1]);
        if upper[..nb].windows(2).any(|p| p[0] >= p[1]) || (nb > 1 && upper[0] == 0) {
            return Err(ShmError::BadOption("bucket_upper"));
        }
        if opts.mode > 0o7777 {
            return Err(ShmError::BadOption("mode"));
        }
        let pid = std::process::id();

        // 1. The lock, held for the writer's lifetime.
        let lock_path = with_suffix(&path, ".lock");
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(opts.mode)
            .custom_flags(libc::O_CLOEXEC)
            .open(&lock_path)
            .map_err(os("open lock file"))?;
        if !lock_with_grace(&lock)? {
            let mut buf = [0u8; 16];
            let n = lock.read_at(&mut buf, 0).unwrap_or(0);
            let owner = core::str::from_utf8(&buf[..n])
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            return Err(ShmError::AlreadyOwned { pid: owner });
        }
        // Best effort: the pid in the lock file names us to a refused second writer.
        let _ = lock.set_len(0);
        let _ = lock.write_all_at(format!("{pid}\n").as_bytes(), 0);
        let _ = lock.flush();
        let _ = apply_owner(&lock, opts);

        // 2. Take over in place, or build a new file and rename it over.
        let existing = examine(&path)?;
        let (file, board, epoch) = match existing {
            Existing::Valid(file, old_geo, old_epoch) if old_geo == geo => {
                apply_owner(&file, opts)?;
                let len = geo.file_len as usize;
                let map = Map::read_write(&file, len).map_err(os("mmap"))?;
                let board = Board::new(map, geo);
                let epoch = old_epoch.wrapping_add(1);
                takeover(&board, epoch, pid);
                write_buckets(&board, opts, &upper);
                ready(&board);
                (file, board, epoch)
            }
            other => {
                let (old, epoch) = match other {
                    Existing::Valid(f, _, e) => (Some(f), e.wrapping_add(1)),
                    _ => (None, 1),
                };
                let tmp = with_suffix(&path, &format!(".tmp.{pid}"));
                let _ = std::fs::remove_file(&tmp);
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .mode(opts.mode)
                    .custom_flags(libc::O_CLOEXEC)
                    .open(&tmp)
                    .map_err(os("create temporary file"))?;
                let built = (|| {
                    apply_owner(&file, opts)?;
                    file.set_len(geo.file_len).map_err(os("ftruncate"))?;
                    let map = Map::read_write(&file, geo.file_len as usize).map_err(os("mmap"))?;
                    let board = Board::new(map, geo);
                    write_identity(&board);
                    start_epoch(&board, epoch, pid);
                    Ok::<_, ShmError>(board)
                })();
                let board = match built {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = std::fs::remove_file(&tmp);
                        return Err(e);
                    }
                };
                write_buckets(&board, opts, &upper);
                ready(&board);
                if let Err(e) = std::fs::rename(&tmp, &path) {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(ShmError::Os(OsError::new("rename", &e)));
                }
                // Readers of the old file see RETIRED and reopen the path, which now names ours.
                if let Some(old) = old {
                    if let Ok(m) = Map::read_write(&old, HEADER_LEN) {
                        let b = Board::new(m, Geometry::new(1, 1, 1, 1));
                        // Release: pairs with the readers' state load + fence(Acquire).
                        b.hw(hw::STATE).store(state::RETIRED, Ordering::Release);
                    }
                }
                (file, board, epoch)
            }
        };
        Ok(Writer {
            board,
            path,
            _file: file,
            _lock: lock,
            epoch,
            n_lps: 0,
            n_symbols: 0,
            paused: [0; 4],
            publish_count: 0,
            stopped: false,
            prefetchw: map::has_prefetchw(),
        })
    }

    /// The path of the scoreboard file.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-path-{}", std::process::id()));
    /// let w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// assert_eq!(w.path(), path.as_path());
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), lpscore_shm::ShmError>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This writer's epoch (1 for a new file, previous + 1 after a takeover).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-epoch-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// assert_eq!(w.epoch(), 1);
    /// drop(w);
    /// let w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// assert_eq!(w.epoch(), 2);
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), lpscore_shm::ShmError>(())
    /// ```
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The capacities.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-wcap-{}", std::process::id()));
    /// let w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// assert_eq!(w.capacities(), lpscore_shm::Capacities::default());
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), lpscore_shm::ShmError>(())
    /// ```
    pub fn capacities(&self) -> Capacities {
        Capacities::from_geometry(&self.board.geo)
    }

    /// Registers an LP (or returns the id it already has).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-addlp-{}", std::process::id()));
    /// let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// let a = w.add_lp("LP-A")?;
    /// assert_eq!(w.add_lp("LP-A")?, a);
    /// assert_eq!(w.add_lp(""), Err(lpscore_shm::ShmError::BadName));
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), lpscore_shm::ShmError>(())
    /// ```
    pub fn add_lp(&mut self, name: &str) -> Result<LpId, ShmError> {
        let (lo, hi) = layout::pack_name(name).ok_or(ShmError::BadName)?;
        for l in 0..self.n_lps {
            if let Some(e) = self.board.lp_entry(l) {
                if e.name_lo.load(Ordering::Relaxed) == lo
                    && e.name_hi.load(Ordering::Relaxed) == hi
                {
                    return Ok(LpId(l as u16));
                }
            }
        }
        let l = self.n_lps;
        let e = self
            .board
            .lp_entry(l)
            .ok_or(ShmError::Full("LP directory"))?;
        // Relaxed: published by the Release store of n_lps below.
        e.name_lo.store(lo, Ordering::Relaxed);
        e.name_hi.store(hi, Ordering::Relaxed);
        e.flags.store(LP_FLAG_IN_USE, Ordering::Relaxed);
        self.n_lps += 1;
        // Release pairs with the reader's n_lps load + fence(Acquire): the entry is visible first.
        self.board
            .hw(hw::N_LPS)
            .store(self.n_lps, Ordering::Release);
        Ok(LpId(l as u16))
    }

    /// Registers a symbol (or returns the slot it already has).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-addsym-{}", std::process::id()));
    /// let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// assert_eq!(w.add_symbol("EURUSD")?.index(), 0);
    /// assert_eq!(w.add_symbol("USDJPY")?.index(), 1);
    /// assert_eq!(w.add_symbol("EURUSD")?.index(), 0);
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), lpscore_shm::ShmError>(())
    /// ```
    pub fn add_symbol(&mut self, name: &str) -> Result<SymbolId, ShmError> {
        let (lo, hi) = layout::pack_name(name).ok_or(ShmError::BadName)?;
        let h = layout::fnv1a64(name.as_bytes());
        let cap = self.board.geo.sym_table_cap;
        let mut i = h & (cap - 1);
        for _ in 0..cap {
            let e = self.board.sym_entry(i).ok_or(ShmError::OutOfRange)?;
            let tag = e.tag.load(Ordering::Relaxed);
            if tag == 0 {
                if self.n_symbols >= self.board.geo.max_symbols {
                    return Err(ShmError::Full("symbol table"));
                }
                let slot = self.n_symbols;
                // Relaxed: published by the Release store of the tag.
                e.name_lo.store(lo, Ordering::Relaxed);
                e.name_hi.store(hi, Ordering::Relaxed);
                e.hash.store(h, Ordering::Relaxed);
                // Release pairs with the reader's tag load + fence(Acquire) in the lookup.
                e.tag.store(slot + 1, Ordering::Release);
                self.n_symbols += 1;
                // Release pairs with the reader's n_symbols load + fence(Acquire).
                self.board
                    .hw(hw::N_SYMBOLS)
                    .store(self.n_symbols, Ordering::Release);
                return Ok(SymbolId(slot as u32));
            }
            if e.hash.load(Ordering::Relaxed) == h
                && e.name_lo.load(Ordering::Relaxed) == lo
                && e.name_hi.load(Ordering::Relaxed) == hi
            {
                return Ok(SymbolId((tag - 1) as u32));
            }
            i = (i + 1) & (cap - 1);
        }
        Err(ShmError::Full("symbol table"))
    }

    /// Sets profile `idx` (name, weights, active flag) through its seqlock; `n_profiles` grows to
    /// cover it.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-prof-{}", std::process::id()));
    /// let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// w.set_profile(lpscore_shm::ProfileId::new(0), "balanced", [1.0; 8], true)?;
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), lpscore_shm::ShmError>(())
    /// ```
    pub fn set_profile(
        &mut self,
        idx: ProfileId,
        name: &str,
        weights: [f64; 8],
        active: bool,
    ) -> Result<(), ShmError> {
        let (lo, hi) = layout::pack_name(name).ok_or(ShmError::BadName)?;
        let p = self
            .board
            .profile(idx.index() as u64)
            .ok_or(ShmError::OutOfRange)?;
        let mut words = [0u64; ROW_DATA_WORDS];
        words[P_NAME_LO] = lo;
        words[P_NAME_HI] = hi;
        words[P_FLAGS] = if active { PROFILE_FLAG_ACTIVE } else { 0 };
        for (k, wt) in weights.iter().enumerate() {
            words[P_WEIGHTS + k] = wt.to_bits();
        }
        profile_lock(p).write(&words);
        let n = self.board.hw(hw::N_PROFILES);
        let want = idx.index() as u64 + 1;
        // Relaxed load: only this thread writes it.
        if n.load(Ordering::Relaxed) < want {
            // Release pairs with the reader's n_profiles load + fence(Acquire).
            n.store(want, Ordering::Release);
        }
        Ok(())
    }

    /// Pauses or resumes scoring of an LP: sets the directory flag, and rows published for it from
    /// now on carry [`crate::FLAG_LP_PAUSED`].
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-pause-{}", std::process::id()));
    /// let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// let lp = w.add_lp("LP-A")?;
    /// w.set_lp_paused(lp, true)?;
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), lpscore_shm::ShmError>(())
    /// ```
    pub fn set_lp_paused(&mut self, lp: LpId, paused: bool) -> Result<(), ShmError> {
        let l = lp.index() as u64;
        if l >= self.n_lps {
            return Err(ShmError::OutOfRange);
        }
        let e = self.board.lp_entry(l).ok_or(ShmError::OutOfRange)?;
        let bit = 1u64 << (l % 64);
        let flags = if paused {
            self.paused[(l / 64) as usize] |= bit;
            LP_FLAG_IN_USE | LP_FLAG_PAUSED
        } else {
            self.paused[(l / 64) as usize] &= !bit;
            LP_FLAG_IN_USE
        };
        // Release: a reader that sees the flag also sees the entry (already published by n_lps).
        e.flags.store(flags, Ordering::Release);
        Ok(())
    }

    /// The row index of (symbol slot, bucket slot, LP), or `None` if out of range.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-ri-{}", std::process::id()));
    /// let w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// assert_eq!(w.row_index(lpscore_shm::SymbolId::new(0), lpscore_shm::BucketSlot::Bucket(0), lpscore_shm::LpId::new(1)), Some(1));
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), lpscore_shm::ShmError>(())
    /// ```
    pub fn row_index(
        &self,
        symbol: impl Into<SymbolSlot>,
        bucket: BucketSlot,
        lp: LpId,
    ) -> Option<usize> {
        row_index(&self.board.geo, symbol.into(), bucket, lp).map(|i| i as usize)
    }

    /// Asks the CPU for the cache lines of a row that will be published soon, so that the
    /// [`Writer::publish`] of a pass over many rows does not stall on each row's cache miss in
    /// turn. A hint: nothing changes in the file; an out-of-range row is ignored.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-pf-{}", std::process::id()));
    /// let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// let lp = w.add_lp("LP-A")?;
    /// w.prefetch(lpscore_shm::SymbolSlot::All, lpscore_shm::BucketSlot::All, lp);
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), lpscore_shm::ShmError>(())
    /// ```
    #[inline]
    pub fn prefetch(&self, symbol: impl Into<SymbolSlot>, bucket: BucketSlot, lp: LpId) {
        if let Some(r) =
            row_index(&self.board.geo, symbol.into(), bucket, lp).and_then(|i| self.board.row(i))
        {
            map::prefetch_write(
                (r as *const layout::Row).cast::<u8>(),
                ROW_STRIDE,
                self.prefetchw,
            );
        }
    }

    /// Publishes one row through its seqlock (rows of paused LPs get [`crate::FLAG_LP_PAUSED`]).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-pub-{}", std::process::id()));
    /// let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// let lp = w.add_lp("LP-A")?;
    /// w.publish(lpscore_shm::SymbolSlot::All, lpscore_shm::BucketSlot::All, lp, &Default::default())?;
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), lpscore_shm::ShmError>(())
    /// ```
    #[inline]
    pub fn publish(
        &mut self,
        symbol: impl Into<SymbolSlot>,
        bucket: BucketSlot,
        lp: LpId,
        row: &ScoreRow,
    ) -> Result<(), ShmError> {
        let idx =
            row_index(&self.board.geo, symbol.into(), bucket, lp).ok_or(ShmError::OutOfRange)?;
        let mut words = row.to_words();
        let l = lp.index();
        if self.paused[l / 64] & (1u64 << (l % 64)) != 0 {
            words[6] |= u64::from(FLAG_LP_PAUSED) << 32;
        }
        self.write_row(idx, &words)
    }

    /// Publishes the raw 15 data words of row `row_index` (for tests and tools).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-pubw-{}", std::process::id()));
    /// let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// w.publish_words(0, &[7; 15])?;
    /// assert!(w.publish_words(usize::MAX, &[0; 15]).is_err());
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), lpscore_shm::ShmError>(())
    /// ```
    #[inline]
    pub fn publish_words(
        &mut self,
        row_index: usize,
        words: &[u64; ROW_DATA_WORDS],
    ) -> Result<(), ShmError> {
        self.write_row(row_index as u64, words)
    }

    #[inline]
    fn write_row(&mut self, idx: u64, words: &[u64; ROW_DATA_WORDS]) -> Result<(), ShmError> {
        if self.stopped {
            return Err(ShmError::Stopped);
        }
        let r = self.board.row(idx).ok_or(ShmError::OutOfRange)?;
        // Both lines exclusive before `seq` goes odd: a reader then sees the odd value for the
        // few nanoseconds of the stores, not for a transfer of the second line (LAYOUT.md,
        // "Seqlock protocol": with read_row's prefetch, a read that meets a new publication
        // costs about one line transfer instead of three).
        map::prefetch_write(
            (r as *const layout::Row).cast::<u8>(),
            ROW_STRIDE,
            self.prefetchw,
        );
        row_lock(r).write(words);
        self.publish_count += 1;
        // Relaxed: a statistic; only this writer stores it.
        self.board
            .hw(hw::PUBLISH_COUNT)
            .store(self.publish_count, Ordering::Relaxed);
        Ok(())
    }

    /// Stores `heartbeat_ns` = `CLOCK_MONOTONIC` now. Call it at least every 100 ms.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-hb-{}", std::process::id()));
    /// let w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// w.heartbeat();
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), lpscore_shm::ShmError>(())
    /// ```
    pub fn heartbeat(&self) {
        if !self.stopped {
            // Release: readers that see this heartbeat see everything published before it.
            self.board
                .hw(hw::HEARTBEAT_NS)
                .store(map::monotonic_ns(), Ordering::Release);
        }
    }

    /// Marks the file STOPPED (clean shutdown). Also done on drop. Further publications fail with
    /// [`ShmError::Stopped`].
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("lpscore-doc-stop-{}", std::process::id()));
    /// let mut w = lpscore_shm::Writer::create(&path, &Default::default())?;
    /// w.stop();
    /// assert_eq!(w.publish_words(0, &[0; 15]), Err(lpscore_shm::ShmError::Stopped));
    /// # drop(w); let _ = std::fs::remove_file(&path);
    /// # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
    /// # Ok::<(), lpscore_shm::ShmError>(())
    /// ```
    pub fn stop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            // Release pairs with the reader's state load + fence(Acquire).
            self.board
                .hw(hw::STATE)
                .store(state::STOPPED, Ordering::Release);
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn row_index(
    geo: &Geometry,
    symbol: SymbolSlot,
    bucket: BucketSlot,
    lp: LpId,
) -> Option<u64> {
    let s = match symbol {
        SymbolSlot::One(s) if u64::from(s.0) < geo.max_symbols => u64::from(s.0),
        SymbolSlot::One(_) => return None,
        SymbolSlot::All => geo.max_symbols,
    };
    let b = match bucket {
        BucketSlot::Bucket(b) if u64::from(b) < geo.n_buckets => u64::from(b),
        BucketSlot::Bucket(_) => return None,
        BucketSlot::All => geo.n_buckets,
    };
    geo.row_index(s, b, lp.index() as u64)
}

/// Block 0 of a new file (the identity), all Relaxed: published by the READY store.
fn write_identity(b: &Board) {
    let g = &b.geo;
    let vals = [
        (hw::MAGIC, MAGIC),
        (hw::VERSION, VERSION_WORD),
        (hw::LAYOUT_HASH, LAYOUT_HASH),
        (hw::FILE_LEN, g.file_len),
        (hw::HEADER_LEN, HEADER_LEN as u64),
        (hw::ROW_STRIDE, ROW_STRIDE as u64),
        (hw::MAX_LPS, g.max_lps),
        (hw::MAX_SYMBOLS, g.max_symbols),
        (hw::N_BUCKETS, g.n_buckets),
        (hw::MAX_PROFILES, g.max_profiles),
        (hw::SYM_TABLE_CAP, g.sym_table_cap),
        (hw::LP_DIR_OFF, g.lp_dir_off),
        (hw::SYM_DIR_OFF, g.sym_dir_off),
        (hw::PROFILE_DIR_OFF, g.profile_dir_off),
        (hw::ROWS_OFF, g.rows_off),
        (hw::N_ROWS, g.n_rows),
    ];
    for (i, v) in vals {
        b.hw(i).store(v, Ordering::Relaxed);
    }
}

/// Block 1 for a new epoch (state INIT first).
fn start_epoch(b: &Board, epoch: u64, pid: u32) {
    // Release: readers that still see READY after this are told by the epoch change.
    b.hw(hw::STATE).store(state::INIT, Ordering::Release);
    b.hw(hw::EPOCH).store(epoch, Ordering::Release);
    b.hw(hw::WRITER_PID)
        .store(u64::from(pid), Ordering::Relaxed);
    b.hw(hw::START_WALL_NS)
        .store(map::realtime_ns(), Ordering::Relaxed);
    b.hw(hw::PUBLISH_COUNT).store(0, Ordering::Relaxed);
    b.hw(hw::N_LPS).store(0, Ordering::Release);
    b.hw(hw::N_SYMBOLS).store(0, Ordering::Release);
    b.hw(hw::N_PROFILES).store(0, Ordering::Release);
    b.hw(hw::HEARTBEAT_NS)
        .store(map::monotonic_ns(), Ordering::Release);
}

fn write_buckets(b: &Board, opts: &WriterOptions, upper: &[u64; 8]) {
    b.hw(hw::BUCKET_UNIT)
        .store(opts.bucket_unit as u64, Ordering::Relaxed);
    for (k, &u) in upper.iter().enumerate() {
        b.hw(hw::BUCKET_UPPER + k).store(u, Ordering::Relaxed);
    }
    b.hw(hw::SCORE_HORIZON_NS)
        .store(opts.score_horizon_ns, Ordering::Relaxed);
}

fn ready(b: &Board) {
    b.hw(hw::HEARTBEAT_NS)
        .store(map::monotonic_ns(), Ordering::Release);
    // Release pairs with the reader's state load + fence(Acquire): everything above is visible to a
    // reader that sees READY.
    b.hw(hw::STATE).store(state::READY, Ordering::Release);
}

/// In-place takeover: state INIT, epoch, pid, then clear directories and rows (rows through their
/// seqlock, so that a reader mid-read retries rather than sees a mix). READY is stored by the caller.
fn takeover(b: &Board, epoch: u64, pid: u32) {
    start_epoch(b, epoch, pid);
    let g = b.geo;
    for l in 0..g.max_lps {
        if let Some(e) = b.lp_entry(l) {
            e.flags.store(0, Ordering::Relaxed);
            e.name_lo.store(0, Ordering::Relaxed);
            e.name_hi.store(0, Ordering::Relaxed);
            e.reserved.store(0, Ordering::Relaxed);
        }
    }
    for i in 0..g.sym_table_cap {
        if let Some(e) = b.sym_entry(i) {
            // Tag first: a concurrent lookup stops at an empty tag.
            e.tag.store(0, Ordering::Release);
            e.name_lo.store(0, Ordering::Relaxed);
            e.name_hi.store(0, Ordering::Relaxed);
            e.hash.store(0, Ordering::Relaxed);
        }
    }
    let zero = [0u64; ROW_DATA_WORDS];
    for p in 0..g.max_profiles {
        if let Some(e) = b.profile(p) {
            profile_lock(e).write(&zero);
        }
    }
    for i in 0..g.n_rows {
        if let Some(r) = b.row(i) {
            // seq 0: never written since the file was built, so all zero already.
            if r.seq.load(Ordering::Relaxed) != 0 {
                row_lock(r).write(&zero);
            }
        }
    }
}
