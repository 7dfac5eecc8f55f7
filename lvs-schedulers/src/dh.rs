//! Destination hashing (`dh`).
//!
//! Meant for caches and firewalls in front of many destinations: the
//! *destination* address of the packet (the flow's virtual address, which
//! for a fwmark service is the original target) decides the real server, so
//! each destination is always served by the same real server. The key is
//! hashed with `hash_32(fold(addr), 8)` into 256 buckets that are filled by
//! cycling through the list (newest first), one bucket per server,
//! **ignoring weights**. A pick is one hash and one table read: O(1).
//!
//! If the bucket's server is unavailable, weight 0 or overloaded, the result
//! is "no server"; dh has no fallback and no flags.
//!
//! Reacts to [`DestChange::Added`], [`DestChange::Removed`] and
//! [`DestChange::Reset`] by rebuilding the table. [`DestChange::Edited`] is
//! ignored, as in IPVS (which has no update hook for dh): weights do not
//! affect the table, and availability is checked at pick time.

use lvs_core::{DestChange, DestId, DestView, Flow, Scheduler};

use crate::hash::hash_32;
use crate::table::{EMPTY, slot_id};

/// Table bits (IPVS's default `CONFIG_IP_VS_DH_TAB_BITS`).
pub const BITS: u32 = 8;
/// Number of buckets.
pub const SIZE: usize = 1 << BITS;

/// The destination-hashing scheduler.
#[derive(Clone)]
pub struct Dh {
    table: [u16; SIZE],
}

impl core::fmt::Debug for Dh {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Dh").field("buckets", &SIZE).finish()
    }
}

impl Default for Dh {
    fn default() -> Self {
        Dh::new()
    }
}

impl Dh {
    /// A destination-hashing scheduler with an empty table.
    pub const fn new() -> Self {
        Dh {
            table: [EMPTY; SIZE],
        }
    }

    /// The server a bucket points at.
    pub fn bucket(&self, index: usize) -> Option<DestId> {
        slot_id(self.table.get(index))
    }

    /// The bucket a flow hashes to.
    pub fn bucket_of(flow: &Flow) -> usize {
        hash_32(lvs_core::addr::fold_addr(&flow.vip.ip()), BITS) as usize
    }

    fn rebuild(&mut self, dests: DestView<'_>) {
        let order = dests.order();
        if order.is_empty() {
            self.table.fill(EMPTY);
            return;
        }
        for (bucket, id) in self.table.iter_mut().zip(order.iter().cycle()) {
            *bucket = id.0;
        }
    }
}

impl Scheduler for Dh {
    fn name(&self) -> &'static str {
        "dh"
    }

    fn pick(&mut self, dests: DestView<'_>, flow: &Flow) -> Option<DestId> {
        let id = slot_id(self.table.get(Self::bucket_of(flow)))?;
        dests.get(id).filter(|r| r.schedulable()).map(|_| id)
    }

    fn update(&mut self, dests: DestView<'_>, change: DestChange) {
        if !matches!(change, DestChange::Edited { .. }) {
            self.rebuild(dests);
        }
    }
}
