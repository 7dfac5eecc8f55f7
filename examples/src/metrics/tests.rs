//! Rendering tests: a Director built from rules text, traffic pushed through `process`, and the
//! Prometheus text checked line by line; then the HTTP server on 127.0.0.1.

use super::*;
use crate::health::Health;
use crate::io::PortLosses;
use etherparse::PacketBuilder;
use lvs_core::Instant;
use lvs_forwarding::{DirectorConfig, IpCidr, MacAddr, Verdict};
use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::sync::{Arc, Mutex};

const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const DIRECTOR_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xd1];
const RS_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x52];
const HEAD: usize = lvs_forwarding::xform::MAX_HEADROOM + 64;

const RULES: &str = "\
-A -t 203.0.113.10:80 -s rr
-a -t 203.0.113.10:80 -r 198.51.100.11:8080 -m -w 3
-a -t 203.0.113.10:80 -r 198.51.100.12:8080 -m -w 2
-A -u 203.0.113.10:53 -s rr
-a -u 203.0.113.10:53 -r 198.51.100.11:53 -m -w 1
-A -t [2001:db8:f::10]:443 -s wlc
-a -t [2001:db8:f::10]:443 -r [2001:db8:5::11]:443 -m -w 7
";

fn director() -> Director {
    let addrs: Vec<IpCidr> = ["192.0.2.1/24", "198.51.100.1/24", "2001:db8:5::1/64"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let mut cfg = DirectorConfig::single_link(MacAddr(DIRECTOR_MAC), &addrs);
    for (ip, mac) in [
        ("192.0.2.2", CLIENT_MAC),
        ("198.51.100.11", RS_MAC),
        ("198.51.100.12", RS_MAC),
    ] {
        cfg.neighbors.push((ip.parse().unwrap(), MacAddr(mac)));
    }
    cfg.conn_capacity_v4 = 1024;
    cfg.conn_capacity_v6 = 512;
    Director::from_rules(cfg, RULES).unwrap()
}

/// A TCP frame without payload (40 IP bytes).
fn tcp(smac: [u8; 6], dmac: [u8; 6], src: SocketAddr, dst: SocketAddr, syn: bool) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
        panic!("IPv4 only");
    };
    let b = PacketBuilder::ethernet2(smac, dmac).ipv4(s.octets(), d.octets(), 64);
    let mut t = b.tcp(src.port(), dst.port(), 1000, 64240);
    t = if syn { t.syn() } else { t.syn().ack(1001) };
    let mut v = Vec::new();
    t.write(&mut v, &[]).unwrap();
    v
}

fn feed(d: &mut Director, frame: &[u8]) -> (Verdict, Vec<u8>) {
    let mut buf = vec![0u8; HEAD + frame.len()];
    buf[HEAD..].copy_from_slice(frame);
    let mut out = vec![0u8; 2048];
    let v = d.process(
        Instant::from_secs(100),
        0,
        &mut buf,
        HEAD,
        frame.len(),
        &mut out,
    );
    let fwd = match v {
        Verdict::Forward { start, len, .. } => buf[start..start + len].to_vec(),
        _ => Vec::new(),
    };
    (v, fwd)
}

