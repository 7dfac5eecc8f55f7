//! The connection table against a simple model (a `HashMap` of handles to
//! entries): random inserts, lookups from both sides, removals, state and
//! flag changes, timer re-arms, evictions and time steps must agree.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use lvs_core::Instant;
use lvs_core::conn::{ConnFlags, ConnHandle, ConnTable, Connection, InsertError, Slot, TcpState};
use proptest::prelude::*;

type Model = HashMap<u32, Connection<Ipv4Addr>>;

const T: u16 = ConnFlags::TEMPLATE;
const NOOUT: u16 = ConnFlags::NO_OUTPUT;
const MIXED: u16 = ConnFlags::MIXED_FAMILY;

fn out_visible(c: &Connection<Ipv4Addr>) -> bool {
    c.flags.0 & (T | NOOUT | MIXED) == 0
}

fn half_open(c: &Connection<Ipv4Addr>) -> bool {
    c.protocol == 6
        && !c.flags.has(T)
        && (c.state == TcpState::SynRecv as u8 || c.state == TcpState::SynAck as u8)
}

fn conflicts(a: &Connection<Ipv4Addr>, b: &Connection<Ipv4Addr>) -> bool {
    if a.protocol != b.protocol || a.caddr != b.caddr {
        return false;
    }
    let (ta, tb) = (a.flags.has(T), b.flags.has(T));
    if ta || tb {
        return ta && tb && a.vaddr == b.vaddr && a.vport == b.vport;
    }
    a.cport == b.cport
        && ((a.vaddr == b.vaddr && a.vport == b.vport)
            || (out_visible(a) && out_visible(b) && a.daddr == b.daddr && a.dport == b.dport))
}

#[derive(Debug, Clone)]
struct NewConn {
    proto: u8,
    c: u8,
    cport: u16,
    v: u8,
    vport: u16,
    d: u8,
    dport: u16,
    flags: u16,
    state: u8,
    timeout: u32,
    when: u8,
}

#[derive(Debug, Clone)]
enum Op {
    Insert(NewConn),
    Remove(usize),
    RemoveBogus(u32),
    LookupIn(u8, u8, u16, u8, u16),
    LookupOut(u8, u8, u16, u8, u16),
    LookupTemplate(u8, u8, u8, u16),
    SetTimeout(usize, u32),
    Refresh(usize),
    SetState(usize, u8),
    SetFlags(usize, u16),
    OnPacket(usize, u16, u8, u32, bool),
    Invalidate(usize),
    Evict,
    Advance(u64),
}

fn timeout() -> impl Strategy<Value = u32> {
    prop_oneof![
        0u32..200,
        Just(63),
        Just(64),
        Just(4096),
        1000u32..300_000,
        Just(900_000),
        Just(u32::MAX),
    ]
}

