//! The wire format between `lvsadm` and a running director.
//!
//! Why this shape: the control socket is a local Unix stream socket, but the
//! director must survive anything written to it (a wrong program, a truncated
//! write, a hostile local user who got at the socket), and it must never
//! buffer without bound. So every message is one length-prefixed frame with
//! a fixed header that is checked before any payload is read, and every
//! count and length in it has a hard limit.
//!
//! The request carries the command as its argument vector (what the shell
//! gave `lvsadm`, without the program name and `--control`), plus the text
//! `-R` read from standard input. Sending the argv rather than a parsed
//! command keeps the client thin and the protocol stable while commands
//! grow, and it makes the director parse every command itself: the client is
//! never trusted (see [`super::commands::parse_command`]).
//!
//! # Frame
//!
//! ```text
//! offset  size  field
//! 0       4     magic: "LVSQ" (request) or "LVSA" (reply)
//! 4       1     version: 1
//! 5       3     reserved, zero
//! 8       4     payload length, big-endian (request <= MAX_REQUEST,
//!               reply <= MAX_REPLY)
//! 12      ...   payload
//! ```
//!
//! Request payload: `u32 argc` (<= [`MAX_ARGS`]), then per argument `u32 len`
//! (<= [`MAX_ARG_LEN`]) and that many bytes of UTF-8, then `u32 len` and the
//! UTF-8 input text. Reply payload: `u8` exit code, then `u32 len` + UTF-8
//! standard output, then `u32 len` + UTF-8 standard error. All integers are
//! big-endian; nothing may follow the last field. One request and one reply
//! per connection: the director closes the connection after replying.

use std::fmt;
use std::io::{self, Read};

/// Protocol version carried in every header; a different one is refused.
pub const VERSION: u8 = 1;
/// Magic of a request frame.
pub const REQUEST_MAGIC: [u8; 4] = *b"LVSQ";
/// Magic of a reply frame.
pub const REPLY_MAGIC: [u8; 4] = *b"LVSA";
/// Bytes of the fixed header.
pub const HEADER_LEN: usize = 12;
/// Largest request payload (argv plus a `-R` rules text): 1 MiB.
pub const MAX_REQUEST: usize = 1 << 20;
/// Largest reply payload: 64 MiB, room for `-Lnc` of about 700 000 entries.
/// Longer output is cut and the cut is said on standard error.
pub const MAX_REPLY: usize = 64 << 20;
/// Most arguments in one request.
pub const MAX_ARGS: usize = 256;
/// Longest single argument, in bytes.
pub const MAX_ARG_LEN: usize = 4096;

/// A command for the director: `lvsadm`'s arguments and its standard input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    /// The arguments, without the program name and without `--control`.
    pub args: Vec<String>,
    /// Rules read from standard input for `-R`; empty otherwise.
    pub input: String,
}

/// The director's answer, printed by `lvsadm` as is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    /// The exit code `lvsadm` exits with (ipvsadm's: 0, 1, 2 or 255).
    pub code: u8,
    /// Text for standard output.
    pub stdout: String,
    /// Text for standard error.
    pub stderr: String,
}

