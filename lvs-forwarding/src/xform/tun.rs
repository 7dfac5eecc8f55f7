//! VS/TUN: IP-in-IP (4in4, 6in6, 6in4, 4in6) and GUE encapsulation, its MTU rule, and the
//! matching decapsulation for a user-space real server.
//!
//! Why explicit headroom: the outer headers go *in front of* the inner IP packet, in the
//! same buffer, so no copy of the payload is needed. The caller receives frames at an offset
//! that leaves at least [`MAX_HEADROOM`] bytes free (or the per-kind constant); the inner
//! Ethernet header (and its VLAN tags) is overwritten by the outer headers, so a tagged
//! inner frame needs less. The outer header is built the way `ip_vs_tunnel_xmit[_v6]` builds
//! it: TTL / hop limit = inner value after the decrement, DSCP copied, ECN copied except
//! CE → ECT(0) (`INET_ECN_encapsulate`), DF copied from an IPv4 inner header (0 for IPv6
//! inner), caller-given IP ID, IPv6 flow label 0.

use super::{MtuVerdict, XformError, check_mtu, check_mtu_len, check_ttl, dec_ttl, ip_in};
use crate::wire::{
    Frame, IpFamily, MacAddr, be16, checksum, ether, ipv4, ipv6, l4, parse_frame, proto, put16,
    put32,
};
use core::net::IpAddr;

/// Outer IPv4 header length.
const V4_OUTER: usize = ipv4::MIN_HEADER_LEN;
/// Outer IPv6 header length.
const V6_OUTER: usize = ipv6::HEADER_LEN;
/// UDP + GUE header length (GUE with no optional fields).
const GUE_LEN: usize = l4::UDP_HEADER_LEN + 4;

/// Headroom (in front of an untagged frame) for IPIP / 6in4 with an IPv4 outer header.
pub const IPIP_HEADROOM: usize = V4_OUTER;
/// Headroom for 6in6 / 4in6 with an IPv6 outer header.
pub const IP6IP6_HEADROOM: usize = V6_OUTER;
/// Headroom for GUE over IPv4.
pub const GUE_HEADROOM_V4: usize = V4_OUTER + GUE_LEN;
/// Headroom for GUE over IPv6.
pub const GUE_HEADROOM_V6: usize = V6_OUTER + GUE_LEN;
/// Enough headroom for every tunnel kind and outer family.
pub const MAX_HEADROOM: usize = GUE_HEADROOM_V6;

/// The tunnel type (`--tun-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelKind {
    /// Plain IP-in-IP: protocol 4 (IPv4 inner) or 41 (IPv6 inner).
    Ipip,
    /// Generic UDP Encapsulation, version 0, no optional fields.
    Gue {
        /// UDP destination port (`--tun-port`), per real server.
        dst_port: u16,
        /// UDP source port: a flow hash chosen by the caller (`udp_flow_src_port`).
        src_port: u16,
    },
}

/// Everything the outer headers need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelParams {
    /// Tunnel type.
    pub kind: TunnelKind,
    /// Outer Ethernet source (the director's MAC).
    pub src_mac: MacAddr,
    /// Outer Ethernet destination (the next hop towards the real server).
    pub dst_mac: MacAddr,
    /// Outer IP source (the director's address on the route to the real server).
    pub outer_src: IpAddr,
    /// Outer IP destination (the real server).
    pub outer_dst: IpAddr,
    /// IPv4 outer identification (a counter kept by the caller); unused for IPv6 outers.
    pub ip_id: u16,
}

/// Bytes the tunnel adds to the inner IP packet (outer IP header plus UDP+GUE).
pub const fn tunnel_overhead(outer: IpFamily, kind: TunnelKind) -> usize {
    let ip = match outer {
        IpFamily::V4 => V4_OUTER,
        IpFamily::V6 => V6_OUTER,
    };
    match kind {
        TunnelKind::Ipip => ip,
        TunnelKind::Gue { .. } => ip + GUE_LEN,
    }
}

/// The MTU rule for a tunnelled packet: with `link_mtu` the MTU of the route to the real
/// server, does the encapsulated packet fit? The verdict follows the **inner** family: an
/// IPv6 inner packet, or an IPv4 one with DF, that does not fit gets
/// [`MtuVerdict::TooBig`] with `link_mtu - overhead` (answer it with
/// [`super::icmp_frag_needed`]).
pub fn tunnel_mtu_check(
    f: &Frame,
    outer: IpFamily,
    kind: TunnelKind,
    link_mtu: u32,
) -> Result<MtuVerdict, XformError> {
    check_mtu(f, link_mtu, tunnel_overhead(outer, kind))
}

