//! The three forwarding methods applied to a scheduled packet: VS/NAT,
//! VS/DR and VS/TUN (with the tunnel MTU rule), then next-hop resolution.

use core::net::IpAddr;

use lvs_core::balancer::{Method, Target};
use lvs_core::{Instant, TunnelType};

use super::{Director, DropReason, Verdict};
use crate::wire::{Frame, IpFamily, IpInfo, MacAddr};
use crate::xform::{
    self, MtuVerdict, TunnelKind, TunnelParams, XformError, encap, icmp_frag_needed, nat_request,
    tunnel_mtu_check,
};

impl Director {
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
            Method::Masquerade => nat_request(frame, f, rs),
            Method::DirectRoute => {
                xform::dr_forward(frame, f, MacAddr::ZERO, self.cfg.links[in_link].mac)
            }
            Method::Tunnel => return self.tunnel(now, buf, start, len, f, ip, t, out, in_link),
            Method::Local => return Verdict::ToHost,
        };
        match rewritten {
            Ok(()) => self.finish(now, rs.ip(), buf, start, len),
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
