//! A classic-BPF fanout program that keeps both directions of a VS/NAT connection on one worker.
//!
//! Why it exists: `PACKET_FANOUT_HASH` splits frames by the kernel's flow hash, which is
//! symmetric for one 4-tuple but knows nothing of NAT. A client's request goes client → VIP; the
//! real server's reply comes back real server → client, a different 4-tuple, so it usually lands
//! on another worker, one that has never seen the connection. What the two directions *do* share
//! is the client: NAT rewrites the VIP into the real server's address and back, but keeps the
//! client's address and port. So the group must hash the **client side**:
//!
//! * a frame whose destination is one of the VIPs comes from a client: hash (source address,
//!   source port);
//! * any other frame (a reply from a real server, whose destination is the client): hash
//!   (destination address, destination port);
//! * ports only for TCP and UDP — and not for IPv4 fragments after the first, nor for IPv6 with
//!   extension headers — otherwise the address alone, so every fragment of a datagram meets the
//!   same worker as its first one only when it carries no port (as in IPVS, fragments without
//!   ports are not balanced per port anyway);
//! * anything that is not IP (ARP, …) returns 0, i.e. the first worker.
//!
//! [`client_hash_program`] builds that program for `PACKET_FANOUT_CBPF`; the kernel takes its
//! return value modulo the number of sockets in the group. The program reads headers relative to
//! the *network header* (`SKF_NET_OFF`) and the EtherType from the `skb->protocol` ancillary
//! field, so it does not depend on where `skb->data` points when the fanout runs (ingress and
//! egress differ) nor on VLAN offload. The hash is a multiply/xor mix (the 32-bit finaliser
//! shape of MurmurHash3) so consecutive client ports and addresses spread evenly over workers
//! even when the group size is a power of two.
//!
//! A rules reload that changes the VIPs rebuilds the program and swaps it into the group with
//! [`AfPacketPort::set_fanout_program`](super::afpacket::AfPacketPort::set_fanout_program).
//!
//! [`run_program`] interprets the subset of classic BPF the builder emits over an Ethernet frame,
//! with the kernel's semantics (a load outside the packet ends the program with 0). Tests check
//! the builder with it, and a caller can predict which worker a flow lands on ([`worker_for`]).

use std::fmt;
use std::net::IpAddr;

/// Largest classic BPF program the kernel accepts (`BPF_MAXINSNS`, include/uapi/linux/bpf_common.h).
pub const MAX_INSNS: usize = 4096;

// Classic BPF opcode parts (include/uapi/linux/bpf_common.h and filter.h).
/// Class: load into A.
pub(crate) const BPF_LD: u16 = 0x00;
/// Class: load into X.
pub(crate) const BPF_LDX: u16 = 0x01;
/// Class: store A into scratch memory.
pub(crate) const BPF_ST: u16 = 0x02;
/// Class: arithmetic on A.
pub(crate) const BPF_ALU: u16 = 0x04;
/// Class: jumps.
pub(crate) const BPF_JMP: u16 = 0x05;
/// Class: return.
pub(crate) const BPF_RET: u16 = 0x06;
/// Class: register transfers.
pub(crate) const BPF_MISC: u16 = 0x07;
/// Size: 32-bit word.
pub(crate) const BPF_W: u16 = 0x00;
/// Size: 16-bit half word.
pub(crate) const BPF_H: u16 = 0x08;
/// Size: byte.
pub(crate) const BPF_B: u16 = 0x10;
/// Mode: constant.
pub(crate) const BPF_IMM: u16 = 0x00;
/// Mode: packet offset `k`.
pub(crate) const BPF_ABS: u16 = 0x20;
/// Mode: packet offset `X + k`.
pub(crate) const BPF_IND: u16 = 0x40;
/// Mode: scratch memory word `k`.
pub(crate) const BPF_MEM: u16 = 0x60;
/// Mode: `X = 4 * (pkt[k] & 0xf)` (the IPv4 header length).
pub(crate) const BPF_MSH: u16 = 0xa0;
/// ALU op: multiply.
pub(crate) const BPF_MUL: u16 = 0x20;
/// ALU op: shift right.
pub(crate) const BPF_RSH: u16 = 0x70;
/// ALU op: exclusive or.
pub(crate) const BPF_XOR: u16 = 0xa0;
/// Jump: always.
pub(crate) const BPF_JA: u16 = 0x00;
/// Jump: if A == k.
pub(crate) const BPF_JEQ: u16 = 0x10;
/// Jump: if A & k != 0.
pub(crate) const BPF_JSET: u16 = 0x40;
/// Source: the constant `k`.
pub(crate) const BPF_K: u16 = 0x00;
/// Source: register X.
pub(crate) const BPF_X: u16 = 0x08;
/// Return source: register A.
pub(crate) const BPF_A: u16 = 0x10;
/// MISC op: X = A.
pub(crate) const BPF_TAX: u16 = 0x00;

