//! `lvs-afpacket --fanout 512` with the default tables asks for about 71 GB up front: it must
//! be refused before any socket is opened or worker spawned, with a message that names the
//! sizes and the flags that lower them (it used to abort on a failed allocation halfway
//! through spawning workers). The check runs before anything needs root.

use std::process::Command;

use lvs_examples::memory::{
    DEFAULT_CONN_TABLE_V4, DEFAULT_CONN_TABLE_V6, WorkerMemory, check_fits, mem_available,
};

#[test]
fn fanout_512_is_refused_up_front() {
    let per_worker = WorkerMemory::new(DEFAULT_CONN_TABLE_V4, DEFAULT_CONN_TABLE_V6, 0);
    if check_fits(512, &per_worker, mem_available()).is_ok() {
        eprintln!("=== SKIP memory_cli: this host has room for 512 default workers ===");
        return;
    }
    let o = Command::new(env!("CARGO_BIN_EXE_lvs-afpacket"))
        .args([
            "--rules",
            "/nonexistent/rules",
            "--iface",
            "lo",
            "--fanout",
            "512",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{stderr}");
    for part in [
        "512 workers (--fanout 512) need ",
        "IPv4 table 1048576 entries 89.5 MB",
        "IPv6 table 262144 entries 44.7 MB",
        "is available (MemAvailable",
        "lower --conn-table-v4 (now 1048576) and --conn-table-v6 (now 262144), or --fanout",
    ] {
        assert!(stderr.contains(part), "{part:?} missing in: {stderr}");
    }
    assert!(
        !stderr.contains("attached") && !stderr.contains("rules"),
        "refused before reading rules or opening a port: {stderr}"
    );
}
