//! A two-armed director, in memory: link 0 faces the clients
//! (198.51.100.1/24, 2001:db8:1::1/64), link 1 the private server LAN
//! (192.0.2.1/24, 2001:db8:2::1/64). Frames must leave on the link of the
//! longest matching prefix, with that link's MAC as source and the next
//! hop's MAC as destination; routes, addresses and neighbours change at run
//! time through `set_network`, `set_neighbor` and `remove_neighbor`.

mod common;

use common::verify_frame;
use etherparse::PacketBuilder;
use lvs_core::Instant;
use lvs_forwarding::neigh::Lookup;
use lvs_forwarding::wire::{Frame, MacAddr, parse_frame};
use lvs_forwarding::xform::MAX_HEADROOM;
use lvs_forwarding::{
    Director, DirectorConfig, DropReason, IpCidr, Link, NetworkError, RouteEntry, Verdict,
};
use std::net::{IpAddr, SocketAddr};

const HEAD: usize = MAX_HEADROOM + 64;

const L0_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xa0];
const L1_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xa1];
const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xc1];
const ROUTER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
const RS_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x52];

const CLIENT4: &str = "198.51.100.2";
const CLIENT6: &str = "2001:db8:1::2";
const FAR_CLIENT: &str = "10.1.2.3";
const ROUTER: &str = "198.51.100.254";
const VIP4: &str = "203.0.113.10";
const VIP6: &str = "2001:db8:f::10";
const RS4: &str = "192.0.2.11";
const RS6: &str = "2001:db8:2::11";
const TUN_VIP: &str = "203.0.113.20";
const TUN_RS: &str = "192.0.2.21";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(ip_s: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip(ip_s), port)
}

fn cidrs(list: &[&str]) -> Vec<IpCidr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn links() -> Vec<Link> {
    vec![
        Link {
            mac: MacAddr(L0_MAC),
            addrs: cidrs(&["198.51.100.1/24", "2001:db8:1::1/64"]),
            mtu: 1500,
        },
        Link {
            mac: MacAddr(L1_MAC),
            addrs: cidrs(&["192.0.2.1/24", "2001:db8:2::1/64"]),
            mtu: 1500,
        },
    ]
}

fn via_router() -> RouteEntry {
    RouteEntry {
        dst: "10.0.0.0/8".parse().unwrap(),
        via: Some(ip(ROUTER)),
        link: 0,
        src: None,
        metric: 0,
    }
}

const RULES: &str = "-A -t 203.0.113.10:80 -s rr\n\
                     -a -t 203.0.113.10:80 -r 192.0.2.11:8080 -m -w 1\n\
                     -A -t [2001:db8:f::10]:80 -s rr\n\
                     -a -t [2001:db8:f::10]:80 -r [2001:db8:2::11]:8080 -m -w 1\n\
                     -A -t 203.0.113.20:80 -s rr\n\
                     -a -t 203.0.113.20:80 -r 192.0.2.21:80 -i -w 1\n";

struct Sim {
    d: Director,
    now: Instant,
}

impl Sim {
    fn new(routes: Vec<RouteEntry>) -> Sim {
        let mut cfg = DirectorConfig::single_link(MacAddr(L0_MAC), &[]);
        cfg.links = links();
        cfg.routes = routes;
        cfg.conn_capacity_v4 = 1024;
        cfg.conn_capacity_v6 = 1024;
        Sim {
            d: Director::from_rules(cfg, RULES).unwrap(),
            now: Instant::from_secs(100),
        }
    }

    /// Feed `f` on `link`; the verdict and the bytes to send, if any.
    fn feed(&mut self, link: usize, f: &[u8]) -> (Verdict, Vec<u8>) {
        let mut buf = vec![0u8; HEAD + f.len()];
        buf[HEAD..].copy_from_slice(f);
        let mut out = vec![0u8; 2048];
        let v = self
            .d
            .process(self.now, link, &mut buf, HEAD, f.len(), &mut out);
        let bytes = match v {
            Verdict::Forward { start, len, .. } => buf[start..start + len].to_vec(),
            Verdict::Reply { len, .. } => out[..len].to_vec(),
            _ => Vec::new(),
        };
        (v, bytes)
    }

    /// Everything `poll_transmit` has: (link, frame).
    fn drain(&mut self) -> Vec<(usize, Vec<u8>)> {
        let mut out = vec![0u8; 2048];
        let mut v = Vec::new();
        while let Some((link, len)) = self.d.poll_transmit(&mut out) {
            v.push((link, out[..len].to_vec()));
        }
        v
    }

