//! AF_PACKET offloads (`PACKET_VNET_HDR`) and the client-hash CBPF fanout against a real veth
//! pair with the kernel's default offloads on. Per test two named namespaces, `lvsio-a-PID-N` (holding `va`,
//! 198.51.100.1) and `lvsio-b-PID-N` (holding `vb`, 198.51.100.2), are removed by a guard even when
//! a check fails. Sockets are created by short-lived threads that enter a namespace and hand the
//! socket back: a socket stays in the namespace it was created in. Needs root; prints SKIP and
//! passes otherwise.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use lvs_examples::io::afpacket::{AfPacketConfig, AfPacketPort, FanoutMode, RingVersion, hw_addr};
use lvs_examples::io::fanout::{client_hash_program, worker_for};
use lvs_examples::io::{FramePort, FrameTx, Offload, RxFrame, RxMeta};
use lvs_forwarding::offload::{GsoKind, PartialCsum};

const A_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const B_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const RS: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 20);

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("run ip");
    assert!(st.success(), "ip {args:?}");
}

/// Two namespaces joined by a veth pair; deleted on drop.
struct Netns {
    a: String,
    b: String,
}

impl Netns {
    fn new() -> Netns {
        // Tests run in parallel: one pair of namespaces per test.
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let pid = std::process::id();
        let k = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let n = Netns {
            a: format!("lvsio-a-{pid}-{k}"),
            b: format!("lvsio-b-{pid}-{k}"),
        };
        // The guard exists before the first namespace, so a failure below still cleans up.
        ip(&["netns", "add", &n.a]);
        ip(&["netns", "add", &n.b]);
        ip(&[
            "-n", &n.a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", &n.b,
        ]);
        ip(&["-n", &n.a, "addr", "add", "198.51.100.1/24", "dev", "va"]);
        ip(&["-n", &n.b, "addr", "add", "198.51.100.2/24", "dev", "vb"]);
        for (ns, dev) in [(&n.a, "va"), (&n.b, "vb"), (&n.a, "lo"), (&n.b, "lo")] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        n
    }

    /// Runs `f` on a thread inside namespace `name` and returns its result.
    fn run<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{name}");
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open netns");
            // SAFETY: setns only changes the calling thread's network namespace; the fd is
            // valid for the call.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}");
            f()
        })
        .join()
        .expect("namespace thread")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for n in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

/// Receives on `port` for up to `within`, keeping frames `keep` selects.
fn collect(
    port: &mut dyn FramePort,
    within: Duration,
    want: usize,
    keep: &dyn Fn(&[u8]) -> bool,
) -> Vec<(Vec<u8>, RxMeta)> {
    let end = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < end {
        let mut on = |f: RxFrame<'_>, _: &mut dyn FrameTx| {
            if keep(f.data()) {
                got.push((f.data().to_vec(), f.meta));
            }
        };
        port.recv_batch(Some(Duration::from_millis(20)), &mut on)
            .unwrap();
    }
    got
}

/// UDP destination port of an Ethernet/IPv4 frame without options.
fn udp_dport(f: &[u8]) -> Option<u16> {
    (f.len() >= 42 && f[12..14] == [8, 0] && f[23] == 17)
        .then(|| u16::from_be_bytes([f[36], f[37]]))
}

/// An Ethernet/IPv4/UDP frame with correct checksums.
fn udp_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    payload: &[u8],
) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4(src.0.octets(), dst.0.octets(), 64)
        .udp(src.1, dst.1);
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

/// An Ethernet/IPv6/UDP frame with correct checksums.
fn udp6_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: (Ipv6Addr, u16),
    dst: (Ipv6Addr, u16),
    payload: &[u8],
) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv6(src.0.octets(), dst.0.octets(), 64)
        .udp(src.1, dst.1);
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

/// Replaces the UDP checksum with the folded, uncomplemented pseudo-header sum, as a sender
/// with checksum offload leaves it (`CHECKSUM_PARTIAL`).
fn make_partial(f: &mut [u8]) {
    let mut sum: u32 = 0;
    for w in f[26..34].chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    sum += 17 + u32::from(u16::from_be_bytes([f[38], f[39]]));
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    f[40..42].copy_from_slice(&(sum as u16).to_be_bytes());
}

