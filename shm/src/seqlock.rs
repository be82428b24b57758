//! The seqlock of rows and profile entries (`LAYOUT.md`, "Seqlock protocol"), on [`crate::sync`]
//! atomics only: no volatile, no yield, no syscall; readers retry at most [`MAX_TRIES`] times.
//!
//! Modelled on crossbeam's `atomic/seq_lock.rs`: [`SeqLock::optimistic_read`] returns a stamp,
//! the caller copies the words with relaxed loads, and [`SeqLock::validate_read`] (`fence(Acquire)`
//! then a relaxed load of `seq`) says whether the copy is consistent.
//!
//! One deviation of form, not of meaning: LAYOUT.md writes the reader's first load as
//! `seq.load(Acquire)`. Here it is `seq.load(Relaxed)` followed by `fence(Acquire)`, which
//! synchronizes with the same `Release` store (C++ [atomics.fences]/2) and is at least as strong.
//! The reason: Rust documents only *relaxed* atomic loads as valid on read-only memory, and readers
//! map the file `PROT_READ`. On x86-64 both forms compile to a plain `mov`.
//!
//! ```
//! use lpscore_shm::seqlock::SeqLock;
//! use lpscore_shm::sync::AtomicU64;
//! let seq = AtomicU64::new(0);
//! let data: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
//! let lock = SeqLock::new(&seq, &data);
//! lock.write(&[1, 2]);
//! assert_eq!(lock.read(), Ok([1, 2]));
//! ```

use crate::sync::{AtomicU64, Ordering, fence, spin_loop};
use core::fmt;

/// Reader retries before giving up with [`ReadError::Busy`].
///
/// ```
/// assert_eq!(lpscore_shm::seqlock::MAX_TRIES, 1024);
/// ```
pub const MAX_TRIES: u32 = 1024;

/// Why a read returned no row.
///
/// ```
/// use lpscore_shm::ReadError;
/// assert_eq!(ReadError::Busy.to_string(), "row is being written continuously (seqlock retries exhausted)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The writer kept the entry odd (or changing) for [`MAX_TRIES`] attempts.
    Busy,
    /// A symbol, bucket, LP or profile index beyond this file's capacities.
    OutOfRange,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReadError::Busy => "row is being written continuously (seqlock retries exhausted)",
            ReadError::OutOfRange => "symbol, bucket, LP or profile index out of range",
        })
    }
}

impl std::error::Error for ReadError {}

/// A view of one seqlock: its `seq` word and its `N` data words.
///
/// ```
/// use lpscore_shm::seqlock::SeqLock;
/// use lpscore_shm::sync::AtomicU64;
/// let seq = AtomicU64::new(0);
/// let data = [AtomicU64::new(0)];
/// let lock = SeqLock::new(&seq, &data);
/// let stamp = lock.optimistic_read().unwrap();
/// let copy = lock.copy_relaxed();
/// assert!(lock.validate_read(stamp));
/// assert_eq!(copy, [0]);
/// ```
#[derive(Clone, Copy)]
pub struct SeqLock<'a, const N: usize> {
    seq: &'a AtomicU64,
    data: &'a [AtomicU64; N],
}

impl<'a, const N: usize> SeqLock<'a, N> {
    /// A view over `seq` and `data`.
    ///
    /// ```
    /// use lpscore_shm::sync::AtomicU64;
    /// let (s, d) = (AtomicU64::new(0), [AtomicU64::new(5)]);
    /// assert_eq!(lpscore_shm::seqlock::SeqLock::new(&s, &d).read(), Ok([5]));
    /// ```
    #[inline(always)]
    pub fn new(seq: &'a AtomicU64, data: &'a [AtomicU64; N]) -> Self {
        SeqLock { seq, data }
    }

    /// Starts a read: the stamp (an even `seq`), or `None` while a write is in progress.
    ///
    /// ```
    /// use lpscore_shm::sync::AtomicU64;
    /// let (s, d) = (AtomicU64::new(3), [AtomicU64::new(0)]);
    /// assert_eq!(lpscore_shm::seqlock::SeqLock::new(&s, &d).optimistic_read(), None);
    /// ```
    #[inline(always)]
    pub fn optimistic_read(&self) -> Option<u64> {
        // Relaxed load + fence(Acquire) == load(Acquire): if this load reads the writer's final
        // `seq.store(s + 2, Release)`, the fence synchronizes with it, so the data loads below see
        // at least that write's words.
        let s1 = self.seq.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if s1 & 1 == 1 { None } else { Some(s1) }
    }

