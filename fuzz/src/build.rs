//! Hand-built frames (with correct checksums) and target inputs, for the seed corpus.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::check::ones;

/// TCP flag bits.
pub const SYN: u8 = 0x02;
/// ACK.
pub const ACK: u8 = 0x10;
/// FIN.
pub const FIN: u8 = 0x01;
/// RST.
pub const RST: u8 = 0x04;

/// An Ethernet frame: MACs, VLAN IDs (802.1Q tags, outermost first), ethertype, payload.
pub fn eth(dst: [u8; 6], src: [u8; 6], vlans: &[u16], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(14 + 4 * vlans.len() + payload.len());
    v.extend_from_slice(&dst);
    v.extend_from_slice(&src);
    for (i, id) in vlans.iter().enumerate() {
        let tpid: u16 = if i == 0 && vlans.len() > 1 {
            0x88a8
        } else {
            0x8100
        };
        v.extend_from_slice(&tpid.to_be_bytes());
        v.extend_from_slice(&id.to_be_bytes());
    }
    v.extend_from_slice(&ethertype.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn pseudo_sum(src: &IpAddr, dst: &IpAddr, proto: u8, len: usize) -> u64 {
    let a = |x: &IpAddr| match x {
        IpAddr::V4(a) => u64::from(ones(&a.octets(), 0)),
        IpAddr::V6(a) => u64::from(ones(&a.octets(), 0)),
    };
    a(src) + a(dst) + u64::from(proto) + len as u64
}

/// An IP packet (IPv4 with DF, or IPv6) around `l4`, whose checksum at `csum_at` (if any)
/// is filled in with the pseudo-header.
pub fn ip(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    ttl: u8,
    mut l4: Vec<u8>,
    csum_at: Option<usize>,
) -> Vec<u8> {
    if let Some(at) = csum_at {
        let init = if proto == 1 {
            0
        } else {
            pseudo_sum(&src, &dst, proto, l4.len())
        };
        let mut c = !ones(&l4, init);
        if proto == 17 && c == 0 {
            c = 0xffff;
        }
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0x45, 0];
            h.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
            h.extend_from_slice(&[0x12, 0x34, 0x40, 0, ttl, proto, 0, 0]);
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            let c = !ones(&h, 0);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            h.extend_from_slice(&l4);
            h
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut h = vec![0x60, 0, 0, 0];
            h.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            h.extend_from_slice(&[proto, ttl]);
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            h.extend_from_slice(&l4);
            h
        }
        _ => panic!("mixed families"),
    }
}

/// A TCP segment (20-byte header) from `s` to `d`.
pub fn tcp(s: SocketAddr, d: SocketAddr, flags: u8, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&s.port().to_be_bytes());
    t.extend_from_slice(&d.port().to_be_bytes());
    t.extend_from_slice(&1000u32.to_be_bytes());
    t.extend_from_slice(&(if flags & ACK != 0 { 1u32 } else { 0 }).to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xfa, 0xf0, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    ip(s.ip(), d.ip(), 6, ttl, t, Some(16))
}

/// A UDP datagram from `s` to `d`.
pub fn udp(s: SocketAddr, d: SocketAddr, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&s.port().to_be_bytes());
    u.extend_from_slice(&d.port().to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    ip(s.ip(), d.ip(), 17, ttl, u, Some(6))
}

/// An ICMP(v6) message `ty`/`code` with 4 `rest` bytes and `body`, from `s` to `d`.
pub fn icmp(s: IpAddr, d: IpAddr, ty: u8, code: u8, rest: u32, body: &[u8], ttl: u8) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&rest.to_be_bytes());
    m.extend_from_slice(body);
    let proto = if s.is_ipv6() { 58 } else { 1 };
    ip(s, d, proto, ttl, m, Some(2))
}

/// A neighbour solicitation for `target` from `s` (with a source link-layer option unless
/// `s` is unspecified).
pub fn ns(s: Ipv6Addr, target: Ipv6Addr, mac: [u8; 6]) -> Vec<u8> {
    let t = target.octets();
    let d = Ipv6Addr::from([
        0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, t[13], t[14], t[15],
    ]);
    let mut body = target.octets().to_vec();
    if !s.is_unspecified() {
        body.extend_from_slice(&[1, 1]);
        body.extend_from_slice(&mac);
    }
    icmp(IpAddr::V6(s), IpAddr::V6(d), 135, 0, 0, &body, 255)
}

/// A neighbour advertisement (solicited, override) for `target` with its link-layer option.
pub fn na(s: Ipv6Addr, d: Ipv6Addr, target: Ipv6Addr, mac: [u8; 6]) -> Vec<u8> {
    let mut body = target.octets().to_vec();
    body.extend_from_slice(&[2, 1]);
    body.extend_from_slice(&mac);
    icmp(
        IpAddr::V6(s),
        IpAddr::V6(d),
        136,
        0,
        0x6000_0000,
        &body,
        255,
    )
}

