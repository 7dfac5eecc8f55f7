use super::*;
use crate::Flow;
use crate::conn::{ConnFlags, TcpState};
use crate::scheduler::{DestChange, DestView};
use alloc::boxed::Box;

/// Round robin over schedulable servers in list order: enough to drive the
/// balancer without depending on lvs-schedulers.
#[derive(Default)]
struct Rr(usize);
impl Scheduler for Rr {
    fn name(&self) -> &'static str {
        "rr"
    }
    fn pick(&mut self, dests: DestView<'_>, _: &Flow) -> Option<DestId> {
        let n = dests.len();
        for i in 0..n {
            let pos = (self.0 + i) % n;
            if let Some((id, r)) = dests.at(pos)
                && r.schedulable()
            {
                self.0 = pos + 1;
                return Some(id);
            }
        }
        None
    }
    fn update(&mut self, _: DestView<'_>, _: DestChange) {
        self.0 = 0;
    }
}

const SYN: u8 = tcp_flags::SYN;
const ACK: u8 = tcp_flags::ACK;
const FIN: u8 = tcp_flags::FIN;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn vip() -> SocketAddr {
    sa("203.0.113.10:80")
}

fn key() -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        vip: vip(),
    }
}

fn rs(n: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, n)), 8080)
}

fn client(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)), port)
}

fn tcp(src: SocketAddr, dst: SocketAddr, flags: u8) -> PacketInfo {
    PacketInfo {
        protocol: Protocol::Tcp,
        src,
        dst,
        tcp_flags: flags,
        fwmark: 0,
        ip_len: 60,
    }
}

fn nat_balancer(servers: u8, fwd: Forwarding) -> Balancer {
    let mut b = Balancer::new(1024, 64, 42);
    b.add_service(
        ServiceConfig::tcp(vip()).scheduler("rr"),
        Box::new(Rr::default()),
    )
    .unwrap();
    for n in 1..=servers {
        b.add_real_server(&key(), RealServerConfig::new(rs(n)).forwarding(fwd))
            .unwrap();
    }
    b
}

fn server(b: &Balancer, addr: SocketAddr) -> &crate::RealServer {
    let s = b
        .services()
        .get(b.services().find(&key()).unwrap())
        .unwrap();
    s.server(s.find(addr).unwrap()).unwrap()
}

#[test]
fn nat_handshake_and_reply() {
    let mut b = nat_balancer(1, Forwarding::Masquerade);
    let t0 = Instant::from_secs(1);
    assert_eq!(
        b.process_in(t0, &tcp(client(5000), vip(), ACK)),
        Err(Miss::NotScheduled)
    );
    let t = b.process_in(t0, &tcp(client(5000), vip(), SYN)).unwrap();
    assert!(t.new);
    assert_eq!(t.real_server, rs(1));
    assert_eq!(t.method, Method::Masquerade);
    let c = *b.table_v4().get(t.conn).unwrap();
    assert_eq!(TcpState::from_u8(c.state), Some(TcpState::SynRecv));
    assert_eq!(
        server(&b, rs(1)).active_conns,
        1,
        "SYN_RECV counts as active"
    );

    // The real server answers SYN/ACK: recognised from its side.
    let r = b
        .process_out(t0, &tcp(rs(1), client(5000), SYN | ACK))
        .unwrap();
    assert_eq!(r.vip, vip());
    assert_eq!(r.conn, t.conn);
    let t2 = b.process_in(t0, &tcp(client(5000), vip(), ACK)).unwrap();
    assert_eq!(t2.conn, t.conn);
    assert!(!t2.new);
    let c = *b.table_v4().get(t.conn).unwrap();
    assert_eq!(TcpState::from_u8(c.state), Some(TcpState::Established));
    assert_eq!(c.timeout_ms, 900_000);
    // Not a reply: unknown source.
    assert!(b.process_out(t0, &tcp(rs(9), client(5000), ACK)).is_none());
    // Counters.
    assert_eq!(b.totals().counters.conns, 1);
    assert_eq!(b.totals().counters.in_pkts, 2);
    assert_eq!(b.totals().counters.out_pkts, 1);
    assert_eq!(server(&b, rs(1)).stats.counters.in_bytes, 120);

    // Close: client FIN, server FIN: inactive afterwards.
    b.process_in(t0, &tcp(client(5000), vip(), FIN | ACK))
        .unwrap();
    b.process_out(t0, &tcp(rs(1), client(5000), FIN | ACK))
        .unwrap();
    let c = *b.table_v4().get(t.conn).unwrap();
    assert_eq!(TcpState::from_u8(c.state), Some(TcpState::TimeWait));
    assert_eq!(server(&b, rs(1)).active_conns, 0);
    assert_eq!(server(&b, rs(1)).inactive_conns, 1);
}

