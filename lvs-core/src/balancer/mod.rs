//! The balancer: IPVS's connection logic without packets.
//!
//! [`Balancer`] owns the services, one connection table per address family
//! and the tunables, and answers the two questions the packet path asks:
//! "where does this client packet go?" ([`Balancer::process_in`]) and "is
//! this a reply of a NAT connection, and to which VIP?"
//! ([`Balancer::process_out`]). Everything IPVS decides between parsing and
//! transmitting lives here: service lookup, when to schedule (TCP SYN, any
//! UDP packet), persistence templates, one-packet scheduling, the TCP state
//! machine with active/inactive accounting, `conn_reuse_mode`,
//! `expire_nodest_conn`, `expire_quiescent_template`, shedding half-open
//! entries when the table is full, counters, and expiry driven by the
//! caller's clock. The packet layer (lvs-forwarding) only adds bytes.

mod capabilities;
mod connections;
mod path;
mod services;
mod settings;

use path::{expire, find_in, find_out, in_packet, out_packet, purge_service};

pub use capabilities::{Capabilities, Unsupported};
pub use connections::CONNECTIONS_HEADER;
pub use services::{ServiceId, Services, ServicesError};
pub use settings::{ConnReuseMode, Settings};

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::addr::Protocol;
use crate::conn::{ConnFlags, ConnHandle, ConnTable, Slot};
use crate::real_server::{Forwarding, RealServerConfig};
use crate::scheduler::{DestId, Scheduler};
use crate::service::{Service, ServiceConfig, ServiceError, ServiceKey};
use crate::stats::Stats;
use crate::time::Instant;

/// TCP flag bits as they appear in the TCP header.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// Connection flag bits 8..9: the forwarding method fixed at creation (IPVS
/// binds the transmitter when the connection is made; editing a real server's
/// method later affects only new connections).
const FWD_SHIFT: u16 = 8;
const FWD_MASK: u16 = 0b11 << FWD_SHIFT;

fn fwd_bits(f: &Forwarding) -> u16 {
    let v = match f {
        Forwarding::Masquerade => 0,
        Forwarding::Tunnel { .. } => 1,
        Forwarding::DirectRoute => 2,
        Forwarding::Local => 3,
    };
    v << FWD_SHIFT
}

/// The forwarding method family recorded in a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// VS/NAT.
    Masquerade,
    /// VS/TUN (the tunnel type is read from the real server).
    Tunnel,
    /// VS/DR.
    DirectRoute,
    /// Delivered to the director's own stack.
    Local,
}

fn method_of(flags: ConnFlags) -> Method {
    match (flags.0 & FWD_MASK) >> FWD_SHIFT {
        0 => Method::Masquerade,
        1 => Method::Tunnel,
        2 => Method::DirectRoute,
        _ => Method::Local,
    }
}

/// What the packet layer tells the balancer about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketInfo {
    /// Transport protocol.
    pub protocol: Protocol,
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// TCP flags (0 for UDP).
    pub tcp_flags: u8,
    /// Firewall mark assigned by the embedder, 0 if none.
    pub fwmark: u32,
    /// IP length of the packet, for the byte counters.
    pub ip_len: u16,
}

/// Where a client packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The connection (NONE for one-packet scheduling).
    pub conn: ConnHandle,
    /// The service.
    pub service: ServiceId,
    /// The real server within the service.
    pub dest: DestId,
    /// The real server's address and port.
    pub real_server: SocketAddr,
    /// The forwarding method fixed at connection creation.
    pub method: Method,
    /// The real server's current forwarding configuration (tunnel details).
    pub forwarding: Forwarding,
    /// True when this packet created the connection.
    pub new: bool,
}

/// Why a client packet is not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Miss {
    /// The destination is not a virtual service: not for the balancer.
    NotVirtual,
    /// No connection and the packet may not start one (TCP without SYN).
    NotScheduled,
    /// The scheduler found no real server: IPVS answers with ICMP port unreachable.
    NoDestination,
    /// The connection's real server is gone and `expire_nodest_conn` is off.
    DestUnavailable,
    /// The table is full and no half-open entry could be shed.
    TableFull,
    /// Source and destination families differ.
    FamilyMismatch,
    /// A port-0 service that is not persistent.
    PortZeroNotPersistent,
}

/// A NAT reply recognised on the real-server side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The connection.
    pub conn: ConnHandle,
    /// The VIP and port the reply must come from.
    pub vip: SocketAddr,
}