impl Reply {
    /// Exit 0 with `stdout`.
    pub fn ok(stdout: impl Into<String>) -> Reply {
        Reply {
            code: 0,
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    /// Exit `code` with one line `message` on standard error.
    pub fn error(code: u8, message: impl fmt::Display) -> Reply {
        Reply {
            code,
            stdout: String::new(),
            stderr: format!("{message}\n"),
        }
    }
}

/// Why bytes are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the header or the length it announces.
    Truncated,
    /// Not the expected magic: not an lvsadm client (or not a director).
    BadMagic([u8; 4]),
    /// A protocol version this side does not speak.
    BadVersion(u8),
    /// Reserved header bytes are not zero.
    BadReserved,
    /// The payload length is above the limit.
    TooLarge {
        /// Announced length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// More arguments than [`MAX_ARGS`].
    TooManyArgs(u32),
    /// An argument longer than [`MAX_ARG_LEN`].
    ArgTooLong(u32),
    /// A string field is not UTF-8.
    NotUtf8,
    /// A field runs past the payload.
    FieldOverrun,
    /// Bytes after the last field.
    TrailingBytes(usize),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("truncated message"),
            DecodeError::BadMagic(m) => write!(f, "bad magic {m:02x?}"),
            DecodeError::BadVersion(v) => {
                write!(
                    f,
                    "protocol version {v} not supported (this side speaks {VERSION})"
                )
            }
            DecodeError::BadReserved => f.write_str("reserved header bytes are not zero"),
            DecodeError::TooLarge { len, max } => {
                write!(f, "message of {len} bytes is above the limit of {max}")
            }
            DecodeError::TooManyArgs(n) => {
                write!(f, "{n} arguments, at most {MAX_ARGS} are accepted")
            }
            DecodeError::ArgTooLong(n) => {
                write!(
                    f,
                    "an argument of {n} bytes, at most {MAX_ARG_LEN} are accepted"
                )
            }
            DecodeError::NotUtf8 => f.write_str("text that is not UTF-8"),
            DecodeError::FieldOverrun => f.write_str("a field runs past the end of the message"),
            DecodeError::TrailingBytes(n) => write!(f, "{n} bytes after the last field"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Check a frame header (`header` holds at least [`HEADER_LEN`] bytes) and
/// return the payload length it announces. `magic` and `max` say which frame
/// kind is expected.
pub fn payload_len(header: &[u8], magic: [u8; 4], max: usize) -> Result<usize, DecodeError> {
    let h = header.get(..HEADER_LEN).ok_or(DecodeError::Truncated)?;
    let got = [h[0], h[1], h[2], h[3]];
    if got != magic {
        return Err(DecodeError::BadMagic(got));
    }
    if h[4] != VERSION {
        return Err(DecodeError::BadVersion(h[4]));
    }
    if h[5..8] != [0, 0, 0] {
        return Err(DecodeError::BadReserved);
    }
    let len = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
    if len as usize > max {
        return Err(DecodeError::TooLarge {
            len: u64::from(len),
            max,
        });
    }
    Ok(len as usize)
}

/// A cursor over a payload.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.0.len() {
            return Err(DecodeError::FieldOverrun);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self, max: usize) -> Result<String, DecodeError> {
        let n = self.u32()?;
        if n as usize > max {
            return Err(DecodeError::ArgTooLong(n));
        }
        let b = self.bytes(n as usize)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::NotUtf8)
    }

    fn end(&self) -> Result<(), DecodeError> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

fn header(magic: [u8; 4], len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_LEN + len);
    v.extend_from_slice(&magic);
    v.extend_from_slice(&[VERSION, 0, 0, 0]);
    v.extend_from_slice(&(len as u32).to_be_bytes());
    v
}

fn put_str(v: &mut Vec<u8>, s: &str) {
    v.extend_from_slice(&(s.len() as u32).to_be_bytes());
    v.extend_from_slice(s.as_bytes());
}

/// Why a request cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// More than [`MAX_ARGS`] arguments.
    TooManyArgs(usize),
    /// An argument above [`MAX_ARG_LEN`] bytes.
    ArgTooLong(usize),
    /// The whole request is above [`MAX_REQUEST`] bytes.
    TooLarge(usize),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooManyArgs(n) => write!(f, "{n} arguments, at most {MAX_ARGS}"),
            EncodeError::ArgTooLong(n) => {
                write!(f, "an argument of {n} bytes, at most {MAX_ARG_LEN}")
            }
            EncodeError::TooLarge(n) => {
                write!(f, "a request of {n} bytes, at most {MAX_REQUEST}")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

impl Request {
    /// The request for `args` with no input.
    pub fn new<S: Into<String>>(args: impl IntoIterator<Item = S>) -> Request {
        Request {
            args: args.into_iter().map(Into::into).collect(),
            input: String::new(),
        }
    }

    /// The whole frame, header included.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        if self.args.len() > MAX_ARGS {
            return Err(EncodeError::TooManyArgs(self.args.len()));
        }
        if let Some(a) = self.args.iter().find(|a| a.len() > MAX_ARG_LEN) {
            return Err(EncodeError::ArgTooLong(a.len()));
        }
        let len = 4 + self.args.iter().map(|a| 4 + a.len()).sum::<usize>() + 4 + self.input.len();
        if len > MAX_REQUEST {
            return Err(EncodeError::TooLarge(len));
        }
        let mut v = header(REQUEST_MAGIC, len);
        v.extend_from_slice(&(self.args.len() as u32).to_be_bytes());
        for a in &self.args {
            put_str(&mut v, a);
        }
        put_str(&mut v, &self.input);
        Ok(v)
    }

