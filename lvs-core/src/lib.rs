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
//!
//! # Example: rules in, rules out
//!
//! ```
//! # #[cfg(feature = "alloc")] {
//! use lvs_core::config;
//!
//! let rules = "-A -t 203.0.113.10:80 -s wrr\n\
//!              -a -t 203.0.113.10:80 -r 192.0.2.11:8080 -m -w 3\n\
//!              -a -t 203.0.113.10:80 -r 192.0.2.12:8080 -m -w 1\n";
//! let cfg = config::parse(rules).expect("valid rules");
//! assert_eq!(cfg.services.len(), 1);
//! assert_eq!(cfg.services[0].config.scheduler.as_str(), "wrr");
//! assert_eq!(cfg.services[0].servers[0].weight, 3);
//! // Printed back the way `ipvsadm -S -n` writes it, and parsed to the same rules.
//! let text = config::print(&cfg);
//! assert_eq!(config::parse(&text).expect("printed rules parse"), cfg);
//! // A line ipvsadm would refuse is refused with its line number.
//! let err = config::parse("-A -t 203.0.113.10:80 -s rr\n-a -t 203.0.113.10:80 -r 192.0.2.11 -w 70000\n");
//! assert!(err.unwrap_err().to_string().starts_with("line 2: weight"));
//! # }
//! ```
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
