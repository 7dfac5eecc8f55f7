//! The event loop every live director binary shares.
//!
//! The library is sans-IO; this module is the I/O half. It feeds received
//! frames, a port's batch at a time, and the time to
//! [`Director::process_batch`], sends what the verdicts say from where the
//! frames lie (one batched send per output port, see `tx`),
//! drains [`Director::poll_transmit`], runs [`Director::on_timeout`] when due,
//! turns health-check results into weights (down = 0, up = the configured
//! weight, as keepalived's `inhibit_on_failure`), and reacts to signals:
//! SIGHUP reloads the rules file, SIGUSR1 prints the listing, SIGINT/SIGTERM
//! stop. It also keeps the Director's network current: the host's addresses,
//! routes and neighbours are read over rtnetlink at start ([`crate::hostnet`])
//! and every change the kernel announces is applied while it runs. Frames carry
//! their offload state (partial checksum, GSO) from the port to the Director
//! and back. Keeping all of this in one place means `lvs-afpacket` and
//! `lvs-tap` differ only in how they open their ports.
//!
//! The parts live in their own files: `receive` (frames through the Director and out),
//! `checks` (health verdicts to weights), `rules` (reloads, keepalived.conf, `lvsadm`) and
//! `stats` (the statistics text, per-port losses, metrics). This file holds the state,
//! its construction and the loop that calls them.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lvs_core::ServiceKey;
use lvs_core::config::{self, Config};
use lvs_forwarding::{BatchItem, Director, DirectorConfig, MacAddr};
use tracing::{info, warn};

mod checks;
mod control;
pub mod health;
#[cfg(test)]
mod keepalived_tests;
mod net;
mod peers;
mod receive;
mod rules;
mod stats;
mod tx;

pub use control::{ControlLink, Relay, Relayed};
pub use net::{HostNetwork, describe};
pub use peers::Peers;
pub use rules::vips_of;

use checks::Checks;
use receive::{CHUNK, REPLY_LEN};
use stats::{LOSS_POLL, PortAccount};
use tx::SendList;

use crate::cli::DirectorArgs;
use crate::hostnet::{NetPlan, Port};
use crate::io::FramePort;
use crate::metrics::{self, MetricsSnapshot};
use crate::rules_file::read_rules_file;
use crate::signals::Signals;
use health::{Governed, Quorum};
use lvs_core::config::keepalived::ServerCheck;

/// Build the library's configuration from the network plan, with the default table sizes
/// ([`Runner::new`] applies `--conn-table-v4`/`--conn-table-v6`).
pub fn director_config(plan: &NetPlan) -> DirectorConfig {
    let mut cfg =
        DirectorConfig::single_link(plan.links.first().map_or(MacAddr([0; 6]), |l| l.mac), &[]);
    cfg.links = plan.links.clone();
    cfg.routes = plan.routes.clone();
    cfg.neighbors = plan
        .neighbors
        .iter()
        .filter(|n| n.permanent)
        .map(|n| (n.ip, n.mac))
        .collect();
    cfg.conn_capacity_v4 = crate::memory::DEFAULT_CONN_TABLE_V4;
    cfg.conn_capacity_v6 = crate::memory::DEFAULT_CONN_TABLE_V6;
    cfg.seed = seed();
    cfg
}

/// A seed for the keyed hashes that an attacker cannot guess: from the
/// kernel's random source, falling back to the clock.
fn seed() -> u64 {
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok()
    {
        return u64::from_le_bytes(b);
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x5eed)
}

/// The live director with its rules file and health checks.
pub struct Runner {
    /// The sans-IO director.
    pub director: Director,
    rules_path: Option<PathBuf>,
    rules: Config,
    args: DirectorArgs,
    checks: Option<Checks>,
    /// Checks from a keepalived.conf; `None`: the `--check` flags.
    keepalived_checks: Option<Vec<ServerCheck>>,
    /// The keepalived.conf the rules come from (`--keepalived-conf`), re-read on SIGHUP.
    keepalived_path: Option<PathBuf>,
    /// Per service of a keepalived.conf, its quorum and sorry server.
    quorums: Vec<Quorum>,
    /// Health verdict per (service, real server) under a check: the one
    /// source for weights, metrics and `lvsadm`.
    down: BTreeMap<Governed, bool>,
    out: Vec<u8>,
    /// One reply buffer per frame of a chunk, [`REPLY_LEN`] bytes each.
    replies: Vec<u8>,
    /// The chunk being processed; empty between chunks, kept for its allocation.
    items: Vec<BatchItem<'static>>,
    /// Per output port, the frames of the chunk to send; empty between chunks.
    sends: Vec<SendList<'static>>,
    /// Scratch for frames segmented in user space (allocated on first use).
    scratch: Vec<u8>,
    clock: std::time::Instant,
    last_stats: std::time::Instant,
    net: HostNetwork,
    peers: Option<Peers>,
    vips: Vec<std::net::IpAddr>,
    on_vips: Option<VipsHook>,
    accounts: Vec<PortAccount>,
    last_losses: std::time::Instant,
    metrics: Option<Arc<Mutex<MetricsSnapshot>>>,
    last_metrics: std::time::Instant,
    control: Option<ControlLink>,
    last_control: std::time::Instant,
    /// Spin this long for frames before sleeping in `poll` (`--busy-poll-us`).
    busy_poll: Duration,
}

