//! Where a packet leaves: the link, next hop and preferred source for a
//! destination, by longest-prefix match.
//!
//! A director with several links (client side, server LAN, a router behind
//! either) must pick the most specific route, as the kernel does: a real
//! server on `192.0.2.0/24` behind link 1 must not leave on link 0 because
//! link 0 also carries a default route. The candidates are, per family:
//!
//! * each link's on-link prefixes (the network of each of its addresses; next
//!   hop = the destination, preferred source = that address);
//! * the embedder's [`RouteEntry`]s (next hop = `via` when set);
//! * the configured gateways, as default routes on the link whose on-link
//!   prefix holds them.
//!
//! Ties on prefix length go to the lower metric, then to on-link prefixes
//! before explicit routes, then to configuration order (the gateways come
//! after the explicit routes).
//!
//! `route` runs for every forwarded packet, so the candidates are flattened
//! and masked once, when the network is configured, into one table per
//! family sorted so that the first match is the answer: a lookup is a few
//! compares over a short array, with no per-packet mask computation. The
//! table is rebuilt by [`Director::set_network`](super::Director::set_network).

use core::cmp::Reverse;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use alloc::vec::Vec;

use super::{Director, IpCidr, Link, RouteEntry};
use crate::wire::MacAddr;

/// Where a packet leaves: link, next hop, preferred source.
#[derive(Debug, Clone, Copy)]
pub(super) struct Route {
    pub(super) link: usize,
    pub(super) next_hop: IpAddr,
    /// The route's preferred source: the link address of an on-link
    /// prefix, or a route's `src`.
    pub(super) src: Option<IpAddr>,
}

impl Director {
    /// The link, next hop and preferred source for `dst`: the longest
    /// prefix that holds it (see the module docs).
    #[inline]
    pub(super) fn route(&self, dst: &IpAddr) -> Option<Route> {
        self.routes.lookup(dst)
    }
}

/// What a matching table entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hop {
    link: usize,
    /// `None`: the destination is its own next hop.
    via: Option<IpAddr>,
    src: Option<IpAddr>,
}

/// One masked prefix of a family (`u32` or `u128`).
#[derive(Debug, Clone, Copy)]
struct Entry<A> {
    net: A,
    mask: A,
    hop: Hop,
}

/// The routing table in lookup form: per family, masked prefixes sorted so
/// that the first match is the longest-prefix (then lowest-metric, on-link
/// first, first configured) route.
#[derive(Debug, Default)]
pub(super) struct Routes {
    v4: Vec<Entry<u32>>,
    v6: Vec<Entry<u128>>,
}

/// Mask of an IPv4 prefix length (clamped to 32).
fn mask4(prefix: u8) -> u32 {
    let p = u32::from(prefix.min(32));
    if p == 0 { 0 } else { u32::MAX << (32 - p) }
}

/// Mask of an IPv6 prefix length (clamped to 128).
fn mask6(prefix: u8) -> u128 {
    let p = u32::from(prefix.min(128));
    if p == 0 { 0 } else { u128::MAX << (128 - p) }
}

/// Tie-break class on equal prefix length and metric.
const ON_LINK: u8 = 0;
/// Tie-break class of explicit routes and gateways.
const EXPLICIT: u8 = 1;

/// A route before sorting.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    dst: IpCidr,
    metric: u32,
    class: u8,
    hop: Hop,
}

impl Routes {
    /// The lookup form of `links`' on-link prefixes, `routes` and the
    /// gateways. Routes whose link is out of range are skipped.
    pub(super) fn new(
        links: &[Link],
        routes: &[RouteEntry],
        gateway_v4: Option<Ipv4Addr>,
        gateway_v6: Option<Ipv6Addr>,
    ) -> Self {
        let mut c: Vec<Candidate> = Vec::new();
        for (link, l) in links.iter().enumerate() {
            for a in &l.addrs {
                c.push(Candidate {
                    dst: IpCidr::new(a.addr, a.prefix),
                    metric: 0,
                    class: ON_LINK,
                    hop: Hop {
                        link,
                        via: None,
                        src: Some(a.addr),
                    },
                });
            }
        }
        for r in routes.iter().filter(|r| r.link < links.len()) {
            c.push(Candidate {
                dst: IpCidr::new(r.dst.addr, r.dst.prefix),
                metric: r.metric,
                class: EXPLICIT,
                hop: Hop {
                    link: r.link,
                    via: r.via,
                    src: r.src,
                },
            });
        }
        // A gateway goes on the link of the longest direct (via-less)
        // prefix that holds it.
        let gateways = [gateway_v4.map(IpAddr::V4), gateway_v6.map(IpAddr::V6)];
        for gw in gateways.into_iter().flatten() {
            let direct = c
                .iter()
                .filter(|d| d.hop.via.is_none() && d.dst.contains(&gw))
                .min_by_key(|d| (Reverse(d.dst.prefix), d.metric, d.class));
            let Some(link) = direct.map(|d| d.hop.link) else {
                continue;
            };
            let any = if gw.is_ipv4() {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            } else {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            };
            c.push(Candidate {
                dst: IpCidr::new(any, 0),
                metric: 0,
                class: EXPLICIT,
                hop: Hop {
                    link,
                    via: Some(gw),
                    src: None,
                },
            });
        }
        // Stable: configuration order breaks the remaining ties.
        c.sort_by_key(|d| (Reverse(d.dst.prefix), d.metric, d.class));
        let mut t = Routes::default();
        for d in c {
            match d.dst.addr {
                IpAddr::V4(a) => {
                    let mask = mask4(d.dst.prefix);
                    t.v4.push(Entry {
                        net: u32::from(a) & mask,
                        mask,
                        hop: d.hop,
                    });
                }
                IpAddr::V6(a) => {
                    let mask = mask6(d.dst.prefix);
                    t.v6.push(Entry {
                        net: u128::from(a) & mask,
                        mask,
                        hop: d.hop,
                    });
                }
            }
        }
        t
    }

