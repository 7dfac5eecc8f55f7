//! Every transform, on IPv4/IPv6 × TCP/UDP packets built by etherparse, leaves checksums
//! that a from-scratch recomputation accepts; and the field-level effects are as specified.

mod common;

use common::*;
use lvs_forwarding::wire::{self, IpFamily, MacAddr, parse_frame};
use lvs_forwarding::xform::{self, MtuVerdict, TunnelKind, TunnelParams, XformError};
use std::net::{IpAddr, SocketAddr};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const CLIENT4: &str = "198.51.100.7";
const VIP4: &str = "203.0.113.10";
const RS4: &str = "10.0.0.21";
const CLIENT6: &str = "2001:db8:c::7";
const VIP6: &str = "2001:db8:f::10";
const RS6: &str = "fd00::21";

fn cases() -> Vec<(IpAddr, IpAddr, IpAddr, bool)> {
    let mut v = Vec::new();
    for tcp in [true, false] {
        v.push((ip(CLIENT4), ip(VIP4), ip(RS4), tcp));
        v.push((ip(CLIENT6), ip(VIP6), ip(RS6), tcp));
    }
    v
}

fn ip_of(frame: &[u8]) -> (IpAddr, IpAddr, u8, u16, u16) {
    let f = parse_frame(frame).unwrap();
    let ip = f.ip().unwrap();
    let (s, d) = f.ports().unwrap();
    (ip.src, ip.dst, ip.ttl, s, d)
}

#[test]
fn nat_request_then_reply_roundtrip() {
    for (client, vip, rs, tcp) in cases() {
        let payload: Vec<u8> = (0..37u8).collect();
        let orig = build(client, vip, tcp, 40000, 80, 64, &payload);
        assert!(verify_frame(&orig).is_ok());
        let mut fr = orig.clone();
        let f = parse_frame(&fr).unwrap();
        xform::nat_request(&mut fr, &f, SocketAddr::new(rs, 8080)).unwrap();
        verify_frame(&fr).unwrap_or_else(|e| panic!("{client} tcp={tcp}: {e}"));
        assert_eq!(ip_of(&fr), (client, rs, 63, 40000, 8080));
        assert_eq!(&fr[fr.len() - payload.len()..], &payload[..]);

        // The "reply" direction applied to the same packet rewrites the source; to check
        // that NAT is exactly reversible, apply DNAT back to the VIP and compare.
        let f2 = parse_frame(&fr).unwrap();
        xform::nat_request(&mut fr, &f2, SocketAddr::new(vip, 80)).unwrap();
        let mut expect = orig.clone();
        let fe = parse_frame(&expect).unwrap();
        // TTL went down twice; everything else must be byte-identical to the original with
        // TTL 62, which we obtain by applying DR (TTL only) twice to the original.
        xform::dr_forward(&mut expect, &fe, MacAddr(CLIENT_MAC), MacAddr(DIRECTOR_MAC)).unwrap();
        let fe = parse_frame(&expect).unwrap();
        xform::dr_forward(&mut expect, &fe, MacAddr(CLIENT_MAC), MacAddr(DIRECTOR_MAC)).unwrap();
        let mut exp = expect.clone();
        exp[0..6].copy_from_slice(&CLIENT_MAC);
        exp[6..12].copy_from_slice(&DIRECTOR_MAC);
        let mut got = fr.clone();
        got[0..6].copy_from_slice(&CLIENT_MAC);
        got[6..12].copy_from_slice(&DIRECTOR_MAC);
        // L4 checksum may differ only by 0x0000 <-> 0xffff representation; both verified.
        verify_frame(&got).unwrap();
        assert_eq!(ip_of(&got), ip_of(&exp));
    }
}

