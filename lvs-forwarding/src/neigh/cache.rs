//! The neighbour cache: one entry per next hop, in one of the kernel's NUD
//! states, bounded in size. See the [module docs](super) for the state
//! machine and who may change an entry.

use core::hash::{BuildHasher, Hasher};
use core::net::IpAddr;

use hashbrown::HashMap;
use lvs_core::Instant;

use super::{
    DELAY_FIRST_PROBE_MS, MAX_MULTICAST_SOLICIT, MAX_UNICAST_SOLICIT, REACHABLE_MS, RETRY_MS,
};
use crate::wire::MacAddr;

/// A keyed hasher for the neighbour map: addresses in frames are chosen by
/// the sender, so the map must not be predictable.
#[derive(Debug, Clone, Copy)]
pub struct SeededState(pub u64);

/// The hasher of [`SeededState`]: a multiply-rotate fold keyed by the seed.
#[derive(Debug, Clone, Copy)]
pub struct SeededHasher(u64);

impl Hasher for SeededHasher {
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0 ^ u64::from_le_bytes(w))
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(29);
        }
    }
}

impl BuildHasher for SeededState {
    type Hasher = SeededHasher;
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher(self.0)
    }
}

/// `now + ms`, saturating.
#[inline]
fn after(now: Instant, ms: u64) -> Instant {
    Instant::from_millis(now.as_millis().saturating_add(ms))
}

/// The end of time, for memo entries that only a change to the map ends.
const NEVER: Instant = Instant::from_millis(u64::MAX);

/// The state of one neighbour, with what its timers need. FAILED is not
/// stored: an entry that fails is removed at once (and its held frames
/// dropped), so its next use starts a fresh resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighState {
    /// Pinned by the embedder (static, or the host kernel's PERMANENT):
    /// never expires, never changed by ARP/ND from the wire.
    Permanent(MacAddr),
    /// A request is out and nothing is known yet; frames wait.
    Incomplete {
        /// Requests sent so far.
        probes: u8,
        /// When to send the next one (or give up).
        next_at: Instant,
    },
    /// Confirmed recently; trusted until `until`, then STALE (lazily: an
    /// entry past `until` is reported and treated as [`Nud::Stale`]).
    Reachable {
        /// The MAC.
        mac: MacAddr,
        /// End of the reachable time.
        until: Instant,
    },
    /// Known but unconfirmed: still used, and its first use starts DELAY.
    Stale {
        /// The MAC.
        mac: MacAddr,
        /// When it became stale (for eviction order).
        since: Instant,
    },
    /// Used while stale; probed at `probe_at` unless confirmed first.
    Delay {
        /// The MAC.
        mac: MacAddr,
        /// When PROBE starts.
        probe_at: Instant,
    },
    /// Unicast requests are going to `mac`; still used meanwhile.
    Probe {
        /// The MAC being probed.
        mac: MacAddr,
        /// Unicast requests sent so far.
        probes: u8,
        /// When to send the next one (or give up).
        next_at: Instant,
    },
}

/// The NUD state of an entry at a given time (the kernel's `nud_state`
/// names; FAILED entries are removed, so never seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Nud {
    /// NUD_INCOMPLETE.
    Incomplete,
    /// NUD_REACHABLE.
    Reachable,
    /// NUD_STALE.
    Stale,
    /// NUD_DELAY.
    Delay,
    /// NUD_PROBE.
    Probe,
    /// NUD_PERMANENT.
    Permanent,
}

impl NeighState {
    /// The MAC the entry sends to, if it has one.
    pub const fn mac(&self) -> Option<MacAddr> {
        match *self {
            NeighState::Permanent(mac)
            | NeighState::Reachable { mac, .. }
            | NeighState::Stale { mac, .. }
            | NeighState::Delay { mac, .. }
            | NeighState::Probe { mac, .. } => Some(mac),
            NeighState::Incomplete { .. } => None,
        }
    }

