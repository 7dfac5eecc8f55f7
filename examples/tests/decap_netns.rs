//! Runs `decap_netns.sh` against the freshly built `lvs-ipip-decap`.
//!
//! The script needs root (network namespaces, veth, TUN); without it the test prints a loud
//! SKIP and passes, so `cargo test` stays usable for unprivileged developers.

use std::process::Command;

#[test]
fn decapsulator_in_namespaces() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("=== SKIP decap_netns: not root ===");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/decap_netns.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_lvs-ipip-decap"))
        .output()
        .expect("run decap_netns.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(out.status.success(), "decap_netns.sh failed");
    assert!(
        stdout.contains("PASS: decap_netns") || stdout.contains("SKIP"),
        "unexpected output"
    );
}
