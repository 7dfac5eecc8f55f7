//! `lvs-tap`: the lvs-rs director on a TAP device.
//!
//! The program creates (or attaches to) each `--tap` device; each is one link
//! of the Director, a host with its own MAC (`--mac`, or the TAP's own with
//! the last bit flipped) and the addresses, routes and neighbours the host
//! kernel has configured ON THE TAP DEVICE (`ip addr add 192.0.2.1/24 dev
//! tap1`; followed while it runs), completed by `--addr`/`--gateway`/
//! `--neighbor`. A bridged TAP's own addresses are not used by the kernel to
//! receive (frames go to the bridge), so they describe the director's leg; set
//! `arp_ignore=1` so the kernel does not answer ARP for them on the bridge.
//! The kernel completes checksums and segments before writing into a TAP
//! without offloads, so frames arrive as a wire carries them.

use std::process::ExitCode;

use clap::Parser;
use lvs_examples::cli::{DirectorArgs, MacAddr, TapCli};
use std::sync::{Arc, Mutex};

use lvs_examples::control::ControlServer;
use lvs_examples::hostnet::Port;
use lvs_examples::io::FramePort;
use lvs_examples::io::afpacket::hw_addr;
use lvs_examples::io::tap::TunTap;
use lvs_examples::metrics::{MetricsServer, MetricsSnapshot};
use lvs_examples::runner::{ControlLink, Runner};
use lvs_examples::signals::Signals;
use tracing::{error, info};

fn main() -> ExitCode {
    let cli = TapCli::parse();
    cli.d.log.init();
    match run(&cli.director_args()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &DirectorArgs) -> std::io::Result<()> {
    if args.link_names().is_empty() {
        return Err(std::io::Error::other("give at least one --tap NAME"));
    }
    args.check_links().map_err(std::io::Error::other)?;
    // One worker, no rings (a TAP is read one frame at a time).
    lvs_examples::memory::check_args(args, 1, 0).map_err(std::io::Error::other)?;
    let signals = Signals::install()?;
    let mut ports: Vec<Box<dyn FramePort>> = Vec::new();
    let mut ids = Vec::new();
    for name in args.link_names() {
        let tap = TunTap::tap(name)?;
        tap.set_up()?;
        let mac = match args.mac {
            Some(m) => m.0,
            None => {
                // The TAP's own MAC belongs to the kernel's end (a bridge delivers frames
                // for it locally): the director's must differ.
                let mut m = hw_addr(name)?;
                m[5] ^= 1;
                m
            }
        };
        info!(tap = %name, mac = %MacAddr(mac), "TAP ready");
        ports.push(Box::new(tap));
        ids.push(Port {
            name: name.clone(),
            mac,
            follow_kernel_mac: false,
        });
    }
    let mut runner = Runner::new(args, ids)?;
    if !args.no_control {
        let server = ControlServer::bind(&args.control)?;
        info!(path = %args.control.display(), "control socket (lvsadm)");
        runner = runner.with_control(ControlLink::Socket(server));
    }
    let _metrics = match args.metrics {
        Some(addr) => {
            let slot = Arc::new(Mutex::new(MetricsSnapshot::default()));
            let server = MetricsServer::spawn(addr, slot.clone())?;
            info!(addr = %server.local_addr(), "metrics at /metrics");
            runner = runner.with_metrics(slot);
            Some(server)
        }
        None => None,
    };
    runner.run(&mut ports, &signals)?;
    print!("{}", runner.stats_text());
    Ok(())
}
