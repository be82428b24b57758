//! The byte codec of engine snapshots: little-endian integers, floats as their bit patterns (so a
//! restored engine is bit-identical), length-prefixed sequences, and a decoder that never panics
//! on bad input (every read is bounds-checked and returns a [`DecodeError`]).

/// Appends values to a byte buffer.
#[derive(Debug, Default)]
pub struct Enc {
    /// The bytes so far.
    pub buf: Vec<u8>,
}

impl Enc {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }
    /// A `u8`.
    #[inline]
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// A `bool` (one byte, 0 or 1).
    #[inline]
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }
    /// A `u16`.
    #[inline]
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// A `u32`.
    #[inline]
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// A `u64`.
    #[inline]
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// An `i64`.
    #[inline]
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// An `i8`.
    #[inline]
    pub fn i8(&mut self, v: i8) {
        self.buf.push(v as u8);
    }
    /// A `usize` (as `u64`).
    #[inline]
    pub fn usize(&mut self, v: usize) {
        self.u64(v as u64);
    }
    /// An `f64`, bit for bit.
    #[inline]
    pub fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }
    /// An `f32`, bit for bit.
    #[inline]
    pub fn f32(&mut self, v: f32) {
        self.u32(v.to_bits());
    }
    /// Length-prefixed bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.usize(b.len());
        self.buf.extend_from_slice(b);
    }
    /// Raw bytes (no length).
    pub fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    /// A section tag (checked by [`Dec::tag`], so a layout mismatch is named, not misread).
    pub fn tag(&mut self, t: &[u8; 4]) {
        self.buf.extend_from_slice(t);
    }
    /// The entries of `items` for which `live` holds, with their indices (a sparse table):
    /// length, count, then `(index, item)` pairs.
    pub fn sparse<T>(
        &mut self,
        items: &[T],
        live: impl Fn(&T) -> bool,
        mut put: impl FnMut(&mut Self, &T),
    ) {
        self.usize(items.len());
        let n = items.iter().filter(|t| live(t)).count();
        self.usize(n);
        for (i, t) in items.iter().enumerate() {
            if live(t) {
                self.usize(i);
                put(self, t);
            }
        }
    }
}

/// Why a snapshot's bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// What was being read, or what did not match.
    pub what: &'static str,
    /// Byte offset in the decoded buffer.
    pub at: usize,
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} (at byte {})", self.what, self.at)
    }
}

impl std::error::Error for DecodeError {}

