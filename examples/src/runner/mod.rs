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
//! The statistics text counts what the Director never saw or could not get
//! out, per port: ring drops and freezes the kernel reports
//! ([`FramePort::losses`], polled every second because the kernel's counters
//! reset on read and are 32 bits wide), frames the port skipped, and frames a
//! send did not take. Under a flood these are most of the losses, and a
//! listing that says "dropped 0" while a third of new flows fail sends the
//! operator looking in the wrong place.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lvs_core::ServiceKey;
use lvs_core::config::listing::{ListFormat, ListOptions};
use lvs_core::config::{self, Config};
use lvs_forwarding::{BatchItem, Director, DirectorConfig, DropReason, MacAddr, Offload, Verdict};
use tracing::{info, warn};

mod control;
pub mod health;
#[cfg(test)]
mod keepalived_tests;
mod net;
mod peers;
mod tx;

pub use control::{ControlLink, Relay, Relayed};
pub use net::{HostNetwork, describe};
pub use peers::Peers;
use tx::{SendList, recycle_list, send_list};

use crate::cli::DirectorArgs;
use crate::health::{Health, HealthChecker, StateChange};
use crate::hostnet::{NetPlan, Port};
use crate::io::{FramePort, FrameTx, PortLosses, RxFrame};
use crate::metrics::{self, MetricsSnapshot, PortMetrics};
use crate::rules_file::{check_reload, read_rules_file};
use crate::signals::Signals;
use health::{CheckPlan, Governed, Quorum, addr_health};
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

/// Health checking of every real server, mapped back to services.
struct Checks {
    checker: HealthChecker,
    changes: Receiver<StateChange>,
    plan: CheckPlan,
    /// Per target of the plan, whether its last verdict is down.
    target_down: Vec<bool>,
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

/// Frames handed to the Director at once (and sent, per output port, with one call).
const CHUNK: usize = 64;
/// Room for a frame the Director generates (ARP/ND answer, ICMP error).
const REPLY_LEN: usize = 4096;

/// Reuses the allocation of an (emptied) item vector for another lifetime.
fn recycle_items<'b>(mut v: Vec<BatchItem<'_>>) -> Vec<BatchItem<'b>> {
    v.clear();
    // An empty vector mapped in place: std reuses the allocation (same size and
    // alignment); should it not, this only allocates, it stays correct.
    v.into_iter()
        .map(|_| -> BatchItem<'b> { unreachable!() })
        .collect()
}

/// The longest the loop sleeps when no port has frames (timers, signals and netlink are
/// looked at after every wake-up).
const IDLE_WAIT: Duration = Duration::from_millis(10);

/// How often the ports' loss counters are read (the kernel's reset on read and are 32 bits).
const LOSS_POLL: Duration = Duration::from_secs(1);

/// What one port lost, as the statistics text shows it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct PortAccount {
    name: String,
    losses: PortLosses,
    /// Frames the Director forwarded or generated that the port's send did not take.
    send_failures: u64,
}

/// Called with the VIPs after every rules change (a fanout group re-steers by them).
pub type VipsHook = Box<dyn FnMut(&[std::net::IpAddr]) + Send>;

