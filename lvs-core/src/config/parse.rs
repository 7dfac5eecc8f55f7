//! Reading `ipvsadm -S -n` rule lines.
//!
//! A line is split into whitespace-separated tokens; a token starting with
//! `#` starts a comment. Options may come in any order, as with ipvsadm, so
//! the line is first collected into a [`Raw`] record (catching unknown,
//! repeated and conflicting options) and only then interpreted, when the
//! service's family and scheduler are known. Nothing here allocates: the
//! line parser works on `no_std` without `alloc`, and the whole-file parser
//! only allocates the [`Config`](super::Config) it returns.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Command, ConfigErrorKind, MAX_THRESHOLD, MAX_TIMEOUT_SECS, Snippet, Timeouts};
use crate::addr::{Family, Protocol};
use crate::real_server::{Forwarding, MAX_WEIGHT, RealServerConfig, TunnelChecksum, TunnelType};
use crate::service::{DEFAULT_PERSISTENCE_SECS, SchedFlags, SchedName, ServiceConfig, ServiceKey};

type Kind = ConfigErrorKind;

/// Every option of the rule format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    AddService,
    EditService,
    DeleteService,
    AddServer,
    EditServer,
    DeleteServer,
    Clear,
    Zero,
    Set,
    Tcp,
    Udp,
    Sctp,
    Fwmark,
    Ipv6,
    Scheduler,
    Persistent,
    Netmask,
    Ops,
    SchedFlags,
    RealServer,
    Masq,
    Ipip,
    Gatewaying,
    Weight,
    UThreshold,
    LThreshold,
    TunType,
    TunPort,
    TunNoCsum,
    TunCsum,
    TunRemCsum,
}

/// Whether an option takes a value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arity {
    None,
    Required,
    Optional,
    Three,
}

/// (option, short spelling, long spelling, arity). The first non-empty
/// spelling is the name used in errors.
const OPTIONS: &[(Opt, &str, &str, Arity)] = &[
    (Opt::AddService, "-A", "--add-service", Arity::None),
    (Opt::EditService, "-E", "--edit-service", Arity::None),
    (Opt::DeleteService, "-D", "--delete-service", Arity::None),
    (Opt::AddServer, "-a", "--add-server", Arity::None),
    (Opt::EditServer, "-e", "--edit-server", Arity::None),
    (Opt::DeleteServer, "-d", "--delete-server", Arity::None),
    (Opt::Clear, "-C", "--clear", Arity::None),
    (Opt::Zero, "-Z", "--zero", Arity::None),
    (Opt::Set, "", "--set", Arity::Three),
    (Opt::Tcp, "-t", "--tcp-service", Arity::Required),
    (Opt::Udp, "-u", "--udp-service", Arity::Required),
    (Opt::Sctp, "", "--sctp-service", Arity::Required),
    (Opt::Fwmark, "-f", "--fwmark-service", Arity::Required),
    (Opt::Ipv6, "-6", "--ipv6", Arity::None),
    (Opt::Scheduler, "-s", "--scheduler", Arity::Required),
    (Opt::Persistent, "-p", "--persistent", Arity::Optional),
    (Opt::Netmask, "-M", "--netmask", Arity::Required),
    (Opt::Ops, "-o", "--ops", Arity::None),
    (Opt::SchedFlags, "-b", "--sched-flags", Arity::Required),
    (Opt::RealServer, "-r", "--real-server", Arity::Required),
    (Opt::Masq, "-m", "--masquerading", Arity::None),
    (Opt::Ipip, "-i", "--ipip", Arity::None),
    (Opt::Gatewaying, "-g", "--gatewaying", Arity::None),
    (Opt::Weight, "-w", "--weight", Arity::Required),
    (Opt::UThreshold, "-x", "--u-threshold", Arity::Required),
    (Opt::LThreshold, "-y", "--l-threshold", Arity::Required),
    (Opt::TunType, "", "--tun-type", Arity::Required),
    (Opt::TunPort, "", "--tun-port", Arity::Required),
    (Opt::TunNoCsum, "", "--tun-nocsum", Arity::None),
    (Opt::TunCsum, "", "--tun-csum", Arity::None),
    (Opt::TunRemCsum, "", "--tun-remcsum", Arity::None),
];

fn name(opt: Opt) -> &'static str {
    OPTIONS
        .iter()
        .find(|e| e.0 == opt)
        .map(|e| if e.1.is_empty() { e.2 } else { e.1 })
        .unwrap_or("?")
}