/// Offset base of loads relative to the network header (`SKF_NET_OFF`).
pub(crate) const NET_OFF: u32 = libc::SKF_NET_OFF as u32;
/// The `skb->protocol` ancillary load (`SKF_AD_OFF + SKF_AD_PROTOCOL`), in host byte order.
pub(crate) const AD_PROTOCOL: u32 = (libc::SKF_AD_OFF + libc::SKF_AD_PROTOCOL) as u32;

/// EtherType of IPv4 (IEEE 802 numbers).
const ETH_P_IP: u32 = 0x0800;
/// EtherType of IPv6.
const ETH_P_IPV6: u32 = 0x86dd;
/// IP protocol number of TCP (IANA).
const IPPROTO_TCP: u32 = 6;
/// IP protocol number of UDP (IANA).
const IPPROTO_UDP: u32 = 17;
/// Fragment offset bits of the IPv4 flags/fragment word (RFC 791).
const IPV4_FRAG_OFFSET_MASK: u32 = 0x1fff;
/// Length of the fixed IPv6 header (RFC 8200).
const IPV6_HDR_LEN: u32 = 40;

/// Scratch word holding the address part of the hash.
const M_ADDR: u32 = 0;
/// Scratch word holding the port (0 when there is none).
const M_PORT: u32 = 1;

/// Multiplier folding address words and the port together (2^32 / golden ratio).
const MIX_GOLDEN: u32 = 0x9e37_79b1;
/// First multiplier of the MurmurHash3 32-bit finaliser.
const MIX_C1: u32 = 0x85eb_ca6b;
/// Second multiplier of the MurmurHash3 32-bit finaliser.
const MIX_C2: u32 = 0xc2b2_ae35;

/// Instructions of the program apart from the VIP comparisons.
const BASE_INSNS: usize = 93;
/// Instructions per IPv4 VIP (a compare and a jump).
const INSNS_PER_V4_VIP: usize = 2;
/// Instructions per IPv6 VIP (four loads, four compares and a jump).
const INSNS_PER_V6_VIP: usize = 9;

/// Why a fanout program could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FanoutError {
    /// The VIP comparisons do not fit the kernel's limit on classic BPF programs.
    TooManyVips {
        /// Distinct IPv4 VIPs asked for.
        ipv4: usize,
        /// Distinct IPv6 VIPs asked for.
        ipv6: usize,
        /// Instructions the program would need.
        needed: usize,
        /// The kernel's limit ([`MAX_INSNS`]).
        limit: usize,
    },
    /// A conditional jump would span more than 255 instructions (a bug in the builder).
    JumpOutOfRange {
        /// Index of the jump instruction.
        at: usize,
    },
}

impl fmt::Display for FanoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FanoutError::TooManyVips {
                ipv4,
                ipv6,
                needed,
                limit,
            } => write!(
                f,
                "fanout program for {ipv4} IPv4 and {ipv6} IPv6 VIPs needs {needed} \
                 instructions, more than the kernel's {limit}"
            ),
            FanoutError::JumpOutOfRange { at } => {
                write!(f, "fanout program: conditional jump at {at} out of range")
            }
        }
    }
}

impl std::error::Error for FanoutError {}

/// A jump target: a label bound somewhere in the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Label(usize);

/// One instruction before its jump offsets are known.
#[derive(Debug, Clone, Copy)]
enum Insn {
    Stmt(u16, u32),
    /// Conditional jump on A; `None` means the next instruction.
    Cond(u16, u32, Option<Label>, Option<Label>),
    Ja(Label),
}

