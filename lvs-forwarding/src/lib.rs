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
//! # Example: a NAT director driven by hand
//!
//! ```
//! use lvs_forwarding::{Director, DirectorConfig, Instant, IpCidr, MacAddr, Verdict};
//!
//! let rules = "-A -t 203.0.113.10:80 -s wrr\n\
//!              -a -t 203.0.113.10:80 -r 198.51.100.11:8080 -m -w 3\n\
//!              -a -t 203.0.113.10:80 -r 198.51.100.12:8080 -m -w 1\n";
//! let addrs: [IpCidr; 2] = ["192.0.2.1/24".parse()?, "198.51.100.1/24".parse()?];
//! let cfg = DirectorConfig::single_link(MacAddr([0x02, 0, 0, 0, 0, 1]), &addrs);
//! let mut director = Director::from_rules(cfg, rules)?;
//!
//! // Per frame: a buffer with headroom before `start` (for VS/TUN), and a
//! // buffer for generated replies.
//! let mut buf = [0u8; 2048];
//! let mut out = [0u8; 1600];
//! let (start, len) = (128, 0); // a real embedder copies a received frame here
//! match director.process(Instant::from_millis(0), 0, &mut buf, start, len, &mut out) {
//!     Verdict::Forward { link, start, len } => { /* send buf[start..start + len] on link */ }
//!     Verdict::Reply { link, len } => { /* send out[..len] on link */ }
//!     Verdict::Held | Verdict::ToHost | Verdict::Drop(_) => {}
//! }
//! // Frames the director originates (ARP/ND requests, released frames):
//! while let Some((link, len)) = director.poll_transmit(&mut out) { /* send out[..len] */ }
//! // Timers:
//! if let Some(t) = director.next_timeout() { director.on_timeout(t); }
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```
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
pub mod gso;
pub mod neigh;
pub mod offload;
pub mod wire;
pub mod xform;

pub use director::{
    BatchItem, Director, DirectorConfig, DropCounters, DropReason, IcmpLimits, IpCidr, Link,
    MartianChecks, NetworkError, ReloadError, ReloadSummary, RouteEntry, Verdict,
};
pub use offload::{Encap, Offload};
pub use wire::MacAddr;

// What an embedder needs from lvs-core without naming it as a dependency: the clock type
// every call takes, and the options of the ipvsadm-style listings.
pub use lvs_core::Instant;
pub use lvs_core::config::listing::{ListFormat, ListOptions};
