//! Software GSO: cutting a super-frame into wire frames, and completing partial checksums.
//!
//! Why it exists: a director that receives GSO super-frames (up to 64 KB, see
//! [`crate::offload`]) normally hands them back to the kernel with a `virtio_net_hdr` and lets
//! it segment them. Two cases cannot do that: a VS/TUN super-frame, whose IPIP / GUE
//! encapsulation `virtio_net_hdr` cannot describe ([`Offload::needs_software_gso`]), and a
//! port that cannot send offloaded frames at all (TAP without a vnet header, AF_XDP, a plain
//! `send()`). [`segment`] does the kernel's work (`tcp_gso_segment`, `__udp_gso_segment`,
//! `ipip_gso_segment`) on a caller-given scratch buffer, one segment at a time, and hands
//! each finished wire frame to a callback, so nothing is allocated.
//!
//! Every segment gets the headers of the super-frame with: inner IPv4 total length and ID
//! (+1 per segment, as `inet_gso_segment` does) and header checksum, IPv6 payload length, TCP
//! sequence number (+payload per segment), FIN and PSH only on the last segment and CWR only
//! on the first (as `tcp_gso_segment`), UDP length per datagram (USO), a complete L4
//! checksum; for an encapsulated frame also the outer IPv4 total length, ID (+1 per segment)
//! and header checksum or IPv6 payload length, and the GUE UDP length. The GUE UDP checksum
//! is 0 over IPv4 (as [`crate::xform::encap`] sends it) and computed over IPv6, where a zero
//! UDP checksum is not allowed (RFC 8200 section 8.1).
//!
//! Legacy UDP fragmentation offload ([`GsoKind::Udp`]) is refused: it means IP fragmenting
//! one datagram, which a director has no business doing.

use core::fmt;

use crate::offload::{Gso, GsoKind, Offload, PartialCsum};
use crate::wire::{
    Frame, IpFamily, L4, ParseError, be16, be32, checksum, ipv4, ipv6, l4, parse_frame, proto,
    put16, put32,
};

/// Offset of the TCP sequence number in the TCP header (RFC 9293 section 3.1).
const TCP_OFF_SEQ: usize = 4;
/// Offset of the TCP flags byte in the TCP header (RFC 9293 section 3.1).
const TCP_OFF_FLAGS: usize = 13;
/// Flags kept on the last segment only (`tcp_gso_segment` clears FIN and PSH on the others).
const TCP_LAST_ONLY: u8 = l4::TcpFlags::FIN | l4::TcpFlags::PSH;
/// Flag kept on the first segment only (`tcp_gso_segment` clears CWR after the first).
const TCP_FIRST_ONLY: u8 = l4::TcpFlags::CWR;

/// Why a frame could not be segmented (or its checksum completed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GsoError {
    /// The (outer) frame does not parse.
    Frame(ParseError),
    /// The frame does not carry IPv4 or IPv6.
    NotIp,
    /// The inner IP packet at [`crate::offload::Encap::inner_offset`] does not parse.
    InnerIp(ParseError),
    /// The encapsulation marker does not match the outer headers (not IPIP / UDP, or the
    /// inner packet does not start or end where the outer one says).
    BadEncap,
    /// The GSO kind does not match the packet (e.g. TCPv4 GSO of a UDP or IPv6 packet).
    KindMismatch {
        /// The GSO kind.
        kind: GsoKind,
        /// The protocol found.
        protocol: u8,
    },
    /// [`GsoKind::Udp`] (IP fragmentation of a datagram) is not done here.
    UnsupportedKind(GsoKind),
    /// A GSO size of 0.
    ZeroSize,
    /// The packet is an IP fragment.
    Fragment,
    /// The partial checksum's field is not inside the frame.
    CsumOutOfBounds {
        /// `csum_start`.
        start: u16,
        /// `csum_offset`.
        offset: u16,
    },
    /// The scratch buffer cannot hold one segment.
    ScratchTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        available: usize,
    },
}

