//! Parsing fuzz target: frame + index + every typed view must never panic; a view that parses
//! must survive an encode/parse round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lpscore::fix::*;

macro_rules! rt {
    ($m:expr, $T:ident) => {
        if let Ok(v) = $T::from_message($m) {
            let mut enc = Encoder::new();
            let bytes = enc.encode(&v).to_vec();
            let mut p = Parser::new(FramerConfig::default());
            let m2 = p.parse(&bytes).expect("re-parse of our own encoding");
            assert_eq!($T::from_message(&m2).expect("view of our own encoding"), v);
        }
    };
}

fuzz_target!(|data: &[u8]| {
    for delimiter in [Delimiter::Soh, Delimiter::Log] {
        let mut p = Parser::new(FramerConfig {
            max_body_len: 1 << 16,
            delimiter,
        });
        let Ok(m) = p.parse(data) else { continue };
        for (_, v) in m.fields() {
            let _ = Price::parse(v);
            let _ = UtcTimestamp::parse(v);
        }
        let _ = m.get(7001);
        if let Ok(t) = m.typed() {
            if let Typed::MarketDataSnapshot(w) = t {
                for e in w.entries.iter() {
                    let _ = e;
                }
            }
            if let Typed::MarketDataIncremental(x) = t {
                for e in x.entries.iter() {
                    let _ = e;
                }
            }
        }
        if delimiter == Delimiter::Soh {
            rt!(&m, ExecutionReport);
            rt!(&m, NewOrderSingle);
            rt!(&m, OrderCancelRequest);
            rt!(&m, OrderCancelReplaceRequest);
            rt!(&m, OrderCancelReject);
            rt!(&m, BusinessMessageReject);
            rt!(&m, Reject);
            rt!(&m, Logon);
            rt!(&m, Heartbeat);
            rt!(&m, TestRequest);
            rt!(&m, ResendRequest);
            rt!(&m, SequenceReset);
            rt!(&m, Logout);
            rt!(&m, MarketDataSnapshot);
            rt!(&m, MarketDataIncremental);
        }
    }
});
