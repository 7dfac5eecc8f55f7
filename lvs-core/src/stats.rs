//! Traffic counters and the IPVS rate estimator.
//!
//! IPVS keeps the same five counters per service, per real server and in
//! total, and estimates rates from them every two seconds with an EWMA of
//! weight 1/4 (`ip_vs_est.c`). The estimator here is driven by caller time:
//! [`Stats::estimate`] may be called as often as the embedder likes and only
//! advances in whole 2-second periods, so a late call catches up exactly.

use crate::time::Instant;

/// The estimator period, 2 s as in IPVS.
pub const ESTIMATOR_PERIOD_MS: u64 = 2_000;

/// The five IPVS counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets client -> real server.
    pub in_pkts: u64,
    /// Packets real server -> client (seen for NAT only).
    pub out_pkts: u64,
    /// Bytes (IP length) client -> real server.
    pub in_bytes: u64,
    /// Bytes (IP length) real server -> client.
    pub out_bytes: u64,
}

impl Counters {
    /// Field-wise `self - base`, saturating (for `ipvsadm -Z` baselines).
    pub fn since(&self, base: &Counters) -> Counters {
        Counters {
            conns: self.conns.saturating_sub(base.conns),
            in_pkts: self.in_pkts.saturating_sub(base.in_pkts),
            out_pkts: self.out_pkts.saturating_sub(base.out_pkts),
            in_bytes: self.in_bytes.saturating_sub(base.in_bytes),
            out_bytes: self.out_bytes.saturating_sub(base.out_bytes),
        }
    }
}

/// Rates per second as `ipvsadm -Ln --rate` prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rates {
    /// Connections per second.
    pub cps: u64,
    /// Incoming packets per second.
    pub in_pps: u64,
    /// Outgoing packets per second.
    pub out_pps: u64,
    /// Incoming bytes per second.
    pub in_bps: u64,
    /// Outgoing bytes per second.
    pub out_bps: u64,
}

/// The EWMA state, scaled as IPVS scales it (cps/pps by 2^10, bps by 2^5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Estimator {
    last: Counters,
    next_at: Option<Instant>,
    cps: u64,
    in_pps: u64,
    out_pps: u64,
    in_bps: u64,
    out_bps: u64,
}

/// `avg += (rate - avg) / 4` on scaled values, in wrapping signed arithmetic
/// exactly as IPVS does it.
fn ewma(avg: u64, delta: u64, shift: u32) -> u64 {
    // rate per second over the 2 s period, scaled by 2^shift: delta << shift / 2
    let rate = (delta << shift) >> 1;
    let avg_i = avg as i64;
    let diff = (rate as i64).wrapping_sub(avg_i);
    (avg_i.wrapping_add(diff >> 2)) as u64
}

impl Estimator {
    /// Advance the estimator to `now` given the current counters. Periods that
    /// passed without a call see all the traffic in the first of them and
    /// none in the rest, as a kernel timer that fired late would not; the
    /// difference vanishes when the embedder calls at least every period.
    pub fn update(&mut self, now: Instant, cur: &Counters) {
        let Some(mut at) = self.next_at else {
            self.last = *cur;
            self.next_at = Some(Instant::from_millis(now.as_millis() + ESTIMATOR_PERIOD_MS));
            return;
        };
        // Bound the catch-up work: after 64 idle periods every average is 0
        // anyway (each period divides the rest by 4/3 at least).
        let mut rounds = 0;
        while at <= now && rounds < 64 {
            let d = cur.since(&self.last);
            self.last = *cur;
            self.cps = ewma(self.cps, d.conns, 10);
            self.in_pps = ewma(self.in_pps, d.in_pkts, 10);
            self.out_pps = ewma(self.out_pps, d.out_pkts, 10);
            self.in_bps = ewma(self.in_bps, d.in_bytes, 5);
            self.out_bps = ewma(self.out_bps, d.out_bytes, 5);
            at = Instant::from_millis(at.as_millis() + ESTIMATOR_PERIOD_MS);
            rounds += 1;
        }
        if at <= now {
            at = Instant::from_millis(now.as_millis() + ESTIMATOR_PERIOD_MS);
        }
        self.next_at = Some(at);
    }

