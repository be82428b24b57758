//! A toy Smart Order Router over the scoreboard: resolve names once, then per order read the
//! ranking and split the order across the best LPs, with no syscall and no allocation per order.
//!
//! `cargo run -p lpscore-shm --example sor_demo [PATH]` reads an existing scoreboard at PATH; with no
//! argument it creates a demo scoreboard in the temp dir and publishes a few synthetic rows first.

use lpscore_shm::{
    BucketSlot, FLAG_HAS_DATA, Liveness, LpId, ProfileId, ScoreRow, Scoreboard, Writer,
    WriterOptions, route,
};
use std::time::Duration;

fn demo_writer(path: &std::path::Path) -> Result<Writer, Box<dyn std::error::Error>> {
    let mut w = Writer::create(path, &WriterOptions::default())?;
    w.set_profile(ProfileId::new(0), "balanced", [1.0; 8], true)?;
    let sym = w.add_symbol("EURUSD")?;
    for (i, (name, fill, score)) in [
        ("LP-ALPHA", 0.95, 81.0),
        ("LP-BRAVO", 0.70, 64.0),
        ("LP-CHARLIE", 0.88, 77.5),
    ]
    .into_iter()
    .enumerate()
    {
        let lp = w.add_lp(name)?;
        let mut row = ScoreRow {
            flags: FLAG_HAS_DATA,
            fill_rate: fill,
            n_orders: 100 + i as u32,
            ..Default::default()
        };
        row.scores = [f32::NAN; 8];
        row.scores[0] = score;
        for b in 0..4 {
            w.publish(sym, BucketSlot::Bucket(b), lp, &row)?;
        }
        w.publish(sym, BucketSlot::All, lp, &row)?;
    }
    w.heartbeat();
    Ok(w)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = std::env::args_os().nth(1);
    let path = arg
        .clone()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("lpscore-sor-demo-{}", std::process::id()))
        });
    let _writer = if arg.is_none() {
        Some(demo_writer(&path)?)
    } else {
        None
    };

    let sb = Scoreboard::open_with_timeout(&path, Duration::from_secs(5))?;
    match sb.staleness(Duration::from_secs(1)) {
        Liveness::Live { age } => {
            println!("writer live (heartbeat {age:?} ago), epoch {}", sb.epoch())
        }
        other => println!("writer state: {other:?}"),
    }
    let Some(sym) = sb.symbol("EURUSD") else {
        println!("EURUSD not on the scoreboard");
        return Ok(());
    };
    let profile = sb.profile("balanced").unwrap_or(ProfileId::new(0));

    // Per order: no allocation below this line.
    let order_notional = 2_500_000u64;
    let bucket = sb.bucket_for(order_notional);
    let mut ranked = [LpId::default(); 16];
    let n = sb.rank(sym, bucket, profile, &mut ranked);
    let mut cands = [(LpId::default(), 0.0f64, 0u64); 16];
    for (c, &lp) in cands.iter_mut().zip(&ranked[..n]) {
        let fill = sb
            .read(sym, bucket, lp)
            .map(|r| f64::from(r.fill_rate))
            .unwrap_or(0.0);
        *c = (lp, fill, 1_500_000);
    }
    let mut split = [(LpId::default(), 0u64); 16];
    let k = route::allocate(order_notional, &cands[..n], &mut split);

    let names: Vec<(LpId, String)> = sb.lps().map(|(l, n)| (l, n.to_string())).collect();
    let name = |lp: LpId| {
        names
            .iter()
            .find(|x| x.0 == lp)
            .map_or("?", |x| x.1.as_str())
            .to_string()
    };
    println!(
        "order {order_notional} EURUSD, bucket {bucket:?}, ranking by profile {}:",
        profile.index()
    );
    for &lp in &ranked[..n] {
        println!(
            "  {:<12} score {:.1}",
            name(lp),
            sb.read(sym, bucket, lp)?.scores[profile.index()]
        );
    }
    for &(lp, q) in &split[..k] {
        println!("  route {q:>9} to {}", name(lp));
    }
    if arg.is_none() {
        drop(_writer);
        let _ = std::fs::remove_file(&path);
        let mut l = path.into_os_string();
        l.push(".lock");
        let _ = std::fs::remove_file(l);
    }
    Ok(())
}
