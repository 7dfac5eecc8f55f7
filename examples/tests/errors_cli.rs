//! Errors name what and where, as an operator sees them through the binaries: a missing rules
//! file its path, an unknown scheduler its name and line, a weight of -1 that it is out of
//! range. `lvs-pcap` reads the rules file first, so it needs no root and no interface.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `lvs-pcap` on `rules` and returns its standard error (it must fail).
fn pcap_error(rules: &Path) -> String {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample.pcap");
    let out = std::env::temp_dir().join(format!("lvs-errors-{}.pcap", std::process::id()));
    let o = Command::new(env!("CARGO_BIN_EXE_lvs-pcap"))
        .arg("--rules")
        .arg(rules)
        .arg("--in")
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .args(["--mac", "02:00:00:00:00:01", "--addr", "10.0.0.9/24"])
        .output()
        .unwrap();
    std::fs::remove_file(&out).ok();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "expected a failure: {stderr}");
    stderr
}

/// Writes `text` to a fresh rules file named after `tag`.
fn rules_file(tag: &str, text: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("lvs-errors-{tag}-{}.rules", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn missing_rules_file_names_its_path() {
    let e = pcap_error(Path::new("/nonexistent/lvs-rs/missing.rules"));
    assert!(e.contains("/nonexistent/lvs-rs/missing.rules"), "{e}");
    assert!(e.contains("No such file"), "{e}");
}

#[test]
fn unknown_scheduler_names_line_and_name() {
    let p = rules_file(
        "sched",
        "-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.2:80 -s bogus\n",
    );
    let e = pcap_error(&p);
    std::fs::remove_file(&p).ok();
    assert!(e.contains("bogus"), "{e}");
    assert!(e.contains("line 2"), "{e}");
}

#[test]
fn negative_weight_in_rules_is_out_of_range() {
    let p = rules_file(
        "weight",
        "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 192.0.2.5:80 -m -w -1\n",
    );
    let e = pcap_error(&p);
    std::fs::remove_file(&p).ok();
    assert!(e.contains("line 2"), "{e}");
    assert!(e.contains("weight") && e.contains("range"), "{e}");
}

/// `lvsadm` refuses `-w -1` before it looks for a director, with ipvsadm's message and code.
#[test]
fn lvsadm_negative_weight_is_refused_locally() {
    let o = Command::new(env!("CARGO_BIN_EXE_lvsadm"))
        .args(["--control", "/nonexistent/lvs.sock"])
        .args(["-a", "-t", "10.0.0.1:80", "-r", "192.0.2.5:80", "-w", "-1"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("illegal weight specified"), "{e}");
    assert!(!e.contains("reach the director"), "{e}");
}
