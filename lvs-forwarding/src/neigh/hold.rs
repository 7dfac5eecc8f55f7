//! The frames parked while their next hop is resolved.
//!
//! A frame whose next hop is INCOMPLETE cannot be sent, and dropping it
//! would cost every new connection to an unresolved neighbour its first
//! packet (a SYN retransmitted a second later). The kernel keeps such frames
//! on the neighbour's `arp_queue`, bounded in bytes; here the pool is fixed at
//! construction so the packet path never allocates.

use alloc::vec;
use alloc::vec::Vec;
use core::net::IpAddr;

/// A frame parked while its next hop is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    next_hop: IpAddr,
    link: usize,
    len: usize,
    /// Insertion order, to release frames in the order they came.
    seq: u64,
}

/// A fixed pool of parked frames. When full, new frames are refused (and
/// counted by the caller): the oldest ones are the likeliest to be released.
#[derive(Debug)]
pub struct HoldQueue {
    buf: Vec<u8>,
    slot_size: usize,
    slots: Vec<Option<Held>>,
    seq: u64,
}

impl HoldQueue {
    /// A queue of `slots` frames of at most `slot_size` bytes each.
    pub fn new(slots: usize, slot_size: usize) -> Self {
        HoldQueue {
            buf: vec![0; slots * slot_size],
            slot_size,
            slots: vec![None; slots],
            seq: 0,
        }
    }

    /// Number of frames held.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    /// Park `frame` until `next_hop` resolves. False if there is no room or
    /// the frame is too big.
    pub fn push(&mut self, next_hop: IpAddr, link: usize, frame: &[u8]) -> bool {
        if frame.len() > self.slot_size {
            return false;
        }
        let Some(i) = self.slots.iter().position(Option::is_none) else {
            return false;
        };
        let start = i * self.slot_size;
        let Some(dst) = self.buf.get_mut(start..start + frame.len()) else {
            return false;
        };
        dst.copy_from_slice(frame);
        self.seq += 1;
        self.slots[i] = Some(Held {
            next_hop,
            link,
            len: frame.len(),
            seq: self.seq,
        });
        true
    }

    /// Take the oldest frame waiting for `next_hop` out, copying it into
    /// `out`; returns `(link, len)`.
    pub fn pop_for(&mut self, next_hop: IpAddr, out: &mut [u8]) -> Option<(usize, usize)> {
        let i = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.filter(|h| h.next_hop == next_hop).map(|h| (h.seq, i)))
            .min()?
            .1;
        let h = self.slots[i]?;
        let start = i * self.slot_size;
        let src = self.buf.get(start..start + h.len)?;
        let dst = out.get_mut(..h.len)?;
        dst.copy_from_slice(src);
        self.slots[i] = None;
        Some((h.link, h.len))
    }

    /// Whether a frame waits for `next_hop`.
    pub fn holds(&self, next_hop: IpAddr) -> bool {
        self.slots
            .iter()
            .any(|s| s.is_some_and(|h| h.next_hop == next_hop))
    }

    /// Drop every frame waiting for `next_hop`; returns how many.
    pub fn discard(&mut self, next_hop: IpAddr) -> usize {
        let mut n = 0;
        for s in &mut self.slots {
            if s.is_some_and(|h| h.next_hop == next_hop) {
                *s = None;
                n += 1;
            }
        }
        n
    }

    /// Every frame held, as `(next hop, link)`, in no particular order:
    /// what an embedder reports when it stops with frames still waiting
    /// (an offline run whose capture never answers a request).
    pub fn iter(&self) -> impl Iterator<Item = (IpAddr, usize)> + '_ {
        self.slots.iter().flatten().map(|h| (h.next_hop, h.link))
    }

    /// The frame held last, as `(next hop, link)`.
    pub fn newest(&self) -> Option<(IpAddr, usize)> {
        self.slots
            .iter()
            .flatten()
            .max_by_key(|h| h.seq)
            .map(|h| (h.next_hop, h.link))
    }

    /// The largest frame one slot holds, in bytes.
    pub fn slot_size(&self) -> usize {
        self.slot_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, n))
    }

    #[test]
    fn hold_queue_is_bounded_and_fifo() {
        let mut q = HoldQueue::new(2, 8);
        assert!(q.push(ip(1), 0, b"first"));
        assert!(q.push(ip(1), 1, b"second"));
        assert!(!q.push(ip(2), 0, b"third"), "full");
        assert!(!q.push(ip(2), 0, b"much too long"), "too big");
        let mut out = [0u8; 16];
        assert_eq!(q.pop_for(ip(1), &mut out), Some((0, 5)));
        assert_eq!(&out[..5], b"first");
        assert_eq!(q.pop_for(ip(1), &mut out), Some((1, 6)));
        assert_eq!(q.pop_for(ip(1), &mut out), None);
        assert!(q.push(ip(2), 0, b"x"));
        assert!(q.holds(ip(2)) && !q.holds(ip(1)));
        assert!(q.push(ip(3), 1, b"y"));
        let mut held: Vec<_> = q.iter().collect();
        held.sort();
        assert_eq!(held, [(ip(2), 0), (ip(3), 1)]);
        assert_eq!(q.newest(), Some((ip(3), 1)));
        assert_eq!(q.discard(ip(3)), 1);
        assert_eq!(q.discard(ip(2)), 1);
        assert!(q.is_empty());
    }
}
