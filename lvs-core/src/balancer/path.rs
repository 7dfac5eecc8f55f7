//! The per-packet path of the balancer, generic over the address family.
//!
//! Each public entry point of [`Balancer`](super::Balancer) picks the table
//! of the packet's family and calls one of these functions with the shared
//! state ([`Core`]) and that table, so the IPv4 path is compiled for 4-byte
//! addresses and never pays for IPv6's.

use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{
    ConnReuseMode, Core, Miss, PacketInfo, Reply, ServiceId, Settings, Target, fwd_bits, method_of,
    tcp_flags,
};
use crate::addr::{Flow, Protocol, mask_addr};
use crate::conn::{
    ConnAddr, ConnFlags, ConnHandle, ConnTable, Connection, Direction, InsertError, Slot,
    TEMPLATE_REARM_MS, TcpState, transition_raw,
};
use crate::real_server::RealServer;
use crate::scheduler::DestId;
use crate::service::{ServiceConfig, ServiceKey};
use crate::time::Instant;

fn sock<A: ConnAddr>(a: A, port: u16) -> SocketAddr {
    SocketAddr::new(a.to_ip(), port)
}

fn ports(info: &PacketInfo) -> (u16, u16) {
    (info.src.port(), info.dst.port())
}

/// Is this packet allowed to create a connection?
fn may_schedule(core: &Core, info: &PacketInfo) -> bool {
    match info.protocol {
        Protocol::Tcp => {
            core.settings.sloppy_tcp
                || (info.tcp_flags & tcp_flags::SYN != 0 && info.tcp_flags & tcp_flags::RST == 0)
        }
        Protocol::Udp | Protocol::Sctp => true,
    }
}

fn is_syn(info: &PacketInfo) -> bool {
    info.protocol == Protocol::Tcp
        && info.tcp_flags & tcp_flags::SYN != 0
        && info.tcp_flags & tcp_flags::RST == 0
}

pub(super) fn in_packet<A: ConnAddr>(
    core: &mut Core,
    table: &mut ConnTable<A, Vec<Slot<A>>>,
    now: Instant,
    info: &PacketInfo,
    caddr: A,
    vaddr: A,
) -> Result<Target, Miss> {
    let (cport, vport) = ports(info);
    let proto = info.protocol.number();
    if let Some(h) = table.lookup_in(proto, caddr, cport, vaddr, vport) {
        match existing(core, table, now, info, h) {
            Ok(t) => return Ok(t),
            Err(Some(miss)) => return Err(miss),
            // The old entry was expired: schedule afresh below.
            Err(None) => {}
        }
    }
    let sid = core
        .services
        .lookup(info.protocol, info.dst, info.fwmark)
        .ok_or(Miss::NotVirtual)?;
    if !may_schedule(core, info) {
        return Err(Miss::NotScheduled);
    }
    schedule(core, table, now, info, sid, caddr, vaddr)
}