#[test]
fn dr_uses_input_only_and_expires() {
    let mut b = nat_balancer(2, Forwarding::DirectRoute);
    let t0 = Instant::from_secs(10);
    let t = b.process_in(t0, &tcp(client(6000), vip(), SYN)).unwrap();
    assert_eq!(t.method, Method::DirectRoute);
    let c = *b.table_v4().get(t.conn).unwrap();
    assert!(c.flags.has(ConnFlags::NO_OUTPUT));
    // INPUT-ONLY fin from ESTABLISHED goes to FIN_WAIT (not CLOSE_WAIT).
    b.process_in(t0, &tcp(client(6000), vip(), ACK)).unwrap();
    b.process_in(t0, &tcp(client(6000), vip(), FIN | ACK))
        .unwrap();
    let c = *b.table_v4().get(t.conn).unwrap();
    assert_eq!(TcpState::from_u8(c.state), Some(TcpState::FinWait));
    // A DR connection has no real-server-side key.
    assert!(
        b.process_out(t0, &tcp(t.real_server, client(6000), ACK))
            .is_none()
    );
    let due = b.next_timeout().unwrap();
    assert!(due <= t0 + core::time::Duration::from_secs(120));
    assert_eq!(
        b.on_timeout(t0 + core::time::Duration::from_secs(121), 100),
        1
    );
    assert_eq!(b.conn_count(), 0);
    assert_eq!(server(&b, t.real_server).inactive_conns, 0);
    assert_eq!(server(&b, t.real_server).active_conns, 0);
}

#[test]
fn no_destination_and_not_virtual() {
    let mut b = nat_balancer(1, Forwarding::Masquerade);
    b.set_weight(&key(), rs(1), 0).unwrap();
    let now = Instant::ZERO;
    assert_eq!(
        b.process_in(now, &tcp(client(1), vip(), SYN)),
        Err(Miss::NoDestination)
    );
    assert_eq!(b.counters().no_destination, 1);
    assert_eq!(
        b.process_in(now, &tcp(client(1), sa("203.0.113.11:80"), SYN)),
        Err(Miss::NotVirtual)
    );
    assert_eq!(b.conn_count(), 0);
}

#[test]
fn persistence_keeps_client_on_one_server() {
    let mut b = Balancer::new(1024, 16, 1);
    b.add_service(
        ServiceConfig::tcp(vip()).scheduler("rr").persistent(300),
        Box::new(Rr::default()),
    )
    .unwrap();
    for n in 1..=3 {
        b.add_real_server(
            &key(),
            RealServerConfig::new(rs(n)).forwarding(Forwarding::Masquerade),
        )
        .unwrap();
    }
    let now = Instant::from_secs(5);
    let first = b
        .process_in(now, &tcp(client(1000), vip(), SYN))
        .unwrap()
        .real_server;
    for p in 1001..1010 {
        let t = b.process_in(now, &tcp(client(p), vip(), SYN)).unwrap();
        assert_eq!(t.real_server, first);
    }
    // Another client (different /32) goes elsewhere under rr.
    let other = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99)), 1000);
    let t = b.process_in(now, &tcp(other, vip(), SYN)).unwrap();
    assert_ne!(t.real_server, first);
    assert_eq!(server(&b, first).persistent_conns, 1);
    // 10 connections + 1 template for the first client, 1 + 1 for the other.
    assert_eq!(b.conn_count(), 13);

    // The template outlives its timeout while it controls connections: all
    // SYN_RECV connections expire after 60 s, the template is re-armed.
    let later = now + core::time::Duration::from_secs(301);
    b.on_timeout(later, 1000);
    // After the connections are gone the template can expire too.
    let much_later = later + core::time::Duration::from_secs(400);
    b.on_timeout(much_later, 1000);
    assert_eq!(b.conn_count(), 0);
    assert_eq!(server(&b, first).persistent_conns, 0);
}