/// Reads values back; every read is bounds-checked.
#[derive(Debug)]
pub struct Dec<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Dec<'a> {
    /// Decodes `b` from its start.
    pub fn new(b: &'a [u8]) -> Self {
        Self { b, pos: 0 }
    }
    /// Bytes consumed.
    pub fn pos(&self) -> usize {
        self.pos
    }
    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
    /// An error at the current position.
    pub fn err(&self, what: &'static str) -> DecodeError {
        DecodeError { what, at: self.pos }
    }
    /// `Err` unless `ok`.
    pub fn check(&self, ok: bool, what: &'static str) -> Result<(), DecodeError> {
        if ok { Ok(()) } else { Err(self.err(what)) }
    }
    /// The next `n` raw bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(self.err("snapshot data cut short"));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    /// A `u8`.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    /// An `i8`.
    pub fn i8(&mut self) -> Result<i8, DecodeError> {
        Ok(self.take(1)?[0] as i8)
    }
    /// A `bool` (0 or 1; anything else is an error).
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.err("bad boolean")),
        }
    }
    /// A `u16`.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.arr()?))
    }
    /// A `u32`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    /// A `u64`.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    /// An `i64`.
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.arr()?))
    }
    /// A `usize` (a `u64` that must fit).
    pub fn usize(&mut self) -> Result<usize, DecodeError> {
        let v = self.u64()?;
        usize::try_from(v).map_err(|_| self.err("length out of range"))
    }
    /// A length that must not exceed `max` (so a damaged length cannot ask for a huge allocation).
    pub fn len(&mut self, max: usize) -> Result<usize, DecodeError> {
        let v = self.usize()?;
        if v > max {
            return Err(self.err("length larger than the configuration allows"));
        }
        Ok(v)
    }
    /// An index that must be below `n`.
    pub fn index(&mut self, n: usize) -> Result<usize, DecodeError> {
        let v = self.usize()?;
        if v >= n {
            return Err(self.err("index out of range"));
        }
        Ok(v)
    }
    /// An `f64`.
    pub fn f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_bits(self.u64()?))
    }
    /// An `f32`.
    pub fn f32(&mut self) -> Result<f32, DecodeError> {
        Ok(f32::from_bits(self.u32()?))
    }
    /// Length-prefixed bytes (at most `max`).
    pub fn bytes(&mut self, max: usize) -> Result<&'a [u8], DecodeError> {
        let n = self.len(max)?;
        self.take(n)
    }
    /// A section tag written by [`Enc::tag`].
    pub fn tag(&mut self, t: &[u8; 4], what: &'static str) -> Result<(), DecodeError> {
        let at = self.pos;
        if self.take(4)? != t {
            return Err(DecodeError { what, at });
        }
        Ok(())
    }
    /// A sparse table written by [`Enc::sparse`] into `items` (which must have the same length):
    /// entries not listed are reset with `blank`.
    pub fn sparse<T>(
        &mut self,
        items: &mut [T],
        mut blank: impl FnMut(&mut T),
        mut get: impl FnMut(&mut Self, &mut T) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        let n = self.usize()?;
        self.check(
            n == items.len(),
            "table size differs from the configuration's",
        )?;
        let live = self.len(n)?;
        items.iter_mut().for_each(&mut blank);
        let mut last: Option<usize> = None;
        for _ in 0..live {
            let i = self.index(n)?;
            self.check(last.is_none_or(|l| i > l), "table entries out of order")?;
            last = Some(i);
            get(self, &mut items[i])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let mut e = Enc::new();
        e.tag(b"TEST");
        e.u8(7);
        e.bool(true);
        e.u16(65535);
        e.u32(1 << 31);
        e.u64(u64::MAX);
        e.i64(-5);
        e.f64(-0.0);
        e.f32(f32::NAN);
        e.bytes(b"abc");
        e.sparse(&[0u32, 5, 0, 9], |x| *x != 0, |e, x| e.u32(*x));
        let mut d = Dec::new(&e.buf);
        d.tag(b"TEST", "tag").unwrap();
        assert_eq!(d.u8().unwrap(), 7);
        assert!(d.bool().unwrap());
        assert_eq!(d.u16().unwrap(), 65535);
        assert_eq!(d.u32().unwrap(), 1 << 31);
        assert_eq!(d.u64().unwrap(), u64::MAX);
        assert_eq!(d.i64().unwrap(), -5);
        assert_eq!(d.f64().unwrap().to_bits(), (-0.0f64).to_bits());
        assert!(d.f32().unwrap().is_nan());
        assert_eq!(d.bytes(10).unwrap(), b"abc");
        let mut v = [1u32; 4];
        d.sparse(
            &mut v,
            |x| *x = 0,
            |d, x| {
                *x = d.u32()?;
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(v, [0, 5, 0, 9]);
        assert_eq!(d.remaining(), 0);
        assert!(d.u8().is_err());
        // A wrong table size, a wrong tag, a huge length: errors, no panic.
        let mut d = Dec::new(&e.buf);
        assert!(d.tag(b"XXXX", "tag").is_err());
        let mut w = [0u32; 3];
        let mut d = Dec::new(&e.buf[e.buf.len() - 44..]);
        assert!(d.sparse(&mut w, |_| {}, |_, _| Ok(())).is_err());
        let mut d = Dec::new(&[0xff; 8]);
        assert!(d.bytes(100).is_err());
    }
}
