//! The set of virtual services and how a packet finds its service.
//!
//! Services live in stable slots (a [`ServiceId`] stays valid while the
//! service exists, so connections can name it in two bytes). Lookup goes
//! through a sorted index, searched in IPVS's order: firewall mark first,
//! then the exact (protocol, VIP, port), then the port-0 wildcard service.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::net::SocketAddr;

use crate::addr::{Family, Protocol};
use crate::scheduler::Scheduler;
use crate::service::{Service, ServiceConfig, ServiceKey};

/// A stable slot index of a service in a [`Services`] set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId(pub u16);

/// Why a service could not be added, found or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServicesError {
    /// A service with this key exists.
    Exists(ServiceKey),
    /// No service with this key.
    NotFound(ServiceKey),
    /// 65535 services already.
    Full,
}

impl core::fmt::Display for ServicesError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ServicesError::Exists(k) => write!(f, "service {k:?} already exists"),
            ServicesError::NotFound(k) => write!(f, "no service {k:?}"),
            ServicesError::Full => f.write_str("too many services"),
        }
    }
}

/// Up to this many services, [`Services::find`] scans instead of bisecting.
const FIND_SCAN_MAX: usize = 8;

/// All virtual services of a balancer.
#[derive(Debug, Default)]
pub struct Services {
    slots: Vec<Option<Service>>,
    /// Sorted by key, for binary search.
    index: Vec<(ServiceKey, ServiceId)>,
}

impl Services {
    /// An empty set.
    pub fn new() -> Self {
        Services::default()
    }

    /// Number of services.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when there is no service.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Add a service with its scheduler.
    pub fn add(
        &mut self,
        config: ServiceConfig,
        scheduler: Box<dyn Scheduler>,
    ) -> Result<ServiceId, ServicesError> {
        let pos = match self.index.binary_search_by(|(k, _)| k.cmp(&config.key)) {
            Ok(_) => return Err(ServicesError::Exists(config.key)),
            Err(pos) => pos,
        };
        let svc = Service::new(config, scheduler);
        let id = if let Some(i) = self.slots.iter().position(Option::is_none) {
            self.slots[i] = Some(svc);
            ServiceId(i as u16)
        } else {
            if self.slots.len() >= usize::from(u16::MAX) {
                return Err(ServicesError::Full);
            }
            self.slots.push(Some(svc));
            ServiceId((self.slots.len() - 1) as u16)
        };
        self.index.insert(pos, (config.key, id));
        Ok(id)
    }

    /// Remove a service from lookups. The caller is responsible for its
    /// connections (the balancer expires them).
    pub fn remove(&mut self, key: &ServiceKey) -> Result<Service, ServicesError> {
        let pos = self
            .index
            .binary_search_by(|(k, _)| k.cmp(key))
            .map_err(|_| ServicesError::NotFound(*key))?;
        let (_, id) = self.index.remove(pos);
        self.slots
            .get_mut(usize::from(id.0))
            .and_then(Option::take)
            .ok_or(ServicesError::NotFound(*key))
    }

    /// The service with this key.
    #[inline]
    pub fn find(&self, key: &ServiceKey) -> Option<ServiceId> {
        // A director usually has a few services. Then a scan with `==`
        // (which stops at the first differing field) is cheaper than the
        // binary search's full `Ord` comparisons of the keys; keys are
        // unique, so both find the same entry. This runs for every new
        // connection and every NAT reply (which is not for a VIP).
        if self.index.len() <= FIND_SCAN_MAX {
            return self.index.iter().find(|(k, _)| k == key).map(|e| e.1);
        }
        self.index
            .binary_search_by(|(k, _)| k.cmp(key))
            .ok()
            .map(|pos| self.index[pos].1)
    }

    /// The service in a slot.
    #[inline]
    pub fn get(&self, id: ServiceId) -> Option<&Service> {
        self.slots.get(usize::from(id.0))?.as_ref()
    }

    /// Mutable access to the service in a slot.
    #[inline]
    pub fn get_mut(&mut self, id: ServiceId) -> Option<&mut Service> {
        self.slots.get_mut(usize::from(id.0))?.as_mut()
    }