    /// Decode a whole frame (header and payload, nothing after it).
    pub fn decode(frame: &[u8]) -> Result<Request, DecodeError> {
        let len = payload_len(frame, REQUEST_MAGIC, MAX_REQUEST)?;
        let payload = &frame[HEADER_LEN..];
        match payload.len().cmp(&len) {
            std::cmp::Ordering::Less => return Err(DecodeError::Truncated),
            std::cmp::Ordering::Greater => {
                return Err(DecodeError::TrailingBytes(payload.len() - len));
            }
            std::cmp::Ordering::Equal => {}
        }
        let mut f = Fields(payload);
        let argc = f.u32()?;
        if argc as usize > MAX_ARGS {
            return Err(DecodeError::TooManyArgs(argc));
        }
        let mut args = Vec::with_capacity(argc as usize);
        for _ in 0..argc {
            args.push(f.string(MAX_ARG_LEN)?);
        }
        let input = f.string(MAX_REQUEST)?;
        f.end()?;
        Ok(Request { args, input })
    }
}

/// Cut `s` to at most `max` bytes at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Reply {
    /// The whole frame, header included. Output that would pass
    /// [`MAX_REPLY`] is cut, and standard error says so.
    pub fn encode(&self) -> Vec<u8> {
        const NOTE: &str = "lvsadm: output cut at the reply size limit\n";
        let room = MAX_REPLY - 1 - 8 - NOTE.len();
        let stderr = cut(&self.stderr, room);
        let stdout = cut(&self.stdout, room - stderr.len());
        let note = if stdout.len() < self.stdout.len() || stderr.len() < self.stderr.len() {
            NOTE
        } else {
            ""
        };
        let len = 1 + 4 + stdout.len() + 4 + stderr.len() + note.len();
        let mut v = header(REPLY_MAGIC, len);
        v.push(self.code);
        put_str(&mut v, stdout);
        v.extend_from_slice(&((stderr.len() + note.len()) as u32).to_be_bytes());
        v.extend_from_slice(stderr.as_bytes());
        v.extend_from_slice(note.as_bytes());
        v
    }

    /// Decode a whole frame (header and payload, nothing after it).
    pub fn decode(frame: &[u8]) -> Result<Reply, DecodeError> {
        let len = payload_len(frame, REPLY_MAGIC, MAX_REPLY)?;
        let payload = &frame[HEADER_LEN..];
        if payload.len() != len {
            return Err(if payload.len() < len {
                DecodeError::Truncated
            } else {
                DecodeError::TrailingBytes(payload.len() - len)
            });
        }
        let mut f = Fields(payload);
        let code = f.bytes(1)?[0];
        let stdout = f.string(MAX_REPLY)?;
        let stderr = f.string(MAX_REPLY)?;
        f.end()?;
        Ok(Reply {
            code,
            stdout,
            stderr,
        })
    }

    /// Read one reply frame from `r` (the client side). The header is
    /// checked before the payload is read, so a wrong peer cannot make the
    /// client allocate more than [`MAX_REPLY`].
    pub fn read_from(r: &mut impl Read) -> io::Result<Reply> {
        let mut frame = vec![0u8; HEADER_LEN];
        r.read_exact(&mut frame)?;
        let len = payload_len(&frame, REPLY_MAGIC, MAX_REPLY)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        frame.resize(HEADER_LEN + len, 0);
        r.read_exact(&mut frame[HEADER_LEN..])?;
        Reply::decode(&frame).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip() {
        let r = Request {
            args: vec!["-A".into(), "-t".into(), "10.0.0.1:80".into()],
            input: "-C\n".into(),
        };
        assert_eq!(Request::decode(&r.encode().unwrap()), Ok(r));
        let empty = Request::default();
        assert_eq!(Request::decode(&empty.encode().unwrap()), Ok(empty));
    }

    #[test]
    fn reply_round_trip() {
        let r = Reply {
            code: 255,
            stdout: "x\n".into(),
            stderr: "No such service\n".into(),
        };
        assert_eq!(Reply::decode(&r.encode()), Ok(r.clone()));
        let mut cur = std::io::Cursor::new(r.encode());
        assert_eq!(Reply::read_from(&mut cur).unwrap(), r);
    }

    #[test]
    fn bad_frames_are_errors() {
        let good = Request::new(["-L", "-n"]).encode().unwrap();
        assert_eq!(Request::decode(&good[..5]), Err(DecodeError::Truncated));
        assert_eq!(
            Request::decode(&good[..good.len() - 1]),
            Err(DecodeError::Truncated)
        );
        let mut long = good.clone();
        long.push(0);
        assert_eq!(Request::decode(&long), Err(DecodeError::TrailingBytes(1)));
        assert!(matches!(
            Request::decode(b"GET / HTTP/1.0\r\n\r\n"),
            Err(DecodeError::BadMagic(_))
        ));
        let mut v = good.clone();
        v[4] = 9;
        assert_eq!(Request::decode(&v), Err(DecodeError::BadVersion(9)));
        let mut v = good.clone();
        v[6] = 1;
        assert_eq!(Request::decode(&v), Err(DecodeError::BadReserved));
        let mut v = good.clone();
        v[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            Request::decode(&v),
            Err(DecodeError::TooLarge { .. })
        ));
        // argc that would need far more bytes than the payload has.
        let mut v = header(REQUEST_MAGIC, 4);
        v.extend_from_slice(&200u32.to_be_bytes());
        assert_eq!(Request::decode(&v), Err(DecodeError::FieldOverrun));
        let mut v = header(REQUEST_MAGIC, 4);
        v.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Request::decode(&v), Err(DecodeError::TooManyArgs(u32::MAX)));
        // Not UTF-8.
        let mut v = header(REQUEST_MAGIC, 13);
        v.extend_from_slice(&1u32.to_be_bytes());
        v.extend_from_slice(&1u32.to_be_bytes());
        v.push(0xff);
        v.extend_from_slice(&0u32.to_be_bytes());
        assert_eq!(Request::decode(&v), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn oversized_requests_are_refused_before_sending() {
        let many = Request::new(vec!["-n"; MAX_ARGS + 1]);
        assert_eq!(many.encode(), Err(EncodeError::TooManyArgs(MAX_ARGS + 1)));
        let long = Request::new(["x".repeat(MAX_ARG_LEN + 1)]);
        assert!(matches!(long.encode(), Err(EncodeError::ArgTooLong(_))));
        let big = Request {
            args: vec!["-R".into()],
            input: "#".repeat(MAX_REQUEST),
        };
        assert!(matches!(big.encode(), Err(EncodeError::TooLarge(_))));
    }

    #[test]
    fn huge_replies_are_cut_with_a_note() {
        let r = Reply::ok("é".repeat(MAX_REPLY / 2 + 1));
        let bytes = r.encode();
        assert!(bytes.len() <= HEADER_LEN + MAX_REPLY);
        let back = Reply::decode(&bytes).unwrap();
        assert!(back.stdout.len() < r.stdout.len());
        assert!(back.stderr.contains("cut"));
    }
}
