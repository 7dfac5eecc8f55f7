//! Fuzz target bodies for `lvs-forwarding`.
//!
//! Each target in `fuzz_targets/` is a one-line call into a function here, so that a stable
//! `cargo test` (`tests/replay.rs`) can run the committed seeds and every crash found through
//! exactly the same code. The bodies never return errors: an input that breaks an invariant
//! panics (which libFuzzer reports as a crash).
//!
//! Inputs are decoded with [`Input`], a cursor that takes fixed-size fields off the front of
//! the fuzzer's bytes (reading zeros once the bytes run out) and hands the rest over as the
//! frame. The layouts are documented on each body and produced by [`build`] for the seeds.

pub mod build;
pub mod check;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use check::{ICMP_CSUM, icmp_checksum_ok, ipv4_header_ok, l4_checksum_ok};
use lvs_core::Instant;
use lvs_forwarding::neigh::NeighState;
use lvs_forwarding::offload::{Encap, Offload};
use lvs_forwarding::wire::{Frame, IpFamily, NdpKind, parse_frame};
use lvs_forwarding::wire::{ipv4::Ipv4Header, ipv6::Ipv6Header};
use lvs_forwarding::xform::{self, IcmpErrorKind, MAX_HEADROOM, TunnelKind, TunnelParams};
use lvs_forwarding::{Director, DirectorConfig, IpCidr, Link, MacAddr, Verdict, gso};

/// A cursor over the fuzzer's bytes. Reads past the end yield zeros.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// True when every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next `n` bytes (fewer at the end).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }

    /// A fixed-size field, zero-padded at the end of the input.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        let t = self.take(N);
        a[..t.len()].copy_from_slice(t);
        a
    }

    /// One byte.
    pub fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }

    /// A big-endian u16.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.array())
    }

    /// A big-endian u32.
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.array())
    }

    /// A MAC address.
    pub fn mac(&mut self) -> MacAddr {
        MacAddr(self.array())
    }

    /// 16 address bytes: an IPv6 address, or an IPv4 one from the first 4 bytes.
    pub fn addr(&mut self, v6: bool) -> IpAddr {
        let a: [u8; 16] = self.array();
        if v6 {
            IpAddr::V6(Ipv6Addr::from(a))
        } else {
            IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
        }
    }

    /// Everything left.
    pub fn rest(self) -> &'a [u8] {
        self.data
    }
}

fn is_v6(f: &Frame) -> bool {
    f.ip().is_some_and(|i| i.family() == IpFamily::V6)
}

/// Picks the family of an address for a frame: the frame's own, unless `sel` asks for the
/// other one (1 time in 16) to exercise `FamilyMismatch`.
fn pick_v6(f: &Frame, sel: u8) -> bool {
    is_v6(f) ^ (sel & 0x0f == 0x0f)
}

/// The IP packet bytes of a parsed frame.
fn ip_bytes<'b>(buf: &'b [u8], f: &Frame) -> &'b [u8] {
    let ip = f.ip().expect("IP frame");
    &buf[f.l3_offset..f.l3_offset + ip.total_len]
}

/// Asserts that the IP packets `before` and `after` differ only by a TTL / hop limit
/// decrement (and, for IPv4, the header checksum that covers it).
fn assert_only_ttl_changed(before: &[u8], after: &[u8], v6: bool) {
    assert_eq!(before.len(), after.len(), "IP packet length changed");
    let (ttl_at, csum) = if v6 { (7, 0..0) } else { (8, 10..12) };
    assert_eq!(
        after[ttl_at],
        before[ttl_at].wrapping_sub(1),
        "TTL not decremented"
    );
    for i in 0..before.len() {
        if i != ttl_at && !csum.contains(&i) {
            assert_eq!(before[i], after[i], "IP byte {i} changed");
        }
    }
}

// ----- parse -------------------------------------------------------------------------------

/// `parse_frame` on arbitrary bytes: never panics, and every offset of an `Ok` frame lies
/// inside the buffer.
///
/// Input: the frame.
pub fn parse(data: &[u8]) {
    let Ok(f) = parse_frame(data) else { return };
    let l3 = f.l3_offset;
    assert_eq!(l3, 14 + usize::from(f.vlan_len), "l3 offset vs VLAN tags");
    assert!(l3 <= data.len());
    if let Some(ip) = f.ip() {
        let end = l3 + ip.total_len;
        assert!(end <= data.len(), "IP packet beyond the buffer");
        assert!(
            ip.header_len <= ip.total_len,
            "IP header longer than the packet"
        );
        assert_eq!(ip.l4_offset, l3 + ip.header_len);
        if let Some(e) = f.embedded() {
            assert!(
                e.l3_offset >= ip.l4_offset + 8,
                "quoted packet before ICMP header"
            );
            assert!(e.l3_offset <= end, "quoted packet after the packet");
            assert_eq!(e.l4_offset, e.l3_offset + e.header_len);
            assert_eq!(e.src.is_ipv6(), ip.src.is_ipv6(), "quoted family");
        }
        if f.ndp().is_some() {
            assert!(ip.src.is_ipv6());
        }
    }
    // Parsing is a pure function of the bytes, and a longer buffer with the same content
    // parses the IP part the same way (Ethernet padding is ignored).
    assert_eq!(parse_frame(data), Ok(f));
}

// ----- nat ---------------------------------------------------------------------------------

