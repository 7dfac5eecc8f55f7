//! Properties of the rule format: every valid configuration survives
//! `print` then `parse` unchanged, and no input makes the parser panic.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::collections::BTreeSet;

use lvs_core::config::{
    Config, MAX_THRESHOLD, MAX_TIMEOUT_SECS, ServiceEntry, Timeouts, parse, parse_line, print,
};
use lvs_core::{
    Family, Forwarding, Protocol, RealServerConfig, SchedFlags, SchedName, ServiceConfig,
    ServiceKey, TunnelChecksum, TunnelType,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn ip(family: Family) -> BoxedStrategy<IpAddr> {
    match family {
        Family::V4 => any::<u32>()
            .prop_map(|a| IpAddr::V4(Ipv4Addr::from(a)))
            .boxed(),
        Family::V6 => prop_oneof![
            any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
            // Short forms and IPv4-mapped forms exercise the v6 printer.
            (any::<u16>(), any::<u16>())
                .prop_map(|(a, b)| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, a, b))),
            any::<u32>().prop_map(|a| IpAddr::V6(Ipv4Addr::from(a).to_ipv6_mapped())),
        ]
        .boxed(),
    }
}

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![Just(Family::V4), Just(Family::V6)]
}

fn key() -> impl Strategy<Value = ServiceKey> {
    prop_oneof![
        3 => (
            prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp), Just(Protocol::Sctp)],
            family().prop_flat_map(ip),
            any::<u16>(),
        )
            .prop_map(|(protocol, ip, port)| ServiceKey::Addr {
                protocol,
                vip: SocketAddr::new(ip, port),
            }),
        1 => (family(), 1..=u32::MAX).prop_map(|(family, mark)| ServiceKey::Fwmark { family, mark }),
    ]
}

fn scheduler() -> impl Strategy<Value = SchedName> {
    // Only IPVS's schedulers parse (any other name is refused with its line).
    prop::sample::select(vec![
        "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
        "twos",
    ])
    .prop_map(|s| SchedName::new(s).expect("valid name"))
}

fn service() -> impl Strategy<Value = ServiceConfig> {
    (
        key(),
        scheduler(),
        0u8..8,
        prop::option::of(1..=MAX_TIMEOUT_SECS),
        any::<u8>(),
        any::<bool>(),
    )
        .prop_map(|(key, scheduler, flags, persistence, mask, ops)| {
            let mut c = ServiceConfig::new(key);
            c.scheduler = scheduler;
            c.flags = SchedFlags(flags);
            c.persistence_secs = persistence;
            c.netmask_prefix = match key.family() {
                Family::V4 => mask % 33,
                Family::V6 => 1 + mask % 128,
            };
            c.one_packet = ops;
            // A wildcard-port service must be persistent.
            if let ServiceKey::Addr { vip, .. } = key
                && vip.port() == 0
                && c.persistence_secs.is_none()
            {
                c.persistence_secs = Some(360);
            }
            c
        })
}

fn forwarding() -> impl Strategy<Value = Forwarding> {
    let csum = prop_oneof![
        Just(TunnelChecksum::None),
        Just(TunnelChecksum::Csum),
        Just(TunnelChecksum::RemCsum)
    ];
    prop_oneof![
        Just(Forwarding::Masquerade),
        Just(Forwarding::DirectRoute),
        Just(Forwarding::Tunnel {
            kind: TunnelType::Ipip,
            csum: TunnelChecksum::None
        }),
        (1..=u16::MAX, csum).prop_map(|(port, csum)| Forwarding::Tunnel {
            kind: TunnelType::Gue { port },
            csum
        }),
        any::<bool>().prop_map(|c| Forwarding::Tunnel {
            kind: TunnelType::Gre,
            csum: if c {
                TunnelChecksum::Csum
            } else {
                TunnelChecksum::None
            }
        }),
    ]
}

/// A real server valid for `svc`: same family unless tunnelled, the
/// service port for DR/TUN of an address service.
fn server(svc: ServiceKey) -> impl Strategy<Value = RealServerConfig> {
    (
        forwarding(),
        family(),
        any::<u16>(),
        0..=65_535u32,
        0..=MAX_THRESHOLD,
        any::<u32>(),
    )
        .prop_flat_map(move |(fwd, fam, port, weight, upper, lower)| {
            let tunnel = matches!(fwd, Forwarding::Tunnel { .. });
            let fam = if tunnel { fam } else { svc.family() };
            let port = match (svc, fwd) {
                (
                    ServiceKey::Addr { vip, .. },
                    Forwarding::DirectRoute | Forwarding::Tunnel { .. },
                ) => vip.port(),
                _ => port,
            };
            let lower = if upper == 0 { 0 } else { lower % (upper + 1) };
            ip(fam).prop_map(move |ip| {
                RealServerConfig::new(SocketAddr::new(ip, port))
                    .weight(weight)
                    .forwarding(fwd)
                    .thresholds(upper, lower)
            })
        })
}