/// Handle a packet of an existing entry. `Err(None)` means the entry was
/// expired and the packet should be scheduled as new.
#[inline(always)]
fn existing<A: ConnAddr>(
    core: &mut Core,
    table: &mut ConnTable<A, Vec<Slot<A>>>,
    now: Instant,
    info: &PacketInfo,
    h: ConnHandle,
) -> Result<Target, Option<Miss>> {
    let conn = *table.get(h).ok_or(None)?;
    let sid = ServiceId(conn.service);
    let did = DestId(conn.dest);
    let syn = is_syn(info);

    // conn_reuse_mode: a new SYN over an old, uncontrolled, closing entry.
    if syn && conn.control.is_none() && core.settings.conn_reuse_mode.0 != 0 {
        let st = TcpState::from_u8(conn.state);
        let reuse = matches!(st, Some(TcpState::TimeWait | TcpState::Close))
            || (core.settings.conn_reuse_mode.0 & ConnReuseMode::FIN_WAIT_ONE_WAY != 0
                && st == Some(TcpState::FinWait)
                && conn.flags.has(ConnFlags::NO_OUTPUT));
        if reuse {
            drop_conn(core, table, h);
            core.counters.rescheduled += 1;
            return Err(None);
        }
    }
    // One lookup of the service and the server serves the checks, the
    // accounting and the target.
    let settings = &core.settings;
    let found = core
        .services
        .get_mut(sid)
        .and_then(|s| s.stats_and_server_mut(did))
        .filter(|(_, r)| r.available);
    let Some((svc_stats, r)) = found else {
        if core.settings.expire_nodest_conn {
            drop_conn(core, table, h);
            core.counters.rescheduled += 1;
            return Err(None);
        }
        core.counters.dest_unavailable += 1;
        return Err(Some(Miss::DestUnavailable));
    };
    if settings.expire_nodest_conn && r.weight() == 0 && syn {
        drop_conn(core, table, h);
        core.counters.rescheduled += 1;
        return Err(None);
    }
    let dir = if conn.flags.has(ConnFlags::NO_OUTPUT) {
        Direction::InputOnly
    } else {
        Direction::Input
    };
    // The common case of an established flow. This does what step_state,
    // count_in and target_of do, in the same order of effects, but with one
    // table update and one service/server lookup for the accounting and
    // the target instead of one each.
    let step = next_step(settings, &conn, dir, info);
    table.update_on_packet(h, step.flags, step.state, now, step.timeout, true);
    let bytes = u64::from(info.ip_len);
    core.totals.count_in(bytes);
    svc_stats.count_in(bytes);
    if step.was_active != step.now_active {
        r.set_conn_active(step.was_active, step.now_active);
    }
    r.stats.count_in(bytes);
    // The step changes only INACTIVE and NO_OUTPUT: the method bits,
    // MIXED_FAMILY and the address of `conn` are still the entry's.
    Ok(target(h, sid, did, &conn, r, false))
}

fn count_in(core: &mut Core, sid: ServiceId, did: DestId, len: u16) {
    let bytes = u64::from(len);
    core.totals.count_in(bytes);
    if let Some(s) = core.services.get_mut(sid) {
        s.state.stats.count_in(bytes);
        if let Some(r) = s.server_mut(did) {
            r.stats.count_in(bytes);
        }
    }
}

fn count_out(core: &mut Core, sid: ServiceId, did: DestId, len: u16) {
    let bytes = u64::from(len);
    core.totals.count_out(bytes);
    if let Some(s) = core.services.get_mut(sid) {
        s.state.stats.count_out(bytes);
        if let Some(r) = s.server_mut(did) {
            r.stats.count_out(bytes);
        }
    }
}

fn count_conn(core: &mut Core, sid: ServiceId, did: DestId) {
    core.totals.count_conn();
    if let Some(s) = core.services.get_mut(sid) {
        s.state.stats.count_conn();
        if let Some(r) = s.server_mut(did) {
            r.stats.count_conn();
        }
    }
}

fn target_of<A: ConnAddr>(
    core: &Core,
    table: &ConnTable<A, Vec<Slot<A>>>,
    h: ConnHandle,
    new: bool,
) -> Option<Target> {
    let c = table.get(h)?;
    let sid = ServiceId(c.service);
    let did = DestId(c.dest);
    let r = core.services.get(sid)?.server(did)?;
    Some(target(h, sid, did, c, r, new))
}

/// The [`Target`] of entry `c` (handle `h`) on real server `r`.
#[inline]
fn target<A: ConnAddr>(
    h: ConnHandle,
    sid: ServiceId,
    did: DestId,
    c: &Connection<A>,
    r: &RealServer,
    new: bool,
) -> Target {
    let real_server = if c.flags.has(ConnFlags::MIXED_FAMILY) {
        SocketAddr::new(r.config.addr.ip(), c.dport)
    } else {
        sock(c.daddr, c.dport)
    };
    Target {
        conn: h,
        service: sid,
        dest: did,
        real_server,
        method: method_of(c.flags),
        forwarding: r.config.forwarding,
        new,
    }
}

