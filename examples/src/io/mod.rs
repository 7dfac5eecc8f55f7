//! Frame ports: the one seam between the sans-IO Director and the outside world.
//!
//! The library crates never see a socket, a file descriptor or a clock; the binaries in this
//! package own all of those. This module is the contract between the two sides:
//!
//! * a [`FramePort`] receives Ethernet (or, for a TUN port, IP) frames in batches and sends
//!   frames out, whatever sits underneath (an AF_PACKET ring, a TAP device, a pcap file);
//! * a received frame is *lent* to a callback as an [`RxFrame`] — on an AF_PACKET ring the bytes
//!   stay where the kernel wrote them, so a NAT or DR rewrite happens in place with no copy, and
//!   every port leaves [`RxFrame::headroom`] bytes in front of the frame so an encapsulation
//!   (VS/TUN adds an outer IP header) can grow the frame forwards without a copy either;
//! * while a frame is lent, the callback also gets the port's transmit half ([`FrameTx`]), so it
//!   can send the rewritten frame back out of the same port without a second borrow;
//! * a [`FrameHandler`] is the small trait a Director is plugged in through; [`pump`] drives a
//!   set of ports through a handler and sends each verdict's frame out of the chosen port;
//! * a port says what it lost before a frame reached the callback ([`FramePort::losses`]): a
//!   full AF_PACKET ring drops frames in the kernel, where no counter of the Director can see
//!   them, so the port must report them for the operator's listing to add up.

pub mod afpacket;
pub mod afxdp;
pub mod fanout;
pub mod pcap;
pub mod tap;

use std::io;
use std::time::Duration;

pub use lvs_forwarding::Offload;

/// Bytes every port keeps free in front of a lent frame, enough for an outer IPv6 header (40),
/// a UDP header (8) and a GUE header with options (up to 16) when a Director encapsulates.
pub const DEFAULT_HEADROOM: usize = 64;

/// How the kernel classified a received frame (`sll_pkttype` of AF_PACKET).
///
/// Only AF_PACKET knows this; TAP, TUN and pcap ports report [`PacketKind::Host`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// Addressed to this interface's MAC address.
    Host,
    /// Link-layer broadcast.
    Broadcast,
    /// Link-layer multicast.
    Multicast,
    /// Addressed to another host (seen only in promiscuous mode).
    OtherHost,
    /// Sent by this host (looped back to packet sockets).
    Outgoing,
    /// Any other value the kernel reported.
    Other(u8),
}

impl PacketKind {
    /// Maps a raw `sll_pkttype` value.
    pub fn from_raw(raw: u8) -> Self {
        match raw {
            libc::PACKET_HOST => Self::Host,
            libc::PACKET_BROADCAST => Self::Broadcast,
            libc::PACKET_MULTICAST => Self::Multicast,
            libc::PACKET_OTHERHOST => Self::OtherHost,
            libc::PACKET_OUTGOING => Self::Outgoing,
            other => Self::Other(other),
        }
    }
}

/// What a port knows about a received frame besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxMeta {
    /// Receive time as a duration since the Unix epoch (kernel timestamp where there is one).
    pub timestamp: Duration,
    /// Kernel classification of the frame.
    pub kind: PacketKind,
    /// Length of the frame on the wire; larger than the lent frame when it was truncated.
    pub wire_len: usize,
    /// The L4 checksum is only partial (`CHECKSUM_PARTIAL`, a veth/TAP offload): the checksum
    /// field holds the pseudo-header sum, not the full checksum. Always equal to
    /// `offload.csum.is_some()` on a port that reads offload headers; an AF_PACKET port
    /// without `PACKET_VNET_HDR` still learns the fact (`TP_STATUS_CSUMNOTREADY`) but not where
    /// the checksum lies, so there this can be true while `offload` is [`Offload::NONE`].
    pub csum_partial: bool,
    /// Offloads the kernel left pending on the frame (partial checksum, GSO super-frame), read
    /// from its `virtio_net_hdr`; [`Offload::NONE`] on ports that deliver complete frames.
    /// Forward the frame with [`FrameTx::send_offload`] to keep them pending.
    pub offload: Offload,
}

impl RxMeta {
    /// Whether the port could only capture part of the frame.
    pub fn truncated(&self, frame_len: usize) -> bool {
        self.wire_len > frame_len
    }
}

