//! The ipvsadm text formats against hand-checked examples: the reference's
//! `-S -n` lines, error reports, and `-Ln` / `--stats` / `--rate` goldens
//! (the listing goldens were produced with C-style `printf` formats, not by
//! this crate).

use core::net::SocketAddr;

use lvs_core::config::listing::{ListFormat, ListOptions, listing};
use lvs_core::config::{
    Command, Config, ConfigError, ConfigErrorKind, ServiceEntry, Snippet, Timeouts, parse,
    parse_line, print,
};
use lvs_core::service::Service;
use lvs_core::{
    DestChange, DestId, DestView, Family, Flow, Forwarding, Instant, Protocol, RealServerConfig,
    SchedFlags, Scheduler, ServiceConfig, ServiceKey, TunnelChecksum, TunnelType,
};

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

const REFERENCE: &str = "\
-A -t 10.0.0.1:80 -s wrr
-a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 4
-a -t 10.0.0.1:80 -r 192.168.1.3:8080 -m -w 3
-A -u 10.0.0.1:53 -s rr -o
-A -f 1 -s sh -p 360 -M 255.255.255.0 -b sh-fallback,sh-port
-a -f 1 -r 192.168.1.5:0 -g -w 1
-A -t [2001:db8::1]:443 -s mh -b mh-port
-a -t [2001:db8::1]:443 -r [2001:db8::10]:443 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum
";

#[test]
fn reference_save_lines_parse() {
    let c = parse(REFERENCE).expect("reference lines parse");
    assert_eq!(c.services.len(), 4);
    assert_eq!(c.timeouts, None);

    let web = &c.services[0];
    assert_eq!(
        web.config,
        ServiceConfig::tcp(sa("10.0.0.1:80")).scheduler("wrr")
    );
    assert_eq!(
        web.servers,
        vec![
            RealServerConfig::new(sa("192.168.1.2:80"))
                .weight(4)
                .forwarding(Forwarding::Masquerade),
            RealServerConfig::new(sa("192.168.1.3:8080"))
                .weight(3)
                .forwarding(Forwarding::Masquerade),
        ]
    );

    let dns = &c.services[1];
    assert_eq!(dns.config.key.family(), Family::V4);
    assert!(dns.config.one_packet);
    assert_eq!(dns.config.scheduler.as_str(), "rr");
    assert!(dns.servers.is_empty());

    let fw = &c.services[2];
    assert_eq!(
        fw.config.key,
        ServiceKey::Fwmark {
            family: Family::V4,
            mark: 1
        }
    );
    assert_eq!(fw.config.persistence_secs, Some(360));
    assert_eq!(fw.config.netmask_prefix, 24);
    assert_eq!(
        fw.config.flags,
        SchedFlags(SchedFlags::FLAG1 | SchedFlags::FLAG2)
    );
    assert_eq!(fw.servers, vec![RealServerConfig::new(sa("192.168.1.5:0"))]);

    let v6 = &c.services[3];
    assert_eq!(v6.config.flags, SchedFlags(SchedFlags::FLAG2));
    assert_eq!(v6.config.netmask_prefix, 128);
    assert_eq!(
        v6.servers[0].forwarding,
        Forwarding::Tunnel {
            kind: TunnelType::Gue { port: 6080 },
            csum: TunnelChecksum::None
        }
    );
}

#[test]
fn reference_lines_print_back_byte_for_byte() {
    let c = parse(REFERENCE).unwrap();
    assert_eq!(print(&c), REFERENCE);
    assert_eq!(c.to_string(), REFERENCE);
}

