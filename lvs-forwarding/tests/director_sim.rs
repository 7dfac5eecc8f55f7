//! Full simulated exchanges through the Director, in memory: client ->
//! director -> real server -> back, for NAT, TUN and DR over IPv4 and IPv6,
//! TCP and UDP. Every emitted frame's checksums are verified by full
//! recomputation (`common::verify_frame`, independent of the crate).

mod common;

use common::{CLIENT_MAC, DIRECTOR_MAC, RS_MAC, verify_frame};
use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};
use lvs_core::Instant;
use lvs_forwarding::wire::{MacAddr, parse_frame};
use lvs_forwarding::xform::{self, MAX_HEADROOM};
use lvs_forwarding::{Director, DirectorConfig, DropReason, IpCidr, Verdict};
use std::net::{IpAddr, SocketAddr};

const HEAD: usize = MAX_HEADROOM + 64;

const CLIENT4: &str = "192.0.2.2";
const CLIENT6: &str = "2001:db8:c::2";
const VIP4: &str = "203.0.113.10";
const VIP6: &str = "2001:db8:f::10";
const RS4: &str = "198.51.100.11";
const RS6: &str = "2001:db8:5::11";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Nat,
    Tun,
    Dr,
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn director_cfg() -> DirectorConfig {
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
    cfg.neighbors = vec![
        (ip(CLIENT4), MacAddr(CLIENT_MAC)),
        (ip(CLIENT6), MacAddr(CLIENT_MAC)),
        (ip(RS4), MacAddr(RS_MAC)),
        (ip(RS6), MacAddr(RS_MAC)),
    ];
    cfg.conn_capacity_v4 = 1024;
    cfg.conn_capacity_v6 = 1024;
    cfg
}

fn rules(mode: Mode) -> String {
    let (flag, port) = match mode {
        Mode::Nat => ("-m", 8080),
        Mode::Tun => ("-i", 80),
        Mode::Dr => ("-g", 80),
    };
    let mut s = String::new();
    for (proto, vport) in [("-t", 80), ("-u", 53)] {
        let rport = if mode == Mode::Nat {
            port + vport - 80
        } else {
            vport
        };
        s += &format!("-A {proto} {VIP4}:{vport} -s rr\n");
        s += &format!("-a {proto} {VIP4}:{vport} -r {RS4}:{rport} {flag} -w 1\n");
        s += &format!("-A {proto} [{VIP6}]:{vport} -s rr\n");
        s += &format!("-a {proto} [{VIP6}]:{vport} -r [{RS6}]:{rport} {flag} -w 1\n");
    }
    s
}

/// A frame from `src` to `dst` with `smac -> dmac`: TCP with `flags` or UDP.
#[allow(clippy::too_many_arguments)]
fn frame(
    smac: [u8; 6],
    dmac: [u8; 6],
    src: SocketAddr,
    dst: SocketAddr,
    tcp: Option<(bool, bool, bool)>,
    ttl: u8,
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(smac, dmac);
    let b = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => b.ipv4(s.octets(), d.octets(), ttl),
        (IpAddr::V6(s), IpAddr::V6(d)) => b.ipv6(s.octets(), d.octets(), ttl),
        _ => panic!("mixed"),
    };
    let mut v = Vec::new();
    match tcp {
        Some((syn, ack, fin)) => {
            let mut t = b.tcp(src.port(), dst.port(), 1000, 64240);
            if syn {
                t = t.syn();
            }
            if ack {
                t = t.ack(1);
            }
            if fin {
                t = t.fin();
            }
            t.write(&mut v, payload).unwrap();
        }
        None => b
            .udp(src.port(), dst.port())
            .write(&mut v, payload)
            .unwrap(),
    }
    v
}

struct Sim {
    d: Director,
    now: Instant,
}

impl Sim {
    fn new(mode: Mode) -> Sim {
        Sim {
            d: Director::from_rules(director_cfg(), &rules(mode)).unwrap(),
            now: Instant::from_secs(100),
        }
    }