/// A tiny assembler with forward labels.
#[derive(Debug, Default)]
struct Asm {
    insns: Vec<Insn>,
    labels: Vec<usize>,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels.push(usize::MAX);
        Label(self.labels.len() - 1)
    }

    fn bind(&mut self, l: Label) {
        self.labels[l.0] = self.insns.len();
    }

    fn stmt(&mut self, code: u16, k: u32) {
        self.insns.push(Insn::Stmt(code, k));
    }

    fn jeq(&mut self, k: u32, jt: Option<Label>, jf: Option<Label>) {
        self.insns
            .push(Insn::Cond(BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf));
    }

    fn jset(&mut self, k: u32, jt: Option<Label>, jf: Option<Label>) {
        self.insns
            .push(Insn::Cond(BPF_JMP | BPF_JSET | BPF_K, k, jt, jf));
    }

    fn ja(&mut self, l: Label) {
        self.insns.push(Insn::Ja(l));
    }

    /// `A = ntohl/ntohs(pkt[net + off])` for a word, half word or byte.
    fn ld_net(&mut self, size: u16, off: u32) {
        self.stmt(BPF_LD | size | BPF_ABS, NET_OFF.wrapping_add(off));
    }

    /// Resolves labels into relative offsets.
    fn finish(self) -> Result<Vec<libc::sock_filter>, FanoutError> {
        let Asm { insns, labels } = self;
        let mut out = Vec::with_capacity(insns.len());
        for (pc, insn) in insns.iter().enumerate() {
            // A label bound at or before `pc` would be a backward jump; the builder never
            // emits one, and `checked_sub` turns it into an error rather than a wrap.
            let rel = |l: Option<Label>| -> Option<usize> {
                match l {
                    None => Some(0),
                    Some(l) => labels.get(l.0)?.checked_sub(pc + 1),
                }
            };
            let f = match *insn {
                Insn::Stmt(code, k) => libc::sock_filter {
                    code,
                    jt: 0,
                    jf: 0,
                    k,
                },
                Insn::Cond(code, k, jt, jf) => {
                    let bad = FanoutError::JumpOutOfRange { at: pc };
                    let jt = rel(jt).and_then(|o| u8::try_from(o).ok());
                    let jf = rel(jf).and_then(|o| u8::try_from(o).ok());
                    let (Some(jt), Some(jf)) = (jt, jf) else {
                        return Err(bad);
                    };
                    libc::sock_filter { code, jt, jf, k }
                }
                Insn::Ja(l) => {
                    let off = rel(Some(l))
                        .and_then(|o| u32::try_from(o).ok())
                        .ok_or(FanoutError::JumpOutOfRange { at: pc })?;
                    libc::sock_filter {
                        code: BPF_JMP | BPF_JA,
                        jt: 0,
                        jf: 0,
                        k: off,
                    }
                }
            };
            out.push(f);
        }
        Ok(out)
    }
}

/// Offsets in the IP header of the fields one direction hashes.
#[derive(Debug, Clone, Copy)]
struct Side {
    /// Offset of the (first word of the) address.
    addr: u32,
    /// Offset of the port inside the L4 header (0: source, 2: destination).
    port: u32,
}

/// IPv4 source side (RFC 791 header: source at 12, destination at 16).
const V4_SRC: Side = Side { addr: 12, port: 0 };
/// IPv4 destination side.
const V4_DST: Side = Side { addr: 16, port: 2 };
/// IPv6 source side (RFC 8200 header: source at 8, destination at 24).
const V6_SRC: Side = Side { addr: 8, port: 0 };
/// IPv6 destination side.
const V6_DST: Side = Side { addr: 24, port: 2 };

/// Emits the IPv4 block that hashes one side, then jumps to `fin`.
fn emit_v4_side(a: &mut Asm, side: Side, fin: Label) {
    let port = a.label();
    let out = a.label();
    a.ld_net(BPF_W, side.addr);
    a.stmt(BPF_ST, M_ADDR);
    a.stmt(BPF_LD | BPF_IMM, 0);
    a.stmt(BPF_ST, M_PORT);
    a.ld_net(BPF_B, 9); // protocol
    a.jeq(IPPROTO_TCP, Some(port), None);
    a.jeq(IPPROTO_UDP, Some(port), Some(out));
    a.bind(port);
    a.ld_net(BPF_H, 6); // flags and fragment offset
    a.jset(IPV4_FRAG_OFFSET_MASK, Some(out), None);
    a.stmt(BPF_LDX | BPF_B | BPF_MSH, NET_OFF); // X = IHL * 4
    a.stmt(BPF_LD | BPF_H | BPF_IND, NET_OFF.wrapping_add(side.port));
    a.stmt(BPF_ST, M_PORT);
    a.bind(out);
    a.ja(fin);
}

