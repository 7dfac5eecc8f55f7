//! What the Director decided about a frame, and why frames are dropped.

/// The Director's answer for one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send `buf[start..start + len]` (the input buffer, rewritten in place;
    /// `start` moves back by the encapsulation for VS/TUN) on `link`.
    Forward {
        /// Output link.
        link: usize,
        /// Start of the frame in the input buffer.
        start: usize,
        /// Length of the frame.
        len: usize,
    },
    /// Send the generated frame `out[..len]` (ARP/ND answer, ICMP error) on
    /// `link`. The input frame is consumed.
    Reply {
        /// Output link.
        link: usize,
        /// Length of the frame in the output buffer.
        len: usize,
    },
    /// The frame was parked until its next hop's MAC is known; requests and,
    /// later, the frame itself come out of `poll_transmit`.
    Held,
    /// Not for the balancer: leave it to the host stack.
    ToHost,
    /// Dropped and counted.
    Drop(DropReason),
}

/// Why a frame was dropped. Every reason has a counter in [`DropCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// The frame did not parse (truncated, bad lengths, bad version...).
    Malformed,
    /// A TCP packet for a VIP with no connection and no SYN.
    NotScheduled,
    /// No real server available (an ICMP port unreachable was not possible).
    NoDestination,
    /// The connection's real server was removed (`expire_nodest_conn` off).
    DestUnavailable,
    /// The connection table is full of live entries.
    TableFull,
    /// The transformer refused the packet (fragment, unsupported protocol...).
    Unforwardable,
    /// TTL or hop limit ran out (an ICMP time exceeded may have been sent).
    TtlExpired,
    /// Too big for the tunnel (ICMP frag-needed / packet too big sent).
    TooBig,
    /// No route to the next hop (no on-link prefix, no gateway).
    NoRoute,
    /// Next-hop resolution failed, or the hold queue was full.
    NeighborUnreachable,
    /// The link index given to `process` does not exist.
    BadLink,
    /// The output buffer given for a generated frame was too small.
    OutputTooSmall,
    /// ICMP for a VIP that matches no connection.
    IcmpNoConnection,
    /// An ARP packet that may not be learned from or answered: sender MAC
    /// not unicast or not the frame's source, sender address multicast,
    /// broadcast or one of ours (see [`crate::wire::arp::ArpError`]).
    BadArp,
    /// A neighbour solicitation or advertisement that failed RFC 4861
    /// §7.1 validation (hop limit, checksum, code, length, target,
    /// destination; see [`crate::wire::icmp::NdpError`]).
    BadNdp,
    /// An IPv4 header whose checksum does not verify (the kernel's `ip_rcv` drops it).
    BadIpChecksum,
    /// An ICMP/ICMPv6 message the director would act on (an error about a connection, an
    /// echo request to a VIP) whose checksum does not verify (`icmp_rcv` drops it).
    BadIcmpChecksum,
    /// A TCP/UDP segment to a VIP port with no service whose checksum does not verify: no
    /// reset or port unreachable is sent (the kernel drops it before looking for a socket).
    BadL4Checksum,
    /// Martian source: unspecified (0.0.0.0/8, `::`).
    MartianUnspecified,
    /// Martian source: loopback (127.0.0.0/8, `::1`).
    MartianLoopback,
    /// Martian source: multicast.
    MartianMulticast,
    /// Martian source: the limited broadcast address 255.255.255.255.
    MartianBroadcast,
    /// Martian source: reserved class E (240.0.0.0/4).
    MartianClassE,
    /// Martian source: IPv4-mapped IPv6 address.
    MartianV4Mapped,
    /// Martian source: one of the director's own addresses.
    MartianOwnAddress,
    /// Martian source: a VIP.
    MartianVip,
    /// Martian source: a real server of the destination VIP, arriving as a client.
    MartianRealServer,
    /// An IPv4 loose or strict source-route option.
    SourceRoute,
    /// An IPv6 hop-by-hop options header not right after the fixed header (RFC 8200 §4.1).
    MisplacedHopByHop,
    /// An ICMP message the director would have sent was suppressed by the rate limits.
    IcmpRateLimited,
    /// A TCP reset the director would have sent was suppressed by the rate limits.
    ResetRateLimited,
}

