//! Packets the director originates: ICMP errors (time exceeded, port unreachable,
//! fragmentation needed / Packet Too Big), the VIP's answers as a host (ICMP/ICMPv6 echo
//! reply, TCP reset), ARP request / reply and neighbour solicitation / advertisement.
//!
//! Why they are written into a caller-given buffer: the original frame is usually still
//! needed (or is in a receive ring), and no allocation is allowed. Every generator returns
//! the length written. Replies keep the original frame's VLAN tags so that they go back on
//! the same VLAN.
//!
//! ICMP errors quote as much of the offending packet as the RFCs allow: IPv4 up to a 576-byte
//! error (what Linux does; RFC 792 demands only the header plus 8 bytes), IPv6 up to a
//! 1280-byte error (RFC 4443 2.4(c)), and never more than fits in `out`. The RFC 1122 3.2.2
//! / RFC 4443 2.4(e) rules are enforced: no error about an ICMP error, a non-first
//! fragment, a link or IP multicast/broadcast (except Packet Too Big), or an invalid source.

use super::XformError;
use crate::wire::{Frame, IpFamily, MacAddr, arp, checksum, ether, icmp, ipv4, ipv6, proto};
use crate::wire::{L4, NdpKind};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Largest IPv4 ICMP error (IP header included), as Linux sends.
pub const V4_ERROR_MAX: usize = 576;
/// Largest IPv6 ICMP error (IPv6 header included), the IPv6 minimum MTU.
pub const V6_ERROR_MAX: usize = 1280;
/// TTL / hop limit of generated ICMP errors.
pub const ICMP_TTL: u8 = 64;
/// TTL / hop limit of echo replies and resets the VIP sends as a host (Linux's default
/// `net.ipv4.ip_default_ttl` / `net.ipv6.conf.*.hop_limit`, 64).
pub const HOST_TTL: u8 = 64;
/// TCP header length of a generated reset (no options).
const TCP_RST_HDR: usize = 20;
/// TCP flag bits (RFC 793 §3.1).
const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;
/// Length of a generated ARP frame (no padding to 60 bytes; the NIC pads).
pub const ARP_FRAME_LEN: usize = ether::HEADER_LEN + arp::BODY_LEN;

/// Which ICMP error to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpErrorKind {
    /// ICMP time exceeded in transit / ICMPv6 hop limit exceeded.
    TimeExceeded,
    /// Destination unreachable, port unreachable (no real server available).
    PortUnreachable,
    /// IPv4: destination unreachable / fragmentation needed (type 3 code 4) with the
    /// next-hop MTU; IPv6: Packet Too Big with the MTU.
    FragNeeded {
        /// The MTU to report (IPv4 keeps the low 16 bits).
        mtu: u32,
    },
}

/// ICMP time exceeded, sent "as a router would" from `our_ip` (the director's address).
pub fn icmp_time_exceeded(
    orig: &[u8],
    f: &Frame,
    our_mac: MacAddr,
    our_ip: IpAddr,
    out: &mut [u8],
) -> Result<usize, XformError> {
    icmp_error(orig, f, IcmpErrorKind::TimeExceeded, our_mac, our_ip, out)
}

/// Port unreachable, sent from the packet's own destination (the VIP), as IPVS does when
/// no real server is available.
pub fn icmp_port_unreachable(
    orig: &[u8],
    f: &Frame,
    our_mac: MacAddr,
    out: &mut [u8],
) -> Result<usize, XformError> {
    let ip = f.ip().ok_or(XformError::NotIp)?;
    icmp_error(
        orig,
        f,
        IcmpErrorKind::PortUnreachable,
        our_mac,
        ip.dst,
        out,
    )
}

/// Fragmentation needed (IPv4) / Packet Too Big (IPv6) carrying `mtu`, sent from `src_ip`
/// (the VIP when the packet was addressed to it, as the kernel's `icmp_send` picks).
pub fn icmp_frag_needed(
    orig: &[u8],
    f: &Frame,
    our_mac: MacAddr,
    src_ip: IpAddr,
    mtu: u32,
    out: &mut [u8],
) -> Result<usize, XformError> {
    icmp_error(
        orig,
        f,
        IcmpErrorKind::FragNeeded { mtu },
        our_mac,
        src_ip,
        out,
    )
}

