//! Real-server health checks, the way keepalived does them.
//!
//! Why here and like this: the Director only knows weights. A checker thread probes every real
//! server on a fixed interval (TCP connect, or HTTP GET with an expected status), turns the raw
//! results into a debounced up/down state with *rise* and *fall* counts (so one lost SYN does not
//! flap a server), and reports only the changes. The caller maps a change to a weight update —
//! [`effective_weight`]: down is weight 0 (the server keeps its connections but gets no new
//! ones, as keepalived's `inhibit_on_failure` does), up is the configured weight.
//!
//! It is plain std: one background thread, blocking sockets with timeouts, a condition variable
//! to stop promptly. Probes run one after another, so a dead server costs at most the timeout
//! per round; keep `timeout` below `interval`.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest HTTP response head read before giving up on finding the status line.
const MAX_STATUS_LINE: usize = 4096;

/// What to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// A TCP connection to the real server's address and port must succeed.
    Tcp,
    /// An HTTP/1.0 GET must answer with `expect_status`. Build it with
    /// [`CheckKind::http`], which refuses values that would inject headers.
    Http {
        /// Request path, e.g. `/health`.
        path: String,
        /// Host header; the real server's IP address when `None`.
        host: Option<String>,
        /// Expected status code.
        expect_status: u16,
    },
}

/// The longest Host header value an HTTP check sends (a DNS name is at
/// most 253 characters; with brackets and a port, 255 is ample).
pub const MAX_HTTP_HOST_LEN: usize = 255;

/// The longest request path an HTTP check sends.
pub const MAX_HTTP_PATH_LEN: usize = 2048;

/// Why an HTTP check's settings were refused. Each value would end up in the
/// request line or a header of every probe, so a CR or LF in it would add
/// headers (or a whole second request) of the caller's choosing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckConfigError {
    /// The path does not start with `/`.
    PathNotAbsolute {
        /// The path given.
        path: String,
    },
    /// The path has a byte that may not appear in a request target (a
    /// control character such as CR or LF, a space, or a non-ASCII byte).
    BadPathByte {
        /// The path given.
        path: String,
        /// Offset of the byte in the path.
        offset: usize,
        /// The byte.
        byte: u8,
    },
    /// The path is longer than [`MAX_HTTP_PATH_LEN`].
    PathTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The Host value is empty.
    EmptyHost,
    /// The Host value has a byte outside letters, digits and `-._~:[]%`
    /// (CR, LF and other control characters included).
    BadHostByte {
        /// The Host value given.
        host: String,
        /// Offset of the byte in the value.
        offset: usize,
        /// The byte.
        byte: u8,
    },
    /// The Host value is longer than [`MAX_HTTP_HOST_LEN`].
    HostTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The expected status is not an HTTP status code (100..=599).
    BadStatus(u16),
}

impl fmt::Display for CheckConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckConfigError::PathNotAbsolute { path } => {
                write!(f, "HTTP check path {path:?} must start with '/'")
            }
            CheckConfigError::BadPathByte { path, offset, byte } => write!(
                f,
                "HTTP check path {path:?}: byte {byte:#04x} at offset {offset} is not allowed \
                 (control characters, spaces and non-ASCII bytes are refused)"
            ),
            CheckConfigError::PathTooLong { len } => write!(
                f,
                "HTTP check path is {len} bytes, more than {MAX_HTTP_PATH_LEN}"
            ),
            CheckConfigError::EmptyHost => f.write_str("HTTP check host is empty"),
            CheckConfigError::BadHostByte { host, offset, byte } => write!(
                f,
                "HTTP check host {host:?}: byte {byte:#04x} at offset {offset} is not allowed \
                 (letters, digits and -._~:[]% only)"
            ),
            CheckConfigError::HostTooLong { len } => write!(
                f,
                "HTTP check host is {len} bytes, more than {MAX_HTTP_HOST_LEN}"
            ),
            CheckConfigError::BadStatus(s) => {
                write!(f, "HTTP check status {s} is not a status code (100..=599)")
            }
        }
    }
}

impl std::error::Error for CheckConfigError {}