fn lookup(token: &str) -> Option<(Opt, Arity)> {
    OPTIONS
        .iter()
        .find(|e| e.1 == token || e.2 == token)
        .map(|e| (e.0, e.3))
}

/// A line's options, collected but not yet interpreted.
#[derive(Default)]
struct Raw<'a> {
    command: Option<Opt>,
    service: Option<(Opt, &'a str)>,
    ipv6: bool,
    scheduler: Option<&'a str>,
    /// `Some(None)`: `-p` without a value.
    persistent: Option<Option<&'a str>>,
    netmask: Option<&'a str>,
    ops: bool,
    sched_flags: Option<&'a str>,
    real_server: Option<&'a str>,
    forwarding: Option<Opt>,
    weight: Option<&'a str>,
    u_threshold: Option<&'a str>,
    l_threshold: Option<&'a str>,
    tun_type: Option<&'a str>,
    tun_port: Option<&'a str>,
    tun_csum: Option<Opt>,
    set: Option<[&'a str; 3]>,
    /// Which options were seen, by position in `OPTIONS`.
    seen: u32,
}

fn set_once<T>(slot: &mut Option<T>, value: T, opt: Opt) -> Result<(), Kind> {
    if slot.is_some() {
        return Err(Kind::DuplicateOption(name(opt)));
    }
    *slot = Some(value);
    Ok(())
}

/// Put a value into one of several mutually exclusive slots.
fn set_exclusive<'a>(
    slot: &mut Option<(Opt, &'a str)>,
    opt: Opt,
    value: &'a str,
) -> Result<(), Kind> {
    match slot {
        Some((prev, _)) if *prev == opt => Err(Kind::DuplicateOption(name(opt))),
        Some((prev, _)) => Err(Kind::ConflictingOptions(name(*prev), name(opt))),
        None => {
            *slot = Some((opt, value));
            Ok(())
        }
    }
}

fn set_flag_exclusive(slot: &mut Option<Opt>, opt: Opt) -> Result<(), Kind> {
    let mut tmp = slot.map(|o| (o, ""));
    set_exclusive(&mut tmp, opt, "")?;
    *slot = Some(opt);
    Ok(())
}

/// The schedulers IPVS has (`net/netfilter/ipvs/ip_vs_*.c`); the kernel refuses any other
/// name, so the text is refused here, with its line.
const IPVS_SCHEDULERS: [&str; 14] = [
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

fn is_value(token: &str) -> bool {
    // A negative number (`-w -1`) is a value to refuse as out of range, not an option:
    // no option starts with a digit.
    let negative_number = token
        .strip_prefix('-')
        .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_digit()));
    negative_number || (!token.starts_with('-') && !token.starts_with('#'))
}

