//! VS/NAT: destination NAT on requests, source NAT on replies, and the rewrite of ICMP
//! errors that quote a NATed packet (`ip_vs_nat_icmp`).
//!
//! Why incremental checksums here: only an address, a port and the TTL change, so the
//! TCP/UDP checksum (which covers the pseudo-header) and the IPv4 header checksum are patched
//! with RFC 1624 in a few operations, as `tcp_dnat_handler` does. ICMP errors are the
//! exception: like the kernel, the full ICMP checksum is recomputed, because the rewrite
//! touches the quoted header and port in ways whose deltas cancel only in part, and the
//! message is short (at most 576 / 1280 bytes).
//!
//! Frames with a *partial* L4 checksum (offloads, see [`crate::offload`]) go through
//! [`nat_request_partial`] / [`nat_reply_partial`]: their checksum field holds only the
//! folded pseudo-header sum, and the finisher (kernel, NIC or [`crate::gso`]) later sums the
//! L4 header, ports included, and the payload. So only the address change is folded into
//! the field, uncomplemented, as IPVS does for `CHECKSUM_PARTIAL` skbs
//! (`tcp_partial_csum_update` / `udp_partial_csum_update`); folding the port in too would
//! count it twice.

use super::{XformError, check_ttl, dec_ttl, ip_in, ipv4_header_checksum};
use crate::wire::{
    Frame, IpFamily, L4, arr4_at, be16, be16_at, checksum, icmp, ipv4, ipv6, l4, proto, put16,
};
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Src,
    Dst,
}

/// Request path DNAT: rewrites the destination address and port to the real server
/// `new_dst`, fixes the TCP/UDP checksum (pseudo-header included) and the IPv4 header
/// checksum incrementally, and decrements the TTL / hop limit.
///
/// A UDP/IPv4 checksum of 0 (no checksum) stays 0. Later fragments are refused
/// ([`XformError::Fragmented`]): they carry no ports.
pub fn nat_request(frame: &mut [u8], f: &Frame, new_dst: SocketAddr) -> Result<(), XformError> {
    rewrite::<false>(frame, f, Side::Dst, new_dst)
}

/// Reply path SNAT: rewrites the source address and port back to the virtual service
/// `new_src`; checksums and TTL as in [`nat_request`].
pub fn nat_reply(frame: &mut [u8], f: &Frame, new_src: SocketAddr) -> Result<(), XformError> {
    rewrite::<false>(frame, f, Side::Src, new_src)
}

/// [`nat_request`] for a frame whose TCP/UDP checksum is partial (its field holds the
/// pseudo-header sum, `csum_start` is the L4 header): the field is updated for the address
/// change only, never for the port (see the module docs). There is no UDP "no checksum" case
/// here: a partial field is a sum the finisher always completes. The IPv4 header checksum
/// is complete, as in [`nat_request`].
pub fn nat_request_partial(
    frame: &mut [u8],
    f: &Frame,
    new_dst: SocketAddr,
) -> Result<(), XformError> {
    rewrite::<true>(frame, f, Side::Dst, new_dst)
}

/// [`nat_reply`] for a frame whose TCP/UDP checksum is partial; see [`nat_request_partial`].
pub fn nat_reply_partial(
    frame: &mut [u8],
    f: &Frame,
    new_src: SocketAddr,
) -> Result<(), XformError> {
    rewrite::<true>(frame, f, Side::Src, new_src)
}

fn addr_off(fam: IpFamily, side: Side) -> usize {
    match (fam, side) {
        (IpFamily::V4, Side::Src) => ipv4::OFF_SRC,
        (IpFamily::V4, Side::Dst) => ipv4::OFF_DST,
        (IpFamily::V6, Side::Src) => ipv6::OFF_SRC,
        (IpFamily::V6, Side::Dst) => ipv6::OFF_DST,
    }
}

fn addr_len(fam: IpFamily) -> usize {
    match fam {
        IpFamily::V4 => 4,
        IpFamily::V6 => 16,
    }
}