/// Emits the IPv6 block that hashes one side, then jumps to `fin`.
fn emit_v6_side(a: &mut Asm, side: Side, fin: Label) {
    let port = a.label();
    let out = a.label();
    // h = ((w0 * G ^ w1) * G ^ w2) * G ^ w3
    a.ld_net(BPF_W, side.addr);
    for i in 1..4 {
        a.stmt(BPF_ALU | BPF_MUL | BPF_K, MIX_GOLDEN);
        a.stmt(BPF_MISC | BPF_TAX, 0);
        a.ld_net(BPF_W, side.addr + 4 * i);
        a.stmt(BPF_ALU | BPF_XOR | BPF_X, 0);
    }
    a.stmt(BPF_ST, M_ADDR);
    a.stmt(BPF_LD | BPF_IMM, 0);
    a.stmt(BPF_ST, M_PORT);
    a.ld_net(BPF_B, 6); // next header
    a.jeq(IPPROTO_TCP, Some(port), None);
    a.jeq(IPPROTO_UDP, Some(port), Some(out));
    a.bind(port);
    a.ld_net(BPF_H, IPV6_HDR_LEN + side.port);
    a.stmt(BPF_ST, M_PORT);
    a.bind(out);
    a.ja(fin);
}

/// Emits `A ^= A >> shift`, clobbering X.
fn xorshift(a: &mut Asm, shift: u32) {
    a.stmt(BPF_MISC | BPF_TAX, 0);
    a.stmt(BPF_ALU | BPF_RSH | BPF_K, shift);
    a.stmt(BPF_ALU | BPF_XOR | BPF_X, 0);
}

/// Builds the client-side hash program for `PACKET_FANOUT_CBPF` (see the module docs).
///
/// Duplicate VIPs are compared once. With no VIPs every frame hashes its destination, which
/// keeps replies with their clients but spreads no requests: pass the VIPs.
pub fn client_hash_program(vips: &[IpAddr]) -> Result<Vec<libc::sock_filter>, FanoutError> {
    let mut v4: Vec<u32> = Vec::new();
    let mut v6: Vec<[u32; 4]> = Vec::new();
    for vip in vips {
        match vip {
            IpAddr::V4(a) => v4.push(a.to_bits()),
            IpAddr::V6(a) => {
                let b = a.octets();
                let w = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
                v6.push([w(0), w(4), w(8), w(12)]);
            }
        }
    }
    v4.sort_unstable();
    v4.dedup();
    v6.sort_unstable();
    v6.dedup();
    let needed = BASE_INSNS + INSNS_PER_V4_VIP * v4.len() + INSNS_PER_V6_VIP * v6.len();
    if needed > MAX_INSNS {
        return Err(FanoutError::TooManyVips {
            ipv4: v4.len(),
            ipv6: v6.len(),
            needed,
            limit: MAX_INSNS,
        });
    }

    let mut a = Asm::default();
    let (l_v4, l_v6, l_v6_far) = (a.label(), a.label(), a.label());
    let (src4, dst4, src6, dst6, fin) = (a.label(), a.label(), a.label(), a.label(), a.label());

    a.stmt(BPF_LD | BPF_H | BPF_ABS, AD_PROTOCOL);
    a.jeq(ETH_P_IP, Some(l_v4), None);
    a.jeq(ETH_P_IPV6, Some(l_v6_far), None);
    a.stmt(BPF_RET | BPF_K, 0);
    a.bind(l_v6_far);
    a.ja(l_v6);

    // IPv4: is the destination a VIP?
    a.bind(l_v4);
    a.ld_net(BPF_W, 16);
    for vip in &v4 {
        let next = a.label();
        a.jeq(*vip, None, Some(next));
        a.ja(src4);
        a.bind(next);
    }
    a.bind(dst4);
    emit_v4_side(&mut a, V4_DST, fin);
    a.bind(src4);
    emit_v4_side(&mut a, V4_SRC, fin);

    // IPv6: is the destination a VIP?
    a.bind(l_v6);
    for vip in &v6 {
        let next = a.label();
        for (i, w) in vip.iter().enumerate() {
            a.ld_net(BPF_W, V6_DST.addr + 4 * i as u32);
            a.jeq(*w, None, Some(next));
        }
        a.ja(src6);
        a.bind(next);
    }
    a.bind(dst6);
    emit_v6_side(&mut a, V6_DST, fin);
    a.bind(src6);
    emit_v6_side(&mut a, V6_SRC, fin);

    // h = fmix32(addr * G ^ port)
    a.bind(fin);
    a.stmt(BPF_LD | BPF_MEM, M_PORT);
    a.stmt(BPF_MISC | BPF_TAX, 0);
    a.stmt(BPF_LD | BPF_MEM, M_ADDR);
    a.stmt(BPF_ALU | BPF_MUL | BPF_K, MIX_GOLDEN);
    a.stmt(BPF_ALU | BPF_XOR | BPF_X, 0);
    xorshift(&mut a, 16);
    a.stmt(BPF_ALU | BPF_MUL | BPF_K, MIX_C1);
    xorshift(&mut a, 13);
    a.stmt(BPF_ALU | BPF_MUL | BPF_K, MIX_C2);
    xorshift(&mut a, 16);
    a.stmt(BPF_RET | BPF_A, 0);

    let prog = a.finish()?;
    debug_assert_eq!(prog.len(), needed, "BASE_INSNS out of date");
    Ok(prog)
}

