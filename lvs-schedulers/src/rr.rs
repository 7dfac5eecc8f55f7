//! Round-robin (`rr`).
//!
//! IPVS's rr keeps a cursor at the last chosen real server and, per new
//! connection, walks forward (cyclically, in list order) to the next server
//! that may take one. Keeping a cursor instead of a counter is what makes it
//! robust to list changes: a server added in front of the cursor does not
//! shift who is next, and when the server under the cursor is removed the
//! cursor steps back one so that its successor is next, as in the kernel.
//!
//! Reacts to [`DestChange::Added`] and [`DestChange::Removed`] (keeping the
//! cursor on the same server, or stepping back one) and
//! [`DestChange::Reset`] (cursor back to the list head). Edits are ignored:
//! the weight is read at pick time.

use lvs_core::{DestChange, DestId, DestView, Flow, Scheduler};

/// The round-robin scheduler.
#[derive(Debug, Clone, Default)]
pub struct Rr {
    /// List position of the last chosen server; `None` is the list head.
    cursor: Option<usize>,
}

impl Rr {
    /// A round-robin scheduler with its cursor at the list head.
    pub const fn new() -> Self {
        Rr { cursor: None }
    }
}

impl Scheduler for Rr {
    fn name(&self) -> &'static str {
        "rr"
    }

    fn pick(&mut self, dests: DestView<'_>, _flow: &Flow) -> Option<DestId> {
        let n = dests.len();
        // A cursor past the end (a list changed behind our back) is the head.
        let start = match self.cursor {
            Some(c) if c < n => c + 1,
            _ => 0,
        };
        for k in 0..n {
            let mut pos = start + k;
            if pos >= n {
                pos -= n;
            }
            if let Some((id, r)) = dests.at(pos)
                && r.schedulable()
            {
                self.cursor = Some(pos);
                return Some(id);
            }
        }
        None
    }

    fn update(&mut self, _dests: DestView<'_>, change: DestChange) {
        self.cursor = match (change, self.cursor) {
            (DestChange::Reset, _) | (_, None) => None,
            (DestChange::Added { pos }, Some(c)) if pos <= c => c.checked_add(1),
            (DestChange::Removed { pos, .. }, Some(c)) if pos == c => c.checked_sub(1),
            (DestChange::Removed { pos, .. }, Some(c)) if pos < c => c.checked_sub(1),
            (_, c) => c,
        };
    }
}