/// VS/NAT rewrites.
///
/// Input: `op` (low 2 bits: request, reply, ICMP error in, ICMP error out; bit 7: pair the
/// `Frame` with a truncated buffer), `fam` (see `pick_v6`), 16 address bytes, a port,
/// a u16 cut length, then the frame.
///
/// Invariants: never panics; an `Err` leaves the buffer untouched; after an `Ok` on an
/// honestly paired buffer the frame still parses, carries the new address and port where
/// expected, its TTL went down by one, a valid IPv4 header / TCP / UDP checksum stays valid,
/// and an ICMP message checksum is valid.
pub fn nat(data: &[u8]) {
    let mut inp = Input::new(data);
    let op = inp.u8();
    let fam = inp.u8();
    let addr: [u8; 16] = inp.array();
    let port = inp.u16();
    let cut = usize::from(inp.u16());
    let frame = inp.rest();
    let Ok(f) = parse_frame(frame) else { return };
    let v6 = pick_v6(&f, fam);
    let new = SocketAddr::new(Input::new(&addr).addr(v6), port);
    let honest = op & 0x80 == 0;
    let mut buf = if honest {
        frame.to_vec()
    } else {
        frame[..cut % (frame.len() + 1)].to_vec()
    };
    let before = buf.clone();
    let r = match op & 3 {
        0 => xform::nat_request(&mut buf, &f, new),
        1 => xform::nat_reply(&mut buf, &f, new),
        2 => xform::nat_icmp_error_in(&mut buf, &f, new),
        _ => xform::nat_icmp_error_out(&mut buf, &f, new),
    };
    if r.is_err() {
        assert_eq!(buf, before, "an Err modified the buffer: {r:?}");
        return;
    }
    if !honest {
        return;
    }
    let ip = *f.ip().expect("a rewrite succeeded on a non-IP frame");
    let g = parse_frame(&buf).expect("a NAT-rewritten frame no longer parses");
    let gip = g.ip().expect("IP after NAT");
    assert_eq!(g.l3_offset, f.l3_offset);
    assert_eq!(gip.total_len, ip.total_len);
    assert_eq!(gip.ttl, ip.ttl - 1, "TTL not decremented");
    if !ip.src.is_ipv6() && ipv4_header_ok(&before, f.l3_offset) {
        assert!(
            ipv4_header_ok(&buf, f.l3_offset),
            "IPv4 header checksum broken"
        );
    }
    match op & 3 {
        0 | 1 => {
            let (sp, dp) = g.ports().expect("ports after NAT");
            let (osp, odp) = f.ports().expect("ports before NAT");
            if op & 3 == 0 {
                assert_eq!((gip.src, gip.dst), (ip.src, new.ip()));
                assert_eq!((sp, dp), (osp, port));
            } else {
                assert_eq!((gip.src, gip.dst), (new.ip(), ip.dst));
                assert_eq!((sp, dp), (port, odp));
            }
            if l4_checksum_ok(&before, &f) == Some(true) {
                assert_eq!(l4_checksum_ok(&buf, &g), Some(true), "L4 checksum broken");
            }
        }
        o => {
            let e = f.embedded().expect("quoted packet before");
            let ge = g.embedded().expect("quoted packet after the ICMP rewrite");
            let (eps, epd) = e.ports.expect("quoted ports before");
            let (gps, gpd) = ge.ports.expect("quoted ports after");
            if o == 2 {
                assert_eq!((gip.src, gip.dst), (ip.src, new.ip()));
                assert_eq!((ge.src, ge.dst), (new.ip(), e.dst));
                assert_eq!((gps, gpd), (port, epd));
            } else {
                assert_eq!((gip.src, gip.dst), (new.ip(), ip.dst));
                assert_eq!((ge.src, ge.dst), (e.src, new.ip()));
                assert_eq!((gps, gpd), (eps, port));
            }
            assert!(icmp_checksum_ok(&buf, &g), "{ICMP_CSUM}");
            if !ip.src.is_ipv6() {
                assert!(ipv4_header_ok(&buf, f.l3_offset), "outer IPv4 checksum");
                assert!(ipv4_header_ok(&buf, ge.l3_offset), "quoted IPv4 checksum");
            }
        }
    }
}

// ----- tun ---------------------------------------------------------------------------------

