//! Offload metadata that travels with a frame: a partial L4 checksum and GSO segmentation.
//!
//! Why it exists: on Linux hosts, frames handed over by veth, TAP or virtio paths often carry
//! only a *partial* checksum (`CHECKSUM_PARTIAL`: the L4 checksum field holds the folded
//! pseudo-header sum, the rest is summed by whoever finishes the frame), and with TSO/GSO/GRO
//! a "frame" can be a 64 KB super-frame that the kernel segments on the way out. A director
//! that rewrites addresses must know this, or it writes garbage checksums. The kernel tells
//! user space about both through the 10-byte `virtio_net_hdr` in front of each frame on a
//! `PACKET_VNET_HDR` socket (and on TAP with `IFF_VNET_HDR`); [`Offload`] is that header as a
//! typed value, with offsets counted from the start of the Ethernet frame, exactly as the
//! kernel counts `csum_start`.
//!
//! [`Offload::NONE`] is a frame as a wire carries it: complete checksum, no segmentation.
//!
//! What the [`Director`](crate::Director) returns in it (see
//! [`process_offload`](crate::Director::process_offload)): for a `Forward` verdict, the state
//! of the forwarded bytes, to be put into the `virtio_net_hdr` the port sends with them. NAT keeps a partial
//! checksum partial (only the address change is folded into the pseudo-header sum), DR
//! passes the offload through, VS/TUN completes a partial checksum in software (the real
//! server decapsulates in user space and must see complete checksums) and keeps a GSO
//! super-frame as one, marked with [`Offload::encap`]: `virtio_net_hdr` cannot express
//! IPIP / GUE segmentation, so the port cuts such a frame itself with
//! [`crate::gso::segment`] (check [`Offload::needs_software_gso`]).

use core::fmt;

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM` (include/uapi/linux/virtio_net.h).
const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_F_DATA_VALID`: the receiver already checked the checksum.
const F_DATA_VALID: u8 = 2;
/// `VIRTIO_NET_HDR_GSO_NONE`.
const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_UDP` (UFO: IP fragmentation of one UDP datagram).
const GSO_UDP: u8 = 3;
/// `VIRTIO_NET_HDR_GSO_TCPV6`.
const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_UDP_L4` (USO: one UDP datagram per segment).
const GSO_UDP_L4: u8 = 5;
/// `VIRTIO_NET_HDR_GSO_ECN`: the TCP segments carry ECN (CWR on the first only).
const GSO_ECN: u8 = 0x80;

/// Length of `struct virtio_net_hdr` (the legacy header packet sockets use).
pub const VIRTIO_NET_HDR_LEN: usize = 10;

/// A partial L4 checksum still to be completed (`VIRTIO_NET_HDR_F_NEEDS_CSUM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartialCsum {
    /// Offset from the start of the Ethernet frame where summing starts (the L4 header).
    pub start: u16,
    /// Offset of the checksum field from `start` (16 for TCP, 6 for UDP).
    pub offset: u16,
}

/// What the segmentation of a GSO super-frame produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GsoKind {
    /// TCP over IPv4, segments of `size` payload bytes.
    TcpV4,
    /// TCP over IPv6.
    TcpV6,
    /// UDP segmentation offload: one UDP datagram of `size` payload bytes per segment.
    UdpL4,
    /// UDP fragmentation offload (legacy): one datagram, IP fragments of `size` bytes.
    Udp,
}

/// A GSO super-frame: the kernel (or a later hop) cuts it into segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gso {
    /// Segmentation kind.
    pub kind: GsoKind,
    /// Payload bytes per segment (the MSS for TCP).
    pub size: u16,
    /// Length of the headers replicated in every segment, as the sender stated it (a hint).
    pub hdr_len: u16,
    /// TCP segments carry ECN (`VIRTIO_NET_HDR_GSO_ECN`).
    pub ecn: bool,
}

