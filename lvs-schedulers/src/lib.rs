//! # lvs-schedulers: IPVS's schedulers for lvs-core
//!
//! A scheduler decides which real server of a virtual service gets a *new*
//! connection (existing connections stay where they are, in the connection
//! table). This crate reimplements the Linux IPVS schedulers with the
//! kernel's exact selection rules, so a director built on lvs-rs spreads
//! load like an IPVS director with the same list would, and the hashing
//! schedulers send the same clients to the same servers.
//!
//! Every scheduler implements [`lvs_core::Scheduler`]: `pick` chooses a
//! server for a flow and `update` is told about every change to the list.
//! Work that depends only on the list (cursors, lookup tables) is done in
//! `update`, so `pick` is cheap and never allocates. Every scheduler skips
//! servers that are not [`schedulable`](lvs_core::RealServer::schedulable):
//! weight 0 (quiescent), overloaded (upper threshold reached) or removed.
//! They iterate the list in IPVS order, newest first, which matters for ties
//! and for table fills.
//!
//! # Example: weighted round robin over three real servers
//!
//! ```
//! use lvs_core::{DestChange, DestId, DestView, Flow, Protocol, RealServer, RealServerConfig, SchedFlags, Scheduler};
//!
//! let mut servers: Vec<RealServer> = ["192.0.2.11:80", "192.0.2.12:80", "192.0.2.13:80"]
//!     .iter()
//!     .map(|a| RealServer::new(RealServerConfig::new(a.parse().unwrap())))
//!     .collect();
//! servers[0].config.weight = 2;
//! let order = [DestId(0), DestId(1), DestId(2)];
//! let mut wrr = lvs_schedulers::by_name("wrr", SchedFlags::default()).expect("known");
//! wrr.update(DestView::new(&servers, &order), DestChange::Reset);
//! let flow = Flow {
//!     protocol: Protocol::Tcp,
//!     client: "198.51.100.2:40000".parse().unwrap(),
//!     vip: "203.0.113.10:80".parse().unwrap(),
//!     fwmark: 0,
//! };
//! let picks: Vec<u16> = (0..8)
//!     .map(|_| wrr.pick(DestView::new(&servers, &order), &flow).unwrap().0)
//!     .collect();
//! // Over a cycle of 4 picks, the server of weight 2 gets two of them.
//! assert_eq!(picks.iter().filter(|&&i| i == 0).count(), 4);
//! assert_eq!(picks.iter().filter(|&&i| i == 1).count(), 2);
//! ```
//!
//! | name | module | picks | pick cost |
//! |---|---|---|---|
//! | `rr` | [`rr`] | next server after the last one, cyclically | O(1) amortised |
//! | `wrr` | [`wrr`] | round-robin, `weight/gcd` picks per cycle, interleaved | O(1) amortised |
//! | `lc` | [`lc`] | least `active*256 + inactive` | O(n) |
//! | `wlc` | [`wlc`] | least `(active*256 + inactive) / weight` (ipvsadm default) | O(n) |
//! | `sed` | [`sed`] | least `(active + 1) / weight` | O(n) |
//! | `nq` | [`nq`] | first idle server, else as sed | O(n) |
//! | `sh` | [`sh`] | hash of client address (+ port with `sh-port`) | O(1) |
//! | `dh` | [`dh`] | hash of destination (virtual) address | O(1) |
//! | `mh` | [`mh`] | Maglev consistent hash of client (+ port with `mh-port`) | O(1) |
//!
//! ## Which one to use
//!
//! * Servers of equal capacity and short, uniform requests: `rr`; unequal
//!   capacity: `wrr`.
//! * Connections of varying length (the common case): `wlc`, the default.
//!   `sed` prefers the faster of two idle servers; `nq` additionally never
//!   queues a connection behind another while some server is idle. `lc`
//!   when weights should not matter.
//! * A client must keep reaching the same server without persistence
//!   templates (caches, sessions): `mh`, which moves only about 1/N of the
//!   clients when one of N servers changes and builds the same table on
//!   every director; `sh` is the older, non-consistent variant. Both take
//!   flag-1 (`*-fallback`: go on to another server when the hashed one is
//!   unavailable) and flag-2 (`*-port`: hash the client port too).
//! * Cache clusters keyed by the destination (transparent proxies): `dh`.
//!
//! ## Choosing by name
//!
//! [`by_name`] turns an ipvsadm scheduler name and its flags into an
//! [`AnyScheduler`], an enum that works without an allocator; with the
//! `alloc` feature [`boxed_by_name`] gives a `Box<dyn Scheduler>` for
//! `lvs_core::service::Service`. [`NAMES`] lists the names understood.
//!
//! ```
//! use lvs_core::SchedFlags;
//! use lvs_schedulers::{by_name, NAMES};
//! use lvs_core::Scheduler;
//!
//! let s = by_name("mh", SchedFlags(SchedFlags::FLAG1)).unwrap();
//! assert_eq!(s.name(), "mh");
//! assert!(by_name("lblc", SchedFlags::default()).is_err());
//! assert!(NAMES.contains(&"wlc"));
//! ```
//!
//! ## Features
//!
//! `#![no_std]`. Without features everything works with the default table
//! sizes (sh/dh 256 buckets, mh 4093 slots), stored inline. `alloc` adds
//! [`boxed_by_name`] and larger sh/mh tables. `std` implies `alloc`.
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod dh;
pub mod hash;
pub mod lc;
pub mod mh;
pub mod nq;
pub mod rr;
pub mod sed;
pub mod sh;
mod table;
pub mod wlc;
pub mod wrr;