impl fmt::Display for GsoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GsoError::Frame(e) => write!(f, "super-frame does not parse: {e}"),
            GsoError::NotIp => f.write_str("frame does not carry IP"),
            GsoError::InnerIp(e) => write!(f, "inner IP packet does not parse: {e}"),
            GsoError::BadEncap => f.write_str("encapsulation marker does not match the headers"),
            GsoError::KindMismatch { kind, protocol } => {
                write!(f, "GSO kind {kind:?} on a packet of protocol {protocol}")
            }
            GsoError::UnsupportedKind(k) => write!(f, "GSO kind {k:?} is not segmented here"),
            GsoError::ZeroSize => f.write_str("GSO size 0"),
            GsoError::Fragment => f.write_str("GSO of an IP fragment"),
            GsoError::CsumOutOfBounds { start, offset } => {
                write!(
                    f,
                    "partial checksum at {start}+{offset} is outside the frame"
                )
            }
            GsoError::ScratchTooSmall { needed, available } => {
                write!(
                    f,
                    "scratch buffer of {available} bytes, a segment needs {needed}"
                )
            }
        }
    }
}

impl core::error::Error for GsoError {}

/// Completes the partial checksum `csum` of `frame` in software, as the kernel would
/// (`skb_checksum_help`): sum from `csum.start` to the end of the frame, field included.
pub fn complete_csum(frame: &mut [u8], csum: PartialCsum) -> Result<(), GsoError> {
    checksum::complete_partial(frame, usize::from(csum.start), usize::from(csum.offset)).ok_or(
        GsoError::CsumOutOfBounds {
            start: csum.start,
            offset: csum.offset,
        },
    )
}

/// The outer headers of an encapsulated super-frame.
#[derive(Clone, Copy, Debug)]
struct Outer {
    /// Offset of the outer IP header.
    l3: usize,
    family: IpFamily,
    /// Offset of the GUE UDP header, if GUE.
    udp: Option<usize>,
}

/// Where everything is in a super-frame.
#[derive(Clone, Copy, Debug)]
struct Layout {
    outer: Option<Outer>,
    /// Offset of the (inner) IP header.
    l3: usize,
    family: IpFamily,
    /// Offset of the TCP/UDP header.
    l4: usize,
    /// Offset of the payload: every byte before it is replicated in each segment.
    payload: usize,
    /// End of the (inner) IP packet.
    end: usize,
    tcp: bool,
}

/// The inner IP packet starting at `l3`: family, L4 offset, end, protocol.
fn inner_ip(frame: &[u8], l3: usize) -> Result<(IpFamily, usize, usize, u8), GsoError> {
    let pkt = frame.get(l3..).ok_or(GsoError::BadEncap)?;
    match pkt.first().map(|b| b >> 4) {
        Some(4) => {
            let h = ipv4::Ipv4Header::parse(pkt).map_err(GsoError::InnerIp)?;
            if h.is_fragment() {
                return Err(GsoError::Fragment);
            }
            let end = l3 + usize::from(h.total_len);
            Ok((IpFamily::V4, l3 + h.header_len, end, h.protocol))
        }
        Some(6) => {
            let h = ipv6::Ipv6Header::parse(pkt).map_err(GsoError::InnerIp)?;
            if h.is_fragment {
                return Err(GsoError::Fragment);
            }
            Ok((
                IpFamily::V6,
                l3 + h.header_len,
                l3 + h.total_len(),
                h.protocol,
            ))
        }
        Some(v) => Err(GsoError::InnerIp(ParseError::BadVersion(v))),
        None => Err(GsoError::BadEncap),
    }
}

/// Length of the L4 header at `l4` (TCP data offset, or 8 for UDP), checked against `end`.
fn l4_header_len(frame: &[u8], l4: usize, end: usize, tcp: bool) -> Result<usize, GsoError> {
    let seg = frame.get(l4..end).ok_or(GsoError::BadEncap)?;
    if tcp {
        l4::TcpHeader::parse(seg)
            .map(|h| h.header_len)
            .map_err(GsoError::InnerIp)
    } else {
        l4::UdpHeader::parse(seg)
            .map(|_| l4::UDP_HEADER_LEN)
            .map_err(GsoError::InnerIp)
    }
}

