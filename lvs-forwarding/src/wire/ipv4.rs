//! IPv4 header (RFC 791), options allowed.
//!
//! Two entry points: [`Ipv4Header::parse`] is strict (total length must fit in the buffer),
//! [`Ipv4Header::parse_quoted`] is for the header quoted inside an ICMP error, where the
//! packet behind it is truncated by design and only the header itself must be present.

use super::{Layer, ParseError, arr4_at, be16_at, byte, truncated};
use core::net::Ipv4Addr;

/// Minimum (option-less) IPv4 header length.
pub const MIN_HEADER_LEN: usize = 20;
/// Offset of the TOS / DSCP+ECN byte.
pub const OFF_TOS: usize = 1;
/// Offset of the total length field.
pub const OFF_TOTAL_LEN: usize = 2;
/// Offset of the identification field.
pub const OFF_ID: usize = 4;
/// Offset of the flags + fragment offset field.
pub const OFF_FRAG: usize = 6;
/// Offset of the TTL byte (the protocol byte follows; both form one checksum word).
pub const OFF_TTL: usize = 8;
/// Offset of the protocol byte.
pub const OFF_PROTO: usize = 9;
/// Offset of the header checksum.
pub const OFF_CHECKSUM: usize = 10;
/// Offset of the source address.
pub const OFF_SRC: usize = 12;
/// Offset of the destination address.
pub const OFF_DST: usize = 16;
/// "Don't fragment" flag in the flags+offset word.
pub const FLAG_DF: u16 = 0x4000;
/// "More fragments" flag in the flags+offset word.
pub const FLAG_MF: u16 = 0x2000;
/// Option type "end of option list" (RFC 791 §3.1).
pub const OPT_EOL: u8 = 0;
/// Option type "no operation" (RFC 791 §3.1).
pub const OPT_NOP: u8 = 1;
/// Option type "loose source and record route" (RFC 791 §3.1, type 131).
pub const OPT_LSRR: u8 = 131;
/// Option type "strict source and record route" (RFC 791 §3.1, type 137).
pub const OPT_SSRR: u8 = 137;

/// Whether the IPv4 header `h` (exactly IHL * 4 bytes, checksum field included) has a
/// valid header checksum (RFC 791 §3.1; the kernel's `ip_rcv` drops it otherwise with
/// `ip_fast_csum`).
///
/// Why this shape: it runs for every IPv4 frame, so it sums big-endian 32-bit words into a
/// `u64` (an IPv4 header is a whole number of them, at most 15) and folds once; a header
/// whose one's complement sum is `0xffff` is valid.
#[inline]
pub fn header_checksum_ok(h: &[u8]) -> bool {
    let Some(fixed) = h.first_chunk::<MIN_HEADER_LEN>() else {
        return false;
    };
    let w = |i: usize| {
        u64::from(u32::from_be_bytes([
            fixed[i],
            fixed[i + 1],
            fixed[i + 2],
            fixed[i + 3],
        ]))
    };
    let mut acc = w(0) + w(4) + w(8) + w(12) + w(16);
    if h.len() > MIN_HEADER_LEN {
        let opts = &h[MIN_HEADER_LEN..];
        if !opts.len().is_multiple_of(4) {
            return false;
        }
        for o in opts.chunks_exact(4) {
            acc += u64::from(u32::from_be_bytes([o[0], o[1], o[2], o[3]]));
        }
    }
    super::checksum::fold(acc) == 0xffff
}

/// What the options of an IPv4 header ask for, as far as input filtering cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OptionsVerdict {
    /// No source route (options absent, or only others such as record route).
    Plain,
    /// A loose or strict source route option (LSRR/SSRR): Linux drops these on input
    /// unless `accept_source_route` is set (`ip_rcv_options`).
    SourceRoute,
    /// An option whose length byte is missing, below 2 or past the header: the kernel's
    /// `ip_options_compile` refuses the packet.
    Malformed,
}

