//! ARP / neighbour discovery on the packet path, and frames the director
//! sends on its own: answers for the VIPs and its addresses, learning, and
//! parking frames until a next hop's MAC is known (see [`crate::neigh`]).
//!
//! What the cache may learn is decided here, as Linux's `arp_process` and
//! `ndisc_recv_ns`/`ndisc_recv_na` decide it, because a director on the
//! Internet's edge is a target: an on-link host that could teach it any
//! IP-to-MAC mapping could steer a client's return traffic or a real
//! server's share to itself. So:
//!
//! - ARP is checked alone first ([`ArpInfo::check`]: the sender MAC is the
//!   frame's unicast source, the sender address one a host can have, not
//!   ours), then learned from only if the sender is on the link the frame
//!   arrived on (its route is on-link through that link);
//! - a request for one of our addresses makes the sender's entry STALE (it
//!   is probed before it is trusted); a reply only completes an entry being
//!   resolved or probed (Linux `arp_accept` 0: unsolicited replies create or
//!   change nothing); an announcement (gratuitous ARP) only updates an
//!   existing entry;
//! - NDP is learned from only once validated (`icmp_in.rs`);
//! - data frames teach nothing: their source MAC is whatever the previous
//!   hop (or a forger) put there.
//!
//! [`ArpInfo::check`]: crate::wire::ArpInfo::check

use core::net::IpAddr;

use lvs_core::Instant;

use super::route::{Route, set_macs};
use super::{Director, DropReason, Verdict};
use crate::neigh::{Learned, Lookup, NeighState};
use crate::wire::{Frame, MacAddr};
use crate::xform::icmp_gen::{arp_request_unicast, neighbor_solicitation_unicast};
use crate::xform::{arp_reply, arp_request, neighbor_solicitation};

/// Slots of the Director's next-hop memo (a power of two).
pub(super) const HOP_SLOTS: usize = 16;

/// What [`Director::finish`] found for a destination: the route's link and
/// the next hop's MAC. It holds while the routes are the same (emptied by
/// `set_network`), the neighbour cache has not changed
/// ([`NeighborCache::epoch`](crate::neigh::NeighborCache)) and `until` has
/// not come (the next hop's REACHABLE time): exactly as long as the route
/// lookup and the cache would answer the same, without side effects. So an
/// established flow's packet skips both lookups.
#[derive(Debug, Clone, Copy)]
pub(super) struct NextHop {
    dst: IpAddr,
    link: usize,
    mac: MacAddr,
    our: MacAddr,
    until: Instant,
    epoch: u64,
}

/// The memo slot of a destination: its last bits (the destinations are a
/// handful of real servers; a collision only costs the lookups).
#[inline(always)]
fn hop_slot(ip: &IpAddr) -> usize {
    let last = match ip {
        IpAddr::V4(a) => a.octets()[3],
        IpAddr::V6(a) => a.octets()[15],
    };
    usize::from(last) & (HOP_SLOTS - 1)
}

