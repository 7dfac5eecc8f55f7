//! The XDP side of the AF_XDP port: an XSKMAP and a six-instruction redirect program, loaded
//! and attached with raw `bpf(2)` calls.
//!
//! Why by hand: the program is
//! `return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);` and nothing more. Building
//! it from C would need clang at build time, and loading an ELF object would need libbpf or
//! libxdp (C, LGPL) or aya (an ELF loader for a program we can write in 48 bytes). Writing the
//! instructions here keeps the project free of C and of any run-time library, needs no bpffs and
//! no BTF, and the whole program can be reviewed by eye (see [`redirect_program`]).
//!
//! Why a bpf_link: a program attached with `BPF_LINK_CREATE` belongs to the link's file
//! descriptor, so the kernel detaches it when the process exits, crashes included. The older
//! netlink attach (`IFLA_XDP`) would leave the program on the interface, redirecting every frame
//! to sockets that no longer exist.
//!
//! `bpf_attr` is a union whose layout the kernel fixes; each command below fills only the
//! fields it needs at their documented offsets (`include/uapi/linux/bpf.h`) in a zeroed buffer,
//! and passes the buffer's size: the kernel accepts a larger buffer as long as the bytes it
//! does not know are zero.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `BPF_MAP_CREATE` (`enum bpf_cmd`).
const BPF_MAP_CREATE: libc::c_long = 0;
/// `BPF_MAP_UPDATE_ELEM`.
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
/// `BPF_MAP_DELETE_ELEM`.
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
/// `BPF_PROG_LOAD`.
const BPF_PROG_LOAD: libc::c_long = 5;
/// `BPF_LINK_CREATE` (kernel 5.7; for XDP 5.9).
const BPF_LINK_CREATE: libc::c_long = 28;
/// `BPF_MAP_TYPE_XSKMAP` (`enum bpf_map_type`, kernel 4.18).
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
/// `BPF_PROG_TYPE_XDP` (`enum bpf_prog_type`).
const BPF_PROG_TYPE_XDP: u32 = 6;
/// `BPF_XDP` (`enum bpf_attach_type`): the attach type of an XDP link.
const BPF_XDP: u32 = 37;
/// `XDP_FLAGS_SKB_MODE` (`include/uapi/linux/if_link.h`): generic XDP, run on the skb.
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
/// `XDP_FLAGS_DRV_MODE`: native XDP, run by the driver before an skb exists.
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
/// `XDP_PASS` (`enum xdp_action`): hand the frame to the kernel's stack.
pub const XDP_PASS: i32 = 2;
/// `BPF_FUNC_redirect_map` (`enum bpf_func_id`).
const BPF_FUNC_REDIRECT_MAP: i32 = 51;
/// `BPF_PSEUDO_MAP_FD`: the source register of a `ld_imm64` whose immediate is a map fd.
const BPF_PSEUDO_MAP_FD: u8 = 1;
/// Offset of `rx_queue_index` in `struct xdp_md` (data, data_end, data_meta, ingress_ifindex
/// come first, 4 bytes each).
const XDP_MD_RX_QUEUE_INDEX: i16 = 16;
/// Bytes of `bpf_attr` passed to the kernel (larger than any field used here; zero tail).
const ATTR_LEN: usize = 128;
/// Bytes of the verifier log asked for when a load fails.
const LOG_LEN: usize = 64 * 1024;

/// Encodes one eBPF instruction: opcode, destination and source registers, offset, immediate
/// (`struct bpf_insn`, little- or big-endian as the host: the register nibbles follow the
/// bitfield order of the host's ABI).
const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    let regs = if cfg!(target_endian = "little") {
        (dst & 0xf) | (src << 4)
    } else {
        (dst << 4) | (src & 0xf)
    };
    let bytes_lo = [
        code,
        regs,
        (off as u16).to_ne_bytes()[0],
        (off as u16).to_ne_bytes()[1],
    ];
    let imm = (imm as u32).to_ne_bytes();
    u64::from_ne_bytes([
        bytes_lo[0],
        bytes_lo[1],
        bytes_lo[2],
        bytes_lo[3],
        imm[0],
        imm[1],
        imm[2],
        imm[3],
    ])
}

