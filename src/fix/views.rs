//! Typed, read-only views of the messages the appliance reads and writes. Each view is a plain
//! struct of borrowed bytes and converted numbers, filled in one pass over the field index
//! (tag dispatch by integer `match`); the same struct is what the [`Encoder`](super::Encoder)
//! writes, so `parse(encode(m)) == m`.
//!
//! String fields are `&[u8]` (FIX values are bytes; no UTF-8 check on the hot path). Required
//! fields missing or malformed are a [`ParseError`] naming the tag, never a default. A field of
//! the view that occurs twice is [`ParseErrorKind::Duplicate`]. Unknown fields are ignored and
//! stay reachable through `get(tag)` (e.g. the configurable NBBO tags stamped on orders).

use super::encode::{BodyWriter, FixMessage};
use super::error::{ParseError, ParseErrorKind};
use super::frame::BeginString;
use super::message::{Field, Message, PlanFields};
use super::num::{self, Price, Qty, UtcTimestamp};
use super::scan;

/// A FIX value type: parsed from and written to value bytes.
pub trait FieldValue<'a>: Sized {
    /// Parses the value bytes.
    fn parse(v: &'a [u8]) -> Result<Self, ParseErrorKind>;
    /// Appends the value bytes.
    fn write(&self, out: &mut Vec<u8>);
    /// Parses the value `buf[start..end]` of a message; types may read the message bytes around
    /// the value for word-sized loads (prices and quantities do).
    #[inline(always)]
    fn parse_in(buf: &'a [u8], start: usize, end: usize) -> Result<Self, ParseErrorKind> {
        Self::parse(buf.get(start..end).unwrap_or(&[]))
    }
    /// A fixed-point type (8 decimals, `Price`, `Qty`): the views' plans convert these in one
    /// batch.
    #[doc(hidden)]
    const FIXED8: bool = false;
    /// From a fixed-point value of the batch (only called when `FIXED8`).
    #[doc(hidden)]
    #[inline(always)]
    fn from_fixed8(_v: i64) -> Option<Self> {
        None
    }
}

impl<'a> FieldValue<'a> for &'a [u8] {
    #[inline(always)]
    fn parse(v: &'a [u8]) -> Result<Self, ParseErrorKind> {
        Ok(v)
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}
impl FieldValue<'_> for u64 {
    #[inline(always)]
    fn parse(v: &[u8]) -> Result<Self, ParseErrorKind> {
        num::parse_u64(v)
    }
    #[inline(always)]
    fn parse_in(buf: &[u8], start: usize, end: usize) -> Result<Self, ParseErrorKind> {
        num::parse_u64_in(buf, start, end)
    }
    fn write(&self, out: &mut Vec<u8>) {
        num::write_u64(out, *self);
    }
}
impl FieldValue<'_> for u32 {
    #[inline(always)]
    fn parse(v: &[u8]) -> Result<Self, ParseErrorKind> {
        num::parse_u32(v)
    }
    #[inline(always)]
    fn parse_in(buf: &[u8], start: usize, end: usize) -> Result<Self, ParseErrorKind> {
        // Up to 8 digits always fit.
        num::parse_u64_in(buf, start, end)
            .and_then(|n| u32::try_from(n).map_err(|_| ParseErrorKind::Overflow))
    }
    fn write(&self, out: &mut Vec<u8>) {
        num::write_u64(out, u64::from(*self));
    }
}
/// A single-character value (`char` in FIX).
impl FieldValue<'_> for u8 {
    #[inline(always)]
    fn parse(v: &[u8]) -> Result<Self, ParseErrorKind> {
        num::parse_char(v)
    }
    #[inline(always)]
    fn parse_in(buf: &[u8], start: usize, end: usize) -> Result<Self, ParseErrorKind> {
        num::parse_char_in(buf, start, end)
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.push(*self);
    }
}
impl FieldValue<'_> for bool {
    #[inline(always)]
    fn parse(v: &[u8]) -> Result<Self, ParseErrorKind> {
        num::parse_bool(v)
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.push(if *self { b'Y' } else { b'N' });
    }
}
impl FieldValue<'_> for Price {
    #[inline(always)]
    fn parse(v: &[u8]) -> Result<Self, ParseErrorKind> {
        num::parse_fixed8(v).map(Price)
    }
    #[inline(always)]
    fn parse_in(buf: &[u8], start: usize, end: usize) -> Result<Self, ParseErrorKind> {
        num::parse_fixed8_in(buf, start, end).map(Price)
    }
    const FIXED8: bool = true;
    #[inline(always)]
    fn from_fixed8(v: i64) -> Option<Self> {
        Some(Price(v))
    }
    fn write(&self, out: &mut Vec<u8>) {
        num::write_fixed8(out, self.0);
    }
}
impl FieldValue<'_> for Qty {
    #[inline(always)]
    fn parse(v: &[u8]) -> Result<Self, ParseErrorKind> {
        num::parse_fixed8(v).map(Qty)
    }
    #[inline(always)]
    fn parse_in(buf: &[u8], start: usize, end: usize) -> Result<Self, ParseErrorKind> {
        num::parse_fixed8_in(buf, start, end).map(Qty)
    }
    const FIXED8: bool = true;
    #[inline(always)]
    fn from_fixed8(v: i64) -> Option<Self> {
        Some(Qty(v))
    }
    fn write(&self, out: &mut Vec<u8>) {
        num::write_fixed8(out, self.0);
    }
}
impl FieldValue<'_> for UtcTimestamp {
    #[inline(always)]
    fn parse(v: &[u8]) -> Result<Self, ParseErrorKind> {
        num::parse_timestamp(v).map(UtcTimestamp)
    }
    #[inline(always)]
    fn parse_in(buf: &[u8], start: usize, end: usize) -> Result<Self, ParseErrorKind> {
        num::parse_timestamp_in(buf, start, end).map(UtcTimestamp)
    }
    fn write(&self, out: &mut Vec<u8>) {
        num::write_timestamp(out, self.0);
    }
}

/// UTCDateOnly (`YYYYMMDD`): days since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDate(pub i64);
impl FieldValue<'_> for UtcDate {
    fn parse(v: &[u8]) -> Result<Self, ParseErrorKind> {
        num::parse_date_days(v).map(UtcDate)
    }
    fn write(&self, out: &mut Vec<u8>) {
        num::write_date_days(out, self.0);
    }
}

/// UTCTimeOnly (`HH:MM:SS[.fff...]`): nanoseconds since midnight UTC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTimeOnly(pub i64);
impl FieldValue<'_> for UtcTimeOnly {
    fn parse(v: &[u8]) -> Result<Self, ParseErrorKind> {
        num::parse_time_of_day(v).map(UtcTimeOnly)
    }
    fn write(&self, out: &mut Vec<u8>) {
        num::write_time_of_day(out, self.0);
    }
}

macro_rules! char_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $b:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $var,)*
            /// Any other value (the raw character).
            Other(u8),
        }
        impl $name {
            /// From the wire character (canonical: a known character never becomes `Other`).
            #[inline]
            pub const fn from_byte(b: u8) -> Self {
                match b { $($b => Self::$var,)* o => Self::Other(o) }
            }
            /// The wire character.
            #[inline]
            pub const fn as_byte(self) -> u8 {
                match self { $(Self::$var => $b,)* Self::Other(o) => o }
            }
        }
        impl FieldValue<'_> for $name {
            #[inline(always)]
            fn parse(v: &[u8]) -> Result<Self, ParseErrorKind> {
                num::parse_char(v).map(Self::from_byte)
            }
            #[inline(always)]
            fn parse_in(buf: &[u8], start: usize, end: usize) -> Result<Self, ParseErrorKind> {
                num::parse_char_in(buf, start, end).map(Self::from_byte)
            }
            fn write(&self, out: &mut Vec<u8>) {
                out.push(self.as_byte());
            }
        }
    };
}

