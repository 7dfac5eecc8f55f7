//! The director's network: what the host kernel says about the served interfaces, completed
//! and overridden by the command line.
//!
//! Why this exists: a director on an ordinary Linux host should need no more than
//! `--iface eth0 --iface eth1 --rules FILE`. The host already knows each interface's MAC,
//! MTU, addresses and prefixes, its routes (on-link, via gateways, the default route) and its
//! neighbours (ARP/ND entries, permanent ones included); [`crate::netlink`] reads them. This
//! module turns that view, plus the per-link flags (`--addr IFACE=CIDR`, `--gateway
//! [IFACE=]IP`, `--neighbor IP=MAC`), into what the sans-IO [`Director`](lvs_forwarding::Director)
//! takes: one [`Link`] per port, a route table, and neighbours. It is a pure function, so the
//! rules of composition are unit-tested without a kernel, and the event loop re-runs it after
//! every rtnetlink change.
//!
//! Composition rules:
//! * a link's addresses are the kernel's addresses on that interface plus its `--addr` flags
//!   (a flag for an address the kernel has too overrides its prefix); IPv6 link-local
//!   addresses are left out (every link has `fe80::/64`, so as on-link prefixes they would
//!   make routing ambiguous; routes via a link-local gateway still name their link);
//! * routes are the kernel's unicast routes of the main table whose output interface is
//!   served; blackhole routes (the VIPs' own) and multicast/link-local prefixes are left out.
//!   A `--gateway` replaces the kernel's default route of its family;
//! * neighbours are the kernel's entries with a MAC on served interfaces (permanent ones stay
//!   permanent) plus `--neighbor` flags, which always win.

use std::net::IpAddr;

use lvs_forwarding::{IpCidr, Link, MacAddr, RouteEntry};

use crate::cli::DirectorArgs;
use crate::netlink::{HostNet, NeighState, RouteKind};

/// MTU assumed for a link the kernel says nothing about.
const DEFAULT_MTU: u32 = 1500;

/// One served port as the binary opened it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// Interface name (`--iface` or `--tap`).
    pub name: String,
    /// The MAC the director uses on it.
    pub mac: [u8; 6],
    /// Take the MAC the kernel reports for the interface instead (and follow its changes):
    /// true for AF_PACKET ports without `--mac`, where the director speaks with the
    /// interface's own address.
    pub follow_kernel_mac: bool,
}

/// A neighbour to give the Director.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedNeighbor {
    /// Its address.
    pub ip: IpAddr,
    /// Its MAC.
    pub mac: MacAddr,
    /// Never expires, never overwritten from the wire (`--neighbor`, or PERMANENT in the kernel).
    pub permanent: bool,
}

/// The network the Director is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetPlan {
    /// One link per port, in port order.
    pub links: Vec<Link>,
    /// Routes beyond the links' own prefixes.
    pub routes: Vec<RouteEntry>,
    /// Neighbours known in advance.
    pub neighbors: Vec<PlannedNeighbor>,
}

impl NetPlan {
    /// Whether the plan has no address of the family of `ip` on any link (the director
    /// could not source an ARP/ND request or a tunnel for it).
    pub fn lacks_family_of(&self, ip: &IpAddr) -> bool {
        !self
            .links
            .iter()
            .any(|l| l.addrs.iter().any(|c| c.addr.is_ipv4() == ip.is_ipv4()))
    }
}

/// Whether `ip` is an IPv6 link-local (`fe80::/10`) or any multicast address.
fn link_local_or_multicast(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_multicast(),
        IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80 || a.is_multicast(),
    }
}

