//! The control socket: a Unix-domain socket (mode 0600) speaking line-delimited JSON; commands
//! reach the hot threads through their crossbeam queues. See docs/control.md.
