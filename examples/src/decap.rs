//! Outer-header parsing for the VS/TUN real-server side (`lvs-ipip-decap`).
//!
//! Why in user space: a VS/TUN director sends each packet to the real server inside an outer
//! IP header (IPIP, 6in4, ip6ip6, 4in6, or GUE over UDP). Linux real servers normally strip it
//! with the `ipip`/`ip6_tunnel`/`fou` modules; where those are missing, a program reads the
//! tunnelled frames and writes the inner packet into a TUN device, and the kernel then handles
//! it as if it had arrived directly. This module is the pure part of that: given a frame, find
//! the inner packet. It never panics and never allocates; every length is checked against the
//! bytes present, and anything unexpected is an [`Ignored`] reason the caller can count.
//!
//! Not handled on purpose: outer fragments (the kernel would have to reassemble them first),
//! GUE control messages, and IPv6 extension headers other than Hop-by-Hop and Destination
//! Options.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::ops::Range;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
/// IP protocol numbers (IANA).
const PROTO_IPIP: u8 = 4;
const PROTO_UDP: u8 = 17;
const PROTO_IPV6: u8 = 41;
const PROTO_HOPOPTS: u8 = 0;
const PROTO_DSTOPTS: u8 = 60;
/// IPv6 extension headers skipped at most before giving up.
const MAX_EXT_HEADERS: usize = 4;

/// The kind of tunnel a packet arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encap {
    /// IPv4 in IPv4 (protocol 4).
    Ipip,
    /// IPv6 in IPv4 (protocol 41).
    SixIn4,
    /// IPv6 in IPv6 (next header 41).
    Ip6Ip6,
    /// IPv4 in IPv6 (next header 4).
    FourIn6,
    /// Generic UDP Encapsulation (either outer family).
    Gue,
}

/// A tunnelled packet found in a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decapsulated {
    /// The tunnel kind.
    pub encap: Encap,
    /// Outer source address (the director).
    pub outer_src: IpAddr,
    /// Outer destination address (this real server).
    pub outer_dst: IpAddr,
    /// Where the inner IP packet lies in the frame (exactly its own total length).
    pub inner: Range<usize>,
}

/// Why a frame was not decapsulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Ignored {
    /// Shorter than an Ethernet header.
    ShortFrame,
    /// Not IPv4 or IPv6 (carries this EtherType).
    NotIp(u16),
    /// Outer IP header malformed or its lengths disagree with the frame.
    BadOuter,
    /// Outer packet is a fragment.
    Fragment,
    /// Outer packet is not a tunnel (carries this protocol).
    NotTunnel(u8),
    /// UDP to another port than the GUE port.
    OtherUdpPort(u16),
    /// UDP or GUE header malformed.
    BadGue,
    /// GUE control message.
    GueControl,
    /// GUE data message carrying something other than IPv4 or IPv6.
    GueProto(u8),
    /// Inner packet malformed or of another IP version than the tunnel says.
    BadInner,
}

impl Ignored {
    /// A short, stable name for counters and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ShortFrame => "short-frame",
            Self::NotIp(_) => "not-ip",
            Self::BadOuter => "bad-outer",
            Self::Fragment => "fragment",
            Self::NotTunnel(_) => "not-tunnel",
            Self::OtherUdpPort(_) => "other-udp-port",
            Self::BadGue => "bad-gue",
            Self::GueControl => "gue-control",
            Self::GueProto(_) => "gue-proto",
            Self::BadInner => "bad-inner",
        }
    }
}

impl fmt::Display for Ignored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotIp(t) => write!(f, "not-ip (ethertype {t:#06x})"),
            Self::NotTunnel(p) => write!(f, "not-tunnel (protocol {p})"),
            Self::OtherUdpPort(p) => write!(f, "other-udp-port ({p})"),
            Self::GueProto(p) => write!(f, "gue-proto ({p})"),
            other => f.write_str(other.name()),
        }
    }
}

fn be16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(off)?, *b.get(off + 1)?]))
}

/// Finds the inner packet of a tunnelled Ethernet frame. `gue_port` enables GUE on that UDP
/// destination port. One 802.1Q or 802.1ad tag is skipped.
pub fn decapsulate_frame(frame: &[u8], gue_port: Option<u16>) -> Result<Decapsulated, Ignored> {
    let mut ethertype = be16(frame, 12).ok_or(Ignored::ShortFrame)?;
    let mut l3 = 14;
    if ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
        ethertype = be16(frame, 16).ok_or(Ignored::ShortFrame)?;
        l3 = 18;
    }
    match ethertype {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => decapsulate_ip(frame, l3, gue_port),
        other => Err(Ignored::NotIp(other)),
    }
}