#[test]
fn nat_reply_restores_vip() {
    for (client, vip, rs, tcp) in cases() {
        // Reply from the real server to the client.
        let orig = build(rs, client, tcp, 8080, 40000, 64, b"hello world");
        let mut fr = orig.clone();
        let f = parse_frame(&fr).unwrap();
        xform::nat_reply(&mut fr, &f, SocketAddr::new(vip, 80)).unwrap();
        verify_frame(&fr).unwrap_or_else(|e| panic!("{rs} tcp={tcp}: {e}"));
        assert_eq!(ip_of(&fr), (vip, client, 63, 80, 40000));
        // And back: NAT reply to the RS again gives the original bytes except TTL.
        let f = parse_frame(&fr).unwrap();
        xform::nat_reply(&mut fr, &f, SocketAddr::new(rs, 8080)).unwrap();
        assert_eq!(ip_of(&fr), (rs, client, 62, 8080, 40000));
        verify_frame(&fr).unwrap();
        // Addresses, ports and payload are byte-identical to the original.
        let l3 = 14;
        let (a, b) = if rs.is_ipv4() { (12, 20) } else { (8, 40) };
        assert_eq!(fr[l3 + a..l3 + b], orig[l3 + a..l3 + b]);
        assert_eq!(fr[fr.len() - 11..], orig[orig.len() - 11..]);
    }
}

#[test]
fn nat_request_reply_restores_original_exactly() {
    // DNAT client->VIP into client->RS, then the reverse DNAT back to VIP: all bytes equal
    // the original except TTL (and the IPv4 header checksum, which follows the TTL).
    for (client, vip, rs, tcp) in cases() {
        let orig = build(client, vip, tcp, 1234, 443, 200, &[9u8; 100]);
        let mut fr = orig.clone();
        let f = parse_frame(&fr).unwrap();
        xform::nat_request(&mut fr, &f, SocketAddr::new(rs, 4443)).unwrap();
        let f = parse_frame(&fr).unwrap();
        xform::nat_request(&mut fr, &f, SocketAddr::new(vip, 443)).unwrap();
        verify_frame(&fr).unwrap();
        let ttl_at = if client.is_ipv4() { 14 + 8 } else { 14 + 7 };
        assert_eq!(fr[ttl_at], 198);
        let mut a = fr.clone();
        let mut b = orig.clone();
        for x in [&mut a, &mut b] {
            x[ttl_at] = 0;
            if client.is_ipv4() {
                x[24] = 0;
                x[25] = 0;
            }
        }
        let csum_at = 14 + if client.is_ipv4() { 20 } else { 40 } + if tcp { 16 } else { 6 };
        let (ca, cb) = (
            u16::from_be_bytes([a[csum_at], a[csum_at + 1]]),
            u16::from_be_bytes([b[csum_at], b[csum_at + 1]]),
        );
        assert!(ca == cb || (ca | cb == 0xffff && ca & cb == 0));
        a[csum_at] = 0;
        a[csum_at + 1] = 0;
        b[csum_at] = 0;
        b[csum_at + 1] = 0;
        assert_eq!(a, b, "{client} tcp={tcp}");
    }
}

#[test]
fn udp_v4_zero_checksum_stays_zero() {
    let mut fr = build(ip(CLIENT4), ip(VIP4), false, 5000, 53, 64, b"q");
    let cs = 14 + 20 + 6;
    fr[cs] = 0;
    fr[cs + 1] = 0;
    let f = parse_frame(&fr).unwrap();
    xform::nat_request(&mut fr, &f, SocketAddr::new(ip(RS4), 5353)).unwrap();
    assert_eq!(&fr[cs..cs + 2], &[0, 0]);
    verify_frame(&fr).unwrap();
}

