//! The ipvsadm text formats: `ipvsadm -S -n` rules and `ipvsadm -Ln` listings.
//!
//! Operators already keep their IPVS setups as `ipvsadm-save` files and read
//! state through `ipvsadm -Ln`; speaking both formats lets lvs-rs load such a
//! file unchanged, write one that `ipvsadm-restore` (or this crate) reads
//! back, and show its live state in the layout monitoring scripts parse.
//!
//! The module is split by direction:
//!
//! - [`parse_line`] turns one rule line into a [`Command`] without allocating,
//!   so a `no_std` embedder without `alloc` can apply a rule file line by line
//!   to storage of its own; with `alloc`, [`parse`] folds a whole file into a
//!   plain-data [`Config`] and checks it as a whole (services defined before
//!   their servers, no duplicates).
//! - [`write_service_line`], [`write_server_line`] and [`write_timeouts_line`]
//!   print single lines into any [`core::fmt::Write`]; with `alloc`,
//!   [`print`] / [`write_config`] print a whole [`Config`] so that
//!   `parse(&print(&c)) == Ok(c)` for every valid configuration.
//! - With `alloc`, [`listing`](mod@listing) renders live
//!   [`Service`](crate::service::Service)s as `ipvsadm -Ln`, `--stats`,
//!   `--rate`, `--thresholds` and `--persistent-conn` do.
//!
//! # Extensions to ipvsadm's format
//!
//! The library must round-trip everything a [`Config`] holds, which ipvsadm's
//! own save format does not quite do. Three deliberate extensions, all of which
//! ipvsadm itself also accepts as input:
//!
//! - Thresholds are printed as `-x U` / `-y L` at the end of a `-a` line when
//!   non-zero (ipvsadm never saves them).
//! - `-M` is printed whenever the netmask is not the full one, even for a
//!   non-persistent service (ipvsadm prints it only after `-p`).
//! - A `--set tcp tcpfin udp` line (ipvsadm's command for the connection
//!   timeouts) is printed first when [`Config::timeouts`] is set.
//!
//! Two things do not round-trip, as in ipvsadm: [`Forwarding::Local`] is
//! saved as `-g` and reads back as [`Forwarding::DirectRoute`]; an IPv6
//! scope id or flow label is not printed and reads back as 0. And, as ipvsadm
//! does, a `-g`/`-i` real server of a non-fwmark service takes the service's
//! port whatever port the line gives.
//!
//! [`Forwarding::Local`]: crate::real_server::Forwarding::Local
//! [`Forwarding::DirectRoute`]: crate::real_server::Forwarding::DirectRoute

use core::cmp::Ordering;
use core::fmt;
use core::net::{IpAddr, SocketAddr};

use crate::addr::Family;
use crate::real_server::RealServerConfig;
use crate::service::{ServiceConfig, ServiceKey};

mod parse;
mod print;

#[cfg(feature = "alloc")]
pub mod listing;

#[cfg(feature = "alloc")]
pub mod keepalived;

pub use parse::{parse_args, parse_line};
pub use print::{write_server_line, write_service_line, write_timeouts_line};

#[cfg(feature = "alloc")]
pub use parse::parse;
#[cfg(feature = "alloc")]
pub use print::{print, write_config};

/// The largest timeout ipvsadm accepts for `-p` and `--set` (31 days, its
/// `MAX_TIMEOUT`).
pub const MAX_TIMEOUT_SECS: u32 = 86_400 * 31;

/// The largest upper or lower threshold ipvsadm accepts (`INT_MAX`).
pub const MAX_THRESHOLD: u32 = i32::MAX as u32;

/// Connection timeouts from a `--set tcp tcpfin udp` line, in seconds. As in
/// ipvsadm, 0 means "leave this timeout unchanged".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Timeouts {
    /// Timeout of established TCP connections.
    pub tcp: u32,
    /// Timeout of TCP connections after a FIN.
    pub tcp_fin: u32,
    /// Timeout of UDP connections.
    pub udp: u32,
}

