//! AF_XDP port: an Ethernet interface served through XDP sockets, one per receive queue.
//!
//! Why AF_XDP at all: on a NIC whose driver supports zero copy (i40e, ice, mlx5, ...), a
//! frame is DMA'd straight into memory this process owns (the UMEM), rewritten there and sent
//! from there, with no skb allocated on either side: the only way past the kernel's per-packet
//! cost short of a kernel-bypass driver. On veth (every namespace test) there is no zero copy:
//! the kernel copies each frame into the UMEM and out of it again, and the figures in
//! BENCHMARKS.md ("AF_XDP on veth") show it is about break-even with AF_PACKET there. The port
//! exists for the NIC case; the namespace tests keep its functional path honest.
//!
//! How it is put together:
//! * **The redirect program** ([`bpf`]): a hand-assembled six-instruction XDP program sends
//!   every frame of queue *q* to the socket in slot *q* of an XSKMAP, or to the kernel's stack
//!   when the slot is empty. It is loaded with raw `bpf(2)` calls and attached through a
//!   bpf_link, so it is detached when the port drops or the process dies. Native XDP (in the
//!   driver) is tried first and generic XDP (on the skb) is the fallback ([`AttachMode`]).
//! * **One socket per receive queue**, each with its own UMEM shared by its RX and TX rings
//!   (`xsk.rs`). All queues' sockets form one [`FramePort`], one link of the Director: a
//!   `recv_batch` drains every queue in turn. The queue count comes from `ETHTOOL_GCHANNELS`
//!   (veth: 1 by default; `ethtool -L DEV rx N tx N` or `numrxqueues` raise it).
//! * **Bind**: `XDP_USE_NEED_WAKEUP` always (the kernel says when a `sendto`/`recvfrom` kick
//!   is needed, so a busy port makes no idle syscalls); `XDP_ZEROCOPY` first when the program
//!   runs natively, then `XDP_COPY` ([`AfXdpPort::zero_copy`] says which one the driver took).
//! * **Lent frames and headroom**: a received frame is lent where the kernel wrote it, in its
//!   UMEM chunk. The kernel writes it `XDP_PACKET_HEADROOM` (256) bytes plus the UMEM headroom
//!   ([`AfXdpConfig::umem_headroom`]) into the chunk, and all of that is lent as
//!   [`RxFrame::headroom`], so VS/TUN prepends its outer header in place.
//! * **Sending in place**: a frame sent through the lent [`FrameTx`] that still lies inside
//!   the lent chunk (a NAT/DR rewrite, a TUN encapsulation into the headroom) is posted to the
//!   TX ring by its UMEM address: no copy in user space. The chunk then belongs to the kernel
//!   until its completion comes back, so **a handler must not write to a lent frame after
//!   sending it** (the kicks that make the kernel send come at the end of the batch, and a
//!   zero-copy NIC reads the chunk even later). Every other frame (a reply the Director built,
//!   a frame from another port, a second send of the same chunk) is copied into a free chunk.
//! * **Frames addressed elsewhere**: AF_XDP sees every frame the interface receives, including
//!   unicast frames for other MACs (a bridge floods unknown destinations). As the AF_PACKET
//!   port does with `Accept { other_host: false, .. }`, they are skipped (counted in
//!   [`PortLosses::skipped`]) unless [`AfXdpConfig::mac`] is `None`.
//!
//! What the kernel no longer sees: the program takes every frame of a served queue, so the
//! host's own stack receives nothing on that interface (ARP and ND replies to its own
//! requests, TCP replies to health checks or to an SSH session). The Director answers ARP/ND
//! for its addresses and resolves its neighbours from the wire, so forwarding works; but run
//! health checks and management over another interface. (With AF_PACKET the kernel keeps its
//! copy of every frame.)
//!
//! Offloads: AF_XDP carries **no checksum or GSO metadata** on receive. A peer that hands over
//! `CHECKSUM_PARTIAL` frames (veth, TAP or virtio with `tx-checksumming` on; a NIC never does,
//! frames from a wire have complete checksums) delivers frames whose L4 checksum field holds
//! only the pseudo-header sum, and nothing tells them from corrupt ones. The port reports them
//! as complete ([`RxMeta::csum_partial`] false, [`Offload::NONE`]), the Director rewrites them
//! incrementally and the receiver drops them as bad checksums. There is no heuristic here that
//! would guess (a field equal to the folded pseudo-header sum also occurs by chance, 1 in
//! 65536): on veth or TAP networks switch the peers' offloads off (`ethtool -K PEER tx off tso
//! off gso off`), as the end-to-end tests do with `E2E_IO=af_xdp`. Generic XDP also drops any
//! GSO super-frame larger than a chunk. Sending needs no metadata: the Director's frames are
//! complete.
//!
//! `--fanout` is refused with AF_XDP (see `lvs-afpacket`): the NIC's RSS spreads the two
//! directions of a NAT connection over different queues, so one worker per queue would split
//! connections between connection tables; steering by client (as the AF_PACKET fanout's
//! classic BPF program does) would need a steering XDP program with a CPU map, not written yet.