/// Finds the inner packet of a tunnelled IP packet starting at `frame[l3..]`. Returned ranges
/// index `frame`.
pub fn decapsulate_ip(
    frame: &[u8],
    l3: usize,
    gue_port: Option<u16>,
) -> Result<Decapsulated, Ignored> {
    let ip = frame.get(l3..).ok_or(Ignored::BadOuter)?;
    let (proto, payload, src, dst) = match ip.first().map(|b| b >> 4) {
        Some(4) => parse_outer_v4(ip)?,
        Some(6) => parse_outer_v6(ip)?,
        _ => return Err(Ignored::BadOuter),
    };
    let v6_outer = matches!(src, IpAddr::V6(_));
    let (encap, inner) = match proto {
        PROTO_IPIP => (
            if v6_outer {
                Encap::FourIn6
            } else {
                Encap::Ipip
            },
            payload,
        ),
        PROTO_IPV6 => (
            if v6_outer {
                Encap::Ip6Ip6
            } else {
                Encap::SixIn4
            },
            payload,
        ),
        PROTO_UDP => (Encap::Gue, parse_gue(ip, payload, gue_port)?),
        other => return Err(Ignored::NotTunnel(other)),
    };
    let want_version = match (encap, proto) {
        (Encap::Ipip | Encap::FourIn6, _) => Some(4),
        (Encap::SixIn4 | Encap::Ip6Ip6, _) => Some(6),
        _ => None,
    };
    let inner = inner_packet(ip, inner, want_version)?;
    Ok(Decapsulated {
        encap,
        outer_src: src,
        outer_dst: dst,
        inner: l3 + inner.start..l3 + inner.end,
    })
}

