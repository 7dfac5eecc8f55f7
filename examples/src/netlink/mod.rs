//! The host's network, learned from the kernel over rtnetlink and kept current.
//!
//! A director that forwards frames in user space still lives on a Linux host that already
//! knows its interfaces' MAC addresses, its IP addresses, its routes and its neighbours.
//! Asking the operator to repeat all of that as `--addr`/`--gateway`/`--neighbor` flags is
//! error-prone and goes stale the moment someone runs `ip addr add`. This module asks the
//! kernel instead, and follows its change notifications, so that
//! `lvs-afpacket --iface eth0 --iface eth1 --rules FILE` is enough.
//!
//! # Shape
//!
//! * [`snapshot`] dumps links, addresses (IPv4 and IPv6), routes (IPv4 and IPv6, main table
//!   only) and neighbours (ARP and ND) into a [`HostNet`], keeping only what belongs to the
//!   named interfaces.
//! * [`Watcher`] is a non-blocking netlink socket subscribed to the link, address, route and
//!   neighbour multicast groups. Its file descriptor goes into the director's `poll` set;
//!   when it is readable, [`Watcher::poll_events`] drains what is queued into [`NetEvent`]s.
//! * [`HostNet::apply`] folds one event into the model and says whether anything changed.
//!
//! # Races
//!
//! Create the [`Watcher`] *before* taking the [`snapshot`]. A change that happens while the
//! dump runs is then either in the dump, or queued on the watcher, or both; it is never lost.
//! Events that repeat what the dump already showed are harmless because [`HostNet::apply`] is
//! idempotent: adding what is present or removing what is absent reports "no change".
//!
//! ```no_run
//! use lvs_examples::netlink::{snapshot, NetEvent, Watcher};
//! # fn main() -> std::io::Result<()> {
//! let ifaces = vec!["eth0".to_string()];
//! let mut watcher = Watcher::new()?; // subscribe first ...
//! let mut net = snapshot(&ifaces)?; // ... then dump
//! let mut events = Vec::new();
//! // In the event loop, when poll(2) says watcher.as_raw_fd() is readable:
//! watcher.poll_events(&mut events)?;
//! for ev in events.drain(..) {
//!     if matches!(ev, NetEvent::Overrun) {
//!         net = snapshot(&ifaces)?; // events were lost: start over
//!     } else if net.apply(&ev) {
//!         // push the new routes / addresses / neighbours into the Director
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Overruns
//!
//! If the kernel cannot queue a notification because the socket's receive buffer is full,
//! the next `recv` fails with `ENOBUFS`. Some events are then gone for good, so the watcher
//! reports [`NetEvent::Overrun`] and the caller takes a fresh [`snapshot`]. A notification
//! larger than the receive buffer is reported the same way.
//!
//! # What the kernel does not announce
//!
//! The IPv4 FIB removes some routes without sending `RTM_DELROUTE`: every route through a
//! device that goes administratively down, routes whose preferred source was an address
//! that is removed, and every route through a device whose last IPv4 address is removed.
//! [`HostNet::apply`] mirrors those rules so the model does not keep routes the kernel has
//! dropped. MAC address changes arrive as [`NetEvent::Link`].

mod parse;
mod socket;

use std::net::IpAddr;

pub use socket::{Watcher, snapshot};

/// One network interface the director serves, as the kernel describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLink {
    /// Kernel interface index (stable for the life of the device, unlike its name).
    pub ifindex: u32,
    /// Interface name (`IFLA_IFNAME`).
    pub name: String,
    /// Ethernet address (`IFLA_ADDRESS`).
    pub mac: [u8; 6],
    /// Maximum transmission unit in bytes (`IFLA_MTU`).
    pub mtu: u32,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Carrier present (`IFF_LOWER_UP`): frames can actually leave.
    pub carrier: bool,
    /// Addresses on the interface with their prefix lengths, IPv4 and IPv6. Link events carry
    /// none; [`HostNet::apply`] keeps the ones already known.
    pub addrs: Vec<(IpAddr, u8)>,
}

