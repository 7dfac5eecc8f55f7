//! Prometheus metrics for a running director: a snapshot of its counters and an HTTP endpoint.
//!
//! Why a snapshot: the packet loop owns the [`Director`] and must never wait for a scrape. Once
//! a second it copies what the Director can report into a plain [`MetricsSnapshot`] and hands it
//! over with [`try_publish`] (a `try_lock`: if the server is reading the previous snapshot at that
//! instant, this second's publication is skipped, never waited for). The HTTP server
//! ([`MetricsServer`]) renders only from the latest published snapshot, on its own threads, so
//! a slow or hostile client costs the packet path nothing.
//!
//! Why these names: operators of kernel IPVS already have dashboards and alerts on the
//! node_exporter IPVS collector, so the director-wide totals and the per-real-server gauges use
//! exactly its names and labels (`node_ipvs_*`, labels `local_address`, `local_port`,
//! `remote_address`, `remote_port`, `proto`, `local_mark`, with the values node_exporter reads
//! from `/proc/net/ip_vs`: `proto` is `TCP`, `UDP`, `SCTP` or `FWM`; a fwmark service has an empty
//! `local_address`, `local_port` 0 and `local_mark` the mark as eight upper-case hex digits, the
//! others an empty `local_mark`). What kernel IPVS has no file for — drops by reason, health
//! state, connection-table occupancy, neighbour cache, per-port losses, per-service and
//! per-real-server traffic — is under an `lvs_` prefix.
//!
//! Counters are the raw, monotonic ones: `ipvsadm -Z` (zeroing) changes the listings, not the
//! metrics, because a Prometheus counter that goes back to zero reads as a restart.
//!
//! The text is the Prometheus exposition format 0.0.4 ([`CONTENT_TYPE`]), encoded by the
//! `prometheus-client` crate.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use lvs_core::balancer::BalancerCounters;
use lvs_core::stats::Counters;
use lvs_core::{Family, Protocol, ServiceKey};
use lvs_forwarding::{Director, DropReason};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::health::Health;
use crate::io::PortLosses;

mod server;

pub use server::{MAX_CONNECTIONS, MAX_REQUEST_BYTES, MetricsServer, REQUEST_DEADLINE};

/// The `Content-Type` of [`MetricsSnapshot::render`]'s text (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// How often the runner should publish a snapshot: Prometheus scrapes every 15 s by default
/// and node_exporter's IPVS numbers are read at scrape time, so one second is fresh enough and
/// costs one walk over the services per second.
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

/// One real server of one service, as the metrics show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendMetrics {
    /// The real server's address and port.
    pub addr: SocketAddr,
    /// The weight the Director uses now (0 while a health check holds it down).
    pub weight: u32,
    /// Connections in an active state (IPVS `ActiveConn`).
    pub active_conns: u32,
    /// Other connections (IPVS `InActConn`).
    pub inactive_conns: u32,
    /// Persistence templates pointing at this server.
    pub persistent_conns: u32,
    /// Traffic through this server since it was added (raw, not reset by zeroing).
    pub counters: Counters,
    /// The health check's verdict, or `None` when the server is not checked.
    pub health: Option<Health>,
}

/// One virtual service with its real servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceMetrics {
    /// The service key (protocol and VIP:port, or fwmark).
    pub key: ServiceKey,
    /// Traffic through this service since it was added (raw, not reset by zeroing).
    pub counters: Counters,
    /// Its real servers, in listing order.
    pub backends: Vec<BackendMetrics>,
}

/// One connection table (IPv4 or IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableMetrics {
    /// The table's address family.
    pub family: Family,
    /// Live entries (connections and persistence templates).
    pub entries: usize,
    /// The most entries it can hold.
    pub capacity: usize,
}

/// What one port lost outside the Director (the runner's per-port account).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortMetrics {
    /// The port's name (the interface name).
    pub name: String,
    /// The kernel's and the port's loss counters.
    pub losses: PortLosses,
    /// Frames the Director forwarded or generated that the port's send did not take.
    pub send_failures: u64,
}

/// The Director's frame totals (every frame given to it ends in one of these or a drop).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameMetrics {
    /// Frames given to the Director.
    pub received: u64,
    /// Frames forwarded (in place or released from the hold queue).
    pub forwarded: u64,
    /// Frames the Director generated (ARP/ND answers, ICMP).
    pub generated: u64,
    /// Frames left to the host stack.
    pub to_host: u64,
}

