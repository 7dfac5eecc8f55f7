//! Where a packet leaves: the link and next hop for a destination.
//!
//! The director's own prefixes say what is on-link; everything else goes to
//! the gateway of its family. The prefixes are flattened and masked once, at
//! construction, so a route costs a few compares per packet.

use core::net::IpAddr;

use alloc::vec::Vec;

use super::{Director, DirectorConfig, Link};
use crate::wire::MacAddr;

/// Where a packet leaves: link, next hop.
#[derive(Debug, Clone, Copy)]
pub(super) struct Route {
    pub(super) link: usize,
    pub(super) next_hop: IpAddr,
}

impl Director {
    /// The link and next hop for `dst`: on-link if one of our prefixes holds
    /// it, otherwise the gateway of its family.
    #[inline]
    pub(super) fn route(&self, dst: &IpAddr) -> Option<Route> {
        if let Some(link) = self.routes.link_for(dst) {
            return Some(Route {
                link,
                next_hop: *dst,
            });
        }
        match dst {
            IpAddr::V4(_) => self.routes.gw_v4,
            IpAddr::V6(_) => self.routes.gw_v6,
        }
    }
}

/// The on-link prefixes of every link, flattened per family and masked once
/// at construction, with the gateways' routes resolved: `route` runs for
/// every forwarded packet, and walking `links[].addrs[]` with
/// `IpCidr::contains` (family match, mask from the prefix length, for each
/// prefix of each link) was a good part of its cost. The configuration does
/// not change after construction, so neither does this.
#[derive(Debug)]
pub(super) struct Routes {
    /// (network, mask, link), in link order then address order, so that
    /// the first match is the link [`link_for`] would find.
    v4: Vec<(u32, u32, usize)>,
    v6: Vec<(u128, u128, usize)>,
    gw_v4: Option<Route>,
    gw_v6: Option<Route>,
}

impl Routes {
    pub(super) fn new(cfg: &DirectorConfig) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (i, l) in cfg.links.iter().enumerate() {
            for c in &l.addrs {
                // The masks of IpCidr::contains.
                match c.addr {
                    IpAddr::V4(a) => {
                        let p = u32::from(c.prefix.min(32));
                        let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                        v4.push((u32::from(a) & mask, mask, i));
                    }
                    IpAddr::V6(a) => {
                        let p = u32::from(c.prefix.min(128));
                        let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                        v6.push((u128::from(a) & mask, mask, i));
                    }
                }
            }
        }
        let gw = |gw: Option<IpAddr>| {
            let gw = gw?;
            let link = link_for(&cfg.links, &gw)?;
            Some(Route { link, next_hop: gw })
        };
        Routes {
            v4,
            v6,
            gw_v4: gw(cfg.gateway_v4.map(IpAddr::V4)),
            gw_v6: gw(cfg.gateway_v6.map(IpAddr::V6)),
        }
    }

    /// Same answer as [`link_for`] on the configuration's links.
    #[inline]
    pub(super) fn link_for(&self, ip: &IpAddr) -> Option<usize> {
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(*a);
                self.v4
                    .iter()
                    .find(|(net, mask, _)| a & mask == *net)
                    .map(|r| r.2)
            }
            IpAddr::V6(a) => {
                let a = u128::from(*a);
                self.v6
                    .iter()
                    .find(|(net, mask, _)| a & mask == *net)
                    .map(|r| r.2)
            }
        }
    }
}

/// The link whose prefixes hold `ip`.
pub(super) fn link_for(links: &[Link], ip: &IpAddr) -> Option<usize> {
    links
        .iter()
        .position(|l| l.addrs.iter().any(|c| c.contains(ip)))
}

/// Write the Ethernet destination and source.
#[inline]
pub(super) fn set_macs(frame: &mut [u8], dst: MacAddr, src: MacAddr) -> Option<()> {
    let m = frame.get_mut(0..12)?;
    m[..6].copy_from_slice(&dst.0);
    m[6..].copy_from_slice(&src.0);
    Some(())
}
