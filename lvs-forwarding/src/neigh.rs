//! Neighbour resolution (ARP / IPv6 ND), sans-IO.
//!
//! The director must know the MAC of every real server (DR needs nothing
//! else) and of the gateway. Nothing here sends: the cache says whether a MAC
//! is known, and when it is not, the [`Director`](crate::Director) emits a
//! request and parks the frame in a bounded [`HoldQueue`] until the answer
//! arrives or the retries run out. Memory is fixed at construction: the cache
//! never grows past its capacity (the least recently confirmed dynamic entry
//! makes room) and the queue holds a fixed number of frames.

use alloc::vec;
use alloc::vec::Vec;
use core::hash::{BuildHasher, Hasher};
use core::net::IpAddr;

use hashbrown::HashMap;
use lvs_core::Instant;

use crate::wire::MacAddr;

/// How long a learned entry is trusted without being refreshed (Linux's
/// base_reachable_time is 30 s; we keep entries longer and refresh them from
/// any frame the neighbour sends us).
pub const REACHABLE_MS: u64 = 60_000;
/// Time between requests while resolving (Linux retrans_time: 1 s).
pub const RETRY_MS: u64 = 1_000;
/// Requests before giving up (Linux mcast_solicit: 3).
pub const MAX_PROBES: u8 = 3;

/// A keyed hasher for the neighbour map: addresses in frames are chosen by
/// the sender, so the map must not be predictable.
#[derive(Debug, Clone, Copy)]
pub struct SeededState(pub u64);

/// The hasher of [`SeededState`]: a multiply-rotate fold keyed by the seed.
#[derive(Debug, Clone, Copy)]
pub struct SeededHasher(u64);

impl Hasher for SeededHasher {
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0 ^ u64::from_le_bytes(w))
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(29);
        }
    }
}

impl BuildHasher for SeededState {
    type Hasher = SeededHasher;
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher(self.0)
    }
}

/// The state of one neighbour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighState {
    /// Given by the embedder; never expires, never overwritten.
    Static(MacAddr),
    /// Learned; trusted until `until`.
    Reachable {
        /// The MAC.
        mac: MacAddr,
        /// Trusted until then.
        until: Instant,
    },
    /// A request is out.
    Incomplete {
        /// Requests sent so far.
        probes: u8,
        /// When to send the next one (or give up).
        next_at: Instant,
    },
}

/// What the cache knows of an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Send to this MAC.
    Known(MacAddr),
    /// Resolution under way: hold the frame.
    Pending,
    /// Nothing known: start resolving.
    Unknown,
}

/// What [`NeighborCache::learn`] did with what it was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    /// A pending resolution completed: frames held for it can go.
    Resolved,
    /// A new entry, or a learned one whose MAC changed.
    Changed,
    /// A learned entry confirmed with the same MAC.
    Refreshed,
    /// A static entry holds the address; it was left as it is.
    Static,
}

impl Learned {
    /// Whether the cache now knows something it did not (a new MAC for
    /// the address, or a completed resolution).
    pub fn is_news(self) -> bool {
        matches!(self, Learned::Resolved | Learned::Changed)
    }
}

/// A bounded neighbour cache.
#[derive(Debug)]
pub struct NeighborCache {
    map: HashMap<IpAddr, NeighState, SeededState>,
    capacity: usize,
    /// Recent `Known` answers of [`resolve`](Self::resolve), direct-mapped
    /// by the address's last bits: the next hops of forwarded packets are a
    /// handful of real servers and gateways, and a hit here skips hashing
    /// the address and probing the map. Emptied by every change to the map,
    /// so it never answers differently from [`lookup`](Self::lookup).
    memo: [Option<(IpAddr, MacAddr)>; MEMO_SLOTS],
}

/// Slots of [`NeighborCache`]'s memo (a power of two).
const MEMO_SLOTS: usize = 8;

/// The memo slot of an address: its last bits (cheap; addresses are
/// chosen by the operator here, and a collision only costs a map lookup).
#[inline(always)]
fn memo_slot(ip: &IpAddr) -> usize {
    let last = match ip {
        IpAddr::V4(a) => a.octets()[3],
        IpAddr::V6(a) => a.octets()[15],
    };
    usize::from(last) & (MEMO_SLOTS - 1)
}

