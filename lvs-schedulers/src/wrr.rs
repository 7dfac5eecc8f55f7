//! Weighted round-robin (`wrr`).
//!
//! IPVS's wrr is an interleaved weighted round-robin: a current weight `cw`
//! counts down from the maximum weight in steps of the gcd of the weights,
//! and each lap over the list hands a connection to every server whose
//! weight is at least `cw`. Over a full cycle each server gets exactly
//! `weight / gcd` connections, spread out rather than in bursts (weights
//! 4, 3, 2 give `A A B A B C A B C`). The state is four integers, so a pick
//! is O(1) amortised and needs no table.
//!
//! State (kernel names): `cl` the cursor (a list position or the head), `cw`
//! the current weight, `mw` = max weight − (gcd − 1) (so the last lap tests
//! weight ≥ 1) and `di` the gcd of the positive weights (1 if none).
//!
//! Reacts to every [`DestChange`]: on add, remove or edit the cursor goes
//! back to the head and `di`/`mw` are recomputed; `cw` is kept if it is in
//! `1..=mw` (snapped to the `di` grid, plus one, when `di > 1`), otherwise it
//! restarts at `mw`. [`DestChange::Reset`] starts over with `cw = mw`.

use lvs_core::{DestChange, DestId, DestView, Flow, Scheduler};

/// Greatest common divisor (`gcd(0, x) = x`).
pub(crate) const fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

/// The weighted round-robin scheduler.
#[derive(Debug, Clone, Default)]
pub struct Wrr {
    /// List position of the last chosen server; `None` is the list head.
    cl: Option<usize>,
    /// Current weight.
    cw: i64,
    /// Maximum weight less (di − 1); 0 when no server has a weight.
    mw: i64,
    /// Decreasing interval: gcd of the positive weights, at least 1.
    di: i64,
}

impl Wrr {
    /// A weighted round-robin scheduler for an empty list.
    pub const fn new() -> Self {
        Wrr {
            cl: None,
            cw: 0,
            mw: 0,
            di: 1,
        }
    }

    /// The current weight `cw` (for tests and diagnostics).
    pub fn current_weight(&self) -> i64 {
        self.cw
    }

    /// The maximum weight `mw` as IPVS defines it: max − (gcd − 1).
    pub fn max_weight(&self) -> i64 {
        self.mw
    }

    /// The decreasing interval `di`: gcd of the positive weights, or 1.
    pub fn gcd_weight(&self) -> i64 {
        self.di
    }

    fn recompute(&mut self, dests: DestView<'_>) {
        let mut g = 0u32;
        let mut max = 0u32;
        for (_, r) in dests.iter() {
            let w = r.weight();
            if w > 0 {
                g = gcd(w, g);
            }
            max = max.max(w);
        }
        self.di = i64::from(g.max(1));
        self.mw = i64::from(max) - (self.di - 1);
        self.cl = None;
    }
}

impl Scheduler for Wrr {
    fn name(&self) -> &'static str {
        "wrr"
    }

    fn pick(&mut self, dests: DestView<'_>, _flow: &Flow) -> Option<DestId> {
        if self.mw <= 0 || self.di <= 0 {
            return None;
        }
        let n = dests.len();
        let last = self.cl.filter(|&c| c < n);
        let mut stop: Option<usize> = None;
        let mut start = last.map_or(0, |c| c + 1);
        let mut last_pass = false;
        let mut restarted = false;
        // IPVS's loop ends by itself after at most two countdowns of cw; the
        // bound only guards against a state that update() never saw.
        let max_laps = 2 * (self.mw / self.di) + 4;
        for _ in 0..max_laps {
            for pos in start..n {
                if let Some((id, r)) = dests.at(pos)
                    && r.schedulable()
                    && i64::from(r.weight()) >= self.cw
                {
                    self.cl = Some(pos);
                    return Some(id);
                }
                if stop == Some(pos) {
                    self.cl = Some(pos);
                    return None;
                }
            }
            start = 0;
            self.cw -= self.di;
            if self.cw <= 0 {
                self.cw = self.mw;
                if last_pass || last.is_none() {
                    self.cl = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last.is_some() {
                stop = last;
            }
        }
        self.cl = None;
        None
    }

    fn update(&mut self, dests: DestView<'_>, change: DestChange) {
        self.recompute(dests);
        if change == DestChange::Reset || self.cw > self.mw || self.cw <= 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di) * self.di + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::gcd;

    #[test]
    fn gcd_basics() {
        assert_eq!(gcd(0, 7), 7);
        assert_eq!(gcd(12, 18), 6);
        assert_eq!(gcd(5, 0), 5);
        assert_eq!(gcd(0, 0), 0);
    }
}