/// The redirect program with `map_fd` as its XSKMAP, one `u64` per instruction slot:
///
/// ```text
/// r2 = *(u32 *)(r1 + 16)      ; ctx->rx_queue_index        ldx w   (0x61)
/// r1 = map_fd ll              ; the XSKMAP (two slots)     ld_imm64 (0x18), src = PSEUDO_MAP_FD
/// r3 = 2                      ; fallback action XDP_PASS   mov64 imm (0xb7)
/// call 51                     ; bpf_redirect_map           call (0x85)
/// exit                        ; return its result (r0)     exit (0x95)
/// ```
///
/// A frame whose queue has no socket in the map takes the fallback (`XDP_PASS`, the kernel's
/// stack), so an unserved queue behaves as if no program were attached.
pub fn redirect_program(map_fd: RawFd) -> [u64; 6] {
    [
        insn(0x61, 2, 1, XDP_MD_RX_QUEUE_INDEX, 0),
        insn(0x18, 1, BPF_PSEUDO_MAP_FD, 0, map_fd),
        insn(0, 0, 0, 0, 0),
        insn(0xb7, 3, 0, 0, XDP_PASS),
        insn(0x85, 0, 0, 0, BPF_FUNC_REDIRECT_MAP),
        insn(0x95, 0, 0, 0, 0),
    ]
}

/// A zeroed, 8-aligned `bpf_attr` buffer with little helpers to fill fields by offset.
struct Attr([u64; ATTR_LEN / 8]);

impl Attr {
    fn new() -> Self {
        Attr([0; ATTR_LEN / 8])
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: a [u64; N] is N * 8 initialised bytes; u8 has no alignment or validity
        // requirements, and the borrow is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr().cast::<u8>(), ATTR_LEN) }
    }

    fn u32_at(&mut self, off: usize, v: u32) -> &mut Self {
        self.bytes()[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }

    fn u64_at(&mut self, off: usize, v: u64) -> &mut Self {
        self.bytes()[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }

    fn name_at(&mut self, off: usize, name: &str) -> &mut Self {
        // BPF_OBJ_NAME_LEN is 16 including the NUL; the buffer is zeroed.
        let n = name.len().min(15);
        self.bytes()[off..off + n].copy_from_slice(&name.as_bytes()[..n]);
        self
    }

    /// Runs `bpf(cmd, self, ATTR_LEN)`; returns the non-negative result.
    fn call(&mut self, cmd: libc::c_long) -> io::Result<libc::c_long> {
        loop {
            // SAFETY: the buffer is ATTR_LEN valid bytes; every pointer stored in it (keys,
            // values, instructions, license, log) was taken from a borrow the caller keeps
            // alive across this call.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_bpf,
                    cmd,
                    self.0.as_mut_ptr(),
                    ATTR_LEN as libc::c_uint,
                )
            };
            if rc >= 0 {
                return Ok(rc);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// Wraps a descriptor the kernel returned from `bpf(2)`.
fn owned(rc: libc::c_long) -> io::Result<OwnedFd> {
    let fd = RawFd::try_from(rc).map_err(|_| io::Error::other("bpf returned a bad fd"))?;
    // SAFETY: a non-negative result of these bpf commands is a new descriptor that nothing
    // else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ctx(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// An XSKMAP: receive queue index -> AF_XDP socket.
#[derive(Debug)]
pub struct XskMap {
    fd: OwnedFd,
    entries: u32,
}

impl XskMap {
    /// Creates a map with `entries` slots (one per receive queue served).
    pub fn create(entries: u32) -> io::Result<Self> {
        let entries = entries.max(1);
        let rc = Attr::new()
            .u32_at(0, BPF_MAP_TYPE_XSKMAP)
            .u32_at(4, 4) // key: u32 queue index
            .u32_at(8, 4) // value: u32 socket fd
            .u32_at(12, entries)
            .name_at(28, "lvs_xsks")
            .call(BPF_MAP_CREATE)
            .map_err(|e| ctx(e, "bpf(BPF_MAP_CREATE, XSKMAP)"))?;
        Ok(XskMap {
            fd: owned(rc)?,
            entries,
        })
    }

    /// Slots in the map.
    pub fn entries(&self) -> u32 {
        self.entries
    }

    /// Points slot `queue` at the AF_XDP socket `xsk` (which must be bound).
    pub fn set(&self, queue: u32, xsk: RawFd) -> io::Result<()> {
        let key = queue;
        let value = u32::try_from(xsk).map_err(|_| io::Error::other("negative fd"))?;
        Attr::new()
            .u32_at(0, self.fd.as_raw_fd() as u32)
            .u64_at(8, &key as *const u32 as u64)
            .u64_at(16, &value as *const u32 as u64)
            .call(BPF_MAP_UPDATE_ELEM)
            .map_err(|e| ctx(e, "bpf(BPF_MAP_UPDATE_ELEM)"))?;
        Ok(())
    }

    /// Empties slot `queue` (its frames then go to the kernel's stack).
    pub fn clear(&self, queue: u32) -> io::Result<()> {
        let key = queue;
        Attr::new()
            .u32_at(0, self.fd.as_raw_fd() as u32)
            .u64_at(8, &key as *const u32 as u64)
            .call(BPF_MAP_DELETE_ELEM)
            .map_err(|e| ctx(e, "bpf(BPF_MAP_DELETE_ELEM)"))?;
        Ok(())
    }
}

/// A loaded XDP program (not attached yet).
#[derive(Debug)]
pub struct XdpProgram {
    fd: OwnedFd,
}

impl XdpProgram {
    /// Loads [`redirect_program`] for `map`. On a verifier refusal the error carries the
    /// verifier's log.
    pub fn load_redirect(map: &XskMap) -> io::Result<Self> {
        let prog = redirect_program(map.fd.as_raw_fd());
        // bpf_redirect_map is not GPL-only; any licence string is accepted.
        let license = c"Dual MIT/GPL";
        let mut log = vec![0u8; LOG_LEN];
        let mut attr = Attr::new();
        attr.u32_at(0, BPF_PROG_TYPE_XDP)
            .u32_at(4, prog.len() as u32)
            .u64_at(8, prog.as_ptr() as u64)
            .u64_at(16, license.as_ptr() as u64)
            .name_at(48, "lvs_xsk_redir")
            .u32_at(68, BPF_XDP);
        match attr.call(BPF_PROG_LOAD) {
            Ok(rc) => Ok(XdpProgram { fd: owned(rc)? }),
            Err(first) => {
                // Load again with the verifier's log, to say why.
                attr.u32_at(24, 1)
                    .u32_at(28, LOG_LEN as u32)
                    .u64_at(32, log.as_mut_ptr() as u64);
                let again = attr.call(BPF_PROG_LOAD);
                if let Ok(rc) = again {
                    return Ok(XdpProgram { fd: owned(rc)? });
                }
                let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
                let text = String::from_utf8_lossy(&log[..end]);
                Err(io::Error::new(
                    first.kind(),
                    format!("bpf(BPF_PROG_LOAD, XDP redirect): {first}; verifier: {text}"),
                ))
            }
        }
    }
}

/// Where an XDP program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpMode {
    /// In the driver, before an skb exists (`XDP_FLAGS_DRV_MODE`); needed for zero copy.
    Native,
    /// On the skb, after the driver (`XDP_FLAGS_SKB_MODE`); works on every interface.
    Generic,
}

impl XdpMode {
    fn flags(self) -> u32 {
        match self {
            XdpMode::Native => XDP_FLAGS_DRV_MODE,
            XdpMode::Generic => XDP_FLAGS_SKB_MODE,
        }
    }
}

impl std::fmt::Display for XdpMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
        })
    }
}

