//! One pick of each scheduler with 8, 64 and 1024 real servers. Connection
//! counts are spread so lc/wlc/sed/nq do real comparisons; flows vary so the
//! hashing schedulers do not hit one bucket.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use lvs_core::service::Service;
use lvs_core::{Flow, Protocol, RealServerConfig, SchedFlags, ServiceConfig};

fn service(name: &str, n: u32) -> Service {
    let vip = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10)), 80);
    let sched = lvs_schedulers::boxed_by_name(name, SchedFlags::default()).expect("scheduler");
    let mut s = Service::new(ServiceConfig::tcp(vip).scheduler(name), sched);
    for i in 0..n {
        let a = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0xc633_6400 + i)), 8080);
        let id = s
            .add_server(RealServerConfig::new(a).weight(1 + i % 5))
            .expect("add");
        if let Some(r) = s.server_mut(id) {
            for _ in 0..(i * 7919) % 13 {
                r.bind_conn(i % 2 == 0);
            }
        }
    }
    s
}

fn bench_schedulers(c: &mut Criterion) {
    let mut g = c.benchmark_group("scheduler_pick");
    g.sample_size(20).measurement_time(Duration::from_secs(2));
    for name in ["rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "dh", "mh"] {
        for &n in &[8u32, 64, 1024] {
            let mut s = service(name, n);
            let mut k = 0u32;
            g.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    k = k.wrapping_add(0x9e37_79b9);
                    let flow = Flow {
                        protocol: Protocol::Tcp,
                        client: SocketAddr::new(IpAddr::V4(Ipv4Addr::from(k)), (k >> 16) as u16),
                        vip: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10)), 80),
                        fwmark: 0,
                    };
                    black_box(s.pick(&flow))
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench_schedulers);
criterion_main!(benches);