char_enum! {
    /// Side (54).
    Side { Buy = b'1', Sell = b'2', SellShort = b'5' }
}
char_enum! {
    /// MDEntryType (269).
    MdEntryType { Bid = b'0', Offer = b'1', Trade = b'2' }
}
char_enum! {
    /// MDUpdateAction (279).
    MdUpdateAction { New = b'0', Change = b'1', Delete = b'2' }
}
char_enum! {
    /// ExecType (150), with the FIX 4.4 meanings. FIX 4.2 values are normalised by
    /// [`ExecutionReport::exec_kind`].
    ExecType {
        New = b'0', PartialFill = b'1', Fill = b'2', DoneForDay = b'3', Canceled = b'4',
        Replaced = b'5', PendingCancel = b'6', Stopped = b'7', Rejected = b'8', Suspended = b'9',
        PendingNew = b'A', Calculated = b'B', Expired = b'C', Restated = b'D',
        PendingReplace = b'E', Trade = b'F', TradeCorrect = b'G', TradeCancel = b'H',
        OrderStatus = b'I',
    }
}

/// Tells `PartialEq` to ignore it: the raw message behind a parsed view (`None` for a view built
/// by hand for encoding). Reach its fields with the views' `get(tag)`.
#[derive(Clone, Copy, Default)]
pub struct Raw<'a>(pub Option<Message<'a>>);

impl PartialEq for Raw<'_> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Raw<'_> {}
impl core::fmt::Debug for Raw<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Raw(..)"
        } else {
            "Raw(None)"
        })
    }
}

impl<'a> Raw<'a> {
    /// The first value of `tag` in the underlying message (`None` when built by hand).
    #[inline]
    pub fn get(&self, tag: u32) -> Option<&'a [u8]> {
        self.0.as_ref().and_then(|m| m.get(tag))
    }
}

#[inline(always)]
fn set<'a, T: FieldValue<'a>>(
    slot: &mut Option<T>,
    buf: &'a [u8],
    f: &Field,
) -> Result<(), ParseError> {
    if slot.is_some() {
        return Err(ParseError::new(ParseErrorKind::Duplicate, f.tag, f.start));
    }
    let parsed = T::parse_in(buf, f.start as usize, f.end as usize);
    *slot = Some(parsed.map_err(|k| ParseError::new(k, f.tag, f.start))?);
    Ok(())
}

#[inline(always)]
fn req<T>(v: Option<T>, tag: u32) -> Result<T, ParseError> {
    v.ok_or(ParseError::missing(tag))
}

/// The standard header fields the session layer and the engine use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// BeginString (8).
    pub begin_string: BeginString,
    /// SenderCompID (49), required.
    pub sender_comp_id: &'a [u8],
    /// TargetCompID (56), required.
    pub target_comp_id: &'a [u8],
    /// OnBehalfOfCompID (115).
    pub on_behalf_of_comp_id: Option<&'a [u8]>,
    /// DeliverToCompID (128).
    pub deliver_to_comp_id: Option<&'a [u8]>,
    /// MsgSeqNum (34), required.
    pub msg_seq_num: u64,
    /// PossDupFlag (43).
    pub poss_dup: Option<bool>,
    /// PossResend (97).
    pub poss_resend: Option<bool>,
    /// SendingTime (52), required.
    pub sending_time: UtcTimestamp,
    /// OrigSendingTime (122).
    pub orig_sending_time: Option<UtcTimestamp>,
    /// ApplVerID (1128), FIXT.1.1 only (`9` = FIX.5.0SP2).
    pub appl_ver_id: Option<&'a [u8]>,
}

impl<'a> Header<'a> {
    /// A header with the required fields and no optional ones.
    pub const fn new(
        begin_string: BeginString,
        sender_comp_id: &'a [u8],
        target_comp_id: &'a [u8],
        msg_seq_num: u64,
        sending_time: UtcTimestamp,
    ) -> Self {
        Self {
            begin_string,
            sender_comp_id,
            target_comp_id,
            on_behalf_of_comp_id: None,
            deliver_to_comp_id: None,
            msg_seq_num,
            poss_dup: None,
            poss_resend: None,
            sending_time,
            orig_sending_time: None,
            appl_ver_id: None,
        }
    }

    pub(crate) fn encode(&self, w: &mut BodyWriter<'_>) {
        w.field(49, &self.sender_comp_id);
        w.field(56, &self.target_comp_id);
        w.opt(115, &self.on_behalf_of_comp_id);
        w.opt(128, &self.deliver_to_comp_id);
        w.field(34, &self.msg_seq_num);
        w.opt(43, &self.poss_dup);
        w.opt(97, &self.poss_resend);
        w.field(52, &self.sending_time);
        w.opt(122, &self.orig_sending_time);
        w.opt(1128, &self.appl_ver_id);
    }
}

#[derive(Default)]
struct HeaderBuilder<'a> {
    sender: Option<&'a [u8]>,
    target: Option<&'a [u8]>,
    obo: Option<&'a [u8]>,
    deliver: Option<&'a [u8]>,
    seq: Option<u64>,
    poss_dup: Option<bool>,
    poss_resend: Option<bool>,
    sending: Option<UtcTimestamp>,
    orig_sending: Option<UtcTimestamp>,
    appl_ver: Option<&'a [u8]>,
}

impl<'a> HeaderBuilder<'a> {
    #[inline(always)]
    fn take(&mut self, buf: &'a [u8], f: &Field) -> Result<(), ParseError> {
        match f.tag {
            49 => set(&mut self.sender, buf, f),
            56 => set(&mut self.target, buf, f),
            115 => set(&mut self.obo, buf, f),
            128 => set(&mut self.deliver, buf, f),
            34 => set(&mut self.seq, buf, f),
            43 => set(&mut self.poss_dup, buf, f),
            97 => set(&mut self.poss_resend, buf, f),
            52 => set(&mut self.sending, buf, f),
            122 => set(&mut self.orig_sending, buf, f),
            1128 => set(&mut self.appl_ver, buf, f),
            _ => Ok(()),
        }
    }
    /// Same as `take`, dispatched by the dense slot of [`slot_table`] (200..=209).
    #[inline(always)]
    fn take_slot(&mut self, slot: u8, buf: &'a [u8], f: &Field) -> Result<(), ParseError> {
        match slot {
            200 => set(&mut self.sender, buf, f),
            201 => set(&mut self.target, buf, f),
            202 => set(&mut self.obo, buf, f),
            203 => set(&mut self.deliver, buf, f),
            204 => set(&mut self.seq, buf, f),
            205 => set(&mut self.poss_dup, buf, f),
            206 => set(&mut self.poss_resend, buf, f),
            207 => set(&mut self.sending, buf, f),
            208 => set(&mut self.orig_sending, buf, f),
            209 => set(&mut self.appl_ver, buf, f),
            _ => Ok(()),
        }
    }
    #[inline(always)]
    fn finish(self, begin_string: BeginString) -> Result<Header<'a>, ParseError> {
        Ok(Header {
            begin_string,
            sender_comp_id: req(self.sender, 49)?,
            target_comp_id: req(self.target, 56)?,
            on_behalf_of_comp_id: self.obo,
            deliver_to_comp_id: self.deliver,
            msg_seq_num: req(self.seq, 34)?,
            poss_dup: self.poss_dup,
            poss_resend: self.poss_resend,
            sending_time: req(self.sending, 52)?,
            orig_sending_time: self.orig_sending,
            appl_ver_id: self.appl_ver,
        })
    }
}

