//! The crate promises that no input makes a public function panic. A [`Frame`] is plain data
//! a caller can build by hand (or pair with the wrong buffer), so every transformer and every
//! packet generator is called here with frames whose offsets and lengths are absurd
//! (`usize::MAX`, beyond the buffer, l4 before l3, quoted packets outside the packet), in a
//! debug build where integer overflow panics. Errors are expected; panics fail the test.

mod common;

use common::*;
use lvs_forwarding::wire::{
    self, ArpInfo, Frame, IcmpInfo, IpFamily, L3, L4, MacAddr, NdpInfo, NdpKind, parse_frame,
};
use lvs_forwarding::xform::{self, IcmpErrorKind, TunnelKind, TunnelParams};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Valid frames of every kind the functions look at, to mutate.
fn samples() -> Vec<Vec<u8>> {
    let c4 = ip("198.51.100.7");
    let v4 = ip("203.0.113.10");
    let c6 = ip("2001:db8:c::7");
    let v6 = ip("2001:db8:f::10");
    let mut v = vec![
        build(c4, v4, true, 40000, 80, 64, b"hello"),
        build(c4, v4, false, 40000, 53, 64, b"q"),
        build(c6, v6, true, 40000, 80, 64, b"hello"),
        build(c6, v6, false, 40000, 53, 64, b""),
        build_icmp_error(v4, c4, &build_ip(c4, v4, true, 40000, 80, b"x")),
        build_icmp_error(v6, c6, &build_ip(c6, v6, false, 40000, 53, b"x")),
    ];
    // An ARP request.
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 7, 0x08, 0x06]);
    arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 7]);
    arp.extend_from_slice(&[198, 51, 100, 7, 0, 0, 0, 0, 0, 0, 203, 0, 113, 10]);
    v.push(arp);
    v
}

fn absurd() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(usize::MAX),
        Just(usize::MAX - 1),
        Just(usize::MAX - 39),
        Just(usize::MAX / 2),
        0usize..96,
        0usize..4096,
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    L3Offset(usize),
    VlanLen(u8),
    TotalLen(usize),
    HeaderLen(usize),
    L4Offset(usize),
    EmbeddedL3(usize),
    EmbeddedHeaderLen(usize),
    EmbeddedL4(usize),
    /// Make the frame claim to be a neighbour solicitation.
    Ndp(bool),
    /// Make the frame claim to be an ARP request.
    Arp,
    /// Swap the IP family of the frame's addresses.
    Family,
    /// Cut the buffer to this length.
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        absurd().prop_map(Mutation::L3Offset),
        any::<u8>().prop_map(Mutation::VlanLen),
        absurd().prop_map(Mutation::TotalLen),
        absurd().prop_map(Mutation::HeaderLen),
        absurd().prop_map(Mutation::L4Offset),
        absurd().prop_map(Mutation::EmbeddedL3),
        absurd().prop_map(Mutation::EmbeddedHeaderLen),
        absurd().prop_map(Mutation::EmbeddedL4),
        any::<bool>().prop_map(Mutation::Ndp),
        Just(Mutation::Arp),
        Just(Mutation::Family),
        (0usize..128).prop_map(Mutation::Truncate),
    ]
}

fn embedded_of(f: &mut Frame) -> Option<&mut wire::Embedded> {
    match &mut f.l3 {
        L3::Ip(ip) => match &mut ip.l4 {
            L4::Icmp(IcmpInfo { error: Some(e), .. }) => Some(e),
            _ => None,
        },
        _ => None,
    }
}

