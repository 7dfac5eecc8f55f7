//! ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) message types, plus the neighbour-discovery
//! messages (RFC 4861) the director answers or sends.
//!
//! The parsing of the packet *quoted* inside an error lives in `frame.rs`, because it reuses
//! the IP parsers in their lenient `parse_quoted` mode; this module knows the numbers and
//! the NDP body layout.
//!
//! NDP is parsed in two steps. [`NdpInfo::parse`] reads the body (the frame parser calls
//! it for every NS/NA, and only refuses what cannot be read); [`NdpInfo::validate`] then
//! applies RFC 4861 §7.1.1/§7.1.2 with the IP header's addresses and hop limit and returns a
//! [`ValidNdp`], the only form the director's neighbour cache learns from. The checks live
//! here rather than in the director because they are properties of the message alone
//! (hop limit 255 proves it was not forwarded, so it came from the link; the checksum covers
//! the pseudo-header, so an off-link sender cannot rewrite the addresses), and an embedder
//! parsing NDP for its own purposes needs the same ones.

use super::{Layer, MacAddr, ParseError, arr6, arr16, byte, checksum, truncated};
use core::fmt;
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
/// Length of an NS/NA body up to the options (ICMP header + target address); RFC 4861
/// §7.1.1/§7.1.2: "ICMP length (derived from the IP length) is 24 or more octets".
pub const NDP_FIXED_LEN: usize = 24;
/// The only hop limit an NS/NA may arrive with: it proves the message was not forwarded by
/// a router (RFC 4861 §7.1.1/§7.1.2, "The IP Hop Limit field has a value of 255").
pub const NDP_HOP_LIMIT: u8 = 255;
/// IPv6 next-header number of ICMPv6 (RFC 4443 §1), for the checksum's pseudo-header.
pub const ICMPV6_NEXT_HEADER: u8 = 58;

/// Whether the ICMPv4 message `msg` (ICMP header to the end of the IP payload) has a valid
/// checksum (RFC 792; the kernel's `icmp_rcv` drops it otherwise).
pub fn v4_checksum_ok(msg: &[u8]) -> bool {
    checksum::fold(checksum::sum(msg, 0)) == 0xffff
}

/// Whether the ICMPv6 message `msg` between `src` and `dst` has a valid checksum over the
/// pseudo-header and the message (RFC 4443 §2.3; `icmpv6_rcv` drops it otherwise).
pub fn v6_checksum_ok(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> bool {
    let Ok(len) = u32::try_from(msg.len()) else {
        return false;
    };
    let init = checksum::pseudo_v6(src, dst, ICMPV6_NEXT_HEADER, len);
    checksum::fold(checksum::sum(msg, init)) == 0xffff
}

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

/// Why an NS/NA failed RFC 4861 §7.1.1/§7.1.2 validation (the RFC says: silently discard).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NdpError {
    /// The IP hop limit was not 255: the message was forwarded, so it is not from the link.
    HopLimit(u8),
    /// The ICMPv6 checksum (over the pseudo-header and message) does not verify.
    Checksum,
    /// The ICMP code was not 0.
    Code(u8),
    /// The ICMP length was under 24 octets.
    Length(usize),
    /// The target address is multicast.
    MulticastTarget,
    /// An advertisement to a multicast destination has the Solicited flag set.
    SolicitedToMulticast,
    /// A solicitation from the unspecified address (duplicate address detection) is not
    /// sent to a solicited-node multicast address.
    DadDestination,
    /// A solicitation from the unspecified address carries a source link-layer option.
    DadSourceLinkAddr,
}

impl fmt::Display for NdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NdpError::HopLimit(h) => write!(f, "neighbour discovery with hop limit {h}, not 255"),
            NdpError::Checksum => f.write_str("neighbour discovery with a bad ICMPv6 checksum"),
            NdpError::Code(c) => write!(f, "neighbour discovery with ICMP code {c}, not 0"),
            NdpError::Length(l) => write!(f, "neighbour discovery of {l} octets, under 24"),
            NdpError::MulticastTarget => f.write_str("neighbour discovery for a multicast target"),
            NdpError::SolicitedToMulticast => {
                f.write_str("solicited neighbour advertisement to a multicast destination")
            }
            NdpError::DadDestination => {
                f.write_str("solicitation from :: not sent to a solicited-node multicast address")
            }
            NdpError::DadSourceLinkAddr => {
                f.write_str("solicitation from :: with a source link-layer option")
            }
        }
    }
}

