//! Changes of the running rules: SIGHUP reloads, keepalived.conf, `lvsadm`.
//!
//! Why a file of its own: the rules can change three ways while the director runs (the
//! rules file re-read on SIGHUP, the keepalived.conf re-read likewise, `lvsadm` commands
//! over the control link), and each must be checked before it is applied (a reload that
//! would empty the rules is refused unless `--allow-empty-reload`) and followed by the
//! same steps: the VIPs hook (a fanout group re-steers by them), the health checks and
//! the weights. Keeping the three paths together keeps those steps the same for all.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use lvs_core::ServiceKey;
use lvs_core::config::{self, Config};
use tracing::{info, warn};

use super::health::{self, Quorum};
use super::{Runner, control};
use crate::rules_file::{check_reload, read_rules_file};

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
        // A quorum keeps its state across a reload when its policy is unchanged (wherever
        // its lines moved to).
        let same = |q: &Quorum, p: &lvs_core::config::keepalived::ServicePolicy| {
            let mut was = q.policy.clone();
            was.line = p.line;
            was == *p
        };
        let old = std::mem::take(&mut self.quorums);
        // keepalived's `omega`: a service the file no longer has runs its `quorum_down`.
        for q in &old {
            if conv.policies.iter().any(|p| p.service == q.policy.service) {
                continue;
            }
            if let Some(c) = q.omega_command() {
                warn!(service = ?q.policy.service, command = c, "service removed with its quorum met: quorum_down (omega)");
                health::run_notify(c);
            }
        }
        self.quorums = conv
            .policies
            .into_iter()
            .map(|p| {
                old.iter()
                    .find(|q| same(q, &p))
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
    pub(super) fn poll_control(&mut self, now: lvs_core::Instant) {
        if self.last_control.elapsed() < control::POLL_EVERY {
            return;
        }
        self.last_control = std::time::Instant::now();
        let Some(link) = self.control.as_mut() else {
            return;
        };
        let down = &self.down;
        let health = |k: &ServiceKey, a: SocketAddr| down.get(&(*k, a)).map(|d| !d);
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
}