/// [`tunnel_mtu_check`] for an inner IP packet of `ip_len` bytes: for a GSO super-frame,
/// one segment ([`crate::gso::segment_ip_len`]), which is what goes on the wire.
pub fn tunnel_mtu_check_len(
    f: &Frame,
    ip_len: usize,
    outer: IpFamily,
    kind: TunnelKind,
    link_mtu: u32,
) -> Result<MtuVerdict, XformError> {
    check_mtu_len(f, ip_len, link_mtu, tunnel_overhead(outer, kind))
}

/// ECN encapsulation (RFC 6040 / `INET_ECN_encapsulate`): copy DSCP and ECN, except that
/// CE on the inner packet becomes ECT(0) on the outer one.
const fn ecn_encapsulate(ds: u8) -> u8 {
    if ds & 3 == 3 { (ds & !3) | 2 } else { ds }
}

/// Encapsulates the frame at `buf[frame_start..frame_start + frame_len]` (described by `f`,
/// whose offsets are relative to `frame_start`) for the real server, writing the outer
/// Ethernet, IP (and UDP+GUE) headers in front of its IP packet. Decrements the inner TTL /
/// hop limit first. Returns the new frame's `(start, len)` within `buf`.
///
/// Ethernet padding after the inner IP packet is dropped. The IPv4 outer UDP checksum is 0
/// (as IPVS sends it); over IPv6 a zero UDP checksum is not allowed (RFC 8200), so the full
/// checksum is computed. The MTU is not checked here: call [`tunnel_mtu_check`] first.
pub fn encap(
    buf: &mut [u8],
    frame_start: usize,
    frame_len: usize,
    f: &Frame,
    p: &TunnelParams,
) -> Result<(usize, usize), XformError> {
    let frame_end = frame_start
        .checked_add(frame_len)
        .ok_or(XformError::Malformed)?;
    let frame = buf
        .get(frame_start..frame_end)
        .ok_or(XformError::Malformed)?;
    let (ip, end) = ip_in(frame, f)?;
    let inner_fam = ip.family();
    let outer_fam = IpFamily::of(&p.outer_src);
    if IpFamily::of(&p.outer_dst) != outer_fam {
        return Err(XformError::FamilyMismatch);
    }
    let inner_len = end - f.l3_offset;
    let overhead = tunnel_overhead(outer_fam, p.kind);
    let inner_l3 = frame_start + f.l3_offset;
    let outer_l3 = inner_l3
        .checked_sub(overhead)
        .ok_or(XformError::NoHeadroom)?;
    let start = outer_l3
        .checked_sub(ether::HEADER_LEN)
        .ok_or(XformError::NoHeadroom)?;
    let outer_ip_total = inner_len + overhead;
    let too_big = match outer_fam {
        IpFamily::V4 => outer_ip_total > 0xffff,
        IpFamily::V6 => outer_ip_total - V6_OUTER > 0xffff,
    };
    if too_big {
        return Err(XformError::Oversize);
    }
    check_ttl(buf, inner_l3, inner_fam)?;
    let ttl = dec_ttl(buf, inner_l3, inner_fam)?;
    let ds = ecn_encapsulate(ip.dsfield);
    let df = inner_fam == IpFamily::V4 && ip.dont_fragment;
    let inner_proto = match inner_fam {
        IpFamily::V4 => proto::IPIP,
        IpFamily::V6 => proto::IPV6,
    };
    let (outer_proto, tun_hdr) = match p.kind {
        TunnelKind::Ipip => (inner_proto, 0),
        TunnelKind::Gue { .. } => (proto::UDP, GUE_LEN),
    };
    let m = XformError::Malformed;

    // Ethernet.
    let eth = buf.get_mut(start..outer_l3).ok_or(m)?;
    eth[0..6].copy_from_slice(&p.dst_mac.0);
    eth[6..12].copy_from_slice(&p.src_mac.0);
    let et = match outer_fam {
        IpFamily::V4 => ether::ETHERTYPE_IPV4,
        IpFamily::V6 => ether::ETHERTYPE_IPV6,
    };
    eth[12..14].copy_from_slice(&et.to_be_bytes());

    // Outer IP.
    match (p.outer_src, p.outer_dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let h = buf.get_mut(outer_l3..outer_l3 + V4_OUTER).ok_or(m)?;
            h[0] = 0x45;
            h[1] = ds;
            h[2..4].copy_from_slice(&(outer_ip_total as u16).to_be_bytes());
            h[4..6].copy_from_slice(&p.ip_id.to_be_bytes());
            let fl: u16 = if df { ipv4::FLAG_DF } else { 0 };
            h[6..8].copy_from_slice(&fl.to_be_bytes());
            h[8] = ttl;
            h[9] = outer_proto;
            h[10..12].copy_from_slice(&[0, 0]);
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            let c = checksum::checksum(h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let h = buf.get_mut(outer_l3..outer_l3 + V6_OUTER).ok_or(m)?;
            let w0: u32 = (6 << 28) | (u32::from(ds) << 20);
            h[0..4].copy_from_slice(&w0.to_be_bytes());
            h[4..6].copy_from_slice(&((outer_ip_total - V6_OUTER) as u16).to_be_bytes());
            h[6] = outer_proto;
            h[7] = ttl;
            h[8..24].copy_from_slice(&s.octets());
            h[24..40].copy_from_slice(&d.octets());
        }
        _ => return Err(XformError::FamilyMismatch),
    }

    // UDP + GUE.
    if let TunnelKind::Gue { dst_port, src_port } = p.kind {
        let u = outer_l3 + overhead - tun_hdr;
        let udp_len = (inner_len + GUE_LEN) as u16;
        put16(buf, u, src_port).ok_or(m)?;
        put16(buf, u + 2, dst_port).ok_or(m)?;
        put16(buf, u + 4, udp_len).ok_or(m)?;
        put16(buf, u + 6, 0).ok_or(m)?;
        // GUE v0: ver=0, C=0, hlen=0, proto_ctype = inner protocol, flags 0.
        put32(buf, u + 8, u32::from(inner_proto) << 16).ok_or(m)?;
        if let (IpAddr::V6(s), IpAddr::V6(d)) = (p.outer_src, p.outer_dst) {
            let seg = buf.get(u..u + usize::from(udp_len)).ok_or(m)?;
            let init = checksum::pseudo_v6(s, d, proto::UDP, u32::from(udp_len));
            let mut c = checksum::finish(checksum::sum(seg, init));
            if c == 0 {
                c = 0xffff;
            }
            put16(buf, u + 6, c).ok_or(m)?;
        }
    }
    Ok((start, ether::HEADER_LEN + outer_ip_total))
}