/// Writes `new` at `off` (length per family) and returns the old bytes and new bytes as a
/// fixed array pair plus length.
fn swap_addr(
    buf: &mut [u8],
    off: usize,
    new: &IpAddr,
) -> Result<([u8; 16], [u8; 16], usize), XformError> {
    let mut n = [0u8; 16];
    let len = match new {
        IpAddr::V4(a) => {
            n[..4].copy_from_slice(&a.octets());
            4
        }
        IpAddr::V6(a) => {
            n = a.octets();
            16
        }
    };
    let field = buf.get_mut(off..off + len).ok_or(XformError::Malformed)?;
    let mut o = [0u8; 16];
    o[..len].copy_from_slice(field);
    field.copy_from_slice(&n[..len]);
    Ok((o, n, len))
}

/// `PARTIAL`: the L4 checksum field holds a partial (pseudo-header) sum.
#[inline(always)]
fn rewrite<const PARTIAL: bool>(
    buf: &mut [u8],
    f: &Frame,
    side: Side,
    new: SocketAddr,
) -> Result<(), XformError> {
    let (ip, end) = ip_in(buf, f)?;
    let fam = ip.family();
    if IpFamily::of(&new.ip()) != fam {
        return Err(XformError::FamilyMismatch);
    }
    if ip.is_later_fragment() {
        return Err(XformError::Fragmented);
    }
    let (csum_off, is_udp) = match ip.l4 {
        L4::Tcp { .. } => (l4::TCP_OFF_CHECKSUM, false),
        L4::Udp { .. } => (l4::UDP_OFF_CHECKSUM, true),
        _ => return Err(XformError::UnsupportedProtocol(ip.protocol)),
    };
    let l3 = f.l3_offset;
    let l4o = ip.l4_offset;
    let csum_at = l4o + csum_off;
    if csum_at + 2 > end {
        return Err(XformError::Malformed);
    }
    let port_at = match side {
        Side::Src => l4o,
        Side::Dst => l4o + 2,
    };
    if let IpAddr::V4(a) = new.ip()
        && l4o >= l3 + ipv4::MIN_HEADER_LEN
    {
        let at = l3 + addr_off(fam, side);
        return rewrite_v4::<PARTIAL>(buf, l3, at, port_at, csum_at, is_udp, a, new.port());
    }
    check_ttl(buf, l3, fam)?;
    let old_port = be16(buf, port_at).ok_or(XformError::Malformed)?;
    let l4_csum = be16(buf, csum_at).ok_or(XformError::Malformed)?;
    // Everything is validated; from here on the writes cannot fail on bounds.
    // The address is swapped per family as a u32 / [u8; 16] (not through a
    // zero-padded 16-byte array pair): the checksum updates are the same
    // 16-bit steps in the same order as `update_bytes` over the bytes, so
    // the results are bit for bit what they were.
    let at = l3 + addr_off(fam, side);
    let l4_addr_csum = match new.ip() {
        IpAddr::V4(a) => {
            let field: &mut [u8; 4] = buf
                .get_mut(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .ok_or(XformError::Malformed)?;
            let old = u32::from_be_bytes(*field);
            *field = a.octets();
            let new = a.to_bits();
            let c = be16(buf, l3 + ipv4::OFF_CHECKSUM).ok_or(XformError::Malformed)?;
            put16(
                buf,
                l3 + ipv4::OFF_CHECKSUM,
                checksum::update32(c, old, new),
            )
            .ok_or(XformError::Malformed)?;
            if PARTIAL {
                checksum::partial_update32(l4_csum, old, new)
            } else {
                checksum::update32(l4_csum, old, new)
            }
        }
        IpAddr::V6(a) => {
            let field: &mut [u8; 16] = buf
                .get_mut(at..at + 16)
                .and_then(|b| b.try_into().ok())
                .ok_or(XformError::Malformed)?;
            let old = *field;
            *field = a.octets();
            if PARTIAL {
                checksum::partial_update_bytes(l4_csum, &old, &a.octets())
            } else {
                checksum::update_bytes(l4_csum, &old, &a.octets())
            }
        }
    };
    put16(buf, port_at, new.port()).ok_or(XformError::Malformed)?;
    if PARTIAL {
        // Address only: the finisher sums the port itself.
        put16(buf, csum_at, l4_addr_csum).ok_or(XformError::Malformed)?;
        dec_ttl(buf, l3, fam)?;
        return Ok(());
    }
    let skip = is_udp && l4_csum == 0 && fam == IpFamily::V4;
    if !skip {
        let mut c = checksum::update16(l4_addr_csum, old_port, new.port());
        if is_udp && c == 0 {
            c = 0xffff;
        }
        put16(buf, csum_at, c).ok_or(XformError::Malformed)?;
    }
    dec_ttl(buf, l3, fam)?;
    Ok(())
}

/// The IPv4 part of [`rewrite`] for a packet whose L4 header follows a whole IPv4 header
/// (as the parser leaves every IPv4 packet; the caller checked the family, the bounds of
/// the L4 checksum field and that `l4o >= l3 + 20`): the address, the port and the TTL
/// change, and each checksum is patched once for all of its words (RFC 1624, see
/// [`checksum::apply`]: bit for bit what a patch per field gives). `addr_at`, `port_at`,
/// `csum_at`: frame offsets of the rewritten address, port and of the L4 checksum.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rewrite_v4<const PARTIAL: bool>(
    buf: &mut [u8],
    l3: usize,
    addr_at: usize,
    port_at: usize,
    csum_at: usize,
    is_udp: bool,
    new_addr: Ipv4Addr,
    new_port: u16,
) -> Result<(), XformError> {
    let h: &mut [u8; ipv4::MIN_HEADER_LEN] = buf
        .get_mut(l3..l3 + ipv4::MIN_HEADER_LEN)
        .and_then(|b| b.try_into().ok())
        .ok_or(XformError::Malformed)?;
    let ttl_word = be16_at(h, ipv4::OFF_TTL);
    if ttl_word >> 8 <= 1 {
        return Err(XformError::TtlExpired);
    }
    let a = addr_at - l3;
    let old = u32::from_be_bytes(arr4_at(h, a));
    let new = new_addr.to_bits();
    let addr_delta = checksum::delta32(old, new);
    let new_ttl_word = ttl_word - 0x0100;
    let hc = checksum::apply(
        be16_at(h, ipv4::OFF_CHECKSUM),
        addr_delta + checksum::delta16(ttl_word, new_ttl_word),
    );
    if let Some(f) = h.get_mut(a..a + 4) {
        f.copy_from_slice(&new_addr.octets());
    }
    h[ipv4::OFF_TTL..ipv4::OFF_TTL + 2].copy_from_slice(&new_ttl_word.to_be_bytes());
    h[ipv4::OFF_CHECKSUM..ipv4::OFF_CHECKSUM + 2].copy_from_slice(&hc.to_be_bytes());
    let old_port = be16(buf, port_at).ok_or(XformError::Malformed)?;
    let l4_csum = be16(buf, csum_at).ok_or(XformError::Malformed)?;
    put16(buf, port_at, new_port).ok_or(XformError::Malformed)?;
    if PARTIAL {
        // Address only: the finisher sums the port itself.
        let c = !checksum::apply(!l4_csum, addr_delta);
        put16(buf, csum_at, c).ok_or(XformError::Malformed)?;
    } else if !(is_udp && l4_csum == 0) {
        let mut c = checksum::apply(l4_csum, addr_delta + checksum::delta16(old_port, new_port));
        if is_udp && c == 0 {
            c = 0xffff;
        }
        put16(buf, csum_at, c).ok_or(XformError::Malformed)?;
    }
    Ok(())
}

