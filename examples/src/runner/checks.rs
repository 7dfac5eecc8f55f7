//! Health checks turned into weights.
//!
//! Why a file of its own: the runner owns one health checker for the running rules, built
//! from either the `--check` flags or a keepalived.conf's checks ([`CheckPlan`]). This
//! part starts and restarts it when the rules change (a target keeps its verdict across
//! the restart), takes its state changes, and turns the verdicts into the Director's
//! weights: down = 0, up = the configured weight (as keepalived's `inhibit_on_failure`),
//! removal for keepalived real servers without it, and each keepalived service's quorum
//! with its commands and sorry server.

use std::collections::BTreeMap;
use std::io;
use std::sync::mpsc::Receiver;

use lvs_core::config::keepalived::ServerCheck;
use tracing::{info, warn};

use super::Runner;
use super::health::{self, CheckPlan, Governed, Quorum};
use crate::health::{Health, HealthChecker, StateChange};

/// Health checking of every real server, mapped back to services.
pub(super) struct Checks {
    pub(super) checker: HealthChecker,
    changes: Receiver<StateChange>,
    plan: CheckPlan,
    /// Per target of the plan, whether its last verdict is down.
    target_down: Vec<bool>,
}

impl Runner {
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

    pub(super) fn restart_checks(&mut self) -> io::Result<()> {
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
    pub(super) fn apply_weights(&mut self) {
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

    /// At shutdown: keepalived's `omega`, each service with it whose quorum is met runs its
    /// `quorum_down` (waited for, at most [`health::OMEGA_WAIT`] in all). Runs once.
    pub(super) fn omega_at_shutdown(&mut self) {
        let quorums = std::mem::take(&mut self.quorums);
        let commands: Vec<&str> = quorums.iter().filter_map(Quorum::omega_command).collect();
        if commands.is_empty() {
            return;
        }
        warn!(
            services = commands.len(),
            "shutdown: quorum_down of the services with omega"
        );
        health::run_notify_all_wait(&commands, health::OMEGA_WAIT);
    }

    /// Takes the checkers' changes: one log line per change, then the weights.
    pub(super) fn poll_health(&mut self) {
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
}
