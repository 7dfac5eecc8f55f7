//! Virtual services: what a VIP offers and how it spreads connections.
//!
//! A service is identified as IPVS identifies it, by (protocol, VIP, port) or
//! by firewall mark. Its configuration is a plain `Copy` value
//! ([`ServiceConfig`]) so that it can be parsed, printed and compared; the
//! live [`Service`] (with `alloc`) adds the real servers, the scheduler and
//! the counters.

use core::net::SocketAddr;

use crate::addr::{Family, Protocol};
use crate::stats::Stats;

/// Default persistence timeout when `-p` is given without a value (IPVS
/// `IPVS_SVC_PERSISTENT_TIMEOUT`, 6 minutes; the man page's 300 is wrong).
pub const DEFAULT_PERSISTENCE_SECS: u32 = 360;

/// Maximum length of a scheduler name (IPVS `IP_VS_SCHEDNAME_MAXLEN` less the NUL).
pub const SCHED_NAME_MAX: usize = 15;

/// How a service is found for a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKey {
    /// `-t`/`-u`/`--sctp-service VIP:port`. Port 0 is a wildcard (persistent services only).
    Addr {
        /// Protocol.
        protocol: Protocol,
        /// Virtual address and port.
        vip: SocketAddr,
    },
    /// `-f mark [-6]`.
    Fwmark {
        /// Family of the marked packets.
        family: Family,
        /// The firewall mark.
        mark: u32,
    },
}

impl ServiceKey {
    /// The address family of the service.
    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Addr { vip, .. } => Family::of(&vip.ip()),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }
}

/// Scheduler flags `-b flag-1,flag-2,flag-3` (IPVS SCHED1..3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SchedFlags(pub u8);

impl SchedFlags {
    /// flag-1: `sh-fallback` / `mh-fallback`.
    pub const FLAG1: u8 = 1;
    /// flag-2: `sh-port` / `mh-port`.
    pub const FLAG2: u8 = 2;
    /// flag-3: unused by the bundled schedulers.
    pub const FLAG3: u8 = 4;

    /// Whether flag-1 (fallback) is set.
    pub const fn fallback(self) -> bool {
        self.0 & Self::FLAG1 != 0
    }

    /// Whether flag-2 (hash the port too) is set.
    pub const fn port(self) -> bool {
        self.0 & Self::FLAG2 != 0
    }

    /// Whether flag-3 is set.
    pub const fn flag3(self) -> bool {
        self.0 & Self::FLAG3 != 0
    }
}

/// A short scheduler name, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SchedName {
    len: u8,
    buf: [u8; SCHED_NAME_MAX],
}

impl SchedName {
    /// A name, if it is 1..=15 ASCII alphanumeric characters.
    pub fn new(name: &str) -> Option<SchedName> {
        let b = name.as_bytes();
        if b.is_empty() || b.len() > SCHED_NAME_MAX || !b.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        let mut buf = [0u8; SCHED_NAME_MAX];
        buf[..b.len()].copy_from_slice(b);
        Some(SchedName {
            len: b.len() as u8,
            buf,
        })
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored, see `new`.
        core::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or("")
    }
}

impl core::fmt::Debug for SchedName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl core::fmt::Display for SchedName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the embedder configures for a virtual service (`ipvsadm -A`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceConfig {
    /// Identity.
    pub key: ServiceKey,
    /// Scheduler name (`-s`, default `wlc`).
    pub scheduler: SchedName,
    /// Scheduler flags (`-b`).
    pub flags: SchedFlags,
    /// Persistence timeout in seconds (`-p`), None if not persistent.
    pub persistence_secs: Option<u32>,
    /// Persistence netmask as a prefix length (`-M`); 32/128 by default.
    pub netmask_prefix: u8,
    /// One-packet scheduling (`-o`), effective for UDP only.
    pub one_packet: bool,
}

impl ServiceConfig {
    /// A service with ipvsadm's defaults: wlc, not persistent, full netmask.
    pub fn new(key: ServiceKey) -> Self {
        ServiceConfig {
            key,
            scheduler: SchedName::new("wlc").unwrap_or(SchedName {
                len: 0,
                buf: [0; SCHED_NAME_MAX],
            }),
            flags: SchedFlags::default(),
            persistence_secs: None,
            netmask_prefix: key.family().max_prefix(),
            one_packet: false,
        }
    }

    /// A TCP service on `vip`.
    pub fn tcp(vip: SocketAddr) -> Self {
        Self::new(ServiceKey::Addr {
            protocol: Protocol::Tcp,
            vip,
        })
    }

    /// A UDP service on `vip`.
    pub fn udp(vip: SocketAddr) -> Self {
        Self::new(ServiceKey::Addr {
            protocol: Protocol::Udp,
            vip,
        })
    }

    /// Builder: set the scheduler by name (ignored if the name is not valid).
    pub fn scheduler(mut self, name: &str) -> Self {
        if let Some(n) = SchedName::new(name) {
            self.scheduler = n;
        }
        self
    }

    /// Builder: make the service persistent for `secs` seconds.
    pub fn persistent(mut self, secs: u32) -> Self {
        self.persistence_secs = Some(secs);
        self
    }
}

/// The live state of a service that is not its real servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServiceState {
    /// Counters and rates.
    pub stats: Stats,
}

#[cfg(feature = "alloc")]
mod live;
#[cfg(feature = "alloc")]
pub use live::{Service, ServiceError};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sched_name_rules() {
        assert_eq!(SchedName::new("wrr").map(|n| n.len), Some(3));
        assert!(SchedName::new("").is_none());
        assert!(SchedName::new("0123456789abcdef").is_none());
        assert!(SchedName::new("w r").is_none());
        let c = ServiceConfig::tcp(
            "192.0.2.1:80"
                .parse()
                .unwrap_or(SocketAddr::from(([0; 4], 0))),
        );
        assert_eq!(c.scheduler.as_str(), "wlc");
        assert_eq!(c.netmask_prefix, 32);
    }
}