    /// The NUD state at `now` (a REACHABLE entry past its time is STALE).
    pub fn nud(&self, now: Instant) -> Nud {
        match self {
            NeighState::Permanent(_) => Nud::Permanent,
            NeighState::Incomplete { .. } => Nud::Incomplete,
            NeighState::Reachable { until, .. } if *until > now => Nud::Reachable,
            NeighState::Reachable { .. } | NeighState::Stale { .. } => Nud::Stale,
            NeighState::Delay { .. } => Nud::Delay,
            NeighState::Probe { .. } => Nud::Probe,
        }
    }

    /// Eviction order: lower goes first. Stale entries (oldest first), then
    /// reachable ones (soonest to expire first), then entries being
    /// re-probed, then resolutions under way; permanent ones never.
    fn eviction_key(&self) -> Option<(u8, Instant)> {
        match *self {
            NeighState::Permanent(_) => None,
            NeighState::Stale { since, .. } => Some((0, since)),
            NeighState::Reachable { until, .. } => Some((1, until)),
            NeighState::Delay { probe_at, .. } => Some((2, probe_at)),
            NeighState::Probe { next_at, .. } => Some((2, next_at)),
            NeighState::Incomplete { next_at, .. } => Some((3, next_at)),
        }
    }

    /// When the entry's timer fires, for the states that have one.
    fn timer(&self) -> Option<Instant> {
        match *self {
            NeighState::Incomplete { next_at, .. } | NeighState::Probe { next_at, .. } => {
                Some(next_at)
            }
            NeighState::Delay { probe_at, .. } => Some(probe_at),
            _ => None,
        }
    }
}

/// What the cache knows of an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Send to this MAC.
    Known(MacAddr),
    /// Resolution under way: hold the frame.
    Pending,
    /// Nothing known: start resolving.
    Unknown,
}

/// What an update from the wire did to the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    /// A pending resolution got its MAC: frames held for it can go.
    Resolved,
    /// A new entry, or an entry whose MAC changed.
    Changed,
    /// An entry kept its MAC (and was confirmed, if the update confirms).
    Refreshed,
    /// Nothing changed: a permanent entry, no entry to update, or an
    /// entry that was not asked about.
    Ignored,
}

impl Learned {
    /// Whether the cache now knows something it did not (a new MAC for
    /// the address, or a completed resolution).
    pub fn is_news(self) -> bool {
        matches!(self, Learned::Resolved | Learned::Changed)
    }
}

/// A bounded neighbour cache.
#[derive(Debug)]
pub struct NeighborCache {
    map: HashMap<IpAddr, NeighState, SeededState>,
    capacity: usize,
    /// Recent `Known` answers of [`resolve`](Self::resolve), direct-mapped
    /// by the address's last bits, each good until a time: the next hops
    /// of forwarded packets are a handful of real servers and gateways, and
    /// a hit here skips hashing the address and probing the map. Emptied by
    /// every change to the map, and a REACHABLE answer is only good until
    /// the entry goes stale, so it never answers differently from the map.
    memo: [Option<(IpAddr, MacAddr, Instant)>; MEMO_SLOTS],
    /// Bumped with every emptying of the memo: an answer of
    /// [`resolve_until`](Self::resolve_until) holds while the epoch is the same
    /// and its time has not come (the Director's next-hop memo relies on it).
    epoch: u64,
}

/// Slots of [`NeighborCache`]'s memo (a power of two).
const MEMO_SLOTS: usize = 8;

/// The memo slot of an address: its last bits (cheap; addresses are
/// chosen by the operator here, and a collision only costs a map lookup).
#[inline(always)]
fn memo_slot(ip: &IpAddr) -> usize {
    let last = match ip {
        IpAddr::V4(a) => a.octets()[3],
        IpAddr::V6(a) => a.octets()[15],
    };
    usize::from(last) & (MEMO_SLOTS - 1)
}

impl NeighborCache {
    /// A cache for at most `capacity` neighbours, allocated now.
    pub fn new(capacity: usize, seed: u64) -> Self {
        NeighborCache {
            map: HashMap::with_capacity_and_hasher(capacity.max(1), SeededState(seed)),
            capacity: capacity.max(1),
            memo: [None; MEMO_SLOTS],
            epoch: 0,
        }
    }

    /// Forget the memo: called by everything that changes the map.
    #[inline]
    fn changed(&mut self) {
        self.memo = [None; MEMO_SLOTS];
        self.epoch = self.epoch.wrapping_add(1);
    }

