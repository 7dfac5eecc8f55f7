//! Offloads through the Director and the software segmenter: NAT of partial checksums
//! (completed afterwards as the kernel would, then compared with an independent full
//! checksum), DR pass-through, TUN completion and GSO marking, the tunnel MTU rule of GSO
//! frames, and property tests of `gso::segment` (plain and encapsulated).

mod common;

use common::{CLIENT_MAC, DIRECTOR_MAC, RS_MAC, ones, verify_frame, verify_ip};
use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};
use lvs_core::Instant;
use lvs_forwarding::gso::{self, GsoError};
use lvs_forwarding::offload::{Encap, Gso, GsoKind, PartialCsum};
use lvs_forwarding::wire::{IpFamily, MacAddr, parse_frame};
use lvs_forwarding::xform::{self, TunnelKind, TunnelParams};
use lvs_forwarding::{Director, DirectorConfig, IpCidr, Offload, Verdict};
use proptest::prelude::*;
use std::net::IpAddr;

const VIP4: &str = "203.0.113.10";
const VIP6: &str = "2001:db8:f::10";
const CLIENT4: &str = "192.0.2.2";
const CLIENT6: &str = "2001:db8:c::2";
const RS4: &str = "198.51.100.11";
const RS6: &str = "2001:db8:5::11";
const HEAD: usize = 128;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Nat,
    Dr,
    Tun,
}

fn director(mode: Mode, mtu: u32) -> Director {
    let addrs: Vec<IpCidr> = [
        "192.0.2.1/24",
        "198.51.100.1/24",
        "2001:db8:c::1/64",
        "2001:db8:5::1/64",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let mut cfg = DirectorConfig::single_link(MacAddr(DIRECTOR_MAC), &addrs);
    cfg.links[0].mtu = mtu;
    cfg.neighbors = vec![
        (ip(CLIENT4), MacAddr(CLIENT_MAC)),
        (ip(CLIENT6), MacAddr(CLIENT_MAC)),
        (ip(RS4), MacAddr(RS_MAC)),
        (ip(RS6), MacAddr(RS_MAC)),
    ];
    let (flag, rport) = match mode {
        Mode::Nat => ("-m", 8080),
        Mode::Dr => ("-g", 80),
        Mode::Tun => ("-i", 80),
    };
    let mut rules = String::new();
    for p in ["-t", "-u"] {
        rules += &format!("-A {p} {VIP4}:80 -s rr\n-a {p} {VIP4}:80 -r {RS4}:{rport} {flag}\n");
        rules +=
            &format!("-A {p} [{VIP6}]:80 -s rr\n-a {p} [{VIP6}]:80 -r [{RS6}]:{rport} {flag}\n");
    }
    Director::from_rules(cfg, &rules).unwrap()
}

/// TCP (with `flags` as etherparse setters: ack always) or UDP from `src` to `dst`.
#[allow(clippy::too_many_arguments)]
fn frame(
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    tcp: bool,
    syn: bool,
    fin_psh_cwr: (bool, bool, bool),
    payload: &[u8],
    smac: [u8; 6],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(smac, DIRECTOR_MAC);
    let b = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => b.ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => b.ipv6(s.octets(), d.octets(), 64),
        _ => panic!("families"),
    };
    let mut v = Vec::new();
    if tcp {
        let mut t = b.tcp(sport, dport, 0x1000_0000, 64000);
        t = if syn { t.syn() } else { t.ack(77) };
        if fin_psh_cwr.0 {
            t = t.fin();
        }
        if fin_psh_cwr.1 {
            t = t.psh();
        }
        if fin_psh_cwr.2 {
            t = t.cwr();
        }
        t.write(&mut v, payload).unwrap();
    } else {
        b.udp(sport, dport).write(&mut v, payload).unwrap();
    }
    v
}

