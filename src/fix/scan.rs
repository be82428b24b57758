//! The only module of the codec with `unsafe`: byte scanning with AVX2 when the CPU has it
//! (detected at run time with `is_x86_feature_detected!`), SWAR on `u64` words otherwise.
//!
//! Three primitives: the byte sum for CheckSum (10), a 64-bit mask of the delimiter positions
//! of a 64-byte block, which the field indexer walks with `trailing_zeros`, and the 8-byte word
//! at a field start for its tag hint compare ([`Words`], no bound check). Also the typed views'
//! batched fixed-point conversion ([`fixed8_x8`]: up to 8 prices / quantities in two AVX2
//! passes), and the field indexer's hint loop in assembly for AVX2 + BMI CPUs
//! ([`BlockMask::hint_hits`]).
#![allow(unsafe_code)]

use super::error::ParseError;
use super::message::{Field, HINT_POSITIONS, HintCols, TagHints, index_body};

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

/// The 8 bytes of `buf` that end at `end` (little-endian), when `8 <= end <= buf.len()`: one
/// compare of `end - 8` (wrapping: huge when `end < 8`) with `buf.len() - 7` (0 when shorter),
/// which a view's several loads share, where the slice's checked load took two per load.
#[inline(always)]
pub(crate) fn word_ending_at(buf: &[u8], end: usize) -> Option<u64> {
    let p = end.wrapping_sub(8);
    if p < buf.len().saturating_sub(7) {
        // SAFETY: `p < buf.len() - 7` (so `buf.len() >= 8`), so `p + 8 <= buf.len()`: the 8
        // bytes read are in `buf`; `read_unaligned` needs no alignment.
        let w = unsafe { buf.as_ptr().add(p).cast::<u64>().read_unaligned() };
        Some(u64::from_le(w))
    } else {
        None
    }
}

/// Produces the delimiter bit mask of a 64-byte block (bit `i` set when `block[i]` is SOH, or
/// SOH or `|` when `pipe`).
pub(crate) trait BlockMask: Copy {
    fn masks(self, block: &[u8; 64], pipe: bool) -> u64;