/// The outcome of one packet for a connection's state: what
/// [`apply_step`] writes to the table, and whether the real server's
/// active/inactive counts must move.
#[derive(Clone, Copy)]
struct Step {
    state: u8,
    flags: ConnFlags,
    timeout: u32,
    was_active: bool,
    now_active: bool,
}

/// Run the TCP state machine for one packet of `c` (pure: nothing is
/// written, so the caller can apply it with one table and one service
/// lookup).
#[inline]
fn next_step<A: ConnAddr>(
    settings: &Settings,
    c: &Connection<A>,
    dir: Direction,
    info: &PacketInfo,
) -> Step {
    let flags = c.flags;
    let tcp = info.protocol == Protocol::Tcp;
    let (timeout, state, now_active) = if tcp {
        let to = transition_raw(settings.secure_tcp, dir, info.tcp_flags, c.state);
        (settings.timeouts.tcp(to), to as u8, to.is_active())
    } else {
        (settings.timeouts.udp(), c.state, false)
    };
    let was_active = !flags.has(ConnFlags::INACTIVE);
    let mut new_flags = flags;
    new_flags.set(ConnFlags::INACTIVE, !now_active);
    if dir == Direction::Output {
        new_flags.set(ConnFlags::NO_OUTPUT, false);
    }
    Step {
        state,
        flags: new_flags,
        timeout,
        was_active,
        now_active,
    }
}

/// Write a [`Step`] to the table: flags, state and timeout in one call.
#[inline]
fn apply_step<A: ConnAddr>(
    table: &mut ConnTable<A, Vec<Slot<A>>>,
    now: Instant,
    h: ConnHandle,
    s: &Step,
) {
    table.set_flags_state_timeout(h, s.flags, s.state, now, s.timeout);
}

/// Run the TCP state machine for one packet and keep the real server's
/// active/inactive counts in step; refresh the timeout.
fn step_state<A: ConnAddr>(
    core: &mut Core,
    table: &mut ConnTable<A, Vec<Slot<A>>>,
    now: Instant,
    h: ConnHandle,
    dir: Direction,
    info: &PacketInfo,
) {
    let Some(c) = table.get(h) else { return };
    let step = next_step(&core.settings, c, dir, info);
    let (sid, did) = (ServiceId(c.service), DestId(c.dest));
    if step.was_active != step.now_active
        && let Some(r) = core.services.get_mut(sid).and_then(|s| s.server_mut(did))
    {
        r.set_conn_active(step.was_active, step.now_active);
    }
    apply_step(table, now, h, &step);
}

