//! Applying a rules file to a running Director without losing connections.
//!
//! A reload is a diff: services and real servers that stay keep their slots
//! (and so their connections, counters and scheduler state where IPVS keeps
//! it), new ones are added, vanished ones removed, changed ones edited. The
//! whole text is parsed and every scheduler name checked before anything is
//! touched, so a bad file leaves the running configuration as it was.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use lvs_core::balancer::{Capabilities, ConfigError as ApplyError, Unsupported};
use lvs_core::config::{self, Config, ConfigError};
use lvs_core::{Scheduler, ServiceConfig, ServiceKey};

use super::Director;

/// What the Director's packet path serves, given to its balancer at
/// construction so that changes through [`Director::balancer_mut`] are
/// checked where they are made: TCP and UDP address services (no SCTP
/// parsing and no firewall marks: `PacketInfo::fwmark` is always 0), NAT,
/// DR, local delivery, and IPIP and GUE tunnels (no GRE encapsulation).
pub const DIRECTOR_CAPABILITIES: Capabilities = Capabilities {
    tcp: true,
    udp: true,
    sctp: false,
    fwmark: false,
    masquerade: true,
    direct_route: true,
    local: true,
    ipip: true,
    gue: true,
    gre: false,
};

/// Why a reload was refused. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReloadError {
    /// The text did not parse.
    Parse(ConfigError),
    /// A service names a scheduler this library does not have.
    UnknownScheduler(ServiceKey),
    /// A real server uses a forwarding method the Director cannot send with
    /// (GRE tunnels: the text format knows them, the packet path does not).
    UnsupportedForwarding(core::net::SocketAddr),
    /// A service the Director cannot serve (SCTP, firewall marks; see
    /// [`DIRECTOR_CAPABILITIES`]).
    UnsupportedService(Unsupported),
    /// The balancer refused a change (should not happen after validation).
    Apply(ApplyError),
}

/// A service key as ipvsadm writes it (`-t 203.0.113.10:80`, `-u [2001:db8::1]:53`,
/// `-f 7`).
struct ServiceName<'a>(&'a ServiceKey);

impl fmt::Display for ServiceName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ServiceKey::Addr { protocol, vip } => {
                let p = match protocol {
                    lvs_core::Protocol::Tcp => "-t",
                    lvs_core::Protocol::Udp => "-u",
                    _ => "--sctp-service",
                };
                write!(f, "{p} {vip}")
            }
            ServiceKey::Fwmark { mark, .. } => write!(f, "-f {mark}"),
        }
    }
}

impl fmt::Display for ReloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadError::Parse(e) => write!(f, "{e}"),
            ReloadError::UnknownScheduler(k) => write!(
                f,
                "service {}: unknown scheduler (this director has rr, wrr, lc, wlc, sed, nq, sh, dh, mh)",
                ServiceName(k)
            ),
            ReloadError::UnsupportedForwarding(a) => {
                write!(
                    f,
                    "real server {a}: its forwarding method is not supported by the director"
                )
            }
            ReloadError::UnsupportedService(e) => write!(f, "{e}"),
            ReloadError::Apply(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for ReloadError {}

impl From<ApplyError> for ReloadError {
    fn from(e: ApplyError) -> Self {
        ReloadError::Apply(e)
    }
}

/// What a reload changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReloadSummary {
    /// Services added.
    pub services_added: usize,
    /// Services removed (with their connections).
    pub services_removed: usize,
    /// Services whose settings changed.
    pub services_edited: usize,
    /// Real servers added.
    pub servers_added: usize,
    /// Real servers removed (their connections' packets are dropped, as IPVS does with
    /// `expire_nodest_conn` off).
    pub servers_removed: usize,
    /// Real servers whose weight, thresholds or method changed.
    pub servers_edited: usize,
}

impl fmt::Display for ReloadSummary {
    /// One line for a log: `services +1 -0 ~2, real servers +3 -1 ~0` (added, removed,
    /// changed), or `no change`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == ReloadSummary::default() {
            return f.write_str("no change");
        }
        write!(
            f,
            "services +{} -{} ~{}, real servers +{} -{} ~{}",
            self.services_added,
            self.services_removed,
            self.services_edited,
            self.servers_added,
            self.servers_removed,
            self.servers_edited
        )
    }
}

