//! `lvs-afpacket`: the lvs-rs director on existing interfaces through AF_PACKET.
//!
//! Each `--iface` gets a receive ring (TPACKET_V2 by default, `--rx-ring v3` for
//! blocks; frames are processed and sent from where the kernel wrote them, with
//! headroom for VS/TUN) and becomes one link of
//! the Director, with the interface's own MAC, addresses, routes and
//! neighbours as the host kernel has them (rtnetlink; followed while it runs).
//! Frames carry a `virtio_net_hdr` both ways (`PACKET_VNET_HDR`), so the
//! interfaces keep their checksum and segmentation offloads on. The kernel
//! keeps its copy of every frame: run the director in a namespace or host
//! where IP forwarding is off and the VIPs have blackhole routes, so that only
//! this program moves VIP traffic (see the README).
//!
//! `--io af_xdp` serves the interfaces through AF_XDP instead (one socket per
//! receive queue, an XDP redirect program attached while the process runs; see
//! `lvs_examples::io::afxdp`): the kernel then sees no frame on them, AF_XDP
//! carries no offload metadata (the peers' checksum offload must be off), and
//! `--fanout` is refused. The binary keeps its name for both.

use std::process::ExitCode;

use clap::Parser;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex};

use lvs_examples::cli::{AfPacketCli, DirectorArgs, Io, IoArgs, XdpAttach};
use lvs_examples::control::ControlServer;
use lvs_examples::hostnet::Port;
use lvs_examples::io::FramePort;
use lvs_examples::io::afpacket::{
    Accept, AfPacketConfig, AfPacketPort, FanoutMode, RingVersion, SocketFilter, hw_addr,
    set_fanout_program_fd,
};
use lvs_examples::io::afxdp::{AfXdpConfig, AfXdpPort, AttachMode, rx_queue_count};
use lvs_examples::io::fanout::client_hash_program;
use lvs_examples::metrics::{MetricsServer, MetricsSnapshot};
use lvs_examples::runner::{ControlLink, Peers, Relay, Runner, vips_of};
use lvs_examples::signals::Signals;
use tracing::{error, info};

