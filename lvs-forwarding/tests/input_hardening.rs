//! Issue 8, findings 3, 4, 5 and 9, through the Director API: validated input (IPv4 header
//! checksum, ICMP checksum), martian sources, rate-limited ICMP and resets, and the VIP
//! answering as a host (echo, reset, port unreachable). Every generated frame is checked
//! with etherparse and the independent checksum verifier of `common`.
mod common;

use std::net::IpAddr;

use common::{CLIENT_MAC, DIRECTOR_MAC, RS_MAC, build, build_icmp_error, build_ip, verify_frame};
use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use lvs_core::Instant;
use lvs_forwarding::xform::MAX_HEADROOM;
use lvs_forwarding::{
    Director, DirectorConfig, DropReason, IcmpLimits, IpCidr, MacAddr, MartianChecks, Offload,
    Verdict,
};

const HEAD: usize = MAX_HEADROOM + 64;
const CLIENT4: &str = "192.0.2.2";
const CLIENT6: &str = "2001:db8:c::2";
const VIP4: &str = "203.0.113.10";
const VIP6: &str = "2001:db8:f::10";
const RS4: &str = "198.51.100.11";
const RS6: &str = "2001:db8:5::11";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cfg() -> DirectorConfig {
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
    cfg.gateway_v4 = Some("192.0.2.254".parse().unwrap());
    cfg.gateway_v6 = Some("2001:db8:c::fe".parse().unwrap());
    cfg.neighbors.push((ip("192.0.2.254"), MacAddr(CLIENT_MAC)));
    cfg.neighbors
        .push((ip("2001:db8:c::fe"), MacAddr(CLIENT_MAC)));
    cfg
}

fn rules() -> String {
    let mut s = String::new();
    for (vip, rs) in [
        (VIP4.to_string(), RS4.to_string()),
        (format!("[{VIP6}]"), format!("[{RS6}]")),
    ] {
        s += &format!("-A -t {vip}:80 -s rr\n-a -t {vip}:80 -r {rs}:8080 -m -w 1\n");
        s += &format!("-A -u {vip}:53 -s rr\n-a -u {vip}:53 -r {rs}:53 -m -w 1\n");
        // A service whose only real server is quiescent: no destination.
        s += &format!("-A -u {vip}:54 -s rr\n-a -u {vip}:54 -r {rs}:54 -m -w 0\n");
    }
    s
}

fn director_with(c: DirectorConfig) -> Director {
    Director::from_rules(c, &rules()).unwrap()
}

fn director() -> Director {
    director_with(cfg())
}

/// Runs `frame` through `d` at `now`; returns the verdict and the reply bytes, if any.
fn run_at(d: &mut Director, now: Instant, frame: &[u8]) -> (Verdict, Vec<u8>) {
    let mut buf = vec![0u8; HEAD + frame.len() + 64];
    buf[HEAD..HEAD + frame.len()].copy_from_slice(frame);
    let mut out = vec![0u8; 2048];
    let v = d.process(now, 0, &mut buf, HEAD, frame.len(), &mut out);
    let reply = match v {
        Verdict::Reply { len, .. } => out[..len].to_vec(),
        _ => Vec::new(),
    };
    (v, reply)
}

fn run(d: &mut Director, frame: &[u8]) -> (Verdict, Vec<u8>) {
    run_at(d, Instant::from_secs(10), frame)
}

fn syn(src: &str, dst: &str, dport: u16) -> Vec<u8> {
    build(ip(src), ip(dst), true, 40000, dport, 64, &[])
}

/// A TCP segment with the given flags, sequence and acknowledgement numbers.
#[allow(clippy::too_many_arguments)]
fn tcp_seg(
    src: &str,
    dst: &str,
    dport: u16,
    syn: bool,
    ack: Option<u32>,
    rst: bool,
    fin: bool,
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC);
    let b = match (ip(src), ip(dst)) {
        (IpAddr::V4(s), IpAddr::V4(d)) => b.ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => b.ipv6(s.octets(), d.octets(), 64),
        _ => panic!(),
    };
    let mut t = b.tcp(40000, dport, 1000, 64240);
    if syn {
        t = t.syn();
    }
    if let Some(a) = ack {
        t = t.ack(a);
    }
    if rst {
        t = t.rst();
    }
    if fin {
        t = t.fin();
    }
    let mut v = Vec::new();
    t.write(&mut v, payload).unwrap();
    v
}

