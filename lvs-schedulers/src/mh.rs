//! Maglev hashing (`mh`).
//!
//! Like sh, mh maps a client (address, optionally port) to a real server
//! through a lookup table, but the table is built with Google's Maglev
//! algorithm, which is what makes it *consistent*: when one of N servers
//! leaves, only about 1/N of the keys move (those it owned), while sh's
//! modulo-style fill reshuffles most buckets. Its keys are fixed constants,
//! so every director with the same list builds the same table, which lets
//! a cluster of directors agree without sharing state.
//!
//! **Table.** A prime size M from IPVS's list [`TABLE_SIZES`] (default
//! [`DEFAULT_TABLE_SIZE`] = 4093). Each server at list position j has a
//! permutation of the slots: `offset = hsiphash(addr+port, key1) % M` and
//! `skip = hsiphash(addr+port, key2) % (M − 1) + 1` (M prime, so every skip
//! visits every slot). Servers take turns in list order; in its turn a
//! server claims `turns` slots, each the next free slot of its permutation,
//! until the table is full. `turns = (last_weight / gcd) >> rshift` (at least
//! 1 for a non-zero `last_weight`), with `rshift` chosen so that the largest
//! `last_weight / gcd` fits in the table's `IP_VS_MH_TAB_BITS` bits.
//! `last_weight` is the last non-zero weight: a server set to weight 0 keeps
//! its slots (its keys get "no server", or a fallback), so re-enabling it
//! restores exactly its old keys.
//!
//! **Lookup.** `hsiphash(client addr (+ source port with flag-2, mh-port),
//! key1) % M`. A server with weight 0 or overloaded gives "no server",
//! unless flag-1 (`mh-fallback`) is set: then IPVS re-hashes with offsets
//! `(ihash + k) % M` for k = 0, 1, ... and takes the first schedulable
//! server. A pick is one hash and one table read (O(1)); with fallback each
//! probe is one more hash.
//!
//! **Storage.** Tables up to 4093 slots, together with the per-server
//! permutation state used while building, live inline (about 24 KiB), so the
//! default works without an allocator. Larger tables need `alloc`.
//!
//! **Limits.** A table of M slots cannot hold more than M servers (IPVS:
//! EINVAL). In that case this scheduler empties its table and returns no
//! server until the list is small enough again ([`Mh::is_overfull`]); IPVS
//! keeps its previous table, which here could point at a reused slot.
//!
//! Reacts to every [`DestChange`] by rebuilding the table in `update`.

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use lvs_core::{DestChange, DestId, DestView, Flow, SchedFlags, Scheduler};

use crate::hash::{MH_KEY1, MH_KEY2, mh_hashkey};
use crate::table::{Buf, EMPTY, slot_id};
use crate::wrr::gcd;

/// The table sizes IPVS allows (`CONFIG_IP_VS_MH_TAB_INDEX` 8..=17).
pub const TABLE_SIZES: [usize; 10] = [
    251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131_071,
];

/// IPVS's default table size (`CONFIG_IP_VS_MH_TAB_INDEX = 12`).
pub const DEFAULT_TABLE_SIZE: usize = 4093;

const INLINE: usize = DEFAULT_TABLE_SIZE;

/// An mh table size that is not in [`TABLE_SIZES`], or too large without `alloc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTableSize(pub usize);

impl core::fmt::Display for InvalidTableSize {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "mh table size {} is not one of {TABLE_SIZES:?} (above {INLINE} needs alloc)",
            self.0
        )
    }
}

/// Index type of the per-server build state: `u16` inline (M <= 4093),
/// `u32` on the heap (M up to 131071).
trait Slot: Copy {
    fn get(self) -> usize;
    fn put(v: usize) -> Self;
}

impl Slot for u16 {
    #[inline]
    fn get(self) -> usize {
        usize::from(self)
    }
    #[inline]
    fn put(v: usize) -> Self {
        // Values are table positions < M <= 4093.
        v as u16
    }
}

impl Slot for u32 {
    #[inline]
    fn get(self) -> usize {
        self as usize
    }
    #[inline]
    fn put(v: usize) -> Self {
        // Values are table positions < M <= 131071.
        v as u32
    }
}