/// `ETH_P_ARP`.
const ETH_P_ARP: u32 = 0x0806;
/// `IPPROTO_ICMPV6`, the IPv6 next header of neighbour discovery.
const IPPROTO_ICMPV6: u32 = 58;
/// ICMPv6 Neighbor Solicitation (RFC 4861 §4.3).
const ND_NEIGHBOR_SOLICIT: u32 = 135;
/// ICMPv6 Neighbor Advertisement (RFC 4861 §4.4).
const ND_NEIGHBOR_ADVERT: u32 = 136;
/// What a socket filter returns to keep a whole frame (bytes to keep: any frame fits).
const KEEP_ALL: u32 = 0x0004_0000;

/// A socket filter (`SO_ATTACH_FILTER`) that tells neighbour resolution frames (ARP, and
/// ICMPv6 neighbour solicitations and advertisements right after the IPv6 header) from
/// the rest: with `keep_neighbor` it keeps only those, otherwise only the rest.
///
/// Why: with `--fanout` the kernel hands each frame to one worker, but every worker has its
/// own neighbour cache and must see the ARP/ND answer to its own request. So the fanout
/// sockets drop neighbour frames and every worker has one more socket per interface that
/// receives only them.
pub fn neighbor_frames_program(keep_neighbor: bool) -> Vec<libc::sock_filter> {
    let (nd, rest) = if keep_neighbor {
        (KEEP_ALL, 0)
    } else {
        (0, KEEP_ALL)
    };
    let mut a = Asm::default();
    let (is_nd, not_nd, v6, icmp) = (a.label(), a.label(), a.label(), a.label());
    a.stmt(BPF_LD | BPF_H | BPF_ABS, AD_PROTOCOL);
    a.jeq(ETH_P_ARP, Some(is_nd), None);
    a.jeq(ETH_P_IPV6, Some(v6), Some(not_nd));
    a.bind(v6);
    a.ld_net(BPF_B, 6);
    a.jeq(IPPROTO_ICMPV6, Some(icmp), Some(not_nd));
    a.bind(icmp);
    a.ld_net(BPF_B, IPV6_HDR_LEN);
    a.jeq(ND_NEIGHBOR_SOLICIT, Some(is_nd), None);
    a.jeq(ND_NEIGHBOR_ADVERT, Some(is_nd), Some(not_nd));
    a.bind(is_nd);
    a.stmt(BPF_RET | BPF_K, nd);
    a.bind(not_nd);
    a.stmt(BPF_RET | BPF_K, rest);
    // Eleven instructions with short forward jumps: assembling cannot fail.
    a.finish().unwrap_or_default()
}

/// Length of the Ethernet header in front of the network header of an untagged frame.
const ETH_HLEN: usize = 14;

