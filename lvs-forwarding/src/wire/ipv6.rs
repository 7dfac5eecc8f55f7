//! IPv6 header (RFC 8200) and a bounded walk over its extension headers.
//!
//! Why bounded: a packet can chain extension headers arbitrarily; an attacker-controlled
//! chain must not cost unbounded time on the hot path. At most [`MAX_EXT_HEADERS`] are
//! walked; more is an error. The walk stops at the first header that is not a known
//! extension header (that is the upper-layer protocol) and after a non-first fragment
//! header (what follows is payload, not a header).

use super::{Layer, ParseError, arr16, be16, be32, byte, proto, truncated};
use core::net::Ipv6Addr;

/// Fixed IPv6 header length.
pub const HEADER_LEN: usize = 40;
/// Offset of the payload length field.
pub const OFF_PAYLOAD_LEN: usize = 4;
/// Offset of the first next-header byte.
pub const OFF_NEXT_HEADER: usize = 6;
/// Offset of the hop limit byte.
pub const OFF_HOP_LIMIT: usize = 7;
/// Offset of the source address.
pub const OFF_SRC: usize = 8;
/// Offset of the destination address.
pub const OFF_DST: usize = 24;
/// Most extension headers walked before giving up.
pub const MAX_EXT_HEADERS: usize = 8;
/// IP protocol number of the authentication header (walked as an extension header).
const PROTO_AH: u8 = 51;

/// The fields of an IPv6 header (and its extension chain) the director uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Header {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class: DSCP (upper 6 bits) and ECN (lower 2).
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Payload length field.
    pub payload_len: u16,
    /// The upper-layer protocol found after the extension headers.
    pub protocol: u8,
    /// Bytes from the start of the IPv6 header to the upper-layer header.
    pub header_len: usize,
    /// Whether a fragment header was seen.
    pub is_fragment: bool,
    /// Fragment offset in bytes (0 if not a fragment).
    pub frag_offset: u16,
    /// M flag of the fragment header.
    pub more_fragments: bool,
}

impl Ipv6Header {
    /// Total packet length: 40 + payload length.
    pub const fn total_len(&self) -> usize {
        HEADER_LEN + self.payload_len as usize
    }

    /// Parses a full IPv6 packet; the payload length must fit into `buf`.
    #[inline]
    pub fn parse(buf: &[u8]) -> Result<Ipv6Header, ParseError> {
        Self::parse_inner(buf, false)
    }

    /// Parses the IPv6 header quoted in an ICMPv6 error: the payload may be truncated, but
    /// the fixed header and every extension header walked must be present.
    #[inline]
    pub fn parse_quoted(buf: &[u8]) -> Result<Ipv6Header, ParseError> {
        Self::parse_inner(buf, true)
    }

