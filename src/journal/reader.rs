//! Reading segments back: listing, verifying, iterating, and recovery (torn-tail truncation).
use std::path::{Path, PathBuf};

use super::format::{
    Entry, FILE_HEADER_LEN, FileHeader, JournalError, MAGIC, Record, RecordIter, parse_segment_name,
};

/// A segment file found in a journal directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    /// Index from the file name.
    pub index: u64,
    /// Path.
    pub path: PathBuf,
}

/// The segment files of `dir` (regular files named `journal-NNNNNNNNNN.lpj`), by index.
pub fn list_segments(dir: &Path) -> Result<Vec<SegmentFile>, JournalError> {
    let rd = std::fs::read_dir(dir).map_err(|e| JournalError::io("list", dir, e))?;
    let mut v = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| JournalError::io("list", dir, e))?;
        let Some(index) = ent.file_name().to_str().and_then(parse_segment_name) else {
            continue;
        };
        // Regular files only (a symlink to a device must not be read forever).
        let Ok(md) = std::fs::symlink_metadata(ent.path()) else {
            continue;
        };
        if md.is_file() {
            v.push(SegmentFile {
                index,
                path: ent.path(),
            });
        }
    }
    v.sort_by_key(|s| s.index);
    Ok(v)
}

/// Whether `data` starts like a journal segment (the magic).
pub fn looks_like_journal(data: &[u8]) -> bool {
    data.len() >= MAGIC.len() && data[..MAGIC.len()] == MAGIC
}

/// What a scan of segments found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Segments read.
    pub segments: u64,
    /// Good message records.
    pub records: u64,
    /// Good tick records (not counted in `records`).
    pub ticks: u64,
    /// Good command records (not counted in `records`).
    pub commands: u64,
    /// Payload bytes of the good records.
    pub payload_bytes: u64,
    /// A torn final record: (segment, offset of the torn record, file length).
    pub torn: Option<(PathBuf, u64, u64)>,
    /// Latest sequence number per session, by session.
    pub last_seq: Vec<(u32, u64)>,
}

fn note_seq(last: &mut Vec<(u32, u64)>, session: u32, seq: u64) {
    match last.binary_search_by_key(&session, |p| p.0) {
        Ok(i) => last[i].1 = seq,
        Err(i) => last.insert(i, (session, seq)),
    }
}

