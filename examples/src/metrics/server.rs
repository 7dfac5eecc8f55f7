//! The `/metrics` HTTP endpoint: a minimal HTTP/1.1 GET responder over `std::net`.
//!
//! Why hand-rolled: the endpoint answers one path to one kind of client, and what it must
//! guarantee is what general HTTP server crates leave open — a hard cap on request bytes, on
//! concurrent connections and on the total time a client may take to send its request (a
//! per-read timeout alone lets a slowloris client dribble a byte per timeout for ever). With
//! `tiny_http`, the usual small choice, none of those three can be set, and it would add four
//! crates for what is here a request-line parser and a fixed response. Nothing in this file is
//! on the packet path: it only locks the shared snapshot long enough to clone it.
//!
//! Each request gets its own thread (at most [`MAX_CONNECTIONS`] at once; more are answered
//! `503` and closed), a total deadline of [`REQUEST_DEADLINE`] to deliver at most
//! [`MAX_REQUEST_BYTES`] of request head, and one response with `Connection: close`. Only the
//! request line is parsed: `GET` or `HEAD`, a path, `HTTP/1.x`; anything else is `400`, other
//! methods `405`, other paths `404`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{CONTENT_TYPE, MetricsSnapshot};

/// The most bytes of request head (request line and headers) read from a client. Prometheus
/// sends about 300; anything past this is answered `431` and closed.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// The most requests served at once; further connections get `503` and are closed.
pub const MAX_CONNECTIONS: usize = 8;

/// The total time a client has to send its request head, and the time a response may take to
/// be written. Prometheus' default scrape timeout is 10 s; a request arrives in milliseconds.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);

/// How often the accept loop looks at the stop flag while idle (the drop latency).
const ACCEPT_POLL: Duration = Duration::from_millis(50);

/// The `/metrics` server. Dropping it stops accepting and joins the accept thread; requests
/// already being served finish within [`REQUEST_DEADLINE`] on their own threads.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Listens on `addr` (port 0: any free port, see [`MetricsServer::local_addr`]) and serves
    /// the latest snapshot in `shared` at `/metrics` from a thread of its own.
    pub fn spawn(
        addr: SocketAddr,
        shared: Arc<Mutex<MetricsSnapshot>>,
    ) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("lvs-metrics".into())
            .spawn(move || accept_loop(&listener, &shared, &flag))?;
        Ok(MetricsServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Decrements the connection count when a request thread ends, however it ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Mutex<MetricsSnapshot>>, stop: &AtomicBool) {
    let busy = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(ACCEPT_POLL);
                continue;
            }
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                tracing::warn!("metrics: accept failed: {e}");
                std::thread::sleep(ACCEPT_POLL);
                continue;
            }
        };
        if busy.fetch_add(1, Ordering::Relaxed) >= MAX_CONNECTIONS {
            busy.fetch_sub(1, Ordering::Relaxed);
            // A fresh socket's send buffer is empty: this short write does not block.
            let _ = stream.set_nonblocking(true);
            respond(
                &stream,
                503,
                "Service Unavailable",
                "text/plain",
                b"busy\n",
                false,
            );
            continue;
        }
        let slot = Slot(Arc::clone(&busy));
        let shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name("lvs-metrics-req".into())
            .spawn(move || {
                let _slot = slot;
                serve(stream, &shared);
            });
        if let Err(e) = spawned {
            tracing::warn!("metrics: cannot start a request thread: {e}");
        }
    }
}

/// What a request asked for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    /// `GET` (`head: false`) or `HEAD` of a path (query string removed).
    Fetch { path: String, head: bool },
    /// A method other than GET/HEAD.
    Method,
    /// Not an HTTP/1.x request line.
    Bad,
}

/// Parses the request line of a request head (bytes up to the first line end).
fn parse_request_line(head: &[u8]) -> Request {
    let end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let Ok(line) = std::str::from_utf8(&head[..end]) else {
        return Request::Bad;
    };
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Request::Bad;
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') || method.is_empty() {
        return Request::Bad;
    }
    if !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Request::Bad;
    }
    let head = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Request::Method,
    };
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    Request::Fetch {
        path: path.to_string(),
        head,
    }
}