fn invalid_source(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => {
            a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback()
        }
        IpAddr::V6(a) => a.is_unspecified() || a.is_multicast() || a.is_loopback(),
    }
}

fn multicast_dst(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => a.is_multicast() || a.is_broadcast(),
        IpAddr::V6(a) => a.is_multicast(),
    }
}

/// Writes the Ethernet header (with the original VLAN tags) of a reply to `f` into `out`;
/// returns the L3 offset.
fn reply_ether(
    orig: &[u8],
    f: &Frame,
    dst: MacAddr,
    src: MacAddr,
    ethertype: u16,
    out: &mut [u8],
) -> Result<usize, XformError> {
    let vl = usize::from(f.vlan_len);
    let tags = orig.get(12..12 + vl).ok_or(XformError::Malformed)?;
    let l3 = ether::HEADER_LEN + vl;
    let eth = out.get_mut(..l3).ok_or(XformError::BufferTooSmall)?;
    eth[0..6].copy_from_slice(&dst.0);
    eth[6..12].copy_from_slice(&src.0);
    eth[12..12 + vl].copy_from_slice(tags);
    eth[12 + vl..].copy_from_slice(&ethertype.to_be_bytes());
    Ok(l3)
}

/// Generates an ICMP error about the IP packet in `orig` (parsed as `f`) into `out`, from
/// `src_ip` to the packet's source, Ethernet-addressed back to its source MAC.
pub fn icmp_error(
    orig: &[u8],
    f: &Frame,
    kind: IcmpErrorKind,
    our_mac: MacAddr,
    src_ip: IpAddr,
    out: &mut [u8],
) -> Result<usize, XformError> {
    let (ip, end) = super::ip_in(orig, f)?;
    let fam = ip.family();
    if IpFamily::of(&src_ip) != fam {
        return Err(XformError::FamilyMismatch);
    }
    // RFC 1122 3.2.2 / RFC 4443 2.4(e).
    let ptb = fam == IpFamily::V6 && matches!(kind, IcmpErrorKind::FragNeeded { .. });
    let about_error = matches!(ip.l4, L4::Icmp(i) if match fam {
        IpFamily::V4 => icmp::is_v4_error(i.ty),
        IpFamily::V6 => icmp::is_v6_error(i.ty),
    });
    if about_error
        || ip.is_later_fragment()
        || invalid_source(&ip.src)
        || (!ptb && (multicast_dst(&ip.dst) || f.dst_mac.is_multicast()))
    {
        return Err(XformError::IcmpNotAllowed);
    }
    let quoted_full = orig.get(f.l3_offset..end).ok_or(XformError::Malformed)?;
    let (ethertype, ip_hdr, max_err) = match fam {
        IpFamily::V4 => (ether::ETHERTYPE_IPV4, ipv4::MIN_HEADER_LEN, V4_ERROR_MAX),
        IpFamily::V6 => (ether::ETHERTYPE_IPV6, ipv6::HEADER_LEN, V6_ERROR_MAX),
    };
    let l3 = reply_ether(orig, f, f.src_mac, our_mac, ethertype, out)?;
    let room = out
        .len()
        .checked_sub(l3 + ip_hdr + icmp::HEADER_LEN)
        .ok_or(XformError::BufferTooSmall)?;
    // `header_len` comes from the caller's Frame: saturate rather than overflow.
    let min_quote = quoted_full.len().min(ip.header_len.saturating_add(8));
    let qlen = quoted_full
        .len()
        .min(max_err - ip_hdr - icmp::HEADER_LEN)
        .min(room);
    if qlen < min_quote {
        return Err(XformError::BufferTooSmall);
    }
    let quote = quoted_full.get(..qlen).ok_or(XformError::Malformed)?;
    let icmp_len = icmp::HEADER_LEN + qlen;
    let total = ip_hdr + icmp_len;
    let l4o = l3 + ip_hdr;
    let m = XformError::BufferTooSmall;
    let (ty, code, rest): (u8, u8, u32) = match (fam, kind) {
        (IpFamily::V4, IcmpErrorKind::TimeExceeded) => {
            (icmp::V4_TIME_EXCEEDED, icmp::V4_CODE_TTL_EXCEEDED, 0)
        }
        (IpFamily::V4, IcmpErrorKind::PortUnreachable) => {
            (icmp::V4_DEST_UNREACH, icmp::V4_CODE_PORT_UNREACH, 0)
        }
        (IpFamily::V4, IcmpErrorKind::FragNeeded { mtu }) => (
            icmp::V4_DEST_UNREACH,
            icmp::V4_CODE_FRAG_NEEDED,
            mtu.min(0xffff),
        ),
        (IpFamily::V6, IcmpErrorKind::TimeExceeded) => {
            (icmp::V6_TIME_EXCEEDED, icmp::V6_CODE_HOP_LIMIT, 0)
        }
        (IpFamily::V6, IcmpErrorKind::PortUnreachable) => {
            (icmp::V6_DEST_UNREACH, icmp::V6_CODE_PORT_UNREACH, 0)
        }
        (IpFamily::V6, IcmpErrorKind::FragNeeded { mtu }) => (icmp::V6_PACKET_TOO_BIG, 0, mtu),
    };
    write_ip(out, l3, src_ip, ip.src, proto_of(fam), total, 0xc0)?;
    let msg = out.get_mut(l4o..l4o + icmp_len).ok_or(m)?;
    msg[0] = ty;
    msg[1] = code;
    msg[2..4].copy_from_slice(&[0, 0]);
    msg[4..8].copy_from_slice(&rest.to_be_bytes());
    msg[8..].copy_from_slice(quote);
    super::nat::icmp_checksum(out, l3, l4o, l4o + icmp_len, fam)?;
    Ok(l3 + total)
}