#[test]
fn ttl_expiry_leaves_buffer_untouched() {
    for (client, vip, rs, tcp) in cases() {
        for ttl in [0u8, 1] {
            let orig = build(client, vip, tcp, 1, 2, ttl, b"x");
            let mut fr = orig.clone();
            let f = parse_frame(&fr).unwrap();
            let r = xform::nat_request(&mut fr, &f, SocketAddr::new(rs, 2));
            assert_eq!(r, Err(XformError::TtlExpired));
            let r = xform::dr_forward(&mut fr, &f, MacAddr(RS_MAC), MacAddr(DIRECTOR_MAC));
            assert_eq!(r, Err(XformError::TtlExpired));
            let mut buf = vec![0u8; 64];
            buf.extend_from_slice(&orig);
            let p = tun_params(vip, rs, TunnelKind::Ipip);
            let r = xform::encap(&mut buf, 64, orig.len(), &f, &p);
            assert_eq!(r, Err(XformError::TtlExpired));
            assert_eq!(fr, orig);
            assert_eq!(&buf[64..], &orig[..]);
        }
    }
}

#[test]
fn family_mismatch_refused() {
    let mut fr = build(ip(CLIENT4), ip(VIP4), true, 1, 2, 9, b"");
    let f = parse_frame(&fr).unwrap();
    assert_eq!(
        xform::nat_request(&mut fr, &f, SocketAddr::new(ip(RS6), 2)),
        Err(XformError::FamilyMismatch)
    );
}

#[test]
fn dr_changes_only_macs_and_ttl() {
    for (client, vip, _rs, tcp) in cases() {
        let orig = build(client, vip, tcp, 1000, 80, 64, b"payload");
        let mut fr = orig.clone();
        let f = parse_frame(&fr).unwrap();
        xform::dr_forward(&mut fr, &f, MacAddr(RS_MAC), MacAddr(DIRECTOR_MAC)).unwrap();
        verify_frame(&fr).unwrap();
        assert_eq!(&fr[0..6], &RS_MAC);
        assert_eq!(&fr[6..12], &DIRECTOR_MAC);
        let diff: Vec<usize> = (0..fr.len()).filter(|&i| fr[i] != orig[i]).collect();
        let allowed: &[usize] = if client.is_ipv4() {
            &[22, 24, 25]
        } else {
            &[21]
        };
        assert!(
            diff.iter().all(|i| *i < 12 || allowed.contains(i)),
            "{diff:?}"
        );
        assert_eq!(ip_of(&fr).2, 63);
    }
}

fn tun_params(outer_src: IpAddr, outer_dst: IpAddr, kind: TunnelKind) -> TunnelParams {
    TunnelParams {
        kind,
        src_mac: MacAddr(DIRECTOR_MAC),
        dst_mac: MacAddr(RS_MAC),
        outer_src,
        outer_dst,
        ip_id: 0x4242,
    }
}

