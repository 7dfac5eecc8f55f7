//! `ipvsadm -Ln` listings of live services.
//!
//! Monitoring scripts, exporters and people parse `ipvsadm -Ln` output by
//! column, so the director renders its live state in exactly that layout:
//! the same header, titles, column widths, number abbreviations and sort
//! order as ipvsadm 1.31's `list_all`, `print_title` and
//! `print_service_entry` (numeric mode; names are never resolved).
//!
//! Counters are the [shown](crate::stats::Stats::shown) ones (since the last
//! zeroing) and rates the estimator's; the service line shows the service's
//! own [`Stats`](crate::stats::Stats), as the kernel keeps them apart from the
//! servers'.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};

use super::print::{AddrPort, FlagNames, Mask};
use super::{server_order, service_order};
use crate::addr::Family;
use crate::real_server::RealServer;
use crate::service::{SchedFlags, Service, ServiceKey};

/// Which `ipvsadm -L` variant to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ListFormat {
    /// `-Ln`: forwarding method, weight, active and inactive connections.
    #[default]
    Plain,
    /// `-Ln --stats`: connections, packets and bytes.
    Stats,
    /// `-Ln --rate`: per-second rates.
    Rate,
    /// `-Ln --thresholds`: upper and lower thresholds and connections.
    Thresholds,
    /// `-Ln --persistent-conn`: weight, persistence templates, connections.
    PersistentConn,
}

/// How to render a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListOptions {
    /// The variant.
    pub format: ListFormat,
    /// `--exact`: print counters and rates in full instead of abbreviating
    /// values of 100 million and more with K, M, G or T.
    pub exact: bool,
    /// `--nosort`: keep the caller's service order and each service's list
    /// order instead of sorting as ipvsadm does.
    pub nosort: bool,
    /// The connection-table size shown in the header (`size=`).
    pub table_size: u32,
}

impl Default for ListOptions {
    /// Plain, abbreviated, sorted, `size=4096` (IPVS's default table).
    fn default() -> Self {
        ListOptions {
            format: ListFormat::Plain,
            exact: false,
            nosort: false,
            table_size: 4096,
        }
    }
}

impl ListOptions {
    /// Default options with the given format.
    pub fn new(format: ListFormat) -> Self {
        ListOptions {
            format,
            ..ListOptions::default()
        }
    }

    /// Builder: set `--exact`.
    pub fn exact(mut self, exact: bool) -> Self {
        self.exact = exact;
        self
    }

    /// Builder: set `--nosort`.
    pub fn nosort(mut self, nosort: bool) -> Self {
        self.nosort = nosort;
        self
    }

    /// Builder: set the table size shown in the header.
    pub fn table_size(mut self, size: u32) -> Self {
        self.table_size = size;
        self
    }
}

/// ipvsadm's `print_largenum`: 9 columns including the separating space;
/// from 100 million on, the value in thousands (K), millions (M), billions
/// (G) or trillions (T), unless `exact`.
fn largenum(w: &mut impl Write, v: u64, exact: bool) -> fmt::Result {
    if exact {
        let mut digits = 1;
        let mut x = v;
        while x >= 10 {
            x /= 10;
            digits += 1;
        }
        let width = if digits <= 8 { 9 } else { digits + 1 };
        return write!(w, "{v:>width$}");
    }
    match v {
        0..100_000_000 => write!(w, "{v:>9}"),
        100_000_000..1_000_000_000 => write!(w, "{:>8}K", v / 1_000),
        1_000_000_000..100_000_000_000 => write!(w, "{:>8}M", v / 1_000_000),
        100_000_000_000..100_000_000_000_000 => write!(w, "{:>8}G", v / 1_000_000_000),
        _ => write!(w, "{:>8}T", v / 1_000_000_000_000),
    }
}

