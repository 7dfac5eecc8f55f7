//! Tunables of the balancer: IPVS's `net.ipv4.vs.*` sysctls that change how
//! connections are made, reused and expired.

use crate::conn::Timeouts;

/// How a packet that starts a new connection treats an old entry with the
/// same key (IPVS `conn_reuse_mode`, a bitmap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnReuseMode(pub u8);

impl ConnReuseMode {
    /// 0: no special handling; the port-reused connection stays on the old server.
    pub const OFF: ConnReuseMode = ConnReuseMode(0);
    /// 1 (IPVS default): reschedule a SYN that hits a TIME_WAIT or CLOSE entry.
    pub const DEFAULT: ConnReuseMode = ConnReuseMode(1);
    /// Bit 2: also reschedule over FIN_WAIT entries of DR/TUN connections.
    pub const FIN_WAIT_ONE_WAY: u8 = 2;
}

impl Default for ConnReuseMode {
    fn default() -> Self {
        ConnReuseMode::DEFAULT
    }
}

/// The balancer's tunables. Defaults are IPVS's, except `drop_entry`, which
/// is on: a bounded table must shed half-open entries under a SYN flood
/// rather than refuse every new client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Per-state timeouts (`ipvsadm --set`).
    pub timeouts: Timeouts,
    /// Use the `secure_tcp` state table (ESTABLISHED only after the
    /// three-way handshake is seen).
    pub secure_tcp: bool,
    /// Schedule TCP on any packet, not only SYN (`sloppy_tcp`).
    pub sloppy_tcp: bool,
    /// Expire a connection whose real server is gone and reschedule the
    /// packet (`expire_nodest_conn`); off: such packets are dropped.
    pub expire_nodest_conn: bool,
    /// Invalidate a template that points at a weight-0 server
    /// (`expire_quiescent_template`).
    pub expire_quiescent_template: bool,
    /// `conn_reuse_mode`.
    pub conn_reuse_mode: ConnReuseMode,
    /// When the table is full, evict a half-open (SYN_RECV/SYNACK) entry to
    /// make room (IPVS's `drop_entry` idea, applied at insert time).
    pub drop_entry: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeouts: Timeouts::default(),
            secure_tcp: false,
            sloppy_tcp: false,
            expire_nodest_conn: false,
            expire_quiescent_template: false,
            conn_reuse_mode: ConnReuseMode::DEFAULT,
            drop_entry: true,
        }
    }
}
