//! Framing: cutting validated messages out of a byte stream that arrives in arbitrary chunks.

use super::error::{FrameError, FrameErrorKind};
use super::scan;

/// The field delimiter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Delimiter {
    /// SOH (0x01) only: the wire.
    #[default]
    Soh,
    /// SOH or `|` (log files). CheckSum is verified counting each `|` as SOH, and newlines,
    /// carriage returns and spaces between messages are skipped silently. A `|` inside a value is
    /// indistinguishable from a delimiter in this mode.
    Log,
}

impl Delimiter {
    /// Whether `b` is a delimiter in this mode.
    #[inline(always)]
    pub const fn is(self, b: u8) -> bool {
        b == 1 || (matches!(self, Self::Log) && b == b'|')
    }
    #[inline(always)]
    pub(crate) const fn pipe(self) -> bool {
        matches!(self, Self::Log)
    }
}

/// BeginString (8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BeginString {
    /// `FIX.4.2`
    Fix42,
    /// `FIX.4.4`
    #[default]
    Fix44,
    /// `FIXT.1.1` (application messages FIX.5.0SP2: ApplVerID 1128 / DefaultApplVerID 1137 = `9`).
    Fixt11,
}

impl BeginString {
    /// The wire value.
    pub const fn as_bytes(self) -> &'static [u8] {
        match self {
            Self::Fix42 => b"FIX.4.2",
            Self::Fix44 => b"FIX.4.4",
            Self::Fixt11 => b"FIXT.1.1",
        }
    }
}

/// Framer settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FramerConfig {
    /// Largest accepted BodyLength (9); a larger one is [`FrameErrorKind::BodyLengthTooLarge`]
    /// and nothing is allocated for it. While every chunk's frames are drained, the reassembly
    /// buffer never holds more than one message (at most this plus 32 bytes).
    pub max_body_len: u32,
    /// SOH on the wire, SOH or `|` in log files.
    pub delimiter: Delimiter,
}

impl Default for FramerConfig {
    fn default() -> Self {
        Self {
            max_body_len: 64 * 1024,
            delimiter: Delimiter::Soh,
        }
    }
}

/// A complete, validated message: BeginString, BodyLength, MsgType position, trailer and
/// CheckSum have all been checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The whole message, `8=` through the delimiter after CheckSum.
    pub bytes: &'a [u8],
    /// Stream offset of the first byte.
    pub offset: u64,
    /// BeginString (8).
    pub begin_string: BeginString,
    /// Offset of `35=` in `bytes` (private: only the framer makes frames, so the parser can
    /// trust the layout).
    pub(crate) body_start: u32,
    /// Offset of `10=` in `bytes`.
    pub(crate) trailer_start: u32,
    /// The delimiter mode it was framed with.
    pub delimiter: Delimiter,
}

impl Frame<'_> {
    /// Offset of `35=` (the first body byte) in [`Frame::bytes`].
    pub fn body_start(&self) -> usize {
        self.body_start as usize
    }
    /// Offset of `10=` (the trailer) in [`Frame::bytes`].
    pub fn trailer_start(&self) -> usize {
        self.trailer_start as usize
    }
}

/// Result of examining stream bytes that start at a candidate message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// A valid message of this layout.
    Complete(Layout),
    /// Not decidable yet: at least this many bytes (in total) are needed.
    NeedMore(usize),
    /// Log mode: this many whitespace bytes to drop silently.
    Skip(usize),
    /// The message (or garbage) starting here is bad.
    Error(FrameErrorKind),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub len: usize,
    pub begin: BeginString,
    pub body_start: usize,
    pub trailer_start: usize,
}

const SYNC: &[u8; 5] = b"8=FIX";
/// Digits allowed in BodyLength.
const MAX_LEN_DIGITS: usize = 10;