fn title(w: &mut impl Write, format: ListFormat) -> fmt::Result {
    let local = "Prot LocalAddress:Port";
    let remote = "  -> RemoteAddress:Port";
    match format {
        ListFormat::Plain => {
            writeln!(w, "Prot LocalAddress:Port Scheduler Flags")?;
            writeln!(
                w,
                "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn"
            )
        }
        ListFormat::Stats => {
            let c = ["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"];
            writeln!(
                w,
                "{local:<33} {:>8} {:>8} {:>8} {:>8} {:>8}",
                c[0], c[1], c[2], c[3], c[4]
            )?;
            writeln!(w, "{remote}")
        }
        ListFormat::Rate => {
            let c = ["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"];
            writeln!(
                w,
                "{local:<33} {:>8} {:>8} {:>8} {:>8} {:>8}",
                c[0], c[1], c[2], c[3], c[4]
            )?;
            writeln!(w, "{remote}")
        }
        ListFormat::Thresholds => {
            writeln!(
                w,
                "{local:<33} {:<10} {:<10} {:<10} {:<10}",
                "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
            )?;
            writeln!(w, "{remote}")
        }
        ListFormat::PersistentConn => {
            writeln!(
                w,
                "{local:<33} {:<9} {:<11} {:<10} {:<10}",
                "Weight", "PersistConn", "ActiveConn", "InActConn"
            )?;
            writeln!(w, "{remote}")
        }
    }
}

/// The service column: `TCP  10.0.0.1:80`, `FWM  1`, `FWM  1 IPv6`; cut to
/// 33 characters for IPv4 services as ipvsadm does.
fn service_name(key: &ServiceKey) -> String {
    let mut s = String::new();
    let _ = match *key {
        ServiceKey::Addr { protocol, vip } => {
            write!(s, "{:<4} {}", protocol.name(), AddrPort(vip))
        }
        ServiceKey::Fwmark { family, mark } => {
            let v6 = if family == Family::V6 { " IPv6" } else { "" };
            write!(s, "FWM  {mark}{v6}")
        }
    };
    if key.family() == Family::V4 {
        s.truncate(33);
    }
    s
}

fn write_service(w: &mut impl Write, svc: &Service, opts: &ListOptions) -> fmt::Result {
    let cfg = &svc.config;
    let family = cfg.key.family();
    let name = service_name(&cfg.key);
    match opts.format {
        ListFormat::Stats => {
            let c = svc.state.stats.shown();
            write!(w, "{name:<33}")?;
            for v in [c.conns, c.in_pkts, c.out_pkts, c.in_bytes, c.out_bytes] {
                largenum(w, v, opts.exact)?;
            }
        }
        ListFormat::Rate => {
            let r = svc.state.stats.rates();
            write!(
                w,
                "{name:<33} {:>8} {:>8} {:>8}",
                r.cps, r.in_pps, r.out_pps
            )?;
            largenum(w, r.in_bps, opts.exact)?;
            largenum(w, r.out_bps, opts.exact)?;
        }
        _ => {
            let sched = svc.scheduler_name();
            write!(w, "{name} {sched}")?;
            if cfg.flags.0 & (SchedFlags::FLAG1 | SchedFlags::FLAG2 | SchedFlags::FLAG3) != 0 {
                let names = FlagNames {
                    flags: cfg.flags,
                    scheduler: sched,
                };
                write!(w, " ({names})")?;
            }
            if let Some(t) = cfg.persistence_secs {
                write!(w, " persistent {t}")?;
                if cfg.netmask_prefix < family.max_prefix() {
                    write!(w, " mask {}", Mask(family, cfg.netmask_prefix))?;
                }
            }
            if cfg.one_packet {
                w.write_str(" ops")?;
            }
        }
    }
    w.write_char('\n')
}