#[test]
fn quiescent_template_expires_only_when_asked() {
    let mut b = Balancer::new(1024, 16, 1);
    b.add_service(
        ServiceConfig::tcp(vip()).scheduler("rr").persistent(300),
        Box::new(Rr::default()),
    )
    .unwrap();
    for n in 1..=2 {
        b.add_real_server(&key(), RealServerConfig::new(rs(n)))
            .unwrap();
    }
    let now = Instant::ZERO;
    let first = b
        .process_in(now, &tcp(client(1), vip(), SYN))
        .unwrap()
        .real_server;
    b.set_weight(&key(), first, 0).unwrap();
    // IPVS default: the template still sends the client to the quiesced server.
    let t = b.process_in(now, &tcp(client(2), vip(), SYN)).unwrap();
    assert_eq!(t.real_server, first);
    b.settings_mut().expire_quiescent_template = true;
    let t = b.process_in(now, &tcp(client(3), vip(), SYN)).unwrap();
    assert_ne!(t.real_server, first);
}

#[test]
fn one_packet_scheduling_keeps_nothing() {
    let mut b = Balancer::new(64, 16, 1);
    let mut cfg = ServiceConfig::udp(sa("203.0.113.10:53")).scheduler("rr");
    cfg.one_packet = true;
    let k = cfg.key;
    b.add_service(cfg, Box::new(Rr::default())).unwrap();
    b.add_real_server(&k, RealServerConfig::new(rs(1))).unwrap();
    b.add_real_server(&k, RealServerConfig::new(rs(2))).unwrap();
    let mut seen = [0u32; 2];
    for _ in 0..10 {
        let info = PacketInfo {
            protocol: Protocol::Udp,
            src: client(4000),
            dst: sa("203.0.113.10:53"),
            tcp_flags: 0,
            fwmark: 0,
            ip_len: 40,
        };
        let t = b.process_in(Instant::ZERO, &info).unwrap();
        assert!(t.conn.is_none());
        seen[usize::from(t.real_server == rs(2))] += 1;
    }
    assert_eq!(seen, [5, 5], "same source port still spreads");
    assert_eq!(b.conn_count(), 0);
    assert_eq!(b.totals().counters.conns, 10);
}

#[test]
fn removed_server_drops_or_reschedules() {
    let mut b = nat_balancer(2, Forwarding::Masquerade);
    let now = Instant::ZERO;
    let t = b.process_in(now, &tcp(client(1), vip(), SYN)).unwrap();
    b.process_in(now, &tcp(client(1), vip(), ACK)).unwrap();
    b.remove_real_server(&key(), t.real_server).unwrap();
    // Default: packets of its connections are dropped silently.
    assert_eq!(
        b.process_in(now, &tcp(client(1), vip(), ACK)),
        Err(Miss::DestUnavailable)
    );
    // With expire_nodest_conn a new SYN on the same tuple is rescheduled.
    b.settings_mut().expire_nodest_conn = true;
    let t2 = b.process_in(now, &tcp(client(1), vip(), SYN)).unwrap();
    assert_ne!(t2.real_server, t.real_server);
    assert!(t2.new);
}

