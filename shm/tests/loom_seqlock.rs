//! loom model of the seqlock (the library's own code: under `--cfg loom` its `sync` facade is
//! loom's atomics). One writer makes two writes, each setting every data word to the same value; one
//! reader must never return a copy that mixes two writes, in any interleaving or any value a
//! relaxed load may return under the C++ memory model.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target-loom cargo test -p lpscore-shm --release --test loom_seqlock`
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use lpscore_shm::ReadError;
use lpscore_shm::seqlock::SeqLock;
use lpscore_shm::sync::{AtomicU64, Ordering};

struct Cell<const N: usize> {
    seq: AtomicU64,
    data: [AtomicU64; N],
}

impl<const N: usize> Cell<N> {
    fn new() -> Self {
        Cell {
            seq: AtomicU64::new(0),
            data: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
    fn lock(&self) -> SeqLock<'_, N> {
        SeqLock::new(&self.seq, &self.data)
    }
}

fn uniform<const N: usize>(v: &[u64; N]) -> bool {
    v.iter().all(|&x| x == v[0]) && v[0] <= 2
}

fn model<const N: usize>() {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(|| {
        let cell = Arc::new(Cell::<N>::new());
        let c2 = cell.clone();
        let writer = thread::spawn(move || {
            let l = c2.lock();
            l.write(&[1; N]);
            l.write(&[2; N]);
        });
        let l = cell.lock();
        // The bounded read...
        match l.read() {
            Ok(v) => assert!(uniform(&v), "torn read {v:?}"),
            Err(ReadError::Busy) => {}
            Err(e) => panic!("{e}"),
        }
        // ... and the crossbeam-style pair used by hand.
        if let Some(stamp) = l.optimistic_read() {
            let v = l.copy_relaxed();
            if l.validate_read(stamp) {
                assert!(uniform(&v), "torn read {v:?}");
            }
        }
        writer.join().unwrap();
        assert_eq!(l.read(), Ok([2; N]));
    });
}

#[test]
fn seqlock_two_words_never_torn() {
    model::<2>();
}

#[test]
fn seqlock_three_words_never_torn() {
    model::<3>();
}

/// Control: the same model with a reader that skips validation does find torn reads, so the model
/// is able to fail.
#[test]
#[should_panic(expected = "torn")]
fn unvalidated_reader_is_caught() {
    loom::model(|| {
        let cell = Arc::new(Cell::<2>::new());
        let c2 = cell.clone();
        let writer = thread::spawn(move || {
            let l = c2.lock();
            l.write(&[1; 2]);
            l.write(&[2; 2]);
        });
        let a = cell.data[0].load(Ordering::Relaxed);
        let b = cell.data[1].load(Ordering::Relaxed);
        assert!(a == b, "torn read {a} {b}");
        writer.join().unwrap();
    });
}
