//! Errors of the sync codec: one enum per operation, each saying what was
//! wrong and at which byte offset of the datagram.

use core::fmt;

/// Why a datagram is not a sync message this receiver accepts
/// (`ip_vs_process_message` in ip_vs_sync.c drops the whole datagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    /// Fewer bytes than the header needs.
    TooShort {
        /// Datagram length.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// The header's size field differs from the datagram length (larger:
    /// the datagram was truncated; smaller: trailing bytes).
    SizeMismatch {
        /// The size field at offset 2.
        declared: u16,
        /// The datagram length.
        actual: usize,
    },
    /// The message's syncid (offset 1) is not the one this backup follows.
    SyncIdMismatch {
        /// The syncid in the message.
        got: u8,
        /// The backup's syncid (non-zero; 0 accepts every message).
        want: u8,
    },
    /// Not a version-1 header (offsets 0, 5, 6): the kernel parses such a
    /// datagram as version 0 (see [`v0`](super::v0)).
    NotVersion1 {
        /// `reserved`, offset 0 (must be 0).
        reserved: u8,
        /// `version`, offset 5 (must be 1).
        version: u8,
        /// `spare`, offset 6 (must be 0).
        spare: u16,
    },
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MessageError::TooShort { len, need } => {
                write!(
                    f,
                    "sync message of {len} bytes is shorter than its {need}-byte header"
                )
            }
            MessageError::SizeMismatch { declared, actual } => write!(
                f,
                "sync header size (offset 2) is {declared} but the datagram has {actual} bytes"
            ),
            MessageError::SyncIdMismatch { got, want } => {
                write!(
                    f,
                    "sync message has syncid {got} (offset 1), this backup follows {want}"
                )
            }
            MessageError::NotVersion1 {
                reserved,
                version,
                spare,
            } => write!(
                f,
                "not a sync v1 header: reserved {reserved} (offset 0), version {version} (offset 5), spare {spare} (offset 6)"
            ),
        }
    }
}

impl core::error::Error for MessageError {}

/// Why record parsing stopped: the kernel drops the rest of the message at
/// this point (records before `offset` were valid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// The header counts more records than the bytes hold: fewer than the
    /// 36 bytes of a minimal record remain at `offset`.
    Truncated {
        /// Offset of the missing record.
        offset: usize,
        /// Index of the missing record (0-based).
        index: usize,
        /// Bytes left in the message.
        remaining: usize,
    },
    /// `ver_size` (record offset 2) has a record version other than 0.
    BadVersion {
        /// Offset of the record.
        offset: usize,
        /// The whole `ver_size` field.
        ver_size: u16,
    },
    /// The record length in `ver_size` runs past the end of the message.
    PastEnd {
        /// Offset of the record.
        offset: usize,
        /// The record length from `ver_size`.
        len: usize,
        /// Bytes left in the message.
        remaining: usize,
    },
    /// The record length in `ver_size` is shorter than the fixed part the
    /// type needs (36 for IPv4, 72 for IPv6).
    TooShortForType {
        /// Offset of the record.
        offset: usize,
        /// The record length from `ver_size`.
        len: usize,
        /// The fixed part's length.
        need: usize,
    },
    /// The type byte is even and non-zero.
    BadType {
        /// Offset of the record.
        offset: usize,
        /// The type byte.
        kind: u8,
    },
    /// A TLV option is malformed.
    BadOption {
        /// Offset of the option's type byte.
        offset: usize,
        /// The option's type byte (0 if only one byte was left).
        kind: u8,
        /// What is wrong.
        problem: OptionProblem,
    },
}

/// What is wrong with an option (part of [`RecordError::BadOption`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OptionProblem {
    /// Only one byte left for the two-byte option header.
    HeaderCut,
    /// Length 0.
    ZeroLength,
    /// The option's data runs past the record's `ver_size` length.
    Overrun,
    /// A second option of the same kind.
    Duplicate,
    /// A sequence option whose length is not 24.
    SeqLength,
    /// A persistence-engine name longer than 16 bytes.
    PeNameTooLong,
}