fn recompute_ipv4_checksum(f: &mut [u8]) {
    let ihl = usize::from(f[14] & 0x0f) * 4;
    f[24] = 0;
    f[25] = 0;
    let c = !common::ones(&f[14..14 + ihl], 0);
    f[24..26].copy_from_slice(&c.to_be_bytes());
}

// ----- finding 3: validated input ------------------------------------------------------

#[test]
fn syn_with_bad_ipv4_header_checksum_creates_nothing() {
    let mut d = director();
    let mut f = syn(CLIENT4, VIP4, 80);
    f[24] ^= 0x5a;
    let (v, _) = run(&mut d, &f);
    assert_eq!(v, Verdict::Drop(DropReason::BadIpChecksum));
    assert_eq!(d.balancer().conn_count(), 0);
    assert_eq!(d.drops().get(DropReason::BadIpChecksum), 1);
    // The offload flags vouch for the L4 checksum only, never for the IP header.
    let mut buf = vec![0u8; HEAD + f.len()];
    buf[HEAD..].copy_from_slice(&f);
    let mut out = vec![0u8; 2048];
    let mut off = Offload {
        data_valid: true,
        ..Offload::NONE
    };
    let v = d.process_offload(
        Instant::ZERO,
        0,
        &mut buf,
        HEAD,
        f.len(),
        &mut off,
        &mut out,
    );
    assert_eq!(v, Verdict::Drop(DropReason::BadIpChecksum));
    assert_eq!(d.balancer().conn_count(), 0);
    // The same SYN with its checksum intact is forwarded.
    let (v, _) = run(&mut d, &syn(CLIENT4, VIP4, 80));
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    assert_eq!(d.balancer().conn_count(), 1);
}

#[test]
fn inconsistent_ipv4_and_ipv6_headers_create_nothing() {
    let mut d = director();
    let good = syn(CLIENT4, VIP4, 80);
    // Total length past the frame; below the header; IHL 4; version 5 (checksums fixed up).
    for patch in [
        |f: &mut Vec<u8>| f[16..18].copy_from_slice(&200u16.to_be_bytes()),
        |f: &mut Vec<u8>| f[16..18].copy_from_slice(&16u16.to_be_bytes()),
        |f: &mut Vec<u8>| f[14] = 0x44,
        |f: &mut Vec<u8>| f[14] = 0x55,
    ] {
        let mut f = good.clone();
        patch(&mut f);
        recompute_ipv4_checksum(&mut f);
        let (v, _) = run(&mut d, &f);
        assert_eq!(v, Verdict::Drop(DropReason::Malformed));
    }
    // IPv6: payload length past the frame, wrong version.
    let good6 = syn(CLIENT6, VIP6, 80);
    let mut f = good6.clone();
    f[18..20].copy_from_slice(&100u16.to_be_bytes());
    assert_eq!(run(&mut d, &f).0, Verdict::Drop(DropReason::Malformed));
    let mut f = good6.clone();
    f[14] = 0x40;
    assert_eq!(run(&mut d, &f).0, Verdict::Drop(DropReason::Malformed));
    assert_eq!(d.balancer().conn_count(), 0);
}

#[test]
fn icmp_error_with_bad_checksum_is_not_acted_on() {
    for (client, vip) in [(CLIENT4, VIP4), (CLIENT6, VIP6)] {
        let mut d = director();
        let (v, _) = run(&mut d, &syn(client, vip, 80));
        assert!(matches!(v, Verdict::Forward { .. }));
        // An error from the client side about the VIP's reply to it.
        let quoted = build_ip(ip(vip), ip(client), true, 80, 40000, &[]);
        let good = build_icmp_error(ip(client), ip(vip), &quoted);
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        let (v, _) = run(&mut d, &bad);
        assert_eq!(v, Verdict::Drop(DropReason::BadIcmpChecksum), "{client}");
        assert_eq!(d.drops().get(DropReason::BadIcmpChecksum), 1);
        // With the NIC's word that the checksum was checked, it is relayed.
        let mut buf = vec![0u8; HEAD + bad.len()];
        buf[HEAD..].copy_from_slice(&bad);
        let mut out = vec![0u8; 2048];
        let mut off = Offload {
            data_valid: true,
            ..Offload::NONE
        };
        let v = d.process_offload(
            Instant::ZERO,
            0,
            &mut buf,
            HEAD,
            bad.len(),
            &mut off,
            &mut out,
        );
        assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
        // The intact error is relayed.
        let (v, _) = run(&mut d, &good);
        assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    }
}

