//! `lvs-afpacket`: the lvs-rs director on existing interfaces through AF_PACKET.
//!
//! Each `--iface` gets a TPACKET_V3 receive ring (frames are processed where
//! the kernel wrote them, with headroom for VS/TUN) and becomes one link of
//! the Director, with the interface's own MAC. The kernel keeps its copy of
//! every frame: run the director in a namespace or host where IP forwarding is
//! off and the VIPs are not local, so that only this program moves VIP
//! traffic (see the README).

use std::process::ExitCode;

use clap::Parser;
use lvs_examples::cli::DirectorArgs;
use lvs_examples::io::FramePort;
use lvs_examples::io::afpacket::{Accept, AfPacketConfig, AfPacketPort, hw_addr};
use lvs_examples::runner::Runner;
use lvs_examples::signals::Signals;
use tracing::{error, info};

/// The lvs-rs director on interfaces through AF_PACKET.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    d: DirectorArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.d.log.init();
    match run(&cli.d) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The opened ports and their MACs, one per `--iface`.
type Ports = (Vec<Box<dyn FramePort>>, Vec<[u8; 6]>);

fn open_ports(args: &DirectorArgs, fanout: Option<u16>) -> std::io::Result<Ports> {
    let mut ports: Vec<Box<dyn FramePort>> = Vec::new();
    let mut macs = Vec::new();
    for name in &args.ifaces {
        let cfg = AfPacketConfig {
            promiscuous: true,
            accept: Accept {
                other_host: false,
                ..Accept::ALL_INCOMING
            },
            fanout,
            // TPACKET_V3 hands a block over when it is full or this old:
            // the bound on the latency the director adds to a quiet flow
            // (1 ms is the smallest the kernel takes).
            block_timeout_ms: 1,
            ..AfPacketConfig::default()
        };
        let port = AfPacketPort::open(name, &cfg)?;
        let mac = match args.mac {
            Some(m) if args.ifaces.len() == 1 => m.0,
            _ => hw_addr(name)?,
        };
        info!(iface = %name, mac = %lvs_examples::cli::MacAddr(mac), ?fanout, "attached");
        macs.push(mac);
        ports.push(Box::new(port));
    }
    Ok((ports, macs))
}

fn run(args: &DirectorArgs) -> std::io::Result<()> {
    if args.ifaces.is_empty() {
        return Err(std::io::Error::other("give at least one --iface"));
    }
    let signals = Signals::install()?;
    if args.fanout > 1 {
        return run_fanout(args, &signals);
    }
    let (mut ports, macs) = open_ports(args, None)?;
    let mut runner = Runner::new(args, &macs)?;
    info!(services = runner.service_keys().len(), "director running");
    runner.run(&mut ports, &signals)?;
    print!("{}", runner.stats_text());
    Ok(())
}

/// `--fanout N`: N workers in one PACKET_FANOUT_HASH group, each with its
/// own Director (connection table, schedulers, health checks). The kernel
/// hashes each flow to one worker, so a connection always meets the same
/// table; VS/DR and VS/TUN work unchanged. VS/NAT replies carry the real
/// server's address instead of the VIP and may hash to another worker,
/// which does not know the connection: use one worker for NAT. ARP/ND
/// answers, too, reach only the worker the kernel hashes them to, so the
/// other workers cannot resolve next hops by themselves: give the real
/// servers and the gateway with `--neighbor`.
fn run_fanout(args: &DirectorArgs, signals: &Signals) -> std::io::Result<()> {
    let group = (std::process::id() & 0xffff) as u16;
    if args.neighbors.is_empty() {
        tracing::warn!(
            "--fanout without --neighbor: ARP/ND answers reach one worker only; \
             give the real servers and the gateway as static neighbours"
        );
    }
    let mut workers = Vec::new();
    for w in 0..args.fanout {
        let ctl = Signals::default();
        let args = args.clone();
        let wctl = ctl.clone();
        // Sockets are opened in the worker: they stay on the thread that uses them.
        let h = std::thread::Builder::new()
            .name(format!("lvs-worker-{w}"))
            .spawn(move || -> std::io::Result<()> {
                let (mut ports, macs) = open_ports(&args, Some(group))?;
                let mut runner = Runner::new(&args, &macs)?;
                runner.run(&mut ports, &wctl)?;
                print!("worker {w}:\n{}", runner.stats_text());
                Ok(())
            })?;
        workers.push((ctl, h));
    }
    info!(
        workers = workers.len(),
        group, "director running with fanout"
    );
    while !signals.should_stop() && workers.iter().all(|(_, h)| !h.is_finished()) {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let reload = signals.take_reload();
        let stats = signals.take_stats();
        for (ctl, _) in &workers {
            if reload {
                ctl.request_reload();
            }
            if stats {
                ctl.request_stats();
            }
        }
    }
    for (ctl, _) in &workers {
        ctl.request_stop();
    }
    let mut result = Ok(());
    for (_, h) in workers {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(e),
            Err(_) => result = Err(std::io::Error::other("worker panicked")),
        }
    }
    result
}
