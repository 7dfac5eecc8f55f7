//! One-pass frame summary for the Director's hot path.
//!
//! [`parse_frame`] walks Ethernet, VLAN tags, IPv4/IPv6 (with extension headers), TCP/UDP or
//! ICMP and, for ICMP errors, the quoted packet, and returns a `Copy` [`Frame`] of offsets
//! and key fields. It validates what the kernel's `ip_rcv` / `ip6_rcv` would: versions,
//! lengths against the frame, the IPv4 header checksum (not that of a quoted header), and
//! the place of an IPv6 hop-by-hop header. Transformers in [`crate::xform`] take the same `Frame` so that the packet
//! is parsed once; they still check every offset against the buffer before using it.

use super::arp::ArpInfo;
use super::ether::{ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, EthernetHeader, MacAddr};
use super::icmp::{self, NdpInfo};
use super::ipv4::Ipv4Header;
use super::ipv6::Ipv6Header;
use super::l4::{TcpFlags, TcpHeader, UdpHeader};
use super::{Layer, ParseError, be16, be32, byte, proto, truncated};
use core::net::IpAddr;

/// IP address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpFamily {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl IpFamily {
    /// The family of an address.
    pub const fn of(a: &IpAddr) -> IpFamily {
        match a {
            IpAddr::V4(_) => IpFamily::V4,
            IpAddr::V6(_) => IpFamily::V6,
        }
    }
}

/// A parsed frame: Ethernet fields and what follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Destination MAC.
    pub dst_mac: MacAddr,
    /// Source MAC.
    pub src_mac: MacAddr,
    /// Bytes of VLAN tags after the source MAC (0, 4, 8 or 12).
    pub vlan_len: u8,
    /// Ethertype after the VLAN tags.
    pub ethertype: u16,
    /// Offset of the layer-3 header from the frame start.
    pub l3_offset: usize,
    /// The layer-3 content.
    pub l3: L3,
}

/// What the frame carries at layer 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L3 {
    /// IPv4 or IPv6.
    Ip(IpInfo),
    /// Ethernet/IPv4 ARP.
    Arp(ArpInfo),
    /// Any other ethertype: not parsed.
    Other,
}

/// An IPv4 or IPv6 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpInfo {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// TOS (IPv4) or traffic class (IPv6): DSCP and ECN.
    pub dsfield: u8,
    /// Length of the IP packet (header and payload) per its header; Ethernet padding after
    /// it is not included.
    pub total_len: usize,
    /// IPv4: IHL * 4. IPv6: 40 plus the extension headers before the upper layer.
    pub header_len: usize,
    /// IPv4 DF flag; always false for IPv6 (see [`IpInfo::must_not_fragment`]).
    pub dont_fragment: bool,
    /// True if the packet is a fragment (first or later).
    pub is_fragment: bool,
    /// Fragment offset in bytes.
    pub frag_offset: u16,
    /// MF / M flag.
    pub more_fragments: bool,
    /// Upper-layer protocol.
    pub protocol: u8,
    /// Offset of the upper-layer header from the frame start.
    pub l4_offset: usize,
    /// The upper layer, if parsed.
    pub l4: L4,
}

impl IpInfo {
    /// The address family.
    pub const fn family(&self) -> IpFamily {
        IpFamily::of(&self.src)
    }

    /// True if routers must not fragment this packet: IPv6, or IPv4 with DF.
    pub const fn must_not_fragment(&self) -> bool {
        self.dont_fragment || matches!(self.src, IpAddr::V6(_))
    }

    /// True for a non-first fragment (no upper-layer header in it).
    pub const fn is_later_fragment(&self) -> bool {
        self.frag_offset != 0
    }
}

/// The upper-layer protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4 {
    /// TCP.
    Tcp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Flags.
        flags: TcpFlags,
    },
    /// UDP.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
    /// ICMPv4 or ICMPv6 (per the IP family).
    Icmp(IcmpInfo),
    /// Another protocol, or a non-first fragment.
    Other,
}