/// Tags below this are dispatched through a dense slot table.
const SLOT_TABLE_LEN: usize = 1200;
/// Header tags, in the slot order 200.. of [`HeaderBuilder::take_slot`].
const HEADER_SLOT_TAGS: [u32; 10] = [49, 56, 115, 128, 34, 43, 97, 52, 122, 1128];

/// Slot (1-based position) of `tag` in `tags`.
const fn slot_of(tags: &[u32], tag: u32) -> u8 {
    let mut i = 0;
    while i < tags.len() {
        if tags[i] == tag {
            return (i + 1) as u8;
        }
        i += 1;
    }
    panic!("tag not in the view");
}

/// tag -> slot: a view's own tags 1..=N, header tags 200..=209, anything else 0. One dense
/// `match` on the slot replaces a tree of comparisons on sparse tag numbers.
const fn slot_table(tags: &[u32]) -> [u8; SLOT_TABLE_LEN] {
    let mut t = [0u8; SLOT_TABLE_LEN];
    let mut i = 0;
    while i < HEADER_SLOT_TAGS.len() {
        t[HEADER_SLOT_TAGS[i] as usize] = 200 + i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < tags.len() {
        t[tags[i] as usize] = (i + 1) as u8;
        i += 1;
    }
    t
}

/// A typed view plan: for the layout of a message (its tag sequence), where each field of the
/// view is: `plan[slot]` is the index in the field index of the view field of slot `slot`
/// (1..=29), `plan[30 + k]` that of header slot `200 + k`; [`PLAN_NONE`] when absent. The parser
/// keeps one per MsgType for the last layout whose tags it recognised from its hints (see
/// `message::TagHints`): messages of that layout are converted without a dispatch per field.
pub(crate) type Plan = [u8; PLAN_LEN];
pub(crate) const PLAN_LEN: usize = 40;
pub(crate) const PLAN_NONE: u8 = u8::MAX;

/// The plan of `fields` (8 through 10) for the view of `msg_type`, or `None`: no view with a
/// plan (market data, unknown types), a view field twice or a required one missing (the full
/// path reports them), or more fields than a plan can point at.
pub(crate) fn plan(msg_type: &[u8], fields: &[Field]) -> Option<Plan> {
    let (slots, required): (&[u8; SLOT_TABLE_LEN], &[bool]) = match msg_type {
        b"8" => (ExecutionReport::slots(), ExecutionReport::REQUIRED),
        b"D" => (NewOrderSingle::slots(), NewOrderSingle::REQUIRED),
        b"F" => (OrderCancelRequest::slots(), OrderCancelRequest::REQUIRED),
        b"G" => (
            OrderCancelReplaceRequest::slots(),
            OrderCancelReplaceRequest::REQUIRED,
        ),
        b"9" => (OrderCancelReject::slots(), OrderCancelReject::REQUIRED),
        b"j" => (
            BusinessMessageReject::slots(),
            BusinessMessageReject::REQUIRED,
        ),
        b"3" => (Reject::slots(), Reject::REQUIRED),
        b"A" => (Logon::slots(), Logon::REQUIRED),
        b"0" => (Heartbeat::slots(), Heartbeat::REQUIRED),
        b"1" => (TestRequest::slots(), TestRequest::REQUIRED),
        b"2" => (ResendRequest::slots(), ResendRequest::REQUIRED),
        b"4" => (SequenceReset::slots(), SequenceReset::REQUIRED),
        b"5" => (Logout::slots(), Logout::REQUIRED),
        _ => return None,
    };
    let mut plan = [PLAN_NONE; PLAN_LEN];
    let body = fields.get(3..fields.len().saturating_sub(1))?;
    for (i, f) in body.iter().enumerate() {
        let k = match slots.get(f.tag as usize).copied().unwrap_or(0) {
            0 => continue,
            s @ 200.. => 30 + usize::from(s - 200),
            s => usize::from(s),
        };
        let at = u8::try_from(i + 3).ok().filter(|&a| a != PLAN_NONE)?;
        let p = plan.get_mut(k)?;
        if *p != PLAN_NONE {
            return None;
        }
        *p = at;
    }
    // Every required field present (the planned views read them without a presence test); a
    // layout without one has no plan, and the full path reports it (`Missing`).
    if required
        .iter()
        .enumerate()
        .any(|(i, &r)| r && plan.get(i + 1).is_none_or(|&a| a == PLAN_NONE))
        || HEADER_REQUIRED
            .iter()
            .any(|&k| plan[30 + usize::from(k)] == PLAN_NONE)
    {
        return None;
    }
    Some(plan)
}

/// The header slots (`200 + k`: `k`) of the required header fields: SenderCompID,
/// TargetCompID, MsgSeqNum, SendingTime (as [`HeaderBuilder::finish`]).
const HEADER_REQUIRED: [u8; 4] = [0, 1, 4, 7];

/// The value of the field at index `at` of `f` (`Ok(None)`: [`PLAN_NONE`]); `Err` for any
/// problem (the caller then takes the full path, which reports it).
#[inline(always)]
fn planned<'a, T: FieldValue<'a>>(buf: &'a [u8], f: &PlanFields, at: u8) -> Result<Option<T>, ()> {
    if at == PLAN_NONE {
        return Ok(None);
    }
    let fl = &f[usize::from(at)];
    T::parse_in(buf, fl.start as usize, fl.end as usize)
        .map(Some)
        .map_err(|_| ())
}

/// [`planned`] for a required field: a plan exists only when every required field of its view
/// is present (see [`plan`]), so `at` is a field of the message and needs no presence test.
#[inline(always)]
fn planned_req<'a, T: FieldValue<'a>>(buf: &'a [u8], f: &PlanFields, at: u8) -> Result<T, ()> {
    debug_assert_ne!(at, PLAN_NONE);
    let fl = &f[usize::from(at)];
    T::parse_in(buf, fl.start as usize, fl.end as usize).map_err(|_| ())
}

/// [`planned_req`] for a field that may have a lane in the batch `fx` (see [`planned_fx`]).
#[inline(always)]
fn planned_fx_req<'a, T: FieldValue<'a>>(
    buf: &'a [u8],
    f: &PlanFields,
    at: u8,
    fx: &[i64; 8],
    lane: u8,
) -> Result<T, ()> {
    if T::FIXED8 && lane < 8 {
        let v = fx[usize::from(lane & 7)];
        if v >= 0 {
            if let Some(x) = T::from_fixed8(v) {
                return Ok(x);
            }
        }
    }
    planned_req(buf, f, at)
}

/// [`planned`] for a field that may have a lane in the batch `fx` (see [`fixed8_batch`]):
/// its value from there when the batch converted it, else as [`planned`] (which reports what
/// the batch left out).
#[inline(always)]
fn planned_fx<'a, T: FieldValue<'a>>(
    buf: &'a [u8],
    f: &PlanFields,
    at: u8,
    fx: &[i64; 8],
    lane: u8,
) -> Result<Option<T>, ()> {
    if T::FIXED8 && lane < 8 {
        let v = fx[usize::from(lane & 7)];
        if v >= 0 {
            return Ok(T::from_fixed8(v));
        }
    }
    planned(buf, f, at)
}

/// The fixed-point fields of a planned view converted in one batch: lane `i` is the field of
/// slot `slots[i]` (0: none), `req[i]` when that field is required (always present in a
/// plan: no presence test). A lane is converted when its field is present, 1 to 8 bytes long
/// with 8 bytes before its end, and digits with at most one dot (see [`scan::fixed8_x8`], which
/// also checks the length).
#[inline(always)]
fn fixed8_batch(
    buf: &[u8],
    f: &PlanFields,
    plan: &Plan,
    slots: &[u8; 8],
    req: &[bool; 8],
) -> [i64; 8] {
    let mut w = [0u64; 8];
    let mut k = [0u64; 8];
    for i in 0..8 {
        let at = plan[usize::from(slots[i]) % PLAN_LEN];
        if slots[i] == 0 || (!req[i] && at == PLAN_NONE) {
            continue;
        }
        let fl = &f[usize::from(at)];
        if let Some(x) = num::eight_ending_at(buf, fl.end as usize) {
            w[i] = x;
            k[i] = fl.end.wrapping_sub(fl.start).into();
        }
    }
    scan::fixed8_x8(&w, &k)
}

/// The lanes of a view's batched fixed-point fields: `fixed8[i]` tells whether the field of slot
/// `i + 1` is one; lane `l` is the slot of the `l`-th (0: unused). More than 8: the rest convert
/// one by one.
const fn fx_slots(fixed8: &[bool]) -> [u8; 8] {
    let mut out = [0u8; 8];
    let (mut i, mut l) = (0, 0);
    while i < fixed8.len() {
        if fixed8[i] && l < 8 {
            out[l] = (i + 1) as u8;
            l += 1;
        }
        i += 1;
    }
    out
}

/// Whether the field of each lane (see [`fx_slots`]) is required (`required[slot - 1]`).
const fn fx_required(lanes: &[u8; 8], required: &[bool]) -> [bool; 8] {
    let mut out = [false; 8];
    let mut l = 0;
    while l < 8 {
        out[l] = lanes[l] != 0 && required[lanes[l] as usize - 1];
        l += 1;
    }
    out
}

/// The lane of slot `slot` in `lanes` (see [`fx_slots`]), 8 when it has none.
const fn fx_lane(lanes: &[u8; 8], slot: u8) -> u8 {
    let mut l = 0;
    while l < 8 {
        if lanes[l] == slot && slot != 0 {
            return l as u8;
        }
        l += 1;
    }
    8
}

/// The header from a plan (see [`planned`]).
#[inline(always)]
fn planned_header<'a>(m: &Message<'a>, plan: &Plan, f: &PlanFields) -> Result<Header<'a>, ()> {
    let buf = m.bytes();
    let h = |k: usize| plan[30 + k];
    Ok(Header {
        begin_string: m.begin_string(),
        sender_comp_id: planned_req(buf, f, h(0))?,
        target_comp_id: planned_req(buf, f, h(1))?,
        on_behalf_of_comp_id: planned(buf, f, h(2))?,
        deliver_to_comp_id: planned(buf, f, h(3))?,
        msg_seq_num: planned_req(buf, f, h(4))?,
        poss_dup: planned(buf, f, h(5))?,
        poss_resend: planned(buf, f, h(6))?,
        sending_time: planned_req(buf, f, h(7))?,
        orig_sending_time: planned(buf, f, h(8))?,
        appl_ver_id: planned(buf, f, h(9))?,
    })
}