/// Builds the Director's network from the kernel's view (`None` with `--no-netlink`) and the
/// flags. Errors name the flag or interface that is wrong.
pub fn plan(
    ports: &[Port],
    host: Option<&HostNet>,
    args: &DirectorArgs,
) -> Result<NetPlan, String> {
    args.check_links()?;
    let single = ports.len() == 1;
    let mut links = Vec::with_capacity(ports.len());
    let mut ifindexes = Vec::with_capacity(ports.len());
    for p in ports {
        let hl = host.and_then(|h| h.links.iter().find(|l| l.name == p.name));
        ifindexes.push(hl.map(|l| l.ifindex));
        let mut addrs: Vec<IpCidr> = hl
            .map(|l| {
                l.addrs
                    .iter()
                    .filter(|(a, _)| !link_local_or_multicast(a))
                    .map(|(a, len)| IpCidr::new(*a, *len))
                    .collect()
            })
            .unwrap_or_default();
        for f in &args.addrs {
            let mine = match &f.iface {
                Some(i) => *i == p.name,
                None => single,
            };
            if !mine {
                continue;
            }
            let c = IpCidr::new(f.cidr.addr, f.cidr.prefix_len);
            match addrs.iter_mut().find(|a| a.addr == c.addr) {
                Some(a) => *a = c,
                None => addrs.push(c),
            }
        }
        let mac = match hl {
            Some(l) if p.follow_kernel_mac => l.mac,
            _ => p.mac,
        };
        links.push(Link {
            mac: MacAddr(mac),
            addrs,
            mtu: hl.map_or(
                DEFAULT_MTU,
                |l| if l.mtu == 0 { DEFAULT_MTU } else { l.mtu },
            ),
        });
    }

    let link_of =
        |ifindex: Option<u32>| ifindex.and_then(|i| ifindexes.iter().position(|x| *x == Some(i)));
    let flag_v4 = args.gateways.iter().any(|g| g.ip.is_ipv4());
    let flag_v6 = args.gateways.iter().any(|g| g.ip.is_ipv6());
    let mut routes = Vec::new();
    for r in host.map(|h| h.routes.as_slice()).unwrap_or_default() {
        let Some(link) = link_of(r.ifindex) else {
            continue;
        };
        if r.kind != RouteKind::Unicast || link_local_or_multicast(&r.dst) {
            continue;
        }
        let default = r.prefix_len == 0;
        if default && ((r.dst.is_ipv4() && flag_v4) || (r.dst.is_ipv6() && flag_v6)) {
            continue;
        }
        routes.push(RouteEntry {
            dst: IpCidr::new(r.dst, r.prefix_len),
            via: r.gateway,
            link,
            src: r.prefsrc,
            metric: r.metric,
        });
    }
    for g in &args.gateways {
        let link = match &g.iface {
            Some(i) => ports.iter().position(|p| p.name == *i),
            None => links
                .iter()
                .position(|l| l.addrs.iter().any(|c| c.contains(&g.ip))),
        };
        let Some(link) = link else {
            return Err(format!(
                "--gateway {}: on none of the served links' prefixes; write --gateway IFACE={}",
                g.ip, g.ip
            ));
        };
        let any = match g.ip {
            IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        };
        routes.push(RouteEntry {
            dst: IpCidr::new(any, 0),
            via: Some(g.ip),
            link,
            src: None,
            metric: 0,
        });
    }

    let mut neighbors: Vec<PlannedNeighbor> = args
        .neighbors
        .iter()
        .map(|n| PlannedNeighbor {
            ip: n.ip,
            mac: MacAddr(n.mac.0),
            permanent: true,
        })
        .collect();
    for n in host.map(|h| h.neighbors.as_slice()).unwrap_or_default() {
        if link_of(Some(n.ifindex)).is_none() || neighbors.iter().any(|p| p.ip == n.ip) {
            continue;
        }
        let (Some(mac), Some(permanent)) = (n.mac, usable(n.state)) else {
            continue;
        };
        if mac == [0; 6] || mac[0] & 1 == 1 {
            continue;
        }
        neighbors.push(PlannedNeighbor {
            ip: n.ip,
            mac: MacAddr(mac),
            permanent,
        });
    }
    Ok(NetPlan {
        links,
        routes,
        neighbors,
    })
}