/// Counters of the balancer's own decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BalancerCounters {
    /// New connections refused because the table was full.
    pub refused_table_full: u64,
    /// Half-open entries evicted to make room (drop_entry).
    pub evicted_half_open: u64,
    /// Packets with no real server available.
    pub no_destination: u64,
    /// Packets dropped because their connection's real server is gone.
    pub dest_unavailable: u64,
    /// Entries expired.
    pub expired: u64,
    /// Connections rescheduled by conn_reuse_mode or expire_nodest_conn.
    pub rescheduled: u64,
}

/// Errors of configuration calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A service-set error.
    Services(ServicesError),
    /// A real-server error.
    Service(ServiceError),
    /// A service or real server the packet path cannot serve (see
    /// [`Balancer::capabilities`]).
    Unsupported(Unsupported),
}

impl From<Unsupported> for ConfigError {
    fn from(e: Unsupported) -> Self {
        ConfigError::Unsupported(e)
    }
}

impl From<ServicesError> for ConfigError {
    fn from(e: ServicesError) -> Self {
        ConfigError::Services(e)
    }
}

impl From<ServiceError> for ConfigError {
    fn from(e: ServiceError) -> Self {
        ConfigError::Service(e)
    }
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConfigError::Services(e) => e.fmt(f),
            ConfigError::Service(e) => e.fmt(f),
            ConfigError::Unsupported(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for ConfigError {}

/// Everything but the tables, so the per-family code can borrow a table and
/// this at once.
#[derive(Debug)]
struct Core {
    services: Services,
    settings: Settings,
    totals: Stats,
    counters: BalancerCounters,
    capabilities: Capabilities,
}

/// The IPVS engine over caller time. See the module docs.
pub struct Balancer {
    core: Core,
    v4: ConnTable<Ipv4Addr, Vec<Slot<Ipv4Addr>>>,
    v6: ConnTable<Ipv6Addr, Vec<Slot<Ipv6Addr>>>,
}

impl core::fmt::Debug for Balancer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Balancer")
            .field("services", &self.core.services.len())
            .field("v4_conns", &self.v4.len())
            .field("v6_conns", &self.v6.len())
            .finish()
    }
}

impl Balancer {
    /// A balancer with room for `capacity` IPv4 and `capacity_v6` IPv6
    /// entries (connections and templates), hashing with `seed`. All memory
    /// is allocated here; nothing is allocated per packet.
    ///
    /// It accepts every service kind and forwarding method
    /// ([`Capabilities::ALL`]); see [`Balancer::with_capabilities`].
    pub fn new(capacity: usize, capacity_v6: usize, seed: u64) -> Self {
        Balancer::with_capabilities(capacity, capacity_v6, seed, Capabilities::ALL)
    }

    /// As [`Balancer::new`], for a packet path that serves only what
    /// `capabilities` says: [`add_service`](Balancer::add_service),
    /// [`edit_service`](Balancer::edit_service),
    /// [`add_real_server`](Balancer::add_real_server) and
    /// [`edit_real_server`](Balancer::edit_real_server) refuse anything
    /// else with [`ConfigError::Unsupported`].
    pub fn with_capabilities(
        capacity: usize,
        capacity_v6: usize,
        seed: u64,
        capabilities: Capabilities,
    ) -> Self {
        Balancer {
            core: Core {
                services: Services::new(),
                settings: Settings::default(),
                totals: Stats::default(),
                counters: BalancerCounters::default(),
                capabilities,
            },
            v4: ConnTable::with_capacity(capacity, seed),
            v6: ConnTable::with_capacity(capacity_v6, seed ^ 0x9e37_79b9_7f4a_7c15),
        }
    }

    /// What the packet path serves; configuration calls refuse the rest.
    pub fn capabilities(&self) -> &Capabilities {
        &self.core.capabilities
    }

    /// Change what the packet path serves. Refused (and nothing changed)
    /// when a configured service or real server would not be served.
    pub fn set_capabilities(&mut self, capabilities: Capabilities) -> Result<(), ConfigError> {
        for (_, svc) in self.core.services.iter() {
            capabilities.check_service(&svc.config)?;
            for (_, r) in svc.servers() {
                capabilities.check_server(&r.config)?;
            }
        }
        self.core.capabilities = capabilities;
        Ok(())
    }

    /// The tunables.
    pub fn settings(&self) -> &Settings {
        &self.core.settings
    }

    /// Change the tunables (timeouts apply to the next state change).
    pub fn settings_mut(&mut self) -> &mut Settings {
        &mut self.core.settings
    }

