//! Command-line flags shared by the director binaries, parsed into typed values.
//!
//! Why one place: `lvs-afpacket`, `lvs-tap` and `lvs-pcap` take the same rules file, the same
//! addressing and the same health-check settings; declaring them once (as clap `Args` structs
//! each binary flattens) keeps their spelling, defaults and help text identical, and values
//! such as MAC addresses and CIDR prefixes are validated at parse time rather than in the
//! packet path.

use std::fmt;
use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, ValueEnum};

use crate::health::{CheckConfig, CheckConfigError, CheckKind};
use crate::io::afpacket::{AfPacketConfig, RingVersion};

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl FromStr for MacAddr {
    type Err = String;

    /// Parses `aa:bb:cc:dd:ee:ff` (or with `-` separators), one or two hex digits per octet.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for o in &mut out {
            let p = parts
                .next()
                .filter(|p| (1..=2).contains(&p.len()))
                .ok_or_else(|| format!("bad MAC address {s:?}"))?;
            *o = u8::from_str_radix(p, 16).map_err(|_| format!("bad MAC address {s:?}"))?;
        }
        if parts.next().is_some() {
            return Err(format!("bad MAC address {s:?}"));
        }
        Ok(Self(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// An interface address with its prefix length, e.g. `198.51.100.1/24` or `2001:db8::1/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length (at most 32 for IPv4, 128 for IPv6).
    pub prefix_len: u8,
}

impl Cidr {
    /// Whether `ip` is inside this prefix (same family and same leading `prefix_len` bits).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// Parses `ADDR/LEN`; a bare address means a host prefix (/32 or /128).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| format!("bad address in {s:?}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = match l {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("bad prefix length in {s:?} (0..={max})"))?,
        };
        Ok(Self { addr, prefix_len })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// A static neighbour entry `IP=MAC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Neighbor {
    /// The neighbour's IP address.
    pub ip: IpAddr,
    /// Its MAC address.
    pub mac: MacAddr,
}

impl FromStr for Neighbor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ip, mac) = s
            .split_once('=')
            .ok_or_else(|| format!("expected IP=MAC, got {s:?}"))?;
        Ok(Self {
            ip: ip.parse().map_err(|_| format!("bad IP in {s:?}"))?,
            mac: mac.parse()?,
        })
    }
}

/// Which health check to run against each real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckType {
    /// TCP connect to the real server's port.
    Tcp,
    /// HTTP GET, expecting a status code.
    Http,
    /// No checks: every real server is up.
    None,
}

/// Health-check flags.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct HealthArgs {
    /// Health check kind.
    #[arg(long = "check", value_enum, default_value_t = CheckType::None)]
    pub check: CheckType,
    /// Milliseconds between two checks of one real server.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub check_interval_ms: u64,
    /// Milliseconds a check may take before it counts as failed.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    pub check_timeout_ms: u64,
    /// Consecutive successes that bring a down server up.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub check_rise: u32,
    /// Consecutive failures that take an up server down.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub check_fall: u32,
    /// Path of the HTTP check.
    #[arg(long, default_value = "/")]
    pub check_http_path: String,
    /// Status code the HTTP check expects.
    #[arg(long, default_value_t = 200)]
    pub check_http_status: u16,
    /// Host header of the HTTP check (default: the real server's address).
    #[arg(long)]
    pub check_http_host: Option<String>,
}

impl HealthArgs {
    /// The check configuration, or `None` for `--check none`. HTTP values that could
    /// inject a header (control characters, a path not starting with `/`) are refused.
    pub fn to_config(&self) -> Result<Option<CheckConfig>, CheckConfigError> {
        let kind = match self.check {
            CheckType::None => return Ok(None),
            CheckType::Tcp => CheckKind::Tcp,
            CheckType::Http => CheckKind::http(
                &self.check_http_path,
                self.check_http_host.as_deref(),
                self.check_http_status,
            )?,
        };
        Ok(Some(CheckConfig {
            kind,
            interval: Duration::from_millis(self.check_interval_ms),
            timeout: Duration::from_millis(self.check_timeout_ms),
            rise: self.check_rise,
            fall: self.check_fall,
        }))
    }
}

