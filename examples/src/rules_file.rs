//! Reading a rules file, and deciding whether a reload may replace the
//! running rules.
//!
//! A rules file is named on the command line and re-read on `SIGHUP`, so
//! whatever sits at that path is read by a long-running process. Reading it
//! with `std::fs::read_to_string` blocks forever on a FIFO with no writer
//! (and then ignores `SIGTERM`, the signal thread never being heard), and
//! reads `/dev/zero` until memory runs out. [`read_rules_file`] opens without
//! blocking, refuses anything that is not a regular file, and bounds the
//! size. [`check_reload`] stops an empty or truncated file from silently
//! removing every service on reload.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use lvs_core::config::Config;

/// The largest rules file [`read_rules_file`] reads: 16 MiB, some 200,000
/// rule lines, far beyond any real setup.
pub const MAX_RULES_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// What a path named as a rules file turned out to be, when it is not a
/// regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// A directory.
    Directory,
    /// A named pipe (FIFO).
    Fifo,
    /// A character device (`/dev/zero`, a terminal).
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A Unix socket.
    Socket,
    /// Anything else.
    Other,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Socket => "a socket",
            FileKind::Other => "not a regular file",
        })
    }
}

/// Why a rules file could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum RulesFileError {
    /// The file could not be opened.
    Open {
        /// The path.
        path: PathBuf,
        /// The system's error.
        source: io::Error,
    },
    /// The path is not a regular file.
    NotRegularFile {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: FileKind,
    },
    /// The file is larger than [`MAX_RULES_FILE_BYTES`].
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size (or a lower bound, when it grew while being read).
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Reading failed.
    Read {
        /// The path.
        path: PathBuf,
        /// The system's error.
        source: io::Error,
    },
    /// The file is not UTF-8 text.
    NotUtf8 {
        /// The path.
        path: PathBuf,
        /// 1-based line of the first invalid byte.
        line: usize,
    },
}

impl fmt::Display for RulesFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RulesFileError::Open { path, source } => {
                write!(f, "rules file {}: cannot open: {source}", path.display())
            }
            RulesFileError::NotRegularFile { path, kind } => write!(
                f,
                "rules file {}: is {kind}, not a regular file",
                path.display()
            ),
            RulesFileError::TooLarge { path, size, max } => write!(
                f,
                "rules file {}: {size} bytes, more than the {max} bytes allowed",
                path.display()
            ),
            RulesFileError::Read { path, source } => {
                write!(f, "rules file {}: read failed: {source}", path.display())
            }
            RulesFileError::NotUtf8 { path, line } => write!(
                f,
                "rules file {}: line {line}: not UTF-8 text",
                path.display()
            ),
        }
    }
}

impl std::error::Error for RulesFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RulesFileError::Open { source, .. } | RulesFileError::Read { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}

fn kind_of(t: std::fs::FileType) -> FileKind {
    if t.is_dir() {
        FileKind::Directory
    } else if t.is_fifo() {
        FileKind::Fifo
    } else if t.is_char_device() {
        FileKind::CharDevice
    } else if t.is_block_device() {
        FileKind::BlockDevice
    } else if t.is_socket() {
        FileKind::Socket
    } else {
        FileKind::Other
    }
}

/// Read a rules file as text, safely.
///
/// The file is opened with `O_NONBLOCK` (so opening a FIFO that has no
/// writer returns at once instead of waiting for one), then checked with
/// `fstat` on the open descriptor (no race with a rename between check and
/// read): anything but a regular file is refused with
/// [`RulesFileError::NotRegularFile`]. At most [`MAX_RULES_FILE_BYTES`] are
/// read, also when the file grows while it is read. Symbolic links are
/// followed: what counts is the file they lead to.
pub fn read_rules_file(path: impl AsRef<Path>) -> Result<String, RulesFileError> {
    let path = path.as_ref();
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| RulesFileError::Open {
            path: path.to_owned(),
            source,
        })?;
    let meta = file.metadata().map_err(|source| RulesFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    if !meta.file_type().is_file() {
        return Err(RulesFileError::NotRegularFile {
            path: path.to_owned(),
            kind: kind_of(meta.file_type()),
        });
    }
    let too_large = |size| RulesFileError::TooLarge {
        path: path.to_owned(),
        size,
        max: MAX_RULES_FILE_BYTES,
    };
    if meta.len() > MAX_RULES_FILE_BYTES {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_RULES_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| RulesFileError::Read {
            path: path.to_owned(),
            source,
        })?;
    let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if read > MAX_RULES_FILE_BYTES {
        return Err(too_large(read));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + e
            .as_bytes()
            .get(..at)
            .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count());
        RulesFileError::NotUtf8 {
            path: path.to_owned(),
            line,
        }
    })
}

/// Why a reload was refused by [`check_reload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReloadRefused {
    /// The new rules define no service at all (an empty or truncated file)
    /// while services are running.
    Empty {
        /// How many services are running (and would all be removed).
        running: usize,
    },
    /// The new rules keep none of the running services.
    RemovesEveryService {
        /// How many services are running (and would all be removed).
        running: usize,
        /// How many services the new rules define instead.
        new: usize,
    },
}

impl fmt::Display for ReloadRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadRefused::Empty { running } => write!(
                f,
                "reload refused: the new rules define no service and would remove all \
                 {running} running services (use --allow-empty-reload to allow it)"
            ),
            ReloadRefused::RemovesEveryService { running, new } => write!(
                f,
                "reload refused: the new rules ({new} services) keep none of the {running} \
                 running services (use --allow-empty-reload to allow it)"
            ),
        }
    }
}

