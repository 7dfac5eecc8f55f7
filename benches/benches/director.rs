//! Per-packet cost of `Director::process`: an established flow for VS/NAT,
//! VS/TUN and VS/DR over IPv4 and IPv6, with 1 thousand and 1 million live
//! connections, one frame at a time and in batches of 32; and a new TCP
//! connection (SYN). Each iteration copies a 74-byte frame into the buffer
//! first (the rewrite is in place), which is included in the figure.

use std::hint::black_box;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lvs_core::Instant;
use lvs_core::conn::TcpState;
use lvs_forwarding::wire::MacAddr;
use lvs_forwarding::{BatchItem, Director, DirectorConfig, IpCidr, Verdict};

const D: [u8; 6] = [2, 0, 0, 0, 0, 0xd1];
const C: [u8; 6] = [2, 0, 0, 0, 0, 1];
const R: [u8; 6] = [2, 0, 0, 0, 0, 0x52];
const HEAD: usize = 128;

/// A TCP frame, built by hand (no allocation in the timed loop, no
/// dependency): Ethernet + IPv4/IPv6 + 20-byte TCP + `payload` zero bytes.
fn tcp_frame(src: SocketAddr, dst: SocketAddr, flags: u8, payload: usize) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&D);
    f.extend_from_slice(&C);
    let tcp_len = 20 + payload;
    let (l3, pseudo): (Vec<u8>, Vec<u8>) = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&[0x08, 0x00]);
            let total = (20 + tcp_len) as u16;
            let mut h = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0];
            h[2..4].copy_from_slice(&total.to_be_bytes());
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            let c = !fold(sum(&h));
            h[10..12].copy_from_slice(&c.to_be_bytes());
            let mut p = Vec::new();
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&[0, 6]);
            p.extend_from_slice(&(tcp_len as u16).to_be_bytes());
            (h, p)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            f.extend_from_slice(&[0x86, 0xdd]);
            let mut h = vec![0x60, 0, 0, 0];
            h.extend_from_slice(&(tcp_len as u16).to_be_bytes());
            h.extend_from_slice(&[6, 64]);
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            let mut p = Vec::new();
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&(tcp_len as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 6]);
            (h, p)
        }
        _ => unreachable!(),
    };
    let mut t = Vec::new();
    t.extend_from_slice(&src.port().to_be_bytes());
    t.extend_from_slice(&dst.port().to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.resize(tcp_len, 0);
    let c = !fold(sum(&pseudo) + sum(&t));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&l3);
    f.extend_from_slice(&t);
    f
}

fn sum(b: &[u8]) -> u64 {
    b.chunks(2)
        .map(|c| u64::from(c[0]) << 8 | u64::from(*c.get(1).unwrap_or(&0)))
        .sum()
}

fn fold(mut s: u64) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

fn client(i: u32, v6: bool) -> SocketAddr {
    let port = 1024 + (i % 60_000) as u16;
    let host = i / 60_000;
    if v6 {
        SocketAddr::new(
            IpAddr::V6(std::net::Ipv6Addr::new(
                0x2001,
                0xdb8,
                0xc,
                0,
                0,
                0,
                1,
                host as u16,
            )),
            port,
        )
    } else {
        // All clients behind the gateway (off-link): one neighbour entry.
        SocketAddr::new(
            IpAddr::V4(std::net::Ipv4Addr::from(0xcb00_7100 + 64 + host)),
            port,
        )
    }
}

fn director(mode: &str, conns: u32, v6: bool) -> (Director, SocketAddr) {
    let addrs: Vec<IpCidr> = [
        "192.0.2.1/24",
        "198.51.100.1/24",
        "2001:db8:c::1/64",
        "2001:db8:5::1/64",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let mut cfg = DirectorConfig::single_link(MacAddr(D), &addrs);
    cfg.gateway_v4 = Some("192.0.2.254".parse().unwrap());
    cfg.neighbors = vec![
        ("192.0.2.254".parse().unwrap(), MacAddr(C)),
        ("198.51.100.11".parse().unwrap(), MacAddr(R)),
        ("2001:db8:5::11".parse().unwrap(), MacAddr(R)),
    ];
    cfg.conn_capacity_v4 = (conns as usize + 1024) * 5 / 4;
    cfg.conn_capacity_v6 = cfg.conn_capacity_v4;
    let (flag, port) = match mode {
        "nat" => ("-m", 8080),
        "tun" => ("-i", 80),
        _ => ("-g", 80),
    };
    let (vip, rs) = if v6 {
        ("[2001:db8:f::10]", "[2001:db8:5::11]")
    } else {
        ("203.0.113.10", "198.51.100.11")
    };
    let rules = format!("-A -t {vip}:80 -s rr\n-a -t {vip}:80 -r {rs}:{port} {flag} -w 1\n");
    let mut d = Director::from_rules(cfg, &rules).unwrap();
    d.balancer_mut()
        .settings_mut()
        .timeouts
        .set_tcp(TcpState::SynRecv, 900_000);
    let vip: SocketAddr = format!("{vip}:80").parse().unwrap();
    let mut buf = vec![0u8; 2048];
    let mut out = vec![0u8; 2048];
    for i in 0..conns {
        let f = tcp_frame(client(i, v6), vip, 0x02, 0);
        buf[HEAD..HEAD + f.len()].copy_from_slice(&f);
        let v = d.process(Instant::ZERO, 0, &mut buf, HEAD, f.len(), &mut out);
        assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    }
    (d, vip)
}

fn bench_established(c: &mut Criterion) {
    let mut g = c.benchmark_group("director_established");
    g.sample_size(15).measurement_time(Duration::from_secs(3));
    for &conns in &[1_000u32, 1_000_000] {
        for mode in ["nat", "tun", "dr"] {
            for v6 in [false, true] {
                let (mut d, vip) = director(mode, conns, v6);
                let frames: Vec<Vec<u8>> = (0..4096u32)
                    .map(|k| {
                        tcp_frame(
                            client((k.wrapping_mul(2_654_435_761)) % conns, v6),
                            vip,
                            0x10,
                            0,
                        )
                    })
                    .collect();
                let fam = if v6 { "v6" } else { "v4" };
                let mut buf = vec![0u8; 2048];
                let mut out = vec![0u8; 2048];
                let mut k = 0usize;
                g.throughput(Throughput::Elements(1));
                g.bench_with_input(
                    BenchmarkId::new(format!("{mode}_{fam}_single"), conns),
                    &conns,
                    |b, _| {
                        b.iter(|| {
                            let f = &frames[k & 4095];
                            k += 1;
                            buf[HEAD..HEAD + f.len()].copy_from_slice(f);
                            black_box(d.process(
                                Instant::from_secs(1),
                                0,
                                &mut buf,
                                HEAD,
                                f.len(),
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
                    |b, _| {
                        b.iter(|| {
                            let mut items: Vec<BatchItem<'_>> = Vec::with_capacity(32);
                            for (bb, oo) in bufs.iter_mut().zip(outs.iter_mut()) {
                                let f = &frames[k & 4095];
                                k += 1;
                                bb[HEAD..HEAD + f.len()].copy_from_slice(f);
                                items.push(BatchItem {
                                    link: 0,
                                    start: HEAD,
                                    len: f.len(),
                                    buf: bb,
                                    out: oo,
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
