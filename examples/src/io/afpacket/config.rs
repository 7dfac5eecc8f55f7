//! The settings of an [`AfPacketPort`] and the kernel's counters.

use super::*;

/// Which kinds of received frames a port lends to its caller.
///
/// Frames the host itself sent (`PACKET_OUTGOING`) are never lent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accept {
    /// Frames addressed to this interface's MAC.
    pub host: bool,
    /// Broadcast frames (ARP requests).
    pub broadcast: bool,
    /// Multicast frames (IPv6 neighbour discovery).
    pub multicast: bool,
    /// Frames for other hosts (promiscuous mode).
    pub other_host: bool,
}

impl Accept {
    /// Everything except outgoing frames.
    pub const ALL_INCOMING: Self = Self {
        host: true,
        broadcast: true,
        multicast: true,
        other_host: true,
    };
    /// Only frames addressed to this host (`PACKET_HOST`).
    pub const HOST_ONLY: Self = Self {
        host: true,
        broadcast: false,
        multicast: false,
        other_host: false,
    };

    /// Whether a frame of this kind is lent.
    pub fn accepts(&self, kind: PacketKind) -> bool {
        match kind {
            PacketKind::Host => self.host,
            PacketKind::Broadcast => self.broadcast,
            PacketKind::Multicast => self.multicast,
            PacketKind::OtherHost => self.other_host,
            PacketKind::Outgoing | PacketKind::Other(_) => false,
        }
    }
}

/// How the sockets of a fanout group share the traffic.
#[derive(Debug, Clone, Default)]
pub enum FanoutMode {
    /// `PACKET_FANOUT_HASH`: the kernel's flow hash of the frame's own 4-tuple.
    #[default]
    Hash,
    /// `PACKET_FANOUT_CBPF`: this classic BPF program picks the socket (its result modulo the
    /// group size), e.g. [`client_hash_program`](crate::io::fanout::client_hash_program).
    Cbpf(Vec<libc::sock_filter>),
}

impl PartialEq for FanoutMode {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (FanoutMode::Hash, FanoutMode::Hash) => true,
            (FanoutMode::Cbpf(a), FanoutMode::Cbpf(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|(x, y)| (x.code, x.jt, x.jf, x.k) == (y.code, y.jt, y.jf, y.k))
            }
            _ => false,
        }
    }
}

impl Eq for FanoutMode {}

/// Settings of an [`AfPacketPort`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfPacketConfig {
    /// Bytes per ring block (rounded up to the page size). Also the largest frame the ring
    /// holds: keep it above 64 KiB with offloads on, or GSO super-frames arrive truncated.
    pub block_size: usize,
    /// Blocks in the ring.
    pub block_count: usize,
    /// Milliseconds after which the kernel hands over a block that is not full.
    pub block_timeout_ms: u32,
    /// Bytes the kernel leaves free in front of every frame (`PACKET_RESERVE`).
    pub headroom: usize,
    /// Put the interface in promiscuous mode for the socket's lifetime.
    pub promiscuous: bool,
    /// Join the fanout group with this id.
    pub fanout: Option<u16>,
    /// How the fanout group splits traffic (used only with `fanout`).
    pub fanout_mode: FanoutMode,
    /// Read and write `virtio_net_hdr` offload headers (`PACKET_VNET_HDR`), so frames with
    /// partial checksums and GSO super-frames can be received and forwarded intact.
    pub vnet_hdr: bool,
    /// Which frames are lent.
    pub accept: Accept,
    /// Send straight to the driver, skipping the qdisc layer (`PACKET_QDISC_BYPASS`).
    pub qdisc_bypass: bool,
    /// `SO_BUSY_POLL` in microseconds (0: not set): lets `poll` busy-wait in the driver
    /// for sockets whose traffic comes through a NAPI context that supports it.
    pub busy_poll_us: u32,
    /// The receive ring's layout.
    pub ring: RingVersion,
    /// A socket filter: which frames this socket receives at all.
    pub filter: SocketFilter,
}

impl AfPacketConfig {
    /// Bytes of the receive ring this configuration maps (blocks rounded up to 4 KiB
    /// pages, as on the machines this runs on).
    pub fn ring_bytes(&self) -> u64 {
        (self.block_size.max(1).div_ceil(4096) * 4096) as u64 * self.block_count.max(1) as u64
    }
}

impl Default for AfPacketConfig {
    fn default() -> Self {
        Self {
            block_size: 1 << 18,
            block_count: 16,
            block_timeout_ms: 2,
            headroom: crate::io::DEFAULT_HEADROOM,
            promiscuous: false,
            fanout: None,
            fanout_mode: FanoutMode::Hash,
            vnet_hdr: true,
            accept: Accept::ALL_INCOMING,
            qdisc_bypass: false,
            busy_poll_us: 0,
            ring: RingVersion::V3,
            filter: SocketFilter::All,
        }
    }
}

/// Which frames a port's socket receives (a classic BPF socket filter, `SO_ATTACH_FILTER`;
/// see [`neighbor_frames_program`](crate::io::fanout::neighbor_frames_program)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SocketFilter {
    /// Everything.
    #[default]
    All,
    /// Only ARP and IPv6 neighbour solicitations/advertisements: the extra socket per
    /// interface through which every fanout worker sees the neighbour answers.
    NeighborOnly,
    /// Everything but those: the fanout sockets, so that a neighbour frame is handled once
    /// per worker (through its neighbour socket), not once more by one of them.
    NoNeighbor,
}

/// Which receive ring the port uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RingVersion {
    /// TPACKET_V3: variable-size frames packed into blocks, a block handed over when full
    /// or after [`AfPacketConfig::block_timeout_ms`]. Dense (many small frames per block)
    /// and cheap per frame, but a frame may wait for the block timer.
    #[default]
    V3,
    /// TPACKET_V2: one fixed slot per frame, each handed over at once (no block timer).
    /// Every slot holds the largest frame (64 KiB+ with `vnet_hdr`), so the ring holds
    /// fewer frames for the same memory.
    V2,
}

/// Kernel-side counters of a packet socket (`PACKET_STATISTICS`, reset on every read).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct KernelStats {
    /// Frames the socket received since the last read.
    pub packets: u32,
    /// Frames dropped because the ring was full.
    pub drops: u32,
    /// Times the ring was frozen (all blocks owned by user space).
    pub freezes: u32,
}