/// How log events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One line of text per event (colour only when standard error is a terminal and
    /// `NO_COLOR` is not set).
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Logging flags.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct LogArgs {
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, default_value = "info")]
    pub log_level: tracing::Level,
    /// Log format: `text` (one line per event) or `json` (one JSON object per line).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl LogArgs {
    /// Installs a `tracing` subscriber writing to standard error at the chosen level and in
    /// the chosen format. Does nothing if one is installed already.
    pub fn init(&self) {
        let ansi = use_colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        );
        let builder = tracing_subscriber::fmt()
            .with_max_level(self.log_level)
            .with_writer(std::io::stderr);
        let _ = match self.log_format {
            LogFormat::Text => builder.with_ansi(ansi).try_init(),
            LogFormat::Json => builder.json().with_ansi(false).try_init(),
        };
    }
}

/// Whether text logs are coloured: only on a terminal, and not when `NO_COLOR` is set to a
/// non-empty value (<https://no-color.org>). Files, pipes and journald get plain text.
pub fn use_colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// `--addr [IFACE=]CIDR`: one of the director's addresses, on one link.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddrFlag {
    /// The interface it belongs to; `None` means the only one served.
    pub iface: Option<String>,
    /// The address and its on-link prefix.
    pub cidr: Cidr,
}

impl FromStr for AddrFlag {
    type Err = String;

    /// Parses `CIDR` or `IFACE=CIDR`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (iface, cidr) = split_iface(s)?;
        Ok(Self {
            iface,
            cidr: cidr.parse()?,
        })
    }
}

/// `--gateway [IFACE=]IP`: a default route's next hop, on one link.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GatewayFlag {
    /// The interface it is reached on; `None`: the link whose prefix holds it.
    pub iface: Option<String>,
    /// The gateway's address.
    pub ip: IpAddr,
}

impl FromStr for GatewayFlag {
    type Err = String;

    /// Parses `IP` or `IFACE=IP`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (iface, ip) = split_iface(s)?;
        Ok(Self {
            iface,
            ip: ip
                .parse()
                .map_err(|_| format!("bad gateway address in {s:?}"))?,
        })
    }
}

/// Splits an optional `IFACE=` prefix off a flag value (addresses never hold `=`).
fn split_iface(s: &str) -> Result<(Option<String>, &str), String> {
    match s.split_once('=') {
        None => Ok((None, s)),
        Some((i, _)) if i.is_empty() || i.len() >= 16 || i.contains(['/', ' ']) => {
            Err(format!("bad interface name in {s:?}"))
        }
        Some((i, rest)) => Ok((Some(i.to_string()), rest)),
    }
}