/// Everything `/metrics` shows, copied out of a running director: plain data, cheap to clone,
/// safe to hand to another thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Director-wide traffic totals (node_exporter's `/proc/net/ip_vs_stats` numbers).
    pub totals: Counters,
    /// Every virtual service with its real servers.
    pub services: Vec<ServiceMetrics>,
    /// Frame totals.
    pub frames: FrameMetrics,
    /// Drops by reason, every reason present (zero included) so that `rate()` has a series.
    pub drops: Vec<(DropReason, u64)>,
    /// The balancer's own decisions (table full, evictions, expiries, reschedules).
    pub balancer: BalancerCounters,
    /// The connection tables, IPv4 then IPv6.
    pub tables: Vec<TableMetrics>,
    /// Entries in the neighbour (ARP/ND) cache.
    pub neighbours: usize,
    /// The neighbour cache's capacity.
    pub neighbour_capacity: usize,
    /// Per-port losses the Director never saw.
    pub ports: Vec<PortMetrics>,
}

impl MetricsSnapshot {
    /// Copies what `director` reports (read-only). `health` gives a real server's health-check
    /// state in a service (`None`: not checked there); `ports` are the runner's per-port losses.
    pub fn from_director(
        director: &Director,
        health: &dyn Fn(&ServiceKey, SocketAddr) -> Option<Health>,
        ports: Vec<PortMetrics>,
    ) -> Self {
        let b = director.balancer();
        let services = b
            .services()
            .iter()
            .map(|(_, svc)| ServiceMetrics {
                key: svc.config.key,
                counters: svc.state.stats.counters,
                backends: svc
                    .servers()
                    .map(|(_, rs)| BackendMetrics {
                        addr: rs.config.addr,
                        weight: rs.weight(),
                        active_conns: rs.active_conns,
                        inactive_conns: rs.inactive_conns,
                        persistent_conns: rs.persistent_conns,
                        counters: rs.stats.counters,
                        health: health(&svc.config.key, rs.config.addr),
                    })
                    .collect(),
            })
            .collect();
        let d = director.drops();
        MetricsSnapshot {
            totals: b.totals().counters,
            services,
            frames: FrameMetrics {
                received: d.frames_in,
                forwarded: d.forwarded,
                generated: d.generated,
                to_host: d.to_host,
            },
            drops: d.iter().collect(),
            balancer: *b.counters(),
            tables: vec![
                TableMetrics {
                    family: Family::V4,
                    entries: b.table_v4().len(),
                    capacity: b.table_v4().capacity(),
                },
                TableMetrics {
                    family: Family::V6,
                    entries: b.table_v6().len(),
                    capacity: b.table_v6().capacity(),
                },
            ],
            neighbours: director.neighbors().len(),
            neighbour_capacity: director.config().neighbor_capacity,
            ports,
        }
    }

    /// Adds another worker's snapshot to this one (`--fanout`: one Director per worker, one
    /// endpoint). Counters, connection counts, frames, drops, table and neighbour figures add
    /// up; a real server's weight and health are the same in every worker and are kept, not
    /// added; ports of the same name add their losses.
    pub fn merge(&mut self, other: &MetricsSnapshot) {
        add_counters(&mut self.totals, &other.totals);
        for os in &other.services {
            let Some(s) = self.services.iter_mut().find(|s| s.key == os.key) else {
                self.services.push(os.clone());
                continue;
            };
            add_counters(&mut s.counters, &os.counters);
            for ob in &os.backends {
                match s.backends.iter_mut().find(|b| b.addr == ob.addr) {
                    Some(b) => {
                        b.active_conns = b.active_conns.saturating_add(ob.active_conns);
                        b.inactive_conns = b.inactive_conns.saturating_add(ob.inactive_conns);
                        b.persistent_conns = b.persistent_conns.saturating_add(ob.persistent_conns);
                        add_counters(&mut b.counters, &ob.counters);
                        b.weight = b.weight.max(ob.weight);
                        b.health = b.health.or(ob.health);
                    }
                    None => s.backends.push(ob.clone()),
                }
            }
        }
        self.frames.received += other.frames.received;
        self.frames.forwarded += other.frames.forwarded;
        self.frames.generated += other.frames.generated;
        self.frames.to_host += other.frames.to_host;
        for (r, n) in &other.drops {
            match self.drops.iter_mut().find(|(x, _)| x == r) {
                Some((_, m)) => *m += n,
                None => self.drops.push((*r, *n)),
            }
        }
        let (b, o) = (&mut self.balancer, &other.balancer);
        b.refused_table_full += o.refused_table_full;
        b.evicted_half_open += o.evicted_half_open;
        b.no_destination += o.no_destination;
        b.dest_unavailable += o.dest_unavailable;
        b.expired += o.expired;
        b.rescheduled += o.rescheduled;
        for ot in &other.tables {
            match self.tables.iter_mut().find(|t| t.family == ot.family) {
                Some(t) => {
                    t.entries += ot.entries;
                    t.capacity += ot.capacity;
                }
                None => self.tables.push(*ot),
            }
        }
        self.neighbours += other.neighbours;
        self.neighbour_capacity += other.neighbour_capacity;
        for op in &other.ports {
            match self.ports.iter_mut().find(|p| p.name == op.name) {
                Some(p) => {
                    p.losses.add(&op.losses);
                    p.send_failures += op.send_failures;
                }
                None => self.ports.push(op.clone()),
            }
        }
    }