/// Check an HTTP check's request path: starts with `/`, visible ASCII only
/// (no control character, no space), at most [`MAX_HTTP_PATH_LEN`] bytes.
pub fn validate_http_path(path: &str) -> Result<(), CheckConfigError> {
    if path.len() > MAX_HTTP_PATH_LEN {
        return Err(CheckConfigError::PathTooLong { len: path.len() });
    }
    if let Some((offset, &byte)) = path
        .as_bytes()
        .iter()
        .enumerate()
        .find(|(_, b)| !b.is_ascii_graphic())
    {
        return Err(CheckConfigError::BadPathByte {
            path: path.to_owned(),
            offset,
            byte,
        });
    }
    if !path.starts_with('/') {
        return Err(CheckConfigError::PathNotAbsolute {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// Check an HTTP check's Host value: 1..=[`MAX_HTTP_HOST_LEN`] bytes of
/// letters, digits and `-._~:[]%` (a DNS name, an IPv4 address, a bracketed
/// IPv6 address with a zone, each with an optional port).
pub fn validate_http_host(host: &str) -> Result<(), CheckConfigError> {
    if host.is_empty() {
        return Err(CheckConfigError::EmptyHost);
    }
    if host.len() > MAX_HTTP_HOST_LEN {
        return Err(CheckConfigError::HostTooLong { len: host.len() });
    }
    let ok = |b: u8| b.is_ascii_alphanumeric() || b"-._~:[]%".contains(&b);
    if let Some((offset, &byte)) = host.as_bytes().iter().enumerate().find(|(_, b)| !ok(**b)) {
        return Err(CheckConfigError::BadHostByte {
            host: host.to_owned(),
            offset,
            byte,
        });
    }
    Ok(())
}

impl CheckKind {
    /// An HTTP check, validated: `path` must pass [`validate_http_path`],
    /// `host` (when given) [`validate_http_host`], and `expect_status` be
    /// 100..=599. Build HTTP checks from operator input through this, so
    /// that a bad value is refused when the configuration is read rather
    /// than at the first probe.
    pub fn http(
        path: &str,
        host: Option<&str>,
        expect_status: u16,
    ) -> Result<CheckKind, CheckConfigError> {
        validate_http_path(path)?;
        if let Some(h) = host {
            validate_http_host(h)?;
        }
        if !(100..=599).contains(&expect_status) {
            return Err(CheckConfigError::BadStatus(expect_status));
        }
        Ok(CheckKind::Http {
            path: path.to_owned(),
            host: host.map(str::to_owned),
            expect_status,
        })
    }
}

/// How often and how strictly to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckConfig {
    /// What to probe.
    pub kind: CheckKind,
    /// Time between two probes of one server.
    pub interval: Duration,
    /// Time one probe may take.
    pub timeout: Duration,
    /// Consecutive successes that bring a down server up.
    pub rise: u32,
    /// Consecutive failures that take an up server down.
    pub fall: u32,
}

/// A real server's debounced state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    /// Takes new connections at its configured weight.
    Up,
    /// Takes no new connections (weight 0).
    Down,
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Up => "up",
            Self::Down => "down",
        })
    }
}

/// The weight to give the Director for a server in state `health`.
pub fn effective_weight(health: Health, configured: u32) -> u32 {
    match health {
        Health::Up => configured,
        Health::Down => 0,
    }
}

/// The rise/fall state machine of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthState {
    health: Health,
    successes: u32,
    failures: u32,
    rise: u32,
    fall: u32,
}

impl HealthState {
    /// Starts in `initial`; `rise` and `fall` below 1 are taken as 1.
    pub fn new(initial: Health, rise: u32, fall: u32) -> Self {
        Self {
            health: initial,
            successes: 0,
            failures: 0,
            rise: rise.max(1),
            fall: fall.max(1),
        }
    }

    /// The current state.
    pub fn health(&self) -> Health {
        self.health
    }

    /// Records one probe result; returns the new state if it changed.
    pub fn record(&mut self, ok: bool) -> Option<Health> {
        if ok {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
            if self.health == Health::Down && self.successes >= self.rise {
                self.health = Health::Up;
                return Some(Health::Up);
            }
        } else {
            self.successes = 0;
            self.failures = self.failures.saturating_add(1);
            if self.health == Health::Up && self.failures >= self.fall {
                self.health = Health::Down;
                return Some(Health::Down);
            }
        }
        None
    }
}

