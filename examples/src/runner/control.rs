//! `lvsadm` requests reaching the event loop.
//!
//! Why here: a command changes the Director and the running rules, which only the event loop
//! owns. With one worker the loop polls the control socket itself (at most every
//! [`POLL_EVERY`], so an idle socket costs no system calls per receive batch); with `--fanout`
//! the main thread owns the socket and relays each request to every worker
//! ([`Relay`]), so a change applies to every worker's Director.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use crate::control::{ControlServer, Reply, Request};

/// How often the socket (or the relay's inbox) is looked at.
pub(super) const POLL_EVERY: Duration = Duration::from_millis(20);

/// How long the relay waits for every worker to answer one request.
const RELAY_WAIT: Duration = Duration::from_secs(5);

/// A request relayed to one worker, and where its reply goes.
pub type Relayed = (Request, Sender<Reply>);

/// Where a runner's control requests come from.
#[derive(Debug)]
pub enum ControlLink {
    /// The runner owns the socket.
    Socket(ControlServer),
    /// Requests relayed by the main thread of a fanout group.
    Inbox(Receiver<Relayed>),
}

impl ControlLink {
    /// Serves what is pending with `handler`; returns whether any request was handled.
    pub(super) fn serve(&mut self, handler: &mut dyn FnMut(Request) -> Reply) -> bool {
        match self {
            ControlLink::Socket(s) => s.poll(handler) > 0,
            ControlLink::Inbox(rx) => {
                let mut any = false;
                while let Ok((req, back)) = rx.try_recv() {
                    any = true;
                    // The relay may have given up waiting; nothing to do then.
                    let _ = back.send(handler(req));
                }
                any
            }
        }
    }
}

/// The main thread's end of a fanout group: the socket, and a sender to every worker.
#[derive(Debug)]
pub struct Relay {
    server: ControlServer,
    workers: Vec<Sender<Relayed>>,
}

impl Relay {
    /// A relay for `n` workers: itself and the `n` inboxes to give the workers.
    pub fn new(server: ControlServer, n: usize) -> (Relay, Vec<ControlLink>) {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| channel()).unzip();
        (
            Relay {
                server,
                workers: txs,
            },
            rxs.into_iter().map(ControlLink::Inbox).collect(),
        )
    }

    /// Serves pending requests: each goes to every worker; the reply is worker 0's (every
    /// worker applies the same change to the same rules, so they agree; listings show worker
    /// 0's connections), or an error naming the workers that did not answer.
    pub fn poll(&mut self) {
        let workers = &self.workers;
        self.server.poll(&mut |req: Request| {
            let mut waits = Vec::with_capacity(workers.len());
            for w in workers {
                let (tx, rx) = channel();
                if w.send((req.clone(), tx)).is_ok() {
                    waits.push(rx);
                }
            }
            let deadline = Instant::now() + RELAY_WAIT;
            let mut replies = Vec::with_capacity(waits.len());
            for rx in waits {
                let left = deadline.saturating_duration_since(Instant::now());
                if let Ok(r) = rx.recv_timeout(left) {
                    replies.push(r);
                }
            }
            if replies.len() < workers.len() {
                return Reply::error(
                    1,
                    format!(
                        "only {} of {} workers answered; the change may be partial",
                        replies.len(),
                        workers.len()
                    ),
                );
            }
            replies.swap_remove(0)
        });
    }
}
