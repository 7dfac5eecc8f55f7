//! Property tests: invariants every scheduler must keep whatever the list.
#![cfg(feature = "alloc")]

mod common;

use std::collections::BTreeMap;

use common::{Harness, client};
use lvs_core::{DestId, SchedFlags};
use lvs_schedulers::wrr::Wrr;
use lvs_schedulers::{AnyScheduler, Mh, NAMES, by_name};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Add(u32),
    Remove(usize),
    SetWeight(usize, u32),
    Overload(usize, bool),
    Conn(usize, bool),
    Pick(u32, u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u32..6).prop_map(Op::Add),
        1 => any::<usize>().prop_map(Op::Remove),
        2 => (any::<usize>(), 0u32..6).prop_map(|(i, w)| Op::SetWeight(i, w)),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, o)| Op::Overload(i, o)),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(i, a)| Op::Conn(i, a)),
        4 => (0u32..64, 0u16..4).prop_map(|(c, p)| Op::Pick(c, p)),
    ]
}

/// Assert that a pick is a listed, schedulable server.
fn check(
    h: &mut Harness<AnyScheduler>,
    c: u32,
    port: u16,
) -> Result<Option<DestId>, TestCaseError> {
    let got = h.pick(&client(c, port));
    if let Some(id) = got {
        prop_assert!(h.pos(id).is_some(), "{id:?} is not in the list");
        let r = h.slots.get(id.index());
        prop_assert!(
            r.is_some_and(|r| r.schedulable()),
            "{id:?} not schedulable: {r:?}"
        );
    }
    Ok(got)
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

proptest! {
    /// No scheduler ever returns a server that is not listed, not
    /// schedulable (weight 0, overloaded, removed) or out of range, through
    /// any sequence of list changes, including empty lists and all-zero
    /// weights. Weight 0 therefore never gets a new connection.
    #[test]
    fn never_unschedulable(flags in 0u8..4, ops in proptest::collection::vec(op(), 0..60)) {
        for &name in NAMES {
            let mut h = Harness::new(by_name(name, SchedFlags(flags)).unwrap());
            check(&mut h, 0, 0)?;
            for op in &ops {
                let n = h.order.len();
                match *op {
                    Op::Add(w) => { h.add(w); }
                    Op::Remove(i) if n > 0 => { let id = h.order[i % n]; h.remove(id); }
                    Op::SetWeight(i, w) if n > 0 => { let id = h.order[i % n]; h.set_weight(id, w); }
                    Op::Overload(i, o) if n > 0 => { let id = h.order[i % n]; h.set_overloaded(id, o); }
                    Op::Conn(i, a) if n > 0 => { let id = h.order[i % n]; h.server(id).bind_conn(a); }
                    Op::Pick(c, p) => {
                        if let Some(id) = check(&mut h, c, p)? {
                            h.server(id).bind_conn(c % 3 == 0);
                        }
                    }
                    _ => {}
                }
                check(&mut h, 7, 7)?;
            }
            // All weights zero: nobody.
            let ids = h.order.clone();
            for id in ids {
                h.set_weight(id, 0);
            }
            for c in 0..8 {
                prop_assert_eq!(check(&mut h, c, c as u16)?, None, "{}", name);
            }
        }
    }

    /// Over a full wrr cycle (sum of weight/gcd picks) each server gets
    /// exactly weight/gcd picks, whatever phase the cycle starts in, and
    /// weight-0 servers get none.
    #[test]
    fn wrr_cycle_is_exact(weights in proptest::collection::vec(0u32..13, 1..8)) {
        prop_assume!(weights.iter().any(|&w| w > 0));
        let g = weights.iter().fold(0, |g, &w| gcd(w, g));
        let period: u32 = weights.iter().map(|w| w / g).sum();
        let (mut h, ids) = Harness::with_list(Wrr::new(), &weights);
        for _cycle in 0..3 {
            let mut counts = vec![0u32; ids.len()];
            for _ in 0..period {
                let got = h.pick(&client(1, 1));
                let i = ids.iter().position(|&d| Some(d) == got);
                prop_assert!(i.is_some(), "no pick: {got:?}");
                counts[i.unwrap()] += 1;
            }
            let want: Vec<u32> = weights.iter().map(|w| w / g).collect();
            prop_assert_eq!(counts, want);
        }
    }

    /// sh, dh and mh give the same server for the same key, however many
    /// other picks happen in between.
    #[test]
    fn hashing_is_stable(
        flags in 0u8..4,
        weights in proptest::collection::vec(1u32..6, 1..10),
        keys in proptest::collection::vec((0u32..10_000, any::<u16>()), 1..40),
    ) {
        for name in ["sh", "dh", "mh"] {
            let (mut h, _) = Harness::with_list(by_name(name, SchedFlags(flags)).unwrap(), &weights);
            let first: Vec<_> = keys.iter().map(|&(c, p)| h.pick(&client(c, p))).collect();
            let again: Vec<_> = keys.iter().rev().map(|&(c, p)| h.pick(&client(c, p))).collect();
            let again: Vec<_> = again.into_iter().rev().collect();
            prop_assert!(first.iter().all(Option::is_some), "{}", name);
            prop_assert_eq!(first, again, "{}", name);
        }
    }

    /// Removing one of N equally weighted servers from mh moves the keys of
    /// the removed server (about 1/N) and few others.
    #[test]
    fn mh_removal_is_consistent(n in 2usize..24, victim in any::<usize>(), salt in any::<u32>()) {
        let weights = vec![1u32; n];
        let (mut h, ids) = Harness::with_list(Mh::default(), &weights);
        const KEYS: u32 = 4000;
        let before: Vec<_> = (0..KEYS).map(|k| h.pick(&client(k.wrapping_mul(7919) ^ salt, 0))).collect();
        let gone = ids[victim % n];
        h.remove(gone);
        let after: Vec<_> = (0..KEYS).map(|k| h.pick(&client(k.wrapping_mul(7919) ^ salt, 0))).collect();
        let mut moved = 0usize;
        let mut survivors_moved = 0usize;
        for (b, a) in before.iter().zip(&after) {
            prop_assert!(a.is_some() && *a != Some(gone));
            if b != a {
                moved += 1;
                if *b != Some(gone) {
                    survivors_moved += 1;
                }
            }
        }
        let k = KEYS as usize;
        // The removed server owned about 1/N of the keys; allow 4% of slack
        // for sampling and for Maglev's own small disruption.
        prop_assert!(moved <= k / n + k * 4 / 100, "moved {moved} of {k} with n={n}");
        prop_assert!(survivors_moved <= k * 4 / 100, "survivors moved {survivors_moved} of {k}, n={n}");
    }
}

/// A tally that makes the mh bound above meaningful: the keys really are
/// spread, so "moved at most 1/N" is not satisfied trivially.
#[test]
fn mh_spreads_keys() {
    let (mut h, ids) = Harness::with_list(Mh::default(), &[1; 8]);
    let mut tally: BTreeMap<DestId, usize> = BTreeMap::new();
    for k in 0..8000u32 {
        *tally
            .entry(h.pick(&client(k * 7919, 0)).unwrap())
            .or_default() += 1;
    }
    assert_eq!(tally.len(), ids.len());
    for (&id, &c) in &tally {
        assert!((700..=1300).contains(&c), "{id:?}: {c}");
    }
}