/// ICMP error from the real-server side towards the client (`ip_vs_out_icmp`): outer source
/// → VIP, quoted destination → VIP, quoted destination port → virtual port (`vip`).
///
/// The outer and quoted IPv4 header checksums and the full ICMP(v6) checksum are
/// recomputed; the quoted L4 checksum is left alone. TTL is decremented.
pub fn nat_icmp_error_out(frame: &mut [u8], f: &Frame, vip: SocketAddr) -> Result<(), XformError> {
    icmp_rewrite(frame, f, Side::Src, vip)
}

/// ICMP error from the client side towards the real server (`ip_vs_in_icmp`): outer
/// destination → RS, quoted source → RS, quoted source port → RS port (`rs`). Checksums as
/// in [`nat_icmp_error_out`].
pub fn nat_icmp_error_in(frame: &mut [u8], f: &Frame, rs: SocketAddr) -> Result<(), XformError> {
    icmp_rewrite(frame, f, Side::Dst, rs)
}

fn icmp_rewrite(buf: &mut [u8], f: &Frame, outer: Side, new: SocketAddr) -> Result<(), XformError> {
    let (ip, end) = ip_in(buf, f)?;
    let fam = ip.family();
    if IpFamily::of(&new.ip()) != fam {
        return Err(XformError::FamilyMismatch);
    }
    if ip.is_fragment {
        // The ICMP checksum covers the whole message, which is not all here.
        return Err(XformError::Fragmented);
    }
    let emb = *f.embedded().ok_or(XformError::NotIcmpError)?;
    if emb.ports.is_none() {
        return Err(XformError::NoEmbeddedPorts);
    }
    let l3 = f.l3_offset;
    let l4o = ip.l4_offset;
    // Quoted header and its ports must be inside the outer packet.
    if emb.l3_offset < l4o.saturating_add(icmp::HEADER_LEN)
        || emb.l4_offset.saturating_add(4) > end
        || emb.l3_offset.checked_add(emb.header_len) != Some(emb.l4_offset)
        || emb.header_len < addr_off(fam, Side::Dst) + addr_len(fam)
    {
        return Err(XformError::Malformed);
    }
    check_ttl(buf, l3, fam)?;
    // Outer address.
    swap_addr(buf, l3 + addr_off(fam, outer), &new.ip())?;
    // Quoted address and port: the opposite side of the outer one.
    let (inner_side, port_at) = match outer {
        Side::Src => (Side::Dst, emb.l4_offset + 2),
        Side::Dst => (Side::Src, emb.l4_offset),
    };
    swap_addr(buf, emb.l3_offset + addr_off(fam, inner_side), &new.ip())?;
    put16(buf, port_at, new.port()).ok_or(XformError::Malformed)?;
    dec_ttl(buf, l3, fam)?;
    if fam == IpFamily::V4 {
        ipv4_header_checksum(buf, l3, ip.header_len)?;
        ipv4_header_checksum(buf, emb.l3_offset, emb.header_len)?;
    }
    icmp_checksum(buf, l3, l4o, end, fam)
}

/// Recomputes the full ICMP (v4) or ICMPv6 (pseudo-header) checksum of the message at
/// `l4o..end`, for the IP header at `l3`.
pub(crate) fn icmp_checksum(
    buf: &mut [u8],
    l3: usize,
    l4o: usize,
    end: usize,
    fam: IpFamily,
) -> Result<(), XformError> {
    put16(buf, l4o + icmp::OFF_CHECKSUM, 0).ok_or(XformError::Malformed)?;
    let msg = buf.get(l4o..end).ok_or(XformError::Malformed)?;
    let init = match fam {
        IpFamily::V4 => 0,
        IpFamily::V6 => {
            let s = crate::wire::arr16(buf, l3 + ipv6::OFF_SRC).ok_or(XformError::Malformed)?;
            let d = crate::wire::arr16(buf, l3 + ipv6::OFF_DST).ok_or(XformError::Malformed)?;
            checksum::pseudo_v6(s.into(), d.into(), proto::ICMPV6, msg.len() as u32)
        }
    };
    let c = checksum::finish(checksum::sum(msg, init));
    put16(buf, l4o + icmp::OFF_CHECKSUM, c).ok_or(XformError::Malformed)
}
