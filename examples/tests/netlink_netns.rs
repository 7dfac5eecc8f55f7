//! `netlink::snapshot` and `netlink::Watcher` against a real kernel, inside a throw-away
//! network namespace.
//!
//! Needs root (to create namespaces); otherwise each test prints `SKIP: ...` and passes.
//! Each test makes its own namespace `lvsnl-<pid>-<tag>`, enters it from a spawned thread
//! with `setns(2)` (netlink sockets opened afterwards in that thread live there), and
//! deletes it in a Drop guard, also when a check fails. Only documentation addresses are
//! used, except `10.9.0.0/16` which never leaves the namespace.

use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use lvs_examples::netlink::{
    HostNet, HostRoute, NeighState, NetEvent, RouteKind, Watcher, snapshot,
};

const MAC0: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const NEIGH_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x11];

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// Deletes the namespace when dropped.
struct Netns {
    name: String,
}

impl Netns {
    /// Create the namespace, or explain why this host cannot (the test then skips).
    fn create(tag: &str) -> Result<Self, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root".into());
        }
        let name = format!("lvsnl-{}-{tag}", std::process::id());
        let out = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .map_err(|e| format!("cannot run ip: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "ip netns add failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self { name })
    }

    /// Run `ip -n <ns> <args>`, panicking with its stderr if it fails.
    fn ip(&self, args: &str) {
        ip_in(&self.name, args);
    }

    /// The veth pair lvs0 (served) / lvs1 with the brief's addresses, route, blackhole and
    /// neighbour.
    fn setup(&self) {
        self.ip("link add lvs0 address 02:00:00:00:00:01 mtu 1400 type veth peer name lvs1");
        self.ip("link set lvs1 up");
        self.ip("link set lvs0 up");
        self.ip("addr add 192.0.2.1/24 dev lvs0");
        self.ip("addr add 2001:db8:2::1/64 dev lvs0 nodad");
        self.ip("route add 10.9.0.0/16 via 192.0.2.254");
        self.ip("route add blackhole 203.0.113.10/32");
        self.ip("neigh add 192.0.2.11 lladdr 02:00:00:00:01:11 dev lvs0 nud permanent");
    }
}