    /// Services in key order, with their ids.
    pub fn iter(&self) -> impl Iterator<Item = (ServiceId, &Service)> + '_ {
        self.index
            .iter()
            .filter_map(|(_, id)| self.get(*id).map(|s| (*id, s)))
    }

    /// Mutable iteration over all services.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Service> + '_ {
        self.slots.iter_mut().flatten()
    }

    /// The service a packet to `dst` belongs to, in IPVS's lookup order:
    /// fwmark, exact address and port, then the port-0 service (which only a
    /// persistent service may be).
    #[inline]
    pub fn lookup(&self, protocol: Protocol, dst: SocketAddr, fwmark: u32) -> Option<ServiceId> {
        if fwmark != 0 {
            let key = ServiceKey::Fwmark {
                family: Family::of(&dst.ip()),
                mark: fwmark,
            };
            if let Some(id) = self.find(&key) {
                return Some(id);
            }
        }
        if self.index.is_empty() {
            return None;
        }
        let exact = ServiceKey::Addr { protocol, vip: dst };
        if let Some(id) = self.find(&exact) {
            return Some(id);
        }
        let wildcard = ServiceKey::Addr {
            protocol,
            vip: SocketAddr::new(dst.ip(), 0),
        };
        let id = self.find(&wildcard)?;
        self.get(id)?.config.persistence_secs.map(|_| id)
    }

    /// Whether `addr` is the address of any service (for ARP/ND answers and
    /// to tell VIP traffic from host traffic).
    pub fn is_vip(&self, addr: core::net::IpAddr) -> bool {
        self.index.iter().any(|(k, _)| match k {
            ServiceKey::Addr { vip, .. } => vip.ip() == addr,
            ServiceKey::Fwmark { .. } => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Flow;
    use crate::scheduler::{DestChange, DestId, DestView};

    struct Never;
    impl Scheduler for Never {
        fn name(&self) -> &'static str {
            "never"
        }
        fn pick(&mut self, _: DestView<'_>, _: &Flow) -> Option<DestId> {
            None
        }
        fn update(&mut self, _: DestView<'_>, _: DestChange) {}
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn lookup_order() {
        let mut set = Services::new();
        let exact = set
            .add(ServiceConfig::tcp(sa("203.0.113.1:80")), Box::new(Never))
            .unwrap();
        // A non-persistent port-0 service never matches.
        let wild = set
            .add(ServiceConfig::tcp(sa("203.0.113.1:0")), Box::new(Never))
            .unwrap();
        let mark = set
            .add(
                ServiceConfig::new(ServiceKey::Fwmark {
                    family: Family::V4,
                    mark: 7,
                }),
                Box::new(Never),
            )
            .unwrap();
        assert_eq!(
            set.lookup(Protocol::Tcp, sa("203.0.113.1:80"), 0),
            Some(exact)
        );
        assert_eq!(
            set.lookup(Protocol::Tcp, sa("203.0.113.1:80"), 7),
            Some(mark)
        );
        assert_eq!(set.lookup(Protocol::Tcp, sa("203.0.113.1:81"), 0), None);
        set.get_mut(wild).unwrap().config.persistence_secs = Some(60);
        assert_eq!(
            set.lookup(Protocol::Tcp, sa("203.0.113.1:81"), 0),
            Some(wild)
        );
        assert_eq!(set.lookup(Protocol::Udp, sa("203.0.113.1:80"), 0), None);
        assert!(set.is_vip(sa("203.0.113.1:1").ip()));
        let k = set.get(exact).unwrap().config.key;
        set.remove(&k).unwrap();
        assert_eq!(
            set.lookup(Protocol::Tcp, sa("203.0.113.1:80"), 0),
            Some(wild)
        );
        assert!(matches!(set.remove(&k), Err(ServicesError::NotFound(_))));
    }

    /// `find` scans small sets and bisects large ones: same answers.
    #[test]
    fn find_small_and_large() {
        let mut set = Services::new();
        let mut ids = Vec::new();
        for n in 0..3 * FIND_SCAN_MAX as u16 {
            // Added out of key order, so the index is really sorted by add.
            let port = 1000 + (n * 7) % 50;
            let key = ServiceConfig::tcp(sa(&alloc::format!("203.0.113.1:{port}")));
            ids.push((key.key, set.add(key, Box::new(Never)).unwrap()));
            for (k, id) in &ids {
                assert_eq!(set.find(k), Some(*id));
            }
            let absent = ServiceKey::Addr {
                protocol: Protocol::Udp,
                vip: sa("203.0.113.1:1000"),
            };
            assert_eq!(set.find(&absent), None);
        }
    }
}
