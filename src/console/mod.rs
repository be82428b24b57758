//! `lpscore top`: the review and calibration console (ratatui), a scoreboard reader like any SOR
//! plus a control-socket client. [`model`] is the pure part (state, keys, ranked table, history,
//! re-ranking preview), [`view`] draws it, [`app`] reads the board and runs the terminal loop,
//! [`control`] is the control-socket client. See docs/console.md.

pub mod app;
pub mod control;
pub mod model;
pub mod view;

#[cfg(test)]
mod tests;
