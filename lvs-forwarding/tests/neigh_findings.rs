//! The neighbour findings of issue 8, through `Director::process` only (so
//! the same file runs against the director before the fix, and fails
//! there): NDP is validated before anything is learned (finding 1), learned
//! entries go stale and are re-probed unicast (finding 2), and neither data
//! frames nor unsolicited or off-link ARP teach the director a MAC
//! (finding 10).

use etherparse::PacketBuilder;
use lvs_core::Instant;
use lvs_forwarding::neigh::Lookup;
use lvs_forwarding::wire::{MacAddr, checksum, parse_frame};
use lvs_forwarding::xform::MAX_HEADROOM;
use lvs_forwarding::{Director, DirectorConfig, DropReason, IpCidr, Verdict};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

const HEAD: usize = MAX_HEADROOM + 64;
const OUR_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xd1];
const RS_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x52];
const NEW_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x53];
const EVIL_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xee];
const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xc1];
const OUR4: &str = "192.0.2.1";
const OUR6: &str = "2001:db8::1";
const RS4: &str = "192.0.2.11";
const RS6: &str = "2001:db8::11";
const VIP4: &str = "203.0.113.10";
const VIP6: &str = "2001:db8:f::10";
const RULES: &str = "-A -t 203.0.113.10:80 -s rr\n\
                     -a -t 203.0.113.10:80 -r 192.0.2.11:80 -g -w 1\n\
                     -A -t [2001:db8:f::10]:80 -s rr\n\
                     -a -t [2001:db8:f::10]:80 -r [2001:db8::11]:80 -g -w 1\n";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

struct H {
    d: Director,
    now: Instant,
}

impl H {
    fn new() -> H {
        let addrs: Vec<IpCidr> = ["192.0.2.1/24", "2001:db8::1/64"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let mut cfg = DirectorConfig::single_link(MacAddr(OUR_MAC), &addrs);
        cfg.conn_capacity_v4 = 1024;
        cfg.conn_capacity_v6 = 1024;
        H {
            d: Director::from_rules(cfg, RULES).unwrap(),
            now: Instant::from_secs(1000),
        }
    }

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

    fn drain(&mut self) -> Vec<Vec<u8>> {
        let mut out = vec![0u8; 2048];
        let mut v = Vec::new();
        while let Some((_, len)) = self.d.poll_transmit(&mut out) {
            v.push(out[..len].to_vec());
        }
        v
    }

    fn advance(&mut self, ms: u64) {
        self.now = Instant::from_millis(self.now.as_millis() + ms);
        self.d.on_timeout(self.now);
    }

    fn lookup(&self, a: &str) -> Lookup {
        self.d.neighbors().lookup(ip(a), self.now)
    }
}

fn syn(smac: [u8; 6], src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(smac, OUR_MAC);
    let b = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => b.ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => b.ipv6(s.octets(), d.octets(), 64),
        _ => panic!("mixed families"),
    };
    let mut v = Vec::new();
    b.tcp(src.port(), dst.port(), 1, 64240)
        .syn()
        .write(&mut v, b"")
        .unwrap();
    v
}

/// An Ethernet/IPv4 ARP frame.
fn arp(op: u16, eth_src: [u8; 6], sha: [u8; 6], spa: &str, tpa: &str) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(t)) = (ip(spa), ip(tpa)) else {
        panic!("ARP is IPv4");
    };
    let dst = if op == 1 { [0xff; 6] } else { OUR_MAC };
    let mut v = Vec::new();
    v.extend_from_slice(&dst);
    v.extend_from_slice(&eth_src);
    v.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4]);
    v.extend_from_slice(&op.to_be_bytes());
    v.extend_from_slice(&sha);
    v.extend_from_slice(&s.octets());
    v.extend_from_slice(&[0; 6]);
    v.extend_from_slice(&t.octets());
    v
}

/// The knobs of an NS/NA frame.
struct Nd<'a> {
    ty: u8,
    flags: u8,
    code: u8,
    src: &'a str,
    dst: &'a str,
    hop: u8,
    target: &'a str,
    opt: Option<[u8; 6]>,
    good_checksum: bool,
}

fn nd(smac: [u8; 6], n: &Nd<'_>) -> Vec<u8> {
    let (s, d) = (v6(n.src), v6(n.dst));
    let mut icmp = vec![n.ty, n.code, 0, 0, n.flags, 0, 0, 0];
    icmp.extend_from_slice(&v6(n.target).octets());
    if let Some(m) = n.opt {
        icmp.extend_from_slice(&[if n.ty == 135 { 1 } else { 2 }, 1]);
        icmp.extend_from_slice(&m);
    }
    let mut c = checksum::finish(checksum::sum(
        &icmp,
        checksum::pseudo_v6(s, d, 58, icmp.len() as u32),
    ));
    if !n.good_checksum {
        c ^= 0x0101;
    }
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let dmac = if d.is_multicast() {
        let o = d.octets();
        [0x33, 0x33, o[12], o[13], o[14], o[15]]
    } else {
        OUR_MAC
    };
    let mut v = Vec::new();
    v.extend_from_slice(&dmac);
    v.extend_from_slice(&smac);
    v.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, icmp.len() as u8, 58, n.hop]);
    v.extend_from_slice(&s.octets());
    v.extend_from_slice(&d.octets());
    v.extend_from_slice(&icmp);
    v
}

