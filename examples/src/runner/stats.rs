//! What the runner reports: the statistics text, per-port losses and metrics snapshots.
//!
//! The statistics text counts what the Director never saw or could not get
//! out, per port: ring drops and freezes the kernel reports
//! ([`FramePort::losses`], polled every second because the kernel's counters
//! reset on read and are 32 bits wide), frames the port skipped, and frames a
//! send did not take. Under a flood these are most of the losses, and a
//! listing that says "dropped 0" while a third of new flows fail sends the
//! operator looking in the wrong place. The same accounts, with the health verdicts,
//! go into the metrics snapshot published for the metrics server.

use std::net::SocketAddr;
use std::time::Duration;

use lvs_core::ServiceKey;
use lvs_core::config::listing::{ListFormat, ListOptions};

use super::Runner;
use crate::health::Health;
use crate::io::{FramePort, PortLosses};
use crate::metrics::{self, MetricsSnapshot, PortMetrics};

/// How often the ports' loss counters are read (the kernel's reset on read and are 32 bits).
pub(super) const LOSS_POLL: Duration = Duration::from_secs(1);

/// What one port lost, as the statistics text shows it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct PortAccount {
    pub(super) name: String,
    pub(super) losses: PortLosses,
    /// Frames the Director forwarded or generated that the port's send did not take.
    pub(super) send_failures: u64,
}

impl Runner {
    pub(super) fn publish_metrics(&mut self) {
        let Some(slot) = self.metrics.clone() else {
            return;
        };
        self.last_metrics = std::time::Instant::now();
        let ports: Vec<PortMetrics> = self
            .accounts
            .iter()
            .map(|a| PortMetrics {
                name: a.name.clone(),
                losses: a.losses,
                send_failures: a.send_failures,
            })
            .collect();
        let down = &self.down;
        let health = |k: &ServiceKey, a: SocketAddr| {
            down.get(&(*k, a))
                .map(|d| if *d { Health::Down } else { Health::Up })
        };
        let director = &self.director;
        metrics::try_publish(&slot, || {
            MetricsSnapshot::from_director(director, &health, ports)
        });
    }

    /// The `ipvsadm -Ln --stats` listing plus the drop counters and, per port, the frames
    /// lost before or after the Director (as of the last time the ports were polled: every
    /// second while [`Runner::run`] runs, and when it returns).
    pub fn stats_text(&self) -> String {
        let mut s = self.director.listing(
            &ListOptions::new(ListFormat::Stats)
                .table_size(self.director.config().conn_capacity_v4 as u32),
        );
        let d = self.director.drops();
        let ring: u64 = self.accounts.iter().map(|a| a.losses.ring_drops).sum();
        let unsent: u64 = self.accounts.iter().map(|a| a.send_failures).sum();
        s.push_str(&format!(
            "frames in {} forwarded {} generated {} to-host {} dropped {} ring drops {ring} send failures {unsent}\n",
            d.frames_in,
            d.forwarded,
            d.generated,
            d.to_host,
            d.total()
        ));
        for (r, n) in d.iter().filter(|(_, n)| *n > 0) {
            s.push_str(&format!("  drop {}: {n}\n", r.name()));
        }
        for a in &self.accounts {
            let l = &a.losses;
            s.push_str(&format!(
                "  port {}: ring drops {} freezes {} skipped {} (bad offload {}) send failures {}\n",
                a.name, l.ring_drops, l.ring_freezes, l.skipped, l.bad_offload, a.send_failures
            ));
        }
        s
    }

    /// Reads every port's loss counters into the statistics.
    pub(super) fn poll_losses(&mut self, ports: &mut [Box<dyn FramePort>]) {
        self.last_losses = std::time::Instant::now();
        self.ensure_accounts(ports);
        for (a, p) in self.accounts.iter_mut().zip(ports.iter_mut()) {
            a.losses = p.losses();
        }
    }

