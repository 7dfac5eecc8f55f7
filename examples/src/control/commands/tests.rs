use super::*;
use lvs_core::config::Command as Rule;
use lvs_core::{Forwarding, RealServerConfig, ServiceConfig};

fn ok(args: &[&str]) -> Command {
    parse_command(args, "").unwrap_or_else(|e| panic!("{args:?}: {e:?}"))
}

fn err(args: &[&str]) -> (u8, String) {
    match parse_command(args, "") {
        Err(e) => (e.code, e.message),
        Ok(c) => panic!("{args:?} parsed: {c:?}"),
    }
}

fn tcp(s: &str) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        vip: s.parse().unwrap(),
    }
}

#[test]
fn rule_commands() {
    assert_eq!(
        ok(&["-A", "-t", "10.0.0.1:80", "-s", "rr"]),
        Command::Rule(Rule::AddService(
            ServiceConfig::tcp("10.0.0.1:80".parse().unwrap()).scheduler("rr")
        ))
    );
    assert!(matches!(
        ok(&["-E", "--tcp-service=10.0.0.1:80", "-p", "60"]),
        Command::Rule(Rule::EditService(c)) if c.persistence_secs == Some(60)
    ));
    assert_eq!(
        ok(&["-D", "-t", "10.0.0.1:80"]),
        Command::Rule(Rule::DeleteService(tcp("10.0.0.1:80")))
    );
    assert_eq!(
        ok(&[
            "-a",
            "-t",
            "10.0.0.1:80",
            "-r",
            "10.0.0.2:8080",
            "-m",
            "-w",
            "3"
        ]),
        Command::Rule(Rule::AddServer {
            service: tcp("10.0.0.1:80"),
            server: RealServerConfig::new("10.0.0.2:8080".parse().unwrap())
                .weight(3)
                .forwarding(Forwarding::Masquerade),
        })
    );
    assert!(matches!(
        ok(&["-e", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-w0"]),
        Command::Rule(Rule::EditServer { server, .. }) if server.weight == 0
    ));
    assert!(matches!(
        ok(&["-d", "-t", "10.0.0.1:80", "-r", "10.0.0.2"]),
        Command::Rule(Rule::DeleteServer { .. })
    ));
    assert_eq!(ok(&["-C"]), Command::Rule(Rule::Clear));
    assert_eq!(ok(&["-Z"]), Command::Rule(Rule::Zero(None)));
    assert_eq!(
        ok(&["-Z", "-t", "10.0.0.1:80"]),
        Command::Rule(Rule::Zero(Some(tcp("10.0.0.1:80"))))
    );
    assert!(matches!(
        ok(&["--set", "900", "120", "300"]),
        Command::Rule(Rule::SetTimeouts(t)) if t.tcp == 900 && t.udp == 300
    ));
    // Tunnel options and UDP one-packet scheduling.
    assert!(matches!(
        ok(&[
            "-a",
            "-t",
            "10.0.0.1:80",
            "-r",
            "10.0.0.3",
            "-i",
            "--tun-type",
            "gue",
            "--tun-port",
            "6080",
            "--tun-csum"
        ]),
        Command::Rule(Rule::AddServer { .. })
    ));
    assert!(matches!(
        ok(&["-A", "-u", "10.0.0.1:53", "-o"]),
        Command::Rule(Rule::AddService(c)) if c.one_packet
    ));
    assert!(ok(&["-A", "-t", "10.0.0.1:80"]).is_change());
}

#[test]
fn listing_commands() {
    let plain = ListRequest {
        service: None,
        format: ListFormat::Plain,
        exact: false,
        nosort: false,
    };
    assert_eq!(ok(&[]), Command::List(plain));
    assert_eq!(ok(&["-L", "-n"]), Command::List(plain));
    assert_eq!(ok(&["-Ln"]), Command::List(plain));
    assert_eq!(ok(&["-ln"]), Command::List(plain));
    assert_eq!(ok(&["--list", "--numeric"]), Command::List(plain));
    assert_eq!(
        ok(&["-Ln", "--stats", "--exact"]),
        Command::List(ListRequest {
            format: ListFormat::Stats,
            exact: true,
            ..plain
        })
    );
    for (opt, f) in [
        ("--rate", ListFormat::Rate),
        ("--thresholds", ListFormat::Thresholds),
        ("--persistent-conn", ListFormat::PersistentConn),
    ] {
        assert_eq!(
            ok(&["-L", "-n", opt]),
            Command::List(ListRequest { format: f, ..plain })
        );
    }
    assert_eq!(
        ok(&["-L", "-n", "-t", "10.0.0.1:80"]),
        Command::List(ListRequest {
            service: Some(tcp("10.0.0.1:80")),
            ..plain
        })
    );
    assert_eq!(ok(&["-Lnc"]), Command::Connections);
    assert_eq!(ok(&["-L", "-c", "-n"]), Command::Connections);
    assert_eq!(ok(&["-L", "--timeout"]), Command::Timeouts);
    assert_eq!(ok(&["-S", "-n"]), Command::Save);
    assert_eq!(ok(&["-Sn"]), Command::Save);
    assert_eq!(ok(&["--summary"]), Command::Summary);
    assert_eq!(ok(&["-h"]), Command::Help);
    assert_eq!(ok(&["--version"]), Command::Version);
    assert!(!ok(&["-Ln"]).is_change());
}

#[test]
fn restore_parses_every_line_first() {
    let text =
        "-C\n# comment\n\n-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.0.2 -m # trailing\n";
    match parse_command(&["-R"], text).unwrap() {
        Command::Restore(lines) => {
            assert_eq!(lines.len(), 3);
            assert_eq!(lines[0], (1, Rule::Clear));
            assert_eq!(lines[2].0, 5);
        }
        c => panic!("{c:?}"),
    }
    let e = parse_command(&["-R"], "-C\n-a -t 10.0.0.1:80 -r 10.0.0.2 -w 70000\n").unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (2, "line 2: illegal weight specified")
    );
    let e = parse_command(&["-R"], "-L -n\n").unwrap_err();
    assert!(e.message.starts_with("line 1: only"), "{e:?}");
}

#[test]
fn ipvsadm_messages_and_exit_codes() {
    let cases: &[(&[&str], u8, &str)] = &[
        (
            &["-A", "-D", "-t", "10.0.0.1:80"],
            2,
            "multiple commands specified",
        ),
        (&["-L", "-S"], 2, "multiple commands specified"),
        (
            &["-A", "-t", "10.0.0.1:80", "-t", "10.0.0.2:80"],
            2,
            "multiple 'service-address' options specified",
        ),
        (
            &["-A", "-t", "10.0.0.1:80", "-u", "10.0.0.2:80"],
            2,
            "multiple 'service-address' options specified",
        ),
        (
            &["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-m", "-g"],
            2,
            "multiple 'forwarding-method' options specified",
        ),
        (
            &["-A", "-t", "10.0.0.1:80", "-w", "2"],
            2,
            "Illegal 'weight' option with the 'add-service' command",
        ),
        (
            &["-A", "-t", "10.0.0.1:80", "-n"],
            2,
            "Illegal 'numeric' option with the 'add-service' command",
        ),
        (
            &["-D", "-t", "10.0.0.1:80", "-s", "rr"],
            2,
            "Illegal 'scheduler' option with the 'delete-service' command",
        ),
        (
            &["-A"],
            2,
            "You need to supply the 'service-address' option for the 'add-service' command",
        ),
        (
            &["-a", "-t", "10.0.0.1:80"],
            2,
            "You need to supply the 'real-server' option for the 'add-server' command",
        ),
        (
            &["-A", "-t", "10.0.0.300:80"],
            2,
            "illegal virtual server address[:port] specified",
        ),
        (
            &["-A", "-t", "10.0.0.1:http2"],
            2,
            "illegal virtual server address[:port] specified",
        ),
        (
            &["-a", "-t", "10.0.0.1:80", "-r", "nothere"],
            2,
            "illegal real server address[:port] specified",
        ),
        (
            &["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-w", "65536"],
            2,
            "illegal weight specified",
        ),
        (
            &["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-w", "-1"],
            2,
            "illegal weight specified",
        ),
        (
            &["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-x", "x"],
            2,
            "illegal u_threshold specified",
        ),
        (
            &["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-y", "x"],
            2,
            "illegal l_threshold specified",
        ),
        (
            &[
                "-a",
                "-t",
                "10.0.0.1:80",
                "-r",
                "10.0.0.2",
                "-x",
                "1",
                "-y",
                "5",
            ],
            255,
            "Numerical result out of range",
        ),
        (&["-A", "-f", "0"], 2, "invalid fwmark value `0' specified"),
        (
            &["-A", "-t", "10.0.0.1:80", "-p", "0"],
            2,
            "invalid timeout value `0' specified",
        ),
        (
            &["--set", "1", "x", "3"],
            2,
            "invalid timeout value `x' specified",
        ),
        (
            &["--set", "1", "2"],
            2,
            "--set option requires 3 timeout values",
        ),
        (
            &["-A", "-t", "10.0.0.1:80", "-p", "-M", "255.0.255.0"],
            2,
            "illegal virtual server persistent mask specified",
        ),
        (
            &["-A", "-t", "10.0.0.1:0"],
            2,
            "Zero port specified for non-persistent service",
        ),
        (
            &["-A", "-t", "10.0.0.1:80", "-o"],
            2,
            "One-Packet Scheduling is only for UDP virtual services",
        ),
        (
            &["-A", "-t", "10.0.0.1:80", "-s", "no-such-scheduler!"],
            255,
            "Scheduler or persistence engine not found",
        ),
        (
            &["-A", "-t", "10.0.0.1:80", "extra"],
            2,
            "unexpected argument extra",
        ),
        (&["-L", "--bogus"], 255, "--bogus: unknown option"),
        (&["-Lq"], 255, "-Lq: unknown option"),
        (&["-A", "-t"], 255, "-t: missing argument"),
        (&["-n"], 255, TRY_HELP),
        (
            &["-L", "-c", "-t", "10.0.0.1:80"],
            2,
            "The option 'service-address' conflicts with the 'connection' option in the 'list' command",
        ),
        (
            &["-L", "-c", "--stats"],
            2,
            "options conflicts in the list command",
        ),
        (
            &["-L", "--timeout", "--persistent-conn"],
            2,
            "options conflicts in the list command",
        ),
        (
            &["-L", "-n", "-n"],
            2,
            "multiple 'numeric' options specified",
        ),
        (
            &["-L", "-r", "10.0.0.2"],
            2,
            "Illegal 'real-server' option with the 'list' command",
        ),
        (
            &["-S", "--stats"],
            2,
            "Illegal 'stats' option with the 'save' command",
        ),
        (
            &["-R", "-n"],
            2,
            "Illegal 'numeric' option with the 'restore' command",
        ),
        (&["-L", "--stats=1"], 2, "unexpected argument --stats=1"),
    ];
    for (args, code, msg) in cases {
        assert_eq!(err(args), (*code, msg.to_string()), "{args:?}");
    }
}

#[test]
fn values_never_smuggle_options() {
    // One argument with spaces stays one (bad) value.
    assert_eq!(
        err(&["-A", "-t", "10.0.0.1:80 -s rr"]),
        (2, "illegal virtual server address[:port] specified".into())
    );
    assert_eq!(err(&["-C", "#"]), (2, "unexpected argument #".into()));
    // Odd bytes are errors, not panics.
    for junk in ["\u{0}", "-\u{e9}", "--=", "-", "--", "-t=1", "é"] {
        assert!(parse_command(&["-A", junk], "").is_err(), "{junk:?}");
    }
}
