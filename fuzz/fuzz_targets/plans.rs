//! Plan-path fuzz target: a stream of messages is framed, and every frame is parsed twice, by a
//! parser that has seen the frames before it (warm: the per-MsgType tag hints and view plans it
//! learned, the batched price / quantity and timestamp conversions) and by a fresh parser (the
//! full path). The index and the typed view (or the error) must be the same. Seeds are streams
//! of messages of one layout with different values, so that mutations reach the warm paths with
//! values the plan has not seen.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lpscore::fix::*;

fuzz_target!(|data: &[u8]| {
    let cfg = FramerConfig::default();
    let mut framer = Framer::new(cfg);
    let mut warm = Parser::new(cfg);
    let mut frames = framer.feed(data);
    while let Some(r) = frames.next_frame() {
        let Ok(f) = r else { continue };
        let mut fresh = Parser::new(cfg);
        let a = warm.parse(f.bytes);
        let b = fresh.parse(f.bytes);
        match (a, b) {
            (Ok(a), Ok(b)) => {
                assert!(a.fields().eq(b.fields()), "index differs");
                assert_eq!(format!("{:?}", a.typed()), format!("{:?}", b.typed()));
            }
            (Err(a), Err(b)) => assert_eq!(a, b),
            (a, b) => panic!("warm {:?} vs fresh {:?}", a.err(), b.err()),
        }
    }
});
