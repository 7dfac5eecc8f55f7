//! One probe of one target: TCP connect, HTTP GET, or a script (keepalived's
//! `TCP_CHECK`, `HTTP_GET` and `MISC_CHECK`). Each gives up after its timeout.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{CheckConfigError, CheckKind, MAX_STATUS_LINE, validate_http_host, validate_http_path};

/// How often a running check script is polled for its exit.
const MISC_POLL: Duration = Duration::from_millis(10);

/// One probe of one server. Implementations must give up after `timeout`.
pub trait Probe: Send {
    /// Probes `target`; `Err` carries a human-readable reason.
    fn check(&mut self, target: SocketAddr, timeout: Duration) -> Result<(), String>;
}

/// TCP connect check.
#[derive(Debug, Clone, Default)]
pub struct TcpProbe {
    /// Source address of the connection (keepalived's `bindto`); the kernel's
    /// choice when `None`.
    pub bind: Option<IpAddr>,
}

impl Probe for TcpProbe {
    fn check(&mut self, target: SocketAddr, timeout: Duration) -> Result<(), String> {
        connect(target, self.bind, timeout)
            .map(drop)
            .map_err(|e| format!("connect: {e}"))
    }
}

/// A TCP connection to `target` within `timeout`, from `bind` when given.
fn connect(target: SocketAddr, bind: Option<IpAddr>, timeout: Duration) -> io::Result<TcpStream> {
    let Some(src) = bind else {
        return TcpStream::connect_timeout(&target, timeout);
    };
    if src.is_ipv4() != target.is_ipv4() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bindto {src} is not of {target}'s address family"),
        ));
    }
    crate::health::sock::connect_from(SocketAddr::new(src, 0), target, timeout)
}

/// MISC_CHECK: runs a program; exit status 0 within the timeout means up. The
/// command line is split at whitespace (no shell: no quoting, globbing or
/// variables); keepalived's `misc_dynamic` weights are not read.
#[derive(Debug, Clone)]
pub struct MiscProbe {
    /// The program and its arguments.
    pub argv: Vec<String>,
}

impl Probe for MiscProbe {
    fn check(&mut self, _target: SocketAddr, timeout: Duration) -> Result<(), String> {
        let Some((prog, args)) = self.argv.split_first() else {
            return Err("MISC_CHECK: empty command".into());
        };
        let mut child = Command::new(prog)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("MISC_CHECK {prog}: {e}"))?;
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("MISC_CHECK {prog}: {status}")),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("MISC_CHECK {prog}: timed out after {timeout:?}"));
                }
                Ok(None) => std::thread::sleep(MISC_POLL.min(timeout)),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("MISC_CHECK {prog}: {e}"));
                }
            }
        }
    }
}

/// HTTP GET check.
#[derive(Debug, Clone)]
pub struct HttpProbe {
    /// Request path.
    pub path: String,
    /// Host header (the target's IP when `None`).
    pub host: Option<String>,
    /// Expected status code.
    pub expect_status: u16,
    /// Source address (keepalived's `bindto`).
    pub bind: Option<IpAddr>,
    /// Expected MD5 of the body; the body is then read to the end (at most
    /// [`MAX_DIGEST_BODY`] bytes, within the timeout).
    pub digest: Option<[u8; 16]>,
}

/// The longest response an HTTP check with a digest reads.
pub const MAX_DIGEST_BODY: usize = 1 << 20;

/// Parses the status code out of `HTTP/1.x NNN ...`.
fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line_end = head.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&head[..line_end]).ok()?;
    let mut parts = line.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

