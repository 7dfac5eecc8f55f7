//! A live service: real servers in stable slots, IPVS list order, a scheduler.
//!
//! Removal follows IPVS's "trash": a real server that connections or
//! templates still refer to leaves the list (no new connections) but keeps
//! its slot, so those connections keep forwarding to it and its counters
//! stay right; the slot is freed once the last reference goes. Adding the same
//! address again revives it.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;

use super::{ServiceConfig, ServiceState};
use crate::addr::Flow;
use crate::real_server::{MAX_WEIGHT, RealServer, RealServerConfig};
use crate::scheduler::{DestChange, DestId, DestView, Scheduler};

/// Why a change to a service's real servers was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceError {
    /// The address is already a real server of this service.
    Exists(SocketAddr),
    /// No real server with this address.
    NotFound(SocketAddr),
    /// Weight above 65535.
    WeightOutOfRange(u32),
    /// Lower threshold above the upper threshold (IPVS: ERANGE).
    ThresholdRange {
        /// Upper threshold.
        upper: u32,
        /// Lower threshold.
        lower: u32,
    },
    /// The real server's family differs from the service's and the method is
    /// not a tunnel (IPVS allows mixed families only for tunnels).
    FamilyMismatch(SocketAddr),
    /// More than 65535 real servers.
    Full,
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceError::Exists(a) => write!(f, "real server {a} already exists"),
            ServiceError::NotFound(a) => write!(f, "no real server {a}"),
            ServiceError::WeightOutOfRange(w) => write!(f, "weight {w} is above 65535"),
            ServiceError::ThresholdRange { upper, lower } => {
                write!(
                    f,
                    "lower threshold {lower} is above upper threshold {upper}"
                )
            }
            ServiceError::FamilyMismatch(a) => {
                write!(f, "{a}: mixed address families need the tunnel method")
            }
            ServiceError::Full => f.write_str("too many real servers"),
        }
    }
}

/// A virtual service with its real servers and scheduler.
pub struct Service {
    /// The configuration.
    pub config: ServiceConfig,
    /// Counters and rates.
    pub state: ServiceState,
    slots: Vec<RealServer>,
    order: Vec<DestId>,
    free: Vec<DestId>,
    in_use: Vec<bool>,
    scheduler: Box<dyn Scheduler>,
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("config", &self.config)
            .field("scheduler", &self.scheduler.name())
            .field("servers", &self.order.len())
            .finish()
    }
}

fn validate(cfg: &RealServerConfig, svc: &ServiceConfig) -> Result<(), ServiceError> {
    if cfg.weight > MAX_WEIGHT {
        return Err(ServiceError::WeightOutOfRange(cfg.weight));
    }
    if cfg.lower_threshold > cfg.upper_threshold && cfg.upper_threshold != 0 {
        return Err(ServiceError::ThresholdRange {
            upper: cfg.upper_threshold,
            lower: cfg.lower_threshold,
        });
    }
    let same_family = crate::addr::Family::of(&cfg.addr.ip()) == svc.key.family();
    let tunnel = matches!(
        cfg.forwarding,
        crate::real_server::Forwarding::Tunnel { .. }
    );
    if !same_family && !tunnel {
        return Err(ServiceError::FamilyMismatch(cfg.addr));
    }
    Ok(())
}

impl Service {
    /// A service with no real servers.
    pub fn new(config: ServiceConfig, scheduler: Box<dyn Scheduler>) -> Self {
        Service {
            config,
            state: ServiceState::default(),
            slots: Vec::new(),
            order: Vec::new(),
            free: Vec::new(),
            in_use: Vec::new(),
            scheduler,
        }
    }

