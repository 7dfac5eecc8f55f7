//! Weighted least-connection (`wlc`, ipvsadm's default).
//!
//! Minimises overhead / weight, where overhead is `active * 256 + inactive`.
//! Division would lose precision and cost a divide per server, so IPVS
//! compares cross-multiplied products: `d` beats the current choice `l` when
//! `oh_l * w_d > oh_d * w_l`. Only a strictly better product replaces the
//! choice, so on a tie the first server in list order wins. The kernel does
//! this in signed 64 bits; here the products are widened to 128 bits because
//! the counters are `u32` and `oh * w` can exceed 64 bits.
//!
//! The same comparison with a different load figure gives sed and nq, so the
//! shared scan lives here as [`least_weighted`].
//!
//! A pick scans the list (O(n)); there is no state, so every [`DestChange`]
//! is ignored.

use lvs_core::{DestChange, DestId, DestView, Flow, RealServer, Scheduler};

/// Whether load `oh_d` at weight `w_d` is strictly lighter than `oh_l` at
/// `w_l`, by cross-multiplication (`oh_l * w_d > oh_d * w_l`).
#[inline]
pub fn lighter(oh_d: u64, w_d: u32, oh_l: u64, w_l: u32) -> bool {
    u128::from(oh_l) * u128::from(w_d) > u128::from(oh_d) * u128::from(w_l)
}

/// The schedulable server minimising `load(r) / weight(r)`, first in list
/// order on ties (the wlc/sed scan).
#[inline]
pub fn least_weighted(dests: DestView<'_>, load: impl Fn(&RealServer) -> u64) -> Option<DestId> {
    let mut least: Option<(DestId, u64, u32)> = None;
    for (id, r) in dests.iter() {
        if !r.schedulable() {
            continue;
        }
        let oh = load(r);
        let w = r.weight();
        match least {
            Some((_, loh, lw)) if !lighter(oh, w, loh, lw) => {}
            _ => least = Some((id, oh, w)),
        }
    }
    least.map(|(id, _, _)| id)
}

/// The weighted least-connection scheduler.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wlc;

impl Wlc {
    /// A weighted least-connection scheduler.
    pub const fn new() -> Self {
        Wlc
    }
}

impl Scheduler for Wlc {
    fn name(&self) -> &'static str {
        "wlc"
    }

    fn pick(&mut self, dests: DestView<'_>, _flow: &Flow) -> Option<DestId> {
        least_weighted(dests, RealServer::overhead)
    }

    fn update(&mut self, _dests: DestView<'_>, _change: DestChange) {}
}