    fn learned(&mut self) -> Vec<(IpAddr, MacAddr)> {
        std::iter::from_fn(|| self.d.poll_neighbor_learned()).collect()
    }
}

fn tcp(smac: [u8; 6], dmac: [u8; 6], src: SocketAddr, dst: SocketAddr, syn: bool) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(smac, dmac);
    let b = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => b.ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => b.ipv6(s.octets(), d.octets(), 64),
        _ => panic!("mixed families"),
    };
    let t = b.tcp(src.port(), dst.port(), 1000, 64240);
    let t = if syn { t.syn() } else { t.syn().ack(1) };
    let mut v = Vec::new();
    t.write(&mut v, b"").unwrap();
    v
}

/// An ARP reply frame, `sender` at `smac`, to the director on `dmac`.
fn arp_reply(smac: [u8; 6], sender: &str, dmac: [u8; 6], target: &str) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(t)) = (ip(sender), ip(target)) else {
        panic!("ARP is IPv4");
    };
    let mut v = Vec::new();
    v.extend_from_slice(&dmac);
    v.extend_from_slice(&smac);
    v.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 2]);
    v.extend_from_slice(&smac);
    v.extend_from_slice(&s.octets());
    v.extend_from_slice(&dmac);
    v.extend_from_slice(&t.octets());
    v
}

/// The parsed frame, after checking every checksum by recomputation.
fn parsed(bytes: &[u8]) -> Frame {
    verify_frame(bytes).unwrap();
    parse_frame(bytes).unwrap()
}

fn addrs(f: &Frame) -> (SocketAddr, SocketAddr) {
    let i = f.ip().unwrap();
    let (sp, dp) = f.ports().unwrap_or((0, 0));
    (SocketAddr::new(i.src, sp), SocketAddr::new(i.dst, dp))
}

/// A neighbour advertisement (solicited, override) from `src` at `smac`
/// to the director at `dmac`/`dst`, with a valid checksum and hop limit 255.
fn neighbor_advert(smac: [u8; 6], src: &str, dmac: [u8; 6], dst: &str) -> Vec<u8> {
    use lvs_forwarding::wire::checksum;
    let (IpAddr::V6(s), IpAddr::V6(d)) = (ip(src), ip(dst)) else {
        panic!("ND is IPv6");
    };
    let mut icmp = vec![136u8, 0, 0, 0, 0x60, 0, 0, 0];
    icmp.extend_from_slice(&s.octets());
    icmp.extend_from_slice(&[2, 1]);
    icmp.extend_from_slice(&smac);
    let c = checksum::finish(checksum::sum(
        &icmp,
        checksum::pseudo_v6(s, d, 58, icmp.len() as u32),
    ));
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut v = Vec::new();
    v.extend_from_slice(&dmac);
    v.extend_from_slice(&smac);
    v.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, icmp.len() as u8, 58, 255]);
    v.extend_from_slice(&s.octets());
    v.extend_from_slice(&d.octets());
    v.extend_from_slice(&icmp);
    v
}

/// Client SYN on link 0 -> RS on link 1; RS SYN-ACK on link 1 -> client on
/// link 0 from the VIP; for `client` (on-link or behind the router). With
/// `resolve`, the client's MAC is not known: the SYN-ACK waits while the
/// director asks for it on link 0, and leaves when the client answers.
fn nat_exchange(
    s: &mut Sim,
    client: SocketAddr,
    from_mac: [u8; 6],
    vip: SocketAddr,
    rs: &str,
    resolve: bool,
) {
    let (v, out) = s.feed(0, &tcp(from_mac, L0_MAC, client, vip, true));
    assert!(matches!(v, Verdict::Forward { link: 1, .. }), "{v:?}");
    let f = parsed(&out);
    assert_eq!((f.dst_mac, f.src_mac), (MacAddr(RS_MAC), MacAddr(L1_MAC)));
    assert_eq!(addrs(&f), (client, sa(rs, 8080)));

    let (v, mut out) = s.feed(1, &tcp(RS_MAC, L1_MAC, sa(rs, 8080), client, false));
    if resolve {
        assert_eq!(v, Verdict::Held);
        let sent = s.drain();
        assert_eq!(sent.len(), 1, "one request for the client");
        assert_eq!(sent[0].0, 0);
        let req = parse_frame(&sent[0].1).unwrap();
        let answer = match client.ip() {
            IpAddr::V4(c) => {
                assert_eq!(req.arp().map(|a| a.target_ip), Some(c));
                arp_reply(from_mac, &c.to_string(), L0_MAC, "198.51.100.1")
            }
            IpAddr::V6(c) => {
                assert_eq!(req.ndp().map(|n| n.target), Some(c));
                neighbor_advert(from_mac, &c.to_string(), L0_MAC, "2001:db8:1::1")
            }
        };
        assert_eq!(s.feed(0, &answer).0, Verdict::ToHost);
        let sent = s.drain();
        assert_eq!(sent.len(), 1, "the held reply");
        assert_eq!(sent[0].0, 0);
        out = sent[0].1.clone();
    } else {
        assert!(matches!(v, Verdict::Forward { link: 0, .. }), "{v:?}");
    }
    let f = parsed(&out);
    assert_eq!((f.dst_mac, f.src_mac), (MacAddr(from_mac), MacAddr(L0_MAC)));
    assert_eq!(addrs(&f), (vip, client));
}