// ----- finding 9: martians ---------------------------------------------------------------

#[test]
fn syns_from_martian_sources_create_nothing() {
    let cases = [
        ("0.0.0.0", VIP4, DropReason::MartianUnspecified),
        ("0.1.2.3", VIP4, DropReason::MartianUnspecified),
        ("127.0.0.1", VIP4, DropReason::MartianLoopback),
        ("224.0.0.5", VIP4, DropReason::MartianMulticast),
        ("255.255.255.255", VIP4, DropReason::MartianBroadcast),
        ("240.0.0.1", VIP4, DropReason::MartianClassE),
        (VIP4, VIP4, DropReason::MartianVip),
        ("192.0.2.1", VIP4, DropReason::MartianOwnAddress),
        (RS4, VIP4, DropReason::MartianRealServer),
        ("::", VIP6, DropReason::MartianUnspecified),
        ("::1", VIP6, DropReason::MartianLoopback),
        ("ff02::1", VIP6, DropReason::MartianMulticast),
        ("::ffff:192.0.2.9", VIP6, DropReason::MartianV4Mapped),
        (VIP6, VIP6, DropReason::MartianVip),
        ("2001:db8:c::1", VIP6, DropReason::MartianOwnAddress),
        (RS6, VIP6, DropReason::MartianRealServer),
    ];
    for (src, dst, reason) in cases {
        let mut d = director();
        let (v, _) = run(&mut d, &syn(src, dst, 80));
        assert_eq!(v, Verdict::Drop(reason), "{src}");
        assert_eq!(d.balancer().conn_count(), 0, "{src}");
        assert_eq!(d.drops().get(reason), 1, "{src}");
        // Switched off, the same SYN is scheduled (so the check is what stops it).
        let mut c = cfg();
        c.martians = MartianChecks::NONE;
        let mut d = director_with(c);
        let (v, _) = run(&mut d, &syn(src, dst, 80));
        assert!(
            !matches!(v, Verdict::Drop(r) if r == reason),
            "{src}: {v:?}"
        );
        assert_eq!(d.balancer().conn_count(), 1, "{src}");
    }
}

#[test]
fn martian_table_follows_the_configuration() {
    let mut d = director();
    // 192.0.2.77 is nobody: scheduled.
    let (v, _) = run(&mut d, &syn("192.0.2.77", VIP4, 80));
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    // Made a real server of the VIP through the API: now a martian as a client.
    let rs = lvs_core::RealServerConfig::new("192.0.2.77:8080".parse().unwrap());
    let key = lvs_core::ServiceKey::Addr {
        protocol: lvs_core::Protocol::Tcp,
        vip: format!("{VIP4}:80").parse().unwrap(),
    };
    d.balancer_mut().add_real_server(&key, rs).unwrap();
    // Its packets to the VIP are now dropped, the connection made before included.
    let f = syn("192.0.2.77", VIP4, 80);
    let (v, _) = run(&mut d, &f);
    assert_eq!(v, Verdict::Drop(DropReason::MartianRealServer));
}

#[test]
fn ipv4_source_route_is_dropped() {
    let mut d = director();
    let base = syn(CLIENT4, VIP4, 80);
    let mut f = base[..34].to_vec();
    // LSRR: type 131, length 7, pointer 4, one address; then end of options.
    f.extend_from_slice(&[131, 7, 4, 198, 51, 100, 11, 0]);
    f.extend_from_slice(&base[34..]);
    f[14] = 0x47;
    let total = u16::from_be_bytes([f[16], f[17]]) + 8;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    recompute_ipv4_checksum(&mut f);
    let (v, _) = run(&mut d, &f);
    assert_eq!(v, Verdict::Drop(DropReason::SourceRoute));
    assert_eq!(d.balancer().conn_count(), 0);
    // Record route (type 7) is no reason to drop.
    let mut rr = f.clone();
    rr[34] = 7;
    recompute_ipv4_checksum(&mut rr);
    let (v, _) = run(&mut d, &rr);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    // Switched off (accept_source_route), the LSRR SYN is scheduled too.
    let mut c = cfg();
    c.martians.source_route = false;
    let mut d = director_with(c);
    let (v, _) = run(&mut d, &f);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
}