    /// Counts the changes to the map (see [`resolve_until`](Self::resolve_until)).
    #[inline(always)]
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The state of `ip`'s entry, if any.
    pub fn state(&self, ip: IpAddr) -> Option<NeighState> {
        self.map.get(&ip).copied()
    }

    /// The addresses being resolved (INCOMPLETE: a request is out and no
    /// answer came), in no particular order.
    pub fn incomplete(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.map
            .iter()
            .filter(|(_, s)| matches!(s, NeighState::Incomplete { .. }))
            .map(|(ip, _)| *ip)
    }

    /// What is known of `ip` at `now`, without using the entry: a STALE,
    /// DELAY or PROBE entry still answers its MAC.
    #[inline]
    pub fn lookup(&self, ip: IpAddr, _now: Instant) -> Lookup {
        match self.map.get(&ip) {
            Some(NeighState::Incomplete { .. }) => Lookup::Pending,
            Some(s) => s.mac().map_or(Lookup::Pending, Lookup::Known),
            None => Lookup::Unknown,
        }
    }

    /// Use `ip` to send a frame at `now`: [`lookup`](Self::lookup), and the
    /// first use of a STALE entry moves it to DELAY (probed in
    /// [`DELAY_FIRST_PROBE_MS`] unless confirmed meanwhile), as the
    /// kernel's `neigh_event_send`.
    #[inline]
    pub fn resolve(&mut self, ip: IpAddr, now: Instant) -> Lookup {
        self.resolve_until(ip, now).0
    }

    /// [`resolve`](Self::resolve), and until when a `Known` answer stays the
    /// same without a change to the map ([`epoch`](Self::epoch)): the end of
    /// a REACHABLE entry's time, or never. Other answers come with `now`.
    #[inline]
    pub(crate) fn resolve_until(&mut self, ip: IpAddr, now: Instant) -> (Lookup, Instant) {
        let slot = memo_slot(&ip);
        if let Some((m_ip, mac, fresh)) = self.memo[slot]
            && m_ip == ip
            && now < fresh
        {
            return (Lookup::Known(mac), fresh);
        }
        let Some(s) = self.map.get_mut(&ip) else {
            return (Lookup::Unknown, now);
        };
        let (mac, fresh) = match *s {
            NeighState::Incomplete { .. } => return (Lookup::Pending, now),
            NeighState::Reachable { mac, until } if until > now => (mac, until),
            NeighState::Reachable { mac, .. } | NeighState::Stale { mac, .. } => {
                *s = NeighState::Delay {
                    mac,
                    probe_at: after(now, DELAY_FIRST_PROBE_MS),
                };
                self.changed();
                (mac, NEVER)
            }
            NeighState::Permanent(mac)
            | NeighState::Delay { mac, .. }
            | NeighState::Probe { mac, .. } => (mac, NEVER),
        };
        self.memo[slot] = Some((ip, mac, fresh));
        (Lookup::Known(mac), fresh)
    }

    /// Add a permanent entry (the embedder's `--neighbor IP=MAC`, or the
    /// host's PERMANENT entry): it replaces whatever was there.
    pub fn add_static(&mut self, ip: IpAddr, mac: MacAddr) {
        self.insert(ip, NeighState::Permanent(mac));
    }

    /// The embedder's word that `ip` is at `mac` now (a neighbour the host
    /// kernel resolved, or another worker's news): a confirmation, so the
    /// entry is REACHABLE whatever it was, a permanent one included.
    /// Returns true if this completed a pending resolution.
    pub fn set_reachable(&mut self, ip: IpAddr, mac: MacAddr, now: Instant) -> bool {
        let pending = matches!(self.map.get(&ip), Some(NeighState::Incomplete { .. }));
        let until = after(now, REACHABLE_MS);
        self.insert(ip, NeighState::Reachable { mac, until });
        pending
    }

    /// Insert or replace, evicting when full. False if there was no room.
    fn insert(&mut self, ip: IpAddr, s: NeighState) -> bool {
        self.changed();
        if let Some(e) = self.map.get_mut(&ip) {
            *e = s;
            return true;
        }
        if self.map.len() >= self.capacity {
            self.evict_one();
        }
        if self.map.len() >= self.capacity {
            return false;
        }
        self.map.insert(ip, s);
        true
    }

