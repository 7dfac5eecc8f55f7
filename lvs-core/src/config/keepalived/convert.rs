//! From [`KeepalivedConfig`] to this crate's [`Config`] and the checks to run.

use alloc::string::String;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};

use super::{
    Check, DEFAULT_CONNECT_TIMEOUT_SECS, DEFAULT_DELAY_BEFORE_RETRY_SECS, DEFAULT_DELAY_LOOP_SECS,
    DEFAULT_RETRY, GroupMember, KeepalivedConfig, KeepalivedError, KeepalivedErrorKind as Kind,
    LbKind, VirtualAddr, VirtualServerDef,
};
use crate::addr::{Family, Protocol};
use crate::config::{Config, ServiceEntry};
use crate::real_server::{Forwarding, MAX_WEIGHT, RealServerConfig};
use crate::service::{SchedName, ServiceConfig, ServiceKey};

/// What one check does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CheckSpec {
    /// Connect over TCP.
    Tcp,
    /// HTTP GET `path`; the status must be `status` (200 when the file gives
    /// none); `digest` is the MD5 of the body the file asks for, if any.
    Http {
        /// Request path.
        path: String,
        /// Expected status.
        status: u16,
        /// Expected MD5 of the body (hex), if any.
        digest: Option<String>,
    },
    /// Run a command line; exit 0 = up.
    Misc {
        /// `misc_path`.
        command: String,
    },
}

/// One check of one real server of one service, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerCheck {
    /// Line of the `real_server` it comes from.
    pub line: usize,
    /// The service.
    pub service: ServiceKey,
    /// The real server (as in the [`Config`]).
    pub server: SocketAddr,
    /// Where the check connects: the server's IP with `connect_port`, or
    /// the server's port (never port 0 for TCP and HTTP checks).
    pub check_addr: SocketAddr,
    /// What to do.
    pub spec: CheckSpec,
    /// Seconds between checks (`delay_loop`).
    pub interval_secs: u32,
    /// Seconds one check may take (`connect_timeout` or `misc_timeout`).
    pub timeout_secs: u32,
    /// Consecutive failures before down (`retry` + 1; 1 for MISC_CHECK).
    pub fall: u32,
    /// Seconds before a retry after a failure (`delay_before_retry`).
    pub retry_delay_secs: Option<u32>,
    /// Source address (`bindto`).
    pub bind: Option<IpAddr>,
    /// `inhibit_on_failure`.
    pub inhibit_on_failure: bool,
    /// The service's `alpha`: start down.
    pub start_down: bool,
}

/// What happens to a virtual service as a whole when its real servers fail
/// (keepalived's quorum): while the sum of the weights of its up real
/// servers is below `quorum` the quorum is lost — `quorum_down` runs and the
/// sorry server, if any, joins the service; at `quorum + hysteresis` or more
/// it is regained — `quorum_up` runs and the sorry server leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServicePolicy {
    /// Line of the `virtual_server`.
    pub line: usize,
    /// The service.
    pub service: ServiceKey,
    /// `quorum` (1 when absent).
    pub quorum: u32,
    /// `hysteresis` (0 when absent).
    pub hysteresis: u32,
    /// `sorry_server`, with the service's forwarding method and weight 1.
    pub sorry_server: Option<RealServerConfig>,
    /// `quorum_up` command line.
    pub quorum_up: Option<String>,
    /// `quorum_down` command line.
    pub quorum_down: Option<String>,
    /// `omega`: `quorum_down` also runs when the service is removed (a reload without it,
    /// or shutdown) while its quorum is met.
    pub omega: bool,
}

/// A keepalived.conf made ready to run: what [`KeepalivedConfig::to_config`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Converted {
    /// The services and their real servers (the sorry servers are not among them).
    pub config: Config,
    /// The checks, one per check and real server (per url for HTTP_GET).
    pub checks: Vec<ServerCheck>,
    /// One per service, in the order of `config`.
    pub policies: Vec<ServicePolicy>,
}

