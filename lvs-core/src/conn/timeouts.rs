//! Per-state timeouts.
//!
//! IPVS keeps one timeout per protocol state and re-arms a connection's timer
//! with the timeout of its current state on every packet. The values live
//! here, in milliseconds (the crate's time unit), with the kernel's defaults;
//! `ipvsadm --set tcp tcpfin udp` changes three of them, in seconds, with 0
//! meaning "leave unchanged", and [`Timeouts::set`] has exactly that meaning.

use super::tcp::TcpState;
use crate::service::DEFAULT_PERSISTENCE_SECS;

/// The timeout a new connection has before its first state transition
/// sets one (IPVS: 3 s).
pub const INITIAL_TIMEOUT_MS: u32 = 3_000;

/// How long an expired template that still controls connections is re-armed
/// for (IPVS: 60 s).
pub const TEMPLATE_REARM_MS: u32 = 60_000;

/// Timeouts in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    tcp: [u32; TcpState::COUNT],
    udp: u32,
    template: u32,
}

const fn s(secs: u32) -> u32 {
    secs.saturating_mul(1000)
}

impl Timeouts {
    /// The kernel defaults: TCP per `tcp_timeouts` (ESTABLISHED 900 s,
    /// FIN_WAIT 120 s, ...), UDP 300 s, templates 360 s (the persistence
    /// default).
    pub const DEFAULT: Timeouts = Timeouts {
        tcp: [
            s(2),   // NONE
            s(900), // ESTABLISHED
            s(120), // SYN_SENT
            s(60),  // SYN_RECV
            s(120), // FIN_WAIT
            s(120), // TIME_WAIT
            s(10),  // CLOSE
            s(60),  // CLOSE_WAIT
            s(30),  // LAST_ACK
            s(120), // LISTEN
            s(120), // SYNACK
        ],
        udp: s(300),
        template: s(DEFAULT_PERSISTENCE_SECS),
    };

    /// The defaults.
    pub const fn new() -> Self {
        Self::DEFAULT
    }

    /// The timeout of a TCP state, in ms.
    #[inline]
    pub const fn tcp(&self, state: TcpState) -> u32 {
        self.tcp[state as usize]
    }

    /// Set the timeout of one TCP state, in ms.
    pub fn set_tcp(&mut self, state: TcpState, ms: u32) {
        self.tcp[state as usize] = ms;
    }

    /// The UDP timeout, in ms.
    #[inline]
    pub const fn udp(&self) -> u32 {
        self.udp
    }

    /// Set the UDP timeout, in ms.
    pub fn set_udp(&mut self, ms: u32) {
        self.udp = ms;
    }

    /// The default template (persistence) timeout, in ms. Services with `-p`
    /// use their own.
    #[inline]
    pub const fn template(&self) -> u32 {
        self.template
    }

    /// Set the default template timeout, in ms.
    pub fn set_template(&mut self, ms: u32) {
        self.template = ms;
    }

    /// The timeout for a stored `(protocol, state)`: TCP by state, UDP's
    /// single value, and the TCP NONE timeout for anything else (unknown
    /// protocols or states), which keeps unknown entries short-lived.
    pub fn for_state(&self, protocol: u8, state: u8) -> u32 {
        match (protocol, TcpState::from_u8(state)) {
            (6, Some(st)) => self.tcp(st),
            (17, _) => self.udp,
            _ => self.tcp[TcpState::None as usize],
        }
    }

    /// `ipvsadm --set tcp tcpfin udp`: seconds; 0 leaves a value unchanged.
    /// Sets ESTABLISHED, FIN_WAIT and UDP. Values beyond `u32::MAX` ms
    /// (about 49 days) saturate.
    pub fn set(&mut self, tcp: u32, tcpfin: u32, udp: u32) {
        if tcp != 0 {
            self.tcp[TcpState::Established as usize] = s(tcp);
        }
        if tcpfin != 0 {
            self.tcp[TcpState::FinWait as usize] = s(tcpfin);
        }
        if udp != 0 {
            self.udp = s(udp);
        }
    }

    /// What `ipvsadm -L --timeout` prints: `(tcp, tcpfin, udp)` in whole
    /// seconds.
    pub const fn get(&self) -> (u32, u32, u32) {
        (
            self.tcp[TcpState::Established as usize] / 1000,
            self.tcp[TcpState::FinWait as usize] / 1000,
            self.udp / 1000,
        )
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_ipvs() {
        let t = Timeouts::default();
        assert_eq!(t.get(), (900, 120, 300));
        let secs: [u32; 11] = [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120];
        for (st, want) in TcpState::ALL.iter().zip(secs) {
            assert_eq!(t.tcp(*st), want * 1000, "{st:?}");
        }
        assert_eq!(t.for_state(17, 0), 300_000);
        assert_eq!(t.for_state(6, 3), 60_000);
        assert_eq!(t.for_state(6, 200), 2_000);
        assert_eq!(t.template(), 360_000);
    }

    #[test]
    fn set_zero_leaves_unchanged() {
        let mut t = Timeouts::new();
        t.set(0, 30, 0);
        assert_eq!(t.get(), (900, 30, 300));
        t.set(7200, 0, 10);
        assert_eq!(t.get(), (7200, 30, 10));
        assert_eq!(t.tcp(TcpState::SynRecv), 60_000);
        t.set(u32::MAX, 0, 0);
        assert_eq!(t.tcp(TcpState::Established), u32::MAX);
    }
}
