//! The cells' storage arenas ([`Arena`]): zero-initialised, 64-byte aligned, one `[T; N]` per cell,
//! reserved once for the largest cell count. `unsafe` is allowed in this module alone of `kpi`
//! (the crate denies it): cell `i`'s value is a typed view at `base + i * size_of::<[T; N]>()`, one
//! compare of `i` with the cell count, instead of re-deriving the storage (mapping or heap),
//! slicing its bytes and checking the cast's length and alignment on every access (about a dozen
//! instructions per arena per cell view, and every event and row takes two to eight views).
#![allow(unsafe_code)]

use core::marker::PhantomData;
use core::mem::{align_of, size_of};

/// `cells` zero-initialised values of type `[T; N]`, 64-byte aligned: an anonymous mapping that asks
/// for transparent huge pages (the cells are touched at random: with 4 KiB pages nearly every
/// access would also miss the TLB), else (no mapping possible) a zeroed heap allocation.
///
/// Every access goes through `base`, resolved once from the storage's own pointer: the storage
/// is never resized or borrowed again until it is dropped, so `base` stays valid for
/// `cells * size_of::<[T; N]>()` bytes, and the borrow rules of [`Arena`]'s methods (`&self` for
/// reads, `&mut self` for writes) are those of a plain slice.
#[derive(Debug)]
pub(crate) struct Arena<T, const N: usize> {
    /// The storage `base` points into; held only to keep it alive (dropped with the arena).
    _map: Option<memmap2::MmapMut>,
    _heap: Vec<u64>,
    /// The first 64-byte boundary of the storage.
    base: *mut u8,
    cells: usize,
    _c: PhantomData<[T; N]>,
}

// SAFETY: `base` points into storage the arena owns (its mapping or its heap vector), used only
// through `&self` / `&mut self` methods with a slice's borrow rules; `T: Pod` is plain data.
unsafe impl<T: bytemuck::Pod, const N: usize> Send for Arena<T, N> {}
// SAFETY: as for `Send`: shared access (`&self`) only reads, like a `&[[T; N]]`.
unsafe impl<T: bytemuck::Pod, const N: usize> Sync for Arena<T, N> {}

impl<T: bytemuck::Pod, const N: usize> Arena<T, N> {
    /// `cells` zeroed values, the first 64-byte aligned.
    pub(crate) fn new(cells: usize) -> Self {
        // Cell `i` starts at `base + i * size_of::<[T; N]>()`: aligned for `T`, since `base` is
        // 64-byte aligned and a type's size is a multiple of its alignment.
        assert!(align_of::<T>() <= 64, "arena cell alignment");
        let len = cells
            .checked_mul(size_of::<[T; N]>())
            .expect("arena size overflows");
        let want = len + 64;
        let (map, heap, p) = match memmap2::MmapOptions::new().len(want).map_anon() {
            Ok(mut map) => {
                // Advisory only: without huge pages everything works the same, slower.
                let _ = map.advise(memmap2::Advice::HugePage);
                let p = map.as_mut_ptr();
                (Some(map), Vec::new(), p)
            }
            Err(_) => {
                // `vec![0u64; n]` is a zeroed allocation (`calloc`).
                let mut heap = vec![0u64; want.div_ceil(8)];
                let p = heap.as_mut_ptr().cast::<u8>();
                (None, heap, p)
            }
        };
        let off = (64 - p as usize % 64) % 64;
        Self {
            _map: map,
            _heap: heap,
            // `off < 64` and the storage holds `len + 64` bytes: `base` and the `len` bytes
            // after it are inside it.
            base: p.wrapping_add(off),
            cells,
            _c: PhantomData,
        }
    }

    /// The arena's length in bytes.
    #[inline]
    fn len(&self) -> usize {
        self.cells * size_of::<[T; N]>()
    }

    /// The arena's bytes.
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `base` is valid for reads of `len()` initialised bytes (see the type's
        // documentation), borrowed shared for the lifetime of `&self`.
        unsafe { core::slice::from_raw_parts(self.base, self.len()) }
    }

