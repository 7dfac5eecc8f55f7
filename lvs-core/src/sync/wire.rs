//! Zero-copy views: [`SyncMessage`] over a datagram and [`SyncConn`] over
//! one record inside it.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::{MessageError, OptionProblem, RecordError};
use super::repr::{RecordAddrs, SeqData, SeqOption};
use super::{
    HEADER_LEN, OPT_F_PARAM, OPT_PE_DATA, OPT_PE_NAME, OPT_SEQ_DATA, PE_NAME_MAXLEN, RECORD_V4_LEN,
    RECORD_V6_LEN, SEQ_DATA_LEN, STYPE_F_INET6, SVER_MASK, SVER_SHIFT, SYNC_PROTO_VER, be16, be32,
};

/// Byte offsets of the header and record fields (`struct ip_vs_sync_mesg`,
/// `struct ip_vs_sync_v4` / `_v6` in ip_vs_sync.c).
pub(crate) mod field {
    pub const RESERVED: usize = 0;
    pub const SYNCID: usize = 1;
    pub const SIZE: usize = 2;
    pub const NR_CONNS: usize = 4;
    pub const VERSION: usize = 5;
    pub const SPARE: usize = 6;

    pub const TYPE: usize = 0;
    pub const PROTOCOL: usize = 1;
    pub const VER_SIZE: usize = 2;
    pub const FLAGS: usize = 4;
    pub const STATE: usize = 8;
    pub const CPORT: usize = 10;
    pub const VPORT: usize = 12;
    pub const DPORT: usize = 14;
    pub const FWMARK: usize = 16;
    pub const TIMEOUT: usize = 20;
    pub const CADDR: usize = 24;
}

/// A view over a version-1 sync datagram.
///
/// [`new_checked`](Self::new_checked) applies the receiver's message rules;
/// [`records`](Self::records) then walks the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncMessage<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SyncMessage<T> {
    /// A view without any check; accessors may panic on a short buffer.
    /// Use [`new_checked`](Self::new_checked) for bytes from the network.
    pub const fn new_unchecked(buffer: T) -> Self {
        SyncMessage { buffer }
    }

    /// A view over a received datagram, checked as `ip_vs_process_message`
    /// does: at least a header, the size field equal to the datagram length,
    /// the syncid equal to `syncid` unless `syncid` is 0 (a backup with
    /// syncid 0 accepts every master), and a version-1 header (reserved 0,
    /// version 1, spare 0; anything else is the [`v0`](super::v0) format).
    pub fn new_checked(buffer: T, syncid: u8) -> Result<Self, MessageError> {
        let b = buffer.as_ref();
        // The kernel's first check is against the 4-byte v0 header.
        if b.len() < super::v0::HEADER_LEN {
            return Err(MessageError::TooShort {
                len: b.len(),
                need: super::v0::HEADER_LEN,
            });
        }
        let declared = be16(b, field::SIZE);
        if usize::from(declared) != b.len() {
            return Err(MessageError::SizeMismatch {
                declared,
                actual: b.len(),
            });
        }
        let got = b[field::SYNCID];
        if syncid != 0 && got != syncid {
            return Err(MessageError::SyncIdMismatch { got, want: syncid });
        }
        if b.len() < HEADER_LEN {
            return Err(MessageError::TooShort {
                len: b.len(),
                need: HEADER_LEN,
            });
        }
        let (reserved, version, spare) =
            (b[field::RESERVED], b[field::VERSION], be16(b, field::SPARE));
        if reserved != 0 || version != SYNC_PROTO_VER || spare != 0 {
            return Err(MessageError::NotVersion1 {
                reserved,
                version,
                spare,
            });
        }
        Ok(SyncMessage { buffer })
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// `reserved` (offset 0): 0 in version 1.
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[field::RESERVED]
    }

    /// The master's syncid (offset 1).
    pub fn syncid(&self) -> u8 {
        self.buffer.as_ref()[field::SYNCID]
    }

    /// The message length, header included (offset 2).
    pub fn size(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SIZE)
    }

    /// The number of records the header announces (offset 4).
    pub fn conn_count(&self) -> u8 {
        self.buffer.as_ref()[field::NR_CONNS]
    }

    /// The protocol version (offset 5): 1.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }

    /// `spare` (offset 6): 0.
    pub fn spare(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SPARE)
    }

    /// The records, in order. The iterator stops after the header's count,
    /// or after yielding the first [`RecordError`] (the kernel drops the rest
    /// of the message there).
    pub fn records(&self) -> Records<'_> {
        records_of(self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SyncMessage<T> {
    /// Writes a version-1 header: reserved 0, `syncid`, `size`, `conn_count`,
    /// version 1, spare 0. Panics if the buffer is shorter than 8 bytes.
    pub fn set_header(&mut self, syncid: u8, size: u16, conn_count: u8) {
        let b = self.buffer.as_mut();
        b[field::RESERVED] = 0;
        b[field::SYNCID] = syncid;
        b[field::SIZE..field::SIZE + 2].copy_from_slice(&size.to_be_bytes());
        b[field::NR_CONNS] = conn_count;
        b[field::VERSION] = SYNC_PROTO_VER;
        b[field::SPARE..field::SPARE + 2].copy_from_slice(&[0, 0]);
    }
}

impl<'a> SyncMessage<&'a [u8]> {
    /// The records, borrowing the datagram rather than the view.
    pub fn into_records(self) -> Records<'a> {
        records_of(self.buffer)
    }
}