impl DropReason {
    /// All reasons, in counter order.
    pub const ALL: [DropReason; 31] = [
        DropReason::Malformed,
        DropReason::NotScheduled,
        DropReason::NoDestination,
        DropReason::DestUnavailable,
        DropReason::TableFull,
        DropReason::Unforwardable,
        DropReason::TtlExpired,
        DropReason::TooBig,
        DropReason::NoRoute,
        DropReason::NeighborUnreachable,
        DropReason::BadLink,
        DropReason::OutputTooSmall,
        DropReason::IcmpNoConnection,
        DropReason::BadArp,
        DropReason::BadNdp,
        DropReason::BadIpChecksum,
        DropReason::BadIcmpChecksum,
        DropReason::BadL4Checksum,
        DropReason::MartianUnspecified,
        DropReason::MartianLoopback,
        DropReason::MartianMulticast,
        DropReason::MartianBroadcast,
        DropReason::MartianClassE,
        DropReason::MartianV4Mapped,
        DropReason::MartianOwnAddress,
        DropReason::MartianVip,
        DropReason::MartianRealServer,
        DropReason::SourceRoute,
        DropReason::MisplacedHopByHop,
        DropReason::IcmpRateLimited,
        DropReason::ResetRateLimited,
    ];

    /// A short name for logs and stats.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::NotScheduled => "not_scheduled",
            DropReason::NoDestination => "no_destination",
            DropReason::DestUnavailable => "dest_unavailable",
            DropReason::TableFull => "table_full",
            DropReason::Unforwardable => "unforwardable",
            DropReason::TtlExpired => "ttl_expired",
            DropReason::TooBig => "too_big",
            DropReason::NoRoute => "no_route",
            DropReason::NeighborUnreachable => "neighbor_unreachable",
            DropReason::BadLink => "bad_link",
            DropReason::OutputTooSmall => "output_too_small",
            DropReason::IcmpNoConnection => "icmp_no_connection",
            DropReason::BadArp => "bad_arp",
            DropReason::BadNdp => "bad_ndp",
            DropReason::BadIpChecksum => "bad_ip_checksum",
            DropReason::BadIcmpChecksum => "bad_icmp_checksum",
            DropReason::BadL4Checksum => "bad_l4_checksum",
            DropReason::MartianUnspecified => "martian_unspecified",
            DropReason::MartianLoopback => "martian_loopback",
            DropReason::MartianMulticast => "martian_multicast",
            DropReason::MartianBroadcast => "martian_broadcast",
            DropReason::MartianClassE => "martian_class_e",
            DropReason::MartianV4Mapped => "martian_v4_mapped",
            DropReason::MartianOwnAddress => "martian_own_address",
            DropReason::MartianVip => "martian_vip",
            DropReason::MartianRealServer => "martian_real_server",
            DropReason::SourceRoute => "source_route",
            DropReason::MisplacedHopByHop => "misplaced_hop_by_hop",
            DropReason::IcmpRateLimited => "icmp_rate_limited",
            DropReason::ResetRateLimited => "reset_rate_limited",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// One counter per [`DropReason`], plus frame totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DropCounters {
    counts: [u64; DropReason::ALL.len()],
    /// Frames given to `process`.
    pub frames_in: u64,
    /// Frames forwarded (in place or released from the hold queue).
    pub forwarded: u64,
    /// Frames generated (ARP/ND, ICMP).
    pub generated: u64,
    /// Frames left to the host.
    pub to_host: u64,
}

impl DropCounters {
    /// Count a drop.
    #[inline]
    pub fn count(&mut self, r: DropReason) {
        self.counts[r.index()] += 1;
    }

    /// The count for a reason.
    pub fn get(&self, r: DropReason) -> u64 {
        self.counts[r.index()]
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// `(reason, count)` for every reason.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|r| (*r, self.get(*r)))
    }
}