pub mod bpf;
mod ring;
mod xsk;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

pub use bpf::XdpMode;
pub use xsk::XskStats;

use super::{FramePort, FrameTx, Offload, OnFrame, PacketKind, PortLosses, RxFrame, RxMeta};
use bpf::{XdpLink, XdpProgram, XskMap};
use xsk::{CopyMode, TxSide, Xsk, XskSizes};

/// Descriptors taken from one queue's RX ring per `recv_batch` pass.
const RX_BATCH: u32 = 256;
/// `SIOCETHTOOL` (`include/uapi/linux/sockios.h`).
const SIOCETHTOOL: libc::c_ulong = 0x8946;
/// `ETHTOOL_GCHANNELS` (`include/uapi/linux/ethtool.h`).
const ETHTOOL_GCHANNELS: u32 = 0x3c;

/// Where the redirect program is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttachMode {
    /// Native if the driver has it, generic otherwise.
    #[default]
    Auto,
    /// Native only (fail if the driver has no XDP support).
    Native,
    /// Generic only.
    Generic,
}

/// Settings of an [`AfXdpPort`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfXdpConfig {
    /// Native or generic XDP.
    pub attach: AttachMode,
    /// Try `XDP_ZEROCOPY` (when native) before `XDP_COPY`.
    pub zero_copy: bool,
    /// Receive queues to serve, from 0 (default: every queue the driver reports).
    pub queues: Option<u32>,
    /// UMEM chunks per queue (half for receiving, half for sending copies).
    pub frames_per_queue: u32,
    /// Bytes per UMEM chunk: 2048 or 4096 (a power of two, so a chunk is found by masking).
    /// The largest frame is this minus 256 minus `umem_headroom`.
    pub frame_size: u32,
    /// Slots of each ring (fill, completion, RX, TX); a power of two.
    pub ring_size: u32,
    /// Extra bytes the kernel leaves in front of each received frame, on top of its own 256.
    pub umem_headroom: u32,
    /// The MAC that counts as "this host": unicast frames to other MACs are skipped. `None`
    /// lends every frame.
    pub mac: Option<[u8; 6]>,
    /// Put the interface in promiscuous mode while the port lives (for a director MAC that
    /// is not the interface's own).
    pub promiscuous: bool,
}

impl Default for AfXdpConfig {
    fn default() -> Self {
        AfXdpConfig {
            attach: AttachMode::Auto,
            zero_copy: true,
            queues: None,
            frames_per_queue: 4096,
            frame_size: 2048,
            ring_size: 2048,
            umem_headroom: 0,
            mac: None,
            promiscuous: false,
        }
    }
}

impl AfXdpConfig {
    /// Bytes of UMEM one port takes with `queues` queues (what `--io af_xdp` states at start).
    pub fn umem_bytes(&self, queues: u32) -> u64 {
        u64::from(self.frames_per_queue) * u64::from(self.frame_size) * u64::from(queues.max(1))
    }

