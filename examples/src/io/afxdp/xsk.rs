//! One AF_XDP socket bound to one receive queue, with its own UMEM.
//!
//! Frame bookkeeping (why it cannot leak chunks): every UMEM chunk is at any time in exactly
//! one place: the free list, the fill ring or the kernel's RX path (`fill_held` counts both),
//! lent to the caller during a receive, or handed to the kernel for TX (until its completion
//! comes back). A received chunk goes back to the free list after the callback unless it was
//! posted to the TX ring in place; completions go to the free list; the fill ring is topped up
//! from the free list to half the chunks, so the other half stays available for frames copied
//! in for sending.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::ring::{Desc, Mmap, Ring};

/// Sizes of one socket's UMEM and rings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct XskSizes {
    pub(super) frames: u32,
    pub(super) frame_size: u32,
    pub(super) ring: u32,
    pub(super) headroom: u32,
}

/// Counters the kernel keeps per socket (`XDP_STATISTICS`), not reset on read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct XskStats {
    /// Frames dropped for any reason other than a full RX ring (no chunk in the fill ring,
    /// frame larger than a chunk).
    pub rx_dropped: u64,
    /// Frames dropped because the RX ring was full.
    pub rx_ring_full: u64,
    /// Times the fill ring was empty when a frame arrived.
    pub rx_fill_ring_empty: u64,
    /// Descriptors the kernel refused (bad address or length) on RX and TX.
    pub invalid_descs: u64,
    /// Times the kernel found the TX ring empty when woken up.
    pub tx_ring_empty: u64,
}

/// What a bind ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CopyMode {
    ZeroCopy,
    Copy,
}

/// The receive half of a socket.
pub(super) struct RxSide {
    pub(super) rx: Ring,
    pub(super) fill: Ring,
    /// Chunks in the fill ring or being filled by the kernel.
    pub(super) fill_held: u32,
}

/// The transmit half of a socket, plus the UMEM and its free chunks.
pub(super) struct TxSide {
    pub(super) tx: Ring,
    pub(super) comp: Ring,
    pub(super) umem: Mmap,
    pub(super) free: Vec<u64>,
    pub(super) frame_size: u64,
    /// Where a copied frame starts in its chunk (the same room the kernel leaves on RX).
    pub(super) tx_offset: u64,
    /// Descriptors posted since the last kick.
    pub(super) unkicked: u32,
    /// Frames posted in place (no copy) and copied in, since open.
    pub(super) in_place: u64,
    pub(super) copied: u64,
    fd: RawFd,
}

/// One bound AF_XDP socket.
pub(super) struct Xsk {
    pub(super) rxs: RxSide,
    pub(super) txs: TxSide,
    pub(super) mode: CopyMode,
    // Declared last: the rings and UMEM are unmapped before the socket closes.
    fd: OwnedFd,
}

/// Room the kernel keeps in front of every received frame (`XDP_PACKET_HEADROOM`), on top of
/// the UMEM headroom.
pub(super) const XDP_PACKET_HEADROOM: u64 = 256;
/// Binds tried while a queue is still held by a closed socket (25 ms apart).
const BIND_BUSY_TRIES: u32 = 40;
/// Most kicks one flush may take (copy mode sends at most 32 frames per `sendto`).
const MAX_KICKS: u32 = 256;

