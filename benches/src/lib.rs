//! Shared fixtures for the criterion benches and the instruction-count
//! driver of lvs-rs: hand-built frames (no allocation in timed loops) and a
//! Director preloaded with connections.

use std::net::{IpAddr, SocketAddr};

use lvs_core::Instant;
use lvs_core::conn::TcpState;
use lvs_forwarding::wire::MacAddr;
use lvs_forwarding::{Director, DirectorConfig, IpCidr, Verdict};

/// The director's MAC.
pub const D: [u8; 6] = [2, 0, 0, 0, 0, 0xd1];
/// The clients' (gateway's) MAC.
pub const C: [u8; 6] = [2, 0, 0, 0, 0, 1];
/// The real server's MAC.
pub const R: [u8; 6] = [2, 0, 0, 0, 0, 0x52];
/// Headroom before each frame in its buffer (room for VS/TUN).
pub const HEAD: usize = 128;

/// A TCP frame, built by hand (no allocation in the timed loop, no
/// dependency): Ethernet + IPv4/IPv6 + 20-byte TCP + `payload` zero bytes.
pub fn tcp_frame(src: SocketAddr, dst: SocketAddr, flags: u8, payload: usize) -> Vec<u8> {
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

/// One's-complement sum of 16-bit words (unfolded).
pub fn sum(b: &[u8]) -> u64 {
    b.chunks(2)
        .map(|c| u64::from(c[0]) << 8 | u64::from(*c.get(1).unwrap_or(&0)))
        .sum()
}

/// Fold a sum to 16 bits.
pub fn fold(mut s: u64) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The `i`-th client: 60,000 ports per address, off-link for IPv4 (one
/// neighbour entry: the gateway).
pub fn client(i: u32, v6: bool) -> SocketAddr {
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

/// A director with one TCP service on port 80 (`mode`: nat, tun or dr) and
/// `conns` connections made by SYNs from [`client`]s.
pub fn director(mode: &str, conns: u32, v6: bool) -> (Director, SocketAddr) {
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

/// Write client `i`'s address and port into a frame built by [`tcp_frame`]
/// for any client (the IPv4 header checksum is updated, the director
/// verifies it; L4 checksums are left stale: it does not verify those on the
/// forwarding path). Lets a bench walk a million connections without a million
/// prebuilt frames, so table lookups really miss the caches.
pub fn patch_client(frame: &mut [u8], i: u32, v6: bool) {
    let c = client(i, v6);
    let (addr_off, port_off) = if v6 {
        (14 + 8, 14 + 40)
    } else {
        (14 + 12, 14 + 20)
    };
    match c.ip() {
        IpAddr::V4(a) => {
            // The director verifies IPv4 header checksums: keep this one right
            // (RFC 1624 update for the changed source address).
            let old = u32::from_be_bytes(frame[addr_off..addr_off + 4].try_into().unwrap());
            let csum = u16::from_be_bytes([frame[24], frame[25]]);
            let csum = lvs_forwarding::wire::checksum::update32(csum, old, u32::from(a));
            frame[24..26].copy_from_slice(&csum.to_be_bytes());
            frame[addr_off..addr_off + 4].copy_from_slice(&a.octets());
        }
        IpAddr::V6(a) => frame[addr_off..addr_off + 16].copy_from_slice(&a.octets()),
    }
    frame[port_off..port_off + 2].copy_from_slice(&c.port().to_be_bytes());
}