/// Where the request head ends (after the blank line), if it has arrived.
fn head_end(buf: &[u8]) -> Option<usize> {
    (0..buf.len()).find_map(|i| {
        if buf[i..].starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if buf[i..].starts_with(b"\n\n") {
            Some(i + 2)
        } else {
            None
        }
    })
}

/// Reads the request head within the deadline: `Ok(Some(len))`, `Ok(None)` when it is longer
/// than [`MAX_REQUEST_BYTES`], `Err` on timeout, reset or early close.
fn read_head(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<Option<usize>> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut len = 0;
    loop {
        if let Some(end) = head_end(&buf[..len]) {
            return Ok(Some(end));
        }
        if len == buf.len() {
            return Ok(None);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf[len..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Serves one request on `stream` and closes it.
fn serve(mut stream: TcpStream, shared: &Mutex<MetricsSnapshot>) {
    if stream.set_nonblocking(false).is_err()
        || stream.set_write_timeout(Some(REQUEST_DEADLINE)).is_err()
    {
        return;
    }
    let mut buf = vec![0u8; MAX_REQUEST_BYTES];
    let head = match read_head(&mut stream, &mut buf) {
        Ok(Some(n)) => &buf[..n],
        Ok(None) => {
            let msg = b"request head too large\n";
            respond(
                &stream,
                431,
                "Request Header Fields Too Large",
                "text/plain",
                msg,
                false,
            );
            return;
        }
        // Timed out, reset or closed early: nothing useful to answer.
        Err(_) => return,
    };
    match parse_request_line(head) {
        Request::Fetch { path, head } if path == "/metrics" => {
            let snapshot = match shared.lock() {
                Ok(g) => g.clone(),
                Err(p) => p.into_inner().clone(),
            };
            let body = snapshot.render();
            respond(&stream, 200, "OK", CONTENT_TYPE, body.as_bytes(), head);
        }
        Request::Fetch { head, .. } => {
            respond(
                &stream,
                404,
                "Not Found",
                "text/plain",
                b"not found; try /metrics\n",
                head,
            );
        }
        Request::Method => {
            respond(
                &stream,
                405,
                "Method Not Allowed",
                "text/plain",
                b"only GET and HEAD\n",
                false,
            );
        }
        Request::Bad => {
            respond(
                &stream,
                400,
                "Bad Request",
                "text/plain",
                b"bad request\n",
                false,
            );
        }
    }
}

/// Writes one response with `Connection: close` and shuts the socket down. `head_only` leaves
/// the body out (a `HEAD` request) but keeps its length.
fn respond(
    mut stream: &TcpStream,
    code: u16,
    reason: &str,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) {
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if code == 405 {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if !head_only {
        bytes.extend_from_slice(body);
    }
    let _ = stream.write_all(&bytes);
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let fetch = |p: &str, head| Request::Fetch {
            path: p.into(),
            head,
        };
        assert_eq!(
            parse_request_line(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            fetch("/metrics", false)
        );
        assert_eq!(
            parse_request_line(b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"),
            fetch("/metrics", true)
        );
        assert_eq!(parse_request_line(b"GET / HTTP/1.1\n\n"), fetch("/", false));
        assert_eq!(
            parse_request_line(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Request::Method
        );
        for bad in [
            &b""[..],
            b"\r\n\r\n",
            b"GET /metrics\r\n\r\n",
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/2\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"get /metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/1.1 extra\r\n\r\n",
            b"\xff\xfe /metrics HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(parse_request_line(bad), Request::Bad, "{bad:?}");
        }
    }

    #[test]
    fn head_ends() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n"), None);
        assert_eq!(head_end(b""), None);
    }

    /// Garbage of every shape never panics the parser.
    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..600usize {
            let mut v = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Bias towards the bytes the parser looks at.
                let pick = [
                    b' ',
                    b'\r',
                    b'\n',
                    b'/',
                    b'G',
                    b'E',
                    b'T',
                    b'?',
                    (x >> 8) as u8,
                ];
                v.push(pick[(x % pick.len() as u64) as usize]);
            }
            let _ = parse_request_line(&v);
            let _ = head_end(&v);
        }
    }
}
