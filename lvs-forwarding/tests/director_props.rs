//! Property tests of the Director: batches behave exactly like single
//! frames, and random bytes never panic and never change the table.

use std::net::{IpAddr, SocketAddr};

use lvs_core::Instant;
use lvs_forwarding::wire::MacAddr;
use lvs_forwarding::{BatchItem, Director, DirectorConfig, IpCidr, Offload, Verdict};
use proptest::prelude::*;

const D: [u8; 6] = [2, 0, 0, 0, 0, 0xd1];
const C: [u8; 6] = [2, 0, 0, 0, 0, 1];
const R: [u8; 6] = [2, 0, 0, 0, 0, 0x52];
const HEAD: usize = 96;

fn director() -> Director {
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
    cfg.neighbors = vec![
        ("192.0.2.2".parse().unwrap(), MacAddr(C)),
        ("198.51.100.11".parse().unwrap(), MacAddr(R)),
        ("2001:db8:5::11".parse().unwrap(), MacAddr(R)),
    ];
    cfg.conn_capacity_v4 = 64;
    cfg.conn_capacity_v6 = 64;
    let rules = "-A -t 203.0.113.10:80 -s rr\n\
                 -a -t 203.0.113.10:80 -r 198.51.100.11:8080 -m -w 1\n\
                 -a -t 203.0.113.10:80 -r 198.51.100.12:8080 -m -w 1\n\
                 -A -u 203.0.113.10:53 -s wrr\n\
                 -a -u 203.0.113.10:53 -r 198.51.100.11:53 -i -w 2\n\
                 -A -t [2001:db8:f::10]:80 -s sh\n\
                 -a -t [2001:db8:f::10]:80 -r [2001:db8:5::11]:80 -g -w 1\n";
    Director::from_rules(cfg, rules).unwrap()
}

/// A frame built from a few random choices: mostly valid traffic for the
/// services (so connections are made and used), sometimes replies.
fn frame(kind: u8, port: u16, flags: u8) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2(if kind == 2 { R } else { C }, D);
    let mut v = Vec::new();
    let (src, dst): (SocketAddr, SocketAddr) = match kind % 4 {
        0 => (
            SocketAddr::new("192.0.2.2".parse().unwrap(), port),
            "203.0.113.10:80".parse().unwrap(),
        ),
        1 => (
            SocketAddr::new("192.0.2.2".parse().unwrap(), port),
            "203.0.113.10:53".parse().unwrap(),
        ),
        2 => (
            "198.51.100.11:8080".parse().unwrap(),
            SocketAddr::new("192.0.2.2".parse().unwrap(), port),
        ),
        _ => (
            SocketAddr::new("2001:db8:c::2".parse().unwrap(), port),
            "[2001:db8:f::10]:80".parse().unwrap(),
        ),
    };
    let b = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => b.ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => b.ipv6(s.octets(), d.octets(), 64),
        _ => unreachable!(),
    };
    if kind % 4 == 1 {
        b.udp(src.port(), dst.port()).write(&mut v, b"q").unwrap();
    } else {
        let mut t = b.tcp(src.port(), dst.port(), 1, 100);
        if flags & 1 != 0 {
            t = t.syn();
        }
        if flags & 2 != 0 {
            t = t.ack(1);
        }
        if flags & 4 != 0 {
            t = t.fin();
        }
        if flags & 8 != 0 {
            t = t.rst();
        }
        t.write(&mut v, b"data").unwrap();
    }
    v
}

fn input() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let valid = (0u8..4, 1000u16..1040, 0u8..16).prop_map(|(k, p, f)| frame(k, p, f));
    let junk = proptest::collection::vec(any::<u8>(), 0..120);
    proptest::collection::vec(prop_oneof![4 => valid, 1 => junk], 1..80)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn batch_equals_single(frames in input(), chunk in 1usize..40) {
        let mut one = director();
        let mut many = director();
        let now = Instant::from_secs(1);
        let mut singles = Vec::new();
        for f in &frames {
            let mut buf = vec![0u8; HEAD + f.len()];
            buf[HEAD..].copy_from_slice(f);
            let mut out = vec![0u8; 1600];
            let v = one.process(now, 0, &mut buf, HEAD, f.len(), &mut out);
            let bytes = match v {
                Verdict::Forward { start, len, .. } => buf[start..start + len].to_vec(),
                Verdict::Reply { len, .. } => out[..len].to_vec(),
                _ => Vec::new(),
            };
            singles.push((v, bytes));
        }
        let mut batched = Vec::new();
        for group in frames.chunks(chunk) {
            let mut bufs: Vec<Vec<u8>> = group
                .iter()
                .map(|f| {
                    let mut b = vec![0u8; HEAD + f.len()];
                    b[HEAD..].copy_from_slice(f);
                    b
                })
                .collect();
            let mut outs: Vec<Vec<u8>> = group.iter().map(|_| vec![0u8; 1600]).collect();
            let mut items: Vec<BatchItem<'_>> = bufs
                .iter_mut()
                .zip(outs.iter_mut())
                .zip(group)
                .map(|((b, o), f)| BatchItem { link: 0, buf: b, start: HEAD, len: f.len(), out: o, offload: Offload::NONE, verdict: Verdict::Held })
                .collect();
            many.process_batch(now, &mut items);
            let verdicts: Vec<Verdict> = items.iter().map(|i| i.verdict).collect();
            drop(items);
            for ((v, b), o) in verdicts.into_iter().zip(&bufs).zip(&outs) {
                let bytes = match v {
                    Verdict::Forward { start, len, .. } => b[start..start + len].to_vec(),
                    Verdict::Reply { len, .. } => o[..len].to_vec(),
                    _ => Vec::new(),
                };
                batched.push((v, bytes));
            }
        }
        prop_assert_eq!(singles, batched);
        prop_assert_eq!(one.balancer().conn_count(), many.balancer().conn_count());
        prop_assert_eq!(one.drops(), many.drops());
    }

    #[test]
    fn random_bytes_never_change_the_table(
        warm in proptest::collection::vec((0u8..4, 1000u16..1010), 0..10),
        junk in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..50),
        to_us in any::<bool>(),
    ) {
        let mut d = director();
        let now = Instant::from_secs(1);
        let mut out = vec![0u8; 1600];
        for (k, p) in warm {
            let f = frame(k, p, 1);
            let mut buf = vec![0u8; HEAD + f.len()];
            buf[HEAD..].copy_from_slice(&f);
            d.process(now, 0, &mut buf, HEAD, f.len(), &mut out);
        }
        let before = d.balancer().conn_count();
        let totals = d.balancer().totals().counters;
        for mut j in junk {
            if to_us && j.len() >= 14 {
                // Addressed to us as IPv4, so parsing goes past Ethernet.
                j[0..6].copy_from_slice(&D);
                j[12] = 0x08;
                j[13] = 0x00;
            }
            let mut buf = vec![0u8; HEAD + j.len()];
            buf[HEAD..].copy_from_slice(&j);
            let v = d.process(now, 0, &mut buf, HEAD, j.len(), &mut out);
            prop_assert!(!matches!(v, Verdict::Forward { .. }), "{:?}", v);
        }
        prop_assert_eq!(d.balancer().conn_count(), before);
        prop_assert_eq!(d.balancer().totals().counters, totals);
    }
}
