//! Writes the seed corpus `seeds/<target>/` from hand-built frames. Run it when the input
//! layouts change, then commit the files:
//!
//! ```text
//! cargo test --manifest-path fuzz/Cargo.toml --test gen_seeds -- --ignored
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use lvs_fuzz::build::*;
use lvs_fuzz::{
    CLIENT_MAC, CLIENT4, CLIENT6, DIRECTOR_MAC, DIRECTOR_MAC_RS, RS_MAC, RS4, RS6, VIP4, VIP6,
};

const BCAST: [u8; 6] = [0xff; 6];
const D: [u8; 6] = DIRECTOR_MAC;
const DR: [u8; 6] = DIRECTOR_MAC_RS;

fn sa(ip: impl Into<IpAddr>, port: u16) -> SocketAddr {
    SocketAddr::new(ip.into(), port)
}

/// Sets the IPv4 flags/fragment word of the packet in `frame` at `l3` and fixes the checksum.
fn set_frag4(frame: &mut [u8], l3: usize, word: u16) {
    frame[l3 + 6..l3 + 8].copy_from_slice(&word.to_be_bytes());
    frame[l3 + 10..l3 + 12].copy_from_slice(&[0, 0]);
    let c = !lvs_fuzz::check::ones(&frame[l3..l3 + 20], 0);
    frame[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
}

struct Frames {
    list: Vec<(&'static str, Vec<u8>)>,
}

impl Frames {
    fn get(&self, name: &str) -> &[u8] {
        &self.list.iter().find(|(n, _)| *n == name).expect(name).1
    }
}

#[allow(clippy::vec_init_then_push)] // one named frame per line reads best
fn frames() -> Frames {
    let c4 = sa(CLIENT4, 40000);
    let c6 = sa(CLIENT6, 40000);
    let v4 = sa(VIP4, 80);
    let v6 = sa(VIP6, 80);
    let r4 = sa(RS4, 8080);
    let r6 = sa(RS6, 8080);
    let get = b"GET / HTTP/1.0\r\n\r\n";
    let dns = [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    let mut l: Vec<(&'static str, Vec<u8>)> = Vec::new();
    l.push((
        "tcp4_syn",
        eth_ip(D, CLIENT_MAC, &[], &tcp(c4, v4, SYN, 64, b"")),
    ));
    l.push((
        "tcp4_ack_data",
        eth_ip(D, CLIENT_MAC, &[], &tcp(c4, v4, ACK, 64, get)),
    ));
    l.push((
        "tcp4_fin",
        eth_ip(D, CLIENT_MAC, &[], &tcp(c4, v4, FIN | ACK, 64, b"")),
    ));
    l.push((
        "tcp4_rst",
        eth_ip(D, CLIENT_MAC, &[], &tcp(c4, v4, RST, 64, b"")),
    ));
    l.push((
        "tcp4_reply",
        eth_ip(DR, RS_MAC, &[], &tcp(r4, c4, SYN | ACK, 64, b"")),
    ));
    l.push((
        "tcp4_ttl1",
        eth_ip(D, CLIENT_MAC, &[], &tcp(c4, v4, SYN, 1, b"")),
    ));
    l.push((
        "tcp4_vlan",
        eth_ip(D, CLIENT_MAC, &[100], &tcp(c4, v4, SYN, 64, b"")),
    ));
    l.push((
        "udp4",
        eth_ip(
            D,
            CLIENT_MAC,
            &[],
            &udp(sa(CLIENT4, 40001), sa(VIP4, 53), 64, &dns),
        ),
    ));
    let mut pad = eth_ip(
        D,
        CLIENT_MAC,
        &[],
        &udp(sa(CLIENT4, 40001), sa(VIP4, 53), 64, b"x"),
    );
    pad.resize(60, 0);
    l.push(("udp4_padded", pad));
    l.push((
        "udp4_gue_svc",
        eth_ip(
            D,
            CLIENT_MAC,
            &[],
            &udp(sa(CLIENT4, 40002), sa(VIP4, 4500), 64, b"ike"),
        ),
    ));
    l.push((
        "udp4_nodest",
        eth_ip(
            D,
            CLIENT_MAC,
            &[],
            &udp(sa(CLIENT4, 40003), sa(VIP4, 83), 64, b"?"),
        ),
    ));
    l.push((
        "tcp4_tun_svc",
        eth_ip(D, CLIENT_MAC, &[], &tcp(c4, sa(VIP4, 81), SYN, 64, b"")),
    ));
    l.push((
        "tcp4_dr_svc",
        eth_ip(D, CLIENT_MAC, &[], &tcp(c4, sa(VIP4, 82), SYN, 64, b"")),
    ));
    let mut frag = eth_ip(
        D,
        CLIENT_MAC,
        &[],
        &udp(sa(CLIENT4, 40001), sa(VIP4, 53), 64, &[7; 64]),
    );
    set_frag4(&mut frag, 14, 0x2000);
    l.push(("udp4_first_frag", frag.clone()));
    set_frag4(&mut frag, 14, 0x0008);
    l.push(("udp4_later_frag", frag));
    l.push((
        "tcp6_syn",
        eth_ip(D, CLIENT_MAC, &[], &tcp(c6, v6, SYN, 64, b"")),
    ));
    l.push((
        "tcp6_ack_data",
        eth_ip(D, CLIENT_MAC, &[], &tcp(c6, v6, ACK, 64, get)),
    ));
    l.push((
        "tcp6_reply",
        eth_ip(DR, RS_MAC, &[], &tcp(r6, c6, SYN | ACK, 64, b"")),
    ));
    l.push((
        "udp6_qinq",
        eth_ip(
            D,
            CLIENT_MAC,
            &[10, 20],
            &udp(sa(CLIENT6, 40001), sa(VIP6, 53), 64, &dns),
        ),
    ));
    l.push((
        "udp6",
        eth_ip(
            D,
            CLIENT_MAC,
            &[],
            &udp(sa(CLIENT6, 40001), sa(VIP6, 53), 64, &dns),
        ),
    ));
    l.push((
        "udp6_gue_svc",
        eth_ip(
            D,
            CLIENT_MAC,
            &[],
            &udp(sa(CLIENT6, 40002), sa(VIP6, 4500), 64, b"ike"),
        ),
    ));
    l.push((
        "tcp6_tun_svc",
        eth_ip(D, CLIENT_MAC, &[], &tcp(c6, sa(VIP6, 81), SYN, 64, b"")),
    ));
    l.push((
        "tcp6_dr_svc",
        eth_ip(D, CLIENT_MAC, &[], &tcp(c6, sa(VIP6, 82), SYN, 64, b"")),
    ));
    l.push((
        "tcp6_hop1",
        eth_ip(D, CLIENT_MAC, &[], &tcp(c6, v6, SYN, 1, b"")),
    ));
    // IPv6 first fragment: fragment header (M=1) then the UDP datagram.
    let u6 = udp(sa(CLIENT6, 40001), sa(VIP6, 53), 64, &dns);
    let mut fh = vec![17, 0, 0, 1, 0, 0, 0, 42];
    fh.extend_from_slice(&u6[40..]);
    l.push((
        "udp6_first_frag",
        eth_ip(
            D,
            CLIENT_MAC,
            &[],
            &ip(CLIENT6.into(), VIP6.into(), 44, 64, fh, None),
        ),
    ));
    l.push((
        "icmp4_echo",
        eth_ip(
            D,
            CLIENT_MAC,
            &[],
            &icmp(CLIENT4.into(), VIP4.into(), 8, 0, 0x0001_0001, b"ping", 64),
        ),
    ));
    l.push((
        "icmp6_echo",
        eth_ip(
            D,
            CLIENT_MAC,
            &[],
            &icmp(
                CLIENT6.into(),
                VIP6.into(),
                128,
                0,
                0x0001_0001,
                b"ping",
                64,
            ),
        ),
    ));
    // Client-side errors about a reply VIP -> client.
    let q4 = udp(sa(VIP4, 53), sa(CLIENT4, 40001), 63, &dns);
    l.push((
        "icmp4_err_client",
        eth_ip(
            D,
            CLIENT_MAC,
            &[],
            &icmp(CLIENT4.into(), VIP4.into(), 3, 3, 0, &q4, 64),
        ),
    ));
    let q6 = tcp(v6, c6, ACK, 63, get);
    l.push((
        "icmp6_ptb_client",
        eth_ip(
            D,
            CLIENT_MAC,
            &[],
            &icmp(CLIENT6.into(), VIP6.into(), 2, 0, 1280, &q6, 64),
        ),
    ));
    // Real-server-side errors about a NATed request client -> RS.
    let q4 = tcp(c4, r4, ACK, 63, get);
    l.push((
        "icmp4_err_rs",
        eth_ip(
            DR,
            RS_MAC,
            &[],
            &icmp(RS4.into(), CLIENT4.into(), 3, 4, 1400, &q4[..28], 64),
        ),
    ));
    let q6 = udp(sa(CLIENT6, 40001), sa(RS6, 5353), 63, &dns);
    l.push((
        "icmp6_err_rs",
        eth_ip(
            DR,
            RS_MAC,
            &[],
            &icmp(RS6.into(), CLIENT6.into(), 1, 4, 0, &q6, 64),
        ),
    ));
    let mc = |t: Ipv6Addr| {
        let o = t.octets();
        [0x33, 0x33, 0xff, o[13], o[14], o[15]]
    };
    l.push((
        "ns6_vip",
        eth_ip(mc(VIP6), CLIENT_MAC, &[], &ns(CLIENT6, VIP6, CLIENT_MAC)),
    ));
    l.push((
        "ns6_dad",
        eth_ip(
            mc(VIP6),
            CLIENT_MAC,
            &[],
            &ns(Ipv6Addr::UNSPECIFIED, VIP6, CLIENT_MAC),
        ),
    ));
    let rs21: Ipv6Addr = "2001:db8:5::21".parse().unwrap();
    let me6: Ipv6Addr = "2001:db8:5::1".parse().unwrap();
    l.push((
        "na6_rs",
        eth_ip(DR, RS_MAC, &[], &na(rs21, me6, rs21, RS_MAC)),
    ));
    l.push((
        "arp_req_vip",
        eth(
            BCAST,
            CLIENT_MAC,
            &[],
            0x0806,
            &arp(1, CLIENT_MAC, CLIENT4, [0; 6], VIP4),
        ),
    ));
    l.push((
        "arp_req_vlan",
        eth(
            BCAST,
            CLIENT_MAC,
            &[7],
            0x0806,
            &arp(1, CLIENT_MAC, CLIENT4, [0; 6], VIP4),
        ),
    ));
    let rs21v4 = Ipv4Addr::new(198, 51, 100, 21);
    l.push((
        "arp_reply_rs",
        eth(
            DR,
            RS_MAC,
            &[],
            0x0806,
            &arp(2, RS_MAC, rs21v4, DR, Ipv4Addr::new(198, 51, 100, 1)),
        ),
    ));
    // Tunnel packets, as a real server would receive them.
    let inner = tcp(c4, v4, SYN, 63, b"");
    l.push((
        "ipip4",
        eth_ip(
            RS_MAC,
            DR,
            &[],
            &ip(
                Ipv4Addr::new(198, 51, 100, 1).into(),
                rs21v4.into(),
                4,
                63,
                inner,
                None,
            ),
        ),
    ));
    let inner = tcp(c6, v6, SYN, 63, b"");
    l.push((
        "ip6ip6",
        eth_ip(
            RS_MAC,
            DR,
            &[],
            &ip(me6.into(), rs21.into(), 41, 63, inner, None),
        ),
    ));
    l.push((
        "other_ethertype",
        eth(D, CLIENT_MAC, &[], 0x88cc, &[1, 2, 3, 4]),
    ));
    // Truncated frames.
    let t = l.iter().map(|(n, f)| (*n, f.clone())).collect::<Vec<_>>();
    for (name, cut) in [
        ("tcp4_syn", 40),
        ("tcp6_syn", 60),
        ("arp_req_vip", 30),
        ("icmp4_err_client", 50),
        ("udp6_qinq", 17),
    ] {
        let f = &t.iter().find(|(n, _)| *n == name).unwrap().1;
        let n: &'static str = Box::leak(format!("{name}_cut{cut}").into_boxed_str());
        l.push((n, f[..cut].to_vec()));
    }
    Frames { list: l }
}

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), data).unwrap();
}

#[test]
#[ignore = "writes the seed corpus; run on purpose"]
fn generate_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let _ = std::fs::remove_dir_all(&root);
    let fr = frames();
    for (name, f) in &fr.list {
        write("parse", name, f);
    }

    let rs4 = sa(RS4, 8080);
    let rs6 = sa(RS6, 8080);
    let vip4 = sa(VIP4, 80);
    let vip6 = sa(VIP6, 80);
    for (name, op, new, frame) in [
        ("req_tcp4", 0, rs4, "tcp4_syn"),
        ("req_tcp4_data", 0, rs4, "tcp4_ack_data"),
        ("req_tcp4_vlan", 0, rs4, "tcp4_vlan"),
        ("req_udp4", 0, sa(RS4, 5353), "udp4"),
        ("req_udp4_padded", 0, sa(RS4, 5353), "udp4_padded"),
        ("req_udp4_first_frag", 0, sa(RS4, 5353), "udp4_first_frag"),
        ("req_tcp6", 0, rs6, "tcp6_ack_data"),
        ("req_udp6_qinq", 0, sa(RS6, 5353), "udp6_qinq"),
        ("req_udp6_first_frag", 0, sa(RS6, 5353), "udp6_first_frag"),
        ("req_ttl1", 0, rs4, "tcp4_ttl1"),
        ("reply_tcp4", 1, vip4, "tcp4_reply"),
        ("reply_tcp6", 1, vip6, "tcp6_reply"),
        ("icmp_in_v4", 2, sa(RS4, 5353), "icmp4_err_client"),
        ("icmp_in_v6", 2, rs6, "icmp6_ptb_client"),
        ("icmp_out_v4", 3, vip4, "icmp4_err_rs"),
        ("icmp_out_v6", 3, sa(VIP6, 53), "icmp6_err_rs"),
        ("mismatch_cut", 0x80, rs4, "tcp4_ack_data"),
        ("mismatch_icmp_cut", 0x82, sa(RS4, 5353), "icmp4_err_client"),
    ] {
        write("nat", name, &nat_input(op, new, fr.get(frame)));
    }

    let o4: IpAddr = Ipv4Addr::new(198, 51, 100, 1).into();
    let t4: IpAddr = Ipv4Addr::new(198, 51, 100, 21).into();
    let o6: IpAddr = "2001:db8:5::1".parse().unwrap();
    let t6: IpAddr = "2001:db8:5::21".parse().unwrap();
    for (name, gue, s, d, head, frame) in [
        ("ipip_4in4", None, o4, t4, 60, "tcp4_syn"),
        ("ipip_4in4_vlan", None, o4, t4, 60, "tcp4_vlan"),
        ("gue_4in4", Some(6080), o4, t4, 60, "udp4"),
        ("ipip_6in6", None, o6, t6, 60, "tcp6_ack_data"),
        ("gue_6in6", Some(6080), o6, t6, 60, "udp6_qinq"),
        ("ipip_6in4", None, o4, t4, 60, "tcp6_syn"),
        ("gue_4in6", Some(6080), o6, t6, 60, "tcp4_ack_data"),
        ("ipip_padded", None, o4, t4, 60, "udp4_padded"),
        ("no_headroom", None, o6, t6, 10, "tcp4_syn"),
        ("ttl1", None, o4, t4, 60, "tcp4_ttl1"),
        ("icmp_err", Some(6080), o4, t4, 60, "icmp4_err_client"),
    ] {
        write("tun", name, &tun_input(gue, s, d, head, fr.get(frame)));
    }

    for (name, sel, frame) in [
        ("tcp4", 0, "tcp4_syn"),
        ("tcp4_vlan", 0, "tcp4_vlan"),
        ("udp4_padded", 0, "udp4_padded"),
        ("tcp6", 0, "tcp6_ack_data"),
        ("udp6_qinq", 0, "udp6_qinq"),
        ("icmp6", 0, "icmp6_ptb_client"),
        ("ttl1", 0, "tcp4_ttl1"),
        ("hop1", 0, "tcp6_hop1"),
        ("mismatch_cut", 0x80, "tcp6_ack_data"),
    ] {
        write("dr", name, &dr_input(sel, fr.get(frame)));
    }

    let me4: IpAddr = Ipv4Addr::new(192, 0, 2, 1).into();
    let me6: IpAddr = "2001:db8:c::1".parse().unwrap();
    let none: IpAddr = Ipv4Addr::UNSPECIFIED.into();
    for (name, op, kind, mtu, a1, a2, out, frame) in [
        ("time_exceeded_v4", 0, 0, 0, me4, none, 2048, "tcp4_ttl1"),
        (
            "port_unreach_v4",
            0,
            1,
            0,
            VIP4.into(),
            none,
            2048,
            "udp4_nodest",
        ),
        (
            "frag_needed_v4",
            0,
            2,
            1380,
            VIP4.into(),
            none,
            2048,
            "tcp4_ack_data",
        ),
        (
            "frag_needed_v4_vlan",
            0,
            2,
            1380,
            VIP4.into(),
            none,
            2048,
            "tcp4_vlan",
        ),
        ("time_exceeded_v6", 0, 0, 0, me6, none, 2048, "tcp6_hop1"),
        (
            "port_unreach_v6_qinq",
            0,
            1,
            0,
            VIP6.into(),
            none,
            2048,
            "udp6_qinq",
        ),
        (
            "ptb_v6",
            0,
            2,
            1280,
            VIP6.into(),
            none,
            2048,
            "tcp6_ack_data",
        ),
        (
            "ptb_v6_frag",
            0,
            2,
            1280,
            VIP6.into(),
            none,
            2048,
            "udp6_first_frag",
        ),
        (
            "about_icmp_error",
            0,
            1,
            0,
            me4,
            none,
            2048,
            "icmp4_err_client",
        ),
        ("small_out", 0, 1, 0, VIP4.into(), none, 60, "tcp4_ack_data"),
        ("arp_reply", 1, 0, 0, none, none, 2048, "arp_req_vip"),
        ("arp_reply_vlan", 1, 0, 0, none, none, 2048, "arp_req_vlan"),
        ("na", 2, 0, 0, none, none, 2048, "ns6_vip"),
        ("na_dad", 2, 0, 0, none, none, 2048, "ns6_dad"),
        (
            "arp_request",
            3,
            0,
            0,
            me4,
            Ipv4Addr::new(192, 0, 2, 254).into(),
            2048,
            "other_ethertype",
        ),
        (
            "ns",
            4,
            0,
            0,
            me6,
            "2001:db8:c::fe".parse().unwrap(),
            2048,
            "other_ethertype",
        ),
    ] {
        write(
            "icmp_gen",
            name,
            &icmp_gen_input(op, kind, mtu, a1, a2, out, fr.get(frame)),
        );
    }

    // Director sequences: (ctl, dt, frame). ctl 0x80 = link 1 (real-server side), bit 1
    // drains poll_transmit, bit 0 runs on_timeout first.
    let seq = |steps: &[(u8, u8, &str)]| -> Vec<u8> {
        steps
            .iter()
            .flat_map(|(c, t, f)| director_record(*c, *t, fr.get(f)))
            .collect()
    };
    let sequences: Vec<(&str, Vec<u8>)> = vec![
        (
            "nat_tcp4",
            seq(&[
                (0, 1, "tcp4_syn"),
                (0x82, 2, "tcp4_reply"),
                (2, 3, "tcp4_ack_data"),
                (0, 4, "tcp4_fin"),
                (3, 255, "tcp4_syn"),
            ]),
        ),
        (
            "nat_udp4_icmp",
            seq(&[
                (0, 1, "udp4"),
                (2, 1, "icmp4_err_client"),
                (0x80, 1, "icmp4_err_rs"),
                (1, 200, "udp4"),
            ]),
        ),
        (
            "tun_dr_v4",
            seq(&[
                (2, 1, "tcp4_tun_svc"),
                (0x82, 1, "arp_reply_rs"),
                (2, 1, "udp4_gue_svc"),
                (2, 1, "tcp4_dr_svc"),
                (3, 30, "tcp4_dr_svc"),
            ]),
        ),
        (
            "v4_misc",
            seq(&[
                (0, 1, "arp_req_vip"),
                (0, 1, "udp4_nodest"),
                (0, 1, "tcp4_ttl1"),
                (0, 1, "tcp4_ack_data"),
                (0, 1, "udp4_later_frag"),
                (0, 1, "icmp4_echo"),
                (0, 1, "tcp4_syn_cut40"),
                (0xc0, 1, "tcp4_syn"),
            ]),
        ),
        (
            "nat_tcp6",
            seq(&[
                (0, 1, "tcp6_syn"),
                (0x82, 2, "tcp6_reply"),
                (2, 3, "tcp6_ack_data"),
                (0, 1, "icmp6_ptb_client"),
                (0x80, 1, "icmp6_err_rs"),
                (3, 255, "tcp6_syn"),
            ]),
        ),
        (
            "tun_dr_v6",
            seq(&[
                (2, 1, "tcp6_tun_svc"),
                (0x82, 1, "na6_rs"),
                (2, 1, "udp6_gue_svc"),
                (2, 1, "tcp6_dr_svc"),
                (0, 1, "ns6_vip"),
                (0, 1, "ns6_dad"),
                (0, 1, "tcp6_hop1"),
                (0, 1, "udp6_first_frag"),
                (0, 1, "udp6_qinq"),
            ]),
        ),
        (
            "small_out",
            seq(&[
                (4, 20, "arp_req_vip"),
                (4, 50, "udp4_nodest"),
                (4, 60, "ns6_vip"),
            ]),
        ),
    ];
    for (name, data) in sequences {
        write("director", name, &data);
    }
    // Fill the tables: SYNs from many client ports, then let them expire.
    let mut fill = Vec::new();
    for p in 0..40u16 {
        let pkt = tcp(sa(CLIENT4, 41000 + p), sa(VIP4, 80), SYN, 64, b"");
        fill.extend(director_record(0, 0, &eth_ip(D, CLIENT_MAC, &[], &pkt)));
    }
    fill.extend(director_record(3, 255, fr.get("tcp4_syn")));
    write("director", "fill_table_v4", &fill);
    offload_seeds();
}