// Kept out of `in_packet` so that the established path does not pay for
// the scheduling path's stack frame and register pressure.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn schedule<A: ConnAddr>(
    core: &mut Core,
    table: &mut ConnTable<A, Vec<Slot<A>>>,
    now: Instant,
    info: &PacketInfo,
    sid: ServiceId,
    caddr: A,
    vaddr: A,
) -> Result<Target, Miss> {
    let (cport, vport) = ports(info);
    let proto = info.protocol.number();
    let settings = core.settings;
    let svc = core.services.get_mut(sid).ok_or(Miss::NotVirtual)?;
    let cfg = svc.config;
    let flow = Flow {
        protocol: info.protocol,
        client: info.src,
        vip: info.dst,
        fwmark: info.fwmark,
    };
    let port_zero = matches!(cfg.key, ServiceKey::Addr { vip, .. } if vip.port() == 0);
    if port_zero && cfg.persistence_secs.is_none() {
        return Err(Miss::PortZeroNotPersistent);
    }

    // Persistence: reuse the client network's template if it is still good.
    let mut template = ConnHandle::NONE;
    let mut did = None;
    if let Some(psecs) = cfg.persistence_secs {
        let (tproto, tvaddr, tvport) = template_key::<A>(&cfg, proto, vaddr, vport);
        let snet = A::from_ip(mask_addr(&caddr.to_ip(), cfg.netmask_prefix)).unwrap_or(caddr);
        if let Some(th) = table.lookup_template(tproto, snet, tvaddr, tvport) {
            let t = table.get(th).copied();
            let good = t.and_then(|t| {
                let r = svc.server(DestId(t.dest))?;
                let ok = r.available && !(settings.expire_quiescent_template && r.weight() == 0);
                ok.then_some(DestId(t.dest))
            });
            match good {
                Some(d) => {
                    template = th;
                    did = Some(d);
                }
                None => {
                    // Invalidate as IPVS does: no lookup finds it any more,
                    // but it stays (and keeps counting) until the connections
                    // it controls are gone and it expires.
                    table.invalidate_template(th);
                }
            }
        }
        if did.is_none() {
            let d = svc.pick(&flow).ok_or(Miss::NoDestination);
            let d = match d {
                Ok(d) => d,
                Err(m) => {
                    core.counters.no_destination += 1;
                    return Err(m);
                }
            };
            let r = svc.server(d).ok_or(Miss::NoDestination)?;
            let dport = if tvport == 0 {
                0
            } else {
                dest_port(r.config.addr.port(), vport)
            };
            let daddr = A::from_ip(r.config.addr.ip());
            let mut flags = ConnFlags(ConnFlags::TEMPLATE | fwd_bits(&r.config.forwarding));
            if daddr.is_none() {
                flags.set(ConnFlags::MIXED_FAMILY, true);
            }
            let timeout = psecs.saturating_mul(1000);
            let t = Connection {
                caddr: snet,
                vaddr: tvaddr,
                daddr: daddr.unwrap_or(A::UNSPECIFIED),
                cport: 0,
                vport: tvport,
                dport,
                protocol: tproto,
                state: 0,
                flags,
                service: sid.0,
                dest: d.0,
                control: ConnHandle::NONE,
                n_control: 0,
                in_pkts: 0,
                timeout_ms: timeout,
                expires: now + core::time::Duration::from_millis(u64::from(timeout)),
            };
            match insert_with_room(core, table, t) {
                Ok(th) => {
                    template = th;
                    did = Some(d);
                    if let Some(r) = core.services.get_mut(sid).and_then(|s| s.server_mut(d)) {
                        r.persistent_conns = r.persistent_conns.saturating_add(1);
                    }
                }
                Err(m) => return Err(m),
            }
        }
    }

    let svc = core.services.get_mut(sid).ok_or(Miss::NotVirtual)?;
    let did = match did {
        Some(d) => d,
        None => match svc.pick(&flow) {
            Some(d) => d,
            None => {
                core.counters.no_destination += 1;
                return Err(Miss::NoDestination);
            }
        },
    };
    let r = svc.server(did).ok_or(Miss::NoDestination)?;
    let rcfg = r.config;
    let dport = dest_port(rcfg.addr.port(), vport);
    let daddr = A::from_ip(rcfg.addr.ip());
    let mut flags = ConnFlags(ConnFlags::INACTIVE | fwd_bits(&rcfg.forwarding));
    if rcfg.forwarding.is_one_way() {
        flags.set(ConnFlags::NO_OUTPUT, true);
    }
    if daddr.is_none() {
        flags.set(ConnFlags::MIXED_FAMILY, true);
    }
    let one_packet = cfg.one_packet && info.protocol == Protocol::Udp;

    count_conn(core, sid, did);
    if one_packet {
        // OPS: one scheduling decision per datagram, nothing kept.
        count_in(core, sid, did, info.ip_len);
        if let Some(t) = table.get_mut(template) {
            *t.in_pkts = t.in_pkts.saturating_add(1);
            table.refresh(template, now);
        }
        return Ok(Target {
            conn: ConnHandle::NONE,
            service: sid,
            dest: did,
            real_server: SocketAddr::new(rcfg.addr.ip(), dport),
            method: method_of(flags),
            forwarding: rcfg.forwarding,
            new: true,
        });
    }

    let dir = if flags.has(ConnFlags::NO_OUTPUT) {
        Direction::InputOnly
    } else {
        Direction::Input
    };
    // The entry goes in as it stands after its first packet: the state step
    // (from NONE, INACTIVE, the initial timeout) is worked out first, so
    // the entry is linked once on the wheel it ends up on instead of being
    // inserted and then moved by a second table update. The real server's
    // counts end the same: bound inactive then moved to active is bound
    // active (same total for the overload check).
    let initial = core.settings.timeouts.tcp(TcpState::None);
    let mut conn = Connection {
        caddr,
        vaddr,
        daddr: daddr.unwrap_or(A::UNSPECIFIED),
        cport,
        vport,
        dport,
        protocol: proto,
        state: TcpState::None as u8,
        flags,
        service: sid.0,
        dest: did.0,
        control: template,
        n_control: 0,
        in_pkts: 1,
        timeout_ms: initial,
        expires: now + core::time::Duration::from_millis(u64::from(initial)),
    };
    let step = next_step(&core.settings, &conn, dir, info);
    conn.flags = step.flags;
    conn.state = step.state;
    conn.timeout_ms = step.timeout;
    conn.expires = Instant::from_millis(now.as_millis().saturating_add(u64::from(step.timeout)));
    let h = insert_with_room(core, table, conn)?;
    if let Some(t) = table.get_mut(template) {
        *t.n_control = t.n_control.saturating_add(1);
        table.refresh(template, now);
    }
    let bytes = u64::from(info.ip_len);
    core.totals.count_in(bytes);
    let (svc_stats, r) = core
        .services
        .get_mut(sid)
        .and_then(|s| s.stats_and_server_mut(did))
        .ok_or(Miss::NoDestination)?;
    r.bind_conn(step.now_active);
    svc_stats.count_in(bytes);
    r.stats.count_in(bytes);
    Ok(target(h, sid, did, &conn, r, true))
}

