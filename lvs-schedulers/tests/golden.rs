//! Golden sequences: IPVS's selection rules on small, hand-traced lists.
#![cfg(feature = "alloc")]

mod common;

use common::{Harness, client, flow_from, rs_addr, vip};
use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use lvs_core::service::Service;
use lvs_core::{DestId, RealServerConfig, SchedFlags, Scheduler, ServiceConfig};
use lvs_schedulers::hash::hash_32;
use lvs_schedulers::{Dh, Lc, Mh, NAMES, Nq, Rr, Sed, Sh, Wlc, Wrr, boxed_by_name, by_name};

const FALLBACK: SchedFlags = SchedFlags(SchedFlags::FLAG1);
const PORT: SchedFlags = SchedFlags(SchedFlags::FLAG2);

fn letters(svc: &mut Service, ids: &[DestId], n: usize) -> String {
    let f = client(1, 1000);
    (0..n)
        .map(|_| match svc.pick(&f) {
            Some(id) => (b'A' + ids.iter().position(|&d| d == id).unwrap() as u8) as char,
            None => '-',
        })
        .collect()
}

/// A real `Service` whose list reads `weights` from the head: servers are
/// added in reverse, as IPVS puts each new one first.
fn service(sched: &str, weights: &[u32]) -> (Service, Vec<DestId>) {
    let mut svc = Service::new(
        ServiceConfig::tcp(vip()),
        boxed_by_name(sched, SchedFlags::default()).unwrap(),
    );
    let mut ids: Vec<DestId> = weights
        .iter()
        .enumerate()
        .rev()
        .map(|(i, &w)| {
            svc.add_server(RealServerConfig::new(rs_addr(i as u32 + 1)).weight(w))
                .unwrap()
        })
        .collect();
    ids.reverse();
    (svc, ids)
}

/// Weights 4, 3, 2 in list order A, B, C: the cycle is `AABABCABC`.
///
/// Added one by one (C, then B, then A, as `Service` and ipvsadm do), IPVS's
/// `dest_changed` keeps `cw` when it is still in range: adding C sets
/// cw = mw = 1, adding B and A keeps cw = 1. So the kernel starts with the
/// last lap of a cycle (`ABC`, cw = 1) and then repeats the full cycle.
/// After a reset (`ipvsadm -E -s wrr` on the full list) cw = mw = 4 and the
/// cycle starts at its beginning.
#[test]
fn wrr_432_is_aababcabc() {
    let (mut svc, ids) = service("wrr", &[4, 3, 2]);
    let seq = letters(&mut svc, &ids, 30);
    assert_eq!(&seq[..3], "ABC", "kernel phase after incremental adds");
    assert_eq!(&seq[3..], "AABABCABC".repeat(3));

    svc.set_scheduler(boxed_by_name("wrr", SchedFlags::default()).unwrap());
    assert_eq!(letters(&mut svc, &ids, 27), "AABABCABC".repeat(3));
}

#[test]
fn wrr_42_is_aab() {
    // Incremental: adding B (w 2) gives di 2, mw 1, cw 1; adding A (w 4)
    // gives di 2, mw 3, cw (1 / 2) * 2 + 1 = 1. So the first lap is cw = 1.
    let (mut svc, ids) = service("wrr", &[4, 2]);
    let seq = letters(&mut svc, &ids, 14);
    assert_eq!(&seq[..2], "AB");
    assert_eq!(&seq[2..], "AAB".repeat(4));
    svc.set_scheduler(boxed_by_name("wrr", SchedFlags::default()).unwrap());
    assert_eq!(letters(&mut svc, &ids, 12), "AAB".repeat(4));

    let (mut h, ids) = Harness::with_list(Wrr::new(), &[4, 2]);
    assert_eq!(h.sched.gcd_weight(), 2);
    assert_eq!(h.sched.max_weight(), 3);
    assert_eq!(h.sched.current_weight(), 1);
    assert_eq!(h.letters(&ids, 8), "ABAABAAB");
}