fn records_of(b: &[u8]) -> Records<'_> {
    Records {
        buf: b,
        pos: HEADER_LEN,
        index: 0,
        count: usize::from(b.get(field::NR_CONNS).copied().unwrap_or(0)),
        done: b.len() < HEADER_LEN,
    }
}

/// Iterator over the records of a [`SyncMessage`].
#[derive(Debug, Clone)]
pub struct Records<'a> {
    buf: &'a [u8],
    pos: usize,
    index: usize,
    count: usize,
    done: bool,
}

impl<'a> Records<'a> {
    fn step(&mut self) -> Result<SyncConn<'a>, RecordError> {
        let offset = self.pos;
        let remaining = self.buf.len().saturating_sub(offset);
        if remaining < RECORD_V4_LEN {
            return Err(RecordError::Truncated {
                offset,
                index: self.index,
                remaining,
            });
        }
        let rec = &self.buf[offset..];
        let ver_size = be16(rec, field::VER_SIZE);
        let len = usize::from(ver_size & SVER_MASK);
        if len > remaining {
            return Err(RecordError::PastEnd {
                offset,
                len,
                remaining,
            });
        }
        if ver_size >> SVER_SHIFT != 0 {
            return Err(RecordError::BadVersion { offset, ver_size });
        }
        let kind = rec[field::TYPE];
        let fixed = if kind & STYPE_F_INET6 != 0 {
            RECORD_V6_LEN
        } else if kind == 0 {
            RECORD_V4_LEN
        } else {
            return Err(RecordError::BadType { offset, kind });
        };
        if len < fixed {
            return Err(RecordError::TooShortForType {
                offset,
                len,
                need: fixed,
            });
        }
        let bytes = &rec[..len];
        let opts = parse_options(bytes, fixed, offset)?;
        // Records start on 4-byte boundaries; the padding is not checked.
        self.pos = offset + ((len + 3) & !3);
        self.index += 1;
        Ok(SyncConn {
            bytes,
            offset,
            v6: fixed == RECORD_V6_LEN,
            opts,
        })
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<SyncConn<'a>, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.index >= self.count {
            return None;
        }
        let r = self.step();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            (0, Some(self.count - self.index))
        }
    }
}

impl core::iter::FusedIterator for Records<'_> {}

/// The options of one record, validated as `ip_vs_proc_sync_conn` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Options<'a> {
    pub seq: Option<&'a [u8]>,
    pub pe_data: Option<&'a [u8]>,
    pub pe_name: Option<&'a [u8]>,
    /// An unknown option without the optional bit: the record is skipped
    /// (and its later options are not looked at). `(offset, type)`.
    pub unknown_mandatory: Option<(usize, u8)>,
}

fn parse_options(rec: &[u8], fixed: usize, base: usize) -> Result<Options<'_>, RecordError> {
    let mut o = Options::default();
    let mut p = fixed;
    while p < rec.len() {
        let offset = base + p;
        let bad = |kind, problem| RecordError::BadOption {
            offset,
            kind,
            problem,
        };
        if p + 2 > rec.len() {
            return Err(bad(rec[p], OptionProblem::HeaderCut));
        }
        let (kind, plen) = (rec[p], usize::from(rec[p + 1]));
        let data_at = p + 2;
        if plen == 0 {
            return Err(bad(kind, OptionProblem::ZeroLength));
        }
        if data_at + plen > rec.len() {
            return Err(bad(kind, OptionProblem::Overrun));
        }
        let data = &rec[data_at..data_at + plen];
        match kind & !OPT_F_PARAM {
            OPT_SEQ_DATA => {
                if plen != SEQ_DATA_LEN {
                    return Err(bad(kind, OptionProblem::SeqLength));
                }
                if o.seq.replace(data).is_some() {
                    return Err(bad(kind, OptionProblem::Duplicate));
                }
            }
            // The data limit (IP_VS_PEDATA_MAXLEN, 255) is the length byte's range.
            OPT_PE_DATA if o.pe_data.replace(data).is_some() => {
                return Err(bad(kind, OptionProblem::Duplicate));
            }
            OPT_PE_DATA => {}
            OPT_PE_NAME => {
                if plen > PE_NAME_MAXLEN {
                    return Err(bad(kind, OptionProblem::PeNameTooLong));
                }
                if o.pe_name.replace(data).is_some() {
                    return Err(bad(kind, OptionProblem::Duplicate));
                }
            }
            _ if kind & OPT_F_PARAM == 0 => {
                o.unknown_mandatory = Some((offset, kind));
                return Ok(o);
            }
            _ => {}
        }
        p = data_at + plen;
    }
    Ok(o)
}

