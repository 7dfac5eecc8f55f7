//! Version 0 of the sync format, receive only: a v1 receiver parses any
//! datagram whose header is not v1 this way (`ip_vs_process_message_v0`,
//! ip_vs_sync.c). IPv4 only, no fwmark, no timeout, no padding.

use core::net::Ipv4Addr;

use super::error::{MessageError, RecordError};
use super::repr::{ConnRecord, RecordAddrs, SeqData, SeqOption};
use super::{F_HASHED, F_SEQ_MASK, SEQ_DATA_LEN, be16, be32};

/// v0 header: nr_conns, syncid, size (`struct ip_vs_sync_mesg_v0`, ip_vs_sync.c).
pub const HEADER_LEN: usize = 4;
/// A v0 record without options (`SIMPLE_CONN_SIZE`, ip_vs_sync.c).
pub const RECORD_LEN: usize = 24;
/// A v0 record followed by raw sequence data (`FULL_CONN_SIZE`, ip_vs_sync.c).
pub const FULL_RECORD_LEN: usize = RECORD_LEN + SEQ_DATA_LEN;

/// A checked view over a version-0 datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncMessageV0<'a> {
    buf: &'a [u8],
}

impl<'a> SyncMessageV0<'a> {
    /// Checks the header as the kernel does: at least 4 bytes, size equal to
    /// the datagram length, syncid filter (0 accepts all).
    pub fn new_checked(buf: &'a [u8], syncid: u8) -> Result<Self, MessageError> {
        if buf.len() < HEADER_LEN {
            return Err(MessageError::TooShort {
                len: buf.len(),
                need: HEADER_LEN,
            });
        }
        let declared = be16(buf, 2);
        if usize::from(declared) != buf.len() {
            return Err(MessageError::SizeMismatch {
                declared,
                actual: buf.len(),
            });
        }
        if syncid != 0 && buf[1] != syncid {
            return Err(MessageError::SyncIdMismatch {
                got: buf[1],
                want: syncid,
            });
        }
        Ok(SyncMessageV0 { buf })
    }

    /// Records announced (offset 0).
    pub fn conn_count(&self) -> u8 {
        self.buf[0]
    }

    /// The master's syncid (offset 1).
    pub fn syncid(&self) -> u8 {
        self.buf[1]
    }

    /// The records as [`ConnRecord`]s (timeout 0, fwmark 0, flags without
    /// HASHED). Sequence data is read in this machine's byte order, as the
    /// kernel copies it raw. Stops at the first record that does not fit.
    pub fn records(&self) -> impl Iterator<Item = Result<ConnRecord<'a>, RecordError>> + 'a {
        let buf = self.buf;
        let count = usize::from(buf[0]);
        let mut pos = HEADER_LEN;
        let mut index = 0;
        let mut done = false;
        core::iter::from_fn(move || {
            if done || index >= count {
                return None;
            }
            let offset = pos;
            let remaining = buf.len() - pos.min(buf.len());
            let r = &buf[pos.min(buf.len())..];
            if remaining < RECORD_LEN {
                done = true;
                return Some(Err(RecordError::Truncated {
                    offset,
                    index,
                    remaining,
                }));
            }
            let flags = u32::from(be16(r, 20)) & !F_HASHED;
            let seq = if flags & F_SEQ_MASK != 0 {
                if remaining < FULL_RECORD_LEN {
                    done = true;
                    return Some(Err(RecordError::PastEnd {
                        offset,
                        len: FULL_RECORD_LEN,
                        remaining,
                    }));
                }
                let w = |i: usize| {
                    let at = RECORD_LEN + 4 * i;
                    u32::from_ne_bytes([r[at], r[at + 1], r[at + 2], r[at + 3]])
                };
                pos += FULL_RECORD_LEN;
                Some(SeqOption {
                    in_seq: SeqData {
                        init_seq: w(0),
                        delta: w(1),
                        previous_delta: w(2),
                    },
                    out_seq: SeqData {
                        init_seq: w(3),
                        delta: w(4),
                        previous_delta: w(5),
                    },
                })
            } else {
                pos += RECORD_LEN;
                None
            };
            index += 1;
            let a = |at: usize| Ipv4Addr::from(be32(r, at));
            Some(Ok(ConnRecord {
                protocol: r[1],
                flags,
                state: be16(r, 22),
                cport: be16(r, 2),
                vport: be16(r, 4),
                dport: be16(r, 6),
                fwmark: 0,
                timeout: 0,
                addrs: RecordAddrs::V4 {
                    caddr: a(8),
                    vaddr: a(12),
                    daddr: a(16),
                },
                seq,
                pe: None,
            }))
        })
    }
}
