//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Why incremental updates: NAT and TTL decrement change a handful of 16-bit words; RFC 1624
//! equation 3 (`HC' = ~(~HC + ~m + m')`) fixes the checksum in a few instructions instead of
//! re-reading the whole segment, which is what the kernel does too. Full sums are still
//! needed when we build headers (tunnels, ICMP) and are computed 8 bytes at a time in a
//! `u64` accumulator with end-around carry: because `2^16 ≡ 1 (mod 0xffff)`, a one's
//! complement sum of big-endian 64-bit words folds to the same 16-bit result.
//!
//! Conventions: a *sum* is an unfolded accumulator (`u64`, or a folded-but-not-inverted
//! `u16`); a *checksum* is the inverted 16-bit value stored in a header.

use core::net::{Ipv4Addr, Ipv6Addr};

/// Adds `data` to the running one's complement accumulator `acc`.
///
/// An odd trailing byte is padded with a zero low byte, as RFC 1071 specifies. Only call
/// this with an odd-length slice for the *last* piece of a checksummed region.
#[inline]
pub fn sum(data: &[u8], acc: u64) -> u64 {
    let mut acc = acc;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let v = u64::from_be_bytes(w);
        let (s, carry) = acc.overflowing_add(v);
        acc = s + u64::from(carry);
    }
    let rest = chunks.remainder();
    let mut pairs = rest.chunks_exact(2);
    let mut tail: u64 = 0;
    for p in &mut pairs {
        tail += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let Some(&last) = pairs.remainder().first() {
        tail += u64::from(last) << 8;
    }
    let (s, carry) = acc.overflowing_add(tail);
    s + u64::from(carry)
}

/// Folds a 64-bit accumulator to a 16-bit one's complement sum (not inverted).
#[inline]
pub fn fold(acc: u64) -> u16 {
    let mut a = (acc & 0xffff_ffff) + (acc >> 32);
    a = (a & 0xffff_ffff) + (a >> 32);
    a = (a & 0xffff) + (a >> 16);
    a = (a & 0xffff) + (a >> 16);
    a = (a & 0xffff) + (a >> 16);
    a as u16
}

/// The checksum (inverted folded sum) of `data` plus an initial accumulator.
#[inline]
pub fn finish(acc: u64) -> u16 {
    !fold(acc)
}

/// The RFC 1071 checksum of `data` alone, e.g. an IPv4 header with its checksum field zeroed.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data, 0))
}

/// Pseudo-header accumulator for IPv4 (RFC 793/768): addresses, protocol, L4 length.
#[inline]
pub fn pseudo_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4_len: u16) -> u64 {
    u64::from(src.to_bits()) + u64::from(dst.to_bits()) + u64::from(protocol) + u64::from(l4_len)
}

/// Pseudo-header accumulator for IPv6 (RFC 8200 section 8.1).
#[inline]
pub fn pseudo_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, l4_len: u32) -> u64 {
    let s = sum(&src.octets(), 0);
    let d = sum(&dst.octets(), s);
    let (a, c) = d.overflowing_add(u64::from(next_header) + u64::from(l4_len));
    a + u64::from(c)
}

/// One's complement 16-bit addition with end-around carry.
#[inline(always)]
fn add16(a: u16, b: u16) -> u16 {
    let (s, c) = a.overflowing_add(b);
    s.wrapping_add(u16::from(c))
}

/// RFC 1624 eqn. 3: the new checksum after one 16-bit word changed from `old` to `new`.
// Always inlined (as update32): a handful of ALU operations, which LLVM
// otherwise kept as calls on the NAT path.
#[inline(always)]
pub fn update16(csum: u16, old: u16, new: u16) -> u16 {
    !add16(add16(!csum, !old), new)
}

/// The new checksum after a 32-bit field (e.g. an IPv4 address) changed.
#[inline(always)]
pub fn update32(csum: u16, old: u32, new: u32) -> u16 {
    let c = update16(csum, (old >> 16) as u16, (new >> 16) as u16);
    update16(c, old as u16, new as u16)
}

