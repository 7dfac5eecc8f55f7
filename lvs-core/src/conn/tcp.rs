//! The IPVS TCP state machine (and UDP's single state).
//!
//! IPVS does not track TCP the way an endpoint does: it only sees the flags of
//! packets crossing the director, sometimes in one direction only (DR, TUN),
//! and it uses the resulting state for two things: which timeout applies and
//! whether the connection counts as active on its real server. The
//! transitions are therefore a plain lookup table indexed by direction,
//! event and current state, exactly like `tcp_states` / `tcp_states_dos` in
//! the kernel. Keeping them as data (rather than `match` arms) makes the
//! cell-by-cell comparison with the kernel table in `tests/conn_states.rs`
//! meaningful and keeps a transition at one indexed load.

/// A TCP connection state as IPVS names them. The discriminants are the
/// kernel's `IP_VS_TCP_S_*` values, which is also the column order of the
/// transition tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TcpState {
    /// No state yet (`NONE`).
    None = 0,
    /// Established (`ESTABLISHED`).
    Established = 1,
    /// SYN seen from the real server side (`SYN_SENT`).
    SynSent = 2,
    /// SYN seen from the client (`SYN_RECV`): half-open.
    SynRecv = 3,
    /// A FIN seen (`FIN_WAIT`).
    FinWait = 4,
    /// Both FINs seen (`TIME_WAIT`).
    TimeWait = 5,
    /// Closed, e.g. after RST (`CLOSE`).
    Close = 6,
    /// The client closed first (`CLOSE_WAIT`).
    CloseWait = 7,
    /// Last ACK pending (`LAST_ACK`).
    LastAck = 8,
    /// Pre-created FTP data connection (`LISTEN`).
    Listen = 9,
    /// SYN+ACK seen under secure_tcp (`SYNACK`): half-open.
    SynAck = 10,
}

impl TcpState {
    /// Number of states.
    pub const COUNT: usize = 11;

    /// All states in discriminant order.
    pub const ALL: [TcpState; 11] = [
        TcpState::None,
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::SynAck,
    ];

    /// The state with discriminant `v`, if any.
    #[inline]
    pub const fn from_u8(v: u8) -> Option<TcpState> {
        if (v as usize) < Self::COUNT {
            Some(Self::ALL[v as usize])
        } else {
            None
        }
    }

    /// The state as stored in a [`Connection`](super::Connection).
    #[inline]
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The name `ipvsadm -Lnc` prints.
    pub const fn name(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::SynAck => "SYNACK",
        }
    }

    /// Whether the state counts as an active connection on the real server
    /// (ESTABLISHED, SYN_SENT, SYN_RECV, SYNACK; current kernels).
    #[inline]
    pub const fn is_active(self) -> bool {
        matches!(
            self,
            TcpState::Established | TcpState::SynSent | TcpState::SynRecv | TcpState::SynAck
        )
    }

    /// Whether the state is half-open (SYN_RECV or SYNACK): what drop_entry
    /// sheds first and [`ConnTable::evict_half_open`](super::ConnTable::evict_half_open) evicts.
    #[inline]
    pub const fn is_half_open(self) -> bool {
        matches!(self, TcpState::SynRecv | TcpState::SynAck)
    }
}

impl core::fmt::Display for TcpState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// The event a TCP packet is, by its flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TcpEvent {
    /// SYN set (and RST not).
    Syn = 0,
    /// FIN set (and neither RST nor SYN).
    Fin = 1,
    /// ACK set and nothing above.
    Ack = 2,
    /// RST set.
    Rst = 3,
}

impl TcpEvent {
    /// TCP header flag bits (byte 13 of the header).
    pub const FLAG_FIN: u8 = 0x01;
    /// SYN flag bit.
    pub const FLAG_SYN: u8 = 0x02;
    /// RST flag bit.
    pub const FLAG_RST: u8 = 0x04;
    /// ACK flag bit.
    pub const FLAG_ACK: u8 = 0x10;

    /// The event for a packet's flag byte: the first of RST, SYN, FIN, ACK
    /// that is set, or `None` when none is (IPVS then moves to CLOSE; pass
    /// the `None` on to [`transition`]).
    #[inline]
    pub const fn from_flags(flags: u8) -> Option<TcpEvent> {
        if flags & Self::FLAG_RST != 0 {
            Some(TcpEvent::Rst)
        } else if flags & Self::FLAG_SYN != 0 {
            Some(TcpEvent::Syn)
        } else if flags & Self::FLAG_FIN != 0 {
            Some(TcpEvent::Fin)
        } else if flags & Self::FLAG_ACK != 0 {
            Some(TcpEvent::Ack)
        } else {
            None
        }
    }
}

