//! rtnetlink messages to [`NetEvent`]s.
//!
//! Both the dump in `snapshot` and the notifications read by the `Watcher` arrive as the
//! same `RTM_NEW*`/`RTM_DEL*` messages, so one translation serves both: a dump is replayed
//! through [`HostNet::apply`](super::HostNet::apply) like a burst of notifications. A
//! message that lacks what the model needs (a link without a name or an Ethernet address,
//! an address without an address) is skipped, never fatal.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{NetlinkBuffer, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::{
    AddressFamily, RouteNetlinkMessage,
    address::{AddressAttribute, AddressMessage},
    link::{LinkAttribute, LinkFlags, LinkMessage},
    neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage},
    route::{RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteType, RouteVia},
};

use super::{HostLink, HostNeighbor, HostRoute, NeighState, NetEvent, RouteKind};

/// The kernel's main routing table (`RT_TABLE_MAIN`).
const RT_TABLE_MAIN: u32 = 254;

/// Size of `struct nlmsghdr`.
const NLMSG_HDRLEN: usize = 16;

/// One netlink message cut out of a datagram: its header fields and, if it decoded, its
/// payload.
pub(super) struct Piece {
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// The decoded payload; `None` if the message did not decode (it is then skipped).
    pub payload: Option<NetlinkPayload<RouteNetlinkMessage>>,
}

/// Split a datagram into netlink messages. A message that fails to decode yields a
/// [`Piece`] without payload; a length field that runs past the datagram ends the walk.
pub(super) fn split(datagram: &[u8], out: &mut Vec<Piece>) {
    let mut off = 0;
    while datagram.len().saturating_sub(off) >= NLMSG_HDRLEN {
        let rest = &datagram[off..];
        let Ok(buf) = NetlinkBuffer::new_checked(rest) else {
            return;
        };
        let len = buf.length() as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return;
        }
        let (flags, seq) = (buf.flags(), buf.sequence_number());
        let payload = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rest[..len])
            .ok()
            .map(|m| m.payload);
        out.push(Piece {
            flags,
            seq,
            payload,
        });
        // Messages are 4-byte aligned within the datagram.
        off += (len + 3) & !3;
    }
}

/// Translate one rtnetlink message; `None` for messages the model does not track or that
/// lack a required attribute.
pub(super) fn event(msg: &RouteNetlinkMessage) -> Option<NetEvent> {
    match msg {
        RouteNetlinkMessage::NewLink(m) => link(m).map(NetEvent::Link),
        RouteNetlinkMessage::DelLink(m) => {
            // AF_BRIDGE DELLINK means "port left its bridge", not "device gone".
            (m.header.interface_family != AddressFamily::Bridge).then_some(NetEvent::LinkRemoved {
                ifindex: m.header.index,
            })
        }
        RouteNetlinkMessage::NewAddress(m) => {
            address(m).map(|(ifindex, addr, prefix_len)| NetEvent::AddrAdded {
                ifindex,
                addr,
                prefix_len,
            })
        }
        RouteNetlinkMessage::DelAddress(m) => {
            address(m).map(|(ifindex, addr, prefix_len)| NetEvent::AddrRemoved {
                ifindex,
                addr,
                prefix_len,
            })
        }
        RouteNetlinkMessage::NewRoute(m) => route(m).map(NetEvent::RouteAdded),
        RouteNetlinkMessage::DelRoute(m) => route(m).map(NetEvent::RouteRemoved),
        RouteNetlinkMessage::NewNeighbour(m) => neighbour(m).map(NetEvent::Neighbor),
        RouteNetlinkMessage::DelNeighbour(m) => neighbour(m).map(|n| NetEvent::NeighborRemoved {
            ifindex: n.ifindex,
            ip: n.ip,
        }),
        _ => None,
    }
}

fn link(m: &LinkMessage) -> Option<HostLink> {
    // Bridge-family link messages describe bridge port state, not the device.
    if m.header.interface_family == AddressFamily::Bridge {
        return None;
    }
    let mut name = None;
    let mut mac = None;
    let mut mtu = None;
    for attr in &m.attributes {
        match attr {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Address(a) => mac = <[u8; 6]>::try_from(a.as_slice()).ok(),
            LinkAttribute::Mtu(v) => mtu = Some(*v),
            _ => {}
        }
    }
    Some(HostLink {
        ifindex: m.header.index,
        name: name?,
        mac: mac?,
        mtu: mtu?,
        up: m.header.flags.contains(LinkFlags::Up),
        carrier: m.header.flags.contains(LinkFlags::LowerUp),
        addrs: Vec::new(),
    })
}

