//! Connection table scenarios: SYN flood shedding, large capacities, slot size.
#![cfg(feature = "alloc")]

use std::net::{Ipv4Addr, Ipv6Addr};

use lvs_core::Instant;
use lvs_core::conn::{ConnFlags, ConnHandle, ConnTable, Connection, InsertError, Slot, TcpState};

fn conn(i: u32, state: TcpState, now: u64, timeout_ms: u32) -> Connection<Ipv4Addr> {
    Connection {
        caddr: Ipv4Addr::from(0x0a00_0000 | (i >> 16)),
        vaddr: Ipv4Addr::new(192, 0, 2, 1),
        daddr: Ipv4Addr::new(172, 16, 0, (i % 7) as u8),
        cport: (i & 0xffff) as u16,
        vport: 80,
        dport: 80,
        protocol: 6,
        state: state as u8,
        flags: ConnFlags(0),
        service: 0,
        dest: 0,
        control: ConnHandle::NONE,
        n_control: 0,
        in_pkts: 1,
        timeout_ms,
        expires: Instant::from_millis(now + u64::from(timeout_ms)),
    }
}

#[test]
fn slot_fits_a_cache_line() {
    assert!(size_of::<Slot<Ipv4Addr>>() <= 64);
    assert_eq!(size_of::<Slot<Ipv6Addr>>(), 128, "two aligned lines");
    assert_eq!(
        align_of::<Slot<Ipv4Addr>>(),
        64,
        "one line, never straddling two"
    );
}

#[test]
fn static_array_storage() {
    static_assertions_like();
    fn static_assertions_like() {
        let mut t: ConnTable<Ipv4Addr, [Slot<Ipv4Addr>; 8]> = ConnTable::new([Slot::EMPTY; 8], 42);
        assert_eq!(t.capacity(), 6);
        for i in 0..6 {
            t.insert(conn(i, TcpState::Established, 0, 1000)).unwrap();
        }
        assert_eq!(
            t.insert(conn(99, TcpState::Established, 0, 1000)),
            Err(InsertError::Full)
        );
    }
}

/// Fill with established connections, then flood SYN_RECV entries; a full
/// table sheds only half-open ones and every established entry survives.
#[test]
fn syn_flood_never_evicts_established() {
    let established = 6_000u32;
    let mut t = ConnTable::<Ipv4Addr, _>::with_capacity(10_000, 0x5eed);
    let cap = t.capacity() as u32;
    let mut now = 0u64;
    let mut est = Vec::new();
    for i in 0..established {
        est.push(
            t.insert(conn(i, TcpState::Established, now, 900_000))
                .unwrap(),
        );
    }
    // SYN flood: 10x the capacity in spoofed half-open entries.
    let mut evicted = 0u32;
    let mut last_evicted: Option<u32> = None;
    for j in 0..cap * 10 {
        now += 1;
        let c = conn(1_000_000 + j, TcpState::SynRecv, now, 60_000);
        let h = match t.insert(c) {
            Ok(h) => h,
            Err(InsertError::Full) => {
                let (_, old) = t.evict_half_open().expect("a half-open entry to shed");
                assert_eq!(old.state, TcpState::SynRecv as u8);
                // Oldest first: evicted in insertion (= expiry) order.
                let id = u32::from(old.cport) | (u32::from(old.caddr) & 0xffff) << 16;
                if let Some(prev) = last_evicted {
                    assert!(id > prev, "evicted {id} after {prev}");
                }
                last_evicted = Some(id);
                evicted += 1;
                t.insert(c).expect("room after eviction")
            }
            Err(e) => panic!("{e:?}"),
        };
        assert!(t.contains(h));
        assert!(t.len() <= t.capacity());
    }
    assert!(evicted > 0);
    assert_eq!(t.len() as u32, cap);
    for (i, h) in est.iter().enumerate() {
        let c = conn(i as u32, TcpState::Established, 0, 900_000);
        assert_eq!(t.lookup_in(6, c.caddr, c.cport, c.vaddr, c.vport), Some(*h));
        assert_eq!(
            t.lookup_out(6, c.daddr, c.dport, c.caddr, c.cport),
            Some(*h)
        );
        assert_eq!(t.get(*h).unwrap().state, TcpState::Established as u8);
    }
    // Once only established remain, nothing more can be evicted.
    while t.evict_half_open().is_some() {}
    assert_eq!(t.len() as u32, established);
    assert_eq!(t.evict_half_open(), None);
}

fn fill_and_check(n: u32) {
    let mut t = ConnTable::<Ipv4Addr, _>::with_capacity(n as usize, 7);
    assert!(t.capacity() >= n as usize);
    let mut hs = Vec::with_capacity(n as usize);
    for i in 0..n {
        hs.push(
            t.insert(conn(i, TcpState::Established, 0, 1000 + i % 5000))
                .unwrap(),
        );
    }
    assert_eq!(t.len(), n as usize);
    for i in (0..n).step_by(3) {
        let c = conn(i, TcpState::Established, 0, 0);
        assert_eq!(
            t.lookup_in(6, c.caddr, c.cport, c.vaddr, c.vport),
            Some(hs[i as usize])
        );
    }
    // Expire everything: each entry comes out once, in time order.
    let mut last = 0;
    let mut count = 0;
    let end = Instant::from_millis(10_000);
    while let Some(h) = t.pop_expired(end) {
        let c = t.remove(h).unwrap();
        assert!(c.expires.as_millis() >= last);
        last = c.expires.as_millis();
        count += 1;
    }
    assert_eq!(count, n);
    assert!(t.is_empty());
}

#[test]
fn capacity_100k() {
    fill_and_check(100_000);
}

#[test]
#[ignore = "slow in debug builds; run with --ignored (or --release)"]
fn capacity_1m() {
    fill_and_check(1_000_000);
}
