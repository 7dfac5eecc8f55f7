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

mod services;
mod settings;

pub use services::{ServiceId, Services, ServicesError};
pub use settings::{ConnReuseMode, Settings};

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::addr::{Flow, Protocol, mask_addr};
use crate::conn::{
    ConnAddr, ConnFlags, ConnHandle, ConnTable, Connection, Direction, InsertError, Slot,
    TcpEvent, TcpState, transition,
};
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

/// A template that still controls connections when it times out is given
/// this much more time (IPVS re-arms the timer with 60 s).
pub const TEMPLATE_REARM_MS: u32 = 60_000;

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
        }
    }
}

/// Everything but the tables, so the per-family code can borrow a table and
/// this at once.
#[derive(Debug)]
struct Core {
    services: Services,
    settings: Settings,
    totals: Stats,
    counters: BalancerCounters,
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
    pub fn new(capacity: usize, capacity_v6: usize, seed: u64) -> Self {
        Balancer {
            core: Core {
                services: Services::new(),
                settings: Settings::default(),
                totals: Stats::default(),
                counters: BalancerCounters::default(),
            },
            v4: ConnTable::with_capacity(capacity, seed),
            v6: ConnTable::with_capacity(capacity_v6, seed ^ 0x9e37_79b9_7f4a_7c15),
        }
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
        Ok(self.core.services.add(config, scheduler)?)
    }

    /// Change a service's persistence, netmask, flags and scheduler
    /// (`ipvsadm -E`). Existing connections stay where they are.
    pub fn edit_service(
        &mut self,
        config: ServiceConfig,
        scheduler: Option<Box<dyn Scheduler>>,
    ) -> Result<ServiceId, ConfigError> {
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
        Ok(self.service_mut(key)?.add_server(cfg)?)
    }