/// What one rule line asks for: one of the commands `ipvsadm -R` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `-A`: add a virtual service.
    AddService(ServiceConfig),
    /// `-E`: replace a virtual service's settings (scheduler, persistence,
    /// netmask, flags; what the line leaves out takes ipvsadm's default).
    EditService(ServiceConfig),
    /// `-D`: delete a virtual service and its real servers.
    DeleteService(ServiceKey),
    /// `-a`: add a real server to a service.
    AddServer {
        /// The service the server belongs to.
        service: ServiceKey,
        /// The real server.
        server: RealServerConfig,
    },
    /// `-e`: replace a real server's settings (what the line leaves out
    /// takes ipvsadm's default: weight 1, `-g`).
    EditServer {
        /// The service the server belongs to.
        service: ServiceKey,
        /// The real server's new configuration.
        server: RealServerConfig,
    },
    /// `-d`: delete a real server from a service.
    DeleteServer {
        /// The service the server belongs to.
        service: ServiceKey,
        /// The real server's address and port.
        server: SocketAddr,
    },
    /// `--set tcp tcpfin udp`: connection timeouts.
    SetTimeouts(Timeouts),
    /// `-C`: clear the table. Rule files start with it to make a restore
    /// replace the setup; [`parse`] removes every service defined before it.
    Clear,
    /// `-Z`: zero the counters of every service, or of the one given.
    /// Counters are not configuration: [`parse`] only checks the service.
    Zero(Option<ServiceKey>),
}

/// Up to this many bytes of an offending token are kept in an error.
pub const SNIPPET_MAX: usize = 32;

/// A short copy of an offending piece of input, kept inline so that errors
/// need no allocation. Longer input is cut (at a character boundary) and
/// shown with a trailing `...`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Snippet {
    len: u8,
    truncated: bool,
    buf: [u8; SNIPPET_MAX],
}

impl Snippet {
    /// Copy (the start of) `s`.
    pub fn new(s: &str) -> Snippet {
        let mut end = s.len().min(SNIPPET_MAX);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut buf = [0u8; SNIPPET_MAX];
        buf[..end].copy_from_slice(&s.as_bytes()[..end]);
        Snippet {
            len: end as u8,
            truncated: end < s.len(),
            buf,
        }
    }

    /// The kept text.
    pub fn as_str(&self) -> &str {
        let b = &self.buf[..usize::from(self.len)];
        // `new` only cuts at character boundaries.
        core::str::from_utf8(b).unwrap_or("")
    }

    /// Whether the input was longer than what is kept.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl fmt::Debug for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())?;
        if self.truncated {
            f.write_str("...")?;
        }
        Ok(())
    }
}

impl fmt::Display for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if self.truncated {
            f.write_str("...")?;
        }
        Ok(())
    }
}

