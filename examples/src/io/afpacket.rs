//! AF_PACKET port: an Ethernet interface seen through a TPACKET_V3 receive ring.
//!
//! Why this shape:
//! * **TPACKET_V3 ring** — the kernel writes frames into blocks of a memory map shared with us
//!   and hands over whole blocks, so one `poll` wakes us for many frames and a frame is read
//!   (and rewritten) where it lies: no `recv` copy per frame.
//! * **`PACKET_RESERVE`** — asks the kernel to leave free bytes in front of each frame in the
//!   ring; they become [`RxFrame::headroom`](super::RxFrame::headroom), so a VS/TUN
//!   encapsulation can prepend an outer header in place.
//! * **Outgoing frames** — a packet socket bound with `ETH_P_ALL` also sees what the local
//!   kernel (and this very socket) transmits. `PACKET_IGNORE_OUTGOING` stops that in the kernel;
//!   where the option is missing (kernels before 4.20) frames of kind `PACKET_OUTGOING` are
//!   skipped here. Which other kinds are lent is chosen with [`Accept`].
//! * **Fanout** — several sockets (threads or processes) joined to one fanout group split the
//!   traffic so each connection stays on one worker: [`FanoutMode::Hash`] uses the kernel's
//!   flow hash (fine for VS/DR and VS/TUN), [`FanoutMode::Cbpf`] runs a classic BPF program
//!   such as [`client_hash_program`](super::fanout::client_hash_program), which also keeps a
//!   VS/NAT reply with its request. The group is joined with
//!   `PACKET_FANOUT_FLAG_IGNORE_OUTGOING`, because a fanout group delivers through its own hook
//!   and the socket's `PACKET_IGNORE_OUTGOING` does not apply to it.
//! * **Batches** — [`FramePort::recv_frames`] lends every frame of a ring block at once and
//!   takes the block back only when the callback returns, so a runner can process the block
//!   with `Director::process_batch` and send the rewritten frames from inside the ring.
//! * **Sending** — `sendmsg` on the bound socket (one syscall per frame), or `sendmmsg` for a
//!   batch, from stack-held iovec arrays: no copy of the frame and no allocation per call.
//! * **TPACKET_V2** ([`RingVersion::V2`], optional) — per-frame slots handed over one by one,
//!   for the lowest latency: a V3 block waits for its timer (at least 1 ms) when traffic is
//!   light. See the `v2` module.
//! * **Offloads** (`PACKET_VNET_HDR`, on by default) — with TSO/USO/checksum offload on, veth
//!   and TAP paths hand over `CHECKSUM_PARTIAL` frames (the L4 checksum field holds only the
//!   pseudo-header sum) and GSO super-frames up to 64 KB. With the option set, the kernel
//!   writes a 10-byte `virtio_net_hdr` in front of every ring frame, which is parsed into
//!   [`RxMeta::offload`](super::RxMeta::offload) *before* the frame is lent (the header bytes
//!   then count as headroom, free to overwrite). Every send on such a socket must start with a
//!   header too: [`FrameTx::send_offload`] passes the frame's offloads on, so the kernel or the
//!   next hop finishes the checksum and segments, and plain `send` prepends a zero header, as a
//!   separate iovec. Without the option the ring's `TP_STATUS_CSUMNOTREADY` bit still sets
//!   [`RxMeta::csum_partial`](super::RxMeta::csum_partial), but where the checksum lies is
//!   unknown and such frames cannot be forwarded intact (the end-to-end tests then switch the
//!   offloads off with `ethtool -K`).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use lvs_forwarding::offload::VIRTIO_NET_HDR_LEN;

mod config;
mod group;
mod tx;
mod v2;

pub use config::{Accept, AfPacketConfig, FanoutMode, KernelStats, RingVersion, SocketFilter};
use group::join_fanout;
pub use group::set_fanout_program_fd;

use super::{
    FramePort, FrameTx, Offload, OnBatch, OnFrame, PacketKind, PortLosses, RxFrame, RxMeta,
};