/// What one 16-bit word changing from `old` to `new` adds to the sum of RFC 1624 eqn. 3
/// (`~m + m'`), for [`apply`]: several changed words are added up and applied at once.
#[inline(always)]
pub fn delta16(old: u16, new: u16) -> u32 {
    u32::from(!old) + u32::from(new)
}

/// [`delta16`] for a 32-bit field (e.g. an IPv4 address): its two words.
#[inline(always)]
pub fn delta32(old: u32, new: u32) -> u32 {
    delta16((old >> 16) as u16, (new >> 16) as u16) + delta16(old as u16, new as u16)
}

/// RFC 1624 eqn. 3 for several changed words at once: `~(~HC + Σ(~m + m'))`, with `delta`
/// the sum of their [`delta16`] / [`delta32`] (at most 32 words' worth).
///
/// Bit for bit what [`update16`] applied to each word in turn gives: both are an end-around
/// carry sum of the same 16-bit terms, which is 0 only when every term is 0 and otherwise
/// the one value in `1..=0xffff` of its class modulo `0xffff`, whatever the grouping.
#[inline(always)]
pub fn apply(csum: u16, delta: u32) -> u16 {
    let mut a = u32::from(!csum) + delta;
    a = (a & 0xffff) + (a >> 16);
    a = (a & 0xffff) + (a >> 16);
    !(a as u16)
}

/// The new checksum after an even-length byte field changed from `old` to `new`
/// (e.g. a 16-byte IPv6 address). Both slices should have the same even length: only
/// their common prefix of whole 16-bit words is taken into account.
#[inline]
pub fn update_bytes(csum: u16, old: &[u8], new: &[u8]) -> u16 {
    let mut c = csum;
    for (o, n) in old.chunks_exact(2).zip(new.chunks_exact(2)) {
        c = update16(
            c,
            u16::from_be_bytes([o[0], o[1]]),
            u16::from_be_bytes([n[0], n[1]]),
        );
    }
    c
}

/// The new checksum after an IPv4 address changed.
#[inline]
pub fn update_v4_addr(csum: u16, old: Ipv4Addr, new: Ipv4Addr) -> u16 {
    update32(csum, old.to_bits(), new.to_bits())
}

/// The new checksum after an IPv6 address changed.
#[inline]
pub fn update_v6_addr(csum: u16, old: Ipv6Addr, new: Ipv6Addr) -> u16 {
    update_bytes(csum, &old.octets(), &new.octets())
}

/// RFC 1624 applied to a *partial* checksum field (`CHECKSUM_PARTIAL`): the field holds the
/// folded, uncomplemented pseudo-header sum, so the old word is subtracted from and the new
/// one added to the sum itself (as `tcp_partial_csum_update` in
/// net/netfilter/ipvs/ip_vs_proto_tcp.c does), without the inversions of [`update32`].
#[inline(always)]
pub fn partial_update32(sum: u16, old: u32, new: u32) -> u16 {
    !update32(!sum, old, new)
}

/// [`partial_update32`] for an even-length byte field (an IPv6 address).
#[inline]
pub fn partial_update_bytes(sum: u16, old: &[u8], new: &[u8]) -> u16 {
    !update_bytes(!sum, old, new)
}