fn proto_of(fam: IpFamily) -> u8 {
    match fam {
        IpFamily::V4 => proto::ICMP,
        IpFamily::V6 => proto::ICMPV6,
    }
}

/// Writes a fresh IP header (no options / extension headers) at `l3`. `tos` is the IPv4 TOS
/// (Linux marks ICMP errors as internetwork control, 0xc0); IPv6 gets traffic class 0.
fn write_ip(
    out: &mut [u8],
    l3: usize,
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    total: usize,
    tos: u8,
) -> Result<(), XformError> {
    let m = XformError::BufferTooSmall;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let h = out.get_mut(l3..l3 + ipv4::MIN_HEADER_LEN).ok_or(m)?;
            h[0] = 0x45;
            h[1] = tos;
            h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            h[4..8].copy_from_slice(&[0, 0, 0, 0]);
            h[8] = ICMP_TTL;
            h[9] = protocol;
            h[10..12].copy_from_slice(&[0, 0]);
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            let c = checksum::checksum(h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            write_ip6(out, l3, s, d, protocol, total - ipv6::HEADER_LEN, ICMP_TTL)?;
        }
        _ => return Err(XformError::FamilyMismatch),
    }
    Ok(())
}

fn write_ip6(
    out: &mut [u8],
    l3: usize,
    s: Ipv6Addr,
    d: Ipv6Addr,
    next: u8,
    payload: usize,
    hop: u8,
) -> Result<(), XformError> {
    let h = out
        .get_mut(l3..l3 + ipv6::HEADER_LEN)
        .ok_or(XformError::BufferTooSmall)?;
    h[0..4].copy_from_slice(&(6u32 << 28).to_be_bytes());
    h[4..6].copy_from_slice(&(payload as u16).to_be_bytes());
    h[6] = next;
    h[7] = hop;
    h[8..24].copy_from_slice(&s.octets());
    h[24..40].copy_from_slice(&d.octets());
    Ok(())
}