    fn parse_inner(buf: &[u8], quoted: bool) -> Result<Ipv6Header, ParseError> {
        let too_short = || truncated(Layer::Ipv6, HEADER_LEN, buf.len());
        let Some(word0) = be32(buf, 0) else {
            return Err(too_short());
        };
        if buf.len() < HEADER_LEN {
            return Err(too_short());
        }
        let version = (word0 >> 28) as u8;
        if version != 6 {
            return Err(ParseError::BadVersion(version));
        }
        let payload_len = be16(buf, OFF_PAYLOAD_LEN).ok_or_else(too_short)?;
        let limit = if quoted {
            buf.len()
        } else {
            if payload_len == 0 {
                return Err(ParseError::Jumbogram);
            }
            let total = HEADER_LEN + usize::from(payload_len);
            if total > buf.len() {
                return Err(truncated(Layer::Ipv6, total, buf.len()));
            }
            total
        };
        let mut h = Ipv6Header {
            src: Ipv6Addr::from(arr16(buf, OFF_SRC).ok_or_else(too_short)?),
            dst: Ipv6Addr::from(arr16(buf, OFF_DST).ok_or_else(too_short)?),
            hop_limit: byte(buf, OFF_HOP_LIMIT).ok_or_else(too_short)?,
            traffic_class: (word0 >> 20) as u8,
            flow_label: word0 & 0x000f_ffff,
            payload_len,
            protocol: byte(buf, OFF_NEXT_HEADER).ok_or_else(too_short)?,
            header_len: HEADER_LEN,
            is_fragment: false,
            frag_offset: 0,
            more_fragments: false,
        };
        let mut walked = 0;
        loop {
            let off = h.header_len;
            let len = match h.protocol {
                // RFC 8200 §4.1: the hop-by-hop header may only follow the fixed header;
                // the kernel treats one anywhere else as an unknown next header and
                // drops the packet (ip6_input_finish: only ipv6_rcv parses hop-by-hop).
                proto::HOPOPT if off != HEADER_LEN => {
                    return Err(ParseError::HopByHopNotFirst);
                }
                proto::HOPOPT | proto::IPV6_ROUTE | proto::IPV6_OPTS => {
                    byte(buf, off + 1).map(|l| (usize::from(l) + 1) * 8)
                }
                PROTO_AH => byte(buf, off + 1).map(|l| (usize::from(l) + 2) * 4),
                proto::IPV6_FRAG => Some(8),
                _ => break,
            };
            if walked == MAX_EXT_HEADERS {
                return Err(ParseError::TooManyExtensionHeaders);
            }
            walked += 1;
            let Some(len) = len else {
                return Err(truncated(Layer::Ipv6, off + 2, limit));
            };
            if off + len > limit {
                return Err(truncated(Layer::Ipv6, off + len, limit));
            }
            let next = byte(buf, off).ok_or_else(|| truncated(Layer::Ipv6, off + 1, limit))?;
            if h.protocol == proto::IPV6_FRAG {
                let fo =
                    be16(buf, off + 2).ok_or_else(|| truncated(Layer::Ipv6, off + 4, limit))?;
                h.is_fragment = true;
                h.frag_offset = fo & 0xfff8;
                h.more_fragments = fo & 1 != 0;
            }
            h.protocol = next;
            h.header_len = off + len;
            if h.frag_offset != 0 {
                // Later fragments carry payload bytes, not headers.
                break;
            }
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(next: u8, payload: &[u8]) -> [u8; 128] {
        let mut b = [0u8; 128];
        b[0] = 0x6a;
        b[1] = 0xb1;
        b[2] = 0x23;
        b[3] = 0x45;
        b[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        b[6] = next;
        b[7] = 33;
        b[8] = 0x20;
        b[9] = 0x01;
        b[23] = 1;
        b[24] = 0x20;
        b[25] = 0x01;
        b[39] = 2;
        b[40..40 + payload.len()].copy_from_slice(payload);
        b
    }

    #[test]
    fn plain_udp() {
        let b = base(17, &[0; 8]);
        let h = Ipv6Header::parse(&b[..48]).unwrap();
        assert_eq!(h.protocol, 17);
        assert_eq!(h.header_len, 40);
        assert_eq!(h.hop_limit, 33);
        assert_eq!(h.traffic_class, 0xab);
        assert_eq!(h.flow_label, 0x12345);
        assert_eq!(h.src, "2001::1".parse::<Ipv6Addr>().unwrap());
        assert!(!h.is_fragment);
        assert!(Ipv6Header::parse(&b[..47]).is_err());
    }

    #[test]
    fn ext_chain_and_fragment() {
        // Hop-by-hop (8 bytes) -> fragment (offset 0, M) -> TCP.
        let mut p = [0u8; 36];
        p[0] = 44;
        p[1] = 0;
        p[8] = 6;
        p[10..12].copy_from_slice(&1u16.to_be_bytes());
        let b = base(0, &p);
        let h = Ipv6Header::parse(&b[..76]).unwrap();
        assert_eq!(h.protocol, 6);
        assert_eq!(h.header_len, 56);
        assert!(h.is_fragment);
        assert!(h.more_fragments);
        assert_eq!(h.frag_offset, 0);
    }

    #[test]
    fn later_fragment_stops_walk() {
        let mut p = [0u8; 16];
        p[0] = 0; // would claim hop-by-hop next, but it's payload
        p[2..4].copy_from_slice(&(185u16 << 3).to_be_bytes());
        let b = base(44, &p);
        let h = Ipv6Header::parse(&b[..56]).unwrap();
        assert_eq!(h.frag_offset, 1480);
        assert_eq!(h.header_len, 48);
    }

    #[test]
    fn hop_by_hop_only_first() {
        // Destination options (8 bytes) -> hop-by-hop: refused.
        let mut p = [0u8; 24];
        p[0] = 0;
        p[8] = 6;
        let b = base(60, &p);
        assert_eq!(
            Ipv6Header::parse(&b[..64]),
            Err(ParseError::HopByHopNotFirst)
        );
    }

    #[test]
    fn bounded_chain() {
        // 10 destination-options headers chained: rejected.
        let mut p = [0u8; 80];
        for i in 0..10 {
            p[i * 8] = 60;
        }
        let b = base(60, &p);
        assert_eq!(
            Ipv6Header::parse(&b[..120]),
            Err(ParseError::TooManyExtensionHeaders)
        );
    }

    #[test]
    fn ext_header_past_end() {
        let p = [6u8, 4, 0, 0, 0, 0, 0, 0];
        let b = base(60, &p);
        assert!(matches!(
            Ipv6Header::parse(&b[..48]),
            Err(ParseError::Truncated { .. })
        ));
    }
}