/// Body fields of the message between 35 and 10.
#[inline(always)]
fn body_fields<'m>(m: &Message<'m>) -> &'m [Field] {
    let f = m.field_index();
    f.get(3..f.len().saturating_sub(1)).unwrap_or(&[])
}

macro_rules! ty {
    (req, $t:ty) => { $t };
    (opt, $t:ty) => { Option<$t> };
}
macro_rules! finish {
    (req, $v:expr, $tag:literal) => {
        req($v, $tag)?
    };
    (opt, $v:expr, $tag:literal) => {
        $v
    };
}
/// `mod s`: the view's tags in slot order (`s::TAGS`, slots 1..) and each field's slot.
macro_rules! view_slots {
    ($($field:ident = $tag:literal),*) => {
        #[allow(non_upper_case_globals)]
        mod s {
            pub(super) const TAGS: &[u32] = &[$($tag),*];
            // Slots 1..=29 index a plan; 30.. are the header's.
            const _: () = assert!(TAGS.len() < 30);
            $( pub(super) const $field: u8 = super::slot_of(TAGS, $tag); )*
        }
    };
}
/// A field from a plan: a required one is always there (see [`plan`]), an optional one is an
/// `Option`.
macro_rules! plan_get {
    (req, $ty:ty, $($a:expr),*) => {
        planned_fx_req::<$ty>($($a),*)
    };
    (opt, $ty:ty, $($a:expr),*) => {
        planned_fx::<$ty>($($a),*)
    };
}
macro_rules! is_req {
    (req) => {
        true
    };
    (opt) => {
        false
    };
}
macro_rules! put {
    (req, $w:expr, $tag:literal, $v:expr) => {
        $w.field($tag, &$v)
    };
    (opt, $w:expr, $tag:literal, $v:expr) => {
        $w.opt($tag, &$v)
    };
}