/// VS/TUN: `encap` with arbitrary parameters and headroom, then `decap` of the result.
///
/// Input: `kind` (bit 0: GUE; bit 1: IPv6 outer; bit 7: mismatched outer families),
/// GUE destination and source ports, source and destination MACs, outer source and
/// destination addresses (16 bytes each), IP ID, headroom (0..=127), then the frame.
///
/// Invariants: never panics; an `Err` leaves the buffer untouched; after an `Ok`, `decap`
/// finds the inner packet where it was, with its length and family, and the inner packet
/// equals the original one but for the TTL decrement; outer TTL = inner TTL.
pub fn tun(data: &[u8]) {
    let mut inp = Input::new(data);
    let sel = inp.u8();
    let dst_port = inp.u16();
    let src_port = inp.u16();
    let src_mac = inp.mac();
    let dst_mac = inp.mac();
    let outer_v6 = sel & 2 != 0;
    let outer_src = inp.addr(outer_v6);
    let outer_dst = inp.addr(outer_v6 ^ (sel & 0x80 != 0));
    let ip_id = inp.u16();
    let headroom = usize::from(inp.u8() & 0x7f);
    let frame = inp.rest();
    let Ok(f) = parse_frame(frame) else { return };
    let kind = if sel & 1 != 0 {
        TunnelKind::Gue { dst_port, src_port }
    } else {
        TunnelKind::Ipip
    };
    let p = TunnelParams {
        kind,
        src_mac,
        dst_mac,
        outer_src,
        outer_dst,
        ip_id,
    };
    let mut buf = vec![0u8; headroom + frame.len()];
    buf[headroom..].copy_from_slice(frame);
    let before = buf.clone();
    let r = xform::encap(&mut buf, headroom, frame.len(), &f, &p);
    let (start, len) = match r {
        Ok(x) => x,
        Err(e) => {
            assert_eq!(buf, before, "an Err modified the buffer: {e:?}");
            return;
        }
    };
    let ip = *f.ip().expect("encap succeeded on a non-IP frame");
    assert!(start + len <= buf.len(), "encap result beyond the buffer");
    let out = &buf[start..start + len];
    let gue_port = match kind {
        TunnelKind::Gue { dst_port, .. } => Some(dst_port),
        TunnelKind::Ipip => None,
    };
    let d = xform::decap(out, gue_port).expect("decap of an encap result failed");
    assert_eq!(
        start + d.inner_offset,
        headroom + f.l3_offset,
        "inner offset"
    );
    assert_eq!(d.inner_len, ip.total_len, "inner length");
    assert_eq!(d.family, ip.family(), "inner family");
    let inner = &out[d.inner_offset..d.inner_offset + d.inner_len];
    assert_only_ttl_changed(ip_bytes(frame, &f), inner, ip.src.is_ipv6());
    let g = parse_frame(out).expect("outer frame parses");
    assert_eq!(g.dst_mac, dst_mac);
    assert_eq!(g.src_mac, src_mac);
    let gip = g.ip().expect("outer IP");
    assert_eq!((gip.src, gip.dst), (outer_src, outer_dst));
    assert_eq!(gip.ttl, ip.ttl - 1, "outer TTL");
    if !outer_v6 {
        assert!(ipv4_header_ok(out, g.l3_offset), "outer IPv4 checksum");
    }
    if !ip.src.is_ipv6() && ipv4_header_ok(frame, f.l3_offset) {
        assert!(ipv4_header_ok(inner, 0), "inner IPv4 checksum broken");
    }
    if outer_v6 && gue_port.is_some() {
        assert_eq!(l4_checksum_ok(out, &g), Some(true), "GUE/IPv6 UDP checksum");
    }
}

// ----- dr ----------------------------------------------------------------------------------

/// VS/DR: `dr_forward`.
///
/// Input: `sel` (bit 7: pair the `Frame` with a truncated buffer), real-server MAC,
/// director MAC, a u16 cut length, then the frame.
///
/// Invariants: never panics; an `Err` leaves the buffer untouched; after an `Ok` on an
/// honest buffer, only the MACs and the TTL (and IPv4 header checksum) changed, the
/// checksum stays valid if it was, and the frame still parses.
pub fn dr(data: &[u8]) {
    let mut inp = Input::new(data);
    let sel = inp.u8();
    let rs_mac = inp.mac();
    let our_mac = inp.mac();
    let cut = usize::from(inp.u16());
    let frame = inp.rest();
    let Ok(f) = parse_frame(frame) else { return };
    let honest = sel & 0x80 == 0;
    let mut buf = if honest {
        frame.to_vec()
    } else {
        frame[..cut % (frame.len() + 1)].to_vec()
    };
    let before = buf.clone();
    if let Err(e) = xform::dr_forward(&mut buf, &f, rs_mac, our_mac) {
        assert_eq!(buf, before, "an Err modified the buffer: {e:?}");
        return;
    }
    if !honest {
        return;
    }
    let ip = *f.ip().expect("dr_forward succeeded on a non-IP frame");
    let g = parse_frame(&buf).expect("a DR-forwarded frame no longer parses");
    assert_eq!((g.dst_mac, g.src_mac), (rs_mac, our_mac));
    assert_eq!(
        &buf[12..f.l3_offset],
        &frame[12..f.l3_offset],
        "VLAN tags changed"
    );
    assert_only_ttl_changed(ip_bytes(frame, &f), ip_bytes(&buf, &g), ip.src.is_ipv6());
    let end = f.l3_offset + ip.total_len;
    assert_eq!(&buf[end..], &frame[end..], "Ethernet padding changed");
    if !ip.src.is_ipv6() && ipv4_header_ok(frame, f.l3_offset) {
        assert!(ipv4_header_ok(&buf, f.l3_offset), "IPv4 checksum broken");
    }
}

// ----- icmp_gen ----------------------------------------------------------------------------

