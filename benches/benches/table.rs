//! Connection table: insert, lookup (hit and miss) and expiry at 1 thousand
//! and 1 million live entries (IPv4). Keys are spread so that lookups miss
//! the CPU caches the way a busy director's do.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant as StdInstant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use lvs_core::Instant;
use lvs_core::conn::{ConnFlags, ConnHandle, ConnTable, Connection, Slot, TcpState};

const VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const RS: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 11);

fn client(i: u32) -> (Ipv4Addr, u16) {
    // 2^16 ports per address, addresses from 10/8-like space mapped into
    // 100.64/10 shaped values: only the bits matter for the hash.
    (
        Ipv4Addr::from(0x6440_0000 | (i >> 14)),
        1024 + (i & 0x3fff) as u16,
    )
}

fn conn(i: u32, expires: Instant) -> Connection<Ipv4Addr> {
    let (caddr, cport) = client(i);
    Connection {
        caddr,
        vaddr: VIP,
        daddr: RS,
        cport,
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
        expires,
    }
}

fn filled(n: u32, cap: usize) -> ConnTable<Ipv4Addr, Vec<Slot<Ipv4Addr>>> {
    let mut t = ConnTable::with_capacity(cap, 0xdead_beef);
    for i in 0..n {
        t.insert(conn(i, Instant::from_secs(900))).expect("fill");
    }
    t
}

/// A cheap permutation of 0..n so consecutive lookups land far apart.
fn scatter(i: u64, n: u32) -> u32 {
    (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32 % n
}

fn bench_table(c: &mut Criterion) {
    let mut g = c.benchmark_group("conn_table");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    for &n in &[1_000u32, 1_000_000] {
        let mut t = filled(n, n as usize + n as usize / 4);
        let mut k = 0u64;
        g.bench_with_input(BenchmarkId::new("lookup_hit", n), &n, |b, &n| {
            b.iter(|| {
                k += 1;
                let (ca, cp) = client(scatter(k, n));
                black_box(t.lookup_in(6, ca, cp, VIP, 80))
            })
        });
        g.bench_with_input(BenchmarkId::new("lookup_miss", n), &n, |b, &n| {
            b.iter(|| {
                k += 1;
                let (ca, cp) = client(n + scatter(k, n));
                black_box(t.lookup_in(6, ca, cp, VIP, 80))
            })
        });
        g.bench_with_input(BenchmarkId::new("lookup_out_hit", n), &n, |b, &n| {
            b.iter(|| {
                k += 1;
                let (ca, cp) = client(scatter(k, n));
                black_box(t.lookup_out(6, RS, 8080, ca, cp))
            })
        });
        // Insert into a table holding n entries: each iteration inserts a
        // new key and removes the oldest, so the load stays at n.
        let mut next = n;
        g.bench_with_input(BenchmarkId::new("insert_remove", n), &n, |b, &n| {
            b.iter(|| {
                let h = t
                    .insert(conn(next, Instant::from_secs(900)))
                    .expect("insert");
                black_box(h);
                let (ca, cp) = client(next - n);
                if let Some(old) = t.lookup_in(6, ca, cp, VIP, 80) {
                    t.remove(old);
                }
                next += 1;
            })
        });
        // Expiry: time only pop_expired + remove of due entries.
        g.bench_with_input(BenchmarkId::new("expire", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                let mut round = 0u64;
                while left > 0 {
                    let batch = left.min(u64::from(n));
                    let mut t = filled(0, n as usize + n as usize / 4);
                    round += 1;
                    let due = Instant::from_secs(round);
                    for i in 0..batch as u32 {
                        t.insert(conn(i, due)).expect("fill");
                    }
                    let now = Instant::from_secs(round + 1);
                    let start = StdInstant::now();
                    for _ in 0..batch {
                        let h = t.pop_expired(now).expect("due");
                        t.remove(h);
                    }
                    total += start.elapsed();
                    left -= batch;
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_table);
criterion_main!(benches);