#[test]
fn long_options_defaults_comments_and_set() {
    let text = "\
# saved by hand
-C

--set 900 120 300
--add-service --tcp-service 10.0.0.2:443 --persistent   # trailing comment
--add-server --tcp-service 10.0.0.2:443 --real-server 192.168.1.9
-a -t 10.0.0.2:443 -r 192.168.1.10:8443 --gatewaying
-a -t 10.0.0.2:443 --masquerading -r 192.168.1.11 --weight=0 -x 100 -y 50
-a -t 10.0.0.2:443 -r 192.168.1.12 --ipip
-A --udp-service 10.0.0.2 --scheduler=sh -p 60 --sched-flags flag-3 --ops
--add-service --fwmark-service 7 -6 -s wrr --netmask 64 -p
-a -f 7 -6 -r [2001:db8::7] -m
-a -f 7 -6 -r 192.168.1.7:99 -i --tun-type gre --tun-remcsum
";
    let err = parse(text).unwrap_err();
    // GRE does not support remote checksum offload.
    assert_eq!(err.line, 13);
    assert_eq!(
        err.kind,
        ConfigErrorKind::ChecksumNotSupported {
            option: "--tun-remcsum",
            tunnel: "gre"
        }
    );

    let text = text.replace("--tun-remcsum", "--tun-csum");
    let c = parse(&text).unwrap();
    assert_eq!(
        c.timeouts,
        Some(Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300
        })
    );
    let s = &c.services[0];
    assert_eq!(s.config.scheduler.as_str(), "wlc");
    assert_eq!(s.config.persistence_secs, Some(360));
    assert_eq!(
        s.servers,
        vec![
            // -r without port: the service port; default -g, weight 1.
            RealServerConfig::new(sa("192.168.1.9:443")),
            // ipvsadm gives DR servers of an address service its port.
            RealServerConfig::new(sa("192.168.1.10:443")),
            RealServerConfig::new(sa("192.168.1.11:443"))
                .forwarding(Forwarding::Masquerade)
                .weight(0)
                .thresholds(100, 50),
            RealServerConfig::new(sa("192.168.1.12:443")).forwarding(Forwarding::Tunnel {
                kind: TunnelType::Ipip,
                csum: TunnelChecksum::None
            }),
        ]
    );
    let udp = &c.services[1];
    assert_eq!(
        udp.config.key,
        ServiceKey::Addr {
            protocol: Protocol::Udp,
            vip: sa("10.0.0.2:0")
        }
    );
    assert_eq!(udp.config.flags, SchedFlags(SchedFlags::FLAG3));
    assert!(udp.config.one_packet);
    let fw = &c.services[2];
    assert_eq!(fw.config.key.family(), Family::V6);
    assert_eq!(fw.config.netmask_prefix, 64);
    assert_eq!(fw.servers[0].addr, sa("[2001:db8::7]:0"));
    assert_eq!(
        fw.servers[1].forwarding,
        Forwarding::Tunnel {
            kind: TunnelType::Gre,
            csum: TunnelChecksum::Csum
        }
    );
    assert_eq!(
        fw.servers[1].addr,
        sa("192.168.1.7:99"),
        "fwmark keeps the port"
    );

    // And it prints in the canonical spelling, which reads back the same.
    let printed = print(&c);
    assert_eq!(
        printed,
        "\
--set 900 120 300
-A -t 10.0.0.2:443 -s wlc -p 360
-a -t 10.0.0.2:443 -r 192.168.1.9:443 -g -w 1
-a -t 10.0.0.2:443 -r 192.168.1.10:443 -g -w 1
-a -t 10.0.0.2:443 -r 192.168.1.11:443 -m -w 0 -x 100 -y 50
-a -t 10.0.0.2:443 -r 192.168.1.12:443 -i -w 1 --tun-type ipip
-A -u 10.0.0.2:0 -s sh -p 60 -o -b flag-3
-A -f 7 -6 -s wrr -p 360 -M 64
-a -f 7 -6 -r [2001:db8::7]:0 -m -w 1
-a -f 7 -6 -r 192.168.1.7:99 -i -w 1 --tun-type gre --tun-csum
"
    );
    assert_eq!(parse(&printed), Ok(c));
}

#[test]
fn parse_line_is_allocation_free_api() {
    assert_eq!(parse_line("   "), Ok(None));
    assert_eq!(parse_line("# -A -t x"), Ok(None));
    assert_eq!(parse_line("-C"), Ok(Some(Command::Clear)));
    assert_eq!(
        parse_line("-a -u 10.0.0.1:53 -r 192.168.1.2 -m"),
        Ok(Some(Command::AddServer {
            service: ServiceKey::Addr {
                protocol: Protocol::Udp,
                vip: sa("10.0.0.1:53")
            },
            server: RealServerConfig::new(sa("192.168.1.2:53")).forwarding(Forwarding::Masquerade),
        }))
    );
    assert_eq!(
        parse_line("--sctp-service 10.0.0.1:9 -A"),
        Ok(Some(Command::AddService(ServiceConfig::new(
            ServiceKey::Addr {
                protocol: Protocol::Sctp,
                vip: sa("10.0.0.1:9")
            }
        ))))
    );
}

