//! The on-disk format (docs/journal.md): a 64-byte file header, then records, each 8-byte aligned.
//!
//! ```text
//! file header (64 bytes, little endian)
//!  0 magic        8  b"LPSJRNL\0"
//!  8 version      u16  FORMAT_VERSION
//! 10 header_len   u16  64
//! 12 flags        u32  0
//! 16 segment      u64  segment index (also in the file name)
//! 24 created_ns   u64  capture timestamp of the segment's first record (0: opened at start)
//! 32 reserved     28 bytes of zeros
//! 60 header_crc   u32  CRC32C of bytes 0..60
//!
//! record (32-byte header + payload, padded with zeros to a multiple of 8)
//!  0 crc          u32  CRC32C of bytes 4..32+len
//!  4 len          u32  payload length (<= MAX_RECORD_LEN)
//!  8 ts_ns        u64  capture timestamp, ns since the Unix epoch
//! 16 session      u32  session index
//! 20 flags        u32  0: a FIX message; FLAG_TICK: an engine tick (len 0, session 0, seq 0);
//!                      FLAG_COMMAND: an engine command (payload: its encoding; session 0, seq 0)
//! 24 seq          u64  the message's sequence number
//! 32 payload      len bytes: the raw FIX message as received
//! ```
//! Any other flag value is corruption. Journals written before ticks existed (flags always 0)
//! read unchanged.
//! The record header has the same layout in the hand-off ring (with `crc` = 0: the journal
//! thread computes it), so the writer copies and checksums, nothing else.
use std::fmt;
use std::path::PathBuf;

use super::crc32c::crc32c;

/// File magic.
pub const MAGIC: [u8; 8] = *b"LPSJRNL\0";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// File header length.
pub const FILE_HEADER_LEN: usize = 64;
/// Record header length.
pub const RECORD_HEADER_LEN: usize = 32;
/// Largest payload accepted (a larger length field is corruption).
pub const MAX_RECORD_LEN: usize = 1 << 20;
/// Record flag: the hot thread called `Engine::tick(ts_ns)` here (no payload). A replay that
/// ticks at the same points between the same messages reproduces the live rows bit for bit.
pub const FLAG_TICK: u32 = 1;
/// Record flag: an engine control command (weights, pauses) that the hot thread queued to the
/// engine here; the payload is the command's encoding (`engine::snapshot::encode_command`),
/// session 0, seq 0. A replay queues it at the same point, so live weight changes replay.
pub const FLAG_COMMAND: u32 = 2;
/// Segment file name prefix and extension: `journal-0000000042.lpj`.
pub const SEGMENT_PREFIX: &str = "journal-";
/// Segment file extension.
pub const SEGMENT_EXT: &str = ".lpj";

/// The file name of segment `index`.
pub fn segment_name(index: u64) -> String {
    format!("{SEGMENT_PREFIX}{index:010}{SEGMENT_EXT}")
}

/// The segment index in a file name made by [`segment_name`].
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name
        .strip_prefix(SEGMENT_PREFIX)?
        .strip_suffix(SEGMENT_EXT)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Bytes a record with a `len`-byte payload occupies (header, payload, padding).
#[inline]
pub const fn record_size(len: usize) -> usize {
    (RECORD_HEADER_LEN + len + 7) & !7
}

/// A decoded file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// Format version.
    pub version: u16,
    /// Segment index.
    pub segment: u64,
    /// Capture timestamp of the first record.
    pub created_ns: u64,
}

impl FileHeader {
    /// Encodes the header (version [`FORMAT_VERSION`]).
    pub fn encode(&self) -> [u8; FILE_HEADER_LEN] {
        let mut h = [0u8; FILE_HEADER_LEN];
        h[0..8].copy_from_slice(&MAGIC);
        h[8..10].copy_from_slice(&self.version.to_le_bytes());
        h[10..12].copy_from_slice(&(FILE_HEADER_LEN as u16).to_le_bytes());
        h[16..24].copy_from_slice(&self.segment.to_le_bytes());
        h[24..32].copy_from_slice(&self.created_ns.to_le_bytes());
        let c = crc32c(0, &h[..60]);
        h[60..64].copy_from_slice(&c.to_le_bytes());
        h
    }

