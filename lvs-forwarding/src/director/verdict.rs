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
}

impl DropReason {
    /// All reasons, in counter order.
    pub const ALL: [DropReason; 15] = [
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
