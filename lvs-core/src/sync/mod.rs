//! IPVS connection synchronisation, protocol version 1 (and version 0 on
//! receive): bytes <-> connection records, no I/O.
//!
//! # Why
//!
//! A NAT director is a stateful gateway: the replies of every connection
//! come back through it and are un-NATed with the entry its connection
//! table holds. When VRRP (keepalived) moves the service address to a backup
//! director, the backup only keeps those connections alive if it already
//! holds their entries. IPVS solves this with a one-way stream of UDP
//! multicast datagrams from the master to the backups, each carrying up to
//! 255 connection and persistence-template records (`ip_vs_sync.c`). lvs-rs
//! speaks the same bytes, so an lvs-rs backup can follow a kernel master and
//! the other way round.
//!
//! # Shape
//!
//! This module is the codec only; the multicast socket, the send/flush
//! timers and the table updates belong to the embedder.
//!
//! - [`SyncMessage`] is a zero-copy view over a received datagram. Its
//!   [`check`](SyncMessage::new_checked) applies the receiver's message rules
//!   (length equals the header's size, syncid filter, version 1); its
//!   [`records`](SyncMessage::records) iterator yields [`SyncConn`] record
//!   views and stops at the first error that makes the kernel drop the rest
//!   of the message, exactly where the kernel stops (records before it stay
//!   valid, as they stay installed on a kernel backup).
//! - [`ConnRecord`] is the validated representation of one record
//!   (`parse` from a view, `emit` into a caller buffer); it borrows the
//!   persistence-engine option bytes from the datagram.
//! - [`MessageWriter`] packs records into one datagram of at most
//!   `sync_maxlen` bytes the way the master does (padding, counts, size).
//! - [`SyncedConn`] is the typed connection description (protocol, state in
//!   IPVS numbering, forwarding method, lvs-core [`ConnFlags`](crate::conn::ConnFlags),
//!   timeout in seconds) that a backup feeds to its balancer, and that a
//!   master builds from a table [`Connection`](crate::conn::Connection).
//! - [`v0`] parses the old version-0 format, which a v1 receiver still
//!   accepts.
//!
//! All multi-byte fields are big-endian. Nothing here panics on any input:
//! every length read from the wire is checked against the buffer first.

mod conn;
mod error;
mod repr;
pub mod v0;
mod wire;
mod writer;

pub use conn::{
    DEFAULT_SYNC_TIMEOUT_S, FwdMethod, SCTP_STATE_COUNT, SctpState, SyncState, SyncedConn,
    TEMPLATE_STATE_COUNT, TemplateState,
};
pub use error::{MessageError, OptionProblem, RecordError, SkipReason, WriteError};
pub use repr::{ConnRecord, MAX_RECORD_LEN, PeOption, RecordAddrs, SeqData, SeqOption};
pub use wire::{Records, SyncConn, SyncMessage};
pub use writer::MessageWriter;
#[cfg(feature = "alloc")]
pub use writer::encode_messages;

/// The default multicast group, 224.0.0.81 (`IP_VS_SYNC_GROUP`, ip_vs.h).
pub const DEFAULT_GROUP_V4: core::net::Ipv4Addr = core::net::Ipv4Addr::new(224, 0, 0, 81);
/// The default UDP port (`IP_VS_SYNC_PORT`, ip_vs.h).
pub const DEFAULT_PORT: u16 = 8848;
/// The master's default message limit: MTU 1500 minus IPv4 and UDP headers
/// (`start_sync_thread` in ip_vs_sync.c).
pub const DEFAULT_MAXLEN: usize = 1472;
/// The largest `--sync-maxlen` (65535 minus IPv4 and UDP headers; ip_vs_sync.c).
pub const MAX_MAXLEN: usize = 65507;

/// Protocol version written in the header (`SYNC_PROTO_VER`, ip_vs_sync.c).
pub const SYNC_PROTO_VER: u8 = 1;
/// Size of the v1 message header (`struct ip_vs_sync_mesg`, ip_vs_sync.c).
pub const HEADER_LEN: usize = 8;
/// Size of an IPv4 record without options (`struct ip_vs_sync_v4`, ip_vs_sync.c).
pub const RECORD_V4_LEN: usize = 36;
/// Size of an IPv6 record without options (`struct ip_vs_sync_v6`, ip_vs_sync.c).
pub const RECORD_V6_LEN: usize = 72;
/// Record type bit: the record carries IPv6 addresses (`STYPE_F_INET6`, ip_vs_sync.c).
pub const STYPE_F_INET6: u8 = 1;
/// `ver_size` bits holding the record length (`SVER_MASK`, ip_vs_sync.c).
pub const SVER_MASK: u16 = 0x0fff;
/// Shift of the record version in `ver_size` (`SVER_SHIFT`, ip_vs_sync.c).
pub const SVER_SHIFT: u16 = 12;
/// Most records one message can count: `nr_conns` is a `__u8` (ip_vs_sync.c).
pub const MAX_CONNS_PER_MESSAGE: usize = 255;

