//! Real servers (IPVS "destinations"): configuration, live counters and the
//! overload flag.
//!
//! Schedulers read three things of a real server: its weight, its connection
//! counts and whether it is overloaded. All three live here, next to the
//! threshold rule that sets and clears the overload flag, so that every
//! scheduler and the connection table agree on them.

use core::net::SocketAddr;

use crate::stats::Stats;

/// The largest weight `ipvsadm` accepts.
pub const MAX_WEIGHT: u32 = 65_535;

/// Encapsulation used by the tunnel forwarding method (`--tun-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TunnelType {
    /// IP-in-IP (IPv4 protocol 4, or IPv6 next header 41 / 4). ipvsadm's default.
    #[default]
    Ipip,
    /// Generic UDP Encapsulation to `port` on the real server.
    Gue {
        /// UDP destination port (`--tun-port`), never 0.
        port: u16,
    },
    /// GRE (version 0, no key, no sequence).
    Gre,
}

/// Checksum option of GUE/GRE tunnels (`--tun-nocsum|--tun-csum|--tun-remcsum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TunnelChecksum {
    /// No checksum (default).
    #[default]
    None,
    /// Outer checksum.
    Csum,
    /// Remote checksum offload (GUE only).
    RemCsum,
}

/// How packets reach a real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Forwarding {
    /// VS/NAT (`-m`): destination rewritten, replies un-NATed by the director.
    Masquerade,
    /// VS/TUN (`-i`): encapsulated to the real server, which answers directly.
    Tunnel {
        /// Encapsulation.
        kind: TunnelType,
        /// Checksum option.
        csum: TunnelChecksum,
    },
    /// VS/DR (`-g`, ipvsadm's default): frame re-addressed on the same link.
    #[default]
    DirectRoute,
    /// The director itself serves (`Local` in listings, saved as `-g`).
    Local,
}

impl Forwarding {
    /// The word `ipvsadm -Ln` prints in the Forward column.
    pub const fn listing_name(&self) -> &'static str {
        match self {
            Forwarding::Masquerade => "Masq",
            Forwarding::Tunnel { .. } => "Tunnel",
            Forwarding::DirectRoute => "Route",
            Forwarding::Local => "Local",
        }
    }

    /// True for methods where the director never sees replies (IPVS's
    /// NOOUTPUT flag: the TCP state machine uses the INPUT-ONLY table).
    pub const fn is_one_way(&self) -> bool {
        !matches!(self, Forwarding::Masquerade)
    }
}

/// What the embedder configures for a real server (`ipvsadm -a`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RealServerConfig {
    /// Address and port. For DR and TUN the port must equal the service port
    /// (or be 0 for fwmark services, meaning "the packet's port").
    pub addr: SocketAddr,
    /// Weight, 0..=65535. 0 is quiescent: no new connections.
    pub weight: u32,
    /// Forwarding method.
    pub forwarding: Forwarding,
    /// Upper connection threshold (`-x`), 0 = none.
    pub upper_threshold: u32,
    /// Lower connection threshold (`-y`), 0 = none.
    pub lower_threshold: u32,
}

impl RealServerConfig {
    /// A real server with ipvsadm's defaults: weight 1, direct routing, no thresholds.
    pub const fn new(addr: SocketAddr) -> Self {
        RealServerConfig {
            addr,
            weight: 1,
            forwarding: Forwarding::DirectRoute,
            upper_threshold: 0,
            lower_threshold: 0,
        }
    }

    /// Builder: set the weight.
    pub const fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Builder: set the forwarding method.
    pub const fn forwarding(mut self, forwarding: Forwarding) -> Self {
        self.forwarding = forwarding;
        self
    }

    /// Builder: set the upper and lower connection thresholds.
    pub const fn thresholds(mut self, upper: u32, lower: u32) -> Self {
        self.upper_threshold = upper;
        self.lower_threshold = lower;
        self
    }
}

/// A real server as the director keeps it: configuration plus live state.
#[derive(Debug, Clone, PartialEq)]
pub struct RealServer {
    /// The configuration.
    pub config: RealServerConfig,
    /// Connections in an active state (TCP ESTABLISHED, SYN_SENT, SYN_RECV, SYNACK).
    pub active_conns: u32,
    /// Other connections (including every UDP connection).
    pub inactive_conns: u32,
    /// Persistence templates pointing at this server.
    pub persistent_conns: u32,
    /// Overloaded by the upper threshold: schedulers skip it.
    pub overloaded: bool,
    /// False once removed while connections still refer to it (IPVS's trash):
    /// such a server never gets new connections.
    pub available: bool,
    /// Weight before it was last set to 0, used by mh (IPVS's `last_weight`).
    pub last_weight: u32,
    /// Traffic counters and rates.
    pub stats: Stats,
}

impl RealServer {
    /// A fresh real server with no connections.
    pub fn new(config: RealServerConfig) -> Self {
        RealServer {
            config,
            active_conns: 0,
            inactive_conns: 0,
            persistent_conns: 0,
            overloaded: false,
            available: true,
            last_weight: config.weight,
            stats: Stats::default(),
        }
    }

