//! std examples for lvs-rs: packet I/O around the sans-IO Director.
//!
//! The library crates (`lvs-core`, `lvs-schedulers`, `lvs-forwarding`) do no I/O. This package
//! holds everything that touches the operating system — packet sockets, TAP/TUN devices, pcap
//! files, health-check probes, signals and command lines — so that the binaries in `src/bin/`
//! are thin wiring around [`io::FrameHandler`].

pub mod cli;
pub mod control;
pub mod decap;
pub mod health;
pub mod hostnet;
pub mod io;
pub mod memory;
pub mod metrics;
pub mod netlink;
pub mod rules_file;
pub mod runner;
pub mod signals;
