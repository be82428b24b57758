//! Zero-copy field index of one framed message, and the raw [`Message`] view.

use super::error::{ParseError, ParseErrorKind};
use super::frame::{BeginString, Delimiter, Frame, FramerConfig, frame_one};
use super::num;
use super::scan::{self, BlockMask, Words};
use super::views::{self, Plan};

/// One field of a message: its tag and the byte range of its value in the message.
/// (`repr(C)`: the hint loop's assembly in `scan` writes fields by offset.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
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
pub(crate) const ZEROS: u64 = 0x3030_3030_3030_3030;
const SIXES: u64 = 0x0606_0606_0606_0606;

/// Bytes of `x` that are not ASCII digits have (some of) their high nibble set in the result.
/// Exact for the lowest non-digit byte (a carry can only disturb bytes above it).
#[inline(always)]
pub(crate) const fn non_digits(x: u64) -> u64 {
    ((x & HI) ^ ZEROS) | ((x.wrapping_add(SIXES) & HI) ^ ZEROS)
}

/// Combines 8 digit values (one per byte, first digit in the lowest byte) into their number.
#[inline(always)]
pub(crate) const fn combine8(d: u64) -> u64 {
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

/// What the tag of the field at one position of the last message of a MsgType looked like: its
/// digits and `=` (the low `skip` bytes of `key`, `mask` selecting them) and its number.
/// Messages of one type from one counterparty repeat their layout, so the next message's tag at
/// that position is nearly always recognised with one 8-byte compare instead of a digit scan and
/// conversion. Only plain tags are remembered (never 8, 9, 10, 35 nor a length field, which need
/// more checks), so a hit needs no other check than a non-empty value; anything else takes the
/// full path (and replaces the hint).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TagHint {
    mask: u64,
    key: u64,
    tag: u32,
    /// Digits and `=`: the value starts this many bytes after the tag.
    skip: u32,
}

impl TagHint {
    /// Matches nothing (`x & 0 != 1`).
    const NONE: Self = Self {
        mask: 0,
        key: 1,
        tag: 0,
        skip: 0,
    };
}

/// Body field positions after 35 that have a hint (further fields always take the full path).
pub(crate) const HINT_POSITIONS: usize = 40;

/// The tag layout hints of one MsgType's positions by column (one array per [`TagHint`] field):
/// position `i` is the hint `(mask[i], key[i], tag[i], skip[i])`. One bound test (`i <
/// HINT_POSITIONS`) covers the four arrays and the field buffer in the hint loop. (`repr(C)`:
/// the hint loop's assembly in `scan` reads the arrays by offset.)
#[derive(Clone, Debug)]
#[repr(C)]
pub(crate) struct HintCols {
    pub(crate) mask: [u64; HINT_POSITIONS],
    pub(crate) key: [u64; HINT_POSITIONS],
    pub(crate) tag: [u32; HINT_POSITIONS],
    pub(crate) skip: [u32; HINT_POSITIONS],
}

impl HintCols {
    const NONE: Self = Self {
        mask: [TagHint::NONE.mask; HINT_POSITIONS],
        key: [TagHint::NONE.key; HINT_POSITIONS],
        tag: [TagHint::NONE.tag; HINT_POSITIONS],
        skip: [TagHint::NONE.skip; HINT_POSITIONS],
    };

    /// Replaces the hint of position `i` (none past the last position).
    #[inline(always)]
    fn put(&mut self, i: usize, h: TagHint) {
        if i < HINT_POSITIONS {
            self.mask[i] = h.mask;
            self.key[i] = h.key;
            self.tag[i] = h.tag;
            self.skip[i] = h.skip;
        }
    }
}

/// Hint sets: one per common one-character MsgType, set 0 shared by all the others.
const HINT_SETS: usize = 16;