macro_rules! view {
    (
        $(#[$m:meta])* $name:ident = $mt:literal {
            $( $(#[$fm:meta])* $kind:ident $field:ident : $ty:ty = $tag:literal ),* $(,)?
        }
        $(check = $check:path)?
    ) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name<'a> {
            /// Standard header.
            pub header: Header<'a>,
            $( $(#[$fm])* pub $field: ty!($kind, $ty), )*
            /// The parsed message (ignored by `==`), for `get(tag)`.
            pub raw: Raw<'a>,
        }

        impl<'a> $name<'a> {
            /// MsgType (35).
            pub const MSG_TYPE: &'static [u8] = $mt;

            /// The typed view of `m` (one pass over its fields).
            #[inline]
            pub fn from_message(m: &Message<'a>) -> Result<Self, ParseError> {
                Self::build(m, |v| v)
            }

            /// The view, handed to `wrap` (the `Typed` variant in [`Message::typed`]): built in
            /// place, not copied out of a `Result` (a view is several hundred bytes).
            #[inline(always)]
            fn build<R>(m: &Message<'a>, wrap: impl FnOnce(Self) -> R) -> Result<R, ParseError> {
                if m.msg_type() != $mt {
                    return Err(ParseError::new(ParseErrorKind::WrongMsgType, 35, 0));
                }
                // The parser knows where the fields are: no dispatch per field. Any problem
                // (malformed or missing field) takes the full path below, which reports it.
                if let Some((plan, f)) = m.plan() {
                    'plan: {
                        view_slots!($($field = $tag),*);
                        let buf = m.bytes();
                        // Views with three or more prices / quantities (execution reports):
                        // converted in one batch. (Two, in NewOrderSingle and
                        // OrderCancelReplaceRequest, often with one present: scalar was
                        // cheaper.)
                        let fx = if Self::FX_SLOTS[2] != 0 {
                            fixed8_batch(buf, f, plan, &Self::FX_SLOTS, &Self::FX_REQUIRED)
                        } else {
                            [-1; 8]
                        };
                        let Ok(header) = planned_header(m, plan, f) else {
                            break 'plan;
                        };
                        $(
                            let Ok($field) = plan_get!(
                                $kind,
                                $ty,
                                buf,
                                f,
                                plan[usize::from(s::$field)],
                                &fx,
                                const { fx_lane(&Self::FX_SLOTS, s::$field) }
                            ) else {
                                break 'plan;
                            };
                        )*
                        let out = Self { header, $($field,)* raw: Raw(Some(*m)) };
                        $( $check(&out)?; )?
                        return Ok(wrap(out));
                    }
                }
                view_slots!($($field = $tag),*);
                let slots = Self::slots();
                let mut h = HeaderBuilder::default();
                $( let mut $field: Option<$ty> = None; )*
                for f in body_fields(m) {
                    let buf = m.bytes();
                    let slot = slots.get(f.tag as usize).copied().unwrap_or(0);
                    match slot {
                        0 => {}
                        $( s::$field => set(&mut $field, buf, f)?, )*
                        _ => h.take_slot(slot, buf, f)?,
                    }
                }
                let out = Self {
                    header: h.finish(m.begin_string())?,
                    $( $field: finish!($kind, $field, $tag), )*
                    raw: Raw(Some(*m)),
                };
                $( $check(&out)?; )?
                Ok(wrap(out))
            }

            /// Whether the field of slot `i + 1` is required (a plan has them all, see [`plan`]).
            const REQUIRED: &'static [bool] = &[$(is_req!($kind)),*];

            /// The slots of the view's fixed-point fields, the lanes of [`fixed8_batch`].
            const FX_SLOTS: [u8; 8] = fx_slots(&[$(<$ty as FieldValue<'a>>::FIXED8),*]);

            /// Which lanes of [`fixed8_batch`] hold a required field.
            const FX_REQUIRED: [bool; 8] = fx_required(&Self::FX_SLOTS, Self::REQUIRED);

            /// tag -> slot of this view (see [`slot_table`]).
            #[inline(always)]
            fn slots() -> &'static [u8; SLOT_TABLE_LEN] {
                static SLOTS: [u8; SLOT_TABLE_LEN] = slot_table(&[$($tag),*]);
                &SLOTS
            }

            /// Raw lookup of any field of the parsed message (`None` when built by hand).
            #[inline]
            pub fn get(&self, tag: u32) -> Option<&'a [u8]> {
                self.raw.get(tag)
            }
        }

        impl FixMessage for $name<'_> {
            const MSG_TYPE: &'static [u8] = $mt;
            fn header(&self) -> &Header<'_> {
                &self.header
            }
            fn encode_body(&self, w: &mut BodyWriter<'_>) {
                $( put!($kind, w, $tag, self.$field); )*
            }
        }
    };
}

view! {
    /// NewOrderSingle (D).
    NewOrderSingle = b"D" {
        /// Account (1).
        opt account: &'a [u8] = 1,
        /// ClOrdID (11).
        req cl_ord_id: &'a [u8] = 11,
        /// Symbol (55).
        req symbol: &'a [u8] = 55,
        /// Side (54).
        req side: Side = 54,
        /// TransactTime (60).
        opt transact_time: UtcTimestamp = 60,
        /// OrderQty (38).
        req order_qty: Qty = 38,
        /// OrdType (40), a char.
        req ord_type: u8 = 40,
        /// Price (44).
        opt price: Price = 44,
        /// TimeInForce (59), a char.
        opt time_in_force: u8 = 59,
        /// ExDestination (100).
        opt ex_destination: &'a [u8] = 100,
        /// Text (58).
        opt text: &'a [u8] = 58,
    }
}

view! {
    /// ExecutionReport (8), including TradeCancel / TradeCorrect (ExecType H / G, ExecRefID 19)
    /// and FIX 4.2 reports (ExecTransType 20): see [`ExecutionReport::exec_kind`].
    ExecutionReport = b"8" {
        /// OrderID (37).
        req order_id: &'a [u8] = 37,
        /// ClOrdID (11).
        opt cl_ord_id: &'a [u8] = 11,
        /// OrigClOrdID (41).
        opt orig_cl_ord_id: &'a [u8] = 41,
        /// ExecID (17).
        req exec_id: &'a [u8] = 17,
        /// ExecTransType (20), FIX 4.2 only, a char.
        opt exec_trans_type: u8 = 20,
        /// ExecRefID (19).
        opt exec_ref_id: &'a [u8] = 19,
        /// ExecType (150) as on the wire, a char; see [`ExecutionReport::exec_kind`].
        req exec_type: u8 = 150,
        /// OrdStatus (39), a char.
        req ord_status: u8 = 39,
        /// OrdRejReason (103).
        opt ord_rej_reason: u32 = 103,
        /// Symbol (55).
        req symbol: &'a [u8] = 55,
        /// Side (54).
        req side: Side = 54,
        /// OrderQty (38).
        opt order_qty: Qty = 38,
        /// OrdType (40), a char.
        opt ord_type: u8 = 40,
        /// Price (44).
        opt price: Price = 44,
        /// TimeInForce (59), a char.
        opt time_in_force: u8 = 59,
        /// ExDestination (100).
        opt ex_destination: &'a [u8] = 100,
        /// LastQty (32).
        opt last_qty: Qty = 32,
        /// LastPx (31).
        opt last_px: Price = 31,
        /// LastMkt (30).
        opt last_mkt: &'a [u8] = 30,
        /// LeavesQty (151).
        req leaves_qty: Qty = 151,
        /// CumQty (14).
        req cum_qty: Qty = 14,
        /// AvgPx (6).
        opt avg_px: Price = 6,
        /// TransactTime (60).
        opt transact_time: UtcTimestamp = 60,
        /// Text (58).
        opt text: &'a [u8] = 58,
    }
}

impl ExecutionReport<'_> {
    /// ExecType with the FIX 4.4 meaning: FIX 4.2's ExecType 1 / 2 (partial fill / fill) are
    /// `Trade`; ExecTransType 1 (cancel) is `TradeCancel`, 2 (correct) `TradeCorrect`, 3 (status)
    /// `OrderStatus`. (The same mapping applies to any version that sends ExecTransType.)
    #[inline]
    pub fn exec_kind(&self) -> ExecType {
        match self.exec_trans_type {
            Some(b'1') => return ExecType::TradeCancel,
            Some(b'2') => return ExecType::TradeCorrect,
            Some(b'3') => return ExecType::OrderStatus,
            _ => {}
        }
        match ExecType::from_byte(self.exec_type) {
            ExecType::PartialFill | ExecType::Fill => ExecType::Trade,
            k => k,
        }
    }
}

