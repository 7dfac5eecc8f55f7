//! Which checks run for the running rules, and which real servers each governs.
//!
//! A check runs only where it fits the service: `--check tcp|http` probes the
//! real servers of TCP services (and of fwmark services on their own non-zero
//! port), never UDP or SCTP ones, which a TCP connect says nothing about. A
//! keepalived.conf gives each real server its own checks (a MISC_CHECK suits
//! any protocol). One target is probed once however many services share it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use lvs_core::addr::Protocol;
use lvs_core::config::Config;
use lvs_core::config::keepalived::{CheckSpec, Converted, ServerCheck, ServicePolicy};
use lvs_core::service::ServiceKey;

use crate::health::{CheckConfig, CheckKind, CheckTarget, Health};

/// A real server in one service: the unit a health verdict applies to.
pub type Governed = (ServiceKey, SocketAddr);

/// The checks to run: targets, and per target the real servers it governs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckPlan {
    /// What to probe.
    pub targets: Vec<CheckTarget>,
    /// Per target, the (service, real server) pairs its verdict applies to.
    pub governs: Vec<Vec<Governed>>,
    /// Per target, the state it starts in (down under keepalived's `alpha`).
    pub initial: Vec<Health>,
    /// Real servers removed from their service while down (keepalived without
    /// `inhibit_on_failure`); the others get weight 0 and keep their connections.
    pub remove_when_down: BTreeSet<Governed>,
}

impl CheckPlan {
    fn add(&mut self, target: CheckTarget, pair: Governed, initial: Health) {
        match self.targets.iter().position(|t| *t == target) {
            Some(i) => {
                if !self.governs[i].contains(&pair) {
                    self.governs[i].push(pair);
                }
            }
            None => {
                self.targets.push(target);
                self.governs.push(vec![pair]);
                self.initial.push(initial);
            }
        }
    }

    /// The plan of `--check tcp|http` (`cfg`) for `rules`: TCP services' real
    /// servers, and fwmark services' real servers with a port; UDP and SCTP
    /// services are not checked. Returns the plan and how many services were
    /// left unchecked for their protocol.
    pub fn from_flags(rules: &Config, cfg: &CheckConfig) -> (CheckPlan, usize) {
        let mut plan = CheckPlan::default();
        let mut unchecked = 0;
        let misc = matches!(cfg.kind, CheckKind::Misc { .. });
        for s in &rules.services {
            let fits = match s.config.key {
                ServiceKey::Addr { protocol, .. } => misc || protocol == Protocol::Tcp,
                ServiceKey::Fwmark { .. } => true,
            };
            if !fits {
                unchecked += 1;
                continue;
            }
            for r in &s.servers {
                if r.addr.port() == 0 && !misc {
                    continue;
                }
                let t = CheckTarget::new(r.addr, cfg.clone());
                plan.add(t, (s.config.key, r.addr), Health::Up);
            }
        }
        (plan, unchecked)
    }

    /// The plan of a keepalived.conf's checks (from
    /// [`KeepalivedConfig::to_config`](lvs_core::config::keepalived::KeepalivedConfig::to_config)).
    /// keepalived takes a server up on its first good check (rise 1). An HTTP
    /// check whose path or digest the prober refuses is an error naming the line.
    pub fn from_keepalived(checks: &[ServerCheck]) -> Result<CheckPlan, String> {
        let mut plan = CheckPlan::default();
        for c in checks {
            let kind = match &c.spec {
                CheckSpec::Tcp => CheckKind::Tcp,
                CheckSpec::Http {
                    path,
                    status,
                    digest,
                } => {
                    let kind = CheckKind::http(path, None, *status).and_then(|k| match digest {
                        Some(d) => k.with_digest(d),
                        None => Ok(k),
                    });
                    match kind {
                        Ok(k) => k,
                        Err(e) => return Err(format!("line {}: {e}", c.line)),
                    }
                }
                CheckSpec::Misc { command } => CheckKind::Misc {
                    argv: command.split_whitespace().map(str::to_owned).collect(),
                },
                _ => continue,
            };
            let config = CheckConfig {
                kind,
                interval: Duration::from_secs(u64::from(c.interval_secs)),
                timeout: Duration::from_secs(u64::from(c.timeout_secs)),
                rise: 1,
                fall: c.fall,
            };
            let target = CheckTarget {
                addr: c.check_addr,
                config,
                bind: c.bind,
                retry_delay: c
                    .retry_delay_secs
                    .map(|s| Duration::from_secs(u64::from(s))),
            };
            let initial = if c.start_down {
                Health::Down
            } else {
                Health::Up
            };
            plan.add(target, (c.service, c.server), initial);
            if !c.inhibit_on_failure {
                plan.remove_when_down.insert((c.service, c.server));
            }
        }
        Ok(plan)
    }