fn write_arp(
    out: &mut [u8],
    l3: usize,
    op: u16,
    sha: MacAddr,
    spa: Ipv4Addr,
    tha: MacAddr,
    tpa: Ipv4Addr,
) -> Result<usize, XformError> {
    let b = out
        .get_mut(l3..l3 + arp::BODY_LEN)
        .ok_or(XformError::BufferTooSmall)?;
    b[0..6].copy_from_slice(&[0, 1, 8, 0, 6, 4]);
    b[6..8].copy_from_slice(&op.to_be_bytes());
    b[8..14].copy_from_slice(&sha.0);
    b[14..18].copy_from_slice(&spa.octets());
    b[18..24].copy_from_slice(&tha.0);
    b[24..28].copy_from_slice(&tpa.octets());
    Ok(l3 + arp::BODY_LEN)
}

/// Answers the ARP request in `orig` (parsed as `f`): "target IP is at `our_mac`". The
/// caller decides whether it owns the requested address.
pub fn arp_reply(
    orig: &[u8],
    f: &Frame,
    our_mac: MacAddr,
    out: &mut [u8],
) -> Result<usize, XformError> {
    let a = f.arp().ok_or(XformError::NotArpRequest)?;
    if !a.is_request() {
        return Err(XformError::NotArpRequest);
    }
    let l3 = reply_ether(orig, f, a.sender_mac, our_mac, ether::ETHERTYPE_ARP, out)?;
    write_arp(
        out,
        l3,
        arp::OP_REPLY,
        our_mac,
        a.target_ip,
        a.sender_mac,
        a.sender_ip,
    )
}

/// A broadcast ARP request "who has `target_ip`? tell `our_ip`" (untagged).
pub fn arp_request(
    out: &mut [u8],
    our_mac: MacAddr,
    our_ip: Ipv4Addr,
    target_ip: Ipv4Addr,
) -> Result<usize, XformError> {
    arp_request_unicast(out, our_mac, our_ip, MacAddr::BROADCAST, target_ip)
}

/// A unicast ARP request "who has `target_ip`? tell `our_ip`" sent straight to `target_mac`,
/// the MAC a PROBE entry re-confirms (RFC 1122 §2.3.2.1 unicast poll; Linux `arp_solicit`
/// in NUD_PROBE). The target hardware field stays zero, as the kernel sends it (untagged).
pub fn arp_request_unicast(
    out: &mut [u8],
    our_mac: MacAddr,
    our_ip: Ipv4Addr,
    target_mac: MacAddr,
    target_ip: Ipv4Addr,
) -> Result<usize, XformError> {
    let eth = out
        .get_mut(..ether::HEADER_LEN)
        .ok_or(XformError::BufferTooSmall)?;
    eth[0..6].copy_from_slice(&target_mac.0);
    eth[6..12].copy_from_slice(&our_mac.0);
    eth[12..14].copy_from_slice(&ether::ETHERTYPE_ARP.to_be_bytes());
    write_arp(
        out,
        ether::HEADER_LEN,
        arp::OP_REQUEST,
        our_mac,
        our_ip,
        MacAddr::ZERO,
        target_ip,
    )
}

/// Length of an NS or NA with one link-layer option.
const NDP_LEN: usize = icmp::NDP_FIXED_LEN + 8;

/// The variable parts of an NS / NA.
struct NdpMsg {
    src: Ipv6Addr,
    dst: Ipv6Addr,
    ty: u8,
    flags: u8,
    target: Ipv6Addr,
    opt: u8,
    mac: MacAddr,
}

fn write_ndp(out: &mut [u8], l3: usize, n: NdpMsg) -> Result<usize, XformError> {
    // RFC 4861: hop limit 255 so receivers know it was not forwarded.
    write_ip6(out, l3, n.src, n.dst, proto::ICMPV6, NDP_LEN, 255)?;
    let l4o = l3 + ipv6::HEADER_LEN;
    let m = out
        .get_mut(l4o..l4o + NDP_LEN)
        .ok_or(XformError::BufferTooSmall)?;
    m.fill(0);
    m[0] = n.ty;
    m[4] = n.flags;
    m[8..24].copy_from_slice(&n.target.octets());
    m[24] = n.opt;
    m[25] = 1;
    m[26..32].copy_from_slice(&n.mac.0);
    super::nat::icmp_checksum(out, l3, l4o, l4o + NDP_LEN, IpFamily::V6)?;
    Ok(l4o + NDP_LEN)
}