impl std::error::Error for ReloadRefused {}

/// Decide whether the rules `new` may replace the running rules `old`.
///
/// A reload that would remove every running service is an outage; it is far
/// more often an empty or truncated file (an editor's save, a failed
/// template run, `> rules` by mistake) than the operator's wish. Unless
/// `allow_empty` is set (the runner's `--allow-empty-reload`), it is refused:
/// [`ReloadRefused::Empty`] when `new` has no service,
/// [`ReloadRefused::RemovesEveryService`] when it has services but none of
/// `old`'s (services are the same when their keys are: protocol, VIP and
/// port, or firewall mark). When nothing runs, any reload is allowed: it
/// cannot remove anything.
pub fn check_reload(old: &Config, new: &Config, allow_empty: bool) -> Result<(), ReloadRefused> {
    let running = old.services.len();
    if allow_empty || running == 0 {
        return Ok(());
    }
    if new.services.is_empty() {
        return Err(ReloadRefused::Empty { running });
    }
    let keeps_one = old
        .services
        .iter()
        .any(|e| new.service(&e.config.key).is_some());
    if keeps_one {
        Ok(())
    } else {
        Err(ReloadRefused::RemovesEveryService {
            running,
            new: new.services.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::sync::mpsc;
    use std::time::Duration;

    use lvs_core::config::parse;

    use super::*;

    /// A fresh directory under the system's temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!(
                "lvs-rules-file-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn regular_file_is_read() {
        let d = TempDir::new("ok");
        let p = d.0.join("rules");
        std::fs::write(&p, "-A -t 10.0.0.1:80 -s rr\n").unwrap();
        assert_eq!(read_rules_file(&p).unwrap(), "-A -t 10.0.0.1:80 -s rr\n");
    }

    #[test]
    fn fifo_is_refused_without_blocking() {
        let d = TempDir::new("fifo");
        let p = d.0.join("rules");
        let c = CString::new(p.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let (tx, rx) = mpsc::channel();
        let q = p.clone();
        // If the read blocked (no writer ever comes), the thread stays stuck
        // and the timeout below fails the test.
        std::thread::spawn(move || {
            let _ = tx.send(read_rules_file(&q));
        });
        let r = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("read_rules_file blocked on a FIFO");
        match r {
            Err(RulesFileError::NotRegularFile {
                kind: FileKind::Fifo,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn devices_and_directories_are_refused() {
        match read_rules_file("/dev/zero") {
            Err(e @ RulesFileError::NotRegularFile { .. }) => {
                assert_eq!(
                    e.to_string(),
                    "rules file /dev/zero: is a character device, not a regular file"
                );
            }
            other => panic!("{other:?}"),
        }
        let d = TempDir::new("dir");
        assert!(matches!(
            read_rules_file(&d.0),
            Err(RulesFileError::NotRegularFile {
                kind: FileKind::Directory,
                ..
            })
        ));
        assert!(matches!(
            read_rules_file(d.0.join("missing")),
            Err(RulesFileError::Open { .. })
        ));
    }

    #[test]
    fn too_big_file_is_refused() {
        let d = TempDir::new("big");
        let p = d.0.join("rules");
        let f = File::create(&p).unwrap();
        // Sparse: no disk space used.
        f.set_len(MAX_RULES_FILE_BYTES + 1).unwrap();
        match read_rules_file(&p) {
            Err(RulesFileError::TooLarge { size, max, .. }) => {
                assert_eq!(
                    (size, max),
                    (MAX_RULES_FILE_BYTES + 1, MAX_RULES_FILE_BYTES)
                );
            }
            other => panic!("{other:?}"),
        }
        f.set_len(MAX_RULES_FILE_BYTES).unwrap();
        // Exactly at the limit: read (zero bytes are valid UTF-8).
        assert_eq!(
            read_rules_file(&p).map(|s| s.len()).ok(),
            Some(MAX_RULES_FILE_BYTES as usize)
        );
    }

    #[test]
    fn non_utf8_names_its_line() {
        let d = TempDir::new("utf8");
        let p = d.0.join("rules");
        std::fs::write(&p, b"# ok\n-A -t 10.0.0.1:80\n\xff\n").unwrap();
        assert!(matches!(
            read_rules_file(&p),
            Err(RulesFileError::NotUtf8 { line: 3, .. })
        ));
    }

    #[test]
    fn empty_reload_is_refused_unless_allowed() {
        let old = parse("-A -t 10.0.0.1:80 -s rr\n-A -u 10.0.0.1:53 -s rr\n").unwrap();
        let empty = parse("").unwrap();
        assert_eq!(
            check_reload(&old, &empty, false),
            Err(ReloadRefused::Empty { running: 2 })
        );
        assert!(
            check_reload(&old, &empty, false)
                .unwrap_err()
                .to_string()
                .contains("--allow-empty-reload")
        );
        assert_eq!(check_reload(&old, &empty, true), Ok(()));
        let other = parse("-A -t 10.0.0.2:80 -s rr\n").unwrap();
        assert_eq!(
            check_reload(&old, &other, false),
            Err(ReloadRefused::RemovesEveryService { running: 2, new: 1 })
        );
        assert_eq!(check_reload(&old, &other, true), Ok(()));
        // Keeping one service is an ordinary reload; nothing running, too.
        let one = parse("-A -t 10.0.0.1:80 -s wlc\n").unwrap();
        assert_eq!(check_reload(&old, &one, false), Ok(()));
        assert_eq!(check_reload(&empty, &empty, false), Ok(()));
        assert_eq!(check_reload(&empty, &other, false), Ok(()));
    }
}
