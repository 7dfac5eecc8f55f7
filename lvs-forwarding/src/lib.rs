//! The IPVS packet path over plain byte buffers.
//!
//! This crate is *sans-IO*: it never touches a socket, a clock or an allocator. It offers
//! two layers that the Director composes:
//!
//! * [`wire`] parses an Ethernet frame once into a small `Copy` summary ([`wire::Frame`])
//!   holding every offset and key field the Director needs to look up a connection and pick
//!   a forwarding method. Parsing is hand-written over `&[u8]` with checked accesses only.
//! * [`xform`] rewrites a frame in place (or writes a new one into a caller-given buffer):
//!   VS/NAT, VS/TUN (IPIP, 6in6, 4in6/6in4, GUE), VS/DR, and the ICMP / ARP / neighbour
//!   discovery messages a director has to originate.
//!
//! Why pure functions over byte buffers: the same code then runs behind AF_PACKET, AF_XDP,
//! a TAP device, DPDK-like rings or an embedded MAC driver, and it is trivially testable and
//! fuzzable. No input makes any function here panic; malformed input yields an error value.
#![no_std]
#![deny(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod wire;
pub mod xform;