/// The real server's port: its own, or the packet's when it is 0 (fwmark
/// services with port-less real servers).
fn dest_port(rs_port: u16, vport: u16) -> u16 {
    if rs_port == 0 { vport } else { rs_port }
}

/// The template key of IPVS `ip_vs_sched_persist`: (protocol, vaddr, vport),
/// with vport 0 for port-0 services and (0, mark, 0) for fwmark services.
fn template_key<A: ConnAddr>(cfg: &ServiceConfig, proto: u8, vaddr: A, vport: u16) -> (u8, A, u16) {
    match cfg.key {
        ServiceKey::Fwmark { mark, .. } => {
            let a = match vaddr.to_ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(mark)),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(u128::from(mark))),
            };
            (0, A::from_ip(a).unwrap_or(vaddr), 0)
        }
        ServiceKey::Addr { vip, .. } if vip.port() == 0 => (proto, vaddr, 0),
        ServiceKey::Addr { .. } => (proto, vaddr, vport),
    }
}

/// Insert, shedding a half-open entry first if the table is full and
/// `drop_entry` is on.
fn insert_with_room<A: ConnAddr>(
    core: &mut Core,
    table: &mut ConnTable<A, Vec<Slot<A>>>,
    conn: Connection<A>,
) -> Result<ConnHandle, Miss> {
    match table.insert(conn) {
        Ok(h) => Ok(h),
        Err(InsertError::Full) if core.settings.drop_entry => {
            if let Some((_, victim)) = table.evict_half_open() {
                unbind(core, table, &victim);
                core.counters.evicted_half_open += 1;
                table.insert(conn).map_err(|_| {
                    core.counters.refused_table_full += 1;
                    Miss::TableFull
                })
            } else {
                core.counters.refused_table_full += 1;
                Err(Miss::TableFull)
            }
        }
        Err(_) => {
            core.counters.refused_table_full += 1;
            Err(Miss::TableFull)
        }
    }
}

/// Remove an entry now and undo its accounting.
fn drop_conn<A: ConnAddr>(core: &mut Core, table: &mut ConnTable<A, Vec<Slot<A>>>, h: ConnHandle) {
    if let Some(c) = table.remove(h) {
        unbind(core, table, &c);
    }
}