/// Generated frames: ICMP errors, ARP reply / request, neighbour advertisement /
/// solicitation.
///
/// Input: `op` (modulo 5: icmp_error, arp_reply, neighbor_advertisement, arp_request,
/// neighbor_solicitation), `fam` (see `pick_v6`), error kind (modulo 3), MTU (u32), our
/// MAC, two addresses (16 bytes each), output buffer length (u16, modulo 2049), then the
/// frame.
///
/// Invariants: never panics; an `Ok(n)` has `n <= out.len()` and `out[..n]` parses into the
/// expected message, with valid checksums, addressed back to the sender.
pub fn icmp_gen(data: &[u8]) {
    let mut inp = Input::new(data);
    let op = inp.u8() % 5;
    let fam = inp.u8();
    let kind_sel = inp.u8() % 3;
    let mtu = inp.u32();
    let our_mac = inp.mac();
    let a1: [u8; 16] = inp.array();
    let a2: [u8; 16] = inp.array();
    let out_len = usize::from(inp.u16()) % 2049;
    let frame = inp.rest();
    let mut out = vec![0u8; out_len];
    match op {
        3 => {
            let (s, t) = (v4_of(&a1), v4_of(&a2));
            if let Ok(n) = xform::arp_request(&mut out, our_mac, s, t) {
                let g = parse_out(&out, n);
                let a = g.arp().expect("ARP request parses as ARP");
                assert!(a.is_request());
                assert_eq!((a.sender_ip, a.target_ip, a.sender_mac), (s, t, our_mac));
            }
            return;
        }
        4 => {
            let (s, t) = (Ipv6Addr::from(a1), Ipv6Addr::from(a2));
            if let Ok(n) = xform::neighbor_solicitation(&mut out, our_mac, s, t) {
                let g = parse_out(&out, n);
                let nd = g.ndp().expect("NS parses as NDP");
                assert_eq!(nd.kind, NdpKind::Solicitation);
                assert_eq!((nd.target, nd.link_addr), (t, Some(our_mac)));
                assert!(icmp_checksum_ok(&out[..n], &g), "{ICMP_CSUM}");
            }
            return;
        }
        _ => {}
    }
    let Ok(f) = parse_frame(frame) else { return };
    match op {
        0 => {
            let kind = match kind_sel {
                0 => IcmpErrorKind::TimeExceeded,
                1 => IcmpErrorKind::PortUnreachable,
                _ => IcmpErrorKind::FragNeeded { mtu },
            };
            let src_ip = Input::new(&a1).addr(pick_v6(&f, fam));
            let Ok(n) = xform::icmp_error(frame, &f, kind, our_mac, src_ip, &mut out) else {
                return;
            };
            let ip = f.ip().expect("icmp_error succeeded on a non-IP frame");
            let g = parse_out(&out, n);
            assert_eq!(g.vlan_len, f.vlan_len, "VLAN tags not kept");
            assert_eq!((g.dst_mac, g.src_mac), (f.src_mac, our_mac));
            let gip = g.ip().expect("ICMP error is IP");
            assert_eq!(g.l3_offset + gip.total_len, n, "length");
            assert_eq!((gip.src, gip.dst), (src_ip, ip.src));
            let icmp = g.icmp().expect("ICMP error parses as ICMP");
            let want = match (ip.src.is_ipv6(), kind) {
                (false, IcmpErrorKind::TimeExceeded) => 11,
                (false, _) => 3,
                (true, IcmpErrorKind::TimeExceeded) => 3,
                (true, IcmpErrorKind::PortUnreachable) => 1,
                (true, IcmpErrorKind::FragNeeded { .. }) => 2,
            };
            assert_eq!(icmp.ty, want, "ICMP type");
            let e = g.embedded().expect("quoted packet parses");
            assert_eq!((e.src, e.dst, e.protocol), (ip.src, ip.dst, ip.protocol));
            assert!(icmp_checksum_ok(&out[..n], &g), "{ICMP_CSUM}");
            if !ip.src.is_ipv6() {
                assert!(ipv4_header_ok(&out, g.l3_offset), "IPv4 checksum");
                assert!(n - g.l3_offset <= 576, "IPv4 error longer than 576 bytes");
            } else {
                assert!(n - g.l3_offset <= 1280, "IPv6 error longer than 1280 bytes");
            }
        }
        1 => {
            let Ok(n) = xform::arp_reply(frame, &f, our_mac, &mut out) else {
                return;
            };
            let q = f.arp().expect("arp_reply succeeded on a non-ARP frame");
            let g = parse_out(&out, n);
            assert_eq!(g.vlan_len, f.vlan_len, "VLAN tags not kept");
            let a = g.arp().expect("ARP reply parses as ARP");
            assert!(a.is_reply());
            assert_eq!((a.sender_ip, a.target_ip), (q.target_ip, q.sender_ip));
            assert_eq!((a.sender_mac, a.target_mac), (our_mac, q.sender_mac));
            assert_eq!(g.dst_mac, q.sender_mac);
        }
        _ => {
            let Ok(n) = xform::neighbor_advertisement(frame, &f, our_mac, &mut out) else {
                return;
            };
            let q = f.ndp().expect("NA for a non-NS frame");
            let g = parse_out(&out, n);
            assert_eq!(g.vlan_len, f.vlan_len, "VLAN tags not kept");
            let nd = g.ndp().expect("NA parses as NDP");
            assert!(matches!(nd.kind, NdpKind::Advertisement { .. }));
            assert_eq!((nd.target, nd.link_addr), (q.target, Some(our_mac)));
            assert_eq!(g.ip().map(|i| i.ttl), Some(255), "NA hop limit");
            assert!(icmp_checksum_ok(&out[..n], &g), "{ICMP_CSUM}");
        }
    }
}

fn v4_of(a: &[u8; 16]) -> Ipv4Addr {
    Ipv4Addr::new(a[0], a[1], a[2], a[3])
}

fn parse_out(out: &[u8], n: usize) -> Frame {
    assert!(
        n <= out.len(),
        "generated length {n} > buffer {}",
        out.len()
    );
    parse_frame(&out[..n]).expect("a generated frame does not parse")
}

// ----- director ----------------------------------------------------------------------------

/// Client-side MAC of the director (link 0).
pub const DIRECTOR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xd1];
/// Real-server-side MAC of the director (link 1).
pub const DIRECTOR_MAC_RS: [u8; 6] = [0x02, 0, 0, 0, 0, 0xd2];
/// A client.
pub const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// A real server.
pub const RS_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x52];
/// IPv4 VIP.
pub const VIP4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
/// IPv6 VIP.
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xf, 0, 0, 0, 0, 0x10);
/// IPv4 client (on link 0).
pub const CLIENT4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// IPv6 client (on link 0).
pub const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 2);
/// IPv4 NAT real server (static neighbour, link 1).
pub const RS4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 11);
/// IPv6 NAT real server (static neighbour, link 1).
pub const RS6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 5, 0, 0, 0, 0, 0x11);

