//! The connection table: fixed storage, keyed open addressing, timer wheel.
//!
//! # Layout
//!
//! The embedder provides `N` [`Slot`]s. Each slot is one cache line for IPv4
//! (64 bytes: the 56-byte [`Connection`] plus two 32-bit words; IPv6 slots
//! are 128 bytes, two aligned lines) and plays three roles at once:
//!
//! * **storage**: a live entry sits in a slot and never moves, so a
//!   [`ConnHandle`] (the slot index) stays valid until the entry is removed;
//! * **hash position**: an entry is stored in the first free slot at or after
//!   its *home* `hash(protocol, caddr, cport) mod N` (linear probing), so a
//!   lookup hit usually reads one line and no separate index exists;
//! * **timer links**: the two words are the `prev`/`next` links of an
//!   intrusive doubly-linked list (a bucket of the timer wheel). Their top
//!   nibbles together hold the slot's *max displacement*: how far past this
//!   home position the farthest entry hashed here lives.
//!
//! Lookups scan from the home slot over `max displacement + 1` slots and do
//! not stop at free slots, so removal needs neither tombstones nor moving
//! entries (which would invalidate handles). Displacement is capped at
//! [`MAX_DISPLACEMENT`]; with the load capped at 3/4 the cap is not reached
//! in practice, and an insert that would exceed it fails with
//! [`InsertError::Full`] instead of making lookups slow.
//!
//! **Capacity** is `N - N/4` (three quarters of the slots, rounded up), at
//! most [`MAX_SLOTS`] slots are used; [`slots_for_capacity`] sizes storage.
//!
//! # Both sides from one hash
//!
//! As in IPVS, the hash covers only (protocol, client address, client
//! port), which a client packet carries as its source and a NAT reply as its
//! destination. The client-side, real-server-side and template lookups all
//! scan the same window and differ only in the fields they compare.
//! Templates are hashed with client port 0 whatever their `cport` says.
//!
//! # Expiry
//!
//! A hierarchical timer wheel (6 levels of 64 buckets, 1 ms at level 0,
//! covering 2^36 ms ≈ 2.2 years; farther expiries wait on an overflow list)
//! with the buckets' list heads inside the table struct and the list links
//! inside the slots. Arming is O(1); an entry cascades down at most five
//! times before it expires; finding the next occupied bucket is a
//! `trailing_zeros` per level on 64-bit occupancy masks. Refreshing a timer
//! whose new expiry falls in the same bucket touches nothing but the entry;
//! otherwise it relinks in O(1). Level 0 is exact, so [`ConnTable::pop_expired`]
//! reports an entry at the first call with `now >= expires`.
//! [`ConnTable::next_timeout`] returns the start of the earliest occupied
//! bucket, which is never later than the real expiry but may be earlier by
//! up to that level's bucket width (64^level ms); the caller then wakes, the
//! bucket cascades, and the next answer is 64 times more precise.
//!
//! Half-open TCP entries (SYN_RECV, SYNACK, not templates) live on a second
//! wheel sharing the same clock, so [`ConnTable::evict_half_open`] finds the
//! one expiring soonest (the least recently touched) in O(1) without ever
//! looking at established entries.

use core::marker::PhantomData;

use super::entry::{ConnAddr, ConnFlags, ConnHandle, Connection};
use super::hash::ConnHasher;
use super::tcp::TcpState;
use crate::time::Instant;

/// Wheel levels.
const LEVELS: usize = 6;
/// Bits per level (64 buckets).
const LEVEL_BITS: u32 = 6;
/// Expiries farther than 2^HORIZON_BITS ms from the wheel clock go to the overflow list.
const HORIZON_BITS: u32 = LEVEL_BITS * LEVELS as u32;
/// Sentinel index of the "already due" list within a wheel.
const DUE: usize = LEVELS * 64;
/// Sentinel index of the overflow list within a wheel.
const FAR: usize = LEVELS * 64 + 1;
/// Sentinels per wheel.
const PER_WHEEL: usize = LEVELS * 64 + 2;
/// Two wheels: everything else (0) and half-open TCP (1).
const SENTINELS: usize = 2 * PER_WHEEL;

const LINK_BITS: u32 = 28;
const LINK_MASK: u32 = (1 << LINK_BITS) - 1;
/// Link value of a free slot.
const FREE: u32 = LINK_MASK;

/// The most slots a table uses (about 268 million); extra storage is ignored.
pub const MAX_SLOTS: usize = LINK_MASK as usize - SENTINELS;

/// The farthest an entry may live from its home slot, and so the most slots
/// a lookup reads.
pub const MAX_DISPLACEMENT: usize = 255;

/// The capacity (entries) of a table over `slots` storage slots: `slots - slots / 4`.
pub const fn capacity_for_slots(slots: usize) -> usize {
    let s = if slots > MAX_SLOTS { MAX_SLOTS } else { slots };
    s - s / 4
}

/// The number of storage slots needed for `capacity` entries.
pub const fn slots_for_capacity(capacity: usize) -> usize {
    capacity.saturating_add(capacity / 3)
}