fn solicited_na<'a>(target: &'a str, hop: u8) -> Nd<'a> {
    Nd {
        ty: 136,
        flags: 0x60,
        code: 0,
        src: target,
        dst: OUR6,
        hop,
        target,
        opt: Some(RS_MAC),
        good_checksum: true,
    }
}

/// Finding 1: an advertisement that fails RFC 4861 §7.1.2 (forwarded,
/// corrupt, wrong code, solicited to a multicast group) is dropped as
/// `BadNdp` and leaves a resolution pending; a valid one completes it.
#[test]
fn invalid_neighbour_advertisements_are_dropped_and_teach_nothing() {
    let mut h = H::new();
    let (v, _) = h.feed(&syn(
        CLIENT_MAC,
        SocketAddr::new(ip("2001:db8:99::5"), 4000),
        SocketAddr::new(ip(VIP6), 80),
    ));
    assert_eq!(v, Verdict::Held);
    assert_eq!(h.drain().len(), 1, "a solicitation for the real server");
    let bad = [
        Nd {
            hop: 64,
            ..solicited_na(RS6, 255)
        },
        Nd {
            good_checksum: false,
            ..solicited_na(RS6, 255)
        },
        Nd {
            code: 1,
            ..solicited_na(RS6, 255)
        },
        Nd {
            dst: "ff02::1",
            ..solicited_na(RS6, 255)
        },
    ];
    for (i, n) in bad.iter().enumerate() {
        let f = nd(
            EVIL_MAC,
            &Nd {
                opt: Some(EVIL_MAC),
                ..*n
            },
        );
        assert_eq!(h.feed(&f).0, Verdict::Drop(DropReason::BadNdp), "case {i}");
        assert_eq!(h.lookup(RS6), Lookup::Pending, "case {i}");
    }
    assert_eq!(h.d.drops().get(DropReason::BadNdp), 4);
    // The real answer releases the held SYN to the real server's MAC.
    assert_eq!(
        h.feed(&nd(RS_MAC, &solicited_na(RS6, 255))).0,
        Verdict::ToHost
    );
    assert_eq!(h.lookup(RS6), Lookup::Known(MacAddr(RS_MAC)));
    let sent = h.drain();
    assert_eq!(sent.len(), 1);
    assert_eq!(&sent[0][0..6], &RS_MAC);
}

/// Finding 1: a solicitation from `::` (duplicate address detection) must
/// go to a solicited-node group and carry no source link-layer option, and
/// nothing is learned from it; a valid solicitation is answered and makes
/// its sender's entry (STALE: known, to be confirmed).
#[test]
fn solicitations_are_validated_and_dad_teaches_nothing() {
    let mut h = H::new();
    let ns = |src, dst, hop, opt| Nd {
        ty: 135,
        flags: 0,
        code: 0,
        src,
        dst,
        hop,
        target: OUR6,
        opt,
        good_checksum: true,
    };
    let dad_with_opt = nd(EVIL_MAC, &ns("::", "ff02::1:ff00:1", 255, Some(EVIL_MAC)));
    assert_eq!(h.feed(&dad_with_opt).0, Verdict::Drop(DropReason::BadNdp));
    let dad_unicast = nd(EVIL_MAC, &ns("::", OUR6, 255, None));
    assert_eq!(h.feed(&dad_unicast).0, Verdict::Drop(DropReason::BadNdp));
    let dad = nd(EVIL_MAC, &ns("::", "ff02::1:ff00:1", 255, None));
    assert!(matches!(h.feed(&dad).0, Verdict::Reply { .. }));
    assert_eq!(h.lookup("::"), Lookup::Unknown);
    let forwarded = nd(EVIL_MAC, &ns("2001:db8::77", OUR6, 64, Some(EVIL_MAC)));
    assert_eq!(h.feed(&forwarded).0, Verdict::Drop(DropReason::BadNdp));
    assert_eq!(h.lookup("2001:db8::77"), Lookup::Unknown);
    let good = nd(CLIENT_MAC, &ns("2001:db8::77", OUR6, 255, Some(CLIENT_MAC)));
    assert!(matches!(h.feed(&good).0, Verdict::Reply { .. }));
    assert_eq!(h.lookup("2001:db8::77"), Lookup::Known(MacAddr(CLIENT_MAC)));
}