/// Whether a kernel neighbour entry in `state` is worth using: `Some(permanent)`, or `None`
/// for entries without a confirmed MAC (incomplete, failed) and NOARP ones.
pub fn usable(state: NeighState) -> Option<bool> {
    match state {
        NeighState::Permanent => Some(true),
        NeighState::Reachable | NeighState::Stale | NeighState::Delay | NeighState::Probe => {
            Some(false)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::{HostLink, HostNeighbor, HostRoute};
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        d: DirectorArgs,
    }

    fn args(extra: &[&str]) -> DirectorArgs {
        let mut v = vec!["lvs", "--rules", "r"];
        v.extend_from_slice(extra);
        Cli::try_parse_from(v)
            .unwrap()
            .d
            .with_links(vec!["eth0".into(), "eth1".into()])
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The seed's two-armed NAT director as the kernel describes it.
    fn host() -> HostNet {
        HostNet {
            ifaces: vec!["eth0".into(), "eth1".into()],
            links: vec![
                HostLink {
                    ifindex: 7,
                    name: "eth0".into(),
                    mac: [2, 0, 0, 0, 0, 1],
                    mtu: 1500,
                    up: true,
                    carrier: true,
                    addrs: vec![
                        (ip("198.51.100.1"), 24),
                        (ip("2001:db8:1::1"), 64),
                        (ip("fe80::1"), 64),
                    ],
                },
                HostLink {
                    ifindex: 9,
                    name: "eth1".into(),
                    mac: [2, 0, 0, 0, 0, 2],
                    mtu: 9000,
                    up: true,
                    carrier: true,
                    addrs: vec![(ip("192.0.2.1"), 24), (ip("2001:db8:2::1"), 64)],
                },
                HostLink {
                    ifindex: 1,
                    name: "lo".into(),
                    mac: [0; 6],
                    mtu: 65536,
                    up: true,
                    carrier: true,
                    addrs: vec![(ip("127.0.0.1"), 8)],
                },
            ],
            routes: vec![
                route(
                    "0.0.0.0",
                    0,
                    Some("198.51.100.254"),
                    Some(7),
                    RouteKind::Unicast,
                ),
                route(
                    "10.0.0.0",
                    8,
                    Some("192.0.2.254"),
                    Some(9),
                    RouteKind::Unicast,
                ),
                route("203.0.113.10", 32, None, None, RouteKind::Blackhole),
                route("fe80::", 64, None, Some(7), RouteKind::Unicast),
                route("127.0.0.0", 8, None, Some(1), RouteKind::Unicast),
            ],
            neighbors: vec![
                neigh(
                    9,
                    "192.0.2.11",
                    Some([2, 0, 0, 0, 1, 0x11]),
                    NeighState::Permanent,
                ),
                neigh(
                    9,
                    "192.0.2.12",
                    Some([2, 0, 0, 0, 1, 0x12]),
                    NeighState::Stale,
                ),
                neigh(9, "192.0.2.13", None, NeighState::Failed),
                neigh(
                    1,
                    "127.0.0.2",
                    Some([2, 0, 0, 0, 1, 0x13]),
                    NeighState::Reachable,
                ),
            ],
        }
    }

    fn route(
        dst: &str,
        len: u8,
        gw: Option<&str>,
        ifindex: Option<u32>,
        kind: RouteKind,
    ) -> HostRoute {
        HostRoute {
            dst: ip(dst),
            prefix_len: len,
            gateway: gw.map(ip),
            ifindex,
            prefsrc: None,
            metric: 0,
            kind,
        }
    }

    fn neigh(ifindex: u32, a: &str, mac: Option<[u8; 6]>, state: NeighState) -> HostNeighbor {
        HostNeighbor {
            ifindex,
            ip: ip(a),
            mac,
            state,
        }
    }

    fn ports() -> Vec<Port> {
        vec![
            Port {
                name: "eth0".into(),
                mac: [2, 0, 0, 0, 0, 1],
                follow_kernel_mac: false,
            },
            Port {
                name: "eth1".into(),
                mac: [2, 0, 0, 0, 0, 2],
                follow_kernel_mac: false,
            },
        ]
    }

    #[test]
    fn kernel_view_becomes_per_link_addressing() {
        let p = plan(&ports(), Some(&host()), &args(&[])).unwrap();
        let a0: Vec<String> = p.links[0].addrs.iter().map(|c| c.to_string()).collect();
        let a1: Vec<String> = p.links[1].addrs.iter().map(|c| c.to_string()).collect();
        assert_eq!(a0, ["198.51.100.1/24", "2001:db8:1::1/64"]);
        assert_eq!(a1, ["192.0.2.1/24", "2001:db8:2::1/64"]);
        assert_eq!((p.links[0].mtu, p.links[1].mtu), (1500, 9000));
        // The default route on link 0 and the 10/8 route on link 1; no blackhole, no
        // link-local, nothing of lo.
        let r: Vec<(String, Option<IpAddr>, usize)> = p
            .routes
            .iter()
            .map(|r| (r.dst.to_string(), r.via, r.link))
            .collect();
        assert_eq!(
            r,
            [
                ("0.0.0.0/0".to_string(), Some(ip("198.51.100.254")), 0),
                ("10.0.0.0/8".to_string(), Some(ip("192.0.2.254")), 1),
            ]
        );
        let n: Vec<(IpAddr, bool)> = p.neighbors.iter().map(|n| (n.ip, n.permanent)).collect();
        assert_eq!(n, [(ip("192.0.2.11"), true), (ip("192.0.2.12"), false)]);
    }

    #[test]
    fn flags_complete_and_override() {
        let a = args(&[
            "--addr",
            "eth1=192.0.2.1/25",
            "--addr",
            "eth1=192.0.2.200/24",
            "--gateway",
            "192.0.2.254",
            "--neighbor",
            "192.0.2.12=02:00:00:00:09:09",
        ]);
        let p = plan(&ports(), Some(&host()), &a).unwrap();
        let a1: Vec<String> = p.links[1].addrs.iter().map(|c| c.to_string()).collect();
        assert_eq!(a1, ["192.0.2.1/25", "2001:db8:2::1/64", "192.0.2.200/24"]);
        // The flag's gateway replaces the kernel's IPv4 default route, on the link that
        // holds it.
        let defaults: Vec<(Option<IpAddr>, usize)> = p
            .routes
            .iter()
            .filter(|r| r.dst.prefix == 0)
            .map(|r| (r.via, r.link))
            .collect();
        assert_eq!(defaults, [(Some(ip("192.0.2.254")), 1)]);
        let n12 = p
            .neighbors
            .iter()
            .find(|n| n.ip == ip("192.0.2.12"))
            .unwrap();
        assert_eq!((n12.mac.0[4], n12.permanent), (9, true));
    }

    #[test]
    fn flags_alone_without_the_kernel() {
        let a = args(&[
            "--addr",
            "eth0=198.51.100.1/24",
            "--addr",
            "eth1=192.0.2.1/24",
            "--gateway",
            "eth0=198.51.100.254",
        ]);
        let p = plan(&ports(), None, &a).unwrap();
        assert_eq!(p.links[0].addrs.len(), 1);
        assert_eq!(p.links[1].addrs[0].to_string(), "192.0.2.1/24");
        assert_eq!(p.links[1].mtu, DEFAULT_MTU);
        assert_eq!(p.routes.len(), 1);
        assert!(p.lacks_family_of(&ip("2001:db8::1")));
        assert!(!p.lacks_family_of(&ip("192.0.2.9")));
        let e = plan(&ports(), None, &args(&["--gateway", "203.0.113.1"])).unwrap_err();
        assert!(e.contains("203.0.113.1"), "{e}");
        let e = plan(&ports(), None, &args(&["--addr", "192.0.2.1/24"])).unwrap_err();
        assert!(e.contains("ambiguous"), "{e}");
    }
}
