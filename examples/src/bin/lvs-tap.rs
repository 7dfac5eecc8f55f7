//! `lvs-tap`: the lvs-rs director on a TAP device.
//!
//! The program creates (or attaches to) the TAP device and is a host on it
//! with its own MAC (`--mac`) and addresses (`--addr`): it answers ARP/ND for
//! them and for the VIPs, and forwards as the rules say. Bridge the TAP to the
//! network the clients and real servers are on.

use std::process::ExitCode;

use clap::Parser;
use lvs_examples::cli::DirectorArgs;
use lvs_examples::io::FramePort;
use lvs_examples::io::tap::TunTap;
use lvs_examples::runner::Runner;
use lvs_examples::signals::Signals;
use tracing::{error, info};

/// The lvs-rs director on a TAP device.
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
    let Some(name) = &args.tap else {
        return Err(std::io::Error::other("give --tap NAME"));
    };
    let Some(mac) = args.mac else {
        return Err(std::io::Error::other(
            "give --mac MAC: the director's address on the TAP",
        ));
    };
    let signals = Signals::install()?;
    let tap = TunTap::tap(name)?;
    tap.set_up()?;
    info!(tap = %name, %mac, "TAP ready");
    let mut ports: Vec<Box<dyn FramePort>> = vec![Box::new(tap)];
    let mut runner = Runner::new(args, &[mac.0])?;
    runner.run(&mut ports, &signals)?;
    print!("{}", runner.stats_text());
    Ok(())
}