/// Examines `d`, which starts where a message should start. Every decision depends only on the
/// stream bytes, never on how much of it is available (more bytes -> `NeedMore` or the same
/// answer), so chunking never changes the result.
#[inline(always)]
pub(crate) fn check_frame(d: &[u8], cfg: &FramerConfig) -> Step {
    use FrameErrorKind as K;
    // Fast path: the common header prefix in one comparison (it starts with no whitespace and
    // with `8=FIX`, so the checks below would pass).
    if let Some(h) = d.first_chunk::<12>() {
        if h == b"8=FIX.4.4\x019=" {
            return check_rest(d, cfg, BeginString::Fix44, 10);
        }
    }
    let delim = cfg.delimiter;
    if delim.pipe() {
        let ws = d
            .iter()
            .take_while(|&&b| matches!(b, b'\n' | b'\r' | b' '))
            .count();
        if ws > 0 {
            return Step::Skip(ws);
        }
    }
    // "8=FIX" then ".4.2" / ".4.4" / "T.1.1" then delimiter.
    let n = d.len().min(5);
    if d[..n] != SYNC[..n] {
        return Step::Error(K::Garbage);
    }
    if d.len() < 5 {
        return Step::NeedMore(5);
    }
    // BeginString: decided as soon as a byte rules every candidate out.
    let avail = &d[2..];
    let mut begin = None;
    let mut maybe = false;
    for (cand, bs) in [
        (&b"FIX.4.4"[..], BeginString::Fix44),
        (&b"FIX.4.2"[..], BeginString::Fix42),
        (&b"FIXT.1.1"[..], BeginString::Fixt11),
    ] {
        let n = cand.len();
        if avail.len() > n {
            if &avail[..n] == cand && delim.is(avail[n]) {
                begin = Some(bs);
                break;
            }
        } else if avail == &cand[..avail.len()] {
            maybe = true;
        }
    }
    let Some(begin) = begin else {
        return if maybe {
            Step::NeedMore(d.len() + 1)
        } else {
            Step::Error(K::BadBeginString)
        };
    };
    let p = 3 + begin.as_bytes().len();
    // "9=" digits delimiter
    match (d.get(p), d.get(p + 1)) {
        (Some(b'9'), Some(b'=')) => {}
        (None, _) | (Some(b'9'), None) => return Step::NeedMore(p + 2),
        _ => return Step::Error(K::BadBodyLength),
    }
    check_rest(d, cfg, begin, p)
}