/// `ETH_P_ALL` in network byte order, as `sll_protocol` wants it.
const ETH_P_ALL_BE: u16 = (libc::ETH_P_ALL as u16).to_be();
/// `TPACKET_V3` from `enum tpacket_versions`.
const TPACKET_V3: libc::c_int = 2;
/// Size of `struct tpacket3_hdr` rounded up to `TPACKET_ALIGNMENT` (where `sockaddr_ll` starts).
const TP3_HDR_ALIGNED: usize = 48;
/// Size of `struct sockaddr_ll`; the lent buffer starts after it.
const SOCKADDR_LL_LEN: usize = 20;
/// Frames passed to one `sendmmsg` call.
const SEND_BATCH: usize = 64;
/// Largest GSO/GRO super-frame a kernel builds (the 16-bit IP length plus the Ethernet header);
/// a ring block smaller than this (plus its headers) truncates them.
const MAX_SUPER_FRAME: usize = 65_536 + 14;
/// Room a ring block needs besides the frame: block descriptor, frame header, sockaddr_ll.
const RING_FRAME_OVERHEAD: usize = 256;
/// The header prepended to frames that carry no offload.
const ZERO_VNET_HDR: [u8; VIRTIO_NET_HDR_LEN] = [0; VIRTIO_NET_HDR_LEN];

/// The memory-mapped receive ring.
struct RxRing {
    base: NonNull<u8>,
    block_size: usize,
    block_count: usize,
    next_block: usize,
    version: RingVersion,
    /// V2 only: bytes per slot, slots in the ring, the next slot to look at.
    frame_size: usize,
    frame_count: usize,
    next_frame: usize,
}

// SAFETY: the ring's mapping is owned exclusively by this value (no aliases are handed out
// beyond the borrow of a `recv_batch` call), so moving it to another thread is sound.
unsafe impl Send for RxRing {}

impl RxRing {
    fn len(&self) -> usize {
        self.block_size * self.block_count
    }

    fn block_ptr(&self, idx: usize) -> *mut u8 {
        // SAFETY: idx < block_count, so the offset stays inside the mapping.
        unsafe { self.base.as_ptr().add(idx * self.block_size) }
    }

    /// The `block_status` word of block `idx` (offset 8 of `tpacket_block_desc`, 8-aligned
    /// because blocks are page-aligned).
    fn status(&self, idx: usize) -> &AtomicU32 {
        // SAFETY: the pointer is inside the mapping, aligned for u32, and the word is only ever
        // accessed atomically (by us) or by the kernel, which hands it over with a barrier.
        unsafe { AtomicU32::from_ptr(self.block_ptr(idx).add(8).cast::<u32>()) }
    }

    fn ready(&self) -> bool {
        match self.version {
            RingVersion::V3 => {
                self.status(self.next_block).load(Ordering::Acquire) & libc::TP_STATUS_USER != 0
            }
            RingVersion::V2 => self.slot_ready(),
        }
    }
}

impl Drop for RxRing {
    fn drop(&mut self) {
        // SAFETY: base/len describe exactly the mapping created in `AfPacketPort::open`, and no
        // borrow of it outlives `recv_batch`.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len());
        }
    }
}

/// Reads a native-endian u32 at `off` from `p`.
///
/// # Safety
/// `p + off .. p + off + 4` must be readable.
unsafe fn rd_u32(p: *const u8, off: usize) -> u32 {
    // SAFETY: guaranteed by the caller.
    unsafe { p.add(off).cast::<u32>().read_unaligned() }
}

/// Reads a native-endian u16 at `off` from `p`.
///
/// # Safety
/// `p + off .. p + off + 2` must be readable.
unsafe fn rd_u16(p: *const u8, off: usize) -> u16 {
    // SAFETY: guaranteed by the caller.
    unsafe { p.add(off).cast::<u16>().read_unaligned() }
}

