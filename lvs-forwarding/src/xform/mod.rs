//! Packet transformers: the forwarding methods and the packets a director originates.
//!
//! Each transformer is a plain function over the frame bytes (starting at the Ethernet
//! header) plus the [`Frame`] that [`crate::wire::parse_frame`] produced for them, so the
//! Director parses once and then picks a method. Why the `Frame` is *not* trusted blindly:
//! it is plain data the caller could pair with the wrong buffer, so every offset taken from
//! it is checked against the buffer again; a mismatch is [`XformError::Malformed`], never a
//! panic. Transformers validate everything before writing, so an `Err` leaves the buffer
//! untouched.
//!
//! The TTL rule of `__ip_vs_get_out_rt` is applied by every forwarding transformer: a packet
//! whose TTL / hop limit is 1 or 0 is not forwarded ([`XformError::TtlExpired`]); the caller
//! answers with [`icmp_gen::icmp_time_exceeded`].

pub mod dr;
pub mod icmp_gen;
pub mod nat;
pub mod tun;

pub use dr::dr_forward;
pub use icmp_gen::{
    IcmpErrorKind, arp_reply, arp_request, icmp_echo_reply, icmp_error, icmp_frag_needed,
    icmp_port_unreachable, icmp_time_exceeded, neighbor_advertisement, neighbor_solicitation,
    tcp_reset,
};
pub use nat::{
    nat_icmp_error_in, nat_icmp_error_out, nat_reply, nat_reply_partial, nat_request,
    nat_request_partial,
};
pub use tun::{
    Decapsulated, GUE_HEADROOM_V4, GUE_HEADROOM_V6, IP6IP6_HEADROOM, IPIP_HEADROOM, MAX_HEADROOM,
    TunnelKind, TunnelParams, decap, encap, tunnel_mtu_check, tunnel_mtu_check_len,
    tunnel_overhead,
};

use crate::wire::{Frame, IpFamily, IpInfo, checksum, ipv4, ipv6};
use core::fmt;

/// Why a transformer refused a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum XformError {
    /// TTL / hop limit is 1 or less: do not forward, send ICMP time exceeded instead.
    TtlExpired,
    /// The frame does not carry IPv4 or IPv6.
    NotIp,
    /// The transform does not handle this upper-layer protocol.
    UnsupportedProtocol(u8),
    /// A fragment whose L4 header (or full ICMP message) is not in this packet.
    Fragmented,
    /// The new address's family differs from the packet's.
    FamilyMismatch,
    /// The [`Frame`] offsets do not fit the buffer (wrong pairing or a malformed frame).
    Malformed,
    /// Not an ICMP error, or its quoted packet could not be parsed.
    NotIcmpError,
    /// The quoted packet in an ICMP error carries no ports to rewrite.
    NoEmbeddedPorts,
    /// Not enough room before the frame for the encapsulation headers.
    NoHeadroom,
    /// The output buffer is too small.
    BufferTooSmall,
    /// The result would exceed the maximum IP packet length.
    Oversize,
    /// RFC 1122 / RFC 4443 forbid an ICMP error about this packet (an ICMP error itself,
    /// a multicast or broadcast, a non-first fragment, an invalid source).
    IcmpNotAllowed,
    /// Not an ARP request (for [`arp_reply`]).
    NotArpRequest,
    /// Not a neighbour solicitation (for [`neighbor_advertisement`]).
    NotNeighborSolicitation,
    /// The MTU left after the tunnel overhead is below the family minimum (68 / 1280).
    MtuTooSmall,
    /// The frame is not a tunnel packet [`decap`] understands.
    NotTunnel,
}

impl fmt::Display for XformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl core::error::Error for XformError {}

/// The MTU verdict for a packet about to be sent on a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MtuVerdict {
    /// It fits.
    Fits,
    /// It does not fit and must not be fragmented: send ICMP frag-needed (IPv4) / Packet
    /// Too Big (IPv6) to the source with this MTU, and drop it.
    TooBig {
        /// The MTU to report: link MTU minus the added overhead.
        mtu: u32,
    },
    /// It does not fit but may be fragmented (IPv4 without DF): fragment or drop.
    Fragment,
}

/// The MTU check of `__ip_vs_get_out_rt`: does the IP packet of `f`, grown by `overhead`
/// bytes of encapsulation (0 for NAT / DR), fit in `link_mtu`?
///
/// IPv6 later fragments are let through (Packet Too Big is only sent for first fragments),
/// mirroring the kernel. A reported MTU under 68 (IPv4) or 1280 (IPv6) is
/// [`XformError::MtuTooSmall`].
#[inline]
pub fn check_mtu(f: &Frame, link_mtu: u32, overhead: usize) -> Result<MtuVerdict, XformError> {
    let ip = f.ip().ok_or(XformError::NotIp)?;
    check_mtu_len(f, ip.total_len, link_mtu, overhead)
}

