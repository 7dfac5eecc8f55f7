//! ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) message types, plus the neighbour-discovery
//! messages (RFC 4861) the director answers or sends.
//!
//! The parsing of the packet *quoted* inside an error lives in `frame.rs`, because it reuses
//! the IP parsers in their lenient `parse_quoted` mode; this module knows the numbers and
//! the NDP body layout.

use super::{Layer, MacAddr, ParseError, arr6, arr16, byte, truncated};
use core::net::Ipv6Addr;

/// ICMPv4 echo reply.
pub const V4_ECHO_REPLY: u8 = 0;
/// ICMPv4 destination unreachable.
pub const V4_DEST_UNREACH: u8 = 3;
/// ICMPv4 source quench (deprecated, still relayed by IPVS).
pub const V4_SOURCE_QUENCH: u8 = 4;
/// ICMPv4 echo request.
pub const V4_ECHO_REQUEST: u8 = 8;
/// ICMPv4 time exceeded.
pub const V4_TIME_EXCEEDED: u8 = 11;
/// ICMPv4 parameter problem.
pub const V4_PARAM_PROBLEM: u8 = 12;
/// Code of "port unreachable" under [`V4_DEST_UNREACH`].
pub const V4_CODE_PORT_UNREACH: u8 = 3;
/// Code of "fragmentation needed and DF set" under [`V4_DEST_UNREACH`].
pub const V4_CODE_FRAG_NEEDED: u8 = 4;
/// Code of "TTL exceeded in transit" under [`V4_TIME_EXCEEDED`].
pub const V4_CODE_TTL_EXCEEDED: u8 = 0;

/// ICMPv6 destination unreachable.
pub const V6_DEST_UNREACH: u8 = 1;
/// ICMPv6 packet too big.
pub const V6_PACKET_TOO_BIG: u8 = 2;
/// ICMPv6 time exceeded.
pub const V6_TIME_EXCEEDED: u8 = 3;
/// ICMPv6 parameter problem.
pub const V6_PARAM_PROBLEM: u8 = 4;
/// ICMPv6 echo request.
pub const V6_ECHO_REQUEST: u8 = 128;
/// ICMPv6 echo reply.
pub const V6_ECHO_REPLY: u8 = 129;
/// Neighbour solicitation.
pub const V6_NEIGHBOR_SOLICIT: u8 = 135;
/// Neighbour advertisement.
pub const V6_NEIGHBOR_ADVERT: u8 = 136;
/// Code of "port unreachable" under [`V6_DEST_UNREACH`].
pub const V6_CODE_PORT_UNREACH: u8 = 4;
/// Code of "hop limit exceeded in transit" under [`V6_TIME_EXCEEDED`].
pub const V6_CODE_HOP_LIMIT: u8 = 0;

/// NDP option: source link-layer address.
pub const NDP_OPT_SOURCE_LL: u8 = 1;
/// NDP option: target link-layer address.
pub const NDP_OPT_TARGET_LL: u8 = 2;
/// Length of the ICMP header (type, code, checksum, 4 type-specific bytes).
pub const HEADER_LEN: usize = 8;
/// Offset of the ICMP checksum.
pub const OFF_CHECKSUM: usize = 2;
/// Length of an NS/NA body up to the options (ICMP header + target address).
pub const NDP_FIXED_LEN: usize = 24;

/// True if an ICMPv4 message of this type is an error carrying a quoted packet, the ones
/// IPVS relays (dest-unreach, source-quench, time-exceeded) plus parameter problem.
pub const fn is_v4_error(ty: u8) -> bool {
    matches!(
        ty,
        V4_DEST_UNREACH | V4_SOURCE_QUENCH | V4_TIME_EXCEEDED | V4_PARAM_PROBLEM
    )
}

/// True if an ICMPv6 message of this type is an error (RFC 4443: types 0..=127).
pub const fn is_v6_error(ty: u8) -> bool {
    ty < 128
}

/// Which neighbour-discovery message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NdpKind {
    /// Neighbour solicitation (type 135).
    Solicitation,
    /// Neighbour advertisement (type 136) and its R/S/O flags.
    Advertisement {
        /// Router flag.
        router: bool,
        /// Solicited flag.
        solicited: bool,
        /// Override flag.
        override_flag: bool,
    },
}