fn err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(c) => panic!("{text:?} parsed as {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn errors_carry_line_and_kind() {
    use ConfigErrorKind as K;
    let svc = "-A -t 10.0.0.1:80\n";
    let cases: Vec<(String, usize, ConfigErrorKind)> = vec![
        (
            format!("{svc}-a -t 10.0.0.1:80 -r 192.168.1.2:80 -w 70000"),
            2,
            K::BadWeight(Snippet::new("70000")),
        ),
        (
            "-a -t 10.0.0.9:80 -r 1.2.3.4".into(),
            1,
            K::ServiceNotDefined,
        ),
        (
            format!("\n# comment\n{svc}-A -t 10.0.0.1:80 -s rr"),
            4,
            K::DuplicateService,
        ),
        (
            format!(
                "{svc}-a -t 10.0.0.1:80 -r 192.168.1.2\n-a -t 10.0.0.1:80 -r 192.168.1.2:80 -m"
            ),
            3,
            K::DuplicateServer,
        ),
        (
            "-A -t 10.0.0.1:80 --frobnicate".into(),
            1,
            K::UnknownOption(Snippet::new("--frobnicate")),
        ),
        ("-A -t 10.0.0.1:80 -s".into(), 1, K::MissingValue("-s")),
        ("-A -t 10.0.0.1:80 -s -p".into(), 1, K::MissingValue("-s")),
        (
            "-A -t 10.0.0.300:80".into(),
            1,
            K::BadAddress(Snippet::new("10.0.0.300:80")),
        ),
        (
            "-A -t 10.0.0.1:http".into(),
            1,
            K::BadPort(Snippet::new("http")),
        ),
        (
            format!("{svc}-a -t 10.0.0.1:80 -r 192.168.1.2:80 -i --tun-type gue"),
            2,
            K::GueWithoutPort,
        ),
        (
            format!("{svc}-a -t 10.0.0.1:80 -r 192.168.1.2:80 -i --tun-type ipip --tun-port 5"),
            2,
            K::TunnelPortWithoutGue,
        ),
        (
            format!("{svc}-a -t 10.0.0.1:80 -r 192.168.1.2:80 -i --tun-type vxlan"),
            2,
            K::BadTunnelType(Snippet::new("vxlan")),
        ),
        (
            "-A -t 10.0.0.1:80 -s wrr -b sh-port".into(),
            1,
            K::SchedFlagNeedsScheduler {
                flag: "sh-port",
                scheduler: "sh",
            },
        ),
        (
            "-A -t 10.0.0.1:80 -s sh -b sh-port,flag-9".into(),
            1,
            K::UnknownSchedFlag(Snippet::new("flag-9")),
        ),
        (
            format!("{svc}-a -t 10.0.0.1:80 -r [2001:db8::2]:80 -m"),
            2,
            K::FamilyMismatch,
        ),
        (
            "-A -t 10.0.0.1:80 -w 3".into(),
            1,
            K::OptionNotAllowed("-w"),
        ),
        ("-A -t 10.0.0.1:80 -6".into(), 1, K::OptionNotAllowed("-6")),
        ("-A -t 10.0.0.1:0".into(), 1, K::ZeroPortNotPersistent),
        (
            format!("{svc}-a -t 10.0.0.1:80 -r 192.168.1.2:80 -x 5 -y 9"),
            2,
            K::ThresholdOrder { upper: 5, lower: 9 },
        ),
        (
            format!("{svc}-a -t 10.0.0.1:80 -r 192.168.1.2:80 -x 2147483648"),
            2,
            K::BadThreshold(Snippet::new("2147483648")),
        ),
        (
            "-A -t 10.0.0.1:80 -M 255.0.255.0 -p".into(),
            1,
            K::BadNetmask(Snippet::new("255.0.255.0")),
        ),
        (
            "-A -t [2001:db8::1]:80 -M 0 -p".into(),
            1,
            K::BadNetmask(Snippet::new("0")),
        ),
        (
            "-A -t 10.0.0.1:80 -u 10.0.0.1:80".into(),
            1,
            K::ConflictingOptions("-t", "-u"),
        ),
        (
            format!("{svc}-a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -g"),
            2,
            K::ConflictingOptions("-m", "-g"),
        ),
        (
            format!("{svc}-a -t 10.0.0.1:80 -r 192.168.1.2:80 -m --tun-type gre"),
            2,
            K::TunnelOptionWithoutTunnel("--tun-type"),
        ),
        (
            format!("{svc}-a -t 10.0.0.1:80 -r 192.168.1.2:80 -i --tun-csum"),
            2,
            K::ChecksumNotSupported {
                option: "--tun-csum",
                tunnel: "ipip",
            },
        ),
        (
            format!("{svc}-a -t 10.0.0.1:80 -m"),
            2,
            K::MissingRealServer,
        ),
        ("-A -s rr".into(), 1, K::MissingService),
        ("-t 10.0.0.1:80".into(), 1, K::MissingCommand),
        (
            "-A -t 10.0.0.1:80 -s wrr extra".into(),
            1,
            K::UnexpectedArgument(Snippet::new("extra")),
        ),
        ("--set 1 2".into(), 1, K::MissingValue("--set")),
        (
            "--set 1 2 99999999".into(),
            1,
            K::BadTimeout(Snippet::new("99999999")),
        ),
        (
            "-A -t 2001:db8:3::10:80 -s rr".into(),
            1,
            K::Ipv6NeedsBrackets(Snippet::new("2001:db8:3::10:80")),
        ),
        (
            "-A -t [2001:db8:3::10]:80\n-a -t [2001:db8:3::10]:80 -r 2001:db8:2::11:80 -m".into(),
            2,
            K::Ipv6NeedsBrackets(Snippet::new("2001:db8:2::11:80")),
        ),
        (format!("{svc}-E -t 10.0.0.2:80"), 2, K::ServiceNotDefined),
        (format!("{svc}-D -t 10.0.0.2:80"), 2, K::ServiceNotDefined),
        (
            format!("{svc}-e -t 10.0.0.1:80 -r 192.168.1.2:80 -m"),
            2,
            K::ServerNotDefined,
        ),
        (
            format!("{svc}-d -t 10.0.0.1:80 -r 192.168.1.2:80"),
            2,
            K::ServerNotDefined,
        ),
        (
            format!("{svc}-D -t 10.0.0.1:80 -s rr"),
            2,
            K::OptionNotAllowed("-s"),
        ),
        (
            format!("{svc}-d -t 10.0.0.1:80 -r 192.168.1.2 -w 2"),
            2,
            K::OptionNotAllowed("-w"),
        ),
        (format!("{svc}-Z -t 10.0.0.9:80"), 2, K::ServiceNotDefined),
        (
            format!("{svc}-C\n-a -t 10.0.0.1:80 -r 192.168.1.2 -m"),
            3,
            K::ServiceNotDefined,
        ),
        ("-A -f 0".into(), 1, K::BadFwmark(Snippet::new("0"))),
        (
            "-A -t 10.0.0.1:80 -p 0".into(),
            1,
            K::BadPersistence(Snippet::new("0")),
        ),
        (
            "-A -t 10.0.0.1:80 -s w-r-r".into(),
            1,
            K::BadScheduler(Snippet::new("w-r-r")),
        ),
        ("-A -t 10.0.0.1:80 -A".into(), 1, K::DuplicateOption("-A")),
        (
            "-A -a -t 10.0.0.1:80".into(),
            1,
            K::ConflictingOptions("-A", "-a"),
        ),
        ("-C -t 10.0.0.1:80".into(), 1, K::OptionNotAllowed("-t")),
    ];
    for (text, line, kind) in cases {
        let e = err(&text);
        assert_eq!((e.line, e.kind), (line, kind), "for {text:?}");
    }
}

