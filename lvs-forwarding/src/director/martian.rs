//! Martian filtering: sources that can never be a client, dropped before the balancer
//! looks at the packet.
//!
//! Why here: with IPVS the kernel's input path (`ip_route_input_slow`, `fib_validate_source`,
//! `ip6_rcv_core`, `ip_rcv_options`) drops such packets before IPVS sees them. A director
//! reading frames from AF_PACKET / AF_XDP bypasses all of that, so without these checks a
//! SYN from 0.0.0.0, 127.0.0.1, a multicast group, the VIP itself, the director's own
//! address or a real server's address creates a connection, and the real server answers
//! toward an address that cannot be (or must not be) the client.
//!
//! Two kinds of checks, each with its own [`DropReason`] and switch in [`MartianChecks`]:
//!
//! - address classes ([`class_check`]): a few comparisons on the source address, for
//!   every frame the director acts on;
//! - identities ([`SourceFilter`]): the director's own addresses, the VIPs, and the real
//!   servers of the destination VIP. These change with the configuration, so they are kept
//!   in a sorted table rebuilt (once, allocating) on the first frame after a change
//!   (`reload_rules`, `set_network`, `balancer_mut`), with a 256-bit filter in front so
//!   that a source that is none of them costs one hash and one bit test.
//!
//! IPv4 source-route options are checked where the header has options at all (IHL > 5),
//! and a misplaced IPv6 hop-by-hop header is refused by the parser
//! ([`crate::wire::ParseError::HopByHopNotFirst`]): that one is malformed per RFC 8200 and
//! is not switchable.

use alloc::vec::Vec;
use core::net::IpAddr;

use lvs_core::balancer::Balancer;
use lvs_core::service::ServiceKey;

use super::DropReason;
use super::config::{Link, MartianChecks};

/// The address-class verdict for `src` (no allocation, no table).
#[inline(always)]
pub(super) fn class_check(src: &IpAddr, m: &MartianChecks) -> Option<DropReason> {
    match src {
        IpAddr::V4(a) => {
            let o = a.octets();
            // 0.0.0.0/8 ("this network", RFC 1122 §3.2.1.3; ipv4_is_zeronet).
            if o[0] == 0 {
                return m.unspecified.then_some(DropReason::MartianUnspecified);
            }
            // 127.0.0.0/8 (RFC 1122 §3.2.1.3; ipv4_is_loopback).
            if o[0] == 127 {
                return m.loopback.then_some(DropReason::MartianLoopback);
            }
            if o[0] < 224 {
                return None;
            }
            // 224.0.0.0/4 (RFC 5771; ipv4_is_multicast).
            if o[0] < 240 {
                return m.multicast.then_some(DropReason::MartianMulticast);
            }
            // 255.255.255.255 (RFC 919; ipv4_is_lbcast).
            if a.is_broadcast() {
                return m.broadcast.then_some(DropReason::MartianBroadcast);
            }
            // 240.0.0.0/4 (RFC 1112 §4, reserved).
            m.class_e.then_some(DropReason::MartianClassE)
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            if s[0] & 0xff00 == 0xff00 {
                return m.multicast.then_some(DropReason::MartianMulticast);
            }
            if s[0] != 0 || s[1] != 0 || s[2] != 0 || s[3] != 0 || s[4] != 0 {
                return None;
            }
            match (s[5], s[6], s[7]) {
                (0, 0, 0) => m.unspecified.then_some(DropReason::MartianUnspecified),
                (0, 0, 1) => m.loopback.then_some(DropReason::MartianLoopback),
                (0xffff, _, _) => m.v4_mapped.then_some(DropReason::MartianV4Mapped),
                _ => None,
            }
        }
    }
}

/// Who an address in the [`SourceFilter`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    /// One of the director's addresses.
    Own,
    /// A VIP.
    Vip,
    /// A real server of a service on this VIP address.
    RealServerOf(IpAddr),
}

/// Bits of the filter in front of the table.
const FILTER_BITS: usize = 256;

/// The identity checks (see the module docs).
#[derive(Debug, Default)]
pub(super) struct SourceFilter {
    filter: [u64; FILTER_BITS / 64],
    table: Vec<(IpAddr, Role)>,
    stale: bool,
}

