//! One connection (or persistence template) as the table stores it.
//!
//! The layout is chosen for the cache: with IPv4 addresses an entry fits in
//! one 64-byte line (asserted in tests), so a lookup hit costs one miss for the
//! index and one for the entry. Addresses are generic ([`ConnAddr`]) so that
//! IPv4 entries do not pay for IPv6's 16-byte addresses; a director keeps one
//! table per family.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::time::Instant;

/// An address type a connection table can hold: `Ipv4Addr` or `Ipv6Addr`.
pub trait ConnAddr: Copy + Eq + core::fmt::Debug + 'static {
    /// The unspecified address (used for fields with no value).
    const UNSPECIFIED: Self;
    /// The address as four 32-bit words for hashing (IPv4 uses one word).
    fn words(&self) -> [u32; 4];
    /// Convert to the family-agnostic type.
    fn to_ip(self) -> IpAddr;
    /// Convert from the family-agnostic type, if the family matches.
    fn from_ip(ip: IpAddr) -> Option<Self>;
}

impl ConnAddr for Ipv4Addr {
    const UNSPECIFIED: Self = Ipv4Addr::UNSPECIFIED;
    #[inline]
    fn words(&self) -> [u32; 4] {
        [u32::from(*self), 0, 0, 0]
    }
    fn to_ip(self) -> IpAddr {
        IpAddr::V4(self)
    }
    fn from_ip(ip: IpAddr) -> Option<Self> {
        match ip {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        }
    }
}

impl ConnAddr for Ipv6Addr {
    const UNSPECIFIED: Self = Ipv6Addr::UNSPECIFIED;
    #[inline]
    fn words(&self) -> [u32; 4] {
        let o = self.octets();
        let w = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
        [w(0), w(4), w(8), w(12)]
    }
    fn to_ip(self) -> IpAddr {
        IpAddr::V6(self)
    }
    fn from_ip(ip: IpAddr) -> Option<Self> {
        match ip {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        }
    }
}

/// Connection flags (a subset of IPVS's `IP_VS_CONN_F_*`, own bit values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ConnFlags(pub u16);

impl ConnFlags {
    /// The director never sees replies (DR/TUN/local): INPUT-ONLY TCP table.
    pub const NO_OUTPUT: u16 = 1 << 0;
    /// Counted as inactive on its real server.
    pub const INACTIVE: u16 = 1 << 1;
    /// A persistence template, not a connection.
    pub const TEMPLATE: u16 = 1 << 2;
    /// One-packet scheduling (UDP `-o`): never kept in the table.
    pub const ONE_PACKET: u16 = 1 << 3;
    /// The real server's address family differs from the client's (tunnels):
    /// `daddr` is unspecified and the director reads the real server itself.
    pub const MIXED_FAMILY: u16 = 1 << 4;
    /// Fwmark service template (key protocol 0, vaddr holds the mark).
    pub const FWMARK: u16 = 1 << 5;

    /// Whether all bits of `bit` are set.
    #[inline]
    pub const fn has(self, bit: u16) -> bool {
        self.0 & bit == bit
    }

    /// Set or clear `bit`.
    #[inline]
    pub fn set(&mut self, bit: u16, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }
}

/// A handle to a live entry of a [`ConnTable`](super::ConnTable): its slot
/// index. Valid until the entry is removed or expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnHandle(pub u32);

impl ConnHandle {
    /// No handle (e.g. a connection without a controlling template).
    pub const NONE: ConnHandle = ConnHandle(u32::MAX);

    /// Whether this is [`ConnHandle::NONE`].
    #[inline]
    pub const fn is_none(self) -> bool {
        self.0 == u32::MAX
    }
}

/// A connection or template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection<A: ConnAddr> {
    /// Client address (masked client network for templates).
    pub caddr: A,
    /// Virtual address (for fwmark templates: the mark in the low bits).
    pub vaddr: A,
    /// Real server address (unspecified with `MIXED_FAMILY`).
    pub daddr: A,
    /// Client port (0 for templates).
    pub cport: u16,
    /// Virtual port.
    pub vport: u16,
    /// Real server port.
    pub dport: u16,
    /// IP protocol number (0 for fwmark templates).
    pub protocol: u8,
    /// Protocol state, a [`TcpState`](super::TcpState) as `u8` (UDP: 0).
    pub state: u8,
    /// Flags.
    pub flags: ConnFlags,
    /// Service slot in the director.
    pub service: u16,
    /// Real-server slot within the service.
    pub dest: u16,
    /// The controlling template, or [`ConnHandle::NONE`].
    pub control: ConnHandle,
    /// Number of connections this template controls.
    pub n_control: u32,
    /// Packets seen client -> real server (IPVS `in_pkts`, for drop_entry).
    pub in_pkts: u32,
    /// The current timeout, in milliseconds.
    pub timeout_ms: u32,
    /// When the entry expires unless refreshed.
    pub expires: Instant,
}