    /// Decodes and checks a header: magic, then version, then checksum.
    pub fn decode(b: &[u8]) -> Result<Self, HeaderProblem> {
        if b.len() < 8 || b[..8] != MAGIC {
            return Err(HeaderProblem::BadMagic);
        }
        if b.len() < FILE_HEADER_LEN {
            return Err(HeaderProblem::Truncated);
        }
        let version = u16::from_le_bytes([b[8], b[9]]);
        if version != FORMAT_VERSION {
            return Err(HeaderProblem::Version(version));
        }
        let stored = u32::from_le_bytes([b[60], b[61], b[62], b[63]]);
        if crc32c(0, &b[..60]) != stored
            || u16::from_le_bytes([b[10], b[11]]) as usize != FILE_HEADER_LEN
        {
            return Err(HeaderProblem::Checksum);
        }
        Ok(Self {
            version,
            segment: le64(&b[16..24]),
            created_ns: le64(&b[24..32]),
        })
    }
}

#[inline]
pub(crate) fn le64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

#[inline]
pub(crate) fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// What is wrong with a file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderProblem {
    /// Not a journal file.
    BadMagic,
    /// Shorter than a header.
    Truncated,
    /// Written by another format version.
    Version(u16),
    /// Header checksum mismatch.
    Checksum,
}

/// Encodes a message record header (crc 0, flags 0) into `out[..32]`.
#[inline]
pub fn encode_record_header(out: &mut [u8], len: u32, ts_ns: u64, session: u32, seq: u64) {
    encode_record_header_flags(out, len, ts_ns, session, seq, 0);
}

/// Encodes a record header with `flags` (0 or [`FLAG_TICK`]; crc 0) into `out[..32]`.
#[inline]
pub fn encode_record_header_flags(
    out: &mut [u8],
    len: u32,
    ts_ns: u64,
    session: u32,
    seq: u64,
    flags: u32,
) {
    out[0..4].copy_from_slice(&0u32.to_le_bytes());
    out[4..8].copy_from_slice(&len.to_le_bytes());
    out[8..16].copy_from_slice(&ts_ns.to_le_bytes());
    out[16..20].copy_from_slice(&session.to_le_bytes());
    out[20..24].copy_from_slice(&flags.to_le_bytes());
    out[24..32].copy_from_slice(&seq.to_le_bytes());
}

/// Fills in the checksum of an encoded record `rec` (header + payload, without padding).
#[inline]
pub fn seal_record(rec: &mut [u8]) {
    let c = crc32c(0, &rec[4..]);
    rec[0..4].copy_from_slice(&c.to_le_bytes());
}

/// One journal record, borrowed from a segment's bytes (or handed to the journal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Capture timestamp, ns since the Unix epoch.
    pub ts_ns: u64,
    /// Session index.
    pub session: u32,
    /// MsgSeqNum (34).
    pub seq: u64,
    /// The raw message.
    pub bytes: &'a [u8],
}

/// One journal entry: a FIX message record or an engine tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A message record (flags 0).
    Message(Record<'a>),
    /// An engine tick at `ts_ns` (flags [`FLAG_TICK`]).
    Tick {
        /// The tick's timestamp (the capture clock of the hot thread).
        ts_ns: u64,
    },
    /// An engine command queued at `ts_ns` (flags [`FLAG_COMMAND`]); `bytes` is its encoding.
    Command {
        /// When the hot thread queued it (capture clock).
        ts_ns: u64,
        /// The encoded command.
        bytes: &'a [u8],
    },
}