#[test]
fn nat_crosses_between_the_links_v4_and_v6() {
    let mut s = Sim::new(vec![]);
    let now = s.now;
    s.d.set_neighbor(ip(RS4), MacAddr(RS_MAC), now, true);
    s.d.set_neighbor(ip(RS6), MacAddr(RS_MAC), now, false);
    // The clients are on-link, and nothing is learned from their SYNs (a
    // forged one could steer the replies): the first reply resolves them.
    nat_exchange(
        &mut s,
        sa(CLIENT4, 40000),
        CLIENT_MAC,
        sa(VIP4, 80),
        RS4,
        true,
    );
    nat_exchange(
        &mut s,
        sa(CLIENT6, 40000),
        CLIENT_MAC,
        sa(VIP6, 80),
        RS6,
        true,
    );
    // Resolved now: the next connection's reply goes at once.
    nat_exchange(
        &mut s,
        sa(CLIENT4, 40001),
        CLIENT_MAC,
        sa(VIP4, 80),
        RS4,
        false,
    );
    nat_exchange(
        &mut s,
        sa(CLIENT6, 40001),
        CLIENT_MAC,
        sa(VIP6, 80),
        RS6,
        false,
    );
}

#[test]
fn client_behind_a_router_is_answered_through_the_router() {
    let mut s = Sim::new(vec![via_router()]);
    let now = s.now;
    s.d.set_neighbor(ip(RS4), MacAddr(RS_MAC), now, true);
    s.d.set_neighbor(ip(ROUTER), MacAddr(ROUTER_MAC), now, false);
    nat_exchange(
        &mut s,
        sa(FAR_CLIENT, 40000),
        ROUTER_MAC,
        sa(VIP4, 80),
        RS4,
        false,
    );
    // The far client is not on-link: its frames carry the router's MAC,
    // which must not be learned as its own.
    assert_eq!(s.d.neighbors().lookup(ip(FAR_CLIENT), now), Lookup::Unknown);
    assert!(s.learned().iter().all(|(a, _)| *a != ip(FAR_CLIENT)));
}

#[test]
fn unknown_next_hop_is_resolved_on_its_link_and_released_by_set_neighbor() {
    let mut s = Sim::new(vec![]);
    let syn = tcp(CLIENT_MAC, L0_MAC, sa(CLIENT4, 40001), sa(VIP4, 80), true);
    let (v, _) = s.feed(0, &syn);
    assert_eq!(v, Verdict::Held);
    let sent = s.drain();
    assert_eq!(sent.len(), 1, "one ARP request");
    let (link, req) = &sent[0];
    assert_eq!(*link, 1);
    let f = parse_frame(req).unwrap();
    let a = f.arp().expect("an ARP request");
    assert!(a.is_request());
    assert_eq!(f.src_mac, MacAddr(L1_MAC));
    assert_eq!(a.sender_mac, MacAddr(L1_MAC));
    assert_eq!(IpAddr::V4(a.sender_ip), ip("192.0.2.1"));
    assert_eq!(IpAddr::V4(a.target_ip), ip(RS4));

    // IPv6: a neighbour solicitation on link 1 from link 1's address.
    let syn6 = tcp(CLIENT_MAC, L0_MAC, sa(CLIENT6, 40001), sa(VIP6, 80), true);
    assert_eq!(s.feed(0, &syn6).0, Verdict::Held);
    let sent = s.drain();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, 1);
    let f = parsed(&sent[0].1);
    assert_eq!(f.ip().unwrap().src, ip("2001:db8:2::1"));
    assert_eq!(IpAddr::V6(f.ndp().expect("an NS").target), ip(RS6));

    // The embedder learns the RS from the host: the held frame goes.
    let now = s.now;
    s.d.set_neighbor(ip(RS4), MacAddr(RS_MAC), now, false);
    let sent = s.drain();
    assert_eq!(sent.len(), 1, "the held SYN");
    let (link, held) = &sent[0];
    assert_eq!(*link, 1);
    let f = parsed(held);
    assert_eq!((f.dst_mac, f.src_mac), (MacAddr(RS_MAC), MacAddr(L1_MAC)));
    assert_eq!(addrs(&f), (sa(CLIENT4, 40001), sa(RS4, 8080)));
    // set_neighbor is not news for the other workers.
    assert!(s.learned().iter().all(|(a, _)| *a != ip(RS4)));
}

