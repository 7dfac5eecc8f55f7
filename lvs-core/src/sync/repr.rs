//! [`ConnRecord`]: one sync record as values, parsed from a [`SyncConn`]
//! view and emitted into a caller buffer.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::{SkipReason, WriteError};
use super::wire::{SyncConn, field};
use super::{
    OPT_PE_DATA, OPT_PE_NAME, OPT_SEQ_DATA, PE_NAME_MAXLEN, RECORD_V4_LEN, RECORD_V6_LEN,
    SEQ_DATA_LEN, STYPE_F_INET6,
};

/// The longest record the writer produces: IPv6, sequence option, 255 bytes
/// of persistence-engine data and a 16-byte name (ip_vs_sync.c's
/// `ip_vs_sync_conn` length computation).
pub const MAX_RECORD_LEN: usize = RECORD_V6_LEN + 2 + SEQ_DATA_LEN + 2 + 255 + 2 + PE_NAME_MAXLEN;

/// One direction's TCP sequence adjustment (`struct ip_vs_seq`, ip_vs.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqData {
    /// Sequence number where the adjustment starts.
    pub init_seq: u32,
    /// Delta applied after `init_seq` (two's complement).
    pub delta: u32,
    /// Delta applied before it.
    pub previous_delta: u32,
}

/// The sequence-adjustment option (`IPVS_OPT_SEQ_DATA`, ip_vs_sync.c).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqOption {
    /// Client -> real server direction.
    pub in_seq: SeqData,
    /// Real server -> client direction.
    pub out_seq: SeqData,
}

/// The persistence-engine options (`IPVS_OPT_PE_DATA` + `IPVS_OPT_PE_NAME`),
/// borrowed from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeOption<'a> {
    /// Engine data, 1..=255 bytes (for `sip`, the Call-ID).
    pub data: &'a [u8],
    /// Engine name, 1..=16 bytes, no NUL (for example `sip`).
    pub name: &'a [u8],
}

/// The three addresses of a record, one family for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordAddrs {
    /// An IPv4 record (type 0).
    V4 {
        /// Client.
        caddr: Ipv4Addr,
        /// Virtual.
        vaddr: Ipv4Addr,
        /// Real server.
        daddr: Ipv4Addr,
    },
    /// An IPv6 record (type 1).
    V6 {
        /// Client.
        caddr: Ipv6Addr,
        /// Virtual.
        vaddr: Ipv6Addr,
        /// Real server.
        daddr: Ipv6Addr,
    },
}

impl RecordAddrs {
    /// Builds from three addresses of one family; `None` if they mix.
    pub fn new(caddr: IpAddr, vaddr: IpAddr, daddr: IpAddr) -> Option<Self> {
        match (caddr, vaddr, daddr) {
            (IpAddr::V4(caddr), IpAddr::V4(vaddr), IpAddr::V4(daddr)) => Some(RecordAddrs::V4 {
                caddr,
                vaddr,
                daddr,
            }),
            (IpAddr::V6(caddr), IpAddr::V6(vaddr), IpAddr::V6(daddr)) => Some(RecordAddrs::V6 {
                caddr,
                vaddr,
                daddr,
            }),
            _ => None,
        }
    }

    /// `(caddr, vaddr, daddr)` as `IpAddr`.
    pub fn ips(&self) -> (IpAddr, IpAddr, IpAddr) {
        match *self {
            RecordAddrs::V4 {
                caddr,
                vaddr,
                daddr,
            } => (caddr.into(), vaddr.into(), daddr.into()),
            RecordAddrs::V6 {
                caddr,
                vaddr,
                daddr,
            } => (caddr.into(), vaddr.into(), daddr.into()),
        }
    }

    /// Whether the record is IPv6.
    pub fn is_ipv6(&self) -> bool {
        matches!(self, RecordAddrs::V6 { .. })
    }
}

/// One connection or template record, as values: exactly what the wire
/// carries (flags as sent, state as a number), nothing interpreted. See
/// [`SyncedConn`](super::SyncedConn) for the typed description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnRecord<'a> {
    /// IP protocol number; 0 for fwmark templates.
    pub protocol: u8,
    /// `IP_VS_CONN_F_*` flags as sent.
    pub flags: u32,
    /// Protocol state in IPVS numbering.
    pub state: u16,
    /// Client port.
    pub cport: u16,
    /// Virtual port.
    pub vport: u16,
    /// Real-server port.
    pub dport: u16,
    /// Firewall mark.
    pub fwmark: u32,
    /// Timeout in seconds (0 in version-0 records: use the state's timeout).
    pub timeout: u32,
    /// Addresses.
    pub addrs: RecordAddrs,
    /// Sequence-adjustment option.
    pub seq: Option<SeqOption>,
    /// Persistence-engine option.
    pub pe: Option<PeOption<'a>>,
}