/// Per-server permutation state (next slot, skip), by list position.
/// Inline is large by design: it is what lets the default work without alloc.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Scratch {
    Inline {
        perm: [u16; INLINE],
        skip: [u16; INLINE],
    },
    #[cfg(feature = "alloc")]
    Heap { perm: Vec<u32>, skip: Vec<u32> },
}

/// The Maglev-hashing scheduler.
#[derive(Clone)]
pub struct Mh {
    flags: SchedFlags,
    size: usize,
    /// `IP_VS_MH_TAB_BITS` for this size: `CONFIG_IP_VS_MH_TAB_INDEX / 2`.
    bits: u32,
    table: Buf<u16, INLINE>,
    scratch: Scratch,
    overfull: bool,
}

impl core::fmt::Debug for Mh {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Mh")
            .field("flags", &self.flags)
            .field("size", &self.size)
            .field("table", &self.table)
            .field("overfull", &self.overfull)
            .finish()
    }
}

impl Default for Mh {
    fn default() -> Self {
        Mh::new(SchedFlags::default())
    }
}

impl Mh {
    /// An mh scheduler with the default 4093-slot table. `flags`: flag-1 is
    /// `mh-fallback`, flag-2 is `mh-port`.
    pub fn new(flags: SchedFlags) -> Self {
        Mh {
            flags,
            size: DEFAULT_TABLE_SIZE,
            bits: 6,
            table: Buf::Inline {
                data: [EMPTY; INLINE],
                len: INLINE,
            },
            scratch: Scratch::Inline {
                perm: [0; INLINE],
                skip: [0; INLINE],
            },
            overfull: false,
        }
    }

    /// An mh scheduler with a table of `size` slots, one of [`TABLE_SIZES`].
    /// Sizes above 4093 need the `alloc` feature.
    pub fn with_table_size(size: usize, flags: SchedFlags) -> Result<Self, InvalidTableSize> {
        let index = TABLE_SIZES
            .iter()
            .position(|&s| s == size)
            .ok_or(InvalidTableSize(size))?;
        let table = Buf::new(size, EMPTY).ok_or(InvalidTableSize(size))?;
        let scratch = if size <= INLINE {
            Scratch::Inline {
                perm: [0; INLINE],
                skip: [0; INLINE],
            }
        } else {
            #[cfg(feature = "alloc")]
            {
                Scratch::Heap {
                    perm: alloc::vec![0; size],
                    skip: alloc::vec![0; size],
                }
            }
            #[cfg(not(feature = "alloc"))]
            return Err(InvalidTableSize(size));
        };
        Ok(Mh {
            flags,
            size,
            // CONFIG_IP_VS_MH_TAB_INDEX is index + 8; the bits are half of it.
            bits: (index as u32 + 8) / 2,
            table,
            scratch,
            overfull: false,
        })
    }

    /// The scheduler flags.
    pub fn flags(&self) -> SchedFlags {
        self.flags
    }

    /// The table size M.
    pub fn table_len(&self) -> usize {
        self.size
    }

    /// True when the list had more servers than table slots at the last
    /// update, so the table is empty.
    pub fn is_overfull(&self) -> bool {
        self.overfull
    }

    /// The server a slot points at.
    pub fn bucket(&self, index: usize) -> Option<DestId> {
        slot_id(self.table.as_slice().get(index))
    }

    fn port_of(&self, flow: &Flow) -> u16 {
        if self.flags.port() {
            flow.client.port()
        } else {
            0
        }
    }

    /// The slot a flow hashes to (before any fallback).
    pub fn bucket_of(&self, flow: &Flow) -> usize {
        let h = mh_hashkey(&flow.client.ip(), self.port_of(flow), MH_KEY1, 0);
        h as usize % self.size.max(1)
    }

    fn rebuild(&mut self, dests: DestView<'_>) {
        let table = self.table.as_mut_slice();
        table.fill(EMPTY);
        self.overfull = dests.len() > self.size;
        if self.overfull {
            return;
        }
        match &mut self.scratch {
            Scratch::Inline { perm, skip } => {
                populate(table, perm, skip, dests, self.bits);
            }
            #[cfg(feature = "alloc")]
            Scratch::Heap { perm, skip } => {
                populate(table, perm, skip, dests, self.bits);
            }
        }
    }
}

