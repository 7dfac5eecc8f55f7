//! The TPACKET_V2 receive ring: one fixed-size slot per frame, each handed over on its own.
//!
//! Why it exists beside TPACKET_V3: a V3 block is handed to user space only when it is
//! full or its timer (at least 1 ms) expires, so under light load every frame waits up to
//! that long in the ring, and a short TCP connection crosses the director several times.
//! A V2 slot is handed over (and `poll` woken) as soon as the kernel has written the frame.
//! The price: every slot must hold the largest frame, a 64 KiB GSO super-frame when
//! offloads are on, so the same memory holds far fewer frames than a V3 block of small
//! ones, and a flood fills the ring sooner.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use lvs_forwarding::offload::VIRTIO_NET_HDR_LEN;

use super::{AfPacketPort, RxRing, Sink, rd_u16, rd_u32, recycle_frames};
use crate::io::{FrameTx, Offload, PacketKind, RxFrame, RxMeta};

/// `TPACKET_V2` from `enum tpacket_versions`.
pub(super) const TPACKET_V2: libc::c_int = 1;
/// Size of `struct tpacket2_hdr` rounded up to `TPACKET_ALIGNMENT` (where `sockaddr_ll`
/// starts).
const TP2_HDR_ALIGNED: usize = 32;
/// Where the lent buffer starts in a slot: after the header and the `sockaddr_ll`.
const LEND_FROM: usize = TP2_HDR_ALIGNED + super::SOCKADDR_LL_LEN;
/// Most frames lent as one batch (the rest wait for the next call).
const MAX_BATCH: usize = 256;
/// `TPACKET_ALIGNMENT`: slot sizes are multiples of it.
const ALIGN: usize = 16;

/// The slot size for blocks of `block_size` bytes when a slot must hold `min_slot`: as
/// many slots as fit, each as large as the block allows (so nothing is wasted), aligned.
/// `None` if not even one fits.
pub(super) fn slot_size(block_size: usize, min_slot: usize) -> Option<usize> {
    let per_block = block_size / min_slot.max(1);
    (per_block > 0).then(|| block_size / per_block / ALIGN * ALIGN)
}

impl RxRing {
    /// Slot `i` (0..frame_count) of a V2 ring.
    fn slot_ptr(&self, i: usize) -> *mut u8 {
        let per_block = self.block_size / self.frame_size;
        // SAFETY: i < frame_count = block_count * per_block, so the block index is in range
        // and the slot (frame_size bytes) lies inside its block.
        unsafe {
            self.block_ptr(i / per_block)
                .add(i % per_block * self.frame_size)
        }
    }

    /// The `tp_status` word of slot `i` (offset 0 of `tpacket2_hdr`, aligned because slots
    /// are multiples of 16 bytes into page-aligned blocks).
    fn slot_status(&self, i: usize) -> &AtomicU32 {
        // SAFETY: the pointer is inside the mapping and aligned for u32; the word is only
        // accessed atomically by us, or by the kernel, which hands it over with a barrier.
        unsafe { AtomicU32::from_ptr(self.slot_ptr(i).cast::<u32>()) }
    }

    /// Whether the next slot holds a frame for user space.
    pub(super) fn slot_ready(&self) -> bool {
        self.slot_status(self.next_frame).load(Ordering::Acquire) & libc::TP_STATUS_USER != 0
    }
}

impl AfPacketPort {
    /// Lends the frames of the ready slots from the next one on (at most [`MAX_BATCH`]) as
    /// one batch, then hands the slots back.
    pub(super) fn walk_slots(&mut self, sink: &mut Sink<'_, '_>) -> usize {
        let mut frames = recycle_frames(std::mem::take(&mut self.frames));
        let count = self.ring.frame_count;
        let fs = self.ring.frame_size;
        let first = self.ring.next_frame;
        let vnet_len = if self.tx.vnet { VIRTIO_NET_HDR_LEN } else { 0 };
        let mut taken = 0;
        while taken < count.min(MAX_BATCH) {
            let i = (first + taken) % count;
            if self.ring.slot_status(i).load(Ordering::Acquire) & libc::TP_STATUS_USER == 0 {
                break;
            }
            taken += 1;
            let h = self.ring.slot_ptr(i);
            // SAFETY: the slot is `fs` bytes, more than the header and sockaddr_ll read
            // here, and user space owns it while its status says TP_STATUS_USER.
            let (status, wire_len, snaplen, mac, sec, nsec, pkttype) = unsafe {
                (
                    rd_u32(h, 0),
                    rd_u32(h, 4) as usize,
                    rd_u32(h, 8) as usize,
                    rd_u16(h, 12) as usize,
                    rd_u32(h, 16),
                    rd_u32(h, 20),
                    *h.add(TP2_HDR_ALIGNED + 10),
                )
            };
            let kind = PacketKind::from_raw(pkttype);
            let sane = mac >= LEND_FROM + vnet_len && mac + snaplen <= fs;
            let offload = if !sane || !self.accept.accepts(kind) {
                None
            } else if vnet_len == 0 {
                Some(Offload::NONE)
            } else {
                // SAFETY: `mac - 10 .. mac` lies inside the slot (mac >= LEND_FROM + 10 and
                // mac <= fs, checked above), which user space owns until it is handed back
                // below; nothing else borrows it now.
                let hdr = unsafe { std::slice::from_raw_parts(h.add(mac - vnet_len), vnet_len) };
                let parsed = Offload::from_virtio(hdr);
                if parsed.is_err() {
                    self.bad_offload += 1;
                }
                parsed.ok()
            };
            let Some(offload) = offload else {
                self.skipped += 1;
                continue;
            };
            let meta = RxMeta {
                timestamp: Duration::new(u64::from(sec), nsec.min(999_999_999)),
                kind,
                wire_len,
                csum_partial: status & libc::TP_STATUS_CSUMNOTREADY != 0 || offload.csum.is_some(),
                offload,
            };
            // SAFETY: `LEND_FROM .. mac + snaplen` lies inside slot `i` (checked above), past
            // the header read above; slots do not overlap and each is taken once per call
            // (taken <= count), so the slices are disjoint. User space owns the slot until
            // its status is handed back below, after `frames` is emptied.
            let buf = unsafe {
                std::slice::from_raw_parts_mut(h.add(LEND_FROM), mac - LEND_FROM + snaplen)
            };
            frames.push(RxFrame::new(buf, mac - LEND_FROM, meta));
        }
        let lent = frames.len();
        match sink {
            Sink::Each(on_frame) => {
                for f in frames.drain(..) {
                    on_frame(f, &mut self.tx as &mut dyn FrameTx);
                }
            }
            Sink::Batch(on_batch) => on_batch(&mut frames, &mut self.tx as &mut dyn FrameTx),
        }
        // The frames borrow the slots: gone before the slots are handed back.
        self.frames = recycle_frames(frames);
        for k in 0..taken {
            self.ring
                .slot_status((first + k) % count)
                .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        }
        self.ring.next_frame = (first + taken) % count;
        lent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_fill_the_block() {
        // Three 64 KiB+ frames in a 256 KiB block, 16-byte aligned, nothing to spare.
        let s = slot_size(1 << 18, 65_550 + 64 + 256).unwrap();
        assert_eq!(s % ALIGN, 0);
        assert_eq!((1 << 18) / s, 3);
        assert!((1 << 18) - 3 * s < 3 * ALIGN);
        assert_eq!(slot_size(4096, 2048), Some(2048));
        assert_eq!(slot_size(4096, 8192), None);
    }
}
