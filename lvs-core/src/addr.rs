//! Addresses, protocols and flow keys.
//!
//! IPVS identifies a connection by (protocol, client address and port, virtual
//! address and port) on the client side and by (protocol, client, real server)
//! on the real-server side. Both are plain values here, built on
//! `core::net`, so that the packet layer and the model share one vocabulary.

use core::fmt;
use core::net::{IpAddr, SocketAddr};

/// An IP address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// The full prefix length of this family (32 or 128).
    pub const fn max_prefix(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

/// A transport protocol a virtual service can balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP (IP protocol 6).
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
    /// SCTP (IP protocol 132).
    Sctp,
}

impl Protocol {
    /// The IP protocol number.
    pub const fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    /// The protocol for an IP protocol number, if IPVS balances it.
    pub const fn from_number(n: u8) -> Option<Protocol> {
        match n {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            132 => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// The name `ipvsadm -Ln` prints (`TCP`, `UDP`, `SCTP`).
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The flow a new connection is scheduled for: what a scheduler may hash on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    /// Transport protocol.
    pub protocol: Protocol,
    /// Client address and port (the packet's source).
    pub client: SocketAddr,
    /// Virtual address and port (the packet's destination).
    pub vip: SocketAddr,
    /// Firewall mark of the packet, 0 if none.
    pub fwmark: u32,
}

/// Fold an address to 32 bits as IPVS's hash schedulers do: IPv4 as its
/// host-order value, IPv6 as the XOR of its four 32-bit words.
pub fn fold_addr(addr: &IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => u32::from(*a),
        IpAddr::V6(a) => {
            let o = a.octets();
            let w = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
            w(0) ^ w(4) ^ w(8) ^ w(12)
        }
    }
}

/// Mask an address to a prefix length (persistence netmask): bits past
/// `prefix` are cleared. A prefix longer than the family's is the full address.
pub fn mask_addr(addr: &IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let p = u32::from(prefix.min(32));
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            IpAddr::V4((u32::from(*a) & mask).into())
        }
        IpAddr::V6(a) => {
            let p = u32::from(prefix.min(128));
            let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            IpAddr::V6((u128::from(*a) & mask).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn fold_and_mask() {
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 77));
        assert_eq!(fold_addr(&v4), 0xc000_024d);
        assert_eq!(mask_addr(&v4, 24), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0)));
        assert_eq!(mask_addr(&v4, 0), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(mask_addr(&v4, 40), v4);
        let v6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        assert_eq!(fold_addr(&v6), 0x2001_0db8 ^ 1);
        assert_eq!(
            mask_addr(&v6, 32),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0))
        );
    }

    #[test]
    fn protocol_numbers_round_trip() {
        for p in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
            assert_eq!(Protocol::from_number(p.number()), Some(p));
        }
        assert_eq!(Protocol::from_number(1), None);
    }
}