impl NeighborCache {
    /// A cache for at most `capacity` neighbours, allocated now.
    pub fn new(capacity: usize, seed: u64) -> Self {
        NeighborCache {
            map: HashMap::with_capacity_and_hasher(capacity.max(1), SeededState(seed)),
            capacity: capacity.max(1),
            memo: [None; MEMO_SLOTS],
        }
    }

    /// Forget the memo: called by everything that changes the map.
    #[inline]
    fn changed(&mut self) {
        self.memo = [None; MEMO_SLOTS];
    }

    /// [`lookup`](Self::lookup), remembering `Known` answers until the
    /// cache next changes. `lookup` answers `Known(mac)` for an entry
    /// whatever the time (a stale learned entry is still used), so a
    /// remembered answer stays right as long as the map is unchanged.
    #[inline]
    pub fn resolve(&mut self, ip: IpAddr, now: Instant) -> Lookup {
        let slot = memo_slot(&ip);
        if let Some((m_ip, mac)) = self.memo[slot]
            && m_ip == ip
        {
            return Lookup::Known(mac);
        }
        let r = self.lookup(ip, now);
        if let Lookup::Known(mac) = r {
            self.memo[slot] = Some((ip, mac));
        }
        r
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Add a static entry (the embedder's `--neighbor IP=MAC`).
    pub fn add_static(&mut self, ip: IpAddr, mac: MacAddr) {
        self.changed();
        if self.map.len() >= self.capacity && !self.map.contains_key(&ip) {
            self.evict_one();
        }
        self.map.insert(ip, NeighState::Static(mac));
    }

    /// What is known of `ip` at `now`.
    #[inline]
    pub fn lookup(&self, ip: IpAddr, now: Instant) -> Lookup {
        match self.map.get(&ip) {
            Some(NeighState::Static(m)) => Lookup::Known(*m),
            Some(NeighState::Reachable { mac, until }) if *until > now => Lookup::Known(*mac),
            // A stale entry is still used while it is re-confirmed: frames
            // flowing from the neighbour refresh it (see `learn`).
            Some(NeighState::Reachable { mac, .. }) => Lookup::Known(*mac),
            Some(NeighState::Incomplete { .. }) => Lookup::Pending,
            None => Lookup::Unknown,
        }
    }

    /// Record that `ip` is at `mac` (from an ARP/NA, or any frame it sent).
    /// A static entry is left as it is.
    pub fn learn(&mut self, ip: IpAddr, mac: MacAddr, now: Instant) -> Learned {
        self.changed();
        let until = Instant::from_millis(now.as_millis().saturating_add(REACHABLE_MS));
        match self.map.get_mut(&ip) {
            Some(NeighState::Static(_)) => Learned::Static,
            Some(s @ NeighState::Incomplete { .. }) => {
                *s = NeighState::Reachable { mac, until };
                Learned::Resolved
            }
            Some(s @ NeighState::Reachable { .. }) => {
                let same = matches!(s, NeighState::Reachable { mac: m, .. } if *m == mac);
                *s = NeighState::Reachable { mac, until };
                if same {
                    Learned::Refreshed
                } else {
                    Learned::Changed
                }
            }
            None => {
                if self.map.len() >= self.capacity {
                    self.evict_one();
                }
                self.map.insert(ip, NeighState::Reachable { mac, until });
                Learned::Changed
            }
        }
    }

    /// Set `ip` to a learned (reachable) entry at `mac`, whatever it was,
    /// a static entry included: the embedder's word (a neighbour the host
    /// kernel resolved) replaces what the cache had. Returns true if this
    /// completed a pending resolution.
    pub fn set_reachable(&mut self, ip: IpAddr, mac: MacAddr, now: Instant) -> bool {
        self.changed();
        let until = Instant::from_millis(now.as_millis().saturating_add(REACHABLE_MS));
        let new = NeighState::Reachable { mac, until };
        match self.map.get_mut(&ip) {
            Some(s) => {
                let pending = matches!(s, NeighState::Incomplete { .. });
                *s = new;
                pending
            }
            None => {
                if self.map.len() >= self.capacity {
                    self.evict_one();
                }
                self.map.insert(ip, new);
                false
            }
        }
    }

    /// Forget `ip` (whatever its state); returns what was known of it.
    pub fn remove(&mut self, ip: IpAddr) -> Option<NeighState> {
        self.changed();
        self.map.remove(&ip)
    }

    /// The state of `ip`'s entry, if any.
    pub fn state(&self, ip: IpAddr) -> Option<NeighState> {
        self.map.get(&ip).copied()
    }

    /// Refresh an existing learned entry without creating one (cheap, for
    /// every frame from a known neighbour). Returns true if its MAC changed.
    #[inline]
    pub fn refresh(&mut self, ip: IpAddr, mac: MacAddr, now: Instant) -> bool {
        self.changed();
        if let Some(s @ NeighState::Reachable { .. }) = self.map.get_mut(&ip) {
            let same = matches!(s, NeighState::Reachable { mac: m, .. } if *m == mac);
            *s = NeighState::Reachable {
                mac,
                until: Instant::from_millis(now.as_millis().saturating_add(REACHABLE_MS)),
            };
            return !same;
        }
        false
    }

    /// Start resolving `ip` (the caller sends the first request now).
    /// Returns false if the cache has no room even after eviction.
    pub fn start(&mut self, ip: IpAddr, now: Instant) -> bool {
        self.changed();
        if self.map.len() >= self.capacity && !self.map.contains_key(&ip) {
            self.evict_one();
        }
        if self.map.len() >= self.capacity && !self.map.contains_key(&ip) {
            return false;
        }
        self.map.insert(
            ip,
            NeighState::Incomplete {
                probes: 1,
                next_at: Instant::from_millis(now.as_millis().saturating_add(RETRY_MS)),
            },
        );
        true
    }

    /// The earliest retry or give-up time.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.map
            .values()
            .filter_map(|s| match s {
                NeighState::Incomplete { next_at, .. } => Some(*next_at),
                _ => None,
            })
            .min()
    }

    /// Advance resolutions at `now`: calls `resend(ip)` for each address that
    /// needs another request and `give_up(ip)` for each that ran out of
    /// probes (its entry is removed).
    pub fn on_timeout(
        &mut self,
        now: Instant,
        mut resend: impl FnMut(IpAddr),
        mut give_up: impl FnMut(IpAddr),
    ) {
        self.changed();
        let mut failed: heapless::Vec<IpAddr, 16> = heapless::Vec::new();
        for (ip, s) in self.map.iter_mut() {
            if let NeighState::Incomplete { probes, next_at } = s
                && *next_at <= now
            {
                if *probes >= MAX_PROBES {
                    if failed.push(*ip).is_err() {
                        break;
                    }
                } else {
                    *probes += 1;
                    *next_at = Instant::from_millis(now.as_millis().saturating_add(RETRY_MS));
                    resend(*ip);
                }
            }
        }
        for ip in failed {
            self.map.remove(&ip);
            give_up(ip);
        }
    }

    /// Make room: drop the learned entry that expires first (or, failing
    /// that, any non-static entry). Bounded by the capacity, and only paid
    /// when a new neighbour arrives in a full cache.
    fn evict_one(&mut self) {
        self.changed();
        let victim = self
            .map
            .iter()
            .filter_map(|(ip, s)| match s {
                NeighState::Reachable { until, .. } => Some((*until, *ip)),
                _ => None,
            })
            .min()
            .map(|(_, ip)| ip)
            .or_else(|| {
                self.map
                    .iter()
                    .find(|(_, s)| !matches!(s, NeighState::Static(_)))
                    .map(|(ip, _)| *ip)
            });
        if let Some(ip) = victim {
            self.map.remove(&ip);
        }
    }
}

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