/// One storage slot: an entry (or nothing) plus the table's links. See the
/// [`table` module docs](crate::conn::table) for the roles of the extra words.
///
/// `size_of::<Slot<Ipv4Addr>>()` is 64 and `size_of::<Slot<Ipv6Addr>>()` is
/// 128. Slots are aligned to 64 bytes so that an IPv4 entry is exactly one
/// cache line (unaligned, most 64-byte slots would straddle two lines and a
/// lookup would pay two misses); an IPv6 entry (88 bytes of data) takes two.
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
pub struct Slot<A: ConnAddr> {
    conn: Connection<A>,
    prev: u32,
    next: u32,
}

impl<A: ConnAddr> Slot<A> {
    /// An empty slot, for initialising storage (`[Slot::EMPTY; N]`).
    pub const EMPTY: Slot<A> = Slot {
        conn: Connection {
            caddr: A::UNSPECIFIED,
            vaddr: A::UNSPECIFIED,
            daddr: A::UNSPECIFIED,
            cport: 0,
            vport: 0,
            dport: 0,
            protocol: 0,
            state: 0,
            flags: ConnFlags(0),
            service: 0,
            dest: 0,
            control: ConnHandle::NONE,
            n_control: 0,
            in_pkts: 0,
            timeout_ms: 0,
            expires: Instant::ZERO,
        },
        prev: FREE,
        next: FREE,
    };

    /// Whether the slot holds an entry.
    #[inline]
    pub fn is_occupied(&self) -> bool {
        self.prev & LINK_MASK != FREE
    }
}

/// Why [`ConnTable::insert`] refused an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InsertError {
    /// The table holds `capacity()` entries, or (practically never below the
    /// 3/4 load cap) no free slot lies within [`MAX_DISPLACEMENT`] of the
    /// entry's home. Under a SYN flood, [`ConnTable::evict_half_open`] and
    /// retry.
    Full,
    /// An entry with the same client-side key exists (same protocol, caddr,
    /// cport, vaddr, vport; for templates: protocol, caddr, vaddr, vport), or
    /// the entry is visible on the real-server side and an entry there has the
    /// same (protocol, caddr, cport, daddr, dport): the real server could not
    /// tell their packets apart.
    Duplicate,
}

impl core::fmt::Display for InsertError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            InsertError::Full => "connection table full",
            InsertError::Duplicate => "connection already exists",
        })
    }
}

/// Mutable access to the fields of an entry that do not affect where or how
/// the table keeps it. Key fields, flags, state and timers change only
/// through [`ConnTable`] methods.
#[derive(Debug)]
pub struct ConnMut<'a> {
    /// Service slot in the director.
    pub service: &'a mut u16,
    /// Real-server slot within the service.
    pub dest: &'a mut u16,
    /// The controlling template.
    pub control: &'a mut ConnHandle,
    /// Number of connections this template controls.
    pub n_control: &'a mut u32,
    /// Packets seen client -> real server.
    pub in_pkts: &'a mut u32,
}

/// The connection table. See the [`table` module docs](crate::conn::table) for the design.
///
/// `S` is the storage: `[Slot<A>; N]`, `&'static mut [Slot<A>]`, or (with
/// `alloc`) `Vec<Slot<A>>`. Nothing is allocated after construction.
pub struct ConnTable<A: ConnAddr, S> {
    slots: S,
    n: usize,
    len: usize,
    cap: usize,
    hasher: ConnHasher,
    /// Wheel clock (ms): every bucket before it has been processed.
    cur: u64,
    /// Sentinel list heads: `[prev, next]`.
    heads: [[u32; 2]; SENTINELS],
    /// Occupancy of the level buckets, per wheel and level.
    occ: [[u64; LEVELS]; 2],
    /// Lower bound of the expiries on each wheel's due list.
    due_min: [u64; 2],
    /// Lower bound of the expiries on each wheel's overflow list.
    far_min: [u64; 2],
    _addr: PhantomData<A>,
}

impl<A: ConnAddr, S> core::fmt::Debug for ConnTable<A, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ConnTable")
            .field("len", &self.len)
            .field("capacity", &self.cap)
            .field("slots", &self.n)
            .finish_non_exhaustive()
    }
}

#[inline]
fn out_visible(flags: ConnFlags) -> bool {
    flags.0 & (ConnFlags::NO_OUTPUT | ConnFlags::TEMPLATE | ConnFlags::MIXED_FAMILY) == 0
}

#[inline]
fn is_half_open<A: ConnAddr>(c: &Connection<A>) -> bool {
    c.protocol == 6
        && !c.flags.has(ConnFlags::TEMPLATE)
        && (c.state == TcpState::SynRecv as u8 || c.state == TcpState::SynAck as u8)
}

#[cfg(feature = "alloc")]
impl<A: ConnAddr> ConnTable<A, alloc::vec::Vec<Slot<A>>> {
    /// A table for at least `capacity` entries on the heap (capped at what
    /// [`MAX_SLOTS`] allows). `seed` keys the hash: take it from a random source.
    pub fn with_capacity(capacity: usize, seed: u64) -> Self {
        let slots = slots_for_capacity(capacity).min(MAX_SLOTS);
        ConnTable::new(alloc::vec![Slot::EMPTY; slots], seed)
    }
}