/// The flags every director binary shares. The ports a binary serves are chosen by its own
/// flags ([`AfPacketPorts`], [`TapPorts`]), so each binary's `--help` lists only what it takes;
/// the binary hands their names over with [`DirectorArgs::with_links`].
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct DirectorArgs {
    /// Rules in `ipvsadm -S -n` format.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "keepalived_conf",
        conflicts_with = "keepalived_conf"
    )]
    pub rules: Option<PathBuf>,
    /// Take services, real servers and health checks from the LVS part of a
    /// keepalived.conf (virtual_server, virtual_server_group) instead of --rules; other
    /// blocks are skipped with a note; SIGHUP re-reads it.
    #[arg(long, value_name = "FILE")]
    pub keepalived_conf: Option<PathBuf>,
    /// Expire a connection whose real server was removed and schedule its next packet
    /// anew (IPVS `expire_nodest_conn`; default off: its packets are dropped).
    #[arg(long)]
    pub expire_nodest_conn: bool,
    /// Expire a persistence template whose real server has weight 0 (IPVS
    /// `expire_quiescent_template`; default off).
    #[arg(long)]
    pub expire_quiescent_template: bool,
    /// The served links' names, in link order (the `--iface`s or the `--tap`s): not a flag
    /// of its own, set by the binary from its port flags.
    #[arg(skip)]
    pub links: Vec<String>,
    /// The director's own MAC address (default: the interface's; on a TAP, the TAP's with
    /// its last bit flipped).
    #[arg(long)]
    pub mac: Option<MacAddr>,
    /// An address of the director, `[IFACE=]CIDR` (repeatable), added to what the kernel
    /// has on that interface. `IFACE=` may be left out when one interface is served.
    #[arg(long = "addr", value_name = "[IFACE=]CIDR")]
    pub addrs: Vec<AddrFlag>,
    /// Default gateway `[IFACE=]IP` (repeatable: one per family), added to the kernel's routes.
    #[arg(long = "gateway", value_name = "[IFACE=]IP")]
    pub gateways: Vec<GatewayFlag>,
    /// Static neighbour entry (repeatable); wins over what the kernel or the wire says.
    #[arg(long = "neighbor", value_name = "IP=MAC")]
    pub neighbors: Vec<Neighbor>,
    /// Do not learn addresses, routes and neighbours from the kernel (rtnetlink): use only
    /// the flags.
    #[arg(long)]
    pub no_netlink: bool,
    /// Let a SIGHUP reload apply a rules file that has no services, or none of the
    /// running ones (refused by default: an empty or truncated file would stop every
    /// service).
    #[arg(long)]
    pub allow_empty_reload: bool,
    /// Health checks.
    #[command(flatten)]
    pub health: HealthArgs,
    /// The control socket `lvsadm` talks to (created owner-only; a live one is not replaced).
    #[arg(long, value_name = "PATH", default_value = crate::control::DEFAULT_CONTROL_PATH)]
    pub control: PathBuf,
    /// Serve no control socket.
    #[arg(long)]
    pub no_control: bool,
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics (node_exporter's IPVS names).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Seconds between statistics lines (0: only on SIGUSR1).
    #[arg(long, default_value_t = 0)]
    pub stats_interval_secs: u64,
    /// IPv4 connection-table capacity per worker (entries, 256..=134217728), preallocated:
    /// 85 bytes per entry (64-byte slots, 3/4 full at most).
    #[arg(long, value_name = "N", default_value_t = crate::memory::DEFAULT_CONN_TABLE_V4 as u64,
          value_parser = clap::value_parser!(u64)
              .range(crate::memory::MIN_CONN_TABLE as u64..=crate::memory::MAX_CONN_TABLE as u64))]
    pub conn_table_v4: u64,
    /// IPv6 connection-table capacity per worker (entries, 256..=134217728), preallocated:
    /// 171 bytes per entry (128-byte slots, 3/4 full at most).
    #[arg(long, value_name = "N", default_value_t = crate::memory::DEFAULT_CONN_TABLE_V6 as u64,
          value_parser = clap::value_parser!(u64)
              .range(crate::memory::MIN_CONN_TABLE as u64..=crate::memory::MAX_CONN_TABLE as u64))]
    pub conn_table_v6: u64,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

/// `lvs-afpacket`'s port flags: the interfaces and the workers serving them.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct AfPacketPorts {
    /// Interface to attach to with AF_PACKET (repeatable); each is one link.
    #[arg(long = "iface", value_name = "NAME")]
    pub ifaces: Vec<String>,
    /// Worker threads joined in one AF_PACKET fanout group (1: no fanout). Each has its own
    /// connection tables: the total is stated at start and refused if it exceeds 90% of the
    /// host's available memory.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub fanout: u16,
}

/// `lvs-tap`'s port flags: the TAP devices.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct TapPorts {
    /// TAP device to create or attach to (repeatable); each is one link.
    #[arg(long = "tap", value_name = "NAME")]
    pub taps: Vec<String>,
}

impl DirectorArgs {
    /// These flags serving `links` (the binary's `--iface`s or `--tap`s, in link order).
    pub fn with_links(mut self, links: Vec<String>) -> Self {
        self.links = links;
        self
    }

    /// The served links' names, in link order: the `--iface`s or the `--tap`s.
    pub fn link_names(&self) -> &[String] {
        &self.links
    }