/// The longest the loop sleeps when no port has frames (timers, signals and netlink are
/// looked at after every wake-up).
const IDLE_WAIT: Duration = Duration::from_millis(10);

/// Called with the VIPs after every rules change (a fanout group re-steers by them).
pub type VipsHook = Box<dyn FnMut(&[std::net::IpAddr]) + Send>;

impl Runner {
    /// Load the rules file, learn the host's network for `ports` (unless `--no-netlink`)
    /// and build the director.
    pub fn new(args: &DirectorArgs, ports: Vec<Port>) -> io::Result<Self> {
        // With --keepalived-conf the services come from that file, applied below.
        let rules = match &args.rules {
            Some(path) => {
                let text = read_rules_file(path).map_err(io::Error::other)?;
                config::parse(&text).map_err(|e| io::Error::other(e.to_string()))?
            }
            None => Config::default(),
        };
        let net = HostNetwork::open(ports, args)?;
        let plan = net.plan()?;
        warn_about_host(&plan, &rules);
        info!(links = %describe(&plan), routes = plan.routes.len(), neighbors = plan.neighbors.len(), "network");
        let mut cfg = director_config(&plan);
        cfg.conn_capacity_v4 = args.conn_table_v4 as usize;
        cfg.conn_capacity_v6 = args.conn_table_v6 as usize;
        let mut director = Director::new(cfg);
        HostNetwork::seed_neighbors(&plan, &mut director, lvs_core::Instant::ZERO);
        director
            .apply_config(&rules)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let vips = vips_of(&rules);
        let mut r = Runner {
            director,
            rules_path: args.rules.clone(),
            rules,
            args: args.clone(),
            checks: None,
            keepalived_checks: None,
            keepalived_path: None,
            quorums: Vec::new(),
            down: BTreeMap::new(),
            out: vec![0; REPLY_LEN],
            replies: vec![0; CHUNK * REPLY_LEN],
            items: Vec::with_capacity(CHUNK),
            sends: Vec::new(),
            scratch: Vec::new(),
            clock: std::time::Instant::now(),
            last_stats: std::time::Instant::now(),
            net,
            peers: None,
            vips,
            on_vips: None,
            accounts: Vec::new(),
            metrics: None,
            last_metrics: std::time::Instant::now(),
            control: None,
            last_control: std::time::Instant::now(),
            last_losses: std::time::Instant::now(),
            busy_poll: Duration::ZERO,
        };
        r.set_conn_expiry(args.expire_nodest_conn, args.expire_quiescent_template);
        match &args.keepalived_conf {
            Some(path) => r.use_keepalived_conf(path)?,
            None => r.restart_checks()?,
        }
        Ok(r)
    }

    /// Publish a metrics snapshot into `slot` every [`metrics::PUBLISH_INTERVAL`] (the slot a
    /// [`MetricsServer`](crate::metrics::MetricsServer) serves, or one worker's share of it).
    pub fn with_metrics(mut self, slot: Arc<Mutex<MetricsSnapshot>>) -> Self {
        self.metrics = Some(slot);
        self
    }

    /// Share neighbours learned from the wire with the other workers of a fanout group.
    pub fn with_peers(mut self, peers: Peers) -> Self {
        self.peers = Some(peers);
        self
    }

    /// When a pass over the ports found frames and the next finds none, look again for up
    /// to `budget` (spinning, no system call) before sleeping in `poll`: a frame that
    /// arrives meanwhile is handled without a wake-up. Zero (the default) sleeps at once.
    pub fn with_busy_poll(mut self, budget: Duration) -> Self {
        self.busy_poll = budget;
        self
    }

    /// Call `hook` with the VIPs after every rules change that changes them.
    pub fn with_vips_hook(mut self, hook: VipsHook) -> Self {
        self.on_vips = Some(hook);
        self
    }

    /// The VIPs of the running rules.
    pub fn vips(&self) -> &[std::net::IpAddr] {
        &self.vips
    }