/// The services of the `director` target, `ipvsadm -S -n` style: for each family, TCP and
/// UDP NAT (two / one real servers), IPIP TUN, GUE TUN, persistent DR, and a service with
/// no real server (answered with port unreachable).
pub fn director_rules() -> String {
    let mut s = String::new();
    for (v, rs) in [
        (
            "203.0.113.10",
            [
                "198.51.100.11",
                "198.51.100.12",
                "198.51.100.21",
                "198.51.100.22",
                "198.51.100.31",
            ],
        ),
        (
            "[2001:db8:f::10]",
            [
                "[2001:db8:5::11]",
                "[2001:db8:5::12]",
                "[2001:db8:5::21]",
                "[2001:db8:5::22]",
                "[2001:db8:5::31]",
            ],
        ),
    ] {
        s += &format!("-A -t {v}:80 -s rr\n");
        s += &format!("-a -t {v}:80 -r {}:8080 -m -w 1\n", rs[0]);
        s += &format!("-a -t {v}:80 -r {}:8080 -m -w 1\n", rs[1]);
        s += &format!("-A -u {v}:53 -s rr\n");
        s += &format!("-a -u {v}:53 -r {}:5353 -m -w 1\n", rs[0]);
        s += &format!("-A -t {v}:81 -s rr\n");
        s += &format!("-a -t {v}:81 -r {}:81 -i -w 1\n", rs[2]);
        s += &format!("-A -u {v}:4500 -s rr\n");
        s += &format!(
            "-a -u {v}:4500 -r {}:4500 -i --tun-type gue --tun-port 6080 -w 1\n",
            rs[3]
        );
        s += &format!("-A -t {v}:82 -s rr -p 300\n");
        s += &format!("-a -t {v}:82 -r {}:82 -g -w 1\n", rs[4]);
        s += &format!("-A -u {v}:83 -s rr\n");
    }
    s
}

/// The director of the `director` target: link 0 faces the clients (MTU 1500, gateways
/// there), link 1 the real servers (MTU 1400, so big tunnelled packets are too big). Small
/// tables so that they fill up.
pub fn director_config() -> DirectorConfig {
    let cidr = |s: &str| s.parse::<IpCidr>().expect("CIDR");
    let mut cfg = DirectorConfig::single_link(
        MacAddr(DIRECTOR_MAC),
        &[cidr("192.0.2.1/24"), cidr("2001:db8:c::1/64")],
    );
    cfg.links.push(Link {
        mac: MacAddr(DIRECTOR_MAC_RS),
        addrs: vec![cidr("198.51.100.1/24"), cidr("2001:db8:5::1/64")],
        mtu: 1400,
    });
    cfg.gateway_v4 = Some(Ipv4Addr::new(192, 0, 2, 254));
    cfg.gateway_v6 = Some(Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 0xfe));
    cfg.neighbors = vec![
        (IpAddr::V4(RS4), MacAddr(RS_MAC)),
        (IpAddr::V6(RS6), MacAddr(RS_MAC)),
    ];
    cfg.conn_capacity_v4 = 24;
    cfg.conn_capacity_v6 = 24;
    cfg.neighbor_capacity = 8;
    cfg.hold_frames = 4;
    cfg.hold_frame_size = 1600;
    cfg.expire_budget = 8;
    cfg
}

/// Headroom in front of each frame fed to the director (VS/TUN needs it).
pub const DIRECTOR_HEADROOM: usize = MAX_HEADROOM + 14;

/// Most frames per input.
const MAX_STEPS: usize = 64;

