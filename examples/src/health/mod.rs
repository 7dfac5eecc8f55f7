//! Real-server health checks, the way keepalived does them.
//!
//! Why here and like this: the Director only knows weights. Checker threads probe every target
//! on its own interval (TCP connect, HTTP GET with an expected status, or a script), turn the
//! raw results into a debounced up/down state with *rise* and *fall* counts (so one lost SYN does
//! not flap a server), and report only the changes. The caller maps a change to a weight update —
//! [`effective_weight`]: down is weight 0 (the server keeps its connections but gets no new
//! ones, as keepalived's `inhibit_on_failure` does), up is the configured weight.
//!
//! It is plain std: blocking sockets with timeouts, a condition variable to stop promptly, and
//! targets probed in parallel ([`checker`]), so one dead host with many services does not delay
//! the verdict on any of them. A check only runs where it makes sense: the runner gives TCP and
//! HTTP checks to TCP services only (a UDP service is checked by a script, or not at all).
//!
//! - [`probe`]: one probe of one target (`TcpProbe`, `HttpProbe`, `MiscProbe`).
//! - [`checker`]: the threads, the schedule, the reported changes.

use std::fmt;
use std::time::Duration;

pub mod checker;
pub mod md5;
pub mod probe;
mod sock;

pub use checker::{CheckTarget, HealthChecker, MAX_CHECK_THREADS, StateChange};
pub use probe::{HttpProbe, MiscProbe, Probe, TcpProbe, probe_for};

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
        /// Expected MD5 of the body (keepalived's `digest`), if any.
        digest: Option<[u8; 16]>,
    },
    /// A program must exit with status 0 within the timeout (keepalived's
    /// `MISC_CHECK`). The only check that suits every protocol.
    Misc {
        /// The program and its arguments (run directly, no shell).
        argv: Vec<String>,
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
    /// A digest that is not 32 hex digits.
    BadDigest(String),
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
            CheckConfigError::BadDigest(d) => {
                write!(f, "HTTP check digest {d:?} is not 32 hex digits (an MD5)")
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
            digest: None,
        })
    }

    /// An HTTP check that also wants the body's MD5 to be `hex` (32 hex
    /// digits, keepalived's `digest`). Other kinds are returned unchanged.
    pub fn with_digest(self, hex: &str) -> Result<CheckKind, CheckConfigError> {
        let d = md5::parse_hex(hex).ok_or_else(|| CheckConfigError::BadDigest(hex.to_owned()))?;
        Ok(match self {
            CheckKind::Http {
                path,
                host,
                expect_status,
                ..
            } => CheckKind::Http {
                path,
                host,
                expect_status,
                digest: Some(d),
            },
            other => other,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