fn apply(buf: &mut Vec<u8>, f: &mut Frame, m: &Mutation) {
    let ipi = match &mut f.l3 {
        L3::Ip(ip) => Some(ip),
        _ => None,
    };
    match *m {
        Mutation::L3Offset(v) => f.l3_offset = v,
        Mutation::VlanLen(v) => f.vlan_len = v,
        Mutation::TotalLen(v) => {
            if let Some(ip) = ipi {
                ip.total_len = v;
            }
        }
        Mutation::HeaderLen(v) => {
            if let Some(ip) = ipi {
                ip.header_len = v;
            }
        }
        Mutation::L4Offset(v) => {
            if let Some(ip) = ipi {
                ip.l4_offset = v;
            }
        }
        Mutation::EmbeddedL3(v) => {
            if let Some(e) = embedded_of(f) {
                e.l3_offset = v;
            }
        }
        Mutation::EmbeddedHeaderLen(v) => {
            if let Some(e) = embedded_of(f) {
                e.header_len = v;
            }
        }
        Mutation::EmbeddedL4(v) => {
            if let Some(e) = embedded_of(f) {
                e.l4_offset = v;
            }
        }
        Mutation::Ndp(with_mac) => {
            if let Some(ip) = ipi {
                ip.l4 = L4::Icmp(IcmpInfo {
                    ty: 135,
                    code: 0,
                    rest: 0,
                    error: None,
                    ndp: Some(NdpInfo {
                        kind: NdpKind::Solicitation,
                        target: "2001:db8:f::10".parse().unwrap(),
                        link_addr: with_mac.then_some(MacAddr([2, 0, 0, 0, 0, 9])),
                    }),
                });
            }
        }
        Mutation::Arp => {
            f.l3 = L3::Arp(ArpInfo {
                op: 1,
                sender_mac: MacAddr([2, 0, 0, 0, 0, 7]),
                sender_ip: Ipv4Addr::new(198, 51, 100, 7),
                target_mac: MacAddr::ZERO,
                target_ip: Ipv4Addr::new(203, 0, 113, 10),
            })
        }
        Mutation::Family => {
            if let Some(ip) = ipi {
                let swap = |a: IpAddr| match a {
                    IpAddr::V4(a) => IpAddr::V6(a.to_ipv6_mapped()),
                    IpAddr::V6(_) => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                };
                ip.src = swap(ip.src);
                ip.dst = swap(ip.dst);
            }
        }
        Mutation::Truncate(n) => buf.truncate(n),
    }
}

const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

/// NAT, tunnel and MTU functions (xform/nat.rs, xform/tun.rs, `check_mtu`).
fn call_nat_tun_mtu(buf: &[u8], f: &Frame, start: usize, len: usize) {
    let sa4: SocketAddr = "10.0.0.21:8080".parse().unwrap();
    let sa6: SocketAddr = "[fd00::21]:8080".parse().unwrap();
    let our4 = ip("203.0.113.10");
    let our6 = ip("2001:db8:f::10");
    for sa in [sa4, sa6] {
        let _ = xform::nat_request(&mut buf.to_vec(), f, sa);
        let _ = xform::nat_reply(&mut buf.to_vec(), f, sa);
        let _ = xform::nat_icmp_error_out(&mut buf.to_vec(), f, sa);
        let _ = xform::nat_icmp_error_in(&mut buf.to_vec(), f, sa);
    }
    for overhead in [0, 20, usize::MAX] {
        let _ = xform::check_mtu(f, 1500, overhead);
    }
    for (src, dst) in [(our4, ip("10.0.0.21")), (our6, ip("fd00::21"))] {
        for kind in [
            TunnelKind::Ipip,
            TunnelKind::Gue {
                dst_port: 6080,
                src_port: 0,
            },
        ] {
            let _ = xform::tunnel_mtu_check(f, IpFamily::of(&src), kind, 1500);
            let p = TunnelParams {
                kind,
                src_mac: MAC,
                dst_mac: MAC,
                outer_src: src,
                outer_dst: dst,
                ip_id: 1,
            };
            let mut b = vec![0u8; xform::MAX_HEADROOM];
            b.extend_from_slice(buf);
            let _ = xform::encap(&mut b, start, len, f, &p);
            let _ = xform::encap(&mut b, xform::MAX_HEADROOM, buf.len(), f, &p);
        }
    }
    let _ = xform::decap(buf, Some(6080));
}