/// The hint set of each one-character MsgType (7-bit): 1..=15 for the application and session
/// messages the appliance reads, 0 for the others.
static HINT_SET_OF: [u8; 128] = {
    let types = b"01234589ADFGWXj";
    let mut t = [0u8; 128];
    let mut i = 0;
    while i < types.len() {
        t[types[i] as usize] = (i + 1) as u8;
        i += 1;
    }
    t
};

/// The tag layout hints of one MsgType (see [`TagHint`]), and the positions of its typed view's
/// fields for the layout they describe.
#[derive(Clone, Debug)]
struct HintSet {
    hints: HintCols,
    /// Incremented whenever a hint of this set is written (the layout may have changed); 64
    /// bits, so it never wraps around to a plan's generation.
    generation: u64,
    /// Plans of layouts of this generation, by field count modulo [`PLANS`] (a layout and its
    /// prefixes are all recognised from the same hints: e.g. execution reports with and without
    /// the fill fields at the end).
    plans: [PlanSlot; PLANS],
}

/// Plans kept per MsgType.
const PLANS: usize = 4;

/// A typed view plan (see [`views::plan`]) for the layout of hint generation `generation` with
/// `fields` fields in all; `plan: None`: that layout has none.
#[derive(Clone, Debug)]
struct PlanSlot {
    generation: u64,
    fields: u32,
    plan: Option<Plan>,
}

impl HintSet {
    const NONE: Self = Self {
        hints: HintCols::NONE,
        generation: 0,
        plans: [const {
            PlanSlot {
                generation: u64::MAX,
                fields: 0,
                plan: None,
            }
        }; PLANS],
    };
}

/// The tag layout hints of a parser, one set per MsgType: a stream that mixes message types
/// (executions, orders, market data, cancels, ...) keeps each type's layout instead of
/// overwriting one type's with the next's. Only a fast path: results never depend on them.
#[derive(Clone, Debug)]
pub(crate) struct TagHints {
    sets: Box<[HintSet; HINT_SETS]>,
    /// The set of the last message indexed, and whether every tag after its 35 was recognised
    /// from a hint (so its tags are exactly the set's hint tags).
    last_set: usize,
    last_all_hinted: bool,
}

impl Default for TagHints {
    fn default() -> Self {
        Self {
            sets: Box::new([const { HintSet::NONE }; HINT_SETS]),
            last_set: 0,
            last_all_hinted: false,
        }
    }
}

impl TagHints {
    /// The set of the message whose body (`35=` then the MsgType) starts at `start`: chosen by
    /// a one-character MsgType (set 0 for longer ones and anything unexpected).
    #[inline(always)]
    fn set_index(bytes: &[u8], start: usize, delim: Delimiter) -> usize {
        let k = match bytes.get(start + 3..start + 5) {
            Some(&[c, t]) if delim.is(t) => HINT_SET_OF.get(usize::from(c)).copied().unwrap_or(0),
            _ => 0,
        };
        usize::from(k) % HINT_SETS
    }

    /// The typed view plan for the message just indexed (`fields`, 8 through 10, of `bytes`),
    /// when every tag came from the hints: computed once per layout (a layout is a hint
    /// generation; the MsgType is read only then).
    #[inline(always)]
    fn plan(&mut self, fields: &[Field], bytes: &[u8]) -> Option<&Plan> {
        if !self.last_all_hinted || self.last_set == 0 {
            return None;
        }
        let set = &mut self.sets[self.last_set % HINT_SETS];
        let n = fields.len() as u32;
        let slot = &mut set.plans[n as usize % PLANS];
        if slot.generation != set.generation || slot.fields != n {
            let msg_type = fields
                .get(2)
                .and_then(|f| bytes.get(f.start as usize..f.end as usize))
                .unwrap_or(&[]);
            *slot = PlanSlot {
                generation: set.generation,
                fields: n,
                plan: views::plan(msg_type, fields),
            };
        }
        slot.plan.as_ref()
    }
}

/// The 8 bytes at `p`, if there are 8.
#[inline(always)]
fn word_at(bytes: &[u8], p: usize) -> Option<u64> {
    bytes
        .get(p..)
        .and_then(|r| r.first_chunk::<8>())
        .map(|w| u64::from_le_bytes(*w))
}