impl<A: ConnAddr, S: AsRef<[Slot<A>]> + AsMut<[Slot<A>]>> ConnTable<A, S> {
    /// A table over `storage` (every slot is reset to empty; at most
    /// [`MAX_SLOTS`] are used). `seed` keys the hash: take it from a random
    /// source.
    pub fn new(mut storage: S, seed: u64) -> Self {
        let n = storage.as_ref().len().min(MAX_SLOTS);
        for s in storage.as_mut()[..n].iter_mut() {
            *s = Slot::EMPTY;
        }
        let mut heads = [[0u32; 2]; SENTINELS];
        for (k, h) in heads.iter_mut().enumerate() {
            let id = (n + k) as u32;
            *h = [id, id];
        }
        ConnTable {
            slots: storage,
            n,
            len: 0,
            cap: capacity_for_slots(n),
            hasher: ConnHasher::new(seed),
            cur: 0,
            heads,
            occ: [[0; LEVELS]; 2],
            due_min: [u64::MAX; 2],
            far_min: [u64::MAX; 2],
            _addr: PhantomData,
        }
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no entries.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Maximum number of entries (3/4 of the slots, rounded up).
    #[inline]
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Number of storage slots in use.
    #[inline]
    pub fn slots(&self) -> usize {
        self.n
    }

    // ---- slot and link primitives ----

    #[inline(always)]
    fn sl(&self) -> &[Slot<A>] {
        self.slots.as_ref()
    }

    #[inline(always)]
    fn sl_mut(&mut self) -> &mut [Slot<A>] {
        self.slots.as_mut()
    }

    #[inline(always)]
    fn live_index(&self, h: ConnHandle) -> Option<usize> {
        let i = h.0 as usize;
        match self.sl().get(i) {
            Some(s) if i < self.n && s.is_occupied() => Some(i),
            _ => None,
        }
    }

    #[inline(always)]
    fn md(&self, pos: usize) -> usize {
        let s = &self.sl()[pos];
        ((s.prev >> LINK_BITS) | ((s.next >> LINK_BITS) << 4)) as usize
    }

    #[inline(always)]
    fn set_md(&mut self, pos: usize, v: usize) {
        let v = v.min(MAX_DISPLACEMENT) as u32;
        let s = &mut self.sl_mut()[pos];
        s.prev = (s.prev & LINK_MASK) | ((v & 15) << LINK_BITS);
        s.next = (s.next & LINK_MASK) | ((v >> 4) << LINK_BITS);
    }

    #[inline(always)]
    fn link_next(&self, id: u32) -> u32 {
        let i = id as usize;
        if i < self.n {
            self.sl()[i].next & LINK_MASK
        } else {
            self.heads[i - self.n][1]
        }
    }

    #[inline(always)]
    fn link_prev(&self, id: u32) -> u32 {
        let i = id as usize;
        if i < self.n {
            self.sl()[i].prev & LINK_MASK
        } else {
            self.heads[i - self.n][0]
        }
    }

    #[inline(always)]
    fn set_next(&mut self, id: u32, v: u32) {
        let i = id as usize;
        if i < self.n {
            let s = &mut self.sl_mut()[i];
            s.next = (s.next & !LINK_MASK) | v;
        } else {
            let n = self.n;
            self.heads[i - n][1] = v;
        }
    }

    #[inline(always)]
    fn set_prev(&mut self, id: u32, v: u32) {
        let i = id as usize;
        if i < self.n {
            let s = &mut self.sl_mut()[i];
            s.prev = (s.prev & !LINK_MASK) | v;
        } else {
            let n = self.n;
            self.heads[i - n][0] = v;
        }
    }

    #[inline(always)]
    fn sentinel(&self, wheel: usize, k: usize) -> u32 {
        (self.n + wheel * PER_WHEEL + k) as u32
    }

    #[inline(always)]
    fn home(&self, proto: u8, caddr: &A, cport: u16) -> usize {
        ConnHasher::reduce(self.hasher.hash(proto, caddr, cport), self.n)
    }

    #[inline(always)]
    fn home_of(&self, c: &Connection<A>) -> usize {
        let port = if c.flags.has(ConnFlags::TEMPLATE) {
            0
        } else {
            c.cport
        };
        self.home(c.protocol, &c.caddr, port)
    }

    /// Scan the probe window of `home` for a live entry matching `f`.
    #[inline(always)]
    fn scan(&self, home: usize, mut f: impl FnMut(&Connection<A>) -> bool) -> Option<usize> {
        let slots = self.sl();
        let n = self.n;
        let span = self.md(home);
        let mut pos = home;
        for _ in 0..=span {
            let s = &slots[pos];
            if s.is_occupied() && f(&s.conn) {
                return Some(pos);
            }
            pos += 1;
            if pos == n {
                pos = 0;
            }
        }
        None
    }

    // ---- lookups ----

    /// The non-template entry for a client-side packet: (protocol, client
    /// address and port, virtual address and port).
    #[inline]
    pub fn lookup_in(
        &self,
        proto: u8,
        caddr: A,
        cport: u16,
        vaddr: A,
        vport: u16,
    ) -> Option<ConnHandle> {
        if self.len == 0 {
            return None;
        }
        let home = self.home(proto, &caddr, cport);
        self.scan(home, |c| {
            c.cport == cport
                && c.vport == vport
                && c.caddr == caddr
                && c.vaddr == vaddr
                && c.protocol == proto
                && !c.flags.has(ConnFlags::TEMPLATE)
        })
        .map(|i| ConnHandle(i as u32))
    }

    /// The entry for a reply from a real server: (protocol, real server
    /// address and port = the packet's source, client address and port = its
    /// destination). Entries with `NO_OUTPUT`, `TEMPLATE` or `MIXED_FAMILY`
    /// are not found on this side.
    #[inline]
    pub fn lookup_out(
        &self,
        proto: u8,
        daddr: A,
        dport: u16,
        caddr: A,
        cport: u16,
    ) -> Option<ConnHandle> {
        if self.len == 0 {
            return None;
        }
        let home = self.home(proto, &caddr, cport);
        self.scan(home, |c| {
            c.cport == cport
                && c.dport == dport
                && c.caddr == caddr
                && c.daddr == daddr
                && c.protocol == proto
                && out_visible(c.flags)
        })
        .map(|i| ConnHandle(i as u32))
    }

    /// Hint that the entries of (protocol, client address, client port) will
    /// be looked up soon: starts loading their home slot into the cache
    /// without waiting for it. A director processing a batch of packets
    /// prefetches them all first, so that the cache misses of a large table
    /// overlap instead of following one another. Never changes the table.
    #[inline]
    pub fn prefetch(&self, proto: u8, caddr: &A, cport: u16) {
        if self.n == 0 {
            return;
        }
        let home = self.home(proto, caddr, cport);
        if let Some(slot) = self.sl().get(home) {
            prefetch_read(slot);
        }
    }

    /// The persistence template for (protocol, masked client address,
    /// virtual address, virtual port). For fwmark templates pass protocol 0
    /// and the mark as `vaddr`, as stored.
    #[inline]
    pub fn lookup_template(&self, proto: u8, caddr: A, vaddr: A, vport: u16) -> Option<ConnHandle> {
        if self.len == 0 {
            return None;
        }
        let home = self.home(proto, &caddr, 0);
        self.scan(home, |c| {
            c.flags.has(ConnFlags::TEMPLATE)
                && c.vport == vport
                && c.caddr == caddr
                && c.vaddr == vaddr
                && c.protocol == proto
        })
        .map(|i| ConnHandle(i as u32))
    }

    /// The entry behind a handle, if it is live.
    #[inline]
    pub fn get(&self, h: ConnHandle) -> Option<&Connection<A>> {
        self.live_index(h).map(|i| &self.sl()[i].conn)
    }

    /// Whether a handle refers to a live entry.
    #[inline]
    pub fn contains(&self, h: ConnHandle) -> bool {
        self.live_index(h).is_some()
    }

    /// Mutable access to the entry's bookkeeping fields (see [`ConnMut`]).
    #[inline]
    pub fn get_mut(&mut self, h: ConnHandle) -> Option<ConnMut<'_>> {
        let i = self.live_index(h)?;
        let c = &mut self.sl_mut()[i].conn;
        Some(ConnMut {
            service: &mut c.service,
            dest: &mut c.dest,
            control: &mut c.control,
            n_control: &mut c.n_control,
            in_pkts: &mut c.in_pkts,
        })
    }