#[test]
fn tunnel_all_families_and_kinds() {
    let kinds = [
        TunnelKind::Ipip,
        TunnelKind::Gue {
            dst_port: 6080,
            src_port: 49999,
        },
    ];
    for (client, vip, _, tcp) in cases() {
        for (dsrc, rs) in [(ip("10.0.0.1"), ip(RS4)), (ip("fd00::1"), ip(RS6))] {
            for kind in kinds {
                let orig = build(client, vip, tcp, 999, 80, 17, &[0xab; 33]);
                let mut buf = vec![0u8; xform::MAX_HEADROOM];
                buf.extend_from_slice(&orig);
                buf.extend_from_slice(&[0u8; 6]); // junk after the frame
                let f = parse_frame(&orig).unwrap();
                let p = tun_params(dsrc, rs, kind);
                let (s, l) =
                    xform::encap(&mut buf, xform::MAX_HEADROOM, orig.len(), &f, &p).unwrap();
                let out = &buf[s..s + l];
                let outer_fam = IpFamily::of(&dsrc);
                assert_eq!(l, orig.len() + xform::tunnel_overhead(outer_fam, kind));
                verify_frame(out).unwrap_or_else(|e| panic!("{client}->{rs} {kind:?}: {e}"));
                let of = parse_frame(out).unwrap();
                let oip = of.ip().unwrap();
                assert_eq!((oip.src, oip.dst, oip.ttl), (dsrc, rs, 16));
                assert_eq!(of.src_mac, MacAddr(DIRECTOR_MAC));
                assert_eq!(of.dst_mac, MacAddr(RS_MAC));
                if let (IpAddr::V4(_), true) = (dsrc, client.is_ipv4()) {
                    assert!(oip.dont_fragment, "DF copied from inner");
                }
                let gue = match kind {
                    TunnelKind::Gue { dst_port, src_port } => {
                        assert_eq!(of.ports(), Some((src_port, dst_port)));
                        Some(dst_port)
                    }
                    TunnelKind::Ipip => {
                        let want = if client.is_ipv4() { 4 } else { 41 };
                        assert_eq!(oip.protocol, want);
                        None
                    }
                };
                let d = xform::decap(out, gue).unwrap();
                let inner = &out[d.inner_offset..d.inner_offset + d.inner_len];
                let mut expect = orig[14..].to_vec();
                let ttl_at = if client.is_ipv4() { 8 } else { 7 };
                assert_eq!(inner[ttl_at], 16);
                expect[ttl_at] = 16;
                if client.is_ipv4() {
                    // header checksum follows the TTL; verified below
                    expect[10] = inner[10];
                    expect[11] = inner[11];
                }
                assert_eq!(inner, &expect[..]);
                verify_ip(inner).unwrap();
            }
        }
    }
}

#[test]
fn tunnel_ecn_and_dscp() {
    let mut orig = build(ip(CLIENT4), ip(VIP4), true, 1, 2, 64, b"");
    orig[15] = 0xb8 | 3; // EF + CE
    let c = u16::from_be_bytes([orig[24], orig[25]]);
    let c = wire::checksum::update16(c, 0x4500, 0x45bb);
    orig[24..26].copy_from_slice(&c.to_be_bytes());
    verify_frame(&orig).unwrap();
    let f = parse_frame(&orig).unwrap();
    let mut buf = vec![0u8; 20];
    buf.extend_from_slice(&orig);
    let p = tun_params(ip("10.0.0.1"), ip(RS4), TunnelKind::Ipip);
    let (s, _) = xform::encap(&mut buf, 20, orig.len(), &f, &p).unwrap();
    assert_eq!(s, 20 + 14 - 20 - 14);
    assert_eq!(buf[s + 15], 0xb8 | 2, "CE becomes ECT(0), DSCP kept");
    assert_eq!(&buf[s + 18..s + 20], &[0x42, 0x42], "caller's IP ID");
    // Not enough headroom.
    let mut buf = orig.clone();
    assert_eq!(
        xform::encap(&mut buf, 0, orig.len(), &f, &p),
        Err(XformError::NoHeadroom)
    );
}

