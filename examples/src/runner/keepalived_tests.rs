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
