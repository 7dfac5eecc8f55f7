//! Neighbour resolution (ARP / IPv6 ND) as the kernel keeps it, sans-IO.
//!
//! The director must know the MAC of every real server (DR needs nothing
//! else) and of its gateways. A wrong MAC sends a client's traffic to a
//! stranger, and a MAC that is never re-checked blackholes a real server
//! whose NIC or VM moved; so the cache follows the Linux neighbour state
//! machine (`net/core/neighbour.c`, RFC 4861 §7.3) rather than trusting
//! whatever it last heard:
//!
//! ```text
//!             request out (broadcast / solicited-node multicast)
//!  (none) ──use──> INCOMPLETE ──reply──> REACHABLE ──30 s──> STALE
//!                     │ 3 requests, no reply                   │ used
//!                     ▼                                        ▼
//!                  FAILED (removed,                 DELAY ──5 s──> PROBE (3 unicast
//!                  held frames dropped) <──────────────────────────  requests, 1 s apart)
//!                                        confirmation at any point ──> REACHABLE
//! ```
//!
//! What may change an entry is decided by the [`Director`](crate::Director),
//! which only hands this cache ARP and NDP that passed validation: replies
//! only confirm an entry that is being resolved, requests and solicitations
//! addressed to us create STALE entries for on-link senders (the kernel's
//! `neigh_event_ns`), gratuitous announcements only update entries that
//! exist, and data frames never teach anything. Entries the embedder pinned
//! ([`NeighborCache::add_static`], the host's PERMANENT entries) never change
//! from the wire.
//!
//! Nothing here sends: [`NeighborCache::resolve`] says whether a MAC is
//! known, [`NeighborCache::on_timeout`] says which addresses need a request
//! (the director sends a unicast one to the known MAC in PROBE, a broadcast
//! or multicast one otherwise), and frames for an INCOMPLETE next hop wait in
//! the bounded [`HoldQueue`]. Memory is fixed at construction.
//!
//! Timers are the kernel's defaults, fixed: the kernel draws REACHABLE's
//! lifetime uniformly from 0.5x to 1.5x `base_reachable_time` so that hosts
//! do not re-probe in step; a director re-probes a handful of next hops and
//! gains nothing from that, while a fixed value keeps the state machine
//! reproducible in tests.

mod cache;
mod hold;

pub use cache::{Learned, Lookup, NeighState, NeighborCache, Nud, SeededHasher, SeededState};
pub use hold::HoldQueue;

/// How long a confirmation keeps an entry REACHABLE (RFC 4861 §10
/// REACHABLE_TIME 30 s; Linux `base_reachable_time` default 30 s).
pub const REACHABLE_MS: u64 = 30_000;
/// Time between solicitations while resolving or probing (RFC 4861 §10
/// RETRANS_TIMER 1 s; Linux `retrans_time` default 1 s).
pub const RETRY_MS: u64 = 1_000;
/// Time a STALE entry waits after its first use before it is probed
/// (RFC 4861 §10 DELAY_FIRST_PROBE_TIME 5 s; Linux `delay_first_probe_time`).
pub const DELAY_FIRST_PROBE_MS: u64 = 5_000;
/// Broadcast / multicast requests of a resolution before it fails (RFC 4861
/// §10 MAX_MULTICAST_SOLICIT 3; Linux `mcast_solicit` default 3).
pub const MAX_MULTICAST_SOLICIT: u8 = 3;
/// Unicast requests to the known MAC of a PROBE entry before it fails
/// (RFC 4861 §10 MAX_UNICAST_SOLICIT 3; Linux `ucast_solicit` default 3,
/// plus `app_solicit` 0: there is no user-space resolver here).
pub const MAX_UNICAST_SOLICIT: u8 = 3;
/// Requests before giving up on an INCOMPLETE entry (kept under its old
/// name: [`MAX_MULTICAST_SOLICIT`]).
pub const MAX_PROBES: u8 = MAX_MULTICAST_SOLICIT;