/// An ICMP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpInfo {
    /// Type.
    pub ty: u8,
    /// Code.
    pub code: u8,
    /// The 4 type-specific header bytes (MTU, pointer, echo id/sequence...).
    pub rest: u32,
    /// For error messages: the quoted packet, if its IP header could be parsed.
    pub error: Option<Embedded>,
    /// For neighbour solicitations / advertisements: their content.
    pub ndp: Option<NdpInfo>,
}

/// The packet quoted inside an ICMP error (often truncated: only its headers matter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Embedded {
    /// Offset of the quoted IP header from the frame start.
    pub l3_offset: usize,
    /// Quoted source address.
    pub src: IpAddr,
    /// Quoted destination address.
    pub dst: IpAddr,
    /// Quoted upper-layer protocol.
    pub protocol: u8,
    /// Length of the quoted IP header (with extension headers).
    pub header_len: usize,
    /// Offset of the quoted upper-layer header from the frame start.
    pub l4_offset: usize,
    /// Quoted source and destination ports, when the protocol has them (TCP, UDP, SCTP),
    /// it is not a later fragment and at least 4 bytes were quoted.
    pub ports: Option<(u16, u16)>,
}

impl Frame {
    /// The IP part, if any.
    pub const fn ip(&self) -> Option<&IpInfo> {
        match &self.l3 {
            L3::Ip(ip) => Some(ip),
            _ => None,
        }
    }

    /// The ARP part, if any.
    pub const fn arp(&self) -> Option<&ArpInfo> {
        match &self.l3 {
            L3::Arp(a) => Some(a),
            _ => None,
        }
    }

    /// The ICMP part, if any.
    pub const fn icmp(&self) -> Option<&IcmpInfo> {
        match self.ip() {
            Some(IpInfo {
                l4: L4::Icmp(i), ..
            }) => Some(i),
            _ => None,
        }
    }

    /// The quoted packet of an ICMP error, if any.
    pub const fn embedded(&self) -> Option<&Embedded> {
        match self.icmp() {
            Some(IcmpInfo { error: Some(e), .. }) => Some(e),
            _ => None,
        }
    }

    /// The neighbour solicitation / advertisement content, if any.
    pub const fn ndp(&self) -> Option<&NdpInfo> {
        match self.icmp() {
            Some(IcmpInfo { ndp: Some(n), .. }) => Some(n),
            _ => None,
        }
    }

    /// TCP/UDP (source, destination) ports, if any.
    pub const fn ports(&self) -> Option<(u16, u16)> {
        match self.ip() {
            Some(IpInfo {
                l4:
                    L4::Tcp {
                        src_port, dst_port, ..
                    }
                    | L4::Udp { src_port, dst_port },
                ..
            }) => Some((*src_port, *dst_port)),
            _ => None,
        }
    }

    /// TCP flags, if TCP.
    pub const fn tcp_flags(&self) -> Option<TcpFlags> {
        match self.ip() {
            Some(IpInfo {
                l4: L4::Tcp { flags, .. },
                ..
            }) => Some(*flags),
            _ => None,
        }
    }

    /// Offset just past the IP packet (start of any Ethernet padding), from the frame start.
    pub const fn ip_end(&self) -> Option<usize> {
        match self.ip() {
            Some(ip) => Some(self.l3_offset + ip.total_len),
            None => None,
        }
    }
}

/// Parses an Ethernet frame. See the module documentation.
#[inline]
pub fn parse_frame(buf: &[u8]) -> Result<Frame, ParseError> {
    let mut f = Frame::EMPTY;
    parse_frame_into(buf, &mut f)?;
    Ok(f)
}

impl Frame {
    /// A frame of no layer 3 and zero fields: storage for [`parse_frame_into`].
    pub const EMPTY: Frame = Frame {
        dst_mac: MacAddr::ZERO,
        src_mac: MacAddr::ZERO,
        vlan_len: 0,
        ethertype: 0,
        l3_offset: 0,
        l3: L3::Other,
    };
}

