//! Properties of the neighbour cache.
//!
//! 1. Random ARP, NDP and ICMP/data frames through `Director::process` never
//!    change an entry they must not: a permanent entry never changes; a frame
//!    that fails validation (forged ARP sender, off-link ARP sender, NDP not
//!    at hop limit 255 or with a bad checksum or code) or that is not ARP/NDP
//!    changes nothing; a frame changes at most the entry of the address it
//!    speaks for; and an entry is only created by a request for one of our
//!    addresses from a valid on-link sender.
//! 2. The NUD state machine against a small reference model: random
//!    sequences of use, confirmation, announcement, solicitation and time.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::PacketBuilder;
use lvs_core::Instant;
use lvs_forwarding::neigh::{Learned, Lookup, NeighState, NeighborCache, Nud};
use lvs_forwarding::wire::{MacAddr, checksum};
use lvs_forwarding::xform::MAX_HEADROOM;
use lvs_forwarding::{Director, DirectorConfig, IpCidr, Verdict};
use proptest::prelude::*;

const HEAD: usize = MAX_HEADROOM + 64;
const OUR_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xd1];
const PERM_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x50];
const RULES: &str = "-A -t 203.0.113.10:80 -s rr\n\
                     -a -t 203.0.113.10:80 -r 192.0.2.11:80 -g -w 1\n\
                     -A -t [2001:db8:f::10]:80 -s rr\n\
                     -a -t [2001:db8:f::10]:80 -r [2001:db8::11]:80 -g -w 1\n";

/// Addresses the frames speak about: ours (0, 1), the real server being
/// resolved (2), a permanent neighbour (3), an unknown on-link host (4),
/// an off-link host (5), and addresses no host has (6..).
const V4: [Ipv4Addr; 9] = [
    Ipv4Addr::new(192, 0, 2, 1),
    Ipv4Addr::new(203, 0, 113, 10),
    Ipv4Addr::new(192, 0, 2, 11),
    Ipv4Addr::new(192, 0, 2, 50),
    Ipv4Addr::new(192, 0, 2, 60),
    Ipv4Addr::new(10, 9, 9, 9),
    Ipv4Addr::UNSPECIFIED,
    Ipv4Addr::BROADCAST,
    Ipv4Addr::new(224, 0, 0, 1),
];
const V6: [&str; 9] = [
    "2001:db8::1",
    "2001:db8:f::10",
    "2001:db8::11",
    "2001:db8::50",
    "2001:db8::60",
    "fe80::60",
    "::",
    "ff02::1",
    "ff02::1:ff00:11",
];
const MACS: [[u8; 6]; 5] = [
    [2, 0, 0, 0, 0, 0xee],
    [2, 0, 0, 0, 0, 0x52],
    [0xff; 6],
    [0; 6],
    [0x33, 0x33, 0, 0, 0, 1],
];

fn v6(i: usize) -> Ipv6Addr {
    V6[i].parse().unwrap()
}

fn all_addrs() -> Vec<IpAddr> {
    V4.iter()
        .map(|a| IpAddr::V4(*a))
        .chain((0..V6.len()).map(|i| IpAddr::V6(v6(i))))
        .collect()
}

