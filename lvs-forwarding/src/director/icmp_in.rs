//! ICMP on the packet path: neighbour discovery messages, echo requests to a
//! VIP (answered in `host.rs`), errors about connections (rewritten for NAT as
//! IPVS's `ip_vs_nat_icmp`, relayed for DR and TUN), and the time-exceeded
//! answer when a transform finds TTL 1 (rate-limited, `ratelimit.rs`).
//!
//! Everything but neighbour discovery passes the martian-source checks first
//! (NDP may come from `::`). An error the director acts on has its checksum
//! verified first, as the kernel's `icmp_rcv` / `icmpv6_rcv` do, unless the
//! frame's offload says the checksum is partial or already validated; a bad
//! one is dropped as [`DropReason::BadIcmpChecksum`]. A fragmented error
//! cannot be verified and is not acted on.
//!
//! Neighbour discovery is validated before anything is learned or answered
//! ([`NdpInfo::validate`]: hop limit 255, checksum, code, length, target and
//! destination rules of RFC 4861 §7.1); what fails is dropped and counted as
//! [`DropReason::BadNdp`]. The validated message then updates the cache as
//! RFC 4861 §7.2 says: an advertisement only updates an existing entry for
//! its target; a solicitation for one of our addresses makes its sender's
//! entry STALE (never from `::`, duplicate address detection), and is
//! answered.
//!
//! [`NdpInfo::validate`]: crate::wire::NdpInfo::validate

use core::net::{IpAddr, SocketAddr};

use lvs_core::balancer::Method;
use lvs_core::{Instant, Protocol};

use super::ratelimit::Class;
use super::{Director, DropReason, Verdict};
use crate::wire::{Frame, IpInfo, NdpInfo, icmp};
use crate::xform::{
    XformError, icmp_time_exceeded, nat_icmp_error_in, nat_icmp_error_out, neighbor_advertisement,
};

impl Director {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn icmp(
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
        if let Some(n) = f.ndp().copied() {
            return self.ndp(now, link, frame, f, ip, &n, out);
        }
        // Neighbour discovery may come from `::` (duplicate address
        // detection); everything else from a martian source is dropped.
        if let Some(r) = self.martian(ip) {
            return Verdict::Drop(r);
        }
        if let Some(i) = f.icmp()
            && i.ty == echo_request(ip)
        {
            if self.balancer.services().is_vip(ip.dst) {
                return self.vip_echo(now, link, frame, f, ip, out);
            }
            return Verdict::ToHost;
        }
        let Some(e) = f.embedded().copied() else {
            return Verdict::ToHost;
        };
        let (Some(proto), Some((esp, edp))) = (Protocol::from_number(e.protocol), e.ports) else {
            return Verdict::ToHost;
        };
        // An error the director may act on: verified first, as `icmp_rcv`
        // does. A fragment cannot be (its checksum covers the whole message).
        if ip.is_fragment {
            return if self.balancer.services().is_vip(ip.dst) {
                Verdict::Drop(DropReason::Unforwardable)
            } else {
                Verdict::ToHost
            };
        }
        if !self.icmp_checksum_ok(frame, f, ip) {
            return Verdict::Drop(DropReason::BadIcmpChecksum);
        }
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

    /// A neighbour solicitation or advertisement: validate, learn, answer.
    #[allow(clippy::too_many_arguments)]
    fn ndp(
        &mut self,
        now: Instant,
        link: usize,
        frame: &[u8],
        f: &Frame,
        ip: &IpInfo,
        n: &NdpInfo,
        out: &mut [u8],
    ) -> Verdict {
        let (IpAddr::V6(src), IpAddr::V6(dst)) = (ip.src, ip.dst) else {
            return Verdict::Drop(DropReason::BadNdp);
        };
        // The ICMPv6 message: from its header to the end of the IP payload
        // (Ethernet padding excluded), as the length and checksum cover it.
        let msg = ip
            .l4_offset
            .checked_sub(ip.header_len)
            .and_then(|ip_start| ip_start.checked_add(ip.total_len))
            .and_then(|end| frame.get(ip.l4_offset..end));
        let Some(msg) = msg else {
            return Verdict::Drop(DropReason::BadNdp);
        };
        let Ok(v) = n.validate(src, dst, ip.ttl, msg) else {
            return Verdict::Drop(DropReason::BadNdp);
        };
        let target = IpAddr::V6(n.target);
        let ours = self.owns(&target);
        match n.kind {
            icmp::NdpKind::Advertisement {
                solicited,
                override_flag,
                ..
            } => {
                // An advertisement for one of our addresses is a conflict
                // (someone else claims it), not news about a neighbour.
                if !ours {
                    let r = self.neigh.advertisement(
                        target,
                        v.link_addr(),
                        solicited,
                        override_flag,
                        now,
                    );
                    self.learned(target, r);
                }
                Verdict::ToHost
            }
            icmp::NdpKind::Solicitation => {
                if !ours {
                    return Verdict::ToHost;
                }
                if let Some(mac) = v.link_addr()
                    && !src.is_multicast()
                    && !self.owns(&ip.src)
                {
                    let r = self.neigh.solicited_by(ip.src, mac, now);
                    self.learned(ip.src, r);
                }
                let mac = self.cfg.links[link].mac;
                match neighbor_advertisement(frame, f, mac, out) {
                    Ok(n) => Verdict::Reply { link, len: n },
                    Err(_) => Verdict::Drop(DropReason::OutputTooSmall),
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn xform_failed(
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
                let to = f.ip().map_or(our_ip.addr, |i| i.src);
                self.limited_reply(self.now, to, Class::Error, link, n)
            }
            Err(_) => Verdict::Drop(DropReason::TtlExpired),
        }
    }
}

/// The echo-request type of `ip`'s ICMP family.
fn echo_request(ip: &IpInfo) -> u8 {
    if ip.src.is_ipv4() {
        icmp::V4_ECHO_REQUEST
    } else {
        icmp::V6_ECHO_REQUEST
    }
}
