//! [`SyncedConn`]: a sync record as lvs-core's connection description, and
//! back. The mapping of IPVS flag bits and state numbers lives here.

use core::net::IpAddr;

use super::error::SkipReason;
use super::repr::{ConnRecord, RecordAddrs, SeqOption};
use super::{F_FWD_MASK, F_INACTIVE, F_NO_CPORT, F_NOOUTPUT, F_SEQ_MASK, F_TEMPLATE};
use crate::addr::Protocol;
use crate::conn::{ConnAddr, ConnFlags, Connection, TcpState, Timeouts, UdpState};

/// Timeout of a synced entry whose record carries 0 (version 0) and that is
/// a template or has no state table: 3 minutes (`ip_vs_proc_conn`, ip_vs_sync.c).
pub const DEFAULT_SYNC_TIMEOUT_S: u32 = 3 * 60;

/// Number of SCTP states in current kernels (`IP_VS_SCTP_S_LAST`, ip_vs.h).
pub const SCTP_STATE_COUNT: u16 = 14;
/// Number of template states (`IP_VS_CTPL_S_LAST`, ip_vs.h).
pub const TEMPLATE_STATE_COUNT: u16 = 2;

/// Forwarding method, the low 3 flag bits (`IP_VS_CONN_F_FWD_MASK`, uapi ip_vs.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FwdMethod {
    /// NAT (`IP_VS_CONN_F_MASQ`, 0).
    Masq = 0,
    /// Local node (`IP_VS_CONN_F_LOCALNODE`, 1).
    LocalNode = 1,
    /// IP tunnel (`IP_VS_CONN_F_TUNNEL`, 2).
    Tunnel = 2,
    /// Direct routing (`IP_VS_CONN_F_DROUTE`, 3).
    DirectRoute = 3,
    /// Cache bypass (`IP_VS_CONN_F_BYPASS`, 4).
    Bypass = 4,
}

impl FwdMethod {
    /// The method for `flags & 7`, if it exists.
    pub const fn from_bits(v: u32) -> Option<FwdMethod> {
        Some(match v & F_FWD_MASK {
            0 => FwdMethod::Masq,
            1 => FwdMethod::LocalNode,
            2 => FwdMethod::Tunnel,
            3 => FwdMethod::DirectRoute,
            4 => FwdMethod::Bypass,
            _ => return None,
        })
    }

    /// The method for an lvs-core [`Forwarding`](crate::Forwarding).
    pub const fn from_forwarding(f: &crate::Forwarding) -> FwdMethod {
        match f {
            crate::Forwarding::Masquerade => FwdMethod::Masq,
            crate::Forwarding::Tunnel { .. } => FwdMethod::Tunnel,
            crate::Forwarding::DirectRoute => FwdMethod::DirectRoute,
            crate::Forwarding::Local => FwdMethod::LocalNode,
        }
    }
}

/// An SCTP state number in IPVS numbering (`IP_VS_SCTP_S_*`, ip_vs.h),
/// below [`SCTP_STATE_COUNT`]. lvs-core has no SCTP state machine; the
/// number is carried as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SctpState(u8);

impl SctpState {
    /// `IP_VS_SCTP_S_ESTABLISHED` (ip_vs.h).
    pub const ESTABLISHED: SctpState = SctpState(8);
    /// `IP_VS_SCTP_S_CLOSED` (ip_vs.h).
    pub const CLOSED: SctpState = SctpState(13);

    /// The state for `v`, if below the state count.
    pub const fn new(v: u16) -> Option<SctpState> {
        if v < SCTP_STATE_COUNT {
            Some(SctpState(v as u8))
        } else {
            None
        }
    }

    /// The number.
    pub const fn get(self) -> u8 {
        self.0
    }
}

/// A template's state (`IP_VS_CTPL_S_*`, ip_vs.h). The kernel accepts any
/// number for templates (it only logs one past `ASSURED`); so does this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateState {
    /// `IP_VS_CTPL_S_NONE` (0).
    None,
    /// `IP_VS_CTPL_S_ASSURED` (1).
    Assured,
    /// Any other number.
    Other(u16),
}

/// A connection's protocol state, by protocol, in IPVS numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncState {
    /// TCP (`IP_VS_TCP_S_*`, 11 states; lvs-core's [`TcpState`] uses the same numbers).
    Tcp(TcpState),
    /// UDP's single state.
    Udp(UdpState),
    /// SCTP.
    Sctp(SctpState),
    /// A persistence template.
    Template(TemplateState),
}