/// Marker of a GSO super-frame that was encapsulated (VS/TUN): the outer headers are in
/// front, and no `virtio_net_hdr` can ask the kernel to segment it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Encap {
    /// Offset of the inner IP header from the start of the Ethernet frame (what lies
    /// between it and the outer IP header is the UDP + GUE header, or nothing for IPIP).
    pub inner_offset: u16,
}

/// Offload state of one frame. See the module docs.
///
/// Build values with struct update syntax from [`Offload::NONE`]
/// (`Offload { csum, ..Offload::NONE }`) so that added fields do not break callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Offload {
    /// The L4 checksum is partial and must be completed later.
    pub csum: Option<PartialCsum>,
    /// The frame is a GSO super-frame.
    pub gso: Option<Gso>,
    /// The receiver already validated the checksum (`VIRTIO_NET_HDR_F_DATA_VALID`).
    pub data_valid: bool,
    /// Set (with `gso`) on a super-frame encapsulated for VS/TUN: the port must segment it
    /// in software ([`crate::gso::segment`]) before sending; [`Offload::to_virtio`] cannot
    /// describe it. Never set on input: [`Offload::from_virtio`] leaves it `None`.
    pub encap: Option<Encap>,
}

/// Why a `virtio_net_hdr` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OffloadError {
    /// Fewer than [`VIRTIO_NET_HDR_LEN`] bytes.
    Truncated,
    /// A `gso_type` this code does not know.
    UnknownGsoType(u8),
    /// GSO with a segment size of 0.
    ZeroGsoSize,
    /// Unknown bits in `flags`.
    UnknownFlags(u8),
}

impl fmt::Display for OffloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OffloadError::Truncated => f.write_str("virtio_net_hdr shorter than 10 bytes"),
            OffloadError::UnknownGsoType(t) => write!(f, "unknown virtio_net_hdr gso_type {t}"),
            OffloadError::ZeroGsoSize => f.write_str("GSO frame with gso_size 0"),
            OffloadError::UnknownFlags(b) => write!(f, "unknown virtio_net_hdr flags {b:#x}"),
        }
    }
}

impl core::error::Error for OffloadError {}

impl Offload {
    /// A frame as the wire carries it: complete checksum, no segmentation.
    pub const NONE: Offload = Offload {
        csum: None,
        gso: None,
        data_valid: false,
        encap: None,
    };

    /// Whether nothing is pending (no partial checksum, no GSO).
    pub fn is_none(&self) -> bool {
        self.csum.is_none() && self.gso.is_none()
    }

    /// Whether the frame must be cut by [`crate::gso::segment`] before it is sent, because
    /// no `virtio_net_hdr` can describe its segmentation (an encapsulated super-frame).
    /// Ports that cannot send GSO frames at all (TAP without `IFF_VNET_HDR`, plain
    /// `send()`) segment every frame whose `gso` is set, and complete partial checksums.
    pub fn needs_software_gso(&self) -> bool {
        self.gso.is_some() && self.encap.is_some()
    }