#[test]
fn set_network_takes_effect_and_refuses_bad_input() {
    let mut s = Sim::new(vec![]);
    let now = s.now;
    s.d.set_neighbor(ip(RS4), MacAddr(RS_MAC), now, true);
    s.d.set_neighbor(ip(ROUTER), MacAddr(ROUTER_MAC), now, true);
    let client = sa(FAR_CLIENT, 40000);
    let (v, _) = s.feed(0, &tcp(ROUTER_MAC, L0_MAC, client, sa(VIP4, 80), true));
    assert!(matches!(v, Verdict::Forward { link: 1, .. }), "{v:?}");
    // No route back to the far client yet.
    let reply = tcp(RS_MAC, L1_MAC, sa(RS4, 8080), client, false);
    assert_eq!(s.feed(1, &reply).0, Verdict::Drop(DropReason::NoRoute));

    // Errors change nothing.
    let err = s.d.set_network(links()[..1].to_vec(), vec![via_router()]);
    assert_eq!(
        err,
        Err(NetworkError::LinkCount {
            expected: 2,
            got: 1
        })
    );
    assert!(err.unwrap_err().to_string().contains("1 links given"));
    let mut bad = via_router();
    bad.link = 2;
    let err = s.d.set_network(links(), vec![via_router(), bad]);
    assert_eq!(
        err,
        Err(NetworkError::RouteLink {
            route: 1,
            link: 2,
            links: 2
        })
    );
    assert_eq!(s.feed(1, &reply).0, Verdict::Drop(DropReason::NoRoute));

    // The route, a new MAC on link 0 and a new address on link 1.
    let mut l = links();
    let new_mac = [2, 0, 0, 0, 0, 0xb0];
    l[0].mac = MacAddr(new_mac);
    l[1].addrs.push("192.0.2.2/24".parse().unwrap());
    s.d.set_network(l, vec![via_router()]).unwrap();
    let (v, out) = s.feed(1, &reply);
    assert!(matches!(v, Verdict::Forward { link: 0, .. }), "{v:?}");
    let f = parsed(&out);
    assert_eq!(
        (f.dst_mac, f.src_mac),
        (MacAddr(ROUTER_MAC), MacAddr(new_mac))
    );
    assert_eq!(addrs(&f), (sa(VIP4, 80), client));
    // The connection survived the change, and the new address is ours.
    assert_eq!(s.d.balancer().conn_count(), 1);
    let mut who_has = arp_reply(RS_MAC, RS4, L1_MAC, "192.0.2.2");
    who_has[21] = 1; // a request
    assert!(matches!(
        s.feed(1, &who_has).0,
        Verdict::Reply { link: 1, .. }
    ));
}

