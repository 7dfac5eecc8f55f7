//! ARP for IPv4 over Ethernet (RFC 826).
//!
//! The director answers ARP for its VIPs (NAT/TUN) and resolves real-server MACs (DR, NAT
//! next hops); only the Ethernet/IPv4 flavour exists on its links, anything else is an error.
//!
//! [`ArpInfo::check`] holds what can be said of an ARP packet alone before anything is learned
//! from it (the sender's addresses must be ones a host can have, and the sender MAC must be the
//! frame's own source, so a frame cannot speak for another station); what needs the director's
//! addresses and routes (is the target ours, is the sender on the link) is checked there.

use super::{Layer, MacAddr, ParseError, arr4, arr6, be16, truncated};
use core::fmt;
use core::net::Ipv4Addr;

/// Length of an Ethernet/IPv4 ARP body.
pub const BODY_LEN: usize = 28;
/// ARP request opcode.
pub const OP_REQUEST: u16 = 1;
/// ARP reply opcode.
pub const OP_REPLY: u16 = 2;

/// A parsed Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpInfo {
    /// Operation: [`OP_REQUEST`], [`OP_REPLY`] or something else.
    pub op: u16,
    /// Sender hardware address.
    pub sender_mac: MacAddr,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address.
    pub target_mac: MacAddr,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

impl ArpInfo {
    /// True for a request.
    pub const fn is_request(&self) -> bool {
        self.op == OP_REQUEST
    }

    /// True for a reply.
    pub const fn is_reply(&self) -> bool {
        self.op == OP_REPLY
    }

    /// Parses the ARP body (after the Ethernet header).
    pub fn parse(b: &[u8]) -> Result<ArpInfo, ParseError> {
        if b.len() < BODY_LEN {
            return Err(truncated(Layer::Arp, BODY_LEN, b.len()));
        }
        let tr = || truncated(Layer::Arp, BODY_LEN, b.len());
        let htype = be16(b, 0).ok_or_else(tr)?;
        let ptype = be16(b, 2).ok_or_else(tr)?;
        let lens = be16(b, 4).ok_or_else(tr)?;
        if htype != 1 || ptype != 0x0800 || lens != 0x0604 {
            return Err(ParseError::UnsupportedArp);
        }
        Ok(ArpInfo {
            op: be16(b, 6).ok_or_else(tr)?,
            sender_mac: MacAddr(arr6(b, 8).ok_or_else(tr)?),
            sender_ip: Ipv4Addr::from(arr4(b, 14).ok_or_else(tr)?),
            target_mac: MacAddr(arr6(b, 18).ok_or_else(tr)?),
            target_ip: Ipv4Addr::from(arr4(b, 24).ok_or_else(tr)?),
        })
    }
}

/// Why an ARP packet cannot be learned from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArpError {
    /// The sender hardware address is multicast, broadcast or all zeros.
    SenderMac(MacAddr),
    /// The sender hardware address differs from the Ethernet source address.
    SenderNotSource {
        /// The ARP sender hardware address.
        sender: MacAddr,
        /// The Ethernet source address.
        source: MacAddr,
    },
    /// The sender protocol address is multicast, broadcast or reserved (240/4).
    SenderIp(Ipv4Addr),
}

impl fmt::Display for ArpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArpError::SenderMac(m) => write!(f, "ARP sender MAC {:02x?} is not unicast", m.0),
            ArpError::SenderNotSource { sender, source } => write!(
                f,
                "ARP sender MAC {:02x?} is not the frame's source {:02x?}",
                sender.0, source.0
            ),
            ArpError::SenderIp(a) => write!(f, "ARP sender address {a} is not a host's"),
        }
    }
}

impl core::error::Error for ArpError {}

impl ArpInfo {
    /// True for an announcement (gratuitous ARP, RFC 5227 §3): sender and target protocol
    /// addresses are the same.
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip == self.target_ip
    }

    /// True for an address probe (RFC 5227 §2.1.1): a request from 0.0.0.0. It may be
    /// answered, but teaches nothing.
    pub fn is_probe(&self) -> bool {
        self.is_request() && self.sender_ip.is_unspecified()
    }

    /// The checks of one ARP packet alone, given its Ethernet source `eth_src`: the sender MAC
    /// is unicast, non-zero and the frame's own, and the sender address is unspecified (a
    /// probe) or one a host can have (not multicast, broadcast or 240/4; Linux `arp_process`
    /// drops multicast and broadcast senders the same way).
    pub fn check(&self, eth_src: MacAddr) -> Result<(), ArpError> {
        if self.sender_mac.is_multicast() || self.sender_mac == MacAddr::ZERO {
            return Err(ArpError::SenderMac(self.sender_mac));
        }
        if self.sender_mac != eth_src {
            return Err(ArpError::SenderNotSource {
                sender: self.sender_mac,
                source: eth_src,
            });
        }
        let o = self.sender_ip.octets();
        if self.sender_ip.is_multicast() || self.sender_ip.is_broadcast() || o[0] >= 240 {
            return Err(ArpError::SenderIp(self.sender_ip));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request() {
        let mut b = [0u8; 28];
        b[0..8].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        b[8..14].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        b[14..18].copy_from_slice(&[10, 0, 0, 1]);
        b[24..28].copy_from_slice(&[10, 0, 0, 100]);
        let a = ArpInfo::parse(&b).unwrap();
        assert!(a.is_request());
        assert_eq!(a.sender_ip, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(a.target_ip, Ipv4Addr::new(10, 0, 0, 100));
        assert_eq!(a.sender_mac, MacAddr([2, 0, 0, 0, 0, 1]));
        b[5] = 16;
        assert_eq!(ArpInfo::parse(&b), Err(ParseError::UnsupportedArp));
        assert!(ArpInfo::parse(&b[..27]).is_err());
    }

    #[test]
    fn check_sender() {
        let m = MacAddr([2, 0, 0, 0, 0, 1]);
        let mut a = ArpInfo {
            op: OP_REQUEST,
            sender_mac: m,
            sender_ip: Ipv4Addr::new(10, 0, 0, 1),
            target_mac: MacAddr::ZERO,
            target_ip: Ipv4Addr::new(10, 0, 0, 100),
        };
        assert_eq!(a.check(m), Ok(()));
        assert!(!a.is_gratuitous() && !a.is_probe());
        let other = MacAddr([2, 0, 0, 0, 0, 2]);
        assert!(matches!(
            a.check(other),
            Err(ArpError::SenderNotSource { .. })
        ));
        a.sender_mac = MacAddr::BROADCAST;
        assert_eq!(
            a.check(MacAddr::BROADCAST),
            Err(ArpError::SenderMac(MacAddr::BROADCAST))
        );
        a.sender_mac = m;
        for bad in [
            Ipv4Addr::BROADCAST,
            Ipv4Addr::new(224, 0, 0, 1),
            Ipv4Addr::new(240, 0, 0, 1),
        ] {
            a.sender_ip = bad;
            assert_eq!(a.check(m), Err(ArpError::SenderIp(bad)));
        }
        a.sender_ip = Ipv4Addr::UNSPECIFIED;
        assert!(a.check(m).is_ok() && a.is_probe());
        a.sender_ip = a.target_ip;
        assert!(a.is_gratuitous());
    }
}
