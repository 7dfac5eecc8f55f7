//! `lvs-ipip-decap`: the real-server side of VS/TUN for hosts without tunnel modules.
//!
//! Reads the frames addressed to this host on one interface (AF_PACKET, `PACKET_HOST` only),
//! recognises IPIP, 6in4, ip6ip6, 4in6 and GUE, strips the outer header and writes the inner
//! packet into a TUN device, where the kernel receives it as if it had arrived directly. With
//! the VIP on `lo` and `rp_filter` off, the kernel then answers the client directly.
//!
//! Everything else the interface receives is left alone: the kernel still gets its own copy of
//! every frame (a packet socket only taps the traffic), so ARP, SSH and the rest keep working.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use lvs_examples::decap::{Encap, decapsulate_frame};
use lvs_examples::io::afpacket::{Accept, AfPacketConfig, AfPacketPort};
use lvs_examples::io::tap::TunTap;
use lvs_examples::io::{FramePort, FrameTx, RxFrame};
use lvs_examples::signals::Signals;

use lvs_examples::cli::DecapCli as Cli;

/// What happened to the frames seen so far.
#[derive(Debug, Default)]
struct Counters {
    decapsulated: BTreeMap<&'static str, u64>,
    ignored: BTreeMap<&'static str, u64>,
    truncated: u64,
    write_errors: u64,
}

impl Counters {
    fn total_decapsulated(&self) -> u64 {
        self.decapsulated.values().sum()
    }

    fn total_ignored(&self) -> u64 {
        self.ignored.values().sum::<u64>() + self.truncated
    }

    fn report(&self) -> String {
        let mut s = format!(
            "decapsulated={} ignored={} write_errors={}",
            self.total_decapsulated(),
            self.total_ignored(),
            self.write_errors
        );
        for (k, v) in &self.decapsulated {
            s.push_str(&format!(" decap.{k}={v}"));
        }
        for (k, v) in &self.ignored {
            s.push_str(&format!(" ignored.{k}={v}"));
        }
        if self.truncated > 0 {
            s.push_str(&format!(" ignored.truncated={}", self.truncated));
        }
        s
    }
}

fn encap_name(e: Encap) -> &'static str {
    match e {
        Encap::Ipip => "ipip",
        Encap::SixIn4 => "6in4",
        Encap::Ip6Ip6 => "ip6ip6",
        Encap::FourIn6 => "4in6",
        Encap::Gue => "gue",
    }
}

fn run(cli: &Cli) -> Result<Counters, String> {
    let signals = Signals::install().map_err(|e| format!("signal handlers: {e}"))?;
    let mut tun = TunTap::tun(&cli.tun).map_err(|e| format!("TUN {}: {e}", cli.tun))?;
    tun.set_up()
        .map_err(|e| format!("bringing {} up: {e}", FramePort::name(&tun)))?;
    let cfg = AfPacketConfig {
        accept: Accept::HOST_ONLY,
        block_size: 1 << 17,
        block_count: 8,
        ..AfPacketConfig::default()
    };
    let mut port = AfPacketPort::open(&cli.iface, &cfg)
        .map_err(|e| format!("AF_PACKET {}: {e}", cli.iface))?;
    tracing::info!(
        iface = %cli.iface,
        tun = FramePort::name(&tun),
        gue_port = ?cli.gue_port,
        "decapsulating"
    );

    let mut c = Counters::default();
    let stats_every =
        (cli.stats_interval_secs > 0).then(|| Duration::from_secs(cli.stats_interval_secs));
    let mut last_stats = Instant::now();
    while !signals.should_stop() {
        let mut on_frame = |frame: RxFrame<'_>, _tx: &mut dyn FrameTx| {
            let data = frame.data();
            if frame.meta.truncated(data.len()) {
                c.truncated += 1;
                return;
            }
            match decapsulate_frame(data, cli.gue_port) {
                Ok(d) => {
                    tracing::trace!(encap = ?d.encap, src = %d.outer_src, dst = %d.outer_dst,
                        len = d.inner.len(), "decapsulated");
                    match tun.send(&data[d.inner]) {
                        Ok(()) => *c.decapsulated.entry(encap_name(d.encap)).or_default() += 1,
                        Err(e) => {
                            c.write_errors += 1;
                            tracing::debug!(error = %e, "TUN write failed");
                        }
                    }
                }
                Err(why) => {
                    tracing::trace!(reason = %why, "ignored");
                    *c.ignored.entry(why.name()).or_default() += 1;
                }
            }
        };
        match port.recv_batch(Some(Duration::from_millis(100)), &mut on_frame) {
            Ok(_) => {}
            // The interface went down (or away): keep waiting, it may come back.
            Err(e) if e.raw_os_error() == Some(libc::ENETDOWN) => {
                tracing::warn!(iface = %cli.iface, "interface down");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(format!("receive on {}: {e}", cli.iface)),
        }
        let periodic = stats_every.is_some_and(|every| last_stats.elapsed() >= every);
        if signals.take_stats() || periodic {
            last_stats = Instant::now();
            tracing::info!("{}", c.report());
        }
    }
    Ok(c)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.log.init();
    match run(&cli) {
        Ok(c) => {
            let line = c.report();
            tracing::info!("stopped: {line}");
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("lvs-ipip-decap: {e}");
            ExitCode::FAILURE
        }
    }
}
