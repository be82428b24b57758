//! Zero-copy field index of one framed message, and the raw [`Message`] view.

use super::error::{ParseError, ParseErrorKind};
use super::frame::{BeginString, Delimiter, Frame, FramerConfig, frame_one};
use super::num;
use super::scan::{self, BlockMask};

/// One field of a message: its tag and the byte range of its value in the message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Field {
    /// The tag number.
    pub tag: u32,
    /// Offset of the first value byte.
    pub start: u32,
    /// Offset one past the last value byte (the delimiter).
    pub end: u32,
}

/// The data field that must immediately follow a length field, and may contain SOH.
#[inline(always)]
pub const fn data_tag_for(len_tag: u32) -> Option<u32> {
    match len_tag {
        90 => Some(91),   // SecureDataLen -> SecureData
        93 => Some(89),   // SignatureLength -> Signature
        95 => Some(96),   // RawDataLength -> RawData
        212 => Some(213), // XmlDataLen -> XmlData
        348 => Some(349), // EncodedIssuerLen
        350 => Some(351), // EncodedSecurityDescLen
        352 => Some(353), // EncodedListExecInstLen
        354 => Some(355), // EncodedTextLen
        356 => Some(357), // EncodedSubjectLen
        358 => Some(359), // EncodedHeadlineLen
        360 => Some(361), // EncodedAllocTextLen
        362 => Some(363), // EncodedUnderlyingIssuerLen
        364 => Some(365), // EncodedUnderlyingSecurityDescLen
        445 => Some(446), // EncodedListStatusTextLen
        618 => Some(619), // EncodedLegIssuerLen
        621 => Some(622), // EncodedLegSecurityDescLen
        _ => None,
    }
}

#[inline(always)]
fn err(kind: ParseErrorKind, tag: u32, at: usize) -> ParseError {
    ParseError::new(kind, tag, at as u32)
}

const HI: u64 = 0xF0F0_F0F0_F0F0_F0F0;
const ZEROS: u64 = 0x3030_3030_3030_3030;
const SIXES: u64 = 0x0606_0606_0606_0606;

/// Bytes of `x` that are not ASCII digits have (some of) their high nibble set in the result.
/// Exact for the lowest non-digit byte (a carry can only disturb bytes above it).
#[inline(always)]
const fn non_digits(x: u64) -> u64 {
    ((x & HI) ^ ZEROS) | ((x.wrapping_add(SIXES) & HI) ^ ZEROS)
}

/// Combines 8 digit values (one per byte, first digit in the lowest byte) into their number.
#[inline(always)]
const fn combine8(d: u64) -> u64 {
    let d = (d.wrapping_mul(10).wrapping_add(d >> 8)) & 0x00FF_00FF_00FF_00FF;
    let d = (d.wrapping_mul(100).wrapping_add(d >> 16)) & 0x0000_FFFF_0000_FFFF;
    (d.wrapping_mul(10_000).wrapping_add(d >> 32)) & 0xFFFF_FFFF
}

/// Value of 1 to 8 ASCII digits held in the top `n` bytes of `x` (the low bytes zero), or `None`
/// when one of them is not a digit. SWAR: validate, then combine pairs, quads, octets.
#[inline(always)]
pub(crate) const fn swar_digits(x: u64, n: u32) -> Option<u64> {
    let shift = 8 * (8 - n);
    let mask = !0u64 << shift;
    if non_digits(x) & mask != 0 {
        return None;
    }
    Some(combine8(x - (ZEROS & mask)))
}

/// Digit values of the 8 bytes of `x` (ASCII digits, checked), or `None`.
#[inline(always)]
pub(crate) const fn swar_digit_values(x: u64) -> Option<u64> {
    if non_digits(x) != 0 {
        None
    } else {
        Some(x - ZEROS)
    }
}

/// Block loader for the delimiter masks of `b`, 64 bytes at a time.
#[inline(always)]
fn block_mask<M: BlockMask>(m: M, b: &[u8], base: usize, pipe: bool) -> u64 {
    match b.get(base..).and_then(|r| r.first_chunk::<64>()) {
        Some(blk) => m.masks(blk, pipe),
        None => {
            let mut tmp = [0u8; 64];
            let rest = b.get(base..).unwrap_or(&[]);
            tmp[..rest.len()].copy_from_slice(rest);
            m.masks(&tmp, pipe)
        }
    }
}