/// Answers the neighbour solicitation in `orig` (parsed as `f`) with a solicited, override
/// advertisement for its target carrying `our_mac`. A DAD probe (unspecified source) is
/// answered to all-nodes, unsolicited, as RFC 4861 7.2.4 says.
pub fn neighbor_advertisement(
    orig: &[u8],
    f: &Frame,
    our_mac: MacAddr,
    out: &mut [u8],
) -> Result<usize, XformError> {
    let n = f.ndp().ok_or(XformError::NotNeighborSolicitation)?;
    let ip = f.ip().ok_or(XformError::NotIp)?;
    let IpAddr::V6(src) = ip.src else {
        return Err(XformError::NotNeighborSolicitation);
    };
    if n.kind != NdpKind::Solicitation {
        return Err(XformError::NotNeighborSolicitation);
    }
    let (dst_ip, dst_mac, flags) = if src.is_unspecified() {
        (
            Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
            MacAddr([0x33, 0x33, 0, 0, 0, 1]),
            0x20,
        )
    } else {
        (src, n.link_addr.unwrap_or(f.src_mac), 0x60)
    };
    let l3 = reply_ether(orig, f, dst_mac, our_mac, ether::ETHERTYPE_IPV6, out)?;
    let msg = NdpMsg {
        src: n.target,
        dst: dst_ip,
        ty: icmp::V6_NEIGHBOR_ADVERT,
        flags,
        target: n.target,
        opt: icmp::NDP_OPT_TARGET_LL,
        mac: our_mac,
    };
    write_ndp(out, l3, msg)
}

/// A multicast neighbour solicitation for `target` (to its solicited-node group), from
/// `our_ip` with our source link-layer option (untagged).
pub fn neighbor_solicitation(
    out: &mut [u8],
    our_mac: MacAddr,
    our_ip: Ipv6Addr,
    target: Ipv6Addr,
) -> Result<usize, XformError> {
    let t = target.octets();
    let dst_ip = Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, t[13], t[14], t[15],
    ]);
    let dst_mac = MacAddr([0x33, 0x33, 0xff, t[13], t[14], t[15]]);
    write_solicitation(out, our_mac, our_ip, dst_mac, dst_ip, target)
}

/// A unicast neighbour solicitation for `target`, to `target` itself at `target_mac` (the
/// MAC a PROBE entry re-confirms, RFC 4861 §7.3.3), from `our_ip` with our source
/// link-layer option (untagged).
pub fn neighbor_solicitation_unicast(
    out: &mut [u8],
    our_mac: MacAddr,
    our_ip: Ipv6Addr,
    target_mac: MacAddr,
    target: Ipv6Addr,
) -> Result<usize, XformError> {
    write_solicitation(out, our_mac, our_ip, target_mac, target, target)
}

/// An NS for `target` to `dst_ip` at `dst_mac`: the multicast and the unicast form differ
/// only in where it goes.
fn write_solicitation(
    out: &mut [u8],
    our_mac: MacAddr,
    our_ip: Ipv6Addr,
    dst_mac: MacAddr,
    dst_ip: Ipv6Addr,
    target: Ipv6Addr,
) -> Result<usize, XformError> {
    let eth = out
        .get_mut(..ether::HEADER_LEN)
        .ok_or(XformError::BufferTooSmall)?;
    eth[0..6].copy_from_slice(&dst_mac.0);
    eth[6..12].copy_from_slice(&our_mac.0);
    eth[12..14].copy_from_slice(&ether::ETHERTYPE_IPV6.to_be_bytes());
    let msg = NdpMsg {
        src: our_ip,
        dst: dst_ip,
        ty: icmp::V6_NEIGHBOR_SOLICIT,
        flags: 0,
        target,
        opt: icmp::NDP_OPT_SOURCE_LL,
        mac: our_mac,
    };
    write_ndp(out, ether::HEADER_LEN, msg)
}