view! {
    /// OrderCancelRequest (F).
    OrderCancelRequest = b"F" {
        /// OrigClOrdID (41).
        req orig_cl_ord_id: &'a [u8] = 41,
        /// OrderID (37).
        opt order_id: &'a [u8] = 37,
        /// ClOrdID (11).
        req cl_ord_id: &'a [u8] = 11,
        /// Symbol (55).
        req symbol: &'a [u8] = 55,
        /// Side (54).
        req side: Side = 54,
        /// TransactTime (60).
        opt transact_time: UtcTimestamp = 60,
        /// OrderQty (38).
        opt order_qty: Qty = 38,
        /// Text (58).
        opt text: &'a [u8] = 58,
    }
}

view! {
    /// OrderCancelReplaceRequest (G).
    OrderCancelReplaceRequest = b"G" {
        /// OrderID (37).
        opt order_id: &'a [u8] = 37,
        /// OrigClOrdID (41).
        req orig_cl_ord_id: &'a [u8] = 41,
        /// ClOrdID (11).
        req cl_ord_id: &'a [u8] = 11,
        /// Symbol (55).
        req symbol: &'a [u8] = 55,
        /// Side (54).
        req side: Side = 54,
        /// TransactTime (60).
        opt transact_time: UtcTimestamp = 60,
        /// OrderQty (38).
        req order_qty: Qty = 38,
        /// OrdType (40), a char.
        req ord_type: u8 = 40,
        /// Price (44).
        opt price: Price = 44,
        /// TimeInForce (59), a char.
        opt time_in_force: u8 = 59,
        /// ExDestination (100).
        opt ex_destination: &'a [u8] = 100,
        /// Text (58).
        opt text: &'a [u8] = 58,
    }
}

view! {
    /// OrderCancelReject (9).
    OrderCancelReject = b"9" {
        /// OrderID (37).
        req order_id: &'a [u8] = 37,
        /// ClOrdID (11).
        req cl_ord_id: &'a [u8] = 11,
        /// OrigClOrdID (41).
        opt orig_cl_ord_id: &'a [u8] = 41,
        /// OrdStatus (39), a char.
        req ord_status: u8 = 39,
        /// CxlRejResponseTo (434), a char: `1` cancel, `2` cancel/replace.
        req cxl_rej_response_to: u8 = 434,
        /// CxlRejReason (102).
        opt cxl_rej_reason: u32 = 102,
        /// Text (58).
        opt text: &'a [u8] = 58,
    }
}

view! {
    /// BusinessMessageReject (j).
    BusinessMessageReject = b"j" {
        /// RefSeqNum (45).
        opt ref_seq_num: u64 = 45,
        /// RefMsgType (372).
        req ref_msg_type: &'a [u8] = 372,
        /// BusinessRejectRefID (379).
        opt business_reject_ref_id: &'a [u8] = 379,
        /// BusinessRejectReason (380).
        req business_reject_reason: u32 = 380,
        /// Text (58).
        opt text: &'a [u8] = 58,
    }
}

view! {
    /// Reject (3), session level.
    Reject = b"3" {
        /// RefSeqNum (45).
        req ref_seq_num: u64 = 45,
        /// RefTagID (371).
        opt ref_tag_id: u32 = 371,
        /// RefMsgType (372).
        opt ref_msg_type: &'a [u8] = 372,
        /// SessionRejectReason (373).
        opt session_reject_reason: u32 = 373,
        /// Text (58).
        opt text: &'a [u8] = 58,
    }
}

fn check_logon(l: &Logon<'_>) -> Result<(), ParseError> {
    if l.header.begin_string == BeginString::Fixt11 && l.default_appl_ver_id.is_none() {
        return Err(ParseError::missing(1137));
    }
    Ok(())
}

view! {
    /// Logon (A). DefaultApplVerID (1137) is required with FIXT.1.1.
    Logon = b"A" {
        /// EncryptMethod (98).
        req encrypt_method: u32 = 98,
        /// HeartBtInt (108), seconds.
        req heart_bt_int: u32 = 108,
        /// ResetSeqNumFlag (141).
        opt reset_seq_num_flag: bool = 141,
        /// Username (553).
        opt username: &'a [u8] = 553,
        /// Password (554).
        opt password: &'a [u8] = 554,
        /// DefaultApplVerID (1137), `9` = FIX.5.0SP2.
        opt default_appl_ver_id: &'a [u8] = 1137,
        /// NextExpectedMsgSeqNum (789): the next MsgSeqNum the sender expects to receive.
        opt next_expected_msg_seq_num: u64 = 789,
    }
    check = check_logon
}

view! {
    /// Heartbeat (0).
    Heartbeat = b"0" {
        /// TestReqID (112), when answering a TestRequest.
        opt test_req_id: &'a [u8] = 112,
    }
}

view! {
    /// TestRequest (1).
    TestRequest = b"1" {
        /// TestReqID (112).
        req test_req_id: &'a [u8] = 112,
    }
}

view! {
    /// ResendRequest (2).
    ResendRequest = b"2" {
        /// BeginSeqNo (7).
        req begin_seq_no: u64 = 7,
        /// EndSeqNo (16), 0 = infinity.
        req end_seq_no: u64 = 16,
    }
}

view! {
    /// SequenceReset (4).
    SequenceReset = b"4" {
        /// GapFillFlag (123).
        opt gap_fill_flag: bool = 123,
        /// NewSeqNo (36).
        req new_seq_no: u64 = 36,
    }
}

view! {
    /// Logout (5).
    Logout = b"5" {
        /// Text (58).
        opt text: &'a [u8] = 58,
    }
}

/// One entry of the NoMDEntries (268) group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MdEntry<'a> {
    /// MDUpdateAction (279): required in MarketDataIncrementalRefresh (X), where it is the
    /// group's first field; absent in W.
    pub update_action: Option<MdUpdateAction>,
    /// MDEntryType (269), required.
    pub entry_type: Option<MdEntryType>,
    /// MDEntryID (278).
    pub entry_id: Option<&'a [u8]>,
    /// Symbol (55), per entry in X.
    pub symbol: Option<&'a [u8]>,
    /// MDEntryPx (270).
    pub px: Option<Price>,
    /// MDEntrySize (271).
    pub size: Option<Qty>,
    /// MDEntryDate (272).
    pub date: Option<UtcDate>,
    /// MDEntryTime (273).
    pub time: Option<UtcTimeOnly>,
}

impl MdEntry<'_> {
    /// MDEntryDate + MDEntryTime as one timestamp, when both are present.
    pub fn timestamp(&self) -> Option<UtcTimestamp> {
        match (self.date, self.time) {
            (Some(d), Some(t)) => Some(UtcTimestamp(d.0 * 86_400_000_000_000 + t.0)),
            _ => None,
        }
    }

    fn encode(&self, w: &mut BodyWriter<'_>) {
        w.opt(279, &self.update_action);
        w.opt(269, &self.entry_type);
        w.opt(278, &self.entry_id);
        w.opt(55, &self.symbol);
        w.opt(270, &self.px);
        w.opt(271, &self.size);
        w.opt(272, &self.date);
        w.opt(273, &self.time);
    }
}

/// Tags that may appear inside a NoMDEntries entry; the group ends at the first other tag.
#[inline]
pub(super) const fn is_md_group_tag(tag: u32) -> bool {
    matches!(
        tag,
        269..=299
            | 15
            | 22
            | 48
            | 55
            | 65
            | 58
            | 37
            | 106
            | 107
            | 110
            | 126
            | 167
            | 200
            | 207
            | 231
            | 336
            | 346
            | 432
            | 451
            | 541
            | 625
            | 828
            | 1023
            | 1070
            | 1500
    ) && tag != 268
}

