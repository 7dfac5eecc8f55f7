//! Never queue (`nq`).
//!
//! If some server has no active connection, the new one goes there at once
//! (the first such server in list order): nothing would queue behind
//! anything. Only when every server is busy does nq fall back to sed's
//! shortest expected delay, (active + 1) / weight, with the same
//! cross-multiplied, first-wins comparison.
//!
//! A pick scans the list (O(n)); there is no state, so every [`DestChange`]
//! is ignored.

use lvs_core::{DestChange, DestId, DestView, Flow, Scheduler};

use crate::sed::sed_overhead;
use crate::wlc::lighter;

/// The never-queue scheduler.
#[derive(Debug, Clone, Copy, Default)]
pub struct Nq;

impl Nq {
    /// A never-queue scheduler.
    pub const fn new() -> Self {
        Nq
    }
}

impl Scheduler for Nq {
    fn name(&self) -> &'static str {
        "nq"
    }

    fn pick(&mut self, dests: DestView<'_>, _flow: &Flow) -> Option<DestId> {
        let mut least: Option<(DestId, u64, u32)> = None;
        for (id, r) in dests.iter() {
            if !r.schedulable() {
                continue;
            }
            if r.active_conns == 0 {
                return Some(id);
            }
            let oh = sed_overhead(r);
            let w = r.weight();
            match least {
                Some((_, loh, lw)) if !lighter(oh, w, loh, lw) => {}
                _ => least = Some((id, oh, w)),
            }
        }
        least.map(|(id, _, _)| id)
    }

    fn update(&mut self, _dests: DestView<'_>, _change: DestChange) {}
}