/// A [`Director`] fed a sequence of frames.
///
/// Input: a sequence of records `ctl, dt, len (u16 BE), frame[len]`. The time advances by
/// `dt³` ms before the frame. `ctl` bits: 0 calls `on_timeout` first; 1 drains
/// `poll_transmit` after; 2 gives `process` a short output buffer (`dt` bytes); 3 means a
/// 10-byte `virtio_net_hdr` follows `len` (before the frame) and the frame goes through
/// `process_offload` with it (an invalid header: `Offload::NONE`); 4 fixes up the IPv4 header
/// checksum before processing (so that mutated frames still reach the paths past the header
/// check); 6..7 pick the link (0, 0, 1, or 2 which does not exist).
///
/// Invariants: never panics; the connection count stays within the table capacities; a
/// frame that `parse_frame` rejects leaves the connection count unchanged; every frame the
/// director forwards, replies or transmits lies in its buffer and parses; a forwarded
/// offload's checksum field lies in the frame, and a super-frame marked for software GSO
/// segments into frames that parse; the neighbour cache stays within its capacity and its
/// permanent entries (the real servers) never change, whatever ARP/NDP arrives; no frame
/// with a bad IPv4 header checksum or a martian source address (unspecified, loopback,
/// multicast, broadcast, class E; `::`, `::1`, multicast) ever creates a connection.
pub fn director(data: &[u8]) {
    let mut d = Director::from_rules(director_config(), &director_rules())
        .expect("the director rules load");
    let cap = d.balancer().table_v4().capacity() + d.balancer().table_v6().capacity();
    let mut now = Instant::from_secs(1000);
    let mut inp = Input::new(data);
    let mut buf = vec![0u8; DIRECTOR_HEADROOM + 2048];
    let mut out = vec![0u8; 2048];
    let mut steps = 0;
    while !inp.is_empty() && steps < MAX_STEPS {
        steps += 1;
        let ctl = inp.u8();
        let dt = inp.u8();
        let len = usize::from(inp.u16()) % 2048;
        let vnet = (ctl & 8 != 0).then(|| inp.array::<10>());
        let frame = inp.take(len);
        let dt = u64::from(dt);
        now = Instant::from_millis(now.as_millis() + dt * dt * dt);
        if ctl & 1 != 0 {
            d.on_timeout(now);
            check_counts(&d, cap);
        }
        let link = match ctl >> 6 {
            2 => 1,
            3 => 2,
            _ => 0,
        };
        let out_len = if ctl & 4 != 0 { dt as usize } else { out.len() };
        buf[DIRECTOR_HEADROOM..DIRECTOR_HEADROOM + frame.len()].copy_from_slice(frame);
        if ctl & 16 != 0 {
            fix_ipv4_header_checksum(&mut buf[DIRECTOR_HEADROOM..DIRECTOR_HEADROOM + frame.len()]);
        }
        let frame = &buf[DIRECTOR_HEADROOM..DIRECTOR_HEADROOM + frame.len()].to_vec();
        let parses = parse_frame(frame).is_ok();
        let hostile = hostile_input(frame);
        let count = d.balancer().conn_count();
        let mut offload = vnet
            .and_then(|h| Offload::from_virtio(&h).ok())
            .unwrap_or(Offload::NONE);
        let v = if vnet.is_some() {
            d.process_offload(
                now,
                link,
                &mut buf,
                DIRECTOR_HEADROOM,
                frame.len(),
                &mut offload,
                &mut out[..out_len],
            )
        } else {
            d.process(
                now,
                link,
                &mut buf,
                DIRECTOR_HEADROOM,
                frame.len(),
                &mut out[..out_len],
            )
        };
        check_counts(&d, cap);
        if let Some(why) = hostile {
            assert_eq!(
                d.balancer().conn_count(),
                count,
                "a frame with {why} created a connection"
            );
        }
        if !parses {
            assert_eq!(
                d.balancer().conn_count(),
                count,
                "unparsable frame changed the table"
            );
            assert!(
                matches!(v, Verdict::Drop(_)),
                "unparsable frame not dropped: {v:?}"
            );
        }
        match v {
            Verdict::Forward { link, start, len } => {
                assert!(link < 2, "forwarded to link {link}");
                assert!(
                    start + len <= buf.len(),
                    "forwarded frame beyond the buffer"
                );
                parse_frame(&buf[start..start + len]).expect("a forwarded frame does not parse");
                check_offload(&buf[start..start + len], &offload);
            }
            Verdict::Reply { link, len } => {
                assert!(link < 2, "reply on link {link}");
                parse_out(&out[..out_len], len);
            }
            Verdict::Held | Verdict::ToHost | Verdict::Drop(_) => {}
        }
        if ctl & 2 != 0 {
            drain(&mut d, &mut out);
        }
    }
    // Everything expires eventually; leftovers come out of poll_transmit.
    d.on_timeout(Instant::from_millis(now.as_millis() + 3_600_000));
    check_counts(&d, cap);
    drain(&mut d, &mut out);
}

/// The IPv4 header of an Ethernet frame (untagged or with VLAN tags), by the harness's own
/// reading: its offset, if the frame is IPv4.
fn ipv4_l3(frame: &[u8]) -> Option<usize> {
    let f = parse_frame(frame).ok()?;
    let ip = f.ip()?;
    ip.src.is_ipv4().then_some(f.l3_offset)
}

