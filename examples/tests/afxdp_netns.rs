//! The AF_XDP port against a real veth pair, in generic and in native XDP mode: frames sent
//! from the peer namespace are lent with headroom, a frame rewritten in place goes back out of
//! the chunk it arrived in (no copy), a frame built here is copied out, and the XDP program is
//! gone from the interface once the port is dropped. Two named namespaces, `lvsxdp-a-PID`
//! (holding `xa`, 198.51.100.1, served by the port) and `lvsxdp-b-PID` (holding `xb`,
//! 198.51.100.2, the peer), are removed by a guard even when a check fails. The peer's
//! checksum offload is switched off (`ethtool -K xb tx off`): AF_XDP cannot tell a partial
//! checksum from a bad one (see the port's module docs). Needs root; prints SKIP and passes
//! otherwise.

use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use lvs_examples::io::afpacket::hw_addr;
use lvs_examples::io::afxdp::{AfXdpConfig, AfXdpPort, AttachMode, XdpMode};
use lvs_examples::io::{DEFAULT_HEADROOM, FramePort, FrameTx, PacketKind, RxFrame};

const A_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const B_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect("run command");
    assert!(out.status.success(), "{cmd} {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two namespaces joined by a veth pair; deleted on drop.
struct Netns {
    a: String,
    b: String,
}

impl Netns {
    /// The pair with `queues` receive and transmit queues on each end.
    fn new(tag: &str, queues: u32) -> Netns {
        let pid = std::process::id();
        let n = Netns {
            a: format!("lvsxdp{tag}-a-{pid}"),
            b: format!("lvsxdp{tag}-b-{pid}"),
        };
        let q = queues.to_string();
        run("ip", &["netns", "add", &n.a]);
        run("ip", &["netns", "add", &n.b]);
        run(
            "ip",
            &[
                "-n",
                &n.a,
                "link",
                "add",
                "xa",
                "numrxqueues",
                &q,
                "numtxqueues",
                &q,
                "type",
                "veth",
                "peer",
                "name",
                "xb",
                "numrxqueues",
                &q,
                "numtxqueues",
                &q,
                "netns",
                &n.b,
            ],
        );
        run(
            "ip",
            &["-n", &n.a, "addr", "add", "198.51.100.1/24", "dev", "xa"],
        );
        run(
            "ip",
            &["-n", &n.b, "addr", "add", "198.51.100.2/24", "dev", "xb"],
        );
        for (ns, dev) in [(&n.a, "xa"), (&n.b, "xb"), (&n.a, "lo"), (&n.b, "lo")] {
            run("ip", &["-n", ns, "link", "set", dev, "up"]);
        }
        run(
            "ip",
            &[
                "netns", "exec", &n.b, "ethtool", "-K", "xb", "tx", "off", "tso", "off", "gso",
                "off",
            ],
        );
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

/// Swaps the MACs, the IPv4 addresses and the UDP ports of a frame in place: the reply of an
/// echo, with both checksums still right (the sums do not depend on the order).
fn swap_in_place(f: &mut [u8]) {
    for (a, b) in [(0, 6), (26, 30), (34, 36)] {
        let w = if a == 0 {
            6
        } else if a == 34 {
            2
        } else {
            4
        };
        for i in 0..w {
            f.swap(a + i, b + i);
        }
    }
}

fn recv_within(sock: &UdpSocket, within: Duration) -> Option<(Vec<u8>, std::net::SocketAddr)> {
    sock.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 2048];
    sock.recv_from(&mut buf)
        .ok()
        .map(|(n, a)| (buf[..n].to_vec(), a))
}

/// Receives, echoes and sends through one port in `attach` mode; returns the mode it ran in.
fn exercise(ns: &Netns, attach: AttachMode) -> XdpMode {
    let na = ns.a.clone();
    let (mut port, mac_a) = Netns::run(&na, move || {
        let mac = hw_addr("xa").unwrap();
        let cfg = AfXdpConfig {
            attach,
            mac: Some(mac),
            ..AfXdpConfig::default()
        };
        (AfXdpPort::open("xa", &cfg).unwrap(), mac)
    });
    let mode = port.mode();
    assert!(!port.zero_copy(), "veth has no zero copy");
    assert_eq!(port.queues(), 1);
    let shown = run("ip", &["-n", &ns.a, "-d", "link", "show", "xa"]);
    assert!(shown.contains("xdp"), "program attached: {shown}");

    let mac_b = Netns::run(&ns.b, || hw_addr("xb").unwrap());
    // The port takes every frame, ARP included, so the peer learns A's MAC statically.
    let mac_text = mac_a
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    run(
        "ip",
        &[
            "-n",
            &ns.b,
            "neigh",
            "replace",
            "198.51.100.1",
            "lladdr",
            &mac_text,
            "dev",
            "xb",
        ],
    );
    let sock = Netns::run(&ns.b, || UdpSocket::bind((B_IP, 0)).unwrap());
    let b_port = sock.local_addr().unwrap().port();

    // 1. Frames from the peer are lent with headroom and echoed from where they arrived.
    let mut echoed = 0;
    let mut headroom = usize::MAX;
    let end = Instant::now() + Duration::from_secs(5);
    let mut answers = Vec::new();
    for i in 0..20u8 {
        sock.send_to(&[i; 100], (A_IP, 7777)).unwrap();
        let before = echoed;
        while echoed == before && Instant::now() < end {
            let mut on = |mut f: RxFrame<'_>, tx: &mut dyn FrameTx| {
                if udp_dport(f.data()) != Some(7777) {
                    return;
                }
                assert_eq!(f.meta.kind, PacketKind::Host);
                headroom = headroom.min(f.headroom());
                swap_in_place(f.data_mut());
                tx.send(f.data()).unwrap();
                echoed += 1;
            };
            port.recv_batch(Some(Duration::from_millis(50)), &mut on)
                .unwrap();
        }
        if let Some(a) = recv_within(&sock, Duration::from_secs(1)) {
            answers.push(a);
        }
    }
    assert_eq!(echoed, 20, "frames received through AF_XDP");
    assert!(
        headroom >= DEFAULT_HEADROOM,
        "lent headroom {headroom} < {DEFAULT_HEADROOM}"
    );
    assert_eq!(answers.len(), 20, "echoes that arrived back in the peer");
    for (i, (data, from)) in answers.iter().enumerate() {
        assert_eq!(data, &vec![i as u8; 100]);
        assert_eq!(*from, (A_IP, 7777).into());
    }
    let (in_place, copied) = port.tx_counts();
    assert_eq!((in_place, copied), (20, 0), "echoes sent without a copy");

    // 2. A frame built here is copied into a free chunk and sent.
    let frame = udp_frame(mac_a, mac_b, (A_IP, 4242), (B_IP, b_port), b"built here");
    port.send(&frame).unwrap();
    let (data, from) = recv_within(&sock, Duration::from_secs(2)).expect("copied frame");
    assert_eq!(data, b"built here");
    assert_eq!(from, (A_IP, 4242).into());
    let batch: Vec<Vec<u8>> = (0..100u16)
        .map(|i| udp_frame(mac_a, mac_b, (A_IP, 5000 + i), (B_IP, b_port), b"batch"))
        .collect();
    let refs: Vec<&[u8]> = batch.iter().map(|f| &f[..]).collect();
    assert_eq!(port.send_batch(&refs).unwrap(), 100);
    let mut got = 0;
    while recv_within(&sock, Duration::from_millis(500)).is_some() {
        got += 1;
    }
    assert_eq!(got, 100, "batch sent through the TX ring");
    assert_eq!(port.tx_counts(), (20, 101));

    // 3. Frames for another MAC are not lent (a bridge floods unknown unicast).
    let other = udp_frame(
        mac_b,
        [2, 0, 0, 0, 0x77, 0x77],
        (B_IP, 1),
        (A_IP, 7778),
        b"x",
    );
    let raw = Netns::run(&ns.b, move || {
        // SAFETY: plain socket(2); checked below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        assert!(fd >= 0);
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = lvs_examples::io::afpacket::ifindex("xb").unwrap() as i32;
        sll.sll_halen = 6;
        // SAFETY: `other` and `sll` outlive the call; sizes are theirs.
        let rc = unsafe {
            libc::sendto(
                fd,
                other.as_ptr().cast(),
                other.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        // SAFETY: fd is ours.
        unsafe { libc::close(fd) };
        rc
    });
    assert!(raw > 0, "raw send");
    let skipped_before = port.losses().skipped;
    let mut lent_other = 0;
    let end = Instant::now() + Duration::from_millis(500);
    while Instant::now() < end {
        let mut on = |f: RxFrame<'_>, _: &mut dyn FrameTx| {
            if udp_dport(f.data()) == Some(7778) {
                lent_other += 1;
            }
        };
        port.recv_batch(Some(Duration::from_millis(50)), &mut on)
            .unwrap();
    }
    assert_eq!(lent_other, 0);
    assert!(port.losses().skipped > skipped_before || skipped_before > 0);

    // 4. Dropping the port detaches the program.
    drop(port);
    let shown = run("ip", &["-n", &ns.a, "-d", "link", "show", "xa"]);
    assert!(
        !shown.contains("prog/xdp"),
        "program still attached: {shown}"
    );
    mode
}

#[test]
fn afxdp_port_on_veth_generic_and_native() {
    if !is_root() {
        eprintln!("SKIP afxdp_netns: not root");
        return;
    }
    let ns = Netns::new("", 1);
    assert_eq!(exercise(&ns, AttachMode::Generic), XdpMode::Generic);
    assert_eq!(exercise(&ns, AttachMode::Native), XdpMode::Native);
    // Auto picks native on veth (it has ndo_bpf).
    assert_eq!(exercise(&ns, AttachMode::Auto), XdpMode::Native);
}

/// Two receive queues: one socket each, and flows spread by the veth over both all arrive.
#[test]
fn afxdp_port_serves_every_queue() {
    if !is_root() {
        eprintln!("SKIP afxdp_netns: not root");
        return;
    }
    let ns = Netns::new("q", 2);
    let (mut port, mac_a) = Netns::run(&ns.a, || {
        let mac = hw_addr("xa").unwrap();
        let cfg = AfXdpConfig {
            attach: AttachMode::Native,
            mac: Some(mac),
            ..AfXdpConfig::default()
        };
        (AfXdpPort::open("xa", &cfg).unwrap(), mac)
    });
    assert_eq!(port.queues(), 2, "one socket per receive queue");
    let mac_text = mac_a
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    run(
        "ip",
        &[
            "-n",
            &ns.b,
            "neigh",
            "replace",
            "198.51.100.1",
            "lladdr",
            &mac_text,
            "dev",
            "xb",
        ],
    );
    // 64 flows from as many source ports; each datagram says which flow it is.
    let socks: Vec<UdpSocket> = Netns::run(&ns.b, || {
        (0..64)
            .map(|_| UdpSocket::bind((B_IP, 0)).unwrap())
            .collect()
    });
    for (i, s) in socks.iter().enumerate() {
        s.send_to(&[i as u8; 20], (A_IP, 7777)).unwrap();
    }
    let mut seen = [false; 64];
    let end = Instant::now() + Duration::from_secs(5);
    while seen.iter().any(|s| !s) && Instant::now() < end {
        let mut on = |f: RxFrame<'_>, _: &mut dyn FrameTx| {
            if udp_dport(f.data()) == Some(7777)
                && let Some(&i) = f.data().get(42)
            {
                seen[usize::from(i) % 64] = true;
            }
        };
        port.recv_batch(Some(Duration::from_millis(50)), &mut on)
            .unwrap();
    }
    assert!(seen.iter().all(|s| *s), "flows received: {seen:?}");
}