/// Answers the ICMP echo request (IPv4 type 8) or ICMPv6 echo request (type 128) in `orig`
/// (parsed as `f`) with an echo reply from the request's destination (the VIP) to its
/// source, Ethernet-addressed back to the request's source MAC, carrying the request's
/// identifier, sequence number and data unchanged (RFC 792, RFC 4443 §4.2). IPv4 keeps the
/// request's TOS, as Linux's `icmp_reply` does; checksums are computed in full. The caller
/// checks that the destination is its own and the request's checksum.
pub fn icmp_echo_reply(
    orig: &[u8],
    f: &Frame,
    our_mac: MacAddr,
    out: &mut [u8],
) -> Result<usize, XformError> {
    let (ip, end) = super::ip_in(orig, f)?;
    let fam = ip.family();
    let (req, rep) = match fam {
        IpFamily::V4 => (icmp::V4_ECHO_REQUEST, icmp::V4_ECHO_REPLY),
        IpFamily::V6 => (icmp::V6_ECHO_REQUEST, icmp::V6_ECHO_REPLY),
    };
    match ip.l4 {
        L4::Icmp(i) if i.ty == req && i.code == 0 && !ip.is_fragment => {}
        _ => return Err(XformError::IcmpNotAllowed),
    }
    if invalid_source(&ip.src) || multicast_dst(&ip.dst) || f.dst_mac.is_multicast() {
        return Err(XformError::IcmpNotAllowed);
    }
    let msg_in = orig.get(ip.l4_offset..end).ok_or(XformError::Malformed)?;
    if msg_in.len() < icmp::HEADER_LEN {
        return Err(XformError::Malformed);
    }
    let ethertype = match fam {
        IpFamily::V4 => ether::ETHERTYPE_IPV4,
        IpFamily::V6 => ether::ETHERTYPE_IPV6,
    };
    let ip_hdr = match fam {
        IpFamily::V4 => ipv4::MIN_HEADER_LEN,
        IpFamily::V6 => ipv6::HEADER_LEN,
    };
    let l3 = reply_ether(orig, f, f.src_mac, our_mac, ethertype, out)?;
    let l4o = l3 + ip_hdr;
    let total = ip_hdr + msg_in.len();
    if total > usize::from(u16::MAX) {
        return Err(XformError::Oversize);
    }
    let msg = out
        .get_mut(l4o..l4o + msg_in.len())
        .ok_or(XformError::BufferTooSmall)?;
    msg.copy_from_slice(msg_in);
    msg[0] = rep;
    match (ip.dst, ip.src) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            write_ip(out, l3, s.into(), d.into(), proto::ICMP, total, ip.dsfield)?;
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            write_ip6(out, l3, s, d, proto::ICMPV6, msg_in.len(), HOST_TTL)?;
        }
        _ => return Err(XformError::FamilyMismatch),
    }
    super::nat::icmp_checksum(out, l3, l4o, l4o + msg_in.len(), fam)?;
    Ok(l3 + total)
}

