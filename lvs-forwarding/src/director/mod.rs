//! The Director: one Ethernet frame in, one verdict out.
//!
//! A [`Director`] owns a [`Balancer`] (services, connection tables,
//! schedulers), a neighbour cache and a bounded queue of frames waiting for a
//! MAC. It is driven sans-IO, in the style of quinn-proto: the embedder hands
//! it a frame and the time ([`Director::process`]), sends whatever the verdict
//! says, drains [`Director::poll_transmit`] for frames the Director wants to
//! send on its own (ARP/ND requests, frames released by a resolution), and
//! calls [`Director::on_timeout`] when [`Director::next_timeout`] comes.
//!
//! The per-packet path parses once ([`parse_frame`]), asks the balancer for the
//! connection, rewrites the frame in place with the transformers of
//! [`crate::xform`] and looks up the next hop's MAC. It allocates nothing:
//! every table, queue and buffer is sized at construction.

mod config;
mod reload;
mod verdict;

pub use config::{AddrParseError, DirectorConfig, IpCidr, Link};
pub use reload::{ReloadError, ReloadSummary};
pub use verdict::{DropCounters, DropReason, Verdict};

use alloc::string::String;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};

use heapless::Deque;
use lvs_core::balancer::{Balancer, Method, Miss, PacketInfo, Target};
use lvs_core::config::listing::{ListOptions, write_listing};
use lvs_core::{Instant, Protocol, TunnelType};

use crate::neigh::{HoldQueue, Lookup, NeighborCache};
use crate::wire::{Frame, IpFamily, IpInfo, L3, L4, MacAddr, ParseError, icmp, parse_frame};
use crate::xform::{
    self, MtuVerdict, TunnelKind, TunnelParams, XformError, arp_reply, arp_request, encap,
    icmp_frag_needed, icmp_port_unreachable, icmp_time_exceeded, nat_icmp_error_in,
    nat_icmp_error_out, nat_reply, nat_request, neighbor_advertisement, neighbor_solicitation,
    tunnel_mtu_check,
};

/// Neighbour requests and released next hops waiting for `poll_transmit`.
const TX_QUEUE: usize = 64;

/// Frames parsed and prefetched together by [`Director::process_batch`].
pub const BATCH_CHUNK: usize = 32;

/// One frame of a [`Director::process_batch`] call.
#[derive(Debug)]
pub struct BatchItem<'a> {
    /// Link the frame came in on.
    pub link: usize,
    /// Buffer holding the frame, with headroom before `start` for VS/TUN.
    pub buf: &'a mut [u8],
    /// Start of the frame in `buf`.
    pub start: usize,
    /// Length of the frame.
    pub len: usize,
    /// Buffer for a generated reply.
    pub out: &'a mut [u8],
    /// Set by `process_batch`.
    pub verdict: Verdict,
}

/// The sans-IO load balancer for Ethernet frames. See the module docs.
pub struct Director {
    cfg: DirectorConfig,
    balancer: Balancer,
    neigh: NeighborCache,
    hold: HoldQueue,
    requests: Deque<(IpAddr, usize), TX_QUEUE>,
    released: Deque<IpAddr, TX_QUEUE>,
    drops: DropCounters,
    ip_id: u16,
    routes: Routes,
}

impl core::fmt::Debug for Director {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Director")
            .field("links", &self.cfg.links.len())
            .field("balancer", &self.balancer)
            .field("drops", &self.drops.total())
            .finish()
    }
}

/// Where a packet leaves: link, next hop.
#[derive(Debug, Clone, Copy)]
struct Route {
    link: usize,
    next_hop: IpAddr,
}