/// Parses the tag at `p` (1 to 9 digits, no leading zero, then `=`): `(tag, offset of '=')`.
#[inline(always)]
fn parse_tag(bytes: &[u8], p: usize, end: usize) -> Option<(u32, usize)> {
    if let Some(w) = bytes.get(p..).and_then(|r| r.first_chunk::<8>()) {
        let x = u64::from_le_bytes(*w);
        let nd = non_digits(x);
        if nd != 0 {
            let n = nd.trailing_zeros() / 8; // index of the first non-digit byte
            let eq = p + n as usize;
            // (No `eq < end` test: `end` is the first delimiter at or after `p`, and the bytes
            // before a '=' found here are digits, so `eq < end` holds.)
            if n == 0 || (x >> (8 * n)) as u8 != b'=' || x as u8 == b'0' {
                return None;
            }
            debug_assert!(eq < end);
            let tag = combine8((x << (8 * (8 - n))) - (ZEROS & (!0u64 << (8 * (8 - n)))));
            return Some((tag as u32, eq));
        }
    }
    // 9-digit tags and the last bytes of a buffer.
    let mut t = 0u32;
    let mut q = p;
    loop {
        let c = *bytes.get(q).filter(|_| q < end)?;
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return (c == b'=' && q > p).then_some((t, q));
        }
        if (d == 0 && q == p) || q - p >= 9 {
            return None;
        }
        t = t * 10 + u32::from(d);
        q += 1;
    }
}

/// What the tag of the field at one position of the last message looked like: its digits and
/// `=` (the low `len + 1` bytes of `key`, `mask` selecting them) and its number. Messages of one
/// counterparty repeat their layout, so the next message's tag at that position is nearly always
/// recognised with one 8-byte compare instead of a digit scan and conversion; any other bytes
/// fall back to the full check (and replace the hint).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TagHint {
    mask: u64,
    key: u64,
    tag: u32,
    len: u16,
    /// Neither 8, 9, 10, 35 nor a length field: no duplicate or data-length check needed.
    plain: bool,
}

impl Default for TagHint {
    /// Matches nothing (`x & 0 != 1`).
    fn default() -> Self {
        Self {
            mask: 0,
            key: 1,
            tag: 0,
            len: 0,
            plain: false,
        }
    }
}

/// Hints for the first fields of a body (further fields always take the full check).
pub(crate) type TagHints = [TagHint; 32];

/// Indexes the fields of `bytes[start..end]` into `out`. `bytes[end - 1]` must be a delimiter
/// (the framer checked it; otherwise this returns an error, never panics). Field ends come from
/// the delimiter bit masks of 64-byte blocks (bit iteration); tags are converted with SWAR;
/// values of data fields are skipped by length. `hints` remembers each position's tag bytes (see
/// [`TagHint`]): the same tags and errors as without them.
#[inline(always)]
pub(crate) fn index_body<M: BlockMask>(
    m: M,
    bytes: &[u8],
    start: usize,
    end: usize,
    pipe: bool,
    out: &mut Vec<Field>,
    hints: &mut TagHints,
) -> Result<(), ParseError> {
    let delim = if pipe { Delimiter::Log } else { Delimiter::Soh };
    let Some(b) = bytes.get(..end) else {
        return Err(err(ParseErrorKind::BadTag, 0, start));
    };
    if end == 0 || !delim.is(b[end - 1]) || start > end {
        return Err(err(ParseErrorKind::BadTag, 0, end));
    }
    let mut base = start & !63;
    let mut delims = block_mask(m, b, base, pipe) & (!0u64 << (start - base));
    let mut data: Option<(u32, usize)> = None;
    let mut p = start;
    let mut first = true;
    let mut i = 0usize;
    while p < end {
        // The next delimiter at or after p.
        while delims == 0 {
            base += 64;
            if base >= end {
                return Err(err(ParseErrorKind::BadTag, 0, p));
            }
            delims = block_mask(m, b, base, pipe);
        }
        let d = base + delims.trailing_zeros() as usize;
        delims &= delims - 1;
        let word = bytes
            .get(p..)
            .and_then(|r| r.first_chunk::<8>())
            .map(|w| u64::from_le_bytes(*w));
        let hint = hints.get_mut(i);
        i += 1;
        let (tag, eq, plain) = match (word, hint) {
            // The same digits and '=' as a tag already checked: the same tag. (`eq < d`: digits
            // and '=' are not delimiters, and `d` is the first delimiter at or after `p`.)
            (Some(x), Some(h)) if x & h.mask == h.key => (h.tag, p + h.len as usize, h.plain),
            (word, hint) => {
                let Some((tag, eq)) = parse_tag(bytes, p, d) else {
                    return Err(err(ParseErrorKind::BadTag, 0, p));
                };
                let n = eq - p; // 1..=9 digits
                if let (Some(x), Some(h), true) = (word, hint, n <= 7) {
                    let mask = u64::MAX >> (8 * (7 - n));
                    *h = TagHint {
                        mask,
                        key: x & mask,
                        tag,
                        len: n as u16,
                        plain: !matches!(tag, 8 | 9 | 10 | 35) && data_tag_for(tag).is_none(),
                    };
                }
                (tag, eq, false)
            }
        };
        debug_assert!(eq < d);
        let vstart = eq + 1;
        let vend = if let Some((dtag, len)) = data {
            data = None;
            if dtag != tag {
                return Err(err(ParseErrorKind::DataLength, dtag, p));
            }
            let vend = match vstart.checked_add(len) {
                Some(ve) if ve < end && delim.is(b[ve]) => ve,
                _ => return Err(err(ParseErrorKind::DataLength, tag, p)),
            };
            // Resume the bit iteration after the data's terminating delimiter.
            base = vend & !63;
            delims = block_mask(m, b, base, pipe) & ((!0u64 << (vend - base)) << 1);
            vend
        } else {
            d
        };
        if vend == vstart {
            return Err(err(ParseErrorKind::EmptyValue, tag, p));
        }
        if !plain {
            if tag <= 35 && matches!(tag, 8 | 9 | 10 | 35) && !(first && tag == 35) {
                return Err(err(ParseErrorKind::Duplicate, tag, p));
            }
            if tag >= 90 {
                if let Some(dt) = data_tag_for(tag) {
                    let len = num::parse_u64(&b[vstart..vend]).map_err(|k| err(k, tag, p))?;
                    data = Some((dt, usize::try_from(len).unwrap_or(usize::MAX)));
                }
            }
        }
        first = false;
        out.push(Field {
            tag,
            start: vstart as u32,
            end: vend as u32,
        });
        p = vend + 1;
    }
    if let Some((dtag, _)) = data {
        return Err(err(ParseErrorKind::DataLength, dtag, end));
    }
    Ok(())
}

