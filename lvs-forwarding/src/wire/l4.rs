//! TCP (RFC 9293) and UDP (RFC 768) headers.
//!
//! Only what connection tracking and NAT need is read: ports, TCP flags, and where the
//! checksum sits. The payload is never touched.

use super::{Layer, ParseError, be16_at, truncated};
use core::fmt;

/// Offset of the checksum inside a TCP header.
pub const TCP_OFF_CHECKSUM: usize = 16;
/// Offset of the checksum inside a UDP header.
pub const UDP_OFF_CHECKSUM: usize = 6;
/// Offset of the length field inside a UDP header.
pub const UDP_OFF_LEN: usize = 4;
/// Minimum TCP header length.
pub const TCP_MIN_HEADER_LEN: usize = 20;
/// UDP header length.
pub const UDP_HEADER_LEN: usize = 8;

/// The TCP flag bits (low byte of the flags field: CWR ECE URG ACK PSH RST SYN FIN).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;

    /// FIN set.
    pub const fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    /// SYN set.
    pub const fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    /// RST set.
    pub const fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    /// ACK set.
    pub const fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 8] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
        f.write_str("TcpFlags(")?;
        let mut first = true;
        for (i, n) in NAMES.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(n)?;
                first = false;
            }
        }
        f.write_str(")")
    }
}

/// The fields of a TCP header the director uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Flags.
    pub flags: TcpFlags,
    /// Header length in bytes (data offset * 4).
    pub header_len: usize,
}

impl TcpHeader {
    /// Parses a TCP header at the start of `seg` (the whole segment, so the data offset can
    /// be checked against it).
    #[inline]
    pub fn parse(seg: &[u8]) -> Result<TcpHeader, ParseError> {
        // The fixed 20 bytes as an array: no bounds check per field.
        let Some(h) = seg.first_chunk::<TCP_MIN_HEADER_LEN>() else {
            return Err(truncated(Layer::Tcp, TCP_MIN_HEADER_LEN, seg.len()));
        };
        let doff = h[12] >> 4;
        let header_len = usize::from(doff) * 4;
        if doff < 5 || header_len > seg.len() {
            return Err(ParseError::BadTcpDataOffset(doff));
        }
        Ok(TcpHeader {
            src_port: be16_at(h, 0),
            dst_port: be16_at(h, 2),
            flags: TcpFlags(h[13]),
            header_len,
        })
    }
}

/// The fields of a UDP header the director uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Length field (header + payload).
    pub len: u16,
    /// Checksum field (0 = none, IPv4 only).
    pub checksum: u16,
}

impl UdpHeader {
    /// Parses a UDP header at the start of `seg` (the whole IP payload).
    #[inline]
    pub fn parse(seg: &[u8]) -> Result<UdpHeader, ParseError> {
        // The 8-byte header as an array: no bounds check per field.
        let Some(h) = seg.first_chunk::<UDP_HEADER_LEN>() else {
            return Err(truncated(Layer::Udp, UDP_HEADER_LEN, seg.len()));
        };
        let len = be16_at(h, UDP_OFF_LEN);
        if usize::from(len) < UDP_HEADER_LEN || usize::from(len) > seg.len() {
            return Err(ParseError::BadUdpLength(len));
        }
        Ok(UdpHeader {
            src_port: be16_at(h, 0),
            dst_port: be16_at(h, 2),
            len,
            checksum: be16_at(h, UDP_OFF_CHECKSUM),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn tcp() {
        let mut s = [0u8; 24];
        s[0..2].copy_from_slice(&1234u16.to_be_bytes());
        s[2..4].copy_from_slice(&80u16.to_be_bytes());
        s[12] = 6 << 4;
        s[13] = TcpFlags::SYN | TcpFlags::ACK;
        let h = TcpHeader::parse(&s).unwrap();
        assert_eq!((h.src_port, h.dst_port, h.header_len), (1234, 80, 24));
        assert!(h.flags.syn() && h.flags.ack() && !h.flags.fin());
        assert_eq!(format!("{:?}", h.flags), "TcpFlags(SYN|ACK)");
        s[12] = 7 << 4;
        assert_eq!(TcpHeader::parse(&s), Err(ParseError::BadTcpDataOffset(7)));
        s[12] = 4 << 4;
        assert_eq!(TcpHeader::parse(&s), Err(ParseError::BadTcpDataOffset(4)));
        assert!(TcpHeader::parse(&s[..19]).is_err());
    }

    #[test]
    fn udp() {
        let mut s = [0u8; 12];
        s[0..2].copy_from_slice(&53u16.to_be_bytes());
        s[2..4].copy_from_slice(&5353u16.to_be_bytes());
        s[4..6].copy_from_slice(&12u16.to_be_bytes());
        let h = UdpHeader::parse(&s).unwrap();
        assert_eq!((h.src_port, h.dst_port, h.len), (53, 5353, 12));
        s[4..6].copy_from_slice(&13u16.to_be_bytes());
        assert_eq!(UdpHeader::parse(&s), Err(ParseError::BadUdpLength(13)));
        s[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(UdpHeader::parse(&s), Err(ParseError::BadUdpLength(7)));
    }
}