/// One probe of one server. Implementations must give up after `timeout`.
pub trait Probe: Send {
    /// Probes `target`; `Err` carries a human-readable reason.
    fn check(&mut self, target: SocketAddr, timeout: Duration) -> Result<(), String>;
}

/// TCP connect check.
#[derive(Debug, Clone, Default)]
pub struct TcpProbe;

impl Probe for TcpProbe {
    fn check(&mut self, target: SocketAddr, timeout: Duration) -> Result<(), String> {
        TcpStream::connect_timeout(&target, timeout)
            .map(drop)
            .map_err(|e| format!("connect: {e}"))
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
}

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
    fn get(&self, target: SocketAddr, timeout: Duration) -> io::Result<u16> {
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
        let mut s = TcpStream::connect_timeout(&target, timeout)?;
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
            if head.windows(2).any(|w| w == b"\r\n") || head.len() >= MAX_STATUS_LINE {
                break;
            }
        }
        parse_status_line(&head)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no HTTP status line"))
    }
}

impl Probe for HttpProbe {
    fn check(&mut self, target: SocketAddr, timeout: Duration) -> Result<(), String> {
        match self.get(target, timeout) {
            Ok(code) if code == self.expect_status => Ok(()),
            Ok(code) => Err(format!("HTTP status {code}, want {}", self.expect_status)),
            Err(e) => Err(format!("HTTP: {e}")),
        }
    }
}

/// The probe for a check kind.
pub fn probe_for(kind: &CheckKind) -> Box<dyn Probe> {
    match kind {
        CheckKind::Tcp => Box::new(TcpProbe),
        CheckKind::Http {
            path,
            host,
            expect_status,
        } => Box::new(HttpProbe {
            path: path.clone(),
            host: host.clone(),
            expect_status: *expect_status,
        }),
    }
}

/// A reported change of one server's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// Index of the target in the list given to [`HealthChecker::spawn`].
    pub index: usize,
    /// The target's address.
    pub target: SocketAddr,
    /// State before.
    pub from: Health,
    /// State now.
    pub to: Health,
    /// Result of the probe that caused the change ("ok" or the failure reason).
    pub reason: String,
}

/// A background thread checking a fixed list of targets.
#[derive(Debug)]
pub struct HealthChecker {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<JoinHandle<()>>,
}

impl HealthChecker {
    /// Starts checking `targets` (all starting in `initial`) with `probe`, calling `on_change`
    /// from the checker thread for every state change. Every change is also logged.
    pub fn spawn<F>(
        targets: Vec<SocketAddr>,
        cfg: &CheckConfig,
        initial: Health,
        probe: Box<dyn Probe>,
        on_change: F,
    ) -> io::Result<Self>
    where
        F: FnMut(StateChange) + Send + 'static,
    {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stop2 = Arc::clone(&stop);
        let (interval, timeout, rise, fall) = (cfg.interval, cfg.timeout, cfg.rise, cfg.fall);
        let handle = std::thread::Builder::new()
            .name("lvs-health".into())
            .spawn(move || {
                run(
                    targets, interval, timeout, initial, rise, fall, probe, on_change, &stop2,
                )
            })?;
        Ok(Self {
            stop,
            handle: Some(handle),
        })
    }

    /// Like [`HealthChecker::spawn`], reporting changes on a channel instead of a callback.
    pub fn spawn_channel(
        targets: Vec<SocketAddr>,
        cfg: &CheckConfig,
        initial: Health,
        probe: Box<dyn Probe>,
    ) -> io::Result<(Self, mpsc::Receiver<StateChange>)> {
        let (tx, rx) = mpsc::channel();
        let me = Self::spawn(targets, cfg, initial, probe, move |c| {
            let _ = tx.send(c);
        })?;
        Ok((me, rx))
    }

