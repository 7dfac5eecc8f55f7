//! Lookup-table storage for the table schedulers (sh, dh, mh).
//!
//! Tables hold `u16` dest ids ([`EMPTY`] for "no server"). Tables up to a
//! compile-time capacity `N` live inline, so the default sizes (256 buckets
//! for sh/dh, 4093 for mh) work without an allocator; larger tables need the
//! `alloc` feature and live in a `Vec`.

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use lvs_core::DestId;

/// A bucket that points at no server.
pub(crate) const EMPTY: u16 = u16::MAX;

/// The id stored in a bucket, if any.
#[inline]
pub(crate) fn slot_id(raw: Option<&u16>) -> Option<DestId> {
    match raw {
        Some(&v) if v != EMPTY => Some(DestId(v)),
        _ => None,
    }
}

/// A slice of `len` values of `T`, inline when `len <= N`.
/// The inline variant is large by design (no allocator needed).
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(crate) enum Buf<T: Copy, const N: usize> {
    /// Inline storage; only the first `len` values are used.
    Inline { data: [T; N], len: usize },
    /// Heap storage for sizes above `N`.
    #[cfg(feature = "alloc")]
    Heap(Vec<T>),
}

impl<T: Copy, const N: usize> Buf<T, N> {
    /// A buffer of `len` copies of `fill`; `None` if `len > N` without `alloc`.
    pub(crate) fn new(len: usize, fill: T) -> Option<Self> {
        if len <= N {
            return Some(Buf::Inline {
                data: [fill; N],
                len,
            });
        }
        #[cfg(feature = "alloc")]
        {
            Some(Buf::Heap(alloc::vec![fill; len]))
        }
        #[cfg(not(feature = "alloc"))]
        {
            None
        }
    }

    /// The values.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[T] {
        match self {
            Buf::Inline { data, len } => data.get(..*len).unwrap_or(&[]),
            #[cfg(feature = "alloc")]
            Buf::Heap(v) => v,
        }
    }

    /// The values, mutably.
    #[inline]
    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        match self {
            Buf::Inline { data, len } => data.get_mut(..*len).unwrap_or(&mut []),
            #[cfg(feature = "alloc")]
            Buf::Heap(v) => v,
        }
    }
}

impl<T: Copy, const N: usize> core::fmt::Debug for Buf<T, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (kind, len) = match self {
            Buf::Inline { len, .. } => ("inline", *len),
            #[cfg(feature = "alloc")]
            Buf::Heap(v) => ("heap", v.len()),
        };
        write!(f, "<{len} entries, {kind}>")
    }
}
