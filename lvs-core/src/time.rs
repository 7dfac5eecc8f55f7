//! Time as a value the caller passes in.
//!
//! lvs-core never reads a clock: every operation that depends on time takes an
//! [`Instant`] from the embedder. This keeps the core deterministic (tests and
//! the offline pcap director replay time exactly) and usable on targets without
//! an operating system. The unit is the millisecond on a monotonic scale whose
//! origin the embedder chooses; IPVS's own timeouts are in seconds and jiffies,
//! so milliseconds lose nothing.

use core::ops::{Add, Sub};
use core::time::Duration;

/// A point on the embedder's monotonic clock, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The origin of the clock.
    pub const ZERO: Instant = Instant(0);

    /// An instant `ms` milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }

    /// An instant `s` seconds after the origin.
    pub const fn from_secs(s: u64) -> Self {
        Instant(s.saturating_mul(1000))
    }

    /// Milliseconds since the origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(ms))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_sub(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_secs(2);
        assert_eq!((t + Duration::from_millis(500)).as_millis(), 2500);
        assert_eq!((t - Duration::from_secs(5)), Instant::ZERO);
        assert_eq!(
            Instant::from_millis(u64::MAX) + Duration::from_secs(1),
            Instant::from_millis(u64::MAX)
        );
        assert_eq!(t.saturating_since(Instant::from_secs(3)), Duration::ZERO);
        assert_eq!(
            Instant::from_secs(3).saturating_since(t),
            Duration::from_secs(1)
        );
    }
}
