//! Source hashing (`sh`).
//!
//! The same client address (and, with `sh-port`, the same client port)
//! always lands on the same real server while the list is unchanged, without
//! any per-client state: the key is hashed into a table of 2^bits buckets
//! (256 by default, IPVS's `CONFIG_IP_VS_SH_TAB_BITS = 8`) that maps buckets
//! to servers. The table is filled by cycling through the list (newest
//! first) and giving each server `weight` consecutive buckets per lap
//! (weight 0 and 1 both get one), so heavier servers own proportionally more
//! buckets. A pick is one hash and one table read: O(1).
//!
//! The bucket is `hash_32(port + fold(client address), bits)`, where `port`
//! is 0 unless flag-2 (`sh-port`) is set. If the bucket's server is
//! unavailable (weight 0 or overloaded) the result is "no server", unless
//! flag-1 (`sh-fallback`) is set: then, as IPVS does, buckets
//! `(offset + 2·bucket) mod size` are probed for offset 0, 1, ... and the
//! first schedulable server wins.
//!
//! Reacts to every [`DestChange`] by rebuilding the table (weights decide
//! the fill, so an edit matters too). The rebuild happens in `update`, never
//! in `pick`.

use lvs_core::{DestChange, DestId, DestView, Flow, SchedFlags, Scheduler};

use crate::hash::sh_hashkey;
use crate::table::{Buf, EMPTY, slot_id};

/// Default table bits (256 buckets), IPVS's default.
pub const DEFAULT_BITS: u32 = 8;
/// Smallest table bits IPVS's Kconfig allows.
pub const MIN_BITS: u32 = 4;
/// Largest table bits IPVS's Kconfig allows (tables above 256 buckets need `alloc`).
pub const MAX_BITS: u32 = 20;

const INLINE: usize = 1 << DEFAULT_BITS;

/// An sh table size that cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTableBits(pub u32);

impl core::fmt::Display for InvalidTableBits {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "sh table bits {} not in {MIN_BITS}..={MAX_BITS} (above {DEFAULT_BITS} needs alloc)",
            self.0
        )
    }
}

/// The source-hashing scheduler.
#[derive(Debug, Clone)]
pub struct Sh {
    flags: SchedFlags,
    bits: u32,
    table: Buf<u16, INLINE>,
}

impl Default for Sh {
    fn default() -> Self {
        Sh::new(SchedFlags::default())
    }
}

impl Sh {
    /// An sh scheduler with the default 256-bucket table. `flags`: flag-1
    /// is `sh-fallback`, flag-2 is `sh-port`.
    pub fn new(flags: SchedFlags) -> Self {
        Sh {
            flags,
            bits: DEFAULT_BITS,
            table: Buf::Inline {
                data: [EMPTY; INLINE],
                len: INLINE,
            },
        }
    }

    /// An sh scheduler with 2^`bits` buckets (IPVS allows 4..=20; above 8
    /// needs the `alloc` feature).
    pub fn with_bits(bits: u32, flags: SchedFlags) -> Result<Self, InvalidTableBits> {
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err(InvalidTableBits(bits));
        }
        let table = Buf::new(1usize << bits, EMPTY).ok_or(InvalidTableBits(bits))?;
        Ok(Sh { flags, bits, table })
    }

    /// The scheduler flags.
    pub fn flags(&self) -> SchedFlags {
        self.flags
    }

    /// Number of buckets.
    pub fn table_len(&self) -> usize {
        self.table.as_slice().len()
    }

    /// The server a bucket points at (`None` for an empty table).
    pub fn bucket(&self, index: usize) -> Option<DestId> {
        slot_id(self.table.as_slice().get(index))
    }

    /// The bucket a flow hashes to (before any fallback).
    pub fn bucket_of(&self, flow: &Flow) -> usize {
        let port = if self.flags.port() {
            flow.client.port()
        } else {
            0
        };
        sh_hashkey(&flow.client.ip(), port, self.bits) as usize
    }

    fn rebuild(&mut self, dests: DestView<'_>) {
        let order = dests.order();
        let table = self.table.as_mut_slice();
        if order.is_empty() {
            table.fill(EMPTY);
            return;
        }
        let mut p = 0usize;
        let mut count = 0u32;
        for bucket in table.iter_mut() {
            let Some(&id) = order.get(p) else {
                // p is kept below order.len(); never reached.
                *bucket = EMPTY;
                continue;
            };
            *bucket = id.0;
            let weight = dests.get(id).map_or(0, |r| r.weight());
            count += 1;
            if count >= weight {
                count = 0;
                p += 1;
                if p >= order.len() {
                    p = 0;
                }
            }
        }
    }
}

impl Scheduler for Sh {
    fn name(&self) -> &'static str {
        "sh"
    }

    fn pick(&mut self, dests: DestView<'_>, flow: &Flow) -> Option<DestId> {
        let table = self.table.as_slice();
        let size = table.len();
        let ihash = self.bucket_of(flow);
        let first = slot_id(table.get(ihash))?;
        if dests.get(first).is_some_and(|r| r.schedulable()) {
            return Some(first);
        }
        if !self.flags.fallback() {
            return None;
        }
        let mask = size.wrapping_sub(1);
        for offset in 0..size {
            // IPVS re-hashes with roffset = (offset + ihash) % size, and the
            // hash adds the original bucket again.
            let roffset = (offset + ihash) % size;
            let hash = (roffset + ihash) & mask;
            if let Some(id) = slot_id(table.get(hash))
                && dests.get(id).is_some_and(|r| r.schedulable())
            {
                return Some(id);
            }
        }
        None
    }

    fn update(&mut self, dests: DestView<'_>, _change: DestChange) {
        self.rebuild(dests);
    }
}
