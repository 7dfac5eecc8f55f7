//! The control socket: `lvsadm` talking to a running director.
//!
//! Operators change IPVS with `ipvsadm` while it runs; a director in user
//! space needs the same, without a file edit and a `SIGHUP`. The pieces:
//!
//! - [`protocol`]: the framed, bounded, versioned wire format (a request is
//!   `lvsadm`'s argv and its stdin; a reply is an exit code and two texts).
//! - [`commands`]: ipvsadm's command line parsed into a [`Command`], with
//!   ipvsadm's messages and exit codes; both ends run it.
//! - [`execute()`]: a command run against a [`Director`] and its running rules,
//!   a pure function of its inputs.
//! - [`server`]: the non-blocking socket the event loop polls.
//!
//! [`handle`] ties the last three together for an event loop.
//!
//! [`Director`]: lvs_forwarding::Director

pub mod commands;
pub mod execute;
pub mod protocol;
pub mod server;

pub use commands::{Command, CommandError, parse_command};
pub use execute::execute;
pub use protocol::{Reply, Request};
pub use server::{ControlServer, DEFAULT_CONTROL_PATH};

use std::net::SocketAddr;

use lvs_core::Instant;
use lvs_core::config::Config;
use lvs_forwarding::Director;

/// Parse `req` (never trusting the client) and run it: what a
/// [`ControlServer::poll`] handler calls. A command that does not parse gets
/// its error reply and changes nothing.
pub fn handle(
    req: &Request,
    director: &mut Director,
    rules: &mut Config,
    health: &dyn Fn(&lvs_core::ServiceKey, SocketAddr) -> Option<bool>,
    now: Instant,
) -> Reply {
    match parse_command(&req.args, &req.input) {
        Ok(cmd) => execute(&cmd, director, rules, health, now),
        Err(e) => Reply::error(e.code, e.message),
    }
}