    /// The snapshot as Prometheus text (format 0.0.4, [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Encoder(self.clone())));
        let mut out = String::new();
        // Writing into a String cannot fail, and every name and label here is well-formed.
        if prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}

fn add_counters(a: &mut Counters, b: &Counters) {
    a.conns += b.conns;
    a.in_pkts += b.in_pkts;
    a.out_pkts += b.out_pkts;
    a.in_bytes += b.in_bytes;
    a.out_bytes += b.out_bytes;
}

/// Replaces the shared snapshot with `build()` if the lock is free right now. Returns whether it
/// did. `build` runs only when the lock was taken, so a skipped second costs nothing; the packet
/// loop never waits for the HTTP server.
pub fn try_publish(
    shared: &Mutex<MetricsSnapshot>,
    build: impl FnOnce() -> MetricsSnapshot,
) -> bool {
    match shared.try_lock() {
        Ok(mut g) => {
            *g = build();
            true
        }
        // A panicked renderer leaves plain data behind: take it over.
        Err(std::sync::TryLockError::Poisoned(p)) => {
            *p.into_inner() = build();
            true
        }
        Err(std::sync::TryLockError::WouldBlock) => false,
    }
}

/// node_exporter's backend label values for one real server of one service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct BackendLabels {
    local_address: String,
    local_port: String,
    remote_address: String,
    remote_port: String,
    proto: &'static str,
    local_mark: String,
}

impl BackendLabels {
    fn new(key: &ServiceKey, rs: SocketAddr) -> Self {
        let svc = ServiceLabels::new(key);
        BackendLabels {
            local_address: svc.local_address,
            local_port: svc.local_port,
            remote_address: rs.ip().to_string(),
            remote_port: rs.port().to_string(),
            proto: svc.proto,
            local_mark: svc.local_mark,
        }
    }

    fn pairs(&self) -> [(&'static str, &str); 6] {
        [
            ("local_address", &self.local_address),
            ("local_port", &self.local_port),
            ("remote_address", &self.remote_address),
            ("remote_port", &self.remote_port),
            ("proto", self.proto),
            ("local_mark", &self.local_mark),
        ]
    }
}

/// A service's labels: node_exporter's backend labels without the remote ones.
struct ServiceLabels {
    local_address: String,
    local_port: String,
    proto: &'static str,
    local_mark: String,
}

impl ServiceLabels {
    /// The values `/proc/net/ip_vs` gives node_exporter: protocol name in upper case, or
    /// `FWM` with the mark as `%08X` and no address.
    fn new(key: &ServiceKey) -> Self {
        match *key {
            ServiceKey::Addr { protocol, vip } => ServiceLabels {
                local_address: vip.ip().to_string(),
                local_port: vip.port().to_string(),
                proto: match protocol {
                    Protocol::Tcp => "TCP",
                    Protocol::Udp => "UDP",
                    Protocol::Sctp => "SCTP",
                },
                local_mark: String::new(),
            },
            ServiceKey::Fwmark { mark, .. } => ServiceLabels {
                local_address: String::new(),
                local_port: "0".into(),
                proto: "FWM",
                local_mark: format!("{mark:08X}"),
            },
        }
    }

    fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            ("local_address", &self.local_address),
            ("local_port", &self.local_port),
            ("proto", self.proto),
            ("local_mark", &self.local_mark),
        ]
    }
}