/// A director that scheduled one TCP connection (SYN in, SYN-ACK out), dropped one
/// truncated frame, with one port's losses and health for two real servers.
fn snapshot_with_traffic() -> (MetricsSnapshot, SocketAddr) {
    let mut d = director();
    let client: SocketAddr = "192.0.2.2:40000".parse().unwrap();
    let vip: SocketAddr = "203.0.113.10:80".parse().unwrap();
    let (v, fwd) = feed(&mut d, &tcp(CLIENT_MAC, DIRECTOR_MAC, client, vip, true));
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    // The real server the SYN went to (NAT rewrote the destination).
    let p = etherparse::SlicedPacket::from_ethernet(&fwd).unwrap();
    let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
        panic!("not IPv4")
    };
    let Some(etherparse::TransportSlice::Tcp(t)) = p.transport else {
        panic!("not TCP")
    };
    let rs = SocketAddr::new(ip.header().destination_addr().into(), t.destination_port());
    let (v, _) = feed(&mut d, &tcp(RS_MAC, DIRECTOR_MAC, rs, client, false));
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    let mut short = tcp(CLIENT_MAC, DIRECTOR_MAC, client, vip, true);
    short.truncate(14 + 20 + 8);
    let (v, _) = feed(&mut d, &short);
    assert!(matches!(v, Verdict::Drop(DropReason::Malformed)), "{v:?}");

    let down: SocketAddr = "198.51.100.12:8080".parse().unwrap();
    let up: SocketAddr = "198.51.100.11:8080".parse().unwrap();
    let health = move |_: &ServiceKey, a: SocketAddr| {
        (a == down)
            .then_some(Health::Down)
            .or((a == up).then_some(Health::Up))
    };
    let ports = vec![PortMetrics {
        name: "eth0".into(),
        losses: PortLosses {
            ring_drops: 7,
            ring_freezes: 2,
            skipped: 3,
            bad_offload: 1,
        },
        send_failures: 5,
    }];
    (MetricsSnapshot::from_director(&d, &health, ports), rs)
}

fn has(text: &str, line: &str) {
    assert!(
        text.lines().any(|l| l == line),
        "missing line {line:?} in:\n{text}"
    );
}

fn backend(local: &str, lport: u16, remote: &str, rport: u16, proto: &str, mark: &str) -> String {
    format!(
        "{{local_address=\"{local}\",local_port=\"{lport}\",remote_address=\"{remote}\",remote_port=\"{rport}\",proto=\"{proto}\",local_mark=\"{mark}\"}}"
    )
}

#[test]
fn node_exporter_names_labels_and_values() {
    let (s, rs) = snapshot_with_traffic();
    let text = s.render();
    // Director-wide totals: one connection, one packet each way of 40 IP bytes.
    has(&text, "# TYPE node_ipvs_connections_total counter");
    has(&text, "node_ipvs_connections_total 1");
    has(&text, "node_ipvs_incoming_packets_total 1");
    has(&text, "node_ipvs_outgoing_packets_total 1");
    has(&text, "node_ipvs_incoming_bytes_total 40");
    has(&text, "node_ipvs_outgoing_bytes_total 40");
    // Weights with node_exporter's label values for TCP, UDP, IPv6 and fwmark services.
    has(&text, "# TYPE node_ipvs_backend_weight gauge");
    let b11 = backend("203.0.113.10", 80, "198.51.100.11", 8080, "TCP", "");
    let b12 = backend("203.0.113.10", 80, "198.51.100.12", 8080, "TCP", "");
    has(&text, &format!("node_ipvs_backend_weight{b11} 3"));
    has(&text, &format!("node_ipvs_backend_weight{b12} 2"));
    let udp = backend("203.0.113.10", 53, "198.51.100.11", 53, "UDP", "");
    has(&text, &format!("node_ipvs_backend_weight{udp} 1"));
    let v6 = backend("2001:db8:f::10", 443, "2001:db8:5::11", 443, "TCP", "");
    has(&text, &format!("node_ipvs_backend_weight{v6} 7"));
    // The connection is on the real server the SYN went to, and nowhere else.
    let svc = s
        .services
        .iter()
        .find(|v| v.backends.iter().any(|b| b.addr == rs))
        .unwrap();
    let b = svc.backends.iter().find(|b| b.addr == rs).unwrap();
    assert_eq!(b.active_conns + b.inactive_conns, 1);
    let lbl = backend(
        "203.0.113.10",
        80,
        &rs.ip().to_string(),
        rs.port(),
        "TCP",
        "",
    );
    has(
        &text,
        &format!(
            "node_ipvs_backend_connections_active{lbl} {}",
            b.active_conns
        ),
    );
    has(
        &text,
        &format!(
            "node_ipvs_backend_connections_inactive{lbl} {}",
            b.inactive_conns
        ),
    );
    has(&text, &format!("lvs_backend_connections_total{lbl} 1"));
    has(&text, &format!("lvs_backend_incoming_bytes_total{lbl} 40"));
    has(&text, &format!("lvs_backend_outgoing_packets_total{lbl} 1"));
    let active_sum: u32 = s
        .services
        .iter()
        .flat_map(|v| &v.backends)
        .map(|b| b.active_conns + b.inactive_conns)
        .sum();
    assert_eq!(active_sum, 1);
    // Per service.
    has(
        &text,
        "lvs_service_connections_total{local_address=\"203.0.113.10\",local_port=\"80\",proto=\"TCP\",local_mark=\"\"} 1",
    );
    has(
        &text,
        "lvs_service_incoming_packets_total{local_address=\"2001:db8:f::10\",local_port=\"443\",proto=\"TCP\",local_mark=\"\"} 0",
    );
}