fn director() -> Director {
    let addrs: Vec<IpCidr> = ["192.0.2.1/24", "2001:db8::1/64"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let mut cfg = DirectorConfig::single_link(MacAddr(OUR_MAC), &addrs);
    cfg.conn_capacity_v4 = 64;
    cfg.conn_capacity_v6 = 64;
    cfg.neighbors = vec![
        (IpAddr::V4(V4[3]), MacAddr(PERM_MAC)),
        (IpAddr::V6(v6(3)), MacAddr(PERM_MAC)),
    ];
    let mut d = Director::from_rules(cfg, RULES).unwrap();
    // Start resolving the real servers: their entries are INCOMPLETE.
    for (c, vip) in [
        ("198.51.100.7", "203.0.113.10"),
        ("2001:db8:9::7", "2001:db8:f::10"),
    ] {
        let f = syn(c.parse().unwrap(), vip.parse().unwrap());
        let v = feed(&mut d, Instant::from_secs(10), &f);
        assert_eq!(v, Verdict::Held);
    }
    let mut out = vec![0u8; 2048];
    while d.poll_transmit(&mut out).is_some() {}
    d
}

fn feed(d: &mut Director, now: Instant, f: &[u8]) -> Verdict {
    let mut buf = vec![0u8; HEAD + f.len()];
    buf[HEAD..].copy_from_slice(f);
    let mut out = vec![0u8; 2048];
    d.process(now, 0, &mut buf, HEAD, f.len(), &mut out)
}

fn syn(src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(MACS[0], OUR_MAC);
    let b = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => b.ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => b.ipv6(s.octets(), d.octets(), 64),
        _ => panic!("mixed"),
    };
    let mut v = Vec::new();
    b.tcp(4000, 80, 1, 1000).syn().write(&mut v, b"").unwrap();
    v
}

/// A random frame, and what it is allowed to do.
#[derive(Debug, Clone)]
enum Input {
    Arp {
        op: u16,
        eth_src: usize,
        sha: usize,
        spa: usize,
        tpa: usize,
    },
    Nd {
        ns: bool,
        flags: u8,
        code: u8,
        src: usize,
        dst: usize,
        hop: u8,
        target: usize,
        opt: Option<usize>,
        good_checksum: bool,
        eth_src: usize,
    },
    /// A UDP datagram or ICMP echo from any address with any MAC.
    Data {
        v6: bool,
        src: usize,
        eth_src: usize,
        icmp: bool,
    },
}

fn input() -> impl Strategy<Value = Input> {
    let i = || 0..V4.len();
    let m = || 0..MACS.len();
    prop_oneof![
        (1u16..=3, m(), m(), i(), i()).prop_map(|(op, eth_src, sha, spa, tpa)| Input::Arp {
            op,
            eth_src,
            sha,
            spa,
            tpa
        }),
        (
            any::<bool>(),
            any::<u8>(),
            prop_oneof![4 => Just(0u8), 1 => any::<u8>()],
            0..V6.len(),
            0..V6.len(),
            prop_oneof![4 => Just(255u8), 1 => any::<u8>()],
            0..V6.len(),
            proptest::option::of(m()),
            prop_oneof![4 => Just(true), 1 => Just(false)],
            m(),
        )
            .prop_map(
                |(ns, flags, code, src, dst, hop, target, opt, good_checksum, eth_src)| {
                    Input::Nd {
                        ns,
                        flags,
                        code,
                        src,
                        dst,
                        hop,
                        target,
                        opt,
                        good_checksum,
                        eth_src,
                    }
                }
            ),
        (any::<bool>(), i(), m(), any::<bool>()).prop_map(|(v6, src, eth_src, icmp)| {
            Input::Data {
                v6,
                src,
                eth_src,
                icmp,
            }
        }),
    ]
}