/// A journal problem, naming the file and the offset.
#[derive(Debug)]
pub enum JournalError {
    /// An I/O error (open, read, write, fsync, rename) on `path`.
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        err: std::io::Error,
    },
    /// Not a journal file (wrong magic).
    BadMagic {
        /// The file.
        path: PathBuf,
    },
    /// A format version this build cannot read.
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found.
        version: u16,
    },
    /// A bad file header (checksum) or one cut short.
    BadHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// A record that fails its checks in the middle of the journal: reading stops here.
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Offset of the record in the file.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// An incomplete or unchecksummed last record (a crash mid-write).
    TornTail {
        /// The segment file.
        path: PathBuf,
        /// Offset of the torn record (the valid length of the file).
        offset: u64,
        /// File length.
        file_len: u64,
    },
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { op, path, err } => write!(f, "journal: {op} {}: {err}", path.display()),
            Self::BadMagic { path } => write!(
                f,
                "journal: {} is not an lpscore journal segment (wrong magic)",
                path.display()
            ),
            Self::UnsupportedVersion { path, version } => write!(
                f,
                "journal: {} has format version {version}; this build reads version {FORMAT_VERSION} \
                 (use a newer lpscore)",
                path.display()
            ),
            Self::BadHeader { path, reason } => {
                write!(f, "journal: {}: bad file header: {reason}", path.display())
            }
            Self::Corrupt {
                path,
                offset,
                reason,
            } => write!(
                f,
                "journal: corrupt record in segment {} at offset {offset}: {reason}; \
                 records before it are intact, reading stops there",
                path.display()
            ),
            Self::TornTail {
                path,
                offset,
                file_len,
            } => write!(
                f,
                "journal: torn final record in segment {} at offset {offset} (file length \
                 {file_len}): a write cut short by a crash",
                path.display()
            ),
        }
    }
}

impl std::error::Error for JournalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { err, .. } => Some(err),
            _ => None,
        }
    }
}

impl JournalError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, err: std::io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            err,
        }
    }

    /// Whether the error is an I/O error meaning "no space left".
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Self::Io { err, .. } if err.raw_os_error() == Some(libc::ENOSPC)
            || err.raw_os_error() == Some(libc::EDQUOT))
    }
}

/// Iterates the records of one segment's bytes (file header included). Yields
/// `Ok((offset, record))`, then at most one error ([`JournalError::Corrupt`] or
/// [`JournalError::TornTail`]) and stops.
#[derive(Debug)]
pub struct RecordIter<'a> {
    data: &'a [u8],
    pos: usize,
    path: PathBuf,
    done: bool,
    /// File offset of `data[0]` (0, or where [`RecordIter::from_offset`] started).
    base: u64,
}

impl<'a> RecordIter<'a> {
    /// Checks the file header of `data` (read from `path`) and iterates its records.
    pub fn new(
        data: &'a [u8],
        path: impl Into<PathBuf>,
    ) -> Result<(FileHeader, Self), JournalError> {
        let path = path.into();
        let h = match FileHeader::decode(data) {
            Ok(h) => h,
            Err(HeaderProblem::BadMagic) => return Err(JournalError::BadMagic { path }),
            Err(HeaderProblem::Version(version)) => {
                return Err(JournalError::UnsupportedVersion { path, version });
            }
            Err(HeaderProblem::Truncated) => {
                return Err(JournalError::BadHeader {
                    path,
                    reason: "file shorter than its header",
                });
            }
            Err(HeaderProblem::Checksum) => {
                return Err(JournalError::BadHeader {
                    path,
                    reason: "header checksum mismatch",
                });
            }
        };
        Ok((
            h,
            Self {
                data,
                pos: FILE_HEADER_LEN,
                path,
                done: false,
                base: 0,
            },
        ))
    }

