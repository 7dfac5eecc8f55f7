//! Token buckets for what the director sends on its own: ICMP errors, echo replies and
//! TCP resets.
//!
//! Why: every one of those answers a packet whose source address nobody verified. Sent
//! once per offending packet, they turn the director into a reflector that aims its line
//! rate at whoever the sources were forged to be. Linux bounds them twice, and so does
//! this module ([`IcmpLimits`] says which message goes through which limit):
//!
//! - per destination, as `inet_peer_xrlim_allow`: each destination earns one millisecond
//!   of tokens per millisecond, banks at most [`XRLIM_BURST_FACTOR`] messages' worth, and a
//!   message costs `per_dest_ms`. The kernel keeps these in its inet_peer tree; here they
//!   live in a fixed table of [`PEER_SLOTS`] slots indexed by a keyed hash of the
//!   destination (bounded memory, no allocation per packet). Two destinations that share a
//!   slot share (or reset) its tokens: the global bucket still bounds the total.
//! - host-wide, as `icmp_global_allow`: a bucket of `burst` messages refilled at
//!   `msgs_per_sec`, refilled only when at least [`GLOBAL_REFILL_MIN_MS`] have passed.
//!
//! The per-destination check comes first and the global credit is consumed only once it
//! passed, as Linux does since "icmp: change the order of rate limits" (2024): an
//! attacker must not learn from the global bucket whether someone else received messages.
//! Linux also randomises the global credit slightly for the same reason; this director
//! does not (its limits are per worker and the embedder picks them).

use alloc::boxed::Box;
use alloc::vec;
use core::net::IpAddr;

use lvs_core::Instant;

use super::config::IcmpLimits;

/// Slots of the per-destination table (a power of two).
pub const PEER_SLOTS: usize = 256;
/// Messages a destination may bank: Linux `XRLIM_BURST_FACTOR` (net/ipv4/icmp.c), 6.
pub const XRLIM_BURST_FACTOR: u64 = 6;
/// Smallest interval the global bucket refills after: Linux refills when at least
/// `HZ / 50` jiffies passed (net/ipv4/icmp.c, `icmp_global_allow`), 20 ms.
pub const GLOBAL_REFILL_MIN_MS: u64 = 20;
/// Longest interval counted in one global refill: `HZ` jiffies, one second.
const GLOBAL_REFILL_MAX_MS: u64 = 1000;

/// What kind of message asks to be sent; see [`IcmpLimits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    /// ICMP error: port unreachable, time exceeded.
    Error,
    /// Fragmentation needed / Packet Too Big.
    Pmtu,
    /// Echo reply.
    Echo,
    /// TCP reset.
    Reset,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Hash tag of the destination holding the slot; 0 when free.
    tag: u32,
    /// Banked milliseconds of tokens.
    tokens: u64,
    /// When tokens were last added.
    last: u64,
}

/// The two limits (see the module docs).
pub(super) struct RateLimiter {
    cfg: IcmpLimits,
    key: u64,
    credit: u32,
    stamp: u64,
    slots: Box<[Slot]>,
}

impl RateLimiter {
    /// Limits `cfg`, the per-destination table keyed by `seed`; the global bucket starts
    /// full.
    pub(super) fn new(cfg: IcmpLimits, seed: u64) -> Self {
        RateLimiter {
            cfg,
            key: seed | 1,
            credit: cfg.burst,
            stamp: 0,
            slots: vec![Slot::default(); PEER_SLOTS].into_boxed_slice(),
        }
    }

    /// Whether a message of `class` to `dst` may be sent at `now`; if so its tokens are
    /// spent.
    pub(super) fn allow(&mut self, now: Instant, dst: &IpAddr, class: Class) -> bool {
        let (per_dest, global) = match class {
            Class::Error => (true, true),
            Class::Pmtu => (self.cfg.limit_pmtu, self.cfg.limit_pmtu),
            Class::Echo => (false, self.cfg.limit_echo),
            Class::Reset => (self.cfg.limit_reset, self.cfg.limit_reset),
        };
        let now = now.as_millis();
        let global = global && self.cfg.msgs_per_sec != 0;
        if global && !self.global_has_credit(now) {
            return false;
        }
        if per_dest && self.cfg.per_dest_ms != 0 && !self.peer_allow(now, dst) {
            return false;
        }
        if global {
            self.credit = self.credit.saturating_sub(1);
        }
        true
    }