    /// Copies the data words with relaxed loads (between [`Self::optimistic_read`] and
    /// [`Self::validate_read`]; the copy is meaningful only if the validation succeeds).
    ///
    /// ```
    /// use lpscore_shm::sync::AtomicU64;
    /// let (s, d) = (AtomicU64::new(0), [AtomicU64::new(1), AtomicU64::new(2)]);
    /// assert_eq!(lpscore_shm::seqlock::SeqLock::new(&s, &d).copy_relaxed(), [1, 2]);
    /// ```
    #[inline(always)]
    pub fn copy_relaxed(&self) -> [u64; N] {
        let mut out = [0u64; N];
        for (o, w) in out.iter_mut().zip(self.data.iter()) {
            // Relaxed: ordered by the surrounding fences (optimistic_read / validate_read).
            *o = w.load(Ordering::Relaxed);
        }
        out
    }

    /// Ends a read: `true` if no write overlapped the copy made since `stamp` was taken.
    ///
    /// ```
    /// use lpscore_shm::sync::AtomicU64;
    /// let (s, d) = (AtomicU64::new(0), [AtomicU64::new(0)]);
    /// let lock = lpscore_shm::seqlock::SeqLock::new(&s, &d);
    /// let st = lock.optimistic_read().unwrap();
    /// lock.write(&[1]);
    /// assert!(!lock.validate_read(st));
    /// ```
    #[inline(always)]
    pub fn validate_read(&self, stamp: u64) -> bool {
        // fence(Acquire) pairs with the writer's fence(Release): if any data load above read a
        // word stored after that fence, the writer's odd `seq.store(s + 1)` happens-before the
        // load below, which therefore cannot return `stamp` again.
        fence(Ordering::Acquire);
        let s2 = self.seq.load(Ordering::Relaxed);
        s2 == stamp
    }

    /// A consistent copy of the data words, retrying at most [`MAX_TRIES`] times.
    ///
    /// ```
    /// use lpscore_shm::sync::AtomicU64;
    /// let (s, d) = (AtomicU64::new(1), [AtomicU64::new(0)]); // stuck odd: a writer died mid-write
    /// assert_eq!(lpscore_shm::seqlock::SeqLock::new(&s, &d).read(), Err(lpscore_shm::ReadError::Busy));
    /// ```
    #[inline]
    pub fn read(&self) -> Result<[u64; N], ReadError> {
        for _ in 0..MAX_TRIES {
            if let Some(stamp) = self.optimistic_read() {
                let copy = self.copy_relaxed();
                if self.validate_read(stamp) {
                    return Ok(copy);
                }
            }
            spin_loop();
        }
        Err(ReadError::Busy)
    }

    /// Writes all data words. There must be exactly one writer of this seqlock (the file has one
    /// writer process, and one thread owns each row), so no CAS is needed.
    /// `words.len()` must be `N`; extra words are ignored, missing words are left unchanged.
    ///
    /// ```
    /// use lpscore_shm::sync::AtomicU64;
    /// let (s, d) = (AtomicU64::new(0), [AtomicU64::new(0)]);
    /// let lock = lpscore_shm::seqlock::SeqLock::new(&s, &d);
    /// lock.write(&[9]);
    /// assert_eq!(s.load(core::sync::atomic::Ordering::Relaxed), 2);
    /// ```
    #[inline]
    pub fn write(&self, words: &[u64]) {
        // Relaxed: only this thread writes `seq`. An odd value is left by a writer that died
        // mid-write: round it up to even so the protocol stays odd-while-writing.
        let s = self.seq.load(Ordering::Relaxed);
        let s = s.wrapping_add(s & 1);
        // Odd: readers that load it retry. Relaxed, because the fence below orders it.
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        // fence(Release) pairs with the reader's fence(Acquire) in validate_read: the odd `seq` is
        // visible to any reader that sees one of the new data words.
        fence(Ordering::Release);
        for (w, &v) in self.data.iter().zip(words.iter()) {
            // Relaxed: bracketed by the fence above and the Release store below.
            w.store(v, Ordering::Relaxed);
        }
        // Release pairs with the reader's load + fence(Acquire) in optimistic_read: a reader that
        // sees s + 2 sees every data word stored above.
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }
}
