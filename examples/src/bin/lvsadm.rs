//! `lvsadm`: ipvsadm's command line for a running lvs-rs director.
//!
//! It parses the command itself (so a typo fails at once, with ipvsadm's
//! message and exit code, even with no director running), answers `-h` and
//! `-v` locally, reads standard input for `-R`, and sends everything else to
//! the director's control socket (`--control PATH`, default
//! `/run/lvs-rs/control.sock`). The director parses the command again, runs
//! it and replies with what to print and the exit code, which `lvsadm`
//! reproduces.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::Duration;

use lvs_examples::control::commands::{Command, EXIT_USAGE, USAGE, parse_command, version_text};
use lvs_examples::control::protocol::{MAX_REQUEST, Reply, Request};
use lvs_examples::control::server::DEFAULT_CONTROL_PATH;

/// How long to wait for the director's reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let mut path = DEFAULT_CONTROL_PATH.to_string();
    let mut args: Vec<String> = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        if a == "--control" {
            match it.next() {
                Some(p) => path = p,
                None => {
                    eprintln!("--control: missing argument");
                    return ExitCode::from(255);
                }
            }
        } else if let Some(p) = a.strip_prefix("--control=") {
            path = p.to_string();
        } else {
            args.push(a);
        }
    }
    let mut input = String::new();
    if args.iter().any(|a| a == "-R" || a == "--restore") {
        let mut buf = Vec::new();
        let limit = MAX_REQUEST as u64 + 1;
        if let Err(e) = std::io::stdin().take(limit).read_to_end(&mut buf) {
            eprintln!("lvsadm: reading standard input: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
        input = match String::from_utf8(buf) {
            Ok(s) => s,
            Err(_) => {
                eprintln!("lvsadm: standard input is not UTF-8 text");
                return ExitCode::from(EXIT_USAGE);
            }
        };
    }
    match parse_command(&args, &input) {
        Err(e) => {
            eprintln!("{}", e.message);
            return ExitCode::from(e.code);
        }
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            print!("{}", version_text());
            return ExitCode::SUCCESS;
        }
        Ok(_) => {}
    }
    let frame = match (Request { args, input }).encode() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("lvsadm: request too large: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let reply = match exchange(&path, &frame) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "Can't reach the director at {path}: {e}\nIs a director running with --control {path}?"
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // A closed pipe (`lvsadm -Lnc | head`) is not an error worth a panic.
    let _ = std::io::stdout().write_all(reply.stdout.as_bytes());
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(reply.stderr.as_bytes());
    ExitCode::from(reply.code)
}

fn exchange(path: &str, frame: &[u8]) -> std::io::Result<Reply> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(REPLY_TIMEOUT))?;
    s.set_write_timeout(Some(REPLY_TIMEOUT))?;
    s.write_all(frame)?;
    s.shutdown(std::net::Shutdown::Write)?;
    Reply::read_from(&mut s)
}