impl fmt::Display for OptionProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OptionProblem::HeaderCut => "header cut by the end of the record",
            OptionProblem::ZeroLength => "length 0",
            OptionProblem::Overrun => "data runs past the end of the record",
            OptionProblem::Duplicate => "duplicate",
            OptionProblem::SeqLength => "sequence data is not 24 bytes",
            OptionProblem::PeNameTooLong => "persistence-engine name longer than 16 bytes",
        })
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RecordError::Truncated {
                offset,
                index,
                remaining,
            } => write!(
                f,
                "sync record {index} at offset {offset}: only {remaining} bytes left, a record needs 36"
            ),
            RecordError::BadVersion { offset, ver_size } => write!(
                f,
                "sync record at offset {offset}: ver_size {ver_size:#06x} has record version {} (only 0 exists)",
                ver_size >> super::SVER_SHIFT
            ),
            RecordError::PastEnd {
                offset,
                len,
                remaining,
            } => write!(
                f,
                "sync record at offset {offset}: length {len} runs past the message ({remaining} bytes left)"
            ),
            RecordError::TooShortForType { offset, len, need } => write!(
                f,
                "sync record at offset {offset}: length {len} is shorter than its {need}-byte fixed part"
            ),
            RecordError::BadType { offset, kind } => {
                write!(
                    f,
                    "sync record at offset {offset}: unknown type {kind:#04x}"
                )
            }
            RecordError::BadOption {
                offset,
                kind,
                problem,
            } => {
                write!(f, "sync option {kind:#04x} at offset {offset}: {problem}")
            }
        }
    }
}

impl core::error::Error for RecordError {}

/// Why a record could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteError {
    /// The record does not fit in this message (within `maxlen` and the
    /// buffer, or the 255-record count): finish it and start another.
    Full {
        /// Bytes the record needs, padding included.
        need: usize,
        /// Bytes left before the limit.
        left: usize,
    },
    /// The caller's buffer cannot hold even the header plus this record.
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
        /// Buffer length.
        have: usize,
    },
    /// The persistence-engine option cannot be encoded: empty data or name,
    /// data longer than 255 bytes or name longer than 16.
    BadPeOption {
        /// Data length.
        data_len: usize,
        /// Name length.
        name_len: usize,
    },
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WriteError::Full { need, left } => {
                write!(
                    f,
                    "sync record needs {need} bytes, the message has {left} left"
                )
            }
            WriteError::BufferTooSmall { need, have } => {
                write!(f, "sync buffer of {have} bytes cannot hold {need}")
            }
            WriteError::BadPeOption { data_len, name_len } => write!(
                f,
                "persistence-engine option with {data_len} data bytes (1..=255) and a {name_len}-byte name (1..=16)"
            ),
        }
    }
}

impl core::error::Error for WriteError {}

/// Why a receiver skips one record but keeps reading the message
/// (`ip_vs_proc_sync_conn` returns a positive code in ip_vs_sync.c).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// An unknown option without the optional bit 0x40.
    UnknownOption {
        /// Offset of the option in the message.
        offset: usize,
        /// Its type byte.
        kind: u8,
    },
    /// Persistence-engine data without a persistence-engine name.
    PeDataWithoutName,
    /// A connection (not a template) of a protocol this balancer does not
    /// handle (lvs-core: TCP, UDP, SCTP; templates: also 0 for fwmark).
    UnknownProtocol {
        /// The protocol number.
        protocol: u8,
    },
    /// A state number at or past the protocol's state count.
    BadState {
        /// The protocol number.
        protocol: u8,
        /// The state.
        state: u16,
    },
    /// A forwarding method outside 0..=4.
    BadForwarding {
        /// The `flags & 7` value.
        method: u8,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SkipReason::UnknownOption { offset, kind } => {
                write!(
                    f,
                    "sync record skipped: unknown mandatory option {kind:#04x} at offset {offset}"
                )
            }
            SkipReason::PeDataWithoutName => {
                f.write_str("sync record skipped: persistence-engine data without a name")
            }
            SkipReason::UnknownProtocol { protocol } => {
                write!(f, "sync record skipped: protocol {protocol} is not handled")
            }
            SkipReason::BadState { protocol, state } => {
                write!(
                    f,
                    "sync record skipped: state {state} does not exist for protocol {protocol}"
                )
            }
            SkipReason::BadForwarding { method } => {
                write!(
                    f,
                    "sync record skipped: forwarding method {method} does not exist"
                )
            }
        }
    }
}

impl core::error::Error for SkipReason {}
