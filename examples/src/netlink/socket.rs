//! The two netlink sockets: a blocking one for the dump in [`snapshot`], and the
//! non-blocking subscriber [`Watcher`] that an event loop polls.
//!
//! They are separate sockets on purpose: a dump's replies and the multicast notifications
//! would otherwise interleave on one queue, and a dump's burst could overrun notifications.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::{
    AddressFamily, RouteNetlinkMessage, address::AddressMessage, link::LinkMessage,
    neighbour::NeighbourMessage, route::RouteMessage,
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use super::parse::{self, Piece};
use super::{HostNet, NetEvent};

/// Receive buffer for one datagram. rtnetlink messages for links, addresses, routes and
/// neighbours are far smaller; a larger datagram is reported, not silently cut.
const DATAGRAM_BUF: usize = 64 * 1024;

/// Kernel receive queue asked for on the watcher, so that bursts (an interface flap with
/// many routes) do not overrun.
const WATCH_RCVBUF: usize = 1 << 20;

/// How long one `recv` of a dump may block before the snapshot gives up.
const DUMP_RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// Upper bound on datagrams read for one dump.
const DUMP_MAX_DATAGRAMS: usize = 1_000_000;

/// How many times a dump that the kernel marks as interrupted is retried.
const DUMP_ATTEMPTS: usize = 3;

/// Upper bound on datagrams drained by one [`Watcher::poll_events`] call, so a flood of
/// changes cannot starve the packet path; the descriptor stays readable for the next round.
const POLL_MAX_DATAGRAMS: usize = 1024;

/// Learn the served interfaces' links, addresses, routes and neighbours from the kernel.
///
/// Dumps links, addresses (IPv4 and IPv6), main-table routes (IPv4 and IPv6) and neighbours
/// (ARP and ND), keeping what belongs to the interfaces named in `ifaces`: their links and
/// addresses, routes whose output interface is one of them plus blackhole and unreachable
/// routes, and their neighbour entries. An interface that does not exist (or has no Ethernet
/// address) is an error of kind [`io::ErrorKind::NotFound`] naming it.
///
/// Create the [`Watcher`] before calling this; see the module documentation.
pub fn snapshot(ifaces: &[String]) -> io::Result<HostNet> {
    let mut sock = Socket::new(NETLINK_ROUTE)?;
    sock.bind_auto()?;
    set_recv_timeout(&sock, DUMP_RECV_TIMEOUT)?;
    let mut dumper = Dumper {
        sock,
        seq: 0,
        buf: Vec::with_capacity(DATAGRAM_BUF),
        pieces: Vec::new(),
    };
    let mut last_err = None;
    for _ in 0..DUMP_ATTEMPTS {
        match dumper.snapshot_once(ifaces) {
            Ok(Some(net)) => return Ok(net),
            Ok(None) => {
                last_err = Some(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "netlink dump kept being interrupted by concurrent changes",
                ));
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("netlink snapshot not attempted")))
}

struct Dumper {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
    pieces: Vec<Piece>,
}

impl Dumper {
    /// One consistent snapshot, or `None` if the kernel flagged a dump as interrupted.
    fn snapshot_once(&mut self, ifaces: &[String]) -> io::Result<Option<HostNet>> {
        let mut net = HostNet::new(ifaces);
        let mut consistent = self.dump(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            &mut net,
        )?;
        if let Some(missing) = ifaces.iter().find(|n| net.link_by_name(n).is_none()) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("interface {missing} not found (or it has no Ethernet address)"),
            ));
        }
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut addr = AddressMessage::default();
            addr.header.family = family;
            consistent &= self.dump(RouteNetlinkMessage::GetAddress(addr), &mut net)?;
            let mut route = RouteMessage::default();
            route.header.address_family = family;
            consistent &= self.dump(RouteNetlinkMessage::GetRoute(route), &mut net)?;
            let mut neigh = NeighbourMessage::default();
            neigh.header.family = family;
            consistent &= self.dump(RouteNetlinkMessage::GetNeighbour(neigh), &mut net)?;
        }
        Ok(consistent.then_some(net))
    }

    /// Send one dump request and apply every reply to `net`; returns `false` if the kernel
    /// marked the dump as interrupted (`NLM_F_DUMP_INTR`).
    fn dump(&mut self, req: RouteNetlinkMessage, net: &mut HostNet) -> io::Result<bool> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        header.sequence_number = seq;
        let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(req));
        msg.finalize();
        let mut bytes = vec![0; msg.buffer_len()];
        msg.serialize(&mut bytes);
        self.sock.send_to(&bytes, &SocketAddr::new(0, 0), 0)?;

        let mut consistent = true;
        for _ in 0..DUMP_MAX_DATAGRAMS {
            if !recv_datagram(&self.sock, &mut self.buf)? {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "netlink dump message larger than the receive buffer",
                ));
            }
            self.pieces.clear();
            parse::split(&self.buf, &mut self.pieces);
            for piece in self.pieces.drain(..) {
                if piece.seq != seq {
                    continue;
                }
                if piece.flags & NLM_F_DUMP_INTR != 0 {
                    consistent = false;
                }
                match piece.payload {
                    Some(NetlinkPayload::Done(_)) => return Ok(consistent),
                    Some(NetlinkPayload::Error(e)) if e.code.is_some() => return Err(e.to_io()),
                    Some(NetlinkPayload::InnerMessage(m)) => {
                        if let Some(ev) = parse::event(&m) {
                            net.apply(&ev);
                        }
                    }
                    _ => {}
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "netlink dump did not end",
        ))
    }
}