fn entry() -> impl Strategy<Value = ServiceEntry> {
    service().prop_flat_map(|config| {
        prop::collection::vec(server(config.key), 0..6).prop_map(move |mut servers| {
            let mut seen = BTreeSet::new();
            servers.retain(|s| seen.insert(s.addr));
            ServiceEntry { config, servers }
        })
    })
}

fn config() -> impl Strategy<Value = Config> {
    (
        prop::collection::vec(entry(), 0..6),
        prop::option::of((
            0..=MAX_TIMEOUT_SECS,
            0..=MAX_TIMEOUT_SECS,
            0..=MAX_TIMEOUT_SECS,
        )),
    )
        .prop_map(|(mut services, t)| {
            let mut seen = BTreeSet::new();
            services.retain(|e| seen.insert(e.config.key));
            Config {
                services,
                timeouts: t.map(|(tcp, tcp_fin, udp)| Timeouts { tcp, tcp_fin, udp }),
            }
        })
}

/// Words the parser knows, to build inputs that get past the first token.
const VOCAB: &[&str] = &[
    "-A",
    "-a",
    "-C",
    "--set",
    "-t",
    "-u",
    "--sctp-service",
    "-f",
    "-6",
    "-s",
    "-p",
    "-M",
    "-o",
    "-b",
    "-r",
    "-m",
    "-i",
    "-g",
    "-w",
    "-x",
    "-y",
    "--tun-type",
    "--tun-port",
    "--tun-nocsum",
    "--tun-csum",
    "--tun-remcsum",
    "--add-service",
    "--weight=",
    "--persistent=",
    "10.0.0.1:80",
    "10.0.0.1",
    "[2001:db8::1]:443",
    "[2001:db8::1]",
    "2001:db8::1",
    "[::1",
    "1.2.3.4:",
    ":80",
    "0",
    "1",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "gue",
    "gre",
    "ipip",
    "wrr",
    "sh",
    "mh",
    "sh-port,sh-fallback",
    "mh-port",
    "flag-1,flag-3",
    ",",
    "255.255.255.0",
    "64",
    "#",
    "é",
    "\t",
    "--",
    "-",
    "=",
];

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        // Failing cases are kept in lvs-core/proptest-regressions/ (cargo
        // runs integration tests from the package root).
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/config_props.txt",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn print_then_parse_is_identity(c in config()) {
        let text = print(&c);
        prop_assert_eq!(parse(&text), Ok(c.clone()), "text:\n{}", text);
        // Sorting keeps it valid and printing stays canonical.
        let mut sorted = c;
        sorted.sort();
        let text = print(&sorted);
        prop_assert_eq!(parse(&text), Ok(sorted));
    }

    #[test]
    fn every_printed_line_parses_alone(c in config()) {
        for line in print(&c).lines() {
            prop_assert!(matches!(parse_line(line), Ok(Some(_))), "{}", line);
        }
    }

    #[test]
    fn random_text_never_panics(s in any::<String>()) {
        let _ = parse(&s);
        let _ = parse_line(&s);
    }

    #[test]
    fn token_soup_never_panics(
        lines in prop::collection::vec(
            prop::collection::vec(
                prop_oneof![prop::sample::select(VOCAB).prop_map(String::from), "\\PC{0,12}"],
                0..12,
            ),
            0..8,
        ),
        sep in prop::sample::select(vec![" ", "  ", "\t", "="]),
    ) {
        let text: Vec<String> = lines.iter().map(|l| l.join(sep)).collect();
        let text = text.join("\n");
        if let Ok(c) = parse(&text) {
            // Whatever is accepted prints to something that reads back the same.
            prop_assert_eq!(parse(&print(&c)), Ok(c));
        }
    }

    #[test]
    fn mutated_valid_text_never_panics(
        c in config(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = print(&c).into_bytes();
        for (at, b) in edits {
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(c) = parse(&text) {
            prop_assert_eq!(parse(&print(&c)), Ok(c));
        }
    }
}
