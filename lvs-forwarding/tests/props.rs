//! Property tests: random valid packets keep valid checksums through every transform, TUN
//! encap/decap round-trips, and arbitrary bytes never make the parser or any transform
//! panic.

mod common;

use common::*;
use lvs_forwarding::wire::{Frame, IpFamily, MacAddr, parse_frame};
use lvs_forwarding::xform::{self, TunnelKind, TunnelParams};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

fn addr_pair() -> impl Strategy<Value = (IpAddr, IpAddr, IpAddr)> {
    prop_oneof![
        (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(a, b, c)| (
            IpAddr::V4(Ipv4Addr::from(a)),
            IpAddr::V4(Ipv4Addr::from(b)),
            IpAddr::V4(Ipv4Addr::from(c))
        )),
        (any::<u128>(), any::<u128>(), any::<u128>()).prop_map(|(a, b, c)| (
            IpAddr::V6(Ipv6Addr::from(a)),
            IpAddr::V6(Ipv6Addr::from(b)),
            IpAddr::V6(Ipv6Addr::from(c))
        )),
    ]
}

fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ]
}

#[derive(Debug, Clone)]
struct Pkt {
    src: IpAddr,
    dst: IpAddr,
    new: IpAddr,
    tcp: bool,
    sport: u16,
    dport: u16,
    nport: u16,
    ttl: u8,
    payload: Vec<u8>,
}