/// Read one datagram into `buf`. Returns `false` if it was larger than the buffer (and so
/// was cut and is lost).
fn recv_datagram(sock: &Socket, buf: &mut Vec<u8>) -> io::Result<bool> {
    buf.clear();
    if buf.capacity() < DATAGRAM_BUF {
        buf.reserve(DATAGRAM_BUF);
    }
    // With MSG_TRUNC, netlink returns the datagram's real length even when it was cut.
    let n = sock.recv(buf, libc::MSG_TRUNC)?;
    Ok(n <= buf.len())
}

fn set_recv_timeout(sock: &Socket, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: libc::suseconds_t::from(timeout.subsec_micros() as i32),
    };
    // SAFETY: the descriptor is open for the life of `sock`, and `tv` is a valid timeval of
    // the size passed.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A non-blocking rtnetlink socket subscribed to link, address (IPv4, IPv6), route (IPv4,
/// IPv6) and neighbour notifications.
///
/// Put [`AsRawFd::as_raw_fd`] into the event loop's `poll` set for reading; when it is
/// readable, call [`Watcher::poll_events`] and feed the events to [`HostNet::apply`]. Create
/// it before taking the [`snapshot`].
pub struct Watcher {
    sock: Socket,
    buf: Vec<u8>,
    pieces: Vec<Piece>,
}

impl Watcher {
    /// Open the socket in the calling thread's network namespace and join the groups.
    pub fn new() -> io::Result<Self> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind(&SocketAddr::new(0, 0))?;
        for group in [
            libc::RTNLGRP_LINK,
            libc::RTNLGRP_IPV4_IFADDR,
            libc::RTNLGRP_IPV6_IFADDR,
            libc::RTNLGRP_IPV4_ROUTE,
            libc::RTNLGRP_IPV6_ROUTE,
            libc::RTNLGRP_NEIGH,
        ] {
            sock.add_membership(group)?;
        }
        // Best effort: a smaller queue still works, it just overruns sooner.
        let _ = sock.set_rx_buf_sz(WATCH_RCVBUF);
        sock.set_non_blocking(true)?;
        Ok(Self {
            sock,
            buf: Vec::with_capacity(DATAGRAM_BUF),
            pieces: Vec::new(),
        })
    }

    /// Drain the notifications queued on the socket into `out` without blocking; returns how
    /// many events were appended.
    ///
    /// Notifications about things the model does not track (other tables, bridge ports,
    /// proxy neighbours) or that lack a needed attribute are skipped. Lost notifications
    /// (`ENOBUFS`, or a datagram too large to read) become one [`NetEvent::Overrun`]. At
    /// most a bounded number of datagrams is read per call; the descriptor then stays
    /// readable.
    pub fn poll_events(&mut self, out: &mut Vec<NetEvent>) -> io::Result<usize> {
        let start = out.len();
        for _ in 0..POLL_MAX_DATAGRAMS {
            match recv_datagram(&self.sock, &mut self.buf) {
                Ok(true) => {}
                Ok(false) => {
                    push_overrun(out, start);
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    push_overrun(out, start);
                    continue;
                }
                Err(e) => return Err(e),
            }
            self.pieces.clear();
            parse::split(&self.buf, &mut self.pieces);
            for piece in self.pieces.drain(..) {
                if let Some(NetlinkPayload::InnerMessage(m)) = piece.payload
                    && let Some(ev) = parse::event(&m)
                {
                    out.push(ev);
                }
            }
        }
        Ok(out.len() - start)
    }
}

/// Record lost events once per drain.
fn push_overrun(out: &mut Vec<NetEvent>, start: usize) {
    if !out[start..].contains(&NetEvent::Overrun) {
        out.push(NetEvent::Overrun);
    }
}

impl AsRawFd for Watcher {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

impl AsFd for Watcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("fd", &self.sock.as_raw_fd())
            .finish_non_exhaustive()
    }
}
