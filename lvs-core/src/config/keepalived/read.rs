//! From the statement tree to [`KeepalivedConfig`]: keywords and their values.

use alloc::string::ToString;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};
use core::str::FromStr;

use super::tree::{Node, Word};
use super::{
    Check, ConnectOpts, GroupDef, GroupMember, KeepalivedConfig, KeepalivedError,
    KeepalivedErrorKind as Kind, LbKind, Note, RealServerDef, Url, VirtualAddr, VirtualServerDef,
};
use crate::addr::Protocol;

/// The most addresses one `A.B.C.D-E` range in a group expands to.
const MAX_RANGE: u32 = 256;

fn err(line: usize, kind: Kind) -> KeepalivedError {
    KeepalivedError { line, kind }
}

/// The `i`th argument of `n`.
fn arg(n: &Node, i: usize) -> Result<&Word, KeepalivedError> {
    n.args
        .get(i)
        .ok_or_else(|| err(n.key.line, Kind::MissingValue(n.key.text.clone())))
}

/// The `i`th argument of `n` parsed as `T`.
fn val<T: FromStr>(n: &Node, i: usize) -> Result<T, KeepalivedError> {
    let w = arg(n, i)?;
    w.text.parse().map_err(|_| {
        err(
            w.line,
            Kind::BadValue {
                keyword: n.key.text.clone(),
                value: w.text.clone(),
            },
        )
    })
}

fn bad(n: &Node, w: &Word) -> KeepalivedError {
    err(
        w.line,
        Kind::BadValue {
            keyword: n.key.text.clone(),
            value: w.text.clone(),
        },
    )
}

fn block(n: &Node) -> Result<&[Node], KeepalivedError> {
    n.block
        .as_deref()
        .ok_or_else(|| err(n.key.line, Kind::MissingBlock(n.key.text.clone())))
}

fn sockaddr(n: &Node, first: usize) -> Result<SocketAddr, KeepalivedError> {
    let ip: IpAddr = val(n, first)?;
    let port: u16 = val(n, first + 1)?;
    Ok(SocketAddr::new(ip, port))
}

fn note(notes: &mut Vec<Note>, n: &Node) {
    notes.push(Note {
        line: n.key.line,
        keyword: n.key.text.clone(),
    });
}

pub(super) fn read(nodes: &[Node]) -> Result<KeepalivedConfig, KeepalivedError> {
    let mut c = KeepalivedConfig::default();
    for n in nodes {
        match n.key.text.as_str() {
            "include" => return Err(err(n.key.line, Kind::Include)),
            "virtual_server" => {
                let vs = virtual_server(n, &mut c.notes)?;
                c.virtual_servers.push(vs);
            }
            "virtual_server_group" => {
                let g = group(n, &mut c.notes)?;
                if c.groups.iter().any(|o| o.name == g.name) {
                    return Err(err(n.key.line, Kind::Duplicate(g.name)));
                }
                c.groups.push(g);
            }
            _ => note(&mut c.skipped, n),
        }
    }
    Ok(c)
}

