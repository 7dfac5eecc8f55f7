//! # lvs-core: the model of a Linux Virtual Server
//!
//! This crate is the pure-logic heart of lvs-rs: virtual services and real
//! servers, the [`Scheduler`] interface, the connection
//! table with IPVS's TCP/UDP state machine and timeouts, persistence
//! templates, counters and the ipvsadm text formats. It never performs I/O and
//! never reads a clock: the embedder passes time in as an [`Instant`].
//!
//! `#![no_std]`. With the `alloc` feature a [`Service`](service::Service)
//! container and `Vec`-backed storage are available; without it everything
//! works over storage the embedder provides.
#![no_std]
#![deny(missing_docs)]
// One audited `unsafe` block: the cache prefetch hint in `conn::table`.
#![deny(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod addr;
#[cfg(feature = "alloc")]
pub mod balancer;
pub mod config;
pub mod conn;
pub mod real_server;
pub mod scheduler;
pub mod service;
pub mod stats;
pub mod sync;
pub mod time;

pub use addr::{Family, Flow, Protocol};
pub use real_server::{Forwarding, RealServer, RealServerConfig, TunnelChecksum, TunnelType};
pub use scheduler::{DestChange, DestId, DestView, Scheduler};
pub use service::{SchedFlags, SchedName, ServiceConfig, ServiceKey};
pub use time::Instant;