/// [`parse_frame`] into the caller's storage: the per-packet path parses into a frame it
/// keeps, so that the ~200-byte result is written once, field by field, rather than built
/// and then moved into a `Result` and out of it again. On `Ok`, `out` is exactly what
/// [`parse_frame`] returns; on `Err` it holds a partial parse and means nothing.
#[inline]
pub fn parse_frame_into(buf: &[u8], out: &mut Frame) -> Result<(), ParseError> {
    let eth = EthernetHeader::parse(buf)?;
    out.dst_mac = eth.dst;
    out.src_mac = eth.src;
    out.vlan_len = eth.vlan_len;
    out.ethertype = eth.ethertype;
    out.l3_offset = eth.l3_offset;
    let l3buf = buf.get(eth.l3_offset..).unwrap_or(&[]);
    match eth.ethertype {
        ETHERTYPE_IPV4 => parse_ipv4(l3buf, eth.l3_offset, &mut out.l3)?,
        ETHERTYPE_IPV6 => parse_ipv6(l3buf, eth.l3_offset, &mut out.l3)?,
        ETHERTYPE_ARP => out.l3 = L3::Arp(ArpInfo::parse(l3buf)?),
        _ => out.l3 = L3::Other,
    }
    Ok(())
}

/// Parses an IPv4 packet starting at `pkt` (whose frame offset is `base`) into `out`.
///
/// Inlined into [`parse_frame_into`], writing in place: the `IpInfo` (~180 bytes) is not
/// returned and then copied.
#[inline]
fn parse_ipv4(pkt: &[u8], base: usize, out: &mut L3) -> Result<(), ParseError> {
    let h = Ipv4Header::parse(pkt)?;
    // The header is in hand and in cache: verifying its checksum here costs a
    // few adds (see `ipv4::header_checksum_ok`).
    if !super::ipv4::header_checksum_ok(pkt.get(..h.header_len).unwrap_or(&[])) {
        return Err(ParseError::BadHeaderChecksum);
    }
    let total = usize::from(h.total_len);
    let seg = pkt.get(h.header_len..total).unwrap_or(&[]);
    let l4_offset = base + h.header_len;
    *out = L3::Ip(IpInfo {
        src: IpAddr::V4(h.src),
        dst: IpAddr::V4(h.dst),
        ttl: h.ttl,
        dsfield: h.tos,
        total_len: total,
        header_len: h.header_len,
        dont_fragment: h.dont_fragment,
        is_fragment: h.is_fragment(),
        frag_offset: h.frag_offset,
        more_fragments: h.more_fragments,
        protocol: h.protocol,
        l4_offset,
        l4: L4::Other,
    });
    if h.frag_offset == 0
        && let L3::Ip(ip) = out
    {
        parse_l4(
            seg,
            h.protocol,
            false,
            h.is_fragment(),
            l4_offset,
            &mut ip.l4,
        )?;
    }
    Ok(())
}

/// Parses an IPv6 packet starting at `pkt` (whose frame offset is `base`) into `out`,
/// as [`parse_ipv4`].
#[inline]
fn parse_ipv6(pkt: &[u8], base: usize, out: &mut L3) -> Result<(), ParseError> {
    let h = Ipv6Header::parse(pkt)?;
    let total = h.total_len();
    let seg = pkt.get(h.header_len..total).unwrap_or(&[]);
    let l4_offset = base + h.header_len;
    *out = L3::Ip(IpInfo {
        src: IpAddr::V6(h.src),
        dst: IpAddr::V6(h.dst),
        ttl: h.hop_limit,
        dsfield: h.traffic_class,
        total_len: total,
        header_len: h.header_len,
        dont_fragment: false,
        is_fragment: h.is_fragment,
        frag_offset: h.frag_offset,
        more_fragments: h.more_fragments,
        protocol: h.protocol,
        l4_offset,
        l4: L4::Other,
    });
    if h.frag_offset == 0
        && let L3::Ip(ip) = out
    {
        parse_l4(seg, h.protocol, true, h.is_fragment, l4_offset, &mut ip.l4)?;
    }
    Ok(())
}