#[inline(always)]
fn filter_bit(ip: &IpAddr) -> usize {
    (lvs_core::addr::fold_addr(ip).wrapping_mul(0x9e37_79b1) >> 24) as usize % FILTER_BITS
}

impl SourceFilter {
    /// An empty filter that rebuilds before its first use.
    pub(super) fn new() -> Self {
        SourceFilter {
            stale: true,
            ..SourceFilter::default()
        }
    }

    /// Marks the table out of date (the configuration changed).
    pub(super) fn invalidate(&mut self) {
        self.stale = true;
    }

    /// Whether the table must be rebuilt before use.
    #[inline(always)]
    pub(super) fn is_stale(&self) -> bool {
        self.stale
    }

    /// Rebuilds the table from the links' addresses and the balancer's services.
    #[cold]
    pub(super) fn rebuild(&mut self, links: &[Link], balancer: &Balancer) {
        self.table.clear();
        for l in links {
            self.table
                .extend(l.addrs.iter().map(|c| (c.addr, Role::Own)));
        }
        for (_, s) in balancer.services().iter() {
            let ServiceKey::Addr { vip, .. } = s.config.key else {
                continue;
            };
            self.table.push((vip.ip(), Role::Vip));
            for (_, rs) in s.servers() {
                self.table
                    .push((rs.config.addr.ip(), Role::RealServerOf(vip.ip())));
            }
        }
        self.table.sort_unstable();
        self.table.dedup();
        self.filter = [0; FILTER_BITS / 64];
        for (ip, _) in &self.table {
            let b = filter_bit(ip);
            self.filter[b / 64] |= 1 << (b % 64);
        }
        self.stale = false;
    }

    /// The identity verdict for a packet from `src` to `dst`.
    #[inline(always)]
    pub(super) fn check(
        &self,
        src: &IpAddr,
        dst: &IpAddr,
        m: &MartianChecks,
    ) -> Option<DropReason> {
        let b = filter_bit(src);
        if self.filter[b / 64] & (1 << (b % 64)) == 0 {
            return None;
        }
        self.check_table(src, dst, m)
    }

    #[cold]
    #[inline(never)]
    fn check_table(&self, src: &IpAddr, dst: &IpAddr, m: &MartianChecks) -> Option<DropReason> {
        let from = self.table.partition_point(|(a, _)| a < src);
        let entries = self.table.get(from..).unwrap_or(&[]);
        for (_, role) in entries.iter().take_while(|(a, _)| a == src) {
            match role {
                Role::Own if m.own_address => return Some(DropReason::MartianOwnAddress),
                Role::Vip if m.vip_source => return Some(DropReason::MartianVip),
                Role::RealServerOf(v) if m.real_server_source && v == dst => {
                    return Some(DropReason::MartianRealServer);
                }
                _ => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn classes() {
        let m = MartianChecks::ALL;
        let cases = [
            ("0.0.0.0", Some(DropReason::MartianUnspecified)),
            ("0.1.2.3", Some(DropReason::MartianUnspecified)),
            ("127.0.0.1", Some(DropReason::MartianLoopback)),
            ("224.0.0.1", Some(DropReason::MartianMulticast)),
            ("239.255.255.255", Some(DropReason::MartianMulticast)),
            ("255.255.255.255", Some(DropReason::MartianBroadcast)),
            ("240.0.0.1", Some(DropReason::MartianClassE)),
            ("198.51.100.7", None),
            ("223.255.255.255", None),
            ("::", Some(DropReason::MartianUnspecified)),
            ("::1", Some(DropReason::MartianLoopback)),
            ("ff02::1", Some(DropReason::MartianMulticast)),
            ("::ffff:192.0.2.1", Some(DropReason::MartianV4Mapped)),
            ("::2", None),
            ("2001:db8::1", None),
            ("fe80::1", None),
        ];
        for (a, want) in cases {
            assert_eq!(class_check(&ip(a), &m), want, "{a}");
            assert_eq!(class_check(&ip(a), &MartianChecks::NONE), None, "{a}");
        }
    }
}