impl core::error::Error for NdpError {}

/// True for a solicited-node multicast address, ff02::1:ff00:0/104 (RFC 4291 §2.7.1).
pub const fn is_solicited_node(a: &Ipv6Addr) -> bool {
    let o = a.octets();
    o[0] == 0xff
        && o[1] == 0x02
        && o[2] == 0
        && o[3] == 0
        && o[4] == 0
        && o[5] == 0
        && o[6] == 0
        && o[7] == 0
        && o[8] == 0
        && o[9] == 0
        && o[10] == 0
        && o[11] == 1
        && o[12] == 0xff
}

/// An NS or NA that passed [`NdpInfo::validate`], with the addresses of its IP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidNdp {
    /// The message.
    pub info: NdpInfo,
    /// IP source address.
    pub src: Ipv6Addr,
    /// IP destination address.
    pub dst: Ipv6Addr,
}

impl ValidNdp {
    /// A duplicate address detection probe: a solicitation from `::`. Nothing may be learned
    /// from it (RFC 4861 §7.2.3: the sender has no address yet).
    pub fn is_dad(&self) -> bool {
        self.info.kind == NdpKind::Solicitation && self.src.is_unspecified()
    }

    /// The link-layer address the message teaches, if any: the target's for an
    /// advertisement, the sender's for a solicitation (never for DAD).
    pub fn link_addr(&self) -> Option<MacAddr> {
        if self.is_dad() {
            None
        } else {
            self.info.link_addr
        }
    }
}

