//! Running a parsed `lvsadm` command against the live director.
//!
//! Why a pure function: the control socket is I/O and belongs to the event
//! loop, but what a command does (change the balancer, keep the running
//! rules in step, render a listing) is plain logic that tests can drive on a
//! [`Director`] built from rules, with no socket and no clock.
//!
//! Changes go through the Balancer's own calls (`add_service`,
//! `edit_real_server`, ...), which keep every connection: an edited real
//! server keeps its connections, a deleted one drains them as IPVS does, and
//! only a deleted service (or `-C`) drops the connections of that service.
//! Every successful change is mirrored into the running rules (a
//! [`Config`]) so that `-S` prints the live state and the embedder derives
//! health-check targets from the same data. A real server whose health check
//! says "down" keeps weight 0 in the balancer while the rules keep the weight
//! the operator gave, exactly as the runner's health handling does.

use std::fmt::Write as _;
use std::net::SocketAddr;

use lvs_core::balancer::{ConfigError as ApplyError, ServicesError};
use lvs_core::config::listing::ListOptions;
use lvs_core::config::{self, Config, ServiceEntry, Timeouts};
use lvs_core::service::ServiceError;
use lvs_core::{Instant, RealServerConfig, ServiceConfig, ServiceKey};
use lvs_forwarding::Director;

use super::commands::{Command, EXIT_FAILURE, EXIT_LIST, ListRequest, USAGE, version_text};
use super::protocol::Reply;

/// Which message family an error belongs to: ipvsadm names a missing
/// service differently for service and real-server commands.
#[derive(Clone, Copy)]
enum Ctx {
    Service,
    Server,
}

/// ipvsadm's `ipvs_strerror` text for what the balancer refused.
fn apply_message(e: ApplyError, ctx: Ctx) -> String {
    match e {
        ApplyError::Services(ServicesError::Exists(_)) => "Service already exists".into(),
        ApplyError::Services(ServicesError::NotFound(_)) => match ctx {
            Ctx::Service => "No such service".into(),
            Ctx::Server => "Service not defined".into(),
        },
        ApplyError::Service(ServiceError::Exists(_)) => "Destination already exists".into(),
        ApplyError::Service(ServiceError::NotFound(_)) => "No such destination".into(),
        ApplyError::Services(ServicesError::Full) | ApplyError::Service(ServiceError::Full) => {
            "Memory allocation problem".into()
        }
        ApplyError::Service(ServiceError::ThresholdRange { .. }) => {
            "Numerical result out of range".into()
        }
        ApplyError::Service(ServiceError::FamilyMismatch(_)) => {
            "Operation not supported with specified address family".into()
        }
        other => other.to_string(),
    }
}

fn scheduler_for(cfg: &ServiceConfig) -> Result<Box<dyn lvs_core::Scheduler>, String> {
    lvs_schedulers::boxed_by_name(cfg.scheduler.as_str(), cfg.flags)
        .map_err(|_| "Scheduler or persistence engine not found".to_string())
}

/// The weight the balancer gets: 0 while the health check says down.
fn effective(
    service: &ServiceKey,
    server: RealServerConfig,
    health: &dyn Fn(&ServiceKey, SocketAddr) -> Option<bool>,
) -> RealServerConfig {
    if health(service, server.addr) == Some(false) {
        server.weight(0)
    } else {
        server
    }
}

fn entry_mut<'a>(
    rules: &'a mut Config,
    key: &ServiceKey,
    cfg: Option<ServiceConfig>,
) -> &'a mut ServiceEntry {
    let pos = rules.services.iter().position(|e| e.config.key == *key);
    let pos = match pos {
        Some(p) => p,
        None => {
            // The rules lost track of a live service (changed by API behind
            // our back): adopt it rather than fail.
            rules.services.push(ServiceEntry {
                config: cfg.unwrap_or_else(|| ServiceConfig::new(*key)),
                servers: Vec::new(),
            });
            rules.services.len() - 1
        }
    };
    &mut rules.services[pos]
}