impl SyncState {
    /// The number on the wire.
    pub const fn number(self) -> u16 {
        match self {
            SyncState::Tcp(s) => s as u16,
            SyncState::Udp(s) => s as u16,
            SyncState::Sctp(s) => s.0 as u16,
            SyncState::Template(TemplateState::None) => 0,
            SyncState::Template(TemplateState::Assured) => 1,
            SyncState::Template(TemplateState::Other(n)) => n,
        }
    }
}

/// A synced connection or template as lvs-core describes it: what a backup
/// feeds to its balancer, and what a master builds from a table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SyncedConn {
    /// Protocol; `None` only for fwmark templates (IPPROTO_IP, 0).
    pub protocol: Option<Protocol>,
    /// Client address (masked client network for templates).
    pub caddr: IpAddr,
    /// Client port (0 for templates and with `no_cport`).
    pub cport: u16,
    /// Virtual address (for fwmark templates: the mark as an IPv4 address).
    pub vaddr: IpAddr,
    /// Virtual port.
    pub vport: u16,
    /// Real-server address.
    pub daddr: IpAddr,
    /// Real-server port.
    pub dport: u16,
    /// Protocol state.
    pub state: SyncState,
    /// Forwarding method (a backup that has the real server configured uses
    /// the server's own method instead, as the kernel does).
    pub forwarding: FwdMethod,
    /// lvs-core flags: `NO_OUTPUT`, `INACTIVE`, `TEMPLATE`, and `FWMARK` for
    /// protocol-0 templates.
    pub flags: ConnFlags,
    /// Client port not known yet (`IP_VS_CONN_F_NO_CPORT`, FTP data).
    pub no_cport: bool,
    /// Sequence adjustment (FTP helper), with the IN/OUT_SEQ bits.
    pub seq: Option<(u32, SeqOption)>,
    /// The entry's timer length in seconds; 0 means "the state's default".
    pub timeout_s: u32,
    /// Firewall mark of the service.
    pub fwmark: u32,
}

impl SyncedConn {
    /// Interprets a record as a backup does (`ip_vs_proc_sync_conn`): flags
    /// reduced to `IP_VS_CONN_F_BACKUP_MASK`; a connection of a protocol
    /// lvs-core does not balance, or with a state past the protocol's count,
    /// is skipped; templates take any state. Persistence-engine data is not
    /// carried (lvs-core has no engines; a record with a known name is kept
    /// without it).
    pub fn from_record(rec: &ConnRecord<'_>) -> Result<SyncedConn, SkipReason> {
        let template = rec.flags & F_TEMPLATE != 0;
        let protocol = Protocol::from_number(rec.protocol);
        let bad_state = SkipReason::BadState {
            protocol: rec.protocol,
            state: rec.state,
        };
        let state = if template {
            if protocol.is_none() && rec.protocol != 0 {
                return Err(SkipReason::UnknownProtocol {
                    protocol: rec.protocol,
                });
            }
            SyncState::Template(match rec.state {
                0 => TemplateState::None,
                1 => TemplateState::Assured,
                n => TemplateState::Other(n),
            })
        } else {
            let small = u8::try_from(rec.state).ok();
            match protocol {
                Some(Protocol::Tcp) => {
                    SyncState::Tcp(small.and_then(TcpState::from_u8).ok_or(bad_state)?)
                }
                Some(Protocol::Udp) => {
                    SyncState::Udp(small.and_then(UdpState::from_u8).ok_or(bad_state)?)
                }
                Some(Protocol::Sctp) => {
                    SyncState::Sctp(SctpState::new(rec.state).ok_or(bad_state)?)
                }
                None => {
                    return Err(SkipReason::UnknownProtocol {
                        protocol: rec.protocol,
                    });
                }
            }
        };
        let forwarding = FwdMethod::from_bits(rec.flags).ok_or(SkipReason::BadForwarding {
            method: (rec.flags & F_FWD_MASK) as u8,
        })?;
        let mut flags = ConnFlags::default();
        flags.set(ConnFlags::NO_OUTPUT, rec.flags & F_NOOUTPUT != 0);
        flags.set(ConnFlags::INACTIVE, rec.flags & F_INACTIVE != 0);
        flags.set(ConnFlags::TEMPLATE, template);
        flags.set(ConnFlags::FWMARK, template && rec.protocol == 0);
        let (caddr, vaddr, daddr) = rec.addrs.ips();
        Ok(SyncedConn {
            protocol,
            caddr,
            cport: rec.cport,
            vaddr,
            vport: rec.vport,
            daddr,
            dport: rec.dport,
            state,
            forwarding,
            flags,
            no_cport: rec.flags & F_NO_CPORT != 0,
            seq: match rec.seq {
                Some(s) if rec.flags & F_SEQ_MASK != 0 => Some((rec.flags & F_SEQ_MASK, s)),
                _ => None,
            },
            timeout_s: rec.timeout,
            fwmark: rec.fwmark,
        })
    }