    /// A reply to one of our requests (an ARP reply, a solicited NA): if
    /// `ip` is being resolved (INCOMPLETE) or probed (PROBE), it is now
    /// REACHABLE at `mac`. Anything else is left alone: a reply nobody
    /// asked for neither creates nor changes an entry (Linux `arp_accept`
    /// 0).
    pub fn reply(&mut self, ip: IpAddr, mac: MacAddr, now: Instant) -> Learned {
        let Some(s) = self.map.get_mut(&ip) else {
            return Learned::Ignored;
        };
        let out = match *s {
            NeighState::Incomplete { .. } => Learned::Resolved,
            NeighState::Probe { mac: m, .. } if m == mac => Learned::Refreshed,
            NeighState::Probe { .. } => Learned::Changed,
            _ => return Learned::Ignored,
        };
        *s = NeighState::Reachable {
            mac,
            until: after(now, REACHABLE_MS),
        };
        self.changed();
        out
    }

    /// A neighbour advertisement that passed validation (RFC 4861 §7.2.5):
    /// only an existing entry is updated. An INCOMPLETE one takes the
    /// advertised MAC (REACHABLE if solicited, STALE if not); otherwise a
    /// different MAC replaces the entry's only with the override flag (the
    /// entry going STALE, or REACHABLE if solicited), and a solicited
    /// advertisement of the same MAC confirms it.
    pub fn advertisement(
        &mut self,
        ip: IpAddr,
        mac: Option<MacAddr>,
        solicited: bool,
        override_flag: bool,
        now: Instant,
    ) -> Learned {
        let Some(s) = self.map.get_mut(&ip) else {
            return Learned::Ignored;
        };
        let until = after(now, REACHABLE_MS);
        let (new, out) = match (*s, mac) {
            (NeighState::Permanent(_), _) => return Learned::Ignored,
            // §7.2.5: no target link-layer option, nothing to record.
            (NeighState::Incomplete { .. }, None) => return Learned::Ignored,
            (NeighState::Incomplete { .. }, Some(mac)) if solicited => {
                (NeighState::Reachable { mac, until }, Learned::Resolved)
            }
            (NeighState::Incomplete { .. }, Some(mac)) => {
                (NeighState::Stale { mac, since: now }, Learned::Resolved)
            }
            (old, adv) => {
                // Option absent: the advertisement is about the MAC we have.
                let Some(cur) = old.mac() else {
                    return Learned::Ignored;
                };
                let adv = adv.unwrap_or(cur);
                if adv != cur && !override_flag {
                    // §7.2.5: a REACHABLE entry goes STALE, MAC kept.
                    if old.nud(now) == Nud::Reachable {
                        (
                            NeighState::Stale {
                                mac: cur,
                                since: now,
                            },
                            Learned::Refreshed,
                        )
                    } else {
                        return Learned::Ignored;
                    }
                } else if solicited {
                    let out = if adv == cur {
                        Learned::Refreshed
                    } else {
                        Learned::Changed
                    };
                    (NeighState::Reachable { mac: adv, until }, out)
                } else if adv != cur {
                    (
                        NeighState::Stale {
                            mac: adv,
                            since: now,
                        },
                        Learned::Changed,
                    )
                } else {
                    return Learned::Ignored;
                }
            }
        };
        *s = new;
        self.changed();
        out
    }

    /// An announcement (gratuitous ARP): an existing entry takes the new
    /// MAC and goes STALE, so it is re-probed before it is trusted; an
    /// INCOMPLETE one is resolved to STALE. No entry is created, a
    /// permanent one is left alone, and the same MAC changes nothing.
    pub fn announce(&mut self, ip: IpAddr, mac: MacAddr, now: Instant) -> Learned {
        let Some(s) = self.map.get_mut(&ip) else {
            return Learned::Ignored;
        };
        let out = match *s {
            NeighState::Permanent(_) => return Learned::Ignored,
            NeighState::Incomplete { .. } => Learned::Resolved,
            old if old.mac() == Some(mac) => return Learned::Refreshed,
            _ => Learned::Changed,
        };
        *s = NeighState::Stale { mac, since: now };
        self.changed();
        out
    }