/// Walks the options of an IPv4 header (`opts` = the bytes between the fixed 20-byte header
/// and IHL * 4). Bounded by the 40 option bytes an IPv4 header can hold.
pub fn scan_options(opts: &[u8]) -> OptionsVerdict {
    let mut off = 0;
    let mut verdict = OptionsVerdict::Plain;
    while let Some(&ty) = opts.get(off) {
        match ty {
            OPT_EOL => break,
            OPT_NOP => off += 1,
            _ => {
                let Some(&l) = opts.get(off + 1) else {
                    return OptionsVerdict::Malformed;
                };
                let l = usize::from(l);
                if l < 2 || off + l > opts.len() {
                    return OptionsVerdict::Malformed;
                }
                if ty == OPT_LSRR || ty == OPT_SSRR {
                    verdict = OptionsVerdict::SourceRoute;
                }
                off += l;
            }
        }
    }
    verdict
}

/// The fields of an IPv4 header the director uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Header {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Time to live.
    pub ttl: u8,
    /// TOS byte: DSCP (upper 6 bits) and ECN (lower 2).
    pub tos: u8,
    /// Total length from the header.
    pub total_len: u16,
    /// Header length in bytes (IHL * 4).
    pub header_len: usize,
    /// Identification.
    pub id: u16,
    /// DF flag.
    pub dont_fragment: bool,
    /// MF flag.
    pub more_fragments: bool,
    /// Fragment offset in bytes.
    pub frag_offset: u16,
    /// Payload protocol.
    pub protocol: u8,
    /// Header checksum as found.
    pub checksum: u16,
}

impl Ipv4Header {
    /// True if this packet is a fragment (first or later).
    pub const fn is_fragment(&self) -> bool {
        self.more_fragments || self.frag_offset != 0
    }

    /// Parses a full IPv4 packet header; `total_len` must fit into `buf`.
    #[inline]
    pub fn parse(buf: &[u8]) -> Result<Ipv4Header, ParseError> {
        let h = Self::parse_quoted(buf)?;
        let tl = usize::from(h.total_len);
        if tl < h.header_len || tl > buf.len() {
            return Err(ParseError::BadTotalLength(h.total_len));
        }
        Ok(h)
    }