fn collect<'a>(tokens: impl Iterator<Item = &'a str>) -> Result<Raw<'a>, Kind> {
    let mut raw = Raw::default();
    let mut tokens = tokens.peekable();
    while let Some(token) = tokens.next() {
        if token.starts_with('#') {
            break;
        }
        // `--long=value`
        let (key, inline) = match token.strip_prefix("--").and_then(|t| t.split_once('=')) {
            Some((k, v)) => (&token[..k.len() + 2], Some(v)),
            None => (token, None),
        };
        let Some((opt, arity)) = lookup(key) else {
            return Err(if token.starts_with('-') {
                Kind::UnknownOption(Snippet::new(key))
            } else {
                Kind::UnexpectedArgument(Snippet::new(token))
            });
        };
        let bit = 1u32 << OPTIONS.iter().position(|e| e.0 == opt).unwrap_or(31);
        let once = raw.seen & bit == 0;
        raw.seen |= bit;
        let mut value = || -> Result<&str, Kind> {
            if let Some(v) = inline {
                return Ok(v);
            }
            match tokens.peek() {
                Some(v) if is_value(v) => Ok(tokens.next().unwrap_or("")),
                _ => Err(Kind::MissingValue(name(opt))),
            }
        };
        match arity {
            Arity::None if inline.is_some() => {
                return Err(Kind::UnexpectedArgument(Snippet::new(token)));
            }
            Arity::Three if inline.is_some() => {
                return Err(Kind::UnexpectedArgument(Snippet::new(token)));
            }
            _ => {}
        }
        match opt {
            Opt::AddService
            | Opt::EditService
            | Opt::DeleteService
            | Opt::AddServer
            | Opt::EditServer
            | Opt::DeleteServer
            | Opt::Clear
            | Opt::Zero
            | Opt::Set => {
                let mut cmd = raw.command.map(|c| (c, ""));
                set_exclusive(&mut cmd, opt, "")?;
                raw.command = Some(opt);
                if opt == Opt::Set {
                    let a = value()?;
                    let b = value()?;
                    let c = value()?;
                    raw.set = Some([a, b, c]);
                }
            }
            Opt::Tcp | Opt::Udp | Opt::Sctp | Opt::Fwmark => {
                let v = value()?;
                set_exclusive(&mut raw.service, opt, v)?;
            }
            Opt::Ipv6 if !once => return Err(Kind::DuplicateOption(name(opt))),
            Opt::Ipv6 => raw.ipv6 = true,
            Opt::Ops if !once => return Err(Kind::DuplicateOption(name(opt))),
            Opt::Ops => raw.ops = true,
            Opt::Scheduler => set_once(&mut raw.scheduler, value()?, opt)?,
            Opt::Persistent => {
                let v = match inline {
                    Some(v) => Some(v),
                    None => tokens.next_if(|t| is_value(t)),
                };
                set_once(&mut raw.persistent, v, opt)?;
            }
            Opt::Netmask => set_once(&mut raw.netmask, value()?, opt)?,
            Opt::SchedFlags => set_once(&mut raw.sched_flags, value()?, opt)?,
            Opt::RealServer => set_once(&mut raw.real_server, value()?, opt)?,
            Opt::Masq | Opt::Ipip | Opt::Gatewaying => {
                set_flag_exclusive(&mut raw.forwarding, opt)?;
            }
            Opt::Weight => set_once(&mut raw.weight, value()?, opt)?,
            Opt::UThreshold => set_once(&mut raw.u_threshold, value()?, opt)?,
            Opt::LThreshold => set_once(&mut raw.l_threshold, value()?, opt)?,
            Opt::TunType => set_once(&mut raw.tun_type, value()?, opt)?,
            Opt::TunPort => set_once(&mut raw.tun_port, value()?, opt)?,
            Opt::TunNoCsum | Opt::TunCsum | Opt::TunRemCsum => {
                set_flag_exclusive(&mut raw.tun_csum, opt)?;
            }
        }
    }
    Ok(raw)
}

/// A decimal number in `min..=max`: ASCII digits only (no sign, no spaces).
fn number(s: &str, min: u64, max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().filter(|n| (min..=max).contains(n))
}

fn port(s: &str) -> Result<u16, Kind> {
    number(s, 0, 65_535)
        .map(|n| n as u16)
        .ok_or(Kind::BadPort(Snippet::new(s)))
}

/// Whether an unbracketed IPv6 address also reads as `address:port` (its
/// last group is a decimal port and what comes before it is itself an IPv6
/// address, as in `2001:db8::10:80`).
fn ambiguous_v6_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, p)) => {
            !p.is_empty()
                && p.len() <= 5
                && number(p, 0, 65_535).is_some()
                && host.parse::<Ipv6Addr>().is_ok()
        }
        None => false,
    }
}

/// `a.b.c.d[:port]`, `[v6][:port]`, or a bare IPv6 address without port.
///
/// A bare IPv6 address that could also be read as an address and a port
/// (`2001:db8::10:80`) is refused: ipvsadm takes the whole text as the
/// address, which is never what a line with a port meant; `[v6]:port` says
/// it without doubt.
fn addr_port(s: &str) -> Result<(IpAddr, Option<u16>), Kind> {
    let bad = || Kind::BadAddress(Snippet::new(s));
    if let Some(rest) = s.strip_prefix('[') {
        let (host, tail) = rest.split_once(']').ok_or_else(bad)?;
        let ip: Ipv6Addr = host.parse().map_err(|_| bad())?;
        let p = match tail {
            "" => None,
            t => Some(port(t.strip_prefix(':').ok_or_else(bad)?)?),
        };
        return Ok((IpAddr::V6(ip), p));
    }
    match s.split_once(':') {
        Some((host, p)) if !p.contains(':') => {
            let ip: Ipv4Addr = host.parse().map_err(|_| bad())?;
            Ok((IpAddr::V4(ip), Some(port(p)?)))
        }
        Some(_) => {
            let ip: Ipv6Addr = s.parse().map_err(|_| bad())?;
            if ambiguous_v6_port(s) {
                return Err(Kind::Ipv6NeedsBrackets(Snippet::new(s)));
            }
            Ok((IpAddr::V6(ip), None))
        }
        None => {
            let ip: Ipv4Addr = s.parse().map_err(|_| bad())?;
            Ok((IpAddr::V4(ip), None))
        }
    }
}