#[test]
fn ipv6_hop_by_hop_out_of_place_is_dropped() {
    let mut d = director();
    let base = syn(CLIENT6, VIP6, 80);
    let mut f = base[..54].to_vec();
    f[20] = 60; // destination options first
    f.extend_from_slice(&[0, 0, 1, 4, 0, 0, 0, 0]); // -> hop-by-hop (PadN)
    f.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]); // -> TCP
    f.extend_from_slice(&base[54..]);
    let plen = u16::from_be_bytes([f[18], f[19]]) + 16;
    f[18..20].copy_from_slice(&plen.to_be_bytes());
    let (v, _) = run(&mut d, &f);
    assert_eq!(v, Verdict::Drop(DropReason::MisplacedHopByHop));
    assert_eq!(d.balancer().conn_count(), 0);
    // Hop-by-hop first is fine.
    let mut ok = f.clone();
    ok[20] = 0;
    ok[54] = 60;
    ok[62] = 6;
    let (v, _) = run(&mut d, &ok);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
}

// ----- finding 4: rate limits ------------------------------------------------------------

#[test]
fn closed_udp_port_answers_are_rate_limited() {
    // Many sources: the global bucket (50 burst, 1000/s) bounds the total.
    let mut d = director();
    let t0 = 20_000u64;
    let mut replies = 0u64;
    for i in 0..1000u32 {
        let src = format!("198.18.{}.{}", i / 250, i % 250 + 1);
        let f = build(ip(&src), ip(VIP4), false, 5000, 9999, 64, b"x");
        // 1000 datagrams in 200 ms.
        let (v, reply) = run_at(&mut d, Instant::from_millis(t0 + u64::from(i / 5)), &f);
        match v {
            Verdict::Reply { .. } => {
                replies += 1;
                verify_frame(&reply).unwrap();
            }
            Verdict::Drop(DropReason::IcmpRateLimited) => {}
            v => panic!("{v:?}"),
        }
    }
    let bound = 50 + 1000 * 200 / 1000;
    assert!((50..=bound).contains(&replies), "{replies} > {bound}");
    assert_eq!(d.drops().get(DropReason::IcmpRateLimited), 1000 - replies);

    // One source: its own bucket, 6 messages banked then one per second.
    let mut d = director();
    let mut replies = 0u64;
    for i in 0..1000u64 {
        let f = build(ip(CLIENT4), ip(VIP4), false, 5000, 54, 64, b"x");
        // 1000 datagrams to a service without destination, in 2 s.
        let (v, _) = run_at(&mut d, Instant::from_millis(t0 + 2 * i), &f);
        if matches!(v, Verdict::Reply { .. }) {
            replies += 1;
        }
    }
    assert!((6..=6 + 2).contains(&replies), "{replies}");
    assert_eq!(d.drops().get(DropReason::IcmpRateLimited), 1000 - replies);

    // Limits off: every datagram answered.
    let mut c = cfg();
    c.icmp_limits = IcmpLimits {
        per_dest_ms: 0,
        msgs_per_sec: 0,
        ..IcmpLimits::default()
    };
    let mut d = director_with(c);
    for _ in 0..100 {
        let f = build(ip(CLIENT4), ip(VIP4), false, 5000, 54, 64, b"x");
        assert!(matches!(run(&mut d, &f).0, Verdict::Reply { .. }));
    }
}

// ----- finding 5: the VIP as a host ------------------------------------------------------

fn echo_request(src: &str, dst: &str) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC);
    let mut v = Vec::new();
    match (ip(src), ip(dst)) {
        (IpAddr::V4(s), IpAddr::V4(d)) => b
            .ipv4(s.octets(), d.octets(), 64)
            .icmpv4_echo_request(0x4242, 7)
            .write(&mut v, b"ping payload")
            .unwrap(),
        (IpAddr::V6(s), IpAddr::V6(d)) => b
            .ipv6(s.octets(), d.octets(), 64)
            .icmpv6_echo_request(0x4242, 7)
            .write(&mut v, b"ping payload")
            .unwrap(),
        _ => panic!(),
    }
    v
}