    /// The services.
    pub fn services(&self) -> &Services {
        &self.core.services
    }

    /// Total counters.
    pub fn totals(&self) -> &Stats {
        &self.core.totals
    }

    /// The balancer's decision counters.
    pub fn counters(&self) -> &BalancerCounters {
        &self.core.counters
    }

    /// The IPv4 connection table.
    pub fn table_v4(&self) -> &ConnTable<Ipv4Addr, Vec<Slot<Ipv4Addr>>> {
        &self.v4
    }

    /// The IPv6 connection table.
    pub fn table_v6(&self) -> &ConnTable<Ipv6Addr, Vec<Slot<Ipv6Addr>>> {
        &self.v6
    }

    /// Number of live entries (connections and templates) in both tables.
    pub fn conn_count(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    // ----- configuration -------------------------------------------------

    /// Add a virtual service.
    pub fn add_service(
        &mut self,
        config: ServiceConfig,
        scheduler: Box<dyn Scheduler>,
    ) -> Result<ServiceId, ConfigError> {
        self.core.capabilities.check_service(&config)?;
        Ok(self.core.services.add(config, scheduler)?)
    }

    /// Change a service's persistence, netmask, flags and scheduler
    /// (`ipvsadm -E`). Existing connections stay where they are.
    pub fn edit_service(
        &mut self,
        config: ServiceConfig,
        scheduler: Option<Box<dyn Scheduler>>,
    ) -> Result<ServiceId, ConfigError> {
        self.core.capabilities.check_service(&config)?;
        let id = self
            .core
            .services
            .find(&config.key)
            .ok_or(ServicesError::NotFound(config.key))?;
        if let Some(svc) = self.core.services.get_mut(id) {
            svc.config = config;
            if let Some(s) = scheduler {
                svc.set_scheduler(s);
            }
        }
        Ok(id)
    }

    /// Remove a service and every connection and template of it.
    pub fn remove_service(&mut self, key: &ServiceKey) -> Result<(), ConfigError> {
        let id = self
            .core
            .services
            .find(key)
            .ok_or(ServicesError::NotFound(*key))?;
        purge_service(&mut self.v4, id.0);
        purge_service(&mut self.v6, id.0);
        self.core.services.remove(key)?;
        Ok(())
    }

    /// Add a real server to a service.
    pub fn add_real_server(
        &mut self,
        key: &ServiceKey,
        cfg: RealServerConfig,
    ) -> Result<DestId, ConfigError> {
        self.core.capabilities.check_server(&cfg)?;
        Ok(self.service_mut(key)?.add_server(cfg)?)
    }

    /// Edit a real server (weight, thresholds, method). Its connections stay.
    pub fn edit_real_server(
        &mut self,
        key: &ServiceKey,
        cfg: RealServerConfig,
    ) -> Result<DestId, ConfigError> {
        self.core.capabilities.check_server(&cfg)?;
        Ok(self.service_mut(key)?.edit_server(cfg)?)
    }

    /// Set a real server's weight (health checks: 0 when down, back when up).
    pub fn set_weight(
        &mut self,
        key: &ServiceKey,
        addr: SocketAddr,
        weight: u32,
    ) -> Result<DestId, ConfigError> {
        Ok(self.service_mut(key)?.set_weight(addr, weight)?)
    }

    /// Remove a real server from a service. Its connections keep forwarding
    /// to it until they end, unless `expire_nodest_conn` says otherwise.
    pub fn remove_real_server(
        &mut self,
        key: &ServiceKey,
        addr: SocketAddr,
    ) -> Result<DestId, ConfigError> {
        Ok(self.service_mut(key)?.remove_server(addr)?)
    }

    fn service_mut(&mut self, key: &ServiceKey) -> Result<&mut Service, ConfigError> {
        let id = self
            .core
            .services
            .find(key)
            .ok_or(ServicesError::NotFound(*key))?;
        self.core
            .services
            .get_mut(id)
            .ok_or(ConfigError::Services(ServicesError::NotFound(*key)))
    }

    // ----- packets -------------------------------------------------------

    /// A packet from a client (or anyone) to `info.dst`: find its connection
    /// or make one, run the state machine, count it.
    #[inline]
    pub fn process_in(&mut self, now: Instant, info: &PacketInfo) -> Result<Target, Miss> {
        match (info.src.ip(), info.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                in_packet(&mut self.core, &mut self.v4, now, info, s, d)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                in_packet(&mut self.core, &mut self.v6, now, info, s, d)
            }
            _ => Err(Miss::FamilyMismatch),
        }
    }

