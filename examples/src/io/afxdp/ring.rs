//! Memory maps shared with the kernel: the UMEM and the four AF_XDP rings.
//!
//! Why its own file: every `unsafe` that touches shared memory lives here, behind a handful of
//! methods whose preconditions are checked by construction (indices are masked, offsets come
//! from the kernel's `XDP_MMAP_OFFSETS`), so the socket logic in `xsk.rs` needs none.
//!
//! A ring is a power-of-two array of descriptors with a producer and a consumer index that
//! run freely (wrapping `u32`s). One side only writes the producer, the other only the
//! consumer; each side publishes with a release store after writing (or reading) the slots
//! and reads the other side's index with an acquire load, as the kernel does with
//! `smp_store_release`/`smp_load_acquire`.

use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

/// An owned memory mapping, unmapped on drop.
pub(super) struct Mmap {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone; the kernel's concurrent access is through
// atomics (ring indices) or hand-over protocols (descriptors, UMEM chunks), not thread-bound.
unsafe impl Send for Mmap {}

impl Mmap {
    /// Anonymous, populated memory for a UMEM.
    pub(super) fn anonymous(len: usize) -> io::Result<Self> {
        // SAFETY: a fresh private anonymous mapping; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        Self::checked(p, len, "mmap UMEM")
    }

    /// Maps `len` bytes of the ring at page offset `pgoff` of socket `fd`.
    pub(super) fn ring(fd: RawFd, len: usize, pgoff: libc::off_t) -> io::Result<Self> {
        // SAFETY: mapping a region the kernel backs with the socket's ring; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                pgoff,
            )
        };
        Self::checked(p, len, "mmap AF_XDP ring")
    }

    fn checked(p: *mut libc::c_void, len: usize, what: &str) -> io::Result<Self> {
        if p == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
        }
        let base = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap: null"))?;
        Ok(Mmap { base, len })
    }

    /// Start of the mapping.
    pub(super) fn ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// Length of the mapping.
    pub(super) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: base/len are exactly the mapping made in the constructor, and no borrow of
        // it outlives the owner (lent frames live only during a receive call).
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

/// One AF_XDP ring (fill, completion, RX or TX) mapped from the socket.
pub(super) struct Ring {
    map: Mmap,
    producer: usize,
    consumer: usize,
    flags: usize,
    desc: usize,
    mask: u32,
    /// Our copy of the index this side owns (producer on fill/TX, consumer on RX/completion).
    local: u32,
    /// Size of one slot: 8 (`u64` address) or 16 (`struct xdp_desc`).
    slot: usize,
}

/// A descriptor of the RX and TX rings (`struct xdp_desc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Desc {
    /// Offset in the UMEM of the frame's first byte.
    pub(super) addr: u64,
    /// Frame length.
    pub(super) len: u32,
    /// `XDP_PKT_CONTD` and friends; zero for single-buffer frames.
    pub(super) options: u32,
}

impl Ring {
    /// Maps a ring of `size` slots of `slot` bytes, at page offset `pgoff`, with the field
    /// offsets the kernel reported. `producer_side` says whether user space produces
    /// (fill, TX) or consumes (RX, completion).
    pub(super) fn map(
        fd: RawFd,
        off: &libc::xdp_ring_offset,
        size: u32,
        slot: usize,
        pgoff: libc::off_t,
        producer_side: bool,
    ) -> io::Result<Self> {
        let bad = || io::Error::other("AF_XDP ring offsets out of range");
        let desc = usize::try_from(off.desc).map_err(|_| bad())?;
        let len = desc + size as usize * slot;
        let map = Mmap::ring(fd, len, pgoff)?;
        let field = |o: u64| -> io::Result<usize> {
            let o = usize::try_from(o).map_err(|_| bad())?;
            if o % 4 != 0 || o + 4 > desc {
                return Err(bad());
            }
            Ok(o)
        };
        let mut r = Ring {
            producer: field(off.producer)?,
            consumer: field(off.consumer)?,
            flags: field(off.flags)?,
            desc,
            mask: size - 1,
            local: 0,
            slot,
            map,
        };
        r.local = if producer_side {
            r.idx(r.producer).load(Ordering::Relaxed)
        } else {
            r.idx(r.consumer).load(Ordering::Relaxed)
        };
        Ok(r)
    }

