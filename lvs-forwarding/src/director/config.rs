//! What the embedder tells the Director about its links and neighbours.

use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

use crate::wire::MacAddr;

/// An address with its prefix length (`192.0.2.1/24`): the director's own
/// address and the on-link prefix it implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpCidr {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

/// Why a CIDR or MAC text did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddrParseError {
    /// Not an IP address.
    BadAddress,
    /// Prefix length missing, not a number, or too long for the family.
    BadPrefix,
    /// Not six colon-separated hex bytes.
    BadMac,
}

impl fmt::Display for AddrParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddrParseError::BadAddress => "bad IP address",
            AddrParseError::BadPrefix => "bad prefix length",
            AddrParseError::BadMac => "bad MAC address (want aa:bb:cc:dd:ee:ff)",
        })
    }
}

impl core::error::Error for AddrParseError {}

impl IpCidr {
    /// A CIDR; the prefix is clamped to the family's length.
    pub fn new(addr: IpAddr, prefix: u8) -> Self {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        IpCidr {
            addr,
            prefix: prefix.min(max),
        }
    }

    /// Whether `ip` is inside this prefix.
    #[inline]
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let p = u32::from(self.prefix.min(32));
                let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                u32::from(a) & mask == u32::from(*b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let p = u32::from(self.prefix.min(128));
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                u128::from(a) & mask == u128::from(*b) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpCidr {
    type Err = AddrParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| AddrParseError::BadAddress)?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().map_err(|_| AddrParseError::BadPrefix)?,
            None => max,
        };
        if prefix > max {
            return Err(AddrParseError::BadPrefix);
        }
        Ok(IpCidr { addr, prefix })
    }
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for MacAddr {
    type Err = AddrParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut n = 0;
        for part in s.split([':', '-']) {
            if n >= 6 || part.len() != 2 {
                return Err(AddrParseError::BadMac);
            }
            out[n] = u8::from_str_radix(part, 16).map_err(|_| AddrParseError::BadMac)?;
            n += 1;
        }
        if n != 6 {
            return Err(AddrParseError::BadMac);
        }
        Ok(MacAddr(out))
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(b: [u8; 6]) -> Self {
        MacAddr(b)
    }
}

/// One link the director sends and receives on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The director's MAC on this link.
    pub mac: MacAddr,
    /// The director's addresses on this link; their prefixes are on-link.
    pub addrs: Vec<IpCidr>,
    /// The link MTU (IP bytes), for the tunnel MTU check.
    pub mtu: u32,
}

/// A route to a prefix: the embedder's copy of one entry of the host's
/// routing table (`ip route`), for destinations the links' own prefixes do
/// not cover or that need a different next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteEntry {
    /// The destination prefix (the host bits of `dst.addr` are ignored).
    pub dst: IpCidr,
    /// The gateway: `Some` sends to this next hop, `None` means the
    /// destination itself is on `link` (a device route).
    pub via: Option<IpAddr>,
    /// The link the route leaves on (an index into [`DirectorConfig::links`]).
    pub link: usize,
    /// Preferred source address (the kernel's `prefsrc`), used as the outer
    /// source of VS/TUN packets sent along this route.
    pub src: Option<IpAddr>,
    /// Lower wins between routes of the same prefix length (as the
    /// kernel's route metric / priority).
    pub metric: u32,
}

/// Everything the Director needs besides the rules.
///
/// Non-exhaustive: build one with [`DirectorConfig::single_link`] (or the other
/// constructors) and set fields on it, so that fields added later do not break callers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DirectorConfig {
    /// The links, indexed by the `link` argument of `process`.
    pub links: Vec<Link>,
    /// IPv4 default gateway: a route `0.0.0.0/0 via` it, metric 0, on the
    /// link whose on-link prefix holds it (ignored when none does).
    pub gateway_v4: Option<Ipv4Addr>,
    /// IPv6 default gateway: a route `::/0 via` it, metric 0, on the link
    /// whose on-link prefix holds it (ignored when none does).
    pub gateway_v6: Option<Ipv6Addr>,
    /// Routes besides the links' own prefixes and the gateways; routing is
    /// by longest prefix (see the `route` module). A route whose `link` is
    /// out of range is ignored here; [`Director::set_network`] refuses it.
    ///
    /// [`Director::set_network`]: super::Director::set_network
    pub routes: Vec<RouteEntry>,
    /// Static neighbours.
    pub neighbors: Vec<(IpAddr, MacAddr)>,
    /// Connection-table capacity for IPv4 entries.
    pub conn_capacity_v4: usize,
    /// Connection-table capacity for IPv6 entries.
    pub conn_capacity_v6: usize,
    /// Neighbour-cache capacity.
    pub neighbor_capacity: usize,
    /// Frames held while a neighbour is resolved.
    pub hold_frames: usize,
    /// Largest frame held (bytes).
    pub hold_frame_size: usize,
    /// Seed of the keyed hashes (pick it at random at start-up).
    pub seed: u64,
    /// Most entries expired per `on_timeout` call.
    pub expire_budget: usize,
    /// Input filtering of sources that can never be a client (see the `martian` module);
    /// all checks on by default, each can be switched off.
    pub martians: MartianChecks,
    /// Limits on the ICMP messages and resets the director generates (see the `ratelimit`
    /// module); the kernel's defaults.
    pub icmp_limits: IcmpLimits,
    /// Answer ICMP / ICMPv6 echo requests to a VIP with an echo reply, as the host would
    /// with the VIP as a local address. Off: echo requests to a VIP go to the host stack
    /// ([`Verdict::ToHost`](super::Verdict::ToHost)), as before. Default on.
    pub vip_echo: bool,
    /// Answer a TCP segment to a VIP port with no service with a reset (Linux
    /// `tcp_v4_send_reset`). Off: such segments go to the host stack, as before. Default on.
    pub vip_reset: bool,
    /// Answer a UDP datagram to a VIP port with no service with an ICMP port unreachable
    /// (Linux `__udp4_lib_rcv`). Off: such datagrams go to the host stack, as before.
    /// Default on.
    pub vip_port_unreachable: bool,
}