/// Runs `prog` over the untagged Ethernet frame `frame` as the kernel's fanout would on
/// ingress, and returns the program's result (before the kernel takes it modulo the group
/// size). The EtherType is the frame's (bytes 12–13); the network header starts at byte 14.
///
/// Covers the instructions [`client_hash_program`] emits; any other instruction, a jump past
/// the end, or running off the end returns `None`. A load outside the frame ends the program
/// with `Some(0)`, as in the kernel.
pub fn run_program(prog: &[libc::sock_filter], frame: &[u8]) -> Option<u32> {
    let net = frame.get(ETH_HLEN..).unwrap_or(&[]);
    let proto = frame
        .get(12..14)
        .map_or(0, |b| u32::from(u16::from_be_bytes([b[0], b[1]])));
    // Reads `size` bytes big-endian at packet offset `k` (network-relative or ancillary).
    let load = |k: u32, size: u16| -> Option<u32> {
        if k == AD_PROTOCOL {
            return Some(proto);
        }
        let off = usize::try_from(k.checked_sub(NET_OFF)?).ok()?;
        if off >= 0x10_0000 {
            return None; // not a network-relative offset
        }
        let n = match size {
            BPF_W => 4,
            BPF_H => 2,
            _ => 1,
        };
        let bytes = net.get(off..off.checked_add(n)?)?;
        Some(bytes.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b)))
    };
    let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
    let mut pc = 0usize;
    for _ in 0..=prog.len() {
        let i = *prog.get(pc)?;
        pc += 1;
        let (class, size, mode) = (i.code & 0x07, i.code & 0x18, i.code & 0xe0);
        match class {
            BPF_LD => match mode {
                BPF_IMM => a = i.k,
                BPF_MEM => a = *mem.get(i.k as usize)?,
                BPF_ABS => match load(i.k, size) {
                    Some(v) => a = v,
                    None => return Some(0),
                },
                BPF_IND => match load(x.wrapping_add(i.k), size) {
                    Some(v) => a = v,
                    None => return Some(0),
                },
                _ => return None,
            },
            BPF_LDX if i.code == BPF_LDX | BPF_B | BPF_MSH => match load(i.k, BPF_B) {
                Some(v) => x = 4 * (v & 0xf),
                None => return Some(0),
            },
            BPF_ST => *mem.get_mut(i.k as usize)? = a,
            BPF_ALU => {
                let v = if i.code & BPF_X != 0 { x } else { i.k };
                match i.code & 0xf0 {
                    BPF_MUL => a = a.wrapping_mul(v),
                    BPF_XOR => a ^= v,
                    BPF_RSH => a = a.checked_shr(v).unwrap_or(0),
                    _ => return None,
                }
            }
            BPF_JMP => {
                let skip = match i.code & 0xf0 {
                    BPF_JA => usize::try_from(i.k).ok()?,
                    BPF_JEQ if a == i.k => usize::from(i.jt),
                    BPF_JSET if a & i.k != 0 => usize::from(i.jt),
                    BPF_JEQ | BPF_JSET => usize::from(i.jf),
                    _ => return None,
                };
                pc = pc.checked_add(skip)?;
            }
            BPF_RET => return Some(if i.code & BPF_A != 0 { a } else { i.k }),
            BPF_MISC if i.code == BPF_MISC | BPF_TAX => x = a,
            _ => return None,
        }
    }
    None
}