fn build(i: &Input) -> Vec<u8> {
    match *i {
        Input::Arp {
            op,
            eth_src,
            sha,
            spa,
            tpa,
        } => {
            let mut v = Vec::new();
            v.extend_from_slice(&[0xff; 6]);
            v.extend_from_slice(&MACS[eth_src]);
            v.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4]);
            v.extend_from_slice(&op.to_be_bytes());
            v.extend_from_slice(&MACS[sha]);
            v.extend_from_slice(&V4[spa].octets());
            v.extend_from_slice(&[0; 6]);
            v.extend_from_slice(&V4[tpa].octets());
            v
        }
        Input::Nd {
            ns,
            flags,
            code,
            src,
            dst,
            hop,
            target,
            opt,
            good_checksum,
            eth_src,
        } => {
            let (s, d) = (v6(src), v6(dst));
            let ty = if ns { 135 } else { 136 };
            let mut icmp = vec![ty, code, 0, 0, flags, 0, 0, 0];
            icmp.extend_from_slice(&v6(target).octets());
            if let Some(m) = opt {
                icmp.extend_from_slice(&[if ns { 1 } else { 2 }, 1]);
                icmp.extend_from_slice(&MACS[m]);
            }
            let mut c = checksum::finish(checksum::sum(
                &icmp,
                checksum::pseudo_v6(s, d, 58, icmp.len() as u32),
            ));
            if !good_checksum {
                c ^= 0x8001;
            }
            icmp[2..4].copy_from_slice(&c.to_be_bytes());
            let mut v = Vec::new();
            v.extend_from_slice(&OUR_MAC);
            v.extend_from_slice(&MACS[eth_src]);
            v.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, icmp.len() as u8, 58, hop]);
            v.extend_from_slice(&s.octets());
            v.extend_from_slice(&d.octets());
            v.extend_from_slice(&icmp);
            v
        }
        Input::Data {
            v6: is6,
            src,
            eth_src,
            icmp,
        } => {
            let b = PacketBuilder::ethernet2(MACS[eth_src], OUR_MAC);
            let b = if is6 {
                b.ipv6(v6(src).octets(), v6(1).octets(), 64)
            } else {
                b.ipv4(V4[src].octets(), V4[1].octets(), 64)
            };
            let mut v = Vec::new();
            if icmp {
                if is6 {
                    b.icmpv6_echo_request(1, 1).write(&mut v, b"x").unwrap();
                } else {
                    b.icmpv4_echo_request(1, 1).write(&mut v, b"x").unwrap();
                }
            } else {
                b.udp(5000, 53).write(&mut v, b"x").unwrap();
            }
            v
        }
    }
}

/// The address whose entry `i` may change, and whether it may create one;
/// `None`: it must change nothing.
fn may_change(i: &Input) -> Option<(IpAddr, bool)> {
    match *i {
        Input::Arp {
            op,
            eth_src,
            sha,
            spa,
            tpa,
        } => {
            // A valid sender: the frame's own unicast MAC, an on-link host
            // address that is not ours (2..=4; 5 is off-link).
            let valid = eth_src == sha && sha <= 1 && (2..=4).contains(&spa);
            let create = op == 1 && tpa <= 1;
            valid.then_some((IpAddr::V4(V4[spa]), create))
        }
        Input::Nd {
            ns,
            code,
            src,
            dst: _,
            hop,
            target,
            opt,
            good_checksum,
            ..
        } => {
            if hop != 255 || code != 0 || !good_checksum || target >= 7 {
                return None;
            }
            if ns {
                // Only a solicitation for one of ours, from a unicast
                // source (never `::`) with its link-layer address, teaches.
                (target <= 1 && (2..=5).contains(&src) && opt.is_some())
                    .then_some((IpAddr::V6(v6(src)), true))
            } else {
                (target >= 2).then_some((IpAddr::V6(v6(target)), false))
            }
        }
        Input::Data { .. } => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random ARP/NDP/data frames never change an entry they must not.
    #[test]
    fn frames_never_change_entries_they_must_not(inputs in proptest::collection::vec(input(), 1..24)) {
        let mut d = director();
        let addrs = all_addrs();
        let now = Instant::from_secs(11);
        // Addresses some frame so far was allowed to create an entry for.
        let mut created: Vec<IpAddr> = Vec::new();
        for i in &inputs {
            let before: Vec<Option<NeighState>> =
                addrs.iter().map(|a| d.neighbors().state(*a)).collect();
            let f = build(i);
            let _ = feed(&mut d, now, &f);
            let allowed = may_change(i);
            if let Some((a, true)) = allowed {
                created.push(a);
            }
            for (a, old) in addrs.iter().zip(&before) {
                let new = d.neighbors().state(*a);
                if a == &IpAddr::V4(V4[3]) || a == &IpAddr::V6(v6(3)) {
                    prop_assert_eq!(new, Some(NeighState::Permanent(MacAddr(PERM_MAC))));
                }
                if allowed.is_none_or(|(w, _)| w != *a) {
                    prop_assert_eq!(new, *old, "{:?} changed by {:?}", a, i);
                }
                if old.is_none() && new.is_some() {
                    prop_assert!(created.contains(a), "{:?} created by {:?}", a, i);
                }
            }
        }
    }
}

// ----- the state machine against a model ------------------------------------

/// The reference model: the RFC 4861 / Linux states as plain data, with
/// absolute times, stepped by the rules written out once more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum M {
    Incomplete { probes: u8, next: u64 },
    Reachable { mac: u8, until: u64 },
    Stale { mac: u8 },
    Delay { mac: u8, at: u64 },
    Probe { mac: u8, probes: u8, next: u64 },
    Permanent { mac: u8 },
}

