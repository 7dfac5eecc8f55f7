//! The offline director on the bundled capture: every frame comes out, the
//! requests go to the three real servers in rr order, the replies leave
//! from the VIP, and the listing counts them.

use std::fs::File;
use std::io::BufReader;
use std::net::IpAddr;
use std::process::Command;

use lvs_examples::io::pcap::PcapReader;
use lvs_forwarding::wire::parse_frame;

#[test]
fn lvs_pcap_on_the_sample_capture() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let out = std::env::temp_dir().join(format!("lvs-pcap-test-{}.pcap", std::process::id()));
    let mut args = vec![
        "--rules".to_string(),
        format!("{dir}/data/sample.rules"),
        "--in".into(),
        format!("{dir}/data/sample.pcap"),
        "--out".into(),
        out.display().to_string(),
        "--mac".into(),
        "02:00:00:00:00:01".into(),
        "--addr".into(),
        "192.0.2.1/24".into(),
        "--addr".into(),
        "198.51.100.1/24".into(),
        "--connections".into(),
    ];
    for (ip, mac) in [
        ("192.0.2.2", "02:00:00:00:0c:02"),
        ("192.0.2.3", "02:00:00:00:0c:02"),
        ("192.0.2.4", "02:00:00:00:0c:02"),
        ("198.51.100.11", "02:00:00:00:01:11"),
        ("198.51.100.12", "02:00:00:00:01:12"),
        ("198.51.100.13", "02:00:00:00:01:13"),
    ] {
        args.push("--neighbor".into());
        args.push(format!("{ip}={mac}"));
    }
    let o = Command::new(env!("CARGO_BIN_EXE_lvs-pcap"))
        .args(&args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("TCP  203.0.113.10:80                     6"),
        "{stdout}"
    );
    assert!(
        stdout.contains("frames in 37, frames out 37, dropped 0"),
        "{stdout}"
    );

    let mut r = PcapReader::new(BufReader::new(File::open(&out).unwrap())).unwrap();
    let mut buf = Vec::new();
    let (mut to_rs, mut from_vip) = (Vec::new(), 0);
    while r.next_into(&mut buf).unwrap().is_some() {
        let f = parse_frame(&buf).unwrap();
        let ip = f.ip().unwrap();
        if ip.src == "203.0.113.10".parse::<IpAddr>().unwrap() {
            from_vip += 1;
        }
        if let Some((_, 8080)) = f.ports()
            && f.tcp_flags().is_some_and(|fl| fl.0 & 0x02 != 0)
        {
            to_rs.push(ip.dst.to_string());
        }
    }
    std::fs::remove_file(&out).ok();
    assert_eq!(from_vip, 12, "every NAT reply leaves from the VIP");
    assert_eq!(
        to_rs,
        ["198.51.100.11", "198.51.100.12", "198.51.100.13"].repeat(2),
        "SYNs go round robin in list order"
    );
}

/// Without `--neighbor` for a real server, its frames wait for an ARP answer
/// an offline run never gets: the summary counts them and names the next hop
/// and the flag that supplies its MAC (it used to say "dropped 0" and nothing
/// else, with 9 of 37 frames never sent).
#[test]
fn lvs_pcap_reports_frames_held_for_a_missing_neighbor() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let out = std::env::temp_dir().join(format!("lvs-pcap-held-{}.pcap", std::process::id()));
    let mut args = vec![
        "--rules".to_string(),
        format!("{dir}/data/sample.rules"),
        "--in".into(),
        format!("{dir}/data/sample.pcap"),
        "--out".into(),
        out.display().to_string(),
        "--mac".into(),
        "02:00:00:00:00:01".into(),
        "--addr".into(),
        "192.0.2.1/24".into(),
        "--addr".into(),
        "198.51.100.1/24".into(),
    ];
    // Every neighbour but 198.51.100.11.
    for (ip, mac) in [
        ("192.0.2.2", "02:00:00:00:0c:02"),
        ("192.0.2.3", "02:00:00:00:0c:02"),
        ("192.0.2.4", "02:00:00:00:0c:02"),
        ("198.51.100.12", "02:00:00:00:01:12"),
        ("198.51.100.13", "02:00:00:00:01:13"),
    ] {
        args.push("--neighbor".into());
        args.push(format!("{ip}={mac}"));
    }
    args.extend(["--log-level".into(), "debug".into()]);
    let o = Command::new(env!("CARGO_BIN_EXE_lvs-pcap"))
        .args(&args)
        .output()
        .unwrap();
    std::fs::remove_file(&out).ok();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    // 8 TCP frames to .11 (two connections) and the one UDP query.
    let line =
        "held 9 frames: no MAC for 198.51.100.11 (link 0) — give --neighbor 198.51.100.11=MAC";
    assert!(stdout.contains(line), "{stdout}");
    assert!(stdout.contains(", held 9"), "{stdout}");
    assert!(
        stderr.contains("held: no MAC for the next hop yet") && stderr.contains("198.51.100.11"),
        "the debug log names the next hop a frame waits for: {stderr}"
    );
}