/// Everything after BeginString: `d[p..]` starts with `9=`.
#[inline(always)]
fn check_rest(d: &[u8], cfg: &FramerConfig, begin: BeginString, p: usize) -> Step {
    use FrameErrorKind as K;
    let delim = cfg.delimiter;
    let mut i = p + 2;
    let mut body_len: u64 = 0;
    // Fast path: 1 to 7 digits and a delimiter, in one 8-byte SWAR step. The same answer as the
    // loop below: every prefix of the digits is at most their value, so the value exceeds the
    // maximum exactly when the loop would stop on a prefix that does.
    let mut swar = false;
    if let Some(w) = d.get(i..).and_then(|r| r.first_chunk::<8>()) {
        use super::message::{ZEROS, combine8, non_digits};
        let x = u64::from_le_bytes(*w);
        // Fastest path, the usual shape: three digits, SOH, `35=` in the same word (the answers
        // of the SWAR step and of the `35=` test below; SOH delimits in both modes).
        const FIXED: u64 = 0x00FF_FFFF_FF00_0000;
        const WANT: u64 = u64::from_le_bytes(*b"\0\0\0\x0135=\0");
        if x & FIXED == WANT && non_digits(x) & 0xFF_FFFF == 0 {
            let c = x.wrapping_sub(ZEROS & 0xFF_FFFF);
            let body_len = (c & 0xFF) * 100 + ((c >> 8) & 0xFF) * 10 + ((c >> 16) & 0xFF);
            if body_len > u64::from(cfg.max_body_len) {
                return Step::Error(K::BodyLengthTooLarge);
            }
            if body_len < 5 {
                return Step::Error(K::BodyLengthMismatch);
            }
            return check_trailer(d, cfg, begin, i + 4, body_len as usize);
        }
        let n = non_digits(x).trailing_zeros() / 8; // digits before the first non-digit
        if (1..8).contains(&n) && delim.is((x >> (8 * n)) as u8) {
            let digits = x << (8 * (8 - n));
            body_len = combine8(digits - (ZEROS & (!0u64 << (8 * (8 - n)))));
            if body_len > u64::from(cfg.max_body_len) {
                return Step::Error(K::BodyLengthTooLarge);
            }
            // `d[i]` is the delimiter after at least one digit: the loop below would stop there.
            i += n as usize;
            swar = true;
        }
    }
    if !swar {
        loop {
            let Some(&b) = d.get(i) else {
                return Step::NeedMore(i + 1);
            };
            if delim.is(b) {
                break;
            }
            let dg = b.wrapping_sub(b'0');
            if dg > 9 {
                return Step::Error(K::BadBodyLength);
            }
            body_len = body_len * 10 + u64::from(dg);
            if body_len > u64::from(cfg.max_body_len) || i - (p + 2) >= MAX_LEN_DIGITS {
                return Step::Error(K::BodyLengthTooLarge);
            }
            i += 1;
        }
        if i == p + 2 {
            return Step::Error(K::BadBodyLength);
        }
    }
    let body_start = i + 1;
    let body_len = body_len as usize; // <= max_body_len: u32
    if body_len < 5 {
        // Cannot hold "35=x<SOH>".
        return Step::Error(K::BodyLengthMismatch);
    }
    match d.get(body_start..body_start + 3) {
        Some(b"35=") => {}
        Some(_) => return Step::Error(K::MissingMsgType),
        None => {
            // Fewer than 3 bytes: decide on what is there.
            let have = d.get(body_start..).unwrap_or(&[]);
            if have != &b"35="[..have.len()] {
                return Step::Error(K::MissingMsgType);
            }
            return Step::NeedMore(body_start + 3);
        }
    }
    check_trailer(d, cfg, begin, body_start, body_len)
}

/// The three ASCII digits of each CheckSum value as a little-endian word (`208` is
/// `u32::from_le_bytes(*b"208\0")`).
static CHECKSUM_DIGITS: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut v = 0;
    while v < 256 {
        t[v] = (b'0' as u32 + (v / 100) as u32)
            | (b'0' as u32 + (v / 10 % 10) as u32) << 8
            | (b'0' as u32 + (v % 10) as u32) << 16;
        v += 1;
    }
    t
};