fn layout(frame: &[u8], offload: &Offload, gso: &Gso) -> Result<Layout, GsoError> {
    let f = parse_frame(frame).map_err(GsoError::Frame)?;
    let ip = f.ip().ok_or(GsoError::NotIp)?;
    if ip.is_fragment {
        return Err(GsoError::Fragment);
    }
    let outer_end = f.l3_offset + ip.total_len;
    let (outer, l3, family, l4o, end, protocol) = match offload.encap {
        None => (
            None,
            f.l3_offset,
            ip.family(),
            ip.l4_offset,
            outer_end,
            ip.protocol,
        ),
        Some(e) => {
            let inner = usize::from(e.inner_offset);
            let udp = match ip.l4 {
                L4::Udp { .. } if inner >= ip.l4_offset + l4::UDP_HEADER_LEN => Some(ip.l4_offset),
                _ if (ip.protocol == proto::IPIP || ip.protocol == proto::IPV6)
                    && inner == ip.l4_offset =>
                {
                    None
                }
                _ => return Err(GsoError::BadEncap),
            };
            let (family, l4o, end, protocol) = inner_ip(frame, inner)?;
            if end != outer_end {
                return Err(GsoError::BadEncap);
            }
            let outer = Outer {
                l3: f.l3_offset,
                family: ip.family(),
                udp,
            };
            (Some(outer), inner, family, l4o, end, protocol)
        }
    };
    let tcp = match (gso.kind, family, protocol) {
        (GsoKind::TcpV4, IpFamily::V4, proto::TCP) | (GsoKind::TcpV6, IpFamily::V6, proto::TCP) => {
            true
        }
        (GsoKind::UdpL4, _, proto::UDP) => false,
        (GsoKind::Udp, _, _) => return Err(GsoError::UnsupportedKind(gso.kind)),
        (kind, _, protocol) => return Err(GsoError::KindMismatch { kind, protocol }),
    };
    let payload = l4o + l4_header_len(frame, l4o, end, tcp)?;
    Ok(Layout {
        outer,
        l3,
        family,
        l4: l4o,
        payload,
        end,
        tcp,
    })
}

/// The IP length of the first segment of the GSO frame `frame` (parsed as `f`, not
/// encapsulated): IP and L4 headers plus at most `gso.size` payload bytes. This is what
/// an MTU check must look at instead of the super-frame's length.
pub fn segment_ip_len(frame: &[u8], f: &Frame, gso: &Gso) -> Result<usize, GsoError> {
    let ip = f.ip().ok_or(GsoError::NotIp)?;
    let tcp = match ip.l4 {
        L4::Tcp { .. } => true,
        L4::Udp { .. } => false,
        _ => {
            return Err(GsoError::KindMismatch {
                kind: gso.kind,
                protocol: ip.protocol,
            });
        }
    };
    let end = f.l3_offset + ip.total_len;
    seg_ip_len(frame, f.l3_offset, ip.l4_offset, end, tcp, gso.size)
}

/// [`segment_ip_len`] from offsets: IP header at `l3`, TCP/UDP header at `l4o`, IP end.
pub(crate) fn seg_ip_len(
    frame: &[u8],
    l3: usize,
    l4o: usize,
    end: usize,
    tcp: bool,
    size: u16,
) -> Result<usize, GsoError> {
    let payload = l4o + l4_header_len(frame, l4o, end, tcp)?;
    let seg_payload = end.saturating_sub(payload).min(usize::from(size));
    Ok(payload.saturating_sub(l3) + seg_payload)
}

