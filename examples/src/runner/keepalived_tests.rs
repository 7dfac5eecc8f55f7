//! The runner driven by a keepalived.conf: checks per real server, removal
//! without `inhibit_on_failure`, the quorum's sorry server, UDP left alone.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use clap::Parser;
use lvs_core::addr::Protocol;
use lvs_core::service::ServiceKey;

use super::Runner;
use crate::cli::DirectorArgs;
use crate::hostnet::Port;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    d: DirectorArgs,
}

/// The real servers the balancer has for `key`, with their weights.
fn live(r: &Runner, key: &ServiceKey) -> Vec<(SocketAddr, u32)> {
    let services = r.director.balancer().services();
    let Some(svc) = services.find(key).and_then(|id| services.get(id)) else {
        return Vec::new();
    };
    let mut v: Vec<_> = svc
        .servers()
        .map(|(_, s)| (s.config.addr, s.weight()))
        .collect();
    v.sort();
    v
}

#[test]
fn keepalived_conf_drives_weights_removal_and_sorry_server() {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let up_addr = up.local_addr().unwrap();
    // A port nobody listens on: connections are refused at once.
    let dead_addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let conf = format!(
        "global_defs {{\n router_id T\n}}\n\
         virtual_server 203.0.113.10 80 {{\n delay_loop 1\n lb_algo rr\n lb_kind NAT\n\
          quorum 2\n sorry_server 127.0.0.3 80\n\
          real_server {ip} {upp} {{\n  weight 1\n  inhibit_on_failure\n  TCP_CHECK {{\n   connect_timeout 1\n  }}\n }}\n\
          real_server {ip} {deadp} {{\n  weight 1\n  TCP_CHECK {{\n   connect_timeout 1\n   retry 0\n  }}\n }}\n}}\n\
         virtual_server 203.0.113.10 53 {{\n protocol UDP\n lb_kind NAT\n\
          real_server {ip} {deadp} {{\n  weight 5\n }}\n}}\n",
        ip = "127.0.0.1",
        upp = up_addr.port(),
        deadp = dead_addr.port(),
    );
    let dir = std::env::temp_dir();
    let ka = dir.join(format!("lvs-ka-{}.conf", std::process::id()));
    std::fs::write(&ka, conf).unwrap();
    // `--keepalived-conf` instead of `--rules`: the runner loads it at start.
    let cli = Cli::try_parse_from([
        "lvs",
        "--keepalived-conf",
        ka.to_str().unwrap(),
        "--no-netlink",
        "--no-control",
        "--addr",
        "192.0.2.1/24",
    ])
    .unwrap();
    let args = cli.d.with_links(vec!["ka0".into()]);
    let port = Port {
        name: "ka0".into(),
        mac: [2, 0, 0, 0, 0, 1],
        follow_kernel_mac: false,
    };
    let loaded = Runner::new(&args, vec![port]);
    std::fs::remove_file(&ka).ok();
    let mut r = loaded.unwrap();
    let tcp = ServiceKey::Addr {
        protocol: Protocol::Tcp,
        vip: "203.0.113.10:80".parse().unwrap(),
    };
    let udp = ServiceKey::Addr {
        protocol: Protocol::Udp,
        vip: "203.0.113.10:53".parse().unwrap(),
    };
    let sorry: SocketAddr = "127.0.0.3:80".parse().unwrap();
    let want = vec![(up_addr, 1), (sorry, 1)];
    let started = Instant::now();
    while live(&r, &tcp) != want && started.elapsed() < Duration::from_secs(8) {
        r.poll_health();
        std::thread::sleep(Duration::from_millis(20));
    }
    // The dead server is removed (no inhibit_on_failure); the quorum of 2 is lost with
    // one server of weight 1 up, so the sorry server serves too.
    assert_eq!(live(&r, &tcp), want);
    assert_eq!(r.health_verdicts().get(&(tcp, dead_addr)), Some(&true));
    assert_eq!(r.health_verdicts().get(&(tcp, up_addr)), Some(&false));
    // The UDP service on the dead address has no check and keeps its weight.
    assert_eq!(live(&r, &udp), vec![(dead_addr, 5)]);
    assert_eq!(r.health_verdicts().get(&(udp, dead_addr)), None);

    // The server comes back: added again, quorum regained, sorry server gone.
    let back = TcpListener::bind(dead_addr).unwrap();
    let mut want = vec![(up_addr, 1), (dead_addr, 1)];
    want.sort();
    let started = Instant::now();
    while live(&r, &tcp) != want && started.elapsed() < Duration::from_secs(8) {
        r.poll_health();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(live(&r, &tcp), want);
    drop(back);
    drop(up);
}

/// A runner on the keepalived.conf at `path` (no network, no control socket).
fn runner_on(path: &std::path::Path) -> Runner {
    let cli = Cli::try_parse_from([
        "lvs",
        "--keepalived-conf",
        path.to_str().unwrap(),
        "--no-netlink",
        "--no-control",
        "--addr",
        "192.0.2.1/24",
    ])
    .unwrap();
    let args = cli.d.with_links(vec!["ka0".into()]);
    let port = Port {
        name: "ka0".into(),
        mac: [2, 0, 0, 0, 0, 1],
        follow_kernel_mac: false,
    };
    Runner::new(&args, vec![port]).unwrap()
}

/// A temporary directory of its own for one test.
fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("lvs-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The lines a notify script wrote, sorted.
fn notified(log: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

/// keepalived's `omega`: `quorum_down` runs when a service whose quorum is met is removed,
/// by a reload or at shutdown; never for a service without `omega`, nor again for one whose
/// quorum is already lost (its `quorum_down` ran when it was lost).
#[test]
fn omega_runs_quorum_down_on_removal_and_shutdown() {
    let dir = temp_dir("omega");
    let log = dir.join("notified");
    let script = dir.join("notify.sh");
    // Run through /bin/sh: no exec of a file just written (ETXTBSY in a threaded test).
    std::fs::write(&script, format!("echo \"$1\" >> {}\n", log.display())).unwrap();
    let vs = |port: u16, name: &str, omega: bool, quorum: u32| {
        format!(
            "virtual_server 203.0.113.10 {port} {{\n lb_algo rr\n lb_kind NAT\n quorum {quorum}\n\
              quorum_down \"/bin/sh {s} {name}\"\n{o}\
              real_server 192.0.2.20 {port} {{\n  weight 1\n }}\n}}\n",
            s = script.display(),
            o = if omega { " omega\n" } else { "" },
        )
    };
    let conf = dir.join("keepalived.conf");
    let all = [
        vs(80, "removed", true, 1),
        vs(81, "kept", true, 1),
        vs(82, "no-omega", false, 1),
        vs(83, "lost", true, 5),
    ];
    std::fs::write(&conf, all.concat()).unwrap();
    let mut r = runner_on(&conf);
    let wait_for = |want: &[&str]| {
        let started = Instant::now();
        while notified(&log) != want && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(notified(&log), want);
    };
    // The quorum of 5 is lost at once (weight 1 up): its quorum_down runs then.
    wait_for(&["lost"]);
    // A reload drops the services on ports 80 and 82: only the one with omega notifies.
    std::fs::write(&conf, [&all[1], &all[3]].map(String::as_str).concat()).unwrap();
    r.reload();
    assert_eq!(r.service_keys().len(), 2);
    wait_for(&["lost", "removed"]);
    // Shutdown: the kept service (omega, quorum met) notifies, waited for; the lost one not again.
    r.omega_at_shutdown();
    assert_eq!(notified(&log), ["kept", "lost", "removed"]);
    r.omega_at_shutdown();
    assert_eq!(notified(&log).len(), 3, "once only");
    std::fs::remove_dir_all(&dir).ok();
}