#[test]
fn unbracketed_ipv6_with_a_port_is_refused_with_its_line() {
    let e = err("# v6\n-A -t 2001:db8:3::10:80 -p");
    assert_eq!(
        e.to_string(),
        "line 2: ambiguous IPv6 address `2001:db8:3::10:80`: write [address]:port, or [address] without a port"
    );
    // Unambiguous bare IPv6 addresses are read as ipvsadm reads them.
    let c = parse("-A -t [2001:db8::1]:80\n-a -t [2001:db8::1]:80 -r 2001:db8::2 -m\n").unwrap();
    assert_eq!(c.services[0].servers[0].addr, sa("[2001:db8::2]:80"));
    let c = parse("-A -t 2001:db8::1 -p\n").unwrap();
    assert_eq!(
        c.services[0].config.key,
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            vip: sa("[2001:db8::1]:0")
        }
    );
}

#[test]
fn every_restore_command_is_applied_in_order() {
    let text = "\
-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 2
-a -t 10.0.0.1:80 -r 192.168.1.3:80 -m
-A -u 10.0.0.1:53
--set 10 20 30
-E -t 10.0.0.1:80 -s wlc -p 60
-e -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 7
-d -t 10.0.0.1:80 -r 192.168.1.3:80
-D -u 10.0.0.1:53
--set 0 25 0
-Z
-Z -t 10.0.0.1:80
";
    let c = parse(text).unwrap();
    assert_eq!(c.services.len(), 1);
    let s = &c.services[0];
    assert_eq!(s.config.scheduler.as_str(), "wlc");
    assert_eq!(s.config.persistence_secs, Some(60));
    assert_eq!(s.servers.len(), 1);
    assert_eq!(s.servers[0].addr, sa("192.168.1.2:80"));
    assert_eq!(s.servers[0].weight, 7);
    assert_eq!(
        c.timeouts,
        Some(Timeouts {
            tcp: 10,
            tcp_fin: 25,
            udp: 30
        })
    );
    // -C forgets what came before it; what follows it stands.
    let c = parse("-A -t 10.0.0.1:80 -s rr\n-C\n-A -t 10.0.0.2:80 -s rr\n").unwrap();
    assert_eq!(c.services.len(), 1);
    assert_eq!(
        c.services[0].config.key,
        ServiceConfig::tcp(sa("10.0.0.2:80")).key
    );
    // The lines themselves.
    assert_eq!(
        parse_line("-d -t 10.0.0.1:80 -r 192.168.1.2"),
        Ok(Some(Command::DeleteServer {
            service: ServiceConfig::tcp(sa("10.0.0.1:80")).key,
            server: sa("192.168.1.2:80"),
        }))
    );
    assert_eq!(parse_line("--zero"), Ok(Some(Command::Zero(None))));
    assert_eq!(
        parse_line("--delete-service -t 10.0.0.1:80"),
        Ok(Some(Command::DeleteService(
            ServiceConfig::tcp(sa("10.0.0.1:80")).key
        )))
    );
}

