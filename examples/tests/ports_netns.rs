//! AF_PACKET and TAP ports against real kernel interfaces, each test in a private network
//! namespace entered by its own thread (network namespaces are per thread, and the `ip`
//! processes it starts inherit it). Needs root; prints SKIP and passes otherwise.

use std::process::Command;
use std::time::{Duration, Instant};

use lvs_examples::io::afpacket::{Accept, AfPacketConfig, AfPacketPort};
use lvs_examples::io::tap::TunTap;
use lvs_examples::io::{FramePort, FrameTx, PacketKind, RxFrame};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Moves the calling thread into a new, empty network namespace.
fn unshare_net() -> bool {
    // SAFETY: unshare only changes the calling thread's namespaces; no memory is involved.
    unsafe { libc::unshare(libc::CLONE_NEWNET) == 0 }
}

fn ip(args: &str) {
    let st = Command::new("ip")
        .args(args.split_whitespace())
        .status()
        .expect("run ip");
    assert!(st.success(), "ip {args}");
}

fn mac_of(name: &str) -> [u8; 6] {
    lvs_examples::io::afpacket::hw_addr(name).unwrap()
}

/// An Ethernet frame with a local-experimental EtherType and a marker payload.
fn frame(dst: [u8; 6], src: [u8; 6], marker: u8) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend(std::iter::repeat_n(marker, 46));
    f
}

/// Receives until a frame with our EtherType and `marker` shows up (bounded by 3 s).
fn wait_for(port: &mut dyn FramePort, marker: u8) -> Option<(Vec<u8>, PacketKind, usize)> {
    wait_for_within(port, marker, Duration::from_secs(3))
}

/// Like [`wait_for`] with a chosen bound.
fn wait_for_within(
    port: &mut dyn FramePort,
    marker: u8,
    within: Duration,
) -> Option<(Vec<u8>, PacketKind, usize)> {
    let end = Instant::now() + within;
    let mut found = None;
    while found.is_none() && Instant::now() < end {
        let mut on = |f: RxFrame<'_>, _: &mut dyn FrameTx| {
            let d = f.data();
            if d.len() >= 15 && d[12..14] == [0x88, 0xb5] && d[14] == marker {
                found = Some((d.to_vec(), f.meta.kind, f.headroom()));
            }
        };
        port.recv_batch(Some(Duration::from_millis(50)), &mut on)
            .unwrap();
    }
    found
}

/// Runs `body` on a thread inside a fresh network namespace.
fn in_netns(body: impl FnOnce() + Send + 'static) {
    if !is_root() {
        eprintln!("=== SKIP ports_netns: not root ===");
        return;
    }
    std::thread::spawn(move || {
        if !unshare_net() {
            eprintln!("=== SKIP ports_netns: unshare(CLONE_NEWNET) failed ===");
            return;
        }
        body();
    })
    .join()
    .unwrap();
}

#[test]
fn afpacket_over_veth() {
    in_netns(|| {
        ip("link add pa type veth peer name pb");
        ip("link set pa up");
        ip("link set pb up");
        let (ma, mb) = (mac_of("pa"), mac_of("pb"));
        let mut a = AfPacketPort::open(
            "pa",
            &AfPacketConfig {
                accept: Accept::HOST_ONLY,
                ..AfPacketConfig::default()
            },
        )
        .unwrap();
        let mut b = AfPacketPort::open("pb", &AfPacketConfig::default()).unwrap();
        assert_eq!(a.name(), "pa");

        // b -> a, addressed to a: lent on a as Host, with the requested headroom.
        let f1 = frame(ma, mb, 1);
        b.send(&f1).unwrap();
        let (got, kind, headroom) = wait_for(&mut a, 1).expect("frame on pa");
        assert_eq!(got, f1);
        assert_eq!(kind, PacketKind::Host);
        assert!(headroom >= 64, "headroom {headroom}");

        // A broadcast from a is seen on b but not lent back on a (outgoing), and a HOST_ONLY
        // port skips broadcasts.
        let f2 = frame([0xff; 6], ma, 2);
        assert_eq!(a.send_batch(&[&f2, &f2]).unwrap(), 2);
        let (_, kind, _) = wait_for(&mut b, 2).expect("broadcast on pb");
        assert_eq!(kind, PacketKind::Broadcast);
        assert!(wait_for_within(&mut a, 2, Duration::from_millis(300)).is_none());
        // Promiscuous mode and a fanout group of two sockets are accepted by the kernel.
        let fan = AfPacketConfig {
            promiscuous: true,
            fanout: Some(7),
            ..AfPacketConfig::default()
        };
        let f_a = AfPacketPort::open("pb", &fan).unwrap();
        let f_b = AfPacketPort::open("pb", &fan).unwrap();
        drop((f_a, f_b));
        let st = b.kernel_stats().unwrap();
        assert_eq!(st.drops, 0);
    });
}

#[test]
fn tap_device_both_ways() {
    in_netns(|| {
        let mut tap = TunTap::tap("lvstap0").unwrap();
        tap.set_up().unwrap();
        let mac = mac_of("lvstap0");
        let mut sock = AfPacketPort::open("lvstap0", &AfPacketConfig::default()).unwrap();

        // Written into the TAP: the kernel receives it on lvstap0.
        let f1 = frame(mac, [2, 0, 0, 0, 0, 9], 3);
        tap.send(&f1).unwrap();
        let (got, kind, _) = wait_for(&mut sock, 3).expect("frame from tap fd");
        assert_eq!(got, f1);
        assert_eq!(kind, PacketKind::Host);

        // Sent out of lvstap0 by the kernel side: read from the TAP.
        let f2 = frame([2, 0, 0, 0, 0, 9], mac, 4);
        sock.send(&f2).unwrap();
        let (got, _, headroom) = wait_for(&mut tap, 4).expect("frame on tap fd");
        assert_eq!(got, f2);
        assert_eq!(headroom, lvs_examples::io::DEFAULT_HEADROOM);
    });
}