/// Finding 10: a SYN from an on-link address teaches the director nothing
/// (it could be forged by any host on the link, or arrive through a router).
#[test]
fn data_frames_teach_no_mac() {
    let mut h = H::new();
    h.d.set_neighbor(ip(RS4), MacAddr(RS_MAC), h.now, true);
    h.d.set_neighbor(ip(RS6), MacAddr(RS_MAC), h.now, true);
    for (client, vip) in [("192.0.2.77", VIP4), ("2001:db8::77", VIP6)] {
        let (v, _) = h.feed(&syn(
            EVIL_MAC,
            SocketAddr::new(ip(client), 4000),
            SocketAddr::new(ip(vip), 80),
        ));
        assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
        assert_eq!(h.lookup(client), Lookup::Unknown);
    }
    assert_eq!(h.d.poll_neighbor_learned(), None);
}

/// Finding 10: unsolicited ARP replies create and change nothing; requests
/// teach only when they are for us and from the link's subnet; forged
/// senders are dropped; a gratuitous ARP updates an existing entry only.
#[test]
fn arp_teaches_only_what_linux_would_learn() {
    let mut h = H::new();
    // An unsolicited reply: no entry.
    assert_eq!(
        h.feed(&arp(2, EVIL_MAC, EVIL_MAC, "192.0.2.60", OUR4)).0,
        Verdict::ToHost
    );
    assert_eq!(h.lookup("192.0.2.60"), Lookup::Unknown);
    // An unsolicited reply for a known neighbour: unchanged.
    h.d.set_neighbor(ip(RS4), MacAddr(RS_MAC), h.now, false);
    h.feed(&arp(2, EVIL_MAC, EVIL_MAC, RS4, OUR4));
    assert_eq!(h.lookup(RS4), Lookup::Known(MacAddr(RS_MAC)));
    // A request for us from off the link's subnet: answered, not learned.
    let (v, _) = h.feed(&arp(1, EVIL_MAC, EVIL_MAC, "10.9.9.9", OUR4));
    assert!(matches!(v, Verdict::Reply { .. }), "{v:?}");
    assert_eq!(h.lookup("10.9.9.9"), Lookup::Unknown);
    // A request for someone else: not learned.
    h.feed(&arp(1, EVIL_MAC, EVIL_MAC, "192.0.2.61", "192.0.2.62"));
    assert_eq!(h.lookup("192.0.2.61"), Lookup::Unknown);
    // Forged senders: the sender MAC is not the frame's, is multicast, or
    // the sender claims our address.
    for f in [
        arp(1, CLIENT_MAC, EVIL_MAC, "192.0.2.63", OUR4),
        arp(1, [0xff; 6], [0xff; 6], "192.0.2.63", OUR4),
        arp(1, EVIL_MAC, EVIL_MAC, OUR4, OUR4),
        arp(2, EVIL_MAC, EVIL_MAC, "224.0.0.1", OUR4),
    ] {
        assert_eq!(h.feed(&f).0, Verdict::Drop(DropReason::BadArp));
    }
    assert_eq!(h.lookup("192.0.2.63"), Lookup::Unknown);
    // A request for us from the subnet: learned (to be confirmed).
    let (v, _) = h.feed(&arp(1, CLIENT_MAC, CLIENT_MAC, "192.0.2.64", VIP4));
    assert!(matches!(v, Verdict::Reply { .. }), "{v:?}");
    assert_eq!(h.lookup("192.0.2.64"), Lookup::Known(MacAddr(CLIENT_MAC)));
    // Gratuitous ARP: an existing entry moves, a new one is not created.
    h.feed(&arp(1, NEW_MAC, NEW_MAC, RS4, RS4));
    assert_eq!(h.lookup(RS4), Lookup::Known(MacAddr(NEW_MAC)));
    h.feed(&arp(1, NEW_MAC, NEW_MAC, "192.0.2.65", "192.0.2.65"));
    assert_eq!(h.lookup("192.0.2.65"), Lookup::Unknown);
    // A permanent entry does not move.
    h.d.set_neighbor(ip("192.0.2.66"), MacAddr(RS_MAC), h.now, true);
    h.feed(&arp(1, NEW_MAC, NEW_MAC, "192.0.2.66", "192.0.2.66"));
    h.feed(&arp(1, NEW_MAC, NEW_MAC, "192.0.2.66", OUR4));
    assert_eq!(h.lookup("192.0.2.66"), Lookup::Known(MacAddr(RS_MAC)));
}