    /// The field indexer's run of hint hits in SOH mode (see `message::index_body_in`): from
    /// the field at `p` (hint position `i`, delimiter iterator at block `base` with the bits
    /// `bits` left), each field whose tag bytes match position `i`'s hint in `set` and whose
    /// value is not empty is written to `out[i]` as `Field { tag: set.tag[i], start: p +
    /// set.skip[i], end: d }` (`d` the next delimiter), and the run goes on after `d`. Stops
    /// before a field that is not such a hit, at position [`HINT_POSITIONS`], at `words`' end,
    /// or when the next block of delimiters is not a whole 64 bytes inside the buffer (the
    /// caller's loop takes it from there). Returns `(p, i, base, bits)` after the last field
    /// written. Default: no run (the caller's loop does every field).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn hint_hits(
        self,
        _words: Words<'_>,
        p: usize,
        i: usize,
        base: usize,
        bits: u64,
        _set: &HintCols,
        _out: &mut [Field; HINT_POSITIONS],
    ) -> (usize, usize, usize, u64) {
        (p, i, base, bits)
    }
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
        __m256i, _mm_add_epi64, _mm_cvtsi128_si64, _mm_unpackhi_epi64, _mm256_add_epi8,
        _mm256_add_epi64, _mm256_and_si256, _mm256_andnot_si256, _mm256_blendv_epi8,
        _mm256_cmpeq_epi8, _mm256_cmpeq_epi64, _mm256_cmpgt_epi64, _mm256_extracti128_si256,
        _mm256_loadu_si256, _mm256_madd_epi16, _mm256_maddubs_epi16, _mm256_min_epu8,
        _mm256_movemask_epi8, _mm256_mul_epu32, _mm256_or_si256, _mm256_permutevar8x32_epi32,
        _mm256_sad_epu8, _mm256_set1_epi8, _mm256_set1_epi16, _mm256_set1_epi32,
        _mm256_set1_epi64x, _mm256_setr_epi32, _mm256_setzero_si256, _mm256_slli_epi64,
        _mm256_sllv_epi64, _mm256_srli_epi64, _mm256_storeu_si256, _mm256_sub_epi8,
        _mm256_sub_epi64, _mm256_testz_si256,
    };

    /// Proof that AVX2 is available: constructed only after `is_x86_feature_detected!("avx2")`
    /// returned true (by [`Avx2Bmi`], which proves more, and by the tests).
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
            let mut m = unsafe { block_mask(block, pipe) };
            // An opaque u64: otherwise LLVM keeps the mask as 64 booleans and rebuilds it bit by
            // bit in the field loop (hundreds of instructions per block). An empty `asm!` on its
            // register, not `black_box` (which stores it to the stack and loads it back, and
            // kept the stack slot's address live in the loop).
            // SAFETY: the assembly is empty: it reads and writes only the register holding `m`
            // (unchanged), touches no memory, stack nor flags.
            unsafe {
                core::arch::asm!(
                    "/* {0} */",
                    inout(reg) m,
                    options(pure, nomem, nostack, preserves_flags)
                );
            }
            m
        }
    }

    /// Proof that AVX2, BMI1 and BMI2 are available: constructed only by [`index`] (whose
    /// target features they are; [`super::index_fields`] calls it after detecting them). The
    /// field indexer's scanner: [`Avx2`]'s masks and the hand-written hint loop.
    #[derive(Clone, Copy)]
    pub(super) struct Avx2Bmi(());

    impl BlockMask for Avx2Bmi {
        #[inline(always)]
        fn masks(self, block: &[u8; 64], pipe: bool) -> u64 {
            // SAFETY: `Avx2Bmi` exists only when AVX2 (and BMI1, BMI2) are available.
            unsafe { Avx2::new_unchecked() }.masks(block, pipe)
        }

        #[inline(always)]
        fn hint_hits(
            self,
            words: super::Words<'_>,
            p: usize,
            i: usize,
            base: usize,
            bits: u64,
            set: &super::HintCols,
            out: &mut [super::Field; super::HINT_POSITIONS],
        ) -> (usize, usize, usize, u64) {
            // SAFETY: `Avx2Bmi` exists only when AVX2, BMI1 and BMI2 are available.
            unsafe { hint_hits(words, p, i, base, bits, set, out) }
        }
    }

    // The assembly below addresses these by offset.
    const _: () = {
        use core::mem::offset_of;
        assert!(offset_of!(super::Field, tag) == 0);
        assert!(offset_of!(super::Field, start) == 4);
        assert!(offset_of!(super::Field, end) == 8);
        assert!(size_of::<super::Field>() == 12);
        assert!(offset_of!(super::HintCols, mask) == 0);
        assert!(offset_of!(super::HintCols, key) == 8 * super::HINT_POSITIONS);
        assert!(offset_of!(super::HintCols, tag) == 16 * super::HINT_POSITIONS);
        assert!(offset_of!(super::HintCols, skip) == 20 * super::HINT_POSITIONS);
    };

    /// [`BlockMask::hint_hits`] in assembly: 23 instructions per field, every value in a
    /// register (LLVM's loop took 26 with two stack reloads). `j = i - 40` counts up to 0, so
    /// that its increment is also the position bound, and indexes the hint arrays from their
    /// ends (`set + END + 8 * j`).
    ///
    /// # Safety
    /// The CPU must support AVX2 and BMI1.
    #[target_feature(enable = "avx2,bmi1,bmi2")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn hint_hits(
        words: super::Words<'_>,
        mut p: usize,
        i: usize,
        mut base: usize,
        mut bits: u64,
        set: &super::HintCols,
        out: &mut [super::Field; super::HINT_POSITIONS],
    ) -> (usize, usize, usize, u64) {
        use super::HINT_POSITIONS as N;
        if i >= N || p >= words.end {
            return (p, i, base, bits);
        }
        // -40 < j < 0 while the loop runs.
        let mut j = i as isize - N as isize;
        let o = out[i..].as_mut_ptr();
        // SAFETY: every access of the assembly is inside a live, borrowed object:
        // * `[bytes + p]`, 8 bytes: the loop runs only while `p < end` (tested before the first
        //   field and after each), and `end + 7 <= bytes.len()` (`Words::new`).
        // * `[set + END + 8 * j]` / `[set + END + 4 * j]`: `END` is the offset one past the
        //   end of the array (`mask`, `key`: 8-byte elements; `tag`, `skip`: 4-byte), and
        //   `-N <= j < 0` (it starts at `i - N` with `i < N` and the loop stops when it
        //   reaches 0), so element `N + j` of a `[_; N]` array of `set`.
        // * `[o]`, `[o + 4]`, `[o + 8]`: `o` starts at `out[i]` and moves one `Field` (12
        //   bytes, `repr(C)`: tag, start, end at 0, 4, 8, checked above) per field written,
        //   together with `j`: it points at `out[N + j]`, inside `out` (`[Field; N]`),
        //   exclusively borrowed.
        // * `[bytes + x]`, 2 x 32 bytes, for a new block at `x`: only when `x + 64 <=
        //   bytes.len()` (tested just before).
        // * AVX2 (`vpcmpeqb`, `vpabsb`, `vpmovmskb` on ymm0/ymm1, both declared clobbered) and
        //   BMI1 (`tzcnt`, `blsr`): this function's target features, which the caller
        //   guarantees the CPU has. No stack use; the flags are clobbered (not preserved).
        unsafe {
            core::arch::asm!(
                "2:",
                "test {bits}, {bits}",
                "jz 5f",
                "mov {x}, qword ptr [{bytes} + {p}]",
                "and {x}, qword ptr [{set} + 8*{j} + {mask_end}]",
                "cmp {x}, qword ptr [{set} + 8*{j} + {key_end}]",
                "jne 9f",
                "tzcnt {d}, {bits}",
                "add {d}, {base}",
                "mov {v:e}, dword ptr [{set} + 4*{j} + {skip_end}]",
                "add {v}, {p}",
                "cmp {d}, {v}",
                "je 9f",
                "blsr {bits}, {bits}",
                "mov {x:e}, dword ptr [{set} + 4*{j} + {tag_end}]",
                "mov dword ptr [{o}], {x:e}",
                "mov dword ptr [{o} + 4], {v:e}",
                "mov dword ptr [{o} + 8], {d:e}",
                "add {o}, 12",
                "lea {p}, [{d} + 1]",
                "inc {j}",
                "jz 9f",
                "cmp {p}, {end}",
                "jb 2b",
                "jmp 9f",
                // The next block (`Delims::next`): past `end`, or not 64 bytes inside the
                // buffer: left to the caller.
                "5:",
                "lea {x}, [{base} + 64]",
                "cmp {x}, {end}",
                "jae 9f",
                "lea {d}, [{x} + 64]",
                "cmp {d}, {len}",
                "ja 9f",
                "vpcmpeqb ymm0, ymm0, ymm0",
                "vpabsb ymm0, ymm0",
                "vpcmpeqb ymm1, ymm0, ymmword ptr [{bytes} + {x}]",
                "vpcmpeqb ymm0, ymm0, ymmword ptr [{bytes} + {x} + 32]",
                "vpmovmskb {v:e}, ymm1",
                "vpmovmskb {bits:e}, ymm0",
                "shl {bits}, 32",
                "or {bits}, {v}",
                "mov {base}, {x}",
                "jmp 2b",
                "9:",
                bytes = in(reg) words.bytes.as_ptr(),
                end = in(reg) words.end,
                len = in(reg) words.bytes.len(),
                set = in(reg) core::ptr::from_ref(set),
                p = inout(reg) p,
                bits = inout(reg) bits,
                base = inout(reg) base,
                j = inout(reg) j,
                o = inout(reg) o => _,
                x = out(reg) _,
                d = out(reg) _,
                v = out(reg) _,
                mask_end = const core::mem::offset_of!(super::HintCols, mask) + 8 * N,
                key_end = const core::mem::offset_of!(super::HintCols, key) + 8 * N,
                tag_end = const core::mem::offset_of!(super::HintCols, tag) + 4 * N,
                skip_end = const core::mem::offset_of!(super::HintCols, skip) + 4 * N,
                out("ymm0") _,
                out("ymm1") _,
                options(nostack),
            );
        }
        (p, (j + N as isize) as usize, base, bits)
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

    /// Sum of all bytes modulo 256 (the CheckSum), AVX2: the bytes added lane by lane with
    /// wrapping (`vpaddb`: each lane's sum modulo 256, whose total modulo 256 is the sum's), 64
    /// bytes per step in two accumulators, one `vpsadbw` at the end; the tail with one
    /// overlapping, masked load.
    ///
    /// # Safety
    /// The CPU must support AVX2, and `bytes.len() >= 32`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn sum_mod256(bytes: &[u8]) -> u8 {
        debug_assert!(bytes.len() >= 32);
        let zero = _mm256_setzero_si256();
        let (mut a0, mut a1) = (zero, zero);
        let mut chunks = bytes.chunks_exact(64);
        for c in &mut chunks {
            let p = c.as_ptr().cast::<__m256i>();
            // SAFETY: `c` is 64 readable bytes: `p` and `p + 1` point to 32 each; loadu has no
            // alignment requirement; AVX2 is enabled on this function and the caller guarantees
            // the CPU has it.
            let (v0, v1) = unsafe { (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1))) };
            a0 = _mm256_add_epi8(a0, v0);
            a1 = _mm256_add_epi8(a1, v1);
        }
        let rest = chunks.remainder();
        if let Some(c) = rest.first_chunk::<32>() {
            // SAFETY: `c` is 32 readable bytes; loadu has no alignment requirement.
            a0 = _mm256_add_epi8(a0, unsafe { _mm256_loadu_si256(c.as_ptr().cast()) });
        }
        let r = bytes.len() % 32;
        if r > 0 {
            // The last 32 bytes (overlapping the summed ones; `bytes.len() >= 32`), of which only
            // the last `r` (not summed yet) are kept: AND with 32 bytes of TAIL starting at `r`
            // (32 - r zeros, then r 0xFF).
            let last = bytes.len() - 32;
            // SAFETY: the caller guarantees `bytes.len() >= 32`, so `bytes[last..last + 32]` is
            // readable; loadu has no alignment requirement; AVX2 is enabled on this function.
            let v = unsafe { _mm256_loadu_si256(bytes.as_ptr().add(last).cast::<__m256i>()) };
            let mask = &TAIL[r..r + 32];
            // SAFETY: `mask` is 32 readable bytes of TAIL (r < 32, TAIL has 64 bytes).
            let m = unsafe { _mm256_loadu_si256(mask.as_ptr().cast::<__m256i>()) };
            a1 = _mm256_add_epi8(a1, _mm256_and_si256(v, m));
        }
        let t = _mm256_sad_epu8(_mm256_add_epi8(a0, a1), zero);
        let t = _mm_add_epi64(
            _mm256_extracti128_si256::<0>(t),
            _mm256_extracti128_si256::<1>(t),
        );
        let t = _mm_add_epi64(t, _mm_unpackhi_epi64(t, t));
        _mm_cvtsi128_si64(t) as u8
    }

    /// [`super::fixed8_x8`] of 4 lanes: `w` the 8 bytes ending at each value, `k` its length
    /// (converted when 1..=8). Returns the values, -1 in the lanes not converted (which are for
    /// the scalar path). Each step is that of `num::fixed8_word` on 4 lanes.
    #[target_feature(enable = "avx2")]
    fn fixed8_x4(w: __m256i, k: __m256i) -> __m256i {
        let zero = _mm256_setzero_si256();
        let ones = _mm256_set1_epi64x(-1);
        // Digit values (garbage where not a digit); which bytes are digits, which are dots.
        let d = _mm256_sub_epi8(w, _mm256_set1_epi8(b'0' as i8));
        let is_digit = _mm256_cmpeq_epi8(_mm256_min_epu8(d, _mm256_set1_epi8(9)), d);
        let is_dot = _mm256_cmpeq_epi8(w, _mm256_set1_epi8(b'.' as i8));
        // The value: the top k bytes (k = 0: none; a shift of 64 gives 0).
        let vmask = _mm256_sllv_epi64(
            ones,
            _mm256_slli_epi64::<3>(_mm256_sub_epi64(_mm256_set1_epi64x(8), k)),
        );
        let bad = _mm256_andnot_si256(_mm256_or_si256(is_digit, is_dot), vmask);
        let dots = _mm256_and_si256(is_dot, vmask);
        // Per lane: the number of dots, and the byte index j of the dot when there is one.
        let n_dots = _mm256_sad_epu8(_mm256_and_si256(dots, _mm256_set1_epi8(1)), zero);
        let byte_index = _mm256_set1_epi64x(0x0706_0504_0302_0100);
        let j = _mm256_sad_epu8(_mm256_and_si256(dots, byte_index), zero);
        let has_dot = _mm256_cmpeq_epi64(n_dots, _mm256_set1_epi64x(1));
        // Converted: k <= 8, no other byte, at most one dot, and a digit (k > 1 with a dot,
        // k > 0; the compares are signed: a "negative" k is no length either).
        let ok = _mm256_and_si256(
            _mm256_and_si256(
                _mm256_cmpeq_epi64(bad, zero),
                _mm256_cmpgt_epi64(_mm256_set1_epi64x(2), n_dots),
            ),
            _mm256_and_si256(
                _mm256_cmpgt_epi64(k, _mm256_sub_epi64(zero, has_dot)),
                _mm256_cmpgt_epi64(_mm256_set1_epi64x(9), k),
            ),
        );
        // Remove the dot: the bytes below it move up one byte.
        let from_j = _mm256_sllv_epi64(ones, _mm256_slli_epi64::<3>(j));
        let above = _mm256_slli_epi64::<8>(from_j);
        let below = _mm256_andnot_si256(from_j, ones);
        let moved = _mm256_or_si256(
            _mm256_slli_epi64::<8>(_mm256_and_si256(d, below)),
            _mm256_and_si256(d, above),
        );
        let moved = _mm256_and_si256(moved, _mm256_slli_epi64::<8>(vmask));
        let digits = _mm256_blendv_epi8(_mm256_and_si256(d, vmask), moved, has_dot);
        // combine8: pairs (first digit in the lower byte), quads, octets.
        let p = _mm256_maddubs_epi16(digits, _mm256_set1_epi16(0x010A));
        let q = _mm256_madd_epi16(p, _mm256_set1_epi32(0x0001_0064));
        let v = _mm256_add_epi64(
            _mm256_mul_epu32(q, _mm256_set1_epi64x(10_000)),
            _mm256_srli_epi64::<32>(q),
        );
        // Times 10^(1 + j) with a dot, 10^8 without.
        let pow = _mm256_setr_epi32(
            10,
            100,
            1_000,
            10_000,
            100_000,
            1_000_000,
            10_000_000,
            100_000_000,
        );
        let e = _mm256_blendv_epi8(_mm256_set1_epi64x(7), j, has_dot);
        let r = _mm256_mul_epu32(v, _mm256_permutevar8x32_epi32(pow, e));
        // (At most 99_999_999 * 10^8: never negative.)
        _mm256_or_si256(r, _mm256_andnot_si256(ok, ones))
    }

    /// [`super::fixed8_x8`] with AVX2.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn fixed8_x8(w: &[u64; 8], k: &[u64; 8]) -> [i64; 8] {
        let mut out = [-1i64; 8];
        let (w, k, o) = (
            w.as_ptr().cast::<__m256i>(),
            k.as_ptr().cast::<__m256i>(),
            out.as_mut_ptr().cast::<__m256i>(),
        );
        // SAFETY: `w`, `k` and `out` are 64 bytes each: the pointers and the pointers + 1 (32
        // bytes further) point to 32 bytes inside them; loadu / storeu have no alignment
        // requirement; AVX2 is enabled on this function.
        unsafe {
            _mm256_storeu_si256(o, fixed8_x4(_mm256_loadu_si256(w), _mm256_loadu_si256(k)));
            let k_hi = _mm256_loadu_si256(k.add(1));
            // Lanes 4..8 all without a value (e.g. 2 prices in a NewOrderSingle): done.
            if _mm256_testz_si256(k_hi, k_hi) == 0 {
                _mm256_storeu_si256(o.add(1), fixed8_x4(_mm256_loadu_si256(w.add(1)), k_hi));
            }
        }
        out
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
        // This function requires AVX2, BMI1 and BMI2, so the proof token may be built.
        let tok = Avx2Bmi(());
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
#[inline(always)]
pub(crate) fn checksum(bytes: &[u8], pipe: bool) -> u8 {
    let mut sum = sum_mod256(bytes);
    if pipe {
        let bars = bytes.iter().filter(|&&b| b == b'|').count();
        sum = sum.wrapping_sub((bars as u8).wrapping_mul(b'|' - 1));
    }
    sum
}

