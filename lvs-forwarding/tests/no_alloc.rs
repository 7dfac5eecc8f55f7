//! Once set up, the Director allocates nothing per packet: a counting global
//! allocator watches `process` for new and established connections, NAT
//! replies, TUN and DR, ARP answers and malformed frames; and `process_offload` for
//! partial-checksum NAT / TUN frames and GSO super-frames, with `gso::segment`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

use etherparse::PacketBuilder;
use lvs_core::Instant;
use lvs_forwarding::offload::{Gso, GsoKind, PartialCsum};
use lvs_forwarding::wire::MacAddr;
use lvs_forwarding::{Director, DirectorConfig, IpCidr, Offload, Verdict, gso};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const D: [u8; 6] = [2, 0, 0, 0, 0, 0xd1];
const C: [u8; 6] = [2, 0, 0, 0, 0, 1];
const R: [u8; 6] = [2, 0, 0, 0, 0, 0x52];

fn tcp(src: SocketAddr, dst: SocketAddr, smac: [u8; 6], syn: bool) -> Vec<u8> {
    tcp_payload(src, dst, smac, syn, b"payload")
}

fn tcp_payload(src: SocketAddr, dst: SocketAddr, smac: [u8; 6], syn: bool, p: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(smac, D);
    let b = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => b.ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => b.ipv6(s.octets(), d.octets(), 64),
        _ => unreachable!(),
    };
    let t = b.tcp(src.port(), dst.port(), 1, 1000);
    let t = if syn { t.syn() } else { t.ack(1) };
    let mut v = Vec::new();
    t.write(&mut v, p).unwrap();
    v
}

#[test]
fn process_allocates_nothing() {
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
    for ip in [
        "192.0.2.2",
        "2001:db8:c::2",
        "198.51.100.11",
        "198.51.100.12",
        "2001:db8:5::11",
    ] {
        let mac = if ip.starts_with("192") || ip.contains(":c:") {
            C
        } else {
            R
        };
        cfg.neighbors.push((ip.parse().unwrap(), MacAddr(mac)));
    }
    cfg.conn_capacity_v4 = 4096;
    cfg.conn_capacity_v6 = 4096;
    let rules = "-A -t 203.0.113.10:80 -s wrr\n\
                 -a -t 203.0.113.10:80 -r 198.51.100.11:8080 -m -w 2\n\
                 -A -t 203.0.113.11:80 -s rr\n\
                 -a -t 203.0.113.11:80 -r 198.51.100.12:80 -i -w 1\n\
                 -A -t [2001:db8:f::10]:80 -s wlc -p 60\n\
                 -a -t [2001:db8:f::10]:80 -r [2001:db8:5::11]:80 -g -w 1\n";
    let mut d = Director::from_rules(cfg, rules).unwrap();
    let client = |p: u16| SocketAddr::new("192.0.2.2".parse().unwrap(), p);
    let client6 = |p: u16| SocketAddr::new("2001:db8:c::2".parse().unwrap(), p);
    let vip_nat: SocketAddr = "203.0.113.10:80".parse().unwrap();
    let vip_tun: SocketAddr = "203.0.113.11:80".parse().unwrap();
    let vip6: SocketAddr = "[2001:db8:f::10]:80".parse().unwrap();
    let rs: SocketAddr = "198.51.100.11:8080".parse().unwrap();

    // Prepare every frame before counting.
    let mut frames = Vec::new();
    for p in 0..200u16 {
        frames.push(tcp(client(10_000 + p), vip_nat, C, true));
        frames.push(tcp(client(10_000 + p), vip_nat, C, false));
        frames.push(tcp(rs, client(10_000 + p), R, false));
        frames.push(tcp(client(20_000 + p), vip_tun, C, true));
        frames.push(tcp(client(20_000 + p), vip_tun, C, false));
        frames.push(tcp(client6(30_000 + p), vip6, C, true));
        frames.push(tcp(client6(30_000 + p), vip6, C, false));
        frames.push(vec![0xff; 30 + usize::from(p % 50)]);
    }
    let mut buf = vec![0u8; 2048];
    let mut out = vec![0u8; 2048];
    // Warm up once (first use of lazily-sized things, if any).
    let warm = tcp(client(9), vip_nat, C, true);
    buf[128..128 + warm.len()].copy_from_slice(&warm);
    d.process(Instant::ZERO, 0, &mut buf, 128, warm.len(), &mut out);

    let before = ALLOCS.load(Ordering::Relaxed);
    let mut forwarded = 0;
    for (i, f) in frames.iter().enumerate() {
        buf[128..128 + f.len()].copy_from_slice(f);
        let now = Instant::from_millis(i as u64);
        if let Verdict::Forward { .. } = d.process(now, 0, &mut buf, 128, f.len(), &mut out) {
            forwarded += 1;
        }
        if d.next_timeout().is_some_and(|t| t <= now) {
            d.on_timeout(now);
        }
        while d.poll_transmit(&mut out).is_some() {}
    }
    let after = ALLOCS.load(Ordering::Relaxed);
    assert_eq!(forwarded, 200 * 7, "every valid frame was forwarded");
    assert_eq!(after - before, 0, "allocations on the packet path");

    // Offloaded frames (IPv4 partial checksums: csum_start 34, TCP field at 16): NAT of
    // a partial frame, TUN completion, a TUN GSO super-frame and its segmentation.
    let partial = Offload {
        csum: Some(PartialCsum {
            start: 34,
            offset: 16,
        }),
        ..Offload::NONE
    };
    let gso_off = Offload {
        gso: Some(Gso {
            kind: GsoKind::TcpV4,
            size: 1000,
            hdr_len: 54,
            ecn: false,
        }),
        ..partial
    };
    let mut offs = Vec::new();
    for p in 0..100u16 {
        offs.push((tcp(client(40_000 + p), vip_nat, C, true), partial));
        offs.push((tcp(client(41_000 + p), vip_tun, C, true), partial));
        offs.push((
            tcp_payload(client(41_000 + p), vip_tun, C, false, &[7; 5000]),
            gso_off,
        ));
    }
    let mut big = vec![0u8; 8192];
    let mut scratch = vec![0u8; 2048];
    let before = ALLOCS.load(Ordering::Relaxed);
    let (mut forwarded, mut segments) = (0, 0);
    for (i, (f, o)) in offs.iter().enumerate() {
        big[128..128 + f.len()].copy_from_slice(f);
        let mut o = *o;
        let now = Instant::from_millis(10_000 + i as u64);
        if let Verdict::Forward { start, len, .. } =
            d.process_offload(now, 0, &mut big, 128, f.len(), &mut o, &mut out)
        {
            forwarded += 1;
            if o.needs_software_gso() {
                let frame = &big[start..start + len];
                segments += gso::segment(frame, &o, &mut scratch, &mut |_| {}).unwrap();
            }
        }
        while d.poll_transmit(&mut out).is_some() {}
    }
    let after = ALLOCS.load(Ordering::Relaxed);
    assert_eq!(forwarded, 300, "every offloaded frame was forwarded");
    assert_eq!(segments, 500, "every super-frame was segmented");
    assert_eq!(after - before, 0, "allocations on the offload path");
}