/// A received frame, lent by a port for the duration of a callback.
///
/// The lent buffer is `headroom` free bytes followed by the frame itself. A handler may rewrite
/// the frame in place and may also move its start backwards into the headroom (to prepend an
/// outer header) with [`RxFrame::buffer_mut`].
#[derive(Debug)]
pub struct RxFrame<'a> {
    buf: &'a mut [u8],
    start: usize,
    /// What the port knows about the frame.
    pub meta: RxMeta,
}

impl<'a> RxFrame<'a> {
    /// Builds a lent frame over `buf` whose frame bytes are `buf[start..]`.
    ///
    /// # Panics
    /// If `start > buf.len()` (a port bug, never input-dependent).
    pub fn new(buf: &'a mut [u8], start: usize, meta: RxMeta) -> Self {
        assert!(start <= buf.len(), "frame start beyond buffer");
        Self { buf, start, meta }
    }

    /// The frame's bytes.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// The frame's bytes, writable in place.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..]
    }

    /// Free bytes in front of the frame.
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// The whole lent buffer and the frame's offset in it: `buf[start..]` is the frame and
    /// `buf[..start]` the headroom a handler may prepend into.
    pub fn buffer_mut(&mut self) -> (&mut [u8], usize) {
        (self.buf, self.start)
    }
}

/// The error of a port asked to send a frame with offloads it cannot pass on.
fn offload_unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "this port cannot send frames with pending offloads (partial checksum or GSO)",
    )
}

/// The transmit half of a port.
pub trait FrameTx {
    /// Sends one frame (a complete Ethernet frame, or an IP packet on a TUN port).
    fn send(&mut self, frame: &[u8]) -> io::Result<()>;

    /// Sends one frame whose offloads (partial checksum, GSO) are still pending, asking the
    /// kernel (or the next hop) to finish them.
    ///
    /// The default, for ports that cannot carry offload metadata, sends plainly when
    /// `offload.is_none()` and fails with [`io::ErrorKind::Unsupported`] otherwise.
    fn send_offload(&mut self, frame: &[u8], offload: &Offload) -> io::Result<()> {
        if offload.is_none() {
            self.send(frame)
        } else {
            Err(offload_unsupported())
        }
    }

    /// Sends several frames with their offloads, returning how many were sent before the
    /// first failure. An error is returned only when the first frame could not be sent.
    fn send_batch_offload(&mut self, frames: &[(&[u8], Offload)]) -> io::Result<usize> {
        for (i, (f, o)) in frames.iter().enumerate() {
            if let Err(e) = self.send_offload(f, o) {
                return if i == 0 { Err(e) } else { Ok(i) };
            }
        }
        Ok(frames.len())
    }

    /// Sends several frames, returning how many were sent before the first failure. An error is
    /// returned only when the first frame could not be sent.
    fn send_batch(&mut self, frames: &[&[u8]]) -> io::Result<usize> {
        for (i, f) in frames.iter().enumerate() {
            if let Err(e) = self.send(f) {
                return if i == 0 { Err(e) } else { Ok(i) };
            }
        }
        Ok(frames.len())
    }
}

/// Frames a port lost before they reached the Director, counted since the port was opened.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PortLosses {
    /// Frames the kernel dropped because the receive ring was full (AF_PACKET
    /// `PACKET_STATISTICS` `tp_drops`).
    pub ring_drops: u64,
    /// Times the kernel found every ring block owned by user space (`tp_freeze_q_cnt`).
    pub ring_freezes: u64,
    /// Frames received but not lent: a kind the port does not accept, inconsistent ring
    /// metadata, or an unparsable offload header (these also in `bad_offload`).
    pub skipped: u64,
    /// Frames skipped because their `virtio_net_hdr` could not be parsed.
    pub bad_offload: u64,
}

impl PortLosses {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &PortLosses) {
        self.ring_drops += other.ring_drops;
        self.ring_freezes += other.ring_freezes;
        self.skipped += other.skipped;
        self.bad_offload += other.bad_offload;
    }
}

/// Callback that receives lent frames together with the port's transmit half.
pub type OnFrame<'f> = dyn FnMut(RxFrame<'_>, &mut dyn FrameTx) + 'f;

/// Callback that receives a batch of lent frames together with the port's transmit half.
///
/// The frames stay lent (on AF_PACKET: in place in the ring block) until the callback
/// returns, so a callback may rewrite them, hand them to `Director::process_batch` and send
/// them from where they lie (on this port or another) before returning.
pub type OnBatch<'f> = dyn FnMut(&mut [RxFrame<'_>], &mut dyn FrameTx) + 'f;