/// What was wrong with a rule line. Option names are given in their short
/// spelling (`-w`), or the long one for options that have no short form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// A token that is not an option ipvsadm's rule format knows.
    UnknownOption(Snippet),
    /// A word where an option was expected (e.g. a second value).
    UnexpectedArgument(Snippet),
    /// The line has options but no command (`-A`, `-E`, `-D`, `-a`, `-e`,
    /// `-d`, `-C`, `-Z`, `--set`).
    MissingCommand,
    /// An option that needs a value has none.
    MissingValue(&'static str),
    /// The same option twice on one line.
    DuplicateOption(&'static str),
    /// Two options that exclude each other (two commands, `-t` and `-u`,
    /// `-m` and `-g`, ...).
    ConflictingOptions(&'static str, &'static str),
    /// An option that does not apply to the line's command (e.g. `-w` on `-A`).
    OptionNotAllowed(&'static str),
    /// `-A`/`-a` without `-t`, `-u`, `--sctp-service` or `-f`.
    MissingService,
    /// `-a` without `-r`.
    MissingRealServer,
    /// Not a numeric IPv4 address or a bracketed IPv6 address.
    BadAddress(Snippet),
    /// An IPv6 address without brackets whose last group could be a port
    /// (`2001:db8::10:80`): write `[2001:db8::10]:80`, or `[2001:db8::10:80]`
    /// for the address alone.
    Ipv6NeedsBrackets(Snippet),
    /// Not a port number 0..=65535.
    BadPort(Snippet),
    /// Not a firewall mark 1..=4294967295.
    BadFwmark(Snippet),
    /// Not a scheduler name (1..=15 letters and digits).
    BadScheduler(Snippet),
    /// A well-formed name that is none of IPVS's schedulers.
    UnknownScheduler(Snippet),
    /// Not a persistence timeout 1..=2678400 seconds.
    BadPersistence(Snippet),
    /// Not a netmask: a contiguous dotted mask for IPv4, a prefix length
    /// 1..=128 for IPv6.
    BadNetmask(Snippet),
    /// A `-b` flag that ipvsadm does not know.
    UnknownSchedFlag(Snippet),
    /// `sh-*` flags need the `sh` scheduler, `mh-*` flags the `mh` one.
    SchedFlagNeedsScheduler {
        /// The flag.
        flag: &'static str,
        /// The scheduler it belongs to.
        scheduler: &'static str,
    },
    /// A port-0 (wildcard) service that is not persistent.
    ZeroPortNotPersistent,
    /// Not a weight 0..=65535.
    BadWeight(Snippet),
    /// Not a threshold 0..=2147483647.
    BadThreshold(Snippet),
    /// Lower threshold above the upper one (IPVS: ERANGE).
    ThresholdOrder {
        /// Upper threshold (`-x`).
        upper: u32,
        /// Lower threshold (`-y`).
        lower: u32,
    },
    /// Not a tunnel type `ipip`, `gue` or `gre`.
    BadTunnelType(Snippet),
    /// Not a tunnel port 1..=65535.
    BadTunnelPort(Snippet),
    /// A `--tun-*` option on a real server that is not `-i`.
    TunnelOptionWithoutTunnel(&'static str),
    /// `--tun-type gue` without `--tun-port`.
    GueWithoutPort,
    /// `--tun-port` with a tunnel type other than GUE.
    TunnelPortWithoutGue,
    /// A checksum option the tunnel type does not support (any with ipip,
    /// `--tun-remcsum` with gre).
    ChecksumNotSupported {
        /// The option.
        option: &'static str,
        /// The tunnel type.
        tunnel: &'static str,
    },
    /// A real server of the other address family, without `-i`.
    FamilyMismatch,
    /// Not a timeout 0..=2678400 seconds in `--set`.
    BadTimeout(Snippet),
    /// A line naming a service no earlier `-A` line defined (or one a `-D`
    /// or `-C` removed).
    ServiceNotDefined,
    /// `-e` or `-d` for a real server the service does not have.
    ServerNotDefined,
    /// A second `-A` for the same service.
    DuplicateService,
    /// A second `-a` for the same real server of a service.
    DuplicateServer,
}

impl fmt::Display for ConfigErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ConfigErrorKind as K;
        match self {
            K::UnknownOption(s) => write!(f, "unknown option `{s}`"),
            K::UnexpectedArgument(s) => write!(f, "unexpected argument `{s}`"),
            K::MissingCommand => {
                f.write_str("no command (-A, -E, -D, -a, -e, -d, -C, -Z or --set)")
            }
            K::MissingValue(o) => write!(f, "option {o} needs a value"),
            K::DuplicateOption(o) => write!(f, "option {o} given twice"),
            K::ConflictingOptions(a, b) => write!(f, "options {a} and {b} conflict"),
            K::OptionNotAllowed(o) => write!(f, "option {o} is not allowed here"),
            K::MissingService => f.write_str("no service (-t, -u, --sctp-service or -f)"),
            K::MissingRealServer => f.write_str("no real server (-r)"),
            K::BadAddress(s) => write!(f, "bad address `{s}`"),
            K::Ipv6NeedsBrackets(s) => write!(
                f,
                "ambiguous IPv6 address `{s}`: write [address]:port, or [address] without a port"
            ),
            K::BadPort(s) => write!(f, "bad port `{s}`"),
            K::BadFwmark(s) => write!(f, "bad firewall mark `{s}`"),
            K::BadScheduler(s) => write!(f, "bad scheduler name `{s}`"),
            K::UnknownScheduler(s) => write!(
                f,
                "unknown scheduler `{s}` (IPVS has rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos)"
            ),
            K::BadPersistence(s) => write!(f, "bad persistence timeout `{s}`"),
            K::BadNetmask(s) => write!(f, "bad netmask `{s}`"),
            K::UnknownSchedFlag(s) => write!(f, "unknown scheduler flag `{s}`"),
            K::SchedFlagNeedsScheduler { flag, scheduler } => {
                write!(f, "scheduler flag {flag} needs scheduler {scheduler}")
            }
            K::ZeroPortNotPersistent => {
                f.write_str("zero port specified for non-persistent service")
            }
            K::BadWeight(s) => write!(f, "weight `{s}` out of range (0..=65535)"),
            K::BadThreshold(s) => write!(f, "bad threshold `{s}`"),
            K::ThresholdOrder { upper, lower } => {
                write!(
                    f,
                    "lower threshold {lower} is above upper threshold {upper}"
                )
            }
            K::BadTunnelType(s) => write!(f, "bad tunnel type `{s}` (ipip, gue or gre)"),
            K::BadTunnelPort(s) => write!(f, "bad tunnel port `{s}`"),
            K::TunnelOptionWithoutTunnel(o) => write!(f, "option {o} needs -i"),
            K::GueWithoutPort => f.write_str("--tun-type gue needs --tun-port"),
            K::TunnelPortWithoutGue => f.write_str("--tun-port needs --tun-type gue"),
            K::ChecksumNotSupported { option, tunnel } => {
                write!(
                    f,
                    "option {option} is not supported with tunnel type {tunnel}"
                )
            }
            K::FamilyMismatch => {
                f.write_str("real server of another address family needs the tunnel method -i")
            }
            K::BadTimeout(s) => write!(f, "bad timeout `{s}`"),
            K::ServiceNotDefined => f.write_str("service not defined by an earlier -A line"),
            K::ServerNotDefined => f.write_str("real server not defined for this service"),
            K::DuplicateService => f.write_str("service already defined"),
            K::DuplicateServer => f.write_str("real server already defined for this service"),
        }
    }
}

/// A rule file error: the 1-based line and what was wrong with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub kind: ConfigErrorKind,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind)
    }
}