    /// Edit a real server (weight, thresholds, method). Its connections stay.
    pub fn edit_real_server(
        &mut self,
        key: &ServiceKey,
        cfg: RealServerConfig,
    ) -> Result<DestId, ConfigError> {
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

    /// Mutable access to a service by id (for embedders that keep ids).
    pub fn service_by_id_mut(&mut self, id: ServiceId) -> Option<&mut Service> {
        self.core.services.get_mut(id)
    }

    // ----- packets -------------------------------------------------------

    /// A packet from a client (or anyone) to `info.dst`: find its connection
    /// or make one, run the state machine, count it.
    #[inline]
    pub fn process_in(&mut self, now: Instant, info: &PacketInfo) -> Result<Target, Miss> {
        match (info.src.ip(), info.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => in_packet(&mut self.core, &mut self.v4, now, info, s, d),
            (IpAddr::V6(s), IpAddr::V6(d)) => in_packet(&mut self.core, &mut self.v6, now, info, s, d),
            _ => Err(Miss::FamilyMismatch),
        }
    }

    /// A packet from `info.src` to `info.dst` that may be a real server's
    /// reply to a NAT connection. `None` when it is not.
    #[inline]
    pub fn process_out(&mut self, now: Instant, info: &PacketInfo) -> Option<Reply> {
        match (info.src.ip(), info.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => out_packet(&mut self.core, &mut self.v4, now, info, s, d),
            (IpAddr::V6(s), IpAddr::V6(d)) => out_packet(&mut self.core, &mut self.v6, now, info, s, d),
            _ => None,
        }
    }

    /// The connection of `client` to `vip`, without touching its state (for
    /// ICMP errors from the client side, which quote our reply VIP -> client).
    pub fn find_in(&self, protocol: Protocol, client: SocketAddr, vip: SocketAddr) -> Option<Target> {
        match (client.ip(), vip.ip()) {
            (IpAddr::V4(c), IpAddr::V4(v)) => find_in(&self.core, &self.v4, protocol, client, vip, c, v),
            (IpAddr::V6(c), IpAddr::V6(v)) => find_in(&self.core, &self.v6, protocol, client, vip, c, v),
            _ => None,
        }
    }

    /// The NAT connection between real server `rs` and `client`, seen from
    /// the real server's side, without touching its state (for ICMP errors
    /// a real server sends about a packet it got from the client).
    pub fn find_out(&self, protocol: Protocol, rs: SocketAddr, client: SocketAddr) -> Option<Reply> {
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
}

fn sock<A: ConnAddr>(a: A, port: u16) -> SocketAddr {
    SocketAddr::new(a.to_ip(), port)
}

fn ports(info: &PacketInfo) -> (u16, u16) {
    (info.src.port(), info.dst.port())
}

/// Is this packet allowed to create a connection?
fn may_schedule(core: &Core, info: &PacketInfo) -> bool {
    match info.protocol {
        Protocol::Tcp => {
            core.settings.sloppy_tcp
                || (info.tcp_flags & tcp_flags::SYN != 0 && info.tcp_flags & tcp_flags::RST == 0)
        }
        Protocol::Udp | Protocol::Sctp => true,
    }
}

fn is_syn(info: &PacketInfo) -> bool {
    info.protocol == Protocol::Tcp
        && info.tcp_flags & tcp_flags::SYN != 0
        && info.tcp_flags & tcp_flags::RST == 0
}

fn in_packet<A: ConnAddr>(
    core: &mut Core,
    table: &mut ConnTable<A, Vec<Slot<A>>>,
    now: Instant,
    info: &PacketInfo,
    caddr: A,
    vaddr: A,
) -> Result<Target, Miss> {
    let (cport, vport) = ports(info);
    let proto = info.protocol.number();
    if let Some(h) = table.lookup_in(proto, caddr, cport, vaddr, vport) {
        match existing(core, table, now, info, h) {
            Ok(t) => return Ok(t),
            Err(Some(miss)) => return Err(miss),
            // The old entry was expired: schedule afresh below.
            Err(None) => {}
        }
    }
    let sid = core
        .services
        .lookup(info.protocol, info.dst, info.fwmark)
        .ok_or(Miss::NotVirtual)?;
    if !may_schedule(core, info) {
        return Err(Miss::NotScheduled);
    }
    schedule(core, table, now, info, sid, caddr, vaddr)
}

/// Handle a packet of an existing entry. `Err(None)` means the entry was
/// expired and the packet should be scheduled as new.
fn existing<A: ConnAddr>(
    core: &mut Core,
    table: &mut ConnTable<A, Vec<Slot<A>>>,
    now: Instant,
    info: &PacketInfo,
    h: ConnHandle,
) -> Result<Target, Option<Miss>> {
    let conn = *table.get(h).ok_or(None)?;
    let sid = ServiceId(conn.service);
    let did = DestId(conn.dest);
    let (dest_ok, dest_weight) = core
        .services
        .get(sid)
        .and_then(|s| s.server(did))
        .map_or((false, 0), |r| (r.available, r.weight()));

    // conn_reuse_mode: a new SYN over an old, uncontrolled, closing entry.
    if is_syn(info) && conn.control.is_none() && core.settings.conn_reuse_mode.0 != 0 {
        let st = TcpState::from_u8(conn.state);
        let reuse = matches!(st, Some(TcpState::TimeWait | TcpState::Close))
            || (core.settings.conn_reuse_mode.0 & ConnReuseMode::FIN_WAIT_ONE_WAY != 0
                && st == Some(TcpState::FinWait)
                && conn.flags.has(ConnFlags::NO_OUTPUT));
        if reuse {
            drop_conn(core, table, h);
            core.counters.rescheduled += 1;
            return Err(None);
        }
    }
    if !dest_ok {
        if core.settings.expire_nodest_conn {
            drop_conn(core, table, h);
            core.counters.rescheduled += 1;
            return Err(None);
        }
        core.counters.dest_unavailable += 1;
        return Err(Some(Miss::DestUnavailable));
    }
    if core.settings.expire_nodest_conn && dest_weight == 0 && is_syn(info) {
        drop_conn(core, table, h);
        core.counters.rescheduled += 1;
        return Err(None);
    }
    let dir = if conn.flags.has(ConnFlags::NO_OUTPUT) {
        Direction::InputOnly
    } else {
        Direction::Input
    };
    step_state(core, table, now, h, dir, info);
    if let Some(c) = table.get_mut(h) {
        c.in_pkts = c.in_pkts.saturating_add(1);
    }
    count_in(core, sid, did, info.ip_len);
    target_of(core, table, h, false).ok_or(Some(Miss::DestUnavailable))
}

fn count_in(core: &mut Core, sid: ServiceId, did: DestId, len: u16) {
    let bytes = u64::from(len);
    core.totals.count_in(bytes);
    if let Some(s) = core.services.get_mut(sid) {
        s.state.stats.count_in(bytes);
        if let Some(r) = s.server_mut(did) {
            r.stats.count_in(bytes);
        }
    }
}

fn count_out(core: &mut Core, sid: ServiceId, did: DestId, len: u16) {
    let bytes = u64::from(len);
    core.totals.count_out(bytes);
    if let Some(s) = core.services.get_mut(sid) {
        s.state.stats.count_out(bytes);
        if let Some(r) = s.server_mut(did) {
            r.stats.count_out(bytes);
        }
    }
}

fn count_conn(core: &mut Core, sid: ServiceId, did: DestId) {
    core.totals.count_conn();
    if let Some(s) = core.services.get_mut(sid) {
        s.state.stats.count_conn();
        if let Some(r) = s.server_mut(did) {
            r.stats.count_conn();
        }
    }
}

fn target_of<A: ConnAddr>(
    core: &Core,
    table: &ConnTable<A, Vec<Slot<A>>>,
    h: ConnHandle,
    new: bool,
) -> Option<Target> {
    let c = table.get(h)?;
    let sid = ServiceId(c.service);
    let did = DestId(c.dest);
    let r = core.services.get(sid)?.server(did)?;
    let real_server = if c.flags.has(ConnFlags::MIXED_FAMILY) {
        SocketAddr::new(r.config.addr.ip(), c.dport)
    } else {
        sock(c.daddr, c.dport)
    };
    Some(Target {
        conn: h,
        service: sid,
        dest: did,
        real_server,
        method: method_of(c.flags),
        forwarding: r.config.forwarding,
        new,
    })
}

/// Run the TCP state machine for one packet and keep the real server's
/// active/inactive counts in step; refresh the timeout.
fn step_state<A: ConnAddr>(
    core: &mut Core,
    table: &mut ConnTable<A, Vec<Slot<A>>>,
    now: Instant,
    h: ConnHandle,
    dir: Direction,
    info: &PacketInfo,
) {
    let Some(c) = table.get(h) else { return };
    let flags = c.flags;
    let (timeout, new_state) = if info.protocol == Protocol::Tcp {
        let from = TcpState::from_u8(c.state).unwrap_or(TcpState::None);
        let to = transition(
            core.settings.secure_tcp,
            dir,
            TcpEvent::from_flags(info.tcp_flags),
            from,
        );
        (core.settings.timeouts.tcp(to), to as u8)
    } else {
        (core.settings.timeouts.udp(), c.state)
    };
    let was_active = !flags.has(ConnFlags::INACTIVE);
    let now_active = info.protocol == Protocol::Tcp
        && TcpState::from_u8(new_state).is_some_and(TcpState::is_active);
    let (sid, did) = (ServiceId(c.service), DestId(c.dest));
    if was_active != now_active {
        if let Some(r) = core.services.get_mut(sid).and_then(|s| s.server_mut(did)) {
            r.set_conn_active(was_active, now_active);
        }
    }
    if let Some(c) = table.get_mut(h) {
        c.state = new_state;
        c.flags.set(ConnFlags::INACTIVE, !now_active);
        if dir == Direction::Output {
            c.flags.set(ConnFlags::NO_OUTPUT, false);
        }
    }
    table.set_timeout(h, now, timeout);
}

#[allow(clippy::too_many_arguments)]
fn schedule<A: ConnAddr>(
    core: &mut Core,
    table: &mut ConnTable<A, Vec<Slot<A>>>,
    now: Instant,
    info: &PacketInfo,
    sid: ServiceId,
    caddr: A,
    vaddr: A,
) -> Result<Target, Miss> {
    let (cport, vport) = ports(info);
    let proto = info.protocol.number();
    let settings = core.settings;
    let svc = core.services.get_mut(sid).ok_or(Miss::NotVirtual)?;
    let cfg = svc.config;
    let flow = Flow {
        protocol: info.protocol,
        client: info.src,
        vip: info.dst,
        fwmark: info.fwmark,
    };
    let port_zero = matches!(cfg.key, ServiceKey::Addr { vip, .. } if vip.port() == 0);
    if port_zero && cfg.persistence_secs.is_none() {
        return Err(Miss::PortZeroNotPersistent);
    }

    // Persistence: reuse the client network's template if it is still good.
    let mut template = ConnHandle::NONE;
    let mut did = None;
    if let Some(psecs) = cfg.persistence_secs {
        let (tproto, tvaddr, tvport) = template_key::<A>(&cfg, proto, vaddr, vport);
        let snet = A::from_ip(mask_addr(&caddr.to_ip(), cfg.netmask_prefix)).unwrap_or(caddr);
        if let Some(th) = table.lookup_template(tproto, snet, tvaddr, tvport) {
            let t = table.get(th).copied();
            let good = t.and_then(|t| {
                let r = svc.server(DestId(t.dest))?;
                let ok = r.available
                    && !(settings.expire_quiescent_template && r.weight() == 0);
                ok.then_some(DestId(t.dest))
            });
            match good {
                Some(d) => {
                    template = th;
                    did = Some(d);
                }
                None => {
                    // Invalidate: the template goes, its connections keep
                    // their real servers (their control link is checked on use).
                    if let Some(t) = table.remove(th) {
                        if let Some(r) = svc.server_mut(DestId(t.dest)) {
                            r.persistent_conns = r.persistent_conns.saturating_sub(1);
                        }
                        svc.release(DestId(t.dest));
                    }
                }
            }
        }
        if did.is_none() {
            let d = svc.pick(&flow).ok_or(Miss::NoDestination);
            let d = match d {
                Ok(d) => d,
                Err(m) => {
                    core.counters.no_destination += 1;
                    return Err(m);
                }
            };
            let r = svc.server(d).ok_or(Miss::NoDestination)?;
            let dport = if tvport == 0 { 0 } else { dest_port(r.config.addr.port(), vport) };
            let daddr = A::from_ip(r.config.addr.ip());
            let mut flags = ConnFlags(ConnFlags::TEMPLATE | fwd_bits(&r.config.forwarding));
            if daddr.is_none() {
                flags.set(ConnFlags::MIXED_FAMILY, true);
            }
            let timeout = psecs.saturating_mul(1000);
            let t = Connection {
                caddr: snet,
                vaddr: tvaddr,
                daddr: daddr.unwrap_or(A::UNSPECIFIED),
                cport: 0,
                vport: tvport,
                dport,
                protocol: tproto,
                state: 0,
                flags,
                service: sid.0,
                dest: d.0,
                control: ConnHandle::NONE,
                n_control: 0,
                in_pkts: 0,
                timeout_ms: timeout,
                expires: now + core::time::Duration::from_millis(u64::from(timeout)),
            };
            match insert_with_room(core, table, t) {
                Ok(th) => {
                    template = th;
                    did = Some(d);
                    if let Some(r) = core
                        .services
                        .get_mut(sid)
                        .and_then(|s| s.server_mut(d))
                    {
                        r.persistent_conns = r.persistent_conns.saturating_add(1);
                    }
                }
                Err(m) => return Err(m),
            }
        }
    }

    let svc = core.services.get_mut(sid).ok_or(Miss::NotVirtual)?;
    let did = match did {
        Some(d) => d,
        None => match svc.pick(&flow) {
            Some(d) => d,
            None => {
                core.counters.no_destination += 1;
                return Err(Miss::NoDestination);
            }
        },
    };
    let r = svc.server(did).ok_or(Miss::NoDestination)?;
    let rcfg = r.config;
    let dport = dest_port(rcfg.addr.port(), vport);
    let daddr = A::from_ip(rcfg.addr.ip());
    let mut flags = ConnFlags(ConnFlags::INACTIVE | fwd_bits(&rcfg.forwarding));
    if rcfg.forwarding.is_one_way() {
        flags.set(ConnFlags::NO_OUTPUT, true);
    }
    if daddr.is_none() {
        flags.set(ConnFlags::MIXED_FAMILY, true);
    }
    let one_packet = cfg.one_packet && info.protocol == Protocol::Udp;

    count_conn(core, sid, did);
    if one_packet {
        // OPS: one scheduling decision per datagram, nothing kept.
        count_in(core, sid, did, info.ip_len);
        if !template.is_none()
            && let Some(t) = table.get_mut(template)
        {
            t.in_pkts = t.in_pkts.saturating_add(1);
            let to = t.timeout_ms;
            table.set_timeout(template, now, to);
        }
        return Ok(Target {
            conn: ConnHandle::NONE,
            service: sid,
            dest: did,
            real_server: SocketAddr::new(rcfg.addr.ip(), dport),
            method: method_of(flags),
            forwarding: rcfg.forwarding,
            new: true,
        });
    }

    let initial = core.settings.timeouts.tcp(TcpState::None);
    let conn = Connection {
        caddr,
        vaddr,
        daddr: daddr.unwrap_or(A::UNSPECIFIED),
        cport,
        vport,
        dport,
        protocol: proto,
        state: TcpState::None as u8,
        flags,
        service: sid.0,
        dest: did.0,
        control: template,
        n_control: 0,
        in_pkts: 0,
        timeout_ms: initial,
        expires: now + core::time::Duration::from_millis(u64::from(initial)),
    };
    let h = insert_with_room(core, table, conn)?;
    if let Some(r) = core.services.get_mut(sid).and_then(|s| s.server_mut(did)) {
        r.bind_conn(false);
    }
    if !template.is_none()
        && let Some(t) = table.get_mut(template)
    {
        t.n_control = t.n_control.saturating_add(1);
        let to = t.timeout_ms;
        table.set_timeout(template, now, to);
    }
    let dir = if flags.has(ConnFlags::NO_OUTPUT) {
        Direction::InputOnly
    } else {
        Direction::Input
    };
    step_state(core, table, now, h, dir, info);
    if let Some(c) = table.get_mut(h) {
        c.in_pkts = 1;
    }
    count_in(core, sid, did, info.ip_len);
    target_of(core, table, h, true).ok_or(Miss::NoDestination)
}

/// The real server's port: its own, or the packet's when it is 0 (fwmark
/// services with port-less real servers).
fn dest_port(rs_port: u16, vport: u16) -> u16 {
    if rs_port == 0 { vport } else { rs_port }
}

/// The template key of IPVS `ip_vs_sched_persist`: (protocol, vaddr, vport),
/// with vport 0 for port-0 services and (0, mark, 0) for fwmark services.
fn template_key<A: ConnAddr>(cfg: &ServiceConfig, proto: u8, vaddr: A, vport: u16) -> (u8, A, u16) {
    match cfg.key {
        ServiceKey::Fwmark { mark, .. } => {
            let a = match vaddr.to_ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(mark)),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(u128::from(mark))),
            };
            (0, A::from_ip(a).unwrap_or(vaddr), 0)
        }
        ServiceKey::Addr { vip, .. } if vip.port() == 0 => (proto, vaddr, 0),
        ServiceKey::Addr { .. } => (proto, vaddr, vport),
    }
}