fn family_name(f: Family) -> &'static str {
    match f {
        Family::V4 => "ipv4",
        Family::V6 => "ipv6",
    }
}

/// The snapshot as a `prometheus-client` collector: every scrape encodes constant metrics.
#[derive(Debug)]
struct Encoder(MetricsSnapshot);

/// One metric family of constant values: `labelled` rows, or one row without labels.
fn family<L: EncodeLabelSet, M: EncodeMetric>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: prometheus_client::metrics::MetricType,
    rows: impl IntoIterator<Item = (L, M)>,
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, kind)?;
    for (labels, metric) in rows {
        metric.encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn counter(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> fmt::Result {
    let c = ConstCounter::new(value);
    c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)
}

fn gauge(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: i64) -> fmt::Result {
    let g = ConstGauge::new(value);
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}

use prometheus_client::metrics::MetricType::{Counter as C, Gauge as G};

/// A count as a gauge value (saturating: no table or weight comes near `i64::MAX`).
fn to_i64(v: impl TryInto<i64>) -> i64 {
    v.try_into().unwrap_or(i64::MAX)
}

/// A count as a constant gauge.
fn g64(v: impl TryInto<i64>) -> ConstGauge<i64> {
    ConstGauge::new(to_i64(v))
}

impl Collector for Encoder {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let s = &self.0;
        let e = &mut enc;
        // node_exporter: director-wide totals (the `_total` suffix is added by the encoder).
        counter(
            e,
            "node_ipvs_connections",
            "The total number of connections made",
            s.totals.conns,
        )?;
        counter(
            e,
            "node_ipvs_incoming_packets",
            "The total number of incoming packets",
            s.totals.in_pkts,
        )?;
        counter(
            e,
            "node_ipvs_outgoing_packets",
            "The total number of outgoing packets",
            s.totals.out_pkts,
        )?;
        counter(
            e,
            "node_ipvs_incoming_bytes",
            "The total amount of incoming data",
            s.totals.in_bytes,
        )?;
        counter(
            e,
            "node_ipvs_outgoing_bytes",
            "The total amount of outgoing data",
            s.totals.out_bytes,
        )?;

        // node_exporter: per real server, summed over equal label sets as it does (a duplicate
        // series would make Prometheus reject the whole scrape).
        let mut sums: std::collections::BTreeMap<BackendLabels, (u64, u64, u64)> =
            std::collections::BTreeMap::new();
        for svc in &s.services {
            for rs in &svc.backends {
                let e = sums
                    .entry(BackendLabels::new(&svc.key, rs.addr))
                    .or_default();
                e.0 += u64::from(rs.active_conns);
                e.1 += u64::from(rs.inactive_conns);
                e.2 += u64::from(rs.weight);
            }
        }
        let per =
            |f: fn(&(u64, u64, u64)) -> u64| sums.iter().map(move |(l, v)| (l.pairs(), g64(f(v))));
        family(
            e,
            "node_ipvs_backend_connections_active",
            "The current active connections by local and remote address",
            G,
            per(|v| v.0),
        )?;
        family(
            e,
            "node_ipvs_backend_connections_inactive",
            "The current inactive connections by local and remote address",
            G,
            per(|v| v.1),
        )?;
        family(
            e,
            "node_ipvs_backend_weight",
            "The current backend weight by local and remote address",
            G,
            per(|v| v.2),
        )?;

        // lvs_: per service and per real server traffic.
        let services: Vec<(ServiceLabels, &ServiceMetrics)> = s
            .services
            .iter()
            .map(|svc| (ServiceLabels::new(&svc.key), svc))
            .collect();
        type Field = (&'static str, &'static str, fn(&Counters) -> u64);
        let fields: [Field; 5] = [
            ("connections", "Connections scheduled", |c| c.conns),
            ("incoming_packets", "Packets client to real server", |c| {
                c.in_pkts
            }),
            (
                "outgoing_packets",
                "Packets real server to client (NAT only)",
                |c| c.out_pkts,
            ),
            ("incoming_bytes", "IP bytes client to real server", |c| {
                c.in_bytes
            }),
            (
                "outgoing_bytes",
                "IP bytes real server to client (NAT only)",
                |c| c.out_bytes,
            ),
        ];
        for (what, help, f) in fields {
            family(
                e,
                &format!("lvs_service_{what}"),
                &format!("{help}, per virtual service"),
                C,
                services
                    .iter()
                    .map(|(l, svc)| (l.pairs(), ConstCounter::new(f(&svc.counters)))),
            )?;
        }
        let backends: Vec<(BackendLabels, &BackendMetrics)> = s
            .services
            .iter()
            .flat_map(|svc| {
                svc.backends
                    .iter()
                    .map(|rs| (BackendLabels::new(&svc.key, rs.addr), rs))
            })
            .collect();
        for (what, help, f) in fields {
            family(
                e,
                &format!("lvs_backend_{what}"),
                &format!("{help}, per real server of a service"),
                C,
                backends
                    .iter()
                    .map(|(l, rs)| (l.pairs(), ConstCounter::new(f(&rs.counters)))),
            )?;
        }
        family(
            e,
            "lvs_backend_connections_persistent",
            "Persistence templates pointing at the real server",
            G,
            backends
                .iter()
                .map(|(l, rs)| (l.pairs(), g64(rs.persistent_conns))),
        )?;
        family(
            e,
            "lvs_backend_health_up",
            "Health check state of the real server: 1 up, 0 down (absent when not checked)",
            G,
            backends.iter().filter_map(|(l, rs)| {
                rs.health
                    .map(|h| (l.pairs(), g64(i64::from(h == Health::Up))))
            }),
        )?;

        // lvs_: what the Director did with frames.
        counter(
            e,
            "lvs_frames_received",
            "Frames given to the Director",
            s.frames.received,
        )?;
        counter(
            e,
            "lvs_frames_forwarded",
            "Frames forwarded to a real server or client",
            s.frames.forwarded,
        )?;
        counter(
            e,
            "lvs_frames_generated",
            "Frames the Director generated (ARP/ND answers, ICMP)",
            s.frames.generated,
        )?;
        counter(
            e,
            "lvs_frames_to_host",
            "Frames left to the host stack",
            s.frames.to_host,
        )?;
        family(
            e,
            "lvs_drops",
            "Frames the Director dropped, by reason",
            C,
            s.drops
                .iter()
                .map(|(r, n)| ([("reason", r.name())], ConstCounter::new(*n))),
        )?;
        let b = &s.balancer;
        family(
            e,
            "lvs_balancer_events",
            "The balancer's own decisions, by event",
            C,
            [
                ("refused_table_full", b.refused_table_full),
                ("evicted_half_open", b.evicted_half_open),
                ("no_destination", b.no_destination),
                ("dest_unavailable", b.dest_unavailable),
                ("expired", b.expired),
                ("rescheduled", b.rescheduled),
            ]
            .map(|(ev, n)| ([("event", ev)], ConstCounter::new(n))),
        )?;
        family(
            e,
            "lvs_connection_table_entries",
            "Live entries (connections and templates) in the connection table",
            G,
            s.tables
                .iter()
                .map(|t| ([("family", family_name(t.family))], g64(t.entries))),
        )?;
        family(
            e,
            "lvs_connection_table_capacity",
            "The most entries the connection table holds",
            G,
            s.tables
                .iter()
                .map(|t| ([("family", family_name(t.family))], g64(t.capacity))),
        )?;
        gauge(
            e,
            "lvs_neighbour_cache_entries",
            "Entries in the neighbour (ARP/ND) cache",
            to_i64(s.neighbours),
        )?;
        gauge(
            e,
            "lvs_neighbour_cache_capacity",
            "The neighbour cache's capacity",
            to_i64(s.neighbour_capacity),
        )?;

        // lvs_: per port, what never reached the Director or never left.
        type PortField = (&'static str, &'static str, fn(&PortMetrics) -> u64);
        let port_fields: [PortField; 5] = [
            (
                "ring_drops",
                "Frames the kernel dropped because the receive ring was full",
                |p| p.losses.ring_drops,
            ),
            (
                "ring_freezes",
                "Times the kernel found every receive ring block owned by user space",
                |p| p.losses.ring_freezes,
            ),
            (
                "skipped_frames",
                "Frames received but not given to the Director",
                |p| p.losses.skipped,
            ),
            (
                "bad_offload",
                "Frames skipped because their offload header could not be parsed",
                |p| p.losses.bad_offload,
            ),
            (
                "send_failures",
                "Frames the port's send did not take",
                |p| p.send_failures,
            ),
        ];
        for (what, help, f) in port_fields {
            family(
                e,
                &format!("lvs_port_{what}"),
                help,
                C,
                s.ports
                    .iter()
                    .map(|p| ([("port", p.name.as_str())], ConstCounter::new(f(p)))),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