/// The Director serves no fwmark or SCTP services, but an embedder's Balancer may: their label
/// values are the ones node_exporter reads from `/proc/net/ip_vs` (`FWM  %08X`, `SCTP`).
#[test]
fn fwmark_and_sctp_labels() {
    let rs = |addr: &str, weight| BackendMetrics {
        addr: addr.parse().unwrap(),
        weight,
        active_conns: 2,
        inactive_conns: 5,
        persistent_conns: 0,
        counters: Counters::default(),
        health: None,
    };
    let s = MetricsSnapshot {
        services: vec![
            ServiceMetrics {
                key: ServiceKey::Fwmark {
                    family: Family::V4,
                    mark: 0xbeef,
                },
                counters: Counters::default(),
                backends: vec![rs("198.51.100.13:0", 4)],
            },
            ServiceMetrics {
                key: ServiceKey::Addr {
                    protocol: Protocol::Sctp,
                    vip: "203.0.113.10:2905".parse().unwrap(),
                },
                counters: Counters::default(),
                backends: vec![rs("198.51.100.14:2905", 9)],
            },
        ],
        ..MetricsSnapshot::default()
    };
    let text = s.render();
    let fwm = backend("", 0, "198.51.100.13", 0, "FWM", "0000BEEF");
    has(&text, &format!("node_ipvs_backend_weight{fwm} 4"));
    has(
        &text,
        &format!("node_ipvs_backend_connections_active{fwm} 2"),
    );
    has(
        &text,
        &format!("node_ipvs_backend_connections_inactive{fwm} 5"),
    );
    let sctp = backend("203.0.113.10", 2905, "198.51.100.14", 2905, "SCTP", "");
    has(&text, &format!("node_ipvs_backend_weight{sctp} 9"));
    assert!(
        !text.contains("lvs_backend_health_up{"),
        "unchecked servers have no health series"
    );
}

/// Two entries with the same label set are summed into one series, as node_exporter does.
#[test]
fn equal_label_sets_are_summed() {
    let rs = BackendMetrics {
        addr: "198.51.100.13:0".parse().unwrap(),
        weight: 3,
        active_conns: 1,
        inactive_conns: 0,
        persistent_conns: 0,
        counters: Counters::default(),
        health: None,
    };
    let svc = ServiceMetrics {
        key: ServiceKey::Fwmark {
            family: Family::V4,
            mark: 1,
        },
        counters: Counters::default(),
        backends: vec![rs.clone(), rs],
    };
    let text = MetricsSnapshot {
        services: vec![svc],
        ..MetricsSnapshot::default()
    }
    .render();
    let l = backend("", 0, "198.51.100.13", 0, "FWM", "00000001");
    has(&text, &format!("node_ipvs_backend_weight{l} 6"));
    has(&text, &format!("node_ipvs_backend_connections_active{l} 2"));
}