/// A parser: owns the reusable field index (no allocation per message once it has grown to the
/// largest message's field count) and the last message's tag layout (tags at the same positions
/// as last time are recognised with one compare; results never depend on it). Use one per
/// session: counterparties repeat their layout.
#[derive(Debug, Default)]
pub struct Parser {
    fields: Vec<Field>,
    cfg: FramerConfig,
    /// The last message's tag layout (see [`TagHint`]).
    hints: TagHints,
}

impl Parser {
    /// A parser for the given delimiter mode and maximum body length (used by [`Parser::parse`]).
    pub fn new(cfg: FramerConfig) -> Self {
        Self {
            fields: Vec::with_capacity(64),
            cfg,
            hints: TagHints::default(),
        }
    }

    /// Indexes a frame from the [`Framer`](super::Framer) (already validated).
    #[inline]
    pub fn parse_frame<'a>(&'a mut self, frame: Frame<'a>) -> Result<Message<'a>, ParseError> {
        let bytes = frame.bytes;
        let bs = frame.body_start as usize;
        let ts = frame.trailer_start as usize;
        let fields = &mut self.fields;
        fields.clear();
        // 8 and 9 are known from framing.
        let v8 = 2 + frame.begin_string.as_bytes().len();
        fields.push(Field {
            tag: 8,
            start: 2,
            end: v8 as u32,
        });
        fields.push(Field {
            tag: 9,
            start: v8 as u32 + 3,
            end: bs as u32 - 1,
        });
        let hints = &mut self.hints;
        scan::index_fields(bytes, bs, ts, frame.delimiter.pipe(), fields, hints)?;
        fields.push(Field {
            tag: 10,
            start: ts as u32 + 3,
            end: ts as u32 + 6,
        });
        let f35 = fields[2];
        Ok(Message {
            bytes,
            fields,
            begin_string: frame.begin_string,
            msg_type: (f35.start, f35.end),
        })
    }

    /// Frames and indexes exactly one complete message occupying all of `bytes`.
    #[inline]
    pub fn parse<'a>(&'a mut self, bytes: &'a [u8]) -> Result<Message<'a>, ParseError> {
        let frame = frame_one(bytes, &self.cfg)?;
        self.parse_frame(frame)
    }
}

/// A framed, indexed message: raw, zero-copy access to every field. Typed views come from
/// [`Message::typed`] or the views' `from_message`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    bytes: &'a [u8],
    fields: &'a [Field],
    begin_string: BeginString,
    msg_type: (u32, u32),
}

impl<'a> Message<'a> {
    /// The whole message.
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// BeginString (8).
    #[inline]
    pub fn begin_string(&self) -> BeginString {
        self.begin_string
    }
    /// MsgType (35).
    #[inline]
    pub fn msg_type(&self) -> &'a [u8] {
        &self.bytes[self.msg_type.0 as usize..self.msg_type.1 as usize]
    }
    /// All fields in wire order, 8, 9, 35 first and 10 last.
    #[inline]
    pub fn field_index(&self) -> &'a [Field] {
        self.fields
    }
    /// The value of a field of the index.
    #[inline]
    pub fn value(&self, f: &Field) -> &'a [u8] {
        self.bytes
            .get(f.start as usize..f.end as usize)
            .unwrap_or(&[])
    }
    /// `(tag, value)` of every field in wire order.
    pub fn fields(&self) -> impl Iterator<Item = (u32, &'a [u8])> + 'a {
        let bytes = self.bytes;
        self.fields.iter().map(move |f| {
            (
                f.tag,
                bytes.get(f.start as usize..f.end as usize).unwrap_or(&[]),
            )
        })
    }
    /// The first value of `tag` (raw lookup, e.g. for configurable tags such as NBBO stamps).
    #[inline]
    pub fn get(&self, tag: u32) -> Option<&'a [u8]> {
        self.fields
            .iter()
            .find(|f| f.tag == tag)
            .map(|f| self.value(f))
    }
}