#[test]
fn conn_reuse_mode_reschedules_time_wait() {
    let mut b = nat_balancer(2, Forwarding::Masquerade);
    let now = Instant::ZERO;
    let t = b.process_in(now, &tcp(client(7), vip(), SYN)).unwrap();
    b.process_in(now, &tcp(client(7), vip(), ACK)).unwrap();
    b.process_in(now, &tcp(client(7), vip(), FIN | ACK))
        .unwrap();
    b.process_out(now, &tcp(t.real_server, client(7), FIN | ACK))
        .unwrap();
    let t2 = b.process_in(now, &tcp(client(7), vip(), SYN)).unwrap();
    assert!(t2.new, "a SYN over TIME_WAIT is a new connection");
    assert_eq!(b.counters().rescheduled, 1);

    // Mode 0: the port-reused connection stays on the same server.
    b.settings_mut().conn_reuse_mode = ConnReuseMode::OFF;
    b.process_in(now, &tcp(client(7), vip(), ACK)).unwrap();
    b.process_in(now, &tcp(client(7), vip(), FIN | ACK))
        .unwrap();
    b.process_out(now, &tcp(t2.real_server, client(7), FIN | ACK))
        .unwrap();
    let t3 = b.process_in(now, &tcp(client(7), vip(), SYN)).unwrap();
    assert!(!t3.new);
    assert_eq!(t3.real_server, t2.real_server);
}

#[test]
fn reconfiguration_keeps_connections() {
    let mut b = nat_balancer(3, Forwarding::Masquerade);
    let now = Instant::ZERO;
    let mut placed = alloc::vec::Vec::new();
    for p in 0..30 {
        let t = b
            .process_in(now, &tcp(client(2000 + p), vip(), SYN))
            .unwrap();
        placed.push((2000 + p, t.real_server));
    }
    b.set_weight(&key(), rs(1), 5).unwrap();
    b.add_real_server(
        &key(),
        RealServerConfig::new(rs(4)).forwarding(Forwarding::Masquerade),
    )
    .unwrap();
    b.set_weight(&key(), rs(2), 0).unwrap();
    for (p, r) in placed {
        let t = b.process_in(now, &tcp(client(p), vip(), ACK)).unwrap();
        assert_eq!(t.real_server, r);
        assert!(!t.new);
    }
}

#[test]
fn full_table_sheds_half_open_first() {
    let mut b = Balancer::new(64, 4, 3);
    b.add_service(
        ServiceConfig::tcp(vip()).scheduler("rr"),
        Box::new(Rr::default()),
    )
    .unwrap();
    b.add_real_server(
        &key(),
        RealServerConfig::new(rs(1)).forwarding(Forwarding::Masquerade),
    )
    .unwrap();
    let now = Instant::ZERO;
    let cap = b.table_v4().capacity();
    // Half the table established.
    let est = cap / 2;
    for p in 0..est as u16 {
        b.process_in(now, &tcp(client(10_000 + p), vip(), SYN))
            .unwrap();
        b.process_in(now, &tcp(client(10_000 + p), vip(), ACK))
            .unwrap();
    }
    // A SYN flood many times the table's size.
    let mut refused = 0;
    for p in 0..(cap as u16 * 4) {
        let src = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 200)), 1 + p);
        if b.process_in(now, &tcp(src, vip(), SYN)).is_err() {
            refused += 1;
        }
    }
    assert_eq!(refused, 0, "half-open entries make room for new SYNs");
    assert!(b.counters().evicted_half_open > 0);
    for p in 0..est as u16 {
        let t = b
            .process_in(now, &tcp(client(10_000 + p), vip(), ACK))
            .unwrap();
        assert!(!t.new, "established connection {p} survived the flood");
    }
    assert!(b.conn_count() <= cap);
    let r = server(&b, rs(1));
    assert_eq!(
        (r.active_conns + r.inactive_conns) as usize,
        b.conn_count(),
        "counts follow evictions"
    );
}