impl HttpProbe {
    /// The status code, and with a digest configured, the body's MD5.
    fn get(&self, target: SocketAddr, timeout: Duration) -> io::Result<(u16, Option<[u8; 16]>)> {
        let deadline = Instant::now() + timeout;
        let left = || {
            deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "timed out"))
        };
        // The fields are public: check them here too, so that a probe built
        // without `CheckKind::http` still cannot put CR/LF into the request.
        let invalid = |e: CheckConfigError| io::Error::new(io::ErrorKind::InvalidInput, e);
        validate_http_path(&self.path).map_err(invalid)?;
        if let Some(h) = &self.host {
            validate_http_host(h).map_err(invalid)?;
        }
        let mut s = connect(target, self.bind, timeout)?;
        let host = match &self.host {
            Some(h) => h.clone(),
            None => match target {
                SocketAddr::V4(a) => a.ip().to_string(),
                SocketAddr::V6(a) => format!("[{}]", a.ip()),
            },
        };
        let req = format!(
            "GET {} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: lvs-rs-health\r\nConnection: close\r\n\r\n",
            self.path
        );
        s.set_write_timeout(Some(left()?))?;
        s.write_all(req.as_bytes())?;
        let mut head = Vec::with_capacity(256);
        let mut chunk = [0u8; 512];
        loop {
            s.set_read_timeout(Some(left()?))?;
            let n = s.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&chunk[..n]);
            if self.digest.is_some() {
                if head.len() > MAX_DIGEST_BODY {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("response longer than {MAX_DIGEST_BODY} bytes"),
                    ));
                }
            } else if head.windows(2).any(|w| w == b"\r\n") || head.len() >= MAX_STATUS_LINE {
                break;
            }
        }
        let code = parse_status_line(&head)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no HTTP status line"))?;
        let digest = match self.digest {
            None => None,
            Some(_) => {
                let body = head
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|i| &head[i + 4..])
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidData, "no end of HTTP headers")
                    })?;
                Some(super::md5::md5(body))
            }
        };
        Ok((code, digest))
    }
}

impl Probe for HttpProbe {
    fn check(&mut self, target: SocketAddr, timeout: Duration) -> Result<(), String> {
        match self.get(target, timeout) {
            Ok((code, _)) if code != self.expect_status => {
                Err(format!("HTTP status {code}, want {}", self.expect_status))
            }
            Ok((_, got)) if got != self.digest => Err("HTTP body digest differs".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("HTTP: {e}")),
        }
    }
}