    /// The record a master sends for this entry (no persistence-engine
    /// option). `None` if the three addresses are not of one family.
    pub fn to_record(&self) -> Option<ConnRecord<'static>> {
        let mut f = self.forwarding as u32;
        if self.flags.has(ConnFlags::NO_OUTPUT) {
            f |= F_NOOUTPUT;
        }
        if self.flags.has(ConnFlags::INACTIVE) {
            f |= F_INACTIVE;
        }
        if self.flags.has(ConnFlags::TEMPLATE) {
            f |= F_TEMPLATE;
        }
        if self.no_cport {
            f |= F_NO_CPORT;
        }
        if let Some((bits, _)) = self.seq {
            f |= bits & F_SEQ_MASK;
        }
        Some(ConnRecord {
            protocol: self.protocol.map_or(0, Protocol::number),
            flags: f,
            state: self.state.number(),
            cport: self.cport,
            vport: self.vport,
            dport: self.dport,
            fwmark: self.fwmark,
            timeout: self.timeout_s,
            addrs: RecordAddrs::new(self.caddr, self.vaddr, self.daddr)?,
            seq: self.seq.map(|(_, s)| s),
            pe: None,
        })
    }

    /// A master's description of a table entry: the forwarding method is
    /// the real server's and the fwmark the service's (a [`Connection`]
    /// holds neither); the timeout is the entry's timer length rounded down
    /// to seconds (`cp->timeout / HZ`). `None` for entries the kernel never
    /// sends: one-packet entries, mixed-family entries (a record has one
    /// family), and unknown protocols or states.
    pub fn from_connection<A: ConnAddr>(
        c: &Connection<A>,
        forwarding: FwdMethod,
        fwmark: u32,
    ) -> Option<SyncedConn> {
        if c.flags.has(ConnFlags::ONE_PACKET) || c.flags.has(ConnFlags::MIXED_FAMILY) {
            return None;
        }
        let template = c.flags.has(ConnFlags::TEMPLATE);
        let protocol = Protocol::from_number(c.protocol);
        let state = if template {
            SyncState::Template(match c.state {
                0 => TemplateState::None,
                1 => TemplateState::Assured,
                n => TemplateState::Other(n.into()),
            })
        } else {
            match protocol? {
                Protocol::Tcp => SyncState::Tcp(TcpState::from_u8(c.state)?),
                Protocol::Udp => SyncState::Udp(UdpState::from_u8(c.state)?),
                Protocol::Sctp => SyncState::Sctp(SctpState::new(c.state.into())?),
            }
        };
        if protocol.is_none() && !(template && c.protocol == 0) {
            return None;
        }
        let mut flags = ConnFlags::default();
        for bit in [
            ConnFlags::NO_OUTPUT,
            ConnFlags::INACTIVE,
            ConnFlags::TEMPLATE,
            ConnFlags::FWMARK,
        ] {
            flags.set(bit, c.flags.has(bit));
        }
        Some(SyncedConn {
            protocol,
            caddr: c.caddr.to_ip(),
            cport: c.cport,
            vaddr: c.vaddr.to_ip(),
            vport: c.vport,
            daddr: c.daddr.to_ip(),
            dport: c.dport,
            state,
            forwarding,
            flags,
            no_cport: false,
            seq: None,
            timeout_s: c.timeout_ms / 1000,
            fwmark,
        })
    }

    /// The timer length a backup gives the entry, in milliseconds: the
    /// record's seconds, or for 0 (version 0) the state's timeout from
    /// `timeouts` (TCP and UDP), else [`DEFAULT_SYNC_TIMEOUT_S`]
    /// (`ip_vs_proc_conn`, ip_vs_sync.c).
    pub fn timeout_ms(&self, timeouts: &Timeouts) -> u32 {
        if self.timeout_s != 0 {
            return self.timeout_s.saturating_mul(1000);
        }
        match (self.protocol, self.state) {
            (Some(Protocol::Tcp), SyncState::Tcp(s)) => timeouts.tcp(s),
            (Some(Protocol::Udp), SyncState::Udp(_)) => timeouts.udp(),
            _ => DEFAULT_SYNC_TIMEOUT_S * 1000,
        }
    }
}