    /// Checks that every per-link flag names a served link, and that a flag without
    /// `IFACE=` is unambiguous (one link).
    pub fn check_links(&self) -> Result<(), String> {
        let names = self.link_names();
        let check = |iface: &Option<String>, flag: &str, value: &dyn fmt::Display| match iface {
            None if names.len() > 1 => Err(format!(
                "--{flag} {value} is ambiguous with {} interfaces: write --{flag} {}={value}",
                names.len(),
                names[0]
            )),
            Some(i) if !names.contains(i) => Err(format!(
                "--{flag} {i}={value}: {i} is not one of the served interfaces ({})",
                names.join(", ")
            )),
            _ => Ok(()),
        };
        for a in &self.addrs {
            check(&a.iface, "addr", &a.cidr)?;
        }
        for g in &self.gateways {
            // A bare gateway is found by prefix, so it is only checked when named.
            if g.iface.is_some() {
                check(&g.iface, "gateway", &g.ip)?;
            }
        }
        Ok(())
    }
}

/// `lvs-afpacket`'s command line.
#[derive(Debug, Parser)]
#[command(
    name = "lvs-afpacket",
    version,
    about = "The lvs-rs director on interfaces through AF_PACKET."
)]
pub struct AfPacketCli {
    /// The flags every director takes.
    #[command(flatten)]
    pub d: DirectorArgs,
    /// The interfaces and workers.
    #[command(flatten)]
    pub ports: AfPacketPorts,
    /// Packet I/O: `packet` (AF_PACKET, the default: the kernel keeps its copy of
    /// every frame and the offloads stay on) or
    /// `af_xdp` (AF_XDP sockets, one per receive queue; zero copy where the driver has it).
    #[arg(long, value_enum, default_value_t = Io::Packet)]
    pub io: Io,
    /// With `--io af_xdp`: where the XDP program runs (`auto`: native, else generic).
    #[arg(long, value_enum, default_value_t = XdpAttach::Auto)]
    pub xdp_mode: XdpAttach,
    /// How the AF_PACKET sockets are driven.
    #[command(flatten)]
    pub ring: IoArgs,
}

impl AfPacketCli {
    /// The shared flags with the `--iface`s as the served links.
    pub fn director_args(&self) -> DirectorArgs {
        self.d.clone().with_links(self.ports.ifaces.clone())
    }
}

/// The `--io` backends of `lvs-afpacket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Io {
    /// AF_PACKET (receive ring chosen by `--rx-ring`).
    Packet,
    /// AF_XDP.
    #[value(name = "af_xdp", alias = "afxdp")]
    AfXdp,
}

/// The `--xdp-mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum XdpAttach {
    /// Native if the driver supports it, generic otherwise.
    Auto,
    /// Native (driver) XDP only.
    Native,
    /// Generic (skb) XDP only.
    Generic,
}

/// How the AF_PACKET sockets are driven (latency against CPU; see BENCHMARKS.md,
/// "AF_PACKET I/O path (wave 2)", for what each costs and buys).
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct IoArgs {
    /// After a pass that found frames, spin this many microseconds looking at the rings
    /// before sleeping in poll (0: sleep at once). Costs CPU that other processes on the
    /// same cores may need.
    #[arg(long, value_name = "US", default_value_t = 0)]
    pub busy_poll_us: u64,
    /// Send straight to the driver, past the interface's queueing discipline
    /// (PACKET_QDISC_BYPASS).
    #[arg(long)]
    pub qdisc_bypass: bool,
    /// Set SO_BUSY_POLL on the sockets to this many microseconds (0: not set). Only
    /// drivers with busy-poll support (NAPI, a napi id on the socket) use it.
    #[arg(long, value_name = "US", default_value_t = 0)]
    pub so_busy_poll_us: u32,
    /// Receive ring: v2 (each frame handed over at once; one 64 KiB+ slot per frame, 192
    /// slots in 16 MiB) or v3 (blocks handed over when full or after 1 ms; 4 MiB holds
    /// thousands of small frames). v2 is the default: in the NAT benchmarks it forwarded
    /// more new connections and more UDP packets than v3 in 6 of 7 runs each
    /// (BENCHMARKS.md, "AF_PACKET I/O path (wave 2)"); v3 needs a quarter of the memory.
    #[arg(long, value_name = "VERSION", default_value = "v2", value_parser = ["v2", "v3"])]
    pub rx_ring: String,
    /// Blocks in each receive ring (default: 16 for v3, 64 for v2; 256 KiB each).
    #[arg(long, value_name = "N")]
    pub ring_blocks: Option<usize>,
}