    /// One account per port, named after it.
    pub(super) fn ensure_accounts(&mut self, ports: &[Box<dyn FramePort>]) {
        if self.accounts.len() != ports.len() {
            self.accounts.resize_with(ports.len(), PortAccount::default);
        }
        for (a, p) in self.accounts.iter_mut().zip(ports) {
            if a.name != p.name() {
                a.name = p.name().to_string();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::DirectorArgs;
    use crate::hostnet::Port;
    use crate::io::{FrameTx, RxFrame};
    use crate::io::{OnFrame, PacketKind, RxMeta};
    use clap::Parser;
    use lvs_forwarding::{MacAddr, Offload};
    use std::collections::VecDeque;
    use std::io;
    use std::net::Ipv4Addr;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        d: DirectorArgs,
    }

    /// A port whose ring "dropped" frames and whose sends all fail (a full device queue).
    struct LossyPort {
        rx: VecDeque<Vec<u8>>,
        buf: Vec<u8>,
        attempts: u64,
    }

    struct FailingTx<'a>(&'a mut u64);

    impl FrameTx for FailingTx<'_> {
        fn send(&mut self, _: &[u8]) -> io::Result<()> {
            *self.0 += 1;
            Err(io::Error::from_raw_os_error(libc::ENOBUFS))
        }
    }

    impl FrameTx for LossyPort {
        fn send(&mut self, frame: &[u8]) -> io::Result<()> {
            FailingTx(&mut self.attempts).send(frame)
        }
    }

    impl FramePort for LossyPort {
        fn name(&self) -> &str {
            "lossy0"
        }

        fn recv_batch(&mut self, _: Option<Duration>, f: &mut OnFrame<'_>) -> io::Result<usize> {
            let mut n = 0;
            while let Some(frame) = self.rx.pop_front() {
                self.buf.clear();
                self.buf.resize(crate::io::DEFAULT_HEADROOM, 0);
                self.buf.extend_from_slice(&frame);
                let meta = RxMeta {
                    timestamp: Duration::ZERO,
                    kind: PacketKind::Broadcast,
                    wire_len: frame.len(),
                    csum_partial: false,
                    offload: Offload::NONE,
                };
                let mut tx = FailingTx(&mut self.attempts);
                f(
                    RxFrame::new(&mut self.buf, crate::io::DEFAULT_HEADROOM, meta),
                    &mut tx,
                );
                n += 1;
            }
            Ok(n)
        }

        fn losses(&mut self) -> PortLosses {
            PortLosses {
                ring_drops: 7,
                ring_freezes: 2,
                skipped: 3,
                bad_offload: 1,
            }
        }
    }

    /// Ring drops reported by a port and a reply its send refused both show in the
    /// statistics text, on the counters line and on the port's own line.
    #[test]
    fn stats_text_shows_port_losses_and_send_failures() {
        let rules =
            std::env::temp_dir().join(format!("lvs-runner-loss-{}.rules", std::process::id()));
        std::fs::write(
            &rules,
            "-A -t 203.0.113.10:80 -s rr\n-a -t 203.0.113.10:80 -r 192.0.2.11:80 -m -w 1\n",
        )
        .unwrap();
        let cli = Cli::try_parse_from([
            "lvs",
            "--rules",
            rules.to_str().unwrap(),
            "--no-netlink",
            "--addr",
            "192.0.2.1/24",
        ])
        .unwrap();
        let port = Port {
            name: "lossy0".into(),
            mac: [2, 0, 0, 0, 0, 1],
            follow_kernel_mac: false,
        };
        let mut runner = Runner::new(&cli.d.with_links(vec!["lossy0".into()]), vec![port]).unwrap();
        std::fs::remove_file(&rules).ok();
        // An ARP request for the director's address: the Director answers it.
        let mut arp = vec![0u8; 64];
        let len = lvs_forwarding::xform::arp_request(
            &mut arp,
            MacAddr([2, 0, 0, 0, 0, 2]),
            Ipv4Addr::new(192, 0, 2, 2),
            Ipv4Addr::new(192, 0, 2, 1),
        )
        .unwrap();
        arp.truncate(len);
        let mut ports: Vec<Box<dyn FramePort>> = vec![Box::new(LossyPort {
            rx: VecDeque::from([arp]),
            buf: Vec::new(),
            attempts: 0,
        })];
        assert_eq!(runner.receive(&mut ports, 0, Duration::ZERO).unwrap(), 1);
        runner.poll_losses(&mut ports);
        let text = runner.stats_text();
        assert!(
            text.contains("generated 1 to-host 0 dropped 0 ring drops 7 send failures 1\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "  port lossy0: ring drops 7 freezes 2 skipped 3 (bad offload 1) send failures 1\n"
            ),
            "{text}"
        );
    }
}