/// Insert, shedding a half-open entry first if the table is full and
/// `drop_entry` is on.
fn insert_with_room<A: ConnAddr>(
    core: &mut Core,
    table: &mut ConnTable<A, Vec<Slot<A>>>,
    conn: Connection<A>,
) -> Result<ConnHandle, Miss> {
    match table.insert(conn) {
        Ok(h) => Ok(h),
        Err(InsertError::Full) if core.settings.drop_entry => {
            if let Some((_, victim)) = table.evict_half_open() {
                unbind(core, table, &victim);
                core.counters.evicted_half_open += 1;
                table.insert(conn).map_err(|_| {
                    core.counters.refused_table_full += 1;
                    Miss::TableFull
                })
            } else {
                core.counters.refused_table_full += 1;
                Err(Miss::TableFull)
            }
        }
        Err(_) => {
            core.counters.refused_table_full += 1;
            Err(Miss::TableFull)
        }
    }
}

/// Remove an entry now and undo its accounting.
fn drop_conn<A: ConnAddr>(core: &mut Core, table: &mut ConnTable<A, Vec<Slot<A>>>, h: ConnHandle) {
    if let Some(c) = table.remove(h) {
        unbind(core, table, &c);
    }
}

/// Undo a removed entry's accounting: real-server counters, the controlling
/// template's count, and the real server's trash slot.
fn unbind<A: ConnAddr>(core: &mut Core, table: &mut ConnTable<A, Vec<Slot<A>>>, c: &Connection<A>) {
    let sid = ServiceId(c.service);
    let did = DestId(c.dest);
    if let Some(svc) = core.services.get_mut(sid) {
        if let Some(r) = svc.server_mut(did) {
            if c.flags.has(ConnFlags::TEMPLATE) {
                r.persistent_conns = r.persistent_conns.saturating_sub(1);
            } else {
                r.unbind_conn(!c.flags.has(ConnFlags::INACTIVE));
            }
        }
        svc.release(did);
    }
    if !c.control.is_none()
        && let Some(t) = table.get_mut(c.control)
        // The handle may have been reused after the template was invalidated:
        // only a template of the same service and real server is ours.
        && t.flags.has(ConnFlags::TEMPLATE)
        && t.service == c.service
        && t.dest == c.dest
    {
        t.n_control = t.n_control.saturating_sub(1);
    }
}