/// Reads the segments `paths` in order and calls `f(segment, offset, record)` on every good record. A torn tail in the
/// last file ends the scan normally (reported in [`ScanReport::torn`], with a warning); a torn
/// tail in an earlier file, a corrupt record, a wrong magic or version is an error naming the file
/// and offset, after `f` has seen every record before it.
pub fn scan_segments<F>(paths: &[PathBuf], mut f: F) -> Result<ScanReport, JournalError>
where
    F: FnMut(&Path, u64, &Record<'_>),
{
    scan_entries(paths, |p, off, e| {
        if let Entry::Message(r) = e {
            f(p, off, r);
        }
    })
}

/// [`scan_segments`] that also delivers tick records ([`Entry::Tick`]), in journal order.
pub fn scan_entries<F>(paths: &[PathBuf], mut f: F) -> Result<ScanReport, JournalError>
where
    F: FnMut(&Path, u64, &Entry<'_>),
{
    let mut rep = ScanReport::default();
    for (i, p) in paths.iter().enumerate() {
        let last = i + 1 == paths.len();
        let data = std::fs::read(p).map_err(|e| JournalError::io("read", p, e))?;
        if data.len() < FILE_HEADER_LEN && last && MAGIC.starts_with(&data[..data.len().min(8)]) {
            // A segment whose header write was cut short: nothing in it.
            tracing::warn!(path = %p.display(), len = data.len(), "journal: empty torn segment");
            rep.torn = Some((p.clone(), 0, data.len() as u64));
            rep.segments += 1;
            break;
        }
        let (_h, mut it) = RecordIter::new(&data, p)?;
        rep.segments += 1;
        while let Some(r) = it.next_entry() {
            match r {
                Ok((off, Entry::Message(rec))) => {
                    rep.records += 1;
                    rep.payload_bytes += rec.bytes.len() as u64;
                    note_seq(&mut rep.last_seq, rec.session, rec.seq);
                    f(p, off, &Entry::Message(rec));
                }
                Ok((off, tick @ Entry::Tick { .. })) => {
                    rep.ticks += 1;
                    f(p, off, &tick);
                }
                Ok((off, cmd @ Entry::Command { .. })) => {
                    rep.commands += 1;
                    f(p, off, &cmd);
                }
                Err(JournalError::TornTail {
                    path,
                    offset,
                    file_len,
                }) if last => {
                    tracing::warn!(path = %path.display(), offset, file_len,
                        "journal: torn final record (crash mid-write); records before it are kept");
                    rep.torn = Some((path, offset, file_len));
                }
                Err(JournalError::TornTail { path, offset, .. }) => {
                    return Err(JournalError::Corrupt {
                        path,
                        offset,
                        reason: "incomplete record in a segment that is not the last",
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(rep)
}

/// What recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments verified.
    pub segments: u64,
    /// Good records.
    pub records: u64,
    /// A torn final record that was truncated: (segment, new length, bytes removed).
    pub truncated: Option<(PathBuf, u64, u64)>,
    /// Latest sequence number per session in the journal (the starting watermarks).
    pub last_seq: Vec<(u32, u64)>,
    /// Index for the next new segment.
    pub next_segment: u64,
    /// Time the verification took, ns.
    pub elapsed_ns: u64,
}

impl RecoveryReport {
    /// The sequence number of the last record of `session` in the journal (the latest in append
    /// order), if it has any. The session layer resumes inbound at `last + 1`
    /// (`Session::resume_inbound_at`), so its persisted sequence number never runs ahead of the
    /// journal.
    pub fn last_seq(&self, session: u32) -> Option<u64> {
        self.last_seq
            .binary_search_by_key(&session, |p| p.0)
            .ok()
            .map(|i| self.last_seq[i].1)
    }
}

/// Verifies every record of the journal in `dir` and truncates a torn final record (with a log
/// line). A corrupt record anywhere else is an error naming the segment and offset: recovery
/// stops there and the writer refuses to start (move the damaged files aside to continue).
pub fn recover(dir: &Path) -> Result<RecoveryReport, JournalError> {
    let t0 = lpscore_shm::monotonic_ns();
    let segs = list_segments(dir)?;
    let paths: Vec<PathBuf> = segs.iter().map(|s| s.path.clone()).collect();
    let scan = scan_segments(&paths, |_, _, _| {})?;
    let mut rep = RecoveryReport {
        segments: scan.segments,
        records: scan.records,
        truncated: None,
        last_seq: scan.last_seq,
        next_segment: segs.last().map_or(0, |s| s.index + 1),
        elapsed_ns: 0,
    };
    if let Some((path, offset, file_len)) = scan.torn {
        if offset < FILE_HEADER_LEN as u64 {
            // Not even a whole header: the segment holds nothing.
            std::fs::remove_file(&path).map_err(|e| JournalError::io("remove", &path, e))?;
        } else {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| JournalError::io("open for truncation", &path, e))?;
            f.set_len(offset)
                .map_err(|e| JournalError::io("truncate", &path, e))?;
            f.sync_all()
                .map_err(|e| JournalError::io("fsync", &path, e))?;
        }
        tracing::warn!(path = %path.display(), offset, removed = file_len - offset,
            "journal recovery: truncated a torn final record");
        eprintln!(
            "lpscore journal: recovery truncated a torn final record: {} from {file_len} to {offset} bytes",
            path.display()
        );
        rep.truncated = Some((path, offset, file_len - offset));
    }
    rep.elapsed_ns = lpscore_shm::monotonic_ns().saturating_sub(t0);
    Ok(rep)
}

/// Reads one segment's header (magic, version, checksum checked).
pub fn read_header(path: &Path) -> Result<FileHeader, JournalError> {
    use std::io::Read;
    let mut b = [0u8; FILE_HEADER_LEN];
    let mut f = std::fs::File::open(path).map_err(|e| JournalError::io("open", path, e))?;
    let n = f
        .read(&mut b)
        .map_err(|e| JournalError::io("read", path, e))?;
    RecordIter::new(&b[..n], path).map(|(h, _)| h)
}