    /// Mutable access to a held frame's bytes (to fill in the MAC once known).
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
    const M: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    /// The memo of `resolve` never answers differently from `lookup`.
    #[test]
    fn resolve_follows_changes() {
        let m2 = MacAddr([2, 0, 0, 0, 0, 2]);
        let mut c = NeighborCache::new(2, 1);
        let t = Instant::from_secs(1);
        assert_eq!(c.resolve(ip(1), t), Lookup::Unknown);
        c.learn(ip(1), M, t);
        assert_eq!(c.resolve(ip(1), t), Lookup::Known(M));
        // Same memo slot (last octet 9 = 1 + 8), different address.
        assert_eq!(c.resolve(ip(9), t), Lookup::Unknown);
        c.learn(ip(1), m2, t);
        assert_eq!(c.resolve(ip(1), t), Lookup::Known(m2));
        c.add_static(ip(9), M);
        assert_eq!(c.resolve(ip(9), t), Lookup::Known(M));
        // Full: learning a third address evicts ip(1), the learned one.
        c.learn(ip(2), M, t);
        assert_eq!(c.resolve(ip(1), t), c.lookup(ip(1), t));
        assert_eq!(c.resolve(ip(1), t), Lookup::Unknown);
        // Resolution started and given up.
        assert!(c.start(ip(3), t) || c.lookup(ip(3), t) == Lookup::Unknown);
        assert_eq!(c.resolve(ip(3), t), c.lookup(ip(3), t));
        for s in 2..=5 {
            c.on_timeout(Instant::from_secs(s), |_| {}, |_| {});
        }
        assert_eq!(c.resolve(ip(3), t), c.lookup(ip(3), t));
        assert_eq!(c.resolve(ip(2), t), c.lookup(ip(2), t));
    }