/// Recomputes the IPv4 header checksum of `frame`, if it is IPv4 with a whole header.
fn fix_ipv4_header_checksum(frame: &mut [u8]) {
    let Some(l3) = ipv4_l3(frame) else {
        return;
    };
    let hlen = usize::from(frame[l3] & 0x0f) * 4;
    let Some(h) = frame.get_mut(l3..l3 + hlen) else {
        return;
    };
    h[10] = 0;
    h[11] = 0;
    let c = !check::ones(h, 0);
    h[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Why the director must not create a connection from `frame`, by the harness's own
/// reading: a bad IPv4 header checksum or a source no client can have.
fn hostile_input(frame: &[u8]) -> Option<&'static str> {
    let f = parse_frame(frame).ok()?;
    let ip = f.ip()?;
    if ip.src.is_ipv4() && !ipv4_header_ok(frame, f.l3_offset) {
        return Some("a bad IPv4 header checksum");
    }
    let martian = match ip.src {
        IpAddr::V4(a) => {
            let o = a.octets();
            o[0] == 0 || o[0] == 127 || o[0] >= 224
        }
        IpAddr::V6(a) => a.is_unspecified() || a.is_loopback() || a.is_multicast(),
    };
    martian.then_some("a martian source")
}

/// A forwarded frame's offload state is consistent with its bytes.
fn check_offload(frame: &[u8], o: &Offload) {
    if let Some(c) = o.csum {
        assert!(
            usize::from(c.start) + usize::from(c.offset) + 2 <= frame.len(),
            "partial checksum field outside the forwarded frame"
        );
    }
    assert!(
        o.encap.is_none() || o.gso.is_some(),
        "encap marker without GSO"
    );
    if o.needs_software_gso() {
        let mut scratch = vec![0u8; 65_536 + 256];
        let n = gso::segment(frame, o, &mut scratch, &mut |s| {
            parse_frame(s).expect("a segment does not parse");
        })
        .expect("a marked super-frame does not segment");
        assert!(n >= 2, "a marked super-frame of one segment");
    }
}

/// The TCP/UDP payload of the IP packet at `l3` of `frame` (per its headers), if it has
/// one: the check's own reading, independent of the segmenter.
fn l4_payload(frame: &[u8], l3: usize) -> Option<&[u8]> {
    let pkt = frame.get(l3..)?;
    let (hl, total, proto) = match pkt.first()? >> 4 {
        4 => {
            let h = Ipv4Header::parse(pkt).ok()?;
            (h.header_len, usize::from(h.total_len), h.protocol)
        }
        6 => {
            let h = Ipv6Header::parse(pkt).ok()?;
            (h.header_len, h.total_len(), h.protocol)
        }
        _ => return None,
    };
    let seg = pkt.get(hl..total)?;
    let l4h = match proto {
        6 => usize::from(seg.get(12)? >> 4) * 4,
        17 => 8,
        _ => return None,
    };
    seg.get(l4h..)
}

/// `gso::segment` on an arbitrary frame and offload.
///
/// Input: a 10-byte `virtio_net_hdr` (invalid ones are skipped), a u16 BE inner IP offset
/// (0: not encapsulated, else the `Encap` marker), a u16 BE scratch size, the frame.
///
/// Invariants: never panics; nothing is emitted when it fails; on success the emitted
/// count is what it returns and, for a GSO frame, every segment parses, carries at most `gso_size` payload bytes
/// (GSO frames) and the segments' payloads concatenate to the super-frame's payload.
pub fn gso(data: &[u8]) {
    let mut inp = Input::new(data);
    let hdr = inp.array::<10>();
    let inner = inp.u16();
    let scratch_len = usize::from(inp.u16());
    let frame = inp.take(usize::MAX);
    let Ok(mut o) = Offload::from_virtio(&hdr) else {
        return;
    };
    if inner != 0 {
        o.encap = Some(Encap {
            inner_offset: inner,
        });
    }
    let mut scratch = vec![0u8; scratch_len];
    let mut payload = Vec::new();
    let mut count = 0;
    let l3 = if inner != 0 { usize::from(inner) } else { 14 };
    let r = gso::segment(frame, &o, &mut scratch, &mut |s| {
        count += 1;
        // Without GSO the frame is passed through (or only its checksum completed)
        // without being parsed: only segments of a super-frame must parse.
        if let Some(g) = o.gso {
            parse_frame(s).expect("a segment does not parse");
            let p = l4_payload(s, l3).expect("a segment without payload bounds");
            assert!(p.len() <= usize::from(g.size), "segment over gso_size");
            payload.extend_from_slice(p);
        }
    });
    match r {
        Ok(n) => {
            assert_eq!(n, count, "returned count differs from emitted");
            if o.gso.is_some() {
                let whole = l4_payload(frame, l3).expect("segmented frame without payload");
                assert!(payload == whole, "segments do not reassemble the payload");
            }
        }
        Err(_) => assert_eq!(count, 0, "emitted segments before failing"),
    }
}

fn check_counts(d: &Director, cap: usize) {
    let n = d.neighbors();
    assert!(
        n.len() <= d.config().neighbor_capacity,
        "neighbour cache over capacity"
    );
    for ip in [IpAddr::V4(RS4), IpAddr::V6(RS6)] {
        assert_eq!(
            n.state(ip),
            Some(NeighState::Permanent(MacAddr(RS_MAC))),
            "a permanent neighbour changed"
        );
    }
    let b = d.balancer();
    assert!(
        b.table_v4().len() <= b.table_v4().capacity(),
        "IPv4 table over capacity"
    );
    assert!(
        b.table_v6().len() <= b.table_v6().capacity(),
        "IPv6 table over capacity"
    );
    assert!(b.conn_count() <= cap, "conn_count over capacity");
}

fn drain(d: &mut Director, out: &mut [u8]) {
    for _ in 0..2 * 64 + 8 {
        let Some((link, len)) = d.poll_transmit(out) else {
            return;
        };
        assert!(link < 2, "poll_transmit on link {link}");
        parse_out(out, len);
    }
    panic!("poll_transmit never ran dry");
}

// ----- rules text ----------------------------------------------------------------------------

/// The `ipvsadm -S -n` rules parser: any text parses or fails with a line number inside the
/// text, never panics; what parses prints to text that parses back to the same setup.
pub fn rules(data: &[u8]) {
    use lvs_core::config::{parse, parse_line, print};
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    for line in text.lines() {
        let _ = parse_line(line);
    }
    match parse(text) {
        Ok(c) => {
            let again = parse(&print(&c)).expect("printed rules do not parse");
            assert_eq!(again, c, "rules do not round-trip");
        }
        Err(e) => {
            assert!(
                e.line >= 1 && e.line <= text.lines().count().max(1),
                "line {}",
                e.line
            );
            let _ = e.to_string();
        }
    }
}

/// IPVS sync datagrams (`lvs_core::sync`), as a backup receives them.
///
/// The bytes are one datagram, read as version 1 (or, when the header is not
/// v1, as version 0) by a backup with syncid 0. Decoding must never panic and
/// every record view must lie inside the datagram. The records that decode
/// are re-encoded with `encode_messages` (at the default 1472 and at a small
/// 200-byte limit): every message must respect the limit (a lone oversized
/// record excepted, as in the kernel) and decode to the same records. Each
/// record the typed mapping accepts must map back to a record that maps to
/// the same `SyncedConn`.
pub fn sync(data: &[u8]) {
    use lvs_core::sync::{
        ConnRecord, DEFAULT_MAXLEN, SyncMessage, SyncedConn, encode_messages, v0,
    };

    let mut recs = Vec::new();
    match SyncMessage::new_checked(data, 0) {
        Ok(m) => {
            assert_eq!(usize::from(m.size()), data.len(), "size not checked");
            for r in m.into_records() {
                match r {
                    Ok(v) => {
                        assert!(v.offset() + v.as_bytes().len() <= data.len());
                        assert_eq!(v.offset() % 4, 0, "record not aligned");
                        if let Ok(rec) = ConnRecord::parse(&v) {
                            recs.push(rec);
                        }
                    }
                    Err(e) => {
                        let _ = e.to_string();
                    }
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
            if let Ok(m) = v0::SyncMessageV0::new_checked(data, 0) {
                recs.extend(m.records().flatten());
            }
        }
    }
    let syncid = data.get(1).copied().unwrap_or(0);
    for maxlen in [DEFAULT_MAXLEN, 200] {
        let msgs = encode_messages(&recs, syncid, maxlen).expect("decoded records encode");
        let mut back = Vec::new();
        for m in &msgs {
            let view = SyncMessage::new_checked(&m[..], syncid).expect("encoded message checks");
            assert!(
                m.len() <= maxlen || view.conn_count() == 1,
                "message over maxlen"
            );
            for r in view.into_records() {
                back.push(
                    ConnRecord::parse(&r.expect("encoded record")).expect("encoded record parses"),
                );
            }
        }
        assert_eq!(back, recs, "records do not round-trip (maxlen {maxlen})");
    }
    for rec in &recs {
        if let Ok(c) = SyncedConn::from_record(rec) {
            let again = c.to_record().expect("one family");
            assert_eq!(
                SyncedConn::from_record(&again),
                Ok(c),
                "typed mapping does not round-trip"
            );
        }
    }
}

/// The `lvsadm` control socket: whatever a client sends must get a reply,
/// never a panic.
///
/// The bytes are read two ways. As a request frame: decoding must never
/// panic, and a frame that decodes re-encodes to the same bytes (the
/// encoding is canonical). As an argument vector (NUL-separated UTF-8, the
/// last piece also as `-R` input): the command parser must give a command or
/// an error, and a command is run on a small Director built from rules,
/// whose reply must encode and decode back.
pub fn control(data: &[u8]) {
    use lvs_examples::control::protocol::{Reply, Request};
    use lvs_examples::control::{handle, parse_command};

    match Request::decode(data) {
        Ok(req) => {
            let again = req.encode().expect("a decoded request encodes");
            assert_eq!(again, data, "request encoding is not canonical");
            let _ = parse_command(&req.args, &req.input);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let _ = Reply::decode(data);

    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let mut args: Vec<String> = text.split('\0').map(str::to_string).collect();
    let input = args.last().cloned().unwrap_or_default();
    if args.len() > 64 {
        args.truncate(64);
    }
    let req = Request { args, input };
    let addrs: [IpCidr; 1] = ["192.0.2.1/24".parse().expect("cidr")];
    let mut cfg = DirectorConfig::single_link(MacAddr([2, 0, 0, 0, 0, 1]), &addrs);
    cfg.conn_capacity_v4 = 64;
    cfg.conn_capacity_v6 = 16;
    let rules_text = "-A -t 203.0.113.10:80 -s rr\n-a -t 203.0.113.10:80 -r 192.0.2.11:80 -m\n";
    let mut director = Director::from_rules(cfg, rules_text).expect("rules");
    let mut rules = lvs_core::config::parse(rules_text).expect("rules");
    let health = |_: &lvs_core::ServiceKey, a: SocketAddr| Some(a.port().is_multiple_of(2));
    let reply = handle(
        &req,
        &mut director,
        &mut rules,
        &health,
        Instant::from_secs(5),
    );
    assert_eq!(
        Reply::decode(&reply.encode()).expect("reply decodes"),
        reply,
        "reply does not round-trip"
    );
    // The running rules stay loadable: -S output parses back to them.
    let mut sorted = rules.clone();
    sorted.sort();
    let printed = lvs_core::config::print(&sorted);
    let mut back = lvs_core::config::parse(&printed).expect("saved rules parse");
    back.sort();
    assert_eq!(back.services, sorted.services, "-S does not round-trip");
}

/// keepalived.conf's LVS part: any text gets a config or an error whose line
/// is within the text, never a panic; a config converts (or fails) likewise.
pub fn keepalived(data: &[u8]) {
    use lvs_core::config::keepalived::parse;
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let lines = text.matches('\n').count() + 1;
    let in_text = |line: usize| assert!(line >= 1 && line <= lines, "line {line} of {lines}");
    match parse(text) {
        Ok(k) => {
            for n in k.skipped.iter().chain(&k.notes) {
                in_text(n.line);
            }
            match k.to_config() {
                Ok(conv) => {
                    assert_eq!(conv.policies.len(), conv.config.services.len());
                    for c in &conv.checks {
                        in_text(c.line);
                        assert!(
                            conv.config.service(&c.service).is_some(),
                            "check of an unknown service"
                        );
                        assert!(c.interval_secs >= 1 && c.timeout_secs >= 1 && c.fall >= 1);
                    }
                }
                Err(e) => {
                    in_text(e.line);
                    let _ = e.to_string();
                }
            }
        }
        Err(e) => {
            in_text(e.line);
            let _ = e.to_string();
        }
    }
}