/// A packet socket bound to one interface, with a TPACKET_V3 receive ring.
pub struct AfPacketPort {
    ring: RxRing,
    tx: PacketTx,
    name: String,
    ifindex: u32,
    accept: Accept,
    ignore_outgoing_in_kernel: bool,
    skipped: u64,
    bad_offload: u64,
    /// Kernel drops and freezes read so far (`PACKET_STATISTICS` resets on read).
    kernel_total: PortLosses,
    /// The frames of the block being lent; empty between calls, kept for its allocation.
    frames: Vec<RxFrame<'static>>,
}

/// Where [`AfPacketPort::walk_block`] lends a block's frames.
enum Sink<'s, 'f> {
    /// One by one ([`FramePort::recv_batch`]).
    Each(&'s mut OnFrame<'f>),
    /// All at once ([`FramePort::recv_frames`]).
    Batch(&'s mut OnBatch<'f>),
}

/// Reuses the allocation of an (emptied) frame vector for another lifetime.
fn recycle_frames<'b>(mut v: Vec<RxFrame<'_>>) -> Vec<RxFrame<'b>> {
    v.clear();
    // An empty vector mapped in place: std reuses the allocation (same size and
    // alignment); should it not, this only allocates, it stays correct.
    v.into_iter()
        .map(|_| -> RxFrame<'b> { unreachable!() })
        .collect()
}

impl std::fmt::Debug for AfPacketPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AfPacketPort")
            .field("name", &self.name)
            .field("ifindex", &self.ifindex)
            .field("accept", &self.accept)
            .finish_non_exhaustive()
    }
}

/// The transmit half: the socket itself, already bound to the interface.
struct PacketTx {
    fd: OwnedFd,
    /// Every send must start with a `virtio_net_hdr` (`PACKET_VNET_HDR` is set).
    vnet: bool,
}

/// Looks up an interface index by name.
pub fn ifindex(name: &str) -> io::Result<u32> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?}"),
        ));
    }
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid NUL-terminated string that lives across the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface {name:?}: {}", io::Error::last_os_error()),
        ));
    }
    Ok(idx)
}

/// Reads an interface's MAC address (`SIOCGIFHWADDR`), e.g. the default for `--mac`.
pub fn hw_addr(name: &str) -> io::Result<[u8; 6]> {
    let mut ifr = super::tap::ifreq_for(name)?;
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: SIOCGIFHWADDR reads the name and writes ifru_hwaddr of the ifreq we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR, &mut ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just filled ifru_hwaddr, so reading that union field is valid.
    let sa = unsafe { ifr.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (m, b) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *m = *b as u8;
    }
    Ok(mac)
}

