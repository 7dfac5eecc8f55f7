use super::*;
use crate::control::commands::parse_command;
use lvs_core::balancer::{PacketInfo, tcp_flags};
use lvs_core::{Protocol, ServiceKey};
use lvs_forwarding::{DirectorConfig, IpCidr, MacAddr};

const RULES: &str = "-A -t 203.0.113.10:80 -s rr\n\
                     -a -t 203.0.113.10:80 -r 192.0.2.11:80 -m -w 1\n\
                     -a -t 203.0.113.10:80 -r 192.0.2.12:80 -m -w 2\n";

fn setup() -> (Director, Config) {
    let addrs: [IpCidr; 1] = ["192.0.2.1/24".parse().unwrap()];
    let mut cfg = DirectorConfig::single_link(MacAddr([2, 0, 0, 0, 0, 1]), &addrs);
    cfg.conn_capacity_v4 = 4096;
    let d = Director::from_rules(cfg, RULES).unwrap();
    (d, config::parse(RULES).unwrap())
}

fn up(_: &ServiceKey, _: SocketAddr) -> Option<bool> {
    None
}

fn run(d: &mut Director, rules: &mut Config, args: &[&str]) -> Reply {
    run_with(d, rules, args, "", &up)
}

fn run_with(
    d: &mut Director,
    rules: &mut Config,
    args: &[&str],
    input: &str,
    health: &dyn Fn(&ServiceKey, SocketAddr) -> Option<bool>,
) -> Reply {
    match parse_command(args, input) {
        Ok(c) => execute(&c, d, rules, health, Instant::from_secs(10)),
        Err(e) => Reply::error(e.code, e.message),
    }
}

fn svc() -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        vip: "203.0.113.10:80".parse().unwrap(),
    }
}

/// Open one connection from `client` (a SYN).
fn connect(d: &mut Director, client: &str) {
    let info = PacketInfo {
        protocol: Protocol::Tcp,
        src: client.parse().unwrap(),
        dst: "203.0.113.10:80".parse().unwrap(),
        tcp_flags: tcp_flags::SYN,
        fwmark: 0,
        ip_len: 60,
    };
    d.balancer_mut()
        .process_in(Instant::from_secs(10), &info)
        .unwrap();
}

#[test]
fn listing_is_ipvsadms() {
    let (mut d, mut rules) = setup();
    let r = run(&mut d, &mut rules, &["-L", "-n"]);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout,
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n\
         \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
         TCP  203.0.113.10:80 rr\n\
         \x20 -> 192.0.2.11:80                Masq    1      0          0         \n\
         \x20 -> 192.0.2.12:80                Masq    2      0          0         \n"
    );
    // One service: no version header, as ipvsadm's list_service.
    let r = run(&mut d, &mut rules, &["-L", "-n", "-t", "203.0.113.10:80"]);
    assert!(
        r.stdout.starts_with("Prot LocalAddress:Port"),
        "{}",
        r.stdout
    );
    let r = run(&mut d, &mut rules, &["-L", "-n", "-t", "203.0.113.99:80"]);
    assert_eq!((r.code, r.stderr.as_str()), (1, "No such service\n"));
    let r = run(&mut d, &mut rules, &["-L", "-n", "--stats"]);
    assert!(
        r.stdout
            .contains("Conns   InPkts  OutPkts  InBytes OutBytes"),
        "{}",
        r.stdout
    );
    let r = run(&mut d, &mut rules, &["-L", "--timeout"]);
    assert_eq!(r.stdout, "Timeout (tcp tcpfin udp): 900 120 300\n");
}