    /// Start loading the table entries `info` may belong to (as a client
    /// packet and as a NAT reply) into the cache. Used by batch processing;
    /// changes nothing.
    #[inline]
    pub fn prefetch(&self, info: &PacketInfo) {
        let proto = info.protocol.number();
        match (info.src.ip(), info.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                self.v4.prefetch(proto, &s, info.src.port());
                self.v4.prefetch(proto, &d, info.dst.port());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                self.v6.prefetch(proto, &s, info.src.port());
                self.v6.prefetch(proto, &d, info.dst.port());
            }
            _ => {}
        }
    }

    /// A packet from `info.src` to `info.dst` that may be a real server's
    /// reply to a NAT connection. `None` when it is not.
    #[inline]
    pub fn process_out(&mut self, now: Instant, info: &PacketInfo) -> Option<Reply> {
        match (info.src.ip(), info.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                out_packet(&mut self.core, &mut self.v4, now, info, s, d)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                out_packet(&mut self.core, &mut self.v6, now, info, s, d)
            }
            _ => None,
        }
    }

    /// The connection of `client` to `vip`, without touching its state (for
    /// ICMP errors from the client side, which quote our reply VIP -> client).
    pub fn find_in(
        &self,
        protocol: Protocol,
        client: SocketAddr,
        vip: SocketAddr,
    ) -> Option<Target> {
        match (client.ip(), vip.ip()) {
            (IpAddr::V4(c), IpAddr::V4(v)) => {
                find_in(&self.core, &self.v4, protocol, client, vip, c, v)
            }
            (IpAddr::V6(c), IpAddr::V6(v)) => {
                find_in(&self.core, &self.v6, protocol, client, vip, c, v)
            }
            _ => None,
        }
    }

    /// The NAT connection between real server `rs` and `client`, seen from
    /// the real server's side, without touching its state (for ICMP errors
    /// a real server sends about a packet it got from the client).
    pub fn find_out(
        &self,
        protocol: Protocol,
        rs: SocketAddr,
        client: SocketAddr,
    ) -> Option<Reply> {
        match (rs.ip(), client.ip()) {
            (IpAddr::V4(r), IpAddr::V4(c)) => find_out(&self.v4, protocol, rs, client, r, c),
            (IpAddr::V6(r), IpAddr::V6(c)) => find_out(&self.v6, protocol, rs, client, r, c),
            _ => None,
        }
    }

    // ----- time ----------------------------------------------------------

    /// The earliest time [`Balancer::on_timeout`] has work to do: an entry
    /// expiry or a rate-estimator period.
    pub fn next_timeout(&self) -> Option<Instant> {
        let a = self.v4.next_timeout();
        let b = self.v6.next_timeout();
        let c = self.core.totals.estimator.next_at();
        [a, b, c].into_iter().flatten().min()
    }

    /// Expire due entries (at most `budget` of them per call, so a burst of
    /// expiries cannot stall the packet path) and advance the rate
    /// estimators. Returns the number of entries removed.
    pub fn on_timeout(&mut self, now: Instant, budget: usize) -> usize {
        let mut n = expire(&mut self.core, &mut self.v4, now, budget);
        n += expire(&mut self.core, &mut self.v6, now, budget.saturating_sub(n));
        if self
            .core
            .totals
            .estimator
            .next_at()
            .is_none_or(|t| t <= now)
        {
            self.core.totals.estimate(now);
            for svc in self.core.services.iter_mut() {
                svc.state.stats.estimate(now);
                svc.for_each_server_mut(|r| r.stats.estimate(now));
            }
        }
        n
    }

    /// Zero all counters and rates (`ipvsadm -Z`).
    pub fn zero_counters(&mut self) {
        self.core.totals.zero();
        for svc in self.core.services.iter_mut() {
            svc.state.stats.zero();
            svc.for_each_server_mut(|r| r.stats.zero());
        }
    }

    /// Zero one service's counters and rates and those of its real servers
    /// (`ipvsadm -Z -t VIP:port`).
    pub fn zero_service_counters(&mut self, key: &ServiceKey) -> Result<(), ConfigError> {
        let svc = self.service_mut(key)?;
        svc.state.stats.zero();
        svc.for_each_server_mut(|r| r.stats.zero());
        Ok(())
    }
}

#[cfg(test)]
mod tests;