/// Which martian-source checks the director applies to the frames it acts on (VIP traffic,
/// NAT replies, ICMP errors about connections). Every field is one check with its own
/// [`DropReason`](super::DropReason); `true` drops. [`MartianChecks::ALL`] is the default.
///
/// Why an operator would switch one off: `class_e` on a network that really uses
/// 240.0.0.0/4 (Linux accepts it as unicast); `real_server_source` when a real server of a
/// VIP must also reach that same VIP through the director as a client (hairpin through a
/// director in DR/TUN mode, where the real server has its own address on another path);
/// `source_route` where the host sets `accept_source_route`. The address-class checks
/// (`unspecified`, `loopback`, `multicast`, `broadcast`) and `own_address` / `vip_source`
/// match what the kernel's input path always drops; switching them off is for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MartianChecks {
    /// Source in 0.0.0.0/8 or `::` (Linux `ip_route_input_slow`: `ipv4_is_zeronet`).
    pub unspecified: bool,
    /// Source in 127.0.0.0/8 or `::1` (`ipv4_is_loopback` without `route_localnet`).
    pub loopback: bool,
    /// Multicast source (224.0.0.0/4, ff00::/8; `ipv4_is_multicast`, `ip6_rcv_core`).
    pub multicast: bool,
    /// Source 255.255.255.255 (`ipv4_is_lbcast`).
    pub broadcast: bool,
    /// Source in 240.0.0.0/4 other than the broadcast address (reserved, RFC 1112 §4 /
    /// RFC 6890); Linux accepts these, hence a check of its own.
    pub class_e: bool,
    /// IPv4-mapped IPv6 source `::ffff:0:0/96` (RFC 4291 §2.5.5.2; `ip6_rcv_core` drops).
    pub v4_mapped: bool,
    /// Source is one of the director's own addresses (`fib_validate_source`: a local
    /// address as source is a martian).
    pub own_address: bool,
    /// Source is a VIP (a local address on an IPVS host).
    pub vip_source: bool,
    /// Source is a real server of a service on the packet's destination VIP: a real
    /// server's own address arriving as a client of the service it serves.
    pub real_server_source: bool,
    /// IPv4 loose or strict source-route option (Linux drops them unless
    /// `accept_source_route`).
    pub source_route: bool,
}

impl MartianChecks {
    /// Every check on (the default).
    pub const ALL: MartianChecks = MartianChecks {
        unspecified: true,
        loopback: true,
        multicast: true,
        broadcast: true,
        class_e: true,
        v4_mapped: true,
        own_address: true,
        vip_source: true,
        real_server_source: true,
        source_route: true,
    };
    /// Every check off (the director before these checks existed).
    pub const NONE: MartianChecks = MartianChecks {
        unspecified: false,
        loopback: false,
        multicast: false,
        broadcast: false,
        class_e: false,
        v4_mapped: false,
        own_address: false,
        vip_source: false,
        real_server_source: false,
        source_route: false,
    };
}

impl Default for MartianChecks {
    fn default() -> Self {
        MartianChecks::ALL
    }
}

/// Linux `net.ipv4.icmp_ratelimit` / `net.ipv6.icmp.ratelimit` default: 1000 ms of tokens
/// per message to one destination (Documentation/networking/ip-sysctl.rst).
pub const ICMP_RATELIMIT_MS: u32 = 1000;
/// Linux `net.ipv4.icmp_msgs_per_sec` default: 1000 messages per second host-wide
/// (ip-sysctl.rst, `icmp_global_allow`).
pub const ICMP_MSGS_PER_SEC: u32 = 1000;
/// Linux `net.ipv4.icmp_msgs_burst` default: 50 messages (ip-sysctl.rst).
pub const ICMP_MSGS_BURST: u32 = 50;

