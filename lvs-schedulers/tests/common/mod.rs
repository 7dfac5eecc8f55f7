//! A small harness that keeps a real-server list the way `Service` does
//! (new servers at position 0, stable slots) but calls the scheduler
//! directly, so that a scheduler bug is not hidden by `Service::pick`'s
//! own schedulable check.
#![allow(dead_code)]

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use lvs_core::{
    DestChange, DestId, DestView, Flow, Protocol, RealServer, RealServerConfig, Scheduler,
};

pub fn rs_addr(n: u32) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)), 80)
}

pub fn vip() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 80)
}

pub fn flow_from(client: SocketAddr) -> Flow {
    Flow {
        protocol: Protocol::Tcp,
        client,
        vip: vip(),
        fwmark: 0,
    }
}

pub fn client(n: u32, port: u16) -> Flow {
    flow_from(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::from(0xc633_6400u32.wrapping_add(n))),
        port,
    ))
}

pub struct Harness<S> {
    pub slots: Vec<RealServer>,
    pub order: Vec<DestId>,
    pub sched: S,
    next_addr: u32,
}

impl<S: Scheduler> Harness<S> {
    pub fn new(sched: S) -> Self {
        Harness {
            slots: Vec::new(),
            order: Vec::new(),
            sched,
            next_addr: 1,
        }
    }

    pub fn view(&self) -> DestView<'_> {
        DestView::new(&self.slots, &self.order)
    }

    /// Add a server at the head of the list (IPVS order), new slot.
    pub fn add(&mut self, weight: u32) -> DestId {
        let addr = rs_addr(self.next_addr);
        self.next_addr += 1;
        self.add_cfg(RealServerConfig::new(addr).weight(weight))
    }

    pub fn add_cfg(&mut self, cfg: RealServerConfig) -> DestId {
        let id = DestId(self.slots.len() as u16);
        self.slots.push(RealServer::new(cfg));
        self.order.insert(0, id);
        self.sched.update(
            DestView::new(&self.slots, &self.order),
            DestChange::Added { pos: 0 },
        );
        id
    }

    /// Add servers so that the list reads `weights` in order (first = head).
    pub fn with_list(sched: S, weights: &[u32]) -> (Self, Vec<DestId>) {
        let mut h = Harness::new(sched);
        let mut ids: Vec<DestId> = weights.iter().rev().map(|&w| h.add(w)).collect();
        ids.reverse();
        (h, ids)
    }

    pub fn pos(&self, id: DestId) -> Option<usize> {
        self.order.iter().position(|&d| d == id)
    }

    pub fn remove(&mut self, id: DestId) {
        if let Some(pos) = self.pos(id) {
            self.order.remove(pos);
            self.slots[id.index()].available = false;
            self.sched.update(
                DestView::new(&self.slots, &self.order),
                DestChange::Removed { pos, id },
            );
        }
    }

    pub fn set_weight(&mut self, id: DestId, weight: u32) {
        self.slots[id.index()].set_weight(weight);
        if let Some(pos) = self.pos(id) {
            self.sched.update(
                DestView::new(&self.slots, &self.order),
                DestChange::Edited { pos },
            );
        }
    }

    pub fn set_overloaded(&mut self, id: DestId, overloaded: bool) {
        self.slots[id.index()].overloaded = overloaded;
    }

    pub fn server(&mut self, id: DestId) -> &mut RealServer {
        &mut self.slots[id.index()]
    }

    /// The scheduler's raw answer.
    pub fn pick(&mut self, flow: &Flow) -> Option<DestId> {
        self.sched
            .pick(DestView::new(&self.slots, &self.order), flow)
    }

    /// `n` picks for the same flow, as letters: list position 0 = 'A'.
    pub fn letters(&mut self, ids: &[DestId], n: usize) -> String {
        let f = client(1, 1000);
        (0..n)
            .map(|_| match self.pick(&f) {
                Some(id) => ids
                    .iter()
                    .position(|&d| d == id)
                    .map_or('?', |i| (b'A' + i as u8) as char),
                None => '-',
            })
            .collect()
    }
}
