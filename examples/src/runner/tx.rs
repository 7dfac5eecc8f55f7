//! Sending what the Director forwards: batched per output port, straight from where the
//! frames lie.
//!
//! Why an outbox: a frame forwarded by the Director is rewritten in place where the port
//! lent it (on AF_PACKET, in the ring block the kernel wrote it to). The runner collects
//! the forwarded frames of a chunk of the batch in one list per output port, as slices
//! of those buffers, and sends each list with one `send_batch_offload` (`sendmmsg` on
//! AF_PACKET) while the port still lends them: no copy in user space and one system call
//! per port and chunk, whether the frame leaves by the port it came in on (one-armed) or
//! by another (two-armed). The lists' allocations are kept between batches.
//!
//! A GSO super-frame the port must cut itself (a tunnelled one: `virtio_net_hdr` cannot
//! describe IPIP/GUE segmentation), or one with offloads for a port that cannot carry
//! them (a TAP without vnet headers), is segmented in user space by the library and sent
//! alone. Frames a send did not take (a short `sendmmsg`, an error such as `ENOBUFS`
//! when the device queue is full) are lost after the Director counted them as forwarded,
//! so they are counted for the runner's per-port loss lines.

use std::io;

use lvs_forwarding::Offload;
use tracing::warn;

use crate::io::FrameTx;

/// Scratch for one segment of a frame segmented in user space: enough for any GSO size
/// (at most a 64 KiB IP packet) plus the outer and link headers.
const SEGMENT_SCRATCH: usize = 64 * 1024 + 256;

/// One output port's frames: slices of lent buffers with their offload state.
pub(super) type SendList<'a> = Vec<(&'a [u8], Offload)>;

/// Reuses the allocation of an (emptied) list for another lifetime of its slices.
pub(super) fn recycle_list<'b>(mut v: SendList<'_>) -> SendList<'b> {
    v.clear();
    // An empty vector mapped in place: std reuses the allocation (same size and
    // alignment); should it not, this only allocates, it stays correct.
    v.into_iter()
        .map(|_| -> (&'b [u8], Offload) { unreachable!() })
        .collect()
}

/// Sends `list` through `tx`: runs of frames the port can take as they are go out with
/// one `send_batch_offload` each; a frame that needs user-space segmentation, or that the
/// port refuses for its offloads, goes alone through [`send_or_segment`]. Returns how many
/// frames did not go out (after a hard error the rest of the list is given up, not retried
/// frame by frame).
pub(super) fn send_list(
    tx: &mut dyn FrameTx,
    list: &[(&[u8], Offload)],
    scratch: &mut Vec<u8>,
) -> u64 {
    let mut pos = 0;
    let mut failed = 0u64;
    let mut first_err: Option<io::Error> = None;
    while pos < list.len() {
        let (frame, offload) = list[pos];
        if offload.needs_software_gso() {
            if let Err(e) = segment_and_send(frame, &offload, scratch, tx) {
                failed += 1;
                first_err.get_or_insert(e);
            }
            pos += 1;
            continue;
        }
        let end = list[pos..]
            .iter()
            .position(|(_, o)| o.needs_software_gso())
            .map_or(list.len(), |k| pos + k);
        let sent = tx.send_batch_offload(&list[pos..end]).unwrap_or(0);
        pos += sent;
        if pos == end {
            continue;
        }
        // The port refused frame `pos`: alone, finished in user space if that is why.
        let (frame, offload) = list[pos];
        pos += 1;
        if let Err(e) = send_or_segment(tx, frame, &offload, scratch) {
            failed += 1;
            if e.kind() != io::ErrorKind::Unsupported {
                failed += (end - pos) as u64;
                pos = end;
            }
            first_err.get_or_insert(e);
        }
    }
    if let Some(e) = first_err {
        warn!("send: {failed} of {} frames not sent: {e}", list.len());
    }
    failed
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
            segment_and_send(frame, offload, scratch, tx)
        }
        r => r,
    }
}

fn segment_and_send(
    frame: &[u8],
    offload: &Offload,
    scratch: &mut Vec<u8>,
    tx: &mut dyn FrameTx,
) -> io::Result<()> {
    if scratch.len() < SEGMENT_SCRATCH {
        scratch.resize(SEGMENT_SCRATCH, 0);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemoryPort;

    /// Takes two frames per batch call, then refuses the rest with an error.
    struct Short {
        calls: usize,
        sent: Vec<Vec<u8>>,
    }

    impl FrameTx for Short {
        fn send(&mut self, f: &[u8]) -> io::Result<()> {
            if self.calls > 0 {
                return Err(io::Error::from_raw_os_error(libc::ENOBUFS));
            }
            self.sent.push(f.to_vec());
            Ok(())
        }

        fn send_batch_offload(&mut self, frames: &[(&[u8], Offload)]) -> io::Result<usize> {
            self.calls += 1;
            let n = frames.len().min(2);
            self.sent
                .extend(frames[..n].iter().map(|(f, _)| f.to_vec()));
            Ok(n)
        }
    }

    #[test]
    fn sends_a_list_in_one_batch_and_counts_what_a_short_send_lost() {
        let frames: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 3]).collect();
        let list: SendList<'_> = frames.iter().map(|f| (&f[..], Offload::NONE)).collect();
        let mut scratch = Vec::new();
        let mut m = MemoryPort::default();
        assert_eq!(send_list(&mut m, &list, &mut scratch), 0);
        assert_eq!(m.tx, frames);
        // Two go out, the third fails alone with a hard error: it and the two after it
        // are counted, not retried one by one.
        let mut s = Short {
            calls: 0,
            sent: Vec::new(),
        };
        assert_eq!(send_list(&mut s, &list, &mut scratch), 3);
        assert_eq!(s.sent, frames[..2].to_vec());
        assert!(
            scratch.is_empty(),
            "no segmentation scratch for plain frames"
        );
    }

    #[test]
    fn recycled_list_keeps_its_allocation() {
        let a = [1u8, 2];
        let mut l: SendList<'_> = Vec::with_capacity(64);
        l.push((&a[..], Offload::NONE));
        let cap = l.capacity();
        let l2: SendList<'static> = recycle_list(l);
        assert!(l2.is_empty());
        assert_eq!(l2.capacity(), cap);
    }
}