impl Director {
    /// A director with no services.
    pub fn new(cfg: DirectorConfig) -> Self {
        let mut neigh = NeighborCache::new(cfg.neighbor_capacity, cfg.seed.rotate_left(17));
        for (ip, mac) in &cfg.neighbors {
            neigh.add_static(*ip, *mac);
        }
        let balancer = Balancer::new(cfg.conn_capacity_v4, cfg.conn_capacity_v6, cfg.seed);
        let hold = HoldQueue::new(cfg.hold_frames, cfg.hold_frame_size);
        Director {
            balancer,
            neigh,
            hold,
            requests: Deque::new(),
            released: Deque::new(),
            drops: DropCounters::default(),
            ip_id: 1,
            routes: Routes::new(&cfg),
            cfg,
        }
    }

    /// A director configured from rules in `ipvsadm -S -n` format.
    pub fn from_rules(cfg: DirectorConfig, rules: &str) -> Result<Self, ReloadError> {
        let mut d = Director::new(cfg);
        d.reload_rules(rules)?;
        Ok(d)
    }

    /// The balancer (services, tables, counters).
    pub fn balancer(&self) -> &Balancer {
        &self.balancer
    }

    /// Mutable balancer, for configuration by API (weights, services).
    pub fn balancer_mut(&mut self) -> &mut Balancer {
        &mut self.balancer
    }

    /// The configuration.
    pub fn config(&self) -> &DirectorConfig {
        &self.cfg
    }

    /// Drop and frame counters.
    pub fn drops(&self) -> &DropCounters {
        &self.drops
    }

    /// The neighbour cache.
    pub fn neighbors(&self) -> &NeighborCache {
        &self.neigh
    }

    /// The `ipvsadm -Ln` listing (with `opts` choosing `--stats`, `--rate`...).
    pub fn listing(&self, opts: &ListOptions) -> String {
        let mut s = String::new();
        let services = self.balancer.services().iter().map(|(_, s)| s);
        // Writing to a String cannot fail.
        let _ = write_listing(&mut s, services, opts);
        s
    }

    // ----- time ------------------------------------------------------------