/// Iterates the delimiter positions of `bytes`, one 64-byte block mask at a time.
#[derive(Clone, Copy)]
struct Delims<M> {
    m: M,
    /// Offset of the current block.
    base: usize,
    /// Delimiters of the current block not consumed yet.
    bits: u64,
}

impl<M: BlockMask> Delims<M> {
    /// Delimiters at or after `from`.
    #[inline(always)]
    fn at<const PIPE: bool>(m: M, bytes: &[u8], from: usize) -> Self {
        let base = from & !63;
        let bits = block_mask::<M, PIPE>(m, bytes, base) & (!0u64 << (from - base));
        Self { m, base, bits }
    }

    /// The next delimiter, if one is before `end`.
    #[inline(always)]
    fn next<const PIPE: bool>(&mut self, bytes: &[u8], end: usize) -> Option<usize> {
        while self.bits == 0 {
            self.base += 64;
            if self.base >= end {
                return None;
            }
            self.bits = block_mask::<M, PIPE>(self.m, bytes, self.base);
        }
        let d = self.base + self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(d)
    }
}

/// Delimiter mask of the 64 bytes at `base`; bytes past the end of `b` count as none. The last,
/// partial block of `b` is the mask of the last 64 bytes of `b`, shifted (no copy).
#[inline(always)]
fn block_mask<M: BlockMask, const PIPE: bool>(m: M, b: &[u8], base: usize) -> u64 {
    if let Some(blk) = b.get(base..).and_then(|r| r.first_chunk::<64>()) {
        return m.masks(blk, PIPE);
    }
    let len = b.len();
    if let (Some(last), true) = (len.checked_sub(64), base < len) {
        if let Some(blk) = b.get(last..).and_then(|r| r.first_chunk::<64>()) {
            // `last < base < len`: a shift of 1..=63.
            return m.masks(blk, PIPE) >> (base - last);
        }
    }
    short_block_mask(m, b, base, PIPE)
}

/// [`block_mask`] when `b` is shorter than 64 bytes: of a zero-padded copy.
#[cold]
#[inline(never)]
fn short_block_mask<M: BlockMask>(m: M, b: &[u8], base: usize, pipe: bool) -> u64 {
    let mut tmp = [0u8; 64];
    let rest = b.get(base..).unwrap_or(&[]);
    let k = rest.len().min(64);
    tmp[..k].copy_from_slice(&rest[..k]);
    m.masks(&tmp, pipe)
}

/// Neither 8, 9, 10, 35 nor a length field: no duplicate or data-length check needed.
#[inline(always)]
const fn is_plain(tag: u32) -> bool {
    !matches!(tag, 8 | 9 | 10 | 35) && data_tag_for(tag).is_none()
}

/// Indexes the fields of `bytes[start..end]` into `out`; returns how many. `bytes[end - 1]` must
/// be a delimiter (the framer checked it; otherwise this returns an error, never panics). Field
/// ends come from the delimiter bit masks of 64-byte blocks (bit iteration); tags are converted
/// with SWAR; values of data fields are skipped by length. `hints` remembers each MsgType's tag
/// bytes per position (see [`TagHint`]): the same fields and errors as without them. `out` needs
/// room for `(end - start) / 4` fields (each takes at least 4 bytes); a smaller one is an error.
#[inline(always)]
pub(crate) fn index_body<M: BlockMask>(
    m: M,
    bytes: &[u8],
    start: usize,
    end: usize,
    pipe: bool,
    out: &mut [Field],
    hints: &mut TagHints,
) -> Result<usize, ParseError> {
    if pipe {
        index_body_in::<M, true>(m, bytes, start, end, out, hints)
    } else {
        index_body_in::<M, false>(m, bytes, start, end, out, hints)
    }
}