    /// Feed a frame; return the verdict and the bytes to send (if any).
    fn feed(&mut self, f: &[u8]) -> (Verdict, Vec<u8>) {
        let mut buf = vec![0u8; HEAD + f.len()];
        buf[HEAD..].copy_from_slice(f);
        let mut out = vec![0u8; 2048];
        let v = self
            .d
            .process(self.now, 0, &mut buf, HEAD, f.len(), &mut out);
        let bytes = match v {
            Verdict::Forward { start, len, .. } => buf[start..start + len].to_vec(),
            Verdict::Reply { len, .. } => out[..len].to_vec(),
            _ => Vec::new(),
        };
        (v, bytes)
    }
}

fn l4_of(pkt: &SlicedPacket<'_>) -> (u16, u16) {
    match pkt.transport.as_ref().unwrap() {
        TransportSlice::Tcp(t) => (t.source_port(), t.destination_port()),
        TransportSlice::Udp(u) => (u.source_port(), u.destination_port()),
        _ => panic!("not tcp/udp"),
    }
}

fn addrs_of(pkt: &SlicedPacket<'_>) -> (IpAddr, IpAddr, u8) {
    use etherparse::NetSlice;
    match pkt.net.as_ref().unwrap() {
        NetSlice::Ipv4(i) => (
            IpAddr::V4(i.header().source_addr()),
            IpAddr::V4(i.header().destination_addr()),
            i.header().ttl(),
        ),
        NetSlice::Ipv6(i) => (
            IpAddr::V6(i.header().source_addr()),
            IpAddr::V6(i.header().destination_addr()),
            i.header().hop_limit(),
        ),
        _ => panic!("not ip"),
    }
}

fn exchange(mode: Mode, v6: bool, tcp: bool) {
    let mut sim = Sim::new(mode);
    let (client_ip, vip_ip, rs_ip) = if v6 {
        (ip(CLIENT6), ip(VIP6), ip(RS6))
    } else {
        (ip(CLIENT4), ip(VIP4), ip(RS4))
    };
    let vport = if tcp { 80 } else { 53 };
    let client = SocketAddr::new(client_ip, 40000);
    let vip = SocketAddr::new(vip_ip, vport);
    let rs_port = if mode == Mode::Nat {
        8080 + vport - 80
    } else {
        vport
    };
    let rs = SocketAddr::new(rs_ip, rs_port);
    let payload = b"GET / HTTP/1.0\r\n\r\n";
    let tcpf = |syn, ack| if tcp { Some((syn, ack, false)) } else { None };

    for (i, (syn, ack)) in [(true, false), (false, true), (false, true)]
        .into_iter()
        .enumerate()
    {
        let req = frame(
            CLIENT_MAC,
            DIRECTOR_MAC,
            client,
            vip,
            tcpf(syn, ack),
            64,
            payload,
        );
        let (v, out) = sim.feed(&req);
        assert!(
            matches!(v, Verdict::Forward { .. }),
            "{mode:?} packet {i}: {v:?}"
        );
        verify_frame(&out).unwrap_or_else(|e| panic!("{mode:?} v6={v6} tcp={tcp}: {e}"));
        assert_eq!(&out[0..6], &RS_MAC, "to the real server's MAC");
        assert_eq!(&out[6..12], &DIRECTOR_MAC);
        match mode {
            Mode::Nat => {
                let p = SlicedPacket::from_ethernet(&out).unwrap();
                let (s, d, ttl) = addrs_of(&p);
                assert_eq!((s, d, ttl), (client_ip, rs_ip, 63));
                assert_eq!(l4_of(&p), (40000, rs_port));
            }
            Mode::Dr => {
                // Only the MACs and the TTL change.
                assert_eq!(out.len(), req.len());
                let p = SlicedPacket::from_ethernet(&out).unwrap();
                let (s, d, ttl) = addrs_of(&p);
                assert_eq!((s, d, ttl), (client_ip, vip_ip, 63));
                assert_eq!(l4_of(&p), (40000, vport));
            }
            Mode::Tun => {
                let dec = xform::decap(&out, None).unwrap();
                let inner = &out[dec.inner_offset..dec.inner_offset + dec.inner_len];
                // The inner packet is the client's, TTL less one.
                let orig = &req[14..];
                assert_eq!(inner.len(), orig.len());
                let f = parse_frame(&out).unwrap();
                let outer = f.ip().unwrap();
                assert_eq!(outer.dst, rs_ip);
                assert_eq!(outer.ttl, 63, "outer TTL from the inner after decrement");
                let mut expect = orig.to_vec();
                if v6 {
                    expect[7] -= 1;
                    assert_eq!(inner, &expect[..]);
                } else {
                    expect[8] -= 1;
                    // Ignore the IPv4 header checksum (re-verified above).
                    assert_eq!(&inner[..10], &expect[..10]);
                    assert_eq!(&inner[12..], &expect[12..]);
                }
            }
        }
    }

    if mode == Mode::Nat {
        // The real server answers through the director.
        let reply = frame(
            RS_MAC,
            DIRECTOR_MAC,
            rs,
            client,
            tcpf(false, true),
            64,
            b"HTTP/1.0 200 OK\r\n",
        );
        let (v, out) = sim.feed(&reply);
        assert!(matches!(v, Verdict::Forward { .. }), "reply: {v:?}");
        verify_frame(&out).unwrap();
        assert_eq!(&out[0..6], &CLIENT_MAC);
        let p = SlicedPacket::from_ethernet(&out).unwrap();
        let (s, d, _) = addrs_of(&p);
        assert_eq!((s, d), (vip_ip, client_ip), "reply comes from the VIP");
        assert_eq!(l4_of(&p), (vport, 40000));
        let st = sim.d.balancer().totals().counters;
        assert_eq!((st.conns, st.in_pkts, st.out_pkts), (1, 3, 1));
    } else {
        assert_eq!(sim.d.balancer().totals().counters.conns, 1);
    }
    assert_eq!(sim.d.balancer().conn_count(), 1);
}