    fn idx(&self, off: usize) -> &AtomicU32 {
        // SAFETY: `off` was checked in `map` to be a 4-aligned offset with 4 bytes inside the
        // mapping (page-aligned base); the word is shared with the kernel, which accesses it
        // atomically too.
        unsafe { AtomicU32::from_ptr(self.map.ptr().add(off).cast::<u32>()) }
    }

    fn slot_ptr(&self, i: u32) -> *mut u8 {
        let i = (i & self.mask) as usize;
        // SAFETY: i <= mask < size, so the slot lies inside the mapped descriptor array.
        unsafe { self.map.ptr().add(self.desc + i * self.slot) }
    }

    /// Slots free for the producer (user space on fill/TX).
    pub(super) fn free(&self) -> u32 {
        let cons = self.idx(self.consumer).load(Ordering::Acquire);
        (self.mask + 1) - self.local.wrapping_sub(cons)
    }

    /// Slots the producer filled and the consumer did not take yet, seen from the producer.
    pub(super) fn in_flight(&self) -> u32 {
        let cons = self.idx(self.consumer).load(Ordering::Acquire);
        self.local.wrapping_sub(cons)
    }

    /// Entries ready for the consumer (user space on RX/completion).
    pub(super) fn ready(&self) -> u32 {
        let prod = self.idx(self.producer).load(Ordering::Acquire);
        prod.wrapping_sub(self.local)
    }

    /// Writes address `addr` into producer slot `local + i` (fill ring).
    pub(super) fn put_addr(&mut self, i: u32, addr: u64) {
        debug_assert_eq!(self.slot, 8);
        let p = self.slot_ptr(self.local.wrapping_add(i));
        // SAFETY: the slot is in the mapping and 8-aligned (desc offset and slots are); the
        // caller checked `free()`, so the kernel does not read it until we publish.
        unsafe { p.cast::<u64>().write(addr) }
    }

    /// Writes descriptor `d` into producer slot `local + i` (TX ring).
    pub(super) fn put_desc(&mut self, i: u32, d: Desc) {
        debug_assert_eq!(self.slot, 16);
        let p = self.slot_ptr(self.local.wrapping_add(i));
        // SAFETY: as in `put_addr`; the slot is 16 bytes: addr u64, len u32, options u32.
        unsafe {
            p.cast::<u64>().write(d.addr);
            p.add(8).cast::<u32>().write(d.len);
            p.add(12).cast::<u32>().write(d.options);
        }
    }

    /// Publishes `n` produced slots.
    pub(super) fn submit(&mut self, n: u32) {
        self.local = self.local.wrapping_add(n);
        self.idx(self.producer).store(self.local, Ordering::Release);
    }

    /// Reads the address in consumer slot `local + i` (completion ring).
    pub(super) fn get_addr(&self, i: u32) -> u64 {
        let p = self.slot_ptr(self.local.wrapping_add(i));
        // SAFETY: the slot is in the mapping and 8-aligned; the caller checked `ready()`, so
        // the kernel wrote it before publishing its producer index (acquire above).
        unsafe { p.cast::<u64>().read() }
    }

    /// Reads the descriptor in consumer slot `local + i` (RX ring).
    pub(super) fn get_desc(&self, i: u32) -> Desc {
        let p = self.slot_ptr(self.local.wrapping_add(i));
        // SAFETY: as in `get_addr`, for a 16-byte xdp_desc.
        unsafe {
            Desc {
                addr: p.cast::<u64>().read(),
                len: p.add(8).cast::<u32>().read(),
                options: p.add(12).cast::<u32>().read(),
            }
        }
    }

    /// Gives `n` consumed slots back.
    pub(super) fn release(&mut self, n: u32) {
        self.local = self.local.wrapping_add(n);
        self.idx(self.consumer).store(self.local, Ordering::Release);
    }

    /// Whether the kernel asked to be woken up (`XDP_RING_NEED_WAKEUP`).
    pub(super) fn needs_wakeup(&self) -> bool {
        self.idx(self.flags).load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }
}