/// Cuts the frame described by `offload` into wire frames and calls `emit` with each, in
/// order; returns how many were emitted.
///
/// * `offload.gso` set: a TCP (v4 / v6) or UDP_L4 super-frame, plain or, with
///   `offload.encap`, behind IPIP (4in4, 6in4, 4in6, 6in6) or GUE outer headers. Segments
///   carry at most `gso.size` payload bytes each (a frame with no payload gives one
///   segment). `scratch` must hold the headers plus `gso.size` bytes.
/// * No `gso` but a partial checksum: one frame, copied to `scratch` and completed.
/// * Neither: `frame` itself, unchanged.
///
/// Everything is validated before the first `emit`: an `Err` means nothing was emitted.
/// Ethernet padding after the IP packet is not copied into segments.
pub fn segment(
    frame: &[u8],
    offload: &Offload,
    scratch: &mut [u8],
    emit: &mut dyn FnMut(&[u8]),
) -> Result<usize, GsoError> {
    let Some(gso) = offload.gso else {
        let Some(c) = offload.csum else {
            emit(frame);
            return Ok(1);
        };
        let available = scratch.len();
        let out = scratch
            .get_mut(..frame.len())
            .ok_or(GsoError::ScratchTooSmall {
                needed: frame.len(),
                available,
            })?;
        out.copy_from_slice(frame);
        complete_csum(out, c)?;
        emit(out);
        return Ok(1);
    };
    if gso.size == 0 {
        return Err(GsoError::ZeroSize);
    }
    let lay = layout(frame, offload, &gso)?;
    let size = usize::from(gso.size);
    let payload = frame.get(lay.payload..lay.end).ok_or(GsoError::BadEncap)?;
    let headers = frame.get(..lay.payload).ok_or(GsoError::BadEncap)?;
    let needed = lay.payload + payload.len().min(size);
    if scratch.len() < needed {
        return Err(GsoError::ScratchTooSmall {
            needed,
            available: scratch.len(),
        });
    }
    let count = payload.len().div_ceil(size).max(1);
    let m = GsoError::BadEncap;
    // The per-segment values that change: read once from the super-frame.
    let inner_id = match lay.family {
        IpFamily::V4 => be16(frame, lay.l3 + ipv4::OFF_ID).ok_or(m)?,
        IpFamily::V6 => 0,
    };
    let outer_id = match lay.outer {
        Some(Outer {
            l3,
            family: IpFamily::V4,
            ..
        }) => be16(frame, l3 + ipv4::OFF_ID).ok_or(m)?,
        _ => 0,
    };
    let seq = if lay.tcp {
        be32(frame, lay.l4 + TCP_OFF_SEQ).ok_or(m)?
    } else {
        0
    };
    let mut chunks = payload.chunks(size);
    for i in 0..count {
        let chunk = chunks.next().unwrap_or(&[]);
        let len = lay.payload + chunk.len();
        let seg = scratch.get_mut(..len).ok_or(m)?;
        seg.get_mut(..lay.payload)
            .ok_or(m)?
            .copy_from_slice(headers);
        seg.get_mut(lay.payload..).ok_or(m)?.copy_from_slice(chunk);
        let n = i as u32;
        fix_ip(seg, lay.l3, lay.family, inner_id.wrapping_add(n as u16))?;
        if lay.tcp {
            put32(
                seg,
                lay.l4 + TCP_OFF_SEQ,
                seq.wrapping_add(n.wrapping_mul(size as u32)),
            )
            .ok_or(m)?;
            let fl = seg.get_mut(lay.l4 + TCP_OFF_FLAGS).ok_or(m)?;
            if i != 0 {
                *fl &= !TCP_FIRST_ONLY;
            }
            if i + 1 != count {
                *fl &= !TCP_LAST_ONLY;
            }
        } else {
            put16(seg, lay.l4 + l4::UDP_OFF_LEN, (len - lay.l4) as u16).ok_or(m)?;
        }
        l4_checksum(seg, lay.l3, lay.l4, lay.family, lay.tcp)?;
        if let Some(o) = lay.outer {
            fix_ip(seg, o.l3, o.family, outer_id.wrapping_add(n as u16))?;
            if let Some(u) = o.udp {
                put16(seg, u + l4::UDP_OFF_LEN, (len - u) as u16).ok_or(m)?;
                put16(seg, u + l4::UDP_OFF_CHECKSUM, 0).ok_or(m)?;
                if o.family == IpFamily::V6 {
                    l4_checksum(seg, o.l3, u, IpFamily::V6, false)?;
                }
            }
        }
        emit(seg);
    }
    Ok(count)
}