#[test]
fn director_metrics() {
    let (s, _) = snapshot_with_traffic();
    let text = s.render();
    has(&text, "# TYPE lvs_drops_total counter");
    has(&text, "lvs_drops_total{reason=\"malformed\"} 1");
    has(&text, "lvs_drops_total{reason=\"table_full\"} 0");
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("lvs_drops_total{"))
            .count(),
        DropReason::ALL.len()
    );
    has(&text, "lvs_frames_received_total 3");
    has(&text, "lvs_frames_forwarded_total 2");
    has(&text, "lvs_connection_table_entries{family=\"ipv4\"} 1");
    has(&text, "lvs_connection_table_entries{family=\"ipv6\"} 0");
    let cap4 = s.tables[0].capacity;
    assert!(cap4 >= 1024, "{cap4}");
    has(
        &text,
        &format!("lvs_connection_table_capacity{{family=\"ipv4\"}} {cap4}"),
    );
    has(
        &text,
        &format!("lvs_neighbour_cache_entries {}", s.neighbours),
    );
    assert!(s.neighbours >= 3, "static neighbours: {}", s.neighbours);
    has(&text, "lvs_neighbour_cache_capacity 1024");
    has(
        &text,
        "lvs_balancer_events_total{event=\"refused_table_full\"} 0",
    );
    // Health: checked servers only, 1 up / 0 down.
    let b11 = backend("203.0.113.10", 80, "198.51.100.11", 8080, "TCP", "");
    let b12 = backend("203.0.113.10", 80, "198.51.100.12", 8080, "TCP", "");
    has(&text, &format!("lvs_backend_health_up{b11} 1"));
    has(&text, &format!("lvs_backend_health_up{b12} 0"));
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("lvs_backend_health_up{"))
            .count(),
        2
    );
    // Port losses.
    has(&text, "lvs_port_ring_drops_total{port=\"eth0\"} 7");
    has(&text, "lvs_port_ring_freezes_total{port=\"eth0\"} 2");
    has(&text, "lvs_port_skipped_frames_total{port=\"eth0\"} 3");
    has(&text, "lvs_port_bad_offload_total{port=\"eth0\"} 1");
    has(&text, "lvs_port_send_failures_total{port=\"eth0\"} 5");
}