/// Which way a packet crosses the director, as the state tables see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Direction {
    /// Client to real server.
    Input = 0,
    /// Real server to client (NAT only).
    Output = 1,
    /// Client to real server on a connection whose replies bypass the
    /// director (`NO_OUTPUT`: DR, TUN, local).
    InputOnly = 2,
}

/// UDP has a single state in IPVS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum UdpState {
    /// The only state (`UDP` in listings).
    Normal = 0,
}

impl UdpState {
    /// The name `ipvsadm -Lnc` prints.
    pub const fn name(self) -> &'static str {
        "UDP"
    }

    /// The state for a stored value (only 0 exists).
    pub const fn from_u8(v: u8) -> Option<UdpState> {
        if v == 0 { Some(UdpState::Normal) } else { None }
    }
}

/// The name a listing prints for a stored `(protocol, state)` pair: TCP
/// state names, `UDP`, and `ERR!` (the kernel's word) for anything unknown.
pub fn state_name(protocol: u8, state: u8) -> &'static str {
    match protocol {
        6 => match TcpState::from_u8(state) {
            Some(s) => s.name(),
            None => "ERR!",
        },
        17 => match UdpState::from_u8(state) {
            Some(s) => s.name(),
            None => "ERR!",
        },
        _ => "ERR!",
    }
}

use TcpState as S;
const ES: S = S::Established;
const SS: S = S::SynSent;
const SR: S = S::SynRecv;
const FW: S = S::FinWait;
const TW: S = S::TimeWait;
const CL: S = S::Close;
const CW: S = S::CloseWait;
const LA: S = S::LastAck;
const LI: S = S::Listen;
const SA: S = S::SynAck;

/// `[direction][event][from]`, events in `TcpEvent` order (syn, fin, ack, rst).
type Table = [[[S; 11]; 4]; 3];

