//! Per-packet cost of `Director::process`: an established flow for VS/NAT,
//! VS/TUN and VS/DR over IPv4 and IPv6, with 1 thousand and 1 million live
//! connections, one frame at a time and in batches of 32; and a new TCP
//! connection (SYN). Each iteration copies a 74-byte frame into the buffer
//! and patches in the client of the next connection of a scattered walk over
//! all of them (the rewrite is in place); that is included in the figure.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lvs_benches::{HEAD, client, director, patch_client, tcp_frame};
use lvs_core::Instant;
use lvs_core::conn::TcpState;
use lvs_forwarding::{BatchItem, Offload, Verdict};

fn bench_established(c: &mut Criterion) {
    let mut g = c.benchmark_group("director_established");
    g.sample_size(15).measurement_time(Duration::from_secs(3));
    for &conns in &[1_000u32, 1_000_000] {
        for mode in ["nat", "tun", "dr"] {
            for v6 in [false, true] {
                let (mut d, vip) = director(mode, conns, v6);
                // One template; each packet patches in the next client of a
                // scattered walk over all `conns` connections, so lookups in
                // a large table really miss the caches.
                let template = tcp_frame(client(0, v6), vip, 0x10, 0);
                let flen = template.len();
                let fam = if v6 { "v6" } else { "v4" };
                let mut buf = vec![0u8; 2048];
                let mut out = vec![0u8; 2048];
                let mut k = 0u32;
                g.throughput(Throughput::Elements(1));
                g.bench_with_input(
                    BenchmarkId::new(format!("{mode}_{fam}_single"), conns),
                    &conns,
                    |b, &conns| {
                        b.iter(|| {
                            k = k.wrapping_add(1);
                            buf[HEAD..HEAD + flen].copy_from_slice(&template);
                            patch_client(
                                &mut buf[HEAD..],
                                k.wrapping_mul(2_654_435_761) % conns,
                                v6,
                            );
                            black_box(d.process(
                                Instant::from_secs(1),
                                0,
                                &mut buf,
                                HEAD,
                                flen,
                                &mut out,
                            ))
                        })
                    },
                );
                // Batches of 32 frames through process_batch.
                let mut bufs: Vec<Vec<u8>> = (0..32).map(|_| vec![0u8; 256]).collect();
                let mut outs: Vec<Vec<u8>> = (0..32).map(|_| vec![0u8; 256]).collect();
                g.throughput(Throughput::Elements(32));
                g.bench_with_input(
                    BenchmarkId::new(format!("{mode}_{fam}_batch32"), conns),
                    &conns,
                    |b, &conns| {
                        b.iter(|| {
                            let mut items: Vec<BatchItem<'_>> = Vec::with_capacity(32);
                            for (bb, oo) in bufs.iter_mut().zip(outs.iter_mut()) {
                                k = k.wrapping_add(1);
                                bb[HEAD..HEAD + flen].copy_from_slice(&template);
                                patch_client(
                                    &mut bb[HEAD..],
                                    k.wrapping_mul(2_654_435_761) % conns,
                                    v6,
                                );
                                items.push(BatchItem {
                                    link: 0,
                                    start: HEAD,
                                    len: flen,
                                    buf: bb,
                                    out: oo,
                                    offload: Offload::NONE,
                                    verdict: Verdict::Held,
                                });
                            }
                            d.process_batch(Instant::from_secs(1), &mut items);
                            black_box(items.len())
                        })
                    },
                );
            }
        }
    }
    g.finish();
}

fn bench_new(c: &mut Criterion) {
    let mut g = c.benchmark_group("director_new_conn");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    for &conns in &[1_000u32, 1_000_000] {
        for v6 in [false, true] {
            let fam = if v6 { "v6" } else { "v4" };
            g.bench_with_input(
                BenchmarkId::new(format!("nat_{fam}_syn"), conns),
                &conns,
                |b, &conns| {
                    // New SYNs in batches; between batches (untimed) the new
                    // connections are expired so the table stays at `conns`.
                    b.iter_custom(|iters| {
                        let (mut d, vip) = director("nat", conns, v6);
                        d.balancer_mut()
                            .settings_mut()
                            .timeouts
                            .set_tcp(TcpState::SynRecv, 1_000);
                        let mut buf = vec![0u8; 2048];
                        let mut out = vec![0u8; 2048];
                        let mut total = Duration::ZERO;
                        let mut done = 0u64;
                        let mut round = 0u64;
                        let batch = 50_000u64;
                        while done < iters {
                            let n = batch.min(iters - done);
                            let frames: Vec<Vec<u8>> = (0..n)
                                .map(|j| tcp_frame(client(conns + 1 + j as u32, v6), vip, 0x02, 0))
                                .collect();
                            round += 1;
                            let now = Instant::from_secs(2 * round);
                            let start = std::time::Instant::now();
                            for f in &frames {
                                buf[HEAD..HEAD + f.len()].copy_from_slice(f);
                                black_box(d.process(now, 0, &mut buf, HEAD, f.len(), &mut out));
                            }
                            total += start.elapsed();
                            let later = Instant::from_millis(2000 * round + 1500);
                            for _ in 0..1000 {
                                if d.balancer().conn_count() <= conns as usize {
                                    break;
                                }
                                d.on_timeout(later);
                            }
                            done += n;
                        }
                        total
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, bench_established, bench_new);
criterion_main!(benches);
