//! The send half of an AF_PACKET port: `sendmsg`/`sendmmsg` from stack-held iovec arrays,
//! with a `virtio_net_hdr` iovec in front of each frame on a vnet socket (no frame copy).

use super::*;

impl PacketTx {
    /// Sends `n` frames with `sendmmsg`, in chunks of [`SEND_BATCH`]. `frame(i)` gives frame
    /// `i` and, on a vnet socket, the `virtio_net_hdr` to put in front of it (a separate
    /// iovec, so the frame is not copied). Returns how many were sent before the first
    /// failure; an error only if none was.
    fn send_mmsg<'a>(
        &self,
        n: usize,
        frame: impl Fn(usize) -> (&'a [u8], [u8; VIRTIO_NET_HDR_LEN]),
    ) -> io::Result<usize> {
        let mut hdrs = [ZERO_VNET_HDR; SEND_BATCH];
        // SAFETY: iovec and mmsghdr are plain old data; all-zero values are valid (null
        // pointers, zero lengths) and every entry passed to the kernel is filled in below.
        let mut iovs: [libc::iovec; 2 * SEND_BATCH] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; SEND_BATCH] = unsafe { std::mem::zeroed() };
        let per_msg = if self.vnet { 2 } else { 1 };
        let mut sent = 0;
        while sent < n {
            let count = (n - sent).min(SEND_BATCH);
            for i in 0..count {
                let (f, h) = frame(sent + i);
                hdrs[i] = h;
                let slot = &mut iovs[per_msg * i..per_msg * (i + 1)];
                if self.vnet {
                    slot[0] = libc::iovec {
                        iov_base: hdrs[i].as_mut_ptr().cast(),
                        iov_len: VIRTIO_NET_HDR_LEN,
                    };
                }
                slot[per_msg - 1] = libc::iovec {
                    iov_base: f.as_ptr() as *mut libc::c_void,
                    iov_len: f.len(),
                };
            }
            let iov_base = iovs.as_mut_ptr();
            for (i, m) in msgs.iter_mut().take(count).enumerate() {
                // SAFETY: per_msg * i < 2 * SEND_BATCH, so the pointer stays inside `iovs`.
                m.msg_hdr.msg_iov = unsafe { iov_base.add(per_msg * i) };
                m.msg_hdr.msg_iovlen = per_msg as _;
            }
            // SAFETY: `msgs[..count]` point to iovecs in `iovs`, which point into `hdrs` and
            // into frames borrowed for 'a; all outlive the call and the kernel only reads them.
            let rc = unsafe {
                libc::sendmmsg(
                    self.fd.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    count as libc::c_uint,
                    0,
                )
            };
            if rc < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return if sent == 0 { Err(err) } else { Ok(sent) };
            }
            let done = rc as usize;
            sent += done;
            if done < count {
                break;
            }
        }
        Ok(sent)
    }

    /// Sends one frame, behind `hdr` on a vnet socket, with `sendmsg`.
    fn send_one(&self, frame: &[u8], hdr: &[u8; VIRTIO_NET_HDR_LEN]) -> io::Result<()> {
        let mut iov = [
            libc::iovec {
                iov_base: hdr.as_ptr() as *mut libc::c_void,
                iov_len: VIRTIO_NET_HDR_LEN,
            },
            libc::iovec {
                iov_base: frame.as_ptr() as *mut libc::c_void,
                iov_len: frame.len(),
            },
        ];
        let iov = if self.vnet {
            &mut iov[..]
        } else {
            &mut iov[1..]
        };
        // SAFETY: msghdr is plain old data; all-zero is a valid empty header.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len() as _;
        loop {
            // SAFETY: `msg` points to iovecs over `hdr` and `frame`, which outlive the call;
            // the kernel only reads them.
            let rc = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &msg, 0) };
            if rc >= 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

impl FrameTx for PacketTx {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        self.send_one(frame, &ZERO_VNET_HDR)
    }

    fn send_batch(&mut self, frames: &[&[u8]]) -> io::Result<usize> {
        self.send_mmsg(frames.len(), |i| (frames[i], ZERO_VNET_HDR))
    }

    fn send_offload(&mut self, frame: &[u8], offload: &Offload) -> io::Result<()> {
        if self.vnet {
            self.send_one(frame, &offload.to_virtio())
        } else if offload.is_none() {
            self.send_one(frame, &ZERO_VNET_HDR)
        } else {
            Err(no_vnet_error())
        }
    }

    fn send_batch_offload(&mut self, frames: &[(&[u8], Offload)]) -> io::Result<usize> {
        // Without vnet headers, send the leading frames that need no offload.
        let n = if self.vnet {
            frames.len()
        } else {
            frames
                .iter()
                .position(|(_, o)| !o.is_none())
                .unwrap_or(frames.len())
        };
        if n == 0 && !frames.is_empty() {
            return Err(no_vnet_error());
        }
        self.send_mmsg(n, |i| (frames[i].0, frames[i].1.to_virtio()))
    }
}

/// The error for a frame with offloads sent on a socket without `PACKET_VNET_HDR`.
fn no_vnet_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "frame with pending offloads on an AF_PACKET port opened without vnet_hdr",
    )
}
