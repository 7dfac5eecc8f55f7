//! Sending what the Director forwards: batched, with each frame's offload state.
//!
//! Why a pool: frames forwarded back out of the port they came in on are collected over one
//! receive batch and sent with one `send_batch_offload` (`sendmmsg` on AF_PACKET) instead of
//! one system call each. The pool's buffers are allocated once. A GSO super-frame the port
//! must cut itself (a tunnelled one: `virtio_net_hdr` cannot describe IPIP/GUE segmentation)
//! is segmented in user space by the library before it is queued.
//!
//! Frames a send did not take (a short `sendmmsg`, an error such as `ENOBUFS` when the
//! device queue is full) are lost after the Director counted them as forwarded, so the pool
//! counts them ([`TxPool::take_unsent`]) for the runner's per-port loss lines.

use std::io;

use lvs_forwarding::Offload;
use tracing::warn;

use crate::io::FrameTx;

/// Frames per batched send.
const TX_POOL: usize = 64;
/// Largest frame the pool holds; bigger ones (GSO super-frames) are sent directly.
const TX_FRAME: usize = 2048;
/// Scratch for one segment of a frame segmented in user space: enough for any GSO size
/// (at most a 64 KiB IP packet) plus the outer and link headers.
const SEGMENT_SCRATCH: usize = 64 * 1024 + 256;

/// See the module docs.
pub(super) struct TxPool {
    bufs: Vec<Vec<u8>>,
    meta: Vec<(usize, Offload)>,
    n: usize,
    scratch: Vec<u8>,
    /// Frames a flush did not get out, since the last [`TxPool::take_unsent`].
    unsent: u64,
}

impl TxPool {
    pub(super) fn new() -> Self {
        TxPool {
            bufs: (0..TX_POOL).map(|_| vec![0; TX_FRAME]).collect(),
            meta: vec![(0, Offload::NONE); TX_POOL],
            n: 0,
            scratch: vec![0; SEGMENT_SCRATCH],
            unsent: 0,
        }
    }

    /// Queue `frame`, flushing first through `tx` when full. Frames too big for a slot go
    /// out at once (after what is queued, to keep the order); an error is about that frame
    /// only (what a flush loses is counted in [`TxPool::take_unsent`]).
    pub(super) fn push(
        &mut self,
        frame: &[u8],
        offload: &Offload,
        tx: &mut dyn FrameTx,
    ) -> io::Result<()> {
        if needs_software_segmentation(offload) {
            self.flush(tx);
            return segment_and_send(frame, offload, &mut self.scratch, tx);
        }
        if frame.len() > TX_FRAME {
            self.flush(tx);
            return send_or_segment(tx, frame, offload, &mut self.scratch);
        }
        if self.n == TX_POOL {
            self.flush(tx);
        }
        self.bufs[self.n][..frame.len()].copy_from_slice(frame);
        self.meta[self.n] = (frame.len(), *offload);
        self.n += 1;
        Ok(())
    }

    /// Send what is queued through `tx`. Frames the port did not take are counted (see
    /// [`TxPool::take_unsent`]) and logged.
    pub(super) fn flush(&mut self, tx: &mut dyn FrameTx) {
        if self.n == 0 {
            return;
        }
        let frames: Vec<(&[u8], Offload)> = self.bufs[..self.n]
            .iter()
            .zip(&self.meta)
            .map(|(b, (l, o))| (&b[..*l], *o))
            .collect();
        self.n = 0;
        match tx.send_batch_offload(&frames) {
            Ok(sent) if sent >= frames.len() => {}
            Ok(sent) => {
                self.unsent += (frames.len() - sent) as u64;
                warn!("sent {sent} of {} frames", frames.len());
            }
            Err(e) => {
                self.unsent += frames.len() as u64;
                warn!("send of {} frames: {e}", frames.len());
            }
        }
    }

    /// Frames flushes did not get out since the last call.
    pub(super) fn take_unsent(&mut self) -> u64 {
        std::mem::take(&mut self.unsent)
    }
}

/// Send one forwarded frame on another port, at once.
pub(super) fn send_now(tx: &mut dyn FrameTx, frame: &[u8], offload: &Offload) -> io::Result<()> {
    let mut scratch = Vec::new();
    if needs_software_segmentation(offload) {
        scratch.resize(SEGMENT_SCRATCH, 0);
        return segment_and_send(frame, offload, &mut scratch, tx);
    }
    send_or_segment(tx, frame, offload, &mut scratch)
}

/// `send_offload`, or, on a port that cannot take offload metadata (a TAP without vnet
/// headers), the frame finished in user space.
fn send_or_segment(
    tx: &mut dyn FrameTx,
    frame: &[u8],
    offload: &Offload,
    scratch: &mut Vec<u8>,
) -> io::Result<()> {
    match tx.send_offload(frame, offload) {
        Err(e) if e.kind() == io::ErrorKind::Unsupported && !offload.is_none() => {
            scratch.resize(SEGMENT_SCRATCH, 0);
            segment_and_send(frame, offload, scratch, tx)
        }
        r => r,
    }
}

/// Whether the port cannot hand this frame to the kernel as it is.
fn needs_software_segmentation(offload: &Offload) -> bool {
    offload.needs_software_gso()
}

fn segment_and_send(
    frame: &[u8],
    offload: &Offload,
    scratch: &mut [u8],
    tx: &mut dyn FrameTx,
) -> io::Result<()> {
    let mut err = None;
    let r = lvs_forwarding::gso::segment(frame, offload, scratch, &mut |seg: &[u8]| {
        if err.is_none()
            && let Err(e) = tx.send(seg)
        {
            err = Some(e);
        }
    });
    if let Err(e) = r {
        return Err(io::Error::other(format!("GSO segmentation: {e}")));
    }
    err.map_or(Ok(()), Err)
}