/// [`check_mtu`] for an IP packet of `ip_len` bytes instead of the frame's own length: for
/// a GSO super-frame, what must fit is one segment
/// ([`crate::gso::segment_ip_len`]), not the super-frame.
pub fn check_mtu_len(
    f: &Frame,
    ip_len: usize,
    link_mtu: u32,
    overhead: usize,
) -> Result<MtuVerdict, XformError> {
    let ip = f.ip().ok_or(XformError::NotIp)?;
    let need = (ip_len as u64).saturating_add(overhead as u64);
    if need <= u64::from(link_mtu) {
        return Ok(MtuVerdict::Fits);
    }
    let v6 = ip.family() == IpFamily::V6;
    if v6 && ip.is_later_fragment() {
        return Ok(MtuVerdict::Fits);
    }
    if !ip.must_not_fragment() {
        return Ok(MtuVerdict::Fragment);
    }
    let mtu = u64::from(link_mtu).saturating_sub(overhead as u64);
    let min = if v6 { 1280 } else { 68 };
    if mtu < min {
        return Err(XformError::MtuTooSmall);
    }
    Ok(MtuVerdict::TooBig { mtu: mtu as u32 })
}

/// Checked access to the IP part of `f` within `buf`: returns the IP info and the end
/// offset of the IP packet, after checking it fits.
#[inline]
pub(crate) fn ip_in<'f>(buf: &[u8], f: &'f Frame) -> Result<(&'f IpInfo, usize), XformError> {
    let ip = f.ip().ok_or(XformError::NotIp)?;
    let end = f
        .l3_offset
        .checked_add(ip.total_len)
        .ok_or(XformError::Malformed)?;
    let min_hdr = match ip.family() {
        IpFamily::V4 => ipv4::MIN_HEADER_LEN,
        IpFamily::V6 => ipv6::HEADER_LEN,
    };
    if end > buf.len() || ip.total_len < min_hdr || ip.l4_offset > end || ip.l4_offset < f.l3_offset
    {
        return Err(XformError::Malformed);
    }
    Ok((ip, end))
}

/// Reads the TTL / hop limit at `l3` and fails with [`XformError::TtlExpired`] if it is
/// 1 or less.
#[inline]
pub(crate) fn check_ttl(buf: &[u8], l3: usize, fam: IpFamily) -> Result<(), XformError> {
    let off = match fam {
        IpFamily::V4 => ipv4::OFF_TTL,
        IpFamily::V6 => ipv6::OFF_HOP_LIMIT,
    };
    let at = l3.checked_add(off).ok_or(XformError::Malformed)?;
    let ttl = *buf.get(at).ok_or(XformError::Malformed)?;
    if ttl <= 1 {
        return Err(XformError::TtlExpired);
    }
    Ok(())
}

/// Decrements the TTL / hop limit at `l3` (already checked by [`check_ttl`]) and patches
/// the IPv4 header checksum incrementally. Returns the new TTL.
#[inline]
pub(crate) fn dec_ttl(buf: &mut [u8], l3: usize, fam: IpFamily) -> Result<u8, XformError> {
    match fam {
        IpFamily::V4 => {
            let at_ttl = l3.checked_add(ipv4::OFF_TTL).ok_or(XformError::Malformed)?;
            let at_csum = l3
                .checked_add(ipv4::OFF_CHECKSUM)
                .ok_or(XformError::Malformed)?;
            let word = crate::wire::be16(buf, at_ttl).ok_or(XformError::Malformed)?;
            let csum = crate::wire::be16(buf, at_csum).ok_or(XformError::Malformed)?;
            let ttl = (word >> 8) as u8;
            if ttl <= 1 {
                return Err(XformError::TtlExpired);
            }
            let new_word = word - 0x0100;
            let c = checksum::update16(csum, word, new_word);
            crate::wire::put16(buf, at_ttl, new_word).ok_or(XformError::Malformed)?;
            crate::wire::put16(buf, at_csum, c).ok_or(XformError::Malformed)?;
            Ok(ttl - 1)
        }
        IpFamily::V6 => {
            let at = l3
                .checked_add(ipv6::OFF_HOP_LIMIT)
                .ok_or(XformError::Malformed)?;
            let b = buf.get_mut(at).ok_or(XformError::Malformed)?;
            if *b <= 1 {
                return Err(XformError::TtlExpired);
            }
            *b -= 1;
            Ok(*b)
        }
    }
}

/// Recomputes an IPv4 header checksum from scratch (`hdr` is the whole header).
pub(crate) fn ipv4_header_checksum(
    buf: &mut [u8],
    l3: usize,
    hlen: usize,
) -> Result<(), XformError> {
    let at = l3
        .checked_add(ipv4::OFF_CHECKSUM)
        .ok_or(XformError::Malformed)?;
    let end = l3.checked_add(hlen).ok_or(XformError::Malformed)?;
    if buf.get(l3..end).is_none() {
        return Err(XformError::Malformed);
    }
    crate::wire::put16(buf, at, 0).ok_or(XformError::Malformed)?;
    let hdr = buf.get(l3..end).ok_or(XformError::Malformed)?;
    let c = checksum::checksum(hdr);
    crate::wire::put16(buf, at, c).ok_or(XformError::Malformed)
}
