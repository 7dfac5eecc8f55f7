//! Long insert/remove churn at a steady load must never report a full table:
//! removal has to give slots back for good (no tombstone build-up).

use std::net::Ipv4Addr;

use lvs_core::Instant;
use lvs_core::conn::{ConnFlags, ConnHandle, ConnTable, Connection, InsertError, Slot, TcpState};

fn conn(i: u32) -> Connection<Ipv4Addr> {
    Connection {
        caddr: Ipv4Addr::from(0x6440_0000 | (i >> 14)),
        vaddr: Ipv4Addr::new(203, 0, 113, 10),
        daddr: Ipv4Addr::new(198, 51, 100, 11),
        cport: 1024 + (i & 0x3fff) as u16,
        vport: 80,
        dport: 8080,
        protocol: 6,
        state: TcpState::Established as u8,
        flags: ConnFlags(0),
        service: 0,
        dest: 0,
        control: ConnHandle::NONE,
        n_control: 0,
        in_pkts: 1,
        timeout_ms: 900_000,
        expires: Instant::from_secs(900),
    }
}

#[test]
fn steady_churn_never_fills() {
    for &n in &[1_000u32] {
        let cap = n as usize + n as usize / 4;
        let mut t: ConnTable<Ipv4Addr, Vec<Slot<Ipv4Addr>>> = ConnTable::with_capacity(cap, 7);
        let mut handles = std::collections::VecDeque::new();
        for i in 0..n {
            handles.push_back(t.insert(conn(i)).unwrap());
        }
        for i in n..n * 1500 {
            match t.insert(conn(i)) {
                Ok(h) => handles.push_back(h),
                Err(InsertError::Full) => {
                    let mut occ = vec![false; t.slots()];
                    for (h, _) in t.iter() {
                        occ[h.0 as usize] = true;
                    }
                    let (mut run, mut best) = (0, 0);
                    for o in occ.iter().chain(occ.iter()) {
                        if *o {
                            run += 1;
                            best = best.max(run);
                        } else {
                            run = 0;
                        }
                    }
                    panic!(
                        "full at len {} of {} ({} slots, {} occupied, longest run {}) after {} churns",
                        t.len(),
                        t.capacity(),
                        t.slots(),
                        occ.iter().filter(|o| **o).count(),
                        best,
                        i - n
                    )
                }
                Err(e) => panic!("{e}"),
            }
            let old = handles.pop_front().unwrap();
            assert!(t.remove(old).is_some());
            assert_eq!(t.len(), n as usize);
        }
        // With a well-mixed hash, runs of occupied slots stay short at 60%
        // load; a structured hash lets them grow into the hundreds.
        let mut occ = vec![false; t.slots()];
        for (h, _) in t.iter() {
            occ[h.0 as usize] = true;
        }
        let (mut run, mut best) = (0, 0);
        for o in occ.iter().chain(occ.iter()) {
            if *o {
                run += 1;
                best = best.max(run);
            } else {
                run = 0;
            }
        }
        assert!(best < 64, "longest run of occupied slots {best}");
    }
}