    /// All live entries in slot order (for listings such as `ipvsadm -Lnc`).
    pub fn iter(&self) -> impl Iterator<Item = (ConnHandle, &Connection<A>)> + '_ {
        self.sl()[..self.n]
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_occupied())
            .map(|(i, s)| (ConnHandle(i as u32), &s.conn))
    }

    // ---- insert / remove ----

    /// Insert an entry; its timer is armed from `conn.expires` (and
    /// `conn.timeout_ms` is what [`refresh`](Self::refresh) re-arms with).
    pub fn insert(&mut self, conn: Connection<A>) -> Result<ConnHandle, InsertError> {
        if self.len >= self.cap {
            return Err(InsertError::Full);
        }
        let home = self.home_of(&conn);
        let tmpl = conn.flags.has(ConnFlags::TEMPLATE);
        let outv = out_visible(conn.flags);
        let is_dup = |c: &Connection<A>| {
            if c.protocol != conn.protocol || c.caddr != conn.caddr {
                return false;
            }
            let ct = c.flags.has(ConnFlags::TEMPLATE);
            if tmpl || ct {
                return tmpl && ct && c.vport == conn.vport && c.vaddr == conn.vaddr;
            }
            c.cport == conn.cport
                && ((c.vport == conn.vport && c.vaddr == conn.vaddr)
                    || (outv
                        && out_visible(c.flags)
                        && c.dport == conn.dport
                        && c.daddr == conn.daddr))
        };
        // One walk from the home slot: the probe window (where a duplicate
        // would be) is read in full, remembering its first free slot; past
        // the window the walk goes on to the first free slot. The entry
        // lands in the first free slot at or after home, as a separate
        // duplicate scan and free-slot search would put it.
        let n = self.n;
        let limit = MAX_DISPLACEMENT.min(n.saturating_sub(1));
        let span = self.md(home);
        let mut free = None;
        let mut pos = home;
        let mut d = 0;
        while d <= span {
            let s = &self.sl()[pos];
            if s.is_occupied() {
                if is_dup(&s.conn) {
                    return Err(InsertError::Duplicate);
                }
            } else if free.is_none() {
                free = Some((d, pos));
            }
            d += 1;
            pos += 1;
            if pos == n {
                pos = 0;
            }
        }
        while free.is_none() && d <= limit {
            if !self.sl()[pos].is_occupied() {
                free = Some((d, pos));
            }
            d += 1;
            pos += 1;
            if pos == n {
                pos = 0;
            }
        }
        let Some((d, pos)) = free else {
            return Err(InsertError::Full);
        };
        if d > span {
            self.set_md(home, d);
        }
        let wheel = is_half_open(&conn) as usize;
        let e = conn.expires.as_millis();
        self.sl_mut()[pos].conn = conn;
        self.arm(pos as u32, e, wheel);
        self.len += 1;
        Ok(ConnHandle(pos as u32))
    }

    /// Remove an entry and return it. The table does not interpret
    /// `control`/`n_control`: the caller updates a controlling template.
    pub fn remove(&mut self, h: ConnHandle) -> Option<Connection<A>> {
        let i = self.live_index(h)?;
        let conn = self.sl()[i].conn;
        self.unlink(i as u32);
        {
            let s = &mut self.sl_mut()[i];
            s.prev = (s.prev & !LINK_MASK) | FREE;
            s.next = (s.next & !LINK_MASK) | FREE;
        }
        self.len -= 1;
        // Shrink the home's displacement bound if this was its farthest entry.
        let home = self.home_of(&conn);
        let d = if i >= home {
            i - home
        } else {
            i + self.n - home
        };
        if d > 0 && d == self.md(home) {
            let mut new_md = 0;
            let mut pos = home;
            for j in 0..d {
                let s = &self.sl()[pos];
                if s.is_occupied() && self.home_of(&s.conn) == home {
                    new_md = j;
                }
                pos += 1;
                if pos == self.n {
                    pos = 0;
                }
            }
            self.set_md(home, new_md);
        }
        Some(conn)
    }

    /// Remove and return one half-open TCP entry (SYN_RECV or SYNACK, never a
    /// template), preferring the one that expires soonest, i.e. the least
    /// recently refreshed: IPVS's drop_entry policy for a full table, in
    /// O(1). `None` if there is none.
    pub fn evict_half_open(&mut self) -> Option<(ConnHandle, Connection<A>)> {
        let w = 1;
        let due = self.sentinel(w, DUE);
        let mut id = self.link_next(due);
        if id == due {
            id = FREE;
            for l in 0..LEVELS {
                let o = self.occ[w][l];
                if o != 0 {
                    let s = self.sentinel(w, l * 64 + o.trailing_zeros() as usize);
                    id = self.link_next(s);
                    break;
                }
            }
            if id == FREE {
                let far = self.sentinel(w, FAR);
                id = self.link_next(far);
                if id == far {
                    return None;
                }
            }
        }
        let h = ConnHandle(id);
        self.remove(h).map(|c| (h, c))
    }

    // ---- updates ----

    /// Re-arm the timer: `timeout_ms` becomes the entry's timeout and it
    /// expires at `now + timeout_ms`. O(1). `false` if `h` is not live.
    #[inline]
    pub fn set_timeout(&mut self, h: ConnHandle, now: Instant, timeout_ms: u32) -> bool {
        let Some(i) = self.live_index(h) else {
            return false;
        };
        self.sl_mut()[i].conn.timeout_ms = timeout_ms;
        let e = now.as_millis().saturating_add(u64::from(timeout_ms));
        self.rearm(i, e);
        true
    }

    /// Re-arm the timer with the entry's current timeout (what IPVS does on
    /// every packet). O(1). `false` if `h` is not live.
    #[inline]
    pub fn refresh(&mut self, h: ConnHandle, now: Instant) -> bool {
        let Some(i) = self.live_index(h) else {
            return false;
        };
        let t = self.sl()[i].conn.timeout_ms;
        let e = now.as_millis().saturating_add(u64::from(t));
        self.rearm(i, e);
        true
    }

    /// Set the protocol state (a [`TcpState`] as `u8` for TCP). The timeout
    /// is not changed: follow with [`set_timeout`](Self::set_timeout).
    /// `false` if `h` is not live.
    pub fn set_state(&mut self, h: ConnHandle, state: u8) -> bool {
        let Some(i) = self.live_index(h) else {
            return false;
        };
        let was = is_half_open(&self.sl()[i].conn);
        self.sl_mut()[i].conn.state = state;
        let c = &self.sl()[i].conn;
        let now_ho = is_half_open(c);
        if was != now_ho {
            let e = c.expires.as_millis();
            self.unlink(i as u32);
            self.arm(i as u32, e, now_ho as usize);
        }
        true
    }

    /// Replace the flags, except [`ConnFlags::TEMPLATE`], which is part of
    /// the key and keeps its stored value. Clearing `NO_OUTPUT` makes the
    /// entry visible to [`lookup_out`](Self::lookup_out) (if two entries then
    /// share a real-server-side key, the first in probe order is found).
    /// `false` if `h` is not live.
    pub fn set_flags(&mut self, h: ConnHandle, flags: ConnFlags) -> bool {
        let Some(i) = self.live_index(h) else {
            return false;
        };
        let c = &mut self.sl_mut()[i].conn;
        let t = c.flags.0 & ConnFlags::TEMPLATE;
        c.flags = ConnFlags((flags.0 & !ConnFlags::TEMPLATE) | t);
        true
    }

    /// What the packet path does for every packet of a connection:
    /// [`set_flags`](Self::set_flags), [`set_state`](Self::set_state) and
    /// [`set_timeout`](Self::set_timeout), in that order and with the same
    /// result, but with the handle validated once instead of three times.
    /// `false` (and nothing changed) if `h` is not live.
    #[inline]
    pub fn set_flags_state_timeout(
        &mut self,
        h: ConnHandle,
        flags: ConnFlags,
        state: u8,
        now: Instant,
        timeout_ms: u32,
    ) -> bool {
        self.update_on_packet(h, flags, state, now, timeout_ms, false)
    }

    /// What the packet path does for every packet of a connection:
    /// [`set_flags_state_timeout`](Self::set_flags_state_timeout) with the
    /// same result, and, when `count_in`, one more packet in `in_pkts`
    /// (saturating), with the handle validated once. The wheel is worked out
    /// once, and the timer is left alone when the expiry does not change.
    /// `false` (and nothing changed) if `h` is not live.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn update_on_packet(
        &mut self,
        h: ConnHandle,
        flags: ConnFlags,
        state: u8,
        now: Instant,
        timeout_ms: u32,
        count_in: bool,
    ) -> bool {
        let Some(i) = self.live_index(h) else {
            return false;
        };
        let c = &mut self.sl_mut()[i].conn;
        let t = c.flags.0 & ConnFlags::TEMPLATE;
        c.flags = ConnFlags((flags.0 & !ConnFlags::TEMPLATE) | t);
        if count_in {
            c.in_pkts = c.in_pkts.saturating_add(1);
        }
        c.timeout_ms = timeout_ms;
        let e = now.as_millis().saturating_add(u64::from(timeout_ms));
        if c.state == state {
            // No transition: same wheel, and nothing at all to do when the
            // expiry is the same (see `rearm_in`).
            let w = is_half_open(c) as usize;
            self.rearm_in(i, e, w);
            return true;
        }
        let was = is_half_open(c);
        c.state = state;
        let now_ho = is_half_open(c);
        if was != now_ho {
            let old_e = c.expires.as_millis();
            self.unlink(i as u32);
            self.arm(i as u32, old_e, now_ho as usize);
        }
        self.rearm_in(i, e, now_ho as usize);
        true
    }

    /// Invalidate a template as IPVS does when its real server fails the
    /// check: its ports become 0xffff so no lookup finds it, while it stays
    /// in the table (and keeps its handle) until the connections it controls
    /// are gone. `false` if `h` is not a live template.
    pub fn invalidate_template(&mut self, h: ConnHandle) -> bool {
        let Some(i) = self.live_index(h) else {
            return false;
        };
        let c = &mut self.sl_mut()[i].conn;
        if !c.flags.has(ConnFlags::TEMPLATE) {
            return false;
        }
        c.cport = 0xffff;
        c.vport = 0xffff;
        c.dport = 0xffff;
        true
    }

    // ---- expiry ----

    /// One entry whose `expires <= now`, or `None`. The entry stays in the
    /// table: remove it, or re-arm it (e.g. a template still controlling
    /// connections gets [`TEMPLATE_REARM_MS`](super::TEMPLATE_REARM_MS)); an
    /// entry left as it is is returned again by the next call. Amortised
    /// O(1) per entry. `now` should not go backwards; if it does, the latest
    /// time seen is used instead.
    pub fn pop_expired(&mut self, now: Instant) -> Option<ConnHandle> {
        if self.n == 0 {
            return None;
        }
        let now = now.as_millis().max(self.cur);
        loop {
            for w in 0..2 {
                let due = self.sentinel(w, DUE);
                let id = self.link_next(due);
                if id != due {
                    return Some(ConnHandle(id));
                }
            }
            match self.next_expiration() {
                Some((deadline, w, k)) if deadline <= now => self.process(deadline, w, k),
                _ => {
                    self.cur = now;
                    return None;
                }
            }
        }
    }

    /// When to call [`pop_expired`](Self::pop_expired) next: never later than
    /// the earliest expiry in the table, possibly earlier (by less than the
    /// width of the bucket holding it, see the module docs); a time in the
    /// past means "now". `None` when the table is empty.
    pub fn next_timeout(&self) -> Option<Instant> {
        let mut best = u64::MAX;
        let mut any = false;
        for w in 0..2 {
            let due = self.sentinel(w, DUE);
            if self.link_next(due) != due {
                any = true;
                best = best.min(self.due_min[w]);
            }
        }
        if !any {
            let (d, _, _) = self.next_expiration()?;
            best = d;
        }
        Some(Instant::from_millis(best))
    }

    /// The earliest occupied bucket over both wheels: (start time, wheel, bucket).
    fn next_expiration(&self) -> Option<(u64, usize, usize)> {
        let mut best: Option<(u64, usize, usize)> = None;
        for w in 0..2 {
            for l in 0..LEVELS {
                let o = self.occ[w][l];
                if o != 0 {
                    let s = o.trailing_zeros() as u64;
                    let shift = LEVEL_BITS * l as u32;
                    let above = LEVEL_BITS * (l as u32 + 1);
                    let d = (self.cur & !((1u64 << above) - 1)) | (s << shift);
                    if best.is_none_or(|b| d < b.0) {
                        best = Some((d, w, l * 64 + s as usize));
                    }
                    break;
                }
            }
            let far = self.sentinel(w, FAR);
            if self.link_next(far) != far {
                let d = self.far_min[w] & !((1u64 << HORIZON_BITS) - 1);
                if best.is_none_or(|b| d < b.0) {
                    best = Some((d, w, FAR));
                }
            }
        }
        best
    }

    /// Advance the clock to a bucket's start and re-file its entries (level
    /// 0 and exact ones land on the due list, others cascade down).
    fn process(&mut self, deadline: u64, w: usize, k: usize) {
        self.cur = self.cur.max(deadline);
        let sent = self.sentinel(w, k);
        let first = self.link_next(sent);
        let last = self.link_prev(sent);
        self.set_next(sent, sent);
        self.set_prev(sent, sent);
        self.list_emptied(w, k);
        if first == sent {
            return;
        }
        let mut id = first;
        loop {
            let nx = self.link_next(id);
            let e = self.sl()[id as usize].conn.expires.as_millis();
            self.arm(id, e, w);
            if id == last {
                break;
            }
            id = nx;
        }
    }

    /// The bucket an expiry belongs in, relative to the wheel clock.
    #[inline(always)]
    fn bucket(&self, e: u64) -> usize {
        if e <= self.cur {
            DUE
        } else {
            let bit = 63 - (e ^ self.cur).leading_zeros();
            let level = (bit / LEVEL_BITS) as usize;
            if level >= LEVELS {
                FAR
            } else {
                level * 64 + ((e >> (LEVEL_BITS * level as u32)) & 63) as usize
            }
        }
    }

    /// Link an unlinked node into the bucket for expiry `e` on wheel `w`.
    #[inline]
    fn arm(&mut self, id: u32, e: u64, w: usize) {
        let k = self.bucket(e);
        match k {
            DUE => self.due_min[w] = self.due_min[w].min(e),
            FAR => self.far_min[w] = self.far_min[w].min(e),
            _ => self.occ[w][k / 64] |= 1u64 << (k % 64),
        }
        let sent = self.sentinel(w, k);
        let tail = self.link_prev(sent);
        self.set_next(tail, id);
        self.set_prev(id, tail);
        self.set_next(id, sent);
        self.set_prev(sent, id);
    }

    /// Move a live entry's timer to expiry `e` (same wheel).
    #[inline]
    fn rearm(&mut self, i: usize, e: u64) {
        let w = is_half_open(&self.sl()[i].conn) as usize;
        self.rearm_in(i, e, w);
    }

    /// [`rearm`](Self::rearm) for an entry on wheel `w`.
    ///
    /// When `e` equals the entry's expiry nothing changes: it stays on its
    /// list, and the bound of a due or overflow list it may be on already
    /// covers `e` (every arm and rearm folds the expiry into the bound of the
    /// list it lands on, and a bound is only reset when its list empties).
    #[inline]
    fn rearm_in(&mut self, i: usize, e: u64, w: usize) {
        let old_e = self.sl()[i].conn.expires.as_millis();
        if old_e == e {
            return;
        }
        let new = self.bucket(e);
        let old = self.bucket(old_e);
        self.sl_mut()[i].conn.expires = Instant::from_millis(e);
        if old == new {
            // Same list: order within a bucket does not matter for
            // correctness, only the bounds of the special lists do.
            match new {
                DUE => self.due_min[w] = self.due_min[w].min(e),
                FAR => self.far_min[w] = self.far_min[w].min(e),
                _ => {}
            }
        } else {
            self.unlink(i as u32);
            self.arm(i as u32, e, w);
        }
    }

    #[inline]
    fn unlink(&mut self, id: u32) {
        let p = self.link_prev(id);
        let nx = self.link_next(id);
        self.set_next(p, nx);
        self.set_prev(nx, p);
        if p == nx && p as usize >= self.n {
            let k = p as usize - self.n;
            self.list_emptied(k / PER_WHEEL, k % PER_WHEEL);
        }
    }

    #[inline]
    fn list_emptied(&mut self, w: usize, k: usize) {
        match k {
            DUE => self.due_min[w] = u64::MAX,
            FAR => self.far_min[w] = u64::MAX,
            _ => self.occ[w][k / 64] &= !(1u64 << (k % 64)),
        }
    }
}

