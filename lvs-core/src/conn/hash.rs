//! The keyed hash that places connections in the table.
//!
//! Like IPVS, a connection is hashed once, on (protocol, client address,
//! client port): those fields are the same in both directions (an inbound
//! packet's source, a NAT reply's destination), so one probe window serves
//! the client-side and the real-server-side lookup.
//!
//! The function is a folded multiply (the full 128-bit product of two 64-bit
//! words, high half XOR low half) applied twice, with four 64-bit secrets
//! derived from the embedder's seed. Every attacker-controlled field goes
//! through a keyed multiply before it is combined with another one, so there
//! is no key-independent collision (unlike a plain XOR of fields). It is not
//! a cryptographic PRF; why that is enough here:
//!
//! * the hash is never observable except through timing;
//! * the damage a collision can do is bounded by construction: an entry
//!   lives at most [`MAX_DISPLACEMENT`](super::MAX_DISPLACEMENT)
//!   slots from its home and a lookup never reads more than that many slots,
//!   so even a perfect flood of one home costs at most that many cache lines
//!   per lookup and makes further inserts there fail (`Full`), never slow.
//!
//! It costs two multiplications, far below the cache miss a lookup in a
//! large table pays anyway.

use super::entry::ConnAddr;

/// Secrets for [`ConnHasher::hash`], derived from a 64-bit seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnHasher {
    k: [u64; 4],
}

#[inline(always)]
const fn folded_mul(a: u64, b: u64) -> u64 {
    let r = (a as u128).wrapping_mul(b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline(always)]
const fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

const fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl ConnHasher {
    /// Derive the secrets from `seed` (take it from a random source; a
    /// predictable seed makes collisions predictable).
    pub const fn new(seed: u64) -> Self {
        let mut st = seed;
        // Odd multipliers never zero a product by themselves.
        let k0 = splitmix64(&mut st);
        let k1 = splitmix64(&mut st) | 1;
        let k2 = splitmix64(&mut st);
        let k3 = splitmix64(&mut st) | 1;
        ConnHasher {
            k: [k0, k1, k2, k3],
        }
    }

    /// Hash (protocol, address, port).
    #[inline(always)]
    pub fn hash<A: ConnAddr>(&self, proto: u8, addr: &A, port: u16) -> u64 {
        let w = addr.words();
        let a = ((w[0] as u64) << 32) | w[1] as u64;
        let b = ((w[2] as u64) << 32) | w[3] as u64;
        let c = ((port as u64) << 8) | proto as u64;
        let h = folded_mul(a ^ self.k[0], b ^ self.k[1]);
        let h = folded_mul(h ^ self.k[2], c ^ self.k[3]);
        // Final avalanche: a folded multiply alone keeps consecutive ports in
        // an arithmetic progression of table positions, and linear probing
        // turns such structure into long clusters under churn (seen as
        // `Full` at 60% load after a million insert/remove cycles). The
        // murmur3 finaliser breaks the progression for three more cycles.
        fmix64(h)
    }

    /// Map a hash onto `0..n` (multiply-shift; uses the high bits).
    #[inline(always)]
    pub fn reduce(h: u64, n: usize) -> usize {
        ((h as u128 * n as u128) >> 64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn keyed_and_spread() {
        let a = ConnHasher::new(1);
        let b = ConnHasher::new(2);
        let ip = Ipv4Addr::new(10, 0, 0, 1);
        assert_ne!(a.hash(6, &ip, 1000), b.hash(6, &ip, 1000));
        assert_ne!(a.hash(6, &ip, 1000), a.hash(17, &ip, 1000));
        assert_ne!(a.hash(6, &ip, 1000), a.hash(6, &ip, 1001));
        // Consecutive ports spread over buckets.
        let mut seen = [0u32; 16];
        for p in 0..1600u16 {
            seen[ConnHasher::reduce(a.hash(6, &ip, p), 16)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50 && n < 150), "{seen:?}");
        // IPv6: low address word and port do not cancel out.
        let x = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
        let y = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x101);
        assert_ne!(a.hash(6, &x, 0x100), a.hash(6, &y, 0));
        assert!(ConnHasher::reduce(u64::MAX, 7) < 7);
    }
}