impl M {
    fn mac(self) -> Option<u8> {
        match self {
            M::Incomplete { .. } => None,
            M::Reachable { mac, .. }
            | M::Stale { mac }
            | M::Delay { mac, .. }
            | M::Probe { mac, .. }
            | M::Permanent { mac } => Some(mac),
        }
    }
    fn nud(self, now: u64) -> Nud {
        match self {
            M::Incomplete { .. } => Nud::Incomplete,
            M::Reachable { until, .. } if until > now => Nud::Reachable,
            M::Reachable { .. } | M::Stale { .. } => Nud::Stale,
            M::Delay { .. } => Nud::Delay,
            M::Probe { .. } => Nud::Probe,
            M::Permanent { .. } => Nud::Permanent,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Use(u8),
    Reply(u8, u8),
    Announce(u8, u8),
    SolicitedBy(u8, u8),
    SetReachable(u8, u8),
    Static(u8, u8),
    Remove(u8),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let a = || 0u8..4;
    let m = || 0u8..3;
    prop_oneof![
        4 => a().prop_map(Op::Use),
        2 => (a(), m()).prop_map(|(a, m)| Op::Reply(a, m)),
        1 => (a(), m()).prop_map(|(a, m)| Op::Announce(a, m)),
        1 => (a(), m()).prop_map(|(a, m)| Op::SolicitedBy(a, m)),
        1 => (a(), m()).prop_map(|(a, m)| Op::SetReachable(a, m)),
        1 => (a(), m()).prop_map(|(a, m)| Op::Static(a, m)),
        1 => a().prop_map(Op::Remove),
        5 => prop_oneof![0u64..1500, 0u64..40_000].prop_map(Op::Advance),
    ]
}

fn addr(a: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100 + a))
}