/// A view over one record of a [`SyncMessage`], its length taken from
/// `ver_size` and its options already validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncConn<'a> {
    bytes: &'a [u8],
    offset: usize,
    v6: bool,
    opts: Options<'a>,
}

impl<'a> SyncConn<'a> {
    /// Offset of the record in its message.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The record's bytes (`ver_size` long: options included, padding not).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The type byte (offset 0).
    pub fn record_type(&self) -> u8 {
        self.bytes[field::TYPE]
    }

    /// Whether the record carries IPv6 addresses (type bit 0).
    pub fn is_ipv6(&self) -> bool {
        self.v6
    }

    /// IP protocol number (offset 1); 0 for fwmark templates.
    pub fn protocol(&self) -> u8 {
        self.bytes[field::PROTOCOL]
    }

    /// `ver_size` (offset 2): record version (high 4 bits, 0) and length.
    pub fn ver_size(&self) -> u16 {
        be16(self.bytes, field::VER_SIZE)
    }

    /// Connection flags as sent (offset 4), `IP_VS_CONN_F_*` bits.
    pub fn flags(&self) -> u32 {
        be32(self.bytes, field::FLAGS)
    }

    /// Protocol state in IPVS numbering (offset 8).
    pub fn state(&self) -> u16 {
        be16(self.bytes, field::STATE)
    }

    /// Client port (offset 10).
    pub fn cport(&self) -> u16 {
        be16(self.bytes, field::CPORT)
    }

    /// Virtual port (offset 12).
    pub fn vport(&self) -> u16 {
        be16(self.bytes, field::VPORT)
    }

    /// Real-server port (offset 14).
    pub fn dport(&self) -> u16 {
        be16(self.bytes, field::DPORT)
    }

    /// Firewall mark (offset 16).
    pub fn fwmark(&self) -> u32 {
        be32(self.bytes, field::FWMARK)
    }

    /// Timeout in seconds (offset 20): the timer's length, not the time left.
    pub fn timeout(&self) -> u32 {
        be32(self.bytes, field::TIMEOUT)
    }

    fn addr(&self, i: usize) -> IpAddr {
        let (c, v, d) = self.addrs().ips();
        [c, v, d][i]
    }

    /// Client address (offset 24).
    pub fn caddr(&self) -> IpAddr {
        self.addr(0)
    }

    /// Virtual address (offset 28 / 40); for fwmark templates the mark.
    pub fn vaddr(&self) -> IpAddr {
        self.addr(1)
    }

    /// Real-server address (offset 32 / 56).
    pub fn daddr(&self) -> IpAddr {
        self.addr(2)
    }

    /// The three addresses, typed by the record's family.
    pub fn addrs(&self) -> RecordAddrs {
        let b = self.bytes;
        if self.v6 {
            let a = |i: usize| {
                let at = field::CADDR + 16 * i;
                let mut o = [0u8; 16];
                o.copy_from_slice(&b[at..at + 16]);
                Ipv6Addr::from(o)
            };
            RecordAddrs::V6 {
                caddr: a(0),
                vaddr: a(1),
                daddr: a(2),
            }
        } else {
            let a = |i: usize| Ipv4Addr::from(be32(b, field::CADDR + 4 * i));
            RecordAddrs::V4 {
                caddr: a(0),
                vaddr: a(1),
                daddr: a(2),
            }
        }
    }

    /// The sequence-adjustment option, if present.
    pub fn seq(&self) -> Option<SeqOption> {
        self.opts.seq.map(|d| {
            let w = |i: usize| be32(d, 4 * i);
            SeqOption {
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
            }
        })
    }

    /// The persistence-engine data option's bytes, if present.
    pub fn pe_data(&self) -> Option<&'a [u8]> {
        self.opts.pe_data
    }

    /// The persistence-engine name option's bytes, if present.
    pub fn pe_name(&self) -> Option<&'a [u8]> {
        self.opts.pe_name
    }

    /// `(offset, type)` of an unknown option without the optional bit: a
    /// receiver skips such a record.
    pub fn unknown_mandatory_option(&self) -> Option<(usize, u8)> {
        self.opts.unknown_mandatory
    }
}