/// Resolve RS4 through the wire: SYN held, ARP request, ARP reply.
fn resolve_rs4(h: &mut H, port: u16) {
    let (v, _) = h.feed(&syn(
        CLIENT_MAC,
        SocketAddr::new(ip("198.51.100.7"), port),
        SocketAddr::new(ip(VIP4), 80),
    ));
    assert_eq!(v, Verdict::Held);
    let sent = h.drain();
    assert_eq!(sent.len(), 1);
    assert_eq!(&sent[0][0..6], &[0xff; 6], "a broadcast request");
    h.feed(&arp(2, RS_MAC, RS_MAC, RS4, OUR4));
    let sent = h.drain();
    assert_eq!(sent.len(), 1, "the held SYN");
    assert_eq!(&sent[0][0..6], &RS_MAC);
}

/// The ARP requests among `frames`: (Ethernet destination, target).
fn requests(frames: &[Vec<u8>]) -> Vec<([u8; 6], IpAddr)> {
    frames
        .iter()
        .filter_map(|f| {
            let p = parse_frame(f).ok()?;
            let a = p.arp()?;
            a.is_request()
                .then_some((p.dst_mac.0, IpAddr::V4(a.target_ip)))
        })
        .collect()
}

/// Finding 2: a learned entry is trusted for the reachable time (30 s),
/// then used while stale; its first use starts DELAY (5 s), then three
/// unicast requests to the known MAC 1 s apart, then it fails and the next
/// use asks by broadcast. A real server whose MAC changed is found again.
#[test]
fn learned_entries_go_stale_and_are_reprobed_unicast_then_broadcast() {
    let mut h = H::new();
    resolve_rs4(&mut h, 4000);
    // Within the reachable time, nothing is sent.
    h.advance(29_000);
    assert!(h.drain().is_empty());
    // Stale: still used (no hold), but the use starts DELAY.
    h.advance(2_000);
    let (v, out) = h.feed(&syn(
        CLIENT_MAC,
        SocketAddr::new(ip("198.51.100.7"), 4001),
        SocketAddr::new(ip(VIP4), 80),
    ));
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    assert_eq!(&out[0..6], &RS_MAC);
    h.advance(4_000);
    assert!(h.drain().is_empty(), "DELAY lasts 5 s");
    let mut unicast = Vec::new();
    for _ in 0..3 {
        h.advance(1_000);
        unicast.extend(requests(&h.drain()));
    }
    assert_eq!(unicast, vec![(RS_MAC, ip(RS4)); 3], "three unicast probes");
    h.advance(1_000);
    assert!(h.drain().is_empty());
    assert_eq!(h.lookup(RS4), Lookup::Unknown, "failed: forgotten");
    // The next use resolves by broadcast, and the new MAC is found.
    let (v, _) = h.feed(&syn(
        CLIENT_MAC,
        SocketAddr::new(ip("198.51.100.7"), 4002),
        SocketAddr::new(ip(VIP4), 80),
    ));
    assert_eq!(v, Verdict::Held);
    assert_eq!(requests(&h.drain()), vec![([0xff; 6], ip(RS4))]);
    h.feed(&arp(2, NEW_MAC, NEW_MAC, RS4, OUR4));
    let sent = h.drain();
    assert_eq!(&sent[0][0..6], &NEW_MAC);
}

/// Finding 2: a reply to a unicast probe confirms the entry (REACHABLE
/// again, no more probes), with the MAC it carries.
#[test]
fn a_probe_answered_confirms_the_entry() {
    let mut h = H::new();
    resolve_rs4(&mut h, 4000);
    h.advance(31_000);
    h.feed(&syn(
        CLIENT_MAC,
        SocketAddr::new(ip("198.51.100.7"), 4001),
        SocketAddr::new(ip(VIP4), 80),
    ));
    h.advance(5_000);
    assert_eq!(requests(&h.drain()), vec![(RS_MAC, ip(RS4))]);
    h.feed(&arp(2, NEW_MAC, NEW_MAC, RS4, OUR4));
    assert_eq!(h.lookup(RS4), Lookup::Known(MacAddr(NEW_MAC)));
    for _ in 0..10 {
        h.advance(1_000);
        assert!(h.drain().is_empty(), "confirmed: no more probes");
    }
    assert_eq!(h.lookup(RS4), Lookup::Known(MacAddr(NEW_MAC)));
}

/// Permanent entries never go stale nor are probed.
#[test]
fn permanent_entries_are_never_probed() {
    let mut h = H::new();
    h.d.set_neighbor(ip(RS4), MacAddr(RS_MAC), h.now, true);
    for port in 0..5 {
        h.advance(60_000);
        let (v, _) = h.feed(&syn(
            CLIENT_MAC,
            SocketAddr::new(ip("198.51.100.7"), 5000 + port),
            SocketAddr::new(ip(VIP4), 80),
        ));
        assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
        h.advance(10_000);
        assert!(h.drain().is_empty());
    }
}