/// The probe for a check kind (`bind`: the source address of TCP and HTTP checks).
pub fn probe_for(kind: &CheckKind, bind: Option<IpAddr>) -> Box<dyn Probe> {
    match kind {
        CheckKind::Tcp => Box::new(TcpProbe { bind }),
        CheckKind::Http {
            path,
            host,
            expect_status,
            digest,
        } => Box::new(HttpProbe {
            path: path.clone(),
            host: host.clone(),
            expect_status: *expect_status,
            bind,
            digest: *digest,
        }),
        CheckKind::Misc { argv } => Box::new(MiscProbe { argv: argv.clone() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread::JoinHandle;

    #[test]
    fn tcp_probe_against_local_listener() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        assert!(
            TcpProbe::default()
                .check(addr, Duration::from_secs(2))
                .is_ok()
        );
        drop(l);
        assert!(
            TcpProbe::default()
                .check(addr, Duration::from_secs(2))
                .is_err()
        );
    }

    /// Serves `responses.len()` connections, answering each with the next canned response
    /// (`None`: accept and stay silent), and returns the requests it read.
    fn http_server(responses: Vec<Option<&'static str>>) -> (SocketAddr, JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            let mut reqs = Vec::new();
            for resp in responses {
                let (mut s, _) = l.accept().unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut req = Vec::new();
                let mut b = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&b[..n]),
                    }
                }
                reqs.push(String::from_utf8_lossy(&req).into_owned());
                match resp {
                    Some(r) => {
                        let _ = s.write_all(r.as_bytes());
                    }
                    None => std::thread::sleep(Duration::from_millis(400)),
                }
            }
            reqs
        });
        (addr, h)
    }

    #[test]
    fn http_check_values_that_would_inject_headers_are_refused() {
        for path in [
            "/health\r\nX-Injected: 1",
            "/a\nb",
            "/a b",
            "/\u{7f}",
            "/\u{e9}",
            "/\0",
        ] {
            assert!(
                matches!(
                    CheckKind::http(path, None, 200),
                    Err(CheckConfigError::BadPathByte { .. })
                ),
                "{path:?}"
            );
        }
        let e = CheckKind::http("/h\r\nX: 1", None, 200).unwrap_err();
        assert_eq!(
            e.to_string(),
            "HTTP check path \"/h\\r\\nX: 1\": byte 0x0d at offset 2 is not allowed \
             (control characters, spaces and non-ASCII bytes are refused)"
        );
        assert_eq!(
            CheckKind::http("health", None, 200),
            Err(CheckConfigError::PathNotAbsolute {
                path: "health".into()
            })
        );
        for host in ["a.example\r\nX-Injected: 1", "a b", "a\tb", "a/b", ""] {
            assert!(CheckKind::http("/", Some(host), 200).is_err(), "{host:?}");
        }
        assert_eq!(
            CheckKind::http("/", None, 42),
            Err(CheckConfigError::BadStatus(42))
        );
        assert_eq!(
            CheckKind::http("/healthz?full=1", Some("[2001:db8::1]:8080"), 204),
            Ok(CheckKind::Http {
                path: "/healthz?full=1".into(),
                host: Some("[2001:db8::1]:8080".into()),
                expect_status: 204,
                digest: None,
            })
        );
        assert!(CheckKind::http("/", Some("www.example.com"), 200).is_ok());
    }

    #[test]
    fn http_probe_built_by_hand_sends_nothing_injected() {
        let (addr, server) = http_server(vec![None]);
        let mut p = HttpProbe {
            path: "/h\r\nX-Injected: 1".into(),
            host: None,
            expect_status: 200,
            bind: None,
            digest: None,
        };
        let e = p.check(addr, Duration::from_secs(2)).unwrap_err();
        assert!(e.contains("offset 2"), "{e}");
        // The probe never connected: unblock the test server ourselves.
        drop(TcpStream::connect(addr));
        let reqs = server.join().unwrap();
        assert!(reqs.iter().all(|r| !r.contains("X-Injected")), "{reqs:?}");
    }

    #[test]
    fn http_probe_checks_status_path_and_host() {
        let (addr, server) = http_server(vec![
            Some("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
            Some("HTTP/1.0 503 Service Unavailable\r\n\r\n"),
            Some("garbage\r\n\r\n"),
            None,
        ]);
        let mut p = HttpProbe {
            path: "/healthz".into(),
            host: Some("www.example.com".into()),
            expect_status: 200,
            bind: None,
            digest: None,
        };
        let t = Duration::from_secs(2);
        assert_eq!(p.check(addr, t), Ok(()));
        assert_eq!(p.check(addr, t), Err("HTTP status 503, want 200".into()));
        assert!(p.check(addr, t).is_err());
        let started = Instant::now();
        assert!(p.check(addr, Duration::from_millis(100)).is_err());
        assert!(started.elapsed() < Duration::from_secs(1));
        let reqs = server.join().unwrap();
        assert!(
            reqs[0].starts_with("GET /healthz HTTP/1.0\r\n"),
            "{}",
            reqs[0]
        );
        assert!(reqs[0].contains("\r\nHost: www.example.com\r\n"));
    }

    #[test]
    fn status_line_parser() {
        assert_eq!(parse_status_line(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(parse_status_line(b"HTTP/1.0 200\r\n"), Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK"), None);
        assert_eq!(parse_status_line(b"SSH-2.0\r\n"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 2000 x\r\n"), None);
    }

    #[test]
    fn http_probe_checks_the_body_digest() {
        let (addr, server) = http_server(vec![
            Some("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nabc"),
            Some("HTTP/1.0 200 OK\r\n\r\nabd"),
        ]);
        let kind = CheckKind::http("/index.html", None, 200)
            .unwrap()
            .with_digest("900150983CD24FB0D6963F7D28E17F72")
            .unwrap();
        let mut p = probe_for(&kind, None);
        let t = Duration::from_secs(2);
        assert_eq!(p.check(addr, t), Ok(()));
        assert_eq!(p.check(addr, t), Err("HTTP body digest differs".into()));
        server.join().unwrap();
        assert!(CheckKind::Tcp.with_digest("00").is_err());
    }

    #[test]
    fn misc_probe_exit_status_and_timeout() {
        let t = Duration::from_secs(5);
        let a: SocketAddr = "192.0.2.1:53".parse().unwrap();
        let mut ok = MiscProbe {
            argv: vec!["true".into()],
        };
        assert_eq!(ok.check(a, t), Ok(()));
        let mut bad = MiscProbe {
            argv: vec!["false".into()],
        };
        assert!(bad.check(a, t).is_err());
        let mut slow = MiscProbe {
            argv: vec!["sleep".into(), "5".into()],
        };
        let started = Instant::now();
        let e = slow.check(a, Duration::from_millis(100)).unwrap_err();
        assert!(e.contains("timed out"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
        let mut missing = MiscProbe {
            argv: vec!["/nonexistent/check".into()],
        };
        assert!(missing.check(a, t).is_err());
        assert!(MiscProbe { argv: vec![] }.check(a, t).is_err());
    }

    #[test]
    fn tcp_probe_bound_to_a_source_address() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut p = TcpProbe {
            bind: Some("127.0.0.1".parse().unwrap()),
        };
        assert!(p.check(addr, Duration::from_secs(2)).is_ok());
        let mut v6 = TcpProbe {
            bind: Some("::1".parse().unwrap()),
        };
        assert!(v6.check(addr, Duration::from_secs(2)).is_err());
    }
}