    /// The director's clock: milliseconds since start.
    pub fn now(&self) -> lvs_core::Instant {
        lvs_core::Instant::from_millis(self.clock.elapsed().as_millis() as u64)
    }

    /// What happens to the connections of a real server that is removed or down: with
    /// `expire_nodest_conn` a packet of a connection whose server is gone expires it and is
    /// scheduled anew (a SYN to a weight-0 server too), without it such packets are dropped;
    /// with `expire_quiescent_template` a persistence template pointing at a weight-0
    /// server is not used. Both off by default, as in IPVS (sysctls `net.ipv4.vs.*`).
    pub fn set_conn_expiry(&mut self, expire_nodest_conn: bool, expire_quiescent_template: bool) {
        let s = self.director.balancer_mut().settings_mut();
        s.expire_nodest_conn = expire_nodest_conn;
        s.expire_quiescent_template = expire_quiescent_template;
    }

    /// Serve `lvsadm` through `link` (the control socket, or a fanout group's relay).
    pub fn with_control(mut self, link: ControlLink) -> Self {
        self.control = Some(link);
        self
    }

    /// The service keys of the current rules (for tests and logs).
    pub fn service_keys(&self) -> Vec<ServiceKey> {
        self.rules.services.iter().map(|s| s.config.key).collect()
    }

    /// Run until SIGINT/SIGTERM.
    ///
    /// Every pass looks at each port without waiting and handles what is there; only when
    /// no port had anything does the loop sleep, on all ports' descriptors at once
    /// ([`crate::io::wait_any`]), so a frame on one port never waits for another port's
    /// timeout. Ports without a descriptor are instead waited on in turn, briefly each.
    pub fn run(&mut self, ports: &mut [Box<dyn FramePort>], signals: &Signals) -> io::Result<()> {
        let fds: Option<Vec<std::os::fd::RawFd>> = ports.iter().map(|p| p.poll_fd()).collect();
        let per_port = match fds {
            Some(_) => Duration::ZERO,
            None => Duration::from_millis((10 / ports.len().max(1)).max(1) as u64),
        };
        let mut found_last = false;
        self.poll_losses(ports);
        while !signals.should_stop() {
            let now = self.now();
            if self.director.next_timeout().is_some_and(|t| t <= now) {
                self.director.on_timeout(now);
            }
            self.drain(ports);
            let mut found = 0;
            for idx in 0..ports.len() {
                found += self.receive(ports, idx, per_port)?;
            }
            if found == 0
                && let Some(fds) = &fds
                && !(found_last && self.spin(ports))
            {
                crate::io::wait_any(fds, IDLE_WAIT)?;
            }
            found_last = found > 0;
            self.drain(ports);
            self.poll_health();
            self.poll_control(now);
            self.net.poll(&mut self.director, now);
            if let Some(p) = &self.peers {
                p.exchange(&mut self.director, now);
            }
            if signals.take_reload() {
                self.reload();
            }
            if self.last_losses.elapsed() >= LOSS_POLL {
                self.poll_losses(ports);
            }
            if self.metrics.is_some() && self.last_metrics.elapsed() >= metrics::PUBLISH_INTERVAL {
                self.publish_metrics();
            }
            if signals.take_stats() {
                self.poll_losses(ports);
                print!("{}", self.stats_text());
            }
            let every = self.args.stats_interval_secs;
            if every > 0 && self.last_stats.elapsed() >= Duration::from_secs(every) {
                self.last_stats = std::time::Instant::now();
                self.poll_losses(ports);
                print!("{}", self.stats_text());
            }
        }
        self.poll_losses(ports);
        if let Some(c) = self.checks.take() {
            c.checker.detach();
        }
        self.omega_at_shutdown();
        Ok(())
    }
}

/// Warns about host settings that make the kernel fight the director: IP forwarding on
/// (the kernel would forward VIP traffic too) and VIPs without a blackhole route (the
/// kernel answers IPv6 VIP traffic with "no route"). Best effort: reads /proc only.
fn warn_about_host(plan: &NetPlan, rules: &Config) {
    let on = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim() == "1")
            .unwrap_or(false)
    };
    if on("/proc/sys/net/ipv4/ip_forward") || on("/proc/sys/net/ipv6/conf/all/forwarding") {
        warn!(
            "IP forwarding is on in this host or namespace: the kernel will forward VIP \
             traffic too; switch it off (see the README)"
        );
    }
    for vip in vips_of(rules) {
        if plan.lacks_family_of(&vip) {
            warn!(%vip, "no address of this VIP's family on any served link: neighbours and tunnels of that family cannot be reached");
        }
    }
}