/// Seeds for the `sync` target: the worked examples of scale-out-notes.md §3.4, an IPv6
/// record with every option, a fwmark template, several records in one message, a version-0
/// message, and damaged messages that stop at each receiver rule.
#[test]
#[ignore]
fn sync_seeds() {
    use lvs_core::sync::{
        ConnRecord, MessageWriter, PeOption, RecordAddrs, SeqData, SeqOption, encode_messages,
    };
    let v4 = ConnRecord {
        protocol: 6,
        flags: 0,
        state: 1,
        cport: 40000,
        vport: 80,
        dport: 8080,
        fwmark: 0,
        timeout: 900,
        addrs: RecordAddrs::V4 {
            caddr: Ipv4Addr::new(192, 0, 2, 2),
            vaddr: Ipv4Addr::new(203, 0, 113, 10),
            daddr: Ipv4Addr::new(198, 51, 100, 11),
        },
        seq: None,
        pe: None,
    };
    let seq = SeqOption {
        in_seq: SeqData {
            init_seq: 1000,
            delta: 5,
            previous_delta: 0,
        },
        out_seq: SeqData {
            init_seq: 2000,
            delta: (-5i32) as u32,
            previous_delta: 0,
        },
    };
    let v4_seq = ConnRecord {
        flags: 0x0600,
        cport: 40001,
        seq: Some(seq),
        ..v4
    };
    let v6 = ConnRecord {
        protocol: 17,
        flags: 0x0183,
        state: 0,
        timeout: 300,
        addrs: RecordAddrs::V6 {
            caddr: CLIENT6,
            vaddr: VIP6,
            daddr: RS6,
        },
        seq: Some(seq),
        pe: Some(PeOption {
            data: b"call-id-1234@example",
            name: b"sip",
        }),
        ..v4
    };
    let fwmark_tpl = ConnRecord {
        protocol: 0,
        flags: 0x1002,
        state: 1,
        cport: 0,
        vport: 0,
        dport: 0,
        fwmark: 7,
        timeout: 360,
        addrs: RecordAddrs::V4 {
            caddr: Ipv4Addr::new(192, 0, 2, 0),
            vaddr: Ipv4Addr::from(7u32),
            daddr: RS4,
        },
        ..v4
    };
    let one = |recs: &[ConnRecord<'_>]| {
        let mut buf = vec![0u8; 1472];
        let mut w = MessageWriter::new(&mut buf, 1, 1472).unwrap();
        for r in recs {
            w.push(r).unwrap();
        }
        w.as_bytes().to_vec()
    };
    let example = one(&[v4]);
    write("sync", "example_one", &example);
    write("sync", "example_two_seq", &one(&[v4_seq, v4]));
    write("sync", "v6_all_options", &one(&[v6, v4]));
    write("sync", "fwmark_template", &one(&[v4, fwmark_tpl]));
    let many: Vec<_> = (0..40u16)
        .map(|i| ConnRecord {
            cport: 1024 + i,
            ..if i % 3 == 0 { v6 } else { v4 }
        })
        .collect();
    for (i, m) in encode_messages(&many, 1, 1472).unwrap().iter().enumerate() {
        write("sync", &format!("many_{i}"), m);
    }
    let mut v0 = vec![1, 3, 0, 28, 0, 6, 0x9c, 0x40, 0, 80, 0x1f, 0x90];
    v0.extend_from_slice(&[
        192, 0, 2, 2, 203, 0, 113, 10, 198, 51, 100, 11, 0x10, 0x00, 0, 1,
    ]);
    write("sync", "v0_template", &v0);
    let damaged = |name: &str, at: usize, v: u8| {
        let mut b = example.clone();
        b[at] = v;
        write("sync", name, &b);
    };
    damaged("bad_count", 4, 2);
    damaged("bad_record_version", 10, 0x10);
    damaged("record_past_end", 11, 40);
    damaged("bad_type", 8, 2);
    damaged("v6_type_too_short", 8, 1);
    let mut opt = example.clone();
    opt.extend_from_slice(&[2, 9, 1, 2]);
    let n = opt.len() as u16;
    opt[2..4].copy_from_slice(&n.to_be_bytes());
    opt[10..12].copy_from_slice(&(n - 8).to_be_bytes());
    write("sync", "option_overrun", &opt);
}