fn group(n: &Node, notes: &mut Vec<Note>) -> Result<GroupDef, KeepalivedError> {
    let name = arg(n, 0)?.text.clone();
    let mut members = Vec::new();
    for m in block(n)? {
        if m.key.text == "fwmark" {
            members.push(GroupMember::Fwmark(val(m, 0)?));
            continue;
        }
        if m.block.is_some() {
            note(notes, m);
            continue;
        }
        let port: u16 = val(m, 0)?;
        let (first, last) = match m.key.text.split_once('-') {
            Some((a, b)) => {
                let ip = IpAddr::from_str(a).map_err(|_| bad(m, &m.key))?;
                let end: u32 = b.parse().map_err(|_| bad(m, &m.key))?;
                (ip, Some(end))
            }
            None => (
                IpAddr::from_str(&m.key.text).map_err(|_| bad(m, &m.key))?,
                None,
            ),
        };
        match (first, last) {
            (ip, None) => members.push(GroupMember::Addr(SocketAddr::new(ip, port))),
            (IpAddr::V4(v4), Some(end)) => {
                let o = v4.octets();
                let start = u32::from(o[3]);
                if end > 255 || end < start || end - start >= MAX_RANGE {
                    return Err(bad(m, &m.key));
                }
                for last in start..=end {
                    let ip = IpAddr::from([o[0], o[1], o[2], last as u8]);
                    members.push(GroupMember::Addr(SocketAddr::new(ip, port)));
                }
            }
            (IpAddr::V6(v6), Some(end)) => {
                let mut s = v6.segments();
                let start = u32::from(s[7]);
                if end > 0xffff || end < start || end - start >= MAX_RANGE {
                    return Err(bad(m, &m.key));
                }
                for last in start..=end {
                    s[7] = last as u16;
                    members.push(GroupMember::Addr(SocketAddr::new(IpAddr::from(s), port)));
                }
            }
        }
    }
    Ok(GroupDef {
        line: n.key.line,
        name,
        members,
    })
}

/// A netmask (`255.255.255.0`) or a prefix length, as a prefix length.
fn prefix(n: &Node) -> Result<u8, KeepalivedError> {
    let w = arg(n, 0)?;
    if let Ok(p) = w.text.parse::<u8>()
        && p <= 128
    {
        return Ok(p);
    }
    match IpAddr::from_str(&w.text) {
        Ok(IpAddr::V4(m)) => {
            let bits = u32::from(m);
            let p = bits.leading_ones();
            if bits.checked_shl(p).unwrap_or(0) == 0 {
                return Ok(p as u8);
            }
            Err(bad(n, w))
        }
        _ => Err(bad(n, w)),
    }
}

fn virtual_server(n: &Node, notes: &mut Vec<Note>) -> Result<VirtualServerDef, KeepalivedError> {
    let first = arg(n, 0)?;
    let addr = match first.text.as_str() {
        "fwmark" => VirtualAddr::Fwmark(val(n, 1)?),
        "group" => VirtualAddr::Group(arg(n, 1)?.text.clone()),
        _ => VirtualAddr::Addr(sockaddr(n, 0)?),
    };
    let mut vs = VirtualServerDef {
        line: n.key.line,
        addr,
        delay_loop: None,
        lb_algo: None,
        lb_kind: None,
        protocol: None,
        persistence_timeout: None,
        persistence_granularity: None,
        sorry_server: None,
        quorum: None,
        hysteresis: None,
        quorum_up: None,
        quorum_down: None,
        alpha: false,
        omega: false,
        real_servers: Vec::new(),
    };
    for s in block(n)? {
        match s.key.text.as_str() {
            "delay_loop" => vs.delay_loop = Some(val(s, 0)?),
            "lb_algo" => vs.lb_algo = Some(arg(s, 0)?.text.clone()),
            "lb_kind" => {
                let w = arg(s, 0)?;
                vs.lb_kind = Some(match w.text.to_ascii_uppercase().as_str() {
                    "NAT" => LbKind::Nat,
                    "DR" => LbKind::Dr,
                    "TUN" => LbKind::Tun,
                    _ => return Err(bad(s, w)),
                });
            }
            "protocol" => {
                let w = arg(s, 0)?;
                vs.protocol = Some(match w.text.to_ascii_uppercase().as_str() {
                    "TCP" => Protocol::Tcp,
                    "UDP" => Protocol::Udp,
                    "SCTP" => Protocol::Sctp,
                    _ => return Err(bad(s, w)),
                });
            }
            "persistence_timeout" => vs.persistence_timeout = Some(val(s, 0)?),
            "persistence_granularity" => vs.persistence_granularity = Some(prefix(s)?),
            "sorry_server" => vs.sorry_server = Some(sockaddr(s, 0)?),
            "quorum" => vs.quorum = Some(val(s, 0)?),
            "hysteresis" => vs.hysteresis = Some(val(s, 0)?),
            "quorum_up" => vs.quorum_up = Some(arg(s, 0)?.text.clone()),
            "quorum_down" => vs.quorum_down = Some(arg(s, 0)?.text.clone()),
            "alpha" => vs.alpha = true,
            "omega" => vs.omega = true,
            "real_server" => {
                let rs = real_server(s, notes)?;
                if vs.real_servers.iter().any(|o| o.addr == rs.addr) {
                    return Err(err(
                        s.key.line,
                        Kind::Duplicate(alloc::format!("real_server {}", rs.addr)),
                    ));
                }
                vs.real_servers.push(rs);
            }
            _ => note(notes, s),
        }
    }
    Ok(vs)
}

