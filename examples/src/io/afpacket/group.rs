//! Joining a fanout group and replacing its classic BPF program.

use super::*;

/// Joins fanout group `group` in `mode`, ignoring outgoing frames where the kernel can.
pub(super) fn join_fanout(fd: RawFd, group: u16, mode: &FanoutMode) -> io::Result<()> {
    let kind = match mode {
        FanoutMode::Hash => libc::PACKET_FANOUT_HASH,
        FanoutMode::Cbpf(_) => libc::PACKET_FANOUT_CBPF,
    };
    let arg = |flags: u32| u32::from(group) | ((kind | flags) << 16);
    let with_flag = arg(libc::PACKET_FANOUT_FLAG_IGNORE_OUTGOING);
    if let Err(e) = setsockopt(fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &with_flag) {
        // Kernels before 4.20 do not know the flag; outgoing frames are then skipped here.
        if e.raw_os_error() != Some(libc::EINVAL) {
            return Err(with_context(e, "PACKET_FANOUT"));
        }
        setsockopt(fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg(0))
            .map_err(|e| with_context(e, "PACKET_FANOUT"))?;
    }
    if let FanoutMode::Cbpf(prog) = mode {
        set_fanout_program_fd(fd, prog)?;
    }
    Ok(())
}

/// Attaches `prog` to the CBPF fanout group of `fd` (`PACKET_FANOUT_DATA`).
pub fn set_fanout_program_fd(fd: RawFd, prog: &[libc::sock_filter]) -> io::Result<()> {
    let len = u16::try_from(prog.len())
        .ok()
        .filter(|l| *l > 0)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("fanout program of {} instructions", prog.len()),
            )
        })?;
    let fprog = libc::sock_fprog {
        len,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // The kernel copies the program during the call; `prog` outlives it.
    setsockopt(fd, libc::SOL_PACKET, libc::PACKET_FANOUT_DATA, &fprog)
        .map_err(|e| with_context(e, "PACKET_FANOUT_DATA"))
}