/// Apply one rule command to the director and mirror it into `rules`.
fn apply(
    rule: &config::Command,
    director: &mut Director,
    rules: &mut Config,
    health: &dyn Fn(&ServiceKey, SocketAddr) -> Option<bool>,
) -> Result<(), String> {
    use config::Command as C;
    let b = director.balancer_mut();
    match *rule {
        C::AddService(cfg) => {
            if b.services().find(&cfg.key).is_some() {
                return Err("Service already exists".into());
            }
            let s = scheduler_for(&cfg)?;
            b.add_service(cfg, s)
                .map_err(|e| apply_message(e, Ctx::Service))?;
            rules.services.retain(|e| e.config.key != cfg.key);
            rules.services.push(ServiceEntry {
                config: cfg,
                servers: Vec::new(),
            });
        }
        C::EditService(cfg) => {
            let Some(id) = b.services().find(&cfg.key) else {
                return Err("No such service".into());
            };
            let old = b.services().get(id).map(|s| s.config);
            let sched = match old {
                Some(o) if o.scheduler == cfg.scheduler && o.flags == cfg.flags => None,
                _ => Some(scheduler_for(&cfg)?),
            };
            b.edit_service(cfg, sched)
                .map_err(|e| apply_message(e, Ctx::Service))?;
            entry_mut(rules, &cfg.key, Some(cfg)).config = cfg;
        }
        C::DeleteService(key) => {
            b.remove_service(&key)
                .map_err(|e| apply_message(e, Ctx::Service))?;
            rules.services.retain(|e| e.config.key != key);
        }
        C::AddServer { service, server } => {
            b.add_real_server(&service, effective(&service, server, health))
                .map_err(|e| apply_message(e, Ctx::Server))?;
            let cfg = b
                .services()
                .find(&service)
                .and_then(|id| b.services().get(id))
                .map(|s| s.config);
            let e = entry_mut(rules, &service, cfg);
            e.servers.retain(|r| r.addr != server.addr);
            e.servers.push(server);
        }
        C::EditServer { service, server } => {
            b.edit_real_server(&service, effective(&service, server, health))
                .map_err(|e| apply_message(e, Ctx::Server))?;
            let cfg = b
                .services()
                .find(&service)
                .and_then(|id| b.services().get(id))
                .map(|s| s.config);
            let e = entry_mut(rules, &service, cfg);
            match e.servers.iter_mut().find(|r| r.addr == server.addr) {
                Some(r) => *r = server,
                None => e.servers.push(server),
            }
        }
        C::DeleteServer { service, server } => {
            b.remove_real_server(&service, server)
                .map_err(|e| apply_message(e, Ctx::Server))?;
            if let Some(e) = rules.services.iter_mut().find(|e| e.config.key == service) {
                e.servers.retain(|r| r.addr != server);
            }
        }
        C::SetTimeouts(t) => {
            b.settings_mut().timeouts.set(t.tcp, t.tcp_fin, t.udp);
            let old = rules.timeouts.unwrap_or_default();
            let keep = |new: u32, old: u32| if new == 0 { old } else { new };
            rules.timeouts = Some(Timeouts {
                tcp: keep(t.tcp, old.tcp),
                tcp_fin: keep(t.tcp_fin, old.tcp_fin),
                udp: keep(t.udp, old.udp),
            });
        }
        C::Clear => {
            let keys: Vec<ServiceKey> = b.services().iter().map(|(_, s)| s.config.key).collect();
            for k in keys {
                b.remove_service(&k)
                    .map_err(|e| apply_message(e, Ctx::Service))?;
            }
            rules.services.clear();
        }
        C::Zero(None) => b.zero_counters(),
        C::Zero(Some(key)) => {
            if b.zero_service_counters(&key).is_err() {
                return Err("No such service".into());
            }
        }
        _ => return Err("Invalid operation".into()),
    }
    Ok(())
}

fn list(director: &Director, req: &ListRequest) -> Reply {
    let opts = ListOptions::new(req.format)
        .exact(req.exact)
        .nosort(req.nosort)
        .table_size(u32::try_from(director.config().conn_capacity_v4).unwrap_or(u32::MAX));
    let services = director.balancer().services();
    match req.service {
        None => Reply::ok(director.listing(&opts)),
        Some(key) => {
            let Some(svc) = services.find(&key).and_then(|id| services.get(id)) else {
                return Reply::error(EXIT_LIST, "No such service");
            };
            // ipvsadm's list_service prints the titles and the entry, no
            // version header.
            let text = config::listing::listing([svc], &opts);
            let body = text.split_once('\n').map_or("", |(_, rest)| rest);
            Reply::ok(body)
        }
    }
}