#[test]
fn nat_v4_tcp() {
    exchange(Mode::Nat, false, true);
}
#[test]
fn nat_v4_udp() {
    exchange(Mode::Nat, false, false);
}
#[test]
fn nat_v6_tcp() {
    exchange(Mode::Nat, true, true);
}
#[test]
fn nat_v6_udp() {
    exchange(Mode::Nat, true, false);
}
#[test]
fn tun_v4_tcp() {
    exchange(Mode::Tun, false, true);
}
#[test]
fn tun_v4_udp() {
    exchange(Mode::Tun, false, false);
}
#[test]
fn tun_v6_tcp() {
    exchange(Mode::Tun, true, true);
}
#[test]
fn tun_v6_udp() {
    exchange(Mode::Tun, true, false);
}
#[test]
fn dr_v4_tcp() {
    exchange(Mode::Dr, false, true);
}
#[test]
fn dr_v4_udp() {
    exchange(Mode::Dr, false, false);
}
#[test]
fn dr_v6_tcp() {
    exchange(Mode::Dr, true, true);
}
#[test]
fn dr_v6_udp() {
    exchange(Mode::Dr, true, false);
}

#[test]
fn nat_round_trip_restores_addresses_exactly() {
    let mut sim = Sim::new(Mode::Nat);
    let client = SocketAddr::new(ip(CLIENT4), 41000);
    let vip = SocketAddr::new(ip(VIP4), 80);
    let req = frame(
        CLIENT_MAC,
        DIRECTOR_MAC,
        client,
        vip,
        Some((true, false, false)),
        64,
        b"x",
    );
    let (_, fwd) = sim.feed(&req);
    // The real server mirrors the packet back (swap addresses and ports).
    let p = SlicedPacket::from_ethernet(&fwd).unwrap();
    let (s, d, _) = addrs_of(&p);
    let (sp, dp) = l4_of(&p);
    let back = frame(
        RS_MAC,
        DIRECTOR_MAC,
        SocketAddr::new(d, dp),
        SocketAddr::new(s, sp),
        Some((true, true, false)),
        64,
        b"x",
    );
    let (_, out) = sim.feed(&back);
    let p = SlicedPacket::from_ethernet(&out).unwrap();
    let (s, d, _) = addrs_of(&p);
    assert_eq!(SocketAddr::new(s, l4_of(&p).0), vip);
    assert_eq!(SocketAddr::new(d, l4_of(&p).1), client);
}