#[test]
fn wrr_skips_weight0_and_overloaded_and_resets_on_edit() {
    // Added C (w 1), B (w 0), A (w 2): cw stays 1, so the first lap is cw 1.
    let (mut h, ids) = Harness::with_list(Wrr::new(), &[2, 0, 1]);
    assert_eq!(h.letters(&ids, 8), "ACAACAAC");
    h.set_overloaded(ids[0], true);
    assert_eq!(h.letters(&ids, 3), "CCC");
    h.set_overloaded(ids[0], false);
    // An edit sends the cursor back to the head.
    h.set_weight(ids[1], 2);
    let s = h.letters(&ids, 5);
    assert_eq!(s.matches('A').count(), 2, "{s}");
    assert_eq!(s.matches('B').count(), 2, "{s}");
    assert_eq!(s.matches('C').count(), 1, "{s}");
    // All weights zero: nothing.
    for &id in &ids {
        h.set_weight(id, 0);
    }
    assert_eq!(h.letters(&ids, 3), "---");
    assert_eq!(h.sched.max_weight(), 0);
}

#[test]
fn wrr_all_overloaded_returns_none_then_recovers() {
    let (mut h, ids) = Harness::with_list(Wrr::new(), &[3, 1]);
    h.set_overloaded(ids[0], true);
    h.set_overloaded(ids[1], true);
    assert_eq!(h.letters(&ids, 2), "--");
    h.set_overloaded(ids[1], false);
    assert_eq!(h.letters(&ids, 2), "BB");
}

#[test]
fn rr_skips_weight0_and_overloaded() {
    let (mut h, ids) = Harness::with_list(Rr::new(), &[1, 0, 1, 1]);
    h.set_overloaded(ids[2], true);
    assert_eq!(h.letters(&ids, 6), "ADADAD");
    h.set_overloaded(ids[2], false);
    assert_eq!(h.letters(&ids, 3), "ACD");
    h.set_weight(ids[0], 0);
    h.set_weight(ids[2], 0);
    h.set_weight(ids[3], 0);
    assert_eq!(h.letters(&ids, 2), "--");
}

#[test]
fn rr_cursor_follows_list_changes() {
    let (mut h, ids) = Harness::with_list(Rr::new(), &[1, 1, 1, 1]);
    assert_eq!(h.letters(&ids, 2), "AB");
    // Removing the server under the cursor moves the cursor back one: C is next.
    h.remove(ids[1]);
    assert_eq!(h.letters(&ids, 1), "C");
    // A server added at the head does not change who is next.
    let e = h.add(1);
    let mut all = ids.clone();
    all.push(e);
    assert_eq!(h.letters(&all, 3), "DEA");
    // Removing the head while the cursor is on it: back to the list head.
    let (mut h, ids) = Harness::with_list(Rr::new(), &[1, 1, 1]);
    assert_eq!(h.letters(&ids, 1), "A");
    h.remove(ids[0]);
    assert_eq!(h.letters(&ids, 3), "BCB");
}

#[test]
fn rr_empty_list() {
    let mut h = Harness::new(Rr::new());
    assert_eq!(h.pick(&client(1, 1)), None);
}

#[test]
fn lc_first_minimum_wins_and_ignores_weight() {
    let (mut h, ids) = Harness::with_list(Lc::new(), &[1, 100, 1]);
    assert_eq!(h.letters(&ids, 1), "A", "all idle: first in list");
    h.server(ids[0]).bind_conn(true); // 256
    h.server(ids[1]).inactive_conns = 255; // 255
    h.server(ids[2]).inactive_conns = 255; // 255, later: loses the tie
    assert_eq!(h.letters(&ids, 1), "B");
    h.server(ids[1]).inactive_conns = 257;
    assert_eq!(h.letters(&ids, 1), "C");
    h.set_weight(ids[2], 0);
    assert_eq!(h.letters(&ids, 1), "A", "weight 0 never wins");
}