fn setsockopt<T>(fd: RawFd, opt: libc::c_int, val: &T, what: &str) -> io::Result<()> {
    // SAFETY: `val` is a live T of the size passed; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            opt,
            (val as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

fn getsockopt<T: Copy>(fd: RawFd, opt: libc::c_int, zero: T) -> io::Result<(T, usize)> {
    let mut v = zero;
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `v` is a writable T and `len` its size; the kernel writes at most `len` bytes.
    let rc =
        unsafe { libc::getsockopt(fd, libc::SOL_XDP, opt, (&mut v as *mut T).cast(), &mut len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((v, len as usize))
}

impl Xsk {
    /// Creates a socket with a fresh UMEM and binds it to `ifindex`/`queue`, trying zero copy
    /// first when `try_zero_copy` (falling back to copy mode when the driver refuses it).
    pub(super) fn open(
        ifindex: u32,
        queue: u32,
        sz: XskSizes,
        try_zero_copy: bool,
    ) -> io::Result<Self> {
        let mut last_err = None;
        let modes: &[CopyMode] = if try_zero_copy {
            &[CopyMode::ZeroCopy, CopyMode::Copy]
        } else {
            &[CopyMode::Copy]
        };
        // A failed bind leaves the socket's rings and UMEM registered: start over each time.
        for &mode in modes {
            match Self::open_once(ifindex, queue, sz, mode) {
                Ok(x) => return Ok(x),
                Err(e) => {
                    tracing::debug!(queue, ?mode, "AF_XDP bind: {e}");
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("AF_XDP: no bind mode")))
    }

    fn open_once(ifindex: u32, queue: u32, sz: XskSizes, mode: CopyMode) -> io::Result<Self> {
        // SAFETY: plain socket(2); the result is checked.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("socket(AF_XDP): {e}")));
        }
        // SAFETY: a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let sfd = fd.as_raw_fd();

        let umem_len = sz.frames as usize * sz.frame_size as usize;
        let umem = Mmap::anonymous(umem_len)?;
        let reg = libc::xdp_umem_reg {
            addr: umem.ptr() as u64,
            len: umem_len as u64,
            chunk_size: sz.frame_size,
            headroom: sz.headroom,
            flags: 0,
            tx_metadata_len: 0,
        };
        setsockopt(sfd, libc::XDP_UMEM_REG, &reg, "XDP_UMEM_REG")?;
        setsockopt(
            sfd,
            libc::XDP_UMEM_FILL_RING,
            &sz.ring,
            "XDP_UMEM_FILL_RING",
        )?;
        setsockopt(
            sfd,
            libc::XDP_UMEM_COMPLETION_RING,
            &sz.ring,
            "XDP_UMEM_COMPLETION_RING",
        )?;
        setsockopt(sfd, libc::XDP_RX_RING, &sz.ring, "XDP_RX_RING")?;
        setsockopt(sfd, libc::XDP_TX_RING, &sz.ring, "XDP_TX_RING")?;

        let zero_off = libc::xdp_ring_offset {
            producer: 0,
            consumer: 0,
            desc: 0,
            flags: 0,
        };
        let (off, len) = getsockopt(
            sfd,
            libc::XDP_MMAP_OFFSETS,
            libc::xdp_mmap_offsets {
                rx: zero_off,
                tx: zero_off,
                fr: zero_off,
                cr: zero_off,
            },
        )
        .map_err(|e| io::Error::new(e.kind(), format!("XDP_MMAP_OFFSETS: {e}")))?;
        if len < size_of::<libc::xdp_mmap_offsets>() {
            // Kernels before 5.4 have no flags field, hence no need_wakeup.
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "AF_XDP: kernel without ring flags (need_wakeup needs 5.4 or later)",
            ));
        }
        let rx = Ring::map(sfd, &off.rx, sz.ring, 16, libc::XDP_PGOFF_RX_RING, false)?;
        let tx = Ring::map(sfd, &off.tx, sz.ring, 16, libc::XDP_PGOFF_TX_RING, true)?;
        let fill = Ring::map(
            sfd,
            &off.fr,
            sz.ring,
            8,
            libc::XDP_UMEM_PGOFF_FILL_RING as libc::off_t,
            true,
        )?;
        let comp = Ring::map(
            sfd,
            &off.cr,
            sz.ring,
            8,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING as libc::off_t,
            false,
        )?;

        let mut xsk = Xsk {
            rxs: RxSide {
                rx,
                fill,
                fill_held: 0,
            },
            txs: TxSide {
                tx,
                comp,
                umem,
                free: (0..u64::from(sz.frames))
                    .rev()
                    .map(|i| i * u64::from(sz.frame_size))
                    .collect(),
                frame_size: u64::from(sz.frame_size),
                tx_offset: XDP_PACKET_HEADROOM + u64::from(sz.headroom),
                unkicked: 0,
                in_place: 0,
                copied: 0,
                fd: sfd,
            },
            mode,
            fd,
        };
        // Chunks must be in the fill ring before the first frame arrives.
        xsk.refill();

        let flags = libc::XDP_USE_NEED_WAKEUP
            | match mode {
                CopyMode::ZeroCopy => libc::XDP_ZEROCOPY,
                CopyMode::Copy => libc::XDP_COPY,
            };
        let sxdp = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: flags,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: queue,
            sxdp_shared_umem_fd: 0,
        };
        // A socket that served this queue a moment ago (a restart) releases it after an RCU
        // grace period; until then the bind says EBUSY. Retry for up to about a second.
        let mut tries = 0;
        loop {
            // SAFETY: `sxdp` is a valid sockaddr_xdp and we pass its exact size.
            let rc = unsafe {
                libc::bind(
                    sfd,
                    (&sxdp as *const libc::sockaddr_xdp).cast(),
                    size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
                )
            };
            if rc == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EBUSY) && tries < BIND_BUSY_TRIES {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(25));
                continue;
            }
            return Err(io::Error::new(
                e.kind(),
                format!("bind AF_XDP queue {queue} ({mode:?}): {e}"),
            ));
        }
        Ok(xsk)
    }

    /// The socket's descriptor (for the XSKMAP and poll).
    pub(super) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The kernel's counters for this socket.
    pub(super) fn stats(&self) -> io::Result<XskStats> {
        let (s, _) = getsockopt(
            self.fd.as_raw_fd(),
            libc::XDP_STATISTICS,
            libc::xdp_statistics {
                rx_dropped: 0,
                rx_invalid_descs: 0,
                tx_invalid_descs: 0,
                rx_ring_full: 0,
                rx_fill_ring_empty_descs: 0,
                tx_ring_empty_descs: 0,
            },
        )?;
        Ok(XskStats {
            rx_dropped: s.rx_dropped,
            rx_ring_full: s.rx_ring_full,
            rx_fill_ring_empty: s.rx_fill_ring_empty_descs,
            invalid_descs: s.rx_invalid_descs + s.tx_invalid_descs,
            tx_ring_empty: s.tx_ring_empty_descs,
        })
    }

    /// Tops the fill ring up to half the chunks from the free list.
    pub(super) fn refill(&mut self) {
        let total = (self.txs.umem.len() as u64 / self.txs.frame_size) as u32;
        let want = (total / 2).saturating_sub(self.rxs.fill_held);
        let n = want
            .min(self.rxs.fill.free())
            .min(self.txs.free.len() as u32);
        for i in 0..n {
            let addr = self.txs.free.pop().unwrap_or_default();
            self.rxs.fill.put_addr(i, addr);
        }
        if n > 0 {
            self.rxs.fill.submit(n);
            self.rxs.fill_held += n;
        }
    }

    /// Wakes the kernel to fill the RX ring if it asked for it (zero-copy drivers do).
    pub(super) fn wake_rx(&self) {
        if self.rxs.fill.needs_wakeup() {
            // SAFETY: a zero-length, address-less recvfrom only wakes the driver.
            unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    std::ptr::null_mut(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                );
            }
        }
    }
}

