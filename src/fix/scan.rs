//! The only module of the codec with `unsafe`: byte scanning with AVX2 when the CPU has it
//! (detected at run time with `is_x86_feature_detected!`), SWAR on `u64` words otherwise.
//!
//! Three primitives: the byte sum for CheckSum (10), a 64-bit mask of the delimiter positions
//! of a 64-byte block, which the field indexer walks with `trailing_zeros`, and the 8-byte word
//! at a field start for its tag hint compare ([`Words`], no bound check).
#![allow(unsafe_code)]

use super::error::ParseError;
use super::message::{Field, TagHints, index_body};

/// The 8-byte words at the field starts of a message body, loaded without a bound check: the
/// field indexer's hint compare loads one per field. A frame's body is followed by its 7-byte
/// trailer (`10=ddd<SOH>`), so every offset in it has 8 bytes.
#[derive(Clone, Copy)]
pub(crate) struct Words<'a> {
    bytes: &'a [u8],
    /// `end + 7 <= bytes.len()`: `p < end` implies `p + 8 <= bytes.len()`.
    end: usize,
}

impl<'a> Words<'a> {
    /// The words of `bytes` at offsets below `end`, if 7 bytes follow `end`.
    #[inline(always)]
    pub(crate) fn new(bytes: &'a [u8], end: usize) -> Option<Self> {
        (end.checked_add(7)? <= bytes.len()).then_some(Self { bytes, end })
    }

    /// The 8 bytes at `p` (little-endian), if `p < end`: one compare, where the slice's
    /// checked load took two (and a live buffer length).
    #[inline(always)]
    pub(crate) fn at(self, p: usize) -> Option<u64> {
        if p < self.end {
            // SAFETY: `p < end` and `end + 7 <= bytes.len()` (checked in `new`), so
            // `p + 8 <= bytes.len()`: the 8 bytes read are in `bytes`; `read_unaligned` needs
            // no alignment.
            let w = unsafe { self.bytes.as_ptr().add(p).cast::<u64>().read_unaligned() };
            Some(u64::from_le(w))
        } else {
            None
        }
    }
}

/// Produces the delimiter bit mask of a 64-byte block (bit `i` set when `block[i]` is SOH, or
/// SOH or `|` when `pipe`).
pub(crate) trait BlockMask: Copy {
    fn masks(self, block: &[u8; 64], pipe: bool) -> u64;
}

/// Portable SWAR implementation.
#[derive(Clone, Copy)]
pub(crate) struct Swar;

const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const ONES: u64 = 0x0101_0101_0101_0101;

/// High bit of each byte of the result set where the byte of `x` is zero (exact, no false
/// positives).
#[inline(always)]
const fn zero_bytes(x: u64) -> u64 {
    !(((x & LO7) + LO7) | x | LO7)
}