    /// The first (so longest, then preferred) entry that holds `dst`.
    #[inline]
    pub(super) fn lookup(&self, dst: &IpAddr) -> Option<Route> {
        let hop = match dst {
            IpAddr::V4(a) => {
                let a = u32::from(*a);
                &self.v4.iter().find(|e| a & e.mask == e.net)?.hop
            }
            IpAddr::V6(a) => {
                let a = u128::from(*a);
                &self.v6.iter().find(|e| a & e.mask == e.net)?.hop
            }
        };
        Some(Route {
            link: hop.link,
            next_hop: hop.via.unwrap_or(*dst),
            src: hop.src,
        })
    }
}

/// Write the Ethernet destination and source.
#[inline]
pub(super) fn set_macs(frame: &mut [u8], dst: MacAddr, src: MacAddr) -> Option<()> {
    let m = frame.get_mut(0..12)?;
    m[..6].copy_from_slice(&dst.0);
    m[6..].copy_from_slice(&src.0);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn cidr(s: &str) -> IpCidr {
        s.parse().unwrap()
    }
    fn link(addrs: &[&str]) -> Link {
        Link {
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
            addrs: addrs.iter().map(|s| cidr(s)).collect(),
            mtu: 1500,
        }
    }
    fn route(dst: &str, via: Option<&str>, link: usize, metric: u32) -> RouteEntry {
        RouteEntry {
            dst: cidr(dst),
            via: via.map(ip),
            link,
            src: None,
            metric,
        }
    }
    /// (link, next hop) for `dst`.
    fn hop(t: &Routes, dst: &str) -> Option<(usize, IpAddr)> {
        t.lookup(&ip(dst)).map(|r| (r.link, r.next_hop))
    }
    fn two_links() -> Vec<Link> {
        vec![
            link(&["198.51.100.1/24", "2001:db8:1::1/64"]),
            link(&["192.0.2.1/24", "2001:db8:2::1/64"]),
        ]
    }

    #[test]
    fn on_link_prefixes_pick_their_link_and_source() {
        let t = Routes::new(&two_links(), &[], None, None);
        let r = t.lookup(&ip("192.0.2.11")).unwrap();
        assert_eq!(
            (r.link, r.next_hop, r.src),
            (1, ip("192.0.2.11"), Some(ip("192.0.2.1")))
        );
        let r = t.lookup(&ip("2001:db8:1::5")).unwrap();
        assert_eq!((r.link, r.src), (0, Some(ip("2001:db8:1::1"))));
        assert_eq!(hop(&t, "10.0.0.1"), None);
        assert_eq!(hop(&t, "2001:db8:3::1"), None);
    }

    #[test]
    fn longest_prefix_wins_whatever_the_order() {
        // A wide prefix configured first, a narrower one later, on
        // different links: the narrower must win inside it.
        let links = vec![link(&["10.0.0.1/8"]), link(&["10.1.2.1/24"])];
        let routes = [
            route("10.1.0.0/16", Some("10.0.0.254"), 0, 0),
            route("10.1.2.128/25", Some("10.1.2.254"), 1, 0),
        ];
        let t = Routes::new(&links, &routes, None, None);
        assert_eq!(hop(&t, "10.9.9.9"), Some((0, ip("10.9.9.9"))));
        assert_eq!(hop(&t, "10.1.9.9"), Some((0, ip("10.0.0.254"))));
        assert_eq!(hop(&t, "10.1.2.3"), Some((1, ip("10.1.2.3"))));
        assert_eq!(hop(&t, "10.1.2.200"), Some((1, ip("10.1.2.254"))));
    }

    #[test]
    fn metric_then_on_link_then_order_break_ties() {
        let links = two_links();
        // An explicit route with the same prefix and metric as link 1's
        // on-link prefix: on-link wins the tie.
        let t = Routes::new(
            &links,
            &[route("192.0.2.0/24", Some("198.51.100.254"), 0, 0)],
            None,
            None,
        );
        assert_eq!(hop(&t, "192.0.2.11"), Some((1, ip("192.0.2.11"))));
        // Among explicit routes: lower metric first, whatever the order.
        let routes = [
            route("10.0.0.0/8", Some("198.51.100.254"), 0, 20),
            route("10.0.0.0/8", Some("192.0.2.254"), 1, 10),
            route("10.0.0.0/8", Some("192.0.2.253"), 1, 10),
        ];
        let t = Routes::new(&links, &routes, None, None);
        // Equal metric: configuration order.
        assert_eq!(hop(&t, "10.1.1.1"), Some((1, ip("192.0.2.254"))));
        let t = Routes::new(&links, &routes[..1], None, None);
        assert_eq!(hop(&t, "10.1.1.1"), Some((0, ip("198.51.100.254"))));
    }

    #[test]
    fn gateways_are_default_routes_on_their_link() {
        let links = two_links();
        let t = Routes::new(
            &links,
            &[],
            Some("192.0.2.254".parse().unwrap()),
            Some("2001:db8:1::fe".parse().unwrap()),
        );
        assert_eq!(hop(&t, "8.8.8.8"), Some((1, ip("192.0.2.254"))));
        assert_eq!(hop(&t, "2001:db8:99::1"), Some((0, ip("2001:db8:1::fe"))));
        // On-link still beats the default route.
        assert_eq!(hop(&t, "198.51.100.7"), Some((0, ip("198.51.100.7"))));
        // A gateway no prefix holds is ignored.
        let t = Routes::new(&links, &[], Some("203.0.113.1".parse().unwrap()), None);
        assert_eq!(hop(&t, "8.8.8.8"), None);
        // An explicit default route with a metric loses to the gateway
        // (metric 0), and the gateway loses to a longer prefix.
        let t = Routes::new(
            &links,
            &[
                route("0.0.0.0/0", Some("198.51.100.254"), 0, 100),
                route("8.0.0.0/8", Some("198.51.100.253"), 0, 100),
            ],
            Some("192.0.2.254".parse().unwrap()),
            None,
        );
        assert_eq!(hop(&t, "9.9.9.9"), Some((1, ip("192.0.2.254"))));
        assert_eq!(hop(&t, "8.8.8.8"), Some((0, ip("198.51.100.253"))));
    }

    #[test]
    fn edges_zero_and_host_prefixes() {
        let links = two_links();
        let routes = [
            route("0.0.0.0/0", Some("198.51.100.254"), 0, 0),
            route("192.0.2.77/32", Some("198.51.100.253"), 0, 0),
            route("::/0", Some("2001:db8:1::fe"), 0, 0),
            route("2001:db8:2::77/128", Some("2001:db8:1::fd"), 0, 0),
            // Host bits set in a route's destination are ignored.
            route("172.16.5.5/12", None, 1, 0),
        ];
        let t = Routes::new(&links, &routes, None, None);
        assert_eq!(hop(&t, "0.0.0.0"), Some((0, ip("198.51.100.254"))));
        assert_eq!(hop(&t, "255.255.255.255"), Some((0, ip("198.51.100.254"))));
        assert_eq!(hop(&t, "192.0.2.77"), Some((0, ip("198.51.100.253"))));
        assert_eq!(hop(&t, "192.0.2.78"), Some((1, ip("192.0.2.78"))));
        assert_eq!(hop(&t, "2001:db8:2::77"), Some((0, ip("2001:db8:1::fd"))));
        assert_eq!(hop(&t, "2001:db8:2::78"), Some((1, ip("2001:db8:2::78"))));
        assert_eq!(hop(&t, "::"), Some((0, ip("2001:db8:1::fe"))));
        assert_eq!(hop(&t, "172.31.0.1"), Some((1, ip("172.31.0.1"))));
        assert_eq!(hop(&t, "172.32.0.1"), Some((0, ip("198.51.100.254"))));
        // A /32 director address is on-link for itself only.
        let t = Routes::new(&[link(&["203.0.113.5/32"])], &[], None, None);
        assert_eq!(hop(&t, "203.0.113.5"), Some((0, ip("203.0.113.5"))));
        assert_eq!(hop(&t, "203.0.113.6"), None);
    }

    #[test]
    fn via_source_and_out_of_range_links() {
        let links = two_links();
        let mut r = route("10.0.0.0/8", Some("192.0.2.254"), 1, 0);
        r.src = Some(ip("192.0.2.1"));
        let bad = route("10.1.0.0/16", Some("192.0.2.253"), 7, 0);
        let t = Routes::new(&links, &[r, bad], None, None);
        let got = t.lookup(&ip("10.1.2.3")).unwrap();
        assert_eq!(
            (got.link, got.next_hop, got.src),
            (1, ip("192.0.2.254"), Some(ip("192.0.2.1")))
        );
        // IPv6 via route.
        let t = Routes::new(
            &links,
            &[route("2001:db8:100::/48", Some("2001:db8:2::fe"), 1, 0)],
            None,
            None,
        );
        assert_eq!(
            hop(&t, "2001:db8:100:5::1"),
            Some((1, ip("2001:db8:2::fe")))
        );
        assert_eq!(hop(&t, "2001:db8:101::1"), None);
    }
}