/// Sum of the bytes modulo 256.
#[inline]
pub(crate) fn sum_mod256(bytes: &[u8]) -> u8 {
    #[cfg(target_arch = "x86_64")]
    if bytes.len() >= 64 && has_avx2() {
        // SAFETY: AVX2 was detected just above, and `bytes` has at least 32 bytes.
        return unsafe { avx2::sum_mod256(bytes) };
    }
    bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b))
}

/// Fixed-point values (8 decimals) of up to 8 fields at once: lane `i` is the value whose last
/// 8 bytes (the value at the top, anything before it below) are `w[i]` and whose length is
/// `k[i]` (any `u64`: only 1..=8 is converted; 0 for no value). A lane is converted when its
/// value is digits with at most one dot and at least one digit, into `num::parse_fixed8`'s
/// value (never negative); -1 otherwise (a sign, a malformed or longer value, no value: for the
/// caller's scalar path). With AVX2 in two vector passes of 4 lanes (one when lanes 4..8 have
/// no value), else one lane at a time with `num::fixed8_word` (which may leave more to the
/// caller: a byte below the value can carry into its SWAR digit test): the view of a message
/// with 7 prices and quantities converts them together instead of in seven scalar conversions.
/// (An AVX-512 pass of 8 lanes was tried: no faster here.)
#[inline]
pub(crate) fn fixed8_x8(w: &[u64; 8], k: &[u64; 8]) -> [i64; 8] {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 was detected just above.
        return unsafe { avx2::fixed8_x8(w, k) };
    }
    fixed8_x8_scalar(w, k)
}