fn scheduler_for(cfg: &ServiceConfig) -> Option<Box<dyn Scheduler>> {
    lvs_schedulers::boxed_by_name(cfg.scheduler.as_str(), cfg.flags).ok()
}

impl Director {
    /// Replace the configuration by the rules in `text` (`ipvsadm -S -n`
    /// format), keeping every connection whose service and real server remain.
    pub fn reload_rules(&mut self, text: &str) -> Result<ReloadSummary, ReloadError> {
        let cfg = config::parse(text).map_err(ReloadError::Parse)?;
        self.apply_config(&cfg)
    }

    /// Apply a parsed configuration (see [`Director::reload_rules`]).
    pub fn apply_config(&mut self, cfg: &Config) -> Result<ReloadSummary, ReloadError> {
        for e in &cfg.services {
            if scheduler_for(&e.config).is_none() {
                return Err(ReloadError::UnknownScheduler(e.config.key));
            }
            // Refuse what the packet path cannot serve (GRE, SCTP, fwmark)
            // before touching anything, rather than half-apply the file.
            let caps = self.balancer.capabilities();
            caps.check_service(&e.config)
                .map_err(ReloadError::UnsupportedService)?;
            if let Some(r) = e.servers.iter().find(|r| caps.check_server(r).is_err()) {
                return Err(ReloadError::UnsupportedForwarding(r.addr));
            }
        }
        let mut sum = ReloadSummary::default();
        self.sources.invalidate();
        let b = &mut self.balancer;

        // Services that are gone.
        let gone: Vec<ServiceKey> = b
            .services()
            .iter()
            .map(|(_, s)| s.config.key)
            .filter(|k| cfg.service(k).is_none())
            .collect();
        for k in gone {
            b.remove_service(&k)?;
            sum.services_removed += 1;
        }

        for e in &cfg.services {
            let key = e.config.key;
            match b.services().find(&key) {
                None => {
                    let s = scheduler_for(&e.config).ok_or(ReloadError::UnknownScheduler(key))?;
                    b.add_service(e.config, s)?;
                    sum.services_added += 1;
                }
                Some(id) => {
                    let old = b.services().get(id).map(|s| s.config);
                    if old != Some(e.config) {
                        let sched_changed = old.is_none_or(|o| {
                            o.scheduler != e.config.scheduler || o.flags != e.config.flags
                        });
                        let s = if sched_changed {
                            Some(
                                scheduler_for(&e.config)
                                    .ok_or(ReloadError::UnknownScheduler(key))?,
                            )
                        } else {
                            None
                        };
                        b.edit_service(e.config, s)?;
                        sum.services_edited += 1;
                    }
                }
            }
            let Some(id) = b.services().find(&key) else {
                continue;
            };
            // Real servers that are gone.
            let current: Vec<_> = b
                .services()
                .get(id)
                .map(|s| s.servers().map(|(_, r)| r.config).collect())
                .unwrap_or_default();
            for r in &current {
                if !e.servers.iter().any(|n| n.addr == r.addr) {
                    b.remove_real_server(&key, r.addr)?;
                    sum.servers_removed += 1;
                }
            }
            // New and changed ones, in file order (each new one goes to the
            // head of the list, as `ipvsadm -R` would add them).
            for n in &e.servers {
                match current.iter().find(|r| r.addr == n.addr) {
                    None => {
                        b.add_real_server(&key, *n)?;
                        sum.servers_added += 1;
                    }
                    Some(r) if r != n => {
                        b.edit_real_server(&key, *n)?;
                        sum.servers_edited += 1;
                    }
                    Some(_) => {}
                }
            }
        }
        if let Some(t) = cfg.timeouts {
            b.settings_mut().timeouts.set(t.tcp, t.tcp_fin, t.udp);
        }
        Ok(sum)
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;
    use core::net::SocketAddr;

    use lvs_core::balancer::{ConfigError as ApplyError, Unsupported};
    use lvs_core::{
        Family, Forwarding, Protocol, RealServerConfig, ServiceConfig, ServiceKey, TunnelChecksum,
        TunnelType,
    };

    use super::ReloadError;
    use crate::director::{Director, DirectorConfig, IpCidr};
    use crate::wire::MacAddr;

    fn director() -> Director {
        let addrs: [IpCidr; 1] = ["192.0.2.1/24".parse().unwrap()];
        Director::new(DirectorConfig::single_link(
            MacAddr([2, 0, 0, 0, 0, 1]),
            &addrs,
        ))
    }

    fn sched() -> alloc::boxed::Box<dyn lvs_core::Scheduler> {
        lvs_schedulers::boxed_by_name("rr", Default::default()).unwrap()
    }

    fn tunnel(kind: TunnelType) -> Forwarding {
        Forwarding::Tunnel {
            kind,
            csum: TunnelChecksum::None,
        }
    }

    #[test]
    fn balancer_mut_refuses_gre_real_servers() {
        let mut d = director();
        let vip: SocketAddr = "192.0.2.10:80".parse().unwrap();
        let key = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            vip,
        };
        d.balancer_mut()
            .add_service(ServiceConfig::tcp(vip), sched())
            .unwrap();
        let rs: SocketAddr = "192.0.2.20:80".parse().unwrap();
        let gre = RealServerConfig::new(rs).forwarding(tunnel(TunnelType::Gre));
        let e = d.balancer_mut().add_real_server(&key, gre).unwrap_err();
        assert_eq!(
            e,
            ApplyError::Unsupported(Unsupported::Forwarding {
                server: rs,
                forwarding: tunnel(TunnelType::Gre),
            })
        );
        assert!(e.to_string().contains("GRE"), "{e}");
        // Nothing was added; an IPIP server is fine, and editing it to GRE is
        // refused too.
        assert_eq!(
            d.balancer()
                .services()
                .iter()
                .next()
                .unwrap()
                .1
                .servers()
                .count(),
            0
        );
        let ipip = RealServerConfig::new(rs).forwarding(tunnel(TunnelType::Ipip));
        d.balancer_mut().add_real_server(&key, ipip).unwrap();
        assert!(d.balancer_mut().edit_real_server(&key, gre).is_err());
        let gue = tunnel(TunnelType::Gue { port: 6080 });
        d.balancer_mut()
            .edit_real_server(&key, RealServerConfig::new(rs).forwarding(gue))
            .unwrap();
    }