/// An XDP program attached to an interface through a bpf_link; dropping it (or the process
/// ending) detaches the program.
#[derive(Debug)]
pub struct XdpLink {
    _fd: OwnedFd,
    mode: XdpMode,
}

impl XdpLink {
    /// Attaches `prog` to interface `ifindex` in `mode`.
    ///
    /// Fails with `EBUSY` when another XDP program is attached there, and with
    /// `EOPNOTSUPP`/`EINVAL` when the driver has no native XDP.
    pub fn attach(prog: &XdpProgram, ifindex: u32, mode: XdpMode) -> io::Result<Self> {
        let rc = Attr::new()
            .u32_at(0, prog.fd.as_raw_fd() as u32)
            .u32_at(4, ifindex)
            .u32_at(8, BPF_XDP)
            .u32_at(12, mode.flags())
            .call(BPF_LINK_CREATE)
            .map_err(|e| ctx(e, &format!("bpf(BPF_LINK_CREATE, XDP {mode})")))?;
        Ok(XdpLink {
            _fd: owned(rc)?,
            mode,
        })
    }

    /// Where the program runs.
    pub fn mode(&self) -> XdpMode {
        self.mode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encodings the reference notes list, for a map fd of 7 on a little-endian host.
    #[cfg(target_endian = "little")]
    #[test]
    fn redirect_program_encodes_as_documented() {
        let p = redirect_program(7);
        assert_eq!(p[0], 0x61 | (0x12 << 8) | (16 << 16));
        assert_eq!(p[1], 0x18 | (0x11 << 8) | (7u64 << 32));
        assert_eq!(p[2], 0);
        assert_eq!(p[3], 0xb7 | (0x03 << 8) | (2u64 << 32));
        assert_eq!(p[4], 0x85 | (51u64 << 32));
        assert_eq!(p[5], 0x95);
    }

    #[test]
    fn negative_offsets_and_immediates_keep_their_bits() {
        let i = insn(0x61, 1, 2, -8, -1);
        let b = i.to_ne_bytes();
        assert_eq!(b[0], 0x61);
        assert_eq!(i16::from_ne_bytes([b[2], b[3]]), -8);
        assert_eq!(i32::from_ne_bytes([b[4], b[5], b[6], b[7]]), -1);
    }
}
