//! [`HostNet::apply`] against hand-made events: filtering by served interface, idempotence,
//! and the IPv4 FIB's silent flushes.

use std::net::IpAddr;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn link(ifindex: u32, name: &str) -> HostLink {
    HostLink {
        ifindex,
        name: name.to_string(),
        mac: [2, 0, 0, 0, 0, ifindex as u8],
        mtu: 1500,
        up: true,
        carrier: true,
        addrs: Vec::new(),
    }
}

fn route(dst: &str, len: u8, gw: Option<&str>, ifindex: Option<u32>) -> HostRoute {
    HostRoute {
        dst: ip(dst),
        prefix_len: len,
        gateway: gw.map(ip),
        ifindex,
        prefsrc: None,
        metric: 0,
        kind: RouteKind::Unicast,
    }
}

/// Serves eth0 (index 2); eth9 (index 9) exists on the host but is not served.
fn net() -> HostNet {
    let mut net = HostNet::new(&["eth0".to_string()]);
    assert!(net.apply(&NetEvent::Link(link(2, "eth0"))));
    assert!(!net.apply(&NetEvent::Link(link(9, "eth9"))));
    net
}

#[test]
fn link_served_by_name_only() {
    let net = net();
    assert_eq!(net.links.len(), 1);
    assert_eq!(net.link(2).map(|l| l.name.as_str()), Some("eth0"));
    assert!(net.link(9).is_none());
}

#[test]
fn addr_add_remove_idempotent() {
    let mut net = net();
    let add = NetEvent::AddrAdded {
        ifindex: 2,
        addr: ip("192.0.2.1"),
        prefix_len: 24,
    };
    assert!(net.apply(&add));
    assert!(!net.apply(&add), "second add is not a change");
    let add6 = NetEvent::AddrAdded {
        ifindex: 2,
        addr: ip("2001:db8::1"),
        prefix_len: 64,
    };
    assert!(net.apply(&add6));
    assert_eq!(
        net.link(2).map(|l| l.addrs.clone()),
        Some(vec![(ip("192.0.2.1"), 24), (ip("2001:db8::1"), 64)])
    );
    let del = NetEvent::AddrRemoved {
        ifindex: 2,
        addr: ip("192.0.2.1"),
        prefix_len: 24,
    };
    assert!(net.apply(&del));
    assert!(!net.apply(&del), "second remove is not a change");
    assert_eq!(
        net.link(2).map(|l| l.addrs.clone()),
        Some(vec![(ip("2001:db8::1"), 64)])
    );
}

#[test]
fn other_interfaces_ignored() {
    let mut net = net();
    let before = net.clone();
    assert!(!net.apply(&NetEvent::AddrAdded {
        ifindex: 9,
        addr: ip("198.51.100.1"),
        prefix_len: 24
    }));
    assert!(!net.apply(&NetEvent::RouteAdded(route(
        "198.51.100.0",
        24,
        None,
        Some(9)
    ))));
    assert!(!net.apply(&NetEvent::Neighbor(HostNeighbor {
        ifindex: 9,
        ip: ip("198.51.100.2"),
        mac: Some([2, 0, 0, 0, 0, 0x22]),
        state: NeighState::Reachable,
    })));
    assert!(!net.apply(&NetEvent::LinkRemoved { ifindex: 9 }));
    // A unicast route with no interface is not ours either.
    assert!(!net.apply(&NetEvent::RouteAdded(route("203.0.113.0", 24, None, None))));
    assert!(!net.apply(&NetEvent::Overrun));
    assert_eq!(net, before);
}

#[test]
fn routes_add_replace_remove() {
    let mut net = net();
    let r = route("10.9.0.0", 16, Some("192.0.2.254"), Some(2));
    assert!(net.apply(&NetEvent::RouteAdded(r.clone())));
    assert!(!net.apply(&NetEvent::RouteAdded(r.clone())));
    // Replace: same key, new gateway.
    let r2 = route("10.9.0.0", 16, Some("192.0.2.253"), Some(2));
    assert!(net.apply(&NetEvent::RouteAdded(r2.clone())));
    assert_eq!(net.routes, vec![r2.clone()]);
    // Different metric is a different route.
    let r3 = HostRoute {
        metric: 100,
        ..r.clone()
    };
    assert!(net.apply(&NetEvent::RouteAdded(r3.clone())));
    assert_eq!(net.routes.len(), 2);
    assert!(net.apply(&NetEvent::RouteRemoved(r2)));
    assert!(!net.apply(&NetEvent::RouteRemoved(r.clone())));
    assert_eq!(net.routes, vec![r3]);
    // Blackholes and unreachables have no interface and are kept.
    let bh = HostRoute {
        kind: RouteKind::Blackhole,
        ..route("203.0.113.10", 32, None, None)
    };
    assert!(net.apply(&NetEvent::RouteAdded(bh.clone())));
    assert!(net.routes.contains(&bh));
    assert!(net.apply(&NetEvent::RouteRemoved(bh.clone())));
    assert!(!net.routes.contains(&bh));
}

