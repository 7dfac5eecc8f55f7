//! The IPVS packet path over plain byte buffers.
//!
//! This crate is *sans-IO*: it never touches a socket or a clock, and nothing on the
//! per-packet path allocates (the [`Director`] sizes its tables and queues once, at
//! construction, with `alloc`). It has three layers:
//!
//! * [`wire`] parses an Ethernet frame once into a small `Copy` summary ([`wire::Frame`])
//!   holding every offset and key field the Director needs to look up a connection and pick
//!   a forwarding method. Parsing is hand-written over `&[u8]` with checked accesses only.
//! * [`xform`] rewrites a frame in place (or writes a new one into a caller-given buffer):
//!   VS/NAT, VS/TUN (IPIP, 6in6, 4in6/6in4, GUE), VS/DR, and the ICMP / ARP / neighbour
//!   discovery messages a director has to originate.
//! * [`Director`] turns one frame and the time into a [`Verdict`]: it owns a
//!   [`lvs_core::balancer::Balancer`], resolves next hops ([`neigh`]) and applies the
//!   transformers. Driven like quinn-proto: `process` per frame, `poll_transmit` for frames
//!   it originates, `next_timeout` / `on_timeout` for time.
//!
//! Why pure functions over byte buffers: the same code then runs behind AF_PACKET, AF_XDP,
//! a TAP device, DPDK-like rings or an embedded MAC driver, and it is trivially testable and
//! fuzzable. No input makes any function here panic; malformed input yields an error value.
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod director;
pub mod neigh;
pub mod wire;
pub mod xform;

pub use director::{
    BatchItem, Director, DirectorConfig, DropCounters, DropReason, IpCidr, Link, ReloadError,
    ReloadSummary, Verdict,
};
pub use wire::MacAddr;