/// Gathers the high bits of the 8 bytes into an 8-bit mask, byte `i` -> bit `i`.
#[inline(always)]
const fn gather(hi: u64) -> u64 {
    ((hi >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

impl BlockMask for Swar {
    #[inline(always)]
    fn masks(self, block: &[u8; 64], pipe: bool) -> u64 {
        let mut out = 0u64;
        for (i, w) in block.chunks_exact(8).enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            let x = u64::from_le_bytes(b);
            let mut z = zero_bytes(x ^ ONES);
            if pipe {
                z |= zero_bytes(x ^ (ONES * u64::from(b'|')));
            }
            out |= gather(z) << (8 * i);
        }
        out
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::BlockMask;
    use core::arch::x86_64::{
        __m256i, _mm_add_epi64, _mm_cvtsi128_si64, _mm_unpackhi_epi64, _mm256_add_epi64,
        _mm256_and_si256, _mm256_cmpeq_epi8, _mm256_extracti128_si256, _mm256_loadu_si256,
        _mm256_movemask_epi8, _mm256_or_si256, _mm256_sad_epu8, _mm256_set1_epi8,
        _mm256_setzero_si256,
    };

    /// Proof that AVX2 is available: constructed only by [`super::index_fields`] and
    /// [`super::byte_sum`] after `is_x86_feature_detected!("avx2")` returned true.
    #[derive(Clone, Copy)]
    pub(super) struct Avx2(());

    impl Avx2 {
        /// # Safety
        /// The CPU must support AVX2.
        #[inline(always)]
        pub(super) const unsafe fn new_unchecked() -> Self {
            Self(())
        }
    }

    impl BlockMask for Avx2 {
        #[inline(always)]
        fn masks(self, block: &[u8; 64], pipe: bool) -> u64 {
            // SAFETY: `self` exists only when AVX2 is available (see `Avx2`).
            let m = unsafe { block_mask(block, pipe) };
            // An opaque u64: otherwise LLVM keeps the mask as 64 booleans and rebuilds it bit by
            // bit in the field loop (hundreds of instructions per block).
            core::hint::black_box(m)
        }
    }

    /// Delimiter mask of a 64-byte block.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn block_mask(block: &[u8; 64], pipe: bool) -> u64 {
        let p = block.as_ptr().cast::<__m256i>();
        // SAFETY: `p` and `p + 32` point to 32 readable bytes each inside `block` (64 bytes);
        // loadu has no alignment requirement; AVX2 is enabled on this function.
        let (v0, v1) = unsafe { (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1))) };
        let soh = _mm256_set1_epi8(1);
        let mut e0 = _mm256_cmpeq_epi8(v0, soh);
        let mut e1 = _mm256_cmpeq_epi8(v1, soh);
        if pipe {
            let bar = _mm256_set1_epi8(b'|' as i8);
            e0 = _mm256_or_si256(e0, _mm256_cmpeq_epi8(v0, bar));
            e1 = _mm256_or_si256(e1, _mm256_cmpeq_epi8(v1, bar));
        }
        let lo = _mm256_movemask_epi8(e0) as u32 as u64;
        let hi = _mm256_movemask_epi8(e1) as u32 as u64;
        lo | (hi << 32)
    }

    /// Sum of all bytes, AVX2 `vpsadbw` (the tail with one overlapping, masked load).
    ///
    /// # Safety
    /// The CPU must support AVX2, and `bytes.len() >= 32`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn byte_sum(bytes: &[u8]) -> u64 {
        debug_assert!(bytes.len() >= 32);
        let mut acc = _mm256_setzero_si256();
        let zero = _mm256_setzero_si256();
        let mut chunks = bytes.chunks_exact(32);
        for c in &mut chunks {
            // SAFETY: `c` is 32 readable bytes; loadu has no alignment requirement; AVX2 is
            // enabled on this function and the caller guarantees the CPU has it.
            let v = unsafe { _mm256_loadu_si256(c.as_ptr().cast::<__m256i>()) };
            acc = _mm256_add_epi64(acc, _mm256_sad_epu8(v, zero));
        }
        let s = _mm_add_epi64(
            _mm256_extracti128_si256::<0>(acc),
            _mm256_extracti128_si256::<1>(acc),
        );
        let s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
        let mut total = _mm_cvtsi128_si64(s) as u64;
        let r = chunks.remainder().len();
        if r > 0 {
            // The last 32 bytes (overlapping the summed ones; `bytes.len() >= 32`), of which only
            // the last `r` are kept: AND with 32 bytes of TAIL starting at `r`
            // (32 - r zeros, then r 0xFF).
            let last = bytes.len() - 32;
            // SAFETY: the caller guarantees `bytes.len() >= 32`, so `bytes[last..last + 32]` is
            // readable; loadu has no alignment requirement; AVX2 is enabled on this function.
            let v = unsafe { _mm256_loadu_si256(bytes.as_ptr().add(last).cast::<__m256i>()) };
            let mask = &TAIL[r..r + 32];
            // SAFETY: `mask` is 32 readable bytes of TAIL (r < 32, TAIL has 64 bytes).
            let m = unsafe { _mm256_loadu_si256(mask.as_ptr().cast::<__m256i>()) };
            let t = _mm256_sad_epu8(_mm256_and_si256(v, m), zero);
            let t = _mm_add_epi64(
                _mm256_extracti128_si256::<0>(t),
                _mm256_extracti128_si256::<1>(t),
            );
            let t = _mm_add_epi64(t, _mm_unpackhi_epi64(t, t));
            total += _mm_cvtsi128_si64(t) as u64;
        }
        total
    }

    /// 32 zero bytes then 32 0xFF bytes: `TAIL[r..r + 32]` keeps the last `r` bytes of a block.
    static TAIL: [u8; 64] = {
        let mut t = [0u8; 64];
        let mut i = 32;
        while i < 64 {
            t[i] = 0xFF;
            i += 1;
        }
        t
    };

    /// # Safety
    /// The CPU must support AVX2, BMI1 and BMI2.
    #[target_feature(enable = "avx2,bmi1,bmi2")]
    pub(super) unsafe fn index(
        bytes: &[u8],
        start: usize,
        end: usize,
        pipe: bool,
        out: &mut [super::Field],
        hints: &mut super::TagHints,
    ) -> Result<usize, super::ParseError> {
        // SAFETY: this function requires AVX2, so the proof token may be built.
        let tok = unsafe { Avx2::new_unchecked() };
        super::index_body(tok, bytes, start, end, pipe, out, hints)
    }
}