/// Offsets of the L4 header and its checksum field in an untagged frame.
fn l4_of(f: &[u8]) -> (usize, usize) {
    let l4 = if f[14] >> 4 == 4 {
        14 + usize::from(f[14] & 15) * 4
    } else {
        54
    };
    let tcp = if f[14] >> 4 == 4 { f[23] } else { f[20] } == 6;
    (l4, if tcp { 16 } else { 6 })
}

/// Turns a complete frame into a partial one, as a sender with checksum offload leaves it:
/// the field holds the folded, uncomplemented pseudo-header sum.
fn make_partial(f: &mut [u8]) -> Offload {
    let (l4, off) = l4_of(f);
    let len = f.len() - l4;
    let (src, dst, proto) = if f[14] >> 4 == 4 {
        (&f[26..30], &f[30..34], f[23])
    } else {
        (&f[22..38], &f[38..54], f[20])
    };
    let mut s = u32::from(ones(src, 0)) + u32::from(ones(dst, 0)) + u32::from(proto);
    s += (len as u32 >> 16) + (len as u32 & 0xffff);
    let p = ones(&[], s);
    f[l4 + off..l4 + off + 2].copy_from_slice(&p.to_be_bytes());
    Offload {
        csum: Some(PartialCsum {
            start: l4 as u16,
            offset: off as u16,
        }),
        ..Offload::NONE
    }
}

/// What the kernel does to finish a partial checksum (independent of the crate): the sum
/// from `start` to the end, field included, complemented, written at `start + offset`.
fn kernel_complete(f: &mut [u8], c: PartialCsum) {
    let (s, o) = (usize::from(c.start), usize::from(c.offset));
    let v = !ones(&f[s..], 0);
    let v = if v == 0 { 0xffff } else { v };
    f[s + o..s + o + 2].copy_from_slice(&v.to_be_bytes());
}

/// The checksum etherparse computes for the frame's TCP / UDP segment.
fn etherparse_csum(f: &[u8]) -> u16 {
    let p = SlicedPacket::from_ethernet(f).unwrap();
    let net = p.net.unwrap();
    let payload = match &p.transport {
        Some(TransportSlice::Tcp(t)) => t.payload(),
        Some(TransportSlice::Udp(u)) => u.payload(),
        _ => panic!("no L4"),
    };
    match (&p.transport, net) {
        (Some(TransportSlice::Tcp(t)), etherparse::NetSlice::Ipv4(i)) => t
            .to_header()
            .calc_checksum_ipv4(&i.header().to_header(), payload)
            .unwrap(),
        (Some(TransportSlice::Tcp(t)), etherparse::NetSlice::Ipv6(i)) => t
            .to_header()
            .calc_checksum_ipv6(&i.header().to_header(), payload)
            .unwrap(),
        (Some(TransportSlice::Udp(u)), etherparse::NetSlice::Ipv4(i)) => u
            .to_header()
            .calc_checksum_ipv4(&i.header().to_header(), payload)
            .unwrap(),
        (Some(TransportSlice::Udp(u)), etherparse::NetSlice::Ipv6(i)) => u
            .to_header()
            .calc_checksum_ipv6(&i.header().to_header(), payload)
            .unwrap(),
        _ => panic!("unexpected"),
    }
}

/// Runs `f` through `d` with `offload`; returns the verdict, the output bytes and offload.
fn run(d: &mut Director, f: &[u8], mut offload: Offload) -> (Verdict, Vec<u8>, Offload) {
    let mut buf = vec![0u8; HEAD + f.len() + 64];
    buf[HEAD..HEAD + f.len()].copy_from_slice(f);
    let mut out = vec![0u8; 2048];
    let v = d.process_offload(
        Instant::from_secs(1),
        0,
        &mut buf,
        HEAD,
        f.len(),
        &mut offload,
        &mut out,
    );
    let bytes = match v {
        Verdict::Forward { start, len, .. } => buf[start..start + len].to_vec(),
        Verdict::Reply { len, .. } => out[..len].to_vec(),
        _ => Vec::new(),
    };
    (v, bytes, offload)
}