/// The entries of a NoMDEntries (268) group: a slice when built for encoding, or a walk over the
/// parsed fields (validated when the view was made; converted again as the iterator reaches
/// each entry, so iteration never fails for a parsed view).
#[derive(Clone, Copy, Debug)]
pub enum MdEntries<'a> {
    /// Entries to encode.
    Slice(&'a [MdEntry<'a>]),
    /// Entries of a parsed message.
    Parsed {
        /// The message.
        msg: Message<'a>,
        /// The group's fields (after 268).
        fields: &'a [Field],
        /// The declared count.
        count: u32,
    },
}

impl Default for MdEntries<'_> {
    fn default() -> Self {
        Self::Slice(&[])
    }
}

impl<'a> MdEntries<'a> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        match self {
            Self::Slice(s) => s.len(),
            Self::Parsed { count, .. } => *count as usize,
        }
    }
    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The entries; a parsed entry with a malformed or duplicate field is an error.
    pub fn iter(&self) -> MdEntryIter<'a> {
        match *self {
            Self::Slice(s) => MdEntryIter {
                slice: s,
                msg: None,
                fields: &[],
            },
            Self::Parsed { msg, fields, .. } => MdEntryIter {
                slice: &[],
                msg: Some(msg),
                fields,
            },
        }
    }
}

impl PartialEq for MdEntries<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}
impl Eq for MdEntries<'_> {}

/// Iterator over [`MdEntries`].
#[derive(Clone, Debug)]
pub struct MdEntryIter<'a> {
    slice: &'a [MdEntry<'a>],
    msg: Option<Message<'a>>,
    fields: &'a [Field],
}

impl<'a> Iterator for MdEntryIter<'a> {
    type Item = Result<MdEntry<'a>, ParseError>;
    fn next(&mut self) -> Option<Self::Item> {
        let Some(msg) = self.msg else {
            let (first, rest) = self.slice.split_first()?;
            self.slice = rest;
            return Some(Ok(*first));
        };
        let (first, rest) = self.fields.split_first()?;
        let delim_tag = first.tag;
        let n = 1 + rest.iter().take_while(|f| f.tag != delim_tag).count();
        let (entry, rest) = self.fields.split_at(n);
        self.fields = rest;
        Some(parse_entry(&msg, entry))
    }
}

/// The first error of iterating the entries of `fields` (as [`MdEntryIter`] cuts them), without
/// building them (the values `visit` does not read are dead, only the checks remain). One pass:
/// an entry ends where the next field has the tag of the group's first field (the iterator's
/// cut, each entry's first tag being that tag), with the checks in the iterator's order (each
/// field in turn, then the entry's MDEntryType). `visit` is called on each entry that parses, in
/// order, before the next one is parsed: when the result is `Ok` (the number of entries), it
/// has seen exactly the entries the iterator yields.
#[inline(never)]
pub(super) fn validate_entries<'a>(
    msg: &Message<'a>,
    fields: &[Field],
    mut visit: impl FnMut(&MdEntry<'a>),
) -> Result<usize, ParseError> {
    let Some((first, rest)) = fields.split_first() else {
        return Ok(0);
    };
    let buf = msg.bytes();
    let mut e = MdEntry::default();
    let mut n = 1;
    take_entry_field(&mut e, buf, first)?;
    for f in rest {
        if f.tag == first.tag {
            visit(&finish_entry(e)?);
            e = MdEntry::default();
            n += 1;
        }
        take_entry_field(&mut e, buf, f)?;
    }
    visit(&finish_entry(e)?);
    Ok(n)
}

/// One field of an entry into `e` (fields outside [`MdEntry`] are skipped).
#[inline(always)]
fn take_entry_field<'a>(e: &mut MdEntry<'a>, buf: &'a [u8], f: &Field) -> Result<(), ParseError> {
    match f.tag {
        279 => set(&mut e.update_action, buf, f),
        269 => set(&mut e.entry_type, buf, f),
        278 => set(&mut e.entry_id, buf, f),
        55 => set(&mut e.symbol, buf, f),
        270 => set(&mut e.px, buf, f),
        271 => set(&mut e.size, buf, f),
        272 => set(&mut e.date, buf, f),
        273 => set(&mut e.time, buf, f),
        _ => Ok(()),
    }
}

/// An entry whose fields are all taken: MDEntryType is required unless it is a Delete.
#[inline(always)]
fn finish_entry(e: MdEntry<'_>) -> Result<MdEntry<'_>, ParseError> {
    if e.entry_type.is_none() && e.update_action != Some(MdUpdateAction::Delete) {
        return Err(ParseError::missing(269));
    }
    Ok(e)
}

#[inline(always)]
fn parse_entry<'a>(msg: &Message<'a>, fields: &[Field]) -> Result<MdEntry<'a>, ParseError> {
    let mut e = MdEntry::default();
    for f in fields {
        take_entry_field(&mut e, msg.bytes(), f)?;
    }
    finish_entry(e)
}

/// Finds the NoMDEntries group at `body[at]` and validates it: returns (count, group fields,
/// index after the group). The errors, in order: a bad count value, a group that does not start
/// with 269 or 279 (or is empty with a count that is not 0), a count that is not the number of
/// entries (all [`ParseErrorKind::GroupCount`]), then the first error of the entries
/// ([`validate_entries`], which `visit`s them; on an error some may have been visited). The
/// count is compared with the number of entries the validation finds (the occurrences of the
/// first tag), so the group is walked once; only on an entry error is it counted apart, to
/// report a wrong count first.
#[inline(always)]
fn md_group<'m>(
    m: &Message<'m>,
    body: &'m [Field],
    at: usize,
    visit: impl FnMut(&MdEntry<'m>),
) -> Result<(u32, &'m [Field], usize), ParseError> {
    let f268 = body[at];
    let count: u32 =
        FieldValue::parse(m.value(&f268)).map_err(|k| ParseError::new(k, 268, f268.start))?;
    let rest = body.get(at + 1..).unwrap_or(&[]);
    let n = rest.iter().take_while(|f| is_md_group_tag(f.tag)).count();
    let group = &rest[..n];
    let bad = ParseError::new(ParseErrorKind::GroupCount, 268, f268.start);
    match group.first() {
        None if count == 0 => {}
        Some(first) if matches!(first.tag, 269 | 279) => {}
        _ => return Err(bad),
    }
    match validate_entries(m, group, visit) {
        Ok(entries) if entries == count as usize => Ok((count, group, at + 1 + n)),
        Ok(_) => Err(bad),
        Err(e) => Err(md_count_first(group, count, bad, e)),
    }
}

/// On an entry error: the count's error if the count is also wrong (it is checked first).
#[cold]
fn md_count_first(group: &[Field], count: u32, bad: ParseError, e: ParseError) -> ParseError {
    let first = group.first().map_or(0, |f| f.tag);
    let seen = group.iter().filter(|f| f.tag == first).count();
    if seen != count as usize { bad } else { e }
}