fn pkt() -> impl Strategy<Value = Pkt> {
    (
        addr_pair(),
        any::<bool>(),
        any::<(u16, u16, u16)>(),
        2u8..=255,
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(
            |((src, dst, new), tcp, (sport, dport, nport), ttl, payload)| Pkt {
                src,
                dst,
                new,
                tcp,
                sport,
                dport,
                nport,
                ttl,
                payload,
            },
        )
}

fn frame_of(p: &Pkt) -> Vec<u8> {
    build(p.src, p.dst, p.tcp, p.sport, p.dport, p.ttl, &p.payload)
}

/// Runs every in-place transform and generator on `buf` with frame `f`, ignoring results.
/// Used for the no-panic properties.
fn run_all(buf: &mut [u8], f: &Frame, a4: IpAddr, a6: IpAddr) {
    let me = MacAddr(DIRECTOR_MAC);
    for a in [a4, a6] {
        let sa = SocketAddr::new(a, 7);
        let mut b = buf.to_vec();
        let _ = xform::nat_request(&mut b, f, sa);
        let mut b = buf.to_vec();
        let _ = xform::nat_reply(&mut b, f, sa);
        let mut b = buf.to_vec();
        let _ = xform::nat_icmp_error_out(&mut b, f, sa);
        let mut b = buf.to_vec();
        let _ = xform::nat_icmp_error_in(&mut b, f, sa);
        let mut out = [0u8; 1600];
        let _ = xform::icmp_time_exceeded(buf, f, me, a, &mut out);
        let _ = xform::icmp_frag_needed(buf, f, me, a, 1280, &mut out);
        let _ = xform::icmp_port_unreachable(buf, f, me, &mut out[..100]);
        let _ = xform::arp_reply(buf, f, me, &mut out);
        let _ = xform::neighbor_advertisement(buf, f, me, &mut out);
        for kind in [
            TunnelKind::Ipip,
            TunnelKind::Gue {
                dst_port: 1,
                src_port: 2,
            },
        ] {
            let _ = xform::tunnel_mtu_check(f, IpFamily::of(&a), kind, 1500);
            let mut tb = vec![0u8; 30];
            tb.extend_from_slice(buf);
            let len = buf.len();
            let p = TunnelParams {
                kind,
                src_mac: me,
                dst_mac: me,
                outer_src: a,
                outer_dst: a,
                ip_id: 1,
            };
            if let Ok((s, l)) = xform::encap(&mut tb, 30, len, f, &p) {
                assert!(s + l <= tb.len());
            }
        }
    }
    let _ = xform::dr_forward(buf, f, me, me);
    let _ = xform::decap(buf, Some(1));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn nat_keeps_checksums_valid(p in pkt()) {
        let orig = frame_of(&p);
        let mut fr = orig.clone();
        let f = parse_frame(&fr).unwrap();
        xform::nat_request(&mut fr, &f, SocketAddr::new(p.new, p.nport)).unwrap();
        prop_assert_eq!(verify_frame(&fr), Ok(()));
        let g = parse_frame(&fr).unwrap();
        prop_assert_eq!(g.ip().unwrap().dst, p.new);
        prop_assert_eq!(g.ports(), Some((p.sport, p.nport)));
        prop_assert_eq!(g.ip().unwrap().ttl, p.ttl - 1);
        // Reverse DNAT gives back the original addresses and ports exactly.
        if p.ttl > 2 {
            xform::nat_request(&mut fr, &g, SocketAddr::new(p.dst, p.dport)).unwrap();
            prop_assert_eq!(verify_frame(&fr), Ok(()));
            let h = parse_frame(&fr).unwrap();
            let o = f.ip().unwrap();
            let n = h.ip().unwrap();
            prop_assert_eq!((n.src, n.dst), (o.src, o.dst));
            prop_assert_eq!(h.ports(), f.ports());
        }
        let mut fr = orig.clone();
        xform::nat_reply(&mut fr, &f, SocketAddr::new(p.new, p.nport)).unwrap();
        prop_assert_eq!(verify_frame(&fr), Ok(()));
        let g = parse_frame(&fr).unwrap();
        prop_assert_eq!(g.ip().unwrap().src, p.new);
        prop_assert_eq!(g.ports(), Some((p.nport, p.dport)));
    }

    #[test]
    fn dr_keeps_checksums_valid(p in pkt()) {
        let mut fr = frame_of(&p);
        let f = parse_frame(&fr).unwrap();
        xform::dr_forward(&mut fr, &f, MacAddr(RS_MAC), MacAddr(DIRECTOR_MAC)).unwrap();
        prop_assert_eq!(verify_frame(&fr), Ok(()));
        prop_assert_eq!(parse_frame(&fr).unwrap().ip().unwrap().ttl, p.ttl - 1);
    }

    #[test]
    fn tun_encap_decap_roundtrip(p in pkt(), outer6 in any::<bool>(), gue in any::<bool>(),
                                 o in any::<(u128, u128)>(), sport in any::<u16>()) {
        let orig = frame_of(&p);
        let f = parse_frame(&orig).unwrap();
        let (osrc, odst) = if outer6 {
            (IpAddr::V6(Ipv6Addr::from(o.0)), IpAddr::V6(Ipv6Addr::from(o.1)))
        } else {
            (IpAddr::V4(Ipv4Addr::from(o.0 as u32)), IpAddr::V4(Ipv4Addr::from(o.1 as u32)))
        };
        let kind = if gue { TunnelKind::Gue { dst_port: 6080, src_port: sport } } else { TunnelKind::Ipip };
        let mut buf = vec![0u8; xform::MAX_HEADROOM];
        buf.extend_from_slice(&orig);
        let params = TunnelParams { kind, src_mac: MacAddr(DIRECTOR_MAC), dst_mac: MacAddr(RS_MAC),
                                    outer_src: osrc, outer_dst: odst, ip_id: 7 };
        let (s, l) = xform::encap(&mut buf, xform::MAX_HEADROOM, orig.len(), &f, &params).unwrap();
        let out = &buf[s..s + l];
        prop_assert_eq!(verify_frame(out), Ok(()));
        let d = xform::decap(out, if gue { Some(6080) } else { None }).unwrap();
        let inner = &out[d.inner_offset..d.inner_offset + d.inner_len];
        prop_assert_eq!(verify_ip(inner), Ok(()));
        let mut expect = orig[14..].to_vec();
        let ttl_at = if p.src.is_ipv4() { 8 } else { 7 };
        prop_assert_eq!(inner[ttl_at], p.ttl - 1);
        expect[ttl_at] = p.ttl - 1;
        if p.src.is_ipv4() {
            expect[10] = inner[10];
            expect[11] = inner[11];
        }
        prop_assert_eq!(inner, &expect[..]);
    }

    #[test]
    fn icmp_generation_valid(p in pkt(), me in any::<u128>(), mtu in 1280u32..9000) {
        let orig = frame_of(&p);
        let f = parse_frame(&orig).unwrap();
        let src = match p.src {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(me as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(me)),
        };
        let mut out = [0u8; 1600];
        for which in 0..3 {
            let r = match which {
                0 => xform::icmp_time_exceeded(&orig, &f, MacAddr(DIRECTOR_MAC), src, &mut out),
                1 => xform::icmp_frag_needed(&orig, &f, MacAddr(DIRECTOR_MAC), src, mtu, &mut out),
                _ => xform::icmp_port_unreachable(&orig, &f, MacAddr(DIRECTOR_MAC), &mut out),
            };
            let Ok(n) = r else { continue };
            prop_assert_eq!(verify_frame(&out[..n]), Ok(()));
            let g = parse_frame(&out[..n]).unwrap();
            let e = g.embedded().unwrap();
            prop_assert_eq!((e.src, e.dst), (p.src, p.dst));
            if which == 1 {
                let ic = g.icmp().unwrap();
                let want = if p.src.is_ipv4() { mtu.min(0xffff) } else { mtu };
                prop_assert_eq!(ic.rest, want);
            }
        }
    }

    #[test]
    fn nat_icmp_error_valid(p in pkt(), out_dir in any::<bool>()) {
        let quoted = build_ip(p.src, p.dst, p.tcp, p.sport, p.dport, &p.payload);
        let mut fr = build_icmp_error(p.dst, p.src, &quoted);
        let f = parse_frame(&fr).unwrap();
        let sa = SocketAddr::new(p.new, p.nport);
        if out_dir {
            xform::nat_icmp_error_out(&mut fr, &f, sa).unwrap();
        } else {
            xform::nat_icmp_error_in(&mut fr, &f, sa).unwrap();
        }
        prop_assert_eq!(verify_frame(&fr), Ok(()));
        let g = parse_frame(&fr).unwrap();
        let e = g.embedded().unwrap();
        if out_dir {
            prop_assert_eq!(g.ip().unwrap().src, p.new);
            prop_assert_eq!((e.dst, e.ports), (p.new, Some((p.sport, p.nport))));
        } else {
            prop_assert_eq!(g.ip().unwrap().dst, p.new);
            prop_assert_eq!((e.src, e.ports), (p.new, Some((p.nport, p.dport))));
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200),
                                a4 in any::<u32>(), a6 in any::<u128>()) {
        let mut buf = bytes;
        if let Ok(f) = parse_frame(&buf) {
            run_all(&mut buf, &f, IpAddr::V4(a4.into()), IpAddr::V6(a6.into()));
        }
        let _ = xform::decap(&buf, Some(6080));
    }

    #[test]
    fn mutated_packets_never_panic(p in pkt(), edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
                                   cut in any::<usize>(), other in any::<Vec<u8>>(), a in any_ip()) {
        let mut buf = frame_of(&p);
        // Sometimes turn it into an ICMP error quoting itself, to reach those paths.
        if p.sport % 3 == 0 {
            buf = build_icmp_error(p.dst, p.src, &buf[14..]);
        }
        for (i, v) in edits {
            let n = buf.len();
            buf[i % n] = v;
        }
        let cut = cut % (buf.len() + 1);
        buf.truncate(cut.max(buf.len().saturating_sub(40)));
        let a6 = IpAddr::V6(Ipv6Addr::from(0xfd00u128 << 112 | 1));
        if let Ok(f) = parse_frame(&buf) {
            run_all(&mut buf, &f, a, a6);
            // A Frame paired with the wrong buffer must not panic either.
            let mut o = other;
            run_all(&mut o, &f, a, a6);
        }
    }
}