/// Parses the upper layer. `seg` is the IP payload; `frag` says it is a first fragment, in
/// which case length fields describing the whole datagram are not checked.
///
/// Inlined, with ICMP out of line ([`parse_l4_icmp`]): TCP and UDP are then built in
/// place in the frame instead of coming back through a `Result` as large as an ICMP error's.
#[inline(always)]
fn parse_l4(
    seg: &[u8],
    protocol: u8,
    v6: bool,
    frag: bool,
    off: usize,
    out: &mut L4,
) -> Result<(), ParseError> {
    *out = match protocol {
        proto::TCP => {
            let t = TcpHeader::parse(seg)?;
            L4::Tcp {
                src_port: t.src_port,
                dst_port: t.dst_port,
                flags: t.flags,
            }
        }
        proto::UDP => {
            if frag {
                let (Some(s), Some(d)) = (be16(seg, 0), be16(seg, 2)) else {
                    return Err(truncated(Layer::Udp, 8, seg.len()));
                };
                L4::Udp {
                    src_port: s,
                    dst_port: d,
                }
            } else {
                let u = UdpHeader::parse(seg)?;
                L4::Udp {
                    src_port: u.src_port,
                    dst_port: u.dst_port,
                }
            }
        }
        proto::ICMP if !v6 => return parse_l4_icmp(seg, false, frag, off, out),
        proto::ICMPV6 if v6 => return parse_l4_icmp(seg, true, frag, off, out),
        _ => L4::Other,
    };
    Ok(())
}

/// The ICMP part of [`parse_l4`], out of line.
#[inline(never)]
fn parse_l4_icmp(
    seg: &[u8],
    v6: bool,
    frag: bool,
    off: usize,
    out: &mut L4,
) -> Result<(), ParseError> {
    *out = L4::Icmp(parse_icmp(seg, v6, frag, off)?);
    Ok(())
}

fn parse_icmp(msg: &[u8], v6: bool, frag: bool, off: usize) -> Result<IcmpInfo, ParseError> {
    let tr = || truncated(Layer::Icmp, icmp::HEADER_LEN, msg.len());
    let ty = byte(msg, 0).ok_or_else(tr)?;
    let code = byte(msg, 1).ok_or_else(tr)?;
    let rest = be32(msg, 4).ok_or_else(tr)?;
    let mut info = IcmpInfo {
        ty,
        code,
        rest,
        error: None,
        ndp: None,
    };
    let is_err = if v6 {
        icmp::is_v6_error(ty)
    } else {
        icmp::is_v4_error(ty)
    };
    if is_err {
        let quoted = msg.get(icmp::HEADER_LEN..).unwrap_or(&[]);
        info.error = parse_embedded(quoted, v6, off + icmp::HEADER_LEN);
    } else if v6 && !frag {
        info.ndp = NdpInfo::parse(msg)?;
    }
    Ok(info)
}

fn parse_embedded(q: &[u8], v6: bool, base: usize) -> Option<Embedded> {
    let (src, dst, protocol, header_len, later_frag) = if v6 {
        let h = Ipv6Header::parse_quoted(q).ok()?;
        (
            IpAddr::V6(h.src),
            IpAddr::V6(h.dst),
            h.protocol,
            h.header_len,
            h.frag_offset != 0,
        )
    } else {
        let h = Ipv4Header::parse_quoted(q).ok()?;
        (
            IpAddr::V4(h.src),
            IpAddr::V4(h.dst),
            h.protocol,
            h.header_len,
            h.frag_offset != 0,
        )
    };
    let has_ports = matches!(protocol, proto::TCP | proto::UDP | proto::SCTP) && !later_frag;
    let ports = if has_ports {
        match (be16(q, header_len), be16(q, header_len + 2)) {
            (Some(s), Some(d)) => Some((s, d)),
            _ => None,
        }
    } else {
        None
    };
    Some(Embedded {
        l3_offset: base,
        src,
        dst,
        protocol,
        header_len,
        l4_offset: base + header_len,
        ports,
    })
}