/// [`fixed8_x8`] one lane at a time (no AVX2; tests compare both).
fn fixed8_x8_scalar(w: &[u64; 8], k: &[u64; 8]) -> [i64; 8] {
    let mut out = [-1i64; 8];
    for i in 0..8 {
        let n = k[i] as usize;
        if (1..=8).contains(&n) {
            if let Some(v) = super::num::fixed8_word(w[i], n) {
                out[i] = v;
            }
        }
    }
    out
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

    /// The batched fixed-point conversion (AVX2 when present) converts exactly the plain
    /// numbers (1 to 8 digits and dots, one dot at most, a digit) into `parse_fixed8`'s value,
    /// and the scalar lanes are `num::fixed8_word`: values of 0 to 9 bytes, half of them
    /// well-formed numbers, the others drawn from digits, dots, signs, spaces and high bytes,
    /// after random bytes; lengths out of range (9 and more, "negative").
    #[test]
    fn fixed8_lanes_agree_with_one_at_a_time() {
        use super::super::num::{fixed8_word, parse_fixed8};
        let alphabet = b"0123456789...-+ e\x01\x7f\xff\xfa/:";
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut converted = 0;
        for round in 0..20_000 {
            let mut w = [0u64; 8];
            let mut k = [0u64; 8];
            for l in 0..8 {
                let n = (next() % 10) as usize;
                let mut bytes = next().to_le_bytes();
                let valid = next() % 2 == 0;
                let dot = (next() % 12) as usize;
                let first = 8 - n.min(8);
                for (i, b) in bytes.iter_mut().enumerate().skip(first) {
                    *b = if valid {
                        if i == first + dot {
                            b'.'
                        } else {
                            b'0' + (next() % 10) as u8
                        }
                    } else {
                        alphabet[(next() % alphabet.len() as u64) as usize]
                    };
                }
                w[l] = u64::from_le_bytes(bytes);
                k[l] = match next() % 16 {
                    0 => u64::MAX - (next() % 8),
                    1 => 9 + next() % 300,
                    _ => n as u64,
                };
            }
            // Converted exactly when the value is 1 to 8 digits and dots, at most one dot, a
            // digit: with `parse_fixed8`'s value.
            let want: [i64; 8] = core::array::from_fn(|l| {
                let n = k[l] as usize;
                if !(1..=8).contains(&n) {
                    return -1;
                }
                let v = &w[l].to_le_bytes()[8 - n..];
                let dots = v.iter().filter(|&&c| c == b'.').count();
                if dots > 1 || dots == n || !v.iter().all(|&c| c == b'.' || c.is_ascii_digit()) {
                    return -1;
                }
                parse_fixed8(v).expect("a plain number")
            });
            assert_eq!(fixed8_x8(&w, &k), want, "round {round}: {w:x?} {k:?}");
            #[cfg(target_arch = "x86_64")]
            if has_avx2() {
                // SAFETY: AVX2 detected.
                assert_eq!(unsafe { avx2::fixed8_x8(&w, &k) }, want, "round {round}");
            }

            // The scalar lanes: `fixed8_word`, which converts a subset (a byte below the value
            // may carry into its digit test), always with the same value.
            let scalar = fixed8_x8_scalar(&w, &k);
            for l in 0..8 {
                let n = k[l] as usize;
                let one = if (1..=8).contains(&n) {
                    fixed8_word(w[l], n)
                } else {
                    None
                };
                assert_eq!(scalar[l], one.unwrap_or(-1), "round {round} lane {l}");
                assert!(
                    scalar[l] == -1 || scalar[l] == want[l],
                    "round {round} lane {l}"
                );
                if want[l] >= 0 {
                    converted += 1;
                }
            }
        }
        // Most well-formed lanes convert (the test is not vacuous).
        assert!(converted > 40_000, "{converted}");
    }

    /// The CheckSum (AVX2 when present: wrapping byte lanes, two accumulators, a masked
    /// tail) against a plain sum, at every length 0 to 300 and some longer, from every start
    /// offset 0 to 63 (loads at every alignment), both delimiter modes, on bytes that make the
    /// lanes wrap (mostly 0x80 and up) and bars.
    #[test]
    fn sums_agree() {
        let v: Vec<u8> = (0..1100u32)
            .map(|i| match i % 13 {
                0 => b'|',
                1 => 1,
                _ => (i * 7919 % 251) as u8 ^ 0x80,
            })
            .collect();
        for off in 0..64 {
            for n in (0..=300).chain([511, 512, 513, 999, 1000]) {
                let b = &v[off..off + n];
                let sum: u64 = b.iter().map(|&c| u64::from(c)).sum();
                assert_eq!(u64::from(sum_mod256(b)), sum % 256, "{off} {n}");
                #[cfg(target_arch = "x86_64")]
                if n >= 32 && has_avx2() {
                    // SAFETY: AVX2 detected, `n >= 32`.
                    assert_eq!(u64::from(unsafe { avx2::sum_mod256(b) }), sum % 256);
                }
                let bars = b.iter().filter(|&&c| c == b'|').count() as u64;
                let piped = (sum + bars * (1 + 256) - bars * u64::from(b'|')) % 256;
                assert_eq!(u64::from(checksum(b, true)), piped, "{off} {n}");
                assert_eq!(u64::from(checksum(b, false)), sum % 256);
            }
        }
    }

    /// `word_ending_at` against the checked slice load: every buffer length 0 to 24 (sub-slices
    /// of a longer buffer, so a load past the end would read the neighbours' bytes and differ)
    /// and every `end` 0 to 40 and near `usize::MAX`. (It fails when the compare lets
    /// `end = len + 1` through, or rejects `end = len`: checked.)
    #[test]
    fn words_ending_at_agree_with_the_slice() {
        let v: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) ^ 0xA5).collect();
        for off in 0..8 {
            for n in 0..=24 {
                let b = &v[off..off + n];
                for end in (0..=40).chain([usize::MAX - 8, usize::MAX - 7, usize::MAX]) {
                    let want = end
                        .checked_sub(8)
                        .and_then(|s| b.get(s..end))
                        .map(|w| u64::from_le_bytes(w.try_into().unwrap()));
                    assert_eq!(word_ending_at(b, end), want, "{off} {n} {end}");
                }
            }
        }
    }
}
