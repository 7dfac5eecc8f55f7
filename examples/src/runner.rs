//! The event loop every live director binary shares.
//!
//! The library is sans-IO; this module is the I/O half. It feeds received
//! frames and the time to [`Director::process`], sends what the verdicts say,
//! drains [`Director::poll_transmit`], runs [`Director::on_timeout`] when due,
//! turns health-check results into weights (down = 0, up = the configured
//! weight, as keepalived's `inhibit_on_failure`), and reacts to signals:
//! SIGHUP reloads the rules file, SIGUSR1 prints the listing, SIGINT/SIGTERM
//! stop. Keeping all of this in one place means `lvs-afpacket` and `lvs-tap`
//! differ only in how they open their ports.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use lvs_core::ServiceKey;
use lvs_core::config::listing::{ListFormat, ListOptions};
use lvs_core::config::{self, Config};
use lvs_forwarding::{Director, DirectorConfig, IpCidr, Link, MacAddr, Verdict};
use tracing::{info, warn};

use crate::cli::DirectorArgs;
use crate::health::{Health, HealthChecker, StateChange, probe_for};
use crate::io::{FramePort, FrameTx, RxFrame};
use crate::signals::Signals;

/// Build the library's configuration from the shared flags: one link per
/// port, each with the port's MAC and all `--addr` prefixes.
pub fn director_config(args: &DirectorArgs, macs: &[[u8; 6]]) -> DirectorConfig {
    let addrs: Vec<IpCidr> = args
        .addrs
        .iter()
        .map(|c| IpCidr::new(c.addr, c.prefix_len))
        .collect();
    let mut cfg =
        DirectorConfig::single_link(MacAddr(macs.first().copied().unwrap_or([0; 6])), &addrs);
    cfg.links = macs
        .iter()
        .map(|m| Link {
            mac: MacAddr(*m),
            addrs: addrs.clone(),
            mtu: 1500,
        })
        .collect();
    match args.gateway {
        Some(std::net::IpAddr::V4(g)) => cfg.gateway_v4 = Some(g),
        Some(std::net::IpAddr::V6(g)) => cfg.gateway_v6 = Some(g),
        None => {}
    }
    cfg.neighbors = args
        .neighbors
        .iter()
        .map(|n| (n.ip, MacAddr(n.mac.0)))
        .collect();
    cfg.conn_capacity_v4 = 1 << 20;
    cfg.conn_capacity_v6 = 1 << 18;
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

/// Frames to send on the port being read, collected over one receive batch
/// and sent with one `send_batch` (`sendmmsg` on AF_PACKET) instead of one
/// system call per frame. Buffers are allocated once.
struct TxPool {
    bufs: Vec<Vec<u8>>,
    lens: Vec<usize>,
    n: usize,
}

/// Frames per batched send.
const TX_POOL: usize = 64;
/// Largest frame the pool holds; bigger ones are sent directly.
const TX_FRAME: usize = 2048;

impl TxPool {
    fn new() -> Self {
        TxPool {
            bufs: (0..TX_POOL).map(|_| vec![0; TX_FRAME]).collect(),
            lens: vec![0; TX_POOL],
            n: 0,
        }
    }

    /// Queue `frame`, flushing first through `tx` when full. Frames too big
    /// for a slot go out at once (after what is queued, to keep the order).
    fn push(&mut self, frame: &[u8], tx: &mut dyn FrameTx) -> io::Result<()> {
        if frame.len() > TX_FRAME {
            self.flush(tx)?;
            return tx.send(frame);
        }
        if self.n == TX_POOL {
            self.flush(tx)?;
        }
        self.bufs[self.n][..frame.len()].copy_from_slice(frame);
        self.lens[self.n] = frame.len();
        self.n += 1;
        Ok(())
    }

    fn flush(&mut self, tx: &mut dyn FrameTx) -> io::Result<()> {
        if self.n == 0 {
            return Ok(());
        }
        let frames: Vec<&[u8]> = self.bufs[..self.n]
            .iter()
            .zip(&self.lens)
            .map(|(b, &l)| &b[..l])
            .collect();
        self.n = 0;
        let sent = tx.send_batch(&frames)?;
        if sent < frames.len() {
            warn!("sent {sent} of {} frames", frames.len());
        }
        Ok(())
    }
}

/// Health checking of every real server, mapped back to services.
struct Checks {
    checker: HealthChecker,
    changes: Receiver<StateChange>,
    targets: Vec<SocketAddr>,
}

/// The live director with its rules file and health checks.
pub struct Runner {
    /// The sans-IO director.
    pub director: Director,
    rules_path: PathBuf,
    rules: Config,
    args: DirectorArgs,
    checks: Option<Checks>,
    down: BTreeMap<SocketAddr, bool>,
    out: Vec<u8>,
    pool: TxPool,
    clock: std::time::Instant,
    last_stats: std::time::Instant,
}

impl Runner {
    /// Load the rules file and build the director.
    pub fn new(args: &DirectorArgs, macs: &[[u8; 6]]) -> io::Result<Self> {
        let text = std::fs::read_to_string(&args.rules)?;
        let rules = config::parse(&text).map_err(|e| io::Error::other(e.to_string()))?;
        let mut director = Director::new(director_config(args, macs));
        director
            .apply_config(&rules)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let mut r = Runner {
            director,
            rules_path: args.rules.clone(),
            rules,
            args: args.clone(),
            checks: None,
            down: BTreeMap::new(),
            out: vec![0; 4096],
            pool: TxPool::new(),
            clock: std::time::Instant::now(),
            last_stats: std::time::Instant::now(),
        };
        r.restart_checks()?;
        Ok(r)
    }

    /// The director's clock: milliseconds since start.
    pub fn now(&self) -> lvs_core::Instant {
        lvs_core::Instant::from_millis(self.clock.elapsed().as_millis() as u64)
    }

    fn targets(&self) -> Vec<SocketAddr> {
        let mut t: Vec<SocketAddr> = self
            .rules
            .services
            .iter()
            .flat_map(|s| s.servers.iter().map(|r| r.addr))
            .collect();
        t.sort();
        t.dedup();
        t
    }

    fn restart_checks(&mut self) -> io::Result<()> {
        let Some(cfg) = self.args.health.to_config() else {
            return Ok(());
        };
        let targets = self.targets();
        if self.checks.as_ref().is_some_and(|c| c.targets == targets) {
            return Ok(());
        }
        if let Some(c) = self.checks.take() {
            c.checker.stop();
        }
        self.down.retain(|a, _| targets.contains(a));
        let (checker, changes) =
            HealthChecker::spawn_channel(targets.clone(), &cfg, Health::Up, probe_for(&cfg.kind))?;
        self.checks = Some(Checks {
            checker,
            changes,
            targets,
        });
        Ok(())
    }

    /// Weight 0 for servers that are down, the configured weight otherwise.
    fn apply_weights(&mut self) {
        for s in &self.rules.services {
            for r in &s.servers {
                let down = self.down.get(&r.addr).copied().unwrap_or(false);
                let w = if down { 0 } else { r.weight };
                if let Err(e) = self
                    .director
                    .balancer_mut()
                    .set_weight(&s.config.key, r.addr, w)
                {
                    warn!("cannot set weight of {} in {:?}: {e}", r.addr, s.config.key);
                }
            }
        }
    }

    fn poll_health(&mut self) {
        let Some(c) = &self.checks else { return };
        let mut changed = false;
        while let Ok(ch) = c.changes.try_recv() {
            info!(server = %ch.target, from = %ch.from, to = %ch.to, reason = %ch.reason, "health change");
            self.down.insert(ch.target, ch.to == Health::Down);
            changed = true;
        }
        if changed {
            self.apply_weights();
        }
    }

    /// Re-read the rules file (SIGHUP). On error the running rules stay.
    pub fn reload(&mut self) {
        let text = match std::fs::read_to_string(&self.rules_path) {
            Ok(t) => t,
            Err(e) => {
                warn!("reload: cannot read {}: {e}", self.rules_path.display());
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
        match self.director.apply_config(&rules) {
            Ok(sum) => {
                info!(?sum, "rules reloaded");
                self.rules = rules;
                if let Err(e) = self.restart_checks() {
                    warn!("reload: health checks: {e}");
                }
                self.apply_weights();
            }
            Err(e) => warn!("reload: {e}; keeping the running rules"),
        }
    }

    /// The `ipvsadm -Ln --stats` listing plus the drop counters.
    pub fn stats_text(&self) -> String {
        let mut s = self.director.listing(
            &ListOptions::new(ListFormat::Stats)
                .table_size(self.director.config().conn_capacity_v4 as u32),
        );
        let d = self.director.drops();
        s.push_str(&format!(
            "frames in {} forwarded {} generated {} to-host {} dropped {}\n",
            d.frames_in,
            d.forwarded,
            d.generated,
            d.to_host,
            d.total()
        ));
        for (r, n) in d.iter().filter(|(_, n)| *n > 0) {
            s.push_str(&format!("  drop {}: {n}\n", r.name()));
        }
        s
    }

    /// The service keys of the current rules (for tests and logs).
    pub fn service_keys(&self) -> Vec<ServiceKey> {
        self.rules.services.iter().map(|s| s.config.key).collect()
    }

    /// Run until SIGINT/SIGTERM.
    pub fn run(&mut self, ports: &mut [Box<dyn FramePort>], signals: &Signals) -> io::Result<()> {
        let per_port = Duration::from_millis((10 / ports.len().max(1)).max(1) as u64);
        while !signals.should_stop() {
            let now = self.now();
            if self.director.next_timeout().is_some_and(|t| t <= now) {
                self.director.on_timeout(now);
            }
            self.drain(ports);
            for idx in 0..ports.len() {
                self.receive(ports, idx, per_port)?;
            }
            self.drain(ports);
            self.poll_health();
            if signals.take_reload() {
                self.reload();
            }
            if signals.take_stats() {
                print!("{}", self.stats_text());
            }
            let every = self.args.stats_interval_secs;
            if every > 0 && self.last_stats.elapsed() >= Duration::from_secs(every) {
                self.last_stats = std::time::Instant::now();
                print!("{}", self.stats_text());
            }
        }
        if let Some(c) = self.checks.take() {
            c.checker.stop();
        }
        Ok(())
    }

    /// Send what the director wants to send by itself.
    fn drain(&mut self, ports: &mut [Box<dyn FramePort>]) {
        while let Some((link, len)) = self.director.poll_transmit(&mut self.out) {
            if let Some(p) = ports.get_mut(link)
                && let Err(e) = p.send(&self.out[..len])
            {
                warn!("send on {}: {e}", p.name());
            }
        }
    }

    fn receive(
        &mut self,
        ports: &mut [Box<dyn FramePort>],
        idx: usize,
        timeout: Duration,
    ) -> io::Result<usize> {
        let (before, rest) = ports.split_at_mut(idx);
        let Some((this, after)) = rest.split_first_mut() else {
            return Ok(0);
        };
        let director = &mut self.director;
        let out = &mut self.out;
        let pool = &mut self.pool;
        let clock = self.clock;
        let mut on_frame = |mut frame: RxFrame<'_>, tx: &mut dyn FrameTx| {
            let now = lvs_core::Instant::from_millis(clock.elapsed().as_millis() as u64);
            let (buf, start) = frame.buffer_mut();
            let len = buf.len() - start;
            let v = director.process(now, idx, buf, start, len, out);
            let (link, bytes): (usize, &[u8]) = match v {
                Verdict::Forward { link, start, len } => match buf.get(start..start + len) {
                    Some(b) => (link, b),
                    None => return,
                },
                Verdict::Reply { link, len } => match out.get(..len) {
                    Some(b) => (link, b),
                    None => return,
                },
                _ => return,
            };
            let res = if link == idx {
                pool.push(bytes, tx)
            } else if link < idx {
                before.get_mut(link).map_or(Ok(()), |p| p.send(bytes))
            } else {
                after
                    .get_mut(link - idx - 1)
                    .map_or(Ok(()), |p| p.send(bytes))
            };
            if let Err(e) = res {
                warn!("send: {e}");
            }
        };
        let n = this.recv_batch(Some(timeout), &mut on_frame)?;
        if let Err(e) = self.pool.flush(this.as_mut()) {
            warn!("send: {e}");
        }
        Ok(n)
    }
}