    /// Stops the thread and waits for it (at most one probe timeout).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The checker thread's loop.
#[allow(clippy::too_many_arguments)]
fn run<F: FnMut(StateChange)>(
    targets: Vec<SocketAddr>,
    interval: Duration,
    timeout: Duration,
    initial: Health,
    rise: u32,
    fall: u32,
    mut probe: Box<dyn Probe>,
    mut on_change: F,
    stop: &(Mutex<bool>, Condvar),
) {
    if targets.is_empty() {
        return;
    }
    let start = Instant::now();
    let n = targets.len() as u32;
    // Spread the first probes over one interval so servers are not all probed at once.
    let mut due: Vec<Instant> = (0..n).map(|i| start + interval / n * i).collect();
    let mut states: Vec<HealthState> = targets
        .iter()
        .map(|_| HealthState::new(initial, rise, fall))
        .collect();
    let (lock, cv) = stop;
    loop {
        let (idx, when) = due
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|(_, t)| *t)
            .unwrap_or((0, start));
        {
            let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if *stopped {
                    return;
                }
                let Some(wait) = when.checked_duration_since(Instant::now()) else {
                    break;
                };
                if wait.is_zero() {
                    break;
                }
                stopped = cv
                    .wait_timeout(stopped, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        let target = targets[idx];
        let result = probe.check(target, timeout);
        let from = states[idx].health();
        if let Some(to) = states[idx].record(result.is_ok()) {
            let reason = match &result {
                Ok(()) => "ok".to_string(),
                Err(e) => e.clone(),
            };
            match to {
                Health::Up => tracing::info!(%target, %from, %to, %reason, "real server up"),
                Health::Down => tracing::warn!(%target, %from, %to, %reason, "real server down"),
            }
            on_change(StateChange {
                index: idx,
                target,
                from,
                to,
                reason,
            });
        } else if let Err(e) = &result {
            tracing::debug!(%target, reason = %e, "health probe failed");
        }
        let now = Instant::now();
        due[idx] = (due[idx] + interval).max(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::net::TcpListener;

    #[test]
    fn rise_and_fall_debounce() {
        let mut s = HealthState::new(Health::Up, 2, 3);
        assert_eq!(s.record(false), None);
        assert_eq!(s.record(false), None);
        assert_eq!(s.record(true), None); // resets the failure count
        assert_eq!(s.record(false), None);
        assert_eq!(s.record(false), None);
        assert_eq!(s.record(false), Some(Health::Down));
        assert_eq!(s.record(false), None);
        assert_eq!(s.record(true), None);
        assert_eq!(s.record(false), None); // resets the success count
        assert_eq!(s.record(true), None);
        assert_eq!(s.record(true), Some(Health::Up));
        assert_eq!(s.record(true), None);
        assert_eq!(s.health(), Health::Up);

        let mut d = HealthState::new(Health::Down, 0, 0);
        assert_eq!(d.record(true), Some(Health::Up));
        assert_eq!(d.record(false), Some(Health::Down));
        assert_eq!(effective_weight(Health::Down, 5), 0);
        assert_eq!(effective_weight(Health::Up, 5), 5);
    }

    /// A probe that replays a script of results, then keeps succeeding.
    struct Scripted(Arc<Mutex<VecDeque<bool>>>);

    impl Probe for Scripted {
        fn check(&mut self, _: SocketAddr, _: Duration) -> Result<(), String> {
            match self.0.lock().unwrap().pop_front() {
                Some(false) => Err("scripted failure".into()),
                _ => Ok(()),
            }
        }
    }

    #[test]
    fn checker_thread_reports_changes() {
        let script = Arc::new(Mutex::new(VecDeque::from([true, false, false, true, true])));
        let cfg = CheckConfig {
            kind: CheckKind::Tcp,
            interval: Duration::from_millis(2),
            timeout: Duration::from_millis(50),
            rise: 2,
            fall: 2,
        };
        let target: SocketAddr = "192.0.2.7:80".parse().unwrap();
        let (checker, rx) = HealthChecker::spawn_channel(
            vec![target],
            &cfg,
            Health::Up,
            Box::new(Scripted(Arc::clone(&script))),
        )
        .unwrap();
        let down = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(
            (down.from, down.to, down.index),
            (Health::Up, Health::Down, 0)
        );
        assert_eq!(down.reason, "scripted failure");
        let up = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(
            (up.from, up.to, up.target),
            (Health::Down, Health::Up, target)
        );
        let t = Instant::now();
        checker.stop();
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!(rx.recv_timeout(Duration::from_millis(20)).is_err());
    }

    #[test]
    fn tcp_probe_against_local_listener() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        assert!(TcpProbe.check(addr, Duration::from_secs(2)).is_ok());
        drop(l);
        assert!(TcpProbe.check(addr, Duration::from_secs(2)).is_err());
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
}
