//! Cache prefetch hints. A publication pass knows which statistics cells and scoreboard rows it
//! reads next long before it reads them; asking for their lines early overlaps the cache misses
//! with the work in between instead of stalling on each in turn. A hint never changes a result. (`unsafe` is allowed for
//! this module in `lib.rs`.)

/// Asks for the cache line holding `p` in every cache level.
#[inline(always)]
pub fn line<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint: it never faults and never changes memory, whatever the
    // address (even an unmapped one), and SSE is part of the x86_64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Asks for every cache line of `*p` (a `T` may straddle one more line than its size needs).
#[inline(always)]
pub fn lines_of<T>(p: *const T) {
    let b = p.cast::<u8>();
    let head = b as usize & 63;
    let base = b.wrapping_sub(head);
    let span = head + core::mem::size_of::<T>().max(1);
    let mut off = 0;
    while off < span {
        line(base.wrapping_add(off));
        off += 64;
    }
}