#[test]
fn wlc_cross_multiplies_and_first_wins() {
    let (mut h, ids) = Harness::with_list(Wlc::new(), &[1, 2, 0]);
    h.server(ids[0]).active_conns = 1; // 256 / 1
    h.server(ids[1]).active_conns = 2; // 512 / 2: tie
    assert_eq!(h.letters(&ids, 1), "A", "tie: first in list wins");
    h.set_weight(ids[1], 3); // 512 / 3 < 256
    assert_eq!(h.letters(&ids, 1), "B");
    // Weight 0 and idle still never wins.
    assert_ne!(h.pick(&client(1, 1)), Some(ids[2]));
    h.set_overloaded(ids[1], true);
    assert_eq!(h.letters(&ids, 1), "A");
    // Huge counts do not overflow the comparison.
    h.set_overloaded(ids[1], false);
    h.server(ids[0]).active_conns = u32::MAX;
    h.server(ids[1]).active_conns = u32::MAX - 1;
    h.set_weight(ids[0], 65_535);
    h.set_weight(ids[1], 65_535);
    assert_eq!(h.letters(&ids, 1), "B");
}

#[test]
fn sed_counts_the_new_connection() {
    // A: (0+1)/1 = 1; B: (1+1)/3 = 0.67 -> B, where wlc picks idle A.
    let (mut h, ids) = Harness::with_list(Sed::new(), &[1, 3]);
    h.server(ids[1]).active_conns = 1;
    h.server(ids[1]).inactive_conns = 1000; // ignored by sed
    assert_eq!(h.letters(&ids, 1), "B");
    let (mut w, wids) = Harness::with_list(Wlc::new(), &[1, 3]);
    w.server(wids[1]).active_conns = 1;
    assert_eq!(w.letters(&wids, 1), "A");
    // Tie: (1+1)/2 vs (0+1)/1 -> first.
    let (mut h, ids) = Harness::with_list(Sed::new(), &[2, 1]);
    h.server(ids[0]).active_conns = 1;
    assert_eq!(h.letters(&ids, 1), "A");
}

#[test]
fn nq_returns_first_idle_else_sed() {
    let (mut h, ids) = Harness::with_list(Nq::new(), &[5, 1, 1]);
    h.server(ids[0]).active_conns = 1;
    assert_eq!(
        h.letters(&ids, 1),
        "B",
        "first idle server, not the sed minimum"
    );
    h.server(ids[1]).active_conns = 1;
    assert_eq!(h.letters(&ids, 1), "C");
    h.server(ids[2]).active_conns = 1;
    // All busy: sed -> (1+1)/5 is least.
    assert_eq!(h.letters(&ids, 1), "A");
    // An idle server with weight 0 is skipped.
    h.server(ids[2]).active_conns = 0;
    h.set_weight(ids[2], 0);
    assert_eq!(h.letters(&ids, 1), "A");
}

#[test]
fn sh_fill_is_weight_proportional_per_lap() {
    let (h, ids) = Harness::with_list(Sh::default(), &[3, 1, 0]);
    let want = [ids[0], ids[0], ids[0], ids[1], ids[2]];
    for i in 0..256 {
        assert_eq!(h.sched.bucket(i), Some(want[i % 5]), "bucket {i}");
    }
    let empty = Harness::new(Sh::default());
    assert_eq!(empty.sched.bucket(0), None);
}

#[test]
fn sh_hash_is_ipvs_hash_32() {
    // 192.0.2.77 -> hash_32(0xc000024d, 8) = 58, computed by hand.
    let f = flow_from("192.0.2.77:5000".parse().unwrap());
    assert_eq!(Sh::default().bucket_of(&f), 58);
    assert_eq!(hash_32(0xc000_024d, 8), 58);
    // With sh-port the port is added to the folded address first.
    assert_eq!(
        Sh::new(PORT).bucket_of(&f),
        hash_32(0xc000_024d + 5000, 8) as usize
    );
}