    #[test]
    fn resolve_retry_give_up() {
        let mut c = NeighborCache::new(4, 1);
        let t0 = Instant::from_secs(1);
        assert_eq!(c.lookup(ip(1), t0), Lookup::Unknown);
        assert!(c.start(ip(1), t0));
        assert_eq!(c.lookup(ip(1), t0), Lookup::Pending);
        assert_eq!(c.next_timeout(), Some(Instant::from_millis(2000)));
        let mut resent = 0;
        let mut failed = 0;
        for s in 2..=4 {
            c.on_timeout(Instant::from_secs(s), |_| resent += 1, |_| failed += 1);
        }
        assert_eq!((resent, failed), (2, 1));
        assert_eq!(c.lookup(ip(1), t0), Lookup::Unknown);
    }

    #[test]
    fn learn_completes_and_static_wins() {
        let mut c = NeighborCache::new(2, 1);
        let t0 = Instant::ZERO;
        c.start(ip(1), t0);
        assert_eq!(c.learn(ip(1), M, t0), Learned::Resolved);
        assert_eq!(c.lookup(ip(1), t0), Lookup::Known(M));
        let s = MacAddr([2, 0, 0, 0, 0, 9]);
        c.add_static(ip(2), s);
        assert_eq!(c.learn(ip(2), M, t0), Learned::Static);
        assert_eq!(c.lookup(ip(2), t0), Lookup::Known(s));
        // Full: a third learned entry evicts the learned one, not the static.
        c.learn(ip(3), M, t0);
        assert_eq!(c.len(), 2);
        assert_eq!(c.lookup(ip(2), t0), Lookup::Known(s));
        assert_eq!(c.lookup(ip(1), t0), Lookup::Unknown);
    }

    #[test]
    fn learn_outcomes_set_reachable_and_remove() {
        let m2 = MacAddr([2, 0, 0, 0, 0, 2]);
        let mut c = NeighborCache::new(4, 1);
        let t = Instant::from_secs(1);
        assert_eq!(c.learn(ip(1), M, t), Learned::Changed);
        assert_eq!(c.learn(ip(1), M, t), Learned::Refreshed);
        assert_eq!(c.learn(ip(1), m2, t), Learned::Changed);
        assert!(!c.refresh(ip(1), m2, t));
        assert!(c.refresh(ip(1), M, t));
        assert!(Learned::Resolved.is_news() && !Learned::Refreshed.is_news());
        // set_reachable replaces a static entry and completes a pending one.
        c.add_static(ip(2), M);
        assert!(!c.set_reachable(ip(2), m2, t));
        assert!(matches!(
            c.state(ip(2)),
            Some(NeighState::Reachable { mac, .. }) if mac == m2
        ));
        assert!(c.start(ip(3), t));
        assert!(c.set_reachable(ip(3), m2, t));
        assert_eq!(c.resolve(ip(3), t), Lookup::Known(m2));
        // remove forgets, and the memo of resolve follows.
        assert!(c.remove(ip(3)).is_some());
        assert_eq!(c.resolve(ip(3), t), Lookup::Unknown);
        assert_eq!(c.remove(ip(3)), None);
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
        assert_eq!(q.discard(ip(2)), 1);
        assert!(q.is_empty());
    }
}
