//! The director's end of the control socket.
//!
//! Why this shape: the packet path runs on the event-loop thread and must
//! never wait for a client, yet commands must run on that same thread, where
//! the [`Director`](lvs_forwarding::Director) lives, so that a change lands
//! between two batches and never races the packet path. So the server is
//! non-blocking and driven by the loop: [`ControlServer::poll`] accepts
//! pending clients, reads what each has sent so far into its own bounded
//! buffer, runs the handler for every complete request, and writes what the
//! socket takes of each reply. Per call it accepts at most
//! [`ACCEPT_PER_POLL`] clients and moves at most [`IO_PER_POLL`] bytes per
//! client, so a slow or stuck client costs the loop a few system calls, not
//! a stall; a client that has not finished within [`CLIENT_TIMEOUT`] is
//! dropped, and no more than [`MAX_CLIENTS`] are open at once (more are told
//! the director is busy).
//!
//! [`ControlServer::fd`] is an epoll descriptor holding the listening socket
//! and every open client: it polls readable exactly when `poll` has
//! something to do, so a loop that sleeps in `poll(2)`/`epoll_wait(2)` can
//! add it to its set. A loop that spins anyway (as the runner's does) just
//! calls `poll` every round: when idle that is one `accept` and one
//! zero-timeout `epoll_wait`.
//!
//! The socket is created owner-only (mode 0600: permissions are set on the
//! socket before it is bound, so it never exists with wider ones) in a
//! parent directory created 0700 if missing; a stale socket left by a dead
//! director is removed, a live one (something answers on it) is not.

use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::commands::EXIT_FAILURE;
use super::protocol::{
    DecodeError, HEADER_LEN, MAX_REQUEST, REQUEST_MAGIC, Reply, Request, payload_len,
};

/// The socket path the directors and `lvsadm` use when not told otherwise.
pub const DEFAULT_CONTROL_PATH: &str = "/run/lvs-rs/control.sock";
/// Clients served at once.
pub const MAX_CLIENTS: usize = 16;
/// Clients accepted per [`ControlServer::poll`].
pub const ACCEPT_PER_POLL: usize = 8;
/// Bytes read from, or written to, one client per [`ControlServer::poll`].
pub const IO_PER_POLL: usize = 256 * 1024;
/// How long a client has to send its request and take its reply.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where one client is.
struct Client {
    stream: UnixStream,
    since: Instant,
    /// The request as read so far.
    inbuf: Vec<u8>,
    /// The encoded reply, once there is one.
    out: Option<Vec<u8>>,
    written: usize,
    /// Whether epoll watches for writability (set while a reply is pending).
    watching_out: bool,
}

/// What reading told us.
enum ReadState {
    /// More bytes are needed.
    Pending,
    /// A whole, valid request.
    Request(Request),
    /// Bytes that are not a request: answer with this error.
    Bad(DecodeError),
    /// The peer went away (or failed) before sending a whole request.
    Gone,
}

/// The control socket of a running director. See the module docs.
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
    epoll: OwnedFd,
    clients: Vec<Client>,
}

impl std::fmt::Debug for ControlServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlServer")
            .field("path", &self.path)
            .field("clients", &self.clients.len())
            .finish()
    }
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A listening Unix stream socket at `path`, mode 0600 before it is bound.
fn listen_owner_only(path: &Path) -> io::Result<UnixListener> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: zeroed sockaddr_un is a valid value of the plain C struct.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!(
                "control socket path too long or not a path: {}",
                path.display()
            ),
        ));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: plain system calls on a descriptor this function owns; the
    // address is a fully initialised sockaddr_un of the size passed.
    unsafe {
        let fd = cvt(libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        ))?;
        let owned = OwnedFd::from_raw_fd(fd);
        // Linux creates the socket file with the socket inode's mode (minus
        // the umask): setting it first means the file is never wider.
        cvt(libc::fchmod(fd, 0o600))?;
        cvt(libc::bind(
            fd,
            (&raw const addr).cast::<libc::sockaddr>(),
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        ))?;
        cvt(libc::listen(fd, MAX_CLIENTS as libc::c_int))?;
        Ok(UnixListener::from(owned))
    }
}

fn epoll_ctl(epoll: &OwnedFd, op: libc::c_int, fd: RawFd, events: u32) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events,
        u64: fd as u64,
    };
    // SAFETY: both descriptors are open; `ev` lives across the call.
    cvt(unsafe { libc::epoll_ctl(epoll.as_raw_fd(), op, fd, &mut ev) }).map(|_| ())
}

