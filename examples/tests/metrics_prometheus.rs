//! A real Prometheus server scrapes `/metrics` and its query API returns the series.
//!
//! Why a real Prometheus: dashboards built on node_exporter's IPVS collector must keep working,
//! and only Prometheus itself proves that the text parses, that the names, label names and label
//! values come out as it stores them, and that a new snapshot shows up on the next scrape. The
//! test starts Debian's `prometheus` (installed with apt-get when missing and run as root) with a
//! temporary configuration that scrapes the metrics server every second, then queries
//! `/api/v1/query`. A guard kills Prometheus and removes its directory however the test ends.
//!
//! Needs root (to install the package if missing) or `prometheus` on the PATH; prints SKIP and
//! passes when neither works.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lvs_core::ServiceKey;
use lvs_examples::health::Health;
use lvs_examples::metrics::{MetricsServer, MetricsSnapshot, try_publish};
use lvs_forwarding::{Director, DirectorConfig, IpCidr, MacAddr};
use serde_json::Value;

/// The longest the test waits for Prometheus to start and scrape (each wait).
const WAIT: Duration = Duration::from_secs(30);

const RULES: &str = "\
-A -t 203.0.113.10:80 -s rr
-a -t 203.0.113.10:80 -r 198.51.100.11:8080 -m -w 3
-a -t 203.0.113.10:80 -r 198.51.100.12:8080 -m -w 2
-A -u [2001:db8:f::10]:53 -s rr
-a -u [2001:db8:f::10]:53 -r [2001:db8:5::11]:53 -m -w 5
";

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn have_prometheus() -> bool {
    Command::new("prometheus")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Prometheus on the PATH, installing Debian's package as root if needed; why not otherwise.
fn ensure_prometheus() -> Result<(), String> {
    if have_prometheus() {
        return Ok(());
    }
    if !is_root() {
        return Err("prometheus not installed and not root".into());
    }
    let ok = Command::new("apt-get")
        .args([
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "prometheus",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok && have_prometheus() {
        Ok(())
    } else {
        Err("apt-get install prometheus failed".into())
    }
}

/// Kills the Prometheus process and removes its directory on drop, pass or fail.
struct Guard {
    child: Option<Child>,
    dir: PathBuf,
}

impl Guard {
    /// Prometheus' own log, for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_prometheus(target: SocketAddr) -> Guard {
    let dir = std::env::temp_dir().join(format!("lvs-metrics-prom-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut guard = Guard { child: None, dir };
    let cfg = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: lvs\n    static_configs:\n      - targets: ['{target}']\n"
    );
    let cfg_path = guard.dir.join("prometheus.yml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let log = std::fs::File::create(guard.dir.join("prometheus.log")).unwrap();
    let web = format!("127.0.0.1:{}", free_port());
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            guard.dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    guard.child = Some(child);
    std::fs::write(guard.dir.join("web"), &web).unwrap();
    guard
}

/// GET `path` from `addr` over HTTP/1.0; the body, or `None` on any failure.
fn get(addr: &str, path: &str) -> Option<String> {
    let mut c = TcpStream::connect(addr).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(c, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut out = String::new();
    c.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    // Go answers an HTTP/1.0 request with an HTTP/1.0 status line.
    let status = head.split(' ').nth(1)?;
    (status == "200").then(|| body.to_string())
}

/// The result vector of an instant query, or `None` until Prometheus answers.
fn query(web: &str, q: &str) -> Option<Vec<Value>> {
    let body = get(web, &format!("/api/v1/query?query={q}"))?;
    let v: Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"].as_array().cloned()
}

/// The value of the series whose labels include all of `labels`. Prometheus stores an empty
/// label value as no label (node_exporter's `local_mark=""` too), so absent matches "".
fn find(result: &[Value], labels: &[(&str, &str)]) -> Option<String> {
    result
        .iter()
        .find(|s| {
            labels
                .iter()
                .all(|(k, v)| s["metric"][*k].as_str().unwrap_or("") == *v)
        })
        .and_then(|s| s["value"][1].as_str().map(str::to_string))
}

/// Polls `q` until a series with `labels` has `value`, within [`WAIT`].
fn wait_for(guard: &Guard, web: &str, q: &str, labels: &[(&str, &str)], value: &str) {
    let started = Instant::now();
    let mut last = None;
    while started.elapsed() < WAIT {
        if let Some(r) = query(web, q) {
            if find(&r, labels).as_deref() == Some(value) {
                return;
            }
            last = Some(r);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let targets = get(web, "/api/v1/targets").unwrap_or_default();
    panic!(
        "no {q}{labels:?} = {value} within {WAIT:?}; last result {last:?}\ntargets: {targets}\nprometheus log:\n{}",
        guard.log()
    );
}

fn director() -> Director {
    let addrs: Vec<IpCidr> = ["198.51.100.1/24", "2001:db8:5::1/64"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    Director::from_rules(
        DirectorConfig::single_link(MacAddr([2, 0, 0, 0, 0, 1]), &addrs),
        RULES,
    )
    .unwrap()
}

#[test]
fn prometheus_scrapes_node_exporter_series() {
    if let Err(why) = ensure_prometheus() {
        eprintln!("=== SKIP metrics_prometheus: {why} ===");
        return;
    }
    let mut d = director();
    let down: SocketAddr = "198.51.100.12:8080".parse().unwrap();
    let health = |_: &lvs_core::ServiceKey, a: SocketAddr| {
        Some(if a == down { Health::Down } else { Health::Up })
    };
    let shared = Arc::new(Mutex::new(MetricsSnapshot::default()));
    assert!(try_publish(&shared, || MetricsSnapshot::from_director(
        &d,
        &health,
        Vec::new()
    )));
    let server = MetricsServer::spawn("127.0.0.1:0".parse().unwrap(), Arc::clone(&shared)).unwrap();
    let guard = start_prometheus(server.local_addr());
    let web = std::fs::read_to_string(guard.dir.join("web")).unwrap();

    let tcp = |rs: &'static str| {
        [
            ("local_address", "203.0.113.10"),
            ("local_port", "80"),
            ("remote_address", rs),
            ("remote_port", "8080"),
            ("proto", "TCP"),
            ("local_mark", ""),
            ("job", "lvs"),
        ]
    };
    wait_for(
        &guard,
        &web,
        "node_ipvs_backend_weight",
        &tcp("198.51.100.11"),
        "3",
    );
    wait_for(
        &guard,
        &web,
        "node_ipvs_backend_weight",
        &tcp("198.51.100.12"),
        "2",
    );
    let udp6 = [
        ("local_address", "2001:db8:f::10"),
        ("local_port", "53"),
        ("remote_address", "2001:db8:5::11"),
        ("remote_port", "53"),
        ("proto", "UDP"),
        ("local_mark", ""),
    ];
    wait_for(&guard, &web, "node_ipvs_backend_weight", &udp6, "5");
    wait_for(
        &guard,
        &web,
        "node_ipvs_backend_connections_active",
        &udp6,
        "0",
    );
    wait_for(
        &guard,
        &web,
        "lvs_backend_health_up",
        &tcp("198.51.100.12"),
        "0",
    );
    wait_for(
        &guard,
        &web,
        "lvs_backend_health_up",
        &tcp("198.51.100.11"),
        "1",
    );
    wait_for(
        &guard,
        &web,
        "node_ipvs_connections_total",
        &[("job", "lvs")],
        "0",
    );
    wait_for(
        &guard,
        &web,
        "lvs_drops_total",
        &[("reason", "malformed")],
        "0",
    );
    wait_for(
        &guard,
        &web,
        "lvs_connection_table_capacity",
        &[("family", "ipv4")],
        &d.balancer().table_v4().capacity().to_string(),
    );

    // A weight change published as the runner does shows up on a following scrape.
    let key = ServiceKey::Addr {
        protocol: lvs_core::Protocol::Tcp,
        vip: "203.0.113.10:80".parse().unwrap(),
    };
    d.balancer_mut()
        .set_weight(&key, "198.51.100.11:8080".parse().unwrap(), 9)
        .unwrap();
    assert!(try_publish(&shared, || MetricsSnapshot::from_director(
        &d,
        &health,
        Vec::new()
    )));
    wait_for(
        &guard,
        &web,
        "node_ipvs_backend_weight",
        &tcp("198.51.100.11"),
        "9",
    );
    drop(guard);
    drop(server);
}
