//! The LVS part of keepalived.conf: `virtual_server` and `virtual_server_group`
//! blocks with their real servers and health checks.
//!
//! [`parse`] reads the text into a [`KeepalivedConfig`] (plain data, line
//! numbers kept); [`KeepalivedConfig::to_config`] turns it into this crate's
//! [`Config`](super::Config), one [`ServerCheck`] per check of a real server and
//! one [`ServicePolicy`] (quorum, sorry server) per service, which a std
//! embedder runs (lvs-rs's runner does). Nothing here does I/O.
//!
//! ```
//! use lvs_core::config::keepalived;
//!
//! let text = "global_defs {\n router_id LVS1\n}\n\
//!             virtual_server 198.51.100.1 80 {\n lb_algo rr\n lb_kind NAT\n\
//!             real_server 192.0.2.1 8080 {\n weight 2\n TCP_CHECK {\n connect_timeout 3\n }\n }\n}\n";
//! let k = keepalived::parse(text)?;
//! assert_eq!(k.skipped[0].keyword, "global_defs");
//! let c = k.to_config()?;
//! assert_eq!(c.config.services[0].servers[0].weight, 2);
//! assert_eq!(c.checks[0].timeout_secs, 3);
//! # Ok::<(), keepalived::KeepalivedError>(())
//! ```
//!
//! - Other top-level blocks (`global_defs`, `vrrp_instance`, `vrrp_script`,
//!   ...) are skipped and listed in [`KeepalivedConfig::skipped`]; keywords
//!   this reader does not know inside the LVS blocks are listed in
//!   [`KeepalivedConfig::notes`] and otherwise ignored, as keepalived does.
//! - `include` is refused ([`KeepalivedErrorKind::Include`]): this reader
//!   sees one text, and a silently partial configuration is worse than none.
//!   Concatenate the files first.
//! - Bounds: at most [`MAX_TEXT_LEN`] bytes and [`MAX_DEPTH`] nested blocks;
//!   every error carries the 1-based line it was found on.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, SocketAddr};

use crate::addr::Protocol;

mod convert;
mod read;
mod tree;

pub use convert::{CheckSpec, Converted, ServerCheck, ServicePolicy};

/// The longest text [`parse`] reads.
pub const MAX_TEXT_LEN: usize = 4 << 20;

/// The deepest nesting of `{ }` blocks [`parse`] reads (keepalived's own
/// LVS grammar needs 4: virtual_server > real_server > HTTP_GET > url).
pub const MAX_DEPTH: usize = 8;

/// keepalived's `delay_loop` default, in seconds.
pub const DEFAULT_DELAY_LOOP_SECS: u32 = 60;

/// keepalived's `connect_timeout` default, in seconds.
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u32 = 5;

/// keepalived's `retry` default for TCP_CHECK and HTTP_GET.
pub const DEFAULT_RETRY: u32 = 1;

/// keepalived's `delay_before_retry` default, in seconds.
pub const DEFAULT_DELAY_BEFORE_RETRY_SECS: u32 = 1;

/// What a `virtual_server` line names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VirtualAddr {
    /// `virtual_server IP PORT`.
    Addr(SocketAddr),
    /// `virtual_server fwmark N`.
    Fwmark(u32),
    /// `virtual_server group NAME`.
    Group(String),
}

/// How packets reach the real servers (`lb_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbKind {
    /// `NAT`.
    Nat,
    /// `DR`.
    Dr,
    /// `TUN`.
    Tun,
}

/// One `url { }` of an `HTTP_GET`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Url {
    /// `path`.
    pub path: String,
    /// `status_code` (keepalived accepts any 2xx when absent).
    pub status_code: Option<u16>,
    /// `digest`: the MD5 of the body, in hex.
    pub digest: Option<String>,
}

/// Settings TCP_CHECK and HTTP_GET share.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectOpts {
    /// `connect_port` (the real server's port when absent).
    pub connect_port: Option<u16>,
    /// `connect_timeout` in seconds.
    pub connect_timeout: Option<u32>,
    /// `bindto`: source address of the check.
    pub bindto: Option<IpAddr>,
    /// `retry` / `nb_get_retry`.
    pub retry: Option<u32>,
    /// `delay_before_retry` in seconds.
    pub delay_before_retry: Option<u32>,
}

/// A health check of a real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// `TCP_CHECK { }`.
    Tcp(ConnectOpts),
    /// `HTTP_GET { }`.
    Http {
        /// Connection settings.
        opts: ConnectOpts,
        /// The URLs, all of which must answer as expected.
        urls: Vec<Url>,
    },
    /// `MISC_CHECK { misc_path, misc_timeout }`.
    Misc {
        /// `misc_path`: the command line.
        path: String,
        /// `misc_timeout` in seconds (the `delay_loop` when absent).
        timeout: Option<u32>,
    },
}

/// One `real_server IP PORT { }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServerDef {
    /// Line of the `real_server` keyword.
    pub line: usize,
    /// Address and port.
    pub addr: SocketAddr,
    /// `weight` (1 when absent).
    pub weight: Option<u32>,
    /// `inhibit_on_failure`: weight 0 instead of removal when down.
    pub inhibit_on_failure: bool,
    /// Its checks (keepalived takes a server down when any fails).
    pub checks: Vec<Check>,
}