/// Option type: sequence-adjustment data (`IPVS_OPT_SEQ_DATA`, ip_vs_sync.c).
pub const OPT_SEQ_DATA: u8 = 1;
/// Option type: persistence-engine data (`IPVS_OPT_PE_DATA`, ip_vs_sync.c).
pub const OPT_PE_DATA: u8 = 2;
/// Option type: persistence-engine name (`IPVS_OPT_PE_NAME`, ip_vs_sync.c).
pub const OPT_PE_NAME: u8 = 3;
/// Option type bit: the option may be skipped if unknown (`IPVS_OPT_F_PARAM`, ip_vs_sync.c).
pub const OPT_F_PARAM: u8 = 0x40;
/// Length of the sequence option's data, two `ip_vs_seq` of three BE32
/// (`struct ip_vs_sync_conn_options`, ip_vs_sync.c).
pub const SEQ_DATA_LEN: usize = 24;
/// Longest persistence-engine name (`IP_VS_PENAME_MAXLEN`, ip_vs.h).
pub const PE_NAME_MAXLEN: usize = 16;

/// Forwarding-method bits of the connection flags (`IP_VS_CONN_F_FWD_MASK`, uapi ip_vs.h).
pub const F_FWD_MASK: u32 = 0x0007;
/// The entry was created by sync (`IP_VS_CONN_F_SYNC`, uapi ip_vs.h).
pub const F_SYNC: u32 = 0x0020;
/// Hashed entry, never sent (`IP_VS_CONN_F_HASHED`, uapi ip_vs.h).
pub const F_HASHED: u32 = 0x0040;
/// No output packets: replies bypass the director (`IP_VS_CONN_F_NOOUTPUT`, uapi ip_vs.h).
pub const F_NOOUTPUT: u32 = 0x0080;
/// Not established: an inactive connection (`IP_VS_CONN_F_INACTIVE`, uapi ip_vs.h).
pub const F_INACTIVE: u32 = 0x0100;
/// Output sequence adjustment (`IP_VS_CONN_F_OUT_SEQ`, uapi ip_vs.h).
pub const F_OUT_SEQ: u32 = 0x0200;
/// Input sequence adjustment (`IP_VS_CONN_F_IN_SEQ`, uapi ip_vs.h).
pub const F_IN_SEQ: u32 = 0x0400;
/// Both sequence bits (`IP_VS_CONN_F_SEQ_MASK`, uapi ip_vs.h).
pub const F_SEQ_MASK: u32 = 0x0600;
/// Client port not known yet (`IP_VS_CONN_F_NO_CPORT`, uapi ip_vs.h).
pub const F_NO_CPORT: u32 = 0x0800;
/// Persistence template, not a connection (`IP_VS_CONN_F_TEMPLATE`, uapi ip_vs.h).
pub const F_TEMPLATE: u32 = 0x1000;
/// One-packet scheduling, never synced (`IP_VS_CONN_F_ONE_PACKET`, uapi ip_vs.h).
pub const F_ONE_PACKET: u32 = 0x2000;
/// The flags a backup keeps from a record (`IP_VS_CONN_F_BACKUP_MASK`, uapi ip_vs.h).
pub const F_BACKUP_MASK: u32 =
    F_FWD_MASK | F_NOOUTPUT | F_INACTIVE | F_SEQ_MASK | F_NO_CPORT | F_TEMPLATE;
/// The flags a backup updates on an existing entry (`IP_VS_CONN_F_BACKUP_UPD_MASK`, uapi ip_vs.h).
pub const F_BACKUP_UPD_MASK: u32 = F_INACTIVE | F_SEQ_MASK;

/// Reads a big-endian u16 at `at`; the caller has checked the bounds.
#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Reads a big-endian u32 at `at`; the caller has checked the bounds.
#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