#[test]
fn neighbours_add_change_remove() {
    let mut net = net();
    let n = HostNeighbor {
        ifindex: 2,
        ip: ip("192.0.2.11"),
        mac: Some([2, 0, 0, 0, 1, 0x11]),
        state: NeighState::Reachable,
    };
    assert!(net.apply(&NetEvent::Neighbor(n.clone())));
    assert!(!net.apply(&NetEvent::Neighbor(n.clone())));
    let stale = HostNeighbor {
        state: NeighState::Stale,
        ..n.clone()
    };
    assert!(net.apply(&NetEvent::Neighbor(stale.clone())));
    assert_eq!(net.neighbor(2, ip("192.0.2.11")), Some(&stale));
    assert_eq!(net.neighbors.len(), 1);
    let del = NetEvent::NeighborRemoved {
        ifindex: 2,
        ip: ip("192.0.2.11"),
    };
    assert!(net.apply(&del));
    assert!(!net.apply(&del));
    assert!(net.neighbors.is_empty());
}

#[test]
fn link_change_keeps_addresses() {
    let mut net = net();
    net.apply(&NetEvent::AddrAdded {
        ifindex: 2,
        addr: ip("192.0.2.1"),
        prefix_len: 24,
    });
    let mut l = link(2, "eth0");
    assert!(
        !net.apply(&NetEvent::Link(l.clone())),
        "same link, no change"
    );
    l.mac = [2, 0, 0, 0, 0xaa, 0xbb];
    l.mtu = 9000;
    assert!(net.apply(&NetEvent::Link(l)));
    let got = net.link(2).expect("still served");
    assert_eq!(got.mac, [2, 0, 0, 0, 0xaa, 0xbb]);
    assert_eq!(got.mtu, 9000);
    assert_eq!(got.addrs, vec![(ip("192.0.2.1"), 24)]);
}

#[test]
fn link_down_flushes_its_routes() {
    let mut net = net();
    net.apply(&NetEvent::RouteAdded(route(
        "10.9.0.0",
        16,
        Some("192.0.2.254"),
        Some(2),
    )));
    let bh = HostRoute {
        kind: RouteKind::Blackhole,
        ..route("203.0.113.10", 32, None, None)
    };
    net.apply(&NetEvent::RouteAdded(bh.clone()));
    let mut down = link(2, "eth0");
    down.up = false;
    assert!(net.apply(&NetEvent::Link(down)));
    assert_eq!(net.routes, vec![bh]);
}

#[test]
fn ipv4_addr_removal_flushes_like_the_fib() {
    let mut net = net();
    for (a, l) in [("192.0.2.1", 24), ("2001:db8::1", 64)] {
        net.apply(&NetEvent::AddrAdded {
            ifindex: 2,
            addr: ip(a),
            prefix_len: l,
        });
    }
    let v4 = route("10.9.0.0", 16, Some("192.0.2.254"), Some(2));
    let v6 = route("2001:db8:9::", 48, Some("2001:db8::fe"), Some(2));
    net.apply(&NetEvent::RouteAdded(v4));
    net.apply(&NetEvent::RouteAdded(v6.clone()));
    assert!(net.apply(&NetEvent::AddrRemoved {
        ifindex: 2,
        addr: ip("192.0.2.1"),
        prefix_len: 24,
    }));
    // Last IPv4 address gone: IPv4 routes through eth0 go, IPv6 ones stay.
    assert_eq!(net.routes, vec![v6]);
}

#[test]
fn link_removed_drops_everything_on_it() {
    let mut net = net();
    net.apply(&NetEvent::RouteAdded(route(
        "10.9.0.0",
        16,
        Some("192.0.2.254"),
        Some(2),
    )));
    net.apply(&NetEvent::Neighbor(HostNeighbor {
        ifindex: 2,
        ip: ip("192.0.2.11"),
        mac: None,
        state: NeighState::Incomplete,
    }));
    assert!(net.apply(&NetEvent::LinkRemoved { ifindex: 2 }));
    assert!(!net.apply(&NetEvent::LinkRemoved { ifindex: 2 }));
    assert!(net.links.is_empty() && net.routes.is_empty() && net.neighbors.is_empty());
    // Re-created under the same name with a new index: served again.
    assert!(net.apply(&NetEvent::Link(link(7, "eth0"))));
    assert!(net.link(7).is_some());
}

#[test]
fn renamed_away_stops_being_served() {
    let mut net = net();
    assert!(net.apply(&NetEvent::Link(link(2, "old0"))));
    assert!(net.links.is_empty());
}