/// An ARP body: `op` 1 request, 2 reply.
pub fn arp(op: u16, sha: [u8; 6], spa: Ipv4Addr, tha: [u8; 6], tpa: Ipv4Addr) -> Vec<u8> {
    let mut b = vec![0, 1, 8, 0, 6, 4];
    b.extend_from_slice(&op.to_be_bytes());
    b.extend_from_slice(&sha);
    b.extend_from_slice(&spa.octets());
    b.extend_from_slice(&tha);
    b.extend_from_slice(&tpa.octets());
    b
}

/// The Ethernet frame of an IP packet (ethertype by version).
pub fn eth_ip(dst: [u8; 6], src: [u8; 6], vlans: &[u16], pkt: &[u8]) -> Vec<u8> {
    let et = if pkt.first().is_some_and(|b| b >> 4 == 6) {
        0x86dd
    } else {
        0x0800
    };
    eth(dst, src, vlans, et, pkt)
}

fn addr16(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(a) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&a.octets());
            b
        }
        IpAddr::V6(a) => a.octets(),
    }
}

/// Input of the `nat` target.
pub fn nat_input(op: u8, new: SocketAddr, frame: &[u8]) -> Vec<u8> {
    let mut v = vec![op, 0];
    v.extend_from_slice(&addr16(new.ip()));
    v.extend_from_slice(&new.port().to_be_bytes());
    v.extend_from_slice(&(frame.len() as u16 / 2).to_be_bytes());
    v.extend_from_slice(frame);
    v
}

/// Input of the `tun` target.
pub fn tun_input(
    gue: Option<u16>,
    src: IpAddr,
    dst: IpAddr,
    headroom: u8,
    frame: &[u8],
) -> Vec<u8> {
    let sel = u8::from(gue.is_some()) | if src.is_ipv6() { 2 } else { 0 };
    let mut v = vec![sel];
    v.extend_from_slice(&gue.unwrap_or(6080).to_be_bytes());
    v.extend_from_slice(&50000u16.to_be_bytes());
    v.extend_from_slice(&crate::DIRECTOR_MAC_RS);
    v.extend_from_slice(&crate::RS_MAC);
    v.extend_from_slice(&addr16(src));
    v.extend_from_slice(&addr16(dst));
    v.extend_from_slice(&7u16.to_be_bytes());
    v.push(headroom);
    v.extend_from_slice(frame);
    v
}

/// Input of the `dr` target.
pub fn dr_input(sel: u8, frame: &[u8]) -> Vec<u8> {
    let mut v = vec![sel];
    v.extend_from_slice(&crate::RS_MAC);
    v.extend_from_slice(&crate::DIRECTOR_MAC_RS);
    v.extend_from_slice(&(frame.len() as u16 - 1).to_be_bytes());
    v.extend_from_slice(frame);
    v
}

/// Input of the `icmp_gen` target.
#[allow(clippy::too_many_arguments)]
pub fn icmp_gen_input(
    op: u8,
    kind: u8,
    mtu: u32,
    a1: IpAddr,
    a2: IpAddr,
    out_len: u16,
    frame: &[u8],
) -> Vec<u8> {
    let mut v = vec![op, 0, kind];
    v.extend_from_slice(&mtu.to_be_bytes());
    v.extend_from_slice(&crate::DIRECTOR_MAC);
    v.extend_from_slice(&addr16(a1));
    v.extend_from_slice(&addr16(a2));
    v.extend_from_slice(&out_len.to_be_bytes());
    v.extend_from_slice(frame);
    v
}

/// One record of the `director` target's input.
pub fn director_record(ctl: u8, dt: u8, frame: &[u8]) -> Vec<u8> {
    let mut v = vec![ctl, dt];
    v.extend_from_slice(&(frame.len() as u16).to_be_bytes());
    v.extend_from_slice(frame);
    v
}

/// The `gso` target's input: a `virtio_net_hdr`, the inner IP offset (0: not
/// encapsulated), the scratch size, the frame.
pub fn gso_input(vnet: [u8; 10], inner: u16, scratch: u16, frame: &[u8]) -> Vec<u8> {
    let mut v = vnet.to_vec();
    v.extend_from_slice(&inner.to_be_bytes());
    v.extend_from_slice(&scratch.to_be_bytes());
    v.extend_from_slice(frame);
    v
}

/// One record of the `director` target's input that goes through `process_offload`
/// (`ctl` bit 3 is set here).
pub fn director_record_offload(ctl: u8, dt: u8, vnet: [u8; 10], frame: &[u8]) -> Vec<u8> {
    let mut v = vec![ctl | 8, dt];
    v.extend_from_slice(&(frame.len() as u16).to_be_bytes());
    v.extend_from_slice(&vnet);
    v.extend_from_slice(frame);
    v
}
