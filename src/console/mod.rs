//! `lpscore top`: the review and calibration console (ratatui), a scoreboard reader like any SOR
//! plus a control-socket client.