impl TxSide {
    /// The chunk a UMEM offset lies in.
    pub(super) fn chunk_of(&self, addr: u64) -> u64 {
        addr - addr % self.frame_size
    }

    /// Whether `frame` lies inside the chunk at `chunk`; returns its UMEM offset if so.
    pub(super) fn offset_in_chunk(&self, frame: &[u8], chunk: u64) -> Option<u64> {
        let base = self.umem.ptr() as usize;
        let p = frame.as_ptr() as usize;
        let off = p.checked_sub(base)? as u64;
        (off >= chunk && off + frame.len() as u64 <= chunk + self.frame_size).then_some(off)
    }

    /// Frees completed TX chunks.
    pub(super) fn reap(&mut self) -> u32 {
        let n = self.comp.ready();
        for i in 0..n {
            let addr = self.comp.get_addr(i);
            let chunk = self.chunk_of(addr);
            self.free.push(chunk);
        }
        if n > 0 {
            self.comp.release(n);
        }
        n
    }

    /// Posts one descriptor to the TX ring (the kernel sends it at the next kick).
    pub(super) fn post(&mut self, addr: u64, len: usize) -> io::Result<()> {
        if self.tx.free() == 0 {
            self.kick();
            self.reap();
            if self.tx.free() == 0 {
                return Err(io::Error::from_raw_os_error(libc::ENOBUFS));
            }
        }
        self.tx.put_desc(
            0,
            Desc {
                addr,
                len: len as u32,
                options: 0,
            },
        );
        self.tx.submit(1);
        self.unkicked += 1;
        Ok(())
    }

