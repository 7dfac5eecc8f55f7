//! Health checks against silently dead hosts, in a network namespace of the
//! test's own: 40 targets on 192.0.2.0/24 (documentation addresses) routed out
//! of one end of a veth pair to a MAC address no one has, so every SYN is
//! dropped without an answer. All 40 must be
//! marked down within `fall × interval + timeout` plus a margin — not after
//! 40 timeouts per round, as one thread probing them in turn took.
//!
//! Needs root (to create the namespace); otherwise the test prints `SKIP: ...`
//! and passes. The namespace is unshared by the test's own thread, so it (and
//! its dummy interface) vanishes when that thread ends, whatever happens.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::time::{Duration, Instant};

use lvs_core::config::{Config, ServiceEntry};
use lvs_core::real_server::RealServerConfig;
use lvs_core::service::ServiceConfig;
use lvs_examples::health::{CheckConfig, CheckKind, CheckTarget, Health, HealthChecker};
use lvs_examples::runner::health::CheckPlan;

const INTERVAL: Duration = Duration::from_millis(500);
const TIMEOUT: Duration = Duration::from_millis(300);
const FALL: u32 = 3;
/// Scheduling slack on a loaded test host (first probes are spread over one interval).
const MARGIN: Duration = Duration::from_millis(1500);

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Moves the calling thread into a new network namespace with a veth
/// pair that swallows 192.0.2.0/24.
fn isolated_blackhole() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root".into());
    }
    // SAFETY: unshare affects only the calling thread's network namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(format!("unshare: {}", std::io::Error::last_os_error()));
    }
    ip(&["link", "set", "lo", "up"])?;
    ip(&["link", "add", "hc0", "type", "veth", "peer", "name", "hc1"])?;
    ip(&["addr", "add", "198.51.100.1/24", "dev", "hc0"])?;
    ip(&["link", "set", "hc0", "up"])?;
    ip(&["link", "set", "hc1", "up"])?;
    // A gateway with a permanent neighbour entry that no interface owns: SYNs
    // leave hc0, reach hc1 addressed to a foreign MAC and are dropped there.
    ip(&[
        "neigh",
        "add",
        "198.51.100.2",
        "lladdr",
        "02:00:5e:00:53:02",
        "dev",
        "hc0",
        "nud",
        "permanent",
    ])?;
    ip(&[
        "route",
        "add",
        "192.0.2.0/24",
        "via",
        "198.51.100.2",
        "dev",
        "hc0",
    ])?;
    Ok(())
}

fn cfg() -> CheckConfig {
    CheckConfig {
        kind: CheckKind::Tcp,
        interval: INTERVAL,
        timeout: TIMEOUT,
        rise: 2,
        fall: FALL,
    }
}

#[test]
fn forty_silent_hosts_are_down_within_one_failure_window() {
    let r = std::thread::spawn(|| -> Result<(), String> {
        isolated_blackhole()?;
        let live = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let live_addr = live.local_addr().map_err(|e| e.to_string())?;
        let mut targets: Vec<CheckTarget> = (1..=40u8)
            .map(|i| CheckTarget::new(SocketAddr::from(([192, 0, 2, i], 80)), cfg()))
            .collect();
        targets.push(CheckTarget::new(live_addr, cfg()));
        let started = Instant::now();
        let (checker, rx) =
            HealthChecker::spawn_channel(targets, Health::Up).map_err(|e| e.to_string())?;
        let limit = INTERVAL * FALL + TIMEOUT + MARGIN;
        let mut down = BTreeSet::new();
        while down.len() < 40 {
            let left = limit.saturating_sub(started.elapsed());
            let c = rx
                .recv_timeout(left)
                .map_err(|_| format!("{} of 40 down after {limit:?}", down.len()))?;
            assert_eq!(c.to, Health::Down, "{c:?}");
            assert_ne!(c.index, 40, "the live listener was taken down: {c:?}");
            down.insert(c.index);
        }
        let took = started.elapsed();
        // The live target stays up for a few more rounds.
        if let Ok(c) = rx.recv_timeout(INTERVAL * 2) {
            return Err(format!("unexpected change {c:?}"));
        }
        checker.stop();
        eprintln!("40 silent hosts down after {took:?} (limit {limit:?})");
        Ok(())
    })
    .join()
    .expect("test thread panicked");
    match r {
        Err(e) if e == "not root" || e.starts_with("unshare") || e.starts_with("ip") => {
            eprintln!("SKIP: {e}")
        }
        other => other.unwrap(),
    }
}

/// `--check tcp` gives UDP services no check at all: a UDP real server that
/// listens on no TCP port is never taken down by it.
#[test]
fn tcp_check_plan_leaves_udp_services_alone() {
    let rs = RealServerConfig::new("192.0.2.53:53".parse().unwrap());
    let udp = ServiceConfig::udp("198.51.100.53:53".parse().unwrap());
    let rules = Config {
        services: vec![ServiceEntry {
            config: udp,
            servers: vec![rs],
        }],
        timeouts: None,
    };
    let (plan, unchecked) = CheckPlan::from_flags(&rules, &cfg());
    assert!(plan.targets.is_empty());
    assert_eq!(unchecked, 1);
    let misc = CheckConfig {
        kind: CheckKind::Misc {
            argv: vec!["true".into()],
        },
        ..cfg()
    };
    let (plan, unchecked) = CheckPlan::from_flags(&rules, &misc);
    assert_eq!((plan.targets.len(), unchecked), (1, 0));
}