fn real_server(n: &Node, notes: &mut Vec<Note>) -> Result<RealServerDef, KeepalivedError> {
    let mut rs = RealServerDef {
        line: n.key.line,
        addr: sockaddr(n, 0)?,
        weight: None,
        inhibit_on_failure: false,
        checks: Vec::new(),
    };
    for s in n.block.as_deref().unwrap_or(&[]) {
        match s.key.text.as_str() {
            "weight" => rs.weight = Some(val(s, 0)?),
            "inhibit_on_failure" => rs.inhibit_on_failure = true,
            "TCP_CHECK" => rs.checks.push(Check::Tcp(connect_opts(s, notes, None)?)),
            "HTTP_GET" => {
                let mut urls = Vec::new();
                let opts = connect_opts(s, notes, Some(&mut urls))?;
                rs.checks.push(Check::Http { opts, urls });
            }
            "MISC_CHECK" => {
                let mut path = None;
                let mut timeout = None;
                for m in block(s)? {
                    match m.key.text.as_str() {
                        "misc_path" => path = Some(arg(m, 0)?.text.clone()),
                        "misc_timeout" => timeout = Some(val(m, 0)?),
                        _ => note(notes, m),
                    }
                }
                let path = path
                    .filter(|p| !p.trim().is_empty())
                    .ok_or_else(|| err(s.key.line, Kind::MissingValue("misc_path".to_string())))?;
                rs.checks.push(Check::Misc { path, timeout });
            }
            _ => note(notes, s),
        }
    }
    Ok(rs)
}

/// The settings of a TCP_CHECK or HTTP_GET block; `urls` collects `url`
/// blocks (HTTP_GET only).
fn connect_opts(
    n: &Node,
    notes: &mut Vec<Note>,
    mut urls: Option<&mut Vec<Url>>,
) -> Result<ConnectOpts, KeepalivedError> {
    let mut o = ConnectOpts::default();
    for s in block(n)? {
        match s.key.text.as_str() {
            "connect_port" => o.connect_port = Some(val(s, 0)?),
            "connect_timeout" => o.connect_timeout = Some(val(s, 0)?),
            "bindto" => o.bindto = Some(val(s, 0)?),
            "retry" | "nb_get_retry" => o.retry = Some(val(s, 0)?),
            "delay_before_retry" => o.delay_before_retry = Some(val(s, 0)?),
            "url" if urls.is_some() => {
                let mut u = Url::default();
                for k in block(s)? {
                    match k.key.text.as_str() {
                        "path" => u.path = arg(k, 0)?.text.clone(),
                        "status_code" => {
                            let code: u16 = val(k, 0)?;
                            if !(100..=599).contains(&code) {
                                return Err(bad(k, arg(k, 0)?));
                            }
                            u.status_code = Some(code);
                        }
                        "digest" => u.digest = Some(arg(k, 0)?.text.clone()),
                        _ => note(notes, k),
                    }
                }
                if !u.path.starts_with('/') {
                    return Err(err(s.key.line, Kind::MissingValue("path".to_string())));
                }
                if let Some(list) = urls.as_deref_mut() {
                    list.push(u);
                }
            }
            _ => note(notes, s),
        }
    }
    Ok(o)
}