#[test]
fn changes_apply_and_keep_connections() {
    let (mut d, mut rules) = setup();
    connect(&mut d, "198.51.100.7:40000");
    connect(&mut d, "198.51.100.7:40001");
    assert_eq!(d.balancer().conn_count(), 2);

    // -a, -e, -d.
    let r = run(
        &mut d,
        &mut rules,
        &[
            "-a",
            "-t",
            "203.0.113.10:80",
            "-r",
            "192.0.2.13:80",
            "-m",
            "-w",
            "5",
        ],
    );
    assert_eq!(r, Reply::default());
    let r = run(
        &mut d,
        &mut rules,
        &["-a", "-t", "203.0.113.10:80", "-r", "192.0.2.13:80", "-m"],
    );
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (255, "Destination already exists\n")
    );
    let r = run(
        &mut d,
        &mut rules,
        &[
            "-e",
            "-t",
            "203.0.113.10:80",
            "-r",
            "192.0.2.11:80",
            "-m",
            "-w",
            "7",
        ],
    );
    assert_eq!(r.code, 0);
    let r = run(
        &mut d,
        &mut rules,
        &["-e", "-t", "203.0.113.10:80", "-r", "192.0.2.99:80", "-m"],
    );
    assert_eq!(r.stderr, "No such destination\n");
    let r = run(
        &mut d,
        &mut rules,
        &["-d", "-t", "203.0.113.10:80", "-r", "192.0.2.12:80"],
    );
    assert_eq!(r.code, 0);
    let r = run(
        &mut d,
        &mut rules,
        &["-d", "-t", "203.0.113.10:80", "-r", "192.0.2.12:80"],
    );
    assert_eq!(r.stderr, "No such destination\n");
    let r = run(
        &mut d,
        &mut rules,
        &["-a", "-t", "203.0.113.99:80", "-r", "192.0.2.12:80"],
    );
    assert_eq!(r.stderr, "Service not defined\n");
    // Connections survived every server change.
    assert_eq!(d.balancer().conn_count(), 2);

    let listing = run(&mut d, &mut rules, &["-Ln"]).stdout;
    assert!(
        listing.contains("  -> 192.0.2.11:80                Masq    7 "),
        "{listing}"
    );
    assert!(
        listing.contains("  -> 192.0.2.13:80                Masq    5 "),
        "{listing}"
    );
    assert!(!listing.contains("192.0.2.12:80"), "{listing}");

    // -S prints the live rules, and they load back into the same setup.
    let saved = run(&mut d, &mut rules, &["-S", "-n"]).stdout;
    assert_eq!(
        saved,
        "-A -t 203.0.113.10:80 -s rr\n\
         -a -t 203.0.113.10:80 -r 192.0.2.11:80 -m -w 7\n\
         -a -t 203.0.113.10:80 -r 192.0.2.13:80 -m -w 5\n"
    );
    let mut back = config::parse(&saved).unwrap();
    back.sort();
    let mut live = rules.clone();
    live.sort();
    assert_eq!(back, live);

    // -E keeps the servers and the connections.
    let r = run(
        &mut d,
        &mut rules,
        &["-E", "-t", "203.0.113.10:80", "-s", "wlc", "-p", "60"],
    );
    assert_eq!(r.code, 0);
    assert_eq!(d.balancer().conn_count(), 2);
    assert!(
        run(&mut d, &mut rules, &["-Ln"])
            .stdout
            .contains("TCP  203.0.113.10:80 wlc persistent 60")
    );
    assert_eq!(rules.services[0].servers.len(), 2);
    let r = run(&mut d, &mut rules, &["-E", "-t", "203.0.113.99:80"]);
    assert_eq!(r.stderr, "No such service\n");

    // -A twice, -D, unknown scheduler.
    let r = run(
        &mut d,
        &mut rules,
        &["-A", "-u", "203.0.113.10:53", "-s", "sh"],
    );
    assert_eq!(r.code, 0);
    let r = run(&mut d, &mut rules, &["-A", "-u", "203.0.113.10:53"]);
    assert_eq!(r.stderr, "Service already exists\n");
    let r = run(
        &mut d,
        &mut rules,
        &["-A", "-u", "203.0.113.10:54", "-s", "nosuch"],
    );
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (255, "Scheduler or persistence engine not found\n")
    );
    let r = run(&mut d, &mut rules, &["-D", "-u", "203.0.113.10:53"]);
    assert_eq!(r.code, 0);
    let r = run(&mut d, &mut rules, &["-D", "-u", "203.0.113.10:53"]);
    assert_eq!(r.stderr, "No such service\n");
    // What the packet path cannot serve is refused, with the reason.
    let r = run(&mut d, &mut rules, &["-A", "-f", "7"]);
    assert_eq!(r.code, 255);
    assert!(!r.stderr.is_empty());
    assert_eq!(rules.services.len(), 1);

    // -C drops everything.
    assert_eq!(run(&mut d, &mut rules, &["-C"]).code, 0);
    assert!(d.balancer().services().is_empty());
    assert!(rules.services.is_empty());
    assert_eq!(d.balancer().conn_count(), 0);
}

#[test]
fn timeouts_and_zero() {
    let (mut d, mut rules) = setup();
    assert_eq!(
        run(&mut d, &mut rules, &["--set", "100", "0", "20"]).code,
        0
    );
    let r = run(&mut d, &mut rules, &["-L", "--timeout"]);
    assert_eq!(r.stdout, "Timeout (tcp tcpfin udp): 100 120 20\n");
    assert!(
        run(&mut d, &mut rules, &["-S"])
            .stdout
            .starts_with("--set 100 0 20\n")
    );

    connect(&mut d, "198.51.100.7:40000");
    let stats = |d: &Director| {
        d.balancer()
            .services()
            .iter()
            .next()
            .unwrap()
            .1
            .state
            .stats
            .shown()
            .conns
    };
    assert_eq!(stats(&d), 1);
    let r = run(&mut d, &mut rules, &["-Z", "-t", "203.0.113.99:80"]);
    assert_eq!((r.code, r.stderr.as_str()), (255, "No such service\n"));
    assert_eq!(
        run(&mut d, &mut rules, &["-Z", "-t", "203.0.113.10:80"]).code,
        0
    );
    assert_eq!(stats(&d), 0);
    connect(&mut d, "198.51.100.7:40001");
    assert_eq!(run(&mut d, &mut rules, &["-Z"]).code, 0);
    assert_eq!(stats(&d), 0);
    // Zeroing is not configuration: the connections stay.
    assert_eq!(d.balancer().conn_count(), 2);
}