fn main() -> ExitCode {
    let cli = AfPacketCli::parse();
    cli.d.log.init();
    let args = cli.director_args();
    let fanout = cli.ports.fanout;
    let result = match cli.io {
        Io::Packet => run(&args, &cli.ring, fanout),
        Io::AfXdp => run_af_xdp(&args, cli.xdp_mode, fanout),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The opened ports and what the director needs to know of each.
type Ports = (Vec<AfPacketPort>, Vec<Port>);

/// Opens one port per `--iface`. With `fanout = Some((group, vips))` each joins the
/// CBPF fanout group `group + i` of its interface `i` (a fanout group lives on one
/// interface) with the client-hash program for `vips`.
fn open_ports(
    args: &DirectorArgs,
    io: &IoArgs,
    fanout: Option<(u16, &[IpAddr])>,
) -> std::io::Result<Ports> {
    let mut ports = Vec::new();
    let mut identities = Vec::new();
    for (i, name) in args.link_names().iter().enumerate() {
        let fanout_mode = match fanout {
            Some((_, vips)) => FanoutMode::Cbpf(
                client_hash_program(vips).map_err(|e| std::io::Error::other(e.to_string()))?,
            ),
            None => FanoutMode::Hash,
        };
        let cfg = AfPacketConfig {
            promiscuous: true,
            accept: Accept {
                other_host: false,
                ..Accept::ALL_INCOMING
            },
            fanout: fanout.map(|(g, _)| g.wrapping_add(i as u16)),
            fanout_mode,
            vnet_hdr: true,
            // In a fanout group, neighbour frames come through each worker's own
            // neighbour socket (below), not through the group.
            filter: if fanout.is_some() {
                SocketFilter::NoNeighbor
            } else {
                SocketFilter::All
            },
            ..io.port_config()
        };
        let port = AfPacketPort::open(name, &cfg)?;
        let (mac, follow_kernel_mac) = match args.mac {
            Some(m) => (m.0, false),
            None => (hw_addr(name)?, !args.no_netlink),
        };
        info!(iface = %name, mac = %lvs_examples::cli::MacAddr(mac), fanout = fanout.is_some(), "attached");
        identities.push(Port {
            name: name.clone(),
            mac,
            follow_kernel_mac,
        });
        ports.push(port);
    }
    Ok((ports, identities))
}

/// One worker's neighbour sockets, one per `--iface`: outside the fanout group, receiving
/// only ARP and neighbour discovery, so that every worker sees the answer to every request
/// it makes (the group would hand it to one worker). Small rings: these frames are few.
fn open_neighbor_ports(args: &DirectorArgs) -> std::io::Result<Vec<AfPacketPort>> {
    args.link_names()
        .iter()
        .map(|name| {
            let cfg = AfPacketConfig {
                accept: Accept {
                    other_host: false,
                    ..Accept::ALL_INCOMING
                },
                filter: SocketFilter::NeighborOnly,
                ring: RingVersion::V3,
                block_size: 1 << 16,
                block_count: 4,
                block_timeout_ms: 1,
                ..AfPacketConfig::default()
            };
            AfPacketPort::open(name, &cfg)
        })
        .collect()
}

/// Bytes of one worker's receive rings (one per `--iface`, sized as [`open_ports`] opens them).
fn ring_bytes(args: &DirectorArgs, io: &IoArgs) -> u64 {
    io.port_config()
        .ring_bytes()
        .saturating_mul(args.link_names().len() as u64)
}

/// The runner's busy-poll budget from `--busy-poll-us`.
fn busy_poll(io: &IoArgs) -> std::time::Duration {
    std::time::Duration::from_micros(io.busy_poll_us)
}

fn boxed(ports: Vec<AfPacketPort>) -> Vec<Box<dyn FramePort>> {
    ports
        .into_iter()
        .map(|p| Box::new(p) as Box<dyn FramePort>)
        .collect()
}

fn run(args: &DirectorArgs, io: &IoArgs, fanout: u16) -> std::io::Result<()> {
    if args.link_names().is_empty() {
        return Err(std::io::Error::other("give at least one --iface"));
    }
    args.check_links().map_err(std::io::Error::other)?;
    // Before any socket, ring or table exists: refuse what cannot be allocated.
    lvs_examples::memory::check_args(args, fanout, ring_bytes(args, io))
        .map_err(std::io::Error::other)?;
    let signals = Signals::install()?;
    if fanout > 1 {
        return run_fanout(args, io, fanout, &signals);
    }
    let (ports, ids) = open_ports(args, io, None)?;
    let mut ports = boxed(ports);
    let mut runner = Runner::new(args, ids)?.with_busy_poll(busy_poll(io));
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
    info!(services = runner.service_keys().len(), "director running");
    runner.run(&mut ports, &signals)?;
    print!("{}", runner.stats_text());
    Ok(())
}

/// `--fanout N`: N workers in one AF_PACKET fanout group, each with its own
/// Director (connection table, schedulers, health checks). A classic BPF
/// program steers every frame by the client side of its flow: the source of
/// a frame to a VIP, the destination of anything else. So a client's requests
/// and a NAT real server's replies to it (which carry the client as their
/// destination) reach the same worker, and VS/NAT, VS/DR and VS/TUN all work
/// on every core. When a reload changes the VIPs the program is replaced.
/// Neighbours a worker learns from the wire are passed to the others.
fn run_fanout(
    args: &DirectorArgs,
    io: &IoArgs,
    fanout: u16,
    signals: &Signals,
) -> std::io::Result<()> {
    let group = (std::process::id() & 0xffff) as u16;
    // The first program is built from the rules as they are now; the workers
    // replace it whenever a reload changes the VIPs.
    let rules = match (&args.rules, &args.keepalived_conf) {
        (Some(path), _) => {
            let text =
                lvs_examples::rules_file::read_rules_file(path).map_err(std::io::Error::other)?;
            lvs_core::config::parse(&text).map_err(|e| std::io::Error::other(e.to_string()))?
        }
        (None, Some(path)) => lvs_examples::runner::health::load_keepalived(path)?.config,
        (None, None) => lvs_core::config::Config::default(),
    };
    let vips = vips_of(&rules);
    // The kernel numbers a group's members in the order they join, and the
    // program's answer picks a member by that number. Worker w must be member
    // w of every interface's group, or a NAT reply arriving on the server LAN
    // would reach another worker than its request on the client side: so all
    // sockets are opened here, worker by worker, before any thread starts.
    let mut opened = Vec::new();
    for _ in 0..fanout {
        let (mut ports, ids) = open_ports(args, io, Some((group, &vips)))?;
        // Ports past the links are each link's neighbour socket (the runner maps port
        // i to link i mod links).
        ports.extend(open_neighbor_ports(args)?);
        opened.push((ports, ids));
    }
    // One endpoint for the group: each worker publishes into its own slot and
    // this thread adds the slots up into the one the server reads.
    let metrics = match args.metrics {
        Some(addr) => {
            let shared = Arc::new(Mutex::new(MetricsSnapshot::default()));
            let server = MetricsServer::spawn(addr, shared.clone())?;
            info!(addr = %server.local_addr(), "metrics at /metrics");
            let slots: Vec<_> = (0..fanout)
                .map(|_| Arc::new(Mutex::new(MetricsSnapshot::default())))
                .collect();
            Some((server, shared, slots))
        }
        None => None,
    };
    let mut last_merge = std::time::Instant::now();
    // lvsadm: the main thread owns the socket and relays each request to every worker.
    let (mut relay, mut inboxes) = if args.no_control {
        (None, Vec::new())
    } else {
        let server = ControlServer::bind(&args.control)?;
        info!(path = %args.control.display(), "control socket (lvsadm), relayed to every worker");
        let (r, links) = Relay::new(server, usize::from(fanout));
        (Some(r), links)
    };
    inboxes.reverse();
    let mut workers = Vec::new();
    for (w, (peers, (ports, ids))) in Peers::group(usize::from(fanout))
        .into_iter()
        .zip(opened)
        .enumerate()
    {
        let ctl = Signals::default();
        let args = args.clone();
        let wctl = ctl.clone();
        let slot = metrics.as_ref().map(|(_, _, slots)| slots[w].clone());
        let inbox = inboxes.pop();
        let spin = busy_poll(io);
        let h = std::thread::Builder::new()
            .name(format!("lvs-worker-{w}"))
            .spawn(move || -> std::io::Result<()> {
                // Any member's socket replaces the program of its group; the
                // descriptors stay valid while `ports` lives, which outlives the
                // runner's use of them.
                let steer: Vec<RawFd> = ports
                    .iter()
                    .take(args.link_names().len())
                    .map(|p| p.as_raw_fd())
                    .collect();
                let mut ports = boxed(ports);
                let mut runner = Runner::new(&args, ids)?
                    .with_busy_poll(spin)
                    .with_peers(peers)
                    .with_vips_hook(Box::new(move |vips| match client_hash_program(vips) {
                        Ok(p) => {
                            for fd in &steer {
                                if let Err(e) = set_fanout_program_fd(*fd, &p) {
                                    tracing::warn!("fanout program: {e}");
                                }
                            }
                        }
                        Err(e) => tracing::warn!("fanout program: {e}"),
                    }));
                if let Some(slot) = slot {
                    runner = runner.with_metrics(slot);
                }
                if let Some(inbox) = inbox {
                    runner = runner.with_control(inbox);
                }
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
        if let Some(r) = relay.as_mut() {
            r.poll();
        }
        if let Some((_, shared, slots)) = &metrics
            && last_merge.elapsed() >= lvs_examples::metrics::PUBLISH_INTERVAL
        {
            last_merge = std::time::Instant::now();
            let mut sum = MetricsSnapshot::default();
            for s in slots {
                if let Ok(g) = s.lock() {
                    sum.merge(&g);
                }
            }
            if let Ok(mut g) = shared.lock() {
                *g = sum;
            }
        }
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

/// The AF_XDP settings for interface `name` (its MAC decides which frames are lent).
fn af_xdp_config(mac: [u8; 6], mode: XdpAttach) -> AfXdpConfig {
    AfXdpConfig {
        attach: match mode {
            XdpAttach::Auto => AttachMode::Auto,
            XdpAttach::Native => AttachMode::Native,
            XdpAttach::Generic => AttachMode::Generic,
        },
        mac: Some(mac),
        // As the AF_PACKET ports: a --mac that is not the interface's own still arrives.
        promiscuous: true,
        ..AfXdpConfig::default()
    }
}

/// `--io af_xdp`: one AF_XDP port per `--iface`, one worker.
///
/// `--fanout` is refused: the NIC's receive-side scaling spreads the two directions of a
/// VS/NAT connection over different queues, so one worker per queue would split connections
/// between connection tables (see `lvs_examples::io::afxdp`).
fn run_af_xdp(args: &DirectorArgs, mode: XdpAttach, fanout: u16) -> std::io::Result<()> {
    if args.link_names().is_empty() {
        return Err(std::io::Error::other("give at least one --iface"));
    }
    if fanout > 1 {
        return Err(std::io::Error::other(
            "--fanout is not supported with --io af_xdp: one worker serves every receive \
             queue (a per-queue worker would split NAT connections between tables)",
        ));
    }
    args.check_links().map_err(std::io::Error::other)?;
    let umem: u64 = args
        .link_names()
        .iter()
        .map(|i| AfXdpConfig::default().umem_bytes(rx_queue_count(i).unwrap_or(1)))
        .sum();
    lvs_examples::memory::check_args(args, 1, umem).map_err(std::io::Error::other)?;
    let signals = Signals::install()?;
    let mut ports: Vec<Box<dyn FramePort>> = Vec::new();
    let mut ids = Vec::new();
    for name in args.link_names() {
        let (mac, follow_kernel_mac) = match args.mac {
            Some(m) => (m.0, false),
            None => (hw_addr(name)?, !args.no_netlink),
        };
        let port = AfXdpPort::open(name, &af_xdp_config(mac, mode))?;
        info!(
            iface = %name,
            mac = %lvs_examples::cli::MacAddr(mac),
            xdp = %port.mode(),
            queues = port.queues(),
            zero_copy = port.zero_copy(),
            "attached (AF_XDP)"
        );
        ids.push(Port {
            name: name.clone(),
            mac,
            follow_kernel_mac,
        });
        ports.push(Box::new(port));
    }
    let mut runner = Runner::new(args, ids)?;
    info!(
        services = runner.service_keys().len(),
        "director running (AF_XDP)"
    );
    runner.run(&mut ports, &signals)?;
    print!("{}", runner.stats_text());
    Ok(())
}
