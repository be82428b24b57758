//! Sample traffic for benches, simulators and tests (no randomness source needed: a seed and a
//! small xorshift generator).

/// `n` distinct FIX 4.4 ExecutionReports (fills) of about 260 bytes with 24 fields, SOH
/// delimited, in the layout of the `fix_parse` benchmark:
/// `8=FIX.4.4|9=240|35=8|49=LPBANK01|56=BUYSIDE1|34=100123|52=20240315-14:30:18.123|37=ORD-7F3A9C9C|11=CL000123|17=E99812468|150=F|39=1|55=EUR/USD|54=1|38=5000000|44=1.08099|32=250000|31=1.08099|151=4750000|14=250000|6=1.08099|60=20240315-14:30:18.123|30=XLON|10=208|`.
/// Returns the messages back to back (one stream) and each message's range.
pub fn execution_report_ring(n: usize, seed: u64) -> (Vec<u8>, Vec<core::ops::Range<usize>>) {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let syms = ["EUR/USD", "GBP/USD", "USD/CHF", "AUD/USD"];
    let mkts = ["XLON", "XNYS", "BATS", "LPXX"];
    let mut stream = Vec::with_capacity(n * 270);
    let mut ranges = Vec::with_capacity(n);
    for i in 0..n {
        let r = next();
        let px = 100_000 + (r % 20_000); // 1.00000 .. 1.19999
        let qty = 1_000_000 + (r >> 20) % 9_000_000;
        let last = 10_000 + (r >> 40) % 990_000;
        let cum = last.min(qty);
        let ms = (r >> 8) % 1000;
        let ss = (r >> 18) % 60;
        let body = format!(
            "35=8\x0149=LPBANK01\x0156=BUYSIDE1\x0134={seq}\x0152=20240315-14:30:{ss:02}.{ms:03}\x01\
             37=ORD-{oid:08X}\x0111=CL{cl:06}\x0117=E{eid:08}\x01150=F\x0139=1\x0155={sym}\x01\
             54={side}\x0138={qty}\x0144=1.{px:05}\x0132={last}\x0131=1.{px:05}\x01151={leaves}\x01\
             14={cum}\x016=1.{px:05}\x0160=20240315-14:30:{ss:02}.{ms:03}\x0130={mkt}\x01",
            seq = 100_000 + i,
            oid = (r >> 16) as u32,
            cl = i % 1_000_000,
            eid = 10_000_000 + i,
            sym = syms[i % 4],
            side = 1 + (i & 1),
            px = px % 100_000,
            leaves = qty - cum,
            mkt = mkts[(i >> 2) % 4],
        );
        let start = stream.len();
        stream.extend_from_slice(format!("8=FIX.4.4\x019={}\x01", body.len()).as_bytes());
        stream.extend_from_slice(body.as_bytes());
        let cs = stream[start..].iter().map(|&b| u32::from(b)).sum::<u32>() % 256;
        stream.extend_from_slice(format!("10={cs:03}\x01").as_bytes());
        ranges.push(start..stream.len());
    }
    (stream, ranges)
}
