//! Test helpers: packet builders (etherparse) and an independent checksum verifier that
//! recomputes every checksum from scratch with a naive RFC 1071 sum (it shares no code with
//! the crate's incremental or 64-bit-chunked implementations).
#![allow(dead_code)]

use etherparse::{
    Icmpv4Type, Icmpv6Type, PacketBuilder, icmpv4::DestUnreachableHeader,
    icmpv6::DestUnreachableCode,
};
use std::net::IpAddr;

pub const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const DIRECTOR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xd1];
pub const RS_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x52];

/// Naive one's complement sum of 16-bit words, folded.
pub fn ones(data: &[u8], init: u32) -> u16 {
    let mut s: u64 = u64::from(init);
    let mut i = 0;
    while i + 1 < data.len() {
        s += u64::from(data[i]) << 8 | u64::from(data[i + 1]);
        i += 2;
    }
    if i < data.len() {
        s += u64::from(data[i]) << 8;
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

fn pseudo(src: &[u8], dst: &[u8], proto: u8, len: usize) -> u32 {
    let mut s = u32::from(ones(src, 0)) + u32::from(ones(dst, 0));
    s += u32::from(proto);
    s += (len as u32) >> 16;
    s += (len as u32) & 0xffff;
    s
}

/// Builds an Ethernet frame with an IPv4/IPv6 TCP/UDP packet.
#[allow(clippy::too_many_arguments)]
pub fn build(
    src: IpAddr,
    dst: IpAddr,
    tcp: bool,
    sport: u16,
    dport: u16,
    ttl: u8,
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC);
    let b = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => b.ipv4(s.octets(), d.octets(), ttl),
        (IpAddr::V6(s), IpAddr::V6(d)) => b.ipv6(s.octets(), d.octets(), ttl),
        _ => panic!("mixed families"),
    };
    let mut v = Vec::new();
    if tcp {
        b.tcp(sport, dport, 0x1234_5678, 64240)
            .syn()
            .write(&mut v, payload)
            .unwrap();
    } else {
        b.udp(sport, dport).write(&mut v, payload).unwrap();
    }
    v
}

/// Builds a bare IP packet (no Ethernet), to be quoted inside an ICMP error.
pub fn build_ip(
    src: IpAddr,
    dst: IpAddr,
    tcp: bool,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let f = build(src, dst, tcp, sport, dport, 64, payload);
    f[14..].to_vec()
}

/// An ICMP port-unreachable frame from `src` to `dst` quoting `quoted` (an IP packet).
pub fn build_icmp_error(src: IpAddr, dst: IpAddr, quoted: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(RS_MAC, DIRECTOR_MAC);
    let mut v = Vec::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => b
            .ipv4(s.octets(), d.octets(), 64)
            .icmpv4(Icmpv4Type::DestinationUnreachable(
                DestUnreachableHeader::Port,
            ))
            .write(&mut v, quoted)
            .unwrap(),
        (IpAddr::V6(s), IpAddr::V6(d)) => b
            .ipv6(s.octets(), d.octets(), 64)
            .icmpv6(Icmpv6Type::DestinationUnreachable(
                DestUnreachableCode::Port,
            ))
            .write(&mut v, quoted)
            .unwrap(),
        _ => panic!("mixed families"),
    }
    v
}

/// Verifies, by full recomputation, every checksum of the IP packet at `l3`: IPv4 header,
/// TCP / UDP / ICMP / ICMPv6 (with pseudo-headers), and for ICMP errors the quoted IPv4
/// header. Returns a description of the first bad one.
pub fn verify_ip(pkt: &[u8]) -> Result<(), String> {
    let v = pkt[0] >> 4;
    let (proto, l4, end, src, dst) = match v {
        4 => {
            let ihl = usize::from(pkt[0] & 15) * 4;
            let tl = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
            if ones(&pkt[..ihl], 0) != 0xffff {
                return Err("IPv4 header checksum".into());
            }
            (pkt[9], ihl, tl, &pkt[12..16], &pkt[16..20])
        }
        6 => {
            let pl = usize::from(u16::from_be_bytes([pkt[4], pkt[5]]));
            (pkt[6], 40, 40 + pl, &pkt[8..24], &pkt[24..40])
        }
        _ => return Err(format!("version {v}")),
    };
    let seg = &pkt[l4..end];
    match proto {
        6 | 17 | 58 => {
            if proto == 17 && v == 4 && seg[6] == 0 && seg[7] == 0 {
                return Ok(());
            }
            if proto == 17 && seg[6] == 0 && seg[7] == 0 {
                return Err("UDP/IPv6 zero checksum".into());
            }
            if ones(seg, pseudo(src, dst, proto, seg.len())) != 0xffff {
                return Err(format!("L4 proto {proto} checksum"));
            }
        }
        1 if ones(seg, 0) != 0xffff => return Err("ICMPv4 checksum".into()),
        4 | 41 => return verify_ip(seg).map_err(|e| format!("inner: {e}")),
        _ => {}
    }
    if proto == 1 && matches!(seg[0], 3 | 4 | 11 | 12) && seg.len() >= 28 {
        let q = &seg[8..];
        let ihl = usize::from(q[0] & 15) * 4;
        if q.len() >= ihl && ones(&q[..ihl], 0) != 0xffff {
            return Err("quoted IPv4 header checksum".into());
        }
    }
    Ok(())
}

/// [`verify_ip`] on an untagged Ethernet frame.
pub fn verify_frame(frame: &[u8]) -> Result<(), String> {
    verify_ip(&frame[14..])
}
