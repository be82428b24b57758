//! The hand-off from a hot thread to the journal writer: two `rtrb` SPSC rings, one of fixed-size
//! [`JournalRecord`]s and one of raw message bytes. The hot thread copies each framed message's
//! bytes into the byte ring, then pushes its record (capture time, session, sequence, where the
//! bytes are); the journal writer pops a record and reads exactly `len` bytes. No lock, no
//! allocation. When either ring is full the message is *not* journaled (the engine still sees it)
//! and [`JournalProducer::dropped`] counts it: the hot thread never waits for the disk.
//!
//! ```
//! use lpscore::runtime::journal::channel;
//! let (mut tx, mut rx) = channel(4, 64);
//! assert!(tx.push(10, 7, 1, b"8=FIX.4.4|..."));
//! let mut seen = Vec::new();
//! while rx.pop(|rec, bytes| seen.push((rec.session, rec.seq, bytes.to_vec()))) {}
//! assert_eq!(seen, vec![(7, 1, b"8=FIX.4.4|...".to_vec())]);
//! ```

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordKind {
    /// A framed FIX message (`len` raw bytes follow in the byte ring).
    #[default]
    Message,
    /// The hot thread called `Engine::tick(capture_ns)` here (no bytes). A replay that calls
    /// `tick` at the same points between the same messages reproduces the live rows bit for bit
    /// (time-driven work: markouts, retirements, decay rescaling, publications).
    Tick,
}

/// One journaled message or tick. `offset` is the position of a message's first byte in the byte
/// stream of this channel (bytes are consumed in record order, so a consumer only needs `len`;
/// `offset` lets a journal writer check it lost nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JournalRecord {
    /// Message or tick.
    pub kind: RecordKind,
    /// Capture timestamp (CLOCK_REALTIME ns, taken once per receive batch by the hot thread).
    pub capture_ns: u64,
    /// Session id from the configuration.
    pub session: u32,
    /// Per-session message number assigned by the runtime (1, 2, ...; counts across reconnects).
    /// The FIX MsgSeqNum (34) belongs to the session layer.
    pub seq: u64,
    /// Offset of the first byte in the channel's byte stream.
    pub offset: u64,
    /// Length of the raw message, bytes.
    pub len: u32,
}

/// The hot thread's end.
#[derive(Debug)]
pub struct JournalProducer {
    recs: rtrb::Producer<JournalRecord>,
    bytes: rtrb::Producer<u8>,
    written: u64,
    dropped: u64,
}

/// The journal writer's end.
#[derive(Debug)]
pub struct JournalConsumer {
    recs: rtrb::Consumer<JournalRecord>,
    bytes: rtrb::Consumer<u8>,
    read: u64,
    scratch: Vec<u8>,
}

/// A channel holding up to `records` messages and `bytes` bytes.
pub fn channel(records: usize, bytes: usize) -> (JournalProducer, JournalConsumer) {
    let (rp, rc) = rtrb::RingBuffer::new(records.max(1));
    let (bp, bc) = rtrb::RingBuffer::new(bytes.max(1));
    (
        JournalProducer {
            recs: rp,
            bytes: bp,
            written: 0,
            dropped: 0,
        },
        JournalConsumer {
            recs: rc,
            bytes: bc,
            read: 0,
            scratch: Vec::with_capacity(64 * 1024),
        },
    )
}

