//! Ethernet II with 802.1Q / 802.1ad VLAN tags.
//!
//! Why tags are kept and only skipped: the director forwards on the same segment it received
//! on (DR) or answers on it (ARP, ICMP), so the tags are part of the frame it rewrites in
//! place. The parser reports how many bytes of tags there are and where layer 3 starts.

use super::{Layer, ParseError, be16, be16_at, truncated};
use core::fmt;

/// A 48-bit IEEE MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The broadcast address ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// The all-zero address (used as "unknown" in ARP requests).
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// True for group (multicast or broadcast) addresses: the I/G bit is set.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 1 != 0
    }

    /// True for ff:ff:ff:ff:ff:ff.
    pub const fn is_broadcast(&self) -> bool {
        let a = self.0;
        a[0] & a[1] & a[2] & a[3] & a[4] & a[5] == 0xff
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            a[0], a[1], a[2], a[3], a[4], a[5]
        )
    }
}

/// Ethertype IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// Ethertype ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// Ethertype IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// Ethertype of an 802.1Q customer VLAN tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// Ethertype of an 802.1ad service VLAN tag (QinQ outer tag).
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
/// Length of an untagged Ethernet II header.
pub const HEADER_LEN: usize = 14;
/// At most this many VLAN tags are skipped (QinQ plus one more, to be lenient).
pub const MAX_VLAN_TAGS: usize = 3;

/// The parsed Ethernet II header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetHeader {
    /// Destination MAC.
    pub dst: MacAddr,
    /// Source MAC.
    pub src: MacAddr,
    /// Total bytes of VLAN tags between the source MAC and the final ethertype (4 per tag).
    pub vlan_len: u8,
    /// The ethertype after all VLAN tags.
    pub ethertype: u16,
    /// Offset of the layer-3 header from the start of the frame.
    pub l3_offset: usize,
}

impl EthernetHeader {
    /// Parses the Ethernet header at the start of `frame`.
    #[inline]
    pub fn parse(frame: &[u8]) -> Result<EthernetHeader, ParseError> {
        // The 14-byte header as an array: no bounds check per field.
        let Some(h) = frame.first_chunk::<HEADER_LEN>() else {
            return Err(truncated(Layer::Ethernet, HEADER_LEN, frame.len()));
        };
        let dst = [h[0], h[1], h[2], h[3], h[4], h[5]];
        let src = [h[6], h[7], h[8], h[9], h[10], h[11]];
        let mut ethertype = be16_at(h, 12);
        let mut off = HEADER_LEN;
        let mut tags = 0;
        while ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
            if tags == MAX_VLAN_TAGS {
                break;
            }
            // Tag control information (2 bytes) then the next ethertype (2 bytes).
            ethertype = be16(frame, off + 2)
                .ok_or_else(|| truncated(Layer::Ethernet, off + 4, frame.len()))?;
            off += 4;
            tags += 1;
        }
        Ok(EthernetHeader {
            dst: MacAddr(dst),
            src: MacAddr(src),
            vlan_len: (off - HEADER_LEN) as u8,
            ethertype,
            l3_offset: off,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untagged() {
        let mut f = [0u8; 20];
        f[0..6].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        f[6..12].copy_from_slice(&[7, 8, 9, 10, 11, 12]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let h = EthernetHeader::parse(&f).unwrap();
        assert_eq!(h.dst, MacAddr([1, 2, 3, 4, 5, 6]));
        assert_eq!(h.src, MacAddr([7, 8, 9, 10, 11, 12]));
        assert_eq!(h.ethertype, ETHERTYPE_IPV4);
        assert_eq!(h.l3_offset, 14);
        assert_eq!(h.vlan_len, 0);
    }

    #[test]
    fn qinq() {
        let mut f = [0u8; 30];
        f[12..14].copy_from_slice(&[0x88, 0xa8]);
        f[14..16].copy_from_slice(&[0x00, 0x0a]);
        f[16..18].copy_from_slice(&[0x81, 0x00]);
        f[18..20].copy_from_slice(&[0x00, 0x14]);
        f[20..22].copy_from_slice(&[0x86, 0xdd]);
        let h = EthernetHeader::parse(&f).unwrap();
        assert_eq!(h.ethertype, ETHERTYPE_IPV6);
        assert_eq!(h.l3_offset, 22);
        assert_eq!(h.vlan_len, 8);
    }

    #[test]
    fn truncated_tag() {
        let mut f = [0u8; 16];
        f[12..14].copy_from_slice(&[0x81, 0x00]);
        assert!(matches!(
            EthernetHeader::parse(&f),
            Err(ParseError::Truncated {
                layer: Layer::Ethernet,
                ..
            })
        ));
        assert!(EthernetHeader::parse(&f[..13]).is_err());
    }
}
