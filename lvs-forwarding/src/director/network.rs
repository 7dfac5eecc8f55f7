//! Runtime changes to what the Director knows of its network: its links'
//! addresses and routes, and its neighbours.
//!
//! A director runs for months while the host around it changes: addresses
//! are added, routes come and go, a real server's NIC is replaced. The
//! embedder follows the host kernel (rtnetlink on Linux) and hands the
//! Director the new picture through these methods, between packets: the
//! connection table, the neighbour cache and the frames held for a next hop
//! all stay, so established connections carry on.
//!
//! Several Directors (one per core) each keep their own neighbour cache, but
//! the answer to an ARP/ND request reaches only the worker whose port it
//! arrives on. So each Director queues what it learns *from the wire*
//! ([`Director::poll_neighbor_learned`]) for the embedder to pass to the
//! others with [`Director::set_neighbor`], which does not queue: what one
//! worker hands to another never comes back as news.

use alloc::vec::Vec;
use core::fmt;
use core::net::IpAddr;

use lvs_core::Instant;

use super::route::Routes;
use super::{Director, Link, RouteEntry};
use crate::neigh::NeighState;
use crate::wire::MacAddr;

/// Neighbours learned from the wire and not yet polled; the oldest is
/// dropped when full (a worker that does not poll loses old news, not new).
pub(super) const LEARNED_QUEUE: usize = 64;

/// Why [`Director::set_network`] refused a change. Nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetworkError {
    /// The number of links differs from the Director's: link indexes are
    /// the embedder's port numbers and cannot change at run time.
    LinkCount {
        /// Links the Director has.
        expected: usize,
        /// Links given.
        got: usize,
    },
    /// A route leaves on a link that does not exist.
    RouteLink {
        /// Index of the route in the list given.
        route: usize,
        /// The link it names.
        link: usize,
        /// Links the Director has.
        links: usize,
    },
}

impl fmt::Display for NetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkError::LinkCount { expected, got } => write!(
                f,
                "{got} links given, the director has {expected} \
                 (link indexes are port numbers and cannot change)"
            ),
            NetworkError::RouteLink { route, link, links } => write!(
                f,
                "route #{route} leaves on link {link}, the director has {links} links"
            ),
        }
    }
}

impl core::error::Error for NetworkError {}

impl Director {
    /// Replace the links' MACs, addresses and MTUs and the routes (the
    /// gateways of the configuration stay, as default routes), and rebuild
    /// the routing table. `links` must have as many entries as the
    /// Director has links, and every route's `link` must be one of them;
    /// otherwise nothing changes. Connections, neighbours and held frames
    /// stay.
    pub fn set_network(
        &mut self,
        links: Vec<Link>,
        routes: Vec<RouteEntry>,
    ) -> Result<(), NetworkError> {
        let n = self.cfg.links.len();
        if links.len() != n {
            return Err(NetworkError::LinkCount {
                expected: n,
                got: links.len(),
            });
        }
        if let Some((i, r)) = routes.iter().enumerate().find(|(_, r)| r.link >= n) {
            return Err(NetworkError::RouteLink {
                route: i,
                link: r.link,
                links: n,
            });
        }
        self.routes = Routes::new(&links, &routes, self.cfg.gateway_v4, self.cfg.gateway_v6);
        self.cfg.links = links;
        self.cfg.routes = routes;
        self.sources.invalidate();
        self.hops = [None; super::neighbors::HOP_SLOTS];
        Ok(())
    }

    /// Tell the Director that `ip` is at `mac` (from the host's neighbour
    /// table, or from another worker's [`poll_neighbor_learned`]).
    /// `permanent`: a static entry (the host's PERMANENT), which never
    /// expires and which ARP/ND from the wire does not change; otherwise a
    /// confirmation: the entry is REACHABLE for the reachable time, then
    /// goes stale and is re-probed like any other. Frames held for `ip` are released (drain
    /// [`poll_transmit`]). Not queued for
    /// [`poll_neighbor_learned`].
    ///
    /// [`poll_neighbor_learned`]: Director::poll_neighbor_learned
    /// [`poll_transmit`]: Director::poll_transmit
    pub fn set_neighbor(&mut self, ip: IpAddr, mac: MacAddr, now: Instant, permanent: bool) {
        if permanent {
            self.neigh.add_static(ip, mac);
        } else {
            self.neigh.set_reachable(ip, mac, now);
        }
        if self.hold.holds(ip) && !self.released.iter().any(|r| *r == ip) {
            let _ = self.released.push_back(ip);
        }
    }

    /// Forget what is known of `ip`, learned or static: its next use
    /// resolves it again. A resolution under way is left to finish.
    pub fn remove_neighbor(&mut self, ip: IpAddr) {
        if !matches!(
            self.neigh.state(ip),
            Some(NeighState::Incomplete { .. }) | None
        ) {
            self.neigh.remove(ip);
        }
    }

    /// The next neighbour this Director learned from validated ARP or NDP
    /// with a MAC it did not know (a new entry, a changed MAC, a completed
    /// resolution; never from data frames), oldest first: for
    /// the embedder to pass to the other workers' [`set_neighbor`]. At most
    /// 64 wait; older ones are dropped first.
    ///
    /// [`set_neighbor`]: Director::set_neighbor
    pub fn poll_neighbor_learned(&mut self) -> Option<(IpAddr, MacAddr)> {
        self.learned.pop_front()
    }

    /// Queue `ip` at `mac` for [`Director::poll_neighbor_learned`].
    pub(super) fn record_learned(&mut self, ip: IpAddr, mac: MacAddr) {
        if self.learned.is_full() {
            self.learned.pop_front();
        }
        let _ = self.learned.push_back((ip, mac));
    }
}