/// A bidirectional frame port.
pub trait FramePort: FrameTx {
    /// A name for logs (interface name or file path).
    fn name(&self) -> &str;

    /// Waits up to `timeout` (forever if `None`, not at all if zero) for frames, then lends
    /// every frame that is ready (a bounded batch) to `on_frame`. Returns how many frames were
    /// lent; `Ok(0)` means the timeout passed with nothing to read.
    ///
    /// A port that reached the end of its input (a pcap file) returns
    /// [`io::ErrorKind::UnexpectedEof`].
    fn recv_batch(
        &mut self,
        timeout: Option<Duration>,
        on_frame: &mut OnFrame<'_>,
    ) -> io::Result<usize>;

    /// Like [`FramePort::recv_batch`], but lends the frames in batches (an AF_PACKET port
    /// lends each ring block's frames as one). The default lends each frame of
    /// `recv_batch` as a batch of one.
    fn recv_frames(
        &mut self,
        timeout: Option<Duration>,
        on_batch: &mut OnBatch<'_>,
    ) -> io::Result<usize> {
        self.recv_batch(timeout, &mut |mut frame, tx| {
            on_batch(std::slice::from_mut(&mut frame), tx)
        })
    }

    /// What the port lost so far (see [`PortLosses`]). Reading may reset a kernel counter
    /// that the port then accumulates, so call it every second or so on a busy port (the
    /// kernel's counters are 32 bits). The default, for ports that lose nothing on their
    /// own (a TAP or pcap file reads one frame at a time), is all zeros.
    fn losses(&mut self) -> PortLosses {
        PortLosses::default()
    }

    /// The descriptor that becomes readable when frames wait, so that a runner serving
    /// several ports can sleep on all of them at once ([`wait_any`]) instead of on each in
    /// turn. `None` (the default) for a port that has none: the runner then falls back to
    /// a short wait on each port in turn.
    fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }

    /// Whether frames are waiting, known without a system call (a ring's status word);
    /// a runner that busy-polls spins on this. The default, for ports that can only tell
    /// with a system call, is `false`.
    fn frames_waiting(&self) -> bool {
        false
    }
}

/// Waits until one of `fds` is readable or `timeout` passes; `Ok(true)` if one is. An
/// error reported on a descriptor (`POLLERR`, such as `ENETDOWN` on a packet socket whose
/// interface went down) is taken from the socket and returned, as [`FramePort::recv_batch`]
/// returns it for a single port. At most 16 descriptors (a director has a port per link).
pub fn wait_any(fds: &[std::os::fd::RawFd], timeout: Duration) -> io::Result<bool> {
    const MAX: usize = 16;
    if fds.len() > MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("wait_any: {} descriptors, at most {MAX}", fds.len()),
        ));
    }
    let mut pfds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; MAX];
    for (p, fd) in pfds.iter_mut().zip(fds) {
        p.fd = *fd;
        p.events = libc::POLLIN;
    }
    let ms = timeout.as_millis().min(libc::c_int::MAX as u128) as libc::c_int;
    // SAFETY: `pfds[..fds.len()]` are valid, exclusively borrowed pollfds and the count
    // passed is exactly that many.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(err);
    }
    for p in &pfds[..fds.len()] {
        if p.revents & libc::POLLNVAL != 0 {
            return Err(io::Error::other("poll: descriptor not open"));
        }
        if p.revents & libc::POLLERR != 0 {
            return Err(
                take_socket_error(p.fd).unwrap_or_else(|| io::Error::other("poll: POLLERR"))
            );
        }
    }
    Ok(rc > 0)
}

/// What a [`FrameHandler`] decided for one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Send nothing.
    Drop,
    /// Send `buf[start..end]` of the lent buffer (see [`RxFrame::buffer_mut`]) out of the port
    /// with index `port` in the slice given to [`pump`].
    Send {
        /// Index of the output port.
        port: usize,
        /// Start of the frame to send in the lent buffer (may be inside the headroom).
        start: usize,
        /// End of the frame to send in the lent buffer.
        end: usize,
    },
}

/// The trait a Director is plugged in through.
pub trait FrameHandler {
    /// Handles one frame received on port `port`. The handler may rewrite the frame in place
    /// and use the headroom; it tells where the result goes.
    fn handle(&mut self, port: usize, frame: &mut RxFrame<'_>) -> Disposition;
}

/// Counters kept by [`pump`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PumpStats {
    /// Frames lent to the handler.
    pub received: u64,
    /// Frames sent after a [`Disposition::Send`].
    pub sent: u64,
    /// Frames the handler dropped.
    pub dropped: u64,
    /// Sends that failed, or named a port or range that does not exist.
    pub send_errors: u64,
}