#[test]
fn error_messages_say_what_was_wrong() {
    let e = err("-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 192.168.1.2:80 -w 70000");
    assert_eq!(
        e.to_string(),
        "line 2: weight `70000` out of range (0..=65535)"
    );
    let long = "x".repeat(100);
    let e = err(&format!("-A -t 10.0.0.1:80 -s {long}"));
    let ConfigErrorKind::BadScheduler(s) = e.kind else {
        panic!("{e:?}")
    };
    assert!(s.is_truncated());
    assert_eq!(
        e.to_string(),
        format!("line 1: bad scheduler name `{}...`", &long[..32])
    );
}

#[test]
fn golden_print() {
    let web = ServiceConfig::tcp(sa("10.0.0.1:80"))
        .scheduler("wrr")
        .persistent(300);
    let mut v6 = ServiceConfig::tcp(sa("[2001:db8::1]:443")).scheduler("mh");
    v6.netmask_prefix = 64;
    v6.flags = SchedFlags(SchedFlags::FLAG1 | SchedFlags::FLAG2 | SchedFlags::FLAG3);
    let config = Config {
        services: vec![
            ServiceEntry {
                config: web,
                servers: vec![
                    RealServerConfig::new(sa("192.168.1.2:8080"))
                        .forwarding(Forwarding::Masquerade)
                        .weight(65535)
                        .thresholds(1000, 0),
                    RealServerConfig::new(sa("192.168.1.3:80")).forwarding(Forwarding::Local),
                    RealServerConfig::new(sa("192.168.1.4:80"))
                        .forwarding(Forwarding::Tunnel {
                            kind: TunnelType::Gre,
                            csum: TunnelChecksum::None,
                        })
                        .thresholds(0, 0),
                    RealServerConfig::new(sa("[2001:db8::9]:80")).forwarding(Forwarding::Tunnel {
                        kind: TunnelType::Gue { port: 5555 },
                        csum: TunnelChecksum::RemCsum,
                    }),
                ],
            },
            ServiceEntry {
                config: v6,
                servers: vec![],
            },
        ],
        timeouts: Some(Timeouts {
            tcp: 0,
            tcp_fin: 0,
            udp: 30,
        }),
    };
    let expected = "\
--set 0 0 30
-A -t 10.0.0.1:80 -s wrr -p 300
-a -t 10.0.0.1:80 -r 192.168.1.2:8080 -m -w 65535 -x 1000
-a -t 10.0.0.1:80 -r 192.168.1.3:80 -g -w 1
-a -t 10.0.0.1:80 -r 192.168.1.4:80 -i -w 1 --tun-type gre --tun-nocsum
-a -t 10.0.0.1:80 -r [2001:db8::9]:80 -i -w 1 --tun-type gue --tun-port 5555 --tun-remcsum
-A -t [2001:db8::1]:443 -s mh -M 64 -b mh-fallback,mh-port,flag-3
";
    assert_eq!(print(&config), expected);
    // Local reads back as DirectRoute, everything else unchanged.
    let mut back = parse(expected).unwrap();
    assert_eq!(
        back.services[0].servers[1].forwarding,
        Forwarding::DirectRoute
    );
    back.services[0].servers[1].forwarding = Forwarding::Local;
    assert_eq!(back, config);
}