impl KeepalivedConfig {
    /// The services and real servers, the checks to run on them and each
    /// service's quorum policy. Errors carry the line of the `virtual_server`
    /// or `real_server` at fault.
    pub fn to_config(&self) -> Result<Converted, KeepalivedError> {
        let mut config = Config::default();
        let mut checks = Vec::new();
        let mut policies = Vec::new();
        for vs in &self.virtual_servers {
            for key in self.keys(vs)? {
                if config.service(&key).is_some() {
                    return Err(KeepalivedError {
                        line: vs.line,
                        kind: Kind::Duplicate(alloc::format!("virtual_server {key:?}")),
                    });
                }
                let entry = service(vs, key)?;
                let sorry_server = vs.sorry_server.map(|a| {
                    let fwd = entry
                        .servers
                        .first()
                        .map_or(forwarding(vs), |r| r.forwarding);
                    RealServerConfig::new(a).weight(1).forwarding(fwd)
                });
                policies.push(ServicePolicy {
                    line: vs.line,
                    service: key,
                    quorum: vs.quorum.unwrap_or(1),
                    hysteresis: vs.hysteresis.unwrap_or(0),
                    sorry_server,
                    quorum_up: vs.quorum_up.clone(),
                    quorum_down: vs.quorum_down.clone(),
                    omega: vs.omega,
                });
                for rs in &vs.real_servers {
                    for c in &rs.checks {
                        let one =
                            server_check(vs, key, rs.addr, rs.line, rs.inhibit_on_failure, c)?;
                        match c {
                            // keepalived wants every url right: one check per url.
                            Check::Http { urls, .. } => {
                                for u in urls {
                                    let mut each = one.clone();
                                    each.spec = CheckSpec::Http {
                                        path: u.path.clone(),
                                        status: u.status_code.unwrap_or(200),
                                        digest: u.digest.clone(),
                                    };
                                    checks.push(each);
                                }
                            }
                            _ => checks.push(one),
                        }
                    }
                }
                config.services.push(entry);
            }
        }
        Ok(Converted {
            config,
            checks,
            policies,
        })
    }

    /// The service keys a `virtual_server` stands for.
    fn keys(&self, vs: &VirtualServerDef) -> Result<Vec<ServiceKey>, KeepalivedError> {
        let protocol = vs.protocol.unwrap_or(Protocol::Tcp);
        let family = vs.real_servers.first().map_or(Family::V4, |r| {
            if r.addr.is_ipv4() {
                Family::V4
            } else {
                Family::V6
            }
        });
        Ok(match &vs.addr {
            VirtualAddr::Addr(vip) => alloc::vec![ServiceKey::Addr {
                protocol,
                vip: *vip
            }],
            VirtualAddr::Fwmark(mark) => alloc::vec![ServiceKey::Fwmark {
                family,
                mark: *mark
            }],
            VirtualAddr::Group(name) => {
                let g = self
                    .groups
                    .iter()
                    .find(|g| &g.name == name)
                    .ok_or_else(|| KeepalivedError {
                        line: vs.line,
                        kind: Kind::UnknownGroup(name.clone()),
                    })?;
                g.members
                    .iter()
                    .map(|m| match m {
                        GroupMember::Addr(vip) => ServiceKey::Addr {
                            protocol,
                            vip: *vip,
                        },
                        GroupMember::Fwmark(mark) => ServiceKey::Fwmark {
                            family,
                            mark: *mark,
                        },
                    })
                    .collect()
            }
        })
    }
}

fn bad(line: usize, keyword: &str, value: impl core::fmt::Display) -> KeepalivedError {
    KeepalivedError {
        line,
        kind: Kind::BadValue {
            keyword: keyword.into(),
            value: alloc::format!("{value}"),
        },
    }
}