impl IoArgs {
    /// The port settings these flags choose (before per-interface ones).
    pub fn port_config(&self) -> AfPacketConfig {
        let base = AfPacketConfig::default();
        let (ring, blocks) = match self.rx_ring.as_str() {
            "v2" => (RingVersion::V2, 64),
            _ => (RingVersion::V3, base.block_count),
        };
        AfPacketConfig {
            ring,
            block_count: self.ring_blocks.unwrap_or(blocks),
            qdisc_bypass: self.qdisc_bypass,
            busy_poll_us: self.so_busy_poll_us,
            // TPACKET_V3 hands a block over when it is full or this old:
            // the bound on the latency the director adds to a quiet flow
            // (1 ms is the smallest the kernel takes).
            block_timeout_ms: 1,
            ..base
        }
    }
}

/// `lvs-tap`'s command line.
#[derive(Debug, Parser)]
#[command(
    name = "lvs-tap",
    version,
    about = "The lvs-rs director on a TAP device."
)]
pub struct TapCli {
    /// The flags every director takes.
    #[command(flatten)]
    pub d: DirectorArgs,
    /// The TAP devices.
    #[command(flatten)]
    pub ports: TapPorts,
}

impl TapCli {
    /// The shared flags with the `--tap`s as the served links.
    pub fn director_args(&self) -> DirectorArgs {
        self.d.clone().with_links(self.ports.taps.clone())
    }
}

/// `lvs-pcap`'s command line: the director over a capture file.
#[derive(Debug, Parser)]
#[command(
    name = "lvs-pcap",
    version,
    about = "Run the director over a pcap file."
)]
pub struct PcapCli {
    /// Rules in `ipvsadm -S -n` format.
    #[arg(long, value_name = "FILE")]
    pub rules: PathBuf,
    /// Input capture (Ethernet).
    #[arg(long = "in", value_name = "IN.pcap")]
    pub input: PathBuf,
    /// Output capture: every frame the director would send.
    #[arg(long = "out", value_name = "OUT.pcap")]
    pub output: PathBuf,
    /// The director's MAC.
    #[arg(long)]
    pub mac: MacAddr,
    /// The director's addresses (repeatable).
    #[arg(long = "addr", value_name = "CIDR")]
    pub addrs: Vec<Cidr>,
    /// Default gateway.
    #[arg(long)]
    pub gateway: Option<IpAddr>,
    /// Static neighbour (repeatable).
    #[arg(long = "neighbor", value_name = "IP=MAC")]
    pub neighbors: Vec<Neighbor>,
    /// Also print the connection entries left at the end (`ipvsadm -Lnc`).
    #[arg(long)]
    pub connections: bool,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

/// `lvs-ipip-decap`'s command line: the real-server side of VS/TUN in user space.
#[derive(Debug, Parser)]
#[command(
    name = "lvs-ipip-decap",
    version,
    about = "User-space VS/TUN decapsulator: tunnelled frames from an interface, inner packets into a TUN."
)]
pub struct DecapCli {
    /// Interface the tunnelled packets arrive on.
    #[arg(long, value_name = "NAME")]
    pub iface: String,
    /// TUN device to create for the inner packets.
    #[arg(long, value_name = "NAME", default_value = "lvsdecap0")]
    pub tun: String,
    /// Also decapsulate GUE (UDP) sent to this port.
    #[arg(long, value_name = "PORT")]
    pub gue_port: Option<u16>,
    /// Seconds between counter lines in the log (0: only at exit and on SIGUSR1).
    #[arg(long, default_value_t = 0)]
    pub stats_interval_secs: u64,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    /// `lvs-afpacket`'s command line stands for any director's in the shared-flag tests.
    type Cli = AfPacketCli;