    #[test]
    fn balancer_mut_refuses_services_that_never_match() {
        let mut d = director();
        let vip: SocketAddr = "192.0.2.10:80".parse().unwrap();
        let sctp = ServiceConfig::new(ServiceKey::Addr {
            protocol: Protocol::Sctp,
            vip,
        });
        assert!(matches!(
            d.balancer_mut().add_service(sctp, sched()),
            Err(ApplyError::Unsupported(Unsupported::Protocol {
                protocol: Protocol::Sctp,
                ..
            }))
        ));
        let fwm = ServiceConfig::new(ServiceKey::Fwmark {
            family: Family::V4,
            mark: 7,
        });
        assert!(matches!(
            d.balancer_mut().add_service(fwm, sched()),
            Err(ApplyError::Unsupported(Unsupported::FwmarkService { .. }))
        ));
        assert!(d.balancer().services().is_empty());
        // A plain TCP service is accepted.
        d.balancer_mut()
            .add_service(ServiceConfig::tcp(vip), sched())
            .unwrap();
    }

    #[test]
    fn reload_refuses_sctp_and_fwmark_services() {
        let mut d = director();
        for rules in ["-A --sctp-service 192.0.2.10:80\n", "-A -f 7\n"] {
            match d.reload_rules(rules) {
                Err(ReloadError::UnsupportedService(_)) => {}
                other => panic!("{rules}: {other:?}"),
            }
        }
        assert!(d.balancer().services().is_empty());
    }

    #[test]
    fn summary_reads_as_one_line() {
        assert_eq!(super::ReloadSummary::default().to_string(), "no change");
        let s = super::ReloadSummary {
            services_added: 1,
            servers_added: 3,
            servers_removed: 1,
            ..Default::default()
        };
        assert_eq!(s.to_string(), "services +1 -0 ~0, real servers +3 -1 ~0");
    }
}
