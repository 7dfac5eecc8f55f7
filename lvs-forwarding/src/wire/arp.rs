//! ARP for IPv4 over Ethernet (RFC 826).
//!
//! The director answers ARP for its VIPs (NAT/TUN) and resolves real-server MACs (DR, NAT
//! next hops); only the Ethernet/IPv4 flavour exists on its links, anything else is an error.

use super::{Layer, MacAddr, ParseError, arr4, arr6, be16, truncated};
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
}