    /// The arena's bytes, mutably.
    #[inline]
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, borrowed uniquely for the lifetime of `&mut self`.
        unsafe { core::slice::from_raw_parts_mut(self.base, self.len()) }
    }

    /// The address of cell `i` (a hint's target: never dereferenced here, any `i` is fine).
    #[inline(always)]
    pub(crate) fn addr(&self, i: usize) -> *const u8 {
        self.base.wrapping_add(i.wrapping_mul(size_of::<[T; N]>()))
    }

    /// Cell `i` (past the cells is refused, like an out-of-range slice index).
    #[inline(always)]
    pub(crate) fn get(&self, i: usize) -> &[T; N] {
        assert!(i < self.cells, "arena index");
        // SAFETY: `i < cells`: the `size_of::<[T; N]>()` bytes at `base + i * size_of::<[T; N]>()` are
        // inside the arena and aligned for `T` (see `new`); they are initialised (zeroed at
        // creation, then written as `T`s or bytes) and any bit pattern is a valid `[T; N]`
        // (`T: Pod`);
        // shared for the lifetime of `&self`.
        unsafe { &*self.base.add(i * size_of::<[T; N]>()).cast::<[T; N]>() }
    }

    /// As [`Arena::get`], mutably.
    #[inline(always)]
    pub(crate) fn get_mut(&mut self, i: usize) -> &mut [T; N] {
        assert!(i < self.cells, "arena index");
        // SAFETY: as in `get`; unique for the lifetime of `&mut self`.
        unsafe { &mut *self.base.add(i * size_of::<[T; N]>()).cast::<[T; N]>() }
    }

    /// Writes every 4 KiB page of the first `cells` cells once (each stays zero), so that the
    /// kernel allocates them now rather than at a first write on the hot path.
    pub(crate) fn prefault(&mut self, cells: usize) {
        let b = self.bytes_mut();
        let upto = cells.saturating_mul(size_of::<[T; N]>()).min(b.len());
        for at in (0..upto).step_by(4096) {
            // An opaque zero: the store cannot be dropped as redundant.
            b[at] = core::hint::black_box(0);
        }
    }
}

impl<T: bytemuck::Pod, const N: usize> Clone for Arena<T, N> {
    fn clone(&self) -> Self {
        let mut a = Self::new(self.cells);
        a.bytes_mut().copy_from_slice(self.bytes());
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cell of 960 bytes, like the sums (a size that is a multiple of 64 but not a power of
    /// two).
    type Sums = Arena<[f64; 2], 60>;

    /// The typed views are the plain byte slice's bytes at the cell's offset (the general path:
    /// slicing `bytes()` and casting), they are refused past the last cell, and writes through
    /// `get_mut` show in `bytes()` and in a clone.
    #[test]
    fn typed_views_are_the_bytes_at_their_offset() {
        let n = 7;
        let mut a = Sums::new(n);
        assert_eq!(a.bytes().len(), n * 960);
        assert_eq!(a.bytes().as_ptr() as usize % 64, 0);
        assert!(a.bytes().iter().all(|&b| b == 0));
        for (i, b) in a.bytes_mut().iter_mut().enumerate() {
            *b = (i * 7 + i / 256) as u8;
        }
        for i in 0..n {
            assert_eq!(a.addr(i), a.bytes()[i * 960..].as_ptr());
            let v = a.get(i);
            let plain: &[[f64; 2]] = bytemuck::cast_slice(&a.bytes()[i * 960..(i + 1) * 960]);
            assert_eq!(plain.len(), 60);
            for (x, y) in v.iter().flatten().zip(plain.iter().flatten()) {
                assert_eq!(x.to_bits(), y.to_bits(), "cell {i}");
            }
        }
        a.get_mut(3)[2][1] = f64::from_bits(0x0102_0304_0506_0708);
        assert_eq!(
            &a.bytes()[3 * 960 + 40..3 * 960 + 48],
            &0x0102_0304_0506_0708u64.to_ne_bytes()
        );
        let c = a.clone();
        assert_eq!(c.bytes(), a.bytes());
        assert_ne!(c.bytes().as_ptr(), a.bytes().as_ptr());
        // Prefaulting (at start, on zeroed storage) leaves it zero, past the cells too.
        let mut z = Sums::new(n);
        z.prefault(n + 5);
        assert!(z.bytes().iter().all(|&b| b == 0));
        // The last cell is there, the next is refused.
        let _ = a.get(n - 1);
        for bad in [n, n + 1, usize::MAX] {
            let r = std::panic::catch_unwind(|| {
                let _ = a.get(bad);
            });
            assert!(r.is_err(), "cell {bad}");
        }
        let mut e = Sums::new(0);
        assert!(e.bytes().is_empty());
        let r = std::panic::catch_unwind(move || {
            let _ = e.get_mut(0);
        });
        assert!(r.is_err(), "empty");
    }
}