impl core::error::Error for ConfigError {}

/// The order ipvsadm sorts services in (`ipvs_cmp_services`): fwmark
/// services after address services and by mark, then IPv4 before IPv6, then
/// protocol number, address and port.
pub fn service_order(a: &ServiceKey, b: &ServiceKey) -> Ordering {
    fn parts(k: &ServiceKey) -> (u32, Family, u8, IpAddr, u16) {
        match *k {
            ServiceKey::Addr { protocol, vip } => (
                0,
                Family::of(&vip.ip()),
                protocol.number(),
                vip.ip(),
                vip.port(),
            ),
            ServiceKey::Fwmark { family, mark } => {
                let unspecified = match family {
                    Family::V4 => IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
                    Family::V6 => IpAddr::V6(core::net::Ipv6Addr::UNSPECIFIED),
                };
                (mark, family, 0, unspecified, 0)
            }
        }
    }
    parts(a).cmp(&parts(b))
}

/// The order ipvsadm sorts real servers in (`ipvs_cmp_dests`): IPv4 before
/// IPv6, then address, then port.
pub fn server_order(a: &SocketAddr, b: &SocketAddr) -> Ordering {
    (Family::of(&a.ip()), a.ip(), a.port()).cmp(&(Family::of(&b.ip()), b.ip(), b.port()))
}

#[cfg(feature = "alloc")]
pub use owned::{Config, ServiceEntry};

#[cfg(feature = "alloc")]
mod owned {
    use alloc::vec::Vec;

    use super::{Timeouts, server_order, service_order};
    use crate::real_server::RealServerConfig;
    use crate::service::{Service, ServiceConfig, ServiceKey};

    /// A virtual service and its real servers, in rule-file order.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ServiceEntry {
        /// The service (`-A` line).
        pub config: ServiceConfig,
        /// Its real servers (`-a` lines), in file order.
        pub servers: Vec<RealServerConfig>,
    }

    /// A whole IPVS setup as plain data: what an `ipvsadm -S -n` file holds.
    ///
    /// The order of services and servers is the file's order; [`Config::sort`]
    /// puts them in the order `ipvsadm -S` prints.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct Config {
        /// The services, each with its real servers.
        pub services: Vec<ServiceEntry>,
        /// Connection timeouts from a `--set` line, if any (an extension of
        /// the save format; see the [module docs](super)).
        pub timeouts: Option<Timeouts>,
    }

    impl Config {
        /// An empty setup.
        pub fn new() -> Config {
            Config::default()
        }

        /// The entry of a service.
        pub fn service(&self, key: &ServiceKey) -> Option<&ServiceEntry> {
            self.services.iter().find(|e| e.config.key == *key)
        }

        /// A snapshot of live services (what `ipvsadm -S` would save): each
        /// service's configuration and its listed real servers in list order.
        /// Removed servers still referenced by connections are not included.
        pub fn from_services<'a>(services: impl IntoIterator<Item = &'a Service>) -> Config {
            Config {
                services: services
                    .into_iter()
                    .map(|s| ServiceEntry {
                        config: s.config,
                        servers: s.servers().map(|(_, r)| r.config).collect(),
                    })
                    .collect(),
                timeouts: None,
            }
        }

        /// Sort services and servers as `ipvsadm -S` does without `--nosort`
        /// (see [`service_order`](super::service_order) and
        /// [`server_order`](super::server_order)).
        pub fn sort(&mut self) {
            self.services
                .sort_by(|a, b| service_order(&a.config.key, &b.config.key));
            for s in &mut self.services {
                s.servers.sort_by(|a, b| server_order(&a.addr, &b.addr));
            }
        }
    }
}
