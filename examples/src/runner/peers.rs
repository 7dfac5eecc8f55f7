//! Neighbours shared between the workers of a fanout group.
//!
//! Why: with `--fanout N` each worker has its own Director and neighbour cache, but the
//! kernel hands an ARP or ND answer to one worker only. Whatever a worker learns from the
//! wire (`Director::poll_neighbor_learned`) is passed to every other worker, which adds it
//! as an ordinary learned entry; entries passed on are never passed on again, so nothing
//! loops. Channels are unbounded but fed only by new or changed neighbours, which the
//! Director's own bounded queue already limits.

use std::net::IpAddr;
use std::sync::mpsc::{Receiver, Sender, channel};

use lvs_core::Instant;
use lvs_forwarding::{Director, MacAddr};

/// One worker's end: senders to every other worker, and its own receiver.
#[derive(Debug)]
pub struct Peers {
    to_others: Vec<Sender<(IpAddr, MacAddr)>>,
    inbox: Receiver<(IpAddr, MacAddr)>,
}

impl Peers {
    /// The ends of an `n`-worker group, one per worker.
    pub fn group(n: usize) -> Vec<Peers> {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| channel()).unzip();
        rxs.into_iter()
            .enumerate()
            .map(|(i, inbox)| Peers {
                to_others: txs
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, t)| t.clone())
                    .collect(),
                inbox,
            })
            .collect()
    }

    /// Passes on what `director` learned and takes what the others learned.
    pub fn exchange(&self, director: &mut Director, now: Instant) {
        while let Some(n) = director.poll_neighbor_learned() {
            for t in &self.to_others {
                // A worker that has stopped no longer needs it.
                let _ = t.send(n);
            }
        }
        while let Ok((ip, mac)) = self.inbox.try_recv() {
            director.set_neighbor(ip, mac, now, false);
        }
    }
}
