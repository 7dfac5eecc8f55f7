//! The scheduler interface: pick a real server for a new connection.
//!
//! A scheduler sees the service's real servers through a [`DestView`]: the
//! servers in stable slots (a [`DestId`] never changes while the server
//! exists, so connections can refer to it) and, separately, the list order
//! IPVS iterates in (newest first). Schedulers are told about every change to
//! the list so that O(1) schedulers (rr, wrr, sh, dh, mh) can keep their
//! cursors and lookup tables in step instead of rescanning per pick.

use crate::addr::Flow;
use crate::real_server::RealServer;

/// A stable slot index of a real server within its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestId(pub u16);

impl DestId {
    /// The slot index as `usize`.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A read-only view of a service's real servers for a scheduler.
#[derive(Debug, Clone, Copy)]
pub struct DestView<'a> {
    slots: &'a [RealServer],
    order: &'a [DestId],
}

impl<'a> DestView<'a> {
    /// A view over `slots`, iterated in `order`. Ids in `order` that are out of
    /// range of `slots` are skipped by every accessor, never a panic.
    pub const fn new(slots: &'a [RealServer], order: &'a [DestId]) -> Self {
        DestView { slots, order }
    }

    /// Number of real servers in the list.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when the service has no real servers.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The list order: ids, newest first as IPVS keeps them.
    pub fn order(&self) -> &'a [DestId] {
        self.order
    }

    /// The server in a slot.
    #[inline]
    pub fn get(&self, id: DestId) -> Option<&'a RealServer> {
        self.slots.get(id.index())
    }

    /// The id at list position `pos`.
    #[inline]
    pub fn id_at(&self, pos: usize) -> Option<DestId> {
        self.order.get(pos).copied()
    }

    /// The server at list position `pos`.
    #[inline]
    pub fn at(&self, pos: usize) -> Option<(DestId, &'a RealServer)> {
        let id = self.id_at(pos)?;
        Some((id, self.get(id)?))
    }

    /// Iterate `(id, server)` in list order.
    pub fn iter(self) -> impl Iterator<Item = (DestId, &'a RealServer)> + 'a {
        let slots = self.slots;
        self.order
            .iter()
            .filter_map(move |&id| slots.get(id.index()).map(|r| (id, r)))
    }
}

/// What changed in a service's real-server list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestChange {
    /// A server was inserted at list position `pos` (IPVS: position 0).
    Added {
        /// List position of the new server.
        pos: usize,
    },
    /// The server formerly at list position `pos` was removed.
    Removed {
        /// Its former list position.
        pos: usize,
        /// Its slot.
        id: DestId,
    },
    /// The server at list position `pos` changed weight, thresholds or method.
    Edited {
        /// Its list position.
        pos: usize,
    },
    /// Anything else (the whole list was replaced): rebuild from scratch.
    Reset,
}

/// Picks a real server for a new connection. Object-safe: a service holds a
/// `Box<dyn Scheduler>` (or an enum of them without `alloc`).
pub trait Scheduler {
    /// The ipvsadm name (`rr`, `wrr`, ...).
    fn name(&self) -> &'static str;

    /// Choose a server for `flow`, or `None` when no server is available
    /// (IPVS: "no destination available"). Implementations must only return
    /// servers that are [`RealServer::schedulable`].
    fn pick(&mut self, dests: DestView<'_>, flow: &Flow) -> Option<DestId>;

    /// The list changed; `dests` is the list after the change.
    fn update(&mut self, dests: DestView<'_>, change: DestChange);
}