#[test]
fn echo_request_to_vip_gets_echo_reply() {
    for (client, vip) in [(CLIENT4, VIP4), (CLIENT6, VIP6)] {
        let mut d = director();
        let (v, reply) = run(&mut d, &echo_request(client, vip));
        assert!(matches!(v, Verdict::Reply { link: 0, .. }), "{v:?}");
        verify_frame(&reply).unwrap();
        let p = SlicedPacket::from_ethernet(&reply).unwrap();
        let eth = match p.link.unwrap() {
            etherparse::LinkSlice::Ethernet2(e) => e,
            _ => panic!(),
        };
        assert_eq!(eth.destination(), CLIENT_MAC);
        assert_eq!(eth.source(), DIRECTOR_MAC);
        match p.net.unwrap() {
            NetSlice::Ipv4(h) => {
                assert_eq!(IpAddr::from(h.header().source_addr()), ip(vip));
                assert_eq!(IpAddr::from(h.header().destination_addr()), ip(client));
            }
            NetSlice::Ipv6(h) => {
                assert_eq!(IpAddr::from(h.header().source_addr()), ip(vip));
                assert_eq!(IpAddr::from(h.header().destination_addr()), ip(client));
            }
            _ => panic!(),
        }
        match p.transport.unwrap() {
            TransportSlice::Icmpv4(i) => {
                assert!(matches!(
                    i.icmp_type(),
                    etherparse::Icmpv4Type::EchoReply(e) if e.id == 0x4242 && e.seq == 7
                ));
                assert_eq!(i.payload(), b"ping payload");
            }
            TransportSlice::Icmpv6(i) => {
                assert!(matches!(
                    i.icmp_type(),
                    etherparse::Icmpv6Type::EchoReply(e) if e.id == 0x4242 && e.seq == 7
                ));
                assert_eq!(i.payload(), b"ping payload");
            }
            t => panic!("{t:?}"),
        }
        // A corrupt request is dropped, not answered.
        let mut bad = echo_request(client, vip);
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(
            run(&mut d, &bad).0,
            Verdict::Drop(DropReason::BadIcmpChecksum)
        );
        // Switched off: left to the host, as before.
        let mut c = cfg();
        c.vip_echo = false;
        let mut d = director_with(c);
        assert_eq!(run(&mut d, &echo_request(client, vip)).0, Verdict::ToHost);
        // The director's own address is the host's business.
        let mut d = director();
        let own = if vip == VIP4 {
            "192.0.2.1"
        } else {
            "2001:db8:c::1"
        };
        assert_eq!(run(&mut d, &echo_request(client, own)).0, Verdict::ToHost);
    }
}

/// (seq, ack, rst, ack flag) of a generated TCP segment, after full verification.
fn rst_fields(reply: &[u8], client: &str, vip: &str, dport: u16) -> (u32, u32, bool, bool) {
    verify_frame(reply).unwrap();
    let p = SlicedPacket::from_ethernet(reply).unwrap();
    let src = match p.net.as_ref().unwrap() {
        NetSlice::Ipv4(h) => IpAddr::from(h.header().source_addr()),
        NetSlice::Ipv6(h) => IpAddr::from(h.header().source_addr()),
        _ => panic!(),
    };
    assert_eq!(src, ip(vip));
    let _ = client;
    match p.transport.unwrap() {
        TransportSlice::Tcp(t) => {
            assert_eq!(t.source_port(), dport);
            assert_eq!(t.destination_port(), 40000);
            assert!(!t.syn());
            (
                t.sequence_number(),
                t.acknowledgment_number(),
                t.rst(),
                t.ack(),
            )
        }
        t => panic!("{t:?}"),
    }
}