#[test]
fn tunnel_mtu_rule() {
    let payload = vec![0u8; 1500 - 20 - 20];
    let fr = build(ip(CLIENT4), ip(VIP4), true, 1, 2, 64, &payload);
    let f = parse_frame(&fr).unwrap();
    assert_eq!(
        xform::tunnel_mtu_check(&f, IpFamily::V4, TunnelKind::Ipip, 1500),
        Ok(MtuVerdict::TooBig { mtu: 1480 })
    );
    assert_eq!(
        xform::tunnel_mtu_check(&f, IpFamily::V4, TunnelKind::Ipip, 1520),
        Ok(MtuVerdict::Fits)
    );
    let gue = TunnelKind::Gue {
        dst_port: 1,
        src_port: 2,
    };
    assert_eq!(
        xform::tunnel_mtu_check(&f, IpFamily::V6, gue, 1500),
        Ok(MtuVerdict::TooBig {
            mtu: 1500 - 40 - 12
        })
    );
    // Without DF: may be fragmented.
    let mut nodf = fr.clone();
    nodf[20] &= !0x40;
    let c = u16::from_be_bytes([nodf[24], nodf[25]]);
    let c = wire::checksum::update16(c, 0x4000, 0x0000);
    nodf[24..26].copy_from_slice(&c.to_be_bytes());
    let f2 = parse_frame(&nodf).unwrap();
    assert_eq!(
        xform::tunnel_mtu_check(&f2, IpFamily::V4, TunnelKind::Ipip, 1500),
        Ok(MtuVerdict::Fragment)
    );
    // IPv6 inner always gets PTB, and under 1280 is refused.
    let p6 = vec![0u8; 1400];
    let fr6 = build(ip(CLIENT6), ip(VIP6), false, 1, 2, 64, &p6);
    let f6 = parse_frame(&fr6).unwrap();
    assert_eq!(
        xform::tunnel_mtu_check(&f6, IpFamily::V6, TunnelKind::Ipip, 1400),
        Ok(MtuVerdict::TooBig { mtu: 1360 })
    );
    assert_eq!(
        xform::tunnel_mtu_check(&f6, IpFamily::V6, TunnelKind::Ipip, 1300),
        Err(XformError::MtuTooSmall)
    );
}

#[test]
fn frag_needed_and_ptb_generation() {
    for (client, vip, _, tcp) in cases() {
        let orig = build(client, vip, tcp, 4000, 80, 64, &vec![7u8; 1460]);
        let f = parse_frame(&orig).unwrap();
        let mut out = [0u8; 1600];
        let n =
            xform::icmp_frag_needed(&orig, &f, MacAddr(DIRECTOR_MAC), vip, 1480, &mut out).unwrap();
        let o = &out[..n];
        verify_frame(o).unwrap_or_else(|e| panic!("{client}: {e}"));
        let g = parse_frame(o).unwrap();
        let gi = g.ip().unwrap();
        assert_eq!((gi.src, gi.dst), (vip, client));
        assert_eq!(g.dst_mac, MacAddr(CLIENT_MAC));
        assert_eq!(g.src_mac, MacAddr(DIRECTOR_MAC));
        let ic = g.icmp().unwrap();
        let e = g.embedded().unwrap();
        assert_eq!((e.src, e.dst, e.ports), (client, vip, Some((4000, 80))));
        if client.is_ipv4() {
            assert_eq!((ic.ty, ic.code, ic.rest & 0xffff), (3, 4, 1480));
            assert_eq!(n, 14 + 576);
        } else {
            assert_eq!((ic.ty, ic.code, ic.rest), (2, 0, 1480));
            assert_eq!(n, 14 + 1280);
        }
        // Quote is a prefix of the original packet.
        let q = &o[e.l3_offset..];
        assert_eq!(q, &orig[14..14 + q.len()]);
    }
}

#[test]
fn time_exceeded_and_port_unreachable() {
    for (client, vip, _, tcp) in cases() {
        let orig = build(client, vip, tcp, 4000, 80, 1, b"small");
        let f = parse_frame(&orig).unwrap();
        let me = if client.is_ipv4() {
            ip("10.0.0.1")
        } else {
            ip("fd00::1")
        };
        let mut out = [0u8; 600];
        let n = xform::icmp_time_exceeded(&orig, &f, MacAddr(DIRECTOR_MAC), me, &mut out).unwrap();
        verify_frame(&out[..n]).unwrap();
        let g = parse_frame(&out[..n]).unwrap();
        assert_eq!(g.ip().unwrap().src, me);
        let ic = g.icmp().unwrap();
        assert_eq!(ic.ty, if client.is_ipv4() { 11 } else { 3 });
        // Whole small packet quoted.
        assert_eq!(n, 14 + g.ip().unwrap().header_len + 8 + orig.len() - 14);

        let n = xform::icmp_port_unreachable(&orig, &f, MacAddr(DIRECTOR_MAC), &mut out).unwrap();
        verify_frame(&out[..n]).unwrap();
        let g = parse_frame(&out[..n]).unwrap();
        assert_eq!(g.ip().unwrap().src, vip, "sent from the VIP's perspective");
        let ic = g.icmp().unwrap();
        assert_eq!(
            (ic.ty, ic.code),
            if client.is_ipv4() { (3, 3) } else { (1, 4) }
        );
        // No ICMP error about an ICMP error.
        let mut out2 = [0u8; 700];
        assert_eq!(
            xform::icmp_port_unreachable(&out[..n], &g, MacAddr(DIRECTOR_MAC), &mut out2),
            Err(XformError::IcmpNotAllowed)
        );
        // Output too small for header + 8 bytes.
        assert_eq!(
            xform::icmp_port_unreachable(&orig, &f, MacAddr(DIRECTOR_MAC), &mut out[..40]),
            Err(XformError::BufferTooSmall)
        );
    }
}