fn addrs(v6: bool) -> (IpAddr, IpAddr, IpAddr) {
    if v6 {
        (ip(CLIENT6), ip(VIP6), ip(RS6))
    } else {
        (ip(CLIENT4), ip(VIP4), ip(RS4))
    }
}

/// After NAT of a partial frame: same offload, checksum still partial, and completing it
/// the kernel's way gives the full checksum of the rewritten packet.
fn check_partial_nat(out: &[u8], o: Offload, sent: Offload) {
    assert_eq!(o, sent, "NAT keeps the offload (headers do not move)");
    let mut done = out.to_vec();
    kernel_complete(&mut done, o.csum.unwrap());
    verify_frame(&done).unwrap();
    let (l4, off) = l4_of(&done);
    let got = u16::from_be_bytes([done[l4 + off], done[l4 + off + 1]]);
    let want = etherparse_csum(&done);
    assert!(
        got == want || (want == 0 && got == 0xffff),
        "{got:#x} vs {want:#x}"
    );
    // Negative control: had the port change been folded into the partial sum too (as for
    // a complete checksum), the completed checksum would be wrong.
    let mut wrong = out.to_vec();
    let (sp_old, sp_new) = (80u16, u16::from_be_bytes([out[l4 + 2], out[l4 + 3]]));
    let (a, b) = if sp_old == sp_new {
        // Reply direction: source port 8080 -> 80.
        (8080u16, u16::from_be_bytes([out[l4], out[l4 + 1]]))
    } else {
        (sp_old, sp_new)
    };
    let field = u16::from_be_bytes([wrong[l4 + off], wrong[l4 + off + 1]]);
    let folded = ones(&[], u32::from(field) + u32::from(!a) + u32::from(b));
    wrong[l4 + off..l4 + off + 2].copy_from_slice(&folded.to_be_bytes());
    kernel_complete(&mut wrong, o.csum.unwrap());
    assert!(
        verify_frame(&wrong).is_err(),
        "port folded in must break it"
    );
}

fn nat_partial(v6: bool, tcp: bool) {
    let mut d = director(Mode::Nat, 1500);
    let (client, vip, rs) = addrs(v6);
    let payload: Vec<u8> = (0..301u32).map(|i| (i * 7) as u8).collect();
    // Request: client -> VIP, partial.
    let mut f = frame(
        client,
        40000,
        vip,
        80,
        tcp,
        tcp,
        (false, false, false),
        &payload,
        CLIENT_MAC,
    );
    let o = make_partial(&mut f);
    let (v, out, o2) = run(&mut d, &f, o);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    assert_eq!(&out[0..6], &RS_MAC);
    check_partial_nat(&out, o2, o);
    // Reply: RS -> client, partial.
    let mut r = frame(
        rs,
        8080,
        client,
        40000,
        tcp,
        false,
        (false, true, false),
        &payload,
        RS_MAC,
    );
    let o = make_partial(&mut r);
    let (v, out, o2) = run(&mut d, &r, o);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    assert_eq!(&out[0..6], &CLIENT_MAC);
    check_partial_nat(&out, o2, o);
    // A complete frame of the same flow still gets a complete checksum.
    let (v, out, o2) = run(
        &mut d,
        &frame(
            rs,
            8080,
            client,
            40000,
            tcp,
            false,
            (false, false, false),
            b"x",
            RS_MAC,
        ),
        Offload::NONE,
    );
    assert!(matches!(v, Verdict::Forward { .. }));
    assert_eq!(o2, Offload::NONE);
    verify_frame(&out).unwrap();
}

#[test]
fn nat_partial_tcp_v4() {
    nat_partial(false, true);
}
#[test]
fn nat_partial_udp_v4() {
    nat_partial(false, false);
}
#[test]
fn nat_partial_tcp_v6() {
    nat_partial(true, true);
}
#[test]
fn nat_partial_udp_v6() {
    nat_partial(true, false);
}