/// The rest of [`check_rest`] once BodyLength is known and `35=` starts the body at
/// `body_start`: the trailer at BodyLength bytes and the CheckSum.
#[inline(always)]
fn check_trailer(
    d: &[u8],
    cfg: &FramerConfig,
    begin: BeginString,
    body_start: usize,
    body_len: usize,
) -> Step {
    use FrameErrorKind as K;
    let delim = cfg.delimiter;
    let trailer_start = body_start + body_len;
    let total = trailer_start + 7;
    if d.len() < total {
        return Step::NeedMore(total);
    }
    // Fast path: `<SOH>10=ddd<SOH>` as one 8-byte word (anything else: the checks below).
    if let Some(w) = d
        .get(trailer_start - 1..total)
        .and_then(|r| r.first_chunk::<8>())
    {
        const FIXED: u64 = 0xFF00_0000_FFFF_FFFF; // SOH, `10=`, SOH
        const WANT: u64 = u64::from_le_bytes(*b"\x0110=\0\0\0\x01");
        let x = u64::from_le_bytes(*w);
        // The computed sum's three digits compared with the declared ones as one word (no
        // digit test or conversion); anything else (not digits, a mismatch) takes the checks
        // below, which report it.
        if x & FIXED == WANT {
            let computed = scan::checksum(&d[..trailer_start], delim.pipe());
            if (x >> 32) as u32 & 0xFF_FFFF == CHECKSUM_DIGITS[usize::from(computed)] {
                return Step::Complete(Layout {
                    len: total,
                    begin,
                    body_start,
                    trailer_start,
                });
            }
        }
    }
    if !delim.is(d[trailer_start - 1]) || &d[trailer_start..trailer_start + 3] != b"10=" {
        return Step::Error(K::BodyLengthMismatch);
    }
    let c = &d[trailer_start + 3..total];
    let (c0, c1, c2) = (
        c[0].wrapping_sub(b'0'),
        c[1].wrapping_sub(b'0'),
        c[2].wrapping_sub(b'0'),
    );
    if c0 > 9 || c1 > 9 || c2 > 9 || !delim.is(c[3]) {
        return Step::Error(K::BadCheckSum);
    }
    let declared = u32::from(c0) * 100 + u32::from(c1) * 10 + u32::from(c2);
    let computed = scan::checksum(&d[..trailer_start], delim.pipe());
    if declared != u32::from(computed) {
        return Step::Error(K::CheckSumMismatch {
            declared: declared as u16,
            computed,
        });
    }
    Step::Complete(Layout {
        len: total,
        begin,
        body_start,
        trailer_start,
    })
}

/// Where the next `8=FIX` is.
pub(crate) enum Sync {
    /// At this index.
    Found(usize),
    /// `d[k..]` is a proper prefix of `8=FIX`: more bytes needed to decide (drop `d[..k]`).
    Partial(usize),
}

pub(crate) fn find_sync(d: &[u8]) -> Sync {
    let mut i = 0;
    while i < d.len() {
        match d[i..].iter().position(|&b| b == b'8') {
            None => return Sync::Partial(d.len()),
            Some(k) => {
                let at = i + k;
                let rest = &d[at..];
                if rest.len() >= 5 {
                    if &rest[..5] == SYNC {
                        return Sync::Found(at);
                    }
                } else if rest == &SYNC[..rest.len()] {
                    return Sync::Partial(at);
                }
                i = at + 1;
            }
        }
    }
    Sync::Partial(d.len())
}

/// A per-connection stream framer with a reassembly buffer for the one message that straddles two
/// chunks; every other message is handed out in place, as a slice of the caller's chunk.
///
/// ```
/// use lpscore::fix::{Framer, FramerConfig};
/// let msg = b"8=FIX.4.4\x019=5\x0135=0\x0110=163\x01";
/// let mut framer = Framer::new(FramerConfig::default());
/// let mut n = 0;
/// for chunk in [&msg[..7], &msg[7..]] {
///     let mut frames = framer.feed(chunk);
///     while let Some(frame) = frames.next_frame() {
///         assert_eq!(frame.unwrap().bytes, &msg[..]);
///         n += 1;
///     }
/// }
/// assert_eq!(n, 1);
/// ```
#[derive(Debug)]
pub struct Framer {
    cfg: FramerConfig,
    /// Unconsumed stream bytes starting at `offset`: a message prefix, or (resync) a partial
    /// `8=FIX`.
    buf: Vec<u8>,
    resync: bool,
    offset: u64,
}