    /// A request addressed to us (an ARP request for one of our addresses
    /// from an on-link sender, a validated NS with a source link-layer
    /// option): the sender's entry is created or updated STALE (the
    /// kernel's `neigh_event_ns`, RFC 4861 §7.2.3), so the answer can be
    /// sent and the MAC is probed before it is trusted.
    pub fn solicited_by(&mut self, ip: IpAddr, mac: MacAddr, now: Instant) -> Learned {
        let out = match self.map.get(&ip) {
            Some(NeighState::Permanent(_)) => return Learned::Ignored,
            Some(NeighState::Incomplete { .. }) => Learned::Resolved,
            Some(old) if old.mac() == Some(mac) => return Learned::Refreshed,
            _ => Learned::Changed,
        };
        if self.insert(ip, NeighState::Stale { mac, since: now }) {
            out
        } else {
            Learned::Ignored
        }
    }

    /// Forget `ip` (whatever its state); returns what was known of it.
    pub fn remove(&mut self, ip: IpAddr) -> Option<NeighState> {
        self.changed();
        self.map.remove(&ip)
    }

    /// Start resolving `ip` (the caller sends the first request now).
    /// Returns false if the cache has no room even after eviction.
    pub fn start(&mut self, ip: IpAddr, now: Instant) -> bool {
        self.insert(
            ip,
            NeighState::Incomplete {
                probes: 1,
                next_at: after(now, RETRY_MS),
            },
        )
    }