    /// Whether a pair is down: any of its targets down.
    pub fn down_pairs(&self, target_down: &[bool]) -> BTreeMap<Governed, bool> {
        let mut m = BTreeMap::new();
        for (i, pairs) in self.governs.iter().enumerate() {
            let d = target_down.get(i).copied().unwrap_or(false);
            for p in pairs {
                *m.entry(*p).or_insert(false) |= d;
            }
        }
        m
    }
}

/// Reads a keepalived.conf (bounded like a rules file: regular file, at most
/// [`MAX_RULES_FILE_BYTES`](crate::rules_file::MAX_RULES_FILE_BYTES)) into services and checks.
/// The blocks skipped and the keywords ignored are logged, one line each kind.
pub fn load_keepalived(path: &std::path::Path) -> std::io::Result<Converted> {
    use lvs_core::config::keepalived;
    let text = crate::rules_file::read_rules_file(path).map_err(std::io::Error::other)?;
    let named =
        |e: keepalived::KeepalivedError| std::io::Error::other(format!("{}: {e}", path.display()));
    let k = keepalived::parse(&text).map_err(named)?;
    if !k.skipped.is_empty() {
        let list: Vec<String> = k
            .skipped
            .iter()
            .map(|n| format!("{} (line {})", n.keyword, n.line))
            .collect();
        tracing::info!(file = %path.display(), skipped = %list.join(", "), "keepalived.conf: blocks outside the LVS part skipped");
    }
    if !k.notes.is_empty() {
        let list: Vec<String> = k
            .notes
            .iter()
            .map(|n| format!("{} (line {})", n.keyword, n.line))
            .collect();
        tracing::warn!(file = %path.display(), ignored = %list.join(", "), "keepalived.conf: keywords not supported, ignored");
    }
    k.to_config().map_err(named)
}

/// One service's quorum (keepalived's `quorum`, `hysteresis`, `quorum_up`,
/// `quorum_down`, `sorry_server`): lost when the up real servers' weights sum
/// to less than `quorum - hysteresis`, regained at `quorum + hysteresis`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quorum {
    /// What the file says.
    pub policy: ServicePolicy,
    met: bool,
}

impl Quorum {
    /// Starts met (the first [`Quorum::update`] says otherwise if it is not).
    pub fn new(policy: ServicePolicy) -> Self {
        Self { policy, met: true }
    }

    /// Whether the quorum is met now.
    pub fn met(&self) -> bool {
        self.met
    }

    /// keepalived's `omega`: the `quorum_down` command to run when the service is removed
    /// (reload, shutdown), if the service has `omega` and its quorum is met.
    pub fn omega_command(&self) -> Option<&str> {
        match &self.policy.quorum_down {
            Some(c) if self.policy.omega && self.met => Some(c),
            _ => None,
        }
    }

    /// Takes the sum of the up real servers' weights; returns the new state when it changed.
    pub fn update(&mut self, alive: u64) -> Option<bool> {
        let q = u64::from(self.policy.quorum);
        let h = u64::from(self.policy.hysteresis);
        if self.met && alive < q.saturating_sub(h) {
            self.met = false;
            return Some(false);
        }
        if !self.met && alive >= q + h {
            self.met = true;
            return Some(true);
        }
        None
    }
}

/// Starts a `quorum_up`/`quorum_down` command line (split at whitespace, no shell).
fn spawn_notify(command: &str) -> Option<(String, std::process::Child)> {
    let argv: Vec<&str> = command.split_whitespace().collect();
    let (prog, args) = argv.split_first()?;
    match std::process::Command::new(prog)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(child) => Some((prog.to_string(), child)),
        Err(e) => {
            tracing::warn!(command = %command, "quorum command: {e}");
            None
        }
    }
}