/// Run `ip -n <ns> <args>`, panicking with its stderr if it fails.
fn ip_in(ns: &str, args: &str) {
    let out = Command::new("ip")
        .arg("-n")
        .arg(ns)
        .args(args.split_whitespace())
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {args}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Move the calling thread into namespace `ns`.
fn enter(ns: &str) {
    let f = File::open(format!("/run/netns/{ns}")).expect("open netns file");
    // SAFETY: `f` is an open namespace file; setns only affects the calling thread.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Run `f` in a thread that has entered `ns`; re-raise its panic here (the caller's guard
/// then still deletes the namespace).
fn in_netns(ns: &Netns, f: impl FnOnce() + Send + 'static) {
    let name = ns.name.clone();
    let h = std::thread::spawn(move || {
        enter(&name);
        f();
    });
    if let Err(e) = h.join() {
        std::panic::resume_unwind(e);
    }
}

fn served() -> Vec<String> {
    vec!["lvs0".to_string()]
}

#[test]
fn snapshot_sees_links_addresses_routes_neighbours() {
    let ns = match Netns::create("s") {
        Ok(ns) => ns,
        Err(why) => {
            println!("SKIP: {why}");
            return;
        }
    };
    ns.setup();
    in_netns(&ns, || {
        let net = snapshot(&served()).expect("snapshot");
        assert_eq!(net.links.len(), 1, "only the served link: {net:#?}");
        let l = net.link_by_name("lvs0").expect("lvs0");
        assert_eq!(l.mac, MAC0);
        assert_eq!(l.mtu, 1400);
        assert!(l.up);
        assert!(l.addrs.contains(&(ip("192.0.2.1"), 24)), "{:?}", l.addrs);
        assert!(
            l.addrs.contains(&(ip("2001:db8:2::1"), 64)),
            "{:?}",
            l.addrs
        );
        let idx = l.ifindex;

        let find = |dst: &str, len: u8| -> &HostRoute {
            net.routes
                .iter()
                .find(|r| r.dst == ip(dst) && r.prefix_len == len)
                .unwrap_or_else(|| panic!("route {dst}/{len} missing: {:#?}", net.routes))
        };
        let connected = find("192.0.2.0", 24);
        assert_eq!(connected.ifindex, Some(idx));
        assert_eq!(connected.gateway, None);
        assert_eq!(connected.prefsrc, Some(ip("192.0.2.1")));
        assert_eq!(connected.kind, RouteKind::Unicast);
        let via = find("10.9.0.0", 16);
        assert_eq!(via.gateway, Some(ip("192.0.2.254")));
        assert_eq!(via.ifindex, Some(idx));
        let connected6 = find("2001:db8:2::", 64);
        assert_eq!(connected6.ifindex, Some(idx));
        let bh = find("203.0.113.10", 32);
        assert_eq!(bh.kind, RouteKind::Blackhole);
        assert_eq!(bh.ifindex, None);
        // Nothing from the peer or from other tables.
        let peer = net
            .routes
            .iter()
            .filter(|r| r.ifindex.is_some_and(|i| i != idx));
        assert_eq!(peer.count(), 0, "{:#?}", net.routes);

        let n = net.neighbor(idx, ip("192.0.2.11")).expect("neighbour");
        assert_eq!(n.mac, Some(NEIGH_MAC));
        assert_eq!(n.state, NeighState::Permanent);

        let err =
            snapshot(&["lvs0".to_string(), "nope0".to_string()]).expect_err("missing interface");
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert!(err.to_string().contains("nope0"), "{err}");
    });
}

/// Poll the watcher (bounded: 2 s, 100 ms per poll) until an event satisfies `want`,
/// applying every event to `net` on the way.
fn wait_for(
    w: &mut Watcher,
    net: &mut HostNet,
    what: &str,
    want: impl Fn(&NetEvent) -> bool,
) -> NetEvent {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut events = Vec::new();
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let mut pfd = libc::pollfd {
            fd: w.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, count 1.
        let rc = unsafe { libc::poll(&mut pfd, 1, 100) };
        assert!(rc >= 0, "poll: {}", std::io::Error::last_os_error());
        events.clear();
        w.poll_events(&mut events).expect("poll_events");
        for ev in &events {
            assert_ne!(*ev, NetEvent::Overrun, "unexpected overrun");
            net.apply(ev);
            if want(ev) {
                return ev.clone();
            }
            seen.push(ev.clone());
        }
    }
    panic!("no {what} within 2 s; saw {seen:#?}");
}

#[test]
fn watcher_follows_changes() {
    let ns = match Netns::create("w") {
        Ok(ns) => ns,
        Err(why) => {
            println!("SKIP: {why}");
            return;
        }
    };
    ns.setup();
    let name = ns.name.clone();
    in_netns(&ns, move || {
        let mut w = Watcher::new().expect("watcher");
        let mut net = snapshot(&served()).expect("snapshot");
        let idx = net.link_by_name("lvs0").expect("lvs0").ifindex;
        // Drain whatever the setup left queued (nothing is expected, but be robust).
        let mut scratch = Vec::new();
        w.poll_events(&mut scratch).expect("drain");

        ip_in(&name, "addr add 198.51.100.7/24 dev lvs0");
        wait_for(&mut w, &mut net, "AddrAdded", |e| {
            *e == NetEvent::AddrAdded {
                ifindex: idx,
                addr: ip("198.51.100.7"),
                prefix_len: 24,
            }
        });
        assert!(
            net.link(idx)
                .is_some_and(|l| l.addrs.contains(&(ip("198.51.100.7"), 24)))
        );
        ip_in(&name, "addr del 198.51.100.7/24 dev lvs0");
        wait_for(&mut w, &mut net, "AddrRemoved", |e| {
            *e == NetEvent::AddrRemoved {
                ifindex: idx,
                addr: ip("198.51.100.7"),
                prefix_len: 24,
            }
        });
        assert!(
            net.link(idx)
                .is_some_and(|l| !l.addrs.contains(&(ip("198.51.100.7"), 24)))
        );

        ip_in(&name, "route add 198.51.100.0/24 via 192.0.2.254 metric 7");
        let is_route = |r: &HostRoute| {
            r.dst == ip("198.51.100.0")
                && r.prefix_len == 24
                && r.gateway == Some(ip("192.0.2.254"))
                && r.ifindex == Some(idx)
                && r.metric == 7
        };
        wait_for(
            &mut w,
            &mut net,
            "RouteAdded",
            |e| matches!(e, NetEvent::RouteAdded(r) if is_route(r)),
        );
        assert!(net.routes.iter().any(is_route));
        ip_in(&name, "route del 198.51.100.0/24 via 192.0.2.254 metric 7");
        wait_for(
            &mut w,
            &mut net,
            "RouteRemoved",
            |e| matches!(e, NetEvent::RouteRemoved(r) if is_route(r)),
        );
        assert!(!net.routes.iter().any(is_route));

        ip_in(
            &name,
            "neigh add 192.0.2.12 lladdr 02:00:00:00:01:12 dev lvs0 nud permanent",
        );
        wait_for(&mut w, &mut net, "Neighbor", |e| {
            matches!(e, NetEvent::Neighbor(n) if n.ip == ip("192.0.2.12")
                && n.ifindex == idx
                && n.mac == Some([0x02, 0, 0, 0, 0x01, 0x12])
                && n.state == NeighState::Permanent)
        });
        assert!(net.neighbor(idx, ip("192.0.2.12")).is_some());
        ip_in(&name, "neigh del 192.0.2.12 dev lvs0");
        wait_for(&mut w, &mut net, "NeighborRemoved", |e| {
            *e == NetEvent::NeighborRemoved {
                ifindex: idx,
                ip: ip("192.0.2.12"),
            }
        });
        assert!(net.neighbor(idx, ip("192.0.2.12")).is_none());

        ip_in(&name, "link set lvs0 address 02:00:00:00:00:aa");
        wait_for(
            &mut w,
            &mut net,
            "Link with new MAC",
            |e| matches!(e, NetEvent::Link(l) if l.ifindex == idx && l.mac == [2, 0, 0, 0, 0, 0xaa]),
        );
        assert_eq!(net.link(idx).map(|l| l.mac), Some([2, 0, 0, 0, 0, 0xaa]));
        // The model still matches a fresh dump on what the test touched.
        let fresh = snapshot(&served()).expect("second snapshot");
        assert_eq!(fresh.link(idx).map(|l| l.mac), net.link(idx).map(|l| l.mac));
    });
}