impl Director {
    /// A frame the Director wants to send by itself: a neighbour request, or
    /// a held frame whose next hop is now known. Returns `(link, len)` of the
    /// frame written to `out`, or `None` when there is nothing to send.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> Option<(usize, usize)> {
        while let Some((ip, link)) = self.requests.pop_front() {
            if let Some(len) = self.neighbor_request(ip, link, out) {
                self.drops.generated += 1;
                return Some((link, len));
            }
        }
        while let Some(ip) = self.released.front().copied() {
            let Some((link, len)) = self.hold.pop_for(ip, out) else {
                self.released.pop_front();
                continue;
            };
            let mac = match self.neigh.lookup(ip, Instant::ZERO) {
                Lookup::Known(m) => m,
                _ => {
                    self.drops.count(DropReason::NeighborUnreachable);
                    continue;
                }
            };
            let Some(l) = self.cfg.links.get(link) else {
                continue;
            };
            if set_macs(&mut out[..len], mac, l.mac).is_none() {
                continue;
            }
            self.drops.forwarded += 1;
            return Some((link, len));
        }
        None
    }

    /// The frames held until their next hop's MAC is known, each as
    /// `(next hop, link)`, in no particular order. An embedder that stops
    /// (an offline run at the end of its capture) reports these: they were
    /// neither sent nor dropped.
    pub fn held_frames(&self) -> impl Iterator<Item = (IpAddr, usize)> + '_ {
        self.hold.iter()
    }

    /// The frame held last, as `(next hop, link)`: after a
    /// [`Verdict::Held`], the next hop that frame waits for.
    pub fn last_held(&self) -> Option<(IpAddr, usize)> {
        self.hold.newest()
    }

    /// The next hops being resolved: a request went out and no answer came
    /// yet (INCOMPLETE), in no particular order.
    pub fn unresolved(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.neigh.incomplete()
    }

    /// The request for `ip` its entry wants now: broadcast / solicited-node
    /// multicast while INCOMPLETE, unicast to the known MAC in PROBE (RFC
    /// 4861 §7.3.3, Linux `arp_solicit`), nothing in any other state (the
    /// entry was confirmed or removed since the request was queued).
    pub(super) fn neighbor_request(
        &self,
        ip: IpAddr,
        link: usize,
        out: &mut [u8],
    ) -> Option<usize> {
        let unicast = match self.neigh.state(ip)? {
            NeighState::Incomplete { .. } => None,
            NeighState::Probe { mac, .. } => Some(mac),
            _ => return None,
        };
        let l = self.cfg.links.get(link)?;
        let src = l
            .addrs
            .iter()
            .find(|c| c.contains(&ip))
            .or_else(|| l.addrs.iter().find(|c| c.addr.is_ipv4() == ip.is_ipv4()))?;
        match (src.addr, ip, unicast) {
            (IpAddr::V4(s), IpAddr::V4(t), None) => arp_request(out, l.mac, s, t).ok(),
            (IpAddr::V4(s), IpAddr::V4(t), Some(m)) => {
                arp_request_unicast(out, l.mac, s, m, t).ok()
            }
            (IpAddr::V6(s), IpAddr::V6(t), None) => neighbor_solicitation(out, l.mac, s, t).ok(),
            (IpAddr::V6(s), IpAddr::V6(t), Some(m)) => {
                neighbor_solicitation_unicast(out, l.mac, s, m, t).ok()
            }
            _ => None,
        }
    }

    pub(super) fn owns(&self, ip: &IpAddr) -> bool {
        self.balancer.services().is_vip(*ip)
            || self
                .cfg
                .links
                .iter()
                .any(|l| l.addrs.iter().any(|c| c.addr == *ip))
    }

    /// Whether `ip` is a neighbour on `link`: its route leaves through
    /// `link` with `ip` itself as the next hop (an on-link prefix of the
    /// link, or an on-link route). Linux's `arp_process` does not learn
    /// from senders that are not on the link the request came in on.
    pub(super) fn on_link(&self, ip: IpAddr, link: usize) -> bool {
        self.route(&ip)
            .is_some_and(|r| r.link == link && r.next_hop == ip)
    }

    pub(super) fn arp(
        &mut self,
        now: Instant,
        link: usize,
        frame: &[u8],
        f: &Frame,
        out: &mut [u8],
    ) -> Verdict {
        let Some(a) = f.arp().copied() else {
            return Verdict::ToHost;
        };
        let sender = IpAddr::V4(a.sender_ip);
        if a.check(f.src_mac).is_err() || self.owns(&sender) {
            // Includes a gratuitous ARP for one of our addresses: a
            // conflict, which must not move our own traffic either.
            return Verdict::Drop(DropReason::BadArp);
        }
        let target = IpAddr::V4(a.target_ip);
        let for_us = self.owns(&target);
        // A probe (sender 0.0.0.0) is answered but teaches nothing.
        if !a.is_probe() && self.on_link(sender, link) {
            let r = if a.is_gratuitous() {
                self.neigh.announce(sender, a.sender_mac, now)
            } else if a.is_reply() && for_us {
                self.neigh.reply(sender, a.sender_mac, now)
            } else if a.is_request() && for_us {
                self.neigh.solicited_by(sender, a.sender_mac, now)
            } else {
                Learned::Ignored
            };
            self.learned(sender, r);
        }
        if a.is_request() && for_us {
            let mac = self.cfg.links[link].mac;
            return match arp_reply(frame, f, mac, out) {
                Ok(len) => Verdict::Reply { link, len },
                Err(_) => Verdict::Drop(DropReason::OutputTooSmall),
            };
        }
        Verdict::ToHost
    }

    /// After the cache took ARP/NDP from the wire: release frames held for
    /// a completed resolution, and record news for the other workers.
    pub(super) fn learned(&mut self, ip: IpAddr, r: Learned) {
        if r == Learned::Resolved && !self.released.iter().any(|x| *x == ip) {
            let _ = self.released.push_back(ip);
        }
        if r.is_news()
            && let Some(mac) = self.neigh.state(ip).and_then(|s| s.mac())
        {
            self.record_learned(ip, mac);
        }
    }

    /// After a rewrite: route `dst`, fill in the Ethernet addresses, or park
    /// the frame until the next hop's MAC is known.
    #[inline]
    pub(super) fn finish(
        &mut self,
        now: Instant,
        dst: IpAddr,
        buf: &mut [u8],
        start: usize,
        len: usize,
    ) -> Verdict {
        let slot = hop_slot(&dst);
        if let Some(h) = &self.hops[slot]
            && h.dst == dst
            && h.epoch == self.neigh.epoch()
            && now < h.until
        {
            let (link, mac, our) = (h.link, h.mac, h.our);
            return match buf
                .get_mut(start..start + len)
                .and_then(|f| set_macs(f, mac, our))
            {
                Some(()) => Verdict::Forward { link, start, len },
                None => Verdict::Drop(DropReason::Malformed),
            };
        }
        self.finish_slow(now, dst, buf, start, len)
    }

    /// [`Director::finish`] without a memo: route, resolve, and remember the
    /// answer when the MAC is known.
    #[inline(never)]
    fn finish_slow(
        &mut self,
        now: Instant,
        dst: IpAddr,
        buf: &mut [u8],
        start: usize,
        len: usize,
    ) -> Verdict {
        let Some(route) = self.route(&dst) else {
            return Verdict::Drop(DropReason::NoRoute);
        };
        let our = self.cfg.links[route.link].mac;
        let Some(frame) = buf.get_mut(start..start + len) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        match self.neigh.resolve_until(route.next_hop, now) {
            (Lookup::Known(mac), until) => {
                if set_macs(frame, mac, our).is_none() {
                    return Verdict::Drop(DropReason::Malformed);
                }
                self.hops[hop_slot(&dst)] = Some(NextHop {
                    dst,
                    link: route.link,
                    mac,
                    our,
                    until,
                    epoch: self.neigh.epoch(),
                });
                Verdict::Forward {
                    link: route.link,
                    start,
                    len,
                }
            }
            (Lookup::Pending, _) => self.hold(route, frame),
            (Lookup::Unknown, _) => {
                if !self.neigh.start(route.next_hop, now) {
                    return Verdict::Drop(DropReason::NeighborUnreachable);
                }
                let _ = self.requests.push_back((route.next_hop, route.link));
                self.hold(route, frame)
            }
        }
    }

    pub(super) fn hold(&mut self, route: Route, frame: &[u8]) -> Verdict {
        if self.hold.push(route.next_hop, route.link, frame) {
            Verdict::Held
        } else {
            Verdict::Drop(DropReason::NeighborUnreachable)
        }
    }
}