/// Every sample line is `name{labels} value` or `name value` with a number, every family has
/// HELP and TYPE, and no series appears twice (Prometheus rejects a scrape with duplicates).
#[test]
fn well_formed_text() {
    let (s, _) = snapshot_with_traffic();
    let text = s.render();
    let mut seen = std::collections::BTreeSet::new();
    for line in text.lines() {
        if line.starts_with('#') {
            assert!(
                line.starts_with("# HELP ") || line.starts_with("# TYPE ") || line == "# EOF",
                "{line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        value.parse::<f64>().unwrap_or_else(|_| panic!("{line}"));
        assert!(seen.insert(series.to_string()), "duplicate series {series}");
        let name = series.split('{').next().unwrap();
        assert!(
            name.starts_with("node_ipvs_") || name.starts_with("lvs_"),
            "{name}"
        );
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "no TYPE for {name}"
        );
    }
    assert!(!seen.is_empty());
}

#[test]
fn empty_snapshot_renders() {
    let text = MetricsSnapshot::default().render();
    has(&text, "node_ipvs_connections_total 0");
    assert!(!text.contains("node_ipvs_backend_weight{"), "{text}");
}

#[test]
fn try_publish_skips_when_locked() {
    let shared = Mutex::new(MetricsSnapshot::default());
    {
        let _g = shared.lock().unwrap();
        let mut built = false;
        assert!(!try_publish(&shared, || {
            built = true;
            MetricsSnapshot::default()
        }));
        assert!(
            !built,
            "no snapshot is built while the server holds the lock"
        );
    }
    let (s, _) = snapshot_with_traffic();
    assert!(try_publish(&shared, || s.clone()));
    assert_eq!(*shared.lock().unwrap(), s);
}

/// One request over a fresh connection; the whole response.
fn http(addr: SocketAddr, request: &[u8]) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn http_server_serves_latest_snapshot() {
    let shared = Arc::new(Mutex::new(MetricsSnapshot::default()));
    let server = MetricsServer::spawn("127.0.0.1:0".parse().unwrap(), Arc::clone(&shared)).unwrap();
    let addr = server.local_addr();
    let r = http(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(
        r.contains(&format!("Content-Type: {CONTENT_TYPE}\r\n")),
        "{r}"
    );
    assert!(r.contains("\nnode_ipvs_connections_total 0\n"), "{r}");
    // Publish traffic: the next scrape shows it.
    let (s, _) = snapshot_with_traffic();
    assert!(try_publish(&shared, || s));
    let r = http(addr, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n");
    assert!(r.contains("\nnode_ipvs_connections_total 1\n"), "{r}");
    let (head, body) = r.split_once("\r\n\r\n").unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(len, body.len());
    // HEAD: headers only.
    let r = http(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert!(
        r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with("\r\n\r\n"),
        "{r}"
    );
    // Elsewhere 404, other methods 405, garbage 400, oversized 431.
    assert!(http(addr, b"GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
    assert!(http(addr, b"GET /metricsx HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
    let r = http(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert!(
        r.starts_with("HTTP/1.1 405 ") && r.contains("Allow: GET, HEAD\r\n"),
        "{r}"
    );
    assert!(
        http(
            addr,
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"
        )
        .starts_with("HTTP/1.1 400 ")
    );
    let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    big.resize(MAX_REQUEST_BYTES + 100, b'a');
    assert!(http(addr, &big).starts_with("HTTP/1.1 431 "));
    // Binary garbage of several sizes, then the server still answers.
    let mut x: u32 = 12345;
    for n in [1usize, 7, 100, 4000] {
        let g: Vec<u8> = (0..n)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .chain(*b"\r\n\r\n")
            .collect();
        let r = http(addr, &g);
        assert!(r.starts_with("HTTP/1.1 4"), "{n}: {r}");
    }
    assert!(http(addr, b"GET /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200 "));
    drop(server);
    // Dropped: the port no longer accepts.
    assert!(TcpStream::connect(addr).is_err());
}

/// Clients that open connections and send nothing (slowloris) hold at most
/// `MAX_CONNECTIONS` request threads; further clients get 503 at once, and a real scrape
/// works again as soon as a slot frees.
#[test]
fn http_server_bounds_connections() {
    let shared = Arc::new(Mutex::new(MetricsSnapshot::default()));
    let server = MetricsServer::spawn("127.0.0.1:0".parse().unwrap(), shared).unwrap();
    let addr = server.local_addr();
    let mut idle: Vec<TcpStream> = (0..MAX_CONNECTIONS)
        .map(|_| {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(b"GET /met").unwrap();
            c
        })
        .collect();
    // Let the accept loop take all of them.
    let started = std::time::Instant::now();
    let r = loop {
        let r = http(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
        if r.starts_with("HTTP/1.1 503 ") || started.elapsed() > Duration::from_secs(3) {
            break r;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(r.starts_with("HTTP/1.1 503 "), "{r}");
    // One idle client finishes its request: its slot serves it, then frees.
    let mut c = idle.pop().unwrap();
    c.write_all(b"rics HTTP/1.1\r\n\r\n").unwrap();
    let mut out = String::new();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = c.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
    let started = std::time::Instant::now();
    let r = loop {
        let r = http(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
        if r.starts_with("HTTP/1.1 200 ") || started.elapsed() > Duration::from_secs(3) {
            break r;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
    drop(idle);
}

/// A client that sends one byte at a time, slower than the deadline allows, is cut off after
/// `REQUEST_DEADLINE` however often it sends.
#[test]
fn http_server_cuts_slow_clients() {
    let shared = Arc::new(Mutex::new(MetricsSnapshot::default()));
    let server = MetricsServer::spawn("127.0.0.1:0".parse().unwrap(), shared).unwrap();
    let mut c = TcpStream::connect(server.local_addr()).unwrap();
    let started = std::time::Instant::now();
    let mut cut = false;
    for b in b"GET /metrics HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        .iter()
        .cycle()
        .take(200)
    {
        if c.write_all(&[*b]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if started.elapsed() > REQUEST_DEADLINE + Duration::from_secs(3) {
            break;
        }
    }
    let elapsed = started.elapsed();
    if !cut {
        // The server closed its end; the next read sees the end (or a reset).
        c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut b = [0u8; 16];
        let n = c.read(&mut b).unwrap_or(0);
        assert_eq!(n, 0, "the slow client got an answer");
    }
    assert!(
        elapsed < REQUEST_DEADLINE + Duration::from_secs(3),
        "{elapsed:?}"
    );
}

#[test]
fn fanout_workers_merge_into_one_endpoint() {
    let (a, rs) = snapshot_with_traffic();
    let (b, _) = snapshot_with_traffic();
    let mut m = a.clone();
    m.merge(&b);
    // Counters and connection counts add up; weights and health stay.
    assert_eq!(m.totals.conns, a.totals.conns * 2);
    assert_eq!(m.frames.received, a.frames.received * 2);
    let svc = |s: &MetricsSnapshot| {
        s.services
            .iter()
            .flat_map(|s| s.backends.iter())
            .find(|b| b.addr == rs)
            .cloned()
            .unwrap()
    };
    let (one, two) = (svc(&a), svc(&m));
    assert_eq!(
        two.active_conns + two.inactive_conns,
        2 * (one.active_conns + one.inactive_conns)
    );
    assert_eq!(two.counters.in_pkts, 2 * one.counters.in_pkts);
    assert_eq!(two.weight, one.weight);
    assert_eq!(two.health, one.health);
    assert_eq!(m.services.len(), a.services.len());
    assert_eq!(m.ports.len(), 1);
    assert_eq!(m.ports[0].losses.ring_drops, 14);
    let malformed = |s: &MetricsSnapshot| {
        s.drops
            .iter()
            .find(|(r, _)| *r == DropReason::Malformed)
            .map(|(_, n)| *n)
    };
    assert_eq!(malformed(&m), malformed(&a).map(|n| n * 2));
    // Still one series per label set after the merge.
    let text = m.render();
    let weights = text
        .lines()
        .filter(|l| l.starts_with("node_ipvs_backend_weight{"))
        .count();
    let backends: usize = m.services.iter().map(|s| s.backends.len()).sum();
    assert_eq!(weights, backends);
}

/// One real server in two services, down in one and up in the other: each backend series
/// carries its own service's verdict (health is per (service, real server), not per address).
#[test]
fn health_is_per_service_for_a_shared_address() {
    const SHARED: &str = "\
-A -t 203.0.113.10:80 -s rr
-a -t 203.0.113.10:80 -r 198.51.100.11:80 -m -w 1
-A -t 203.0.113.10:443 -s rr
-a -t 203.0.113.10:443 -r 198.51.100.11:80 -m -w 1
";
    let addrs: Vec<IpCidr> = vec!["198.51.100.1/24".parse().unwrap()];
    let cfg = DirectorConfig::single_link(MacAddr(DIRECTOR_MAC), &addrs);
    let d = Director::from_rules(cfg, SHARED).unwrap();
    let web = ServiceKey::Addr {
        protocol: Protocol::Tcp,
        vip: "203.0.113.10:80".parse().unwrap(),
    };
    let health = move |k: &ServiceKey, _: SocketAddr| {
        Some(if *k == web { Health::Down } else { Health::Up })
    };
    let text = MetricsSnapshot::from_director(&d, &health, Vec::new()).render();
    let b80 = backend("203.0.113.10", 80, "198.51.100.11", 80, "TCP", "");
    let b443 = backend("203.0.113.10", 443, "198.51.100.11", 80, "TCP", "");
    has(&text, &format!("lvs_backend_health_up{b80} 0"));
    has(&text, &format!("lvs_backend_health_up{b443} 1"));
}
