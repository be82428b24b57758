//! The FIX codec: framing, zero-copy parsing, typed views and encoding.
//!
//! ```text
//! bytes (any chunking) -> Framer -> Frame (validated: 8, 9, 35, body length, 10)
//!                      -> Parser::parse_frame -> Message (field index, get(tag))
//!                      -> typed views (ExecutionReport::from_message, Message::typed)
//! typed view -> Encoder::encode -> bytes        (parse(encode(m)) == m)
//! ```
//!
//! * **Framing** ([`Framer`]): messages are cut out of chunks of any size; a message that
//!   straddles two chunks is copied into the per-connection reassembly buffer, every other one is
//!   handed out in place. BeginString (8) must be first and one of FIX.4.2 / FIX.4.4 / FIXT.1.1,
//!   BodyLength (9) second and exact, MsgType (35) third, CheckSum (10) three digits and correct.
//!   A BodyLength above [`FramerConfig::max_body_len`] is an error, never an allocation. Any
//!   error is a [`FrameError`] with the stream offset; the framer then resynchronises on the next
//!   `8=FIX` (scanning from the byte after the bad message's start, so no following message is
//!   lost). Results never depend on how the stream was chunked.
//! * **Delimiters**: [`Delimiter::Soh`] on the wire, [`Delimiter::Log`] (SOH or `|`) for logs.
//! * **Parsing** ([`Parser`]): one pass builds the field index (tag, value range) in a reusable
//!   `Vec` (no allocation per message); delimiters are found 64 bytes at a time (AVX2 when the CPU
//!   has it, SWAR otherwise, module `scan`, the only `unsafe` in the codec); a tag at the same
//!   position and with the same bytes as in the parser's previous message of the same MsgType is
//!   recognised with one compare (tag layout hints, one set per MsgType, so that a stream mixing
//!   message types keeps each type's layout). For a layout recognised entirely from its hints the
//!   parser also keeps a view plan (where each field of the typed view is), and the typed view is
//!   then filled without a dispatch per field. Both are fast paths only: results and errors are
//!   those of the full path. Length-prefixed data fields (95/96, 212/213, 93/89, 90/91,
//!   354/355, ...) are skipped by length and may contain SOH.
//! * **Numbers** ([`num`]): [`Price`] and [`Qty`] are fixed-point `i64` with 8 decimals
//!   ([`num::SCALE`] = 1e8). More than 8 significant decimals are rejected (not rounded);
//!   overflow is rejected. [`UtcTimestamp`] is ns since the Unix epoch (s/ms/us/ns precision in).
//!   Integers are strict: digits only. No `f64` anywhere.
//! * **Versions**: FIX.4.2 ExecTransType (20) and ExecType 1/2 are mapped to the FIX 4.4 meaning by
//!   [`ExecutionReport::exec_kind`]. FIXT.1.1 carries ApplVerID (1128) in [`Header`] and
//!   DefaultApplVerID (1137) in [`Logon`].
//!
//! * **Test traffic**: [`testkit::execution_report_ring`] makes the benchmark's ring of distinct
//!   ExecutionReports.
//!
//! See `docs/fix.md` for the error catalogue, the fuzzing commands and the benchmark.

mod encode;
mod error;
mod frame;
mod message;
pub mod num;
mod scan;
pub mod session;
pub mod testkit;
mod views;

pub use encode::{BodyWriter, Encoder, FixMessage};
pub use error::{FrameError, FrameErrorKind, ParseError, ParseErrorKind};
pub use frame::{BeginString, Delimiter, Frame, Framer, FramerConfig, Frames, frame_one};
pub use message::{Field, Message, Parser, data_tag_for};
pub use num::{Price, Qty, SCALE, UtcTimestamp};
pub use views::{
    BusinessMessageReject, ExecType, ExecutionReport, FieldValue, Header, Heartbeat, Logon, Logout,
    MarketDataIncremental, MarketDataSnapshot, MdEntries, MdEntry, MdEntryIter, MdEntryType,
    MdUpdateAction, NewOrderSingle, OrderCancelReject, OrderCancelReplaceRequest,
    OrderCancelRequest, Raw, Reject, ResendRequest, SequenceReset, Side, TestRequest, Typed,
    UtcDate, UtcTimeOnly,
};

#[cfg(test)]
pub(crate) mod tests;
