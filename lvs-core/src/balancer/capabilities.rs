//! What the packet path in front of a balancer can actually serve.
//!
//! The balancer itself knows every service kind and forwarding method IPVS
//! has, but a given packet path may implement only some of them (the
//! lvs-forwarding `Director` has no GRE encapsulation, no SCTP and no
//! firewall marks). A [`Capabilities`] value, set when the balancer is built,
//! makes the configuration calls refuse what would otherwise be accepted and
//! then silently never match, or be sent another way.

use core::fmt;
use core::net::SocketAddr;

use crate::addr::Protocol;
use crate::real_server::{Forwarding, RealServerConfig, TunnelType};
use crate::service::{ServiceConfig, ServiceKey};

/// The protocols, service kinds and forwarding methods a packet path serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capabilities {
    /// TCP services.
    pub tcp: bool,
    /// UDP services.
    pub udp: bool,
    /// SCTP services.
    pub sctp: bool,
    /// Firewall-mark services (the packet path fills `PacketInfo::fwmark`).
    pub fwmark: bool,
    /// VS/NAT real servers.
    pub masquerade: bool,
    /// VS/DR real servers.
    pub direct_route: bool,
    /// Local real servers (delivered to the director's own stack).
    pub local: bool,
    /// VS/TUN real servers with IP-in-IP encapsulation.
    pub ipip: bool,
    /// VS/TUN real servers with GUE encapsulation.
    pub gue: bool,
    /// VS/TUN real servers with GRE encapsulation.
    pub gre: bool,
}

impl Capabilities {
    /// Everything IPVS knows: what a bare [`Balancer`](super::Balancer)
    /// accepts unless told otherwise.
    pub const ALL: Capabilities = Capabilities {
        tcp: true,
        udp: true,
        sctp: true,
        fwmark: true,
        masquerade: true,
        direct_route: true,
        local: true,
        ipip: true,
        gue: true,
        gre: true,
    };

    /// Whether a service of this configuration can be served.
    pub fn check_service(&self, cfg: &ServiceConfig) -> Result<(), Unsupported> {
        let service = cfg.key;
        match service {
            ServiceKey::Fwmark { .. } if !self.fwmark => {
                Err(Unsupported::FwmarkService { service })
            }
            ServiceKey::Fwmark { .. } => Ok(()),
            ServiceKey::Addr { protocol, .. } => {
                let ok = match protocol {
                    Protocol::Tcp => self.tcp,
                    Protocol::Udp => self.udp,
                    Protocol::Sctp => self.sctp,
                };
                if ok {
                    Ok(())
                } else {
                    Err(Unsupported::Protocol { service, protocol })
                }
            }
        }
    }

    /// Whether a real server of this configuration can be sent to.
    pub fn check_server(&self, cfg: &RealServerConfig) -> Result<(), Unsupported> {
        let ok = match cfg.forwarding {
            Forwarding::Masquerade => self.masquerade,
            Forwarding::DirectRoute => self.direct_route,
            Forwarding::Local => self.local,
            Forwarding::Tunnel { kind, .. } => match kind {
                TunnelType::Ipip => self.ipip,
                TunnelType::Gue { .. } => self.gue,
                TunnelType::Gre => self.gre,
            },
        };
        if ok {
            Ok(())
        } else {
            Err(Unsupported::Forwarding {
                server: cfg.addr,
                forwarding: cfg.forwarding,
            })
        }
    }
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities::ALL
    }
}

/// A service or real server the packet path cannot serve (see
/// [`Capabilities`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unsupported {
    /// A service of a protocol the packet path does not handle.
    Protocol {
        /// The service.
        service: ServiceKey,
        /// Its protocol.
        protocol: Protocol,
    },
    /// A firewall-mark service, and the packet path never sets a mark.
    FwmarkService {
        /// The service.
        service: ServiceKey,
    },
    /// A real server whose forwarding method (or tunnel type) the packet
    /// path cannot send with.
    Forwarding {
        /// The real server.
        server: SocketAddr,
        /// Its forwarding method.
        forwarding: Forwarding,
    },
}

fn method_name(f: &Forwarding) -> &'static str {
    match f {
        Forwarding::Masquerade => "masquerading (-m)",
        Forwarding::DirectRoute => "direct routing (-g)",
        Forwarding::Local => "local delivery",
        Forwarding::Tunnel { kind, .. } => match kind {
            TunnelType::Ipip => "IPIP tunnels",
            TunnelType::Gue { .. } => "GUE tunnels",
            TunnelType::Gre => "GRE tunnels",
        },
    }
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsupported::Protocol { service, protocol } => write!(
                f,
                "service {service:?}: protocol {protocol:?} is not supported by this packet path"
            ),
            Unsupported::FwmarkService { service } => write!(
                f,
                "service {service:?}: firewall-mark services are not supported by this packet path"
            ),
            Unsupported::Forwarding { server, forwarding } => write!(
                f,
                "real server {server}: {} are not supported by this packet path",
                method_name(forwarding)
            ),
        }
    }
}

impl core::error::Error for Unsupported {}