#[test]
fn tun_outer_source_is_the_outgoing_links_address() {
    let mut s = Sim::new(vec![]);
    let now = s.now;
    s.d.set_neighbor(ip(TUN_RS), MacAddr(RS_MAC), now, true);
    s.d.set_neighbor(ip("192.0.2.254"), MacAddr(ROUTER_MAC), now, true);
    // Link 1 has another IPv4 address first: the outer source must be the
    // one whose prefix holds the real server.
    let mut l = links();
    l[1].addrs.insert(0, "172.20.0.1/24".parse().unwrap());
    s.d.set_network(l.clone(), vec![]).unwrap();
    let outer_src = |s: &mut Sim, port: u16| {
        let syn = tcp(CLIENT_MAC, L0_MAC, sa(CLIENT4, port), sa(TUN_VIP, 80), true);
        let (v, out) = s.feed(0, &syn);
        assert!(matches!(v, Verdict::Forward { link: 1, .. }), "{v:?}");
        let f = parsed(&out);
        assert_eq!((f.dst_mac, f.src_mac), (MacAddr(RS_MAC), MacAddr(L1_MAC)));
        f.ip().unwrap().src
    };
    assert_eq!(outer_src(&mut s, 41000), ip("192.0.2.1"));

    // Behind a router on link 1 without a preferred source: the address
    // whose prefix holds the router.
    let mut r = RouteEntry {
        dst: "192.0.2.21/32".parse().unwrap(),
        via: Some(ip("192.0.2.254")),
        link: 1,
        src: None,
        metric: 0,
    };
    s.d.set_network(l.clone(), vec![r]).unwrap();
    let syn = tcp(
        CLIENT_MAC,
        L0_MAC,
        sa(CLIENT4, 41001),
        sa(TUN_VIP, 80),
        true,
    );
    let (v, out) = s.feed(0, &syn);
    assert!(matches!(v, Verdict::Forward { link: 1, .. }), "{v:?}");
    let f = parsed(&out);
    assert_eq!(f.dst_mac, MacAddr(ROUTER_MAC));
    assert_eq!(f.ip().unwrap().src, ip("192.0.2.1"));

    // With a preferred source, that one.
    r.src = Some(ip("172.20.0.1"));
    s.d.set_network(l, vec![r]).unwrap();
    let syn = tcp(
        CLIENT_MAC,
        L0_MAC,
        sa(CLIENT4, 41002),
        sa(TUN_VIP, 80),
        true,
    );
    let (_, out) = s.feed(0, &syn);
    assert_eq!(parsed(&out).ip().unwrap().src, ip("172.20.0.1"));
}

#[test]
fn neighbours_learned_from_the_wire_are_queued_for_other_workers() {
    let mut s = Sim::new(vec![]);
    let now = s.now;
    s.d.set_neighbor(ip(RS4), MacAddr(RS_MAC), now, false);
    s.d.set_neighbor(ip("192.0.2.50"), MacAddr(RS_MAC), now, true);
    assert_eq!(s.learned(), vec![]);

    // An ARP request for our address from an on-link host is news; a
    // client's first frame and an unsolicited ARP reply are not (nothing is
    // learned from them).
    let other = [2, 0, 0, 0, 0, 0x77];
    let who_has = |mac: [u8; 6], sender: &str| {
        let mut f = arp_reply(mac, sender, L1_MAC, "192.0.2.1");
        f[21] = 1; // a request
        f
    };
    s.feed(1, &who_has(other, "192.0.2.60"));
    s.feed(
        0,
        &tcp(CLIENT_MAC, L0_MAC, sa(CLIENT4, 40000), sa(VIP4, 80), true),
    );
    s.feed(1, &arp_reply(other, "192.0.2.61", L1_MAC, "192.0.2.1"));
    assert_eq!(s.learned(), vec![(ip("192.0.2.60"), MacAddr(other))]);
    assert_eq!(s.d.neighbors().lookup(ip(CLIENT4), now), Lookup::Unknown);
    assert_eq!(
        s.d.neighbors().lookup(ip("192.0.2.61"), now),
        Lookup::Unknown
    );
    // The same again is no news; a new MAC is.
    s.feed(1, &who_has(other, "192.0.2.60"));
    assert_eq!(s.learned(), vec![]);
    s.feed(1, &who_has(RS_MAC, "192.0.2.60"));
    assert_eq!(s.learned(), vec![(ip("192.0.2.60"), MacAddr(RS_MAC))]);

    // A permanent entry is not overwritten from the wire (nor queued).
    s.feed(1, &who_has(other, "192.0.2.50"));
    s.feed(1, &arp_reply(other, "192.0.2.50", L1_MAC, "192.0.2.1"));
    assert_eq!(s.learned(), vec![]);
    assert_eq!(
        s.d.neighbors().lookup(ip("192.0.2.50"), now),
        Lookup::Known(MacAddr(RS_MAC))
    );
    // remove_neighbor forgets it.
    s.d.remove_neighbor(ip("192.0.2.50"));
    assert_eq!(
        s.d.neighbors().lookup(ip("192.0.2.50"), now),
        Lookup::Unknown
    );

    // Bounded: the oldest news goes first.
    for i in 0..70u8 {
        let a = format!("192.0.2.{}", 100 + i);
        s.feed(1, &who_has([2, 0, 0, 0, 1, i], &a));
    }
    let got = s.learned();
    assert_eq!(got.len(), 64);
    assert_eq!(got[0].0, ip("192.0.2.106"));
    assert_eq!(got[63].0, ip("192.0.2.169"));
}