fn expire<A: ConnAddr>(
    core: &mut Core,
    table: &mut ConnTable<A, Vec<Slot<A>>>,
    now: Instant,
    budget: usize,
) -> usize {
    let mut removed = 0;
    for _ in 0..budget {
        let Some(h) = table.pop_expired(now) else { break };
        let Some(c) = table.get(h).copied() else { break };
        if c.flags.has(ConnFlags::TEMPLATE) && c.n_control > 0 {
            table.set_timeout(h, now, TEMPLATE_REARM_MS);
            continue;
        }
        drop_conn(core, table, h);
        core.counters.expired += 1;
        removed += 1;
    }
    removed
}

fn purge_service<A: ConnAddr>(table: &mut ConnTable<A, Vec<Slot<A>>>, sid: u16) {
    let doomed: Vec<ConnHandle> = table
        .iter()
        .filter(|(_, c)| c.service == sid)
        .map(|(h, _)| h)
        .collect();
    for h in doomed {
        table.remove(h);
    }
}

fn out_packet<A: ConnAddr>(
    core: &mut Core,
    table: &mut ConnTable<A, Vec<Slot<A>>>,
    now: Instant,
    info: &PacketInfo,
    daddr: A,
    caddr: A,
) -> Option<Reply> {
    let (dport, cport) = ports(info);
    let h = table.lookup_out(info.protocol.number(), daddr, dport, caddr, cport)?;
    let c = *table.get(h)?;
    step_state(core, table, now, h, Direction::Output, info);
    count_out(core, ServiceId(c.service), DestId(c.dest), info.ip_len);
    Some(Reply {
        conn: h,
        vip: sock(c.vaddr, c.vport),
    })
}

#[allow(clippy::too_many_arguments)]
fn find_in<A: ConnAddr>(
    core: &Core,
    table: &ConnTable<A, Vec<Slot<A>>>,
    protocol: Protocol,
    client: SocketAddr,
    vip: SocketAddr,
    caddr: A,
    vaddr: A,
) -> Option<Target> {
    let h = table.lookup_in(protocol.number(), caddr, client.port(), vaddr, vip.port())?;
    target_of(core, table, h, false)
}

fn find_out<A: ConnAddr>(
    table: &ConnTable<A, Vec<Slot<A>>>,
    protocol: Protocol,
    rs: SocketAddr,
    client: SocketAddr,
    daddr: A,
    caddr: A,
) -> Option<Reply> {
    let h = table.lookup_out(protocol.number(), daddr, rs.port(), caddr, client.port())?;
    let c = table.get(h)?;
    Some(Reply {
        conn: h,
        vip: sock(c.vaddr, c.vport),
    })
}

#[cfg(test)]
mod tests;