#[test]
fn sort_matches_ipvsadm_order() {
    let mut c = parse(
        "\
-A -f 2 -s rr
-A -t [2001:db8::1]:80 -s rr
-A -u 10.0.0.1:53 -s rr
-A -t 10.0.0.2:80 -s rr
-A -t 10.0.0.1:443 -s rr
-a -t 10.0.0.1:443 -r 192.168.1.20:443 -m
-a -t 10.0.0.1:443 -r 192.168.1.3:443 -m
-a -t 10.0.0.1:443 -r 192.168.1.3:80 -m
-A -f 1 -s rr
",
    )
    .unwrap();
    c.sort();
    assert_eq!(
        print(&c),
        "\
-A -t 10.0.0.1:443 -s rr
-a -t 10.0.0.1:443 -r 192.168.1.3:80 -m -w 1
-a -t 10.0.0.1:443 -r 192.168.1.3:443 -m -w 1
-a -t 10.0.0.1:443 -r 192.168.1.20:443 -m -w 1
-A -t 10.0.0.2:80 -s rr
-A -u 10.0.0.1:53 -s rr
-A -t [2001:db8::1]:80 -s rr
-A -f 1 -s rr
-A -f 2 -s rr
"
    );
}

/// A scheduler that only has a name: the listing never schedules.
struct Named(&'static str);

impl Scheduler for Named {
    fn name(&self) -> &'static str {
        self.0
    }
    fn pick(&mut self, _dests: DestView<'_>, _flow: &Flow) -> Option<DestId> {
        None
    }
    fn update(&mut self, _dests: DestView<'_>, _change: DestChange) {}
}

/// The reference's example setup as live services, given out of order, with
/// connections, counters and (for the web service) one estimator period.
fn live() -> Vec<Service> {
    let mut fw = Service::new(
        ServiceConfig {
            persistence_secs: Some(360),
            netmask_prefix: 24,
            flags: SchedFlags(SchedFlags::FLAG1 | SchedFlags::FLAG2),
            ..ServiceConfig::new(ServiceKey::Fwmark {
                family: Family::V4,
                mark: 1,
            })
            .scheduler("sh")
        },
        Box::new(Named("sh")),
    );
    let id = fw
        .add_server(RealServerConfig::new(sa("192.168.1.5:0")).weight(0))
        .unwrap();
    fw.state.stats.count_conn();
    fw.state.stats.count_in(150_000_000);
    let r = fw.server_mut(id).unwrap();
    r.stats.count_conn();
    r.stats.count_in(150_000_000);

    let mut v6 = Service::new(
        ServiceConfig {
            flags: SchedFlags(SchedFlags::FLAG2),
            ..ServiceConfig::tcp(sa("[2001:db8::1]:443")).scheduler("mh")
        },
        Box::new(Named("mh")),
    );
    v6.add_server(
        RealServerConfig::new(sa("[2001:db8::10]:443")).forwarding(Forwarding::Tunnel {
            kind: TunnelType::Gue { port: 6080 },
            csum: TunnelChecksum::None,
        }),
    )
    .unwrap();

    let mut web = Service::new(
        ServiceConfig::tcp(sa("10.0.0.1:80")).scheduler("wrr"),
        Box::new(Named("wrr")),
    );
    let a = web
        .add_server(
            RealServerConfig::new(sa("192.168.1.2:80"))
                .weight(4)
                .forwarding(Forwarding::Masquerade),
        )
        .unwrap();
    let b = web
        .add_server(
            RealServerConfig::new(sa("192.168.1.3:80"))
                .weight(3)
                .forwarding(Forwarding::Masquerade),
        )
        .unwrap();
    {
        let r = web.server_mut(a).unwrap();
        r.bind_conn(true);
        r.bind_conn(true);
        r.bind_conn(false);
    }
    for _ in 0..5 {
        web.server_mut(b).unwrap().bind_conn(false);
    }
    web.state.stats.estimate(Instant::ZERO);
    web.server_mut(a).unwrap().stats.estimate(Instant::ZERO);
    web.server_mut(b).unwrap().stats.estimate(Instant::ZERO);
    for _ in 0..80 {
        web.state.stats.count_conn();
        web.server_mut(a).unwrap().stats.count_conn();
    }
    for _ in 0..800 {
        web.state.stats.count_in(1000);
        web.server_mut(a).unwrap().stats.count_in(1000);
    }
    for _ in 0..400 {
        web.state.stats.count_out(500);
        web.server_mut(a).unwrap().stats.count_out(500);
    }
    let t = Instant::from_secs(2);
    web.state.stats.estimate(t);
    web.server_mut(a).unwrap().stats.estimate(t);
    web.server_mut(b).unwrap().stats.estimate(t);

    let dns = Service::new(
        ServiceConfig {
            one_packet: true,
            ..ServiceConfig::udp(sa("10.0.0.1:53")).scheduler("rr")
        },
        Box::new(Named("rr")),
    );
    vec![fw, v6, web, dns]
}

fn lines(l: &[&str]) -> String {
    let mut s = l.join("\n");
    s.push('\n');
    s
}

#[test]
fn listing_plain() {
    let services = live();
    let expected = lines(&[
        "IP Virtual Server version 1.2.1 (size=4096)",
        "Prot LocalAddress:Port Scheduler Flags",
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
        "TCP  10.0.0.1:80 wrr",
        "  -> 192.168.1.2:80               Masq    4      2          1         ",
        "  -> 192.168.1.3:80               Masq    3      0          5         ",
        "UDP  10.0.0.1:53 rr ops",
        "TCP  [2001:db8::1]:443 mh (mh-port)",
        "  -> [2001:db8::10]:443           Tunnel  1      0          0         ",
        "FWM  1 sh (sh-fallback,sh-port) persistent 360 mask 255.255.255.0",
        "  -> 192.168.1.5:0                Route   0      0          0         ",
    ]);
    assert_eq!(listing(&services, &ListOptions::default()), expected);
}

#[test]
fn listing_nosort_keeps_caller_and_list_order() {
    let services = live();
    let out = listing(
        &services,
        &ListOptions::new(ListFormat::Plain)
            .nosort(true)
            .table_size(1 << 20),
    );
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got[0], "IP Virtual Server version 1.2.1 (size=1048576)");
    assert!(got[3].starts_with("FWM  1 sh"));
    // Newest server first, as IPVS lists them.
    assert!(got[8].starts_with("  -> 192.168.1.3:80 "), "{out}");
    assert!(got[9].starts_with("  -> 192.168.1.2:80 "), "{out}");
}