/// Parses an outer IPv4 header: (protocol, payload range, source, destination).
fn parse_outer_v4(ip: &[u8]) -> Result<(u8, Range<usize>, IpAddr, IpAddr), Ignored> {
    if ip.len() < 20 {
        return Err(Ignored::BadOuter);
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ihl < 20 || total < ihl || total > ip.len() {
        return Err(Ignored::BadOuter);
    }
    let frag = u16::from_be_bytes([ip[6], ip[7]]);
    if frag & 0x3fff != 0 {
        return Err(Ignored::Fragment);
    }
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    Ok((ip[9], ihl..total, src.into(), dst.into()))
}

/// Parses an outer IPv6 header and skips Hop-by-Hop and Destination Options headers.
fn parse_outer_v6(ip: &[u8]) -> Result<(u8, Range<usize>, IpAddr, IpAddr), Ignored> {
    if ip.len() < 40 {
        return Err(Ignored::BadOuter);
    }
    let total = 40 + usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    if total > ip.len() {
        return Err(Ignored::BadOuter);
    }
    let addr = |off: usize| {
        let mut a = [0u8; 16];
        a.copy_from_slice(&ip[off..off + 16]);
        IpAddr::V6(Ipv6Addr::from(a))
    };
    let mut next = ip[6];
    let mut off = 40;
    for _ in 0..MAX_EXT_HEADERS {
        if next != PROTO_HOPOPTS && next != PROTO_DSTOPTS {
            break;
        }
        let nh = *ip.get(off).ok_or(Ignored::BadOuter)?;
        let len = (usize::from(*ip.get(off + 1).ok_or(Ignored::BadOuter)?) + 1) * 8;
        if off + len > total {
            return Err(Ignored::BadOuter);
        }
        next = nh;
        off += len;
    }
    if next == 44 {
        return Err(Ignored::Fragment);
    }
    if next == PROTO_HOPOPTS || next == PROTO_DSTOPTS {
        return Err(Ignored::BadOuter);
    }
    Ok((next, off..total, addr(8), addr(24)))
}

/// Checks the UDP and GUE headers in `ip[udp]` and returns the range of the inner packet.
fn parse_gue(ip: &[u8], udp: Range<usize>, gue_port: Option<u16>) -> Result<Range<usize>, Ignored> {
    let u = &ip[udp.clone()];
    let dport = be16(u, 2).ok_or(Ignored::BadGue)?;
    if gue_port != Some(dport) {
        return Err(Ignored::OtherUdpPort(dport));
    }
    let ulen = usize::from(be16(u, 4).ok_or(Ignored::BadGue)?);
    if ulen < 8 + 4 || ulen > u.len() {
        return Err(Ignored::BadGue);
    }
    let g = &u[8..ulen];
    let start = udp.start + 8;
    let end = udp.start + ulen;
    match g[0] >> 6 {
        // Version 0: C bit, Hlen (32-bit words of options), proto/ctype, flags.
        0 => {
            if g[0] & 0x20 != 0 {
                return Err(Ignored::GueControl);
            }
            let hlen = 4 + usize::from(g[0] & 0x1f) * 4;
            if hlen > g.len() {
                return Err(Ignored::BadGue);
            }
            match g[1] {
                PROTO_IPIP | PROTO_IPV6 => Ok(start + hlen..end),
                other => Err(Ignored::GueProto(other)),
            }
        }
        // Version 1: no GUE header, the payload is the IP packet itself (its version nibble
        // 4 = 0100 or 6 = 0110 is what makes the GUE version bits read 01).
        1 => Ok(start..end),
        _ => Err(Ignored::BadGue),
    }
}

/// Validates the inner packet in `ip[r]` and trims it to its own total length.
fn inner_packet(ip: &[u8], r: Range<usize>, want: Option<u8>) -> Result<Range<usize>, Ignored> {
    let p = ip.get(r.clone()).ok_or(Ignored::BadInner)?;
    let version = p.first().map(|b| b >> 4).ok_or(Ignored::BadInner)?;
    if want.is_some_and(|w| w != version) {
        return Err(Ignored::BadInner);
    }
    let len = match version {
        4 => {
            if p.len() < 20 {
                return Err(Ignored::BadInner);
            }
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
            if ihl < 20 || total < ihl {
                return Err(Ignored::BadInner);
            }
            total
        }
        6 => {
            if p.len() < 40 {
                return Err(Ignored::BadInner);
            }
            40 + usize::from(u16::from_be_bytes([p[4], p[5]]))
        }
        _ => return Err(Ignored::BadInner),
    };
    if len > p.len() {
        return Err(Ignored::BadInner);
    }
    Ok(r.start..r.start + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut p = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0];
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(payload);
        p
    }

    fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        p.extend_from_slice(&[next, 64]);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(payload);
        p
    }

    fn udp(dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut u = vec![0x9c, 0x40];
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(payload);
        u
    }

    fn ether(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn inner_v4() -> Vec<u8> {
        ipv4(17, [192, 0, 2, 1], [203, 0, 113, 10], &udp(5353, b"hello"))
    }

    fn inner_v6() -> Vec<u8> {
        ipv6(17, &udp(5353, b"hello6"))
    }

    fn outer_v4(proto: u8, payload: &[u8]) -> Vec<u8> {
        ether(
            ETHERTYPE_IPV4,
            &ipv4(proto, [198, 51, 100, 1], [198, 51, 100, 2], payload),
        )
    }

    fn check(frame: &[u8], gue: Option<u16>, encap: Encap, inner: &[u8]) {
        let d = decapsulate_frame(frame, gue).unwrap();
        assert_eq!(d.encap, encap);
        assert_eq!(&frame[d.inner.clone()], inner);
    }

    #[test]
    fn all_tunnel_kinds() {
        let v4 = inner_v4();
        let v6 = inner_v6();
        check(&outer_v4(4, &v4), None, Encap::Ipip, &v4);
        check(&outer_v4(41, &v6), None, Encap::SixIn4, &v6);
        check(
            &ether(ETHERTYPE_IPV6, &ipv6(41, &v6)),
            None,
            Encap::Ip6Ip6,
            &v6,
        );
        check(
            &ether(ETHERTYPE_IPV6, &ipv6(4, &v4)),
            None,
            Encap::FourIn6,
            &v4,
        );
        let mut gue = vec![0, 4, 0, 0];
        gue.extend_from_slice(&v4);
        check(&outer_v4(17, &udp(6080, &gue)), Some(6080), Encap::Gue, &v4);
        let mut gue6 = vec![0, 41, 0, 0];
        gue6.extend_from_slice(&v6);
        let f = ether(ETHERTYPE_IPV6, &ipv6(17, &udp(6080, &gue6)));
        check(&f, Some(6080), Encap::Gue, &v6);
        // GUE with one word of options, and GUE version 1 (direct IP).
        let mut gue_opt = vec![1, 4, 0, 0, 0xde, 0xad, 0xbe, 0xef];
        gue_opt.extend_from_slice(&v4);
        check(
            &outer_v4(17, &udp(6080, &gue_opt)),
            Some(6080),
            Encap::Gue,
            &v4,
        );
        check(&outer_v4(17, &udp(6080, &v4)), Some(6080), Encap::Gue, &v4);
    }

    #[test]
    fn vlan_padding_and_addresses() {
        let v4 = inner_v4();
        let mut f = outer_v4(4, &v4);
        f.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
        f.extend_from_slice(&[0; 7]);
        let d = decapsulate_frame(&f, None).unwrap();
        assert_eq!(&f[d.inner.clone()], &v4[..]);
        assert_eq!(d.outer_src, IpAddr::from([198, 51, 100, 1]));
        assert_eq!(d.outer_dst, IpAddr::from([198, 51, 100, 2]));
    }

    #[test]
    fn ignores_what_is_not_a_tunnel() {
        let v4 = inner_v4();
        assert_eq!(decapsulate_frame(&[0; 10], None), Err(Ignored::ShortFrame));
        assert_eq!(
            decapsulate_frame(&ether(0x0806, &[0; 28]), None),
            Err(Ignored::NotIp(0x0806))
        );
        assert_eq!(
            decapsulate_frame(&outer_v4(6, &[0; 20]), None),
            Err(Ignored::NotTunnel(6))
        );
        assert_eq!(
            decapsulate_frame(&outer_v4(17, &udp(53, &v4)), Some(6080)),
            Err(Ignored::OtherUdpPort(53))
        );
        assert_eq!(
            decapsulate_frame(&outer_v4(17, &udp(6080, &v4)), None),
            Err(Ignored::OtherUdpPort(6080))
        );
        let mut ctl = vec![0x20, 0, 0, 0];
        ctl.extend_from_slice(&v4);
        assert_eq!(
            decapsulate_frame(&outer_v4(17, &udp(6080, &ctl)), Some(6080)),
            Err(Ignored::GueControl)
        );
        let mut other = vec![0, 47, 0, 0];
        other.extend_from_slice(&v4);
        assert_eq!(
            decapsulate_frame(&outer_v4(17, &udp(6080, &other)), Some(6080)),
            Err(Ignored::GueProto(47))
        );
        let mut frag = outer_v4(4, &v4);
        frag[14 + 6] = 0x20; // more fragments
        assert_eq!(decapsulate_frame(&frag, None), Err(Ignored::Fragment));
        // IPIP whose inner packet is IPv6.
        assert_eq!(
            decapsulate_frame(&outer_v4(4, &inner_v6()), None),
            Err(Ignored::BadInner)
        );
        // Inner total length beyond the outer payload.
        let mut long = v4.clone();
        long[3] = long[3].wrapping_add(1);
        assert_eq!(
            decapsulate_frame(&outer_v4(4, &long), None),
            Err(Ignored::BadInner)
        );
        // Outer total length beyond the frame.
        let mut f = outer_v4(4, &v4);
        f[14 + 3] = f[14 + 3].wrapping_add(1);
        assert_eq!(decapsulate_frame(&f, None), Err(Ignored::BadOuter));
    }

    #[test]
    fn never_panics_on_truncations_or_byte_flips() {
        let v4 = inner_v4();
        let v6 = inner_v6();
        let mut gue = vec![0, 4, 0, 0];
        gue.extend_from_slice(&v4);
        let frames = [
            outer_v4(4, &v4),
            outer_v4(41, &v6),
            ether(ETHERTYPE_IPV6, &ipv6(41, &v6)),
            ether(ETHERTYPE_IPV6, &ipv6(0, &[4, 0, 0, 0, 0, 0, 0, 0])),
            outer_v4(17, &udp(6080, &gue)),
        ];
        for f in &frames {
            for cut in 0..=f.len() {
                let _ = decapsulate_frame(&f[..cut], Some(6080));
            }
            for i in 0..f.len() {
                for v in [0x00, 0x0f, 0x45, 0x60, 0x80, 0xff] {
                    let mut g = f.clone();
                    g[i] = v;
                    if let Ok(d) = decapsulate_frame(&g, Some(6080)) {
                        assert!(d.inner.end <= g.len() && d.inner.start <= d.inner.end);
                    }
                }
            }
        }
    }
}
