//! `lvs-pcap`: the lvs-rs director offline, for what-if studies and tests.
//!
//! Reads a capture, processes every frame in order with the frame's own
//! timestamp as the clock, writes what the director would send to an output
//! capture, and prints the `ipvsadm -Ln --stats` listing at the end.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use lvs_core::Instant;
use lvs_core::config::listing::{ListFormat, ListOptions};
use lvs_examples::cli::{Cidr, LogArgs, MacAddr, Neighbor};
use lvs_examples::io::pcap::{PcapReader, PcapWriter, TsResolution};
use lvs_forwarding::{Director, DirectorConfig, IpCidr, Verdict};

/// Run the director over a pcap file.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Rules in `ipvsadm -S -n` format.
    #[arg(long, value_name = "FILE")]
    rules: PathBuf,
    /// Input capture (Ethernet).
    #[arg(long = "in", value_name = "IN.pcap")]
    input: PathBuf,
    /// Output capture: every frame the director would send.
    #[arg(long = "out", value_name = "OUT.pcap")]
    output: PathBuf,
    /// The director's MAC.
    #[arg(long)]
    mac: MacAddr,
    /// The director's addresses (repeatable).
    #[arg(long = "addr", value_name = "CIDR")]
    addrs: Vec<Cidr>,
    /// Default gateway.
    #[arg(long)]
    gateway: Option<IpAddr>,
    /// Static neighbour (repeatable).
    #[arg(long = "neighbor", value_name = "IP=MAC")]
    neighbors: Vec<Neighbor>,
    /// Also print the connection entries left at the end (`ipvsadm -Lnc`).
    #[arg(long)]
    connections: bool,
    /// Logging.
    #[command(flatten)]
    log: LogArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.log.init();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lvs-pcap: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), Box<dyn std::error::Error>> {
    let rules = lvs_examples::rules_file::read_rules_file(&cli.rules)?;
    let addrs: Vec<IpCidr> = cli
        .addrs
        .iter()
        .map(|c| IpCidr::new(c.addr, c.prefix_len))
        .collect();
    let mut cfg = DirectorConfig::single_link(lvs_forwarding::MacAddr(cli.mac.0), &addrs);
    match cli.gateway {
        Some(IpAddr::V4(g)) => cfg.gateway_v4 = Some(g),
        Some(IpAddr::V6(g)) => cfg.gateway_v6 = Some(g),
        None => {}
    }
    cfg.neighbors = cli
        .neighbors
        .iter()
        .map(|n| (n.ip, lvs_forwarding::MacAddr(n.mac.0)))
        .collect();
    let mut d = Director::from_rules(cfg, &rules)?;

    let mut reader = PcapReader::new(BufReader::new(File::open(&cli.input)?))?;
    let mut writer = PcapWriter::new(
        BufWriter::new(File::create(&cli.output)?),
        TsResolution::Nano,
    )?;
    const HEAD: usize = 128;
    let mut record = Vec::new();
    let mut buf = vec![0u8; HEAD + 65_536];
    let mut out = vec![0u8; 4096];
    let (mut frames, mut sent) = (0u64, 0u64);
    let mut last = Instant::ZERO;
    while let Some(h) = reader.next_into(&mut record)? {
        frames += 1;
        let now = Instant::from_millis(h.timestamp.as_millis() as u64);
        last = now;
        if d.next_timeout().is_some_and(|t| t <= now) {
            d.on_timeout(now);
        }
        let len = record.len().min(buf.len() - HEAD);
        buf[HEAD..HEAD + len].copy_from_slice(&record[..len]);
        match d.process(now, 0, &mut buf, HEAD, len, &mut out) {
            Verdict::Forward { start, len, .. } => {
                writer.write(h.timestamp, &buf[start..start + len])?;
                sent += 1;
            }
            Verdict::Reply { len, .. } => {
                writer.write(h.timestamp, &out[..len])?;
                sent += 1;
            }
            _ => {}
        }
        while let Some((_, len)) = d.poll_transmit(&mut out) {
            writer.write(h.timestamp, &out[..len])?;
            sent += 1;
        }
    }
    writer.flush()?;
    print!("{}", d.listing(&ListOptions::new(ListFormat::Stats)));
    if cli.connections {
        let mut s = String::new();
        d.balancer().write_connections(&mut s, last)?;
        print!("{s}");
    }
    let dr = d.drops();
    println!(
        "frames in {frames}, frames out {sent}, dropped {}",
        dr.total()
    );
    for (r, n) in dr.iter().filter(|(_, n)| *n > 0) {
        println!("  drop {}: {n}", r.name());
    }
    Ok(())
}