    /// The weight (0 = quiescent).
    pub fn weight(&self) -> u32 {
        self.config.weight
    }

    /// Change the weight, remembering the last non-zero one.
    pub fn set_weight(&mut self, weight: u32) {
        self.config.weight = weight;
        if weight > 0 {
            self.last_weight = weight;
        }
    }

    /// IPVS's load figure for lc/wlc: `active * 256 + inactive`.
    pub fn overhead(&self) -> u64 {
        u64::from(self.active_conns) * 256 + u64::from(self.inactive_conns)
    }

    /// Whether a scheduler may give this server a new connection: available,
    /// weight above zero and not overloaded.
    pub fn schedulable(&self) -> bool {
        self.available && self.config.weight > 0 && !self.overloaded
    }

    /// Account a connection bound to this server (IPVS `ip_vs_bind_dest`): it
    /// starts inactive; sets the overload flag once the upper threshold is met.
    pub fn bind_conn(&mut self, active: bool) {
        if active {
            self.active_conns = self.active_conns.saturating_add(1);
        } else {
            self.inactive_conns = self.inactive_conns.saturating_add(1);
        }
        self.update_overload_on_bind();
    }

    /// Account a connection leaving this server (IPVS `ip_vs_unbind_dest`).
    pub fn unbind_conn(&mut self, active: bool) {
        if active {
            self.active_conns = self.active_conns.saturating_sub(1);
        } else {
            self.inactive_conns = self.inactive_conns.saturating_sub(1);
        }
        self.update_overload_on_unbind();
    }

    /// Move one connection between the active and inactive counts.
    pub fn set_conn_active(&mut self, was_active: bool, now_active: bool) {
        match (was_active, now_active) {
            (false, true) => {
                self.inactive_conns = self.inactive_conns.saturating_sub(1);
                self.active_conns = self.active_conns.saturating_add(1);
            }
            (true, false) => {
                self.active_conns = self.active_conns.saturating_sub(1);
                self.inactive_conns = self.inactive_conns.saturating_add(1);
            }
            _ => {}
        }
    }

    fn total_conns(&self) -> u64 {
        u64::from(self.active_conns) + u64::from(self.inactive_conns)
    }

    fn update_overload_on_bind(&mut self) {
        let u = u64::from(self.config.upper_threshold);
        if u != 0 && self.total_conns() >= u {
            self.overloaded = true;
        }
    }

    /// The hysteresis of `ip_vs_unbind_dest`: clear below the lower threshold,
    /// or below 3/4 of the upper one when no lower threshold is set.
    fn update_overload_on_unbind(&mut self) {
        let u = u64::from(self.config.upper_threshold);
        let l = u64::from(self.config.lower_threshold);
        let total = self.total_conns();
        if l != 0 {
            if total < l {
                self.overloaded = false;
            }
        } else if u != 0 {
            if total * 4 < u * 3 {
                self.overloaded = false;
            }
        } else {
            self.overloaded = false;
        }
    }

    /// Re-evaluate the flag after the thresholds were edited.
    pub fn refresh_overload(&mut self) {
        let u = u64::from(self.config.upper_threshold);
        if u == 0 {
            self.overloaded = false;
        } else if self.total_conns() >= u {
            self.overloaded = true;
        } else {
            self.update_overload_on_unbind();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{IpAddr, Ipv4Addr};

    fn rs(u: u32, l: u32) -> RealServer {
        let a = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)), 80);
        RealServer::new(RealServerConfig::new(a).thresholds(u, l))
    }

    #[test]
    fn overload_with_lower_threshold() {
        let mut r = rs(4, 2);
        for _ in 0..3 {
            r.bind_conn(false);
        }
        assert!(!r.overloaded);
        r.bind_conn(false);
        assert!(r.overloaded, "4 >= u=4");
        r.unbind_conn(false);
        r.unbind_conn(false);
        assert!(r.overloaded, "total 2 is not < l=2");
        r.unbind_conn(false);
        assert!(!r.overloaded, "total 1 < l=2");
    }

    #[test]
    fn overload_three_quarter_rule() {
        let mut r = rs(8, 0);
        for _ in 0..8 {
            r.bind_conn(true);
        }
        assert!(r.overloaded);
        r.unbind_conn(true); // 7
        r.unbind_conn(true); // 6: 24 < 24 false
        assert!(r.overloaded);
        r.unbind_conn(true); // 5: 20 < 24
        assert!(!r.overloaded);
    }

    #[test]
    fn no_thresholds_never_overloaded() {
        let mut r = rs(0, 0);
        for _ in 0..1000 {
            r.bind_conn(true);
        }
        assert!(!r.overloaded);
        assert_eq!(r.overhead(), 256_000);
    }

    #[test]
    fn last_weight_kept_through_zero() {
        let mut r = rs(0, 0);
        r.set_weight(7);
        r.set_weight(0);
        assert_eq!(r.last_weight, 7);
        assert!(!r.schedulable());
    }
}