/// Completes a partial checksum the way the kernel's `skb_checksum_help` does: the one's
/// complement sum of `data[start..]` (the field at `start + offset` holds the pseudo-header
/// sum and is included), inverted, written at `start + offset`; a result of 0 is written as
/// 0xffff (`CSUM_MANGLED_0`). Returns `None`, and writes nothing, when the field is not
/// inside `data`.
#[inline]
pub fn complete_partial(data: &mut [u8], start: usize, offset: usize) -> Option<()> {
    let at = start.checked_add(offset)?;
    if at.checked_add(2)? > data.len() {
        return None;
    }
    let c = finish(sum(data.get(start..)?, 0));
    let c = if c == 0 { 0xffff } else { c };
    data.get_mut(at..at + 2)?.copy_from_slice(&c.to_be_bytes());
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte-at-a-time reference implementation, straight from RFC 1071.
    fn naive(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        let mut i = 0;
        while i + 1 < data.len() {
            s += u32::from(u16::from_be_bytes([data[i], data[i + 1]]));
            i += 2;
        }
        if i < data.len() {
            s += u32::from(data[i]) << 8;
        }
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example: sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&d, 0)), 0xddf2);
        assert_eq!(checksum(&d), !0xddf2);
    }

    #[test]
    fn matches_naive_all_lengths() {
        let mut buf = [0u8; 71];
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(97).wrapping_add(0xf3);
        }
        for len in 0..buf.len() {
            assert_eq!(checksum(&buf[..len]), naive(&buf[..len]), "len {len}");
        }
        let ff = [0xffu8; 64];
        for len in 0..ff.len() {
            assert_eq!(checksum(&ff[..len]), naive(&ff[..len]), "ff len {len}");
        }
    }

    #[test]
    fn incremental_matches_full() {
        let mut buf = [0u8; 20];
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31).wrapping_add(7);
        }
        buf[10] = 0;
        buf[11] = 0;
        let c0 = checksum(&buf);
        let old = u32::from_be_bytes([buf[12], buf[13], buf[14], buf[15]]);
        let new = 0xc0a8_0102u32;
        buf[12..16].copy_from_slice(&new.to_be_bytes());
        let full = checksum(&buf);
        let inc = update32(c0, old, new);
        // 0x0000 and 0xffff are the same value in one's complement; compare by verifying.
        let mut b2 = buf;
        b2[10..12].copy_from_slice(&inc.to_be_bytes());
        assert_eq!(fold(sum(&b2, 0)), 0xffff);
        assert!(full == inc || (full == 0 && inc == 0xffff) || (full == 0xffff && inc == 0));
    }

    #[test]
    fn apply_matches_update16_in_turn() {
        // Edge values (0, 0xffff, equal old and new) and a pseudo-random walk.
        let mut x: u32 = 0x1234_5678;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match x % 5 {
                0 => 0,
                1 => 0xffff,
                _ => (x >> 8) as u16,
            }
        };
        for _ in 0..20_000 {
            let c = next();
            let words: [(u16, u16); 4] = [
                (next(), next()),
                (next(), next()),
                (next(), next()),
                (next(), next()),
            ];
            let seq = words.iter().fold(c, |c, &(o, n)| update16(c, o, n));
            let delta: u32 = words.iter().map(|&(o, n)| delta16(o, n)).sum();
            assert_eq!(apply(c, delta), seq, "{c:#x} {words:x?}");
        }
        assert_eq!(
            apply(0xffff, delta16(0xffff, 0xffff)),
            update16(0xffff, 0xffff, 0xffff)
        );
    }

    #[test]
    fn update16_identity() {
        assert_eq!(update16(0x1234, 0xabcd, 0xabcd), 0x1234);
    }
    #[test]
    fn partial_update_then_complete_matches_full() {
        // A UDP-like region: 8-byte header (checksum at 6) and payload, with a pseudo-header
        // of two 32-bit addresses. The partial field is the folded pseudo sum; changing an
        // address and patching the partial sum must complete to the full checksum.
        let payload: [u8; 13] = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0xff, 0xfe, 0x80, 0x11];
        let mut seg = [0u8; 21];
        seg[0..8].copy_from_slice(&[0x12, 0x34, 0x00, 0x35, 0, 21, 0, 0]);
        seg[8..].copy_from_slice(&payload);
        let (a, b, a2) = (0xc000_0201u32, 0xc633_640bu32, 0x0a00_0007u32);
        let pseudo = |src: u32| u64::from(src) + u64::from(b) + 17 + 21;
        seg[6..8].copy_from_slice(&fold(pseudo(a)).to_be_bytes());
        let p = u16::from_be_bytes([seg[6], seg[7]]);
        seg[6..8].copy_from_slice(&partial_update32(p, a, a2).to_be_bytes());
        complete_partial(&mut seg, 0, 6).unwrap();
        let got = u16::from_be_bytes([seg[6], seg[7]]);
        seg[6..8].copy_from_slice(&[0, 0]);
        let want = finish(sum(&seg, pseudo(a2)));
        assert!(
            got == want || (want == 0 && got == 0xffff),
            "{got:#x} {want:#x}"
        );
        assert!(complete_partial(&mut seg, 20, 0).is_none());
        assert!(complete_partial(&mut seg, usize::MAX, 2).is_none());
    }
}