    /// When [`Director::on_timeout`] next has work.
    pub fn next_timeout(&self) -> Option<Instant> {
        [self.balancer.next_timeout(), self.neigh.next_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Expire connections, retry or give up neighbour resolutions, advance
    /// rates. Drain [`Director::poll_transmit`] afterwards.
    pub fn on_timeout(&mut self, now: Instant) {
        self.balancer.on_timeout(now, self.cfg.expire_budget);
        let requests = &mut self.requests;
        let hold = &mut self.hold;
        let drops = &mut self.drops;
        let links = &self.cfg.links;
        self.neigh.on_timeout(
            now,
            |ip| {
                if let Some(link) = link_for(links, &ip) {
                    let _ = requests.push_back((ip, link));
                }
            },
            |ip| {
                for _ in 0..hold.discard(ip) {
                    drops.count(DropReason::NeighborUnreachable);
                }
            },
        );
    }

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

    fn neighbor_request(&self, ip: IpAddr, link: usize, out: &mut [u8]) -> Option<usize> {
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

    // ----- frames ----------------------------------------------------------

    /// Process frames in order, with the same results as calling
    /// [`Director::process`] for each. The work is split in two passes over
    /// chunks of [`BATCH_CHUNK`] frames: the first parses every frame and
    /// prefetches the connection-table entries it may touch, the second
    /// processes them, so the cache misses of a large table overlap instead
    /// of queueing behind each other.
    pub fn process_batch(&mut self, now: Instant, items: &mut [BatchItem<'_>]) {
        for chunk in items.chunks_mut(BATCH_CHUNK) {
            // One slot per frame, `None` for a frame whose bounds are bad
            // (process_inner reports it before looking at the slot). The
            // result is written straight into its slot and the second pass
            // borrows it: a parsed frame is ~200 bytes, and moving it in
            // and out again cost more than the parse itself saved.
            let mut parsed: [Option<Result<Frame, ParseError>>; BATCH_CHUNK] = [None; BATCH_CHUNK];
            for (slot, it) in parsed.iter_mut().zip(chunk.iter()) {
                let Some(bytes) = it
                    .start
                    .checked_add(it.len)
                    .and_then(|end| it.buf.get(it.start..end))
                else {
                    continue;
                };
                *slot = Some(parse_frame(bytes));
                if let Some(Ok(f)) = slot
                    && let Some(info) = packet_info(f)
                {
                    self.balancer.prefetch(&info);
                }
            }
            for (pre, it) in parsed.iter().zip(chunk.iter_mut()) {
                it.verdict = self.process_parsed(
                    now,
                    it.link,
                    it.buf,
                    it.start,
                    it.len,
                    it.out,
                    Some(pre.as_ref()),
                );
            }
        }
    }

    /// Process one frame that arrived on `link`: `buf[start..start + len]`.
    /// Keep at least [`xform::MAX_HEADROOM`] + 14 bytes before `start` for
    /// VS/TUN. A generated reply is written to `out` (give it 1518 bytes or
    /// more).
    pub fn process(
        &mut self,
        now: Instant,
        link: usize,
        buf: &mut [u8],
        start: usize,
        len: usize,
        out: &mut [u8],
    ) -> Verdict {
        self.process_parsed(now, link, buf, start, len, out, None)
    }

    /// `pre`: `None` to parse here; `Some(parsed)` with what
    /// [`process_batch`](Self::process_batch) parsed (`Some(None)` when its
    /// bounds were bad, which process_inner finds out before using it).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn process_parsed(
        &mut self,
        now: Instant,
        link: usize,
        buf: &mut [u8],
        start: usize,
        len: usize,
        out: &mut [u8],
        pre: Option<Option<&Result<Frame, ParseError>>>,
    ) -> Verdict {
        self.drops.frames_in += 1;
        let v = self.process_inner(now, link, buf, start, len, out, pre);
        match v {
            Verdict::Forward { .. } => self.drops.forwarded += 1,
            Verdict::Reply { .. } => self.drops.generated += 1,
            Verdict::ToHost => self.drops.to_host += 1,
            Verdict::Drop(r) => self.drops.count(r),
            Verdict::Held => {}
        }
        v
    }

    #[allow(clippy::too_many_arguments)]
    fn process_inner(
        &mut self,
        now: Instant,
        link: usize,
        buf: &mut [u8],
        start: usize,
        len: usize,
        out: &mut [u8],
        pre: Option<Option<&Result<Frame, ParseError>>>,
    ) -> Verdict {
        let Some(our_mac) = self.cfg.links.get(link).map(|l| l.mac) else {
            return Verdict::Drop(DropReason::BadLink);
        };
        let Some(end) = start.checked_add(len) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        let Some(frame) = buf.get(start..end) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        // The frame is borrowed, never moved: it is ~200 bytes, and every
        // copy of it showed up as a memcpy per packet.
        let parsed;
        let res = match pre {
            Some(Some(r)) => r,
            // Unreachable: bounds that fail in process_batch fail above.
            Some(None) => return Verdict::Drop(DropReason::Malformed),
            None => {
                parsed = parse_frame(frame);
                &parsed
            }
        };
        let Ok(f) = res else {
            return Verdict::Drop(DropReason::Malformed);
        };
        if f.dst_mac != our_mac && !f.dst_mac.is_multicast() {
            return Verdict::ToHost;
        }
        match &f.l3 {
            L3::Arp(_) => self.arp(now, link, frame, f, out),
            L3::Ip(ip) => self.ip(now, link, buf, start, len, f, ip, out),
            L3::Other => Verdict::ToHost,
        }
    }

    fn owns(&self, ip: &IpAddr) -> bool {
        self.balancer.services().is_vip(*ip)
            || self
                .cfg
                .links
                .iter()
                .any(|l| l.addrs.iter().any(|c| c.addr == *ip))
    }

    fn arp(
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

    fn learn(&mut self, ip: IpAddr, mac: MacAddr, now: Instant) {
        if self.neigh.learn(ip, mac, now) {
            let _ = self.released.push_back(ip);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn ip(
        &mut self,
        now: Instant,
        link: usize,
        buf: &mut [u8],
        start: usize,
        len: usize,
        f: &Frame,
        ip: &IpInfo,
        out: &mut [u8],
    ) -> Verdict {
        let (protocol, sp, dp, flags) = match ip.l4 {
            L4::Tcp {
                src_port,
                dst_port,
                flags,
            } => (Protocol::Tcp, src_port, dst_port, flags.0),
            L4::Udp { src_port, dst_port } => (Protocol::Udp, src_port, dst_port, 0),
            L4::Icmp(_) => return self.icmp(now, link, buf, start, len, f, ip, out),
            L4::Other => {
                return if self.balancer.services().is_vip(ip.dst) {
                    Verdict::Drop(DropReason::Unforwardable)
                } else {
                    Verdict::ToHost
                };
            }
        };
        let info = PacketInfo {
            protocol,
            src: SocketAddr::new(ip.src, sp),
            dst: SocketAddr::new(ip.dst, dp),
            tcp_flags: flags,
            fwmark: 0,
            ip_len: u16::try_from(ip.total_len).unwrap_or(u16::MAX),
        };
        match self.balancer.process_in(now, &info) {
            Ok(t) => {
                if t.new {
                    self.learn_on_link(ip.src, f.src_mac, now);
                }
                self.transmit(now, buf, start, len, f, ip, &t, out, link)
            }
            Err(Miss::NotVirtual) => {
                let Some(r) = self.balancer.process_out(now, &info) else {
                    return Verdict::ToHost;
                };
                let Some(frame) = buf.get_mut(start..start + len) else {
                    return Verdict::Drop(DropReason::Malformed);
                };
                match nat_reply(frame, f, r.vip) {
                    Ok(()) => self.finish(now, ip.dst, buf, start, len),
                    Err(e) => self.xform_failed(e, buf, start, len, f, link, out),
                }
            }
            Err(Miss::NoDestination) => {
                let frame = &buf[start..start + len];
                match icmp_port_unreachable(frame, f, self.cfg.links[link].mac, out) {
                    Ok(n) => Verdict::Reply { link, len: n },
                    Err(_) => Verdict::Drop(DropReason::NoDestination),
                }
            }
            Err(Miss::NotScheduled) => Verdict::Drop(DropReason::NotScheduled),
            Err(Miss::DestUnavailable) => Verdict::Drop(DropReason::DestUnavailable),
            Err(Miss::TableFull) => Verdict::Drop(DropReason::TableFull),
            Err(_) => Verdict::Drop(DropReason::Unforwardable),
        }
    }

    /// Learn a client's MAC from its first packet when it is on-link, so
    /// that NAT replies to it need no ARP round trip.
    fn learn_on_link(&mut self, ip: IpAddr, mac: MacAddr, now: Instant) {
        if !mac.is_multicast() && self.routes.link_for(&ip).is_some() {
            if let Lookup::Unknown = self.neigh.lookup(ip, now) {
                self.learn(ip, mac, now);
            } else {
                self.neigh.refresh(ip, mac, now);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        start: usize,
        len: usize,
        f: &Frame,
        ip: &IpInfo,
        t: &Target,
        out: &mut [u8],
        in_link: usize,
    ) -> Verdict {
        let rs = t.real_server;
        match t.method {
            Method::Masquerade => {
                let Some(frame) = buf.get_mut(start..start + len) else {
                    return Verdict::Drop(DropReason::Malformed);
                };
                match nat_request(frame, f, rs) {
                    Ok(()) => self.finish(now, rs.ip(), buf, start, len),
                    Err(e) => self.xform_failed(e, buf, start, len, f, in_link, out),
                }
            }
            Method::DirectRoute => {
                let Some(frame) = buf.get_mut(start..start + len) else {
                    return Verdict::Drop(DropReason::Malformed);
                };
                let our = self.cfg.links[in_link].mac;
                match xform::dr_forward(frame, f, MacAddr::ZERO, our) {
                    // DR needs the real server on-link: it is its own next hop.
                    Ok(()) => self.finish(now, rs.ip(), buf, start, len),
                    Err(e) => self.xform_failed(e, buf, start, len, f, in_link, out),
                }
            }
            Method::Tunnel => self.tunnel(now, buf, start, len, f, ip, t, out, in_link),
            Method::Local => Verdict::ToHost,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn tunnel(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        start: usize,
        len: usize,
        f: &Frame,
        ip: &IpInfo,
        t: &Target,
        out: &mut [u8],
        in_link: usize,
    ) -> Verdict {
        let rs_ip = t.real_server.ip();
        let Some(route) = self.route(&rs_ip) else {
            return Verdict::Drop(DropReason::NoRoute);
        };
        let link = &self.cfg.links[route.link];
        let Some(src) = link
            .addrs
            .iter()
            .find(|c| c.addr.is_ipv4() == rs_ip.is_ipv4())
            .map(|c| c.addr)
        else {
            return Verdict::Drop(DropReason::NoRoute);
        };
        let kind = match t.forwarding {
            lvs_core::Forwarding::Tunnel {
                kind: TunnelType::Gue { port },
                ..
            } => TunnelKind::Gue {
                dst_port: port,
                src_port: gue_src_port(&ip.src, f.ports()),
            },
            _ => TunnelKind::Ipip,
        };
        let outer = IpFamily::of(&rs_ip);
        match tunnel_mtu_check(f, outer, kind, link.mtu) {
            Ok(MtuVerdict::Fits) | Ok(MtuVerdict::Fragment) => {}
            Ok(MtuVerdict::TooBig { mtu }) => {
                let frame = &buf[start..start + len];
                let our = self.cfg.links[in_link].mac;
                return match icmp_frag_needed(frame, f, our, ip.dst, mtu, out) {
                    Ok(n) => {
                        self.drops.count(DropReason::TooBig);
                        Verdict::Reply {
                            link: in_link,
                            len: n,
                        }
                    }
                    Err(_) => Verdict::Drop(DropReason::TooBig),
                };
            }
            Err(_) => return Verdict::Drop(DropReason::Unforwardable),
        }
        self.ip_id = self.ip_id.wrapping_add(1);
        let params = TunnelParams {
            kind,
            src_mac: link.mac,
            dst_mac: MacAddr::ZERO,
            outer_src: src,
            outer_dst: rs_ip,
            ip_id: self.ip_id,
        };
        match encap(buf, start, len, f, &params) {
            Ok((s, l)) => self.finish(now, rs_ip, buf, s, l),
            Err(XformError::TtlExpired) => {
                self.xform_failed(XformError::TtlExpired, buf, start, len, f, in_link, out)
            }
            Err(_) => Verdict::Drop(DropReason::Unforwardable),
        }
    }

    /// After a rewrite: route `dst`, fill in the Ethernet addresses, or park
    /// the frame until the next hop's MAC is known.
    fn finish(
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

    fn hold(&mut self, route: Route, frame: &[u8]) -> Verdict {
        if self.hold.push(route.next_hop, route.link, frame) {
            Verdict::Held
        } else {
            Verdict::Drop(DropReason::NeighborUnreachable)
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn xform_failed(
        &mut self,
        e: XformError,
        buf: &[u8],
        start: usize,
        len: usize,
        f: &Frame,
        link: usize,
        out: &mut [u8],
    ) -> Verdict {
        if e != XformError::TtlExpired {
            return Verdict::Drop(DropReason::Unforwardable);
        }
        let l = &self.cfg.links[link];
        let fam_v4 = f.ip().is_some_and(|i| i.src.is_ipv4());
        let Some(our_ip) = l.addrs.iter().find(|c| c.addr.is_ipv4() == fam_v4) else {
            return Verdict::Drop(DropReason::TtlExpired);
        };
        let Some(frame) = buf.get(start..start + len) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        match icmp_time_exceeded(frame, f, l.mac, our_ip.addr, out) {
            Ok(n) => {
                self.drops.count(DropReason::TtlExpired);
                Verdict::Reply { link, len: n }
            }
            Err(_) => Verdict::Drop(DropReason::TtlExpired),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn icmp(
        &mut self,
        now: Instant,
        link: usize,
        buf: &mut [u8],
        start: usize,
        len: usize,
        f: &Frame,
        ip: &IpInfo,
        out: &mut [u8],
    ) -> Verdict {
        let Some(frame) = buf.get(start..start + len) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        if let Some(n) = f.ndp() {
            if let Some(mac) = n.link_addr {
                match n.kind {
                    icmp::NdpKind::Advertisement { .. } => {
                        self.learn(IpAddr::V6(n.target), mac, now)
                    }
                    icmp::NdpKind::Solicitation
                        if self.owns(&IpAddr::V6(n.target)) && !ip.src.is_unspecified() =>
                    {
                        self.learn(ip.src, mac, now);
                    }
                    _ => {}
                }
            }
            if n.kind == icmp::NdpKind::Solicitation && self.owns(&IpAddr::V6(n.target)) {
                let mac = self.cfg.links[link].mac;
                return match neighbor_advertisement(frame, f, mac, out) {
                    Ok(n) => Verdict::Reply { link, len: n },
                    Err(_) => Verdict::Drop(DropReason::OutputTooSmall),
                };
            }
            return Verdict::ToHost;
        }
        let Some(e) = f.embedded().copied() else {
            return Verdict::ToHost;
        };
        let (Some(proto), Some((esp, edp))) = (Protocol::from_number(e.protocol), e.ports) else {
            return Verdict::ToHost;
        };
        // From the client side, about one of our replies (VIP -> client).
        let client = SocketAddr::new(e.dst, edp);
        let vip = SocketAddr::new(e.src, esp);
        if let Some(t) = self.balancer.find_in(proto, client, vip) {
            let rs = t.real_server;
            let Some(frame) = buf.get_mut(start..start + len) else {
                return Verdict::Drop(DropReason::Malformed);
            };
            return match t.method {
                Method::Masquerade => match nat_icmp_error_in(frame, f, rs) {
                    Ok(()) => self.finish(now, rs.ip(), buf, start, len),
                    Err(e) => self.xform_failed(e, buf, start, len, f, link, out),
                },
                // DR/TUN/local: relayed unchanged through the connection's method.
                _ => self.transmit(now, buf, start, len, f, ip, &t, out, link),
            };
        }
        // From the real-server side of a NAT connection (client -> RS quoted).
        let rs = SocketAddr::new(e.dst, edp);
        let client = SocketAddr::new(e.src, esp);
        if let Some(r) = self.balancer.find_out(proto, rs, client) {
            let Some(frame) = buf.get_mut(start..start + len) else {
                return Verdict::Drop(DropReason::Malformed);
            };
            return match nat_icmp_error_out(frame, f, r.vip) {
                Ok(()) => self.finish(now, ip.dst, buf, start, len),
                Err(e) => self.xform_failed(e, buf, start, len, f, link, out),
            };
        }
        if self.balancer.services().is_vip(ip.dst) {
            Verdict::Drop(DropReason::IcmpNoConnection)
        } else {
            Verdict::ToHost
        }
    }

    /// The link and next hop for `dst`: on-link if one of our prefixes holds
    /// it, otherwise the gateway of its family.
    #[inline]
    fn route(&self, dst: &IpAddr) -> Option<Route> {
        if let Some(link) = self.routes.link_for(dst) {
            return Some(Route {
                link,
                next_hop: *dst,
            });
        }
        match dst {
            IpAddr::V4(_) => self.routes.gw_v4,
            IpAddr::V6(_) => self.routes.gw_v6,
        }
    }
}

/// The on-link prefixes of every link, flattened per family and masked once
/// at construction, with the gateways' routes resolved: `route` runs for
/// every forwarded packet, and walking `links[].addrs[]` with
/// `IpCidr::contains` (family match, mask from the prefix length, for each
/// prefix of each link) was a good part of its cost. The configuration does
/// not change after construction, so neither does this.
#[derive(Debug)]
struct Routes {
    /// (network, mask, link), in link order then address order, so that
    /// the first match is the link [`link_for`] would find.
    v4: Vec<(u32, u32, usize)>,
    v6: Vec<(u128, u128, usize)>,
    gw_v4: Option<Route>,
    gw_v6: Option<Route>,
}

impl Routes {
    fn new(cfg: &DirectorConfig) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (i, l) in cfg.links.iter().enumerate() {
            for c in &l.addrs {
                // The masks of IpCidr::contains.
                match c.addr {
                    IpAddr::V4(a) => {
                        let p = u32::from(c.prefix.min(32));
                        let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                        v4.push((u32::from(a) & mask, mask, i));
                    }
                    IpAddr::V6(a) => {
                        let p = u32::from(c.prefix.min(128));
                        let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                        v6.push((u128::from(a) & mask, mask, i));
                    }
                }
            }
        }
        let gw = |gw: Option<IpAddr>| {
            let gw = gw?;
            let link = link_for(&cfg.links, &gw)?;
            Some(Route { link, next_hop: gw })
        };
        Routes {
            v4,
            v6,
            gw_v4: gw(cfg.gateway_v4.map(IpAddr::V4)),
            gw_v6: gw(cfg.gateway_v6.map(IpAddr::V6)),
        }
    }

    /// Same answer as [`link_for`] on the configuration's links.
    #[inline]
    fn link_for(&self, ip: &IpAddr) -> Option<usize> {
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(*a);
                self.v4
                    .iter()
                    .find(|(net, mask, _)| a & mask == *net)
                    .map(|r| r.2)
            }
            IpAddr::V6(a) => {
                let a = u128::from(*a);
                self.v6
                    .iter()
                    .find(|(net, mask, _)| a & mask == *net)
                    .map(|r| r.2)
            }
        }
    }
}

/// The balancer's view of a TCP/UDP frame (None for anything else).
#[inline]
fn packet_info(f: &Frame) -> Option<PacketInfo> {
    let ip = f.ip()?;
    let (protocol, sp, dp, flags) = match ip.l4 {
        L4::Tcp {
            src_port,
            dst_port,
            flags,
        } => (Protocol::Tcp, src_port, dst_port, flags.0),
        L4::Udp { src_port, dst_port } => (Protocol::Udp, src_port, dst_port, 0),
        _ => return None,
    };
    Some(PacketInfo {
        protocol,
        src: SocketAddr::new(ip.src, sp),
        dst: SocketAddr::new(ip.dst, dp),
        tcp_flags: flags,
        fwmark: 0,
        ip_len: u16::try_from(ip.total_len).unwrap_or(u16::MAX),
    })
}

/// The link whose prefixes hold `ip`.
fn link_for(links: &[Link], ip: &IpAddr) -> Option<usize> {
    links
        .iter()
        .position(|l| l.addrs.iter().any(|c| c.contains(ip)))
}

/// Write the Ethernet destination and source.
#[inline]
fn set_macs(frame: &mut [u8], dst: MacAddr, src: MacAddr) -> Option<()> {
    let m = frame.get_mut(0..12)?;
    m[..6].copy_from_slice(&dst.0);
    m[6..].copy_from_slice(&src.0);
    Some(())
}

/// The GUE UDP source port: a flow hash in the ephemeral range, so that
/// receivers spreading by 5-tuple keep one flow on one queue (as the
/// kernel's `udp_flow_src_port`).
fn gue_src_port(src: &IpAddr, ports: Option<(u16, u16)>) -> u16 {
    let a = lvs_core::addr::fold_addr(src);
    let (sp, dp) = ports.unwrap_or((0, 0));
    let h = (a ^ (u32::from(sp) << 16 | u32::from(dp))).wrapping_mul(0x9e37_79b1);
    49152 + (h >> 18) as u16 % 16384
}