/// The type of a route (`rtm_type`), reduced to what a director acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// An ordinary route: directly connected or through a gateway.
    Unicast,
    /// Silently discard.
    Blackhole,
    /// Discard and answer "destination unreachable".
    Unreachable,
    /// Deliver locally.
    Local,
    /// Any other `RTN_*` value, as the raw number.
    Other(u8),
}

/// A route from the main table (254).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoute {
    /// Destination network (`0.0.0.0` or `::` for a default route).
    pub dst: IpAddr,
    /// Destination prefix length.
    pub prefix_len: u8,
    /// Next hop, if the route goes through a gateway (`RTA_GATEWAY` or `RTA_VIA`).
    pub gateway: Option<IpAddr>,
    /// Output interface (`RTA_OIF`); none for blackhole and unreachable routes.
    pub ifindex: Option<u32>,
    /// Preferred source address (`RTA_PREFSRC`).
    pub prefsrc: Option<IpAddr>,
    /// Route metric (`RTA_PRIORITY`); 0 when absent.
    pub metric: u32,
    /// Route type.
    pub kind: RouteKind,
}

impl HostRoute {
    /// Whether `other` names the same kernel route: destination, prefix, metric and output
    /// interface. Gateway and source may differ (a `replace` changes them in place).
    fn same_key(&self, other: &HostRoute) -> bool {
        self.dst == other.dst
            && self.prefix_len == other.prefix_len
            && self.metric == other.metric
            && self.ifindex == other.ifindex
    }
}

/// Neighbour cache entry state (`NUD_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighState {
    /// Configured by hand; never expires.
    Permanent,
    /// Confirmed recently.
    Reachable,
    /// Known but not recently confirmed; still usable.
    Stale,
    /// Waiting a moment before probing.
    Delay,
    /// Being probed.
    Probe,
    /// Resolution failed.
    Failed,
    /// Resolution in progress; no link-layer address yet.
    Incomplete,
    /// No resolution needed on this device.
    Noarp,
    /// Any other (combined or unknown) `NUD_*` value, as the raw number.
    Other(u16),
}

/// An ARP or ND neighbour cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostNeighbor {
    /// Interface the entry belongs to.
    pub ifindex: u32,
    /// Neighbour's IP address.
    pub ip: IpAddr,
    /// Neighbour's Ethernet address, if resolved.
    pub mac: Option<[u8; 6]>,
    /// Cache state.
    pub state: NeighState,
}

/// One change reported by the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// A link appeared or changed (name, MAC, MTU, flags). Its `addrs` are empty.
    Link(HostLink),
    /// A link was removed.
    LinkRemoved {
        /// Index of the removed link.
        ifindex: u32,
    },
    /// An address was added to a link.
    AddrAdded {
        /// Link the address is on.
        ifindex: u32,
        /// The address.
        addr: IpAddr,
        /// Its prefix length.
        prefix_len: u8,
    },
    /// An address was removed from a link.
    AddrRemoved {
        /// Link the address was on.
        ifindex: u32,
        /// The address.
        addr: IpAddr,
        /// Its prefix length.
        prefix_len: u8,
    },
    /// A main-table route was added or replaced.
    RouteAdded(HostRoute),
    /// A main-table route was removed.
    RouteRemoved(HostRoute),
    /// A neighbour entry was created or changed state.
    Neighbor(HostNeighbor),
    /// A neighbour entry was removed.
    NeighborRemoved {
        /// Interface of the entry.
        ifindex: u32,
        /// Neighbour's IP address.
        ip: IpAddr,
    },
    /// The kernel dropped notifications (`ENOBUFS`, or one too large to read): the model may
    /// be stale, take a new [`snapshot`].
    Overrun,
}