fn write_server(
    w: &mut impl Write,
    service_family: Family,
    r: &RealServer,
    opts: &ListOptions,
) -> fmt::Result {
    let mut dname = String::new();
    let _ = write!(dname, "{}", AddrPort(r.config.addr));
    if service_family == Family::V4 {
        dname.truncate(28);
    }
    match opts.format {
        ListFormat::Plain => writeln!(
            w,
            "  -> {dname:<28} {:<7} {:<6} {:<10} {:<10}",
            r.config.forwarding.listing_name(),
            r.config.weight,
            r.active_conns,
            r.inactive_conns
        ),
        ListFormat::Stats => {
            let c = r.stats.shown();
            write!(w, "  -> {dname:<28}")?;
            for v in [c.conns, c.in_pkts, c.out_pkts, c.in_bytes, c.out_bytes] {
                largenum(w, v, opts.exact)?;
            }
            w.write_char('\n')
        }
        ListFormat::Rate => {
            let s = r.stats.rates();
            write!(
                w,
                "  -> {dname:<28} {:>8} {:>8} {:>8}",
                s.cps, s.in_pps, s.out_pps
            )?;
            largenum(w, s.in_bps, opts.exact)?;
            largenum(w, s.out_bps, opts.exact)?;
            w.write_char('\n')
        }
        ListFormat::Thresholds => writeln!(
            w,
            "  -> {dname:<28} {:<10} {:<10} {:<10} {:<10}",
            r.config.upper_threshold, r.config.lower_threshold, r.active_conns, r.inactive_conns
        ),
        ListFormat::PersistentConn => writeln!(
            w,
            "  -> {dname:<28} {:<9} {:<11} {:<10} {:<10}",
            r.config.weight, r.persistent_conns, r.active_conns, r.inactive_conns
        ),
    }
}

/// Write an `ipvsadm -Ln` style listing of `services`: the version header
/// with the table size, the column titles of `opts.format`, then each
/// service line followed by its real servers (the listed ones, not removed
/// servers kept for their connections). Services are sorted by
/// [`service_order`] and servers by
/// [`server_order`] unless `opts.nosort`.
pub fn write_listing<'a>(
    w: &mut impl Write,
    services: impl IntoIterator<Item = &'a Service>,
    opts: &ListOptions,
) -> fmt::Result {
    writeln!(
        w,
        "IP Virtual Server version 1.2.1 (size={})",
        opts.table_size
    )?;
    title(w, opts.format)?;
    let mut list: Vec<&Service> = services.into_iter().collect();
    if !opts.nosort {
        list.sort_by(|a, b| service_order(&a.config.key, &b.config.key));
    }
    for svc in list {
        write_service(w, svc, opts)?;
        let mut servers: Vec<&RealServer> = svc.servers().map(|(_, r)| r).collect();
        if !opts.nosort {
            servers.sort_by(|a, b| server_order(&a.config.addr, &b.config.addr));
        }
        let family = svc.config.key.family();
        for r in servers {
            write_server(w, family, r, opts)?;
        }
    }
    Ok(())
}

/// [`write_listing`] into a new `String`.
pub fn listing<'a>(services: impl IntoIterator<Item = &'a Service>, opts: &ListOptions) -> String {
    let mut s = String::new();
    // Writing into a String cannot fail.
    let _ = write_listing(&mut s, services, opts);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(v: u64, exact: bool) -> String {
        let mut s = String::new();
        largenum(&mut s, v, exact).unwrap();
        s
    }

    #[test]
    fn largenum_abbreviates_like_ipvsadm() {
        assert_eq!(num(0, false), "        0");
        assert_eq!(num(99_999_999, false), " 99999999");
        assert_eq!(num(100_000_000, false), "  100000K");
        assert_eq!(num(1_234_567_890, false), "    1234M");
        assert_eq!(num(123_456_789_012, false), "     123G");
        assert_eq!(num(u64::MAX, false), "18446744T");
        assert_eq!(num(123_456_789_012, true), " 123456789012");
        assert_eq!(num(5, true), "        5");
    }
}
