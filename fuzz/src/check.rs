//! Checksum verification written independently of `lvs-forwarding` (a naive RFC 1071 sum
//! over 16-bit words), so that a wrong incremental update there cannot hide itself here.

use core::net::IpAddr;
use lvs_forwarding::wire::{Frame, L4};

/// Panic message of a bad ICMP checksum.
pub const ICMP_CSUM: &str = "ICMP checksum invalid";

/// One's complement sum of `data` as big-endian 16-bit words, plus `init`, folded.
pub fn ones(data: &[u8], init: u64) -> u16 {
    let mut s = init;
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        s += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        s += u64::from(*last) << 8;
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Sum of the TCP/UDP/ICMPv6 pseudo-header.
fn pseudo(src: &IpAddr, dst: &IpAddr, proto: u8, len: usize) -> u64 {
    let addr = |a: &IpAddr| -> u64 {
        match a {
            IpAddr::V4(a) => u64::from(ones(&a.octets(), 0)),
            IpAddr::V6(a) => u64::from(ones(&a.octets(), 0)),
        }
    };
    addr(src) + addr(dst) + u64::from(proto) + (len as u64 >> 16) + (len as u64 & 0xffff)
}

/// True if the IPv4 header at `l3` is complete and its checksum verifies.
pub fn ipv4_header_ok(buf: &[u8], l3: usize) -> bool {
    let Some(&vihl) = buf.get(l3) else {
        return false;
    };
    let hlen = usize::from(vihl & 0x0f) * 4;
    match buf.get(l3..l3 + hlen) {
        Some(h) if hlen >= 20 => ones(h, 0) == 0xffff,
        _ => false,
    }
}

/// Whether the TCP/UDP checksum of the (unfragmented) segment in `buf` verifies; `None`
/// when there is nothing to verify (not TCP/UDP, a fragment, UDP/IPv4 without checksum, or
/// offsets outside `buf`).
pub fn l4_checksum_ok(buf: &[u8], f: &Frame) -> Option<bool> {
    let ip = f.ip()?;
    if ip.is_fragment {
        return None;
    }
    let seg = buf.get(ip.l4_offset..f.l3_offset + ip.total_len)?;
    let udp = match ip.l4 {
        L4::Tcp { .. } => false,
        L4::Udp { .. } => true,
        _ => return None,
    };
    if udp && ip.src.is_ipv4() && seg.get(6..8)? == [0, 0] {
        return None;
    }
    Some(ones(seg, pseudo(&ip.src, &ip.dst, ip.protocol, seg.len())) == 0xffff)
}

/// True if the ICMP (v4) / ICMPv6 (with pseudo-header) checksum of the message verifies.
pub fn icmp_checksum_ok(buf: &[u8], f: &Frame) -> bool {
    let Some(ip) = f.ip() else {
        return false;
    };
    let Some(msg) = buf.get(ip.l4_offset..f.l3_offset + ip.total_len) else {
        return false;
    };
    let init = if ip.src.is_ipv6() {
        pseudo(&ip.src, &ip.dst, 58, msg.len())
    } else {
        0
    };
    ones(msg, init) == 0xffff
}