#[inline(always)]
fn index_body_in<M: BlockMask, const PIPE: bool>(
    m: M,
    bytes: &[u8],
    start: usize,
    end: usize,
    out: &mut [Field],
    hints: &mut TagHints,
) -> Result<usize, ParseError> {
    let delim = if PIPE { Delimiter::Log } else { Delimiter::Soh };
    // Set on success only, at the end.
    hints.last_all_hinted = false;
    if end > bytes.len() {
        return Err(err(ParseErrorKind::BadTag, 0, start));
    }
    if end == 0 || !delim.is(bytes[end - 1]) || start > end {
        return Err(err(ParseErrorKind::BadTag, 0, end));
    }
    if start == end {
        return Ok(0);
    }
    let Some(words) = Words::new(bytes, end) else {
        // Not from a frame (no trailer after `end`): index a copy that has one.
        return index_padded::<M, PIPE>(m, bytes, start, end, out, hints);
    };
    let k = TagHints::set_index(bytes, start, delim);
    hints.last_set = k;
    let HintSet {
        hints: set,
        generation,
        ..
    } = &mut hints.sets[k];
    let mut cur = Delims::at::<PIPE>(m, bytes, start);
    let Some(d) = cur.next::<PIPE>(bytes, end) else {
        return Err(err(ParseErrorKind::BadTag, 0, start));
    };
    // The first field: 35 from the framer (the only place a 35 is no duplicate).
    let Some((first, out)) = out.split_first_mut() else {
        return Err(err(ParseErrorKind::BadTag, 0, start));
    };
    let mut all_hinted = true;
    let mut p = if bytes.get(start..start + 3) == Some(b"35=") && d > start + 3 {
        *first = Field {
            tag: 35,
            start: start as u32 + 3,
            end: d as u32,
        };
        d + 1
    } else {
        let (next, k, c, _) = slow_field::<M, PIPE>(
            cur,
            bytes,
            end,
            start,
            d,
            true,
            core::slice::from_mut(first),
        )?;
        all_hinted = false;
        if k != 1 {
            // A length field first: its data field did not fit in `first` (never from a frame).
            return Err(err(ParseErrorKind::BadTag, 0, start));
        }
        cur = c;
        next
    };
    // Then `out[i]` is the field at hint position `i`.
    let mut i = 0usize;
    loop {
        // Fast path: tags recognised by their hint. No call in this loop, so that its state
        // stays in registers; one bound (`i < HINT_POSITIONS`) serves the hints and `fo`. The
        // tag word's load is also the loop's end test (`p < end`).
        let d = 'fast: {
            let Some(fo) = out.first_chunk_mut::<HINT_POSITIONS>() else {
                if p >= end {
                    hints.last_all_hinted = all_hinted;
                    return Ok(i + 1);
                }
                let Some(d) = cur.next::<PIPE>(bytes, end) else {
                    return Err(err(ParseErrorKind::BadTag, 0, p));
                };
                break 'fast d;
            };
            // SOH mode: the run of hits by the scanner's own loop where it has one (AVX2 + BMI:
            // hand-written, see `scan`); it stops before anything else (a miss, an empty
            // value, a block it cannot load, position 40, the end), which the loop below
            // then takes exactly as if it had done the hits itself.
            if !PIPE {
                (p, i, cur.base, cur.bits) = m.hint_hits(words, p, i, cur.base, cur.bits, set, fo);
            }
            loop {
                let Some(x) = words.at(p) else {
                    // `p >= end`: every field indexed.
                    hints.last_all_hinted = all_hinted;
                    return Ok(i + 1);
                };
                let Some(d) = cur.next::<PIPE>(bytes, end) else {
                    return Err(err(ParseErrorKind::BadTag, 0, p));
                };
                if i < HINT_POSITIONS {
                    // The same digits and '=' as a (plain) tag already checked: the same tag.
                    // (`eq < d`: digits and '=' are not delimiters, and `d` is the first
                    // delimiter at or after `p`.)
                    let vstart = p + set.skip[i] as usize;
                    if x & set.mask[i] == set.key[i] && d != vstart {
                        fo[i] = Field {
                            tag: set.tag[i],
                            start: vstart as u32,
                            end: d as u32,
                        };
                        i += 1;
                        p = d + 1;
                        continue;
                    }
                }
                break d;
            }
        };
        let Some(o) = out.get_mut(i..) else {
            return Err(err(ParseErrorKind::BadTag, 0, p));
        };
        *generation += 1;
        all_hinted = false;
        let (next, k, c, h) = slow_field::<M, PIPE>(cur, bytes, end, p, d, false, o)?;
        set.put(i, h);
        cur = c;
        i += k;
        p = next;
    }
}