/// The kernel's `tcp_states`.
const NORMAL: Table = [
    // INPUT
    [
        /*syn*/ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
        /*fin*/ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
    ],
    // OUTPUT
    [
        /*syn*/ [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
        /*fin*/ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
        /*rst*/ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
    ],
    // INPUT-ONLY
    [
        /*syn*/ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
        /*fin*/ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
];

/// The kernel's `tcp_states_dos` (secure_tcp).
const SECURE: Table = [
    // INPUT
    [
        /*syn*/ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SA],
        /*fin*/ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, SA],
        /*ack*/ [ES, ES, SS, SR, FW, TW, CL, CW, CL, LI, SA],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
    // OUTPUT
    [
        /*syn*/ [SS, ES, SS, SA, SS, SS, SS, SS, SS, LI, SA],
        /*fin*/ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
        /*rst*/ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
    ],
    // INPUT-ONLY
    [
        /*syn*/ [SA, ES, ES, SR, SA, SA, SA, SA, SA, SA, SA],
        /*fin*/ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
];

/// The state after a packet: `secure` selects the secure_tcp table,
/// `event` is [`TcpEvent::from_flags`] of the packet (`None` = no flag:
/// CLOSE, as IPVS does).
#[inline]
pub fn transition(
    secure: bool,
    dir: Direction,
    event: Option<TcpEvent>,
    from: TcpState,
) -> TcpState {
    match event {
        None => TcpState::Close,
        Some(ev) => {
            let table = if secure { &SECURE } else { &NORMAL };
            table[dir as usize][ev as usize][from as usize]
        }
    }
}

/// Events by the packet's FIN, SYN, RST and ACK bits, packed as
/// `flags & 0x07 | (flags & 0x10) >> 1`: the index into the event rows of
/// [`FLAT`] (4 = no flag: CLOSE).
const EVENT_OF_BITS: [u8; 16] = {
    let mut t = [0u8; 16];
    let mut k = 0;
    while k < 16 {
        let flags = (k as u8 & 0x07) | ((k as u8 & 0x08) << 1);
        t[k] = match TcpEvent::from_flags(flags) {
            Some(ev) => ev as u8,
            None => 4,
        };
        k += 1;
    }
    t
};

/// Columns of [`FLAT`]: a stored state of 11 or more reads column 0
/// (`NONE`), as `TcpState::from_u8(..).unwrap_or(TcpState::None)` does.
const FLAT_COLS: usize = 16;

/// [`NORMAL`] then [`SECURE`] as one array,
/// `[table][direction][event (4 = no flag)][from]`, built from them at
/// compile time so that a step is one indexed load. The direction and
/// event dimensions are padded to powers of two (unused rows: CLOSE) so that
/// masked indices need no bounds checks.
type Flat = [[[[TcpState; FLAT_COLS]; 8]; 4]; 2];

const FLAT: Flat = {
    let mut f = [[[[TcpState::Close; FLAT_COLS]; 8]; 4]; 2];
    let mut t = 0;
    while t < 2 {
        let table = if t == 0 { &NORMAL } else { &SECURE };
        let mut d = 0;
        while d < 3 {
            let mut ev = 0;
            while ev < 4 {
                let mut from = 0;
                while from < FLAT_COLS {
                    let col = if from < TcpState::COUNT { from } else { 0 };
                    f[t][d][ev][from] = table[d][ev][col];
                    from += 1;
                }
                ev += 1;
            }
            d += 1;
        }
        t += 1;
    }
    f
};

/// [`transition`] straight from the packet's flag byte and the stored
/// state, for the packet path: the same answer as
/// `transition(secure, dir, TcpEvent::from_flags(flags),
/// TcpState::from_u8(from).unwrap_or(TcpState::None))`, by two table loads
/// and no branch on the flags.
#[inline]
pub fn transition_raw(secure: bool, dir: Direction, flags: u8, from: u8) -> TcpState {
    let ev = EVENT_OF_BITS[usize::from((flags & 0x07) | ((flags & 0x10) >> 1))];
    let col = if usize::from(from) < TcpState::COUNT {
        usize::from(from)
    } else {
        0
    };
    FLAT[usize::from(secure)][dir as usize & 3][usize::from(ev) & 7][col]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flat table answers exactly as `transition` for every flag byte,
    /// stored state, direction and table.
    #[test]
    fn transition_raw_matches_transition() {
        for secure in [false, true] {
            for dir in [Direction::Input, Direction::Output, Direction::InputOnly] {
                for flags in 0..=255u8 {
                    for from in 0..=255u8 {
                        let want = transition(
                            secure,
                            dir,
                            TcpEvent::from_flags(flags),
                            TcpState::from_u8(from).unwrap_or(TcpState::None),
                        );
                        assert_eq!(transition_raw(secure, dir, flags, from), want);
                    }
                }
            }
        }
    }

    #[test]
    fn u8_round_trip_and_names() {
        for (i, s) in TcpState::ALL.iter().enumerate() {
            assert_eq!(TcpState::from_u8(i as u8), Some(*s));
            assert_eq!(s.as_u8() as usize, i);
        }
        assert_eq!(TcpState::from_u8(11), None);
        assert_eq!(TcpState::from_u8(255), None);
        assert_eq!(TcpState::SynAck.name(), "SYNACK");
        assert_eq!(state_name(6, 1), "ESTABLISHED");
        assert_eq!(state_name(17, 0), "UDP");
        assert_eq!(state_name(6, 99), "ERR!");
    }

    #[test]
    fn flags_priority() {
        let f = |b| TcpEvent::from_flags(b);
        assert_eq!(f(0x16), Some(TcpEvent::Rst)); // RST+SYN+ACK
        assert_eq!(f(0x13), Some(TcpEvent::Syn)); // SYN+FIN+ACK
        assert_eq!(f(0x11), Some(TcpEvent::Fin));
        assert_eq!(f(0x10), Some(TcpEvent::Ack));
        assert_eq!(f(0x08), None); // PSH only
        assert_eq!(
            transition(false, Direction::Input, None, TcpState::Established),
            TcpState::Close
        );
    }

    #[test]
    fn handshake_normal_vs_secure() {
        let mut s = TcpState::None;
        s = transition(false, Direction::Input, Some(TcpEvent::Syn), s);
        assert_eq!(s, TcpState::SynRecv);
        assert!(s.is_active() && s.is_half_open());
        s = transition(false, Direction::Input, Some(TcpEvent::Ack), s);
        assert_eq!(s, TcpState::Established);
        // secure: a client ACK alone does not establish.
        let s = transition(
            true,
            Direction::Input,
            Some(TcpEvent::Ack),
            TcpState::SynRecv,
        );
        assert_eq!(s, TcpState::SynRecv);
        let s = transition(true, Direction::Output, Some(TcpEvent::Syn), s);
        assert_eq!(s, TcpState::SynAck);
        assert!(!TcpState::Close.is_active());
    }
}