    /// Parses an IPv4 header without checking the total length against the buffer (for the
    /// truncated packet quoted in an ICMP error). The header itself, options included, must
    /// be present.
    #[inline]
    pub fn parse_quoted(buf: &[u8]) -> Result<Ipv4Header, ParseError> {
        let Some(vihl) = byte(buf, 0) else {
            return Err(truncated(Layer::Ipv4, MIN_HEADER_LEN, buf.len()));
        };
        if vihl >> 4 != 4 {
            return Err(ParseError::BadVersion(vihl >> 4));
        }
        let ihl = vihl & 0x0f;
        if ihl < 5 {
            return Err(ParseError::BadIhl(ihl));
        }
        let header_len = usize::from(ihl) * 4;
        if buf.len() < header_len {
            return Err(truncated(Layer::Ipv4, header_len, buf.len()));
        }
        // header_len >= MIN_HEADER_LEN bytes are there: read the fixed part
        // as an array, so that no field needs its own bounds check.
        let Some(h) = buf.first_chunk::<MIN_HEADER_LEN>() else {
            return Err(truncated(Layer::Ipv4, header_len, buf.len()));
        };
        let frag = be16_at(h, OFF_FRAG);
        Ok(Ipv4Header {
            src: Ipv4Addr::from(arr4_at(h, OFF_SRC)),
            dst: Ipv4Addr::from(arr4_at(h, OFF_DST)),
            ttl: h[OFF_TTL],
            tos: h[OFF_TOS],
            total_len: be16_at(h, OFF_TOTAL_LEN),
            header_len,
            id: be16_at(h, OFF_ID),
            dont_fragment: frag & FLAG_DF != 0,
            more_fragments: frag & FLAG_MF != 0,
            frag_offset: (frag & 0x1fff) << 3,
            protocol: h[OFF_PROTO],
            checksum: be16_at(h, OFF_CHECKSUM),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr() -> [u8; 24] {
        let mut h = [0u8; 24];
        h[0] = 0x45;
        h[1] = 0xb8;
        h[2..4].copy_from_slice(&24u16.to_be_bytes());
        h[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        h[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
        h[8] = 64;
        h[9] = 17;
        h[12..16].copy_from_slice(&[10, 0, 0, 1]);
        h[16..20].copy_from_slice(&[10, 0, 0, 2]);
        h
    }

    #[test]
    fn parses_fields() {
        let h = Ipv4Header::parse(&hdr()).unwrap();
        assert_eq!(h.src, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(h.dst, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(h.ttl, 64);
        assert_eq!(h.tos, 0xb8);
        assert_eq!(h.protocol, 17);
        assert!(h.dont_fragment);
        assert!(!h.is_fragment());
        assert_eq!(h.header_len, 20);
    }

    #[test]
    fn rejects_bad() {
        let mut b = hdr();
        b[0] = 0x44;
        assert_eq!(Ipv4Header::parse(&b), Err(ParseError::BadIhl(4)));
        let mut b = hdr();
        b[0] = 0x65;
        assert_eq!(Ipv4Header::parse(&b), Err(ParseError::BadVersion(6)));
        let mut b = hdr();
        b[2..4].copy_from_slice(&25u16.to_be_bytes());
        assert_eq!(Ipv4Header::parse(&b), Err(ParseError::BadTotalLength(25)));
        let mut b = hdr();
        b[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(Ipv4Header::parse(&b), Err(ParseError::BadTotalLength(19)));
        // Options announced but missing.
        let mut b = hdr();
        b[0] = 0x47;
        assert!(matches!(
            Ipv4Header::parse(&b),
            Err(ParseError::Truncated { .. })
        ));
        assert!(Ipv4Header::parse(&hdr()[..10]).is_err());
    }

    #[test]
    fn header_checksum() {
        let mut b = hdr();
        b[0] = 0x46; // 24-byte header: one NOP word of options
        b[20..24].copy_from_slice(&[1, 1, 1, 0]);
        assert!(!header_checksum_ok(&b));
        let c = super::super::checksum::checksum(&b);
        b[10..12].copy_from_slice(&c.to_be_bytes());
        assert!(header_checksum_ok(&b));
        b[8] ^= 1;
        assert!(!header_checksum_ok(&b));
        assert!(!header_checksum_ok(&b[..19]));
        assert!(!header_checksum_ok(&b[..22]));
    }

    #[test]
    fn options() {
        assert_eq!(scan_options(&[]), OptionsVerdict::Plain);
        assert_eq!(scan_options(&[1, 1, 1, 0]), OptionsVerdict::Plain);
        // Record route (7), length 7, pointer 4, one slot.
        assert_eq!(
            scan_options(&[7, 7, 4, 0, 0, 0, 0, 0]),
            OptionsVerdict::Plain
        );
        assert_eq!(
            scan_options(&[1, OPT_LSRR, 7, 4, 10, 0, 0, 1]),
            OptionsVerdict::SourceRoute
        );
        assert_eq!(
            scan_options(&[OPT_SSRR, 7, 4, 10, 0, 0, 1, 0]),
            OptionsVerdict::SourceRoute
        );
        assert_eq!(scan_options(&[7, 1, 0, 0]), OptionsVerdict::Malformed);
        assert_eq!(scan_options(&[7, 9, 4, 0]), OptionsVerdict::Malformed);
        assert_eq!(scan_options(&[7]), OptionsVerdict::Malformed);
    }

    #[test]
    fn quoted_ignores_total_len() {
        let mut b = hdr();
        b[2..4].copy_from_slice(&1500u16.to_be_bytes());
        assert!(Ipv4Header::parse(&b).is_err());
        assert_eq!(Ipv4Header::parse_quoted(&b).unwrap().total_len, 1500);
    }
}