#[test]
fn nat_icmp_error_rewrites() {
    for (client, vip, rs, tcp) in cases() {
        // RS -> client direction: the RS reports that the client's (DNATed) packet was
        // unreachable. Quoted: client:40000 -> rs:8080.
        let quoted = build_ip(client, rs, tcp, 40000, 8080, &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
        let mut fr = build_icmp_error(rs, client, &quoted);
        verify_frame(&fr).unwrap();
        let f = parse_frame(&fr).unwrap();
        let e = f.embedded().unwrap();
        assert_eq!((e.src, e.dst, e.ports), (client, rs, Some((40000, 8080))));
        xform::nat_icmp_error_out(&mut fr, &f, SocketAddr::new(vip, 80)).unwrap();
        verify_frame(&fr).unwrap_or_else(|e| panic!("out {client}: {e}"));
        let g = parse_frame(&fr).unwrap();
        assert_eq!((g.ip().unwrap().src, g.ip().unwrap().dst), (vip, client));
        let e = g.embedded().unwrap();
        assert_eq!((e.src, e.dst, e.ports), (client, vip, Some((40000, 80))));

        // Client -> RS direction: the client side reports that the (SNATed) reply
        // vip:80 -> client:40000 was unreachable.
        let quoted = build_ip(vip, client, tcp, 80, 40000, &[0; 12]);
        let mut fr = build_icmp_error(client, vip, &quoted);
        let f = parse_frame(&fr).unwrap();
        xform::nat_icmp_error_in(&mut fr, &f, SocketAddr::new(rs, 8080)).unwrap();
        verify_frame(&fr).unwrap_or_else(|e| panic!("in {client}: {e}"));
        let g = parse_frame(&fr).unwrap();
        assert_eq!((g.ip().unwrap().src, g.ip().unwrap().dst), (client, rs));
        let e = g.embedded().unwrap();
        assert_eq!((e.src, e.dst, e.ports), (rs, client, Some((8080, 40000))));
        // The quoted L4 checksum is untouched.
        let qcs = e.l4_offset + if tcp { 16 } else { 6 };
        let orig_q = &quoted[if client.is_ipv4() { 20 } else { 40 } + if tcp { 16 } else { 6 }..];
        assert_eq!(&fr[qcs..qcs + 2], &orig_q[..2]);
    }
}

#[test]
fn nat_icmp_error_refuses_non_errors() {
    let mut fr = build(ip(CLIENT4), ip(VIP4), true, 1, 2, 64, b"");
    let f = parse_frame(&fr).unwrap();
    assert_eq!(
        xform::nat_icmp_error_out(&mut fr, &f, SocketAddr::new(ip(VIP4), 80)),
        Err(XformError::NotIcmpError)
    );
}

#[test]
fn arp_and_ndp() {
    let me = MacAddr(DIRECTOR_MAC);
    let mut out = [0u8; 128];
    let n = xform::arp_request(
        &mut out,
        me,
        "10.0.0.1".parse().unwrap(),
        "10.0.0.21".parse().unwrap(),
    )
    .unwrap();
    let req = out[..n].to_vec();
    let f = parse_frame(&req).unwrap();
    let a = f.arp().unwrap();
    assert!(a.is_request());
    assert_eq!(f.dst_mac, MacAddr::BROADCAST);
    assert_eq!(
        a.target_ip,
        "10.0.0.21".parse::<std::net::Ipv4Addr>().unwrap()
    );
    // The RS answers.
    let rs = MacAddr(RS_MAC);
    let n = xform::arp_reply(&req, &f, rs, &mut out).unwrap();
    let g = parse_frame(&out[..n]).unwrap();
    let r = g.arp().unwrap();
    assert!(r.is_reply());
    assert_eq!((r.sender_mac, r.sender_ip), (rs, a.target_ip));
    assert_eq!((g.dst_mac, r.target_ip), (me, a.sender_ip));
    assert_eq!(
        xform::arp_reply(&out[..n], &g, rs, &mut [0u8; 64]),
        Err(XformError::NotArpRequest)
    );

    let my6: std::net::Ipv6Addr = "fd00::1".parse().unwrap();
    let t6: std::net::Ipv6Addr = "fd00::21:abcd".parse().unwrap();
    let n = xform::neighbor_solicitation(&mut out, me, my6, t6).unwrap();
    let ns = out[..n].to_vec();
    verify_frame(&ns).unwrap();
    let f = parse_frame(&ns).unwrap();
    assert_eq!(f.dst_mac, MacAddr([0x33, 0x33, 0xff, 0x21, 0xab, 0xcd]));
    assert_eq!(f.ip().unwrap().ttl, 255);
    let nd = f.ndp().unwrap();
    assert_eq!((nd.target, nd.link_addr), (t6, Some(me)));
    let n = xform::neighbor_advertisement(&ns, &f, rs, &mut out).unwrap();
    verify_frame(&out[..n]).unwrap();
    let g = parse_frame(&out[..n]).unwrap();
    assert_eq!(g.dst_mac, me);
    assert_eq!(g.ip().unwrap().src, IpAddr::V6(t6));
    assert_eq!(g.ip().unwrap().dst, IpAddr::V6(my6));
    let na = g.ndp().unwrap();
    assert_eq!((na.target, na.link_addr), (t6, Some(rs)));
    assert_eq!(
        na.kind,
        wire::NdpKind::Advertisement {
            router: false,
            solicited: true,
            override_flag: true
        }
    );
}

#[test]
fn vlan_tagged_frames() {
    use etherparse::{EtherType, PacketBuilder, SingleVlanHeader, VlanHeader, VlanId, VlanPcp};
    let mut fr = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC)
        .vlan(VlanHeader::Single(SingleVlanHeader {
            pcp: VlanPcp::ZERO,
            drop_eligible_indicator: false,
            vlan_id: VlanId::try_new(42).unwrap(),
            ether_type: EtherType::IPV4,
        }))
        .ipv4([1, 2, 3, 4], [5, 6, 7, 8], 9)
        .udp(1, 2)
        .write(&mut fr, b"abc")
        .unwrap();
    let f = parse_frame(&fr).unwrap();
    assert_eq!((f.vlan_len, f.l3_offset, f.ethertype), (4, 18, 0x0800));
    let mut out = [0u8; 200];
    let n = xform::icmp_port_unreachable(&fr, &f, MacAddr(DIRECTOR_MAC), &mut out).unwrap();
    let g = parse_frame(&out[..n]).unwrap();
    assert_eq!(g.vlan_len, 4);
    assert_eq!(&out[12..16], &fr[12..16]);
    verify_ip(&out[18..n]).unwrap();
    xform::nat_request(&mut fr, &f, SocketAddr::new(ip(RS4), 99)).unwrap();
    verify_ip(&fr[18..]).unwrap();
}