fn recv_within(sock: &UdpSocket, within: Duration) -> Option<Vec<u8>> {
    sock.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 2048];
    sock.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
}

#[test]
fn vnet_offloads_and_cbpf_fanout() {
    if !is_root() {
        eprintln!("SKIP afpacket_netns: not root");
        return;
    }
    let ns = Netns::new();
    let (na, nb) = (ns.a.clone(), ns.b.clone());

    let (mut pa, mac_a) = Netns::run(&na, || {
        let p = AfPacketPort::open("va", &AfPacketConfig::default()).unwrap();
        (p, hw_addr("va").unwrap())
    });
    assert!(pa.vnet_hdr());
    let mac_b = Netns::run(&nb, || hw_addr("vb").unwrap());

    // 1. A UDP GSO send (4000 bytes in segments of 1000) arrives as one super-frame with
    //    its offloads described.
    let gso_sock = Netns::run(&nb, || UdpSocket::bind((B_IP, 0)).unwrap());
    let seg: libc::c_int = 1000;
    // SAFETY: `seg` is a live c_int and we pass its size; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            gso_sock.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_SEGMENT,
            (&seg as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "UDP_SEGMENT");
    gso_sock.send_to(&[0x5a; 4000], (A_IP, 9999)).unwrap();
    let got = collect(&mut pa, Duration::from_secs(3), 1, &|f| {
        udp_dport(f) == Some(9999)
    });
    assert_eq!(got.len(), 1, "expected one GSO super-frame");
    let (frame, meta) = &got[0];
    assert_eq!(frame.len(), 14 + 20 + 8 + 4000);
    assert_eq!(meta.wire_len, frame.len());
    let gso = meta.offload.gso.expect("GSO metadata");
    assert_eq!((gso.kind, gso.size), (GsoKind::UdpL4, 1000));
    assert_eq!(
        meta.offload.csum,
        Some(PartialCsum {
            start: 34,
            offset: 6
        })
    );
    assert!(meta.csum_partial);
    assert_eq!(pa.bad_offload(), 0);

    // 2. A partial-checksum UDP frame into B: dropped when sent plain, delivered when sent
    //    with NEEDS_CSUM (the kernel completes the checksum), and a complete frame sent plain
    //    is delivered too.
    let sink = Netns::run(&nb, || UdpSocket::bind((B_IP, 0)).unwrap());
    let SocketAddr::V4(sink_addr) = sink.local_addr().unwrap() else {
        unreachable!()
    };
    let dst = (B_IP, sink_addr.port());
    let mut partial_plain = udp_frame(mac_a, mac_b, (A_IP, 4000), dst, b"plain-partial");
    make_partial(&mut partial_plain);
    pa.send(&partial_plain).unwrap();
    assert_eq!(
        recv_within(&sink, Duration::from_millis(500)),
        None,
        "a partial checksum sent without a vnet header must be dropped"
    );
    let mut partial = udp_frame(mac_a, mac_b, (A_IP, 4000), dst, b"offload");
    make_partial(&mut partial);
    let offload = Offload {
        csum: Some(PartialCsum {
            start: 34,
            offset: 6,
        }),
        ..Offload::NONE
    };
    pa.send_offload(&partial, &offload).unwrap();
    assert_eq!(
        recv_within(&sink, Duration::from_secs(2)).as_deref(),
        Some(&b"offload"[..])
    );
    let complete = udp_frame(mac_a, mac_b, (A_IP, 4000), dst, b"complete");
    let batch = [(&complete[..], Offload::NONE), (&partial[..], offload)];
    assert_eq!(pa.send_batch_offload(&batch).unwrap(), 2);
    let mut both = vec![
        recv_within(&sink, Duration::from_secs(2)).expect("batch frame 1"),
        recv_within(&sink, Duration::from_secs(2)).expect("batch frame 2"),
    ];
    both.sort();
    assert_eq!(both, vec![b"complete".to_vec(), b"offload".to_vec()]);
    // A port without vnet headers refuses pending offloads instead of sending garbage.
    let mut plain_port = Netns::run(&na, || {
        let cfg = AfPacketConfig {
            vnet_hdr: false,
            ..AfPacketConfig::default()
        };
        AfPacketPort::open("va", &cfg).unwrap()
    });
    assert_eq!(
        plain_port
            .send_offload(&partial, &offload)
            .unwrap_err()
            .kind(),
        std::io::ErrorKind::Unsupported
    );
    drop(plain_port);
    drop(pa);

    // 3. Two sockets in one CBPF fanout group with the client-hash program: each receives
    //    exactly the flows the program assigns it, requests and NAT replies alike.
    let vip6: Ipv6Addr = "2001:db8::10".parse().unwrap();
    let rs6: Ipv6Addr = "2001:db8:1::20".parse().unwrap();
    let prog = client_hash_program(&[IpAddr::V4(VIP), IpAddr::V6(vip6)]).unwrap();
    let cfg = AfPacketConfig {
        fanout: Some(0x1a57),
        fanout_mode: FanoutMode::Cbpf(prog.clone()),
        ..AfPacketConfig::default()
    };
    let (c1, c2) = (cfg.clone(), cfg);
    let mut w0 = Netns::run(&na, move || AfPacketPort::open("va", &c1).unwrap());
    let mut w1 = Netns::run(&na, move || AfPacketPort::open("va", &c2).unwrap());
    let mut tx = Netns::run(&nb, || {
        AfPacketPort::open("vb", &AfPacketConfig::default()).unwrap()
    });
    const FLOWS: u16 = 16;
    let mut frames = Vec::new();
    for i in 0..FLOWS {
        let client = (Ipv4Addr::new(192, 0, 2, 10 + i as u8), 40_000 + 7 * i);
        let tag = |dir: u8| [b'L', b'V', b'S', dir, i as u8];
        frames.push(udp_frame(mac_b, mac_a, client, (VIP, 80), &tag(b'q')));
        frames.push(udp_frame(mac_b, mac_a, (RS, 8080), client, &tag(b'r')));
        let client6 = (
            Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 10 + i),
            client.1,
        );
        frames.push(udp6_frame(mac_b, mac_a, client6, (vip6, 80), &tag(b'Q')));
        frames.push(udp6_frame(mac_b, mac_a, (rs6, 8080), client6, &tag(b'R')));
    }
    let expect: Vec<u32> = frames
        .iter()
        .map(|f| worker_for(&prog, f, 2).unwrap())
        .collect();
    assert!(
        expect.contains(&0) && expect.contains(&1),
        "pick flows that reach both workers: {expect:?}"
    );
    for pair in expect.chunks(2) {
        assert_eq!(
            pair[0], pair[1],
            "request and reply of a flow on one worker"
        );
    }
    let refs: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
    assert_eq!(tx.send_batch(&refs).unwrap(), frames.len());
    let tagged = |f: &[u8]| {
        (f.len() >= 47 && f[12..14] == [8, 0] && f[42..45] == *b"LVS")
            || (f.len() >= 67 && f[12..14] == [0x86, 0xdd] && f[62..65] == *b"LVS")
    };
    let want0 = expect.iter().filter(|w| **w == 0).count();
    let got0 = collect(&mut w0, Duration::from_secs(2), want0, &tagged);
    let got1 = collect(
        &mut w1,
        Duration::from_secs(2),
        frames.len() - want0,
        &tagged,
    );
    let mut seen = 0;
    for (worker, got) in [(0u32, &got0), (1, &got1)] {
        for (f, _) in got.iter() {
            let idx = frames.iter().position(|s| s == f).expect("a frame we sent");
            assert_eq!(expect[idx], worker, "frame {idx} on worker {worker}");
            seen += 1;
        }
    }
    assert_eq!(seen, frames.len(), "every frame reached exactly one worker");

    // Replacing the group's program takes effect for every member: `ret #1` sends all to w1.
    let ret1 = [libc::sock_filter {
        code: 0x06, // BPF_RET | BPF_K
        jt: 0,
        jf: 0,
        k: 1,
    }];
    w0.set_fanout_program(&ret1).unwrap();
    assert_eq!(tx.send_batch(&refs).unwrap(), frames.len());
    let got1 = collect(&mut w1, Duration::from_secs(2), frames.len(), &tagged);
    assert_eq!(got1.len(), frames.len());
    assert!(collect(&mut w0, Duration::from_millis(200), 1, &tagged).is_empty());
    drop((w0, w1, tx));
    drop(ns);
}