    /// The earliest timer: a retry, a probe or a give-up.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.map.values().filter_map(NeighState::timer).min()
    }

    /// Advance timers at `now`. Calls `resend(ip)` for each address that
    /// needs a request now (the entry says which: [`NeighState::Probe`]
    /// wants a unicast one to its MAC, [`NeighState::Incomplete`] a
    /// broadcast one), and `give_up(ip)` for each that failed (its entry is
    /// removed): INCOMPLETE after [`MAX_MULTICAST_SOLICIT`] requests,
    /// PROBE after [`MAX_UNICAST_SOLICIT`]. A DELAY entry whose time came
    /// moves to PROBE with its first request.
    pub fn on_timeout(
        &mut self,
        now: Instant,
        mut resend: impl FnMut(IpAddr),
        mut give_up: impl FnMut(IpAddr),
    ) {
        self.changed();
        // Failures are removed after the walk; more than fit here are left
        // for the next call (their timers have passed, so next_timeout says
        // so at once).
        let mut failed: heapless::Vec<IpAddr, 16> = heapless::Vec::new();
        for (ip, s) in self.map.iter_mut() {
            if s.timer().is_none_or(|t| t > now) {
                continue;
            }
            match *s {
                NeighState::Incomplete { probes, .. } | NeighState::Probe { probes, .. } => {
                    let max = if matches!(s, NeighState::Incomplete { .. }) {
                        MAX_MULTICAST_SOLICIT
                    } else {
                        MAX_UNICAST_SOLICIT
                    };
                    if probes >= max {
                        if failed.push(*ip).is_err() {
                            break;
                        }
                        continue;
                    }
                    if let NeighState::Incomplete { probes, next_at }
                    | NeighState::Probe {
                        probes, next_at, ..
                    } = s
                    {
                        *probes += 1;
                        *next_at = after(now, RETRY_MS);
                    }
                    resend(*ip);
                }
                NeighState::Delay { mac, .. } => {
                    *s = NeighState::Probe {
                        mac,
                        probes: 1,
                        next_at: after(now, RETRY_MS),
                    };
                    resend(*ip);
                }
                _ => {}
            }
        }
        for ip in failed {
            self.map.remove(&ip);
            give_up(ip);
        }
    }
    /// Make room: drop the entry that matters least (see
    /// `NeighState::eviction_key`; permanent entries never). Bounded by the
    /// capacity, and only paid when a new neighbour arrives in a full cache.
    fn evict_one(&mut self) {
        self.changed();
        let victim = self
            .map
            .iter()
            .filter_map(|(ip, s)| s.eviction_key().map(|k| (k, *ip)))
            .min()
            .map(|(_, ip)| ip);
        if let Some(ip) = victim {
            self.map.remove(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, n))
    }
    const M: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const M2: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

    #[test]
    fn incomplete_lists_only_entries_being_resolved() {
        let mut c = NeighborCache::new(8, 1);
        let t = Instant::from_secs(1);
        c.start(ip(1), t);
        c.start(ip(2), t);
        c.add_static(ip(3), M);
        assert_eq!(c.reply(ip(2), M2, t), Learned::Resolved);
        assert_eq!(c.incomplete().collect::<alloc::vec::Vec<_>>(), [ip(1)]);
    }

    /// RFC 4861 §7.2.5: advertisements update existing entries only, and a
    /// different MAC needs the override flag.
    #[test]
    fn advertisement_rules() {
        let mut c = NeighborCache::new(8, 1);
        let t = Instant::from_secs(1);
        assert_eq!(
            c.advertisement(ip(1), Some(M), true, true, t),
            Learned::Ignored
        );
        assert!(c.state(ip(1)).is_none());
        c.start(ip(1), t);
        assert_eq!(
            c.advertisement(ip(1), None, true, true, t),
            Learned::Ignored
        );
        assert_eq!(
            c.advertisement(ip(1), Some(M), false, false, t),
            Learned::Resolved
        );
        assert_eq!(c.state(ip(1)).map(|s| s.nud(t)), Some(Nud::Stale));
        assert_eq!(
            c.advertisement(ip(1), Some(M), true, false, t),
            Learned::Refreshed
        );
        assert_eq!(c.state(ip(1)).map(|s| s.nud(t)), Some(Nud::Reachable));
        // No override: a REACHABLE entry goes STALE, MAC kept.
        assert_eq!(
            c.advertisement(ip(1), Some(M2), true, false, t),
            Learned::Refreshed
        );
        assert_eq!(c.state(ip(1)), Some(NeighState::Stale { mac: M, since: t }));
        assert_eq!(
            c.advertisement(ip(1), Some(M2), true, false, t),
            Learned::Ignored
        );
        // Override: the new MAC, REACHABLE when solicited.
        assert_eq!(
            c.advertisement(ip(1), Some(M2), true, true, t),
            Learned::Changed
        );
        assert_eq!(c.lookup(ip(1), t), Lookup::Known(M2));
        c.add_static(ip(2), M);
        assert_eq!(
            c.advertisement(ip(2), Some(M2), true, true, t),
            Learned::Ignored
        );
    }

    /// The memo of `resolve` never answers differently from the map, across
    /// changes and the REACHABLE -> STALE -> DELAY transition.
    #[test]
    fn resolve_memo_follows_changes_and_time() {
        let mut c = NeighborCache::new(8, 1);
        let t = Instant::from_secs(1);
        c.set_reachable(ip(1), M, t);
        assert_eq!(c.resolve(ip(1), t), Lookup::Known(M));
        assert_eq!(c.state(ip(1)).map(|s| s.nud(t)), Some(Nud::Reachable));
        // Same memo slot (1 + 8), different address.
        assert_eq!(c.resolve(ip(9), t), Lookup::Unknown);
        let later = after(t, REACHABLE_MS);
        assert_eq!(c.resolve(ip(1), later), Lookup::Known(M));
        assert_eq!(c.state(ip(1)).map(|s| s.nud(later)), Some(Nud::Delay));
        c.announce(ip(1), M2, later);
        assert_eq!(c.resolve(ip(1), later), Lookup::Known(M2));
    }

    /// Full: stale entries go first, permanent ones never.
    #[test]
    fn eviction_prefers_stale_and_spares_permanent() {
        let mut c = NeighborCache::new(3, 1);
        let t = Instant::from_secs(1);
        c.add_static(ip(1), M);
        c.set_reachable(ip(2), M, t);
        c.solicited_by(ip(3), M, t);
        assert_eq!(c.solicited_by(ip(4), M, t), Learned::Changed);
        assert!(c.state(ip(3)).is_none() && c.state(ip(2)).is_some());
        c.set_reachable(ip(5), M, t);
        c.set_reachable(ip(6), M, t);
        assert_eq!(c.lookup(ip(1), t), Lookup::Known(M));
        assert_eq!(c.len(), 3);
    }
}