#[test]
fn tcp_to_vip_port_without_service_gets_reset() {
    for (client, vip) in [(CLIENT4, VIP4), (CLIENT6, VIP6)] {
        let mut d = director();
        // SYN (seq 1000): RST+ACK, seq 0, ack 1001.
        let (v, reply) = run(
            &mut d,
            &tcp_seg(client, vip, 9999, true, None, false, false, &[]),
        );
        assert!(matches!(v, Verdict::Reply { .. }), "{v:?}");
        assert_eq!(rst_fields(&reply, client, vip, 9999), (0, 1001, true, true));
        // Data + FIN without ACK: ack = seq + 10 + 1.
        let (_, reply) = run(
            &mut d,
            &tcp_seg(client, vip, 9999, false, None, false, true, &[0; 10]),
        );
        assert_eq!(rst_fields(&reply, client, vip, 9999), (0, 1011, true, true));
        // A segment with ACK 777: bare RST with seq 777.
        let (_, reply) = run(
            &mut d,
            &tcp_seg(client, vip, 9999, false, Some(777), false, false, &[]),
        );
        assert_eq!(rst_fields(&reply, client, vip, 9999), (777, 0, true, false));
        // A reset gets nothing.
        let (v, reply) = run(
            &mut d,
            &tcp_seg(client, vip, 9999, false, None, true, false, &[]),
        );
        assert!(
            !matches!(v, Verdict::Reply { .. }) && reply.is_empty(),
            "{v:?}"
        );
        // A segment with a bad checksum gets nothing.
        let mut bad = tcp_seg(client, vip, 9999, true, None, false, false, &[]);
        let last = bad.len() - 1;
        bad[last - 10] ^= 1;
        assert_eq!(
            run(&mut d, &bad).0,
            Verdict::Drop(DropReason::BadL4Checksum)
        );
        assert_eq!(d.balancer().conn_count(), 0);
        // Switched off: left to the host, as before.
        let mut c = cfg();
        c.vip_reset = false;
        let mut d = director_with(c);
        let f = tcp_seg(client, vip, 9999, true, None, false, false, &[]);
        assert_eq!(run(&mut d, &f).0, Verdict::ToHost);
    }
}

#[test]
fn resets_are_rate_limited() {
    let mut d = director();
    let f = tcp_seg(CLIENT4, VIP4, 9999, true, None, false, false, &[]);
    let sent = (0..100)
        .filter(|_| matches!(run(&mut d, &f).0, Verdict::Reply { .. }))
        .count();
    assert_eq!(sent, 6);
    assert_eq!(d.drops().get(DropReason::ResetRateLimited), 94);
}

#[test]
fn udp_to_vip_port_without_service_gets_port_unreachable() {
    for (client, vip) in [(CLIENT4, VIP4), (CLIENT6, VIP6)] {
        let mut d = director();
        let f = build(ip(client), ip(vip), false, 5000, 9999, 64, b"hello");
        let (v, reply) = run(&mut d, &f);
        assert!(matches!(v, Verdict::Reply { .. }), "{v:?}");
        verify_frame(&reply).unwrap();
        let p = SlicedPacket::from_ethernet(&reply).unwrap();
        match p.transport.unwrap() {
            TransportSlice::Icmpv4(i) => assert!(matches!(
                i.icmp_type(),
                etherparse::Icmpv4Type::DestinationUnreachable(
                    etherparse::icmpv4::DestUnreachableHeader::Port
                )
            )),
            TransportSlice::Icmpv6(i) => assert!(matches!(
                i.icmp_type(),
                etherparse::Icmpv6Type::DestinationUnreachable(
                    etherparse::icmpv6::DestUnreachableCode::Port
                )
            )),
            t => panic!("{t:?}"),
        }
        let mut c = cfg();
        c.vip_port_unreachable = false;
        let mut d = director_with(c);
        assert_eq!(run(&mut d, &f).0, Verdict::ToHost);
    }
}

#[test]
fn frames_to_the_real_server_side_are_unchanged() {
    // NAT replies from the real server (source RS, destination client) are no martians.
    let mut d = director();
    let (v, _) = run(&mut d, &syn(CLIENT4, VIP4, 80));
    assert!(matches!(v, Verdict::Forward { .. }));
    let mut reply = build(ip(RS4), ip(CLIENT4), true, 8080, 40000, 64, &[]);
    reply[6..12].copy_from_slice(&RS_MAC);
    let (v, _) = run(&mut d, &reply);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
}
