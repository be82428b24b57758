//! Encoding into a reusable buffer: BodyLength and CheckSum are computed, nothing is allocated
//! per message once the buffer has grown to the largest message.

use super::frame::BeginString;
use super::num;
use super::views::{FieldValue, Header};

/// A message that can be encoded: every typed view implements it, so
/// `parse(encode(m)) == m` holds for them.
pub trait FixMessage {
    /// MsgType (35).
    const MSG_TYPE: &'static [u8];
    /// The standard header.
    fn header(&self) -> &Header<'_>;
    /// Writes the body fields after the header (in FIX field order).
    fn encode_body(&self, w: &mut BodyWriter<'_>);
}

/// Appends `tag=value<delim>` fields.
#[derive(Debug)]
pub struct BodyWriter<'b> {
    buf: &'b mut Vec<u8>,
    delim: u8,
}

impl BodyWriter<'_> {
    /// Appends the tag and `=`.
    #[inline]
    fn tag(&mut self, tag: u32) {
        num::write_u64(self.buf, u64::from(tag));
        self.buf.push(b'=');
    }
    /// Appends one field of any value type. The value must not contain the delimiter (use
    /// [`BodyWriter::data`] for data fields).
    #[inline]
    pub fn field<'v, T: FieldValue<'v>>(&mut self, tag: u32, value: &T) {
        self.tag(tag);
        value.write(self.buf);
        self.buf.push(self.delim);
    }
    /// Appends the field when `Some`.
    #[inline]
    pub fn opt<'v, T: FieldValue<'v>>(&mut self, tag: u32, value: &Option<T>) {
        if let Some(v) = value {
            self.field(tag, v);
        }
    }
    /// Appends raw value bytes.
    #[inline]
    pub fn raw(&mut self, tag: u32, value: &[u8]) {
        self.tag(tag);
        self.buf.extend_from_slice(value);
        self.buf.push(self.delim);
    }
    /// Appends a length field and its data field (the data may contain SOH).
    pub fn data(&mut self, len_tag: u32, data_tag: u32, data: &[u8]) {
        self.field(len_tag, &(data.len() as u64));
        self.raw(data_tag, data);
    }
}

/// Room reserved in front of the body for `8=FIXT.1.1|9=dddddddddd|`.
const HEADROOM: usize = 32;

/// Encodes messages into one reusable buffer.
///
/// ```
/// use lpscore::fix::{Encoder, FramerConfig, Heartbeat, Header, Parser, BeginString, UtcTimestamp};
/// let hb = Heartbeat {
///     header: Header::new(BeginString::Fix44, b"LP1", b"ME", 7, UtcTimestamp(0)),
///     test_req_id: None,
///     raw: Default::default(),
/// };
/// let mut enc = Encoder::new();
/// let bytes = enc.encode(&hb).to_vec();
/// let mut parser = Parser::new(FramerConfig::default());
/// let msg = parser.parse(&bytes).unwrap();
/// assert_eq!(Heartbeat::from_message(&msg).unwrap(), hb);
/// ```
#[derive(Debug)]
pub struct Encoder {
    buf: Vec<u8>,
    delim: u8,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    /// An encoder writing SOH delimiters.
    pub fn new() -> Self {
        Self {
            buf: Vec::with_capacity(512),
            delim: 1,
        }
    }

    /// An encoder writing `delim` (e.g. `b'|'` for log files; CheckSum is then still computed as
    /// if the delimiter were SOH, matching the framer's `Delimiter::Log`).
    pub fn with_delimiter(delim: u8) -> Self {
        Self {
            buf: Vec::with_capacity(512),
            delim,
        }
    }

    /// Encodes `m`; the bytes are valid until the next call.
    pub fn encode<M: FixMessage>(&mut self, m: &M) -> &[u8] {
        self.encode_with_extra(m, &[])
    }

    /// Encodes `m` followed by extra raw fields (e.g. configurable NBBO stamps on an order).
    pub fn encode_with_extra<M: FixMessage>(&mut self, m: &M, extra: &[(u32, &[u8])]) -> &[u8] {
        let delim = self.delim;
        let buf = &mut self.buf;
        buf.clear();
        buf.resize(HEADROOM, 0);
        let mut w = BodyWriter { buf, delim };
        w.raw(35, M::MSG_TYPE);
        let h = m.header();
        h.encode(&mut w);
        m.encode_body(&mut w);
        for (tag, v) in extra {
            w.raw(*tag, v);
        }
        let body_len = buf.len() - HEADROOM;
        // Header in front of the body, right-aligned against it.
        let mut head = [0u8; HEADROOM];
        let bs = h.begin_string.as_bytes();
        let mut n = 0;
        for &b in b"8=".iter().chain(bs).chain(&[delim]).chain(b"9=") {
            head[n] = b;
            n += 1;
        }
        let mut digits = [0u8; 20];
        let mut d = digits.len();
        let mut v = body_len;
        loop {
            d -= 1;
            digits[d] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        for &b in &digits[d..] {
            head[n] = b;
            n += 1;
        }
        head[n] = delim;
        n += 1;
        let start = HEADROOM - n;
        buf[start..HEADROOM].copy_from_slice(&head[..n]);
        let pipe = delim == b'|';
        let cs = super::scan::checksum(&buf[start..], pipe);
        buf.extend_from_slice(b"10=");
        buf.push(b'0' + cs / 100);
        buf.push(b'0' + cs / 10 % 10);
        buf.push(b'0' + cs % 10);
        buf.push(delim);
        &buf[start..]
    }
}

impl BeginString {
    /// Parses a BeginString value.
    pub fn from_bytes(v: &[u8]) -> Option<Self> {
        match v {
            b"FIX.4.2" => Some(Self::Fix42),
            b"FIX.4.4" => Some(Self::Fix44),
            b"FIXT.1.1" => Some(Self::Fixt11),
            _ => None,
        }
    }
}