#[inline]
fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// AVX2, BMI1 and BMI2 (the field indexer's target features; every AVX2 CPU has the BMIs).
#[inline]
fn has_avx2_bmi() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("bmi1")
            && std::is_x86_feature_detected!("bmi2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Sum of the bytes modulo 256, the FIX CheckSum. With `pipe`, every `|` counts as SOH (log
/// files where SOH was replaced by `|`).
#[inline]
pub(crate) fn checksum(bytes: &[u8], pipe: bool) -> u8 {
    let mut sum = byte_sum(bytes);
    if pipe {
        let bars = bytes.iter().filter(|&&b| b == b'|').count() as u64;
        sum = sum.wrapping_sub(bars * u64::from(b'|' - 1));
    }
    (sum & 0xff) as u8
}

/// Plain sum of the bytes.
#[inline]
pub(crate) fn byte_sum(bytes: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if bytes.len() >= 64 && has_avx2() {
        // SAFETY: AVX2 was detected just above, and `bytes` has at least 32 bytes.
        return unsafe { avx2::byte_sum(bytes) };
    }
    bytes.iter().map(|&b| u64::from(b)).sum()
}

/// The field indexer to use, detected once (a `Parser` keeps one): three feature tests per
/// message were about 12 instructions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Indexer {
    /// AVX2, BMI1 and BMI2 were detected (private: only [`Indexer::detect`] sets it).
    avx2_bmi: bool,
}

impl Indexer {
    /// The best indexer this CPU supports.
    pub(crate) fn detect() -> Self {
        Self {
            avx2_bmi: has_avx2_bmi(),
        }
    }
}

impl Default for Indexer {
    fn default() -> Self {
        Self::detect()
    }
}

/// Indexes the fields of `bytes[start..end]` into `out` (see [`index_body`]) with the scanner
/// `ix` selects; returns how many.
#[inline]
pub(crate) fn index_fields(
    ix: Indexer,
    bytes: &[u8],
    start: usize,
    end: usize,
    pipe: bool,
    out: &mut [Field],
    hints: &mut TagHints,
) -> Result<usize, ParseError> {
    #[cfg(target_arch = "x86_64")]
    if ix.avx2_bmi {
        // SAFETY: `avx2_bmi` is set only by `Indexer::detect`, after AVX2, BMI1 and BMI2 were
        // detected on this CPU.
        return unsafe { avx2::index(bytes, start, end, pipe, out, hints) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ix;
    index_body(Swar, bytes, start, end, pipe, out, hints)
}

/// Indexes with the portable scanner only (tests compare it with the SIMD one).
#[cfg(test)]
pub(crate) fn index_fields_swar(
    bytes: &[u8],
    start: usize,
    end: usize,
    pipe: bool,
    out: &mut [Field],
    hints: &mut TagHints,
) -> Result<usize, ParseError> {
    index_body(Swar, bytes, start, end, pipe, out, hints)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(block: &[u8; 64], pipe: bool) -> u64 {
        let mut m = 0;
        for (i, &b) in block.iter().enumerate() {
            if b == 1 || (pipe && b == b'|') {
                m |= 1 << i;
            }
        }
        m
    }

    #[test]
    fn masks_agree() {
        let mut block = [0u8; 64];
        let mut x: u32 = 12345;
        for round in 0..2000 {
            for b in &mut block {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let r = (x >> 16) as u8;
                *b = match r % 6 {
                    0 => 1,
                    5 => b'=',
                    1 => b'|',
                    2 => 0x81,
                    3 => 0,
                    _ => r,
                };
            }
            for pipe in [false, true] {
                assert_eq!(
                    Swar.masks(&block, pipe),
                    naive(&block, pipe),
                    "round {round}"
                );
                #[cfg(target_arch = "x86_64")]
                if has_avx2() {
                    // SAFETY: AVX2 detected.
                    let t = unsafe { avx2::Avx2::new_unchecked() };
                    assert_eq!(t.masks(&block, pipe), naive(&block, pipe));
                }
            }
        }
    }

    #[test]
    fn sums_agree() {
        let v: Vec<u8> = (0..1000u32)
            .map(|i| (i * 7919 % 251) as u8 ^ 0x80)
            .collect();
        for n in (0..=300).chain([999, 1000]) {
            let expect: u64 = v[..n].iter().map(|&b| u64::from(b)).sum();
            assert_eq!(byte_sum(&v[..n]), expect);
        }
    }
}