    fn check(&self) -> io::Result<()> {
        let bad = |m: String| Err(io::Error::new(io::ErrorKind::InvalidInput, m));
        if !matches!(self.frame_size, 2048 | 4096) {
            return bad(format!(
                "AF_XDP frame size {} (2048 or 4096)",
                self.frame_size
            ));
        }
        if !self.ring_size.is_power_of_two() || self.ring_size < 64 {
            return bad(format!(
                "AF_XDP ring size {} (a power of two >= 64)",
                self.ring_size
            ));
        }
        if self.frames_per_queue < 64 || self.frames_per_queue / 2 > self.ring_size {
            return bad(format!(
                "AF_XDP frames per queue {} (at least 64, at most twice the ring size)",
                self.frames_per_queue
            ));
        }
        if u64::from(self.umem_headroom) + xsk::XDP_PACKET_HEADROOM + 128
            > u64::from(self.frame_size)
        {
            return bad(format!("AF_XDP UMEM headroom {}", self.umem_headroom));
        }
        Ok(())
    }
}

/// Receive queues of interface `name` (`ETHTOOL_GCHANNELS`: rx plus combined channels), or
/// `None` when the driver does not say.
pub fn rx_queue_count(name: &str) -> Option<u32> {
    let mut ifr = super::tap::ifreq_for(name).ok()?;
    // struct ethtool_channels: cmd, max_rx, max_tx, max_other, max_combined, rx_count,
    // tx_count, other_count, combined_count (all u32).
    let mut ch = [0u32; 9];
    ch[0] = ETHTOOL_GCHANNELS;
    ifr.ifr_ifru.ifru_data = ch.as_mut_ptr().cast();
    // SAFETY: plain socket(2); the result is checked.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return None;
    }
    // SAFETY: a fresh descriptor nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: SIOCETHTOOL reads the ifreq's name and the command in `ch`, and writes at most
    // the 36 bytes of ethtool_channels into `ch`, which outlives the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL as _, &mut ifr) };
    if rc < 0 {
        return None;
    }
    let n = ch[5].saturating_add(ch[8]);
    (n > 0).then_some(n)
}

/// An interface served through AF_XDP sockets (see the module docs).
pub struct AfXdpPort {
    // Declared first so it drops first: the program is detached before its sockets close.
    link: XdpLink,
    xsks: Vec<Xsk>,
    _map: XskMap,
    _prog: XdpProgram,
    _promisc: Option<OwnedFd>,
    pollfds: Vec<libc::pollfd>,
    name: String,
    ifindex: u32,
    mac: Option<[u8; 6]>,
    next_tx: usize,
    skipped: u64,
}

impl std::fmt::Debug for AfXdpPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AfXdpPort")
            .field("name", &self.name)
            .field("ifindex", &self.ifindex)
            .field("mode", &self.link.mode())
            .field("queues", &self.xsks.len())
            .field("zero_copy", &self.zero_copy())
            .finish_non_exhaustive()
    }
}