fn service_key(raw: &Raw<'_>) -> Result<ServiceKey, Kind> {
    let (opt, value) = raw.service.ok_or(Kind::MissingService)?;
    if raw.ipv6 && opt != Opt::Fwmark {
        return Err(Kind::OptionNotAllowed(name(Opt::Ipv6)));
    }
    let protocol = match opt {
        Opt::Tcp => Protocol::Tcp,
        Opt::Udp => Protocol::Udp,
        Opt::Sctp => Protocol::Sctp,
        _ => {
            let mark = number(value, 1, u64::from(u32::MAX))
                .ok_or(Kind::BadFwmark(Snippet::new(value)))?;
            let family = if raw.ipv6 { Family::V6 } else { Family::V4 };
            return Ok(ServiceKey::Fwmark {
                family,
                mark: mark as u32,
            });
        }
    };
    let (ip, p) = addr_port(value)?;
    Ok(ServiceKey::Addr {
        protocol,
        vip: SocketAddr::new(ip, p.unwrap_or(0)),
    })
}

/// Reject options that do not belong to the command.
fn only(raw: &Raw<'_>, allowed: &[Opt]) -> Result<(), Kind> {
    for (i, e) in OPTIONS.iter().enumerate() {
        if raw.seen & (1 << i) != 0 && !allowed.contains(&e.0) {
            return Err(Kind::OptionNotAllowed(name(e.0)));
        }
    }
    Ok(())
}

/// ipvsadm's `parse_sched_flags`: `flag-N` always, `sh-*`/`mh-*` only for
/// their scheduler.
fn sched_flags(s: &str, scheduler: &str) -> Result<SchedFlags, Kind> {
    let mut bits = 0u8;
    for item in s.split(',') {
        let (bit, needs) = match item {
            "flag-1" => (SchedFlags::FLAG1, None),
            "flag-2" => (SchedFlags::FLAG2, None),
            "flag-3" => (SchedFlags::FLAG3, None),
            "sh-fallback" => (SchedFlags::FLAG1, Some(("sh-fallback", "sh"))),
            "sh-port" => (SchedFlags::FLAG2, Some(("sh-port", "sh"))),
            "mh-fallback" => (SchedFlags::FLAG1, Some(("mh-fallback", "mh"))),
            "mh-port" => (SchedFlags::FLAG2, Some(("mh-port", "mh"))),
            _ => return Err(Kind::UnknownSchedFlag(Snippet::new(item))),
        };
        if let Some((flag, sched)) = needs
            && sched != scheduler
        {
            return Err(Kind::SchedFlagNeedsScheduler {
                flag,
                scheduler: sched,
            });
        }
        bits |= bit;
    }
    Ok(SchedFlags(bits))
}

fn netmask(s: &str, family: Family) -> Result<u8, Kind> {
    let bad = || Kind::BadNetmask(Snippet::new(s));
    match family {
        Family::V4 => {
            let m = u32::from(s.parse::<Ipv4Addr>().map_err(|_| bad())?);
            if m.leading_ones() + m.trailing_zeros() != 32 {
                return Err(bad());
            }
            Ok(m.leading_ones() as u8)
        }
        Family::V6 => number(s, 1, 128).map(|n| n as u8).ok_or_else(bad),
    }
}

/// An `-A` or `-E` line (`cmd`): the full service configuration, with
/// ipvsadm's defaults for what the line leaves out.
fn add_service(raw: &Raw<'_>, cmd: Opt) -> Result<ServiceConfig, Kind> {
    only(
        raw,
        &[
            cmd,
            Opt::Tcp,
            Opt::Udp,
            Opt::Sctp,
            Opt::Fwmark,
            Opt::Ipv6,
            Opt::Scheduler,
            Opt::Persistent,
            Opt::Netmask,
            Opt::Ops,
            Opt::SchedFlags,
        ],
    )?;
    let key = service_key(raw)?;
    let mut cfg = ServiceConfig::new(key);
    if let Some(s) = raw.scheduler {
        cfg.scheduler = SchedName::new(s).ok_or(Kind::BadScheduler(Snippet::new(s)))?;
        if !IPVS_SCHEDULERS.contains(&s) {
            return Err(Kind::UnknownScheduler(Snippet::new(s)));
        }
    }
    cfg.persistence_secs = match raw.persistent {
        None => None,
        Some(None) => Some(DEFAULT_PERSISTENCE_SECS),
        Some(Some(v)) => Some(
            number(v, 1, u64::from(MAX_TIMEOUT_SECS))
                .ok_or(Kind::BadPersistence(Snippet::new(v)))? as u32,
        ),
    };
    if let Some(m) = raw.netmask {
        cfg.netmask_prefix = netmask(m, key.family())?;
    }
    cfg.one_packet = raw.ops;
    if let Some(f) = raw.sched_flags {
        cfg.flags = sched_flags(f, cfg.scheduler.as_str())?;
    }
    if let ServiceKey::Addr { vip, .. } = key
        && vip.port() == 0
        && cfg.persistence_secs.is_none()
    {
        return Err(Kind::ZeroPortNotPersistent);
    }
    Ok(cfg)
}

