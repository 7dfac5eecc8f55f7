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
//! The per-packet path parses once ([`parse_frame`](crate::wire::parse_frame)), asks the balancer for the
//! connection, rewrites the frame in place with the transformers of
//! [`crate::xform`] and looks up the next hop's MAC. It allocates nothing:
//! every table, queue and buffer is sized at construction.
//!
//! Offloads ([`Director::process_offload`]): a frame may come with a partial L4 checksum
//! and be a GSO super-frame ([`Offload`]). On entry the offload is checked against the
//! parsed frame: a partial checksum that is not the TCP/UDP checksum of the packet (ICMP,
//! other protocols, odd `csum_start`) is completed in software right away, so the rest of
//! the path only meets partial TCP/UDP checksums; a GSO frame whose kind does not match the
//! packet is dropped as malformed, and one that is a single segment loses its GSO mark.
//! After that `*offload` always describes the bytes in the buffer. A frame parked for
//! neighbour resolution has its checksum completed first (the hold queue keeps bytes only,
//! and `poll_transmit` frames are complete); a GSO super-frame is never parked: it is dropped
//! (counted as `NeighborUnreachable`) while the resolution it triggered goes on.

mod config;
mod forward;
mod host;
mod icmp_in;
mod martian;
mod neighbors;
mod network;
mod ratelimit;
mod reload;
mod route;
mod verdict;

pub use config::{
    AddrParseError, DirectorConfig, ICMP_MSGS_BURST, ICMP_MSGS_PER_SEC, ICMP_RATELIMIT_MS,
    IcmpLimits, IpCidr, Link, MartianChecks, RouteEntry,
};
pub use network::NetworkError;
pub use ratelimit::{GLOBAL_REFILL_MIN_MS, PEER_SLOTS, XRLIM_BURST_FACTOR};
pub use reload::{DIRECTOR_CAPABILITIES, ReloadError, ReloadSummary};
pub use verdict::{DropCounters, DropReason, Verdict};

use alloc::string::String;
use core::net::{IpAddr, SocketAddr};

use heapless::Deque;
use lvs_core::balancer::{Balancer, Miss, PacketInfo};
use lvs_core::config::listing::{ListOptions, write_listing};
use lvs_core::{Instant, Protocol};

use crate::neigh::{HoldQueue, NeighborCache};
use crate::offload::Offload;
use crate::wire::{Frame, IpInfo, L3, L4, ParseError, ipv4, parse_frame_into};

use crate::wire::MacAddr;
use crate::xform::{icmp_port_unreachable, nat_reply, nat_reply_partial};
use network::LEARNED_QUEUE;
use route::Routes;

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
    /// The frame's offload state on input ([`Offload::NONE`] for a wire frame); after
    /// `process_batch`, that of the forwarded frame, as [`Director::process_offload`]
    /// leaves it.
    pub offload: Offload,
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
    /// Neighbours learned from the wire, for other workers
    /// ([`Director::poll_neighbor_learned`]).
    learned: Deque<(IpAddr, MacAddr), LEARNED_QUEUE>,
    /// Offload state of the frame being processed: copied in from
    /// `process_offload`'s argument and back out, so that it is not one more
    /// argument through every function of the per-packet path.
    offload: Offload,
    /// The time of the frame being processed (for the rate limits of the
    /// replies generated deep in the path), set with `offload`.
    now: Instant,
    /// Rate limits of generated ICMP messages and resets.
    limiter: ratelimit::RateLimiter,
    /// Sources that are the director itself, a VIP or a real server.
    sources: martian::SourceFilter,
    /// Recent next hops of forwarded packets (see [`neighbors::NextHop`]).
    hops: [Option<neighbors::NextHop>; neighbors::HOP_SLOTS],
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