fn forwarding(vs: &VirtualServerDef) -> Forwarding {
    match vs.lb_kind {
        Some(LbKind::Nat) => Forwarding::Masquerade,
        Some(LbKind::Tun) => Forwarding::Tunnel {
            kind: Default::default(),
            csum: Default::default(),
        },
        Some(LbKind::Dr) | None => Forwarding::DirectRoute,
    }
}

fn service(vs: &VirtualServerDef, key: ServiceKey) -> Result<ServiceEntry, KeepalivedError> {
    let mut cfg = ServiceConfig::new(key);
    if let Some(algo) = &vs.lb_algo {
        cfg.scheduler = SchedName::new(algo).ok_or_else(|| bad(vs.line, "lb_algo", algo))?;
    }
    if let Some(t) = vs.persistence_timeout.filter(|t| *t > 0) {
        if t > crate::config::MAX_TIMEOUT_SECS {
            return Err(bad(vs.line, "persistence_timeout", t));
        }
        cfg.persistence_secs = Some(t);
    }
    if let Some(p) = vs.persistence_granularity {
        if p > key.family().max_prefix() {
            return Err(bad(vs.line, "persistence_granularity", p));
        }
        cfg.netmask_prefix = p;
    }
    let forwarding = forwarding(vs);
    let mut servers = Vec::new();
    for rs in &vs.real_servers {
        if (rs.addr.is_ipv4()) != (key.family() == Family::V4) {
            return Err(bad(rs.line, "real_server", rs.addr));
        }
        let weight = rs.weight.unwrap_or(1);
        if weight > MAX_WEIGHT {
            return Err(bad(rs.line, "weight", weight));
        }
        servers.push(
            RealServerConfig::new(rs.addr)
                .weight(weight)
                .forwarding(forwarding),
        );
    }
    Ok(ServiceEntry {
        config: cfg,
        servers,
    })
}

fn server_check(
    vs: &VirtualServerDef,
    service: ServiceKey,
    server: SocketAddr,
    line: usize,
    inhibit_on_failure: bool,
    c: &Check,
) -> Result<ServerCheck, KeepalivedError> {
    let interval_secs = vs.delay_loop.unwrap_or(DEFAULT_DELAY_LOOP_SECS).max(1);
    let mut out = ServerCheck {
        line,
        service,
        server,
        check_addr: server,
        spec: CheckSpec::Tcp,
        interval_secs,
        timeout_secs: DEFAULT_CONNECT_TIMEOUT_SECS,
        fall: DEFAULT_RETRY + 1,
        retry_delay_secs: None,
        bind: None,
        inhibit_on_failure,
        start_down: vs.alpha,
    };
    let opts = match c {
        Check::Misc { path, timeout } => {
            out.spec = CheckSpec::Misc {
                command: path.clone(),
            };
            out.timeout_secs = timeout.unwrap_or(interval_secs).max(1);
            out.fall = 1;
            return Ok(out);
        }
        Check::Tcp(o) => o,
        Check::Http { opts, urls } => {
            // The caller makes one check per url.
            let u = urls.first().ok_or_else(|| KeepalivedError {
                line,
                kind: Kind::MissingValue("url".into()),
            })?;
            out.spec = CheckSpec::Http {
                path: u.path.clone(),
                status: u.status_code.unwrap_or(200),
                digest: u.digest.clone(),
            };
            opts
        }
    };
    let port = opts.connect_port.unwrap_or(server.port());
    if port == 0 {
        return Err(KeepalivedError {
            line,
            kind: Kind::CheckOnPortZero(server),
        });
    }
    out.check_addr = SocketAddr::new(server.ip(), port);
    out.timeout_secs = opts
        .connect_timeout
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT_SECS)
        .max(1);
    out.fall = opts.retry.unwrap_or(DEFAULT_RETRY).saturating_add(1);
    out.retry_delay_secs = Some(
        opts.delay_before_retry
            .unwrap_or(DEFAULT_DELAY_BEFORE_RETRY_SECS),
    );
    out.bind = opts.bindto;
    Ok(out)
}
