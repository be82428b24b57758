//! `lpscore-shm`: the shared-memory scoreboard of lpscore.
//!
//! The appliance ([`Writer`]) publishes per-LP score rows into a file (normally under `/dev/shm`);
//! Smart Order Routers map it read-only ([`Scoreboard`]) and read any row through a seqlock in tens
//! of nanoseconds: no syscall, no lock, no allocation. The binary layout is `shm/LAYOUT.md`
//! (see [`layout`]); C (`shm/include/lpscore.h`) and Python readers implement the same text.
//!
//! ```
//! use lpscore_shm::{BucketSlot, ProfileId, ScoreRow, Scoreboard, Writer, WriterOptions, FLAG_HAS_DATA};
//! let path = std::env::temp_dir().join(format!("lpscore-doc-lib-{}", std::process::id()));
//!
//! // The appliance side.
//! let mut w = Writer::create(&path, &WriterOptions::default())?;
//! let lp = w.add_lp("LP-ALPHA")?;
//! let sym = w.add_symbol("EURUSD")?;
//! w.set_profile(ProfileId::new(0), "balanced", [1.0; 8], true)?;
//! let mut row = ScoreRow { flags: FLAG_HAS_DATA, fill_rate: 0.97, ..Default::default() };
//! row.scores[0] = 88.5;
//! w.publish(sym, BucketSlot::All, lp, &row)?;
//!
//! // The SOR side: resolve names once, then read without syscalls.
//! let sb = Scoreboard::open(&path)?;
//! let (lp, sym) = (sb.lp("LP-ALPHA").unwrap(), sb.symbol("EURUSD").unwrap());
//! assert_eq!(sb.read(sym, BucketSlot::All, lp)?.scores[0], 88.5);
//! # drop(w); let _ = std::fs::remove_file(&path);
//! # let mut l = path.into_os_string(); l.push(".lock"); let _ = std::fs::remove_file(l);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Model-check the seqlock with loom (separate target dir, it rebuilds everything):
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target-loom cargo test -p lpscore-shm --release --test loom_seqlock`

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

#[cfg(not(loom))]
mod board;
#[cfg(not(loom))]
mod error;
#[allow(unsafe_code)]
pub mod layout;
#[cfg(not(loom))]
#[allow(unsafe_code)]
mod map;
#[cfg(not(loom))]
mod reader;
pub mod route;
mod row;
pub mod seqlock;
pub mod sync;
#[cfg(not(loom))]
mod writer;

#[cfg(not(loom))]
pub use error::{OpenError, OsError, ShmError};
#[cfg(not(loom))]
pub use map::{monotonic_ns, realtime_ns};
#[cfg(not(loom))]
pub use reader::{Liveness, ProfileInfo, Scoreboard};
pub use row::{
    BucketSlot, BucketUnit, FLAG_HAS_DATA, FLAG_LP_PAUSED, FLAG_NO_PRICE, LpId, Name, ProfileId,
    ScoreRow, SymbolId, SymbolSlot,
};
pub use seqlock::ReadError;
#[cfg(not(loom))]
pub use writer::{Capacities, Writer, WriterOptions};