/// Leaves `child` to a thread that waits for it and logs a failure.
fn reap(name: String, mut child: std::process::Child) {
    let reaper = std::thread::Builder::new()
        .name("lvs-notify".into())
        .spawn(move || match child.wait() {
            Ok(st) if !st.success() => {
                tracing::warn!(command = %name, %st, "quorum command failed")
            }
            Err(e) => tracing::warn!(command = %name, "quorum command: {e}"),
            Ok(_) => {}
        });
    if let Err(e) = reaper {
        tracing::warn!("quorum command: cannot wait for it: {e}");
    }
}

/// Runs a `quorum_up`/`quorum_down` command line (split at whitespace, no
/// shell), not waiting for it: a thread reaps it.
pub fn run_notify(command: &str) {
    if let Some((name, child)) = spawn_notify(command) {
        reap(name, child);
    }
}

/// How long [`run_notify_all_wait`] waits at shutdown for the `omega` commands, all together.
pub const OMEGA_WAIT: Duration = Duration::from_secs(5);

/// Runs the command lines as [`run_notify`] does, all at once, and waits up to `limit` in all
/// for them to finish (at shutdown, so that they run before the process exits); one still
/// running then is left running. Returns how many finished, successfully or not.
pub fn run_notify_all_wait(commands: &[&str], limit: Duration) -> usize {
    let deadline = std::time::Instant::now() + limit;
    let mut running: Vec<(String, std::process::Child)> =
        commands.iter().filter_map(|c| spawn_notify(c)).collect();
    let mut finished = 0;
    while !running.is_empty() {
        running.retain_mut(|(name, child)| match child.try_wait() {
            Ok(None) => true,
            Ok(Some(st)) => {
                if !st.success() {
                    tracing::warn!(command = %name, %st, "quorum command failed");
                }
                finished += 1;
                false
            }
            Err(e) => {
                tracing::warn!(command = %name, "quorum command: {e}");
                false
            }
        });
        if std::time::Instant::now() >= deadline {
            for (name, _) in &running {
                tracing::warn!(command = %name, ?limit, "quorum command still running; not waiting longer");
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    finished
}

#[cfg(test)]
mod tests {
    use super::*;
    use lvs_core::config::ServiceEntry;
    use lvs_core::real_server::RealServerConfig;
    use lvs_core::service::ServiceConfig;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn quorum_with_hysteresis() {
        let text = "virtual_server 198.51.100.1 80 {\n quorum 4\n hysteresis 1\n\
                    real_server 192.0.2.1 80 {\n weight 3\n }\n}\n";
        let c = lvs_core::config::keepalived::parse(text)
            .unwrap()
            .to_config()
            .unwrap();
        let mut q = Quorum::new(c.policies[0].clone());
        assert_eq!(q.update(5), None);
        assert_eq!(q.update(3), None); // 3 >= 4 - 1
        assert_eq!(q.update(2), Some(false));
        assert_eq!(q.update(4), None); // < 4 + 1
        assert_eq!(q.update(5), Some(true));
        assert!(q.met());
    }

    #[test]
    fn udp_services_get_no_tcp_check() {
        let tcp = ServiceConfig::tcp(sa("198.51.100.1:53"));
        let udp = ServiceConfig::udp(sa("198.51.100.1:53"));
        let rs = RealServerConfig::new(sa("192.0.2.10:53"));
        let rules = Config {
            services: vec![
                ServiceEntry {
                    config: tcp,
                    servers: vec![rs],
                },
                ServiceEntry {
                    config: udp,
                    servers: vec![rs],
                },
            ],
            timeouts: None,
        };
        let cfg = CheckConfig {
            kind: CheckKind::Tcp,
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            rise: 2,
            fall: 3,
        };
        let (plan, unchecked) = CheckPlan::from_flags(&rules, &cfg);
        assert_eq!(unchecked, 1);
        assert_eq!(plan.targets.len(), 1);
        assert_eq!(plan.governs[0], vec![(tcp.key, rs.addr)]);
        // The TCP check's verdict never reaches the UDP service.
        let down = plan.down_pairs(&[true]);
        assert_eq!(down.get(&(tcp.key, rs.addr)), Some(&true));
        assert_eq!(down.get(&(udp.key, rs.addr)), None);
    }
}