impl NdpInfo {
    /// Validates this NS/NA as RFC 4861 §7.1.1 (NS) and §7.1.2 (NA) require, given the IP
    /// header's `src`, `dst` and `hop_limit` and the whole ICMPv6 message `msg` (from its
    /// type byte to the end of the IP payload, as the length and checksum cover it). Option
    /// lengths were checked by [`NdpInfo::parse`].
    pub fn validate(
        &self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
        msg: &[u8],
    ) -> Result<ValidNdp, NdpError> {
        if hop_limit != NDP_HOP_LIMIT {
            return Err(NdpError::HopLimit(hop_limit));
        }
        if msg.len() < NDP_FIXED_LEN {
            return Err(NdpError::Length(msg.len()));
        }
        let code = byte(msg, 1).unwrap_or(0);
        if code != 0 {
            return Err(NdpError::Code(code));
        }
        // An ICMPv6 message is at most an IPv6 payload (u32 with jumbograms): the length
        // always fits; a message that somehow did not cannot verify.
        let Ok(len) = u32::try_from(msg.len()) else {
            return Err(NdpError::Checksum);
        };
        let acc = checksum::sum(msg, checksum::pseudo_v6(src, dst, ICMPV6_NEXT_HEADER, len));
        if checksum::fold(acc) != 0xffff {
            return Err(NdpError::Checksum);
        }
        if self.target.is_multicast() {
            return Err(NdpError::MulticastTarget);
        }
        match self.kind {
            NdpKind::Advertisement { solicited, .. } => {
                if solicited && dst.is_multicast() {
                    return Err(NdpError::SolicitedToMulticast);
                }
            }
            NdpKind::Solicitation => {
                if src.is_unspecified() {
                    if !is_solicited_node(&dst) {
                        return Err(NdpError::DadDestination);
                    }
                    if self.link_addr.is_some() {
                        return Err(NdpError::DadSourceLinkAddr);
                    }
                }
            }
        }
        Ok(ValidNdp {
            info: *self,
            src,
            dst,
        })
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

    /// An NS/NA with a valid checksum over `src`/`dst`.
    fn ndp(
        ty: u8,
        flags: u8,
        target: Ipv6Addr,
        opt: Option<(u8, [u8; 6])>,
        src: Ipv6Addr,
        dst: Ipv6Addr,
    ) -> ([u8; 32], usize) {
        let mut m = [0u8; 32];
        m[0] = ty;
        m[4] = flags;
        m[8..24].copy_from_slice(&target.octets());
        let len = if let Some((ot, mac)) = opt {
            m[24] = ot;
            m[25] = 1;
            m[26..32].copy_from_slice(&mac);
            32
        } else {
            24
        };
        let c = checksum::finish(checksum::sum(
            &m[..len],
            checksum::pseudo_v6(src, dst, ICMPV6_NEXT_HEADER, len as u32),
        ));
        m[2..4].copy_from_slice(&c.to_be_bytes());
        (m, len)
    }

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// Each RFC 4861 §7.1 rule refuses what it must, and a correct message passes.
    #[test]
    fn validation_rules() {
        let (src, t) = (a("fe80::2"), a("2001:db8::1"));
        let mac = [2, 0, 0, 0, 0, 2];
        let check = |ty, flags, opt, src, dst, hop| {
            let (m, len) = ndp(ty, flags, t, opt, src, dst);
            let n = NdpInfo::parse(&m[..len]).unwrap().unwrap();
            n.validate(src, dst, hop, &m[..len])
        };
        let ns_opt = Some((NDP_OPT_SOURCE_LL, mac));
        let na_opt = Some((NDP_OPT_TARGET_LL, mac));
        let v = check(
            V6_NEIGHBOR_SOLICIT,
            0,
            ns_opt,
            src,
            a("ff02::1:ff00:1"),
            255,
        )
        .unwrap();
        assert!(!v.is_dad());
        assert_eq!(v.link_addr(), Some(MacAddr(mac)));
        assert_eq!(
            check(
                V6_NEIGHBOR_SOLICIT,
                0,
                ns_opt,
                src,
                a("ff02::1:ff00:1"),
                254
            ),
            Err(NdpError::HopLimit(254))
        );
        // A solicited NA to us is fine; to all-nodes it is refused.
        assert!(check(V6_NEIGHBOR_ADVERT, 0x60, na_opt, src, a("fe80::1"), 255).is_ok());
        assert_eq!(
            check(V6_NEIGHBOR_ADVERT, 0x60, na_opt, src, a("ff02::1"), 255),
            Err(NdpError::SolicitedToMulticast)
        );
        assert!(check(V6_NEIGHBOR_ADVERT, 0x20, na_opt, src, a("ff02::1"), 255).is_ok());
        // DAD: to a solicited-node group, without the option.
        let dad = check(
            V6_NEIGHBOR_SOLICIT,
            0,
            None,
            Ipv6Addr::UNSPECIFIED,
            a("ff02::1:ff00:1"),
            255,
        )
        .unwrap();
        assert!(dad.is_dad() && dad.link_addr().is_none());
        assert_eq!(
            check(
                V6_NEIGHBOR_SOLICIT,
                0,
                None,
                Ipv6Addr::UNSPECIFIED,
                a("2001:db8::1"),
                255
            ),
            Err(NdpError::DadDestination)
        );
        assert_eq!(
            check(
                V6_NEIGHBOR_SOLICIT,
                0,
                ns_opt,
                Ipv6Addr::UNSPECIFIED,
                a("ff02::1:ff00:1"),
                255
            ),
            Err(NdpError::DadSourceLinkAddr)
        );
        // Checksum: over the pseudo-header too, so a rewritten source fails.
        let (m, len) = ndp(V6_NEIGHBOR_ADVERT, 0x60, t, na_opt, src, a("fe80::1"));
        let n = NdpInfo::parse(&m[..len]).unwrap().unwrap();
        assert_eq!(
            n.validate(a("fe80::3"), a("fe80::1"), 255, &m[..len]),
            Err(NdpError::Checksum)
        );
        let mut bad = m;
        bad[1] = 1;
        assert!(matches!(
            n.validate(src, a("fe80::1"), 255, &bad[..len]),
            Err(NdpError::Checksum | NdpError::Code(1))
        ));
        // Code 1 with a checksum that covers it.
        let c = checksum::finish(checksum::sum(
            &{
                let mut z = bad;
                z[2] = 0;
                z[3] = 0;
                z
            }[..len],
            checksum::pseudo_v6(src, a("fe80::1"), ICMPV6_NEXT_HEADER, len as u32),
        ));
        bad[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(
            n.validate(src, a("fe80::1"), 255, &bad[..len]),
            Err(NdpError::Code(1))
        );
        assert_eq!(
            n.validate(src, a("fe80::1"), 255, &m[..20]),
            Err(NdpError::Length(20))
        );
        // Multicast target.
        let (m, len) = ndp(
            V6_NEIGHBOR_ADVERT,
            0x20,
            a("ff02::1"),
            na_opt,
            src,
            a("ff02::1"),
        );
        let n = NdpInfo::parse(&m[..len]).unwrap().unwrap();
        assert_eq!(
            n.validate(src, a("ff02::1"), 255, &m[..len]),
            Err(NdpError::MulticastTarget)
        );
        assert!(is_solicited_node(&a("ff02::1:ffab:cdef")) && !is_solicited_node(&a("ff02::1")));
    }
}
