//! `lpscore`: the liquidity-provider scorecard appliance.
//!
//! The modules follow the data flow of `architecture.md`, one direction:
//!
//! ```text
//! fix (framing, parse, messages, encode)
//!   -> orders (child-order state, ExecID de-duplication)
//!   -> kpi (quote book, markout wheel, decayed statistics)
//!   -> score (profiles, normalisation, composites)
//!   -> publish (shared-memory rows, through lpscore-shm)
//! ```
//! `engine` wires those stages together behind one entry point that is fed messages with capture
//! timestamps; `runtime::clock` is the only place time comes from.
#![deny(unsafe_code)]

pub mod cli;
pub mod console;
pub mod control;
pub mod demo;
pub mod engine;
pub mod fix;
pub mod io;
pub mod journal;
pub mod kpi;
pub mod metrics;
pub mod orders;
#[allow(unsafe_code)]
pub mod prefetch;
pub mod publish;
pub mod runtime;
pub mod score;
pub mod sim;