fn tunnel(raw: &Raw<'_>) -> Result<Forwarding, Kind> {
    let kind = match raw.tun_type {
        None | Some("ipip") => TunnelType::Ipip,
        Some("gre") => TunnelType::Gre,
        Some("gue") => {
            let p = raw.tun_port.ok_or(Kind::GueWithoutPort)?;
            let port = number(p, 1, 65_535).ok_or(Kind::BadTunnelPort(Snippet::new(p)))?;
            TunnelType::Gue { port: port as u16 }
        }
        Some(t) => return Err(Kind::BadTunnelType(Snippet::new(t))),
    };
    if raw.tun_port.is_some() && !matches!(kind, TunnelType::Gue { .. }) {
        return Err(Kind::TunnelPortWithoutGue);
    }
    let tunnel_name = match kind {
        TunnelType::Ipip => "ipip",
        TunnelType::Gue { .. } => "gue",
        TunnelType::Gre => "gre",
    };
    let csum = match raw.tun_csum {
        None | Some(Opt::TunNoCsum) => TunnelChecksum::None,
        Some(Opt::TunCsum) => TunnelChecksum::Csum,
        Some(_) => TunnelChecksum::RemCsum,
    };
    if let Some(opt) = raw.tun_csum
        && (kind == TunnelType::Ipip
            || (kind == TunnelType::Gre && csum == TunnelChecksum::RemCsum))
    {
        return Err(Kind::ChecksumNotSupported {
            option: name(opt),
            tunnel: tunnel_name,
        });
    }
    Ok(Forwarding::Tunnel { kind, csum })
}

fn threshold(s: Option<&str>) -> Result<u32, Kind> {
    match s {
        None => Ok(0),
        Some(v) => number(v, 0, u64::from(MAX_THRESHOLD))
            .map(|n| n as u32)
            .ok_or(Kind::BadThreshold(Snippet::new(v))),
    }
}

/// An `-a` or `-e` line (`cmd`): the full real-server configuration, with
/// ipvsadm's defaults for what the line leaves out.
fn add_server(raw: &Raw<'_>, cmd: Opt) -> Result<(ServiceKey, RealServerConfig), Kind> {
    only(
        raw,
        &[
            cmd,
            Opt::Tcp,
            Opt::Udp,
            Opt::Sctp,
            Opt::Fwmark,
            Opt::Ipv6,
            Opt::RealServer,
            Opt::Masq,
            Opt::Ipip,
            Opt::Gatewaying,
            Opt::Weight,
            Opt::UThreshold,
            Opt::LThreshold,
            Opt::TunType,
            Opt::TunPort,
            Opt::TunNoCsum,
            Opt::TunCsum,
            Opt::TunRemCsum,
        ],
    )?;
    let key = service_key(raw)?;
    let rs = raw.real_server.ok_or(Kind::MissingRealServer)?;
    let (ip, p) = addr_port(rs)?;
    let svc_port = match key {
        ServiceKey::Addr { vip, .. } => vip.port(),
        ServiceKey::Fwmark { .. } => 0,
    };
    let forwarding = match raw.forwarding {
        Some(Opt::Masq) => Forwarding::Masquerade,
        Some(Opt::Ipip) => tunnel(raw)?,
        _ => Forwarding::DirectRoute,
    };
    if !matches!(forwarding, Forwarding::Tunnel { .. }) {
        let tun_opt = [Opt::TunType, Opt::TunPort]
            .into_iter()
            .find(|o| match o {
                Opt::TunType => raw.tun_type.is_some(),
                _ => raw.tun_port.is_some(),
            })
            .or(raw.tun_csum);
        if let Some(o) = tun_opt {
            return Err(Kind::TunnelOptionWithoutTunnel(name(o)));
        }
    }
    // ipvsadm: DR and TUN servers of an address service use the service port.
    let port = match (key, forwarding) {
        (ServiceKey::Addr { .. }, Forwarding::DirectRoute | Forwarding::Tunnel { .. }) => svc_port,
        _ => p.unwrap_or(svc_port),
    };
    let weight = match raw.weight {
        None => 1,
        Some(w) => {
            number(w, 0, u64::from(MAX_WEIGHT)).ok_or(Kind::BadWeight(Snippet::new(w)))? as u32
        }
    };
    let upper = threshold(raw.u_threshold)?;
    let lower = threshold(raw.l_threshold)?;
    if lower > upper {
        return Err(Kind::ThresholdOrder { upper, lower });
    }
    if Family::of(&ip) != key.family() && !matches!(forwarding, Forwarding::Tunnel { .. }) {
        return Err(Kind::FamilyMismatch);
    }
    let server = RealServerConfig::new(SocketAddr::new(ip, port))
        .weight(weight)
        .forwarding(forwarding)
        .thresholds(upper, lower);
    Ok((key, server))
}

