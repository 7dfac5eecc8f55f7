//! Instruction counts of `Director::process`, for `valgrind --tool=callgrind`
//! (wall time on a shared 2-core machine is noisy; instruction counts are
//! not). Usage: `instr SCENARIO N` runs N packets of one scenario after the
//! setup; `scripts/instr-counts.sh` runs N and 2N and reports the difference
//! divided by N, so setup cost cancels out.
//!
//! Scenarios: `{nat,tun,dr}_{v4,v6}` (established flows over 1000
//! connections), `{nat,tun,dr}_{v4,v6}_batch` (the same through
//! `process_batch` in groups of 32), `syn_v4` (new connections).

use std::hint::black_box;

use lvs_benches::{HEAD, client, director, tcp_frame};
use lvs_core::Instant;
use lvs_forwarding::{BatchItem, Offload, Verdict};

fn main() {
    let scenario = std::env::args().nth(1).unwrap_or_else(|| "nat_v4".into());
    let n: u32 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let v6 = scenario.contains("v6");
    let mode = scenario.split('_').next().unwrap_or("nat");
    let conns = 1000;
    if mode == "syn" {
        let (mut d, vip) = director("nat", conns, v6);
        // One template SYN; each packet gets a fresh source port and
        // address patched in (the IPv4 header checksum follows; L4 checksums
        // are not checked on the forwarding path).
        let f = tcp_frame(client(conns + 1, v6), vip, 0x02, 0);
        let (src_off, port_off) = if v6 {
            (14 + 8, 14 + 40)
        } else {
            (14 + 12, 14 + 20)
        };
        // The low half of the source address varies (the high half is the
        // client network's: 0.x.y.z would be a martian source).
        let orig_hi = u16::from_be_bytes([f[src_off + 2], f[src_off + 3]]);
        let mut buf = vec![0u8; 2048];
        let mut out = vec![0u8; 2048];
        for j in 0..n {
            buf[HEAD..HEAD + f.len()].copy_from_slice(&f);
            buf[HEAD + port_off..HEAD + port_off + 2]
                .copy_from_slice(&(1024 + (j % 60_000) as u16).to_be_bytes());
            let hi = (j / 60_000) as u16 + 1;
            buf[HEAD + src_off + 2..HEAD + src_off + 4].copy_from_slice(&hi.to_be_bytes());
            if !v6 {
                // The director verifies the IPv4 header checksum (RFC 1624 update).
                let c = u16::from_be_bytes([buf[HEAD + 24], buf[HEAD + 25]]);
                let c = lvs_forwarding::wire::checksum::update16(c, orig_hi, hi);
                buf[HEAD + 24..HEAD + 26].copy_from_slice(&c.to_be_bytes());
            }
            black_box(d.process(Instant::ZERO, 0, &mut buf, HEAD, f.len(), &mut out));
        }
        return;
    }
    let (mut d, vip) = director(mode, conns, v6);
    let frames: Vec<Vec<u8>> = (0..4096u32)
        .map(|k| {
            tcp_frame(
                client(k.wrapping_mul(2_654_435_761) % conns, v6),
                vip,
                0x10,
                0,
            )
        })
        .collect();
    let mut out = vec![0u8; 2048];
    if scenario.ends_with("batch") {
        let mut bufs: Vec<Vec<u8>> = (0..32).map(|_| vec![0u8; 256]).collect();
        let mut outs: Vec<Vec<u8>> = (0..32).map(|_| vec![0u8; 256]).collect();
        let mut k = 0usize;
        for _ in 0..n / 32 {
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
                    offload: Offload::NONE,
                    verdict: Verdict::Held,
                });
            }
            d.process_batch(Instant::from_secs(1), &mut items);
            black_box(items.len());
        }
        return;
    }
    let mut buf = vec![0u8; 2048];
    for k in 0..n as usize {
        let f = &frames[k & 4095];
        buf[HEAD..HEAD + f.len()].copy_from_slice(f);
        black_box(d.process(Instant::from_secs(1), 0, &mut buf, HEAD, f.len(), &mut out));
    }
}