#[test]
fn no_real_server_gets_port_unreachable() {
    let mut sim = Sim::new(Mode::Nat);
    sim.d
        .balancer_mut()
        .set_weight(
            &lvs_core::ServiceKey::Addr {
                protocol: lvs_core::Protocol::Tcp,
                vip: SocketAddr::new(ip(VIP4), 80),
            },
            SocketAddr::new(ip(RS4), 8080),
            0,
        )
        .unwrap();
    let req = frame(
        CLIENT_MAC,
        DIRECTOR_MAC,
        SocketAddr::new(ip(CLIENT4), 1234),
        SocketAddr::new(ip(VIP4), 80),
        Some((true, false, false)),
        64,
        b"",
    );
    let (v, out) = sim.feed(&req);
    assert!(matches!(v, Verdict::Reply { .. }), "{v:?}");
    verify_frame(&out).unwrap();
    let f = parse_frame(&out).unwrap();
    let i = f.icmp().unwrap();
    assert_eq!((i.ty, i.code), (3, 3), "port unreachable, for TCP too");
    assert_eq!(f.ip().unwrap().src, ip(VIP4));
    assert_eq!(&out[0..6], &CLIENT_MAC);
}

#[test]
fn ttl_one_gets_time_exceeded() {
    let mut sim = Sim::new(Mode::Nat);
    let req = frame(
        CLIENT_MAC,
        DIRECTOR_MAC,
        SocketAddr::new(ip(CLIENT6), 1234),
        SocketAddr::new(ip(VIP6), 80),
        Some((true, false, false)),
        1,
        b"",
    );
    let (v, out) = sim.feed(&req);
    assert!(matches!(v, Verdict::Reply { .. }), "{v:?}");
    verify_frame(&out).unwrap();
    let f = parse_frame(&out).unwrap();
    assert_eq!(f.icmp().unwrap().ty, 3, "ICMPv6 time exceeded");
    assert_eq!(
        f.ip().unwrap().src,
        ip("2001:db8:c::1"),
        "from the director"
    );
    assert_eq!(sim.d.drops().get(DropReason::TtlExpired), 1);
}

#[test]
fn tunnel_too_big_gets_frag_needed_with_mtu_less_overhead() {
    for v6 in [false, true] {
        let mut sim = Sim::new(Mode::Tun);
        let (c, v) = if v6 { (CLIENT6, VIP6) } else { (CLIENT4, VIP4) };
        let payload = vec![0u8; 1400];
        // Fits 1500 alone, not with the tunnel header.
        let hdr = if v6 { 40 + 20 } else { 20 + 20 };
        let pad = 1500 - hdr - payload.len();
        let payload = vec![7u8; payload.len() + pad];
        let mut req = frame(
            CLIENT_MAC,
            DIRECTOR_MAC,
            SocketAddr::new(ip(c), 999),
            SocketAddr::new(ip(v), 80),
            Some((true, false, false)),
            64,
            &payload,
        );
        if !v6 {
            req[14 + 6] |= 0x40; // DF
            // Fix the header checksum for the DF bit.
            req[14 + 10] = 0;
            req[14 + 11] = 0;
            let c = !common::ones(&req[14..34], 0);
            req[24..26].copy_from_slice(&c.to_be_bytes());
        }
        let (verdict, out) = sim.feed(&req);
        assert!(
            matches!(verdict, Verdict::Reply { .. }),
            "v6={v6}: {verdict:?}"
        );
        verify_frame(&out).unwrap();
        let f = parse_frame(&out).unwrap();
        let i = f.icmp().unwrap();
        let expect_mtu = if v6 { 1500 - 40 } else { 1500 - 20 };
        if v6 {
            assert_eq!(i.ty, 2);
            assert_eq!(i.rest, expect_mtu);
        } else {
            assert_eq!((i.ty, i.code), (3, 4));
            assert_eq!(i.rest & 0xffff, expect_mtu);
        }
        assert_eq!(sim.d.drops().get(DropReason::TooBig), 1);
    }
}

#[test]
fn icmp_error_from_real_server_reaches_client_with_vip() {
    let mut sim = Sim::new(Mode::Nat);
    let client = SocketAddr::new(ip(CLIENT4), 42000);
    let vip = SocketAddr::new(ip(VIP4), 53);
    let req = frame(CLIENT_MAC, DIRECTOR_MAC, client, vip, None, 64, b"q");
    let (_, fwd) = sim.feed(&req);
    // The real server answers with port unreachable quoting what it got.
    let quoted = &fwd[14..];
    let err = common::build_icmp_error(ip(RS4), ip(CLIENT4), quoted);
    let (v, out) = sim.feed(&err);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    verify_frame(&out).unwrap();
    let f = parse_frame(&out).unwrap();
    assert_eq!(f.ip().unwrap().src, ip(VIP4), "outer source is the VIP");
    let e = f.embedded().unwrap();
    assert_eq!(e.dst, ip(VIP4), "quoted destination is the VIP");
    assert_eq!(e.ports, Some((42000, 53)));
    assert_eq!(&out[0..6], &CLIENT_MAC);
}