/// Answers the TCP segment in `orig` (parsed as `f`), addressed to a port with no listener,
/// with a reset from its destination, as RFC 793 §3.4 ("Reset Generation", state CLOSED)
/// and Linux's `tcp_v4_send_reset` / `tcp_v6_send_reset` build it: if the segment carries
/// an ACK, the reset takes its sequence number from that ACK field and is a bare RST;
/// otherwise it has sequence number zero and is RST+ACK acknowledging the segment's
/// sequence number plus its length (SYN and FIN each count one). A reset is never sent in
/// answer to a reset. Checksums are computed in full.
pub fn tcp_reset(
    orig: &[u8],
    f: &Frame,
    our_mac: MacAddr,
    out: &mut [u8],
) -> Result<usize, XformError> {
    let (ip, end) = super::ip_in(orig, f)?;
    let L4::Tcp {
        src_port,
        dst_port,
        flags,
    } = ip.l4
    else {
        return Err(XformError::UnsupportedProtocol(ip.protocol));
    };
    if flags.0 & TCP_RST != 0
        || ip.is_fragment
        || invalid_source(&ip.src)
        || multicast_dst(&ip.dst)
        || f.dst_mac.is_multicast()
    {
        return Err(XformError::IcmpNotAllowed);
    }
    let seg = orig.get(ip.l4_offset..end).ok_or(XformError::Malformed)?;
    let (Some(seq), Some(ack), Some(doff)) = (
        crate::wire::be32(seg, 4),
        crate::wire::be32(seg, 8),
        crate::wire::byte(seg, 12),
    ) else {
        return Err(XformError::Malformed);
    };
    let hdr_len = usize::from(doff >> 4) * 4;
    let data_len = seg
        .len()
        .checked_sub(hdr_len)
        .ok_or(XformError::Malformed)?;
    let (rst_seq, rst_ack, rst_flags) = if flags.0 & TCP_ACK != 0 {
        (ack, 0, TCP_RST)
    } else {
        // Sequence space used by the segment: its data, plus one for SYN and for FIN.
        let used =
            data_len as u32 + u32::from(flags.0 & TCP_SYN != 0) + u32::from(flags.0 & TCP_FIN != 0);
        (0, seq.wrapping_add(used), TCP_RST | TCP_ACK)
    };
    let fam = ip.family();
    let (ethertype, ip_hdr) = match fam {
        IpFamily::V4 => (ether::ETHERTYPE_IPV4, ipv4::MIN_HEADER_LEN),
        IpFamily::V6 => (ether::ETHERTYPE_IPV6, ipv6::HEADER_LEN),
    };
    let l3 = reply_ether(orig, f, f.src_mac, our_mac, ethertype, out)?;
    let l4o = l3 + ip_hdr;
    let t = out
        .get_mut(l4o..l4o + TCP_RST_HDR)
        .ok_or(XformError::BufferTooSmall)?;
    t.fill(0);
    t[0..2].copy_from_slice(&dst_port.to_be_bytes());
    t[2..4].copy_from_slice(&src_port.to_be_bytes());
    t[4..8].copy_from_slice(&rst_seq.to_be_bytes());
    t[8..12].copy_from_slice(&rst_ack.to_be_bytes());
    t[12] = (TCP_RST_HDR as u8 / 4) << 4;
    t[13] = rst_flags;
    let init = match (ip.dst, ip.src) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            write_ip(
                out,
                l3,
                s.into(),
                d.into(),
                proto::TCP,
                ip_hdr + TCP_RST_HDR,
                0,
            )?;
            // Generated resets are not ICMP errors: ordinary TTL, not the ICMP one.
            if let Some(h) = out.get_mut(l3..l3 + ipv4::MIN_HEADER_LEN) {
                h[ipv4::OFF_TTL] = HOST_TTL;
                h[ipv4::OFF_CHECKSUM..ipv4::OFF_CHECKSUM + 2].fill(0);
                let c = checksum::checksum(h);
                h[ipv4::OFF_CHECKSUM..ipv4::OFF_CHECKSUM + 2].copy_from_slice(&c.to_be_bytes());
            }
            checksum::pseudo_v4(s, d, proto::TCP, TCP_RST_HDR as u16)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            write_ip6(out, l3, s, d, proto::TCP, TCP_RST_HDR, HOST_TTL)?;
            checksum::pseudo_v6(s, d, proto::TCP, TCP_RST_HDR as u32)
        }
        _ => return Err(XformError::FamilyMismatch),
    };
    let t = out
        .get_mut(l4o..l4o + TCP_RST_HDR)
        .ok_or(XformError::BufferTooSmall)?;
    let c = checksum::finish(checksum::sum(t, init));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    Ok(l4o + TCP_RST_HDR)
}