const SERVICE_OPTS: [Opt; 5] = [Opt::Tcp, Opt::Udp, Opt::Sctp, Opt::Fwmark, Opt::Ipv6];

/// A `-D` line: the service only.
fn delete_service(raw: &Raw<'_>) -> Result<ServiceKey, Kind> {
    let mut allowed = [Opt::DeleteService; 6];
    allowed[1..].copy_from_slice(&SERVICE_OPTS);
    only(raw, &allowed)?;
    service_key(raw)
}

/// A `-d` line: the service and the real server's address. Without a port,
/// the server's port is the service's, as in ipvsadm.
fn delete_server(raw: &Raw<'_>) -> Result<(ServiceKey, SocketAddr), Kind> {
    let mut allowed = [Opt::DeleteServer; 7];
    allowed[1..6].copy_from_slice(&SERVICE_OPTS);
    allowed[6] = Opt::RealServer;
    only(raw, &allowed)?;
    let key = service_key(raw)?;
    let rs = raw.real_server.ok_or(Kind::MissingRealServer)?;
    let (ip, p) = addr_port(rs)?;
    let svc_port = match key {
        ServiceKey::Addr { vip, .. } => vip.port(),
        ServiceKey::Fwmark { .. } => 0,
    };
    Ok((key, SocketAddr::new(ip, p.unwrap_or(svc_port))))
}

/// A `-Z` line: all services, or the one given.
fn zero(raw: &Raw<'_>) -> Result<Option<ServiceKey>, Kind> {
    let mut allowed = [Opt::Zero; 6];
    allowed[1..].copy_from_slice(&SERVICE_OPTS);
    only(raw, &allowed)?;
    if raw.service.is_none() {
        if raw.ipv6 {
            return Err(Kind::OptionNotAllowed(name(Opt::Ipv6)));
        }
        return Ok(None);
    }
    service_key(raw).map(Some)
}

fn timeouts(raw: &Raw<'_>) -> Result<Timeouts, Kind> {
    only(raw, &[Opt::Set])?;
    let [a, b, c] = raw.set.unwrap_or(["", "", ""]);
    let t = |s: &str| {
        number(s, 0, u64::from(MAX_TIMEOUT_SECS))
            .map(|n| n as u32)
            .ok_or(Kind::BadTimeout(Snippet::new(s)))
    };
    Ok(Timeouts {
        tcp: t(a)?,
        tcp_fin: t(b)?,
        udp: t(c)?,
    })
}

/// Parse one rule line: `Ok(None)` for a blank or comment line.
///
/// Accepts what `ipvsadm -S -n` prints and the same options in any order
/// and spelling ipvsadm accepts (`-s wrr`, `--scheduler wrr`,
/// `--scheduler=wrr`), with ipvsadm's defaults (scheduler `wlc`, `-g`,
/// weight 1, tunnel type ipip, `-p` alone = 360 s, `-r` without a port =
/// the service port). Numeric addresses only; an IPv6 address with a port
/// is written `[addr]:port`, and a bare IPv6 address whose last group could
/// be a port is refused ([`ConfigErrorKind::Ipv6NeedsBrackets`]). Every
/// command `ipvsadm -R` reads is known: `-A`, `-E`, `-D`, `-a`, `-e`, `-d`,
/// `-C`, `-Z` and `--set`. Never panics; allocates nothing.
pub fn parse_line(line: &str) -> Result<Option<Command>, ConfigErrorKind> {
    interpret(collect(line.split_ascii_whitespace())?)
}