#[test]
fn dr_passes_offload_through() {
    for v6 in [false, true] {
        let mut d = director(Mode::Dr, 1500);
        let (client, vip, _) = addrs(v6);
        let mut f = frame(
            client,
            40000,
            vip,
            80,
            true,
            true,
            (false, false, false),
            &[5; 3000],
            CLIENT_MAC,
        );
        let mut o = make_partial(&mut f);
        o.gso = Some(Gso {
            kind: if v6 { GsoKind::TcpV6 } else { GsoKind::TcpV4 },
            size: 1000,
            hdr_len: 0,
            ecn: false,
        });
        let (v, out, o2) = run(&mut d, &f, o);
        assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
        assert_eq!(o2, o);
        // DR only decrements the TTL (and patches the IPv4 header checksum).
        let (l4, _) = l4_of(&f);
        assert!(out[l4..] == f[l4..], "DR leaves L4 alone");
        assert!(out.len() == f.len());
    }
}

#[test]
fn tun_completes_partial_checksum() {
    for v6 in [false, true] {
        for tcp in [false, true] {
            let mut d = director(Mode::Tun, 1500);
            let (client, vip, _) = addrs(v6);
            let mut f = frame(
                client,
                40000,
                vip,
                80,
                tcp,
                tcp,
                (false, false, false),
                &[9; 200],
                CLIENT_MAC,
            );
            let o = make_partial(&mut f);
            let (v, out, o2) = run(&mut d, &f, o);
            assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
            assert_eq!(o2, Offload::NONE);
            // verify_frame recurses into the inner packet of IPIP / 6in6.
            verify_frame(&out).unwrap();
        }
    }
}

fn tcp_gso(v6: bool, size: u16) -> Offload {
    Offload {
        gso: Some(Gso {
            kind: if v6 { GsoKind::TcpV6 } else { GsoKind::TcpV4 },
            size,
            hdr_len: 0,
            ecn: false,
        }),
        ..Offload::NONE
    }
}

#[test]
fn tun_gso_is_marked_and_segments_verify() {
    for v6 in [false, true] {
        let mut d = director(Mode::Tun, 1500);
        let (client, vip, _) = addrs(v6);
        let payload: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut f = frame(
            client,
            40000,
            vip,
            80,
            true,
            true,
            (false, true, false),
            &payload,
            CLIENT_MAC,
        );
        let mut o = make_partial(&mut f);
        o.gso = tcp_gso(v6, 1400).gso;
        let (v, out, o2) = run(&mut d, &f, o);
        assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
        assert!(o2.needs_software_gso());
        let e = o2.encap.unwrap();
        let inner = usize::from(e.inner_offset);
        assert_eq!(inner, 14 + if v6 { 40 } else { 20 });
        assert_eq!(
            usize::from(o2.csum.unwrap().start),
            inner + if v6 { 40 } else { 20 }
        );
        let mut scratch = vec![0u8; 2048];
        let mut got = Vec::new();
        let n = gso::segment(&out, &o2, &mut scratch, &mut |s| {
            assert!(s.len() - 14 <= 1500, "segment fits the MTU");
            verify_frame(s).unwrap();
            got.extend_from_slice(&s[inner + if v6 { 60 } else { 40 }..]);
        })
        .unwrap();
        assert_eq!(n, 4);
        assert_eq!(got, payload);
    }
}

