//! Error enums: small, `Copy`, `Display`, `std::error::Error`, no allocation.

use core::fmt;
use std::io;

/// An OS error: which operation and its `errno`.
///
/// ```
/// let e = lpscore_shm::OsError { op: "open", errno: 2 };
/// assert!(e.to_string().starts_with("open: "));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OsError {
    /// The failing operation (`open`, `mmap`, `flock`, ...).
    pub op: &'static str,
    /// `errno` (0 when unknown).
    pub errno: i32,
}

impl OsError {
    pub(crate) fn new(op: &'static str, e: &io::Error) -> Self {
        OsError {
            op,
            errno: e.raw_os_error().unwrap_or(0),
        }
    }
}

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            self.op,
            io::Error::from_raw_os_error(self.errno)
        )
    }
}

impl std::error::Error for OsError {}

/// Why the writer could not create, take over or update the scoreboard.
///
/// ```
/// let e = lpscore_shm::ShmError::AlreadyOwned { pid: 42 };
/// assert_eq!(e.to_string(), "scoreboard already owned by pid 42 (a live writer holds the lock)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShmError {
    /// A system call failed.
    Os(OsError),
    /// Another live writer holds `<path>.lock`.
    AlreadyOwned {
        /// Its pid (0 if it could not be read).
        pid: u32,
    },
    /// A capacity or option is outside its limits; names the field.
    BadOption(&'static str),
    /// A name is empty, longer than 16 bytes or contains NUL.
    BadName,
    /// The LP directory, symbol table or profile table is full; names which.
    Full(&'static str),
    /// An LP, symbol, bucket, profile or row index beyond the capacities.
    OutOfRange,
    /// The writer was stopped.
    Stopped,
}

impl fmt::Display for ShmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShmError::Os(e) => write!(f, "{e}"),
            ShmError::AlreadyOwned { pid } => write!(
                f,
                "scoreboard already owned by pid {pid} (a live writer holds the lock)"
            ),
            ShmError::BadOption(what) => write!(f, "invalid writer option: {what}"),
            ShmError::BadName => {
                f.write_str("invalid name: must be 1..=16 bytes of UTF-8 without NUL")
            }
            ShmError::Full(what) => write!(f, "{what} is full"),
            ShmError::OutOfRange => f.write_str("index out of range for this scoreboard"),
            ShmError::Stopped => f.write_str("writer already stopped"),
        }
    }
}

impl std::error::Error for ShmError {}

impl From<OsError> for ShmError {
    fn from(e: OsError) -> Self {
        ShmError::Os(e)
    }
}

/// Why a reader refused a scoreboard file.
///
/// ```
/// let e = lpscore_shm::OpenError::BadMagic { found: 0 };
/// assert!(e.to_string().contains("not an lpscore scoreboard"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// The path does not exist.
    NotFound,
    /// A system call failed.
    Os(OsError),
    /// Not a regular file.
    NotAFile,
    /// Shorter than the 512-byte header (0 for an empty file).
    TooShort {
        /// The file's length.
        len: u64,
    },
    /// The first word is not `LPSCORE\0`.
    BadMagic {
        /// The word found.
        found: u64,
    },
    /// A layout major version this reader does not know.
    UnsupportedVersion {
        /// Major version in the file.
        major: u32,
        /// Minor version in the file.
        minor: u32,
    },
    /// The layout hash differs from this reader's [`crate::layout::LAYOUT_HASH`].
    LayoutHash {
        /// The hash found in the file.
        found: u64,
    },
    /// The file is shorter than its header's `file_len`.
    Truncated {
        /// `file_len` from the header.
        file_len: u64,
        /// The file's actual length.
        actual: u64,
    },
    /// Header fields disagree with the layout formulas; names the first bad field.
    Inconsistent(&'static str),
    /// The writer has not finished building it (`state` INIT).
    NotReady,
    /// The file was replaced (`state` RETIRED): open the path again.
    Retired,
    /// `open_with_timeout` gave up.
    Timeout,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::NotFound => f.write_str("scoreboard file not found"),
            OpenError::Os(e) => write!(f, "{e}"),
            OpenError::NotAFile => f.write_str("scoreboard path is not a regular file"),
            OpenError::TooShort { len } => write!(
                f,
                "file is {len} bytes, shorter than the 512-byte scoreboard header"
            ),
            OpenError::BadMagic { found } => write!(
                f,
                "not an lpscore scoreboard (magic {found:#018x}, expected \"LPSCORE\\0\")"
            ),
            OpenError::UnsupportedVersion { major, minor } => write!(
                f,
                "scoreboard layout {major}.{minor} is not supported by this reader (major {})",
                crate::layout::VERSION_MAJOR
            ),
            OpenError::LayoutHash { found } => write!(
                f,
                "scoreboard layout hash {found:#018x} differs from this reader's {:#018x}",
                crate::layout::LAYOUT_HASH
            ),
            OpenError::Truncated { file_len, actual } => write!(
                f,
                "scoreboard file is {actual} bytes but its header says {file_len}"
            ),
            OpenError::Inconsistent(what) => {
                write!(f, "scoreboard header is inconsistent: {what}")
            }
            OpenError::NotReady => {
                f.write_str("scoreboard is not ready (writer still initializing)")
            }
            OpenError::Retired => f.write_str("scoreboard file was replaced: open the path again"),
            OpenError::Timeout => {
                f.write_str("timed out waiting for the scoreboard to become ready")
            }
        }
    }
}

impl std::error::Error for OpenError {}