/// The worker (socket index in a group of `workers`) the kernel hands `frame` to, or `None` if
/// the program cannot be interpreted or `workers` is 0.
pub fn worker_for(prog: &[libc::sock_filter], frame: &[u8], workers: u32) -> Option<u32> {
    run_program(prog, frame)?.checked_rem(workers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const TCP: u8 = 6;
    const UDP: u8 = 17;

    /// An Ethernet + IPv4 + L4 frame; `options` 32-bit words of IP options; `frag` the
    /// fragment-offset field (in 8-byte units).
    fn v4(
        src: Ipv4Addr,
        dst: Ipv4Addr,
        proto: u8,
        sp: u16,
        dp: u16,
        options: usize,
        frag: u16,
    ) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let ihl = 5 + options;
        f.push(0x40 | ihl as u8);
        f.push(0);
        f.extend_from_slice(&((ihl * 4 + 8) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&frag.to_be_bytes());
        f.extend_from_slice(&[64, proto, 0, 0]);
        f.extend_from_slice(&src.octets());
        f.extend_from_slice(&dst.octets());
        f.extend(std::iter::repeat_n(1u8, options * 4)); // NOP options
        f.extend_from_slice(&sp.to_be_bytes());
        f.extend_from_slice(&dp.to_be_bytes());
        f.extend_from_slice(&[0, 8, 0, 0]);
        f
    }

    fn v6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, sp: u16, dp: u16) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x86, 0xdd]);
        f.extend_from_slice(&[0x60, 0, 0, 0, 0, 8, next, 64]);
        f.extend_from_slice(&src.octets());
        f.extend_from_slice(&dst.octets());
        f.extend_from_slice(&sp.to_be_bytes());
        f.extend_from_slice(&dp.to_be_bytes());
        f.extend_from_slice(&[0, 8, 0, 0]);
        f
    }

    const VIP4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
    const RS4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 20);
    const CL4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);

    fn vip6() -> Ipv6Addr {
        "2001:db8::10".parse().unwrap()
    }
    fn rs6() -> Ipv6Addr {
        "2001:db8:1::20".parse().unwrap()
    }
    fn cl6() -> Ipv6Addr {
        "2001:db8:2::77".parse().unwrap()
    }

    fn prog() -> Vec<libc::sock_filter> {
        client_hash_program(&[
            IpAddr::V4(Ipv4Addr::new(203, 0, 113, 11)),
            IpAddr::V4(VIP4),
            IpAddr::V6(vip6()),
            IpAddr::V4(VIP4),
        ])
        .unwrap()
    }

    fn run(p: &[libc::sock_filter], f: &[u8]) -> u32 {
        run_program(p, f).expect("program interprets")
    }

    #[test]
    fn request_and_nat_reply_hash_alike_v4() {
        let p = prog();
        for proto in [TCP, UDP] {
            for options in [0, 3] {
                let req = v4(CL4, VIP4, proto, 40_000, 80, options, 0);
                // NAT: the real server answers the client from its own address.
                let rep = v4(RS4, CL4, proto, 8080, 40_000, options, 0);
                assert_eq!(
                    run(&p, &req),
                    run(&p, &rep),
                    "proto {proto} options {options}"
                );
                // Another client port is another hash (the port is in it).
                let other = v4(CL4, VIP4, proto, 40_001, 80, options, 0);
                assert_ne!(run(&p, &req), run(&p, &other));
                // Not keyed on the server side.
                let other_rs = v4(
                    Ipv4Addr::new(198, 51, 100, 21),
                    CL4,
                    proto,
                    80,
                    40_000,
                    options,
                    0,
                );
                assert_eq!(run(&p, &rep), run(&p, &other_rs));
            }
        }
    }

    #[test]
    fn ip_options_shift_the_ports() {
        // With the header length honoured, the ports read with options equal those without;
        // reading at a fixed offset 20 would hash option bytes instead.
        let p = prog();
        let plain = v4(CL4, VIP4, TCP, 40_000, 80, 0, 0);
        let opts = v4(CL4, VIP4, TCP, 40_000, 80, 3, 0);
        assert_eq!(run(&p, &plain), run(&p, &opts));
    }

    #[test]
    fn request_and_nat_reply_hash_alike_v6() {
        let p = prog();
        for proto in [TCP, UDP] {
            let req = v6(cl6(), vip6(), proto, 50_000, 443);
            let rep = v6(rs6(), cl6(), proto, 8443, 50_000);
            assert_eq!(run(&p, &req), run(&p, &rep));
            let other = v6(cl6(), vip6(), proto, 50_001, 443);
            assert_ne!(run(&p, &req), run(&p, &other));
        }
        // An extension header hides the ports: the address alone is hashed.
        let a = v6(cl6(), vip6(), 44, 1, 2);
        let b = v6(cl6(), vip6(), 44, 3, 4);
        assert_eq!(run(&p, &a), run(&p, &b));
        assert_ne!(run(&p, &a), 0);
    }

    #[test]
    fn fragments_and_other_protocols_hash_the_address_only() {
        let p = prog();
        let later = v4(CL4, VIP4, UDP, 1, 2, 0, 100);
        let later2 = v4(CL4, VIP4, UDP, 3, 4, 0, 100);
        assert_eq!(run(&p, &later), run(&p, &later2));
        let icmp = v4(CL4, VIP4, 1, 9, 9, 0, 0);
        assert_eq!(run(&p, &icmp), run(&p, &later));
        // The first fragment (offset 0, MF set) carries ports.
        let first = v4(CL4, VIP4, UDP, 1, 2, 0, 0x2000);
        assert_ne!(run(&p, &first), run(&p, &later));
    }

    #[test]
    fn non_ip_and_truncated_frames_give_zero() {
        let p = prog();
        let mut arp = vec![0xffu8; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0; 28]);
        assert_eq!(run(&p, &arp), 0);
        // An IPv4 EtherType with a header cut short: the load fails, the program returns 0.
        let cut = &v4(CL4, VIP4, TCP, 1, 2, 0, 0)[..20];
        assert_eq!(run(&p, cut), 0);
        // Ports past the end: also 0, like the kernel.
        let full = v4(CL4, VIP4, TCP, 1, 2, 0, 0);
        assert_eq!(run(&p, &full[..34]), 0);
    }

    /// A 32-bit xorshift generator (tests need no crate for this).
    fn xorshift32(s: &mut u32) -> u32 {
        *s ^= *s << 13;
        *s ^= *s >> 17;
        *s ^= *s << 5;
        *s
    }

    #[test]
    fn random_clients_spread_evenly() {
        let p = prog();
        let mut seed = 0x1234_5678u32;
        let frames: Vec<Vec<u8>> = (0..1000)
            .map(|_| {
                let r = xorshift32(&mut seed);
                let cl = Ipv4Addr::from_bits(0xc000_0200 | (r & 0xff)); // 192.0.2.0/24
                v4(cl, VIP4, TCP, 1024 + (r >> 16) as u16 % 60_000, 80, 0, 0)
            })
            .collect();
        // Consecutive ports of one client spread too.
        let seq: Vec<Vec<u8>> = (0..1000)
            .map(|i| v4(CL4, VIP4, UDP, 30_000 + i, 53, 0, 0))
            .collect();
        for set in [&frames, &seq] {
            for workers in [2u32, 4] {
                let mut counts = vec![0u32; workers as usize];
                for f in set.iter() {
                    counts[worker_for(&p, f, workers).unwrap() as usize] += 1;
                }
                let even = 1000 / workers;
                for c in &counts {
                    assert!(
                        c.abs_diff(even) * 4 <= even,
                        "{workers} workers: {counts:?} not within 25% of {even}"
                    );
                }
            }
        }
    }

    #[test]
    fn too_many_vips_is_an_error() {
        let many: Vec<IpAddr> = (0..2100u32)
            .map(|i| IpAddr::V4(Ipv4Addr::from_bits(0xcb00_7100 + i))) // from 203.0.113.0
            .collect();
        match client_hash_program(&many) {
            Err(FanoutError::TooManyVips {
                ipv4,
                needed,
                limit,
                ..
            }) => {
                assert_eq!((ipv4, limit), (2100, MAX_INSNS));
                assert!(needed > MAX_INSNS);
            }
            other => panic!("expected TooManyVips, got {other:?}"),
        }
        // The largest IPv4 set that fits is accepted and every one of its VIPs is recognised.
        let fit = (MAX_INSNS - BASE_INSNS) / INSNS_PER_V4_VIP;
        let p = client_hash_program(&many[..fit]).unwrap();
        assert_eq!(p.len(), BASE_INSNS + fit * INSNS_PER_V4_VIP);
        let IpAddr::V4(last) = many[fit - 1] else {
            unreachable!()
        };
        let req = v4(CL4, last, TCP, 40_000, 80, 0, 0);
        let rep = v4(RS4, CL4, TCP, 80, 40_000, 0, 0);
        assert_eq!(run(&p, &req), run(&p, &rep));
        // Six hundred IPv6 VIPs do not fit.
        let v6s: Vec<IpAddr> = (0..600u16)
            .map(|i| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i)))
            .collect();
        assert!(matches!(
            client_hash_program(&v6s),
            Err(FanoutError::TooManyVips { ipv6: 600, .. })
        ));
    }

    #[test]
    fn no_vips_hashes_destinations() {
        let p = client_hash_program(&[]).unwrap();
        let a = v4(CL4, VIP4, TCP, 1, 80, 0, 0);
        let b = v4(RS4, VIP4, TCP, 2, 80, 0, 0);
        assert_eq!(run(&p, &a), run(&p, &b));
    }

    #[test]
    fn interpreter_refuses_unknown_code() {
        let bad = [libc::sock_filter {
            code: 0x84, // BPF_ALU | BPF_NEG is not emitted
            jt: 0,
            jf: 0,
            k: 0,
        }];
        assert_eq!(run_program(&bad, &[0; 60]), None);
    }

    #[test]
    fn neighbor_frames_go_to_the_neighbour_sockets_only() {
        let keep = neighbor_frames_program(true);
        let rest = neighbor_frames_program(false);
        let mut arp = vec![0xff; 6];
        arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
        arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        arp.extend_from_slice(&[0; 20]);
        let ns = v6(cl6(), rs6(), 58, 135 << 8, 0);
        let na = v6(rs6(), cl6(), 58, 136 << 8, 0);
        let echo = v6(cl6(), vip6(), 58, 128 << 8, 0);
        let tcp6 = v6(cl6(), vip6(), 6, 40000, 80);
        let tcp4 = v4(CL4, VIP4, 6, 40000, 80, 0, 0);
        for f in [&arp, &ns, &na] {
            assert_eq!(run_program(&keep, f), Some(KEEP_ALL));
            assert_eq!(run_program(&rest, f), Some(0));
        }
        for f in [&echo, &tcp6, &tcp4] {
            assert_eq!(run_program(&keep, f), Some(0));
            assert_eq!(run_program(&rest, f), Some(KEEP_ALL));
        }
    }
}