/// A `virtio_net_hdr` for a partial checksum at `start + offset` and, if `size` is not 0,
/// GSO of `kind` (1 TCPv4, 4 TCPv6, 5 UDP_L4) in segments of `size`.
fn vnet(start: u16, offset: u16, kind: u8, size: u16) -> [u8; 10] {
    use lvs_forwarding::offload::{Gso, GsoKind, Offload, PartialCsum};
    let gso = (size != 0).then_some(Gso {
        kind: match kind {
            1 => GsoKind::TcpV4,
            4 => GsoKind::TcpV6,
            _ => GsoKind::UdpL4,
        },
        size,
        hdr_len: 0,
        ecn: false,
    });
    Offload {
        csum: Some(PartialCsum { start, offset }),
        gso,
        ..Offload::NONE
    }
    .to_virtio()
}

/// Encapsulates `frame` as VS/TUN would; returns the new frame and its inner IP offset.
fn encapsulated(frame: &[u8], kind: lvs_forwarding::xform::TunnelKind, v6: bool) -> (Vec<u8>, u16) {
    use lvs_forwarding::xform::{TunnelParams, encap};
    let head = 128;
    let mut buf = vec![0u8; head + frame.len()];
    buf[head..].copy_from_slice(frame);
    let f = lvs_forwarding::wire::parse_frame(frame).expect("seed frame parses");
    let (src, dst): (IpAddr, IpAddr) = if v6 {
        ("2001:db8:5::1".parse().unwrap(), RS6.into())
    } else {
        ("198.51.100.1".parse().unwrap(), RS4.into())
    };
    let p = TunnelParams {
        kind,
        src_mac: lvs_forwarding::MacAddr(DR),
        dst_mac: lvs_forwarding::MacAddr(RS_MAC),
        outer_src: src,
        outer_dst: dst,
        ip_id: 7,
    };
    let (s, l) = encap(&mut buf, head, frame.len(), &f, &p).expect("seed encapsulates");
    (buf[s..s + l].to_vec(), (head + 14 - s) as u16)
}