/// Receives one batch from every port (waiting up to `timeout` on each that is idle) and runs
/// each frame through `handler`, sending the results. Ports are polled in turn, so use a short
/// timeout (a few milliseconds) when there are several.
///
/// Returns the number of frames handled; a port error (including the end of a pcap file) is
/// returned as is.
pub fn pump(
    ports: &mut [&mut dyn FramePort],
    handler: &mut dyn FrameHandler,
    timeout: Option<Duration>,
    stats: &mut PumpStats,
) -> io::Result<usize> {
    let mut total = 0;
    for idx in 0..ports.len() {
        let (before, rest) = ports.split_at_mut(idx);
        let Some((this, after)) = rest.split_first_mut() else {
            break;
        };
        let mut on_frame = |mut frame: RxFrame<'_>, tx: &mut dyn FrameTx| {
            stats.received += 1;
            match handler.handle(idx, &mut frame) {
                Disposition::Drop => stats.dropped += 1,
                Disposition::Send { port, start, end } => {
                    let (buf, _) = frame.buffer_mut();
                    let Some(bytes) = buf.get(start..end) else {
                        stats.send_errors += 1;
                        return;
                    };
                    let out: Option<&mut dyn FrameTx> = if port == idx {
                        Some(tx)
                    } else if port < idx {
                        before.get_mut(port).map(|p| &mut **p as &mut dyn FrameTx)
                    } else {
                        after
                            .get_mut(port - idx - 1)
                            .map(|p| &mut **p as &mut dyn FrameTx)
                    };
                    match out.map(|o| o.send(bytes)) {
                        Some(Ok(())) => stats.sent += 1,
                        _ => stats.send_errors += 1,
                    }
                }
            }
        };
        total += this.recv_batch(timeout, &mut on_frame)?;
    }
    Ok(total)
}

/// Current time as a duration since the Unix epoch (zero if the clock is before 1970).
pub(crate) fn now_since_epoch() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// Waits until `fd` is readable or `timeout` passes. Returns whether it is readable.
pub(crate) fn poll_readable(fd: std::os::fd::RawFd, timeout: Option<Duration>) -> io::Result<bool> {
    let ms: libc::c_int = match timeout {
        None => -1,
        Some(t) => t.as_millis().min(libc::c_int::MAX as u128) as libc::c_int,
    };
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is a valid, exclusively borrowed pollfd and we pass a count of 1.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(err);
    }
    if rc > 0 && pfd.revents & libc::POLLNVAL != 0 {
        return Err(io::Error::other("poll: descriptor not open"));
    }
    if rc > 0 && pfd.revents & libc::POLLERR != 0 {
        return Err(take_socket_error(fd).unwrap_or_else(|| io::Error::other("poll: POLLERR")));
    }
    Ok(rc > 0 && pfd.revents & libc::POLLIN != 0)
}

/// Reads (and so clears) a socket's pending error (`SO_ERROR`). Packet sockets report an
/// interface going down this way (`ENETDOWN`); clearing it keeps `poll` from spinning.
pub(crate) fn take_socket_error(fd: std::os::fd::RawFd) -> Option<io::Error> {
    let mut err: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `err` and `len` are valid, exclusively borrowed and sized as SO_ERROR expects.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (rc == 0 && err != 0).then(|| io::Error::from_raw_os_error(err))
}

/// An in-memory port for tests: frames queued in `rx` are lent, sent frames land in `tx`.
#[derive(Debug, Default)]
pub struct MemoryPort {
    /// Frames waiting to be received.
    pub rx: std::collections::VecDeque<Vec<u8>>,
    /// Frames sent through the port.
    pub tx: Vec<Vec<u8>>,
    buf: Vec<u8>,
}

impl FrameTx for MemoryPort {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        self.tx.push(frame.to_vec());
        Ok(())
    }
}

/// The transmit half of a [`MemoryPort`] during a receive.
struct VecTx<'a>(&'a mut Vec<Vec<u8>>);

impl FrameTx for VecTx<'_> {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        self.0.push(frame.to_vec());
        Ok(())
    }
}

impl FramePort for MemoryPort {
    fn name(&self) -> &str {
        "memory"
    }

