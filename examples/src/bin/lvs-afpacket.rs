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

fn run(args: &DirectorArgs) -> std::io::Result<()> {
    if args.ifaces.is_empty() {
        return Err(std::io::Error::other("give at least one --iface"));
    }
    if args.fanout > 1 {
        // One Director per worker would split the connection table; the
        // fanout group is for embedders that shard by flow. Say so.
        info!(
            "--fanout {}: workers share nothing; this binary runs one worker",
            args.fanout
        );
    }
    let signals = Signals::install()?;
    let mut ports: Vec<Box<dyn FramePort>> = Vec::new();
    let mut macs = Vec::new();
    for name in &args.ifaces {
        let cfg = AfPacketConfig {
            promiscuous: true,
            accept: Accept {
                other_host: false,
                ..Accept::ALL_INCOMING
            },
            ..AfPacketConfig::default()
        };
        let port = AfPacketPort::open(name, &cfg)?;
        let mac = match args.mac {
            Some(m) if args.ifaces.len() == 1 => m.0,
            _ => hw_addr(name)?,
        };
        info!(iface = %name, mac = %lvs_examples::cli::MacAddr(mac), "attached");
        macs.push(mac);
        ports.push(Box::new(port));
    }
    let mut runner = Runner::new(args, &macs)?;
    info!(services = runner.service_keys().len(), "director running");
    runner.run(&mut ports, &signals)?;
    print!("{}", runner.stats_text());
    Ok(())
}