    /// Iterates records from the middle of a segment: `data` holds the file's bytes from
    /// offset `base`, which must be a record boundary (the end of an earlier record, or the end
    /// of the file header). Offsets (returned and in errors) are file offsets. The file header
    /// is not checked here.
    pub fn from_offset(data: &'a [u8], base: u64, path: impl Into<PathBuf>) -> Self {
        Self {
            data,
            pos: 0,
            path: path.into(),
            done: false,
            base,
        }
    }

    /// Offset just past the last good record returned so far.
    pub fn position(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn torn(&mut self) -> JournalError {
        JournalError::TornTail {
            path: self.path.clone(),
            offset: self.base + self.pos as u64,
            file_len: self.base + self.data.len() as u64,
        }
    }

    fn corrupt(&mut self, reason: &'static str) -> JournalError {
        JournalError::Corrupt {
            path: self.path.clone(),
            offset: self.base + self.pos as u64,
            reason,
        }
    }
}

/// Message records only: ticks and commands are skipped (use [`RecordIter::next_entry`] to see them).
impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<(u64, Record<'a>), JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_entry()? {
                Ok((_, Entry::Tick { .. } | Entry::Command { .. })) => continue,
                Ok((off, Entry::Message(r))) => return Some(Ok((off, r))),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<'a> RecordIter<'a> {
    /// The next entry (message or tick) with its offset, then at most one error, then `None`.
    pub fn next_entry(&mut self) -> Option<Result<(u64, Entry<'a>), JournalError>> {
        if self.done || self.pos >= self.data.len() {
            return None;
        }
        let rest = &self.data[self.pos..];
        // Everything that could be a crash mid-write ends the iteration as a torn tail; anything
        // followed by more data is corruption.
        let all_zero = |b: &[u8]| b.iter().all(|&x| x == 0);
        self.done = true;
        if rest.len() < RECORD_HEADER_LEN {
            return Some(Err(self.torn()));
        }
        let len = le32(&rest[4..8]) as usize;
        if len > MAX_RECORD_LEN {
            if all_zero(&rest[RECORD_HEADER_LEN..]) {
                return Some(Err(self.torn()));
            }
            return Some(Err(
                self.corrupt("length field larger than the largest record")
            ));
        }
        let size = record_size(len);
        if rest.len() < RECORD_HEADER_LEN + len {
            return Some(Err(self.torn()));
        }
        let stored = le32(&rest[0..4]);
        if crc32c(0, &rest[4..RECORD_HEADER_LEN + len]) != stored {
            // The last record of the file (nothing but zeros after it): a write cut short.
            if all_zero(rest.get(size..).unwrap_or(&[])) {
                return Some(Err(self.torn()));
            }
            return Some(Err(self.corrupt("checksum mismatch")));
        }
        let r = match le32(&rest[20..24]) {
            0 => Entry::Message(Record {
                ts_ns: le64(&rest[8..16]),
                session: le32(&rest[16..20]),
                seq: le64(&rest[24..32]),
                bytes: &rest[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len],
            }),
            FLAG_TICK if len == 0 => Entry::Tick {
                ts_ns: le64(&rest[8..16]),
            },
            FLAG_TICK => return Some(Err(self.corrupt("tick record with a payload"))),
            FLAG_COMMAND => Entry::Command {
                ts_ns: le64(&rest[8..16]),
                bytes: &rest[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len],
            },
            _ => return Some(Err(self.corrupt("unknown record flags"))),
        };
        let off = self.base + self.pos as u64;
        self.pos += size.min(rest.len());
        self.done = false;
        Some(Ok((off, r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip() {
        assert_eq!(segment_name(42), "journal-0000000042.lpj");
        assert_eq!(parse_segment_name("journal-0000000042.lpj"), Some(42));
        assert_eq!(parse_segment_name("journal-.lpj"), None);
        assert_eq!(parse_segment_name("journal-00x.lpj"), None);
        assert_eq!(parse_segment_name("other-0000000001.lpj"), None);
    }

    #[test]
    fn header_round_trip_and_checks() {
        let h = FileHeader {
            version: FORMAT_VERSION,
            segment: 7,
            created_ns: 123,
        };
        let b = h.encode();
        assert_eq!(FileHeader::decode(&b), Ok(h));
        let mut bad = b;
        bad[0] = b'X';
        assert_eq!(FileHeader::decode(&bad), Err(HeaderProblem::BadMagic));
        let mut bad = b;
        bad[8] = 9;
        assert_eq!(FileHeader::decode(&bad), Err(HeaderProblem::Version(9)));
        let mut bad = b;
        bad[30] ^= 1;
        assert_eq!(FileHeader::decode(&bad), Err(HeaderProblem::Checksum));
        assert_eq!(FileHeader::decode(&b[..40]), Err(HeaderProblem::Truncated));
        assert_eq!(FileHeader::decode(&b[..3]), Err(HeaderProblem::BadMagic));
    }

    #[test]
    fn records_iterate_and_torn_vs_corrupt() {
        let mut seg = FileHeader {
            version: FORMAT_VERSION,
            segment: 0,
            created_ns: 1,
        }
        .encode()
        .to_vec();
        let mut offs = Vec::new();
        for i in 0..3u64 {
            let payload = vec![b'a' + i as u8; 5 + i as usize];
            let start = seg.len();
            offs.push(start as u64);
            seg.resize(start + RECORD_HEADER_LEN, 0);
            encode_record_header(&mut seg[start..], payload.len() as u32, 10 + i, 2, 100 + i);
            seg.extend_from_slice(&payload);
            seal_record(&mut seg[start..]);
            seg.resize(start + record_size(payload.len()), 0);
        }
        let (_, it) = RecordIter::new(&seg, "x").unwrap();
        let v: Vec<_> = it.map(|r| r.unwrap()).collect();
        assert_eq!(v.len(), 3);
        assert_eq!(v[1].0, offs[1]);
        assert_eq!(
            v[1].1,
            Record {
                ts_ns: 11,
                session: 2,
                seq: 101,
                bytes: b"bbbbbb"
            }
        );
        // A tick between records: skipped by the iterator, seen by next_entry.
        let mut t = seg.clone();
        let start = t.len();
        t.resize(start + RECORD_HEADER_LEN, 0);
        encode_record_header_flags(&mut t[start..], 0, 77, 0, 0, FLAG_TICK);
        seal_record(&mut t[start..]);
        let (_, it) = RecordIter::new(&t, "x").unwrap();
        assert_eq!(it.filter(|r| r.is_ok()).count(), 3);
        let (_, mut it) = RecordIter::new(&t, "x").unwrap();
        let mut last = None;
        while let Some(e) = it.next_entry() {
            last = Some(e.unwrap().1);
        }
        assert_eq!(last, Some(Entry::Tick { ts_ns: 77 }));
        // Cut in the last record: torn.
        let (_, it) = RecordIter::new(&seg[..seg.len() - 4], "x").unwrap();
        let last = it.last().unwrap();
        assert!(matches!(last, Err(JournalError::TornTail { offset, .. }) if offset == offs[2]));
        // Flipped byte in the middle record: corrupt at its offset.
        let mut bad = seg.clone();
        bad[offs[1] as usize + 33] ^= 4;
        let (_, it) = RecordIter::new(&bad, "x").unwrap();
        let r: Vec<_> = it.collect();
        assert_eq!(r.len(), 2);
        assert!(matches!(&r[1], Err(JournalError::Corrupt { offset, .. }) if *offset == offs[1]));
        // A zeroed tail (preallocated) after good records: torn, not corrupt.
        let mut z = seg.clone();
        z.extend_from_slice(&[0u8; 100]);
        let (_, it) = RecordIter::new(&z, "x").unwrap();
        assert!(matches!(
            it.last(),
            Some(Err(JournalError::TornTail { .. }))
        ));
    }
}