    /// The scheduler's name.
    pub fn scheduler_name(&self) -> &'static str {
        self.scheduler.name()
    }

    /// Replace the scheduler (`ipvsadm -E -s`); it is rebuilt from the list.
    pub fn set_scheduler(&mut self, mut scheduler: Box<dyn Scheduler>) {
        scheduler.update(DestView::new(&self.slots, &self.order), DestChange::Reset);
        self.scheduler = scheduler;
    }

    /// The scheduler's view of the real servers.
    pub fn view(&self) -> DestView<'_> {
        DestView::new(&self.slots, &self.order)
    }

    /// Real servers in list order (newest first), with their ids.
    pub fn servers(&self) -> impl Iterator<Item = (DestId, &RealServer)> + '_ {
        self.view().iter()
    }

    /// Number of real servers in the list (not counting removed ones still referenced).
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when the list is empty.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The real server in a slot (also a removed one still referenced).
    #[inline]
    pub fn server(&self, id: DestId) -> Option<&RealServer> {
        if *self.in_use.get(id.index())? {
            self.slots.get(id.index())
        } else {
            None
        }
    }

    /// Mutable access to the real server in a slot.
    #[inline]
    pub fn server_mut(&mut self, id: DestId) -> Option<&mut RealServer> {
        if *self.in_use.get(id.index())? {
            self.slots.get_mut(id.index())
        } else {
            None
        }
    }

    /// The service's counters and the real server in a slot, both mutable
    /// (for the packet path, which counts a packet in both).
    #[inline]
    pub fn stats_and_server_mut(
        &mut self,
        id: DestId,
    ) -> Option<(&mut crate::stats::Stats, &mut RealServer)> {
        if *self.in_use.get(id.index())? {
            Some((&mut self.state.stats, self.slots.get_mut(id.index())?))
        } else {
            None
        }
    }

    /// Call `f` on every listed real server, in list order.
    pub fn for_each_server_mut(&mut self, mut f: impl FnMut(&mut RealServer)) {
        for id in &self.order {
            if let Some(r) = self.slots.get_mut(id.index()) {
                f(r);
            }
        }
    }

    /// The listed real server with this address.
    pub fn find(&self, addr: SocketAddr) -> Option<DestId> {
        self.order.iter().copied().find(|id| {
            self.slots
                .get(id.index())
                .is_some_and(|r| r.config.addr == addr)
        })
    }

    fn find_trashed(&self, addr: SocketAddr) -> Option<DestId> {
        (0..self.slots.len()).find_map(|i| {
            let r = &self.slots[i];
            (self.in_use[i] && !r.available && r.config.addr == addr).then_some(DestId(i as u16))
        })
    }

    /// Add a real server at the head of the list, as IPVS does. A removed
    /// server with the same address that connections still use is revived.
    pub fn add_server(&mut self, cfg: RealServerConfig) -> Result<DestId, ServiceError> {
        validate(&cfg, &self.config)?;
        if self.find(cfg.addr).is_some() {
            return Err(ServiceError::Exists(cfg.addr));
        }
        let id = if let Some(id) = self.find_trashed(cfg.addr) {
            let r = &mut self.slots[id.index()];
            r.config = cfg;
            r.available = true;
            r.set_weight(cfg.weight);
            r.refresh_overload();
            id
        } else if let Some(id) = self.free.pop() {
            self.slots[id.index()] = RealServer::new(cfg);
            self.in_use[id.index()] = true;
            id
        } else {
            let n = self.slots.len();
            if n >= usize::from(u16::MAX) {
                return Err(ServiceError::Full);
            }
            self.slots.push(RealServer::new(cfg));
            self.in_use.push(true);
            DestId(n as u16)
        };
        self.order.insert(0, id);
        self.scheduler.update(
            DestView::new(&self.slots, &self.order),
            DestChange::Added { pos: 0 },
        );
        Ok(id)
    }

    /// Change a real server's weight, thresholds or method (`ipvsadm -e`).
    /// Its connections stay where they are.
    pub fn edit_server(&mut self, cfg: RealServerConfig) -> Result<DestId, ServiceError> {
        validate(&cfg, &self.config)?;
        let pos = self
            .order
            .iter()
            .position(|id| self.slots[id.index()].config.addr == cfg.addr)
            .ok_or(ServiceError::NotFound(cfg.addr))?;
        let id = self.order[pos];
        let r = &mut self.slots[id.index()];
        r.config = cfg;
        r.set_weight(cfg.weight);
        r.refresh_overload();
        self.scheduler.update(
            DestView::new(&self.slots, &self.order),
            DestChange::Edited { pos },
        );
        Ok(id)
    }

    /// Set only the weight of a listed real server (health checks use this).
    pub fn set_weight(&mut self, addr: SocketAddr, weight: u32) -> Result<DestId, ServiceError> {
        let id = self.find(addr).ok_or(ServiceError::NotFound(addr))?;
        let mut cfg = self.slots[id.index()].config;
        cfg.weight = weight;
        self.edit_server(cfg)
    }

    /// Remove a real server from the list (`ipvsadm -d`). Connections that use
    /// it keep its slot until they end (see [`Service::release`]).
    pub fn remove_server(&mut self, addr: SocketAddr) -> Result<DestId, ServiceError> {
        let pos = self
            .order
            .iter()
            .position(|id| self.slots[id.index()].config.addr == addr)
            .ok_or(ServiceError::NotFound(addr))?;
        let id = self.order.remove(pos);
        self.slots[id.index()].available = false;
        self.scheduler.update(
            DestView::new(&self.slots, &self.order),
            DestChange::Removed { pos, id },
        );
        self.release(id);
        Ok(id)
    }

    /// Free a removed real server's slot if nothing refers to it any more.
    /// Call after unbinding a connection or template from `id`.
    pub fn release(&mut self, id: DestId) {
        let i = id.index();
        if let (Some(r), Some(used)) = (self.slots.get(i), self.in_use.get(i))
            && *used
            && !r.available
            && r.active_conns == 0
            && r.inactive_conns == 0
            && r.persistent_conns == 0
        {
            self.in_use[i] = false;
            self.free.push(id);
        }
    }

    /// Ask the scheduler for a real server for `flow`.
    #[inline]
    pub fn pick(&mut self, flow: &Flow) -> Option<DestId> {
        let view = DestView::new(&self.slots, &self.order);
        let id = self.scheduler.pick(view, flow)?;
        // Defence in depth: a scheduler bug must not put a connection on an
        // unavailable, quiescent or overloaded server.
        view.get(id).filter(|r| r.schedulable()).map(|_| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Protocol;
    use crate::real_server::Forwarding;
    use core::net::{IpAddr, Ipv4Addr};

    /// First schedulable server in list order: enough to test the container.
    struct First;
    impl Scheduler for First {
        fn name(&self) -> &'static str {
            "first"
        }
        fn pick(&mut self, dests: DestView<'_>, _flow: &Flow) -> Option<DestId> {
            dests
                .iter()
                .find(|(_, r)| r.schedulable())
                .map(|(id, _)| id)
        }
        fn update(&mut self, _dests: DestView<'_>, _change: DestChange) {}
    }

    fn addr(last: u8) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, last)), 80)
    }

    fn svc() -> Service {
        Service::new(ServiceConfig::tcp(addr(1)), Box::new(First))
    }

    fn flow() -> Flow {
        Flow {
            protocol: Protocol::Tcp,
            client: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)), 4000),
            vip: addr(1),
            fwmark: 0,
        }
    }

    #[test]
    fn newest_first_and_duplicates_refused() {
        let mut s = svc();
        let a = s.add_server(RealServerConfig::new(addr(2))).unwrap();
        let b = s.add_server(RealServerConfig::new(addr(3))).unwrap();
        assert_eq!(s.view().order(), &[b, a]);
        assert_eq!(
            s.add_server(RealServerConfig::new(addr(2))),
            Err(ServiceError::Exists(addr(2)))
        );
        assert_eq!(s.pick(&flow()), Some(b));
    }

    #[test]
    fn removed_server_with_connections_stays_in_trash() {
        let mut s = svc();
        let a = s.add_server(RealServerConfig::new(addr(2))).unwrap();
        s.server_mut(a).unwrap().bind_conn(true);
        s.remove_server(addr(2)).unwrap();
        assert!(s.is_empty());
        assert!(s.server(a).is_some(), "kept while referenced");
        assert_eq!(s.pick(&flow()), None);
        // Re-adding revives the same slot with its counters.
        let a2 = s
            .add_server(RealServerConfig::new(addr(2)).weight(5))
            .unwrap();
        assert_eq!(a2, a);
        assert_eq!(s.server(a).unwrap().active_conns, 1);
        s.remove_server(addr(2)).unwrap();
        s.server_mut(a).unwrap().unbind_conn(true);
        s.release(a);
        assert!(s.server(a).is_none(), "freed after the last reference");
        let c = s.add_server(RealServerConfig::new(addr(4))).unwrap();
        assert_eq!(c, a, "slot reused");
    }

    #[test]
    fn validation() {
        let mut s = svc();
        assert_eq!(
            s.add_server(RealServerConfig::new(addr(2)).weight(70_000)),
            Err(ServiceError::WeightOutOfRange(70_000))
        );
        assert!(matches!(
            s.add_server(RealServerConfig::new(addr(2)).thresholds(5, 9)),
            Err(ServiceError::ThresholdRange { .. })
        ));
        let v6: SocketAddr = "[2001:db8::2]:80".parse().unwrap();
        assert_eq!(
            s.add_server(RealServerConfig::new(v6)),
            Err(ServiceError::FamilyMismatch(v6))
        );
        let tun = Forwarding::Tunnel {
            kind: Default::default(),
            csum: Default::default(),
        };
        assert!(
            s.add_server(RealServerConfig::new(v6).forwarding(tun))
                .is_ok()
        );
    }

    #[test]
    fn weight_zero_is_not_picked() {
        let mut s = svc();
        s.add_server(RealServerConfig::new(addr(2))).unwrap();
        s.set_weight(addr(2), 0).unwrap();
        assert_eq!(s.pick(&flow()), None);
    }
}