/// The VIPs of a rules set, sorted, without duplicates.
pub fn vips_of(rules: &Config) -> Vec<std::net::IpAddr> {
    let mut v: Vec<std::net::IpAddr> = rules
        .services
        .iter()
        .filter_map(|s| match s.config.key {
            ServiceKey::Addr { vip, .. } => Some(vip.ip()),
            _ => None,
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

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

    fn publish_metrics(&mut self) {
        let Some(slot) = self.metrics.clone() else {
            return;
        };
        self.last_metrics = std::time::Instant::now();
        let ports: Vec<PortMetrics> = self
            .accounts
            .iter()
            .map(|a| PortMetrics {
                name: a.name.clone(),
                losses: a.losses,
                send_failures: a.send_failures,
            })
            .collect();
        let down = &self.down;
        let health = |a: SocketAddr| {
            addr_health(down, a).map(|up| if up { Health::Up } else { Health::Down })
        };
        let director = &self.director;
        metrics::try_publish(&slot, || {
            MetricsSnapshot::from_director(director, &health, ports)
        });
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

    /// Run the checks of a keepalived.conf (from
    /// [`KeepalivedConfig::to_config`](lvs_core::config::keepalived::KeepalivedConfig::to_config))
    /// instead of the `--check` flags' one check for all; call again after a reload of the file.
    pub fn set_keepalived_checks(&mut self, checks: Vec<ServerCheck>) -> io::Result<()> {
        self.keepalived_checks = Some(checks);
        if let Some(c) = self.checks.take() {
            c.checker.detach();
        }
        self.restart_checks()?;
        self.apply_weights();
        Ok(())
    }

    /// The checks the running rules call for.
    fn check_plan(&self) -> io::Result<Option<CheckPlan>> {
        if let Some(k) = &self.keepalived_checks {
            let mut plan = CheckPlan::from_keepalived(k).map_err(io::Error::other)?;
            // Only real servers the running rules still have (lvsadm may have removed some).
            let live = |(svc, rs): &Governed| {
                self.rules
                    .service(svc)
                    .is_some_and(|e| e.servers.iter().any(|r| r.addr == *rs))
            };
            for g in &mut plan.governs {
                g.retain(live);
            }
            return Ok(Some(plan));
        }
        let Some(cfg) = self.args.health.to_config().map_err(io::Error::other)? else {
            return Ok(None);
        };
        let (plan, unchecked) = CheckPlan::from_flags(&self.rules, &cfg);
        if unchecked > 0 {
            info!(
                services = unchecked,
                "UDP/SCTP services are not checked: a TCP or HTTP check says nothing about them"
            );
        }
        Ok(Some(plan))
    }

    fn restart_checks(&mut self) -> io::Result<()> {
        let Some(plan) = self.check_plan()? else {
            return Ok(());
        };
        if self.checks.as_ref().is_some_and(|c| c.plan == plan) {
            return Ok(());
        }
        if let Some(c) = self.checks.take() {
            c.checker.detach();
        }
        // A target keeps the verdict it had under the old plan; new ones start as planned.
        let target_down: Vec<bool> = plan
            .governs
            .iter()
            .zip(&plan.initial)
            .map(
                |(pairs, init)| match pairs.iter().find_map(|p| self.down.get(p)) {
                    Some(d) => *d,
                    None => *init == Health::Down,
                },
            )
            .collect();
        let initial: Vec<Health> = target_down
            .iter()
            .map(|d| if *d { Health::Down } else { Health::Up })
            .collect();
        let (checker, changes) = HealthChecker::spawn_channel_from(plan.targets.clone(), &initial)?;
        self.down = plan.down_pairs(&target_down);
        self.checks = Some(Checks {
            checker,
            changes,
            plan,
            target_down,
        });
        Ok(())
    }

    /// Weight 0 for servers that are down (or removal, for keepalived real servers without
    /// `inhibit_on_failure`), the configured weight otherwise; then each keepalived
    /// service's quorum: its commands on a change, its sorry server while it is lost.
    fn apply_weights(&mut self) {
        let remove = self.checks.as_ref().map(|c| &c.plan.remove_when_down);
        let balancer = self.director.balancer_mut();
        for s in &self.rules.services {
            let key = s.config.key;
            for r in &s.servers {
                let down = self.down.get(&(key, r.addr)).copied().unwrap_or(false);
                let removable = remove.is_some_and(|m| m.contains(&(key, r.addr)));
                if down && removable {
                    if balancer.remove_real_server(&key, r.addr).is_ok() {
                        info!(server = %r.addr, service = ?key, "real server removed while down");
                    }
                    continue;
                }
                let w = if down { 0 } else { r.weight };
                if let Err(e) = balancer.set_weight(&key, r.addr, w) {
                    // Removed while down: back in with its configured settings.
                    match balancer.add_real_server(&key, *r) {
                        Ok(_) if removable => {
                            info!(server = %r.addr, service = ?key, "real server added back")
                        }
                        Ok(_) => {}
                        Err(_) => warn!("cannot set weight of {} in {:?}: {e}", r.addr, key),
                    }
                }
            }
        }
        for q in &mut self.quorums {
            let key = q.policy.service;
            let Some(entry) = self.rules.service(&key) else {
                continue;
            };
            let alive: u64 = entry
                .servers
                .iter()
                .filter(|r| !self.down.get(&(key, r.addr)).copied().unwrap_or(false))
                .map(|r| u64::from(r.weight))
                .sum();
            if let Some(met) = q.update(alive) {
                let cmd = if met {
                    warn!(service = ?key, alive, quorum = q.policy.quorum, "quorum regained");
                    &q.policy.quorum_up
                } else {
                    warn!(service = ?key, alive, quorum = q.policy.quorum, "quorum lost");
                    &q.policy.quorum_down
                };
                if let Some(c) = cmd {
                    health::run_notify(c);
                }
            }
            let Some(sorry) = q.policy.sorry_server else {
                continue;
            };
            if entry.servers.iter().any(|r| r.addr == sorry.addr) {
                continue;
            }
            if q.met() {
                if balancer.remove_real_server(&key, sorry.addr).is_ok() {
                    info!(server = %sorry.addr, service = ?key, "sorry server removed");
                }
            } else if balancer.add_real_server(&key, sorry).is_ok() {
                info!(server = %sorry.addr, service = ?key, "sorry server added");
            }
        }
    }

    /// Takes the checkers' changes: one log line per change, then the weights.
    fn poll_health(&mut self) {
        let Some(c) = &mut self.checks else { return };
        let mut changed = false;
        while let Ok(ch) = c.changes.try_recv() {
            let services = c.plan.governs.get(ch.index).map_or(0, Vec::len);
            match ch.to {
                Health::Up => {
                    info!(server = %ch.target, from = %ch.from, to = %ch.to, services, reason = %ch.reason, "health change")
                }
                Health::Down => {
                    warn!(server = %ch.target, from = %ch.from, to = %ch.to, services, reason = %ch.reason, "health change")
                }
            }
            if let Some(d) = c.target_down.get_mut(ch.index) {
                *d = ch.to == Health::Down;
            }
            changed = true;
        }
        if changed {
            self.down = c.plan.down_pairs(&c.target_down);
            self.apply_weights();
        }
    }

    /// Health verdicts per (service, real server) under a check (the one source of truth).
    pub fn health_verdicts(&self) -> &BTreeMap<Governed, bool> {
        &self.down
    }

    /// Take the services, real servers and checks from the keepalived.conf at
    /// `path` instead of the rules file and the `--check` flags (`--keepalived-conf`);
    /// [`Runner::reload`] re-reads it from then on. On error nothing changes.
    pub fn use_keepalived_conf(&mut self, path: &std::path::Path) -> io::Result<()> {
        let conv = health::load_keepalived(path)?;
        let sum = self
            .director
            .apply_config(&conv.config)
            .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
        info!(?sum, file = %path.display(), checks = conv.checks.len(), "keepalived.conf loaded");
        self.keepalived_path = Some(path.to_owned());
        self.take_keepalived(conv);
        Ok(())
    }

    /// Run what a keepalived.conf says, its services being applied already.
    fn take_keepalived(&mut self, conv: lvs_core::config::keepalived::Converted) {
        // A quorum keeps its state across a reload when its policy is unchanged.
        let old = std::mem::take(&mut self.quorums);
        self.quorums = conv
            .policies
            .into_iter()
            .map(|p| {
                old.iter()
                    .find(|q| q.policy == p)
                    .cloned()
                    .unwrap_or_else(|| Quorum::new(p))
            })
            .collect();
        self.rules = conv.config;
        self.keepalived_checks = Some(conv.checks);
        self.after_rules_change();
    }

    fn reload_keepalived(&mut self, path: PathBuf) {
        let conv = match health::load_keepalived(&path) {
            Ok(r) => r,
            Err(e) => {
                warn!("reload: {e}; keeping the running rules");
                return;
            }
        };
        if let Err(e) = check_reload(&self.rules, &conv.config, self.args.allow_empty_reload) {
            warn!("reload: {e}; keeping the running rules (--allow-empty-reload permits it)");
            return;
        }
        match self.director.apply_config(&conv.config) {
            Ok(sum) => {
                info!(?sum, file = %path.display(), "keepalived.conf reloaded");
                self.take_keepalived(conv);
            }
            Err(e) => warn!("reload: {e}; keeping the running rules"),
        }
    }

    /// Re-read the rules file, or the keepalived.conf given to
    /// [`Runner::use_keepalived_conf`] (SIGHUP). On error the running rules stay.
    pub fn reload(&mut self) {
        if let Some(p) = self.keepalived_path.clone() {
            return self.reload_keepalived(p);
        }
        let Some(path) = self.rules_path.clone() else {
            return;
        };
        let text = match read_rules_file(&path) {
            Ok(t) => t,
            Err(e) => {
                warn!("reload: {e}; keeping the running rules");
                return;
            }
        };
        let rules = match config::parse(&text) {
            Ok(r) => r,
            Err(e) => {
                warn!("reload: {e}; keeping the running rules");
                return;
            }
        };
        if let Err(e) = check_reload(&self.rules, &rules, self.args.allow_empty_reload) {
            warn!("reload: {e}; keeping the running rules (--allow-empty-reload permits it)");
            return;
        }
        match self.director.apply_config(&rules) {
            Ok(sum) => {
                info!(%sum, "rules reloaded");
                self.rules = rules;
                self.after_rules_change();
            }
            Err(e) => warn!("reload: {e}; keeping the running rules"),
        }
    }

    /// What follows any change of the running rules (reload or `lvsadm`): the fanout program
    /// follows the VIPs, health checks follow the real servers, down servers keep weight 0.
    fn after_rules_change(&mut self) {
        let vips = vips_of(&self.rules);
        if vips != self.vips {
            if let Some(h) = self.on_vips.as_mut() {
                h(&vips);
            }
            self.vips = vips;
        }
        if let Err(e) = self.restart_checks() {
            warn!("health checks: {e}");
        }
        self.apply_weights();
    }

    /// Serves `lvsadm` requests (at most every [`control::POLL_EVERY`]).
    fn poll_control(&mut self, now: lvs_core::Instant) {
        if self.last_control.elapsed() < control::POLL_EVERY {
            return;
        }
        self.last_control = std::time::Instant::now();
        let Some(link) = self.control.as_mut() else {
            return;
        };
        let down = &self.down;
        let health = |a: SocketAddr| addr_health(down, a);
        let (director, rules) = (&mut self.director, &mut self.rules);
        let mut changed = false;
        link.serve(&mut |req| {
            changed |=
                crate::control::parse_command(&req.args, &req.input).is_ok_and(|c| c.is_change());
            crate::control::handle(&req, director, rules, &health, now)
        });
        if changed {
            info!("rules changed by lvsadm");
            self.after_rules_change();
        }
    }

    /// Serve `lvsadm` through `link` (the control socket, or a fanout group's relay).
    pub fn with_control(mut self, link: ControlLink) -> Self {
        self.control = Some(link);
        self
    }

    /// The `ipvsadm -Ln --stats` listing plus the drop counters and, per port, the frames
    /// lost before or after the Director (as of the last time the ports were polled: every
    /// second while [`Runner::run`] runs, and when it returns).
    pub fn stats_text(&self) -> String {
        let mut s = self.director.listing(
            &ListOptions::new(ListFormat::Stats)
                .table_size(self.director.config().conn_capacity_v4 as u32),
        );
        let d = self.director.drops();
        let ring: u64 = self.accounts.iter().map(|a| a.losses.ring_drops).sum();
        let unsent: u64 = self.accounts.iter().map(|a| a.send_failures).sum();
        s.push_str(&format!(
            "frames in {} forwarded {} generated {} to-host {} dropped {} ring drops {ring} send failures {unsent}\n",
            d.frames_in,
            d.forwarded,
            d.generated,
            d.to_host,
            d.total()
        ));
        for (r, n) in d.iter().filter(|(_, n)| *n > 0) {
            s.push_str(&format!("  drop {}: {n}\n", r.name()));
        }
        for a in &self.accounts {
            let l = &a.losses;
            s.push_str(&format!(
                "  port {}: ring drops {} freezes {} skipped {} (bad offload {}) send failures {}\n",
                a.name, l.ring_drops, l.ring_freezes, l.skipped, l.bad_offload, a.send_failures
            ));
        }
        s
    }

    /// Reads every port's loss counters into the statistics.
    fn poll_losses(&mut self, ports: &mut [Box<dyn FramePort>]) {
        self.last_losses = std::time::Instant::now();
        self.ensure_accounts(ports);
        for (a, p) in self.accounts.iter_mut().zip(ports.iter_mut()) {
            a.losses = p.losses();
        }
    }

    /// One account per port, named after it.
    fn ensure_accounts(&mut self, ports: &[Box<dyn FramePort>]) {
        if self.accounts.len() != ports.len() {
            self.accounts.resize_with(ports.len(), PortAccount::default);
        }
        for (a, p) in self.accounts.iter_mut().zip(ports) {
            if a.name != p.name() {
                a.name = p.name().to_string();
            }
        }
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
        Ok(())
    }

    /// Looks at the ports without sleeping for up to the busy-poll budget; true as soon as
    /// one has frames waiting (they are handled on the next pass).
    fn spin(&mut self, ports: &mut [Box<dyn FramePort>]) -> bool {
        if self.busy_poll.is_zero() {
            return false;
        }
        let end = std::time::Instant::now() + self.busy_poll;
        loop {
            if ports.iter().any(|p| p.frames_waiting()) {
                return true;
            }
            if std::time::Instant::now() >= end {
                return false;
            }
            for _ in 0..64 {
                std::hint::spin_loop();
            }
        }
    }

    /// Send what the director wants to send by itself.
    fn drain(&mut self, ports: &mut [Box<dyn FramePort>]) {
        self.ensure_accounts(ports);
        while let Some((link, len)) = self.director.poll_transmit(&mut self.out) {
            if let Some(p) = ports.get_mut(link)
                && let Err(e) = p.send(&self.out[..len])
            {
                if let Some(a) = self.accounts.get_mut(link) {
                    a.send_failures += 1;
                }
                warn!("send on {}: {e}", p.name());
            }
        }
    }

    /// Receives what port `idx` has (waiting up to `timeout`), runs it through the
    /// Director a chunk at a time and sends the results from where they lie, one batch per
    /// output port and chunk, before the port takes the frames back.
    fn receive(
        &mut self,
        ports: &mut [Box<dyn FramePort>],
        idx: usize,
        timeout: Duration,
    ) -> io::Result<usize> {
        self.ensure_accounts(ports);
        if self.sends.len() != ports.len() {
            self.sends.resize_with(ports.len(), Vec::new);
        }
        let (before, rest) = ports.split_at_mut(idx);
        let Some((this, after)) = rest.split_first_mut() else {
            return Ok(0);
        };
        // Ports past the Director's links are extra sockets on those links (a fanout
        // worker's neighbour sockets): port i is link i mod links.
        let in_link = idx % self.director.config().links.len().max(1);
        let director = &mut self.director;
        let replies = &mut self.replies;
        let items_store = &mut self.items;
        let sends_store = &mut self.sends;
        let scratch = &mut self.scratch;
        let accounts = &mut self.accounts;
        let clock = self.clock;
        let mut on_batch = |frames: &mut [RxFrame<'_>], tx: &mut dyn FrameTx| {
            let now = lvs_core::Instant::from_millis(clock.elapsed().as_millis() as u64);
            for chunk in frames.chunks_mut(CHUNK) {
                let mut items = recycle_items(std::mem::take(items_store));
                for (frame, out) in chunk.iter_mut().zip(replies.chunks_mut(REPLY_LEN)) {
                    let offload = frame.meta.offload;
                    let (buf, start) = frame.buffer_mut();
                    let len = buf.len() - start;
                    items.push(BatchItem {
                        link: in_link,
                        buf,
                        start,
                        len,
                        out,
                        offload,
                        verdict: Verdict::Drop(DropReason::Malformed),
                    });
                }
                // The whole chunk at once: the Director parses every frame and prefetches
                // its connection-table slot before processing the first.
                director.process_batch(now, &mut items);
                let mut sends: Vec<SendList<'_>> = std::mem::take(sends_store)
                    .into_iter()
                    .map(recycle_list)
                    .collect();
                for it in items.drain(..) {
                    let (link, bytes, offload) = match it.verdict {
                        Verdict::Forward { link, start, len } => {
                            let buf: &[u8] = it.buf;
                            match start.checked_add(len).and_then(|end| buf.get(start..end)) {
                                Some(b) => (link, b, it.offload),
                                None => continue,
                            }
                        }
                        Verdict::Reply { link, len } => {
                            let out: &[u8] = it.out;
                            match out.get(..len) {
                                Some(b) => (link, b, Offload::NONE),
                                None => continue,
                            }
                        }
                        _ => continue,
                    };
                    if let Some(list) = sends.get_mut(link) {
                        list.push((bytes, offload));
                    }
                }
                for (link, list) in sends.iter_mut().enumerate() {
                    if list.is_empty() {
                        continue;
                    }
                    let port: Option<&mut dyn FrameTx> = if link == idx {
                        Some(&mut *tx)
                    } else if link < idx {
                        before.get_mut(link).map(|p| p.as_mut() as &mut dyn FrameTx)
                    } else {
                        after
                            .get_mut(link - idx - 1)
                            .map(|p| p.as_mut() as &mut dyn FrameTx)
                    };
                    let failed = match port {
                        Some(p) => send_list(p, list, scratch),
                        None => list.len() as u64,
                    };
                    if failed > 0
                        && let Some(a) = accounts.get_mut(link)
                    {
                        a.send_failures += failed;
                    }
                    list.clear();
                }
                *sends_store = sends.into_iter().map(recycle_list).collect();
                *items_store = recycle_items(items);
            }
        };
        this.recv_frames(Some(timeout), &mut on_batch)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{OnFrame, PacketKind, RxMeta};
    use clap::Parser;
    use std::collections::VecDeque;
    use std::net::Ipv4Addr;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        d: DirectorArgs,
    }

    /// A port whose ring "dropped" frames and whose sends all fail (a full device queue).
    struct LossyPort {
        rx: VecDeque<Vec<u8>>,
        buf: Vec<u8>,
        attempts: u64,
    }

    struct FailingTx<'a>(&'a mut u64);

    impl FrameTx for FailingTx<'_> {
        fn send(&mut self, _: &[u8]) -> io::Result<()> {
            *self.0 += 1;
            Err(io::Error::from_raw_os_error(libc::ENOBUFS))
        }
    }

    impl FrameTx for LossyPort {
        fn send(&mut self, frame: &[u8]) -> io::Result<()> {
            FailingTx(&mut self.attempts).send(frame)
        }
    }

    impl FramePort for LossyPort {
        fn name(&self) -> &str {
            "lossy0"
        }

        fn recv_batch(&mut self, _: Option<Duration>, f: &mut OnFrame<'_>) -> io::Result<usize> {
            let mut n = 0;
            while let Some(frame) = self.rx.pop_front() {
                self.buf.clear();
                self.buf.resize(crate::io::DEFAULT_HEADROOM, 0);
                self.buf.extend_from_slice(&frame);
                let meta = RxMeta {
                    timestamp: Duration::ZERO,
                    kind: PacketKind::Broadcast,
                    wire_len: frame.len(),
                    csum_partial: false,
                    offload: Offload::NONE,
                };
                let mut tx = FailingTx(&mut self.attempts);
                f(
                    RxFrame::new(&mut self.buf, crate::io::DEFAULT_HEADROOM, meta),
                    &mut tx,
                );
                n += 1;
            }
            Ok(n)
        }

        fn losses(&mut self) -> PortLosses {
            PortLosses {
                ring_drops: 7,
                ring_freezes: 2,
                skipped: 3,
                bad_offload: 1,
            }
        }
    }

    /// Ring drops reported by a port and a reply its send refused both show in the
    /// statistics text, on the counters line and on the port's own line.
    #[test]
    fn stats_text_shows_port_losses_and_send_failures() {
        let rules =
            std::env::temp_dir().join(format!("lvs-runner-loss-{}.rules", std::process::id()));
        std::fs::write(
            &rules,
            "-A -t 203.0.113.10:80 -s rr\n-a -t 203.0.113.10:80 -r 192.0.2.11:80 -m -w 1\n",
        )
        .unwrap();
        let cli = Cli::try_parse_from([
            "lvs",
            "--rules",
            rules.to_str().unwrap(),
            "--no-netlink",
            "--addr",
            "192.0.2.1/24",
        ])
        .unwrap();
        let port = Port {
            name: "lossy0".into(),
            mac: [2, 0, 0, 0, 0, 1],
            follow_kernel_mac: false,
        };
        let mut runner = Runner::new(&cli.d.with_links(vec!["lossy0".into()]), vec![port]).unwrap();
        std::fs::remove_file(&rules).ok();
        // An ARP request for the director's address: the Director answers it.
        let mut arp = vec![0u8; 64];
        let len = lvs_forwarding::xform::arp_request(
            &mut arp,
            MacAddr([2, 0, 0, 0, 0, 2]),
            Ipv4Addr::new(192, 0, 2, 2),
            Ipv4Addr::new(192, 0, 2, 1),
        )
        .unwrap();
        arp.truncate(len);
        let mut ports: Vec<Box<dyn FramePort>> = vec![Box::new(LossyPort {
            rx: VecDeque::from([arp]),
            buf: Vec::new(),
            attempts: 0,
        })];
        assert_eq!(runner.receive(&mut ports, 0, Duration::ZERO).unwrap(), 1);
        runner.poll_losses(&mut ports);
        let text = runner.stats_text();
        assert!(
            text.contains("generated 1 to-host 0 dropped 0 ring drops 7 send failures 1\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "  port lossy0: ring drops 7 freezes 2 skipped 3 (bad offload 1) send failures 1\n"
            ),
            "{text}"
        );
    }
}