/// Undo a removed entry's accounting: real-server counters, the controlling
/// template's count, and the real server's trash slot.
fn unbind<A: ConnAddr>(core: &mut Core, table: &mut ConnTable<A, Vec<Slot<A>>>, c: &Connection<A>) {
    let sid = ServiceId(c.service);
    let did = DestId(c.dest);
    if let Some(svc) = core.services.get_mut(sid) {
        if let Some(r) = svc.server_mut(did) {
            if c.flags.has(ConnFlags::TEMPLATE) {
                r.persistent_conns = r.persistent_conns.saturating_sub(1);
            } else {
                r.unbind_conn(!c.flags.has(ConnFlags::INACTIVE));
            }
        }
        svc.release(did);
    }
    // A controlling template stays in the table (invalidated or not) while
    // it controls connections, so the handle is still its own; the checks
    // guard against a logic error turning into a wrong count.
    let ours = table.get(c.control).is_some_and(|t| {
        t.flags.has(ConnFlags::TEMPLATE) && t.service == c.service && t.dest == c.dest
    });
    if ours && let Some(t) = table.get_mut(c.control) {
        *t.n_control = t.n_control.saturating_sub(1);
    }
}

pub(super) fn expire<A: ConnAddr>(
    core: &mut Core,
    table: &mut ConnTable<A, Vec<Slot<A>>>,
    now: Instant,
    budget: usize,
) -> usize {
    let mut removed = 0;
    for _ in 0..budget {
        let Some(h) = table.pop_expired(now) else {
            break;
        };
        let Some(c) = table.get(h).copied() else {
            break;
        };
        if c.flags.has(ConnFlags::TEMPLATE) && c.n_control > 0 {
            table.set_timeout(h, now, TEMPLATE_REARM_MS);
            continue;
        }
        drop_conn(core, table, h);
        core.counters.expired += 1;
        removed += 1;
    }
    removed
}

pub(super) fn purge_service<A: ConnAddr>(table: &mut ConnTable<A, Vec<Slot<A>>>, sid: u16) {
    let doomed: Vec<ConnHandle> = table
        .iter()
        .filter(|(_, c)| c.service == sid)
        .map(|(h, _)| h)
        .collect();
    for h in doomed {
        table.remove(h);
    }
}

pub(super) fn out_packet<A: ConnAddr>(
    core: &mut Core,
    table: &mut ConnTable<A, Vec<Slot<A>>>,
    now: Instant,
    info: &PacketInfo,
    daddr: A,
    caddr: A,
) -> Option<Reply> {
    let (dport, cport) = ports(info);
    let h = table.lookup_out(info.protocol.number(), daddr, dport, caddr, cport)?;
    let c = *table.get(h)?;
    step_state(core, table, now, h, Direction::Output, info);
    count_out(core, ServiceId(c.service), DestId(c.dest), info.ip_len);
    Some(Reply {
        conn: h,
        vip: sock(c.vaddr, c.vport),
    })
}

#[allow(clippy::too_many_arguments)]
pub(super) fn find_in<A: ConnAddr>(
    core: &Core,
    table: &ConnTable<A, Vec<Slot<A>>>,
    protocol: Protocol,
    client: SocketAddr,
    vip: SocketAddr,
    caddr: A,
    vaddr: A,
) -> Option<Target> {
    let h = table.lookup_in(protocol.number(), caddr, client.port(), vaddr, vip.port())?;
    target_of(core, table, h, false)
}

pub(super) fn find_out<A: ConnAddr>(
    table: &ConnTable<A, Vec<Slot<A>>>,
    protocol: Protocol,
    rs: SocketAddr,
    client: SocketAddr,
    daddr: A,
    caddr: A,
) -> Option<Reply> {
    let h = table.lookup_out(protocol.number(), daddr, rs.port(), caddr, client.port())?;
    let c = table.get(h)?;
    Some(Reply {
        conn: h,
        vip: sock(c.vaddr, c.vport),
    })
}