/// One `virtual_server ... { }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServerDef {
    /// Line of the `virtual_server` keyword.
    pub line: usize,
    /// What it names.
    pub addr: VirtualAddr,
    /// `delay_loop` in seconds.
    pub delay_loop: Option<u32>,
    /// `lb_algo` (scheduler name).
    pub lb_algo: Option<String>,
    /// `lb_kind`.
    pub lb_kind: Option<LbKind>,
    /// `protocol` (TCP when absent).
    pub protocol: Option<Protocol>,
    /// `persistence_timeout` in seconds.
    pub persistence_timeout: Option<u32>,
    /// `persistence_granularity` as a prefix length.
    pub persistence_granularity: Option<u8>,
    /// `sorry_server IP PORT`.
    pub sorry_server: Option<SocketAddr>,
    /// `quorum`.
    pub quorum: Option<u32>,
    /// `hysteresis`.
    pub hysteresis: Option<u32>,
    /// `quorum_up` command.
    pub quorum_up: Option<String>,
    /// `quorum_down` command.
    pub quorum_down: Option<String>,
    /// `alpha`: real servers start down until their first good check.
    pub alpha: bool,
    /// `omega`: run `quorum_down` on removal.
    pub omega: bool,
    /// The real servers.
    pub real_servers: Vec<RealServerDef>,
}

/// A member of a `virtual_server_group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupMember {
    /// `IP PORT`, or a range `A.B.C.D-E PORT` expanded.
    Addr(SocketAddr),
    /// `fwmark N`.
    Fwmark(u32),
}

/// One `virtual_server_group NAME { }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDef {
    /// Line of the keyword.
    pub line: usize,
    /// Its name.
    pub name: String,
    /// Its members.
    pub members: Vec<GroupMember>,
}

/// Something read but not used, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// 1-based line.
    pub line: usize,
    /// The keyword.
    pub keyword: String,
}

/// The LVS part of a keepalived.conf.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct KeepalivedConfig {
    /// The `virtual_server` blocks, in file order.
    pub virtual_servers: Vec<VirtualServerDef>,
    /// The `virtual_server_group` blocks, in file order.
    pub groups: Vec<GroupDef>,
    /// Top-level blocks and statements skipped (`global_defs`, `vrrp_instance`, ...).
    pub skipped: Vec<Note>,
    /// Keywords inside LVS blocks that are ignored (unknown, or checks not
    /// supported such as `SSL_GET`).
    pub notes: Vec<Note>,
}

/// What was wrong in a keepalived.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeepalivedErrorKind {
    /// The text is longer than [`MAX_TEXT_LEN`].
    TooLarge {
        /// Its length.
        len: usize,
    },
    /// Blocks nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A `"` without its closing `"` on the same line.
    UnterminatedQuote,
    /// A `{` with no keyword before it.
    BlockWithoutKeyword,
    /// A `}` with no block open.
    UnbalancedClose,
    /// A `{` (opened on this line) never closed.
    UnclosedBlock,
    /// `include`: refused (see the module docs).
    Include,
    /// A keyword needs a `{ }` block and has none.
    MissingBlock(String),
    /// A keyword lacks a value.
    MissingValue(String),
    /// A value that does not fit its keyword.
    BadValue {
        /// The keyword.
        keyword: String,
        /// The value.
        value: String,
    },
    /// Two virtual services with the same address, or two real servers with
    /// the same address in one service.
    Duplicate(String),
    /// `virtual_server group NAME` with no such group.
    UnknownGroup(String),
    /// A TCP or HTTP check would probe port 0 (a fwmark or port-0 real
    /// server without `connect_port`).
    CheckOnPortZero(SocketAddr),
}

/// An error of [`parse`] or [`KeepalivedConfig::to_config`], with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepalivedError {
    /// 1-based line.
    pub line: usize,
    /// What was wrong.
    pub kind: KeepalivedErrorKind,
}

impl fmt::Display for KeepalivedErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { len } => write!(f, "{len} bytes, more than {MAX_TEXT_LEN}"),
            Self::TooDeep => write!(f, "blocks nested deeper than {MAX_DEPTH}"),
            Self::UnterminatedQuote => f.write_str("unterminated quoted string"),
            Self::BlockWithoutKeyword => f.write_str("'{' without a keyword before it"),
            Self::UnbalancedClose => f.write_str("'}' without an open block"),
            Self::UnclosedBlock => f.write_str("block opened here is never closed"),
            Self::Include => {
                f.write_str("'include' is not supported: concatenate the files into one")
            }
            Self::MissingBlock(k) => write!(f, "{k} needs a {{ }} block"),
            Self::MissingValue(k) => write!(f, "{k} needs a value"),
            Self::BadValue { keyword, value } => write!(f, "{keyword}: bad value {value:?}"),
            Self::Duplicate(what) => write!(f, "duplicate {what}"),
            Self::UnknownGroup(g) => write!(f, "no virtual_server_group named {g:?}"),
            Self::CheckOnPortZero(a) => write!(
                f,
                "real server {a}: a TCP or HTTP check needs connect_port (it would probe port 0)"
            ),
        }
    }
}

impl fmt::Display for KeepalivedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind)
    }
}

impl core::error::Error for KeepalivedError {}

/// Reads the LVS part of a keepalived.conf.
pub fn parse(text: &str) -> Result<KeepalivedConfig, KeepalivedError> {
    let nodes = tree::parse_tree(text)?;
    read::read(&nodes)
}