#[test]
fn tun_mtu_of_gso_frame_is_one_segment() {
    for v6 in [false, true] {
        let (client, vip, _) = addrs(v6);
        let payload = vec![1u8; 6000];
        let f = frame(
            client,
            40000,
            vip,
            80,
            true,
            true,
            (false, false, false),
            &payload,
            CLIENT_MAC,
        );
        // A 6000-byte super-frame whose segments (1400 + headers + outer) fit 1500.
        let mut d = director(Mode::Tun, 1500);
        let (v, _, _) = run(&mut d, &f, tcp_gso(v6, 1400));
        assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
        // Segments of 1460 bytes + headers + outer do not: frag-needed / PTB.
        let mut d = director(Mode::Tun, 1500);
        let (v, out, o) = run(&mut d, &f, tcp_gso(v6, 1460));
        assert!(matches!(v, Verdict::Reply { .. }), "{v:?}");
        assert_eq!(o, Offload::NONE);
        let p = SlicedPacket::from_ethernet(&out).unwrap();
        let mtu = match p.net.unwrap() {
            etherparse::NetSlice::Ipv4(_) => {
                u32::from(u16::from_be_bytes([out[14 + 20 + 6], out[14 + 20 + 7]]))
            }
            etherparse::NetSlice::Ipv6(_) => {
                u32::from_be_bytes(out[14 + 40 + 4..14 + 40 + 8].try_into().unwrap())
            }
            _ => unreachable!(),
        };
        assert_eq!(mtu, if v6 { 1460 } else { 1480 });
    }
}

#[test]
fn held_partial_frame_is_completed_and_gso_is_dropped() {
    let addrs: Vec<IpCidr> = ["192.0.2.1/24", "198.51.100.1/24"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let cfg = DirectorConfig::single_link(MacAddr(DIRECTOR_MAC), &addrs);
    let rules = format!("-A -t {VIP4}:80 -s rr\n-a -t {VIP4}:80 -r {RS4}:8080 -m\n");
    let mut d = Director::from_rules(cfg, &rules).unwrap();
    let mut f = frame(
        ip(CLIENT4),
        1,
        ip(VIP4),
        80,
        true,
        true,
        (false, false, false),
        b"abc",
        CLIENT_MAC,
    );
    let o = make_partial(&mut f);
    let (v, _, o2) = run(&mut d, &f, o);
    assert_eq!(v, Verdict::Held);
    assert_eq!(o2, Offload::NONE);
    let mut big = frame(
        ip(CLIENT4),
        2,
        ip(VIP4),
        80,
        true,
        true,
        (false, false, false),
        &[0; 3000],
        CLIENT_MAC,
    );
    let mut o = make_partial(&mut big);
    o.gso = tcp_gso(false, 1000).gso;
    let (v, _, _) = run(&mut d, &big, o);
    assert_eq!(
        v,
        Verdict::Drop(lvs_forwarding::DropReason::NeighborUnreachable)
    );
    // The ARP answer releases the held frame, complete.
    let mut out = vec![0u8; 2048];
    while d.poll_transmit(&mut out).is_some() {}
    let arp = {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(RS_MAC, DIRECTOR_MAC)
            .arp(
                etherparse::ArpPacket::new(
                    etherparse::ArpHardwareId::ETHERNET,
                    etherparse::EtherType::IPV4,
                    etherparse::ArpOperation::REPLY,
                    &RS_MAC,
                    &ip(RS4)
                        .to_string()
                        .parse::<std::net::Ipv4Addr>()
                        .unwrap()
                        .octets(),
                    &DIRECTOR_MAC,
                    &[198, 51, 100, 1],
                )
                .unwrap(),
            )
            .write(&mut v)
            .unwrap();
        v
    };
    run(&mut d, &arp, Offload::NONE);
    let (_, len) = d.poll_transmit(&mut out).expect("released frame");
    verify_frame(&out[..len]).unwrap();
}

#[test]
fn icmp_with_partial_checksum_is_completed() {
    let mut d = director(Mode::Nat, 1500);
    let mut v = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC)
        .ipv4([192, 0, 2, 2], [192, 0, 2, 1], 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut v, b"ping")
        .unwrap();
    // A partial ICMP checksum: the field is 0 and the finisher sums the message.
    v[36..38].copy_from_slice(&[0, 0]);
    let o = Offload {
        csum: Some(PartialCsum {
            start: 34,
            offset: 2,
        }),
        ..Offload::NONE
    };
    let (verdict, _, o2) = run(&mut d, &v, o);
    assert_eq!(verdict, Verdict::ToHost);
    assert_eq!(o2, Offload::NONE, "completed in software");
}

