//! `lvsadm` (the real binary) against a `ControlServer` serving a Director
//! in a thread: changes, listings, `-S` round trip, errors and exit codes,
//! garbage on the socket, and the socket's permissions.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lvs_core::Instant;
use lvs_core::config::{self, Config};
use lvs_examples::control::{ControlServer, Reply, handle};
use lvs_forwarding::{Director, DirectorConfig, IpCidr, MacAddr};

const RULES: &str = "-A -t 203.0.113.10:80 -s rr\n-a -t 203.0.113.10:80 -r 192.0.2.11:80 -m -w 1\n";

struct Served {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn serve(name: &str) -> Served {
    let path = std::env::temp_dir()
        .join(format!("lvsadm-test-{}-{name}", std::process::id()))
        .join("control.sock");
    let stop = Arc::new(AtomicBool::new(false));
    let mut server = ControlServer::bind(&path).unwrap();
    let sp = stop.clone();
    // The Director is not Send: it is built on the thread that serves it,
    // as the runner's event loop owns its own.
    let thread = std::thread::spawn(move || {
        let addrs: [IpCidr; 1] = ["192.0.2.1/24".parse().unwrap()];
        let mut cfg = DirectorConfig::single_link(MacAddr([2, 0, 0, 0, 0, 1]), &addrs);
        cfg.conn_capacity_v4 = 4096;
        let mut director = Director::from_rules(cfg, RULES).unwrap();
        let mut rules: Config = config::parse(RULES).unwrap();
        while !sp.load(Ordering::Relaxed) {
            server.poll(&mut |req| {
                handle(
                    &req,
                    &mut director,
                    &mut rules,
                    &|_, _| None,
                    Instant::from_secs(1),
                )
            });
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    Served {
        path,
        stop,
        thread: Some(thread),
    }
}

fn lvsadm(path: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lvsadm"))
        .arg("--control")
        .arg(path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn lvsadm_against_a_live_director() {
    let s = serve("live");
    let p = s.path.as_path();
    let mode = std::fs::metadata(p).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");

    assert_eq!(
        text(&lvsadm(p, &["-A", "-u", "203.0.113.10:53", "-s", "sh"], "")).0,
        0
    );
    assert_eq!(
        text(&lvsadm(
            p,
            &[
                "-a",
                "-u",
                "203.0.113.10:53",
                "-r",
                "192.0.2.21:53",
                "-m",
                "-w",
                "2"
            ],
            ""
        ))
        .0,
        0
    );
    let (code, out, err) = text(&lvsadm(p, &["-Ln"], ""));
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n\
         \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
         TCP  203.0.113.10:80 rr\n\
         \x20 -> 192.0.2.11:80                Masq    1      0          0         \n\
         UDP  203.0.113.10:53 sh\n\
         \x20 -> 192.0.2.21:53                Masq    2      0          0         \n"
    );
    assert_eq!(
        text(&lvsadm(
            p,
            &[
                "-e",
                "-u",
                "203.0.113.10:53",
                "-r",
                "192.0.2.21:53",
                "-m",
                "-w",
                "5"
            ],
            ""
        ))
        .0,
        0
    );
    assert!(
        text(&lvsadm(p, &["-L", "-n", "-u", "203.0.113.10:53"], ""))
            .1
            .contains("Masq    5 ")
    );
    assert_eq!(
        text(&lvsadm(
            p,
            &["-d", "-u", "203.0.113.10:53", "-r", "192.0.2.21:53"],
            ""
        ))
        .0,
        0
    );

    // Errors: ipvsadm's messages and exit codes, from the director and from
    // the client's own parse.
    assert_eq!(
        text(&lvsadm(
            p,
            &["-d", "-u", "203.0.113.10:53", "-r", "192.0.2.21:53"],
            ""
        )),
        (255, String::new(), "No such destination\n".into())
    );
    assert_eq!(
        text(&lvsadm(p, &["-A", "-t", "203.0.113.10:80"], "")),
        (255, String::new(), "Service already exists\n".into())
    );
    assert_eq!(
        text(&lvsadm(
            p,
            &[
                "-a",
                "-t",
                "203.0.113.10:80",
                "-r",
                "192.0.2.12",
                "-w",
                "70000"
            ],
            ""
        )),
        (2, String::new(), "illegal weight specified\n".into())
    );
    assert_eq!(
        text(&lvsadm(p, &["-L", "-n", "-t", "203.0.113.99:80"], "")),
        (1, String::new(), "No such service\n".into())
    );
    assert_eq!(text(&lvsadm(p, &["--bogus"], "")).0, 255);

    // -S, then -R of what it printed, gives the same state back.
    let (code, saved, _) = text(&lvsadm(p, &["-S", "-n"], ""));
    assert_eq!(code, 0);
    assert_eq!(
        saved,
        "-A -t 203.0.113.10:80 -s rr\n-a -t 203.0.113.10:80 -r 192.0.2.11:80 -m -w 1\n-A -u 203.0.113.10:53 -s sh\n"
    );
    assert_eq!(text(&lvsadm(p, &["-C"], "")).0, 0);
    assert_eq!(text(&lvsadm(p, &["-S"], "")).1, "");
    assert_eq!(text(&lvsadm(p, &["-R"], &saved)).0, 0);
    assert_eq!(text(&lvsadm(p, &["-S", "-n"], "")).1, saved);
    let (code, summary, _) = text(&lvsadm(p, &["--summary"], ""));
    assert_eq!(code, 0);
    assert!(
        summary.starts_with("Services: 2, real servers: 1\n"),
        "{summary}"
    );
    assert!(
        summary.contains("Connection table: IPv4 0/4096"),
        "{summary}"
    );
}

#[test]
fn garbage_gets_an_error_reply_and_the_server_keeps_serving() {
    let s = serve("garbage");
    let p = s.path.as_path();
    for junk in [
        &b"\x00\x01\x02 definitely not lvsadm"[..],
        b"LVSQ\x01\x00\x00\x00\xff\xff\xff\xff",
        b"LVSQ\x02\x00\x00\x00\x00\x00\x00\x00",
        b"LVSQ\x01\x00\x00\x00\x00\x00\x00\x08\x00\x00\x00\x09\x00\x00\x00\x00",
    ] {
        let mut c = UnixStream::connect(p).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(junk).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let r = Reply::read_from(&mut c).unwrap();
        assert_eq!(r.code, 255);
        assert!(r.stderr.contains("malformed request"), "{r:?}");
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
        assert!(rest.is_empty());
    }
    // A client that connects and says nothing does not block the others.
    let _silent = UnixStream::connect(p).unwrap();
    let (code, out, _) = text(&lvsadm(p, &["-Ln"], ""));
    assert_eq!(code, 0);
    assert!(out.contains("TCP  203.0.113.10:80 rr"));
}

#[test]
fn no_director_is_a_clear_error() {
    let p = std::env::temp_dir().join(format!("lvsadm-test-{}-none.sock", std::process::id()));
    let (code, _, err) = text(&lvsadm(&p, &["-Ln"], ""));
    assert_eq!(code, 2);
    assert!(err.contains("Can't reach the director"), "{err}");
    // Parse errors come first, director or not; help needs none.
    assert_eq!(text(&lvsadm(&p, &["-A"], "")).0, 2);
    assert_eq!(text(&lvsadm(&p, &["-h"], "")).0, 0);
}