impl Framer {
    /// A framer with an empty reassembly buffer.
    pub fn new(cfg: FramerConfig) -> Self {
        Self {
            cfg,
            buf: Vec::new(),
            resync: false,
            offset: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &FramerConfig {
        &self.cfg
    }

    /// Bytes held over from previous chunks.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Stream offset of the next byte not yet handed out.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Starts a new stream (a reconnect): drops buffered bytes, offsets restart at 0.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.resync = false;
        self.offset = 0;
    }

    /// End of stream: an error if a message was cut short (the buffered bytes are dropped).
    pub fn finish(&mut self) -> Option<FrameError> {
        let e = (!self.buf.is_empty() && !self.resync).then_some(FrameError {
            kind: FrameErrorKind::Truncated,
            offset: self.offset,
        });
        self.offset += self.buf.len() as u64;
        self.buf.clear();
        self.resync = false;
        e
    }

    /// Feeds one chunk; pull the frames with [`Frames::next_frame`] until it returns `None`.
    /// Bytes of an incomplete trailing message are kept for the next chunk (also when the
    /// `Frames` is dropped early: nothing is lost).
    pub fn feed<'f, 'c>(&'f mut self, chunk: &'c [u8]) -> Frames<'f, 'c> {
        Frames {
            framer: self,
            chunk,
            pos: 0,
            from_chunk: 0,
            pending: 0,
        }
    }
}

/// Frames of one chunk (a lending iterator: each frame borrows it until the next call).
#[derive(Debug)]
pub struct Frames<'f, 'c> {
    framer: &'f mut Framer,
    chunk: &'c [u8],
    pos: usize,
    /// How many bytes at the end of `framer.buf` were copied from `chunk[..pos]`.
    from_chunk: usize,
    /// Bytes of `framer.buf` handed out as the last frame, to drop on the next call.
    pending: usize,
}

impl Frames<'_, '_> {
    /// Drops `n` bytes from the front of the reassembly buffer; bytes left that came from this
    /// chunk go back to the chunk (no copy).
    fn consume_buf(&mut self, n: usize) {
        let fr = &mut *self.framer;
        fr.offset += n as u64;
        let rem = fr.buf.len() - n;
        if rem <= self.from_chunk {
            self.pos -= rem;
            fr.buf.clear();
            self.from_chunk = 0;
        } else {
            fr.buf.drain(..n);
        }
    }

    /// Copies at least `want` more bytes (fewer at the end of the chunk) into the buffer.
    fn copy_more(&mut self, want: usize) -> bool {
        let rest = &self.chunk[self.pos..];
        let k = want.max(64).min(rest.len());
        if k == 0 {
            return false;
        }
        self.framer.buf.extend_from_slice(&rest[..k]);
        self.pos += k;
        self.from_chunk += k;
        true
    }

    /// Keeps the rest of the chunk for the next one.
    fn stash_rest(&mut self) {
        let rest = &self.chunk[self.pos..];
        self.framer.buf.extend_from_slice(rest);
        self.pos = self.chunk.len();
        self.from_chunk = 0;
    }

    /// The next frame or framing error of this chunk; `None` when the chunk is used up.
    #[inline(always)]
    pub fn next_frame(&mut self) -> Option<Result<Frame<'_>, FrameError>> {
        // Fast path, inlined into the caller: a complete message in place in the chunk, nothing
        // buffered or pending. Anything else (including what `check_frame` does not find
        // complete: `check_frame` is a pure function of the bytes, so the slow path's second
        // look gives the same answer) takes the general path.
        if self.pending == 0 && self.framer.buf.is_empty() && !self.framer.resync {
            let chunk = self.chunk;
            let cfg = self.framer.cfg;
            if let Some(d) = chunk.get(self.pos..) {
                if let Step::Complete(l) = check_frame(d, &cfg) {
                    let offset = self.framer.offset;
                    self.pos += l.len;
                    self.framer.offset += l.len as u64;
                    return Some(Ok(frame_of(d, l, offset, cfg.delimiter)));
                }
            }
        }
        self.next_frame_slow()
    }