impl ControlServer {
    /// Listen on `path`: create its parent directory (mode 0700) if missing,
    /// remove a stale socket left there by a director that is gone, and
    /// create the socket with mode 0600. Fails if something else than a
    /// socket is at `path`, or a live process answers on it.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<ControlServer> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_socket() => {
                if UnixStream::connect(&path).is_ok() {
                    return Err(io::Error::new(
                        ErrorKind::AddrInUse,
                        format!("a director already listens on {}", path.display()),
                    ));
                }
                std::fs::remove_file(&path)?;
            }
            Ok(_) => {
                return Err(io::Error::new(
                    ErrorKind::AlreadyExists,
                    format!("{} exists and is not a socket", path.display()),
                ));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = listen_owner_only(&path)?;
        // Belt and braces: should the kernel not have taken the mode from
        // the socket, narrow it now.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        // SAFETY: epoll_create1 returns a new descriptor or -1.
        let epfd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: a fresh descriptor nobody else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(epfd) };
        epoll_ctl(
            &epoll,
            libc::EPOLL_CTL_ADD,
            listener.as_raw_fd(),
            libc::EPOLLIN as u32,
        )?;
        Ok(ControlServer {
            listener,
            path,
            epoll,
            clients: Vec::new(),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A descriptor that polls readable when [`ControlServer::poll`] has work
    /// (a client to accept, bytes to read, room to write).
    pub fn fd(&self) -> RawFd {
        self.epoll.as_raw_fd()
    }

    /// Clients currently open.
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    /// Accept, read, answer and write without blocking; `handler` runs once
    /// per complete, well-formed request (a malformed one gets an error
    /// reply without reaching it). Returns the number of requests handled.
    pub fn poll(&mut self, handler: &mut dyn FnMut(Request) -> Reply) -> usize {
        self.drain_ready();
        self.accept();
        let mut served = 0;
        let now = Instant::now();
        let mut i = 0;
        while i < self.clients.len() {
            let keep = self.step(i, now, handler, &mut served);
            if keep {
                i += 1;
            } else {
                let c = self.clients.swap_remove(i);
                let _ = epoll_ctl(&self.epoll, libc::EPOLL_CTL_DEL, c.stream.as_raw_fd(), 0);
            }
        }
        served
    }

    /// Empty epoll's ready list; readiness is re-checked on the sockets.
    fn drain_ready(&self) {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 32];
        // SAFETY: the buffer holds 32 events and lives across the call.
        unsafe {
            libc::epoll_wait(self.epoll.as_raw_fd(), evs.as_mut_ptr(), 32, 0);
        }
    }

    fn accept(&mut self) {
        for _ in 0..ACCEPT_PER_POLL {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(_) => return,
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            if self.clients.len() >= MAX_CLIENTS {
                // Best effort, never waits: the reply is small and the
                // socket buffer empty.
                let mut s = stream;
                let _ = s.write_all(
                    &Reply::error(EXIT_FAILURE, "director busy: too many lvsadm clients").encode(),
                );
                continue;
            }
            if epoll_ctl(
                &self.epoll,
                libc::EPOLL_CTL_ADD,
                stream.as_raw_fd(),
                libc::EPOLLIN as u32,
            )
            .is_err()
            {
                continue;
            }
            self.clients.push(Client {
                stream,
                since: Instant::now(),
                inbuf: Vec::new(),
                out: None,
                written: 0,
                watching_out: false,
            });
        }
    }

    /// Move client `i` on; false when it is finished or dropped.
    fn step(
        &mut self,
        i: usize,
        now: Instant,
        handler: &mut dyn FnMut(Request) -> Reply,
        served: &mut usize,
    ) -> bool {
        let c = &mut self.clients[i];
        if now.duration_since(c.since) > CLIENT_TIMEOUT {
            return false;
        }
        if c.out.is_none() {
            let reply = match read_some(c) {
                ReadState::Pending => return true,
                ReadState::Gone => return false,
                ReadState::Bad(e) => {
                    Reply::error(EXIT_FAILURE, format!("lvsadm: malformed request: {e}"))
                }
                ReadState::Request(r) => {
                    *served += 1;
                    handler(r)
                }
            };
            c.out = Some(reply.encode());
            c.inbuf = Vec::new();
        }
        let Some(out) = &c.out else { return false };
        let mut budget = IO_PER_POLL;
        while c.written < out.len() && budget > 0 {
            let end = out.len().min(c.written + budget);
            match c.stream.write(&out[c.written..end]) {
                Ok(0) => return false,
                Ok(n) => {
                    c.written += n;
                    budget -= n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        if c.written >= out.len() {
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
            return false;
        }
        if !c.watching_out {
            c.watching_out = true;
            let fd = c.stream.as_raw_fd();
            let _ = epoll_ctl(&self.epoll, libc::EPOLL_CTL_MOD, fd, libc::EPOLLOUT as u32);
        }
        true
    }
}

/// Read what `c` has sent, up to [`IO_PER_POLL`] bytes and never past the
/// frame its header announces.
fn read_some(c: &mut Client) -> ReadState {
    let mut budget = IO_PER_POLL;
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let want = if c.inbuf.len() < HEADER_LEN {
            HEADER_LEN
        } else {
            match payload_len(&c.inbuf, REQUEST_MAGIC, MAX_REQUEST) {
                Ok(n) => HEADER_LEN + n,
                Err(e) => return ReadState::Bad(e),
            }
        };
        if c.inbuf.len() == want {
            if want == HEADER_LEN {
                // A header announcing an empty payload: decode says why not.
                if let Err(e) = payload_len(&c.inbuf, REQUEST_MAGIC, MAX_REQUEST) {
                    return ReadState::Bad(e);
                }
            }
            if want > HEADER_LEN || c.inbuf.len() >= HEADER_LEN {
                return match Request::decode(&c.inbuf) {
                    Ok(r) => ReadState::Request(r),
                    Err(e) => ReadState::Bad(e),
                };
            }
        }
        if budget == 0 {
            return ReadState::Pending;
        }
        let n = (want - c.inbuf.len()).min(chunk.len()).min(budget);
        match c.stream.read(&mut chunk[..n]) {
            Ok(0) => {
                // The peer is done sending: what it sent is all there is.
                if c.inbuf.is_empty() {
                    return ReadState::Gone;
                }
                return match Request::decode(&c.inbuf) {
                    Ok(r) => ReadState::Request(r),
                    Err(e) => ReadState::Bad(e),
                };
            }
            Ok(k) => {
                c.inbuf.extend_from_slice(&chunk[..k]);
                budget -= k;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return ReadState::Pending,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return ReadState::Gone,
        }
    }
}

impl Drop for ControlServer {
    /// Remove the socket file, so that the next director finds no stale one.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        std::env::temp_dir()
            .join(format!("lvsadm-srv-{}-{name}", std::process::id()))
            .join("control.sock")
    }

    fn serve_until(srv: &mut ControlServer, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() && start.elapsed() < Duration::from_secs(5) {
            srv.poll(&mut |r: Request| Reply::ok(r.args.join(" ")));
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn answers_requests_and_garbage_and_keeps_serving() {
        let path = tmp("garbage");
        let mut srv = ControlServer::bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Garbage: an error reply, not a crash.
        let mut g = UnixStream::connect(&path).unwrap();
        g.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        g.shutdown(std::net::Shutdown::Write).unwrap();
        let got = std::thread::spawn(move || Reply::read_from(&mut g));
        serve_until(&mut srv, || got.is_finished());
        let r = got.join().unwrap().unwrap();
        assert_eq!(r.code, EXIT_FAILURE);
        assert!(r.stderr.contains("malformed request"), "{r:?}");
        // A real request still works.
        let mut c = UnixStream::connect(&path).unwrap();
        c.write_all(&Request::new(["-L", "-n"]).encode().unwrap())
            .unwrap();
        let got = std::thread::spawn(move || Reply::read_from(&mut c));
        serve_until(&mut srv, || got.is_finished());
        assert_eq!(got.join().unwrap().unwrap().stdout, "-L -n");
    }

    #[test]
    fn a_silent_client_does_not_block_others() {
        let path = tmp("silent");
        let mut srv = ControlServer::bind(&path).unwrap();
        // Half a header, then nothing.
        let mut slow = UnixStream::connect(&path).unwrap();
        slow.write_all(b"LVS").unwrap();
        let mut c = UnixStream::connect(&path).unwrap();
        c.write_all(&Request::new(["-S"]).encode().unwrap())
            .unwrap();
        let got = std::thread::spawn(move || Reply::read_from(&mut c));
        serve_until(&mut srv, || got.is_finished());
        assert_eq!(got.join().unwrap().unwrap().stdout, "-S");
        assert_eq!(srv.clients(), 1);
        // Once it hangs up, its slot is freed.
        drop(slow);
        let start = Instant::now();
        while srv.clients() > 0 && start.elapsed() < Duration::from_secs(5) {
            srv.poll(&mut |_| Reply::default());
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(srv.clients(), 0);
    }

    #[test]
    fn stale_sockets_are_replaced_live_ones_and_files_are_not() {
        let path = tmp("stale");
        let srv = ControlServer::bind(&path).unwrap();
        assert_eq!(
            ControlServer::bind(&path).unwrap_err().kind(),
            ErrorKind::AddrInUse
        );
        // A socket nobody listens on any more.
        let fd = srv.listener.as_raw_fd();
        std::mem::forget(srv);
        // SAFETY: closing the leaked listener's descriptor, used by nothing else.
        unsafe { libc::close(fd) };
        let again = ControlServer::bind(&path).unwrap();
        drop(again);
        assert!(!path.exists());
        std::fs::write(&path, b"not a socket").unwrap();
        assert_eq!(
            ControlServer::bind(&path).unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        std::fs::remove_file(&path).unwrap();
    }
}