/// Sets the length (and, for IPv4, the ID and header checksum) of the IP header at `l3` for
/// a packet that ends at the end of `seg`.
fn fix_ip(seg: &mut [u8], l3: usize, family: IpFamily, id: u16) -> Result<(), GsoError> {
    let m = GsoError::BadEncap;
    let total = seg.len().checked_sub(l3).ok_or(m)?;
    match family {
        IpFamily::V4 => {
            let hlen = usize::from(seg.get(l3).ok_or(m)? & 0x0f) * 4;
            put16(seg, l3 + ipv4::OFF_TOTAL_LEN, total as u16).ok_or(m)?;
            put16(seg, l3 + ipv4::OFF_ID, id).ok_or(m)?;
            put16(seg, l3 + ipv4::OFF_CHECKSUM, 0).ok_or(m)?;
            let c = checksum::checksum(seg.get(l3..l3 + hlen).ok_or(m)?);
            put16(seg, l3 + ipv4::OFF_CHECKSUM, c).ok_or(m)
        }
        IpFamily::V6 => {
            let pl = total.checked_sub(ipv6::HEADER_LEN).ok_or(m)?;
            put16(seg, l3 + ipv6::OFF_PAYLOAD_LEN, pl as u16).ok_or(m)
        }
    }
}

/// Writes the complete TCP / UDP checksum of the L4 segment at `l4` (to the end of `seg`),
/// with the pseudo-header of the IP header at `l3`.
fn l4_checksum(
    seg: &mut [u8],
    l3: usize,
    l4o: usize,
    family: IpFamily,
    tcp: bool,
) -> Result<(), GsoError> {
    let m = GsoError::BadEncap;
    let l4_len = seg.len().checked_sub(l4o).ok_or(m)?;
    let (off, protocol) = if tcp {
        (l4::TCP_OFF_CHECKSUM, proto::TCP)
    } else {
        (l4::UDP_OFF_CHECKSUM, proto::UDP)
    };
    put16(seg, l4o + off, 0).ok_or(m)?;
    let init = match family {
        IpFamily::V4 => {
            let s = be32(seg, l3 + ipv4::OFF_SRC).ok_or(m)?;
            let d = be32(seg, l3 + ipv4::OFF_DST).ok_or(m)?;
            checksum::pseudo_v4(s.into(), d.into(), protocol, l4_len as u16)
        }
        IpFamily::V6 => {
            let a = |o: usize| -> Result<[u8; 16], GsoError> {
                seg.get(o..o + 16)
                    .and_then(|s| s.try_into().ok())
                    .ok_or(GsoError::BadEncap)
            };
            let (s, d) = (a(l3 + ipv6::OFF_SRC)?, a(l3 + ipv6::OFF_DST)?);
            checksum::pseudo_v6(s.into(), d.into(), protocol, l4_len as u32)
        }
    };
    let mut c = checksum::finish(checksum::sum(seg.get(l4o..).ok_or(m)?, init));
    if !tcp && c == 0 {
        // RFC 768: a computed UDP checksum of 0 is sent as all ones.
        c = 0xffff;
    }
    put16(seg, l4o + off, c).ok_or(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_gso_passes_through_or_completes() {
        let frame = [1u8, 2, 3, 4];
        let mut scratch = [0u8; 8];
        let mut seen = 0;
        let n = segment(&frame, &Offload::NONE, &mut scratch, &mut |s| {
            assert_eq!(s, &frame);
            seen += 1;
        })
        .unwrap();
        assert_eq!((n, seen), (1, 1));
        let o = Offload {
            csum: Some(PartialCsum {
                start: 0,
                offset: 4,
            }),
            ..Offload::NONE
        };
        assert_eq!(
            segment(&frame, &o, &mut scratch, &mut |_| panic!()),
            Err(GsoError::CsumOutOfBounds {
                start: 0,
                offset: 4
            })
        );
        let o = Offload {
            gso: Some(Gso {
                kind: GsoKind::TcpV4,
                size: 0,
                hdr_len: 0,
                ecn: false,
            }),
            ..Offload::NONE
        };
        assert_eq!(
            segment(&frame, &o, &mut scratch, &mut |_| panic!()),
            Err(GsoError::ZeroSize)
        );
    }
}