    #[test]
    fn parses_macs() {
        let m: MacAddr = "02:00:5e:10:0a:ff".parse().unwrap();
        assert_eq!(m.0, [2, 0, 0x5e, 0x10, 0x0a, 0xff]);
        assert_eq!(m.to_string(), "02:00:5e:10:0a:ff");
        assert_eq!("2-0-5e-10-a-ff".parse::<MacAddr>().unwrap(), m);
        for bad in [
            "",
            "02:00:5e:10:0a",
            "02:00:5e:10:0a:ff:01",
            "02:00:5e:10:0a:fff",
            "zz:00:00:00:00:00",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_cidrs() {
        let c: Cidr = "198.51.100.1/24".parse().unwrap();
        assert_eq!(c.addr, IpAddr::from([198, 51, 100, 1]));
        assert_eq!(c.prefix_len, 24);
        assert!(c.contains("198.51.100.200".parse().unwrap()));
        assert!(!c.contains("198.51.101.1".parse().unwrap()));
        assert!(!c.contains("2001:db8::1".parse().unwrap()));
        let h: Cidr = "2001:db8::1".parse().unwrap();
        assert_eq!(h.prefix_len, 128);
        let z: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(z.contains("203.0.113.9".parse().unwrap()));
        assert!(
            "2001:db8::/64"
                .parse::<Cidr>()
                .unwrap()
                .contains("2001:db8::5".parse().unwrap())
        );
        for bad in [
            "198.51.100.1/33",
            "2001:db8::/129",
            "x/1",
            "1.2.3.4/",
            "1.2.3.4/-1",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_director_flags() {
        let cli = Cli::try_parse_from([
            "lvs",
            "--rules",
            "r.txt",
            "--iface",
            "veth0",
            "--iface",
            "veth1",
            "--addr",
            "198.51.100.1/24",
            "--neighbor",
            "198.51.100.2=02:00:00:00:00:02",
            "--check",
            "http",
            "--check-http-path",
            "/health",
            "--check-rise",
            "1",
            "--fanout",
            "2",
        ])
        .unwrap();
        assert_eq!(cli.ports.ifaces, ["veth0", "veth1"]);
        assert_eq!(cli.director_args().link_names(), ["veth0", "veth1"]);
        assert_eq!(cli.d.neighbors[0].mac.0[5], 2);
        assert_eq!(cli.ports.fanout, 2);
        let cfg = cli.d.health.to_config().unwrap().unwrap();
        assert_eq!(cfg.rise, 1);
        assert_eq!(cfg.fall, 3);
        assert!(
            matches!(cfg.kind, CheckKind::Http { ref path, expect_status: 200, .. } if path == "/health")
        );

        assert!(
            Cli::try_parse_from(["lvs", "--rules", "r", "--iface", "a", "--tap", "t"]).is_err()
        );
        assert_eq!(
            cli.d.addrs[0],
            AddrFlag {
                iface: None,
                cidr: "198.51.100.1/24".parse().unwrap()
            }
        );
        // A bare --addr with two interfaces is refused with a message naming the fix.
        let e = cli.director_args().check_links().unwrap_err();
        assert!(
            e.contains("ambiguous") && e.contains("veth0=198.51.100.1/24"),
            "{e}"
        );
        assert!(Cli::try_parse_from(["lvs", "--rules", "r", "--mac", "nope"]).is_err());
        assert!(Cli::try_parse_from(["lvs", "--rules", "r", "--check-rise", "0"]).is_err());
        assert_eq!(cli.d.conn_table_v4, 1 << 20);
        assert_eq!(cli.d.conn_table_v6, 1 << 18);
        let sized = Cli::try_parse_from([
            "lvs",
            "--rules",
            "r",
            "--conn-table-v4",
            "65536",
            "--conn-table-v6",
            "256",
        ])
        .unwrap();
        assert_eq!((sized.d.conn_table_v4, sized.d.conn_table_v6), (65536, 256));
        for bad in [
            ["--conn-table-v4", "255"],
            ["--conn-table-v6", "134217729"],
            ["--conn-table-v4", "-1"],
        ] {
            assert!(
                Cli::try_parse_from(["lvs", "--rules", "r", bad[0], bad[1]]).is_err(),
                "{bad:?}"
            );
        }
        let none = TapCli::try_parse_from(["lvs", "--rules", "r", "--tap", "tap0"]).unwrap();
        assert!(none.d.health.to_config().unwrap().is_none());
        let inject = Cli::try_parse_from([
            "lvs",
            "--rules",
            "r",
            "--check",
            "http",
            "--check-http-path",
            "/\r\nX-Evil: 1",
        ])
        .unwrap();
        assert!(inject.d.health.to_config().is_err());
        assert_eq!(none.director_args().link_names(), ["tap0"]);
    }

    #[test]
    fn per_link_flags() {
        let cli = Cli::try_parse_from([
            "lvs",
            "--rules",
            "r",
            "--iface",
            "eth0",
            "--iface",
            "eth1",
            "--addr",
            "eth1=192.0.2.1/24",
            "--addr",
            "eth0=2001:db8:1::1/64",
            "--gateway",
            "eth0=198.51.100.254",
            "--gateway",
            "2001:db8:1::fe",
        ])
        .unwrap();
        assert_eq!(cli.d.addrs[0].iface.as_deref(), Some("eth1"));
        assert_eq!(cli.d.addrs[1].cidr.prefix_len, 64);
        assert_eq!(cli.d.gateways[0].iface.as_deref(), Some("eth0"));
        assert_eq!(cli.d.gateways[1].iface, None);
        assert_eq!(cli.director_args().check_links(), Ok(()));
        let bad = Cli::try_parse_from([
            "lvs",
            "--rules",
            "r",
            "--iface",
            "eth0",
            "--addr",
            "eth9=192.0.2.1/24",
        ])
        .unwrap();
        assert!(
            bad.director_args()
                .check_links()
                .unwrap_err()
                .contains("eth9")
        );
        for v in ["=192.0.2.1/24", "eth0=192.0.2.1/33", "eth0=x"] {
            assert!(v.parse::<AddrFlag>().is_err(), "{v}");
        }
        assert!("eth0=nope".parse::<GatewayFlag>().is_err());
    }

    /// Each director's command line takes only its own port flags, so its `--help` shows
    /// only those: `lvs-afpacket` refuses `--tap`, `lvs-tap` refuses `--iface` and `--fanout`.
    #[test]
    fn each_director_takes_only_its_own_port_flags() {
        let base = ["lvs", "--rules", "r"];
        fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
            base.iter().chain(extra).copied().collect()
        }
        let e = AfPacketCli::try_parse_from(with(&base, &["--tap", "tap0"])).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument, "{e}");
        assert!(e.to_string().contains("--tap"), "{e}");
        for flag in [["--iface", "eth0"], ["--fanout", "2"]] {
            let e = TapCli::try_parse_from(with(&base, &flag)).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument, "{e}");
            assert!(e.to_string().contains(flag[0]), "{e}");
        }
        assert!(
            AfPacketCli::try_parse_from(with(&base, &["--iface", "eth0", "--fanout", "2"])).is_ok()
        );
        assert!(TapCli::try_parse_from(with(&base, &["--tap", "tap0"])).is_ok());

        let help = |mut c: clap::Command| c.render_long_help().to_string();
        let afp = help(AfPacketCli::command());
        let tap = help(TapCli::command());
        assert!(afp.contains("--iface") && afp.contains("--fanout") && !afp.contains("--tap "));
        assert!(tap.contains("--tap") && !tap.contains("--iface") && !tap.contains("--fanout"));
        // The shared flags are in both.
        for shared in [
            "--rules",
            "--addr",
            "--control",
            "--metrics",
            "--log-format",
        ] {
            assert!(afp.contains(shared) && tap.contains(shared), "{shared}");
        }
    }

    #[test]
    fn log_flags() {
        let cli = TapCli::try_parse_from(["lvs", "--rules", "r", "--log-format", "json"]).unwrap();
        assert_eq!(cli.d.log.log_format, LogFormat::Json);
        let cli = TapCli::try_parse_from(["lvs", "--rules", "r"]).unwrap();
        assert_eq!(cli.d.log.log_format, LogFormat::Text);
        assert!(TapCli::try_parse_from(["lvs", "--rules", "r", "--log-format", "xml"]).is_err());
        // Colour only on a terminal, and never with NO_COLOR set.
        assert!(use_colour(true, None));
        assert!(!use_colour(false, None));
        assert!(!use_colour(true, Some(std::ffi::OsStr::new("1"))));
        assert!(use_colour(true, Some(std::ffi::OsStr::new(""))));
    }
}