    /// Copies `frame` into a free chunk and posts it.
    pub(super) fn copy_and_post(&mut self, frame: &[u8]) -> io::Result<()> {
        if frame.len() as u64 > self.frame_size - self.tx_offset {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "frame of {} bytes is larger than an AF_XDP chunk allows ({})",
                    frame.len(),
                    self.frame_size - self.tx_offset
                ),
            ));
        }
        if self.free.is_empty() {
            self.reap();
        }
        if self.free.is_empty() {
            self.kick();
            self.reap();
        }
        let Some(chunk) = self.free.pop() else {
            return Err(io::Error::from_raw_os_error(libc::ENOBUFS));
        };
        let addr = chunk + self.tx_offset;
        // SAFETY: the chunk came from the free list, so neither the kernel nor a lent frame
        // uses it; addr + len <= chunk + frame_size <= UMEM length (checked above), and the
        // source is a caller's slice, which cannot overlap a free chunk.
        unsafe {
            std::ptr::copy_nonoverlapping(
                frame.as_ptr(),
                self.umem.ptr().add(addr as usize),
                frame.len(),
            );
        }
        if let Err(e) = self.post(addr, frame.len()) {
            self.free.push(chunk);
            return Err(e);
        }
        self.copied += 1;
        Ok(())
    }

    /// Makes the kernel send what was posted. In copy mode one `sendto` sends a bounded
    /// batch (32 frames), so this repeats until the kernel took every descriptor or stops
    /// making progress; completions are reaped on the way so the completion ring never
    /// blocks it.
    pub(super) fn kick(&mut self) {
        if self.unkicked == 0 && self.tx.in_flight() == 0 {
            return;
        }
        self.unkicked = 0;
        for _ in 0..MAX_KICKS {
            if self.tx.in_flight() == 0 {
                break;
            }
            if !self.tx.needs_wakeup() {
                // The driver is polling the ring itself (zero copy without need_wakeup).
                break;
            }
            let before = self.tx.in_flight();
            // SAFETY: a zero-length sendto with no address only asks the kernel to send what
            // is in the TX ring.
            let rc = unsafe {
                libc::sendto(
                    self.fd,
                    std::ptr::null(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null(),
                    0,
                )
            };
            self.reap();
            if rc < 0 {
                let e = io::Error::last_os_error().raw_os_error();
                match e {
                    Some(libc::EAGAIN) | Some(libc::EBUSY) | Some(libc::ENOBUFS)
                    | Some(libc::EINTR) => {}
                    _ => {
                        tracing::debug!("AF_XDP kick: {:?}", io::Error::last_os_error());
                        break;
                    }
                }
            }
            if self.tx.in_flight() >= before && rc < 0 {
                // No progress (device queue full): let the next batch try again.
                break;
            }
        }
    }
}