#[test]
fn gso_kind_mismatch_is_dropped() {
    let mut d = director(Mode::Nat, 1500);
    let (client, vip, _) = addrs(false);
    let f = frame(
        client,
        1,
        vip,
        80,
        false,
        false,
        (false, false, false),
        &[0; 3000],
        CLIENT_MAC,
    );
    let (v, _, _) = run(&mut d, &f, tcp_gso(false, 1000));
    assert_eq!(v, Verdict::Drop(lvs_forwarding::DropReason::Malformed));
}

// ----- segmenter properties ------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Outer {
    Plain,
    Ipip(bool),
    Gue(bool),
}

/// A super-frame of `payload` (TCP with flags, or UDP), optionally encapsulated; returns
/// the frame and its offload.
fn super_frame(
    v6: bool,
    tcp: bool,
    flags: (bool, bool, bool),
    payload: &[u8],
    size: u16,
    outer: Outer,
) -> (Vec<u8>, Offload) {
    let (client, vip, _) = addrs(v6);
    let mut f = frame(
        client, 40000, vip, 80, tcp, false, flags, payload, CLIENT_MAC,
    );
    let mut o = make_partial(&mut f);
    o.gso = Some(Gso {
        kind: match (tcp, v6) {
            (true, false) => GsoKind::TcpV4,
            (true, true) => GsoKind::TcpV6,
            _ => GsoKind::UdpL4,
        },
        size,
        hdr_len: 0,
        ecn: false,
    });
    let (kind, ov6) = match outer {
        Outer::Plain => return (f, o),
        Outer::Ipip(ov6) => (TunnelKind::Ipip, ov6),
        Outer::Gue(ov6) => (
            TunnelKind::Gue {
                dst_port: 6080,
                src_port: 50000,
            },
            ov6,
        ),
    };
    let mut buf = vec![0u8; HEAD + f.len()];
    buf[HEAD..].copy_from_slice(&f);
    let parsed = parse_frame(&f).unwrap();
    let p = TunnelParams {
        kind,
        src_mac: MacAddr(DIRECTOR_MAC),
        dst_mac: MacAddr(RS_MAC),
        outer_src: if ov6 {
            ip("2001:db8:5::1")
        } else {
            ip("198.51.100.1")
        },
        outer_dst: if ov6 { ip(RS6) } else { ip(RS4) },
        ip_id: 0xfff0,
    };
    let (s, l) = xform::encap(&mut buf, HEAD, f.len(), &parsed, &p).unwrap();
    o.encap = Some(Encap {
        inner_offset: (HEAD + 14 - s) as u16,
    });
    (buf[s..s + l].to_vec(), o)
}

