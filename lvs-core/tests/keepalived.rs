//! keepalived.conf's LVS part on realistic files, and broken ones.

use std::net::SocketAddr;

use lvs_core::addr::{Family, Protocol};
use lvs_core::config::keepalived::{CheckSpec, KeepalivedErrorKind, LbKind, VirtualAddr, parse};
use lvs_core::real_server::Forwarding;
use lvs_core::service::ServiceKey;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn tcp(s: &str) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        vip: sa(s),
    }
}

#[test]
fn nat_http_farm() {
    let k = parse(include_str!("data/keepalived/nat_http.conf")).unwrap();
    let skipped: Vec<_> = k
        .skipped
        .iter()
        .map(|n| (n.keyword.as_str(), n.line))
        .collect();
    assert_eq!(skipped, [("global_defs", 2), ("vrrp_instance", 9)]);
    let vs = &k.virtual_servers[0];
    assert_eq!(vs.lb_kind, Some(LbKind::Nat));
    assert_eq!(vs.persistence_granularity, Some(24));
    assert_eq!(vs.sorry_server, Some(sa("192.0.2.250:8080")));
    assert!(vs.alpha);
    let c = k.to_config().unwrap();
    let (cfg, checks) = (&c.config, &c.checks);
    let svc = cfg.service(&tcp("198.51.100.10:80")).unwrap();
    assert_eq!(svc.config.scheduler.as_str(), "wlc");
    assert_eq!(svc.config.persistence_secs, Some(300));
    assert_eq!(svc.config.netmask_prefix, 24);
    assert_eq!(svc.servers.len(), 2);
    assert_eq!(svc.servers[0].weight, 3);
    assert_eq!(svc.servers[0].forwarding, Forwarding::Masquerade);
    // Two urls on .11, one on .12 (on its connect_port).
    assert_eq!(checks.len(), 3);
    assert_eq!(
        checks[0].spec,
        CheckSpec::Http {
            path: "/healthz".into(),
            status: 200,
            digest: None
        }
    );
    assert_eq!(checks[0].interval_secs, 6);
    assert_eq!(checks[0].timeout_secs, 3);
    assert_eq!(checks[0].fall, 3);
    assert_eq!(checks[0].retry_delay_secs, Some(2));
    assert!(checks[0].inhibit_on_failure && checks[0].start_down);
    assert!(matches!(&checks[1].spec, CheckSpec::Http { digest: Some(d), .. } if d.len() == 32));
    assert_eq!(checks[2].check_addr, sa("192.0.2.12:8081"));
    assert_eq!(checks[2].server, sa("192.0.2.12:8080"));
    assert_eq!(checks[2].fall, 4);
    assert!(matches!(
        &checks[2].spec,
        CheckSpec::Http { status: 204, .. }
    ));
    assert!(!checks[2].inhibit_on_failure);
    let p = &c.policies[0];
    assert_eq!((p.quorum, p.hysteresis), (1, 0));
    let sorry = p.sorry_server.unwrap();
    assert_eq!(sorry.addr, sa("192.0.2.250:8080"));
    assert_eq!(
        (sorry.weight, sorry.forwarding),
        (1, Forwarding::Masquerade)
    );
}

#[test]
fn dr_group_with_tcp_checks() {
    let k = parse(include_str!("data/keepalived/dr_group.conf")).unwrap();
    assert_eq!(k.groups[0].members.len(), 4);
    assert_eq!(k.virtual_servers[0].addr, VirtualAddr::Group("WEB".into()));
    let notes: Vec<_> = k.notes.iter().map(|n| n.keyword.as_str()).collect();
    assert_eq!(notes, ["ha_suspend", "SSL_GET"]);
    let c = k.to_config().unwrap();
    let (cfg, checks) = (&c.config, &c.checks);
    let keys: Vec<_> = cfg.services.iter().map(|s| s.config.key).collect();
    assert_eq!(
        keys,
        [
            tcp("198.51.100.20:443"),
            tcp("198.51.100.30:443"),
            tcp("198.51.100.31:443"),
            ServiceKey::Fwmark {
                family: Family::V4,
                mark: 7
            },
        ]
    );
    assert!(cfg.services.iter().all(|s| s.servers.len() == 2
        && s.servers[0].forwarding == Forwarding::DirectRoute
        && s.config.scheduler.as_str() == "sh"));
    assert_eq!(checks.len(), 8);
    assert!(
        checks
            .iter()
            .all(|c| c.spec == CheckSpec::Tcp && c.timeout_secs == 2)
    );
    assert_eq!(checks[0].bind, Some("192.0.2.1".parse().unwrap()));
    assert_eq!(checks[1].bind, None);
    assert_eq!(checks[0].interval_secs, 10);
}

