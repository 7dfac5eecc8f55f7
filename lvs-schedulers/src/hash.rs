//! Hash functions shared by the hashing schedulers (sh, dh, mh).
//!
//! The hashing schedulers are only useful to an operator migrating from the
//! kernel if they put the same client on the same real server as IPVS does
//! for the same list, so the hashes here are IPVS's own:
//!
//! * [`hash_32`] is the kernel's multiplicative `hash_32`: multiply by the
//!   golden-ratio constant `0x61C88647` and keep the top `bits` bits. sh and
//!   dh use it to pick one of their 2^bits buckets.
//! * [`hsiphash_u32`] is the kernel's `hsiphash()` of one 32-bit value as a
//!   64-bit kernel computes it: SipHash-1-3 with a 128-bit key made of two
//!   64-bit words, truncated to 32 bits. (A 32-bit kernel computes
//!   HalfSipHash-1-3 instead and therefore builds a different Maglev table;
//!   lvs-rs follows the 64-bit kernels, which is what practically every IPVS
//!   director runs.) mh keys it with the fixed constants [`MH_KEY1`] and
//!   [`MH_KEY2`], exactly as IPVS does, so the table is the same on every
//!   director: that is what makes Maglev consistent across a cluster.
//!
//! [`siphash`] is the general SipHash-c-d over bytes that the fast path is
//! checked against (and, with c=2, d=4, against the reference SipHash-2-4).

use core::net::IpAddr;

use lvs_core::addr::fold_addr;

/// The kernel's `GOLDEN_RATIO_32`.
pub const GOLDEN_RATIO_32: u32 = 0x61C8_8647;

/// The first mh key (`hash1`): both key words are 2654435761.
pub const MH_KEY1: [u64; 2] = [2_654_435_761, 2_654_435_761];

/// The second mh key (`hash2`): both key words are 2654446892.
pub const MH_KEY2: [u64; 2] = [2_654_446_892, 2_654_446_892];

/// The kernel's `hash_32(val, bits)`: `(val * 0x61C88647) >> (32 - bits)`.
///
/// `bits` is clamped to 32; `bits == 0` gives 0 (one bucket).
#[inline]
pub const fn hash_32(val: u32, bits: u32) -> u32 {
    if bits == 0 {
        return 0;
    }
    let bits = if bits > 32 { 32 } else { bits };
    val.wrapping_mul(GOLDEN_RATIO_32) >> (32 - bits)
}

const SIP_C0: u64 = 0x736f_6d65_7073_6575;
const SIP_C1: u64 = 0x646f_7261_6e64_6f6d;
const SIP_C2: u64 = 0x6c79_6765_6e65_7261;
const SIP_C3: u64 = 0x7465_6462_7974_6573;

#[derive(Clone, Copy)]
struct Sip {
    v0: u64,
    v1: u64,
    v2: u64,
    v3: u64,
}

impl Sip {
    #[inline]
    const fn new(key: [u64; 2]) -> Self {
        Sip {
            v0: key[0] ^ SIP_C0,
            v1: key[1] ^ SIP_C1,
            v2: key[0] ^ SIP_C2,
            v3: key[1] ^ SIP_C3,
        }
    }

    #[inline]
    fn round(&mut self) {
        self.v0 = self.v0.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(13) ^ self.v0;
        self.v0 = self.v0.rotate_left(32);
        self.v2 = self.v2.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(16) ^ self.v2;
        self.v0 = self.v0.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(21) ^ self.v0;
        self.v2 = self.v2.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(17) ^ self.v2;
        self.v2 = self.v2.rotate_left(32);
    }

    #[inline]
    fn absorb(&mut self, m: u64, c_rounds: u32) {
        self.v3 ^= m;
        for _ in 0..c_rounds {
            self.round();
        }
        self.v0 ^= m;
    }

    /// Absorb the last word `b` (length byte and tail) and finalize.
    #[inline]
    fn finish(mut self, b: u64, c_rounds: u32, d_rounds: u32) -> u64 {
        self.absorb(b, c_rounds);
        self.v2 ^= 0xff;
        for _ in 0..d_rounds {
            self.round();
        }
        self.v0 ^ self.v1 ^ self.v2 ^ self.v3
    }
}

/// SipHash-`c_rounds`-`d_rounds` of `msg` under a 128-bit `key` given as
/// two little-endian 64-bit words (`k0`, `k1`).
///
/// `siphash(2, 4, ..)` is the reference SipHash-2-4; `siphash(1, 3, ..)` is
/// what a 64-bit kernel's `hsiphash` computes before truncation.
pub fn siphash(c_rounds: u32, d_rounds: u32, key: [u64; 2], msg: &[u8]) -> u64 {
    let mut s = Sip::new(key);
    let mut words = msg.chunks_exact(8);
    for w in &mut words {
        let mut le = [0u8; 8];
        for (d, s) in le.iter_mut().zip(w) {
            *d = *s;
        }
        s.absorb(u64::from_le_bytes(le), c_rounds);
    }
    let mut b = (msg.len() as u64) << 56;
    for (i, byte) in words.remainder().iter().enumerate() {
        b |= u64::from(*byte) << (8 * i);
    }
    s.finish(b, c_rounds, d_rounds)
}

/// The kernel's `hsiphash(&v, 4, key)` on a 64-bit machine: SipHash-1-3 of
/// the four bytes of `v` (little-endian, as the value sits in memory on the
/// little-endian machines IPVS runs on), truncated to 32 bits.
#[inline]
pub fn hsiphash_u32(key: [u64; 2], v: u32) -> u32 {
    let b = (4u64 << 56) | u64::from(v);
    // Truncation to the low 32 bits is the kernel's `u32` return.
    Sip::new(key).finish(b, 1, 3) as u32
}

/// mh's `ip_vs_mh_hashkey`: hsiphash of `offset + port + fold(addr)`
/// (all wrapping, the port in host order).
#[inline]
pub fn mh_hashkey(addr: &IpAddr, port: u16, key: [u64; 2], offset: u32) -> u32 {
    let v = offset
        .wrapping_add(u32::from(port))
        .wrapping_add(fold_addr(addr));
    hsiphash_u32(key, v)
}

/// sh's bucket hash before the fallback offset: `hash_32(port + fold(addr), bits)`.
#[inline]
pub fn sh_hashkey(addr: &IpAddr, port: u16, bits: u32) -> u32 {
    hash_32(u32::from(port).wrapping_add(fold_addr(addr)), bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_32_is_golden_ratio_top_bits() {
        assert_eq!(hash_32(1, 32), GOLDEN_RATIO_32);
        assert_eq!(hash_32(1, 8), 0x61);
        assert_eq!(hash_32(2, 8), 0xC3);
        assert_eq!(hash_32(12345, 0), 0);
        assert_eq!(hash_32(1, 40), GOLDEN_RATIO_32);
    }

    /// Reference vectors of the SipHash paper (key 00..0f, message 00..n-1).
    #[test]
    fn siphash24_reference_vectors() {
        let key = [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908];
        let msg: [u8; 15] = core::array::from_fn(|i| i as u8);
        assert_eq!(siphash(2, 4, key, &[]), 0x726f_db47_dd0e_0e31);
        assert_eq!(siphash(2, 4, key, &msg), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn hsiphash_fast_path_matches_general() {
        for v in [0u32, 1, 0xc000_024d, u32::MAX, 0x1234_5678] {
            for key in [MH_KEY1, MH_KEY2, [1, 2]] {
                assert_eq!(
                    hsiphash_u32(key, v),
                    siphash(1, 3, key, &v.to_le_bytes()) as u32
                );
            }
        }
    }
}