/// Token buckets for the messages the director originates, modelled on Linux's
/// `icmp_global_allow` (host-wide) and `inet_peer_xrlim_allow` (per destination). `0`
/// disables the limit it names. What each message goes through:
///
/// - ICMP errors (port unreachable, time exceeded): both limits, as in the kernel's default
///   `icmp_ratemask` (6168: dest-unreachable, source-quench, time-exceeded, parameter
///   problem) and `net.ipv6.icmp.ratemask` (0-1,3-127).
/// - Fragmentation needed / Packet Too Big: the kernel exempts them ("don't limit PMTU
///   discovery"); here they go through both limits when `limit_pmtu` (default on: the
///   director sends them about packets from sources it cannot verify, which is the
///   reflection the limits exist for; a real client still gets the per-destination burst).
/// - Echo replies: not limited by default, as the kernel's ratemask excludes type 0 and
///   ICMPv6 informational messages; `limit_echo` puts them through the global bucket.
/// - TCP resets from a VIP port with no service: both limits when `limit_reset` (default
///   on; Linux does not limit resets, but a director on the edge reflecting them at line
///   rate toward spoofed sources is the same problem).
///
/// Suppressed messages are counted as [`DropReason::IcmpRateLimited`] or
/// [`DropReason::ResetRateLimited`](super::DropReason::ResetRateLimited).
///
/// [`DropReason::IcmpRateLimited`]: super::DropReason::IcmpRateLimited
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IcmpLimits {
    /// Milliseconds of tokens one message to a destination costs; a destination may bank
    /// six of them (Linux `XRLIM_BURST_FACTOR`). 0: no per-destination limit.
    pub per_dest_ms: u32,
    /// Host-wide messages per second. 0: no global limit.
    pub msgs_per_sec: u32,
    /// Host-wide burst (bucket size).
    pub burst: u32,
    /// Put frag-needed / Packet Too Big through the limits.
    pub limit_pmtu: bool,
    /// Put echo replies through the global bucket.
    pub limit_echo: bool,
    /// Put TCP resets through the limits.
    pub limit_reset: bool,
}

impl Default for IcmpLimits {
    fn default() -> Self {
        IcmpLimits {
            per_dest_ms: ICMP_RATELIMIT_MS,
            msgs_per_sec: ICMP_MSGS_PER_SEC,
            burst: ICMP_MSGS_BURST,
            limit_pmtu: true,
            limit_echo: false,
            limit_reset: true,
        }
    }
}

impl DirectorConfig {
    /// One link with `mac` and `addrs`, MTU 1500, defaults for the rest.
    pub fn single_link(mac: MacAddr, addrs: &[IpCidr]) -> Self {
        DirectorConfig {
            links: alloc::vec![Link {
                mac,
                addrs: addrs.to_vec(),
                mtu: 1500,
            }],
            gateway_v4: None,
            gateway_v6: None,
            routes: Vec::new(),
            neighbors: Vec::new(),
            conn_capacity_v4: 1 << 16,
            conn_capacity_v6: 1 << 14,
            neighbor_capacity: 1024,
            hold_frames: 64,
            hold_frame_size: 2048,
            seed: 0x5eed_1b50_f1f0,
            expire_budget: 4096,
            martians: MartianChecks::ALL,
            icmp_limits: IcmpLimits::default(),
            vip_echo: true,
            vip_reset: true,
            vip_port_unreachable: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_and_mac_parse() {
        let c: IpCidr = "192.0.2.1/24".parse().unwrap();
        assert!(c.contains(&"192.0.2.200".parse().unwrap()));
        assert!(!c.contains(&"192.0.3.1".parse().unwrap()));
        assert!(!c.contains(&"2001:db8::1".parse().unwrap()));
        let c6: IpCidr = "2001:db8:5::1/64".parse().unwrap();
        assert!(c6.contains(&"2001:db8:5::99".parse().unwrap()));
        assert_eq!("10.0.0.1".parse::<IpCidr>().unwrap().prefix, 32);
        assert!("10.0.0.1/33".parse::<IpCidr>().is_err());
        assert!("nope/3".parse::<IpCidr>().is_err());
        let m: MacAddr = "02:00:5e:00:01:0a".parse().unwrap();
        assert_eq!(m.0, [2, 0, 0x5e, 0, 1, 0x0a]);
        assert!("02:00:5e:00:01".parse::<MacAddr>().is_err());
        assert!("02:00:5e:00:01:0a:0b".parse::<MacAddr>().is_err());
        assert!("zz:00:5e:00:01:0a".parse::<MacAddr>().is_err());
    }
}
