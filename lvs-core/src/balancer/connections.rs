//! The connection listing of `ipvsadm -Lnc`: one row per connection and
//! template, with the time left before it expires.
//!
//! Operators read this to see where a client went and why (a template
//! pinning it, a TIME_WAIT entry about to be reused); embedders get it
//! without walking the tables themselves.

use core::fmt::{self, Write};
use core::net::SocketAddr;

use super::Balancer;
use crate::conn::{ConnAddr, ConnFlags, ConnTable, Slot, state_name};
use crate::time::Instant;
use alloc::vec::Vec;

/// The header line of `ipvsadm -Lnc`.
pub const CONNECTIONS_HEADER: &str = "IPVS connection entries\npro expire state       source             virtual            destination\n";

fn proto_name(p: u8) -> &'static str {
    match p {
        6 => "TCP",
        17 => "UDP",
        132 => "SCTP",
        0 => "IP",
        _ => "???",
    }
}

fn rows<A: ConnAddr, W: Write>(
    w: &mut W,
    table: &ConnTable<A, Vec<Slot<A>>>,
    now: Instant,
) -> fmt::Result {
    for (_, c) in table.iter() {
        let left = c.expires.saturating_since(now).as_secs();
        let state = if c.flags.has(ConnFlags::TEMPLATE) {
            "NONE"
        } else {
            state_name(c.protocol, c.state)
        };
        let src = SocketAddr::new(c.caddr.to_ip(), c.cport);
        let vip = SocketAddr::new(c.vaddr.to_ip(), c.vport);
        let dst = SocketAddr::new(c.daddr.to_ip(), c.dport);
        writeln!(
            w,
            "{:<3} {:02}:{:02}  {:<11} {:<18} {:<18} {}",
            proto_name(c.protocol),
            left / 60,
            left % 60,
            state,
            src,
            vip,
            dst
        )?;
    }
    Ok(())
}

impl Balancer {
    /// Write the `ipvsadm -Lnc` listing (IPv4 entries, then IPv6) as of `now`.
    /// Rows come in table order, not sorted; this walks every slot, so it is
    /// for operators, not for the packet path.
    pub fn write_connections<W: Write>(&self, w: &mut W, now: Instant) -> fmt::Result {
        w.write_str(CONNECTIONS_HEADER)?;
        rows(w, self.table_v4(), now)?;
        rows(w, self.table_v6(), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::{PacketInfo, tcp_flags};
    use crate::scheduler::{DestChange, DestId, DestView, Scheduler};
    use crate::{Flow, Forwarding, Protocol, RealServerConfig, ServiceConfig};
    use alloc::boxed::Box;
    use alloc::string::String;

    struct First;
    impl Scheduler for First {
        fn name(&self) -> &'static str {
            "first"
        }
        fn pick(&mut self, d: DestView<'_>, _: &Flow) -> Option<DestId> {
            d.iter().find(|(_, r)| r.schedulable()).map(|(id, _)| id)
        }
        fn update(&mut self, _: DestView<'_>, _: DestChange) {}
    }

    #[test]
    fn listing_rows() {
        let vip: SocketAddr = "203.0.113.10:80".parse().unwrap();
        let rs: SocketAddr = "198.51.100.11:8080".parse().unwrap();
        let mut b = Balancer::new(64, 16, 1);
        let cfg = ServiceConfig::tcp(vip).persistent(300);
        b.add_service(cfg, Box::new(First)).unwrap();
        b.add_real_server(
            &cfg.key,
            RealServerConfig::new(rs).forwarding(Forwarding::Masquerade),
        )
        .unwrap();
        let info = PacketInfo {
            protocol: Protocol::Tcp,
            src: "192.0.2.2:40000".parse().unwrap(),
            dst: vip,
            tcp_flags: tcp_flags::SYN,
            fwmark: 0,
            ip_len: 60,
        };
        b.process_in(Instant::from_secs(10), &info).unwrap();
        let mut s = String::new();
        b.write_connections(&mut s, Instant::from_secs(10)).unwrap();
        let mut lines: alloc::vec::Vec<&str> = s.lines().skip(2).collect();
        lines.sort();
        assert_eq!(
            lines,
            [
                "TCP 01:00  SYN_RECV    192.0.2.2:40000    203.0.113.10:80    198.51.100.11:8080",
                "TCP 05:00  NONE        192.0.2.2:0        203.0.113.10:80    198.51.100.11:8080",
            ]
        );
        assert!(s.starts_with(CONNECTIONS_HEADER));
    }
}