/// Parse one command given as separate arguments, as a shell hands them to
/// `ipvsadm` (`["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-w", "3"]`):
/// the same options, defaults and errors as [`parse_line`], without the
/// line splitting. An argument is never split further, so a value holding
/// whitespace (`"10.0.0.1:80 -w 5"`) is one bad value, not more options; a
/// `#` argument is not a comment but an error where an option is expected.
/// `Ok(None)` for an empty argument list. Never panics; allocates nothing.
pub fn parse_args<'a, I>(args: I) -> Result<Option<Command>, ConfigErrorKind>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut args = args.into_iter().peekable();
    // `collect` stops at a comment; on a command line a `#` word is a stray
    // argument.
    let mut stray = None;
    let raw = collect(core::iter::from_fn(|| {
        let a = args.next()?;
        if a.starts_with('#') {
            stray = Some(a);
            return None;
        }
        Some(a)
    }))?;
    if let Some(a) = stray {
        return Err(Kind::UnexpectedArgument(Snippet::new(a)));
    }
    interpret(raw)
}

/// The command of a collected line, checked and with defaults applied.
fn interpret(raw: Raw<'_>) -> Result<Option<Command>, ConfigErrorKind> {
    let Some(cmd) = raw.command else {
        return if raw.seen == 0 {
            Ok(None)
        } else {
            Err(Kind::MissingCommand)
        };
    };
    let command = match cmd {
        Opt::AddService => Command::AddService(add_service(&raw, cmd)?),
        Opt::EditService => Command::EditService(add_service(&raw, cmd)?),
        Opt::DeleteService => Command::DeleteService(delete_service(&raw)?),
        Opt::AddServer => {
            let (service, server) = add_server(&raw, cmd)?;
            Command::AddServer { service, server }
        }
        Opt::EditServer => {
            let (service, server) = add_server(&raw, cmd)?;
            Command::EditServer { service, server }
        }
        Opt::DeleteServer => {
            let (service, server) = delete_server(&raw)?;
            Command::DeleteServer { service, server }
        }
        Opt::Zero => Command::Zero(zero(&raw)?),
        Opt::Set => Command::SetTimeouts(timeouts(&raw)?),
        _ => {
            only(&raw, &[Opt::Clear])?;
            Command::Clear
        }
    };
    Ok(Some(command))
}