/// Fill `table` (already all [`EMPTY`]) from `dests` the way
/// `ip_vs_mh_permutate` + `ip_vs_mh_populate` do.
fn populate<S: Slot>(
    table: &mut [u16],
    perm: &mut [S],
    skip: &mut [S],
    dests: DestView<'_>,
    bits: u32,
) {
    let m = table.len();
    if m < 2 {
        return;
    }
    // gcd and maximum of the last non-zero weights.
    let mut g = 0u32;
    let mut max = 0u32;
    for (_, r) in dests.iter() {
        if r.last_weight > 0 {
            g = gcd(r.last_weight, g);
        }
        max = max.max(r.last_weight);
    }
    if g == 0 {
        return;
    }
    let fls = u32::BITS - (max / g).leading_zeros();
    let rshift = fls.saturating_sub(bits);
    let turns_of = |pos: usize| -> u32 {
        match dests.at(pos) {
            Some((id, r)) if id.0 != EMPTY => {
                let t = (r.last_weight / g) >> rshift;
                if t == 0 && r.last_weight != 0 { 1 } else { t }
            }
            _ => 0,
        }
    };

    let n = dests.len();
    let mut any = false;
    for (pos, (p, s)) in perm.iter_mut().zip(skip.iter_mut()).take(n).enumerate() {
        if let Some((_, r)) = dests.at(pos) {
            let ip = r.config.addr.ip();
            let port = r.config.addr.port();
            let offset = mh_hashkey(&ip, port, MH_KEY1, 0) as usize % m;
            *p = S::put(offset);
            *s = S::put(mh_hashkey(&ip, port, MH_KEY2, 0) as usize % (m - 1) + 1);
            any |= turns_of(pos) > 0;
        }
    }
    if !any {
        return;
    }

    let mut filled = 0usize;
    while filled < m {
        for pos in 0..n {
            let turns = turns_of(pos);
            let (Some((id, _)), Some(p), Some(s)) =
                (dests.at(pos), perm.get_mut(pos), skip.get(pos))
            else {
                continue;
            };
            let step = s.get();
            for _ in 0..turns {
                // Next free slot of this server's permutation. A prime M and
                // 1 <= skip < M visit every slot, so at most M probes.
                let mut c = p.get();
                let mut probes = 0usize;
                while table.get(c).is_some_and(|&v| v != EMPTY) && probes < m {
                    c += step;
                    if c >= m {
                        c -= m;
                    }
                    probes += 1;
                }
                *p = S::put(c);
                match table.get_mut(c) {
                    Some(slot) if *slot == EMPTY => *slot = id.0,
                    // Unreachable with a consistent state; never loop forever.
                    _ => return,
                }
                filled += 1;
                if filled == m {
                    return;
                }
            }
        }
    }
}

impl Scheduler for Mh {
    fn name(&self) -> &'static str {
        "mh"
    }

    fn pick(&mut self, dests: DestView<'_>, flow: &Flow) -> Option<DestId> {
        let table = self.table.as_slice();
        let m = table.len();
        let ip = flow.client.ip();
        let port = self.port_of(flow);
        let ihash = mh_hashkey(&ip, port, MH_KEY1, 0) as usize % m.max(1);
        let first = slot_id(table.get(ihash))?;
        if dests.get(first).is_some_and(|r| r.schedulable()) {
            return Some(first);
        }
        if !self.flags.fallback() {
            return None;
        }
        for offset in 0..m {
            let roffset = (offset + ihash) % m;
            let hash = mh_hashkey(&ip, port, MH_KEY1, roffset as u32) as usize % m;
            let id = slot_id(table.get(hash))?;
            if dests.get(id).is_some_and(|r| r.schedulable()) {
                return Some(id);
            }
        }
        None
    }

    fn update(&mut self, dests: DestView<'_>, _change: DestChange) {
        self.rebuild(dests);
    }
}