use lvs_core::{DestChange, DestId, DestView, Flow, SchedFlags, SchedName, Scheduler};

pub use dh::Dh;
pub use lc::Lc;
pub use mh::Mh;
pub use nq::Nq;
pub use rr::Rr;
pub use sed::Sed;
pub use sh::Sh;
pub use wlc::Wlc;
pub use wrr::Wrr;

/// The scheduler names [`by_name`] understands, as ipvsadm spells them.
pub const NAMES: &[&str] = &["rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "dh", "mh"];

/// A scheduler name that this crate does not implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownScheduler {
    /// The name asked for, if it is a valid scheduler name (1 to 15 ASCII
    /// letters and digits).
    pub name: Option<SchedName>,
}

impl core::fmt::Display for UnknownScheduler {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name {
            Some(n) => write!(f, "unknown scheduler {n:?}"),
            None => f.write_str("invalid scheduler name"),
        }
    }
}

impl core::error::Error for UnknownScheduler {}

/// Any of the bundled schedulers, chosen at run time without an allocator.
///
/// The `Mh` variant carries its 4093-slot table inline (about 24 KiB), so
/// this enum is large; boxing would need `alloc` (use [`boxed_by_name`]
/// where an allocator exists).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum AnyScheduler {
    /// Round-robin.
    Rr(Rr),
    /// Weighted round-robin.
    Wrr(Wrr),
    /// Least-connection.
    Lc(Lc),
    /// Weighted least-connection.
    Wlc(Wlc),
    /// Shortest expected delay.
    Sed(Sed),
    /// Never queue.
    Nq(Nq),
    /// Source hashing.
    Sh(Sh),
    /// Destination hashing.
    Dh(Dh),
    /// Maglev hashing.
    Mh(Mh),
}

macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            AnyScheduler::Rr($s) => $e,
            AnyScheduler::Wrr($s) => $e,
            AnyScheduler::Lc($s) => $e,
            AnyScheduler::Wlc($s) => $e,
            AnyScheduler::Sed($s) => $e,
            AnyScheduler::Nq($s) => $e,
            AnyScheduler::Sh($s) => $e,
            AnyScheduler::Dh($s) => $e,
            AnyScheduler::Mh($s) => $e,
        }
    };
}

impl Scheduler for AnyScheduler {
    fn name(&self) -> &'static str {
        each!(self, s => s.name())
    }

    #[inline]
    fn pick(&mut self, dests: DestView<'_>, flow: &Flow) -> Option<DestId> {
        each!(self, s => s.pick(dests, flow))
    }

    fn update(&mut self, dests: DestView<'_>, change: DestChange) {
        each!(self, s => s.update(dests, change))
    }
}

/// The scheduler ipvsadm calls `name`, with scheduler flags `flags` (only
/// sh and mh use them: flag-1 fallback, flag-2 port). Names are matched
/// exactly, as the kernel does. The scheduler starts with an empty list:
/// send it [`DestChange::Reset`] if the service already has servers.
pub fn by_name(name: &str, flags: SchedFlags) -> Result<AnyScheduler, UnknownScheduler> {
    Ok(match name {
        "rr" => AnyScheduler::Rr(Rr::new()),
        "wrr" => AnyScheduler::Wrr(Wrr::new()),
        "lc" => AnyScheduler::Lc(Lc::new()),
        "wlc" => AnyScheduler::Wlc(Wlc::new()),
        "sed" => AnyScheduler::Sed(Sed::new()),
        "nq" => AnyScheduler::Nq(Nq::new()),
        "sh" => AnyScheduler::Sh(Sh::new(flags)),
        "dh" => AnyScheduler::Dh(Dh::new()),
        "mh" => AnyScheduler::Mh(Mh::new(flags)),
        _ => {
            return Err(UnknownScheduler {
                name: SchedName::new(name),
            });
        }
    })
}

/// As [`by_name`], boxed for `lvs_core::service::Service`.
#[cfg(feature = "alloc")]
pub fn boxed_by_name(
    name: &str,
    flags: SchedFlags,
) -> Result<alloc::boxed::Box<dyn Scheduler>, UnknownScheduler> {
    use alloc::boxed::Box;
    Ok(match name {
        "rr" => Box::new(Rr::new()),
        "wrr" => Box::new(Wrr::new()),
        "lc" => Box::new(Lc::new()),
        "wlc" => Box::new(Wlc::new()),
        "sed" => Box::new(Sed::new()),
        "nq" => Box::new(Nq::new()),
        "sh" => Box::new(Sh::new(flags)),
        "dh" => Box::new(Dh::new()),
        "mh" => Box::new(Mh::new(flags)),
        _ => {
            return Err(UnknownScheduler {
                name: SchedName::new(name),
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_builds_and_reports_itself() {
        for &n in NAMES {
            let s = by_name(n, SchedFlags::default());
            assert_eq!(s.map(|s| s.name()), Ok(n));
        }
        assert_eq!(
            by_name("WRR", SchedFlags::default()).map(|s| s.name()),
            Err(UnknownScheduler {
                name: SchedName::new("WRR")
            })
        );
        assert!(by_name("", SchedFlags::default()).is_err());
    }
}
