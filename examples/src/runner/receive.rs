//! Frames in and out: a port's batch through the Director, a chunk at a time.
//!
//! Why a file of its own: this is the hot path. Each port's received frames go to
//! [`Director::process_batch`](lvs_forwarding::Director::process_batch) [`CHUNK`] at a
//! time, with one reply buffer per frame, and what the verdicts say is sent from where
//! the frames lie, one batched send per output port and chunk (see `tx`), before the port
//! takes the frames back. The item and send-list vectors keep their allocations between
//! chunks. Also here: what the Director sends by itself (`poll_transmit`), and the
//! busy-poll spin before the loop sleeps.

use std::io;
use std::time::Duration;

use lvs_forwarding::{BatchItem, DropReason, Offload, Verdict};
use tracing::warn;

use super::Runner;
use super::tx::{SendList, recycle_list, send_list};
use crate::io::{FramePort, FrameTx, RxFrame};

/// Frames handed to the Director at once (and sent, per output port, with one call).
pub(super) const CHUNK: usize = 64;
/// Room for a frame the Director generates (ARP/ND answer, ICMP error).
pub(super) const REPLY_LEN: usize = 4096;

/// Reuses the allocation of an (emptied) item vector for another lifetime.
fn recycle_items<'b>(mut v: Vec<BatchItem<'_>>) -> Vec<BatchItem<'b>> {
    v.clear();
    // An empty vector mapped in place: std reuses the allocation (same size and
    // alignment); should it not, this only allocates, it stays correct.
    v.into_iter()
        .map(|_| -> BatchItem<'b> { unreachable!() })
        .collect()
}

impl Runner {
    /// Looks at the ports without sleeping for up to the busy-poll budget; true as soon as
    /// one has frames waiting (they are handled on the next pass).
    pub(super) fn spin(&mut self, ports: &mut [Box<dyn FramePort>]) -> bool {
        if self.busy_poll.is_zero() {
            return false;
        }
        let end = std::time::Instant::now() + self.busy_poll;
        loop {
            if ports.iter().any(|p| p.frames_waiting()) {
                return true;
            }
            if std::time::Instant::now() >= end {
                return false;
            }
            for _ in 0..64 {
                std::hint::spin_loop();
            }
        }
    }

    /// Send what the director wants to send by itself.
    pub(super) fn drain(&mut self, ports: &mut [Box<dyn FramePort>]) {
        self.ensure_accounts(ports);
        while let Some((link, len)) = self.director.poll_transmit(&mut self.out) {
            if let Some(p) = ports.get_mut(link)
                && let Err(e) = p.send(&self.out[..len])
            {
                if let Some(a) = self.accounts.get_mut(link) {
                    a.send_failures += 1;
                }
                warn!("send on {}: {e}", p.name());
            }
        }
    }

    /// Receives what port `idx` has (waiting up to `timeout`), runs it through the
    /// Director a chunk at a time and sends the results from where they lie, one batch per
    /// output port and chunk, before the port takes the frames back.
    pub(super) fn receive(
        &mut self,
        ports: &mut [Box<dyn FramePort>],
        idx: usize,
        timeout: Duration,
    ) -> io::Result<usize> {
        self.ensure_accounts(ports);
        if self.sends.len() != ports.len() {
            self.sends.resize_with(ports.len(), Vec::new);
        }
        let (before, rest) = ports.split_at_mut(idx);
        let Some((this, after)) = rest.split_first_mut() else {
            return Ok(0);
        };
        // Ports past the Director's links are extra sockets on those links (a fanout
        // worker's neighbour sockets): port i is link i mod links.
        let in_link = idx % self.director.config().links.len().max(1);
        let director = &mut self.director;
        let replies = &mut self.replies;
        let items_store = &mut self.items;
        let sends_store = &mut self.sends;
        let scratch = &mut self.scratch;
        let accounts = &mut self.accounts;
        let clock = self.clock;
        let mut on_batch = |frames: &mut [RxFrame<'_>], tx: &mut dyn FrameTx| {
            let now = lvs_core::Instant::from_millis(clock.elapsed().as_millis() as u64);
            for chunk in frames.chunks_mut(CHUNK) {
                let mut items = recycle_items(std::mem::take(items_store));
                for (frame, out) in chunk.iter_mut().zip(replies.chunks_mut(REPLY_LEN)) {
                    let offload = frame.meta.offload;
                    let (buf, start) = frame.buffer_mut();
                    let len = buf.len() - start;
                    items.push(BatchItem {
                        link: in_link,
                        buf,
                        start,
                        len,
                        out,
                        offload,
                        verdict: Verdict::Drop(DropReason::Malformed),
                    });
                }
                // The whole chunk at once: the Director parses every frame and prefetches
                // its connection-table slot before processing the first.
                director.process_batch(now, &mut items);
                let mut sends: Vec<SendList<'_>> = std::mem::take(sends_store)
                    .into_iter()
                    .map(recycle_list)
                    .collect();
                for it in items.drain(..) {
                    let (link, bytes, offload) = match it.verdict {
                        Verdict::Forward { link, start, len } => {
                            let buf: &[u8] = it.buf;
                            match start.checked_add(len).and_then(|end| buf.get(start..end)) {
                                Some(b) => (link, b, it.offload),
                                None => continue,
                            }
                        }
                        Verdict::Reply { link, len } => {
                            let out: &[u8] = it.out;
                            match out.get(..len) {
                                Some(b) => (link, b, Offload::NONE),
                                None => continue,
                            }
                        }
                        _ => continue,
                    };
                    if let Some(list) = sends.get_mut(link) {
                        list.push((bytes, offload));
                    }
                }
                for (link, list) in sends.iter_mut().enumerate() {
                    if list.is_empty() {
                        continue;
                    }
                    let port: Option<&mut dyn FrameTx> = if link == idx {
                        Some(&mut *tx)
                    } else if link < idx {
                        before.get_mut(link).map(|p| p.as_mut() as &mut dyn FrameTx)
                    } else {
                        after
                            .get_mut(link - idx - 1)
                            .map(|p| p.as_mut() as &mut dyn FrameTx)
                    };
                    let failed = match port {
                        Some(p) => send_list(p, list, scratch),
                        None => list.len() as u64,
                    };
                    if failed > 0
                        && let Some(a) = accounts.get_mut(link)
                    {
                        a.send_failures += failed;
                    }
                    list.clear();
                }
                *sends_store = sends.into_iter().map(recycle_list).collect();
                *items_store = recycle_items(items);
            }
        };
        this.recv_frames(Some(timeout), &mut on_batch)
    }
}