fn mac(m: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 1, m])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The cache follows the model through random uses, confirmations,
    /// announcements, solicitations, embedder updates and time, including
    /// which requests it asks for and which entries fail.
    #[test]
    fn state_machine_follows_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        let mut c = NeighborCache::new(64, 7);
        let mut model: BTreeMap<u8, M> = BTreeMap::new();
        let mut now = 1_000u64;
        for op in ops {
            let t = Instant::from_millis(now);
            match op {
                Op::Use(a) => {
                    let got = c.resolve(addr(a), t);
                    let want = match model.get(&a).copied() {
                        None => {
                            prop_assert!(c.start(addr(a), t));
                            model.insert(a, M::Incomplete { probes: 1, next: now + 1000 });
                            Lookup::Unknown
                        }
                        Some(M::Incomplete { .. }) => Lookup::Pending,
                        Some(s @ M::Reachable { mac: m, until }) if until > now => {
                            let _ = s;
                            Lookup::Known(mac(m))
                        }
                        Some(M::Reachable { mac: m, .. } | M::Stale { mac: m }) => {
                            model.insert(a, M::Delay { mac: m, at: now + 5000 });
                            Lookup::Known(mac(m))
                        }
                        Some(s) => Lookup::Known(mac(s.mac().unwrap())),
                    };
                    prop_assert_eq!(got, want);
                }
                Op::Reply(a, m) => {
                    let r = c.reply(addr(a), mac(m), t);
                    match model.get(&a).copied() {
                        Some(M::Incomplete { .. } | M::Probe { .. }) => {
                            prop_assert_ne!(r, Learned::Ignored);
                            model.insert(a, M::Reachable { mac: m, until: now + 30_000 });
                        }
                        _ => prop_assert_eq!(r, Learned::Ignored),
                    }
                }
                Op::Announce(a, m) => {
                    c.announce(addr(a), mac(m), t);
                    match model.get(&a).copied() {
                        None | Some(M::Permanent { .. }) => {}
                        Some(s) if s.mac() == Some(m) => {}
                        Some(_) => {
                            model.insert(a, M::Stale { mac: m });
                        }
                    }
                }
                Op::SolicitedBy(a, m) => {
                    c.solicited_by(addr(a), mac(m), t);
                    match model.get(&a).copied() {
                        Some(M::Permanent { .. }) => {}
                        Some(s) if s.mac() == Some(m) => {}
                        _ => {
                            model.insert(a, M::Stale { mac: m });
                        }
                    }
                }
                Op::SetReachable(a, m) => {
                    c.set_reachable(addr(a), mac(m), t);
                    model.insert(a, M::Reachable { mac: m, until: now + 30_000 });
                }
                Op::Static(a, m) => {
                    c.add_static(addr(a), mac(m));
                    model.insert(a, M::Permanent { mac: m });
                }
                Op::Remove(a) => {
                    c.remove(addr(a));
                    model.remove(&a);
                }
                Op::Advance(ms) => {
                    now += ms;
                    let t = Instant::from_millis(now);
                    let (mut resent, mut failed) = (Vec::new(), Vec::new());
                    c.on_timeout(t, |ip| resent.push(ip), |ip| failed.push(ip));
                    let (mut want_resent, mut want_failed) = (Vec::new(), Vec::new());
                    for (a, s) in model.clone() {
                        match s {
                            M::Incomplete { probes, next } if next <= now => {
                                if probes >= 3 {
                                    model.remove(&a);
                                    want_failed.push(addr(a));
                                } else {
                                    model.insert(a, M::Incomplete { probes: probes + 1, next: now + 1000 });
                                    want_resent.push(addr(a));
                                }
                            }
                            M::Delay { mac, at } if at <= now => {
                                model.insert(a, M::Probe { mac, probes: 1, next: now + 1000 });
                                want_resent.push(addr(a));
                            }
                            M::Probe { mac, probes, next } if next <= now => {
                                if probes >= 3 {
                                    model.remove(&a);
                                    want_failed.push(addr(a));
                                } else {
                                    model.insert(a, M::Probe { mac, probes: probes + 1, next: now + 1000 });
                                    want_resent.push(addr(a));
                                }
                            }
                            _ => {}
                        }
                    }
                    resent.sort();
                    failed.sort();
                    prop_assert_eq!(resent, want_resent);
                    prop_assert_eq!(failed, want_failed);
                }
            }
            // Every address: same presence, NUD state and MAC.
            let t = Instant::from_millis(now);
            for a in 0..4u8 {
                let got = c.state(addr(a));
                let want = model.get(&a).copied();
                prop_assert_eq!(got.map(|s| s.nud(t)), want.map(|s| s.nud(now)), "addr {}", a);
                prop_assert_eq!(got.and_then(|s| s.mac()), want.and_then(|s| s.mac()).map(mac));
                prop_assert_eq!(c.lookup(addr(a), t), match want {
                    None => Lookup::Unknown,
                    Some(M::Incomplete { .. }) => Lookup::Pending,
                    Some(s) => Lookup::Known(mac(s.mac().unwrap())),
                });
            }
            let next = model.values().filter_map(|s| match *s {
                M::Incomplete { next, .. } | M::Probe { next, .. } => Some(next),
                M::Delay { at, .. } => Some(at),
                _ => None,
            }).min();
            prop_assert_eq!(c.next_timeout().map(|t| t.as_millis()), next);
        }
    }
}
