//! ARP / neighbour discovery on the packet path, and frames the director
//! sends on its own: answers for the VIPs and its addresses, learning, and
//! parking frames until a next hop's MAC is known (see [`crate::neigh`]).

use core::net::IpAddr;

use lvs_core::Instant;

use super::route::{Route, set_macs};
use super::{Director, DropReason, Verdict};
use crate::neigh::{Learned, Lookup};
use crate::wire::{Frame, MacAddr};
use crate::xform::{arp_reply, arp_request, neighbor_solicitation};

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

    pub(super) fn neighbor_request(
        &self,
        ip: IpAddr,
        link: usize,
        out: &mut [u8],
    ) -> Option<usize> {
        let l = self.cfg.links.get(link)?;
        let src = l
            .addrs
            .iter()
            .find(|c| c.contains(&ip))
            .or_else(|| l.addrs.iter().find(|c| c.addr.is_ipv4() == ip.is_ipv4()))?;
        match (src.addr, ip) {
            (IpAddr::V4(s), IpAddr::V4(t)) => arp_request(out, l.mac, s, t).ok(),
            (IpAddr::V6(s), IpAddr::V6(t)) => neighbor_solicitation(out, l.mac, s, t).ok(),
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
        let target = IpAddr::V4(a.target_ip);
        let for_us = self.owns(&target);
        if (a.is_reply() || for_us) && !a.sender_ip.is_unspecified() {
            self.learn(sender, a.sender_mac, now);
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

    /// Learn from the wire (ARP, NDP, a client's first frame): complete a
    /// pending resolution, and record news for the other workers.
    pub(super) fn learn(&mut self, ip: IpAddr, mac: MacAddr, now: Instant) {
        let learned = self.neigh.learn(ip, mac, now);
        if learned == Learned::Resolved {
            let _ = self.released.push_back(ip);
        }
        if learned.is_news() {
            self.record_learned(ip, mac);
        }
    }

    /// Learn a client's MAC from its first packet when it is on-link, so
    /// that NAT replies to it need no ARP round trip.
    pub(super) fn learn_on_link(&mut self, ip: IpAddr, mac: MacAddr, now: Instant) {
        // On-link: the route to it has it as its own next hop (a client
        // behind a router arrives with the router's MAC).
        if !mac.is_multicast() && self.route(&ip).is_some_and(|r| r.next_hop == ip) {
            if let Lookup::Unknown = self.neigh.lookup(ip, now) {
                self.learn(ip, mac, now);
            } else if self.neigh.refresh(ip, mac, now) {
                self.record_learned(ip, mac);
            }
        }
    }

    /// After a rewrite: route `dst`, fill in the Ethernet addresses, or park
    /// the frame until the next hop's MAC is known.
    pub(super) fn finish(
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
        match self.neigh.resolve(route.next_hop, now) {
            Lookup::Known(mac) => {
                if set_macs(frame, mac, our).is_none() {
                    return Verdict::Drop(DropReason::Malformed);
                }
                Verdict::Forward {
                    link: route.link,
                    start,
                    len,
                }
            }
            Lookup::Pending => self.hold(route, frame),
            Lookup::Unknown => {
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
