//! Error types of the codec: small, `Copy`, no allocation (style.md #8).

use core::fmt;

/// Why the framer rejected bytes at some stream offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameErrorKind {
    /// The bytes at the offset do not start with `8=FIX`.
    Garbage,
    /// BeginString (8) is not `FIX.4.2`, `FIX.4.4` or `FIXT.1.1`, or is not followed by a delimiter.
    BadBeginString,
    /// BodyLength (9) is not the second field, is empty, or is not strictly numeric.
    BadBodyLength,
    /// BodyLength (9) exceeds the configured maximum (nothing was allocated for it).
    BodyLengthTooLarge,
    /// The body does not end with a delimiter followed by `10=` exactly BodyLength bytes after
    /// the BodyLength field: the declared length is wrong.
    BodyLengthMismatch,
    /// MsgType (35) is not the third field.
    MissingMsgType,
    /// CheckSum (10) is not exactly three digits followed by a delimiter.
    BadCheckSum,
    /// CheckSum (10) is well formed but does not match the bytes.
    CheckSumMismatch {
        /// The value in the message (three digits, so up to 999).
        declared: u16,
        /// The value computed over the message.
        computed: u8,
    },
    /// The stream ended (see [`crate::fix::Framer::finish`]) in the middle of a message.
    Truncated,
}

/// A framing error: what went wrong and the stream byte offset of the first byte of the bad
/// message (or of the garbage). The framer resynchronises on the next `8=FIX` after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameError {
    /// What went wrong.
    pub kind: FrameErrorKind,
    /// Offset in the stream (bytes fed to this framer since it was created or reset).
    pub offset: u64,
}

impl fmt::Display for FrameErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Garbage => f.write_str("bytes that do not start with 8=FIX"),
            Self::BadBeginString => f.write_str("bad or unsupported BeginString (8)"),
            Self::BadBodyLength => f.write_str("BodyLength (9) missing or not numeric"),
            Self::BodyLengthTooLarge => f.write_str("BodyLength (9) above the configured maximum"),
            Self::BodyLengthMismatch => f.write_str("BodyLength (9) does not match the body"),
            Self::MissingMsgType => f.write_str("MsgType (35) is not the third field"),
            Self::BadCheckSum => f.write_str("CheckSum (10) is not three digits and a delimiter"),
            Self::CheckSumMismatch { declared, computed } => {
                write!(f, "CheckSum (10) is {declared:03}, computed {computed:03}")
            }
            Self::Truncated => f.write_str("stream ended inside a message"),
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FIX framing error at byte {}: {}",
            self.offset, self.kind
        )
    }
}

impl std::error::Error for FrameError {}

/// Why a framed message could not be parsed or converted into a typed view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParseErrorKind {
    /// The message failed framing (only from [`crate::fix::Parser::parse`], which frames too).
    Frame(FrameErrorKind),
    /// A tag is not a number of 1 to 9 digits without a leading zero, or is not followed by `=`
    /// (this is also what a delimiter embedded in a non-data value looks like).
    BadTag,
    /// A field has an empty value.
    EmptyValue,
    /// A length field (95, 212, 93, ...) is not followed by its data field, or the data does not
    /// end with a delimiter exactly where the length says.
    DataLength,
    /// A required field is missing.
    Missing,
    /// A field occurs twice where that is forbidden (outside repeating groups; 8, 9, 10, 35 in the
    /// body).
    Duplicate,
    /// A value is not of its type (not a number, not a timestamp, a multi-character char, ...).
    Malformed,
    /// A number does not fit (an i64 with 8 decimals for prices and quantities).
    Overflow,
    /// A price or quantity has a non-zero digit beyond the 8th decimal: rejected, never rounded.
    TooManyDecimals,
    /// The view was asked of a message of another MsgType.
    WrongMsgType,
    /// A repeating group's count (e.g. NoMDEntries 268) does not match its entries, or an entry
    /// does not start with the group's first field.
    GroupCount,
}

/// A parse error: the kind, the tag concerned (0 when none), and the byte offset in the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParseError {
    /// What went wrong.
    pub kind: ParseErrorKind,
    /// The tag concerned, 0 when no tag is (e.g. a bad tag).
    pub tag: u32,
    /// Byte offset in the message of the field (or byte) concerned; 0 for a missing field.
    pub offset: u32,
}

impl ParseError {
    #[inline]
    pub(crate) const fn new(kind: ParseErrorKind, tag: u32, offset: u32) -> Self {
        Self { kind, tag, offset }
    }
    #[inline]
    pub(crate) const fn missing(tag: u32) -> Self {
        Self::new(ParseErrorKind::Missing, tag, 0)
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Frame(k) => write!(f, "framing: {k}"),
            Self::BadTag => f.write_str("bad tag"),
            Self::EmptyValue => f.write_str("empty value"),
            Self::DataLength => f.write_str("data field does not match its length field"),
            Self::Missing => f.write_str("required field missing"),
            Self::Duplicate => f.write_str("duplicate field"),
            Self::Malformed => f.write_str("malformed value"),
            Self::Overflow => f.write_str("number overflows"),
            Self::TooManyDecimals => f.write_str("more than 8 decimals"),
            Self::WrongMsgType => f.write_str("wrong MsgType for this view"),
            Self::GroupCount => f.write_str("repeating group count or layout mismatch"),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FIX parse error: {} (tag {}, byte {})",
            self.kind, self.tag, self.offset
        )
    }
}

impl std::error::Error for ParseError {}

impl From<FrameError> for ParseError {
    fn from(e: FrameError) -> Self {
        Self::new(
            ParseErrorKind::Frame(e.kind),
            0,
            u32::try_from(e.offset).unwrap_or(u32::MAX),
        )
    }
}