fn address(m: &AddressMessage) -> Option<(u32, IpAddr, u8)> {
    let mut address = None;
    let mut local = None;
    for attr in &m.attributes {
        match attr {
            AddressAttribute::Address(a) => address = Some(*a),
            AddressAttribute::Local(a) => local = Some(*a),
            _ => {}
        }
    }
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point
    // links and the only one present for IPv6.
    let addr = local.or(address)?;
    Some((m.header.index, addr, m.header.prefix_len))
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn route(m: &RouteMessage) -> Option<HostRoute> {
    let h = &m.header;
    // Cached clones (PMTU exceptions, redirects) are not configuration.
    if h.flags.contains(RouteFlags::Cloned) {
        return None;
    }
    let unspecified = match h.address_family {
        AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    let mut table = u32::from(h.table);
    let mut dst = None;
    let mut gateway = None;
    let mut ifindex = None;
    let mut prefsrc = None;
    let mut metric = 0;
    let mut multipath = false;
    for attr in &m.attributes {
        match attr {
            // RTA_TABLE carries table ids that do not fit the header's byte.
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(a) => dst = route_ip(a),
            RouteAttribute::Gateway(a) => gateway = route_ip(a),
            RouteAttribute::Via(RouteVia::Inet(v4)) => gateway = Some(IpAddr::V4(*v4)),
            RouteAttribute::Via(RouteVia::Inet6(v6)) => gateway = Some(IpAddr::V6(*v6)),
            RouteAttribute::Oif(i) => ifindex = Some(*i),
            RouteAttribute::PrefSource(a) => prefsrc = route_ip(a),
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::MultiPath(_) => multipath = true,
            _ => {}
        }
    }
    if table != RT_TABLE_MAIN {
        return None;
    }
    // A multipath route has no single output interface or gateway; the model has no place
    // for it and a director would need a policy to pick a hop, so it is not tracked.
    if multipath && ifindex.is_none() {
        return None;
    }
    let kind = match h.kind {
        RouteType::Unicast => RouteKind::Unicast,
        RouteType::BlackHole => RouteKind::Blackhole,
        RouteType::Unreachable => RouteKind::Unreachable,
        RouteType::Local => RouteKind::Local,
        other => RouteKind::Other(u8::from(other)),
    };
    Some(HostRoute {
        dst: dst.unwrap_or(unspecified),
        prefix_len: h.destination_prefix_length,
        gateway,
        ifindex,
        prefsrc,
        metric,
        kind,
    })
}

fn neighbour(m: &NeighbourMessage) -> Option<HostNeighbor> {
    let h = &m.header;
    // Proxy entries are answers we give, not neighbours we know; bridge FDB entries have
    // no IP address and fall out below.
    if h.flags.contains(NeighbourFlags::Proxy) {
        return None;
    }
    let mut ip = None;
    let mut mac = None;
    for attr in &m.attributes {
        match attr {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => {
                ip = Some(IpAddr::V4(*v4));
            }
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => {
                ip = Some(IpAddr::V6(*v6));
            }
            NeighbourAttribute::LinkLayerAddress(a) => {
                mac = <[u8; 6]>::try_from(a.as_slice()).ok();
            }
            _ => {}
        }
    }
    Some(HostNeighbor {
        ifindex: h.ifindex,
        ip: ip?,
        mac,
        state: neigh_state(h.state),
    })
}

fn neigh_state(s: netlink_packet_route::neighbour::NeighbourState) -> NeighState {
    use netlink_packet_route::neighbour::NeighbourState as K;
    match s {
        K::Permanent => NeighState::Permanent,
        K::Reachable => NeighState::Reachable,
        K::Stale => NeighState::Stale,
        K::Delay => NeighState::Delay,
        K::Probe => NeighState::Probe,
        K::Failed => NeighState::Failed,
        K::Incomplete => NeighState::Incomplete,
        K::Noarp => NeighState::Noarp,
        other => NeighState::Other(u16::from(other)),
    }
}