/// Seeds of the `gso` target, and `director` sequences with offloaded frames.
fn offload_seeds() {
    use lvs_forwarding::xform::TunnelKind;
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 13) as u8).collect();
    let t4 = eth_ip(
        D,
        CLIENT_MAC,
        &[],
        &tcp(
            sa(CLIENT4, 40000),
            sa(VIP4, 81),
            ACK | 0x08 | FIN,
            64,
            &data,
        ),
    );
    let t6 = eth_ip(
        D,
        CLIENT_MAC,
        &[],
        &tcp(sa(CLIENT6, 40000), sa(VIP6, 81), ACK | 0x80, 64, &data),
    );
    let u4 = eth_ip(
        D,
        CLIENT_MAC,
        &[],
        &udp(sa(CLIENT4, 40000), sa(VIP4, 4500), 64, &data[..4000]),
    );
    let gue = TunnelKind::Gue {
        dst_port: 6080,
        src_port: 50000,
    };
    let (ipip4, in4) = encapsulated(&t4, TunnelKind::Ipip, false);
    let (ip6in4, in64) = encapsulated(&t6, TunnelKind::Ipip, false);
    let (gue6, ing6) = encapsulated(&u4, gue, true);
    let (gue4, ing4) = encapsulated(&t6, gue, false);
    for (name, input) in [
        ("tcp4_plain", gso_input(vnet(34, 16, 1, 1448), 0, 2048, &t4)),
        ("tcp6_plain", gso_input(vnet(54, 16, 4, 1000), 0, 2048, &t6)),
        ("udp4_uso", gso_input(vnet(34, 6, 5, 1000), 0, 2048, &u4)),
        (
            "udp4_partial_only",
            gso_input(vnet(34, 6, 0, 0), 0, 8192, &u4),
        ),
        (
            "ipip_4in4",
            gso_input(vnet(in4 + 20, 16, 1, 1400), in4, 2048, &ipip4),
        ),
        (
            "ipip_6in4",
            gso_input(vnet(in64 + 40, 16, 4, 1400), in64, 2048, &ip6in4),
        ),
        (
            "gue6_udp4",
            gso_input(vnet(ing6 + 20, 6, 5, 1200), ing6, 2048, &gue6),
        ),
        (
            "gue4_tcp6",
            gso_input(vnet(ing4 + 40, 16, 4, 700), ing4, 2048, &gue4),
        ),
        (
            "scratch_small",
            gso_input(vnet(34, 16, 1, 1448), 0, 100, &t4),
        ),
    ] {
        write("gso", name, &input);
    }
    // Director: partial NAT request, then TUN (IPIP and GUE) GSO super-frames that fit the
    // 2048-byte record limit, one too big for link 1's MTU with DF.
    let syn4 = eth_ip(
        D,
        CLIENT_MAC,
        &[],
        &tcp(sa(CLIENT4, 40001), sa(VIP4, 80), SYN, 64, b""),
    );
    let syn_tun = eth_ip(
        D,
        CLIENT_MAC,
        &[],
        &tcp(sa(CLIENT4, 40000), sa(VIP4, 81), SYN, 64, b""),
    );
    let big = eth_ip(
        D,
        CLIENT_MAC,
        &[],
        &tcp(sa(CLIENT4, 40000), sa(VIP4, 81), ACK, 64, &data[..1900]),
    );
    let gue_big = eth_ip(
        D,
        CLIENT_MAC,
        &[],
        &udp(sa(CLIENT4, 40000), sa(VIP4, 4500), 64, &data[..1900]),
    );
    let mut seq = Vec::new();
    seq.extend(director_record_offload(0, 1, vnet(34, 16, 0, 0), &syn4));
    seq.extend(director_record_offload(0, 1, vnet(34, 16, 0, 0), &syn_tun));
    seq.extend(director_record_offload(0, 1, vnet(34, 16, 1, 500), &big));
    seq.extend(director_record_offload(0, 1, vnet(34, 16, 1, 1380), &big));
    seq.extend(director_record_offload(0, 1, vnet(34, 6, 5, 600), &gue_big));
    seq.extend(director_record_offload(2, 1, vnet(34, 6, 0, 0), &gue_big));
    write("director", "offload_nat_tun_gso", &seq);
}