/// Issue a cache prefetch for `r` (a hint: no effect on program state).
#[inline(always)]
#[allow(unsafe_code)]
fn prefetch_read<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint that never faults, whatever the address,
    // and SSE is part of the x86_64 baseline; the pointer comes from a live
    // reference anyway.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            (r as *const T).cast(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    fn conn(c: u8, cport: u16, state: TcpState, expires: u64) -> Connection<Ipv4Addr> {
        let mut x = Slot::<Ipv4Addr>::EMPTY.conn;
        x.caddr = Ipv4Addr::new(10, 0, 0, c);
        x.vaddr = Ipv4Addr::new(192, 0, 2, 1);
        x.daddr = Ipv4Addr::new(172, 16, 0, 1);
        x.cport = cport;
        x.vport = 80;
        x.dport = 8080;
        x.protocol = 6;
        x.state = state as u8;
        x.timeout_ms = 1000;
        x.expires = Instant::from_millis(expires);
        x
    }

    #[test]
    fn slot_sizes() {
        assert_eq!(core::mem::size_of::<Slot<Ipv4Addr>>(), 64);
        assert_eq!(core::mem::size_of::<Slot<Ipv6Addr>>(), 128);
        assert_eq!(core::mem::align_of::<Slot<Ipv4Addr>>(), 64);
        assert!(MAX_SLOTS < FREE as usize);
    }

    #[test]
    fn capacity_math() {
        for cap in [0usize, 1, 2, 3, 4, 5, 6, 7, 100, 1_000_000] {
            let s = slots_for_capacity(cap);
            assert!(capacity_for_slots(s) >= cap, "{cap}");
            assert!(s <= cap + cap / 3, "{cap}");
        }
    }

    #[test]
    fn zero_slots_never_panics() {
        let mut t: ConnTable<Ipv4Addr, [Slot<Ipv4Addr>; 0]> = ConnTable::new([], 1);
        assert_eq!(
            t.insert(conn(1, 1, TcpState::Established, 5)),
            Err(InsertError::Full)
        );
        assert_eq!(
            t.lookup_in(6, Ipv4Addr::LOCALHOST, 1, Ipv4Addr::LOCALHOST, 1),
            None
        );
        assert_eq!(t.pop_expired(Instant::from_secs(9)), None);
        assert_eq!(t.next_timeout(), None);
        assert_eq!(t.evict_half_open(), None);
        assert_eq!(t.remove(ConnHandle(0)), None);
        assert_eq!(t.remove(ConnHandle::NONE), None);
    }

    #[test]
    fn wheel_cascades_exactly() {
        let mut t: ConnTable<Ipv4Addr, [Slot<Ipv4Addr>; 64]> = ConnTable::new([Slot::EMPTY; 64], 7);
        let times = [1u64, 63, 64, 65, 4095, 4096, 900_000, 1 << 40, u64::MAX];
        for (i, e) in times.iter().enumerate() {
            t.insert(conn(i as u8, 1, TcpState::Established, *e))
                .unwrap();
        }
        for e in times {
            let nt = t.next_timeout().unwrap().as_millis();
            assert!(nt <= e);
            if e > 0 {
                assert_eq!(t.pop_expired(Instant::from_millis(e - 1)), None, "{e}");
            }
            let h = t.pop_expired(Instant::from_millis(e)).unwrap();
            assert_eq!(t.get(h).unwrap().expires.as_millis(), e);
            t.remove(h).unwrap();
        }
        assert!(t.is_empty());
        assert_eq!(t.next_timeout(), None);
    }

    #[test]
    fn half_open_moves_between_wheels() {
        let mut t: ConnTable<Ipv4Addr, [Slot<Ipv4Addr>; 16]> = ConnTable::new([Slot::EMPTY; 16], 3);
        let a = t.insert(conn(1, 1, TcpState::SynRecv, 100)).unwrap();
        let b = t.insert(conn(2, 1, TcpState::Established, 50)).unwrap();
        assert!(t.set_state(a, TcpState::Established as u8));
        assert_eq!(t.evict_half_open(), None);
        assert!(t.set_state(b, TcpState::SynAck as u8));
        let (h, c) = t.evict_half_open().unwrap();
        assert_eq!(h, b);
        assert_eq!(c.state, TcpState::SynAck as u8);
        assert_eq!(t.pop_expired(Instant::from_millis(100)), Some(a));
    }
}
