//! The smallest embedding of the library: a VS/NAT director driven by hand, without any
//! packet I/O. An embedder with its own ports (DPDK, a NIC driver, a simulator) does the same:
//! hand each received frame and the time to the Director, send what the verdict says, drain
//! `poll_transmit`, call `on_timeout` when due.
//!
//! `cargo run -p lvs-examples --example embed`

use lvs_forwarding::{Director, DirectorConfig, Instant, IpCidr, MacAddr, Verdict};

const DIRECTOR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const RS_MAC: [u8; 6] = [0x02, 0, 0, 0, 1, 0x11];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rules = "-A -t 203.0.113.10:80 -s rr\n\
                 -a -t 203.0.113.10:80 -r 192.0.2.11:8080 -m -w 1\n";
    // One link: the director's MAC and addresses (their prefixes are on-link).
    let addrs: [IpCidr; 2] = ["198.51.100.1/24".parse()?, "192.0.2.1/24".parse()?];
    let mut cfg = DirectorConfig::single_link(MacAddr(DIRECTOR_MAC), &addrs);
    // The real server's MAC is known in advance here; otherwise the Director resolves it
    // with ARP and holds the frame meanwhile (`Verdict::Held`, then `poll_transmit`).
    cfg.neighbors = vec![("192.0.2.11".parse()?, MacAddr(RS_MAC))];
    let mut director = Director::from_rules(cfg, rules)?;

    // A client's SYN to the VIP, with room in front of it for a tunnel header.
    let syn = tcp_syn([198, 51, 100, 2], 40000, [203, 0, 113, 10], 80);
    let headroom = 64;
    let mut buf = vec![0u8; headroom + syn.len()];
    buf[headroom..].copy_from_slice(&syn);
    let mut out = [0u8; 1600];
    let now = Instant::from_millis(0);
    match director.process(now, 0, &mut buf, headroom, syn.len(), &mut out) {
        Verdict::Forward { link, start, len } => {
            let f = &buf[start..start + len];
            println!(
                "forward {len} bytes on link {link}: to {}.{}.{}.{}:{} (MAC {:02x?})",
                f[30],
                f[31],
                f[32],
                f[33],
                u16::from_be_bytes([f[36], f[37]]),
                &f[..6]
            );
        }
        other => println!("verdict: {other:?}"),
    }
    while let Some((link, len)) = director.poll_transmit(&mut out) {
        println!("the director sends {len} bytes of its own on link {link}");
    }
    print!(
        "{}",
        director.listing(&lvs_forwarding::ListOptions::new(
            lvs_forwarding::ListFormat::Plain
        ))
    );
    Ok(())
}

/// An Ethernet + IPv4 + TCP SYN with correct checksums.
fn tcp_syn(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(54);
    f.extend_from_slice(&DIRECTOR_MAC);
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&40u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&src);
    ip[16..20].copy_from_slice(&dst);
    let c = checksum(&ip, 0);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut tcp = [0u8; 20];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&dport.to_be_bytes());
    tcp[4..8].copy_from_slice(&1u32.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x02; // SYN
    tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
    let mut pseudo = 0u32;
    for w in src.chunks(2).chain(dst.chunks(2)) {
        pseudo += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    pseudo += 6 + 20;
    let c = checksum(&tcp, pseudo);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&tcp);
    f
}

/// The Internet checksum of `data` with `initial` already summed in (RFC 1071).
fn checksum(data: &[u8], initial: u32) -> u16 {
    let mut sum = initial;
    for w in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