fn ctx(e: io::Error, what: String) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Holds the interface in promiscuous mode for the life of the returned socket (a packet
/// socket with protocol 0 receives nothing; its membership goes when it closes).
fn promiscuous(ifindex: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the result is checked.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mreq = libc::packet_mreq {
        mr_ifindex: ifindex as i32,
        mr_type: libc::PACKET_MR_PROMISC as u16,
        mr_alen: 0,
        mr_address: [0; 8],
    };
    // SAFETY: `mreq` is a valid packet_mreq of the size passed; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_ADD_MEMBERSHIP,
            (&mreq as *const libc::packet_mreq).cast(),
            size_of::<libc::packet_mreq>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

impl AfXdpPort {
    /// Attaches the redirect program to interface `name` and opens one AF_XDP socket per
    /// receive queue.
    ///
    /// Needs `CAP_NET_ADMIN`, `CAP_BPF` (or `CAP_SYS_ADMIN`) and `CAP_NET_RAW`, and a kernel
    /// with XDP sockets (5.9 or later for the bpf_link). Fails with `EBUSY` when another XDP
    /// program is attached to the interface.
    pub fn open(name: &str, cfg: &AfXdpConfig) -> io::Result<Self> {
        cfg.check()?;
        let ifindex = super::afpacket::ifindex(name)?;
        let queues = cfg
            .queues
            .unwrap_or_else(|| rx_queue_count(name).unwrap_or(1))
            .max(1);
        let map = XskMap::create(queues)?;
        let prog = XdpProgram::load_redirect(&map)?;
        let link = match cfg.attach {
            AttachMode::Native => XdpLink::attach(&prog, ifindex, XdpMode::Native),
            AttachMode::Generic => XdpLink::attach(&prog, ifindex, XdpMode::Generic),
            AttachMode::Auto => match XdpLink::attach(&prog, ifindex, XdpMode::Native) {
                Err(e) if e.raw_os_error() != Some(libc::EBUSY) => {
                    tracing::info!(iface = name, "native XDP refused ({e}); using generic XDP");
                    XdpLink::attach(&prog, ifindex, XdpMode::Generic)
                }
                r => r,
            },
        }
        .map_err(|e| ctx(e, format!("attach XDP to {name}")))?;
        let promisc = if cfg.promiscuous {
            Some(promiscuous(ifindex).map_err(|e| ctx(e, format!("promiscuous {name}")))?)
        } else {
            None
        };
        let sizes = XskSizes {
            frames: cfg.frames_per_queue,
            frame_size: cfg.frame_size,
            ring: cfg.ring_size,
            headroom: cfg.umem_headroom,
        };
        let try_zc = cfg.zero_copy && link.mode() == XdpMode::Native;
        let mut xsks = Vec::with_capacity(queues as usize);
        for q in 0..queues {
            let x = Xsk::open(ifindex, q, sizes, try_zc)
                .map_err(|e| ctx(e, format!("AF_XDP socket on {name} queue {q}")))?;
            map.set(q, x.raw_fd())?;
            xsks.push(x);
        }
        let pollfds = xsks
            .iter()
            .map(|x| libc::pollfd {
                fd: x.raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let port = AfXdpPort {
            link,
            xsks,
            _map: map,
            _prog: prog,
            _promisc: promisc,
            pollfds,
            name: name.to_string(),
            ifindex,
            mac: cfg.mac,
            next_tx: 0,
            skipped: 0,
        };
        tracing::info!(
            iface = name,
            ifindex,
            mode = %port.mode(),
            queues,
            zero_copy = port.zero_copy(),
            "AF_XDP port open"
        );
        Ok(port)
    }

    /// Where the redirect program runs.
    pub fn mode(&self) -> XdpMode {
        self.link.mode()
    }

    /// Whether every socket was bound in zero-copy mode.
    pub fn zero_copy(&self) -> bool {
        self.xsks.iter().all(|x| x.mode == CopyMode::ZeroCopy)
    }

    /// Receive queues served.
    pub fn queues(&self) -> usize {
        self.xsks.len()
    }

    /// The interface index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Frames sent so far without a copy in user space (posted from the chunk they arrived
    /// in) and with one (copied into a free chunk).
    pub fn tx_counts(&self) -> (u64, u64) {
        self.xsks
            .iter()
            .fold((0, 0), |(p, c), x| (p + x.txs.in_place, c + x.txs.copied))
    }

    /// The kernel's counters, summed over the queues.
    pub fn kernel_stats(&self) -> io::Result<XskStats> {
        let mut t = XskStats::default();
        for x in &self.xsks {
            let s = x.stats()?;
            t.rx_dropped += s.rx_dropped;
            t.rx_ring_full += s.rx_ring_full;
            t.rx_fill_ring_empty += s.rx_fill_ring_empty;
            t.invalid_descs += s.invalid_descs;
            t.tx_ring_empty += s.tx_ring_empty;
        }
        Ok(t)
    }

    /// Lends what is ready on every queue; returns the number of frames lent.
    fn drain_ready(&mut self, on_frame: &mut OnFrame<'_>) -> usize {
        let now = super::now_since_epoch();
        let mut lent = 0;
        for qi in 0..self.xsks.len() {
            let x = &mut self.xsks[qi];
            x.txs.reap();
            let n = x.rxs.rx.ready().min(RX_BATCH);
            for i in 0..n {
                let d = x.rxs.rx.get_desc(i);
                x.rxs.fill_held = x.rxs.fill_held.saturating_sub(1);
                let umem_len = x.txs.umem.len() as u64;
                let chunk = x.txs.chunk_of(d.addr);
                let offset = d.addr - chunk;
                if chunk >= umem_len || offset + u64::from(d.len) > x.txs.frame_size {
                    // Not a chunk of ours, or overruns it: never lend it; give back what is ours.
                    if chunk < umem_len {
                        x.txs.free.push(chunk);
                    }
                    self.skipped += 1;
                    continue;
                }
                let len = (offset + u64::from(d.len)) as usize;
                // SAFETY: chunk + len <= chunk + frame_size <= UMEM length (checked above);
                // the kernel handed this chunk over through the RX ring and gets it back only
                // through the fill or TX ring after the callback, and no other live slice
                // covers it (free chunks are written only through raw pointers).
                let buf = unsafe {
                    std::slice::from_raw_parts_mut(x.txs.umem.ptr().add(chunk as usize), len)
                };
                let wire = &buf[offset as usize..];
                let kind = kind_with(self.mac, wire);
                if !matches!(
                    kind,
                    PacketKind::Host | PacketKind::Broadcast | PacketKind::Multicast
                ) || wire.len() < 14
                {
                    x.txs.free.push(chunk);
                    self.skipped += 1;
                    continue;
                }
                let meta = RxMeta {
                    timestamp: now,
                    kind,
                    wire_len: d.len as usize,
                    csum_partial: false,
                    offload: Offload::NONE,
                };
                let mut tx = LentTx {
                    txs: &mut x.txs,
                    chunk,
                    in_tx: false,
                };
                on_frame(RxFrame::new(buf, offset as usize, meta), &mut tx);
                if !tx.in_tx {
                    x.txs.free.push(chunk);
                }
                lent += 1;
            }
            if n > 0 {
                x.rxs.rx.release(n);
            }
            x.refill();
            x.txs.kick();
            x.wake_rx();
        }
        lent
    }

    /// The socket copied frames go out of: the queues in turn.
    fn tx_side(&mut self) -> &mut TxSide {
        self.next_tx = (self.next_tx + 1) % self.xsks.len();
        &mut self.xsks[self.next_tx].txs
    }
}

/// How a frame to `frame`'s destination MAC is classified when the host is `mac` (`None`:
/// every frame counts as the host's).
fn kind_with(mac: Option<[u8; 6]>, frame: &[u8]) -> PacketKind {
    let Some(mac) = mac else {
        return PacketKind::Host;
    };
    match frame.get(..6) {
        Some(d) if d == [0xff; 6] => PacketKind::Broadcast,
        Some(d) if d[0] & 1 != 0 => PacketKind::Multicast,
        Some(d) if d == mac => PacketKind::Host,
        _ => PacketKind::OtherHost,
    }
}

/// The transmit half lent with a received frame: a send of bytes still inside the lent
/// chunk posts that chunk to the TX ring; anything else is copied.
struct LentTx<'a> {
    txs: &'a mut TxSide,
    chunk: u64,
    /// The lent chunk was posted to the TX ring (it is the kernel's now).
    in_tx: bool,
}

impl FrameTx for LentTx<'_> {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        if !self.in_tx
            && let Some(addr) = self.txs.offset_in_chunk(frame, self.chunk)
        {
            self.txs.post(addr, frame.len())?;
            self.txs.in_place += 1;
            self.in_tx = true;
            return Ok(());
        }
        self.txs.copy_and_post(frame)
    }
}

impl FrameTx for AfXdpPort {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        let txs = self.tx_side();
        let r = txs.copy_and_post(frame);
        txs.kick();
        r
    }

    fn send_batch(&mut self, frames: &[&[u8]]) -> io::Result<usize> {
        let txs = self.tx_side();
        let mut sent = 0;
        let mut err = None;
        for f in frames {
            match txs.copy_and_post(f) {
                Ok(()) => sent += 1,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        txs.kick();
        match err {
            Some(e) if sent == 0 => Err(e),
            _ => Ok(sent),
        }
    }

    fn send_batch_offload(&mut self, frames: &[(&[u8], Offload)]) -> io::Result<usize> {
        // AF_XDP carries no offload metadata: send the leading complete frames.
        let n = frames
            .iter()
            .position(|(_, o)| !o.is_none())
            .unwrap_or(frames.len());
        if n == 0 && !frames.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "an AF_XDP port cannot send frames with pending offloads",
            ));
        }
        let txs = self.tx_side();
        let mut sent = 0;
        let mut err = None;
        for (f, _) in &frames[..n] {
            match txs.copy_and_post(f) {
                Ok(()) => sent += 1,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        txs.kick();
        match err {
            Some(e) if sent == 0 => Err(e),
            _ => Ok(sent),
        }
    }
}

impl AsRawFd for AfXdpPort {
    /// The socket of queue 0.
    fn as_raw_fd(&self) -> RawFd {
        self.xsks[0].raw_fd()
    }
}

impl FramePort for AfXdpPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn recv_batch(
        &mut self,
        timeout: Option<Duration>,
        on_frame: &mut OnFrame<'_>,
    ) -> io::Result<usize> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let n = self.drain_ready(on_frame);
            if n > 0 {
                return Ok(n);
            }
            let ms: libc::c_int = match deadline {
                None => -1,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => {
                        left.as_millis().clamp(1, libc::c_int::MAX as u128) as libc::c_int
                    }
                    _ => return Ok(0),
                },
            };
            for p in &mut self.pollfds {
                p.revents = 0;
            }
            // SAFETY: `pollfds` is a valid array of as many pollfd as passed, exclusively
            // borrowed for the call.
            let rc = unsafe {
                libc::poll(
                    self.pollfds.as_mut_ptr(),
                    self.pollfds.len() as libc::nfds_t,
                    ms,
                )
            };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            if let Some(p) = self.pollfds.iter().find(|p| p.revents & libc::POLLERR != 0) {
                let fd = p.fd;
                return Err(super::take_socket_error(fd)
                    .unwrap_or_else(|| io::Error::other("AF_XDP socket: POLLERR")));
            }
        }
    }

    fn losses(&mut self) -> PortLosses {
        let k = match self.kernel_stats() {
            Ok(k) => k,
            Err(e) => {
                tracing::debug!(port = %self.name, "XDP_STATISTICS: {e}");
                XskStats::default()
            }
        };
        PortLosses {
            ring_drops: k.rx_dropped + k.rx_ring_full,
            ring_freezes: k.rx_fill_ring_empty,
            skipped: self.skipped + k.invalid_descs,
            bad_offload: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_destination_mac() {
        let me = [2, 0, 0, 0, 0, 1];
        let f = |d: [u8; 6]| {
            let mut v = d.to_vec();
            v.extend_from_slice(&[0; 8]);
            kind_with(Some(me), &v)
        };
        assert_eq!(f([0xff; 6]), PacketKind::Broadcast);
        assert_eq!(f([0x33, 0x33, 0, 0, 0, 1]), PacketKind::Multicast);
        assert_eq!(f(me), PacketKind::Host);
        assert_eq!(f([2, 0, 0, 0, 0, 2]), PacketKind::OtherHost);
        assert_eq!(kind_with(None, &[2, 0, 0, 0, 0, 2]), PacketKind::Host);
    }

    #[test]
    fn config_checks_sizes() {
        assert!(AfXdpConfig::default().check().is_ok());
        for bad in [
            AfXdpConfig {
                frame_size: 3000,
                ..AfXdpConfig::default()
            },
            AfXdpConfig {
                ring_size: 1000,
                ..AfXdpConfig::default()
            },
            AfXdpConfig {
                frames_per_queue: 8192,
                ring_size: 2048,
                ..AfXdpConfig::default()
            },
            AfXdpConfig {
                umem_headroom: 1800,
                ..AfXdpConfig::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        assert_eq!(AfXdpConfig::default().umem_bytes(2), 2 * 4096 * 2048);
    }
}