/// [`index_body_in`] for a body not followed by 7 bytes (only callers other than the parser,
/// which indexes frames): the same fields and errors, from a copy with 7 bytes of padding.
#[cold]
#[inline(never)]
fn index_padded<M: BlockMask, const PIPE: bool>(
    m: M,
    bytes: &[u8],
    start: usize,
    end: usize,
    out: &mut [Field],
    hints: &mut TagHints,
) -> Result<usize, ParseError> {
    let mut padded = Vec::with_capacity(end + 7);
    padded.extend_from_slice(&bytes[..end]);
    padded.extend_from_slice(&[0; 7]);
    index_body_in::<M, PIPE>(m, &padded, start, end, out, hints)
}

/// The full path for the field at `p` (`d`: the first delimiter at or after it): tag conversion
/// and every check; a length field takes its data field along. Writes the field(s) to `out`;
/// returns where the next field starts, how many fields were written, the delimiter iterator
/// after them, and the hint of the field's position (its tag, or none).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn slow_field<M: BlockMask, const PIPE: bool>(
    mut cur: Delims<M>,
    bytes: &[u8],
    end: usize,
    p: usize,
    d: usize,
    first: bool,
    out: &mut [Field],
) -> Result<(usize, usize, Delims<M>, TagHint), ParseError> {
    let delim = if PIPE { Delimiter::Log } else { Delimiter::Soh };
    let Some((tag, eq)) = parse_tag(bytes, p, d) else {
        return Err(err(ParseErrorKind::BadTag, 0, p));
    };
    let n = eq - p; // 1..=9 digits
    let plain = is_plain(tag);
    let hint = match word_at(bytes, p) {
        Some(x) if plain && n <= 7 => {
            let mask = u64::MAX >> (8 * (7 - n));
            TagHint {
                mask,
                key: x & mask,
                tag,
                skip: n as u32 + 1,
            }
        }
        _ => TagHint::NONE,
    };
    let vstart = eq + 1;
    if d == vstart {
        return Err(err(ParseErrorKind::EmptyValue, tag, p));
    }
    let field = Field {
        tag,
        start: vstart as u32,
        end: d as u32,
    };
    let Some(f) = out.first_mut() else {
        return Err(err(ParseErrorKind::BadTag, 0, p));
    };
    if plain {
        *f = field;
        return Ok((d + 1, 1, cur, hint));
    }
    if matches!(tag, 8 | 9 | 10 | 35) && !(first && tag == 35) {
        return Err(err(ParseErrorKind::Duplicate, tag, p));
    }
    let Some(dtag) = data_tag_for(tag) else {
        *f = field;
        return Ok((d + 1, 1, cur, hint));
    };
    // A length field: its data field must follow, with exactly that many value bytes.
    let len = num::parse_u64(&bytes[vstart..d]).map_err(|k| err(k, tag, p))?;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    *f = field;
    let p2 = d + 1;
    if p2 >= end {
        return Err(err(ParseErrorKind::DataLength, dtag, end));
    }
    let Some(d2) = cur.next::<PIPE>(bytes, end) else {
        return Err(err(ParseErrorKind::BadTag, 0, p2));
    };
    let Some((tag2, eq2)) = parse_tag(bytes, p2, d2) else {
        return Err(err(ParseErrorKind::BadTag, 0, p2));
    };
    if tag2 != dtag {
        return Err(err(ParseErrorKind::DataLength, dtag, p2));
    }
    let vstart2 = eq2 + 1;
    let vend = match vstart2.checked_add(len) {
        Some(ve) if ve < end && delim.is(bytes[ve]) => ve,
        _ => return Err(err(ParseErrorKind::DataLength, tag2, p2)),
    };
    if vend == vstart2 {
        return Err(err(ParseErrorKind::EmptyValue, tag2, p2));
    }
    let Some(f2) = out.get_mut(1) else {
        return Err(err(ParseErrorKind::BadTag, 0, p2));
    };
    *f2 = Field {
        tag: tag2,
        start: vstart2 as u32,
        end: vend as u32,
    };
    // Resume the delimiter iteration after the data's terminating delimiter.
    let cur = Delims::at::<PIPE>(cur.m, bytes, vend + 1);
    Ok((vend + 1, 2, cur, hint))
}

