//! The VIP as a host: what the director answers for a VIP beyond the services on it.
//!
//! Why: with IPVS the VIP is a local address of the director, so the host answers what no
//! service takes: an echo request gets an echo reply, a TCP segment to a port with no
//! service a reset, a UDP datagram a port unreachable. Users ping VIPs; clients of a port
//! nobody serves should be refused at once rather than wait for a timeout. Each answer has
//! a switch in [`DirectorConfig`](super::DirectorConfig) (`vip_echo`, `vip_reset`,
//! `vip_port_unreachable`); switched off, the frame goes to the host stack as before.
//!
//! As the kernel, the director answers only what it has verified: the ICMP checksum of an
//! echo request (`icmp_rcv`), the TCP/UDP checksum of a segment (`tcp_v4_rcv`,
//! `__udp4_lib_rcv` check it before looking for a socket), except where the frame's
//! offload says the checksum is partial or already validated. Every answer goes through
//! the rate limits of [`super::ratelimit`], and the generators refuse what RFC 1122 and
//! RFC 793 forbid answering (a reset, a fragment, a multicast or martian source).
//!
//! The director's own link addresses are not VIPs: frames to them go to the host kernel
//! ([`Verdict::ToHost`]), which answers for itself.

use core::net::IpAddr;

use lvs_core::Instant;

use super::ratelimit::Class;
use super::{Director, DropReason, Verdict};
use crate::wire::{Frame, IpInfo, L4, checksum, icmp, proto};
use crate::xform::{XformError, icmp_echo_reply, icmp_port_unreachable, tcp_reset};

impl Director {
    /// Sends the reply of `class` written to `out[..len]` to `to` if the rate limits allow,
    /// else drops it as rate limited.
    pub(super) fn limited_reply(
        &mut self,
        now: Instant,
        to: IpAddr,
        class: Class,
        link: usize,
        len: usize,
    ) -> Verdict {
        if self.limiter.allow(now, &to, class) {
            Verdict::Reply { link, len }
        } else if class == Class::Reset {
            Verdict::Drop(DropReason::ResetRateLimited)
        } else {
            Verdict::Drop(DropReason::IcmpRateLimited)
        }
    }

    /// Whether the frame's offload state vouches for its L4 / ICMP checksum (partial:
    /// the sender's stack completes it; data_valid: the receiving NIC checked it).
    #[inline]
    fn checksum_vouched(&self) -> bool {
        self.offload.csum.is_some() || self.offload.data_valid
    }

    /// The IP payload of `ip` in `frame` (Ethernet padding excluded).
    fn payload<'b>(frame: &'b [u8], f: &Frame, ip: &IpInfo) -> Option<&'b [u8]> {
        let end = f.l3_offset.checked_add(ip.total_len)?;
        frame.get(ip.l4_offset..end)
    }

    /// Whether the ICMP/ICMPv6 message of `ip` in `frame` has a valid checksum (or the
    /// offload vouches for it).
    pub(super) fn icmp_checksum_ok(&self, frame: &[u8], f: &Frame, ip: &IpInfo) -> bool {
        if self.checksum_vouched() {
            return true;
        }
        let Some(msg) = Self::payload(frame, f, ip) else {
            return false;
        };
        match (ip.src, ip.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => icmp::v4_checksum_ok(msg),
            (IpAddr::V6(s), IpAddr::V6(d)) => icmp::v6_checksum_ok(s, d, msg),
            _ => false,
        }
    }

    /// Whether the TCP/UDP segment of `ip` in `frame` has a valid checksum (UDP over IPv4
    /// without one counts as valid, RFC 768), or the offload vouches for it.
    fn l4_checksum_ok(&self, frame: &[u8], f: &Frame, ip: &IpInfo) -> bool {
        if self.checksum_vouched() {
            return true;
        }
        let Some(seg) = Self::payload(frame, f, ip) else {
            return false;
        };
        if ip.protocol == proto::UDP
            && ip.src.is_ipv4()
            && seg.get(6..8).is_some_and(|c| c == [0, 0])
        {
            return true;
        }
        let init = match (ip.src, ip.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => match u16::try_from(seg.len()) {
                Ok(l) => checksum::pseudo_v4(s, d, ip.protocol, l),
                Err(_) => return false,
            },
            (IpAddr::V6(s), IpAddr::V6(d)) => match u32::try_from(seg.len()) {
                Ok(l) => checksum::pseudo_v6(s, d, ip.protocol, l),
                Err(_) => return false,
            },
            _ => return false,
        };
        checksum::fold(checksum::sum(seg, init)) == 0xffff
    }

    /// A TCP segment or UDP datagram to a VIP port with no service: a reset or a port
    /// unreachable, when switched on; the host stack otherwise.
    #[allow(clippy::too_many_arguments)]
    #[cold]
    #[inline(never)]
    pub(super) fn vip_no_service(
        &mut self,
        now: Instant,
        link: usize,
        frame: &[u8],
        f: &Frame,
        ip: &IpInfo,
        out: &mut [u8],
    ) -> Verdict {
        let tcp = match ip.l4 {
            L4::Tcp { .. } if self.cfg.vip_reset => true,
            L4::Udp { .. } if self.cfg.vip_port_unreachable => false,
            _ => return Verdict::ToHost,
        };
        if ip.is_fragment {
            // Its checksum covers the whole datagram, which is not here.
            return Verdict::ToHost;
        }
        if !self.l4_checksum_ok(frame, f, ip) {
            return Verdict::Drop(DropReason::BadL4Checksum);
        }
        let mac = self.cfg.links[link].mac;
        let (res, class) = if tcp {
            (tcp_reset(frame, f, mac, out), Class::Reset)
        } else {
            (icmp_port_unreachable(frame, f, mac, out), Class::Error)
        };
        match res {
            Ok(n) => self.limited_reply(now, ip.src, class, link, n),
            // A reset about a reset, or a source that must not be answered: silence.
            Err(XformError::IcmpNotAllowed) => Verdict::Drop(DropReason::NotScheduled),
            Err(_) => Verdict::Drop(DropReason::OutputTooSmall),
        }
    }

    /// An ICMP/ICMPv6 echo request to a VIP: an echo reply when `vip_echo` is on.
    #[cold]
    #[inline(never)]
    pub(super) fn vip_echo(
        &mut self,
        now: Instant,
        link: usize,
        frame: &[u8],
        f: &Frame,
        ip: &IpInfo,
        out: &mut [u8],
    ) -> Verdict {
        if !self.cfg.vip_echo || ip.is_fragment {
            return Verdict::ToHost;
        }
        if !self.icmp_checksum_ok(frame, f, ip) {
            return Verdict::Drop(DropReason::BadIcmpChecksum);
        }
        let mac = self.cfg.links[link].mac;
        match icmp_echo_reply(frame, f, mac, out) {
            Ok(n) => self.limited_reply(now, ip.src, Class::Echo, link, n),
            Err(XformError::IcmpNotAllowed) => Verdict::ToHost,
            Err(_) => Verdict::Drop(DropReason::OutputTooSmall),
        }
    }
}
