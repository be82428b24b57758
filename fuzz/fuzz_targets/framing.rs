//! Framing fuzz target: the stream is fed whole and in chunks whose sizes come from the first
//! bytes of the input; both must give the same frames and errors (chunking never changes the
//! result), no panic, and every frame must be re-framable on its own. Log mode too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lpscore::fix::{Delimiter, FrameError, Framer, FramerConfig, frame_one};

fn run(data: &[u8], sizes: &[u8], cfg: FramerConfig) -> Vec<Result<(u64, Vec<u8>), FrameError>> {
    let mut framer = Framer::new(cfg);
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = if sizes.is_empty() {
            rest.len()
        } else {
            (usize::from(sizes[i % sizes.len()]) % 97 + 1).min(rest.len())
        };
        i += 1;
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        let mut frames = framer.feed(chunk);
        while let Some(r) = frames.next_frame() {
            out.push(r.map(|f| {
                assert_eq!(frame_one(f.bytes, &cfg).map(|g| g.bytes), Ok(f.bytes));
                (f.offset, f.bytes.to_vec())
            }));
        }
    }
    if let Some(e) = framer.finish() {
        out.push(Err(e));
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let (sizes, data) = input.split_at(
        input
            .len()
            .min(usize::from(input.first().copied().unwrap_or(0) % 8)),
    );
    for delimiter in [Delimiter::Soh, Delimiter::Log] {
        let cfg = FramerConfig {
            max_body_len: 2048,
            delimiter,
        };
        let whole = run(data, &[], cfg);
        let chunked = run(data, sizes, cfg);
        assert_eq!(whole, chunked);
    }
});