#[test]
fn listing_stats() {
    let services = live();
    let expected = lines(&[
        "IP Virtual Server version 1.2.1 (size=4096)",
        "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
        "  -> RemoteAddress:Port",
        "TCP  10.0.0.1:80                        80      800      400   800000   200000",
        "  -> 192.168.1.2:80                     80      800      400   800000   200000",
        "  -> 192.168.1.3:80                      0        0        0        0        0",
        "UDP  10.0.0.1:53                         0        0        0        0        0",
        "TCP  [2001:db8::1]:443                   0        0        0        0        0",
        "  -> [2001:db8::10]:443                  0        0        0        0        0",
        "FWM  1                                   1        1        0  150000K        0",
        "  -> 192.168.1.5:0                       1        1        0  150000K        0",
    ]);
    assert_eq!(
        listing(&services, &ListOptions::new(ListFormat::Stats)),
        expected
    );

    let exact = listing(&services, &ListOptions::new(ListFormat::Stats).exact(true));
    assert!(
        exact.contains(
            "\nFWM  1                                   1        1        0 150000000        0\n"
        ),
        "{exact}"
    );
}

#[test]
fn listing_rate() {
    let services = live();
    let expected = lines(&[
        "IP Virtual Server version 1.2.1 (size=4096)",
        "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS",
        "  -> RemoteAddress:Port",
        "TCP  10.0.0.1:80                        10      100       50   100000    25000",
        "  -> 192.168.1.2:80                     10      100       50   100000    25000",
        "  -> 192.168.1.3:80                      0        0        0        0        0",
        "UDP  10.0.0.1:53                         0        0        0        0        0",
        "TCP  [2001:db8::1]:443                   0        0        0        0        0",
        "  -> [2001:db8::10]:443                  0        0        0        0        0",
        "FWM  1                                   0        0        0        0        0",
        "  -> 192.168.1.5:0                       0        0        0        0        0",
    ]);
    assert_eq!(
        listing(&services, &ListOptions::new(ListFormat::Rate)),
        expected
    );
}