/// `--summary`: table occupancy, the director's drops and the balancer's
/// decisions, and each real server's health in each of its services.
pub fn summary(
    director: &Director,
    health: &dyn Fn(&ServiceKey, SocketAddr) -> Option<bool>,
) -> String {
    let mut s = String::new();
    let b = director.balancer();
    let pct = |n: usize, cap: usize| {
        if cap == 0 {
            0.0
        } else {
            n as f64 * 100.0 / cap as f64
        }
    };
    let (v4, v6) = (b.table_v4(), b.table_v6());
    let servers: usize = b.services().iter().map(|(_, s)| s.servers().count()).sum();
    let _ = writeln!(
        s,
        "Services: {}, real servers: {servers}",
        b.services().len()
    );
    let _ = writeln!(
        s,
        "Connection table: IPv4 {}/{} ({:.1}%), IPv6 {}/{} ({:.1}%)",
        v4.len(),
        v4.capacity(),
        pct(v4.len(), v4.capacity()),
        v6.len(),
        v6.capacity(),
        pct(v6.len(), v6.capacity())
    );
    let d = director.drops();
    let _ = writeln!(
        s,
        "Frames: in {} forwarded {} generated {} to-host {} dropped {}",
        d.frames_in,
        d.forwarded,
        d.generated,
        d.to_host,
        d.total()
    );
    let drops: Vec<String> = d
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| format!("{} {n}", r.name()))
        .collect();
    let _ = writeln!(
        s,
        "Drops: {}",
        if drops.is_empty() {
            "none".to_string()
        } else {
            drops.join(", ")
        }
    );
    let c = b.counters();
    let _ = writeln!(
        s,
        "Balancer: refused (table full) {}, evicted half-open {}, no destination {}, destination unavailable {}, expired {}, rescheduled {}",
        c.refused_table_full,
        c.evicted_half_open,
        c.no_destination,
        c.dest_unavailable,
        c.expired,
        c.rescheduled
    );
    let mut list: Vec<_> = b.services().iter().map(|(_, s)| s).collect();
    list.sort_by(|a, b| config::service_order(&a.config.key, &b.config.key));
    let mut down = 0;
    let mut lines = String::new();
    for svc in list {
        let mut rs: Vec<_> = svc.servers().map(|(_, r)| r).collect();
        rs.sort_by(|a, b| config::server_order(&a.config.addr, &b.config.addr));
        for r in rs {
            let state = match health(&svc.config.key, r.config.addr) {
                Some(true) => "up",
                Some(false) => {
                    down += 1;
                    "down"
                }
                None => "unchecked",
            };
            let svc_name = match svc.config.key {
                ServiceKey::Addr { protocol, vip } => format!("{} {vip}", protocol.name()),
                ServiceKey::Fwmark { mark, .. } => format!("FWM {mark}"),
            };
            let _ = writeln!(
                lines,
                "  {svc_name} -> {} {state} weight {} active {} inactive {}",
                r.config.addr,
                r.weight(),
                r.active_conns,
                r.inactive_conns
            );
        }
    }
    let _ = writeln!(s, "Health: {down} of {servers} real servers down");
    s.push_str(&lines);
    s
}

/// Run `cmd` on `director`, keeping `rules` (the director's running rules)
/// in step with every change, and return what `lvsadm` prints and exits
/// with. `health(service, addr)` says whether a real server's check in that service is up
/// (`Some(true)`), down (`Some(false)`) or not checked (`None`); `now` is the
/// director's clock, for the time left in `-Lnc`.
///
/// Changes apply at once and keep connections (see the module docs).
/// `-R` parses every line before it applies any; it then applies them in
/// order, reports each refused line on standard error as ipvsadm does and
/// goes on, exiting 255 if any was refused.
pub fn execute(
    cmd: &Command,
    director: &mut Director,
    rules: &mut Config,
    health: &dyn Fn(&ServiceKey, SocketAddr) -> Option<bool>,
    now: Instant,
) -> Reply {
    match cmd {
        Command::Rule(rule) => match apply(rule, director, rules, health) {
            Ok(()) => Reply::default(),
            Err(m) => Reply::error(EXIT_FAILURE, m),
        },
        Command::Restore(lines) => {
            let mut reply = Reply::default();
            for (_, rule) in lines {
                if let Err(m) = apply(rule, director, rules, health) {
                    reply.code = EXIT_FAILURE;
                    reply.stderr.push_str(&m);
                    reply.stderr.push('\n');
                }
            }
            reply
        }
        Command::List(req) => list(director, req),
        Command::Connections => {
            let mut s = String::new();
            // Writing to a String cannot fail.
            let _ = director.balancer().write_connections(&mut s, now);
            Reply::ok(s)
        }
        Command::Timeouts => {
            let (tcp, fin, udp) = director.balancer().settings().timeouts.get();
            Reply::ok(format!("Timeout (tcp tcpfin udp): {tcp} {fin} {udp}\n"))
        }
        Command::Save => {
            let mut c = rules.clone();
            c.sort();
            Reply::ok(config::print(&c))
        }
        Command::Summary => Reply::ok(summary(director, health)),
        Command::Help => Reply::ok(USAGE),
        Command::Version => Reply::ok(version_text()),
    }
}

#[cfg(test)]
mod tests;
