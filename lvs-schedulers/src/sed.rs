//! Shortest expected delay (`sed`).
//!
//! wlc with a different load figure: `active + 1`. The `+ 1` is the new
//! connection itself, so sed minimises the expected delay (Ci + 1) / Wi the
//! new connection would see, which favours a fast (heavy) idle server over a
//! slow idle one, where wlc would see two zero loads and take the first.
//! Inactive connections are ignored. Cross-multiplied comparison, first in
//! list order wins on ties (see [`crate::wlc`]).
//!
//! A pick scans the list (O(n)); there is no state, so every [`DestChange`]
//! is ignored.

use lvs_core::{DestChange, DestId, DestView, Flow, RealServer, Scheduler};

use crate::wlc::least_weighted;

/// sed's load figure: active connections plus one.
#[inline]
pub fn sed_overhead(r: &RealServer) -> u64 {
    u64::from(r.active_conns) + 1
}

/// The shortest-expected-delay scheduler.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sed;

impl Sed {
    /// A shortest-expected-delay scheduler.
    pub const fn new() -> Self {
        Sed
    }
}

impl Scheduler for Sed {
    fn name(&self) -> &'static str {
        "sed"
    }

    fn pick(&mut self, dests: DestView<'_>, _flow: &Flow) -> Option<DestId> {
        least_weighted(dests, sed_overhead)
    }

    fn update(&mut self, _dests: DestView<'_>, _change: DestChange) {}
}