macro_rules! md_view {
    ($(#[$m:meta])* $name:ident = $mt:literal { $(#[$sm:meta])* symbol: $sty:ty, $req_symbol:tt }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name<'a> {
            /// Standard header.
            pub header: Header<'a>,
            /// MDReqID (262).
            pub md_req_id: Option<&'a [u8]>,
            $(#[$sm])*
            pub symbol: $sty,
            /// NoMDEntries (268).
            pub entries: MdEntries<'a>,
            /// The parsed message (ignored by `==`), for `get(tag)`.
            pub raw: Raw<'a>,
        }

        impl<'a> $name<'a> {
            /// MsgType (35).
            pub const MSG_TYPE: &'static [u8] = $mt;

            /// The typed view of `m`; checks NoMDEntries against the entries.
            pub fn from_message(m: &Message<'a>) -> Result<Self, ParseError> {
                Self::build(m, |_| {}, |v| v)
            }

            /// The view, handed to `wrap` (the `Typed` variant in [`Message::typed`]): built in
            /// place, not copied out of a `Result`. `visit` sees each entry as the view's
            /// validation parses it (see [`validate_entries`]).
            #[inline]
            fn build<R>(
                m: &Message<'a>,
                mut visit: impl FnMut(&MdEntry<'a>),
                wrap: impl FnOnce(Self) -> R,
            ) -> Result<R, ParseError> {
                if m.msg_type() != $mt {
                    return Err(ParseError::new(ParseErrorKind::WrongMsgType, 35, 0));
                }
                let mut h = HeaderBuilder::default();
                let mut md_req_id = None;
                let mut symbol: Option<&'a [u8]> = None;
                let mut entries: Option<MdEntries<'a>> = None;
                let body = body_fields(m);
                let mut i = 0;
                while let Some(f) = body.get(i) {
                    let buf = m.bytes();
                    match f.tag {
                        262 => set(&mut md_req_id, buf, f)?,
                        55 => set(&mut symbol, buf, f)?,
                        268 => {
                            if entries.is_some() {
                                return Err(ParseError::new(ParseErrorKind::Duplicate, 268, f.start));
                            }
                            // Every entry is validated now: a view that exists has no bad
                            // entry (found by the `parsing` fuzz target: a bad MDEntryTime made
                            // the view encode a count its entries did not match).
                            let (count, fields, next) = md_group(m, body, i, &mut visit)?;
                            entries = Some(MdEntries::Parsed { msg: *m, fields, count });
                            i = next;
                            continue;
                        }
                        _ => h.take(buf, f)?,
                    }
                    i += 1;
                }
                let header = h.finish(m.begin_string())?;
                let symbol = md_view!(@sym $req_symbol, symbol);
                Ok(wrap(Self {
                    header,
                    md_req_id,
                    symbol,
                    entries: req(entries, 268)?,
                    raw: Raw(Some(*m)),
                }))
            }

            /// Raw lookup of any field of the parsed message (`None` when built by hand).
            pub fn get(&self, tag: u32) -> Option<&'a [u8]> {
                self.raw.get(tag)
            }
        }

        impl FixMessage for $name<'_> {
            const MSG_TYPE: &'static [u8] = $mt;
            fn header(&self) -> &Header<'_> {
                &self.header
            }
            fn encode_body(&self, w: &mut BodyWriter<'_>) {
                w.opt(262, &self.md_req_id);
                md_view!(@put $req_symbol, w, self.symbol);
                w.field(268, &(self.entries.len() as u64));
                for e in self.entries.iter().flatten() {
                    e.encode(w);
                }
            }
        }
    };
    (@sym true, $s:ident) => { req($s, 55)? };
    (@sym false, $s:ident) => { $s };
    (@put true, $w:ident, $v:expr) => { $w.field(55, &$v) };
    (@put false, $w:ident, $v:expr) => { $w.opt(55, &$v) };
}

md_view! {
    /// MarketDataSnapshotFullRefresh (W).
    MarketDataSnapshot = b"W" {
        /// Symbol (55), required.
        symbol: &'a [u8], true
    }
}

impl<'a> MarketDataSnapshot<'a> {
    /// [`Message::typed`] of a MarketDataSnapshot (same view, same errors; `WrongMsgType` for
    /// another MsgType), calling `visit` on each entry as the view's validation parses it, in
    /// order: when the result is `Ok`, `visit` has seen exactly the entries
    /// `entries.iter()` yields (all `Ok`), so a fold over them needs no second pass.
    #[inline]
    pub(crate) fn typed_visiting(
        m: &Message<'a>,
        visit: impl FnMut(&MdEntry<'a>),
    ) -> Result<Typed<'a>, ParseError> {
        Self::build(m, visit, Typed::MarketDataSnapshot)
    }
}

md_view! {
    /// MarketDataIncrementalRefresh (X): Symbol is per entry (a body-level Symbol is accepted).
    MarketDataIncremental = b"X" {
        /// Symbol (55) at body level, if any (normally per entry).
        symbol: Option<&'a [u8]>, false
    }
}

/// Any message, typed by MsgType.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Typed<'a> {
    /// D
    NewOrderSingle(NewOrderSingle<'a>),
    /// 8
    ExecutionReport(ExecutionReport<'a>),
    /// F
    OrderCancelRequest(OrderCancelRequest<'a>),
    /// G
    OrderCancelReplaceRequest(OrderCancelReplaceRequest<'a>),
    /// 9
    OrderCancelReject(OrderCancelReject<'a>),
    /// j
    BusinessMessageReject(BusinessMessageReject<'a>),
    /// 3
    Reject(Reject<'a>),
    /// W
    MarketDataSnapshot(MarketDataSnapshot<'a>),
    /// X
    MarketDataIncremental(MarketDataIncremental<'a>),
    /// A
    Logon(Logon<'a>),
    /// 0
    Heartbeat(Heartbeat<'a>),
    /// 1
    TestRequest(TestRequest<'a>),
    /// 2
    ResendRequest(ResendRequest<'a>),
    /// 4
    SequenceReset(SequenceReset<'a>),
    /// 5
    Logout(Logout<'a>),
    /// Any other MsgType: raw access only.
    Other(Message<'a>),
}

impl<'a> Message<'a> {
    /// The typed view for this message's MsgType.
    pub fn typed(&self) -> Result<Typed<'a>, ParseError> {
        Ok(match self.msg_type() {
            // Views are built in place (see `build`), not copied out of a `Result`.
            b"8" => return ExecutionReport::build(self, Typed::ExecutionReport),
            b"D" => return NewOrderSingle::build(self, Typed::NewOrderSingle),
            b"F" => return OrderCancelRequest::build(self, Typed::OrderCancelRequest),
            b"G" => {
                return OrderCancelReplaceRequest::build(self, Typed::OrderCancelReplaceRequest);
            }
            b"9" => return OrderCancelReject::build(self, Typed::OrderCancelReject),
            b"j" => return BusinessMessageReject::build(self, Typed::BusinessMessageReject),
            b"3" => return Reject::build(self, Typed::Reject),
            b"W" => return MarketDataSnapshot::build(self, |_| {}, Typed::MarketDataSnapshot),
            b"X" => {
                return MarketDataIncremental::build(self, |_| {}, Typed::MarketDataIncremental);
            }
            b"A" => return Logon::build(self, Typed::Logon),
            b"0" => return Heartbeat::build(self, Typed::Heartbeat),
            b"1" => return TestRequest::build(self, Typed::TestRequest),
            b"2" => return ResendRequest::build(self, Typed::ResendRequest),
            b"4" => return SequenceReset::build(self, Typed::SequenceReset),
            b"5" => return Logout::build(self, Typed::Logout),
            _ => Typed::Other(*self),
        })
    }
}
