//! Least-connection (`lc`).
//!
//! Sends a new connection to the server with the smallest IPVS overhead,
//! `active * 256 + inactive`. Active connections dominate because they are
//! what costs a server work; the inactive count (TIME_WAIT, UDP) only breaks
//! ties. Weights are ignored except that weight 0 (quiescent) never wins.
//! The first minimum in list order (newest first) wins, as in the kernel.
//!
//! A pick scans the list (O(n)); there is no state, so every [`DestChange`]
//! is ignored.

use lvs_core::{DestChange, DestId, DestView, Flow, Scheduler};

/// The least-connection scheduler.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lc;

impl Lc {
    /// A least-connection scheduler.
    pub const fn new() -> Self {
        Lc
    }
}

impl Scheduler for Lc {
    fn name(&self) -> &'static str {
        "lc"
    }

    fn pick(&mut self, dests: DestView<'_>, _flow: &Flow) -> Option<DestId> {
        let mut least: Option<(DestId, u64)> = None;
        for (id, r) in dests.iter() {
            if !r.schedulable() {
                continue;
            }
            let oh = r.overhead();
            match least {
                Some((_, loh)) if oh >= loh => {}
                _ => least = Some((id, oh)),
            }
        }
        least.map(|(id, _)| id)
    }

    fn update(&mut self, _dests: DestView<'_>, _change: DestChange) {}
}
