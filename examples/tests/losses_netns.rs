//! A full AF_PACKET receive ring drops frames in the kernel, where the Director's counters
//! cannot see them: the port must report them through [`FramePort::losses`]. A ring of two
//! 4 KiB blocks (with one block the kernel drops every frame) is flooded over a veth pair in
//! a private network namespace while nobody reads, and the port's loss accounting must show
//! the drops (and keep them across reads, since the kernel's counter resets on every read).
//! Needs root; prints SKIP and passes otherwise.

use std::process::Command;
use std::time::{Duration, Instant};

use lvs_examples::io::afpacket::{Accept, AfPacketConfig, AfPacketPort, hw_addr};
use lvs_examples::io::{FramePort, FrameTx, RxFrame};

/// Frames sent in the flood: far more than two 4 KiB blocks hold (a few dozen).
const FLOOD: usize = 2_000;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn ip(args: &str) {
    let st = Command::new("ip")
        .args(args.split_whitespace())
        .status()
        .expect("run ip");
    assert!(st.success(), "ip {args}");
}

/// An Ethernet frame with a local-experimental EtherType.
fn frame(dst: [u8; 6], src: [u8; 6], n: u16) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend_from_slice(&n.to_be_bytes());
    f.extend(std::iter::repeat_n(0x5a, 44));
    f
}

#[test]
fn a_full_ring_reports_its_drops() {
    if !is_root() {
        eprintln!("=== SKIP losses_netns: not root ===");
        return;
    }
    // The namespace belongs to this thread only and disappears with it (and the veth pair
    // with the namespace), also when an assertion fails.
    std::thread::spawn(|| {
        // SAFETY: unshare only changes the calling thread's namespaces.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            eprintln!("=== SKIP losses_netns: unshare(CLONE_NEWNET) failed ===");
            return;
        }
        ip("link add la type veth peer name lb");
        ip("link set la up");
        ip("link set lb up");
        let (ma, mb) = (hw_addr("la").unwrap(), hw_addr("lb").unwrap());
        let mut small = AfPacketPort::open(
            "la",
            &AfPacketConfig {
                block_size: 4096,
                block_count: 2,
                block_timeout_ms: 1,
                vnet_hdr: false,
                accept: Accept::HOST_ONLY,
                ..AfPacketConfig::default()
            },
        )
        .unwrap();
        let mut sender = AfPacketPort::open(
            "lb",
            &AfPacketConfig {
                vnet_hdr: false,
                ..AfPacketConfig::default()
            },
        )
        .unwrap();
        assert_eq!(
            small.losses().ring_drops,
            0,
            "nothing lost before the flood"
        );
        let end = Instant::now() + Duration::from_secs(5);
        let mut sent = 0;
        for n in 0..FLOOD {
            if Instant::now() > end {
                break;
            }
            if sender.send(&frame(ma, mb, n as u16)).is_ok() {
                sent += 1;
            }
        }
        assert!(sent > 100, "flood sent only {sent} frames");
        // Let the kernel finish delivering over the veth.
        std::thread::sleep(Duration::from_millis(100));
        let first = small.losses();
        assert!(
            first.ring_drops > 0,
            "a one-block ring flooded with {sent} frames reports no drops: {first:?}"
        );
        assert!(first.ring_drops < sent as u64, "{first:?} of {sent}");
        // The kernel's counter reset on that read; the port's total does not.
        let second = small.losses();
        assert!(
            second.ring_drops >= first.ring_drops,
            "{first:?} then {second:?}"
        );
        // What the ring did hold is still delivered.
        let mut lent = 0;
        let mut on = |_: RxFrame<'_>, _: &mut dyn FrameTx| lent += 1;
        small
            .recv_batch(Some(Duration::from_millis(200)), &mut on)
            .unwrap();
        assert!(lent > 0 && lent < sent, "lent {lent} of {sent}");
        eprintln!("flood of {sent}: {second:?}, {lent} lent");
    })
    .join()
    .unwrap();
}