    fn recv_batch(
        &mut self,
        _timeout: Option<Duration>,
        on_frame: &mut OnFrame<'_>,
    ) -> io::Result<usize> {
        let mut n = 0;
        while let Some(frame) = self.rx.pop_front() {
            self.buf.clear();
            self.buf.resize(DEFAULT_HEADROOM, 0);
            self.buf.extend_from_slice(&frame);
            let meta = RxMeta {
                timestamp: now_since_epoch(),
                kind: PacketKind::Host,
                wire_len: frame.len(),
                csum_partial: false,
                offload: Offload::NONE,
            };
            let mut tx = VecTx(&mut self.tx);
            on_frame(RxFrame::new(&mut self.buf, DEFAULT_HEADROOM, meta), &mut tx);
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prepends two bytes into the headroom and sends the frame out of port 1.
    struct Prepend;

    impl FrameHandler for Prepend {
        fn handle(&mut self, port: usize, frame: &mut RxFrame<'_>) -> Disposition {
            if port != 0 || frame.data().first() == Some(&0xff) {
                return Disposition::Drop;
            }
            frame.data_mut()[0] ^= 1;
            let (buf, start) = frame.buffer_mut();
            let len = buf.len();
            buf[start - 2..start].copy_from_slice(&[0xaa, 0xbb]);
            Disposition::Send {
                port: 1,
                start: start - 2,
                end: len,
            }
        }
    }

    #[test]
    fn pump_rewrites_in_place_and_forwards_between_ports() {
        let mut a = MemoryPort::default();
        let mut b = MemoryPort::default();
        a.rx.push_back(vec![1, 2, 3]);
        a.rx.push_back(vec![0xff]);
        b.rx.push_back(vec![9]);
        let mut stats = PumpStats::default();
        let n = pump(
            &mut [&mut a, &mut b],
            &mut Prepend,
            Some(Duration::ZERO),
            &mut stats,
        )
        .unwrap();
        assert_eq!(n, 3);
        assert_eq!(b.tx, vec![vec![0xaa, 0xbb, 0, 2, 3]]);
        assert!(a.tx.is_empty());
        assert_eq!(
            stats,
            PumpStats {
                received: 3,
                sent: 1,
                dropped: 2,
                send_errors: 0
            }
        );
    }

    #[test]
    fn pump_counts_bad_port_and_range() {
        struct Bad(usize);
        impl FrameHandler for Bad {
            fn handle(&mut self, _: usize, _: &mut RxFrame<'_>) -> Disposition {
                self.0 += 1;
                if self.0 == 1 {
                    Disposition::Send {
                        port: 7,
                        start: 0,
                        end: 1,
                    }
                } else {
                    Disposition::Send {
                        port: 0,
                        start: 5,
                        end: 1000,
                    }
                }
            }
        }
        let mut a = MemoryPort::default();
        a.rx.push_back(vec![1]);
        a.rx.push_back(vec![2]);
        let mut stats = PumpStats::default();
        pump(&mut [&mut a], &mut Bad(0), None, &mut stats).unwrap();
        assert_eq!(stats.send_errors, 2);
        assert!(a.tx.is_empty());
    }

    #[test]
    fn default_offload_sends_only_complete_frames() {
        let mut m = MemoryPort::default();
        m.send_offload(&[1, 2], &Offload::NONE).unwrap();
        let partial = Offload {
            csum: Some(lvs_forwarding::offload::PartialCsum {
                start: 34,
                offset: 6,
            }),
            ..Offload::NONE
        };
        let err = m.send_offload(&[3], &partial).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        // The batch stops at the first frame it cannot send and reports how many went out.
        let batch = [
            (&[4u8][..], Offload::NONE),
            (&[5u8][..], partial),
            (&[6u8][..], Offload::NONE),
        ];
        assert_eq!(m.send_batch_offload(&batch).unwrap(), 1);
        assert_eq!(
            m.send_batch_offload(&batch[1..]).unwrap_err().kind(),
            io::ErrorKind::Unsupported
        );
        assert_eq!(m.tx, vec![vec![1, 2], vec![4]]);
    }

    #[test]
    fn packet_kind_maps_raw_values() {
        assert_eq!(PacketKind::from_raw(0), PacketKind::Host);
        assert_eq!(PacketKind::from_raw(4), PacketKind::Outgoing);
        assert_eq!(PacketKind::from_raw(42), PacketKind::Other(42));
    }
}