#[test]
fn sh_weight0_without_fallback_is_none_with_fallback_probes() {
    for flags in [SchedFlags::default(), FALLBACK] {
        let (mut h, ids) = Harness::with_list(Sh::new(flags), &[1, 1, 1, 1]);
        let f = client(7, 1234);
        let home = h.pick(&f).unwrap();
        assert_eq!(h.pick(&f), Some(home));
        // Quiesce it without changing the table: the table is rebuilt on edit,
        // but weight 0 still owns its bucket (one per lap).
        h.set_weight(home, 0);
        assert_eq!(h.sched.bucket(h.sched.bucket_of(&f)), Some(home));
        let got = h.pick(&f);
        if flags.fallback() {
            // IPVS probes (2 * bucket + k) & 255 for k = 0, 1, ...
            let b = h.sched.bucket_of(&f);
            let want = (0..256)
                .map(|k| h.sched.bucket((2 * b + k) & 255).unwrap())
                .find(|&id| id != home);
            assert_eq!(got, want);
            assert!(ids.contains(&got.unwrap()));
        } else {
            assert_eq!(got, None);
        }
        h.set_overloaded(home, true);
        h.set_weight(home, 1);
        assert_eq!(h.pick(&f).is_some(), flags.fallback());
    }
}

#[test]
fn sh_port_flag_spreads_one_client_over_servers() {
    let ip: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
    for (flags, spread) in [(SchedFlags::default(), false), (PORT, true)] {
        let (mut h, _) = Harness::with_list(Sh::new(flags), &[1, 1, 1, 1]);
        let mut seen = std::collections::BTreeSet::new();
        for port in 1000..1064 {
            seen.insert(h.pick(&flow_from(SocketAddr::new(ip, port))).unwrap());
        }
        assert_eq!(seen.len() > 1, spread, "{flags:?}");
    }
}

#[test]
fn dh_hashes_destination_ignores_weights_and_flags() {
    let (mut h, ids) = Harness::with_list(Dh::new(), &[5, 1]);
    for i in 0..256 {
        assert_eq!(h.sched.bucket(i), Some(ids[i % 2]), "weights are ignored");
    }
    let mut f = client(1, 1);
    let first = h.pick(&f).unwrap();
    for c in 2..50 {
        f.client = client(c, c as u16).client;
        assert_eq!(h.pick(&f), Some(first), "client does not matter");
    }
    // 192.0.2.1 -> hash_32(0xc0000201, 8).
    let want = (0xc000_0201u32.wrapping_mul(0x61C8_8647) >> 24) as usize;
    assert_eq!(Dh::bucket_of(&f), want);
    assert_eq!(first, ids[want % 2]);
    h.set_weight(first, 0);
    assert_eq!(h.pick(&f), None, "no fallback");
    // by_name ignores flags for dh.
    let mut d = by_name("dh", FALLBACK).unwrap();
    let (slots, order) = (&h.slots, &h.order);
    d.update(
        lvs_core::DestView::new(slots, order),
        lvs_core::DestChange::Reset,
    );
    assert_eq!(d.pick(lvs_core::DestView::new(slots, order), &f), None);
}

#[test]
fn mh_equal_weights_fill_evenly_and_weights_proportionally() {
    let (h, ids) = Harness::with_list(Mh::default(), &[1, 1, 1, 1, 1]);
    let counts: Vec<usize> = ids
        .iter()
        .map(|&id| (0..4093).filter(|&i| h.sched.bucket(i) == Some(id)).count())
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 4093);
    for c in &counts {
        assert!((818..=819).contains(c), "{counts:?}");
    }
    let (h, ids) = Harness::with_list(Mh::default(), &[2, 1]);
    let a = (0..4093)
        .filter(|&i| h.sched.bucket(i) == Some(ids[0]))
        .count();
    assert_eq!(a, 2729, "turns 2:1, A claims every second and third slot");
}

#[test]
fn mh_weight0_keeps_slots_fallback_moves_on() {
    for flags in [SchedFlags::default(), FALLBACK] {
        let (mut h, ids) = Harness::with_list(Mh::new(flags), &[1, 1, 1]);
        let before: Vec<_> = (0..4093).map(|i| h.sched.bucket(i)).collect();
        let f = client(3, 3);
        let home = h.pick(&f).unwrap();
        h.set_weight(home, 0);
        let after: Vec<_> = (0..4093).map(|i| h.sched.bucket(i)).collect();
        assert_eq!(before, after, "last_weight keeps the table");
        let got = h.pick(&f);
        assert_eq!(got.is_some(), flags.fallback());
        assert_ne!(got, Some(home));
        h.set_weight(home, 1);
        assert_eq!(h.pick(&f), Some(home));
        assert!(ids.contains(&home));
    }
}

