//! The journal: every inbound message the engine uses, durable, in order, checksummed; and the
//! replay of journals and FIX logs through the same engine code as live traffic.
//!
//! ```text
//! hot thread: JournalProducer::append(&Record) --rtrb<u8>--> journal thread (writer)
//!               ^ never blocks: RingFull / WriterFailed / SessionStalled   |  CRC32C, write(2),
//!               |                                                         |  fdatasync per policy,
//!   Watermarks::durable(session) <-- AtomicU64 (Release after sync) ------+  rotation by size/age
//!
//! segments journal-NNNNNNNNNN.lpj --reader::scan_segments / recover--> Record { ts, session, seq, bytes }
//! journals, QuickFIX *.messages.log, plain FIX logs --replay::Replayer--> FixFeed -> Engine -> RowSink
//! ```
//!
//! * [`format`]: file header and record layout (docs/journal.md), [`JournalError`] naming the
//!   segment file and offset.
//! * [`crc32c`]: CRC32C, tables and SSE4.2 (`unsafe`: the `#[target_feature]` call).
//! * `uring`: the io_uring write path (`unsafe`: submission entries); with `crc32c` the only
//!   `unsafe` of the journal.
//! * [`ring`]: the hand-off ([`JournalProducer`], [`AppendError`], [`Watermarks`]).
//! * [`writer`]: the journal thread ([`start`], [`JournalConfig`], [`Durability`]).
//! * [`reader`]: [`scan_segments`], [`recover`] (torn tail truncated with a log line).
//! * [`replay`]: format detection, log line parsing, the replay driver and the KPI table.
//! * [`snapshot`]: engine snapshots (a follower thread replays the journal into a shadow engine
//!   and snapshots it), [`recover_engine`] (newest valid snapshot + the journal after it).
//! * [`codec`]: the snapshot byte codec.
pub mod codec;
pub mod crc32c;
pub mod format;
pub mod reader;
pub mod replay;
pub mod ring;
pub mod snapshot;
mod uring;
pub mod writer;

pub use format::{
    Entry, FLAG_COMMAND, FLAG_TICK, FileHeader, JournalError, Record, RecordIter, record_size,
    segment_name,
};
pub use reader::{
    RecoveryReport, ScanReport, SegmentFile, list_segments, recover, scan_entries, scan_segments,
};
pub use ring::{AppendError, JournalProducer, ProducerCounters, Watermarks};
pub use snapshot::{
    EngineRecovery, Follower, FollowerHandle, JournalPos, RecoveredState, SnapshotError,
    SnapshotPolicy, recover_engine,
};
pub use writer::{
    Backend, Durability, DurabilityKind, JournalConfig, JournalHandle, WriterStats, start,
};

/// Whether a message of type `msg_type` (tag 35) goes into the journal: everything but
/// Heartbeat (0) and TestRequest (1), which carry nothing the engine or a recovery needs.
///
/// ```
/// assert!(lpscore::journal::should_journal(b"8"));
/// assert!(lpscore::journal::should_journal(b"W"));
/// assert!(!lpscore::journal::should_journal(b"0"));
/// ```
#[inline]
pub fn should_journal(msg_type: &[u8]) -> bool {
    !matches!(msg_type, b"0" | b"1")
}