/// Where [`decap`] found the inner packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decapsulated {
    /// Offset of the inner IP header in the frame.
    pub inner_offset: usize,
    /// Length of the inner IP packet (per its own header).
    pub inner_len: usize,
    /// The inner family.
    pub family: IpFamily,
}

/// Strips the outer Ethernet, IP (and UDP+GUE, when the UDP destination port equals
/// `gue_port`) headers of a tunnel frame and returns where the inner IP packet is.
pub fn decap(frame: &[u8], gue_port: Option<u16>) -> Result<Decapsulated, XformError> {
    let f = parse_frame(frame).map_err(|_| XformError::NotTunnel)?;
    let (ip, end) = ip_in(frame, &f)?;
    if ip.is_fragment {
        return Err(XformError::Fragmented);
    }
    let (inner_offset, inner_proto) = match ip.protocol {
        proto::IPIP | proto::IPV6 => (ip.l4_offset, ip.protocol),
        proto::UDP => {
            let u = ip.l4_offset;
            let dport = be16(frame, u + 2).ok_or(XformError::NotTunnel)?;
            if gue_port != Some(dport) {
                return Err(XformError::NotTunnel);
            }
            let w =
                crate::wire::be32(frame, u + l4::UDP_HEADER_LEN).ok_or(XformError::NotTunnel)?;
            let ver_c = (w >> 30) as u8;
            let hlen = ((w >> 24) & 0x1f) as usize * 4;
            let pt = ((w >> 16) & 0xff) as u8;
            if ver_c != 0 {
                return Err(XformError::NotTunnel);
            }
            (u + GUE_LEN + hlen, pt)
        }
        _ => return Err(XformError::NotTunnel),
    };
    let inner = frame.get(inner_offset..end).ok_or(XformError::NotTunnel)?;
    let (family, inner_len) = match inner_proto {
        proto::IPIP => {
            let h = ipv4::Ipv4Header::parse(inner).map_err(|_| XformError::NotTunnel)?;
            (IpFamily::V4, usize::from(h.total_len))
        }
        proto::IPV6 => {
            let h = ipv6::Ipv6Header::parse(inner).map_err(|_| XformError::NotTunnel)?;
            (IpFamily::V6, h.total_len())
        }
        _ => return Err(XformError::NotTunnel),
    };
    Ok(Decapsulated {
        inner_offset,
        inner_len,
        family,
    })
}
