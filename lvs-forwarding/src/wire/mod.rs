//! Parsing of the protocols the director sees, one file per protocol.
//!
//! Why hand-written rather than smoltcp or etherparse: this parser is on the per-packet hot
//! path and has to produce, in a single pass, a flat summary ([`Frame`]) that also covers the
//! packet quoted inside ICMP errors (a truncated header that strict parsers reject) and the
//! neighbour-discovery payloads. Doing that with typed views from other crates meant several
//! passes and copies; a direct walk with checked big-endian loads is a few tens of
//! nanoseconds. Every access goes through `get`, so no input can make it panic.
//!
//! Errors follow etherparse's spirit: a [`ParseError`] names what was wrong and where.

pub mod arp;
pub mod checksum;
pub mod ether;
mod frame;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod l4;

pub use arp::ArpInfo;
pub use ether::{EthernetHeader, MacAddr};
pub use frame::{
    Embedded, Frame, IcmpInfo, IpFamily, IpInfo, L3, L4, parse_frame, parse_frame_into,
};
pub use icmp::{NdpInfo, NdpKind};
pub use l4::TcpFlags;

use core::fmt;

/// Why a frame could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The buffer ended before the named header was complete.
    Truncated {
        /// Which header was cut short.
        layer: Layer,
        /// How many bytes that header needed, counted from its start.
        needed: usize,
        /// How many bytes were available from its start.
        available: usize,
    },
    /// The IP version nibble does not match the ethertype / next-header that announced it.
    BadVersion(u8),
    /// IPv4 IHL below 5 (a header shorter than 20 bytes).
    BadIhl(u8),
    /// The IPv4 total length is smaller than the header, or larger than the buffer.
    BadTotalLength(u16),
    /// An IPv6 packet with payload length 0 (jumbogram), which is not supported.
    Jumbogram,
    /// More IPv6 extension headers than the parser is willing to walk.
    TooManyExtensionHeaders,
    /// TCP data offset below 5 or pointing past the end of the segment.
    BadTcpDataOffset(u8),
    /// The UDP length field is smaller than 8 or larger than the IP payload.
    BadUdpLength(u16),
    /// An ARP packet that is not Ethernet/IPv4 (hardware type 1, protocol 0x0800, 6/4).
    UnsupportedArp,
    /// A neighbour-discovery option with length zero (RFC 4861 says: discard).
    BadNdpOption,
    /// An IPv4 header whose checksum does not verify (RFC 791 §3.1; the kernel's `ip_rcv`
    /// drops it). Only [`parse_frame`] checks it, not the parsers of single headers.
    BadHeaderChecksum,
    /// An IPv6 hop-by-hop options header anywhere but right after the fixed header
    /// (RFC 8200 §4.1).
    HopByHopNotFirst,
}

/// The header a [`ParseError::Truncated`] refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layer {
    /// Ethernet II header, including VLAN tags.
    Ethernet,
    /// ARP body.
    Arp,
    /// IPv4 header.
    Ipv4,
    /// IPv6 fixed header or an extension header.
    Ipv6,
    /// TCP header.
    Tcp,
    /// UDP header.
    Udp,
    /// ICMPv4 or ICMPv6 header / body.
    Icmp,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Truncated {
                layer,
                needed,
                available,
            } => write!(
                f,
                "{layer:?} header truncated: needed {needed} bytes, {available} available"
            ),
            ParseError::BadVersion(v) => write!(f, "bad IP version {v}"),
            ParseError::BadIhl(v) => write!(f, "bad IPv4 IHL {v}"),
            ParseError::BadTotalLength(v) => write!(f, "bad IPv4 total length {v}"),
            ParseError::Jumbogram => f.write_str("IPv6 jumbogram not supported"),
            ParseError::TooManyExtensionHeaders => f.write_str("too many IPv6 extension headers"),
            ParseError::BadTcpDataOffset(v) => write!(f, "bad TCP data offset {v}"),
            ParseError::BadUdpLength(v) => write!(f, "bad UDP length {v}"),
            ParseError::UnsupportedArp => f.write_str("ARP is not Ethernet/IPv4"),
            ParseError::BadNdpOption => f.write_str("neighbour discovery option of length 0"),
            ParseError::BadHeaderChecksum => f.write_str("bad IPv4 header checksum"),
            ParseError::HopByHopNotFirst => {
                f.write_str("IPv6 hop-by-hop header not right after the fixed header")
            }
        }
    }
}

impl core::error::Error for ParseError {}

/// Well-known IP protocol numbers used throughout the crate.
pub mod proto {
    /// IPv6 hop-by-hop options.
    pub const HOPOPT: u8 = 0;
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// IPv4 encapsulation (IPIP).
    pub const IPIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 encapsulation.
    pub const IPV6: u8 = 41;
    /// IPv6 routing header.
    pub const IPV6_ROUTE: u8 = 43;
    /// IPv6 fragment header.
    pub const IPV6_FRAG: u8 = 44;
    /// ICMP for IPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 "no next header".
    pub const IPV6_NONXT: u8 = 59;
    /// IPv6 destination options.
    pub const IPV6_OPTS: u8 = 60;
    /// SCTP (ports sit where TCP/UDP have them).
    pub const SCTP: u8 = 132;
}

/// Checked big-endian / byte helpers. All return `None` instead of panicking.
#[inline(always)]
pub(crate) fn be16(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

#[inline(always)]
pub(crate) fn be32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Big-endian u16 at a constant offset of a fixed-size header: with the
/// offset known at compile time the bounds check disappears.
#[inline(always)]
pub(crate) fn be16_at<const N: usize>(h: &[u8; N], off: usize) -> u16 {
    u16::from_be_bytes([h[off], h[off + 1]])
}

/// Four bytes at a constant offset of a fixed-size header (see [`be16_at`]).
#[inline(always)]
pub(crate) fn arr4_at<const N: usize>(h: &[u8; N], off: usize) -> [u8; 4] {
    [h[off], h[off + 1], h[off + 2], h[off + 3]]
}

#[inline(always)]
pub(crate) fn byte(b: &[u8], off: usize) -> Option<u8> {
    b.get(off).copied()
}

#[inline(always)]
pub(crate) fn arr4(b: &[u8], off: usize) -> Option<[u8; 4]> {
    b.get(off..off.checked_add(4)?)?.try_into().ok()
}

#[inline(always)]
pub(crate) fn arr6(b: &[u8], off: usize) -> Option<[u8; 6]> {
    b.get(off..off.checked_add(6)?)?.try_into().ok()
}

#[inline(always)]
pub(crate) fn arr16(b: &[u8], off: usize) -> Option<[u8; 16]> {
    b.get(off..off.checked_add(16)?)?.try_into().ok()
}

#[inline(always)]
pub(crate) fn put16(b: &mut [u8], off: usize, v: u16) -> Option<()> {
    b.get_mut(off..off.checked_add(2)?)?
        .copy_from_slice(&v.to_be_bytes());
    Some(())
}

#[inline(always)]
pub(crate) fn put32(b: &mut [u8], off: usize, v: u32) -> Option<()> {
    b.get_mut(off..off.checked_add(4)?)?
        .copy_from_slice(&v.to_be_bytes());
    Some(())
}

#[inline(always)]
pub(crate) fn truncated(layer: Layer, needed: usize, available: usize) -> ParseError {
    ParseError::Truncated {
        layer,
        needed,
        available,
    }
}