/// What the host knows about the interfaces a director serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostNet {
    /// Names of the served interfaces. Links are matched by name; everything else by the
    /// index of a served link.
    pub ifaces: Vec<String>,
    /// The served links that exist, with their addresses.
    pub links: Vec<HostLink>,
    /// Main-table routes out of a served link, plus blackhole and unreachable routes.
    pub routes: Vec<HostRoute>,
    /// Neighbour entries on served links.
    pub neighbors: Vec<HostNeighbor>,
}

impl HostNet {
    /// An empty model serving the interfaces named in `ifaces`.
    pub fn new(ifaces: &[String]) -> Self {
        Self {
            ifaces: ifaces.to_vec(),
            ..Self::default()
        }
    }

    /// The served link with index `ifindex`.
    pub fn link(&self, ifindex: u32) -> Option<&HostLink> {
        self.links.iter().find(|l| l.ifindex == ifindex)
    }

    /// The served link called `name`.
    pub fn link_by_name(&self, name: &str) -> Option<&HostLink> {
        self.links.iter().find(|l| l.name == name)
    }

    /// Neighbour entry for `ip` on link `ifindex`.
    pub fn neighbor(&self, ifindex: u32, ip: IpAddr) -> Option<&HostNeighbor> {
        self.neighbors
            .iter()
            .find(|n| n.ifindex == ifindex && n.ip == ip)
    }

    /// Routes out of link `ifindex`.
    pub fn routes_via(&self, ifindex: u32) -> impl Iterator<Item = &HostRoute> {
        self.routes
            .iter()
            .filter(move |r| r.ifindex == Some(ifindex))
    }

    fn serves(&self, ifindex: u32) -> bool {
        self.link(ifindex).is_some()
    }

    /// Fold one kernel event into the model; returns whether the model changed.
    ///
    /// Events about interfaces that are not served are ignored (`false`). Applying the same
    /// event twice changes nothing the second time, which is what makes "subscribe, then
    /// dump" safe. [`NetEvent::Overrun`] cannot be applied: it returns `false` and the caller
    /// must take a new [`snapshot`].
    ///
    /// A link that starts being served after the snapshot (created, or renamed to a served
    /// name) starts with no addresses, routes or neighbours: later additions arrive as events,
    /// but state it already carried does not. Callers that need it take a new snapshot when
    /// [`HostNet::link`] gains an entry. A served link renamed away stops being served.
    pub fn apply(&mut self, ev: &NetEvent) -> bool {
        match ev {
            NetEvent::Link(link) => self.apply_link(link),
            NetEvent::LinkRemoved { ifindex } => self.forget_link(*ifindex),
            NetEvent::AddrAdded {
                ifindex,
                addr,
                prefix_len,
            } => {
                let Some(link) = self.links.iter_mut().find(|l| l.ifindex == *ifindex) else {
                    return false;
                };
                let entry = (*addr, *prefix_len);
                if link.addrs.contains(&entry) {
                    return false;
                }
                link.addrs.push(entry);
                true
            }
            NetEvent::AddrRemoved {
                ifindex,
                addr,
                prefix_len,
            } => self.remove_addr(*ifindex, *addr, *prefix_len),
            NetEvent::RouteAdded(route) => {
                if !self.route_wanted(route) {
                    return false;
                }
                match self.routes.iter_mut().find(|r| r.same_key(route)) {
                    Some(r) if r == route => false,
                    Some(r) => {
                        *r = route.clone();
                        true
                    }
                    None => {
                        self.routes.push(route.clone());
                        true
                    }
                }
            }
            NetEvent::RouteRemoved(route) => {
                let before = self.routes.len();
                self.routes.retain(|r| !r.same_key(route));
                self.routes.len() != before
            }
            NetEvent::Neighbor(n) => {
                if !self.serves(n.ifindex) {
                    return false;
                }
                match self
                    .neighbors
                    .iter_mut()
                    .find(|e| e.ifindex == n.ifindex && e.ip == n.ip)
                {
                    Some(e) if e == n => false,
                    Some(e) => {
                        *e = n.clone();
                        true
                    }
                    None => {
                        self.neighbors.push(n.clone());
                        true
                    }
                }
            }
            NetEvent::NeighborRemoved { ifindex, ip } => {
                let before = self.neighbors.len();
                self.neighbors
                    .retain(|e| !(e.ifindex == *ifindex && e.ip == *ip));
                self.neighbors.len() != before
            }
            NetEvent::Overrun => false,
        }
    }