impl<'a> ConnRecord<'a> {
    /// Reads a record view. Fails only for the two cases where the kernel
    /// skips a record on its options alone: an unknown mandatory option, or
    /// engine data without an engine name. An engine name without data is
    /// ignored, as the kernel ignores it.
    pub fn parse(view: &SyncConn<'a>) -> Result<Self, SkipReason> {
        if let Some((offset, kind)) = view.unknown_mandatory_option() {
            return Err(SkipReason::UnknownOption { offset, kind });
        }
        let pe = match (view.pe_data(), view.pe_name()) {
            (Some(data), Some(name)) => Some(PeOption { data, name }),
            (Some(_), None) => return Err(SkipReason::PeDataWithoutName),
            (None, _) => None,
        };
        let addrs = view.addrs();
        Ok(ConnRecord {
            protocol: view.protocol(),
            flags: view.flags(),
            state: view.state(),
            cport: view.cport(),
            vport: view.vport(),
            dport: view.dport(),
            fwmark: view.fwmark(),
            timeout: view.timeout(),
            addrs,
            seq: view.seq(),
            pe,
        })
    }

    /// The record's length on the wire (`ver_size`), padding excluded:
    /// 36 or 72, +26 with sequence data, +2+len per engine option.
    pub fn buffer_len(&self) -> usize {
        let mut n = if self.addrs.is_ipv6() {
            RECORD_V6_LEN
        } else {
            RECORD_V4_LEN
        };
        if self.seq.is_some() {
            n += 2 + SEQ_DATA_LEN;
        }
        if let Some(pe) = &self.pe {
            n += 2 + pe.data.len() + 2 + pe.name.len();
        }
        n
    }

    /// Writes the record at the start of `buf` (options in the sender's
    /// order: SEQ_DATA, PE_DATA, PE_NAME) and returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WriteError> {
        if let Some(pe) = &self.pe
            && (pe.data.is_empty()
                || pe.data.len() > 255
                || pe.name.is_empty()
                || pe.name.len() > PE_NAME_MAXLEN)
        {
            return Err(WriteError::BadPeOption {
                data_len: pe.data.len(),
                name_len: pe.name.len(),
            });
        }
        let len = self.buffer_len();
        if buf.len() < len {
            return Err(WriteError::BufferTooSmall {
                need: len,
                have: buf.len(),
            });
        }
        let b = &mut buf[..len];
        b[field::TYPE] = if self.addrs.is_ipv6() {
            STYPE_F_INET6
        } else {
            0
        };
        b[field::PROTOCOL] = self.protocol;
        // len <= MAX_RECORD_LEN < 4096, so the version nibble stays 0.
        b[field::VER_SIZE..field::VER_SIZE + 2].copy_from_slice(&(len as u16).to_be_bytes());
        b[field::FLAGS..field::FLAGS + 4].copy_from_slice(&self.flags.to_be_bytes());
        b[field::STATE..field::STATE + 2].copy_from_slice(&self.state.to_be_bytes());
        b[field::CPORT..field::CPORT + 2].copy_from_slice(&self.cport.to_be_bytes());
        b[field::VPORT..field::VPORT + 2].copy_from_slice(&self.vport.to_be_bytes());
        b[field::DPORT..field::DPORT + 2].copy_from_slice(&self.dport.to_be_bytes());
        b[field::FWMARK..field::FWMARK + 4].copy_from_slice(&self.fwmark.to_be_bytes());
        b[field::TIMEOUT..field::TIMEOUT + 4].copy_from_slice(&self.timeout.to_be_bytes());
        let mut p = field::CADDR;
        match self.addrs {
            RecordAddrs::V4 {
                caddr,
                vaddr,
                daddr,
            } => {
                for a in [caddr, vaddr, daddr] {
                    b[p..p + 4].copy_from_slice(&a.octets());
                    p += 4;
                }
            }
            RecordAddrs::V6 {
                caddr,
                vaddr,
                daddr,
            } => {
                for a in [caddr, vaddr, daddr] {
                    b[p..p + 16].copy_from_slice(&a.octets());
                    p += 16;
                }
            }
        }
        if let Some(seq) = &self.seq {
            b[p] = OPT_SEQ_DATA;
            b[p + 1] = SEQ_DATA_LEN as u8;
            p += 2;
            for d in [seq.in_seq, seq.out_seq] {
                for w in [d.init_seq, d.delta, d.previous_delta] {
                    b[p..p + 4].copy_from_slice(&w.to_be_bytes());
                    p += 4;
                }
            }
        }
        if let Some(pe) = &self.pe {
            for (kind, data) in [(OPT_PE_DATA, pe.data), (OPT_PE_NAME, pe.name)] {
                b[p] = kind;
                b[p + 1] = data.len() as u8;
                b[p + 2..p + 2 + data.len()].copy_from_slice(data);
                p += 2 + data.len();
            }
        }
        debug_assert_eq!(p, len);
        Ok(len)
    }
}