    /// Reads a `virtio_net_hdr` in host byte order (packet sockets and TAP on a
    /// little-endian host use the legacy native-endian layout).
    pub fn from_virtio(hdr: &[u8]) -> Result<Offload, OffloadError> {
        let h: &[u8; VIRTIO_NET_HDR_LEN] = hdr
            .get(..VIRTIO_NET_HDR_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(OffloadError::Truncated)?;
        let flags = h[0];
        if flags & !(F_NEEDS_CSUM | F_DATA_VALID) != 0 {
            return Err(OffloadError::UnknownFlags(flags));
        }
        let rd = |i: usize| u16::from_ne_bytes([h[i], h[i + 1]]);
        let (hdr_len, gso_size, csum_start, csum_offset) = (rd(2), rd(4), rd(6), rd(8));
        let ecn = h[1] & GSO_ECN != 0;
        let kind = match h[1] & !GSO_ECN {
            GSO_NONE => None,
            GSO_TCPV4 => Some(GsoKind::TcpV4),
            GSO_TCPV6 => Some(GsoKind::TcpV6),
            GSO_UDP => Some(GsoKind::Udp),
            GSO_UDP_L4 => Some(GsoKind::UdpL4),
            t => return Err(OffloadError::UnknownGsoType(t)),
        };
        let gso = match kind {
            None => None,
            Some(_) if gso_size == 0 => return Err(OffloadError::ZeroGsoSize),
            Some(kind) => Some(Gso {
                kind,
                size: gso_size,
                hdr_len,
                ecn,
            }),
        };
        Ok(Offload {
            csum: (flags & F_NEEDS_CSUM != 0).then_some(PartialCsum {
                start: csum_start,
                offset: csum_offset,
            }),
            gso,
            data_valid: flags & F_DATA_VALID != 0,
            encap: None,
        })
    }

    /// Writes the `virtio_net_hdr` that asks the kernel to finish this frame. `encap` has no
    /// representation: a frame with [`Offload::needs_software_gso`] must be segmented with
    /// [`crate::gso::segment`] instead, and its segments sent with a zeroed header.
    pub fn to_virtio(&self) -> [u8; VIRTIO_NET_HDR_LEN] {
        let mut h = [0u8; VIRTIO_NET_HDR_LEN];
        let mut put = |i: usize, v: u16| h[i..i + 2].copy_from_slice(&v.to_ne_bytes());
        if let Some(c) = self.csum {
            put(6, c.start);
            put(8, c.offset);
        }
        if let Some(g) = self.gso {
            put(2, g.hdr_len);
            put(4, g.size);
        }
        h[0] = if self.csum.is_some() { F_NEEDS_CSUM } else { 0 }
            | if self.data_valid { F_DATA_VALID } else { 0 };
        h[1] = match self.gso {
            None => GSO_NONE,
            Some(g) => {
                (match g.kind {
                    GsoKind::TcpV4 => GSO_TCPV4,
                    GsoKind::TcpV6 => GSO_TCPV6,
                    GsoKind::Udp => GSO_UDP,
                    GsoKind::UdpL4 => GSO_UDP_L4,
                }) | if g.ecn { GSO_ECN } else { 0 }
            }
        };
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtio_round_trip() {
        // The TCP data frame of packet-io-notes §5: NEEDS_CSUM, TCPV4, hdr_len 66,
        // gso_size 1448, csum_start 34, csum_offset 16.
        let mut h = [0u8; 10];
        h[0] = 1;
        h[1] = 1;
        h[2..4].copy_from_slice(&66u16.to_ne_bytes());
        h[4..6].copy_from_slice(&1448u16.to_ne_bytes());
        h[6..8].copy_from_slice(&34u16.to_ne_bytes());
        h[8..10].copy_from_slice(&16u16.to_ne_bytes());
        let o = Offload::from_virtio(&h).unwrap();
        assert_eq!(
            o.csum,
            Some(PartialCsum {
                start: 34,
                offset: 16
            })
        );
        let g = o.gso.unwrap();
        assert_eq!(
            (g.kind, g.size, g.hdr_len, g.ecn),
            (GsoKind::TcpV4, 1448, 66, false)
        );
        assert_eq!(o.to_virtio(), h);
        assert_eq!(Offload::from_virtio(&[0; 10]).unwrap(), Offload::NONE);
        assert!(Offload::NONE.is_none());
    }

    #[test]
    fn virtio_refusals() {
        assert_eq!(Offload::from_virtio(&[0; 9]), Err(OffloadError::Truncated));
        assert_eq!(
            Offload::from_virtio(&[0, 9, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(OffloadError::UnknownGsoType(9))
        );
        assert_eq!(
            Offload::from_virtio(&[1, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(OffloadError::ZeroGsoSize)
        );
        assert_eq!(
            Offload::from_virtio(&[0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(OffloadError::UnknownFlags(0x10))
        );
    }
}