/// The parts of a neighbour solicitation / advertisement the director uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NdpInfo {
    /// Solicitation or advertisement.
    pub kind: NdpKind,
    /// The target address.
    pub target: Ipv6Addr,
    /// The source link-layer option (NS) or target link-layer option (NA), if present.
    pub link_addr: Option<MacAddr>,
}

impl NdpInfo {
    /// Parses an NS or NA message; `msg` starts at the ICMPv6 header and ends with the IP
    /// payload. Returns `Ok(None)` for other ICMPv6 types.
    pub fn parse(msg: &[u8]) -> Result<Option<NdpInfo>, ParseError> {
        let Some(ty) = byte(msg, 0) else {
            return Err(truncated(Layer::Icmp, 1, msg.len()));
        };
        let (kind, wanted_opt) = match ty {
            V6_NEIGHBOR_SOLICIT => (NdpKind::Solicitation, NDP_OPT_SOURCE_LL),
            V6_NEIGHBOR_ADVERT => {
                let fl = byte(msg, 4).unwrap_or(0);
                (
                    NdpKind::Advertisement {
                        router: fl & 0x80 != 0,
                        solicited: fl & 0x40 != 0,
                        override_flag: fl & 0x20 != 0,
                    },
                    NDP_OPT_TARGET_LL,
                )
            }
            _ => return Ok(None),
        };
        let Some(target) = arr16(msg, 8) else {
            return Err(truncated(Layer::Icmp, NDP_FIXED_LEN, msg.len()));
        };
        let mut link_addr = None;
        let mut off = NDP_FIXED_LEN;
        // Each option is at least 8 bytes, so this loop is bounded by msg.len() / 8.
        while off < msg.len() {
            let (Some(ot), Some(ol)) = (byte(msg, off), byte(msg, off + 1)) else {
                return Err(truncated(Layer::Icmp, off + 2, msg.len()));
            };
            if ol == 0 {
                return Err(ParseError::BadNdpOption);
            }
            let olen = usize::from(ol) * 8;
            if off + olen > msg.len() {
                return Err(truncated(Layer::Icmp, off + olen, msg.len()));
            }
            if ot == wanted_opt && link_addr.is_none() {
                link_addr = arr6(msg, off + 2).map(MacAddr);
            }
            off += olen;
        }
        Ok(Some(NdpInfo {
            kind,
            target: Ipv6Addr::from(target),
            link_addr,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ns_with_option() {
        let mut m = [0u8; 32];
        m[0] = V6_NEIGHBOR_SOLICIT;
        m[8] = 0xfe;
        m[9] = 0x80;
        m[23] = 7;
        m[24] = NDP_OPT_SOURCE_LL;
        m[25] = 1;
        m[26..32].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
        let n = NdpInfo::parse(&m).unwrap().unwrap();
        assert_eq!(n.kind, NdpKind::Solicitation);
        assert_eq!(n.target, "fe80::7".parse::<Ipv6Addr>().unwrap());
        assert_eq!(n.link_addr, Some(MacAddr([2, 0, 0, 0, 0, 9])));
        m[25] = 0;
        assert_eq!(NdpInfo::parse(&m), Err(ParseError::BadNdpOption));
        m[25] = 2;
        assert!(NdpInfo::parse(&m).is_err());
        assert!(NdpInfo::parse(&m[..20]).is_err());
    }

    #[test]
    fn na_flags() {
        let mut m = [0u8; 24];
        m[0] = V6_NEIGHBOR_ADVERT;
        m[4] = 0x60;
        let n = NdpInfo::parse(&m).unwrap().unwrap();
        assert_eq!(
            n.kind,
            NdpKind::Advertisement {
                router: false,
                solicited: true,
                override_flag: true
            }
        );
        assert_eq!(n.link_addr, None);
        m[0] = V6_ECHO_REQUEST;
        assert_eq!(NdpInfo::parse(&m), Ok(None));
    }

    #[test]
    fn error_types() {
        assert!(is_v4_error(3) && is_v4_error(11) && !is_v4_error(8) && !is_v4_error(0));
        assert!(is_v6_error(2) && !is_v6_error(128) && !is_v6_error(135));
    }
}