impl JournalProducer {
    /// Hands one message over; `false` (and counted) when the rings are full.
    #[inline]
    pub fn push(&mut self, capture_ns: u64, session: u32, seq: u64, raw: &[u8]) -> bool {
        if self.recs.slots() == 0 || self.bytes.slots() < raw.len() || raw.len() > u32::MAX as usize
        {
            self.dropped += 1;
            return false;
        }
        // Bytes first, record second: the record's push (Release inside rtrb) publishes both.
        if self.bytes.push_entire_slice(raw).is_err() {
            self.dropped += 1;
            return false;
        }
        let rec = JournalRecord {
            kind: RecordKind::Message,
            capture_ns,
            session,
            seq,
            offset: self.written,
            len: raw.len() as u32,
        };
        self.written += raw.len() as u64;
        // Cannot fail: one slot was free above and only this producer fills the ring.
        let _ = self.recs.push(rec);
        true
    }
    /// Records an engine tick at `ts_ns`; `false` (and counted) when the record ring is full.
    #[inline]
    pub fn push_tick(&mut self, ts_ns: u64) -> bool {
        let rec = JournalRecord {
            kind: RecordKind::Tick,
            capture_ns: ts_ns,
            offset: self.written,
            ..JournalRecord::default()
        };
        if self.recs.push(rec).is_err() {
            self.dropped += 1;
            return false;
        }
        true
    }
    /// Records (messages or ticks) not journaled because the rings were full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
    /// Whether the consumer was dropped.
    pub fn is_abandoned(&self) -> bool {
        self.recs.is_abandoned()
    }
}

impl JournalConsumer {
    /// Pops one message and hands it to `f` (the bytes are contiguous: a wrapped message is
    /// copied into a scratch buffer). `false` when nothing is waiting.
    pub fn pop(&mut self, mut f: impl FnMut(&JournalRecord, &[u8])) -> bool {
        let Ok(rec) = self.recs.pop() else {
            return false;
        };
        let n = rec.len as usize;
        let Ok(chunk) = self.bytes.read_chunk(n) else {
            // Cannot happen: the producer commits the bytes before the record.
            return false;
        };
        let (a, b) = chunk.as_slices();
        if b.is_empty() {
            f(&rec, a);
        } else {
            self.scratch.clear();
            self.scratch.extend_from_slice(a);
            self.scratch.extend_from_slice(b);
            f(&rec, &self.scratch);
        }
        chunk.commit_all();
        self.read += n as u64;
        true
    }
    /// Whether the producer is gone (the hot thread stopped); drain with [`Self::pop`] first.
    pub fn is_abandoned(&self) -> bool {
        self.recs.is_abandoned()
    }
    /// Bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }
}

/// Where a journal writer puts records (the journal engineer's file writer plugs in here).
pub trait JournalSink: Send {
    /// One message.
    fn append(&mut self, rec: &JournalRecord, raw: &[u8]);
    /// Make everything appended durable (called when the channel is idle and at shutdown).
    fn flush(&mut self) {}
}

/// A sink that only counts (until the journal module is wired in).
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingJournal {
    /// Messages.
    pub messages: u64,
    /// Bytes.
    pub bytes: u64,
}

impl JournalSink for CountingJournal {
    fn append(&mut self, rec: &JournalRecord, raw: &[u8]) {
        if rec.kind == RecordKind::Tick {
            return;
        }
        self.messages += 1;
        self.bytes += raw.len() as u64;
    }
}

/// Drains `rx` into `sink` until the producer is gone, flushing whenever idle; returns the sink.
/// Runs on a housekeeping thread (it sleeps 200 us when idle).
pub fn drain<J: JournalSink>(mut rx: JournalConsumer, mut sink: J) -> J {
    loop {
        let mut n = 0;
        while n < 4096 && rx.pop(|r, b| sink.append(r, b)) {
            n += 1;
        }
        if n == 0 {
            if rx.is_abandoned() {
                while rx.pop(|r, b| sink.append(r, b)) {}
                sink.flush();
                return sink;
            }
            sink.flush();
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_drops_when_full() {
        let (mut tx, mut rx) = channel(3, 10);
        assert!(tx.push(1, 1, 1, b"abcdef"));
        assert!(!tx.push(2, 1, 2, b"ghijkl"), "bytes full");
        assert_eq!(tx.dropped(), 1);
        let mut out = Vec::new();
        assert!(rx.pop(|r, b| out.push((r.seq, r.offset, b.to_vec()))));
        assert!(tx.push(3, 1, 3, b"ghijkl"));
        assert!(rx.pop(|r, b| out.push((r.seq, r.offset, b.to_vec()))));
        assert!(!rx.pop(|_, _| {}));
        assert_eq!(
            out,
            vec![(1, 0, b"abcdef".to_vec()), (3, 6, b"ghijkl".to_vec())]
        );
        drop(tx);
        assert!(rx.is_abandoned());
    }
}