#[test]
fn connections_listing() {
    let (mut d, mut rules) = setup();
    connect(&mut d, "198.51.100.7:40000");
    let r = run(&mut d, &mut rules, &["-Lnc"]);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "IPVS connection entries");
    assert_eq!(
        lines[1],
        "pro expire state       source             virtual            destination"
    );
    assert_eq!(lines.len(), 3);
    assert!(
        lines[2]
            .starts_with("TCP 01:00  SYN_RECV    198.51.100.7:40000 203.0.113.10:80    192.0.2.1"),
        "{}",
        lines[2]
    );
}

#[test]
fn restore_applies_in_order_and_reports_refusals() {
    let (mut d, mut rules) = setup();
    let input = "-C\n-A -t 203.0.113.20:443 -s wrr\n-a -t 203.0.113.20:443 -r 192.0.2.21:443 -m -w 4\n-a -t 203.0.113.20:443 -r 192.0.2.21:443 -m\n";
    let r = run_with(&mut d, &mut rules, &["-R"], input, &up);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (255, "Destination already exists\n")
    );
    assert_eq!(
        run(&mut d, &mut rules, &["-S"]).stdout,
        "-A -t 203.0.113.20:443 -s wrr\n-a -t 203.0.113.20:443 -r 192.0.2.21:443 -m -w 4\n"
    );
    // A line that does not parse: nothing is applied.
    let r = run_with(&mut d, &mut rules, &["-R"], "-C\n-A -t nowhere\n", &up);
    assert_eq!(r.code, 2);
    assert_eq!(d.balancer().services().len(), 1);
}

#[test]
fn health_down_servers_keep_weight_zero_and_show_in_summary() {
    let (mut d, mut rules) = setup();
    let down: SocketAddr = "192.0.2.12:80".parse().unwrap();
    let health = move |_: &ServiceKey, a: SocketAddr| Some(a != down);
    // The health check has the server down: the balancer has weight 0.
    d.balancer_mut().set_weight(&svc(), down, 0).unwrap();
    let r = run_with(
        &mut d,
        &mut rules,
        &[
            "-e",
            "-t",
            "203.0.113.10:80",
            "-r",
            "192.0.2.12:80",
            "-m",
            "-w",
            "9",
        ],
        "",
        &health,
    );
    assert_eq!(r.code, 0);
    // The balancer keeps 0, the rules (and -S) keep the operator's 9.
    assert!(
        run(&mut d, &mut rules, &["-Ln"])
            .stdout
            .contains("  -> 192.0.2.12:80                Masq    0 ")
    );
    assert!(
        run(&mut d, &mut rules, &["-S"])
            .stdout
            .contains("-r 192.0.2.12:80 -m -w 9")
    );
    let s = run_with(&mut d, &mut rules, &["--summary"], "", &health).stdout;
    assert!(s.contains("Health: 1 of 2 real servers down"), "{s}");
    assert!(
        s.contains("TCP 203.0.113.10:80 -> 192.0.2.12:80 down weight 0"),
        "{s}"
    );
    assert!(
        s.contains("TCP 203.0.113.10:80 -> 192.0.2.11:80 up weight 1"),
        "{s}"
    );
    assert!(s.contains("Connection table: IPv4 0/4096"), "{s}");
}

#[test]
fn help_and_version() {
    let (mut d, mut rules) = setup();
    assert!(
        run(&mut d, &mut rules, &["-h"])
            .stdout
            .contains("--summary")
    );
    assert!(
        run(&mut d, &mut rules, &["-v"])
            .stdout
            .starts_with("lvsadm ")
    );
}

/// One real server in two services, down in one and up in the other: `--summary` shows
/// each service's own verdict.
#[test]
fn summary_health_is_per_service_for_a_shared_address() {
    let (mut d, mut rules) = setup();
    for args in [
        &["-A", "-t", "203.0.113.10:443", "-s", "rr"][..],
        &["-a", "-t", "203.0.113.10:443", "-r", "192.0.2.12:80", "-m"][..],
    ] {
        assert_eq!(run(&mut d, &mut rules, args).code, 0);
    }
    let shared: SocketAddr = "192.0.2.12:80".parse().unwrap();
    let health = move |k: &ServiceKey, a: SocketAddr| (a == shared).then_some(*k != svc());
    let s = run_with(&mut d, &mut rules, &["--summary"], "", &health).stdout;
    assert!(s.contains("Health: 1 of 3 real servers down"), "{s}");
    assert!(
        s.contains("TCP 203.0.113.10:80 -> 192.0.2.12:80 down"),
        "{s}"
    );
    assert!(
        s.contains("TCP 203.0.113.10:443 -> 192.0.2.12:80 up"),
        "{s}"
    );
    assert!(
        s.contains("TCP 203.0.113.10:80 -> 192.0.2.11:80 unchecked"),
        "{s}"
    );
}
