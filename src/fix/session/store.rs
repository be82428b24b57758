//! Persisted sequence numbers: one small file per session, written in place (mapped, or by
//! `pwrite` where every write is fsynced).
//!
//! ```text
//! file (96 bytes) = slot A (48 bytes) | slot B (48 bytes), written alternately
//! slot: magic "LPSQ" | version u16 | 0 u16 | generation u64 | next_in u64 | next_out u64
//!       | period_start_ns u64 | FNV-1a 64 of the 40 bytes before it        (little endian)
//! ```
//!
//! A write goes to the slot not holding the newest record, so a torn write (power loss without
//! fsync, or the process killed mid-copy) leaves the other slot intact; `open` takes the valid
//! slot of highest generation. A write reaches the page cache, which survives the death of the
//! process; `fsync` in [`StoreOptions`] makes it survive the machine too (one `fdatasync` per
//! write).
//!
//! Without `fsync` the file is mapped (`MAP_SHARED`) and a write is a 48-byte copy into the
//! page cache: the same durability as a `pwrite`, without its system call (about 0.8-1 us a
//! message on the reference VM, as long as the engine's whole work on a message). The cost of a
//! mapping: the file must stay ours. Truncating it while a session runs makes the next write
//! fault (SIGBUS), as would a full disk on a copy-on-write filesystem (btrfs, ZFS); keep
//! `store_dir` on a local ext4 or XFS volume, or set `store_fsync`.
#![allow(unsafe_code)] // `flock` and the mapping of the store file: `SeqStore::open_with`

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::SessionKey;

const MAGIC: &[u8; 4] = b"LPSQ";
const VERSION: u16 = 1;
const SLOT: usize = 48;
const FILE_LEN: u64 = 2 * SLOT as u64;

/// Store options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// `fdatasync` after every write.
    pub fsync: bool,
}

/// Why the store could not be opened or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// A system call failed.
    Io {
        /// The store file (or directory).
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The error kind.
        kind: io::ErrorKind,
        /// The OS error text.
        message: String,
    },
    /// The file exists but holds no valid record.
    Corrupt {
        /// The store file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Another open store holds the file's lock: another lpscore process, or a second session
    /// of this one with the same CompIDs and `store_dir`. Each would overwrite the other's
    /// numbers.
    InUse {
        /// The store file.
        path: PathBuf,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io {
                path, op, message, ..
            } => write!(
                f,
                "sequence store {}: {op} failed: {message}",
                path.display()
            ),
            Self::InUse { path } => write!(
                f,
                "sequence store {} is in use by another session (another lpscore process, or a \
                 second session with the same CompIDs and store_dir): each session needs its own",
                path.display()
            ),
            Self::Corrupt { path, reason } => write!(
                f,
                "sequence store {} is corrupt ({reason}); if the counterparty agrees to restart \
                 at 1, delete the file (or log on with ResetSeqNumFlag), otherwise restore it",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StoreError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    generation: u64,
    next_in: u64,
    next_out: u64,
    period_start_ns: u64,
}

impl Record {
    fn encode(&self) -> [u8; SLOT] {
        let mut b = [0u8; SLOT];
        b[0..4].copy_from_slice(MAGIC);
        b[4..6].copy_from_slice(&VERSION.to_le_bytes());
        b[8..16].copy_from_slice(&self.generation.to_le_bytes());
        b[16..24].copy_from_slice(&self.next_in.to_le_bytes());
        b[24..32].copy_from_slice(&self.next_out.to_le_bytes());
        b[32..40].copy_from_slice(&self.period_start_ns.to_le_bytes());
        let sum = fnv1a(&b[0..40]);
        b[40..48].copy_from_slice(&sum.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Result<Self, &'static str> {
        let u64_at = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(w)
        };
        if b.len() != SLOT || &b[0..4] != MAGIC {
            return Err("bad magic");
        }
        if u64_at(40) != fnv1a(&b[0..40]) {
            return Err("checksum mismatch");
        }
        if b[4..6] != VERSION.to_le_bytes() {
            return Err("unknown version");
        }
        let r = Self {
            generation: u64_at(8),
            next_in: u64_at(16),
            next_out: u64_at(24),
            period_start_ns: u64_at(32),
        };
        if r.next_in == 0 || r.next_out == 0 {
            return Err("sequence number 0");
        }
        Ok(r)
    }
}

fn io_error(path: &Path, op: &'static str, e: io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        op,
        kind: e.kind(),
        message: e.to_string(),
    }
}

/// The newest valid record of a store file of `len` bytes: the valid slot of the highest
/// generation (one torn slot is logged and skipped).
fn read_record(file: &File, path: &Path, len: u64) -> Result<Record, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    if len != FILE_LEN {
        return Err(corrupt(format!("{len} bytes, expected {FILE_LEN}")));
    }
    let mut b = [0u8; 2 * SLOT];
    file.read_exact_at(&mut b, 0)
        .map_err(|e| io_error(path, "read", e))?;
    match (Record::decode(&b[..SLOT]), Record::decode(&b[SLOT..])) {
        (Ok(a), Ok(b)) => Ok(if a.generation >= b.generation { a } else { b }),
        (Ok(a), Err(why)) | (Err(why), Ok(a)) => {
            tracing::warn!(path = %path.display(), why, "sequence store: one slot unreadable (torn write?), using the other");
            Ok(a)
        }
        (Err(a), Err(b)) => Err(corrupt(format!("slot A: {a}, slot B: {b}"))),
    }
}

fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The persisted `next_in` / `next_out` of one session (and the start of the schedule period
/// they belong to).
#[derive(Debug)]
pub struct SeqStore {
    /// `None`: in memory only ([`SeqStore::memory`]).
    file: Option<File>,
    /// The file's two slots, mapped shared, when writes need no `fsync`.
    map: Option<memmap2::MmapMut>,
    path: PathBuf,
    rec: Record,
    opts: StoreOptions,
    /// While set, every write fails ([`SeqStore::inject_write_faults`]).
    fault: Option<Arc<AtomicBool>>,
}

impl SeqStore {
    /// Opens (or creates, at 1 / 1) the store of `key` in `dir` (created if missing).
    pub fn open(dir: &Path, key: &SessionKey) -> Result<Self, StoreError> {
        Self::open_with(dir, key, StoreOptions::default())
    }

    /// [`SeqStore::open`] with options.
    pub fn open_with(dir: &Path, key: &SessionKey, opts: StoreOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, "create directory", e))?;
        let path = dir.join(key.file_name());
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_error(&path, "open", e))?;
        // One writer per file (`flock`, released when the file is closed or the process dies):
        // a second one would overwrite this one's numbers.
        // (`File::try_lock` would do, from Rust 1.89; the crate's MSRV is older.)
        // SAFETY: flock on the valid, open descriptor `file` owns; no memory is passed.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = io::Error::last_os_error();
            return Err(if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                StoreError::InUse { path }
            } else {
                io_error(&path, "lock", e)
            });
        }
        let len = file
            .metadata()
            .map_err(|e| io_error(&path, "stat", e))?
            .len();
        let rec = if len == 0 {
            let fresh = Record {
                generation: 1,
                next_in: 1,
                next_out: 1,
                period_start_ns: 0,
            };
            // The record of generation g lives in slot g % 2.
            let mut both = [0u8; 2 * SLOT];
            both[..SLOT].copy_from_slice(
                &Record {
                    generation: 0,
                    ..fresh
                }
                .encode(),
            );
            both[SLOT..].copy_from_slice(&fresh.encode());
            file.write_all_at(&both, 0)
                .map_err(|e| io_error(&path, "write", e))?;
            if opts.fsync {
                file.sync_all().map_err(|e| io_error(&path, "fsync", e))?;
            }
            fresh
        } else {
            read_record(&file, &path, len)?
        };
        let map = if opts.fsync {
            None
        } else {
            // SAFETY: the mapping covers the file's FILE_LEN bytes (its length was checked or
            // just written above) and lives in `self` beside the file, whose `flock` (taken
            // above) keeps every other store, in this process or another, from opening it. Only
            // something outside lpscore could still write or truncate it while it is mapped: the
            // module's documentation forbids it and says what truncation would do (SIGBUS).
            let m = unsafe {
                memmap2::MmapOptions::new()
                    .len(FILE_LEN as usize)
                    .map_mut(&file)
            }
            .map_err(|e| io_error(&path, "map", e))?;
            Some(m)
        };
        Ok(Self {
            file: Some(file),
            map,
            path,
            rec,
            opts,
            fault: None,
        })
    }

    /// The numbers the store of `key` in `dir` holds, `(next_in, next_out)`, read without
    /// taking it (a running session may hold it): for tools and tests. `Ok(None)`: no store.
    pub fn peek(dir: &Path, key: &SessionKey) -> Result<Option<(u64, u64)>, StoreError> {
        let path = dir.join(key.file_name());
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&path, "open", e)),
        };
        let len = file
            .metadata()
            .map_err(|e| io_error(&path, "stat", e))?
            .len();
        let r = read_record(&file, &path, len)?;
        Ok(Some((r.next_in, r.next_out)))
    }

    /// A store that persists nothing (tests, benchmarks, sessions configured without a store).
    pub fn memory() -> Self {
        Self {
            file: None,
            map: None,
            path: PathBuf::new(),
            rec: Record {
                generation: 1,
                next_in: 1,
                next_out: 1,
                period_start_ns: 0,
            },
            opts: StoreOptions::default(),
            fault: None,
        }
    }

    /// Next MsgSeqNum expected from the counterparty.
    pub fn next_in(&self) -> u64 {
        self.rec.next_in
    }

    /// Next MsgSeqNum we send.
    pub fn next_out(&self) -> u64 {
        self.rec.next_out
    }

    /// Start (UTC ns) of the schedule period these numbers belong to (0: none recorded).
    pub fn period_start_ns(&self) -> u64 {
        self.rec.period_start_ns
    }

    /// The file (empty for a memory store).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Persists both numbers (a 48-byte copy into the mapped file, or with `fsync` one
    /// `pwrite` and one `fdatasync`; nothing allocated unless it fails).
    pub fn set(&mut self, next_in: u64, next_out: u64) -> Result<(), StoreError> {
        self.write(Record {
            next_in,
            next_out,
            ..self.rec
        })
    }

    /// Restarts both numbers at 1 for the period starting at `period_start_ns`.
    pub fn reset(&mut self, period_start_ns: u64) -> Result<(), StoreError> {
        self.write(Record {
            next_in: 1,
            next_out: 1,
            period_start_ns,
            ..self.rec
        })
    }

    /// Makes every later write fail, as a full disk would, while `fault` is set: the failure path
    /// of a session (disconnect, hand nothing on, log on again only once the store can be
    /// written) is tested with it, since a real I/O error cannot be produced on demand.
    #[doc(hidden)]
    pub fn inject_write_faults(&mut self, fault: Arc<AtomicBool>) {
        self.fault = Some(fault);
    }

    fn write(&mut self, mut rec: Record) -> Result<(), StoreError> {
        // Relaxed: a test switch; no other memory is published through it.
        if self
            .fault
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
        {
            return Err(StoreError::Io {
                path: self.path.clone(),
                op: "write",
                kind: io::ErrorKind::StorageFull,
                message: "injected write fault".into(),
            });
        }
        rec.generation = self.rec.generation.wrapping_add(1);
        // Slot by generation parity: never the slot holding the current record.
        let at = (rec.generation % 2) * SLOT as u64;
        if let Some(map) = &mut self.map {
            // A plain copy: the page is the page cache, so the record is as durable as a
            // `pwrite` would make it the moment the copy ends; a copy cut short by the process's
            // death leaves a slot whose checksum fails, and `open` takes the other.
            map[at as usize..at as usize + SLOT].copy_from_slice(&rec.encode());
        } else if let Some(file) = &self.file {
            let res = file.write_all_at(&rec.encode(), at).and_then(|()| {
                if self.opts.fsync {
                    file.sync_data()
                } else {
                    Ok(())
                }
            });
            if let Err(e) = res {
                return Err(StoreError::Io {
                    path: self.path.clone(),
                    op: "write",
                    kind: e.kind(),
                    message: e.to_string(),
                });
            }
        }
        self.rec = rec;
        Ok(())
    }
}