    /// A route belongs in the model if it leaves through a served link, or drops traffic
    /// without any link (blackhole, unreachable).
    fn route_wanted(&self, route: &HostRoute) -> bool {
        match route.ifindex {
            Some(ifindex) => self.serves(ifindex),
            None => matches!(route.kind, RouteKind::Blackhole | RouteKind::Unreachable),
        }
    }

    fn apply_link(&mut self, link: &HostLink) -> bool {
        let served_name = self.ifaces.contains(&link.name);
        let pos = self.links.iter().position(|l| l.ifindex == link.ifindex);
        match (pos, served_name) {
            (None, false) => false,
            // Renamed away from a served name: no longer ours.
            (Some(_), false) => self.forget_link(link.ifindex),
            (None, true) => {
                // A stale entry under the same name (device re-created) goes first.
                if let Some(old) = self.link_by_name(&link.name).map(|l| l.ifindex) {
                    self.forget_link(old);
                }
                self.links.push(HostLink {
                    addrs: Vec::new(),
                    ..link.clone()
                });
                true
            }
            (Some(i), true) => {
                let old = &mut self.links[i];
                let went_down = old.up && !link.up;
                let changed = old.name != link.name
                    || old.mac != link.mac
                    || old.mtu != link.mtu
                    || old.up != link.up
                    || old.carrier != link.carrier;
                old.name.clone_from(&link.name);
                old.mac = link.mac;
                old.mtu = link.mtu;
                old.up = link.up;
                old.carrier = link.carrier;
                // The kernel flushes routes through a device that goes down, and for IPv4
                // says nothing about it.
                let flushed = went_down && self.drop_routes(|r| r.ifindex == Some(link.ifindex));
                changed || flushed
            }
        }
    }

    /// Drop a link and everything hanging off it.
    fn forget_link(&mut self, ifindex: u32) -> bool {
        let before = self.links.len();
        self.links.retain(|l| l.ifindex != ifindex);
        if self.links.len() == before {
            return false;
        }
        self.drop_routes(|r| r.ifindex == Some(ifindex));
        self.neighbors.retain(|n| n.ifindex != ifindex);
        true
    }

    fn drop_routes(&mut self, pred: impl Fn(&HostRoute) -> bool) -> bool {
        let before = self.routes.len();
        self.routes.retain(|r| !pred(r));
        self.routes.len() != before
    }

    fn remove_addr(&mut self, ifindex: u32, addr: IpAddr, prefix_len: u8) -> bool {
        let Some(link) = self.links.iter_mut().find(|l| l.ifindex == ifindex) else {
            return false;
        };
        let before = link.addrs.len();
        link.addrs.retain(|&a| a != (addr, prefix_len));
        if link.addrs.len() == before {
            return false;
        }
        if addr.is_ipv4() {
            // Mirror the IPv4 FIB's silent flushes: routes preferring the removed source,
            // and every IPv4 route through the device once it has no IPv4 address left.
            let none_left = !link.addrs.iter().any(|(a, _)| a.is_ipv4());
            self.drop_routes(|r| {
                r.prefsrc == Some(addr)
                    || (none_left && r.ifindex == Some(ifindex) && r.dst.is_ipv4())
            });
        }
        true
    }
}

#[cfg(test)]
mod tests;
