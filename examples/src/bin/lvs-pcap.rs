//! `lvs-pcap`: the lvs-rs director offline, for what-if studies and tests.
//!
//! Reads a capture, processes every frame in order with the frame's own
//! timestamp as the clock, writes what the director would send to an output
//! capture, and prints the `ipvsadm -Ln --stats` listing at the end.
//!
//! An offline run cannot answer the director's ARP and neighbour requests:
//! a frame whose next hop has no `--neighbor` waits in the hold queue for an
//! answer that never comes (or is dropped when the resolution gives up).
//! Such frames are neither sent nor counted as dropped by the director, so
//! the summary counts them itself and names each next hop that lacked a MAC
//! with the flag that would have supplied it; without that, a capture with
//! half its frames missing read "dropped 0".

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::net::IpAddr;
use std::process::ExitCode;

use clap::Parser;
use lvs_core::Instant;
use lvs_core::config::listing::{ListFormat, ListOptions};
use lvs_examples::io::pcap::{PcapReader, PcapWriter, TsResolution};
use lvs_forwarding::{Director, DirectorConfig, IpCidr, Verdict};
use tracing::debug;

use lvs_examples::cli::PcapCli as Cli;

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
    // Frames dropped because their next hop's resolution gave up, per next hop.
    let mut failed: BTreeMap<(IpAddr, usize), u64> = BTreeMap::new();
    while let Some(h) = reader.next_into(&mut record)? {
        frames += 1;
        let now = Instant::from_millis(h.timestamp.as_millis() as u64);
        last = now;
        if d.next_timeout().is_some_and(|t| t <= now) {
            let before = held_by_next_hop(&d);
            d.on_timeout(now);
            // A timeout only discards held frames (a resolution failed); it never sends them.
            let after = held_by_next_hop(&d);
            for (hop, n) in before {
                let gone = n - after.get(&hop).copied().unwrap_or(0).min(n);
                if gone > 0 {
                    debug!(next_hop = %hop.0, link = hop.1, frames = gone, "resolution failed: held frames dropped");
                    *failed.entry(hop).or_default() += gone;
                }
            }
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
            Verdict::Held => {
                if let Some((hop, link)) = d.last_held() {
                    debug!(frame = frames, next_hop = %hop, link, "held: no MAC for the next hop yet");
                }
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
    let held = held_by_next_hop(&d);
    let n_held: u64 = held.values().sum();
    println!(
        "frames in {frames}, frames out {sent}, dropped {}, held {n_held}",
        dr.total()
    );
    for (r, n) in dr.iter().filter(|(_, n)| *n > 0) {
        println!("  drop {}: {n}", r.name());
    }
    print!("{}", unresolved_report(&held, &failed, d.unresolved()));
    Ok(())
}

/// Frames held per `(next hop, link)`.
fn held_by_next_hop(d: &Director) -> BTreeMap<(IpAddr, usize), u64> {
    let mut m = BTreeMap::new();
    for hop in d.held_frames() {
        *m.entry(hop).or_default() += 1;
    }
    m
}

/// One line per next hop that lacked a MAC: frames still held at the end, frames dropped when
/// its resolution gave up, and next hops still being resolved with nothing held.
fn unresolved_report(
    held: &BTreeMap<(IpAddr, usize), u64>,
    failed: &BTreeMap<(IpAddr, usize), u64>,
    unresolved: impl Iterator<Item = IpAddr>,
) -> String {
    let mut s = String::new();
    let hint = |ip: &IpAddr| format!("give --neighbor {ip}=MAC");
    for ((ip, link), n) in held {
        s.push_str(&format!(
            "held {n} frames: no MAC for {ip} (link {link}) — {}\n",
            hint(ip)
        ));
    }
    for ((ip, link), n) in failed {
        s.push_str(&format!(
            "dropped {n} frames: no MAC for {ip} (link {link}), resolution failed — {}\n",
            hint(ip)
        ));
    }
    let mut rest: Vec<IpAddr> = unresolved
        .filter(|ip| !held.keys().any(|(h, _)| h == ip))
        .collect();
    rest.sort();
    for ip in rest {
        s.push_str(&format!("unresolved: no MAC for {ip} — {}\n", hint(&ip)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_names_each_next_hop_and_the_flag() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let held = BTreeMap::from([((ip("198.51.100.11"), 0), 9)]);
        let failed = BTreeMap::from([((ip("2001:db8::11"), 1), 2)]);
        let r = unresolved_report(
            &held,
            &failed,
            [ip("198.51.100.11"), ip("192.0.2.7")].into_iter(),
        );
        assert_eq!(
            r,
            "held 9 frames: no MAC for 198.51.100.11 (link 0) — give --neighbor 198.51.100.11=MAC\n\
             dropped 2 frames: no MAC for 2001:db8::11 (link 1), resolution failed — give --neighbor 2001:db8::11=MAC\n\
             unresolved: no MAC for 192.0.2.7 — give --neighbor 192.0.2.7=MAC\n"
        );
        assert_eq!(
            unresolved_report(&BTreeMap::new(), &BTreeMap::new(), std::iter::empty()),
            ""
        );
    }
}