/// Receives batches on `port` (`recv_frames`) for up to `within`, keeping frames `keep`
/// selects; returns them and the largest batch seen.
fn collect_batches(
    port: &mut dyn FramePort,
    within: Duration,
    want: usize,
    keep: &dyn Fn(&[u8]) -> bool,
) -> (Vec<(Vec<u8>, RxMeta)>, usize) {
    let end = Instant::now() + within;
    let mut got = Vec::new();
    let mut largest = 0;
    while got.len() < want && Instant::now() < end {
        let mut on = |frames: &mut [RxFrame<'_>], _: &mut dyn FrameTx| {
            largest = largest.max(frames.len());
            for f in frames.iter() {
                if keep(f.data()) {
                    got.push((f.data().to_vec(), f.meta));
                }
            }
        };
        port.recv_frames(Some(Duration::from_millis(20)), &mut on)
            .unwrap();
    }
    (got, largest)
}

/// Both ring layouts lend what arrived in batches, a GSO super-frame whole with its offload
/// metadata (a TPACKET_V2 slot holds 64 KiB+), and say whether frames wait without a system
/// call.
#[test]
fn v2_and_v3_rings_lend_batches() {
    if !is_root() {
        eprintln!("SKIP afpacket_netns: not root");
        return;
    }
    let ns = Netns::new();
    let (na, nb) = (ns.a.clone(), ns.b.clone());
    for ring in [RingVersion::V2, RingVersion::V3] {
        let mut pa = Netns::run(&na, move || {
            let cfg = AfPacketConfig {
                ring,
                ..AfPacketConfig::default()
            };
            AfPacketPort::open("va", &cfg).unwrap()
        });
        assert!(!pa.frames_waiting(), "{ring:?}: nothing sent yet");
        let sock = Netns::run(&nb, || UdpSocket::bind((B_IP, 0)).unwrap());
        let gso = Netns::run(&nb, || UdpSocket::bind((B_IP, 0)).unwrap());
        let seg: libc::c_int = 1000;
        // SAFETY: `seg` is a live c_int and we pass its size; the kernel only reads it.
        let rc = unsafe {
            libc::setsockopt(
                gso.as_raw_fd(),
                libc::SOL_UDP,
                libc::UDP_SEGMENT,
                (&seg as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "UDP_SEGMENT");
        // Both sockets exist before the first send, so the sends follow each other closely.
        for i in 0..8u8 {
            sock.send_to(&[i; 20], (A_IP, 9998)).unwrap();
        }
        gso.send_to(&[0x5a; 4000], (A_IP, 9998)).unwrap();
        // Let every frame land before the first look, so they come as one batch.
        std::thread::sleep(Duration::from_millis(20));
        assert!(pa.frames_waiting(), "{ring:?}: frames sent");
        let (got, largest) = collect_batches(&mut pa, Duration::from_secs(3), 9, &|f| {
            udp_dport(f) == Some(9998)
        });
        assert_eq!(got.len(), 9, "{ring:?}");
        // V2 lends every ready slot at once; V3 lends a block, and its timer may have
        // closed one between the sends.
        let least = if ring == RingVersion::V2 { 9 } else { 2 };
        assert!(largest >= least, "{ring:?}: largest batch {largest}");
        let (big, meta) = got
            .iter()
            .find(|(f, _)| f.len() > 1000)
            .expect("super-frame");
        assert_eq!(big.len(), 14 + 20 + 8 + 4000, "{ring:?}");
        let g = meta.offload.gso.expect("GSO metadata");
        assert_eq!((g.kind, g.size), (GsoKind::UdpL4, 1000), "{ring:?}");
        assert_eq!(pa.losses().skipped, 0, "{ring:?}");
    }
}