#[test]
fn arp_and_nd_for_the_vip_are_answered() {
    let mut sim = Sim::new(Mode::Dr);
    let mut arp = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, [0xff; 6])
        .arp(
            etherparse::ArpPacket::new(
                etherparse::ArpHardwareId::ETHERNET,
                etherparse::EtherType::IPV4,
                etherparse::ArpOperation::REQUEST,
                &CLIENT_MAC,
                &[192, 0, 2, 2],
                &[0; 6],
                &[203, 0, 113, 10],
            )
            .unwrap(),
        )
        .write(&mut arp)
        .unwrap();
    let (v, out) = sim.feed(&arp);
    assert!(matches!(v, Verdict::Reply { .. }), "{v:?}");
    let f = parse_frame(&out).unwrap();
    let a = f.arp().unwrap();
    assert!(a.is_reply());
    assert_eq!(a.sender_mac, MacAddr(DIRECTOR_MAC));
    assert_eq!(a.sender_ip.octets(), [203, 0, 113, 10]);
    // Not ours: left to the host.
    let mut other = arp.clone();
    other[38..42].copy_from_slice(&[203, 0, 113, 99]);
    assert_eq!(sim.feed(&other).0, Verdict::ToHost);
}

#[test]
fn unknown_neighbour_is_resolved_and_frame_released() {
    let mut cfg = director_cfg();
    cfg.neighbors.retain(|(i, _)| *i != ip(RS4));
    let mut d = Director::from_rules(cfg, &rules(Mode::Dr)).unwrap();
    let now = Instant::from_secs(1);
    let req = frame(
        CLIENT_MAC,
        DIRECTOR_MAC,
        SocketAddr::new(ip(CLIENT4), 5555),
        SocketAddr::new(ip(VIP4), 80),
        Some((true, false, false)),
        64,
        b"",
    );
    let mut buf = vec![0u8; HEAD + req.len()];
    buf[HEAD..].copy_from_slice(&req);
    let mut out = vec![0u8; 2048];
    let v = d.process(now, 0, &mut buf, HEAD, req.len(), &mut out);
    assert_eq!(v, Verdict::Held);
    // The director asks who has the real server.
    let (link, n) = d.poll_transmit(&mut out).unwrap();
    assert_eq!(link, 0);
    let f = parse_frame(&out[..n]).unwrap();
    let a = f.arp().unwrap();
    assert!(a.is_request());
    assert_eq!(a.target_ip.octets(), [198, 51, 100, 11]);
    assert_eq!(a.sender_ip.octets(), [198, 51, 100, 1]);
    assert!(d.poll_transmit(&mut out).is_none());
    // The answer releases the frame with the learned MAC.
    let mut reply = Vec::new();
    PacketBuilder::ethernet2(RS_MAC, DIRECTOR_MAC)
        .arp(
            etherparse::ArpPacket::new(
                etherparse::ArpHardwareId::ETHERNET,
                etherparse::EtherType::IPV4,
                etherparse::ArpOperation::REPLY,
                &RS_MAC,
                &[198, 51, 100, 11],
                &DIRECTOR_MAC,
                &[198, 51, 100, 1],
            )
            .unwrap(),
        )
        .write(&mut reply)
        .unwrap();
    let mut rbuf = reply.clone();
    let rl = rbuf.len();
    assert_eq!(
        d.process(now, 0, &mut rbuf, 0, rl, &mut out),
        Verdict::ToHost
    );
    let (_, n) = d.poll_transmit(&mut out).unwrap();
    assert_eq!(&out[0..6], &RS_MAC);
    verify_frame(&out[..n]).unwrap();
    assert!(d.poll_transmit(&mut out).is_none());
}