    /// When the next period ends (None before the first update).
    pub fn next_at(&self) -> Option<Instant> {
        self.next_at
    }

    /// The rates, read back as `ip_vs_read_estimator` does (rounded).
    pub fn rates(&self) -> Rates {
        Rates {
            cps: (self.cps + 0x1FF) >> 10,
            in_pps: (self.in_pps + 0x1FF) >> 10,
            out_pps: (self.out_pps + 0x1FF) >> 10,
            in_bps: (self.in_bps + 0xF) >> 5,
            out_bps: (self.out_bps + 0xF) >> 5,
        }
    }

    /// Forget the averages (`ipvsadm -Z`).
    pub fn reset(&mut self, cur: &Counters) {
        *self = Estimator {
            last: *cur,
            next_at: self.next_at,
            ..Estimator::default()
        };
    }
}

/// Counters, a zero baseline and a rate estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Raw counters since creation.
    pub counters: Counters,
    /// Values at the last zeroing.
    pub baseline: Counters,
    /// Rate estimator.
    pub estimator: Estimator,
}

impl Stats {
    /// Count a newly scheduled connection.
    #[inline]
    pub fn count_conn(&mut self) {
        self.counters.conns += 1;
    }

    /// Count a packet of `bytes` IP bytes in the client -> real server direction.
    #[inline]
    pub fn count_in(&mut self, bytes: u64) {
        self.counters.in_pkts += 1;
        self.counters.in_bytes += bytes;
    }

    /// Count a packet of `bytes` IP bytes in the real server -> client direction.
    #[inline]
    pub fn count_out(&mut self, bytes: u64) {
        self.counters.out_pkts += 1;
        self.counters.out_bytes += bytes;
    }

    /// The counters since the last zeroing, as listings show them.
    pub fn shown(&self) -> Counters {
        self.counters.since(&self.baseline)
    }

    /// Zero the shown counters and the rates (`ipvsadm -Z`).
    pub fn zero(&mut self) {
        self.baseline = self.counters;
        self.estimator.reset(&self.counters);
    }

    /// Advance the rate estimator to `now`.
    pub fn estimate(&mut self, now: Instant) {
        let cur = self.counters;
        self.estimator.update(now, &cur);
    }

    /// The estimated rates.
    pub fn rates(&self) -> Rates {
        self.estimator.rates()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_rate_converges() {
        let mut s = Stats::default();
        s.estimate(Instant::ZERO);
        // 100 packets of 1000 bytes and 10 conns per second.
        for period in 1..=80u64 {
            for _ in 0..200 {
                s.count_in(1000);
            }
            for _ in 0..20 {
                s.count_conn();
            }
            s.estimate(Instant::from_millis(period * ESTIMATOR_PERIOD_MS));
        }
        let r = s.rates();
        assert_eq!(r.in_pps, 100);
        assert_eq!(r.cps, 10);
        assert_eq!(r.in_bps, 100_000);
        assert_eq!(r.out_pps, 0);
    }

    #[test]
    fn first_period_is_one_quarter() {
        let mut s = Stats::default();
        s.estimate(Instant::ZERO);
        for _ in 0..800 {
            s.count_in(100);
        }
        s.estimate(Instant::from_millis(2000));
        // rate 400/s, avg = 400/4 = 100
        assert_eq!(s.rates().in_pps, 100);
    }

    #[test]
    fn idle_decays_to_zero_and_zeroing_resets() {
        let mut s = Stats::default();
        s.estimate(Instant::ZERO);
        for _ in 0..1000 {
            s.count_out(10);
        }
        s.estimate(Instant::from_secs(2));
        assert!(s.rates().out_pps > 0);
        s.estimate(Instant::from_secs(1000));
        assert_eq!(s.rates().out_pps, 0);
        s.zero();
        assert_eq!(s.shown(), Counters::default());
        s.count_conn();
        assert_eq!(s.shown().conns, 1);
    }
}
