//! The three forwarding methods applied to a scheduled packet: VS/NAT,
//! VS/DR and VS/TUN (with the tunnel MTU rule), then next-hop resolution,
//! and what each does with a frame's offload state (see the module docs of
//! [`super`]): NAT keeps a partial checksum partial, DR passes it through,
//! TUN completes it (or marks a GSO super-frame for software segmentation),
//! and a frame about to be parked is completed first.

use core::net::IpAddr;

use lvs_core::balancer::{Method, Target};
use lvs_core::{Instant, TunnelType};

use super::ratelimit::Class;
use super::{Director, DropReason, Verdict};
use crate::gso;
use crate::neigh::Lookup;
use crate::offload::{Encap, GsoKind, Offload};
use crate::wire::{Frame, IpFamily, IpInfo, L4, MacAddr, l4};
use crate::xform::{
    self, MtuVerdict, TunnelKind, TunnelParams, XformError, encap, icmp_frag_needed, nat_request,
    nat_request_partial, tunnel_mtu_check, tunnel_mtu_check_len,
};

impl Director {
    /// Forwards a scheduled frame whose offload state is `self.offload`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn transmit(
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
        let Some(frame) = buf.get_mut(start..start + len) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        // NAT and DR rewrite in place and then share next-hop resolution
        // (DR needs the real server on-link: it is its own next hop).
        let rewritten = match t.method {
            Method::Masquerade if self.offload.csum.is_some() => nat_request_partial(frame, f, rs),
            Method::Masquerade => nat_request(frame, f, rs),
            Method::DirectRoute => {
                xform::dr_forward(frame, f, MacAddr::ZERO, self.cfg.links[in_link].mac)
            }
            Method::Tunnel => {
                return self.tunnel(now, buf, start, len, f, ip, t, out, in_link);
            }
            Method::Local => return Verdict::ToHost,
        };
        match rewritten {
            Ok(()) => self.finish_offload(now, rs.ip(), buf, start, len),
            Err(e) => self.xform_failed(e, buf, start, len, f, in_link, out),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn tunnel(
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
        let Some(link) = self.cfg.links.get(route.link) else {
            return Verdict::Drop(DropReason::NoRoute);
        };
        // Outer source: the route's preferred source, else our address on
        // the outgoing link whose prefix holds the next hop, else the
        // first of the family there.
        let fam = |a: &IpAddr| a.is_ipv4() == rs_ip.is_ipv4();
        let Some(src) = route.src.filter(fam).or_else(|| {
            let holder = link.addrs.iter().find(|c| c.contains(&route.next_hop));
            let holder = holder.map(|c| c.addr).filter(fam);
            holder.or_else(|| link.addrs.iter().map(|c| c.addr).find(fam))
        }) else {
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
        // A GSO super-frame goes out as segments: one of them must fit.
        let mtu = match self.offload.gso {
            None => tunnel_mtu_check(f, outer, kind, link.mtu),
            Some(g) => match buf
                .get(start..start + len)
                .map(|b| gso::segment_ip_len(b, f, &g))
            {
                Some(Ok(l)) => tunnel_mtu_check_len(f, l, outer, kind, link.mtu),
                _ => return Verdict::Drop(DropReason::Malformed),
            },
        };
        match mtu {
            Ok(MtuVerdict::Fits) | Ok(MtuVerdict::Fragment) => {}
            Ok(MtuVerdict::TooBig { mtu }) => {
                let frame = &buf[start..start + len];
                let our = self.cfg.links[in_link].mac;
                return match icmp_frag_needed(frame, f, our, ip.dst, mtu, out) {
                    Ok(n) => {
                        self.drops.count(DropReason::TooBig);
                        self.limited_reply(now, ip.src, Class::Pmtu, in_link, n)
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
        // The real server decapsulates in user space and must see a complete
        // inner checksum; a super-frame is cut (and summed) by gso::segment.
        if self.offload.gso.is_none() {
            if let Some(c) = self.offload.csum {
                let done = buf
                    .get_mut(start..start + len)
                    .map(|b| gso::complete_csum(b, c));
                if !matches!(done, Some(Ok(()))) {
                    return Verdict::Drop(DropReason::Malformed);
                }
            }
            self.offload = Offload::NONE;
        }
        match encap(buf, start, len, f, &params) {
            Ok((s, l)) => {
                if self.offload.gso.is_some()
                    && !mark_encap(&mut self.offload, start + f.l3_offset - s, start - s)
                {
                    return Verdict::Drop(DropReason::Unforwardable);
                }
                self.finish_offload(now, rs_ip, buf, s, l)
            }
            Err(XformError::TtlExpired) => {
                self.xform_failed(XformError::TtlExpired, buf, start, len, f, in_link, out)
            }
            Err(_) => Verdict::Drop(DropReason::Unforwardable),
        }
    }
}

impl Director {
    /// [`Director::finish`] for a frame with offload state: a frame that would be
    /// parked (next hop not yet known) is completed in software first, since the
    /// hold queue keeps bytes only; a GSO super-frame is not parked but dropped
    /// (counted as `NeighborUnreachable`), after starting the resolution as
    /// `finish` would.
    #[inline(always)]
    pub(super) fn finish_offload(
        &mut self,
        now: Instant,
        dst: IpAddr,
        buf: &mut [u8],
        start: usize,
        len: usize,
    ) -> Verdict {
        if self.offload.is_none() {
            return self.finish(now, dst, buf, start, len);
        }
        self.finish_offload_slow(now, dst, buf, start, len)
    }

    /// The part of [`Director::finish_offload`] for frames with offload
    /// state, out of line so that wire frames pay one test.
    #[cold]
    #[inline(never)]
    fn finish_offload_slow(
        &mut self,
        now: Instant,
        dst: IpAddr,
        buf: &mut [u8],
        start: usize,
        len: usize,
    ) -> Verdict {
        let offload = self.offload;
        if let Some(route) = self.route(&dst) {
            let nh = route.next_hop;
            match self.neigh.lookup(nh, now) {
                Lookup::Known(_) => {}
                l if offload.gso.is_some() => {
                    if matches!(l, Lookup::Unknown) && self.neigh.start(nh, now) {
                        let _ = self.requests.push_back((nh, route.link));
                    }
                    return Verdict::Drop(DropReason::NeighborUnreachable);
                }
                _ => {
                    if let Some(c) = offload.csum {
                        let done = buf
                            .get_mut(start..start + len)
                            .map(|b| gso::complete_csum(b, c));
                        if !matches!(done, Some(Ok(()))) {
                            return Verdict::Drop(DropReason::Malformed);
                        }
                    }
                    self.offload = Offload::NONE;
                }
            }
        }
        self.finish(now, dst, buf, start, len)
    }
}

/// What [`prepare_offload`] needs of the parsed packet, copied out of it:
/// handing a reference into the parsed frame to an out-of-line function made
/// the compiler copy the whole frame on every packet.
#[derive(Clone, Copy)]
pub(super) struct PacketView {
    /// Offset of the IP header.
    pub(super) l3: usize,
    /// Offset of the L4 header.
    pub(super) l4: usize,
    /// End of the IP packet.
    pub(super) end: usize,
    /// `Some(true)` TCP, `Some(false)` UDP, `None` anything else or a fragment.
    pub(super) tcp: Option<bool>,
    /// IPv4.
    pub(super) v4: bool,
}

impl PacketView {
    /// The view of `ip`, whose header starts at `l3`.
    #[inline(always)]
    pub(super) fn of(l3: usize, ip: &IpInfo) -> PacketView {
        PacketView {
            l3,
            l4: ip.l4_offset,
            end: l3 + ip.total_len,
            tcp: match ip.l4 {
                _ if ip.is_fragment => None,
                L4::Tcp { .. } => Some(true),
                L4::Udp { .. } => Some(false),
                _ => None,
            },
            v4: ip.family() == IpFamily::V4,
        }
    }
}

/// Checks a frame's offload state against its parsed headers, on entry:
/// a partial checksum that is not the TCP/UDP checksum of the packet is
/// completed in software (so NAT only ever meets partial TCP/UDP sums), a
/// GSO kind that does not match the packet is refused, a GSO frame of a
/// single segment is treated as a plain one. `Err` is the drop reason.
/// Out of line: wire frames never get here.
#[cold]
#[inline(never)]
pub(super) fn prepare_offload(
    buf: &mut [u8],
    start: usize,
    len: usize,
    p: PacketView,
    offload: &mut Offload,
) -> Result<(), DropReason> {
    let frame = start
        .checked_add(len)
        .and_then(|end| buf.get_mut(start..end))
        .ok_or(DropReason::Malformed)?;
    // Only the Director sets the marker, on output.
    offload.encap = None;
    let field = match p.tcp {
        Some(true) => Some(l4::TCP_OFF_CHECKSUM),
        Some(false) => Some(l4::UDP_OFF_CHECKSUM),
        None => None,
    };
    if let Some(c) = offload.csum {
        let ours = field == Some(usize::from(c.offset)) && usize::from(c.start) == p.l4;
        if !ours {
            gso::complete_csum(frame, c).map_err(|_| DropReason::Malformed)?;
            offload.csum = None;
        }
    }
    if let Some(g) = offload.gso {
        let fits = matches!(
            (g.kind, p.v4, p.tcp),
            (GsoKind::TcpV4, true, Some(true))
                | (GsoKind::TcpV6, false, Some(true))
                | (GsoKind::UdpL4 | GsoKind::Udp, _, Some(false))
        );
        if !fits || g.size == 0 {
            return Err(DropReason::Malformed);
        }
        let tcp = p.tcp == Some(true);
        let seg = gso::seg_ip_len(frame, p.l3, p.l4, p.end, tcp, g.size)
            .map_err(|_| DropReason::Malformed)?;
        if seg >= p.end - p.l3 {
            offload.gso = None;
        }
    }
    Ok(())
}

/// Marks an encapsulated GSO super-frame for software segmentation: the
/// inner IP header is now at `inner_offset`, and every offset counted from
/// the frame start moved by `shift`. False if an offset no longer fits.
fn mark_encap(offload: &mut Offload, inner_offset: usize, shift: usize) -> bool {
    let (Ok(inner_offset), Ok(shift)) = (u16::try_from(inner_offset), u16::try_from(shift)) else {
        return false;
    };
    if let Some(c) = offload.csum.as_mut() {
        let Some(s) = c.start.checked_add(shift) else {
            return false;
        };
        c.start = s;
    }
    if let Some(g) = offload.gso.as_mut() {
        g.hdr_len = g.hdr_len.saturating_add(shift);
    }
    offload.encap = Some(Encap { inner_offset });
    true
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