/// `setsockopt` with a plain-old-data value.
fn setsockopt<T>(fd: RawFd, level: libc::c_int, opt: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` points to a live `T` of the size we pass; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            (val as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn with_context(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

impl AfPacketPort {
    /// Opens a packet socket on interface `name` with the given settings.
    ///
    /// Needs `CAP_NET_RAW`. Fails if the interface does not exist or the kernel refuses the
    /// ring.
    pub fn open(name: &str, cfg: &AfPacketConfig) -> io::Result<Self> {
        let ifindex = ifindex(name)?;
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(with_context(
                io::Error::last_os_error(),
                "socket(AF_PACKET)",
            ));
        }
        // SAFETY: `raw` is a freshly created descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let sfd = fd.as_raw_fd();

        let keep = match cfg.filter {
            SocketFilter::All => None,
            SocketFilter::NeighborOnly => Some(true),
            SocketFilter::NoNeighbor => Some(false),
        };
        if let Some(keep) = keep {
            // Attached before the socket is bound, so no frame slips past it.
            let prog = super::fanout::neighbor_frames_program(keep);
            let len = u16::try_from(prog.len()).map_err(|_| io::Error::other("filter length"))?;
            let fprog = libc::sock_fprog {
                len,
                filter: prog.as_ptr() as *mut libc::sock_filter,
            };
            // The kernel copies the program during the call; `prog` outlives it.
            setsockopt(sfd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
                .map_err(|e| with_context(e, "SO_ATTACH_FILTER"))?;
        }
        let version = match cfg.ring {
            RingVersion::V3 => TPACKET_V3,
            RingVersion::V2 => v2::TPACKET_V2,
        };
        setsockopt(sfd, libc::SOL_PACKET, libc::PACKET_VERSION, &version)
            .map_err(|e| with_context(e, "PACKET_VERSION"))?;
        if cfg.vnet_hdr {
            // Must precede PACKET_RX_RING (the kernel refuses it with EBUSY once a ring exists).
            let on: libc::c_int = 1;
            setsockopt(sfd, libc::SOL_PACKET, libc::PACKET_VNET_HDR, &on)
                .map_err(|e| with_context(e, "PACKET_VNET_HDR"))?;
        }
        let reserve = u32::try_from(cfg.headroom)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "headroom too large"))?;
        setsockopt(sfd, libc::SOL_PACKET, libc::PACKET_RESERVE, &reserve)
            .map_err(|e| with_context(e, "PACKET_RESERVE"))?;
        let one: libc::c_int = 1;
        let ignore_outgoing_in_kernel =
            setsockopt(sfd, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, &one).is_ok();
        if !ignore_outgoing_in_kernel {
            tracing::debug!(
                iface = name,
                "PACKET_IGNORE_OUTGOING unavailable; filtering here"
            );
        }
        if cfg.qdisc_bypass {
            setsockopt(sfd, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, &one)
                .map_err(|e| with_context(e, "PACKET_QDISC_BYPASS"))?;
        }
        if cfg.busy_poll_us > 0 {
            let us = libc::c_int::try_from(cfg.busy_poll_us).unwrap_or(libc::c_int::MAX);
            setsockopt(sfd, libc::SOL_SOCKET, libc::SO_BUSY_POLL, &us)
                .map_err(|e| with_context(e, "SO_BUSY_POLL"))?;
        }

        // SAFETY: sysconf has no memory-safety preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let block_size = cfg.block_size.max(page).div_ceil(page) * page;
        let block_count = cfg.block_count.max(1);
        if cfg.vnet_hdr && block_size < MAX_SUPER_FRAME + cfg.headroom + RING_FRAME_OVERHEAD {
            tracing::warn!(
                iface = name,
                block_size,
                "ring blocks smaller than a 64 KiB GSO super-frame: such frames arrive truncated"
            );
        }
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
        // V3: the nominal frame size the kernel checks the block against. V2: a slot that
        // holds the largest frame the socket may see (a GSO super-frame with vnet_hdr).
        let frame_size = match cfg.ring {
            RingVersion::V3 => 2048usize,
            RingVersion::V2 => {
                let largest = if cfg.vnet_hdr { MAX_SUPER_FRAME } else { 2048 };
                v2::slot_size(block_size, largest + cfg.headroom + RING_FRAME_OVERHEAD)
                    .ok_or_else(|| bad("ring block smaller than one V2 slot"))?
            }
        };
        let frame_count = block_size / frame_size * block_count;
        if cfg.ring == RingVersion::V2 {
            let req = libc::tpacket_req {
                tp_block_size: u32::try_from(block_size).map_err(|_| bad("block size"))?,
                tp_block_nr: u32::try_from(block_count).map_err(|_| bad("block count"))?,
                tp_frame_size: u32::try_from(frame_size).map_err(|_| bad("frame size"))?,
                tp_frame_nr: u32::try_from(frame_count).map_err(|_| bad("ring size"))?,
            };
            setsockopt(sfd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req)
                .map_err(|e| with_context(e, "PACKET_RX_RING (V2)"))?;
        }
        let req = libc::tpacket_req3 {
            tp_block_size: u32::try_from(block_size).map_err(|_| bad("block size"))?,
            tp_block_nr: u32::try_from(block_count).map_err(|_| bad("block count"))?,
            tp_frame_size: frame_size as u32,
            tp_frame_nr: u32::try_from(block_size / frame_size * block_count)
                .map_err(|_| bad("ring size"))?,
            tp_retire_blk_tov: cfg.block_timeout_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        if cfg.ring == RingVersion::V3 {
            setsockopt(sfd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req)
                .map_err(|e| with_context(e, "PACKET_RX_RING"))?;
        }

        let len = block_size * block_count;
        // SAFETY: mapping a fresh region backed by the socket's ring; the result is checked.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                sfd,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(with_context(io::Error::last_os_error(), "mmap ring"));
        }
        let ring = RxRing {
            base: NonNull::new(base.cast()).ok_or_else(|| bad("mmap returned null"))?,
            block_size,
            block_count,
            next_block: 0,
            version: cfg.ring,
            frame_size,
            frame_count,
            next_frame: 0,
        };

        let sll = libc::sockaddr_ll {
            sll_family: libc::AF_PACKET as u16,
            sll_protocol: ETH_P_ALL_BE,
            sll_ifindex: ifindex as i32,
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 0,
            sll_addr: [0; 8],
        };
        // SAFETY: `sll` is a valid sockaddr_ll and we pass its exact size.
        let rc = unsafe {
            libc::bind(
                sfd,
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(with_context(io::Error::last_os_error(), "bind"));
        }

        if cfg.promiscuous {
            let mreq = libc::packet_mreq {
                mr_ifindex: ifindex as i32,
                mr_type: libc::PACKET_MR_PROMISC as u16,
                mr_alen: 0,
                mr_address: [0; 8],
            };
            setsockopt(sfd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)
                .map_err(|e| with_context(e, "PACKET_ADD_MEMBERSHIP promisc"))?;
        }
        if let Some(group) = cfg.fanout {
            join_fanout(sfd, group, &cfg.fanout_mode)?;
        }

        tracing::debug!(
            iface = name,
            ifindex,
            block_size,
            block_count,
            "AF_PACKET port open"
        );
        Ok(Self {
            ring,
            tx: PacketTx {
                fd,
                vnet: cfg.vnet_hdr,
            },
            name: name.to_string(),
            ifindex,
            accept: cfg.accept,
            ignore_outgoing_in_kernel,
            skipped: 0,
            kernel_total: PortLosses::default(),
            bad_offload: 0,
            frames: Vec::with_capacity(256),
        })
    }

    /// Replaces the classic BPF program of the `PACKET_FANOUT_CBPF` group this socket belongs
    /// to (`PACKET_FANOUT_DATA`); the kernel swaps it atomically for the whole group, so one
    /// member is enough, e.g. after a rules reload changed the VIPs.
    ///
    /// Fails with `EINVAL` if the socket is not in a CBPF group or the kernel's checker refuses
    /// the program, and with [`io::ErrorKind::InvalidInput`] for an empty or oversized one.
    pub fn set_fanout_program(&self, prog: &[libc::sock_filter]) -> io::Result<()> {
        set_fanout_program_fd(self.tx.fd.as_raw_fd(), prog)
    }

    /// Whether the socket reads and writes `virtio_net_hdr` offload headers.
    pub fn vnet_hdr(&self) -> bool {
        self.tx.vnet
    }

    /// Frames skipped because their `virtio_net_hdr` could not be parsed (also counted in
    /// [`AfPacketPort::skipped`]).
    pub fn bad_offload(&self) -> u64 {
        self.bad_offload
    }

    /// The interface index the socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Whether the kernel filters outgoing frames (`PACKET_IGNORE_OUTGOING` was accepted).
    pub fn kernel_ignores_outgoing(&self) -> bool {
        self.ignore_outgoing_in_kernel
    }

    /// Frames received but not lent (wrong kind, or inconsistent ring metadata).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Reads and resets the kernel's counters for this socket. [`FramePort::losses`] reads them
    /// too and keeps their sum: a caller of both sees each drop in only one of them.
    pub fn kernel_stats(&self) -> io::Result<KernelStats> {
        let mut st = libc::tpacket_stats_v3 {
            tp_packets: 0,
            tp_drops: 0,
            tp_freeze_q_cnt: 0,
        };
        let mut len = size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: `st` is a writable tpacket_stats_v3 and `len` holds its size.
        let rc = unsafe {
            libc::getsockopt(
                self.tx.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats_v3).cast(),
                &mut len,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(KernelStats {
            packets: st.tp_packets,
            drops: st.tp_drops,
            freezes: st.tp_freeze_q_cnt,
        })
    }

    /// Lends every frame of the current (ready) block, then gives the block back.
    fn walk_block(&mut self, sink: &mut Sink<'_, '_>) -> usize {
        let mut frames = recycle_frames(std::mem::take(&mut self.frames));
        let block = self.ring.block_ptr(self.ring.next_block);
        let bs = self.ring.block_size;
        // SAFETY: the block header (first 48 bytes) lies inside the block, which is ours while
        // its status says TP_STATUS_USER.
        let (num_pkts, first) = unsafe { (rd_u32(block, 12), rd_u32(block, 16) as usize) };
        let mut off = first;
        let mut lent = 0;
        // End of the last lent region: a frame header, and the region lent after it, must
        // lie past it, so no two lent slices (nor a lent slice and a header read) overlap
        // even if the ring's offsets were inconsistent.
        let mut lent_end = 0;
        for _ in 0..num_pkts {
            if off < lent_end || off + TP3_HDR_ALIGNED + SOCKADDR_LL_LEN > bs {
                self.skipped += 1;
                break;
            }
            // SAFETY: `off` plus the fixed header sizes was checked to be inside the block.
            let (next, sec, nsec, snaplen, wire_len, status, mac, pkttype) = unsafe {
                let h = block.add(off);
                (
                    rd_u32(h, 0) as usize,
                    rd_u32(h, 4),
                    rd_u32(h, 8),
                    rd_u32(h, 12) as usize,
                    rd_u32(h, 16) as usize,
                    rd_u32(h, 20),
                    rd_u16(h, 24) as usize,
                    *h.add(TP3_HDR_ALIGNED + 10),
                )
            };
            let lend_from = TP3_HDR_ALIGNED + SOCKADDR_LL_LEN;
            // With PACKET_VNET_HDR the kernel writes the header right before the frame.
            let vnet_len = if self.tx.vnet { VIRTIO_NET_HDR_LEN } else { 0 };
            let kind = PacketKind::from_raw(pkttype);
            let sane = mac >= lend_from + vnet_len && off + mac + snaplen <= bs;
            let offload = if !sane || !self.accept.accepts(kind) {
                None
            } else if vnet_len == 0 {
                Some(Offload::NONE)
            } else {
                // SAFETY: `off + mac - 10 .. off + mac` lies inside the block (checked above:
                // mac >= lend_from + 10 and off + mac <= bs), which user space owns until the
                // status is handed back below; nothing else borrows it now.
                let hdr = unsafe {
                    std::slice::from_raw_parts(block.add(off + mac - vnet_len), vnet_len)
                };
                let parsed = Offload::from_virtio(hdr);
                if parsed.is_err() {
                    self.bad_offload += 1;
                }
                parsed.ok()
            };
            if let Some(offload) = offload {
                let meta = RxMeta {
                    timestamp: Duration::new(u64::from(sec), nsec.min(999_999_999)),
                    kind,
                    wire_len,
                    csum_partial: status & libc::TP_STATUS_CSUMNOTREADY != 0
                        || offload.csum.is_some(),
                    offload,
                };
                let start = off + lend_from;
                let len = mac - lend_from + snaplen;
                // SAFETY: `start..start+len` is inside the block (checked above), the block is
                // owned by user space until we write TP_STATUS_KERNEL below, the region
                // excludes the frame header we read `next` from, and it starts past every
                // region lent before (`off >= lent_end`, `start > off`), so the slices are
                // disjoint. They live in `frames`, which is emptied before the block is
                // handed back.
                let buf = unsafe { std::slice::from_raw_parts_mut(block.add(start), len) };
                lent_end = start + len;
                frames.push(RxFrame::new(buf, mac - lend_from, meta));
                lent += 1;
            } else {
                self.skipped += 1;
            }
            if next == 0 {
                break;
            }
            off += next;
        }
        match sink {
            Sink::Each(on_frame) => {
                for f in frames.drain(..) {
                    on_frame(f, &mut self.tx as &mut dyn FrameTx);
                }
            }
            Sink::Batch(on_batch) => on_batch(&mut frames, &mut self.tx as &mut dyn FrameTx),
        }
        // The frames borrow the block: gone before it is handed back.
        self.frames = recycle_frames(frames);
        self.ring
            .status(self.ring.next_block)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.ring.next_block = (self.ring.next_block + 1) % self.ring.block_count;
        lent
    }
}

impl FrameTx for AfPacketPort {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        self.tx.send(frame)
    }

    fn send_batch(&mut self, frames: &[&[u8]]) -> io::Result<usize> {
        self.tx.send_batch(frames)
    }

    fn send_offload(&mut self, frame: &[u8], offload: &Offload) -> io::Result<()> {
        self.tx.send_offload(frame, offload)
    }

    fn send_batch_offload(&mut self, frames: &[(&[u8], Offload)]) -> io::Result<usize> {
        self.tx.send_batch_offload(frames)
    }
}

impl AsRawFd for AfPacketPort {
    /// The packet socket (for example to replace the fanout group's program from another
    /// place with [`set_fanout_program_fd`]).
    fn as_raw_fd(&self) -> RawFd {
        self.tx.fd.as_raw_fd()
    }
}

impl FramePort for AfPacketPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.tx.fd.as_raw_fd())
    }

    fn frames_waiting(&self) -> bool {
        self.ring.ready()
    }

    fn losses(&mut self) -> PortLosses {
        match self.kernel_stats() {
            Ok(k) => {
                self.kernel_total.ring_drops += u64::from(k.drops);
                self.kernel_total.ring_freezes += u64::from(k.freezes);
            }
            Err(e) => tracing::debug!(port = %self.name, "PACKET_STATISTICS: {e}"),
        }
        PortLosses {
            skipped: self.skipped,
            bad_offload: self.bad_offload,
            ..self.kernel_total
        }
    }

    fn recv_batch(
        &mut self,
        timeout: Option<Duration>,
        on_frame: &mut OnFrame<'_>,
    ) -> io::Result<usize> {
        self.recv_into(timeout, &mut Sink::Each(on_frame))
    }

    fn recv_frames(
        &mut self,
        timeout: Option<Duration>,
        on_batch: &mut OnBatch<'_>,
    ) -> io::Result<usize> {
        self.recv_into(timeout, &mut Sink::Batch(on_batch))
    }
}

impl AfPacketPort {
    /// Waits up to `timeout` for a ready block, then lends the frames of every ready block
    /// to `sink`.
    fn recv_into(
        &mut self,
        timeout: Option<Duration>,
        sink: &mut Sink<'_, '_>,
    ) -> io::Result<usize> {
        let deadline = timeout.map(|t| Instant::now() + t);
        while !self.ring.ready() {
            let left = match deadline {
                None => None,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Ok(0),
                },
            };
            super::poll_readable(self.tx.fd.as_raw_fd(), left)?;
        }
        if self.ring.version == RingVersion::V2 {
            return Ok(self.walk_slots(sink));
        }
        let mut lent = 0;
        for _ in 0..self.ring.block_count {
            if !self.ring.ready() {
                break;
            }
            lent += self.walk_block(sink);
        }
        Ok(lent)
    }
}
