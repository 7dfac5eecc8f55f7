//! TAP and TUN devices: a frame port the kernel sees as an ordinary interface.
//!
//! Why both: a TAP device carries Ethernet frames, so a Director can sit behind it exactly as
//! on a real link (nftables `fwd to` can steer chosen frames of a veth into it without the
//! Director owning that veth). A TUN device carries bare IP packets, which is what the VS/TUN
//! decapsulator needs: whatever it writes, the kernel receives as if it had arrived on an
//! interface, and routes (here: delivers locally to the VIP on `lo`).
//!
//! Devices are opened with `IFF_NO_PI` (no 4-byte packet-information prefix) and in
//! non-blocking mode; [`FramePort::recv_batch`] waits with `poll` and then reads until the
//! device is empty or a batch is full.
//!
//! Offloads: the device is opened without `IFF_VNET_HDR` and never offered offloads with
//! `TUNSETOFFLOAD`, so the kernel segments and checksums everything it hands over; frames are
//! lent with [`Offload::NONE`](super::Offload::NONE) and only frames without pending offloads
//! can be sent (the default [`FrameTx::send_offload`]).

use std::ffi::CStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use super::{FramePort, FrameTx, OnFrame, PacketKind, RxFrame, RxMeta};

/// Frames read in one [`FramePort::recv_batch`] call at most.
const READ_BATCH: usize = 64;
/// Largest frame read from a device (64 KiB covers any MTU without offloads).
const MAX_FRAME: usize = 65_536;

/// Kind of device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// Ethernet frames (`IFF_TAP`).
    Tap,
    /// IP packets (`IFF_TUN`).
    Tun,
}

/// A TAP or TUN device opened through `/dev/net/tun`.
#[derive(Debug)]
pub struct TunTap {
    file: File,
    name: String,
    kind: DeviceKind,
    buf: Vec<u8>,
    headroom: usize,
}

/// Copies an interface name into an `ifreq`, checking its length.
pub(crate) fn ifreq_for(name: &str) -> io::Result<libc::ifreq> {
    if name.len() >= libc::IFNAMSIZ || name.bytes().any(|b| b == 0 || b == b'/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?}"),
        ));
    }
    // SAFETY: ifreq is plain old data (arrays, integers and a union of such); all-zero is valid.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(ifr)
}

/// Sets `IFF_UP` on interface `name` (like `ip link set NAME up`).
pub fn set_link_up(name: &str) -> io::Result<()> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut ifr = ifreq_for(name)?;
    // SAFETY: SIOCGIFFLAGS reads the name and writes ifru_flags of the ifreq we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just filled ifru_flags, so reading that union field is valid.
    let flags = unsafe { ifr.ifr_ifru.ifru_flags };
    ifr.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: SIOCSIFFLAGS only reads the ifreq we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl TunTap {
    /// Creates (or attaches to, if it exists and is persistent) the device `name`.
    ///
    /// A name containing `%d` lets the kernel choose the number; [`TunTap::name`] tells the
    /// result. Needs `CAP_NET_ADMIN`. The device is not brought up: see [`TunTap::set_up`].
    pub fn open(name: &str, kind: DeviceKind) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|e| io::Error::new(e.kind(), format!("/dev/net/tun: {e}")))?;
        let mut ifr = ifreq_for(name)?;
        let mode = match kind {
            DeviceKind::Tap => libc::IFF_TAP,
            DeviceKind::Tun => libc::IFF_TUN,
        };
        ifr.ifr_ifru.ifru_flags = (mode | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: TUNSETIFF reads and writes the ifreq we own, and nothing else.
        if unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut ifr) } < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("TUNSETIFF {name}: {e}")));
        }
        // SAFETY: the kernel writes a NUL-terminated name of at most IFNAMSIZ bytes; the array
        // was zeroed and is IFNAMSIZ long, so a terminator is within bounds.
        let actual = unsafe { CStr::from_ptr(ifr.ifr_name.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        let headroom = super::DEFAULT_HEADROOM;
        Ok(Self {
            file,
            name: actual,
            kind,
            buf: vec![0; headroom + MAX_FRAME],
            headroom,
        })
    }

    /// Opens a TAP device (Ethernet frames).
    pub fn tap(name: &str) -> io::Result<Self> {
        Self::open(name, DeviceKind::Tap)
    }

    /// Opens a TUN device (IP packets).
    pub fn tun(name: &str) -> io::Result<Self> {
        Self::open(name, DeviceKind::Tun)
    }

    /// Brings the device up.
    pub fn set_up(&self) -> io::Result<()> {
        set_link_up(&self.name)
    }

    /// The device's kind.
    pub fn kind(&self) -> DeviceKind {
        self.kind
    }

    /// Reads one frame into `buf` without waiting; `Ok(None)` if none is queued.
    pub fn try_read(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            match self.file.read(buf) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Writes one frame with a single `write`, as the TUN/TAP driver wants.
fn write_frame(file: &mut File, frame: &[u8]) -> io::Result<()> {
    loop {
        match file.write(frame) {
            Ok(n) if n == frame.len() => return Ok(()),
            Ok(_) => return Err(io::Error::new(io::ErrorKind::WriteZero, "short write")),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The transmit half lent during a receive.
struct FileTx<'a>(&'a mut File);

impl FrameTx for FileTx<'_> {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        write_frame(self.0, frame)
    }
}

impl FrameTx for TunTap {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        write_frame(&mut self.file, frame)
    }
}

impl FramePort for TunTap {
    fn name(&self) -> &str {
        &self.name
    }

    fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(self.file.as_raw_fd())
    }

    fn recv_batch(
        &mut self,
        timeout: Option<Duration>,
        on_frame: &mut OnFrame<'_>,
    ) -> io::Result<usize> {
        if !super::poll_readable(self.file.as_raw_fd(), timeout)? {
            return Ok(0);
        }
        let mut n = 0;
        while n < READ_BATCH {
            let len = match self.file.read(&mut self.buf[self.headroom..]) {
                Ok(len) => len,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let meta = RxMeta {
                timestamp: super::now_since_epoch(),
                kind: PacketKind::Host,
                wire_len: len,
                csum_partial: false,
                offload: super::Offload::NONE,
            };
            let mut tx = FileTx(&mut self.file);
            on_frame(
                RxFrame::new(&mut self.buf[..self.headroom + len], self.headroom, meta),
                &mut tx,
            );
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_names() {
        assert!(ifreq_for("a-name-that-is-too-long").is_err());
        assert!(ifreq_for("a/b").is_err());
        assert!(ifreq_for("tap0").is_ok());
    }
}
