//! Following the host's network while the director runs.
//!
//! Why: addresses, routes and neighbours change under a running director (an operator adds
//! an address, a router moves, a real server's NIC is swapped). The kernel announces every
//! change over rtnetlink; [`HostNetwork`] keeps the kernel's view of the served interfaces
//! current and re-applies the network plan ([`crate::hostnet::plan`]) to the Director after
//! each batch of changes, without touching connections. Neighbour changes go straight to the
//! Director's cache. With `--no-netlink` the plan comes from the flags alone and nothing is
//! followed.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};

use lvs_core::Instant;
use lvs_forwarding::{Director, MacAddr};
use tracing::{debug, info, warn};

use crate::cli::DirectorArgs;
use crate::hostnet::{self, NetPlan, Port, usable};
use crate::netlink::{self, HostNet, NetEvent, Watcher};

/// The kernel's view of the served interfaces and the subscription that keeps it current.
pub struct HostNetwork {
    ports: Vec<Port>,
    args: DirectorArgs,
    watcher: Option<Watcher>,
    host: Option<HostNet>,
    events: Vec<NetEvent>,
    last_poll: std::time::Instant,
}

/// How often the event loop reads the kernel's announcements: a system call per receive
/// batch would cost more than the events are worth, and 20 ms is far below how fast an
/// operator or a routing daemon changes anything.
const POLL_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

impl std::fmt::Debug for HostNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostNetwork")
            .field("ports", &self.ports)
            .field("learning", &self.watcher.is_some())
            .finish_non_exhaustive()
    }
}

impl HostNetwork {
    /// Subscribes to the kernel's changes, then reads its current view (in this order, so
    /// that nothing changing in between is lost), unless `--no-netlink`.
    pub fn open(ports: Vec<Port>, args: &DirectorArgs) -> io::Result<Self> {
        let (watcher, host) = if args.no_netlink {
            (None, None)
        } else {
            let w = Watcher::new().map_err(|e| ctx(e, "rtnetlink subscription"))?;
            let names: Vec<String> = ports.iter().map(|p| p.name.clone()).collect();
            let h = netlink::snapshot(&names).map_err(|e| ctx(e, "rtnetlink dump"))?;
            (Some(w), Some(h))
        };
        Ok(HostNetwork {
            ports,
            args: args.clone(),
            watcher,
            host,
            events: Vec::new(),
            last_poll: std::time::Instant::now(),
        })
    }

    /// The Director's network as of now.
    pub fn plan(&self) -> io::Result<NetPlan> {
        hostnet::plan(&self.ports, self.host.as_ref(), &self.args).map_err(io::Error::other)
    }

    /// The subscription's descriptor, for the event loop to poll (None with `--no-netlink`).
    pub fn fd(&self) -> Option<RawFd> {
        self.watcher.as_ref().map(|w| w.as_raw_fd())
    }

    /// Gives the Director the neighbours of the plan that are not permanent (those are in
    /// its configuration already).
    pub fn seed_neighbors(plan: &NetPlan, director: &mut Director, now: Instant) {
        for n in plan.neighbors.iter().filter(|n| !n.permanent) {
            director.set_neighbor(n.ip, n.mac, now, false);
        }
    }

    fn flag_neighbor(&self, ip: &IpAddr) -> bool {
        self.args.neighbors.iter().any(|n| n.ip == *ip)
    }

    fn served(&self, ifindex: u32) -> bool {
        self.host
            .as_ref()
            .is_some_and(|h| h.links.iter().any(|l| l.ifindex == ifindex))
    }

    /// Applies what the kernel announced since the last call. Returns whether the links or
    /// routes changed.
    pub fn poll(&mut self, director: &mut Director, now: Instant) -> bool {
        let Some(w) = self.watcher.as_mut() else {
            return false;
        };
        if self.last_poll.elapsed() < POLL_EVERY {
            return false;
        }
        self.last_poll = std::time::Instant::now();
        self.events.clear();
        if let Err(e) = w.poll_events(&mut self.events) {
            warn!("rtnetlink: {e}");
            return false;
        }
        if self.events.is_empty() {
            return false;
        }
        let mut dirty = false;
        let mut resync = false;
        let events = std::mem::take(&mut self.events);
        for ev in &events {
            match ev {
                NetEvent::Overrun => resync = true,
                NetEvent::Neighbor(n) if self.served(n.ifindex) && !self.flag_neighbor(&n.ip) => {
                    match (n.mac, usable(n.state)) {
                        (Some(mac), Some(permanent)) if mac != [0; 6] && mac[0] & 1 == 0 => {
                            debug!(ip = %n.ip, state = ?n.state, "neighbour from the kernel");
                            director.set_neighbor(n.ip, MacAddr(mac), now, permanent);
                        }
                        _ => {}
                    }
                }
                NetEvent::NeighborRemoved { ifindex, ip }
                    if self.served(*ifindex) && !self.flag_neighbor(ip) =>
                {
                    director.remove_neighbor(*ip);
                }
                _ => {}
            }
            if let Some(h) = self.host.as_mut() {
                dirty |= h.apply(ev)
                    && !matches!(ev, NetEvent::Neighbor(_) | NetEvent::NeighborRemoved { .. });
            }
        }
        self.events = events;
        if resync {
            warn!("rtnetlink: events were lost; reading the host's network again");
            let names: Vec<String> = self.ports.iter().map(|p| p.name.clone()).collect();
            match netlink::snapshot(&names) {
                Ok(h) => {
                    self.host = Some(h);
                    dirty = true;
                }
                Err(e) => warn!("rtnetlink dump: {e}"),
            }
        }
        if !dirty {
            return false;
        }
        match self.plan() {
            Ok(plan) => match director.set_network(plan.links.clone(), plan.routes.clone()) {
                Ok(()) => {
                    if resync {
                        Self::seed_neighbors(&plan, director, now);
                    }
                    info!(
                        links = %describe(&plan),
                        routes = plan.routes.len(),
                        "host network changed"
                    );
                    true
                }
                Err(e) => {
                    warn!("host network changed but cannot be applied: {e}");
                    false
                }
            },
            Err(e) => {
                warn!("host network changed but cannot be applied: {e}");
                false
            }
        }
    }
}

/// One line naming each link's addresses, for logs.
pub fn describe(plan: &NetPlan) -> String {
    plan.links
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let a: Vec<String> = l.addrs.iter().map(|c| c.to_string()).collect();
            format!("link{i}[{}]", a.join(" "))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn ctx(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}