fn check_segments(frame: &[u8], o: &Offload, payload: &[u8], tcp: bool, flags: (bool, bool, bool)) {
    let size = usize::from(o.gso.unwrap().size);
    let inner = o.encap.map_or(14, |e| usize::from(e.inner_offset));
    let mut scratch = vec![0u8; 70_000];
    let mut segs: Vec<Vec<u8>> = Vec::new();
    let n = gso::segment(frame, o, &mut scratch, &mut |s| segs.push(s.to_vec())).unwrap();
    assert_eq!(n, segs.len());
    assert_eq!(n, payload.len().div_ceil(size).max(1));
    let mut got = Vec::new();
    let (mut seq, mut id) = (None::<u32>, None::<u16>);
    let mut outer_id = None::<u16>;
    for (i, s) in segs.iter().enumerate() {
        verify_frame(s).unwrap_or_else(|e| panic!("segment {i}: {e}"));
        verify_ip(&s[inner..]).unwrap_or_else(|e| panic!("inner of segment {i}: {e}"));
        let v4 = s[inner] >> 4 == 4;
        let l4 = inner
            + if v4 {
                usize::from(s[inner] & 15) * 4
            } else {
                40
            };
        let hl = if tcp {
            usize::from(s[l4 + 12] >> 4) * 4
        } else {
            8
        };
        let data = &s[l4 + hl..];
        assert!(data.len() <= size);
        assert!(!data.is_empty() || payload.is_empty());
        if tcp {
            let sq = u32::from_be_bytes(s[l4 + 4..l4 + 8].try_into().unwrap());
            if let Some(p) = seq {
                assert_eq!(sq, p, "contiguous sequence numbers");
            }
            seq = Some(sq.wrapping_add(data.len() as u32));
            let fl = s[l4 + 13];
            let last = i + 1 == n;
            assert_eq!(fl & 1 != 0, flags.0 && last, "FIN on the last only");
            assert_eq!(fl & 8 != 0, flags.1 && last, "PSH on the last only");
            assert_eq!(fl & 0x80 != 0, flags.2 && i == 0, "CWR on the first only");
            assert!(fl & 0x10 != 0, "ACK kept");
        } else {
            assert_eq!(
                usize::from(u16::from_be_bytes([s[l4 + 4], s[l4 + 5]])),
                8 + data.len()
            );
        }
        if v4 {
            let this = u16::from_be_bytes([s[inner + 4], s[inner + 5]]);
            if let Some(p) = id {
                assert_eq!(this, p.wrapping_add(1), "IPv4 ID +1 per segment");
            }
            id = Some(this);
        }
        if inner != 14 && s[14] >> 4 == 4 {
            let this = u16::from_be_bytes([s[18], s[19]]);
            if let Some(p) = outer_id {
                assert_eq!(this, p.wrapping_add(1));
            }
            outer_id = Some(this);
            if s[23] == 17 {
                let ul = usize::from(u16::from_be_bytes([s[38], s[39]]));
                assert_eq!(ul, s.len() - 34, "GUE UDP length");
                assert_eq!(&s[40..42], &[0, 0], "GUE checksum 0 over IPv4");
            }
        }
        got.extend_from_slice(data);
    }
    assert_eq!(got, payload);
}

fn outer_strategy() -> impl Strategy<Value = Outer> {
    prop_oneof![
        Just(Outer::Plain),
        any::<bool>().prop_map(Outer::Ipip),
        any::<bool>().prop_map(Outer::Gue),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn gso_segments_reassemble_and_verify(
        v6 in any::<bool>(),
        tcp in any::<bool>(),
        flags in (any::<bool>(), any::<bool>(), any::<bool>()),
        len in 0usize..9000,
        size in 1u16..2000,
        outer in outer_strategy(),
        seed in any::<u8>(),
    ) {
        let payload: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
        let (f, o) = super_frame(v6, tcp, flags, &payload, size, outer);
        check_segments(&f, &o, &payload, tcp, flags);
    }
}

#[test]
fn segment_refusals() {
    let payload = [0u8; 100];
    let (f, o) = super_frame(
        false,
        true,
        (false, false, false),
        &payload,
        10,
        Outer::Plain,
    );
    let mut small = [0u8; 40];
    assert!(matches!(
        gso::segment(&f, &o, &mut small, &mut |_| panic!()),
        Err(GsoError::ScratchTooSmall { .. })
    ));
    let mut scratch = [0u8; 2048];
    let mut bad = o;
    bad.gso.as_mut().unwrap().kind = GsoKind::TcpV6;
    assert!(matches!(
        gso::segment(&f, &bad, &mut scratch, &mut |_| panic!()),
        Err(GsoError::KindMismatch { .. })
    ));
    bad.gso.as_mut().unwrap().kind = GsoKind::Udp;
    assert_eq!(
        gso::segment(&f, &bad, &mut scratch, &mut |_| panic!()),
        Err(GsoError::UnsupportedKind(GsoKind::Udp))
    );
    let mut bad = o;
    bad.encap = Some(Encap { inner_offset: 14 });
    assert_eq!(
        gso::segment(&f, &bad, &mut scratch, &mut |_| panic!()),
        Err(GsoError::BadEncap)
    );
    let _ = IpFamily::V4;
}