/// Parse a whole rule file (what `ipvsadm -S -n` prints, or any file
/// `ipvsadm -R` reads) into a [`Config`](super::Config).
///
/// The lines are applied in order to an initially empty setup, as
/// `ipvsadm -R` applies them to an empty table:
///
/// - `-A` adds a service (an error if it exists), `-E` replaces an existing
///   service's settings (keeping its servers), `-D` removes a service and
///   its servers;
/// - `-a` adds a real server (an error if the service has it), `-e` replaces
///   one, `-d` removes one (each an error if the service does not exist,
///   `-e`/`-d` also if the server does not);
/// - `-C` removes every service defined so far (the timeouts stay, as
///   `ipvsadm -C` leaves them);
/// - `--set` sets timeouts, a 0 leaving the earlier value, as ipvsadm does;
/// - `-Z` zeroes counters, which a [`Config`](super::Config) does not hold:
///   it is checked (its service must exist) and otherwise has no effect.
///
/// Comments and blank lines are ignored. Errors carry the 1-based line.
/// Allocation is bounded by the input: at most one service or server per
/// line.
#[cfg(feature = "alloc")]
pub fn parse(text: &str) -> Result<super::Config, super::ConfigError> {
    use super::{Config, ConfigError, ServiceEntry};

    let mut config = Config::default();
    for (i, line) in text.lines().enumerate() {
        let err = |kind| ConfigError { line: i + 1, kind };
        let Some(cmd) = parse_line(line).map_err(err)? else {
            continue;
        };
        let pos = |config: &Config, key: &ServiceKey| {
            config
                .services
                .iter()
                .position(|e| e.config.key == *key)
                .ok_or_else(|| err(Kind::ServiceNotDefined))
        };
        match cmd {
            Command::AddService(cfg) => {
                if config.service(&cfg.key).is_some() {
                    return Err(err(Kind::DuplicateService));
                }
                config.services.push(ServiceEntry {
                    config: cfg,
                    servers: alloc::vec::Vec::new(),
                });
            }
            Command::EditService(cfg) => {
                let s = pos(&config, &cfg.key)?;
                if let Some(e) = config.services.get_mut(s) {
                    e.config = cfg;
                }
            }
            Command::DeleteService(key) => {
                let s = pos(&config, &key)?;
                config.services.remove(s);
            }
            Command::AddServer { service, server } => {
                let s = pos(&config, &service)?;
                if let Some(e) = config.services.get_mut(s) {
                    if e.servers.iter().any(|r| r.addr == server.addr) {
                        return Err(err(Kind::DuplicateServer));
                    }
                    e.servers.push(server);
                }
            }
            Command::EditServer { service, server } => {
                let s = pos(&config, &service)?;
                let slot = config
                    .services
                    .get_mut(s)
                    .and_then(|e| e.servers.iter_mut().find(|r| r.addr == server.addr))
                    .ok_or_else(|| err(Kind::ServerNotDefined))?;
                *slot = server;
            }
            Command::DeleteServer { service, server } => {
                let s = pos(&config, &service)?;
                let e = config
                    .services
                    .get_mut(s)
                    .ok_or_else(|| err(Kind::ServiceNotDefined))?;
                let r = e
                    .servers
                    .iter()
                    .position(|r| r.addr == server)
                    .ok_or_else(|| err(Kind::ServerNotDefined))?;
                e.servers.remove(r);
            }
            Command::SetTimeouts(t) => {
                let old = config.timeouts.unwrap_or_default();
                let keep = |new: u32, old: u32| if new == 0 { old } else { new };
                config.timeouts = Some(Timeouts {
                    tcp: keep(t.tcp, old.tcp),
                    tcp_fin: keep(t.tcp_fin, old.tcp_fin),
                    udp: keep(t.udp, old.udp),
                });
            }
            Command::Zero(Some(key)) => {
                pos(&config, &key)?;
            }
            Command::Zero(None) => {}
            Command::Clear => config.services.clear(),
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_are_not_split_again() {
        let line = "-a -t 10.0.0.1:80 -r 10.0.0.2 -w 3";
        let args: [&str; 7] = ["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-w", "3"];
        assert_eq!(parse_args(args), parse_line(line));
        assert!(matches!(
            parse_args(args),
            Ok(Some(Command::AddServer { .. }))
        ));
        // One argument holding spaces is one (bad) value.
        assert_eq!(
            parse_args(["-A", "-t", "10.0.0.1:80 -s rr"]),
            Err(Kind::BadPort(Snippet::new("80 -s rr")))
        );
        // `#` is not a comment on a command line.
        assert_eq!(
            parse_args(["-C", "#x"]),
            Err(Kind::UnexpectedArgument(Snippet::new("#x")))
        );
        assert_eq!(parse_args([]), Ok(None));
    }

    #[test]
    fn every_option_has_a_bit() {
        assert!(OPTIONS.len() <= 32);
    }

    #[test]
    fn numbers_are_strict() {
        assert_eq!(number("80", 0, 100), Some(80));
        assert_eq!(number("+80", 0, 100), None);
        assert_eq!(number("", 0, 100), None);
        assert_eq!(number("101", 0, 100), None);
        assert_eq!(number("99999999999999999999999", 0, u64::MAX), None);
    }

    #[test]
    fn addresses() {
        assert_eq!(
            addr_port("[2001:db8::1]:443"),
            Ok(("2001:db8::1".parse().unwrap(), Some(443)))
        );
        assert_eq!(
            addr_port("2001:db8::1"),
            Ok(("2001:db8::1".parse().unwrap(), None))
        );
        assert!(addr_port("[2001:db8::1]443").is_err());
        assert!(addr_port("10.0.0.1:99999").is_err());
        assert!(addr_port("example.com:80").is_err());
        // Unbracketed IPv6 whose last group reads as a port: refused.
        for s in [
            "2001:db8:3::10:80",
            "2001:db8:2::11:80",
            "::1:443",
            "fe80::1:0",
        ] {
            assert_eq!(
                addr_port(s),
                Err(Kind::Ipv6NeedsBrackets(Snippet::new(s))),
                "{s}"
            );
        }
        // Unambiguous bare IPv6 addresses stay fine.
        for s in [
            "2001:db8::2",
            "2001:db8::80",
            "::1",
            "2001:db8:0:0:0:0:10:80",
            "fe80::a:b",
        ] {
            assert!(matches!(addr_port(s), Ok((IpAddr::V6(_), None))), "{s}");
        }
    }
}