    /// [`Frames::next_frame`] in general: the reassembly buffer, resynchronisation, errors.
    #[inline(never)]
    fn next_frame_slow(&mut self) -> Option<Result<Frame<'_>, FrameError>> {
        if self.pending > 0 {
            let n = self.pending;
            self.pending = 0;
            self.consume_buf(n);
        }
        let cfg = self.framer.cfg;
        loop {
            if !self.framer.buf.is_empty() {
                // Slow path: a message (or a partial sync) straddles chunks.
                if self.framer.resync {
                    match find_sync(&self.framer.buf) {
                        Sync::Found(k) => {
                            self.consume_buf(k);
                            self.framer.resync = false;
                        }
                        Sync::Partial(k) if k > 0 => self.consume_buf(k),
                        Sync::Partial(_) => {
                            if !self.copy_more(1) {
                                return None;
                            }
                        }
                    }
                    continue;
                }
                match check_frame(&self.framer.buf, &cfg) {
                    Step::NeedMore(total) => {
                        let want = total.saturating_sub(self.framer.buf.len());
                        if !self.copy_more(want) {
                            return None;
                        }
                    }
                    Step::Skip(n) => self.consume_buf(n),
                    Step::Error(kind) => {
                        let offset = self.framer.offset;
                        self.framer.resync = true;
                        self.consume_buf(1);
                        return Some(Err(FrameError { kind, offset }));
                    }
                    Step::Complete(l) => {
                        self.pending = l.len;
                        let fr = &*self.framer;
                        return Some(Ok(frame_of(&fr.buf, l, fr.offset, cfg.delimiter)));
                    }
                }
            } else {
                let chunk = self.chunk;
                let d = &chunk[self.pos..];
                if d.is_empty() {
                    return None;
                }
                if self.framer.resync {
                    match find_sync(d) {
                        Sync::Found(k) => {
                            self.pos += k;
                            self.framer.offset += k as u64;
                            self.framer.resync = false;
                        }
                        Sync::Partial(k) => {
                            self.pos += k;
                            self.framer.offset += k as u64;
                            self.stash_rest();
                            return None;
                        }
                    }
                    continue;
                }
                match check_frame(d, &cfg) {
                    Step::Complete(l) => {
                        let offset = self.framer.offset;
                        self.pos += l.len;
                        self.framer.offset += l.len as u64;
                        return Some(Ok(frame_of(d, l, offset, cfg.delimiter)));
                    }
                    Step::NeedMore(_) => {
                        self.stash_rest();
                        return None;
                    }
                    Step::Skip(n) => {
                        self.pos += n;
                        self.framer.offset += n as u64;
                    }
                    Step::Error(kind) => {
                        let offset = self.framer.offset;
                        self.framer.resync = true;
                        self.pos += 1;
                        self.framer.offset += 1;
                        return Some(Err(FrameError { kind, offset }));
                    }
                }
            }
        }
    }
}

impl Drop for Frames<'_, '_> {
    fn drop(&mut self) {
        if self.pending > 0 {
            let n = self.pending;
            self.pending = 0;
            self.consume_buf(n);
        }
        if self.pos < self.chunk.len() {
            self.stash_rest();
        }
    }
}

#[inline(always)]
fn frame_of(d: &[u8], l: Layout, offset: u64, delimiter: Delimiter) -> Frame<'_> {
    Frame {
        bytes: &d[..l.len],
        offset,
        begin_string: l.begin,
        body_start: l.body_start as u32,
        trailer_start: l.trailer_start as u32,
        delimiter,
    }
}

/// Frames exactly one message occupying all of `bytes` (no stream state).
pub fn frame_one<'a>(bytes: &'a [u8], cfg: &FramerConfig) -> Result<Frame<'a>, FrameError> {
    let err = |kind| FrameError { kind, offset: 0 };
    match check_frame(bytes, cfg) {
        Step::Complete(l) if l.len == bytes.len() => Ok(frame_of(bytes, l, 0, cfg.delimiter)),
        Step::Complete(_) => Err(err(FrameErrorKind::BodyLengthMismatch)),
        Step::NeedMore(_) => Err(err(FrameErrorKind::Truncated)),
        Step::Skip(_) => Err(err(FrameErrorKind::Garbage)),
        Step::Error(k) => Err(err(k)),
    }
}