/// A parser: owns the reusable field index (no allocation per message once it has grown to the
/// largest message's size) and the last tag layout of each MsgType (tags at the same positions
/// as in the last message of the same type are recognised with one compare; results never
/// depend on it). Use one per session: counterparties repeat their layouts.
#[derive(Debug, Default)]
pub struct Parser {
    /// The field index: `fields[..n]` is the last message's; grown, never shrunk nor cleared.
    fields: Vec<Field>,
    cfg: FramerConfig,
    /// The last tag layout of each MsgType (see [`TagHint`]).
    hints: TagHints,
    /// The scanner this CPU supports (detected once).
    indexer: scan::Indexer,
}

impl Parser {
    /// A parser for the given delimiter mode and maximum body length (used by [`Parser::parse`]).
    pub fn new(cfg: FramerConfig) -> Self {
        Self {
            fields: vec![Field::default(); MIN_FIELDS],
            cfg,
            hints: TagHints::default(),
            indexer: scan::Indexer::detect(),
        }
    }

    /// Indexes a frame from the [`Framer`](super::Framer) (already validated).
    #[inline(always)]
    pub fn parse_frame<'a>(&'a mut self, frame: Frame<'a>) -> Result<Message<'a>, ParseError> {
        let bytes = frame.bytes;
        let bs = frame.body_start as usize;
        let ts = frame.trailer_start as usize;
        // 8, 9, at most one body field per 4 bytes, 10.
        let need = 3 + ts.saturating_sub(bs) / 4;
        if self.fields.len() < need {
            self.fields
                .resize(need.next_power_of_two().max(MIN_FIELDS), Field::default());
        }
        let fields = &mut self.fields[..];
        let [f8, f9, body @ .., _] = fields else {
            return Err(err(ParseErrorKind::BadTag, 0, 0));
        };
        // 8 and 9 are known from framing.
        let v8 = 2 + frame.begin_string.as_bytes().len();
        *f8 = Field {
            tag: 8,
            start: 2,
            end: v8 as u32,
        };
        *f9 = Field {
            tag: 9,
            start: v8 as u32 + 3,
            end: bs as u32 - 1,
        };
        let pipe = frame.delimiter.pipe();
        let n = scan::index_fields(self.indexer, bytes, bs, ts, pipe, body, &mut self.hints)?;
        // `n <= body.len()`: index `2 + n` is at most the last one.
        let Some(f10) = fields.get_mut(2 + n) else {
            return Err(err(ParseErrorKind::BadTag, 0, ts));
        };
        *f10 = Field {
            tag: 10,
            start: ts as u32 + 3,
            end: ts as u32 + 6,
        };
        let fields = &self.fields[..3 + n];
        let f35 = fields[2];
        let plan = self.hints.plan(fields, bytes);
        // A plan points at fields by a `u8` index: it gets the first 256 slots of the index
        // (always there, see `MIN_FIELDS`), so that no index needs a bounds check.
        let plan = plan.zip(self.fields.first_chunk::<{ PLAN_FIELDS }>());
        Ok(Message {
            bytes,
            fields,
            begin_string: frame.begin_string,
            msg_type: (f35.start, f35.end),
            pipe,
            plan: PlanRef(plan),
        })
    }