impl Director {
    /// A director with no services.
    pub fn new(cfg: DirectorConfig) -> Self {
        let mut neigh = NeighborCache::new(cfg.neighbor_capacity, cfg.seed.rotate_left(17));
        for (ip, mac) in &cfg.neighbors {
            neigh.add_static(*ip, *mac);
        }
        let balancer = Balancer::with_capabilities(
            cfg.conn_capacity_v4,
            cfg.conn_capacity_v6,
            cfg.seed,
            reload::DIRECTOR_CAPABILITIES,
        );
        let hold = HoldQueue::new(cfg.hold_frames, cfg.hold_frame_size);
        Director {
            balancer,
            neigh,
            hold,
            requests: Deque::new(),
            released: Deque::new(),
            drops: DropCounters::default(),
            ip_id: 1,
            routes: Routes::new(&cfg.links, &cfg.routes, cfg.gateway_v4, cfg.gateway_v6),
            learned: Deque::new(),
            offload: Offload::NONE,
            now: Instant::ZERO,
            limiter: ratelimit::RateLimiter::new(cfg.icmp_limits, cfg.seed.rotate_left(29)),
            sources: martian::SourceFilter::new(),
            hops: [None; neighbors::HOP_SLOTS],
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

    /// Mutable balancer, for configuration by API (weights, services). The
    /// martian filter's table of VIPs and real servers is rebuilt on the next
    /// frame (one allocation, after a configuration change only).
    pub fn balancer_mut(&mut self) -> &mut Balancer {
        self.sources.invalidate();
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
        let routes = &self.routes;
        self.neigh.on_timeout(
            now,
            |ip| {
                if let Some(r) = routes.lookup(&ip) {
                    let _ = requests.push_back((ip, r.link));
                }
            },
            |ip| {
                for _ in 0..hold.discard(ip) {
                    drops.count(DropReason::NeighborUnreachable);
                }
            },
        );
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
            // One frame and one result per slot, the result `None` for a
            // frame whose bounds are bad (process_inner reports it before
            // looking at the slot). Frames are parsed straight into their
            // slot and the second pass borrows them: a parsed frame is ~200
            // bytes, and moving it in and out again cost more than the
            // parse itself saved.
            let mut frames = [Frame::EMPTY; BATCH_CHUNK];
            let mut parsed: [Option<Result<(), ParseError>>; BATCH_CHUNK] = [None; BATCH_CHUNK];
            for ((slot, f), it) in parsed.iter_mut().zip(frames.iter_mut()).zip(chunk.iter()) {
                let Some(bytes) = it
                    .start
                    .checked_add(it.len)
                    .and_then(|end| it.buf.get(it.start..end))
                else {
                    continue;
                };
                let r = parse_frame_into(bytes, f);
                *slot = Some(r);
                if r.is_ok()
                    && let Some(info) = packet_info(f)
                {
                    self.balancer.prefetch(&info);
                }
            }
            for ((pre, f), it) in parsed.iter().zip(frames.iter()).zip(chunk.iter_mut()) {
                self.offload = it.offload;
                it.verdict = self.process_parsed(
                    now,
                    it.link,
                    it.buf,
                    it.start,
                    it.len,
                    it.out,
                    Some(pre.map(|r| r.map(|()| f))),
                );
                it.offload = self.offload;
            }
        }
    }

    /// Process one frame that arrived on `link`: `buf[start..start + len]`.
    /// Keep at least [`crate::xform::MAX_HEADROOM`] bytes before `start` for
    /// VS/TUN. A generated reply is written to `out` (give it 1518 bytes or
    /// more). The frame is a wire frame: complete checksums, no GSO (see
    /// [`Director::process_offload`] for frames with offload metadata).
    pub fn process(
        &mut self,
        now: Instant,
        link: usize,
        buf: &mut [u8],
        start: usize,
        len: usize,
        out: &mut [u8],
    ) -> Verdict {
        self.offload = Offload::NONE;
        self.process_parsed(now, link, buf, start, len, out, None)
    }

    /// [`Director::process`] for a frame with offload metadata (read from the
    /// `virtio_net_hdr` of a `PACKET_VNET_HDR` socket or a TAP with `IFF_VNET_HDR`):
    /// `offload` describes `buf[start..start + len]` on input; offsets in it count from
    /// `start`.
    ///
    /// On return, `*offload` says what to send with the frame:
    /// * [`Verdict::Forward`]: the forwarded frame's state, for its `virtio_net_hdr`.
    ///   VS/NAT keeps a partial checksum partial (updated for the address change), VS/DR
    ///   passes everything through, VS/TUN completes a partial checksum in software
    ///   ([`Offload::NONE`]) or, for a GSO super-frame, keeps `gso` and sets
    ///   [`Offload::encap`]: the port must then cut the frame with
    ///   [`crate::gso::segment`] (see [`Offload::needs_software_gso`]).
    /// * [`Verdict::ToHost`]: the state of the (unchanged, or checksum-completed) frame.
    /// * [`Verdict::Reply`], [`Verdict::Held`], [`Verdict::Drop`]: [`Offload::NONE`];
    ///   replies and frames from [`Director::poll_transmit`] are always complete.
    #[allow(clippy::too_many_arguments)]
    pub fn process_offload(
        &mut self,
        now: Instant,
        link: usize,
        buf: &mut [u8],
        start: usize,
        len: usize,
        offload: &mut Offload,
        out: &mut [u8],
    ) -> Verdict {
        self.offload = *offload;
        let v = self.process_parsed(now, link, buf, start, len, out, None);
        *offload = self.offload;
        v
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
        pre: Option<Option<Result<&Frame, ParseError>>>,
    ) -> Verdict {
        self.drops.frames_in += 1;
        self.now = now;
        let v = self.process_inner(now, link, buf, start, len, out, pre);
        match v {
            Verdict::Forward { .. } => self.drops.forwarded += 1,
            Verdict::Reply { .. } => {
                self.drops.generated += 1;
                self.offload = Offload::NONE;
            }
            Verdict::ToHost => self.drops.to_host += 1,
            Verdict::Drop(r) => {
                self.drops.count(r);
                self.offload = Offload::NONE;
            }
            Verdict::Held => self.offload = Offload::NONE,
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
        pre: Option<Option<Result<&Frame, ParseError>>>,
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
        let mut parsed = Frame::EMPTY;
        let f = match pre {
            Some(Some(Ok(f))) => f,
            Some(Some(Err(e))) => return Verdict::Drop(parse_drop(&e)),
            // Unreachable: bounds that fail in process_batch fail above.
            Some(None) => return Verdict::Drop(DropReason::Malformed),
            None => match parse_frame_into(frame, &mut parsed) {
                Ok(()) => &parsed,
                Err(e) => return Verdict::Drop(parse_drop(&e)),
            },
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
        if ip.header_len > ipv4::MIN_HEADER_LEN
            && ip.src.is_ipv4()
            && let Some(r) = self.ipv4_header_check(buf, start, f, ip)
        {
            return Verdict::Drop(r);
        }
        if !self.offload.is_none() {
            return self.ip_offload(now, link, buf, start, len, f, ip, out);
        }
        self.ip_checked(now, link, buf, start, len, f, ip, out)
    }

    /// What `ip_rcv` checks of an IPv4 header beyond what the parser did
    /// (version, IHL, total length against the frame, header checksum): its
    /// options (source routes). `None`: valid.
    #[inline(always)]
    fn ipv4_header_check(
        &self,
        buf: &[u8],
        start: usize,
        f: &Frame,
        ip: &IpInfo,
    ) -> Option<DropReason> {
        if ip.header_len > ipv4::MIN_HEADER_LEN {
            let l3 = start + f.l3_offset;
            return self.ipv4_options_check(buf.get(l3..l3 + ip.header_len).unwrap_or(&[]));
        }
        None
    }

    /// The options part of [`Director::ipv4_header_check`], out of line:
    /// options are rare. `h`: the whole header.
    #[cold]
    #[inline(never)]
    fn ipv4_options_check(&self, h: &[u8]) -> Option<DropReason> {
        match ipv4::scan_options(h.get(ipv4::MIN_HEADER_LEN..).unwrap_or(&[])) {
            ipv4::OptionsVerdict::Plain => None,
            ipv4::OptionsVerdict::SourceRoute if self.cfg.martians.source_route => {
                Some(DropReason::SourceRoute)
            }
            ipv4::OptionsVerdict::SourceRoute => None,
            _ => Some(DropReason::Malformed),
        }
    }

    /// The martian-source checks (see the `martian` module) for a packet
    /// from `ip.src` to `ip.dst`. `None`: not a martian.
    #[inline(always)]
    pub(super) fn martian(&mut self, ip: &IpInfo) -> Option<DropReason> {
        self.martian_addrs(ip.src, ip.dst)
    }

    /// [`Director::martian`] on copies of the addresses: out of line, and
    /// given no reference into the parsed frame (which made the compiler
    /// copy the whole frame on every packet).
    #[inline(never)]
    fn martian_addrs(&mut self, src: IpAddr, dst: IpAddr) -> Option<DropReason> {
        if let Some(r) = martian::class_check(&src, &self.cfg.martians) {
            return Some(r);
        }
        if self.sources.is_stale() {
            self.sources.rebuild(&self.cfg.links, &self.balancer);
        }
        self.sources.check(&src, &dst, &self.cfg.martians)
    }

    /// [`Director::ip`] for a frame with offload state: checked against the
    /// packet first (see the module docs). Out of line, so that the common
    /// path of wire frames keeps its code (a call that returns into it made
    /// the compiler copy the parsed frame on every packet).
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn ip_offload(
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
        let view = forward::PacketView::of(f.l3_offset, ip);
        if let Err(r) = forward::prepare_offload(buf, start, len, view, &mut self.offload) {
            return Verdict::Drop(r);
        }
        self.ip_checked(now, link, buf, start, len, f, ip, out)
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn ip_checked(
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
        let info = match ip.l4 {
            L4::Icmp(_) => return self.icmp(now, link, buf, start, len, f, ip, out),
            _ => match packet_info(f) {
                Some(info) => info,
                None if self.balancer.services().is_vip(ip.dst) => {
                    return Verdict::Drop(DropReason::Unforwardable);
                }
                None => return Verdict::ToHost,
            },
        };
        if let Some(r) = self.martian(ip) {
            return Verdict::Drop(r);
        }
        match self.balancer.process_in(now, &info) {
            Ok(t) => self.transmit(now, buf, start, len, f, ip, &t, out, link),
            Err(Miss::NotVirtual) => {
                let Some(r) = self.balancer.process_out(now, &info) else {
                    if self.balancer.services().is_vip(ip.dst) {
                        let frame = buf.get(start..start + len).unwrap_or(&[]);
                        return self.vip_no_service(now, link, frame, f, ip, out);
                    }
                    return Verdict::ToHost;
                };
                let Some(frame) = buf.get_mut(start..start + len) else {
                    return Verdict::Drop(DropReason::Malformed);
                };
                let nat = if self.offload.csum.is_some() {
                    nat_reply_partial(frame, f, r.vip)
                } else {
                    nat_reply(frame, f, r.vip)
                };
                match nat {
                    Ok(()) => self.finish_offload(now, ip.dst, buf, start, len),
                    Err(e) => self.xform_failed(e, buf, start, len, f, link, out),
                }
            }
            Err(Miss::NoDestination) => {
                let frame = &buf[start..start + len];
                match icmp_port_unreachable(frame, f, self.cfg.links[link].mac, out) {
                    Ok(n) => self.limited_reply(now, ip.src, ratelimit::Class::Error, link, n),
                    Err(_) => Verdict::Drop(DropReason::NoDestination),
                }
            }
            Err(Miss::NotScheduled) => Verdict::Drop(DropReason::NotScheduled),
            Err(Miss::DestUnavailable) => Verdict::Drop(DropReason::DestUnavailable),
            Err(Miss::TableFull) => Verdict::Drop(DropReason::TableFull),
            Err(_) => Verdict::Drop(DropReason::Unforwardable),
        }
    }
}

/// The drop reason of a frame that did not parse.
#[cold]
#[inline(never)]
fn parse_drop(e: &ParseError) -> DropReason {
    match e {
        ParseError::HopByHopNotFirst => DropReason::MisplacedHopByHop,
        ParseError::BadHeaderChecksum => DropReason::BadIpChecksum,
        _ => DropReason::Malformed,
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