#[test]
fn mh_port_flag() {
    let ip: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
    for (flags, spread) in [
        (SchedFlags::default(), false),
        (SchedFlags(SchedFlags::FLAG1 | SchedFlags::FLAG2), true),
    ] {
        let (mut h, _) = Harness::with_list(Mh::new(flags), &[1, 1, 1, 1]);
        let mut seen = std::collections::BTreeSet::new();
        for port in 1000..1064 {
            seen.insert(h.pick(&flow_from(SocketAddr::new(ip, port))).unwrap());
        }
        assert_eq!(seen.len() > 1, spread, "{flags:?}");
    }
}

#[test]
fn mh_table_sizes_and_overfull() {
    for size in lvs_schedulers::mh::TABLE_SIZES {
        let (mut h, ids) =
            Harness::with_list(Mh::with_table_size(size, FALLBACK).unwrap(), &[3, 1]);
        assert_eq!(h.sched.table_len(), size);
        let a = (0..size)
            .filter(|&i| h.sched.bucket(i) == Some(ids[0]))
            .count();
        assert_eq!(
            a + (0..size)
                .filter(|&i| h.sched.bucket(i) == Some(ids[1]))
                .count(),
            size
        );
        assert!(
            a * 4 >= size * 3 - 4 && a * 4 <= size * 3 + 4,
            "{size}: {a}"
        );
        assert!(h.pick(&client(1, 1)).is_some());
    }
    assert!(Mh::with_table_size(4096, SchedFlags::default()).is_err());
    // More servers than slots: IPVS refuses to build; we serve nobody.
    let mut h = Harness::new(Mh::with_table_size(251, SchedFlags::default()).unwrap());
    for _ in 0..251 {
        h.add(1);
    }
    assert!(!h.sched.is_overfull());
    assert!((0..251).all(|i| h.sched.bucket(i).is_some()));
    let last = h.add(1);
    assert!(h.sched.is_overfull());
    assert_eq!(h.pick(&client(1, 1)), None);
    h.remove(last);
    assert!(!h.sched.is_overfull());
    assert!(h.pick(&client(1, 1)).is_some());
}

#[test]
fn sh_table_bits() {
    for bits in 4..=12 {
        let (mut h, _) =
            Harness::with_list(Sh::with_bits(bits, SchedFlags::default()).unwrap(), &[1, 2]);
        assert_eq!(h.sched.table_len(), 1 << bits);
        assert!(h.pick(&client(9, 9)).is_some());
    }
    assert!(Sh::with_bits(3, SchedFlags::default()).is_err());
    assert!(Sh::with_bits(21, SchedFlags::default()).is_err());
}

#[test]
fn every_scheduler_works_inside_service_and_never_picks_weight0() {
    for &name in NAMES {
        let (mut svc, ids) = service(name, &[0, 1, 0, 2]);
        assert_eq!(svc.scheduler_name(), name);
        for c in 0..200 {
            let f = client(c, c as u16);
            if let Some(id) = svc.pick(&f) {
                assert!(id == ids[1] || id == ids[3], "{name}");
                svc.server_mut(id).unwrap().bind_conn(c % 2 == 0);
            }
        }
        // Non-hashing schedulers always find a server here.
        if !matches!(name, "sh" | "dh" | "mh") {
            assert!(svc.pick(&client(1, 1)).is_some(), "{name}");
        }
    }
}

#[test]
fn every_scheduler_builds_with_8_64_1024_servers() {
    for &name in NAMES {
        for n in [8u32, 64, 1024] {
            let mut h = Harness::new(by_name(name, FALLBACK).unwrap());
            for i in 0..n {
                h.add(1 + i % 5);
            }
            let mut hits = 0;
            for c in 0..64 {
                if let Some(id) = h.pick(&client(c, 80)) {
                    assert!(h.slots[id.index()].schedulable());
                    hits += 1;
                }
            }
            assert_eq!(hits, 64, "{name} with {n} servers");
        }
    }
}