    /// Whether every tag of the last message after its 35 was recognised from the hints of its
    /// MsgType.
    #[cfg(test)]
    pub(crate) fn last_all_hinted(&self) -> bool {
        self.hints.last_all_hinted
    }

    /// What [`Parser::parse`] returns for `frame.bytes`, for a frame from a
    /// [`Framer`](super::Framer), without framing and checksumming the bytes a second time. The
    /// framer checked them by [`frame_one`]'s rules, so only what depends on the configuration
    /// can differ: a frame with another delimiter, or a body over this parser's `max_body_len`
    /// (the framer's may be larger), is framed again for `parse`'s exact verdict.
    #[inline(always)]
    pub fn parse_framed<'a>(&'a mut self, frame: Frame<'a>) -> Result<Message<'a>, ParseError> {
        // BodyLength is `trailer_start - body_start` in a checked frame.
        let body_len = frame.trailer_start.saturating_sub(frame.body_start);
        if self.frames_alike(frame.delimiter.pipe(), body_len) {
            self.parse_frame(frame)
        } else {
            self.parse(frame.bytes)
        }
    }

    /// Whether [`Parser::parse`] of `m.bytes()` gives `m`, whichever parser indexed `m`: framing
    /// checks the same rules in either parser but for the configuration, so `m` must have been
    /// framed in this parser's delimiter mode and its body must be within this parser's
    /// `max_body_len`.
    #[inline]
    pub fn indexes_as(&self, m: &Message<'_>) -> bool {
        self.frames_alike(m.pipe, m.body_len())
    }

    /// Whether this parser's framing accepts a message another framer accepted, in delimiter mode
    /// `pipe` with a body of `body_len` bytes: the rules are the same but for the configuration
    /// (two delimiter modes, so the same `pipe` is the same mode; `max_body_len`).
    #[inline(always)]
    fn frames_alike(&self, pipe: bool, body_len: u32) -> bool {
        pipe == self.cfg.delimiter.pipe() && body_len <= self.cfg.max_body_len
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
    /// Framed and indexed in [`Delimiter::Log`] mode (a `|` delimits too).
    pipe: bool,
    plan: PlanRef<'a>,
}

/// Where the fields of the message's typed view are (see [`views::plan`]), when the parser knows
/// its layout. Only a fast path of the views; ignored by `==`.
#[derive(Clone, Copy)]
pub(crate) struct PlanRef<'a>(Option<(&'a Plan, &'a PlanFields)>);

/// What a plan's indexes point into: the first [`PLAN_FIELDS`] slots of the parser's field index
/// (a `u8` index is always in bounds; the plan only holds indexes of the message's fields).
pub(crate) type PlanFields = [Field; PLAN_FIELDS];
const PLAN_FIELDS: usize = 256;
/// The field index always has at least this many slots.
const MIN_FIELDS: usize = PLAN_FIELDS;

impl PartialEq for PlanRef<'_> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for PlanRef<'_> {}
impl core::fmt::Debug for PlanRef<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PlanRef")
    }
}

impl<'a> Message<'a> {
    /// The whole message.
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// BodyLength (9): from after its own field to the CheckSum (10) field.
    #[inline]
    pub fn body_len(&self) -> u32 {
        // Field 1 is BodyLength (its value ends before the body's first byte's delimiter); the
        // last is CheckSum, whose value starts 3 bytes after the trailer.
        let (Some(f9), Some(f10)) = (self.fields.get(1), self.fields.last()) else {
            return 0;
        };
        f10.start.saturating_sub(3).saturating_sub(f9.end + 1)
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
    /// The typed view plan, when the parser knows this message's layout.
    #[inline(always)]
    pub(crate) fn plan(&self) -> Option<(&'a Plan, &'a PlanFields)> {
        self.plan.0
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