#[test]
fn unresolvable_neighbour_drops_after_retries() {
    let mut cfg = director_cfg();
    cfg.neighbors.retain(|(i, _)| *i != ip(RS4));
    let mut d = Director::from_rules(cfg, &rules(Mode::Dr)).unwrap();
    let req = frame(
        CLIENT_MAC,
        DIRECTOR_MAC,
        SocketAddr::new(ip(CLIENT4), 5555),
        SocketAddr::new(ip(VIP4), 80),
        Some((true, false, false)),
        64,
        b"",
    );
    let mut buf = vec![0u8; HEAD + req.len()];
    buf[HEAD..].copy_from_slice(&req);
    let mut out = vec![0u8; 2048];
    assert_eq!(
        d.process(Instant::ZERO, 0, &mut buf, HEAD, req.len(), &mut out),
        Verdict::Held
    );
    let mut requests = 0;
    for s in 0..10 {
        d.on_timeout(Instant::from_secs(s));
        while d.poll_transmit(&mut out).is_some() {
            requests += 1;
        }
    }
    assert_eq!(requests, 3, "three probes, as Linux");
    assert_eq!(d.drops().get(DropReason::NeighborUnreachable), 1);
}

#[test]
fn reload_keeps_connections_and_follows_new_weights() {
    let mut sim = Sim::new(Mode::Nat);
    let client = |p| SocketAddr::new(ip(CLIENT4), p);
    let vip = SocketAddr::new(ip(VIP4), 80);
    let syn = |p| {
        frame(
            CLIENT_MAC,
            DIRECTOR_MAC,
            client(p),
            vip,
            Some((true, false, false)),
            64,
            b"",
        )
    };
    sim.feed(&syn(1000));
    let new_rules = format!(
        "-A -t {VIP4}:80 -s wrr\n-a -t {VIP4}:80 -r {RS4}:8080 -m -w 3\n-a -t {VIP4}:80 -r 198.51.100.12:8080 -m -w 1\n"
    );
    let sum = sim.d.reload_rules(&new_rules).unwrap();
    assert_eq!(sum.services_removed, 3);
    assert_eq!(sum.servers_added, 1);
    assert_eq!(sum.services_edited, 1);
    // The old connection still goes to RS4.
    let ack = frame(
        CLIENT_MAC,
        DIRECTOR_MAC,
        client(1000),
        vip,
        Some((false, true, false)),
        64,
        b"",
    );
    let (v, out) = sim.feed(&ack);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    let p = SlicedPacket::from_ethernet(&out).unwrap();
    assert_eq!(addrs_of(&p).1, ip(RS4));
    // A bad file changes nothing.
    assert!(sim.d.reload_rules("-A -t nonsense").is_err());
    assert_eq!(sim.d.balancer().services().len(), 1);
}

#[test]
fn garbage_never_changes_the_table() {
    let mut sim = Sim::new(Mode::Nat);
    let before = sim.d.balancer().conn_count();
    let mut x: u64 = 0x1234_5678;
    for n in 0..2000 {
        let len = (n % 200) + 1;
        let mut f = vec![0u8; len];
        for b in &mut f {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        if n % 2 == 0 && len > 14 {
            f[0..6].copy_from_slice(&DIRECTOR_MAC);
            f[12] = 0x08;
            f[13] = 0x00;
        }
        let (v, _) = sim.feed(&f);
        assert!(!matches!(v, Verdict::Forward { .. }), "{v:?}");
    }
    assert_eq!(sim.d.balancer().conn_count(), before);
    assert!(sim.d.drops().get(DropReason::Malformed) > 0);
}

#[test]
fn gre_real_servers_are_refused_not_sent_ipip() {
    let rules =
        format!("-A -t {VIP4}:80 -s rr\n-a -t {VIP4}:80 -r {RS4}:80 -i -w 1 --tun-type gre\n");
    match Director::from_rules(director_cfg(), &rules) {
        Err(lvs_forwarding::ReloadError::UnsupportedForwarding(a)) => {
            assert_eq!(a, SocketAddr::new(ip(RS4), 80))
        }
        other => panic!("{other:?}"),
    }
    // A running director keeps its rules when a reload brings GRE.
    let mut sim = Sim::new(Mode::Tun);
    assert!(sim.d.reload_rules(&rules).is_err());
    assert_eq!(sim.d.balancer().services().len(), 4);
}