/// VS/DR and every packet generator (xform/dr.rs, xform/icmp_gen.rs).
fn call_dr_and_generators(buf: &[u8], f: &Frame, out_len: usize) {
    let our4 = ip("203.0.113.10");
    let our6 = ip("2001:db8:f::10");
    let _ = xform::dr_forward(&mut buf.to_vec(), f, MAC, MAC);
    let mut out = vec![0u8; out_len];
    for src in [our4, our6] {
        for kind in [
            IcmpErrorKind::TimeExceeded,
            IcmpErrorKind::PortUnreachable,
            IcmpErrorKind::FragNeeded { mtu: 1400 },
            IcmpErrorKind::FragNeeded { mtu: u32::MAX },
        ] {
            let _ = xform::icmp_error(buf, f, kind, MAC, src, &mut out);
        }
        let _ = xform::icmp_time_exceeded(buf, f, MAC, src, &mut out);
        let _ = xform::icmp_frag_needed(buf, f, MAC, src, 1280, &mut out);
    }
    let _ = xform::icmp_port_unreachable(buf, f, MAC, &mut out);
    let _ = xform::arp_reply(buf, f, MAC, &mut out);
    let _ = xform::neighbor_advertisement(buf, f, MAC, &mut out);
    let _ = xform::arp_request(
        &mut out,
        MAC,
        Ipv4Addr::new(192, 0, 2, 1),
        Ipv4Addr::BROADCAST,
    );
    let _ = xform::neighbor_solicitation(&mut out, MAC, Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn absurd_frames_never_panic_dr_and_generators(
        which in 0usize..7,
        muts in prop::collection::vec(mutation(), 1..4),
        out_len in prop_oneof![Just(0usize), 0usize..128, Just(1514usize)],
    ) {
        let mut buf = samples().swap_remove(which);
        let mut f = parse_frame(&buf).expect("sample parses");
        for m in &muts {
            apply(&mut buf, &mut f, m);
        }
        call_dr_and_generators(&buf, &f, out_len);
    }

    #[test]
    fn absurd_frames_never_panic_nat_tun_mtu(
        which in 0usize..7,
        muts in prop::collection::vec(mutation(), 1..4),
        start in absurd(),
        len in absurd(),
    ) {
        let mut buf = samples().swap_remove(which);
        let mut f = parse_frame(&buf).expect("sample parses");
        for m in &muts {
            apply(&mut buf, &mut f, m);
        }
        call_nat_tun_mtu(&buf, &f, start, len);
    }
}

/// The cases that overflowed before the fix, kept as plain tests.
#[test]
fn known_overflows_dr_and_generators() {
    each_known_case(|b, f| call_dr_and_generators(b, f, 1514));
}

/// As above, for NAT, tunnels and the MTU check.
#[test]
fn known_overflows_nat_tun_mtu() {
    each_known_case(|b, f| call_nat_tun_mtu(b, f, 0, b.len()));
}

fn each_known_case(call: impl Fn(&[u8], &Frame)) {
    for which in 0..7 {
        let buf = samples().swap_remove(which);
        let f0 = parse_frame(&buf).unwrap();
        for m in [
            Mutation::L3Offset(usize::MAX),
            Mutation::L3Offset(usize::MAX - 39),
            Mutation::HeaderLen(usize::MAX),
            Mutation::L4Offset(usize::MAX),
            Mutation::EmbeddedL3(usize::MAX),
            Mutation::EmbeddedHeaderLen(usize::MAX),
            Mutation::EmbeddedL4(usize::MAX),
            Mutation::TotalLen(usize::MAX),
        ] {
            let mut b = buf.clone();
            let mut f = f0;
            apply(&mut b, &mut f, &m);
            call(&b, &f);
        }
    }
}