#[test]
fn udp_dns_with_misc_check() {
    let k = parse(include_str!("data/keepalived/udp_dns.conf")).unwrap();
    let vs = &k.virtual_servers[0];
    assert!(vs.omega);
    assert_eq!(
        vs.quorum_up.as_deref(),
        Some("/usr/local/bin/dns-quorum up")
    );
    assert_eq!(
        k.to_config().unwrap().policies[0].quorum_down.as_deref(),
        Some("/usr/local/bin/dns-quorum down")
    );
    let c = k.to_config().unwrap();
    assert!(c.policies[0].omega);
    let (cfg, checks) = (&c.config, &c.checks);
    let key = ServiceKey::Addr {
        protocol: Protocol::Udp,
        vip: sa("198.51.100.53:53"),
    };
    assert_eq!(cfg.service(&key).unwrap().servers[1].weight, 2);
    assert_eq!(
        checks[0].spec,
        CheckSpec::Misc {
            command: "/usr/local/bin/check-dns 192.0.2.53".into()
        }
    );
    assert_eq!((checks[0].timeout_secs, checks[0].fall), (3, 1));
    // misc_timeout defaults to the delay_loop.
    assert_eq!(checks[1].timeout_secs, 5);
}

#[test]
fn broken_files_name_the_line() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "virtual_server 192.0.2.1 80 {\n  lb_algo rr\n",
            1,
            "never closed",
        ),
        ("global_defs {\n}\n}\n", 3, "without an open block"),
        (
            "virtual_server 192.0.2.1 80 {\n  delay_loop x\n}\n",
            2,
            "delay_loop",
        ),
        (
            "virtual_server 192.0.2.1 80 {\n\n  lb_kind FOO\n}\n",
            3,
            "lb_kind",
        ),
        ("include /etc/keepalived/conf.d/*.conf\n", 1, "include"),
        ("virtual_server 192.0.2.1 {\n}\n", 1, "virtual_server"),
        ("\nvirtual_server group NOPE {\n}\n", 2, "NOPE"),
        ("a \"unterminated\n", 1, "unterminated"),
        (
            "virtual_server fwmark 1 {\n real_server 192.0.2.5 0 {\n  TCP_CHECK {\n  }\n }\n}\n",
            2,
            "connect_port",
        ),
        (
            "virtual_server 192.0.2.1 80 {\n real_server 192.0.2.5 80 {\n }\n real_server 192.0.2.5 80 {\n }\n}\n",
            4,
            "duplicate",
        ),
        (
            "virtual_server 192.0.2.1 80 {\n lb_algo waytoolongschedulername\n}\n",
            1,
            "lb_algo",
        ),
    ];
    for (text, line, what) in cases {
        let e = parse(text)
            .and_then(|k| k.to_config().map(|_| ()))
            .unwrap_err();
        assert_eq!(e.line, *line, "{text:?}: {e}");
        assert!(e.to_string().contains(what), "{text:?}: {e}");
    }
    let deep = "a {\n".repeat(20);
    assert_eq!(parse(&deep).unwrap_err().kind, KeepalivedErrorKind::TooDeep);
    let big = " ".repeat(lvs_core::config::keepalived::MAX_TEXT_LEN + 1);
    assert!(matches!(
        parse(&big).unwrap_err().kind,
        KeepalivedErrorKind::TooLarge { .. }
    ));
}