    /// Refills the global bucket for `now` and says whether it holds a message.
    fn global_has_credit(&mut self, now: u64) -> bool {
        let delta = now.saturating_sub(self.stamp).min(GLOBAL_REFILL_MAX_MS);
        if delta >= GLOBAL_REFILL_MIN_MS {
            let incr = u64::from(self.cfg.msgs_per_sec) * delta / GLOBAL_REFILL_MAX_MS;
            if incr != 0 {
                self.stamp = now;
                let c = u64::from(self.credit) + incr;
                self.credit = c.min(u64::from(self.cfg.burst)) as u32;
            }
        }
        self.credit = self.credit.min(self.cfg.burst);
        self.credit != 0
    }

    /// The per-destination token bucket of `dst` (Linux `inet_peer_xrlim_allow`).
    fn peer_allow(&mut self, now: u64, dst: &IpAddr) -> bool {
        let h = (u64::from(lvs_core::addr::fold_addr(dst)) ^ self.key)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let idx = (h >> 56) as usize % PEER_SLOTS;
        let tag = ((h >> 16) as u32) | 1;
        let timeout = u64::from(self.cfg.per_dest_ms);
        let cap = XRLIM_BURST_FACTOR * timeout;
        let Some(s) = self.slots.get_mut(idx) else {
            return true;
        };
        if s.tag != tag {
            // A destination new to the slot starts with a full bank, as a new inet_peer
            // does (its rate_last lies 60 s in the past).
            *s = Slot {
                tag,
                tokens: cap,
                last: now,
            };
        }
        let tokens = (s.tokens + now.saturating_sub(s.last)).min(cap);
        s.last = now;
        if tokens >= timeout {
            s.tokens = tokens - timeout;
            true
        } else {
            s.tokens = tokens;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_destination_burst_then_one_per_interval() {
        let cfg = IcmpLimits {
            msgs_per_sec: 0,
            ..IcmpLimits::default()
        };
        let mut r = RateLimiter::new(cfg, 7);
        let a = ip("192.0.2.9");
        let t0 = Instant::from_secs(100);
        let sent = (0..100).filter(|_| r.allow(t0, &a, Class::Error)).count();
        assert_eq!(sent, XRLIM_BURST_FACTOR as usize);
        assert!(!r.allow(Instant::from_millis(100_999), &a, Class::Error));
        assert!(r.allow(Instant::from_millis(101_000), &a, Class::Error));
        // Another destination has its own bank.
        assert!(r.allow(t0, &ip("2001:db8::9"), Class::Error));
        // Echo replies are not limited per destination.
        assert!((0..100).all(|_| r.allow(t0, &a, Class::Echo)));
    }

    #[test]
    fn global_bucket() {
        let cfg = IcmpLimits {
            per_dest_ms: 0,
            msgs_per_sec: 100,
            burst: 10,
            ..IcmpLimits::default()
        };
        let mut r = RateLimiter::new(cfg, 7);
        let t0 = Instant::from_secs(5);
        let sent = (0..50u32)
            .filter(|i| r.allow(t0, &IpAddr::from([10, 0, 0, *i as u8]), Class::Error))
            .count();
        // Full bucket plus a full refill (more than a second since the stamp 0).
        assert_eq!(sent, 10);
        // 10 ms: under the refill granularity.
        assert!(!r.allow(Instant::from_millis(5_010), &ip("10.1.0.1"), Class::Error));
        // 100 ms at 100/s: ten more.
        let t1 = Instant::from_millis(5_100);
        let sent = (0..50u32)
            .filter(|i| r.allow(t1, &IpAddr::from([10, 2, 0, *i as u8]), Class::Error))
            .count();
        assert_eq!(sent, 10);
        // Limits off.
        let mut r = RateLimiter::new(
            IcmpLimits {
                per_dest_ms: 0,
                msgs_per_sec: 0,
                ..IcmpLimits::default()
            },
            7,
        );
        assert!((0..1000).all(|_| r.allow(t0, &ip("10.0.0.1"), Class::Error)));
    }
}
