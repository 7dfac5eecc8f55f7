//! Writing `ipvsadm -S -n` rule lines.
//!
//! The line writers take any [`core::fmt::Write`], so a `no_std` embedder can
//! stream rules into a fixed buffer or a UART; the whole-config printer
//! builds a `String` with `alloc`. Option order follows ipvsadm's
//! `print_service_entry` so that files diff cleanly against `ipvsadm-save`
//! output; the extensions (thresholds, `-M` without `-p`, `--set`) come last
//! or first and are described in the [module docs](super).

use core::fmt::{self, Write};
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::Timeouts;
use crate::addr::{Family, Protocol};
use crate::real_server::{Forwarding, RealServerConfig, TunnelChecksum, TunnelType};
use crate::service::{SchedFlags, ServiceConfig, ServiceKey};

/// An address and port as ipvsadm prints them with `-n`: `a.b.c.d:p` or
/// `[v6]:p` (scope id and flow label are not shown).
#[derive(Clone, Copy)]
pub(crate) struct AddrPort(pub(crate) SocketAddr);

impl fmt::Display for AddrPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.ip() {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.0.port()),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.0.port()),
        }
    }
}

/// A service as the `-S` format names it: `-t 10.0.0.1:80`, `-f 1 -6`.
struct SvcToken(ServiceKey);

impl fmt::Display for SvcToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ServiceKey::Addr { protocol, vip } => {
                let opt = match protocol {
                    Protocol::Tcp => "-t",
                    Protocol::Udp => "-u",
                    Protocol::Sctp => "--sctp-service",
                };
                write!(f, "{opt} {}", AddrPort(vip))
            }
            ServiceKey::Fwmark { family, mark } => {
                write!(f, "-f {mark}")?;
                if family == Family::V6 {
                    f.write_str(" -6")?;
                }
                Ok(())
            }
        }
    }
}

/// The scheduler flags as ipvsadm's `print_sched_flags` names them: `sh-*`
/// for sh, `mh-*` for mh, `flag-N` otherwise, comma-separated.
pub(crate) struct FlagNames<'a> {
    pub(crate) flags: SchedFlags,
    pub(crate) scheduler: &'a str,
}

impl fmt::Display for FlagNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (one, two) = match self.scheduler {
            "sh" => ("sh-fallback", "sh-port"),
            "mh" => ("mh-fallback", "mh-port"),
            _ => ("flag-1", "flag-2"),
        };
        let names = [
            (self.flags.fallback(), one),
            (self.flags.port(), two),
            (self.flags.flag3(), "flag-3"),
        ];
        let mut first = true;
        for (_, n) in names.iter().filter(|(on, _)| *on) {
            if !first {
                f.write_char(',')?;
            }
            f.write_str(n)?;
            first = false;
        }
        Ok(())
    }
}

/// The netmask of a prefix as ipvsadm prints it: dotted for IPv4, the
/// prefix length for IPv6.
pub(crate) struct Mask(pub(crate) Family, pub(crate) u8);

impl fmt::Display for Mask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Family::V4 => {
                let p = u32::from(self.1.min(32));
                let m = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                write!(f, "{}", Ipv4Addr::from(m))
            }
            Family::V6 => write!(f, "{}", self.1),
        }
    }
}

/// Write an `-A` line (with its newline): `-A -t VIP:PORT -s SCHED [-p T]
/// [-M MASK] [-o] [-b FLAGS]`.
pub fn write_service_line(w: &mut impl Write, svc: &ServiceConfig) -> fmt::Result {
    write!(w, "-A {} -s {}", SvcToken(svc.key), svc.scheduler)?;
    if let Some(t) = svc.persistence_secs {
        write!(w, " -p {t}")?;
    }
    let family = svc.key.family();
    if svc.netmask_prefix < family.max_prefix() {
        write!(w, " -M {}", Mask(family, svc.netmask_prefix))?;
    }
    if svc.one_packet {
        w.write_str(" -o")?;
    }
    if svc.flags.0 & (SchedFlags::FLAG1 | SchedFlags::FLAG2 | SchedFlags::FLAG3) != 0 {
        let names = FlagNames {
            flags: svc.flags,
            scheduler: svc.scheduler.as_str(),
        };
        write!(w, " -b {names}")?;
    }
    w.write_char('\n')
}

/// Write an `-a` line (with its newline): `-a SVC -r ADDR:PORT -m|-i|-g -w
/// W`, the tunnel options of `-i` (`--tun-type`, and for gue `--tun-port`,
/// for gue and gre the checksum option), then `-x U` / `-y L` when non-zero.
/// [`Forwarding::Local`] prints as `-g`.
pub fn write_server_line(
    w: &mut impl Write,
    service: &ServiceKey,
    server: &RealServerConfig,
) -> fmt::Result {
    let method = match server.forwarding {
        Forwarding::Masquerade => "-m",
        Forwarding::Tunnel { .. } => "-i",
        Forwarding::DirectRoute | Forwarding::Local => "-g",
    };
    write!(
        w,
        "-a {} -r {} {method} -w {}",
        SvcToken(*service),
        AddrPort(server.addr),
        server.weight
    )?;
    if let Forwarding::Tunnel { kind, csum } = server.forwarding {
        let csum = match csum {
            TunnelChecksum::None => "--tun-nocsum",
            TunnelChecksum::Csum => "--tun-csum",
            TunnelChecksum::RemCsum => "--tun-remcsum",
        };
        match kind {
            TunnelType::Ipip => w.write_str(" --tun-type ipip")?,
            TunnelType::Gue { port } => write!(w, " --tun-type gue --tun-port {port} {csum}")?,
            TunnelType::Gre => write!(w, " --tun-type gre {csum}")?,
        }
    }
    if server.upper_threshold != 0 {
        write!(w, " -x {}", server.upper_threshold)?;
    }
    if server.lower_threshold != 0 {
        write!(w, " -y {}", server.lower_threshold)?;
    }
    w.write_char('\n')
}

/// Write a `--set tcp tcpfin udp` line (with its newline).
pub fn write_timeouts_line(w: &mut impl Write, t: &Timeouts) -> fmt::Result {
    writeln!(w, "--set {} {} {}", t.tcp, t.tcp_fin, t.udp)
}

/// Write a whole configuration: the `--set` line if any, then each service's
/// `-A` line followed by its `-a` lines, in the config's order.
#[cfg(feature = "alloc")]
pub fn write_config(w: &mut impl Write, config: &super::Config) -> fmt::Result {
    if let Some(t) = &config.timeouts {
        write_timeouts_line(w, t)?;
    }
    for entry in &config.services {
        write_service_line(w, &entry.config)?;
        for server in &entry.servers {
            write_server_line(w, &entry.config.key, server)?;
        }
    }
    Ok(())
}

/// Print a whole configuration in the `ipvsadm -S -n` format (see
/// [`write_config`]). [`parse`](super::parse) reads it back unchanged.
#[cfg(feature = "alloc")]
pub fn print(config: &super::Config) -> alloc::string::String {
    let mut s = alloc::string::String::new();
    // Writing into a String cannot fail.
    let _ = write_config(&mut s, config);
    s
}

#[cfg(feature = "alloc")]
impl fmt::Display for super::Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_config(f, self)
    }
}