fn new_conn() -> impl Strategy<Value = NewConn> {
    (
        prop_oneof![Just(6u8), Just(17u8)],
        0u8..4,
        prop_oneof![Just(0u16), 1u16..4],
        0u8..2,
        0u16..2,
        0u8..2,
        0u16..2,
        prop_oneof![
            Just(0u16),
            Just(T),
            Just(NOOUT),
            Just(MIXED),
            Just(NOOUT | T)
        ],
        prop_oneof![Just(1u8), Just(3u8), Just(10u8), Just(6u8)],
        timeout(),
        prop_oneof![8 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
    )
        .prop_map(
            |(proto, c, cport, v, vport, d, dport, flags, state, timeout, when)| NewConn {
                proto,
                c,
                cport,
                v,
                vport,
                d,
                dport,
                flags,
                state,
                timeout,
                when,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => new_conn().prop_map(Op::Insert),
        2 => any::<usize>().prop_map(Op::Remove),
        1 => any::<u32>().prop_map(Op::RemoveBogus),
        2 => (prop_oneof![Just(6u8), Just(17u8)], 0u8..4, 0u16..4, 0u8..2, 0u16..2)
            .prop_map(|(p, c, cp, v, vp)| Op::LookupIn(p, c, cp, v, vp)),
        2 => (prop_oneof![Just(6u8), Just(17u8)], 0u8..2, 0u16..2, 0u8..4, 0u16..4)
            .prop_map(|(p, d, dp, c, cp)| Op::LookupOut(p, d, dp, c, cp)),
        1 => (prop_oneof![Just(6u8), Just(17u8)], 0u8..4, 0u8..2, 0u16..2)
            .prop_map(|(p, c, v, vp)| Op::LookupTemplate(p, c, v, vp)),
        2 => (any::<usize>(), timeout()).prop_map(|(i, t)| Op::SetTimeout(i, t)),
        2 => any::<usize>().prop_map(Op::Refresh),
        2 => (any::<usize>(), prop_oneof![Just(1u8), Just(3u8), Just(10u8), Just(5u8), Just(200u8)])
            .prop_map(|(i, s)| Op::SetState(i, s)),
        1 => (any::<usize>(), prop_oneof![Just(0u16), Just(NOOUT), Just(MIXED), Just(T)])
            .prop_map(|(i, f)| Op::SetFlags(i, f)),
        2 => (
            any::<usize>(),
            prop_oneof![Just(0u16), Just(NOOUT), Just(MIXED), Just(T)],
            prop_oneof![Just(1u8), Just(3u8), Just(10u8), Just(5u8), Just(200u8)],
            timeout(),
            any::<bool>(),
        )
            .prop_map(|(i, f, s, ms, c)| Op::OnPacket(i, f, s, ms, c)),
        1 => any::<usize>().prop_map(Op::Invalidate),
        1 => Just(Op::Evict),
        3 => prop_oneof![0u64..100, 100u64..5000, 5000u64..1_000_000, Just(1u64 << 37), Just(1u64 << 31)].prop_map(Op::Advance),
    ]
}

fn ip(net: u8, x: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, net, 0, x)
}

fn pick(model: &Model, i: usize) -> Option<u32> {
    let mut keys: Vec<u32> = model.keys().copied().collect();
    keys.sort_unstable();
    if keys.is_empty() {
        None
    } else {
        Some(keys[i % keys.len()])
    }
}

fn check_all(
    t: &ConnTable<Ipv4Addr, Vec<Slot<Ipv4Addr>>>,
    model: &Model,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(t.len(), model.len());
    prop_assert!(t.len() <= t.capacity());
    prop_assert_eq!(t.iter().count(), model.len());
    for (h, c) in model {
        let h = ConnHandle(*h);
        prop_assert_eq!(t.get(h), Some(c));
        if c.flags.has(T) {
            let found = t.lookup_template(c.protocol, c.caddr, c.vaddr, c.vport);
            if c.vport != 0xffff {
                prop_assert_eq!(found, Some(h));
            }
        } else {
            prop_assert_eq!(
                t.lookup_in(c.protocol, c.caddr, c.cport, c.vaddr, c.vport),
                Some(h)
            );
            if out_visible(c) {
                // Both sides find the same entry (unless set_flags made the
                // real-server side ambiguous: then one of the candidates).
                let got = t.lookup_out(c.protocol, c.daddr, c.dport, c.caddr, c.cport);
                let g = got.map(|g| g.0);
                let ok = g.is_some_and(|g| {
                    let o = &model[&g];
                    out_visible(o)
                        && o.protocol == c.protocol
                        && o.daddr == c.daddr
                        && o.dport == c.dport
                        && o.caddr == c.caddr
                        && o.cport == c.cport
                });
                prop_assert!(ok, "lookup_out for {:?} gave {:?}", h, got);
            }
        }
    }
    match t.next_timeout() {
        None => prop_assert!(model.is_empty()),
        Some(nt) => {
            let min = model.values().map(|c| c.expires).min();
            prop_assert!(
                min.is_some_and(|m| nt <= m),
                "next_timeout {nt:?} later than {min:?}"
            );
        }
    }
    Ok(())
}

fn run(ops: Vec<Op>, slots: usize, seed: u64) -> Result<(), TestCaseError> {
    let mut t: ConnTable<Ipv4Addr, Vec<Slot<Ipv4Addr>>> =
        ConnTable::new(vec![Slot::EMPTY; slots], seed);
    let mut model: Model = HashMap::new();
    let mut now: u64 = 1_000_000;
    for op in ops {
        match op {
            Op::Insert(n) => {
                let timeout_ms = n.timeout;
                let expires = match n.when {
                    // Already due.
                    1 => now.saturating_sub(u64::from(timeout_ms)),
                    // Beyond the wheel's horizon (2^36 ms).
                    2 => now.saturating_add((1 << 36) + u64::from(timeout_ms)),
                    _ => now.saturating_add(u64::from(timeout_ms)),
                };
                let c = Connection {
                    caddr: ip(0, n.c),
                    vaddr: ip(1, n.v),
                    daddr: ip(2, n.d),
                    cport: n.cport,
                    vport: 80 + n.vport,
                    dport: 8080 + n.dport,
                    protocol: n.proto,
                    state: n.state,
                    flags: ConnFlags(n.flags),
                    service: 1,
                    dest: 2,
                    control: ConnHandle::NONE,
                    n_control: 0,
                    in_pkts: 0,
                    timeout_ms,
                    expires: Instant::from_millis(expires),
                };
                let want = if model.len() >= t.capacity() {
                    Err(InsertError::Full)
                } else if model.values().any(|o| conflicts(o, &c)) {
                    Err(InsertError::Duplicate)
                } else {
                    Ok(())
                };
                let got = t.insert(c);
                match (got, want) {
                    (Ok(h), Ok(())) => {
                        prop_assert!(!model.contains_key(&h.0));
                        model.insert(h.0, c);
                    }
                    (Err(g), Err(w)) => prop_assert_eq!(g, w),
                    (g, w) => prop_assert!(false, "insert {:?}, model says {:?}", g, w),
                }
            }
            Op::Remove(i) => {
                if let Some(h) = pick(&model, i) {
                    let c = model.remove(&h);
                    prop_assert_eq!(t.remove(ConnHandle(h)), c);
                    prop_assert_eq!(t.remove(ConnHandle(h)), None);
                }
            }
            Op::RemoveBogus(h) => {
                if !model.contains_key(&h) {
                    prop_assert_eq!(t.remove(ConnHandle(h)), None);
                    prop_assert!(t.get(ConnHandle(h)).is_none());
                }
            }
            Op::LookupIn(p, c, cp, v, vp) => {
                let (ca, va, vp) = (ip(0, c), ip(1, v), 80 + vp);
                let want: Vec<u32> = model
                    .iter()
                    .filter(|(_, o)| {
                        !o.flags.has(T)
                            && o.protocol == p
                            && o.caddr == ca
                            && o.cport == cp
                            && o.vaddr == va
                            && o.vport == vp
                    })
                    .map(|(h, _)| *h)
                    .collect();
                prop_assert!(want.len() <= 1);
                prop_assert_eq!(
                    t.lookup_in(p, ca, cp, va, vp).map(|h| h.0),
                    want.first().copied()
                );
            }
            Op::LookupOut(p, d, dp, c, cp) => {
                let (da, dp, ca) = (ip(2, d), 8080 + dp, ip(0, c));
                let want: Vec<u32> = model
                    .iter()
                    .filter(|(_, o)| {
                        out_visible(o)
                            && o.protocol == p
                            && o.daddr == da
                            && o.dport == dp
                            && o.caddr == ca
                            && o.cport == cp
                    })
                    .map(|(h, _)| *h)
                    .collect();
                let got = t.lookup_out(p, da, dp, ca, cp).map(|h| h.0);
                match got {
                    None => prop_assert!(want.is_empty()),
                    Some(g) => prop_assert!(want.contains(&g)),
                }
            }
            Op::LookupTemplate(p, c, v, vp) => {
                let (ca, va, vp) = (ip(0, c), ip(1, v), 80 + vp);
                let want: Vec<u32> = model
                    .iter()
                    .filter(|(_, o)| {
                        o.flags.has(T)
                            && o.protocol == p
                            && o.caddr == ca
                            && o.vaddr == va
                            && o.vport == vp
                    })
                    .map(|(h, _)| *h)
                    .collect();
                prop_assert!(want.len() <= 1);
                prop_assert_eq!(
                    t.lookup_template(p, ca, va, vp).map(|h| h.0),
                    want.first().copied()
                );
            }
            Op::SetTimeout(i, ms) => {
                if let Some(h) = pick(&model, i) {
                    prop_assert!(t.set_timeout(ConnHandle(h), Instant::from_millis(now), ms));
                    let c = model.get_mut(&h).unwrap();
                    c.timeout_ms = ms;
                    c.expires = Instant::from_millis(now.saturating_add(u64::from(ms)));
                }
            }
            Op::Refresh(i) => {
                if let Some(h) = pick(&model, i) {
                    prop_assert!(t.refresh(ConnHandle(h), Instant::from_millis(now)));
                    let c = model.get_mut(&h).unwrap();
                    c.expires = Instant::from_millis(now.saturating_add(u64::from(c.timeout_ms)));
                }
            }
            Op::SetState(i, s) => {
                if let Some(h) = pick(&model, i) {
                    prop_assert!(t.set_state(ConnHandle(h), s));
                    model.get_mut(&h).unwrap().state = s;
                }
            }
            Op::OnPacket(i, f, s, ms, count) => {
                if let Some(h) = pick(&model, i) {
                    let at = Instant::from_millis(now);
                    prop_assert!(t.update_on_packet(ConnHandle(h), ConnFlags(f), s, at, ms, count));
                    let c = model.get_mut(&h).unwrap();
                    c.flags = ConnFlags((f & !T) | (c.flags.0 & T));
                    c.state = s;
                    c.timeout_ms = ms;
                    c.expires = Instant::from_millis(now.saturating_add(u64::from(ms)));
                    if count {
                        c.in_pkts = c.in_pkts.saturating_add(1);
                    }
                }
            }
            Op::SetFlags(i, f) => {
                if let Some(h) = pick(&model, i) {
                    prop_assert!(t.set_flags(ConnHandle(h), ConnFlags(f)));
                    let c = model.get_mut(&h).unwrap();
                    c.flags = ConnFlags((f & !T) | (c.flags.0 & T));
                }
            }
            Op::Invalidate(i) => {
                if let Some(h) = pick(&model, i) {
                    let c = model.get_mut(&h).unwrap();
                    let is_t = c.flags.has(T);
                    prop_assert_eq!(t.invalidate_template(ConnHandle(h)), is_t);
                    if is_t {
                        c.cport = 0xffff;
                        c.vport = 0xffff;
                        c.dport = 0xffff;
                    }
                }
            }
            Op::Evict => {
                let any_ho = model.values().any(half_open);
                match t.evict_half_open() {
                    None => prop_assert!(!any_ho),
                    Some((h, c)) => {
                        prop_assert!(half_open(&c));
                        prop_assert_eq!(model.remove(&h.0), Some(c));
                    }
                }
            }
            Op::Advance(dt) => {
                now = now.saturating_add(dt);
                let at = Instant::from_millis(now);
                let mut guard = 0;
                while let Some(h) = t.pop_expired(at) {
                    guard += 1;
                    prop_assert!(guard <= 10_000);
                    let c = model.get(&h.0).copied();
                    prop_assert!(c.is_some_and(|c| c.expires <= at), "popped {h:?} not due");
                    let c = c.unwrap();
                    // Re-arm templates as IPVS does; remove the rest.
                    if c.flags.has(T) && guard % 2 == 0 {
                        prop_assert!(t.set_timeout(h, at, 60_000));
                        let m = model.get_mut(&h.0).unwrap();
                        m.timeout_ms = 60_000;
                        m.expires = Instant::from_millis(now + 60_000);
                    } else {
                        prop_assert_eq!(t.remove(h), Some(c));
                        model.remove(&h.0);
                    }
                }
                prop_assert!(
                    model.values().all(|c| c.expires > at),
                    "an entry due at {now} was not reported"
                );
            }
        }
        check_all(&t, &model)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn table_matches_model(ops in proptest::collection::vec(op(), 1..200), seed in any::<u64>()) {
        run(ops, 24, seed)?;
    }

    #[test]
    fn tiny_tables_match_model(ops in proptest::collection::vec(op(), 1..100), slots in 0usize..6, seed in any::<u64>()) {
        run(ops, slots, seed)?;
    }
}