#[test]
fn listing_thresholds_and_persistent_conn() {
    let mut services = live();
    let web = &mut services[2];
    web.edit_server(
        RealServerConfig::new(sa("192.168.1.2:80"))
            .weight(4)
            .forwarding(Forwarding::Masquerade)
            .thresholds(100, 10),
    )
    .unwrap();
    let out = listing(&services, &ListOptions::new(ListFormat::Thresholds));
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(
        got[1],
        "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn "
    );
    assert_eq!(got[2], "  -> RemoteAddress:Port");
    assert_eq!(got[3], "TCP  10.0.0.1:80 wrr");
    assert_eq!(
        got[4],
        "  -> 192.168.1.2:80               100        10         2          1         "
    );
    let out = listing(&services, &ListOptions::new(ListFormat::PersistentConn));
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(
        got[1],
        "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn "
    );
    assert_eq!(
        got[5],
        "  -> 192.168.1.3:80               3         0           0          5         "
    );
}

#[test]
fn snapshot_of_live_services_prints_like_ipvsadm_save() {
    let services = live();
    let mut c = Config::from_services(&services);
    c.sort();
    // ipvsadm -S order: address services (IPv4, then IPv6) before fwmark ones.
    let expected = "\
-A -t 10.0.0.1:80 -s wrr
-a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 4
-a -t 10.0.0.1:80 -r 192.168.1.3:80 -m -w 3
-A -u 10.0.0.1:53 -s rr -o
-A -t [2001:db8::1]:443 -s mh -b mh-port
-a -t [2001:db8::1]:443 -r [2001:db8::10]:443 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum
-A -f 1 -s sh -p 360 -M 255.255.255.0 -b sh-fallback,sh-port
-a -f 1 -r 192.168.1.5:0 -g -w 0
";
    assert_eq!(print(&c), expected);
    assert_eq!(parse(expected), Ok(c));
}
